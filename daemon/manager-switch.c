/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Manager's side of switching: what the devices are used for, recovery
 * of an interrupted switch at start, applying (enforce) or recording
 * (advise) the policy's decisions, manual overrides, and putting groups
 * back at exit. The writes themselves are group-switch.c's.
 */
#include <stdio.h>

#include "device-usage.h"
#include "group-switch.h"
#include "intent-log.h"
#include "log.h"
#include "manager-internal.h"
#include "recovery.h"
#include "util.h"

/* ---- device usage ------------------------------------------------------ */

void manager_free_device_usage(Manager *m) {
        /* Neighbours may share one string (see below): each freed once. */
        for (size_t i = 0; m->device_in_use && i < m->n_device_in_use; i++)
                if (i == 0 || m->device_in_use[i] != m->device_in_use[i - 1])
                        free(m->device_in_use[i]);
        free(m->device_in_use);
        m->device_in_use = NULL;
        m->n_device_in_use = 0;
}

/* Reads what every device backs. A device whose usage cannot be read is
 * said to be possibly in use: an unknown usage is never "free". */
int manager_read_device_usage(Manager *m) {
        _cleanup_(device_usage_freep) DeviceUsage *u = NULL;
        const Topology *t = m->topology;
        char **in_use;
        int r;

        in_use = calloc(t->n_devices + 1, sizeof(char *));
        if (!in_use)
                return -ENOMEM;
        r = device_usage_read(m->proc_fd, m->sysfs_fd, NULL, NULL, &u);
        for (size_t i = 0; i < t->n_devices; i++) {
                int k = 0;

                /* When reading failed, every device says the same: one
                 * string, shared by all (not a copy per device). */
                if (r < 0 && i > 0)
                        in_use[i] = in_use[0];
                else if (r < 0)
                        k = asprintf(&in_use[i], "may back a mount, swap or the default route: reading them "
                                                 "failed (%s)", strerror(-r));
                else
                        k = device_usage_of(u, &t->devices[i], &in_use[i]);
                if (k < 0) {
                        /* Out of memory: no answer at all rather than a
                         * "not in use" for this device. Without an answer
                         * every device counts as possibly in use. */
                        for (size_t j = 0; j < i; j++)
                                free(in_use[j]);
                        free(in_use);
                        manager_free_device_usage(m);
                        return -ENOMEM;
                }
        }
        manager_free_device_usage(m);
        m->device_in_use = in_use;
        m->n_device_in_use = t->n_devices;
        m->device_usage_read_ns = now_monotonic_ns();
        return 0;
}

/* ---- recovery at start ------------------------------------------------- */

static int may_unbind(void *userdata, const char *bdf, const char *driver, char **ret_why_not) {
        Manager *m = userdata;
        const Device *d = topology_find_device(m->topology, bdf);
        size_t i;

        if (!d)
                return 1; /* gone: nothing of it can be in use */
        i = (size_t) (d - m->topology->devices);
        if (m->n_device_in_use != m->topology->n_devices) {
                *ret_why_not = strdup("may back a mount, swap or the default route: not read");
                return 0;
        }
        if (m->device_in_use[i]) {
                *ret_why_not = strdup(m->device_in_use[i]);
                return 0;
        }
        return 1;
}

int manager_recover(Manager *m) {
        RecoveryOptions opts = { .may_unbind = may_unbind, .userdata = m };
        RecoveryReport report = {};
        int r;

        r = intent_log_recover(&m->switch_ctx, &opts, &report);
        for (char **l = report.lines; l && *l; l++)
                log_notice("Recovery: %s", *l);
        if (report.n_attention > 0)
                log_error("%u group(s) need attention after recovery: see iommuctl status", report.n_attention);
        recovery_report_done(&report);
        if (r < 0)
                return log_error_errno(r, "Failed to recover interrupted switches: %m");
        return 0;
}

/* ---- switching ---------------------------------------------------------- */

static const char *first_device(const IommuGroup *g) {
        return iommu_group_key(g) ?: "";
}

