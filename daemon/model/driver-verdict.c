/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>

#include "driver-verdict.h"
#include "util.h"

/* Below this many mixed unmaps the observation is not trusted either way. */
#define EVIDENCE_MIN_UNMAPS 10

const char *driver_verdict_to_string(DriverVerdict v) {
        static const char *const names[_DRIVER_VERDICT_MAX] = {
                [DRIVER_VERDICT_UNKNOWN] = "unknown",
                [DRIVER_VERDICT_PATCHED] = "patched",
                [DRIVER_VERDICT_UNPATCHED] = "unpatched",
                [DRIVER_VERDICT_NOT_APPLICABLE] = "not applicable",
        };
        return v >= 0 && v < _DRIVER_VERDICT_MAX ? names[v] : "unknown";
}

static int parse_xyz(const char *s, unsigned *x, unsigned *y, unsigned *z) {
        return s && sscanf(s, "%u.%u.%u", x, y, z) == 3 ? 0 : -EINVAL;
}

int kernel_upstream_version(const char *release, const char *proc_version, unsigned *ret_major,
                            unsigned *ret_minor, unsigned *ret_patch) {
        bool found = false;
        const char *p;

        /* A Debian ABI release ("6.1.0-56-amd64") names no patch level: the
         * real one is in /proc/version. */
        if (parse_xyz(release, ret_major, ret_minor, ret_patch) == 0 && *ret_patch != 0)
                return 0;
        /* The last "Debian X.Y.Z" is the kernel's; earlier ones name the
         * compiler ("gcc-12 (Debian 12.2.0-14)"). */
        for (const char *tag = "Debian "; proc_version && (p = strstr(proc_version, tag)); proc_version = p + 1) {
                unsigned a, b, c;

                if (parse_xyz(p + strlen(tag), &a, &b, &c) == 0) {
                        *ret_major = a;
                        *ret_minor = b;
                        *ret_patch = c;
                        found = true;
                }
        }
        if (found)
                return 0;
        if (parse_xyz(release, ret_major, ret_minor, ret_patch) == 0)
                return 0; /* x.y.0 is a real release too */
        return -EINVAL;
}

/* The backport rules: which versions carry the fix. */
static DriverVerdict verdict_by_version(unsigned x, unsigned y, unsigned z, char *why, size_t size) {
        unsigned v = x * 1000 + y;

        if (v < 5015) {
                snprintf(why, size, "kernel %u.%u.%u predates the gather tracking the fix removes (5.15)", x, y, z);
                return DRIVER_VERDICT_NOT_APPLICABLE;
        }
        if (v >= 6019) {
                /* drivers/iommu/generic_pt/iommu_pt.h: unmap_pages() adds the
                 * whole range with gather_range_pages() ->
                 * iommu_iotlb_gather_add_range(), never a sync inside an
                 * unmap; __iommu_dma_unmap() syncs only unqueued gathers. */
                snprintf(why, size, "kernel %u.%u.%u: VT-d unmaps through the generic page table "
                         "(drivers/iommu/generic_pt, 6.19+), which gathers an unmap's whole range without a sync: "
                         "lazy mode pays no invalidation per unmap there, as the fix made it, and no unpatched "
                         "driver exists to compare with (no avoided_by_patch figure)", x, y, z);
                return DRIVER_VERDICT_NOT_APPLICABLE;
        }
        if (v >= 6003 || (v == 6002 && z >= 3) || (v == 6001 && z >= 16) || (v == 5015 && z >= 99)) {
                snprintf(why, size, "kernel %u.%u.%u carries the fix by version (mainline 6.3; backported to "
                         "6.1.16, 6.2.3, 5.15.99)", x, y, z);
                return DRIVER_VERDICT_PATCHED;
        }
        snprintf(why, size, "kernel %u.%u.%u is older than the fix (mainline 6.3; backported to 6.1.16, 6.2.3, "
                 "5.15.99)", x, y, z);
        return DRIVER_VERDICT_UNPATCHED;
}

DriverVerdict driver_verdict(bool has_vtd, const char *release, const char *proc_version,
                             const DriverEvidence *e, char *evidence, size_t size) {
        DriverVerdict by_version = DRIVER_VERDICT_UNKNOWN;
        char why[512] = "the kernel version is not known";
        unsigned x, y, z;

        if (!has_vtd) {
                snprintf(evidence, size, "no VT-d unit: the fix is in the VT-d driver; io-pgtable drivers skip the "
                         "tracking in lazy mode since 5.15");
                return DRIVER_VERDICT_NOT_APPLICABLE;
        }
        if (kernel_upstream_version(release, proc_version, &x, &y, &z) == 0)
                by_version = verdict_by_version(x, y, z, why, sizeof(why));
        /* Nothing for an observation to confirm where the model does not apply. */
        if (by_version == DRIVER_VERDICT_NOT_APPLICABLE) {
                snprintf(evidence, size, "%s", why);
                return by_version;
        }
        if (!e || e->mixed_unmaps < EVIDENCE_MIN_UNMAPS) {
                snprintf(evidence, size, "%s; not yet confirmed by observation (%llu unmaps with page-size "
                         "changes seen in lazy domains, %d needed)", why,
                         (unsigned long long) (e ? e->mixed_unmaps : 0), EVIDENCE_MIN_UNMAPS);
                return by_version;
        }
        /* The unpatched driver pays k + (k > 0) page-selective
         * invalidations per such unmap; the patched one none. Half the
         * expected count separates the two with a wide margin. */
        if (e->page_selective_seen * 2 >= e->unpatched_would_pay) {
                snprintf(evidence, size, "observed unpatched: %llu unmaps with page-size changes in lazy domains "
                         "were followed by %llu page-selective invalidations (the unpatched driver pays %llu); %s%s",
                         (unsigned long long) e->mixed_unmaps, (unsigned long long) e->page_selective_seen,
                         (unsigned long long) e->unpatched_would_pay, why,
                         by_version == DRIVER_VERDICT_PATCHED ? ", but observation wins" : "");
                return DRIVER_VERDICT_UNPATCHED;
        }
        snprintf(evidence, size, "observed patched: %llu unmaps with page-size changes in lazy domains were followed "
                 "by %llu page-selective invalidations (the unpatched driver would pay %llu); %s%s",
                 (unsigned long long) e->mixed_unmaps, (unsigned long long) e->page_selective_seen,
                 (unsigned long long) e->unpatched_would_pay, why,
                 by_version == DRIVER_VERDICT_UNPATCHED ? ", but observation wins" : "");
        return DRIVER_VERDICT_PATCHED;
}
