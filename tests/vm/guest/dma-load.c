/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dma-load: O_DIRECT block I/O to drive DMA maps and unmaps through the
 * IOMMU of the guest's disk controller.
 *
 *   dma-load -d /dev/nvme0n1 [-b SIZE] [-n OPS | -t SECONDS] [-r OPS_PER_SEC] [-w] [-H | -A | -S]
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
 * With -A the buffer is made of huge pages that are physically adjacent in
 * ascending order (found among the whole pool with /proc/self/pagemap and
 * moved into place with mremap()), so a 3 MiB transfer is one segment and,
 * on a 2 MiB-aligned IOVA, one mapping of one 2M page and 256 4K pages (an
 * unmap with a page-size change). Fails when the pool has no such run.
 *
 * With -S the buffer's 4 KiB pages are scattered: page i is page 2i of a
 * mapping twice as large, moved into place with mremap(), so no two of its
 * pages are physically adjacent (however the allocator handed them out) and
 * an O_DIRECT request of N pages reaches the driver as N segments. On 6.17+
 * such a request takes nvme's IOVA-based DMA API path, where a contiguous one
 * may not. The line then ends with "adjacent=N": pairs of consecutive pages
 * that are physically adjacent after all (from /proc/self/pagemap; -1 when
 * it cannot be read); with -H too (767 for a 3 MiB buffer on two physically
 * adjacent huge pages).
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
#define PAGE_4K 4096UL

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
		"usage: dma-load -d DEVICE [-b SIZE] [-n OPS | -t SECONDS] [-r OPS_PER_SEC] [-w] [-H[H] | -A | -S]\n");
	exit(1);
}

/*
 * A buffer of len bytes whose pages are every other page of a mapping of
 * 2 * len (see -S above); MAP_FAILED on failure.
 */
static void *scattered_buffer(size_t len)
{
	char *src, *dst;

	src = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED)
		return MAP_FAILED;
	(void) madvise(src, 2 * len, MADV_NOHUGEPAGE);
	memset(src, 0x5a, 2 * len);
	/* Reserve the destination range, then move pages over it. */
	dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		return MAP_FAILED;
	for (size_t i = 0; i < len / PAGE_4K; i++)
		if (mremap(src + 2 * i * PAGE_4K, PAGE_4K, PAGE_4K, MREMAP_MAYMOVE | MREMAP_FIXED,
			   dst + i * PAGE_4K) == MAP_FAILED)
			return MAP_FAILED;
	return dst;
}

/* The physical frame of the page at addr; 0 if unknown. */
static uint64_t pfn_of(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)addr / PAGE_4K * 8)) != (ssize_t)sizeof(e) || !(e >> 63))
		e = 0;
	close(fd);
	return e & ((UINT64_C(1) << 55) - 1);
}

/*
 * A buffer of len bytes (a multiple of 2 MiB) on huge pages that are
 * physically adjacent and ascending (see -A above); MAP_FAILED if the pool
 * has no such run. The whole pool is mapped and faulted in to find it.
 */
static void *adjacent_huge_buffer(size_t len)
{
	size_t need = len / HUGE_2M, pool = 0;
	uint64_t pfns[1024];
	char *all = MAP_FAILED, *dst;

	for (size_t n = 1024; n >= need && all == MAP_FAILED; n /= 2) {
		all = mmap(NULL, n * HUGE_2M, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
		pool = n;
	}
	if (all == MAP_FAILED)
		return MAP_FAILED;
	/* MAP_POPULATE may stop short of the pool: use what was faulted. */
	for (size_t i = 0; i < pool; i++)
		if (!(pfns[i] = pfn_of(all + i * HUGE_2M)))
			pool = i;
	dst = mmap(NULL, len + HUGE_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		return MAP_FAILED;
	dst = (char *)(((uintptr_t)dst + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
	for (size_t first = 0; first < pool; first++) {
		size_t run[512], n = 1;

		run[0] = first;
		while (n < need) {
			size_t next = pool;

			for (size_t j = 0; j < pool; j++)
				if (pfns[j] == pfns[run[n - 1]] + HUGE_2M / PAGE_4K)
					next = j;
			if (next == pool)
				break;
			run[n++] = next;
		}
		if (n < need)
			continue;
		for (size_t i = 0; i < need; i++)
			if (mremap(all + run[i] * HUGE_2M, HUGE_2M, HUGE_2M, MREMAP_MAYMOVE | MREMAP_FIXED,
				   dst + i * HUGE_2M) == MAP_FAILED)
				return MAP_FAILED;
		return dst;
	}
	errno = ENOENT;
	return MAP_FAILED;
}

/* Consecutive pages of buf that are physically adjacent; -1 if unknown. */
static long adjacent_pages(const char *buf, size_t len)
{
	uint64_t prev = 0;
	long adjacent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return -1;
	for (size_t i = 0; i < len / PAGE_4K; i++) {
		uint64_t e, pfn;

		if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)(buf + i * PAGE_4K) / PAGE_4K * 8)) !=
		    (ssize_t)sizeof(e) || !(e >> 63)) {
			close(fd);
			return -1;
		}
		pfn = e & ((UINT64_C(1) << 55) - 1);
		if (pfn == 0) {		/* PFNs hidden (not root) */
			close(fd);
			return -1;
		}
		if (i > 0 && pfn == prev + 1)
			adjacent++;
		prev = pfn;
	}
	close(fd);
	return adjacent;
}

int main(int argc, char **argv)
{
	const char *dev = NULL;
	unsigned long long bs = 64 << 10, ops = 0, seconds = 0, devsize = 0;
	unsigned long long done = 0, off = 0, rate = 0;
	bool do_write = false, huge_ok = false, scatter = false, adjacent = false;
	int huge = 0, opt, fd;
	size_t maplen;
	void *buf = MAP_FAILED;
	double t0, t1;

	while ((opt = getopt(argc, argv, "d:b:n:t:r:wHSA")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'b': if (parse_size(optarg, &bs) < 0) usage(); break;
		case 'n': if (parse_size(optarg, &ops) < 0) usage(); break;
		case 't': if (parse_size(optarg, &seconds) < 0) usage(); break;
		case 'r': if (parse_size(optarg, &rate) < 0 || !rate) usage(); break;
		case 'w': do_write = true; break;
		case 'H': huge++; break;
		case 'S': scatter = true; break;
		case 'A': adjacent = true; break;
		default: usage();
		}
	}
	if (!dev || optind != argc || bs == 0 || bs % 4096 || (!ops && !seconds) ||
	    (ops && seconds) || (huge > 0) + scatter + adjacent > 1)
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
	if (adjacent) {
		buf = adjacent_huge_buffer(maplen);
		if (buf == MAP_FAILED) {
			fprintf(stderr, "dma-load: no %zu bytes of physically adjacent huge pages: %s\n",
				maplen, strerror(errno));
			return 1;
		}
		huge_ok = true;
	}
	if (scatter) {
		buf = scattered_buffer(maplen);
		if (buf == MAP_FAILED) {
			fprintf(stderr, "dma-load: scattered buffer of %zu bytes: %s\n",
				maplen, strerror(errno));
			return 1;
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
	printf("dma-load: op=%s bs=%llu ops=%llu bytes=%llu secs=%.3f MBps=%.1f huge=%d",
	       do_write ? "write" : "read", bs, done, done * bs, t1 - t0,
	       t1 > t0 ? done * bs / (t1 - t0) / 1e6 : 0.0, huge_ok);
	if (scatter || huge_ok)
		printf(" adjacent=%ld", adjacent_pages(buf, (size_t)bs));
	printf("\n");
	close(fd);
	return 0;
}
