/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "flush-sampler.h"
#include "perf-tracepoint.h"
#include "qi-decode.h"
#include "util.h"

struct FlushSampler {
        GatherRules rules;       /* pgsize_bitmap 0: unknown */
        PerfCounter *maps, *unmaps;
        uint64_t maps_last, unmaps_last;
        char counters_status[256];

        PerfSampler *unmap_records;
        const TraceField *f_iova, *f_size;
        uint64_t filter_min_size;
        char unmap_status[256];

        PerfSampler *qi_records;
        const TraceField *f_qw[4], *f_iommu;
        char qi_status[256];
        DomainMap map;

        /* intel_iommu:cache_tag_assign/_unassign (6.10+): domain ids. */
        PerfSampler *cache_tag[2];
        const TraceField *f_ct_iommu[2], *f_ct_dev[2], *f_ct_type[2], *f_ct_did[2], *f_ct_pasid[2];
        char cache_tag_status[160];

        /* dma:* unmap API events, one record stream per event present. */
        PerfSampler *dma[FLUSH_SAMPLER_DMA_EVENTS_MAX];
        const TraceField *f_device[FLUSH_SAMPLER_DMA_EVENTS_MAX];
        size_t n_dma;
        char dma_status[384];
        FlushDeviceCount *devices;
        size_t n_devices, devices_alloc;
        bool devices_handed_out;  /* the last collect gave them away: start afresh */
        bool dma_failed;
        uint64_t dma_lost;

        /* This tick's counts, reused between ticks. */
        FlushDomainCount *domains;
        size_t n_domains, domains_alloc;
        FlushUnitCount *units;
        size_t n_units, units_alloc;
        GatherCounts gather;
        uint64_t unmap_lost, qi_lost;
        bool oom;
        bool handed_over;        /* the counts above went out: reset before adding */
};

static void set_status(char *buf, size_t size, const char *what, int r, char *reason) {
        if (r >= 0)
                snprintf(buf, size, "%s", what);
        else
                snprintf(buf, size, "not available: %s", reason ? reason : strerror(-r));
        free(reason);
}

static void open_counters(FlushSampler *s, int sysfs_fd) {
        char *why = NULL;
        int r;

        r = tracepoint_counter_open(sysfs_fd, NULL, "iommu", "map", NULL, &s->maps, &why);
        if (r >= 0) {
                free(why);
                why = NULL;
                r = tracepoint_counter_open(sysfs_fd, NULL, "iommu", "unmap", NULL, &s->unmaps, &why);
        }
        if (r >= 0 && ((r = perf_counter_enable(s->maps)) < 0 || (r = perf_counter_enable(s->unmaps)) < 0))
                why = strdup("cannot enable the perf counters");
        if (r < 0) {
                s->maps = perf_counter_free(s->maps);
                s->unmaps = perf_counter_free(s->unmaps);
        }
        if (r >= 0) {
                char what[128];

                snprintf(what, sizeof(what), "counting iommu:map and iommu:unmap on %zu CPUs",
                         perf_counter_n_cpus(s->maps));
                set_status(s->counters_status, sizeof(s->counters_status), what, 0, why);
        } else
                set_status(s->counters_status, sizeof(s->counters_status), NULL, r, why);
}

