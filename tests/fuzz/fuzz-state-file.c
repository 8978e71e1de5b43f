/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state file loader: the input is a state.json as state_load() reads
 * it (state_parse(), its pure part; the text is not NUL-terminated). What
 * loads must survive a save and a load unchanged (state-file.h: "what
 * state_save() writes, state_load() reads back exactly"); what does not
 * must say why and leave nothing behind.
 */
#include "fuzz.h"
#include "state-file.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ uint8_t *text = fuzz_dup(data, size);
        _cleanup_free_ char *error = NULL, *json = NULL, *json2 = NULL;
        _cleanup_(state_done) DaemonState s = {}, again = {};
        int r;

        r = state_parse((const char *) text, size, &s, &error);
        if (r < 0) {
                FUZZ_CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT);
                FUZZ_CHECK(error && error[0]);
                FUZZ_CHECK(s.n_groups == 0 && s.n_units == 0 && s.n_history == 0 && !s.groups &&
                           !s.units);
                return 0;
        }
        FUZZ_CHECK(!error);
        FUZZ_CHECK(s.n_history <= STATE_HISTORY_MAX);

        FUZZ_CHECK(state_to_json(&s, &json) == 0);
        r = state_parse(json, strlen(json), &again, &error);
        if (r < 0) {
                fprintf(stderr, "re-reading the saved state failed: %s\n%s", strna(error), json);
                abort();
        }
        FUZZ_CHECK(state_to_json(&again, &json2) == 0);
        if (!streq(json, json2)) {
                fprintf(stderr, "saved:\n%s\nloaded and saved again:\n%s", json, json2);
                abort();
        }
        return 0;
}
