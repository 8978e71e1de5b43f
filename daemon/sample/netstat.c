/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "netstat.h"
#include "util.h"

struct NetStats {
        struct nl_sock *sock;
        struct nl_cache *links;
};

static int nl_to_errno(int nlerr) {
        switch (nlerr < 0 ? -nlerr : nlerr) {
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_PERM:
        case NLE_NOACCESS:
                return -EPERM;
        case NLE_AGAIN:
        case NLE_DUMP_INTR:
                return -EAGAIN;
        case NLE_INTR:
                return -EINTR;
        case NLE_OPNOTSUPP:
        case NLE_AF_NOSUPPORT:
        case NLE_PROTO_MISMATCH:
                return -EOPNOTSUPP;
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
                return -ENODEV;
        default:
                return -EIO;
        }
}

static int fail(int nlerr, const char *what, char **ret_reason) {
        if (ret_reason && asprintf(ret_reason, "rtnetlink %s: %s", what, nl_geterror(nlerr)) < 0)
                *ret_reason = NULL;
        return nl_to_errno(nlerr);
}

int netstat_open(NetStats **ret, char **ret_reason) {
        NetStats *n;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (!(n = calloc(1, sizeof(NetStats))))
                return -ENOMEM;
        if (!(n->sock = nl_socket_alloc())) {
                netstat_free(n);
                return -ENOMEM;
        }
        r = nl_connect(n->sock, NETLINK_ROUTE);
        if (r < 0) {
                netstat_free(n);
                return fail(r, "socket", ret_reason);
        }
        /* A dump interrupted by a link change (NLE_DUMP_INTR) is retried
         * once; two in a row are reported. */
        for (int attempt = 0;; attempt++) {
                r = rtnl_link_alloc_cache(n->sock, AF_UNSPEC, &n->links);
                if (r >= 0)
                        break;
                if (-r != NLE_DUMP_INTR || attempt > 0) {
                        netstat_free(n);
                        return fail(r, "link dump", ret_reason);
                }
        }
        *ret = n;
        return 0;
}

NetStats *netstat_free(NetStats *n) {
        if (!n)
                return NULL;
        if (n->links)
                nl_cache_free(n->links);
        if (n->sock)
                nl_socket_free(n->sock);
        free(n);
        return NULL;
}

int netstat_refresh(NetStats *n, char **ret_reason) {
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        for (int attempt = 0;; attempt++) {
                r = nl_cache_refill(n->sock, n->links);
                if (r >= 0)
                        return 0;
                if (-r != NLE_DUMP_INTR || attempt > 0)
                        return fail(r, "link dump", ret_reason);
        }
}

int netstat_get(NetStats *n, const char *ifname, NetCounters *ret) {
        struct rtnl_link *link;

        if (isempty(ifname))
                return -EINVAL;
        link = rtnl_link_get_by_name(n->links, ifname);
        if (!link)
                return -ENODEV;
        *ret = (NetCounters) {
                .ifindex = rtnl_link_get_ifindex(link),
                .rx_packets = rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS),
                .tx_packets = rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS),
                .rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES),
                .tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES),
                .rx_dropped = rtnl_link_get_stat(link, RTNL_LINK_RX_DROPPED),
                .tx_dropped = rtnl_link_get_stat(link, RTNL_LINK_TX_DROPPED),
                .rx_errors = rtnl_link_get_stat(link, RTNL_LINK_RX_ERRORS),
                .tx_errors = rtnl_link_get_stat(link, RTNL_LINK_TX_ERRORS),
        };
        rtnl_link_put(link);
        return 0;
}

void netstat_rate(const NetCounters *prev, const NetCounters *cur, uint64_t interval_ns,
                  NetRate *ret) {
        static const NetCounters zero = {};
        NetRate r = {};

        /* Re-created, or counters reset: all from zero, so packets and bytes
         * stay consistent with each other. */
        if (prev->ifindex != cur->ifindex || cur->rx_packets < prev->rx_packets ||
            cur->tx_packets < prev->tx_packets || cur->rx_bytes < prev->rx_bytes ||
            cur->tx_bytes < prev->tx_bytes)
                prev = &zero;
        r.rx_packets = cur->rx_packets - prev->rx_packets;
        r.tx_packets = cur->tx_packets - prev->tx_packets;
        r.rx_bytes = cur->rx_bytes - prev->rx_bytes;
        r.tx_bytes = cur->tx_bytes - prev->tx_bytes;
        if (interval_ns > 0) {
                double s = (double) interval_ns / 1e9;

                r.rx_pps = (double) r.rx_packets / s;
                r.tx_pps = (double) r.tx_packets / s;
                r.rx_bytes_per_s = (double) r.rx_bytes / s;
                r.tx_bytes_per_s = (double) r.tx_bytes / s;
        }
        *ret = r;
}
