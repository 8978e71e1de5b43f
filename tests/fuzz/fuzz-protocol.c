/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol: the input is one request line as a client sends it
 * (exactly len bytes, no newline and no NUL after them, as the daemon's
 * control socket hands it over), and the same bytes as a reply line as
 * iommuctl reads it. A request that parses must come back unchanged through
 * protocol_request_new() and protocol_to_line(): that is how iommuctl
 * builds the requests the daemon parses.
 */
#include <json-c/json.h>

#include "fuzz.h"
#include "protocol.h"
#include "util.h"

static void check_round_trip(const ProtocolRequest *req) {
        ProtocolRequest again;
        json_object *o = protocol_request_new(req);
        char err[256] = "", *line;
        size_t len;

        FUZZ_CHECK(o);
        line = protocol_to_line(o, &len);
        json_object_put(o);
        FUZZ_CHECK(line && len > 0 && line[len - 1] == '\n');
        if (protocol_parse_request(line, len - 1, &again, err, sizeof(err)) != 0) {
                fprintf(stderr, "re-parsing \"%s\" failed: %s\n", line, err);
                abort();
        }
        free(line);
        FUZZ_CHECK(again.cmd == req->cmd);
        FUZZ_CHECK(streq(again.target, req->target));
        if (req->cmd == CMD_SET) {
                FUZZ_CHECK(again.set_type == req->set_type);
                FUZZ_CHECK(again.for_s == req->for_s);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ uint8_t *line = fuzz_dup(data, size);
        _cleanup_free_ char *text = NULL;
        json_object *reply = NULL, *reply_data = NULL;
        ProtocolRequest req;
        char err[256] = "";
        int r;

        r = protocol_parse_request((const char *) line, size, &req, err, sizeof(err));
        if (r == 0) {
                unsigned group;

                FUZZ_CHECK(protocol_command_info(req.cmd));
                FUZZ_CHECK(memchr(req.target, 0, sizeof(req.target)));
                /* A target is a group or a PCI address; nothing else reaches
                 * a path. */
                FUZZ_CHECK(isempty(req.target) || protocol_target_is_group(req.target, &group) ||
                           protocol_target_is_pci(req.target));
                check_round_trip(&req);
        } else
                FUZZ_CHECK(r == -EINVAL && err[0]);

        text = fuzz_text(data, size);
        r = protocol_parse_reply(text, &reply, &reply_data, err, sizeof(err));
        FUZZ_CHECK(r == 0 || r == -EPROTO || r == -EBADMSG);
        if (r != -EBADMSG)
                json_object_put(reply);
        return 0;
}
