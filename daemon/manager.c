/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager-internal.h"
#include "flush-rules.h"
#include "group-lookup.h"
#include "sysfs.h"
#include "topology-output.h"
#include "util.h"

/* The topology changes only on hotplug and on our own switches; rescanning
 * it every this often catches hotplug without paying a scan per tick. */
#define TOPOLOGY_RESCAN_NS (30ULL * 1000000000ULL)

/* After a switch the rebound drivers probe asynchronously: the block and
 * net devices and MSI vectors that tell a group's I/O appear a moment
 * later. The next this many ticks rescan, so that the group's I/O is seen
 * again at once, not after the next periodic rescan. */
#define RESCANS_AFTER_SWITCH 5

static int load_config(const ManagerOptions *o, Config **ret, char ***ret_errors) {
        return config_load(o->config_path, o->dropin_dir, o->config_required ? CONFIG_LOAD_MAIN_REQUIRED : 0, ret,
                           ret_errors);
}

static void log_config_errors(char **errors) {
        for (char **e = errors; e && *e; e++)
                log_error("%s", *e);
}

/* The gid of a group named by the config into *ret: (gid_t) -1 when the
 * name is empty or there is no such group (logged; what_then says what
 * that means). A lookup that fails otherwise (a group database that does
 * not answer: -ETIMEDOUT, -EIO) is logged and returned with *ret (gid_t) -1,
 * so that a reload can refuse it rather than act as if the group were gone. */
static int group_gid(const char *name, const char *key, const char *what_then, gid_t *ret) {
        int q;

        *ret = (gid_t) -1;
        if (isempty(name))
                return 0;
        q = group_lookup_gid(name, ret);
        if (q == -ENOENT) {
                log_warning("%s \"%s\" does not exist; %s", key, name, what_then);
                return 0;
        }
        if (q < 0) {
                log_warning("%s \"%s\" cannot be looked up (%s); %s", key, name, strerror(-q), what_then);
                *ret = (gid_t) -1;
                return q;
        }
        return 0;
}

static int admin_gid(const Config *c, gid_t *ret) {
        return group_gid(config_daemon(c)->admin_group.s, "Admin group", "only root may change policy", ret);
}

/* Applies a reloaded config's admin group to the control socket, or says
 * in *ret_error why the reload is refused. */
