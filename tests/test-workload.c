/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workload sampler over five ticks one second apart, on synthetic
 * stats in the kernel's layouts: tests/fixtures/workload/tickN holds the
 * block/<dev>/stat files (17 fields, as 6.1 prints them) and
 * /proc/interrupts (4 CPUs, x86 rows) of tick N. A temp root whose
 * "block" and "interrupts" are symlinks into tickN stands for /sys and
 * /proc; network traffic is real: the NIC's interface is this machine's
 * loopback, read through rtnetlink, with UDP sent to 127.0.0.1.
 *
 * The devices (a hand-made topology, real PCI names and classes):
 *   A 0000:01:00.0 NVMe, two namespaces nvme0n1 nvme0n2, group 10
 *   B 0000:02:00.0 NVMe nvme1n1, group 11: removed at tick 2, re-created at 3
 *   C 0000:00:04.0 virtio-blk vda, group 3: its counters go down at tick 3
 *   D 0000:00:14.0 xhci (no block device, no interface), group 5:
 *     interrupts only; its CPU0 count wraps 2^32 at tick 2
 *   E 0000:03:00.0 NIC with interface lo, group 12
 *   F 0000:03:00.1 NIC function whose interface is gone, group 12
 *   G 0000:00:1f.0 outside any IOMMU group (acpi's IRQ 9)
 *
 * Each tick's expectations are one table row per device, so a field the
 * sampler gains is one more column.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sysfs.h"
#include "tap.h"
#include "util.h"
#include "workload.h"

#define N_TICKS 5
#define N_DATAGRAMS 20
#define NSEC_PER_SEC UINT64_C(1000000000)

/* ---- the topology ---------------------------------------------------------- */

static char *nvme0_blocks[] = { "nvme0n1", "nvme0n2", NULL };
static char *nvme1_blocks[] = { "nvme1n1", NULL };
static char *vda_blocks[] = { "vda", NULL };
static char *eth0_ifaces[] = { "lo", NULL };
static char *eth1_ifaces[] = { "iommutuned-gone0", NULL };
static unsigned nvme0_irqs[] = { 124, 125, 126 };
static unsigned nvme1_irqs[] = { 130, 131 };
static unsigned vda_irqs[] = { 26, 27 };
static unsigned xhci_irqs[] = { 150 };
static unsigned eth0_irqs[] = { 160, 161 };
static unsigned eth1_irqs[] = { 162 };
static unsigned acpi_irqs[] = { 9 };

enum { DEV_VDA, DEV_XHCI, DEV_ACPI, DEV_NVME0, DEV_NVME1, DEV_ETH0, DEV_ETH1, N_DEVICES };

/* Sorted by name, as topology_scan() leaves them. */
static Device devices[N_DEVICES] = {
        [DEV_VDA] = { .name = "0000:00:04.0", .is_pci = true, .class_word = "storage", .group = 3,
                      .block_devs = vda_blocks, .msi_irqs = vda_irqs, .n_msi_irqs = ELEMENTSOF(vda_irqs) },
        [DEV_XHCI] = { .name = "0000:00:14.0", .is_pci = true, .class_word = "usb", .group = 5,
                       .msi_irqs = xhci_irqs, .n_msi_irqs = ELEMENTSOF(xhci_irqs) },
        [DEV_ACPI] = { .name = "0000:00:1f.0", .is_pci = true, .class_word = "bridge", .group = -1,
                       .msi_irqs = acpi_irqs, .n_msi_irqs = ELEMENTSOF(acpi_irqs) },
        [DEV_NVME0] = { .name = "0000:01:00.0", .is_pci = true, .class_word = "nvme", .group = 10,
                        .block_devs = nvme0_blocks, .msi_irqs = nvme0_irqs, .n_msi_irqs = ELEMENTSOF(nvme0_irqs) },
        [DEV_NVME1] = { .name = "0000:02:00.0", .is_pci = true, .class_word = "nvme", .group = 11,
                        .block_devs = nvme1_blocks, .msi_irqs = nvme1_irqs, .n_msi_irqs = ELEMENTSOF(nvme1_irqs) },
        [DEV_ETH0] = { .name = "0000:03:00.0", .is_pci = true, .class_word = "ethernet", .group = 12,
                       .net_ifaces = eth0_ifaces, .msi_irqs = eth0_irqs, .n_msi_irqs = ELEMENTSOF(eth0_irqs) },
        [DEV_ETH1] = { .name = "0000:03:00.1", .is_pci = true, .class_word = "ethernet", .group = 12,
                       .net_ifaces = eth1_ifaces, .msi_irqs = eth1_irqs, .n_msi_irqs = ELEMENTSOF(eth1_irqs) },
};

static IommuGroup groups[] = { { .id = 3 }, { .id = 5 }, { .id = 10 }, { .id = 11 }, { .id = 12 } };

static const Topology topology = {
        .groups = groups,
        .n_groups = ELEMENTSOF(groups),
        .devices = devices,
        .n_devices = ELEMENTSOF(devices),
};

/* ---- what each tick must give ------------------------------------------------ */

#define ANY (-1) /* not checked: lo carries whatever else uses it */

typedef struct Expect {
        int active;
        long long read_ios, write_ios, read_bytes, io_ms;
        long long irq_events, irq_found, irq_missing;
} Expect;

static const Expect expect[N_TICKS][N_DEVICES] = {
        /* The first sample after start only takes the baseline, however
         * large the counters since boot. */
        [0] = {
                [DEV_VDA] = { 0, 0, 0, 0, 0, 0, 0, 0 },
                [DEV_XHCI] = { 0, 0, 0, 0, 0, 0, 0, 0 },
                [DEV_ACPI] = { 0, 0, 0, 0, 0, 0, 0, 0 },
                [DEV_NVME0] = { 0, 0, 0, 0, 0, 0, 0, 0 },
                [DEV_NVME1] = { 0, 0, 0, 0, 0, 0, 0, 0 },
                [DEV_ETH0] = { 0, 0, 0, 0, 0, 0, 0, 0 },
                [DEV_ETH1] = { 0, 0, 0, 0, 0, 0, 0, 0 },
        },
        /* Both namespaces of nvme0 read (100 + 20 I/Os, (800 + 160)
         * sectors), io_ms the larger of the two; vda's interrupts alone do
         * not make a block device active; xhci and acpi are by their
         * interrupts; lo carries the test's datagrams. */
        [1] = {
                [DEV_VDA] = { 0, 0, 0, 0, 0, 40, 2, 0 },
                [DEV_XHCI] = { 1, 0, 0, 0, 0, 100, 1, 0 },
                [DEV_ACPI] = { 1, 0, 0, 0, 0, 3, 1, 0 },
                [DEV_NVME0] = { 1, 120, 50, 960 * 512, 500, 1900, 3, 0 },
                [DEV_NVME1] = { 0, 0, 0, 0, 0, 0, 2, 0 },
                [DEV_ETH0] = { 1, 0, 0, 0, 0, 20, 2, 0 },
                [DEV_ETH1] = { 0, 0, 0, 0, 0, 300, 1, 0 },
        },
        /* nvme0n1's io_ticks wraps 2^32 (4294966500 -> 104: 900 ms);
         * nvme1n1 and its IRQs are gone; xhci's CPU0 count wraps
         * (4294967100 -> 104: 300 interrupts). */
        [2] = {
                [DEV_VDA] = { 0, 0, 0, 0, 0, 0, 2, 0 },
                [DEV_XHCI] = { 1, 0, 0, 0, 0, 300, 1, 0 },
                [DEV_ACPI] = { 0, 0, 0, 0, 0, 0, 1, 0 },
                [DEV_NVME0] = { 1, 10, 0, 80 * 512, 900, 10, 3, 0 },
                [DEV_NVME1] = { 0, 0, 0, 0, 0, 0, 0, 2 },
                [DEV_ETH0] = { ANY, 0, 0, 0, 0, 0, 2, 0 },
                [DEV_ETH1] = { 0, 0, 0, 0, 0, 300, 1, 0 },
        },
        /* nvme1n1 is back with small counters: its first sample again is a
         * baseline; its IRQs count from zero (reset). vda's counters went
         * down (re-created under the same name): counted from zero. */
        [3] = {
                [DEV_VDA] = { 1, 5, 2, 40 * 512, 3, 20, 2, 0 },
                [DEV_XHCI] = { 0, 0, 0, 0, 0, 0, 1, 0 },
                [DEV_ACPI] = { 0, 0, 0, 0, 0, 0, 1, 0 },
                [DEV_NVME0] = { 1, 0, 7, 0, 4, 7, 3, 0 },
                [DEV_NVME1] = { 0, 0, 0, 0, 0, 3, 2, 0 },
                [DEV_ETH0] = { ANY, 0, 0, 0, 0, 0, 2, 0 },
                [DEV_ETH1] = { 0, 0, 0, 0, 0, 300, 1, 0 },
        },
        /* nvme1n1 moves data again: counted against its re-created
         * baseline. nvme0 is idle. */
        [4] = {
                [DEV_VDA] = { 0, 0, 0, 0, 0, 0, 2, 0 },
                [DEV_XHCI] = { 0, 0, 0, 0, 0, 0, 1, 0 },
                [DEV_ACPI] = { 0, 0, 0, 0, 0, 0, 1, 0 },
                [DEV_NVME0] = { 0, 0, 0, 0, 0, 0, 3, 0 },
                [DEV_NVME1] = { 1, 40, 0, 320 * 512, 12, 44, 2, 0 },
                [DEV_ETH0] = { ANY, 0, 0, 0, 0, 0, 2, 0 },
                [DEV_ETH1] = { 0, 0, 0, 0, 0, 300, 1, 0 },
        },
};

/* The groups active in each tick, by id (0-terminated); group 12 (lo's
 * NIC) is not checked where its device's activity is ANY. */
static const unsigned expect_groups[N_TICKS][ELEMENTSOF(groups) + 1] = {
        [0] = { 0 },
        [1] = { 5, 10, 12 },
        [2] = { 5, 10 },
        [3] = { 3, 10 },
        [4] = { 11 },
};

/* ---- the fake roots ---------------------------------------------------------- */

/* Points root/block and root/interrupts at tickN's. */
static int point_at_tick(const char *root, unsigned tick) {
        static const char *const entries[] = { "block", "interrupts" };

        for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
                char target[PATH_MAX], link[PATH_MAX];

                snprintf(target, sizeof(target), "%s/workload/tick%u/%s", fixtures_dir(), tick, entries[i]);
                snprintf(link, sizeof(link), "%s/%s", root, entries[i]);
                if (unlink(link) < 0 && errno != ENOENT)
                        return -errno;
                if (symlink(target, link) < 0)
                        return -errno;
        }
        return 0;
}

