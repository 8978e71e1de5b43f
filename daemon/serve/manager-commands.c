/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The answers to the control socket's commands, built from the Manager's
 * state. One handle_<command>() per command; manager_handle_request()
 * dispatches.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "counters.h"
#include "json-util.h"
#include "log.h"
#include "intent-log.h"
#include "manager-serve.h"
#include "topology-output.h"
#include "util.h"

/* Resolves GROUP|BDF to a group of the current topology. */
static const IommuGroup *find_target_group(const Manager *m, const char *target, const Device **ret_device) {
        const ManagerView mv = manager_view(m);
        const Device *d = NULL;
        unsigned id;

        if (protocol_target_is_group(target, &id))
                return topology_find_group(mv.topology, id);
        d = topology_find_device(mv.topology, target);
        if (ret_device)
                *ret_device = d;
        return d && d->group >= 0 ? topology_find_group(mv.topology, (unsigned) d->group) : NULL;
}

/* The error for a target that is no group: without an IOMMU the reason is
 * that, with its hint; a device outside every group is named as such. */
static json_object *target_error(const Manager *m, const char *target) {
        const ManagerView mv = manager_view(m);
        const Device *d = topology_find_device(mv.topology, target);

        if (topology_no_iommu_message(mv.topology))
                return protocol_reply_error("%s", topology_no_iommu_message(mv.topology));
        if (d && d->group < 0)
                return protocol_reply_error("%s is in no IOMMU group: %s", d->name, TOPOLOGY_UNTRANSLATED);
        return protocol_reply_error("no IOMMU group or grouped device \"%s\"", target);
}

static json_object *device_summary(const Device *d) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "bdf", json_object_new_string(d->name));
        json_object_object_add(o, "driver", json_str_or_null(d->driver));
        json_object_object_add(o, "class", json_object_new_string(d->class_word));
        json_object_object_add(o, "untrusted", json_object_new_boolean(d->untrusted == TRISTATE_YES));
        return o;
}

/* The effective policy word of every member; "mixed" when they differ. */
static const char *group_policy_word(const Manager *m, const IommuGroup *g) {
        const ManagerView mv = manager_view(m);
        const char *word = NULL;

        for (char **n = g->devices; n && *n; n++) {
                const Device *d = topology_find_device(mv.topology, *n);
                DevicePolicy p;
                const char *w;

                if (config_resolve_device(mv.config, *n, d ? d->driver : NULL, d ? d->class_word : NULL, &p) < 0)
                        continue;
                w = policy_mode_to_string(p.policy.policy);
                if (word && !streq(word, w))
                        return "mixed";
                word = w;
        }
        return word ? word : "-";
}

static json_object *group_summary(const Manager *m, const IommuGroup *g) {
        const ManagerView mv = manager_view(m);
        json_object *o = json_object_new_object(), *devs = json_object_new_array();
        const PolicyDecision *dec = manager_decision(m, g->id);

        json_object_object_add(o, "group", json_object_new_int64(g->id));
        json_object_object_add(o, "type", json_str_or_null(g->type_raw));
        for (char **n = g->devices; n && *n; n++) {
                const Device *d = topology_find_device(mv.topology, *n);

                if (d)
                        json_object_array_add(devs, device_summary(d));
        }
        json_object_object_add(o, "devices", devs);
        json_object_object_add(o, "policy", json_object_new_string(group_policy_word(m, g)));
        if (dec) {
                /* Doing DMA now: watch shows these first. */
                json_object_object_add(o, "active", json_object_new_boolean(dec->rate.measured &&
                                                                            dec->rate.unmaps_per_sec > 0));
                json_object_object_add(o, "desired", json_object_new_string(group_type_to_string(dec->desired)));
                json_object_object_add(o, "action", json_object_new_string(policy_action_to_string(dec->action)));
                json_object_object_add(o, "reason", json_object_new_string(dec->reason));
                if (dec->rate.measured) {
                        json_object *r = json_object_new_object();

                        json_object_object_add(r, "unmaps_per_sec", json_object_new_double(dec->rate.unmaps_per_sec));
                        json_object_object_add(r, "source", json_object_new_string(dec->rate.source ?: "measured"));
                        json_object_object_add(r, "exact", json_object_new_boolean(dec->rate.exact));
                        if (!dec->rate.exact)
                                json_object_object_add(r, "apportioned_share", json_object_new_double(dec->rate.share));
                        if (dec->rate.avoidable_known)
                                json_object_object_add(r, "lazy_would_batch_per_sec",
                                                       json_object_new_double(dec->rate.avoidable_per_sec));
                        json_object_object_add(o, "unmap_rate", r);
                }
        }
        if (manager_refusal((Manager *) m, g->id))
                json_object_object_add(o, "last_switch_refused", json_object_new_string(manager_refusal((Manager *) m, g->id)));
        return o;
}

