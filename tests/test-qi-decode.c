/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qi_submit descriptor decoding: the descriptor observed on 6.1 under QEMU,
 * and descriptors built here with the kernel's own encodings
 * (drivers/iommu/intel/iommu.h QI_* macros, dmar.c qi_flush_*()).
 */
#include <errno.h>

#include "qi-decode.h"
#include "tap.h"

/* The kernel's encoders, restated for building test descriptors. */
#define QI_IOTLB_DID(did) (((uint64_t) (did)) << 16)
#define QI_IOTLB_DR(dr) (((uint64_t) (dr)) << 7)
#define QI_IOTLB_DW(dw) (((uint64_t) (dw)) << 6)
#define DMA_TLB_GLOBAL_FLUSH (((uint64_t) 1) << 60)
#define DMA_TLB_DSI_FLUSH (((uint64_t) 2) << 60)
#define DMA_TLB_PSI_FLUSH (((uint64_t) 3) << 60)
#define QI_IOTLB_GRAN(gran) (((uint64_t) (gran)) >> (60 - 4))
#define QI_IOTLB_IH(ih) (((uint64_t) (ih)) << 6)
#define QI_IOTLB_AM(am) (((uint8_t) (am)) & 0x3f)
#define DMA_CCMD_DEVICE_INVL (((uint64_t) 3) << 61)
#define QI_CC_GRAN(gran) (((uint64_t) (gran)) >> (61 - 4))
#define QI_CC_SID(sid) (((uint64_t) (sid)) << 32)
#define QI_CC_DID(did) (((uint64_t) (did)) << 16)
#define QI_EIOTLB_PASID(p) (((uint64_t) (p)) << 32)
#define QI_EIOTLB_DID(did) (((uint64_t) (did)) << 16)
#define QI_EIOTLB_GRAN(g) (((uint64_t) (g)) << 4)
#define QI_DEV_IOTLB_SID(sid) ((uint64_t) ((sid) & 0xffff) << 32)
#define QI_DEV_IOTLB_QDEP(q) ((uint64_t) ((q) & 0x1f) << 16)
#define QI_DEV_IOTLB_PFSID(p) ((((uint64_t) (p) & 0xf) << 12) | (((uint64_t) ((p) >> 4) & 0xfff) << 52))
#define QI_DEV_EIOTLB_PASID(p) ((uint64_t) ((p) & 0xfffff) << 32)
#define QI_DEV_EIOTLB_SID(sid) ((uint64_t) ((sid) & 0xffff) << 16)
#define QI_DEV_EIOTLB_QDEP(q) ((uint64_t) ((q) & 0x1f) << 4)
#define QI_DEV_EIOTLB_SIZE (((uint64_t) 1) << 11)

static void test_observed_cc_inv(void) {
        QiDesc d;
        char name[32];

        qi_decode(0x1000040031, 0, 0, 0, &d);
        CHECK_INT(d.type, QI_TYPE_CC, "observed: cc_inv");
        CHECK_STR(qi_type_to_string(d.type), "cc_inv", "type name");
        CHECK_INT(d.scope, QI_SCOPE_DEVICE, "observed: device-selective");
        CHECK(d.has_did && d.did == 4, "observed: did 4 (got %u)", d.did);
        CHECK(d.has_sid && d.sid == 0x10, "observed: sid 0x10 (got 0x%x)", d.sid);
        CHECK_INT(qi_sid_to_pci_name(0, d.sid, name, sizeof(name)), 12, "name length");
        CHECK_STR(name, "0000:00:02.0", "observed: 00:02.0");
        CHECK(!qi_desc_is_iotlb(&d) && !qi_desc_is_dev_tlb(&d), "cc_inv is no TLB invalidation");

        /* The kernel's own encoding of the same request. */
        qi_decode(QI_CC_SID(0x10) | QI_CC_DID(4) | QI_CC_GRAN(DMA_CCMD_DEVICE_INVL) | 1, 0, 0, 0, &d);
        CHECK_U64(d.qw[0], 0x1000040031, "QI_CC_* encodes the observed value");
        /* Domain-selective: did, no device. */
        qi_decode(QI_CC_DID(9) | (2 << 4) | 1, 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_DOMAIN && d.has_did && d.did == 9 && !d.has_sid, "cc_inv domain");
        qi_decode((1 << 4) | 1, 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_GLOBAL && !d.has_did && !d.has_sid, "cc_inv global");
}

