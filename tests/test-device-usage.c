/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a device backs, from fixture trees laid out as sysfs and procfs lay
 * them out: partitions, LVM/dm and md holders, mounts by device number and
 * by /dev path (btrfs), /dev/mapper names, btrfs members, swap, and the
 * interfaces of the default route through bonds and bridges. The route
 * lookup is a stub here; the netlink one only has to run.
 */
#include <fcntl.h>
#include <ftw.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "device-usage.h"
#include "tap.h"
#include "util.h"

static char root[256];

static void mkdir_p(const char *rel) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        mkdir(path, 0755);
                        *p = '/';
                }
        mkdir(path, 0755);
}

static void put(const char *rel, const char *text) {
        char path[1024], dir[1024];
        FILE *f;

        snprintf(dir, sizeof(dir), "%s", rel);
        if (strrchr(dir, '/')) {
                *strrchr(dir, '/') = '\0';
                mkdir_p(dir);
        }
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        f = fopen(path, "we");
        if (!f)
                abort();
        fputs(text, f);
        fclose(f);
}

/* A link at rel (a path under root) whose target is given as the kernel
 * writes it, relative to the link's directory. */
static void link_to(const char *rel, const char *target) {
        char path[1024], dir[1024];

        snprintf(dir, sizeof(dir), "%s", rel);
        *strrchr(dir, '/') = '\0';
        mkdir_p(dir);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        if (symlink(target, path) < 0)
                abort();
}

/* A disk under a PCI device, linked from sys/class/block like the kernel
 * does, with partitions (NULL-terminated "name:minor"). */
static void disk(const char *pci, const char *name, unsigned major, unsigned minor, const char *const *parts) {
        char rel[512], target[512], text[32];

        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/nvme/%s/dev", pci, name);
        snprintf(text, sizeof(text), "%u:%u\n", major, minor);
        put(rel, text);
        snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/nvme/%s/holders", pci, name);
        mkdir_p(rel);
        snprintf(rel, sizeof(rel), "sys/class/block/%s", name);
        snprintf(target, sizeof(target), "../../devices/pci0000:00/%s/nvme/%s", pci, name);
        link_to(rel, target);
        for (const char *const *p = parts; p && *p; p++) {
                char pname[64];
                unsigned pminor;

                sscanf(*p, "%63[^:]:%u", pname, &pminor);
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/nvme/%s/%s/dev", pci, name, pname);
                snprintf(text, sizeof(text), "%u:%u\n", major, pminor);
                put(rel, text);
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/nvme/%s/%s/partition", pci, name, pname);
                put(rel, "1\n");
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/nvme/%s/%s/holders", pci, name, pname);
                mkdir_p(rel);
                snprintf(rel, sizeof(rel), "sys/class/block/%s", pname);
                snprintf(target, sizeof(target), "../../devices/pci0000:00/%s/nvme/%s/%s", pci, name, pname);
                link_to(rel, target);
        }
}

/* A virtual block device (dm-N, mdN) stacked on `below` (a disk or
 * partition name). */
static void holder(const char *name, const char *dev, const char *dm_name, const char *below) {
        char rel[512], text[64];

        snprintf(rel, sizeof(rel), "sys/devices/virtual/block/%s/dev", name);
        snprintf(text, sizeof(text), "%s\n", dev);
        put(rel, text);
        if (dm_name) {
                snprintf(rel, sizeof(rel), "sys/devices/virtual/block/%s/dm/name", name);
                snprintf(text, sizeof(text), "%s\n", dm_name);
                put(rel, text);
        }
        snprintf(rel, sizeof(rel), "sys/devices/virtual/block/%s/holders", name);
        mkdir_p(rel);
        snprintf(rel, sizeof(rel), "sys/class/block/%s", name);
        {
                char target[256];

                snprintf(target, sizeof(target), "../../devices/virtual/block/%s", name);
                link_to(rel, target);
        }
        /* sys/class/block/<below>/holders/<name> -> the holder. */
        {
                char path[1024], target[512], resolved[1024];
                ssize_t n;

                snprintf(path, sizeof(path), "%s/sys/class/block/%s", root, below);
                n = readlink(path, target, sizeof(target) - 1);
                if (n < 0)
                        abort();
                target[n] = '\0';
                /* target is ../../devices/...; the holders dir is under it. */
                snprintf(resolved, sizeof(resolved), "sys/%s/holders/%s", target + 6, name);
                {
                        char up[256] = "", t2[512];
                        const char *p;

                        /* from sys/devices/.../<below>/holders/ back to sys/ */
                        for (p = strchr(resolved + 4, '/'); p; p = strchr(p + 1, '/'))
                                strcat(up, "../");
                        snprintf(t2, sizeof(t2), "%sdevices/virtual/block/%s", up, name);
                        link_to(resolved, t2);
                }
        }
}

