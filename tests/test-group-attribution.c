/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-group unmaps: each attribution path with synthetic ticks. */
#include <errno.h>

#include "group-attribution.h"
#include "tap.h"

static uint64_t sum_unmaps(const Attribution *a, size_t n) {
        uint64_t s = a->unattributed_unmaps;

        for (size_t i = 0; i < n; i++)
                s += a->groups[i].unmaps;
        return s;
}

static uint64_t sum_maps(const Attribution *a, size_t n) {
        uint64_t s = a->unattributed_maps;

        for (size_t i = 0; i < n; i++)
                s += a->groups[i].maps;
        return s;
}

static void test_split(void) {
        uint64_t w[3] = { 4, 1, 0 }, p[3];

        CHECK_U64(attribution_split(1000, w, 3, p), 1000, "split hands out all");
        CHECK_U64(p[0], 800, "4:1 -> 800");
        CHECK_U64(p[1], 200, "4:1 -> 200");
        CHECK_U64(p[2], 0, "zero weight gets nothing");
        {
                uint64_t w3[3] = { 1, 1, 1 }, p3[3];

                CHECK_U64(attribution_split(10, w3, 3, p3), 10, "rounding: all handed out");
                CHECK(p3[0] + p3[1] + p3[2] == 10 && p3[0] >= 3 && p3[1] >= 3 && p3[2] >= 3,
                      "1:1:1 of 10 is 4,3,3 in some order (%llu %llu %llu)", (unsigned long long) p3[0],
                      (unsigned long long) p3[1], (unsigned long long) p3[2]);
        }
        {
                /* Largest remainders: 2 among three equals is 1,1,0 (the
                 * first two by the tie rule), never 2,0,0. */
                uint64_t w3[3] = { 1, 1, 1 }, p3[3];

                attribution_split(2, w3, 3, p3);
                CHECK(p3[0] == 1 && p3[1] == 1 && p3[2] == 0, "1:1:1 of 2 is 1,1,0 (%llu %llu %llu)",
                      (unsigned long long) p3[0], (unsigned long long) p3[1], (unsigned long long) p3[2]);
        }
        {
                /* 3:2:2 of 5: exact shares 2.14, 1.43, 1.43: 2,2,1 (the
                 * remainders .43 beat .14). */
                uint64_t w3[3] = { 3, 2, 2 }, p3[3];

                attribution_split(5, w3, 3, p3);
                CHECK(p3[0] == 2 && p3[1] == 2 && p3[2] == 1, "3:2:2 of 5 is 2,2,1 (%llu %llu %llu)",
                      (unsigned long long) p3[0], (unsigned long long) p3[1], (unsigned long long) p3[2]);
        }
        {
                uint64_t z[2] = { 0, 0 }, pz[2] = { 7, 7 };

                CHECK_U64(attribution_split(10, z, 2, pz), 0, "all-zero weights: nothing handed out");
                CHECK(pz[0] == 0 && pz[1] == 0, "all-zero weights: zero parts");
        }
        {
                /* A tiny weight beside a huge one gets its rounded share. */
                uint64_t t[2] = { 1000000, 1 }, pt[2];

                attribution_split(999, t, 2, pt);
                CHECK_U64(pt[0], 999, "tiny I/O: the rounding goes to the large share");
                CHECK_U64(pt[1], 0, "tiny I/O: 999 * 1e-6 rounds to 0");
        }
}

/* nvme strict with a known domain, virtio-blk and a NIC active with
 * nothing exact: nvme exact by domain, the rest apportioned 4:1. */
