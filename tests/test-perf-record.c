/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pure perf parsers: tracefs format files (the ones captured from 6.1 in
 * tests/fixtures/qemu-vtd, and synthetic ones), raw tracepoint fields, and
 * perf ring buffers built here byte by byte, with records wrapping around
 * the end of the ring, PERF_RECORD_LOST, and truncated and garbled records.
 */
#include <errno.h>
#include <stdlib.h>

#include "perf-record.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static int load_format(const char *event, TraceFormat *f) {
        char path[1024];
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        snprintf(path, sizeof(path), "%s/qemu-vtd/sys/kernel/tracing/events", fixtures_dir());
        fd = sysfs_open_root(path);
        snprintf(path, sizeof(path), "%s/format", event);
        r = fd < 0 ? fd : sysfs_read_file(fd, path, 65536, &text);
        if (r < 0)
                return r;
        return trace_format_parse(text, f);
}

static uint64_t event_id(const char *event) {
        char path[1024];
        _cleanup_close_ int fd = -EBADF;
        uint64_t id = 0;

        snprintf(path, sizeof(path), "%s/qemu-vtd/sys/kernel/tracing/events", fixtures_dir());
        fd = sysfs_open_root(path);
        snprintf(path, sizeof(path), "%s/id", event);
        if (fd < 0 || sysfs_read_u64(fd, path, &id) < 0)
                return UINT64_MAX;
        return id;
}

static void test_captured_formats(void) {
        TraceFormat f;
        const TraceField *x;

        CHECK_INT(load_format("intel_iommu/qi_submit", &f), 0, "qi_submit format");
        CHECK_STR(f.name, "qi_submit", "name");
        CHECK(f.id > 0 && f.id == event_id("intel_iommu/qi_submit"), "ID line matches the id file");
        CHECK_INT(f.n_fields, 9, "4 common + qw0..qw3 + iommu");
        x = trace_format_field(&f, "qw1");
        CHECK(x && x->offset == 16 && x->size == 8 && !x->is_signed && streq(x->type, "u64"),
              "qw1: u64 at 16");
        x = trace_format_field(&f, "iommu");
        CHECK(x && x->data_loc && x->offset == 40 && x->size == 4 &&
                      streq(x->type, "__data_loc char[]"),
              "iommu: __data_loc at 40");
        x = trace_format_field(&f, "common_pid");
        CHECK(x && x->is_signed && x->offset == 4 && streq(x->type, "int"), "common_pid");
        CHECK(trace_format_field(&f, "qw4") == NULL, "no qw4");
        trace_format_done(&f);

        CHECK_INT(load_format("iommu/unmap", &f), 0, "unmap format");
        CHECK(f.id > 0 && f.id == event_id("iommu/unmap"), "unmap ID matches the id file");
        x = trace_format_field(&f, "iova");
        CHECK(x && x->offset == 8 && x->size == 8, "iova at 8");
        x = trace_format_field(&f, "size");
        CHECK(x && x->offset == 16 && streq(x->type, "size_t"), "size at 16");
        x = trace_format_field(&f, "unmapped_size");
        CHECK(x && x->offset == 24, "unmapped_size at 24");
        trace_format_done(&f);

        CHECK_INT(load_format("iommu/attach_device_to_domain", &f), 0, "attach format");
        x = trace_format_field(&f, "device");
        CHECK(x && x->data_loc, "attach: device is __data_loc");
        trace_format_done(&f);
        CHECK_INT(load_format("iommu/no_such_event", &f), -ENOENT, "missing event");
}

