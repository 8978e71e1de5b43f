/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The topology reader against fixture trees: the generated 300-group server
 * (tests/fixtures/gen-server-fixture), the trees captured from the QEMU test
 * bed (tests/fixtures/qemu-*), and small broken trees built here.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "sysfs.h"
#include "tap.h"
#include "topology-output.h"
#include "topology.h"
#include "util.h"

static Topology *scan(const char *root) {
        char sys[1024], proc[1024];
        Topology *t = NULL;
        int r;

        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);
        r = topology_scan(sys, proc, &t);
        CHECK(r == 0 && t, "scan %s: %s", root, r < 0 ? strerror(-r) : "ok");
        return t;
}

static bool has_problem(const Topology *t, const char *subject, const char *needle) {
        for (size_t i = 0; i < t->n_problems; i++)
                if (streq(t->problems[i].subject, subject) && strstr(t->problems[i].message, needle))
                        return true;
        return false;
}

static void dump_problems(const Topology *t) {
        for (size_t i = 0; i < t->n_problems; i++)
                tap_diag("problem: %s: %s", t->problems[i].subject, t->problems[i].message);
}

/* ---- pure decoders ---------------------------------------------------- */

static void test_arm_lpae_pgsizes(void) {
        /* arm_lpae_restrict_pgsizes(): the granule and its block sizes. */
        CHECK_U64(arm_lpae_pgsize_bitmap(SZ_4K), SZ_4K | SZ_2M | SZ_1G, "4K pages: 4K|2M|1G");
        CHECK_U64(arm_lpae_pgsize_bitmap(UINT64_C(16) << 10), (UINT64_C(16) << 10) | (UINT64_C(32) << 20),
                  "16K pages: 16K|32M");
        CHECK_U64(arm_lpae_pgsize_bitmap(UINT64_C(64) << 10), (UINT64_C(64) << 10) | (UINT64_C(512) << 20),
                  "64K pages: 64K|512M");
        CHECK_U64(arm_lpae_pgsize_bitmap(8192), 0, "no granule of 8K: unknown");
}

static void test_vtd_caps(void) {
        VtdCaps c;

        /* A unit with caching mode (cap bit 7), as emulated IOMMUs have. */
        vtd_caps_decode((UINT64_C(1) << 39) | (UINT64_C(1) << 7) | 6, 0xf00f5eULL, &c);
        CHECK(c.caching_mode, "cap bit 7 is caching mode");
        CHECK(c.page_selective_inv, "cap bit 39 is PSI");
        CHECK_INT(c.superpage_val, 0, "SLLPS 0");
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K, "no superpages: 4K only");

        /* A server: SLLPS = 3 (2M, 1G), MAMV 18, ND 2 -> 256 domains. */
        vtd_caps_decode(0xd2008c40660462ULL, 0xf258f17fe31ff9eULL, &c);
        CHECK(!c.caching_mode, "server has no caching mode");
        CHECK_INT(c.superpage_val, 3, "server SLLPS");
        CHECK_INT(c.max_addr_mask, 18, "server MAMV");
        CHECK_INT(c.domains_supported, 256, "ND 2 -> 2^(4+2*2) domains");
        CHECK(c.queued_invalidation && c.device_tlb, "ecap QI and DT");
        CHECK(c.scalable_mode && c.first_level, "ecap SMTS and FLTS");
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K | SZ_2M | SZ_1G, "second level: fls(3) = 2 -> 4K 2M 1G");
        CHECK_U64(vtd_pgsize_bitmap(&c, true, false), SZ_4K, "sp_off -> 4K");
        CHECK_U64(vtd_pgsize_bitmap(&c, false, true), SZ_4K | SZ_2M, "scalable mode, first level without FL1GP -> 4K 2M");
        /* SLLPS = 1: 2M only. */
        vtd_caps_decode(UINT64_C(1) << 34, 0, &c);
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K | SZ_2M, "SLLPS 1 -> 4K 2M");
}

/* PT (ecap bit 6), QI (ecap bit 1), FL1GP (cap bit 56) and PSI (cap bit
 * 39), each set alone, then each clear with every other bit set, so that a
 * decoder reading a neighbouring bit fails one way or the other. */
static void test_vtd_cap_bits(void) {
        const uint64_t fl1gp = UINT64_C(1) << 56, psi = UINT64_C(1) << 39;
        const uint64_t qi = UINT64_C(1) << 1, pt = UINT64_C(1) << 6;
        VtdCaps c;

        vtd_caps_decode(fl1gp, qi | pt, &c);
        CHECK(c.first_level_1g, "cap bit 56 alone: FL1GP");
        CHECK(c.queued_invalidation, "ecap bit 1: QI");
        CHECK(c.pass_through, "ecap bit 6: PT");
        CHECK(!c.page_selective_inv && !c.caching_mode, "cap bit 56 alone: no PSI, no caching mode");
        CHECK(!c.device_tlb && !c.scalable_mode && !c.first_level, "ecap bits 1 and 6 alone: no DT, SMTS, FLTS");

        vtd_caps_decode(~fl1gp, ~(qi | pt), &c);
        CHECK(!c.first_level_1g, "cap bit 56 clear: no FL1GP");
        CHECK(!c.queued_invalidation, "ecap bit 1 clear: no QI");
        CHECK(!c.pass_through, "ecap bit 6 clear: no PT");
        CHECK(c.page_selective_inv && c.device_tlb, "the other bits still read: PSI, DT");

        vtd_caps_decode(~psi, 0, &c);
        CHECK(!c.page_selective_inv, "cap bit 39 clear: no PSI");
        CHECK(c.first_level_1g && c.caching_mode, "cap bit 39 clear, the rest set: FL1GP, caching mode");
        vtd_caps_decode(psi, 0, &c);
        CHECK(c.page_selective_inv, "cap bit 39 alone: PSI");

        /* FL1GP decides the first-level sizes (scalable mode, SMTS|FLTS). */
        vtd_caps_decode(fl1gp, (UINT64_C(1) << 43) | (UINT64_C(1) << 47), &c);
        CHECK_U64(vtd_pgsize_bitmap(&c, false, true), SZ_4K | SZ_2M | SZ_1G, "first level with FL1GP -> 4K 2M 1G");
        vtd_caps_decode(0, (UINT64_C(1) << 43) | (UINT64_C(1) << 47), &c);
        CHECK_U64(vtd_pgsize_bitmap(&c, false, true), SZ_4K | SZ_2M, "first level without FL1GP -> 4K 2M");
}

/* SLLPS bits 2 and 3 are reserved: the kernel looks at 2M (bit 0) and 1G
 * (bit 1) only, so reserved bits alone give 4K only. */
static void test_vtd_sllps_reserved(void) {
        VtdCaps c;

        vtd_caps_decode(UINT64_C(4) << 34, 0, &c);
        CHECK_INT(c.superpage_val, 4, "SLLPS 4 kept as read");
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K, "SLLPS 4 (reserved bit 2 alone) -> 4K");
        vtd_caps_decode(UINT64_C(8) << 34, 0, &c);
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K, "SLLPS 8 (reserved bit 3 alone) -> 4K");
        vtd_caps_decode(UINT64_C(0xc) << 34, 0, &c);
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K, "SLLPS 0xc (reserved bits alone) -> 4K");
        vtd_caps_decode(UINT64_C(2) << 34, 0, &c);
        CHECK_U64(vtd_pgsize_bitmap(&c, false, false), SZ_4K | SZ_2M | SZ_1G,
                  "SLLPS 2: fls() = 2 -> 4K 2M 1G, as the kernel has it");
}

/* The six strings the kernel's iommu_group_show_type() prints, spelt out
 * here so that a misspelling in the daemon fails. */
