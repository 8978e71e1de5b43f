/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <sys/stat.h>

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
        CHECK_INT(read_regular_file_at(dfd, "plain", 5, &text), 5, "a regular file of the bound's size");
        CHECK_STR(text, "hello", "... its text");
        free(text);
        text = NULL;
        CHECK_INT(read_regular_file_at(dfd, "plain", 4, &text), -EFBIG, "one byte over the bound: -EFBIG");
        CHECK(mkfifoat(dfd, "fifo", 0600) == 0, "mkfifo");
        CHECK_INT(read_regular_file_at(dfd, "fifo", 100, &text), -EBADFD, "a FIFO: -EBADFD, not waited on");
        CHECK(mkdirat(dfd, "sub", 0700) == 0, "mkdir");
        CHECK_INT(read_regular_file_at(dfd, "sub", 100, &text), -EBADFD, "a directory: -EBADFD");
        CHECK(symlinkat("plain", dfd, "link") == 0, "symlink");
        CHECK_INT(read_regular_file_at(dfd, "link", 100, &text), -ELOOP, "a symbolic link: -ELOOP");
        CHECK_INT(read_regular_file_at(dfd, "absent", 100, &text), -ENOENT, "absent: -ENOENT");
        CHECK(!text, "nothing returned on errors");
        (void) unlinkat(dfd, "plain", 0);
        (void) unlinkat(dfd, "fifo", 0);
        (void) unlinkat(dfd, "link", 0);
        (void) unlinkat(dfd, "sub", AT_REMOVEDIR);
        close(dfd);
        (void) rmdir(dir);
}

int main(void) {
        test_numbers();
        test_strv();
        test_strscpy();
        test_read_regular_file_at();
        return tap_done();
}
