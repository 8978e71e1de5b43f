/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The debugfs dmar_perf_latency parser and the invalidation cost estimate:
 * the input is one read of the file, or two separated by a NUL byte (the
 * cost between two reads). An estimate must lie inside its own bounds.
 */
#include "dmar-latency.h"
#include "fuzz.h"
#include "util.h"

static void check_cost(int r, const DmarCost *c) {
        FUZZ_CHECK(r == 0 || r == -ENODATA || r == -ENOENT);
        if (r < 0)
                return;
        FUZZ_CHECK(c->samples > 0);
        FUZZ_CHECK(c->low_ns <= c->ns && c->ns <= c->high_ns);
        FUZZ_CHECK(memchr(c->source, 0, sizeof(c->source)));
}

static void check_costs(const DmarLatency *prev, const DmarLatency *cur) {
        DmarCost c;

        check_cost(dmar_latency_iotlb_cost_between(prev, cur, NULL, &c), &c);
        for (size_t i = 0; i < cur->n_units; i++)
                check_cost(dmar_latency_iotlb_cost_between(prev, cur, cur->units[i].name, &c), &c);
        FUZZ_CHECK(dmar_latency_iotlb_cost_between(prev, cur, "no-such-unit-name", &c) == -ENOENT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text_b = NULL;
        _cleanup_free_ char *text_a = fuzz_split(data, size, &text_b);
        _cleanup_(dmar_latency_done) DmarLatency a = {}, b = {};
        int r;

        r = dmar_latency_parse(text_a, &a);
        FUZZ_CHECK(r == 0 || r == -EBADMSG);
        if (r < 0) {
                FUZZ_CHECK(!a.units && a.n_units == 0);
                return 0;
        }
        for (size_t i = 0; i < a.n_units; i++)
                FUZZ_CHECK(memchr(a.units[i].name, 0, sizeof(a.units[i].name)));
        check_costs(NULL, &a);
        check_costs(&a, &a);
        if (text_b && dmar_latency_parse(text_b, &b) == 0) {
                check_costs(&a, &b);
                check_costs(&b, &a);
        }
        return 0;
}
