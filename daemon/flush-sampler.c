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
                         s->rules.driver == GATHER_DRIVER_AMD
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

static int drain_unmap_records(FlushSampler *s) {
        PerfRingStats st = {};
        int r = perf_sampler_drain(s->unmap_records, on_unmap, s, &st);

        s->unmap_lost += st.lost;
        return r;
}

static int drain_qi_records(FlushSampler *s) {
        PerfRingStats st = {};
        int r = perf_sampler_drain(s->qi_records, on_qi, s, &st);

        s->qi_lost += st.lost;
        return r;
}

int flush_sampler_drain(FlushSampler *s) {
        tick_counts_reset_if_handed_over(s);
        if (s->unmap_records)
                (void) drain_unmap_records(s);
        if (s->qi_records)
                (void) drain_qi_records(s);
        return s->oom ? -ENOMEM : 0;
}

size_t flush_sampler_n_ring_fds(const FlushSampler *s) {
        return (s->unmap_records ? perf_sampler_n_fds(s->unmap_records) : 0) +
               (s->qi_records ? perf_sampler_n_fds(s->qi_records) : 0);
}

int flush_sampler_ring_fd(const FlushSampler *s, size_t i) {
        size_t n_unmap = s->unmap_records ? perf_sampler_n_fds(s->unmap_records) : 0;

        if (i < n_unmap)
                return perf_sampler_fd(s->unmap_records, i);
        return s->qi_records ? perf_sampler_fd(s->qi_records, i - n_unmap) : -EINVAL;
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
        return s->oom ? -ENOMEM : 0;
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

DomainMap *flush_sampler_domain_map(FlushSampler *s) {
        return &s->map;
}
