/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Manager owns the sd-event loop and everything hanging off it: the
 * configuration, the topology, the monitoring tick, the control socket,
 * signals, and the conversation with systemd (READY, STATUS, WATCHDOG).
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "accounting.h"
#include "conf.h"
#include "control.h"
#include "flush-sampler.h"
#include "group-switch.h"
#include "policy.h"
#include "state-file.h"
#include "tick-cost.h"
#include "topology.h"
#include "workload.h"

typedef struct ManagerOptions {
        const char *config_path;  /* main config file */
        const char *dropin_dir;   /* its conf.d, or NULL */
        bool config_required;     /* --config was given: the file must exist */
        const char *sysfs_root;
        const char *proc_root;
        const char *socket_path;  /* overrides [daemon] socket when set */
        const char *state_dir;    /* overrides [daemon] state_dir when set */
        bool read_only;           /* plans only (--dry-run): recovers nothing, saves
                                   * nothing, takes no lock on the state directory */
} ManagerOptions;

typedef struct Manager {
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
        char **device_in_use;      /* parallel to topology->devices: what it backs, or NULL */
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
        bool latency_timing;       /* we switched on debugfs dmar_perf_latency */
        uint64_t measured_cost_ns; /* mean IOTLB invalidation cost from it, 0: none yet */
        char cost_source[256];     /* where the cost per invalidation comes from, in words */
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
        /* The read-only replies (status, groups, savings), each built at
         * most once per tick and handed to every client that asks (the
         * control server serializes a shared reply once): valid while
         * snapshot_tick[cmd] == ticks and younger than one interval;
         * dropped by manager_replies_invalidate() on every change between
         * ticks (set, clear, reload). */
        json_object *snapshots[_CMD_MAX];
        uint64_t snapshot_tick[_CMD_MAX];
        uint64_t snapshot_ns[_CMD_MAX];
} Manager;

/* Loads the config (errors are logged with file:line) and creates the
 * loop. Returns 0 or -errno. */
int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Scans the topology, opens the control socket (socket-activated when
 * systemd passed one), arms the tick, and tells systemd it is ready. */
int manager_start(Manager *m);
/* The roots, the topology, the state (locked), and recovery of an
 * interrupted switch: what every start does first; --recover stops there.
 * Read-only (a dry run): no lock, no recovery. */
int manager_open(Manager *m);
/* For a one-off switch: everything manager_start() does before the loop
 * that a switch needs (manager_open(), device usage), and one decision per
 * group for its guard facts. */
int manager_prepare_switching(Manager *m);
/* Decides every group now, without rates (for a switch by hand or at
 * exit, when the rate runs no longer matter). */
int manager_decide_now(Manager *m);
/* Records a switch made by hand in the history, like the daemon's own. */
void manager_record_manual_switch(Manager *m, const PolicyDecision *d, const SwitchResult *res);
/* Runs until SIGTERM/SIGINT; returns the loop's exit code. */
int manager_run(Manager *m);

/* Re-reads the config. On an invalid config the running one stays and
 * *ret_errors (when not NULL) lists what was wrong. 0 or -EINVAL/-ENOMEM. */
int manager_reload(Manager *m, char ***ret_errors);

/* The cost of one IOTLB invalidation used for "time saved": the configured
 * flush_cost_ns, else the debugfs measurement, else 0 (unknown). */
uint64_t manager_flush_cost_ns(const Manager *m);

/* The "metrics" answer: Prometheus text format (manager-metrics.c). A new
 * string, NULL on ENOMEM. */
char *manager_metrics_text(Manager *m);

/* Switching (manager-switch.c). */
int manager_read_device_usage(Manager *m);
void manager_free_device_usage(Manager *m);
int manager_recover(Manager *m);
int manager_switch_group(Manager *m, const PolicyDecision *d, GroupType to, bool dry_run, SwitchResult *ret);
bool manager_apply_decisions(Manager *m);
int manager_set_override(Manager *m, unsigned group, ProtocolSetType type, uint64_t for_s);
int manager_clear_override(Manager *m, unsigned group, bool *ret_had_attention);
void manager_restore_overrides(Manager *m);
/* The last hour's switches from the saved history into the policy's log. */
void manager_restore_switch_log(Manager *m);
void manager_restore_groups(Manager *m);
/* After a reload everything may be tried again. */
void manager_forget_refusals(Manager *m);
/* Forgets what advise mode has advised (so it is logged again). */
void manager_forget_advice(Manager *m);
/* Why the last switch of group was refused or failed, if that was within
 * the hour; NULL otherwise. */
const char *manager_refusal(Manager *m, unsigned group);
/* Writes the state file now (after a change made over the socket).
 * Returns 0 (also when nothing is saved: a dry run), or -errno: the
 * change is not saved, m->state_save_error says so until a save succeeds. */
int manager_save_state_now(Manager *m);
/* The directory the state lives in (the option, else the config's). */
const char *manager_state_dir(const Manager *m);

/* What set or clear changes for a group, kept to be put back when the
 * change cannot be saved: nothing is reported done that was not saved. */
typedef struct OverrideSnapshot {
        unsigned group;
        bool had_policy_state;
        PolicyOverride override;
        char *state_mode;     /* the saved override mode, NULL: none */
        uint64_t state_until; /* its realtime deadline */
} OverrideSnapshot;
int manager_snapshot_override(Manager *m, unsigned group, OverrideSnapshot *ret);
/* Puts the snapshot back and frees what it holds. */
void manager_restore_override(Manager *m, OverrideSnapshot *s);

/* The control socket's handler (manager-commands.c). */
json_object *manager_handle_request(void *userdata, ControlClient *client, const ProtocolRequest *req);
/* The watch update sent after each tick (manager-commands.c). */
json_object *manager_watch_update(Manager *m);

/* Drops the read-only replies' snapshots: the next status, groups or
 * savings is built afresh. Called on every change of what they show
 * outside a tick. */
void manager_replies_invalidate(Manager *m);
