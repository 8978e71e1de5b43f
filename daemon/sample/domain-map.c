/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain-map.h"
#include "sysfs.h"
#include "util.h"

#define TRANSLATION_STRUCT "kernel/debug/iommu/intel/dmar_translation_struct"

void domain_map_done(DomainMap *m) {
        free(m->entries);
        free(m->units);
        free(m->pending);
        *m = (DomainMap) {};
}

static bool unit_name_ok(const char *unit) {
        return !isempty(unit) && strlen(unit) < DOMAIN_MAP_UNIT_MAX;
}

static DomainUnit *unit_get(DomainMap *m, const char *name, bool create) {
        for (size_t i = 0; i < m->n_units; i++)
                if (streq(m->units[i].name, name))
                        return &m->units[i];
        if (!create || !unit_name_ok(name))
                return NULL;
        if (greedy_realloc((void **) &m->units, &m->units_allocated, m->n_units + 1,
                           sizeof(DomainUnit)) < 0)
                return NULL;
        DomainUnit *u = &m->units[m->n_units++];
        *u = (DomainUnit) {};
        strcpy(u->name, name);
        return u;
}

static DomainEntry *entry_find(DomainMap *m, const char *unit, uint16_t sid, int32_t pasid,
                               bool current) {
        for (size_t i = 0; i < m->n_entries; i++) {
                DomainEntry *e = &m->entries[i];

                if (e->sid == sid && e->pasid == pasid && e->current == current && streq(e->unit, unit))
                        return e;
        }
        return NULL;
}

/* Sets (unit, sid, pasid) -> did as the current mapping. */
static int entry_upsert(DomainMap *m, const char *unit, uint16_t sid, int32_t pasid, uint16_t did,
                        DomainSource source) {
        DomainUnit *u = unit_get(m, unit, true);
        DomainEntry *e;

        if (!u)
                return -ENOMEM;
        e = entry_find(m, unit, sid, pasid, true);
        if (!e) {
                if (greedy_realloc((void **) &m->entries, &m->allocated, m->n_entries + 1,
                                   sizeof(DomainEntry)) < 0)
                        return -ENOMEM;
                e = &m->entries[m->n_entries++];
                *e = (DomainEntry) { .sid = sid, .pasid = pasid };
                strcpy(e->unit, unit);
        } else if (e->did == did && e->source == source && !e->stale)
                return 0;
        e->segment = u->segment;
        e->did = did;
        e->source = source;
        e->current = true;
        e->stale = false;
        return 1;
}

static void entry_remove(DomainMap *m, size_t i) {
        memmove(&m->entries[i], &m->entries[i + 1], (m->n_entries - i - 1) * sizeof(DomainEntry));
        m->n_entries--;
}

/* The device sid left did on unit (domain_context_clear_one()): its
 * current entry (legacy, or PASID 0 in scalable mode) becomes the detached
 * one, replacing an older detached pair. */
static int entry_detach(DomainMap *m, const char *unit, uint16_t sid, uint16_t did) {
        DomainEntry *e = entry_find(m, unit, sid, -1, false);
        DomainUnit *u;

        if (e && e->did == did && !entry_find(m, unit, sid, -1, true) &&
            !entry_find(m, unit, sid, 0, true))
                return 0;
        if (e)
                entry_remove(m, (size_t) (e - m->entries));
        e = entry_find(m, unit, sid, -1, true);
        if (!e)
                e = entry_find(m, unit, sid, 0, true);
        if (!e) {
                if (!(u = unit_get(m, unit, true)) ||
                    greedy_realloc((void **) &m->entries, &m->allocated, m->n_entries + 1,
                                   sizeof(DomainEntry)) < 0)
                        return -ENOMEM;
                e = &m->entries[m->n_entries++];
                *e = (DomainEntry) { .segment = u->segment, .sid = sid };
                strcpy(e->unit, unit);
        }
        e->pasid = -1;
        e->did = did;
        e->source = DOMAIN_SOURCE_DETACH;
        e->current = false;
        e->stale = false;
        return 1;
}

/* ---- debugfs ----------------------------------------------------------- */

