/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The policy engine: a pure function of (topology, observations, history,
 * config). For each IOMMU group it returns the type the group should have,
 * the reason in words, the effective config values of every member with
 * where each came from, and the verdict of every guard on the proposed
 * switch. It reads no file and no clock: the time comes in as now_ns
 * (CLOCK_MONOTONIC). The only thing it changes is the per-group
 * PolicyGroupState the caller hands in (state in, state out).
 *
 * Rules, in the order they are applied to a group:
 *
 *  1. A group without devices is ignored. A group of type blocked,
 *     unmanaged or unknown is never touched (a user such as VFIO owns an
 *     unmanaged group; the others are not ours to judge). A group of type
 *     identity is touched only when the config names one of its devices in a
 *     [device] section. Only DMA and DMA-FQ groups are managed otherwise.
 *
 *  2. Each member's policy comes from config_resolve_device(). The group's
 *     policy combines them, first match wins:
 *       keep on any member       -> keep: the group is left as it is;
 *       strict on any member     -> strict (DMA);
 *       identity on every member -> identity;
 *       auto on any member       -> auto (members saying lazy or identity
 *                                   allow lazy, so they add no constraint);
 *       otherwise (lazy, or lazy mixed with identity) -> lazy (DMA-FQ).
 *
 *  3. A manual override (iommuctl set GROUP strict|lazy|auto) that has not
 *     expired replaces the group's policy, but never makes protection weaker
 *     than the config allows:
 *       strict -> strict, whatever the members say (nothing is weaker);
 *       lazy   -> lazy, unless a member says strict or keep: then the config
 *                 wins and the reason says the override was refused;
 *       auto   -> no pin: the config decides, as without an override.
 *     An override skips sustain_s and min_dwell_s but not the guards (all of
 *     them, the hourly cap included). An expired override is ignored; the
 *     caller clears it.
 *
 *  4. auto compares the group's unmap rate with the group's thresholds,
 *     combined over the members whose policy is auto (over every member
 *     when none is), the more cautious value winning:
 *       lazy_above_unmaps_per_sec   the largest,
 *       strict_below_unmaps_per_sec the smallest,
 *       sustain_s                   the largest,
 *       min_dwell_s                 the largest,
 *       max_switches_per_hour       the smallest (shown; the guard applies
 *                                   each device's own value).
 *     A rate below strict_below starts a "below" run, a rate above
 *     lazy_above an "above" run; a rate in between, or an unknown rate, ends
 *     both (hysteresis). A run starts where the window that first measured
 *     it began (now - window_s: the rate held over that whole window, on
 *     average), and is sustained once now - start >= sustain_s: with
 *     sustain_s = 3 and 1 s ticks, the third window above decides. Sustained above -> DMA-FQ,
 *     sustained below -> DMA; otherwise no change. (Should a member's
 *     values overlap, strict_below >= lazy_above, "below" is tested first.)
 *     A switch the auto rule wants waits until min_dwell_s has passed since
 *     the group's last switch.
 *
 *  5. Every proposed switch goes through guards_check() (guards.h). One
 *     failing guard blocks it: the decision is then "would switch to X,
 *     blocked by guard Y" with both reasons. Going back to strict from lazy
 *     needs a rebind, so it happens only where allow_rebind allows it.
 *
 * The per-device switch count the rate-limit guard sees is the number of
 * switches of the device's group in the last hour (the group's history).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "guards.h"
#include "topology.h"

#define POLICY_NSEC_PER_SEC UINT64_C(1000000000)
/* More than the largest max_switches_per_hour the config accepts (60). */
#define POLICY_SWITCH_LOG 64

/* ---- Input: what the caller observed this tick ------------------------ */

/* The unmap rate of one group over the last tick. */
typedef struct PolicyGroupRate {
        bool measured;          /* false: unknown this tick (no counter, a gap) */
        double unmaps_per_sec;
        /* The span it was measured over, ending at the decision's now, in
         * the decisions' time base (ticks as they were due); 0: not
         * known, a run starts now. */
        double window_s;
        /* How it was obtained (a static string: "exact by device", "exact
         * by domain", "exact by elimination", "apportioned", "no I/O"; NULL:
         * "measured"), and for an apportioned rate its share of the unmaps
         * no exact source placed, by I/O operations. */
        const char *source;
        bool exact;
        double share;
        /* The unmaps the flush queue would batch on this kernel (map/unmap
         * API; IOVA-API unmaps flush at every unmap in either mode). Not
         * known: every unmap counts. */
        bool avoidable_known;
        double avoidable_per_sec;
} PolicyGroupRate;

