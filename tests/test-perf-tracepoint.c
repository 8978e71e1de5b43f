/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * perf_event_open counting and sampling.
 *
 * Tracepoints cannot be opened here (the build host has no tracefs, and its
 * kernel's ids are not the fixture's): the tracefs lookup runs against the
 * tree captured from 6.1 (tests/fixtures/qemu-vtd) and a tree built here,
 * and the failure paths must come back with a reason. The per-CPU open,
 * enable, read, mmap'd rings and drain run for real with a software event
 * (cpu-clock), which takes the same code with another type and config; the
 * QEMU test bed runs the tracepoint path.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "perf-tracepoint.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static int write_file(const char *root, const char *rel, const char *text) {
        char path[1024];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
        }
        if (!(f = fopen(path, "we")))
                return -errno;
        fputs(text, f);
        return fclose(f) == 0 ? 0 : -errno;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void test_cpulist(void) {
        _cleanup_free_ unsigned *cpus = NULL;
        size_t n = 0;

        CHECK_INT(cpulist_parse("0-3,5,7-8\n", &cpus, &n), 0, "0-3,5,7-8");
        CHECK(n == 7 && cpus[0] == 0 && cpus[3] == 3 && cpus[4] == 5 && cpus[6] == 8, "expanded");
        free(TAKE_PTR(cpus));
        CHECK(cpulist_parse("0", &cpus, &n) == 0 && n == 1 && cpus[0] == 0, "single CPU");
        free(TAKE_PTR(cpus));
        CHECK(cpulist_parse("8-9,0", &cpus, &n) == 0 && n == 3 && cpus[0] == 0, "sorted");
        free(TAKE_PTR(cpus));
        CHECK_INT(cpulist_parse("", &cpus, &n), -EBADMSG, "empty");
        CHECK_INT(cpulist_parse("3-1", &cpus, &n), -EBADMSG, "backwards range");
        CHECK_INT(cpulist_parse("0-3:2", &cpus, &n), -EBADMSG, "stride syntax");
        CHECK_INT(cpulist_parse("0,,1", &cpus, &n), -EBADMSG, "empty item");
        CHECK_INT(cpulist_parse("0,0", &cpus, &n), -EBADMSG, "duplicate");
        CHECK_INT(cpulist_parse("x", &cpus, &n), -EBADMSG, "garbage");
        CHECK_INT(cpulist_parse("99999999", &cpus, &n), -EBADMSG, "absurd CPU");
}

static void test_tracefs_fixture(void) {
        char path[1024];
        _cleanup_close_ int fd = -EBADF, none = -EBADF;
        _cleanup_free_ char *reason = NULL;
        TraceFormat f;
        uint64_t id;

        snprintf(path, sizeof(path), "%s/qemu-vtd/sys", fixtures_dir());
        fd = sysfs_open_root(path);
        CHECK_STR(tracefs_find(fd), "kernel/tracing", "tracefs found in the 6.1 capture");
        CHECK(tracepoint_id(fd, NULL, "intel_iommu", "qi_submit", &id, &reason) == 0 && id > 0,
              "qi_submit id");
        CHECK(reason == NULL, "no reason on success");
        CHECK_INT(tracepoint_format(fd, NULL, "intel_iommu", "qi_submit", &f, &reason), 0,
                  "qi_submit format");
        CHECK(f.id == id && trace_format_field(&f, "qw0"), "format: same ID, has qw0");
        trace_format_done(&f);
        CHECK(tracepoint_id(fd, "kernel/tracing", "iommu", "unmap", &id, &reason) == 0 && id > 0,
              "unmap id, tracefs given");

        CHECK_INT(tracepoint_id(fd, NULL, "iommu", "flush", &id, &reason), -ENOENT, "no such event");
        CHECK_STR(reason, "this kernel has no tracepoint iommu:flush", "reason names the event");
        free(TAKE_PTR(reason));
        CHECK_INT(tracepoint_id(fd, NULL, "amd_iommu", "inv", &id, &reason), -ENOENT, "no such system");
        CHECK(reason && strstr(reason, "no amd_iommu tracepoints"), "reason: %s", strna(reason));
        free(TAKE_PTR(reason));
        CHECK_INT(tracepoint_id(fd, NULL, "../iommu", "unmap", &id, &reason), -EINVAL, "a path");
        free(TAKE_PTR(reason));

        /* The arm64 SMMUv3 guest has iommu:* but no intel_iommu:*. */
        snprintf(path, sizeof(path), "%s/qemu-smmuv3/sys", fixtures_dir());
        if (access(path, F_OK) == 0) {
                _cleanup_close_ int arm = sysfs_open_root(path);

                CHECK(tracepoint_id(arm, NULL, "iommu", "unmap", &id, &reason) == 0, "smmuv3: iommu:unmap");
                CHECK_INT(tracepoint_id(arm, NULL, "intel_iommu", "qi_submit", &id, &reason), -ENOENT,
                          "smmuv3: no qi_submit");
                CHECK(reason && strstr(reason, "no intel_iommu tracepoints"), "reason: %s", strna(reason));
                free(TAKE_PTR(reason));
        }

        /* No tracefs at all. */
        snprintf(path, sizeof(path), "%s/blockstat/sys", fixtures_dir());
        none = sysfs_open_root(path);
        CHECK(tracefs_find(none) == NULL, "no tracefs");
        CHECK_INT(tracepoint_id(none, NULL, "iommu", "unmap", &id, &reason), -ENOENT, "no tracefs: ENOENT");
        CHECK(reason && strstr(reason, "tracefs is not mounted"), "reason: %s", strna(reason));
        free(TAKE_PTR(reason));

        /* The 6.1 capture has no CPU list: counters cannot be opened. */
        PerfCounter *c = NULL;
        CHECK_INT(tracepoint_counter_open(fd, NULL, "iommu", "unmap", NULL, &c, &reason), -ENOENT,
                  "no devices/system/cpu/online");
        CHECK(reason && strstr(reason, "online CPUs"), "reason: %s", strna(reason));
}

