/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dma-load: O_DIRECT block I/O to drive DMA maps and unmaps through the
 * IOMMU of the guest's disk controller.
 *
 *   dma-load -d /dev/nvme0n1 [-b SIZE] [-n OPS | -t SECONDS] [-r OPS_PER_SEC] [-w] [-H]
 *
 * Each operation is one pread()/pwrite() of SIZE bytes (default 64K; K, M
 * and G suffixes) at consecutive offsets, wrapping at the device's end. The
 * buffer is mmap()ed; with -H it is backed by 2 MiB huge pages
 * (MAP_HUGETLB) and starts on a huge page, so a 3 MiB transfer covers one
 * whole huge page and half of the next. When no huge page can be had, -H
 * falls back to normal pages and says so (huge=0 in the result line); -HH
 * makes that an error.
 *
 * With -r the operations are paced to at most that many a second (a disk
 * that trickles while another is busy).
 *
 * Prints one line: "dma-load: op=read bs=N ops=N bytes=N secs=S MBps=R huge=0|1".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HUGE_2M (2UL << 20)

static int parse_size(const char *s, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: dma-load -d DEVICE [-b SIZE] [-n OPS | -t SECONDS] [-r OPS_PER_SEC] [-w] [-H[H]]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *dev = NULL;
	unsigned long long bs = 64 << 10, ops = 0, seconds = 0, devsize = 0;
	unsigned long long done = 0, off = 0, rate = 0;
	bool do_write = false, huge_ok = false;
	int huge = 0, opt, fd;
	size_t maplen;
	void *buf = MAP_FAILED;
	double t0, t1;

	while ((opt = getopt(argc, argv, "d:b:n:t:r:wH")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'b': if (parse_size(optarg, &bs) < 0) usage(); break;
		case 'n': if (parse_size(optarg, &ops) < 0) usage(); break;
		case 't': if (parse_size(optarg, &seconds) < 0) usage(); break;
		case 'r': if (parse_size(optarg, &rate) < 0 || !rate) usage(); break;
		case 'w': do_write = true; break;
		case 'H': huge++; break;
		default: usage();
		}
	}
	if (!dev || optind != argc || bs == 0 || bs % 4096 || (!ops && !seconds) ||
	    (ops && seconds))
		usage();

	fd = open(dev, (do_write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "dma-load: open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (ioctl(fd, BLKGETSIZE64, &devsize) < 0 || devsize < bs) {
		fprintf(stderr, "dma-load: %s: size %llu unusable for %llu-byte transfers\n",
			dev, devsize, bs);
		return 1;
	}

	maplen = (bs + HUGE_2M - 1) & ~(HUGE_2M - 1);
	if (huge) {
		buf = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (buf == MAP_FAILED) {
			fprintf(stderr, "dma-load: MAP_HUGETLB of %zu bytes failed (%s)%s\n",
				maplen, strerror(errno),
				huge > 1 ? "" : ": falling back to normal pages");
			if (huge > 1)
				return 1;
		} else {
			huge_ok = true;
		}
	}
	if (buf == MAP_FAILED) {
		buf = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED) {
			fprintf(stderr, "dma-load: mmap %zu bytes: %s\n", maplen, strerror(errno));
			return 1;
		}
	}
	memset(buf, 0x5a, maplen); /* fault every page in before timing */

	t0 = now();
	for (;;) {
		ssize_t n;

		if (ops ? done >= ops : now() - t0 >= (double)seconds)
			break;
		if (off + bs > devsize)
			off = 0;
		if (rate) {
			double due = t0 + (double)done / (double)rate, t = now();

			if (due > t) {
				struct timespec ts = { (time_t)(due - t), (long)(((due - t) - (time_t)(due - t)) * 1e9) };

				nanosleep(&ts, NULL);
				continue;
			}
		}
		n = do_write ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);
		if (n != (ssize_t)bs) {
			fprintf(stderr, "dma-load: %s at %llu on %s: %s\n",
				do_write ? "pwrite" : "pread", off, dev,
				n < 0 ? strerror(errno) : "short transfer");
			return 1;
		}
		off += bs;
		done++;
	}
	if (do_write && fsync(fd) < 0) {
		fprintf(stderr, "dma-load: fsync %s: %s\n", dev, strerror(errno));
		return 1;
	}
	t1 = now();
	printf("dma-load: op=%s bs=%llu ops=%llu bytes=%llu secs=%.3f MBps=%.1f huge=%d\n",
	       do_write ? "write" : "read", bs, done, done * bs, t1 - t0,
	       t1 > t0 ? done * bs / (t1 - t0) / 1e6 : 0.0, huge_ok);
	close(fd);
	return 0;
}
