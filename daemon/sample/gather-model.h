/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Replays iommu:unmap events through the kernel's unmap chunking and IOTLB
 * gather rules (Linux 6.1, VT-d) and counts the IOTLB syncs three drivers
 * would issue for them:
 *
 *   strict          a DMA domain (no flush queue);
 *   lazy unpatched  DMA-FQ on a kernel without "iommu/vt-d: Avoid
 *                   superfluous IOTLB tracking in lazy mode" (16a75bbe480c,
 *                   v6.3; backported to 6.1.16, 6.2.3, 5.15.99);
 *   lazy patched    DMA-FQ with that fix.
 *
 * One event is one __iommu_unmap() call with a fresh gather, as
 * __iommu_dma_unmap() makes it; the tracepoint records the (page-aligned)
 * iova and size it was given. The event is split into chunks of one page
 * size (iommu_pgsize()); intel_iommu_unmap() adds each whole chunk to the
 * gather, and iommu_iotlb_gather_add_page() syncs whenever the chunk size
 * differs from the previous one. With k such size changes in an event:
 *
 *   strict = k + 1,  lazy unpatched = k + (k > 0),  lazy patched = 0.
 *
 * Each sync is one IOTLB invalidation per IOMMU unit the domain spans
 * (intel_iommu_tlb_sync() -> iommu_flush_iotlb_psi(): page-selective, or
 * domain-selective when the range exceeds the unit's address mask). The
 * flush queue's own domain-wide flushes (full ring or 10 ms timer) are not
 * events and are not counted here.
 *
 * Assumes the unmap mirrors a DMA-API map, so no chunk starts on a
 * superpage larger than itself (intel_iommu_unmap() would round the chunk
 * up). Not valid for kernels whose VT-d uses the generic page table code
 * (v6.19 on): their unmap uses iommu_iotlb_gather_add_range(); see
 * GatherRules.generic_pt for the rules there.
 *
 * Page-size bitmaps: bit n set = pages of 2^n bytes. VT-d DMA domains
 * (5.15+): 4K, plus 2M with superpage level 1, plus 2M and 1G with level 2;
 * 4K only with intel_iommu=sp_off. Any non-zero bitmap is accepted: its
 * lowest bit is the minimum page size, as in __iommu_unmap().
 *
 * An event is invalid, and counts only as such, when the bitmap is 0, the
 * size is 0, the range [iova, iova + size) passes 2^64, or iova or size is
 * not a multiple of the minimum page size (__iommu_unmap() unmaps nothing
 * and fires no tracepoint for those).
 *
 * Pure: no I/O, no allocation, no global state; safe from any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef SZ_4K
#define SZ_4K (UINT64_C(1) << 12)
#endif
#ifndef SZ_2M
#define SZ_2M (UINT64_C(1) << 21)
#endif
#ifndef SZ_1G
#define SZ_1G (UINT64_C(1) << 30)
#endif

/* One iommu:unmap event as the tracepoint records it. */
typedef struct GatherEvent {
        uint64_t iova;
        uint64_t size;
} GatherEvent;

/* One chunk of an event: count pages of pgsize bytes from iova. */
typedef struct GatherChunk {
        uint64_t iova;
        uint64_t pgsize;
        uint64_t count;
} GatherChunk;

/* Running totals; start from a zeroed struct. Totals wrap at 2^64. */
typedef struct GatherCounts {
        uint64_t events;               /* valid events replayed */
        uint64_t invalid;              /* events rejected (see above) */
        uint64_t bytes;                /* sum of the valid events' sizes */
        uint64_t mixed_events;         /* valid events with k > 0 */
        uint64_t strict_syncs;
        uint64_t lazy_unpatched_syncs;
        uint64_t lazy_patched_syncs;
} GatherCounts;

/* Splits an event into chunks exactly as __iommu_unmap() does. Writes at
 * most n_max chunks to ret_chunks (which may be NULL when n_max is 0) and
 * returns how many there are in all, 0 for an invalid event. An event has at
 * most 2 * 64 chunks. */
size_t gather_model_chunks(uint64_t pgsize_bitmap, uint64_t iova, uint64_t size,
                           GatherChunk *ret_chunks, size_t n_max);

/* k: how many times the chunk size changes within the event; 0 for an
 * invalid event. */
unsigned gather_model_size_changes(uint64_t pgsize_bitmap, uint64_t iova, uint64_t size);

/* Adds one event to *acc. */
void gather_model_account(GatherCounts *acc, uint64_t pgsize_bitmap, uint64_t iova,
                          uint64_t size);

/* Adds n events, all in one domain with this bitmap, to *acc (events may be
 * NULL when n is 0). Same result as n calls of gather_model_account(). */
void gather_model_replay(GatherCounts *acc, uint64_t pgsize_bitmap, const GatherEvent *events,
                         size_t n);

/* How a driver turns one event's chunks into IOTLB syncs (Linux 6.1). The
 * functions above are the VT-d rules; these name the others. */
typedef enum GatherDriver {
        /* intel_iommu_unmap(): every chunk through
         * iommu_iotlb_gather_add_page(), a sync at every size change;
         * the lazy driver without the fix pays them too (see above). */
        GATHER_DRIVER_VTD,
        /* io-pgtable-arm (arm-smmu-v3): __arm_lpae_unmap() adds every leaf
         * through io_pgtable_tlb_add_page() -> iommu_iotlb_gather_add_page():
         * strict = k + 1 as on VT-d; it skips queued (lazy) gathers since
         * v5.15, so lazy pays nothing, with or without any VT-d fix. */
        GATHER_DRIVER_ARM_LPAE,
        /* amd_iommu_unmap_pages(): the event's chunks are adjacent, and
         * amd_iommu_iotlb_gather_add_page() syncs only on a disjoint range
         * (NpCache) or never: one sync per event strict, none lazy. */
        GATHER_DRIVER_AMD,
        _GATHER_DRIVER_MAX,
} GatherDriver;

typedef struct GatherRules {
        GatherDriver driver;
        uint64_t pgsize_bitmap;
        /* The driver's domains use the generic page table code
         * (drivers/iommu/generic_pt; VT-d and AMD from v6.19, "iommu/vt-d:
         * Use the generic iommu page table"). Its unmap_pages() walks the
         * whole range and adds it with gather_range_pages() ->
         * iommu_iotlb_gather_add_range(), which never syncs (VT-d does not
         * set PT_FEAT_FLUSH_RANGE_NO_GAPS; AMD's NO_GAPS sync needs a
         * disjoint range, and one unmap's chunks are adjacent). The one
         * sync is __iommu_dma_unmap()'s iommu_iotlb_sync() when the gather
         * is not queued: strict 1 per event whatever its page sizes, lazy 0,
         * and no unpatched variant. */
        bool generic_pt;
} GatherRules;

const char *gather_driver_to_string(GatherDriver d);

/* The rules of the running kernel: the driver (by the units' vendor) and,
 * from v6.19, the generic page table for VT-d and AMD. major 0: version
 * unknown, the driver's own rules (6.1-6.18). io-pgtable-arm has no generic
 * page table format (7.3: amdv1, vtdss, x86_64, riscv only). */
GatherRules gather_rules_for_kernel(GatherDriver driver, uint64_t pgsize_bitmap, unsigned major, unsigned minor);

/* Whether "the unpatched lazy VT-d driver" is a kernel that can exist under
 * these rules: VT-d's own page table code (before 6.19) only. Where it is
 * not, no avoided_by_patch figure is claimed. */
bool gather_rules_model_unpatched(const GatherRules *rules);

/* The rule set in words, for the log and status: e.g. "intel-iommu,
 * generic page table (6.19+): strict 1 sync per unmap; lazy 0 on the
 * flush-queue path, what strict pays on the IOVA DMA API path (6.17+)".
 * iova_api: the kernel has that path (6.17+). */
void gather_rules_describe(const GatherRules *rules, bool iova_api, char *buf, size_t size);

/* How an unmap reached the IOMMU (dma-iommu.c). Both paths issue one
 * __iommu_unmap() per unmap event; they differ in lazy domains. */
typedef enum GatherDmaPath {
        /* dma_unmap_page/_phys/_sg -> __iommu_dma_unmap(): a queued gather
         * in DMA-FQ, the IOVA freed through the flush queue, no sync. */
        GATHER_PATH_FLUSH_QUEUE,
        /* dma_iova_destroy() -> dma_iova_unlink() (v6.16+; nvme requests of
         * several segments from 6.17): a fresh gather, never queued,
         * iommu_iotlb_sync() at every unmap, the IOVA freed at once: the
         * same syncs in DMA and DMA-FQ. */
        GATHER_PATH_IOVA_API,
        _GATHER_PATH_MAX,
} GatherDmaPath;

/* The kernel from which nvme (the first user) unmaps through the IOVA
 * DMA API: "nvme-pci: convert the data mapping to blk_rq_dma_map", v6.17. */
#define GATHER_IOVA_API_SINCE_MAJOR 6
#define GATHER_IOVA_API_SINCE_MINOR 17

/* IOTLB syncs one valid unmap event pays in a strict (DMA) domain under
 * these rules, on either path: k + 1 (VT-d, io-pgtable-arm before the
 * generic page table), 1 (AMD, generic page table). 0 for an invalid
 * event. */
uint64_t gather_model_strict_syncs(const GatherRules *rules, uint64_t iova, uint64_t size);

/* IOTLB syncs one valid unmap event pays in a lazy (DMA-FQ) domain on a
 * path, the flush queue's own domain-wide flushes not counted: the IOVA
 * API path pays what strict pays; the flush-queue path 0 (patched = true,
 * or any rules without an unpatched variant), or k + (k > 0) on the
 * unpatched VT-d driver. 0 for an invalid event. */
uint64_t gather_model_lazy_syncs(const GatherRules *rules, GatherDmaPath path, bool patched, uint64_t iova,
                                 uint64_t size);

/* gather_model_account() under a driver's rules: strict k + 1 (VT-d,
 * ARM LPAE) or 1 (AMD, generic page table); lazy unpatched k + (k > 0) on
 * VT-d's own page table only, else 0. */
void gather_model_account_rules(GatherCounts *acc, const GatherRules *rules, uint64_t iova, uint64_t size);

/* gather_model_filter_min_size() under a driver's rules: UINT64_MAX for AMD
 * and the generic page table, where no event's count depends on its
 * chunks. */
uint64_t gather_model_rules_filter_min_size(const GatherRules *rules);

/* The smallest event size that can have k > 0: the sum of the two smallest
 * page sizes (0x201000 for VT-d with superpages: a 2 MiB unmap is either
 * one 2M chunk or 512 4K pages, never both). Every valid event smaller than
 * this has k = 0 at any iova, so the tracepoint filter "size >= 0x..." with
 * this value drops only events whose syncs are known without seeing them:
 * strict 1, lazy 0. UINT64_MAX when the bitmap has fewer than two page
 * sizes (no event can have k > 0). */
uint64_t gather_model_filter_min_size(uint64_t pgsize_bitmap);
