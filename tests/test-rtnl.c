/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rtnetlink parsers on hand-built messages, laid out as the kernel
 * builds them (rtnl_fill_ifinfo(), fib_dump_info(), inet6_fill_route()):
 * each counter from its own field, the 32-bit statistics only without the
 * 64-bit ones, names checked, default routes told from the rest. Then one
 * real link dump on this machine, against /sys/class/net.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rtnl.h"
#include "tap.h"
#include "util.h"

typedef struct Msg {
        union {
                struct nlmsghdr h;
                char bytes[4096];
        };
} Msg;

static void *msg_start(Msg *m, uint16_t type, size_t body) {
        memset(m, 0, sizeof(*m));
        m->h.nlmsg_type = type;
        m->h.nlmsg_len = NLMSG_LENGTH(body);
        return NLMSG_DATA(&m->h);
}

static void msg_attr(Msg *m, uint16_t type, const void *data, size_t len) {
        struct rtattr *a = (struct rtattr *) (m->bytes + NLMSG_ALIGN(m->h.nlmsg_len));

        a->rta_type = type;
        a->rta_len = RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void link_msg(Msg *m, int ifindex, const char *name) {
        struct ifinfomsg *ifi = msg_start(m, RTM_NEWLINK, sizeof(*ifi));

        ifi->ifi_index = ifindex;
        if (name)
                msg_attr(m, IFLA_IFNAME, name, strlen(name) + 1);
}

static void add_stats64(Msg *m, uint64_t base) {
        struct rtnl_link_stats64 s = {
                .rx_packets = base + 1, .tx_packets = base + 2, .rx_bytes = base + 3, .tx_bytes = base + 4,
                .rx_errors = base + 5, .tx_errors = base + 6, .rx_dropped = base + 7, .tx_dropped = base + 8,
        };
        msg_attr(m, IFLA_STATS64, &s, sizeof(s));
}

static void add_stats32(Msg *m, uint32_t base) {
        struct rtnl_link_stats s = {
                .rx_packets = base + 1, .tx_packets = base + 2, .rx_bytes = base + 3, .tx_bytes = base + 4,
                .rx_errors = base + 5, .tx_errors = base + 6, .rx_dropped = base + 7, .tx_dropped = base + 8,
        };
        msg_attr(m, IFLA_STATS, &s, sizeof(s));
}

static void check_counters(const RtnlLinkCounters *c, uint64_t base, const char *what) {
        const struct {
                const char *name;
                uint64_t got;
        } field[] = {
                { "rx_packets", c->rx_packets }, { "tx_packets", c->tx_packets }, { "rx_bytes", c->rx_bytes },
                { "tx_bytes", c->tx_bytes },     { "rx_errors", c->rx_errors },   { "tx_errors", c->tx_errors },
                { "rx_dropped", c->rx_dropped }, { "tx_dropped", c->tx_dropped },
        };

        /* The fields were filled base + 1 ... base + 8 in this order. */
        for (size_t i = 0; i < ELEMENTSOF(field); i++)
                CHECK(field[i].got == base + 1 + i, "%s: %s %" PRIu64 ", want %" PRIu64, what, field[i].name,
                      field[i].got, base + 1 + i);
}

static void test_links(void) {
        Msg m;
        RtnlLink l;
        uint64_t big = UINT64_C(1) << 40;

        /* The kernel sends IFLA_STATS before IFLA_STATS64; the 32-bit copy
         * wraps at 4 Gi and must not win, in either order. */
        link_msg(&m, 7, "eth0");
        add_stats32(&m, 100);
        add_stats64(&m, big);
        CHECK_INT(rtnl_parse_link(&m.h, &l), 0, "a link with both statistics");
        CHECK_INT(l.counters.ifindex, 7, "its ifindex");
        CHECK(streq(l.name, "eth0"), "its name: %s", l.name);
        check_counters(&l.counters, big, "64-bit statistics after the 32-bit ones");

        link_msg(&m, 7, "eth0");
        add_stats64(&m, big);
        add_stats32(&m, 100);
        CHECK_INT(rtnl_parse_link(&m.h, &l), 0, "64-bit statistics first");
        check_counters(&l.counters, big, "64-bit statistics before the 32-bit ones");

        link_msg(&m, 3, "enp0s3");
        add_stats32(&m, 1000);
        CHECK_INT(rtnl_parse_link(&m.h, &l), 0, "a kernel sending only IFLA_STATS");
        check_counters(&l.counters, 1000, "32-bit statistics alone");

        /* What is not a link message with a name and statistics. */
        link_msg(&m, 3, NULL);
        add_stats64(&m, 0);
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "no name");
        link_msg(&m, 3, "eth1");
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "no statistics");
        link_msg(&m, 3, "eth1");
        msg_attr(&m, IFLA_STATS64, "short", 5);
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "statistics too short to hold the counters");
        link_msg(&m, 3, NULL);
        msg_attr(&m, IFLA_IFNAME, "eth1", 4); /* no NUL */
        add_stats64(&m, 0);
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "a name without its NUL");
        link_msg(&m, 3, "sixteen-chars-xx");
        add_stats64(&m, 0);
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "a name of IFNAMSIZ characters");
        link_msg(&m, 3, "fifteen-chars-x");
        add_stats64(&m, 0);
        CHECK_INT(rtnl_parse_link(&m.h, &l), 0, "a name of IFNAMSIZ - 1 characters");
        m.h.nlmsg_type = RTM_NEWROUTE;
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "not RTM_NEWLINK");
        m.h.nlmsg_type = RTM_NEWLINK;
        m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg) - 1);
        CHECK_INT(rtnl_parse_link(&m.h, &l), -EBADMSG, "shorter than its header");
}

