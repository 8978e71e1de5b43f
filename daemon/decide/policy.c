/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy engine. The rules are stated in policy.h; this file follows
 * them in order. Reasons are written as they are decided, so what
 * `iommuctl explain` shows is what the engine actually used.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "policy.h"
#include "protocol.h"
#include "util.h"

#define HOUR_NS (UINT64_C(3600) * POLICY_NSEC_PER_SEC)

/* ---- state ------------------------------------------------------------ */

static size_t state_index(const PolicyState *s, unsigned group, bool *ret_found) {
        size_t lo = 0, hi = s->n_groups;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (s->groups[mid].group < group)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret_found = lo < s->n_groups && s->groups[lo].group == group;
        return lo;
}

PolicyGroupState *policy_state_find(const PolicyState *s, unsigned group) {
        bool found;
        size_t i = state_index(s, group, &found);

        return found ? s->groups + i : NULL;
}

PolicyGroupState *policy_state_get(PolicyState *s, unsigned group) {
        bool found;
        size_t i = state_index(s, group, &found);

        if (found)
                return s->groups + i;
        if (greedy_realloc((void **) &s->groups, &s->n_allocated, s->n_groups + 1,
                           sizeof(*s->groups)) < 0)
                return NULL;
        memmove(s->groups + i + 1, s->groups + i, (s->n_groups - i) * sizeof(*s->groups));
        s->groups[i] = (PolicyGroupState) { .group = group };
        s->n_groups++;
        return s->groups + i;
}

void policy_state_done(PolicyState *s) {
        for (size_t i = 0; i < s->n_groups; i++)
                free(s->groups[i].switches_ns);
        free(s->groups);
        *s = (PolicyState) {};
}

void policy_group_state_record_switch(PolicyGroupState *g, uint64_t now_ns) {
        if (!g->switches_ns) {
                g->switches_ns = calloc(POLICY_SWITCH_LOG, sizeof(g->switches_ns[0]));
                if (!g->switches_ns) {
                        if (now_ns > g->unlogged_switch_ns)
                                g->unlogged_switch_ns = now_ns;
                        return;
                }
        }
        if (g->n_switches == POLICY_SWITCH_LOG) {
                memmove(g->switches_ns, g->switches_ns + 1,
                        (POLICY_SWITCH_LOG - 1) * sizeof(g->switches_ns[0]));
                g->n_switches--;
        }
        g->switches_ns[g->n_switches++] = now_ns;
}

unsigned policy_group_state_switches_since(const PolicyGroupState *g, uint64_t since_ns) {
        unsigned n = 0;

        if (g->unlogged_switch_ns && g->unlogged_switch_ns >= since_ns)
                return POLICY_SWITCH_LOG;
        for (size_t i = 0; i < g->n_switches; i++)
                if (g->switches_ns[i] >= since_ns)
                        n++;
        return n;
}

bool policy_group_state_last_switch(const PolicyGroupState *g, uint64_t *ret_ns) {
        uint64_t last = g->unlogged_switch_ns;

        if (g->n_switches > 0 && g->switches_ns[g->n_switches - 1] > last)
                last = g->switches_ns[g->n_switches - 1];
        if (last == 0 && g->n_switches == 0)
                return false;
        *ret_ns = last;
        return true;
}

static const char *const override_names[_POLICY_OVERRIDE_MAX] = {
        [POLICY_OVERRIDE_NONE] = "none",
        [POLICY_OVERRIDE_STRICT] = PROTOCOL_MODE_STRICT,
        [POLICY_OVERRIDE_LAZY] = PROTOCOL_MODE_LAZY,
        [POLICY_OVERRIDE_AUTO] = PROTOCOL_MODE_AUTO,
};

const char *policy_override_mode_to_string(PolicyOverrideMode m) {
        return m >= 0 && m < _POLICY_OVERRIDE_MAX ? override_names[m] : NULL;
}

PolicyOverrideMode policy_override_mode_from_string(const char *s) {
        for (PolicyOverrideMode m = POLICY_OVERRIDE_STRICT; m < _POLICY_OVERRIDE_MAX; m++)
                if (s && streq(s, override_names[m]))
                        return m;
        return _POLICY_OVERRIDE_INVALID;
}

bool policy_override_active(const PolicyOverride *o, uint64_t now_ns) {
        return o->mode > POLICY_OVERRIDE_NONE && o->mode < _POLICY_OVERRIDE_MAX &&
               (o->until_ns == 0 || now_ns < o->until_ns);
}