static void test_domain_and_apportioned(void) {
        AttributionGroupIn g[4] = {
                { .active = true, .io_ops = 2000, .strict = true, .domain_known = true, .page_selective = 2000,
                  .domain_one_per_unmap = true },
                { .active = true, .io_ops = 40 },
                { .active = true, .io_ops = 10 },
                { .active = false },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 2500, .maps = 2500, .groups = g, .n_groups = 4 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_DOMAIN, "nvme: exact by domain");
        CHECK_U64(a.groups[0].unmaps, 2000, "nvme: its page-selective invalidations");
        CHECK_U64(a.groups[0].apportioned_unmaps, 0, "nvme: nothing apportioned");
        CHECK_U64(a.rest_unmaps, 500, "rest 500");
        CHECK_INT(a.groups[1].source, RATE_SOURCE_APPORTIONED, "virtio: apportioned");
        CHECK_U64(a.groups[1].unmaps, 400, "virtio: 40/50 of 500");
        CHECK_U64(a.groups[2].unmaps, 100, "nic: 10/50 of 500");
        CHECK(a.groups[1].share > 0.79 && a.groups[1].share < 0.81, "virtio share 0.8");
        CHECK_INT(a.groups[3].source, RATE_SOURCE_IDLE, "idle group: no I/O");
        CHECK_U64(a.groups[3].unmaps, 0, "idle group gets no share");
        CHECK_U64(a.io_ops_shared, 50, "apportioned by 50 I/O operations");
        CHECK_U64(sum_unmaps(&a, 4), 2500, "sums equal the machine's unmaps");
        CHECK_U64(sum_maps(&a, 4), 2500, "sums equal the machine's maps");
        CHECK_U64(a.groups[1].apportioned_maps, a.groups[1].maps, "virtio's maps are apportioned too");
        CHECK(a.groups[0].batchable_known && a.groups[0].batchable_unmaps == 2000,
              "before the IOVA API every unmap batches");
        attribution_done(&a);
}

/* Several groups active, none exact: apportioned by I/O (4:1); no group
 * with I/O -> unattributed with why. */
