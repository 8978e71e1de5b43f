/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Per-device DMA workload each tick: its MSI interrupt rate
 * (/proc/interrupts), the I/O of its block devices (sysfs block stat) and
 * the traffic of its network interfaces (netlink link statistics). A group
 * counts as active in a tick when a device of it moved data: block I/O or
 * packets, or, for a device with neither, interrupts.
 */

#include <stdbool.h>
#include <stdint.h>

#include "blockstat.h"
#include "interrupts.h"
#include "netstat.h"
#include "topology.h"

typedef struct DeviceWorkload {
        IrqRate irq;
        BlockRate block;
        NetRate net;
        /* Its I/O operations in the tick: block I/Os and packets, or for a
         * device with neither its interrupts. What unmaps no exact source
         * placed are apportioned by. */
        uint64_t io_ops;
        bool moved_data;        /* block I/O or packets, not just interrupts */
        bool active;
} DeviceWorkload;

typedef struct WorkloadSampler WorkloadSampler;

/* Never fails for a missing source (netlink, /proc/interrupts): that
 * source is skipped and workload_status() says why. Only -ENOMEM. */
int workload_sampler_new(int sysfs_fd, int proc_fd, WorkloadSampler **ret);
WorkloadSampler *workload_sampler_free(WorkloadSampler *w);

/* Samples every device of t. The arrays (parallel to t->devices and
 * t->groups) belong to the sampler until the next call. The first call
 * only takes the baseline: nothing is active. 0 or -ENOMEM. */
int workload_sample(WorkloadSampler *w, const Topology *t, uint64_t now_ns, const DeviceWorkload **ret_devices,
                    const bool **ret_group_active);

/* The I/O operations of each group's active devices in the last sample,
 * parallel to the topology's groups (valid until the next sample). */
const uint64_t *workload_group_io_ops(const WorkloadSampler *w);
/* Whether each group's devices moved data (not just interrupts), parallel
 * likewise. */
const bool *workload_group_moved_data(const WorkloadSampler *w);

/* "interrupts, block stat, netlink" or what is missing, in words. */
const char *workload_status(const WorkloadSampler *w);
