/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "workload.h"
#include "util.h"

/* A counter sample kept from the last tick, by block device or interface. */
typedef struct PrevBlock {
        char *name;
        BlockStat stat;
} PrevBlock;

typedef struct PrevNet {
        char *name;
        NetCounters counters;
} PrevNet;

struct WorkloadSampler {
        int sysfs_fd, proc_fd;
        NetStats *net;
        char status[256];
        uint64_t last_ns;
        Interrupts *irqs;
        PrevBlock *blocks;
        size_t n_blocks;
        PrevNet *nets;
        size_t n_nets;
        DeviceWorkload *devices;
        bool *group_active;
        uint64_t *group_io_ops;
        bool *group_moved_data;
        size_t n_devices, n_groups;
};

int workload_sampler_new(int sysfs_fd, int proc_fd, WorkloadSampler **ret) {
        WorkloadSampler *w = calloc(1, sizeof(*w));
        char *why = NULL;
        int r;

        if (!w)
                return -ENOMEM;
        w->sysfs_fd = sysfs_fd;
        w->proc_fd = proc_fd;
        r = netstat_open(&w->net, &why);
        if (r == -ENOMEM) {
                free(w);
                return r;
        }
        snprintf(w->status, sizeof(w->status), "interrupts (/proc/interrupts), block I/O (sysfs), %s%s",
                 r < 0 ? "no link statistics: " : "link statistics (netlink)", r < 0 ? strna(why) : "");
        free(why);
        *ret = w;
        return 0;
}

static void prev_free(WorkloadSampler *w) {
        for (size_t i = 0; i < w->n_blocks; i++)
                free(w->blocks[i].name);
        free(w->blocks);
        for (size_t i = 0; i < w->n_nets; i++)
                free(w->nets[i].name);
        free(w->nets);
        w->blocks = NULL;
        w->nets = NULL;
        w->n_blocks = w->n_nets = 0;
}

WorkloadSampler *workload_sampler_free(WorkloadSampler *w) {
        if (!w)
                return NULL;
        netstat_free(w->net);
        interrupts_free(w->irqs);
        prev_free(w);
        free(w->devices);
        free(w->group_active);
        free(w->group_io_ops);
        free(w->group_moved_data);
        free(w);
        return NULL;
}

static const BlockStat *prev_block(const WorkloadSampler *w, const char *name) {
        for (size_t i = 0; i < w->n_blocks; i++)
                if (streq(w->blocks[i].name, name))
                        return &w->blocks[i].stat;
        return NULL;
}

static const NetCounters *prev_net(const WorkloadSampler *w, const char *name) {
        for (size_t i = 0; i < w->n_nets; i++)
                if (streq(w->nets[i].name, name))
                        return &w->nets[i].counters;
        return NULL;
}

