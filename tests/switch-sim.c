/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "switch-sim.h"
#include "util.h"

static void die(const char *what, const char *path) {
        fprintf(stderr, "switch-sim: %s %s: %m\n", what, path);
        abort();
}

static void mkdir_p(Sim *s, const char *rel) {
        char path[1024], *p;

        snprintf(path, sizeof(path), "%s/%s", s->root, rel);
        for (p = path + strlen(s->root) + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                                die("mkdir", path);
                        *p = '/';
                }
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("mkdir", path);
}

static void write_file(Sim *s, const char *rel, const char *text) {
        char path[1024];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", s->root, rel);
        f = fopen(path, "we");
        if (!f)
                die("fopen", path);
        fputs(text, f);
        fclose(f);
}

/* A relative link at rel pointing at target (both relative to the root),
 * as the kernel makes them. */
static void link_rel(Sim *s, const char *rel, const char *target) {
        char path[1024], up[512] = "", t[1024];
        const char *from = rel, *to = target, *p;

        /* Within sys/, links stay within it, as the kernel's do. */
        if (strncmp(rel, "sys/", 4) == 0 && strncmp(target, "sys/", 4) == 0) {
                from += 4;
                to += 4;
        }
        for (p = strchr(from, '/'); p; p = strchr(p + 1, '/'))
                strcat(up, "../");
        snprintf(path, sizeof(path), "%s/%s", s->root, rel);
        snprintf(t, sizeof(t), "%s%s", up, to);
        if (symlink(t, path) < 0)
                die("symlink", path);
}

