/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests for gather-model: hand-worked kernel cases, the kernel-confirmed
 * table from shared/kernels/README.md, and a cross-check against "kernel_*"
 * below, a line-by-line transcription of the 6.1 unmap path (iommu.c,
 * include/linux/iommu.h, intel/iommu.c, dma-iommu.c) that simulates the
 * gather itself instead of using the k formula.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gather-model.h"
#include "tap.h"
#include "util.h"

#define VTD_SP0 (SZ_4K)                 /* intel_iommu=sp_off, or no superpage cap */
#define VTD_SP1 (SZ_4K | SZ_2M)         /* superpage level 1 */
#define VTD_SP2 (SZ_4K | SZ_2M | SZ_1G) /* superpage level 2 */
#define SZ_64K (UINT64_C(1) << 16)
#define SZ_1M (UINT64_C(1) << 20)
#define SZ_3M (3 * SZ_1M)
#define SZ_4M (4 * SZ_1M)

/* ---- The kernel's unmap path, transcribed (64-bit unsigned long). ---- */

typedef struct KernelGather {
        uint64_t start, end, pgsize;
        bool queued;
} KernelGather;

static uint64_t kernel_syncs;

static uint64_t GENMASK0(unsigned h) {
        return h >= 63 ? UINT64_MAX : (UINT64_C(1) << (h + 1)) - 1;
}
static unsigned kernel_fls(uint64_t x) {
        return 63u - (unsigned) __builtin_clzll(x);
}
static unsigned kernel_ffs(uint64_t x) {
        return (unsigned) __builtin_ctzll(x);
}

static void iommu_iotlb_gather_init(KernelGather *g) {
        *g = (KernelGather) { .start = UINT64_MAX };
}

/* intel_iommu_tlb_sync() then iommu_iotlb_gather_init(), as
 * iommu_iotlb_sync() does. */
static void iommu_iotlb_sync(KernelGather *g) {
        kernel_syncs++;
        iommu_iotlb_gather_init(g);
}

static bool iommu_iotlb_gather_is_disjoint(KernelGather *g, uint64_t iova, uint64_t size) {
        uint64_t start = iova, end = start + size - 1;

        return g->end != 0 && (end + 1 < g->start || start > g->end + 1);
}

static void iommu_iotlb_gather_add_range(KernelGather *g, uint64_t iova, uint64_t size) {
        uint64_t end = iova + size - 1;

        if (g->start > iova)
                g->start = iova;
        if (g->end < end)
                g->end = end;
}

static void iommu_iotlb_gather_add_page(KernelGather *g, uint64_t iova, uint64_t size) {
        if ((g->pgsize && g->pgsize != size) || iommu_iotlb_gather_is_disjoint(g, iova, size))
                iommu_iotlb_sync(g);

        g->pgsize = size;
        iommu_iotlb_gather_add_range(g, iova, size);
}

/* intel_iommu_unmap_pages() -> intel_iommu_unmap(); patched = 16a75bbe480c. */
static uint64_t intel_iommu_unmap_pages(KernelGather *g, uint64_t iova, uint64_t pgsize,
                                        uint64_t pgcount, bool patched) {
        uint64_t size = pgcount << kernel_ffs(pgsize);

        if (!patched || !g->queued)
                iommu_iotlb_gather_add_page(g, iova, size);
        return size;
}

static uint64_t iommu_pgsize(uint64_t bitmap, uint64_t iova, uint64_t paddr, uint64_t size,
                             uint64_t *count) {
        unsigned pgsize_idx, pgsize_idx_next;
        uint64_t pgsizes, offset, pgsize, pgsize_next;
        uint64_t addr_merge = paddr | iova;

        pgsizes = bitmap & GENMASK0(kernel_fls(size));
        if (addr_merge)
                pgsizes &= GENMASK0(kernel_ffs(addr_merge));
        if (!pgsizes)
                abort(); /* BUG_ON */

        pgsize_idx = kernel_fls(pgsizes);
        pgsize = UINT64_C(1) << pgsize_idx;

        pgsizes = bitmap & ~GENMASK0(pgsize_idx);
        if (!pgsizes)
                goto out_set_count;

        pgsize_idx_next = kernel_ffs(pgsizes);
        pgsize_next = UINT64_C(1) << pgsize_idx_next;

        if ((iova ^ paddr) & (pgsize_next - 1))
                goto out_set_count;

        offset = pgsize_next - (addr_merge & (pgsize_next - 1));
        if (offset + pgsize_next <= size)
                size = offset;

out_set_count:
        *count = size >> pgsize_idx;
        return pgsize;
}

/* __iommu_unmap() */
static uint64_t kernel_iommu_unmap(uint64_t bitmap, uint64_t iova, uint64_t size, KernelGather *g,
                              bool patched) {
        uint64_t unmapped = 0, min_pagesz;

        if (bitmap == 0)
                return 0;
        min_pagesz = UINT64_C(1) << kernel_ffs(bitmap);
        if ((iova | size) & (min_pagesz - 1))
                return 0;

        while (unmapped < size) {
                uint64_t pgsize, count, unmapped_page;

                pgsize = iommu_pgsize(bitmap, iova, iova, size - unmapped, &count);
                unmapped_page = intel_iommu_unmap_pages(g, iova, pgsize, count, patched);
                if (!unmapped_page)
                        break;
                iova += unmapped_page;
                unmapped += unmapped_page;
        }
        return unmapped;
}

