/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>

#include "json-util.h"
#include "table.h"
#include "topology-output.h"
#include "util.h"

void pgsize_bitmap_format(uint64_t bitmap, char *buf, size_t size) {
        static const char suffix[] = "KMGTPE";
        size_t len = 0;
        unsigned shown = 0;

        buf[0] = '\0';
        if (!bitmap) {
                snprintf(buf, size, "unknown");
                return;
        }
        /* AMD's v1 table allows nearly every power of two: say so briefly. */
        if (__builtin_popcountll(bitmap) > 8) {
                snprintf(buf, size, "4K and up (%d sizes)", __builtin_popcountll(bitmap));
                return;
        }
        for (unsigned bit = 12; bit < 64 && len < size; bit++) {
                if (!((bitmap >> bit) & 1))
                        continue;
                len += (size_t) snprintf(buf + len, size - len, "%s%" PRIu64 "%c", shown++ ? " " : "",
                                         UINT64_C(1) << (bit % 10), suffix[bit / 10 - 1]);
        }
}

const char *topology_no_iommu_message(const Topology *t) {
        if (t->n_units > 0 || t->n_groups > 0)
                return NULL;
        return "No IOMMU is active on this machine: no unit under /sys/class/iommu and no IOMMU "
               "groups. Enable VT-d or AMD-Vi in the firmware, and on Intel boot with intel_iommu=on.";
}

static json_object *json_strv(char *const *l) {
        json_object *a = json_object_new_array();

        for (; a && l && *l; l++)
                json_object_array_add(a, json_object_new_string(*l));
        return a;
}

static json_object *json_tristate(Tristate v) {
        return v == TRISTATE_ABSENT ? NULL : json_object_new_boolean(v == TRISTATE_YES);
}

static json_object *json_hex(uint64_t v) {
        char buf[32];

        snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
        return json_object_new_string(buf);
}

static json_object *unit_to_json(const IommuUnit *u) {
        json_object *o = json_object_new_object();
        char sizes[128];

        pgsize_bitmap_format(u->pgsize_bitmap, sizes, sizeof(sizes));
        json_object_object_add(o, "name", json_object_new_string(u->name));
        json_object_object_add(o, "vendor", json_object_new_string(iommu_vendor_to_string(u->vendor)));
        json_object_object_add(o, "pgsize_bitmap", json_hex(u->pgsize_bitmap));
        json_object_object_add(o, "page_sizes", json_object_new_string(sizes));
        json_object_object_add(o, "page_sizes_source", json_object_new_string(u->pgsize_source));
        if (u->has_vtd_caps) {
                json_object *v = json_object_new_object();
                const VtdCaps *c = &u->vtd;

                json_object_object_add(v, "cap", json_hex(c->cap));
                json_object_object_add(v, "ecap", json_hex(c->ecap));
                json_object_object_add(v, "caching_mode", json_object_new_boolean(c->caching_mode));
                json_object_object_add(v, "page_selective_invalidation", json_object_new_boolean(c->page_selective_inv));
                json_object_object_add(v, "max_address_mask", json_object_new_int((int) c->max_addr_mask));
                json_object_object_add(v, "superpage_levels", json_object_new_int((int) c->superpage_val));
                json_object_object_add(v, "domains_supported", json_object_new_int64(c->domains_supported));
                json_object_object_add(v, "queued_invalidation", json_object_new_boolean(c->queued_invalidation));
                json_object_object_add(v, "device_tlb", json_object_new_boolean(c->device_tlb));
                json_object_object_add(v, "pass_through", json_object_new_boolean(c->pass_through));
                json_object_object_add(v, "scalable_mode", json_object_new_boolean(c->scalable_mode));
                json_object_object_add(o, "vtd", v);
        }
        if (u->has_amd_cap) {
                json_object *v = json_object_new_object();

                json_object_object_add(v, "cap", json_hex(u->amd_cap));
                json_object_object_add(v, "np_cache", json_object_new_boolean(u->amd_np_cache));
                json_object_object_add(o, "amd", v);
        }
        json_object_object_add(o, "maps_flushed", json_object_new_boolean(iommu_unit_flushes_maps(u)));
        json_object_object_add(o, "kernel_forced_strict", json_str_or_null(iommu_unit_forced_strict(u)));
        json_object_object_add(o, "devices", json_strv(u->devices));
        return o;
}

