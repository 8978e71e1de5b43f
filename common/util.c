/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

int strscpy_checked(char *dst, size_t size, const char *src) {
        size_t n = strlen(src);

        if (n >= size)
                return -ENAMETOOLONG;
        memcpy(dst, src, n + 1);
        return 0;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        for (; l && l[n]; n++)
                ;
        return n;
}

int strv_consume(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **t;

        if (!s)
                return -ENOMEM;
        t = realloc(*l, (n + 2) * sizeof(char *));
        if (!t) {
                free(s);
                return -ENOMEM;
        }
        t[n] = s;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        return strv_consume(l, strdup(s));
}

bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l) {
        if (!l)
                return;
        qsort(l, strv_length(l), sizeof(char *), cmp_str);
}

char **strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
        return NULL;
}

int greedy_realloc(void **array, size_t *allocated, size_t need, size_t elem) {
        size_t n;
        void *p;

        if (need <= *allocated)
                return 0;
        n = need < 8 ? 8 : need * 2;
        if (n > SIZE_MAX / elem)
                return -ENOMEM;
        p = realloc(*array, n * elem);
        if (!p)
                return -ENOMEM;
        memset((char *) p + *allocated * elem, 0, (n - *allocated) * elem);
        *array = p;
        *allocated = n;
        return 0;
}

static int parse_u64_base(const char *s, int base, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!s)
                return -EINVAL;
        while (*s == ' ' || *s == '\t')
                s++;
        if (!isxdigit((unsigned char) *s)) /* no sign, no empty string */
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (end == s)
                return -EINVAL;
        while (*end && isspace((unsigned char) *end))
                end++;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        return parse_u64_base(s, 0, ret);
}

int safe_atoux64(const char *s, uint64_t *ret) {
        return parse_u64_base(s, 16, ret);
}

int safe_atoi(const char *s, int *ret) {
        bool neg = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        while (*s == ' ' || *s == '\t')
                s++;
        if (*s == '-') {
                neg = true;
                s++;
        }
        r = parse_u64_base(s, 10, &v);
        if (r < 0)
                return r;
        if (v > (uint64_t) INT_MAX + neg)
                return -ERANGE;
        *ret = neg ? (int) -(int64_t) v : (int) v;
        return 0;
}

int mkdir_parents(const char *path, mode_t mode) {
        char buf[4096];
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, path, n + 1);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static uint64_t now_ns(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

uint64_t now_monotonic_ns(void) {
        return now_ns(CLOCK_MONOTONIC);
}

uint64_t now_realtime_ns(void) {
        return now_ns(CLOCK_REALTIME);
}

uint64_t now_thread_cpu_ns(void) {
        return now_ns(CLOCK_THREAD_CPUTIME_ID);
}

int read_fd_bounded(int fd, size_t size_hint, size_t max_size, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;

        if (max_size > INT_MAX)
                return -EINVAL;
        for (;;) {
                ssize_t n;

                /* Room for one byte past the bound, so that more is seen,
                 * and for the NUL. */
                if (len + 1 >= allocated) {
                        size_t want = allocated ? allocated * 2 : size_hint + 2;
                        char *b;

                        if (want < 4096)
                                want = 4096;
                        if (want > max_size + 2)
                                want = max_size + 2;
                        if (len + 1 >= want)
                                return -EFBIG;
                        b = realloc(buf, want);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = want;
                }
                n = read(fd, buf + len, allocated - 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max_size)
                return -EFBIG;
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return (int) len;
}

int read_regular_file_at(int dir_fd, const char *name, size_t max_size, ReadFileFlags flags, char **ret,
                         mode_t *ret_mode) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (ret_mode)
                *ret_mode = 0;
        fd = openat(dir_fd, name,
                    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                            (flags & READ_FILE_FOLLOW_LINKS ? 0 : O_NOFOLLOW));
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (ret_mode)
                *ret_mode = st.st_mode;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;
        return read_fd_bounded(fd, (size_t) st.st_size, max_size, ret);
}

const char *file_type_words(mode_t mode) {
        return S_ISREG(mode)  ? "a regular file" :
               S_ISFIFO(mode) ? "a FIFO" :
               S_ISCHR(mode)  ? "a character device" :
               S_ISBLK(mode)  ? "a block device" :
               S_ISDIR(mode)  ? "a directory" :
               S_ISSOCK(mode) ? "a socket" :
               S_ISLNK(mode)  ? "a symbolic link" : "not a plain file";
}
