/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver-verdict.h"
#include "flush-rules.h"

GatherRules flush_rules_for_machine(const Topology *t) {
        GatherRules rules = { .driver = GATHER_DRIVER_VTD };
        unsigned x = 0, y = 0, z = 0;

        for (size_t i = 0; i < t->n_units; i++)
                if (t->units[i].pgsize_bitmap)
                        rules.pgsize_bitmap = rules.pgsize_bitmap ? rules.pgsize_bitmap & t->units[i].pgsize_bitmap
                                                                  : t->units[i].pgsize_bitmap;
        if (t->n_units && topology_units_of_vendor(t, IOMMU_VENDOR_AMD_VI) == t->n_units)
                rules.driver = GATHER_DRIVER_AMD;
        else if (t->n_units && topology_units_of_vendor(t, IOMMU_VENDOR_ARM_SMMUV3) == t->n_units)
                rules.driver = GATHER_DRIVER_ARM_LPAE;
        if (kernel_upstream_version(t->kernel.release, t->kernel.version, &x, &y, &z) < 0)
                x = y = 0;
        return gather_rules_for_kernel(rules.driver, rules.pgsize_bitmap, x, y);
}

bool flush_rules_iova_api(const Topology *t) {
        unsigned x, y, z;

        return kernel_upstream_version(t->kernel.release, t->kernel.version, &x, &y, &z) >= 0 &&
               x * 1000 + y >= GATHER_IOVA_API_SINCE_MAJOR * 1000 + GATHER_IOVA_API_SINCE_MINOR;
}
