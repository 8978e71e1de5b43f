/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A test double for the perf half of perf-tracepoint.h, linked in its
 * place: the kernel side of perf (perf_event_open, the counters, the ring
 * buffers and the kernel-side filter) played by the test, so that code
 * built on perf (the flush sampler) runs on synthetic events.
 *
 * What stays real: the tracepoints' format files are read from the tree
 * sysfs_fd points at (a captured fixture), parsed by trace_format_parse();
 * the records are written into a byte ring in the kernel's layout
 * (PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_RAW, PERF_RECORD_LOST)
 * and read back by perf_ring_parse(). What is played: a counter counts the
 * events emitted since it was enabled; a filter "FIELD >= VALUE" (the only
 * form the flush sampler sets) drops the records below it, as the kernel
 * does before writing them; every event has FAKE_PERF_CPUS CPUs.
 *
 * Events are named "system:event". One global table: one test at a time.
 */

#include <stddef.h>
#include <stdint.h>

#include "perf-record.h"

#define FAKE_PERF_CPUS 2

/* Opening this event (counter or sampler) fails with -error from now on. */
void fake_perf_fail_open(const char *event, int error);
/* The format of an open sampler of event, NULL when none is open. */
const TraceFormat *fake_perf_format(const char *event);
/* The filter set on an open sampler of event, NULL when none. */
const char *fake_perf_filter(const char *event);
/* Fires event once: every enabled counter of it counts one, and every
 * enabled sampler whose filter passes gets the record (raw, raw_size bytes,
 * on cpu at time). */
void fake_perf_emit(const char *event, unsigned cpu, uint64_t time, const void *raw, size_t raw_size);
/* The kernel could not write n records of event's sampler: a
 * PERF_RECORD_LOST follows in its ring. */
void fake_perf_lose(const char *event, uint64_t n);
/* Closes everything and forgets the failures. */
void fake_perf_reset(void);

/* Building raw records for a format: an integer field, and a string field
 * (__data_loc char[]) whose bytes go at *end, which moves past them.
 * *end starts at fake_raw_fixed_size(). */
size_t fake_raw_fixed_size(const TraceFormat *f);
void fake_raw_set_u64(const TraceFormat *f, uint8_t *raw, const char *field, uint64_t v);
void fake_raw_set_str(const TraceFormat *f, uint8_t *raw, size_t *end, const char *field, const char *s);
