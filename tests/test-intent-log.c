/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The intent record: its JSON both ways, its checks against hostile input,
 * the atomic write, the needs-attention marks. The recovery that reads
 * them is test-recovery.c.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "intent-log.h"
#include "log.h"
#include "switch-sim.h"
#include "tap.h"
#include "util.h"

#define BDF "0000:01:00.0"

/* ---- JSON ------------------------------------------------------------- */

static void test_json_round_trip(void) {
        IntentDevice devs[] = { { .bdf = (char *) "0000:02:00.0", .driver = (char *) "i40e" },
                                { .bdf = (char *) "0000:02:00.1", .driver = NULL } };
        IntentRecord r = { .group = 42, .old_type = GROUP_TYPE_DMA_FQ, .new_type = GROUP_TYPE_IDENTITY,
                           .devices = devs, .n_devices = 2, .step = INTENT_STEP_REBINDING,
                           .boot_id = "0b5e7c1a-1111-2222-3333-444455556666",
                           .message = (char *) "a \"quoted\" message/with slash" };
        _cleanup_free_ char *text = intent_record_to_json(&r), *error = NULL;
        IntentRecord back = {};
        int q;

        CHECK(text && strchr(text, '\n') == text + strlen(text) - 1, "one line of JSON");
        CHECK(text && strstr(text, "\"driver\":null"), "an unbound device has driver null");
        q = intent_record_from_json(text, &back, &error);
        CHECK_INT(q, 0, "parses back");
        CHECK(back.group == 42 && back.old_type == GROUP_TYPE_DMA_FQ && back.new_type == GROUP_TYPE_IDENTITY &&
              back.step == INTENT_STEP_REBINDING, "fields survive");
        CHECK(back.n_devices == 2 && streq(back.devices[0].bdf, "0000:02:00.0") &&
              streq_ptr(back.devices[0].driver, "i40e") && !back.devices[1].driver, "devices survive");
        CHECK_STR(back.boot_id, r.boot_id, "boot id");
        CHECK_STR(back.message, r.message, "message");
        intent_record_done(&back);
        CHECK(intent_step_from_string("rolling-back") == INTENT_STEP_ROLLING_BACK &&
              intent_step_from_string("nope") == _INTENT_STEP_INVALID && !intent_step_to_string(_INTENT_STEP_MAX),
              "step names");
}

