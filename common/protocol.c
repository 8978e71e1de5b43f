/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "protocol.h"
#include "util.h"

static const ProtocolCommandInfo commands[_CMD_MAX] = {
        [CMD_STATUS] = { "status", false, false, "", "daemon, kernel, sources and verdicts" },
        [CMD_GROUPS] = { "groups", false, false, "", "every IOMMU group with its policy and decision" },
        [CMD_SHOW] = { "show", false, true, "GROUP|BDF", "one group or device in full" },
        [CMD_SAVINGS] = { "savings", false, false, "", "IOTLB invalidations and what lazy mode saved" },
        [CMD_EXPLAIN] = { "explain", false, true, "GROUP|BDF", "every rule and guard behind a group's decision" },
        [CMD_SET] = { "set", true, true, "GROUP|BDF " PROTOCOL_MODE_STRICT "|" PROTOCOL_MODE_LAZY "|" PROTOCOL_MODE_AUTO " [--for DURATION]", "pin a group's type" },
        [CMD_CLEAR] = { "clear", true, true, "GROUP|BDF", "remove a pin" },
        [CMD_RELOAD] = { "reload", true, false, "", "re-read the configuration" },
        [CMD_WATCH] = { "watch", false, false, "", "stream one update per tick" },
        [CMD_METRICS] = { "metrics", false, false, "", "Prometheus text format" },
};

const ProtocolCommandInfo *protocol_command_info(ProtocolCommand c) {
        return c >= 0 && c < _CMD_MAX ? &commands[c] : NULL;
}

ProtocolCommand protocol_command_from_string(const char *s) {
        for (ProtocolCommand c = 0; c < _CMD_MAX; c++)
                if (s && streq(s, commands[c].name))
                        return c;
        return _CMD_INVALID;
}

static const char *const set_types[_SET_MAX] = {
        [SET_STRICT] = PROTOCOL_MODE_STRICT,
        [SET_LAZY] = PROTOCOL_MODE_LAZY,
        [SET_AUTO] = PROTOCOL_MODE_AUTO,
};

const char *protocol_set_type_to_string(ProtocolSetType t) {
        return t >= 0 && t < _SET_MAX ? set_types[t] : NULL;
}

ProtocolSetType protocol_set_type_from_string(const char *s) {
        for (ProtocolSetType t = 0; t < _SET_MAX; t++)
                if (s && streq(s, set_types[t]))
                        return t;
        return _SET_INVALID;
}

bool protocol_target_is_group(const char *target, unsigned *ret_group) {
        uint64_t v;

        if (!target || !isdigit((unsigned char) target[0]) || strlen(target) > 10)
                return false;
        for (const char *p = target; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return false;
        if (safe_atou64(target, &v) < 0 || v > INT32_MAX)
                return false;
        if (ret_group)
                *ret_group = (unsigned) v;
        return true;
}

bool protocol_target_is_pci(const char *target) {
        unsigned dom, bus, dev, fn;
        char tail;

        return target && strlen(target) == 12 &&
               sscanf(target, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) == 4 && dev < 32 && fn < 8;
}

static int fail(char *err, size_t size, const char *fmt, ...) _printf_(3, 4);
static int fail(char *err, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* What a JSON value is, for error messages: "got a string". */
static const char *json_value_kind(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_null: return "null";
        case json_type_boolean: return json_object_get_boolean(o) ? "true" : "false";
        case json_type_int:
        case json_type_double: return "a number";
        case json_type_string: return "a string";
        case json_type_array: return "an array";
        case json_type_object: return "an object";
        }
        return "something else";
}

/* Parses line[0..len) as exactly one JSON value. json-c cannot tell a bare
 * number or literal at the end of the input ("1", "true") from one that
 * goes on, so it answers json_tokener_continue for those as for a
 * truncated object; ending the input with a NUL settles both. A null
 * value is returned as NULL with 0. */
static int parse_json_value(const char *line, size_t len, json_object **ret, char *err, size_t err_size) {
        json_tokener *tok;
        json_object *o;
        enum json_tokener_error jerr;
        size_t end, first = 0;
        int r = 0;

        while (first < len && strchr(" \t", line[first]))
                first++;
        if (first == len)
                return fail(err, err_size, "malformed JSON: empty request");
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, line, (int) len);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        if (jerr == json_tokener_continue) {
                o = json_tokener_parse_ex(tok, "", 1);
                jerr = json_tokener_get_error(tok);
                end = len;
        }
        if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof)
                r = fail(err, err_size, "malformed JSON: incomplete %s",
                         line[first] == '{' ? "object" : line[first] == '[' ? "array" :
                         line[first] == '"' ? "string" : "value");
        else if (jerr != json_tokener_success)
                r = fail(err, err_size, "malformed JSON: %s", json_tokener_error_desc(jerr));
        else {
                while (end < len && strchr(" \t", line[end]))
                        end++;
                if (end != len)
                        r = fail(err, err_size, "malformed JSON: trailing data after the value");
        }
        json_tokener_free(tok);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

