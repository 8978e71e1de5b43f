/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Logging: to the journal (with structured fields) when running under
 * systemd with stderr connected to the journal, else to stderr.
 * The *_errno variants take a positive or negative errno, append its text
 * via %m, and return the negative errno so callers can write
 *   return log_error_errno(r, "Failed to read %s: %m", path);
 */

#include <syslog.h>

#include "util.h"

/* Chooses the target: the journal when $JOURNAL_STREAM names our stderr. */
void log_setup(void);
void log_set_max_level(int level);
int log_get_max_level(void);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *fmt, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)

/* A switch (or advice) with the journal fields GROUP=, DEVICE=, OLD_TYPE=,
 * NEW_TYPE= and REASON=, so `journalctl GROUP=7` finds it. */
void log_switch_event(int level, unsigned group, const char *device, const char *old_type, const char *new_type,
                      const char *reason, const char *fmt, ...) _printf_(7, 8);

/* The value to hand back for a failure that was already logged. */
static inline int errno_negative(int e) {
        return e > 0 ? -e : e;
}