const char *policy_action_to_string(PolicyAction a) {
        static const char *const names[_POLICY_ACTION_MAX] = {
                [POLICY_ACTION_IGNORE] = "ignore",
                [POLICY_ACTION_NONE] = "none",
                [POLICY_ACTION_WAIT] = "wait",
                [POLICY_ACTION_SWITCH] = "switch",
                [POLICY_ACTION_BLOCKED] = "blocked",
        };
        return a >= 0 && a < _POLICY_ACTION_MAX ? names[a] : NULL;
}

/* ---- helpers ---------------------------------------------------------- */

static uint64_t elapsed_ns(uint64_t now, uint64_t then) {
        return now > then ? now - then : 0;
}

static double ns_to_s(uint64_t ns) {
        return (double) ns / (double) POLICY_NSEC_PER_SEC;
}

static void reason_add(PolicyDecision *d, const char *fmt, ...) _printf_(2, 3);
static void reason_add(PolicyDecision *d, const char *fmt, ...) {
        _cleanup_free_ char *part = NULL;
        size_t len = d->reason ? strlen(d->reason) : 0;
        char *reason;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&part, fmt, ap);
        va_end(ap);
        if (n < 0) {
                part = NULL;
                d->reason_lost = true;
                return;
        }
        reason = realloc(d->reason, len + (size_t) n + 1);
        if (!reason) {
                d->reason_lost = true;
                return;
        }
        memcpy(reason + len, part, (size_t) n + 1);
        d->reason = reason;
}

/* Starts the reason again; returns the old one (the caller frees it). */
static char *reason_take(PolicyDecision *d) {
        return TAKE_PTR(d->reason);
}

/* "policy = keep (from [device X] at f:3)" for a member's key, into buf. */
static int member_explain(const PolicyMember *m, const char *scoped_name, char *buf,
                          size_t size) {
        const ConfKey *k = conf_key_find(CONF_SCOPE_DEVICE, scoped_name);
        _cleanup_free_ char *s = NULL;

        if (!k)
                return -EINVAL;
        s = config_explain(k, conf_key_value(k, m->config));
        if (!s)
                return -ENOMEM;
        snprintf(buf, size, "%s", s);
        return 0;
}

static bool config_names_device(const Config *c, const char *name) {
        size_t n;
        const ConfSection *s = config_sections(c, &n);

        for (size_t i = 0; i < n; i++)
                if (s[i].scope == CONF_SCOPE_DEVICE && streq(s[i].name, name))
                        return true;
        return false;
}

static PolicyMode member_mode(const PolicyMember *m) {
        return m->config->policy.policy;
}

/* ---- the pieces of a decision ----------------------------------------- */

/* configs: room for the group's devices' effective values, held only while
 * the decision is made. */
static int members_fill(const PolicyInput *in, const IommuGroup *g, const PolicyGroupState *state,
                        DevicePolicy *configs, PolicyDecision *d) {
        const Topology *t = in->topology;
        static const PolicyDeviceFacts no_facts = {};
        size_t n = strv_length(g->devices);
        int r;

        d->members = calloc(n ?: 1, sizeof(*d->members));
        if (!d->members)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const Device *dev = topology_find_device(t, g->devices[i]);
                const PolicyDeviceFacts *facts;
                PolicyMember *m = d->members + d->n_members;

                if (!dev)
                        return -ENOENT; /* named in the reason by the caller */
                facts = in->devices ? in->devices + (dev - t->devices) : &no_facts;
                m->device = dev;
                r = config_resolve_device(in->config, dev->name, dev->driver, dev->class_word,
                                          configs + i);
                if (r < 0)
                        return r;
                m->config = configs + i;
                m->guard = (GuardDevice) {
                        .name = dev->name,
                        .untrusted = dev->untrusted,
                        .removable = dev->removable,
                        .external_facing = facts->external_facing,
                        .bound = dev->driver != NULL,
                        .in_use = facts->in_use,
                        .named_in_config = config_names_device(in->config, dev->name),
                        .allow_rebind = m->config->allow_rebind.b,
                        .allow_lazy_when_kernel_forced_strict =
                                m->config->allow_lazy_when_kernel_forced_strict.b,
                        .max_switches_per_hour = (unsigned) m->config->max_switches_per_hour.u,
                        .switches_last_hour = policy_group_state_switches_since(
                                state, in->now_ns >= HOUR_NS ? in->now_ns - HOUR_NS + 1 : 0),
                        .strict_required = member_mode(m) == POLICY_MODE_STRICT ||
                                           (state && policy_override_active(&state->override, in->now_ns) &&
                                            state->override.mode == POLICY_OVERRIDE_STRICT),
                };
                d->n_members++;
        }
        return 0;
}

