/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for daemon/decide/policy.c. The topology is built here as plain structs (a
 * small machine with one group of each kind); configs are written to a
 * temporary directory and loaded with config_load(). Rate-driven behaviour
 * is table-driven: a scenario is a rate trace, ticked once a second, and
 * the actions expected on the way; a switch the engine asks for is applied
 * to the topology and recorded in the history, as the daemon would.
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "conf.h"
#include "policy.h"
#include "tap.h"
#include "util.h"

#define DMA GROUP_TYPE_DMA
#define FQ GROUP_TYPE_DMA_FQ
#define IDENT GROUP_TYPE_IDENTITY
#define SEC POLICY_NSEC_PER_SEC
/* Ticks start here, so "the last hour" reaches back before the first. */
#define BASE_NS (UINT64_C(100000) * SEC)
#define UNKNOWN_RATE (-1.0)

static char tmpdir[] = "/tmp/test-policy-XXXXXX";

/* ---- the machine ------------------------------------------------------ */

enum { N_UNITS = 2, N_GROUPS = 10, N_DEVICES = 10 };

typedef struct Fixture {
        Topology t;
        IommuUnit units[N_UNITS];
        IommuGroup groups[N_GROUPS];
        Device devices[N_DEVICES];
        PolicyDeviceFacts facts[N_DEVICES];
        PolicyGroupRate rates[N_GROUPS];
        PolicyState state;
        Config *config;
        uint64_t now;
} Fixture;

/* Member lists; compound literals inside fixture_init() would not outlive it. */
static char *members_1[] = { (char *) "0000:01:00.0", NULL };
static char *members_2[] = { (char *) "0000:02:00.0", NULL };
static char *members_3[] = { (char *) "0000:00:1f.0", (char *) "0000:00:1f.3", NULL };
static char *members_4[] = { (char *) "0000:07:00.0", NULL };
static char *members_5[] = { (char *) "0000:00:02.0", NULL };
static char *members_6[] = { (char *) "0000:00:14.0", NULL };
static char *members_7[] = { (char *) "0000:03:00.0", NULL };
static char *members_8[] = { (char *) "0000:04:00.0", NULL };
static char *members_9[] = { NULL };
static char *members_10[] = { (char *) "0000:05:00.0", NULL };

static Device mkdev(const char *name, int group, const char *unit, const char *driver,
                    const char *class_word) {
        return (Device) {
                .name = (char *) name,
                .is_pci = true,
                .class_word = class_word,
                .driver = (char *) driver,
                .group = group,
                .unit = (char *) unit,
                .untrusted = TRISTATE_NO,
                .removable = TRISTATE_NO,
                .numa_node = -1,
        };
}

static Config *load_config(const char *text) {
        char path[PATH_MAX];
        char **errors = NULL;
        Config *c = NULL;
        FILE *f;

        if (!text) {
                if (config_load(NULL, NULL, 0, &c, NULL) < 0)
                        exit(1);
                return c;
        }
        snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
        f = fopen(path, "we");
        if (!f) {
                perror(path);
                exit(1);
        }
        fputs(text, f);
        fclose(f);
        if (config_load(path, NULL, 0, &c, &errors) < 0) {
                fprintf(stderr, "config does not load: %s\n", errors ? errors[0] : "ENOMEM");
                exit(1);
        }
        return c;
}

/* Groups by id 1..10; devices sorted by name, as topology_scan() leaves them.
 *   1 DMA        0000:01:00.0 nvme
 *   2 DMA-FQ     0000:02:00.0 e1000e
 *   3 DMA        0000:00:1f.0 lpc_ich + 0000:00:1f.3 snd_hda_intel
 *   4 DMA        0000:07:00.0 nvme, untrusted (Thunderbolt)
 *   5 identity   0000:00:02.0 i915
 *   6 blocked    0000:00:14.0 (no driver)
 *   7 unmanaged  0000:03:00.0 vfio-pci
 *   8 "weird"    0000:04:00.0 (no driver)
 *   9 DMA        no devices
 *  10 DMA        0000:05:00.0 virtio-pci, on dmar1 (caching mode)
 */
static void fixture_init(Fixture *f, const char *config_text) {
        *f = (Fixture) {};
        f->units[0] = (IommuUnit) { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_INTEL_VTD,
                                    .has_vtd_caps = true };
        f->units[1] = (IommuUnit) { .name = (char *) "dmar1", .vendor = IOMMU_VENDOR_INTEL_VTD,
                                    .has_vtd_caps = true, .vtd.caching_mode = true };

        f->devices[0] = mkdev("0000:00:02.0", 5, "dmar0", "i915", "gpu");
        f->devices[1] = mkdev("0000:00:14.0", 6, "dmar0", NULL, "usb");
        f->devices[2] = mkdev("0000:00:1f.0", 3, "dmar0", "lpc_ich", "bridge");
        f->devices[3] = mkdev("0000:00:1f.3", 3, "dmar0", "snd_hda_intel", "audio");
        f->devices[4] = mkdev("0000:01:00.0", 1, "dmar0", "nvme", "nvme");
        f->devices[5] = mkdev("0000:02:00.0", 2, "dmar0", "e1000e", "ethernet");
        f->devices[6] = mkdev("0000:03:00.0", 7, "dmar0", "vfio-pci", "ethernet");
        f->devices[7] = mkdev("0000:04:00.0", 8, "dmar0", NULL, NULL);
        f->devices[8] = mkdev("0000:05:00.0", 10, "dmar1", "virtio-pci", "storage");
        f->devices[9] = mkdev("0000:07:00.0", 4, "dmar0", "nvme", "nvme");
        f->devices[9].untrusted = TRISTATE_YES;
        f->devices[9].removable = TRISTATE_YES;

        f->groups[0] = (IommuGroup) { .id = 1, .type = DMA, .devices = members_1 };
        f->groups[1] = (IommuGroup) { .id = 2, .type = FQ, .devices = members_2 };
        f->groups[2] = (IommuGroup) { .id = 3, .type = DMA,
                                      .devices = members_3 };
        f->groups[3] = (IommuGroup) { .id = 4, .type = DMA, .devices = members_4 };
        f->groups[4] = (IommuGroup) { .id = 5, .type = IDENT, .devices = members_5 };
        f->groups[5] = (IommuGroup) { .id = 6, .type = GROUP_TYPE_BLOCKED,
                                      .devices = members_6 };
        f->groups[6] = (IommuGroup) { .id = 7, .type = GROUP_TYPE_UNMANAGED,
                                      .devices = members_7 };
        f->groups[7] = (IommuGroup) { .id = 8, .type = GROUP_TYPE_UNKNOWN,
                                      .type_raw = (char *) "weird",
                                      .devices = members_8 };
        f->groups[8] = (IommuGroup) { .id = 9, .type = DMA, .devices = members_9 };
        f->groups[9] = (IommuGroup) { .id = 10, .type = DMA, .devices = members_10 };

        f->t = (Topology) {
                .units = f->units, .n_units = N_UNITS,
                .groups = f->groups, .n_groups = N_GROUPS,
                .devices = f->devices, .n_devices = N_DEVICES,
                .kernel.dma = { .iommu_strict = -1, .iommu_passthrough = -1 },
        };
        f->config = load_config(config_text);
        f->now = BASE_NS;
}

