/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * JSON written as it goes to a stdio stream, holding nothing but the
 * nesting: what json-c's json_object_to_json_string_ext() would print for
 * the same tree with JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
 * JSON_C_TO_STRING_NOSLASHESCAPE, byte for byte (two-space indent,
 * "key": value, an empty container as "{\n}" at its indent, strings
 * escaped as json-c escapes them), without building the tree: a state file
 * of 300 groups cost ~1.3 MiB of heap as a json-c tree and its text.
 *
 * Inside an object every call takes the member's key; inside an array and
 * at the top the key must be NULL. Write errors are left in the stream
 * (ferror(), errno from the failing write): the caller checks once at the
 * end (fflush/fclose).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_STREAM_MAX_DEPTH 16

typedef struct JsonStream {
        FILE *f;
        unsigned depth;
        /* Per open container: whether it has a member yet (the comma),
         * and its closing bracket. */
        bool has_members[JSON_STREAM_MAX_DEPTH];
        char closer[JSON_STREAM_MAX_DEPTH];
} JsonStream;

/* Starts writing to f. */
void json_stream_init(JsonStream *js, FILE *f);

/* Opens an object or an array as a member (key) or element (NULL);
 * -E2BIG past JSON_STREAM_MAX_DEPTH. */
int json_stream_begin_object(JsonStream *js, const char *key);
int json_stream_begin_array(JsonStream *js, const char *key);
/* Closes the innermost object or array. */
void json_stream_end(JsonStream *js);

void json_stream_int64(JsonStream *js, const char *key, int64_t v);
/* NULL writes null. */
void json_stream_string(JsonStream *js, const char *key, const char *s);
void json_stream_null(JsonStream *js, const char *key);
