/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "interrupts.h"
#include "sysfs.h"
#include "util.h"

/* /proc/interrupts on a 4096-CPU machine with thousands of IRQs is tens of
 * megabytes; anything larger is not that file. */
#define INTERRUPTS_MAX_SIZE (256u * 1024 * 1024)

typedef struct Parser {
        Interrupts *t;
        size_t rows_alloc, counts_alloc;
} Parser;

/* Parses the header, "CPU0 CPU1 ...": returns the number of CPU columns, 0
 * when the line is no header. */
static unsigned parse_header(const char *line, size_t len) {
        unsigned n = 0;
        size_t i = 0;

        while (i < len) {
                size_t start;

                while (i < len && isspace((unsigned char) line[i]))
                        i++;
                if (i >= len)
                        break;
                start = i;
                while (i < len && !isspace((unsigned char) line[i]))
                        i++;
                if (i - start < 4 || strncmp(line + start, "CPU", 3) != 0)
                        return 0;
                for (size_t k = start + 3; k < i; k++)
                        if (!isdigit((unsigned char) line[k]))
                                return 0;
                n++;
        }
        return n;
}

/* Copies the description with runs of blanks squeezed to one space. */
static char *squeeze(const char *s, size_t len) {
        char *out = malloc(len + 1), *o = out;
        bool space = false;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (isspace((unsigned char) s[i])) {
                        space = o != out;
                        continue;
                }
                if (space)
                        *o++ = ' ';
                space = false;
                *o++ = s[i];
        }
        *o = '\0';
        return out;
}

/* One numbered row. Returns 1 when added, 0 when skipped as malformed,
 * -ENOMEM. */
static int parse_row(Parser *p, unsigned irq, const char *s, size_t len, bool complete) {
        Interrupts *t = p->t;
        size_t i = 0, first = t->n_rows * t->n_cpus;
        uint64_t total = 0;

        if (greedy_realloc((void **) &t->counts, &p->counts_alloc, first + t->n_cpus,
                           sizeof(uint64_t)) < 0)
                return -ENOMEM;
        for (unsigned c = 0; c < t->n_cpus; c++) {
                uint64_t v = 0;
                size_t start;

                while (i < len && (s[i] == ' ' || s[i] == '\t'))
                        i++;
                start = i;
                while (i < len && isdigit((unsigned char) s[i])) {
                        unsigned d = (unsigned) (s[i] - '0');

                        if (v > (UINT64_MAX - d) / 10)
                                return 0;
                        v = v * 10 + d;
                        i++;
                }
                if (i == start || (i < len && !isspace((unsigned char) s[i])))
                        return 0;
                t->counts[first + c] = v;
                total += v;
        }
        /* A cut-off last line may end inside a count: trust it only when the
         * description after the counts made it too. */
        while (i < len && isspace((unsigned char) s[i]))
                i++;
        if (!complete && i >= len)
                return 0;
        if (greedy_realloc((void **) &t->rows, &p->rows_alloc, t->n_rows + 1, sizeof(IrqRow)) < 0)
                return -ENOMEM;
        IrqRow *r = &t->rows[t->n_rows];
        *r = (IrqRow) { .irq = irq, .total = total, .first = first };
        if (!(r->desc = squeeze(s + i, len - i)))
                return -ENOMEM;
        t->n_rows++;
        return 1;
}

static int parse_line(Parser *p, const char *line, size_t len, bool complete) {
        size_t i = 0, label;
        unsigned long irq;
        char *end;

        while (i < len && isspace((unsigned char) line[i]))
                i++;
        if (i == len)
                return 0;
        label = i;
        while (i < len && line[i] != ':' && !isspace((unsigned char) line[i]))
                i++;
        if (i >= len || line[i] != ':' || i == label) {
                p->t->n_malformed++;
                return 0;
        }
        if (!isdigit((unsigned char) line[label])) {
                p->t->n_named++;
                return 0;
        }
        irq = strtoul(line + label, &end, 10);
        if (end != line + i || irq > UINT32_MAX) {
                p->t->n_malformed++;
                return 0;
        }
        int r = parse_row(p, (unsigned) irq, line + i + 1, len - i - 1, complete);
        if (r == 0)
                p->t->n_malformed++;
        return r < 0 ? r : 0;
}