static void test_group_type_strings(void) {
        static const struct {
                const char *s;
                GroupType t;
        } kernel[] = {
                { "blocked", GROUP_TYPE_BLOCKED }, { "identity", GROUP_TYPE_IDENTITY },
                { "unmanaged", GROUP_TYPE_UNMANAGED }, { "DMA", GROUP_TYPE_DMA },
                { "DMA-FQ", GROUP_TYPE_DMA_FQ }, { "unknown", GROUP_TYPE_NO_DEFAULT },
        };

        for (size_t i = 0; i < ELEMENTSOF(kernel); i++) {
                CHECK_INT(group_type_from_string(kernel[i].s), kernel[i].t, kernel[i].s);
                CHECK_STR(group_type_to_string(kernel[i].t), kernel[i].s, "the kernel's spelling back");
                CHECK(group_type_meaning(kernel[i].t) != NULL, "%s has a meaning in words", kernel[i].s);
        }
        CHECK_STR(group_type_meaning(GROUP_TYPE_NO_DEFAULT), "no default domain", "\"unknown\" in words");
        CHECK_INT(group_type_from_string("auto"), GROUP_TYPE_UNKNOWN, "\"auto\" is not a type the kernel reads back");
        CHECK_INT(group_type_from_string("D\x01MA garbage"), GROUP_TYPE_UNKNOWN, "garbage");
        CHECK_INT(group_type_from_string("dma"), GROUP_TYPE_UNKNOWN, "case matters");
        CHECK_INT(group_type_from_string(""), GROUP_TYPE_UNKNOWN, "empty");
        CHECK_INT(group_type_from_string(NULL), GROUP_TYPE_UNKNOWN, "NULL");
        /* Unrecognised and no-default-domain never share a name (metrics
         * label groups by group_type_to_string()). */
        for (GroupType a = 0; a < _GROUP_TYPE_MAX; a++)
                for (GroupType b = a + 1; b < _GROUP_TYPE_MAX; b++)
                        if (streq(group_type_to_string(a), group_type_to_string(b)))
                                CHECK(false, "types %d and %d share the name %s", a, b, group_type_to_string(a));
        CHECK(!streq(group_type_to_string(GROUP_TYPE_UNKNOWN), "unknown"),
              "an unrecognised string is not called \"unknown\" (is \"%s\")", group_type_to_string(GROUP_TYPE_UNKNOWN));
        CHECK(group_type_meaning(GROUP_TYPE_UNKNOWN) == NULL, "an unrecognised type has no meaning");
}

static void test_class_words_known(void) {
        CHECK(pci_class_word_known("nvme") && pci_class_word_known("ethernet") && pci_class_word_known("iommu") &&
                      pci_class_word_known("platform"),
              "class words the daemon gives are known");
        CHECK(!pci_class_word_known("nvmee") && !pci_class_word_known("") && !pci_class_word_known("NVMe"),
              "a misspelt class word is not");
}

static void test_class_words(void) {
        CHECK_STR(pci_class_to_word(0x010802), "nvme", "NVMe class");
        CHECK_STR(pci_class_to_word(0x020000), "ethernet", "Ethernet class");
        CHECK_STR(pci_class_to_word(0x030000), "gpu", "VGA class");
        CHECK_STR(pci_class_to_word(0x030200), "gpu", "3D controller class");
        CHECK_STR(pci_class_to_word(0x010000), "storage", "SCSI class");
        CHECK_STR(pci_class_to_word(0x010601), "sata", "AHCI class");
        CHECK_STR(pci_class_to_word(0x0c0330), "usb", "xHCI class");
        CHECK_STR(pci_class_to_word(0x060400), "pci-bridge", "PCI bridge class");
        CHECK_STR(pci_class_to_word(0x120000), "accelerator", "processing accelerator");
        CHECK_STR(pci_class_to_word(0xff0000), "other", "unassigned class");
}

static void test_cmdline(void) {
        DmaDefaults d;

        CHECK_INT(dma_defaults_parse("BOOT_IMAGE=/vmlinuz ro quiet", &d), 0, "parse plain cmdline");
        CHECK(d.iommu_strict == -1 && d.iommu_passthrough == -1 && !d.iommu_pt && !d.intel_iommu, "no DMA options");
        dma_defaults_done(&d);

        CHECK_INT(dma_defaults_parse("ro iommu.strict=1 iommu.passthrough=0 iommu=pt intel_iommu=on,sp_off,sm_on "
                                     "amd_iommu=off",
                                     &d),
                  0, "parse DMA options");
        CHECK_INT(d.iommu_strict, 1, "iommu.strict=1");
        CHECK_INT(d.iommu_passthrough, 0, "iommu.passthrough=0");
        CHECK(d.iommu_pt, "iommu=pt");
        CHECK_STR(d.intel_iommu, "on,sp_off,sm_on", "intel_iommu value kept");
        CHECK(d.intel_superpages_off && d.intel_scalable_mode, "sp_off and sm_on seen");
        CHECK_STR(d.amd_iommu, "off", "amd_iommu value kept");
        dma_defaults_done(&d);

        CHECK_INT(dma_defaults_parse("iommu.strict=n iommu.strict=y iommu.passthrough=bogus", &d), 0, "parse");
        CHECK_INT(d.iommu_strict, 1, "last iommu.strict wins, y is true");
        CHECK_INT(d.iommu_passthrough, -1, "an unparsable bool is treated as absent");
        dma_defaults_done(&d);

        CHECK_INT(dma_defaults_parse(NULL, &d), 0, "NULL cmdline");
        dma_defaults_done(&d);
}

static void test_reserved_region(void) {
        ReservedRegion r;

        CHECK_INT(reserved_region_parse("0x00000000fee00000 0x00000000feefffff msi", &r), 0, "parse msi region");
        CHECK_U64(r.start, 0xfee00000, "region start");
        CHECK_U64(r.end, 0xfeefffff, "region end");
        CHECK_STR(r.type, "msi", "region type");
        free(r.type);
        CHECK_INT(reserved_region_parse("0x2000 0x1000 direct", &r), -EINVAL, "end before start");
        CHECK_INT(reserved_region_parse("garbage", &r), -EINVAL, "garbage");
}

static void test_pci_modalias(void) {
        PciIds ids = {};

        CHECK_INT(pci_modalias_parse("pci:v0000144Dd0000A80Asv0000144Dsd0000A801bc01sc08i02", &ids), 0,
                  "parse an NVMe's modalias");
        CHECK(ids.vendor_id == 0x144d && ids.device_id == 0xa80a && ids.class_code == 0x010802,
              "vendor, device and class from modalias");
        CHECK_INT(pci_modalias_parse("pci:v00008086d00003450sv00008086sd00000000bc08sc80i00", &ids), 0,
                  "parse an uncore device's modalias");
        CHECK(ids.class_code == 0x088000, "class 0x088000 from bc08 sc80 i00");
        CHECK_INT(pci_modalias_parse("pci:v0001144Dd0000A80Asv0000144Dsd0000A801bc01sc08i02", &ids), -EINVAL,
                  "a vendor above 0xffff");
        CHECK_INT(pci_modalias_parse("pci:v0000144Dd0000A80Asv0000144Dsd0000A801bc01sc08", &ids), -EINVAL,
                  "no prog-if");
        CHECK_INT(pci_modalias_parse("pci:v0000144Dd0000A80Asv0000144Dsd0000A801bc01sc08i02x", &ids), -EINVAL,
                  "trailing text");
        CHECK_INT(pci_modalias_parse("acpi:PNP0A08:", &ids), -EINVAL, "another bus's modalias");
}

/* ---- the generated server --------------------------------------------- */

/* Checks a device's MSI IRQs, in order: first, first + 1, ... */
static void check_irqs(const Device *d, const char *what, unsigned first, size_t n) {
        char got[512] = "";
        size_t len = 0;
        bool ok;

        CHECK(d != NULL, "%s: device found", what);
        if (!d)
                return;
        ok = d->n_msi_irqs == n;
        for (size_t i = 0; i < d->n_msi_irqs && len < sizeof(got); i++) {
                ok = ok && d->msi_irqs[i] == first + i;
                len += (size_t) snprintf(got + len, sizeof(got) - len, "%s%u", i ? " " : "", d->msi_irqs[i]);
        }
        CHECK(ok, "%s: IRQs %u..%zu in numeric order (got %s)", what, first, first + n - 1, got);
}

