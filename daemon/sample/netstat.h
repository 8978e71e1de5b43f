/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Per network interface packet and byte counts through rtnetlink (the
 * kernel's 64-bit IFLA_STATS64 where it sends them, see rtnl.h), and rates
 * between two samples.
 *
 * One NetStats holds a NETLINK_ROUTE socket and the last link dump of the
 * daemon's network namespace. netstat_refresh() re-dumps the links (one
 * RTM_GETLINK dump, once per tick); netstat_get() then reads one interface
 * from it without I/O. Interfaces are named as the kernel names them
 * ("eth0", the topology's Device.net_ifaces).
 *
 * An interface that is gone is -ENODEV; one that was re-created (a new
 * ifindex) or whose counters went down counts from zero.
 *
 * Errors carry a reason (the errno text) for the daemon's status.
 */

#include <stdint.h>

#include "rtnl.h"

typedef struct NetStats NetStats;

typedef RtnlLinkCounters NetCounters;

/* Opens the socket and fills the cache. Returns 0, or -errno and (when
 * ret_reason is not NULL) a reason the caller frees. */
int netstat_open(NetStats **ret, char **ret_reason);
NetStats *netstat_free(NetStats *n);
static inline void netstat_freep(NetStats **n) {
        netstat_free(*n);
}

/* Re-reads all links. Returns 0 or -errno with a reason; on failure the
 * cache keeps the previous sample. */
int netstat_refresh(NetStats *n, char **ret_reason);

/* Counters of one interface from the last refresh. -ENODEV when there is no
 * such interface, -EINVAL for an empty name. */
int netstat_get(NetStats *n, const char *ifname, NetCounters *ret);

typedef struct NetRate {
        uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;   /* between the samples */
        double rx_pps, tx_pps, rx_bytes_per_s, tx_bytes_per_s;
} NetRate;

/* Traffic between two samples interval_ns apart (per second values 0 for
 * a zero interval). */
void netstat_rate(const NetCounters *prev, const NetCounters *cur, uint64_t interval_ns,
                  NetRate *ret);