static void fixture_done(Fixture *f) {
        config_free(f->config);
        policy_state_done(&f->state);
}

static size_t group_index(const Fixture *f, unsigned id) {
        for (size_t i = 0; i < N_GROUPS; i++)
                if (f->groups[i].id == id)
                        return i;
        abort();
}

static PolicyDeviceFacts *facts(Fixture *f, const char *name) {
        for (size_t i = 0; i < N_DEVICES; i++)
                if (streq(f->devices[i].name, name))
                        return f->facts + i;
        abort();
}

/* Decides group id at f->now with the given rate (UNKNOWN_RATE: not
 * measured). The caller frees *d with policy_decision_done(). */
static int decide(Fixture *f, unsigned id, double rate, PolicyDecision *d) {
        size_t i = group_index(f, id);
        PolicyInput in = {
                .topology = &f->t,
                .config = f->config,
                .rates = f->rates,
                .devices = f->facts,
                .now_ns = f->now,
        };
        PolicyGroupState *s = policy_state_get(&f->state, id);

        f->rates[i] = (PolicyGroupRate) { .measured = rate >= 0, .unmaps_per_sec = rate >= 0 ? rate : 0 };
        return policy_decide_group(&in, i, s, d);
}

/* What the daemon does with a decision: switch, and remember it. */
static void apply(Fixture *f, const PolicyDecision *d) {
        if (d->action != POLICY_ACTION_SWITCH)
                return;
        f->groups[group_index(f, d->group)].type = d->desired;
        policy_group_state_record_switch(policy_state_get(&f->state, d->group), f->now);
}

/* Decides, checks action and desired type, applies; returns the reason in
 * a static buffer for further checks. */
static const char *step(Fixture *f, unsigned id, double rate, PolicyAction want,
                        GroupType want_desired, const char *what) {
        static char reason[4096];
        PolicyDecision d;
        int r = decide(f, id, rate, &d);

        CHECK(r == 0, "%s: decides (%d)", what, r);
        if (r < 0)
                return "";
        CHECK(d.action == want && d.desired == want_desired,
              "%s: %s to %s (got %s to %s: %s)", what, policy_action_to_string(want),
              group_type_to_string(want_desired), policy_action_to_string(d.action),
              group_type_to_string(d.desired), d.reason);
        apply(f, &d);
        snprintf(reason, sizeof(reason), "%s", d.reason);
        policy_decision_done(&d);
        return reason;
}

#define CHECK_CONTAINS(s, want)                                                          \
        do {                                                                             \
                const char *_s = (s), *_w = (want);                                      \
                CHECK(_s && strstr(_s, _w), "\"%s\" contains \"%s\"", strna(_s), _w);        \
        } while (0)

/* ---- table-driven rate scenarios -------------------------------------- */

typedef struct Segment {
        unsigned seconds;
        double rate;            /* UNKNOWN_RATE: not measured */
} Segment;

/* Every tick in [from, to] must have this action and desired type. */
typedef struct Expect {
        unsigned from, to;
        PolicyAction action;
        GroupType desired;      /* GROUP_TYPE_UNKNOWN ends the list */
} Expect;

typedef struct Scenario {
        const char *name;
        const char *config;     /* NULL: built-in defaults */
        unsigned group;
        GroupType start;
        Segment segments[6];    /* cycled until duration; {0} ends the list */
        unsigned duration;      /* seconds, one tick each */
        Expect expect[6];
        bool only_expected;     /* ticks no Expect covers must be NONE */
        GroupType final;
        unsigned switches;
        unsigned min_spacing;   /* least seconds between two switches, 0: unchecked */
        unsigned max_per_hour;  /* most switches in any hour, 0: unchecked */
} Scenario;

