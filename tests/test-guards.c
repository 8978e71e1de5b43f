/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests for daemon/decide/guards.c: every guard passing and failing, groups of
 * several devices, and every transition among DMA, DMA-FQ and identity. */
#include "guards.h"
#include "tap.h"
#include "util.h"

#define DMA GROUP_TYPE_DMA
#define FQ GROUP_TYPE_DMA_FQ
#define IDENT GROUP_TYPE_IDENTITY

/* A device no guard objects to: trusted, bound, free, rebind allowed, named
 * (so identity is allowed), under its hourly cap. */
static GuardDevice good(const char *name) {
        return (GuardDevice) {
                .name = name,
                .untrusted = TRISTATE_NO,
                .removable = TRISTATE_NO,
                .bound = true,
                .named_in_config = true,
                .allow_rebind = true,
                .max_switches_per_hour = 4,
        };
}

static bool contains(const char *haystack, const char *needle) {
        return strstr(haystack, needle) != NULL;
}

#define CHECK_REASON(v, want)                                                                \
        CHECK(contains((v).reason, (want)), "%s reason \"%s\" contains \"%s\"",              \
              guard_id_to_string((v).id), (v).reason, (want))

static const char *type_name(GroupType t) {
        return t == DMA ? "DMA" : t == FQ ? "DMA-FQ" : t == IDENT ? "identity" : "?";
}

static void test_names(void) {
        static const char *const want[_GUARD_MAX] = {
                "trusted", "not-in-use", "kernel-strict", "identity-named", "rebind-allowed",
                "rate-limit",
        };

        tap_diag("names");
        for (GuardId id = 0; id < _GUARD_MAX; id++)
                CHECK_STR(guard_id_to_string(id), want[id], "guard name");
        CHECK(!guard_id_to_string(_GUARD_MAX), "out of range");
}

static void test_needs_rebind(void) {
        static const struct {
                GroupType from, to;
                bool rebind;
        } table[] = {
                { DMA, DMA, false },   { DMA, FQ, false },   { DMA, IDENT, true },
                { FQ, DMA, true },     { FQ, FQ, false },    { FQ, IDENT, true },
                { IDENT, DMA, true },  { IDENT, FQ, true },  { IDENT, IDENT, false },
                { GROUP_TYPE_BLOCKED, DMA, true }, { GROUP_TYPE_UNMANAGED, FQ, true },
        };

        tap_diag("group_switch_needs_rebind");
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                CHECK(group_switch_needs_rebind(table[i].from, table[i].to) == table[i].rebind,
                      "%s -> %s needs rebind: %s", type_name(table[i].from),
                      type_name(table[i].to), table[i].rebind ? "yes" : "no");
}

/* Which guards apply to each transition, with one clean device. */
static void test_transitions(void) {
        enum { T = 1 << GUARD_TRUSTED, U = 1 << GUARD_NOT_IN_USE, K = 1 << GUARD_KERNEL_STRICT,
               I = 1 << GUARD_IDENTITY_NAMED, B = 1 << GUARD_REBIND_ALLOWED,
               R = 1 << GUARD_RATE_LIMIT };
        static const struct {
                GroupType from, to;
                unsigned applies;
        } table[] = {
                { DMA, DMA, 0 },
                { DMA, FQ, T | K | R },
                { DMA, IDENT, T | U | I | B | R },
                { FQ, DMA, U | B | R },
                { FQ, FQ, 0 },
                { FQ, IDENT, T | U | I | B | R },
                { IDENT, DMA, U | B | R },
                { IDENT, FQ, T | U | K | B | R },
                { IDENT, IDENT, 0 },
        };
        GuardDevice d = good("0000:00:04.0");

        tap_diag("transitions");
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                GuardVerdict v[_GUARD_MAX];
                bool ok = guards_check(table[i].from, table[i].to, &d, 1, NULL, v);

                CHECK(ok, "%s -> %s: a clean device passes", type_name(table[i].from),
                      type_name(table[i].to));
                for (GuardId id = 0; id < _GUARD_MAX; id++) {
                        bool want = table[i].applies & (1u << id);

                        CHECK(v[id].id == id, "verdict %u has its id", id);
                        CHECK(v[id].applies == want, "%s -> %s: %s %s", type_name(table[i].from),
                              type_name(table[i].to), guard_id_to_string(id),
                              want ? "applies" : "does not apply");
                        CHECK(v[id].passed, "%s passed", guard_id_to_string(id));
                        CHECK(v[id].reason[0], "%s has a reason", guard_id_to_string(id));
                }
        }
}

