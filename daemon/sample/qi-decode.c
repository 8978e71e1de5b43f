/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qi-decode.h"

#define VTD_PAGE_MASK (~UINT64_C(0xfff))

static inline unsigned bits(uint64_t v, unsigned lo, unsigned n) {
        return (unsigned) ((v >> lo) & ((UINT64_C(1) << n) - 1));
}

/* The device-TLB size encoding: with the S bit set, the lowest zero address
 * bit at or above bit 12 marks the size: bit 12 zero is 2 pages, bit 13 zero
 * (bit 12 one) 4 pages, and so on. */
static void dev_tlb_range(QiDesc *d, uint64_t qw1, bool size_bit) {
        uint64_t a = qw1 & VTD_PAGE_MASK;
        unsigned ones = 0;

        if (!size_bit) {
                d->addr = a;
                d->pages = 1;
                return;
        }
        while (ones < 52 && ((a >> (12 + ones)) & 1))
                ones++;
        if (ones >= 51) {
                /* All address bits set: the whole address space. */
                d->addr = 0;
                d->pages = UINT64_C(1) << 52;
                return;
        }
        d->pages = UINT64_C(1) << (ones + 1);
        d->addr = a & ~((d->pages << 12) - 1);
}

static uint16_t dev_tlb_pfsid(uint64_t qw0) {
        return (uint16_t) (bits(qw0, 12, 4) | (bits(qw0, 52, 12) << 4));
}

void qi_decode(uint64_t qw0, uint64_t qw1, uint64_t qw2, uint64_t qw3, QiDesc *ret) {
        QiDesc d = { .qw = { qw0, qw1, qw2, qw3 } };

        d.type_raw = bits(qw0, 0, 4);
        d.type = d.type_raw > 0 && d.type_raw < _QI_TYPE_MAX ? (QiType) d.type_raw : QI_TYPE_UNKNOWN;
        d.gran = bits(qw0, 4, 2);

        switch (d.type) {
        case QI_TYPE_CC:
                d.has_did = d.has_sid = true;
                d.did = (uint16_t) bits(qw0, 16, 16);
                d.sid = (uint16_t) bits(qw0, 32, 16);
                d.fm = bits(qw0, 48, 2);
                d.scope = d.gran == 1 ? QI_SCOPE_GLOBAL :
                          d.gran == 2 ? QI_SCOPE_DOMAIN :
                          d.gran == 3 ? QI_SCOPE_DEVICE : QI_SCOPE_RESERVED;
                /* Only a device-selective one names the device. */
                d.has_sid = d.gran == 3;
                d.has_did = d.gran >= 2;
                break;
        case QI_TYPE_IOTLB:
        case QI_TYPE_P_IOTLB:
                d.has_did = true;
                d.did = (uint16_t) bits(qw0, 16, 16);
                if (d.type == QI_TYPE_IOTLB) {
                        d.drain_write = bits(qw0, 6, 1);
                        d.drain_read = bits(qw0, 7, 1);
                        d.scope = d.gran == 1 ? QI_SCOPE_GLOBAL :
                                  d.gran == 2 ? QI_SCOPE_DOMAIN :
                                  d.gran == 3 ? QI_SCOPE_PAGE : QI_SCOPE_RESERVED;
                        d.has_did = d.gran >= 2;
                } else {
                        d.has_pasid = true;
                        d.pasid = bits(qw0, 32, 20);
                        d.scope = d.gran == 2 ? QI_SCOPE_PASID :
                                  d.gran == 3 ? QI_SCOPE_PAGE : QI_SCOPE_RESERVED;
                }
                if (d.scope == QI_SCOPE_PAGE) {
                        d.am = bits(qw1, 0, 6);
                        d.ih = bits(qw1, 6, 1);
                        d.addr = qw1 & VTD_PAGE_MASK;
                        d.pages = UINT64_C(1) << d.am;
                }
                break;
        case QI_TYPE_DEV_TLB:
                d.has_sid = true;
                d.sid = (uint16_t) bits(qw0, 32, 16);
                d.qdep = bits(qw0, 16, 5);
                d.pfsid = dev_tlb_pfsid(qw0);
                d.scope = QI_SCOPE_PAGE;
                dev_tlb_range(&d, qw1, qw1 & 1);
                break;
        case QI_TYPE_P_DEV_TLB:
                d.has_sid = d.has_pasid = true;
                d.sid = (uint16_t) bits(qw0, 16, 16);
                d.pasid = bits(qw0, 32, 20);
                d.qdep = bits(qw0, 4, 5);
                d.pfsid = dev_tlb_pfsid(qw0);
                d.scope = QI_SCOPE_PAGE;
                dev_tlb_range(&d, qw1, (qw1 >> 11) & 1);
                break;
        case QI_TYPE_IEC:
                d.gran = bits(qw0, 4, 1);
                d.scope = d.gran ? QI_SCOPE_INDEX : QI_SCOPE_GLOBAL;
                if (d.gran) {
                        d.iec_im = bits(qw0, 27, 5);
                        d.iec_index = (uint16_t) bits(qw0, 32, 16);
                }
                break;
        case QI_TYPE_PC:
                d.has_did = true;
                d.did = (uint16_t) bits(qw0, 16, 16);
                d.scope = d.gran == 0 ? QI_SCOPE_DOMAIN :
                          d.gran == 1 ? QI_SCOPE_PASID :
                          d.gran == 3 ? QI_SCOPE_GLOBAL : QI_SCOPE_RESERVED;
                d.has_pasid = d.gran == 1;
                d.pasid = d.has_pasid ? bits(qw0, 32, 20) : 0;
                d.has_did = d.gran != 3;
                break;
        case QI_TYPE_PAGE_GRP_RESP:
                d.has_sid = d.has_pasid = true;
                d.sid = (uint16_t) bits(qw0, 16, 16);
                d.pasid = bits(qw0, 32, 20);
                d.scope = QI_SCOPE_NONE;
                break;
        case QI_TYPE_WAIT:
        case QI_TYPE_UNKNOWN:
        default:
                d.scope = QI_SCOPE_NONE;
                break;
        }
        if (!d.has_did)
                d.did = 0;
        if (!d.has_sid)
                d.sid = 0;
        *ret = d;
}