static const Scenario scenarios[] = {
        {
                .name = "burst shorter than sustain_s: no switch",
                .group = 1, .start = DMA,
                .segments = { { 5, 0 }, { 2, 5000 }, { 10, 0 } }, .duration = 17,
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "steady load: lazy after sustain_s",
                .group = 1, .start = DMA,
                .segments = { { 10, 5000 } }, .duration = 10,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ } },
                .only_expected = true,
                .final = FQ, .switches = 1,
        },
        {
                /* [class] and [driver] each pass the config check against
                 * [policy], but together leave lazy_above under strict_below. */
                .name = "no band between the thresholds from two sections: never lazy",
                .config = "[class nvme]\nlazy_above_unmaps_per_sec = 400\n"
                          "[driver nvme]\nstrict_below_unmaps_per_sec = 500\n",
                .group = 1, .start = DMA,
                .segments = { { 10, 5000 } }, .duration = 10,
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "sustain_s = 0: lazy on the first busy tick",
                .config = "[policy]\nsustain_s = 0\n",
                .group = 1, .start = DMA,
                .segments = { { 2, 0 }, { 3, 5000 } }, .duration = 5,
                .expect = { { 2, 2, POLICY_ACTION_SWITCH, FQ } },
                .only_expected = true,
                .final = FQ, .switches = 1,
        },
        {
                .name = "idle after load, allow_rebind = no: strict blocked",
                .group = 1, .start = DMA,
                .segments = { { 10, 5000 }, { 400, 0 } }, .duration = 410,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ },
                            { 13, 409, POLICY_ACTION_BLOCKED, DMA } },
                .only_expected = true,
                .final = FQ, .switches = 1,
        },
        {
                .name = "idle after load, allow_rebind = yes: strict after sustain and dwell",
                .config = "[policy]\nallow_rebind = yes\n",
                .group = 1, .start = DMA,
                .segments = { { 10, 5000 }, { 400, 0 } }, .duration = 410,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ },
                            { 13, 302, POLICY_ACTION_WAIT, DMA },
                            { 303, 303, POLICY_ACTION_SWITCH, DMA } },
                .only_expected = true,
                .final = DMA, .switches = 2,
        },
        {
                .name = "short idle after load: back to strict needs sustain_s too",
                .config = "[policy]\nallow_rebind = yes\nmin_dwell_s = 0\n",
                .group = 1, .start = DMA,
                .segments = { { 10, 5000 }, { 2, 0 }, { 5, 5000 }, { 5, 0 } }, .duration = 22,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ },
                            { 20, 20, POLICY_ACTION_SWITCH, DMA } },
                .only_expected = true,
                .final = DMA, .switches = 2,
        },
        {
                .name = "rate between the thresholds: hysteresis, no change",
                .config = "[policy]\nallow_rebind = yes\nmin_dwell_s = 0\n",
                .group = 2, .start = FQ,
                .segments = { { 30, 500 }, { 30, 50 }, { 30, 999 }, { 30, 11 } }, .duration = 600,
                .only_expected = true,
                .final = FQ, .switches = 0,
        },
        {
                .name = "rate dipping into the band breaks the run",
                .group = 1, .start = DMA,
                .segments = { { 2, 5000 }, { 1, 500 } }, .duration = 60,
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "rate unknown breaks the run",
                .group = 1, .start = DMA,
                .segments = { { 3, 5000 }, { 1, UNKNOWN_RATE } }, .duration = 60,
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "flapping load: min_dwell_s spaces the switches, the hourly cap stops them",
                .config = "[policy]\nallow_rebind = yes\n",
                .group = 1, .start = DMA,
                .segments = { { 5, 5000 }, { 5, 0 } }, .duration = 3600,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ },
                            { 8, 8, POLICY_ACTION_WAIT, DMA },
                            { 308, 308, POLICY_ACTION_SWITCH, DMA },
                            { 1223, 1223, POLICY_ACTION_BLOCKED, FQ } },
                .final = DMA, .switches = 4,
                .min_spacing = 300, .max_per_hour = 4,
        },
        {
                .name = "flapping load without dwell: max_switches_per_hour caps it",
                .config = "[policy]\nallow_rebind = yes\nmin_dwell_s = 0\n",
                .group = 1, .start = DMA,
                .segments = { { 5, 5000 }, { 5, 0 } }, .duration = 7200,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ },
                            { 8, 8, POLICY_ACTION_SWITCH, DMA },
                            { 23, 23, POLICY_ACTION_BLOCKED, FQ },
                            { 3603, 3603, POLICY_ACTION_SWITCH, FQ } },
                .final = DMA, .switches = 8,
                .max_per_hour = 4,
        },
        {
                .name = "max_switches_per_hour = 0: never",
                .config = "[policy]\nmax_switches_per_hour = 0\n",
                .group = 1, .start = DMA,
                .segments = { { 10, 5000 } }, .duration = 10,
                .expect = { { 3, 9, POLICY_ACTION_BLOCKED, FQ } },
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "multi-device group: one member policy = strict keeps it strict",
                .config = "[device 0000:00:1f.3]\npolicy = strict\n",
                .group = 3, .start = DMA,
                .segments = { { 30, 5000 } }, .duration = 30,
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "multi-device group: the largest lazy_above and sustain_s win",
                .config = "[device 0000:00:1f.0]\nlazy_above_unmaps_per_sec = 2000\n"
                          "sustain_s = 5\n",
                .group = 3, .start = DMA,
                .segments = { { 10, 1500 }, { 10, 2500 } }, .duration = 20,
                .expect = { { 15, 15, POLICY_ACTION_SWITCH, FQ } },
                .only_expected = true,
                .final = FQ, .switches = 1,
        },
        {
                .name = "multi-device group: the smallest strict_below wins",
                .config = "[policy]\nallow_rebind = yes\nmin_dwell_s = 0\n"
                          "[device 0000:00:1f.3]\nstrict_below_unmaps_per_sec = 5\n",
                .group = 3, .start = FQ,
                .segments = { { 10, 7 }, { 10, 2 } }, .duration = 20,
                .expect = { { 13, 13, POLICY_ACTION_SWITCH, DMA } },
                .only_expected = true,
                .final = DMA, .switches = 1,
        },
        {
                .name = "multi-device group: a lazy member leaves the auto member's thresholds",
                .config = "[device 0000:00:1f.0]\npolicy = lazy\nlazy_above_unmaps_per_sec = 90000\n"
                          "[device 0000:00:1f.3]\nlazy_above_unmaps_per_sec = 100\n",
                .group = 3, .start = DMA,
                .segments = { { 10, 500 } }, .duration = 10,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ } },
                .only_expected = true,
                .final = FQ, .switches = 1,
        },
        {
                .name = "kernel forced strict (caching mode): lazy blocked",
                .group = 10, .start = DMA,
                .segments = { { 10, 5000 } }, .duration = 10,
                .expect = { { 3, 9, POLICY_ACTION_BLOCKED, FQ } },
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
        {
                .name = "kernel forced strict, allow_lazy_when_kernel_forced_strict = yes",
                .config = "[policy]\nallow_lazy_when_kernel_forced_strict = yes\n",
                .group = 10, .start = DMA,
                .segments = { { 10, 5000 } }, .duration = 10,
                .expect = { { 3, 3, POLICY_ACTION_SWITCH, FQ } },
                .only_expected = true,
                .final = FQ, .switches = 1,
        },
        {
                .name = "untrusted device under load: never lazy",
                .group = 4, .start = DMA,
                .segments = { { 10, 5000 } }, .duration = 10,
                .expect = { { 3, 9, POLICY_ACTION_BLOCKED, FQ } },
                .only_expected = true,
                .final = DMA, .switches = 0,
        },
};

static const Expect *expect_for(const Scenario *sc, unsigned t) {
        for (const Expect *e = sc->expect; e < sc->expect + ELEMENTSOF(sc->expect) &&
                                           e->desired != GROUP_TYPE_UNKNOWN; e++)
                if (t >= e->from && t <= e->to)
                        return e;
        return NULL;
}

static double rate_at(const Scenario *sc, unsigned t) {
        unsigned cycle = 0, n = 0;

        while (n < ELEMENTSOF(sc->segments) && sc->segments[n].seconds)
                cycle += sc->segments[n++].seconds;
        t %= cycle;
        for (unsigned i = 0; i < n; i++) {
                if (t < sc->segments[i].seconds)
                        return sc->segments[i].rate;
                t -= sc->segments[i].seconds;
        }
        abort();
}

