/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Manager object itself, for its own files only: manager.c (the loop,
 * the tick, the samplers, the state) and manager-switch.c (switching).
 * main() has manager.h; the socket's answers and the metrics have
 * manager-serve.h and read the Manager through it, never its fields.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "accounting.h"
#include "conf.h"
#include "control.h"
#include "flush-sampler.h"
#include "group-switch.h"
#include "invalidation-cost.h"
#include "policy.h"
#include "state-file.h"
#include "tick-cost.h"
#include "topology.h"
#include "workload.h"
#include "manager.h"
#include "manager-serve.h"

struct Manager {
        ManagerOptions opts;
        sd_event *event;
        sd_event_source *tick_source;
        sd_event_source **flush_ring_sources; /* one per perf ring fd */
        size_t n_flush_ring_sources;
        Config *config;
        Config *decisions_config;  /* the config the decisions were made with,
                                    * when a reload replaced it since: they
                                    * point into it until the next decision */
        Topology *topology;
        int sysfs_fd, proc_fd, state_dir_fd;
        FlushSampler *flush;
        WorkloadSampler *workload;
        DaemonState state;         /* cumulative counters, overrides, history */
        bool state_loaded;         /* read under the state directory's lock: only then saved */
        SwitchContext switch_ctx;  /* the only way to the kernel's writable files */
        char **device_in_use;      /* parallel to topology->devices: what it backs, or NULL;
                                    * neighbours may share one string */
        /* Switches the engine refused or that failed: not tried again for
         * the same target type until a reload or an hour has passed. */
        struct RefusedSwitch {
                unsigned group;
                GroupType to;
                uint64_t at_ns;
                char *why;
        } *refused;
        size_t n_refused;
        /* advise: the switches advised at the last tick, so that each piece
         * of advice is logged once, when it first appears. */
        struct AdvisedSwitch {
                unsigned group;
                GroupType to;
        } *advised;
        size_t n_advised;
        size_t n_device_in_use;
        uint64_t device_usage_read_ns; /* CLOCK_MONOTONIC of the last read */
        char *state_warning;       /* what loading the state file said, if anything */
        uint64_t last_state_save_ns;
        char attribution[512];     /* how the last tick's unmaps were attributed */
        uint64_t ticks_with_lost_records;
        uint64_t last_tick_records_lost; /* perf records dropped by the kernel in the last tick, all sources */
        uint64_t last_tick_due_ns; /* when the last tick was due: where this tick's window began, for the policy */
        uint64_t strict_credit, patch_credit; /* accounting's credits for the next tick */
        uint64_t strict_debit;          /* accounting's debit for the next tick */
        DriverEvidence driver_evidence; /* since start, for the patched-driver verdict */
        DomainLearner domain_learner;   /* domain ids seen while one group alone did I/O */
        bool iova_api;                  /* the kernel has the IOVA-based DMA API path (6.17+) */
        struct GroupUnmapsPerOp {
                unsigned group;
                double unmaps_per_op;   /* attribution_unmaps_per_op() */
        } *unmaps_per_op;
        size_t n_unmaps_per_op, unmaps_per_op_allocated;
        char flush_rules[256];          /* the gather model's rule set in use, in words (log, status) */
        uint64_t exact_carry;           /* exact per-group unmaps a tick counted beyond the machine's */
        uint64_t switch_outcomes[_SWITCH_OUTCOME_MAX]; /* since start, for metrics */
        InvalidationCost invalidation_cost; /* the cost per invalidation, and where it comes from */
        ControlServer *control;
        ControlServer *reader;    /* the read-only socket, NULL when reader_group is empty */
        uint64_t started_ns;      /* CLOCK_MONOTONIC */
        uint64_t last_tick_ns;    /* CLOCK_MONOTONIC, 0 before the first */
        uint64_t ticks;
        TickCost tick_cost;          /* the daemon's own CPU time per tick, by phase */
        uint64_t last_topology_scan_ns;
        unsigned rescans_pending;    /* ticks that rescan after a switch (drivers probe asynchronously) */
        /* The policy's view, recomputed each tick. */
        PolicyState policy_state;
        PolicyDeviceFacts *device_facts; /* parallel to topology->devices */
        PolicyDecision *decisions;       /* parallel to topology->groups */
        size_t n_decisions;
        uint64_t reloads, reload_failures;
        char *last_reload_error;  /* the first error of the last failed reload */
        int state_save_error;     /* -errno of the last state save, 0 when it succeeded */
        uint64_t state_save_failures; /* since start, for metrics */
        ReplyCache replies;       /* the socket's read-only replies (manager-serve.h) */
};

/* Decides every group now, without rates (for a switch by hand or at
 * exit, when the rate runs no longer matter). */
int manager_decide_now(Manager *m);

/* Switching (manager-switch.c). */
int manager_read_device_usage(Manager *m);
void manager_free_device_usage(Manager *m);
int manager_recover(Manager *m);
bool manager_apply_decisions(Manager *m);
void manager_restore_overrides(Manager *m);
/* The last hour's switches from the saved history into the policy's log. */
void manager_restore_switch_log(Manager *m);
void manager_restore_groups(Manager *m);
/* After a reload everything may be tried again. */
void manager_forget_refusals(Manager *m);
/* Forgets what advise mode has advised (so it is logged again). */
void manager_forget_advice(Manager *m);



