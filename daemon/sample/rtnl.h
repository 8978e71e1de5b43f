/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * rtnetlink dumps, read directly from a NETLINK_ROUTE socket: the links'
 * names and 64-bit statistics (RTM_GETLINK) and the interfaces of the
 * default routes (RTM_GETROUTE). Two dumps are all the daemon asks of
 * rtnetlink, so it speaks the protocol itself (<linux/rtnetlink.h>) rather
 * than map libnl-3 and libnl-route (~530 KiB of the daemon's RSS for this).
 *
 * rtnl_dump() runs one dump and hands each message to a callback; the
 * parsers below are pure (a message in, fields out) so tests feed them
 * hand-built messages. A dump the kernel marks interrupted (a link or route
 * changed while it ran, NLM_F_DUMP_INTR) is -EAGAIN: the caller may retry.
 */

#include <linux/netlink.h>
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

/* A NETLINK_ROUTE socket (close-on-exec). Returns the fd or -errno. */
int rtnl_open(void);

typedef int (*RtnlMessageFn)(const struct nlmsghdr *h, void *userdata);

/* Sends a dump request of TYPE (RTM_GETLINK, RTM_GETROUTE) for FAMILY and
 * calls fn on each reply message until NLMSG_DONE; fn's negative return
 * ends the dump (its messages are still drained) and is returned. Returns 0,
 * -EAGAIN for an interrupted dump, the kernel's -errno (NLMSG_ERROR) or
 * -EBADMSG for a reply that is not a well-formed dump of that request. */
int rtnl_dump(int fd, uint16_t type, unsigned char family, RtnlMessageFn fn, void *userdata);

/* A link's counters as the kernel keeps them (IFLA_STATS64; the 32-bit
 * IFLA_STATS when a kernel sends only that). */
typedef struct RtnlLinkCounters {
        int ifindex;
        uint64_t rx_packets, tx_packets;
        uint64_t rx_bytes, tx_bytes;
        uint64_t rx_dropped, tx_dropped;
        uint64_t rx_errors, tx_errors;
} RtnlLinkCounters;

typedef struct RtnlLink {
        char name[IF_NAMESIZE];
        RtnlLinkCounters counters;
} RtnlLink;

/* An RTM_NEWLINK message. Returns 0, or -EBADMSG when it is not one or has
 * no name or statistics. */
int rtnl_parse_link(const struct nlmsghdr *h, RtnlLink *ret);

/* The output interfaces of an RTM_NEWROUTE message when it is a default
 * route: unicast, a destination prefix of length 0 (0.0.0.0/0, ::/0), any
 * table but the local one. Its nexthop (RTA_OIF) or each of its multipath
 * nexthops (RTA_MULTIPATH) is stored in ifindexes (up to max; ret_n says
 * how many, 0 for a route that is not a default one). Returns 0 or -EBADMSG.
 * As the kernel's own fib_dump_info() and inet6_fill_route() fill them. */
int rtnl_parse_default_route(const struct nlmsghdr *h, int *ifindexes, size_t max, size_t *ret_n);
