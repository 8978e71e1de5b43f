/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block device statistics: the stat files captured from the QEMU test bed
 * (6.1, 17 fields), older kernels' 11 and 15 field files and broken ones in
 * tests/fixtures/blockstat, and rates between samples built here.
 */
#include <errno.h>
#include <stdlib.h>

#include "blockstat.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static int open_root(const char *sub) {
        char path[1024];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", fixtures_dir(), sub);
        fd = sysfs_open_root(path);
        CHECK(fd >= 0, "open %s", path);
        return fd;
}

/* The captures from the QEMU test bed are re-taken as it changes: check
 * what every 6.1 stat file must satisfy, not its numbers. */
static void test_qemu_capture(void) {
        static const char *const captures[] = { "qemu-vtd", "qemu-vtd-cm", "qemu-amd", "qemu-smmuv3" };

        for (size_t i = 0; i < ELEMENTSOF(captures); i++) {
                char sub[1024];
                _cleanup_close_ int fd = -EBADF;
                BlockStat s;

                snprintf(sub, sizeof(sub), "%s/%s/sys", fixtures_dir(), captures[i]);
                if (access(sub, F_OK) < 0) {
                        tap_diag("no capture %s", captures[i]);
                        continue;
                }
                snprintf(sub, sizeof(sub), "%s/sys", captures[i]);
                fd = open_root(sub);
                CHECK_INT(blockstat_read(fd, "nvme0n1", &s), 0, "capture nvme0n1");
                CHECK(s.n_fields == 17, "%s: 6.1 prints 17 fields (%u)", captures[i], s.n_fields);
                /* The partition scan at boot read the disk. */
                CHECK(s.read_ios > 0 && s.read_sectors >= s.read_ios && s.in_flight == 0,
                      "%s: nvme0n1 was read", captures[i]);
                CHECK_INT(blockstat_read(fd, "vda", &s), 0, "capture vda");
                CHECK_INT(s.n_fields, 17, "vda 17 fields");
                CHECK_INT(blockstat_read(fd, "sdz", &s), -ENOENT, "no such device");
                CHECK_INT(blockstat_read(fd, "../block/vda", &s), -EINVAL, "a path is no name");
                CHECK_INT(blockstat_read(fd, "..", &s), -EINVAL, "dot name");
                CHECK_INT(blockstat_read(fd, "", &s), -EINVAL, "empty name");
        }
}

static void test_formats(void) {
        _cleanup_close_ int fd = open_root("blockstat/sys");
        BlockStat s;

        CHECK_INT(blockstat_read(fd, "sda", &s), 0, "11 fields (before 4.18)");
        CHECK(s.n_fields == 11 && s.read_ios == 123456 && s.write_sectors == 12345678 &&
                      s.time_in_queue_ms == 195000 && s.discard_ios == 0 && s.flush_ios == 0,
              "11 fields decoded, the rest 0");
        CHECK_INT(blockstat_read(fd, "vdb", &s), 0, "15 fields (4.18 .. 5.4)");
        CHECK(s.n_fields == 15 && s.discard_ios == 7 && s.discard_sectors == 81920 &&
                      s.discard_ticks_ms == 3 && s.in_flight == 2,
              "15 fields decoded");
        CHECK_INT(blockstat_read(fd, "broken", &s), -EBADMSG, "not a number");
        CHECK_INT(blockstat_read(fd, "short", &s), -EBADMSG, "10 fields");
        CHECK_INT(blockstat_read(fd, "empty", &s), -EBADMSG, "empty file");
        CHECK_INT(blockstat_read(fd, "twolines", &s), -EBADMSG, "two lines");

        CHECK_INT(blockstat_parse("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n", &s), 0,
                  "19 fields: a later kernel");
        CHECK(s.n_fields == 19 && s.flush_ticks_ms == 17, "fields past 17 ignored");
        CHECK_INT(blockstat_parse("1 2 3 4 5 6 7 8 9 10 -11\n", &s), -EBADMSG, "negative");
        CHECK_INT(blockstat_parse("1 2 3 4 5 6 7 8 9 10 99999999999999999999999", &s), -EBADMSG,
                  "overflow");
        CHECK_INT(blockstat_parse(NULL, &s), -EINVAL, "NULL");
}

static void test_rates(void) {
        BlockStat a, b;
        BlockRate r, acc = {};

        /* 2 s apart: 1000 reads of 4 KiB, 500 writes of 64 KiB, busy 1.5 s. */
        blockstat_parse("100 0 800 5 10 0 1280 3 0 4000 9 0 0 0 0 2 1", &a);
        blockstat_parse("1100 0 8800 50 510 0 65280 40 1 5500 100 4 0 2048 1 12 3", &b);
        blockstat_rate(&a, &b, 2 * UINT64_C(1000000000), &r);
        CHECK(r.read_ios == 1000 && r.write_ios == 500 && r.discard_ios == 4 && r.flush_ios == 10,
              "I/O counts");
        CHECK_U64(r.read_bytes, 1000 * 4096, "read bytes: sectors of 512");
        CHECK_U64(r.write_bytes, 500 * 65536, "write bytes");
        CHECK_U64(r.discard_bytes, 2048 * 512, "discard bytes");
        CHECK(r.read_iops == 500.0 && r.write_iops == 250.0, "IOPS");
        CHECK(r.read_bytes_per_s == 2048000.0, "read bytes/s");
        CHECK(r.busy > 0.749 && r.busy < 0.751, "busy 0.75 (got %f)", r.busy);

        blockrate_add(&acc, &r);
        blockrate_add(&acc, &r);
        CHECK(acc.read_ios == 2000 && acc.read_iops == 1000.0 && acc.busy == r.busy,
              "adding sums counts, keeps the larger busy");

        /* io_ticks wrapped at 2^32 ms. */
        blockstat_parse("100 0 800 5 10 0 1280 3 0 4294967000 9", &a);
        blockstat_parse("100 0 800 5 10 0 1280 3 0 704 9", &b);
        blockstat_rate(&a, &b, UINT64_C(1000000000), &r);
        CHECK_U64(r.io_ms, 1000, "io_ticks across the 32-bit wrap");
        CHECK(r.busy == 1.0, "busy at most 1");

        /* Device re-created: counters start again. */
        blockstat_parse("100000 0 800000 5 10 0 1280 3 0 4000 9", &a);
        blockstat_parse("20 0 160 1 2 0 16 1 0 30 2", &b);
        blockstat_rate(&a, &b, 0, &r);
        CHECK(r.read_ios == 20 && r.write_ios == 2 && r.read_bytes == 160 * 512 && r.io_ms == 30,
              "reset counts from zero");
        CHECK(r.read_iops == 0 && r.busy == 0, "zero interval: no rates");
}

int main(void) {
        test_qemu_capture();
        test_formats();
        test_rates();
        return tap_done();
}
