/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The flush counters, named once. Each counter of StateCounters has one row
 * here: its key in state.json, its key in the control protocol's replies,
 * its Prometheus metric name, what it counts (the metrics' HELP text) and
 * its unit. The state file, the replies and the metrics all take their
 * names from this table; the daemon and iommuctl link it.
 *
 * A counter kept in nanoseconds (unit COUNTER_UNIT_NANOSECONDS) is
 * exported to Prometheus in seconds, its base unit; its metric name ends in
 * "_seconds".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The counters of one group, one unit, or the unattributed remainder: what
 * state.json keeps (state-file.h), the replies and the metrics show, one
 * field a row of the table below. Defined here, with the table, so that
 * common code (iommuctl) needs nothing of the daemon. */
typedef struct StateCounters {
        uint64_t maps;
        uint64_t unmaps;
        uint64_t iotlb_invalidations;        /* iotlb_inv + p_iotlb_inv descriptors */
        uint64_t iotlb_page_selective;       /* of those, page-selective */
        uint64_t devtlb_invalidations;       /* dev_tlb_inv + p_dev_tlb_inv */
        uint64_t strict_model_invalidations; /* what strict mode would have cost (gather model) */
        uint64_t unpatched_model_invalidations; /* what the unpatched lazy driver would have cost */
        uint64_t avoided_vs_strict;
        uint64_t avoided_by_patch;
        uint64_t time_saved_ns;
        uint64_t unmaps_apportioned;         /* of unmaps, apportioned by I/O operations (estimated) */
        uint64_t avoided_apportioned;        /* of avoided_vs_strict, resting on apportioned unmaps */
        uint64_t maps_apportioned;           /* of maps, apportioned by unmaps (estimated) */
        /* perf records the kernel dropped (ring full) per source: the
         * machine's figures are short by these; a lost record names no
         * group or unit, so only the machine's (total) counts them. */
        uint64_t unmap_records_lost;
        uint64_t qi_records_lost;
        uint64_t dma_records_lost;
} StateCounters;

typedef enum CounterUnit {
        COUNTER_UNIT_EVENTS,      /* a count of events: unmaps, invalidations */
        COUNTER_UNIT_NANOSECONDS, /* a time, exported in seconds */
} CounterUnit;

typedef struct CounterInfo {
        const char *state_key; /* in state.json's counters objects: never renamed */
        const char *wire_key;  /* in the replies of "savings" */
        const char *metric;    /* iommutuned_<level>_<metric>_total */
        const char *help;      /* what one unit of it is, one sentence */
        CounterUnit unit;
        size_t offset;         /* of the uint64_t in StateCounters */
        bool column;           /* a column of iommuctl savings, titled counter_column_title() */
        const char *part_of;   /* the state key of the counter this one is the apportioned part of, or NULL */
        bool machine_only;     /* the machine's figure only: no group or unit has one (not saved, replied or exported for them) */
} CounterInfo;

/* The rows, in StateCounters' order; counter_info_count() of them. */
const CounterInfo *counter_info(size_t i);
size_t counter_info_count(void);

/* The row that is the apportioned part of row i, or NULL. */
const CounterInfo *counter_apportioned_part(size_t i);
/* iommuctl's column title for row i: its wire key in capitals, words
 * apart, without the unit suffix of a time ("time_saved_ns": "TIME
 * SAVED"). */
void counter_column_title(size_t i, char *buf, size_t size);

/* The value of row i in c (nanoseconds for a time); i < counter_info_count(). */
uint64_t counter_value(const StateCounters *c, size_t i);
uint64_t *counter_value_ptr(StateCounters *c, size_t i);
