/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The flush sampler on synthetic perf events: the tracepoints' format files
 * of the captured fixtures (6.1, 6.12, 7.3 VT-d and 6.1 AMD), records
 * written into a ring in the kernel's layout and parsed by the real ring
 * parser; the kernel's side of perf (counters, filters, lost records) is
 * played by tests/fake-perf.c. Checks what one tick hands on: the counters
 * as deltas, the gather model over the filtered unmaps, the invalidations
 * per (unit, domain id), the dma:* unmaps per device, the cache tags into
 * the domain map, lost records, and each part's status when the kernel
 * lacks it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake-perf.h"
#include "flush-sampler.h"
#include "tap.h"
#include "util.h"

static int open_fixture(const char *name) {
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s/sys", fixtures_dir(), name);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "cannot open %s\n", path);
                exit(1);
        }
        return fd;
}

static bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void emit_unmap(uint64_t iova, uint64_t size) {
        const TraceFormat *f = fake_perf_format("iommu:unmap");
        uint8_t raw[64] = {};

        fake_raw_set_u64(f, raw, "iova", iova);
        fake_raw_set_u64(f, raw, "size", size);
        fake_raw_set_u64(f, raw, "unmapped_size", size);
        fake_perf_emit("iommu:unmap", 0, 0, raw, fake_raw_fixed_size(f));
}

static void emit_qi(const char *unit, unsigned cpu, uint64_t qw0, uint64_t qw1) {
        const TraceFormat *f = fake_perf_format("intel_iommu:qi_submit");
        uint8_t raw[128] = {};
        size_t end = fake_raw_fixed_size(f);

        fake_raw_set_u64(f, raw, "qw0", qw0);
        fake_raw_set_u64(f, raw, "qw1", qw1);
        fake_raw_set_str(f, raw, &end, "iommu", unit);
        fake_perf_emit("intel_iommu:qi_submit", cpu, 0, raw, end);
}

/* iotlb_inv (type 2): granularity 3 page-selective, 2 domain, 1 global. */
#define QI_IOTLB(gran, did) (2 | (uint64_t) (gran) << 4 | (uint64_t) (did) << 16)
/* dev_tlb_inv (type 3) for source id sid: no domain id in it. */
#define QI_DEV_TLB(sid) (3 | (uint64_t) (sid) << 32)

static void emit_dma(const char *event, const char *device) {
        const TraceFormat *f = fake_perf_format(event);
        uint8_t raw[256] = {};
        size_t end = fake_raw_fixed_size(f);

        fake_raw_set_str(f, raw, &end, "device", device);
        fake_perf_emit(event, 1, 0, raw, end);
}

static void emit_cache_tag(const char *event, uint64_t time, const char *unit, const char *dev, unsigned type,
                           uint16_t did) {
        const TraceFormat *f = fake_perf_format(event);
        uint8_t raw[128] = {};
        size_t end = fake_raw_fixed_size(f);

        fake_raw_set_str(f, raw, &end, "iommu", unit);
        fake_raw_set_str(f, raw, &end, "dev", dev);
        fake_raw_set_u64(f, raw, "type", type);
        fake_raw_set_u64(f, raw, "domain_id", did);
        fake_raw_set_u64(f, raw, "pasid", 0);
        fake_perf_emit(event, 0, time, raw, end);
}

static const FlushDomainCount *find_domain(const FlushTick *t, const char *unit, uint16_t did) {
        for (size_t i = 0; i < t->n_domains; i++)
                if (t->domains[i].did == did && streq(t->domains[i].unit, unit))
                        return &t->domains[i];
        return NULL;
}

static const FlushDeviceCount *find_device(const FlushTick *t, const char *name) {
        for (size_t i = 0; i < t->n_devices; i++)
                if (streq(t->devices[i].name, name))
                        return &t->devices[i];
        return NULL;
}

/* Debian's 6.1 with VT-d: counters, the filtered unmap records, qi_submit;
 * neither dma:* nor cache tags. */
