/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "json-util.h"
#include "util.h"

json_object *json_str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_append(json_object *a, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

const char *json_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

json_object *json_new_u64(uint64_t v) {
        char buf[24];

        if (v <= INT64_MAX)
                return json_object_new_int64((int64_t) v);
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_object_new_string(buf);
}

/* Digits only, at most UINT64_MAX. */
static int parse_decimal(const char *s, size_t len, uint64_t *ret) {
        uint64_t v = 0;

        if (len == 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                unsigned d = (unsigned char) s[i] - '0';

                if (d > 9)
                        return -EINVAL;
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int json_get_u64(json_object *v, uint64_t *ret) {
        int64_t i;

        if (json_object_is_type(v, json_type_string))
                return parse_decimal(json_object_get_string(v), (size_t) json_object_get_string_len(v), ret);
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        i = json_object_get_int64(v);
        /* json-c clamps what does not fit an int64 to INT64_MAX (and what
         * does not fit a uint64 to UINT64_MAX): refuse it rather than read
         * a wrong number. */
        if (i < 0 || (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t) INT64_MAX))
                return -ERANGE;
        *ret = (uint64_t) i;
        return 0;
}

const char *json_type_words(json_type t) {
        switch (t) {
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        case json_type_int:
                return "an integer";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
                return "a number";
        case json_type_null:
                return "null";
        default:
                return "of the right type";
        }
}
