/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flush accounting: attribution of invalidations by domain id, of unmaps to
 * the only group with I/O, the strict and unpatched models, and the rates
 * handed to the policy. The figures come from the kernel notes' observed
 * counts (1000 unmaps: 1000 invalidations strict, 12 lazy; 50 lazy 3 MiB
 * unmaps: 100 page-selective invalidations unpatched, 0 patched).
 */
#include <inttypes.h>

#include "accounting.h"
#include "tap.h"
#include "util.h"

/* One VT-d unit, three single-device groups: nvme 00:03.0 (group 1),
 * e1000e 00:04.0 (group 2), virtio 00:05.0 (group 3). */
static char dev_names[3][16] = { "0000:00:03.0", "0000:00:04.0", "0000:00:05.0" };
static char *members[3][2] = { { dev_names[0], NULL }, { dev_names[1], NULL }, { dev_names[2], NULL } };
static char unit_name[] = "dmar0";

static void make_topology(Topology *t, IommuUnit *u, IommuGroup *g, Device *d, GroupType types[3], bool cm) {
        *u = (IommuUnit) { .name = unit_name, .vendor = IOMMU_VENDOR_INTEL_VTD, .has_vtd_caps = true,
                           .pgsize_bitmap = SZ_4K | SZ_2M | SZ_1G };
        u->vtd.caching_mode = cm;
        for (int i = 0; i < 3; i++) {
                g[i] = (IommuGroup) { .id = (unsigned) i + 1, .type = types[i], .devices = members[i] };
                d[i] = (Device) { .name = dev_names[i], .is_pci = true, .group = i + 1, .class_word = "nvme" };
        }
        *t = (Topology) { .units = u, .n_units = 1, .groups = g, .n_groups = 3, .devices = d, .n_devices = 3 };
}

/* debugfs rows in the 6.1 format: did = (context hi >> 8) & 0xffff. */
static void make_map(DomainMap *m) {
        *m = (DomainMap) {};
        domain_map_parse_translation_struct(m, "IOMMU dmar0: Root Table Address: 0x1\n"
                                               "00:03.0\t0x0:0x1\t0x0000000000000501:0x1\t-1\t0x0:0x0:0x0\n"
                                               "00:04.0\t0x0:0x1\t0x0000000000000601:0x1\t-1\t0x0:0x0:0x0\n");
}

static AccountingTick run(const Topology *t, const FlushTick *tick, const DomainMap *map, bool a0, bool a1, bool a2,
                          uint64_t cost_ns) {
        bool active[3] = { a0, a1, a2 };
        AccountingInput in = { .topology = t, .tick = tick, .map = map, .group_active = active,
                               .interval_s = 1.0, .cost_ns = cost_ns };
        AccountingTick a = { .unmaps_group = -1 };

        CHECK_INT(accounting_compute(&in, &a), 0, "accounting_compute");
        return a;
}

