/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The /proc/interrupts parser and the rates taken between two samples: the
 * input is one sample, or two separated by a NUL byte. Checks the table's
 * shape (rows sorted and unique, totals the sum of their counts) and that
 * a sample compared with itself shows no interrupts.
 */
#include "fuzz.h"
#include "interrupts.h"
#include "util.h"

static void check_table(const Interrupts *t) {
        FUZZ_CHECK(t->n_cpus > 0);
        for (size_t i = 0; i < t->n_rows; i++) {
                const IrqRow *row = &t->rows[i];
                uint64_t sum = 0;
                uint64_t d;

                FUZZ_CHECK(i == 0 || t->rows[i - 1].irq < row->irq);
                FUZZ_CHECK(row->desc);
                for (unsigned c = 0; c < t->n_cpus; c++)
                        sum += t->counts[row->first + c];
                FUZZ_CHECK(sum == row->total);
                FUZZ_CHECK(interrupts_find(t, row->irq) == row);
                FUZZ_CHECK(interrupts_irq_delta(t, t, row->irq, &d) == 0 && d == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(interrupts_freep) Interrupts *a = NULL, *b = NULL;
        _cleanup_free_ char *text_b = NULL;
        _cleanup_free_ char *text_a = fuzz_split(data, size, &text_b);
        _cleanup_free_ unsigned *irqs = NULL;
        size_t n_irqs = 0;
        IrqRate rate;
        int r;

        r = interrupts_parse(text_a, &a);
        FUZZ_CHECK(r == 0 || r == -EBADMSG);
        if (r < 0)
                return 0;
        check_table(a);
        if (text_b) {
                r = interrupts_parse(text_b, &b);
                FUZZ_CHECK(r == 0 || r == -EBADMSG);
                if (r == 0)
                        check_table(b);
        }
        if (!b)
                return 0;

        /* Every IRQ of either sample, and one that is in neither. */
        irqs = calloc(a->n_rows + b->n_rows + 1, sizeof(unsigned));
        if (!irqs)
                abort();
        for (size_t i = 0; i < a->n_rows; i++)
                irqs[n_irqs++] = a->rows[i].irq;
        for (size_t i = 0; i < b->n_rows; i++)
                irqs[n_irqs++] = b->rows[i].irq;
        irqs[n_irqs++] = UINT32_MAX;
        for (size_t i = 0; i < n_irqs; i++) {
                uint64_t d;

                r = interrupts_irq_delta(a, b, irqs[i], &d);
                FUZZ_CHECK(r == (interrupts_find(b, irqs[i]) ? 0 : -ENOENT));
        }
        interrupts_rate(a, b, irqs, n_irqs, 0, &rate);
        FUZZ_CHECK(rate.found + rate.missing == n_irqs && rate.per_second == 0);
        interrupts_rate(a, b, irqs, n_irqs, 1000000000, &rate);
        FUZZ_CHECK(rate.per_second >= 0);
        return 0;
}