static void iface(const char *name, const char *pci) {
        char rel[512], target[512];

        if (pci) {
                snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/net/%s/ifindex", pci, name);
                put(rel, "3\n");
                snprintf(target, sizeof(target), "../../devices/pci0000:00/%s/net/%s", pci, name);
        } else {
                snprintf(rel, sizeof(rel), "sys/devices/virtual/net/%s/ifindex", name);
                put(rel, "9\n");
                snprintf(target, sizeof(target), "../../devices/virtual/net/%s", name);
        }
        snprintf(rel, sizeof(rel), "sys/class/net/%s", name);
        link_to(rel, target);
}

/* upper is stacked on lower: lower/upper_<upper> (and master for bonds
 * and bridges), upper/lower_<lower>. */
static void stack(const char *lower, const char *upper, bool master) {
        char rel[512], target[256];

        snprintf(rel, sizeof(rel), "sys/class/net/%s/upper_%s", lower, upper);
        snprintf(target, sizeof(target), "../%s", upper);
        link_to(rel, target);
        if (master) {
                snprintf(rel, sizeof(rel), "sys/class/net/%s/master", lower);
                link_to(rel, target);
        }
        snprintf(rel, sizeof(rel), "sys/class/net/%s/lower_%s", upper, lower);
        snprintf(target, sizeof(target), "../%s", lower);
        link_to(rel, target);
}