/* __iommu_dma_unmap(): the IOTLB syncs one event costs. */
static uint64_t kernel_dma_unmap(uint64_t bitmap, uint64_t iova, uint64_t size, bool queued,
                                 bool patched) {
        KernelGather g;

        kernel_syncs = 0;
        iommu_iotlb_gather_init(&g);
        g.queued = queued;
        (void) kernel_iommu_unmap(bitmap, iova, size, &g, patched);
        if (!g.queued)
                iommu_iotlb_sync(&g);
        return kernel_syncs;
}

/* ---- Helpers. ---- */

/* Does the model agree with the transcription on one valid event? */
static bool model_matches_kernel(uint64_t bitmap, uint64_t iova, uint64_t size) {
        GatherCounts c = { 0 };

        gather_model_account(&c, bitmap, iova, size);
        return c.events == 1 && c.invalid == 0 &&
               c.strict_syncs == kernel_dma_unmap(bitmap, iova, size, false, false) &&
               c.lazy_unpatched_syncs == kernel_dma_unmap(bitmap, iova, size, true, false) &&
               c.lazy_patched_syncs == kernel_dma_unmap(bitmap, iova, size, true, true);
}

/* k from the chunk list alone (a change of chunk length), independent of
 * the model's own counting. */
static unsigned k_from_chunks(uint64_t bitmap, uint64_t iova, uint64_t size) {
        GatherChunk ch[130];
        size_t n = gather_model_chunks(bitmap, iova, size, ch, ELEMENTSOF(ch));
        unsigned k = 0;

        for (size_t i = 1; i < n && i < ELEMENTSOF(ch); i++)
                k += ch[i].pgsize * ch[i].count != ch[i - 1].pgsize * ch[i - 1].count;
        return k;
}

#define CH(i, p, c) { .iova = (i), .pgsize = (p), .count = (c) }

static void expect_event(const char *what, uint64_t bitmap, uint64_t iova, uint64_t size,
                         const GatherChunk *want, size_t n_want, unsigned k,
                         uint64_t strict, uint64_t unpatched) {
        GatherChunk got[130];
        GatherCounts c = { 0 };
        size_t n;
        bool same;

        n = gather_model_chunks(bitmap, iova, size, got, ELEMENTSOF(got));
        same = n == n_want;
        for (size_t i = 0; same && i < n; i++)
                same = got[i].iova == want[i].iova && got[i].pgsize == want[i].pgsize &&
                       got[i].count == want[i].count;
        CHECK(same, "%s: chunks", what);
        if (!same)
                for (size_t i = 0; i < n && i < ELEMENTSOF(got); i++)
                        tap_diag("  got chunk %zu: iova 0x%" PRIx64 " %" PRIu64 " x 0x%" PRIx64,
                                 i, got[i].iova, got[i].count, got[i].pgsize);

        CHECK_INT(gather_model_size_changes(bitmap, iova, size), k, what);
        gather_model_account(&c, bitmap, iova, size);
        CHECK(c.events == 1 && c.bytes == size && c.strict_syncs == strict &&
                      c.lazy_unpatched_syncs == unpatched && c.lazy_patched_syncs == 0 &&
                      c.mixed_events == (k > 0),
              "%s: syncs strict %" PRIu64 " unpatched %" PRIu64 " patched %" PRIu64
              ", want %" PRIu64 " %" PRIu64 " 0",
              what, c.strict_syncs, c.lazy_unpatched_syncs, c.lazy_patched_syncs, strict,
              unpatched);
        CHECK(model_matches_kernel(bitmap, iova, size), "%s: matches the kernel transcription",
              what);
}

#define EXPECT(what, bitmap, iova, size, k, strict, unpatched, ...)                       \
        do {                                                                             \
                const GatherChunk _w[] = { __VA_ARGS__ };                                \
                expect_event(what, bitmap, iova, size, _w, ELEMENTSOF(_w), k, strict,    \
                             unpatched);                                                 \
        } while (0)

static uint64_t rng_state = 0x9e3779b97f4a7c15;
static uint64_t rng(void) {
        /* splitmix64: deterministic, so a failure reproduces. */
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
}

/* ---- Tests. ---- */