static void run_scenario(const Scenario *sc) {
        Fixture f;
        char mismatch[1024] = "";
        unsigned *switch_times = calloc(sc->duration + 1, sizeof(unsigned));
        unsigned n_switches = 0, min_spacing = UINT_MAX, max_per_hour = 0;

        tap_diag("scenario: %s", sc->name);
        fixture_init(&f, sc->config);
        f.groups[group_index(&f, sc->group)].type = sc->start;

        for (unsigned t = 0; t < sc->duration; t++) {
                const Expect *e = expect_for(sc, t);
                GroupType before = f.groups[group_index(&f, sc->group)].type;
                PolicyDecision d;
                int r;

                f.now = BASE_NS + (uint64_t) t * SEC;
                r = decide(&f, sc->group, rate_at(sc, t), &d);
                if (r < 0) {
                        snprintf(mismatch, sizeof(mismatch), "t=%u: error %d", t, r);
                        break;
                }
                if (!*mismatch &&
                    ((e && (d.action != e->action || d.desired != e->desired)) ||
                     (!e && sc->only_expected && d.action != POLICY_ACTION_NONE) ||
                     (d.action == POLICY_ACTION_NONE && d.desired != before)))
                        snprintf(mismatch, sizeof(mismatch), "t=%u: got %s to %s, want %s to %s (%s)",
                                 t, policy_action_to_string(d.action),
                                 group_type_to_string(d.desired),
                                 e ? policy_action_to_string(e->action) : "none",
                                 e ? group_type_to_string(e->desired) : group_type_to_string(before),
                                 d.reason);
                if (d.action == POLICY_ACTION_SWITCH)
                        switch_times[n_switches++] = t;
                apply(&f, &d);
                policy_decision_done(&d);
        }

        for (unsigned i = 0; i < n_switches; i++) {
                unsigned in_hour = 0;

                if (i > 0 && switch_times[i] - switch_times[i - 1] < min_spacing)
                        min_spacing = switch_times[i] - switch_times[i - 1];
                for (unsigned j = i; j < n_switches && switch_times[j] < switch_times[i] + 3600; j++)
                        in_hour++;
                if (in_hour > max_per_hour)
                        max_per_hour = in_hour;
        }

        CHECK(!*mismatch, "%s: every tick as expected%s%s", sc->name, *mismatch ? ": " : "",
              mismatch);
        CHECK(f.groups[group_index(&f, sc->group)].type == sc->final, "%s: ends %s (is %s)",
              sc->name, group_type_to_string(sc->final),
              group_type_to_string(f.groups[group_index(&f, sc->group)].type));
        CHECK_INT(n_switches, sc->switches, "switches");
        if (sc->min_spacing)
                CHECK(n_switches < 2 || min_spacing >= sc->min_spacing,
                      "switches at least %u s apart (closest %u s)", sc->min_spacing, min_spacing);
        if (sc->max_per_hour)
                CHECK(max_per_hour <= sc->max_per_hour, "at most %u switches in any hour (%u)",
                      sc->max_per_hour, max_per_hour);
        free(switch_times);
        fixture_done(&f);
}

static void test_scenarios(void) {
        for (size_t i = 0; i < ELEMENTSOF(scenarios); i++)
                run_scenario(scenarios + i);
}

/* ---- rules one at a time ---------------------------------------------- */

/* One tick whose rate was measured over the second before it. */
static PolicyAction decide_window(Fixture *f, unsigned id, double rate) {
        PolicyInput in = { .topology = &f->t, .config = f->config, .rates = f->rates, .devices = f->facts,
                           .now_ns = f->now };
        size_t i = group_index(f, id);
        PolicyDecision d;
        PolicyAction action;

        f->rates[i] = (PolicyGroupRate) { .measured = true, .unmaps_per_sec = rate, .window_s = 1 };
        if (policy_decide_group(&in, i, policy_state_get(&f->state, id), &d) < 0)
                return _POLICY_ACTION_MAX; /* no decision */
        apply(f, &d);
        action = d.action;
        policy_decision_done(&d);
        return action;
}

/* A tick's rate held over its whole window: a run starts where the window
 * that first measured it began, not at the tick that saw it. With 1 s
 * windows and sustain_s = 2 the second window above decides (the third
 * when runs started at the tick); a single window above does not. */
static void test_run_starts_with_its_window(void) {
        Fixture f;

        tap_diag("a run starts where its first window began");
        fixture_init(&f, "[policy]\nsustain_s = 2\nmin_dwell_s = 0\nallow_rebind = yes\n");
        for (unsigned t = 1; t <= 5; t++) {
                f.now = BASE_NS + t * SEC;
                CHECK(decide_window(&f, 1, t == 2 ? 5000 : 0) == POLICY_ACTION_NONE,
                      "one busy window (t=2) among idle ones: no switch at t=%u", t);
        }
        for (unsigned t = 6; t <= 7; t++) {
                f.now = BASE_NS + t * SEC;
                CHECK(decide_window(&f, 1, 5000) == (t == 7 ? POLICY_ACTION_SWITCH : POLICY_ACTION_NONE),
                      "busy from t=5: %s at t=%u", t == 7 ? "lazy" : "not yet", t);
        }
        CHECK(f.groups[group_index(&f, 1)].type == FQ, "lazy after the second busy window");
        for (unsigned t = 8; t <= 9; t++) {
                f.now = BASE_NS + t * SEC;
                CHECK(decide_window(&f, 1, 0) == (t == 9 ? POLICY_ACTION_SWITCH : POLICY_ACTION_NONE),
                      "idle from t=7: %s at t=%u", t == 9 ? "strict" : "not yet", t);
        }
        CHECK(f.groups[group_index(&f, 1)].type == DMA, "strict after the second idle window");
        fixture_done(&f);
}

static void test_mixed_untrusted(void) {
        Fixture f;
        const char *reason;

        tap_diag("multi-device group with an external-facing member");
        fixture_init(&f, NULL);
        facts(&f, "0000:00:1f.0")->external_facing = true;
        for (unsigned t = 0; t < 3; t++) {
                f.now = BASE_NS + t * SEC;
                step(&f, 3, 5000, POLICY_ACTION_NONE, DMA, "not sustained yet");
        }
        f.now = BASE_NS + 3 * SEC;
        reason = step(&f, 3, 5000, POLICY_ACTION_BLOCKED, FQ, "one member blocks the group");
        CHECK_CONTAINS(reason, "blocked by guard trusted");
        CHECK_CONTAINS(reason, "0000:00:1f.0 is behind an external-facing port");
        fixture_done(&f);
}

static void test_strict_member_pulls_back(void) {
        Fixture f;
        const char *reason;

        tap_diag("strict wins: a lazy group with a strict member goes back");
        fixture_init(&f, "[device 0000:00:1f.3]\npolicy = strict\n");
        f.groups[2].type = FQ;
        reason = step(&f, 3, 5000, POLICY_ACTION_BLOCKED, DMA, "strict member, no rebind");
        CHECK_CONTAINS(reason, "0000:00:1f.3: policy = strict (from [device 0000:00:1f.3] at ");
        CHECK_CONTAINS(reason, "blocked by guard rebind-allowed");
        fixture_done(&f);

        fixture_init(&f, "[device 0000:00:1f.3]\npolicy = strict\n"
                         "[policy]\nallow_rebind = yes\n");
        f.groups[2].type = FQ;
        step(&f, 3, 5000, POLICY_ACTION_SWITCH, DMA, "strict member, rebind allowed");
        /* No dwell for a pinned policy: it is not a flip of the rate rule. */
        f.now += SEC;
        step(&f, 3, 5000, POLICY_ACTION_NONE, DMA, "stays strict");
        fixture_done(&f);
}

