/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sysfs and procfs attribute parsers: the input is the content of one
 * attribute file. It is read through sysfs_read_attr() (from a memfd,
 * relative to /proc/self/fd as the readers are relative to their root) at
 * several buffer sizes and as each kind of number, and given to the
 * topology's attribute parsers: a kernel command line (dma_defaults_parse),
 * reserved_regions lines, a group type, a PCI modalias; and as a CPU list (cpulist_parse,
 * devices/system/cpu/online). Its first 16 bytes are cap and ecap registers
 * for vtd_caps_decode().
 */
#include <fcntl.h>
#include <strings.h>

#include "fuzz.h"
#include "perf-tracepoint.h"
#include "sysfs.h"
#include "topology.h"
#include "util.h"

static void check_attr(int dirfd, const char *name, size_t size) {
        _cleanup_free_ char *buf = malloc(size);
        int r;

        if (!buf)
                abort();
        r = sysfs_read_attr(dirfd, name, buf, size);
        if (size < 2) {
                FUZZ_CHECK(r == -EINVAL);
                return;
        }
        FUZZ_CHECK(r > 0 || r == -ENODATA || r == -EFBIG);
        if (r > 0) {
                FUZZ_CHECK((size_t) r < size && buf[r] == '\0');
                FUZZ_CHECK(buf[r - 1] != '\n' && buf[r - 1] != ' ');
        }
}

static void check_numbers(int dirfd, const char *name, const char *text) {
        uint64_t u;
        int i, r;

        r = sysfs_read_u64(dirfd, name, &u);
        FUZZ_CHECK(r >= 0 || r == -EINVAL || r == -ERANGE || r == -ENODATA || r == -EFBIG);
        r = sysfs_read_hex(dirfd, name, &u);
        FUZZ_CHECK(r >= 0 || r == -EINVAL || r == -ERANGE || r == -ENODATA || r == -EFBIG);
        r = sysfs_read_int(dirfd, name, &i);
        FUZZ_CHECK(r >= 0 || r == -EINVAL || r == -ERANGE || r == -ENODATA || r == -EFBIG);

        r = safe_atou64(text, &u);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r == 0)
                (void) pci_class_to_word((uint32_t) u);
        r = safe_atoux64(text, &u);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
        r = safe_atoi(text, &i);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
}

static void check_cpulist(const char *text) {
        _cleanup_free_ unsigned *cpus = NULL;
        size_t n = 0;
        int r;

        r = cpulist_parse(text, &cpus, &n);
        FUZZ_CHECK(r == 0 || r == -EBADMSG);
        if (r < 0)
                return;
        for (size_t i = 1; i < n; i++)
                FUZZ_CHECK(cpus[i - 1] < cpus[i]);
}

static void check_topology_parsers(const uint8_t *data, size_t size, const char *text) {
        DmaDefaults dma;
        ReservedRegion region;
        GroupType t;
        PciIds ids;
        VtdCaps caps;
        uint64_t reg[2] = {};
        uint64_t bitmap;

        FUZZ_CHECK(dma_defaults_parse(text, &dma) == 0);
        FUZZ_CHECK(dma.iommu_strict >= -1 && dma.iommu_strict <= 1);
        FUZZ_CHECK(dma.iommu_passthrough >= -1 && dma.iommu_passthrough <= 1);
        dma_defaults_done(&dma);

        /* reserved_regions: one region per line. */
        for (const char *line = text; *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *l = strndup(line, len);

                if (!l)
                        abort();
                if (reserved_region_parse(l, &region) == 0) {
                        FUZZ_CHECK(region.start <= region.end && region.type);
                        free(region.type);
                }
                line += len;
                if (*line)
                        line++;
        }

        /* A modalias that parses is one the kernel could print: the same
         * fields print back to it (hex digits in either case). */
        if (pci_modalias_parse(text, &ids) == 0) {
                char again[64];

                FUZZ_CHECK(ids.class_code <= 0xffffff);
                snprintf(again, sizeof(again), "pci:v%08Xd%08X", ids.vendor_id, ids.device_id);
                FUZZ_CHECK(strncasecmp(text, again, strlen(again)) == 0);
                snprintf(again, sizeof(again), "bc%02Xsc%02Xi%02X", ids.class_code >> 16, ids.class_code >> 8 & 0xff,
                         ids.class_code & 0xff);
                FUZZ_CHECK(strlen(text) == 53 && strcasecmp(text + 42, again) == 0);
        }

        t = group_type_from_string(text);
        if (t != GROUP_TYPE_UNKNOWN)
                FUZZ_CHECK(streq(group_type_to_string(t), text));

        memcpy(reg, data, size < sizeof(reg) ? size : sizeof(reg));
        vtd_caps_decode(reg[0], reg[1], &caps);
        for (unsigned sp = 0; sp < 4; sp++) {
                bitmap = vtd_pgsize_bitmap(&caps, sp & 1, sp & 2);
                /* A DMA domain can always map 4 KiB pages. */
                FUZZ_CHECK(bitmap == 0 || (bitmap & SZ_4K));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int proc_fd = -1;
        _cleanup_free_ char *text = fuzz_text(data, size);
        _cleanup_free_ char *whole = NULL;
        char path[64], name[16];
        int fd, r;

        if (proc_fd < 0 && (proc_fd = sysfs_open_root("/proc/self/fd")) < 0)
                abort();
        fd = fuzz_file(path, sizeof(path));
        fuzz_file_set(fd, data, size);
        snprintf(name, sizeof(name), "%d", fd);

        for (size_t s = 0; s < 6; s++)
                check_attr(proc_fd, name, s);
        check_attr(proc_fd, name, 64);
        check_attr(proc_fd, name, 4096);
        check_numbers(proc_fd, name, text);

        /* Whole files are read up to a bound; inputs stay well below it. */
        r = sysfs_read_file(proc_fd, name, 1 << 20, &whole);
        if (size < (1 << 19))
                FUZZ_CHECK(r == (int) size && memcmp(whole, data, size) == 0 && whole[size] == '\0');

        check_topology_parsers(data, size, text);
        check_cpulist(text);
        return 0;
}