static void test_hand_worked(void) {
        /* 4 KiB: one 4K page. */
        EXPECT("4K", VTD_SP2, 0x7ffff000, SZ_4K, 0, 1, 0, CH(0x7ffff000, SZ_4K, 1));

        /* 64 KiB at a 64K-aligned iova: fls(64K) = 16 leaves only 4K pages:
         * one chunk of 16. */
        EXPECT("64K", VTD_SP2, 0x10000, SZ_64K, 0, 1, 0, CH(0x10000, SZ_4K, 16));

        /* 2 MiB at a 2M-aligned iova: 4K|2M fit, iova allows 2M; the next
         * size (1G) would need offset + 1G <= 2M: one 2M page. */
        EXPECT("2M aligned", VTD_SP2, 0x200000, SZ_2M, 0, 1, 0, CH(0x200000, SZ_2M, 1));

        /* 2 MiB at a 4K offset: iova allows only 4K; the run could stop at
         * the 2M boundary (offset 2M - 4K) only if a whole 2M page followed:
         * 0x1ff000 + 2M > 2M, so all 512 pages are 4K. k = 0. */
        EXPECT("2M at 4K offset", VTD_SP2, 0x201000, SZ_2M, 0, 1, 0,
               CH(0x201000, SZ_4K, 512));

        /* 2 MiB + 4K starting 4K below a 2M boundary: offset 4K + 2M fits,
         * so one 4K page, then one 2M page. k = 1: the smallest size that
         * can mix (gather_model_filter_min_size()). */
        EXPECT("2M+4K from 4K below 2M", VTD_SP2, 0x1ff000, SZ_2M + SZ_4K, 1, 2, 2,
               CH(0x1ff000, SZ_4K, 1), CH(0x200000, SZ_2M, 1));

        /* 3 MiB at a 4M-aligned iova: fls(3M) = 21 -> 4K|2M, one 2M page
         * (1G cannot follow), then 1M left: fls = 20 -> 256 4K pages.
         * k = 1: strict 2, unpatched lazy 2, patched 0 (seen on a kernel). */
        EXPECT("3M at 4M-aligned", VTD_SP2, 0x400000, SZ_3M, 1, 2, 2,
               CH(0x400000, SZ_2M, 1), CH(0x600000, SZ_4K, 256));

        /* 1 MiB: only 4K fits; 256 pages. strict 1, lazy 0. */
        EXPECT("1M", VTD_SP2, 0x100000, SZ_1M, 0, 1, 0, CH(0x100000, SZ_4K, 256));

        /* 1G + 2M + 4K at a 1G-aligned iova: 1G (largest size, no bigger
         * one, count = size >> 30 = 1); then 0x201000 left at a 1G-aligned
         * iova: one 2M (1G cannot follow), then one 4K. k = 2. */
        EXPECT("1G+2M+4K aligned", VTD_SP2, SZ_1G, SZ_1G + SZ_2M + SZ_4K, 2, 3, 3,
               CH(SZ_1G, SZ_1G, 1), CH(2 * SZ_1G, SZ_2M, 1), CH(2 * SZ_1G + SZ_2M, SZ_4K, 1));

        /* Rising to 1G and falling again: from 1G - 2M - 4K, 4K up to the
         * 2M boundary (one page: 0x1000 + 2M fits), 2M up to the 1G
         * boundary (one page: 2M + 1G fits), one 1G, then the 2M + 4K tail
         * as one 2M and one 4K. k = 4. */
        EXPECT("4K-2M-1G-2M-4K", VTD_SP2, SZ_1G - SZ_2M - SZ_4K,
               SZ_4K + SZ_2M + SZ_1G + SZ_2M + SZ_4K, 4, 5, 5,
               CH(SZ_1G - SZ_2M - SZ_4K, SZ_4K, 1), CH(SZ_1G - SZ_2M, SZ_2M, 1),
               CH(SZ_1G, SZ_1G, 1), CH(2 * SZ_1G, SZ_2M, 1), CH(2 * SZ_1G + SZ_2M, SZ_4K, 1));

        /* The same shape with runs longer than one page: 2 x 4K, 2 x 2M,
         * 1 x 1G, 3 x 2M, 3 x 4K. */
        EXPECT("runs of each size", VTD_SP2, SZ_1G - 2 * SZ_2M - 2 * SZ_4K,
               2 * SZ_4K + 2 * SZ_2M + SZ_1G + 3 * SZ_2M + 3 * SZ_4K, 4, 5, 5,
               CH(SZ_1G - 2 * SZ_2M - 2 * SZ_4K, SZ_4K, 2), CH(SZ_1G - 2 * SZ_2M, SZ_2M, 2),
               CH(SZ_1G, SZ_1G, 1), CH(2 * SZ_1G, SZ_2M, 3), CH(2 * SZ_1G + 3 * SZ_2M, SZ_4K, 3));

        /* Two 1G pages and nothing else at a 1G-aligned iova. */
        EXPECT("2G aligned", VTD_SP2, 4 * SZ_1G, 2 * SZ_1G, 0, 1, 0, CH(4 * SZ_1G, SZ_1G, 2));

        /* 1G at a 2M-aligned, not 1G-aligned iova: 2M pages only (the run
         * cannot stop at the 1G boundary: no whole 1G page follows). */
        EXPECT("1G at 2M offset", VTD_SP2, SZ_1G + SZ_2M, SZ_1G, 0, 1, 0,
               CH(SZ_1G + SZ_2M, SZ_2M, 512));
}

static void test_superpages_off(void) {
        /* sp_off: 4K only, so every event is one run of 4K pages. */
        EXPECT("sp_off 3M", VTD_SP0, 0x400000, SZ_3M, 0, 1, 0, CH(0x400000, SZ_4K, 768));
        EXPECT("sp_off 1G+2M+4K", VTD_SP0, SZ_1G, SZ_1G + SZ_2M + SZ_4K, 0, 1, 0,
               CH(SZ_1G, SZ_4K, (SZ_1G + SZ_2M + SZ_4K) / SZ_4K));
        CHECK_U64(gather_model_filter_min_size(VTD_SP0), UINT64_MAX, "sp_off filter");
}

