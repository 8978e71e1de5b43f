/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>

#include "table.h"
#include "util.h"

struct Table {
        size_t n_columns, n_rows, rows_alloc;
        char **cells; /* n_rows * n_columns, row 0 is the header */
};

Table *table_new(const char *first_header, ...) {
        const char *cells[32];
        size_t n = 0;
        va_list ap;

        va_start(ap, first_header);
        for (const char *h = first_header; h && n < ELEMENTSOF(cells); h = va_arg(ap, const char *))
                cells[n++] = h;
        va_end(ap);
        return table_newv(cells, n);
}

Table *table_newv(const char *const *headers, size_t n) {
        Table *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->n_columns = n;
        if (table_add_rowv(t, headers) < 0)
                return table_free(t);
        return t;
}

int table_add_rowv(Table *t, const char *const *cells) {
        size_t base = t->n_rows * t->n_columns;

        if (greedy_realloc((void **) &t->cells, &t->rows_alloc, base + t->n_columns, sizeof(char *)) < 0)
                return -ENOMEM;
        for (size_t c = 0; c < t->n_columns; c++) {
                t->cells[base + c] = strdup(cells[c] ? cells[c] : "-");
                if (!t->cells[base + c]) {
                        while (c-- > 0)
                                free(t->cells[base + c]);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

int table_add_row(Table *t, const char *first_cell, ...) {
        const char *cells[32];
        va_list ap;

        if (t->n_columns > ELEMENTSOF(cells))
                return -EINVAL;
        cells[0] = first_cell;
        va_start(ap, first_cell);
        for (size_t c = 1; c < t->n_columns; c++)
                cells[c] = va_arg(ap, const char *);
        va_end(ap);
        return table_add_rowv(t, cells);
}

size_t table_columns(const Table *t) {
        return t->n_columns;
}

int table_print(const Table *t, FILE *f) {
        size_t width[32] = {};

        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns && c < ELEMENTSOF(width); c++) {
                        size_t l = strlen(t->cells[r * t->n_columns + c]);

                        if (l > width[c])
                                width[c] = l;
                }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];

                        if (c + 1 == t->n_columns)
                                fprintf(f, "%s\n", cell);
                        else
                                fprintf(f, "%-*s  ", (int) width[c], cell);
                }
        }
        return ferror(f) ? -EIO : 0;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}
