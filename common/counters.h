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

#include "state-file.h"

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
