/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Measured cost of VT-d IOTLB invalidations from debugfs
 * iommu/intel/dmar_perf_latency (CONFIG_INTEL_IOMMU_DEBUGFS and
 * CONFIG_DMAR_PERF; drivers/iommu/intel/debugfs.c latency_show() and
 * perf.c dmar_latency_snapshot(), v5.15 to v6.1).
 *
 * Writing 1 makes every unit time its IOTLB invalidations (2 device-TLB,
 * 3 interrupt entry cache, 4 page requests; 0 stops all and clears). The
 * timing is taken in qi_submit_sync() around the whole submission whose
 * first descriptor is iotlb_inv or p_iotlb_inv, wait descriptor included,
 * with two ktime_get() calls per submission: a small cost on every
 * invalidation, which is why the daemon enables it only when its
 * configuration allows.
 *
 * Reading gives per unit:
 *     IOMMU: dmar0 Register Base Address: fed90000
 *                       <0.1us   0.1us-1us ...      >=10ms     min(us)     max(us) average(us)
 *        inv_iotlb           0           0         111 ...           1         107           3
 * one row ("%12lld" columns) per enabled type: inv_iotlb, inv_devtlb,
 * inv_iec, svm_prq. The seven buckets count submissions by latency; min,
 * max and average are in whole microseconds, truncated (min reads 0 before
 * the first sample). The counts are cumulative since enabling.
 *
 * The average is known to a microsecond only; the cost estimate narrows it
 * with the histogram and min/max: every sample lies in its bucket and in
 * [min, max], so the mean lies in the intersection of [avg, avg + 1 us)
 * and the bucket-weighted bounds. The estimate is the middle of that range.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel-write.h"

typedef enum DmarLatencyType {
        DMAR_LATENCY_INV_IOTLB,
        DMAR_LATENCY_INV_DEVTLB,
        DMAR_LATENCY_INV_IEC,
        DMAR_LATENCY_PRQ,
        _DMAR_LATENCY_TYPE_MAX,
} DmarLatencyType;

#define DMAR_LATENCY_BUCKETS 7

typedef struct DmarLatencyStat {
        bool present;                            /* the type's row was printed: timing is on */
        uint64_t buckets[DMAR_LATENCY_BUCKETS];  /* <0.1us ... >=10ms */
        uint64_t min_us, max_us, avg_us;         /* as printed */
        uint64_t samples;                        /* sum of the buckets */
} DmarLatencyStat;

typedef struct DmarLatencyUnit {
        char name[16];
        bool failed;                             /* "Failed to get latency snapshot" */
        DmarLatencyStat stat[_DMAR_LATENCY_TYPE_MAX];
} DmarLatencyUnit;

typedef struct DmarLatency {
        DmarLatencyUnit *units;
        size_t n_units;
} DmarLatency;

/* Parses the text. Returns 0, -EBADMSG for a row that is not ten numbers
 * or a row before any unit, or -ENOMEM. */
int dmar_latency_parse(const char *text, DmarLatency *ret);
/* Reads kernel/debug/iommu/intel/dmar_perf_latency under the sysfs root;
 * -ENOENT (no debugfs, no VT-d debugfs, or a kernel without it) or -EACCES,
 * with a reason. */
int dmar_latency_read(int sysfs_fd, DmarLatency *ret, char **ret_reason);
void dmar_latency_done(DmarLatency *l);

/* Turns IOTLB timing on when allowed (the configuration says so; else
 * -EPERM and a reason, nothing written), then reads back: -EOPNOTSUPP when
 * the kernel took the write but times nothing (CONFIG_DMAR_PERF off).
 * Enabling again keeps the counts. The write is one step of ctx (the
 * writer, kernel-write.h; the file relative to ctx->sysfs_fd). */
int dmar_latency_enable(SwitchContext *ctx, bool allowed, char **ret_reason);
/* Writes 0 through the writer: stops all timing and clears the counts. */
int dmar_latency_disable(SwitchContext *ctx, char **ret_reason);

typedef struct DmarCost {
        uint64_t ns;                 /* estimated mean cost of one IOTLB invalidation */
        uint64_t low_ns, high_ns;    /* the mean lies in [low_ns, high_ns] */
        uint64_t samples;
        char source[192];            /* where the figure comes from, for status output */
} DmarCost;

/* The mean IOTLB invalidation cost on one unit, or over all units
 * (sample-weighted) when unit is NULL. -ENOENT for an unknown unit,
 * -ENODATA when timing is off or nothing was timed yet. */
int dmar_latency_iotlb_cost(const DmarLatency *l, const char *unit, DmarCost *ret);
/* The same for the invalidations between two reads (prev may be NULL: since
 * enabling). Counts that went down (timing was re-enabled) start from zero. */
int dmar_latency_iotlb_cost_between(const DmarLatency *prev, const DmarLatency *cur, const char *unit,
                                    DmarCost *ret);
