/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dmar_perf_latency: files written in the kernel's format
 * (tests/fixtures/debugfs; the legacy tree's dmar0 row is the one the 6.1
 * test bed printed), cost estimates from them, trees without debugfs, and
 * the enable/disable writes against temporary files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dmar-latency.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static int open_root(const char *sub) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/debugfs/%s/sys", fixtures_dir(), sub);
        return sysfs_open_root(path);
}

static void test_parse(void) {
        _cleanup_close_ int fd = open_root("legacy");
        _cleanup_free_ char *reason = NULL;
        DmarLatency l;
        const DmarLatencyStat *s;

        CHECK_INT(dmar_latency_read(fd, &l, &reason), 0, "legacy tree");
        CHECK_INT(l.n_units, 3, "three units");
        s = &l.units[0].stat[DMAR_LATENCY_INV_IOTLB];
        CHECK(streq(l.units[0].name, "dmar0") && s->present, "dmar0 times IOTLB invalidations");
        CHECK(s->buckets[2] == 111 && s->buckets[3] == 1 && s->buckets[4] == 1 && s->samples == 113,
              "the 6.1 row: 111 + 1 + 1 samples");
        CHECK(s->min_us == 1 && s->max_us == 107 && s->avg_us == 3, "min 1, max 107, average 3 us");
        CHECK(!l.units[0].stat[DMAR_LATENCY_INV_DEVTLB].present, "dmar0: no device-TLB row");
        CHECK(l.units[1].stat[DMAR_LATENCY_INV_DEVTLB].present &&
                      l.units[1].stat[DMAR_LATENCY_INV_DEVTLB].samples == 5,
              "dmar1 times device-TLB invalidations too");
        CHECK(streq(l.units[2].name, "dmar2") && !l.units[2].stat[DMAR_LATENCY_INV_IOTLB].present,
              "dmar2: header only, timing off");
        dmar_latency_done(&l);

        _cleanup_close_ int sfd = open_root("scalable");
        CHECK_INT(dmar_latency_read(sfd, &l, NULL), 0, "scalable tree");
        CHECK(l.n_units == 2 && l.units[1].failed, "failed snapshot noted");
        CHECK(l.units[0].stat[DMAR_LATENCY_INV_IOTLB].present &&
                      l.units[0].stat[DMAR_LATENCY_INV_IOTLB].samples == 0,
              "enabled, nothing timed");
        dmar_latency_done(&l);

        CHECK_INT(dmar_latency_parse("   inv_iotlb 0 0 0 0 0 0 0 0 0 0\n", &l), -EBADMSG, "row before a unit");
        CHECK_INT(dmar_latency_parse("IOMMU: dmar0 Register Base Address: fed90000\n"
                                     "   inv_iotlb 0 0 0 0 0 0 0 0 0\n",
                                     &l),
                  -EBADMSG, "nine values");
        CHECK_INT(dmar_latency_parse("IOMMU: dmar0 Register Base Address: fed90000\n"
                                     "   inv_iotlb 0 0 0 0 0 0 0 0 0 0 0\n",
                                     &l),
                  -EBADMSG, "eleven values");
        CHECK_INT(dmar_latency_parse("IOMMU: dmar0 Register Base Address: fed90000\n"
                                     "   inv_other 0 0 0 0 0 0 0 0 0 0\n",
                                     &l),
                  -EBADMSG, "unknown type");
        CHECK_INT(dmar_latency_parse("IOMMU: dmar0 Register Base Address: fed90000\n"
                                     "   inv_iotlb 0 0 0 0 0 0 0 0 0 x\n",
                                     &l),
                  -EBADMSG, "not a number");
        CHECK(dmar_latency_parse("", &l) == 0 && l.n_units == 0, "empty: no units");
}

