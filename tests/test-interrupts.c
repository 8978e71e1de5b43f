/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /proc/interrupts parsing and per-device rates: the file captured from the
 * QEMU test bed (tests/fixtures/qemu-vtd), the generated 300-group server,
 * hand-written 4-CPU x86 and arm64 (CPU hotplug) samples in
 * tests/fixtures/interrupts, and broken inputs built here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "interrupts.h"
#include "sysfs.h"
#include "tap.h"
#include "util.h"

static Interrupts *load(const char *dir, const char *name) {
        char path[1024];
        _cleanup_close_ int fd = -EBADF;
        Interrupts *t = NULL;
        int r;

        snprintf(path, sizeof(path), "%s", dir);
        fd = sysfs_open_root(path);
        if (fd < 0) {
                CHECK(false, "open %s: %s", path, strerror(-fd));
                return NULL;
        }
        if (streq(name, "interrupts"))
                r = interrupts_read(fd, &t);
        else {
                _cleanup_free_ char *text = NULL;

                r = sysfs_read_file(fd, name, 1 << 20, &text);
                if (r >= 0)
                        r = interrupts_parse(text, &t);
        }
        CHECK(r == 0 && t, "parse %s/%s: %s", dir, name, r < 0 ? strerror(-r) : "ok");
        return t;
}

/* The captures from the QEMU test bed (x86 VT-d, VT-d with caching mode,
 * AMD-Vi, arm64 SMMUv3) are re-taken as the test bed changes: check what
 * every real file must satisfy, not its numbers. */
static void check_capture(const char *name) {
        char dir[1024];
        Interrupts *t;
        uint64_t sum = 0;
        bool msi = false;

        snprintf(dir, sizeof(dir), "%s/%s/proc", fixtures_dir(), name);
        t = load(dir, "interrupts");
        if (!t)
                return;
        CHECK_INT(t->n_malformed, 0, "capture: nothing malformed");
        CHECK(t->n_cpus == 2, "%s: 2 CPUs (%u)", name, t->n_cpus);
        CHECK(t->n_rows >= 5 && t->n_named >= 1, "%s: %zu rows, %u named", name, t->n_rows, t->n_named);
        for (size_t i = 0; i < t->n_rows; i++) {
                const IrqRow *r = &t->rows[i];

                CHECK_U64(t->counts[r->first] + t->counts[r->first + 1], r->total, "row total");
                sum += r->total;
                msi = msi || strstr(r->desc, "nvme0q0") != NULL;
                if (i > 0)
                        CHECK(t->rows[i - 1].irq < r->irq, "%s: rows ascending", name);
                CHECK(interrupts_find(t, r->irq) == r, "%s: find IRQ %u", name, r->irq);
        }
        CHECK(sum > 0, "%s: interrupts counted", name);
        CHECK(msi, "%s: the nvme admin queue's MSI row", name);
        interrupts_free(t);
}

static void test_qemu_capture(void) {
        static const char *const captures[] = { "qemu-vtd", "qemu-vtd-cm", "qemu-amd", "qemu-smmuv3" };
        char dir[1024];
        Interrupts *t;

        for (size_t i = 0; i < ELEMENTSOF(captures); i++) {
                snprintf(dir, sizeof(dir), "%s/%s/proc/interrupts", fixtures_dir(), captures[i]);
                if (access(dir, F_OK) < 0) {
                        tap_diag("no capture %s", captures[i]);
                        continue;
                }
                check_capture(captures[i]);
        }

        snprintf(dir, sizeof(dir), "%s/qemu-vtd/sys", fixtures_dir());
        _cleanup_close_ int fd = sysfs_open_root(dir);
        CHECK_INT(interrupts_read(fd, &t), -ENOENT, "no interrupts file: -ENOENT");
}