/* What the device-usage reader knows about one device. */
typedef struct PolicyDeviceFacts {
        /* NULL when nothing depends on it; else why it must not be unbound,
         * in words that follow the device name: "backs / (nvme0n1p2)",
         * "carries eth0, the default route". A caller that could not find
         * out must say so here ("may back a mount: mountinfo unreadable"),
         * never leave it NULL. */
        const char *in_use;
        bool external_facing;   /* behind an external-facing port */
} PolicyDeviceFacts;

typedef struct PolicyInput {
        const Topology *topology;
        const Config *config;
        /* Parallel to topology->groups; NULL: no rate is known. */
        const PolicyGroupRate *rates;
        /* Parallel to topology->devices. Required when there are devices. */
        const PolicyDeviceFacts *devices;
        /* The kernel forced strict where the unit says so
         * (iommu_unit_forced_strict(): VT-d caching mode, AMD NpCache), and
         * everywhere when the command line has iommu.strict=1. */
        uint64_t now_ns;        /* CLOCK_MONOTONIC */
} PolicyInput;

/* ---- History: kept by the caller, updated by the engine and the caller - */

typedef enum PolicyOverrideMode {
        POLICY_OVERRIDE_NONE,
        POLICY_OVERRIDE_STRICT,
        POLICY_OVERRIDE_LAZY,
        POLICY_OVERRIDE_AUTO,
        _POLICY_OVERRIDE_MAX,
        _POLICY_OVERRIDE_INVALID = -EINVAL,
} PolicyOverrideMode;

typedef struct PolicyOverride {
        PolicyOverrideMode mode;
        uint64_t until_ns;      /* CLOCK_MONOTONIC; 0: until cleared */
} PolicyOverride;

typedef struct PolicyGroupState {
        unsigned group;
        /* Runs of the rate, kept by policy_decide_group(). */
        bool above, below;
        uint64_t above_since_ns, below_since_ns;
        /* Kept by the caller with policy_group_state_record_switch(), after
         * a switch actually happened. Oldest first; POLICY_SWITCH_LOG
         * entries allocated at the group's first switch (most groups never
         * switch: 512 bytes each for 300 groups was 150 KiB of heap), NULL
         * before. Freed by policy_state_done(). */
        uint64_t *switches_ns;
        size_t n_switches;
        /* The last switch that could not be logged for want of memory (0:
         * none): counted as a full log, so the rate limit errs on the side
         * of fewer switches. */
        uint64_t unlogged_switch_ns;
        /* Set and cleared by the caller. */
        PolicyOverride override;
} PolicyGroupState;

/* The state of every group, sorted by group id. Zero-initialize it. */
typedef struct PolicyState {
        PolicyGroupState *groups;
        size_t n_groups, n_allocated;
} PolicyState;

/* The state of group id, added (fresh) when there is none; NULL on ENOMEM.
 * The pointer is valid until the next policy_state_get() or
 * policy_decide(). */
PolicyGroupState *policy_state_get(PolicyState *s, unsigned group);
/* NULL when group has no state. */
PolicyGroupState *policy_state_find(const PolicyState *s, unsigned group);
/* Frees what s holds and zeroes it. */
void policy_state_done(PolicyState *s);

/* Records a switch of the group at now_ns; the oldest is forgotten when the
 * log is full. */
void policy_group_state_record_switch(PolicyGroupState *g, uint64_t now_ns);
/* Switches at or after since_ns. */
unsigned policy_group_state_switches_since(const PolicyGroupState *g, uint64_t since_ns);
/* The time of the last switch; false when there was none. */
bool policy_group_state_last_switch(const PolicyGroupState *g, uint64_t *ret_ns);

/* Whether o pins the group at now_ns (set and not expired). */
bool policy_override_active(const PolicyOverride *o, uint64_t now_ns);
const char *policy_override_mode_to_string(PolicyOverrideMode m); /* "strict", "lazy", "auto", "none" */
/* "strict", "lazy" or "auto"; _POLICY_OVERRIDE_INVALID otherwise. */
PolicyOverrideMode policy_override_mode_from_string(const char *s);

/* ---- Output ----------------------------------------------------------- */

typedef enum PolicyAction {
        POLICY_ACTION_IGNORE,   /* not the daemon's group (rule 1) */
        POLICY_ACTION_NONE,     /* stays as it is */
        POLICY_ACTION_WAIT,     /* auto wants desired; min_dwell_s has not passed */
        POLICY_ACTION_SWITCH,   /* switch to desired: every guard passed */
        POLICY_ACTION_BLOCKED,  /* would switch to desired; a guard failed */
        _POLICY_ACTION_MAX,
} PolicyAction;