static void test_server(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        const char *root = getenv("SERVER_FIXTURE");
        const IommuGroup *g;
        const Device *d;

        if (!root) {
                CHECK(false, "SERVER_FIXTURE is set by meson");
                return;
        }
        t = scan(root);
        if (!t)
                return;
        dump_problems(t);
        CHECK_INT(t->n_problems, 0, "server fixture scans without problems");
        CHECK_INT(t->n_units, 4, "four VT-d units");
        CHECK_INT(t->n_groups, 300, "300 groups");
        CHECK(topology_no_iommu_message(t) == NULL, "the server has an IOMMU");
        CHECK_STR(t->kernel.release, "6.1.0-28-amd64", "kernel release");
        CHECK_INT(t->kernel.dma.iommu_strict, 0, "iommu.strict=0 on the command line");
        CHECK_STR(t->kernel.dma.intel_iommu, "on", "intel_iommu=on");
        CHECK_STR(t->kernel.tracefs, "kernel/tracing", "tracefs found");
        CHECK(t->kernel.tracepoint_iommu && t->kernel.tracepoint_qi_submit, "tracepoints found");
        CHECK(!t->kernel.debugfs, "empty debug directory: debugfs not mounted");

        CHECK_STR(t->units[1].name, "dmar1", "units sorted by name");
        CHECK_INT(t->units[1].vendor, IOMMU_VENDOR_INTEL_VTD, "dmar1 is VT-d");
        CHECK_U64(topology_units_of_vendor(t, IOMMU_VENDOR_INTEL_VTD), t->n_units, "every unit is VT-d");
        CHECK_U64(topology_units_of_vendor(t, IOMMU_VENDOR_AMD_VI), 0, "no AMD-Vi unit");
        CHECK(t->n_groups > 0 && streq_ptr(iommu_group_key(&t->groups[0]), t->groups[0].devices[0]),
              "a group's state key is its first device");
        CHECK(!iommu_group_key(&(IommuGroup) {}), "a group without devices has no state key");
        CHECK(t->units[1].has_vtd_caps && !t->units[1].vtd.caching_mode, "dmar1 caps, no caching mode");
        CHECK_U64(t->units[1].pgsize_bitmap, SZ_4K | SZ_2M | SZ_1G, "dmar1 page sizes");
        /* gen-server-fixture: "MAMV 18, ND 2 (256 domains)", as its own
         * domains_supported file says. */
        CHECK_INT(t->units[1].vtd.max_addr_mask, 18, "dmar1 MAMV");
        CHECK_INT(t->units[1].vtd.domains_supported, 256, "dmar1 ND 2: 256 domains");
        {
                char path[1024], buf[32] = "";
                FILE *f;

                snprintf(path, sizeof(path), "%s/sys/class/iommu/dmar1/intel-iommu/domains_supported", root);
                f = fopen(path, "re");
                if (f) {
                        if (!fgets(buf, sizeof(buf), f))
                                buf[0] = '\0';
                        fclose(f);
                }
                CHECK_INT(strtoul(buf, NULL, 10), t->units[1].vtd.domains_supported,
                          "the fixture's domains_supported matches its cap");
        }

        /* Groups are sorted numerically, not as strings (10 after 9). */
        for (size_t i = 0; i < t->n_groups; i++)
                if (t->groups[i].id != i) {
                        CHECK(false, "group %zu has id %u", i, t->groups[i].id);
                        break;
                }

        g = topology_find_group(t, 0);
        CHECK(g && g->type == GROUP_TYPE_IDENTITY, "group 0 is identity");
        CHECK(g && g->n_regions == 2 && streq(g->regions[0].type, "direct"), "group 0 has its RMRR");

        d = topology_find_device(t, "0000:18:00.0");
        CHECK(d != NULL, "first NVMe found");
        if (d) {
                CHECK(d->is_pci, "NVMe is PCI");
                CHECK_INT(d->vendor_id, 0x144d, "NVMe vendor");
                CHECK_INT(d->device_id, 0xa80a, "NVMe device");
                CHECK_INT(d->class_code, 0x010802, "NVMe class code");
                CHECK_STR(d->class_word, "nvme", "NVMe class word");
                CHECK_STR(d->driver, "nvme", "NVMe driver");
                CHECK_STR(d->unit, "dmar1", "NVMe unit");
                CHECK_INT(d->numa_node, 0, "NVMe NUMA node");
                CHECK_INT(d->n_msi_irqs, 9, "NVMe MSI vectors");
                CHECK(d->block_devs && streq(d->block_devs[0], "nvme0n1") && !d->block_devs[1], "NVMe namespace");
                CHECK_INT(d->untrusted, TRISTATE_ABSENT, "no untrusted attribute");
                g = topology_find_group(t, (unsigned) d->group);
                CHECK(g && g->type == GROUP_TYPE_DMA_FQ && strv_length(g->devices) == 1, "NVMe alone in a lazy group");
        }

        d = topology_find_device(t, "0000:98:00.0");
        CHECK(d && d->driver == NULL && d->n_msi_irqs == 0, "unbound NVMe has no driver and no vectors");

        /* msi_irqs/ lists 100..114 before 98 and 99 when sorted as names. */
        check_irqs(topology_find_device(t, "0000:18:00.0"), "first NVMe", 42, 9);
        check_irqs(topology_find_device(t, "0000:99:00.0"), "X710 port 0", 81, 17);
        check_irqs(topology_find_device(t, "0000:99:00.1"), "X710 port 1", 98, 17);
        check_irqs(topology_find_device(t, "0000:07:00.0"), "Thunderbolt NIC", 120, 5);

        d = topology_find_device(t, "0000:99:00.0");
        CHECK(d && streq(d->class_word, "ethernet") && streq(d->driver, "i40e"), "X710 port 0");
        CHECK(d && d->net_ifaces && streq(d->net_ifaces[0], "ens1f0"), "X710 port 0 interface");
        if (d) {
                g = topology_find_group(t, (unsigned) d->group);
                CHECK(g && strv_length(g->devices) == 2 && streq(g->devices[1], "0000:99:00.1"),
                      "both X710 functions in one group");
        }

        d = topology_find_device(t, "0000:83:00.1");
        CHECK(d && streq(d->class_word, "audio"), "GPU audio function");
        g = d ? topology_find_group(t, (unsigned) d->group) : NULL;
        CHECK(g && strv_length(g->devices) == 2 && strv_contains(g->devices, "0000:83:00.0"), "GPU and audio share a group");

        d = topology_find_device(t, "0000:07:00.0");
        CHECK(d && d->untrusted == TRISTATE_YES && d->removable == TRISTATE_YES, "Thunderbolt NIC untrusted, removable");
        CHECK(d && streq(d->driver, "igc") && d->net_ifaces && streq(d->net_ifaces[0], "enp7s0"), "Thunderbolt NIC");
        g = d ? topology_find_group(t, (unsigned) d->group) : NULL;
        CHECK(g && g->type == GROUP_TYPE_DMA, "Thunderbolt NIC group is strict");
        d = topology_find_device(t, "0000:00:07.0");
        CHECK(d && d->untrusted == TRISTATE_NO && d->removable == TRISTATE_NO, "root port trusted, fixed");
}

/* The JSON of --dump-topology --json (topology_to_json()): the keys that
 * are part of the interface, and a few values. */