static void record_result(Manager *m, const PolicyDecision *d, const SwitchResult *res) {
        const IommuGroup *g = topology_find_group(m->topology, d->group);
        const char *key = g ? first_device(g) : "";
        char result[256];

        if (res->outcome >= 0 && res->outcome < _SWITCH_OUTCOME_MAX)
                m->switch_outcomes[res->outcome]++;
        snprintf(result, sizeof(result), "%s: %s", switch_outcome_to_string(res->outcome),
                 res->message ? res->message : "");
        (void) state_record_switch(&m->state, now_realtime_ns(), d->group, key, group_type_to_string(res->from),
                                   group_type_to_string(res->to), result);
        if (res->outcome == SWITCH_OUTCOME_DONE || res->outcome == SWITCH_OUTCOME_OTHER_TYPE) {
                PolicyGroupState *ps = policy_state_get(&m->policy_state, d->group);
                StateGroup *sg = *key ? state_group(&m->state, key, d->group) : NULL;

                /* On the decisions' clock (when the tick was due), so that
                 * min_dwell_s is counted in whole ticks like sustain_s. */
                if (ps)
                        policy_group_state_record_switch(ps, d->now_ns ? d->now_ns : now_monotonic_ns());
                /* Rebound: the group has a new domain; what was learned of
                 * the old one no longer holds. */
                if (g && m->flush && group_switch_needs_rebind(res->from, res->to))
                        for (char **dev = g->devices; dev && *dev; dev++)
                                if (domain_map_forget_device(flush_sampler_domain_map(m->flush), *dev) > 0)
                                        log_info("Group %u re-attached: the domain id learned for %s is forgotten",
                                                 d->group, *dev);
                /* Remember the kernel's own type the first time we change it. */
                if (sg && !sg->changed_from)
                        sg->changed_from = strdup(group_type_to_string(res->from));
                else if (sg && sg->changed_from && streq(sg->changed_from, group_type_to_string(res->final_type))) {
                        free(sg->changed_from); /* back where the kernel had it */
                        sg->changed_from = NULL;
                }
        }
}

void manager_record_manual_switch(Manager *m, const PolicyDecision *d, const SwitchResult *res) {
        record_result(m, d, res);
}

static void log_result(const PolicyDecision *d, const SwitchResult *res, const char *why) {
        const char *dev = d->n_members > 0 ? d->members[0].device->name : "";
        int level = res->outcome == SWITCH_OUTCOME_DONE ? LOG_NOTICE
                  : res->outcome == SWITCH_OUTCOME_NEEDS_ATTENTION ? LOG_ERR
                                                                   : LOG_WARNING;

        log_switch_event(level, d->group, dev, group_type_to_string(res->from), group_type_to_string(res->to), why,
                         "Group %u %s -> %s: %s: %s", d->group, group_type_to_string(res->from),
                         group_type_to_string(res->to), switch_outcome_to_string(res->outcome),
                         res->message ? res->message : "");
        for (char **s = res->steps; s && *s; s++)
                log_debug("  group %u: %s", d->group, *s);
}

/* restoring: putting back the kernel's own type at exit, which the hourly
 * cap does not hold back (the daemon's own switches used it up). */
static int switch_group(Manager *m, const PolicyDecision *d, GroupType to, bool dry_run, bool restoring,
                        SwitchResult *ret) {
        GuardDevice *facts;
        SwitchOptions opts;
        int r;

        facts = calloc(d->n_members + 1, sizeof(*facts));
        if (!facts)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_members; i++) {
                facts[i] = d->members[i].guard;
                if (restoring)
                        facts[i].switches_last_hour = 0;
        }
        opts = (SwitchOptions) { .devices = facts, .n_devices = d->n_members, .kernel = &d->kernel };
        r = dry_run ? group_switch_plan(&m->switch_ctx, d->group, to, &opts, ret)
                    : group_switch(&m->switch_ctx, d->group, to, &opts, ret);
        free(facts);
        return r;
}

int manager_switch_group(Manager *m, const PolicyDecision *d, GroupType to, bool dry_run, SwitchResult *ret) {
        return switch_group(m, d, to, dry_run, false, ret);
}

#define REFUSED_RETRY_NS (3600ULL * 1000000000ULL)

static struct RefusedSwitch *find_refused(Manager *m, unsigned group) {
        for (size_t i = 0; i < m->n_refused; i++)
                if (m->refused[i].group == group)
                        return &m->refused[i];
        return NULL;
}

/* Whether this switch was refused (or failed) recently: then it is not
 * tried again in a loop. */
static bool recently_refused(Manager *m, unsigned group, GroupType to) {
        struct RefusedSwitch *r = find_refused(m, group);

        return r && r->to == to && now_monotonic_ns() - r->at_ns < REFUSED_RETRY_NS;
}