static int send_udp_to_loopback(void) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char payload[200] = "iommutuned test-workload";
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

#define CHECK_FIELD(got, want, tick, dev, what)                                                           \
        do {                                                                                              \
                if ((want) != ANY)                                                                        \
                        CHECK((long long) (got) == (want), "tick %u %s: %s %lld, want %lld", (tick),      \
                              devices[dev].name, (what), (long long) (got), (long long) (want));          \
        } while (0)

static void check_tick(unsigned tick, const DeviceWorkload *dw, const bool *group_active) {
        for (size_t d = 0; d < N_DEVICES; d++) {
                const Expect *e = &expect[tick][d];

                CHECK_FIELD(dw[d].active, e->active, tick, d, "active");
                CHECK_FIELD(dw[d].block.read_ios, e->read_ios, tick, d, "read I/Os");
                CHECK_FIELD(dw[d].block.write_ios, e->write_ios, tick, d, "write I/Os");
                CHECK_FIELD(dw[d].block.read_bytes, e->read_bytes, tick, d, "read bytes");
                CHECK_FIELD(dw[d].block.io_ms, e->io_ms, tick, d, "io_ms");
                CHECK_FIELD(dw[d].irq.events, e->irq_events, tick, d, "interrupts");
                CHECK_FIELD(dw[d].irq.found, e->irq_found, tick, d, "IRQs found");
                CHECK_FIELD(dw[d].irq.missing, e->irq_missing, tick, d, "IRQs missing");
                /* One second apart: the rates are the counts. */
                CHECK_FIELD(dw[d].block.read_iops, e->read_ios, tick, d, "read IOPS");
                CHECK_FIELD(dw[d].irq.per_second, e->irq_events, tick, d, "interrupts per second");
        }
        for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
                bool want = false, unchecked = false;

                for (const unsigned *id = expect_groups[tick]; *id; id++)
                        want = want || *id == groups[g].id;
                /* A group with a device on lo may be active by others' traffic. */
                for (size_t d = 0; d < N_DEVICES; d++)
                        unchecked = unchecked ||
                                    (devices[d].group == (int) groups[g].id && expect[tick][d].active == ANY);
                if (unchecked && !want)
                        continue;
                CHECK(group_active[g] == want, "tick %u group %u: %s, want %s", tick, groups[g].id,
                      group_active[g] ? "active" : "idle", want ? "active" : "idle");
        }
}

