/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "accounting.h"
#include "qi-decode.h"
#include "util.h"

static int unit_index(const Topology *t, const char *name) {
        for (size_t i = 0; i < t->n_units; i++)
                if (streq(t->units[i].name, name))
                        return (int) i;
        return -1;
}

static int group_index(const Topology *t, unsigned id) {
        const IommuGroup *g = topology_find_group(t, id);

        return g ? (int) (g - t->groups) : -1;
}

int accounting_group_of_domain(const Topology *t, const DomainMap *map, const char *unit, uint16_t did) {
        const DomainEntry *e[4];
        size_t n;
        int group = -1;

        if (!map)
                return -1;
        n = domain_map_find_did(map, unit, did, false, e, ELEMENTSOF(e));
        /* A domain holds the devices of one group; entries disagreeing
         * (a stale detach) leave it unattributed rather than guessed. */
        for (size_t i = 0; i < n && i < ELEMENTSOF(e); i++) {
                char name[16];
                const Device *d;

                if (qi_sid_to_pci_name(e[i]->segment, e[i]->sid, name, sizeof(name)) < 0)
                        return -1;
                d = topology_find_device(t, name);
                if (!d || d->group < 0)
                        return -1;
                if (group >= 0 && group != d->group)
                        return -1;
                group = d->group;
        }
        return group;
}

/* One unit that flushes every map (caching mode, NpCache) means strict
 * pays for the maps too: one sync per DMA mapping (iommu_map() and
 * iommu_map_sg() call iotlb_sync_map once, however many iommu:map events
 * the segments fire), and every mapping ends in one unmap event, so one per
 * unmap. */
static bool any_unit_flushes_maps(const Topology *t) {
        for (size_t i = 0; i < t->n_units; i++)
                if (iommu_unit_flushes_maps(&t->units[i]))
                        return true;
        return false;
}