static void open_unmap_records(FlushSampler *s, int sysfs_fd) {
        PerfSamplerOptions opts = { .ring_pages_total = FLUSH_SAMPLER_UNMAP_RING_PAGES };
        char filter[64], what[160], *why = NULL;
        int r;

        /* With one page size no unmap changes the count, and the AMD driver
         * syncs once per unmap whatever its sizes: nothing to record. */
        s->filter_min_size = s->rules.pgsize_bitmap || s->rules.driver == GATHER_DRIVER_AMD
                                     ? gather_model_rules_filter_min_size(&s->rules)
                                     : SZ_2M;
        if (s->filter_min_size == UINT64_MAX) {
                snprintf(s->unmap_status, sizeof(s->unmap_status), "not needed: %s",
                         s->rules.generic_pt ? "the generic page table syncs once per unmap, whatever its page sizes"
                         : s->rules.driver == GATHER_DRIVER_AMD
                                 ? "the AMD driver syncs once per unmap, whatever its page sizes"
                                 : "with one page size no unmap has mixed page sizes");
                return;
        }
        snprintf(filter, sizeof(filter), "size >= 0x%llx", (unsigned long long) s->filter_min_size);
        opts.filter = filter;
        r = tracepoint_sampler_open(sysfs_fd, NULL, "iommu", "unmap", &opts, &s->unmap_records, &why);
        if (r >= 0) {
                const TraceFormat *f = perf_sampler_format(s->unmap_records);

                s->f_iova = trace_format_field(f, "iova");
                s->f_size = trace_format_field(f, "size");
                if (!s->f_iova || !s->f_size) {
                        r = -EPROTO;
                        why = strdup("iommu:unmap has no iova or size field");
                } else
                        r = perf_sampler_enable(s->unmap_records);
        }
        if (r < 0)
                s->unmap_records = perf_sampler_free(s->unmap_records);
        snprintf(what, sizeof(what), "recording iommu:unmap with %s for the gather model", filter);
        set_status(s->unmap_status, sizeof(s->unmap_status), what, r, why);
}

static void open_cache_tag_records(FlushSampler *s, int sysfs_fd) {
        static const char *const events[2] = { "cache_tag_assign", "cache_tag_unassign" };
        char *why = NULL;
        int r = 0;

        if (s->rules.driver != GATHER_DRIVER_VTD) {
                snprintf(s->cache_tag_status, sizeof(s->cache_tag_status), "not applicable: not VT-d");
                return;
        }
        for (size_t i = 0; i < 2 && r >= 0; i++) {
                PerfSamplerOptions opts = { .ring_pages_total = FLUSH_SAMPLER_CACHE_TAG_RING_PAGES };
                const TraceFormat *f;

                r = tracepoint_sampler_open(sysfs_fd, NULL, "intel_iommu", events[i], &opts, &s->cache_tag[i], &why);
                if (r < 0)
                        break;
                f = perf_sampler_format(s->cache_tag[i]);
                s->f_ct_iommu[i] = trace_format_field(f, "iommu");
                s->f_ct_dev[i] = trace_format_field(f, "dev");
                s->f_ct_type[i] = trace_format_field(f, "type");
                s->f_ct_did[i] = trace_format_field(f, "domain_id");
                s->f_ct_pasid[i] = trace_format_field(f, "pasid");
                if (!s->f_ct_iommu[i] || !s->f_ct_dev[i] || !s->f_ct_type[i] || !s->f_ct_did[i] || !s->f_ct_pasid[i]) {
                        r = -EPROTO;
                        free(why);
                        why = strdup("intel_iommu:cache_tag_* lacks an iommu, dev, type, domain_id or pasid field");
                } else
                        r = perf_sampler_enable(s->cache_tag[i]);
        }
        if (r < 0)
                for (size_t i = 0; i < 2; i++)
                        s->cache_tag[i] = perf_sampler_free(s->cache_tag[i]);
        if (r == -ENOENT) {
                free(why);
                why = strdup("no intel_iommu:cache_tag_assign (before 6.10)");
        }
        set_status(s->cache_tag_status, sizeof(s->cache_tag_status),
                   "recording intel_iommu:cache_tag_assign/_unassign (domain ids of ATS devices attached from now on; "
                   "an IOTLB tag names only the unit)",
                   r, why);
}

/* One cache tag record, kept until both rings are read: an unassign and
 * the assign that follows it arrive on two rings, and only their times
 * give their order (a re-attached device often gets its old id again). */
typedef struct CacheTagEvent {
        uint64_t time;
        bool assign;
        uint16_t did;
        char unit[FLUSH_SAMPLER_UNIT_MAX];
        char dev[32];
} CacheTagEvent;

typedef struct CacheTagDrain {
        FlushSampler *s;
        size_t i;
        CacheTagEvent *ev;
        size_t n, allocated;
} CacheTagDrain;