static void test_vtd_6_1(void) {
        const GatherRules rules = gather_rules_for_kernel(GATHER_DRIVER_VTD, SZ_4K | SZ_2M | SZ_1G, 6, 1);
        _cleanup_(flush_sampler_freep) FlushSampler *s = NULL;
        int fd = open_fixture("qemu-vtd");
        const FlushDomainCount *d;
        FlushTick t;

        CHECK_INT(flush_sampler_new(fd, &rules, &s), 0, "sampler on the 6.1 VT-d fixture");
        CHECK_STR(flush_sampler_status_counters(s), "counting iommu:map and iommu:unmap on 2 CPUs", "counters");
        /* 4 KiB | 2 MiB: the smallest unmap with a page-size change is 2 MiB + 4 KiB. */
        CHECK_STR(fake_perf_filter("iommu:unmap"), "size >= 0x201000", "the kernel-side filter");
        CHECK_STR(flush_sampler_status_unmap_records(s),
                  "recording iommu:unmap with size >= 0x201000 for the gather model", "unmap records");
        CHECK_STR(flush_sampler_status_qi(s), "recording intel_iommu:qi_submit (VT-d invalidations)", "qi");
        CHECK_STR(flush_sampler_status_dma(s), "not available: no dma:* unmap tracepoints (before 6.12)", "dma");
        CHECK_STR(flush_sampler_status_cache_tag(s), "not available: no intel_iommu:cache_tag_assign (before 6.10)",
                  "cache tags");
        /* Rings: unmap records and qi_submit, one fd per CPU each. */
        CHECK_INT(flush_sampler_n_ring_fds(s), 2 * 2, "ring fds");

        /* A tick: 5 maps; 4 small unmaps (filtered out by the kernel) and
         * one 3 MiB unmap at a 2 MiB boundary: one 2 MiB page then 256
         * 4 KiB pages, one size change, k + 1 = 2 strict syncs. */
        for (int i = 0; i < 5; i++)
                fake_perf_emit("iommu:map", 0, 0, (uint8_t[64]) {}, 40);
        for (int i = 0; i < 4; i++)
                emit_unmap(0x1000 * (uint64_t) i, 0x1000);
        emit_unmap(0x200000, 0x300000);
        /* Invalidations: dmar0 did 5 three page-selective and one
         * domain-selective, dmar1 did 5 (another unit's id space) two
         * page-selective, one global on dmar0, one device-TLB. */
        for (int i = 0; i < 3; i++)
                emit_qi("dmar0", 0, QI_IOTLB(3, 5), 0x1000);
        emit_qi("dmar0", 1, QI_IOTLB(2, 5), 0);
        emit_qi("dmar1", 1, QI_IOTLB(3, 5), 0x2000);
        emit_qi("dmar1", 0, QI_IOTLB(3, 5), 0x3000);
        emit_qi("dmar0", 0, QI_IOTLB(1, 0), 0);
        emit_qi("dmar0", 0, QI_DEV_TLB(0x0010), 0x1000);

        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect");
        CHECK(t.counters_ok, "counters measured");
        CHECK_U64(t.maps, 5, "maps");
        CHECK_U64(t.unmaps, 5, "unmaps: every one, filtered or not");
        CHECK(t.gather_ok, "gather measured");
        CHECK_U64(t.filter_min_size, 0x201000, "filter in the tick");
        CHECK_U64(t.gather.events, 1, "only the 3 MiB unmap was recorded");
        CHECK_U64(t.gather.bytes, 0x300000, "its bytes");
        CHECK_U64(t.gather.mixed_events, 1, "it has a page-size change");
        CHECK_U64(t.gather.strict_syncs, 2, "k + 1 strict syncs");
        CHECK(t.qi_ok, "invalidations measured");
        CHECK_INT(t.n_domains, 2, "two (unit, did) pairs");
        d = find_domain(&t, "dmar0", 5);
        CHECK(d && d->iotlb == 4 && d->iotlb_page == 3 && d->iotlb_domain == 1, "dmar0 did 5: 4 = 3 page + 1 domain");
        d = find_domain(&t, "dmar1", 5);
        CHECK(d && d->iotlb == 2 && d->iotlb_page == 2 && d->iotlb_domain == 0, "dmar1 did 5 apart: 2 page");
        CHECK(t.n_units == 1 && streq(t.units[0].unit, "dmar0") && t.units[0].iotlb_global == 1, "one global, dmar0");
        /* The device-TLB invalidation names 00:02.0 (sid 0x10), whose
         * domain nothing told the map yet: counted on the unit, unplaced. */
        CHECK(t.n_units == 1 && t.units[0].devtlb_unplaced == 1, "the device-TLB invalidation, unplaced on dmar0");
        CHECK(find_domain(&t, "dmar0", 0) == NULL, "... and in no domain");
        CHECK_U64(t.qi_records_lost + t.unmap_records_lost, 0, "nothing lost");
        CHECK(!t.dma_ok && t.n_devices == 0, "no dma:* counts on 6.1");

        /* The next tick starts from zero: counters as deltas, the records'
         * counts handed over. Records drained between ticks (a ring a
         * quarter full wakes the daemon) count in the tick that follows. */
        fake_perf_emit("iommu:map", 1, 0, (uint8_t[64]) {}, 40);
        emit_qi("dmar0", 0, QI_IOTLB(3, 7), 0x1000);
        CHECK_INT(flush_sampler_drain(s), 0, "drain between ticks");
        emit_qi("dmar0", 0, QI_IOTLB(3, 7), 0x2000);
        emit_unmap(0x400000, 0x400000 + 0x1000);
        CHECK_INT(flush_sampler_collect(s, &t), 0, "second collect");
        CHECK_U64(t.maps, 1, "maps: a delta");
        CHECK_U64(t.unmaps, 1, "unmaps: a delta");
        CHECK_U64(t.gather.events, 1, "one recorded unmap this tick");
        CHECK_U64(t.gather.strict_syncs, 2, "4 MiB + 4 KiB: two 2 MiB pages then one 4 KiB, k + 1 = 2");
        CHECK_INT(t.n_domains, 1, "only this tick's domain");
        d = find_domain(&t, "dmar0", 7);
        CHECK(d && d->iotlb == 2, "did 7: the drained and the collected invalidation");

        /* The kernel lost records: said in the tick, never hidden. */
        fake_perf_lose("intel_iommu:qi_submit", 3);
        emit_qi("dmar0", 0, QI_IOTLB(3, 7), 0x1000);
        CHECK_INT(flush_sampler_collect(s, &t), 0, "third collect");
        CHECK_U64(t.qi_records_lost, 3, "qi records lost, counted");
        CHECK(t.qi_ok, "the records that arrived still count");
        d = find_domain(&t, "dmar0", 7);
        CHECK(d && d->iotlb == 1, "did 7: the record after the loss");
        CHECK_INT(flush_sampler_collect(s, &t), 0, "fourth collect");
        CHECK_U64(t.qi_records_lost, 0, "a loss is counted once");
        close(fd);
}

