/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Which device a VT-d domain id belongs to. Domain ids (did) are per IOMMU
 * unit: the qi_submit tracepoint names the unit and the did an IOTLB
 * invalidation is for, and this map turns that into devices (and so IOMMU
 * groups, through the topology).
 *
 * Two sources:
 *
 * (a) debugfs iommu/intel/dmar_translation_struct (CONFIG_INTEL_IOMMU_DEBUGFS;
 *     drivers/iommu/intel/debugfs.c, root_tbl_walk() and print_tbl_walk(),
 *     v5.5 to v6.1). Per unit:
 *         IOMMU dmar1: Root Table Address: 0x10a4cc000
 *         B.D.F	Root_entry	...	Context_entry	...	PASID	PASID_table_entry
 *         00:03.0	0x<root hi>:0x<root lo>	0x<ctx hi>:0x<ctx lo>	-1    	0x<v2>:0x<v1>:0x<v0>
 *     or "DMA Remapping is not enabled on dmarN". In legacy mode the PASID
 *     column is -1 and the did is context hi bits 8..23 (context_domain_id();
 *     "...0501:..." is did 5). In scalable mode there is one row per present
 *     PASID entry and the did is PASID entry val[1] bits 0..15 (the middle
 *     value; pasid_get_domain_id()); PASID 0 (PASID_RID2PASID) is the
 *     device's DMA domain. Rows name bus:dev.fn only; the unit's PCI segment
 *     comes from the topology (domain_map_set_segment(), default 0).
 *     A read replaces everything an earlier read found.
 *
 * (b) qi_submit descriptors (legacy mode, the 6.1 driver, intel/iommu.c):
 *     - domain_context_mapping_one() attaching a device to domain D on a
 *       unit with caching mode (emulated IOMMUs) submits cc_inv
 *       device-selective with did 0 for the device, then iotlb_inv
 *       domain-selective for D, on the same CPU: that pair maps the device
 *       to D. Without caching mode an attach submits nothing.
 *     - domain_context_clear_one() (detach, and so every domain change)
 *       submits cc_inv device-selective with the device's old did, then an
 *       iotlb_inv for it: the device has left that did. The observed
 *       "cc_inv 0x1000040031" (did 4, 00:02.0) is this. The pair is kept as a
 *       detached entry, so invalidations of that did that were counted
 *       before the detach can still be attributed.
 *     Scalable-mode descriptors (pc_inv, p_iotlb_inv) carry no source id
 *     and teach nothing.
 *
 * A DomainMap is plain data; nothing here reads a file except
 * domain_map_read_debugfs().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qi-decode.h"

#define DOMAIN_MAP_UNIT_MAX 16     /* "dmar" + a number; the kernel's name[13] */

typedef enum DomainSource {
        DOMAIN_SOURCE_DEBUGFS,     /* read from dmar_translation_struct */
        DOMAIN_SOURCE_ATTACH,      /* cc_inv did 0 + iotlb_inv DSI (caching mode) */
        DOMAIN_SOURCE_DETACH,      /* cc_inv with the old did: no longer current */
        DOMAIN_SOURCE_LEARNED,     /* invalidated while its group alone did I/O (domain_map_learn()) */
        DOMAIN_SOURCE_CACHE_TAG,   /* intel_iommu:cache_tag_assign (6.10+) */
        _DOMAIN_SOURCE_MAX,
} DomainSource;

typedef struct DomainEntry {
        char unit[DOMAIN_MAP_UNIT_MAX];
        uint16_t segment;
        uint16_t sid;              /* bus << 8 | devfn */
        int32_t pasid;             /* -1 in legacy mode */
        uint16_t did;
        DomainSource source;
        bool current;              /* false once the device left this did */
        bool stale;                /* internal: not seen by the debugfs read in progress */
} DomainEntry;

