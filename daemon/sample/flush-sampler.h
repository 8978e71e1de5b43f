/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The IOMMU flush sampler: the daemon's view of the kernel's iommu and
 * intel_iommu tracepoints through perf, read once per tick.
 *
 *  - counters (one fd per CPU) on iommu:map and iommu:unmap;
 *  - a ring buffer of iommu:unmap records with the kernel-side filter
 *    "size >= F", F the smallest unmap that can change the flush count
 *    (gather_model_filter_min_size()): unmaps below it cost one sync in
 *    strict mode and none in lazy mode, so they need no record;
 *  - a ring buffer of intel_iommu:qi_submit records, decoded and counted
 *    per (unit, domain id), feeding the domain map too;
 *  - intel_iommu:cache_tag_assign/_unassign records (6.10+): the domain id
 *    of a device attached from now on (rebinds, hotplug, the daemon's own
 *    switches), into the domain map, where the tag names the device: a
 *    device-TLB tag (ATS) does; an IOTLB tag names only the unit (6.12);
 *  - record streams of the dma:* unmap tracepoints the kernel has (6.12+),
 *    counted per device name: one stream per event and CPU, whatever the
 *    number of devices (a kernel-side filter per device would need an fd
 *    per device, event and CPU, and the kernel evaluates every attached
 *    filter on every event: measured by tests/bench-sampling, cheaper up
 *    to about 10 groups, 5 times the stream's cost with 64; README, "The
 *    sampling's overhead").
 *
 * Each part degrades on its own: what the kernel lacks is reported in
 * words (flush_sampler_status()) and the rest goes on.
 */

#include <stdbool.h>
#include <stdint.h>

#include "domain-map.h"
#include "gather-model.h"

#define FLUSH_SAMPLER_UNIT_MAX 16
#define FLUSH_SAMPLER_DMA_EVENTS_MAX 8

/* The rings' data pages for all CPUs together, split over them by
 * perf_ring_pages_per_cpu(): the rate a ring must carry is the machine's
 * (the IOMMU units' invalidation queues, the devices' unmaps), not each
 * CPU's, so a larger machine gets smaller rings per CPU, not more memory.
 * Each ring wakes the daemon at a quarter full (flush_sampler_drain()), so
 * it holds what arrives while the daemon wakes, not a whole tick. Filtered unmaps (one per
 * unmap of 2 MiB or more, ~56 bytes) are rare: 512 KiB; qi_submit records
 * (~80 bytes, one per invalidation of a strict group) are not: 1 MiB. On 2
 * CPUs that is the 256 KiB and 512 KiB per CPU of before. */
#define FLUSH_SAMPLER_UNMAP_RING_PAGES 128
#define FLUSH_SAMPLER_QI_RING_PAGES 256
/* The dma:* unmap records (one per unmap of a device on the map/unmap
 * API, ~60 bytes): the three busy events (dma_unmap_page or _phys,
 * dma_unmap_sg) 512 KiB each, the rare ones (resource, free) 64 KiB, and
 * the VT-d cache tag records (one per attach or detach) 64 KiB: on 2 CPUs
 * 256 and 32 KiB per CPU. */
#define FLUSH_SAMPLER_DMA_BUSY_RING_PAGES 128
#define FLUSH_SAMPLER_DMA_RARE_RING_PAGES 16
#define FLUSH_SAMPLER_CACHE_TAG_RING_PAGES 16

/* Invalidations of one (unit, domain id) within a tick. */
typedef struct FlushDomainCount {
        char unit[FLUSH_SAMPLER_UNIT_MAX];
        uint16_t did;
        uint64_t iotlb;          /* iotlb_inv + p_iotlb_inv */
        uint64_t iotlb_page;     /* of those, page-selective */
        uint64_t iotlb_domain;   /* of those, domain-selective */
        uint64_t devtlb;         /* dev_tlb_inv + p_dev_tlb_inv of its devices */
} FlushDomainCount;

/* Invalidations with no domain id, per unit: global IOTLB flushes, and
 * device-TLB invalidations of a device whose domain is not known (a
 * device-TLB descriptor names the device by source id, not the domain:
 * the domain map places the others in their domain's count). */
typedef struct FlushUnitCount {
        char unit[FLUSH_SAMPLER_UNIT_MAX];
        uint64_t iotlb_global;
        uint64_t devtlb_unplaced;
} FlushUnitCount;

/* dma:* unmap events of one device within a tick. */
typedef struct FlushDeviceCount {
        char name[32];           /* dev_name(): "0000:00:03.0" */
        uint64_t unmaps;
} FlushDeviceCount;

typedef struct FlushTick {
        bool counters_ok;        /* maps/unmaps measured this tick */
        uint64_t maps, unmaps;
        bool gather_ok;          /* the unmap records were read */
        uint64_t filter_min_size;
        GatherCounts gather;     /* over the recorded (filtered) unmaps only */
        uint64_t unmap_records_lost;
        bool qi_ok;              /* qi_submit records were read */
        FlushDomainCount *domains;
        size_t n_domains;
        FlushUnitCount *units;
        size_t n_units;
        uint64_t qi_records_lost;
        bool dma_ok;             /* the dma:* records were read: devices[] has every device's */
        FlushDeviceCount *devices;
        size_t n_devices;
        uint64_t dma_records_lost;
} FlushTick;

typedef struct FlushSampler FlushSampler;

/* Opens what the kernel offers under sysfs_fd (tracefs found there).
 * rules: the units' driver and their smallest common page-size bitmap (0:
 * unknown, then every unmap of 2 MiB or more is recorded). Never fails for
 * a missing kernel feature: only -ENOMEM. */
int flush_sampler_new(int sysfs_fd, const GatherRules *rules, FlushSampler **ret);
/* A sampler that opens nothing and says why in its status (perf counts the
 * running kernel: a daemon reading a fixture tree must not mix the two). */
int flush_sampler_new_disabled(const char *why, FlushSampler **ret);
FlushSampler *flush_sampler_free(FlushSampler *s);
static inline void flush_sampler_freep(FlushSampler **s) {
        flush_sampler_free(*s);
}

/* Reads everything since the last call into *ret (counters as deltas,
 * records drained since then by flush_sampler_drain() included). The
 * tick's arrays belong to the sampler until the next collect or drain.
 * Returns 0 or -ENOMEM. */
int flush_sampler_collect(FlushSampler *s, FlushTick *ret);

/* The rings' fds (one per CPU and ring: unmap records, invalidation
 * records, each dma:* event's records): each polls readable (EPOLLIN)
 * when its ring is a quarter full. flush_sampler_drain() then parses what
 * waits in every ring into the counts the next collect hands out, so a
 * ring needs to hold only what arrives while the daemon wakes, not a
 * whole tick (a busy device's dma:* records included). Returns 0 or
 * -ENOMEM. */
size_t flush_sampler_n_ring_fds(const FlushSampler *s);
int flush_sampler_ring_fd(const FlushSampler *s, size_t i);
int flush_sampler_drain(FlushSampler *s);

/* What each part is doing, in words: "counting iommu:map/unmap on 2 CPUs",
 * "iommu:unmap records: no tracefs". */
const char *flush_sampler_status_counters(const FlushSampler *s);
const char *flush_sampler_status_unmap_records(const FlushSampler *s);
const char *flush_sampler_status_qi(const FlushSampler *s);

/* Whether the map/unmap counters are open and running, and whether the
 * VT-d invalidation records are: what the status words above say in
 * prose, for code to ask. */
bool flush_sampler_counting(const FlushSampler *s);
bool flush_sampler_recording_qi(const FlushSampler *s);

const char *flush_sampler_status_dma(const FlushSampler *s);
const char *flush_sampler_status_cache_tag(const FlushSampler *s);

/* The domain ids learnt from attach/detach invalidations and debugfs. */
DomainMap *flush_sampler_domain_map(FlushSampler *s);
