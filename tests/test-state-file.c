/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The persistent state: every field both ways (64-bit counters near 2^64
 * included), the loader's checks against bad files (moved aside, never a
 * partial load), the atomic save with a failure at each step (the old file
 * byte-identical, no temp file left), short writes, stale temp files, a
 * read-only directory, an unreadable file, the bounded history and the
 * find-or-add helpers.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "state-file.h"
#include "tap.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];

static int dir_new(void) {
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-state-file-XXXXXX");
        if (!mkdtemp(tmpdir))
                return -errno;
        return open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void dir_remove(int dir_fd) {
        DIR *d;
        struct dirent *de;

        (void) fchmod(dir_fd, 0700);
        d = fdopendir(dup(dir_fd));
        if (d)
                rewinddir(d); /* the dup shares the offset of earlier listings */
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && unlinkat(dir_fd, de->d_name, 0) < 0)
                        (void) unlinkat(dir_fd, de->d_name, AT_REMOVEDIR);
        if (d)
                closedir(d);
        close(dir_fd);
        (void) rmdir(tmpdir);
}

static char *file_read(int dir_fd, const char *name) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        char *buf;
        ssize_t n;

        if (fd < 0)
                return NULL;
        buf = calloc(1, 1 << 20);
        if (!buf)
                return NULL;
        n = read(fd, buf, (1 << 20) - 1);
        if (n < 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int file_write(int dir_fd, const char *name, const char *text) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t len = strlen(text);

        if (fd < 0)
                return -errno;
        return write(fd, text, len) == (ssize_t) len ? 0 : -EIO;
}

