/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The group switch against fixture trees with a model of the kernel behind
 * the write hook (switch-sim.h): every transition on 6.1 and 6.4+, every
 * guard, a failure injected at every write step with each errno, the
 * kernel's own refusals, rollback and its failure, the type that silently
 * stays DMA, dry runs that write nothing, and a kill -9 at every step
 * followed by the start-up recovery.
 */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "group-switch.h"
#include "intent-log.h"
#include "log.h"
#include "recovery.h"
#include "switch-sim.h"
#include "tap.h"
#include "util.h"

#define G 1 /* the group under test */

static const char *const bdf1[] = { "0000:01:00.0" };
static const char *const bdf2[] = { "0000:02:00.0", "0000:02:00.1" };

typedef struct Scenario {
        int version;
        unsigned n; /* devices in the group: 1 (nvme) or 2 (i40e) */
        const char *from, *to;
} Scenario;

static const char *const *scenario_bdfs(const Scenario *sc) {
        return sc->n == 1 ? bdf1 : bdf2;
}

static const char *scenario_driver(const Scenario *sc) {
        return sc->n == 1 ? "nvme" : "i40e";
}

/* Group G with the scenario's devices, plus group 9 with an unrelated
 * bound device that must never be touched. */
static void setup(Sim *s, const Scenario *sc) {
        sim_init(s, sc->version);
        sim_add_group(s, G, sc->from);
        for (unsigned i = 0; i < sc->n; i++)
                sim_add_device(s, G, scenario_bdfs(sc)[i], scenario_driver(sc), NULL, false);
        sim_add_group(s, 9, "DMA");
        sim_add_device(s, 9, "0000:09:00.0", "e1000e", NULL, false);
}

static GuardDevice facts[SIM_MAX_DEVICES];
static GuardKernel no_force;

static SwitchOptions options(Sim *s) {
        for (unsigned i = 0; i < s->n_devices; i++)
                facts[i] = (GuardDevice) {
                        .name = s->devices[i].bdf,
                        .untrusted = TRISTATE_NO,
                        .removable = TRISTATE_NO,
                        .named_in_config = true,
                        .allow_rebind = true,
                        .allow_lazy_when_kernel_forced_strict = false,
                        .max_switches_per_hour = 10,
                };
        return (SwitchOptions) { .devices = facts, .n_devices = s->n_devices, .kernel = &no_force };
}

static GroupType T(const char *s) {
        return group_type_from_string(s);
}

/* Every device of the scenario bound to its driver, and the unrelated
 * device untouched. */
static bool all_bound(Sim *s, const Scenario *sc) {
        for (unsigned i = 0; i < sc->n; i++)
                if (!streq(sim_driver(s, scenario_bdfs(sc)[i]), scenario_driver(sc)))
                        return false;
        return streq(sim_driver(s, "0000:09:00.0"), "e1000e") && streq(sim_type(s, 9), "DMA");
}

static bool state_clean(Sim *s) {
        return sim_state_count(s) == 0;
}

static void diag_result(const SwitchResult *r) {
        tap_diag("outcome %s error %d: %s", switch_outcome_to_string(r->outcome), r->error, strna(r->message));
        for (char **p = r->steps; p && *p; p++)
                tap_diag("  step: %s", *p);
}

/* ---- every transition ------------------------------------------------- */

static void test_transitions(void) {
        static const Scenario cases[] = {
                { 601, 1, "DMA", "DMA-FQ" },      { 601, 1, "DMA-FQ", "DMA" },      { 601, 1, "DMA", "identity" },
                { 601, 1, "identity", "DMA" },    { 601, 1, "identity", "DMA-FQ" }, { 601, 1, "DMA-FQ", "identity" },
                { 604, 1, "DMA", "DMA-FQ" },      { 604, 1, "DMA-FQ", "DMA" },      { 604, 1, "DMA", "identity" },
                { 604, 1, "identity", "DMA" },    { 604, 1, "identity", "DMA-FQ" }, { 604, 1, "DMA-FQ", "identity" },
                { 604, 2, "DMA", "DMA-FQ" },      { 604, 2, "DMA-FQ", "DMA" },      { 604, 2, "identity", "DMA-FQ" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Scenario *sc = cases + i;
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;
                bool live = streq(sc->from, "DMA") && streq(sc->to, "DMA-FQ");
                int q;

                setup(&s, sc);
                sim_context(&s, &ctx);
                o = options(&s);
                q = group_switch(&ctx, G, T(sc->to), &o, &r);
                CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE, "%d, %u device(s): %s -> %s done", sc->version,
                      sc->n, sc->from, sc->to);
                if (r.outcome != SWITCH_OUTCOME_DONE)
                        diag_result(&r);
                CHECK_STR(sim_type(&s, G), sc->to, "type read back");
                CHECK(r.final_type == T(sc->to) && r.all_bound && !r.needs_attention, "result says %s, all bound",
                      sc->to);
                CHECK(all_bound(&s, sc), "every device bound to its driver again, group 9 untouched");
                CHECK(state_clean(&s), "no intent record left");
                CHECK(r.needs_rebind == !live, "needs_rebind %d", r.needs_rebind);
                /* live: the type only; rebind: intent, n unbinds, type,
                 * intent update, n binds, intent removal. */
                CHECK_INT(s.writes, live ? 1 : 4 + 2 * sc->n, "writes");
                switch_result_done(&r);
                sim_destroy(&s);
        }
}

/* ---- 6.1: groups of more than one device -------------------------------- */

static void test_multi_device_61(void) {
        Scenario sc = { 601, 2, "DMA-FQ", "DMA" };
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        int q;

        /* Kernel known to be 6.1: refused before anything is unbound. */
        setup(&s, &sc);
        sim_context(&s, &ctx);
        ctx.kernel_major = 6;
        ctx.kernel_minor = 1;
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == -ECANCELED && r.outcome == SWITCH_OUTCOME_REFUSED, "6.1 multi-device: refused up front");
        CHECK(r.message && strstr(r.message, "more than one device"), "says why: %s", strna(r.message));
        CHECK_INT(s.writes, 0, "nothing written");
        switch_result_done(&r);
        sim_destroy(&s);

        /* Kernel unknown: the kernel says EINVAL, everything goes back. */
        setup(&s, &sc);
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == -EINVAL && r.outcome == SWITCH_OUTCOME_FAILED, "6.1 multi-device, kernel unknown: failed");
        CHECK(r.message && strstr(r.message, "more than one device") && strstr(r.message, "EINVAL"),
              "EINVAL explained: %s", strna(r.message));
        CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA-FQ") && state_clean(&s),
              "rolled back: both bound, DMA-FQ, no record");
        switch_result_done(&r);
        sim_destroy(&s);

        /* The live path on a multi-device group: EINVAL, nothing unbound. */
        sc = (Scenario) { 601, 2, "DMA", "DMA-FQ" };
        setup(&s, &sc);
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == -EINVAL && r.outcome == SWITCH_OUTCOME_FAILED, "6.1 multi-device live: failed with EINVAL");
        CHECK_INT(s.writes, 1, "only the type write");
        CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA"), "still DMA, both bound");
        switch_result_done(&r);
        sim_destroy(&s);

        /* 6.4 known: allowed. */
        sc = (Scenario) { 604, 2, "DMA-FQ", "DMA" };
        setup(&s, &sc);
        sim_context(&s, &ctx);
        ctx.kernel_major = 6;
        ctx.kernel_minor = 4;
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE && all_bound(&s, &sc), "6.4 multi-device: done");
        switch_result_done(&r);
        sim_destroy(&s);
}

