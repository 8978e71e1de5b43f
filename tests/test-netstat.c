/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interface counters through real rtnetlink on this machine's loopback
 * interface: UDP datagrams sent to 127.0.0.1 must show up in lo's counters
 * after a refresh. Plus an interface that does not exist, and rates built
 * here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "netstat.h"
#include "tap.h"
#include "util.h"

#define N_DATAGRAMS 20
#define PAYLOAD 200

static int send_udp_to_loopback(void) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char payload[PAYLOAD] = "iommutuned test-netstat";
        int sent = 0;

        if (fd < 0)
                return -errno;
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (int i = 0; i < N_DATAGRAMS; i++)
                if (sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *) &to, sizeof(to)) ==
                    (ssize_t) sizeof(payload))
                        sent++;
        return sent;
}

static void test_loopback(void) {
        _cleanup_(netstat_freep) NetStats *n = NULL;
        _cleanup_free_ char *reason = NULL;
        NetCounters before, after, stale;
        NetRate rate;
        int r, sent;

        r = netstat_open(&n, &reason);
        CHECK(r == 0, "netstat_open: %s", r < 0 ? strna(reason) : "ok");
        if (r < 0)
                return;
        CHECK_INT(netstat_get(n, "lo", &before), 0, "lo exists");
        CHECK(before.ifindex > 0, "lo ifindex %d", before.ifindex);

        sent = send_udp_to_loopback();
        CHECK_INT(sent, N_DATAGRAMS, "datagrams sent to 127.0.0.1");

        /* Without a refresh the cache still holds the old sample. */
        CHECK_INT(netstat_get(n, "lo", &stale), 0, "lo before refresh");
        CHECK_U64(stale.tx_packets, before.tx_packets, "no refresh, no change");

        r = netstat_refresh(n, &reason);
        CHECK(r == 0, "refresh: %s", r < 0 ? strna(reason) : "ok");
        CHECK_INT(netstat_get(n, "lo", &after), 0, "lo after refresh");
        CHECK_INT(after.ifindex, before.ifindex, "same ifindex");
        /* Each datagram is one packet out and in on lo (plus whatever else
         * uses lo meanwhile, and the ICMP port-unreachable replies). */
        CHECK(after.tx_packets >= before.tx_packets + N_DATAGRAMS,
              "tx_packets rose by >= %d (%llu -> %llu)", N_DATAGRAMS,
              (unsigned long long) before.tx_packets, (unsigned long long) after.tx_packets);
        CHECK(after.rx_packets >= before.rx_packets + N_DATAGRAMS, "rx_packets rose (%llu -> %llu)",
              (unsigned long long) before.rx_packets, (unsigned long long) after.rx_packets);
        CHECK(after.tx_bytes >= before.tx_bytes + N_DATAGRAMS * (PAYLOAD + 28),
              "tx_bytes rose by >= payload + IP/UDP headers");
        CHECK(after.rx_bytes >= before.rx_bytes + N_DATAGRAMS * (PAYLOAD + 28), "rx_bytes rose");

        netstat_rate(&before, &after, UINT64_C(1000000000), &rate);
        CHECK(rate.tx_packets >= N_DATAGRAMS && rate.tx_pps == (double) rate.tx_packets,
              "rate over one second");

        CHECK_INT(netstat_get(n, "iommutuned-no-such-if", &after), -ENODEV, "missing interface");
        CHECK_INT(netstat_get(n, "", &after), -EINVAL, "empty name");
}

static void test_rates(void) {
        NetCounters a = { .ifindex = 3, .rx_packets = 100, .tx_packets = 50, .rx_bytes = 150000,
                          .tx_bytes = 3000 };
        NetCounters b = { .ifindex = 3, .rx_packets = 1100, .tx_packets = 550, .rx_bytes = 1650000,
                          .tx_bytes = 33000 };
        NetRate r;

        netstat_rate(&a, &b, 2 * UINT64_C(1000000000), &r);
        CHECK(r.rx_packets == 1000 && r.tx_packets == 500 && r.rx_bytes == 1500000 &&
                      r.tx_bytes == 30000,
              "deltas");
        CHECK(r.rx_pps == 500.0 && r.tx_bytes_per_s == 15000.0, "per second");

        b.ifindex = 4;
        netstat_rate(&a, &b, 0, &r);
        CHECK(r.rx_packets == 1100 && r.rx_pps == 0, "re-created interface counts from zero");
        b.ifindex = 3;
        b.tx_bytes = 10;
        netstat_rate(&a, &b, 0, &r);
        CHECK(r.tx_bytes == 10 && r.rx_packets == 1100, "counter reset: all from zero");
}

int main(void) {
        test_loopback();
        test_rates();
        return tap_done();
}
