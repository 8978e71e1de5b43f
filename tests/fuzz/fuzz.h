/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Shared by the fuzz targets. Each fuzz-<name>.c defines the libFuzzer entry
 * point for one parser and is built twice: with libFuzzer (-Dfuzz=true,
 * clang; tests/fuzz/run), and with replay.c, which feeds it its seed corpus
 * and the crashes found so far (regress/<name>/) in the unit suite, so those
 * inputs also run under ASan and valgrind with any compiler.
 *
 * A target checks the parser's contract, not only that it survives: a
 * broken promise (a result that does not survive a round trip, an error
 * without its message) is reported and abort()s, which libFuzzer records
 * as a crash like any other.
 */

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                \
        do {                                                                            \
                if (!(cond)) {                                                          \
                        fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__,       \
                                __LINE__, #cond);                                       \
                        abort();                                                        \
                }                                                                       \
        } while (0)

/* A copy of the input in a buffer of exactly its size, so that ASan sees a
 * read past the end. Never NULL (a fuzz target has nothing better to do on
 * ENOMEM than to stop). */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t size) {
        uint8_t *p = malloc(size ? size : 1);

        if (!p)
                abort();
        memcpy(p, data, size);
        return p;
}

/* The input as a C string, as a file's text reaches the parsers: an
 * embedded NUL ends it, as it would end what they see of a file. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
        char *p = malloc(size + 1);

        if (!p)
                abort();
        memcpy(p, data, size);
        p[size] = '\0';
        return p;
}

/* Splits the input at its first NUL into two texts: two samples of a file
 * for the parsers that compare samples. Without a NUL, *ret_b is NULL. */
static inline char *fuzz_split(const uint8_t *data, size_t size, char **ret_b) {
        const uint8_t *nul = memchr(data, 0, size);

        *ret_b = nul ? fuzz_text(nul + 1, size - (size_t) (nul + 1 - data)) : NULL;
        return fuzz_text(data, nul ? (size_t) (nul - data) : size);
}

/* A memfd whose contents are set per input (fuzz_file_set()): the readers
 * that take a path read it as /proc/self/fd/N. One per target, made on
 * first use. */
static inline int fuzz_file(char *path, size_t size) {
        static int fd = -1;

        if (fd < 0) {
                fd = memfd_create("fuzz-input", MFD_CLOEXEC);
                if (fd < 0) {
                        perror("memfd_create");
                        abort();
                }
        }
        snprintf(path, size, "/proc/self/fd/%d", fd);
        return fd;
}

static inline void fuzz_file_set(int fd, const uint8_t *data, size_t size) {
        if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t) size)) {
                perror("memfd write");
                abort();
        }
}