static json_object *json_get(json_object *o, const char *key) {
        json_object *v = NULL;

        return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* An array's length; 0 for anything else (json-c asserts on those). */
static size_t json_len(json_object *a) {
        return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static bool json_has(json_object *o, const char *key) {
        return o && json_object_object_get_ex(o, key, NULL);
}

static json_object *json_find_device(json_object *devices, const char *bdf) {
        for (size_t i = 0; i < json_len(devices); i++) {
                json_object *d = json_object_array_get_idx(devices, i);

                if (streq_ptr(json_object_get_string(json_get(d, "bdf")), bdf))
                        return d;
        }
        return NULL;
}

static void test_server_json(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        const char *root = getenv("SERVER_FIXTURE");
        json_object *o, *parsed, *units, *groups, *devices, *kernel, *d, *v;
        size_t bad_groups = 0, bad_devices = 0;

        if (!root) {
                CHECK(false, "SERVER_FIXTURE is set by meson");
                return;
        }
        t = scan(root);
        if (!t)
                return;
        o = topology_to_json(t);
        CHECK(o != NULL, "topology_to_json of the server");
        if (!o)
                return;
        /* What a client reads: the printed text, parsed again. */
        parsed = json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        CHECK(parsed && json_object_is_type(parsed, json_type_object), "the JSON text parses back to an object");
        if (!parsed)
                return;

        units = json_get(parsed, "units");
        groups = json_get(parsed, "groups");
        devices = json_get(parsed, "devices");
        kernel = json_get(parsed, "kernel");
        CHECK(json_len(units) == 4, "units: 4");
        CHECK(json_len(groups) == 300,
              "groups: 300");
        CHECK(json_len(devices) == t->n_devices,
              "devices: %zu", t->n_devices);
        CHECK(json_object_is_type(kernel, json_type_object), "kernel is an object");
        CHECK_STR(json_object_get_string(json_get(kernel, "release")), "6.1.0-28-amd64", "kernel.release");
        CHECK(json_get(parsed, "iommu") && json_object_get_boolean(json_get(parsed, "iommu")), "iommu: true");
        if (!json_object_is_type(groups, json_type_array) || !json_object_is_type(devices, json_type_array)) {
                json_object_put(parsed);
                return;
        }

        for (size_t i = 0; i < json_len(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);

                if (!json_object_is_type(json_get(g, "group"), json_type_int) ||
                    !json_object_is_type(json_get(g, "type"), json_type_string) ||
                    !json_object_is_type(json_get(g, "devices"), json_type_array)) {
                        if (bad_groups++ == 0)
                                tap_diag("group %zu: %s", i, json_object_to_json_string(g));
                }
        }
        CHECK_INT(bad_groups, 0, "every group has group (int), type (string), devices (array)");
        for (size_t i = 0; i < json_len(devices); i++) {
                json_object *dev = json_object_array_get_idx(devices, i);

                if (!json_object_is_type(json_get(dev, "bdf"), json_type_string) || !json_has(dev, "driver") ||
                    !json_object_is_type(json_get(dev, "class"), json_type_string) ||
                    !json_object_is_type(json_get(dev, "group"), json_type_int) || !json_has(dev, "untrusted")) {
                        if (bad_devices++ == 0)
                                tap_diag("device %zu: %s", i, json_object_to_json_string(dev));
                }
        }
        CHECK_INT(bad_devices, 0, "every device has bdf, driver, class, group (int), untrusted");

        v = json_object_array_get_idx(groups, 0);
        CHECK(json_object_get_int(json_get(v, "group")) == 0 &&
                      streq_ptr(json_object_get_string(json_get(v, "type")), "identity") &&
                      json_object_get_boolean(json_get(v, "type_known")),
              "group 0 is identity, a known type");
        CHECK(json_len(json_get(v, "devices")) == 1 &&
                      streq_ptr(json_object_get_string(json_object_array_get_idx(json_get(v, "devices"), 0)),
                                "0000:00:02.0"),
              "group 0 holds the integrated GPU");

        d = json_find_device(devices, "0000:07:00.0");
        CHECK(d != NULL, "Thunderbolt NIC in the JSON");
        v = json_get(d, "untrusted");
        CHECK(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v),
              "Thunderbolt NIC untrusted: true");
        CHECK_STR(json_object_get_string(json_get(d, "driver")), "igc", "Thunderbolt NIC driver");
        CHECK_STR(json_object_get_string(json_get(d, "class")), "ethernet", "Thunderbolt NIC class");
        CHECK_INT(json_object_get_int(json_get(d, "group")), topology_find_device(t, "0000:07:00.0")->group,
                  "Thunderbolt NIC group");

        d = json_find_device(devices, "0000:98:00.0");
        CHECK(d != NULL, "driverless NVMe in the JSON");
        CHECK(json_has(d, "driver") && json_get(d, "driver") == NULL, "driverless NVMe: driver null");
        CHECK_STR(json_object_get_string(json_get(d, "class")), "nvme", "driverless NVMe class");
        CHECK(json_has(d, "untrusted") && json_get(d, "untrusted") == NULL, "no untrusted attribute: null");

        d = json_find_device(devices, "0000:00:07.0");
        v = json_get(d, "untrusted");
        CHECK(json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v), "root port untrusted: false");

        d = json_find_device(devices, "0000:99:00.1");
        v = json_get(d, "msi_irqs");
        CHECK(json_len(v) == 17 && json_object_get_int(json_object_array_get_idx(v, 0)) == 98 &&
                      json_object_get_int(json_object_array_get_idx(v, 16)) == 114,
              "X710 port 1 msi_irqs 98..114 in numeric order");
        json_object_put(parsed);
}

/* ---- broken trees ------------------------------------------------------- */

static char tmp_root[256];

static void put(const char *rel, const char *content) {
        char path[1024];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", tmp_root, rel);
        for (char *p = path + strlen(tmp_root) + 1; (p = strchr(p, '/')); p++) {
                *p = '\0';
                mkdir(path, 0755);
                *p = '/';
        }
        if (!content) {
                mkdir(path, 0755);
                return;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
                if (write(fd, content, strlen(content)) < 0)
                        tap_diag("write %s failed", path);
                close(fd);
        }
}