/* How many names in the directory start with prefix; the last in *ret. */
static unsigned count_prefix(int dir_fd, const char *prefix, char *ret, size_t size) {
        DIR *d = fdopendir(dup(dir_fd));
        struct dirent *de;
        unsigned n = 0;

        if (d)
                rewinddir(d); /* the dup shares the offset of earlier listings */
        while (d && (de = readdir(d)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                        if (ret)
                                snprintf(ret, size, "%s", de->d_name);
                        n++;
                }
        if (d)
                closedir(d);
        return n;
}

/* The temp files a save writes: the writer's ".state.json.tmp", and
 * "state.json.tmp-<pid>" of saves before it. */
static unsigned temps(int dir_fd) {
        return count_prefix(dir_fd, "." STATE_FILE_NAME ".tmp", NULL, 0) +
               count_prefix(dir_fd, STATE_FILE_NAME ".tmp-", NULL, 0);
}

static bool exists(int dir_fd, const char *name) {
        return faccessat(dir_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void set_counters(StateCounters *c, uint64_t base) {
        *c = (StateCounters) {
                .maps = base,
                .unmaps = base + 1,
                .iotlb_invalidations = UINT64_MAX - base,
                .iotlb_page_selective = (UINT64_C(1) << 63) + base,
                .devtlb_invalidations = (UINT64_C(1) << 63) - 1 - base,
                .strict_model_invalidations = (UINT64_C(1) << 53) + 1 + base,
                .unpatched_model_invalidations = UINT64_MAX - 1,
                .avoided_vs_strict = 0,
                .avoided_by_patch = 1,
                .time_saved_ns = UINT64_C(1) << 32,
        };
}

static bool counters_eq(const StateCounters *a, const StateCounters *b) {
        return memcmp(a, b, sizeof(*a)) == 0;
}

static bool states_equal(const DaemonState *a, const DaemonState *b) {
        if (!counters_eq(&a->total, &b->total) || a->n_units != b->n_units || a->n_groups != b->n_groups ||
            a->n_history != b->n_history)
                return false;
        for (size_t i = 0; i < a->n_units; i++)
                if (!streq(a->units[i].name, b->units[i].name) ||
                    !counters_eq(&a->units[i].counters, &b->units[i].counters) ||
                    !counters_eq(&a->units[i].unattributed, &b->units[i].unattributed))
                        return false;
        for (size_t i = 0; i < a->n_groups; i++) {
                const StateGroup *x = a->groups + i, *y = b->groups + i;

                if (!streq(x->key, y->key) || x->group_hint != y->group_hint ||
                    !counters_eq(&x->counters, &y->counters) || !streq_ptr(x->override_mode, y->override_mode) ||
                    x->override_until_realtime_ns != y->override_until_realtime_ns ||
                    !streq_ptr(x->changed_from, y->changed_from))
                        return false;
        }
        for (size_t i = 0; i < a->n_history; i++) {
                const StateSwitch *x = a->history + i, *y = b->history + i;

                if (x->realtime_ns != y->realtime_ns || x->group != y->group || !streq_ptr(x->key, y->key) ||
                    !streq_ptr(x->from, y->from) || !streq_ptr(x->to, y->to) || !streq_ptr(x->result, y->result))
                        return false;
        }
        return true;
}

/* A state with every field set, odd strings and counters near 2^64. */
static void fill(DaemonState *s) {
        StateGroup *g;
        StateUnit *u;

        set_counters(&s->total, 1000);
        u = state_unit(s, "dmar0");
        set_counters(&u->counters, 10);
        set_counters(&u->unattributed, 3);
        u = state_unit(s, "dmar1");
        set_counters(&u->counters, 0);

        g = state_group(s, "0000:00:02.0", 0);
        set_counters(&g->counters, 5);
        g->override_mode = strdup("lazy");
        g->override_until_realtime_ns = UINT64_MAX - 5;
        g->changed_from = strdup("DMA-FQ");
        g = state_group(s, "0000:01:00.0", 7);
        g->override_mode = strdup("strict");
        g->override_until_realtime_ns = 0;
        g = state_group(s, "0000:02:00.0", UINT_MAX);
        g->changed_from = strdup("identity");
        g = state_group(s, "we\"ird/key\n\xc3\xa9\t\\", 3);
        g->override_mode = strdup("auto");
        g->override_until_realtime_ns = (UINT64_C(1) << 63) - 1;

        state_record_switch(s, UINT64_C(1700000000123456789), 7, "0000:01:00.0", "DMA-FQ", "DMA", "switched");
        state_record_switch(s, UINT64_MAX, 0, NULL, NULL, "identity", "rolled back: \"EBUSY\" from unbind");
        state_record_switch(s, 0, UINT_MAX, "0000:02:00.0", "DMA", "DMA-FQ", NULL);
}

/* ---- round trip --------------------------------------------------------- */

static void test_round_trip(void) {
        _cleanup_(state_done) DaemonState s = {}, back = {}, parsed = {};
        _cleanup_free_ char *text = NULL, *warning = NULL, *again = NULL, *error = NULL;
        int dir_fd = dir_new();
        struct stat st;
        int r;

        fill(&s);
        CHECK(s.n_units == 2 && s.n_groups == 4 && s.n_history == 3, "the test state is complete");
        r = state_save(dir_fd, &s);
        CHECK_INT(r, 0, "state_save");
        CHECK(fstatat(dir_fd, STATE_FILE_NAME, &st, 0) == 0 && (st.st_mode & 07777) == 0600, "state.json is 0600");
        CHECK_INT(temps(dir_fd), 0, "no temp file after a save");

        text = file_read(dir_fd, STATE_FILE_NAME);
        CHECK(text && text[strlen(text) - 1] == '\n', "the file ends in a newline");
        CHECK(text && strstr(text, "\"18446744073709551615\""), "2^64-1 is a decimal string");
        CHECK(text && strstr(text, "\"9223372036854775808\""), "2^63 is a decimal string");
        CHECK(text && strstr(text, ": 9223372036854775807"), "2^63-1 is a JSON integer");
        CHECK(text && strstr(text, "\"override\": null") && strstr(text, "\"changed_from\": null"),
              "no override and no change are null");

        r = state_load(dir_fd, &back, &warning);
        CHECK_INT(r, 0, "state_load");
        CHECK(!warning, "no warning for a good file (%s)", strna(warning));
        CHECK(states_equal(&s, &back), "every field survives save and load");
        CHECK_U64(back.groups[0].override_until_realtime_ns, UINT64_MAX - 5, "override until near 2^64");
        CHECK_U64(back.total.iotlb_invalidations, UINT64_MAX - 1000, "a total near 2^64");
        CHECK(streq(back.groups[3].key, "we\"ird/key\n\xc3\xa9\t\\"), "a key with quotes, slash, newline, UTF-8");
        CHECK(!back.history[1].key && !back.history[1].from && !back.history[2].result,
              "NULL history strings stay NULL");

        r = state_to_json(&back, &again);
        CHECK(r == 0 && text && again && streq(text, again), "saving what was loaded writes the same bytes");

        r = state_parse(text, text ? strlen(text) : 0, &parsed, &error);
        CHECK(r == 0 && !error && states_equal(&s, &parsed), "state_parse reads the text state_load read");
        dir_remove(dir_fd);
}

/* The file is written as a stream (json-stream.c), not through a json-c
 * tree: json-c parses what was saved to the values saved, and prints that
 * tree back as the same bytes (the format files had when json-c wrote
 * them). A state of 300 groups too, the fixture's size. */
static void test_streamed_as_json_c(void) {
        _cleanup_(state_done) DaemonState s = {}, big = {};
        _cleanup_free_ char *text = NULL, *big_text = NULL;
        int dir_fd = dir_new();
        json_object *tree;
        bool ok = true;

        fill(&s);
        CHECK_INT(state_save(dir_fd, &s), 0, "state_save");
        text = file_read(dir_fd, STATE_FILE_NAME);
        tree = text ? json_tokener_parse(text) : NULL;
        CHECK(tree, "json-c parses the saved file");
        if (tree) {
                json_object *groups = json_object_object_get(tree, "groups");
                json_object *g3 = json_object_array_get_idx(groups, 3), *total = json_object_object_get(tree, "total");
                _cleanup_free_ char *printed = NULL;

                CHECK(asprintf(&printed, "%s\n",
                               json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                            JSON_C_TO_STRING_NOSLASHESCAPE)) > 0 &&
                              streq(printed, text),
                      "json-c prints what it parsed as the same bytes");
                CHECK(json_object_array_length(groups) == 4 &&
                              streq(json_object_get_string(json_object_object_get(g3, "key")),
                                    "we\"ird/key\n\xc3\xa9\t\\") &&
                              json_object_get_int64(json_object_object_get(g3, "group_hint")) == 3,
                      "a group's key and number as saved");
                CHECK(streq(json_object_get_string(json_object_object_get(total, "iotlb_invalidations")),
                            "18446744073709550615"),
                      "a counter past 2^63 as its decimal string");
                CHECK(json_object_get_int64(json_object_object_get(tree, "version")) == STATE_FILE_VERSION &&
                              json_object_array_length(json_object_object_get(tree, "history")) == 3 &&
                              json_object_array_length(json_object_object_get(tree, "units")) == 2,
                      "version, units and history as saved");
                json_object_put(tree);
        }

        for (unsigned i = 0; i < 300; i++) {
                char key[32];
                StateGroup *g;

                snprintf(key, sizeof(key), "0000:%02x:%02x.0", i / 32, i % 32);
                g = state_group(&big, key, i);
                if (!g)
                        ok = false;
                else
                        set_counters(&g->counters, i * 1000);
        }
        CHECK(ok && state_to_json(&big, &big_text) == 0, "300 groups to text");
        tree = big_text ? json_tokener_parse(big_text) : NULL;
        if (tree) {
                _cleanup_free_ char *printed = NULL;

                CHECK(asprintf(&printed, "%s\n",
                               json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                            JSON_C_TO_STRING_NOSLASHESCAPE)) > 0 &&
                              streq(printed, big_text),
                      "300 groups: json-c prints the same bytes");
                json_object_put(tree);
        } else
                CHECK(false, "json-c parses 300 groups");
        dir_remove(dir_fd);
}

static void test_missing(void) {
        _cleanup_(state_done) DaemonState s = {};
        _cleanup_free_ char *warning = NULL;
        int dir_fd = dir_new(), r;

        r = state_load(dir_fd, &s, &warning);
        CHECK_INT(r, 0, "a missing state file is not an error");
        CHECK(!warning && s.n_groups == 0 && s.n_units == 0 && s.n_history == 0 &&
              counters_eq(&s.total, &(StateCounters) {}), "a missing file gives an empty state and no warning");
        r = state_load(dir_fd, &s, NULL);
        CHECK_INT(r, 0, "the warning may be NULL");
        dir_remove(dir_fd);

        r = state_load(-EBADF, &s, NULL);
        CHECK_INT(r, -EBADF, "an unusable directory is an error");
}

/* ---- the parser's checks ------------------------------------------------ */

#define GOOD_GROUP "{\"key\":\"0000:01:00.0\",\"group_hint\":7,\"counters\":{},\"override\":null,\"changed_from\":null}"
#define GOOD_UNIT "{\"name\":\"dmar0\",\"counters\":{},\"unattributed\":{}}"
#define GOOD_SWITCH \
        "{\"realtime_ns\":1,\"group\":7,\"key\":\"0000:01:00.0\",\"from\":\"DMA\",\"to\":\"DMA-FQ\",\"result\":\"switched\"}"

static char *doc(const char *total, const char *units, const char *groups, const char *history) {
        char *s;

        if (asprintf(&s, "{\"version\":1,\"total\":%s,\"units\":%s,\"groups\":%s,\"history\":%s}", total, units,
                     groups, history) < 0)
                return NULL;
        return s;
}

static void test_parse_rejects(void) {
        static const struct {
                const char *total, *units, *groups, *history, *error;
        } bad[] = {
                { "[]", "[]", "[]", "[]", "total: not an object" },
                { "null", "[]", "[]", "[]", "total: not an object" },
                { "{\"maps\":-1}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":1.5}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":true}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":null}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":\"12a\"}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":\"-1\"}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":\"\"}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":\" 1\"}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":\"0x10\"}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":\"18446744073709551616\"}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":9223372036854775808}", "[]", "[]", "[]", "total.maps" },
                { "{\"maps\":99999999999999999999999}", "[]", "[]", "[]", "total.maps" },
                { "{}", "{}", "[]", "[]", "units: not an array" },
                { "{}", "[5]", "[]", "[]", "units[0]: not an object" },
                { "{}", "[{\"counters\":{},\"unattributed\":{}}]", "[]", "[]", "units[0].name: missing" },
                { "{}", "[{\"name\":7,\"counters\":{},\"unattributed\":{}}]", "[]", "[]", "units[0].name: not a string" },
                { "{}", "[{\"name\":null,\"counters\":{},\"unattributed\":{}}]", "[]", "[]", "units[0].name" },
                { "{}", "[{\"name\":\"dmar0\",\"counters\":{}}]", "[]", "[]", "units[0].unattributed: missing" },
                { "{}", "[" GOOD_UNIT "," GOOD_UNIT "]", "[]", "[]", "units: \"dmar0\" appears twice" },
                { "{}", "[{\"name\":\"a\\u0000b\",\"counters\":{},\"unattributed\":{}}]", "[]", "[]",
                  "units[0].name: contains a NUL" },
                { "{}", "[]", "null", "[]", "groups: not an array" },
                { "{}", "[]", "[\"x\"]", "[]", "groups[0]: not an object" },
                { "{}", "[]", "[{\"group_hint\":7,\"counters\":{},\"override\":null,\"changed_from\":null}]", "[]",
                  "groups[0].key: missing" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":-1,\"counters\":{},\"override\":null,\"changed_from\":null}]",
                  "[]", "groups[0].group_hint" },
                { "{}", "[]",
                  "[{\"key\":\"k\",\"group_hint\":4294967296,\"counters\":{},\"override\":null,\"changed_from\":null}]",
                  "[]", "groups[0].group_hint" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":\"7\",\"counters\":{},\"override\":null,\"changed_from\":null}]",
                  "[]", "groups[0].group_hint: not an integer" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{\"unmaps\":{}},\"override\":null,\"changed_from\":null}]",
                  "[]", "groups[0].counters.unmaps" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"changed_from\":null}]", "[]",
                  "groups[0].override: missing" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"override\":\"lazy\",\"changed_from\":null}]",
                  "[]", "groups[0].override: not an object or null" },
                { "{}", "[]",
                  "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"override\":{\"mode\":\"fast\",\"until_realtime_ns\":0},\"changed_from\":null}]",
                  "[]", "groups[0].override.mode: \"fast\" is not" },
                { "{}", "[]",
                  "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"override\":{\"mode\":\"lazy\"},\"changed_from\":null}]",
                  "[]", "groups[0].override.until_realtime_ns: missing" },
                { "{}", "[]",
                  "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"override\":{\"mode\":null,\"until_realtime_ns\":0},\"changed_from\":null}]",
                  "[]", "groups[0].override.mode" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"override\":null,\"changed_from\":5}]", "[]",
                  "groups[0].changed_from: not a string or null" },
                { "{}", "[]", "[{\"key\":\"k\",\"group_hint\":7,\"counters\":{},\"override\":null}]", "[]",
                  "groups[0].changed_from: missing" },
                { "{}", "[]", "[" GOOD_GROUP "," GOOD_GROUP "]", "[]", "groups: \"0000:01:00.0\" appears twice" },
                { "{}", "[]", "[]", "{}", "history: not an array" },
                { "{}", "[]", "[]", "[[]]", "history[0]: not an object" },
                { "{}", "[]", "[]", "[{\"realtime_ns\":true,\"group\":7,\"key\":null,\"from\":null,\"to\":null,\"result\":null}]",
                  "history[0].realtime_ns" },
                { "{}", "[]", "[]", "[{\"realtime_ns\":1,\"group\":7,\"key\":null,\"from\":null,\"to\":null}]",
                  "history[0].result: missing" },
                { "{}", "[]", "[]", "[" GOOD_SWITCH ",{\"realtime_ns\":1,\"group\":7,\"key\":[],\"from\":null,\"to\":null,\"result\":null}]",
                  "history[1].key: not a string or null" },
        };
        static const struct {
                const char *text, *error;
                int r;
        } bad_top[] = {
                { "", "ends early", -EBADMSG },
                { "   ", "ends early", -EBADMSG },
                { "{\"version\":1,\"total\":{}", "ends early", -EBADMSG },
                { "{not json}", "not JSON", -EBADMSG },
                { "{\"version\":1,}", "not JSON", -EBADMSG },
                { "5", "not a JSON object", -EBADMSG },
                { "[]", "not a JSON object", -EBADMSG },
                { "null", "not a JSON object", -EBADMSG },
                { "\"state\"", "not a JSON object", -EBADMSG },
                { "{}", "version: missing", -EBADMSG },
                { "{\"version\":\"1\"}", "version: not an integer", -EBADMSG },
                { "{\"version\":1.0}", "version: not an integer", -EBADMSG },
                { "{\"version\":2,\"whatever\":[]}", "version 2", -EPROTONOSUPPORT },
                { "{\"version\":0}", "version 0", -EPROTONOSUPPORT },
                { "{\"version\":-1}", "version -1", -EPROTONOSUPPORT },
                { "{\"version\":1}", "total: missing", -EBADMSG },
                { "{\"version\":1,\"total\":{},\"units\":[],\"groups\":[]}", "history: missing", -EBADMSG },
                { "{\"version\":1,\"total\":{},\"units\":[],\"groups\":[],\"history\":[]} x", "garbage", -EBADMSG },
                { "{\"version\":1,\"total\":{},\"units\":[],\"groups\":[],\"history\":[]}{}", "garbage", -EBADMSG },
                { "{\"version\":1,\"total\":{},\"units\":[],\"groups\":[],\"history\":[],}", "not JSON", -EBADMSG },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = doc(bad[i].total, bad[i].units, bad[i].groups, bad[i].history), *error = NULL;
                DaemonState s = {};
                int r = state_parse(text, strlen(text), &s, &error);

                CHECK(r == -EBADMSG && error && strstr(error, bad[i].error) && !s.groups && !s.units && !s.n_history,
                      "refused, nothing loaded: %s -> %d \"%s\"", bad[i].error, r, strna(error));
                state_done(&s);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad_top); i++) {
                _cleanup_free_ char *error = NULL;
                DaemonState s = {};
                int r = state_parse(bad_top[i].text, strlen(bad_top[i].text), &s, &error);

                CHECK(r == bad_top[i].r && error && strstr(error, bad_top[i].error),
                      "refused: '%s' -> %d \"%s\"", bad_top[i].text, r, strna(error));
                state_done(&s);
        }

        /* A bad field after good ones: nothing of the good ones is kept. */
        {
                _cleanup_free_ char *text = doc("{\"maps\":5}", "[" GOOD_UNIT "]", "[" GOOD_GROUP ",{\"key\":1}]",
                                                "[" GOOD_SWITCH "]");
                DaemonState s = { .n_history = 0 };
                int r = state_parse(text, strlen(text), &s, NULL);

                CHECK(r == -EBADMSG && s.n_units == 0 && s.n_groups == 0 && s.n_history == 0 && s.total.maps == 0,
                      "a bad field late in the file: no partial load");
        }
}