static json_object *group_to_json(const IommuGroup *g) {
        json_object *o = json_object_new_object(), *regions = json_object_new_array();

        json_object_object_add(o, "group", json_object_new_int64(g->id));
        /* An unrecognised type is shown as the kernel wrote it, flagged.
         * The kernel's own "unknown" is known: the group has no default
         * domain. */
        json_object_object_add(o, "type", json_str_or_null(g->type_raw));
        json_object_object_add(o, "type_known", json_object_new_boolean(g->type != GROUP_TYPE_UNKNOWN));
        json_object_object_add(o, "type_meaning",
                               json_str_or_null(g->type_raw ? group_type_meaning(g->type) : NULL));
        json_object_object_add(o, "devices", json_strv(g->devices));
        for (size_t i = 0; i < g->n_regions; i++) {
                json_object *r = json_object_new_object();

                json_object_object_add(r, "start", json_hex(g->regions[i].start));
                json_object_object_add(r, "end", json_hex(g->regions[i].end));
                json_object_object_add(r, "type", json_object_new_string(g->regions[i].type));
                json_object_array_add(regions, r);
        }
        json_object_object_add(o, "reserved_regions", regions);
        return o;
}

static json_object *device_to_json(const Device *d) {
        json_object *o = json_object_new_object(), *irqs = json_object_new_array();

        json_object_object_add(o, "bdf", json_object_new_string(d->name));
        json_object_object_add(o, "pci", json_object_new_boolean(d->is_pci));
        if (d->is_pci) {
                char id[8];

                snprintf(id, sizeof(id), "%04x", d->vendor_id);
                json_object_object_add(o, "vendor", json_object_new_string(id));
                snprintf(id, sizeof(id), "%04x", d->device_id);
                json_object_object_add(o, "device", json_object_new_string(id));
                json_object_object_add(o, "class_code", json_hex(d->class_code));
        }
        json_object_object_add(o, "class", json_object_new_string(d->class_word));
        json_object_object_add(o, "driver", json_str_or_null(d->driver));
        json_object_object_add(o, "group", d->group >= 0 ? json_object_new_int(d->group) : NULL);
        json_object_object_add(o, "translated", json_object_new_boolean(d->group >= 0));
        if (d->group < 0)
                json_object_object_add(o, "translation", json_object_new_string(TOPOLOGY_UNTRANSLATED));
        json_object_object_add(o, "unit", json_str_or_null(d->unit));
        json_object_object_add(o, "untrusted", json_tristate(d->untrusted));
        json_object_object_add(o, "removable", json_tristate(d->removable));
        json_object_object_add(o, "numa_node", json_object_new_int(d->numa_node));
        json_object_object_add(o, "net", json_strv(d->net_ifaces));
        json_object_object_add(o, "block", json_strv(d->block_devs));
        for (size_t i = 0; i < d->n_msi_irqs; i++)
                json_object_array_add(irqs, json_object_new_int64(d->msi_irqs[i]));
        json_object_object_add(o, "msi_irqs", irqs);
        return o;
}

static json_object *kernel_to_json(const KernelInfo *k) {
        json_object *o = json_object_new_object(), *dma = json_object_new_object(),
                    *tp = json_object_new_object();

        json_object_object_add(o, "release", json_str_or_null(k->release));
        json_object_object_add(o, "cmdline", json_str_or_null(k->cmdline));
        json_object_object_add(dma, "iommu.strict", k->dma.iommu_strict >= 0 ? json_object_new_int(k->dma.iommu_strict) : NULL);
        json_object_object_add(dma, "iommu.passthrough",
                               k->dma.iommu_passthrough >= 0 ? json_object_new_int(k->dma.iommu_passthrough) : NULL);
        json_object_object_add(dma, "iommu=pt", json_object_new_boolean(k->dma.iommu_pt));
        json_object_object_add(dma, "intel_iommu", json_str_or_null(k->dma.intel_iommu));
        json_object_object_add(dma, "amd_iommu", json_str_or_null(k->dma.amd_iommu));
        json_object_object_add(dma, "intel_superpages_off", json_object_new_boolean(k->dma.intel_superpages_off));
        json_object_object_add(o, "dma_defaults", dma);
        json_object_object_add(o, "tracefs", json_str_or_null(k->tracefs));
        json_object_object_add(o, "debugfs", json_object_new_boolean(k->debugfs));
        json_object_object_add(o, "intel_iommu_debugfs", json_object_new_boolean(k->intel_debugfs));
        json_object_object_add(tp, "iommu", json_object_new_boolean(k->tracepoint_iommu));
        json_object_object_add(tp, "intel_iommu:qi_submit", json_object_new_boolean(k->tracepoint_qi_submit));
        json_object_object_add(o, "tracepoints", tp);
        return o;
}

