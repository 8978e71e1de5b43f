/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Per-group unmaps and maps in every tick, whatever else is busy. Pure:
 * plain structs in, plain structs out.
 *
 * The machine's iommu:map/unmap counters are the totals. Each group's share
 * of them comes from the best source there is, in this order:
 *
 *  - exact, by device: the dma:* tracepoints (6.12+) name the device of
 *    every map/unmap API call (dma_unmap_page/_phys/_sg/_resource). From
 *    6.17 requests on the IOVA-based DMA API (dma_iova_link/destroy) fire
 *    iommu:unmap but no dma:* event, so there the device count alone is
 *    complete only together with the domain count below.
 *  - exact, by domain (VT-d, the unit not flushing maps): every unmap of a
 *    strict domain, and every IOVA-API unmap in either mode, is followed by
 *    page-selective invalidations carrying the domain id; the domain map
 *    ties that id to the group. That is one per unmap only where the
 *    caller says so (domain_one_per_unmap): not where the domain had a
 *    domain-selective flush this tick (a range too large for one
 *    page-selective one is flushed whole: an unmap with none), nor, before
 *    the generic page table (6.19), in a tick with an unmap whose page
 *    sizes change (k + 1 for it). Strict: unmaps = max(device count,
 *    page-selective) where the IOVA-API path exists, the device count alone
 *    (complete) where it does not; lazy: device count + page-selective (the
 *    flush queue sends no page-selective invalidation for the map/unmap
 *    API). Where the domain's count is not one per unmap, the group's
 *    figure is its device count where that is complete, else it takes a
 *    part of the rest below like a group with no exact count.
 *  - by elimination: what the exact sources left goes whole to the one
 *    group with I/O whose figure is not complete, when there is one.
 *  - apportioned, and labelled so: otherwise among the groups with I/O
 *    whose figure is not complete, in proportion to their I/O operations
 *    (block I/Os, packets, interrupts of devices with neither), each
 *    weighted by the group's unmaps per operation where that was measured
 *    in earlier ticks with an exact count (a virtio-blk request maps its
 *    header, data and status apart; an nvme read maps once). A group with
 *    no I/O gets no share.
 *
 * Maps: the machine's maps shared in proportion to the groups' unmaps
 * (each mapping ends in one unmap), labelled apportioned
 * (apportioned_maps) unless one group alone had I/O or unmaps this tick.
 * (The dma:* map events are calls, not iommu:map events: a scatterlist
 * maps one event per segment, so the daemon does not count maps by
 * device.)
 *
 * Nothing invented: the groups' figures plus the unattributed rest equal
 * the machine's totals. The exact counts come from other streams, read a
 * moment apart from the machine's counters: unmaps at a tick's edge can be
 * in one tick's exact counts and the next tick's machine count. What a
 * tick's exact counts have beyond its machine total is carried (carry_out,
 * at most its own exact counts) and taken off the next tick's rest, so
 * such an unmap is neither apportioned nor left unattributed twice.
 *
 * The flush queue batches only map/unmap API unmaps: "batchable" per group
 * is its device count where the kernel has an IOVA-based path (6.17+),
 * every unmap before that.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum RateSource {
        RATE_SOURCE_UNKNOWN,      /* the counters are not running, or unmaps no source placed */
        RATE_SOURCE_IDLE,         /* no I/O, no exact count, nothing left unplaced: zero */
        RATE_SOURCE_DEVICE,       /* exact: dma:* tracepoints (with the domain's where needed) */
        RATE_SOURCE_DOMAIN,       /* exact: page-selective invalidations of its strict domain */
        RATE_SOURCE_ELIMINATION,  /* exact: the only group with I/O that the exact sources did not cover */
        RATE_SOURCE_APPORTIONED,  /* estimated: a share by I/O operations */
        _RATE_SOURCE_MAX,
} RateSource;

/* "exact by device", "apportioned", ... (for JSON and metrics labels). */
const char *rate_source_to_string(RateSource s);
/* True for the sources that are measurements of this group alone. */
bool rate_source_is_exact(RateSource s);