/* ---- guards and preconditions ------------------------------------------ */

typedef void (*Tweak)(Sim *s, SwitchContext *ctx, SwitchOptions *o);

static GuardKernel forced = { .forced_strict = true, .forced_strict_reason = "Intel caching mode" };

static void tw_untrusted(Sim *s, SwitchContext *c, SwitchOptions *o) { facts[0].untrusted = TRISTATE_YES; }
static void tw_external(Sim *s, SwitchContext *c, SwitchOptions *o) { facts[0].external_facing = true; }
static void tw_removable(Sim *s, SwitchContext *c, SwitchOptions *o) { facts[0].removable = TRISTATE_YES; }
static void tw_in_use(Sim *s, SwitchContext *c, SwitchOptions *o) {
        facts[0].in_use = "backs / (nvme0n1p2)";
        facts[0].named_in_config = false;
}
static void tw_forced(Sim *s, SwitchContext *c, SwitchOptions *o) { o->kernel = &forced; }
static void tw_not_named(Sim *s, SwitchContext *c, SwitchOptions *o) { facts[0].named_in_config = false; }
static void tw_no_rebind(Sim *s, SwitchContext *c, SwitchOptions *o) { facts[0].allow_rebind = false; }
static void tw_rate(Sim *s, SwitchContext *c, SwitchOptions *o) { facts[0].switches_last_hour = 10; }
static void tw_no_facts(Sim *s, SwitchContext *c, SwitchOptions *o) { o->n_devices = 0; }
static void tw_null_opts(Sim *s, SwitchContext *c, SwitchOptions *o) { o->devices = NULL; }
static void tw_sysfs_untrusted(Sim *s, SwitchContext *c, SwitchOptions *o) {
        int fd = openat(s->sys_fd, "devices/pci0000:00/0000:01:00.0", O_PATH | O_DIRECTORY | O_CLOEXEC);
        int f = openat(fd, "untrusted", O_WRONLY | O_CREAT | O_CLOEXEC, 0444);

        (void) !write(f, "1\n", 2);
        close(f);
        close(fd);
}
static void tw_blocked(Sim *s, SwitchContext *c, SwitchOptions *o) { sim_set_type(s, G, "blocked"); }
static void tw_unmanaged(Sim *s, SwitchContext *c, SwitchOptions *o) { sim_set_type(s, G, "unmanaged"); }
static void tw_attention(Sim *s, SwitchContext *c, SwitchOptions *o) {
        sim_write_state(s, "attention-group-1.json", "{\"version\":1,\"group\":1,\"message\":\"earlier trouble\"}\n");
}
static void tw_intent(Sim *s, SwitchContext *c, SwitchOptions *o) {
        sim_write_state(s, "intent-group-1.json", "{}\n");
}
static void tw_no_state(Sim *s, SwitchContext *c, SwitchOptions *o) { c->state_fd = -1; }
static void tw_platform(Sim *s, SwitchContext *c, SwitchOptions *o) {
        sim_add_platform_device(s, G, "fe000000.gpu", "panfrost");
        facts[s->n_devices - 1] = facts[0];
        facts[s->n_devices - 1].name = "fe000000.gpu";
        o->n_devices = s->n_devices;
}
static void tw_k510(Sim *s, SwitchContext *c, SwitchOptions *o) {
        c->kernel_major = 5;
        c->kernel_minor = 10;
}
static void tw_k514(Sim *s, SwitchContext *c, SwitchOptions *o) {
        c->kernel_major = 5;
        c->kernel_minor = 14;
}
static void tw_no_bind_file(Sim *s, SwitchContext *c, SwitchOptions *o) {
        unlinkat(s->sys_fd, "bus/pci/drivers/nvme/bind", 0);
}

static void test_guards(void) {
        static const struct {
                const char *what;
                const char *from, *to;
                Tweak tweak;
                const char *needle; /* in the message */
                GuardId guard;      /* _GUARD_MAX: not a guard */
        } cases[] = {
                { "untrusted, to lazy", "DMA", "DMA-FQ", tw_untrusted, "trusted", GUARD_TRUSTED },
                { "untrusted, to identity", "DMA", "identity", tw_untrusted, "trusted", GUARD_TRUSTED },
                { "untrusted in sysfs, facts say no", "DMA", "DMA-FQ", tw_sysfs_untrusted, "untrusted", GUARD_TRUSTED },
                { "external-facing", "DMA", "DMA-FQ", tw_external, "external-facing", GUARD_TRUSTED },
                { "removable", "DMA", "DMA-FQ", tw_removable, "removable", GUARD_TRUSTED },
                { "in use", "DMA-FQ", "DMA", tw_in_use, "backs /", GUARD_NOT_IN_USE },
                { "kernel forced strict", "DMA", "DMA-FQ", tw_forced, "caching mode", GUARD_KERNEL_STRICT },
                { "identity, not named", "DMA", "identity", tw_not_named, "identity-named", GUARD_IDENTITY_NAMED },
                { "rebind not allowed", "DMA-FQ", "DMA", tw_no_rebind, "allow_rebind", GUARD_REBIND_ALLOWED },
                { "rate limit", "DMA", "DMA-FQ", tw_rate, "max_switches_per_hour", GUARD_RATE_LIMIT },
                { "no facts", "DMA", "DMA-FQ", tw_no_facts, "no guard facts", _GUARD_MAX },
                { "NULL facts", "DMA-FQ", "DMA", tw_null_opts, "no guard facts", _GUARD_MAX },
                { "blocked group", "blocked", "DMA", tw_blocked, "another owner", _GUARD_MAX },
                { "unmanaged group", "unmanaged", "DMA-FQ", tw_unmanaged, "VFIO", _GUARD_MAX },
                { "needs attention", "DMA-FQ", "DMA", tw_attention, "earlier trouble", _GUARD_MAX },
                { "interrupted switch", "DMA", "DMA-FQ", tw_intent, "interrupted", _GUARD_MAX },
                { "no state directory", "DMA-FQ", "DMA", tw_no_state, "state directory", _GUARD_MAX },
                { "platform device", "DMA-FQ", "identity", tw_platform, "not a PCI device", _GUARD_MAX },
                { "driver without bind file", "DMA-FQ", "DMA", tw_no_bind_file, "bind/unbind", _GUARD_MAX },
                { "kernel 5.10", "DMA-FQ", "DMA", tw_k510, "read-only before 5.11", _GUARD_MAX },
                { "kernel 5.14, to DMA-FQ", "DMA", "DMA-FQ", tw_k514, "5.15", _GUARD_MAX },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Scenario sc = { 604, 1, cases[i].from, cases[i].to };
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;
                int q;

                setup(&s, &sc);
                sim_context(&s, &ctx);
                o = options(&s);
                cases[i].tweak(&s, &ctx, &o);
                q = group_switch(&ctx, G, T(cases[i].to), &o, &r);
                CHECK(q == -ECANCELED && r.outcome == SWITCH_OUTCOME_REFUSED, "%s: refused", cases[i].what);
                CHECK(r.message && strstr(r.message, cases[i].needle), "%s: says \"%s\": %s", cases[i].what,
                      cases[i].needle, strna(r.message));
                if (cases[i].guard < _GUARD_MAX)
                        CHECK(!r.guards_passed && r.verdicts[cases[i].guard].applies &&
                              !r.verdicts[cases[i].guard].passed, "%s: guard %s failed", cases[i].what,
                              guard_id_to_string(cases[i].guard));
                CHECK(s.writes == 0 && ctx.steps == 0, "%s: nothing written", cases[i].what);
                CHECK(all_bound(&s, &sc), "%s: still bound", cases[i].what);
                switch_result_done(&r);
                sim_destroy(&s);
        }

        /* Passing cases next to the refusals: a platform device does not
         * stop the live switch; no state directory does not either. */
        {
                Scenario sc = { 604, 1, "DMA", "DMA-FQ" };
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;

                setup(&s, &sc);
                sim_context(&s, &ctx);
                o = options(&s);
                tw_platform(&s, &ctx, &o);
                tw_no_state(&s, &ctx, &o);
                CHECK(group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r) == 0 && r.outcome == SWITCH_OUTCOME_DONE,
                      "live switch with a platform device and no state directory: done");
                switch_result_done(&r);
                sim_destroy(&s);
        }

        /* 5.14 knows no DMA-FQ but can switch to identity. */
        {
                Scenario sc = { 601, 1, "DMA", "identity" };
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;

                setup(&s, &sc);
                sim_context(&s, &ctx);
                o = options(&s);
                tw_k514(&s, &ctx, &o);
                CHECK(group_switch(&ctx, G, GROUP_TYPE_IDENTITY, &o, &r) == 0 && r.outcome == SWITCH_OUTCOME_DONE,
                      "kernel 5.14, DMA -> identity: done");
                switch_result_done(&r);
                sim_destroy(&s);
        }

        /* Same type: nothing to do. Bad target: -EINVAL. */
        {
                Scenario sc = { 604, 1, "DMA", "DMA" };
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;

                setup(&s, &sc);
                sim_context(&s, &ctx);
                o = options(&s);
                CHECK(group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r) == 0 && r.outcome == SWITCH_OUTCOME_UNCHANGED,
                      "DMA -> DMA: unchanged");
                switch_result_done(&r);
                CHECK(group_switch(&ctx, G, GROUP_TYPE_BLOCKED, &o, &r) == -EINVAL, "to blocked: -EINVAL");
                switch_result_done(&r);
                CHECK(group_switch(&ctx, G, GROUP_TYPE_UNKNOWN, &o, &r) == -EINVAL, "to unknown: -EINVAL");
                switch_result_done(&r);
                CHECK(group_switch(&ctx, 77, GROUP_TYPE_DMA_FQ, &o, &r) == -ECANCELED &&
                      strstr(strna(r.message), "cannot be read"), "a group that does not exist: refused");
                switch_result_done(&r);
                CHECK_INT(s.writes, 0, "nothing written");
                sim_destroy(&s);
        }
}

