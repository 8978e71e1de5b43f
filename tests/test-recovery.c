/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The start-up recovery (recovery.h) against fixture trees with the
 * kernel model (switch-sim.h): roll back, finish, fall back to
 * drivers_probe, put the old type back, give up into a mark, corrupt
 * records, records from an earlier boot, stale temp files.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "intent-log.h"
#include "log.h"
#include "recovery.h"
#include "switch-sim.h"
#include "tap.h"
#include "util.h"

#define BDF "0000:01:00.0"

/* ---- recovery --------------------------------------------------------- */

static bool report_says(const RecoveryReport *rep, const char *needle) {
        for (char **p = rep->lines; p && *p; p++)
                if (strstr(*p, needle))
                        return true;
        return false;
}

static void diag_report(const RecoveryReport *rep) {
        for (char **p = rep->lines; p && *p; p++)
                tap_diag("  recovery: %s", *p);
}

/* Group 1: BDF (nvme) with type `type`, and group 9 with an unbound device
 * (reserved for VFIO, say) that must stay unbound. */
static void fixture(Sim *s, const char *type, bool bound) {
        sim_init(s, 604);
        sim_add_group(s, 1, type);
        sim_add_device(s, 1, BDF, bound ? "nvme" : NULL, "nvme", false);
        sim_add_group(s, 9, "DMA");
        sim_add_device(s, 9, "0000:09:00.0", NULL, "nvme", false);
}

static const RecoveryOptions *recovery_options;

static int recover(Sim *s, RecoveryReport *rep, const char *boot_id) {
        SwitchContext ctx;

        sim_context(s, &ctx);
        if (boot_id)
                snprintf(ctx.boot_id, sizeof(ctx.boot_id), "%s", boot_id);
        return intent_log_recover(&ctx, recovery_options, rep);
}

static int may_unbind_yes(void *userdata, const char *bdf, const char *driver, char **ret_why_not) {
        return 1;
}

static int may_unbind_no(void *userdata, const char *bdf, const char *driver, char **ret_why_not) {
        *ret_why_not = strdup("backs / (nvme0n1p2)");
        return 0;
}

static void put_record(Sim *s, const char *from, const char *to, const char *driver, IntentStep step,
                       const char *boot_id) {
        IntentRecord r = one_device_record(1, from, to, BDF, driver, step);
        SwitchContext ctx;

        if (boot_id)
                snprintf(r.boot_id, sizeof(r.boot_id), "%s", boot_id);
        sim_context(s, &ctx);
        intent_log_write(&ctx, &r);
        intent_record_done(&r);
        s->writes = 0;
        strv_free(s->log);
        s->log = NULL;
}

