/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the daemon's sampling adds to each traced event, measured natively on
 * this machine's own kernel. Prints figures; asserts nothing.
 *
 * The daemon opens, per CPU (daemon/sample/flush-sampler.c): a perf counter on
 * iommu:map; a counter and a ring with a kernel-side filter on iommu:unmap
 * (the filter rejects all but the rare unmaps of 2 MiB or more); on VT-d a
 * ring recording every intel_iommu:qi_submit. A host without an IOMMU never
 * fires those, so the same perf setup (the same perf-tracepoint.c calls and
 * ring sizes) goes on a tracepoint user space fires at will, one event per
 * call: task:task_rename (prctl(PR_SET_NAME)) by default, or
 * syscalls:sys_enter_getppid (getppid(); it also puts every syscall of the
 * machine on the slow entry path while enabled, so it overstates).
 *
 * Four sides, each a window of EVENTS events on one pinned CPU:
 *   none      nothing open (the events closed, as with the daemon stopped)
 *   counter   one counter: what iommu:map carries
 *   filtered  a counter and a filtered ring that rejects every event:
 *             what iommu:unmap carries
 *   record    a ring recording every event, drained every 256 events by
 *             perf_sampler_drain() with a callback reading two fields: what
 *             qi_submit carries per invalidation, the daemon's parse included
 * and two ways of counting the dma:* unmap events per managed group (issue
 * 12; the events carry the device name, here the task_rename's newcomm, a
 * string field as dma:*'s device is):
 *   per-device  N counters with a kernel-side filter on the name, one per
 *               group ("newcomm == \"...\""), each event matching exactly
 *               one of them (two names alternate): the kernel runs every
 *               filter on every event
 *   stream      one ring recording every event, unfiltered, drained every
 *               256 events with the daemon's callback for dma:* records
 *               (the name read, looked up in a table of N names: the
 *               matching ones last, the worst case)
 * Rounds rotate the order of the sides; a side's cost is its window minus
 * the same round's "none" window, in this thread's CPU time per event
 * (CLOCK_THREAD_CPUTIME_ID: the kernel's work for the event runs in the
 * thread that fires it, and a preempted thread's clock stops). The median
 * and the 10th and 90th percentiles over the rounds are printed, then the
 * cost per unmap (a map and an unmap each, plus one invalidation record in
 * strict mode) as the share of one CPU at 1 M unmaps/s and at 100 Gbit/s.
 *
 * Usage: bench-sampling [ROUNDS [EVENTS [task:task_rename|syscalls:sys_enter_getppid [GROUPS]]]]
 * (default 31 rounds of 100000 events, 16 groups; the per-device and
 * stream sides need task:task_rename's name field). Needs root (perf on tracepoints
 * for all tasks); mounts tracefs at /sys/kernel/tracing when it is not.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "flush-sampler.h"
#include "perf-tracepoint.h"
#include "util.h"

enum { SIDE_NONE, SIDE_COUNTER, SIDE_FILTERED, SIDE_RECORD, SIDE_PER_DEVICE, SIDE_STREAM, N_SIDES };
static const char *const side_name[N_SIDES] = { "none", "counter", "filtered", "record", "per-device", "stream" };

#define GROUPS_MAX 256
#define NAME_A "bench-sampl-a"
#define NAME_B "bench-sampl-b"

typedef struct Bench {
        int sysfs_fd;
        const char *system, *event, *filter;
        const char *field_a, *field_b; /* read from each record, as on_qi() reads its fields */
        bool rename;                   /* task_rename: prctl; else getppid */
        PerfCounter *counter;
        PerfSampler *ring;
        const TraceField *fa, *fb;
        uint64_t sum, lost, records;
        uint64_t drain_ns;             /* thread CPU time in drain(), all windows */
        /* The per-device and stream sides. */
        unsigned n_groups;
        bool stream;                   /* the ring is the stream side's */
        PerfCounter *per_device[GROUPS_MAX];
        const TraceField *fname;
        char names[GROUPS_MAX][16];    /* the groups' names: NAME_A and NAME_B last */
        uint64_t name_counts[GROUPS_MAX];
        uint64_t unknown_names;
        uint64_t stream_lost, stream_records, stream_drain_ns;
} Bench;

static uint64_t thread_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void fire(const Bench *b, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (b->rename)
                        (void) prctl(PR_SET_NAME, i & 1 ? "bench-sampl-a" : "bench-sampl-b", 0, 0, 0);
                else
                        (void) syscall(SYS_getppid);
}

static int on_record(const PerfSample *p, void *userdata) {
        Bench *b = userdata;
        uint64_t a = 0, c = 0;

        (void) trace_field_u64(b->fa, p->raw, p->raw_size, &a);
        (void) trace_field_u64(b->fb, p->raw, p->raw_size, &c);
        b->sum += a + c;
        return 0;
}

/* As flush-sampler.c's on_dma_unmap(): the name read, found in the table. */
static int on_named_record(const PerfSample *p, void *userdata) {
        Bench *b = userdata;
        char name[32];

        if (trace_field_string(b->fname, p->raw, p->raw_size, name, sizeof(name)) < 0)
                return 0;
        for (unsigned i = 0; i < b->n_groups; i++)
                if (streq(b->names[i], name)) {
                        b->name_counts[i]++;
                        return 0;
                }
        b->unknown_names++;
        return 0;
}

static void drain(Bench *b) {
        PerfRingStats st = {};
        uint64_t t0 = thread_ns();

        (void) perf_sampler_drain(b->ring, b->stream ? on_named_record : on_record, b, &st);
        if (b->stream) {
                b->stream_drain_ns += thread_ns() - t0;
                b->stream_lost += st.lost;
                b->stream_records += st.samples;
                return;
        }
        b->drain_ns += thread_ns() - t0;
        b->lost += st.lost;
        b->records += st.samples;
}

static int side_open(Bench *b, int side) {
        _cleanup_free_ char *why = NULL;
        int r = 0;

        if (side == SIDE_COUNTER || side == SIDE_FILTERED) {
                r = tracepoint_counter_open(b->sysfs_fd, NULL, b->system, b->event, NULL, &b->counter, &why);
                if (r >= 0)
                        r = perf_counter_enable(b->counter);
        }
        if (r >= 0 && (side == SIDE_FILTERED || side == SIDE_RECORD)) {
                PerfSamplerOptions o = {
                        .ring_pages_total = side == SIDE_FILTERED ? FLUSH_SAMPLER_UNMAP_RING_PAGES
                                                                  : FLUSH_SAMPLER_QI_RING_PAGES,
                        .filter = side == SIDE_FILTERED ? b->filter : NULL,
                };

                free(why);
                why = NULL;
                r = tracepoint_sampler_open(b->sysfs_fd, NULL, b->system, b->event, &o, &b->ring, &why);
                if (r >= 0) {
                        b->fa = trace_format_field(perf_sampler_format(b->ring), b->field_a);
                        b->fb = trace_format_field(perf_sampler_format(b->ring), b->field_b);
                        r = perf_sampler_enable(b->ring);
                }
        }
        for (unsigned i = 0; r >= 0 && side == SIDE_PER_DEVICE && i < b->n_groups; i++) {
                char filter[64];

                snprintf(filter, sizeof(filter), "newcomm == \"%s\"", b->names[i]);
                free(why);
                why = NULL;
                r = tracepoint_counter_open(b->sysfs_fd, NULL, b->system, b->event, filter, &b->per_device[i], &why);
                if (r >= 0)
                        r = perf_counter_enable(b->per_device[i]);
        }
        if (r >= 0 && side == SIDE_STREAM) {
                PerfSamplerOptions o = { .ring_pages_total = FLUSH_SAMPLER_DMA_BUSY_RING_PAGES };

                free(why);
                why = NULL;
                r = tracepoint_sampler_open(b->sysfs_fd, NULL, b->system, b->event, &o, &b->ring, &why);
                if (r >= 0) {
                        b->stream = true;
                        b->fname = trace_format_field(perf_sampler_format(b->ring), "newcomm");
                        r = b->fname ? perf_sampler_enable(b->ring) : -EINVAL;
                }
        }
        if (r < 0)
                fprintf(stderr, "bench-sampling: %s on %s:%s: %s\n", side_name[side], b->system, b->event,
                        why ? why : strerror(-r));
        return r;
}

/* The per-device counters' total, read before they close. */
static uint64_t per_device_total(const Bench *b) {
        uint64_t total = 0;

        for (unsigned i = 0; i < b->n_groups; i++) {
                uint64_t v = 0;

                if (b->per_device[i] && perf_counter_read(b->per_device[i], &v) >= 0)
                        total += v;
        }
        return total;
}

static void side_close(Bench *b) {
        b->counter = perf_counter_free(b->counter);
        b->ring = perf_sampler_free(b->ring);
        b->stream = false;
        for (unsigned i = 0; i < b->n_groups; i++)
                b->per_device[i] = perf_counter_free(b->per_device[i]);
}

/* One window: thread CPU ns per event. */
static double window(Bench *b, unsigned events) {
        const unsigned batch = 256;
        uint64_t t0;

        fire(b, 1000); /* warm up (an even number: NAME_A and NAME_B as often) */
        if (b->ring)
                drain(b);
        t0 = thread_ns();
        for (unsigned done = 0; done < events; done += batch) {
                fire(b, batch);
                if (b->ring)
                        drain(b);
        }
        return (double) (thread_ns() - t0) / events;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* The p-th percentile (0..1) of n sorted values, interpolated. */
static double pct(const double *v, size_t n, double p) {
        double pos = p * (double) (n - 1);
        size_t i = (size_t) pos;

        return i + 1 < n ? v[i] + (pos - (double) i) * (v[i + 1] - v[i]) : v[n - 1];
}

int main(int argc, char *argv[]) {
        unsigned rounds = argc > 1 ? (unsigned) atoi(argv[1]) : 31;
        unsigned events = argc > 2 ? (unsigned) atoi(argv[2]) : 100000;
        const char *tp = argc > 3 ? argv[3] : "task:task_rename";
        unsigned n_groups = argc > 4 ? (unsigned) atoi(argv[4]) : 16;
        uint64_t fired = 0, per_device_counted = 0, stream_counted = 0;
        size_t stream_ring_bytes = 0, n_cpus = 0;
        int n_sides = N_SIDES;
        Bench b = {};
        double *t[N_SIDES], med[N_SIDES], lo[N_SIDES], hi[N_SIDES];
        cpu_set_t set;

        if (rounds < 3 || events < 1000 || n_groups < 2 || n_groups > GROUPS_MAX) {
                fprintf(stderr, "usage: bench-sampling [ROUNDS>=3 [EVENTS>=1000 [TRACEPOINT [GROUPS 2..%d]]]]\n",
                        GROUPS_MAX);
                return 2;
        }
        if (streq(tp, "task:task_rename")) {
                b = (Bench) { .system = "task", .event = "task_rename", .rename = true,
                              .filter = "oom_score_adj > 1000", .field_a = "pid", .field_b = "oom_score_adj" };
        } else if (streq(tp, "syscalls:sys_enter_getppid")) {
                b = (Bench) { .system = "syscalls", .event = "sys_enter_getppid",
                              .filter = "__syscall_nr < 0", .field_a = "__syscall_nr", .field_b = "common_pid" };
        } else {
                fprintf(stderr, "bench-sampling: tracepoint %s: only task:task_rename or "
                                "syscalls:sys_enter_getppid (the events this program can fire)\n", tp);
                return 2;
        }
        /* The per-device and stream sides filter and read a name. */
        if (!b.rename)
                n_sides = SIDE_PER_DEVICE;
        b.n_groups = n_groups;
        for (unsigned i = 0; i < n_groups; i++)
                snprintf(b.names[i], sizeof(b.names[i]), "%s",
                         i == n_groups - 2 ? NAME_A : i == n_groups - 1 ? NAME_B : "bench-dev-xx");
        for (unsigned i = 0; i + 2 < n_groups; i++)
                snprintf(b.names[i], sizeof(b.names[i]), "bench-dev-%03u", i);
        if ((b.sysfs_fd = open("/sys", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                perror("bench-sampling: /sys");
                return 1;
        }
        if (!tracefs_find(b.sysfs_fd) && mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) < 0) {
                perror("bench-sampling: tracefs is not mounted and mounting it failed");
                return 1;
        }
        /* One CPU: the events land in one ring, and the thread's clock is
         * not mixed with a migration. */
        CPU_ZERO(&set);
        CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &set);
        (void) sched_setaffinity(0, sizeof(set), &set);
        for (int s = 0; s < N_SIDES; s++)
                if (!(t[s] = calloc(rounds, sizeof(double))))
                        return 1;
        /* Each side once before the rounds: an error shows now, not later. */
        for (int s = 1; s < n_sides; s++) {
                if (side_open(&b, s) < 0)
                        return 1;
                if (s == SIDE_RECORD)
                        printf("ring of the record side: %zu KiB mapped over %zu CPUs\n",
                               perf_sampler_ring_bytes(b.ring) / 1024, perf_sampler_n_fds(b.ring));
                if (s == SIDE_STREAM) {
                        stream_ring_bytes = perf_sampler_ring_bytes(b.ring);
                        n_cpus = perf_sampler_n_fds(b.ring);
                }
                side_close(&b);
        }
        printf("%s:%s, %u rounds of %u events per side, sides rotated, CPU %d\n", b.system, b.event, rounds,
               events, sched_getcpu());
        for (unsigned r = 0; r < rounds; r++) {
                double none = 0;

                for (int k = 0; k < n_sides; k++) {
                        int s = (int) ((k + r) % (unsigned) n_sides);

                        if (s != SIDE_NONE && side_open(&b, s) < 0)
                                return 1;
                        t[s][r] = window(&b, events);
                        if (s == SIDE_PER_DEVICE)
                                per_device_counted += per_device_total(&b);
                        side_close(&b);
                }
                fired += 1000 + (events + 255) / 256 * 256;
                none = t[SIDE_NONE][r];
                for (int s = 1; s < n_sides; s++)
                        t[s][r] -= none;
        }
        for (unsigned i = 0; i < n_groups; i++)
                stream_counted += b.name_counts[i];
        for (int s = 0; s < n_sides; s++) {
                qsort(t[s], rounds, sizeof(double), cmp_double);
                med[s] = pct(t[s], rounds, 0.5);
                lo[s] = pct(t[s], rounds, 0.1);
                hi[s] = pct(t[s], rounds, 0.9);
                printf("%-9s %s %7.1f ns per event (10th-90th percentile %.1f to %.1f)\n", side_name[s],
                       s == SIDE_NONE ? "takes" : "adds ", med[s], lo[s], hi[s]);
        }
        printf("records drained %" PRIu64 ", lost %" PRIu64 "; the daemon's side of it (perf_sampler_drain and "
               "the field reads) %.1f ns per record, the rest is the kernel's\n",
               b.records, b.lost, b.records ? (double) b.drain_ns / (double) b.records : 0.0);

        /* Per unmap: the map's counter, the unmap's counter and filter, and
         * in strict mode about one invalidation record (page-selective, one
         * per unmap; lazy mode's flush queue flushes a domain at most every
         * 255 unmaps per CPU, so its records are negligible). */
        double lazy = med[SIDE_COUNTER] + med[SIDE_FILTERED];
        double strict = lazy + med[SIDE_RECORD];
        double lazy_hi = hi[SIDE_COUNTER] + hi[SIDE_FILTERED], strict_hi = lazy_hi + hi[SIDE_RECORD];
        /* 100 Gbit/s of 1500-byte frames: 1538 bytes on the wire each
         * (preamble, header, FCS, gap), one buffer unmapped per frame when
         * the driver does not keep its buffers mapped (no page pool). */
        double nic = 100e9 / (1538 * 8);
        /* The seed's iperf send: 64 KiB TSO sends, each a head and two
         * 32 KiB page fragments, three unmaps. */
        double tso = 100e9 / 8 / 65536 * 3;

        printf("per unmap: lazy %.1f ns (90th pct %.1f), strict %.1f ns (90th pct %.1f)\n", lazy, lazy_hi,
               strict, strict_hi);
        printf("share of one CPU at 1 M unmaps/s: lazy %.2f %%, strict %.2f %% (90th pct %.2f %% and %.2f %%)\n",
               lazy * 1e6 / 1e9 * 100, strict * 1e6 / 1e9 * 100, lazy_hi * 1e6 / 1e9 * 100,
               strict_hi * 1e6 / 1e9 * 100);
        printf("share of one CPU at 100 Gbit/s of 1500-byte frames (%.2f M unmaps/s): lazy %.1f %%, strict %.1f %%\n",
               nic / 1e6, lazy * nic / 1e9 * 100, strict * nic / 1e9 * 100);
        printf("share of one CPU at 100 Gbit/s of 64 KiB TSO sends (%.2f M unmaps/s): lazy %.1f %%, strict %.1f %%\n",
               tso / 1e6, lazy * tso / 1e9 * 100, strict * tso / 1e9 * 100);
        if (n_sides == N_SIDES) {
                /* The comparison: per-group counts of a busy dma:*
                 * event by N kernel-side filters, or by one record stream. */
                printf("per group, %u groups: per-device filters %.1f ns per event (10th-90th %.1f to %.1f), "
                       "%u counter fds per CPU and busy event, no ring; one stream %.1f ns per event "
                       "(10th-90th %.1f to %.1f), 1 ring fd per CPU and busy event, %zu KiB of ring per CPU; "
                       "filters / stream %.2f\n",
                       n_groups, med[SIDE_PER_DEVICE], lo[SIDE_PER_DEVICE], hi[SIDE_PER_DEVICE], n_groups,
                       med[SIDE_STREAM], lo[SIDE_STREAM], hi[SIDE_STREAM],
                       n_cpus ? stream_ring_bytes / n_cpus / 1024 : 0,
                       med[SIDE_STREAM] > 0 ? med[SIDE_PER_DEVICE] / med[SIDE_STREAM] : 0.0);
                printf("against today's counter (on iommu:map, %.1f ns): per-device filters %.2f, stream %.2f\n",
                       med[SIDE_COUNTER], med[SIDE_COUNTER] > 0 ? med[SIDE_PER_DEVICE] / med[SIDE_COUNTER] : 0.0,
                       med[SIDE_COUNTER] > 0 ? med[SIDE_STREAM] / med[SIDE_COUNTER] : 0.0);
                printf("counted: per-device filters %" PRIu64 ", stream %" PRIu64 " (+%" PRIu64
                       " other names, %" PRIu64 " lost), of %" PRIu64 " events fired per side; the stream's "
                       "drain and name lookup %.1f ns per record\n",
                       per_device_counted, stream_counted, b.unknown_names, b.stream_lost, fired,
                       b.stream_records ? (double) b.stream_drain_ns / (double) b.stream_records : 0.0);
        }
        for (int s = 0; s < N_SIDES; s++)
                free(t[s]);
        close(b.sysfs_fd);
        return 0;
}