static void test_lazy_group_alone(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushDomainCount dom = { .unit = "dmar0", .did = 5, .iotlb = 12, .iotlb_domain = 12 };
        FlushTick tick = { .counters_ok = true, .maps = 1000, .unmaps = 1000, .gather_ok = true, .qi_ok = true,
                           .domains = &dom, .n_domains = 1 };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        CHECK_INT(accounting_group_of_domain(&t, &map, "dmar0", 5), 1, "did 5 is group 1 (00:03.0)");
        CHECK_INT(accounting_group_of_domain(&t, &map, "dmar0", 9), -1, "did 9 is unknown");
        CHECK_INT(accounting_group_of_domain(&t, &map, "dmar1", 5), -1, "did 5 on another unit is unknown");

        a = run(&t, &tick, &map, true, false, false, 0);
        CHECK_INT(a.unmaps_group, 0, "the only active group gets the unmaps");
        CHECK_INT(a.groups[0].unmaps, 1000, "group 1 unmaps");
        CHECK_INT(a.groups[0].iotlb_invalidations, 12, "group 1 invalidations (by domain id)");
        CHECK_INT(a.groups[0].strict_model_invalidations, 1000, "strict would cost one per unmap");
        CHECK_INT(a.groups[0].avoided_vs_strict, 988, "avoided against strict");
        CHECK_INT(a.groups[0].time_saved_ns, 0, "no cost known: no time claimed");
        CHECK_INT(a.total.avoided_vs_strict, 988, "machine avoided");
        CHECK_INT(a.units[0].unmaps, 1000, "unit unmaps");
        CHECK_INT(a.unattributed[0].unmaps, 0, "nothing unattributed");
        CHECK(a.rates[0].measured && a.rates[0].unmaps_per_sec == 1000, "group 1 rate measured: 1000/s");
        CHECK(a.rates[1].measured && a.rates[1].unmaps_per_sec == 0, "group 2: no unmaps");
        CHECK(strstr(a.attribution, "1000 exact") != NULL, "attribution in words: %s", a.attribution);
        CHECK_STR(a.rates[0].source, "exact by elimination", "the only active group: exact by elimination");
        CHECK(a.rates[0].exact, "and exact");
        accounting_tick_done(&a);

        a = run(&t, &tick, &map, true, false, false, 3500);
        CHECK_INT(a.groups[0].time_saved_ns, 988 * 3500, "time saved with a known cost");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

static void test_several_active(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA };
        FlushDomainCount dom[2] = { { .unit = "dmar0", .did = 5, .iotlb = 10, .iotlb_domain = 10 },
                                    { .unit = "dmar0", .did = 6, .iotlb = 4, .iotlb_domain = 4 } };
        FlushTick tick = { .counters_ok = true, .maps = 800, .unmaps = 800, .gather_ok = true, .qi_ok = true,
                           .domains = dom, .n_domains = 2 };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        a = run(&t, &tick, &map, true, true, false, 0);
        CHECK_INT(a.unmaps_group, -1, "two active groups: unmaps not given to either whole");
        /* Lazy groups: no exact source; equal I/O (none given): 400 each,
         * apportioned and counted so. */
        CHECK_INT(a.groups[0].unmaps, 400, "group 1: apportioned half");
        CHECK_INT(a.groups[1].unmaps, 400, "group 2: apportioned half");
        CHECK_INT(a.groups[0].unmaps_apportioned, 400, "counted as apportioned");
        CHECK_INT(a.unattributed[0].unmaps, 0, "nothing left unattributed");
        CHECK_INT(a.groups[0].iotlb_invalidations, 10, "invalidations still attributed by domain id (group 1)");
        CHECK_INT(a.groups[1].iotlb_invalidations, 4, "invalidations still attributed by domain id (group 2)");
        CHECK_INT(a.groups[0].avoided_vs_strict, 400 - 10, "group 1 saved its strict share less its invalidations");
        CHECK_INT(a.groups[1].avoided_vs_strict, 400 - 4, "group 2 likewise");
        CHECK_INT(a.groups[0].avoided_apportioned, 390, "resting on apportioned unmaps");
        CHECK_INT(a.unattributed[0].avoided_vs_strict, 0, "nothing avoided left unattributed");
        CHECK_INT(a.units[0].avoided_vs_strict, 800 - 14, "the unit's total");
        CHECK(a.rates[0].measured && a.rates[1].measured && a.rates[2].measured, "rates known");
        CHECK_STR(a.rates[0].source, "apportioned", "labelled apportioned");
        CHECK(!a.rates[0].exact && a.rates[0].share == 0.5, "not exact, share 0.5");
        CHECK_STR(a.rates[2].source, "no I/O", "the idle group");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

/* Two units, each with a busy lazy group: each unit's unmap side is its
 * groups' (plus its own unattributed part), never the machine's whole, so
 * the units add up to the machine and each unit to its groups. */
static void test_two_units(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA, GROUP_TYPE_DMA_FQ };
        static char unit1_name[] = "dmar1";
        FlushDomainCount dom[2] = { { .unit = "dmar0", .did = 5, .iotlb = 10, .iotlb_domain = 10 },
                                    { .unit = "dmar1", .did = 2, .iotlb = 6, .iotlb_domain = 6 } };
        FlushTick tick = { .counters_ok = true, .maps = 800, .unmaps = 800, .gather_ok = true, .qi_ok = true,
                           .domains = dom, .n_domains = 2 };
        Topology t;
        IommuUnit u[2];
        IommuGroup g[3];
        Device d[3];
        AccountingTick a;

        make_topology(&t, &u[0], g, d, types, false);
        u[1] = u[0];
        u[1].name = unit1_name;
        t.n_units = 2;
        d[0].unit = d[1].unit = unit_name;
        d[2].unit = unit1_name;
        a = run(&t, &tick, NULL, true, false, true, 0);
        CHECK_INT(a.groups[0].unmaps, 400, "group 1 (dmar0): apportioned half");
        CHECK_INT(a.groups[2].unmaps, 400, "group 3 (dmar1): apportioned half");
        CHECK_INT(a.units[0].unmaps, a.groups[0].unmaps + a.groups[1].unmaps + a.unattributed[0].unmaps,
                  "dmar0's unmaps are its groups' and its unattributed ones");
        CHECK_INT(a.units[1].unmaps, a.groups[2].unmaps + a.unattributed[1].unmaps,
                  "dmar1's unmaps are its group's and its unattributed ones");
        CHECK_INT(a.units[0].unmaps + a.units[1].unmaps, a.total.unmaps, "the units add up to the machine");
        CHECK_INT(a.units[1].unmaps_apportioned, 400, "dmar1's apportioned part");
        CHECK_INT(a.units[0].strict_model_invalidations, a.groups[0].strict_model_invalidations,
                  "dmar0's strict model is its group's");
        CHECK_INT(a.units[0].iotlb_invalidations, 10, "dmar0's invalidations, measured");
        CHECK_INT(a.units[1].iotlb_invalidations, 6, "dmar1's invalidations, measured");
        CHECK_INT(a.units[0].avoided_vs_strict + a.units[1].avoided_vs_strict, a.total.avoided_vs_strict,
                  "what was avoided adds up to the machine's");
        accounting_tick_done(&a);
}

static void test_unknown_domain(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushDomainCount dom = { .unit = "dmar0", .did = 9, .iotlb = 1000, .iotlb_page = 1000 };
        FlushTick tick = { .counters_ok = true, .maps = 1000, .unmaps = 1000, .gather_ok = true, .qi_ok = true,
                           .domains = &dom, .n_domains = 1 };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        a = run(&t, &tick, NULL, false, false, true, 0);
        CHECK_INT(a.groups[2].unmaps, 1000, "unmaps go to the only active group");
        CHECK_INT(a.groups[2].iotlb_invalidations, 0, "an unknown domain's invalidations are not guessed");
        CHECK_INT(a.unattributed[0].iotlb_invalidations, 1000, "they stay unattributed at the unit");
        CHECK_INT(a.groups[2].avoided_vs_strict, 0, "no per-group saving without its invalidations");
        CHECK_INT(a.total.avoided_vs_strict, 0, "strict costs what the model says: nothing avoided");
        CHECK_INT(a.total.avoided_by_patch, 0, "a strict group: no patched-driver saving counted");
        accounting_tick_done(&a);
}

/* Device-TLB invalidations: those the sampler placed in a domain go to
 * its group; those of a device whose domain it did not know, to the unit,
 * unattributed. Both count in the unit's and the machine's totals. */
