/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain id -> device maps: dmar_translation_struct files written in the
 * kernel's format (legacy and scalable mode, tests/fixtures/debugfs), trees
 * without debugfs, and qi_submit descriptor sequences as the 6.1 driver
 * submits them on attach and detach.
 */
#include <errno.h>
#include <stdlib.h>

#include "domain-map.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static int open_root(const char *sub) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/debugfs/%s/sys", fixtures_dir(), sub);
        return sysfs_open_root(path);
}

static void test_legacy(void) {
        _cleanup_close_ int fd = open_root("legacy");
        _cleanup_free_ char *reason = NULL;
        DomainMap m = {};
        const DomainEntry *e, *list[8];

        CHECK_INT(domain_map_read_debugfs(&m, fd, &reason), 6, "legacy: 6 rows");
        CHECK(reason == NULL && m.malformed == 0, "nothing malformed");
        CHECK_INT(m.n_units, 3, "dmar0, dmar1, disabled dmar2");
        CHECK(m.n_units == 3 && m.units[2].disabled && !m.units[1].disabled, "dmar2 not enabled");

        e = domain_map_find_device(&m, "0000:00:03.0");
        CHECK(e && e->did == 5 && streq(e->unit, "dmar1") && e->pasid == -1 && e->current,
              "the row seen on 6.1: 00:03.0 in did 5 on dmar1");
        CHECK(e && e->source == DOMAIN_SOURCE_DEBUGFS, "from debugfs");
        e = domain_map_find_device(&m, "0000:00:02.0");
        CHECK(e && e->did == 1 && streq(e->unit, "dmar0"), "00:02.0 did 1 on dmar0");
        e = domain_map_find_device(&m, "0000:3b:00.0");
        CHECK(e && e->did == 0xffff, "pass-through context did 0xffff");
        CHECK(domain_map_find_device(&m, "0000:00:04.0") == NULL, "absent device");
        CHECK(domain_map_find_device(&m, "0001:00:03.0") == NULL, "other segment");
        CHECK(domain_map_find_device(&m, "garbage") == NULL, "bad name");

        CHECK_INT(domain_map_find_did(&m, "dmar1", 7, false, list, 8), 2, "did 7: a two-function group");
        CHECK(list[0]->sid == 0x1800 && list[1]->sid == 0x1801, "18:00.0 and 18:00.1");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 7, false, list, 8), 0, "dids are per unit");

        /* The unit is on segment 1 (from the topology). */
        CHECK_INT(domain_map_set_segment(&m, "dmar1", 1), 0, "set segment");
        CHECK(domain_map_find_device(&m, "0001:00:03.0") != NULL, "found on segment 1");
        CHECK(domain_map_find_device(&m, "0000:00:03.0") == NULL, "no longer on segment 0");
        CHECK(domain_map_find_device(&m, "0000:00:02.0") != NULL, "dmar0 still segment 0");
        CHECK_INT(domain_map_set_segment(&m, "", 1), -EINVAL, "no unit name");

        /* A second read: 00:03.0 moved to did 9, 00:1f.2 is gone. */
        CHECK_INT(domain_map_parse_translation_struct(
                          &m, "IOMMU dmar1: Root Table Address: 0x10a4cc000\n"
                              "B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry\n"
                              "00:03.0\t0x0:0x9c0001\t0x0000000000000901:0x0000000000b65001\t-1    \t"
                              "0x0:0x0:0x0\n"),
                  1, "re-read");
        e = domain_map_find_device(&m, "0001:00:03.0");
        CHECK(e && e->did == 9 && e->segment == 1, "moved to did 9, segment kept");
        CHECK(domain_map_find_device(&m, "0001:00:1f.2") == NULL, "dropped by the re-read");
        CHECK(domain_map_find_device(&m, "0000:00:02.0") == NULL, "dmar0 not in the re-read: dropped");
        domain_map_done(&m);
}

static void test_scalable(void) {
        _cleanup_close_ int fd = open_root("scalable");
        DomainMap m = {};
        const DomainEntry *e, *list[4];

        CHECK_INT(domain_map_read_debugfs(&m, fd, NULL), 3, "scalable: 3 PASID rows");
        e = domain_map_find_device(&m, "0000:00:01.0");
        CHECK(e && e->pasid == 0 && e->did == 3, "00:01.0 PASID 0 (the DMA domain): did 3");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 9, false, list, 4), 1, "PASID 5 in did 9");
        CHECK(list[0]->pasid == 5 && list[0]->sid == 0x08, "PASID 5 of 00:01.0");
        e = domain_map_find_device(&m, "0000:00:03.0");
        CHECK(e && e->did == 1, "00:03.0 did 1");
        domain_map_done(&m);
}