static void test_iotlb(void) {
        QiDesc d;

        /* qi_flush_iotlb(iommu, did 5, addr 0x7ffff000, size_order 0, PSI). */
        qi_decode(QI_IOTLB_DR(1) | QI_IOTLB_DW(1) | QI_IOTLB_GRAN(DMA_TLB_PSI_FLUSH) |
                  QI_IOTLB_DID(5) | 2,
                  0x7ffff000 | QI_IOTLB_AM(0), 0, 0, &d);
        CHECK_INT(d.type, QI_TYPE_IOTLB, "iotlb_inv");
        CHECK_INT(d.gran, 3, "gran field 3");
        CHECK_INT(d.scope, QI_SCOPE_PAGE, "page-selective");
        CHECK_INT(d.did, 5, "did");
        CHECK_U64(d.addr, 0x7ffff000, "address");
        CHECK_U64(d.pages, 1, "one page");
        CHECK(d.drain_read && d.drain_write, "drain bits");
        CHECK(qi_desc_is_iotlb(&d) && qi_desc_is_page_selective(&d) && !qi_desc_is_domain_wide(&d),
              "PSI classification");

        /* 2 MiB: AM 9, with the invalidation hint, did 0xffff. */
        qi_decode(QI_IOTLB_GRAN(DMA_TLB_PSI_FLUSH) | QI_IOTLB_DID(0xffff) | 2,
                  0xfffe00000ULL | QI_IOTLB_IH(1) | QI_IOTLB_AM(9), 0, 0, &d);
        CHECK(d.did == 0xffff && d.pages == 512 && d.am == 9 && d.ih, "PSI 512 pages, IH");
        CHECK_U64(d.addr, 0xfffe00000ULL, "address drops the low bits");

        qi_decode(QI_IOTLB_GRAN(DMA_TLB_DSI_FLUSH) | QI_IOTLB_DID(38) | 2, 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_DOMAIN && d.did == 38 && d.pages == 0, "domain-selective");
        CHECK(qi_desc_is_domain_wide(&d) && !qi_desc_is_page_selective(&d), "DSI classification");

        qi_decode(QI_IOTLB_GRAN(DMA_TLB_GLOBAL_FLUSH) | 2, 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_GLOBAL && !d.has_did, "global");
        CHECK(qi_desc_is_domain_wide(&d), "global is wide");

        qi_decode(QI_IOTLB_DID(3) | 2, 0x1000, 0, 0, &d);
        CHECK_INT(d.scope, QI_SCOPE_RESERVED, "gran 0 is reserved");
        CHECK(!qi_desc_is_page_selective(&d) && !qi_desc_is_domain_wide(&d), "reserved is neither");
}

static void test_piotlb(void) {
        QiDesc d;

        /* qi_flush_piotlb(did 7, pasid 0, addr 0x200000, npages 512, ih 0). */
        qi_decode(QI_EIOTLB_PASID(0) | QI_EIOTLB_DID(7) | QI_EIOTLB_GRAN(3) | 6,
                  0x200000 | 9, 0, 0, &d);
        CHECK_INT(d.type, QI_TYPE_P_IOTLB, "p_iotlb_inv");
        CHECK(d.scope == QI_SCOPE_PAGE && d.did == 7 && d.has_pasid && d.pasid == 0,
              "p_iotlb page-selective in PASID 0");
        CHECK(d.pages == 512 && d.addr == 0x200000, "p_iotlb range");
        CHECK(qi_desc_is_iotlb(&d) && qi_desc_is_page_selective(&d), "p_iotlb is IOTLB PSI");

        /* npages == -1: PASID-selective. */
        qi_decode(QI_EIOTLB_PASID(0x12345) | QI_EIOTLB_DID(8) | QI_EIOTLB_GRAN(2) | 6, 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_PASID && d.pasid == 0x12345 && d.did == 8, "p_iotlb PASID-wide");
        CHECK(qi_desc_is_domain_wide(&d), "PASID-wide counts as wide");
}

static void test_dev_tlb(void) {
        QiDesc d;

        /* qi_flush_dev_iotlb(sid 0x0300, pfsid 0x0123, qdep 8, addr 0x10000, mask 0). */
        qi_decode(QI_DEV_IOTLB_SID(0x0300) | QI_DEV_IOTLB_QDEP(8) | 3 | QI_DEV_IOTLB_PFSID(0x123),
                  0x10000, 0, 0, &d);
        CHECK_INT(d.type, QI_TYPE_DEV_TLB, "dev_tlb_inv");
        CHECK(d.has_sid && d.sid == 0x0300, "dev_tlb sid");
        CHECK_INT(d.pfsid, 0x123, "pfsid split over two fields");
        CHECK_INT(d.qdep, 8, "qdep");
        CHECK(d.pages == 1 && d.addr == 0x10000, "no S bit: one page");
        CHECK(qi_desc_is_dev_tlb(&d) && !qi_desc_is_iotlb(&d), "dev_tlb classification");

        /* mask 4 (16 pages): addr |= (1 << (12 + 4 - 1)) - 1, S bit. */
        qi_decode(QI_DEV_IOTLB_SID(0x0300) | 3, ((0x40000 | ((1ULL << 15) - 1)) & ~0xfffULL) | 1, 0, 0, &d);
        CHECK(d.pages == 16 && d.addr == 0x40000, "S bit: 16 pages at 0x40000 (got %llu at 0x%llx)",
              (unsigned long long) d.pages, (unsigned long long) d.addr);
        /* mask 1: bit 12 zero. */
        qi_decode(3, 0x2000 | 1, 0, 0, &d);
        CHECK(d.pages == 2 && d.addr == 0x2000, "S bit, bit 12 clear: 2 pages");
        /* Everything. */
        qi_decode(3, ((~0ULL >> 1) & ~0xfffULL) | 1, 0, 0, &d);
        CHECK(d.pages == (1ULL << 52) && d.addr == 0, "all ones: whole space");

        /* p_dev_tlb_inv: sid at 16, S bit 11. */
        qi_decode(QI_DEV_EIOTLB_PASID(5) | QI_DEV_EIOTLB_SID(0x1a8) | QI_DEV_EIOTLB_QDEP(4) | 8,
                  0x80000 | 0x7000 | QI_DEV_EIOTLB_SIZE, 0, 0, &d);
        CHECK_INT(d.type, QI_TYPE_P_DEV_TLB, "p_dev_tlb_inv");
        CHECK(d.sid == 0x1a8 && d.pasid == 5 && d.qdep == 4, "p_dev_tlb fields");
        CHECK(d.pages == 16 && d.addr == 0x80000, "p_dev_tlb range");
        CHECK(qi_desc_is_dev_tlb(&d), "p_dev_tlb classification");
}