static void test_lazy_policy(void) {
        Fixture f;
        const char *reason;

        tap_diag("policy = lazy");
        fixture_init(&f, "[driver nvme]\npolicy = lazy\n");
        reason = step(&f, 1, UNKNOWN_RATE, POLICY_ACTION_SWITCH, FQ, "lazy regardless of rate");
        CHECK_CONTAINS(reason, "0000:01:00.0: policy = lazy (from [driver nvme] at ");
        f.now += SEC;
        reason = step(&f, 1, 0, POLICY_ACTION_NONE, FQ, "stays lazy when idle");
        CHECK_CONTAINS(reason, "already DMA-FQ");
        /* The untrusted nvme matches [driver nvme] too: the guard refuses. */
        reason = step(&f, 4, UNKNOWN_RATE, POLICY_ACTION_BLOCKED, FQ, "untrusted lazy device");
        CHECK_CONTAINS(reason, "0000:07:00.0 is untrusted");
        fixture_done(&f);
}

static void test_keep(void) {
        Fixture f;
        const char *reason;

        tap_diag("keep");
        fixture_init(&f, "[driver nvme]\npolicy = keep\n");
        for (unsigned t = 0; t < 10; t++) {
                f.now = BASE_NS + t * SEC;
                reason = step(&f, 1, 5000, POLICY_ACTION_NONE, DMA, "keep under load");
        }
        CHECK_CONTAINS(reason, "0000:01:00.0: policy = keep (from [driver nvme] at ");
        CHECK_CONTAINS(reason, "left as it is");
        fixture_done(&f);

        /* keep beats strict in one group: leave it alone. */
        fixture_init(&f, "[device 0000:00:1f.0]\npolicy = keep\n"
                         "[device 0000:00:1f.3]\npolicy = strict\n[policy]\nallow_rebind = yes\n");
        f.groups[2].type = FQ;
        reason = step(&f, 3, 0, POLICY_ACTION_NONE, FQ, "keep and strict members");
        CHECK_CONTAINS(reason, "0000:00:1f.0: policy = keep");
        fixture_done(&f);
}

static void test_identity(void) {
        Fixture f;
        const char *reason;
        PolicyDecision d;
        PolicyThresholds th;

        tap_diag("identity");
        fixture_init(&f, "[device 0000:01:00.0]\npolicy = identity\n");
        reason = step(&f, 1, 5000, POLICY_ACTION_BLOCKED, IDENT, "identity needs a rebind");
        CHECK_CONTAINS(reason, "0000:01:00.0: policy = identity (from [device 0000:01:00.0] at ");
        CHECK_CONTAINS(reason, "rebind-allowed");
        fixture_done(&f);

        fixture_init(&f, "[device 0000:01:00.0]\npolicy = identity\nallow_rebind = yes\n");
        facts(&f, "0000:01:00.0")->in_use = "backs / (nvme0n1p2)";
        CHECK_INT(decide(&f, 1, 0, &d), 0, "decides");
        CHECK(d.action == POLICY_ACTION_SWITCH && d.desired == IDENT,
              "named, in use, rebind allowed: identity (%s)", d.reason);
        CHECK(d.guards[GUARD_IDENTITY_NAMED].applies && d.guards[GUARD_IDENTITY_NAMED].passed,
              "identity-named passed");
        CHECK_CONTAINS(d.guards[GUARD_NOT_IN_USE].reason, "but [device 0000:01:00.0] names it");
        apply(&f, &d);
        policy_decision_done(&d);
        f.now += SEC;
        step(&f, 1, 0, POLICY_ACTION_NONE, IDENT, "stays identity");
        fixture_done(&f);

        /* An identity member in a group with an auto member: auto decides. */
        fixture_init(&f, "[device 0000:00:1f.0]\npolicy = identity\n");
        CHECK_INT(decide(&f, 3, 5000, &d), 0, "decides");
        CHECK_INT(d.mode, POLICY_MODE_AUTO, "identity + auto member: auto");
        CHECK(policy_decision_thresholds(&d, &th) == 0 && th.auto_members_only, "thresholds from the auto member");
        CHECK_STR(th.lazy_above.device, "0000:00:1f.3", "lazy_above from the auto member");
        policy_decision_done(&d);
        fixture_done(&f);

        /* An identity group the config does not name is never touched. */
        fixture_init(&f, NULL);
        reason = step(&f, 5, 0, POLICY_ACTION_IGNORE, IDENT, "identity group, not named");
        CHECK_CONTAINS(reason, "group 5 is identity and no device of it is named");
        fixture_done(&f);

        /* Named: the config decides, here strict. */
        fixture_init(&f, "[device 0000:00:02.0]\npolicy = strict\nallow_rebind = yes\n");
        step(&f, 5, 0, POLICY_ACTION_SWITCH, DMA, "named identity group, policy strict");
        fixture_done(&f);

        /* Named with policy auto: idle, so strict after sustain_s. */
        fixture_init(&f, "[device 0000:00:02.0]\nsustain_s = 0\n");
        reason = step(&f, 5, 0, POLICY_ACTION_BLOCKED, DMA, "named identity group, auto, idle");
        CHECK_CONTAINS(reason, "rebind-allowed");
        fixture_done(&f);
}

static void test_untouched(void) {
        Fixture f;
        const char *reason;

        tap_diag("groups the daemon never touches");
        fixture_init(&f, "[policy]\ndefault = lazy\nallow_rebind = yes\n"
                         "[device 0000:00:14.0]\npolicy = strict\n"
                         "[device 0000:03:00.0]\npolicy = lazy\n"
                         "[device 0000:04:00.0]\npolicy = strict\n");
        reason = step(&f, 6, 5000, POLICY_ACTION_IGNORE, GROUP_TYPE_BLOCKED, "blocked, named");
        CHECK_CONTAINS(reason, "group 6 is blocked: never touched");
        reason = step(&f, 7, 5000, POLICY_ACTION_IGNORE, GROUP_TYPE_UNMANAGED, "unmanaged, named");
        CHECK_CONTAINS(reason, "unmanaged");
        reason = step(&f, 8, 5000, POLICY_ACTION_IGNORE, GROUP_TYPE_UNKNOWN, "unknown type, named");
        CHECK_CONTAINS(reason, "group 8 is weird: never touched");
        reason = step(&f, 9, 5000, POLICY_ACTION_IGNORE, DMA, "empty group");
        CHECK_CONTAINS(reason, "group 9 has no devices");
        fixture_done(&f);
}

