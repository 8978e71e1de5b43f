/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unmap path this models (Linux 6.1):
 *
 *   __iommu_dma_unmap()                      drivers/iommu/dma-iommu.c
 *     gather = fresh; gather.queued = (domain has a flush queue)
 *     iommu_unmap_fast() -> __iommu_unmap()  drivers/iommu/iommu.c
 *       while (unmapped < size)
 *         pgsize = iommu_pgsize(domain, iova, iova, size - unmapped, &count)
 *         intel_iommu_unmap_pages()          drivers/iommu/intel/iommu.c
 *           -> intel_iommu_unmap(iova, count << pgshift)
 *                [patched: only if !gather.queued]
 *                iommu_iotlb_gather_add_page(gather, iova, count << pgshift)
 *     if (!gather.queued) iommu_iotlb_sync()
 *
 * iommu_iotlb_gather_add_page() (include/linux/iommu.h) syncs first when
 * gather->pgsize is set and differs from the new size, or when
 * iommu_iotlb_gather_is_disjoint(): gather->end != 0 && (end + 1 <
 * gather->start || start > gather->end + 1), i.e. touching ranges are not
 * disjoint. The chunks of one event are contiguous (iova advances by what
 * was unmapped), so only the size test ever fires within an event. Every
 * sync ends in iommu_iotlb_gather_init(), which also clears gather.queued:
 * after the first mid-event sync the unpatched lazy driver behaves as strict
 * for the rest of the event, and __iommu_dma_unmap() adds the final sync
 * (and frees the IOVA at once instead of queueing it).
 *
 * Why there is no superpage round-up: intel_iommu_unmap() enlarges a chunk
 * to the superpage at its iova, but a DMA-API unmap covers exactly what was
 * mapped, and iommu_pgsize() on iova alone (unmap) never picks a smaller
 * page at a superpage's start than iova and paddr together did (map).
 */

#include <stdbool.h>
#include <stdio.h>

#include "gather-model.h"

/* GENMASK(h, 0): bits 0..h, for h <= 63. */
static inline uint64_t mask_upto(unsigned h) {
        return UINT64_MAX >> (63 - h);
}

static inline unsigned fls64_nz(uint64_t x) {
        return 63u - (unsigned) __builtin_clzll(x);
}

static inline unsigned ffs64_nz(uint64_t x) {
        return (unsigned) __builtin_ctzll(x);
}

static inline bool event_valid(uint64_t bitmap, uint64_t iova, uint64_t size) {
        if (bitmap == 0 || size == 0)
                return false;
        /* __iommu_unmap(): !IS_ALIGNED(iova | size, min_pagesz) unmaps nothing. */
        if ((iova | size) & ((bitmap & -bitmap) - 1))
                return false;
        /* The last byte must not pass 2^64 (the kernel's unsigned long). */
        return size - 1 <= UINT64_MAX - iova;
}

/* iommu_pgsize() with paddr == iova, as __iommu_unmap_pages() calls it.
 * Needs a valid event's remainder: iova and size multiples of the minimum
 * page, size > 0, so at least the minimum page fits (the kernel's
 * BUG_ON(!pgsizes) cannot fire). Returns the chunk length in bytes. */
static inline uint64_t next_chunk(uint64_t bitmap, uint64_t iova, uint64_t size,
                                  unsigned *ret_shift) {
        uint64_t pgsizes, bigger;
        unsigned idx;

        pgsizes = bitmap & mask_upto(fls64_nz(size));
        if (iova)
                pgsizes &= mask_upto(ffs64_nz(iova));
        idx = fls64_nz(pgsizes);

        /* Stop the run of this page size where the next bigger page size
         * can start, but only if at least one whole bigger page follows;
         * the kernel's "(iova ^ paddr) & (pgsize_next - 1)" test is always
         * false here. Written so that offset + pgsize_next cannot wrap. */
        bigger = bitmap & ~mask_upto(idx);
        if (bigger) {
                uint64_t next = bigger & -bigger;
                uint64_t offset = next - (iova & (next - 1));

                if (offset <= size && next <= size - offset)
                        size = offset;
        }

        *ret_shift = idx;
        return (size >> idx) << idx;
}