/* ---- a failure injected at every step ----------------------------------- */

/* The step of the type write: after the intent and one unbind per device. */
static unsigned type_step(const Scenario *sc) {
        return streq(sc->from, "DMA") && streq(sc->to, "DMA-FQ") ? 1 : 2 + sc->n;
}

static unsigned total_steps(const Scenario *sc) {
        return streq(sc->from, "DMA") && streq(sc->to, "DMA-FQ") ? 1 : 4 + 2 * sc->n;
}

static const char *explanation(int e) {
        switch (e) {
        case EBUSY:
                return "EBUSY, kernels up to about 6.3";
        case EPERM:
                return "EPERM, kernels from about 6.4";
        case EINVAL:
                return "EINVAL";
        case EACCES:
                return "CAP_SYS_ADMIN";
        case ENODEV:
                return "ENODEV";
        default:
                return "";
        }
}

static void test_injected_failures(void) {
        static const Scenario cases[] = {
                { 601, 1, "DMA", "DMA-FQ" }, { 601, 1, "DMA-FQ", "DMA" }, { 601, 1, "DMA", "identity" },
                { 601, 1, "identity", "DMA-FQ" }, { 604, 1, "DMA", "DMA-FQ" }, { 604, 1, "DMA-FQ", "DMA" },
                { 604, 1, "identity", "DMA" }, { 604, 2, "DMA-FQ", "DMA" }, { 604, 2, "DMA", "DMA-FQ" },
        };
        /* ENOMEM: the kernel's, or the intent record's when it cannot be
         * put together; neither may leave a device unbound. */
        static const int errnos[] = { EBUSY, EPERM, EINVAL, ENODEV, EACCES, ENOMEM };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (size_t e = 0; e < ELEMENTSOF(errnos); e++)
                        for (unsigned k = 1; k <= total_steps(cases + i) + 1; k++) {
                                const Scenario *sc = cases + i;
                                SwitchResult r = {};
                                SwitchOptions o;
                                SwitchContext ctx;
                                bool ok, last = k == total_steps(sc) && total_steps(sc) > 1;
                                Sim s;
                                int q;

                                setup(&s, sc);
                                sim_context(&s, &ctx);
                                ctx.fail_at_step = k;
                                ctx.fail_errno = errnos[e];
                                o = options(&s);
                                q = group_switch(&ctx, G, T(sc->to), &o, &r);

                                ok = all_bound(&s, sc) && !r.needs_attention &&
                                     !sim_state_exists(&s, "attention-group-1.json");
                                if (r.outcome == SWITCH_OUTCOME_DONE)
                                        ok = ok && q == 0 && streq(sim_type(&s, G), sc->to);
                                else if (r.outcome == SWITCH_OUTCOME_FAILED)
                                        ok = ok && q == -errnos[e] && r.error == -errnos[e] &&
                                             streq(sim_type(&s, G), sc->from) && state_clean(&s);
                                else
                                        ok = false;
                                /* The record is removed last; failing that
                                 * leaves it for the next start. */
                                if (last)
                                        ok = ok && r.outcome == SWITCH_OUTCOME_DONE &&
                                             sim_state_exists(&s, "intent-group-1.json");
                                else if (r.outcome == SWITCH_OUTCOME_DONE)
                                        ok = ok && state_clean(&s);
                                if (k == type_step(sc))
                                        ok = ok && r.outcome == SWITCH_OUTCOME_FAILED &&
                                             strstr(strna(r.message), explanation(errnos[e]));
                                if (k > total_steps(sc))
                                        ok = ok && r.outcome == SWITCH_OUTCOME_DONE;
                                CHECK(ok, "%d, %u device(s), %s -> %s, %s at step %u: %s, every device bound, "
                                      "type %s", sc->version, sc->n, sc->from, sc->to, errno_to_name(errnos[e]),
                                      k, switch_outcome_to_string(r.outcome), sim_type(&s, G));
                                if (!ok)
                                        diag_result(&r);
                                if (last) {
                                        RecoveryReport rep = {};

                                        sim_context(&s, &ctx);
                                        q = intent_log_recover(&ctx, NULL, &rep);
                                        CHECK(q == 0 && rep.n_records == 1 && rep.n_attention == 0 && state_clean(&s) &&
                                              all_bound(&s, sc) && streq(sim_type(&s, G), sc->to),
                                              "the record left by a failed removal is cleared at start (finished)");
                                        recovery_report_done(&rep);
                                }
                                switch_result_done(&r);
                                sim_destroy(&s);
                        }
}

/* ---- the kernel's own refusals and quirks ----------------------------- */