static void test_device_tlb(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushDomainCount dom = { .unit = "dmar0", .did = 5, .devtlb = 40 };
        FlushUnitCount unit = { .unit = "dmar0", .devtlb_unplaced = 7 };
        FlushTick tick = { .counters_ok = true, .gather_ok = true, .qi_ok = true, .domains = &dom, .n_domains = 1,
                           .units = &unit, .n_units = 1 };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        a = run(&t, &tick, &map, true, false, false, 0);
        CHECK_INT(a.groups[0].devtlb_invalidations, 40, "did 5's device-TLB invalidations: the nvme's group");
        CHECK_INT(a.unattributed[0].devtlb_invalidations, 7, "the unplaced ones: the unit's, unattributed");
        CHECK_INT(a.units[0].devtlb_invalidations, 47, "the unit's total: both");
        CHECK_INT(a.total.devtlb_invalidations, 47, "the machine's total: both");
        CHECK_INT(a.total.iotlb_invalidations, 0, "no IOTLB invalidation invented");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

static void test_caching_mode(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushDomainCount dom = { .unit = "dmar0", .did = 5, .iotlb = 2001, .iotlb_page = 2001 };
        /* 1000 64K reads: 16 iommu:map events each (4K segments), one
         * iotlb_sync_map each: 2000 = 1000 map syncs + 1000 unmap syncs. */
        FlushTick tick = { .counters_ok = true, .maps = 16000, .unmaps = 1000, .gather_ok = true, .qi_ok = true,
                           .domains = &dom, .n_domains = 1 };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a;

        make_topology(&t, &u, g, d, types, true);
        make_map(&map);
        a = run(&t, &tick, &map, true, false, false, 0);
        CHECK_INT(a.groups[0].strict_model_invalidations, 2000, "caching mode: strict pays per mapping and per unmap");
        CHECK_INT(a.groups[0].avoided_vs_strict, 0, "strict in caching mode avoids nothing");
        accounting_tick_done(&a);

        /* Lazy, patched, caching mode: 50 3 MiB unmaps (k = 1 each, all
         * recorded); the 50 page-selective invalidations seen are the
         * mappings' own flushes, so the patch avoided the whole model. */
        g[0].type = GROUP_TYPE_DMA_FQ;
        dom = (FlushDomainCount) { .unit = "dmar0", .did = 5, .iotlb = 51, .iotlb_page = 50, .iotlb_domain = 1 };
        tick = (FlushTick) { .counters_ok = true, .maps = 100, .unmaps = 50, .gather_ok = true, .qi_ok = true,
                             .domains = &dom, .n_domains = 1 };
        for (int i = 0; i < 50; i++)
                gather_model_account(&tick.gather, u.pgsize_bitmap, UINT64_C(0x40000000) + (uint64_t) i * (4u << 20),
                                     3u << 20);
        a = run(&t, &tick, &map, true, false, false, 0);
        CHECK_INT(a.total.unpatched_model_invalidations, 100, "caching mode, lazy 3 MiB: unpatched would pay 100");
        CHECK_INT(a.total.avoided_by_patch, 100, "the mappings' own flushes are not the unmaps': 100 avoided by the patch");
        CHECK_INT(a.evidence.page_selective_seen, 0, "no unmap paid a page-selective invalidation");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

/* AMD with NpCache, as QEMU emulates it: no invalidation records at all,
 * no unmap records needed (one sync per unmap); strict pays per mapping too.
 * Modelled figures only: nothing claimed as avoided. */
static void test_amd_np_cache(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        /* 16 map events per mapping (4K segments), one sync_map each. */
        FlushTick tick = { .counters_ok = true, .maps = 16 * 650, .unmaps = 650, .gather_ok = true };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        u = (IommuUnit) { .name = unit_name, .vendor = IOMMU_VENDOR_AMD_VI, .has_amd_cap = true,
                          .amd_cap = UINT32_C(0x1f03000f), .amd_np_cache = true };
        a = run(&t, &tick, NULL, true, false, false, 0);
        CHECK_INT(a.groups[0].strict_model_invalidations, 1300, "NpCache: strict pays per mapping and per unmap");
        CHECK_INT(a.groups[0].unpatched_model_invalidations, 0, "no unpatched lazy figure off VT-d");
        CHECK_INT(a.total.avoided_vs_strict, 0, "no invalidation seen: nothing claimed avoided");
        CHECK_INT(a.total.iotlb_invalidations, 0, "no invalidations measured");
        accounting_tick_done(&a);

        u.amd_np_cache = false;
        a = run(&t, &tick, NULL, true, false, false, 0);
        CHECK_INT(a.groups[0].strict_model_invalidations, 650, "without NpCache: one per unmap");
        accounting_tick_done(&a);
}

static void test_patched_driver(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        /* 50 lazy 3 MiB unmaps, all recorded: k = 1 each. */
        FlushTick tick = { .counters_ok = true, .maps = 50, .unmaps = 50, .gather_ok = true, .qi_ok = true };
        FlushDomainCount unpatched = { .unit = "dmar0", .did = 5, .iotlb = 101, .iotlb_page = 100, .iotlb_domain = 1 };
        FlushDomainCount patched = { .unit = "dmar0", .did = 5, .iotlb = 1, .iotlb_domain = 1 };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        for (int i = 0; i < 50; i++)
                gather_model_account(&tick.gather, u.pgsize_bitmap, UINT64_C(0x40000000) + (uint64_t) i * (4u << 20),
                                     3u << 20);
        CHECK_INT(tick.gather.lazy_unpatched_syncs, 100, "model: unpatched lazy costs 100");

        tick.domains = &unpatched;
        tick.n_domains = 1;
        a = run(&t, &tick, &map, true, false, false, 0);
        CHECK_INT(a.groups[0].unpatched_model_invalidations, 100, "unpatched model on the group");
        CHECK_INT(a.groups[0].avoided_by_patch, 0, "an unpatched driver avoids nothing by the patch");
        CHECK_INT(a.groups[0].strict_model_invalidations, 100, "strict model: k + 1 = 2 per unmap");
        CHECK(a.evidence.mixed_unmaps == 50 && a.evidence.unpatched_would_pay == 100 &&
              a.evidence.page_selective_seen == 100, "evidence of an unpatched driver");
        accounting_tick_done(&a);

        tick.domains = &patched;
        a = run(&t, &tick, &map, true, false, false, 0);
        CHECK_INT(a.groups[0].avoided_by_patch, 100, "the patched driver avoided 100");
        CHECK_INT(a.groups[0].avoided_vs_strict, 99, "lazy avoided 99 of 100 against strict");
        CHECK(a.evidence.mixed_unmaps == 50 && a.evidence.page_selective_seen == 0, "evidence of a patched driver");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

/* 50 unpatched lazy 3 MiB unmaps over two ticks, the last one at the edge:
 * its two page-selective invalidations were sampled in the first tick and
 * its record in the second. Nothing was avoided, in neither tick. */
static void test_tick_edge(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushTick t1 = { .counters_ok = true, .maps = 49, .unmaps = 49, .gather_ok = true, .qi_ok = true };
        FlushTick t2 = { .counters_ok = true, .maps = 1, .unmaps = 1, .gather_ok = true, .qi_ok = true };
        FlushDomainCount d1 = { .unit = "dmar0", .did = 5, .iotlb = 100, .iotlb_page = 100 };
        bool active[3] = { true, false, false };
        AccountingInput in;
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a = { .unmaps_group = -1 }, b = { .unmaps_group = -1 };

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        for (int i = 0; i < 49; i++)
                gather_model_account(&t1.gather, u.pgsize_bitmap, UINT64_C(0x40000000) + (uint64_t) i * (4u << 20),
                                     3u << 20);
        gather_model_account(&t2.gather, u.pgsize_bitmap, UINT64_C(0x80000000), 3u << 20);
        t1.domains = &d1;
        t1.n_domains = 1;

        in = (AccountingInput) { .topology = &t, .tick = &t1, .map = &map, .group_active = active, .interval_s = 1.0 };
        CHECK_INT(accounting_compute(&in, &a), 0, "edge: first tick");
        CHECK_INT(a.total.avoided_by_patch, 0, "edge: first tick avoids nothing by the patch");
        CHECK_INT(a.patch_credit_out, 2, "edge: 2 page-selective invalidations beyond the model carried on");
        CHECK_INT(a.strict_credit_out, 2, "edge: 2 invalidations beyond the strict model carried on");

        in.tick = &t2;
        in.patch_credit_in = a.patch_credit_out;
        in.strict_credit_in = a.strict_credit_out;
        CHECK_INT(accounting_compute(&in, &b), 0, "edge: second tick");
        CHECK_INT(b.total.unpatched_model_invalidations, 2, "edge: the unmap's model is in the second tick");
        CHECK_INT(b.total.avoided_by_patch, 0, "edge: with the credit the second tick avoids nothing by the patch");
        CHECK_INT(b.total.avoided_vs_strict, 0, "edge: nor against strict");
        CHECK_INT(b.patch_credit_out, 0, "edge: the credit is used up");
        accounting_tick_done(&b);

        /* Without the credit (what the daemon did before), 2 were claimed. */
        in.patch_credit_in = in.strict_credit_in = 0;
        CHECK_INT(accounting_compute(&in, &b), 0, "edge: second tick without the credit");
        CHECK_INT(b.total.avoided_by_patch, 2, "edge: without the credit 2 would be claimed");
        accounting_tick_done(&b);
        accounting_tick_done(&a);
        domain_map_done(&map);
}

/* One tick of 1000 4 KiB unmaps (below the recording filter: strict pays
 * one sync each) by the nvme (group 1), its page-selective invalidations
 * in did 5, with its dma:* count when dma_ok. */
static FlushTick strict_tick(FlushDomainCount *dom, uint64_t unmaps, uint64_t seen) {
        *dom = (FlushDomainCount) { .unit = "dmar0", .did = 5, .iotlb = seen, .iotlb_page = seen };
        return (FlushTick) { .counters_ok = true, .maps = unmaps, .unmaps = unmaps, .gather_ok = true, .qi_ok = true,
                             .domains = dom, .n_domains = 1 };
}

/* A fully strict machine, the last unmap of a tick at its edge: its record
 * in the first tick, its invalidation sampled in the second (the record was
 * not yet visible when the first drained the ring). Nothing was avoided, in
 * either tick: the first's shortfall is owed, not saved, and the second's
 * excess pays it rather than becoming credit. */
#define CHECK_EDGE(got, want, what)                                                                   \
        CHECK((uint64_t) (got) == (want), "strict edge (%s): " what " (is %" PRIu64 ")", m, (uint64_t) (got))

static void test_strict_deficit_edge(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushDomainCount dom1, dom2, dom3;
        FlushTick t1 = strict_tick(&dom1, 1000, 999), t2 = strict_tick(&dom2, 1000, 1001),
                  t3 = strict_tick(&dom3, 1000, 1000);
        bool active[3] = { true, false, false };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingInput in;
        AccountingTick a = { .unmaps_group = -1 };

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        for (int with_map = 1; with_map >= 0; with_map--) {
                const char *m = with_map ? "domain known" : "domain unknown";

                in = (AccountingInput) { .topology = &t, .tick = &t1, .map = with_map ? &map : NULL,
                                         .group_active = active, .interval_s = 1.0 };
                CHECK(accounting_compute(&in, &a) == 0, "strict edge (%s): first tick", m);
                CHECK_EDGE(a.total.strict_model_invalidations, 1000, "model 1000");
                CHECK_EDGE(a.total.avoided_vs_strict, 0, "first tick avoids nothing");
                CHECK_EDGE(a.units[0].avoided_vs_strict, 0, "nor does the unit");
                CHECK_EDGE(a.groups[0].avoided_vs_strict, 0, "nor the group");
                CHECK_EDGE(a.unattributed[0].avoided_vs_strict, 0, "nor is any left unattributed");
                CHECK_EDGE(a.strict_debit_out, 1, "the one invalidation owed is carried on");
                CHECK_EDGE(a.strict_credit_out, 0, "no credit");

                in.tick = &t2;
                in.strict_credit_in = a.strict_credit_out;
                in.strict_debit_in = a.strict_debit_out;
                accounting_tick_done(&a);
                CHECK(accounting_compute(&in, &a) == 0, "strict edge (%s): second tick", m);
                CHECK_EDGE(a.total.avoided_vs_strict, 0, "second tick avoids nothing");
                CHECK_EDGE(a.units[0].avoided_vs_strict, 0, "nor does its unit");
                CHECK_EDGE(a.strict_credit_out, 0, "the excess paid the debit: no credit");
                CHECK_EDGE(a.strict_debit_out, 0, "nothing owed any more");

                in.tick = &t3;
                in.strict_credit_in = a.strict_credit_out;
                in.strict_debit_in = a.strict_debit_out;
                accounting_tick_done(&a);
                CHECK(accounting_compute(&in, &a) == 0, "strict edge (%s): third tick", m);
                CHECK(a.total.avoided_vs_strict == 0 && a.strict_credit_out == 0 && a.strict_debit_out == 0,
                      "strict edge (%s): a third tick even: nothing avoided, nothing carried", m);
                accounting_tick_done(&a);
        }
        domain_map_done(&map);
}

/* A lazy group's saving still counts, a debit or not; a debit is paid by an
 * excess only, so it never makes a lazy tick claim more; and a debt never
 * grows beyond a tick's own strict model. */
static void test_debit_lazy_and_bounded(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushDomainCount dom = { .unit = "dmar0", .did = 5, .iotlb = 12, .iotlb_domain = 12 };
        FlushTick lazy = { .counters_ok = true, .maps = 1000, .unmaps = 1000, .gather_ok = true, .qi_ok = true,
                           .domains = &dom, .n_domains = 1 };
        FlushDomainCount sdom;
        FlushTick unseen = strict_tick(&sdom, 1000, 0), small;
        bool active[3] = { true, false, false };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingInput in;
        AccountingTick a = { .unmaps_group = -1 };

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        in = (AccountingInput) { .topology = &t, .tick = &lazy, .map = &map, .group_active = active,
                                 .interval_s = 1.0, .strict_debit_in = 5 };
        CHECK_INT(accounting_compute(&in, &a), 0, "lazy with a debit: compute");
        CHECK_INT(a.total.avoided_vs_strict, 988, "lazy with a debit: its saving (1000 - 12) still counts");
        CHECK_INT(a.groups[0].avoided_vs_strict, 988, "lazy with a debit: on the group");
        CHECK_INT(a.units[0].avoided_vs_strict, 988, "lazy with a debit: on the unit");
        CHECK_INT(a.strict_debit_out, 5, "lazy with a debit: no excess paid it, still owed");
        CHECK_INT(a.strict_credit_out, 0, "lazy with a debit: no credit");
        accounting_tick_done(&a);

        /* Strict, none of the invalidations seen: at most the tick's own
         * model is owed, whatever came in. */
        g[0].type = GROUP_TYPE_DMA;
        in.tick = &unseen;
        in.strict_debit_in = 500;
        CHECK_INT(accounting_compute(&in, &a), 0, "debt: compute");
        CHECK_INT(a.total.avoided_vs_strict, 0, "debt: a strict machine avoids nothing");
        CHECK_INT(a.strict_debit_out, 1000, "debt: at most the tick's own strict model (1000) is owed");
        accounting_tick_done(&a);
        small = strict_tick(&sdom, 10, 0);
        in.tick = &small;
        in.strict_debit_in = 1000;
        CHECK_INT(accounting_compute(&in, &a), 0, "debt: a small tick");
        CHECK_INT(a.strict_debit_out, 10, "debt: shrinks to the small tick's own model (10)");
        accounting_tick_done(&a);
        /* An excess beyond the debit becomes credit. */
        small = strict_tick(&sdom, 10, 15);
        in.strict_debit_in = 3;
        CHECK_INT(accounting_compute(&in, &a), 0, "debt: an excess of 5");
        CHECK_INT(a.strict_debit_out, 0, "debt: paid by the excess");
        CHECK_INT(a.strict_credit_out, 2, "debt: the excess beyond it (5 - 3) is credit");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

/* The nvme (group 1, strict, did 5) and the e1000e (group 2, lazy, did 6)
 * busy at once, counted exactly by their dma:* events; the nvme's last
 * invalidation is sampled a tick late. The lazy group's saving counts, the
 * strict one's shortfall is owed, not avoided. */
static void test_mixed_strict_and_lazy(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA };
        FlushDomainCount dom[2] = { { .unit = "dmar0", .did = 5, .iotlb = 999, .iotlb_page = 999 },
                                    { .unit = "dmar0", .did = 6, .iotlb = 3, .iotlb_domain = 3 } };
        FlushDeviceCount dev[2] = { { .name = "0000:00:03.0", .unmaps = 1000 },
                                    { .name = "0000:00:04.0", .unmaps = 200 } };
        FlushTick tick = { .counters_ok = true, .maps = 1200, .unmaps = 1200, .gather_ok = true, .qi_ok = true,
                           .domains = dom, .n_domains = 2, .dma_ok = true, .devices = dev, .n_devices = 2 };
        bool active[3] = { true, true, false };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingInput in;
        AccountingTick a = { .unmaps_group = -1 };

        make_topology(&t, &u, g, d, types, false);
        make_map(&map);
        in = (AccountingInput) { .topology = &t, .tick = &tick, .map = &map, .group_active = active, .interval_s = 1.0 };
        CHECK_INT(accounting_compute(&in, &a), 0, "mixed: compute");
        CHECK_INT(a.groups[0].unmaps, 1000, "mixed: nvme's unmaps exact by device");
        CHECK_INT(a.groups[1].unmaps, 200, "mixed: e1000e's unmaps exact by device");
        CHECK_INT(a.groups[1].avoided_vs_strict, 197, "mixed: the lazy group saved 200 - 3");
        CHECK_INT(a.groups[0].avoided_vs_strict, 0, "mixed: the strict group saved nothing");
        CHECK_INT(a.total.avoided_vs_strict, 197, "mixed: the machine saved the lazy group's 197, not 198");
        CHECK_INT(a.units[0].avoided_vs_strict, 197, "mixed: so did the unit");
        CHECK_INT(a.unattributed[0].avoided_vs_strict, 0, "mixed: nothing avoided unattributed");
        CHECK_INT(a.strict_debit_out, 1, "mixed: the strict group's invalidation is owed");
        accounting_tick_done(&a);

        /* The next tick: the strict side sees its 1000 and the one owed. */
        dom[0].iotlb = dom[0].iotlb_page = 1001;
        in.strict_debit_in = 1;
        CHECK_INT(accounting_compute(&in, &a), 0, "mixed: next tick");
        CHECK_INT(a.groups[0].avoided_vs_strict, 0, "mixed, next tick: the strict group saved nothing");
        CHECK(a.total.avoided_vs_strict <= 197, "mixed, next tick: never more than the lazy group could (%" PRIu64 ")",
              a.total.avoided_vs_strict);
        CHECK_INT(a.strict_credit_out, 0, "mixed, next tick: no credit");
        accounting_tick_done(&a);
        domain_map_done(&map);
}

static void test_idle_and_unknown(void) {
        GroupType types[3] = { GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA, GROUP_TYPE_DMA };
        FlushTick idle = { .counters_ok = true, .gather_ok = true, .qi_ok = true };
        FlushTick busy_unseen = { .counters_ok = true, .unmaps = 500, .maps = 500, .gather_ok = true, .qi_ok = true };
        FlushTick no_perf = {};
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        AccountingTick a;

        make_topology(&t, &u, g, d, types, false);
        a = run(&t, &idle, NULL, false, false, false, 0);
        CHECK(a.rates[0].measured && a.rates[0].unmaps_per_sec == 0, "no unmaps at all: every rate is zero");
        accounting_tick_done(&a);

        a = run(&t, &busy_unseen, NULL, false, false, false, 0);
        CHECK(!a.rates[0].measured, "unmaps but no group did I/O: rates unknown");
        CHECK_INT(a.unattributed[0].unmaps, 500, "those unmaps are unattributed");
        accounting_tick_done(&a);

        a = run(&t, &no_perf, NULL, true, false, false, 0);
        CHECK(!a.rates[0].measured, "no counters: no rate");
        CHECK(strstr(a.attribution, "not running") != NULL, "says why: %s", a.attribution);
        CHECK_INT(a.total.avoided_vs_strict, 0, "no counters: nothing claimed");
        accounting_tick_done(&a);

        CHECK_INT(accounting_compute(NULL, &a), -EINVAL, "no input");
}

/* A busy server's tick: the nvme (group 1, strict, domain 5 known) reads,
 * the e1000e (group 2, lazy, domain 6 known) and the virtio disk (group 3,
 * strict, domain unknown) trickle. The nvme's unmaps are exact by domain;
 * the rest is apportioned by I/O operations; every figure sums to the
 * machine's; an unknown domain seen while one group alone did I/O is a
 * learning candidate, and not while several did. */
static void test_busy_server(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA };
        FlushDomainCount dom[3] = { { .unit = "dmar0", .did = 5, .iotlb = 2000, .iotlb_page = 2000 },
                                    { .unit = "dmar0", .did = 6, .iotlb = 3, .iotlb_domain = 3 },
                                    { .unit = "dmar0", .did = 7, .iotlb = 10, .iotlb_page = 10 } };
        FlushTick tick = { .counters_ok = true, .maps = 2060, .unmaps = 2060, .gather_ok = true, .qi_ok = true,
                           .domains = dom, .n_domains = 3 };
        uint64_t io_ops[3] = { 2000, 40, 10 };
        bool active[3] = { true, true, true };
        AccountingInput in = { .interval_s = 1.0, .group_active = active, .group_io_ops = io_ops, .tick = &tick };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a = {};
        uint64_t sum;

        make_topology(&t, &u, g, d, types, false);
        for (int i = 0; i < 3; i++)
                d[i].unit = unit_name;
        make_map(&map);
        in.topology = &t;
        in.map = &map;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute");
        CHECK_STR(a.rates[0].source, "exact by domain", "nvme: exact by domain");
        CHECK_INT(a.groups[0].unmaps, 2000, "nvme: its page-selective invalidations");
        CHECK_INT(a.groups[0].unmaps_apportioned, 0, "nvme: nothing apportioned");
        CHECK(a.rates[0].measured && a.rates[0].unmaps_per_sec == 2000, "nvme rate 2000/s");
        /* The rest, 60, by I/O operations 40:10. */
        CHECK_INT(a.groups[1].unmaps, 48, "e1000e: 40/50 of 60");
        CHECK_INT(a.groups[2].unmaps, 12, "virtio: 10/50 of 60");
        CHECK_STR(a.rates[2].source, "apportioned", "virtio: apportioned");
        CHECK(a.rates[2].share > 0.19 && a.rates[2].share < 0.21, "virtio share 0.2");
        sum = a.groups[0].unmaps + a.groups[1].unmaps + a.groups[2].unmaps + a.unattributed[0].unmaps;
        CHECK_INT(sum, 2060, "unmaps sum to the machine's");
        sum = a.groups[0].maps + a.groups[1].maps + a.groups[2].maps + a.unattributed[0].maps;
        CHECK_INT(sum, 2060, "maps sum to the machine's");
        sum = a.groups[0].avoided_vs_strict + a.groups[1].avoided_vs_strict + a.groups[2].avoided_vs_strict +
              a.unattributed[0].avoided_vs_strict;
        CHECK_INT(sum, a.total.avoided_vs_strict, "avoided sums to the machine's");
        CHECK_INT(a.groups[0].avoided_vs_strict, 0, "the strict nvme avoided nothing");
        CHECK_INT(a.groups[1].avoided_vs_strict, 45, "the lazy NIC: 48 strict less its 3");
        CHECK_INT(a.groups[1].avoided_apportioned, 45, "and it rests on apportioned unmaps");
        CHECK_INT(a.n_learn, 0, "several active groups: nothing to learn");
        accounting_tick_done(&a);

        /* The virtio disk alone: did 7 is a candidate for group 3. */
        active[0] = active[1] = false;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, one active");
        CHECK_INT(a.learn_group, 2, "learning for the only active group");
        CHECK_INT(a.n_learn, 1, "one unknown domain");
        CHECK_INT(a.learn[0].did, 7, "did 7");
        accounting_tick_done(&a);

        /* The NIC active by its interrupts only (its traffic in another
         * network namespace): the virtio disk still alone moved data. */
        {
                bool moved[3] = { false, false, true };

                active[1] = true;
                in.group_moved_data = moved;
                CHECK_INT(accounting_compute(&in, &a), 0, "compute, a NIC with interrupts only");
                CHECK_INT(a.learn_group, 2, "still learning for the disk");
                CHECK_INT(a.n_learn, 1, "did 7 a candidate");
                accounting_tick_done(&a);
                moved[1] = true;
                CHECK_INT(accounting_compute(&in, &a), 0, "compute, the NIC moving data too");
                CHECK_INT(a.n_learn, 0, "two groups moved data: nothing to learn");
                accounting_tick_done(&a);
                in.group_moved_data = NULL;
                active[1] = false;
                dom[2].iotlb = dom[2].iotlb_page = 3;
                CHECK_INT(accounting_compute(&in, &a), 0, "compute, a stray flush");
                CHECK_INT(a.n_learn, 0, "fewer than DOMAIN_LEARN_MIN invalidations: not a candidate");
                accounting_tick_done(&a);
                dom[2].iotlb = dom[2].iotlb_page = 10;
        }

        /* dma:* counts: all three busy, yet did 7's 10 page-selective
         * invalidations match the strict virtio disk's 10 exact unmaps (and
         * nobody else's): a candidate for it. */
        {
                FlushDeviceCount devs[3] = { { .name = "0000:00:03.0", .unmaps = 2000 },
                                             { .name = "0000:00:04.0", .unmaps = 50 },
                                             { .name = "0000:00:05.0", .unmaps = 10 } };

                tick.dma_ok = true;
                tick.devices = devs;
                tick.n_devices = 3;
                active[0] = active[1] = active[2] = true;
                CHECK_INT(accounting_compute(&in, &a), 0, "compute, exact by device");
                CHECK_STR(a.rates[2].source, "exact by device", "virtio exact by device");
                CHECK_INT(a.n_learn, 1, "did 7 a candidate by its match");
                CHECK_INT(a.learn[0].group, 2, "for the virtio disk");
                CHECK(a.learn[0].how && strstr(a.learn[0].how, "matched"), "says how: %s", strna(a.learn[0].how));
                accounting_tick_done(&a);
                devs[2].unmaps = 30; /* 10 invalidations for 30 strict unmaps: not its domain */
                CHECK_INT(accounting_compute(&in, &a), 0, "compute, no match");
                CHECK_INT(a.n_learn, 0, "no strict group's count matches: no candidate");
                accounting_tick_done(&a);
                tick.dma_ok = false;
                tick.devices = NULL;
                tick.n_devices = 0;
                active[0] = active[1] = true;
        }

        /* Learned: did 7 is the virtio's, its unmaps exact by domain now. */
        CHECK_INT(domain_map_learn(&map, "dmar0", "0000:00:05.0", 7), 1, "learn did 7 for 00:05.0");
        CHECK_INT(accounting_group_of_domain(&t, &map, "dmar0", 7), 3, "did 7 is group 3");
        active[0] = active[1] = true;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, learned");
        CHECK_STR(a.rates[2].source, "exact by domain", "virtio: exact by its learned domain");
        CHECK_INT(a.groups[2].unmaps, 10, "its page-selective invalidations");
        CHECK_INT(a.groups[1].unmaps, 50, "the NIC: what is left, by elimination");
        CHECK_STR(a.rates[1].source, "exact by elimination", "labelled so");
        accounting_tick_done(&a);

        /* Re-attached (the detach descriptor: cc_inv with the old did): the
         * learned entry goes, the virtio is apportioned again. */
        {
                QiDesc detach = { .type = QI_TYPE_CC, .scope = QI_SCOPE_DEVICE, .did = 7, .sid = 0x28 };

                CHECK_INT(domain_map_observe_qi(&map, "dmar0", 0, &detach), 1, "detach seen");
        }
        CHECK(!domain_map_find_device(&map, "0000:00:05.0"), "the learned entry is no longer current");
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, after re-attach");
        CHECK_STR(a.rates[2].source, "apportioned", "virtio apportioned again");
        accounting_tick_done(&a);
        /* The new domain got the old id again (the kernel reuses freed
         * ids): alone again, it is a candidate once more. */
        active[0] = active[1] = false;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, alone after re-attach");
        CHECK_INT(a.n_learn, 1, "the reused did 7 is a candidate again");
        accounting_tick_done(&a);
        active[0] = active[1] = true;

        /* A learned entry also goes when the daemon re-attaches the group. */
        CHECK_INT(domain_map_learn(&map, "dmar0", "0000:00:05.0", 8), 1, "learn did 8");
        CHECK_INT(domain_map_forget_device(&map, "0000:00:05.0"), 1, "forgotten on a switch with rebind");
        CHECK(!domain_map_find_device(&map, "0000:00:05.0"), "gone");
        CHECK_INT(domain_map_learn(&map, "dmar0", "0000:00:03.0", 9), 0, "a device with a debugfs entry is not relearned");
        domain_map_done(&map);
}

/* A strict group's page-selective invalidations are its exact unmap count
 * only in a tick where they are one per unmap: not with an unmap whose page
 * sizes change (k + 1 before 6.19), nor with a domain-selective flush of
 * its domain (an unmap with no page-selective one), nor where the unmap
 * records that would show either were not read or lost. There the nvme's
 * figure is apportioned like any group with no exact count, and says so. */
static void test_domain_exact_only_one_per_unmap(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA };
        FlushDomainCount dom[1] = { { .unit = "dmar0", .did = 5, .iotlb = 250, .iotlb_page = 250 } };
        FlushTick tick = { .counters_ok = true, .maps = 300, .unmaps = 300, .gather_ok = true, .qi_ok = true,
                           .domains = dom, .n_domains = 1 };
        uint64_t io_ops[3] = { 200, 0, 100 };
        bool active[3] = { true, false, true };
        AccountingInput in = { .interval_s = 1.0, .group_active = active, .group_io_ops = io_ops, .tick = &tick };
        Topology t;
        IommuUnit u;
        IommuGroup g[3];
        Device d[3];
        DomainMap map;
        AccountingTick a = {};

        make_topology(&t, &u, g, d, types, false);
        for (int i = 0; i < 3; i++)
                d[i].unit = unit_name;
        make_map(&map);
        in.topology = &t;
        in.map = &map;

        /* 200 strict 3 MiB-ish unmaps, 50 of them with a page-size change:
         * 250 page-selective (6.1). */
        tick.gather.events = 200;
        tick.gather.mixed_events = 50;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, mixed sizes");
        CHECK_STR(a.rates[0].source, "apportioned", "mixed sizes: nvme apportioned, not exact by domain");
        CHECK(!a.rates[0].exact, "not exact");
        CHECK_INT(a.groups[0].unmaps, 200, "nvme: 200/300 of 300 by I/O, not its 250 invalidations");
        CHECK_INT(a.groups[0].unmaps_apportioned, 200, "counted as apportioned");
        CHECK_INT(a.groups[0].maps_apportioned, a.groups[0].maps, "its maps apportioned too");
        CHECK_INT(a.units[0].unmaps, 300, "the unit's total is still the machine's");
        accounting_tick_done(&a);

        /* No page-size change, but a domain-selective flush of did 5. */
        tick.gather.mixed_events = 0;
        dom[0] = (FlushDomainCount) { .unit = "dmar0", .did = 5, .iotlb = 199, .iotlb_page = 198, .iotlb_domain = 1 };
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, domain-selective flush");
        CHECK_STR(a.rates[0].source, "apportioned", "a domain-selective flush: not exact by domain");
        accounting_tick_done(&a);

        /* The unmap records were lost, or not read: nothing shows there
         * was no page-size change. */
        dom[0] = (FlushDomainCount) { .unit = "dmar0", .did = 5, .iotlb = 200, .iotlb_page = 200 };
        tick.unmap_records_lost = 3;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, records lost");
        CHECK_STR(a.rates[0].source, "apportioned", "records lost: not exact by domain");
        accounting_tick_done(&a);
        tick.unmap_records_lost = 0;
        /* Invalidation records lost: did 5's 200 may be short of its
         * unmaps (which domain lost them is not known). */
        tick.qi_records_lost = 40;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, invalidation records lost");
        CHECK_STR(a.rates[0].source, "apportioned", "invalidation records lost: not exact by domain");
        CHECK(!a.rates[0].exact, "not exact");
        accounting_tick_done(&a);
        tick.qi_records_lost = 0;
        tick.gather_ok = false;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, no unmap records");
        CHECK_STR(a.rates[0].source, "apportioned", "no unmap records: not exact by domain");
        accounting_tick_done(&a);

        /* Neither: exact by domain, and the virtio by elimination. */
        tick.gather_ok = true;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, one per unmap");
        CHECK_STR(a.rates[0].source, "exact by domain", "exact by domain");
        CHECK(a.rates[0].exact, "exact");
        CHECK_INT(a.groups[0].unmaps, 200, "its 200 page-selective");
        CHECK_INT(a.groups[2].unmaps, 100, "virtio: the rest");
        accounting_tick_done(&a);

        /* A lazy domain's domain-selective flushes are its flush queue's:
         * with the nvme lazy, did 5's count stays exact (6.17+: its
         * IOVA-API unmaps and its dma:* ones). */
        {
                FlushDeviceCount devs[1] = { { .name = "0000:00:03.0", .unmaps = 20 } };

                g[0].type = GROUP_TYPE_DMA_FQ;
                dom[0] = (FlushDomainCount) { .unit = "dmar0", .did = 5, .iotlb = 182, .iotlb_page = 180,
                                              .iotlb_domain = 2 };
                tick.dma_ok = true;
                tick.devices = devs;
                tick.n_devices = 1;
                in.iova_api = true;
                CHECK_INT(accounting_compute(&in, &a), 0, "compute, lazy with its flush queue");
                CHECK_STR(a.rates[0].source, "exact by domain", "lazy: the flush queue's flushes do not matter");
                CHECK_INT(a.groups[0].unmaps, 200, "20 dma:* + 180 IOVA-API");
                accounting_tick_done(&a);
        }
        domain_map_done(&map);
}

/* Domain ids are per unit: did 7 on dmar0 is not the domain of a group
 * behind dmar1, whose count it happens to match. */
static void test_learn_per_unit(void) {
        GroupType types[3] = { GROUP_TYPE_DMA, GROUP_TYPE_DMA_FQ, GROUP_TYPE_DMA };
        static char unit1_name[] = "dmar1";
        FlushDomainCount dom[1] = { { .unit = "dmar0", .did = 7, .iotlb = 40, .iotlb_page = 40 } };
        FlushDeviceCount devs[2] = { { .name = "0000:00:03.0", .unmaps = 40 }, { .name = "0000:00:05.0", .unmaps = 40 } };
        FlushTick tick = { .counters_ok = true, .maps = 80, .unmaps = 80, .gather_ok = true, .qi_ok = true,
                           .domains = dom, .n_domains = 1, .dma_ok = true, .devices = devs, .n_devices = 2 };
        bool active[3] = { true, false, true };
        AccountingInput in = { .interval_s = 1.0, .group_active = active, .tick = &tick };
        Topology t;
        IommuUnit u[2];
        IommuGroup g[3];
        Device d[3];
        AccountingTick a = {};

        make_topology(&t, &u[0], g, d, types, false);
        u[1] = u[0];
        u[1].name = unit1_name;
        t.n_units = 2;
        d[0].unit = d[1].unit = unit_name; /* nvme (group 1) behind dmar0 */
        d[2].unit = unit1_name;            /* virtio (group 3) behind dmar1 */
        in.topology = &t;

        /* Both strict groups unmapped 40: only the nvme is behind dmar0. */
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, two units, two matches");
        CHECK_INT(a.n_learn, 1, "did 7 on dmar0 a candidate");
        CHECK_INT(a.n_learn ? a.learn[0].group : -2, 0, "for the nvme behind dmar0, not the virtio behind dmar1");
        accounting_tick_done(&a);

        /* Only the virtio behind dmar1 matches: no candidate. */
        devs[0].unmaps = 5;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, the match behind another unit");
        CHECK_INT(a.n_learn, 0, "a group behind dmar1 cannot own dmar0's did 7");
        accounting_tick_done(&a);

        /* The virtio alone moved data: did 7 on dmar0 is still not its. */
        active[0] = false;
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, the virtio alone");
        CHECK_INT(a.learn_group, 2, "the virtio alone moved data");
        CHECK_INT(a.n_learn, 0, "yet dmar0's did 7 is no candidate for it");
        accounting_tick_done(&a);

        /* did 7 on dmar1 is. */
        snprintf(dom[0].unit, sizeof(dom[0].unit), "dmar1");
        CHECK_INT(accounting_compute(&in, &a), 0, "compute, did 7 on dmar1");
        CHECK_INT(a.n_learn, 1, "dmar1's did 7 a candidate");
        CHECK_INT(a.n_learn ? a.learn[0].group : -2, 2, "for the virtio");
        accounting_tick_done(&a);
}

int main(void) {
        test_lazy_group_alone();
        test_busy_server();
        test_several_active();
        test_two_units();
        test_unknown_domain();
        test_caching_mode();
        test_device_tlb();
        test_amd_np_cache();
        test_patched_driver();
        test_tick_edge();
        test_strict_deficit_edge();
        test_debit_lazy_and_bounded();
        test_mixed_strict_and_lazy();
        test_idle_and_unknown();
        test_domain_exact_only_one_per_unmap();
        test_learn_per_unit();
        return tap_done();
}