static int on_cache_tag(const PerfSample *p, void *userdata) {
        CacheTagDrain *c = userdata;
        FlushSampler *s = c->s;
        CacheTagEvent e = { .time = p->time, .assign = c->i == 0 };
        uint64_t type, did, pasid;

        if (trace_field_string(s->f_ct_iommu[c->i], p->raw, p->raw_size, e.unit, sizeof(e.unit)) < 0 ||
            trace_field_string(s->f_ct_dev[c->i], p->raw, p->raw_size, e.dev, sizeof(e.dev)) < 0 ||
            trace_field_u64(s->f_ct_type[c->i], p->raw, p->raw_size, &type) < 0 ||
            trace_field_u64(s->f_ct_did[c->i], p->raw, p->raw_size, &did) < 0 ||
            trace_field_u64(s->f_ct_pasid[c->i], p->raw, p->raw_size, &pasid) < 0)
                return 0;
        /* The device's own address space (IOMMU_NO_PASID, 0), tag types
         * CACHE_TAG_IOTLB and CACHE_TAG_DEVTLB (0 and 1). Observed on 6.12:
         * an IOTLB tag names the unit ("dmar0/dmar0 type iotlb did 3"), not
         * the device; only a device-TLB tag (ATS) names the device, and a
         * name that is no PCI address is skipped by the domain map. */
        if (type > 1 || pasid != 0)
                return 0;
        e.did = (uint16_t) did;
        if (greedy_realloc((void **) &c->ev, &c->allocated, c->n + 1, sizeof(*c->ev)) < 0) {
                s->oom = true;
                return -ENOMEM;
        }
        c->ev[c->n++] = e;
        return 0;
}

static int cache_tag_event_cmp(const void *a, const void *b) {
        const CacheTagEvent *x = a, *y = b;

        return x->time < y->time ? -1 : x->time > y->time;
}

static void drain_cache_tags(FlushSampler *s) {
        CacheTagDrain c = { .s = s };

        for (c.i = 0; c.i < 2; c.i++)
                if (s->cache_tag[c.i]) {
                        PerfRingStats st = {};

                        (void) perf_sampler_drain(s->cache_tag[c.i], on_cache_tag, &c, &st);
                }
        if (c.n > 1)
                qsort(c.ev, c.n, sizeof(*c.ev), cache_tag_event_cmp);
        for (size_t i = 0; i < c.n; i++)
                if (domain_map_observe_cache_tag(&s->map, c.ev[i].unit, c.ev[i].dev, c.ev[i].did, c.ev[i].assign) ==
                    -ENOMEM)
                        s->oom = true;
        free(c.ev);
}

/* The unmap side of the DMA API as the dma:* tracepoints (6.12+) name it:
 * 6.12 has dma_unmap_page, 7.x dma_unmap_phys; _sg and _resource on both;
 * dma_free and friends for coherent allocations. Whichever this kernel
 * has, each with a "device" string field (read from its format file). */
static const char *const dma_unmap_events[] = {
        "dma_unmap_page", "dma_unmap_phys", "dma_unmap_sg", "dma_unmap_resource",
        "dma_free", "dma_free_pages", "dma_free_sgt",
};

/* The ring memory the dma:* streams map, all CPUs, in KiB. */
static size_t dma_ring_kib(const FlushSampler *s) {
        size_t bytes = 0;

        for (size_t i = 0; i < s->n_dma; i++)
                bytes += perf_sampler_ring_bytes(s->dma[i]);
        return bytes / 1024;
}

