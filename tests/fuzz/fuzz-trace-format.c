/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tracefs format file parser and the raw record field readers: the
 * input is a format file, then optionally a NUL byte and a raw tracepoint
 * record whose every field is read as a number and as a string.
 */
#include "fuzz.h"
#include "perf-record.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t text_size = nul ? (size_t) (nul - data) : size;
        size_t raw_size = nul ? size - text_size - 1 : 0;
        _cleanup_free_ char *text = fuzz_text(data, text_size);
        _cleanup_free_ uint8_t *raw = fuzz_dup(nul ? nul + 1 : data, raw_size);
        TraceFormat f;
        int r;

        r = trace_format_parse(text, &f);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG);
                FUZZ_CHECK(!f.name && !f.fields && f.n_fields == 0);
                return 0;
        }
        FUZZ_CHECK(f.n_fields > 0);
        for (size_t i = 0; i < f.n_fields; i++) {
                const TraceField *field = &f.fields[i];
                char small[4], big[256];
                uint64_t v;

                FUZZ_CHECK(field->name && field->type && field->size > 0);
                FUZZ_CHECK(trace_format_field(&f, field->name));
                r = trace_field_u64(field, raw, raw_size, &v);
                FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EBADMSG);
                r = trace_field_string(field, raw, raw_size, small, sizeof(small));
                FUZZ_CHECK(r == -EINVAL || r == -EBADMSG || r == -ENOBUFS ||
                           (r >= 0 && (size_t) r < sizeof(small) && strlen(small) == (size_t) r));
                r = trace_field_string(field, raw, raw_size, big, sizeof(big));
                FUZZ_CHECK(r < 0 || strlen(big) == (size_t) r);
                FUZZ_CHECK(trace_field_string(field, raw, raw_size, big, 0) == -ENOBUFS);
        }
        trace_format_done(&f);
        return 0;
}