static void put_link(const char *rel, const char *target) {
        char path[1024];

        put(rel, NULL);
        snprintf(path, sizeof(path), "%s/%s", tmp_root, rel);
        rmdir(path);
        unlink(path);
        if (symlink(target, path) < 0)
                tap_diag("symlink %s failed", path);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static void new_tree(void) {
        if (tmp_root[0])
                nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        snprintf(tmp_root, sizeof(tmp_root), "/tmp/test-topology-XXXXXX");
        if (!mkdtemp(tmp_root))
                tap_diag("mkdtemp failed");
        put("sys/kernel", NULL);
        put("proc/sys/kernel/osrelease", "6.1.0-test\n");
        put("proc/cmdline", "ro\n");
}

/* One healthy device 0000:00:03.0 in group 1 behind dmar0. */
static void put_device(const char *bdf, unsigned group, const char *type) {
        char rel[512], target[512];

        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/type", group);
        if (type)
                put(rel, type);
        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/reserved_regions", group);
        put(rel, "0x00000000fee00000 0x00000000feefffff msi\n");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/vendor", bdf);
        put(rel, "0x1b36\n");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/device", bdf);
        put(rel, "0x0010\n");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/class", bdf);
        put(rel, "0x010802\n");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/numa_node", bdf);
        put(rel, "-1\n");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/iommu_group", bdf);
        snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%u", group);
        put_link(rel, target);
        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/devices/%s", group, bdf);
        snprintf(target, sizeof(target), "../../../../devices/pci0000:00/%s", bdf);
        put_link(rel, target);
}

static void test_no_iommu(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        json_object *o;

        new_tree();
        t = scan(tmp_root);
        if (!t)
                return;
        CHECK(t->n_units == 0 && t->n_groups == 0 && t->n_devices == 0, "no IOMMU: empty topology");
        CHECK_INT(t->n_problems, 0, "no IOMMU is not a problem");
        CHECK(topology_no_iommu_message(t) && strstr(topology_no_iommu_message(t), "No IOMMU"),
              "no IOMMU gets a clear message");
        o = topology_to_json(t);
        CHECK(o && !json_object_get_boolean(json_object_object_get(o, "iommu")), "JSON says iommu: false");
        CHECK(o && json_object_object_get(o, "message"), "JSON carries the message");
        json_object_put(o);
}

/* A machine with PCI devices and no IOMMU: the captured VT-d guest's tree
 * without its unit and groups, as the same guest shows it with
 * intel_iommu=off. Every device is listed, in group none. */
static void test_devices_without_iommu(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ char *text = NULL;
        char cmd[1400];
        size_t size = 0;
        FILE *f;

        new_tree();
        snprintf(cmd, sizeof(cmd), "cp -a '%s/qemu-vtd/sys' '%s/qemu-vtd/proc' '%s/' && rm -rf '%s/sys/kernel/iommu_groups' "
                 "'%s/sys/class/iommu'/*", fixtures_dir(), fixtures_dir(), tmp_root, tmp_root, tmp_root);
        CHECK(system(cmd) == 0, "copy qemu-vtd without its IOMMU");
        t = scan(tmp_root);
        if (!t)
                return;
        CHECK(t->n_units == 0 && t->n_groups == 0, "no unit, no group");
        CHECK_INT(t->n_devices, 8, "the 8 PCI devices are listed");
        for (size_t i = 0; i < t->n_devices; i++)
                CHECK(t->devices[i].group < 0 && !t->devices[i].unit, "%s: group none, no unit", t->devices[i].name);
        CHECK(topology_find_device(t, "0000:00:01.0") && streq(topology_find_device(t, "0000:00:01.0")->class_word, "nvme"),
              "the nvme is read in full (class nvme)");
        CHECK(topology_no_iommu_message(t), "the no-IOMMU message");
        f = open_memstream(&text, &size);
        CHECK(f && topology_print(t, f) == 0, "the tables print");
        if (f)
                fclose(f);
        CHECK(text && strstr(text, "No IOMMU is active") && strstr(text, "0000:00:01.0  ") &&
                      strstr(text, "Group none: not translated by an IOMMU"),
              "they give the message, the devices table and group none");
}

static void test_missing_roots(void) {
        Topology *t = NULL;

        CHECK_INT(topology_scan("/nonexistent/sys", "/proc", &t), -ENOENT, "missing sysfs root is an error");
        CHECK(t == NULL, "no topology on error");
}

static void test_broken_device_files(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        const Device *d;
        char path[512];

        new_tree();
        put_device("0000:00:03.0", 1, "DMA\n");
        put_device("0000:00:04.0", 2, "DMA-FQ\n");
        put_device("0000:00:05.0", 3, "DMA\n");
        /* 03.0: class truncated to nothing; vendor missing */
        put("sys/devices/pci0000:00/0000:00:03.0/class", "");
        snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:03.0/vendor", tmp_root);
        unlink(path);
        /* 04.0: driver link dangling is fine (its name is all we read), a
         * garbage numa_node is not */
        put_link("sys/devices/pci0000:00/0000:00:04.0/driver", "../../../bus/pci/drivers/gone");
        put("sys/devices/pci0000:00/0000:00:04.0/numa_node", "banana\n");
        /* 05.0: the group's device link dangles */
        snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:05.0/vendor", tmp_root);
        unlink(path);
        put_link("sys/kernel/iommu_groups/3/devices/0000:00:05.0", "../../../../devices/pci0000:00/0000:00:99.0");

        t = scan(tmp_root);
        if (!t)
                return;
        dump_problems(t);
        CHECK_INT(t->n_devices, 3, "every listed device is reported");
        CHECK(has_problem(t, "device 0000:00:03.0", "class is empty"), "truncated class reported");
        CHECK(has_problem(t, "device 0000:00:03.0", "cannot read vendor"), "missing vendor reported");
        d = topology_find_device(t, "0000:00:03.0");
        CHECK(d && d->device_id == 0x0010 && d->group == 1, "the rest of 03.0 is still read");
        CHECK(d && streq(d->class_word, "unknown"), "unknown class word when class is unreadable");

        d = topology_find_device(t, "0000:00:04.0");
        CHECK(d && streq_ptr(d->driver, "gone"), "driver name from a dangling driver link");
        CHECK(has_problem(t, "device 0000:00:04.0", "numa_node holds an unexpected value"), "bad numa_node");
        CHECK(d && d->numa_node == -1, "bad numa_node reads as none");

        CHECK(has_problem(t, "device 0000:00:05.0", "dangling link"), "dangling group member link reported");
        d = topology_find_device(t, "0000:00:05.0");
        CHECK(d && d->group == 3, "a dangling device still belongs to its group");
}

/* A modalias stands for the vendor, device and class files; one the scan
 * cannot use leaves them to those files. */
static void test_modalias_device(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        const Device *d;
        char path[512];

        new_tree();
        put_device("0000:00:03.0", 1, "DMA\n");
        put_device("0000:00:04.0", 2, "DMA\n");
        /* 03.0: its modalias only (the three files gone) */
        put("sys/devices/pci0000:00/0000:00:03.0/modalias", "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00\n");
        for (const char *const *f = (const char *const[]) { "vendor", "device", "class", NULL }; *f; f++) {
                snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:03.0/%s", tmp_root, *f);
                unlink(path);
        }
        /* 04.0: a modalias of another kind, and its files */
        put("sys/devices/pci0000:00/0000:00:04.0/modalias", "pci:garbage\n");

        t = scan(tmp_root);
        if (!t)
                return;
        dump_problems(t);
        d = topology_find_device(t, "0000:00:03.0");
        CHECK(d && d->vendor_id == 0x8086 && d->device_id == 0x10d3 && d->class_code == 0x020000 &&
                      streq(d->class_word, "ethernet"),
              "vendor, device and class from the modalias alone");
        CHECK(!has_problem(t, "device 0000:00:03.0", "vendor"), "the absent vendor file is not read");
        d = topology_find_device(t, "0000:00:04.0");
        CHECK(d && d->vendor_id == 0x1b36 && d->device_id == 0x0010 && d->class_code == 0x010802,
              "an unusable modalias leaves them to the files");
        CHECK_INT(t->n_problems, 0, "neither is a problem");
}

/* A type written by someone else after the scan is read again. */
static void test_reread_group_type(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        char sys[512];
        int fd;

        new_tree();
        put_device("0000:00:03.0", 1, "DMA\n");
        put_device("0000:00:04.0", 2, NULL);
        t = scan(tmp_root);
        if (!t)
                return;
        snprintf(sys, sizeof(sys), "%s/sys", tmp_root);
        fd = sysfs_open_root(sys);
        CHECK(fd >= 0, "open the tree's sys");
        CHECK_INT(topology_reread_group_type(t, fd, 0), 0, "unchanged: 0");
        put("sys/kernel/iommu_groups/1/type", "DMA-FQ\n");
        CHECK_INT(topology_reread_group_type(t, fd, 0), 1, "written by someone else: 1");
        CHECK(t->groups[0].type == GROUP_TYPE_DMA_FQ && streq_ptr(t->groups[0].type_raw, "DMA-FQ"), "now DMA-FQ");
        CHECK_INT(topology_reread_group_type(t, fd, 1), 0, "no type file: 0, kept for the next scan to report");
        CHECK(t->groups[1].type_raw == NULL, "still unknown");
        CHECK_INT(topology_reread_group_type(t, fd, 2), -EINVAL, "no such index");
        if (fd >= 0)
                close(fd);
}

/* Each string the kernel prints, and two it does not, read from a tree:
 * the kernel's "unknown" (no default domain) is a known type, not a
 * problem; the others are kept verbatim and flagged. */
static void test_group_types_in_tree(void) {
        static const struct {
                const char *text;
                GroupType type;
                bool known;
        } types[] = {
                { "blocked", GROUP_TYPE_BLOCKED, true }, { "identity", GROUP_TYPE_IDENTITY, true },
                { "unmanaged", GROUP_TYPE_UNMANAGED, true }, { "DMA", GROUP_TYPE_DMA, true },
                { "DMA-FQ", GROUP_TYPE_DMA_FQ, true }, { "unknown", GROUP_TYPE_NO_DEFAULT, true },
                { "auto", GROUP_TYPE_UNKNOWN, false }, { "frobnicated", GROUP_TYPE_UNKNOWN, false },
        };
        _cleanup_(topology_freep) Topology *t = NULL;
        _cleanup_free_ char *table = NULL;
        size_t table_size = 0;
        json_object *o, *jgroups;
        FILE *f;

        new_tree();
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                char bdf[16], text[32];

                snprintf(bdf, sizeof(bdf), "0000:00:%02zx.0", i + 3);
                snprintf(text, sizeof(text), "%s\n", types[i].text);
                put_device(bdf, (unsigned) i + 1, text);
        }
        t = scan(tmp_root);
        if (!t)
                return;
        dump_problems(t);
        o = topology_to_json(t);
        jgroups = json_get(o, "groups");
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                const IommuGroup *g = topology_find_group(t, (unsigned) i + 1);
                json_object *jg = json_len(jgroups) > i ? json_object_array_get_idx(jgroups, i) : NULL;
                char subject[32];

                snprintf(subject, sizeof(subject), "group %zu", i + 1);
                CHECK(g && g->type == types[i].type && streq_ptr(g->type_raw, types[i].text),
                      "\"%s\" read as type %d, kept verbatim", types[i].text, types[i].type);
                CHECK_INT(has_problem(t, subject, "unknown type"), !types[i].known,
                          types[i].known ? "a kernel type is not flagged" : "an unrecognised type is flagged");
                CHECK(jg && json_object_get_int(json_get(jg, "group")) == (int) i + 1 &&
                              streq_ptr(json_object_get_string(json_get(jg, "type")), types[i].text) &&
                              json_object_get_boolean(json_get(jg, "type_known")) == types[i].known,
                      "JSON: type \"%s\", type_known %s", types[i].text, types[i].known ? "true" : "false");
        }
        CHECK(has_problem(t, "group 7", "unknown type \"auto\", kept as read"), "\"auto\" flagged verbatim");
        CHECK(has_problem(t, "group 8", "unknown type \"frobnicated\", kept as read"), "garbage flagged verbatim");
        CHECK_INT(t->n_problems, 2, "only the two unrecognised types are problems");
        CHECK(json_len(jgroups) > 5 &&
                      streq_ptr(json_object_get_string(json_get(json_object_array_get_idx(jgroups, 5), "type_meaning")),
                                "no default domain"),
              "JSON says \"unknown\" means no default domain");
        json_object_put(o);

        f = open_memstream(&table, &table_size);
        CHECK(f && topology_print(t, f) == 0, "print the groups");
        if (f)
                fclose(f);
        CHECK(table && strstr(table, "unknown (no default domain)"), "the table says \"unknown\" in words");
        CHECK(table && strstr(table, "auto (unrecognised)"), "the table flags \"auto\"");
        CHECK(table && !strstr(table, "unknown (unrecognised)"), "the kernel's \"unknown\" is not flagged");
}

