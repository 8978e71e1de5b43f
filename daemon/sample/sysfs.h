/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Reading kernel attribute files relative to a directory fd.
 *
 * Every reader in the daemon opens its root (/sys, /proc, debugfs) once and
 * reads everything relative to that fd, so a test can point the root at a
 * fixture tree and nothing reaches the real /sys by accident. Paths given
 * here are relative ("class/iommu"); an absolute path is rejected.
 */

#include <stddef.h>
#include <stdint.h>

/* Opens a root directory; returns an O_PATH|O_DIRECTORY fd or -errno. */
int sysfs_open_root(const char *path);

/* Reads a small attribute file into buf (NUL-terminated, trailing newline
 * removed). Returns the length, -ENODATA for an empty file (sysfs files
 * never are), -EFBIG when it does not fit, or -errno from open/read. */
int sysfs_read_attr(int dirfd, const char *path, char *buf, size_t size);

/* Reads a whole file of any size (for /proc/interrupts and the like) into a
 * fresh NUL-terminated buffer. Returns the length or -errno. */
int sysfs_read_file(int dirfd, const char *path, size_t max_size, char **ret);

/* Reads an attribute holding one unsigned number (decimal or 0x-hex). */
int sysfs_read_u64(int dirfd, const char *path, uint64_t *ret);
/* Reads an attribute holding a hex number with or without 0x (cap, ecap). */
int sysfs_read_hex(int dirfd, const char *path, uint64_t *ret);
int sysfs_read_int(int dirfd, const char *path, int *ret);

/* Reads a symlink and returns its last path component (the "nvme" of
 * driver -> ../../../bus/pci/drivers/nvme). -ENOENT when absent, -EINVAL
 * when the path is not a link. */
int sysfs_read_link_name(int dirfd, const char *path, char *buf, size_t size);

/* Lists the entries of a directory, sorted, without "." and "..".
 * Returns the count (the vector may be empty but is never NULL on success)
 * or -errno. */
int sysfs_list_dir(int dirfd, const char *path, char ***ret);
/* The same, also returning each entry's d_type (DT_DIR, DT_LNK, DT_REG,
 * or DT_UNKNOWN where the file system does not say) in a parallel array. */
int sysfs_list_dir_typed(int dirfd, const char *path, char ***ret, unsigned char **ret_types);
/* The same for a directory opened O_RDONLY|O_DIRECTORY and not yet read. */
int sysfs_list_open_dir(int fd, char ***ret, unsigned char **ret_types);
/* The same, also returning each entry's inode number (d_ino) in a parallel
 * array when ret_inos is not NULL (ret_types may be NULL). In sysfs (kernfs)
 * an inode number is not reused during a boot: an entry whose number
 * changed was removed and made anew. */
int sysfs_list_dir_inos(int dirfd, const char *path, char ***ret, unsigned char **ret_types, uint64_t **ret_inos);
int sysfs_list_open_dir_inos(int fd, char ***ret, unsigned char **ret_types, uint64_t **ret_inos);

/* 1 when path exists (a dangling link counts as absent), 0 when not. */
int sysfs_exists(int dirfd, const char *path);