static void test_no_1g(void) {
        /* 4K|2M: 2M is the largest size, so a 2M run takes every whole 2M
         * page that remains. 1G + 2M + 4K aligned: 513 x 2M, 1 x 4K. */
        EXPECT("4K|2M 1G+2M+4K", VTD_SP1, SZ_1G, SZ_1G + SZ_2M + SZ_4K, 1, 2, 2,
               CH(SZ_1G, SZ_2M, 513), CH(SZ_1G + 513 * SZ_2M, SZ_4K, 1));
        /* Rise-and-fall shape: 1 x 4K, 514 x 2M, 1 x 4K. */
        EXPECT("4K|2M rise and fall", VTD_SP1, SZ_1G - SZ_2M - SZ_4K,
               SZ_4K + SZ_2M + SZ_1G + SZ_2M + SZ_4K, 2, 3, 3,
               CH(SZ_1G - SZ_2M - SZ_4K, SZ_4K, 1), CH(SZ_1G - SZ_2M, SZ_2M, 514),
               CH(2 * SZ_1G + SZ_2M, SZ_4K, 1));
        EXPECT("4K|2M 3M", VTD_SP1, 0x400000, SZ_3M, 1, 2, 2, CH(0x400000, SZ_2M, 1),
               CH(0x600000, SZ_4K, 256));
}

static void test_degenerate(void) {
        GatherCounts c = { 0 };
        GatherChunk ch[2];

        /* Rejected: counted as invalid only. */
        gather_model_account(&c, VTD_SP2, 0x1000, 0);                  /* size 0 */
        gather_model_account(&c, VTD_SP2, UINT64_MAX - 0xfff, 0x2000); /* passes 2^64 */
        gather_model_account(&c, VTD_SP2, 0x1001, SZ_4K);              /* unaligned iova */
        gather_model_account(&c, VTD_SP2, 0x1000, 0x800);              /* unaligned size */
        gather_model_account(&c, 0, 0x1000, SZ_4K);                    /* no page sizes */
        gather_model_account(&c, SZ_2M | SZ_1G, 0x1000, SZ_2M);        /* below min page */
        CHECK(c.invalid == 6 && c.events == 0 && c.bytes == 0 && c.strict_syncs == 0 &&
                      c.lazy_unpatched_syncs == 0,
              "invalid events count as invalid only (%" PRIu64 ")", c.invalid);
        CHECK_INT(gather_model_size_changes(VTD_SP2, 0x1000, 0), 0, "k of size 0");
        CHECK_INT(gather_model_size_changes(0, 0, SZ_3M), 0, "k with bitmap 0");
        CHECK_INT(gather_model_chunks(VTD_SP2, UINT64_MAX - 0xfff, 0x2000, ch, 2), 0,
                  "no chunks for an overflowing range");
        CHECK_U64(gather_model_filter_min_size(0), UINT64_MAX, "filter for bitmap 0");

        /* Valid extremes: the last page below 2^64, and (almost) the whole
         * 64-bit space: 1G pages up to the top, then 511 x 2M, 511 x 4K. */
        EXPECT("last page", VTD_SP2, UINT64_MAX - 0xfff, SZ_4K, 0, 1, 0,
               CH(UINT64_MAX - 0xfff, SZ_4K, 1));
        {
                GatherChunk w[] = { CH(0, SZ_1G, (UINT64_MAX >> 30)),
                                    CH(UINT64_MAX & ~(SZ_1G - 1), SZ_2M, 511),
                                    CH(UINT64_MAX & ~(SZ_2M - 1), SZ_4K, 511) };
                expect_event("whole space", VTD_SP2, 0, UINT64_MAX - 0xfff, w, 3, 2, 3, 3);
        }
        /* From 4K to 2^64: 511 x 4K, 511 x 2M, then 1G pages to the top. */
        CHECK_INT(gather_model_size_changes(VTD_SP2, SZ_4K, UINT64_MAX - 0xfff), 2,
                  "whole space from 4K: rises only");
        CHECK(model_matches_kernel(VTD_SP2, SZ_4K, UINT64_MAX - 0xfff),
              "whole space from 4K: matches the kernel transcription");

        /* A bitmap without 4K: min page 2M, so a 2M-aligned event is fine. */
        EXPECT("2M|1G bitmap", SZ_2M | SZ_1G, SZ_1G - SZ_2M, SZ_1G + 2 * SZ_2M, 2, 3, 3,
               CH(SZ_1G - SZ_2M, SZ_2M, 1), CH(SZ_1G, SZ_1G, 1), CH(2 * SZ_1G, SZ_2M, 1));
        /* A 2^63 page size: from 2^62 to 2^64, 4K pages up to 2^63 (offset
         * 2^62 + 2^63 fits exactly), then one 2^63 page ending at 2^64. */
        EXPECT("2^63 pages", SZ_4K | (UINT64_C(1) << 63), UINT64_C(1) << 62,
               (UINT64_C(1) << 62) + (UINT64_C(1) << 63), 1, 2, 2,
               CH(UINT64_C(1) << 62, SZ_4K, UINT64_C(1) << 50),
               CH(UINT64_C(1) << 63, UINT64_C(1) << 63, 1));

        /* Fewer slots than chunks: the total is still returned. */
        CHECK_INT(gather_model_chunks(VTD_SP2, 0x400000, SZ_3M, ch, 1), 2,
                  "chunk count with a short array");
        CHECK_INT(gather_model_chunks(VTD_SP2, 0x400000, SZ_3M, NULL, 0), 2,
                  "chunk count without an array");

        /* Replay with bitmap 0 or no events. */
        c = (GatherCounts) { 0 };
        gather_model_replay(&c, VTD_SP2, NULL, 0);
        CHECK(c.events == 0 && c.invalid == 0, "empty replay");
        {
                GatherEvent ev[2] = { { 0x1000, SZ_4K }, { 0x400000, SZ_3M } };
                gather_model_replay(&c, 0, ev, 2);
                CHECK(c.invalid == 2 && c.events == 0, "replay with bitmap 0");
        }
}