/* Debian 12's 6.12: the dma:* unmap events, counted per device name. */
static void test_vtd_6_12(void) {
        const GatherRules rules = gather_rules_for_kernel(GATHER_DRIVER_VTD, SZ_4K | SZ_2M | SZ_1G, 6, 12);
        _cleanup_(flush_sampler_freep) FlushSampler *s = NULL;
        int fd = open_fixture("qemu-vtd-6.12");
        const FlushDeviceCount *c;
        FlushTick t;

        CHECK_INT(flush_sampler_new(fd, &rules, &s), 0, "sampler on the 6.12 VT-d fixture");
        CHECK(starts_with(flush_sampler_status_dma(s), "recording dma:dma_unmap_page, dma_unmap_sg, "),
              "dma status names the events 6.12 has: %s", flush_sampler_status_dma(s));
        CHECK(fake_perf_format("dma:dma_unmap_phys") == NULL, "no dma_unmap_phys before 7.x");

        for (int i = 0; i < 3; i++)
                emit_dma("dma:dma_unmap_page", "0000:00:03.0");
        emit_dma("dma:dma_unmap_sg", "0000:00:03.0");
        emit_dma("dma:dma_unmap_sg", "0000:00:04.0");
        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect");
        CHECK(t.dma_ok, "dma counts exact");
        CHECK_INT(t.n_devices, 2, "two devices");
        c = find_device(&t, "0000:00:03.0");
        CHECK(c && c->unmaps == 4, "00:03.0: 3 page + 1 sg unmaps");
        c = find_device(&t, "0000:00:04.0");
        CHECK(c && c->unmaps == 1, "00:04.0: 1 sg unmap");

        /* A lost dma:* record leaves some device short: no exact counts. */
        fake_perf_lose("dma:dma_unmap_sg", 1);
        emit_dma("dma:dma_unmap_sg", "0000:00:04.0");
        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect after a loss");
        CHECK(!t.dma_ok, "not exact after a lost record");
        CHECK_U64(t.dma_records_lost, 1, "the loss counted");
        c = find_device(&t, "0000:00:03.0");
        CHECK(!c || c->unmaps == 0, "00:03.0 counted afresh");
        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect after that");
        CHECK(t.dma_ok && t.n_devices == 0, "exact again, nothing new");
        close(fd);
}