typedef struct DomainPending {
        char unit[DOMAIN_MAP_UNIT_MAX];
        unsigned cpu;
        uint16_t sid;
} DomainPending;

typedef struct DomainUnit {
        char name[DOMAIN_MAP_UNIT_MAX];
        uint16_t segment;
        bool disabled;             /* "DMA Remapping is not enabled on ..." */
} DomainUnit;

typedef struct DomainMap {
        DomainEntry *entries;
        size_t n_entries, allocated;
        DomainUnit *units;
        size_t n_units, units_allocated;
        DomainPending *pending;    /* attaches waiting for their iotlb_inv, per unit and CPU */
        size_t n_pending, pending_allocated;
        unsigned malformed;        /* debugfs lines not understood, last read */
} DomainMap;

/* Start from a zeroed DomainMap. */
void domain_map_done(DomainMap *m);

/* Parses dmar_translation_struct text. Returns the number of rows taken, or
 * -ENOMEM. Lines it does not understand are counted in m->malformed. */
int domain_map_parse_translation_struct(DomainMap *m, const char *text);
/* Reads kernel/debug/iommu/intel/dmar_translation_struct under the sysfs
 * root. -ENOENT with a reason when debugfs is not mounted or the kernel has
 * no CONFIG_INTEL_IOMMU_DEBUGFS, -EACCES when not root. */
int domain_map_read_debugfs(DomainMap *m, int sysfs_fd, char **ret_reason);

/* Learns from one descriptor submitted on unit from cpu (in the order each
 * CPU submitted them). Returns 1 when the map changed, 0 when not, -ENOMEM. */
int domain_map_observe_qi(DomainMap *m, const char *unit, unsigned cpu, const QiDesc *d);

/* (c) learned: the caller saw did invalidated on unit while the group of
 * pci_name alone did I/O (group-attribution.h, DomainLearner). Kept until
 * the device is attached again: the detach descriptor (b) ends it, as does
 * domain_map_forget_device() for a re-attach the map cannot see (a switch
 * with rebind, a hotplug). Returns 1 when added, 0 when the device already
 * has a current entry (which wins), -EINVAL for a bad name, -ENOMEM. */
int domain_map_learn(DomainMap *m, const char *unit, const char *pci_name, uint16_t did);
/* (d) intel_iommu:cache_tag_assign / _unassign (v6.10+, intel/trace.h):
 * "dmar0/0000:00:03.0 type iotlb did 4 pasid 0": on assign the device's
 * DMA domain is did (type iotlb, pasid 0 only); on unassign it left it.
 * Returns 1 when the map changed, 0 when not, -EINVAL, -ENOMEM. */
int domain_map_observe_cache_tag(DomainMap *m, const char *unit, const char *pci_name, uint16_t did, bool assign);
/* Drops the device's learned entries. Returns how many went. */
int domain_map_forget_device(DomainMap *m, const char *pci_name);

/* Sets the PCI segment of a unit's devices (all devices of one DMAR unit
 * are on one segment). Returns 0 or -ENOMEM. */
int domain_map_set_segment(DomainMap *m, const char *unit, uint16_t segment);

/* The current DMA domain of a device, by PCI name ("0000:00:03.0"): the
 * legacy entry or PASID 0. NULL when not known. */
const DomainEntry *domain_map_find_device(const DomainMap *m, const char *pci_name);
/* The current DMA domain of the device with source id sid (bus << 8 |
 * devfn) on unit, as a device-TLB invalidation names it. NULL when not
 * known. */
const DomainEntry *domain_map_find_sid(const DomainMap *m, const char *unit, uint16_t sid);
/* Entries for (unit, did): writes up to max to ret (current ones first) and
 * returns how many there are. With current_only, detached ones are skipped. */
size_t domain_map_find_did(const DomainMap *m, const char *unit, uint16_t did, bool current_only,
                           const DomainEntry **ret, size_t max);

const char *domain_source_to_string(DomainSource s);