json_object *topology_to_json(const Topology *t) {
        json_object *o = json_object_new_object(), *units = json_object_new_array(),
                    *groups = json_object_new_array(), *devices = json_object_new_array(),
                    *problems = json_object_new_array();
        const char *no_iommu = topology_no_iommu_message(t);

        if (!o || !units || !groups || !devices || !problems) {
                json_object_put(o);
                json_object_put(units);
                json_object_put(groups);
                json_object_put(devices);
                json_object_put(problems);
                return NULL;
        }
        json_object_object_add(o, "kernel", kernel_to_json(&t->kernel));
        json_object_object_add(o, "iommu", json_object_new_boolean(!no_iommu));
        if (no_iommu)
                json_object_object_add(o, "message", json_object_new_string(no_iommu));
        for (size_t i = 0; i < t->n_units; i++)
                json_object_array_add(units, unit_to_json(&t->units[i]));
        for (size_t i = 0; i < t->n_groups; i++)
                json_object_array_add(groups, group_to_json(&t->groups[i]));
        for (size_t i = 0; i < t->n_devices; i++)
                json_object_array_add(devices, device_to_json(&t->devices[i]));
        for (size_t i = 0; i < t->n_problems; i++) {
                json_object *p = json_object_new_object();

                json_object_object_add(p, "subject", json_object_new_string(t->problems[i].subject));
                json_object_object_add(p, "message", json_object_new_string(t->problems[i].message));
                json_object_array_add(problems, p);
        }
        json_object_object_add(o, "units", units);
        json_object_object_add(o, "groups", groups);
        json_object_object_add(o, "devices", devices);
        json_object_object_add(o, "problems", problems);
        return o;
}

static const char *tristate_word(Tristate v) {
        return v == TRISTATE_YES ? "yes" : v == TRISTATE_NO ? "no" : "-";
}

static void strv_join(char *const *l, char *buf, size_t size) {
        size_t len = 0;

        buf[0] = '\0';
        for (; l && *l && len < size; l++)
                len += (size_t) snprintf(buf + len, size - len, "%s%s", len ? "," : "", *l);
}

static int print_units(const Topology *t, FILE *f) {
        Table *tab = table_new("UNIT", "VENDOR", "PAGE SIZES", "MAPS FLUSHED", "DEVICES", NULL);
        int r = tab ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < t->n_units; i++) {
                const IommuUnit *u = &t->units[i];
                char sizes[64], n[16];

                pgsize_bitmap_format(u->pgsize_bitmap, sizes, sizeof(sizes));
                snprintf(n, sizeof(n), "%zu", strv_length(u->devices));
                r = table_add_row(tab, u->name, iommu_vendor_to_string(u->vendor), sizes,
                                  u->has_vtd_caps && u->vtd.caching_mode    ? "yes (caching mode)"
                                  : u->has_amd_cap && u->amd_np_cache       ? "yes (NpCache)"
                                  : u->has_vtd_caps || u->has_amd_cap       ? "no"
                                                                            : "-",
                                  n);
        }
        if (r >= 0)
                r = table_print(tab, f);
        table_free(tab);
        return r;
}

static int print_groups(const Topology *t, FILE *f) {
        Table *tab = table_new("GROUP", "TYPE", "DEVICES", NULL);
        int r = tab ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < t->n_groups; i++) {
                const IommuGroup *g = &t->groups[i];
                char id[16], type[80], devs[1024];

                snprintf(id, sizeof(id), "%u", g->id);
                snprintf(type, sizeof(type), "%s%s", g->type_raw ? g->type_raw : "?",
                         !g->type_raw                         ? ""
                         : g->type == GROUP_TYPE_UNKNOWN      ? " (unrecognised)"
                         : g->type == GROUP_TYPE_NO_DEFAULT   ? " (no default domain)"
                                                              : "");
                strv_join(g->devices, devs, sizeof(devs));
                r = table_add_row(tab, id, type, devs);
        }
        if (r >= 0)
                r = table_print(tab, f);
        table_free(tab);
        return r;
}

