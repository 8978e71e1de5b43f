/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The cost of one IOTLB invalidation, for "time saved": the configured
 * flush_cost_ns, else measured with debugfs dmar_perf_latency
 * (dmar-latency.h; VT-d with CONFIG_INTEL_IOMMU_DEBUGFS), else unknown.
 * The sampler switches the timing on at start when the configuration asks
 * for a measurement (flush_cost_ns = 0), reads it each tick, and switches
 * it off at the end. It says in words where the figure comes from.
 */

#include <stdbool.h>
#include <stdint.h>

typedef struct InvalidationCost {
        bool timing;           /* we switched on debugfs dmar_perf_latency */
        uint64_t measured_ns;  /* mean IOTLB invalidation cost from it, 0: none yet */
        char source[256];      /* where the cost per invalidation comes from, in words */
} InvalidationCost;

/* configured_ns: flush_cost_ns (0 asks for a measurement). measurable:
 * the running kernel has VT-d debugfs and sysfs_fd is the real /sys.
 * Returns 1 when it switched the timing on, else 0 (a failure to start is
 * said in the source). */
int invalidation_cost_start(InvalidationCost *c, int sysfs_fd, uint64_t configured_ns, bool measurable);
/* Reads the timing (when on) and takes its mean, once there is a sample. */
void invalidation_cost_sample(InvalidationCost *c, int sysfs_fd);
/* The configured cost, else the measured one, else 0 (unknown). */
uint64_t invalidation_cost_ns(const InvalidationCost *c, uint64_t configured_ns);
const char *invalidation_cost_source(const InvalidationCost *c);
/* Switches the timing off again when this sampler switched it on. */
void invalidation_cost_stop(InvalidationCost *c, int sysfs_fd);
