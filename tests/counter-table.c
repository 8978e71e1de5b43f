/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The counter table (common/counters.c) for the shell tests: one line per
 * counter, tab-separated: state key, wire key, metric name, unit ("events"
 * or "nanoseconds"), iommuctl savings' column title ("-": no column), the
 * state key of the counter it is the apportioned part of ("-": none),
 * "machine" for a row the machine alone has ("-": groups and units too). The
 * tests read the names from here, never a copy.
 */
#include <stdio.h>

#include "counters.h"

int main(void) {
        for (size_t i = 0; i < counter_info_count(); i++) {
                const CounterInfo *c = counter_info(i);
                char title[64] = "-";

                if (c->column)
                        counter_column_title(i, title, sizeof(title));
                printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c->state_key, c->wire_key, c->metric,
                       c->unit == COUNTER_UNIT_NANOSECONDS ? "nanoseconds" : "events", title,
                       c->part_of ? c->part_of : "-", c->machine_only ? "machine" : "-");
        }
        return fflush(stdout) == 0 ? 0 : 1;
}