static void test_other_types(void) {
        QiDesc d;

        qi_decode(0x4 | (1 << 4) | (3ULL << 27) | (0x40ULL << 32), 0, 0, 0, &d);
        CHECK(d.type == QI_TYPE_IEC && d.scope == QI_SCOPE_INDEX && d.iec_index == 0x40 &&
                      d.iec_im == 3,
              "iec_inv selective");
        qi_decode(0x4, 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_GLOBAL, "iec_inv global");

        qi_decode(0x5 | (1 << 5) | (1ULL << 32), 0x12345000, 0, 0, &d);
        CHECK(d.type == QI_TYPE_WAIT && d.scope == QI_SCOPE_NONE && !d.has_did, "inv_wait");
        CHECK_STR(qi_type_to_string(d.type), "inv_wait", "inv_wait name");

        qi_decode(0x7 | (1 << 4) | (4ULL << 16) | (9ULL << 32), 0, 0, 0, &d);
        CHECK(d.type == QI_TYPE_PC && d.scope == QI_SCOPE_PASID && d.did == 4 && d.pasid == 9,
              "pc_inv PASID-selective");
        qi_decode(0x7 | (3 << 4), 0, 0, 0, &d);
        CHECK(d.scope == QI_SCOPE_GLOBAL && !d.has_did, "pc_inv global");

        qi_decode(0x9 | (0x0310ULL << 16) | (2ULL << 32), 0, 0, 0, &d);
        CHECK(d.type == QI_TYPE_PAGE_GRP_RESP && d.sid == 0x310 && d.pasid == 2, "page_grp_resp");

        qi_decode(0xf, 0, 0, 0, &d);
        CHECK(d.type == QI_TYPE_UNKNOWN && d.type_raw == 0xf, "unknown type kept raw");
        CHECK_STR(qi_type_to_string(d.type), "unknown", "unknown name");
        qi_decode(0x0, 0, 0, 0, &d);
        CHECK(d.type == QI_TYPE_UNKNOWN && d.scope == QI_SCOPE_NONE, "type 0");
        CHECK_STR(qi_scope_to_string(QI_SCOPE_PAGE), "page", "scope name");
        CHECK_STR(qi_scope_to_string((QiScope) 99), "unknown", "bad scope name");
}

static void test_pci_names(void) {
        uint16_t seg = 9, sid = 9;
        char buf[16];

        CHECK(qi_pci_name_to_sid("0000:00:02.0", &seg, &sid) == 0 && seg == 0 && sid == 0x10,
              "0000:00:02.0");
        CHECK(qi_pci_name_to_sid("0001:18:1f.7", &seg, &sid) == 0 && seg == 1 && sid == 0x18ff,
              "0001:18:1f.7");
        CHECK(qi_pci_name_to_sid("00:03.0", &seg, &sid) == 0 && seg == 0 && sid == 0x18, "00:03.0");
        CHECK_INT(qi_pci_name_to_sid("00:20.0", NULL, NULL), -EINVAL, "device 0x20");
        CHECK_INT(qi_pci_name_to_sid("00:02.0x", NULL, NULL), -EINVAL, "trailing text");
        CHECK_INT(qi_pci_name_to_sid("virtio0", NULL, NULL), -EINVAL, "not PCI");
        CHECK_INT(qi_sid_to_pci_name(0x1234, 0xffff, buf, sizeof(buf)), 12, "largest");
        CHECK_STR(buf, "1234:ff:1f.7", "largest name");
        CHECK_INT(qi_sid_to_pci_name(0, 0, buf, 8), -ENOBUFS, "small buffer");
}

int main(void) {
        test_observed_cc_inv();
        test_iotlb();
        test_piotlb();
        test_dev_tlb();
        test_other_types();
        test_pci_names();
        return tap_done();
}