static bool parse_hex(const char **p, uint64_t *ret) {
        char *end;

        if (strncmp(*p, "0x", 2) != 0 || !isxdigit((unsigned char) (*p)[2]))
                return false;
        errno = 0;
        *ret = strtoull(*p + 2, &end, 16);
        if (errno)
                return false;
        *p = end;
        return true;
}

/* "0x<a>:0x<b>[:0x<c>]" */
static bool parse_hex_tuple(const char *s, uint64_t *v, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                if (i > 0 && *s++ != ':')
                        return false;
                if (!parse_hex(&s, &v[i]))
                        return false;
        }
        return *s == '\0';
}

/* One row; returns 1 when taken, 0 when not a row. */
static int parse_row(DomainMap *m, const char *unit, char *line) {
        char *tok[5], *save = NULL;
        unsigned n = 0, seg = 0, bus, dev, fn;
        uint64_t root[2], ctx[2], pe[3];
        int consumed = -1;
        long pasid;
        char *end;

        for (char *t = strtok_r(line, " \t", &save); t && n < 5; t = strtok_r(NULL, " \t", &save))
                tok[n++] = t;
        if (n != 5)
                return 0;
        if (sscanf(tok[0], "%4x:%2x:%2x.%1x%n", &seg, &bus, &dev, &fn, &consumed) != 4 ||
            tok[0][consumed]) {
                seg = 0;
                consumed = -1;
                if (sscanf(tok[0], "%2x:%2x.%1x%n", &bus, &dev, &fn, &consumed) != 3 || tok[0][consumed])
                        return 0;
        }
        if (bus > 0xff || dev > 0x1f || fn > 7)
                return 0;
        if (!parse_hex_tuple(tok[1], root, 2) || !parse_hex_tuple(tok[2], ctx, 2) ||
            !parse_hex_tuple(tok[4], pe, 3))
                return 0;
        errno = 0;
        pasid = strtol(tok[3], &end, 10);
        if (errno || *end || pasid < -1 || pasid > 0xfffff)
                return 0;

        uint16_t sid = (uint16_t) (bus << 8 | dev << 3 | fn);
        /* Legacy: context hi 8..23. Scalable: PASID entry val[1] 0..15,
         * printed as the middle of val[2]:val[1]:val[0]. */
        uint16_t did = pasid < 0 ? (uint16_t) ((ctx[0] >> 8) & 0xffff) : (uint16_t) (pe[1] & 0xffff);
        int r = entry_upsert(m, unit, sid, (int32_t) pasid, did, DOMAIN_SOURCE_DEBUGFS);
        if (r < 0)
                return r;
        if (seg != 0) {
                DomainEntry *e = entry_find(m, unit, sid, (int32_t) pasid, true);
                if (e)
                        e->segment = (uint16_t) seg;
        }
        return 1;
}

int domain_map_parse_translation_struct(DomainMap *m, const char *text) {
        char unit[DOMAIN_MAP_UNIT_MAX] = "";
        const char *line, *nl;
        int rows = 0;

        m->malformed = 0;
        for (size_t i = 0; i < m->n_entries; i++)
                m->entries[i].stale = m->entries[i].source == DOMAIN_SOURCE_DEBUGFS;
        for (line = text; line && *line; line = nl ? nl + 1 : NULL) {
                char buf[512], name[64];
                size_t len;

                nl = strchr(line, '\n');
                len = nl ? (size_t) (nl - line) : strlen(line);
                if (len == 0)
                        continue;
                if (len >= sizeof(buf)) {
                        m->malformed++;
                        continue;
                }
                memcpy(buf, line, len);
                buf[len] = '\0';
                if (sscanf(buf, "IOMMU %63[^:]: Root Table Address:", name) == 1) {
                        if (strscpy_checked(unit, sizeof(unit), name) < 0 || !unit_get(m, unit, true)) {
                                unit[0] = '\0';
                                m->malformed++;
                        } else
                                unit_get(m, unit, false)->disabled = false;
                        continue;
                }
                if (sscanf(buf, "DMA Remapping is not enabled on %63s", name) == 1) {
                        DomainUnit *u = strlen(name) < DOMAIN_MAP_UNIT_MAX ? unit_get(m, name, true) : NULL;
                        if (u)
                                u->disabled = true;
                        unit[0] = '\0';
                        continue;
                }
                if (strncmp(buf, "B.D.F", 5) == 0)
                        continue;
                if (!unit[0]) {
                        m->malformed++;
                        continue;
                }
                int r = parse_row(m, unit, buf);
                if (r < 0)
                        return r;
                if (r == 0)
                        m->malformed++;
                rows += r;
        }
        /* Entries the earlier read had and this one has not: detached. */
        for (size_t i = m->n_entries; i > 0; i--)
                if (m->entries[i - 1].stale)
                        entry_remove(m, i - 1);
        return rows;
}