/* A JSON string with a NUL in it ("2\u0000junk"): as a C string it would
 * read as something else ("2"). */
static bool json_string_has_nul(json_object *v) {
        return json_object_is_type(v, json_type_string) &&
               strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v);
}

/* The first string field of o that holds a NUL, or NULL. */
static const char *field_with_nul(json_object *o) {
        json_object_object_foreach(o, key, v)
                if (json_string_has_nul(v))
                        return key;
        return NULL;
}

int protocol_parse_request(const char *line, size_t len, ProtocolRequest *ret, char *err, size_t err_size) {
        json_object *o = NULL, *v;
        ProtocolRequest req = { .set_type = _SET_INVALID };
        const ProtocolCommandInfo *info;
        int64_t version;
        int r = 0;

        if (len > PROTOCOL_MAX_REQUEST)
                return fail(err, err_size, "request too long (%zu bytes, at most %d)", len, PROTOCOL_MAX_REQUEST);
        r = parse_json_value(line, len, &o, err, err_size);
        if (r < 0)
                return r;
        if (!json_object_is_type(o, json_type_object)) {
                r = fail(err, err_size, "request must be a JSON object, got %s", json_value_kind(o));
                goto out;
        }
        {
                const char *key = field_with_nul(o);

                if (key) {
                        r = fail(err, err_size, "\"%.32s\" contains a NUL byte", key);
                        goto out;
                }
        }
        if (!json_object_object_get_ex(o, "v", &v)) {
                r = fail(err, err_size, "missing protocol version \"v\" (this daemon speaks %d)", PROTOCOL_VERSION);
                goto out;
        }
        if (json_object_is_type(v, json_type_double)) {
                /* json-c keeps a number's text as sent: "1.0", "1e3". */
                r = fail(err, err_size, "\"v\" must be an integer, got %.32s", json_object_get_string(v));
                goto out;
        }
        if (!json_object_is_type(v, json_type_int)) {
                r = fail(err, err_size, "\"v\" must be an integer, got %s", json_value_kind(v));
                goto out;
        }
        /* json-c clamps what does not fit 64 bits, so a huge value is not
         * echoed: it would read as INT64_MAX. */
        version = json_object_get_int64(v);
        if (version < INT32_MIN || version > INT32_MAX) {
                r = fail(err, err_size, "unsupported protocol version: \"v\" is out of range (this daemon speaks %d)",
                         PROTOCOL_VERSION);
                goto out;
        }
        if (version != PROTOCOL_VERSION) {
                r = fail(err, err_size, "unsupported protocol version %" PRId64 " (this daemon speaks %d)", version,
                         PROTOCOL_VERSION);
                goto out;
        }
        if (!json_object_object_get_ex(o, "cmd", &v)) {
                r = fail(err, err_size, "missing command \"cmd\"");
                goto out;
        }
        if (!json_object_is_type(v, json_type_string)) {
                r = fail(err, err_size, "\"cmd\" must be a string, got %s", json_value_kind(v));
                goto out;
        }
        req.cmd = protocol_command_from_string(json_object_get_string(v));
        if (req.cmd == _CMD_INVALID) {
                r = fail(err, err_size, "unknown command \"%.64s\"", json_object_get_string(v));
                goto out;
        }
        info = protocol_command_info(req.cmd);
        if (json_object_object_get_ex(o, "target", &v)) {
                const char *t = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;

                if (!info->needs_target) {
                        r = fail(err, err_size, "%s takes no target", info->name);
                        goto out;
                }
                if (!t || !(protocol_target_is_group(t, NULL) || protocol_target_is_pci(t))) {
                        r = fail(err, err_size, "target must be a group number or a PCI address like 0000:00:04.0");
                        goto out;
                }
                snprintf(req.target, sizeof(req.target), "%s", t);
        } else if (info->needs_target) {
                r = fail(err, err_size, "%s needs a target: %s", info->name, info->usage);
                goto out;
        }
        if (req.cmd == CMD_SET) {
                if (!json_object_object_get_ex(o, "type", &v) || !json_object_is_type(v, json_type_string) ||
                    (req.set_type = protocol_set_type_from_string(json_object_get_string(v))) == _SET_INVALID) {
                        r = fail(err, err_size, "set needs \"type\": " PROTOCOL_MODE_STRICT ", " PROTOCOL_MODE_LAZY " or " PROTOCOL_MODE_AUTO);
                        goto out;
                }
                if (json_object_object_get_ex(o, "for_s", &v)) {
                        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0) {
                                r = fail(err, err_size, "\"for_s\" must be a positive number of seconds");
                                goto out;
                        }
                        req.for_s = (unsigned long long) json_object_get_int64(v);
                        if (req.for_s > PROTOCOL_PIN_MAX_S) {
                                r = fail(err, err_size, "\"for_s\" is at most %llu (366 days), got %llu",
                                         PROTOCOL_PIN_MAX_S, req.for_s);
                                goto out;
                        }
                }
        }
        *ret = req;
