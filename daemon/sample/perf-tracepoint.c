/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "perf-tracepoint.h"
#include "sysfs.h"
#include "util.h"

/* ---- reasons ----------------------------------------------------------- */

_printf_(3, 4) static int fail(char **ret_reason, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_reason) {
                free(*ret_reason);
                *ret_reason = NULL;
                va_start(ap, fmt);
                if (vasprintf(ret_reason, fmt, ap) < 0)
                        *ret_reason = NULL;
                va_end(ap);
        }
        return r;
}

static void reason_init(char **ret_reason) {
        if (ret_reason)
                *ret_reason = NULL;
}

/* ---- CPUs -------------------------------------------------------------- */

static int cmp_unsigned(const void *a, const void *b) {
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;

        return x < y ? -1 : x > y;
}

static bool read_cpu(const char **p, unsigned *ret) {
        unsigned long v;
        char *end;

        if (!isdigit((unsigned char) **p))
                return false;
        errno = 0;
        v = strtoul(*p, &end, 10);
        if (errno || v >= 1u << 22) /* NR_CPUS is at most 8192 today; be generous */
                return false;
        *ret = (unsigned) v;
        *p = end;
        return true;
}

int cpulist_parse(const char *s, unsigned **ret, size_t *ret_n) {
        _cleanup_free_ unsigned *cpus = NULL;
        size_t n = 0, allocated = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        while (*p == ' ' || *p == '\t')
                p++;
        for (;;) {
                unsigned lo, hi;

                if (!read_cpu(&p, &lo))
                        return -EBADMSG;
                hi = lo;
                if (*p == '-') {
                        p++;
                        if (!read_cpu(&p, &hi) || hi < lo)
                                return -EBADMSG;
                }
                for (unsigned c = lo; c <= hi; c++) {
                        /* More CPUs than read_cpu() allows distinct ones:
                         * ranges repeat, and the list would be rejected
                         * anyway. Stop before "0-4194303,0-4194303,..."
                         * takes gigabytes. */
                        if (n >= 1u << 22)
                                return -EBADMSG;
                        if (greedy_realloc((void **) &cpus, &allocated, n + 1, sizeof(unsigned)) < 0)
                                return -ENOMEM;
                        cpus[n++] = c;
                }
                if (*p != ',')
                        break;
                p++;
        }
        while (*p == ' ' || *p == '\t' || *p == '\n')
                p++;
        if (*p)
                return -EBADMSG;
        qsort(cpus, n, sizeof(unsigned), cmp_unsigned);
        for (size_t i = 1; i < n; i++)
                if (cpus[i] == cpus[i - 1])
                        return -EBADMSG;
        *ret = TAKE_PTR(cpus);
        *ret_n = n;
        return 0;
}

int perf_online_cpus(int sysfs_fd, unsigned **ret, size_t *ret_n) {
        _cleanup_free_ char *text = NULL;
        int r = sysfs_read_file(sysfs_fd, "devices/system/cpu/online", 65536, &text);

        return r < 0 ? r : cpulist_parse(text, ret, ret_n);
}

/* ---- tracefs ----------------------------------------------------------- */

const char *tracefs_find(int sysfs_fd) {
        if (sysfs_exists(sysfs_fd, "kernel/tracing/events") > 0)
                return "kernel/tracing";
        if (sysfs_exists(sysfs_fd, "kernel/debug/tracing/events") > 0)
                return "kernel/debug/tracing";
        return NULL;
}

