/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "counters.h"
#include "metrics.h"
#include "util.h"

static const char *const metric_types[_METRIC_TYPE_MAX] = {
        [METRIC_COUNTER] = "counter",
        [METRIC_GAUGE] = "gauge",
};

const char *metric_type_to_string(MetricType t) {
        return t >= 0 && t < _METRIC_TYPE_MAX ? metric_types[t] : NULL;
}

static const struct {
        const char *prefix; /* of the family name */
        const char *what;   /* appended to the counter's HELP text */
} levels[_METRICS_LEVEL_MAX] = {
        [METRICS_LEVEL_MACHINE] = { "machine",
                                    "Whole machine (with several units, unmaps no group could be given are on "
                                    "no unit)." },
        [METRICS_LEVEL_UNIT] = { "unit", "Per IOMMU unit, attributed to a group or not." },
        [METRICS_LEVEL_UNIT_UNATTRIBUTED] = { "unit_unattributed", "Per IOMMU unit, the part no group could be given." },
        [METRICS_LEVEL_GROUP] = { "group", "Per IOMMU group (device: its first device)." },
};

void metrics_family(FILE *f, const char *name, MetricType type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, metric_type_to_string(type));
}

static void sample_name(FILE *f, const char *name, const char *labels) {
        if (labels && labels[0])
                fprintf(f, "%s{%s} ", name, labels);
        else
                fprintf(f, "%s ", name);
}

void metrics_sample_u64(FILE *f, const char *name, const char *labels, uint64_t value) {
        sample_name(f, name, labels);
        fprintf(f, "%" PRIu64 "\n", value);
}

void metrics_sample_seconds(FILE *f, const char *name, const char *labels, uint64_t ns) {
        sample_name(f, name, labels);
        fprintf(f, "%" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
}

int metrics_label(char *buf, size_t size, const char *key, const char *value) {
        size_t len = strlen(buf), at = len;

#define PUT(c) do { if (at + 1 >= size) goto nobufs; buf[at++] = (c); } while (0)
        if (len)
                PUT(',');
        for (const char *k = key; *k; k++)
                PUT(*k);
        PUT('=');
        PUT('"');
        for (const char *v = value ? value : ""; *v; v++) {
                if (*v == '\\' || *v == '"') {
                        PUT('\\');
                        PUT(*v);
                } else if (*v == '\n') {
                        PUT('\\');
                        PUT('n');
                } else
                        PUT(*v);
        }
        PUT('"');
#undef PUT
        buf[at] = '\0';
        return 0;
nobufs:
        buf[len] = '\0';
        return -ENOBUFS;
}

int metrics_counter_family_name(MetricsLevel level, size_t i, char *buf, size_t size) {
        const CounterInfo *c = counter_info(i);
        int n;

        if (!c || level < 0 || level >= _METRICS_LEVEL_MAX)
                return -EINVAL;
        n = snprintf(buf, size, "iommutuned_%s_%s_total", levels[level].prefix, c->metric);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

void metrics_counter_families(FILE *f, MetricsLevel level, const MetricsCounterSeries *series, size_t n) {
        for (size_t i = 0; i < counter_info_count(); i++) {
                const CounterInfo *c = counter_info(i);
                char name[128], help[512];

                /* A machine-only row has no family at the other levels. */
                if ((c->machine_only && level != METRICS_LEVEL_MACHINE) ||
                    metrics_counter_family_name(level, i, name, sizeof(name)) < 0)
                        continue;
                snprintf(help, sizeof(help), "%s %s", c->help, levels[level].what);
                metrics_family(f, name, METRIC_COUNTER, help);
                for (size_t s = 0; s < n; s++)
                        if (c->unit == COUNTER_UNIT_EVENTS)
                                metrics_sample_u64(f, name, series[s].labels, counter_value(series[s].counters, i));
                        else
                                metrics_sample_seconds(f, name, series[s].labels, counter_value(series[s].counters, i));
        }
}