/* Groups a failed switch left marked; "clear GROUP" releases them. */
static void attention_to_json(Manager *m, json_object *o) {
        const ManagerView mv = manager_view(m);
        IntentRecord *recs = NULL;
        size_t n = 0;
        json_object *a = json_object_new_array();

        if (manager_list_attention(m, &recs, &n) >= 0)
                for (size_t i = 0; i < n; i++) {
                        json_object *r = json_object_new_object();

                        json_object_object_add(r, "group", json_object_new_int64(recs[i].group));
                        json_object_object_add(r, "message", json_str_or_null(recs[i].message));
                        json_object_array_add(a, r);
                }
        intent_records_free(recs, n);
        json_object_object_add(o, "needs_attention", a);
        json_object_object_add(o, "switch_history", json_object_new_int64((int64_t) mv.state->n_history));
}

/* Every pin "iommuctl set" made, with its mode and expiry. */
static json_object *pins_to_json(const Manager *m) {
        const ManagerView mv = manager_view(m);
        json_object *a = json_object_new_array();
        uint64_t now_rt = now_realtime_ns();

        for (size_t i = 0; i < mv.state->n_groups; i++) {
                const StateGroup *sg = &mv.state->groups[i];
                const Device *d = topology_find_device(mv.topology, sg->key);
                json_object *p;

                if (!sg->override_mode || (sg->override_until_realtime_ns && sg->override_until_realtime_ns <= now_rt))
                        continue;
                p = json_object_new_object();
                json_object_object_add(p, "group", d && d->group >= 0 ? json_object_new_int(d->group) : NULL);
                json_object_object_add(p, "device", json_object_new_string(sg->key));
                json_object_object_add(p, "mode", json_object_new_string(sg->override_mode));
                json_object_object_add(p, "until_unix_s",
                                       sg->override_until_realtime_ns
                                               ? json_object_new_int64((int64_t) (sg->override_until_realtime_ns / 1000000000ULL))
                                               : NULL);
                json_object_object_add(p, "expires_in_s",
                                       sg->override_until_realtime_ns
                                               ? json_object_new_int64((int64_t) ((sg->override_until_realtime_ns - now_rt) / 1000000000ULL))
                                               : NULL);
                json_object_array_add(a, p);
        }
        return a;
}

/* Why the daemon cannot measure flushes on a machine with an IOMMU, or
 * NULL when it can (or there is no IOMMU: then it idles by design). */
static const char *cannot_sample(const Manager *m) {
        const ManagerView mv = manager_view(m);

        if (topology_no_iommu_message(mv.topology))
                return NULL;
        if (!mv.flush)
                return "the flush sampler is not running";
        return flush_sampler_counting(mv.flush) ? NULL : flush_sampler_status_counters(mv.flush);
}