static void test_same_type(void) {
        GuardDevice d = good("0000:07:00.0");
        GuardVerdict v[_GUARD_MAX];

        tap_diag("from == to is no switch");
        /* Even a device every guard would refuse: nothing changes. */
        d.untrusted = TRISTATE_YES;
        d.in_use = "backs /";
        d.named_in_config = false;
        d.allow_rebind = false;
        d.switches_last_hour = 9;
        CHECK(guards_check(FQ, FQ, &d, 1, &(GuardKernel) { .forced_strict = true }, v),
              "DMA-FQ -> DMA-FQ passes");
        for (GuardId id = 0; id < _GUARD_MAX; id++) {
                CHECK(!v[id].applies && v[id].passed, "%s does not apply", guard_id_to_string(id));
                CHECK_REASON(v[id], "no switch");
        }
}

static void test_trusted(void) {
        GuardDevice d = good("0000:07:00.0");
        GuardVerdict v[_GUARD_MAX];

        tap_diag("trusted");
        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "trusted device may go lazy");
        CHECK_STR(v[GUARD_TRUSTED].reason, "no device is untrusted, external-facing or removable",
                  "passing reason");

        d.untrusted = TRISTATE_YES;
        CHECK(!guards_check(DMA, FQ, &d, 1, NULL, v), "untrusted: no lazy");
        CHECK(v[GUARD_TRUSTED].applies && !v[GUARD_TRUSTED].passed, "trusted failed");
        CHECK_REASON(v[GUARD_TRUSTED], "0000:07:00.0 is untrusted (the kernel marks it external-facing)");
        CHECK_REASON(v[GUARD_TRUSTED], "never lazy");
        for (GuardId id = 0; id < _GUARD_MAX; id++)
                if (id != GUARD_TRUSTED)
                        CHECK(v[id].passed, "only trusted fails (%s)", guard_id_to_string(id));
        CHECK(!guards_check(DMA, IDENT, &d, 1, NULL, v), "untrusted: no identity");
        CHECK_REASON(v[GUARD_TRUSTED], "never identity");
        CHECK(!guards_check(FQ, IDENT, &d, 1, NULL, v), "untrusted: no identity from lazy");
        CHECK(!guards_check(IDENT, FQ, &d, 1, NULL, v), "untrusted: no lazy from identity");
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "untrusted may go strict");
        CHECK(!v[GUARD_TRUSTED].applies, "trusted does not apply to strict");
        CHECK(guards_check(IDENT, DMA, &d, 1, NULL, v), "untrusted may leave identity for strict");

        d = good("0000:07:00.0");
        d.removable = TRISTATE_YES;
        CHECK(!guards_check(DMA, FQ, &d, 1, NULL, v), "removable: no lazy");
        CHECK_REASON(v[GUARD_TRUSTED], "0000:07:00.0 is removable");

        d = good("0000:07:00.0");
        d.external_facing = true;
        CHECK(!guards_check(DMA, FQ, &d, 1, NULL, v), "external-facing: no lazy");
        CHECK_REASON(v[GUARD_TRUSTED], "0000:07:00.0 is behind an external-facing port");

        d = good("0000:07:00.0");
        d.untrusted = TRISTATE_ABSENT;
        d.removable = TRISTATE_ABSENT;
        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "attributes not shown: allowed");
}