static void test_recover_basic(void) {
        RecoveryReport rep = {};
        Sim s;
        int q;

        /* Empty state directory; unrelated files are left alone. */
        fixture(&s, "DMA", true);
        sim_write_state(&s, "history.json", "{}");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_records == 0 && !rep.lines && s.writes == 0, "nothing to recover");
        CHECK(sim_state_exists(&s, "history.json"), "unrelated files stay");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Stopped after the unbind, type still old: rolled back. */
        fixture(&s, "DMA-FQ", false);
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_UNBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_records == 1 && rep.n_attention == 0, "recovered");
        CHECK(streq(sim_driver(&s, BDF), "nvme") && streq(sim_type(&s, 1), "DMA-FQ"), "bound to nvme, DMA-FQ");
        CHECK(report_says(&rep, "rolled back") && report_says(&rep, "stopped while unbinding"), "says rolled back");
        CHECK(sim_logged(&s, "bus/pci/drivers/nvme/bind " BDF), "bound through nvme's bind file");
        CHECK(sim_state_count(&s) == 0, "record removed");
        CHECK(streq(sim_driver(&s, "0000:09:00.0"), ""), "an unbound device not in the record stays unbound");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Stopped after the type write: finished. */
        fixture(&s, "DMA", false);
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_REBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && streq(sim_driver(&s, BDF), "nvme") && streq(sim_type(&s, 1), "DMA") &&
              report_says(&rep, "finished") && sim_state_count(&s) == 0, "type changed already: finished");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Everything bound already: the record is just removed. */
        fixture(&s, "DMA", true);
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_REBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && sim_state_count(&s) == 0 && s.writes == 1 && sim_logged(&s, "remove intent-group-1.json"),
              "all bound: only the removal is written");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* A device without a driver at the start is left alone. */
        fixture(&s, "DMA-FQ", false);
        put_record(&s, "DMA-FQ", "DMA", NULL, INTENT_STEP_UNBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && streq(sim_driver(&s, BDF), "") && sim_state_count(&s) == 0,
              "recorded without a driver: stays unbound");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* bind fails, drivers_probe binds. */
        fixture(&s, "DMA-FQ", false);
        s.bind_file_fails = true;
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_UNBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && streq(sim_driver(&s, BDF), "nvme") && sim_logged(&s, "bus/pci/drivers_probe " BDF) &&
              rep.n_attention == 0, "bind fails: drivers_probe binds");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* The device is gone: nothing to bind, no error. */
        fixture(&s, "DMA-FQ", false);
        {
                IntentRecord r = one_device_record(1, "DMA-FQ", "DMA", "0000:55:00.0", "nvme", INTENT_STEP_UNBINDING);
                SwitchContext ctx;

                sim_context(&s, &ctx);
                intent_log_write(&ctx, &r);
                intent_record_done(&r);
        }
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_attention == 0 && sim_state_count(&s) == 0, "a device that is gone: record removed");
        CHECK(rep.lines && rep.lines[0] && strstr(rep.lines[0], "0000:55:00.0 is gone since (hot-removed)"),
              "a device that is gone: the report says so");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* The whole group is gone (its only device hot-removed mid-switch). */
        fixture(&s, "DMA-FQ", false);
        {
                IntentRecord r = one_device_record(7, "DMA-FQ", "DMA", "0000:55:00.0", "nvme", INTENT_STEP_UNBINDING);
                SwitchContext ctx;

                sim_context(&s, &ctx);
                intent_log_write(&ctx, &r);
                intent_record_done(&r);
        }
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_attention == 0 && sim_state_count(&s) == 0 && rep.lines && rep.lines[0] &&
              strstr(rep.lines[0], "0000:55:00.0 is gone since (hot-removed): the group no longer exists"),
              "group and device gone: record removed, the report says so");
        recovery_report_done(&rep);
        sim_destroy(&s);
}

