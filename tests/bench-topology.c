/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One full topology scan of the generated 300-group server fixture: wall
 * time, CPU time, peak RSS and heap in use. Prints figures; asserts nothing.
 * The peak RSS is VmHWM from /proc/self/status, which exec resets: the
 * getrusage() ru_maxrss of Linux carries the parent's high-water mark
 * across exec (under meson, ~29 MiB of meson's own), so it is not used.
 * Usage: bench-topology [FIXTURE_ROOT] (default $SERVER_FIXTURE)
 * Targets (issue 2): under 5 ms and 2 MiB per scan.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

int main(int argc, char *argv[]) {
        const char *root = argc > 1 ? argv[1] : getenv("SERVER_FIXTURE");
        uint64_t wall[RUNS], cpu[RUNS];
        char sys[1024], proc[1024];
        long rss_before, rss_after;
        size_t heap_in_use = 0, groups = 0, devices = 0;

        if (!root) {
                fprintf(stderr, "usage: bench-topology FIXTURE_ROOT (or set SERVER_FIXTURE)\n");
                return 2;
        }
        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);

        rss_before = vm_hwm_kib();
        for (int i = 0; i < RUNS; i++) {
                Topology *t = NULL;
                uint64_t w0 = now_monotonic_ns(), c0 = cpu_ns();
                int r = topology_scan(sys, proc, &t);

                wall[i] = now_monotonic_ns() - w0;
                cpu[i] = cpu_ns() - c0;
                if (r < 0) {
                        fprintf(stderr, "scan failed: %s\n", strerror(-r));
                        return 1;
                }
                if (i == 0) {
                        struct mallinfo2 mi = mallinfo2();

                        heap_in_use = mi.uordblks;
                        groups = t->n_groups;
                        devices = t->n_devices;
                }
                topology_free(t);
        }
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
        qsort(wall, RUNS, sizeof(wall[0]), cmp_u64);
        qsort(cpu, RUNS, sizeof(cpu[0]), cmp_u64);

        printf("topology scan of %s: %zu groups, %zu devices, %d runs\n", root, groups, devices, RUNS);
        printf("  wall time per scan: median %.3f ms, max %.3f ms (target < 5 ms)\n", wall[RUNS / 2] / 1e6,
               wall[RUNS - 1] / 1e6);
        printf("  CPU time per scan:  median %.3f ms\n", cpu[RUNS / 2] / 1e6);
        printf("  for scale: reading only the %zu type files takes %.3f ms (%.1f us a file); "
               "the full scan costs %.1f times that\n",
               groups, floor_ns / 1e6, floor_ns / 1e3 / (double) groups, (double) wall[RUNS / 2] / (double) floor_ns);
        printf("  heap in use holding one topology: %.1f KiB\n", heap_in_use / 1024.0);
        if (rss_after < 0 || rss_before < 0)
                printf("  peak RSS of this process (VmHWM): unknown, /proc/self/status unreadable\n");
        else
                printf("  peak RSS of this process (VmHWM, /proc/self/status): %ld KiB, grown by %ld KiB "
                       "during the scans (target < 2 MiB)\n",
                       rss_after, rss_after - rss_before);
        return 0;
}