static void test_synthetic_formats(void) {
        TraceFormat f;
        const TraceField *x;

        CHECK_INT(trace_format_parse("name: sched_switch\n"
                                     "ID: 316\n"
                                     "format:\n"
                                     "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
                                     "\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
                                     "\tfield:s8 small;\toffset:24;\tsize:1;\tsigned:1;\n"
                                     "\tfield:short half;\toffset:26;\tsize:2;\tsigned:1;\n"
                                     "\tfield:long old;\toffset:32;\tsize:8;\n"
                                     "\tfield:__rel_loc char[] rel;\toffset:40;\tsize:4;\tsigned:1;\n"
                                     "\n"
                                     "print fmt: \"field:bogus; offset:1;\"\n",
                                     &f),
                  0, "synthetic format");
        CHECK(f.id == 316 && f.n_fields == 6, "6 fields; print fmt not read as a field");
        x = trace_format_field(&f, "prev_comm");
        CHECK(x && x->array_len == 16 && streq(x->type, "char") && x->size == 16, "char array");
        x = trace_format_field(&f, "old");
        CHECK(x && !x->is_signed && x->size == 8, "no signed: unsigned");
        x = trace_format_field(&f, "rel");
        CHECK(x && x->rel_loc && !x->data_loc, "__rel_loc");

        /* A raw record for it. */
        uint8_t raw[64] = {};
        uint64_t v;
        char buf[32];
        int16_t half = -3;
        uint32_t rel_loc = (5u << 16) | 0; /* 5 bytes right after the field (at 44) */

        memcpy(raw + 8, "kworker/0:1\0\0\0\0\0", 16);
        raw[24] = 0xfe; /* -2 */
        memcpy(raw + 26, &half, 2);
        memcpy(raw + 40, &rel_loc, 4);
        memcpy(raw + 44, "dmar1", 5);
        CHECK(trace_field_u64(trace_format_field(&f, "small"), raw, sizeof(raw), &v) == 0 &&
                      (int64_t) v == -2,
              "s8 sign-extended");
        CHECK(trace_field_u64(trace_format_field(&f, "half"), raw, sizeof(raw), &v) == 0 &&
                      (int64_t) v == -3,
              "short sign-extended");
        CHECK_INT(trace_field_string(trace_format_field(&f, "prev_comm"), raw, sizeof(raw), buf,
                                     sizeof(buf)),
                  11, "char array string");
        CHECK_STR(buf, "kworker/0:1", "comm");
        CHECK_INT(trace_field_string(trace_format_field(&f, "rel"), raw, sizeof(raw), buf, sizeof(buf)),
                  5, "rel_loc string");
        CHECK_STR(buf, "dmar1", "rel_loc text");
        CHECK_INT(trace_field_string(trace_format_field(&f, "rel"), raw, sizeof(raw), buf, 4),
                  -ENOBUFS, "small buffer");
        CHECK_STR(buf, "dma", "truncated copy");
        CHECK_INT(trace_field_u64(trace_format_field(&f, "prev_comm"), raw, sizeof(raw), &v), -EINVAL,
                  "array is no integer");
        CHECK_INT(trace_field_string(trace_format_field(&f, "old"), raw, sizeof(raw), buf, sizeof(buf)),
                  -EINVAL, "integer is no string");
        CHECK_INT(trace_field_u64(trace_format_field(&f, "old"), raw, 39, &v), -EBADMSG,
                  "record too short");
        rel_loc = (30u << 16) | 0;
        memcpy(raw + 40, &rel_loc, 4);
        CHECK_INT(trace_field_string(trace_format_field(&f, "rel"), raw, sizeof(raw), buf, sizeof(buf)),
                  -EBADMSG, "data past the record");
        trace_format_done(&f);

        CHECK_INT(trace_format_parse("name: x\nID: 1\nformat:\n", &f), -EBADMSG, "no fields");
        CHECK_INT(trace_format_parse("\tfield:u64 a;\toffset:x;\tsize:8;\n", &f), -EBADMSG,
                  "bad offset");
        CHECK_INT(trace_format_parse("\tfield:u64 a;\tsize:8;\toffset:0;\n", &f), -EBADMSG,
                  "wrong order");
        CHECK_INT(trace_format_parse("\tfield:a;\toffset:0;\tsize:8;\n", &f), -EBADMSG, "no type");
        CHECK_INT(trace_format_parse("\tfield:u64 a\n", &f), -EBADMSG, "no semicolon");
        CHECK_INT(trace_format_parse("\tfield:char c[x];\toffset:0;\tsize:8;\n", &f), -EBADMSG,
                  "bad array length");
        CHECK_INT(trace_format_parse("\tfield:__data_loc char[] s;\toffset:0;\tsize:8;\n", &f),
                  -EBADMSG, "__data_loc of size 8");
        CHECK_INT(trace_format_parse("ID: many\n\tfield:u64 a;\toffset:0;\tsize:8;\n", &f), -EBADMSG,
                  "bad ID");
        CHECK(f.n_fields == 0 && f.fields == NULL, "zeroed on failure");
        CHECK_INT(trace_format_parse(NULL, &f), -EINVAL, "NULL text");
}

/* ---- rings ------------------------------------------------------------- */

#define RING 256
#define SAMPLE_TYPE (PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_RAW)

typedef struct Ring {
        uint8_t data[RING];
        uint64_t head;
} Ring;

static void ring_put(Ring *r, const void *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                r->data[(r->head + i) % RING] = ((const uint8_t *) p)[i];
        r->head += n;
}

/* A sample like a qi_submit record: 48 bytes of raw data whose qw0 is
 * `tag`; 8 + 8 + 8 + 4 + 48 = 76, padded to 80 (raw size 52). */