/* msi_irqs/ entries are IRQ numbers: sorted as numbers, not names. */
static void test_msi_irq_order(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        static const char *const irqs[] = { "100", "9", "98", "1000", "99", "10" };
        static const unsigned want[] = { 9, 10, 98, 99, 100, 1000 };
        const Device *d;
        bool ok;

        new_tree();
        put_device("0000:00:03.0", 1, "DMA\n");
        for (size_t i = 0; i < ELEMENTSOF(irqs); i++) {
                char rel[256];

                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/0000:00:03.0/msi_irqs/%s", irqs[i]);
                put(rel, "msix\n");
        }
        t = scan(tmp_root);
        if (!t)
                return;
        d = topology_find_device(t, "0000:00:03.0");
        ok = d && d->n_msi_irqs == ELEMENTSOF(want);
        for (size_t i = 0; ok && i < ELEMENTSOF(want); i++)
                ok = d->msi_irqs[i] == want[i];
        CHECK(ok, "IRQs 9 10 98 99 100 1000 in numeric order");
}

static void test_broken_groups(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        const IommuGroup *g;
        json_object *o;

        new_tree();
        put_device("0000:00:03.0", 1, "DMA-FQ2\n"); /* a type from a future kernel */
        put_device("0000:00:04.0", 2, NULL);        /* no type file at all */
        put("sys/kernel/iommu_groups/2/reserved_regions", "0x1000 0x0fff direct\nnonsense\n");
        put_device("0000:00:05.0", 10, "blocked\n");
        put("sys/kernel/iommu_groups/notanumber", NULL);
        put_link("sys/class/iommu/dmar0", "../../devices/virtual/iommu/dmar0");
        put("sys/devices/virtual/iommu/dmar0/intel-iommu/cap", "zzz\n");
        put("sys/devices/virtual/iommu/dmar0/intel-iommu/ecap", "f00f5e\n");
        put("sys/devices/virtual/iommu/dmar0/devices", NULL);

        t = scan(tmp_root);
        if (!t)
                return;
        dump_problems(t);
        CHECK_INT(t->n_groups, 3, "three numeric groups");
        CHECK(t->groups[2].id == 10, "group 10 sorts after group 2");
        g = topology_find_group(t, 1);
        CHECK(g && g->type == GROUP_TYPE_UNKNOWN && streq_ptr(g->type_raw, "DMA-FQ2"), "unknown type kept verbatim");
        CHECK(has_problem(t, "group 1", "unknown type \"DMA-FQ2\""), "unknown type flagged");
        g = topology_find_group(t, 2);
        CHECK(g && g->type_raw == NULL && g->n_regions == 0, "group without type");
        CHECK(has_problem(t, "group 2", "cannot read type"), "missing type reported");
        CHECK(has_problem(t, "group 2", "cannot parse \"0x1000 0x0fff direct\""), "bad region reported");
        CHECK(has_problem(t, "group 2", "cannot parse \"nonsense\""), "garbage region reported");
        g = topology_find_group(t, 10);
        CHECK(g && g->type == GROUP_TYPE_BLOCKED, "blocked type known");
        CHECK(has_problem(t, "kernel", "notanumber is not a group id"), "non-numeric group directory reported");
        CHECK(t->n_units == 1 && !t->units[0].has_vtd_caps, "unit with unreadable cap has no decoded caps");
        CHECK(has_problem(t, "unit dmar0", "intel-iommu/cap holds an unexpected value"), "bad cap reported");
        o = topology_to_json(t);
        CHECK(o != NULL, "JSON of a broken tree");
        json_object_put(o);
}

/* ---- rescans ----------------------------------------------------------- */

static Topology *rescan(const char *root, const Topology *prev) {
        char sys[1024], proc[1024];
        Topology *t = NULL;
        int r;

        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);
        r = topology_rescan(sys, proc, prev, &t);
        CHECK(r == 0 && t, "rescan %s: %s", root, r < 0 ? strerror(-r) : "ok");
        return t;
}

/* The whole topology as --dump-topology --json shows it. */
static char *topology_text(const Topology *t) {
        json_object *o = t ? topology_to_json(t) : NULL;
        char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;

        json_object_put(o);
        return s;
}

/* Replaces a link the way the kernel does when it removes a device and adds
 * one again: a new entry (a new inode), never the old one rewritten. */
static void replace_link(const char *rel, const char *target) {
        char path[1024], tmp[1100];

        snprintf(path, sizeof(path), "%s/%s", tmp_root, rel);
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        if (symlink(target, tmp) < 0 || rename(tmp, path) < 0)
                tap_diag("replacing %s failed", path);
}

/* A PCI device as the kernel shows it: put_device() plus its entry in
 * bus/pci/devices and, when driver is not NULL, a driver link and vectors. */
static void put_pci_device(const char *bdf, unsigned group, const char *type, const char *driver) {
        char rel[512], target[512];

        put_device(bdf, group, type);
        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", bdf);
        snprintf(target, sizeof(target), "../../../devices/pci0000:00/%s", bdf);
        put_link(rel, target);
        if (driver) {
                snprintf(rel, sizeof(rel), "sys/bus/pci/drivers/%s", driver);
                put(rel, NULL);
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/driver", bdf);
                snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
                put_link(rel, target);
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/msi_irqs/40", bdf);
                put(rel, "msix\n");
        }
}

/* A rescan of an unchanged tree is the full scan, for the generated server
 * and every captured tree (what each holds is checked above). */
static void test_rescan_unchanged_trees(void) {
        static const char *const trees[] = {
                "qemu-vtd", "qemu-vtd-13bpo", "qemu-vtd-6.12", "qemu-vtd-cm", "qemu-vtd-cm-13bpo",
                "qemu-vtd-debugfs", "qemu-vtd-unpatched", "qemu-amd", "qemu-amd-13bpo", "qemu-smmuv3",
                "qemu-smmuv3-13bpo", NULL,
        };

        for (size_t i = 0; i == 0 || trees[i - 1]; i++) {
                _cleanup_(topology_freep) Topology *full = NULL, *again = NULL, *third = NULL;
                _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
                char root[1024];

                if (trees[i])
                        snprintf(root, sizeof(root), "%s/%s", fixtures_dir(), trees[i]);
                else if (getenv("SERVER_FIXTURE"))
                        snprintf(root, sizeof(root), "%s", getenv("SERVER_FIXTURE"));
                else
                        break;
                full = scan(root);
                again = full ? rescan(root, full) : NULL;
                third = again ? rescan(root, again) : NULL;
                a = topology_text(full);
                b = topology_text(again);
                c = topology_text(third);
                CHECK(a && b && streq(a, b), "%s: a rescan shows what the full scan showed", root);
                CHECK(a && c && streq(a, c), "%s: so does a rescan of a rescan", root);
                CHECK(full && again && full->n_problems == again->n_problems, "%s: the same problems", root);
        }
}

/* What changes between rescans is seen; what the kernel shows as fixed is
 * reused while the object is the same; a device that appears or goes is
 * found or dropped, with its group's members listed again. */
