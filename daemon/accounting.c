/* SPDX-License-Identifier: GPL-2.0-or-later */
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

void accounting_tick_done(AccountingTick *t) {
        free(t->groups);
        free(t->units);
        free(t->unattributed);
        free(t->rates);
        *t = (AccountingTick) { .unmaps_group = -1 };
}

int accounting_compute(const AccountingInput *in, AccountingTick *ret) {
        const Topology *t = in ? in->topology : NULL;
        const FlushTick *tick = in ? in->tick : NULL;
        AccountingTick a = { .unmaps_group = -1 };
        StateCounters unmap_side = {}, *unmap_owner;
        uint64_t iotlb_unattributed = 0, map_flushes;
        size_t n_active = 0;
        int only_active = -1, single_unit;
        bool all_dma_lazy = true;

        if (!t || !tick || (t->n_groups && !in->group_active) || in->interval_s <= 0)
                return -EINVAL;
        a.groups = calloc(t->n_groups + 1, sizeof(*a.groups));
        a.rates = calloc(t->n_groups + 1, sizeof(*a.rates));
        a.units = calloc(t->n_units + 1, sizeof(*a.units));
        a.unattributed = calloc(t->n_units + 1, sizeof(*a.unattributed));
        if (!a.groups || !a.rates || !a.units || !a.unattributed) {
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
                if (gi >= 0)
                        state_counters_add(&a.groups[gi], &d);
                else {
                        iotlb_unattributed += c->iotlb;
                        if (u >= 0)
                                state_counters_add(&a.unattributed[u], &d);
                }
        }
        for (size_t i = 0; tick->qi_ok && i < tick->n_units; i++) {
                int u = unit_index(t, tick->units[i].unit);
                StateCounters d = { .iotlb_invalidations = tick->units[i].iotlb_global };

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

        if (n_active == 1 && tick->counters_ok) {
                a.unmaps_group = only_active;
                unmap_owner = &a.groups[only_active];
                snprintf(a.attribution, sizeof(a.attribution),
                         "unmaps given to group %u: the only group whose devices did I/O this tick",
                         t->groups[only_active].id);
        } else {
                unmap_owner = single_unit >= 0 ? &a.unattributed[single_unit] : NULL;
                snprintf(a.attribution, sizeof(a.attribution), "unmaps unattributed: %s",
                         !tick->counters_ok ? "the map/unmap counters are not running"
                         : n_active == 0   ? "no group's devices did I/O this tick"
                                           : "several groups did I/O this tick");
        }
        if (unmap_owner)
                state_counters_add(unmap_owner, &unmap_side);

        /* Savings against strict, where both sides are known. */
        if (tick->counters_ok && tick->gather_ok && tick->qi_ok) {
                uint64_t seen = a.total.iotlb_invalidations + in->strict_credit_in;
                uint64_t avoided = sub0(unmap_side.strict_model_invalidations, seen);

                /* At most this tick's own invalidations are carried on. */
                a.strict_credit_out = min_u64(sub0(seen, unmap_side.strict_model_invalidations),
                                              a.total.iotlb_invalidations);

                a.total.avoided_vs_strict = avoided;
                if (a.unmaps_group >= 0 && iotlb_unattributed == 0)
                        a.groups[a.unmaps_group].avoided_vs_strict = avoided;
                else if (single_unit >= 0)
                        a.unattributed[single_unit].avoided_vs_strict = avoided;
                if (single_unit >= 0)
                        a.units[single_unit].avoided_vs_strict = avoided;

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
        if (in->cost_ns) {
                a.total.time_saved_ns = a.total.avoided_vs_strict * in->cost_ns;
                for (size_t i = 0; i < t->n_groups; i++)
                        a.groups[i].time_saved_ns = a.groups[i].avoided_vs_strict * in->cost_ns;
                for (size_t i = 0; i < t->n_units; i++) {
                        a.units[i].time_saved_ns = a.units[i].avoided_vs_strict * in->cost_ns;
                        a.unattributed[i].time_saved_ns = a.unattributed[i].avoided_vs_strict * in->cost_ns;
                }
        }

        /* Rates for the policy, only where they are known: exactly for the
         * only group with I/O (it has every unmap), zero for the others
         * then, and zero for all when the machine unmapped nothing. */
        if (tick->counters_ok) {
                double machine = (double) tick->unmaps / in->interval_s;

                for (size_t i = 0; i < t->n_groups; i++)
                        if ((int) i == a.unmaps_group)
                                a.rates[i] = (PolicyGroupRate) { .measured = true, .unmaps_per_sec = machine };
                        else if (a.unmaps_group >= 0 || tick->unmaps == 0)
                                a.rates[i] = (PolicyGroupRate) { .measured = true, .unmaps_per_sec = 0 };
        }
        *ret = a;
        return 0;
}