static void test_missing(void) {
        _cleanup_close_ int a = open_root("nodebugfs"), b = open_root("nointel");
        _cleanup_free_ char *reason = NULL;
        DomainMap m = {};

        CHECK_INT(domain_map_read_debugfs(&m, a, &reason), -ENOENT, "no debugfs");
        CHECK(reason && strstr(reason, "not mounted"), "reason: %s", strna(reason));
        free(TAKE_PTR(reason));
        CHECK_INT(domain_map_read_debugfs(&m, b, &reason), -ENOENT, "no VT-d debugfs");
        CHECK(reason && strstr(reason, "CONFIG_INTEL_IOMMU_DEBUGFS"), "reason: %s", strna(reason));

        CHECK_INT(domain_map_parse_translation_struct(
                          &m, "00:03.0\t0x0:0x1\t0x501:0x1\t-1\t0x0:0x0:0x0\n" /* no unit yet */
                              "IOMMU dmar0: Root Table Address: 0x1\n"
                              "00:03.0\t0x0:0x1\t0x501:0x1\n"                    /* short */
                              "00:03.0\tzz:0x1\t0x501:0x1\t-1\t0x0:0x0:0x0\n"   /* not hex */
                              "00:33.0\t0x0:0x1\t0x501:0x1\t-1\t0x0:0x0:0x0\n"  /* device 0x33 */
                              "00:03.0\t0x0:0x1\t0x501:0x1\tx\t0x0:0x0:0x0\n"   /* PASID */
                              "00:03.0\t0x0:0x1\t0x501:0x1\t-1\t0x0:0x0\n"      /* 2 values */
                              "IOMMU dmar_with_a_very_long_name: Root Table Address: 0x1\n"
                              "0000:00:04.0\t0x0:0x1\t0x601:0x1\t-1\t0x0:0x0:0x0\n"),
                  0, "garbage: no rows");
        CHECK_INT(m.malformed, 8, "8 lines not understood");
        domain_map_done(&m);
}

static void observe(DomainMap *m, const char *unit, unsigned cpu, uint64_t qw0, uint64_t qw1) {
        QiDesc d;

        qi_decode(qw0, qw1, 0, 0, &d);
        domain_map_observe_qi(m, unit, cpu, &d);
}