static void test_rescan_reuse(void) {
        _cleanup_(topology_freep) Topology *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;
        const Device *d;
        const IommuGroup *g;

        new_tree();
        put_pci_device("0000:00:03.0", 1, "DMA\n", NULL);
        put_pci_device("0000:00:04.0", 2, "DMA-FQ\n", "nvme");
        t1 = scan(tmp_root);
        if (!t1)
                return;
        d = topology_find_device(t1, "0000:00:03.0");
        CHECK(d && d->sysfs_ino != 0 && !d->driver && d->vendor_id == 0x1b36, "first scan: 03.0 identified, no driver");

        /* In place: the types, a driver bound to 03.0, 04.0 unbound, and a
         * vendor rewritten (which the kernel never does for a device it
         * keeps). */
        put("sys/kernel/iommu_groups/1/type", "identity\n");
        put("sys/kernel/iommu_groups/2/type", "DMA\n");
        put("sys/bus/pci/drivers/vfio-pci", NULL);
        put_link("sys/devices/pci0000:00/0000:00:03.0/driver", "../../../bus/pci/drivers/vfio-pci");
        {
                char path[1024];

                snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:04.0/driver", tmp_root);
                unlink(path);
                snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:04.0/msi_irqs/40", tmp_root);
                unlink(path);
                snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/0000:00:04.0/msi_irqs", tmp_root);
                rmdir(path);
        }
        put("sys/devices/pci0000:00/0000:00:03.0/vendor", "0x8086\n");
        put("sys/kernel/iommu_groups/1/reserved_regions", "0x1000 0x1fff direct\n");
        t2 = rescan(tmp_root, t1);
        if (!t2)
                return;
        g = topology_find_group(t2, 1);
        CHECK(g && g->type == GROUP_TYPE_IDENTITY, "a group type written between scans is seen");
        g = topology_find_group(t2, 2);
        CHECK(g && g->type == GROUP_TYPE_DMA, "so is the other group's");
        d = topology_find_device(t2, "0000:00:03.0");
        CHECK(d && streq_ptr(d->driver, "vfio-pci"), "a driver bound between scans is seen");
        CHECK(d && d->vendor_id == 0x1b36, "the vendor of the same device is the previous scan's");
        g = topology_find_group(t2, 1);
        CHECK(g && g->n_regions == 1 && g->regions[0].start == 0xfee00000,
              "the reserved regions of a group with the same members are the previous scan's");
        d = topology_find_device(t2, "0000:00:04.0");
        CHECK(d && !d->driver && d->n_msi_irqs == 0, "a driver unbound between scans is seen, and its vectors gone");
        CHECK_INT(t2->n_problems, 0, "no problems");

        /* 03.0 removed and another device added at the same address: a new
         * bus entry, so its facts are read again. */
        replace_link("sys/bus/pci/devices/0000:00:03.0", "../../../devices/pci0000:00/0000:00:03.0");
        t3 = rescan(tmp_root, t2);
        if (!t3)
                return;
        d = topology_find_device(t3, "0000:00:03.0");
        CHECK(d && d->vendor_id == 0x8086, "a device made anew at the same address is read in full");
        g = topology_find_group(t3, 1);
        CHECK(g && g->n_regions == 1 && g->regions[0].start == 0x1000,
              "its group's members and reserved regions are read again");

        /* A device appears in a new group; then one disappears. */
        put_pci_device("0000:00:05.0", 3, "DMA-FQ\n", "e1000e");
        t4 = rescan(tmp_root, t3);
        if (!t4)
                return;
        d = topology_find_device(t4, "0000:00:05.0");
        CHECK(d && d->group == 3 && streq_ptr(d->driver, "e1000e") && d->vendor_id == 0x1b36 &&
              d->n_msi_irqs == 1, "a device that appeared is found with its group, driver, vendor, vectors");
        CHECK(t4->n_groups == 3 && t4->n_devices == 3, "3 groups, 3 devices");
        {
                char path[1024];

                snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/0000:00:04.0", tmp_root);
                unlink(path);
                snprintf(path, sizeof(path), "%s/sys/kernel/iommu_groups/2/devices/0000:00:04.0", tmp_root);
                unlink(path);
        }
        t5 = rescan(tmp_root, t4);
        if (!t5)
                return;
        CHECK(!topology_find_device(t5, "0000:00:04.0"), "a device that went is gone");
        g = topology_find_group(t5, 2);
        CHECK(g && g->devices && !g->devices[0], "its group lists no device");
        CHECK(t5->n_devices == 2 && t5->n_problems == 0, "2 devices, no problems");
}

/* ---- trees captured from the QEMU test bed ---------------------------- */

/* What the test bed's guests have (tests/vm/run): an nvme, a virtio-blk
 * disk and two e1000e NICs, each in its own group. */
typedef struct Captured {
        const char *name;
        IommuVendor vendor;
        const char *release;
        GroupType type;              /* the kernel's default domain type there */
        int caching_mode;            /* -1: not VT-d */
        bool qi_submit;              /* Debian's amd64 kernel has the VT-d tracepoints, also on AMD */
        uint64_t pgsize_bitmap;
        const char *nvme, *virtio, *eth0, *eth1;
        const char *forced_strict;   /* the start of iommu_unit_forced_strict(), NULL: not forced */
        bool maps_flushed;
        const char *untranslated; /* the PCI device in no group (the AMD IOMMU's own function,
                                   * SMMUv3's host bridge), NULL when every one is grouped */
} Captured;

/* Every PCI device of the tree is in the topology; only c->untranslated
 * is outside every group, and every output says it is not translated. */
static void check_untranslated(const Topology *t, const char *root, const Captured *c) {
        _cleanup_strv_free_ char **pci = NULL;
        char dir[1100];
        size_t n_ungrouped = 0;
        json_object *o;
        const Device *d;

        snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", root);
        {
                _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                CHECK(fd >= 0 && sysfs_list_open_dir(fd, &pci, NULL) >= 0 && strv_length(pci) > 0,
                      "%s: bus/pci/devices lists devices", c->name);
        }
        for (char **n = pci; n && *n; n++)
                CHECK(topology_find_device(t, *n), "PCI device %s is in the topology", *n);
        for (size_t i = 0; i < t->n_devices; i++)
                n_ungrouped += t->devices[i].group < 0;
        CHECK_INT(n_ungrouped, c->untranslated ? 1 : 0, "devices outside every group");
        if (!c->untranslated)
                return;
        d = topology_find_device(t, c->untranslated);
        CHECK(d && d->group < 0 && d->is_pci, "%s is outside every group", c->untranslated);
        o = topology_to_json(t);
        for (size_t i = 0; o && i < json_object_array_length(json_object_object_get(o, "devices")); i++) {
                json_object *dev = json_object_array_get_idx(json_object_object_get(o, "devices"), i);

                if (!streq(json_object_get_string(json_object_object_get(dev, "bdf")), c->untranslated))
                        continue;
                CHECK(!json_object_get_boolean(json_object_object_get(dev, "translated")) &&
                              !json_object_object_get(dev, "group"),
                      "JSON: %s translated false, group null", c->untranslated);
                CHECK_STR(json_object_get_string(json_object_object_get(dev, "translation")),
                          "not translated by an IOMMU", "JSON says so in words");
        }
        json_object_put(o);
        {
                _cleanup_free_ char *text = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&text, &size);
                char row[128];

                CHECK(f && topology_print(t, f) == 0, "the tables print");
                if (f)
                        fclose(f);
                snprintf(row, sizeof(row), "\n  %s (", c->untranslated);
                CHECK(text && strstr(text, "Group none: not translated by an IOMMU") && strstr(text, row),
                      "the tables list %s under group none, not translated by an IOMMU", c->untranslated);
        }
}