static void test_overrides(void) {
        Fixture f;
        PolicyGroupState *s;
        const char *reason;

        tap_diag("overrides");
        fixture_init(&f, NULL);
        s = policy_state_get(&f.state, 1);
        s->override = (PolicyOverride) { POLICY_OVERRIDE_LAZY, BASE_NS + 60 * SEC };
        reason = step(&f, 1, 0, POLICY_ACTION_SWITCH, FQ, "pinned lazy while idle: no sustain");
        CHECK_CONTAINS(reason, "override lazy for 60 s more");
        f.now = BASE_NS + 30 * SEC;
        step(&f, 1, 0, POLICY_ACTION_NONE, FQ, "pinned lazy holds");
        /* Expired: the rate rule is back, and it wants strict; no rebind. */
        f.now = BASE_NS + 60 * SEC;
        reason = step(&f, 1, 0, POLICY_ACTION_BLOCKED, DMA, "expired pin: auto again");
        CHECK_CONTAINS(reason, "policy auto");

        /* Pinned strict: back without waiting for min_dwell_s, but the
         * rebind guard still decides. */
        s = policy_state_get(&f.state, 1);
        s->override = (PolicyOverride) { POLICY_OVERRIDE_STRICT, 0 };
        f.now += SEC;
        reason = step(&f, 1, 5000, POLICY_ACTION_BLOCKED, DMA, "pinned strict, no rebind");
        CHECK_CONTAINS(reason, "override strict");
        CHECK_CONTAINS(reason, "blocked by guard rebind-allowed");
        fixture_done(&f);

        fixture_init(&f, "[policy]\nallow_rebind = yes\n");
        f.groups[0].type = FQ;
        policy_group_state_record_switch(policy_state_get(&f.state, 1), BASE_NS - SEC);
        policy_state_get(&f.state, 1)->override = (PolicyOverride) { POLICY_OVERRIDE_STRICT, 0 };
        step(&f, 1, 5000, POLICY_ACTION_SWITCH, DMA, "pinned strict skips min_dwell_s");
        fixture_done(&f);

        /* Refused by a guard: lazy on an untrusted device. */
        fixture_init(&f, NULL);
        policy_state_get(&f.state, 4)->override = (PolicyOverride) { POLICY_OVERRIDE_LAZY, 0 };
        reason = step(&f, 4, 5000, POLICY_ACTION_BLOCKED, FQ, "pinned lazy, untrusted");
        CHECK_CONTAINS(reason, "blocked by guard trusted");
        /* Refused by the config: policy = strict wins over a lazy pin. */
        fixture_done(&f);

        fixture_init(&f, "[device 0000:01:00.0]\npolicy = strict\n");
        policy_state_get(&f.state, 1)->override = (PolicyOverride) { POLICY_OVERRIDE_LAZY, 0 };
        reason = step(&f, 1, 5000, POLICY_ACTION_NONE, DMA, "pinned lazy, config strict");
        CHECK_CONTAINS(reason, "override lazy refused, the config wins: 0000:01:00.0: policy = strict");
        fixture_done(&f);

        fixture_init(&f, "[device 0000:01:00.0]\npolicy = keep\n");
        policy_state_get(&f.state, 1)->override = (PolicyOverride) { POLICY_OVERRIDE_LAZY, 0 };
        step(&f, 1, 5000, POLICY_ACTION_NONE, DMA, "pinned lazy, config keep");
        /* A strict pin is never weaker than the config: it wins over keep. */
        policy_state_get(&f.state, 1)->override = (PolicyOverride) { POLICY_OVERRIDE_STRICT, 0 };
        f.groups[0].type = FQ;
        step(&f, 1, 5000, POLICY_ACTION_BLOCKED, DMA, "pinned strict over keep (no rebind)");
        fixture_done(&f);

        /* auto: no pin, the config decides. */
        fixture_init(&f, "[device 0000:01:00.0]\npolicy = lazy\n");
        policy_state_get(&f.state, 1)->override = (PolicyOverride) { POLICY_OVERRIDE_AUTO, 0 };
        step(&f, 1, 0, POLICY_ACTION_SWITCH, FQ, "pinned auto: config lazy");
        fixture_done(&f);

        /* The hourly cap applies to a pin too. */
        fixture_init(&f, "[policy]\nmax_switches_per_hour = 1\n");
        policy_group_state_record_switch(policy_state_get(&f.state, 1), BASE_NS - 10 * SEC);
        policy_state_get(&f.state, 1)->override = (PolicyOverride) { POLICY_OVERRIDE_LAZY, 0 };
        reason = step(&f, 1, 0, POLICY_ACTION_BLOCKED, FQ, "pinned lazy over the hourly cap");
        CHECK_CONTAINS(reason, "0000:01:00.0: 1 switch in the last hour, max_switches_per_hour = 1");
        fixture_done(&f);
}

static void test_kernel_forced_strict(void) {
        Fixture f;
        const char *reason;

        tap_diag("kernel forced strict");
        fixture_init(&f, "[policy]\nsustain_s = 0\n");
        reason = step(&f, 10, 5000, POLICY_ACTION_BLOCKED, FQ, "caching mode");
        CHECK_CONTAINS(reason, "Intel caching mode (virtualized IOMMU)");
        /* dmar0 as an AMD unit whose amd-iommu/cap has NpCache (QEMU's). */
        f.units[0] = (IommuUnit) { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_AMD_VI, .has_amd_cap = true,
                                   .amd_cap = UINT32_C(0x1f03000f), .amd_np_cache = true };
        reason = step(&f, 1, 5000, POLICY_ACTION_BLOCKED, FQ, "AMD NpCache");
        CHECK_CONTAINS(reason, "AMD NpCache (virtualized IOMMU)");
        f.units[0] = (IommuUnit) { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_INTEL_VTD, .has_vtd_caps = true };
        f.t.kernel.dma.iommu_strict = 1;
        reason = step(&f, 1, 5000, POLICY_ACTION_BLOCKED, FQ, "iommu.strict=1");
        CHECK_CONTAINS(reason, "iommu.strict=1");
        fixture_done(&f);

        fixture_init(&f, "[policy]\nsustain_s = 0\n"
                         "[device 0000:00:1f.0]\nallow_lazy_when_kernel_forced_strict = yes\n");
        f.units[0].vtd.caching_mode = true;
        reason = step(&f, 3, 5000, POLICY_ACTION_BLOCKED, FQ, "only one member opted in");
        CHECK_CONTAINS(reason, "0000:00:1f.3 has allow_lazy_when_kernel_forced_strict = no");
        fixture_done(&f);

        fixture_init(&f, "[policy]\nsustain_s = 0\n");
        f.units[0] = (IommuUnit) { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_AMD_VI, .has_amd_cap = true,
                                   .amd_cap = UINT32_C(0x1b03000f) };
        step(&f, 1, 5000, POLICY_ACTION_SWITCH, FQ, "AMD without NpCache (cap bit 26 clear): lazy allowed");
        fixture_done(&f);
}

