/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Pure parsers for perf tracepoint sampling: the tracefs `format` file of an
 * event, the raw fields of one tracepoint record, and the records of a perf
 * ring buffer. No I/O, no allocation in the ring and field parsers, no
 * global state: each is a function over a byte buffer, to be fuzzed.
 *
 * Format file (kernel/trace/trace_events.c, f_show()): "name: <event>",
 * "ID: <id>", "format:", then one line per field
 *
 *     field:<type> <name>;	offset:<n>;	size:<n>;	signed:<0|1>;
 *
 * starting with the common_* fields, e.g. for intel_iommu:qi_submit on 6.1
 * "field:u64 qw0; offset:8; size:8; signed:0;" and
 * "field:__data_loc char[] iommu; offset:40; size:4; signed:1;", and
 * iommu:unmap "field:u64 iova; offset:8;", "field:size_t size; offset:16;".
 * A __data_loc field is a u32 holding (length << 16 | offset) of the data
 * within the record; __rel_loc (v5.19+) counts the offset from the end of
 * the field.
 *
 * Ring records (include/uapi/linux/perf_event.h): a perf_event_header
 * {u32 type; u16 misc; u16 size;} then the body. PERF_RECORD_SAMPLE bodies
 * hold, in this order and only when their bit is in sample_type:
 * IDENTIFIER, IP, TID (u32 pid, tid), TIME, ADDR, ID, STREAM_ID, CPU (u32
 * cpu, res), PERIOD, ..., RAW (u32 size, then size bytes: the tracepoint
 * record, padded so the record stays 8-byte aligned). PERF_RECORD_LOST is
 * {u64 id; u64 lost;}: lost records the kernel could not write because the
 * ring was full.
 */

#include <linux/perf_event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct TraceField {
        char *name;
        char *type;            /* "u64", "size_t", "__data_loc char[]", "char" (of char comm[16]) */
        unsigned offset, size;
        bool is_signed;
        bool data_loc;         /* __data_loc: u32 (len << 16 | offset) */
        bool rel_loc;          /* __rel_loc: offset counted from the end of the field */
        unsigned array_len;    /* "char comm[16]": 16; 0 for a scalar */
} TraceField;

typedef struct TraceFormat {
        char *name;            /* the event name */
        uint64_t id;           /* 0 when the text has no ID line */
        TraceField *fields;
        size_t n_fields;
} TraceFormat;

/* Parses a format file. Returns 0, -EBADMSG when a field line is garbled or
 * there are no fields, or -ENOMEM. ret is zeroed on failure. */
int trace_format_parse(const char *text, TraceFormat *ret);
void trace_format_done(TraceFormat *f);
const TraceField *trace_format_field(const TraceFormat *f, const char *name);

/* Reads an integer field (size 1, 2, 4 or 8; signed ones sign-extended)
 * from a raw tracepoint record. -EINVAL for a field that is no integer,
 * -EBADMSG when the field lies outside raw. */
int trace_field_u64(const TraceField *f, const void *raw, size_t raw_size, uint64_t *ret);
/* Copies a string field (__data_loc/__rel_loc char[], or a char array) into
 * buf, NUL-terminated. Returns the length, -ENOBUFS when it does not fit
 * (buf then holds a truncated copy), -EBADMSG when the data lies outside
 * raw, -EINVAL for a field that is no string. */
int trace_field_string(const TraceField *f, const void *raw, size_t raw_size, char *buf,
                       size_t size);

/* The sample_type bits perf_ring_parse() understands. */
#define PERF_RING_SAMPLE_TYPES                                                        \
        (PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | \
         PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU |  \
         PERF_SAMPLE_PERIOD | PERF_SAMPLE_RAW)

/* The largest record: perf_event_header.size is 16 bits. */
#define PERF_RECORD_MAX_SIZE 65536u

typedef struct PerfSample {
        uint64_t id, ip, time, addr, stream_id, period;
        uint32_t pid, tid, cpu;
        const uint8_t *raw;    /* the tracepoint record; valid during the callback only */
        uint32_t raw_size;
} PerfSample;

typedef struct PerfRingStats {
        uint64_t samples;      /* PERF_RECORD_SAMPLE passed to the callback */
        uint64_t lost_records; /* PERF_RECORD_LOST records seen */
        uint64_t lost;         /* samples the kernel reported lost in them */
        uint64_t other;        /* records of other types (throttle, ...), skipped */
        uint64_t truncated;    /* a record running past head: the rest dropped */
        uint64_t overruns;     /* head more than the ring's size past tail: records overwritten before
                                * they were read, how many unknown; skipped to head */
        uint64_t malformed;    /* bad header or sample body */
        uint64_t bytes;        /* bytes consumed */
} PerfRingStats;

/* Called per sample; a negative return stops the walk after this record. */
typedef int (*PerfSampleFn)(const PerfSample *s, void *userdata);

/* Parses the records between tail and head of a ring's data area (data,
 * data_size bytes, a power of two; tail and head are the free-running
 * positions of perf_event_mmap_page). Records that wrap around the end are
 * copied into scratch (PERF_RECORD_MAX_SIZE bytes). Adds to *stats and
 * returns the new tail: head, unless the callback stopped early. Unusable
 * input (head - tail beyond data_size: an overrun; a header smaller than
 * itself, a record past head) is counted and skipped to head: a ring
 * cannot be resynchronised inside. */
uint64_t perf_ring_parse(const uint8_t *data, size_t data_size, uint64_t tail, uint64_t head,
                         uint64_t sample_type, uint8_t *scratch, PerfSampleFn fn, void *userdata,
                         PerfRingStats *stats);

/* Parses one PERF_RECORD_SAMPLE body (after the header). 0 or -EBADMSG. */
int perf_sample_parse(const uint8_t *body, size_t size, uint64_t sample_type, PerfSample *ret);