static void test_filter_min_size(void) {
        CHECK_U64(gather_model_filter_min_size(VTD_SP2), SZ_2M + SZ_4K, "VT-d level 2 filter");
        CHECK_U64(gather_model_filter_min_size(VTD_SP1), SZ_2M + SZ_4K, "VT-d level 1 filter");
        CHECK_U64(gather_model_filter_min_size(SZ_4K | SZ_64K | SZ_2M), SZ_64K + SZ_4K,
                  "4K|64K|2M filter");
        CHECK_U64(gather_model_filter_min_size(SZ_2M | SZ_1G), SZ_1G + SZ_2M, "2M|1G filter");
        CHECK_U64(gather_model_filter_min_size(UINT64_C(3) << 62),
                  (UINT64_C(1) << 62) + (UINT64_C(1) << 63), "top two bits filter");
}

/* Proof that the filter loses nothing, exhaustively, with the model's
 * chunking and with the kernel transcription (neither takes the model's
 * size shortcut): every valid size below the filter, at every 4K offset
 * within 2M on either side of several 1G boundaries, gives k = 0; and the
 * filter size itself can give k > 0, so the bound is tight. */
static void test_filter_is_safe(void) {
        static const uint64_t bitmaps[] = { VTD_SP2, VTD_SP1 };
        static const uint64_t bases[] = { 0, SZ_1G, 7 * SZ_1G, UINT64_C(1) << 47 };

        for (size_t b = 0; b < ELEMENTSOF(bitmaps); b++) {
                uint64_t bm = bitmaps[b], filter = gather_model_filter_min_size(bm);
                uint64_t tried = 0, bad = 0;
                bool tight = false;

                for (size_t i = 0; i < ELEMENTSOF(bases); i++)
                        for (uint64_t off = 0; off < 2 * SZ_2M; off += SZ_4K) {
                                uint64_t iova = bases[i] + off - (bases[i] ? SZ_2M : 0);

                                for (uint64_t size = SZ_4K; size < filter; size += SZ_4K) {
                                        tried++;
                                        if (k_from_chunks(bm, iova, size) != 0 ||
                                            kernel_dma_unmap(bm, iova, size, true, false) != 0) {
                                                if (bad++ == 0)
                                                        tap_diag("k > 0 below the filter: "
                                                                 "iova 0x%" PRIx64
                                                                 " size 0x%" PRIx64,
                                                                 iova, size);
                                        }
                                }
                                tight |= k_from_chunks(bm, iova, filter) > 0;
                        }
                CHECK(bad == 0 && tried > 0,
                      "bitmap 0x%" PRIx64 ": %" PRIu64 " events below 0x%" PRIx64
                      " all have k = 0 (%" PRIu64 " not)",
                      bm, tried, filter, bad);
                CHECK(tight, "bitmap 0x%" PRIx64 ": some event of size 0x%" PRIx64 " has k > 0",
                      bm, filter);
        }
}

/* A miniature world where everything can be tried: page sizes of 1, 2, 8
 * and 32 "bytes" (and other small bitmaps), every iova and size up to 96.
 * The model must equal the kernel transcription on every event, and the
 * filter must hold for every one. */
static void test_exhaustive_small_world(void) {
        static const uint64_t bitmaps[] = { 0x1, 0x3, 0xb, 0x10b, 0x2a, 0x105, 0x1f, 0x30 };

        for (size_t b = 0; b < ELEMENTSOF(bitmaps); b++) {
                uint64_t bm = bitmaps[b], filter = gather_model_filter_min_size(bm);
                uint64_t tried = 0, mismatch = 0, unsafe = 0, min_mixed = UINT64_MAX;

                for (uint64_t iova = 0; iova < 96; iova++)
                        for (uint64_t size = 1; size <= 96; size++) {
                                unsigned k;

                                if ((iova | size) & ((bm & -bm) - 1))
                                        continue;
                                tried++;
                                k = gather_model_size_changes(bm, iova, size);
                                if (!model_matches_kernel(bm, iova, size) ||
                                    k != k_from_chunks(bm, iova, size))
                                        if (mismatch++ == 0)
                                                tap_diag("mismatch: bitmap 0x%" PRIx64
                                                         " iova %" PRIu64 " size %" PRIu64,
                                                         bm, iova, size);
                                if (k_from_chunks(bm, iova, size) > 0) {
                                        if (size < filter)
                                                unsafe++;
                                        if (size < min_mixed)
                                                min_mixed = size;
                                }
                        }
                CHECK(mismatch == 0 && unsafe == 0 && tried > 0,
                      "bitmap 0x%" PRIx64 ": %" PRIu64 " events match the kernel, none below "
                      "the filter mixes (%" PRIu64 " mismatches, %" PRIu64 " unsafe)",
                      bm, tried, mismatch, unsafe);
                CHECK(min_mixed == filter || (min_mixed == UINT64_MAX && filter == UINT64_MAX) ||
                              filter > 96,
                      "bitmap 0x%" PRIx64 ": smallest mixing size %" PRIu64 " == filter %" PRIu64,
                      bm, min_mixed, filter);
        }
}