static void test_kernel_refusals(void) {
        Scenario sc;
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        int q;

        /* A driver bound again between the unbind and the type write. */
        for (int v = 601; v <= 604; v += 3) {
                sc = (Scenario) { v, 1, "DMA-FQ", "DMA" };
                setup(&s, &sc);
                snprintf(s.race_bind_bdf, sizeof(s.race_bind_bdf), "0000:01:00.0");
                sim_context(&s, &ctx);
                o = options(&s);
                q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
                CHECK(q == (v == 601 ? -EBUSY : -EPERM) && r.outcome == SWITCH_OUTCOME_FAILED,
                      "%d: driver bound at the type write: %s", v, v == 601 ? "EBUSY" : "EPERM");
                CHECK(strstr(strna(r.message), v == 601 ? "EBUSY, kernels up to about 6.3" : "EPERM, kernels from about 6.4"),
                      "explained in words: %s", strna(r.message));
                CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA-FQ") && state_clean(&s),
                      "rolled back: bound, DMA-FQ, no record");
                switch_result_done(&r);
                sim_destroy(&s);
        }

        /* A read-only type file (before 5.11), through the model ... */
        sc = (Scenario) { 601, 1, "DMA-FQ", "DMA" };
        setup(&s, &sc);
        CHECK(fchmodat(s.sys_fd, "kernel/iommu_groups/1/type", 0444, 0) == 0, "chmod 0444");
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == -EACCES && r.outcome == SWITCH_OUTCOME_FAILED && strstr(strna(r.message), "read-only before 5.11"),
              "read-only type file: EACCES, explained: %s", strna(r.message));
        CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA-FQ") && state_clean(&s), "rolled back");
        switch_result_done(&r);
        sim_destroy(&s);

        /* ... and through the real write path (no model: a fixture file). */
        sc = (Scenario) { 604, 1, "DMA", "DMA-FQ" };
        setup(&s, &sc);
        fchmodat(s.sys_fd, "kernel/iommu_groups/1/type", 0444, 0);
        sim_context(&s, &ctx);
        ctx.hook = NULL;
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == -EACCES && r.outcome == SWITCH_OUTCOME_FAILED, "real write to a 0444 file: EACCES even as root");
        CHECK_STR(sim_type(&s, G), "DMA", "type file unchanged");
        switch_result_done(&r);
        fchmodat(s.sys_fd, "kernel/iommu_groups/1/type", 0644, 0);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE, "real write to a fixture file: done");
        CHECK_STR(sim_type(&s, G), "DMA-FQ", "the fixture file holds exactly DMA-FQ (truncated, not overwritten)");
        switch_result_done(&r);
        sim_destroy(&s);

        /* Live DMA -> DMA-FQ that silently stays DMA. */
        sc = (Scenario) { 604, 1, "DMA", "DMA-FQ" };
        setup(&s, &sc);
        s.live_fq_silently_dma = true;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == -EOPNOTSUPP && r.outcome == SWITCH_OUTCOME_OTHER_TYPE && r.final_type == GROUP_TYPE_DMA,
              "live DMA-FQ that stays DMA: other-type, reads DMA");
        CHECK(strstr(strna(r.message), "reads DMA") && all_bound(&s, &sc), "reported in words: %s", strna(r.message));
        switch_result_done(&r);
        sim_destroy(&s);

        /* identity -> DMA-FQ through a new domain that comes up DMA. */
        sc = (Scenario) { 601, 1, "identity", "DMA-FQ" };
        setup(&s, &sc);
        s.fq_silently_dma = true;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == -EOPNOTSUPP && r.outcome == SWITCH_OUTCOME_OTHER_TYPE && r.final_type == GROUP_TYPE_DMA,
              "identity -> DMA-FQ that comes up DMA: other-type");
        CHECK(all_bound(&s, &sc) && state_clean(&s) && r.all_bound, "every device bound, no record");
        switch_result_done(&r);
        sim_destroy(&s);
}

/* ---- binding back ------------------------------------------------------ */

static bool steps_mention(const SwitchResult *r, const char *needle) {
        for (char **p = r->steps; p && *p; p++)
                if (strstr(*p, needle))
                        return true;
        return false;
}

static void test_rebind_and_rollback(void) {
        Scenario sc;
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        unsigned writes;
        int q;

        /* bind refuses; drivers_probe binds. */
        sc = (Scenario) { 604, 1, "DMA-FQ", "DMA" };
        setup(&s, &sc);
        s.bind_file_fails = true;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE && all_bound(&s, &sc), "bind fails, drivers_probe binds: done");
        CHECK(steps_mention(&r, "drivers_probe"), "the fallback is in the steps");
        switch_result_done(&r);
        sim_destroy(&s);

        /* One device will not come up under the new type: the other one
         * is unbound again, the old type written, both bound. */
        sc = (Scenario) { 604, 2, "DMA-FQ", "identity" };
        setup(&s, &sc);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "identity");
        snprintf(s.probe_fails_bdf, sizeof(s.probe_fails_bdf), "0000:02:00.1");
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_IDENTITY, &o, &r);
        CHECK(q == -ENXIO && r.outcome == SWITCH_OUTCOME_FAILED, "a device fails to bind under identity: failed");
        CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA-FQ") && state_clean(&s),
              "rolled back: DMA-FQ, both bound, no record");
        CHECK(steps_mention(&r, "unbound 0000:02:00.0") && steps_mention(&r, "wrote DMA-FQ"),
              "the bound one was unbound again and DMA-FQ written back");
        switch_result_done(&r);
        sim_destroy(&s);

        /* Rollback fails too: the device will not bind under any type. */
        sc = (Scenario) { 601, 1, "DMA-FQ", "DMA" };
        setup(&s, &sc);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "any");
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q < 0 && r.outcome == SWITCH_OUTCOME_NEEDS_ATTENTION && r.needs_attention, "rollback fails: needs attention");
        CHECK(strstr(strna(r.message), "0000:01:00.0") && strstr(strna(r.message), strerror(ENXIO)),
              "names the device and the errno: %s", strna(r.message));
        CHECK(sim_state_exists(&s, "attention-group-1.json") && !sim_state_exists(&s, "intent-group-1.json"),
              "marked in the state directory, intent record gone");
        CHECK_STR(sim_type(&s, G), "DMA-FQ", "the old type is back");
        /* intent, unbind, type, intent, bind, probe, intent, type, bind,
         * probe, attention, intent removal: no retry loop. */
        CHECK_INT(s.writes, 12, "each action tried once");
        switch_result_done(&r);
        writes = s.writes;
        sim_bind(&s, "0000:01:00.0", "nvme");
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == -ECANCELED && strstr(strna(r.message), "needs attention"), "the marked group is refused");
        CHECK_INT(s.writes, writes, "nothing written for it");
        switch_result_done(&r);
        {
                IntentRecord *list = NULL;
                size_t n = 0;

                CHECK(intent_log_list_attention(&ctx, &list, &n) == 0 && n == 1 && list[0].group == G &&
                      list[0].message && strstr(list[0].message, "needs attention"), "status lists the mark");
                intent_records_free(list, n);
        }
        CHECK(intent_log_clear_attention(&ctx, G) == 0, "clear the mark");
        q = group_switch_plan(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_PLANNED, "after clearing, the switch is possible again");
        switch_result_done(&r);
        sim_destroy(&s);

        /* Rollback cannot write the old type back. */
        sc = (Scenario) { 604, 1, "DMA-FQ", "identity" };
        setup(&s, &sc);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "identity");
        s.type_fail_from = 2;
        s.type_fail_errno = EIO;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_IDENTITY, &o, &r);
        CHECK(r.outcome == SWITCH_OUTCOME_NEEDS_ATTENTION && strstr(strna(r.message), "could not write DMA-FQ back"),
              "the old type cannot be written back: needs attention: %s", strna(r.message));
        CHECK(sim_state_exists(&s, "attention-group-1.json"), "marked");
        switch_result_done(&r);
        sim_destroy(&s);
}

