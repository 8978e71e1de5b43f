/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gather rules the flush sampler uses for a machine: by the units'
 * vendor (VT-d unless every unit is AMD-Vi or every one SMMUv3), the page
 * sizes they share, and the kernel's version (generic page table from
 * 6.19, the IOVA-based DMA API path from 6.17).
 */
#include "flush-rules.h"
#include "tap.h"
#include "util.h"

#define SZ_4K_2M_1G (UINT64_C(0x1000) | UINT64_C(0x200000) | UINT64_C(0x40000000))

static Topology machine(IommuUnit *units, size_t n, const char *release) {
        return (Topology) { .units = units, .n_units = n, .kernel = { .release = (char *) release } };
}

static void test_vendor(void) {
        IommuUnit vtd[2] = {
                { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_INTEL_VTD, .pgsize_bitmap = SZ_4K_2M_1G },
                { .name = (char *) "dmar1", .vendor = IOMMU_VENDOR_INTEL_VTD, .pgsize_bitmap = 0x1000 | 0x200000 },
        };
        IommuUnit amd[1] = { { .name = (char *) "ivhd0", .vendor = IOMMU_VENDOR_AMD_VI } };
        IommuUnit smmu[1] = { { .name = (char *) "smmu0", .vendor = IOMMU_VENDOR_ARM_SMMUV3 } };
        IommuUnit mixed[2] = {
                { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_INTEL_VTD },
                { .name = (char *) "ivhd0", .vendor = IOMMU_VENDOR_AMD_VI },
        };
        Topology t;
        GatherRules r;

        t = machine(vtd, 2, "6.1.0-28-amd64");
        r = flush_rules_for_machine(&t);
        CHECK_INT(r.driver, GATHER_DRIVER_VTD, "VT-d units: intel-iommu's rules");
        CHECK_U64(r.pgsize_bitmap, 0x1000 | 0x200000, "the page sizes every unit has");
        CHECK(!r.generic_pt, "6.1: the driver's own page table");
        t = machine(amd, 1, "6.1.0-28-amd64");
        CHECK_INT(flush_rules_for_machine(&t).driver, GATHER_DRIVER_AMD, "all AMD-Vi: the AMD driver's rules");
        t = machine(smmu, 1, "6.1.0-28-arm64");
        CHECK_INT(flush_rules_for_machine(&t).driver, GATHER_DRIVER_ARM_LPAE, "all SMMUv3: io-pgtable-arm's rules");
        t = machine(mixed, 2, "6.1.0-28-amd64");
        CHECK_INT(flush_rules_for_machine(&t).driver, GATHER_DRIVER_VTD, "mixed vendors: VT-d's rules");
        t = machine(NULL, 0, "6.1.0-28-amd64");
        CHECK_INT(flush_rules_for_machine(&t).driver, GATHER_DRIVER_VTD, "no unit: VT-d's rules");
}

static void test_version(void) {
        IommuUnit vtd[1] = { { .name = (char *) "dmar0", .vendor = IOMMU_VENDOR_INTEL_VTD,
                               .pgsize_bitmap = SZ_4K_2M_1G } };
        Topology t;

        t = machine(vtd, 1, "6.19.1");
        CHECK(flush_rules_for_machine(&t).generic_pt, "6.19: the generic page table");
        CHECK(flush_rules_iova_api(&t), "6.19: the IOVA-based DMA API path");
        t = machine(vtd, 1, "6.17.0");
        CHECK(!flush_rules_for_machine(&t).generic_pt, "6.17: the driver's own page table");
        CHECK(flush_rules_iova_api(&t), "6.17: the IOVA-based DMA API path");
        t = machine(vtd, 1, "6.16.9");
        CHECK(!flush_rules_iova_api(&t), "6.16: no IOVA-based DMA API path");
        t = machine(vtd, 1, "unknown");
        CHECK(!flush_rules_for_machine(&t).generic_pt && !flush_rules_iova_api(&t),
              "an unknown version: the driver's own rules, no IOVA path");
}

int main(void) {
        test_vendor();
        test_version();
        return tap_done();
}
