/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The safety guards. Each guard looks at every device of the group and
 * names the first device that fails it, with the fact that made it fail;
 * further failing devices are counted, not listed, so a reason stays one
 * line. A passing guard says why it passed.
 */
#include <stdarg.h>
#include <stdio.h>

#include "guards.h"
#include "util.h"

static const char *const guard_names[_GUARD_MAX] = {
        [GUARD_TRUSTED] = "trusted",
        [GUARD_NOT_IN_USE] = "not-in-use",
        [GUARD_KERNEL_STRICT] = "kernel-strict",
        [GUARD_IDENTITY_NAMED] = "identity-named",
        [GUARD_REBIND_ALLOWED] = "rebind-allowed",
        [GUARD_RATE_LIMIT] = "rate-limit",
};

const char *guard_id_to_string(GuardId id) {
        return id >= 0 && id < _GUARD_MAX ? guard_names[id] : NULL;
}

bool guard_is_permanent(GuardId id) {
        return id == GUARD_TRUSTED || id == GUARD_KERNEL_STRICT;
}

bool group_switch_needs_rebind(GroupType from, GroupType to) {
        if (from == to)
                return false;
        /* The only change the kernel makes with drivers bound (v5.15+). */
        return !(from == GROUP_TYPE_DMA && to == GROUP_TYPE_DMA_FQ);
}

static void verdict_set(GuardVerdict *v, bool applies, bool passed, const char *fmt, ...)
        _printf_(4, 5);
static void verdict_set(GuardVerdict *v, bool applies, bool passed, const char *fmt, ...) {
        va_list ap;

        v->applies = applies;
        v->passed = passed;
        va_start(ap, fmt);
        vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
        va_end(ap);
}

/* Appends "; and N more devices" when more than one device failed. The
 * first failure is already in the reason. */
static void verdict_more(GuardVerdict *v, unsigned n_failed) {
        size_t len = strlen(v->reason);

        if (n_failed > 1)
                snprintf(v->reason + len, sizeof(v->reason) - len, "; and %u more device%s",
                         n_failed - 1, n_failed - 1 == 1 ? "" : "s");
}

static const char *weaker_word(GroupType to) {
        return to == GROUP_TYPE_IDENTITY ? "identity" : "lazy";
}

/* Why d must not lose strict translation, strongest fact first; NULL when
 * nothing is known against it. */
static const char *untrusted_fact(const GuardDevice *d) {
        if (d->untrusted == TRISTATE_YES)
                return "is untrusted (the kernel marks it external-facing)";
        if (d->external_facing)
                return "is behind an external-facing port";
        if (d->removable == TRISTATE_YES)
                return "is removable";
        return NULL;
}

static void check_trusted(GroupType to, const GuardDevice *devices, size_t n, GuardVerdict *v) {
        unsigned n_failed = 0;

        if (to != GROUP_TYPE_DMA_FQ && to != GROUP_TYPE_IDENTITY) {
                verdict_set(v, false, true, "the switch does not weaken translation");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const char *fact = untrusted_fact(devices + i);

                if (!fact)
                        continue;
                if (n_failed++ == 0)
                        verdict_set(v, true, false, "%s %s: never %s", devices[i].name, fact,
                                    weaker_word(to));
        }
        if (n_failed)
                verdict_more(v, n_failed);
        else
                verdict_set(v, true, true, "no device is untrusted, external-facing or removable");
}

static void check_not_in_use(bool rebind, const GuardDevice *devices, size_t n, GuardVerdict *v) {
        const GuardDevice *named_in_use = NULL;
        unsigned n_failed = 0, n_bound = 0;

        if (!rebind) {
                verdict_set(v, false, true, "the switch works with drivers bound: nothing is unbound");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const GuardDevice *d = devices + i;

                if (!d->bound)
                        continue;
                n_bound++;
                if (!d->in_use)
                        continue;
                if (d->named_in_config) {
                        if (!named_in_use)
                                named_in_use = d;
                        continue;
                }
                if (n_failed++ == 0)
                        verdict_set(v, true, false,
                                    "%s %s; name it in a [device] section to allow unbinding it",
                                    d->name, d->in_use);
        }
        if (n_failed)
                verdict_more(v, n_failed);
        else if (n_bound == 0)
                verdict_set(v, false, true, "no device is bound: nothing is unbound");
        else if (named_in_use)
                verdict_set(v, true, true, "%s %s, but [device %s] names it", named_in_use->name,
                            named_in_use->in_use, named_in_use->name);
        else
                verdict_set(v, true, true,
                            "no bound device backs a mount, swap, md/dm/LVM, the root device "
                            "or the default route");
}

