/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Per-IRQ interrupt counts from /proc/interrupts, and per-device interrupt
 * rates between two samples.
 *
 * The file (kernel/irq/proc.c, show_interrupts(), unchanged in form from
 * v4.x to v6.x) is a header naming the online CPUs ("CPU0 CPU1 ..."), then
 * one row per IRQ: "%*d: " and one "%10u " count per online CPU, then the
 * chip, hardware IRQ, trigger and action names. Architecture rows follow
 * (x86: "NMI:", "LOC:", ..., and "ERR:"/"MIS:" with a single count). The
 * per-CPU counts are 32-bit and wrap; rows appear and disappear as IRQs are
 * requested and freed.
 *
 * interrupts_parse() keeps the numbered rows only; named rows are counted
 * and skipped. A numbered row needs one count per header CPU; a shorter row
 * (a line cut off by a short read, or not the format above) is skipped and
 * counted as malformed, never guessed at. So is a last line without its
 * newline unless it carries text after the counts.
 *
 * Deltas are taken per CPU: a count that went down by more than half the
 * 32-bit range is a wrap, any other decrease is a reset (the IRQ was freed
 * and requested again) and counts from zero. A row whose description
 * changed between samples was reused for something else and also counts
 * from zero. When the number of CPU columns changed (CPU hotplug), columns
 * cannot be matched and the row totals are compared by the same rules.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct IrqRow {
        unsigned irq;
        uint64_t total;        /* sum over the CPU columns */
        size_t first;          /* index of this row's counts in Interrupts.counts */
        char *desc;            /* the text after the counts, spaces squeezed */
} IrqRow;

typedef struct Interrupts {
        unsigned n_cpus;       /* count columns, from the header */
        IrqRow *rows;          /* sorted by irq, unique */
        size_t n_rows;
        uint64_t *counts;      /* n_rows * n_cpus per-CPU counts */
        unsigned n_named;      /* architecture rows (NMI, LOC, ERR, ...) skipped */
        unsigned n_malformed;  /* numbered rows skipped as incomplete or garbled */
} Interrupts;

/* Parses the text of /proc/interrupts. Returns 0, -EBADMSG when there is no
 * CPU header, or -ENOMEM. */
int interrupts_parse(const char *text, Interrupts **ret);
/* Reads and parses "interrupts" under an open proc root (sysfs_open_root). */
int interrupts_read(int proc_fd, Interrupts **ret);
Interrupts *interrupts_free(Interrupts *t);
static inline void interrupts_freep(Interrupts **t) {
        interrupts_free(*t);
}

const IrqRow *interrupts_find(const Interrupts *t, unsigned irq);

/* Interrupts of one IRQ between two samples (see the wrap and reset rules
 * above). Returns 0 and the count, or -ENOENT when the IRQ is absent from
 * cur. An IRQ absent from prev counts from zero. */
int interrupts_irq_delta(const Interrupts *prev, const Interrupts *cur, unsigned irq,
                         uint64_t *ret);

typedef struct IrqRate {
        uint64_t events;       /* interrupts of the listed IRQs between the samples */
        double per_second;     /* events / interval; 0 when the interval is 0 */
        unsigned found;        /* listed IRQs present in cur */
        unsigned missing;      /* listed IRQs absent from cur */
} IrqRate;

/* The interrupt rate of a device from its msi_irqs list (Device.msi_irqs of
 * the topology) between two samples interval_ns apart. */
void interrupts_rate(const Interrupts *prev, const Interrupts *cur, const unsigned *irqs,
                     size_t n_irqs, uint64_t interval_ns, IrqRate *ret);
