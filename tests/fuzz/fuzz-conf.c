/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The config parser: the input is a whole iommutuned.conf. config_load()
 * reads files, so the input is put in a memfd read as /proc/self/fd/N. A
 * config that loads is resolved for a device of each of its sections and
 * dumped, which touches every value and origin it holds.
 */
#include <stdio.h>

#include "conf.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static FILE *devnull;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char path[64];
        int fd, r;

        if (!devnull && !(devnull = fopen("/dev/null", "we")))
                abort();
        fd = fuzz_file(path, sizeof(path));
        fuzz_file_set(fd, data, size);

        r = config_load(path, NULL, CONFIG_LOAD_MAIN_REQUIRED, &c, &errors);
        if (r == -EINVAL) {
                /* Every error names the file and says what was expected. */
                FUZZ_CHECK(!c && errors && errors[0]);
                for (char **e = errors; *e; e++)
                        FUZZ_CHECK(strncmp(*e, path, strlen(path)) == 0);
                return 0;
        }
        FUZZ_CHECK(r == 0 && c && !errors);

        const ConfSection *sections;
        size_t n;
        DevicePolicy p;

        sections = config_sections(c, &n);
        FUZZ_CHECK(config_resolve_device(c, "0000:00:03.0", "nvme", "nvme", &p) == 0);
        FUZZ_CHECK(config_explain_device(&p, devnull) == 0);
        for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(sections[i].name);
                FUZZ_CHECK(config_resolve_device(c, sections[i].name, sections[i].name,
                                                 sections[i].name, &p) == 0);
                FUZZ_CHECK(config_explain_device(&p, devnull) == 0);
        }
        FUZZ_CHECK(config_dump(c, devnull) == 0);
        return 0;
}
