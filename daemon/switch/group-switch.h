/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Switching an IOMMU group between strict ("DMA"), lazy ("DMA-FQ") and
 * identity: the only code that changes the kernel's DMA translation.
 *
 * DMA -> DMA-FQ is written live, drivers bound. Every other change needs
 * every driver of the group unbound: the bound drivers are recorded in an
 * intent record (intent-log.h), each device is unbound, the type written,
 * each device bound back to the same driver (bind, else drivers_probe),
 * the type read back and every device checked to be bound again (a device
 * that lost its driver meanwhile is probed once more). When the type write
 * or a bind fails, the old type is put back and every device bound; when
 * even that fails, or a device stays without its driver, the group is
 * marked as needing attention and is refused until the mark is cleared:
 * nothing is retried in a loop. From the first unbind on, no failure (an
 * allocation's included) returns without binding the devices back.
 *
 * A device hot-removed during the switch has nothing left to bind; the
 * rest of the group is handled as usual and the message names it. When
 * every device of the group is gone (on the kernel the group's directory
 * goes with its last device, so the type write fails with ENOENT or
 * ENODEV), the switch ends FAILED with a message saying so, the intent
 * record removed and no mark: there is nothing to fix, and the group
 * number may come back with a device after a rescan.
 *
 * The group's devices and drivers are read fresh from sysfs at switch
 * time. The guards (guards.h) are checked before every switch with the
 * caller's facts about each device; a device the caller has no facts for
 * is refused, and a device sysfs shows untrusted counts as untrusted
 * whatever the facts say (the kernel's live DMA -> DMA-FQ path does not
 * check untrusted devices itself).
 *
 * group_switch_plan() computes the same decision and steps and writes
 * nothing (dry run).
 */

#include <stdbool.h>
#include <stddef.h>

#include "guards.h"
#include "kernel-write.h"
#include "topology.h"

typedef struct SwitchOptions {
        /* Guard facts per device, matched by name to the devices read from
         * sysfs. "bound" is taken from sysfs, not from here. */
        const GuardDevice *devices;
        size_t n_devices;
        const GuardKernel *kernel; /* NULL: the kernel forced nothing */
} SwitchOptions;

typedef enum SwitchOutcome {
        SWITCH_OUTCOME_PLANNED,         /* dry run: allowed, nothing written */
        SWITCH_OUTCOME_UNCHANGED,       /* the group has the type already */
        SWITCH_OUTCOME_REFUSED,         /* a guard or a precondition said no; nothing written */
        SWITCH_OUTCOME_DONE,            /* the group reads the new type, every device bound */
        SWITCH_OUTCOME_OTHER_TYPE,      /* the kernel took the write but the group reads another type;
                                         * every device bound */
        SWITCH_OUTCOME_FAILED,          /* not switched: the old type stands (rolled back), every device
                                         * bound; or the whole group was hot-removed */
        SWITCH_OUTCOME_NEEDS_ATTENTION, /* failed and could not be undone, or a device is left without its
                                         * driver; the group is marked */
        _SWITCH_OUTCOME_MAX,
} SwitchOutcome;

typedef struct SwitchResult {
        unsigned group;
        GroupType from, to;
        GroupType final_type;          /* read back at the end */
        char final_raw[32];            /* as read, "" when unreadable */
        SwitchOutcome outcome;
        int error;                     /* the first failure, -errno; 0 */
        bool needs_rebind;             /* the transition unbinds drivers */
        bool all_bound;                /* every device that had a driver has one at the end */
        bool needs_attention;
        bool guards_passed;
        GuardVerdict verdicts[_GUARD_MAX];
        char *message;                 /* one paragraph in words */
        char **steps;                  /* each step planned (dry run) or taken, in words */
} SwitchResult;

void switch_result_done(SwitchResult *r);
const char *switch_outcome_to_string(SwitchOutcome o); /* "done", "refused", ... */

/* Dry run. Fills *ret with the decision, the guard verdicts and the steps
 * a switch would take, and writes nothing. Returns 0 (PLANNED or
 * UNCHANGED), -ECANCELED (REFUSED), -EINVAL for a target other than DMA,
 * DMA-FQ or identity, -ENOMEM. */
int group_switch_plan(SwitchContext *ctx, unsigned group, GroupType to, const SwitchOptions *opts,
                      SwitchResult *ret);

/* Switches group to `to`. *ret is always filled (free with
 * switch_result_done()). Returns 0 for DONE and UNCHANGED, -ECANCELED when
 * refused, -EOPNOTSUPP for OTHER_TYPE, the first failure's -errno for FAILED
 * and NEEDS_ATTENTION, -EINVAL for a bad target, -ENOMEM. */
int group_switch(SwitchContext *ctx, unsigned group, GroupType to, const SwitchOptions *opts,
                 SwitchResult *ret);