static void test_recover_rollback_and_attention(void) {
        RecoveryReport rep = {};
        Sim s;
        unsigned writes;
        int q;

        /* The device will not come up under the new type; nothing in the
         * group is bound: the old type goes back and it binds. */
        fixture(&s, "identity", false);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "identity");
        put_record(&s, "DMA-FQ", "identity", "nvme", INTENT_STEP_REBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_attention == 0 && streq(sim_type(&s, 1), "DMA-FQ") &&
              streq(sim_driver(&s, BDF), "nvme") && sim_state_count(&s) == 0,
              "bind fails under the new type: old type written back, bound, rolled back");
        if (rep.n_attention)
                diag_report(&rep);
        CHECK(report_says(&rep, "rolled back"), "says rolled back");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* It will not bind under any type: marked, once. */
        fixture(&s, "DMA", false);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "any");
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_REBINDING, NULL);
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_attention == 1 && sim_state_exists(&s, "attention-group-1.json") &&
              !sim_state_exists(&s, "intent-group-1.json"), "cannot bind: marked, intent removed");
        CHECK(report_says(&rep, BDF) && report_says(&rep, "Needs attention"), "the report names the device");
        recovery_report_done(&rep);
        writes = s.writes;
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_attention == 1 && s.writes == writes, "next start: still marked, nothing retried");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Two devices, type new; one bound under it, the other will not
         * bind. Without may_unbind recovery never unbinds the bound one,
         * so it marks; with it saying no, the same, with the reason; with
         * it saying yes, the old type goes back and both bind. */
        for (int mode = 0; mode < 3; mode++) {
        static const RecoveryOptions yes = { .may_unbind = may_unbind_yes }, no = { .may_unbind = may_unbind_no };

        recovery_options = mode == 0 ? NULL : mode == 1 ? &no : &yes;
        sim_init(&s, 604);
        sim_add_group(&s, 1, "identity");
        sim_add_device(&s, 1, "0000:02:00.0", "i40e", NULL, false);
        sim_add_device(&s, 1, "0000:02:00.1", NULL, "i40e", false);
        snprintf(s.probe_fails_under, sizeof(s.probe_fails_under), "identity");
        snprintf(s.probe_fails_bdf, sizeof(s.probe_fails_bdf), "0000:02:00.1");
        {
                IntentRecord r = one_device_record(1, "DMA-FQ", "identity", "0000:02:00.0", "i40e",
                                                   INTENT_STEP_REBINDING);
                SwitchContext ctx;

                r.devices = realloc(r.devices, 2 * sizeof(IntentDevice));
                r.devices[1] = (IntentDevice) { strdup("0000:02:00.1"), strdup("i40e") };
                r.n_devices = 2;
                sim_context(&s, &ctx);
                intent_log_write(&ctx, &r);
                intent_record_done(&r);
        }
        q = recover(&s, &rep, NULL);
        if (mode < 2) {
                CHECK(q == 0 && rep.n_attention == 1 && streq(sim_driver(&s, "0000:02:00.0"), "i40e") &&
                      !sim_logged(&s, "/unbind "), "%s: one bound under the new type, one will not bind: marked, "
                      "nothing unbound", mode == 0 ? "no may_unbind" : "may_unbind says no");
                CHECK(report_says(&rep, mode == 0 ? "recovery does not unbind" : "backs / (nvme0n1p2)"),
                      "the mark says why");
        } else {
                CHECK(q == 0 && rep.n_attention == 0 && streq(sim_driver(&s, "0000:02:00.0"), "i40e") &&
                      streq(sim_driver(&s, "0000:02:00.1"), "i40e") && streq(sim_type(&s, 1), "DMA-FQ") &&
                      sim_state_count(&s) == 0, "may_unbind says yes: unbound again, DMA-FQ back, both bound");
                CHECK(report_says(&rep, "rolled back"), "rolled back");
        }
        if ((mode < 2) != (rep.n_attention == 1))
                diag_report(&rep);
        recovery_report_done(&rep);
        sim_destroy(&s);
        }
        recovery_options = NULL;
}

