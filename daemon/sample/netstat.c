/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netstat.h"
#include "rtnl.h"
#include "util.h"

struct NetStats {
        int fd;                 /* NETLINK_ROUTE */
        RtnlLink *links;        /* the last complete dump */
        size_t n_links;
};

typedef struct LinkDump {
        RtnlLink *links;
        size_t n, allocated;
} LinkDump;

static int collect_link(const struct nlmsghdr *h, void *userdata) {
        LinkDump *d = userdata;
        RtnlLink l;

        /* A message rtnl_parse_link() cannot read is skipped: its
         * interface reads as gone to netstat_get(). */
        if (rtnl_parse_link(h, &l) < 0)
                return 0;
        if (greedy_realloc((void **) &d->links, &d->allocated, d->n + 1, sizeof(RtnlLink)) < 0)
                return -ENOMEM;
        d->links[d->n++] = l;
        return 0;
}

static int fail(int r, const char *what, char **ret_reason) {
        if (ret_reason && asprintf(ret_reason, "rtnetlink %s: %s", what, strerror(-r)) < 0)
                *ret_reason = NULL;
        return r;
}

int netstat_open(NetStats **ret, char **ret_reason) {
        NetStats *n;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (!(n = calloc(1, sizeof(NetStats))))
                return -ENOMEM;
        n->fd = rtnl_open();
        if (n->fd < 0) {
                r = n->fd;
                netstat_free(n);
                return fail(r, "socket", ret_reason);
        }
        r = netstat_refresh(n, ret_reason);
        if (r < 0) {
                netstat_free(n);
                return r;
        }
        *ret = n;
        return 0;
}

NetStats *netstat_free(NetStats *n) {
        if (!n)
                return NULL;
        if (n->fd >= 0)
                close(n->fd);
        free(n->links);
        free(n);
        return NULL;
}

int netstat_refresh(NetStats *n, char **ret_reason) {
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        /* A dump interrupted by a link change is retried once; two in a
         * row are reported. */
        for (int attempt = 0;; attempt++) {
                LinkDump d = {};

                r = rtnl_dump(n->fd, RTM_GETLINK, AF_UNSPEC, collect_link, &d);
                if (r >= 0) {
                        free(n->links);
                        n->links = d.links;
                        n->n_links = d.n;
                        return 0;
                }
                free(d.links);
                if (r != -EAGAIN || attempt > 0)
                        return fail(r, "link dump", ret_reason);
        }
}

int netstat_get(NetStats *n, const char *ifname, NetCounters *ret) {
        if (isempty(ifname))
                return -EINVAL;
        for (size_t i = 0; i < n->n_links; i++) {
                const RtnlLink *l = n->links + i;

                if (!streq(l->name, ifname))
                        continue;
                *ret = l->counters;
                return 0;
        }
        return -ENODEV;
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