static json_object *handle_status(Manager *m) {
        const ManagerView mv = manager_view(m);
        json_object *o = json_object_new_object(), *units = json_object_new_array(), *src = json_object_new_object(),
                    *cfg = json_object_new_array();
        const KernelInfo *k = &mv.topology->kernel;
        uint64_t now = now_monotonic_ns();

        json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
        json_object_object_add(o, "mode", json_object_new_string(daemon_mode_to_string(config_daemon(mv.config)->mode.mode)));
        json_object_object_add(o, "pid", json_object_new_int((int) getpid()));
        json_object_object_add(o, "kernel", json_str_or_null(k->release));
        json_object_object_add(o, "iommu", json_object_new_boolean(!topology_no_iommu_message(mv.topology)));
        if (topology_no_iommu_message(mv.topology))
                json_object_object_add(o, "message", json_object_new_string(topology_no_iommu_message(mv.topology)));
        for (size_t i = 0; i < mv.topology->n_units; i++) {
                const IommuUnit *u = &mv.topology->units[i];
                json_object *uo = json_object_new_object();
                char sizes[64];

                pgsize_bitmap_format(u->pgsize_bitmap, sizes, sizeof(sizes));
                json_object_object_add(uo, "name", json_object_new_string(u->name));
                json_object_object_add(uo, "vendor", json_object_new_string(iommu_vendor_to_string(u->vendor)));
                json_object_object_add(uo, "page_sizes", json_object_new_string(sizes));
                json_object_object_add(uo, "caching_mode",
                                       u->has_vtd_caps ? json_object_new_boolean(u->vtd.caching_mode) : NULL);
                json_object_object_add(uo, "np_cache", u->has_amd_cap ? json_object_new_boolean(u->amd_np_cache) : NULL);
                json_object_object_add(uo, "maps_flushed", json_object_new_boolean(iommu_unit_flushes_maps(u)));
                json_object_object_add(uo, "kernel_forced_strict", json_str_or_null(iommu_unit_forced_strict(u)));
                json_object_object_add(uo, "devices", json_object_new_int64((int64_t) strv_length(u->devices)));
                json_object_array_add(units, uo);
        }
        json_object_object_add(o, "units", units);
        json_object_object_add(o, "groups", json_object_new_int64((int64_t) mv.topology->n_groups));
        {
                json_object *v = json_object_new_object();
                bool vtd = topology_units_of_vendor(mv.topology, IOMMU_VENDOR_INTEL_VTD) > 0;
                char evidence[768];
                DriverVerdict dv;

                dv = driver_verdict(vtd, k->release, k->version, mv.driver_evidence, evidence, sizeof(evidence));
                json_object_object_add(v, "verdict", json_object_new_string(driver_verdict_to_string(dv)));
                json_object_object_add(v, "evidence", json_object_new_string(evidence));
                json_object_object_add(o, "driver_fix", v);
        }
        json_object_object_add(o, "flush_rules", json_object_new_string(mv.flush_rules[0] ? mv.flush_rules
                                                                                          : "none: no flush sampler"));
        json_object_object_add(src, "tracefs", json_object_new_boolean(k->tracefs != NULL));
        json_object_object_add(src, "debugfs", json_object_new_boolean(k->debugfs));
        json_object_object_add(src, "intel_iommu_debugfs", json_object_new_boolean(k->intel_debugfs));
        json_object_object_add(src, "tracepoint_iommu", json_object_new_boolean(k->tracepoint_iommu));
        json_object_object_add(src, "tracepoint_qi_submit", json_object_new_boolean(k->tracepoint_qi_submit));
        if (mv.flush) {
                json_object_object_add(src, "map_unmap_counters", json_object_new_string(flush_sampler_status_counters(mv.flush)));
                json_object_object_add(src, "unmap_records", json_object_new_string(flush_sampler_status_unmap_records(mv.flush)));
                json_object_object_add(src, "invalidation_records", json_object_new_string(flush_sampler_status_qi(mv.flush)));
                json_object_object_add(src, "unmaps_by_device", json_object_new_string(flush_sampler_status_dma(mv.flush)));
                json_object_object_add(src, "domain_ids_at_attach",
                                       json_object_new_string(flush_sampler_status_cache_tag(mv.flush)));
        }
        if (mv.workload)
                json_object_object_add(src, "workload", json_object_new_string(workload_status(mv.workload)));
        json_object_object_add(o, "sources", src);
        for (char *const *f = config_files(mv.config); f && *f; f++)
                json_object_array_add(cfg, json_object_new_string(*f));
        json_object_object_add(o, "config_files", cfg);
        json_object_object_add(o, "uptime_s", json_object_new_double((double) (now - mv.started_ns) / 1e9));
        json_object_object_add(o, "ticks", json_object_new_int64((int64_t) mv.ticks));
        json_object_object_add(o, "last_tick_s_ago",
                               mv.last_tick_ns ? json_object_new_double((double) (now - mv.last_tick_ns) / 1e9) : NULL);
        {
                /* The daemon's own cost: CPU microseconds per tick, by phase. */
                json_object *tc = json_object_new_object(), *phases = json_object_new_object();
                uint64_t n = mv.ticks ? mv.ticks : 1;

                json_object_object_add(tc, "ticks", json_object_new_int64((int64_t) mv.ticks));
                json_object_object_add(tc, "cpu_us_per_tick",
                                       json_object_new_double((double) tick_cost_total_ns(mv.tick_cost) / 1e3 / (double) n));
                for (int p = 0; p < _TICK_PHASE_MAX; p++)
                        json_object_object_add(phases, tick_phase_to_string(p),
                                               json_object_new_double((double) mv.tick_cost->cpu_ns[p] / 1e3 / (double) n));
                json_object_object_add(tc, "phases_us_per_tick", phases);
                json_object_object_add(o, "tick_cost", tc);
        }
        {
                /* perf records the kernel dropped: the figures they fell in are short. */
                json_object *rl = json_object_new_object();

                for (size_t i = 0; i < counter_info_count(); i++)
                        if (counter_info(i)->machine_only)
                                json_object_object_add(rl, counter_info(i)->wire_key,
                                                       json_object_new_int64((int64_t) counter_value(&mv.state->total, i)));
                json_object_object_add(rl, "ticks_short", json_object_new_int64((int64_t) mv.ticks_with_lost_records));
                json_object_object_add(rl, "last_tick", json_object_new_int64((int64_t) mv.last_tick_records_lost));
                json_object_object_add(o, "records_lost", rl);
        }
        json_object_object_add(o, "topology_problems", json_object_new_int64((int64_t) mv.topology->n_problems));
        json_object_object_add(o, "reload_failures", json_object_new_int64((int64_t) mv.reload_failures));
        {
                attention_to_json(m, o);
        }
        json_object_object_add(o, "pins", pins_to_json(m));
        json_object_object_add(o, "cannot_sample", json_str_or_null(cannot_sample(m)));
        if (mv.last_reload_error)
                json_object_object_add(o, "last_reload_error", json_object_new_string(mv.last_reload_error));
        {
                /* Failing until a save succeeds: set, clear and reload are
                 * refused meanwhile, and the counters are not kept. */
                json_object *sd = json_object_new_object();

                json_object_object_add(sd, "path", json_object_new_string(manager_state_dir(m)));
                json_object_object_add(sd, "writable", json_object_new_boolean(mv.state_save_error == 0));
                json_object_object_add(sd, "error", mv.state_save_error < 0 ?
                                       json_object_new_string(strerror(-mv.state_save_error)) : NULL);
                json_object_object_add(o, "state_dir", sd);
        }
        return o;
}

