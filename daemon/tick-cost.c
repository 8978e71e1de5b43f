/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "tick-cost.h"
#include "util.h"

const char *tick_phase_to_string(TickPhase p) {
        static const char *const names[_TICK_PHASE_MAX] = {
                [TICK_PHASE_TOPOLOGY] = "topology",
                [TICK_PHASE_FLUSH] = "flush",
                [TICK_PHASE_WORKLOAD] = "workload",
                [TICK_PHASE_ACCOUNTING] = "accounting",
                [TICK_PHASE_DEVICE_USAGE] = "device_usage",
                [TICK_PHASE_POLICY] = "policy",
                [TICK_PHASE_OUTPUT] = "output",
        };
        return p >= 0 && p < _TICK_PHASE_MAX ? names[p] : "unknown";
}

void tick_cost_begin(TickCost *c) {
        c->mark_ns = now_thread_cpu_ns();
}

void tick_cost_charge(TickCost *c, TickPhase p) {
        uint64_t now = now_thread_cpu_ns();

        if (p >= 0 && p < _TICK_PHASE_MAX && now >= c->mark_ns)
                c->cpu_ns[p] += now - c->mark_ns;
        c->mark_ns = now;
}

uint64_t tick_cost_total_ns(const TickCost *c) {
        uint64_t sum = 0;

        for (int p = 0; p < _TICK_PHASE_MAX; p++)
                sum += c->cpu_ns[p];
        return sum;
}