static void check_kernel_strict(GroupType to, const GuardDevice *devices, size_t n,
                                const GuardKernel *kernel, GuardVerdict *v) {
        const char *why;
        unsigned n_failed = 0;

        if (to != GROUP_TYPE_DMA_FQ) {
                verdict_set(v, false, true, "the switch is not to lazy");
                return;
        }
        if (!kernel || !kernel->forced_strict) {
                verdict_set(v, true, true, "the kernel did not force strict here");
                return;
        }
        why = kernel->forced_strict_reason ?: "for reasons of its own";
        for (size_t i = 0; i < n; i++) {
                if (devices[i].allow_lazy_when_kernel_forced_strict)
                        continue;
                if (n_failed++ == 0)
                        verdict_set(v, true, false,
                                    "the kernel forced strict (%s) and %s has "
                                    "allow_lazy_when_kernel_forced_strict = no",
                                    why, devices[i].name);
        }
        if (n_failed)
                verdict_more(v, n_failed);
        else
                verdict_set(v, true, true,
                            "the kernel forced strict (%s), but every device has "
                            "allow_lazy_when_kernel_forced_strict = yes", why);
}

static void check_identity_named(GroupType to, const GuardDevice *devices, size_t n,
                                 GuardVerdict *v) {
        unsigned n_failed = 0;

        if (to != GROUP_TYPE_IDENTITY) {
                verdict_set(v, false, true, "the switch is not to identity");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (devices[i].named_in_config)
                        continue;
                if (n_failed++ == 0)
                        verdict_set(v, true, false,
                                    "%s is not named in a [device] section: identity is only "
                                    "for named devices", devices[i].name);
        }
        if (n_failed)
                verdict_more(v, n_failed);
        else
                verdict_set(v, true, true, "every device is named in a [device] section");
}

static void check_rebind_allowed(bool rebind, const GuardDevice *devices, size_t n,
                                 GuardVerdict *v) {
        unsigned n_failed = 0, n_bound = 0;

        if (!rebind) {
                verdict_set(v, false, true, "the switch works with drivers bound: nothing is unbound");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (!devices[i].bound)
                        continue;
                n_bound++;
                if (devices[i].allow_rebind)
                        continue;
                if (n_failed++ == 0)
                        verdict_set(v, true, false,
                                    "the switch needs %s unbound and it has allow_rebind = no",
                                    devices[i].name);
        }
        if (n_failed)
                verdict_more(v, n_failed);
        else if (n_bound == 0)
                verdict_set(v, false, true, "no device is bound: nothing is unbound");
        else
                verdict_set(v, true, true, "every bound device has allow_rebind = yes");
}

static void check_rate_limit(GroupType to, const GuardDevice *devices, size_t n, GuardVerdict *v) {
        const GuardDevice *closest = NULL;
        unsigned n_failed = 0;

        for (size_t i = 0; to == GROUP_TYPE_DMA && i < n; i++)
                if (devices[i].strict_required) {
                        verdict_set(v, false, true,
                                    "%s must be strict (policy or pin): the hourly cap never holds back DMA",
                                    devices[i].name);
                        return;
                }
        for (size_t i = 0; i < n; i++) {
                const GuardDevice *d = devices + i;

                if (d->switches_last_hour < d->max_switches_per_hour) {
                        /* Least headroom left: the device nearest its cap. */
                        if (!closest || d->max_switches_per_hour - d->switches_last_hour <
                                                closest->max_switches_per_hour -
                                                        closest->switches_last_hour)
                                closest = d;
                        continue;
                }
                if (n_failed++ == 0)
                        verdict_set(v, true, false,
                                    "%s: %u switch%s in the last hour, max_switches_per_hour = %u",
                                    d->name, d->switches_last_hour,
                                    d->switches_last_hour == 1 ? "" : "es",
                                    d->max_switches_per_hour);
        }
        if (n_failed)
                verdict_more(v, n_failed);
        else if (closest)
                verdict_set(v, true, true,
                            "%s: %u switch%s in the last hour, max_switches_per_hour = %u",
                            closest->name, closest->switches_last_hour,
                            closest->switches_last_hour == 1 ? "" : "es",
                            closest->max_switches_per_hour);
        else
                verdict_set(v, true, true, "no device");
}

bool guards_check(GroupType from, GroupType to, const GuardDevice *devices, size_t n,
                  const GuardKernel *kernel, GuardVerdict ret[_GUARD_MAX]) {
        bool rebind = group_switch_needs_rebind(from, to);
        bool ok = true;

        for (GuardId id = 0; id < _GUARD_MAX; id++)
                ret[id] = (GuardVerdict) { .id = id, .passed = true };

        if (from == to) {
                for (GuardId id = 0; id < _GUARD_MAX; id++)
                        verdict_set(ret + id, false, true, "no switch: the type stays the same");
                return true;
        }

        check_trusted(to, devices, n, ret + GUARD_TRUSTED);
        check_not_in_use(rebind, devices, n, ret + GUARD_NOT_IN_USE);
        check_kernel_strict(to, devices, n, kernel, ret + GUARD_KERNEL_STRICT);
        check_identity_named(to, devices, n, ret + GUARD_IDENTITY_NAMED);
        check_rebind_allowed(rebind, devices, n, ret + GUARD_REBIND_ALLOWED);
        check_rate_limit(to, devices, n, ret + GUARD_RATE_LIMIT);

        for (GuardId id = 0; id < _GUARD_MAX; id++)
                if (ret[id].applies && !ret[id].passed)
                        ok = false;
        return ok;
}