static void kernel_fill(const PolicyInput *in, PolicyDecision *d) {
        const Topology *t = in->topology;
        const char *unit = NULL;

        for (size_t i = 0; i < d->n_members && !unit; i++)
                unit = d->members[i].device->unit;
        for (size_t i = 0; unit && i < t->n_units; i++) {
                const IommuUnit *u = t->units + i;

                if (!streq(u->name, unit))
                        continue;
                d->kernel.forced_strict_reason = iommu_unit_forced_strict(u);
                if (d->kernel.forced_strict_reason) {
                        d->kernel.forced_strict = true;
                        return;
                }
        }
        if (t->kernel.dma.iommu_strict == 1) {
                d->kernel.forced_strict = true;
                d->kernel.forced_strict_reason = "iommu.strict=1 on the kernel command line";
        }
}

static void group_value_pick(PolicyGroupValue *gv, const PolicyMember *m, const ConfValue *v,
                             bool largest) {
        if (!gv->device || (largest ? v->u > gv->value.u : v->u < gv->value.u)) {
                gv->value = *v;
                gv->device = m->device->name;
        }
}

/* From the members' configs (m->config set). */
static void thresholds_fill(const PolicyDecision *d, PolicyThresholds *th) {
        *th = (PolicyThresholds) {};

        for (size_t i = 0; i < d->n_members; i++)
                if (member_mode(d->members + i) == POLICY_MODE_AUTO)
                        th->auto_members_only = true;
        for (size_t i = 0; i < d->n_members; i++) {
                const PolicyMember *m = d->members + i;
                const DevicePolicy *p = m->config;

                if (th->auto_members_only && member_mode(m) != POLICY_MODE_AUTO)
                        continue;
                group_value_pick(&th->lazy_above, m, &p->lazy_above_unmaps_per_sec, true);
                group_value_pick(&th->strict_below, m, &p->strict_below_unmaps_per_sec, false);
                group_value_pick(&th->sustain_s, m, &p->sustain_s, true);
                group_value_pick(&th->min_dwell_s, m, &p->min_dwell_s, true);
                if (p->require_exact_rate.b && !th->require_exact) {
                        _cleanup_free_ char *from = conf_origin_to_string(&p->require_exact_rate.origin);

                        th->require_exact = true;
                        snprintf(th->require_exact_from, sizeof(th->require_exact_from), "%s, %s",
                                 m->device->name, strna(from));
                }
                group_value_pick(&th->max_switches_per_hour, m, &p->max_switches_per_hour, false);
        }
}

/* The rate auto decides on: the unmaps lazy mode would batch, where that
 * is known to be fewer than all (IOVA-API unmaps flush at every unmap in
 * either mode: going lazy saves nothing on them). */
static double decision_rate(const PolicyGroupRate *r) {
        return r->avoidable_known && r->avoidable_per_sec < r->unmaps_per_sec ? r->avoidable_per_sec
                                                                               : r->unmaps_per_sec;
}

/* The rate in words: "2400 unmaps/s", with its source when it is not a
 * measurement of this group alone, and what lazy would save when that is
 * less. */
static void rate_describe(const PolicyGroupRate *r, char *buf, size_t size) {
        char src[96] = "";

        if (r->source && !r->exact)
                snprintf(src, sizeof(src), " (%s: %.0f %% of the unmaps no exact source placed, by I/O operations)",
                         r->source, r->share * 100);
        if (decision_rate(r) < r->unmaps_per_sec)
                snprintf(buf, size,
                         "lazy would save %.0f of %.0f unmaps/s%s: the rest flush at every unmap on this kernel "
                         "(IOVA DMA API)",
                         decision_rate(r), r->unmaps_per_sec, src);
        else
                snprintf(buf, size, "%.0f unmaps/s%s", r->unmaps_per_sec, src);
}

/* Updates the above/below runs with this tick's rate. A new run began
 * where the window that measured it began. */
