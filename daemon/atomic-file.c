/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "atomic-file.h"
#include "util.h"

static int step(AtomicWriteHook hook, const char *name) {
        return hook ? hook(name) : 0;
}

static int write_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

typedef struct Buffer {
        const void *data;
        size_t len;
} Buffer;

static int fill_from_buffer(int fd, void *userdata) {
        const Buffer *b = userdata;

        return write_all(fd, b->data, b->len);
}

/* Creates, fills and syncs the temp file; the caller removes it on failure. */
static int write_temp(int dir_fd, const char *tmp, AtomicFill fill, void *userdata, AtomicWriteHook hook) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = step(hook, "open");
        if (r < 0)
                return r;
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;

        r = step(hook, "write");
        if (r == 0)
                r = fill(fd, userdata);
        if (r == 0)
                r = step(hook, "fsync");
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        /* A close error after a good fsync still means the data may be
         * gone (NFS reports write-back errors here). */
        if (close(TAKE_FD(fd)) < 0 && r == 0 && errno != EINTR)
                r = -errno;
        return r;
}

static bool plain_name(const char *name) {
        return !isempty(name) && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

int atomic_write_file_streamed(int dir_fd, const char *name, const char *tmp, AtomicFill fill, void *userdata,
                               AtomicWriteHook hook) {
        int r;

        if (!plain_name(name) || isempty(tmp) || strchr(tmp, '/') || !fill)
                return -EINVAL;
        (void) unlinkat(dir_fd, tmp, 0);
        r = write_temp(dir_fd, tmp, fill, userdata, hook);
        if (r == 0)
                r = step(hook, "rename");
        if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }

        r = step(hook, "fsync-dir");
        if (r == 0 && fsync(dir_fd) < 0)
                r = -errno;
        return r;
}

int atomic_write_file_via(int dir_fd, const char *name, const char *tmp, const void *data, size_t len,
                          AtomicWriteHook hook) {
        if (!data && len > 0)
                return -EINVAL;
        return atomic_write_file_streamed(dir_fd, name, tmp, fill_from_buffer, &(Buffer) { data, len }, hook);
}
