/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..n) is valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), checked by hand, independently of the daemon's
 * own check: the oracle of test-protocol and the control-session fuzz
 * target. */
bool utf8_oracle_valid(const char *s, size_t n);
