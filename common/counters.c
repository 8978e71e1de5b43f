/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <string.h>

#include "counters.h"
#include "util.h"

/* The state key is the field's name: renaming a field would rename the key in
 * every existing state.json. */
#define ROW(field, wire, metric_name, unit_, help_, ...) \
        { .state_key = #field, .wire_key = wire, .metric = metric_name, .help = help_, .unit = unit_, \
          .offset = offsetof(StateCounters, field), __VA_ARGS__ }
/* iommuctl savings shows the counter in a column of its own. */
#define COLUMN .column = true
/* The counter is the part of another (by state key) that was apportioned. */
#define PART_OF(whole) .part_of = whole
/* Counted for the machine only: groups and units have no such figure. */
#define MACHINE_ONLY .machine_only = true

static const CounterInfo counters[] = {
        ROW(maps, "maps", "maps", COUNTER_UNIT_EVENTS,
            "DMA map calls (the machine's: perf counter on the iommu:map tracepoint; a group's: the "
            "machine's apportioned by its unmaps, see maps_apportioned)."),
        ROW(unmaps, "unmaps", "unmaps", COUNTER_UNIT_EVENTS,
            "DMA unmap calls (the machine's: perf counter on the iommu:unmap tracepoint; a group's: exact "
            "by device, domain or elimination, or in part apportioned, see unmaps_apportioned).", COLUMN),
        ROW(iotlb_invalidations, "invalidations", "iotlb_invalidations", COUNTER_UNIT_EVENTS,
            "IOTLB invalidation descriptors submitted (VT-d qi_submit records; measured).", COLUMN),
        ROW(iotlb_page_selective, "invalidations_page_selective", "iotlb_page_selective_invalidations",
            COUNTER_UNIT_EVENTS, "Page-selective IOTLB invalidations, part of the IOTLB invalidations (measured)."),
        ROW(devtlb_invalidations, "device_tlb_invalidations", "device_tlb_invalidations", COUNTER_UNIT_EVENTS,
            "Device-TLB (ATS) invalidation descriptors submitted (VT-d qi_submit records; measured)."),
        ROW(strict_model_invalidations, "strict_would_cost", "strict_model_invalidations", COUNTER_UNIT_EVENTS,
            "IOTLB invalidations strict mode would have cost for the same unmaps (estimated by the gather model).", COLUMN),
        ROW(unpatched_model_invalidations, "unpatched_lazy_would_cost", "unpatched_model_invalidations",
            COUNTER_UNIT_EVENTS,
            "IOTLB invalidations the lazy driver without the VT-d fix would have cost (estimated by the gather model)."),
        ROW(avoided_vs_strict, "avoided_vs_strict", "avoided_vs_strict_invalidations", COUNTER_UNIT_EVENTS,
            "IOTLB invalidations avoided compared with strict mode (estimated).", COLUMN),
        ROW(avoided_by_patch, "avoided_by_patch", "avoided_by_patch_invalidations", COUNTER_UNIT_EVENTS,
            "IOTLB invalidations the patched lazy driver avoided (estimated).", COLUMN),
        ROW(time_saved_ns, "time_saved_ns", "time_saved_seconds", COUNTER_UNIT_NANOSECONDS,
            "Time not spent on IOTLB invalidations: avoided invalidations times the measured or configured "
            "cost of one (estimated).", COLUMN),
        ROW(unmaps_apportioned, "unmaps_apportioned", "unmaps_apportioned", COUNTER_UNIT_EVENTS,
            "Of the unmaps, those apportioned among busy groups by their I/O operations (estimated).", PART_OF("unmaps")),
        ROW(avoided_apportioned, "avoided_apportioned", "avoided_vs_strict_apportioned_invalidations",
            COUNTER_UNIT_EVENTS,
            "Of the invalidations avoided compared with strict mode, those resting on apportioned unmaps "
            "(estimated).", PART_OF("avoided_vs_strict")),
        ROW(maps_apportioned, "maps_apportioned", "maps_apportioned", COUNTER_UNIT_EVENTS,
            "Of the maps, those apportioned among groups by their unmaps (estimated): all of a group's "
            "maps unless it alone had I/O or unmaps in a tick.", PART_OF("maps")),
        ROW(unmap_records_lost, "unmap_records_lost", "unmap_records_lost", COUNTER_UNIT_EVENTS,
            "iommu:unmap perf records the kernel dropped (ring full): the gather figures are short by these; "
            "counted for the machine only, a lost record names no group.", MACHINE_ONLY),
        ROW(qi_records_lost, "invalidation_records_lost", "qi_records_lost", COUNTER_UNIT_EVENTS,
            "intel_iommu:qi_submit perf records the kernel dropped (ring full): the measured invalidations are "
            "short by these; counted for the machine only, a lost record names no group.", MACHINE_ONLY),
        ROW(dma_records_lost, "dma_records_lost", "dma_records_lost", COUNTER_UNIT_EVENTS,
            "dma:* unmap perf records the kernel dropped (ring full): no exact per-device counts in the ticks "
            "they fell in; counted for the machine only, a lost record names no group.", MACHINE_ONLY),
};

/* A counter added to StateCounters but not here would silently never be
 * saved, replied or exported. */
_Static_assert(ELEMENTSOF(counters) * sizeof(uint64_t) == sizeof(StateCounters),
               "every field of StateCounters has a row in counters[]");

const CounterInfo *counter_info(size_t i) {
        return i < ELEMENTSOF(counters) ? &counters[i] : NULL;
}

size_t counter_info_count(void) {
        return ELEMENTSOF(counters);
}

uint64_t *counter_value_ptr(StateCounters *c, size_t i) {
        return (uint64_t *) ((char *) c + counters[i].offset);
}

uint64_t counter_value(const StateCounters *c, size_t i) {
        return *(const uint64_t *) ((const char *) c + counters[i].offset);
}

const CounterInfo *counter_apportioned_part(size_t i) {
        for (size_t k = 0; i < ELEMENTSOF(counters) && k < ELEMENTSOF(counters); k++)
                if (counters[k].part_of && streq(counters[k].part_of, counters[i].state_key))
                        return &counters[k];
        return NULL;
}

void counter_column_title(size_t i, char *buf, size_t size) {
        const char *key = counters[i].wire_key;
        size_t len = strlen(key);

        if (counters[i].unit == COUNTER_UNIT_NANOSECONDS && len > 3 && streq(key + len - 3, "_ns"))
                len -= 3;
        if (size == 0)
                return;
        if (len >= size)
                len = size - 1;
        for (size_t k = 0; k < len; k++)
                buf[k] = key[k] == '_' ? ' ' : (char) toupper((unsigned char) key[k]);
        buf[len] = '\0';
}