int domain_map_read_debugfs(DomainMap *m, int sysfs_fd, char **ret_reason) {
        _cleanup_free_ char *text = NULL;
        const char *why;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        r = sysfs_read_file(sysfs_fd, TRANSLATION_STRUCT, 64u << 20, &text);
        if (r >= 0)
                return domain_map_parse_translation_struct(m, text);
        if (r == -ENOENT)
                why = sysfs_exists(sysfs_fd, "kernel/debug/iommu") > 0
                              ? "the kernel has no VT-d debugfs (CONFIG_INTEL_IOMMU_DEBUGFS) or no VT-d unit"
                              : "debugfs is not mounted at /sys/kernel/debug, or has no iommu directory";
        else if (r == -EACCES || r == -EPERM)
                why = "debugfs is readable by root only";
        else
                why = strerror(-r);
        if (ret_reason && asprintf(ret_reason, "dmar_translation_struct: %s", why) < 0)
                *ret_reason = NULL;
        return r == -EPERM ? -EACCES : r;
}

/* ---- qi_submit ----------------------------------------------------------- */

static DomainPending *pending_find(DomainMap *m, const char *unit, unsigned cpu) {
        for (size_t i = 0; i < m->n_pending; i++)
                if (m->pending[i].cpu == cpu && streq(m->pending[i].unit, unit))
                        return &m->pending[i];
        return NULL;
}

static void pending_drop(DomainMap *m, DomainPending *p) {
        size_t i = (size_t) (p - m->pending);

        m->pending[i] = m->pending[--m->n_pending];
}

int domain_map_observe_qi(DomainMap *m, const char *unit, unsigned cpu, const QiDesc *d) {
        DomainPending *p;

        if (!unit_name_ok(unit))
                return 0;
        p = pending_find(m, unit, cpu);

        if (d->type == QI_TYPE_CC && d->scope == QI_SCOPE_DEVICE) {
                if (d->did == 0) {
                        /* Caching-mode attach: the did comes next. */
                        if (!p) {
                                if (greedy_realloc((void **) &m->pending, &m->pending_allocated,
                                                   m->n_pending + 1, sizeof(DomainPending)) < 0)
                                        return -ENOMEM;
                                p = &m->pending[m->n_pending++];
                                strcpy(p->unit, unit);
                                p->cpu = cpu;
                        }
                        p->sid = d->sid;
                        return 0;
                }
                if (p)
                        pending_drop(m, p);
                return entry_detach(m, unit, d->sid, d->did);
        }
        if (!p)
                return 0;
        if (d->type == QI_TYPE_IOTLB && d->scope == QI_SCOPE_DOMAIN) {
                uint16_t sid = p->sid;

                pending_drop(m, p);
                return entry_upsert(m, unit, sid, -1, d->did, DOMAIN_SOURCE_ATTACH);
        }
        /* Anything but a wait or a device-TLB flush breaks the pair. */
        if (d->type != QI_TYPE_WAIT && !qi_desc_is_dev_tlb(d))
                pending_drop(m, p);
        return 0;
}

/* ---- learned ----------------------------------------------------------- */

int domain_map_learn(DomainMap *m, const char *unit, const char *pci_name, uint16_t did) {
        uint16_t seg, sid;
        int r;

        if (!unit_name_ok(unit) || qi_pci_name_to_sid(pci_name, &seg, &sid) < 0)
                return -EINVAL;
        if (domain_map_find_device(m, pci_name))
                return 0;
        r = entry_upsert(m, unit, sid, -1, did, DOMAIN_SOURCE_LEARNED);
        if (r > 0)
                /* The device's segment, not the unit's default. */
                for (size_t i = 0; i < m->n_entries; i++)
                        if (m->entries[i].sid == sid && m->entries[i].current && streq(m->entries[i].unit, unit))
                                m->entries[i].segment = seg;
        return r;
}

