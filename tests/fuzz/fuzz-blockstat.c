/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block device stat parser and the rates between two samples: the
 * input is one stat file, or two separated by a NUL byte.
 */
#include <math.h>

#include "blockstat.h"
#include "fuzz.h"
#include "util.h"

static void check_rate(const BlockStat *a, const BlockStat *b) {
        static const uint64_t intervals[] = { 0, 1, 1000000000, UINT64_MAX };
        BlockRate rate, sum = {};

        for (size_t i = 0; i < ELEMENTSOF(intervals); i++) {
                blockstat_rate(a, b, intervals[i], &rate);
                FUZZ_CHECK(rate.busy >= 0 && rate.busy <= 1.0);
                FUZZ_CHECK(!isnan(rate.read_iops) && !isnan(rate.write_iops));
                FUZZ_CHECK(rate.read_iops >= 0 && rate.write_iops >= 0);
                FUZZ_CHECK(rate.read_bytes_per_s >= 0 && rate.write_bytes_per_s >= 0);
                if (intervals[i] == 0)
                        FUZZ_CHECK(rate.read_iops == 0 && rate.busy == 0);
                blockrate_add(&sum, &rate);
                FUZZ_CHECK(sum.busy >= 0 && sum.busy <= 1.0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text_b = NULL;
        _cleanup_free_ char *text_a = fuzz_split(data, size, &text_b);
        BlockStat a, b;
        int r;

        r = blockstat_parse(text_a, &a);
        FUZZ_CHECK(r == 0 || r == -EBADMSG);
        if (r < 0)
                return 0;
        FUZZ_CHECK(a.n_fields >= 11);
        check_rate(&a, &a);
        if (text_b && blockstat_parse(text_b, &b) == 0)
                check_rate(&a, &b);
        return 0;
}