static void runs_update(const PolicyDecision *d, const PolicyThresholds *th, PolicyGroupState *state,
                        uint64_t now) {
        uint64_t window_ns = d->rate.window_s > 0 ? (uint64_t) (d->rate.window_s * POLICY_NSEC_PER_SEC) : 0;
        uint64_t start = now > window_ns ? now - window_ns : 0;
        bool below = false, above = false;

        if (d->rate.measured && !(th->require_exact && !d->rate.exact)) {
                below = decision_rate(&d->rate) < (double) th->strict_below.value.u;
                above = !below && decision_rate(&d->rate) > (double) th->lazy_above.value.u;
        }
        if (below && !state->below)
                state->below_since_ns = start;
        if (above && !state->above)
                state->above_since_ns = start;
        state->below = below;
        state->above = above;
}

/* Rule 1. Returns false and writes the reason when the group is not ours. */
static bool group_managed(const IommuGroup *g, PolicyDecision *d) {
        const char *type = g->type_raw ?: group_type_to_string(g->type);

        switch (g->type) {
        case GROUP_TYPE_DMA:
        case GROUP_TYPE_DMA_FQ:
                return true;
        case GROUP_TYPE_IDENTITY:
                for (size_t i = 0; i < d->n_members; i++)
                        if (d->members[i].guard.named_in_config)
                                return true;
                reason_add(d, "group %u is identity and no device of it is named in a [device] "
                              "section: never touched", g->id);
                return false;
        case GROUP_TYPE_UNMANAGED:
                reason_add(d, "group %u is unmanaged (a user such as VFIO owns its domain): "
                              "never touched", g->id);
                return false;
        case GROUP_TYPE_NO_DEFAULT:
                reason_add(d, "group %u has no default domain (its type reads \"unknown\"): never touched", g->id);
                return false;
        default:
                reason_add(d, "group %u is %s: never touched", g->id, type);
                return false;
        }
}

/* Rule 2: the group's policy from its members' policies. Writes the reason
 * for every mode but auto. */
static int mode_from_config(PolicyDecision *d, PolicyMode *ret) {
        const PolicyMember *keep = NULL, *strict = NULL, *any_auto = NULL;
        bool all_identity = true;
        char words[300];
        int r;

        for (size_t i = 0; i < d->n_members; i++) {
                const PolicyMember *m = d->members + i;

                switch (member_mode(m)) {
                case POLICY_MODE_KEEP:
                        keep = keep ?: m;
                        break;
                case POLICY_MODE_STRICT:
                        strict = strict ?: m;
                        break;
                case POLICY_MODE_AUTO:
                        any_auto = any_auto ?: m;
                        break;
                default:
                        break;
                }
                if (member_mode(m) != POLICY_MODE_IDENTITY)
                        all_identity = false;
        }

        if (keep || strict) {
                r = member_explain(keep ?: strict, "policy", words, sizeof(words));
                if (r < 0)
                        return r;
                reason_add(d, "%s: %s", (keep ?: strict)->device->name, words);
                *ret = keep ? POLICY_MODE_KEEP : POLICY_MODE_STRICT;
        } else if (any_auto)
                *ret = POLICY_MODE_AUTO;
        else {
                *ret = all_identity ? POLICY_MODE_IDENTITY : POLICY_MODE_LAZY;
                if (d->n_members > 1)
                        reason_add(d, all_identity ? "every device has policy = identity" :
                                                     "every device has policy = lazy or identity");
                else {
                        r = member_explain(d->members, "policy", words, sizeof(words));
                        if (r < 0)
                                return r;
                        reason_add(d, "%s: %s", d->members[0].device->name, words);
                }
        }
        return 0;
}

/* Rule 3: the override, where it applies. */
static int mode_apply_override(const PolicyGroupState *state, uint64_t now, PolicyDecision *d,
                               PolicyMode *mode) {
        const PolicyOverride *o = &state->override;
        char until[64] = "";

        if (!policy_override_active(o, now))
                return 0;
        d->override = *o;
        if (o->until_ns)
                snprintf(until, sizeof(until), " for %.0f s more",
                         ns_to_s(elapsed_ns(o->until_ns, now)));

        switch (o->mode) {
        case POLICY_OVERRIDE_STRICT:
                free(reason_take(d));
                reason_add(d, "override strict%s", until);
                *mode = POLICY_MODE_STRICT;
                d->by_override = true;
                return 0;
        case POLICY_OVERRIDE_LAZY:
                if (*mode == POLICY_MODE_STRICT || *mode == POLICY_MODE_KEEP) {
                        /* Rule 2 named the member; keep its words after ours. */
                        _cleanup_free_ char *was = reason_take(d);

                        reason_add(d, "override lazy refused, the config wins: %s", was ? was : "");
                        return 0;
                }
                free(reason_take(d));
                reason_add(d, "override lazy%s", until);
                *mode = POLICY_MODE_LAZY;
                d->by_override = true;
                return 0;
        default: /* auto: the config decides */
                return 0;
        }
}

