/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool to_journal;

/* systemd sets JOURNAL_STREAM=dev:inode for the stream it connected to our
 * stderr; only when it still is our stderr do we talk to the journal. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(void) {
        to_journal = stderr_is_journal();
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *fmt, ...) {
        char msg[2048];
        va_list ap;
        int saved = errno;

        if (level > max_level)
                return errno_negative(error);
        errno = error < 0 ? -error : error; /* for %m */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (to_journal) {
                /* Without an error the list ends at the NULL in ERRNO's place. */
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "CODE_FILE=%s", file,
                                "CODE_LINE=%d", line, "CODE_FUNC=%s", func,
                                error ? "ERRNO=%d" : NULL, error < 0 ? -error : error, NULL);
        } else
                fprintf(stderr, "%s\n", msg);
        errno = saved;
        return errno_negative(error);
}

void log_switch_event(int level, unsigned group, const char *device, const char *old_type, const char *new_type,
                      const char *reason, const char *fmt, ...) {
        char msg[2048];
        va_list ap;

        if (level > max_level)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (to_journal)
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "GROUP=%u", group, "DEVICE=%s", strna(device),
                                "OLD_TYPE=%s", strna(old_type), "NEW_TYPE=%s", strna(new_type), "REASON=%s",
                                strna(reason), NULL);
        else
                fprintf(stderr, "%s\n", msg);
}
