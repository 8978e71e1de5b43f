/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * trace-count: ground truth for the QEMU test bed.
 *
 * Reads the text of a tracefs `trace` file (stdin or the file named on the
 * command line) and counts the events iommutuned reasons about:
 *
 *   iommu:map     "map: IOMMU: iova=0x... - 0x... paddr=0x... size=N"
 *   iommu:unmap   "unmap: IOMMU: iova=0x... - 0x... size=N unmapped_size=N"
 *   intel_iommu:qi_submit
 *                 "qi_submit: <type> <iommu>: 0xQW0 0xQW1 0xQW2 0xQW3"
 *
 * (TP_printk formats of include/trace/events/iommu.h and
 * drivers/iommu/intel/trace.h, unchanged from v5.x to v6.1, and the same
 * on 7.3: read from the format files of Debian's 7.3.4 on vtd-13bpo.)
 *
 * For each unmap it also computes k, the number of chunk-size changes
 * __iommu_unmap() makes over the domain's page sizes (--pgsizes, default
 * 4K|2M|1G); the VT-d counting model in KERNEL-NOTES.md predicts k + 1 IOTLB
 * syncs per strict unmap and k + (k > 0) per unpatched lazy unmap.
 *
 * Prints one key=value per line. Exits 2 when the trace reports lost events
 * ("[LOST N EVENTS]"), 1 on a malformed event line or a usage error.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIDS 64

struct did_count {
	unsigned int did;
	unsigned long global, domain, page;
};

struct counts {
	unsigned long map, unmap, qi, lost, lost_markers;
	unsigned long long map_bytes, unmap_bytes;
	unsigned long unmap_k, unmap_split;
	unsigned long qi_type[16];
	unsigned long iotlb_gran[4];
	struct did_count dids[MAX_DIDS];
	unsigned int ndids;
	unsigned long other_dids;
};

static const char *const qi_names[16] = {
	[1] = "cc_inv", [2] = "iotlb_inv", [3] = "dev_tlb_inv",
	[4] = "iec_inv", [5] = "inv_wait", [6] = "p_iotlb_inv",
	[7] = "pc_inv", [8] = "p_dev_tlb_inv", [9] = "page_grp_resp",
};

/* Largest supported page size <= size that iova is aligned to. */
static uint64_t pick_pgsize(uint64_t pgsizes, uint64_t iova, uint64_t size)
{
	uint64_t best = 0;

	for (int b = 0; b < 64; b++) {
		uint64_t p = UINT64_C(1) << b;

		if (!(pgsizes & p) || p > size || (iova & (p - 1)))
			continue;
		best = p;
	}
	return best;
}

/*
 * Number of chunk-size changes of one __iommu_unmap(iova, size), following
 * iommu_pgsize(): a chunk is `count` pages of pgsize, running up to the next
 * boundary of a larger supported page size if that lies within the range.
 */
static unsigned long unmap_k(uint64_t pgsizes, uint64_t iova, uint64_t size)
{
	uint64_t prev_chunk = 0;
	unsigned long k = 0;

	while (size) {
		uint64_t pg = pick_pgsize(pgsizes, iova, size);
		uint64_t chunk, bigger = 0;

		if (!pg)
			break; /* not page aligned: the kernel refuses it too */
		for (int b = 63; b >= 0; b--) {
			uint64_t p = UINT64_C(1) << b;

			if ((pgsizes & p) && p > pg)
				bigger = p;
		}
		chunk = size - size % pg;
		if (bigger) {
			uint64_t to_boundary = bigger - (iova & (bigger - 1));

			if (to_boundary < chunk)
				chunk = to_boundary;
		}
		if (prev_chunk && chunk != prev_chunk)
			k++;
		prev_chunk = chunk;
		iova += chunk;
		size -= chunk;
	}
	return k;
}

static struct did_count *did_slot(struct counts *c, unsigned int did)
{
	for (unsigned int i = 0; i < c->ndids; i++)
		if (c->dids[i].did == did)
			return &c->dids[i];
	if (c->ndids == MAX_DIDS)
		return NULL;
	c->dids[c->ndids].did = did;
	return &c->dids[c->ndids++];
}