static uint64_t sub0(uint64_t a, uint64_t b) {
        return a > b ? a - b : 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

/* Whether a device is in did now. A detached entry does not count: the
 * kernel hands a freed domain id out again (a rebind gets the id its old
 * domain had), so such an id is still to be learned. */
static bool domain_did_known(const DomainMap *map, const char *unit, uint16_t did) {
        const DomainEntry *e[1];

        return map && domain_map_find_did(map, unit, did, true, e, 1) > 0;
}

/* A current domain id is known for a device of the group, on a unit that
 * does not flush maps (there page-selective invalidations count maps too). */
static bool group_domain_known(const Topology *t, const DomainMap *map, const IommuGroup *g) {
        for (char **n = g->devices; map && n && *n; n++) {
                const Device *d = topology_find_device(t, *n);
                int u = d && d->unit ? unit_index(t, d->unit) : -1;

                if (u >= 0 && !iommu_unit_flushes_maps(&t->units[u]) && domain_map_find_device(map, *n))
                        return true;
        }
        return false;
}

/* The unit a group's devices sit behind (a group's devices share one), or
 * -1 when none is known. */
static int group_unit_index(const Topology *t, const IommuGroup *g) {
        for (char **n = g->devices; n && *n; n++) {
                const Device *d = topology_find_device(t, *n);

                if (d && d->unit)
                        return unit_index(t, d->unit);
        }
        return -1;
}

/* With several units the unmap side (maps, unmaps, the models and what
 * was avoided) is known per group, not per unit: each unit gets its
 * groups' part, so a unit's figures are its groups' plus its own
 * unattributed ones. What no group took is counted in the machine's total
 * only, on no unit. */
static void add_groups_to_their_units(const Topology *t, AccountingTick *a) {
        for (size_t i = 0; i < t->n_groups; i++) {
                const StateCounters *g = &a->groups[i];
                int u = group_unit_index(t, &t->groups[i]);

                if (u < 0)
                        continue;
                a->units[u].maps += g->maps;
                a->units[u].unmaps += g->unmaps;
                a->units[u].unmaps_apportioned += g->unmaps_apportioned;
                a->units[u].maps_apportioned += g->maps_apportioned;
                a->units[u].strict_model_invalidations += g->strict_model_invalidations;
                a->units[u].unpatched_model_invalidations += g->unpatched_model_invalidations;
                a->units[u].avoided_vs_strict += g->avoided_vs_strict;
                a->units[u].avoided_apportioned += g->avoided_apportioned;
                a->units[u].avoided_by_patch += g->avoided_by_patch;
        }
}

/* The dma:* counts of the group's devices. */
static void group_device_counts(const Topology *t, const FlushTick *tick, const IommuGroup *g,
                                AttributionGroupIn *ret) {
        for (char **n = g->devices; n && *n; n++)
                for (size_t i = 0; i < tick->n_devices; i++)
                        if (streq(tick->devices[i].name, *n))
                                ret->device_unmaps += tick->devices[i].unmaps;
}

/* Whether the group's devices sit behind the named unit: domain ids are
 * per unit, so an id can only be the domain of a group behind its own. */
static bool group_behind_unit(const Topology *t, int group, const char *unit) {
        int u = group_unit_index(t, &t->groups[group]);

        return u >= 0 && streq(t->units[u].name, unit);
}

/* A domain id no map knows, whose page-selective invalidations match the
 * exact device count of one strict group with no known domain behind the
 * same unit (strict pays one per unmap), seems to be that group's. Then
 * the candidates no group was found for are dropped. */
static void learn_by_match(const Topology *t, const AttributionGroupIn *gin, AccountingTick *a) {
        size_t kept = 0;

        for (size_t i = 0; i < a->n_learn; i++) {
                AccountingDomainSeen *l = &a->learn[i];
                uint64_t slack = l->iotlb_page * DOMAIN_LEARN_MATCH_PCT / 100;
                int match = -1, n_match = 0;

                if (slack < 2)
                        slack = 2;
                for (size_t g = 0; l->group < 0 && l->iotlb_page >= DOMAIN_LEARN_MIN && g < t->n_groups; g++) {
                        uint64_t dev = gin[g].device_unmaps;

                        if (!gin[g].strict || !gin[g].device_counted || gin[g].domain_known ||
                            !group_behind_unit(t, (int) g, l->unit))
                                continue;
                        if (dev + slack >= l->iotlb_page && dev <= l->iotlb_page + slack) {
                                match = (int) g;
                                n_match++;
                        }
                }
                if (n_match == 1) {
                        l->group = match;
                        l->how = "its page-selective invalidations matched that group's exact unmap count";
                }
                if (l->group >= 0)
                        a->learn[kept++] = *l;
        }
        a->n_learn = kept;
}

void accounting_tick_done(AccountingTick *t) {
        free(t->groups);
        free(t->units);
        free(t->unattributed);
        free(t->rates);
        free(t->sources);
        free(t->tick_unmaps);
        free(t->learn);
        *t = (AccountingTick) { .unmaps_group = -1, .learn_group = -1 };
}

int accounting_compute(const AccountingInput *in, AccountingTick *ret) {
        const Topology *t = in ? in->topology : NULL;
        const FlushTick *tick = in ? in->tick : NULL;
        AccountingTick a = { .unmaps_group = -1, .learn_group = -1 };
        StateCounters unmap_side = {};
        uint64_t iotlb_unattributed = 0, map_flushes;
        uint64_t unattributed_strict_model = 0; /* the strict model's share of the unattributed unmaps */
        size_t n_active = 0;
        int only_active = -1, single_unit;
        bool all_dma_lazy = true;
        _cleanup_free_ AttributionGroupIn *gin = NULL;
        _cleanup_free_ uint64_t *domain_selective = NULL;
        _cleanup_(attribution_done) Attribution att = {};
        bool sizes_one_per_unmap, domain_counts_whole;
        int r;

        if (!t || !tick || (t->n_groups && !in->group_active) || in->interval_s <= 0)
                return -EINVAL;
        a.groups = calloc(t->n_groups + 1, sizeof(*a.groups));
        a.rates = calloc(t->n_groups + 1, sizeof(*a.rates));
        a.units = calloc(t->n_units + 1, sizeof(*a.units));
        a.unattributed = calloc(t->n_units + 1, sizeof(*a.unattributed));
        a.sources = calloc(t->n_groups + 1, sizeof(*a.sources));
        a.tick_unmaps = calloc(t->n_groups + 1, sizeof(*a.tick_unmaps));
        a.learn = calloc(tick->n_domains + 1, sizeof(*a.learn));
        gin = calloc(t->n_groups + 1, sizeof(*gin));
        domain_selective = calloc(t->n_groups + 1, sizeof(*domain_selective));
        if (!a.groups || !a.rates || !a.units || !a.unattributed || !a.sources || !a.tick_unmaps || !a.learn || !gin ||
            !domain_selective) {
                accounting_tick_done(&a);
                return -ENOMEM;
        }
        single_unit = t->n_units == 1 ? 0 : -1;

        /* Invalidations, by domain. */
        for (size_t i = 0; tick->qi_ok && i < tick->n_domains; i++) {
                const FlushDomainCount *c = &tick->domains[i];
                int u = unit_index(t, c->unit);
                int g = accounting_group_of_domain(t, in->map, c->unit, c->did);
                int gi = g >= 0 ? group_index(t, (unsigned) g) : -1;
                StateCounters d = {
                        .iotlb_invalidations = c->iotlb,
                        .iotlb_page_selective = c->iotlb_page,
                        .devtlb_invalidations = c->devtlb,
                };

                state_counters_add(&a.total, &d);
                if (u >= 0)
                        state_counters_add(&a.units[u], &d);
                if (gi >= 0) {
                        state_counters_add(&a.groups[gi], &d);
                        gin[gi].page_selective += c->iotlb_page;
                        domain_selective[gi] += c->iotlb_domain;
                } else {
                        iotlb_unattributed += c->iotlb;
                        if (u >= 0)
                                state_counters_add(&a.unattributed[u], &d);
                }
                /* No device is in it now (perhaps one was: a detached
                 * entry still attributes it): a candidate to learn. */
                if (c->iotlb >= DOMAIN_LEARN_MIN && !domain_did_known(in->map, c->unit, c->did)) {
                        AccountingDomainSeen *l = &a.learn[a.n_learn++];

                        snprintf(l->unit, sizeof(l->unit), "%s", c->unit);
                        l->did = c->did;
                        l->iotlb = c->iotlb;
                        l->iotlb_page = c->iotlb_page;
                        l->group = -1;
                }
        }
        for (size_t i = 0; tick->qi_ok && i < tick->n_units; i++) {
                int u = unit_index(t, tick->units[i].unit);
                StateCounters d = { .iotlb_invalidations = tick->units[i].iotlb_global,
                                    .devtlb_invalidations = tick->units[i].devtlb_unplaced };

                state_counters_add(&a.total, &d);
                iotlb_unattributed += d.iotlb_invalidations;
                if (u >= 0) {
                        state_counters_add(&a.units[u], &d);
                        state_counters_add(&a.unattributed[u], &d);
                }
        }

        /* Which group's devices did I/O. */
        for (size_t i = 0; i < t->n_groups; i++) {
                if (in->group_active[i]) {
                        n_active++;
                        only_active = (int) i;
                }
                if (t->groups[i].type == GROUP_TYPE_DMA)
                        all_dma_lazy = false;
        }
        {
                size_t n_moving = 0;
                int only_moving = -1;

                for (size_t i = 0; i < t->n_groups; i++)
                        if (in->group_moved_data ? in->group_moved_data[i] : in->group_active[i]) {
                                n_moving++;
                                only_moving = (int) i;
                        }
                if (n_moving == 1) {
                        a.learn_group = only_moving;
                        for (size_t i = 0; i < a.n_learn; i++)
                                if (group_behind_unit(t, only_moving, a.learn[i].unit)) {
                                        a.learn[i].group = only_moving;
                                        a.learn[i].how = "invalidated while that group alone moved data";
                                }
                }
        }

        /* Each mapping's own flush where maps are flushed too, one per
         * mapping and so one per unmap (see any_unit_flushes_maps()). */
        map_flushes = tick->counters_ok && any_unit_flushes_maps(t) ? tick->unmaps : 0;

        /* Maps and unmaps, and what they would have cost. */
        if (tick->counters_ok) {
                unmap_side.maps = tick->maps;
                unmap_side.unmaps = tick->unmaps;
                if (tick->gather_ok) {
                        /* Unmaps below the filter: one sync strict, none lazy. */
                        unmap_side.strict_model_invalidations =
                                sub0(tick->unmaps, tick->gather.events) + tick->gather.strict_syncs + map_flushes;
                        unmap_side.unpatched_model_invalidations = tick->gather.lazy_unpatched_syncs;
                }
        }
        state_counters_add(&a.total, &unmap_side);
        if (single_unit >= 0)
                state_counters_add(&a.units[single_unit], &unmap_side);

        /* Whether a domain's page-selective invalidations are one per
         * unmap: an unmap with k page-size changes pays k + 1 before the
         * generic page table (6.19), and only the unmap records (every
         * unmap that can have a change is recorded, none lost) show there
         * was none. Where no unmap can pay more than one (the generic page
         * table, one page size, AMD) the sampler records none and says so
         * with gather_ok and no mixed events. */
        sizes_one_per_unmap = tick->gather_ok && tick->gather.mixed_events == 0 && tick->unmap_records_lost == 0;
        /* A lost invalidation record leaves some domain's count short, and
         * which one is not known: no domain's count is a whole tick's. */
        domain_counts_whole = tick->qi_ok && tick->qi_records_lost == 0;

        /* Each group's unmaps and maps (group-attribution.h). */
        for (size_t i = 0; i < t->n_groups; i++) {
                /* Identity and blocked groups unmap nothing through the
                 * IOMMU: no share for them. */
                gin[i].active = in->group_active[i] && t->groups[i].type != GROUP_TYPE_IDENTITY &&
                                t->groups[i].type != GROUP_TYPE_BLOCKED;
                gin[i].io_ops = in->group_io_ops ? in->group_io_ops[i] : in->group_active[i];
                gin[i].unmaps_per_op = in->group_unmaps_per_op ? in->group_unmaps_per_op[i] : 0;
                gin[i].strict = t->groups[i].type == GROUP_TYPE_DMA;
                gin[i].domain_known = tick->qi_ok && group_domain_known(t, in->map, &t->groups[i]);
                /* A strict domain's domain-selective flush (a range too
                 * large for a page-selective one) is an unmap with no
                 * page-selective invalidation. (A lazy domain's are the
                 * flush queue's, which its page-selective count never
                 * includes.) */
                gin[i].domain_one_per_unmap = sizes_one_per_unmap && domain_counts_whole &&
                                              (!gin[i].strict || domain_selective[i] == 0);
                if (tick->dma_ok && (t->groups[i].type == GROUP_TYPE_DMA || t->groups[i].type == GROUP_TYPE_DMA_FQ)) {
                        gin[i].device_counted = true;
                        group_device_counts(t, tick, &t->groups[i], &gin[i]);
                }
        }
        r = attribution_compute(&(AttributionInput) { .counters_ok = tick->counters_ok, .unmaps = tick->unmaps,
                                                      .maps = tick->maps, .iova_api = in->iova_api,
                                                      .exact_carry = in->exact_carry_in,
                                                      .groups = gin, .n_groups = t->n_groups },
                                &att);
        if (r < 0) {
                accounting_tick_done(&a);
                return r;
        }
        {
                _cleanup_free_ uint64_t *w = calloc(t->n_groups + 2, sizeof(uint64_t));
                _cleanup_free_ uint64_t *part = calloc(t->n_groups + 2, sizeof(uint64_t));
                uint64_t n_apportioned = 0, exact = 0;
                size_t n_shared = 0;

                if (!w || !part) {
                        accounting_tick_done(&a);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < t->n_groups; i++) {
                        StateCounters *g = &a.groups[i];

                        a.sources[i] = att.groups[i].source;
                        a.tick_unmaps[i] = att.groups[i].unmaps;
                        g->unmaps += att.groups[i].unmaps;
                        g->maps += att.groups[i].maps;
                        g->unmaps_apportioned += att.groups[i].apportioned_unmaps;
                        g->maps_apportioned += att.groups[i].apportioned_maps;
                        n_apportioned += att.groups[i].apportioned_unmaps;
                        n_shared += att.groups[i].apportioned_unmaps > 0;
                        exact += att.groups[i].unmaps - att.groups[i].apportioned_unmaps;
                        w[i] = att.groups[i].unmaps;
                }
                w[t->n_groups] = att.unattributed_unmaps;
                if (single_unit >= 0) {
                        a.unattributed[single_unit].unmaps += att.unattributed_unmaps;
                        a.unattributed[single_unit].maps += att.unattributed_maps;
                }
                /* The models, shared by unmaps (an estimate of an estimate:
                 * the per-unmap k is not known per group). */
                attribution_split(unmap_side.strict_model_invalidations, w, t->n_groups + 1, part);
                for (size_t i = 0; i < t->n_groups; i++)
                        a.groups[i].strict_model_invalidations += part[i];
                unattributed_strict_model = part[t->n_groups];
                if (single_unit >= 0)
                        a.unattributed[single_unit].strict_model_invalidations += part[t->n_groups];
                attribution_split(unmap_side.unpatched_model_invalidations, w, t->n_groups + 1, part);
                for (size_t i = 0; i < t->n_groups; i++)
                        a.groups[i].unpatched_model_invalidations += part[i];
                if (single_unit >= 0)
                        a.unattributed[single_unit].unpatched_model_invalidations += part[t->n_groups];

                if (!tick->counters_ok)
                        snprintf(a.attribution, sizeof(a.attribution), "unmaps unattributed: %s", att.why);
                else
                        snprintf(a.attribution, sizeof(a.attribution),
                                 "unmaps: %" PRIu64 " exact, %" PRIu64 " apportioned among %zu groups by their "
                                 "I/O operations%s, %" PRIu64 " unattributed%s%s",
                                 exact, n_apportioned, n_shared,
                                 att.weighted && n_apportioned ? " (weighted by their measured unmaps per operation)" : "",
                                 att.unattributed_unmaps,
                                 att.unattributed_unmaps ? ": " : "", att.unattributed_unmaps ? att.why : "");
                if (iotlb_unattributed) {
                        size_t len = strlen(a.attribution);

                        snprintf(a.attribution + len, sizeof(a.attribution) - len,
                                 "; %" PRIu64 " invalidations unattributed: global, or of domain ids not known "
                                 "(no debugfs entry, attach descriptor or cache tag, not learned yet)",
                                 iotlb_unattributed);
                }
        }
        a.exact_carry_out = att.carry_out;
        learn_by_match(t, gin, &a);
        if (n_active == 1 && tick->counters_ok)
                a.unmaps_group = only_active;

        /* Savings against strict, where both sides are known. */
        if (tick->counters_ok && tick->gather_ok && tick->qi_ok) {
                uint64_t model = unmap_side.strict_model_invalidations;
                uint64_t seen = a.total.iotlb_invalidations + in->strict_credit_in;
                uint64_t shortfall = sub0(model, seen), excess = sub0(seen, model);
                uint64_t paid = min_u64(excess, in->strict_debit_in);
                _cleanup_free_ uint64_t *raw = calloc(t->n_groups + 1, sizeof(uint64_t));
                _cleanup_free_ uint64_t *part = calloc(t->n_groups + 1, sizeof(uint64_t));
                uint64_t raw_sum = 0, given = 0, lazy_could_avoid, avoided;
                bool any_lazy = false;

                if (!raw || !part) {
                        accounting_tick_done(&a);
                        return -ENOMEM;
                }

                /* Per lazy group: its share of strict's cost minus its own
                 * invalidations. */
                for (size_t i = 0; i < t->n_groups; i++)
                        if (t->groups[i].type == GROUP_TYPE_DMA_FQ) {
                                raw[i] = sub0(a.groups[i].strict_model_invalidations,
                                              a.groups[i].iotlb_invalidations);
                                raw_sum += raw[i];
                                any_lazy = true;
                        }
                /* Only lazy groups avoid anything: the unattributed unmaps
                 * may be theirs when one is lazy. The rest of the shortfall
                 * is owed (an invalidation sampled a tick after its unmap's
                 * record), not avoided. */
                lazy_could_avoid = raw_sum + (any_lazy ? unattributed_strict_model : 0);
                avoided = min_u64(shortfall, lazy_could_avoid);

                /* The excess pays what is owed first. At most this tick's
                 * own invalidations are carried on as credit, at most its
                 * own strict model as debit. */
                a.strict_credit_out = min_u64(excess - paid, a.total.iotlb_invalidations);
                a.strict_debit_out = min_u64(in->strict_debit_in - paid + (shortfall - avoided), model);

                a.total.avoided_vs_strict = avoided;
                if (single_unit >= 0)
                        a.units[single_unit].avoided_vs_strict = avoided;

                /* The total shared among the lazy groups in proportion,
                 * never beyond what each could have avoided. */
                if (raw_sum > avoided)
                        given = attribution_split(avoided, raw, t->n_groups, part);
                else
                        for (size_t i = 0; i < t->n_groups; i++)
                                given += part[i] = raw[i];
                for (size_t i = 0; i < t->n_groups; i++) {
                        a.groups[i].avoided_vs_strict = part[i];
                        if (att.groups[i].apportioned_unmaps)
                                a.groups[i].avoided_apportioned = part[i];
                }
                if (single_unit >= 0)
                        a.unattributed[single_unit].avoided_vs_strict = avoided - given;

                /* The patched driver: only for unmaps known to be in lazy
                 * domains (the only active group is lazy, or no group is
                 * strict at all). */
                if ((a.unmaps_group >= 0 && t->groups[a.unmaps_group].type == GROUP_TYPE_DMA_FQ) ||
                    (a.unmaps_group < 0 && all_dma_lazy)) {
                        /* Where maps are flushed too, one page-selective
                         * invalidation per mapping is the map's, not the
                         * unmap's: the patch changes only the latter. */
                        uint64_t unmap_page = sub0(a.total.iotlb_page_selective, map_flushes);
                        uint64_t seen_page = unmap_page + in->patch_credit_in;
                        uint64_t by_patch = sub0(unmap_side.unpatched_model_invalidations, seen_page);

                        a.patch_credit_out = min_u64(sub0(seen_page, unmap_side.unpatched_model_invalidations),
                                                     unmap_page);

                        a.total.avoided_by_patch = by_patch;
                        /* Unmaps with page-size changes in lazy domains are
                         * what tells a patched driver from an unpatched one. */
                        if (tick->gather.mixed_events > 0)
                                a.evidence = (DriverEvidence) {
                                        .mixed_unmaps = tick->gather.mixed_events,
                                        .unpatched_would_pay = unmap_side.unpatched_model_invalidations,
                                        .page_selective_seen = unmap_page,
                                };
                        if (single_unit >= 0)
                                a.units[single_unit].avoided_by_patch = by_patch;
                        if (a.unmaps_group >= 0 && iotlb_unattributed == 0)
                                a.groups[a.unmaps_group].avoided_by_patch = by_patch;
                        else if (single_unit >= 0)
                                a.unattributed[single_unit].avoided_by_patch = by_patch;
                }
        }
        if (single_unit < 0)
                add_groups_to_their_units(t, &a);
        if (in->cost_ns) {
                a.total.time_saved_ns = a.total.avoided_vs_strict * in->cost_ns;
                for (size_t i = 0; i < t->n_groups; i++)
                        a.groups[i].time_saved_ns = a.groups[i].avoided_vs_strict * in->cost_ns;
                for (size_t i = 0; i < t->n_units; i++) {
                        a.units[i].time_saved_ns = a.units[i].avoided_vs_strict * in->cost_ns;
                        a.unattributed[i].time_saved_ns = a.unattributed[i].avoided_vs_strict * in->cost_ns;
                }
        }

        /* Rates for the policy, with their source, whenever the counters
         * run. */
        if (tick->counters_ok)
                for (size_t i = 0; i < t->n_groups; i++) {
                        const AttributionGroup *g = &att.groups[i];

                        a.rates[i] = (PolicyGroupRate) {
                                .measured = g->source != RATE_SOURCE_UNKNOWN,
                                .unmaps_per_sec = (double) g->unmaps / in->interval_s,
                                .source = rate_source_to_string(g->source),
                                .exact = rate_source_is_exact(g->source) || g->source == RATE_SOURCE_IDLE,
                                .share = g->source == RATE_SOURCE_APPORTIONED ? g->share : 0,
                                .avoidable_known = g->batchable_known,
                                .avoidable_per_sec = (double) g->batchable_unmaps / in->interval_s,
                        };
                }
        *ret = a;
        return 0;
}
