/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The topology's pure decoders and names (topology.h): no file is read
 * here. */
#include <ctype.h>
#include <stdio.h>

#include "topology.h"
#include "util.h"

/* GROUP_TYPE_UNKNOWN is not a kernel string: the kernel's own "unknown"
 * (no default domain) is GROUP_TYPE_NO_DEFAULT. */
static const char *const group_type_names[_GROUP_TYPE_MAX] = {
        [GROUP_TYPE_UNKNOWN] = "unrecognised",
        [GROUP_TYPE_BLOCKED] = "blocked",
        [GROUP_TYPE_IDENTITY] = "identity",
        [GROUP_TYPE_UNMANAGED] = "unmanaged",
        [GROUP_TYPE_DMA] = "DMA",
        [GROUP_TYPE_DMA_FQ] = "DMA-FQ",
        [GROUP_TYPE_NO_DEFAULT] = "unknown",
};

const char *group_type_to_string(GroupType t) {
        return group_type_names[t >= 0 && t < _GROUP_TYPE_MAX ? t : GROUP_TYPE_UNKNOWN];
}

const char *group_type_meaning(GroupType t) {
        static const char *const meanings[_GROUP_TYPE_MAX] = {
                [GROUP_TYPE_BLOCKED] = "all DMA blocked",
                [GROUP_TYPE_IDENTITY] = "no translation (passthrough)",
                [GROUP_TYPE_UNMANAGED] = "owned by a user such as VFIO",
                [GROUP_TYPE_DMA] = "strict translation",
                [GROUP_TYPE_DMA_FQ] = "lazy translation (flush queue)",
                [GROUP_TYPE_NO_DEFAULT] = "no default domain",
        };

        return t >= 0 && t < _GROUP_TYPE_MAX ? meanings[t] : NULL;
}

GroupType group_type_from_string(const char *s) {
        for (GroupType t = GROUP_TYPE_UNKNOWN + 1; t < _GROUP_TYPE_MAX; t++)
                if (s && streq(s, group_type_names[t]))
                        return t;
        return GROUP_TYPE_UNKNOWN;
}

const char *iommu_vendor_to_string(IommuVendor v) {
        static const char *const names[_IOMMU_VENDOR_MAX] = {
                [IOMMU_VENDOR_OTHER] = "other",
                [IOMMU_VENDOR_INTEL_VTD] = "intel-vtd",
                [IOMMU_VENDOR_AMD_VI] = "amd-vi",
                [IOMMU_VENDOR_ARM_SMMUV3] = "arm-smmuv3",
        };
        return v >= 0 && v < _IOMMU_VENDOR_MAX ? names[v] : "other";
}

const char *iommu_group_key(const IommuGroup *g) {
        return g && g->devices && g->devices[0] ? g->devices[0] : NULL;
}

size_t topology_units_of_vendor(const Topology *t, IommuVendor v) {
        size_t n = 0;

        for (size_t i = 0; t && i < t->n_units; i++)
                n += t->units[i].vendor == v;
        return n;
}

bool iommu_unit_flushes_maps(const IommuUnit *u) {
        return (u->has_vtd_caps && u->vtd.caching_mode) || (u->has_amd_cap && u->amd_np_cache);
}

const char *iommu_unit_forced_strict(const IommuUnit *u) {
        if (u->has_vtd_caps && u->vtd.caching_mode)
                return "Intel caching mode (virtualized IOMMU)";
        if (u->has_amd_cap && u->amd_np_cache)
                return "AMD NpCache (virtualized IOMMU): \"Using strict mode due to virtualization\"";
        return NULL;
}

uint64_t arm_lpae_pgsize_bitmap(uint64_t cpu_page_size) {
        switch (cpu_page_size) {
        case UINT64_C(4) << 10: return (UINT64_C(4) << 10) | (UINT64_C(2) << 20) | (UINT64_C(1) << 30);
        case UINT64_C(16) << 10: return (UINT64_C(16) << 10) | (UINT64_C(32) << 20);
        case UINT64_C(64) << 10: return (UINT64_C(64) << 10) | (UINT64_C(512) << 20);
        default: return 0;
        }
}

/* ---- pure decoders ---------------------------------------------------- */

