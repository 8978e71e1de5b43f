/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>

#include "json-stream.h"

void json_stream_init(JsonStream *js, FILE *f) {
        *js = (JsonStream) { .f = f };
}

static void indent(JsonStream *js, unsigned level) {
        for (unsigned i = 0; i < level; i++)
                fputs("  ", js->f);
}

/* As json-c's json_escape_str() with JSON_C_TO_STRING_NOSLASHESCAPE: the
 * six short escapes, other control bytes as \u00xx, every other byte
 * (UTF-8 and DEL included) as it is. */
static void write_escaped(JsonStream *js, const char *s) {
        static const char hex[] = "0123456789abcdef";

        fputc('"', js->f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':  fputs("\\\"", js->f); break;
                case '\\': fputs("\\\\", js->f); break;
                case '\b': fputs("\\b", js->f); break;
                case '\f': fputs("\\f", js->f); break;
                case '\n': fputs("\\n", js->f); break;
                case '\r': fputs("\\r", js->f); break;
                case '\t': fputs("\\t", js->f); break;
                default:
                        if (*p < ' ')
                                fprintf(js->f, "\\u00%c%c", hex[*p >> 4], hex[*p & 0xf]);
                        else
                                fputc(*p, js->f);
                }
        fputc('"', js->f);
}

/* What comes before a value: the comma, the newline and indent inside a
 * container, and the key inside an object. */
static void member(JsonStream *js, const char *key) {
        if (js->depth == 0)
                return;
        if (js->has_members[js->depth - 1])
                fputc(',', js->f);
        js->has_members[js->depth - 1] = true;
        fputc('\n', js->f);
        indent(js, js->depth);
        if (key) {
                write_escaped(js, key);
                fputs(": ", js->f);
        }
}

static int begin(JsonStream *js, const char *key, char open, char close) {
        if (js->depth >= JSON_STREAM_MAX_DEPTH)
                return -E2BIG;
        member(js, key);
        fputc(open, js->f);
        js->has_members[js->depth] = false;
        js->closer[js->depth++] = close;
        return 0;
}

int json_stream_begin_object(JsonStream *js, const char *key) {
        return begin(js, key, '{', '}');
}

int json_stream_begin_array(JsonStream *js, const char *key) {
        return begin(js, key, '[', ']');
}

/* json-c closes every container on a line of its own, an empty one too. */
void json_stream_end(JsonStream *js) {
        if (js->depth == 0)
                return;
        js->depth--;
        fputc('\n', js->f);
        indent(js, js->depth);
        fputc(js->closer[js->depth], js->f);
}

void json_stream_int64(JsonStream *js, const char *key, int64_t v) {
        member(js, key);
        fprintf(js->f, "%" PRId64, v);
}

void json_stream_string(JsonStream *js, const char *key, const char *s) {
        member(js, key);
        if (s)
                write_escaped(js, s);
        else
                fputs("null", js->f);
}

void json_stream_null(JsonStream *js, const char *key) {
        json_stream_string(js, key, NULL);
}
