/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmar-latency.h"
#include "kernel-write.h"
#include "sysfs.h"
#include "util.h"

#define PERF_LATENCY "kernel/debug/iommu/intel/dmar_perf_latency"

typedef unsigned __int128 u128;

/* perf.c latency_type_names[], in enum latency_type order. */
static const char *const type_names[_DMAR_LATENCY_TYPE_MAX] = {
        "inv_iotlb", "inv_devtlb", "inv_iec", "svm_prq",
};

/* Each bucket's latencies in ns, as dmar_latency_update() sorts them. */
static const uint64_t bucket_lo[DMAR_LATENCY_BUCKETS] = {
        0, 100, 1000, 10000, 100000, 1000000, 10000000,
};
static const uint64_t bucket_hi[DMAR_LATENCY_BUCKETS] = {
        99, 999, 9999, 99999, 999999, 9999999, UINT64_MAX,
};

void dmar_latency_done(DmarLatency *l) {
        free(l->units);
        *l = (DmarLatency) {};
}

static int parse_values(const char *s, uint64_t v[10]) {
        for (unsigned i = 0; i < 10; i++) {
                char *end;

                while (*s == ' ' || *s == '\t')
                        s++;
                if (!isdigit((unsigned char) *s))
                        return -EBADMSG;
                errno = 0;
                v[i] = strtoull(s, &end, 10);
                if (errno)
                        return -EBADMSG;
                s = end;
        }
        while (*s == ' ' || *s == '\t')
                s++;
        return *s ? -EBADMSG : 0;
}

int dmar_latency_parse(const char *text, DmarLatency *ret) {
        DmarLatency l = {};
        size_t allocated = 0;
        const char *line, *nl;

        *ret = (DmarLatency) {};
        for (line = text; line && *line; line = nl ? nl + 1 : NULL) {
                char buf[512], name[64], word[32];
                unsigned long long base;
                size_t len;
                int n = 0;

                nl = strchr(line, '\n');
                len = nl ? (size_t) (nl - line) : strlen(line);
                if (len >= sizeof(buf))
                        goto bad;
                memcpy(buf, line, len);
                buf[len] = '\0';
                if (sscanf(buf, "IOMMU: %63s Register Base Address: %llx", name, &base) == 2) {
                        if (strlen(name) >= sizeof(l.units[0].name))
                                goto bad;
                        if (greedy_realloc((void **) &l.units, &allocated, l.n_units + 1,
                                           sizeof(DmarLatencyUnit)) < 0) {
                                dmar_latency_done(&l);
                                return -ENOMEM;
                        }
                        l.units[l.n_units] = (DmarLatencyUnit) {};
                        strcpy(l.units[l.n_units].name, name);
                        l.n_units++;
                        continue;
                }
                if (sscanf(buf, " %31s%n", word, &n) != 1)
                        continue; /* blank */
                if (strstr(buf, "<0.1us") && strstr(buf, "average(us)"))
                        continue; /* the header */
                if (l.n_units == 0)
                        goto bad;
                DmarLatencyUnit *u = &l.units[l.n_units - 1];
                if (strncmp(buf, "Failed to get latency snapshot", 30) == 0) {
                        u->failed = true;
                        continue;
                }
                unsigned t;
                for (t = 0; t < _DMAR_LATENCY_TYPE_MAX; t++)
                        if (streq(word, type_names[t]))
                                break;
                if (t == _DMAR_LATENCY_TYPE_MAX)
                        goto bad;
                uint64_t v[10];
                if (parse_values(buf + n, v) < 0)
                        goto bad;
                DmarLatencyStat *s = &u->stat[t];
                *s = (DmarLatencyStat) { .present = true, .min_us = v[7], .max_us = v[8], .avg_us = v[9] };
                for (unsigned b = 0; b < DMAR_LATENCY_BUCKETS; b++) {
                        s->buckets[b] = v[b];
                        s->samples += v[b];
                }
        }
        *ret = l;
        return 0;
bad:
        dmar_latency_done(&l);
        return -EBADMSG;
}

static int explain(int sysfs_fd, int r, char **ret_reason) {
        const char *why;

        if (r == -ENOENT) {
                if (sysfs_exists(sysfs_fd, "kernel/debug/iommu/intel") > 0)
                        why = "this kernel has no IOTLB latency timing (CONFIG_DMAR_PERF)";
                else if (sysfs_exists(sysfs_fd, "kernel/debug/iommu") > 0)
                        why = "this kernel has no VT-d debugfs (CONFIG_INTEL_IOMMU_DEBUGFS) or no VT-d unit";
                else
                        why = "debugfs is not mounted at /sys/kernel/debug, or has no iommu directory";
        } else if (r == -EACCES || r == -EPERM) {
                r = -EACCES;
                why = "debugfs is accessible to root only";
        } else
                why = strerror(-r);
        if (ret_reason && asprintf(ret_reason, "dmar_perf_latency: %s", why) < 0)
                *ret_reason = NULL;
        return r;
}

int dmar_latency_read(int sysfs_fd, DmarLatency *ret, char **ret_reason) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        r = sysfs_read_file(sysfs_fd, PERF_LATENCY, 1 << 20, &text);
        if (r < 0)
                return explain(sysfs_fd, r, ret_reason);
        r = dmar_latency_parse(text, ret);
        if (r < 0 && ret_reason && asprintf(ret_reason, "dmar_perf_latency: unexpected format") < 0)
                *ret_reason = NULL;
        return r;
}

/* Through the writer, as every write of the daemon. */
static int write_control(SwitchContext *ctx, const char *value, char **ret_reason) {
        int r = kernel_write(ctx, KERNEL_WRITE_ATTR, PERF_LATENCY, value);

        return r < 0 ? explain(ctx->sysfs_fd, r, ret_reason) : 0;
}