static void test_cost(void) {
        _cleanup_close_ int fd = open_root("legacy");
        DmarLatency l, later;
        DmarCost c;

        CHECK_INT(dmar_latency_read(fd, &l, NULL), 0, "read");
        /* 113 samples, average printed as 3 us: the mean is in [3000, 4000)
         * ns (bounds rounded outwards); the histogram alone would allow
         * 1955 .. 11663. */
        CHECK_INT(dmar_latency_iotlb_cost(&l, "dmar0", &c), 0, "dmar0 cost");
        CHECK(c.low_ns == 3000 && c.high_ns == 4000 && c.ns == 3500 && c.samples == 113,
              "dmar0: 3000-4000 ns (got %llu-%llu)", (unsigned long long) c.low_ns,
              (unsigned long long) c.high_ns);
        CHECK_STR(c.source,
                  "debugfs dmar_perf_latency dmar0: 113 timed IOTLB invalidation submissions, "
                  "mean 3000-4000 ns",
                  "source");
        /* Average 0 us, but 4000 of 4032 samples took at least 100 ns. */
        CHECK_INT(dmar_latency_iotlb_cost(&l, "dmar1", &c), 0, "dmar1 cost");
        CHECK(c.low_ns == 104 && c.high_ns == 1000, "dmar1: histogram raises the floor (%llu-%llu)",
              (unsigned long long) c.low_ns, (unsigned long long) c.high_ns);
        CHECK_INT(dmar_latency_iotlb_cost(&l, NULL, &c), 0, "all units");
        CHECK(c.samples == 4145 && c.low_ns == 183 && c.high_ns == 1082, "sample-weighted (%llu-%llu)",
              (unsigned long long) c.low_ns, (unsigned long long) c.high_ns);
        CHECK_INT(dmar_latency_iotlb_cost(&l, "dmar2", &c), -ENODATA, "timing off");
        CHECK_INT(dmar_latency_iotlb_cost(&l, "dmar9", &c), -ENOENT, "no such unit");

        /* 100 more invalidations on dmar0, all 1-10 us, average still 3. */
        CHECK_INT(dmar_latency_parse("IOMMU: dmar0 Register Base Address: fed90000\n"
                                     "                  <0.1us   0.1us-1us    1us-10us  10us-100us   "
                                     "100us-1ms    1ms-10ms      >=10ms     min(us)     max(us) average(us)\n"
                                     "   inv_iotlb           0           0         211           1"
                                     "           1           0           0           1         107           3\n",
                                     &later),
                  0, "a later read");
        CHECK_INT(dmar_latency_iotlb_cost_between(&l, &later, "dmar0", &c), 0, "interval cost");
        CHECK(c.samples == 100 && c.low_ns == 1870 && c.high_ns == 5130,
              "interval: 1870-5130 ns (got %llu-%llu)", (unsigned long long) c.low_ns,
              (unsigned long long) c.high_ns);
        CHECK_INT(dmar_latency_iotlb_cost_between(&later, &later, "dmar0", &c), -ENODATA,
                  "nothing new");
        /* Re-enabled: counts went down, the later read counts from zero. */
        CHECK_INT(dmar_latency_iotlb_cost_between(&later, &l, "dmar0", &c), 0, "after a reset");
        CHECK(c.samples == 113 && c.low_ns == 3000, "reset: all of the later read");
        dmar_latency_done(&later);

        _cleanup_close_ int sfd = open_root("scalable");
        DmarLatency empty;
        dmar_latency_read(sfd, &empty, NULL);
        CHECK_INT(dmar_latency_iotlb_cost(&empty, NULL, &c), -ENODATA, "enabled, nothing timed yet");
        dmar_latency_done(&empty);
        dmar_latency_done(&l);
}

static void test_missing(void) {
        _cleanup_close_ int a = open_root("nodebugfs"), b = open_root("nointel");
        _cleanup_free_ char *reason = NULL;
        DmarLatency l;

        CHECK_INT(dmar_latency_read(a, &l, &reason), -ENOENT, "no debugfs");
        CHECK(reason && strstr(reason, "not mounted"), "reason: %s", strna(reason));
        free(TAKE_PTR(reason));
        CHECK_INT(dmar_latency_read(b, &l, &reason), -ENOENT, "no VT-d debugfs");
        CHECK(reason && strstr(reason, "CONFIG_INTEL_IOMMU_DEBUGFS"), "reason: %s", strna(reason));
        free(TAKE_PTR(reason));
        {
                SwitchContext ctx;

                switch_context_init(&ctx, a, -EBADF);
                CHECK_INT(dmar_latency_enable(&ctx, true, &reason), -ENOENT, "enable without debugfs");
        }
        CHECK(reason != NULL, "with a reason");
}