/* The rate has been beyond one threshold (below strict_below, or above
 * lazy_above) for held ns: the group goes to target once that is
 * sustained, unless it is there already. */
static void auto_held(PolicyDecision *d, const char *rate, const char *side, const char *key, uint64_t threshold,
                      uint64_t held, uint64_t sustain_s, GroupType target) {
        if (d->current == target) {
                reason_add(d, "policy auto: %s, %s %s = %" PRIu64 "; the group is already %s", rate, side, key,
                           threshold, group_type_to_string(target));
                return;
        }
        reason_add(d, "policy auto: %s, %s %s = %" PRIu64 " for %.0f s (sustain_s = %" PRIu64 ")", rate, side, key,
                   threshold, ns_to_s(held), sustain_s);
        if (held >= sustain_s * POLICY_NSEC_PER_SEC)
                d->desired = target;
        else
                reason_add(d, ", not yet sustained");
}

/* Rule 4: what auto wants now. Sets d->desired, or leaves it at current
 * and says why. */
static void auto_decide(const PolicyGroupState *state, const PolicyThresholds *th, uint64_t now,
                        PolicyDecision *d) {
        char rate[320];

        if (!d->rate.measured) {
                reason_add(d, "policy auto: the unmap rate is not measured, no change");
                return;
        }
        if (th->require_exact && !d->rate.exact) {
                reason_add(d, "policy auto: the unmap rate is %s and require_exact_rate = yes (%s): "
                              "no change until an exact rate exists",
                           d->rate.source ? d->rate.source : "not exact", th->require_exact_from);
                return;
        }
        rate_describe(&d->rate, rate, sizeof(rate));
        if (state->below) {
                auto_held(d, rate, "below", "strict_below_unmaps_per_sec", th->strict_below.value.u,
                          elapsed_ns(now, state->below_since_ns), th->sustain_s.value.u, GROUP_TYPE_DMA);
                return;
        }
        if (state->above && th->lazy_above.value.u <= th->strict_below.value.u) {
                /* The layers of the config (device, driver, class, policy;
                 * or the members of a group) left no band between the two
                 * thresholds: nothing would hold a lazy decision. Strict
                 * still comes when the rate drops; lazy waits for a fix. */
                _cleanup_free_ char *lazy_from = conf_origin_to_string(&th->lazy_above.value.origin);
                _cleanup_free_ char *strict_from = conf_origin_to_string(&th->strict_below.value.origin);

                reason_add(d, "policy auto: %s, but lazy_above_unmaps_per_sec = %" PRIu64
                              " (%s, %s) is not above strict_below_unmaps_per_sec = %" PRIu64
                              " (%s, %s): no band between them, so auto does not go lazy; fix the config",
                           rate, th->lazy_above.value.u, strna(th->lazy_above.device), strna(lazy_from),
                           th->strict_below.value.u, strna(th->strict_below.device), strna(strict_from));
                return;
        }
        if (state->above) {
                auto_held(d, rate, "above", "lazy_above_unmaps_per_sec", th->lazy_above.value.u,
                          elapsed_ns(now, state->above_since_ns), th->sustain_s.value.u, GROUP_TYPE_DMA_FQ);
                return;
        }
        reason_add(d, "policy auto: %s, between strict_below_unmaps_per_sec = %" PRIu64
                      " and lazy_above_unmaps_per_sec = %" PRIu64 ": no change",
                   rate, th->strict_below.value.u, th->lazy_above.value.u);
}

static const char *first_failed_guard(const PolicyDecision *d, GuardId *ret) {
        for (GuardId id = 0; id < _GUARD_MAX; id++)
                if (d->guards[id].applies && !d->guards[id].passed) {
                        *ret = id;
                        return d->guards[id].reason;
                }
        return NULL;
}

/* ---- public ----------------------------------------------------------- */

void policy_decision_done(PolicyDecision *d) {
        if (!d)
                return;
        free(d->members);
        d->members = NULL;
        d->n_members = 0;
        free(d->guards);
        d->guards = NULL;
        free(reason_take(d));
}

