/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Manager owns the sd-event loop and everything hanging off it: the
 * configuration, the topology, the samplers, the monitoring tick, the
 * control socket, signals, and the conversation with systemd (READY,
 * STATUS, WATCHDOG).
 *
 * This header is what main() needs: create, open or start, run, free, and
 * one switch by hand. The Manager's parts have their own headers:
 * manager-internal.h (the object, for manager.c and manager-switch.c) and
 * serve/manager-serve.h (what the socket's answers and the metrics read and
 * ask of it). No other file reads its fields.
 */

#include <stdbool.h>

#include "group-switch.h"
#include "policy.h"

typedef struct ManagerOptions {
        const char *config_path;  /* main config file */
        const char *dropin_dir;   /* its conf.d, or NULL */
        bool config_required;     /* --config was given: the file must exist */
        const char *sysfs_root;
        const char *proc_root;
        const char *socket_path;  /* overrides [daemon] socket when set */
        const char *state_dir;    /* overrides [daemon] state_dir when set */
        bool read_only;           /* plans only (--dry-run): recovers nothing, saves
                                   * nothing, takes no lock on the state directory */
} ManagerOptions;

typedef struct Manager Manager;

/* Loads the config (errors are logged with file:line) and creates the
 * loop. Returns 0 or -errno. */
int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* The roots, the topology, the state (locked), and recovery of an
 * interrupted switch: what every start does first; --recover stops there.
 * Read-only (a dry run): no lock, no recovery. */
int manager_open(Manager *m);
/* Scans the topology, opens the control socket (socket-activated when
 * systemd passed one), arms the tick, and tells systemd it is ready. */
int manager_start(Manager *m);
/* Runs until SIGTERM/SIGINT; returns the loop's exit code. */
int manager_run(Manager *m);

/* For a one-off switch: everything manager_start() does before the loop
 * that a switch needs (manager_open(), device usage), and one decision per
 * group for its guard facts. */
int manager_prepare_switching(Manager *m);
/* The decision made for a group at the last decision (a tick, or
 * manager_prepare_switching()); NULL when there is none for it. */
const PolicyDecision *manager_decision(const Manager *m, unsigned group);
/* Switches one group by the switching engine, as the daemon would. */
int manager_switch_group(Manager *m, const PolicyDecision *d, GroupType to, bool dry_run, SwitchResult *ret);
/* Records a switch made by hand in the history, like the daemon's own. */
void manager_record_manual_switch(Manager *m, const PolicyDecision *d, const SwitchResult *res);
