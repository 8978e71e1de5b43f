/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdlib.h>

#include "tap.h"

static unsigned tap_count, tap_failed;

void tap_check(bool ok, const char *file, int line, const char *fmt, ...) {
        va_list ap;

        tap_count++;
        if (!ok)
                tap_failed++;
        char msg[4096];

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* One TAP line per check: a message quoting multi-line text would
         * otherwise spill lines TAP parsers do not understand. */
        for (char *p = msg; *p; p++)
                if (*p == '\n')
                        *p = '|';
        printf("%s %u - %s (%s:%d)\n", ok ? "ok" : "not ok", tap_count, msg, file, line);
}

void tap_diag(const char *fmt, ...) {
        va_list ap;

        fputs("# ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
}

int tap_done(void) {
        printf("1..%u\n", tap_count);
        if (tap_count == 0) {
                printf("# no checks ran\n");
                return 1;
        }
        return tap_failed ? 1 : 0;
}

const char *fixtures_dir(void) {
        const char *d = getenv("FIXTURES");

        return d ? d : "tests/fixtures";
}