bool qi_desc_is_iotlb(const QiDesc *d) {
        return d->type == QI_TYPE_IOTLB || d->type == QI_TYPE_P_IOTLB;
}

bool qi_desc_is_dev_tlb(const QiDesc *d) {
        return d->type == QI_TYPE_DEV_TLB || d->type == QI_TYPE_P_DEV_TLB;
}

bool qi_desc_is_page_selective(const QiDesc *d) {
        return qi_desc_is_iotlb(d) && d->scope == QI_SCOPE_PAGE;
}

bool qi_desc_is_domain_wide(const QiDesc *d) {
        return qi_desc_is_iotlb(d) &&
               (d->scope == QI_SCOPE_DOMAIN || d->scope == QI_SCOPE_PASID ||
                d->scope == QI_SCOPE_GLOBAL);
}

const char *qi_type_to_string(QiType t) {
        static const char *const names[_QI_TYPE_MAX] = {
                [QI_TYPE_UNKNOWN] = "unknown",
                [QI_TYPE_CC] = "cc_inv",
                [QI_TYPE_IOTLB] = "iotlb_inv",
                [QI_TYPE_DEV_TLB] = "dev_tlb_inv",
                [QI_TYPE_IEC] = "iec_inv",
                [QI_TYPE_WAIT] = "inv_wait",
                [QI_TYPE_P_IOTLB] = "p_iotlb_inv",
                [QI_TYPE_PC] = "pc_inv",
                [QI_TYPE_P_DEV_TLB] = "p_dev_tlb_inv",
                [QI_TYPE_PAGE_GRP_RESP] = "page_grp_resp",
        };

        return (unsigned) t < _QI_TYPE_MAX ? names[t] : "unknown";
}

const char *qi_scope_to_string(QiScope s) {
        static const char *const names[_QI_SCOPE_MAX] = {
                [QI_SCOPE_NONE] = "none",
                [QI_SCOPE_RESERVED] = "reserved",
                [QI_SCOPE_GLOBAL] = "global",
                [QI_SCOPE_DOMAIN] = "domain",
                [QI_SCOPE_DEVICE] = "device",
                [QI_SCOPE_PASID] = "pasid",
                [QI_SCOPE_PAGE] = "page",
                [QI_SCOPE_INDEX] = "index",
        };

        return (unsigned) s < _QI_SCOPE_MAX ? names[s] : "unknown";
}

int qi_sid_to_pci_name(uint16_t segment, uint16_t sid, char *buf, size_t size) {
        int n = snprintf(buf, size, "%04x:%02x:%02x.%x", segment, sid >> 8, (sid >> 3) & 0x1f,
                         sid & 7);

        return n < 0 || (size_t) n >= size ? -ENOBUFS : n;
}

int qi_pci_name_to_sid(const char *name, uint16_t *ret_segment, uint16_t *ret_sid) {
        unsigned seg = 0, bus, dev, fn;
        int n = -1;

        if (!name)
                return -EINVAL;
        if (sscanf(name, "%4x:%2x:%2x.%1x%n", &seg, &bus, &dev, &fn, &n) != 4 || name[n]) {
                seg = 0;
                n = -1;
                if (sscanf(name, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) != 3 || name[n])
                        return -EINVAL;
        }
        if (dev > 0x1f || fn > 7)
                return -EINVAL;
        if (ret_segment)
                *ret_segment = (uint16_t) seg;
        if (ret_sid)
                *ret_sid = (uint16_t) (bus << 8 | dev << 3 | fn);
        return 0;
}
