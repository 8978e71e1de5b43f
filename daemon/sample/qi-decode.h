/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Decodes VT-d queued-invalidation descriptors as the intel_iommu:qi_submit
 * tracepoint records them (qw0..qw3; drivers/iommu/intel/trace.h).
 *
 * Field positions are the kernel's encoders (drivers/iommu/intel/iommu.h,
 * QI_* macros, identical from v5.15 to v6.1 and later; dmar.c qi_flush_*()):
 *
 *   all        type = qw0 bits 0..3 (the tracepoint's __print_symbolic)
 *   cc_inv     gran qw0 4..5 (1 global, 2 domain, 3 device), did 16..31,
 *              sid 32..47 (bus << 8 | devfn), function mask 48..49
 *   iotlb_inv  gran qw0 4..5 (1 global, 2 domain, 3 page), drain write 6,
 *              drain read 7, did 16..31; qw1: address 12..63, IH 6,
 *              address mask (AM) 0..5: 2^AM pages
 *   dev_tlb    qw0: pfsid 12..15 + 52..63, qdep 16..20, sid 32..47;
 *              qw1: address, S bit 0: the lowest zero address bit from bit
 *              12 up gives the size (VT-d spec 6.5.2.5)
 *   iec_inv    qw0: bit 4 index-selective (0 global), IM 27..31, index 32..47
 *   p_iotlb    qw0: gran 4..5 (2 all non-global in PASID, 3 page-selective
 *              in PASID; 0 and 1 reserved), did 16..31, PASID 32..51;
 *              qw1 as iotlb_inv (QI_EIOTLB_ADDR/IH/AM)
 *   pc_inv     qw0: gran 4..5 (0 all PASIDs of the domain, 1 one PASID,
 *              3 global), did 16..31, PASID 32..51
 *   p_dev_tlb  qw0: qdep 4..8, pfsid 12..15 + 52..63, sid 16..31, PASID
 *              32..51; qw1: address, S bit 11, global bit 0
 *   page_grp_resp  qw0: requester id 16..31, PASID 32..51
 *
 * Checked example (observed on 6.1 under QEMU): cc_inv qw0 0x1000040031 is
 * a device-selective context-cache invalidation of did 4 for sid 0x0010,
 * which is 00:02.0.
 *
 * Pure: no I/O, no allocation, no global state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum QiType {
        QI_TYPE_UNKNOWN = 0,
        QI_TYPE_CC = 1,            /* cc_inv: context cache */
        QI_TYPE_IOTLB = 2,         /* iotlb_inv */
        QI_TYPE_DEV_TLB = 3,       /* dev_tlb_inv: ATS device TLB */
        QI_TYPE_IEC = 4,           /* iec_inv: interrupt entry cache */
        QI_TYPE_WAIT = 5,          /* inv_wait */
        QI_TYPE_P_IOTLB = 6,       /* p_iotlb_inv: PASID-based IOTLB (scalable mode) */
        QI_TYPE_PC = 7,            /* pc_inv: PASID cache */
        QI_TYPE_P_DEV_TLB = 8,     /* p_dev_tlb_inv */
        QI_TYPE_PAGE_GRP_RESP = 9, /* page_grp_resp */
        _QI_TYPE_MAX,
} QiType;

/* What a descriptor invalidates, whatever its type's own encoding. */
typedef enum QiScope {
        QI_SCOPE_NONE,       /* not an invalidation (wait, page group response) */
        QI_SCOPE_RESERVED,   /* a granularity the spec reserves */
        QI_SCOPE_GLOBAL,     /* everything on the unit */
        QI_SCOPE_DOMAIN,     /* everything tagged with did */
        QI_SCOPE_DEVICE,     /* one source id (cc_inv device-selective) */
        QI_SCOPE_PASID,      /* one PASID within did (non-global entries) */
        QI_SCOPE_PAGE,       /* a naturally aligned range: addr, pages */
        QI_SCOPE_INDEX,      /* interrupt entries from index */
        _QI_SCOPE_MAX,
} QiScope;

typedef struct QiDesc {
        uint64_t qw[4];
        QiType type;
        unsigned type_raw;     /* qw0 & 0xf, also when unknown */
        QiScope scope;
        unsigned gran;         /* the granularity field as encoded */
        bool has_did;
        uint16_t did;
        bool has_sid;
        uint16_t sid;          /* bus << 8 | devfn (requester id for page_grp_resp) */
        bool has_pasid;
        uint32_t pasid;
        /* The range for QI_SCOPE_PAGE (and device-TLB descriptors): the
         * first byte and the number of 4 KiB pages, a power of two. */
        uint64_t addr;
        uint64_t pages;
        unsigned am;           /* address mask field (IOTLB types) */
        bool ih;               /* invalidation hint: leaf entries only */
        bool drain_read, drain_write;
        uint16_t pfsid;        /* device-TLB: the physical function's sid */
        unsigned qdep;         /* device-TLB: invalidation queue depth */
        unsigned fm;           /* cc_inv function mask */
        uint16_t iec_index;
        unsigned iec_im;       /* iec_inv index mask: 2^IM entries */
} QiDesc;

void qi_decode(uint64_t qw0, uint64_t qw1, uint64_t qw2, uint64_t qw3, QiDesc *ret);

/* An IOTLB invalidation: iotlb_inv or p_iotlb_inv. */
bool qi_desc_is_iotlb(const QiDesc *d);
/* A device-TLB (ATS) invalidation: dev_tlb_inv or p_dev_tlb_inv. */
bool qi_desc_is_dev_tlb(const QiDesc *d);
/* An IOTLB invalidation of a page range (as opposed to a domain, PASID or
 * global one). */
bool qi_desc_is_page_selective(const QiDesc *d);
/* An IOTLB invalidation of a whole domain, PASID or unit. */
bool qi_desc_is_domain_wide(const QiDesc *d);

/* "cc_inv", "iotlb_inv", ... as the tracepoint prints them; "unknown". */
const char *qi_type_to_string(QiType t);
const char *qi_scope_to_string(QiScope s);

/* Formats a source id on a PCI segment as a device name, "0000:00:02.0".
 * Returns the length or -ENOBUFS. */
int qi_sid_to_pci_name(uint16_t segment, uint16_t sid, char *buf, size_t size);
/* Parses "0000:00:02.0" (or "00:02.0", segment 0) into segment and sid.
 * Returns 0 or -EINVAL. */
int qi_pci_name_to_sid(const char *name, uint16_t *ret_segment, uint16_t *ret_sid);
