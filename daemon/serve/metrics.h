/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Prometheus text exposition format (version 0.0.4, what
 * `promtool check metrics` and node_exporter's textfile collector read):
 * every family has "# HELP" and "# TYPE" before its samples, a counter's
 * family name ends in "_total" as its samples do, times are in seconds.
 * Pure: writes to a FILE, knows nothing of the Manager.
 *
 * The flush counters (counters.h) are exported once per level, each level
 * its own family, so that sum() over one family never counts an event
 * twice:
 *   iommutuned_machine_<metric>_total                 the whole machine
 *   iommutuned_unit_<metric>_total{unit}              per IOMMU unit (sums to machine)
 *   iommutuned_unit_unattributed_<metric>_total{unit} the part of a unit no group was given
 *   iommutuned_group_<metric>_total{group,device}     per group, for the groups listed
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "state-file.h"

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_GAUGE,
        _METRIC_TYPE_MAX,
} MetricType;

typedef enum MetricsLevel {
        METRICS_LEVEL_MACHINE,
        METRICS_LEVEL_UNIT,
        METRICS_LEVEL_UNIT_UNATTRIBUTED,
        METRICS_LEVEL_GROUP,
        _METRICS_LEVEL_MAX,
} MetricsLevel;

/* "counter", "gauge". */
const char *metric_type_to_string(MetricType t);

/* "# HELP name help" and "# TYPE name type". help is one line. */
void metrics_family(FILE *f, const char *name, MetricType type, const char *help);

/* One sample. labels: "" or label pairs as metrics_label() builds them. */
void metrics_sample_u64(FILE *f, const char *name, const char *labels, uint64_t value);
/* A time kept in nanoseconds, written in seconds exactly ("1.000000250"). */
void metrics_sample_seconds(FILE *f, const char *name, const char *labels, uint64_t ns);

/* Appends `,key="value"` (no comma when buf is empty) to the NUL-terminated
 * label list in buf, escaping backslash, double quote and newline in value.
 * Returns 0, or -ENOBUFS when it does not fit (buf unchanged). */
int metrics_label(char *buf, size_t size, const char *key, const char *value);

/* The family name of counter row i (counters.h) at a level, e.g.
 * "iommutuned_unit_unattributed_unmaps_total". 0, or -ENOBUFS/-EINVAL. */
int metrics_counter_family_name(MetricsLevel level, size_t i, char *buf, size_t size);

/* One entity's counters at a level: its labels and its counters. */
typedef struct MetricsCounterSeries {
        const char *labels;
        const StateCounters *counters;
} MetricsCounterSeries;

/* For every row of the counter table, the level's family (HELP from the
 * table and the level) with one sample per series. A level with no series
 * still gets its families, with no samples. */
void metrics_counter_families(FILE *f, MetricsLevel level, const MetricsCounterSeries *series, size_t n);
