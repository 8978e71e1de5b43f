/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "protocol.h"
#include "tap.h"
#include "utf8-oracle.h"
#include "util.h"

static int parse(const char *line, ProtocolRequest *req, char *err, size_t size) {
        return protocol_parse_request(line, strlen(line), req, err, size);
}

static void expect_error(const char *line, const char *needle) {
        ProtocolRequest req;
        char err[256] = "";
        int r = parse(line, &req, err, sizeof(err));

        CHECK(r == -EINVAL && strstr(err, needle), "%s -> error containing \"%s\" (got %d \"%s\")", line, needle, r,
              err);
}

static void test_valid(void) {
        ProtocolRequest req;
        char err[256];

        CHECK_INT(parse("{\"v\":1,\"cmd\":\"status\"}", &req, err, sizeof(err)), 0, "status parses");
        CHECK_INT(req.cmd, CMD_STATUS, "status command");
        CHECK_STR(req.target, "", "no target");

        CHECK_INT(parse("{\"v\":1,\"cmd\":\"show\",\"target\":\"17\"}", &req, err, sizeof(err)), 0, "show group");
        CHECK_STR(req.target, "17", "group target");

        CHECK_INT(parse("{\"v\":1,\"cmd\":\"set\",\"target\":\"0000:00:04.0\",\"type\":\"lazy\",\"for_s\":600}", &req,
                        err, sizeof(err)),
                  0, "set with duration");
        CHECK_INT(req.cmd, CMD_SET, "set command");
        CHECK_INT(req.set_type, SET_LAZY, "set lazy");
        CHECK_INT(req.for_s, 600, "for 600 s");
        CHECK(protocol_command_info(CMD_SET)->privileged, "set is privileged");
        CHECK(!protocol_command_info(CMD_STATUS)->privileged, "status is not");
}

static void test_invalid(void) {
        char big[PROTOCOL_MAX_REQUEST + 64];

        expect_error("{\"v\":1,\"cmd\":", "malformed JSON");
        expect_error("not json", "malformed JSON");
        expect_error("{\"v\":1,\"cmd\":\"status\"} trailing", "malformed JSON");
        expect_error("[1,2]", "must be a JSON object");
        expect_error("{\"cmd\":\"status\"}", "missing protocol version");
        expect_error("{\"v\":2,\"cmd\":\"status\"}", "unsupported protocol version 2");
        expect_error("{\"v\":1}", "missing command");
        expect_error("{\"v\":1,\"cmd\":\"frobnicate\"}", "unknown command \"frobnicate\"");
        expect_error("{\"v\":1,\"cmd\":\"show\"}", "show needs a target");
        expect_error("{\"v\":1,\"cmd\":\"status\",\"target\":\"1\"}", "status takes no target");
        expect_error("{\"v\":1,\"cmd\":\"show\",\"target\":\"../etc\"}", "target must be a group number");
        expect_error("{\"v\":1,\"cmd\":\"show\",\"target\":\"0000:00:40.0\"}", "target must be");
        expect_error("{\"v\":1,\"cmd\":\"set\",\"target\":\"3\"}", "set needs \"type\"");
        expect_error("{\"v\":1,\"cmd\":\"set\",\"target\":\"3\",\"type\":\"identity\"}", "set needs \"type\"");
        expect_error("{\"v\":1,\"cmd\":\"set\",\"target\":\"3\",\"type\":\"lazy\",\"for_s\":-5}", "positive");

        memset(big, ' ', sizeof(big));
        big[sizeof(big) - 1] = '\0';
        expect_error(big, "request too long");
}

/* Each error says what was wrong, not what json-c's tokenizer was doing
 * ("continue"), and never echoes a number it did not get. */
static void test_error_messages(void) {
        expect_error("1", "request must be a JSON object, got a number");
        expect_error("-2.5", "request must be a JSON object, got a number");
        expect_error("null", "request must be a JSON object, got null");
        expect_error("true", "request must be a JSON object, got true");
        expect_error("false", "request must be a JSON object, got false");
        expect_error("[]", "request must be a JSON object, got an array");
        expect_error("\"x\"", "request must be a JSON object, got a string");
        expect_error(" 17 ", "request must be a JSON object, got a number");

        expect_error("{\"v\":1,\"cmd\":", "malformed JSON: incomplete object");
        expect_error("{\"v\":1", "malformed JSON: incomplete object");
        expect_error("{", "malformed JSON: incomplete object");
        expect_error("[1,", "malformed JSON: incomplete array");
        expect_error("\"abc", "malformed JSON: incomplete string");
        expect_error("tru", "malformed JSON");
        expect_error("   ", "malformed JSON: empty request");
        expect_error("1 2", "malformed JSON: trailing data");
        expect_error("{} x", "malformed JSON: trailing data");

        expect_error("{\"v\":\"1\",\"cmd\":\"status\"}", "\"v\" must be an integer, got a string");
        expect_error("{\"v\":1.0,\"cmd\":\"status\"}", "\"v\" must be an integer, got 1.0");
        expect_error("{\"v\":1e0,\"cmd\":\"status\"}", "\"v\" must be an integer, got 1e0");
        expect_error("{\"v\":null,\"cmd\":\"status\"}", "\"v\" must be an integer, got null");
        expect_error("{\"v\":[1],\"cmd\":\"status\"}", "\"v\" must be an integer, got an array");
        expect_error("{\"v\":1,\"cmd\":1}", "\"cmd\" must be a string, got a number");
        expect_error("{\"v\":1,\"cmd\":{}}", "\"cmd\" must be a string, got an object");
        expect_error("{\"v\":1,\"cmd\":null}", "\"cmd\" must be a string, got null");
        expect_error("{\"v\":-3,\"cmd\":\"status\"}", "unsupported protocol version -3");
        expect_error("{\"v\":2147483647,\"cmd\":\"status\"}", "unsupported protocol version 2147483647");

        /* json-c clamps these to INT64_MAX/MIN or UINT64_MAX. */
        static const char *const huge[] = {
                "{\"v\":99999999999999999999,\"cmd\":\"status\"}",
                "{\"v\":9223372036854775807,\"cmd\":\"status\"}",
                "{\"v\":-99999999999999999999,\"cmd\":\"status\"}",
                "{\"v\":4294967297,\"cmd\":\"status\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(huge); i++) {
                ProtocolRequest req;
                char err[256] = "";
                int r = parse(huge[i], &req, err, sizeof(err));

                CHECK(r == -EINVAL && strstr(err, "out of range") && !strstr(err, "922337203685477580") &&
                              !strstr(err, "18446744073709551615"),
                      "%s -> out of range, no clamped number (got \"%s\")", huge[i], err);
        }
}

