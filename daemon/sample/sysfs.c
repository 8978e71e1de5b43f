/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "sysfs.h"
#include "util.h"

int sysfs_open_root(const char *path) {
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

static int open_relative(int dirfd, const char *path, int flags) {
        int fd;

        if (!path || path[0] == '/')
                return -EINVAL;
        fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int sysfs_read_attr(int dirfd, const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;

        if (size < 2)
                return -EINVAL;
        fd = open_relative(dirfd, path, O_RDONLY);
        if (fd < 0)
                return fd;
        /* sysfs hands out a whole attribute in one read, and a regular
         * file in a fixture gives a short read only at its end, so a read
         * that does not fill the buffer is the whole file. A full buffer is
         * checked for more. */
        for (;;) {
                ssize_t n = read(fd, buf + len, size - 1 - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                len += (size_t) n;
                if (n == 0 || len < size - 1)
                        break;
                if (len == size - 1) {
                        char extra;

                        n = read(fd, &extra, 1);
                        if (n > 0)
                                return -EFBIG;
                        break;
                }
        }
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                len--;
        buf[len] = '\0';
        return len == 0 ? -ENODATA : (int) len;
}

int sysfs_read_file(int dirfd, const char *path, size_t max_size, char **ret) {
        _cleanup_close_ int fd = -EBADF;

        fd = open_relative(dirfd, path, O_RDONLY);
        if (fd < 0)
                return fd;
        /* An attribute's size says nothing (4096, or 0): start at 16 KiB. */
        return read_fd_bounded(fd, 16384, max_size, ret);
}

int sysfs_read_u64(int dirfd, const char *path, uint64_t *ret) {
        char buf[64];
        int r = sysfs_read_attr(dirfd, path, buf, sizeof(buf));

        return r < 0 ? r : safe_atou64(buf, ret);
}

int sysfs_read_hex(int dirfd, const char *path, uint64_t *ret) {
        char buf[64];
        int r = sysfs_read_attr(dirfd, path, buf, sizeof(buf));

        return r < 0 ? r : safe_atoux64(buf, ret);
}

int sysfs_read_int(int dirfd, const char *path, int *ret) {
        char buf[64];
        int r = sysfs_read_attr(dirfd, path, buf, sizeof(buf));

        return r < 0 ? r : safe_atoi(buf, ret);
}

int sysfs_read_link_name(int dirfd, const char *path, char *buf, size_t size) {
        char target[4096];
        const char *base;
        ssize_t n;

        if (!path || path[0] == '/')
                return -EINVAL;
        n = readlinkat(dirfd, path, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        while (n > 1 && target[n - 1] == '/')
                target[--n] = '\0';
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (!*base)
                return -EINVAL;
        return strscpy_checked(buf, size, base);
}

int sysfs_list_dir_typed(int dirfd, const char *path, char ***ret, unsigned char **ret_types) {
        return sysfs_list_dir_inos(dirfd, path, ret, ret_types, NULL);
}

int sysfs_list_dir_inos(int dirfd, const char *path, char ***ret, unsigned char **ret_types, uint64_t **ret_inos) {
        _cleanup_close_ int fd = open_relative(dirfd, path, O_RDONLY | O_DIRECTORY);

        return fd < 0 ? fd : sysfs_list_open_dir_inos(fd, ret, ret_types, ret_inos);
}

int sysfs_list_open_dir(int fd, char ***ret, unsigned char **ret_types) {
        return sysfs_list_open_dir_inos(fd, ret, ret_types, NULL);
}

typedef struct DirEntry {
        char *name;
        uint64_t ino;
        unsigned char type;
} DirEntry;

static int cmp_dir_entry(const void *a, const void *b) {
        return strcmp(((const DirEntry *) a)->name, ((const DirEntry *) b)->name);
}

static void dir_entries_free(DirEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(e[i].name);
        free(e);
}

int sysfs_list_open_dir_inos(int fd, char ***ret, unsigned char **ret_types, uint64_t **ret_inos) {
        DirEntry *entries = NULL;
        size_t n = 0, allocated = 0;
        char **names = NULL;
        unsigned char *types = NULL;
        uint64_t *inos = NULL;
        char buf[16384] __attribute__((aligned(8)));
        int r = 0;

        /* getdents64 directly: no DIR stream, no fcntl, one buffer. */
        for (;;) {
                long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));

                if (got < 0) {
                        r = -errno;
                        goto fail;
                }
                if (got == 0)
                        break;
                for (long off = 0; off < got;) {
                        struct linux_dirent64 {
                                uint64_t d_ino;
                                int64_t d_off;
                                unsigned short d_reclen;
                                unsigned char d_type;
                                char d_name[];
                        } *de = (struct linux_dirent64 *) (buf + off);

                        off += de->d_reclen;
                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        if (greedy_realloc((void **) &entries, &allocated, n + 1, sizeof(*entries)) < 0)
                                goto enomem;
                        entries[n] = (DirEntry) { .name = strdup(de->d_name), .ino = de->d_ino, .type = de->d_type };
                        if (!entries[n].name)
                                goto enomem;
                        n++;
                }
        }
        if (n > 1)
                qsort(entries, n, sizeof(*entries), cmp_dir_entry);
        names = calloc(n + 1, sizeof(char *));
        if (!names)
                goto enomem;
        if (ret_types && !(types = malloc(n ? n : 1)))
                goto enomem;
        if (ret_inos && !(inos = calloc(n ? n : 1, sizeof(*inos))))
                goto enomem;
        for (size_t i = 0; i < n; i++) {
                names[i] = TAKE_PTR(entries[i].name);
                if (types)
                        types[i] = entries[i].type;
                if (inos)
                        inos[i] = entries[i].ino;
        }
        free(entries);
        *ret = names;
        if (ret_types)
                *ret_types = types;
        if (ret_inos)
                *ret_inos = inos;
        return (int) n;
enomem:
        r = -ENOMEM;
fail:
        dir_entries_free(entries, n);
        free(names);
        free(types);
        free(inos);
        return r;
}

int sysfs_list_dir(int dirfd, const char *path, char ***ret) {
        return sysfs_list_dir_typed(dirfd, path, ret, NULL);
}

int sysfs_exists(int dirfd, const char *path) {
        struct stat st;

        return fstatat(dirfd, path, &st, 0) == 0;
}
