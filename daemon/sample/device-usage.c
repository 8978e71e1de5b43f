/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>

#include "device-usage.h"
#include "rtnl.h"
#include "sysfs.h"
#include "util.h"

#define MAX_DEPTH 8
#define MAX_REASONS 3

struct DeviceUsage {
        int sysfs_fd;
        MountEntry *mounts;
        size_t n_mounts;
        char **swaps;
        char **route_ifaces;
};

/* ---- parsing ------------------------------------------------------------ */

/* mountinfo and swaps escape space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
}

void mount_entry_done(MountEntry *m) {
        free(m->mount_point);
        free(m->fstype);
        free(m->source);
        *m = (MountEntry) {};
}

int mountinfo_parse_line(const char *line, MountEntry *ret) {
        _cleanup_free_ char *copy = strdup(line);
        char *fields[64], *save = NULL, *tok;
        size_t n = 0, dash = 0;
        MountEntry m = {};
        int end = 0;

        if (!copy)
                return -ENOMEM;
        for (tok = strtok_r(copy, " \n", &save); tok && n < ELEMENTSOF(fields); tok = strtok_r(NULL, " \n", &save))
                fields[n++] = tok;
        /* id parent maj:min root mount-point options [optional...] - fstype source super-options */
        for (size_t i = 6; i < n; i++)
                if (streq(fields[i], "-")) {
                        dash = i;
                        break;
                }
        if (n < 9 || dash == 0 || dash + 2 >= n)
                return -EBADMSG;
        if (sscanf(fields[2], "%u:%u%n", &m.major, &m.minor, &end) != 2 || fields[2][end] != '\0')
                return -EBADMSG;
        m.mount_point = strdup(fields[4]);
        m.fstype = strdup(fields[dash + 1]);
        m.source = strdup(fields[dash + 2]);
        if (!m.mount_point || !m.fstype || !m.source) {
                mount_entry_done(&m);
                return -ENOMEM;
        }
        unescape_octal(m.mount_point);
        unescape_octal(m.source);
        *ret = m;
        return 0;
}

