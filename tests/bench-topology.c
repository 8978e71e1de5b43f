/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Topology scans of the generated 300-group server fixture: a full scan
 * (topology_scan(), as at start) and a rescan (topology_rescan() from the
 * previous scan, as every 30 s and after a switch): wall time, CPU time
 * and system calls per scan, peak RSS and heap in use; and beside them
 * the same figures for the bare reads a full scan cannot do without
 * (read_what_a_scan_must()), the floor any scan that reports the same
 * facts stands on. Prints figures; asserts nothing.
 * System calls are counted in this process by a perf counter on the
 * raw_syscalls:sys_enter tracepoint for this thread only (pid 0, any CPU),
 * in a pass of its own: while it exists every system call takes the
 * kernel's slow tracing path, so it is closed before the timed runs. It
 * needs tracefs and root (or CAP_PERFMON); without them the bench says why
 * there is no count.
 * The peak RSS is VmHWM from /proc/self/status, which exec resets: the
 * getrusage() ru_maxrss of Linux carries the parent's high-water mark
 * across exec (under meson, ~29 MiB of meson's own), so it is not used.
 * Usage: bench-topology [FIXTURE_ROOT] (default $SERVER_FIXTURE)
 * Targets (issue 2): under 5 ms and 2 MiB per scan.
 */
#include <linux/perf_event.h>
#include <inttypes.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "perf-tracepoint.h"
#include "sysfs.h"
#include "topology.h"
#include "util.h"

#define RUNS 50

static uint64_t cpu_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* This process's peak resident set size in KiB, -1 when unknown. */
static long vm_hwm_kib(void) {
        char line[256];
        long kib = -1;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* A counter of this thread's system calls; -errno and a reason when the
 * kernel does not give one. */
static int syscall_counter_open(char **ret_reason) {
        struct perf_event_attr attr = {
                .type = PERF_TYPE_TRACEPOINT,
                .size = sizeof(attr),
                .disabled = 1,
        };
        _cleanup_close_ int sys = sysfs_open_root("/sys");
        uint64_t id;
        int fd, r;

        if (sys < 0)
                return asprintf(ret_reason, "/sys: %s", strerror(-sys)) < 0 ? -ENOMEM : sys;
        r = tracepoint_id(sys, NULL, "raw_syscalls", "sys_enter", &id, ret_reason);
        if (r < 0)
                return r;
        attr.config = id;
        fd = (int) syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                return asprintf(ret_reason, "perf_event_open(raw_syscalls:sys_enter): %s", strerror(errno)) < 0
                        ? -ENOMEM : r;
        }
        (void) ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
        return fd;
}

static uint64_t syscalls_now(int fd) {
        uint64_t n = 0;

        return fd >= 0 && read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

typedef struct Figures {
        uint64_t wall[RUNS], cpu[RUNS];
        int64_t calls;               /* -1: not counted */
} Figures;

static void print_figures(const char *what, Figures *f) {
        qsort(f->wall, RUNS, sizeof(f->wall[0]), cmp_u64);
        qsort(f->cpu, RUNS, sizeof(f->cpu[0]), cmp_u64);
        printf("  %s: wall median %.3f ms (max %.3f), CPU median %.3f ms", what, f->wall[RUNS / 2] / 1e6,
               f->wall[RUNS - 1] / 1e6, f->cpu[RUNS / 2] / 1e6);
        if (f->calls >= 0)
                printf(", %" PRId64 " system calls", f->calls);
        printf("\n");
}

/* One scan (previous NULL) or rescan; -errno. */
static int scan_once(const char *sys, const char *proc, Topology **prev, bool full) {
        Topology *t = NULL;
        int r = full ? topology_scan(sys, proc, &t) : topology_rescan(sys, proc, *prev, &t);

        if (r < 0) {
                fprintf(stderr, "%s failed: %s\n", full ? "scan" : "rescan", strerror(-r));
                return r;
        }
        topology_free(*prev);
        *prev = t;
        return 0;
}

/* The reads a full scan cannot do without, and nothing else: each
 * group's type and reserved_regions and its devices/ listing, each PCI
 * device's directory listing, modalias and numa_node, without parsing or
 * keeping anything. What a full scan costs beyond this is its own. */
static int read_what_a_scan_must(const char *sys) {
        _cleanup_close_ int sys_fd = sysfs_open_root(sys);
        _cleanup_strv_free_ char **groups = NULL, **pci = NULL;
        char path[512], buf[4096];
        int r;

        if (sys_fd < 0)
                return sys_fd;
        r = sysfs_list_dir(sys_fd, "kernel/iommu_groups", &groups);
        if (r >= 0)
                r = sysfs_list_dir(sys_fd, "bus/pci/devices", &pci);
        if (r < 0)
                return r;
        for (char **g = groups; *g; g++) {
                _cleanup_strv_free_ char **members = NULL;

                snprintf(path, sizeof(path), "kernel/iommu_groups/%s/type", *g);
                (void) sysfs_read_attr(sys_fd, path, buf, sizeof(buf));
                snprintf(path, sizeof(path), "kernel/iommu_groups/%s/reserved_regions", *g);
                (void) sysfs_read_attr(sys_fd, path, buf, sizeof(buf));
                snprintf(path, sizeof(path), "kernel/iommu_groups/%s/devices", *g);
                (void) sysfs_list_dir(sys_fd, path, &members);
        }
        for (char **d = pci; *d; d++) {
                _cleanup_strv_free_ char **entries = NULL;
                _cleanup_free_ unsigned char *types = NULL;
                _cleanup_close_ int dfd = -EBADF;

                snprintf(path, sizeof(path), "bus/pci/devices/%s", *d);
                dfd = openat(sys_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        continue;
                (void) sysfs_list_open_dir(dfd, &entries, &types);
                (void) sysfs_read_attr(dfd, "modalias", buf, sizeof(buf));
                (void) sysfs_read_attr(dfd, "numa_node", buf, sizeof(buf));
        }
        return 0;
}

int main(int argc, char *argv[]) {
        const char *root = argc > 1 ? argv[1] : getenv("SERVER_FIXTURE");
        _cleanup_free_ char *no_counter = NULL;
        int counter;
        static Figures full = { .calls = -1 }, rescan = { .calls = -1 }, must = { .calls = -1 };
        char sys[1024], proc[1024];
        long rss_before, rss_after;
        size_t heap_in_use = 0, groups = 0, devices = 0;
        Topology *prev = NULL;

        if (!root) {
                fprintf(stderr, "usage: bench-topology FIXTURE_ROOT (or set SERVER_FIXTURE)\n");
                return 2;
        }
        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);

        /* The count: a full scan, then a rescan of it. */
        counter = syscall_counter_open(&no_counter);
        if (counter >= 0) {
                uint64_t n0 = syscalls_now(counter);

                /* The counter's own read(2) is counted once each time. */
                if (scan_once(sys, proc, &prev, true) < 0)
                        return 1;
                full.calls = (int64_t) (syscalls_now(counter) - n0) - 1;
                n0 = syscalls_now(counter);
                if (scan_once(sys, proc, &prev, false) < 0)
                        return 1;
                rescan.calls = (int64_t) (syscalls_now(counter) - n0) - 1;
                n0 = syscalls_now(counter);
                if (read_what_a_scan_must(sys) < 0)
                        return 1;
                must.calls = (int64_t) (syscalls_now(counter) - n0) - 1;
                close(counter);
                prev = topology_free(prev);
        }

        rss_before = vm_hwm_kib();
        /* Full scans, rescans and the bare reads alternate, so that the
         * machine's load falls on all alike. */
        for (int i = 0; i < RUNS; i++) {
                for (int kind = 0; kind < 3; kind++) {
                        Figures *f = kind == 0 ? &full : kind == 1 ? &rescan : &must;
                        size_t heap_before = mallinfo2().uordblks;
                        uint64_t w0 = now_monotonic_ns(), c0 = cpu_ns();

                        /* A full scan frees the last rescan's topology
                         * after it is done, as a rescan frees its
                         * previous one. */
                        if (kind == 2 ? read_what_a_scan_must(sys) < 0 : scan_once(sys, proc, &prev, kind == 0) < 0)
                                return 1;
                        f->wall[i] = now_monotonic_ns() - w0;
                        f->cpu[i] = cpu_ns() - c0;
                        if (i == 0 && kind == 0) {
                                /* Nothing was held before the first. */
                                heap_in_use = mallinfo2().uordblks - heap_before;
                                groups = prev->n_groups;
                                devices = prev->n_devices;
                        }
                }
        }
        topology_free(prev);
        rss_after = vm_hwm_kib();

        /* The floor on this machine: what it costs just to read one small
         * file per group (each group's type), for scale. */
        uint64_t floor_ns;
        {
                int fd = sysfs_open_root(sys);
                uint64_t w0 = now_monotonic_ns();
                char path[64], buf[32];

                for (size_t g = 0; g < groups; g++) {
                        snprintf(path, sizeof(path), "kernel/iommu_groups/%zu/type", g);
                        (void) sysfs_read_attr(fd, path, buf, sizeof(buf));
                }
                floor_ns = now_monotonic_ns() - w0;
                close(fd);
        }
        printf("topology scan of %s: %zu groups, %zu devices, %d runs of each (target < 5 ms)\n", root, groups,
               devices, RUNS);
        print_figures("full scan", &full);
        print_figures("rescan   ", &rescan);
        print_figures("the reads a full scan must make, alone", &must);
        printf("    (each group's type, reserved_regions and devices/; each PCI device's directory, modalias and "
               "numa_node: a full scan costs %.2f times their CPU)\n",
               (double) full.cpu[RUNS / 2] / (double) must.cpu[RUNS / 2]);
        if (counter < 0)
                printf("  system calls: not counted: %s\n", no_counter ? no_counter : strerror(-counter));
        printf("  for scale: reading only the %zu type files takes %.3f ms (%.1f us a file); "
               "a full scan costs %.1f times that, a rescan %.1f\n",
               groups, floor_ns / 1e6, floor_ns / 1e3 / (double) groups, (double) full.wall[RUNS / 2] / (double) floor_ns,
               (double) rescan.wall[RUNS / 2] / (double) floor_ns);
        printf("  heap in use holding one topology: %.1f KiB\n", heap_in_use / 1024.0);
        if (rss_after < 0 || rss_before < 0)
                printf("  peak RSS of this process (VmHWM): unknown, /proc/self/status unreadable\n");
        else
                printf("  peak RSS of this process (VmHWM, /proc/self/status): %ld KiB, grown by %ld KiB "
                       "during the scans (target < 2 MiB)\n",
                       rss_after, rss_after - rss_before);
        return 0;
}
