/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The counter table (counters.c) and the Prometheus exposition built from
 * it (metrics.c): every row named once and well (snake case, a time in
 * seconds), and for every row at every level exactly one family with the
 * row's HELP text and TYPE counter, before its samples, each sample's value
 * the row's field (a time converted to seconds exactly), labels escaped;
 * no family name shared between two levels, so sum() never double-counts.
 */
#include <ctype.h>
#include <stdlib.h>

#include "counters.h"
#include "metrics.h"
#include "tap.h"
#include "util.h"

static bool snake_case(const char *s) {
        if (!s || !islower((unsigned char) s[0]))
                return false;
        for (; *s; s++)
                if (!islower((unsigned char) *s) && !isdigit((unsigned char) *s) && *s != '_')
                        return false;
        return true;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && streq(s + n - m, suffix);
}

static void test_table(void) {
        size_t n = counter_info_count();

        CHECK_INT(n * sizeof(uint64_t), sizeof(StateCounters), "one row per StateCounters field");
        for (size_t i = 0; i < n; i++) {
                const CounterInfo *c = counter_info(i);

                CHECK(snake_case(c->state_key) && snake_case(c->wire_key) && snake_case(c->metric),
                      "row %zu: keys and metric name in snake case (%s, %s, %s)", i, c->state_key, c->wire_key,
                      c->metric);
                CHECK(c->help && strlen(c->help) > 10 && !strchr(c->help, '\n') && ends_with(c->help, "."),
                      "row %zu (%s): HELP is one sentence", i, c->metric);
                CHECK(c->offset == i * sizeof(uint64_t), "row %zu (%s) in StateCounters' order", i, c->state_key);
                if (c->unit == COUNTER_UNIT_NANOSECONDS)
                        CHECK(ends_with(c->metric, "_seconds") && ends_with(c->state_key, "_ns"),
                              "row %zu: a time is kept in ns (%s) and exported in seconds (%s)", i, c->state_key,
                              c->metric);
                else
                        CHECK(!ends_with(c->metric, "_seconds") && !ends_with(c->metric, "_total"),
                              "row %zu: a count has no unit suffix (%s)", i, c->metric);
                for (size_t j = 0; j < i; j++) {
                        const CounterInfo *o = counter_info(j);

                        if (streq(o->state_key, c->state_key) || streq(o->wire_key, c->wire_key) ||
                            streq(o->metric, c->metric))
                                CHECK(false, "rows %zu and %zu share a name", j, i);
                }
        }
        CHECK(counter_info(n) == NULL, "no row past the end");
}

/* What the exposition says, parsed line by line. */
typedef struct Family {
        char name[128];
        char help[512];
        char type[16];
        int n_help, n_type, n_samples;
        bool sample_before_type;
} Family;

typedef struct Exposition {
        Family fam[256];
        size_t n;
        int orphan_samples; /* a sample of no declared family */
        char samples[64][256];
        size_t n_samples;
} Exposition;

static Family *family(Exposition *e, const char *name, bool add) {
        for (size_t i = 0; i < e->n; i++)
                if (streq(e->fam[i].name, name))
                        return &e->fam[i];
        if (!add || e->n == ELEMENTSOF(e->fam))
                return NULL;
        snprintf(e->fam[e->n].name, sizeof(e->fam[e->n].name), "%s", name);
        return &e->fam[e->n++];
}

static void parse(const char *text, Exposition *e) {
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL;

        memset(e, 0, sizeof(*e));
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[128];
                Family *f;
                int off = 0;

                if (sscanf(line, "# HELP %127s %n", name, &off) == 1 && off > 0) {
                        f = family(e, name, true);
                        f->n_help++;
                        snprintf(f->help, sizeof(f->help), "%s", line + off);
                } else if (sscanf(line, "# TYPE %127s %n", name, &off) == 1 && off > 0) {
                        f = family(e, name, true);
                        f->n_type++;
                        snprintf(f->type, sizeof(f->type), "%s", line + off);
                } else if (line[0] != '#') {
                        size_t len = strcspn(line, "{ ");

                        snprintf(name, sizeof(name), "%.*s", (int) len, line);
                        f = family(e, name, false);
                        if (!f)
                                e->orphan_samples++;
                        else {
                                f->n_samples++;
                                f->sample_before_type |= f->n_type == 0;
                        }
                        if (e->n_samples < ELEMENTSOF(e->samples))
                                snprintf(e->samples[e->n_samples++], sizeof(e->samples[0]), "%s", line);
                }
        }
}

static bool has_sample(const Exposition *e, const char *line) {
        for (size_t i = 0; i < e->n_samples; i++)
                if (streq(e->samples[i], line))
                        return true;
        return false;
}

