/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Manager as the control socket's answers (manager-commands.c) and the
 * metrics text (manager-metrics.c) see it: a read-only view of what they
 * show, the replies they keep between ticks, and the few things they ask
 * the Manager to do (pin, clear, reload, save). They never read the
 * Manager's fields; the Manager (manager.c, manager-switch.c) implements
 * what is declared here except the answers themselves.
 */

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "control.h"
#include "driver-verdict.h"
#include "flush-sampler.h"
#include "intent-log.h"
#include "manager.h"
#include "state-file.h"
#include "tick-cost.h"
#include "topology.h"
#include "workload.h"

/* What the answers read, as of the call: pointers into the Manager, valid
 * until it next changes (the next tick, reload or switch). */
typedef struct ManagerView {
        const Config *config;
        const Topology *topology;
        const DaemonState *state;          /* cumulative counters, pins, history */
        const PolicyDecision *decisions;   /* the last decisions, by group */
        size_t n_decisions;
        FlushSampler *flush;               /* NULL before the samplers start */
        const WorkloadSampler *workload;   /* NULL before the samplers start */
        const DriverEvidence *driver_evidence;
        const char *flush_rules;           /* the gather rules in use, in words; "" without a flush sampler */
        const char *cost_source;           /* where the cost per invalidation comes from, in words */
        const char *attribution;           /* how the last tick's unmaps were attributed */
        const char *last_reload_error;     /* NULL: the last reload succeeded */
        const TickCost *tick_cost;
        const uint64_t *switch_outcomes;   /* [_SWITCH_OUTCOME_MAX], since start */
        ControlServer *control, *reader;   /* reader NULL without a read-only socket */
        uint64_t started_ns, last_tick_ns; /* CLOCK_MONOTONIC; last_tick_ns 0 before the first */
        uint64_t ticks;
        uint64_t reload_failures;
        uint64_t ticks_with_lost_records;  /* ticks whose figures are short by records the kernel dropped */
        uint64_t last_tick_records_lost;   /* records dropped in the last tick, all sources */
        int state_save_error;              /* -errno of the last state save, 0 when it succeeded */
        uint64_t state_save_failures;
} ManagerView;

ManagerView manager_view(const Manager *m);

/* The read-only replies (status, groups, savings), each built at most once
 * per tick and handed to every client that asks (the control server
 * serializes a shared reply once): valid while tick[cmd] == the tick count
 * and younger than one interval; dropped by manager_replies_invalidate() on
 * every change between ticks (set, clear, reload). Owned by the Manager,
 * kept by manager-commands.c. */
typedef struct ReplyCache {
        json_object *snapshots[_CMD_MAX];
        uint64_t tick[_CMD_MAX];
        uint64_t ns[_CMD_MAX];
} ReplyCache;

ReplyCache *manager_reply_cache(Manager *m);

/* A group's saved state (counters, pin, the type it was changed from),
 * NULL when it has none yet. */
StateGroup *manager_group_state(const Manager *m, const IommuGroup *g);
/* The directory the state lives in (the option, else the config's). */
const char *manager_state_dir(const Manager *m);
/* The groups a failed switch left needing attention (intent-log.h), none
 * when the state directory is not open. 0 or -errno. */
int manager_list_attention(Manager *m, IntentRecord **ret, size_t *ret_n);
/* The cost of one IOTLB invalidation used for "time saved": the configured
 * flush_cost_ns, else the debugfs measurement, else 0 (unknown). */
uint64_t manager_flush_cost_ns(const Manager *m);
/* Why the last switch of group was refused or failed, if that was within
 * the hour; NULL otherwise. */
const char *manager_refusal(Manager *m, unsigned group);

/* Pins a group (iommuctl set), or releases its pin and its needs-attention
 * mark (clear). Nothing is saved: see manager_save_state_now(). */
int manager_set_override(Manager *m, unsigned group, ProtocolSetType type, uint64_t for_s);
int manager_clear_override(Manager *m, unsigned group, bool *ret_had_attention);
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
/* Writes the state file now (after a change made over the socket).
 * Returns 0 (also when nothing is saved: a dry run), or -errno: the
 * change is not saved, the view's state_save_error says so until a save
 * succeeds. */
int manager_save_state_now(Manager *m);
/* Re-reads the config. On an invalid config the running one stays and
 * *ret_errors (when not NULL) lists what was wrong. 0 or -EINVAL/-ENOMEM. */
int manager_reload(Manager *m, char ***ret_errors);

/* The control socket's handler (manager-commands.c). */
json_object *manager_handle_request(void *userdata, ControlClient *client, const ProtocolRequest *req);
/* The watch update sent after each tick (manager-commands.c). */
json_object *manager_watch_update(Manager *m);
/* The "metrics" answer: Prometheus text format (manager-metrics.c). A new
 * string, NULL on ENOMEM. */
char *manager_metrics_text(Manager *m);
/* Drops the read-only replies' snapshots: the next status, groups or
 * savings is built afresh. Called on every change of what they show
 * outside a tick. */
void manager_replies_invalidate(Manager *m);
