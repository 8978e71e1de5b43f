/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * perf-hold: holds perf events on tracepoints open for a while, the way
 * iommutuned does, so a benchmark can time a workload with and without
 * them.
 *
 *   perf-hold count|record SECONDS SYSTEM:EVENT...
 *
 * count: one counting event per CPU and tracepoint (the daemon's
 * iommu:map/unmap counters). record: one sampling event per CPU and
 * tracepoint (sample_period 1, PERF_SAMPLE_TIME|CPU|RAW, a 64-page ring
 * each), drained every 100 ms (the daemon's dma:* streams; it drains each
 * tick, and parses each record's device name, which this helper does not:
 * the kernel side is what is measured here).
 *
 * Prints one line: "perf-hold: mode=M events=N lost=N fds_per_cpu=N
 * ring_kib_per_cpu=N secs=S".
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING_PAGES 64
#define MAX_FDS 1024

static long page_size;

static int tracepoint_id(const char *spec, unsigned long long *ret)
{
	char path[256], sys[64], ev[128];
	const char *colon = strchr(spec, ':');
	FILE *f;
	int ok;

	if (!colon || colon - spec >= (long)sizeof(sys))
		return -1;
	snprintf(sys, sizeof(sys), "%.*s", (int)(colon - spec), spec);
	snprintf(ev, sizeof(ev), "%s", colon + 1);
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/%s/id", sys, ev);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%llu", ret) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Consumes a ring's records; returns the samples, adds lost ones. */
static unsigned long long drain(void *base, unsigned long long *lost)
{
	struct perf_event_mmap_page *mp = base;
	unsigned char *data = (unsigned char *)base + page_size;
	uint64_t size = (uint64_t)RING_PAGES * page_size;
	uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE), tail = mp->data_tail;
	unsigned long long n = 0;

	while (tail < head) {
		struct perf_event_header h;
		size_t off = tail % size;

		if (off + sizeof(h) <= size)
			memcpy(&h, data + off, sizeof(h));
		else {
			memcpy(&h, data + off, size - off);
			memcpy((char *)&h + (size - off), data, sizeof(h) - (size - off));
		}
		if (h.size == 0)
			break;
		if (h.type == PERF_RECORD_SAMPLE)
			n++;
		else if (h.type == PERF_RECORD_LOST) {
			uint64_t v[2];
			size_t o2 = (off + sizeof(h)) % size;

			for (size_t i = 0; i < sizeof(v); i++)
				((unsigned char *)v)[i] = data[(o2 + i) % size];
			*lost += v[1];
		}
		tail += h.size;
	}
	__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
	return n;
}

int main(int argc, char **argv)
{
	int fds[MAX_FDS], nfds = 0, record, ncpu, nev;
	void *rings[MAX_FDS];
	unsigned long long events = 0, lost = 0;
	double secs, t0;

	if (argc < 4 || (strcmp(argv[1], "count") && strcmp(argv[1], "record"))) {
		fprintf(stderr, "usage: perf-hold count|record SECONDS SYSTEM:EVENT...\n");
		return 1;
	}
	page_size = sysconf(_SC_PAGESIZE);
	record = !strcmp(argv[1], "record");
	secs = atof(argv[2]);
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	nev = argc - 3;
	for (int e = 0; e < nev; e++) {
		unsigned long long id;

		if (tracepoint_id(argv[3 + e], &id) < 0) {
			fprintf(stderr, "perf-hold: no tracepoint %s\n", argv[3 + e]);
			return 1;
		}
		for (int cpu = 0; cpu < ncpu && nfds < MAX_FDS; cpu++) {
			struct perf_event_attr a = {
				.type = PERF_TYPE_TRACEPOINT,
				.size = sizeof(a),
				.config = id,
				.disabled = 1,
			};
			int fd;

			if (record) {
				a.sample_period = 1;
				a.sample_type = PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_RAW;
				a.wakeup_events = 0;
			}
			fd = (int)syscall(SYS_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "perf-hold: perf_event_open %s cpu %d: %s\n", argv[3 + e], cpu,
					strerror(errno));
				return 1;
			}
			rings[nfds] = NULL;
			if (record) {
				rings[nfds] = mmap(NULL, (RING_PAGES + 1) * page_size, PROT_READ | PROT_WRITE,
						   MAP_SHARED, fd, 0);
				if (rings[nfds] == MAP_FAILED) {
					fprintf(stderr, "perf-hold: mmap: %s\n", strerror(errno));
					return 1;
				}
			}
			fds[nfds++] = fd;
		}
	}
	for (int i = 0; i < nfds; i++)
		ioctl(fds[i], PERF_EVENT_IOC_ENABLE, 0);
	t0 = now();
	while (now() - t0 < secs) {
		usleep(100000);
		for (int i = 0; record && i < nfds; i++)
			events += drain(rings[i], &lost);
	}
	for (int i = 0; i < nfds; i++) {
		uint64_t v;

		ioctl(fds[i], PERF_EVENT_IOC_DISABLE, 0);
		if (record)
			events += drain(rings[i], &lost);
		else if (read(fds[i], &v, sizeof(v)) == sizeof(v))
			events += v;
	}
	printf("perf-hold: mode=%s events=%llu lost=%llu fds_per_cpu=%d ring_kib_per_cpu=%ld secs=%.3f\n",
	       argv[1], events, lost, nev, record ? nev * (RING_PAGES + 1) * page_size / 1024 : 0L,
	       now() - t0);
	return 0;
}
