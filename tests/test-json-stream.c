/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The streamed JSON writer against json-c's own printer: the same
 * document built as a json-c tree and printed with PRETTY | SPACED |
 * NOSLASHESCAPE must give the same bytes (nesting, empty containers,
 * int64 extremes, null, every byte value in keys and strings), and
 * json-c must parse the streamed text back to the same values.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "json-stream.h"
#include "tap.h"
#include "util.h"

#define JSON_C_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Every byte from 1 to 255 once, as a string. */
static void all_bytes(char buf[256]) {
        for (int i = 1; i < 256; i++)
                buf[i - 1] = (char) i;
        buf[255] = 0;
}

static void stream_document(FILE *f) {
        JsonStream js;
        char bytes[256];

        all_bytes(bytes);
        json_stream_init(&js, f);
        json_stream_begin_object(&js, NULL);
        json_stream_int64(&js, "version", 1);
        json_stream_int64(&js, "min", INT64_MIN);
        json_stream_int64(&js, "max", INT64_MAX);
        json_stream_begin_array(&js, "empty array");
        json_stream_end(&js);
        json_stream_begin_object(&js, "empty object");
        json_stream_end(&js);
        json_stream_begin_array(&js, "list");
        json_stream_int64(&js, NULL, -5);
        json_stream_null(&js, NULL);
        json_stream_string(&js, NULL, "a/b \"q\" \\ \xc3\xa9");
        json_stream_begin_object(&js, NULL);
        json_stream_string(&js, bytes, bytes);
        json_stream_string(&js, "null string", NULL);
        json_stream_begin_array(&js, "nested");
        json_stream_begin_array(&js, NULL);
        json_stream_end(&js);
        json_stream_end(&js);
        json_stream_end(&js);
        json_stream_end(&js);
        json_stream_string(&js, "", "");
        json_stream_end(&js);
}

static json_object *json_c_document(void) {
        json_object *o = json_object_new_object(), *list = json_object_new_array(), *inner = json_object_new_object(),
                    *nested = json_object_new_array();
        char bytes[256];

        all_bytes(bytes);
        json_object_object_add(o, "version", json_object_new_int64(1));
        json_object_object_add(o, "min", json_object_new_int64(INT64_MIN));
        json_object_object_add(o, "max", json_object_new_int64(INT64_MAX));
        json_object_object_add(o, "empty array", json_object_new_array());
        json_object_object_add(o, "empty object", json_object_new_object());
        json_object_array_add(list, json_object_new_int64(-5));
        json_object_array_add(list, NULL);
        json_object_array_add(list, json_object_new_string("a/b \"q\" \\ \xc3\xa9"));
        json_object_object_add(inner, bytes, json_object_new_string(bytes));
        json_object_object_add(inner, "null string", NULL);
        json_object_array_add(nested, json_object_new_array());
        json_object_object_add(inner, "nested", nested);
        json_object_array_add(list, inner);
        json_object_object_add(o, "list", list);
        json_object_object_add(o, "", json_object_new_string(""));
        return o;
}

static void test_same_bytes_as_json_c(void) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        json_object *o = json_c_document(), *back;
        const char *want;
        char bytes[256];

        all_bytes(bytes);
        stream_document(f);
        CHECK(fclose(f) == 0 && text, "the document streams");
        want = json_object_to_json_string_ext(o, JSON_C_FLAGS);
        CHECK(text && streq(text, want), "the stream is json-c's text byte for byte");
        if (text && !streq(text, want))
                tap_diag("streamed:\n%s\njson-c:\n%s", text, want);

        back = text ? json_tokener_parse(text) : NULL;
        CHECK(back, "json-c parses the streamed text");
        CHECK(back && json_object_equal(back, o), "to the same values");
        if (back) {
                json_object *list = json_object_object_get(back, "list"), *inner;

                inner = json_object_array_get_idx(list, 3);
                CHECK(streq(json_object_get_string(json_object_object_get(inner, bytes)), bytes),
                      "every byte value survives as a key and a string");
                CHECK(json_object_get_int64(json_object_object_get(back, "min")) == INT64_MIN,
                      "INT64_MIN survives");
        }
        json_object_put(back);
        json_object_put(o);
}

static void test_depth(void) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        JsonStream js;
        json_object *back;
        int r = 0;

        json_stream_init(&js, f);
        for (unsigned i = 0; i < JSON_STREAM_MAX_DEPTH && r == 0; i++)
                r = json_stream_begin_array(&js, NULL);
        CHECK_INT(r, 0, "nesting to the maximum depth");
        CHECK_INT(json_stream_begin_array(&js, NULL), -E2BIG, "one more is refused");
        for (unsigned i = 0; i < JSON_STREAM_MAX_DEPTH + 1; i++)
                json_stream_end(&js);
        fclose(f);
        back = text ? json_tokener_parse(text) : NULL;
        CHECK(back, "and the text closes every bracket it opened, no more");
        json_object_put(back);
}

int main(void) {
        test_same_bytes_as_json_c();
        test_depth();
        return tap_done();
}
