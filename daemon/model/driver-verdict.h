/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Does this kernel's VT-d driver carry "iommu/vt-d: Avoid superfluous IOTLB
 * tracking in lazy mode" (mainline 16a75bbe480c, v6.3; backported to
 * 6.1.16, 6.2.3 and 5.15.99)? Without it, a lazy domain still pays a
 * page-selective invalidation at every page-size change inside an unmap.
 *
 * The verdict comes from the kernel version and its backport rules, and is
 * cross-checked by what the daemon sees: unmaps with page-size changes in a
 * lazy domain followed by page-selective invalidations mean unpatched; the
 * same unmaps with none mean patched. Observation wins over the version.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum DriverVerdict {
        DRIVER_VERDICT_UNKNOWN,
        DRIVER_VERDICT_PATCHED,
        DRIVER_VERDICT_UNPATCHED,
        DRIVER_VERDICT_NOT_APPLICABLE, /* not VT-d, or a driver the model does not describe */
        _DRIVER_VERDICT_MAX,
} DriverVerdict;

/* Evidence gathered in lazy domains: unmaps with page-size changes (k > 0),
 * what the unpatched driver would have paid for them (k + 1 each by the
 * gather model), and the page-selective invalidations actually seen in the
 * same ticks. */
typedef struct DriverEvidence {
        uint64_t mixed_unmaps;
        uint64_t unpatched_would_pay;
        uint64_t page_selective_seen;
} DriverEvidence;

/* The upstream version X.Y.Z of the running kernel: from the release when
 * it names one ("6.1.192-unpatched"), else from a Debian/Ubuntu
 * /proc/version ("... Debian 6.1.192-1 ..."). -EINVAL when neither does. */
int kernel_upstream_version(const char *release, const char *proc_version, unsigned *ret_major,
                            unsigned *ret_minor, unsigned *ret_patch);

/* The verdict and its evidence in words. has_vtd: a VT-d unit is present. */
DriverVerdict driver_verdict(bool has_vtd, const char *release, const char *proc_version,
                             const DriverEvidence *e, char *evidence, size_t size);

const char *driver_verdict_to_string(DriverVerdict v); /* "patched", "unpatched", ... */