static void build(void) {
        static const char *const p0[] = { "nvme0n1p1:1", "nvme0n1p2:2", "nvme0n1p3:3", "nvme0n1p4:4", NULL };
        static const char *const p3[] = { "nvme3n1p1:31", NULL };
        static const char *const p4[] = { "nvme4n1p1:41", NULL };
        static const char *const p6[] = { "nvme6n1p1:61", NULL };
        static const char *const p7[] = { "nvme7n1p1:71", "nvme7n1p2:72", "nvme7n1p3:73", "nvme7n1p4:74",
                                          "nvme7n1p5:75", NULL };

        snprintf(root, sizeof(root), "%s/device-usage-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        if (!mkdtemp(root))
                abort();
        disk("0000:01:00.0", "nvme0n1", 259, 0, p0);
        holder("dm-0", "253:0", "vg-home", "nvme0n1p3");
        disk("0000:02:00.0", "nvme1n1", 259, 10, NULL);
        holder("md0", "9:0", NULL, "nvme1n1");
        disk("0000:03:00.0", "nvme2n1", 259, 20, NULL);
        disk("0000:04:00.0", "nvme3n1", 259, 30, p3);
        disk("0000:05:00.0", "nvme4n1", 259, 40, p4);
        put("sys/fs/btrfs/0d1a7c56-a1b2-4c3d-9e8f-001122334455/devices/.keep", "");
        link_to("sys/fs/btrfs/0d1a7c56-a1b2-4c3d-9e8f-001122334455/devices/nvme3n1p1", "../../../../class/block/nvme3n1p1");
        link_to("sys/fs/btrfs/0d1a7c56-a1b2-4c3d-9e8f-001122334455/devices/nvme4n1p1", "../../../../class/block/nvme4n1p1");
        put("sys/fs/btrfs/features/.keep", "");
        disk("0000:06:00.0", "nvme5n1", 259, 50, NULL);
        holder("dm-1", "253:1", "vg-swap", "nvme5n1");
        disk("0000:07:00.0", "nvme6n1", 259, 60, p6);
        holder("dm-2", "253:2", "crypt", "nvme6n1p1");
        disk("0000:08:00.0", "nvme7n1", 259, 70, p7);

        iface("ens1f0", "0000:10:00.0");
        iface("ens1f1", "0000:10:00.1");
        iface("eth9", "0000:11:00.0");
        iface("bond0", NULL);
        iface("br0", NULL);
        stack("ens1f1", "bond0", true);
        stack("bond0", "br0", true);

        put("proc/self/mountinfo",
            "21 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
            "22 21 259:1 / /boot/efi rw,relatime shared:2 - vfat /dev/nvme0n1p1 rw,fmask=0077\n"
            "23 21 253:0 / /home rw,relatime shared:3 - ext4 /dev/mapper/vg-home rw\n"
            "24 21 0:22 / /proc rw,nosuid shared:4 - proc proc rw\n"
            "25 21 0:45 / /data rw,relatime shared:5 - btrfs /dev/nvme4n1p1 rw,space_cache=v2\n"
            "26 21 0:46 / /srv rw - btrfs /dev/mapper/crypt rw\n"
            "27 21 0:23 / /run rw,nosuid,nodev - tmpfs tmpfs rw,mode=755\n"
            "28 21 259:71 / /mnt/my\\040disk rw - ext4 /dev/nvme7n1p1 rw\n"
            "29 21 259:72 / /a rw - ext4 /dev/nvme7n1p2 rw\n"
            "30 21 259:73 / /b rw - ext4 /dev/nvme7n1p3 rw\n"
            "31 21 259:74 / /c rw - ext4 /dev/nvme7n1p4 rw\n");
        put("proc/swaps",
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
            "/dev/nvme0n1p4                          partition\t8388604\t\t0\t\t-2\n"
            "/dev/dm-1                               partition\t4194300\t\t0\t\t-3\n"
            "/swap\\040file                          file\t\t1048572\t\t0\t\t-4\n");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int route_stub(void *userdata, char ***ret) {
        char **l = NULL;
        const char *const *names = userdata;

        if (!names)
                return -EIO;
        if (!(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        for (; *names; names++)
                if (strv_extend(&l, *names) < 0) {
                        strv_free(l);
                        return -ENOMEM;
                }
        *ret = l;
        return 0;
}

static void test_parsers(void) {
        MountEntry m = {};
        char **swaps = NULL;

        CHECK(mountinfo_parse_line("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
                                   &m) == 0 && m.major == 98 && m.minor == 0 && streq(m.mount_point, "/mnt2") &&
              streq(m.fstype, "ext3") && streq(m.source, "/dev/root"), "the kernel's documentation example");
        mount_entry_done(&m);
        CHECK(mountinfo_parse_line("36 35 8:1 / /mnt/a\\040b\\011c rw shared:1 master:2 propagate_from:3 - xfs /dev/sda1 rw",
                                   &m) == 0 && streq(m.mount_point, "/mnt/a b\tc") && streq(m.fstype, "xfs"),
              "escapes and several optional fields");
        mount_entry_done(&m);
        CHECK(mountinfo_parse_line("36 35 8:1 / / rw - ext4 /dev/sda1 rw", &m) == 0 && streq(m.mount_point, "/"),
              "no optional fields");
        mount_entry_done(&m);
        CHECK(mountinfo_parse_line("36 35 8:1 / / rw ext4 /dev/sda1 rw", &m) == -EBADMSG, "no separator: refused");
        CHECK(mountinfo_parse_line("36 35 8x1 / / rw - ext4 /dev/sda1 rw", &m) == -EBADMSG, "bad maj:min: refused");
        CHECK(mountinfo_parse_line("36 35 8:1 / / rw -", &m) == -EBADMSG, "truncated: refused");
        CHECK(mountinfo_parse_line("", &m) == -EBADMSG, "empty: refused");

        CHECK(swaps_parse("Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition 100 0 -2\n/var/swap\\040x file 1 0 -3\n",
                          &swaps) == 0 && strv_length(swaps) == 2 && streq(swaps[0], "/dev/sda2") &&
              streq(swaps[1], "/var/swap x"), "swaps: header skipped, escapes undone");
        strv_free(swaps);
        CHECK(swaps_parse("Filename\tType\tSize\tUsed\tPriority\n", &swaps) == 0 && strv_length(swaps) == 0,
              "swaps: none");
        strv_free(swaps);
}

static void expect(const DeviceUsage *u, const char *disk_name, const char *ifname, const char *want,
                   const char *what) {
        char *disks[] = { (char *) disk_name, NULL }, *ifs[] = { (char *) ifname, NULL };
        char *got = NULL;
        int q = device_usage_explain(u, disk_name ? disks : NULL, ifname ? ifs : NULL, &got);

        CHECK(q == 0, "%s: explain returns 0", what);
        CHECK_STR(got, want, what);
        free(got);
}

static void test_usage(void) {
        static const char *const routes[] = { "ens1f0", "br0", NULL };
        _cleanup_close_ int sys = -1, proc = -1;
        DeviceUsage *u = NULL;
        char path[512];
        int q;

        build();
        snprintf(path, sizeof(path), "%s/sys", root);
        sys = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        snprintf(path, sizeof(path), "%s/proc", root);
        proc = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

        q = device_usage_read(proc, sys, route_stub, (void *) routes, &u);
        CHECK(q == 0 && u, "read the fixture");
        if (!u)
                return;

        expect(u, "nvme0n1", NULL,
               "backs / (nvme0n1p2); backs /boot/efi (nvme0n1p1); backs /home (dm-0 over nvme0n1p3); and 1 more",
               "root disk: /, /boot/efi, /home on LVM, swap");
        expect(u, "nvme1n1", NULL, "backs md0 (md/dm/LVM over nvme1n1)", "an md member with nothing mounted");
        expect(u, "nvme2n1", NULL, NULL, "a disk nobody uses");
        expect(u, "nvme3n1", NULL, "backs btrfs file system 0d1a7c56-a1b2-4c3d-9e8f-001122334455 (nvme3n1p1)",
               "a btrfs member not named in mountinfo");
        expect(u, "nvme4n1", NULL, "backs /data (nvme4n1p1)", "btrfs with an anonymous device number: by source");
        expect(u, "nvme5n1", NULL, "backs swap (dm-1 over nvme5n1)", "swap on LVM");
        expect(u, "nvme6n1", NULL, "backs /srv (dm-2 over nvme6n1p1)", "a /dev/mapper source");
        expect(u, "nvme7n1", NULL, "backs /mnt/my disk (nvme7n1p1); backs /a (nvme7n1p2); backs /b (nvme7n1p3); and 1 more",
               "many mounts: three shown");
        expect(u, "nvme99n1", NULL, NULL, "a disk sysfs does not know");
        expect(u, "../x", NULL, NULL, "a bad name");
        expect(u, NULL, "ens1f0", "carries the default route (ens1f0)", "the default route's interface");
        expect(u, NULL, "ens1f1", "carries the default route (br0 over ens1f1)", "a bond member under the bridge");
        expect(u, NULL, "eth9", NULL, "an interface without the route");
        expect(u, NULL, NULL, NULL, "nothing at all");

        {
                char *disks[] = { (char *) "nvme5n1", NULL }, *ifs[] = { (char *) "ens1f0", NULL };
                Device d = { .name = (char *) "0000:06:00.0", .block_devs = disks, .net_ifaces = ifs };
                char *got = NULL;

                CHECK(device_usage_of(u, &d, &got) == 0 && streq_ptr(got, "backs swap (dm-1 over nvme5n1); carries the default route (ens1f0)"),
                      "a topology device: %s", strna(got));
                free(got);
        }
        device_usage_free(u);

        /* No route at all; a failing lookup; a missing mountinfo; no swaps. */
        {
                static const char *const none[] = { NULL };

                CHECK(device_usage_read(proc, sys, route_stub, (void *) none, &u) == 0, "no default route");
                expect(u, NULL, "ens1f0", NULL, "then no interface carries it");
                device_usage_free(u);
                u = NULL;
                CHECK(device_usage_read(proc, sys, route_stub, NULL, &u) == -EIO && !u, "a failing lookup fails the read");
        }
        snprintf(path, sizeof(path), "%s/proc/swaps", root);
        unlink(path);
        CHECK(device_usage_read(proc, sys, route_stub, (void *) routes, &u) == 0, "a kernel without swap");
        device_usage_free(u);
        u = NULL;
        snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
        unlink(path);
        CHECK(device_usage_read(proc, sys, route_stub, (void *) routes, &u) == -ENOENT && !u,
              "no mountinfo: an error, not \"unused\"");
        put("proc/self/mountinfo", "garbage\n");
        CHECK(device_usage_read(proc, sys, route_stub, (void *) routes, &u) == -EBADMSG && !u,
              "a mountinfo line not understood: an error");

        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The interfaces of IPv4 default routes in the main table, as
 * /proc/net/route lists them (destination and mask 00000000). */
static char **proc_net_route_defaults(void) {
        FILE *f = fopen("/proc/net/route", "re");
        char **names = f ? calloc(1, sizeof(char *)) : NULL;
        char line[512];

        while (names && fgets(line, sizeof(line), f)) {
                char ifname[64], dst[16], gw[16], mask[16];
                unsigned flags;

                if (sscanf(line, "%63s %15s %15s %x %*s %*s %*s %15s", ifname, dst, gw, &flags, mask) == 5 &&
                    streq(dst, "00000000") && streq(mask, "00000000") && (flags & RTF_UP) && !streq(ifname, "*") &&
                    !strv_contains(names, ifname) &&
                    strv_extend(&names, ifname) < 0)
                        names = strv_free(names);
        }
        if (f)
                fclose(f);
        return names;
}

static void test_netlink(void) {
        _cleanup_strv_free_ char **names = NULL, **proc_defaults = proc_net_route_defaults();
        int q = default_route_lookup_netlink(NULL, &names);

        CHECK(q == 0, "the rtnetlink route lookup: %s", q == 0 ? "ok" : strerror(-q));
        if (q != 0)
                return;
        CHECK(names != NULL, "an empty list or names");
        for (char **p = names; p && *p; p++)
                tap_diag("default route via %s", *p);
        /* The lookup sees every table and IPv6 too: it holds at least
         * what /proc/net/route shows. */
        CHECK(proc_defaults != NULL, "/proc/net/route read");
        for (char **p = proc_defaults; p && *p; p++)
                CHECK(strv_contains(names, *p), "the IPv4 default route via %s (/proc/net/route) is found", *p);
}

int main(void) {
        test_parsers();
        test_usage();
        test_netlink();
        return tap_done();
}
