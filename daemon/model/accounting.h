/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Flush accounting: turns one tick of samples into counter deltas per
 * group, per IOMMU unit and for the machine, and into the unmap rates the
 * policy decides on. Pure: plain structs in, plain structs out.
 *
 * Attribution, and nothing invented:
 *  - IOTLB invalidations carry the unit and the domain id (qi_submit on
 *    VT-d); the domain map ties a domain id to a device and so to a group.
 *    An invalidation whose domain is not known stays unattributed at its
 *    unit.
 *  - The iommu:map/unmap tracepoints name no device. Each group's unmaps
 *    and maps come from group-attribution.h: exact by device (dma:*),
 *    exact by its strict domain's page-selective invalidations, by
 *    elimination, or apportioned by I/O operations (and counted in
 *    unmaps_apportioned). What none of these places stays unattributed,
 *    with why in `attribution`. The machine's unmaps go to its unit when it
 *    has one.
 *  - "Strict would have cost" comes from the gather model: one sync per
 *    unmap below the recording filter, k + 1 for each recorded unmap (the
 *    driver's rules: 1 on AMD and on the generic page table, 6.19+, where
 *    nothing is recorded), and where maps are flushed too (caching
 *    mode, NpCache) one more per unmap: each mapping's one
 *    iotlb_sync_map. Avoided = that minus the actual IOTLB invalidations,
 *    counted where both sides are known.
 *  - "Avoided by the patched driver" = what the unpatched lazy driver would
 *    have cost (k + (k > 0) per recorded unmap) minus the page-selective
 *    invalidations actually seen, for unmaps known to be in lazy domains.
 *    Only VT-d's own page table (before 6.19) has an unpatched variant;
 *    elsewhere the model is 0 and nothing is claimed.
 *  - Per DMA path: the strict figure is the same for unmaps through the
 *    flush queue and through the IOVA DMA API (6.17+); the actual lazy cost
 *    differs (the IOVA API flushes at every unmap) but is measured on VT-d,
 *    not modelled, so avoided_vs_strict is right on either path.
 *  - Invalidations a tick saw beyond its model are credited to the next
 *    tick only (see AccountingInput), never further: at a tick's edge the
 *    invalidations of an unmap are sampled a tick before its record.
 *  - Nothing is avoided that no lazy group could have avoided: the machine's
 *    avoided figure is at most what its DMA-FQ groups could avoid (their
 *    share of the strict model minus their own invalidations, and the
 *    unattributed unmaps' share when any group is lazy); with every group
 *    strict it is 0. A shortfall beyond that is owed by the kernel (an
 *    unmap's invalidation sampled a tick after its record) and carried as a
 *    debit, at most the tick's own strict model, which the next tick's
 *    excess pays before it becomes credit.
 *  - Savings per group: what strict would have cost for a lazy group's
 *    unmaps (the machine's model shared by unmaps) minus the invalidations
 *    of its domains; the machine's avoided total is shared out in
 *    proportion to those, never beyond them, and the rest stays
 *    unattributed. A share that rests on apportioned unmaps is counted in
 *    avoided_apportioned too.
 *  - Rates for the policy: every group's, with its source, whenever the
 *    counters run; unknown otherwise.
 *  - Time saved = avoided x the cost of one invalidation, when a cost is
 *    known (measured on debugfs, or configured); otherwise none is claimed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain-map.h"
#include "driver-verdict.h"
#include "flush-sampler.h"
#include "group-attribution.h"
#include "policy.h"
#include "state-file.h"
#include "topology.h"

typedef struct AccountingInput {
        const Topology *topology;
        const FlushTick *tick;
        const DomainMap *map;         /* NULL: no domain is known */
        const bool *group_active;     /* parallel to topology->groups: its devices did I/O this tick */
        const uint64_t *group_io_ops; /* parallel to topology->groups: its I/O operations; NULL: none known */
        const double *group_unmaps_per_op; /* parallel: measured unmaps per operation, 0 unknown; NULL: none */
        /* parallel: its devices moved data (block I/O, packets), not just
         * interrupts; NULL: take group_active. Domain ids are learned only
         * in ticks where one group alone moved data: a device active by
         * its interrupts only (a NIC's watchdog, one whose traffic another
         * network namespace hides) must not stop that. */
        const bool *group_moved_data;
        uint64_t exact_carry_in;      /* the previous tick's exact_carry_out */
        bool iova_api;                /* the kernel maps some requests through the IOVA-based DMA API (6.17+) */
        double interval_s;            /* length of the tick */
        uint64_t cost_ns;             /* of one IOTLB invalidation; 0: unknown */
        /* The previous tick's credits (its *_credit_out): invalidations it
         * saw beyond its model. The samplers drain the unmap records before
         * the invalidation records, and an unmap's invalidations come before
         * its unmap event, so an unmap at the edge of a tick has its
         * invalidations in one tick and its record in the next; without the
         * credit that tick would count them as avoided. */
        uint64_t strict_credit_in;    /* IOTLB invalidations beyond the strict model */
        uint64_t patch_credit_in;     /* page-selective ones beyond the unpatched model */
        /* The previous tick's strict_debit_out: IOTLB invalidations its
         * strict model counted that no lazy group explains and that it did
         * not see, still owed. An unmap at a tick's edge can also have its
         * record in one tick and its invalidation in the next (a record not
         * yet visible when the tick drained the ring): the next tick's
         * excess pays the debit before it becomes credit. */
        uint64_t strict_debit_in;
} AccountingInput;

typedef struct AccountingDomainSeen {
        char unit[FLUSH_SAMPLER_UNIT_MAX];
        uint16_t did;
        uint64_t iotlb, iotlb_page;   /* its invalidations this tick */
        int group;                    /* index of the group it seems to be, -1: none */
        const char *how;              /* why, in words (static) */
} AccountingDomainSeen;

typedef struct AccountingTick {
        StateCounters *groups;        /* parallel to topology->groups */
        StateCounters *units;         /* parallel to topology->units: everything on the unit */
        StateCounters *unattributed;  /* parallel to topology->units */
        StateCounters total;          /* the machine */
        PolicyGroupRate *rates;       /* parallel to topology->groups */
        int unmaps_group;             /* index of the group given this tick's unmaps, -1: none */
        char attribution[512];        /* how this tick's unmaps were attributed, in words */
        RateSource *sources;          /* parallel to topology->groups: how its unmaps were obtained */
        uint64_t *tick_unmaps;        /* parallel to topology->groups: its unmaps this tick */
        /* Domain ids no map knows, invalidated at least DOMAIN_LEARN_MIN
         * times this tick, each with the group it seems to be: the group
         * that alone moved data (learn_group, an index), or the one strict
         * group whose exact device count its page-selective invalidations
         * match (one per strict unmap), in either case a group behind the
         * same unit (domain ids are per unit). Candidates for the
         * DomainLearner. */
        AccountingDomainSeen *learn;
        size_t n_learn;
        int learn_group;
        DriverEvidence evidence;      /* this tick's evidence about the VT-d driver fix */
        uint64_t strict_credit_out;   /* for the next tick's strict_credit_in */
        uint64_t strict_debit_out;    /* for the next tick's strict_debit_in */
        uint64_t exact_carry_out;     /* for the next tick's exact_carry_in (group-attribution.h) */
        uint64_t patch_credit_out;    /* for the next tick's patch_credit_in */
} AccountingTick;

/* Computes one tick. Returns 0, -EINVAL for a missing input, or -ENOMEM;
 * release *ret with accounting_tick_done(). */
int accounting_compute(const AccountingInput *in, AccountingTick *ret);
void accounting_tick_done(AccountingTick *t);

/* The group that owns a domain id on a unit, -1 when unknown: the device
 * the map gives, and the topology's group of that device. */
int accounting_group_of_domain(const Topology *t, const DomainMap *map, const char *unit, uint16_t did);