static void test_not_in_use(void) {
        GuardDevice d = good("0000:00:04.0");
        GuardVerdict v[_GUARD_MAX];

        tap_diag("not-in-use");
        d.in_use = "backs / (nvme0n1p2)";
        d.named_in_config = false;
        CHECK(!guards_check(FQ, DMA, &d, 1, NULL, v), "root disk: no unbind");
        CHECK(v[GUARD_NOT_IN_USE].applies && !v[GUARD_NOT_IN_USE].passed, "not-in-use failed");
        CHECK_STR(v[GUARD_NOT_IN_USE].reason,
                  "0000:00:04.0 backs / (nvme0n1p2); name it in a [device] section to allow "
                  "unbinding it", "failing reason");

        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "root disk: live DMA -> DMA-FQ is fine");
        CHECK(!v[GUARD_NOT_IN_USE].applies, "not-in-use does not apply without rebind");

        d.named_in_config = true;
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "named: unbind allowed");
        CHECK(v[GUARD_NOT_IN_USE].applies && v[GUARD_NOT_IN_USE].passed, "not-in-use passed");
        CHECK_REASON(v[GUARD_NOT_IN_USE], "but [device 0000:00:04.0] names it");

        d.named_in_config = false;
        d.bound = false;
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "unbound: nothing to unbind");
        CHECK(!v[GUARD_NOT_IN_USE].applies, "not-in-use does not apply to an unbound group");
        CHECK_REASON(v[GUARD_NOT_IN_USE], "no device is bound");

        d = good("0000:00:04.0");
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "free device");
        CHECK_REASON(v[GUARD_NOT_IN_USE], "no bound device backs");

        d.in_use = "carries eth0, the interface of the default route";
        d.named_in_config = false;
        d.name = "0000:02:00.0";
        CHECK(!guards_check(DMA, IDENT, &d, 1, NULL, v), "default route NIC: no identity");
        CHECK_REASON(v[GUARD_NOT_IN_USE], "0000:02:00.0 carries eth0");
}

static void test_kernel_strict(void) {
        GuardDevice d = good("0000:00:03.0");
        GuardKernel k = { .forced_strict = true,
                          .forced_strict_reason = "Intel caching mode (virtualized IOMMU)" };
        GuardVerdict v[_GUARD_MAX];

        tap_diag("kernel-strict");
        CHECK(!guards_check(DMA, FQ, &d, 1, &k, v), "caching mode: no lazy");
        CHECK(v[GUARD_KERNEL_STRICT].applies && !v[GUARD_KERNEL_STRICT].passed, "failed");
        CHECK_REASON(v[GUARD_KERNEL_STRICT], "Intel caching mode (virtualized IOMMU)");
        CHECK_REASON(v[GUARD_KERNEL_STRICT],
                     "0000:00:03.0 has allow_lazy_when_kernel_forced_strict = no");

        d.allow_lazy_when_kernel_forced_strict = true;
        CHECK(guards_check(DMA, FQ, &d, 1, &k, v), "allowed by config");
        CHECK_REASON(v[GUARD_KERNEL_STRICT], "every device has allow_lazy_when_kernel_forced_strict = yes");

        d.allow_lazy_when_kernel_forced_strict = false;
        CHECK(guards_check(FQ, DMA, &d, 1, &k, v), "strict is always fine");
        CHECK(!v[GUARD_KERNEL_STRICT].applies, "does not apply to strict");

        k.forced_strict = false;
        CHECK(guards_check(DMA, FQ, &d, 1, &k, v), "kernel did not force strict");
        CHECK_REASON(v[GUARD_KERNEL_STRICT], "did not force strict");
        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "no kernel facts");

        k = (GuardKernel) { .forced_strict = true };
        CHECK(!guards_check(DMA, FQ, &d, 1, &k, v), "forced without a reason still blocks");
}

static void test_identity_named(void) {
        GuardDevice d = good("0000:00:05.0");
        GuardVerdict v[_GUARD_MAX];

        tap_diag("identity-named");
        CHECK(guards_check(DMA, IDENT, &d, 1, NULL, v), "named: identity allowed");
        CHECK_REASON(v[GUARD_IDENTITY_NAMED], "every device is named");
        d.named_in_config = false;
        CHECK(!guards_check(DMA, IDENT, &d, 1, NULL, v), "not named: no identity");
        CHECK_REASON(v[GUARD_IDENTITY_NAMED], "0000:00:05.0 is not named in a [device] section");
        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "not named: lazy is fine");
        CHECK(!v[GUARD_IDENTITY_NAMED].applies, "does not apply to lazy");
}