/* "ignore", "none", "wait", "switch", "blocked". */
const char *policy_action_to_string(PolicyAction a);

/* A combined group value and the member that supplied it. */
typedef struct PolicyGroupValue {
        ConfValue value;        /* .u, and the origin within that member's config */
        const char *device;     /* the member's name */
} PolicyGroupValue;

typedef struct PolicyThresholds {
        PolicyGroupValue lazy_above;     /* largest */
        PolicyGroupValue strict_below;   /* smallest */
        PolicyGroupValue sustain_s;      /* largest */
        PolicyGroupValue min_dwell_s;    /* largest */
        PolicyGroupValue max_switches_per_hour; /* smallest */
        bool auto_members_only;          /* combined over the auto members only */
        /* require_exact_rate: yes when any (auto) member says yes, and
         * where that came from ("0000:00:03.0, [driver nvme] at f:3"). */
        bool require_exact;
        char require_exact_from[160];
} PolicyThresholds;

typedef struct PolicyMember {
        const Device *device;   /* in the input topology */
        /* Its effective values, each with its origin, while the decision is
         * made; NULL in a decision returned (they derive from the config
         * and the device: 400 bytes per device were a sixth of the heap on
         * 300 groups). policy_decision_explain() resolves them again. */
        const DevicePolicy *config;
        GuardDevice guard;      /* what the guards saw of it */
} PolicyMember;

/* Pointers inside a decision point into the PolicyInput's topology, config
 * and facts, and live as long as those. */
typedef struct PolicyDecision {
        unsigned group;
        uint64_t now_ns;
        GroupType current;
        GroupType desired;      /* == current for IGNORE and NONE */
        PolicyAction action;
        PolicyMode mode;        /* the group's policy after rules 2-3 (not for IGNORE) */
        bool by_override;       /* the override set mode */
        PolicyOverride override; /* the override considered; mode NONE when none or expired */
        PolicyGroupRate rate;
        /* The members' thresholds were combined (policy_decision_thresholds()
         * gives them; they derive from the config and the members, and at
         * 408 bytes were most of a decision). */
        bool thresholds_filled;
        GuardKernel kernel;
        bool guards_checked;    /* a switch was proposed: guards[] holds the verdicts */
        GuardVerdict *guards;   /* [_GUARD_MAX] when guards_checked, else NULL (most groups propose no switch) */
        const Config *config;   /* the config it was decided with */
        PolicyMember *members;  /* in the group's device order */
        size_t n_members;
        /* The reason in words, as long as it takes (never NULL in a
         * decision returned; freed by policy_decision_done()). Held as its
         * own allocation of its own length: a fixed 640 bytes per group
         * was a quarter of the daemon's heap on 300 groups. */
        char *reason;
        bool reason_lost;       /* out of memory while writing it */
} PolicyDecision;

/* Decides one group: topology->groups[group_index]. state must be the
 * group's (state->group == its id); its rate runs are updated. Returns 0,
 * -EINVAL for bad arguments (no facts for the devices, an index out of range,
 * state of another group), or -ENOMEM. On success the caller releases *ret
 * with policy_decision_done(). */
int policy_decide_group(const PolicyInput *in, size_t group_index, PolicyGroupState *state,
                        PolicyDecision *ret);

/* Decides every group of in->topology, taking each group's state from
 * state (added when missing). *ret is parallel to topology->groups; free it
 * with policy_decisions_free(). Returns 0, -EINVAL or -ENOMEM. */
int policy_decide(const PolicyInput *in, PolicyState *state, PolicyDecision **ret,
                  size_t *ret_n);

/* The thresholds d was decided with, combined over its members as the
 * decision combined them (zeroed when it never got that far: a group with
 * no devices or a member missing from the topology). Returns 0, -ENOMEM,
 * or -errno of resolving a member's config. */
int policy_decision_thresholds(const PolicyDecision *d, PolicyThresholds *ret);

void policy_decision_done(PolicyDecision *d);
PolicyDecision *policy_decisions_free(PolicyDecision *d, size_t n);

/* Everything that decided the group, for `iommuctl explain`: the outcome
 * and reason, the override, the rate and the combined thresholds with the
 * member and config line each came from, the kernel's stance, every
 * member's effective config and facts, and every guard verdict. Returns 0
 * or -ENOMEM. */
int policy_decision_explain(const PolicyDecision *d, FILE *out);