static void test_recover_boot_and_debris(void) {
        RecoveryReport rep = {};
        Sim s;
        int q;

        /* A record from an earlier boot: removed, nothing bound. */
        fixture(&s, "DMA-FQ", false);
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_UNBINDING, "old-boot");
        q = recover(&s, &rep, "this-boot");
        CHECK(q == 0 && sim_state_count(&s) == 0 && streq(sim_driver(&s, BDF), "") && report_says(&rep, "earlier boot"),
              "earlier boot: removed, the kernel probed afresh, nothing bound");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Same boot: recovered. */
        fixture(&s, "DMA-FQ", false);
        put_record(&s, "DMA-FQ", "DMA", "nvme", INTENT_STEP_UNBINDING, "this-boot");
        q = recover(&s, &rep, "this-boot");
        CHECK(q == 0 && streq(sim_driver(&s, BDF), "nvme"), "same boot: bound");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* A needs-attention mark from an earlier boot is cleared; one from
         * this boot stays. */
        fixture(&s, "DMA", true);
        {
                IntentRecord r = one_device_record(1, "DMA-FQ", "DMA", BDF, "nvme", INTENT_STEP_REBINDING);
                SwitchContext ctx;

                sim_context(&s, &ctx);
                snprintf(r.boot_id, sizeof(r.boot_id), "old-boot");
                intent_log_mark_attention(&ctx, &r, "old trouble");
                r.group = 9;
                snprintf(r.boot_id, sizeof(r.boot_id), "this-boot");
                intent_log_mark_attention(&ctx, &r, "new trouble");
                intent_record_done(&r);
        }
        q = recover(&s, &rep, "this-boot");
        CHECK(q == 0 && !sim_state_exists(&s, "attention-group-1.json") && sim_state_exists(&s, "attention-group-9.json") &&
              rep.n_attention == 1, "stale mark cleared, current mark kept");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* A temp file left by a replace stopped before its rename. */
        fixture(&s, "DMA", true);
        sim_write_state(&s, ".intent-group-1.json.tmp", "{\"version\":1,");
        sim_write_state(&s, ".other.tmp", "x");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && !sim_state_exists(&s, ".intent-group-1.json.tmp") && sim_state_exists(&s, ".other.tmp"),
              "our stale temp file removed, others left");
        recovery_report_done(&rep);
        sim_destroy(&s);
}