static void test_parse_accepts(void) {
        _cleanup_(state_done) DaemonState s = {};
        _cleanup_free_ char *text = NULL, *error = NULL, *history = NULL;
        char buf[256];
        size_t len = 0;
        int r;

        /* Unknown fields anywhere, counters missing or as strings, trailing
         * whitespace. */
        text = strdup("{\"version\":1,\"future\":{\"x\":[1,2]},"
                      "\"total\":{\"maps\":\"5\",\"unmaps\":\"18446744073709551615\",\"new_counter\":\"x\"},"
                      "\"units\":[{\"name\":\"dmar0\",\"counters\":{\"maps\":3},\"unattributed\":{},\"extra\":1}],"
                      "\"groups\":[{\"key\":\"0000:01:00.0\",\"group_hint\":7,\"counters\":{},"
                      "\"override\":{\"mode\":\"auto\",\"until_realtime_ns\":\"12\",\"why\":\"x\"},"
                      "\"changed_from\":\"DMA\",\"extra\":null}],"
                      "\"history\":[{\"realtime_ns\":\"9\",\"group\":1,\"key\":null,\"from\":null,\"to\":null,"
                      "\"result\":null,\"extra\":{}}]}\n \t\r\n");
        r = state_parse(text, strlen(text), &s, &error);
        CHECK(r == 0 && !error, "unknown fields are ignored (%s)", strna(error));
        CHECK(r == 0 && s.total.maps == 5 && s.total.unmaps == UINT64_MAX && s.total.iotlb_invalidations == 0,
              "counters: strings read, missing ones are 0");
        CHECK(r == 0 && s.n_units == 1 && s.units[0].counters.maps == 3 && s.n_groups == 1 &&
              streq_ptr(s.groups[0].override_mode, "auto") && s.groups[0].override_until_realtime_ns == 12 &&
              streq_ptr(s.groups[0].changed_from, "DMA") && s.n_history == 1 && s.history[0].realtime_ns == 9,
              "the known fields are read");
        state_done(&s);

        /* Not NUL-terminated: only len bytes are read. */
        snprintf(buf, sizeof(buf), "{\"version\":1,\"total\":{},\"units\":[],\"groups\":[],\"history\":[]}");
        len = strlen(buf);
        memcpy(buf + len, "garbage", 7);
        r = state_parse(buf, len, &s, NULL);
        CHECK_INT(r, 0, "the text need not be NUL-terminated");
        state_done(&s);

        /* A history longer than the limit keeps its newest entries. */
        {
                FILE *f;
                size_t size = 0;

                f = open_memstream(&history, &size);
                fputs("{\"version\":1,\"total\":{},\"units\":[],\"groups\":[],\"history\":[", f);
                for (unsigned i = 0; i < STATE_HISTORY_MAX + 6; i++)
                        fprintf(f, "%s{\"realtime_ns\":%u,\"group\":%u,\"key\":null,\"from\":null,\"to\":null,"
                                "\"result\":\"r%u\"}", i ? "," : "", i, i, i);
                fputs("]}", f);
                fclose(f);
        }
        r = state_parse(history, strlen(history), &s, NULL);
        CHECK(r == 0 && s.n_history == STATE_HISTORY_MAX && s.history[0].realtime_ns == 6 &&
              s.history[STATE_HISTORY_MAX - 1].realtime_ns == STATE_HISTORY_MAX + 5 &&
              streq_ptr(s.history[0].result, "r6"), "a long history keeps the newest %d", STATE_HISTORY_MAX);
        state_done(&s);

        r = state_parse(NULL, 0, &s, NULL);
        CHECK_INT(r, -EBADMSG, "no text at all is corrupt");
}