/* A device hot-removed while it was unbound: nothing to bind, not a
 * failure; the other device of the group is bound again. */
static void test_hot_removal(void) {
        Scenario sc = { 604, 2, "DMA-FQ", "DMA" };
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        int q;

        setup(&s, &sc);
        snprintf(s.gone_after_unbind, sizeof(s.gone_after_unbind), "0000:02:00.1");
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE && r.all_bound, "a device removed mid-switch: done");
        CHECK(streq(sim_driver(&s, "0000:02:00.0"), "i40e") && streq(sim_type(&s, G), "DMA") && state_clean(&s),
              "the other device bound, DMA, no record");
        CHECK(steps_mention(&r, "0000:02:00.1 is gone"), "the removal is in the steps");
        if (r.outcome != SWITCH_OUTCOME_DONE)
                diag_result(&r);
        switch_result_done(&r);
        sim_destroy(&s);
}

/* The whole group hot-removed before the type write: on the kernel its
 * directory goes with its last device. Nothing is left to bind or to mark
 * (a stale mark would block the group number when a device comes back with
 * it after a rescan). */
static void test_group_removed(void) {
        Scenario sc;
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        int q;

        /* The live path: DMA -> DMA-FQ, the group gone at the write. */
        sc = (Scenario) { 604, 1, "DMA", "DMA-FQ" };
        setup(&s, &sc);
        snprintf(s.remove_bdfs, sizeof(s.remove_bdfs), "0000:01:00.0");
        s.remove_at_type_write = 1;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == -ENOENT && r.outcome == SWITCH_OUTCOME_FAILED && !r.needs_attention,
              "live, group removed at the type write: failed, not needing attention");
        CHECK(strstr(strna(r.message), "0000:01:00.0 is gone (hot-removed)") &&
              strstr(strna(r.message), "no longer exists"), "says the device was hot-removed: %s", strna(r.message));
        CHECK(state_clean(&s) && streq(sim_driver(&s, "0000:09:00.0"), "e1000e"), "no mark, group 9 untouched");
        switch_result_done(&r);
        sim_destroy(&s);

        /* The rebind path, one and two devices, removed while unbound. */
        for (unsigned n = 1; n <= 2; n++) {
                sc = (Scenario) { 604, n, "DMA-FQ", "DMA" };
                setup(&s, &sc);
                snprintf(s.remove_bdfs, sizeof(s.remove_bdfs), "%s", n == 1 ? "0000:01:00.0" : "0000:02:00.0,0000:02:00.1");
                s.remove_at_type_write = 1;
                sim_context(&s, &ctx);
                o = options(&s);
                q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
                CHECK(q == -ENOENT && r.outcome == SWITCH_OUTCOME_FAILED && !r.needs_attention,
                      "rebind, %u device(s), group removed before the type write: failed, no attention", n);
                CHECK(strstr(strna(r.message), "hot-removed") && strstr(strna(r.message), "no longer exists") &&
                      strstr(strna(r.message), n == 1 ? "0000:01:00.0" : "0000:02:00.0, 0000:02:00.1"),
                      "says which devices went: %s", strna(r.message));
                CHECK(!sim_state_exists(&s, "attention-group-1.json") && !sim_state_exists(&s, "intent-group-1.json") &&
                      state_clean(&s), "no attention mark, no intent record");
                CHECK(!sim_logged(&s, "type DMA-FQ"), "no rollback write attempted on a group that is gone");
                if (r.outcome != SWITCH_OUTCOME_FAILED || r.needs_attention)
                        diag_result(&r);
                switch_result_done(&r);
                sim_destroy(&s);
        }

        /* The rollback's write: the device will not bind under identity,
         * and the group is gone when the old type is written back. */
        sc = (Scenario) { 604, 1, "DMA-FQ", "identity" };
        setup(&s, &sc);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "identity");
        snprintf(s.remove_bdfs, sizeof(s.remove_bdfs), "0000:01:00.0");
        s.remove_at_type_write = 2;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_IDENTITY, &o, &r);
        CHECK(q < 0 && r.outcome == SWITCH_OUTCOME_FAILED && !r.needs_attention && state_clean(&s),
              "group removed before the rollback's write: failed, no mark, no record");
        CHECK(strstr(strna(r.message), "hot-removed") && strstr(strna(r.message), "no longer exists"),
              "says so: %s", strna(r.message));
        if (r.outcome != SWITCH_OUTCOME_FAILED)
                diag_result(&r);
        switch_result_done(&r);
        sim_destroy(&s);

        /* Only one of two devices gone and the write fails (ENODEV): the
         * other one is handled as before, rolled back and bound; the
         * message names the one that went. */
        sc = (Scenario) { 604, 2, "DMA-FQ", "DMA" };
        setup(&s, &sc);
        snprintf(s.remove_bdfs, sizeof(s.remove_bdfs), "0000:02:00.1");
        s.remove_at_type_write = 1;
        s.type_fail_from = 1;
        s.type_fail_errno = ENODEV;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == -ENODEV && r.outcome == SWITCH_OUTCOME_FAILED && !r.needs_attention,
              "one of two removed, the write fails: failed, rolled back");
        CHECK(streq(sim_driver(&s, "0000:02:00.0"), "i40e") && streq(sim_type(&s, G), "DMA-FQ") && state_clean(&s),
              "the other device bound again, DMA-FQ, no record");
        CHECK(strstr(strna(r.message), "0000:02:00.1 is gone (hot-removed)") && !strstr(strna(r.message), "0000:02:00.0 is gone"),
              "names the device that went: %s", strna(r.message));
        switch_result_done(&r);
        sim_destroy(&s);

        /* Only one gone and the write goes through: done, and said. */
        setup(&s, &sc);
        snprintf(s.remove_bdfs, sizeof(s.remove_bdfs), "0000:02:00.0");
        s.remove_at_type_write = 1;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE && streq(sim_driver(&s, "0000:02:00.1"), "i40e") &&
              streq(sim_type(&s, G), "DMA") && state_clean(&s), "one of two removed: done, the other bound");
        CHECK(strstr(strna(r.message), "0000:02:00.0 is gone (hot-removed)"), "says which went: %s", strna(r.message));
        switch_result_done(&r);
        sim_destroy(&s);
}