/* Debian 13's 7.3 backports: generic page table (no unmap records), dma_unmap_phys,
 * cache tags into the domain map in time order. */
static void test_vtd_7_3(void) {
        const GatherRules rules = gather_rules_for_kernel(GATHER_DRIVER_VTD, SZ_4K | SZ_2M | SZ_1G, 7, 3);
        _cleanup_(flush_sampler_freep) FlushSampler *s = NULL;
        int fd = open_fixture("qemu-vtd-13bpo");
        const DomainEntry *e;
        FlushTick t;

        CHECK(rules.generic_pt, "7.3 VT-d: the generic page table");
        CHECK_INT(flush_sampler_new(fd, &rules, &s), 0, "sampler on the 7.3 VT-d fixture");
        CHECK_STR(flush_sampler_status_unmap_records(s),
                  "not needed: the generic page table syncs once per unmap, whatever its page sizes", "unmap records");
        CHECK(fake_perf_format("iommu:unmap") == NULL, "no unmap ring opened");
        CHECK(strstr(flush_sampler_status_dma(s), "dma_unmap_phys") != NULL, "dma_unmap_phys recorded on 7.x: %s",
              flush_sampler_status_dma(s));
        CHECK(starts_with(flush_sampler_status_cache_tag(s), "recording intel_iommu:cache_tag_assign"),
              "cache tags recorded");

        /* Unmaps need no records: gather known from the counters alone. */
        fake_perf_emit("iommu:unmap", 0, 0, (uint8_t[64]) {}, 32);
        emit_dma("dma:dma_unmap_phys", "0000:00:03.0");
        /* A device-TLB tag names the device; an IOTLB tag on 7.3 names the
         * unit. The unassign and the assign that follows come on two rings:
         * time orders them (the assign of did 9 is the later). */
        emit_cache_tag("intel_iommu:cache_tag_assign", 300, "dmar0", "0000:00:03.0", 1, 9);
        emit_cache_tag("intel_iommu:cache_tag_unassign", 200, "dmar0", "0000:00:03.0", 1, 4);
        emit_cache_tag("intel_iommu:cache_tag_assign", 100, "dmar0", "0000:00:03.0", 1, 4);
        emit_cache_tag("intel_iommu:cache_tag_assign", 400, "dmar0", "dmar0", 0, 11);
        /* A device-TLB invalidation of 00:03.0 (sid 0x18) after those
         * attaches: in its domain, did 9. */
        emit_qi("dmar0", 0, QI_DEV_TLB(0x0018), 0x1000);
        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect");
        {
                const FlushDomainCount *d = find_domain(&t, "dmar0", 9);

                CHECK(d && d->devtlb == 1 && d->iotlb == 0, "the device-TLB invalidation in 00:03.0's domain, did 9");
                CHECK(t.n_units == 0, "nothing unplaced");
        }
        CHECK(t.counters_ok && t.unmaps == 1, "one unmap counted");
        CHECK(t.gather_ok && t.gather.events == 0, "gather known with no records");
        CHECK(t.dma_ok && t.n_devices == 1 && t.devices[0].unmaps == 1, "dma_unmap_phys counted");
        e = domain_map_find_device(flush_sampler_domain_map(s), "0000:00:03.0");
        CHECK(e && e->did == 9 && e->source == DOMAIN_SOURCE_CACHE_TAG && e->current,
              "00:03.0 is in did 9 now (by cache tag), got did %d", e ? e->did : -1);
        {
                const DomainEntry *found[4];

                CHECK_INT(domain_map_find_did(flush_sampler_domain_map(s), "dmar0", 11, false, found, 4), 0,
                          "an IOTLB tag naming the unit maps no device");
        }
        close(fd);
}

