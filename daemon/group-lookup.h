/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A group's gid by name, looked up in a child process.
 *
 * The group database is NSS: /etc/group, and on Debian systemd's dynamic
 * users (libnss_systemd), LDAP or sssd where a site adds them. Whatever
 * modules a lookup loads stay mapped in the process that made it for good
 * (libnss_systemd and its libm: ~650 KiB of resident pages, more than a
 * third of the daemon's own), and a module whose server does not answer
 * blocks it. So the daemon asks a child: the modules are mapped there and
 * go with it, and a lookup that does not finish in time is abandoned.
 */

#include <sys/types.h>

/* How long a lookup may take before the child is killed: the event loop
 * waits meanwhile, and the start makes two (admin and reader group) within
 * the service's WatchdogSec=30s. */
#define GROUP_LOOKUP_TIMEOUT_MS 5000

/* The gid of the group NAME. Returns 0, -ENOENT when there is no such
 * group, -ETIMEDOUT when the lookup took more than the timeout, or -errno
 * (the lookup's own error, or fork/pipe's). */
int group_lookup_gid(const char *name, gid_t *ret);
