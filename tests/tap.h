/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A minimal TAP producer for the unit tests: every CHECK is one TAP test
 * point, so meson reports each assertion and a failing one names its line.
 * tap_done() prints the plan and returns the exit status.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void tap_check(bool ok, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_done(void);

/* The captured fixture trees: $FIXTURES (meson sets it), else
 * tests/fixtures from the source root. */
const char *fixtures_dir(void);

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_INT(got, want, what)                                                         \
        do {                                                                               \
                long long _g = (long long) (got), _w = (long long) (want);                 \
                tap_check(_g == _w, __FILE__, __LINE__, "%s: got %lld, want %lld", (what), \
                          _g, _w);                                                         \
        } while (0)

#define CHECK_U64(got, want, what)                                                      \
        do {                                                                            \
                uint64_t _g = (uint64_t) (got), _w = (uint64_t) (want);                 \
                tap_check(_g == _w, __FILE__, __LINE__, "%s: got 0x%" PRIx64            \
                          ", want 0x%" PRIx64, (what), _g, _w);                         \
        } while (0)

#define CHECK_STR(got, want, what)                                                    \
        do {                                                                          \
                const char *_g = (got), *_w = (want);                                 \
                tap_check(_g && _w ? strcmp(_g, _w) == 0 : _g == _w, __FILE__,        \
                          __LINE__, "%s: got \"%s\", want \"%s\"", (what),            \
                          _g ? _g : "(null)", _w ? _w : "(null)");                    \
        } while (0)
