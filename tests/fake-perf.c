/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake-perf.h"
#include "perf-tracepoint.h"

/* The ring one sampler writes into (all CPUs together); records that do
 * not fit are lost, as in the kernel. */
#define FAKE_RING_BYTES (64 * 1024)

struct PerfCounter {
        char event[64];
        bool enabled;
        uint64_t count;
        PerfCounter *next;
};

struct PerfSampler {
        char event[64];
        TraceFormat format;
        bool enabled;
        char *filter;
        uint8_t data[FAKE_RING_BYTES];
        uint64_t head, tail;
        uint64_t lost;   /* not yet reported in a PERF_RECORD_LOST */
        PerfSampler *next;
};

typedef struct FakeFailure {
        char event[64];
        int error;
} FakeFailure;

static PerfCounter *counters;
static PerfSampler *samplers;
static FakeFailure failures[16];
static size_t n_failures;

/* The reason in words: before, what, after. */
static int fail(char **ret_reason, int r, const char *before, const char *what, const char *after) {
        if (ret_reason && asprintf(ret_reason, "%s%s%s", before, what, after) < 0)
                *ret_reason = NULL;
        return r;
}

static int open_error(const char *event) {
        for (size_t i = 0; i < n_failures; i++)
                if (strcmp(failures[i].event, event) == 0)
                        return -failures[i].error;
        return 0;
}

/* The event's format file from the tree under sysfs_fd. */
static int read_format(int sysfs_fd, const char *system, const char *event, TraceFormat *ret,
                       char **ret_reason) {
        static const char *const roots[] = { "kernel/tracing", "kernel/debug/tracing" };
        char path[256], text[16384], name[128];
        ssize_t n = -1;

        snprintf(name, sizeof(name), "%s:%s", system, event);
        for (size_t i = 0; i < 2 && n < 0; i++) {
                int fd;

                snprintf(path, sizeof(path), "%s/events/%s/%s/format", roots[i], system, event);
                fd = openat(sysfs_fd, path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, text, sizeof(text) - 1);
                close(fd);
        }
        if (n < 0)
                return fail(ret_reason, -ENOENT, "no tracepoint ", name, "");
        text[n] = '\0';
        if (trace_format_parse(text, ret) < 0)
                return fail(ret_reason, -EBADMSG, "the format of ", name, " is garbled");
        return 0;
}

int tracepoint_counter_open(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                            const char *filter, PerfCounter **ret, char **ret_reason) {
        TraceFormat f = {};
        PerfCounter *c;
        int r;

        (void) tracefs;
        if (filter)
                return fail(ret_reason, -EINVAL, "the fake counts without a filter (", filter, ")");
        r = read_format(sysfs_fd, system, event, &f, ret_reason);
        trace_format_done(&f);
        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        snprintf(c->event, sizeof(c->event), "%s:%s", system, event);
        if ((r = open_error(c->event)) < 0) {
                free(c);
                return fail(ret_reason, r, "perf_event_open on ", event, " failed (fake)");
        }
        c->next = counters;
        counters = c;
        *ret = c;
        return 0;
}

int perf_counter_enable(PerfCounter *c) {
        c->enabled = true;
        return 0;
}

int perf_counter_read(PerfCounter *c, uint64_t *ret) {
        *ret = c->count;
        return 0;
}

size_t perf_counter_n_cpus(const PerfCounter *c) {
        (void) c;
        return FAKE_PERF_CPUS;
}