/* ---- bad files on disk -------------------------------------------------- */

/* Loads a bad state.json: moved aside byte for byte, a warning, empty. */
static void check_moved_aside(int dir_fd, const char *text, const char *what, const char *want_words) {
        _cleanup_(state_done) DaemonState s = {};
        _cleanup_free_ char *warning = NULL, *aside_text = NULL;
        char aside[NAME_MAX + 1] = "";
        unsigned before = count_prefix(dir_fd, STATE_FILE_NAME ".corrupt-", NULL, 0);
        int r;

        if (text)
                file_write(dir_fd, STATE_FILE_NAME, text);
        r = state_load(dir_fd, &s, &warning);
        CHECK_INT(r, 0, what);
        CHECK(warning && strstr(warning, want_words) && strstr(warning, STATE_FILE_NAME ".corrupt-"),
              "%s: the warning says so and where: %s", what, strna(warning));
        CHECK(s.n_groups == 0 && s.n_units == 0 && s.n_history == 0 && counters_eq(&s.total, &(StateCounters) {}),
              "%s: the state is empty", what);
        CHECK(!exists(dir_fd, STATE_FILE_NAME), "%s: state.json is gone", what);
        CHECK_INT(count_prefix(dir_fd, STATE_FILE_NAME ".corrupt-", NULL, 0), before + 1,
                  "moved aside without replacing an earlier one");
        if (text && warning) {
                const char *p = strstr(warning, "moved to ");

                if (p)
                        sscanf(p + strlen("moved to "), "%255[^;]", aside);
                aside_text = file_read(dir_fd, aside);
                CHECK(aside_text && streq(aside_text, text), "%s: %s holds the file byte for byte", what, aside);
        }
}