static void put_sample(Ring *r, uint64_t time, uint32_t cpu, uint64_t tag) {
        struct perf_event_header h = { .type = PERF_RECORD_SAMPLE, .size = 80 };
        uint32_t cpu_res[2] = { cpu, 0 }, raw_size = 52;
        uint8_t raw[52] = {};

        memcpy(raw + 8, &tag, 8);
        ring_put(r, &h, sizeof(h));
        ring_put(r, &time, 8);
        ring_put(r, cpu_res, 8);
        ring_put(r, &raw_size, 4);
        ring_put(r, raw, sizeof(raw));
}

static void put_lost(Ring *r, uint64_t lost) {
        struct perf_event_header h = { .type = PERF_RECORD_LOST, .size = 24 };
        uint64_t body[2] = { 0, lost };

        ring_put(r, &h, sizeof(h));
        ring_put(r, body, sizeof(body));
}

typedef struct Seen {
        unsigned n;
        uint64_t tags[16], times[16];
        uint32_t cpus[16];
        int stop_after;
} Seen;

static int on_sample(const PerfSample *s, void *userdata) {
        Seen *seen = userdata;
        uint64_t tag = 0;

        if (s->raw_size >= 16)
                memcpy(&tag, s->raw + 8, 8);
        if (seen->n < 16) {
                seen->tags[seen->n] = tag;
                seen->times[seen->n] = s->time;
                seen->cpus[seen->n] = s->cpu;
        }
        seen->n++;
        return seen->stop_after && (int) seen->n >= seen->stop_after ? -1 : 0;
}

static void test_ring(void) {
        static uint8_t scratch[PERF_RECORD_MAX_SIZE];
        PerfRingStats st = {};
        Seen seen = {};
        Ring r = {};
        uint64_t tail;

        /* Start near the end so the second sample wraps: 200 + 80 > 256. */
        r.head = 200;
        tail = r.head;
        put_lost(&r, 0); /* 24 bytes: 200..224 */
        put_sample(&r, 111, 1, 0x1000040031); /* 224..304: wraps */
        put_sample(&r, 222, 0, 0x2);          /* 304..384 */
        CHECK_U64(perf_ring_parse(r.data, RING, tail, r.head, SAMPLE_TYPE, scratch, on_sample, &seen, &st),
                  r.head, "consumed to head");
        CHECK_INT(seen.n, 2, "two samples");
        CHECK(seen.tags[0] == 0x1000040031 && seen.times[0] == 111 && seen.cpus[0] == 1,
              "wrapped sample read whole through scratch");
        CHECK(seen.tags[1] == 2 && seen.times[1] == 222, "second sample");
        CHECK(st.samples == 2 && st.lost_records == 1 && st.lost == 0 && st.bytes == 184,
              "stats: 2 samples, a LOST record of 0");

        /* The header itself wraps: start 4 bytes before the end. */
        memset(&st, 0, sizeof(st));
        memset(&seen, 0, sizeof(seen));
        r.head = 10 * RING - 4;
        tail = r.head;
        put_sample(&r, 333, 3, 0x33);
        put_lost(&r, 17);
        put_lost(&r, 5);
        put_sample(&r, 444, 2, 0x44);
        perf_ring_parse(r.data, RING, tail, r.head, SAMPLE_TYPE, scratch, on_sample, &seen, &st);
        CHECK(seen.n == 2 && seen.tags[0] == 0x33 && seen.tags[1] == 0x44, "header across the end");
        CHECK(st.lost_records == 2 && st.lost == 22, "lost records counted and summed");

        /* A record cut off by head. */
        memset(&st, 0, sizeof(st));
        memset(&seen, 0, sizeof(seen));
        r.head = 0;
        put_sample(&r, 1, 0, 0x1);
        put_sample(&r, 2, 0, 0x2);
        CHECK_U64(perf_ring_parse(r.data, RING, 0, r.head - 8, SAMPLE_TYPE, scratch, on_sample, &seen,
                                  &st),
                  r.head - 8, "truncated: still returns head");
        CHECK(seen.n == 1 && st.truncated == 1, "truncated record dropped, first kept");
        memset(&st, 0, sizeof(st));
        perf_ring_parse(r.data, RING, 0, 84, SAMPLE_TYPE, scratch, NULL, NULL, &st);
        CHECK(st.samples == 1 && st.truncated == 1, "a partial header is truncated too");

        /* Garbage: a header smaller than itself. */
        memset(&st, 0, sizeof(st));
        r.head = 0;
        struct perf_event_header bad = { .type = PERF_RECORD_SAMPLE, .size = 4 };
        ring_put(&r, &bad, sizeof(bad));
        put_sample(&r, 1, 0, 1);
        CHECK_U64(perf_ring_parse(r.data, RING, 0, r.head, SAMPLE_TYPE, scratch, NULL, NULL, &st),
                  r.head, "malformed: skipped to head");
        CHECK(st.malformed == 1 && st.samples == 0, "cannot resync after a bad header");

        /* A sample whose raw size runs past its record. */
        memset(&st, 0, sizeof(st));
        r.head = 0;
        struct perf_event_header h = { .type = PERF_RECORD_SAMPLE, .size = 32 };
        uint64_t t = 5, cpu = 0;
        uint32_t raw_size = 100, pad = 0;
        ring_put(&r, &h, sizeof(h));
        ring_put(&r, &t, 8);
        ring_put(&r, &cpu, 8);
        ring_put(&r, &raw_size, 4);
        ring_put(&r, &pad, 4);
        put_sample(&r, 6, 0, 6);
        put_lost(&r, 1);
        struct perf_event_header short_lost = { .type = PERF_RECORD_LOST, .size = 16 };
        ring_put(&r, &short_lost, sizeof(short_lost));
        ring_put(&r, &t, 8);
        struct perf_event_header throttle = { .type = PERF_RECORD_THROTTLE, .size = 8 };
        ring_put(&r, &throttle, sizeof(throttle));
        perf_ring_parse(r.data, RING, 0, r.head, SAMPLE_TYPE, scratch, NULL, NULL, &st);
        CHECK(st.malformed == 2 && st.samples == 1 && st.lost == 1 && st.other == 1,
              "bad raw size and short LOST are malformed, the rest parsed");

        /* Inconsistent positions and sizes. */
        memset(&st, 0, sizeof(st));
        CHECK_U64(perf_ring_parse(r.data, RING, 0, RING + 8, SAMPLE_TYPE, scratch, NULL, NULL, &st),
                  RING + 8, "head past tail + size");
        CHECK_INT(st.overruns, 1, "counted as an overrun (records overwritten unread)");
        CHECK_INT(st.malformed, 0, "an overrun is not malformed input");
        CHECK_U64(perf_ring_parse(r.data, 100, 0, 8, SAMPLE_TYPE, scratch, NULL, NULL, &st), 8,
                  "size not a power of two");
        CHECK_U64(perf_ring_parse(r.data, RING, 77, 77, SAMPLE_TYPE, scratch, NULL, NULL, &st), 77,
                  "empty ring");

        /* The callback stops the walk. */
        memset(&st, 0, sizeof(st));
        memset(&seen, 0, sizeof(seen));
        seen.stop_after = 1;
        r.head = 0;
        put_sample(&r, 1, 0, 1);
        put_sample(&r, 2, 0, 2);
        CHECK_U64(perf_ring_parse(r.data, RING, 0, r.head, SAMPLE_TYPE, scratch, on_sample, &seen, &st),
                  80, "stopped after the first record");

        /* Unsupported sample_type bits: samples are malformed. */
        memset(&st, 0, sizeof(st));
        perf_ring_parse(r.data, RING, 0, r.head, SAMPLE_TYPE | PERF_SAMPLE_CALLCHAIN, scratch, NULL,
                        NULL, &st);
        CHECK(st.malformed == 2 && st.samples == 0, "unsupported sample type");
}