static void open_dma_records(FlushSampler *s, int sysfs_fd) {
        char names[256] = "";
        size_t len = 0;
        int last_r = -ENOENT;
        char *last_why = NULL;

        for (size_t i = 0; i < ELEMENTSOF(dma_unmap_events) && s->n_dma < FLUSH_SAMPLER_DMA_EVENTS_MAX; i++) {
                /* The busy ones get the larger rings. */
                PerfSamplerOptions opts = { .ring_pages_total = i < 3 ? FLUSH_SAMPLER_DMA_BUSY_RING_PAGES
                                                                      : FLUSH_SAMPLER_DMA_RARE_RING_PAGES };
                /* The rings poll readable a quarter full (the default), and
                 * the manager drains them then: between ticks too. */
                PerfSampler *p = NULL;
                char *why = NULL;
                int r;

                r = tracepoint_sampler_open(sysfs_fd, NULL, "dma", dma_unmap_events[i], &opts, &p, &why);
                if (r >= 0 && !(s->f_device[s->n_dma] = trace_format_field(perf_sampler_format(p), "device"))) {
                        r = -EPROTO;
                        free(why);
                        why = strdup("no device field in its format");
                }
                if (r >= 0)
                        r = perf_sampler_enable(p);
                if (r < 0) {
                        perf_sampler_free(p);
                        if (r != -ENOENT || !last_why) {
                                free(last_why);
                                last_why = why;
                                last_r = r;
                        } else
                                free(why);
                        continue;
                }
                free(why);
                s->dma[s->n_dma++] = p;
                len += snprintf(names + len, len < sizeof(names) ? sizeof(names) - len : 0, "%s%s",
                                len ? ", " : "", dma_unmap_events[i]);
        }
        if (s->n_dma == 0) {
                if (last_r == -ENOENT) {
                        free(last_why);
                        last_why = strdup("no dma:* unmap tracepoints (before 6.12)");
                }
                set_status(s->dma_status, sizeof(s->dma_status), NULL, last_r, last_why);
        } else {
                char what[384];

                free(last_why);
                snprintf(what, sizeof(what),
                         "recording dma:%s by device (%zu fds per CPU, %zu KiB of ring in all)", names, s->n_dma,
                         dma_ring_kib(s));
                set_status(s->dma_status, sizeof(s->dma_status), what, 0, NULL);
        }
}


static void open_qi_records(FlushSampler *s, int sysfs_fd) {
        PerfSamplerOptions opts = { .ring_pages_total = FLUSH_SAMPLER_QI_RING_PAGES };
        char *why = NULL;
        int r;

        /* Debian's amd64 kernel has the VT-d tracepoints on AMD machines
         * too, where they never fire: zero invalidations there are no
         * measurement, and must not count as savings. */
        if (s->rules.driver != GATHER_DRIVER_VTD) {
                snprintf(s->qi_status, sizeof(s->qi_status), "not applicable: the IOMMU is not VT-d (%s driver)",
                         gather_driver_to_string(s->rules.driver));
                return;
        }
        r = tracepoint_sampler_open(sysfs_fd, NULL, "intel_iommu", "qi_submit", &opts, &s->qi_records, &why);
        if (r >= 0) {
                const TraceFormat *f = perf_sampler_format(s->qi_records);
                static const char *const names[4] = { "qw0", "qw1", "qw2", "qw3" };

                for (size_t i = 0; i < 4; i++)
                        if (!(s->f_qw[i] = trace_format_field(f, names[i])))
                                r = -EPROTO;
                if (!(s->f_iommu = trace_format_field(f, "iommu")))
                        r = -EPROTO;
                if (r < 0)
                        why = strdup("intel_iommu:qi_submit lacks a qw0..qw3 or iommu field");
                else
                        r = perf_sampler_enable(s->qi_records);
        }
        if (r < 0)
                s->qi_records = perf_sampler_free(s->qi_records);
        set_status(s->qi_status, sizeof(s->qi_status), "recording intel_iommu:qi_submit (VT-d invalidations)", r,
                   why);
}

int flush_sampler_new(int sysfs_fd, const GatherRules *rules, FlushSampler **ret) {
        FlushSampler *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->rules = *rules;
        open_counters(s, sysfs_fd);
        open_unmap_records(s, sysfs_fd);
        /* Sizes unknown: every unmap of 2 MiB or more was recorded; model
         * them with the usual 4K|2M|1G. */
        if (!s->rules.pgsize_bitmap)
                s->rules.pgsize_bitmap = SZ_4K | SZ_2M | SZ_1G;
        open_qi_records(s, sysfs_fd);
        open_dma_records(s, sysfs_fd);
        open_cache_tag_records(s, sysfs_fd);
        /* The counters start from zero: the first collect is a delta. */
        if (s->maps) {
                (void) perf_counter_read(s->maps, &s->maps_last);
                (void) perf_counter_read(s->unmaps, &s->unmaps_last);
        }
        /* Domain ids from debugfs when the kernel has it; the attach and
         * detach invalidations fill in the rest. */
        (void) domain_map_read_debugfs(&s->map, sysfs_fd, NULL);
        *ret = s;
        return 0;
}