/* Every bind says yes, but binding one device cost another its driver. */
static void test_driver_lost_after_rebind(void) {
        Scenario sc = { 604, 2, "DMA-FQ", "DMA" };
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        unsigned writes;
        int q;

        /* Probing it once more brings it back. */
        setup(&s, &sc);
        snprintf(s.drops_on_bind, sizeof(s.drops_on_bind), "0000:02:00.0");
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(s.drops == 1, "the first device lost its driver when the second was bound");
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE && r.all_bound && all_bound(&s, &sc) && state_clean(&s),
              "probed once more: done, both bound, no record");
        CHECK(steps_mention(&r, "0000:02:00.0 is without its driver i40e") && sim_logged(&s, "drivers_probe 0000:02:00.0"),
              "the second probe is in the steps");
        if (r.outcome != SWITCH_OUTCOME_DONE)
                diag_result(&r);
        switch_result_done(&r);
        sim_destroy(&s);

        /* It will not come back: never a quiet other-type. */
        setup(&s, &sc);
        snprintf(s.drops_on_bind, sizeof(s.drops_on_bind), "0000:02:00.0");
        s.drop_sticks = true;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q < 0 && r.outcome == SWITCH_OUTCOME_NEEDS_ATTENTION && r.needs_attention && !r.all_bound,
              "still unbound after the second probe: needs attention (%s)", switch_outcome_to_string(r.outcome));
        CHECK(strstr(strna(r.message), "0000:02:00.0") && strstr(strna(r.message), "without its driver"),
              "names the device: %s", strna(r.message));
        CHECK(sim_state_exists(&s, "attention-group-1.json") && !sim_state_exists(&s, "intent-group-1.json"),
              "marked as for a failed rollback, intent record gone");
        CHECK(!*sim_driver(&s, "0000:02:00.0") && streq(sim_driver(&s, "0000:02:00.1"), "i40e") &&
              streq(sim_type(&s, G), "DMA"), "DMA as asked; the device is unbound, as the mark says");
        switch_result_done(&r);
        writes = s.writes;
        q = group_switch(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r);
        CHECK(q == -ECANCELED && s.writes == writes, "the marked group is refused");
        switch_result_done(&r);
        sim_destroy(&s);
}

/* Failures after the first unbind that used to return at once (ENOMEM)
 * leave no device unbound and no group unmarked. */
static void test_enomem_after_unbind(void) {
        Scenario sc;
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        Sim s;
        int q;

        /* The rollback's intent update fails with ENOMEM (steps: intent,
         * unbind, type (EIO), intent update). */
        sc = (Scenario) { 604, 1, "DMA-FQ", "DMA" };
        setup(&s, &sc);
        s.type_fail_from = 1;
        s.type_fail_errno = EIO;
        sim_context(&s, &ctx);
        ctx.fail_at_step = 4;
        ctx.fail_errno = ENOMEM;
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == -EIO && r.outcome == SWITCH_OUTCOME_FAILED, "ENOMEM on the rollback's intent update: failed (%s)",
              switch_outcome_to_string(r.outcome));
        CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA-FQ") && state_clean(&s),
              "rolled back anyway: bound, DMA-FQ, no record");
        switch_result_done(&r);
        sim_destroy(&s);

        /* The kernel says ENOMEM to the rollback's type write, and the
         * device will not bind under the new type: loud, and marked. */
        sc = (Scenario) { 604, 1, "DMA-FQ", "identity" };
        setup(&s, &sc);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "identity");
        s.type_fail_from = 2;
        s.type_fail_errno = ENOMEM;
        sim_context(&s, &ctx);
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_IDENTITY, &o, &r);
        CHECK(q < 0 && r.outcome == SWITCH_OUTCOME_NEEDS_ATTENTION && r.needs_attention,
              "ENOMEM writing the old type back: needs attention (%s)", switch_outcome_to_string(r.outcome));
        CHECK(strstr(strna(r.message), "could not write DMA-FQ back") && strstr(strna(r.message), "ENOMEM"),
              "says why: %s", strna(r.message));
        CHECK(sim_state_exists(&s, "attention-group-1.json") && !sim_state_exists(&s, "intent-group-1.json"),
              "marked");
        switch_result_done(&r);
        sim_destroy(&s);
}

/* The intent record is renamed into place but the directory fsync fails:
 * the write fails, the record is there. */
typedef struct FsyncFail {
        Sim *sim;
        bool done;
} FsyncFail;

static int fsync_fail_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path,
                           const char *value) {
        FsyncFail *f = userdata;

        if (!f->done && kind == KERNEL_WRITE_STATE_REPLACE && streq(path, "intent-group-1.json")) {
                f->done = true;
                (void) sim_hook(f->sim, step, kind, path, value); /* logged */
                sim_write_state(f->sim, path, value);             /* renamed into place */
                return -EIO;                                      /* fsync of the directory */
        }
        return sim_hook(f->sim, step, kind, path, value);
}

static void test_intent_fsync_failure(void) {
        Scenario sc = { 604, 1, "DMA-FQ", "DMA" };
        SwitchResult r = {};
        SwitchOptions o;
        SwitchContext ctx;
        FsyncFail f = {};
        Sim s;
        int q;

        setup(&s, &sc);
        f.sim = &s;
        sim_context(&s, &ctx);
        ctx.hook = fsync_fail_hook;
        ctx.hook_userdata = &f;
        o = options(&s);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(f.done && q == -EIO && r.outcome == SWITCH_OUTCOME_FAILED && strstr(strna(r.message), "not started"),
              "directory fsync fails after the rename: not started: %s", strna(r.message));
        CHECK(all_bound(&s, &sc) && streq(sim_type(&s, G), "DMA-FQ") && !sim_logged(&s, "/unbind "),
              "nothing unbound, DMA-FQ");
        CHECK(state_clean(&s), "the record is not left behind");
        switch_result_done(&r);
        q = group_switch(&ctx, G, GROUP_TYPE_DMA, &o, &r);
        CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_DONE && state_clean(&s),
              "the next switch of the group is not refused: %s", strna(r.message));
        switch_result_done(&r);
        sim_destroy(&s);
}

/* ---- dry run ------------------------------------------------------------ */

static char **snapshot_list;

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        char line[2048], content[128] = "", target[256] = "";
        ssize_t n;

        if (S_ISREG(st->st_mode)) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);

                n = fd >= 0 ? read(fd, content, sizeof(content) - 1) : -1;
                content[n > 0 ? n : 0] = '\0';
                if (fd >= 0)
                        close(fd);
        } else if (S_ISLNK(st->st_mode)) {
                n = readlink(path, target, sizeof(target) - 1);
                target[n > 0 ? n : 0] = '\0';
        }
        snprintf(line, sizeof(line), "%s %o %lld %lld.%09ld %s %s", path, st->st_mode, (long long) st->st_size,
                 (long long) st->st_mtim.tv_sec, st->st_mtim.tv_nsec, content, target);
        return strv_extend(&snapshot_list, line) < 0;
}

static char *snapshot(Sim *s) {
        size_t len = 1;
        char *out;

        snapshot_list = NULL;
        nftw(s->root, snap_one, 16, FTW_PHYS);
        strv_sort(snapshot_list);
        for (char **p = snapshot_list; p && *p; p++)
                len += strlen(*p) + 1;
        out = calloc(1, len);
        for (char **p = snapshot_list; out && p && *p; p++) {
                strcat(out, *p);
                strcat(out, "\n");
        }
        strv_free(snapshot_list);
        return out;
}

