/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A whole control session: the input is the byte stream one client writes
 * (several requests, blank lines, oversized or cut lines, invalid UTF-8,
 * NULs), to a real ControlServer on a real Unix socket, after which the
 * client shuts its writing side and reads until the server closes. The
 * contract (control.h, protocol.h): the session ends (the server answers
 * what was buffered and closes after EOF), every reply is one line of valid
 * UTF-8 holding a protocol reply object, and there is at most one reply
 * per request line (an oversized line counts once).
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "control.h"
#include "fuzz.h"
#include "log.h"
#include "util.h"
#include "../utf8-oracle.h"

/* Answers like the daemon in shape: ok with the target echoed, an error
 * for "explain" (a reply that quotes the request's words), a subscription
 * for watch. */
static json_object *handler(void *userdata, ControlClient *client, const ProtocolRequest *req) {
        json_object *data;

        if (req->cmd == CMD_WATCH) {
                control_client_subscribe(client);
                return NULL;
        }
        if (req->cmd == CMD_EXPLAIN)
                return protocol_reply_error("no IOMMU group or grouped device \"%s\"", req->target);
        data = json_object_new_object();
        json_object_object_add(data, "target", json_object_new_string(req->target));
        return protocol_reply_ok(req->cmd, data);
}

static sd_event *event;
static ControlServer *server;
/* An abstract socket (no file to leave behind when libFuzzer stops),
 * passed to the server as systemd passes its socket. */
static struct sockaddr_un sa = { .sun_family = AF_UNIX };
static socklen_t sa_len;

static void setup(void) {
        int fd;

        log_set_max_level(LOG_CRIT);
        snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "fuzz-control-session-%d", (int) getpid());
        sa_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(bind(fd, (struct sockaddr *) &sa, sa_len) == 0);
        FUZZ_CHECK(listen(fd, 16) == 0);
        FUZZ_CHECK(sd_event_new(&event) >= 0);
        FUZZ_CHECK(control_server_new(event, NULL, fd, (gid_t) -1, handler, NULL, &server) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *out = NULL;
        size_t written = 0, got = 0, allocated = 0, lines = 1, replies = 0;
        bool shut = false, eof = false;
        int fd;

        if (!server)
                setup();
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(connect(fd, (struct sockaddr *) &sa, sa_len) == 0);

        /* One thread: write what the socket takes, let the server run, read
         * what it answered; until it closes. The bound on rounds is far
         * above what any input needs: reaching it is a hang. */
        for (unsigned round = 0; !eof; round++) {
                ssize_t n;

                FUZZ_CHECK(round < 100000);
                if (written < size) {
                        n = send(fd, data + written, size - written, MSG_NOSIGNAL);
                        if (n > 0)
                                written += (size_t) n;
                }
                if (written == size && !shut) {
                        FUZZ_CHECK(shutdown(fd, SHUT_WR) == 0);
                        shut = true;
                }
                FUZZ_CHECK(sd_event_run(event, 0) >= 0);
                for (;;) {
                        if (greedy_realloc((void **) &out, &allocated, got + 65536, 1) < 0)
                                abort();
                        n = recv(fd, out + got, allocated - got, 0);
                        if (n == 0)
                                eof = true;
                        if (n <= 0)
                                break;
                        got += (size_t) n;
                }
        }
        close(fd);
        FUZZ_CHECK(got == 0 || out[got - 1] == '\n');
        for (size_t start = 0; start < got;) {
                char *nl = memchr(out + start, '\n', got - start);
                size_t len = (size_t) (nl - (out + start));
                _cleanup_free_ char *line = strndup(out + start, len);
                json_object *o, *v;

                FUZZ_CHECK(line && strlen(line) == len);
                FUZZ_CHECK(utf8_oracle_valid(line, len));
                o = json_tokener_parse(line);
                FUZZ_CHECK(o && json_object_is_type(o, json_type_object));
                FUZZ_CHECK(json_object_object_get_ex(o, "v", &v) && json_object_get_int(v) == PROTOCOL_VERSION);
                FUZZ_CHECK(json_object_object_get_ex(o, "ok", &v));
                json_object_put(o);
                replies++;
                start += len + 1;
        }
        FUZZ_CHECK(replies <= lines);
        /* The server is done with the client: nothing is left behind. */
        for (unsigned round = 0; control_server_clients(server) > 0; round++) {
                FUZZ_CHECK(round < 1000);
                FUZZ_CHECK(sd_event_run(event, 0) >= 0);
        }
        return 0;
}