void vtd_caps_decode(uint64_t cap, uint64_t ecap, VtdCaps *ret) {
        *ret = (VtdCaps) {
                .cap = cap,
                .ecap = ecap,
                .caching_mode = (cap >> 7) & 1,
                .page_selective_inv = (cap >> 39) & 1,
                .max_addr_mask = (unsigned) ((cap >> 48) & 0x3f),
                .superpage_val = (unsigned) ((cap >> 34) & 0xf),
                .domains_supported = 1u << (4 + 2 * (cap & 0x7)),
                .first_level_1g = (cap >> 56) & 1,
                .queued_invalidation = (ecap >> 1) & 1,
                .device_tlb = (ecap >> 2) & 1,
                .pass_through = (ecap >> 6) & 1,
                .scalable_mode = (ecap >> 43) & 1,
                .first_level = (ecap >> 47) & 1,
        };
}

bool vtd_uses_first_level(const VtdCaps *caps, bool scalable_mode_on) {
        return scalable_mode_on && caps->scalable_mode && caps->first_level;
}

uint64_t vtd_pgsize_bitmap(const VtdCaps *caps, bool superpages_off, bool scalable_mode_on) {
        unsigned level = 0;

        if (!superpages_off) {
                /* First-level tables: 2M always, 1G with FL1GP. Second
                 * level: fls(SLLPS & 0x3) is the superpage level, as in
                 * domain_update_iommu_superpage() (mask 0x3): only the 2M
                 * and 1G bits count, so reserved bits alone (SLLPS 4, 8)
                 * give 4K only. Newer kernels (iommu_superpage_capability())
                 * take fls() of all four bits, but domain_super_pgsize_bitmap()
                 * knows levels 1 and 2 only, so reserved bits alone give 4K
                 * there too. */
                if (vtd_uses_first_level(caps, scalable_mode_on))
                        level = caps->first_level_1g ? 2 : 1;
                else
                        for (unsigned v = caps->superpage_val & 0x3; v; v >>= 1)
                                level++;
        }
        return SZ_4K | (level == 1 ? SZ_2M : 0) | (level == 2 ? SZ_2M | SZ_1G : 0);
}

const char *pci_class_to_word(uint32_t class_code) {
        unsigned base = (class_code >> 16) & 0xff, sub = (class_code >> 8) & 0xff;

        switch (base) {
        case 0x01:
                switch (sub) {
                case 0x08: return "nvme";
                case 0x06: return "sata";
                case 0x07: return "sas";
                case 0x04: return "raid";
                default: return "storage";
                }
        case 0x02:
                switch (sub) {
                case 0x00: return "ethernet";
                case 0x07: return "infiniband";
                default: return "network";
                }
        case 0x03: return "gpu";
        case 0x04: return sub == 0x03 ? "audio" : "multimedia";
        case 0x05: return "memory";
        case 0x06:
                switch (sub) {
                case 0x00: return "host-bridge";
                case 0x01: return "isa-bridge";
                case 0x04: return "pci-bridge";
                default: return "bridge";
                }
        case 0x07: return "communication";
        case 0x08: return sub == 0x06 ? "iommu" : "system";
        case 0x09: return "input";
        case 0x0c:
                switch (sub) {
                case 0x03: return "usb";
                case 0x04: return "fibre-channel";
                case 0x05: return "smbus";
                case 0x06: return "infiniband";
                default: return "serial-bus";
                }
        case 0x0d: return "wireless";
        case 0x10: return "crypto";
        case 0x11: return "signal-processing";
        case 0x12: return "accelerator";
        default: return "other";
        }
}

bool pci_class_word_known(const char *word) {
        if (streq(word, "platform") || streq(word, "unknown"))
                return true;
        for (uint32_t code = 0; code <= 0xffff; code++)
                if (streq(word, pci_class_to_word(code << 8)))
                        return true;
        return false;
}

/* Reads a kernel boolean option value as kstrtobool() does. */
static int parse_kernel_bool(const char *v) {
        if (!v)
                return -1;
        switch (v[0]) {
        case '1': case 'y': case 'Y': return 1;
        case '0': case 'n': case 'N': return 0;
        case 'o': case 'O': return v[1] == 'n' || v[1] == 'N' ? 1 : v[1] == 'f' || v[1] == 'F' ? 0 : -1;
        default: return -1;
        }
}

