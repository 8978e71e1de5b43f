/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmar-latency.h"
#include "invalidation-cost.h"
#include "kernel-write.h"

/* flush_cost_ns = 0 asks for a measurement: VT-d debugfs times IOTLB
 * invalidations (CONFIG_INTEL_IOMMU_DEBUGFS). */
int invalidation_cost_start(InvalidationCost *c, int sysfs_fd, uint64_t configured_ns, bool measurable) {
        SwitchContext writer;
        char *why = NULL;
        int r;

        if (configured_ns) {
                snprintf(c->source, sizeof(c->source), "configured: flush_cost_ns = %llu",
                         (unsigned long long) configured_ns);
                return 0;
        }
        if (!measurable) {
                snprintf(c->source, sizeof(c->source),
                         "unknown: flush_cost_ns = 0 and no VT-d debugfs to measure it (CONFIG_INTEL_IOMMU_DEBUGFS)");
                return 0;
        }
        /* A writer context of its own: the timing is no step of a switch. */
        switch_context_init(&writer, sysfs_fd, -EBADF);
        r = dmar_latency_enable(&writer, true, &why);
        if (r < 0) {
                snprintf(c->source, sizeof(c->source), "unknown: timing IOTLB invalidations failed: %s",
                         why ? why : strerror(-r));
                free(why);
                return 0;
        }
        c->timing = true;
        snprintf(c->source, sizeof(c->source), "measuring: debugfs dmar_perf_latency, no sample yet");
        return 1;
}

void invalidation_cost_sample(InvalidationCost *c, int sysfs_fd) {
        DmarLatency l = {};
        DmarCost cost = {};

        if (!c->timing || dmar_latency_read(sysfs_fd, &l, NULL) < 0)
                return;
        if (dmar_latency_iotlb_cost(&l, NULL, &cost) >= 0 && cost.samples > 0) {
                c->measured_ns = cost.ns;
                snprintf(c->source, sizeof(c->source), "measured: %s", cost.source);
        }
        dmar_latency_done(&l);
}

uint64_t invalidation_cost_ns(const InvalidationCost *c, uint64_t configured_ns) {
        return configured_ns ? configured_ns : c->measured_ns;
}

const char *invalidation_cost_source(const InvalidationCost *c) {
        return c->source;
}

void invalidation_cost_stop(InvalidationCost *c, int sysfs_fd) {
        if (c->timing) {
                SwitchContext writer;

                switch_context_init(&writer, sysfs_fd, -EBADF);
                (void) dmar_latency_disable(&writer, NULL);
        }
        c->timing = false;
}