static void test_roundtrip(void) {
        ProtocolRequest req = { .cmd = CMD_SET, .set_type = SET_STRICT, .for_s = 30 }, back;
        json_object *o, *reply, *data;
        char err[256], *line;
        size_t len;

        snprintf(req.target, sizeof(req.target), "0000:3b:00.0");
        o = protocol_request_new(&req);
        line = protocol_to_line(o, &len);
        CHECK(line && line[len - 1] == '\n' && !memchr(line, '\n', len - 1), "one line, newline-terminated");
        CHECK_INT(protocol_parse_request(line, len - 1, &back, err, sizeof(err)), 0, "request round trip");
        CHECK(back.cmd == CMD_SET && back.set_type == SET_STRICT && back.for_s == 30 &&
              streq(back.target, "0000:3b:00.0"),
              "round trip keeps every field");
        free(line);
        json_object_put(o);

        o = protocol_reply_ok(CMD_STATUS, json_object_new_string("a\nb"));
        line = protocol_to_line(o, &len);
        CHECK(line && !memchr(line, '\n', len - 1), "a newline in data is escaped");
        CHECK_INT(protocol_parse_reply(line, &reply, &data, err, sizeof(err)), 0, "ok reply parses");
        CHECK_STR(json_object_get_string(data), "a\nb", "data survives");
        json_object_put(reply);
        free(line);
        json_object_put(o);

        o = protocol_reply_error("no group %d", 99);
        line = protocol_to_line(o, &len);
        CHECK_INT(protocol_parse_reply(line, &reply, &data, err, sizeof(err)), -EPROTO, "error reply");
        CHECK_STR(err, "no group 99", "error text");
        json_object_put(reply);
        free(line);
        json_object_put(o);

        CHECK_INT(protocol_parse_reply("garbage", &reply, &data, err, sizeof(err)), -EBADMSG, "not a reply");
}

/* Replies are valid UTF-8 whatever bytes they carry; strings with a NUL
 * are refused naming the field. */
static void test_hostile_strings(void) {
        static const char *const bad[] = {
                "\xff", "caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok \xe2\x82", "\x80\x80",
        };
        ProtocolRequest req;
        json_object *o, *reply, *data;
        char err[256], *line, line_in[128];
        size_t len;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                o = protocol_reply_error("unknown command \"%s\"", bad[i]);
                line = protocol_to_line(o, &len);
                CHECK(line && utf8_oracle_valid(line, len), "an error quoting invalid byte string %zu is valid UTF-8: %s", i,
                      line ?: "(null)");
                CHECK(line && line[len - 1] == '\n' && !memchr(line, '\n', len - 1), "... one line");
                CHECK_INT(protocol_parse_reply(line, &reply, &data, err, sizeof(err)), -EPROTO, "... and parses");
                json_object_put(reply);
                free(line);
                json_object_put(o);
        }
        o = protocol_reply_ok(CMD_STATUS, json_object_new_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
        line = protocol_to_line(o, &len);
        CHECK(line && strstr(line, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "valid UTF-8 passes unchanged");
        free(line);
        json_object_put(o);
        o = protocol_reply_ok(CMD_STATUS, json_object_new_string("a\xffz"));
        line = protocol_to_line(o, &len);
        CHECK_INT(protocol_parse_reply(line, &reply, &data, err, sizeof(err)), 0, "an escaped byte parses");
        CHECK_STR(json_object_get_string(data), "a\\xffz", "... as the text \\xff");
        json_object_put(reply);
        free(line);
        json_object_put(o);

        /* An unknown command made of invalid bytes: the request is refused,
         * and the reply quoting it is valid. */
        snprintf(line_in, sizeof(line_in), "{\"v\":1,\"cmd\":\"\xff\xfe\"}");
        r = parse(line_in, &req, err, sizeof(err));
        o = protocol_reply_error("%s", err);
        line = protocol_to_line(o, &len);
        CHECK(r == -EINVAL && line && utf8_oracle_valid(line, len), "an unknown command of invalid bytes: %s",
              line ?: "(null)");
        free(line);
        json_object_put(o);

        expect_error("{\"v\":1,\"cmd\":\"show\",\"target\":\"2\\u0000junk\"}", "\"target\" contains a NUL byte");
        expect_error("{\"v\":1,\"cmd\":\"status\\u0000\"}", "\"cmd\" contains a NUL byte");
        expect_error("{\"v\":1,\"cmd\":\"set\",\"target\":\"2\",\"type\":\"lazy\\u0000x\"}",
                     "\"type\" contains a NUL byte");
}

int main(void) {
        test_valid();
        test_hostile_strings();
        test_invalid();
        test_error_messages();
        test_roundtrip();
        return tap_done();
}