size_t gather_model_chunks(uint64_t pgsize_bitmap, uint64_t iova, uint64_t size,
                           GatherChunk *ret_chunks, size_t n_max) {
        size_t n = 0;

        if (!event_valid(pgsize_bitmap, iova, size))
                return 0;

        while (size > 0) {
                unsigned shift;
                uint64_t len = next_chunk(pgsize_bitmap, iova, size, &shift);

                if (n < n_max)
                        ret_chunks[n] = (GatherChunk) {
                                .iova = iova,
                                .pgsize = UINT64_C(1) << shift,
                                .count = len >> shift,
                        };
                n++;
                iova += len; /* wraps to 0 only after the last chunk */
                size -= len;
        }
        return n;
}

/* k for a valid event. Compares the chunk lengths, not the page sizes:
 * add_page() is handed pgcount << pgshift and compares that. */
static unsigned size_changes_valid(uint64_t bitmap, uint64_t iova, uint64_t size) {
        uint64_t prev = 0;
        unsigned k = 0, shift;

        while (size > 0) {
                uint64_t len = next_chunk(bitmap, iova, size, &shift);

                k += prev != 0 && prev != len;
                prev = len;
                iova += len;
                size -= len;
        }
        return k;
}

uint64_t gather_model_filter_min_size(uint64_t pgsize_bitmap) {
        uint64_t lowest = pgsize_bitmap & -pgsize_bitmap;
        uint64_t rest = pgsize_bitmap & ~lowest;

        if (rest == 0)
                return UINT64_MAX;
        /* Below lowest + second only pages of the lowest size fit, or the
         * event is exactly one second-size page (aligned: one chunk;
         * unaligned: the run of small pages cannot stop at the boundary
         * because no whole bigger page follows it). Cannot wrap: lowest <
         * second <= 2^63. */
        return lowest + (rest & -rest);
}

unsigned gather_model_size_changes(uint64_t pgsize_bitmap, uint64_t iova, uint64_t size) {
        if (!event_valid(pgsize_bitmap, iova, size))
                return 0;
        if (size < gather_model_filter_min_size(pgsize_bitmap))
                return 0;
        return size_changes_valid(pgsize_bitmap, iova, size);
}

static inline void account_k(GatherCounts *acc, unsigned k) {
        acc->mixed_events += k > 0;
        acc->strict_syncs += (uint64_t) k + 1;
        acc->lazy_unpatched_syncs += (uint64_t) k + (k > 0);
        /* lazy_patched_syncs: the patched driver never adds to a queued
         * gather, so nothing syncs; only the flush queue flushes. */
}

void gather_model_account(GatherCounts *acc, uint64_t pgsize_bitmap, uint64_t iova,
                          uint64_t size) {
        if (!event_valid(pgsize_bitmap, iova, size)) {
                acc->invalid++;
                return;
        }
        acc->events++;
        acc->bytes += size;
        account_k(acc, size < gather_model_filter_min_size(pgsize_bitmap)
                               ? 0
                               : size_changes_valid(pgsize_bitmap, iova, size));
}

const char *gather_driver_to_string(GatherDriver d) {
        static const char *const names[_GATHER_DRIVER_MAX] = {
                [GATHER_DRIVER_VTD] = "intel-iommu",
                [GATHER_DRIVER_ARM_LPAE] = "io-pgtable-arm",
                [GATHER_DRIVER_AMD] = "amd-iommu",
        };
        return d >= 0 && d < _GATHER_DRIVER_MAX ? names[d] : "unknown";
}

/* One sync per event, whatever its chunks (AMD, generic page table). */
static bool one_sync_per_event(const GatherRules *rules) {
        return rules->driver == GATHER_DRIVER_AMD || rules->generic_pt;
}

uint64_t gather_model_rules_filter_min_size(const GatherRules *rules) {
        return one_sync_per_event(rules) ? UINT64_MAX : gather_model_filter_min_size(rules->pgsize_bitmap);
}

GatherRules gather_rules_for_kernel(GatherDriver driver, uint64_t pgsize_bitmap, unsigned major, unsigned minor) {
        return (GatherRules) {
                .driver = driver,
                .pgsize_bitmap = pgsize_bitmap,
                .generic_pt = (driver == GATHER_DRIVER_VTD || driver == GATHER_DRIVER_AMD) &&
                              major * 1000 + minor >= 6019,
        };
}

bool gather_rules_model_unpatched(const GatherRules *rules) {
        return rules->driver == GATHER_DRIVER_VTD && !rules->generic_pt;
}