static bool option_list_contains(const char *list, const char *word) {
        size_t n = strlen(word);

        for (const char *p = list; p && *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t) (comma - p) : strlen(p);

                if (len == n && strncmp(p, word, n) == 0)
                        return true;
                p = comma ? comma + 1 : NULL;
        }
        return false;
}

int dma_defaults_parse(const char *cmdline, DmaDefaults *ret) {
        DmaDefaults d = { .iommu_strict = -1, .iommu_passthrough = -1 };
        const char *p = cmdline;

        while (p && *p) {
                char word[512];
                size_t len;
                const char *v;

                while (isspace((unsigned char) *p))
                        p++;
                len = strcspn(p, " \t\n");
                if (len == 0)
                        break;
                if (len >= sizeof(word)) { /* no DMA option is that long */
                        p += len;
                        continue;
                }
                memcpy(word, p, len);
                word[len] = '\0';
                p += len;

                v = strchr(word, '=');
                v = v ? v + 1 : NULL;
                /* The kernel treats '-' and '_' alike in parameter names. */
                if (strncmp(word, "iommu.strict=", 13) == 0)
                        d.iommu_strict = parse_kernel_bool(v);
                else if (strncmp(word, "iommu.passthrough=", 18) == 0)
                        d.iommu_passthrough = parse_kernel_bool(v);
                else if (strncmp(word, "iommu=", 6) == 0)
                        d.iommu_pt = option_list_contains(v, "pt") ? true
                                   : option_list_contains(v, "nopt") ? false : d.iommu_pt;
                else if (strncmp(word, "intel_iommu=", 12) == 0 || strncmp(word, "intel-iommu=", 12) == 0) {
                        free(d.intel_iommu);
                        d.intel_iommu = strdup(v);
                        if (!d.intel_iommu)
                                goto oom;
                        d.intel_superpages_off = option_list_contains(v, "sp_off");
                        d.intel_scalable_mode = option_list_contains(v, "sm_on");
                } else if (strncmp(word, "amd_iommu=", 10) == 0) {
                        free(d.amd_iommu);
                        d.amd_iommu = strdup(v);
                        if (!d.amd_iommu)
                                goto oom;
                }
        }
        *ret = d;
        return 0;
oom:
        dma_defaults_done(&d);
        return -ENOMEM;
}

void dma_defaults_done(DmaDefaults *d) {
        free(d->intel_iommu);
        free(d->amd_iommu);
        d->intel_iommu = d->amd_iommu = NULL;
}

int reserved_region_parse(const char *line, ReservedRegion *ret) {
        unsigned long long start, end;
        char type[32];

        if (sscanf(line, "%llx %llx %31s", &start, &end, type) != 3 || end < start)
                return -EINVAL;
        ret->start = start;
        ret->end = end;
        ret->type = strdup(type);
        return ret->type ? 0 : -ENOMEM;
}

/* Takes "<tag><digits hex digits>" off the front of *s. */
static bool take_hex_field(const char **s, const char *tag, unsigned digits, uint32_t *ret) {
        uint32_t v = 0;
        size_t n = strlen(tag);

        if (strncmp(*s, tag, n) != 0)
                return false;
        for (unsigned i = 0; i < digits; i++) {
                char c = (*s)[n + i];

                if (!isxdigit((unsigned char) c))
                        return false;
                v = v << 4 | (uint32_t) (isdigit((unsigned char) c) ? c - '0' : (tolower((unsigned char) c) - 'a' + 10));
        }
        *s += n + digits;
        *ret = v;
        return true;
}

int pci_modalias_parse(const char *s, PciIds *ret) {
        uint32_t vendor, device, sub_vendor, sub_device, base, sub, prog_if;

        if (!take_hex_field(&s, "pci:v", 8, &vendor) || !take_hex_field(&s, "d", 8, &device) ||
            !take_hex_field(&s, "sv", 8, &sub_vendor) || !take_hex_field(&s, "sd", 8, &sub_device) ||
            !take_hex_field(&s, "bc", 2, &base) || !take_hex_field(&s, "sc", 2, &sub) ||
            !take_hex_field(&s, "i", 2, &prog_if) || *s || vendor > 0xffff || device > 0xffff)
                return -EINVAL;
        *ret = (PciIds) {
                .vendor_id = (uint16_t) vendor,
                .device_id = (uint16_t) device,
                .class_code = base << 16 | sub << 8 | prog_if,
        };
        return 0;
}
