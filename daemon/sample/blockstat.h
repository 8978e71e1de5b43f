/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Block device I/O counts from sysfs <root>/block/<dev>/stat and rates
 * between two samples.
 *
 * The file (block/genhd.c, part_stat_show(); Documentation/block/stat.rst)
 * is one line of counters. v6.1 prints 17:
 *
 *    1 read I/Os          5 write I/Os        9 in flight        12 discard I/Os     16 flush I/Os
 *    2 read merges        6 write merges     10 io_ticks (ms)    13 discard merges   17 flush ticks (ms)
 *    3 read sectors       7 write sectors    11 time in queue    14 discard sectors
 *    4 read ticks (ms)    8 write ticks (ms)    (ms)             15 discard ticks (ms)
 *
 * Kernels before 4.18 print the first 11, 4.18 to 5.4 the first 15.
 * Sectors are always 512 bytes, whatever the device's block size. I/O,
 * merge and sector counts are unsigned long; the millisecond fields are
 * 32-bit and wrap (about every 49 days of busy time).
 *
 * Deltas: a millisecond field is taken modulo 2^32; any other counter that
 * went down means the device was removed and re-created under the same
 * name, and counts from zero.
 */

#include <stddef.h>
#include <stdint.h>

#define BLOCKSTAT_SECTOR_SIZE 512u

typedef struct BlockStat {
        uint64_t read_ios, read_merges, read_sectors, read_ticks_ms;
        uint64_t write_ios, write_merges, write_sectors, write_ticks_ms;
        uint64_t in_flight, io_ticks_ms, time_in_queue_ms;
        uint64_t discard_ios, discard_merges, discard_sectors, discard_ticks_ms;
        uint64_t flush_ios, flush_ticks_ms;
        unsigned n_fields;           /* fields the kernel printed: 11, 15, 17 (or more) */
} BlockStat;

/* Parses the text of a stat file. Fewer than 11 fields, or anything that is
 * not a decimal number, is -EBADMSG. Fields past the 17th (a later kernel)
 * are accepted and ignored. */
int blockstat_parse(const char *text, BlockStat *ret);

/* Reads block/<dev>/stat under an open sysfs root. dev is a kernel block
 * device name ("nvme0n1", "vda"); one with '/' or a dot name is -EINVAL.
 * -ENOENT when there is no such device. */
int blockstat_read(int sysfs_fd, const char *dev, BlockStat *ret);

typedef struct BlockRate {
        uint64_t read_ios, write_ios, discard_ios, flush_ios;   /* between the samples */
        uint64_t read_bytes, write_bytes, discard_bytes;
        uint64_t io_ms;              /* time with I/O in flight */
        double read_iops, write_iops;
        double read_bytes_per_s, write_bytes_per_s;
        double busy;                 /* io_ms / interval, at most 1.0 */
} BlockRate;

/* The I/O of one device between two samples interval_ns apart; the per
 * second values are 0 when the interval is 0. */
void blockstat_rate(const BlockStat *prev, const BlockStat *cur, uint64_t interval_ns,
                    BlockRate *ret);
/* Adds b to acc, for a device with several block devices; io_ms and busy
 * take the larger of the two (the block devices work in parallel). */
void blockrate_add(BlockRate *acc, const BlockRate *b);