static int print_devices(const Topology *t, FILE *f) {
        Table *tab = table_new("DEVICE", "ID", "CLASS", "DRIVER", "GROUP", "UNIT", "UNTRUSTED", "REMOVABLE",
                               "NUMA", "IRQS", "NET/BLOCK", NULL);
        int r = tab ? 0 : -ENOMEM;
        size_t untranslated = 0;

        for (size_t i = 0; r >= 0 && i < t->n_devices; i++) {
                const Device *d = &t->devices[i];
                char id[16] = "-", group[16] = "none", numa[16] = "-", irqs[16], net[256], blk[256], nb[520];

                if (d->is_pci)
                        snprintf(id, sizeof(id), "%04x:%04x", d->vendor_id, d->device_id);
                if (d->group >= 0)
                        snprintf(group, sizeof(group), "%d", d->group);
                else
                        untranslated++;
                if (d->numa_node >= 0)
                        snprintf(numa, sizeof(numa), "%d", d->numa_node);
                snprintf(irqs, sizeof(irqs), "%zu", d->n_msi_irqs);
                strv_join(d->net_ifaces, net, sizeof(net));
                strv_join(d->block_devs, blk, sizeof(blk));
                snprintf(nb, sizeof(nb), "%s%s%s", net, *net && *blk ? "," : "", blk);
                r = table_add_row(tab, d->name, id, d->class_word, d->driver ? d->driver : "(none)", group,
                                  d->unit, tristate_word(d->untrusted), tristate_word(d->removable), numa, irqs,
                                  *nb ? nb : "-");
        }
        if (r >= 0)
                r = table_print(tab, f);
        table_free(tab);
        if (r >= 0 && untranslated > 0) {
                fprintf(f, "\nGroup none: %s; these devices reach memory untranslated:\n", TOPOLOGY_UNTRANSLATED);
                for (size_t i = 0; i < t->n_devices; i++)
                        if (t->devices[i].group < 0)
                                fprintf(f, "  %s (%s, %s)\n", t->devices[i].name, t->devices[i].class_word,
                                        t->devices[i].driver ? t->devices[i].driver : "no driver");
        }
        return r;
}

int topology_print(const Topology *t, FILE *f) {
        const KernelInfo *k = &t->kernel;
        const char *no_iommu = topology_no_iommu_message(t);
        int r;

        fprintf(f, "Kernel:       %s\n", k->release ? k->release : "(unknown)");
        fprintf(f, "DMA defaults: iommu.strict=%s iommu.passthrough=%s iommu=pt:%s intel_iommu=%s amd_iommu=%s\n",
                k->dma.iommu_strict < 0 ? "(default)" : k->dma.iommu_strict ? "1" : "0",
                k->dma.iommu_passthrough < 0 ? "(default)" : k->dma.iommu_passthrough ? "1" : "0",
                k->dma.iommu_pt ? "yes" : "no", k->dma.intel_iommu ? k->dma.intel_iommu : "(default)",
                k->dma.amd_iommu ? k->dma.amd_iommu : "(default)");
        fprintf(f, "Sources:      tracefs %s, debugfs %s%s, tracepoints iommu:* %s, intel_iommu:qi_submit %s\n",
                k->tracefs ? "yes" : "no", k->debugfs ? "yes" : "no",
                k->intel_debugfs ? " (with iommu/intel)" : "", k->tracepoint_iommu ? "yes" : "no",
                k->tracepoint_qi_submit ? "yes" : "no");
        if (no_iommu) {
                fprintf(f, "\n%s\n", no_iommu);
        } else {
                fputc('\n', f);
                if ((r = print_units(t, f)) < 0)
                        return r;
                fputc('\n', f);
                if ((r = print_groups(t, f)) < 0)
                        return r;
        }
        if (t->n_devices > 0) {
                fputc('\n', f);
                if ((r = print_devices(t, f)) < 0)
                        return r;
        }
        if (t->n_problems > 0) {
                fprintf(f, "\nProblems (%zu):\n", t->n_problems);
                for (size_t i = 0; i < t->n_problems; i++)
                        fprintf(f, "  %s: %s\n", t->problems[i].subject, t->problems[i].message);
        }
        return ferror(f) ? -EIO : 0;
}