/* A tree with an online CPU list and a tracepoint whose id no kernel has:
 * the open reaches perf_event_open and must come back with a reason. */
static void test_tracepoint_open_fails(void) {
        char root[] = "/tmp/test-perf-tracepoint.XXXXXX";
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int fd = -EBADF;
        PerfCounter *c = NULL;
        PerfSampler *s = NULL;
        int r;

        if (!mkdtemp(root)) {
                CHECK(false, "mkdtemp: %s", strerror(errno));
                return;
        }
        write_file(root, "devices/system/cpu/online", "0\n");
        write_file(root, "kernel/tracing/events/iommutuned_test/never/id", "65535\n");
        write_file(root, "kernel/tracing/events/iommutuned_test/never/format",
                   "name: never\nID: 65535\nformat:\n"
                   "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n");
        write_file(root, "kernel/tracing/events/iommutuned_test/badid/id", "0x\n");
        fd = sysfs_open_root(root);

        r = tracepoint_counter_open(fd, NULL, "iommutuned_test", "never", NULL, &c, &reason);
        CHECK(r < 0 && reason, "counter on an unknown id fails with a reason: %d %s", r, strna(reason));
        tap_diag("counter: %s", strna(reason));
        free(TAKE_PTR(reason));
        perf_counter_free(c);

        r = tracepoint_sampler_open(fd, NULL, "iommutuned_test", "never", NULL, &s, &reason);
        CHECK(r < 0 && reason, "sampler on an unknown id fails with a reason: %d %s", r, strna(reason));
        free(TAKE_PTR(reason));
        perf_sampler_free(s);

        uint64_t id;
        CHECK_INT(tracepoint_id(fd, NULL, "iommutuned_test", "badid", &id, &reason), -EBADMSG, "bad id");
        CHECK(reason && strstr(reason, "malformed id"), "reason: %s", strna(reason));
        nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The real /sys: this host has no tracefs, a test bed kernel has. Either
 * way the result must be usable. */
static void test_real_sys(void) {
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int fd = sysfs_open_root("/sys");
        _cleanup_free_ unsigned *cpus = NULL;
        PerfCounter *c = NULL;
        size_t n;
        int r;

        r = perf_online_cpus(fd, &cpus, &n);
        CHECK(r == 0 && n > 0, "this machine's online CPUs (%zu)", r == 0 ? n : 0);
        r = tracepoint_counter_open(fd, NULL, "iommu", "unmap", "size >= 0x201000", &c, &reason);
        CHECK(r == 0 || reason, "iommu:unmap here: %s", r == 0 ? "opened" : reason);
        if (r == 0) {
                uint64_t v;
                CHECK(perf_counter_enable(c) == 0 && perf_counter_read(c, &v) == 0, "read it");
        }
        perf_counter_free(c);
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void spin_ms(unsigned ms) {
        uint64_t end = now_ns() + (uint64_t) ms * 1000000u;
        volatile uint64_t x = 0;

        while (now_ns() < end)
                x++;
}

static void test_software_counter(const unsigned *cpus, size_t n) {
        _cleanup_(perf_counter_freep) PerfCounter *c = NULL;
        _cleanup_free_ char *reason = NULL;
        uint64_t v0, v1, v2;
        int r;

        r = perf_counter_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, cpus, n, "cpu-clock", &c,
                              &reason);
        CHECK(r == 0, "cpu-clock counter: %s", r < 0 ? strna(reason) : "ok");
        if (r < 0)
                return;
        CHECK_INT(perf_counter_n_cpus(c), n, "one fd per CPU");
        CHECK(perf_counter_read(c, &v0) == 0 && v0 == 0, "disabled: 0");
        CHECK_INT(perf_counter_enable(c), 0, "enable");
        spin_ms(20);
        r = perf_counter_read(c, &v1);
        CHECK(r == 0 && v1 >= 10000000, "20 ms counted (%llu ns)", (unsigned long long) v1);
        CHECK_INT(perf_counter_disable(c), 0, "disable");
        perf_counter_read(c, &v1);
        spin_ms(5);
        CHECK(perf_counter_read(c, &v2) == 0 && v2 == v1, "disabled: no change");
        CHECK(perf_counter_reset(c) == 0 && perf_counter_read(c, &v2) == 0 && v2 == 0, "reset");
        /* Filters are for tracepoints only: the kernel refuses. */
        r = perf_counter_set_filter(c, "size >= 0x201000", &reason);
        CHECK(r < 0 && reason && strstr(reason, "rejected the filter"), "filter on cpu-clock: %s",
              strna(reason));
}

typedef struct Check {
        const unsigned *cpus;
        size_t n_cpus;
        uint64_t bad, last_time;
} Check;

static int check_sample(const PerfSample *s, void *userdata) {
        Check *c = userdata;
        bool cpu_ok = false;

        for (size_t i = 0; i < c->n_cpus; i++)
                cpu_ok = cpu_ok || c->cpus[i] == s->cpu;
        /* A software event has no raw data: the kernel writes a u32 0. */
        if (!cpu_ok || s->raw_size != 4 || s->time == 0)
                c->bad++;
        return 0;
}

static void test_software_sampler(const unsigned *cpus, size_t n) {
        _cleanup_(perf_sampler_freep) PerfSampler *s = NULL;
        _cleanup_free_ char *reason = NULL;
        PerfRingStats st = {};
        Check chk = { .cpus = cpus, .n_cpus = n };
        int r;

        /* A one-page ring and a sample every 20 us, not drained for 50 ms:
         * it overflows and the kernel reports the loss. */
        PerfSamplerOptions small = { .ring_pages = 1, .sample_period = 20000 };
        r = perf_sampler_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, cpus, n, &small, "cpu-clock",
                              &s, &reason);
        CHECK(r == 0, "cpu-clock sampler: %s", r < 0 ? strna(reason) : "ok");
        if (r < 0)
                return;
        CHECK(perf_sampler_format(s) == NULL, "no tracepoint format");
        CHECK_INT(perf_sampler_n_fds(s), n, "a ring per CPU");
        CHECK_INT(perf_sampler_fd(s, n), -EINVAL, "fd index checked");
        CHECK_INT(perf_sampler_drain(s, check_sample, &chk, &st), 0, "disabled: nothing");
        CHECK_INT(perf_sampler_enable(s), 0, "enable");
        spin_ms(50);
        perf_sampler_disable(s);
        r = perf_sampler_drain(s, check_sample, &chk, &st);
        CHECK(r > 0 && (uint64_t) r == st.samples, "samples drained: %d", r);
        /* The kernel writes the PERF_RECORD_LOST with the next record that
         * fits, so only once there is room again. */
        perf_sampler_enable(s);
        spin_ms(5);
        perf_sampler_disable(s);
        perf_sampler_drain(s, check_sample, &chk, &st);
        CHECK(st.lost_records > 0 && st.lost > 0, "overflow reported: %llu lost in %llu records",
              (unsigned long long) st.lost, (unsigned long long) st.lost_records);
        CHECK(chk.bad == 0 && st.malformed == 0 && st.truncated == 0, "samples well formed");
        s = perf_sampler_free(s);

        /* A 2-page ring drained often for 200 ms: the free-running positions
         * pass the ring size many times (records wrap), and with a
         * watermark the fd polls readable. */
        PerfSamplerOptions ring = { .ring_pages = 2, .sample_period = 100000, .wakeup_bytes = 512 };
        memset(&st, 0, sizeof(st));
        r = perf_sampler_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, cpus, n, &ring, "cpu-clock",
                              &s, &reason);
        CHECK(r == 0, "second sampler: %s", r < 0 ? strna(reason) : "ok");
        if (r < 0)
                return;
        perf_sampler_enable(s);
        struct pollfd pfd = { .fd = perf_sampler_fd(s, 0), .events = POLLIN };
        CHECK(poll(&pfd, 1, 2000) == 1 && (pfd.revents & POLLIN), "ring fd polls readable");
        uint64_t end = now_ns() + 200000000u;
        while (now_ns() < end) {
                spin_ms(2);
                perf_sampler_drain(s, check_sample, &chk, &st);
        }
        perf_sampler_disable(s);
        perf_sampler_drain(s, check_sample, &chk, &st);
        CHECK(st.bytes > 2 * 8192 * n, "more than the rings' size passed through (%llu bytes)",
              (unsigned long long) st.bytes);
        CHECK(st.samples > 1000, "samples: %llu", (unsigned long long) st.samples);
        CHECK(chk.bad == 0 && st.malformed == 0 && st.truncated == 0, "wrapped samples well formed");
        tap_diag("drained often: %llu samples, %llu lost", (unsigned long long) st.samples,
                 (unsigned long long) st.lost);
}