static void remember_refusal(Manager *m, unsigned group, GroupType to, const char *why) {
        struct RefusedSwitch *r = find_refused(m, group);

        if (!r) {
                struct RefusedSwitch *t = realloc(m->refused, (m->n_refused + 1) * sizeof(*t));

                if (!t)
                        return;
                m->refused = t;
                r = &m->refused[m->n_refused++];
                r->why = NULL;
        }
        free(r->why);
        *r = (struct RefusedSwitch) { .group = group, .to = to, .at_ns = now_monotonic_ns(), .why = strdup(strna(why)) };
}

void manager_forget_refusals(Manager *m) {
        for (size_t i = 0; i < m->n_refused; i++)
                free(m->refused[i].why);
        free(m->refused);
        m->refused = NULL;
        m->n_refused = 0;
}

const char *manager_refusal(Manager *m, unsigned group) {
        struct RefusedSwitch *r = find_refused(m, group);

        return r && now_monotonic_ns() - r->at_ns < REFUSED_RETRY_NS ? r->why : NULL;
}

static bool was_advised(const Manager *m, unsigned group, GroupType to) {
        for (size_t i = 0; i < m->n_advised; i++)
                if (m->advised[i].group == group && m->advised[i].to == to)
                        return true;
        return false;
}

void manager_forget_advice(Manager *m) {
        free(m->advised);
        m->advised = NULL;
        m->n_advised = 0;
}

/* advise: what enforce would do, without writing. The engine's dry run
 * checks the same guards and preconditions as a real switch, so a switch
 * the engine would refuse is reported as refused (and, as in enforce, not
 * proposed again for an hour), not advised. */
static void advise(Manager *m, const PolicyDecision *d, struct AdvisedSwitch *now, size_t *n_now) {
        const char *dev = d->n_members ? d->members[0].device->name : "";
        SwitchResult res = {};

        (void) manager_switch_group(m, d, d->desired, true, &res);
        if (res.outcome == SWITCH_OUTCOME_PLANNED) {
                if (!was_advised(m, d->group, d->desired))
                        log_switch_event(LOG_INFO, d->group, dev, group_type_to_string(d->current),
                                         group_type_to_string(d->desired), d->reason,
                                         "Advice: group %u %s -> %s: %s", d->group,
                                         group_type_to_string(d->current), group_type_to_string(d->desired),
                                         d->reason);
                if (now)
                        now[(*n_now)++] = (struct AdvisedSwitch) { .group = d->group, .to = d->desired };
        } else if (res.outcome != SWITCH_OUTCOME_UNCHANGED) {
                log_switch_event(LOG_WARNING, d->group, dev, group_type_to_string(d->current),
                                 group_type_to_string(d->desired), d->reason,
                                 "Advice: group %u %s -> %s would be refused: %s", d->group,
                                 group_type_to_string(d->current), group_type_to_string(d->desired),
                                 res.message ? res.message : switch_outcome_to_string(res.outcome));
                remember_refusal(m, d->group, d->desired, res.message);
        }
        switch_result_done(&res);
}

/* Applies the decisions: enforce switches, advise only logs what it would
 * do (once per change of advice). Returns true when a group changed, so
 * the caller rescans the topology. */
bool manager_apply_decisions(Manager *m) {
        bool enforce = config_daemon(m->config)->mode.mode == DAEMON_MODE_ENFORCE;
        bool changed = false;
        struct AdvisedSwitch *now = NULL;
        size_t n_now = 0;

        if (!enforce)
                now = calloc(m->n_decisions + 1, sizeof(*now)); /* NULL: advice is logged every tick */
        for (size_t i = 0; i < m->n_decisions; i++) {
                const PolicyDecision *d = &m->decisions[i];
                SwitchResult res = {};

                if (d->action != POLICY_ACTION_SWITCH || recently_refused(m, d->group, d->desired))
                        continue;
                if (!enforce) {
                        advise(m, d, now, &n_now);
                        continue;
                }
                (void) manager_switch_group(m, d, d->desired, false, &res);
                log_result(d, &res, d->reason);
                record_result(m, d, &res);
                if (res.outcome != SWITCH_OUTCOME_DONE && res.outcome != SWITCH_OUTCOME_UNCHANGED)
                        remember_refusal(m, d->group, d->desired, res.message);
                changed = changed || res.outcome == SWITCH_OUTCOME_DONE || res.outcome == SWITCH_OUTCOME_OTHER_TYPE ||
                          res.outcome == SWITCH_OUTCOME_FAILED || res.outcome == SWITCH_OUTCOME_NEEDS_ATTENTION;
                switch_result_done(&res);
        }
        manager_forget_advice(m);
        m->advised = now;
        m->n_advised = n_now;
        return changed;
}