static json_object *handle_groups(Manager *m) {
        const ManagerView mv = manager_view(m);
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < mv.topology->n_groups; i++)
                json_object_array_add(a, group_summary(m, &mv.topology->groups[i]));
        return a;
}

static json_object *handle_show(Manager *m, const ProtocolRequest *req, json_object **ret_error) {
        const ManagerView mv = manager_view(m);
        const Device *d = NULL;
        const IommuGroup *g = find_target_group(m, req->target, &d);
        json_object *o, *full = NULL;

        if (!g && d && d->group < 0) {
                /* A device outside every group: shown, as what it is. */
                o = json_object_new_object();
                json_object_object_add(o, "group", NULL);
                json_object_object_add(o, "translation", json_object_new_string(TOPOLOGY_UNTRANSLATED));
                json_object_object_add(o, "devices", json_object_new_array());
                json_object_array_add(json_object_object_get(o, "devices"), device_summary(d));
        } else if (!g) {
                *ret_error = target_error(m, req->target);
                return NULL;
        } else
                o = group_summary(m, g);
        /* The full device records, as --dump-topology prints them. */
        full = topology_to_json(mv.topology);
        if (full) {
                json_object *devs = json_object_new_array(), *all = json_object_object_get(full, "devices");

                for (size_t i = 0; all && i < json_object_array_length(all); i++) {
                        json_object *dev = json_object_array_get_idx(all, i);
                        json_object *grp = json_object_object_get(dev, "group");

                        if (g ? grp && json_object_get_int64(grp) == (int64_t) g->id
                              : streq(json_object_get_string(json_object_object_get(dev, "bdf")), d->name))
                                json_object_array_add(devs, json_object_get(dev));
                }
                json_object_object_add(o, "device_details", devs);
                json_object_put(full);
        }
        return o;
}

/* Every config key that decides a device, with where its value came from. */
static json_object *explain_device(const Manager *m, const Device *d) {
        const ManagerView mv = manager_view(m);
        json_object *o = json_object_new_object(), *keys = json_object_new_array();
        size_t n_keys;
        const ConfKey *table = conf_keys(&n_keys);
        DevicePolicy p;

        json_object_object_add(o, "bdf", json_object_new_string(d->name));
        if (config_resolve_device(mv.config, d->name, d->driver, d->class_word, &p) < 0)
                return o;
        for (size_t i = 0; i < n_keys; i++) {
                const ConfKey *k = &table[i];
                const ConfValue *v;
                json_object *ko;
                char *value, *origin;

                if (k->section != CONF_SCOPE_POLICY)
                        continue;
                v = conf_key_value(k, &p);
                value = conf_value_to_string(k, v);
                origin = conf_origin_to_string(&v->origin);
                ko = json_object_new_object();
                json_object_object_add(ko, "key", json_object_new_string(k->scoped_name ? k->scoped_name : k->name));
                json_object_object_add(ko, "value", json_str_or_null(value));
                json_object_object_add(ko, "from", json_str_or_null(origin));
                json_object_array_add(keys, ko);
                free(value);
                free(origin);
        }
        json_object_object_add(o, "config", keys);
        return o;
}