static void test_software_events(void) {
        _cleanup_close_ int fd = sysfs_open_root("/sys");
        _cleanup_free_ unsigned *cpus = NULL;
        _cleanup_free_ char *reason = NULL;
        PerfCounter *probe = NULL;
        size_t n = 0;

        if (perf_online_cpus(fd, &cpus, &n) < 0 || n == 0) {
                tap_diag("no online CPU list; skipping the software events");
                return;
        }
        if (perf_counter_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, cpus, n, "cpu-clock", &probe,
                              &reason) < 0) {
                /* Containers without CAP_PERFMON: say why, do not fail. */
                tap_diag("perf_event_open unavailable here, skipping: %s", strna(reason));
                return;
        }
        perf_counter_free(probe);
        test_software_counter(cpus, n);
        test_software_sampler(cpus, n);
}

/* Ring sizes set for the machine: the same total on 2 CPUs as the old
 * per-CPU size times 2, far less per CPU on 32 and 200, never below the
 * minimum, never above the total. */
static void test_ring_pages_per_cpu(void) {
        CHECK_INT(perf_ring_pages_per_cpu(256, 2), 128, "256 pages over 2 CPUs");
        CHECK_INT(perf_ring_pages_per_cpu(128, 2), 64, "128 pages over 2 CPUs");
        CHECK_INT(perf_ring_pages_per_cpu(256, 1), 256, "one CPU gets the whole total");
        CHECK_INT(perf_ring_pages_per_cpu(256, 3), 64, "3 CPUs: rounded down to a power of two");
        CHECK_INT(perf_ring_pages_per_cpu(256, 32), 8, "256 pages over 32 CPUs");
        CHECK_INT(perf_ring_pages_per_cpu(128, 32), PERF_RING_PAGES_MIN, "128 pages over 32 CPUs");
        CHECK_INT(perf_ring_pages_per_cpu(256, 200), PERF_RING_PAGES_MIN, "200 CPUs: the minimum");
        CHECK_INT(perf_ring_pages_per_cpu(256, 0), 256, "no CPU count: as one");
}

int main(void) {
        test_ring_pages_per_cpu();
        test_cpulist();
        test_tracefs_fixture();
        test_tracepoint_open_fails();
        test_real_sys();
        test_software_events();
        return tap_done();
}
