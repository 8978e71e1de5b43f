/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "atomic-file.h"
#include "kernel-write.h"
#include "log.h"
#include "util.h"

#ifndef SYSFS_MAGIC
#define SYSFS_MAGIC 0x62656572
#endif
#ifndef DEBUGFS_MAGIC
#define DEBUGFS_MAGIC 0x64626720
#endif

void switch_context_init(SwitchContext *ctx, int sysfs_fd, int state_fd) {
        *ctx = (SwitchContext) {
                .sysfs_fd = sysfs_fd,
                .state_fd = state_fd,
        };
}

int kernel_release_parse(const char *release, unsigned *ret_major, unsigned *ret_minor) {
        unsigned major, minor;
        int n = 0;

        if (!release || sscanf(release, "%u.%u%n", &major, &minor, &n) != 2 || n == 0)
                return -EINVAL;
        *ret_major = major;
        *ret_minor = minor;
        return 0;
}

/* A small proc file's first line, without its newline: "" when unreadable. */
static void read_proc_line(int proc_fd, const char *path, char *buf, size_t size) {
        _cleanup_free_ char *text = NULL;
        int r;

        buf[0] = '\0';
        r = read_regular_file_at(proc_fd, path, 4096, 0, &text, NULL);
        if (r <= 0)
                return;
        text[strcspn(text, "\n")] = '\0';
        if (strscpy_checked(buf, size, text) < 0)
                buf[0] = '\0';
}

int switch_context_read_kernel(SwitchContext *ctx, int proc_fd) {
        char buf[128];

        if (proc_fd < 0)
                return -EBADF;
        read_proc_line(proc_fd, "sys/kernel/random/boot_id", ctx->boot_id, sizeof(ctx->boot_id));
        read_proc_line(proc_fd, "sys/kernel/osrelease", buf, sizeof(buf));
        if (kernel_release_parse(buf, &ctx->kernel_major, &ctx->kernel_minor) < 0)
                ctx->kernel_major = ctx->kernel_minor = 0;
        return 0;
}

static const struct {
        const char *name;
        int error;
} errno_names[] = {
        { "EPERM", EPERM },   { "ENOENT", ENOENT }, { "EIO", EIO },       { "ENXIO", ENXIO },
        { "E2BIG", E2BIG },   { "ENOMEM", ENOMEM }, { "EACCES", EACCES }, { "EBUSY", EBUSY },
        { "EEXIST", EEXIST }, { "ENODEV", ENODEV }, { "EINVAL", EINVAL }, { "ENOSPC", ENOSPC },
        { "EROFS", EROFS },   { "EAGAIN", EAGAIN }, { "EINTR", EINTR },   { "ENOTSUP", ENOTSUP },
        { "EFAULT", EFAULT }, { "ETIMEDOUT", ETIMEDOUT },
};

int errno_from_name(const char *s) {
        int e;

        if (isempty(s))
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (streq(errno_names[i].name, s))
                        return errno_names[i].error;
        if (safe_atoi(s, &e) < 0 || e <= 0 || e > 4095)
                return -EINVAL;
        return e;
}

const char *errno_to_name(int error) {
        if (error < 0)
                error = -error;
        for (size_t i = 0; i < ELEMENTSOF(errno_names); i++)
                if (errno_names[i].error == error)
                        return errno_names[i].name;
        return NULL;
}

int switch_context_test_hooks_from_env(SwitchContext *ctx) {
        const char *crash = getenv("IOMMUTUNED_TEST_CRASH_AT_STEP");
        const char *fail = getenv("IOMMUTUNED_TEST_FAIL_AT_STEP");
        const char *pause = getenv("IOMMUTUNED_TEST_PAUSE_AT_STEP");
        uint64_t crash_step = 0, fail_step = 0, pause_step = 0;
        int fail_errno = 0;

        if (!crash && !fail && !pause)
                return 0;
        if (crash && (safe_atou64(crash, &crash_step) < 0 || crash_step == 0 || crash_step > 1000000))
                return -EINVAL;
        if (pause && (safe_atou64(pause, &pause_step) < 0 || pause_step == 0 || pause_step > 1000000))
                return -EINVAL;
        if (fail) {
                const char *colon = strchr(fail, ':');
                char num[32];

                if (!colon || (size_t) (colon - fail) >= sizeof(num))
                        return -EINVAL;
                memcpy(num, fail, colon - fail);
                num[colon - fail] = '\0';
                if (safe_atou64(num, &fail_step) < 0 || fail_step == 0 || fail_step > 1000000)
                        return -EINVAL;
                fail_errno = errno_from_name(colon + 1);
                if (fail_errno < 0)
                        return -EINVAL;
        }
        ctx->crash_at_step = (unsigned) crash_step;
        ctx->pause_at_step = (unsigned) pause_step;
        ctx->fail_at_step = (unsigned) fail_step;
        ctx->fail_errno = fail_errno;
        return 1;
}