PolicyDecision *policy_decisions_free(PolicyDecision *d, size_t n) {
        for (size_t i = 0; d && i < n; i++)
                policy_decision_done(d + i);
        free(d);
        return NULL;
}

static int decide_group(const PolicyInput *in, size_t group_index, PolicyGroupState *state,
                        DevicePolicy *configs, PolicyDecision *ret) {
        PolicyThresholds th = {};
        const Topology *t;
        const IommuGroup *g;
        PolicyDecision d;
        PolicyMode mode;
        uint64_t now, last;
        GuardId failed;
        const char *why;
        int r;

        if (!in || !in->topology || !in->config || !state || !ret)
                return -EINVAL;
        t = in->topology;
        if (group_index >= t->n_groups || (t->n_devices > 0 && !in->devices))
                return -EINVAL;
        g = t->groups + group_index;
        if (state->group != g->id)
                return -EINVAL;
        now = in->now_ns;

        d = (PolicyDecision) {
                .group = g->id,
                .config = in->config,
                .now_ns = now,
                .current = g->type,
                .desired = g->type,
                .action = POLICY_ACTION_IGNORE,
                .mode = POLICY_MODE_KEEP,
        };
        if (in->rates)
                d.rate = in->rates[group_index];

        if (strv_length(g->devices) == 0) {
                reason_add(&d, "group %u has no devices", g->id);
                state->above = state->below = false;
                *ret = d;
                return 0;
        }
        r = members_fill(in, g, state, configs, &d);
        if (r == -ENOENT) {
                /* The topology lists a member it has no device for: a scan
                 * problem. Without the device's facts nothing is safe. */
                reason_add(&d, "group %u: device %s is not in the topology: never touched", g->id,
                           g->devices[d.n_members]);
                state->above = state->below = false;
                *ret = d;
                return 0;
        }
        if (r < 0) {
                policy_decision_done(&d);
                return r;
        }
        kernel_fill(in, &d);
        thresholds_fill(&d, &th);
        d.thresholds_filled = true;
        runs_update(&d, &th, state, now);

        if (!group_managed(g, &d)) {
                *ret = d;
                return 0;
        }

        d.action = POLICY_ACTION_NONE;
        r = mode_from_config(&d, &mode);
        if (r >= 0)
                r = mode_apply_override(state, now, &d, &mode);
        if (r < 0) {
                policy_decision_done(&d);
                return r;
        }
        d.mode = mode;

        switch (mode) {
        case POLICY_MODE_KEEP:
                reason_add(&d, ": the group is left as it is");
                break;
        case POLICY_MODE_STRICT:
                d.desired = GROUP_TYPE_DMA;
                break;
        case POLICY_MODE_LAZY:
                d.desired = GROUP_TYPE_DMA_FQ;
                break;
        case POLICY_MODE_IDENTITY:
                d.desired = GROUP_TYPE_IDENTITY;
                break;
        default:
                auto_decide(state, &th, now, &d);
                break;
        }

        if (d.desired == d.current) {
                if (mode != POLICY_MODE_KEEP && mode != POLICY_MODE_AUTO)
                        reason_add(&d, ": the group is already %s",
                                   group_type_to_string(d.current));
                *ret = d;
                return 0;
        }

        if (mode != POLICY_MODE_AUTO)
                reason_add(&d, ": wants %s", group_type_to_string(d.desired));

        d.guards_checked = true;
        {
                /* guards_check() takes the GuardDevices side by side. */
                _cleanup_free_ GuardDevice *gd = calloc(d.n_members, sizeof(*gd));

                d.guards = calloc(_GUARD_MAX, sizeof(*d.guards));
                if (!gd || !d.guards) {
                        policy_decision_done(&d);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < d.n_members; i++)
                        gd[i] = d.members[i].guard;
                guards_check(d.current, d.desired, gd, d.n_members, &d.kernel, d.guards);
        }

        why = first_failed_guard(&d, &failed);
        if (why) {
                d.action = POLICY_ACTION_BLOCKED;
                reason_add(&d, "; would switch to %s, blocked by guard %s: %s",
                           group_type_to_string(d.desired), guard_id_to_string(failed), why);
                *ret = d;
                return 0;
        }

        if (mode == POLICY_MODE_AUTO && !d.by_override &&
            policy_group_state_last_switch(state, &last) &&
            elapsed_ns(now, last) < th.min_dwell_s.value.u * POLICY_NSEC_PER_SEC) {
                d.action = POLICY_ACTION_WAIT;
                reason_add(&d, "; would switch to %s, but the group switched %.0f s ago "
                               "(min_dwell_s = %" PRIu64 ")",
                           group_type_to_string(d.desired), ns_to_s(elapsed_ns(now, last)),
                           th.min_dwell_s.value.u);
                *ret = d;
                return 0;
        }

        d.action = POLICY_ACTION_SWITCH;
        reason_add(&d, "; switch to %s", group_type_to_string(d.desired));
        *ret = d;
        return 0;
}

