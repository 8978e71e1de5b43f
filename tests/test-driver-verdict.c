/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver-verdict.h"
#include "tap.h"
#include "util.h"

static DriverVerdict v(const char *release, const char *version, const DriverEvidence *e) {
        char why[512];
        DriverVerdict r = driver_verdict(true, release, version, e, why, sizeof(why));

        tap_diag("%s: %s: %s", release, driver_verdict_to_string(r), why);
        return r;
}

int main(void) {
        static const char debian[] = "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
                                     "12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-1 (2026-10-01)";
        unsigned x, y, z;
        char why[512];
        DriverEvidence none = {}, unpatched = { 50, 100, 100 }, patched = { 50, 100, 0 }, few = { 3, 6, 6 };

        CHECK(kernel_upstream_version("6.1.0-56-amd64", debian, &x, &y, &z) == 0 && x == 6 && y == 1 && z == 192,
              "Debian ABI release: version from /proc/version");
        CHECK(kernel_upstream_version("6.1.192-unpatched", NULL, &x, &y, &z) == 0 && z == 192, "release names it");
        CHECK(kernel_upstream_version("6.8.0", NULL, &x, &y, &z) == 0 && y == 8 && z == 0, "x.y.0 release");
        CHECK_INT(kernel_upstream_version("garbage", "nothing", &x, &y, &z), -EINVAL, "unparsable");

        /* The backport rules, at their edges. */
        CHECK_INT(v("6.1.15", NULL, &none), DRIVER_VERDICT_UNPATCHED, "6.1.15 predates the backport");
        CHECK_INT(v("6.1.16", NULL, &none), DRIVER_VERDICT_PATCHED, "6.1.16 has it");
        CHECK_INT(v("6.2.2", NULL, &none), DRIVER_VERDICT_UNPATCHED, "6.2.2");
        CHECK_INT(v("6.2.3", NULL, &none), DRIVER_VERDICT_PATCHED, "6.2.3");
        CHECK_INT(v("5.15.98", NULL, &none), DRIVER_VERDICT_UNPATCHED, "5.15.98");
        CHECK_INT(v("5.15.99", NULL, &none), DRIVER_VERDICT_PATCHED, "5.15.99");
        CHECK_INT(v("6.0.19", NULL, &none), DRIVER_VERDICT_UNPATCHED, "6.0 never got it");
        CHECK_INT(v("6.3.1", NULL, &none), DRIVER_VERDICT_PATCHED, "mainline 6.3");
        CHECK_INT(v("5.10.200", NULL, &none), DRIVER_VERDICT_NOT_APPLICABLE, "before 5.15");
        CHECK_INT(v("6.19.1", NULL, &none), DRIVER_VERDICT_NOT_APPLICABLE, "generic page table code");
        CHECK_INT(v("6.1.0-56-amd64", debian, &none), DRIVER_VERDICT_PATCHED, "Debian 6.1.192");
        CHECK_INT(v("mystery", NULL, &none), DRIVER_VERDICT_UNKNOWN, "unknown version, no evidence");

        /* Observation wins, with enough of it. The test kernel built from
         * 6.1.192 with the fix reverted is the case that needs it. */
        CHECK_INT(v("6.1.192-unpatched", NULL, &unpatched), DRIVER_VERDICT_UNPATCHED, "reverted fix observed");
        CHECK_INT(v("6.1.192", NULL, &patched), DRIVER_VERDICT_PATCHED, "fix observed");
        CHECK_INT(v("6.1.10", NULL, &patched), DRIVER_VERDICT_PATCHED, "a backport the version rule misses");
        CHECK_INT(v("6.1.192-unpatched", NULL, &few), DRIVER_VERDICT_PATCHED, "too little evidence: version rule");

        /* Debian 13's backports kernel: VT-d on the generic page table, where
         * the rule lives in gather_range_pages(); nothing to confirm, and the
         * evidence says so whatever was seen. */
        CHECK_INT(driver_verdict(true, "7.3.4+deb13-amd64", NULL, &unpatched, why, sizeof(why)),
                  DRIVER_VERDICT_NOT_APPLICABLE, "7.3.4: generic page table, even with 'unpatched' evidence");
        CHECK(strstr(why, "generic page table") && strstr(why, "no avoided_by_patch") &&
              !strstr(why, "not yet confirmed") && !strstr(why, "observed"), "7.3.4 evidence reads right: %s", why);
        CHECK_INT(driver_verdict(true, "6.18.2", NULL, &none, why, sizeof(why)), DRIVER_VERDICT_PATCHED,
                  "6.18: VT-d's own page table, the fix by version");
        CHECK(strstr(why, "not yet confirmed") != NULL, "6.18 still waits for observation: %s", why);

        CHECK_INT(driver_verdict(false, "6.1.10", NULL, &unpatched, why, sizeof(why)), DRIVER_VERDICT_NOT_APPLICABLE,
                  "no VT-d unit");
        CHECK(strstr(why, "VT-d") != NULL, "says why: %s", why);
        return tap_done();
}
