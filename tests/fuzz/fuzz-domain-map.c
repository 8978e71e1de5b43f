/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain map: the input is a debugfs dmar_translation_struct text,
 * then optionally a NUL byte and qi_submit descriptors, 33 bytes each (the
 * submitting CPU's low bit and the unit, then qw0..qw3 little-endian) that
 * the map learns from after the read. The text is read twice, as the
 * daemon reads it every tick: the second read must find the same.
 */
#include "domain-map.h"
#include "fuzz.h"
#include "util.h"

static void check_lookups(const DomainMap *m) {
        const DomainEntry *found[4];

        for (size_t i = 0; i < m->n_entries; i++) {
                const DomainEntry *e = &m->entries[i];
                char name[16];

                FUZZ_CHECK(memchr(e->unit, 0, sizeof(e->unit)) && e->unit[0]);
                FUZZ_CHECK(qi_sid_to_pci_name(e->segment, e->sid, name, sizeof(name)) > 0);
                (void) domain_map_find_device(m, name);
                FUZZ_CHECK(domain_map_find_did(m, e->unit, e->did, false, found, ELEMENTSOF(found)) >= 1);
        }
}

static uint64_t get_le(const uint8_t *p) {
        uint64_t v = 0;

        for (size_t i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t text_size = nul ? (size_t) (nul - data) : size;
        _cleanup_free_ char *text = fuzz_text(data, text_size);
        _cleanup_(domain_map_done) DomainMap m = {};
        int rows, again;
        size_t n_entries;

        rows = domain_map_parse_translation_struct(&m, text);
        FUZZ_CHECK(rows >= 0);
        n_entries = m.n_entries;
        check_lookups(&m);
        again = domain_map_parse_translation_struct(&m, text);
        FUZZ_CHECK(again == rows && m.n_entries == n_entries);
        FUZZ_CHECK(domain_map_set_segment(&m, "dmar0", 1) == 0);
        check_lookups(&m);

        if (!nul)
                return 0;
        for (const uint8_t *p = nul + 1; p + 33 <= data + size; p += 33) {
                static const char *const units[] = { "dmar0", "dmar1" };
                QiDesc d;

                qi_decode(get_le(p + 1), get_le(p + 9), get_le(p + 17), get_le(p + 25), &d);
                FUZZ_CHECK(domain_map_observe_qi(&m, units[(p[0] >> 1) & 1], p[0] & 1, &d) >= 0);
        }
        check_lookups(&m);
        return 0;
}