static void test_dry_run(void) {
        static const Scenario cases[] = {
                { 601, 1, "DMA", "DMA-FQ" }, { 601, 1, "DMA-FQ", "DMA" }, { 604, 1, "DMA", "identity" },
                { 604, 1, "identity", "DMA-FQ" }, { 604, 2, "DMA-FQ", "DMA" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Scenario *sc = cases + i;
                bool live = streq(sc->from, "DMA") && streq(sc->to, "DMA-FQ");
                _cleanup_free_ char *before = NULL, *after = NULL;
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;
                int q;

                setup(&s, sc);
                sim_context(&s, &ctx);
                o = options(&s);
                before = snapshot(&s);
                q = group_switch_plan(&ctx, G, T(sc->to), &o, &r);
                after = snapshot(&s);
                CHECK(q == 0 && r.outcome == SWITCH_OUTCOME_PLANNED && r.guards_passed,
                      "plan %d %s -> %s: allowed", sc->version, sc->from, sc->to);
                CHECK(before && after && streq(before, after), "the tree is unchanged (contents, modes, mtimes)");
                CHECK(ctx.steps == 0 && s.writes == 0, "no write step was begun");
                if (live)
                        CHECK(steps_mention(&r, "drivers stay bound") && !steps_mention(&r, "unbind"),
                              "plan: live, no unbinding");
                else
                        CHECK(steps_mention(&r, "unbind 0000:0") && steps_mention(&r, "bind 0000:0") &&
                              steps_mention(&r, "record the intent") && steps_mention(&r, "if the type write"),
                              "plan: intent, unbind, type, bind, rollback");
                for (GuardId id = 0; id < _GUARD_MAX; id++)
                        CHECK(r.verdicts[id].reason[0], "verdict %s has a reason", guard_id_to_string(id));
                switch_result_done(&r);
                sim_destroy(&s);
        }

        /* A refused plan shows the failing guard and writes nothing. */
        {
                Scenario sc = { 604, 1, "DMA", "DMA-FQ" };
                _cleanup_free_ char *before = NULL, *after = NULL;
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;
                Sim s;

                setup(&s, &sc);
                sim_context(&s, &ctx);
                o = options(&s);
                facts[0].untrusted = TRISTATE_YES;
                before = snapshot(&s);
                CHECK(group_switch_plan(&ctx, G, GROUP_TYPE_DMA_FQ, &o, &r) == -ECANCELED &&
                      r.outcome == SWITCH_OUTCOME_REFUSED && !r.verdicts[GUARD_TRUSTED].passed,
                      "refused plan: the trusted guard failed");
                after = snapshot(&s);
                CHECK(streq(before, after) && s.writes == 0, "nothing written");
                CHECK(r.steps && strstr(strna(r.message), "untrusted"), "the plan still lists the steps and the reason");
                switch_result_done(&r);
                sim_destroy(&s);
        }
}

/* ---- kill -9 at every step, then start-up recovery -------------------- */

typedef struct CrashCase {
        Scenario sc;
        const char *probe_fails_under; /* NULL: none */
        bool fq_silently_dma;
        unsigned fail_at_step;         /* a failure first, to crash inside the rollback */
        const char *probe_fails_bdf;   /* NULL: every device */
} CrashCase;

static void crash_setup(Sim *s, const CrashCase *c) {
        setup(s, &c->sc);
        if (c->probe_fails_under)
                snprintf(s->probe_fails_under, sizeof(s->probe_fails_under), "%s", c->probe_fails_under);
        if (c->probe_fails_bdf)
                snprintf(s->probe_fails_bdf, sizeof(s->probe_fails_bdf), "%s", c->probe_fails_bdf);
        s->fq_silently_dma = c->fq_silently_dma;
}

/* ---- an allocation failure at every point after the first unbind ------- */

/* The program's own malloc: glibc lets a program replace it (the
 * allocations in libc and json-c come here too) and its allocator stays
 * behind this one, so memory is freed by either. Armed, the nth allocation
 * fails, once. Not under AddressSanitizer, which must see every allocation
 * itself. */
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_HOOK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_HOOK 0
#endif
#endif
#ifndef ALLOC_HOOK
#define ALLOC_HOOK 1
#endif

#if ALLOC_HOOK
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static bool alloc_armed, alloc_paused;
static unsigned alloc_countdown, alloc_failures;

static bool alloc_fails(void) {
        if (!alloc_armed || alloc_paused)
                return false;
        if (alloc_countdown > 0) {
                alloc_countdown--;
                return false;
        }
        alloc_armed = false;
        alloc_failures++;
        errno = ENOMEM;
        return true;
}

void *malloc(size_t n) {
        return alloc_fails() ? NULL : __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
        return alloc_fails() ? NULL : __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
        return alloc_fails() ? NULL : __libc_realloc(p, n);
}
void free(void *p) {
        __libc_free(p);
}

typedef struct AllocArm {
        Sim *sim;
        unsigned nth;
        bool started;
} AllocArm;

/* The kernel model allocates as it likes; the engine's allocations are
 * counted from the first unbind on. */
static int alloc_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path, const char *value) {
        AllocArm *a = userdata;
        bool was = alloc_paused;
        int q;

        alloc_paused = true;
        q = sim_hook(a->sim, step, kind, path, value);
        alloc_paused = was;
        if (!a->started && kind == KERNEL_WRITE_ATTR && strstr(path, "/unbind")) {
                a->started = true;
                alloc_countdown = a->nth;
                alloc_failures = 0;
                alloc_armed = true;
        }
        return q;
}

/* Whether this malloc is the one called (valgrind puts its own in place
 * of the program's too). */
static bool alloc_hook_works(void) {
        void *(*volatile m)(size_t) = malloc;
        void *p;

        alloc_countdown = 0;
        alloc_failures = 0;
        alloc_armed = true;
        p = m(16);
        alloc_armed = false;
        alloc_failures = 0;
        free(p);
        return !p;
}

static void test_alloc_failures(void) {
        static const CrashCase cases[] = {
                { { 604, 1, "DMA-FQ", "DMA" }, NULL, false, 0, NULL },
                { { 604, 2, "DMA-FQ", "identity" }, "identity", false, 0, "0000:02:00.1" },
                { { 601, 1, "DMA-FQ", "DMA" }, NULL, false, 3, NULL }, /* the type write fails: rollback */
                { { 604, 1, "DMA-FQ", "identity" }, "any", false, 0, NULL }, /* the rollback fails */
        };

        if (!alloc_hook_works()) {
                tap_diag("allocation failure injection: the program's malloc is not the one called (valgrind?); "
                         "skipped");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const CrashCase *c = cases + i;
                unsigned n, bad = 0;

                for (n = 0; n < 5000; n++) {
                        SwitchResult r = {};
                        SwitchOptions o;
                        SwitchContext ctx;
                        AllocArm a = {};
                        bool injected, ok;
                        Sim s;
                        int q;

                        crash_setup(&s, c);
                        sim_context(&s, &ctx);
                        a = (AllocArm) { .sim = &s, .nth = n };
                        ctx.hook = alloc_hook;
                        ctx.hook_userdata = &a;
                        ctx.fail_at_step = c->fail_at_step;
                        ctx.fail_errno = EBUSY;
                        o = options(&s);
                        q = group_switch(&ctx, G, T(c->sc.to), &o, &r);
                        alloc_armed = false;
                        injected = alloc_failures > 0;
                        alloc_failures = 0;

                        /* Whatever failed: an outcome, and every device
                         * bound, or the group marked (or its record kept
                         * for the next start when even the mark could not
                         * be put together). */
                        ok = a.started && r.outcome != SWITCH_OUTCOME_PLANNED &&
                             (all_bound(&s, &c->sc) ||
                              (r.outcome == SWITCH_OUTCOME_NEEDS_ATTENTION && q < 0 &&
                               (sim_state_exists(&s, "attention-group-1.json") ||
                                sim_state_exists(&s, "intent-group-1.json"))));
                        if (!ok) {
                                bad++;
                                CHECK(ok, "case %zu: allocation %u after the first unbind fails: %s, q %d, every "
                                      "device bound or the group marked", i, n, switch_outcome_to_string(r.outcome), q);
                                diag_result(&r);
                        }
                        switch_result_done(&r);
                        sim_destroy(&s);
                        if (!injected)
                                break;
                }
                CHECK(bad == 0 && n > 10 && n < 5000, "case %zu (%s -> %s): %u allocation points after the first unbind "
                      "failed one at a time, no device left unbound unmarked", i, c->sc.from, c->sc.to, n);
        }
}
#else
static void test_alloc_failures(void) {
        tap_diag("allocation failure injection: not under AddressSanitizer");
}
#endif