/* How each member's VT-d domain id is known, for explain: invalidations
 * are attributed to the group by it, and a strict group's unmaps counted. */
static void explain_domains(const Manager *m, const IommuGroup *g, FILE *f) {
        const ManagerView mv = manager_view(m);
        const DomainMap *map = mv.flush ? flush_sampler_domain_map(mv.flush) : NULL;
        bool vtd = topology_units_of_vendor(mv.topology, IOMMU_VENDOR_INTEL_VTD) > 0;

        if (!vtd || !map)
                return;
        for (char **n = g->devices; n && *n; n++) {
                const DomainEntry *e = domain_map_find_device(map, *n);

                if (e)
                        fprintf(f, "  domain: %s is domain id %u on %s (%s)\n", *n, e->did, e->unit,
                                domain_source_to_string(e->source));
                else
                        fprintf(f, "  domain: %s: not known (no debugfs entry, attach descriptor or cache tag "
                                   "yet, not learned yet): its invalidations stay unattributed\n", *n);
        }
}

static json_object *handle_explain(Manager *m, const ProtocolRequest *req, json_object **ret_error) {
        const ManagerView mv = manager_view(m);
        const IommuGroup *g = find_target_group(m, req->target, NULL);
        json_object *o, *devs;

        if (!g) {
                *ret_error = target_error(m, req->target);
                return NULL;
        }
        o = group_summary(m, g);
        devs = json_object_new_array();
        for (char **n = g->devices; n && *n; n++) {
                const Device *d = topology_find_device(mv.topology, *n);

                if (d)
                        json_object_array_add(devs, explain_device(m, d));
        }
        json_object_object_add(o, "rules", devs);
        {
                const PolicyDecision *dec = manager_decision(m, g->id);
                _cleanup_free_ char *text = NULL;
                size_t size = 0;
                FILE *f;

                if (dec && (f = open_memstream(&text, &size))) {
                        int r = policy_decision_explain(dec, f);

                        explain_domains(m, g, f);
                        if (fclose(f) == 0 && r >= 0)
                                json_object_object_add(o, "decision", json_object_new_string(text));
                }
        }
        return o;
}

/* The machine's counters (machine), or a group's or unit's: those without
 * the machine-only rows. */
static json_object *counters_to_json(const StateCounters *c, bool machine) {
        json_object *o = json_object_new_object();

        for (size_t i = 0; i < counter_info_count(); i++)
                if (machine || !counter_info(i)->machine_only)
                        json_object_object_add(o, counter_info(i)->wire_key,
                                               json_object_new_int64((int64_t) counter_value(c, i)));
        return o;
}

