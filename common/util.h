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

/* Reads dir_fd/name, a file in a directory the daemon keeps (its state
 * directory), without ever blocking: opened O_NONBLOCK | O_NOFOLLOW and read
 * only when it is a regular file of at most max_size bytes. Returns its
 * length with *ret a NUL-terminated copy, or -ENOENT, -ELOOP (a symbolic
 * link), -EBADFD (a FIFO, device, directory or socket), -EFBIG (larger than
 * max_size), -ENOMEM or another -errno. */
int read_regular_file_at(int dir_fd, const char *name, size_t max_size, char **ret);

/* Like mkdir -p: creates path and its missing parents with mode. 0 or -errno
 * (an existing directory is fine). */
int mkdir_parents(const char *path, mode_t mode);

/* Monotonic and realtime clocks, and the calling thread's CPU time, in
 * nanoseconds. */
uint64_t now_monotonic_ns(void);
uint64_t now_realtime_ns(void);
uint64_t now_thread_cpu_ns(void);