PerfCounter *perf_counter_free(PerfCounter *c) {
        if (!c)
                return NULL;
        for (PerfCounter **p = &counters; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        free(c);
        return NULL;
}

int tracepoint_sampler_open(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                            const PerfSamplerOptions *opts, PerfSampler **ret, char **ret_reason) {
        PerfSampler *s = calloc(1, sizeof(*s));
        int r;

        (void) tracefs;
        if (!s)
                return -ENOMEM;
        snprintf(s->event, sizeof(s->event), "%s:%s", system, event);
        r = read_format(sysfs_fd, system, event, &s->format, ret_reason);
        if (r >= 0 && (r = open_error(s->event)) < 0)
                r = fail(ret_reason, r, "perf_event_open on ", event, " failed (fake)");
        if (r >= 0 && opts && opts->filter && !(s->filter = strdup(opts->filter)))
                r = -ENOMEM;
        if (r < 0) {
                trace_format_done(&s->format);
                free(s);
                return r;
        }
        s->next = samplers;
        samplers = s;
        *ret = s;
        return 0;
}

const TraceFormat *perf_sampler_format(const PerfSampler *s) {
        return &s->format;
}

size_t perf_sampler_n_fds(const PerfSampler *s) {
        (void) s;
        return FAKE_PERF_CPUS;
}

size_t perf_sampler_ring_bytes(const PerfSampler *s) {
        (void) s;
        return FAKE_RING_BYTES;
}

int perf_sampler_fd(const PerfSampler *s, size_t i) {
        (void) s;
        return i < FAKE_PERF_CPUS ? 1000 + (int) i : -EINVAL;
}

int perf_sampler_enable(PerfSampler *s) {
        s->enabled = true;
        return 0;
}

static void ring_put(PerfSampler *s, const void *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                s->data[(s->head + i) % FAKE_RING_BYTES] = ((const uint8_t *) p)[i];
        s->head += n;
}

static bool ring_fits(const PerfSampler *s, size_t n) {
        return s->head - s->tail + n <= FAKE_RING_BYTES;
}

/* The kernel writes a PERF_RECORD_LOST as soon as there is room again. */
static void ring_put_lost(PerfSampler *s) {
        struct perf_event_header h = { .type = PERF_RECORD_LOST, .size = sizeof(h) + 16 };
        uint64_t body[2] = { 0, s->lost };

        if (!s->lost || !ring_fits(s, h.size))
                return;
        ring_put(s, &h, sizeof(h));
        ring_put(s, body, sizeof(body));
        s->lost = 0;
}

int perf_sampler_drain(PerfSampler *s, PerfSampleFn fn, void *userdata, PerfRingStats *stats) {
        static uint8_t scratch[PERF_RECORD_MAX_SIZE];

        ring_put_lost(s);
        s->tail = perf_ring_parse(s->data, FAKE_RING_BYTES, s->tail, s->head, PERF_SAMPLER_SAMPLE_TYPE, scratch,
                                  fn, userdata, stats);
        return 0;
}

PerfSampler *perf_sampler_free(PerfSampler *s) {
        if (!s)
                return NULL;
        for (PerfSampler **p = &samplers; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        trace_format_done(&s->format);
        free(s->filter);
        free(s);
        return NULL;
}

/* ---- the test's side --------------------------------------------------- */

void fake_perf_fail_open(const char *event, int error) {
        if (n_failures < sizeof(failures) / sizeof(failures[0])) {
                snprintf(failures[n_failures].event, sizeof(failures[0].event), "%s", event);
                failures[n_failures++].error = error;
        }
}

static PerfSampler *sampler_of(const char *event) {
        for (PerfSampler *s = samplers; s; s = s->next)
                if (strcmp(s->event, event) == 0)
                        return s;
        return NULL;
}

const TraceFormat *fake_perf_format(const char *event) {
        PerfSampler *s = sampler_of(event);

        return s ? &s->format : NULL;
}

const char *fake_perf_filter(const char *event) {
        PerfSampler *s = sampler_of(event);

        return s ? s->filter : NULL;
}

/* "FIELD >= VALUE", as the kernel evaluates it on the record. */
static bool filter_passes(const PerfSampler *s, const void *raw, size_t raw_size) {
        char field[64];
        unsigned long long min;
        uint64_t v;

        if (!s->filter)
                return true;
        if (sscanf(s->filter, "%63s >= %lli", field, &min) != 2)
                abort(); /* a filter the fake does not know: the test must learn it */
        if (trace_field_u64(trace_format_field(&s->format, field), raw, raw_size, &v) < 0)
                return false;
        return v >= min;
}

void fake_perf_emit(const char *event, unsigned cpu, uint64_t time, const void *raw, size_t raw_size) {
        for (PerfCounter *c = counters; c; c = c->next)
                if (c->enabled && strcmp(c->event, event) == 0)
                        c->count++;
        for (PerfSampler *s = samplers; s; s = s->next) {
                uint32_t size = (uint32_t) raw_size, cpu_res[2] = { cpu, 0 };
                size_t padded = (4 + raw_size + 7) / 8 * 8; /* u32 size + raw, 8-byte aligned */
                struct perf_event_header h = { .type = PERF_RECORD_SAMPLE,
                                               .size = (uint16_t) (sizeof(h) + 8 + 8 + padded) };
                static const uint8_t zeros[8];

                if (!s->enabled || strcmp(s->event, event) != 0 || !filter_passes(s, raw, raw_size))
                        continue;
                ring_put_lost(s);
                if (s->lost || !ring_fits(s, h.size)) {
                        s->lost++;
                        continue;
                }
                ring_put(s, &h, sizeof(h));
                ring_put(s, &time, 8);
                ring_put(s, cpu_res, 8);
                ring_put(s, &size, 4);
                ring_put(s, raw, raw_size);
                ring_put(s, zeros, padded - 4 - raw_size);
        }
}

void fake_perf_lose(const char *event, uint64_t n) {
        PerfSampler *s = sampler_of(event);

        if (s)
                s->lost += n;
}

void fake_perf_reset(void) {
        while (counters)
                perf_counter_free(counters);
        while (samplers)
                perf_sampler_free(samplers);
        n_failures = 0;
}

size_t fake_raw_fixed_size(const TraceFormat *f) {
        size_t end = 0;

        for (size_t i = 0; i < f->n_fields; i++)
                if (f->fields[i].offset + f->fields[i].size > end)
                        end = f->fields[i].offset + f->fields[i].size;
        return end;
}

void fake_raw_set_u64(const TraceFormat *f, uint8_t *raw, const char *field, uint64_t v) {
        const TraceField *t = trace_format_field(f, field);

        if (!t || t->size > 8)
                abort();
        memcpy(raw + t->offset, &v, t->size); /* little-endian, as the fixtures' machines */
}

void fake_raw_set_str(const TraceFormat *f, uint8_t *raw, size_t *end, const char *field, const char *s) {
        const TraceField *t = trace_format_field(f, field);
        size_t len = strlen(s) + 1;
        uint32_t loc;

        if (!t || !(t->data_loc || t->rel_loc))
                abort();
        loc = (uint32_t) (len << 16 | (t->rel_loc ? *end - (t->offset + t->size) : *end));
        memcpy(raw + t->offset, &loc, 4);
        memcpy(raw + *end, s, len);
        *end += len;
}