/* The daemon answers from device-usage.h; nothing is in use here. */
static int may_unbind_yes(void *userdata, const char *bdf, const char *driver, char **ret_why_not) {
        return 1;
}

static const RecoveryOptions recovery_options = { .may_unbind = may_unbind_yes };

/* Runs the switch in a child stopped by SIGKILL before step n. Returns
 * true when the child was killed (false: it finished before step n). */
static bool switch_killed_at(const CrashCase *c, Sim *s, unsigned n) {
        pid_t pid;
        int status;

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid == 0) {
                SwitchResult r = {};
                SwitchOptions o;
                SwitchContext ctx;

                sim_context(s, &ctx);
                ctx.crash_at_step = n;
                ctx.fail_at_step = c->fail_at_step;
                ctx.fail_errno = EBUSY;
                o = options(s);
                (void) group_switch(&ctx, G, T(c->sc.to), &o, &r);
                _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return false;
        return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* Every device bound, the type the old or the new one (or DMA where a
 * DMA-FQ domain silently comes up strict), nothing left in the state
 * directory. */
static bool recovered_ok(Sim *s, const CrashCase *c, const RecoveryReport *rep) {
        char t[64];

        snprintf(t, sizeof(t), "%s", sim_type(s, G)); /* all_bound() reuses sim_type()'s buffer */

        return (!rep || rep->n_attention == 0) && all_bound(s, &c->sc) &&
               (streq(t, c->sc.from) || streq(t, c->sc.to) || (c->fq_silently_dma && streq(t, "DMA"))) &&
               state_clean(s);
}

static void test_crash_at_every_step(void) {
        static const CrashCase cases[] = {
                { { 601, 1, "DMA-FQ", "DMA" }, NULL, false, 0, NULL },
                { { 604, 1, "DMA-FQ", "DMA" }, NULL, false, 0, NULL },
                { { 601, 1, "DMA", "identity" }, NULL, false, 0, NULL },
                { { 604, 1, "identity", "DMA-FQ" }, NULL, false, 0, NULL },
                { { 604, 1, "identity", "DMA-FQ" }, NULL, true, 0, NULL },
                { { 604, 2, "DMA-FQ", "DMA" }, NULL, false, 0, NULL },
                { { 604, 2, "DMA-FQ", "identity" }, NULL, false, 0, NULL },
                { { 604, 1, "DMA", "DMA-FQ" }, NULL, false, 0, NULL },
                /* The device fails to bind under the new type: the crash
                 * lands in the rollback too, and recovery must roll back. */
                { { 604, 1, "DMA-FQ", "identity" }, "identity", false, 0, NULL },
                { { 604, 2, "DMA-FQ", "identity" }, "identity", false, 0, NULL },
                /* Only the second device fails under the new type: the
                 * rollback unbinds the first one again. */
                { { 604, 2, "DMA-FQ", "identity" }, "identity", false, 0, "0000:02:00.1" },
                { { 604, 2, "identity", "DMA" }, "DMA", false, 0, "0000:02:00.0" },
                /* The type write fails (EBUSY) first: crash in the rollback. */
                { { 601, 1, "DMA-FQ", "DMA" }, NULL, false, 3, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const CrashCase *c = cases + i;
                unsigned n, crashes = 0;

                for (n = 1; n < 64; n++) {
                        RecoveryReport rep = {};
                        SwitchContext ctx;
                        Sim s;
                        bool killed;
                        int q;

                        crash_setup(&s, c);
                        killed = switch_killed_at(c, &s, n);
                        if (!killed) {
                                /* Ran to the end: nothing to recover. */
                                CHECK(recovered_ok(&s, c, NULL), "case %zu: ran to its end before step %u, every "
                                      "device bound, type %s", i, n, sim_type(&s, G));
                                sim_destroy(&s);
                                break;
                        }
                        crashes++;
                        sim_context(&s, &ctx);
                        q = intent_log_recover(&ctx, &recovery_options, &rep);
                        CHECK(q == 0 && recovered_ok(&s, c, &rep),
                              "case %zu (%d, %u device(s), %s -> %s%s): killed before step %u, recovered: type %s, "
                              "every device bound, state clean", i, c->sc.version, c->sc.n, c->sc.from, c->sc.to,
                              c->probe_fails_under ? ", bind fails under the new type" : "", n, sim_type(&s, G));
                        if (!recovered_ok(&s, c, &rep))
                                for (char **p = rep.lines; p && *p; p++)
                                        tap_diag("  recovery: %s", *p);
                        recovery_report_done(&rep);
                        /* A second start finds nothing. */
                        q = intent_log_recover(&ctx, &recovery_options, &rep);
                        CHECK(q == 0 && rep.n_records == 0 && !rep.lines, "case %zu step %u: second recovery is a no-op",
                              i, n);
                        recovery_report_done(&rep);
                        sim_destroy(&s);
                }
                CHECK(crashes >= (c->sc.n == 1 && streq(c->sc.from, "DMA") && streq(c->sc.to, "DMA-FQ") ? 1u : 4u),
                      "case %zu: %u crash points exercised", i, crashes);
        }
}

/* Killed during the switch, then killed again during the recovery. */
static void test_crash_during_recovery(void) {
        CrashCase c = { { 604, 2, "DMA-FQ", "identity" }, "identity", false, 0, "0000:02:00.1" };

        for (unsigned n = 2; n <= 14; n++)
                for (unsigned m = 1; m <= 8; m++) {
                        RecoveryReport rep = {};
                        SwitchContext ctx;
                        Sim s;
                        pid_t pid;
                        int status, q;

                        crash_setup(&s, &c);
                        if (!switch_killed_at(&c, &s, n)) {
                                sim_destroy(&s);
                                continue;
                        }
                        fflush(stdout);
                        pid = fork();
                        if (pid == 0) {
                                RecoveryReport r2 = {};

                                sim_context(&s, &ctx);
                                ctx.crash_at_step = m;
                                (void) intent_log_recover(&ctx, &recovery_options, &r2);
                                _exit(0);
                        }
                        waitpid(pid, &status, 0);
                        sim_context(&s, &ctx);
                        q = intent_log_recover(&ctx, &recovery_options, &rep);
                        CHECK(q == 0 && recovered_ok(&s, &c, &rep),
                              "killed at switch step %u and recovery step %u: recovered, type %s", n, m,
                              sim_type(&s, G));
                        recovery_report_done(&rep);
                        sim_destroy(&s);
                }
}

int main(void) {
        log_set_max_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT);

        test_transitions();
        test_multi_device_61();
        test_guards();
        test_injected_failures();
        test_kernel_refusals();
        test_rebind_and_rollback();
        test_hot_removal();
        test_group_removed();
        test_driver_lost_after_rebind();
        test_enomem_after_unbind();
        test_intent_fsync_failure();
        test_alloc_failures();
        test_dry_run();
        test_crash_at_every_step();
        test_crash_during_recovery();
        return tap_done();
}