/* ---- overrides ---------------------------------------------------------- */

static PolicyOverrideMode override_from_set(ProtocolSetType t) {
        return t == SET_STRICT ? POLICY_OVERRIDE_STRICT : t == SET_LAZY ? POLICY_OVERRIDE_LAZY : POLICY_OVERRIDE_AUTO;
}

int manager_set_override(Manager *m, unsigned group, ProtocolSetType type, uint64_t for_s) {
        const IommuGroup *g = topology_find_group(m->topology, group);
        PolicyGroupState *ps = policy_state_get(&m->policy_state, group);
        StateGroup *sg;
        PolicyOverrideMode mode = override_from_set(type);

        if (!g)
                return -ENOENT;
        sg = state_group(&m->state, first_device(g), group);
        if (!ps || !sg)
                return -ENOMEM;
        ps->override = (PolicyOverride) {
                .mode = mode,
                .until_ns = for_s ? now_monotonic_ns() + for_s * 1000000000ULL : 0,
        };
        free(sg->override_mode);
        sg->override_mode = strdup(policy_override_mode_to_string(mode));
        sg->override_until_realtime_ns = for_s ? now_realtime_ns() + for_s * 1000000000ULL : 0;
        if (!sg->override_mode)
                return -ENOMEM;
        return 0;
}

int manager_clear_override(Manager *m, unsigned group, bool *ret_had_attention) {
        const IommuGroup *g = topology_find_group(m->topology, group);
        PolicyGroupState *ps = policy_state_find(&m->policy_state, group);
        StateGroup *sg;
        char *msg = NULL;

        if (!g)
                return -ENOENT;
        if (ps)
                ps->override = (PolicyOverride) { .mode = POLICY_OVERRIDE_NONE };
        if ((sg = manager_group_state(m, g))) {
                free(sg->override_mode);
                sg->override_mode = NULL;
                sg->override_until_realtime_ns = 0;
        }
        /* A group marked as needing attention is released by clear too:
         * the operator has looked at it. */
        *ret_had_attention = intent_log_attention(&m->switch_ctx, group, &msg) > 0;
        free(msg);
        if (*ret_had_attention)
                (void) intent_log_clear_attention(&m->switch_ctx, group);
        return 0;
}

int manager_snapshot_override(Manager *m, unsigned group, OverrideSnapshot *ret) {
        const IommuGroup *g = topology_find_group(m->topology, group);
        PolicyGroupState *ps = policy_state_find(&m->policy_state, group);
        const StateGroup *sg;

        *ret = (OverrideSnapshot) { .group = group, .had_policy_state = ps != NULL };
        if (ps)
                ret->override = ps->override;
        if (g && (sg = manager_group_state(m, g)) && sg->override_mode) {
                ret->state_mode = strdup(sg->override_mode);
                if (!ret->state_mode)
                        return -ENOMEM;
                ret->state_until = sg->override_until_realtime_ns;
        }
        return 0;
}

void manager_restore_override(Manager *m, OverrideSnapshot *s) {
        const IommuGroup *g = topology_find_group(m->topology, s->group);
        PolicyGroupState *ps = policy_state_find(&m->policy_state, s->group);
        StateGroup *sg;

        if (ps)
                ps->override = s->had_policy_state ? s->override : (PolicyOverride) { .mode = POLICY_OVERRIDE_NONE };
        if (g && (sg = manager_group_state(m, g))) {
                free(sg->override_mode);
                sg->override_mode = s->state_mode ? strdup(s->state_mode) : NULL;
                sg->override_until_realtime_ns = s->state_until;
        }
        free(s->state_mode);
        *s = (OverrideSnapshot) {};
}

/* Overrides saved with a realtime deadline come back as monotonic ones;
 * expired ones are dropped. */
