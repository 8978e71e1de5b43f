/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Counting and sampling kernel tracepoints with perf_event_open(2).
 *
 * A tracepoint is PERF_TYPE_TRACEPOINT with config = the event's id, read
 * from <tracefs>/events/<system>/<event>/id. tracefs is found under the
 * sysfs root (kernel/tracing, or kernel/debug/tracing on old setups), so a
 * test can point the root at a fixture tree. Events are opened once per
 * online CPU (devices/system/cpu/online), for all tasks (pid -1): that needs
 * root or CAP_PERFMON (and CAP_SYS_ADMIN for tracepoints before 5.8).
 *
 * Counters (PerfCounter) count events; perf_counter_read() sums the CPUs.
 * Samplers (PerfSampler) record every event (sample_period 1) with
 * PERF_SAMPLER_SAMPLE_TYPE into a ring buffer per CPU, mmap'd writable so
 * the kernel never overwrites unread data: when a ring is full the kernel
 * drops records and later writes a PERF_RECORD_LOST saying how many; drain
 * reports them. The daemon drains each tick, or when a ring fd polls
 * readable (wakeup_bytes waiting). Both start disabled: enable them.
 *
 * A kernel-side filter (PERF_EVENT_IOC_SET_FILTER, the ftrace filter
 * syntax, "size >= 0x201000") limits what a tracepoint counts or records.
 *
 * CPUs: the fds are opened for the CPUs online at open time; a CPU that goes
 * offline just stops counting, one that comes online is not counted until
 * the event is opened again.
 *
 * Every function returns 0 (or a count) or -errno. Those that can fail for
 * reasons an operator must see also return a reason string (heap, freed by
 * the caller) when ret_reason is not NULL:
 *   -ENOENT      tracefs not mounted, no such tracepoint in this kernel
 *   -EACCES      not root / no CAP_PERFMON, or tracefs not readable
 *   -EOPNOTSUPP  no perf events in this kernel, or not for this event
 *   -EINVAL      the kernel rejected the event or the filter
 *   -ENODEV      none of the CPUs could be opened
 *
 * The perf_counter_open() and perf_sampler_open() variants take any event
 * type and config (used by the tests with software events).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perf-record.h"

#define PERF_SAMPLER_SAMPLE_TYPE (PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_RAW)

/* Parses a CPU list ("0-3,8,10-11", as devices/system/cpu/online reads).
 * Returns 0 and a sorted array of CPU numbers (caller frees), -EBADMSG or
 * -ENOMEM. */
int cpulist_parse(const char *s, unsigned **ret, size_t *ret_n);
/* Reads devices/system/cpu/online under the sysfs root. */
int perf_online_cpus(int sysfs_fd, unsigned **ret, size_t *ret_n);

/* The tracefs path relative to the sysfs root ("kernel/tracing" or
 * "kernel/debug/tracing"): the first that holds an events directory. NULL
 * when tracefs is not mounted. */
const char *tracefs_find(int sysfs_fd);
/* The id and the format of a tracepoint. tracefs NULL: tracefs_find(). */
int tracepoint_id(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                  uint64_t *ret, char **ret_reason);
int tracepoint_format(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                      TraceFormat *ret, char **ret_reason);

/* ---- counting ---------------------------------------------------------- */

typedef struct PerfCounter PerfCounter;

/* Opens a counter for a tracepoint on every online CPU, with filter (NULL
 * for none). */
int tracepoint_counter_open(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                            const char *filter, PerfCounter **ret, char **ret_reason);
/* Opens a counter for any event on the given CPUs; what names it in
 * reasons. */
int perf_counter_open(uint32_t type, uint64_t config, const unsigned *cpus, size_t n_cpus,
                      const char *what, PerfCounter **ret, char **ret_reason);
int perf_counter_set_filter(PerfCounter *c, const char *filter, char **ret_reason);
int perf_counter_enable(PerfCounter *c);
int perf_counter_disable(PerfCounter *c);
int perf_counter_reset(PerfCounter *c);
/* The count summed over the CPUs since open (or the last reset). */
int perf_counter_read(PerfCounter *c, uint64_t *ret);
size_t perf_counter_n_cpus(const PerfCounter *c);
PerfCounter *perf_counter_free(PerfCounter *c);
static inline void perf_counter_freep(PerfCounter **c) {
        perf_counter_free(*c);
}

/* ---- sampling ---------------------------------------------------------- */

typedef struct PerfSamplerOptions {
        unsigned ring_pages;         /* data pages per CPU, a power of two; 0: ring_pages_total */
        unsigned ring_pages_total;   /* 0: 64 per CPU; else split over the CPUs (perf_ring_pages_per_cpu) */
        uint32_t wakeup_bytes;       /* a ring fd polls readable with this much data; 0: 1/4 ring */
        uint64_t sample_period;      /* 0: 1, every event */
        const char *filter;          /* NULL: none */
} PerfSamplerOptions;

typedef struct PerfSampler PerfSampler;

#define PERF_RING_PAGES_MIN 4
/* The data pages per CPU of a ring whose size is set for the whole machine
 * (the rate an event can reach is the machine's, not each CPU's): total /
 * n_cpus rounded down to a power of two, at least PERF_RING_PAGES_MIN, at
 * most total (one CPU). total a power of two. */
unsigned perf_ring_pages_per_cpu(unsigned total, size_t n_cpus);

/* Opens a sampler for a tracepoint on every online CPU. The event's format
 * (perf_sampler_format()) gives the raw field offsets. opts may be NULL. */
int tracepoint_sampler_open(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                            const PerfSamplerOptions *opts, PerfSampler **ret, char **ret_reason);
int perf_sampler_open(uint32_t type, uint64_t config, const unsigned *cpus, size_t n_cpus,
                      const PerfSamplerOptions *opts, const char *what, PerfSampler **ret,
                      char **ret_reason);
/* NULL for a sampler opened with perf_sampler_open(). */
const TraceFormat *perf_sampler_format(const PerfSampler *s);
size_t perf_sampler_n_fds(const PerfSampler *s);
/* Bytes mmap'd for the rings, all CPUs (data pages plus each ring's
 * header page): what the kernel pins for this sampler. */
size_t perf_sampler_ring_bytes(const PerfSampler *s);
/* The ring fd of the i-th CPU, to watch for EPOLLIN. */
int perf_sampler_fd(const PerfSampler *s, size_t i);
int perf_sampler_enable(PerfSampler *s);
int perf_sampler_disable(PerfSampler *s);
int perf_sampler_set_filter(PerfSampler *s, const char *filter, char **ret_reason);
/* Parses everything waiting in every ring, calling fn per sample, adding to
 * *stats and freeing the space. Returns the samples seen. If fn stops the
 * walk, the rest stays in the rings for the next drain. */
int perf_sampler_drain(PerfSampler *s, PerfSampleFn fn, void *userdata, PerfRingStats *stats);
PerfSampler *perf_sampler_free(PerfSampler *s);
static inline void perf_sampler_freep(PerfSampler **s) {
        perf_sampler_free(*s);
}