int policy_decide_group(const PolicyInput *in, size_t group_index, PolicyGroupState *state,
                        PolicyDecision *ret) {
        _cleanup_free_ DevicePolicy *configs = NULL;
        int r;

        if (!in || !in->topology || group_index >= in->topology->n_groups)
                return -EINVAL;
        configs = calloc(strv_length(in->topology->groups[group_index].devices) ?: 1, sizeof(*configs));
        if (!configs)
                return -ENOMEM;
        r = decide_group(in, group_index, state, configs, ret);
        if (r < 0)
                return r;
        /* Every decision says why; a reason cut short by a failed
         * allocation is not given as the reason. */
        if (ret->reason_lost || !ret->reason) {
                policy_decision_done(ret);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ret->n_members; i++)
                ret->members[i].config = NULL;
        return 0;
}

int policy_decide(const PolicyInput *in, PolicyState *state, PolicyDecision **ret,
                  size_t *ret_n) {
        PolicyDecision *d;
        size_t n;
        int r;

        if (!in || !in->topology || !state || !ret || !ret_n)
                return -EINVAL;
        n = in->topology->n_groups;
        /* Not zeroed: policy_decide_group() sets every byte of each
         * decision it returns success for (and only those are freed on an
         * error); zeroing ~2.5 KiB per group was a fifth of the tick. */
        d = reallocarray(NULL, n ?: 1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                PolicyGroupState *s = policy_state_get(state, in->topology->groups[i].id);

                if (!s) {
                        policy_decisions_free(d, i);
                        return -ENOMEM;
                }
                r = policy_decide_group(in, i, s, d + i);
                if (r < 0) {
                        policy_decisions_free(d, i);
                        return r;
                }
        }
        *ret = d;
        *ret_n = n;
        return 0;
}

/* ---- explain ---------------------------------------------------------- */

static const char *tristate_word(Tristate t) {
        return t == TRISTATE_YES ? "yes" : t == TRISTATE_NO ? "no" : "not shown";
}

static int explain_group_value(FILE *out, const char *name, const char *which,
                               const PolicyGroupValue *gv) {
        _cleanup_free_ char *origin = NULL;

        if (!gv->device)
                return 0;
        origin = conf_origin_to_string(&gv->value.origin);
        if (!origin)
                return -ENOMEM;
        fprintf(out, "    %s = %" PRIu64 ": the %s, from %s (%s)\n", name,
                gv->value.u, which, gv->device, origin);
        return 0;
}

int policy_decision_thresholds(const PolicyDecision *d, PolicyThresholds *ret) {
        _cleanup_free_ DevicePolicy *configs = NULL;
        _cleanup_free_ PolicyMember *members = NULL;
        PolicyDecision copy;
        int r;

        *ret = (PolicyThresholds) {};
        if (!d->thresholds_filled || d->n_members == 0)
                return 0;
        configs = calloc(d->n_members, sizeof(*configs));
        members = calloc(d->n_members, sizeof(*members));
        if (!configs || !members)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_members; i++) {
                const Device *dev = d->members[i].device;

                r = config_resolve_device(d->config, dev->name, dev->driver, dev->class_word, configs + i);
                if (r < 0)
                        return r;
                members[i] = d->members[i];
                members[i].config = configs + i;
        }
        copy = *d;
        copy.members = members;
        thresholds_fill(&copy, ret);
        return 0;
}