static struct rtmsg *route_msg(Msg *m, unsigned char family, unsigned char dst_len, unsigned char table,
                               unsigned char type) {
        struct rtmsg *rtm = msg_start(m, RTM_NEWROUTE, sizeof(*rtm));

        *rtm = (struct rtmsg) { .rtm_family = family, .rtm_dst_len = dst_len, .rtm_table = table,
                                .rtm_type = type };
        return rtm;
}

static void add_u32(Msg *m, uint16_t type, uint32_t v) {
        msg_attr(m, type, &v, sizeof(v));
}

/* RTA_MULTIPATH with one rtnexthop per ifindex (no nested attributes). */
static void add_multipath(Msg *m, const int *ifindexes, size_t n) {
        char buf[256] = {};
        size_t len = 0;

        for (size_t i = 0; i < n; i++) {
                struct rtnexthop *nh = (struct rtnexthop *) (buf + len);

                nh->rtnh_len = sizeof(*nh);
                nh->rtnh_ifindex = ifindexes[i];
                len += RTNH_ALIGN(nh->rtnh_len);
        }
        msg_attr(m, RTA_MULTIPATH, buf, len);
}

static size_t parse_route(const Msg *m, int *got, size_t max, int *ret) {
        size_t n = 99;

        *ret = rtnl_parse_default_route(&m->h, got, max, &n);
        return n;
}

