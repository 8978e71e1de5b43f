/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The machine's IOMMU topology as the kernel shows it: IOMMU units, groups,
 * the devices in them, and the kernel's DMA defaults.
 *
 * topology_scan() reads everything from a sysfs root and a proc root (the
 * real /sys and /proc, or fixture trees in tests). A scan never fails on a
 * bad device: a missing or truncated file, a dangling link or an unknown
 * value is recorded as a problem naming the device and the file, and the
 * scan goes on. Only -ENOMEM and an unreadable root fail the whole scan.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SZ_4K (UINT64_C(1) << 12)
#define SZ_2M (UINT64_C(1) << 21)
#define SZ_1G (UINT64_C(1) << 30)

typedef enum IommuVendor {
        IOMMU_VENDOR_OTHER,
        IOMMU_VENDOR_INTEL_VTD,
        IOMMU_VENDOR_AMD_VI,
        IOMMU_VENDOR_ARM_SMMUV3,
        _IOMMU_VENDOR_MAX,
} IommuVendor;

/* The strings /sys/kernel/iommu_groups/N/type reads back (iommu.c,
 * iommu_group_show_type()): blocked, identity, unmanaged, DMA, DMA-FQ, and
 * "unknown" when the group has no default domain. */
typedef enum GroupType {
        GROUP_TYPE_UNKNOWN, /* a string this daemon does not know ("unrecognised"); kept verbatim */
        GROUP_TYPE_BLOCKED,
        GROUP_TYPE_IDENTITY,
        GROUP_TYPE_UNMANAGED,
        GROUP_TYPE_DMA,
        GROUP_TYPE_DMA_FQ,
        GROUP_TYPE_NO_DEFAULT, /* the kernel's "unknown": no default domain; never switched */
        _GROUP_TYPE_MAX,
} GroupType;

/* A yes/no attribute the kernel may not have at all. */
typedef enum Tristate {
        TRISTATE_ABSENT = -1,
        TRISTATE_NO = 0,
        TRISTATE_YES = 1,
} Tristate;

/* Decoded VT-d capability registers (intel-iommu/cap and ecap; field
 * layout from the VT-d spec as the kernel's intel/iommu.h reads it). */
typedef struct VtdCaps {
        uint64_t cap, ecap;
        bool caching_mode;           /* cap bit 7: every map needs a flush too */
        bool page_selective_inv;     /* cap bit 39 (PSI) */
        unsigned max_addr_mask;      /* cap bits 48..53 (MAMV): largest PSI is 2^MAMV pages */
        unsigned superpage_val;      /* cap bits 34..37 (SLLPS) as read: bit 0 2M, bit 1 1G,
                                      * bits 2..3 reserved (ignored for page sizes) */
        unsigned domains_supported;  /* from cap bits 0..2 (ND) */
        bool first_level_1g;         /* cap bit 56 (FL1GP) */
        bool queued_invalidation;    /* ecap bit 1 (QI) */
        bool device_tlb;             /* ecap bit 2 (DT, ATS) */
        bool pass_through;           /* ecap bit 6 (PT) */
        bool scalable_mode;          /* ecap bit 43 (SMTS) */
        bool first_level;            /* ecap bit 47 (FLTS) */
} VtdCaps;

typedef struct IommuUnit {
        char *name;                  /* dmar0, ivhd0, smmu3.0x0000000009050000 */
        IommuVendor vendor;
        bool has_vtd_caps;
        VtdCaps vtd;
        /* amd-iommu/cap: the unit's PCI capability header (amd/init.c,
         * amd_iommu_show_cap()). Bit 26 (IOMMU_CAP_NPCACHE): the IOMMU
         * caches non-present entries, as emulated ones do; the kernel then
         * forces strict mode ("Using strict mode due to virtualization")
         * and flushes after every map (domain_flush_np_cache()). */
        bool has_amd_cap;
        uint32_t amd_cap;
        bool amd_np_cache;
        /* Page sizes a DMA domain on this unit can use (bit n = 2^n bytes),
         * 0 when the kernel does not show enough to know. */
        uint64_t pgsize_bitmap;
        const char *pgsize_source;   /* how pgsize_bitmap was found, in words */
        char **devices;              /* names under <unit>/devices, sorted */
        uint64_t sysfs_ino;          /* inode of class/iommu/<name>: see topology_rescan() */
} IommuUnit;

typedef struct ReservedRegion {
        uint64_t start, end;
        char *type;                  /* direct, direct-relaxable, reserved, msi, sw-msi */
} ReservedRegion;

typedef struct IommuGroup {
        unsigned id;
        GroupType type;
        char *type_raw;              /* as read; NULL when unreadable */
        char **devices;              /* member device names, sorted */
        ReservedRegion *regions;
        size_t n_regions;
        uint64_t sysfs_ino;          /* inode of kernel/iommu_groups/<id>: see topology_rescan() */
} IommuGroup;