int flush_sampler_new_disabled(const char *why, FlushSampler **ret) {
        FlushSampler *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        snprintf(s->counters_status, sizeof(s->counters_status), "not opened: %s", why);
        snprintf(s->unmap_status, sizeof(s->unmap_status), "not opened: %s", why);
        snprintf(s->qi_status, sizeof(s->qi_status), "not opened: %s", why);
        snprintf(s->dma_status, sizeof(s->dma_status), "not opened: %s", why);
        snprintf(s->cache_tag_status, sizeof(s->cache_tag_status), "not opened: %s", why);
        *ret = s;
        return 0;
}

FlushSampler *flush_sampler_free(FlushSampler *s) {
        if (!s)
                return NULL;
        perf_counter_free(s->maps);
        perf_counter_free(s->unmaps);
        perf_sampler_free(s->unmap_records);
        perf_sampler_free(s->qi_records);
        for (size_t i = 0; i < s->n_dma; i++)
                perf_sampler_free(s->dma[i]);
        for (size_t i = 0; i < 2; i++)
                perf_sampler_free(s->cache_tag[i]);
        free(s->devices);
        domain_map_done(&s->map);
        free(s->domains);
        free(s->units);
        free(s);
        return NULL;
}

static int on_unmap(const PerfSample *p, void *userdata) {
        FlushSampler *s = userdata;
        uint64_t iova, size;

        if (trace_field_u64(s->f_iova, p->raw, p->raw_size, &iova) < 0 ||
            trace_field_u64(s->f_size, p->raw, p->raw_size, &size) < 0) {
                s->gather.invalid++;
                return 0;
        }
        gather_model_account_rules(&s->gather, &s->rules, iova, size);
        return 0;
}

typedef struct DmaDrain {
        FlushSampler *s;
        const TraceField *device;
} DmaDrain;

static int on_dma_unmap(const PerfSample *p, void *userdata) {
        DmaDrain *d = userdata;
        FlushSampler *s = d->s;
        char name[sizeof(s->devices->name)];
        FlushDeviceCount *c = NULL;

        if (trace_field_string(d->device, p->raw, p->raw_size, name, sizeof(name)) < 0)
                return 0;
        for (size_t i = 0; i < s->n_devices; i++)
                if (streq(s->devices[i].name, name)) {
                        c = &s->devices[i];
                        break;
                }
        if (!c) {
                if (greedy_realloc((void **) &s->devices, &s->devices_alloc, s->n_devices + 1,
                                   sizeof(*s->devices)) < 0) {
                        s->oom = true;
                        return -ENOMEM;
                }
                c = &s->devices[s->n_devices++];
                *c = (FlushDeviceCount) {};
                snprintf(c->name, sizeof(c->name), "%s", name);
        }
        c->unmaps++;
        return 0;
}

static FlushDomainCount *domain_count(FlushSampler *s, const char *unit, uint16_t did) {
        for (size_t i = 0; i < s->n_domains; i++)
                if (s->domains[i].did == did && streq(s->domains[i].unit, unit))
                        return &s->domains[i];
        if (greedy_realloc((void **) &s->domains, &s->domains_alloc, s->n_domains + 1, sizeof(*s->domains)) < 0)
                return NULL;
        s->domains[s->n_domains] = (FlushDomainCount) { .did = did };
        snprintf(s->domains[s->n_domains].unit, FLUSH_SAMPLER_UNIT_MAX, "%s", unit);
        return &s->domains[s->n_domains++];
}

static FlushUnitCount *unit_count(FlushSampler *s, const char *unit) {
        for (size_t i = 0; i < s->n_units; i++)
                if (streq(s->units[i].unit, unit))
                        return &s->units[i];
        if (greedy_realloc((void **) &s->units, &s->units_alloc, s->n_units + 1, sizeof(*s->units)) < 0)
                return NULL;
        s->units[s->n_units] = (FlushUnitCount) {};
        snprintf(s->units[s->n_units].unit, FLUSH_SAMPLER_UNIT_MAX, "%s", unit);
        return &s->units[s->n_units++];
}

