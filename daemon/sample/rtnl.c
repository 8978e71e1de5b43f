/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"
#include "util.h"

int rtnl_open(void) {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

        return fd < 0 ? -errno : fd;
}

static int send_dump_request(int fd, uint16_t type, unsigned char family, uint32_t seq) {
        /* The request's header is the one its dump handler parses:
         * ifinfomsg for links (rtnl_dump_ifinfo), rtmsg for routes. */
        struct {
                struct nlmsghdr h;
                union {
                        struct ifinfomsg link;
                        struct rtmsg route;
                };
        } req = {};
        size_t body = type == RTM_GETLINK ? sizeof(req.link) : sizeof(req.route);
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

        req.h = (struct nlmsghdr) {
                .nlmsg_len = NLMSG_LENGTH(body),
                .nlmsg_type = type,
                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                .nlmsg_seq = seq,
        };
        if (type == RTM_GETLINK)
                req.link.ifi_family = family;
        else
                req.route.rtm_family = family;
        if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        return 0;
}

/* One datagram of the reply, in a buffer grown to its size (a dump's
 * datagram is as large as the kernel's dump skb, which depends on the
 * links: peeked first). Returns its length or -errno. */
static ssize_t receive_datagram(int fd, void **buf, size_t *allocated) {
        struct sockaddr_nl from;
        socklen_t from_len = sizeof(from);
        ssize_t n;

        for (;;) {
                n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if ((size_t) n > *allocated) {
                        void *p = realloc(*buf, n);

                        if (!p)
                                return -ENOMEM;
                        *buf = p;
                        *allocated = n;
                }
                n = recvfrom(fd, *buf, *allocated, 0, (struct sockaddr *) &from, &from_len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (from.nl_pid == 0) /* from the kernel; anything else is dropped */
                        return n;
        }
}

/* NLMSG_OK() and NLMSG_NEXT() without their signed/unsigned mix: a whole
 * message header and body within what is left. */
static bool message_ok(const struct nlmsghdr *h, size_t left) {
        return h && left >= sizeof(*h) && h->nlmsg_len >= sizeof(*h) && h->nlmsg_len <= left;
}

/* The message after h, or NULL with *left 0 when h was the last (its
 * alignment padding may be missing at the datagram's end). */
static const struct nlmsghdr *message_next(const struct nlmsghdr *h, size_t *left) {
        size_t step = NLMSG_ALIGN(h->nlmsg_len);

        if (step >= *left) {
                *left = 0;
                return NULL;
        }
        *left -= step;
        return (const struct nlmsghdr *) ((const char *) h + step);
}

int rtnl_dump(int fd, uint16_t type, unsigned char family, RtnlMessageFn fn, void *userdata) {
        static uint32_t last_seq;
        uint32_t seq = ++last_seq;
        _cleanup_free_ void *buf = NULL;
        size_t allocated = 0;
        bool interrupted = false;
        int r = 0, q;

        if (type != RTM_GETLINK && type != RTM_GETROUTE)
                return -EINVAL;
        q = send_dump_request(fd, type, family, seq);
        if (q < 0)
                return q;
        for (;;) {
                ssize_t n = receive_datagram(fd, &buf, &allocated);
                size_t left;

                if (n < 0)
                        return (int) n;
                if (n == 0) /* no dump reply is empty */
                        return -EBADMSG;
                left = (size_t) n;
                for (const struct nlmsghdr *h = buf; message_ok(h, left); h = message_next(h, &left)) {
                        if (h->nlmsg_seq != seq) /* a reply to an earlier request */
                                continue;
                        if (h->nlmsg_flags & NLM_F_DUMP_INTR)
                                interrupted = true;
                        if (h->nlmsg_type == NLMSG_DONE) {
                                /* netlink_dump_done(): the dump's own error, if any. */
                                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) && r >= 0)
                                        r = *(const int *) NLMSG_DATA(h);
                                if (r < 0)
                                        return r;
                                return interrupted ? -EAGAIN : 0;
                        }
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);

                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                        return -EBADMSG;
                                if (e->error < 0) /* the request itself failed: no dump follows */
                                        return e->error;
                                continue;
                        }
                        if (r >= 0)
                                r = fn(h, userdata);
                }
                if (left != 0) /* a message cut short */
                        return -EBADMSG;
        }
}

/* Copies the first fields of a statistics attribute, whose struct grows
 * at its end from kernel to kernel: the eight counters this reads come first
 * in both rtnl_link_stats64 and rtnl_link_stats. */
#define STATS_PREFIX 8