typedef struct AttributionGroupIn {
        bool active;               /* its devices did I/O this tick */
        uint64_t io_ops;           /* block I/Os + packets (+ interrupts of devices with neither) */
        double unmaps_per_op;      /* measured when its count was exact; 0: unknown, taken as 1 */
        bool strict;               /* type DMA */
        bool device_counted;       /* dma:* unmap events counted for every device of it */
        uint64_t device_unmaps;
        bool domain_known;         /* its domain ids are known, on a unit that does not flush maps */
        uint64_t page_selective;   /* page-selective IOTLB invalidations of its domains */
        /* page_selective is one per unmap this tick: no domain-selective
         * flush of its domains, no unmap with page-size changes (or the
         * kernel pays one per unmap whatever the sizes: generic page table),
         * and no invalidation record lost. */
        bool domain_one_per_unmap;
} AttributionGroupIn;

typedef struct AttributionInput {
        bool counters_ok;          /* the machine's map/unmap counters were read */
        uint64_t unmaps, maps;
        bool iova_api;             /* the kernel has the IOVA-based DMA API path (6.17+) */
        uint64_t exact_carry;      /* the previous tick's carry_out */
        const AttributionGroupIn *groups;
        size_t n_groups;
} AttributionInput;

typedef struct AttributionGroup {
        RateSource source;
        uint64_t unmaps, maps;
        uint64_t apportioned_unmaps;   /* of unmaps, the apportioned part */
        uint64_t apportioned_maps;     /* of maps, the apportioned part (all of them, or 0) */
        double share;                  /* of the apportioned rest, 0..1 */
        bool batchable_known;
        uint64_t batchable_unmaps;     /* unmaps the flush queue would batch */
} AttributionGroup;

typedef struct Attribution {
        AttributionGroup *groups;      /* parallel to the input's */
        uint64_t rest_unmaps;          /* what the exact sources left */
        uint64_t unattributed_unmaps, unattributed_maps;
        uint64_t carry_out;            /* exact counts beyond the machine's, for the next tick */
        uint64_t io_ops_shared;        /* the I/O operations the rest was apportioned by */
        bool weighted;                 /* some were weighted by a measured unmaps per operation */
        char why[160];                 /* why anything stayed unattributed; "" when nothing did */
} Attribution;

/* Returns 0, -EINVAL (NULL input), -ENOMEM. Release with attribution_done(). */
int attribution_compute(const AttributionInput *in, Attribution *ret);
void attribution_done(Attribution *a);

/* Splits total in proportion to weights[0..n) (the largest remainders get
 * the rounding), so the parts sum to total exactly. All-zero weights give
 * zeros (and return 0). Returns what was handed out. */
uint64_t attribution_split(uint64_t total, const uint64_t *weights, size_t n, uint64_t *ret_parts);

/* The next unmaps-per-operation estimate of a group from this tick: an
 * exponential average (1/4 new) over ticks where its count was exact and
 * it did at least a few operations; prev 0: none yet. */
double attribution_unmaps_per_op(double prev, RateSource source, uint64_t unmaps, uint64_t io_ops);

/* ---- learned domains --------------------------------------------------- */

/* A VT-d domain id whose invalidations appear while one group alone did
 * I/O belongs to that group: once seen in DOMAIN_LEARN_CONFIRM such ticks
 * with the same group (a flush-queue timer flush left over from another
 * group's earlier I/O is seen once, not twice in a row). */
#define DOMAIN_LEARN_CONFIRM 2
/* ... each time with at least this many invalidations: a group's own I/O,
 * not a flush queue's last timer flush after another group's I/O. */
#define DOMAIN_LEARN_MIN 10
/* Or: its page-selective invalidations match, within this many percent
 * (and at least 2), the exact device count of exactly one strict group
 * whose domain is not known (strict pays one per unmap). */
#define DOMAIN_LEARN_MATCH_PCT 5
#define DOMAIN_LEARN_UNIT_MAX 16

typedef struct DomainCandidate {
        char unit[DOMAIN_LEARN_UNIT_MAX];
        uint16_t did;
        unsigned group;            /* group id */
        unsigned seen;
        uint64_t last_tick;
} DomainCandidate;

typedef struct DomainLearner {
        DomainCandidate *c;
        size_t n, allocated;
} DomainLearner;

/* One sighting of (unit, did) in tick number tick while group alone did
 * I/O. Returns 1 when the pair is now confirmed (learn it), 0 when not yet,
 * -ENOMEM. A sighting with another group, or after a gap of more than one
 * tick, starts over. */
int domain_learner_see(DomainLearner *l, const char *unit, uint16_t did, unsigned group, uint64_t tick);
void domain_learner_done(DomainLearner *l);
