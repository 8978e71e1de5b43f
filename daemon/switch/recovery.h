/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Crash recovery at start (every start of the daemon, and iommutuned
 * --recover): finishes or rolls back each switch an intent record
 * (intent-log.h) says was interrupted.
 *
 * Recovery (intent_log_recover()) binds every recorded device
 * that is unbound to its recorded driver, under whatever type the group
 * has, which is the old type (the switch is rolled back) or the new one (the
 * kernel had switched: the switch is finished). Only when a device will not
 * bind under the new type does it write the old type back and bind again;
 * that needs every device of the group unbound. A device bound again may be
 * in use already, so recovery unbinds one only when the caller's may_unbind
 * says it is safe now (the daemon checks device-usage.h); without it, it
 * never unbinds, and such a group is marked as needing attention.
 */

#include "kernel-write.h"

/* Whether recovery may unbind bdf (recorded as bound to driver when the
 * switch began) again now: 1 yes, 0 no with *ret_why_not (may be left
 * NULL), -errno on failure (counts as no). */
typedef int (*RecoveryMayUnbind)(void *userdata, const char *bdf, const char *driver, char **ret_why_not);

typedef struct RecoveryOptions {
        RecoveryMayUnbind may_unbind; /* NULL: never unbind */
        void *userdata;
} RecoveryOptions;

typedef struct RecoveryReport {
        char **lines;          /* what was found and done, in words */
        unsigned n_records;    /* intent records found (corrupt ones included) */
        unsigned n_attention;  /* groups left needing attention */
} RecoveryReport;
void recovery_report_done(RecoveryReport *r);

/* Finishes or rolls back every intent record in the state directory and
 * removes it; a corrupt record is renamed to intent-group-N.json.corrupt
 * and every unbound PCI device of the group it names is bound (to the
 * recorded driver when that part could be read, else by drivers_probe);
 * a record from an earlier boot is removed, as the kernel started afresh;
 * stale temp files are removed. opts may be NULL. Logs what it does.
 * Returns 0 (also when
 * groups were left needing attention, see ret), or -ENOMEM, or -errno when
 * the state directory cannot be read. */
int intent_log_recover(SwitchContext *ctx, const RecoveryOptions *opts, RecoveryReport *ret);