typedef struct Device {
        char *name;                  /* PCI address 0000:00:03.0, or a platform device name */
        bool is_pci;
        uint16_t vendor_id, device_id;
        uint32_t class_code;         /* 24-bit PCI class; 0 when unknown */
        const char *class_word;      /* nvme, ethernet, gpu, ... (static string) */
        char *driver;                /* bound driver, NULL when none */
        int group;                   /* IOMMU group id, -1 when none: DMA not translated by an IOMMU */
        char *unit;                  /* IOMMU unit name, NULL when none */
        Tristate untrusted;
        Tristate removable;          /* the kernel's removable attribute: "removable" -> yes */
        int numa_node;               /* -1 when none or unknown */
        char **net_ifaces;
        char **block_devs;
        unsigned *msi_irqs;          /* msi_irqs/ entries, sorted numerically */
        size_t n_msi_irqs;
        uint64_t sysfs_ino;          /* inode of its bus/pci/devices entry, or of its unit's
                                      * devices/ entry when not PCI; 0 when in neither */
} Device;

/* What the kernel command line says about DMA translation defaults. */
typedef struct DmaDefaults {
        int iommu_strict;            /* iommu.strict=0|1, -1 when not given */
        int iommu_passthrough;       /* iommu.passthrough=0|1, -1 when not given */
        bool iommu_pt;               /* iommu=pt */
        char *intel_iommu;           /* intel_iommu= value, NULL when not given */
        char *amd_iommu;             /* amd_iommu= value, NULL when not given */
        bool intel_superpages_off;   /* intel_iommu=sp_off */
        bool intel_scalable_mode;    /* intel_iommu=sm_on (off is Debian's default) */
} DmaDefaults;

typedef struct KernelInfo {
        char *release;               /* /proc/sys/kernel/osrelease */
        char *version;               /* /proc/version, NULL when absent */
        char *cmdline;
        DmaDefaults dma;
        char *tracefs;               /* path relative to the sysfs root, NULL if absent */
        bool debugfs;                /* sysfs root holds a mounted debugfs */
        bool intel_debugfs;          /* debugfs has iommu/intel */
        bool tracepoint_iommu;       /* events/iommu/unmap/id readable */
        bool tracepoint_qi_submit;   /* events/intel_iommu/qi_submit/id readable */
} KernelInfo;

/* One thing the scan could not read or did not understand. */
typedef struct TopologyProblem {
        char *subject;               /* "device 0000:00:03.0", "group 7", "unit dmar0", "kernel" */
        char *message;
} TopologyProblem;

typedef struct Topology {
        IommuUnit *units;
        size_t n_units;
        IommuGroup *groups;          /* sorted by id */
        size_t n_groups;
        Device *devices;             /* every device in some group or unit, and every
                                      * PCI device (group -1: not translated), sorted by name */
        size_t n_devices;
        KernelInfo kernel;
        TopologyProblem *problems;
        size_t n_problems;
} Topology;

/* Scans the topology. sysfs_root and proc_root are directories ("/sys",
 * "/proc" on a real machine). Returns 0 and a topology that the caller
 * frees with topology_free(), or -errno when a root cannot be opened or
 * memory runs out. */
int topology_scan(const char *sysfs_root, const char *proc_root, Topology **ret);
/* The same, reusing what cannot have changed since previous (the last
 * scan of the same roots; NULL: a full scan). The result is what
 * topology_scan() would return, except for a fact the kernel changed in
 * place that it shows as fixed (see below).
 *
 * Identity: sysfs (kernfs) never reuses an inode number during a boot, so
 * a unit, group or device whose listing entry has the inode it had is the
 * same kernel object; one removed and added again (hotplug, a group id
 * reused) has a new number and is read in full. Each scan lists
 * class/iommu, kernel/iommu_groups, bus/pci/devices and every unit's
 * devices/ to learn this.
 *
 * Read on every scan: each group's type, each device's driver link, for a
 * device with a driver its directory, MSI vectors, disks and network
 * interfaces (for one without, whether msi_irqs exists), tracefs and
 * debugfs mounts, and every listing above. Taken from previous when the
 * object is the same and previous reported no problem about it:
 *   - the kernel's release, version and command line (fixed while it runs);
 *   - a unit's vendor, capability registers and page sizes;
 *   - a device's vendor, device, class, NUMA node, untrusted, removable
 *     (set when the kernel adds the device; root may write numa_node as a
 *     firmware workaround, which a rescan does not see);
 *   - a group's members, when the groups and the devices (by identity) are
 *     all the previous scan's and each of its devices had an identity: a
 *     device joins or leaves a group only by being added or removed;
 *   - a group's reserved regions, when its members are the same devices
 *     (by identity): they are its devices' regions.
 * A device without a driver that was read without problems costs two
 * calls (its driver link and msi_irqs); one whose directory vanished under
 * a listing entry that did not (a fixture; the kernel removes both) then
 * looks driverless rather than dangling until the entry goes.
 * Returns as topology_scan(). */