static void test_recover_corrupt(void) {
        RecoveryReport rep = {};
        Sim s;
        int q;

        /* Garbage: moved aside, the group's unbound device bound by
         * drivers_probe; an unbound device of another group untouched. */
        fixture(&s, "DMA-FQ", false);
        sim_write_state(&s, "intent-group-1.json", "\x01\x02 not json at all");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_records == 1, "corrupt record: no crash");
        CHECK(sim_state_exists(&s, "intent-group-1.json.corrupt") && !sim_state_exists(&s, "intent-group-1.json"),
              "moved aside");
        CHECK(streq(sim_driver(&s, BDF), "nvme") && sim_logged(&s, "drivers_probe " BDF), "bound by drivers_probe");
        CHECK(streq(sim_driver(&s, "0000:09:00.0"), ""), "another group's unbound device untouched");
        CHECK(report_says(&rep, "corrupt"), "warned");
        recovery_report_done(&rep);
        /* The file moved aside is not read again. */
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_records == 0, "next start: nothing");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Partly readable: the recorded driver is used. */
        fixture(&s, "DMA-FQ", false);
        sim_write_state(&s, "intent-group-1.json",
                        "{\"version\":99,\"group\":1,\"devices\":[{\"bdf\":\"" BDF "\",\"driver\":\"nvme\"}]}");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && streq(sim_driver(&s, BDF), "nvme") && sim_logged(&s, "drivers/nvme/bind " BDF),
              "partly readable: bound to the recorded driver");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* The group inside does not match the name. */
        fixture(&s, "DMA-FQ", false);
        {
                IntentRecord r = one_device_record(2, "DMA-FQ", "DMA", BDF, "nvme", INTENT_STEP_UNBINDING);
                _cleanup_free_ char *text = intent_record_to_json(&r);

                sim_write_state(&s, "intent-group-1.json", text);
                intent_record_done(&r);
        }
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && sim_state_exists(&s, "intent-group-1.json.corrupt") && streq(sim_driver(&s, BDF), "nvme"),
              "group mismatch: treated as corrupt, group 1 bound");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Too large. */
        fixture(&s, "DMA-FQ", false);
        {
                char *big = malloc(INTENT_LOG_MAX_SIZE + 2);

                memset(big, ' ', INTENT_LOG_MAX_SIZE + 1);
                big[INTENT_LOG_MAX_SIZE + 1] = '\0';
                sim_write_state(&s, "intent-group-1.json", big);
                free(big);
        }
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && sim_state_exists(&s, "intent-group-1.json.corrupt") && streq(sim_driver(&s, BDF), "nvme"),
              "too large: corrupt, bound");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Corrupt record of a group that does not exist. */
        fixture(&s, "DMA-FQ", true);
        sim_write_state(&s, "intent-group-77.json", "{");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && report_says(&rep, "cannot be read") && sim_state_exists(&s, "intent-group-77.json.corrupt"),
              "a group that does not exist: warned, moved aside");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* A second corrupt record does not replace the first one's copy. */
        fixture(&s, "DMA-FQ", false);
        sim_write_state(&s, "intent-group-1.json.corrupt", "the first corrupt record");
        sim_write_state(&s, "intent-group-1.json", "the second one");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && sim_state_exists(&s, "intent-group-1.json.corrupt.1") &&
                      !sim_state_exists(&s, "intent-group-1.json"),
              "a second corrupt record goes to .corrupt.1");
        {
                char buf[64] = "";
                int fd = openat(s.state_fd, "intent-group-1.json.corrupt", O_RDONLY | O_CLOEXEC);
                ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

                CHECK(n > 0 && streq(buf, "the first corrupt record"), "... and the first copy is kept: \"%s\"", buf);
                if (fd >= 0)
                        close(fd);
        }
        CHECK(report_says(&rep, "intent-group-1.json.corrupt.1"), "the report names where it went");
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* A FIFO named like a record or a mark: not waited on. The record
         * is moved aside as corrupt; the mark still marks the group. */
        fixture(&s, "DMA-FQ", false);
        CHECK(mkfifoat(s.state_fd, "intent-group-1.json", 0600) == 0, "mkfifo intent record");
        CHECK(mkfifoat(s.state_fd, "attention-group-2.json", 0600) == 0, "mkfifo attention record");
        {
                uint64_t t0 = now_monotonic_ns();
                IntentRecord *list = NULL;
                SwitchContext ctx;
                size_t n = 0;

                q = recover(&s, &rep, NULL);
                CHECK(q == 0 && report_says(&rep, "not a regular file") &&
                              sim_state_exists(&s, "intent-group-1.json.corrupt") && streq(sim_driver(&s, BDF), "nvme"),
                      "a FIFO as an intent record: reported, moved aside, the group bound");
                CHECK_INT((sim_context(&s, &ctx), intent_log_list_attention(&ctx, &list, &n)), 0, "listing marks with a FIFO among them");
                CHECK(n == 1 && list[0].group == 2 && list[0].message, "... the FIFO mark still marks group 2");
                CHECK(now_monotonic_ns() - t0 < 5000000000ULL, "... nothing waited on the FIFOs");
                intent_records_free(list, n);
        }
        recovery_report_done(&rep);
        sim_destroy(&s);

        /* Names that only look like ours are not read. */
        fixture(&s, "DMA-FQ", false);
        sim_write_state(&s, "intent-group-1.json.bak", "{");
        sim_write_state(&s, "intent-group-.json", "{");
        sim_write_state(&s, "intent-group-x1.json", "{");
        q = recover(&s, &rep, NULL);
        CHECK(q == 0 && rep.n_records == 0 && streq(sim_driver(&s, BDF), "") && sim_state_count(&s) == 3,
              "look-alike names ignored");
        recovery_report_done(&rep);
        sim_destroy(&s);
}
/* A context without a state directory: nothing to recover. */
static void test_recover_no_state_dir(void) {
        RecoveryReport rep = {};
        SwitchContext ctx;
        Sim s;

        sim_init(&s, 604);
        switch_context_init(&ctx, s.sys_fd, -1);
        CHECK(intent_log_recover(&ctx, NULL, &rep) == 0 && rep.n_records == 0, "recovery without a state directory");
        recovery_report_done(&rep);
        sim_destroy(&s);
}

int main(void) {
        log_set_max_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT);

        test_recover_no_state_dir();
        test_recover_basic();
        test_recover_rollback_and_attention();
        test_recover_boot_and_debris();
        test_recover_corrupt();
        return tap_done();
}