static void test_load_bad_files(void) {
        _cleanup_free_ char *wrong_type = NULL;
        _cleanup_(state_done) DaemonState s = {}, back = {};
        _cleanup_free_ char *warning = NULL;
        int dir_fd = dir_new(), r;

        check_moved_aside(dir_fd, "{\"version\":1,\"total\":{", "truncated JSON", "is corrupt (not JSON");
        check_moved_aside(dir_fd, "\x01\x02garbage", "garbage", "is corrupt");
        check_moved_aside(dir_fd, "", "an empty file", "is corrupt");
        check_moved_aside(dir_fd, "{\"version\":2,\"total\":{}}\n", "version 2", "is from another version (version 2");
        wrong_type = doc("{}", "[]", "[{\"key\":\"k\",\"group_hint\":\"seven\",\"counters\":{},\"override\":null,"
                         "\"changed_from\":null}]", "[]");
        check_moved_aside(dir_fd, wrong_type, "a field of the wrong type", "groups[0].group_hint: not an integer");

        mkdirat(dir_fd, STATE_FILE_NAME, 0700);
        check_moved_aside(dir_fd, NULL, "a directory at state.json", "not a regular file");
        symlinkat("/etc/passwd", dir_fd, STATE_FILE_NAME);
        check_moved_aside(dir_fd, NULL, "a symbolic link at state.json", "symbolic link");
        mkfifoat(dir_fd, STATE_FILE_NAME, 0600);
        check_moved_aside(dir_fd, NULL, "a FIFO at state.json (must not hang)", "not a regular file");

        /* After all that, the daemon saves and loads as usual. */
        fill(&s);
        r = state_save(dir_fd, &s);
        CHECK_INT(r, 0, "saving after a corrupt file was moved aside");
        r = state_load(dir_fd, &back, &warning);
        CHECK(r == 0 && !warning && states_equal(&s, &back), "and it loads back");
        dir_remove(dir_fd);
}

/* ---- failures while saving ---------------------------------------------- */

static const char *fail_step;
static int fail_errno;
static char steps_seen[128];

static int hook(const char *step) {
        size_t n = strlen(steps_seen);

        snprintf(steps_seen + n, sizeof(steps_seen) - n, "%s%s", n ? "," : "", step);
        return fail_step && streq(step, fail_step) ? -fail_errno : 0;
}