static void test_routes(void) {
        int got[8], r;
        size_t n;
        Msg m;

        route_msg(&m, AF_INET, 0, RT_TABLE_MAIN, RTN_UNICAST);
        add_u32(&m, RTA_TABLE, RT_TABLE_MAIN);
        add_u32(&m, RTA_OIF, 3);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 1 && got[0] == 3, "IPv4 default route via ifindex 3: r=%d n=%zu", r, n);

        route_msg(&m, AF_INET6, 0, RT_TABLE_MAIN, RTN_UNICAST);
        add_u32(&m, RTA_OIF, 4);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 1 && got[0] == 4, "IPv6 default route (::/0): r=%d n=%zu", r, n);

        route_msg(&m, AF_INET, 24, RT_TABLE_MAIN, RTN_UNICAST);
        add_u32(&m, RTA_OIF, 3);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 0, "a /24 is not a default route: n=%zu", n);

        /* rtm_table holds only ids below 256: RTA_TABLE is the table. */
        route_msg(&m, AF_INET, 0, RT_TABLE_UNSPEC, RTN_UNICAST);
        add_u32(&m, RTA_TABLE, RT_TABLE_LOCAL);
        add_u32(&m, RTA_OIF, 3);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 0, "RTA_TABLE local: n=%zu", n);
        route_msg(&m, AF_INET, 0, RT_TABLE_LOCAL, RTN_UNICAST);
        add_u32(&m, RTA_OIF, 3);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 0, "rtm_table local: n=%zu", n);
        route_msg(&m, AF_INET, 0, RT_TABLE_UNSPEC, RTN_UNICAST);
        add_u32(&m, RTA_TABLE, 1000);
        add_u32(&m, RTA_OIF, 5);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 1 && got[0] == 5, "a policy-routing table 1000: r=%d n=%zu", r, n);

        route_msg(&m, AF_INET, 0, RT_TABLE_MAIN, RTN_BLACKHOLE);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 0, "a blackhole default: n=%zu", n);
        route_msg(&m, AF_INET, 0, RT_TABLE_MAIN, RTN_MULTICAST);
        add_u32(&m, RTA_OIF, 3);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 0, "not unicast: n=%zu", n);

        route_msg(&m, AF_INET, 0, RT_TABLE_MAIN, RTN_UNICAST);
        add_multipath(&m, (const int[]) { 6, 7, 8 }, 3);
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 3 && got[0] == 6 && got[1] == 7 && got[2] == 8, "multipath via 6, 7, 8: r=%d n=%zu",
              r, n);
        n = parse_route(&m, got, 2, &r);
        CHECK(r == -ENOBUFS, "more nexthops than room: an error, not a short list (r=%d)", r);

        /* A nexthop claiming more than the attribute holds ends the list. */
        route_msg(&m, AF_INET, 0, RT_TABLE_MAIN, RTN_UNICAST);
        {
                struct rtnexthop nh[2] = { { .rtnh_len = sizeof(nh[0]), .rtnh_ifindex = 6 },
                                           { .rtnh_len = 200, .rtnh_ifindex = 7 } };
                msg_attr(&m, RTA_MULTIPATH, nh, sizeof(nh));
        }
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == 0 && n == 1 && got[0] == 6, "a nexthop past its attribute's end is not read: n=%zu", n);

        route_msg(&m, AF_INET, 0, RT_TABLE_MAIN, RTN_UNICAST);
        m.h.nlmsg_type = RTM_NEWLINK;
        n = parse_route(&m, got, ELEMENTSOF(got), &r);
        CHECK(r == -EBADMSG && n == 0, "not RTM_NEWROUTE: r=%d", r);
}

typedef struct Dumped {
        unsigned links, unreadable, matching_sysfs;
} Dumped;

static int check_against_sysfs(const struct nlmsghdr *h, void *userdata) {
        Dumped *d = userdata;
        RtnlLink l;
        char path[64], buf[32] = {};
        FILE *f;

        if (rtnl_parse_link(h, &l) < 0) {
                d->unreadable++;
                return 0;
        }
        d->links++;
        snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", l.name);
        if ((f = fopen(path, "re"))) {
                if (fgets(buf, sizeof(buf), f) && atoi(buf) == l.counters.ifindex)
                        d->matching_sysfs++;
                fclose(f);
        }
        return 0;
}

static void test_real_dump(void) {
        _cleanup_close_ int fd = rtnl_open();
        Dumped d = {};
        int r;

        CHECK(fd >= 0, "a NETLINK_ROUTE socket: %s", fd < 0 ? strerror(-fd) : "ok");
        if (fd < 0)
                return;
        r = rtnl_dump(fd, RTM_GETLINK, AF_UNSPEC, check_against_sysfs, &d);
        CHECK(r == 0 || r == -EAGAIN, "a link dump: %s", r < 0 ? strerror(-r) : "ok");
        CHECK(d.links >= 1, "links dumped: %u (lo at least)", d.links);
        CHECK_INT(d.unreadable, 0, "every link message read");
        CHECK_INT(d.matching_sysfs, d.links, "each link's name and ifindex as /sys/class/net has them");
        /* A second dump on the same socket: no reply of the first is left. */
        d = (Dumped) {};
        r = rtnl_dump(fd, RTM_GETLINK, AF_UNSPEC, check_against_sysfs, &d);
        CHECK(r == 0 || r == -EAGAIN, "a second dump: %s", r < 0 ? strerror(-r) : "ok");
        CHECK(d.links >= 1 && d.matching_sysfs == d.links, "the second dump reads the same: %u links", d.links);
        CHECK_INT(rtnl_dump(fd, RTM_NEWLINK, AF_UNSPEC, check_against_sysfs, &d), -EINVAL,
                  "only the two dumps are asked for");
}

int main(void) {
        test_links();
        test_routes();
        test_real_dump();
        return tap_done();
}