static int row_cmp(const void *a, const void *b) {
        const IrqRow *x = a, *y = b;

        return x->irq < y->irq ? -1 : x->irq > y->irq;
}

int interrupts_parse(const char *text, Interrupts **ret) {
        Parser p = {};
        const char *line = text, *nl;
        size_t len;
        int r;

        if (!(p.t = calloc(1, sizeof(Interrupts))))
                return -ENOMEM;
        /* The header is the first line. */
        nl = strchr(line, '\n');
        len = nl ? (size_t) (nl - line) : strlen(line);
        p.t->n_cpus = parse_header(line, len);
        if (p.t->n_cpus == 0) {
                interrupts_free(p.t);
                return -EBADMSG;
        }
        for (line = nl ? nl + 1 : line + len; *line; line = nl ? nl + 1 : line + len) {
                nl = strchr(line, '\n');
                len = nl ? (size_t) (nl - line) : strlen(line);
                r = parse_line(&p, line, len, nl != NULL);
                if (r < 0) {
                        interrupts_free(p.t);
                        return r;
                }
        }
        /* The kernel prints rows in IRQ order; sort anyway (rows carry their
         * own count offsets) and drop duplicates, which only a garbled file
         * has. A file without rows has rows == NULL, which qsort() must
         * not be given. */
        if (p.t->n_rows > 1)
                qsort(p.t->rows, p.t->n_rows, sizeof(IrqRow), row_cmp);
        size_t w = 0;
        for (size_t i = 0; i < p.t->n_rows; i++) {
                if (w > 0 && p.t->rows[w - 1].irq == p.t->rows[i].irq) {
                        free(p.t->rows[i].desc);
                        p.t->n_malformed++;
                        continue;
                }
                p.t->rows[w++] = p.t->rows[i];
        }
        p.t->n_rows = w;
        *ret = p.t;
        return 0;
}

int interrupts_read(int proc_fd, Interrupts **ret) {
        _cleanup_free_ char *text = NULL;
        int r = sysfs_read_file(proc_fd, "interrupts", INTERRUPTS_MAX_SIZE, &text);

        return r < 0 ? r : interrupts_parse(text, ret);
}

Interrupts *interrupts_free(Interrupts *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows; i++)
                free(t->rows[i].desc);
        free(t->rows);
        free(t->counts);
        free(t);
        return NULL;
}

const IrqRow *interrupts_find(const Interrupts *t, unsigned irq) {
        size_t lo = 0, hi = t ? t->n_rows : 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (t->rows[mid].irq == irq)
                        return &t->rows[mid];
                if (t->rows[mid].irq < irq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static uint64_t count_delta(uint64_t prev, uint64_t cur) {
        if (cur >= prev)
                return cur - prev;
        if (prev <= UINT32_MAX && prev - cur > UINT32_MAX / 2)
                return cur + (UINT64_C(1) << 32) - prev; /* the 32-bit count wrapped */
        return cur;                                      /* freed and requested again */
}

int interrupts_irq_delta(const Interrupts *prev, const Interrupts *cur, unsigned irq,
                         uint64_t *ret) {
        const IrqRow *c = interrupts_find(cur, irq), *p;
        uint64_t sum = 0;

        if (!c)
                return -ENOENT;
        p = interrupts_find(prev, irq);
        /* Per-CPU deltas need the same columns; a CPU hotplug between the
         * samples changes them, and then only the totals can be compared. */
        if (!p || !streq(p->desc, c->desc))
                sum = c->total;
        else if (prev->n_cpus != cur->n_cpus)
                sum = count_delta(p->total, c->total);
        else
                for (unsigned i = 0; i < cur->n_cpus; i++)
                        sum += count_delta(prev->counts[p->first + i], cur->counts[c->first + i]);
        *ret = sum;
        return 0;
}

void interrupts_rate(const Interrupts *prev, const Interrupts *cur, const unsigned *irqs,
                     size_t n_irqs, uint64_t interval_ns, IrqRate *ret) {
        IrqRate rate = {};

        for (size_t i = 0; i < n_irqs; i++) {
                uint64_t d;

                if (interrupts_irq_delta(prev, cur, irqs[i], &d) < 0) {
                        rate.missing++;
                        continue;
                }
                rate.found++;
                rate.events += d;
        }
        if (interval_ns > 0)
                rate.per_second = (double) rate.events * 1e9 / (double) interval_ns;
        *ret = rate;
}
