/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The control protocol between iommutuned and iommuctl, defined once and
 * linked into both programs.
 *
 * A Unix stream socket carries one JSON object per line each way.
 *   request:  {"v":1,"cmd":"show","target":"7"}
 *             {"v":1,"cmd":"set","target":"0000:00:04.0","type":"lazy","for_s":600}
 *   reply:    {"v":1,"ok":true,"cmd":"show","data":{...}}
 *             {"v":1,"ok":false,"error":"unknown command \"frobnicate\""}
 *   watch:    one reply per tick, each {"v":1,"ok":true,"cmd":"watch","data":{...}}
 *   notice:   an ok reply may carry "notice":"..." beside "data", something
 *             the operator must read whatever was asked (no IOMMU is active)
 *
 * Version history:
 *   1  first version. Keys added since are optional and change no meaning
 *      (a reply's "notice"), so the version stays.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define PROTOCOL_VERSION 1
/* A request line longer than this is refused (and the connection is kept,
 * skipping to the next newline). */
#define PROTOCOL_MAX_REQUEST 4096
#define PROTOCOL_DEFAULT_SOCKET "/run/iommutuned/iommutuned.sock"
/* The read-only socket (reader_socket): privileged commands are refused. */
#define PROTOCOL_DEFAULT_READER_SOCKET "/run/iommutuned/reader.sock"
/* The socket units (systemd/meson.build) are generated from the two paths
 * above; keep each on one line as it is. */

/* A group's policy mode, as the config, "set", state.json and the replies
 * spell it. */
#define PROTOCOL_MODE_STRICT "strict"
#define PROTOCOL_MODE_LAZY "lazy"
#define PROTOCOL_MODE_AUTO "auto"
/* The daemon's mode: switch groups, or only say what it would switch. */
#define PROTOCOL_DAEMON_MODE_ENFORCE "enforce"
#define PROTOCOL_DAEMON_MODE_ADVISE "advise"

typedef enum ProtocolCommand {
        CMD_STATUS,
        CMD_GROUPS,
        CMD_SHOW,
        CMD_SAVINGS,
        CMD_EXPLAIN,
        CMD_SET,
        CMD_CLEAR,
        CMD_RELOAD,
        CMD_WATCH,
        CMD_METRICS,
        _CMD_MAX,
        _CMD_INVALID = -1,
} ProtocolCommand;

typedef struct ProtocolCommandInfo {
        const char *name;
        bool privileged;     /* needs root or a member of admin_group */
        bool needs_target;   /* takes GROUP|BDF */
        const char *usage;   /* arguments, for iommuctl's help */
        const char *summary;
} ProtocolCommandInfo;

/* The table both sides use: the daemon to dispatch and check privilege,
 * iommuctl for its verbs and help. */
const ProtocolCommandInfo *protocol_command_info(ProtocolCommand c);
ProtocolCommand protocol_command_from_string(const char *s);

/* What "set" may ask for. */
typedef enum ProtocolSetType {
        SET_STRICT,
        SET_LAZY,
        SET_AUTO,
        _SET_MAX,
        _SET_INVALID = -1,
} ProtocolSetType;
const char *protocol_set_type_to_string(ProtocolSetType t);
ProtocolSetType protocol_set_type_from_string(const char *s);

/* The longest pin "set ... --for" takes: a year. Longer belongs in the config. */
#define PROTOCOL_PIN_MAX_S (366ULL * 86400ULL)

typedef struct ProtocolRequest {
        ProtocolCommand cmd;
        char target[64];          /* GROUP id or PCI address; empty when none */
        ProtocolSetType set_type; /* CMD_SET */
        unsigned long long for_s; /* CMD_SET: 0 = until cleared, at most PROTOCOL_PIN_MAX_S */
} ProtocolRequest;

/* Parses one request line (without its newline). Returns 0, or -EINVAL
 * with a message naming what was wrong in err: malformed JSON (incomplete,
 * trailing data), a value that is not an object, a missing, non-integer or
 * unsupported "v" (one beyond 32 bits is called out of range, never echoed
 * clamped), a "cmd" that is missing, not a string or unknown, a missing or
 * bad argument. */
int protocol_parse_request(const char *line, size_t len, ProtocolRequest *ret, char *err, size_t err_size);

/* Builds a request object (for iommuctl and tests); NULL on ENOMEM. */
json_object *protocol_request_new(const ProtocolRequest *req);

/* Builds replies. protocol_reply_ok() takes ownership of data (may be
 * NULL). Return NULL on ENOMEM. */
json_object *protocol_reply_ok(ProtocolCommand cmd, json_object *data);
json_object *protocol_reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Serializes an object as one protocol line, newline included, in a new
 * string the caller frees. NULL on ENOMEM. */
char *protocol_to_line(json_object *obj, size_t *ret_len);

/* Checks a reply line from the daemon. Returns 0 and *ret_data (owned by
 * *ret_reply, which the caller puts) when ok; -EPROTO with the daemon's
 * error in err when not ok; -EBADMSG when the line is not a valid reply. */
int protocol_parse_reply(const char *line, json_object **ret_reply, json_object **ret_data, char *err,
                         size_t err_size);

/* Target syntax: a group number or a PCI address (dddd:bb:dd.f). */
bool protocol_target_is_group(const char *target, unsigned *ret_group);
bool protocol_target_is_pci(const char *target);