static void test_ticks(void) {
        char root[] = "/tmp/test-workload.XXXXXX";
        _cleanup_close_ int fd = -EBADF;
        WorkloadSampler *w = NULL;
        int r;

        CHECK(mkdtemp(root), "mkdtemp");
        fd = sysfs_open_root(root);
        CHECK(fd >= 0, "open %s", root);
        r = workload_sampler_new(fd, fd, &w);
        CHECK_INT(r, 0, "workload_sampler_new");
        if (r < 0)
                return;
        CHECK(strstr(workload_status(w), "link statistics (netlink)"), "netlink open: %s", workload_status(w));

        for (unsigned tick = 0; tick < N_TICKS; tick++) {
                const DeviceWorkload *dw = NULL;
                const bool *group_active = NULL;

                CHECK_INT(point_at_tick(root, tick), 0, "point the roots at the tick's stats");
                if (tick == 1)
                        CHECK_INT(send_udp_to_loopback(), N_DATAGRAMS, "datagrams sent to 127.0.0.1");
                r = workload_sample(w, &topology, (tick + 1) * NSEC_PER_SEC, &dw, &group_active);
                CHECK_INT(r, 0, "workload_sample");
                if (r < 0)
                        break;
                check_tick(tick, dw, group_active);
                if (tick == 1)
                        CHECK(dw[DEV_ETH0].net.tx_packets >= N_DATAGRAMS &&
                                      dw[DEV_ETH0].net.rx_packets >= N_DATAGRAMS,
                              "tick 1: lo's datagrams counted for the NIC (tx %llu, rx %llu)",
                              (unsigned long long) dw[DEV_ETH0].net.tx_packets,
                              (unsigned long long) dw[DEV_ETH0].net.rx_packets);
                CHECK(dw[DEV_ETH1].net.tx_packets == 0 && dw[DEV_ETH1].net.rx_packets == 0,
                      "tick %u: no traffic for the gone interface", tick);
        }
        workload_sampler_free(w);
        (void) point_at_tick(root, 0);
        (void) unlinkat(fd, "block", 0);
        (void) unlinkat(fd, "interrupts", 0);
        (void) rmdir(root);
}