static int on_qi(const PerfSample *p, void *userdata) {
        FlushSampler *s = userdata;
        char unit[FLUSH_SAMPLER_UNIT_MAX];
        uint64_t qw[4];
        QiDesc d;

        for (size_t i = 0; i < 4; i++)
                if (trace_field_u64(s->f_qw[i], p->raw, p->raw_size, &qw[i]) < 0)
                        return 0;
        if (trace_field_string(s->f_iommu, p->raw, p->raw_size, unit, sizeof(unit)) < 0)
                return 0;
        qi_decode(qw[0], qw[1], qw[2], qw[3], &d);
        if (domain_map_observe_qi(&s->map, unit, p->cpu, &d) == -ENOMEM)
                s->oom = true;
        /* A device-TLB descriptor names the device, not the domain: the
         * device's current domain from the map. */
        if (qi_desc_is_dev_tlb(&d) && !d.has_did && d.has_sid) {
                const DomainEntry *e = domain_map_find_sid(&s->map, unit, d.sid);

                if (e) {
                        d.has_did = true;
                        d.did = e->did;
                } else {
                        FlushUnitCount *u = unit_count(s, unit);

                        if (!u) {
                                s->oom = true;
                                return -ENOMEM;
                        }
                        u->devtlb_unplaced++;
                        return 0;
                }
        }
        if (qi_desc_is_iotlb(&d) || qi_desc_is_dev_tlb(&d)) {
                if (d.has_did) {
                        FlushDomainCount *c = domain_count(s, unit, d.did);

                        if (!c) {
                                s->oom = true;
                                return -ENOMEM;
                        }
                        if (qi_desc_is_dev_tlb(&d))
                                c->devtlb++;
                        else {
                                c->iotlb++;
                                c->iotlb_page += qi_desc_is_page_selective(&d);
                                c->iotlb_domain += qi_desc_is_domain_wide(&d);
                        }
                } else if (qi_desc_is_iotlb(&d)) {
                        FlushUnitCount *u = unit_count(s, unit);

                        if (!u) {
                                s->oom = true;
                                return -ENOMEM;
                        }
                        u->iotlb_global++;
                }
        }
        return 0;
}

/* The records' counts add up between collects: from flush_sampler_drain()
 * when a ring wakes the daemon, and from the collect itself. */
static void tick_counts_reset_if_handed_over(FlushSampler *s) {
        if (!s->handed_over)
                return;
        s->n_domains = s->n_units = 0;
        s->gather = (GatherCounts) {};
        s->unmap_lost = s->qi_lost = 0;
        s->oom = false;
        s->handed_over = false;
}

/* What a drain lost: the kernel's PERF_RECORD_LOST counts, and at least
 * one record per overrun (the kernel says nothing of those). */
static uint64_t records_lost(const PerfRingStats *st) {
        return st->lost + st->overruns;
}

static int drain_unmap_records(FlushSampler *s) {
        PerfRingStats st = {};
        int r = perf_sampler_drain(s->unmap_records, on_unmap, s, &st);

        s->unmap_lost += records_lost(&st);
        return r;
}

static int drain_qi_records(FlushSampler *s) {
        PerfRingStats st = {};
        int r = perf_sampler_drain(s->qi_records, on_qi, s, &st);

        s->qi_lost += records_lost(&st);
        return r;
}

static void drain_dma_records(FlushSampler *s) {
        if (s->devices_handed_out) {
                s->n_devices = 0;
                s->dma_lost = 0;
                s->dma_failed = false;
                s->devices_handed_out = false;
        }
        for (size_t i = 0; i < s->n_dma; i++) {
                PerfRingStats st = {};
                DmaDrain d = { .s = s, .device = s->f_device[i] };

                if (perf_sampler_drain(s->dma[i], on_dma_unmap, &d, &st) < 0)
                        s->dma_failed = true;
                s->dma_lost += records_lost(&st);
        }
}

int flush_sampler_drain(FlushSampler *s) {
        tick_counts_reset_if_handed_over(s);
        if (s->unmap_records)
                (void) drain_unmap_records(s);
        if (s->qi_records)
                (void) drain_qi_records(s);
        drain_dma_records(s);
        return s->oom ? -ENOMEM : 0;
}