static void test_json_rejects(void) {
        static const struct {
                const char *text, *why;
        } bad[] = {
                { "", "empty" },
                { "garbage{", "not JSON" },
                { "[1,2]", "an array" },
                { "{\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[],\"step\":\"unbinding\"}",
                  "no version" },
                { "{\"version\":2,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[],\"step\":\"unbinding\"}",
                  "version 2" },
                { "{\"version\":1,\"group\":-1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[],\"step\":\"unbinding\"}",
                  "negative group" },
                { "{\"version\":1,\"group\":\"7\",\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[],\"step\":\"unbinding\"}",
                  "group as a string" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"blocked\",\"new_type\":\"DMA\",\"devices\":[],\"step\":\"unbinding\"}",
                  "old type blocked" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"devices\":[],\"step\":\"unbinding\"}",
                  "no new type" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":{},\"step\":\"unbinding\"}",
                  "devices an object" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[{\"bdf\":\"../../etc\",\"driver\":\"x\"}],\"step\":\"unbinding\"}",
                  "bdf with .." },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[{\"bdf\":\"a/b\",\"driver\":\"x\"}],\"step\":\"unbinding\"}",
                  "bdf with a slash" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[{\"bdf\":\"0000:01:00.0\",\"driver\":\"../nvme\"}],\"step\":\"unbinding\"}",
                  "driver with .." },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[{\"bdf\":\"0000:01:00.0\",\"driver\":5}],\"step\":\"unbinding\"}",
                  "driver a number" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[7],\"step\":\"unbinding\"}",
                  "device a number" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[],\"step\":\"dancing\"}",
                  "unknown step" },
                { "{\"version\":1,\"group\":1,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"devices\":[],\"step\":\"unbinding\",\"boot_id\":\"0123456789012345678901234567890123456789012\"}",
                  "boot id too long" },
        };
        _cleanup_free_ char *many = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                IntentRecord r = {};
                char *error = NULL;
                int q = intent_record_from_json(bad[i].text, &r, &error);

                CHECK(q == -EBADMSG && !isempty(error), "%s: rejected (%s)", bad[i].why, strna(error));
                intent_record_done(&r);
                free(error);
        }

        /* More devices than any group has. */
        {
                size_t len = 0, size = 256 + (INTENT_LOG_MAX_DEVICES + 1) * 48;
                IntentRecord r = {};
                int q;

                many = malloc(size);
                len += snprintf(many + len, size - len, "{\"version\":1,\"group\":1,\"old_type\":\"DMA\","
                                "\"new_type\":\"DMA-FQ\",\"step\":\"unbinding\",\"devices\":[");
                for (int i = 0; i <= INTENT_LOG_MAX_DEVICES; i++)
                        len += snprintf(many + len, size - len, "%s{\"bdf\":\"0000:%02x:00.0\",\"driver\":\"x\"}",
                                        i ? "," : "", i);
                snprintf(many + len, size - len, "]}");
                q = intent_record_from_json(many, &r, NULL);
                CHECK(q == -EBADMSG, "%d devices: rejected", INTENT_LOG_MAX_DEVICES + 1);
                intent_record_done(&r);
        }

        /* A record with one bad part keeps what could be read. */
        {
                IntentRecord r = {};
                char *error = NULL;
                int q = intent_record_from_json(
                        "{\"version\":99,\"group\":3,\"old_type\":\"DMA\",\"new_type\":\"DMA-FQ\",\"step\":\"unbinding\","
                        "\"devices\":[{\"bdf\":\"0000:03:00.0\",\"driver\":\"nvme\"},{\"bdf\":\"x/y\",\"driver\":\"z\"}]}",
                        &r, &error);

                CHECK(q == -EBADMSG && r.group == 3 && r.n_devices == 1 && streq(r.devices[0].bdf, "0000:03:00.0") &&
                      streq_ptr(r.devices[0].driver, "nvme"), "partial: group and the valid device kept (%s)",
                      strna(error));
                intent_record_done(&r);
                free(error);
        }
}

/* ---- files ------------------------------------------------------------ */

static void test_files(void) {
        IntentRecord r = one_device_record(5, "DMA-FQ", "DMA", BDF, "nvme", INTENT_STEP_UNBINDING);
        SwitchContext ctx;
        struct stat st;
        Sim s;

        sim_init(&s, 604);
        sim_context(&s, &ctx);
        CHECK(intent_log_write(&ctx, &r) == 0, "write");
        CHECK(sim_state_exists(&s, "intent-group-5.json") && sim_state_count(&s) == 1, "one file, no temp file");
        CHECK(fstatat(s.state_fd, "intent-group-5.json", &st, 0) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
        CHECK(intent_log_exists(&ctx, 5) == 1 && intent_log_exists(&ctx, 6) == 0, "exists");
        r.step = INTENT_STEP_REBINDING;
        CHECK(intent_log_write(&ctx, &r) == 0 && sim_state_count(&s) == 1, "replaced in place");
        CHECK(intent_log_remove(&ctx, 5) == 0 && intent_log_remove(&ctx, 5) == 0 && sim_state_count(&s) == 0,
              "removed; removing again is fine");

        /* Marks. */
        CHECK(intent_log_mark_attention(&ctx, &r, "could not bind it") == 0, "mark");
        {
                char *msg = NULL;
                IntentRecord *list = NULL;
                size_t n = 0;
                IntentRecord r2 = one_device_record(10, "DMA", "identity", "0000:0a:00.0", "igb",
                                                    INTENT_STEP_ROLLING_BACK);

                CHECK(intent_log_attention(&ctx, 5, &msg) == 1 && streq_ptr(msg, "could not bind it"), "marked: %s",
                      strna(msg));
                free(msg);
                CHECK(intent_log_attention(&ctx, 6, NULL) == 0, "other groups are not");
                intent_log_mark_attention(&ctx, &r2, "second");
                sim_write_state(&s, "attention-group-2.json", "not json");
                CHECK(intent_log_list_attention(&ctx, &list, &n) == 0 && n == 3 && list[0].group == 2 &&
                      list[1].group == 5 && list[2].group == 10, "listed in group order (2, 5, 10)");
                CHECK(n == 3 && list[0].message && list[2].step == INTENT_STEP_NEEDS_ATTENTION &&
                      streq_ptr(list[2].message, "second"), "unreadable marks still listed, with a message");
                intent_records_free(list, n);
                intent_record_done(&r2);
                CHECK(intent_log_clear_attention(&ctx, 5) == 0 && intent_log_attention(&ctx, 5, NULL) == 0, "cleared");
        }

        /* A context without a state directory. */
        ctx.state_fd = -1;
        CHECK(intent_log_write(&ctx, &r) == -EBADF, "no state directory: -EBADF");
        CHECK(intent_log_exists(&ctx, 5) == 0 && intent_log_attention(&ctx, 5, NULL) == 0, "nothing there");
        intent_record_done(&r);
        sim_destroy(&s);
}

int main(void) {
        log_set_max_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT);

        test_json_round_trip();
        test_json_rejects();
        test_files();
        return tap_done();
}
