/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state file loader: the input is an intent record
 * (intent-group-N.json or attention-group-N.json) as recovery reads it from
 * the state directory after a crash. A record that loads must come back
 * unchanged through intent_record_to_json(), which wrote it; a corrupt one
 * must say why, and what it could read must be freeable.
 */
#include "fuzz.h"
#include "group-ops.h"
#include "intent-log.h"
#include "util.h"

static void check_same(const IntentRecord *a, const IntentRecord *b) {
        FUZZ_CHECK(a->group == b->group);
        FUZZ_CHECK(a->old_type == b->old_type && a->new_type == b->new_type);
        FUZZ_CHECK(a->step == b->step);
        FUZZ_CHECK(streq(a->boot_id, b->boot_id));
        FUZZ_CHECK(streq_ptr(a->message, b->message));
        FUZZ_CHECK(a->n_devices == b->n_devices);
        for (size_t i = 0; i < a->n_devices; i++) {
                FUZZ_CHECK(streq(a->devices[i].bdf, b->devices[i].bdf));
                FUZZ_CHECK(streq_ptr(a->devices[i].driver, b->devices[i].driver));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_text(data, size);
        _cleanup_free_ char *error = NULL, *json = NULL;
        _cleanup_(intent_record_done) IntentRecord r = {}, again = {};
        int q;

        q = intent_record_from_json(text, &r, &error);
        if (q == -EBADMSG) {
                FUZZ_CHECK(error && error[0]);
                /* What a corrupt record yields is used to bind devices
                 * again: only names that are safe in a path. */
                for (size_t i = 0; i < r.n_devices; i++) {
                        FUZZ_CHECK(sysfs_name_ok(r.devices[i].bdf));
                        FUZZ_CHECK(!r.devices[i].driver || sysfs_name_ok(r.devices[i].driver));
                }
                return 0;
        }
        FUZZ_CHECK(q == 0 && !error);
        FUZZ_CHECK(r.n_devices <= INTENT_LOG_MAX_DEVICES);
        FUZZ_CHECK(intent_step_to_string(r.step));

        json = intent_record_to_json(&r);
        FUZZ_CHECK(json);
        q = intent_record_from_json(json, &again, &error);
        if (q != 0) {
                fprintf(stderr, "re-reading %s failed: %s\n", json, strna(error));
                abort();
        }
        check_same(&r, &again);
        return 0;
}