const char *kernel_write_kind_to_string(KernelWriteKind kind) {
        static const char *const names[_KERNEL_WRITE_KIND_MAX] = {
                [KERNEL_WRITE_ATTR] = "write",
                [KERNEL_WRITE_STATE_REPLACE] = "replace",
                [KERNEL_WRITE_STATE_REMOVE] = "remove",
                [KERNEL_WRITE_STATE_RENAME] = "rename",
        };

        return kind >= 0 && kind < _KERNEL_WRITE_KIND_MAX ? names[kind] : "?";
}

/* A relative path without "." or ".." components. */
static bool attr_path_ok(const char *path) {
        const char *p = path;

        if (isempty(path) || path[0] == '/')
                return false;
        while (*p) {
                size_t n = strcspn(p, "/");

                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
                if (*p == '/' && *++p == '\0')
                        return false; /* a trailing slash */
        }
        return true;
}

/* A plain file name in the state directory: no slash, not hidden (the
 * temp files are). */
static bool state_name_ok(const char *name) {
        return !isempty(name) && name[0] != '.' && !strchr(name, '/') && strlen(name) < 200;
}

/* A temp file left by a replace that was stopped half-way: ".NAME.tmp". */
static bool state_temp_name_ok(const char *name) {
        size_t n = name ? strlen(name) : 0;

        return n > 5 && name[0] == '.' && state_name_ok(name + 1) && streq(name + n - 4, ".tmp");
}

