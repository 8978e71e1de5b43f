/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Whether a device backs something that must not lose its driver: a
 * mounted file system (the root file system included), swap, an md, dm or
 * LVM device stacked on one of its disks, a btrfs file system it is a
 * member of, or the interface of a default route.
 *
 * device_usage_read() reads, once, the mounts (proc self/mountinfo), the
 * swaps (proc swaps) and the interfaces of the default routes (through a
 * lookup function: netlink in the daemon, a fixed answer in tests).
 * device_usage_explain() then walks one device's disks in sysfs (class/
 * block/<disk>, its partitions, their holders, recursively) and its
 * interfaces (and the bridges, bonds and VLANs stacked on them: class/net/
 * <if>/upper_* and master) and compares.
 *
 * Limits, by design conservative only where sysfs can tell: ZFS pools and
 * user-space users of a raw disk are not seen.
 */

#include <stdbool.h>

#include "topology.h"

/* Fills *ret_ifnames with the names of the interfaces that carry a default
 * route (0.0.0.0/0 or ::/0, any table but local); an empty strv when there
 * is none. Returns 0 or -errno. */
typedef int (*DefaultRouteLookup)(void *userdata, char ***ret_ifnames);

/* The real lookup: an rtnetlink route dump (rtnl.h), the interfaces named
 * by if_indextoname(). userdata unused. */
int default_route_lookup_netlink(void *userdata, char ***ret_ifnames);

typedef struct MountEntry {
        unsigned major, minor;
        char *mount_point;  /* unescaped */
        char *fstype;
        char *source;       /* unescaped; "none" and the like for virtual file systems */
} MountEntry;

/* Parses one line of mountinfo ("36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root rw").
 * Returns 0, -EBADMSG for a line it does not understand, -ENOMEM. */
int mountinfo_parse_line(const char *line, MountEntry *ret);
void mount_entry_done(MountEntry *m);
/* Parses /proc/swaps: the block device or file of every swap area,
 * unescaped, header skipped. Returns 0 or -ENOMEM. */
int swaps_parse(const char *text, char ***ret);

typedef struct DeviceUsage DeviceUsage;

/* Reads mounts, swaps and the default routes. proc_fd and sysfs_fd are
 * borrowed and must stay open as long as the DeviceUsage lives. lookup NULL
 * means netlink. An unreadable mountinfo or swaps fails (-errno): an
 * unknown usage is not "not in use"; a failing route lookup fails too.
 * Returns 0 or -errno. */
int device_usage_read(int proc_fd, int sysfs_fd, DefaultRouteLookup lookup, void *userdata, DeviceUsage **ret);
DeviceUsage *device_usage_free(DeviceUsage *u);
static inline void device_usage_freep(DeviceUsage **u) {
        device_usage_free(*u);
}

/* Why a device with these disks and interfaces must not be unbound: *ret
 * NULL when nothing was found, else a new string such as
 * "backs / (nvme0n1p2)" or "backs /home (dm-1 over nvme0n1p3); backs swap
 * (nvme0n1p4)" (at most three reasons, then "and N more"). Returns 0 or
 * -ENOMEM. */
int device_usage_explain(const DeviceUsage *u, char *const *block_devs, char *const *net_ifaces, char **ret);

/* The same for a device of the topology. */
int device_usage_of(const DeviceUsage *u, const Device *d, char **ret);