/* Random VT-d events of every scale, model against transcription, and the
 * batch replay against one-by-one accounting. */
static void test_random_against_kernel(void) {
        static const uint64_t bitmaps[] = { VTD_SP0, VTD_SP1, VTD_SP2 };
        static GatherEvent ev[20000];

        for (size_t b = 0; b < ELEMENTSOF(bitmaps); b++) {
                GatherCounts one = { 0 }, batch = { 0 };
                uint64_t mismatch = 0;

                for (size_t i = 0; i < ELEMENTSOF(ev); i++) {
                        /* iova: 4K-aligned below 2^48, often near big
                         * boundaries; size: 4K .. ~4G, log-uniform. */
                        uint64_t r = rng(), iova, size;

                        iova = (rng() & ((UINT64_C(1) << 48) - 1)) & ~(SZ_4K - 1);
                        if (r & 1)
                                iova = ((iova | SZ_1G) & ~(SZ_1G - 1)) + ((rng() % 1024) << 12) -
                                       (r & 2 ? SZ_2M : 0);
                        size = ((rng() & ((UINT64_C(1) << (12 + (r >> 8) % 21)) - 1)) + 1 +
                                SZ_4K - 1) & ~(SZ_4K - 1);
                        if (i % 7 == 0)
                                size = 0; /* some invalid ones too */
                        ev[i] = (GatherEvent) { iova, size };
                        gather_model_account(&one, bitmaps[b], iova, size);
                        if (size && !model_matches_kernel(bitmaps[b], iova, size))
                                if (mismatch++ == 0)
                                        tap_diag("mismatch: iova 0x%" PRIx64 " size 0x%" PRIx64,
                                                 iova, size);
                }
                gather_model_replay(&batch, bitmaps[b], ev, ELEMENTSOF(ev));
                CHECK(mismatch == 0, "bitmap 0x%" PRIx64 ": random events match the kernel",
                      bitmaps[b]);
                CHECK(memcmp(&one, &batch, sizeof(one)) == 0 && one.invalid > 0 &&
                              (bitmaps[b] == VTD_SP0 || one.mixed_events > 0),
                      "bitmap 0x%" PRIx64 ": replay == account (%" PRIu64 " events, %" PRIu64
                      " mixed, %" PRIu64 " invalid)",
                      bitmaps[b], batch.events, batch.mixed_events, batch.invalid);
        }
}

/* shared/kernels/README.md, seen on 6.1.192 under QEMU: 50 O_DIRECT reads
 * of 3 MiB and of 1 MiB into 2 MiB huge pages; each read is one unmap at a
 * 4M-aligned IOVA. */
static void test_kernel_table(void) {
        GatherEvent ev[50];
        GatherCounts c3 = { 0 }, c1 = { 0 };

        for (size_t i = 0; i < ELEMENTSOF(ev); i++)
                ev[i] = (GatherEvent) { 0xffc00000 - i * SZ_4M, SZ_3M };
        gather_model_replay(&c3, VTD_SP2, ev, ELEMENTSOF(ev));
        CHECK_INT(c3.events, 50, "3M reads: events");
        CHECK_INT(c3.strict_syncs, 100, "3M reads: strict (fixed kernel, DMA)");
        CHECK_INT(c3.lazy_unpatched_syncs, 100, "3M reads: unpatched kernel, DMA-FQ");
        CHECK_INT(c3.lazy_patched_syncs, 0, "3M reads: fixed kernel, DMA-FQ");

        for (size_t i = 0; i < ELEMENTSOF(ev); i++)
                ev[i].size = SZ_1M;
        gather_model_replay(&c1, VTD_SP2, ev, ELEMENTSOF(ev));
        CHECK_INT(c1.strict_syncs, 50, "1M reads: strict");
        CHECK_INT(c1.lazy_unpatched_syncs, 0, "1M reads: unpatched lazy");
        CHECK_INT(c1.lazy_patched_syncs, 0, "1M reads: patched lazy");
        CHECK_U64(c1.bytes, 50 * SZ_1M, "1M reads: bytes");
}

/* The other drivers' rules, worked by hand from the 6.1 sources named in
 * gather-model.h, on 2M + 8K at 0x1ff000: one 4K, one 2M, one 4K (k = 2). */