/* How each figure was obtained, in words, for this machine. */
static json_object *savings_sources(const Manager *m) {
        const ManagerView mv = manager_view(m);
        json_object *o = json_object_new_object();
        uint64_t cost = manager_flush_cost_ns(m);
        char buf[512];

        const char *counters = mv.flush ? flush_sampler_status_counters(mv.flush) : "not started";
        const char *qi = mv.flush ? flush_sampler_status_qi(mv.flush) : "not started";
        bool counting = mv.flush && flush_sampler_counting(mv.flush);
        bool recording_qi = mv.flush && flush_sampler_recording_qi(mv.flush);
        bool vtd = topology_units_of_vendor(mv.topology, IOMMU_VENDOR_INTEL_VTD) > 0;

        if (counting)
                json_object_object_add(o, "unmaps", json_object_new_string(
                        "measured for the machine: perf counter on iommu:unmap; per group each tick: exact by "
                        "device (dma:* tracepoints), exact by domain (a domain's page-selective invalidations, in "
                        "a tick where they are one per unmap), "
                        "by elimination (the only group with I/O left), else apportioned among the groups "
                        "with I/O by their I/O operations (counted in unmaps_apportioned); unattributed at the "
                        "unit only what no group with I/O can have"));
        else {
                snprintf(buf, sizeof(buf), "not measured: %s", counters);
                json_object_object_add(o, "unmaps", json_object_new_string(buf));
        }
        snprintf(buf, sizeof(buf),
                 "%s%s; per group apportioned by its unmaps (counted in maps_apportioned) unless it alone had "
                 "I/O or unmaps in the tick: the dma:* map events are calls, not iommu:map events",
                 counting ? "measured for the machine: perf counter on iommu:map" : "not measured: ",
                 counting ? "" : counters);
        json_object_object_add(o, "maps", json_object_new_string(buf));
        if (recording_qi && vtd)
                json_object_object_add(o, "invalidations", json_object_new_string(
                        "measured: intel_iommu:qi_submit records, attributed by domain id where the domain is "
                        "known, else unattributed at the unit"));
        else {
                snprintf(buf, sizeof(buf), "not measured: %s",
                         !vtd ? "no VT-d unit; AMD-Vi and SMMUv3 have no invalidation tracepoint" : qi);
                json_object_object_add(o, "invalidations", json_object_new_string(buf));
        }
        json_object_object_add(o, "avoided_vs_strict", json_object_new_string(
                "estimated: what strict mode would cost by the kernel's gather rules (gather model over the "
                "recorded unmaps) minus the measured invalidations"));
        json_object_object_add(o, "avoided_by_patch", json_object_new_string(
                "estimated: what the unpatched lazy driver would cost (gather model) minus the measured "
                "page-selective invalidations, for unmaps known to be in lazy domains"));
        if (cost)
                snprintf(buf, sizeof(buf), "estimated: avoided_vs_strict x %llu ns per invalidation (%s)",
                         (unsigned long long) cost, mv.cost_source);
        else
                snprintf(buf, sizeof(buf), "not claimed: no cost per invalidation is known (%s)", mv.cost_source);
        json_object_object_add(o, "time_saved_ns", json_object_new_string(buf));
        return o;
}

static json_object *handle_savings(Manager *m) {
        const ManagerView mv = manager_view(m);
        json_object *o = json_object_new_object(), *groups = json_object_new_array(), *units = json_object_new_array();

        for (size_t i = 0; i < mv.topology->n_groups; i++) {
                const IommuGroup *g = &mv.topology->groups[i];
                const StateGroup *sg = manager_group_state(m, g);
                json_object *go;

                if (!sg)
                        continue;
                go = counters_to_json(&sg->counters, false);
                json_object_object_add(go, "group", json_object_new_int64(g->id));
                json_object_object_add(go, "type", json_str_or_null(g->type_raw));
                json_object_object_add(go, "source", json_object_new_string(
                        sg->counters.unmaps_apportioned
                                ? "counts partly apportioned among busy groups by their I/O operations "
                                  "(unmaps_apportioned, avoided_apportioned) and maps by unmaps "
                                  "(maps_apportioned), estimated savings: see sources"
                        : sg->counters.maps_apportioned
                                ? "measured unmaps, maps partly apportioned by unmaps (maps_apportioned), "
                                  "estimated savings: see sources"
                                : "measured counts, estimated savings: see sources"));
                json_object_array_add(groups, go);
        }
        for (size_t i = 0; i < mv.state->n_units; i++) {
                json_object *uo = json_object_new_object();

                json_object_object_add(uo, "unit", json_object_new_string(mv.state->units[i].name));
                json_object_object_add(uo, "counters", counters_to_json(&mv.state->units[i].counters, false));
                json_object_object_add(uo, "unattributed", counters_to_json(&mv.state->units[i].unattributed, false));
                json_object_array_add(units, uo);
        }
        json_object_object_add(o, "groups", groups);
        json_object_object_add(o, "units", units);
        json_object_object_add(o, "total", counters_to_json(&mv.state->total, true));
        json_object_object_add(o, "sources", savings_sources(m));
        json_object_object_add(o, "last_tick_attribution", json_object_new_string(mv.attribution));
        return o;
}

/* Whether a permanent guard (guards.h) would block the type a pin asks
 * for; reason then holds its verdict's reason. Judged on the members'
 * facts of the last decision (none before the first tick: not refused). */
