/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Aligned text tables for human output (the daemon's dumps and iommuctl).
 * Cells are copied; columns are as wide as their widest cell; the last
 * column is not padded.
 */

#include <stddef.h>
#include <stdio.h>

typedef struct Table Table;

/* Creates a table with the given header cells (NULL-terminated).
 * Returns NULL on allocation failure. */
Table *table_new(const char *first_header, ...) __attribute__((sentinel));
/* The same with n header cells from an array. */
Table *table_newv(const char *const *headers, size_t n);
/* Adds one row of exactly as many cells as there are headers; a NULL cell
 * prints as "-". Returns 0 or -ENOMEM. */
int table_add_row(Table *t, const char *first_cell, ...);
int table_add_rowv(Table *t, const char *const *cells);
size_t table_columns(const Table *t);
int table_print(const Table *t, FILE *f);
Table *table_free(Table *t);
