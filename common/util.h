/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Small helpers shared by every module: cleanup attributes, array sizing,
 * string vectors. Nothing here touches the file system.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

/* Hands a pointer over to someone else: returns it and clears the variable,
 * so a cleanup attribute on the variable no longer frees it. */
#define TAKE_PTR(p)                        \
        ({                                 \
                __typeof__(p) _p_ = (p);   \
                (p) = NULL;                \
                _p_;                       \
        })

/* Hands a file descriptor over: returns it and sets the variable to -EBADF. */
#define TAKE_FD(fd)                        \
        ({                                 \
                int _fd_ = (fd);           \
                (fd) = -EBADF;             \
                _fd_;                      \
        })

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}
static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

/* Copies src into a fixed buffer; returns -ENAMETOOLONG (and copies nothing)
 * when it does not fit. */
int strscpy_checked(char *dst, size_t size, const char *src);

/* A NULL-terminated, heap-allocated vector of heap strings. */
typedef char **strv_t;
size_t strv_length(char *const *l);
/* Appends a copy of s; returns 0 or -ENOMEM. */
int strv_extend(char ***l, const char *s);
/* Appends s itself (takes ownership, also on failure); 0 or -ENOMEM. */
int strv_consume(char ***l, char *s);
bool strv_contains(char *const *l, const char *s);
void strv_sort(char **l);
char **strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Grows *array (of *allocated elements of size elem) to hold at least need
 * elements; returns 0 or -ENOMEM. */
int greedy_realloc(void **array, size_t *allocated, size_t need, size_t elem);

/* Parses an unsigned decimal or 0x-prefixed hex number, optionally followed
 * by whitespace (a trailing newline from sysfs). Returns -EINVAL for anything
 * else and -ERANGE on overflow. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi(const char *s, int *ret);
/* Hex with or without 0x, as sysfs prints cap registers and ids. */
int safe_atoux64(const char *s, uint64_t *ret);

/* Reads fd from where it stands to its end into a NUL-terminated buffer,
 * growing it from size_hint (what the caller expects, 0 when unknown) up to
 * max_size bytes (at most INT_MAX): a whole-file read that no file can
 * swamp. Returns the length with *ret the text (it may hold NUL bytes: the
 * length tells), -EFBIG when there is more than max_size, -ENOMEM, or
 * read()'s -errno (EINTR is retried). */
int read_fd_bounded(int fd, size_t size_hint, size_t max_size, char **ret);

typedef enum ReadFileFlags {
        /* Follow a symbolic link (the config, where /etc may link a file);
         * without it a link is refused with -ELOOP (the state directory). */
        READ_FILE_FOLLOW_LINKS = 1 << 0,
} ReadFileFlags;

/* The one reader of a whole file the daemon keeps or is given (its state
 * directory, its config): it never blocks and is never swamped. Opened
 * O_NONBLOCK (a FIFO's open does not wait for a writer) and read (with
 * read_fd_bounded()) only when it is a regular file of at most max_size
 * bytes; a file that grew past max_size while read is caught too. Returns
 * its length with *ret a NUL-terminated copy, or -ENOENT, -ELOOP (a
 * symbolic link, without READ_FILE_FOLLOW_LINKS), -EBADFD (a FIFO, device,
 * directory or socket), -EFBIG (larger than max_size), -ENOMEM or another
 * -errno. *ret_mode (may be NULL) gets the file's st_mode once it was
 * opened (on -EBADFD and -EFBIG too, so that the caller can name what it
 * found; see file_type_words()), else 0. */
int read_regular_file_at(int dir_fd, const char *name, size_t max_size, ReadFileFlags flags, char **ret,
                         mode_t *ret_mode);

/* "a FIFO", "a character device", "a block device", "a directory", "a
 * socket", "a symbolic link", "a regular file", for an error about a file
 * of the wrong type. */
const char *file_type_words(mode_t mode);

/* Like mkdir -p: creates path and its missing parents with mode. 0 or -errno
 * (an existing directory is fine). */
int mkdir_parents(const char *path, mode_t mode);

/* Monotonic and realtime clocks, and the calling thread's CPU time, in
 * nanoseconds. */
uint64_t now_monotonic_ns(void);
uint64_t now_realtime_ns(void);
uint64_t now_thread_cpu_ns(void);