static void test_save_failures(void) {
        static const struct {
                const char *step;
                int error;
        } steps[] = {
                { "open", EMFILE }, { "write", ENOSPC }, { "fsync", EIO }, { "rename", EXDEV },
        };
        _cleanup_(state_done) DaemonState old = {}, new = {};
        _cleanup_free_ char *old_text = NULL, *new_text = NULL, *now = NULL;
        int dir_fd = dir_new(), r;

        set_counters(&old.total, 1);
        set_counters(&new.total, 2);
        fill(&new);
        state_write_hook = hook;
        r = state_save(dir_fd, &old);
        CHECK_INT(r, 0, "saving the old state");
        CHECK_STR(steps_seen, "open,write,fsync,rename,fsync-dir", "the steps of a save, in order");
        old_text = file_read(dir_fd, STATE_FILE_NAME);

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                fail_step = steps[i].step;
                fail_errno = steps[i].error;
                r = state_save(dir_fd, &new);
                CHECK(r == -steps[i].error, "a failure at %s gives its errno (%d)", steps[i].step, r);
                free(now);
                now = file_read(dir_fd, STATE_FILE_NAME);
                CHECK(old_text && now && streq(old_text, now), "a failure at %s leaves the old file byte-identical",
                      steps[i].step);
                CHECK_INT(temps(dir_fd), 0, "and no temp file");
        }

        /* The directory fsync comes after the rename: the new file is in
         * place; the caller saves again later. */
        fail_step = "fsync-dir";
        fail_errno = EIO;
        r = state_save(dir_fd, &new);
        CHECK_INT(r, -EIO, "a failure at fsync-dir gives its errno");
        free(now);
        now = file_read(dir_fd, STATE_FILE_NAME);
        state_to_json(&new, &new_text);
        CHECK(now && new_text && streq(now, new_text), "after fsync-dir failed, the new file is in place");
        CHECK_INT(temps(dir_fd), 0, "and no temp file");

        fail_step = NULL;
        state_write_hook = NULL;
        dir_remove(dir_fd);
}

/* Runs f in a child (as nobody when unprivileged and we are root: root
 * ignores file permissions) and returns what it returned; 1 when it could
 * not run. */
static int run_in_child(int (*f)(int dir_fd), int dir_fd, bool unprivileged) {
        int pipefd[2], r = 1, status;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return 1;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                int q = 1;

                close(pipefd[0]);
                if (!unprivileged || geteuid() != 0 || (setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0))
                        q = f(dir_fd);
                if (write(pipefd[1], &q, sizeof(q)) != sizeof(q))
                        _exit(2);
                _exit(0);
        }
        close(pipefd[1]);
        if (read(pipefd[0], &r, sizeof(r)) != sizeof(r))
                r = 1;
        close(pipefd[0]);
        (void) waitpid(pid, &status, 0);
        return r;
}

static int save_filled(int dir_fd) {
        _cleanup_(state_done) DaemonState s = {};

        fill(&s);
        return state_save(dir_fd, &s);
}

static int save_limited(int dir_fd) {
        struct rlimit rl = { .rlim_cur = 100, .rlim_max = RLIM_INFINITY };

        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
                return 1;
        return save_filled(dir_fd);
}

static int load_only(int dir_fd) {
        DaemonState s = {};
        int r = state_load(dir_fd, &s, NULL);

        state_done(&s);
        return r;
}

static void test_save_short_write(void) {
        _cleanup_(state_done) DaemonState old = {};
        _cleanup_free_ char *old_text = NULL, *now = NULL;
        int dir_fd = dir_new(), r;

        set_counters(&old.total, 1);
        state_save(dir_fd, &old);
        old_text = file_read(dir_fd, STATE_FILE_NAME);

        /* A file size limit makes the first write short and the next one
         * fail with EFBIG. */
        r = run_in_child(save_limited, dir_fd, false);
        CHECK_INT(r, -EFBIG, "a short write, then EFBIG");
        now = file_read(dir_fd, STATE_FILE_NAME);
        CHECK(old_text && now && streq(old_text, now), "the old file is byte-identical");
        CHECK_INT(temps(dir_fd), 0, "and no temp file");
        dir_remove(dir_fd);
}

static void test_read_only(void) {
        _cleanup_(state_done) DaemonState old = {};
        _cleanup_free_ char *old_text = NULL, *now = NULL;
        int dir_fd = dir_new(), r;

        set_counters(&old.total, 1);
        state_save(dir_fd, &old);
        old_text = file_read(dir_fd, STATE_FILE_NAME);

        fchmod(dir_fd, 0555);
        r = run_in_child(save_filled, dir_fd, true);
        CHECK_INT(r, -EACCES, "a read-only directory gives -EACCES");
        now = file_read(dir_fd, STATE_FILE_NAME);
        CHECK(old_text && now && streq(old_text, now), "the old file is byte-identical");
        CHECK_INT(temps(dir_fd), 0, "and no temp file");

        /* A state file that exists but cannot be read is an error, not an
         * empty state: a save would reset its counters. */
        fchmod(dir_fd, 0755);
        fchmodat(dir_fd, STATE_FILE_NAME, 0, 0);
        r = run_in_child(load_only, dir_fd, true);
        CHECK_INT(r, -EACCES, "an unreadable state.json gives -EACCES");
        CHECK(exists(dir_fd, STATE_FILE_NAME) && count_prefix(dir_fd, STATE_FILE_NAME ".corrupt-", NULL, 0) == 0,
              "and it is left where it is");
        dir_remove(dir_fd);
}

