/* SPDX-License-Identifier: GPL-2.0-or-later */
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

int main(void) {
        test_numbers();
        test_strv();
        test_strscpy();
        return tap_done();
}