/* What the writer's hook saw. */
static unsigned hook_steps;
static char hook_path[256], hook_value[16];
static KernelWriteKind hook_kind;

static int record_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path, const char *value) {
        hook_steps = step;
        hook_kind = kind;
        snprintf(hook_path, sizeof(hook_path), "%s", path);
        snprintf(hook_value, sizeof(hook_value), "%s", value ? value : "");
        return 0; /* let it happen */
}

static void test_writes(void) {
        char root[] = "/tmp/test-dmar-latency.XXXXXX", path[256], buf[64];
        _cleanup_free_ char *reason = NULL;
        _cleanup_close_ int fd = -EBADF;
        SwitchContext ctx;
        int r;

        if (!mkdtemp(root)) {
                CHECK(false, "mkdtemp");
                return;
        }
        snprintf(path, sizeof(path), "%s/kernel", root);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/kernel/debug", root);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/kernel/debug/iommu", root);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/kernel/debug/iommu/intel", root);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/kernel/debug/iommu/intel/dmar_perf_latency", root);
        fd = sysfs_open_root(root);
        switch_context_init(&ctx, fd, -EBADF);

        /* The configuration says no: nothing is written. */
        CHECK_INT(dmar_latency_enable(&ctx, false, &reason), -EPERM, "not allowed");
        CHECK(reason && strstr(reason, "configuration"), "reason: %s", strna(reason));
        free(TAKE_PTR(reason));
        CHECK(sysfs_exists(fd, "kernel/debug/iommu/intel/dmar_perf_latency") == 0, "nothing written");

        /* A kernel that takes the write and shows nothing (no CONFIG_DMAR_PERF):
         * /dev/null takes writes and reads empty. */
        CHECK(symlink("/dev/null", path) == 0, "control file -> /dev/null");
        r = dmar_latency_enable(&ctx, true, &reason);
        CHECK(r == -EOPNOTSUPP && reason && strstr(reason, "times nothing"), "enable: %d %s", r,
              strna(reason));
        free(TAKE_PTR(reason));
        unlink(path);

        /* disable writes 0. */
        close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        CHECK_INT(dmar_latency_disable(&ctx, &reason), 0, "disable");
        CHECK(sysfs_read_attr(fd, "kernel/debug/iommu/intel/dmar_perf_latency", buf, sizeof(buf)) == 1 &&
                      streq(buf, "0"),
              "0 written");

        /* The write is a step of the writer (kernel-write.h): its hook sees
         * it, and its test hooks can fail it, nothing written then. */
        switch_context_init(&ctx, fd, -EBADF);
        ctx.hook = record_hook;
        CHECK_INT(dmar_latency_disable(&ctx, &reason), 0, "disable through the writer");
        CHECK(hook_steps == 1 && hook_kind == KERNEL_WRITE_ATTR &&
                      streq(hook_path, "kernel/debug/iommu/intel/dmar_perf_latency") && streq(hook_value, "0"),
              "the writer's hook saw step 1: write 0 to the debugfs file (step %u, %s <- %s)", hook_steps,
              hook_path, hook_value);
        switch_context_init(&ctx, fd, -EBADF);
        ctx.fail_at_step = 1;
        ctx.fail_errno = EACCES;
        close(open(path, O_WRONLY | O_TRUNC | O_CLOEXEC));
        r = dmar_latency_enable(&ctx, true, &reason);
        CHECK(r == -EACCES && reason && strstr(reason, "root only"), "a step failed by the writer's test hook: "
              "-EACCES, explained: %d %s", r, strna(reason));
        free(TAKE_PTR(reason));
        CHECK(sysfs_read_attr(fd, "kernel/debug/iommu/intel/dmar_perf_latency", buf, sizeof(buf)) == -ENODATA,
              "and nothing was written");
        unlink(path);
        for (int i = 0; i < 4; i++) {
                *strrchr(path, '/') = '\0';
                rmdir(path);
        }
        rmdir(root);
}

int main(void) {
        test_parse();
        test_cost();
        test_missing();
        test_writes();
        return tap_done();
}
