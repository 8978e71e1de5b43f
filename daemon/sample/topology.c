/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "sysfs.h"
#include "topology.h"
#include "util.h"

/* How a device was found: in a group's, a unit's or the PCI bus's
 * devices/ listing, the directory that listing is in, and its inode. */
typedef struct DeviceRef {
        const char *name;
        int dirfd;                   /* Scan's groups_fd, units_fd or pci_fd */
        const char *dir_path;        /* that directory, for problem messages */
        char *rel;                   /* the link, relative to dirfd */
        uint64_t ino;                /* 0 for a group listing (not the identity) */
        size_t order;
} DeviceRef;

/* State of one scan: the open roots and directories, the topology being
 * filled and the previous one whose unchanged facts it may reuse. */
typedef struct Scan {
        int sys_fd, proc_fd;
        int units_fd, groups_fd, pci_fd; /* class/iommu, kernel/iommu_groups, bus/pci/devices */
        const Topology *prev;
        Topology *t;
        size_t units_alloc, groups_alloc, problems_alloc;
        char **pci;                  /* bus/pci/devices */
        uint64_t *pci_inos;
        uint64_t **unit_dev_inos;    /* per unit, parallel to its devices */
        size_t n_unit_dev_inos;
        DeviceRef *ids;              /* one per device found in a unit or on the bus, by name */
        size_t n_ids;
        bool members_unchanged;      /* the groups and devices are the previous scan's */
} Scan;

static int problem_add(Scan *s, const char *subject, const char *fmt, ...) _printf_(3, 4);
static int problem_add(Scan *s, const char *subject, const char *fmt, ...) {
        Topology *t = s->t;
        TopologyProblem *p;
        va_list ap;
        int r;

        if (greedy_realloc((void **) &t->problems, &s->problems_alloc, t->n_problems + 1,
                           sizeof(*t->problems)) < 0)
                return -ENOMEM;
        p = &t->problems[t->n_problems];
        p->subject = strdup(subject);
        va_start(ap, fmt);
        r = vasprintf(&p->message, fmt, ap);
        va_end(ap);
        if (!p->subject || r < 0) {
                free(p->subject);
                *p = (TopologyProblem) {};
                return -ENOMEM;
        }
        t->n_problems++;
        return 0;
}

/* Records why an attribute could not be read; -ENOMEM is the only failure
 * that propagates. */
static int problem_attr(Scan *s, const char *subject, const char *attr, int err) {
        if (err == -ENOMEM)
                return err;
        if (err == -ENODATA)
                return problem_add(s, subject, "%s is empty (truncated?)", attr);
        if (err == -EINVAL || err == -ERANGE)
                return problem_add(s, subject, "%s holds an unexpected value", attr);
        return problem_add(s, subject, "cannot read %s: %s", attr, strerror(-err));
}

/* Whether the previous scan reported a problem about subject: its facts
 * are then read again, so that the problem is reported again. */
static bool prev_has_problem(const Scan *s, const char *subject) {
        for (size_t i = 0; s->prev && i < s->prev->n_problems; i++)
                if (streq(s->prev->problems[i].subject, subject))
                        return true;
        return false;
}

static bool strv_equal(char *const *a, char *const *b) {
        for (; a && b && *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) && (!b || !*b);
}

static int strv_copy(char *const *l, char ***ret) {
        size_t n = strv_length(l);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(l[i]))) {
                        strv_free(c);
                        return -ENOMEM;
                }
        *ret = c;
        return 0;
}

/* ---- kernel ----------------------------------------------------------- */

static int scan_kernel(Scan *s) {
        KernelInfo *k = &s->t->kernel;
        _cleanup_strv_free_ char **debug_entries = NULL;
        char buf[256];
        char *cmdline = NULL;
        int r;

        /* The release, the version and the command line cannot change
         * while the kernel runs: a rescan takes them from the last scan. */
        if (s->prev && s->prev->kernel.release && s->prev->kernel.cmdline) {
                const KernelInfo *p = &s->prev->kernel;

                if (!(k->release = strdup(p->release)) || !(k->cmdline = strdup(p->cmdline)) ||
                    (p->version && !(k->version = strdup(p->version))))
                        return -ENOMEM;
                r = dma_defaults_parse(k->cmdline, &k->dma);
                if (r < 0)
                        return r;
                goto mounts;
        }

        r = sysfs_read_attr(s->proc_fd, "sys/kernel/osrelease", buf, sizeof(buf));
        if (r >= 0) {
                if (!(k->release = strdup(buf)))
                        return -ENOMEM;
        } else if (problem_attr(s, "kernel", "proc/sys/kernel/osrelease", r) < 0)
                return -ENOMEM;

        /* /proc/version names the upstream version a distribution's
         * release string may hide; it is optional. */
        if (sysfs_read_attr(s->proc_fd, "version", buf, sizeof(buf)) >= 0 && !(k->version = strdup(buf)))
                return -ENOMEM;

        r = sysfs_read_file(s->proc_fd, "cmdline", 64 * 1024, &cmdline);
        if (r >= 0) {
                k->cmdline = cmdline;
                while (r > 0 && isspace((unsigned char) cmdline[r - 1]))
                        cmdline[--r] = '\0';
        } else if (problem_attr(s, "kernel", "proc/cmdline", r) < 0)
                return -ENOMEM;
        r = dma_defaults_parse(k->cmdline, &k->dma);
        if (r < 0)
                return r;

mounts:
        /* tracefs is mounted at kernel/tracing since 4.1, and shows up
         * inside debugfs at kernel/debug/tracing too. */
        if (sysfs_exists(s->sys_fd, "kernel/tracing/events"))
                k->tracefs = strdup("kernel/tracing");
        else if (sysfs_exists(s->sys_fd, "kernel/debug/tracing/events"))
                k->tracefs = strdup("kernel/debug/tracing");
        if (k->tracefs) {
                char path[128];

                snprintf(path, sizeof(path), "%s/events/iommu/unmap/id", k->tracefs);
                k->tracepoint_iommu = sysfs_read_attr(s->sys_fd, path, buf, sizeof(buf)) > 0;
                snprintf(path, sizeof(path), "%s/events/intel_iommu/qi_submit/id", k->tracefs);
                k->tracepoint_qi_submit = sysfs_read_attr(s->sys_fd, path, buf, sizeof(buf)) > 0;
        }
        /* An unmounted debugfs is an empty directory. */
        r = sysfs_list_dir(s->sys_fd, "kernel/debug", &debug_entries);
        k->debugfs = r > 0;
        k->intel_debugfs = k->debugfs && sysfs_exists(s->sys_fd, "kernel/debug/iommu/intel");
        return 0;
}