void sim_init(Sim *s, int version) {
        const char *tmp = getenv("TMPDIR");
        char path[512];

        *s = (Sim) { .version = version };
        snprintf(s->root, sizeof(s->root), "%s/switch-sim-XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(s->root))
                die("mkdtemp", s->root);
        mkdir_p(s, "sys/kernel/iommu_groups");
        mkdir_p(s, "sys/bus/pci/drivers");
        mkdir_p(s, "sys/bus/pci/devices");
        mkdir_p(s, "sys/devices/pci0000:00");
        mkdir_p(s, "state");
        write_file(s, "sys/bus/pci/drivers_probe", "");
        snprintf(path, sizeof(path), "%s/sys", s->root);
        s->sys_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        snprintf(path, sizeof(path), "%s/state", s->root);
        s->state_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->sys_fd < 0 || s->state_fd < 0)
                die("open", s->root);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void sim_destroy(Sim *s) {
        if (s->sys_fd >= 0)
                close(s->sys_fd);
        if (s->state_fd >= 0)
                close(s->state_fd);
        if (s->root[0])
                nftw(s->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        strv_free(s->log);
        *s = (Sim) { .sys_fd = -1, .state_fd = -1 };
}

void sim_add_group(Sim *s, unsigned group, const char *type) {
        char rel[256], text[64];

        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/devices", group);
        mkdir_p(s, rel);
        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/type", group);
        snprintf(text, sizeof(text), "%s\n", type);
        write_file(s, rel, text);
}

static void ensure_driver(Sim *s, const char *driver, const char *bus) {
        char rel[256];
        static const char *const files[] = { "bind", "unbind", "new_id", "remove_id" };

        snprintf(rel, sizeof(rel), "sys/bus/%s/drivers/%s", bus, driver);
        mkdir_p(s, rel);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char f[300];

                snprintf(f, sizeof(f), "%s/%s", rel, files[i]);
                write_file(s, f, "");
        }
}

static SimDevice *find_device(Sim *s, const char *bdf) {
        for (unsigned i = 0; i < s->n_devices; i++)
                if (streq(s->devices[i].bdf, bdf))
                        return s->devices + i;
        return NULL;
}

static void link_driver(Sim *s, const char *bdf, const char *driver) {
        char rel[256], target[256];

        ensure_driver(s, driver, "pci");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/driver", bdf);
        snprintf(target, sizeof(target), "sys/bus/pci/drivers/%s", driver);
        link_rel(s, rel, target);
        snprintf(rel, sizeof(rel), "sys/bus/pci/drivers/%s/%s", driver, bdf);
        snprintf(target, sizeof(target), "sys/devices/pci0000:00/%s", bdf);
        link_rel(s, rel, target);
}

void sim_add_device(Sim *s, unsigned group, const char *bdf, const char *driver, const char *match,
                    bool untrusted) {
        SimDevice *d = s->devices + s->n_devices++;
        char rel[256], target[256];

        snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
        snprintf(d->match, sizeof(d->match), "%s", match ? match : driver ? driver : "");
        d->group = group;
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s", bdf);
        mkdir_p(s, rel);
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/vendor", bdf);
        write_file(s, rel, "0x8086\n");
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/class", bdf);
        write_file(s, rel, "0x010802\n");
        if (untrusted) {
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/untrusted", bdf);
                write_file(s, rel, "1\n");
        }
        snprintf(target, sizeof(target), "sys/devices/pci0000:00/%s", bdf);
        snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", bdf);
        link_rel(s, rel, target);
        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/devices/%s", group, bdf);
        link_rel(s, rel, target);
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/iommu_group", bdf);
        snprintf(target, sizeof(target), "sys/kernel/iommu_groups/%u", group);
        link_rel(s, rel, target);
        if (d->match[0])
                ensure_driver(s, d->match, "pci");
        if (driver)
                link_driver(s, bdf, driver);
}

void sim_add_platform_device(Sim *s, unsigned group, const char *name, const char *driver) {
        SimDevice *d = s->devices + s->n_devices++;
        char rel[256], target[256];

        snprintf(d->bdf, sizeof(d->bdf), "%s", name);
        d->group = group;
        d->platform = true;
        snprintf(rel, sizeof(rel), "sys/devices/platform/%s", name);
        mkdir_p(s, rel);
        snprintf(target, sizeof(target), "sys/devices/platform/%s", name);
        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/devices/%s", group, name);
        link_rel(s, rel, target);
        ensure_driver(s, driver, "platform");
        snprintf(rel, sizeof(rel), "sys/devices/platform/%s/driver", name);
        snprintf(target, sizeof(target), "sys/bus/platform/drivers/%s", driver);
        link_rel(s, rel, target);
}

const char *sim_driver(Sim *s, const char *bdf) {
        static char buf[512];
        char rel[256], target[512];
        ssize_t n;
        const char *base;

        snprintf(rel, sizeof(rel), "devices/pci0000:00/%s/driver", bdf);
        n = readlinkat(s->sys_fd, rel, target, sizeof(target) - 1);
        if (n < 0)
                return "";
        target[n] = '\0';
        base = strrchr(target, '/');
        snprintf(buf, sizeof(buf), "%s", base ? base + 1 : target);
        return buf;
}

const char *sim_type(Sim *s, unsigned group) {
        static char buf[64];
        char rel[128];
        ssize_t n;
        int fd;

        snprintf(rel, sizeof(rel), "kernel/iommu_groups/%u/type", group);
        fd = openat(s->sys_fd, rel, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return "";
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return buf;
}

void sim_set_type(Sim *s, unsigned group, const char *type) {
        char rel[128], text[64];

        snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/type", group);
        snprintf(text, sizeof(text), "%s\n", type);
        write_file(s, rel, text);
}

void sim_bind(Sim *s, const char *bdf, const char *driver) {
        if (!*sim_driver(s, bdf))
                link_driver(s, bdf, driver);
}

void sim_unbind(Sim *s, const char *bdf) {
        char rel[256];
        const char *drv = sim_driver(s, bdf);

        if (!*drv)
                return;
        snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/%s", drv, bdf);
        unlinkat(s->sys_fd, rel, 0);
        snprintf(rel, sizeof(rel), "devices/pci0000:00/%s/driver", bdf);
        unlinkat(s->sys_fd, rel, 0);
}

bool sim_state_exists(Sim *s, const char *name) {
        struct stat st;

        return fstatat(s->state_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

unsigned sim_state_count(Sim *s) {
        unsigned n = 0;
        int fd = openat(s->state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

bool sim_logged(Sim *s, const char *needle) {
        for (char **p = s->log; p && *p; p++)
                if (strstr(*p, needle))
                        return true;
        return false;
}

void sim_write_state(Sim *s, const char *name, const char *content) {
        char rel[256];

        snprintf(rel, sizeof(rel), "state/%s", name);
        write_file(s, rel, content);
}

void sim_context(Sim *s, SwitchContext *ctx) {
        switch_context_init(ctx, s->sys_fd, s->state_fd);
        ctx->hook = sim_hook;
        ctx->hook_userdata = s;
}

/* ---- the kernel model --------------------------------------------------- */

void sim_remove_device(Sim *s, const char *bdf) {
        SimDevice *d = find_device(s, bdf);
        char rel[256], path[1024];
        unsigned left = 0;

        if (!d || d->removed || d->platform)
                return;
        sim_unbind(s, bdf);
        snprintf(rel, sizeof(rel), "bus/pci/devices/%s", bdf);
        unlinkat(s->sys_fd, rel, 0);
        snprintf(rel, sizeof(rel), "kernel/iommu_groups/%u/devices/%s", d->group, bdf);
        unlinkat(s->sys_fd, rel, 0);
        snprintf(path, sizeof(path), "%s/sys/devices/pci0000:00/%s", s->root, bdf);
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        d->removed = true;
        d->match[0] = '\0';
        for (unsigned i = 0; i < s->n_devices; i++)
                if (!s->devices[i].removed && s->devices[i].group == d->group)
                        left++;
        if (left == 0) {
                snprintf(path, sizeof(path), "%s/sys/kernel/iommu_groups/%u", s->root, d->group);
                nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        }
}

static void remove_listed(Sim *s) {
        char list[sizeof(s->remove_bdfs)], *save = NULL;

        snprintf(list, sizeof(list), "%s", s->remove_bdfs);
        for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
                sim_remove_device(s, p);
}

static bool group_any_bound(Sim *s, unsigned group, unsigned *ret_n) {
        bool bound = false;

        *ret_n = 0;
        for (unsigned i = 0; i < s->n_devices; i++) {
                if (s->devices[i].group != group || s->devices[i].removed)
                        continue;
                (*ret_n)++;
                if (s->devices[i].platform || *sim_driver(s, s->devices[i].bdf))
                        bound = true;
        }
        return bound;
}

static bool probe_fails(Sim *s, const SimDevice *d) {
        if (s->drop_sticks && s->drops > 0 && streq(d->bdf, s->drops_on_bind))
                return true;
        if (!s->probe_fails_under[0])
                return false;
        if (s->probe_fails_bdf[0] && !streq(s->probe_fails_bdf, d->bdf))
                return false;
        return streq(s->probe_fails_under, "any") || streq(s->probe_fails_under, sim_type(s, d->group));
}

static int model_type(Sim *s, unsigned group, const char *value) {
        char rel[128], cur[64];
        struct stat st;
        unsigned n;
        bool bound, live;
        const char *set;

        s->type_calls++;
        if (s->remove_at_type_write && s->remove_at_type_write == s->type_calls)
                remove_listed(s);
        snprintf(rel, sizeof(rel), "kernel/iommu_groups/%u/type", group);
        if (fstatat(s->sys_fd, rel, &st, 0) < 0)
                return -ENOENT;
        if (!(st.st_mode & 0222))
                return -EACCES; /* kernfs: no store method */
        s->type_writes++;
        if (s->type_fail_from && s->type_writes >= s->type_fail_from)
                return -s->type_fail_errno;
        if (!streq(value, "DMA") && !streq(value, "DMA-FQ") && !streq(value, "identity") && !streq(value, "auto"))
                return -EINVAL;
        if (s->race_bind_bdf[0]) {
                SimDevice *d = find_device(s, s->race_bind_bdf);

                if (d && d->match[0])
                        sim_bind(s, d->bdf, d->match);
        }
        snprintf(cur, sizeof(cur), "%s", sim_type(s, group));
        bound = group_any_bound(s, group, &n);
        live = streq(value, "DMA-FQ") && streq(cur, "DMA");

        if (s->version < 604) {
                /* iommu_group_store_type(), 6.1 */
                if (n != 1)
                        return -EINVAL;
                if (bound && !live)
                        return -EBUSY;
        }
        if (live) {
                if (!s->live_fq_silently_dma)
                        sim_set_type(s, group, "DMA-FQ");
                return 1;
        }
        if (s->version >= 604 && (n == 0 || bound))
                return -EPERM; /* group->owner_cnt */
        set = streq(value, "auto") ? "DMA-FQ" : value;
        if (streq(set, "DMA-FQ") && s->fq_silently_dma)
                set = "DMA"; /* iommu_dma_init_domain() falls back to strict */
        sim_set_type(s, group, set);
        return 1;
}

/* Binding `bound` costs drops_on_bind its driver (a device of the same
 * group, e.g. sharing a reset). */
static void drop_other(Sim *s, const SimDevice *bound) {
        SimDevice *v;

        if (!s->drops_on_bind[0] || streq(s->drops_on_bind, bound->bdf))
                return;
        v = find_device(s, s->drops_on_bind);
        if (!v || v->removed || v->group != bound->group || !*sim_driver(s, v->bdf))
                return;
        sim_unbind(s, v->bdf);
        s->drops++;
}

static int model_unbind(Sim *s, const char *driver, const char *bdf) {
        SimDevice *d = find_device(s, bdf);

        if (!d || d->platform || d->removed)
                return -ENODEV;
        if (!streq(sim_driver(s, bdf), driver))
                return -ENODEV;
        sim_unbind(s, bdf);
        if (streq(s->gone_after_unbind, bdf)) {
                char rel[256];

                snprintf(rel, sizeof(rel), "bus/pci/devices/%s", bdf);
                unlinkat(s->sys_fd, rel, 0);
                snprintf(rel, sizeof(rel), "kernel/iommu_groups/%u/devices/%s", d->group, bdf);
                unlinkat(s->sys_fd, rel, 0);
                d->group = 0;
                d->match[0] = '\0';
        }
        return 1;
}

static int model_bind(Sim *s, const char *driver, const char *bdf) {
        SimDevice *d = find_device(s, bdf);

        if (!d || d->platform || d->removed)
                return -ENODEV;
        if (*sim_driver(s, bdf))
                return -EBUSY;
        if (s->bind_file_fails || !streq(d->match, driver))
                return -ENODEV;
        if (probe_fails(s, d))
                return -ENXIO;
        link_driver(s, bdf, driver);
        drop_other(s, d);
        return 1;
}

static int model_probe(Sim *s, const char *bdf) {
        SimDevice *d = find_device(s, bdf);

        if (!d || d->removed)
                return -ENODEV;
        if (*sim_driver(s, bdf) || !d->match[0] || probe_fails(s, d))
                return 1; /* bus_rescan_devices_helper(): no driver is not an error */
        link_driver(s, bdf, d->match);
        drop_other(s, d);
        return 1;
}

int sim_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path, const char *value) {
        Sim *s = userdata;
        char driver[64], op[16];
        unsigned group;
        int n = 0;

        (void) step;
        s->writes++;
        {
                char line[512];

                snprintf(line, sizeof(line), "%s %s %s", kernel_write_kind_to_string(kind), path, value ? value : "");
                if (strv_extend(&s->log, line) < 0)
                        abort();
        }
        if (kind != KERNEL_WRITE_ATTR)
                return 0;
        if (sscanf(path, "kernel/iommu_groups/%u/type%n", &group, &n) == 1 && path[n] == '\0')
                return model_type(s, group, value);
        if (streq(path, "bus/pci/drivers_probe"))
                return model_probe(s, value);
        if (sscanf(path, "bus/pci/drivers/%63[^/]/%15s", driver, op) == 2) {
                if (streq(op, "unbind"))
                        return model_unbind(s, driver, value);
                if (streq(op, "bind"))
                        return model_bind(s, driver, value);
        }
        return 0;
}