static void test_explain(void) {
        Fixture f;
        PolicyDecision d;
        char *text = NULL;
        size_t size = 0;
        FILE *out;

        tap_diag("explain");
        fixture_init(&f, "[device 0000:00:1f.0]\nlazy_above_unmaps_per_sec = 2000\n");
        CHECK_INT(decide(&f, 3, 5000, &d), 0, "decides");
        out = open_memstream(&text, &size);
        CHECK_INT(policy_decision_explain(&d, out), 0, "explains");
        fclose(out);
        CHECK_CONTAINS(text, "group 3: DMA: none\n");
        CHECK_CONTAINS(text, "  reason: policy auto: 5000 unmaps/s, above lazy_above_unmaps_per_sec = 2000");
        CHECK_CONTAINS(text, "    lazy_above_unmaps_per_sec = 2000: the largest, "
                             "from 0000:00:1f.0 ([device 0000:00:1f.0] at ");
        CHECK_CONTAINS(text, "main.conf:2)\n");
        CHECK_CONTAINS(text, "    strict_below_unmaps_per_sec = 10: the smallest, "
                             "from 0000:00:1f.0 (built-in default)\n");
        CHECK_CONTAINS(text, "  device 0000:00:1f.3 (class audio, driver snd_hda_intel):\n"
                             "    policy = auto (built-in default)\n");
        CHECK_CONTAINS(text, "  kernel: did not force strict\n");
        CHECK_CONTAINS(text, "  guards: not checked");
        free(text);
        text = NULL;
        policy_decision_done(&d);

        f.now += 5 * SEC;
        CHECK_INT(decide(&f, 3, 5000, &d), 0, "decides");
        CHECK_INT(d.action, POLICY_ACTION_SWITCH, "switches after sustain");
        out = open_memstream(&text, &size);
        CHECK_INT(policy_decision_explain(&d, out), 0, "explains");
        fclose(out);
        CHECK_CONTAINS(text, "group 3: DMA -> DMA-FQ: switch\n");
        CHECK_CONTAINS(text, "  guard trusted: passed: no device is untrusted");
        CHECK_CONTAINS(text, "  guard not-in-use: does not apply: ");
        CHECK_CONTAINS(text, "  guard rate-limit: passed: ");
        free(text);
        policy_decision_done(&d);
        fixture_done(&f);
}

static void test_decide_all(void) {
        Fixture f;
        PolicyDecision *d = NULL;
        size_t n = 0;
        PolicyInput in;

        tap_diag("policy_decide over the whole topology");
        fixture_init(&f, NULL);
        in = (PolicyInput) { .topology = &f.t, .config = f.config, .devices = f.facts,
                             .now_ns = f.now };
        CHECK_INT(policy_decide(&in, &f.state, &d, &n), 0, "decides");
        CHECK_INT(n, N_GROUPS, "one decision per group");
        CHECK_INT(f.state.n_groups, N_GROUPS, "a state per group");
        for (size_t i = 0; d && i < n; i++) {
                CHECK_INT(d[i].group, f.groups[i].id, "in topology order");
                CHECK(d[i].action != POLICY_ACTION_SWITCH || d[i].group == 2,
                      "group %u: no switch without a rate (%s)", d[i].group, d[i].reason);
        }
        /* Group 2 is DMA-FQ, unknown rate: nothing. */
        CHECK_INT(d[1].action, POLICY_ACTION_NONE, "unknown rate: none");
        CHECK_CONTAINS(d[1].reason, "not measured");
        CHECK_INT(d[8].action, POLICY_ACTION_IGNORE, "empty group ignored");
        d = policy_decisions_free(d, n);

        in.devices = NULL;
        CHECK_INT(policy_decide(&in, &f.state, &d, &n), -EINVAL, "device facts are required");
        fixture_done(&f);
}

static void test_state(void) {
        PolicyState s = {};
        PolicyGroupState *g;
        uint64_t last = 0;

        tap_diag("state");
        CHECK(policy_state_get(&s, 7) && policy_state_get(&s, 3) && policy_state_get(&s, 5),
              "adds states");
        CHECK_INT(s.n_groups, 3, "three states");
        CHECK(s.groups[0].group == 3 && s.groups[1].group == 5 && s.groups[2].group == 7,
              "sorted by id");
        CHECK(policy_state_find(&s, 5) == s.groups + 1, "finds");
        CHECK(!policy_state_find(&s, 4), "does not add on find");
        g = policy_state_get(&s, 5);
        CHECK(!policy_group_state_last_switch(g, &last), "no switch yet");
        CHECK(!g->switches_ns, "a group that never switched holds no switch log");
        /* A switch the log had no memory for counts as a full log in its
         * hour: the rate limit holds. */
        g->unlogged_switch_ns = 100 * SEC;
        CHECK_INT(policy_group_state_switches_since(g, 50 * SEC), POLICY_SWITCH_LOG,
                  "an unlogged switch counts as a full log");
        CHECK_INT(policy_group_state_switches_since(g, 101 * SEC), 0, "... only since it happened");
        CHECK(policy_group_state_last_switch(g, &last) && last == 100 * SEC, "and is the last switch");
        g->unlogged_switch_ns = 0;
        for (unsigned i = 0; i < POLICY_SWITCH_LOG + 10; i++)
                policy_group_state_record_switch(g, (i + 1) * SEC);
        CHECK_INT(g->n_switches, POLICY_SWITCH_LOG, "log is bounded");
        CHECK(policy_group_state_last_switch(g, &last) && last == (POLICY_SWITCH_LOG + 10) * SEC,
              "last switch");
        CHECK_U64(g->switches_ns[0], 11 * SEC, "oldest forgotten");
        CHECK_INT(policy_group_state_switches_since(g, (POLICY_SWITCH_LOG + 10 - 4) * SEC), 5,
                  "switches since");
        policy_state_done(&s);
        CHECK(!s.groups && !s.n_groups, "done zeroes");

        CHECK(!policy_override_active(&(PolicyOverride) {}, 5), "none is not active");
        CHECK(policy_override_active(&(PolicyOverride) { POLICY_OVERRIDE_LAZY, 0 }, 5),
              "without expiry");
        CHECK(policy_override_active(&(PolicyOverride) { POLICY_OVERRIDE_LAZY, 6 }, 5),
              "not yet expired");
        CHECK(!policy_override_active(&(PolicyOverride) { POLICY_OVERRIDE_LAZY, 5 }, 5),
              "expired");
        CHECK_INT(policy_override_mode_from_string("lazy"), POLICY_OVERRIDE_LAZY, "lazy");
        CHECK_INT(policy_override_mode_from_string("auto"), POLICY_OVERRIDE_AUTO, "auto");
        CHECK_INT(policy_override_mode_from_string("none"), _POLICY_OVERRIDE_INVALID,
                  "none is not a command");
        CHECK_STR(policy_override_mode_to_string(POLICY_OVERRIDE_STRICT), "strict", "strict");
        CHECK_STR(policy_action_to_string(POLICY_ACTION_BLOCKED), "blocked", "action name");
}