static int reload_admin_gid(Manager *m, const Config *c, char **ret_error) {
        const char *name = config_daemon(c)->admin_group.s ?: "";
        gid_t gid;
        int r;

        *ret_error = NULL;
        r = admin_gid(c, &gid);
        if (r < 0) {
                if (asprintf(ret_error, "admin_group = %s: the group cannot be looked up (%s); the running "
                             "configuration is kept", name, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        r = control_server_set_admin_gid(m->control, gid);
        if (r < 0 && asprintf(ret_error, "admin_group = %s: the control socket's group cannot be changed (%s); "
                              "restart the daemon to apply it", name,
                              r == -EPERM ? "it is systemd's socket, or not ours to change" : strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

static int manager_decide(Manager *m, const PolicyGroupRate *rates, uint64_t now_ns);
static void manager_save_state(Manager *m);

static int manager_scan_topology(Manager *m) {
        Topology *t = NULL;
        int r;

        /* What the last scan read and cannot have changed is reused (see
         * topology_rescan()). */
        r = topology_rescan(m->opts.sysfs_root, m->opts.proc_root, m->topology, &t);
        if (r < 0)
                return log_error_errno(r, "Failed to scan the IOMMU topology under %s: %m", m->opts.sysfs_root);
        if (!m->topology || m->topology->n_groups != t->n_groups || m->topology->n_problems != t->n_problems) {
                const char *msg = topology_no_iommu_message(t);

                if (msg)
                        log_notice("%s", msg);
                else
                        log_info("IOMMU topology: %zu units, %zu groups, %zu devices, %zu problems", t->n_units,
                                 t->n_groups, t->n_devices, t->n_problems);
                for (size_t i = 0; i < t->n_problems; i++)
                        log_warning("%s: %s", t->problems[i].subject, t->problems[i].message);
        }
        /* Decisions point into the topology they were made on. */
        m->decisions = policy_decisions_free(m->decisions, m->n_decisions);
        m->n_decisions = 0;
        topology_free(m->topology);
        m->topology = t;
        m->last_topology_scan_ns = now_monotonic_ns();
        if (m->sysfs_fd >= 0)
                (void) manager_read_device_usage(m);
        else
                manager_free_device_usage(m);
        /* The next tick decides again, with its rates: deciding here without
         * them would end the rate runs that sustain_s measures. */
        return 0;
}

/* The state file is written this often, and at exit. */
#define STATE_SAVE_NS (10ULL * 1000000000ULL)

/* What backs mounts, swap and the default route is read this often for
 * `explain`, and again right before any switch that unbinds: it is the
 * dearest part of a tick (mountinfo, swaps, holders, the routing table). */
#define DEVICE_USAGE_REFRESH_NS (10ULL * 1000000000ULL)

/* Before device usage was read, no device is presumed free to unbind. */
#define DEVICE_USAGE_UNKNOWN "may back a mount, swap or the default route: not read yet"

/* now_ns: the time the decision is for; a tick passes the time it was due,
 * so that a rate held for sustain_s is held for exactly that many ticks'
 * worth of time, however long each tick took to sample. */
static int manager_decide(Manager *m, const PolicyGroupRate *rates, uint64_t now_ns) {
        PolicyInput in = {
                .topology = m->topology,
                .config = m->config,
                .rates = rates, /* NULL: unknown */
                .now_ns = now_ns,
        };
        PolicyDeviceFacts *facts;
        PolicyDecision *d = NULL;
        size_t n = 0;
        int r;

        facts = calloc(m->topology->n_devices ? m->topology->n_devices : 1, sizeof(*facts));
        if (!facts)
                return -ENOMEM;
        for (size_t i = 0; i < m->topology->n_devices; i++)
                facts[i].in_use = m->n_device_in_use == m->topology->n_devices ? m->device_in_use[i]
                                                                                : DEVICE_USAGE_UNKNOWN;
        in.devices = facts;
        /* The old decisions go first, so the new ones reuse their memory
         * rather than raise the heap's high-water mark by as much (~0.5
         * MiB on 300 groups); after a failure there are none either: they
         * point at device usage that may have been read again since, and
         * none is better than a stale one. */
        m->decisions = policy_decisions_free(m->decisions, m->n_decisions);
        m->n_decisions = 0;
        free(m->device_facts);
        m->device_facts = NULL;
        r = policy_decide(&in, &m->policy_state, &d, &n);
        if (r < 0) {
                free(facts);
                return log_error_errno(r, "The policy failed to decide: %m");
        }
        m->decisions = d;
        m->n_decisions = n;
        m->device_facts = facts;
        m->decisions_config = config_free(m->decisions_config);
        return 0;
}

static void manager_notify_status(Manager *m) {
        size_t lazy = 0, strict = 0;

        for (size_t i = 0; m->topology && i < m->topology->n_groups; i++) {
                GroupType t = m->topology->groups[i].type;

                lazy += t == GROUP_TYPE_DMA_FQ;
                strict += t == GROUP_TYPE_DMA;
        }
        (void) sd_notifyf(false, "STATUS=%s mode, %zu groups (%zu strict, %zu lazy), tick %llu\nWATCHDOG=1",
                          daemon_mode_to_string(config_daemon(m->config)->mode.mode),
                          m->topology ? m->topology->n_groups : 0, strict, lazy, (unsigned long long) m->ticks);
}

int manager_save_state_now(Manager *m) {
        manager_save_state(m);
        return m->state_save_error;
}

ManagerView manager_view(const Manager *m) {
        return (ManagerView) {
                .config = m->config,
                .topology = m->topology,
                .state = &m->state,
                .decisions = m->decisions,
                .n_decisions = m->n_decisions,
                .flush = m->flush,
                .workload = m->workload,
                .driver_evidence = &m->driver_evidence,
                .flush_rules = m->flush_rules,
                .cost_source = invalidation_cost_source(&m->invalidation_cost),
                .attribution = m->attribution,
                .last_reload_error = m->last_reload_error,
                .tick_cost = &m->tick_cost,
                .switch_outcomes = m->switch_outcomes,
                .control = m->control,
                .reader = m->reader,
                .started_ns = m->started_ns,
                .last_tick_ns = m->last_tick_ns,
                .ticks = m->ticks,
                .reload_failures = m->reload_failures,
                .ticks_with_lost_records = m->ticks_with_lost_records,
                .last_tick_records_lost = m->last_tick_records_lost,
                .state_save_error = m->state_save_error,
                .state_save_failures = m->state_save_failures,
        };
}

ReplyCache *manager_reply_cache(Manager *m) {
        return &m->replies;
}

const PolicyDecision *manager_decision(const Manager *m, unsigned group) {
        for (size_t i = 0; i < m->n_decisions; i++)
                if (m->decisions[i].group == group)
                        return &m->decisions[i];
        return NULL;
}

int manager_list_attention(Manager *m, IntentRecord **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        if (m->state_dir_fd < 0)
                return 0;
        return intent_log_list_attention(&m->switch_ctx, ret, ret_n);
}

StateGroup *manager_group_state(const Manager *m, const IommuGroup *g) {
        return state_group_find(&m->state, iommu_group_key(g));
}

const char *manager_state_dir(const Manager *m) {
        return m->opts.state_dir ? m->opts.state_dir : config_daemon(m->config)->state_dir.s;
}

static void manager_save_state(Manager *m) {
        int r;

        /* Only a state read under the lock is written back, and never by a
         * dry run. */
        if (m->state_dir_fd < 0 || !m->state_loaded || m->opts.read_only)
                return;
        r = state_save(m->state_dir_fd, &m->state);
        /* The save's JSON tree and text (~1 MiB on 300 groups) are freed
         * now: give the pages back instead of keeping the heap at that
         * high-water mark until the next save. */
        (void) malloc_trim(0);
        if (r < 0) {
                /* Logged when it starts failing, then once it works again. */
                if (m->state_save_error != r)
                        log_error_errno(r, "Failed to write the state file in %s: %m", manager_state_dir(m));
                m->state_save_failures++;
        } else if (m->state_save_error < 0)
                log_notice("The state file in %s is written again", manager_state_dir(m));
        m->state_save_error = r < 0 ? r : 0;
        m->last_state_save_ns = now_monotonic_ns();
}

/* Adds one tick's counters to the cumulative state. Groups are keyed by
 * their first device, which survives renumbering across boots. */
static void manager_add_counters(Manager *m, const AccountingTick *a) {
        const Topology *t = m->topology;

        for (size_t i = 0; i < t->n_groups; i++) {
                StateGroup *g;

                if (!iommu_group_key(&t->groups[i]))
                        continue;
                g = state_group(&m->state, iommu_group_key(&t->groups[i]), t->groups[i].id);
                if (g)
                        state_counters_add(&g->counters, &a->groups[i]);
        }
        for (size_t i = 0; i < t->n_units; i++) {
                StateUnit *u = state_unit(&m->state, t->units[i].name);

                if (u) {
                        state_counters_add(&u->counters, &a->units[i]);
                        state_counters_add(&u->unattributed, &a->unattributed[i]);
                }
        }
        state_counters_add(&m->state.total, &a->total);
}

uint64_t manager_flush_cost_ns(const Manager *m) {
        uint64_t configured = config_policy(m->config)->flush_cost_ns.u;

        return invalidation_cost_ns(&m->invalidation_cost, configured);
}

/* After a switch: reads the types back, and decides again on the new
 * topology with the same tick's rates (matched by group id, the topology
 * may have changed under us), so that every group keeps its decision and
 * reason. Deciding twice for one due time with one rate leaves the rate
 * runs as they were; nothing is switched by this second decision. */
static void manager_rescan_after_switch(Manager *m, const PolicyGroupRate *rates, uint64_t due_ns) {
        size_t n_old = m->topology->n_groups;
        _cleanup_free_ unsigned *old_ids = calloc(n_old + 1, sizeof(*old_ids));
        _cleanup_free_ PolicyGroupRate *matched = NULL;

        for (size_t i = 0; old_ids && i < n_old; i++)
                old_ids[i] = m->topology->groups[i].id;
        m->rescans_pending = RESCANS_AFTER_SWITCH;
        if (manager_scan_topology(m) < 0 || !old_ids)
                return;
        if (!rates) {
                (void) manager_decide(m, NULL, due_ns);
                return;
        }
        matched = calloc(m->topology->n_groups + 1, sizeof(*matched));
        if (!matched)
                return;
        for (size_t j = 0; j < m->topology->n_groups; j++)
                for (size_t i = 0; i < n_old; i++)
                        if (old_ids[i] == m->topology->groups[j].id) {
                                matched[j] = rates[i];
                                break;
                        }
        (void) manager_decide(m, matched, due_ns);
}

/* The type of a group doing I/O decides how its flushes are counted; an
 * operator may have written it since the last scan (every 30 s). Reading
 * it again costs one small file per busy group. */
static void manager_reread_active_types(Manager *m, const bool *active) {
        for (size_t i = 0; active && i < m->topology->n_groups; i++) {
                const char *was = m->topology->groups[i].type_raw;
                char before[64];

                if (!active[i])
                        continue;
                snprintf(before, sizeof(before), "%s", was ? was : "unreadable");
                if (topology_reread_group_type(m->topology, m->sysfs_fd, i) > 0)
                        log_info("Group %u changed from %s to %s outside this tick's switches",
                                 m->topology->groups[i].id, before, m->topology->groups[i].type_raw);
        }
}

/* Whether a decision proposes a switch that unbinds drivers. */
static bool manager_decisions_unbind(const Manager *m) {
        for (size_t i = 0; i < m->n_decisions; i++)
                if (m->decisions[i].action == POLICY_ACTION_SWITCH &&
                    group_switch_needs_rebind(m->decisions[i].current, m->decisions[i].desired))
                        return true;
        return false;
}

/* A domain id no map knows, page-selectively invalidated in consecutive
 * ticks while one group alone moved data, is that group's (group-attribution.h): learned for
 * its devices on that unit until they are attached again. */
static void manager_learn_domains(Manager *m, const AccountingTick *a) {
        for (size_t i = 0; i < a->n_learn; i++) {
                const AccountingDomainSeen *l = &a->learn[i];
                const IommuGroup *g;

                if (l->group < 0 || (size_t) l->group >= m->topology->n_groups)
                        continue;
                g = &m->topology->groups[l->group];
                if (domain_learner_see(&m->domain_learner, l->unit, l->did, g->id, m->ticks) <= 0)
                        continue;
                for (char **dev = g->devices; dev && *dev; dev++) {
                        const Device *d = topology_find_device(m->topology, *dev);

                        if (!d || !d->unit || !streq(d->unit, l->unit))
                                continue;
                        if (domain_map_learn(flush_sampler_domain_map(m->flush), l->unit, *dev, l->did) > 0)
                                log_info("Learned domain id %u on %s for %s (group %u): %s", l->did, l->unit, *dev,
                                         g->id, l->how);
                }
        }
}

static struct GroupUnmapsPerOp *unmaps_per_op_find(Manager *m, unsigned group) {
        for (size_t i = 0; i < m->n_unmaps_per_op; i++)
                if (m->unmaps_per_op[i].group == group)
                        return &m->unmaps_per_op[i];
        return NULL;
}

/* Each group's unmaps per I/O operation, measured in ticks when its count
 * was exact: what its operations weigh when unmaps are apportioned. */
static double *manager_unmaps_per_op(Manager *m) {
        double *r = calloc(m->topology->n_groups + 1, sizeof(double));

        for (size_t i = 0; r && i < m->topology->n_groups; i++) {
                const struct GroupUnmapsPerOp *u = unmaps_per_op_find(m, m->topology->groups[i].id);

                r[i] = u ? u->unmaps_per_op : 0;
        }
        return r;
}

static void manager_update_unmaps_per_op(Manager *m, const AccountingTick *a, const uint64_t *io_ops) {
        for (size_t i = 0; io_ops && i < m->topology->n_groups; i++) {
                unsigned id = m->topology->groups[i].id;
                struct GroupUnmapsPerOp *u = unmaps_per_op_find(m, id);
                double prev = u ? u->unmaps_per_op : 0;
                double next = attribution_unmaps_per_op(prev, a->sources[i], a->tick_unmaps[i], io_ops[i]);

                if (next == prev)
                        continue;
                if (!u) {
                        if (greedy_realloc((void **) &m->unmaps_per_op, &m->unmaps_per_op_allocated,
                                           m->n_unmaps_per_op + 1, sizeof(*m->unmaps_per_op)) < 0)
                                return;
                        u = &m->unmaps_per_op[m->n_unmaps_per_op++];
                        u->group = id;
                }
                u->unmaps_per_op = next;
        }
}

/* Samples, accounts and decides: one monitoring step. */
static void manager_monitor(Manager *m, uint64_t now, uint64_t due_ns, double interval_s) {
        const DeviceWorkload *work = NULL;
        const bool *active = NULL;
        AccountingTick a = { .unmaps_group = -1 };
        FlushTick ft = {};
        int r;

        /* Without an IOMMU there is nothing to sample or decide: the daemon
         * runs idle and answers with topology_no_iommu_message(). */
        if (!m->flush || !m->workload || topology_no_iommu_message(m->topology))
                return;
        r = flush_sampler_collect(m->flush, &ft);
        tick_cost_charge(&m->tick_cost, TICK_PHASE_FLUSH);
        if (r >= 0)
                r = workload_sample(m->workload, m->topology, now, &work, &active);
        tick_cost_charge(&m->tick_cost, TICK_PHASE_WORKLOAD);
        if (r >= 0)
                manager_reread_active_types(m, active);
        if (r >= 0) {
                _cleanup_free_ double *per_op = manager_unmaps_per_op(m);
                AccountingInput in = {
                        .topology = m->topology,
                        .tick = &ft,
                        .map = flush_sampler_domain_map(m->flush),
                        .group_active = active,
                        .group_io_ops = workload_group_io_ops(m->workload),
                        .group_unmaps_per_op = per_op,
                        .group_moved_data = workload_group_moved_data(m->workload),
                        .exact_carry_in = m->exact_carry,
                        .iova_api = m->iova_api,
                        .interval_s = interval_s,
                        .cost_ns = manager_flush_cost_ns(m),
                        .strict_credit_in = m->strict_credit,
                        .strict_debit_in = m->strict_debit,
                        .patch_credit_in = m->patch_credit,
                };

                r = accounting_compute(&in, &a);
        }
        if (r < 0) {
                log_error_errno(r, "Monitoring failed this tick: %m");
                m->strict_credit = m->patch_credit = 0;
                m->strict_debit = 0;
                m->exact_carry = 0;
                (void) manager_decide(m, NULL, due_ns);
                accounting_tick_done(&a);
                return;
        }
        if (ft.unmap_records_lost || ft.qi_records_lost || ft.dma_records_lost)
                m->ticks_with_lost_records++;
        m->last_tick_records_lost = ft.unmap_records_lost + ft.qi_records_lost + ft.dma_records_lost;
        a.total.unmap_records_lost = ft.unmap_records_lost;
        a.total.qi_records_lost = ft.qi_records_lost;
        a.total.dma_records_lost = ft.dma_records_lost;
        manager_add_counters(m, &a);
        m->strict_credit = a.strict_credit_out;
        m->strict_debit = a.strict_debit_out;
        m->exact_carry = a.exact_carry_out;
        m->patch_credit = a.patch_credit_out;
        m->driver_evidence.mixed_unmaps += a.evidence.mixed_unmaps;
        m->driver_evidence.unpatched_would_pay += a.evidence.unpatched_would_pay;
        m->driver_evidence.page_selective_seen += a.evidence.page_selective_seen;
        snprintf(m->attribution, sizeof(m->attribution), "%s", a.attribution);
        manager_learn_domains(m, &a);
        manager_update_unmaps_per_op(m, &a, workload_group_io_ops(m->workload));
        /* The policy dates a run from where its window began, in the time
         * base of its decisions (when ticks were due), not in dispatch
         * times: a late dispatch must not shorten a run. */
        if (a.rates && m->last_tick_due_ns && due_ns > m->last_tick_due_ns)
                for (size_t i = 0; i < m->topology->n_groups; i++)
                        a.rates[i].window_s = (double) (due_ns - m->last_tick_due_ns) / 1e9;
        tick_cost_charge(&m->tick_cost, TICK_PHASE_ACCOUNTING);
        invalidation_cost_sample(&m->invalidation_cost, m->sysfs_fd);
        tick_cost_charge(&m->tick_cost, TICK_PHASE_FLUSH);
        if (now - m->device_usage_read_ns >= DEVICE_USAGE_REFRESH_NS)
                (void) manager_read_device_usage(m);
        tick_cost_charge(&m->tick_cost, TICK_PHASE_DEVICE_USAGE);
        (void) manager_decide(m, a.rates, due_ns);
        /* A switch that unbinds is judged on what the devices back now. */
        if (manager_decisions_unbind(m) && m->device_usage_read_ns < now) {
                tick_cost_charge(&m->tick_cost, TICK_PHASE_POLICY);
                (void) manager_read_device_usage(m);
                tick_cost_charge(&m->tick_cost, TICK_PHASE_DEVICE_USAGE);
                (void) manager_decide(m, a.rates, due_ns);
        }
        if (manager_apply_decisions(m)) {
                /* A switch is in the history at once, not at the next 10 s
                 * save: a crash right after it must not forget it for
                 * min_dwell_s and max_switches_per_hour. */
                manager_save_state(m);
                manager_rescan_after_switch(m, a.rates, due_ns);
        }
        accounting_tick_done(&a);
        tick_cost_charge(&m->tick_cost, TICK_PHASE_POLICY);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t interval_us = config_daemon(m->config)->interval_ms.u * 1000ULL;
        uint64_t now = now_monotonic_ns();
        uint64_t since = m->last_tick_ns ? m->last_tick_ns : m->started_ns;
        json_object *update;
        int r;

        m->ticks++;
        m->last_tick_ns = now;
        manager_replies_invalidate(m); /* the last tick's replies are stale: not kept in memory */
        tick_cost_begin(&m->tick_cost);
        if (m->rescans_pending > 0 || now - m->last_topology_scan_ns >= TOPOLOGY_RESCAN_NS) {
                if (m->rescans_pending > 0)
                        m->rescans_pending--;
                (void) manager_scan_topology(m);
        }
        tick_cost_charge(&m->tick_cost, TICK_PHASE_TOPOLOGY);
        /* Decisions are dated by when the tick was due (usec): ticks are due
         * exactly one interval apart, while `now` jitters with dispatch. */
        manager_monitor(m, now, usec * 1000ULL < now ? usec * 1000ULL : now, (double) (now - since) / 1e9);
        m->last_tick_due_ns = usec * 1000ULL < now ? usec * 1000ULL : now;
        if (now - m->last_state_save_ns >= STATE_SAVE_NS)
                manager_save_state(m);

        update = control_server_watchers(m->control) + (m->reader ? control_server_watchers(m->reader) : 0) > 0
                         ? manager_watch_update(m)
                         : NULL;
        if (update) {
                control_server_broadcast(m->control, update);
                if (m->reader)
                        control_server_broadcast(m->reader, update);
                json_object_put(update);
        }
        manager_notify_status(m);
        tick_cost_charge(&m->tick_cost, TICK_PHASE_OUTPUT);

        /* The next tick is due one interval after this one was due, so a
         * late dispatch does not push every later tick back. */
        {
                uint64_t now_us = 0, next = usec + interval_us;

                (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now_us);
                if (next <= now_us)
                        next = now_us + interval_us;
                r = sd_event_source_set_time(s, next);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to re-arm the monitoring tick: %m");
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata, NULL);
        return 0;
}

int manager_reload(Manager *m, char ***ret_errors) {
        _cleanup_strv_free_ char **errors = NULL;
        const DaemonSettings *old, *new;
        Config *c = NULL;
        char *e = NULL;
        int r;

        m->reloads++;
        manager_replies_invalidate(m); /* SIGHUP too */
        r = load_config(&m->opts, &c, &errors);
        /* admin_group: the privilege checks and the socket's group change
         * together, or the reload is refused; never half. */
        if (r >= 0 && m->control && (r = reload_admin_gid(m, c, &e)) < 0) {
                config_free(c);
                c = NULL;
                r = strv_consume(&errors, e) < 0 ? -ENOMEM : -EINVAL;
        }
        if (r < 0) {
                m->reload_failures++;
                free(m->last_reload_error);
                m->last_reload_error = errors && errors[0] ? strdup(errors[0]) : NULL;
                log_error("Reloading the configuration failed; keeping the running one:");
                log_config_errors(errors);
                if (ret_errors)
                        *ret_errors = TAKE_PTR(errors);
                return r;
        }
        old = config_daemon(m->config);
        new = config_daemon(c);
        /* The tick keeps its phase unless its interval changed. */
        if (new->interval_ms.u != old->interval_ms.u)
                (void) sd_event_source_set_time_relative(m->tick_source, new->interval_ms.u * 1000ULL);
        if (!m->opts.socket_path && !streq_ptr(new->socket.s, old->socket.s))
                log_notice("socket changed to %s: it takes effect at the next start", new->socket.s);
        if (!m->opts.state_dir && !streq_ptr(new->state_dir.s, old->state_dir.s))
                log_notice("state_dir changed to %s: it takes effect at the next start", new->state_dir.s);
        /* The last tick's decisions stay until the next tick decides under
         * the new config, so groups, explain and watch stay complete; they
         * point into the config they were made with, kept until then. */
        if (m->decisions && !m->decisions_config)
                m->decisions_config = m->config;
        else
                config_free(m->config);
        m->config = c;
        free(m->last_reload_error); /* a good reload clears the last one's error */
        m->last_reload_error = NULL;
        manager_forget_refusals(m);
        manager_forget_advice(m);
        log_info("Configuration reloaded");
        return 0;
}

int manager_new(const ManagerOptions *opts, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->opts = *opts;
        m->sysfs_fd = m->proc_fd = m->state_dir_fd = -EBADF;
        r = load_config(opts, &m->config, &errors);
        if (r < 0) {
                log_config_errors(errors);
                return r;
        }
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* The counters of the last seconds are not lost at a clean stop. */
        manager_save_state(m);
        manager_replies_invalidate(m);
        control_server_free(m->control);
        control_server_free(m->reader);
        sd_event_source_disable_unref(m->tick_source);
        invalidation_cost_stop(&m->invalidation_cost, m->sysfs_fd);
        for (size_t i = 0; i < m->n_flush_ring_sources; i++)
                sd_event_source_disable_unref(m->flush_ring_sources[i]);
        free(m->flush_ring_sources);
        flush_sampler_free(m->flush);
        workload_sampler_free(m->workload);
        domain_learner_done(&m->domain_learner);
        free(m->unmaps_per_op);
        state_done(&m->state);
        free(m->state_warning);
        closep(&m->sysfs_fd);
        closep(&m->proc_fd);
        closep(&m->state_dir_fd);
        manager_free_device_usage(m);
        manager_forget_refusals(m);
        manager_forget_advice(m);
        sd_event_unref(m->event);
        policy_decisions_free(m->decisions, m->n_decisions);
        free(m->device_facts);
        policy_state_done(&m->policy_state);
        topology_free(m->topology);
        config_free(m->config);
        config_free(m->decisions_config);
        free(m->last_reload_error);
        free(m);
        return NULL;
}

/* The read-only socket (reader_socket, for reader_group), from systemd
 * (the socket named "reader") or bound here. */
static int open_reader_socket(Manager *m, int listen_fd) {
        const DaemonSettings *d = config_daemon(m->config);
        gid_t gid;
        int r;

        if (isempty(d->reader_group.s)) {
                if (listen_fd >= 0)
                        close(listen_fd);
                return 0;
        }
        /* Bound here only for a group that exists: a socket nobody but root
         * may use is no use, and a daemon run by hand (a test) must not
         * take the system's path for it. */
        (void) group_gid(d->reader_group.s, "Reader group", "no read-only socket", &gid); /* logged */
        if (gid == (gid_t) -1 && listen_fd < 0)
                return 0;
        r = control_server_new(m->event, d->reader_socket.s, listen_fd, gid, manager_handle_request, m, &m->reader);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s: %m", d->reader_socket.s);
        control_server_set_read_only(m->reader);
        log_info("Read-only socket for %s: %s%s", d->reader_group.s, listen_fd >= 0 ? "the socket systemd passed, " : "",
                 d->reader_socket.s);
        return 0;
}

static int open_control_socket(Manager *m) {
        const char *path = m->opts.socket_path ? m->opts.socket_path : config_daemon(m->config)->socket.s;
        int n, listen_fd = -1, reader_fd = -1, r;
        gid_t gid;
        char **names = NULL;

        /* systemd passes the main socket (iommutuned.socket) and the one
         * named "reader" (iommutuned-reader.socket, FileDescriptorName=). */
        n = sd_listen_fds_with_names(true, &names);
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                bool reader = names && names[i] && streq(names[i], "reader");

                if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0 || (reader ? reader_fd : listen_fd) >= 0) {
                        strv_free(names);
                        return log_error_errno(EINVAL, "systemd passed %d sockets; expected one listening Unix "
                                                       "stream socket, and one named \"reader\"", n);
                }
                if (reader)
                        reader_fd = fd;
                else
                        listen_fd = fd;
        }
        strv_free(names);
        if (n > 0 && listen_fd < 0)
                return log_error_errno(EINVAL, "systemd passed only the reader socket; the main one is missing");
        if (n < 1) {
                /* The directory is systemd's RuntimeDirectory; create it when
                 * run by hand. */
                _cleanup_free_ char *dir = strdup(path);
                char *slash = dir ? strrchr(dir, '/') : NULL;

                if (slash && slash != dir) {
                        *slash = '\0';
                        (void) mkdir_parents(dir, 0755);
                }
        }
        /* At start a group database that does not answer leaves policy to
         * root (logged); a reload applies the group once it answers. */
        (void) admin_gid(m->config, &gid);
        r = control_server_new(m->event, path, listen_fd, gid, manager_handle_request, m, &m->control);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s: %m", path);
        log_info("Listening on %s%s", n >= 1 ? "the socket systemd passed, " : "", path);
        return open_reader_socket(m, reader_fd);
}

/* As sshd's StrictModes: a state directory that someone other than root
 * and our own user may write to is refused, since whoever can write there
 * can plant intent records that make the daemon bind drivers, or state that
 * pins groups lazy. */
static int check_state_dir_owner(int dir_fd, const char *dir) {
        struct stat st;

        if (fstat(dir_fd, &st) < 0)
                return log_error_errno(errno, "Failed to stat the state directory %s: %m", dir);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return log_error_errno(EPERM, "The state directory %s belongs to uid %u, not to root or to this "
                                       "daemon's user (uid %u): refusing it; chown it or choose another",
                                       dir, (unsigned) st.st_uid, (unsigned) geteuid());
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return log_error_errno(EPERM, "The state directory %s is writable by %s (mode %04o): refusing it; "
                                       "chmod go-w %s",
                                       dir, st.st_mode & S_IWOTH ? "everyone" : "its group",
                                       (unsigned) (st.st_mode & 07777), dir);
        return 0;
}

static int open_state(Manager *m) {
        const char *dir = m->opts.state_dir ? m->opts.state_dir : config_daemon(m->config)->state_dir.s;
        int r;

        /* systemd's StateDirectory creates it; by hand, we do. */
        r = mkdir_parents(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create the state directory %s: %m", dir);
        m->state_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->state_dir_fd < 0)
                return log_error_errno(errno, "Failed to open the state directory %s: %m", dir);
        r = check_state_dir_owner(m->state_dir_fd, dir);
        if (r < 0) {
                closep(&m->state_dir_fd);
                m->state_dir_fd = -EBADF;
                return r;
        }
        /* One writer at a time: the daemon holds the lock for its life, and a
         * one-off switch or --recover must not finish another's intent
         * record or overwrite its state.json. A dry run writes nothing. */
        if (!m->opts.read_only && flock(m->state_dir_fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;

                closep(&m->state_dir_fd);
                m->state_dir_fd = -EBADF;
                if (e == EWOULDBLOCK)
                        return log_error_errno(EBUSY,
                                               "Another iommutuned uses the state directory %s (the running daemon?): "
                                               "while it runs, change groups with iommuctl set",
                                               dir);
                return log_error_errno(e, "Failed to lock the state directory %s: %m", dir);
        }
        r = state_load(m->state_dir_fd, &m->state, &m->state_warning);
        if (r < 0)
                return log_error_errno(r, "Failed to load the state from %s: %m", dir);
        m->state_loaded = true;
        if (m->state_warning)
                log_warning("%s", m->state_warning);
        return 0;
}

/* A perf ring is a quarter full: parse it now rather than at the tick, so
 * rings sized for the machine need not hold a whole tick of records. */
static int on_flush_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        if (flush_sampler_drain(m->flush) == -ENOMEM)
                log_warning("Out of memory parsing perf records; the tick's counts are incomplete");
        return 0;
}

static void watch_flush_rings(Manager *m) {
        size_t n = flush_sampler_n_ring_fds(m->flush);

        if (n == 0 || !(m->flush_ring_sources = calloc(n, sizeof(sd_event_source *))))
                return;
        for (size_t i = 0; i < n; i++) {
                int r = sd_event_add_io(m->event, &m->flush_ring_sources[m->n_flush_ring_sources],
                                        flush_sampler_ring_fd(m->flush, i), EPOLLIN, on_flush_ring, m);

                if (r < 0) {
                        log_warning_errno(r, "Cannot watch perf ring %zu, drained once per tick only: %m", i);
                        continue;
                }
                m->n_flush_ring_sources++;
        }
}

static int open_samplers(Manager *m) {
        int r;

        if (streq(m->opts.sysfs_root, "/sys")) {
                GatherRules rules = flush_rules_for_machine(m->topology);

                gather_rules_describe(&rules, flush_rules_iova_api(m->topology), m->flush_rules,
                                      sizeof(m->flush_rules));
                log_info("Flush model: %s", m->flush_rules);
                r = flush_sampler_new(m->sysfs_fd, &rules, &m->flush);
                /* IOVA-API unmaps flush at once in either mode and fire no
                 * dma:* event: only those with one count as what lazy mode
                 * would batch. */
                m->iova_api = flush_rules_iova_api(m->topology);
                log_info("IOVA-based DMA API path: %s",
                         m->iova_api ? "in this kernel: only unmaps with a dma:* event count as what lazy mode "
                                       "would batch"
                                     : "not in this kernel: every unmap goes through the flush queue when lazy");
        } else
                r = flush_sampler_new_disabled("perf counts the running kernel, and --sysfs-root reads another tree",
                                               &m->flush);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the flush sampler: %m");
        watch_flush_rings(m);
        r = workload_sampler_new(m->sysfs_fd, m->proc_fd, &m->workload);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the workload sampler: %m");
        log_info("Map/unmap counters: %s", flush_sampler_status_counters(m->flush));
        log_info("Unmap records: %s", flush_sampler_status_unmap_records(m->flush));
        log_info("Invalidation records: %s", flush_sampler_status_qi(m->flush));
        log_info("Unmaps by device: %s", flush_sampler_status_dma(m->flush));
        log_info("Domain ids at attach: %s", flush_sampler_status_cache_tag(m->flush));
        log_info("Workload: %s", workload_status(m->workload));
        /* flush_cost_ns = 0 asks for a measurement: VT-d debugfs times
         * IOTLB invalidations (CONFIG_INTEL_IOMMU_DEBUGFS). */
        if (invalidation_cost_start(&m->invalidation_cost, m->sysfs_fd, config_policy(m->config)->flush_cost_ns.u,
                                    m->topology->kernel.intel_debugfs && streq(m->opts.sysfs_root, "/sys")) > 0)
                log_info("Timing IOTLB invalidations with debugfs dmar_perf_latency (flush_cost_ns = 0)");
        return 0;
}

/* What both the daemon and a one-off switch need first: the roots, the
 * topology, the state, and recovery of an interrupted switch, which runs
 * before anything else looks at the groups. */
int manager_open(Manager *m) {
        int r;

        m->started_ns = now_monotonic_ns();
        m->sysfs_fd = sysfs_open_root(m->opts.sysfs_root);
        if (m->sysfs_fd < 0)
                return log_error_errno(m->sysfs_fd, "Failed to open %s: %m", m->opts.sysfs_root);
        m->proc_fd = sysfs_open_root(m->opts.proc_root);
        if (m->proc_fd < 0)
                return log_error_errno(m->proc_fd, "Failed to open %s: %m", m->opts.proc_root);
        r = manager_scan_topology(m);
        if (r >= 0)
                r = open_state(m);
        if (r < 0)
                return r;
        switch_context_init(&m->switch_ctx, m->sysfs_fd, m->state_dir_fd);
        (void) switch_context_read_kernel(&m->switch_ctx, m->proc_fd);
        (void) switch_context_test_hooks_from_env(&m->switch_ctx);
        manager_restore_switch_log(m); /* before recovery adds to the history */
        if (m->opts.read_only) {
                log_notice("Dry run: an interrupted switch is not recovered here "
                           "(the daemon does that at start, or iommutuned --recover)");
                return 0;
        }
        r = manager_recover(m);
        if (r < 0)
                return r;
        return manager_scan_topology(m); /* recovery may have changed types */
}

int manager_decide_now(Manager *m) {
        (void) manager_read_device_usage(m);
        return manager_decide(m, NULL, now_monotonic_ns());
}

int manager_prepare_switching(Manager *m) {
        int r = manager_open(m);

        return r < 0 ? r : manager_decide_now(m);
}

int manager_start(Manager *m) {
        int r;

        r = manager_open(m);
        if (r < 0)
                return r;
        manager_restore_overrides(m);
        r = open_samplers(m);
        if (r < 0)
                return r;
        /* Signals before the socket: a client that sees the socket may stop
         * the daemon at once, and SIGTERM must then be a clean stop. */
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_hup, m)) < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");
        r = open_control_socket(m);
        if (r < 0)
                return r;
        (void) signal(SIGPIPE, SIG_IGN);
        /* Accuracy 1 ms: sd-event's default (250 ms) would stretch the tick. */
        r = sd_event_add_time_relative(m->event, &m->tick_source, CLOCK_MONOTONIC,
                                       config_daemon(m->config)->interval_ms.u * 1000ULL, 1000, on_tick, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the monitoring tick: %m");
        /* Pings the watchdog from the loop itself when WATCHDOG_USEC is set,
         * so a stuck loop is noticed; on_tick also sends WATCHDOG=1. */
        (void) sd_event_set_watchdog(m->event, true);
        (void) sd_notify(false, "READY=1");
        manager_notify_status(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);

        (void) sd_notify(false, "STOPPING=1");
        if (config_daemon(m->config)->restore_on_exit.b && config_daemon(m->config)->mode.mode == DAEMON_MODE_ADVISE)
                log_info("restore_on_exit = yes, but mode = advise writes nothing: the groups stay as they are");
        else if (config_daemon(m->config)->restore_on_exit.b) {
                log_info("Putting back the groups this daemon changed (restore_on_exit = yes)");
                manager_restore_groups(m);
        }
        return r;
}
