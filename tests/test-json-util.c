/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shared JSON helpers: a 64-bit unsigned value both ways (an integer
 * below 2^63, a decimal string from there on, and what json-c would clamp
 * refused), the checked adds, typed reads.
 */
#include <inttypes.h>
#include <stdio.h>

#include "json-util.h"
#include "tap.h"
#include "util.h"

static void test_u64(void) {
        static const uint64_t values[] = { 0, 1, 4294967296ULL, INT64_MAX, (uint64_t) INT64_MAX + 1, UINT64_MAX };
        static const struct {
                const char *json;
                int want;
        } bad[] = {
                { "-1", -ERANGE },                    /* negative */
                { "9223372036854775808", -ERANGE },   /* 2^63 as an integer: json-c clamps it */
                { "18446744073709551616", -ERANGE },  /* past UINT64_MAX as an integer */
                { "\"18446744073709551616\"", -ERANGE }, /* past UINT64_MAX as a string */
                { "\"12a\"", -EINVAL },
                { "\"\"", -EINVAL },
                { "\"-5\"", -EINVAL },
                { "1.5", -EINVAL },
                { "true", -EINVAL },
                { "{}", -EINVAL },
        };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                json_object *o = json_new_u64(values[i]), *back;
                uint64_t v = 0;

                back = o ? json_tokener_parse(json_object_to_json_string(o)) : NULL;
                CHECK(back && json_get_u64(back, &v) == 0 && v == values[i], "%" PRIu64 " written and read back as %s",
                      values[i], o ? json_object_to_json_string(o) : "(null)");
                CHECK(json_object_is_type(o, values[i] <= INT64_MAX ? json_type_int : json_type_string),
                      "... as %s", values[i] <= INT64_MAX ? "an integer" : "a decimal string");
                json_object_put(o);
                json_object_put(back);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_object *o = json_tokener_parse(bad[i].json);
                uint64_t v = 7;

                CHECK(o && json_get_u64(o, &v) == bad[i].want && v == 7, "%s refused (%d), nothing read", bad[i].json,
                      bad[i].want);
                json_object_put(o);
        }
}

static void test_build_and_read(void) {
        json_object *o = json_object_new_object(), *a = json_object_new_array(), *v;

        CHECK_INT(json_add(o, "s", json_object_new_string("x")), 0, "json_add");
        CHECK_INT(json_add(o, "failed", NULL), -ENOMEM, "json_add of a failed allocation: -ENOMEM");
        CHECK(!json_object_object_get_ex(o, "failed", NULL), "... and nothing added");
        CHECK_INT(json_add(o, "n", json_str_or_null(NULL)), -ENOMEM, "json_str_or_null(NULL) is JSON null (NULL)");
        CHECK_INT(json_object_object_add(o, "null", json_str_or_null(NULL)), 0, "which adds as null");
        CHECK_INT(json_add(o, "i", json_object_new_int(3)), 0, "an integer");
        CHECK_STR(json_get_string(o, "s"), "x", "json_get_string of a string");
        CHECK(!json_get_string(o, "i"), "json_get_string of an integer: NULL");
        CHECK(!json_get_string(o, "null"), "of null: NULL");
        CHECK(!json_get_string(o, "absent"), "of a missing key: NULL");
        CHECK_INT(json_append(a, json_str_or_null("y")), 0, "json_append");
        CHECK_INT(json_append(a, NULL), -ENOMEM, "json_append of a failed allocation: -ENOMEM");
        CHECK(json_object_array_length(a) == 1, "... and nothing appended");
        v = json_object_array_get_idx(a, 0);
        CHECK(v && streq(json_object_get_string(v), "y"), "the string appended");
        CHECK_STR(json_type_words(json_type_object), "an object", "json_type_words");
        CHECK_STR(json_type_words(json_type_int), "an integer", "json_type_words");
        json_object_put(o);
        json_object_put(a);
}

int main(void) {
        test_u64();
        test_build_and_read();
        return tap_done();
}