static bool pin_blocked_for_good(const Manager *m, const IommuGroup *g, ProtocolSetType type, char *reason,
                                 size_t size) {
        GuardVerdict verdicts[_GUARD_MAX];
        const PolicyDecision *dec = manager_decision(m, g->id);
        _cleanup_free_ GuardDevice *facts = NULL;

        if (!dec || (type != SET_STRICT && type != SET_LAZY))
                return false;
        facts = calloc(dec->n_members + 1, sizeof(*facts));
        if (!facts)
                return false;
        for (size_t i = 0; i < dec->n_members; i++)
                facts[i] = dec->members[i].guard;
        (void) guards_check(dec->current, type == SET_LAZY ? GROUP_TYPE_DMA_FQ : GROUP_TYPE_DMA, facts,
                            dec->n_members, &dec->kernel, verdicts);
        for (GuardId id = 0; id < _GUARD_MAX; id++)
                if (guard_is_permanent(id) && verdicts[id].applies && !verdicts[id].passed) {
                        snprintf(reason, size, "%s", verdicts[id].reason);
                        return true;
                }
        return false;
}

static json_object *handle_set(Manager *m, const ProtocolRequest *req, json_object **ret_error) {
        const ManagerView mv = manager_view(m);
        const IommuGroup *g = find_target_group(m, req->target, NULL);
        char error_reason[sizeof(((GuardVerdict *) NULL)->reason)];
        OverrideSnapshot before = {};
        json_object *o;
        int r;

        if (!g) {
                *ret_error = target_error(m, req->target);
                return NULL;
        }
        if (pin_blocked_for_good(m, g, req->set_type, error_reason, sizeof(error_reason))) {
                *ret_error = protocol_reply_error("group %u cannot be pinned %s: %s (a guard that a pin cannot pass; "
                                                  "see iommuctl explain %u)",
                                                  g->id, protocol_set_type_to_string(req->set_type), error_reason, g->id);
                return NULL;
        }
        r = manager_snapshot_override(m, g->id, &before);
        if (r >= 0)
                r = manager_set_override(m, g->id, req->set_type, req->for_s);
        if (r < 0) {
                manager_restore_override(m, &before);
                *ret_error = protocol_reply_error("cannot pin group %u: %s", g->id, strerror(-r));
                return NULL;
        }
        r = manager_save_state_now(m);
        if (r < 0) {
                /* Not saved, not done: the pin would be gone after a restart. */
                manager_restore_override(m, &before);
                *ret_error = protocol_reply_error("cannot pin group %u: the state cannot be saved in %s: %s; "
                                                  "nothing changed", g->id, manager_state_dir(m), strerror(-r));
                return NULL;
        }
        free(before.state_mode);
        o = group_summary(m, topology_find_group(mv.topology, g->id));
        json_object_object_add(o, "pinned", json_object_new_string(protocol_set_type_to_string(req->set_type)));
        json_object_object_add(o, "for_s", req->for_s ? json_object_new_int64((int64_t) req->for_s) : NULL);
        json_object_object_add(o, "note", json_object_new_string(
                "the pin takes effect at the next tick, subject to every guard; see iommuctl explain"));
        return o;
}

static json_object *handle_clear(Manager *m, const ProtocolRequest *req, json_object **ret_error) {
        const ManagerView mv = manager_view(m);
        const IommuGroup *g = find_target_group(m, req->target, NULL);
        bool had_attention = false;
        OverrideSnapshot before = {};
        json_object *o;
        int r;

        if (!g) {
                *ret_error = target_error(m, req->target);
                return NULL;
        }
        r = manager_snapshot_override(m, g->id, &before);
        if (r >= 0)
                r = manager_clear_override(m, g->id, &had_attention);
        if (r < 0) {
                manager_restore_override(m, &before);
                *ret_error = protocol_reply_error("cannot clear group %u: %s", g->id, strerror(-r));
                return NULL;
        }
        r = manager_save_state_now(m);
        if (r < 0) {
                manager_restore_override(m, &before);
                *ret_error = protocol_reply_error("cannot clear group %u: the state cannot be saved in %s: %s; "
                                                  "the pin stays%s", g->id, manager_state_dir(m), strerror(-r),
                                                  had_attention ? " (its needs-attention mark was cleared)" : "");
                return NULL;
        }
        free(before.state_mode);
        o = group_summary(m, topology_find_group(mv.topology, g->id));
        json_object_object_add(o, "cleared", json_object_new_boolean(true));
        json_object_object_add(o, "attention_cleared", json_object_new_boolean(had_attention));
        return o;
}