/* The topology shrinks (a device hot-removed) and grows back: the arrays
 * follow it, and a device's history is kept by its block device's name. */
static void test_topology_changes(void) {
        char root[] = "/tmp/test-workload.XXXXXX";
        _cleanup_close_ int fd = -EBADF;
        WorkloadSampler *w = NULL;
        const DeviceWorkload *dw = NULL;
        const bool *group_active = NULL;
        Topology small = topology;

        CHECK(mkdtemp(root), "mkdtemp");
        fd = sysfs_open_root(root);
        if (workload_sampler_new(fd, fd, &w) < 0) {
                CHECK(false, "workload_sampler_new");
                return;
        }
        small.devices = &devices[DEV_NVME0];
        small.n_devices = 1;
        CHECK_INT(point_at_tick(root, 0), 0, "tick 0");
        CHECK_INT(workload_sample(w, &small, NSEC_PER_SEC, &dw, &group_active), 0, "nvme0 alone");
        CHECK(!dw[0].active, "first sample: baseline");
        CHECK_INT(point_at_tick(root, 1), 0, "tick 1");
        CHECK_INT(workload_sample(w, &topology, 2 * NSEC_PER_SEC, &dw, &group_active), 0, "every device");
        CHECK(dw[DEV_NVME0].active && dw[DEV_NVME0].block.read_ios == 120,
              "nvme0 counted from the sample it had alone (%llu read I/Os)",
              (unsigned long long) dw[DEV_NVME0].block.read_ios);
        CHECK(dw[DEV_XHCI].active && dw[DEV_XHCI].irq.events == 100, "xhci, new to the topology, by its IRQ");
        CHECK(group_active[2] && groups[2].id == 10, "group 10 active");
        workload_sampler_free(w);
        (void) unlinkat(fd, "block", 0);
        (void) unlinkat(fd, "interrupts", 0);
        (void) rmdir(root);
}

int main(void) {
        test_ticks();
        test_topology_changes();
        return tap_done();
}