int dmar_latency_enable(SwitchContext *ctx, bool allowed, char **ret_reason) {
        DmarLatency l;
        bool on = false;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (!allowed) {
                if (ret_reason && asprintf(ret_reason, "IOTLB latency timing is off in the configuration") < 0)
                        *ret_reason = NULL;
                return -EPERM;
        }
        r = write_control(ctx, "1", ret_reason);
        if (r < 0)
                return r;
        r = dmar_latency_read(ctx->sysfs_fd, &l, ret_reason);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n_units; i++)
                on = on || l.units[i].stat[DMAR_LATENCY_INV_IOTLB].present;
        dmar_latency_done(&l);
        if (!on) {
                if (ret_reason && asprintf(ret_reason, "dmar_perf_latency: the kernel took the write "
                                                       "but times nothing (CONFIG_DMAR_PERF off?)") < 0)
                        *ret_reason = NULL;
                return -EOPNOTSUPP;
        }
        return 0;
}

int dmar_latency_disable(SwitchContext *ctx, char **ret_reason) {
        if (ret_reason)
                *ret_reason = NULL;
        return write_control(ctx, "0", ret_reason);
}

/* Bounds on the summed latency (ns) of the samples a stat counts beyond
 * base (NULL: all of them). */
static void sum_bounds(const DmarLatencyStat *cur, const DmarLatencyStat *base, uint64_t *ret_n,
                       u128 *ret_lo, u128 *ret_hi) {
        const DmarLatencyStat zero = {};
        u128 lo = 0, hi = 0, alo, ahi;
        uint64_t n = 0;

        if (!base || !base->present)
                base = &zero;
        for (unsigned b = 0; b < DMAR_LATENCY_BUCKETS; b++)
                if (cur->buckets[b] < base->buckets[b])
                        base = &zero; /* cleared and enabled again */
        /* Every sample is in [min, max] of all samples since enabling. */
        uint64_t floor_ns = cur->min_us * 1000, ceil_ns = cur->max_us * 1000 + 999;
        for (unsigned b = 0; b < DMAR_LATENCY_BUCKETS; b++) {
                uint64_t d = cur->buckets[b] - base->buckets[b];
                uint64_t l = bucket_lo[b] > floor_ns ? bucket_lo[b] : floor_ns;
                uint64_t h = bucket_hi[b] < ceil_ns ? bucket_hi[b] : ceil_ns;

                if (h < l)
                        h = l; /* inconsistent input: keep the bounds ordered */
                n += d;
                lo += (u128) d * l;
                hi += (u128) d * h;
        }
        /* The printed average is floor(sum / (samples * 1000)) us. */
        alo = (u128) cur->avg_us * 1000 * cur->samples;
        ahi = ((u128) cur->avg_us + 1) * 1000 * cur->samples;
        ahi = ahi > 0 ? ahi - 1 : 0;
        if (base != &zero) {
                u128 blo = (u128) base->avg_us * 1000 * base->samples;
                u128 bhi = ((u128) base->avg_us + 1) * 1000 * base->samples;

                alo = alo > bhi ? alo - bhi : 0;
                ahi = ahi > blo ? ahi - blo : 0;
        }
        if (alo > lo)
                lo = alo;
        if (ahi < hi)
                hi = ahi;
        if (hi < lo)
                hi = lo;
        *ret_n = n;
        *ret_lo = lo;
        *ret_hi = hi;
}

static const DmarLatencyUnit *find_unit(const DmarLatency *l, const char *name) {
        for (size_t i = 0; l && i < l->n_units; i++)
                if (streq(l->units[i].name, name))
                        return &l->units[i];
        return NULL;
}

int dmar_latency_iotlb_cost_between(const DmarLatency *prev, const DmarLatency *cur, const char *unit,
                                    DmarCost *ret) {
        u128 lo = 0, hi = 0;
        uint64_t n = 0;
        unsigned units = 0;

        if (unit && !find_unit(cur, unit))
                return -ENOENT;
        for (size_t i = 0; i < cur->n_units; i++) {
                const DmarLatencyUnit *u = &cur->units[i], *p;
                u128 ulo, uhi;
                uint64_t un;

                if (unit && !streq(u->name, unit))
                        continue;
                if (!u->stat[DMAR_LATENCY_INV_IOTLB].present)
                        continue;
                p = find_unit(prev, u->name);
                sum_bounds(&u->stat[DMAR_LATENCY_INV_IOTLB], p ? &p->stat[DMAR_LATENCY_INV_IOTLB] : NULL,
                           &un, &ulo, &uhi);
                if (un == 0)
                        continue;
                n += un;
                lo += ulo;
                hi += uhi;
                units++;
        }
        if (n == 0)
                return -ENODATA;
        *ret = (DmarCost) {
                .samples = n,
                .low_ns = (uint64_t) (lo / n),
                .high_ns = (uint64_t) ((hi + n - 1) / n),
        };
        ret->ns = ret->low_ns + (ret->high_ns - ret->low_ns) / 2;
        snprintf(ret->source, sizeof(ret->source),
                 "debugfs dmar_perf_latency %s: %" PRIu64 " timed IOTLB invalidation submissions, "
                 "mean %" PRIu64 "-%" PRIu64 " ns",
                 unit ? unit : units == 1 ? "(1 unit)" : "(all units)", n, ret->low_ns, ret->high_ns);
        return 0;
}

int dmar_latency_iotlb_cost(const DmarLatency *l, const char *unit, DmarCost *ret) {
        return dmar_latency_iotlb_cost_between(NULL, l, unit, ret);
}