static json_object *handle_reload(Manager *m, json_object **ret_error) {
        _cleanup_strv_free_ char **errors = NULL;
        json_object *o;
        int r;

        r = manager_reload(m, &errors);
        if (r < 0) {
                char msg[1024];
                size_t len = 0;

                len += (size_t) snprintf(msg, sizeof(msg), "the configuration is invalid; the running one stays:");
                for (char **e = errors; e && *e && len < sizeof(msg); e++)
                        len += (size_t) snprintf(msg + len, sizeof(msg) - len, " %s;", *e);
                *ret_error = protocol_reply_error("%s", msg);
                return NULL;
        }
        r = manager_save_state_now(m);
        if (r < 0) {
                *ret_error = protocol_reply_error("the configuration was reloaded, but the state cannot be saved "
                                                  "in %s: %s", manager_state_dir(m), strerror(-r));
                return NULL;
        }
        o = json_object_new_object();
        json_object_object_add(o, "reloaded", json_object_new_boolean(true));
        return o;
}

static json_object *handle_metrics(Manager *m) {
        _cleanup_free_ char *text = manager_metrics_text(m);

        return text ? json_object_new_string(text) : NULL;
}

/* Without an IOMMU every answer says so, beside its data. */
static json_object *add_notice(const Manager *m, json_object *reply) {
        const ManagerView mv = manager_view(m);

        if (reply && topology_no_iommu_message(mv.topology))
                json_object_object_add(reply, "notice", json_object_new_string(topology_no_iommu_message(mv.topology)));
        return reply;
}

json_object *manager_watch_update(Manager *m) {
        const ManagerView mv = manager_view(m);
        json_object *o = json_object_new_object();

        json_object_object_add(o, "tick", json_object_new_int64((int64_t) mv.ticks));
        json_object_object_add(o, "groups", handle_groups(m));
        return add_notice(m, protocol_reply_ok(CMD_WATCH, o));
}

void manager_replies_invalidate(Manager *m) {
        const ManagerView mv = manager_view(m);
        ReplyCache *c = manager_reply_cache(m);

        for (size_t i = 0; i < ELEMENTSOF(c->snapshots); i++) {
                json_object_put(c->snapshots[i]);
                c->snapshots[i] = NULL;
        }
        control_server_forget_reply(mv.control);
        control_server_forget_reply(mv.reader);
}

/* The read-only replies that take no argument: one snapshot each. */
static bool reply_is_snapshot(ProtocolCommand cmd) {
        return cmd == CMD_STATUS || cmd == CMD_GROUPS || cmd == CMD_SAVINGS;
}

json_object *manager_handle_request(void *userdata, ControlClient *client, const ProtocolRequest *req) {
        Manager *m = userdata;
        const ManagerView mv = manager_view(m);
        ReplyCache *c = manager_reply_cache(m);
        json_object *data = NULL, *error = NULL, *reply;
        uint64_t now = now_monotonic_ns();

        if (reply_is_snapshot(req->cmd) && c->snapshots[req->cmd] && c->tick[req->cmd] == mv.ticks &&
            now - c->ns[req->cmd] < config_daemon(mv.config)->interval_ms.u * 1000000ULL)
                return json_object_get(c->snapshots[req->cmd]);
        /* Whatever a privileged command does (even when it fails: a failed
         * reload is shown too) shows in the next reply. */
        if (protocol_command_info(req->cmd)->privileged)
                manager_replies_invalidate(m);

        switch (req->cmd) {
        case CMD_STATUS: data = handle_status(m); break;
        case CMD_GROUPS: data = handle_groups(m); break;
        case CMD_SHOW: data = handle_show(m, req, &error); break;
        case CMD_EXPLAIN: data = handle_explain(m, req, &error); break;
        case CMD_RELOAD: data = handle_reload(m, &error); break;
        case CMD_METRICS: data = handle_metrics(m); break;
        case CMD_WATCH:
                control_client_subscribe(client);
                return manager_watch_update(m);
        case CMD_SAVINGS: data = handle_savings(m); break;
        case CMD_SET: data = handle_set(m, req, &error); break;
        case CMD_CLEAR: data = handle_clear(m, req, &error); break;
        default:
                return protocol_reply_error("unknown command");
        }
        if (error)
                return error;
        if (!data)
                return protocol_reply_error("out of memory answering %s", protocol_command_info(req->cmd)->name);
        reply = add_notice(m, protocol_reply_ok(req->cmd, data));
        if (reply && reply_is_snapshot(req->cmd)) {
                json_object_put(c->snapshots[req->cmd]);
                c->snapshots[req->cmd] = json_object_get(reply);
                c->tick[req->cmd] = mv.ticks;
                c->ns[req->cmd] = now;
        }
        return reply;
}