static void test_counter_families(void) {
        StateCounters a = {}, b = {};
        Exposition *e = calloc(1, sizeof(*e));
        char *names[_METRICS_LEVEL_MAX][32] = {};

        /* Distinct values per row; the time 1.5 s and 2^64-1 ns. */
        for (size_t i = 0; i < counter_info_count(); i++) {
                *counter_value_ptr(&a, i) = 1000 * (i + 1) + 7;
                *counter_value_ptr(&b, i) = UINT64_MAX - i;
        }
        a.time_saved_ns = 1500000000;
        b.time_saved_ns = UINT64_MAX;

        for (MetricsLevel level = 0; level < _METRICS_LEVEL_MAX; level++) {
                MetricsCounterSeries series[] = { { "unit=\"dmar0\"", &a }, { "unit=\"dmar1\"", &b } };
                _cleanup_free_ char *text = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&text, &size);

                metrics_counter_families(f, level, series, ELEMENTSOF(series));
                fclose(f);
                size_t want = 0;

                for (size_t i = 0; i < counter_info_count(); i++)
                        want += level == METRICS_LEVEL_MACHINE || !counter_info(i)->machine_only;
                parse(text, e);
                CHECK(e->n == want, "level %d: one family per counter row kept at this level (%zu of %zu)", level,
                      e->n, want);
                CHECK(e->orphan_samples == 0, "level %d: no sample outside a declared family", level);
                for (size_t i = 0; i < counter_info_count(); i++) {
                        const CounterInfo *c = counter_info(i);
                        char name[128], line[256];
                        Family *fam;

                        CHECK_INT(metrics_counter_family_name(level, i, name, sizeof(name)), 0, "family name");
                        if (c->machine_only && level != METRICS_LEVEL_MACHINE) {
                                CHECK(family(e, name, false) == NULL, "level %d: no family %s (the machine's only)",
                                      level, name);
                                continue;
                        }
                        names[level][i] = strdup(name);
                        fam = family(e, name, false);
                        CHECK(fam != NULL, "level %d: family %s present", level, name);
                        if (!fam)
                                continue;
                        CHECK(ends_with(name, "_total") && snake_case(name), "%s: a counter's name ends in _total", name);
                        CHECK(fam->n_help == 1 && fam->n_type == 1, "%s: one HELP and one TYPE", name);
                        CHECK(strncmp(fam->help, c->help, strlen(c->help)) == 0,
                              "%s: HELP is the table's (\"%s\")", name, fam->help);
                        CHECK_STR(fam->type, "counter", name);
                        CHECK(!fam->sample_before_type && fam->n_samples == 2, "%s: HELP, TYPE, then its 2 samples",
                              name);
                        if (c->unit == COUNTER_UNIT_NANOSECONDS) {
                                snprintf(line, sizeof(line), "%s{unit=\"dmar0\"} 1.500000000", name);
                                CHECK(has_sample(e, line), "%s: 1.5e9 ns is 1.5 s (\"%s\")", name, line);
                                snprintf(line, sizeof(line), "%s{unit=\"dmar1\"} 18446744073.709551615", name);
                                CHECK(has_sample(e, line), "%s: 2^64-1 ns exactly in seconds", name);
                        } else {
                                snprintf(line, sizeof(line), "%s{unit=\"dmar0\"} %zu", name, 1000 * (i + 1) + 7);
                                CHECK(has_sample(e, line), "%s: the row's own field (\"%s\")", name, line);
                                snprintf(line, sizeof(line), "%s{unit=\"dmar1\"} %" PRIu64, name,
                                         (uint64_t) (UINT64_MAX - i));
                                CHECK(has_sample(e, line), "%s: 64-bit values unclamped", name);
                        }
                }
        }
        /* A family name in two levels would let sum() count twice. */
        for (MetricsLevel l = 0; l < _METRICS_LEVEL_MAX; l++)
                for (MetricsLevel k = 0; k < l; k++)
                        for (size_t i = 0; i < counter_info_count(); i++)
                                for (size_t j = 0; j < counter_info_count(); j++)
                                        if (names[l][i] && names[k][j] && streq(names[l][i], names[k][j]))
                                                CHECK(false, "%s in levels %d and %d", names[l][i], k, l);
        CHECK(names[METRICS_LEVEL_MACHINE][1] && streq(names[METRICS_LEVEL_MACHINE][1], "iommutuned_machine_unmaps_total"),
              "the machine's unmaps: iommutuned_machine_unmaps_total");
        CHECK(names[METRICS_LEVEL_UNIT_UNATTRIBUTED][1] &&
                      streq(names[METRICS_LEVEL_UNIT_UNATTRIBUTED][1], "iommutuned_unit_unattributed_unmaps_total"),
              "a unit's unattributed unmaps: iommutuned_unit_unattributed_unmaps_total");
        for (MetricsLevel l = 0; l < _METRICS_LEVEL_MAX; l++)
                for (size_t i = 0; i < 16; i++)
                        free(names[l][i]);
        CHECK_INT(metrics_counter_family_name(_METRICS_LEVEL_MAX, 0, (char[8]) {}, 8), -EINVAL, "bad level");
        CHECK_INT(metrics_counter_family_name(METRICS_LEVEL_MACHINE, 0, (char[8]) {}, 8), -ENOBUFS, "short buffer");
        free(e);
}

static void test_labels(void) {
        char buf[64] = "";

        CHECK_INT(metrics_label(buf, sizeof(buf), "group", "7"), 0, "first label");
        CHECK_INT(metrics_label(buf, sizeof(buf), "device", "a\"b\\c\nd"), 0, "second label");
        CHECK_STR(buf, "group=\"7\",device=\"a\\\"b\\\\c\\nd\"", "quote, backslash and newline escaped");
        CHECK_INT(metrics_label(buf, sizeof(buf), "unit", "0123456789012345678901234567890123456789"), -ENOBUFS,
                  "a label that does not fit");
        CHECK_STR(buf, "group=\"7\",device=\"a\\\"b\\\\c\\nd\"", "... leaves the list as it was");
}

static void test_family_header(void) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        metrics_family(f, "iommutuned_mode", METRIC_GAUGE, "1 for the mode.");
        metrics_sample_u64(f, "iommutuned_mode", "mode=\"advise\"", 1);
        metrics_sample_seconds(f, "iommutuned_tick_cpu_seconds", "", 1234567);
        fclose(f);
        CHECK_STR(text,
                  "# HELP iommutuned_mode 1 for the mode.\n# TYPE iommutuned_mode gauge\n"
                  "iommutuned_mode{mode=\"advise\"} 1\niommutuned_tick_cpu_seconds 0.001234567\n",
                  "HELP, TYPE and samples as promtool reads them");
}

int main(void) {
        test_table();
        test_counter_families();
        test_labels();
        test_family_header();
        return tap_done();
}