int workload_sample(WorkloadSampler *w, const Topology *t, uint64_t now_ns, const DeviceWorkload **ret_devices,
                    const bool **ret_group_active) {
        PrevBlock *blocks = NULL;
        PrevNet *nets = NULL;
        size_t n_blocks = 0, n_nets = 0, blocks_alloc = 0, nets_alloc = 0;
        Interrupts *irqs = NULL;
        bool first = w->last_ns == 0;
        uint64_t interval = first ? 0 : now_ns - w->last_ns;

        /* The first sample allocates even for an empty topology (no IOMMU):
         * the arrays are never NULL past here. */
        if (!w->devices || w->n_devices != t->n_devices || w->n_groups != t->n_groups) {
                free(w->devices);
                free(w->group_active);
                free(w->group_io_ops);
                free(w->group_moved_data);
                w->devices = calloc(t->n_devices + 1, sizeof(*w->devices));
                w->group_active = calloc(t->n_groups + 1, sizeof(*w->group_active));
                w->group_io_ops = calloc(t->n_groups + 1, sizeof(*w->group_io_ops));
                w->group_moved_data = calloc(t->n_groups + 1, sizeof(*w->group_moved_data));
                if (!w->devices || !w->group_active || !w->group_io_ops || !w->group_moved_data) {
                        w->n_devices = w->n_groups = SIZE_MAX; /* reallocate next time */
                        return -ENOMEM;
                }
                w->n_devices = t->n_devices;
                w->n_groups = t->n_groups;
        }
        memset(w->devices, 0, (t->n_devices + 1) * sizeof(*w->devices));
        memset(w->group_active, 0, (t->n_groups + 1) * sizeof(*w->group_active));
        memset(w->group_io_ops, 0, (t->n_groups + 1) * sizeof(*w->group_io_ops));
        memset(w->group_moved_data, 0, (t->n_groups + 1) * sizeof(*w->group_moved_data));

        if (interrupts_read(w->proc_fd, &irqs) == -ENOMEM)
                return -ENOMEM;
        if (w->net)
                (void) netstat_refresh(w->net, NULL);

        for (size_t i = 0; i < t->n_devices; i++) {
                const Device *d = &t->devices[i];
                DeviceWorkload *dw = &w->devices[i];
                bool moved_data = false, has_data_path = false;

                if (irqs && w->irqs && !first)
                        interrupts_rate(w->irqs, irqs, d->msi_irqs, d->n_msi_irqs, interval, &dw->irq);
                for (char **b = d->block_devs; b && *b; b++) {
                        BlockStat st;
                        BlockRate r;
                        const BlockStat *p;

                        has_data_path = true;
                        if (blockstat_read(w->sysfs_fd, *b, &st) < 0)
                                continue;
                        if (greedy_realloc((void **) &blocks, &blocks_alloc, n_blocks + 1, sizeof(*blocks)) < 0)
                                goto oom;
                        blocks[n_blocks] = (PrevBlock) { .name = strdup(*b), .stat = st };
                        if (!blocks[n_blocks++].name)
                                goto oom;
                        if (!first && (p = prev_block(w, *b))) {
                                blockstat_rate(p, &st, interval, &r);
                                blockrate_add(&dw->block, &r);
                        }
                }
                for (char **n = d->net_ifaces; w->net && n && *n; n++) {
                        NetCounters c;
                        NetRate r;
                        const NetCounters *p;

                        has_data_path = true;
                        if (netstat_get(w->net, *n, &c) < 0)
                                continue;
                        if (greedy_realloc((void **) &nets, &nets_alloc, n_nets + 1, sizeof(*nets)) < 0)
                                goto oom;
                        nets[n_nets] = (PrevNet) { .name = strdup(*n), .counters = c };
                        if (!nets[n_nets++].name)
                                goto oom;
                        if (!first && (p = prev_net(w, *n))) {
                                netstat_rate(p, &c, interval, &r);
                                dw->net.rx_packets += r.rx_packets;
                                dw->net.tx_packets += r.tx_packets;
                                dw->net.rx_bytes += r.rx_bytes;
                                dw->net.tx_bytes += r.tx_bytes;
                                dw->net.rx_pps += r.rx_pps;
                                dw->net.tx_pps += r.tx_pps;
                        }
                }
                dw->io_ops = dw->block.read_ios + dw->block.write_ios + dw->block.discard_ios + dw->block.flush_ios +
                             dw->net.rx_packets + dw->net.tx_packets;
                moved_data = dw->io_ops > 0;
                dw->moved_data = moved_data;
                if (!has_data_path)
                        dw->io_ops = dw->irq.events;
                dw->active = has_data_path ? moved_data : dw->irq.events > 0;
                if (dw->active && d->group >= 0) {
                        const IommuGroup *g = topology_find_group(t, (unsigned) d->group);

                        if (g) {
                                w->group_active[g - t->groups] = true;
                                w->group_io_ops[g - t->groups] += dw->io_ops;
                                w->group_moved_data[g - t->groups] |= dw->moved_data;
                        }
                }
        }
        prev_free(w);
        w->blocks = blocks;
        w->n_blocks = n_blocks;
        w->nets = nets;
        w->n_nets = n_nets;
        interrupts_free(w->irqs);
        w->irqs = irqs;
        w->last_ns = now_ns;
        *ret_devices = w->devices;
        *ret_group_active = w->group_active;
        return 0;
oom:
        for (size_t i = 0; i < n_blocks; i++)
                free(blocks[i].name);
        free(blocks);
        for (size_t i = 0; i < n_nets; i++)
                free(nets[i].name);
        free(nets);
        interrupts_free(irqs);
        return -ENOMEM;
}

const uint64_t *workload_group_io_ops(const WorkloadSampler *w) {
        return w->group_io_ops;
}

const bool *workload_group_moved_data(const WorkloadSampler *w) {
        return w->group_moved_data;
}

const char *workload_status(const WorkloadSampler *w) {
        return w->status;
}