out:
        json_object_put(o);
        return r;
}

json_object *protocol_request_new(const ProtocolRequest *req) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "v", json_object_new_int(PROTOCOL_VERSION));
        json_object_object_add(o, "cmd", json_object_new_string(commands[req->cmd].name));
        if (req->target[0])
                json_object_object_add(o, "target", json_object_new_string(req->target));
        if (req->cmd == CMD_SET) {
                json_object_object_add(o, "type", json_object_new_string(protocol_set_type_to_string(req->set_type)));
                if (req->for_s > 0)
                        json_object_object_add(o, "for_s", json_object_new_int64((int64_t) req->for_s));
        }
        return o;
}

json_object *protocol_reply_ok(ProtocolCommand cmd, json_object *data) {
        json_object *o = json_object_new_object();

        if (!o) {
                json_object_put(data);
                return NULL;
        }
        json_object_object_add(o, "v", json_object_new_int(PROTOCOL_VERSION));
        json_object_object_add(o, "ok", json_object_new_boolean(true));
        json_object_object_add(o, "cmd", json_object_new_string(commands[cmd].name));
        json_object_object_add(o, "data", data);
        return o;
}

json_object *protocol_reply_error(const char *fmt, ...) {
        json_object *o = json_object_new_object();
        char msg[512];
        va_list ap;

        if (!o)
                return NULL;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object_object_add(o, "v", json_object_new_int(PROTOCOL_VERSION));
        json_object_object_add(o, "ok", json_object_new_boolean(false));
        json_object_object_add(o, "error", json_object_new_string(msg));
        return o;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_sequence_len(const unsigned char *s, size_t n) {
        unsigned char c = s[0];
        size_t len;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

char *protocol_to_line(json_object *obj, size_t *ret_len) {
        /* json-c never emits a raw newline in plain mode: strings escape it. */
        const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t n, bad = 0, len = 0;
        char *line;

        if (!s)
                return NULL;
        n = strlen(s);
        /* json-c copies a string's bytes as they are, so a config value, a
         * file name or an echoed request may carry bytes that are not
         * UTF-8. Outside strings the text is ASCII, so each invalid byte is
         * inside a string: it becomes the text \xHH (a JSON "\\xHH"). */
        for (size_t i = 0; i < n;) {
                size_t k = utf8_sequence_len((const unsigned char *) s + i, n - i);

                bad += k == 0;
                i += k ? k : 1;
        }
        line = malloc(n + bad * 4 + 2);
        if (!line)
                return NULL;
        for (size_t i = 0; i < n;) {
                size_t k = utf8_sequence_len((const unsigned char *) s + i, n - i);

                if (k) {
                        memcpy(line + len, s + i, k);
                        len += k;
                        i += k;
                } else {
                        len += (size_t) sprintf(line + len, "\\\\x%02x", (unsigned char) s[i]);
                        i++;
                }
        }
        line[len] = '\n';
        line[len + 1] = '\0';
        if (ret_len)
                *ret_len = len + 1;
        return line;
}

int protocol_parse_reply(const char *line, json_object **ret_reply, json_object **ret_data, char *err,
                         size_t err_size) {
        json_object *o, *v;

        o = json_tokener_parse(line);
        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "v", &v) ||
            json_object_get_int(v) != PROTOCOL_VERSION || !json_object_object_get_ex(o, "ok", &v)) {
                json_object_put(o);
                snprintf(err, err_size, "the daemon sent something that is not a protocol %d reply",
                         PROTOCOL_VERSION);
                return -EBADMSG;
        }
        if (!json_object_get_boolean(v)) {
                json_object *e = NULL;

                json_object_object_get_ex(o, "error", &e);
                snprintf(err, err_size, "%s", e ? json_object_get_string(e) : "unspecified error");
                *ret_reply = o;
                *ret_data = NULL;
                return -EPROTO;
        }
        *ret_reply = o;
        *ret_data = json_object_object_get(o, "data");
        return 0;
}