void gather_rules_describe(const GatherRules *rules, bool iova_api, char *buf, size_t size) {
        snprintf(buf, size, "%s, %s: strict %s; lazy %s on the flush-queue path%s",
                 gather_driver_to_string(rules->driver),
                 rules->generic_pt                         ? "generic page table (6.19+)"
                 : rules->driver == GATHER_DRIVER_ARM_LPAE ? "its own page table"
                                                           : "its own page table (up to 6.18)",
                 one_sync_per_event(rules) ? "1 sync per unmap" : "k + 1 syncs per unmap (k page-size changes)",
                 gather_rules_model_unpatched(rules) ? "0 (k + (k > 0) without the VT-d fix)" : "0",
                 iova_api ? ", what strict pays on the IOVA DMA API path (6.17+)" : "");
}

uint64_t gather_model_strict_syncs(const GatherRules *rules, uint64_t iova, uint64_t size) {
        if (!event_valid(rules->pgsize_bitmap, iova, size))
                return 0;
        if (one_sync_per_event(rules))
                return 1;
        return (uint64_t) size_changes_valid(rules->pgsize_bitmap, iova, size) + 1;
}

uint64_t gather_model_lazy_syncs(const GatherRules *rules, GatherDmaPath path, bool patched, uint64_t iova,
                                 uint64_t size) {
        unsigned k;

        if (path == GATHER_PATH_IOVA_API)
                return gather_model_strict_syncs(rules, iova, size);
        if (patched || !gather_rules_model_unpatched(rules) || !event_valid(rules->pgsize_bitmap, iova, size))
                return 0;
        k = size_changes_valid(rules->pgsize_bitmap, iova, size);
        return (uint64_t) k + (k > 0);
}

void gather_model_account_rules(GatherCounts *acc, const GatherRules *rules, uint64_t iova, uint64_t size) {
        uint64_t unpatched_before = acc->lazy_unpatched_syncs;

        if (rules->generic_pt && rules->driver != GATHER_DRIVER_AMD) {
                /* One range, one sync (see GatherRules.generic_pt); no
                 * unpatched driver, no page-size changes to track. */
                if (!event_valid(rules->pgsize_bitmap, iova, size)) {
                        acc->invalid++;
                        return;
                }
                acc->events++;
                acc->bytes += size;
                acc->strict_syncs++;
                return;
        }
        switch (rules->driver) {
        case GATHER_DRIVER_AMD:
                /* One gathered range, one sync: the chunks do not matter. */
                if (!event_valid(rules->pgsize_bitmap, iova, size)) {
                        acc->invalid++;
                        return;
                }
                acc->events++;
                acc->bytes += size;
                acc->strict_syncs++;
                return;
        case GATHER_DRIVER_ARM_LPAE:
                gather_model_account(acc, rules->pgsize_bitmap, iova, size);
                /* No unpatched lazy variant: io-pgtable-arm skips queued gathers. */
                acc->lazy_unpatched_syncs = unpatched_before;
                return;
        default:
                gather_model_account(acc, rules->pgsize_bitmap, iova, size);
                return;
        }
}

void gather_model_replay(GatherCounts *acc, uint64_t pgsize_bitmap, const GatherEvent *events,
                         size_t n) {
        /* Totals in locals: as far as the compiler knows acc may alias
         * events, and the loop must not store through it per event. */
        GatherCounts t = { 0 };
        uint64_t min_mask, filter, small = 0;

        if (pgsize_bitmap == 0) {
                acc->invalid += n;
                return;
        }

        /* Per-domain constants hoisted; the common small event takes only
         * these checks and no chunking. */
        min_mask = (pgsize_bitmap & -pgsize_bitmap) - 1;
        filter = gather_model_filter_min_size(pgsize_bitmap);

        for (size_t i = 0; i < n; i++) {
                uint64_t iova = events[i].iova, size = events[i].size;

                if (__builtin_expect(size == 0 || ((iova | size) & min_mask) ||
                                             size - 1 > UINT64_MAX - iova,
                                     0)) {
                        t.invalid++;
                        continue;
                }
                t.bytes += size;
                if (__builtin_expect(size >= filter, 0))
                        account_k(&t, size_changes_valid(pgsize_bitmap, iova, size));
                else
                        small++;
        }

        /* A small event has k = 0: one strict sync, nothing lazy. */
        acc->events += n - t.invalid;
        acc->invalid += t.invalid;
        acc->bytes += t.bytes;
        acc->mixed_events += t.mixed_events;
        acc->strict_syncs += t.strict_syncs + small;
        acc->lazy_unpatched_syncs += t.lazy_unpatched_syncs;
}