static void test_server(void) {
        const char *root = getenv("SERVER_FIXTURE");
        char dir[1024];
        Interrupts *t;

        if (!root) {
                tap_diag("SERVER_FIXTURE not set; skipping the generated server");
                return;
        }
        snprintf(dir, sizeof(dir), "%s/proc", root);
        t = load(dir, "interrupts");
        if (!t)
                return;
        CHECK_INT(t->n_cpus, 2, "server: 2 CPU columns");
        CHECK(t->n_rows >= 80, "server: %zu rows", t->n_rows);
        CHECK_INT(t->n_malformed, 0, "server: nothing malformed");
        const IrqRow *row = interrupts_find(t, 40);
        CHECK(row && row->total == 400, "server: IRQ 40 = 280 + 120");
        CHECK(row && strstr(row->desc, "IR-PCI-MSIX-0000:00:02.0") != NULL, "server: IRQ 40 chip");
        interrupts_free(t);
}

static void test_rates(void) {
        char dir[1024];
        _cleanup_(interrupts_freep) Interrupts *a = NULL, *b = NULL;
        static const unsigned nvme[] = { 124, 125, 126, 127, 128 };
        static const unsigned i40e[] = { 140, 141, 142, 143, 144 };
        static const unsigned e1000e[] = { 150, 151, 999 };
        IrqRate rate;
        uint64_t d;
        int r;

        snprintf(dir, sizeof(dir), "%s/interrupts", fixtures_dir());
        a = load(dir, "x86-4cpu-a");
        b = load(dir, "x86-4cpu-b");
        if (!a || !b)
                return;
        CHECK_INT(a->n_cpus, 4, "4 CPUs");
        CHECK_INT(a->n_rows, 18, "18 rows before");
        CHECK_INT(b->n_rows, 19, "19 rows after");
        CHECK_INT(a->n_named, 19, "named rows before");
        CHECK_U64(interrupts_find(a, 128)->total, 4294967290ULL, "a count near 2^32");

        d = 0;
        r = interrupts_irq_delta(a, b, 128, &d);
        CHECK(r == 0 && d == 10000, "CPU3's 32-bit count wrapped: delta 10000 (got %llu)",
              (unsigned long long) d);
        CHECK(interrupts_irq_delta(a, b, 150, &d) == 0 && d == 7,
              "IRQ 150 reused by another device: counts from zero");
        CHECK(interrupts_irq_delta(a, b, 151, &d) == 0 && d == 3, "new IRQ counts from zero");
        CHECK_INT(interrupts_irq_delta(a, b, 999, &d), -ENOENT, "absent IRQ");
        CHECK(interrupts_irq_delta(a, b, 9, &d) == 0 && d == 2, "IO-APIC acpi +2");

        interrupts_rate(a, b, nvme, ELEMENTSOF(nvme), 10 * UINT64_C(1000000000), &rate);
        CHECK_U64(rate.events, 40000, "nvme: q1..q3 10000 each, q4 10000 across a wrap");
        CHECK(rate.per_second > 3999.9 && rate.per_second < 4000.1, "nvme: 4000/s (got %f)",
              rate.per_second);
        CHECK(rate.found == 5 && rate.missing == 0, "nvme: all 5 IRQs found");

        interrupts_rate(a, b, i40e, ELEMENTSOF(i40e), 10 * UINT64_C(1000000000), &rate);
        CHECK_U64(rate.events, 400000, "i40e: 4 x 100000");

        interrupts_rate(a, b, e1000e, ELEMENTSOF(e1000e), 0, &rate);
        CHECK(rate.events == 10 && rate.found == 2 && rate.missing == 1 && rate.per_second == 0,
              "reused + new + missing, zero interval");

        /* First sample: everything counts from zero. */
        interrupts_rate(NULL, a, nvme, ELEMENTSOF(nvme), 1000000000, &rate);
        CHECK_U64(rate.events, 102345ULL + 98012 + 100221 + 4294967290ULL, "no previous sample");
}

