/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the daemon's own monitoring tick costs, in CPU time, by phase: the
 * figure an operator needs to know the daemon is cheap, and the one to
 * read first when it is not. CPU time of the calling thread
 * (CLOCK_THREAD_CPUTIME_ID; the daemon is single-threaded).
 */

#include <stdint.h>

typedef enum TickPhase {
        TICK_PHASE_TOPOLOGY,     /* the periodic rescan */
        TICK_PHASE_FLUSH,        /* perf counters and ring buffers */
        TICK_PHASE_WORKLOAD,     /* interrupts, block and link statistics */
        TICK_PHASE_ACCOUNTING,
        TICK_PHASE_DEVICE_USAGE, /* mounts, swap, holders, the default route */
        TICK_PHASE_POLICY,       /* deciding, switching, reading back */
        TICK_PHASE_OUTPUT,       /* state file, watch updates, sd_notify */
        _TICK_PHASE_MAX,
} TickPhase;

/* Totals over every tick; the caller counts the ticks. */
typedef struct TickCost {
        uint64_t cpu_ns[_TICK_PHASE_MAX];
        uint64_t mark_ns;
} TickCost;

const char *tick_phase_to_string(TickPhase p);

/* Starts a tick: marks the time. */
void tick_cost_begin(TickCost *c);
/* Charges the CPU time since the last mark to phase p, and marks again. */
void tick_cost_charge(TickCost *c, TickPhase p);
/* The sum over the phases. */
uint64_t tick_cost_total_ns(const TickCost *c);
