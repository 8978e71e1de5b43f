/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The invalidation-cost sampler: the configured figure wins, a machine
 * without VT-d debugfs says why nothing is measured, a failed start says
 * why, a timed table (tests/fixtures/debugfs/legacy) gives the measured
 * mean, and stop writes 0 only when the sampler switched the timing on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "invalidation-cost.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static int open_root(const char *sub) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/debugfs/%s/sys", fixtures_dir(), sub);
        return sysfs_open_root(path);
}

static bool source_is(const InvalidationCost *c, const char *prefix) {
        return strncmp(invalidation_cost_source(c), prefix, strlen(prefix)) == 0;
}

static void test_start(void) {
        _cleanup_close_ int none = open_root("nodebugfs");
        InvalidationCost c = {};

        CHECK_INT(invalidation_cost_start(&c, none, 250, true), 0, "configured: no timing");
        CHECK_STR(invalidation_cost_source(&c), "configured: flush_cost_ns = 250", "configured: source");
        CHECK_U64(invalidation_cost_ns(&c, 250), 250, "configured: the configured figure");

        c = (InvalidationCost) {};
        CHECK_INT(invalidation_cost_start(&c, none, 0, false), 0, "not measurable: no timing");
        CHECK(source_is(&c, "unknown: flush_cost_ns = 0 and no VT-d debugfs"),
              "not measurable: says why (%s)", invalidation_cost_source(&c));
        CHECK_U64(invalidation_cost_ns(&c, 0), 0, "not measurable: unknown, 0");

        c = (InvalidationCost) {};
        CHECK_INT(invalidation_cost_start(&c, none, 0, true), 0, "no debugfs: the start fails");
        CHECK(source_is(&c, "unknown: timing IOTLB invalidations failed: "),
              "failed start: says why (%s)", invalidation_cost_source(&c));
        invalidation_cost_sample(&c, none);
        CHECK_U64(invalidation_cost_ns(&c, 0), 0, "failed start: nothing sampled");
}

static void test_sample(void) {
        _cleanup_close_ int fd = open_root("legacy");
        /* As after a start on a kernel that times (a plain file cannot). */
        InvalidationCost c = { .timing = true };

        invalidation_cost_sample(&c, fd);
        CHECK(source_is(&c, "measured: debugfs dmar_perf_latency"), "measured: %s",
              invalidation_cost_source(&c));
        CHECK(invalidation_cost_ns(&c, 0) > 0, "the measured mean is the cost");
        CHECK_U64(invalidation_cost_ns(&c, 123), 123, "a configured figure still wins");
}

static void test_stop(void) {
        char root[] = "/tmp/test-invalidation-cost.XXXXXX", path[256], buf[64];
        static const char *const dirs[] = { "kernel", "kernel/debug", "kernel/debug/iommu", "kernel/debug/iommu/intel" };
        _cleanup_close_ int fd = -EBADF;
        InvalidationCost c = {};

        if (!mkdtemp(root)) {
                CHECK(false, "mkdtemp");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                mkdir(path, 0755);
        }
        snprintf(path, sizeof(path), "%s/kernel/debug/iommu/intel/dmar_perf_latency", root);
        fd = sysfs_open_root(root);

        invalidation_cost_stop(&c, fd);
        CHECK(sysfs_exists(fd, "kernel/debug/iommu/intel/dmar_perf_latency") == 0,
              "not switched on here: stop writes nothing");
        close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        c.timing = true;
        invalidation_cost_stop(&c, fd);
        CHECK(sysfs_read_attr(fd, "kernel/debug/iommu/intel/dmar_perf_latency", buf, sizeof(buf)) == 1 &&
                      streq(buf, "0"),
              "switched on here: stop writes 0");
        unlink(path);
        invalidation_cost_stop(&c, fd);
        CHECK(sysfs_exists(fd, "kernel/debug/iommu/intel/dmar_perf_latency") == 0, "and only once");
        for (size_t i = ELEMENTSOF(dirs); i > 0; i--) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i - 1]);
                rmdir(path);
        }
        rmdir(root);
}

int main(void) {
        test_start();
        test_sample();
        test_stop();
        return tap_done();
}