/* AMD-Vi on 6.1: the VT-d tracepoints exist in Debian's kernel but never
 * fire on AMD: not opened; AMD syncs once per unmap: no unmap records. */
static void test_amd(void) {
        const GatherRules rules = gather_rules_for_kernel(GATHER_DRIVER_AMD, SZ_4K | SZ_2M | SZ_1G, 6, 1);
        _cleanup_(flush_sampler_freep) FlushSampler *s = NULL;
        int fd = open_fixture("qemu-amd");
        FlushTick t;

        CHECK_INT(flush_sampler_new(fd, &rules, &s), 0, "sampler on the AMD fixture");
        CHECK_STR(flush_sampler_status_unmap_records(s),
                  "not needed: the AMD driver syncs once per unmap, whatever its page sizes", "unmap records");
        CHECK_STR(flush_sampler_status_qi(s), "not applicable: the IOMMU is not VT-d (amd-iommu driver)", "qi");
        CHECK_STR(flush_sampler_status_cache_tag(s), "not applicable: not VT-d", "cache tags");
        CHECK(fake_perf_format("intel_iommu:qi_submit") == NULL, "no qi ring on AMD");
        CHECK_INT(flush_sampler_n_ring_fds(s), 0, "no rings at all");
        fake_perf_emit("iommu:unmap", 0, 0, (uint8_t[64]) {}, 32);
        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect");
        CHECK(t.counters_ok && t.unmaps == 1 && t.gather_ok, "counters and gather from counters alone");
        CHECK(!t.qi_ok, "no invalidations measured: zero is no measurement");
        close(fd);
}

/* perf refused (no CAP_PERFMON, a locked-down kernel): each part says why
 * and the others go on. */
static void test_refused(void) {
        const GatherRules rules = gather_rules_for_kernel(GATHER_DRIVER_VTD, SZ_4K | SZ_2M | SZ_1G, 6, 1);
        _cleanup_(flush_sampler_freep) FlushSampler *s = NULL;
        int fd = open_fixture("qemu-vtd");
        FlushTick t;

        fake_perf_fail_open("iommu:map", EACCES);
        CHECK_INT(flush_sampler_new(fd, &rules, &s), 0, "sampler with the map counter refused");
        CHECK(starts_with(flush_sampler_status_counters(s), "not available: perf_event_open on map failed"),
              "counters say why: %s", flush_sampler_status_counters(s));
        CHECK(starts_with(flush_sampler_status_qi(s), "recording"), "qi goes on");
        emit_qi("dmar0", 0, QI_IOTLB(3, 5), 0x1000);
        CHECK_INT(flush_sampler_collect(s, &t), 0, "collect");
        CHECK(!t.counters_ok, "no counters");
        CHECK(!t.gather_ok || t.gather.events == 0, "nothing recorded");
        CHECK(t.qi_ok && t.n_domains == 1, "invalidations still counted");
        close(fd);
}

int main(void) {
        test_vtd_6_1();
        fake_perf_reset();
        test_vtd_6_12();
        fake_perf_reset();
        test_vtd_7_3();
        fake_perf_reset();
        test_amd();
        fake_perf_reset();
        test_refused();
        fake_perf_reset();
        return tap_done();
}