static void test_stale_temps(void) {
        _cleanup_(state_done) DaemonState s = {}, back = {};
        _cleanup_free_ char *warning = NULL;
        char own[64];
        int dir_fd = dir_new(), r;

        snprintf(own, sizeof(own), STATE_FILE_NAME ".tmp-%ld", (long) getpid());
        file_write(dir_fd, own, "half");
        file_write(dir_fd, STATE_FILE_NAME ".tmp-1", "half");
        file_write(dir_fd, "." STATE_FILE_NAME ".tmp", "half"); /* the writer's temp file */
        file_write(dir_fd, "intent-group-7.json", "{}");
        fill(&s);
        r = state_save(dir_fd, &s);
        CHECK_INT(r, 0, "a stale temp file (the writer's, or of our own pid) does not stop a save");
        r = state_load(dir_fd, &back, &warning);
        CHECK(r == 0 && !warning && states_equal(&s, &back), "loads");
        CHECK_INT(temps(dir_fd), 0, "state_load removes stale temp files");
        file_write(dir_fd, "." STATE_FILE_NAME ".tmp", "half");
        state_done(&back);
        r = state_load(dir_fd, &back, &warning);
        CHECK(r == 0 && !exists(dir_fd, "." STATE_FILE_NAME ".tmp"),
              "state_load removes the writer's temp file left by a save killed half-way");
        CHECK(exists(dir_fd, "intent-group-7.json"), "and leaves other files alone");
        dir_remove(dir_fd);
}

static void test_save_refuses(void) {
        _cleanup_(state_done) DaemonState s = {};
        _cleanup_free_ char *text = NULL;
        int dir_fd = dir_new(), r;
        StateGroup *g;

        g = state_group(&s, "0000:01:00.0", 1);
        g->override_mode = strdup("fast");
        r = state_save(dir_fd, &s);
        CHECK_INT(r, -EINVAL, "an override mode that would not load back is refused");
        CHECK(!exists(dir_fd, STATE_FILE_NAME), "and nothing is written");
        r = state_to_json(&s, &text);
        CHECK(r == -EINVAL && !text, "state_to_json refuses it too");
        dir_remove(dir_fd);
}

/* ---- the state in memory ------------------------------------------------ */

static void test_history_bounded(void) {
        _cleanup_(state_done) DaemonState s = {}, back = {};
        char key[32];
        int dir_fd = dir_new(), r = 0;

        for (unsigned i = 0; i < STATE_HISTORY_MAX + 5 && r == 0; i++) {
                snprintf(key, sizeof(key), "0000:%02x:00.0", i);
                r = state_record_switch(&s, i, i, key, "DMA", "DMA-FQ", "switched");
        }
        snprintf(key, sizeof(key), "overwritten");
        CHECK_INT(r, 0, "recording");
        CHECK_INT(s.n_history, STATE_HISTORY_MAX, "the history stops at STATE_HISTORY_MAX");
        CHECK(s.history[0].realtime_ns == 5 && s.history[0].group == 5 &&
              streq_ptr(s.history[0].key, "0000:05:00.0"), "the oldest were dropped");
        CHECK(s.history[STATE_HISTORY_MAX - 1].realtime_ns == STATE_HISTORY_MAX + 4, "the newest is last");
        CHECK_STR(s.history[STATE_HISTORY_MAX - 1].key, "0000:44:00.0", "the strings were copied");
        r = state_record_switch(&s, 999, 1, NULL, NULL, NULL, NULL);
        CHECK(r == 0 && s.n_history == STATE_HISTORY_MAX && !s.history[STATE_HISTORY_MAX - 1].key,
              "NULL strings are allowed");
        state_save(dir_fd, &s);
        r = state_load(dir_fd, &back, NULL);
        CHECK(r == 0 && states_equal(&s, &back), "a full history round-trips");
        dir_remove(dir_fd);
}

static void test_find_or_add(void) {
        _cleanup_(state_done) DaemonState s = {};
        StateGroup *g;
        StateUnit *u;

        g = state_group(&s, "0000:01:00.0", 3);
        CHECK(g && streq(g->key, "0000:01:00.0") && g->group_hint == 3 && !g->override_mode && !g->changed_from &&
              counters_eq(&g->counters, &(StateCounters) {}), "a new group starts empty");
        g->counters.maps = 42;
        g = state_group(&s, "0000:02:00.0", 4);
        CHECK(g && s.n_groups == 2, "a second group is added");
        g = state_group(&s, "0000:01:00.0", 9);
        CHECK(g == s.groups && s.n_groups == 2 && g->counters.maps == 42, "an existing group is found");
        CHECK_INT(g ? g->group_hint : 0, 9, "and its group hint follows the current number");
        errno = 0;
        g = state_group(&s, NULL, 1);
        CHECK(!g && errno == EINVAL && s.n_groups == 2, "no key: EINVAL");
        CHECK(state_group_find(&s, "0000:02:00.0") == s.groups + 1, "find: an existing group");
        CHECK(!state_group_find(&s, "0000:03:00.0") && s.n_groups == 2, "find: an unknown key adds nothing");
        CHECK(!state_group_find(&s, NULL), "find: no key, no group");

        u = state_unit(&s, "dmar0");
        CHECK(u && streq(u->name, "dmar0") && counters_eq(&u->counters, &(StateCounters) {}), "a new unit");
        u->unattributed.unmaps = 5;
        state_unit(&s, "dmar1");
        u = state_unit(&s, "dmar0");
        CHECK(u == s.units && s.n_units == 2 && u->unattributed.unmaps == 5, "an existing unit is found");
        errno = 0;
        CHECK(!state_unit(&s, NULL) && errno == EINVAL, "no name: EINVAL");
}

/* The lookup index: every entry is found whatever the order of the
 * lookups (the tick's order, reversed, groups missing from the topology),
 * after groups appear between entries, and in a state loaded from text
 * (the index built afresh). */