static void check_device(const Topology *t, const char *what, const char *bdf, const char *class_word,
                         const char *driver, const char *blk_or_net, GroupType type) {
        const Device *d = topology_find_device(t, bdf);
        const IommuGroup *g;

        CHECK(d != NULL, "%s %s found", what, bdf);
        if (!d)
                return;
        CHECK_STR(d->class_word, class_word, "class word");
        CHECK_STR(d->driver, driver, "driver");
        CHECK((d->block_devs && strv_contains(d->block_devs, blk_or_net)) ||
              (d->net_ifaces && strv_contains(d->net_ifaces, blk_or_net)), "%s %s carries %s", what, bdf, blk_or_net);
        CHECK(d->n_msi_irqs > 0, "%s %s has MSI vectors", what, bdf);
        CHECK(d->untrusted != TRISTATE_YES, "%s is not untrusted", what);
        g = d->group >= 0 ? topology_find_group(t, (unsigned) d->group) : NULL;
        CHECK(g && strv_length(g->devices) == 1, "%s alone in its group", what);
        CHECK(g && g->type == type, "%s group type %s", what, group_type_to_string(type));
        CHECK(g && g->n_regions >= 1, "%s group has reserved regions", what);
}

static void test_captured(const Captured *c) {
        _cleanup_(topology_freep) Topology *t = NULL;
        char root[1024];

        snprintf(root, sizeof(root), "%s/%s", fixtures_dir(), c->name);
        t = scan(root);
        if (!t)
                return;
        dump_problems(t);
        CHECK_INT(t->n_problems, 0, "captured tree has no problems");
        CHECK_STR(t->kernel.release, c->release, "kernel release");
        CHECK(t->kernel.tracepoint_iommu, "iommu tracepoints present");
        CHECK_INT(t->kernel.tracepoint_qi_submit, c->qi_submit, "intel_iommu:qi_submit tracepoint");
        CHECK_INT(t->n_units, 1, "one IOMMU unit");
        if (t->n_units < 1)
                return;
        CHECK_INT(t->units[0].vendor, c->vendor, "unit vendor");
        CHECK_U64(topology_units_of_vendor(t, c->vendor), 1, "the machine's one unit is its vendor's");
        CHECK_U64(t->units[0].pgsize_bitmap, c->pgsize_bitmap, "unit page sizes");
        if (c->caching_mode >= 0)
                CHECK(t->units[0].has_vtd_caps && t->units[0].vtd.caching_mode == c->caching_mode, "caching mode %d",
                      c->caching_mode);
        if (c->vendor == IOMMU_VENDOR_AMD_VI)
                CHECK(t->units[0].has_amd_cap && t->units[0].amd_cap == UINT32_C(0x1f03000f) &&
                              t->units[0].amd_np_cache,
                      "amd-iommu/cap 1f03000f read, NpCache (bit 26) set");
        {
                const char *why = iommu_unit_forced_strict(&t->units[0]);

                CHECK(c->forced_strict ? why && strncmp(why, c->forced_strict, strlen(c->forced_strict)) == 0 : !why,
                      "kernel forced strict: %s (is %s)", c->forced_strict ?: "no", why ?: "no");
        }
        CHECK_INT(iommu_unit_flushes_maps(&t->units[0]), c->maps_flushed, "every map flushed too");
        check_device(t, "nvme", c->nvme, "nvme", "nvme", "nvme0n1", c->type);
        check_device(t, "virtio-blk", c->virtio, "storage", "virtio-pci", "vda", c->type);
        check_device(t, "first e1000e", c->eth0, "ethernet", "e1000e", "eth0", c->type);
        check_device(t, "second e1000e", c->eth1, "ethernet", "e1000e", "eth1", c->type);
        check_untranslated(t, root, c);
}

static void test_captured_trees(void) {
        /* Read off the trees with --dump-topology and checked against the
         * kernel notes: x86 defaults to lazy, caching mode and AMD under
         * virtualization force strict, arm64 boots strict. */
        static const Captured trees[] = {
                { "qemu-vtd", IOMMU_VENDOR_INTEL_VTD, "6.1.0-56-amd64", GROUP_TYPE_DMA_FQ, 0, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  NULL, false, NULL },
                /* The two test kernels of ../shared/kernels (drivers built in)
                 * and Debian 12's 6.12 from bookworm-backports. */
                { "qemu-vtd-debugfs", IOMMU_VENDOR_INTEL_VTD, "6.1.192", GROUP_TYPE_DMA_FQ, 0, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  NULL, false, NULL },
                { "qemu-vtd-unpatched", IOMMU_VENDOR_INTEL_VTD, "6.1.192-unpatched", GROUP_TYPE_DMA_FQ, 0, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  NULL, false, NULL },
                { "qemu-vtd-6.12", IOMMU_VENDOR_INTEL_VTD, "6.12.95+deb12-amd64", GROUP_TYPE_DMA_FQ, 0, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  NULL, false, NULL },
                { "qemu-vtd-cm", IOMMU_VENDOR_INTEL_VTD, "6.1.0-56-amd64", GROUP_TYPE_DMA, 1, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  "Intel caching mode", true, NULL },
                { "qemu-amd", IOMMU_VENDOR_AMD_VI, "6.1.0-56-amd64", GROUP_TYPE_DMA, -1, true,
                  ~UINT64_C(0xfff) & ~(UINT64_C(2) << 38), "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  "0000:00:05.0", "AMD NpCache", true, "0000:00:01.0" },
                /* Debian 13's backports kernel (7.x, trixie-backports). */
                { "qemu-vtd-13bpo", IOMMU_VENDOR_INTEL_VTD, "7.3.4+deb13-amd64", GROUP_TYPE_DMA_FQ, 0, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  NULL, false, NULL },
                { "qemu-vtd-cm-13bpo", IOMMU_VENDOR_INTEL_VTD, "7.3.4+deb13-amd64", GROUP_TYPE_DMA, 1, true,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  "Intel caching mode", true, NULL },
                { "qemu-amd-13bpo", IOMMU_VENDOR_AMD_VI, "7.3.4+deb13-amd64", GROUP_TYPE_DMA, -1, true,
                  ~UINT64_C(0xfff) & ~(UINT64_C(2) << 38), "0000:00:02.0", "0000:00:03.0", "0000:00:04.0",
                  "0000:00:05.0", "AMD NpCache", true, "0000:00:01.0" },
                /* The arm64 guest's page size is 4K, as this host's is:
                 * the inferred io-pgtable-arm sizes are 4K|2M|1G. */
                { "qemu-smmuv3", IOMMU_VENDOR_ARM_SMMUV3, "6.1.0-56-arm64", GROUP_TYPE_DMA, -1, false,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0", NULL,
                  false, "0000:00:00.0" },
                /* On 7.3 the host bridge is in group 0: every device is translated. */
                { "qemu-smmuv3-13bpo", IOMMU_VENDOR_ARM_SMMUV3, "7.3.4+deb13-arm64", GROUP_TYPE_DMA, -1, false,
                  SZ_4K | SZ_2M | SZ_1G, "0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:04.0", NULL,
                  false, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(trees); i++) {
                tap_diag("captured tree %s", trees[i].name);
                test_captured(&trees[i]);
        }
}

/* The IRQ numbers of the VT-d guest, as its msi_irqs/ directories hold
 * them (virtio-blk got its vectors first). */
static void test_captured_irqs(void) {
        _cleanup_(topology_freep) Topology *t = NULL;
        char root[1024];

        snprintf(root, sizeof(root), "%s/qemu-vtd", fixtures_dir());
        t = scan(root);
        if (!t)
                return;
        check_irqs(topology_find_device(t, "0000:00:01.0"), "qemu-vtd nvme", 28, 3);
        check_irqs(topology_find_device(t, "0000:00:02.0"), "qemu-vtd virtio-blk", 25, 3);
        check_irqs(topology_find_device(t, "0000:00:03.0"), "qemu-vtd first e1000e", 31, 3);
        check_irqs(topology_find_device(t, "0000:00:04.0"), "qemu-vtd second e1000e", 34, 3);
}

int main(void) {
        test_vtd_caps();
        test_vtd_cap_bits();
        test_vtd_sllps_reserved();
        test_group_type_strings();
        test_arm_lpae_pgsizes();
        test_class_words();
        test_class_words_known();
        test_cmdline();
        test_reserved_region();
        test_pci_modalias();
        test_server();
        test_server_json();
        test_no_iommu();
        test_devices_without_iommu();
        test_missing_roots();
        test_broken_device_files();
        test_modalias_device();
        test_broken_groups();
        test_group_types_in_tree();
        test_msi_irq_order();
        test_reread_group_type();
        test_rescan_unchanged_trees();
        test_rescan_reuse();
        test_captured_trees();
        test_captured_irqs();
        if (tmp_root[0])
                nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