static void test_sample_layout(void) {
        /* Every supported field, in the kernel's order. */
        uint64_t body[10] = { 0x1d, 0x1f, (uint64_t) 7 | ((uint64_t) 8 << 32), 0x7e, 0xadd, 0x1d2,
                              0x57, 3, 0x9e, (uint64_t) 4 | ((uint64_t) 0xabcdef01 << 32) };
        PerfSample s;

        CHECK_INT(perf_sample_parse((const uint8_t *) body, sizeof(body),
                                    PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                                            PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID |
                                            PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU |
                                            PERF_SAMPLE_PERIOD | PERF_SAMPLE_RAW,
                                    &s),
                  0, "all fields");
        CHECK(s.ip == 0x1f && s.pid == 7 && s.tid == 8 && s.time == 0x7e && s.addr == 0xadd &&
                      s.id == 0x1d2 && s.stream_id == 0x57 && s.cpu == 3 && s.period == 0x9e,
              "fields in order (ID overrides IDENTIFIER, both are the id)");
        uint32_t raw_value = 0;
        if (s.raw)
                memcpy(&raw_value, s.raw, 4);
        CHECK(s.raw_size == 4 && raw_value == 0xabcdef01, "raw: size 4, then the data");
        CHECK_INT(perf_sample_parse((const uint8_t *) body, 7, PERF_SAMPLE_TIME, &s), -EBADMSG,
                  "short body");
}

int main(void) {
        test_captured_formats();
        test_synthetic_formats();
        test_ring();
        test_sample_layout();
        return tap_done();
}