static void test_group_index(void) {
        _cleanup_(state_done) DaemonState s = {}, parsed = {};
        _cleanup_free_ char *text = NULL;
        char key[32];
        bool ok;

        /* Added out of key order: 0000:NN:00.0 for NN = 7 * i mod 64. */
        for (unsigned i = 0; i < 64; i++) {
                snprintf(key, sizeof(key), "0000:%02x:00.0", (7 * i) % 64);
                state_group(&s, key, i)->counters.maps = (7 * i) % 64;
        }
        CHECK_INT(s.n_groups, 64, "64 groups added");
        for (int pass = 0; pass < 3; pass++) {
                ok = true;
                for (unsigned j = 0; j < 64; j++) {
                        /* pass 0: the order they were added; 1: reversed; 2: every third only */
                        unsigned i = pass == 1 ? 63 - j : j, nn = (7 * i) % 64;
                        StateGroup *g;

                        if (pass == 2 && j % 3)
                                continue;
                        snprintf(key, sizeof(key), "0000:%02x:00.0", nn);
                        g = state_group(&s, key, 100 + i);
                        ok = ok && g && streq(g->key, key) && g->counters.maps == nn && g->group_hint == 100 + i;
                }
                CHECK(ok && s.n_groups == 64, "pass %d: every lookup finds its own entry, nothing added", pass);
        }
        /* Groups appear: keys that sort between, before and after the others. */
        state_group(&s, "0000:05:00.1", 200)->counters.maps = 1000;
        state_group(&s, "0000:00:00.1", 201)->counters.maps = 1001;
        state_group(&s, "ffff:ff:1f.7", 202)->counters.maps = 1002;
        CHECK_INT(s.n_groups, 67, "three new groups added");
        ok = true;
        for (unsigned nn = 0; nn < 64; nn++) {
                StateGroup *g;

                snprintf(key, sizeof(key), "0000:%02x:00.0", nn);
                g = state_group(&s, key, nn);
                ok = ok && g && g->counters.maps == nn;
        }
        CHECK(ok && state_group(&s, "0000:05:00.1", 0)->counters.maps == 1000 &&
              state_group(&s, "0000:00:00.1", 0)->counters.maps == 1001 &&
              state_group(&s, "ffff:ff:1f.7", 0)->counters.maps == 1002 && s.n_groups == 67,
              "after groups appeared, each key still finds its entry");

        CHECK(state_to_json(&s, &text) == 0 && state_parse(text, strlen(text), &parsed, NULL) == 0,
              "the state goes to text and back");
        ok = parsed.n_groups == 67;
        for (unsigned j = 0; j < 64 && ok; j++) {
                unsigned nn = 63 - j;
                StateGroup *g;

                snprintf(key, sizeof(key), "0000:%02x:00.0", nn);
                g = state_group(&parsed, key, nn);
                ok = g && g->counters.maps == nn;
        }
        CHECK(ok && state_group(&parsed, "0000:05:00.1", 0)->counters.maps == 1000 && parsed.n_groups == 67,
              "a loaded state finds each entry (the index built from the file)");
        CHECK(state_group(&parsed, "0000:06:00.1", 0) && parsed.n_groups == 68 &&
              state_group(&parsed, "0000:06:00.0", 0)->counters.maps == 6,
              "a group added to a loaded state is found, and so are the others");
}

static void test_counters_add(void) {
        StateCounters a = { .maps = 1, .unmaps = UINT64_MAX - 1, .time_saved_ns = UINT64_MAX };
        StateCounters d = { .maps = 2, .unmaps = 5, .time_saved_ns = 1, .avoided_by_patch = 7 };

        state_counters_add(&a, &d);
        CHECK(a.maps == 3 && a.avoided_by_patch == 7, "counters add");
        CHECK(a.unmaps == UINT64_MAX && a.time_saved_ns == UINT64_MAX, "and saturate at UINT64_MAX");
}

/* A state.json as version 1 wrote it before the counter table (counters.c)
 * named its keys: every counter key is read into its own field, so the
 * table never renames one. */
static void test_existing_file_keys(void) {
        static const char text[] =
                "{\"version\":1,\"total\":{\"maps\":1,\"unmaps\":2,\"iotlb_invalidations\":3,"
                "\"iotlb_page_selective\":4,\"devtlb_invalidations\":5,\"strict_model_invalidations\":6,"
                "\"unpatched_model_invalidations\":7,\"avoided_vs_strict\":8,\"avoided_by_patch\":9,"
                "\"time_saved_ns\":10},\"units\":[],\"groups\":[],\"history\":[]}";
        _cleanup_free_ char *error = NULL, *out = NULL;
        DaemonState s = {};

        CHECK_INT(state_parse(text, strlen(text), &s, &error), 0, "an existing state.json loads");
        CHECK(s.total.maps == 1 && s.total.unmaps == 2 && s.total.iotlb_invalidations == 3 &&
                      s.total.iotlb_page_selective == 4 && s.total.devtlb_invalidations == 5 &&
                      s.total.strict_model_invalidations == 6 && s.total.unpatched_model_invalidations == 7 &&
                      s.total.avoided_vs_strict == 8 && s.total.avoided_by_patch == 9 && s.total.time_saved_ns == 10,
              "... each counter key into its own field");
        CHECK(state_to_json(&s, &out) == 0 && strstr(out, "\"iotlb_page_selective\": 4") &&
                      strstr(out, "\"time_saved_ns\": 10"),
              "... and saved under the same keys");
        state_done(&s);
}

int main(void) {
        test_round_trip();
        test_streamed_as_json_c();
        test_missing();
        test_parse_rejects();
        test_parse_accepts();
        test_load_bad_files();
        test_save_failures();
        test_save_short_write();
        test_read_only();
        test_stale_temps();
        test_save_refuses();
        test_history_bounded();
        test_find_or_add();
        test_group_index();
        test_counters_add();
        test_existing_file_keys();
        return tap_done();
}