/* ---- units ------------------------------------------------------------ */

/* The previous scan's unit of that name, when it is the same kernel object
 * (same inode) and was read without problems. */
static const IommuUnit *prev_unit(const Scan *s, const char *name, uint64_t ino, const char *subject) {
        for (size_t i = 0; ino && s->prev && i < s->prev->n_units; i++)
                if (streq(s->prev->units[i].name, name))
                        return s->prev->units[i].sysfs_ino == ino && !prev_has_problem(s, subject)
                                ? &s->prev->units[i] : NULL;
        return NULL;
}

static int scan_unit(Scan *s, const char *name, uint64_t ino, IommuUnit *u, uint64_t **ret_dev_inos) {
        char path[512], subject[300];
        const IommuUnit *p;
        int r;

        snprintf(subject, sizeof(subject), "unit %s", name);
        if (!(u->name = strdup(name)))
                return -ENOMEM;
        u->sysfs_ino = ino;

        /* A unit's vendor and capability registers are fixed while it
         * exists; its devices are listed again on every scan. */
        p = prev_unit(s, name, ino, subject);
        if (p) {
                u->vendor = p->vendor;
                u->has_vtd_caps = p->has_vtd_caps;
                u->vtd = p->vtd;
                u->has_amd_cap = p->has_amd_cap;
                u->amd_cap = p->amd_cap;
                u->amd_np_cache = p->amd_np_cache;
                u->pgsize_bitmap = p->pgsize_bitmap;
                u->pgsize_source = p->pgsize_source;
                goto devices;
        }

        snprintf(path, sizeof(path), "%s/intel-iommu", name);
        if (sysfs_exists(s->units_fd, path)) {
                uint64_t cap = 0, ecap = 0;
                int r2;

                u->vendor = IOMMU_VENDOR_INTEL_VTD;
                snprintf(path, sizeof(path), "%s/intel-iommu/cap", name);
                r = sysfs_read_hex(s->units_fd, path, &cap);
                if (r < 0 && problem_attr(s, subject, "intel-iommu/cap", r) < 0)
                        return -ENOMEM;
                snprintf(path, sizeof(path), "%s/intel-iommu/ecap", name);
                r2 = sysfs_read_hex(s->units_fd, path, &ecap);
                if (r2 < 0 && problem_attr(s, subject, "intel-iommu/ecap", r2) < 0)
                        return -ENOMEM;
                if (r >= 0 && r2 >= 0) {
                        u->has_vtd_caps = true;
                        vtd_caps_decode(cap, ecap, &u->vtd);
                        const DmaDefaults *dma = &s->t->kernel.dma;

                        u->pgsize_bitmap = vtd_pgsize_bitmap(&u->vtd, dma->intel_superpages_off,
                                                             dma->intel_scalable_mode);
                        u->pgsize_source = dma->intel_superpages_off ? "4K only: intel_iommu=sp_off"
                                : vtd_uses_first_level(&u->vtd, dma->intel_scalable_mode)
                                        ? "cap FL1GP (scalable mode, first-level tables)"
                                        : "cap SLLPS (second-level tables)";
                }
        } else {
                snprintf(path, sizeof(path), "%s/amd-iommu", name);
                if (sysfs_exists(s->units_fd, path)) {
                        uint64_t cap = 0;

                        u->vendor = IOMMU_VENDOR_AMD_VI;
                        /* AMD_IOMMU_PGSIZES of the v1 page table, the
                         * default (amd/amd_iommu_types.h): every power of
                         * two from 4K except 512G. */
                        u->pgsize_bitmap = ~UINT64_C(0xfff) & ~(UINT64_C(2) << 38);
                        u->pgsize_source = "AMD v1 page table (AMD_IOMMU_PGSIZES)";
                        snprintf(path, sizeof(path), "%s/amd-iommu/cap", name);
                        r = sysfs_read_hex(s->units_fd, path, &cap);
                        if (r >= 0 && cap <= UINT32_MAX) {
                                u->has_amd_cap = true;
                                u->amd_cap = (uint32_t) cap;
                                u->amd_np_cache = cap & (UINT32_C(1) << 26);
                        } else if (problem_attr(s, subject, "amd-iommu/cap", r < 0 ? r : -ERANGE) < 0)
                                return -ENOMEM;
                } else if (strncmp(name, "smmu3.", 6) == 0) {
                        /* arm-smmu-v3 registers "smmu3.%pa"; its page sizes
                         * come from IDR5, which sysfs does not show, and
                         * io-pgtable-arm then keeps the CPU page size's. */
                        u->vendor = IOMMU_VENDOR_ARM_SMMUV3;
                        u->pgsize_bitmap = arm_lpae_pgsize_bitmap((uint64_t) sysconf(_SC_PAGESIZE));
                        if (u->pgsize_bitmap)
                                u->pgsize_source = "inferred: io-pgtable-arm takes the CPU page size as granule "
                                                   "(IDR5 is not in sysfs)";
                } else
                        u->vendor = IOMMU_VENDOR_OTHER;
        }
        if (!u->pgsize_source)
                u->pgsize_source = "unknown: not shown by the kernel";

devices:
        snprintf(path, sizeof(path), "%s/devices", name);
        r = sysfs_list_dir_inos(s->units_fd, path, &u->devices, NULL, ret_dev_inos);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && problem_attr(s, subject, "devices/", r) < 0)
                return -ENOMEM;
        return 0;
}

