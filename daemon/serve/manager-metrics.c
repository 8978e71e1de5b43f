/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The answer to "metrics": the Manager's state in the Prometheus text
 * format (metrics.h). Machine-level families come from one table below
 * (adding a machine gauge is one row and, for a plain number, one small
 * function); the flush counters come from the counter table (counters.h)
 * at the machine, unit and group levels.
 *
 * Per-group series are written only for the groups the daemon manages or
 * that did I/O: one with counts or a pin in the state file, one the daemon
 * changed from the kernel's type, one that needs attention, one with a
 * switch pending (wait, switch, blocked). A 300-group server where three
 * are busy gives about as many series as a 3-group one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "intent-log.h"
#include "manager-serve.h"
#include "metrics.h"
#include "topology-output.h"
#include "util.h"

/* Groups a failed switch left needing attention (the intent log). */
typedef struct Attention {
        IntentRecord *recs;
        size_t n;
} Attention;

static bool attention_has(const Attention *a, unsigned group) {
        for (size_t i = 0; i < a->n; i++)
                if (a->recs[i].group == group)
                        return true;
        return false;
}

static bool pin_active(const StateGroup *sg, uint64_t now_realtime) {
        return sg && sg->override_mode &&
               (sg->override_until_realtime_ns == 0 || sg->override_until_realtime_ns > now_realtime);
}

