/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "util.h"

static void test_numbers(void) {
        uint64_t v = 0;
        int i = 0;

        CHECK(safe_atou64("42\n", &v) == 0 && v == 42, "decimal with newline");
        CHECK(safe_atou64("0x1f", &v) == 0 && v == 0x1f, "0x hex");
        CHECK_INT(safe_atou64("", &v), -EINVAL, "empty string");
        CHECK_INT(safe_atou64("-1", &v), -EINVAL, "negative");
        CHECK_INT(safe_atou64("12abc", &v), -EINVAL, "trailing garbage");
        CHECK_INT(safe_atou64("99999999999999999999999", &v), -ERANGE, "overflow");
        CHECK(safe_atoux64("d2008c40660462\n", &v) == 0 && v == 0xd2008c40660462ULL, "sysfs cap hex");
        CHECK(safe_atoux64("0x010802", &v) == 0 && v == 0x010802, "class with 0x");
        CHECK(safe_atoi("-1", &i) == 0 && i == -1, "negative int (numa_node)");
        CHECK_INT(safe_atoi("2147483648", &i), -ERANGE, "int overflow");
        CHECK(safe_atoi("-2147483648", &i) == 0 && i == (-2147483647 - 1), "INT_MIN");
}

static void test_strv(void) {
        _cleanup_strv_free_ char **l = NULL;

        CHECK_INT(strv_length(l), 0, "empty strv");
        CHECK_INT(strv_extend(&l, "b"), 0, "extend");
        CHECK_INT(strv_extend(&l, "a"), 0, "extend");
        strv_sort(l);
        CHECK_STR(l[0], "a", "sorted first");
        CHECK_STR(l[1], "b", "sorted second");
        CHECK(l[2] == NULL, "NULL-terminated");
        CHECK(strv_contains(l, "a") && !strv_contains(l, "c"), "contains");
}

static void test_strscpy(void) {
        char buf[4];

        CHECK_INT(strscpy_checked(buf, sizeof(buf), "abc"), 0, "fits");
        CHECK_INT(strscpy_checked(buf, sizeof(buf), "abcd"), -ENAMETOOLONG, "too long");
        CHECK_STR(buf, "abc", "unchanged after failure");
}

/* Never blocks, reads only regular files within the bound. */
static void test_read_regular_file_at(void) {
        char dir[] = "/tmp/test-util.XXXXXX";
        char *text = NULL;
        int dfd, fd;

        if (!mkdtemp(dir)) {
                CHECK(false, "mkdtemp");
                return;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fd = openat(dfd, "plain", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0 && write(fd, "hello", 5) == 5, "write a file");
        close(fd);
        CHECK_INT(read_regular_file_at(dfd, "plain", 5, 0, &text, NULL), 5, "a regular file of the bound's size");
        CHECK_STR(text, "hello", "... its text");
        free(text);
        text = NULL;
        CHECK_INT(read_regular_file_at(dfd, "plain", 4, 0, &text, NULL), -EFBIG, "one byte over the bound: -EFBIG");
        CHECK(mkfifoat(dfd, "fifo", 0600) == 0, "mkfifo");
        CHECK_INT(read_regular_file_at(dfd, "fifo", 100, 0, &text, NULL), -EBADFD, "a FIFO: -EBADFD, not waited on");
        CHECK(mkdirat(dfd, "sub", 0700) == 0, "mkdir");
        CHECK_INT(read_regular_file_at(dfd, "sub", 100, 0, &text, NULL), -EBADFD, "a directory: -EBADFD");
        CHECK(symlinkat("plain", dfd, "link") == 0, "symlink");
        CHECK_INT(read_regular_file_at(dfd, "link", 100, 0, &text, NULL), -ELOOP, "a symbolic link: -ELOOP");
        CHECK_INT(read_regular_file_at(dfd, "absent", 100, 0, &text, NULL), -ENOENT, "absent: -ENOENT");
        CHECK(!text, "nothing returned on errors");
        {
                mode_t mode = 0;

                CHECK_INT(read_regular_file_at(dfd, "fifo", 100, 0, &text, &mode), -EBADFD, "a FIFO again");
                CHECK(S_ISFIFO(mode), "... its mode is given back, to name it");
                CHECK_STR(file_type_words(mode), "a FIFO", "... named \"a FIFO\"");
                CHECK_INT(read_regular_file_at(dfd, "plain", 4, 0, &text, &mode), -EFBIG, "too large again");
                CHECK(S_ISREG(mode), "... its mode is given back");
                CHECK_INT(read_regular_file_at(dfd, "link", 100, READ_FILE_FOLLOW_LINKS, &text, &mode), 5,
                          "a symbolic link with READ_FILE_FOLLOW_LINKS: read through");
                CHECK_STR(text, "hello", "... the text of the file it names");
                free(text);
                text = NULL;
                CHECK(symlinkat("fifo", dfd, "fifolink") == 0, "symlink to the FIFO");
                CHECK_INT(read_regular_file_at(dfd, "fifolink", 100, READ_FILE_FOLLOW_LINKS, &text, NULL), -EBADFD,
                          "a link to a FIFO, followed: -EBADFD, not waited on");
                (void) unlinkat(dfd, "fifolink", 0);
        }
        fd = openat(dfd, "empty", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        close(fd);
        CHECK_INT(read_regular_file_at(dfd, "empty", 100, 0, &text, NULL), 0, "an empty file: length 0");
        CHECK(text && text[0] == '\0', "... and an empty string");
        free(text);
        text = NULL;
        (void) unlinkat(dfd, "empty", 0);
        (void) unlinkat(dfd, "plain", 0);
        (void) unlinkat(dfd, "fifo", 0);
        (void) unlinkat(dfd, "link", 0);
        (void) unlinkat(dfd, "sub", AT_REMOVEDIR);
        close(dfd);
        (void) rmdir(dir);
}

/* The bound holds for a stream whose size nothing tells (a pipe), past
 * the first buffer's 4 KiB. */
static void test_read_fd_bounded(void) {
        static char big[100000];
        char *text = NULL;
        int p[2];

        memset(big, 'x', sizeof(big));
        for (size_t max = sizeof(big) - 1; max <= sizeof(big); max++) {
                CHECK(pipe(p) == 0, "pipe");
                fflush(NULL); /* the child must not print what the parent buffered */
                if (fork() == 0) {
                        size_t off = 0;

                        close(p[0]);
                        while (off < sizeof(big)) {
                                ssize_t n = write(p[1], big + off, sizeof(big) - off);

                                if (n <= 0)
                                        _exit(0); /* the reader stopped early */
                                off += (size_t) n;
                        }
                        _exit(0);
                }
                close(p[1]);
                if (max < sizeof(big))
                        CHECK_INT(read_fd_bounded(p[0], 0, max, &text), -EFBIG,
                                  "100000 bytes from a pipe, bound 99999: -EFBIG");
                else {
                        CHECK_INT(read_fd_bounded(p[0], 0, max, &text), (int) sizeof(big),
                                  "100000 bytes from a pipe, bound 100000: all of them");
                        CHECK(text && memcmp(text, big, sizeof(big)) == 0 && text[sizeof(big)] == '\0',
                              "... as written, NUL-terminated");
                }
                free(text);
                text = NULL;
                close(p[0]);
                (void) wait(NULL);
        }
}

int main(void) {
        test_numbers();
        test_strv();
        test_strscpy();
        test_read_regular_file_at();
        test_read_fd_bounded();
        return tap_done();
}