static int scan_units(Scan *s) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ uint64_t *inos = NULL;
        Topology *t = s->t;
        int r;

        s->units_fd = openat(s->sys_fd, "class/iommu", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->units_fd < 0 && errno == ENOENT)
                return 0; /* no IOMMU driver registered any unit */
        r = s->units_fd < 0 ? -errno : sysfs_list_open_dir_inos(s->units_fd, &names, NULL, &inos);
        if (r < 0)
                return r == -ENOMEM ? r : problem_attr(s, "kernel", "class/iommu", r);
        s->unit_dev_inos = calloc((size_t) r + 1, sizeof(*s->unit_dev_inos));
        if (!s->unit_dev_inos)
                return -ENOMEM;
        s->n_unit_dev_inos = (size_t) r;
        for (size_t i = 0; names[i]; i++) {
                if (greedy_realloc((void **) &t->units, &s->units_alloc, t->n_units + 1, sizeof(*t->units)) < 0)
                        return -ENOMEM;
                r = scan_unit(s, names[i], inos[i], &t->units[t->n_units], &s->unit_dev_inos[t->n_units]);
                t->n_units++; /* counted even half-filled, so it gets freed */
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- groups ----------------------------------------------------------- */

static int scan_reserved_regions(Scan *s, const char *subject, const char *path, IommuGroup *g) {
        _cleanup_free_ char *big = NULL;
        char small[4096], *text = small;
        size_t alloc = 0;
        int r;

        /* One read holds the whole attribute (sysfs shows at most a page);
         * a longer file (a 64K-page kernel, a fixture) is read whole. */
        r = sysfs_read_attr(s->groups_fd, path, small, sizeof(small));
        if (r == -EFBIG) {
                r = sysfs_read_file(s->groups_fd, path, 64 * 1024, &big);
                text = big;
        }
        if (r < 0)
                return problem_attr(s, subject, "reserved_regions", r);
        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (!*line)
                        continue;
                if (greedy_realloc((void **) &g->regions, &alloc, g->n_regions + 1, sizeof(*g->regions)) < 0)
                        return -ENOMEM;
                r = reserved_region_parse(line, &g->regions[g->n_regions]);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (problem_add(s, subject, "reserved_regions: cannot parse \"%s\"", line) < 0)
                                return -ENOMEM;
                        continue;
                }
                g->n_regions++;
        }
        return 0;
}

int topology_reread_group_type(Topology *t, int sysfs_fd, size_t index) {
        IommuGroup *g;
        char path[256], type[64], *raw;

        if (!t || index >= t->n_groups)
                return -EINVAL;
        g = &t->groups[index];
        snprintf(path, sizeof(path), "kernel/iommu_groups/%u/type", g->id);
        if (sysfs_read_attr(sysfs_fd, path, type, sizeof(type)) < 0)
                return 0; /* gone or unreadable: the next rescan says so */
        if (g->type_raw && streq(g->type_raw, type))
                return 0;
        if (!(raw = strdup(type)))
                return -ENOMEM;
        free(g->type_raw);
        g->type_raw = raw;
        g->type = group_type_from_string(type);
        return 1;
}

static int cmp_group(const void *a, const void *b);

static int copy_regions(const IommuGroup *from, IommuGroup *to) {
        if (from->n_regions == 0)
                return 0;
        to->regions = calloc(from->n_regions, sizeof(*to->regions));
        if (!to->regions)
                return -ENOMEM;
        for (size_t i = 0; i < from->n_regions; i++) {
                to->regions[i] = from->regions[i];
                if (!(to->regions[i].type = strdup(from->regions[i].type)))
                        return -ENOMEM;
                to->n_regions++;
        }
        return 0;
}

/* The previous scan's group of that id, when it is the same kernel object
 * (same inode) and was read without problems. */
static const IommuGroup *prev_group(const Scan *s, unsigned id, uint64_t ino, const char *subject) {
        const IommuGroup *p = s->prev ? topology_find_group(s->prev, id) : NULL;

        return p && ino && p->sysfs_ino == ino && !prev_has_problem(s, subject) ? p : NULL;
}

static int cmp_device_ref_name(const void *key, const void *b);