static void test_qi_learning(void) {
        DomainMap m = {};
        const DomainEntry *e, *list[4];
        QiDesc d;

        /* Detach of 00:02.0 from did 4, as observed on 6.1: cc_inv
         * 0x1000040031, then iotlb_inv domain-selective for did 4. */
        qi_decode(0x1000040031, 0, 0, 0, &d);
        CHECK_INT(domain_map_observe_qi(&m, "dmar0", 0, &d), 1, "detach learned");
        observe(&m, "dmar0", 0, (4ULL << 16) | (2 << 4) | 2, 0);
        CHECK(domain_map_find_device(&m, "0000:00:02.0") == NULL, "no current domain after detach");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 4, false, list, 4), 1, "did 4 still attributable");
        CHECK(list[0]->sid == 0x10 && !list[0]->current && list[0]->source == DOMAIN_SOURCE_DETACH,
              "did 4 was 00:02.0's");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 4, true, list, 4), 0, "not current");
        CHECK_INT(domain_map_observe_qi(&m, "dmar0", 0, &d), 0, "the same detach again: no change");

        /* Caching-mode attach to did 7: cc_inv did 0, (wait), iotlb_inv DSI 7. */
        observe(&m, "dmar0", 1, (0x10ULL << 32) | (3 << 4) | 1, 0);
        observe(&m, "dmar0", 1, 0x5 | (1 << 5), 0x1000);
        qi_decode((7ULL << 16) | (2 << 4) | 2, 0, 0, 0, &d);
        CHECK_INT(domain_map_observe_qi(&m, "dmar0", 1, &d), 1, "attach learned");
        e = domain_map_find_device(&m, "0000:00:02.0");
        CHECK(e && e->did == 7 && e->current && e->source == DOMAIN_SOURCE_ATTACH, "00:02.0 now in did 7");
        CHECK(m.n_pending == 0, "pair consumed");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 4, false, list, 4), 1, "did 4 history kept");

        /* Detach from 7 turns the current entry into the detached one. */
        observe(&m, "dmar0", 2, (0x10ULL << 32) | (7ULL << 16) | (3 << 4) | 1, 0);
        CHECK(domain_map_find_device(&m, "0000:00:02.0") == NULL, "detached from 7");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 7, false, list, 4), 1, "did 7 was 00:02.0's");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 4, false, list, 4), 0, "only the latest detach kept");

        /* Interleaving CPUs and units: pairs are per unit and CPU. */
        observe(&m, "dmar1", 0, (0x18ULL << 32) | (3 << 4) | 1, 0);             /* 00:03.0, cpu 0 */
        observe(&m, "dmar1", 1, (3ULL << 16) | (3 << 4) | 2, 0x1000);           /* PSI on cpu 1 */
        observe(&m, "dmar0", 0, (9ULL << 16) | (2 << 4) | 2, 0);                 /* other unit */
        CHECK(domain_map_find_device(&m, "0000:00:03.0") == NULL, "not yet");
        observe(&m, "dmar1", 0, (12ULL << 16) | (2 << 4) | 2, 0);
        e = domain_map_find_device(&m, "0000:00:03.0");
        CHECK(e && e->did == 12 && streq(e->unit, "dmar1"), "00:03.0 in did 12 on dmar1");

        /* A broken pair: page-selective flush in between. */
        observe(&m, "dmar1", 3, (0x20ULL << 32) | (3 << 4) | 1, 0);
        observe(&m, "dmar1", 3, (3ULL << 16) | (3 << 4) | 2, 0x1000);
        observe(&m, "dmar1", 3, (13ULL << 16) | (2 << 4) | 2, 0);
        CHECK(domain_map_find_device(&m, "0000:00:04.0") == NULL, "a broken pair teaches nothing");

        /* Scalable-mode descriptors and junk teach nothing. */
        size_t before = m.n_entries;
        observe(&m, "dmar1", 0, 0x7 | (1 << 4) | (3ULL << 16), 0);
        observe(&m, "dmar1", 0, 0x6 | (2 << 4) | (3ULL << 16), 0);
        qi_decode(0x1000040031, 0, 0, 0, &d);
        CHECK_INT(domain_map_observe_qi(&m, "", 0, &d), 0, "no unit name");
        CHECK_INT(domain_map_observe_qi(&m, "a_unit_name_too_long", 0, &d), 0, "unit name too long");
        CHECK_INT(m.n_entries, before, "nothing added");
        CHECK_STR(domain_source_to_string(DOMAIN_SOURCE_ATTACH),
                  "qi_submit attach (cc_inv did 0 + iotlb_inv domain)", "source name");

        /* debugfs first, then a detach of the same device and did. */
        domain_map_parse_translation_struct(&m, "IOMMU dmar2: Root Table Address: 0x1\n"
                                                "00:05.0\t0x0:0x1\t0x0000000000000301:0x1\t-1\t0x0:0x0:0x0\n");
        observe(&m, "dmar2", 0, (0x28ULL << 32) | (3ULL << 16) | (3 << 4) | 1, 0);
        CHECK(domain_map_find_device(&m, "0000:00:05.0") == NULL, "debugfs entry detached");
        CHECK_INT(domain_map_find_did(&m, "dmar2", 3, false, list, 4), 1, "kept as detached");
        domain_map_done(&m);
}

/* intel_iommu:cache_tag_assign/_unassign (6.10+), and learned entries. */
static void test_cache_tag_and_learned(void) {
        DomainMap m = {};
        const DomainEntry *e[2];

        CHECK_INT(domain_map_observe_cache_tag(&m, "dmar0", "0000:00:03.0", 4, true), 1, "assign did 4");
        CHECK(domain_map_find_device(&m, "0000:00:03.0") && domain_map_find_device(&m, "0000:00:03.0")->did == 4,
              "00:03.0 is in did 4");
        CHECK_STR(domain_source_to_string(domain_map_find_device(&m, "0000:00:03.0")->source),
                  "intel_iommu:cache_tag_assign", "its source");
        CHECK_INT(domain_map_learn(&m, "dmar0", "0000:00:03.0", 9), 0, "a known device is not learned over");
        CHECK_INT(domain_map_observe_cache_tag(&m, "dmar0", "0000:00:03.0", 4, false), 1, "unassign");
        CHECK(!domain_map_find_device(&m, "0000:00:03.0"), "no current domain after the unassign");
        CHECK_INT(domain_map_find_did(&m, "dmar0", 4, false, e, 2), 1, "did 4 kept as detached");
        CHECK_INT(domain_map_learn(&m, "dmar0", "0000:00:03.0", 5), 1, "now it can be learned");
        CHECK_INT(domain_map_forget_device(&m, "0000:00:03.0"), 1, "forgotten");
        CHECK_INT(domain_map_observe_cache_tag(&m, "dmar0", "not-a-bdf", 4, true), -EINVAL, "a bad name");
        domain_map_done(&m);
}

int main(void) {
        test_cache_tag_and_learned();
        test_legacy();
        test_scalable();
        test_missing();
        test_qi_learning();
        return tap_done();
}