static int do_write_attr(int dirfd, const char *path, const char *value) {
        _cleanup_close_ int fd = -EBADF;
        struct statfs sfs;
        struct stat st;
        size_t len = strlen(value);
        ssize_t n;

        fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
                return -errno;
        /* kernfs refuses a write to an attribute without write bits even
         * for root; a fixture file owned by root would not. */
        if (!(st.st_mode & 0222))
                return -EACCES;
        /* A fixture (any other file system) holds what was written last. */
        if ((unsigned long) sfs.f_type != SYSFS_MAGIC && (unsigned long) sfs.f_type != DEBUGFS_MAGIC &&
            S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)
                return -errno;
        /* A sysfs store takes the whole buffer in one write or fails. */
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

void kernel_write_temp_name(const char *name, char *buf, size_t size) {
        snprintf(buf, size, ".%s.tmp", name);
}

static int fsync_dir(int dirfd) {
        return fsync(dirfd) < 0 ? -errno : 0;
}

static int do_state_replace(SwitchContext *ctx, const char *name, const char *value) {
        char tmp[256];

        kernel_write_temp_name(name, tmp, sizeof(tmp));
        return atomic_write_file_via(ctx->state_fd, name, tmp, value, strlen(value), ctx->replace_hook);
}

static int do_state_replace_streamed(SwitchContext *ctx, const char *name, AtomicFill fill, void *userdata) {
        char tmp[256];

        kernel_write_temp_name(name, tmp, sizeof(tmp));
        return atomic_write_file_streamed(ctx->state_fd, name, tmp, fill, userdata, ctx->replace_hook);
}

static int do_state_remove(int dirfd, const char *name) {
        if (unlinkat(dirfd, name, 0) < 0)
                return errno == ENOENT ? 0 : -errno;
        return fsync_dir(dirfd);
}

static int do_state_rename(int dirfd, const char *from, const char *to) {
        if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) < 0) {
                if (errno != EINVAL && errno != ENOSYS)
                        return -errno;
                /* A file system without RENAME_NOREPLACE. */
                if (faccessat(dirfd, to, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                        return -EEXIST;
                if (renameat(dirfd, from, dirfd, to) < 0)
                        return -errno;
        }
        return fsync_dir(dirfd);
}

/* Counts the step and runs the hooks before it (see kernel-write.h).
 * Returns 0 to carry the write out, 1 when the write hook did, or -errno
 * to fail the step. value is NULL for a streamed replace. */
static int step_begin(SwitchContext *ctx, KernelWriteKind kind, const char *path, const char *value) {
        unsigned step;
        int r;

        if (kind != KERNEL_WRITE_ATTR && ctx->state_fd < 0)
                return -EBADF;

        step = ++ctx->steps;
        log_debug("step %u: %s %s%s%s", step, kernel_write_kind_to_string(kind), path,
                  value ? " <- " : "", value ? value : "");

        if (ctx->crash_at_step == step) {
                log_notice("Test hook: stopping with SIGKILL before step %u (%s %s).", step,
                           kernel_write_kind_to_string(kind), path);
                raise(SIGKILL);
                _exit(137); /* not reached */
        }
        if (ctx->pause_at_step == step) {
                log_notice("Test hook: stopping with SIGSTOP before step %u (%s %s); SIGCONT goes on.", step,
                           kernel_write_kind_to_string(kind), path);
                raise(SIGSTOP);
        }
        if (ctx->fail_at_step == step && ctx->fail_errno > 0) {
                log_notice("Test hook: failing step %u (%s %s) with %s.", step,
                           kernel_write_kind_to_string(kind), path,
                           strna(errno_to_name(ctx->fail_errno)));
                return -ctx->fail_errno;
        }
        if (ctx->hook) {
                r = ctx->hook(ctx->hook_userdata, step, kind, path, value);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 1;
        }
        return 0;
}

int kernel_write(SwitchContext *ctx, KernelWriteKind kind, const char *path, const char *value) {
        int r;

        if (!ctx || !path)
                return -EINVAL;
        switch (kind) {
        case KERNEL_WRITE_ATTR:
                if (!attr_path_ok(path) || !value || ctx->sysfs_fd < 0)
                        return -EINVAL;
                break;
        case KERNEL_WRITE_STATE_REPLACE:
                if (!state_name_ok(path) || !value)
                        return -EINVAL;
                break;
        case KERNEL_WRITE_STATE_REMOVE:
                if (!state_name_ok(path) && !state_temp_name_ok(path))
                        return -EINVAL;
                break;
        case KERNEL_WRITE_STATE_RENAME:
                if (!state_name_ok(path) || !value || !state_name_ok(value))
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }

        r = step_begin(ctx, kind, path, value);
        if (r != 0)
                return r < 0 ? r : 0;

        switch (kind) {
        case KERNEL_WRITE_ATTR:
                return do_write_attr(ctx->sysfs_fd, path, value);
        case KERNEL_WRITE_STATE_REPLACE:
                return do_state_replace(ctx, path, value);
        case KERNEL_WRITE_STATE_REMOVE:
                return do_state_remove(ctx->state_fd, path);
        case KERNEL_WRITE_STATE_RENAME:
                return do_state_rename(ctx->state_fd, path, value);
        default:
                return -EINVAL;
        }
}

int kernel_write_replace_streamed(SwitchContext *ctx, const char *name, AtomicFill fill, void *userdata) {
        int r;

        if (!ctx || !state_name_ok(name) || !fill)
                return -EINVAL;

        r = step_begin(ctx, KERNEL_WRITE_STATE_REPLACE, name, NULL);
        if (r != 0)
                return r < 0 ? r : 0;
        return do_state_replace_streamed(ctx, name, fill, userdata);
}

int kernel_write_move_aside(SwitchContext *ctx, const char *name, const char *aside, char *ret_aside,
                            size_t size) {
        int r = -EEXIST;

        if (!ctx || !name || !aside || !ret_aside || size == 0)
                return -EINVAL;
        if (ctx->state_fd < 0)
                return -EBADF;
        /* Never over an earlier copy: that is evidence too. A name taken
         * is passed over before it costs a step. */
        for (unsigned i = 0; i < 1000 && r == -EEXIST; i++) {
                int n = i == 0 ? snprintf(ret_aside, size, "%s", aside) : snprintf(ret_aside, size, "%s.%u", aside, i);

                if (n < 0 || (size_t) n >= size)
                        return -ENAMETOOLONG;
                if (faccessat(ctx->state_fd, ret_aside, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                        continue;
                r = kernel_write(ctx, KERNEL_WRITE_STATE_RENAME, name, ret_aside);
        }
        if (r < 0)
                ret_aside[0] = '\0';
        return r;
}