static void test_driver_rules(void) {
        const GatherRules vtd = { GATHER_DRIVER_VTD, VTD_SP2, false };
        const GatherRules arm = { GATHER_DRIVER_ARM_LPAE, VTD_SP2, false };
        const GatherRules amd = { GATHER_DRIVER_AMD, ~UINT64_C(0xfff) & ~(UINT64_C(2) << 38), false };
        GatherCounts c;

        CHECK_INT(gather_model_size_changes(VTD_SP2, 0x1ff000, SZ_2M + 2 * SZ_4K), 2, "2M + 8K at 0x1ff000: k = 2");

        c = (GatherCounts) { 0 };
        gather_model_account_rules(&c, &vtd, 0x1ff000, SZ_2M + 2 * SZ_4K);
        CHECK_U64(c.strict_syncs, 3, "VT-d strict: k + 1");
        CHECK_U64(c.lazy_unpatched_syncs, 3, "VT-d lazy unpatched: k + (k > 0)");
        CHECK_U64(c.mixed_events, 1, "VT-d: one mixed event");

        c = (GatherCounts) { 0 };
        gather_model_account_rules(&c, &arm, 0x1ff000, SZ_2M + 2 * SZ_4K);
        gather_model_account_rules(&c, &arm, 0x200000, SZ_2M);
        CHECK_U64(c.events, 2, "io-pgtable-arm: two events");
        CHECK_U64(c.strict_syncs, 4, "io-pgtable-arm strict: k + 1, and 1 for one 2M block");
        CHECK_U64(c.lazy_unpatched_syncs, 0, "io-pgtable-arm lazy: queued gathers skipped, no unpatched variant");

        /* AMD's sizes: 4K, 8K, 16K, ... so 12K at 0x1000 is 4K + 8K (k = 1
         * under VT-d's rules), 2M + 8K at 0x1ff000 several: one sync each. */
        c = (GatherCounts) { 0 };
        gather_model_account_rules(&c, &amd, 0x1000, 3 * SZ_4K);
        gather_model_account_rules(&c, &amd, 0x1ff000, SZ_2M + 2 * SZ_4K);
        gather_model_account_rules(&c, &amd, 0x1001, SZ_4K); /* invalid */
        CHECK_U64(c.events, 2, "AMD: two valid events");
        CHECK_U64(c.invalid, 1, "AMD: the unaligned one is invalid");
        CHECK_U64(c.strict_syncs, 2, "AMD strict: one sync per event (one gathered range)");
        CHECK_U64(c.lazy_unpatched_syncs, 0, "AMD lazy: nothing");
        CHECK_U64(c.mixed_events, 0, "AMD: no VT-d evidence");

        CHECK_U64(gather_model_rules_filter_min_size(&amd), UINT64_MAX, "AMD: nothing to record");
        CHECK_U64(gather_model_rules_filter_min_size(&arm), SZ_2M + SZ_4K, "io-pgtable-arm: VT-d's filter");
        CHECK_STR(gather_driver_to_string(GATHER_DRIVER_AMD), "amd-iommu", "driver name");
}

/*
 * The rules per kernel version and per DMA path, from hand-worked cases.
 * The event: 2M + 8K at 0x1ff000 on VT-d with 2M superpages, chunks 4K, 2M,
 * 4K (k = 2); a 64K unmap at 0x10000 (k = 0).
 */