/* Whether g's members are p's, each the same device (by identity). */
static bool members_same(const Scan *s, const IommuGroup *p, const IommuGroup *g) {
        if (!strv_equal(p->devices, g->devices))
                return false;
        for (char **n = g->devices; n && *n; n++) {
                const DeviceRef *id = s->n_ids ? bsearch(*n, s->ids, s->n_ids, sizeof(*s->ids), cmp_device_ref_name)
                                               : NULL;
                const Device *d = topology_find_device(s->prev, *n);

                if (!id || !d || !id->ino || id->ino != d->sysfs_ino)
                        return false;
        }
        return true;
}

static int scan_group(Scan *s, unsigned id, uint64_t ino, IommuGroup *g) {
        char path[256], subject[64], type[64];
        const IommuGroup *p;
        int r;

        g->id = id;
        g->sysfs_ino = ino;
        snprintf(subject, sizeof(subject), "group %u", id);
        p = prev_group(s, id, ino, subject);

        /* The type is read on every scan: it is what changes. */
        snprintf(path, sizeof(path), "%u/type", id);
        r = sysfs_read_attr(s->groups_fd, path, type, sizeof(type));
        if (r >= 0) {
                if (!(g->type_raw = strdup(type)))
                        return -ENOMEM;
                g->type = group_type_from_string(type);
                if (g->type == GROUP_TYPE_UNKNOWN &&
                    problem_add(s, subject, "unknown type \"%s\", kept as read", type) < 0)
                        return -ENOMEM;
        } else if (problem_attr(s, subject, "type", r) < 0)
                return -ENOMEM;

        /* Members: the previous scan's when no group and no device came
         * or went since (see scan_identities()). */
        if (p && s->members_unchanged)
                r = strv_copy(p->devices, &g->devices);
        else {
                snprintf(path, sizeof(path), "%u/devices", id);
                r = sysfs_list_dir(s->groups_fd, path, &g->devices);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0 && problem_attr(s, subject, "devices/", r) < 0)
                return -ENOMEM;

        /* The reserved regions are those of the members' devices (RMRRs,
         * the MSI window): fixed while the same devices are in the same
         * group. */
        if (p && members_same(s, p, g))
                return copy_regions(p, g);
        snprintf(path, sizeof(path), "%u/reserved_regions", id);
        return scan_reserved_regions(s, subject, path, g);
}

static int cmp_group(const void *a, const void *b) {
        unsigned x = ((const IommuGroup *) a)->id, y = ((const IommuGroup *) b)->id;

        return x < y ? -1 : x > y;
}