/* Every ring in one order: the unmap records', the invalidations', then
 * each dma:* event's. */
static size_t ring_samplers(const FlushSampler *s, PerfSampler **ret) {
        size_t n = 0;

        if (s->unmap_records)
                ret[n++] = s->unmap_records;
        if (s->qi_records)
                ret[n++] = s->qi_records;
        for (size_t i = 0; i < s->n_dma; i++)
                ret[n++] = s->dma[i];
        return n;
}

size_t flush_sampler_n_ring_fds(const FlushSampler *s) {
        PerfSampler *rings[2 + FLUSH_SAMPLER_DMA_EVENTS_MAX];
        size_t n_rings = ring_samplers(s, rings), n = 0;

        for (size_t r = 0; r < n_rings; r++)
                n += perf_sampler_n_fds(rings[r]);
        return n;
}

int flush_sampler_ring_fd(const FlushSampler *s, size_t i) {
        PerfSampler *rings[2 + FLUSH_SAMPLER_DMA_EVENTS_MAX];
        size_t n_rings = ring_samplers(s, rings);

        for (size_t r = 0; r < n_rings; r++) {
                size_t n = perf_sampler_n_fds(rings[r]);

                if (i < n)
                        return perf_sampler_fd(rings[r], i);
                i -= n;
        }
        return -EINVAL;
}

int flush_sampler_collect(FlushSampler *s, FlushTick *ret) {
        *ret = (FlushTick) { .filter_min_size = s->filter_min_size };
        tick_counts_reset_if_handed_over(s);
        s->handed_over = true;

        if (s->maps) {
                uint64_t maps, unmaps;

                if (perf_counter_read(s->maps, &maps) >= 0 && perf_counter_read(s->unmaps, &unmaps) >= 0) {
                        ret->counters_ok = true;
                        ret->maps = maps - s->maps_last;
                        ret->unmaps = unmaps - s->unmaps_last;
                        s->maps_last = maps;
                        s->unmaps_last = unmaps;
                }
        }
        if (s->filter_min_size == UINT64_MAX && ret->counters_ok)
                ret->gather_ok = true; /* nothing to record: every unmap's count is known */
        if (s->unmap_records) {
                if (drain_unmap_records(s) >= 0) {
                        ret->gather_ok = true;
                        ret->gather = s->gather;
                        ret->unmap_records_lost = s->unmap_lost;
                }
        }
        /* Attaches first: the invalidations that follow find their domain. */
        drain_cache_tags(s);
        if (s->qi_records) {
                if (drain_qi_records(s) >= 0 || !s->oom) {
                        ret->qi_ok = true;
                        ret->domains = s->domains;
                        ret->n_domains = s->n_domains;
                        ret->units = s->units;
                        ret->n_units = s->n_units;
                        ret->qi_records_lost = s->qi_lost;
                }
        }
        if (s->n_dma) {
                drain_dma_records(s);
                /* A lost record leaves some device short: no exact counts
                 * this tick. */
                ret->dma_ok = !s->dma_failed && s->dma_lost == 0 && !s->oom;
                ret->devices = s->devices;
                ret->n_devices = s->n_devices;
                ret->dma_records_lost = s->dma_lost;
                s->devices_handed_out = true;
        }
        return s->oom ? -ENOMEM : 0;
}


const char *flush_sampler_status_cache_tag(const FlushSampler *s) {
        return s->cache_tag_status;
}

const char *flush_sampler_status_dma(const FlushSampler *s) {
        return s->dma_status;
}

const char *flush_sampler_status_counters(const FlushSampler *s) {
        return s->counters_status;
}

const char *flush_sampler_status_unmap_records(const FlushSampler *s) {
        return s->unmap_status;
}

const char *flush_sampler_status_qi(const FlushSampler *s) {
        return s->qi_status;
}

bool flush_sampler_counting(const FlushSampler *s) {
        return s->maps && s->unmaps;
}

bool flush_sampler_recording_qi(const FlushSampler *s) {
        return s->qi_records;
}

DomainMap *flush_sampler_domain_map(FlushSampler *s) {
        return &s->map;
}
