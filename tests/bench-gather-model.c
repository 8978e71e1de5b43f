/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Throughput of the gather model on one core: events/s and ns/event for a
 * realistic unmap mix and for an all-large one, median of a few runs.
 * Prints figures, asserts nothing. Run directly or with
 * `meson test --benchmark bench-gather-model -v`.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gather-model.h"

#define N_EVENTS (1u << 16) /* 1 MiB of events: stays in L2, like a drained ring */
#define PASSES 256
#define RUNS 7

static uint64_t rng_state = 0x243f6a8885a308d3;
static uint64_t rng(void) {
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
}

static uint64_t random_iova(void) {
        return (rng() & ((UINT64_C(1) << 39) - 1)) & ~(SZ_4K - 1);
}

static uint64_t pages(uint64_t lo, uint64_t hi) {
        return (lo + rng() % (hi - lo + 1)) * SZ_4K;
}

/* Mostly small, as NIC and NVMe traffic unmaps: 70% 4K, 20% 8K-64K, 6%
 * 68K-1M, 3% 2M (half aligned), 1% 2M+4K .. 8M at any 4K iova. */
static void fill_mix(GatherEvent *ev, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned r = (unsigned) (rng() % 100);
                uint64_t iova = random_iova(), size;

                if (r < 70)
                        size = SZ_4K;
                else if (r < 90)
                        size = pages(2, 16);
                else if (r < 96)
                        size = pages(17, 256);
                else if (r < 99) {
                        size = SZ_2M;
                        if (r & 1)
                                iova &= ~(SZ_2M - 1);
                } else
                        size = pages(513, 2048);
                ev[i] = (GatherEvent) { iova, size };
        }
}

/* Every event can mix: 2M+4K .. 64M at any 4K iova, plus some 1G-scale. */
static void fill_large(GatherEvent *ev, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint64_t size = i % 64 == 0 ? pages(262144, 600000) : pages(513, 16384);

                ev[i] = (GatherEvent) { random_iova(), size };
        }
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return (x > y) - (x < y);
}

typedef enum { BY_REPLAY, BY_ACCOUNT } Method;

/* Median ns for PASSES passes over ev; *sink keeps the work observable. */
static uint64_t time_runs(const GatherEvent *ev, size_t n, Method m, GatherCounts *sink) {
        uint64_t t[RUNS];

        for (int r = 0; r < RUNS; r++) {
                GatherCounts c = { 0 };
                uint64_t t0 = now_ns();

                for (int p = 0; p < PASSES; p++) {
                        if (m == BY_REPLAY)
                                gather_model_replay(&c, SZ_4K | SZ_2M | SZ_1G, ev, n);
                        else
                                for (size_t i = 0; i < n; i++)
                                        gather_model_account(&c, SZ_4K | SZ_2M | SZ_1G,
                                                             ev[i].iova, ev[i].size);
                }
                t[r] = now_ns() - t0;
                *sink = c;
        }
        qsort(t, RUNS, sizeof(t[0]), cmp_u64);
        return t[RUNS / 2];
}

static void report(const char *name, const GatherEvent *ev, size_t n, Method m) {
        GatherCounts c;
        uint64_t ns = time_runs(ev, n, m, &c);
        double events = (double) n * PASSES;

        printf("%-34s %8.1f M events/s  %6.2f ns/event   "
               "(per pass: %" PRIu64 " mixed, strict %" PRIu64 ", unpatched %" PRIu64 ")\n",
               name, events / ((double) ns / 1e9) / 1e6, (double) ns / events,
               c.mixed_events / PASSES, c.strict_syncs / PASSES,
               c.lazy_unpatched_syncs / PASSES);
}

int main(void) {
        static GatherEvent mix[N_EVENTS], large[N_EVENTS];

        fill_mix(mix, N_EVENTS);
        fill_large(large, N_EVENTS);

        printf("gather model, VT-d 4K|2M|1G, %u events x %u passes, median of %u runs\n",
               N_EVENTS, PASSES, RUNS);
        report("(a) realistic mix, replay", mix, N_EVENTS, BY_REPLAY);
        report("(a) realistic mix, account()", mix, N_EVENTS, BY_ACCOUNT);
        report("(b) all large, replay", large, N_EVENTS, BY_REPLAY);
        report("(b) all large, account()", large, N_EVENTS, BY_ACCOUNT);
        return 0;
}