int policy_decision_explain(const PolicyDecision *d, FILE *out) {
        PolicyThresholds thresholds, *th = &thresholds;
        size_t n_keys;
        const ConfKey *keys = conf_keys(&n_keys);
        int r;

        fprintf(out, "group %u: %s", d->group, group_type_to_string(d->current));
        if (d->desired != d->current)
                fprintf(out, " -> %s", group_type_to_string(d->desired));
        fprintf(out, ": %s\n", policy_action_to_string(d->action));
        fprintf(out, "  reason: %s\n", d->reason);
        if (d->action != POLICY_ACTION_IGNORE)
                fprintf(out, "  policy: %s%s\n", strna(policy_mode_to_string(d->mode)),
                        d->by_override ? " (by override)" : "");
        if (d->override.mode == POLICY_OVERRIDE_NONE)
                fprintf(out, "  override: none\n");
        else if (d->override.until_ns)
                fprintf(out, "  override: %s, %.0f s left%s\n",
                        policy_override_mode_to_string(d->override.mode),
                        ns_to_s(elapsed_ns(d->override.until_ns, d->now_ns)),
                        d->by_override ? "" : " (not applied)");
        else
                fprintf(out, "  override: %s, until cleared%s\n",
                        policy_override_mode_to_string(d->override.mode),
                        d->by_override ? "" : " (not applied)");
        if (d->rate.measured && d->rate.source && !d->rate.exact)
                fprintf(out, "  unmap rate: %.0f/s over the last tick, %s: %.0f %% of the unmaps no exact source "
                             "placed, by the groups' I/O operations (block I/Os, packets, interrupts)\n",
                        d->rate.unmaps_per_sec, d->rate.source, d->rate.share * 100);
        else if (d->rate.measured)
                fprintf(out, "  unmap rate: %.0f/s over the last tick, %s\n", d->rate.unmaps_per_sec,
                        d->rate.source ? d->rate.source : "measured");
        else
                fprintf(out, "  unmap rate: not measured\n");
        r = policy_decision_thresholds(d, th);
        if (r < 0)
                return r;
        if (th->lazy_above.device)
                fprintf(out, "  thresholds, combined over %s:\n",
                        th->auto_members_only ? "the members with policy = auto" : "every member");
        if ((r = explain_group_value(out, "lazy_above_unmaps_per_sec", "largest", &th->lazy_above)) < 0 ||
            (r = explain_group_value(out, "strict_below_unmaps_per_sec", "smallest", &th->strict_below)) < 0 ||
            (r = explain_group_value(out, "sustain_s", "largest", &th->sustain_s)) < 0 ||
            (r = explain_group_value(out, "min_dwell_s", "largest", &th->min_dwell_s)) < 0 ||
            (r = explain_group_value(out, "max_switches_per_hour", "smallest",
                                     &th->max_switches_per_hour)) < 0)
                return r;
        if (d->kernel.forced_strict)
                fprintf(out, "  kernel: forced strict (%s)\n", strna(d->kernel.forced_strict_reason));
        else
                fprintf(out, "  kernel: did not force strict\n");

        for (size_t i = 0; i < d->n_members; i++) {
                const PolicyMember *m = d->members + i;
                const GuardDevice *gd = &m->guard;

                DevicePolicy config;

                fprintf(out, "  device %s (class %s, driver %s):\n", m->device->name,
                        strna(m->device->class_word), m->device->driver ?: "none");
                r = config_resolve_device(d->config, m->device->name, m->device->driver, m->device->class_word,
                                          &config);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < n_keys; k++) {
                        _cleanup_free_ char *line = NULL;

                        if (keys[k].section != CONF_SCOPE_POLICY)
                                continue;
                        line = config_explain(keys + k, conf_key_value(keys + k, &config));
                        if (!line)
                                return -ENOMEM;
                        fprintf(out, "    %s\n", line);
                }
                fprintf(out, "    named in a [device] section: %s\n",
                        gd->named_in_config ? "yes" : "no");
                fprintf(out, "    untrusted: %s, removable: %s, external-facing: %s\n",
                        tristate_word(gd->untrusted), tristate_word(gd->removable),
                        gd->external_facing ? "yes" : "no");
                fprintf(out, "    in use: %s\n", gd->in_use ?: "no");
                fprintf(out, "    switches in the last hour: %u\n", gd->switches_last_hour);
        }

        if (!d->guards_checked)
                fprintf(out, "  guards: not checked (no switch proposed)\n");
        else
                for (GuardId id = 0; id < _GUARD_MAX; id++) {
                        const GuardVerdict *v = d->guards + id;

                        fprintf(out, "  guard %s: %s: %s\n", guard_id_to_string(id),
                                !v->applies ? "does not apply" : v->passed ? "passed" : "FAILED",
                                v->reason);
                }
        return 0;
}