static bool valid_name(const char *s) {
        return !isempty(s) && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

/* Reads events/<system>/<event>/<file>; explains what is missing. */
static int read_event_file(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                           const char *file, char **ret_text, char **ret_reason) {
        char path[512];
        int r;

        if (!valid_name(system) || !valid_name(event))
                return fail(ret_reason, -EINVAL, "invalid tracepoint name \"%s:%s\"", strna(system),
                            strna(event));
        if (!tracefs && !(tracefs = tracefs_find(sysfs_fd)))
                return fail(ret_reason, -ENOENT,
                            "tracefs is not mounted (no kernel/tracing/events under the sysfs root)");
        snprintf(path, sizeof(path), "%s/events/%s/%s/%s", tracefs, system, event, file);
        r = sysfs_read_file(sysfs_fd, path, 1 << 20, ret_text);
        if (r >= 0)
                return 0;
        if (r == -ENOENT) {
                snprintf(path, sizeof(path), "%s/events/%s", tracefs, system);
                if (sysfs_exists(sysfs_fd, path) <= 0)
                        return fail(ret_reason, -ENOENT,
                                    "this kernel has no %s tracepoints (%s/events/%s missing)", system,
                                    tracefs, system);
                return fail(ret_reason, -ENOENT, "this kernel has no tracepoint %s:%s", system, event);
        }
        if (r == -EACCES || r == -EPERM)
                return fail(ret_reason, -EACCES, "%s/events/%s/%s/%s is not readable: needs root",
                            tracefs, system, event, file);
        return fail(ret_reason, r, "reading %s/events/%s/%s/%s: %s", tracefs, system, event, file,
                    strerror(-r));
}

int tracepoint_id(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                  uint64_t *ret, char **ret_reason) {
        _cleanup_free_ char *text = NULL;
        int r;

        reason_init(ret_reason);
        r = read_event_file(sysfs_fd, tracefs, system, event, "id", &text, ret_reason);
        if (r < 0)
                return r;
        if (safe_atou64(text, ret) < 0 || *ret == 0) {
                text[strcspn(text, "\n")] = '\0';
                return fail(ret_reason, -EBADMSG, "tracepoint %s:%s has a malformed id \"%.20s\"",
                            system, event, text);
        }
        return 0;
}

int tracepoint_format(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                      TraceFormat *ret, char **ret_reason) {
        _cleanup_free_ char *text = NULL;
        int r;

        reason_init(ret_reason);
        r = read_event_file(sysfs_fd, tracefs, system, event, "format", &text, ret_reason);
        if (r < 0)
                return r;
        r = trace_format_parse(text, ret);
        if (r < 0)
                return fail(ret_reason, r, "tracepoint %s:%s: unreadable format file: %s", system,
                            event, strerror(-r));
        return 0;
}

/* ---- opening events ---------------------------------------------------- */

static int open_error(char **ret_reason, int err, const char *what, unsigned cpu) {
        switch (err) {
        case EACCES:
        case EPERM:
                return fail(ret_reason, -EACCES,
                            "perf_event_open(%s) on CPU %u: permission denied (needs root or "
                            "CAP_PERFMON; see kernel.perf_event_paranoid)",
                            what, cpu);
        case ENOENT:
                return fail(ret_reason, -ENOENT, "perf_event_open(%s): no such event in this kernel",
                            what);
        case ENOSYS:
                return fail(ret_reason, -EOPNOTSUPP,
                            "perf_event_open is not available (kernel without CONFIG_PERF_EVENTS)");
        case ENODEV:
        case EOPNOTSUPP:
                return fail(ret_reason, -EOPNOTSUPP,
                            "perf_event_open(%s) on CPU %u: not supported by this kernel", what, cpu);
        case EINVAL:
                return fail(ret_reason, -EINVAL,
                            "perf_event_open(%s): the kernel rejected the event (unknown id?)", what);
        case EMFILE:
        case ENFILE:
                return fail(ret_reason, -EMFILE, "perf_event_open(%s): out of file descriptors", what);
        default:
                return fail(ret_reason, -err, "perf_event_open(%s) on CPU %u: %s", what, cpu,
                            strerror(err));
        }
}

/* Opens attr on each CPU into fds (set to -1 for CPUs that went offline).
 * Returns the number opened, or -errno with a reason. */
static int open_per_cpu(struct perf_event_attr *attr, const unsigned *cpus, size_t n_cpus,
                        const char *what, int *fds, char **ret_reason) {
        int opened = 0;

        for (size_t i = 0; i < n_cpus; i++) {
                int fd = (int) syscall(SYS_perf_event_open, attr, -1, (int) cpus[i], -1,
                                       PERF_FLAG_FD_CLOEXEC);

                if (fd < 0) {
                        int err = errno;

                        fds[i] = -1;
                        /* ENODEV for one CPU of several: it went offline
                         * since the online list was read. */
                        if (err == ENODEV && n_cpus > 1)
                                continue;
                        for (size_t j = 0; j < i; j++)
                                if (fds[j] >= 0) {
                                        close(fds[j]);
                                        fds[j] = -1;
                                }
                        return open_error(ret_reason, err, what, cpus[i]);
                }
                fds[i] = fd;
                opened++;
        }
        if (opened == 0)
                return fail(ret_reason, -ENODEV, "perf_event_open(%s): no CPU could be opened", what);
        return opened;
}

static int ioctl_all(const int *fds, size_t n, unsigned long request, unsigned long arg) {
        for (size_t i = 0; i < n; i++)
                if (fds[i] >= 0 && ioctl(fds[i], request, arg) < 0)
                        return -errno;
        return 0;
}

static int set_filter_all(const int *fds, size_t n, const char *what, const char *filter,
                          char **ret_reason) {
        reason_init(ret_reason);
        for (size_t i = 0; i < n; i++)
                if (fds[i] >= 0 && ioctl(fds[i], PERF_EVENT_IOC_SET_FILTER, filter) < 0) {
                        int err = errno;

                        return fail(ret_reason, err == EINVAL ? -EINVAL : -err,
                                    "%s: the kernel rejected the filter \"%s\": %s", what, filter,
                                    strerror(err));
                }
        return 0;
}

static int get_cpus(int sysfs_fd, unsigned **cpus, size_t *n, char **ret_reason) {
        int r = perf_online_cpus(sysfs_fd, cpus, n);

        if (r < 0)
                return fail(ret_reason, r, "cannot read the online CPUs (devices/system/cpu/online): %s",
                            strerror(-r));
        return 0;
}

/* ---- counters ---------------------------------------------------------- */

struct PerfCounter {
        char *what;
        unsigned *cpus;
        int *fds;
        size_t n;
};

int perf_counter_open(uint32_t type, uint64_t config, const unsigned *cpus, size_t n_cpus,
                      const char *what, PerfCounter **ret, char **ret_reason) {
        struct perf_event_attr attr = {
                .size = sizeof(attr),
                .type = type,
                .config = config,
                .disabled = 1,
        };
        PerfCounter *c;
        int r;

        reason_init(ret_reason);
        if (n_cpus == 0)
                return fail(ret_reason, -EINVAL, "no CPUs to count %s on", strna(what));
        if (!(c = calloc(1, sizeof(*c))) || !(c->what = strdup(strna(what))) ||
            !(c->cpus = calloc(n_cpus, sizeof(unsigned))) || !(c->fds = calloc(n_cpus, sizeof(int)))) {
                perf_counter_free(c);
                return -ENOMEM;
        }
        memcpy(c->cpus, cpus, n_cpus * sizeof(unsigned));
        c->n = n_cpus;
        r = open_per_cpu(&attr, cpus, n_cpus, c->what, c->fds, ret_reason);
        if (r < 0) {
                c->n = 0;
                perf_counter_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int tracepoint_counter_open(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                            const char *filter, PerfCounter **ret, char **ret_reason) {
        _cleanup_free_ unsigned *cpus = NULL;
        _cleanup_free_ char *what = NULL;
        PerfCounter *c = NULL;
        uint64_t id;
        size_t n;
        int r;

        r = tracepoint_id(sysfs_fd, tracefs, system, event, &id, ret_reason);
        if (r < 0)
                return r;
        if ((r = get_cpus(sysfs_fd, &cpus, &n, ret_reason)) < 0)
                return r;
        if (asprintf(&what, "%s:%s", system, event) < 0) {
                what = NULL;
                return -ENOMEM;
        }
        r = perf_counter_open(PERF_TYPE_TRACEPOINT, id, cpus, n, what, &c, ret_reason);
        if (r < 0)
                return r;
        if (filter && (r = perf_counter_set_filter(c, filter, ret_reason)) < 0) {
                perf_counter_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int perf_counter_set_filter(PerfCounter *c, const char *filter, char **ret_reason) {
        return set_filter_all(c->fds, c->n, c->what, filter, ret_reason);
}

int perf_counter_enable(PerfCounter *c) {
        return ioctl_all(c->fds, c->n, PERF_EVENT_IOC_ENABLE, 0);
}

int perf_counter_disable(PerfCounter *c) {
        return ioctl_all(c->fds, c->n, PERF_EVENT_IOC_DISABLE, 0);
}

int perf_counter_reset(PerfCounter *c) {
        return ioctl_all(c->fds, c->n, PERF_EVENT_IOC_RESET, 0);
}

int perf_counter_read(PerfCounter *c, uint64_t *ret) {
        uint64_t sum = 0;

        for (size_t i = 0; i < c->n; i++) {
                uint64_t v;

                if (c->fds[i] < 0)
                        continue;
                if (read(c->fds[i], &v, sizeof(v)) != (ssize_t) sizeof(v))
                        return errno ? -errno : -EIO;
                sum += v;
        }
        *ret = sum;
        return 0;
}

size_t perf_counter_n_cpus(const PerfCounter *c) {
        size_t n = 0;

        for (size_t i = 0; i < c->n; i++)
                n += c->fds[i] >= 0;
        return n;
}

PerfCounter *perf_counter_free(PerfCounter *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                if (c->fds[i] >= 0)
                        close(c->fds[i]);
        free(c->fds);
        free(c->cpus);
        free(c->what);
        free(c);
        return NULL;
}

/* ---- samplers ---------------------------------------------------------- */

typedef struct Ring {
        int fd;
        void *base;
        size_t map_size;
        uint8_t *data;
        size_t data_size;
} Ring;

struct PerfSampler {
        char *what;
        Ring *rings;
        size_t n;
        TraceFormat format;
        bool has_format;
        uint8_t *scratch;
};

unsigned perf_ring_pages_per_cpu(unsigned total, size_t n_cpus) {
        unsigned pages = 1;

        if (n_cpus == 0)
                n_cpus = 1;
        while ((size_t) pages * 2 * n_cpus <= total)
                pages *= 2;
        return pages < PERF_RING_PAGES_MIN ? PERF_RING_PAGES_MIN : pages;
}

int perf_sampler_open(uint32_t type, uint64_t config, const unsigned *cpus, size_t n_cpus,
                      const PerfSamplerOptions *opts, const char *what, PerfSampler **ret,
                      char **ret_reason) {
        const PerfSamplerOptions defaults = {};
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        _cleanup_free_ int *fds = NULL;
        PerfSampler *s;
        unsigned pages;
        int r;

        reason_init(ret_reason);
        if (!opts)
                opts = &defaults;
        pages = opts->ring_pages         ? opts->ring_pages
                : opts->ring_pages_total ? perf_ring_pages_per_cpu(opts->ring_pages_total, n_cpus)
                                         : 64;
        if (pages & (pages - 1) || pages > (1u << 20))
                return fail(ret_reason, -EINVAL, "ring of %u pages: not a power of two", pages);
        if (n_cpus == 0)
                return fail(ret_reason, -EINVAL, "no CPUs to sample %s on", strna(what));

        struct perf_event_attr attr = {
                .size = sizeof(attr),
                .type = type,
                .config = config,
                .sample_period = opts->sample_period ? opts->sample_period : 1,
                .sample_type = PERF_SAMPLER_SAMPLE_TYPE,
                .disabled = 1,
                .watermark = 1,
                .wakeup_watermark = opts->wakeup_bytes ? opts->wakeup_bytes
                                                       : (uint32_t) (pages * page / 4),
        };

        if (!(s = calloc(1, sizeof(*s))) || !(s->what = strdup(strna(what))) ||
            !(s->rings = calloc(n_cpus, sizeof(Ring))) || !(fds = calloc(n_cpus, sizeof(int))) ||
            !(s->scratch = malloc(PERF_RECORD_MAX_SIZE))) {
                perf_sampler_free(s);
                return -ENOMEM;
        }
        r = open_per_cpu(&attr, cpus, n_cpus, s->what, fds, ret_reason);
        if (r < 0) {
                perf_sampler_free(s);
                return r;
        }
        for (size_t i = 0; i < n_cpus; i++) {
                Ring *ring = &s->rings[s->n];

                if (fds[i] < 0)
                        continue;
                ring->fd = fds[i];
                s->n++;
                ring->map_size = (pages + 1) * page;
                ring->base = mmap(NULL, ring->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, ring->fd, 0);
                if (ring->base == MAP_FAILED) {
                        int err = errno;

                        ring->base = NULL;
                        for (size_t j = i + 1; j < n_cpus; j++)
                                if (fds[j] >= 0)
                                        close(fds[j]);
                        perf_sampler_free(s);
                        return fail(ret_reason, -err,
                                    "mmap of a %zu KiB perf ring for %s on CPU %u: %s%s",
                                    (pages + 1) * page / 1024, strna(what), cpus[i], strerror(err),
                                    err == EPERM ? " (over kernel.perf_event_mlock_kb?)" : "");
                }
                struct perf_event_mmap_page *mp = ring->base;
                /* data_offset and data_size exist since 4.1; before, the data
                 * follows the first page. */
                ring->data = (uint8_t *) ring->base + (mp->data_offset ? mp->data_offset : page);
                ring->data_size = mp->data_size ? mp->data_size : pages * page;
        }
        *ret = s;
        return 0;
}

int tracepoint_sampler_open(int sysfs_fd, const char *tracefs, const char *system, const char *event,
                            const PerfSamplerOptions *opts, PerfSampler **ret, char **ret_reason) {
        _cleanup_free_ unsigned *cpus = NULL;
        _cleanup_free_ char *what = NULL;
        TraceFormat format;
        PerfSampler *s = NULL;
        uint64_t id;
        size_t n;
        int r;

        r = tracepoint_id(sysfs_fd, tracefs, system, event, &id, ret_reason);
        if (r < 0)
                return r;
        r = tracepoint_format(sysfs_fd, tracefs, system, event, &format, ret_reason);
        if (r < 0)
                return r;
        r = get_cpus(sysfs_fd, &cpus, &n, ret_reason);
        if (r == 0 && asprintf(&what, "%s:%s", system, event) < 0) {
                what = NULL;
                r = -ENOMEM;
        }
        if (r < 0) {
                trace_format_done(&format);
                return r;
        }
        r = perf_sampler_open(PERF_TYPE_TRACEPOINT, id, cpus, n, opts, what, &s, ret_reason);
        if (r < 0) {
                trace_format_done(&format);
                return r;
        }
        s->format = format;
        s->has_format = true;
        if (opts && opts->filter && (r = perf_sampler_set_filter(s, opts->filter, ret_reason)) < 0) {
                perf_sampler_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

const TraceFormat *perf_sampler_format(const PerfSampler *s) {
        return s->has_format ? &s->format : NULL;
}

size_t perf_sampler_n_fds(const PerfSampler *s) {
        return s->n;
}

size_t perf_sampler_ring_bytes(const PerfSampler *s) {
        size_t bytes = 0;

        for (size_t i = 0; i < s->n; i++)
                bytes += s->rings[i].base ? s->rings[i].map_size : 0;
        return bytes;
}

int perf_sampler_fd(const PerfSampler *s, size_t i) {
        return i < s->n ? s->rings[i].fd : -EINVAL;
}

static int sampler_ioctl(PerfSampler *s, unsigned long request, unsigned long arg) {
        for (size_t i = 0; i < s->n; i++)
                if (ioctl(s->rings[i].fd, request, arg) < 0)
                        return -errno;
        return 0;
}

int perf_sampler_enable(PerfSampler *s) {
        return sampler_ioctl(s, PERF_EVENT_IOC_ENABLE, 0);
}

int perf_sampler_disable(PerfSampler *s) {
        return sampler_ioctl(s, PERF_EVENT_IOC_DISABLE, 0);
}

int perf_sampler_set_filter(PerfSampler *s, const char *filter, char **ret_reason) {
        reason_init(ret_reason);
        for (size_t i = 0; i < s->n; i++) {
                int r = set_filter_all(&s->rings[i].fd, 1, s->what, filter, ret_reason);

                if (r < 0)
                        return r;
        }
        return 0;
}

int perf_sampler_drain(PerfSampler *s, PerfSampleFn fn, void *userdata, PerfRingStats *stats) {
        uint64_t before = stats->samples;

        for (size_t i = 0; i < s->n; i++) {
                Ring *ring = &s->rings[i];
                struct perf_event_mmap_page *mp = ring->base;
                /* The kernel publishes data_head after writing the records
                 * (acquire pairs with its release); storing data_tail after
                 * reading hands the space back. */
                uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
                uint64_t tail = mp->data_tail, next;

                next = perf_ring_parse(ring->data, ring->data_size, tail, head, PERF_SAMPLER_SAMPLE_TYPE,
                                       s->scratch, fn, userdata, stats);
                __atomic_store_n(&mp->data_tail, next, __ATOMIC_RELEASE);
                if (next != head)
                        break; /* the callback stopped */
        }
        return (int) (stats->samples - before > INT32_MAX ? INT32_MAX : stats->samples - before);
}

PerfSampler *perf_sampler_free(PerfSampler *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++) {
                if (s->rings[i].base)
                        munmap(s->rings[i].base, s->rings[i].map_size);
                if (s->rings[i].fd >= 0)
                        close(s->rings[i].fd);
        }
        free(s->rings);
        free(s->scratch);
        free(s->what);
        if (s->has_format)
                trace_format_done(&s->format);
        free(s);
        return NULL;
}