static void test_rebind_allowed(void) {
        GuardDevice d = good("0000:00:04.0");
        GuardVerdict v[_GUARD_MAX];

        tap_diag("rebind-allowed");
        d.allow_rebind = false;
        CHECK(!guards_check(FQ, DMA, &d, 1, NULL, v), "no rebind: lazy -> strict blocked");
        CHECK(v[GUARD_REBIND_ALLOWED].applies && !v[GUARD_REBIND_ALLOWED].passed, "failed");
        CHECK_STR(v[GUARD_REBIND_ALLOWED].reason,
                  "the switch needs 0000:00:04.0 unbound and it has allow_rebind = no",
                  "failing reason");
        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "no rebind: strict -> lazy is live");
        CHECK(!v[GUARD_REBIND_ALLOWED].applies, "does not apply to the live switch");

        d.bound = false;
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "unbound: nothing is unbound");
        CHECK(!v[GUARD_REBIND_ALLOWED].applies, "does not apply without a bound device");

        d = good("0000:00:04.0");
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "allow_rebind = yes");
        CHECK_REASON(v[GUARD_REBIND_ALLOWED], "every bound device has allow_rebind = yes");
}

static void test_rate_limit(void) {
        GuardDevice d = good("0000:00:04.0");
        GuardVerdict v[_GUARD_MAX];

        tap_diag("rate-limit");
        d.switches_last_hour = 4;
        CHECK(!guards_check(DMA, FQ, &d, 1, NULL, v), "4 of 4: blocked");
        CHECK_STR(v[GUARD_RATE_LIMIT].reason,
                  "0000:00:04.0: 4 switches in the last hour, max_switches_per_hour = 4",
                  "failing reason");
        d.switches_last_hour = 3;
        CHECK(guards_check(DMA, FQ, &d, 1, NULL, v), "3 of 4: allowed");
        CHECK(v[GUARD_RATE_LIMIT].applies && v[GUARD_RATE_LIMIT].passed, "passed");
        CHECK_STR(v[GUARD_RATE_LIMIT].reason,
                  "0000:00:04.0: 3 switches in the last hour, max_switches_per_hour = 4",
                  "passing reason");
        d.switches_last_hour = 1;
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "1 of 4 going strict");
        CHECK_REASON(v[GUARD_RATE_LIMIT], "1 switch in the last hour");
        d.switches_last_hour = 0;
        d.max_switches_per_hour = 0;
        CHECK(!guards_check(DMA, FQ, &d, 1, NULL, v), "max 0: never");
        CHECK(!guards_check(FQ, DMA, &d, 1, NULL, v), "max 0: not even to strict");

        /* A device the config (or a pin) wants strict: the cap never holds
         * back DMA, and still holds back lazy. */
        d.strict_required = true;
        d.max_switches_per_hour = 4;
        d.switches_last_hour = 4;
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "strict required, cap used up: to DMA allowed");
        CHECK(!v[GUARD_RATE_LIMIT].applies, "... the cap does not apply");
        CHECK_REASON(v[GUARD_RATE_LIMIT], "never holds back DMA");
        CHECK(!guards_check(DMA, FQ, &d, 1, NULL, v), "strict required, cap used up: to DMA-FQ still blocked");
        d.max_switches_per_hour = 0;
        d.switches_last_hour = 0;
        CHECK(guards_check(FQ, DMA, &d, 1, NULL, v), "strict required, max 0: to DMA still allowed");
        {
                GuardDevice two[2] = { good("0000:00:04.0"), good("0000:00:05.0") };

                two[0].switches_last_hour = 4;
                two[1].strict_required = true;
                CHECK(guards_check(FQ, DMA, two, 2, NULL, v),
                      "a group with one strict-required member goes to DMA past another's cap");
        }
}