static void test_apportion_only(void) {
        AttributionGroupIn g[3] = {
                { .active = true, .io_ops = 800 },
                { .active = true, .io_ops = 200 },
                { .active = false, .io_ops = 0 },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 1000, .maps = 1000, .groups = g, .n_groups = 3 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_U64(a.groups[0].unmaps, 800, "group 0: 80 %");
        CHECK_U64(a.groups[1].unmaps, 200, "group 1: 20 %");
        CHECK_U64(a.groups[0].apportioned_unmaps, 800, "all of it apportioned");
        CHECK_STR(rate_source_to_string(a.groups[0].source), "apportioned", "labelled apportioned");
        CHECK(!rate_source_is_exact(a.groups[0].source), "apportioned is not exact");
        CHECK_STR(a.why, "", "nothing unattributed");
        attribution_done(&a);

        /* Zero I/O anywhere: nobody gets a share. */
        g[0].active = g[1].active = false;
        g[0].io_ops = g[1].io_ops = 0;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute, no I/O");
        CHECK_U64(a.unattributed_unmaps, 1000, "no I/O: all unattributed");
        CHECK(a.why[0] != '\0', "and says why: %s", a.why);
        for (size_t i = 0; i < 3; i++) {
                CHECK_U64(a.groups[i].unmaps, 0, "no I/O: no share");
                CHECK_INT(a.groups[i].source, RATE_SOURCE_UNKNOWN, "unplaced unmaps: an idle group's rate is unknown");
        }
        CHECK_U64(sum_unmaps(&a, 3), 1000, "sums still equal");
        attribution_done(&a);

        /* Active by interrupts with zero counted operations: no share. */
        g[0].active = true;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute, active without operations");
        CHECK_U64(a.groups[0].unmaps, 0, "no operations, no share");
        CHECK_U64(a.unattributed_unmaps, 1000, "unattributed");
        attribution_done(&a);
}

/* One candidate left: it has the rest exactly. */
static void test_elimination(void) {
        AttributionGroupIn g[2] = {
                { .active = true, .io_ops = 1, .strict = true, .domain_known = true, .page_selective = 300,
                  .domain_one_per_unmap = true },
                { .active = true, .io_ops = 5 },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 1300, .maps = 1300, .groups = g, .n_groups = 2 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_INT(a.groups[1].source, RATE_SOURCE_ELIMINATION, "the only other active group: by elimination");
        CHECK_U64(a.groups[1].unmaps, 1000, "it has the rest");
        CHECK_U64(a.groups[1].apportioned_unmaps, 0, "nothing apportioned");
        CHECK(rate_source_is_exact(a.groups[1].source), "elimination is exact");
        attribution_done(&a);

        /* Exact counts beyond the machine's (read a moment apart): nothing
         * apportioned, and the why says it. */
        in.unmaps = 250;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_U64(a.groups[0].unmaps, 300, "exact count kept");
        CHECK_U64(a.groups[1].unmaps, 0, "nothing left to give");
        CHECK_INT(a.groups[1].source, RATE_SOURCE_UNKNOWN,
                  "the group that did I/O is not measured, not an exact zero");
        CHECK(!rate_source_is_exact(a.groups[1].source), "... so it is not exact");
        CHECK(strstr(a.why, "exceed") != NULL, "why: %s", a.why);
        attribution_done(&a);
}

/* dma:* counts: exact by device on 6.12; on an IOVA-API kernel a lazy
 * group's page-selective invalidations are its IOVA unmaps, and only the
 * device count batches. */
static void test_device(void) {
        AttributionGroupIn g[3] = {
                { .active = true, .io_ops = 100, .device_counted = true, .device_unmaps = 900 },
                { .active = true, .io_ops = 100, .device_counted = true, .device_unmaps = 100 },
                { .active = false, .device_counted = true },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 1000, .maps = 1010, .groups = g, .n_groups = 3 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.12");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_DEVICE, "exact by device");
        CHECK_U64(a.groups[0].unmaps, 900, "device unmaps");
        CHECK_U64(a.groups[0].maps, 909, "maps: 900/1000 of 1010");
        CHECK_U64(a.groups[0].apportioned_maps, 909, "labelled apportioned: two groups were busy");
        CHECK_U64(a.groups[1].unmaps, 100, "device unmaps");
        CHECK_U64(a.groups[0].batchable_unmaps, 900, "6.12: all batch");
        CHECK_U64(sum_unmaps(&a, 3), 1000, "sums");
        CHECK_U64(sum_maps(&a, 3), 1010, "sums of maps");
        attribution_done(&a);

        /* 7.x: nvme lazy, 2400 IOVA-API unmaps (page-selective, no dma:*),
         * 100 dma_unmap_phys. */
        in.iova_api = true;
        in.unmaps = 2600;
        in.maps = 2610;
        g[0] = (AttributionGroupIn) { .active = true, .io_ops = 2500, .device_counted = true,
                                      .device_unmaps = 100, .domain_known = true, .page_selective = 2400,
                                      .domain_one_per_unmap = true };
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 7.x lazy");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_DOMAIN, "exact: device count + its domain's page-selective");
        CHECK_U64(a.groups[0].unmaps, 2500, "device + page-selective");
        CHECK(a.groups[0].batchable_known, "batchable known");
        CHECK_U64(a.groups[0].batchable_unmaps, 100, "only the dma:* ones batch");
        CHECK_U64(a.groups[1].batchable_unmaps, 100, "no domain: still its dma:* count batches");
        CHECK(a.groups[1].batchable_known, "known from the device count alone");
        attribution_done(&a);

        /* 7.x: the same strict: page-selective counts every unmap. */
        g[0].strict = true;
        g[0].page_selective = 2500;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 7.x strict");
        CHECK_U64(a.groups[0].unmaps, 2500, "strict: max(device, page-selective)");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_DOMAIN, "labelled by the larger: by domain");
        CHECK_U64(a.groups[0].batchable_unmaps, 100, "strict: still only the dma:* ones would batch");
        attribution_done(&a);

        /* 7.x, no domain known: the IOVA unmaps are the rest, by elimination. */
        g[0].domain_known = false;
        g[1].active = false;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 7.x no domain");
        CHECK_U64(a.groups[0].unmaps, 2600 - 100, "all but group 1's 100: device count + the rest by elimination");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_ELIMINATION, "by elimination");
        CHECK_U64(a.groups[0].batchable_unmaps, 100, "only its 100 dma:* unmaps would batch");
        attribution_done(&a);
}

/* Operations weighted by measured unmaps per operation: a virtio-blk
 * request maps three buffers, an nvme read one. */
static void test_weighted(void) {
        AttributionGroupIn g[2] = {
                { .active = true, .io_ops = 800, .unmaps_per_op = 1.0 },
                { .active = true, .io_ops = 200, .unmaps_per_op = 3.0 },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 1400, .maps = 1400, .groups = g, .n_groups = 2 };
        Attribution a;
        double r;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_U64(a.groups[0].unmaps, 800, "nvme: 800 x 1");
        CHECK_U64(a.groups[1].unmaps, 600, "virtio: 200 x 3");
        CHECK(a.weighted, "says it was weighted");
        CHECK_U64(a.io_ops_shared, 1000, "by 1000 operations");
        attribution_done(&a);

        /* Below one unmap per operation (a NIC's coalesced receive). */
        g[1].unmaps_per_op = 0.25;
        in.unmaps = 850;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_U64(a.groups[1].unmaps, 50, "200 x 0.25");
        attribution_done(&a);

        r = attribution_unmaps_per_op(0, RATE_SOURCE_DOMAIN, 300, 100);
        CHECK(r == 3.0, "first exact tick: 3 per op (%g)", r);
        r = attribution_unmaps_per_op(r, RATE_SOURCE_DOMAIN, 100, 100);
        CHECK(r == 2.5, "then averaged, a quarter new (%g)", r);
        CHECK(attribution_unmaps_per_op(r, RATE_SOURCE_APPORTIONED, 1000, 100) == 2.5,
              "an apportioned tick teaches nothing");
        CHECK(attribution_unmaps_per_op(r, RATE_SOURCE_ELIMINATION, 1000, 5) == 2.5,
              "nor a tick with a handful of operations");
}

/* Unmaps at a tick's edge: in one tick's exact counts, the next tick's
 * machine count. The excess is carried, so over the two ticks the sums
 * equal the machine's and nothing is apportioned or left over twice. */
static void test_edge_carry(void) {
        AttributionGroupIn g[2] = {
                { .active = true, .io_ops = 900, .device_counted = true, .device_unmaps = 1050 },
                { .active = true, .io_ops = 5 },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 1000, .maps = 1000, .groups = g, .n_groups = 2 };
        Attribution a;
        uint64_t total = 0;

        CHECK_INT(attribution_compute(&in, &a), 0, "tick 1");
        CHECK_U64(a.carry_out, 50, "50 counted early");
        CHECK_U64(a.groups[1].unmaps, 0, "nothing left for the other group");
        total += a.groups[0].unmaps + a.groups[1].unmaps + a.unattributed_unmaps;
        in.exact_carry = a.carry_out;
        attribution_done(&a);

        g[0].device_unmaps = 950;
        in.unmaps = 1010;
        CHECK_INT(attribution_compute(&in, &a), 0, "tick 2");
        CHECK_U64(a.carry_out, 0, "the carry is used up");
        CHECK_U64(a.groups[1].unmaps, 10, "the other group's own 10, not 60");
        total += a.groups[0].unmaps + a.groups[1].unmaps + a.unattributed_unmaps;
        CHECK_U64(total, 2010, "over both ticks the sums equal the machine's");
        attribution_done(&a);
}

/* A domain's page-selective invalidations that are not one per unmap this
 * tick (an unmap with page-size changes pays k + 1 before 6.19; a strict
 * domain flushed domain-selectively had an unmap with none) are not an
 * exact count: the group's figure is its device count where that is
 * complete, else a part of the rest, labelled as such. */
static void test_domain_not_one_per_unmap(void) {
        /* 6.1 (no dma:*): strict nvme, 200 unmaps of which 50 changed page
         * size: 250 page-selective. virtio-blk busy too. */
        AttributionGroupIn g[2] = {
                { .active = true, .io_ops = 200, .strict = true, .domain_known = true, .page_selective = 250 },
                { .active = true, .io_ops = 100 },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 300, .maps = 300, .groups = g, .n_groups = 2 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.1, mixed sizes");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_APPORTIONED, "6.1, k + 1: nvme apportioned, not exact by domain");
        CHECK_U64(a.groups[0].unmaps, 200, "nvme: 200/300 of the 300 by I/O, not its 250 invalidations");
        CHECK_U64(a.groups[0].apportioned_unmaps, 200, "and counted as apportioned");
        CHECK(!rate_source_is_exact(a.groups[0].source), "not exact");
        CHECK_U64(sum_unmaps(&a, 2), 300, "sums equal the machine's");
        attribution_done(&a);

        /* The same with virtio idle: the rest by elimination (exact). */
        g[1].active = false;
        g[1].io_ops = 0;
        in.unmaps = 200;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.1, nvme alone");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_ELIMINATION, "nvme alone: by elimination");
        CHECK_U64(a.groups[0].unmaps, 200, "its 200, not 250");
        attribution_done(&a);

        /* The tick has no such evidence: exact by domain. */
        g[0].domain_one_per_unmap = true;
        g[0].page_selective = 200;
        g[1] = (AttributionGroupIn) { .active = true, .io_ops = 100 };
        in.unmaps = 300;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.1, one per unmap");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_DOMAIN, "exact by domain");
        CHECK_U64(a.groups[1].unmaps, 100, "virtio by elimination");
        attribution_done(&a);

        /* 6.12: the dma:* count is complete without the IOVA-API path; the
         * domain's 250 (k + 1) must not replace the device's 200. */
        g[0] = (AttributionGroupIn) { .active = true, .io_ops = 200, .strict = true, .domain_known = true,
                                      .page_selective = 250, .domain_one_per_unmap = false,
                                      .device_counted = true, .device_unmaps = 200 };
        g[1] = (AttributionGroupIn) { .active = true, .io_ops = 100, .device_counted = true, .device_unmaps = 100 };
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.12, mixed sizes");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_DEVICE, "6.12: exact by device");
        CHECK_U64(a.groups[0].unmaps, 200, "6.12: the device's 200, not the domain's 250");
        CHECK_U64(a.carry_out, 0, "nothing counted twice");
        attribution_done(&a);
        /* ... even where the domain's count would have been one per unmap. */
        g[0].domain_one_per_unmap = true;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.12, flagged one per unmap");
        CHECK_U64(a.groups[0].unmaps, 200, "6.12: the device count is complete");
        attribution_done(&a);

        /* 6.17/6.18 (IOVA-API path): strict nvme with 100 dma:* unmaps
         * and 150 page-selective in a tick with a domain-selective flush:
         * only the device count is exact, the rest is shared. */
        in.iova_api = true;
        in.unmaps = 400;
        g[0].domain_one_per_unmap = false;
        g[0].device_unmaps = 100;
        g[0].page_selective = 150;
        g[0].io_ops = 300;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute 6.17, domain-selective flush");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_APPORTIONED, "6.17: part of it apportioned");
        CHECK_U64(a.groups[0].unmaps, 100 + 150, "its 100 dma:* + 300/400 of the 200 left by I/O");
        CHECK_U64(a.groups[0].apportioned_unmaps, 150, "the shared part counted as apportioned");
        CHECK_U64(sum_unmaps(&a, 2), 400, "sums equal the machine's");
        attribution_done(&a);
}

/* Maps: the machine's, shared by unmaps; exact only for a group that alone
 * had I/O or unmaps, apportioned otherwise; unattributed unmaps keep their
 * maps unattributed. */
static void test_maps(void) {
        AttributionGroupIn g[3] = {
                { .active = true, .io_ops = 100, .device_counted = true, .device_unmaps = 600 },
                { .active = false },
                { .active = false },
        };
        AttributionInput in = { .counters_ok = true, .unmaps = 600, .maps = 610, .groups = g, .n_groups = 3 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute, one group busy");
        CHECK_U64(a.groups[0].maps, 610, "the one busy group has every map");
        CHECK_U64(a.groups[0].apportioned_maps, 0, "not apportioned: no other group was busy");
        attribution_done(&a);

        g[1] = (AttributionGroupIn) { .active = true, .io_ops = 10, .device_counted = true };
        CHECK_INT(attribution_compute(&in, &a), 0, "compute, another group busy with no unmaps");
        CHECK_U64(a.groups[0].maps, 610, "all maps by unmaps");
        CHECK_U64(a.groups[0].apportioned_maps, 610, "but apportioned: the other group could have mapped");
        CHECK_U64(a.groups[1].maps, 0, "no unmaps, no maps");
        attribution_done(&a);

        /* 400 unmaps nobody can take: their maps stay unattributed too. */
        g[1] = (AttributionGroupIn) { .active = false };
        in.unmaps = 1000;
        in.maps = 1000;
        CHECK_INT(attribution_compute(&in, &a), 0, "compute, unattributed unmaps");
        CHECK_U64(a.unattributed_unmaps, 400, "400 unmaps unattributed");
        CHECK_U64(a.groups[0].maps, 600, "maps by unmaps: 600");
        CHECK_U64(a.unattributed_maps, 400, "the rest of the maps unattributed");
        CHECK_U64(a.groups[0].apportioned_maps, 600, "apportioned: another device unmapped");
        CHECK_U64(sum_maps(&a, 3), 1000, "sums equal the machine's maps");
        attribution_done(&a);
}

static void test_no_counters(void) {
        AttributionGroupIn g[1] = { { .active = true, .io_ops = 5 } };
        AttributionInput in = { .counters_ok = false, .groups = g, .n_groups = 1 };
        Attribution a;

        CHECK_INT(attribution_compute(&in, &a), 0, "compute");
        CHECK_INT(a.groups[0].source, RATE_SOURCE_UNKNOWN, "no counters: not measured");
        CHECK(a.why[0], "why: %s", a.why);
        attribution_done(&a);
        CHECK_INT(attribution_compute(NULL, &a), -EINVAL, "NULL input");
}

static void test_learner(void) {
        DomainLearner l = {};

        CHECK_INT(domain_learner_see(&l, "dmar0", 4, 7, 10), 0, "first sighting: not yet");
        CHECK_INT(domain_learner_see(&l, "dmar0", 4, 7, 10), 0, "same tick again: not yet");
        CHECK_INT(domain_learner_see(&l, "dmar0", 4, 7, 11), 1, "next tick, same group: confirmed");
        CHECK_INT(domain_learner_see(&l, "dmar0", 5, 7, 20), 0, "another did: its own count");
        CHECK_INT(domain_learner_see(&l, "dmar0", 5, 8, 21), 0, "another group: starts over");
        CHECK_INT(domain_learner_see(&l, "dmar0", 5, 8, 25), 0, "a gap: starts over");
        CHECK_INT(domain_learner_see(&l, "dmar0", 5, 8, 26), 1, "then confirmed");
        CHECK_INT(domain_learner_see(&l, "dmar1", 4, 9, 26), 0, "dids are per unit");
        domain_learner_done(&l);
}

int main(void) {
        test_split();
        test_domain_and_apportioned();
        test_apportion_only();
        test_elimination();
        test_device();
        test_weighted();
        test_edge_carry();
        test_domain_not_one_per_unmap();
        test_maps();
        test_no_counters();
        test_learner();
        return tap_done();
}