int topology_rescan(const char *sysfs_root, const char *proc_root, const Topology *previous, Topology **ret);
Topology *topology_free(Topology *t);
static inline void topology_freep(Topology **t) {
        topology_free(*t);
}

/* Reads group t->groups[index]'s type again (someone else may have
 * written it). Returns 1 when it changed, 0 when not or unreadable (the
 * next full scan reports that), -EINVAL or -ENOMEM. */
int topology_reread_group_type(Topology *t, int sysfs_fd, size_t index);

const IommuGroup *topology_find_group(const Topology *t, unsigned id);
/* The name a group's saved state goes by: its first device, which
 * survives renumbering across boots. NULL for a group without devices. */
const char *iommu_group_key(const IommuGroup *g);
const Device *topology_find_device(const Topology *t, const char *name);

/* The kernel's spelling. GROUP_TYPE_NO_DEFAULT is "unknown", as the kernel
 * prints it; GROUP_TYPE_UNKNOWN (a string this daemon does not recognise) is
 * "unrecognised", so that the two never share a name (in metrics labels,
 * for one). */
const char *group_type_to_string(GroupType t);
GroupType group_type_from_string(const char *s); /* GROUP_TYPE_UNKNOWN if not known */
/* What the type means, in words ("lazy translation (flush queue)", "no
 * default domain", ...); NULL for GROUP_TYPE_UNKNOWN. */
const char *group_type_meaning(GroupType t);
const char *iommu_vendor_to_string(IommuVendor v);
/* How many of the machine's units are this vendor's: the one place that
 * tells a VT-d machine (> 0) or an all-AMD one (== t->n_units). */
size_t topology_units_of_vendor(const Topology *t, IommuVendor v);

/* Whether every map on the unit costs an IOTLB flush too, in any mode
 * (VT-d caching mode, AMD NpCache). */
bool iommu_unit_flushes_maps(const IommuUnit *u);
/* Why the kernel forced strict mode on the unit's domains, in words; NULL
 * when it did not (as far as the unit shows). */
const char *iommu_unit_forced_strict(const IommuUnit *u);
/* The page sizes of an io-pgtable-arm (LPAE) domain on a kernel with this
 * page size: arm_lpae_restrict_pgsizes() takes the CPU's page size as the
 * granule when the SMMU supports it: 4K|2M|1G, 16K|32M, 64K|512M. 0 for
 * any other page size. */
uint64_t arm_lpae_pgsize_bitmap(uint64_t cpu_page_size);

/* Pure decoders, exposed for tests and fuzzing. */
void vtd_caps_decode(uint64_t cap, uint64_t ecap, VtdCaps *ret);
/* The page sizes a DMA domain on a VT-d unit uses (intel/iommu.c,
 * iommu_superpage_capability() and domain_super_pgsize_bitmap()). DMA
 * domains use first-level tables only in scalable mode on a unit that has
 * them (first_level_by_default()). */
uint64_t vtd_pgsize_bitmap(const VtdCaps *caps, bool superpages_off, bool scalable_mode_on);
/* Whether DMA domains on the unit use first-level tables: scalable mode
 * asked for (intel_iommu=sm_on) on a unit that has it and first level. */
bool vtd_uses_first_level(const VtdCaps *caps, bool scalable_mode_on);
/* Maps a 24-bit PCI class code to a word: nvme, ethernet, gpu, ... */
const char *pci_class_to_word(uint32_t class_code);
/* Whether word is one pci_class_to_word() gives, or "platform" or "unknown"
 * (what a device gets without a PCI class): the words [class WORD] may use. */
bool pci_class_word_known(const char *word);
/* Parses the DMA-related options of a kernel command line. Returns 0 or
 * -ENOMEM. */
int dma_defaults_parse(const char *cmdline, DmaDefaults *ret);
void dma_defaults_done(DmaDefaults *d);
/* A PCI function's vendor, device and 24-bit class code. */
typedef struct PciIds {
        uint16_t vendor_id, device_id;
        uint32_t class_code;
} PciIds;
/* Parses a PCI device's modalias, which the kernel prints from the same
 * struct pci_dev fields as its vendor, device and class files
 * (pci-sysfs.c: "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X"). Returns 0,
 * or -EINVAL for anything else (a vendor or device above 0xffff too). */
int pci_modalias_parse(const char *s, PciIds *ret);
/* Parses one line of reserved_regions: "0x00000000fee00000 0x00000000feefffff msi". */
int reserved_region_parse(const char *line, ReservedRegion *ret);