static void link_set_stats(RtnlLinkCounters *c, const uint64_t v[STATS_PREFIX]) {
        /* The order of <linux/if_link.h>: rx/tx packets, rx/tx bytes,
         * rx/tx errors, rx/tx dropped. */
        c->rx_packets = v[0];
        c->tx_packets = v[1];
        c->rx_bytes = v[2];
        c->tx_bytes = v[3];
        c->rx_errors = v[4];
        c->tx_errors = v[5];
        c->rx_dropped = v[6];
        c->tx_dropped = v[7];
}

int rtnl_parse_link(const struct nlmsghdr *h, RtnlLink *ret) {
        const struct ifinfomsg *ifi;
        RtnlLink l = {};
        bool have_name = false, have_stats64 = false, have_stats = false;
        int left;

        if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
                return -EBADMSG;
        ifi = NLMSG_DATA(h);
        l.counters.ifindex = ifi->ifi_index;
        left = (int) IFLA_PAYLOAD(h);
        for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
                size_t len = RTA_PAYLOAD(a);

                switch (a->rta_type) {
                case IFLA_IFNAME: {
                        /* nla_put_string(): the name and its NUL. */
                        size_t name_len = strnlen(RTA_DATA(a), len);

                        if (name_len == 0 || name_len == len || name_len >= sizeof(l.name))
                                return -EBADMSG;
                        memcpy(l.name, RTA_DATA(a), name_len + 1);
                        have_name = true;
                        break;
                }
                case IFLA_STATS64:
                        if (len >= STATS_PREFIX * sizeof(uint64_t)) {
                                uint64_t v[STATS_PREFIX];

                                memcpy(v, RTA_DATA(a), sizeof(v));
                                link_set_stats(&l.counters, v);
                                have_stats64 = true;
                        }
                        break;
                case IFLA_STATS:
                        if (len >= STATS_PREFIX * sizeof(uint32_t) && !have_stats64) {
                                uint32_t v32[STATS_PREFIX];
                                uint64_t v[STATS_PREFIX];

                                memcpy(v32, RTA_DATA(a), sizeof(v32));
                                for (size_t i = 0; i < STATS_PREFIX; i++)
                                        v[i] = v32[i];
                                link_set_stats(&l.counters, v);
                                have_stats = true;
                        }
                        break;
                }
        }
        if (!have_name || !(have_stats64 || have_stats))
                return -EBADMSG;
        *ret = l;
        return 0;
}

static int add_ifindex(int ifindex, int *ifindexes, size_t max, size_t *n) {
        if (ifindex <= 0)
                return 0;
        if (*n >= max)
                return -ENOBUFS;
        ifindexes[(*n)++] = ifindex;
        return 0;
}

int rtnl_parse_default_route(const struct nlmsghdr *h, int *ifindexes, size_t max, size_t *ret_n) {
        const struct rtmsg *rtm;
        uint32_t table;
        size_t n = 0;
        int left, q;

        *ret_n = 0;
        if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
                return -EBADMSG;
        rtm = NLMSG_DATA(h);
        if (rtm->rtm_type != RTN_UNICAST || rtm->rtm_dst_len != 0)
                return 0;
        table = rtm->rtm_table;
        left = (int) RTM_PAYLOAD(h);
        /* RTA_TABLE holds the full 32-bit table id; rtm_table only ids
         * below 256. */
        for (const struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, left); a = RTA_NEXT(a, left))
                if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= sizeof(uint32_t))
                        memcpy(&table, RTA_DATA(a), sizeof(table));
        if (table == RT_TABLE_LOCAL)
                return 0;
        left = (int) RTM_PAYLOAD(h);
        for (const struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
                if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
                        uint32_t oif;

                        memcpy(&oif, RTA_DATA(a), sizeof(oif));
                        if ((q = add_ifindex((int) oif, ifindexes, max, &n)) < 0)
                                return q;
                } else if (a->rta_type == RTA_MULTIPATH) {
                        const struct rtnexthop *nh = RTA_DATA(a);
                        size_t rest = RTA_PAYLOAD(a);

                        while (rest >= sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) && nh->rtnh_len <= rest) {
                                if ((q = add_ifindex(nh->rtnh_ifindex, ifindexes, max, &n)) < 0)
                                        return q;
                                size_t step = RTNH_ALIGN(nh->rtnh_len);

                                if (step >= rest)
                                        break;
                                rest -= step;
                                nh = RTNH_NEXT(nh);
                        }
                }
        }
        *ret_n = n;
        return 0;
}
