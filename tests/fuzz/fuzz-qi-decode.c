/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qi_submit descriptor decoder: the first 32 bytes of the input are
 * qw0..qw3 (little-endian, zero-padded when shorter); the bytes after them
 * are a PCI device name for qi_pci_name_to_sid(). Checks what the samplers
 * rely on: a page range is a power of two of pages, a device-TLB range is
 * aligned to its size, and a device name round-trips.
 */
#include "fuzz.h"
#include "qi-decode.h"
#include "util.h"

static void check_desc(const QiDesc *d) {
        char name[32];

        FUZZ_CHECK(d->type_raw == (d->qw[0] & 0xf));
        FUZZ_CHECK((unsigned) d->type < _QI_TYPE_MAX && (unsigned) d->scope < _QI_SCOPE_MAX);
        FUZZ_CHECK(qi_type_to_string(d->type) && qi_scope_to_string(d->scope));
        FUZZ_CHECK(d->has_did || d->did == 0);
        FUZZ_CHECK(d->has_sid || d->sid == 0);
        FUZZ_CHECK(d->pasid < (1u << 20));
        if (d->scope == QI_SCOPE_PAGE) {
                FUZZ_CHECK(d->pages != 0 && (d->pages & (d->pages - 1)) == 0);
                FUZZ_CHECK((d->addr & 0xfff) == 0);
        }
        if (qi_desc_is_dev_tlb(d))
                FUZZ_CHECK((d->addr & ((d->pages << 12) - 1)) == 0);
        FUZZ_CHECK(!(qi_desc_is_page_selective(d) && qi_desc_is_domain_wide(d)));
        FUZZ_CHECK(qi_sid_to_pci_name(0xffff, d->sid, name, sizeof(name)) == 12);
        FUZZ_CHECK(qi_sid_to_pci_name(0, d->sid, name, 12) == -ENOBUFS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t raw[32] = {};
        uint64_t qw[4];
        QiDesc d;

        memcpy(raw, data, size < sizeof(raw) ? size : sizeof(raw));
        for (unsigned i = 0; i < 4; i++) {
                qw[i] = 0;
                for (unsigned b = 0; b < 8; b++)
                        qw[i] |= (uint64_t) raw[i * 8 + b] << (8 * b);
        }
        qi_decode(qw[0], qw[1], qw[2], qw[3], &d);
        check_desc(&d);

        if (size > sizeof(raw)) {
                _cleanup_free_ char *name = fuzz_text(data + sizeof(raw), size - sizeof(raw));
                uint16_t seg, sid, seg2, sid2;
                char buf[16];

                if (qi_pci_name_to_sid(name, &seg, &sid) == 0) {
                        FUZZ_CHECK(qi_sid_to_pci_name(seg, sid, buf, sizeof(buf)) == 12);
                        FUZZ_CHECK(qi_pci_name_to_sid(buf, &seg2, &sid2) == 0);
                        FUZZ_CHECK(seg2 == seg && sid2 == sid);
                }
        }
        return 0;
}