void manager_restore_overrides(Manager *m) {
        uint64_t now_rt = now_realtime_ns(), now_mono = now_monotonic_ns();

        for (size_t i = 0; i < m->state.n_groups; i++) {
                StateGroup *sg = &m->state.groups[i];
                const Device *d = topology_find_device(m->topology, sg->key);
                PolicyGroupState *ps;
                PolicyOverrideMode mode;

                if (!sg->override_mode || !d || d->group < 0)
                        continue;
                mode = policy_override_mode_from_string(sg->override_mode);
                if (mode < 0 || (sg->override_until_realtime_ns && sg->override_until_realtime_ns <= now_rt)) {
                        free(sg->override_mode);
                        sg->override_mode = NULL;
                        continue;
                }
                ps = policy_state_get(&m->policy_state, (unsigned) d->group);
                if (!ps)
                        continue;
                ps->override = (PolicyOverride) {
                        .mode = mode,
                        .until_ns = sg->override_until_realtime_ns
                                            ? now_mono + (sg->override_until_realtime_ns - now_rt)
                                            : 0,
                };
                log_info("Group %d pinned to %s (kept from before the restart)", d->group, sg->override_mode);
        }
}

/* Whether a history entry's result ("OUTCOME: words") is a switch that
 * counts for min_dwell_s and max_switches_per_hour, as record_result()
 * counts it. */
static bool history_entry_switched(const StateSwitch *h) {
        static const SwitchOutcome counted[] = { SWITCH_OUTCOME_DONE, SWITCH_OUTCOME_OTHER_TYPE };

        for (size_t i = 0; h->result && i < ELEMENTSOF(counted); i++) {
                const char *name = switch_outcome_to_string(counted[i]);
                size_t n = strlen(name);

                if (strncmp(h->result, name, n) == 0 && h->result[n] == ':')
                        return true;
        }
        return false;
}

/* The switches of the last hour, from the saved history, go back into the
 * policy's per-group log (on the monotonic clock), so that a restart, a
 * crash or a one-off --switch-group resets neither min_dwell_s nor
 * max_switches_per_hour. Groups are found by their first device: group
 * numbers can change across a reboot, PCI addresses do not. A switch from
 * before this boot older than the uptime is left out: the monotonic clock
 * cannot place it, and the reboot put the kernel's default types back. */
void manager_restore_switch_log(Manager *m) {
        uint64_t now_rt = now_realtime_ns(), now_mono = now_monotonic_ns();
        const uint64_t hour_ns = 3600ULL * 1000000000ULL;

        for (size_t i = 0; i < m->state.n_history; i++) {
                const StateSwitch *h = &m->state.history[i];
                const Device *dev = h->key ? topology_find_device(m->topology, h->key) : NULL;
                uint64_t age_ns;
                PolicyGroupState *ps;

                if (!dev || dev->group < 0 || !history_entry_switched(h) || h->realtime_ns > now_rt)
                        continue;
                age_ns = now_rt - h->realtime_ns;
                if (age_ns >= hour_ns || age_ns >= now_mono)
                        continue;
                ps = policy_state_get(&m->policy_state, (unsigned) dev->group);
                if (ps)
                        policy_group_state_record_switch(ps, now_mono - age_ns);
        }
}

/* ---- restore at exit ---------------------------------------------------- */

void manager_restore_groups(Manager *m) {
        /* Fresh guard facts for every group: the last decisions may be gone
         * (a switch rescans the topology) or stale. */
        if (manager_decide_now(m) < 0)
                return;
        for (size_t j = 0; j < m->state.n_groups; j++) {
                const StateGroup *sg = &m->state.groups[j];
                const Device *dev = topology_find_device(m->topology, sg->key);

                if (sg->changed_from && (!dev || dev->group < 0))
                        log_warning("Could not put back the group of %s to %s: the device is gone", sg->key,
                                    sg->changed_from);
        }
        for (size_t i = 0; i < m->n_decisions; i++) {
                const PolicyDecision *d = &m->decisions[i];
                const IommuGroup *g = topology_find_group(m->topology, d->group);
                StateGroup *sg = g ? manager_group_state(m, g) : NULL;
                SwitchResult res = {};
                GroupType to;

                if (!sg || !sg->changed_from)
                        continue;
                to = group_type_from_string(sg->changed_from);
                if (to == d->current) {
                        free(sg->changed_from);
                        sg->changed_from = NULL;
                        continue;
                }
                (void) switch_group(m, d, to, false, true, &res);
                log_result(d, &res, "restore_on_exit");
                record_result(m, d, &res);
                if (res.outcome != SWITCH_OUTCOME_DONE)
                        log_warning("Could not put group %u back to %s: %s", d->group, sg->changed_from,
                                    res.message ? res.message : switch_outcome_to_string(res.outcome));
                switch_result_done(&res);
        }
}
