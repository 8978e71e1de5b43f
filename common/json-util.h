/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The JSON helpers every module shares (json-c): building objects with
 * allocation failures reported, reading fields by type, and the one way a
 * 64-bit unsigned value is written and read (json-c's integers are int64).
 */

#include <json-c/json.h>
#include <stdint.h>

/* A JSON string, or JSON null (NULL) for NULL. */
json_object *json_str_or_null(const char *s);

/* Adds v to object o under key, taking v also on failure. Returns 0, or
 * -ENOMEM when v is NULL (its allocation failed) or the add failed. */
int json_add(json_object *o, const char *key, json_object *v);
/* The same for appending v to array a. */
int json_append(json_object *a, json_object *v);

/* The string o[key], or NULL when it is missing or not a string. */
const char *json_get_string(json_object *o, const char *key);

/* A uint64_t as JSON: an integer below 2^63, a decimal string from 2^63 on.
 * NULL on ENOMEM. */
json_object *json_new_u64(uint64_t v);
/* Reads either form json_new_u64() writes. Returns 0, -EINVAL for another
 * type or a string that is not only digits, -ERANGE for a negative integer,
 * a string past UINT64_MAX, or an integer json-c clamped (what does not fit
 * an int64 reads as INT64_MAX: refused rather than read wrong). */
int json_get_u64(json_object *v, uint64_t *ret);

/* "an object", "an array", "a string", "an integer", ... for an error
 * saying what a field is not. */
const char *json_type_words(json_type t);
