/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs a fuzz target once over each input it is given: files, or
 * directories of them (sorted, dot files skipped). This is how the unit
 * suite replays the seed corpus and the regression inputs without
 * libFuzzer, under any compiler, ASan or valgrind. A path that does not
 * exist is skipped (regress/<name>/ exists only once a crash was found);
 * no input at all is an error.
 *   replay-<name> PATH...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
        FILE *f = fopen(path, "re");
        uint8_t *buf = NULL;
        size_t size = 0, allocated = 0;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        for (;;) {
                if (size == allocated) {
                        allocated = allocated ? allocated * 2 : 4096;
                        if (!(buf = realloc(buf, allocated)))
                                abort();
                }
                size_t n = fread(buf + size, 1, allocated - size, f);
                size += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                fprintf(stderr, "%s: read error\n", path);
                fclose(f);
                free(buf);
                return -1;
        }
        fclose(f);
        printf("%s (%zu bytes)\n", path, size);
        fflush(stdout);
        /* An exact copy, so that ASan and valgrind see reads past its end. */
        uint8_t *input = fuzz_dup(buf, size);
        free(buf);
        LLVMFuzzerTestOneInput(input, size);
        free(input);
        return 0;
}

static int run_dir(const char *path, unsigned *n) {
        struct dirent **names;
        int count, r = 0;

        count = scandir(path, &names, NULL, alphasort);
        if (count < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        for (int i = 0; i < count; i++) {
                char *file;

                if (names[i]->d_name[0] != '.') {
                        if (asprintf(&file, "%s/%s", path, names[i]->d_name) < 0)
                                abort();
                        if (run_file(file) < 0)
                                r = -1;
                        else
                                (*n)++;
                        free(file);
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned n = 0;
        int status = EXIT_SUCCESS;

        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (run_dir(argv[i], &n) < 0)
                                status = EXIT_FAILURE;
                } else if (run_file(argv[i]) < 0)
                        status = EXIT_FAILURE;
                else
                        n++;
        }
        if (n == 0) {
                fprintf(stderr, "no inputs\n");
                return EXIT_FAILURE;
        }
        printf("%u inputs, no crash\n", n);
        return status;
}