int swaps_parse(const char *text, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = strdup(text);
        char *save = NULL;
        bool first = true;

        if (!copy)
                return -ENOMEM;
        if (!(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *name = line + strspn(line, " \t");

                name[strcspn(name, " \t")] = '\0';
                if (first) {
                        first = false;
                        if (streq(name, "Filename"))
                                continue;
                }
                if (!*name)
                        continue;
                unescape_octal(name);
                if (strv_extend(&l, name) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- reading ------------------------------------------------------------ */

DeviceUsage *device_usage_free(DeviceUsage *u) {
        if (!u)
                return NULL;
        for (size_t i = 0; i < u->n_mounts; i++)
                mount_entry_done(u->mounts + i);
        free(u->mounts);
        strv_free(u->swaps);
        strv_free(u->route_ifaces);
        free(u);
        return NULL;
}

static int read_mounts(int proc_fd, DeviceUsage *u) {
        _cleanup_free_ char *text = NULL;
        size_t allocated = 0;
        char *save = NULL;
        int q;

        q = sysfs_read_file(proc_fd, "self/mountinfo", 64 * 1024 * 1024, &text);
        if (q < 0)
                return q;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (greedy_realloc((void **) &u->mounts, &allocated, u->n_mounts + 1, sizeof(MountEntry)) < 0)
                        return -ENOMEM;
                q = mountinfo_parse_line(line, u->mounts + u->n_mounts);
                if (q < 0)
                        return q;
                u->n_mounts++;
        }
        return 0;
}

static int read_swaps(int proc_fd, DeviceUsage *u) {
        _cleanup_free_ char *text = NULL;
        int q;

        q = sysfs_read_file(proc_fd, "swaps", 16 * 1024 * 1024, &text);
        if (q == -ENOENT) /* a kernel without swap */
                return (u->swaps = calloc(1, sizeof(char *))) ? 0 : -ENOMEM;
        if (q < 0)
                return q;
        return swaps_parse(text, &u->swaps);
}

int device_usage_read(int proc_fd, int sysfs_fd, DefaultRouteLookup lookup, void *userdata, DeviceUsage **ret) {
        DeviceUsage *u;
        int q;

        u = calloc(1, sizeof(DeviceUsage));
        if (!u)
                return -ENOMEM;
        u->sysfs_fd = sysfs_fd;
        q = read_mounts(proc_fd, u);
        if (q >= 0)
                q = read_swaps(proc_fd, u);
        if (q >= 0)
                q = (lookup ? lookup : default_route_lookup_netlink)(userdata, &u->route_ifaces);
        if (q >= 0 && !u->route_ifaces && !(u->route_ifaces = calloc(1, sizeof(char *))))
                q = -ENOMEM;
        if (q < 0) {
                device_usage_free(u);
                return q;
        }
        *ret = u;
        return 0;
}

/* The default routes' output interfaces, by index, without repeats. */
typedef struct RouteIfindexes {
        int *ifindexes;
        size_t n, allocated;
} RouteIfindexes;

static int collect_default_route(const struct nlmsghdr *h, void *userdata) {
        RouteIfindexes *d = userdata;
        int found[256];
        size_t n;
        int q;

        q = rtnl_parse_default_route(h, found, ELEMENTSOF(found), &n);
        if (q < 0)
                return q;
        for (size_t i = 0; i < n; i++) {
                bool seen = false;

                for (size_t j = 0; j < d->n && !seen; j++)
                        seen = d->ifindexes[j] == found[i];
                if (seen)
                        continue;
                if (greedy_realloc((void **) &d->ifindexes, &d->allocated, d->n + 1, sizeof(int)) < 0)
                        return -ENOMEM;
                d->ifindexes[d->n++] = found[i];
        }
        return 0;
}

int default_route_lookup_netlink(void *userdata, char ***ret_ifnames) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_close_ int fd = -EBADF;
        RouteIfindexes d = {};
        int q;

        if (!(names = calloc(1, sizeof(char *))))
                return -ENOMEM;
        fd = rtnl_open();
        if (fd < 0)
                return fd;
        /* A dump interrupted by a route change is retried once. */
        for (int attempt = 0;; attempt++) {
                q = rtnl_dump(fd, RTM_GETROUTE, AF_UNSPEC, collect_default_route, &d);
                if (q != -EAGAIN || attempt > 0)
                        break;
                d.n = 0;
        }
        for (size_t i = 0; q >= 0 && i < d.n; i++) {
                char name[IF_NAMESIZE];

                /* A link gone since the dump has no name: skipped. */
                if (if_indextoname(d.ifindexes[i], name) && strv_extend(&names, name) < 0)
                        q = -ENOMEM;
        }
        free(d.ifindexes);
        if (q < 0)
                return q;
        *ret_ifnames = TAKE_PTR(names);
        return 0;
}

/* ---- explaining --------------------------------------------------------- */

static bool name_ok(const char *s) {
        return !isempty(s) && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..") && strlen(s) < 128;
}

/* A block device reached from the device: one of its disks or partitions
 * (base is itself) or a holder stacked on one (base is the disk or
 * partition it was reached from). */
typedef struct BlockNode {
        char *name;
        const char *base;
        bool holder;
        bool has_dev;
        unsigned major, minor;
} BlockNode;

typedef struct Walk {
        const DeviceUsage *u;
        BlockNode *nodes;
        size_t n, allocated;
        char **reasons;
        unsigned n_reasons;
} Walk;

static void walk_done(Walk *w) {
        for (size_t i = 0; i < w->n; i++)
                free(w->nodes[i].name);
        free(w->nodes);
        strv_free(w->reasons);
}

static BlockNode *find_node(Walk *w, const char *name) {
        for (size_t i = 0; i < w->n; i++)
                if (streq(w->nodes[i].name, name))
                        return w->nodes + i;
        return NULL;
}

static int add_block(Walk *w, const char *name, const char *base, bool holder, unsigned depth) {
        _cleanup_strv_free_ char **holders = NULL;
        BlockNode *node;
        char path[512], buf[32];
        size_t idx;
        int q;

        if (!name_ok(name) || find_node(w, name) || depth > MAX_DEPTH)
                return 0;
        if (greedy_realloc((void **) &w->nodes, &w->allocated, w->n + 1, sizeof(BlockNode)) < 0)
                return -ENOMEM;
        idx = w->n;
        node = w->nodes + w->n;
        *node = (BlockNode) { .name = strdup(name), .holder = holder };
        if (!node->name)
                return -ENOMEM;
        w->n++;
        node->base = base ? base : node->name;
        snprintf(path, sizeof(path), "class/block/%s/dev", name);
        if (sysfs_read_attr(w->u->sysfs_fd, path, buf, sizeof(buf)) > 0 &&
            sscanf(buf, "%u:%u", &node->major, &node->minor) == 2)
                node->has_dev = true;

        snprintf(path, sizeof(path), "class/block/%s/holders", name);
        q = sysfs_list_dir(w->u->sysfs_fd, path, &holders);
        if (q == -ENOMEM)
                return q;
        for (char **h = holders; q >= 0 && h && *h; h++) {
                /* w->nodes may move: take the base from its index. */
                q = add_block(w, *h, w->nodes[idx].base, true, depth + 1);
                if (q < 0)
                        return q;
        }
        return 0;
}

static int add_disk(Walk *w, const char *disk) {
        _cleanup_strv_free_ char **entries = NULL;
        _cleanup_free_ unsigned char *types = NULL;
        char path[512];
        int q;

        q = add_block(w, disk, NULL, false, 0);
        if (q < 0)
                return q;
        snprintf(path, sizeof(path), "class/block/%s", disk);
        if (!name_ok(disk) || sysfs_list_dir_typed(w->u->sysfs_fd, path, &entries, &types) < 0)
                return 0;
        for (size_t i = 0; entries[i]; i++) {
                const char *e = entries[i];

                /* Partitions are directories: no stat for each of the
                 * disk's ~30 attribute files, every tick. */
                if (types[i] != DT_DIR && types[i] != DT_UNKNOWN)
                        continue;
                snprintf(path, sizeof(path), "class/block/%s/%s/partition", disk, e);
                if (name_ok(e) && sysfs_exists(w->u->sysfs_fd, path) > 0) {
                        q = add_block(w, e, NULL, false, 0);
                        if (q < 0)
                                return q;
                }
        }
        return 0;
}

static int reason(Walk *w, const char *fmt, ...) _printf_(2, 3);
static int reason(Walk *w, const char *fmt, ...) {
        char *s;
        va_list ap;
        int q;

        va_start(ap, fmt);
        q = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (q < 0)
                return -ENOMEM;
        if (strv_contains(w->reasons, s)) {
                free(s);
                return 0;
        }
        w->n_reasons++;
        return strv_consume(&w->reasons, s);
}

/* "dm-1 over nvme0n1p3", or "nvme0n1p2". */
static void node_words(const BlockNode *n, char *buf, size_t size) {
        if (n->holder)
                snprintf(buf, size, "%s over %s", n->name, n->base);
        else
                snprintf(buf, size, "%s", n->name);
}

/* The node a /dev path names: /dev/X, or /dev/mapper/NAME through the dm
 * names in sysfs. */
static BlockNode *node_for_dev_path(Walk *w, const char *path) {
        const char *name;

        if (!path || strncmp(path, "/dev/", 5) != 0)
                return NULL;
        if (strncmp(path, "/dev/mapper/", 12) == 0) {
                name = path + 12;
                for (size_t i = 0; i < w->n; i++) {
                        char p[512], buf[256];

                        snprintf(p, sizeof(p), "class/block/%s/dm/name", w->nodes[i].name);
                        if (sysfs_read_attr(w->u->sysfs_fd, p, buf, sizeof(buf)) > 0 && streq(buf, name))
                                return w->nodes + i;
                }
                return NULL;
        }
        name = strrchr(path, '/') + 1;
        return find_node(w, name);
}

static int check_blocks(Walk *w) {
        _cleanup_strv_free_ char **named = NULL;
        _cleanup_strv_free_ char **btrfs = NULL;
        char words[300];
        int q;

        for (size_t i = 0; i < w->u->n_mounts; i++) {
                const MountEntry *m = w->u->mounts + i;
                BlockNode *n = NULL;

                if (m->major != 0)
                        for (size_t j = 0; j < w->n && !n; j++)
                                if (w->nodes[j].has_dev && w->nodes[j].major == m->major &&
                                    w->nodes[j].minor == m->minor)
                                        n = w->nodes + j;
                if (!n) /* btrfs shows an anonymous device number; its source names the disk */
                        n = node_for_dev_path(w, m->source);
                if (!n)
                        continue;
                node_words(n, words, sizeof(words));
                if ((q = reason(w, "backs %s (%s)", m->mount_point, words)) < 0 ||
                    (q = strv_extend(&named, n->name)) < 0)
                        return q;
        }
        for (char **s = w->u->swaps; s && *s; s++) {
                BlockNode *n = node_for_dev_path(w, *s);

                if (!n)
                        continue;
                node_words(n, words, sizeof(words));
                if ((q = reason(w, "backs swap (%s)", words)) < 0 || (q = strv_extend(&named, n->name)) < 0)
                        return q;
        }
        /* Every mounted btrfs file system lists its member devices. */
        if (sysfs_list_dir(w->u->sysfs_fd, "fs/btrfs", &btrfs) >= 0)
                for (char **fs = btrfs; *fs; fs++) {
                        _cleanup_strv_free_ char **members = NULL;
                        char path[512];

                        snprintf(path, sizeof(path), "fs/btrfs/%s/devices", *fs);
                        if (!name_ok(*fs) || sysfs_list_dir(w->u->sysfs_fd, path, &members) < 0)
                                continue;
                        for (char **m = members; *m; m++) {
                                BlockNode *n = find_node(w, *m);

                                if (!n || strv_contains(named, n->name))
                                        continue;
                                node_words(n, words, sizeof(words));
                                if ((q = reason(w, "backs btrfs file system %s (%s)", *fs, words)) < 0 ||
                                    (q = strv_extend(&named, n->name)) < 0)
                                        return q;
                        }
                }
        /* A holder (md, dm, LVM) stacked on the device is in use even
         * when nothing is mounted on it. */
        for (size_t i = 0; i < w->n; i++) {
                const BlockNode *n = w->nodes + i;

                if (!n->holder || strv_contains(named, n->name))
                        continue;
                if ((q = reason(w, "backs %s (md/dm/LVM over %s)", n->name, n->base)) < 0)
                        return q;
        }
        return 0;
}

static int add_iface(char ***set, const DeviceUsage *u, const char *name, unsigned depth) {
        _cleanup_strv_free_ char **entries = NULL;
        char path[512], master[128];
        int q;

        if (!name_ok(name) || strv_contains(*set, name) || depth > MAX_DEPTH)
                return 0;
        if (strv_extend(set, name) < 0)
                return -ENOMEM;
        snprintf(path, sizeof(path), "class/net/%s", name);
        if (sysfs_list_dir(u->sysfs_fd, path, &entries) >= 0)
                for (char **e = entries; *e; e++)
                        if (strncmp(*e, "upper_", 6) == 0 && (q = add_iface(set, u, *e + 6, depth + 1)) < 0)
                                return q;
        snprintf(path, sizeof(path), "class/net/%s/master", name);
        if (sysfs_read_link_name(u->sysfs_fd, path, master, sizeof(master)) >= 0)
                return add_iface(set, u, master, depth + 1);
        return 0;
}

static int check_ifaces(Walk *w, char *const *net_ifaces) {
        for (char *const *i = net_ifaces; i && *i; i++) {
                _cleanup_strv_free_ char **set = NULL;
                int q;

                q = add_iface(&set, w->u, *i, 0);
                if (q < 0)
                        return q;
                for (char **s = set; s && *s; s++) {
                        if (!strv_contains(w->u->route_ifaces, *s))
                                continue;
                        if (streq(*s, *i))
                                q = reason(w, "carries the default route (%s)", *s);
                        else
                                q = reason(w, "carries the default route (%s over %s)", *s, *i);
                        if (q < 0)
                                return q;
                }
        }
        return 0;
}

int device_usage_explain(const DeviceUsage *u, char *const *block_devs, char *const *net_ifaces, char **ret) {
        _cleanup_(walk_done) Walk w = { .u = u };
        size_t len = 1, shown;
        char *s;
        int q;

        *ret = NULL;
        for (char *const *d = block_devs; d && *d; d++)
                if ((q = add_disk(&w, *d)) < 0)
                        return q;
        if ((q = check_blocks(&w)) < 0 || (q = check_ifaces(&w, net_ifaces)) < 0)
                return q;
        if (w.n_reasons == 0)
                return 0;

        shown = w.n_reasons < MAX_REASONS ? w.n_reasons : MAX_REASONS;
        for (size_t i = 0; i < shown; i++)
                len += strlen(w.reasons[i]) + 2;
        len += 32;
        s = malloc(len);
        if (!s)
                return -ENOMEM;
        s[0] = '\0';
        for (size_t i = 0; i < shown; i++) {
                if (i)
                        strcat(s, "; ");
                strcat(s, w.reasons[i]);
        }
        if (w.n_reasons > shown)
                snprintf(s + strlen(s), 32, "; and %zu more", w.n_reasons - shown);
        *ret = s;
        return 0;
}

int device_usage_of(const DeviceUsage *u, const Device *d, char **ret) {
        return device_usage_explain(u, d->block_devs, d->net_ifaces, ret);
}