int domain_map_observe_cache_tag(DomainMap *m, const char *unit, const char *pci_name, uint16_t did, bool assign) {
        uint16_t seg, sid;
        int r;

        if (!unit_name_ok(unit) || qi_pci_name_to_sid(pci_name, &seg, &sid) < 0)
                return -EINVAL;
        if (!assign)
                return entry_detach(m, unit, sid, did);
        r = entry_upsert(m, unit, sid, -1, did, DOMAIN_SOURCE_CACHE_TAG);
        for (size_t i = 0; r > 0 && i < m->n_entries; i++)
                if (m->entries[i].sid == sid && m->entries[i].current && streq(m->entries[i].unit, unit))
                        m->entries[i].segment = seg;
        return r;
}

int domain_map_forget_device(DomainMap *m, const char *pci_name) {
        uint16_t seg, sid;
        int n = 0;

        if (qi_pci_name_to_sid(pci_name, &seg, &sid) < 0)
                return 0;
        for (size_t i = m->n_entries; i-- > 0;)
                if (m->entries[i].source == DOMAIN_SOURCE_LEARNED && m->entries[i].sid == sid &&
                    m->entries[i].segment == seg) {
                        entry_remove(m, i);
                        n++;
                }
        return n;
}

/* ---- lookups ----------------------------------------------------------- */

int domain_map_set_segment(DomainMap *m, const char *unit, uint16_t segment) {
        DomainUnit *u = unit_get(m, unit, true);

        if (!u)
                return unit_name_ok(unit) ? -ENOMEM : -EINVAL;
        u->segment = segment;
        for (size_t i = 0; i < m->n_entries; i++)
                if (streq(m->entries[i].unit, unit))
                        m->entries[i].segment = segment;
        return 0;
}

const DomainEntry *domain_map_find_device(const DomainMap *m, const char *pci_name) {
        uint16_t seg, sid;

        if (qi_pci_name_to_sid(pci_name, &seg, &sid) < 0)
                return NULL;
        for (size_t i = 0; i < m->n_entries; i++) {
                const DomainEntry *e = &m->entries[i];

                if (e->current && e->sid == sid && e->segment == seg && e->pasid <= 0)
                        return e;
        }
        return NULL;
}

const DomainEntry *domain_map_find_sid(const DomainMap *m, const char *unit, uint16_t sid) {
        for (size_t i = 0; i < m->n_entries; i++) {
                const DomainEntry *e = &m->entries[i];

                if (e->current && e->sid == sid && e->pasid <= 0 && streq(e->unit, unit))
                        return e;
        }
        return NULL;
}

size_t domain_map_find_did(const DomainMap *m, const char *unit, uint16_t did, bool current_only,
                           const DomainEntry **ret, size_t max) {
        size_t n = 0;

        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < m->n_entries; i++) {
                        const DomainEntry *e = &m->entries[i];

                        if (e->did != did || !streq(e->unit, unit) || e->current != (pass == 0))
                                continue;
                        if (!e->current && current_only)
                                continue;
                        if (n < max)
                                ret[n] = e;
                        n++;
                }
        return n;
}

const char *domain_source_to_string(DomainSource s) {
        static const char *const names[_DOMAIN_SOURCE_MAX] = {
                [DOMAIN_SOURCE_DEBUGFS] = "debugfs dmar_translation_struct",
                [DOMAIN_SOURCE_ATTACH] = "qi_submit attach (cc_inv did 0 + iotlb_inv domain)",
                [DOMAIN_SOURCE_DETACH] = "qi_submit detach (cc_inv with the old did)",
                [DOMAIN_SOURCE_LEARNED] = "learned from its invalidations and its group's I/O; the journal says how",
                [DOMAIN_SOURCE_CACHE_TAG] = "intel_iommu:cache_tag_assign",
        };

        return (unsigned) s < _DOMAIN_SOURCE_MAX ? names[s] : "unknown";
}