static int parse_line(struct counts *c, const char *line, uint64_t pgsizes)
{
	const char *p;

	p = strstr(line, "[LOST ");
	if (p && strstr(p, " EVENTS]")) {
		c->lost += strtoul(p + 6, NULL, 10);
		c->lost_markers++;
		return 0;
	}
	if (line[0] == '#')
		return 0;

	if ((p = strstr(line, " unmap: IOMMU: iova="))) {
		uint64_t iova, end, size, unmapped;
		unsigned long k;

		if (sscanf(p, " unmap: IOMMU: iova=%" SCNx64 " - %" SCNx64
			   " size=%" SCNu64 " unmapped_size=%" SCNu64,
			   &iova, &end, &size, &unmapped) != 4)
			return -1;
		c->unmap++;
		c->unmap_bytes += unmapped;
		k = unmap_k(pgsizes, iova, size);
		c->unmap_k += k;
		c->unmap_split += k > 0;
		return 0;
	}
	if ((p = strstr(line, " map: IOMMU: iova="))) {
		uint64_t iova, end, paddr, size;

		if (sscanf(p, " map: IOMMU: iova=%" SCNx64 " - %" SCNx64
			   " paddr=%" SCNx64 " size=%" SCNu64,
			   &iova, &end, &paddr, &size) != 4)
			return -1;
		c->map++;
		c->map_bytes += size;
		return 0;
	}
	if ((p = strstr(line, " qi_submit: "))) {
		uint64_t qw[4];
		char type[32], unit[32];
		unsigned int t;

		if (sscanf(p, " qi_submit: %31s %31[^:]: %" SCNx64 " %" SCNx64
			   " %" SCNx64 " %" SCNx64,
			   type, unit, &qw[0], &qw[1], &qw[2], &qw[3]) != 6)
			return -1;
		c->qi++;
		t = qw[0] & 0xf;
		c->qi_type[t]++;
		if (t == 2) {
			unsigned int gran = (qw[0] >> 4) & 3;
			struct did_count *d = did_slot(c, (qw[0] >> 16) & 0xffff);

			c->iotlb_gran[gran]++;
			if (!d)
				c->other_dids++;
			else if (gran == 1)
				d->global++;
			else if (gran == 2)
				d->domain++;
			else if (gran == 3)
				d->page++;
		}
		return 0;
	}
	return 0;
}

static void print_counts(const struct counts *c)
{
	printf("map=%lu\nmap_bytes=%llu\n", c->map, c->map_bytes);
	printf("unmap=%lu\nunmap_bytes=%llu\n", c->unmap, c->unmap_bytes);
	printf("unmap_k=%lu\nunmap_split=%lu\n", c->unmap_k, c->unmap_split);
	printf("qi_submit=%lu\n", c->qi);
	for (int t = 0; t < 16; t++) {
		if (qi_names[t])
			printf("qi_%s=%lu\n", qi_names[t], c->qi_type[t]);
		else if (c->qi_type[t])
			printf("qi_type%d=%lu\n", t, c->qi_type[t]);
	}
	printf("iotlb_global=%lu\niotlb_domain=%lu\niotlb_page=%lu\n",
	       c->iotlb_gran[1], c->iotlb_gran[2], c->iotlb_gran[3]);
	for (unsigned int i = 0; i < c->ndids; i++)
		printf("iotlb_did%u=global:%lu,domain:%lu,page:%lu\n",
		       c->dids[i].did, c->dids[i].global, c->dids[i].domain,
		       c->dids[i].page);
	if (c->other_dids)
		printf("iotlb_other_dids=%lu\n", c->other_dids);
	printf("lost=%lu\n", c->lost);
}

static void usage(void)
{
	fprintf(stderr, "usage: trace-count [--pgsizes BITMAP] [TRACE_FILE]\n");
}

int main(int argc, char **argv)
{
	static struct counts c;
	uint64_t pgsizes = UINT64_C(0x40201000); /* 4K | 2M | 1G */
	const char *path = NULL;
	char line[4096];
	unsigned long lineno = 0;
	FILE *f = stdin;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pgsizes") && i + 1 < argc) {
			pgsizes = strtoull(argv[++i], NULL, 0);
			if (!(pgsizes & 0x1000)) {
				fprintf(stderr, "trace-count: --pgsizes must include 4K\n");
				return 1;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage();
			return 1;
		} else {
			path = argv[i];
		}
	}
	if (path && strcmp(path, "-")) {
		f = fopen(path, "r");
		if (!f) {
			perror(path);
			return 1;
		}
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (parse_line(&c, line, pgsizes) < 0) {
			fprintf(stderr, "trace-count: cannot parse line %lu: %s",
				lineno, line);
			return 1;
		}
	}
	if (ferror(f)) {
		perror("trace-count: read");
		return 1;
	}
	print_counts(&c);
	if (c.lost_markers) {
		fprintf(stderr, "trace-count: the trace LOST %lu events (%lu markers): "
			"raise buffer_size_kb\n", c.lost, c.lost_markers);
		return 2;
	}
	return 0;
}