static int rm_one(const char *path, _unused_ const struct stat *st, _unused_ int flag,
                  _unused_ struct FTW *ftw) {
        return remove(path);
}

/* Decides group id with a full rate (source, share, avoidable). */
static int decide_rate(Fixture *f, unsigned id, PolicyGroupRate rate, PolicyDecision *d) {
        size_t i = group_index(f, id);
        PolicyInput in = { .topology = &f->t, .config = f->config, .rates = f->rates, .devices = f->facts,
                           .now_ns = f->now };

        f->rates[i] = rate;
        return policy_decide_group(&in, i, policy_state_get(&f->state, id), d);
}

static void test_rate_sources(void) {
        PolicyGroupRate apportioned = { .measured = true, .unmaps_per_sec = 5000, .source = "apportioned",
                                        .share = 0.97 };
        PolicyGroupRate iova = { .measured = true, .unmaps_per_sec = 2400, .source = "exact by device",
                                 .exact = true, .avoidable_known = true, .avoidable_per_sec = 0 };
        PolicyDecision d;
        Fixture f;
        char *text = NULL;
        size_t size = 0;
        FILE *out;

        tap_diag("rate sources");
        /* Apportioned rates are allowed by default: the nvme goes lazy, and
         * explain says the rate was apportioned and by what. */
        fixture_init(&f, "[policy]\nsustain_s = 0\n");
        CHECK_INT(decide_rate(&f, 1, apportioned, &d), 0, "decides");
        CHECK_INT(d.action, POLICY_ACTION_SWITCH, "apportioned rate above the threshold: switch");
        CHECK_CONTAINS(d.reason, "5000 unmaps/s (apportioned: 97 % of the unmaps no exact source placed, "
                                 "by I/O operations)");
        out = open_memstream(&text, &size);
        CHECK_INT(policy_decision_explain(&d, out), 0, "explains");
        fclose(out);
        CHECK_CONTAINS(text, "  unmap rate: 5000/s over the last tick, apportioned: 97 % of the unmaps no "
                             "exact source placed, by the groups' I/O operations");
        free(text);
        text = NULL;
        policy_decision_done(&d);
        fixture_done(&f);

        /* require_exact_rate for the driver: the group waits. */
        fixture_init(&f, "[policy]\nsustain_s = 0\n[driver nvme]\nrequire_exact_rate = yes\n");
        CHECK_INT(decide_rate(&f, 1, apportioned, &d), 0, "decides");
        CHECK_INT(d.action, POLICY_ACTION_NONE, "apportioned rate with require_exact_rate: no change");
        CHECK_CONTAINS(d.reason, "the unmap rate is apportioned and require_exact_rate = yes "
                                 "(0000:01:00.0, [driver nvme] at ");
        policy_decision_done(&d);
        apportioned.exact = true;
        apportioned.source = "exact by domain";
        CHECK_INT(decide_rate(&f, 1, apportioned, &d), 0, "decides");
        CHECK_INT(d.action, POLICY_ACTION_SWITCH, "an exact rate: switch");
        policy_decision_done(&d);
        fixture_done(&f);

        /* IOVA-API unmaps: lazy would save nothing, the group stays strict
         * and the reason says why. */
        fixture_init(&f, "[policy]\nsustain_s = 0\n");
        CHECK_INT(decide_rate(&f, 1, iova, &d), 0, "decides");
        CHECK_INT(d.action, POLICY_ACTION_NONE, "nothing to save: no switch");
        CHECK_CONTAINS(d.reason, "lazy would save 0 of 2400 unmaps/s: the rest flush at every unmap on this "
                                 "kernel (IOVA DMA API), below strict_below_unmaps_per_sec");
        policy_decision_done(&d);
        /* Small requests: most batch, and it goes lazy. */
        iova.avoidable_per_sec = 2000;
        CHECK_INT(decide_rate(&f, 1, iova, &d), 0, "decides");
        CHECK_INT(d.action, POLICY_ACTION_SWITCH, "2000 of 2400 batch: switch");
        CHECK_CONTAINS(d.reason, "lazy would save 2000 of 2400 unmaps/s");
        policy_decision_done(&d);
        fixture_done(&f);
}

/* A group that went lazy on small requests goes strict again when its
 * requests become large (IOVA DMA API): its unmap rate stays high, but the
 * batchable share drops to 0, and that is the rate auto decides on. */
static void test_back_to_strict(void) {
        PolicyGroupRate small = { .measured = true, .unmaps_per_sec = 2400, .source = "exact by device",
                                  .exact = true, .avoidable_known = true, .avoidable_per_sec = 2000 };
        PolicyGroupRate large = small;
        PolicyDecision d;
        Fixture f;

        tap_diag("lazy, then large requests: back to strict");
        large.avoidable_per_sec = 0;
        fixture_init(&f, "[policy]\nsustain_s = 3\nmin_dwell_s = 0\nallow_rebind = yes\n");
        for (unsigned t = 0; t <= 3; t++, f.now += SEC) {
                CHECK_INT(decide_rate(&f, 1, small, &d), 0, "decides");
                CHECK(d.action == (t < 3 ? POLICY_ACTION_NONE : POLICY_ACTION_SWITCH),
                      "small requests, %u s: %s (%s)", t, t < 3 ? "not yet" : "lazy", d.reason);
                apply(&f, &d);
                policy_decision_done(&d);
        }
        CHECK_INT(f.groups[group_index(&f, 1)].type, FQ, "lazy under small requests");
        for (unsigned t = 0; t <= 3; t++, f.now += SEC) {
                CHECK_INT(decide_rate(&f, 1, large, &d), 0, "decides");
                CHECK(d.action == (t < 3 ? POLICY_ACTION_NONE : POLICY_ACTION_SWITCH),
                      "large requests, %u s: %s (%s)", t, t < 3 ? "not yet" : "strict", d.reason);
                if (t == 3) {
                        CHECK_INT(d.desired, DMA, "back to DMA");
                        CHECK_CONTAINS(d.reason, "lazy would save 0 of 2400 unmaps/s: the rest flush at every "
                                                 "unmap on this kernel (IOVA DMA API), below "
                                                 "strict_below_unmaps_per_sec = 10 for 3 s (sustain_s = 3)");
                }
                apply(&f, &d);
                policy_decision_done(&d);
        }
        CHECK_INT(f.groups[group_index(&f, 1)].type, DMA, "strict again under large requests");
        fixture_done(&f);
}

int main(void) {
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }

        test_scenarios();
        test_mixed_untrusted();
        test_run_starts_with_its_window();
        test_strict_member_pulls_back();
        test_lazy_policy();
        test_keep();
        test_identity();
        test_untouched();
        test_overrides();
        test_kernel_forced_strict();
        test_explain();
        test_rate_sources();
        test_back_to_strict();
        test_decide_all();
        test_state();

        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
