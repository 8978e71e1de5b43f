/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blockstat.h"
#include "sysfs.h"
#include "util.h"

int blockstat_parse(const char *text, BlockStat *ret) {
        uint64_t v[17] = {};
        unsigned n = 0;
        const char *p = text;

        if (!text)
                return -EINVAL;
        for (;;) {
                uint64_t x = 0;
                const char *start;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (*p == '\0' || *p == '\n')
                        break;
                start = p;
                while (isdigit((unsigned char) *p)) {
                        unsigned d = (unsigned) (*p - '0');

                        if (x > (UINT64_MAX - d) / 10)
                                return -EBADMSG;
                        x = x * 10 + d;
                        p++;
                }
                if (p == start || !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\0'))
                        return -EBADMSG;
                if (n < ELEMENTSOF(v))
                        v[n] = x;
                n++;
        }
        /* One line only. */
        if (*p == '\n' && p[1] != '\0')
                return -EBADMSG;
        if (n < 11)
                return -EBADMSG;
        *ret = (BlockStat) {
                .read_ios = v[0], .read_merges = v[1], .read_sectors = v[2], .read_ticks_ms = v[3],
                .write_ios = v[4], .write_merges = v[5], .write_sectors = v[6],
                .write_ticks_ms = v[7], .in_flight = v[8], .io_ticks_ms = v[9],
                .time_in_queue_ms = v[10], .discard_ios = v[11], .discard_merges = v[12],
                .discard_sectors = v[13], .discard_ticks_ms = v[14], .flush_ios = v[15],
                .flush_ticks_ms = v[16], .n_fields = n,
        };
        return 0;
}

int blockstat_read(int sysfs_fd, const char *dev, BlockStat *ret) {
        char path[300], buf[512];
        int r;

        if (isempty(dev) || strchr(dev, '/') || streq(dev, ".") || streq(dev, ".."))
                return -EINVAL;
        if (snprintf(path, sizeof(path), "block/%s/stat", dev) >= (int) sizeof(path))
                return -EINVAL;
        r = sysfs_read_attr(sysfs_fd, path, buf, sizeof(buf));
        if (r < 0)
                return r == -ENODATA ? -EBADMSG : r;
        return blockstat_parse(buf, ret);
}

static uint64_t counter_delta(uint64_t prev, uint64_t cur) {
        return cur >= prev ? cur - prev : cur;
}

static uint64_t ms_delta(uint64_t prev, uint64_t cur) {
        return (uint32_t) ((uint32_t) cur - (uint32_t) prev);
}

void blockstat_rate(const BlockStat *prev, const BlockStat *cur, uint64_t interval_ns,
                    BlockRate *ret) {
        BlockRate r = {};
        /* A device that was re-created starts all its counters again; once
         * one I/O counter went down, take every counter from zero so the
         * figures stay consistent with each other. */
        bool reset = cur->read_ios < prev->read_ios || cur->write_ios < prev->write_ios ||
                     cur->read_sectors < prev->read_sectors ||
                     cur->write_sectors < prev->write_sectors;
        const BlockStat zero = {};

        if (reset)
                prev = &zero;
        r.read_ios = counter_delta(prev->read_ios, cur->read_ios);
        r.write_ios = counter_delta(prev->write_ios, cur->write_ios);
        r.discard_ios = counter_delta(prev->discard_ios, cur->discard_ios);
        r.flush_ios = counter_delta(prev->flush_ios, cur->flush_ios);
        r.read_bytes = counter_delta(prev->read_sectors, cur->read_sectors) * BLOCKSTAT_SECTOR_SIZE;
        r.write_bytes = counter_delta(prev->write_sectors, cur->write_sectors) * BLOCKSTAT_SECTOR_SIZE;
        r.discard_bytes =
                counter_delta(prev->discard_sectors, cur->discard_sectors) * BLOCKSTAT_SECTOR_SIZE;
        r.io_ms = reset ? cur->io_ticks_ms : ms_delta(prev->io_ticks_ms, cur->io_ticks_ms);
        if (interval_ns > 0) {
                double s = (double) interval_ns / 1e9;

                r.read_iops = (double) r.read_ios / s;
                r.write_iops = (double) r.write_ios / s;
                r.read_bytes_per_s = (double) r.read_bytes / s;
                r.write_bytes_per_s = (double) r.write_bytes / s;
                r.busy = (double) r.io_ms * 1e6 / (double) interval_ns;
                if (r.busy > 1.0)
                        r.busy = 1.0;
        }
        *ret = r;
}

void blockrate_add(BlockRate *acc, const BlockRate *b) {
        acc->read_ios += b->read_ios;
        acc->write_ios += b->write_ios;
        acc->discard_ios += b->discard_ios;
        acc->flush_ios += b->flush_ios;
        acc->read_bytes += b->read_bytes;
        acc->write_bytes += b->write_bytes;
        acc->discard_bytes += b->discard_bytes;
        if (b->io_ms > acc->io_ms)
                acc->io_ms = b->io_ms;
        acc->read_iops += b->read_iops;
        acc->write_iops += b->write_iops;
        acc->read_bytes_per_s += b->read_bytes_per_s;
        acc->write_bytes_per_s += b->write_bytes_per_s;
        if (b->busy > acc->busy)
                acc->busy = b->busy;
}
