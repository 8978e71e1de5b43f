/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The safety guards checked before every group type switch, and by the
 * policy before it proposes one. Pure: plain facts in, a verdict per guard
 * with the reason in words out. Never touches a file.
 *
 * A switch of a group is allowed only when every guard passes for every
 * device in the group.
 */

#include <stdbool.h>
#include <stddef.h>

#include "topology.h"

typedef enum GuardId {
        GUARD_TRUSTED,         /* no lazy or identity for untrusted, external-facing or removable devices */
        GUARD_NOT_IN_USE,      /* no unbind of a device backing a mount, swap, md/dm/LVM, root or the default route, unless named */
        GUARD_KERNEL_STRICT,   /* no lazy where the kernel forced strict (caching mode, NpCache) unless allowed */
        GUARD_IDENTITY_NAMED,  /* identity only for a device the config names in a [device] section */
        GUARD_REBIND_ALLOWED,  /* unbind/rebind only where allow_rebind is yes for the device */
        GUARD_RATE_LIMIT,      /* at most max_switches_per_hour switches per device */
        _GUARD_MAX,
} GuardId;

/* What one device contributes to the decision. Filled by the caller from
 * the topology, the device-usage reader, the config and the history. */
typedef struct GuardDevice {
        const char *name;                    /* PCI address */
        Tristate untrusted;
        Tristate removable;
        bool external_facing;                /* behind an external-facing port (thunderbolt) */
        bool bound;                          /* has a driver now (so a rebind would unbind it) */
        const char *in_use;                  /* NULL, or why it must not be unbound: "backs / (nvme0n1p2)" */
        bool named_in_config;                /* a [device <name>] section exists */
        bool allow_rebind;                   /* effective allow_rebind */
        bool allow_lazy_when_kernel_forced_strict;
        unsigned max_switches_per_hour;      /* effective value */
        unsigned switches_last_hour;         /* from the history */
        bool strict_required;                /* policy = strict, or pinned strict: the hourly
                                              * cap never holds back a switch to DMA */
} GuardDevice;

/* What the kernel says about the group's unit. */
typedef struct GuardKernel {
        bool forced_strict;                  /* the kernel would not batch on this unit */
        const char *forced_strict_reason;    /* "Intel caching mode (virtualized IOMMU)", "AMD NpCache" */
} GuardKernel;

typedef struct GuardVerdict {
        GuardId id;
        bool applies;                        /* false: not relevant to this transition */
        bool passed;                         /* meaningful when applies */
        char reason[256];                    /* words, naming the device: "0000:07:00.0 is untrusted" */
} GuardVerdict;

/* Whether going from `from` to `to` needs the group's drivers unbound
 * (every change except DMA -> DMA-FQ, see KERNEL-NOTES). */
bool group_switch_needs_rebind(GroupType from, GroupType to);

/* Checks every guard for switching a group of n devices from `from` to
 * `to`. Fills ret[GUARD_x] for each guard and returns true when every
 * applicable guard passed. Every verdict gets a reason, also when it passed
 * or does not apply. A guard fails when any one device fails it; its reason
 * names the first such device and counts the others.
 *
 * from == to is no switch: no guard applies, every verdict passes, and the
 * result is true. kernel may be NULL (the kernel did not force strict).
 *
 * When each guard applies:
 *   TRUSTED         to is DMA-FQ or identity.
 *   NOT_IN_USE      the switch needs a rebind and at least one device is
 *                   bound; checks the bound devices.
 *   KERNEL_STRICT   to is DMA-FQ (passes when kernel->forced_strict is
 *                   false).
 *   IDENTITY_NAMED  to is identity.
 *   REBIND_ALLOWED  the switch needs a rebind and at least one device is
 *                   bound; checks the bound devices (an unbound device is
 *                   not unbound, so its allow_rebind does not matter).
 *   RATE_LIMIT      always but for a switch to DMA when a device has
 *                   strict_required (protection the config asks for is
 *                   never held back); fails for a device whose
 *                   switches_last_hour >= max_switches_per_hour (0 blocks
 *                   every switch). */
bool guards_check(GroupType from, GroupType to, const GuardDevice *devices, size_t n,
                  const GuardKernel *kernel, GuardVerdict ret[_GUARD_MAX]);

const char *guard_id_to_string(GuardId id); /* "trusted", "not-in-use", ... */
/* Whether a failing guard blocks a switch whatever happens at run time: it
 * rests on the devices (untrusted, external-facing, removable) or on the
 * kernel (forced strict) under the running config, so a pin cannot get past
 * it. The others (a device in use, rebind allowed, the hourly cap) may pass
 * later. */
bool guard_is_permanent(GuardId id);