static void test_multi_device(void) {
        GuardDevice d[3] = { good("0000:00:1f.0"), good("0000:00:1f.3"), good("0000:00:1f.4") };
        GuardKernel k = { .forced_strict = true, .forced_strict_reason = "AMD NpCache" };
        GuardVerdict v[_GUARD_MAX];

        tap_diag("multi-device groups");
        CHECK(guards_check(DMA, FQ, d, 3, NULL, v), "three clean devices");
        CHECK(guards_check(FQ, IDENT, d, 3, NULL, v), "three named devices to identity");

        d[1].untrusted = TRISTATE_YES;
        CHECK(!guards_check(DMA, FQ, d, 3, NULL, v), "one untrusted member blocks the group");
        CHECK_REASON(v[GUARD_TRUSTED], "0000:00:1f.3 is untrusted");
        CHECK(!contains(v[GUARD_TRUSTED].reason, "more"), "only one device failed");
        d[2].removable = TRISTATE_YES;
        CHECK(!guards_check(DMA, FQ, d, 3, NULL, v), "two bad members");
        CHECK_REASON(v[GUARD_TRUSTED], "0000:00:1f.3 is untrusted");
        CHECK_REASON(v[GUARD_TRUSTED], "; and 1 more device");
        d[1].untrusted = TRISTATE_NO;
        d[2].removable = TRISTATE_NO;

        d[0].allow_lazy_when_kernel_forced_strict = true;
        d[1].allow_lazy_when_kernel_forced_strict = true;
        CHECK(!guards_check(DMA, FQ, d, 3, &k, v), "one member without the kernel-strict opt-in");
        CHECK_REASON(v[GUARD_KERNEL_STRICT], "0000:00:1f.4 has allow_lazy");
        d[2].allow_lazy_when_kernel_forced_strict = true;
        CHECK(guards_check(DMA, FQ, d, 3, &k, v), "all opted in");

        d[2].bound = false;
        d[2].allow_rebind = false;
        d[2].in_use = "backs /boot";
        CHECK(guards_check(FQ, DMA, d, 3, NULL, v), "an unbound member is not unbound");
        d[0].allow_rebind = false;
        d[1].allow_rebind = false;
        CHECK(!guards_check(FQ, DMA, d, 3, NULL, v), "two bound members without allow_rebind");
        CHECK_REASON(v[GUARD_REBIND_ALLOWED], "0000:00:1f.0 unbound");
        CHECK_REASON(v[GUARD_REBIND_ALLOWED], "and 1 more device");
        d[0].allow_rebind = d[1].allow_rebind = true;

        d[1].in_use = "backs swap (/dev/sda2)";
        d[1].named_in_config = false;
        CHECK(!guards_check(FQ, DMA, d, 3, NULL, v), "one member backs swap");
        CHECK_REASON(v[GUARD_NOT_IN_USE], "0000:00:1f.3 backs swap");
        CHECK(!guards_check(FQ, IDENT, d, 3, NULL, v), "and is not named: no identity either");
        CHECK_REASON(v[GUARD_IDENTITY_NAMED], "0000:00:1f.3 is not named");
        d[1].in_use = NULL;
        d[1].named_in_config = true;

        d[0].switches_last_hour = 1;
        d[1].switches_last_hour = 2;
        d[1].max_switches_per_hour = 2;
        CHECK(!guards_check(DMA, FQ, d, 3, NULL, v), "one member at its own cap");
        CHECK_REASON(v[GUARD_RATE_LIMIT], "0000:00:1f.3: 2 switches in the last hour, "
                                          "max_switches_per_hour = 2");
        d[1].max_switches_per_hour = 3;
        CHECK(guards_check(DMA, FQ, d, 3, NULL, v), "all under their caps");
        CHECK_REASON(v[GUARD_RATE_LIMIT], "0000:00:1f.3: 2 switches");
}

static void test_every_guard_fails_at_once(void) {
        GuardDevice d = good("0000:00:04.0");
        GuardKernel k = { .forced_strict = true, .forced_strict_reason = "AMD NpCache" };
        GuardVerdict v[_GUARD_MAX];

        tap_diag("identity -> DMA-FQ with everything wrong");
        d.untrusted = TRISTATE_YES;
        d.in_use = "backs /";
        d.named_in_config = false;
        d.allow_rebind = false;
        d.switches_last_hour = 4;
        CHECK(!guards_check(IDENT, FQ, &d, 1, &k, v), "blocked");
        for (GuardId id = 0; id < _GUARD_MAX; id++)
                if (id != GUARD_IDENTITY_NAMED)
                        CHECK(v[id].applies && !v[id].passed, "%s failed", guard_id_to_string(id));
        CHECK(!v[GUARD_IDENTITY_NAMED].applies, "identity-named does not apply");
}

int main(void) {
        test_names();
        test_needs_rebind();
        test_transitions();
        test_same_type();
        test_trusted();
        test_not_in_use();
        test_kernel_strict();
        test_identity_named();
        test_rebind_allowed();
        test_rate_limit();
        test_multi_device();
        test_every_guard_fails_at_once();
        return tap_done();
}