static int scan_groups(Scan *s) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ uint64_t *inos = NULL;
        Topology *t = s->t;
        size_t n_ids = 0;
        int r;

        s->groups_fd = openat(s->sys_fd, "kernel/iommu_groups", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->groups_fd < 0 && errno == ENOENT)
                return 0;
        r = s->groups_fd < 0 ? -errno : sysfs_list_open_dir_inos(s->groups_fd, &names, NULL, &inos);
        if (r < 0)
                return r == -ENOMEM ? r : problem_attr(s, "kernel", "kernel/iommu_groups", r);
        /* The members are reused only when the groups are the previous
         * scan's too: the same ids, each the same kernel object. */
        for (size_t i = 0; s->members_unchanged && names[i]; i++) {
                uint64_t id;
                const IommuGroup *p;

                if (safe_atou64(names[i], &id) < 0 || id > UINT32_MAX || !isdigit((unsigned char) names[i][0]))
                        continue;
                p = topology_find_group(s->prev, (unsigned) id);
                s->members_unchanged = p && p->sysfs_ino == inos[i];
                n_ids++;
        }
        if (s->members_unchanged && n_ids != s->prev->n_groups)
                s->members_unchanged = false;
        for (size_t i = 0; names[i]; i++) {
                const char *n = names[i];
                uint64_t id;

                if (safe_atou64(n, &id) < 0 || id > UINT32_MAX || !isdigit((unsigned char) *n)) {
                        if (problem_add(s, "kernel", "kernel/iommu_groups/%s is not a group id", n) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (greedy_realloc((void **) &t->groups, &s->groups_alloc, t->n_groups + 1, sizeof(*t->groups)) < 0)
                        return -ENOMEM;
                r = scan_group(s, (unsigned) id, inos[i], &t->groups[t->n_groups]);
                t->n_groups++;
                if (r < 0)
                        return r;
        }
        /* No groups (IOMMU off) leaves groups NULL, which qsort() must not
         * be given. */
        if (t->n_groups > 1)
                qsort(t->groups, t->n_groups, sizeof(*t->groups), cmp_group);
        return 0;
}

/* ---- devices ---------------------------------------------------------- */

static bool is_pci_address(const char *s) {
        unsigned dom, bus, dev, fn;
        char tail;

        return strlen(s) == 12 && sscanf(s, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) == 4;
}

static bool is_nvme_namespace(const char *s) {
        /* nvme<ctrl>n<ns>, or nvme<subsys>c<ctrl>n<ns> for multipath */
        if (strncmp(s, "nvme", 4) != 0 || !isdigit((unsigned char) s[4]))
                return false;
        s += 4;
        while (isdigit((unsigned char) *s))
                s++;
        if (*s == 'c') {
                s++;
                while (isdigit((unsigned char) *s))
                        s++;
        }
        if (*s++ != 'n' || !isdigit((unsigned char) *s))
                return false;
        while (isdigit((unsigned char) *s))
                s++;
        return *s == '\0';
}

/* Directories below a controller that can lead to its disks. */
static bool may_hold_disks(const char *e) {
        static const char *const prefixes[] = { "nvme", "virtio", "host", "target", "ata", "port", "end_device" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        return strchr(e, ':') && !is_pci_address(e); /* a SCSI LUN h:c:t:l */
}

/* A directory's entries with their types, as sysfs_list_dir_typed() gives. */
typedef struct DirList {
        char **names;
        unsigned char *types;
} DirList;

static void dir_list_done(DirList *l) {
        strv_free(l->names);
        free(l->types);
}

static bool dir_list_has(const DirList *l, const char *name, unsigned char type) {
        for (size_t i = 0; l->names && l->names[i]; i++)
                if (streq(l->names[i], name))
                        return type == DT_UNKNOWN || l->types[i] == type || l->types[i] == DT_UNKNOWN;
        return false;
}

static int strv_extend_unique(char ***l, const char *s) {
        return strv_contains(*l, s) ? 0 : strv_extend(l, s);
}

/* Block devices sit at different depths below their controller: nvme
 * namespaces under nvme/nvmeX/, virtio-blk under virtioN/block/, SCSI and
 * ATA disks under host/target/lun/block/. Walk a bounded depth through the
 * directories that can hold disks, starting from the listing of dir; links
 * are never followed (sysfs links point elsewhere in the tree) and child
 * PCI devices are not entered. Net interfaces are found the same way (net/
 * in the device, or under virtioN/net/). */
static int find_disks_and_ifaces(int dfd, const char *dir, const DirList *list, unsigned depth, Device *d) {
        for (size_t i = 0; list->names[i]; i++) {
                const char *e = list->names[i];
                _cleanup_(dir_list_done) DirList sub = {};
                char path[1024];
                int r;

                if (list->types[i] != DT_DIR && list->types[i] != DT_UNKNOWN)
                        continue;
                if (depth > 0 && is_nvme_namespace(e)) {
                        if (strv_extend_unique(&d->block_devs, e) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!streq(e, "block") && !streq(e, "net") && !may_hold_disks(e))
                        continue;
                if (depth >= 5)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e);
                r = sysfs_list_dir_typed(dfd, path, &sub.names, &sub.types);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                if (streq(e, "block") || streq(e, "net")) {
                        for (char **n = sub.names; *n; n++)
                                if (strv_extend_unique(streq(e, "net") ? &d->net_ifaces : &d->block_devs, *n) < 0)
                                        return -ENOMEM;
                        continue;
                }
                r = find_disks_and_ifaces(dfd, path, &sub, depth + 1, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_unsigned(const void *a, const void *b) {
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;

        return x < y ? -1 : x > y;
}

/* Lists path (a device's msi_irqs, relative to dfd). */
static int scan_msi_irqs(Scan *s, int dfd, const char *path, const char *subject, Device *d) {
        _cleanup_strv_free_ char **entries = NULL;
        size_t n = 0;
        int r;

        r = sysfs_list_dir(dfd, path, &entries);
        if (r == -ENOMEM)
                return r;
        if (r <= 0)
                return 0; /* no MSI vectors allocated: driver unbound or INTx */
        d->msi_irqs = calloc((size_t) r, sizeof(unsigned));
        if (!d->msi_irqs)
                return -ENOMEM;
        for (char **e = entries; *e; e++) {
                uint64_t irq;

                if (safe_atou64(*e, &irq) < 0 || irq > UINT32_MAX) {
                        if (problem_add(s, subject, "msi_irqs/%s is not an IRQ number", *e) < 0)
                                return -ENOMEM;
                        continue;
                }
                d->msi_irqs[n++] = (unsigned) irq;
        }
        d->n_msi_irqs = n;
        /* The listing is sorted by name: 100 would come before 98. */
        if (n > 1)
                qsort(d->msi_irqs, n, sizeof(*d->msi_irqs), cmp_unsigned);
        return 0;
}

static Tristate read_tristate(int dfd, const char *attr, const char *yes, const char *no) {
        char buf[64];

        if (sysfs_read_attr(dfd, attr, buf, sizeof(buf)) < 0)
                return TRISTATE_ABSENT;
        if (streq(buf, yes))
                return TRISTATE_YES;
        if (streq(buf, no))
                return TRISTATE_NO;
        return TRISTATE_ABSENT; /* removable: "unknown" */
}

/* The vendor, device and class from modalias: one file read instead of
 * three, holding the same values (pci_modalias_parse()). Returns whether
 * it gave them; an absent, unreadable or unexpected modalias leaves them
 * to the three files, whose problems are the ones reported. */
static bool read_pci_ids_from_modalias(int dfd, const DirList *list, Device *d) {
        char buf[128];
        PciIds ids;

        if (!dir_list_has(list, "modalias", DT_REG) || sysfs_read_attr(dfd, "modalias", buf, sizeof(buf)) < 0 ||
            pci_modalias_parse(buf, &ids) < 0)
                return false;
        d->vendor_id = ids.vendor_id;
        d->device_id = ids.device_id;
        d->class_code = ids.class_code;
        d->class_word = pci_class_to_word(d->class_code);
        return true;
}

static int read_pci_id_files(Scan *s, int dfd, const char *subject, Device *d) {
        uint64_t v;
        int r;

        r = sysfs_read_hex(dfd, "vendor", &v);
        if (r >= 0 && v <= 0xffff)
                d->vendor_id = (uint16_t) v;
        else if (problem_attr(s, subject, "vendor", r < 0 ? r : -ERANGE) < 0)
                return -ENOMEM;
        r = sysfs_read_hex(dfd, "device", &v);
        if (r >= 0 && v <= 0xffff)
                d->device_id = (uint16_t) v;
        else if (problem_attr(s, subject, "device", r < 0 ? r : -ERANGE) < 0)
                return -ENOMEM;
        r = sysfs_read_hex(dfd, "class", &v);
        if (r >= 0 && v <= 0xffffff) {
                d->class_code = (uint32_t) v;
                d->class_word = pci_class_to_word(d->class_code);
        } else if (problem_attr(s, subject, "class", r < 0 ? r : -ERANGE) < 0)
                return -ENOMEM;
        return 0;
}

static int scan_pci_attrs(Scan *s, int dfd, const DirList *list, const char *subject, Device *d) {
        if (!read_pci_ids_from_modalias(dfd, list, d) && read_pci_id_files(s, dfd, subject, d) < 0)
                return -ENOMEM;
        /* "untrusted" is not a sysfs attribute on every kernel; "removable"
         * exists since 5.12 and reads removable, fixed or unknown. */
        if (dir_list_has(list, "untrusted", DT_REG))
                d->untrusted = read_tristate(dfd, "untrusted", "1", "0");
        if (dir_list_has(list, "removable", DT_REG))
                d->removable = read_tristate(dfd, "removable", "removable", "fixed");
        return 0;
}

/* The previous scan's device of that name, when it is the same kernel
 * object (same inode in the listing that identifies it) and was read
 * without problems. */
static const Device *prev_device(const Scan *s, const char *name, uint64_t ino, const char *subject) {
        const Device *p = s->prev ? topology_find_device(s->prev, name) : NULL;

        return p && ino && p->sysfs_ino == ino && !prev_has_problem(s, subject) ? p : NULL;
}

/* Scans the device that ref's link leads to. Its one directory listing
 * tells which optional attributes to read, so a scan opens no file that is
 * not there. prev, when not NULL, is the same device in the previous scan:
 * its fixed facts (vendor, device, class, NUMA node, untrusted, removable)
 * are taken from it, and only what a driver changes is read: the driver
 * link, and for a device with a driver its MSI vectors, disks and network
 * interfaces. A device without a driver has no disks or interfaces (a
 * driver creates them), so it costs two calls: its driver link and its
 * msi_irqs. */
static int scan_device(Scan *s, const DeviceRef *ref, uint64_t ino, Device *d) {
        _cleanup_(dir_list_done) DirList list = {};
        _cleanup_close_ int dfd = -EBADF;
        char subject[300], buf[256], path[600];
        const Device *prev;
        int r, node;

        d->group = -1;
        d->numa_node = -1;
        d->untrusted = d->removable = TRISTATE_ABSENT;
        d->is_pci = is_pci_address(ref->name);
        d->class_word = d->is_pci ? "unknown" : "platform";
        d->sysfs_ino = ino;
        if (!(d->name = strdup(ref->name)))
                return -ENOMEM;
        snprintf(subject, sizeof(subject), "device %s", ref->name);

        prev = prev_device(s, ref->name, ino, subject);
        if (prev) {
                d->vendor_id = prev->vendor_id;
                d->device_id = prev->device_id;
                d->class_code = prev->class_code;
                d->class_word = prev->class_word;
                d->numa_node = prev->numa_node;
                d->untrusted = prev->untrusted;
                d->removable = prev->removable;

                snprintf(path, sizeof(path), "%s/driver", ref->rel);
                r = sysfs_read_link_name(ref->dirfd, path, buf, sizeof(buf));
                if (r == -ENOENT) {
                        snprintf(path, sizeof(path), "%s/msi_irqs", ref->rel);
                        return scan_msi_irqs(s, ref->dirfd, path, subject, d);
                }
                if (r >= 0 && !(d->driver = strdup(buf)))
                        return -ENOMEM;
        }

        dfd = openat(ref->dirfd, ref->rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return problem_add(s, subject, "%s: %s/%s", errno == ENOENT ? "dangling link" : "cannot open",
                                   ref->dir_path, ref->rel);
        r = sysfs_list_open_dir(dfd, &list.names, &list.types);
        if (r < 0)
                return r == -ENOMEM ? r : problem_attr(s, subject, "its directory", r);

        if (!prev && d->is_pci && scan_pci_attrs(s, dfd, &list, subject, d) < 0)
                return -ENOMEM;

        if (!d->driver && dir_list_has(&list, "driver", DT_LNK)) {
                r = sysfs_read_link_name(dfd, "driver", buf, sizeof(buf));
                if (r >= 0) {
                        if (!(d->driver = strdup(buf)))
                                return -ENOMEM;
                } else if (problem_attr(s, subject, "driver", r) < 0)
                        return -ENOMEM;
        }

        if (!prev && dir_list_has(&list, "numa_node", DT_REG)) {
                r = sysfs_read_int(dfd, "numa_node", &node);
                if (r >= 0)
                        d->numa_node = node;
                else if (problem_attr(s, subject, "numa_node", r) < 0)
                        return -ENOMEM;
        }

        if (find_disks_and_ifaces(dfd, ".", &list, 0, d) < 0)
                return -ENOMEM;
        strv_sort(d->net_ifaces);
        strv_sort(d->block_devs);
        if (dir_list_has(&list, "msi_irqs", DT_DIR))
                return scan_msi_irqs(s, dfd, "msi_irqs", subject, d);
        return 0;
}

static int cmp_device(const void *a, const void *b) {
        return strcmp(((const Device *) a)->name, ((const Device *) b)->name);
}

static int cmp_device_ref(const void *a, const void *b) {
        const DeviceRef *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_device_ref_name(const void *key, const void *b) {
        return strcmp(key, ((const DeviceRef *) b)->name);
}

/* Adds a reference; rel (heap, taken) may be NULL for an identity. */
static int device_ref_add(DeviceRef **refs, size_t *n, size_t *alloc, const DeviceRef *ref) {
        if (greedy_realloc((void **) refs, alloc, *n + 1, sizeof(**refs)) < 0) {
                free(ref->rel);
                return -ENOMEM;
        }
        (*refs)[*n] = *ref;
        (*refs)[*n].order = *n;
        (*n)++;
        return 0;
}

static void device_refs_free(DeviceRef *refs, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(refs[i].rel);
        free(refs);
}

/* Lists the PCI bus and works out each device's identity: the inode of its
 * entry in bus/pci/devices, or for a device not on the PCI bus in its
 * unit's devices/ (the kernel makes both links when it adds the device and
 * removes them when it removes it). Then decides whether the groups' member
 * lists can be reused: when every device of the previous scan had an
 * identity and the same devices, each the same object, are there now, no
 * device came or went, and with the same groups (scan_groups() checks)
 * no membership changed. */
static int scan_identities(Scan *s) {
        size_t alloc = 0;
        int r = 0;

        s->pci_fd = openat(s->sys_fd, "bus/pci/devices", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = s->pci_fd < 0 ? -errno : sysfs_list_open_dir_inos(s->pci_fd, &s->pci, NULL, &s->pci_inos);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && r != -ENOENT && problem_attr(s, "kernel", "bus/pci/devices", r) < 0)
                return -ENOMEM;
        r = 0;
        for (size_t i = 0; r >= 0 && s->pci && s->pci[i]; i++)
                r = device_ref_add(&s->ids, &s->n_ids, &alloc,
                                   &(DeviceRef) { .name = s->pci[i], .ino = s->pci_inos[i] });
        for (size_t u = 0; r >= 0 && u < s->t->n_units; u++)
                for (size_t i = 0; r >= 0 && s->t->units[u].devices && s->t->units[u].devices[i]; i++)
                        r = device_ref_add(&s->ids, &s->n_ids, &alloc,
                                           &(DeviceRef) { .name = s->t->units[u].devices[i],
                                                          .ino = s->unit_dev_inos[u] ? s->unit_dev_inos[u][i] : 0 });
        if (r < 0)
                return r;
        if (s->n_ids > 1) {
                size_t n = 0;

                qsort(s->ids, s->n_ids, sizeof(*s->ids), cmp_device_ref);
                for (size_t i = 0; i < s->n_ids; i++)
                        if (i == 0 || !streq(s->ids[i].name, s->ids[n - 1].name))
                                s->ids[n++] = s->ids[i];
                s->n_ids = n;
        }

        s->members_unchanged = s->prev && s->prev->n_devices == s->n_ids;
        for (size_t i = 0; s->members_unchanged && i < s->n_ids; i++) {
                const Device *p = &s->prev->devices[i];

                s->members_unchanged = p->sysfs_ino && p->sysfs_ino == s->ids[i].ino && streq(p->name, s->ids[i].name);
        }
        return 0;
}

static int scan_devices(Scan *s) {
        Topology *t = s->t;
        DeviceRef *refs = NULL;
        size_t n_refs = 0, refs_alloc = 0;
        int r = 0;

        /* Devices are found through the groups they belong to, through the
         * units for those without a group (a unit lists every device it
         * translates for), and through the PCI bus for those no IOMMU
         * translates for at all (an AMD IOMMU's own function, a host bridge
         * on SMMUv3, every device on a machine without an IOMMU): they do
         * DMA untranslated, which an operator must see. Sorting the
         * references by name (first found first) lets each device be
         * scanned once, in name order. */
        for (size_t i = 0; r >= 0 && i < t->n_groups; i++)
                for (char **n = t->groups[i].devices; r >= 0 && n && *n; n++) {
                        char *rel = NULL;

                        if (asprintf(&rel, "%u/devices/%s", t->groups[i].id, *n) < 0)
                                return device_refs_free(refs, n_refs), -ENOMEM;
                        r = device_ref_add(&refs, &n_refs, &refs_alloc,
                                           &(DeviceRef) { .name = *n, .dirfd = s->groups_fd,
                                                          .dir_path = "kernel/iommu_groups", .rel = rel });
                }
        for (size_t i = 0; r >= 0 && i < t->n_units; i++)
                for (char **n = t->units[i].devices; r >= 0 && n && *n; n++) {
                        char *rel = NULL;

                        if (asprintf(&rel, "%s/devices/%s", t->units[i].name, *n) < 0)
                                return device_refs_free(refs, n_refs), -ENOMEM;
                        r = device_ref_add(&refs, &n_refs, &refs_alloc,
                                           &(DeviceRef) { .name = *n, .dirfd = s->units_fd,
                                                          .dir_path = "class/iommu", .rel = rel });
                }
        for (char **n = s->pci; r >= 0 && n && *n; n++) {
                char *rel = strdup(*n);

                if (!rel)
                        return device_refs_free(refs, n_refs), -ENOMEM;
                r = device_ref_add(&refs, &n_refs, &refs_alloc,
                                   &(DeviceRef) { .name = *n, .dirfd = s->pci_fd,
                                                  .dir_path = "bus/pci/devices", .rel = rel });
        }
        if (r >= 0 && n_refs > 0) {
                size_t n_unique = 0;

                qsort(refs, n_refs, sizeof(*refs), cmp_device_ref);
                /* Most devices are found two or three times (group, unit, bus). */
                for (size_t i = 0; i < n_refs; i++)
                        n_unique += i == 0 || !streq(refs[i].name, refs[i - 1].name);
                t->devices = calloc(n_unique, sizeof(*t->devices));
                if (!t->devices)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < n_refs; i++) {
                const DeviceRef *id;

                if (i > 0 && streq(refs[i].name, refs[i - 1].name))
                        continue;
                id = s->n_ids ? bsearch(refs[i].name, s->ids, s->n_ids, sizeof(*s->ids), cmp_device_ref_name) : NULL;
                r = scan_device(s, &refs[i], id ? id->ino : 0, &t->devices[t->n_devices]);
                t->n_devices++;
        }
        device_refs_free(refs, n_refs);
        if (r < 0)
                return r;

        /* A device's group and unit are the ones that list it (the same
         * as its iommu_group and iommu links, which the kernel creates
         * together with those listings). */
        for (size_t i = 0; i < t->n_groups; i++)
                for (char **n = t->groups[i].devices; n && *n; n++) {
                        Device *d = (Device *) topology_find_device(t, *n);

                        if (d && d->group >= 0) {
                                char subject[300];

                                snprintf(subject, sizeof(subject), "device %s", d->name);
                                if (problem_add(s, subject, "listed in groups %d and %u", d->group,
                                                t->groups[i].id) < 0)
                                        return -ENOMEM;
                        } else if (d)
                                d->group = (int) t->groups[i].id;
                }
        for (size_t i = 0; i < t->n_units; i++)
                for (char **n = t->units[i].devices; n && *n; n++) {
                        Device *d = (Device *) topology_find_device(t, *n);

                        if (d && !d->unit && !(d->unit = strdup(t->units[i].name)))
                                return -ENOMEM;
                }
        return 0;
}

/* ---- public ----------------------------------------------------------- */

int topology_scan(const char *sysfs_root, const char *proc_root, Topology **ret) {
        return topology_rescan(sysfs_root, proc_root, NULL, ret);
}

int topology_rescan(const char *sysfs_root, const char *proc_root, const Topology *previous, Topology **ret) {
        Scan s = {
                .sys_fd = -EBADF,
                .proc_fd = -EBADF,
                .units_fd = -EBADF,
                .groups_fd = -EBADF,
                .pci_fd = -EBADF,
                .prev = previous,
        };
        int r;

        s.sys_fd = sysfs_open_root(sysfs_root);
        if (s.sys_fd < 0)
                return s.sys_fd;
        s.proc_fd = sysfs_open_root(proc_root);
        if (s.proc_fd < 0) {
                r = s.proc_fd;
                goto out;
        }
        s.t = calloc(1, sizeof(Topology));
        if (!s.t) {
                r = -ENOMEM;
                goto out;
        }
        /* Kernel first: the command line decides the VT-d page sizes. */
        r = scan_kernel(&s);
        if (r >= 0)
                r = scan_units(&s);
        if (r >= 0)
                r = scan_identities(&s);
        if (r >= 0)
                r = scan_groups(&s);
        if (r >= 0)
                r = scan_devices(&s);
        if (r >= 0) {
                *ret = TAKE_PTR(s.t);
                r = 0;
        }
out:
        for (size_t i = 0; i < s.n_unit_dev_inos; i++)
                free(s.unit_dev_inos[i]);
        free(s.unit_dev_inos);
        topology_free(s.t);
        device_refs_free(s.ids, s.n_ids);
        strv_free(s.pci);
        free(s.pci_inos);
        closep(&s.sys_fd);
        closep(&s.proc_fd);
        closep(&s.units_fd);
        closep(&s.groups_fd);
        closep(&s.pci_fd);
        return r;
}

Topology *topology_free(Topology *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_units; i++) {
                free(t->units[i].name);
                strv_free(t->units[i].devices);
        }
        free(t->units);
        for (size_t i = 0; i < t->n_groups; i++) {
                IommuGroup *g = &t->groups[i];

                free(g->type_raw);
                strv_free(g->devices);
                for (size_t j = 0; j < g->n_regions; j++)
                        free(g->regions[j].type);
                free(g->regions);
        }
        free(t->groups);
        for (size_t i = 0; i < t->n_devices; i++) {
                Device *d = &t->devices[i];

                free(d->name);
                free(d->driver);
                free(d->unit);
                strv_free(d->net_ifaces);
                strv_free(d->block_devs);
                free(d->msi_irqs);
        }
        free(t->devices);
        free(t->kernel.release);
        free(t->kernel.version);
        free(t->kernel.cmdline);
        free(t->kernel.tracefs);
        dma_defaults_done(&t->kernel.dma);
        for (size_t i = 0; i < t->n_problems; i++) {
                free(t->problems[i].subject);
                free(t->problems[i].message);
        }
        free(t->problems);
        free(t);
        return NULL;
}

const IommuGroup *topology_find_group(const Topology *t, unsigned id) {
        IommuGroup key = { .id = id };

        return t->n_groups ? bsearch(&key, t->groups, t->n_groups, sizeof(*t->groups), cmp_group) : NULL;
}

const Device *topology_find_device(const Topology *t, const char *name) {
        Device key = { .name = (char *) name };

        return t->n_devices ? bsearch(&key, t->devices, t->n_devices, sizeof(*t->devices), cmp_device) : NULL;
}