static bool counters_zero(const StateCounters *c) {
        static const StateCounters zero;

        return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* A state entry worth a series: it counted something, holds a pin or
 * records a change the daemon made. */
static bool state_group_listed(const StateGroup *sg, uint64_t now_realtime) {
        return sg && (!counters_zero(&sg->counters) || pin_active(sg, now_realtime) || sg->changed_from);
}

static bool group_listed(const Manager *m, const IommuGroup *g, const Attention *a, uint64_t now_realtime) {
        const PolicyDecision *d = manager_decision(m, g->id);

        return state_group_listed(manager_group_state(m, g), now_realtime) || attention_has(a, g->id) ||
               (d && (d->action == POLICY_ACTION_WAIT || d->action == POLICY_ACTION_SWITCH ||
                      d->action == POLICY_ACTION_BLOCKED));
}

/* group="7",device="0000:01:00.0" */
static void group_labels(char *buf, size_t size, unsigned group, const char *device) {
        char id[16];

        snprintf(id, sizeof(id), "%u", group);
        buf[0] = '\0';
        (void) metrics_label(buf, size, "group", id);
        (void) metrics_label(buf, size, "device", device);
}

/* ---- machine level: one row per family -------------------------------- */

static uint64_t value_ticks(Manager *m) {
        const ManagerView mv = manager_view(m);

        return mv.ticks;
}

static uint64_t value_state_save_failing(Manager *m) {
        const ManagerView mv = manager_view(m);

        return mv.state_save_error < 0;
}

static uint64_t value_state_save_failures(Manager *m) {
        const ManagerView mv = manager_view(m);

        return mv.state_save_failures;
}

static uint64_t value_iommu_active(Manager *m) {
        const ManagerView mv = manager_view(m);

        return !topology_no_iommu_message(mv.topology);
}

static uint64_t value_reload_failures(Manager *m) {
        const ManagerView mv = manager_view(m);

        return mv.reload_failures;
}

/* The control socket figures, one sample per socket (label socket: "main",
 * and "reader" when the read-only socket is open). */
typedef uint64_t (*ControlFigure)(const ControlServer *s);

static uint64_t control_requests(const ControlServer *s) {
        uint64_t requests, errors, refused;

        control_server_stats(s, &requests, &errors, &refused);
        return requests;
}

static uint64_t control_errors(const ControlServer *s) {
        uint64_t requests, errors, refused;

        control_server_stats(s, &requests, &errors, &refused);
        return errors;
}

static uint64_t control_refused(const ControlServer *s) {
        uint64_t requests, errors, refused;

        control_server_stats(s, &requests, &errors, &refused);
        return refused;
}

static uint64_t control_watch_dropped(const ControlServer *s) {
        ControlQueueStats q;

        control_server_queue_stats(s, &q);
        return q.updates_dropped;
}

static uint64_t control_queued_bytes(const ControlServer *s) {
        ControlQueueStats q;

        control_server_queue_stats(s, &q);
        return q.queued_bytes;
}

static void samples_by_socket(FILE *f, const char *name, Manager *m, ControlFigure figure) {
        const ManagerView mv = manager_view(m);
        const struct {
                const char *label;
                const ControlServer *server;
        } sockets[] = { { "main", mv.control }, { "reader", mv.reader } };

        for (size_t i = 0; i < ELEMENTSOF(sockets); i++) {
                char labels[64] = "";

                if (!sockets[i].server)
                        continue;
                (void) metrics_label(labels, sizeof(labels), "socket", sockets[i].label);
                metrics_sample_u64(f, name, labels, figure(sockets[i].server));
        }
}

static void samples_control_requests(FILE *f, const char *name, Manager *m) {
        samples_by_socket(f, name, m, control_requests);
}

static void samples_control_errors(FILE *f, const char *name, Manager *m) {
        samples_by_socket(f, name, m, control_errors);
}

static void samples_control_refused(FILE *f, const char *name, Manager *m) {
        samples_by_socket(f, name, m, control_refused);
}

static void samples_watch_dropped(FILE *f, const char *name, Manager *m) {
        samples_by_socket(f, name, m, control_watch_dropped);
}

static void samples_queued_bytes(FILE *f, const char *name, Manager *m) {
        samples_by_socket(f, name, m, control_queued_bytes);
}

static uint64_t value_tick_cpu_ns(Manager *m) {
        const ManagerView mv = manager_view(m);

        return mv.ticks ? tick_cost_total_ns(mv.tick_cost) / mv.ticks : 0;
}

static void samples_build_info(FILE *f, const char *name, Manager *m) {
        char labels[64] = "";

        (void) metrics_label(labels, sizeof(labels), "version", PACKAGE_VERSION);
        metrics_sample_u64(f, name, labels, 1);
}

static void samples_mode(FILE *f, const char *name, Manager *m) {
        const ManagerView mv = manager_view(m);
        DaemonMode mode = config_daemon(mv.config)->mode.mode;

        for (DaemonMode d = 0; d < _DAEMON_MODE_MAX; d++) {
                char labels[64] = "";

                (void) metrics_label(labels, sizeof(labels), "mode", daemon_mode_to_string(d));
                metrics_sample_u64(f, name, labels, d == mode);
        }
}

static void samples_tick_phase_cpu(FILE *f, const char *name, Manager *m) {
        const ManagerView mv = manager_view(m);

        for (TickPhase p = 0; p < _TICK_PHASE_MAX; p++) {
                char labels[64] = "";

                (void) metrics_label(labels, sizeof(labels), "phase", tick_phase_to_string(p));
                metrics_sample_seconds(f, name, labels, mv.ticks ? mv.tick_cost->cpu_ns[p] / mv.ticks : 0);
        }
}

static void samples_groups_by_type(FILE *f, const char *name, Manager *m) {
        const ManagerView mv = manager_view(m);

        for (GroupType t = GROUP_TYPE_UNKNOWN; t < _GROUP_TYPE_MAX; t++) {
                char labels[64] = "";
                uint64_t n = 0;

                for (size_t i = 0; i < mv.topology->n_groups; i++)
                        n += mv.topology->groups[i].type == t;
                (void) metrics_label(labels, sizeof(labels), "type", group_type_to_string(t));
                metrics_sample_u64(f, name, labels, n);
        }
}

static void samples_switches(FILE *f, const char *name, Manager *m) {
        const ManagerView mv = manager_view(m);

        for (SwitchOutcome o = 0; o < _SWITCH_OUTCOME_MAX; o++) {
                char labels[64] = "";

                (void) metrics_label(labels, sizeof(labels), "outcome", switch_outcome_to_string(o));
                metrics_sample_u64(f, name, labels, mv.switch_outcomes[o]);
        }
}

static uint64_t value_groups_pinned(Manager *m) {
        const ManagerView mv = manager_view(m);
        uint64_t n = 0, now = now_realtime_ns();

        for (size_t i = 0; i < mv.state->n_groups; i++)
                n += pin_active(&mv.state->groups[i], now);
        return n;
}

/* One family: value() for a single unlabelled sample (seconds() when it is
 * a time in nanoseconds), or samples() for labelled ones. */
typedef struct MachineFamily {
        const char *name;
        MetricType type;
        const char *help;
        uint64_t (*value)(Manager *m);
        uint64_t (*seconds)(Manager *m);
        void (*samples)(FILE *f, const char *name, Manager *m);
} MachineFamily;

static const MachineFamily machine_families[] = {
        { "iommutuned_build_info", METRIC_GAUGE, "Always 1; the daemon's version is the label.",
          .samples = samples_build_info },
        { "iommutuned_mode", METRIC_GAUGE,
          "1 for the daemon's mode (enforce: writes group types; advise: never writes).",
          .samples = samples_mode },
        { "iommutuned_ticks_total", METRIC_COUNTER, "Monitoring ticks since the daemon started.", .value = value_ticks },
        { "iommutuned_iommu_active", METRIC_GAUGE,
          "1 when the machine has an active IOMMU, 0 when not (the daemon idles).", .value = value_iommu_active },
        { "iommutuned_tick_cpu_seconds", METRIC_GAUGE,
          "The daemon's own CPU time per tick, the mean since it started.", .seconds = value_tick_cpu_ns },
        { "iommutuned_tick_phase_cpu_seconds", METRIC_GAUGE,
          "The daemon's own CPU time per tick by phase, the mean since it started "
          "(the phases add up to iommutuned_tick_cpu_seconds).",
          .samples = samples_tick_phase_cpu },
        { "iommutuned_groups", METRIC_GAUGE, "IOMMU groups by their current type.", .samples = samples_groups_by_type },
        { "iommutuned_groups_pinned", METRIC_GAUGE, "IOMMU groups with a pin (iommuctl set) in force.",
          .value = value_groups_pinned },
        { "iommutuned_switches_total", METRIC_COUNTER, "Group type switches since the daemon started, by outcome.",
          .samples = samples_switches },
        { "iommutuned_control_requests_total", METRIC_COUNTER,
          "Control socket requests answered, by socket (main; reader, the read-only one).",
          .samples = samples_control_requests },
        { "iommutuned_control_errors_total", METRIC_COUNTER,
          "Control socket requests answered with an error (also those refused as malformed or not allowed), "
          "by socket.",
          .samples = samples_control_errors },
        { "iommutuned_control_refused_total", METRIC_COUNTER,
          "Connections the daemon refused or closed, by socket: no slot left for the peer, a partial request "
          "idle past the timeout, or the longest idle client making room for root or the admin group.",
          .samples = samples_control_refused },
        { "iommutuned_watch_updates_dropped_total", METRIC_COUNTER,
          "Watch updates dropped for watchers too far behind (each update is the whole state), by socket.",
          .samples = samples_watch_dropped },
        { "iommutuned_control_queued_bytes", METRIC_GAUGE, "Answers and updates not yet written, by socket.",
          .samples = samples_queued_bytes },
        { "iommutuned_config_reload_failures_total", METRIC_COUNTER, "Reloads rejected for an invalid config.",
          .value = value_reload_failures },
        { "iommutuned_state_save_failing", METRIC_GAUGE,
          "1 while the state file cannot be written (set, clear and reload answer an error), else 0.",
          .value = value_state_save_failing },
        { "iommutuned_state_save_failures_total", METRIC_COUNTER, "State file writes that failed.",
          .value = value_state_save_failures },
};

static void write_machine_families(FILE *f, Manager *m) {
        for (size_t i = 0; i < ELEMENTSOF(machine_families); i++) {
                const MachineFamily *fam = &machine_families[i];

                metrics_family(f, fam->name, fam->type, fam->help);
                if (fam->value)
                        metrics_sample_u64(f, fam->name, "", fam->value(m));
                else if (fam->seconds)
                        metrics_sample_seconds(f, fam->name, "", fam->seconds(m));
                else
                        fam->samples(f, fam->name, m);
        }
}

/* ---- group level --------------------------------------------------------- */

/* What the group gauges look at, for one listed group. */
typedef struct GroupView {
        const IommuGroup *group;
        const StateGroup *state;         /* NULL: none */
        const PolicyDecision *decision;  /* NULL: none yet */
        bool attention;
        uint64_t now_realtime_ns;
} GroupView;

/* Each writes its sample for one group, if it has one; labels holds the
 * group's labels and has room for one more. */
static void sample_group_type(FILE *f, const char *name, char *labels, size_t size, const GroupView *v) {
        (void) metrics_label(labels, size, "type", group_type_to_string(v->group->type));
        metrics_sample_u64(f, name, labels, 1);
}

static void sample_group_desired_type(FILE *f, const char *name, char *labels, size_t size, const GroupView *v) {
        if (!v->decision || v->decision->action == POLICY_ACTION_IGNORE)
                return;
        (void) metrics_label(labels, size, "type", group_type_to_string(v->decision->desired));
        metrics_sample_u64(f, name, labels, 1);
}

static void sample_group_attention(FILE *f, const char *name, char *labels, size_t size, const GroupView *v) {
        metrics_sample_u64(f, name, labels, v->attention);
}

static void sample_group_pinned(FILE *f, const char *name, char *labels, size_t size, const GroupView *v) {
        if (!pin_active(v->state, v->now_realtime_ns))
                return;
        (void) metrics_label(labels, size, "mode", v->state->override_mode);
        metrics_sample_u64(f, name, labels, 1);
}

static void sample_group_pin_expiry(FILE *f, const char *name, char *labels, size_t size, const GroupView *v) {
        if (pin_active(v->state, v->now_realtime_ns) && v->state->override_until_realtime_ns)
                metrics_sample_seconds(f, name, labels, v->state->override_until_realtime_ns);
}

static const struct {
        const char *name, *help;
        void (*sample)(FILE *f, const char *name, char *labels, size_t size, const GroupView *v);
} group_gauges[] = {
        { "iommutuned_group_type", "1 for the group's current type (label type).", sample_group_type },
        { "iommutuned_group_desired_type",
          "1 for the type the policy wants for the group (label type); no sample for a group the policy leaves alone.",
          sample_group_desired_type },
        { "iommutuned_group_needs_attention",
          "1 when a failed switch left the group needing attention (iommuctl clear GROUP releases it), else 0.",
          sample_group_attention },
        { "iommutuned_group_pinned", "1 for a group with a pin in force (label mode: strict, lazy or auto).",
          sample_group_pinned },
        { "iommutuned_group_pin_expiry_timestamp_seconds",
          "When the group's pin expires, in seconds since the epoch; no sample for a pin until cleared.",
          sample_group_pin_expiry },
};

static void write_group_gauges(FILE *f, Manager *m, const Attention *a, uint64_t now) {
        const ManagerView mv = manager_view(m);

        for (size_t k = 0; k < ELEMENTSOF(group_gauges); k++) {
                metrics_family(f, group_gauges[k].name, METRIC_GAUGE, group_gauges[k].help);
                for (size_t i = 0; i < mv.topology->n_groups; i++) {
                        const IommuGroup *g = &mv.topology->groups[i];
                        GroupView v = {
                                .group = g,
                                .state = manager_group_state(m, g),
                                .decision = manager_decision(m, g->id),
                                .attention = attention_has(a, g->id),
                                .now_realtime_ns = now,
                        };
                        char labels[256];

                        if (!group_listed(m, g, a, now))
                                continue;
                        group_labels(labels, sizeof(labels), g->id, g->devices && g->devices[0] ? g->devices[0] : "");
                        group_gauges[k].sample(f, group_gauges[k].name, labels, sizeof(labels), &v);
                }
        }
        /* Machine level, so that an alert needs no sum(). Every record
         * counts, also one for a group that is gone now. */
        metrics_family(f, "iommutuned_groups_needing_attention", METRIC_GAUGE,
                       "IOMMU groups a failed switch left needing attention (iommuctl status lists them).");
        metrics_sample_u64(f, "iommutuned_groups_needing_attention", "", a->n);
}

/* ---- the flush counters at three levels ------------------------------------ */

static int write_counter_families(FILE *f, Manager *m, uint64_t now) {
        const ManagerView mv = manager_view(m);
        _cleanup_free_ MetricsCounterSeries *series = NULL;
        _cleanup_free_ char *labels = NULL;
        size_t n_max = (mv.state->n_units > mv.state->n_groups ? mv.state->n_units : mv.state->n_groups) + 1, n = 0;
        const size_t label_size = 256;

        series = calloc(n_max, sizeof(*series));
        labels = calloc(n_max, label_size);
        if (!series || !labels)
                return -ENOMEM;

        series[0] = (MetricsCounterSeries) { "", &mv.state->total };
        metrics_counter_families(f, METRICS_LEVEL_MACHINE, series, 1);

        for (size_t i = 0; i < mv.state->n_units; i++) {
                char *l = labels + i * label_size;

                (void) metrics_label(l, label_size, "unit", mv.state->units[i].name);
                series[i] = (MetricsCounterSeries) { l, &mv.state->units[i].counters };
        }
        metrics_counter_families(f, METRICS_LEVEL_UNIT, series, mv.state->n_units);
        for (size_t i = 0; i < mv.state->n_units; i++)
                series[i].counters = &mv.state->units[i].unattributed;
        metrics_counter_families(f, METRICS_LEVEL_UNIT_UNATTRIBUTED, series, mv.state->n_units);

        /* Every group that counted something, also one whose device is gone
         * now: the groups and the unattributed part add up to the units. */
        for (size_t i = 0; i < mv.state->n_groups; i++) {
                const StateGroup *sg = &mv.state->groups[i];
                char *l = labels + n * label_size;

                if (!state_group_listed(sg, now))
                        continue;
                group_labels(l, label_size, sg->group_hint, sg->key);
                series[n++] = (MetricsCounterSeries) { l, &sg->counters };
        }
        metrics_counter_families(f, METRICS_LEVEL_GROUP, series, n);
        return 0;
}

char *manager_metrics_text(Manager *m) {
        _cleanup_free_ char *text = NULL;
        Attention a = {};
        uint64_t now = now_realtime_ns();
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        (void) manager_list_attention(m, &a.recs, &a.n);
        write_machine_families(f, m);
        write_group_gauges(f, m, &a, now);
        r = write_counter_families(f, m, now);
        intent_records_free(a.recs, a.n);
        if (fclose(f) != 0 || r < 0)
                return NULL;
        return TAKE_PTR(text);
}