static void test_hotplug(void) {
        char dir[1024];
        _cleanup_(interrupts_freep) Interrupts *a = NULL, *b = NULL;
        uint64_t d;
        int r;

        snprintf(dir, sizeof(dir), "%s/interrupts", fixtures_dir());
        a = load(dir, "arm64-2cpu-hotplug");
        if (!a)
                return;
        CHECK_INT(a->n_cpus, 2, "arm64: CPU0 and CPU2 online");
        CHECK_INT(a->n_rows, 7, "arm64: 7 rows");
        CHECK_INT(a->n_named, 8, "arm64: IPI0..IPI6 and Err");
        CHECK_INT(a->n_malformed, 0, "arm64: nothing malformed");
        CHECK_STR(interrupts_find(a, 53)->desc, "ITS-MSI 16385 Edge nvme0q1", "arm64 desc");

        /* CPU2 went offline: one column; totals are compared. */
        r = interrupts_parse("           CPU0\n"
                             " 53:       4811     ITS-MSI 16385 Edge      nvme0q1\n"
                             " 54:       4242     ITS-MSI 16386 Edge      nvme0q2\n",
                             &b);
        CHECK(r == 0 && b && b->n_cpus == 1 && b->n_rows == 2, "one CPU left");
        if (!b)
                return;
        CHECK(interrupts_irq_delta(a, b, 53, &d) == 0 && d == 100, "hotplug: totals compared");
        CHECK(interrupts_irq_delta(a, b, 54, &d) == 0 && d == 0, "hotplug: unchanged total");
}

static void test_broken(void) {
        char dir[1024];
        Interrupts *t = NULL;

        snprintf(dir, sizeof(dir), "%s/interrupts", fixtures_dir());
        t = load(dir, "x86-2cpu-truncated");
        if (t) {
                CHECK_INT(t->n_rows, 2, "truncated: the two whole rows");
                CHECK_INT(t->n_malformed, 1, "truncated: the cut row is malformed");
                CHECK(!interrupts_find(t, 29), "truncated: IRQ 29 not guessed");
                t = interrupts_free(t);
        }

        CHECK_INT(interrupts_parse("", &t), -EBADMSG, "empty: no header");
        CHECK_INT(interrupts_parse("  0:  1  2  IO-APIC timer\n", &t), -EBADMSG, "no header");
        CHECK_INT(interrupts_parse("  CPU0 CPUx\n  0: 1 2 x\n", &t), -EBADMSG, "bad header");

        CHECK_INT(interrupts_parse("  CPU0 CPU1\n"
                                   "  1: 5 6\n"             /* all counts, no newline next */
                                   "  2: 5 6 IO-APIC x",    /* last line, no newline, desc */
                                   &t),
                  0, "rows without a description");
        CHECK(t && t->n_rows == 2 && interrupts_find(t, 1)->total == 11, "row without desc kept");
        CHECK(t && interrupts_find(t, 2) && interrupts_find(t, 2)->total == 11,
              "last line with desc kept");
        t = interrupts_free(t);

        CHECK_INT(interrupts_parse("CPU0 CPU1\n 7: 5 6", &t), 0, "cut after the counts");
        CHECK(t && t->n_rows == 0 && t->n_malformed == 1, "cut last line dropped");
        t = interrupts_free(t);

        CHECK_INT(interrupts_parse("CPU0 CPU1\n"
                                   "hello world\n"
                                   " 5: 12 abc IO-APIC\n"
                                   " 6: 12 34x IO-APIC\n"
                                   " 7: 99999999999999999999999 1 x\n"
                                   " 8: 1 1 first\n"
                                   " 8: 2 2 second\n"
                                   " 9x: 1 1 x\n"
                                   ": 1 1\n"
                                   "\n"
                                   "ERR: 0\n"
                                   " 4: 1 2 ok\n",
                                   &t),
                  0, "garbage mixed in");
        if (t) {
                CHECK_INT(t->n_rows, 2, "garbage: rows 4 and 8");
                CHECK_INT(t->n_malformed, 7, "garbage: 7 malformed");
                CHECK_INT(t->n_named, 1, "garbage: ERR named");
                CHECK(t->rows[0].irq == 4 && t->rows[1].irq == 8, "rows sorted");
                CHECK_STR(interrupts_find(t, 8)->desc, "first", "duplicate: first kept");
                t = interrupts_free(t);
        }
        CHECK(interrupts_free(NULL) == NULL, "free NULL");
        CHECK(interrupts_find(NULL, 1) == NULL, "find in NULL");
}

int main(void) {
        test_qemu_capture();
        test_server();
        test_rates();
        test_hotplug();
        test_broken();
        return tap_done();
}