static void test_kernel_rules(void) {
        const GatherRules vtd61 = gather_rules_for_kernel(GATHER_DRIVER_VTD, VTD_SP2, 6, 1);
        const GatherRules vtd618 = gather_rules_for_kernel(GATHER_DRIVER_VTD, VTD_SP2, 6, 18);
        const GatherRules vtd73 = gather_rules_for_kernel(GATHER_DRIVER_VTD, VTD_SP2, 7, 3);
        const GatherRules vtd_unknown = gather_rules_for_kernel(GATHER_DRIVER_VTD, VTD_SP2, 0, 0);
        const GatherRules arm73 = gather_rules_for_kernel(GATHER_DRIVER_ARM_LPAE, VTD_SP2, 7, 3);
        const GatherRules amd73 = gather_rules_for_kernel(GATHER_DRIVER_AMD, VTD_SP2, 7, 3);
        const uint64_t iova = 0x1ff000, size = SZ_2M + 2 * SZ_4K;
        char words[256];
        GatherCounts c;

        /* Which page-table code: VT-d and AMD moved to drivers/iommu/generic_pt
         * in 6.19; io-pgtable-arm has no generic format. */
        CHECK(!vtd61.generic_pt && !vtd618.generic_pt, "VT-d 6.1 and 6.18: the driver's own page table");
        CHECK(vtd73.generic_pt, "VT-d 7.3: the generic page table");
        CHECK(!vtd_unknown.generic_pt, "VT-d, version unknown: the driver's own rules");
        CHECK(amd73.generic_pt, "AMD 7.3: the generic page table (amdv1 format)");
        CHECK(!arm73.generic_pt, "io-pgtable-arm 7.3: still its own page table");
        CHECK(gather_rules_model_unpatched(&vtd61), "VT-d 6.1: an unpatched driver can exist");
        CHECK(!gather_rules_model_unpatched(&vtd73), "VT-d 7.3: no unpatched variant to model");
        CHECK(!gather_rules_model_unpatched(&arm73) && !gather_rules_model_unpatched(&amd73),
              "io-pgtable-arm, AMD: no unpatched variant");

        /* Strict, VT-d 6.1-6.18: intel_iommu_unmap() adds each chunk with
         * iommu_iotlb_gather_add_page(), which syncs at every size change,
         * and __iommu_dma_unmap() syncs at the end: k + 1 = 3. */
        CHECK_U64(gather_model_strict_syncs(&vtd618, iova, size), 3, "VT-d 6.18 strict, 4K|2M|4K: k + 1");
        /* Strict, generic page table: unmap_pages() -> gather_range_pages()
         * -> iommu_iotlb_gather_add_range() never syncs (VT-d has no
         * PT_FEAT_FLUSH_RANGE_NO_GAPS); only __iommu_dma_unmap()'s final
         * iommu_iotlb_sync(): 1. */
        CHECK_U64(gather_model_strict_syncs(&vtd73, iova, size), 1, "VT-d 7.3 strict, 4K|2M|4K: 1 (generic page table)");
        CHECK_U64(gather_model_strict_syncs(&vtd73, 0x10000, 16 * SZ_4K), 1, "VT-d 7.3 strict, 64K: 1");
        /* io-pgtable-arm on 7.3: __arm_lpae_unmap() -> io_pgtable_tlb_add_page()
         * per leaf, a sync at each size change: k + 1, as on 6.1. */
        CHECK_U64(gather_model_strict_syncs(&arm73, iova, size), 3, "io-pgtable-arm 7.3 strict: k + 1");
        CHECK_U64(gather_model_strict_syncs(&amd73, iova, size), 1, "AMD 7.3 strict: 1");
        CHECK_U64(gather_model_strict_syncs(&vtd73, 0x1001, SZ_4K), 0, "an invalid event pays nothing");

        /* Lazy, flush-queue path (__iommu_dma_unmap() with a queued gather):
         * 0, but k + (k > 0) on the unpatched 6.1 driver (a sync clears
         * gather->queued, then the IOVA is freed with a final sync). */
        CHECK_U64(gather_model_lazy_syncs(&vtd61, GATHER_PATH_FLUSH_QUEUE, false, iova, size), 3,
                  "VT-d 6.1 unpatched, flush queue: k + (k > 0)");
        CHECK_U64(gather_model_lazy_syncs(&vtd61, GATHER_PATH_FLUSH_QUEUE, true, iova, size), 0,
                  "VT-d 6.1 patched, flush queue: 0");
        CHECK_U64(gather_model_lazy_syncs(&vtd73, GATHER_PATH_FLUSH_QUEUE, false, iova, size), 0,
                  "VT-d 7.3, flush queue: 0 whatever 'patched' says (no unpatched variant)");
        CHECK_U64(gather_model_lazy_syncs(&arm73, GATHER_PATH_FLUSH_QUEUE, false, iova, size), 0,
                  "io-pgtable-arm, flush queue: 0 (queued gathers skipped since 5.15)");
        /* Lazy, IOVA DMA API path: dma_iova_destroy() -> dma_iova_unlink()
         * inits a fresh (unqueued) gather, unmaps and calls
         * iommu_iotlb_sync(): what strict pays. */
        CHECK_U64(gather_model_lazy_syncs(&vtd73, GATHER_PATH_IOVA_API, true, 0x10000, 16 * SZ_4K), 1,
                  "VT-d 7.3, IOVA API, 64K: 1 per unmap in DMA-FQ too");
        CHECK_U64(gather_model_lazy_syncs(&arm73, GATHER_PATH_IOVA_API, true, iova, size), 3,
                  "io-pgtable-arm 7.3, IOVA API, 4K|2M|4K: k + 1 in DMA-FQ too");

        /* The accounting's view: generic page table events need no chunking,
         * count one strict sync each, and no unpatched figure or evidence. */
        c = (GatherCounts) { 0 };
        gather_model_account_rules(&c, &vtd73, iova, size);
        gather_model_account_rules(&c, &vtd73, 0x10000, 16 * SZ_4K);
        gather_model_account_rules(&c, &vtd73, 0x1001, SZ_4K);
        CHECK_U64(c.events, 2, "VT-d 7.3: two valid events");
        CHECK_U64(c.invalid, 1, "VT-d 7.3: one invalid");
        CHECK_U64(c.strict_syncs, 2, "VT-d 7.3 strict: one sync per event");
        CHECK_U64(c.lazy_unpatched_syncs, 0, "VT-d 7.3: no unpatched-driver figure (avoided_by_patch not claimed)");
        CHECK_U64(c.mixed_events, 0, "VT-d 7.3: no driver-fix evidence");
        CHECK_U64(gather_model_rules_filter_min_size(&vtd73), UINT64_MAX, "VT-d 7.3: no unmap records needed");
        CHECK_U64(gather_model_rules_filter_min_size(&vtd618), SZ_2M + SZ_4K, "VT-d 6.18: the 6.1 filter");

        gather_rules_describe(&vtd73, true, words, sizeof(words));
        CHECK(strstr(words, "generic page table") && strstr(words, "strict 1 sync per unmap") &&
              strstr(words, "IOVA DMA API"), "VT-d 7.3 described: %s", words);
        gather_rules_describe(&vtd61, false, words, sizeof(words));
        CHECK(strstr(words, "k + 1") && strstr(words, "without the VT-d fix") && !strstr(words, "IOVA"),
              "VT-d 6.1 described: %s", words);
}

int main(void) {
        test_driver_rules();
        test_kernel_rules();
        test_hand_worked();
        test_superpages_off();
        test_no_1g();
        test_degenerate();
        test_filter_min_size();
        test_filter_is_safe();
        test_exhaustive_small_world();
        test_random_against_kernel();
        test_kernel_table();
        return tap_done();
}
