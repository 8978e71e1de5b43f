/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket server over a real Unix socket in a temporary
 * directory. The server runs on its own sd-event loop in a second thread
 * (with a 10 ms timer standing in for the monitoring tick); the clients are
 * plain sockets in the main thread. Every wait has a deadline, so a bug
 * fails a check instead of hanging the test.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "control.h"
#include "tap.h"
#include "util.h"

#define TICK_US 10000ULL
#define WAIT_MS 10000 /* the deadline of any single wait */
/* Longer than this without a tick or an answer: stalled. Valgrind runs one
 * thread at a time, and on a loaded machine a round trip takes seconds. */
#define STALL_US (RUNNING_ON_VALGRIND ? 10000000ULL : 2000000ULL)

typedef struct Server {
        char dir[64], path[128];
        gid_t admin_gid;
        bool read_only;            /* the reader socket */
        pthread_t thread;
        int stop_fd, ready_fd;
        int start_error;
        ControlServer *control;    /* owned by the server thread */
        sd_event *event;           /* the server thread's */
        atomic_uint_fast64_t ticks;
        atomic_uint_fast64_t last_tick_us, max_tick_gap_us;
        atomic_uint_fast64_t watch_pad; /* bytes of padding in each watch update */
        atomic_uint_fast64_t slow_us;   /* how long the handler takes per request */
        /* Requests handled in one event loop iteration (one dispatch), and
         * between two ticks: the most of each since the test reset them. */
        atomic_uint_fast64_t iteration, in_iteration, max_per_iteration;
        atomic_uint_fast64_t since_tick, max_between_ticks;
        atomic_uint_fast64_t shows; /* show requests handled */
        atomic_uint_fast64_t sets;  /* set requests handled */
        uint64_t requests, errors, refused; /* copied out when the loop ends */
} Server;

static uint64_t now_us(void) {
        return now_monotonic_ns() / 1000;
}

/* The handler: answers every command with something small, except
 * "groups" (1 KiB) and "metrics" (32 KiB), which fill a queue quickly. */
static void count_request(Server *s) {
        uint64_t it = 0, n;

        (void) sd_event_get_iteration(s->event, &it);
        if (it != atomic_load(&s->iteration)) {
                atomic_store(&s->iteration, it);
                atomic_store(&s->in_iteration, 0);
        }
        n = atomic_fetch_add(&s->in_iteration, 1) + 1;
        if (n > atomic_load(&s->max_per_iteration))
                atomic_store(&s->max_per_iteration, n);
        if (atomic_load(&s->slow_us)) {
                n = atomic_fetch_add(&s->since_tick, 1) + 1;
                if (n > atomic_load(&s->max_between_ticks))
                        atomic_store(&s->max_between_ticks, n);
                usleep((useconds_t) atomic_load(&s->slow_us));
        }
}

static void add_int(json_object *data, const char *key, uint64_t v) {
        json_object_object_add(data, key, json_object_new_int64((int64_t) v));
}

static json_object *handler(void *userdata, ControlClient *client, const ProtocolRequest *req) {
        Server *s = userdata;
        json_object *data = json_object_new_object();

        count_request(s);
        switch (req->cmd) {
        case CMD_STATUS: {
                ControlQueueStats q;

                control_server_queue_stats(s->control, &q);
                add_int(data, "clients", control_server_clients(s->control));
                add_int(data, "watchers", control_server_watchers(s->control));
                add_int(data, "ticks", atomic_load(&s->ticks));
                add_int(data, "queued", q.queued_bytes);
                add_int(data, "max_queued", q.max_client_bytes);
                add_int(data, "held", q.held_bytes);
                add_int(data, "dropped", q.updates_dropped);
                add_int(data, "shows", atomic_load(&s->shows));
                add_int(data, "sets", atomic_load(&s->sets));
                break;
        }
        case CMD_GROUPS:
        case CMD_METRICS: {
                size_t n = req->cmd == CMD_GROUPS ? 1024 : 32768;
                char *pad = malloc(n + 1);

                memset(pad, 'g', n);
                pad[n] = '\0';
                json_object_object_add(data, "pad", json_object_new_string(pad));
                free(pad);
                break;
        }
        case CMD_WATCH:
                control_client_subscribe(client);
                break;
        default:
                if (req->cmd == CMD_SHOW)
                        atomic_fetch_add(&s->shows, 1);
                if (req->cmd == CMD_SET)
                        atomic_fetch_add(&s->sets, 1);
                if (req->target[0])
                        json_object_object_add(data, "target", json_object_new_string(req->target));
                json_object_object_add(data, "handled", json_object_new_boolean(true));
        }
        return protocol_reply_ok(req->cmd, data);
}

static int on_tick(sd_event_source *source, uint64_t usec, void *userdata) {
        Server *s = userdata;
        uint64_t now = now_us(), last = atomic_load(&s->last_tick_us), n;

        if (last && now - last > atomic_load(&s->max_tick_gap_us))
                atomic_store(&s->max_tick_gap_us, now - last);
        atomic_store(&s->last_tick_us, now);
        n = atomic_fetch_add(&s->ticks, 1) + 1;
        atomic_store(&s->since_tick, 0);
        if (n % 5 == 0) {
                /* What the manager sends watchers after a tick. */
                json_object *data = json_object_new_object();
                json_object *update;
                size_t pad = (size_t) atomic_load(&s->watch_pad);

                json_object_object_add(data, "tick", json_object_new_int64((int64_t) n));
                if (pad > 0) {
                        char *p = malloc(pad + 1);

                        memset(p, 'w', pad);
                        p[pad] = '\0';
                        json_object_object_add(data, "pad", json_object_new_string(p));
                        free(p);
                }
                update = protocol_reply_ok(CMD_WATCH, data);
                control_server_broadcast(s->control, update);
                json_object_put(update);
        }
        if (sd_event_source_set_time_relative(source, TICK_US) < 0)
                return -EIO;
        return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
}

static int on_stop(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(source), 0);
}

static void *server_thread(void *userdata) {
        Server *s = userdata;
        sd_event *e = NULL;
        sd_event_source *stop = NULL, *tick = NULL;
        uint64_t one = 1;
        int r;

        r = sd_event_new(&e);
        s->event = e;
        if (r >= 0)
                r = control_server_new(e, s->path, -1, s->admin_gid, handler, s, &s->control);
        if (r >= 0 && s->read_only)
                control_server_set_read_only(s->control);
        if (r >= 0)
                r = sd_event_add_io(e, &stop, s->stop_fd, EPOLLIN, on_stop, s);
        if (r >= 0)
                /* 1 ms accuracy: the default (250 ms) would let an idle loop
                 * coalesce the 10 ms ticks. */
                r = sd_event_add_time_relative(e, &tick, CLOCK_MONOTONIC, TICK_US, 1000, on_tick, s);
        s->start_error = r < 0 ? r : 0;
        (void) !write(s->ready_fd, &one, sizeof(one));
        if (r >= 0)
                (void) sd_event_loop(e);
        if (s->control)
                control_server_stats(s->control, &s->requests, &s->errors, &s->refused);
        s->control = control_server_free(s->control);
        sd_event_source_disable_unref(tick);
        sd_event_source_disable_unref(stop);
        sd_event_unref(e);
        return NULL;
}

static int server_start_as(Server *s, const char *dir, gid_t admin_gid, bool read_only) {
        uint64_t v;

        *s = (Server) { .admin_gid = admin_gid, .read_only = read_only };
        snprintf(s->path, sizeof(s->path), "%s/control.sock", dir);
        s->stop_fd = eventfd(0, EFD_CLOEXEC);
        s->ready_fd = eventfd(0, EFD_CLOEXEC);
        if (s->stop_fd < 0 || s->ready_fd < 0)
                return -errno;
        if (pthread_create(&s->thread, NULL, server_thread, s) != 0)
                return -EAGAIN;
        if (read(s->ready_fd, &v, sizeof(v)) != sizeof(v))
                return -EIO;
        if (s->start_error < 0)
                pthread_join(s->thread, NULL);
        return s->start_error;
}

static int server_start(Server *s, const char *dir, gid_t admin_gid) {
        return server_start_as(s, dir, admin_gid, false);
}

static void server_stop(Server *s) {
        uint64_t one = 1;

        (void) !write(s->stop_fd, &one, sizeof(one));
        pthread_join(s->thread, NULL);
        close(s->stop_fd);
        close(s->ready_fd);
}

/* A client connection with its input buffer. */
typedef struct Conn {
        int fd;
        char *buf;
        size_t len, alloc;
} Conn;

static int conn_open(Conn *c, const char *path, bool nonblock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        *c = (Conn) { .fd = -EBADF };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(c->fd);
                c->fd = -EBADF;
                return r;
        }
        return 0;
}

static void conn_close(Conn *c) {
        if (c->fd >= 0)
                close(c->fd);
        free(c->buf);
        *c = (Conn) { .fd = -EBADF };
}

/* A complete line already received, or NULL. */
static char *conn_take_line(Conn *c) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        char *line;
        size_t n;

        if (!nl)
                return NULL;
        n = (size_t) (nl - c->buf);
        line = strndup(c->buf, n);
        memmove(c->buf, nl + 1, c->len - n - 1);
        c->len -= n + 1;
        return line;
}

/* Reads what is there without waiting. Returns bytes read, 0 at EOF,
 * -EAGAIN when nothing is there, or -errno. */
static ssize_t conn_fill(Conn *c) {
        ssize_t n;

        if (greedy_realloc((void **) &c->buf, &c->alloc, c->len + 65536, 1) < 0)
                return -ENOMEM;
        n = recv(c->fd, c->buf + c->len, c->alloc - c->len, MSG_DONTWAIT);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        c->len += (size_t) n;
        return n;
}

/* The next line, waiting at most timeout_ms; NULL at EOF, error or timeout. */
static char *conn_read_line(Conn *c, int timeout_ms) {
        uint64_t deadline = now_us() + (uint64_t) timeout_ms * 1000;

        for (;;) {
                char *line = conn_take_line(c);
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                uint64_t now = now_us();
                ssize_t n;

                if (line)
                        return line;
                if (now >= deadline || poll(&p, 1, (int) ((deadline - now) / 1000) + 1) <= 0)
                        return NULL;
                n = conn_fill(c);
                if (n == 0 || (n < 0 && n != -EAGAIN))
                        return NULL;
        }
}

static int send_all(int fd, const char *data, size_t len) {
        while (len > 0) {
                ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

                if (n < 0)
                        return -errno;
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

static int send_str(Conn *c, const char *s) {
        return send_all(c->fd, s, strlen(s));
}

/* Sends req (with its newline) and parses the reply line; NULL when none came. */
static json_object *roundtrip(Conn *c, const char *req) {
        _cleanup_free_ char *line = NULL;

        if (send_str(c, req) < 0)
                return NULL;
        line = conn_read_line(c, WAIT_MS);
        return line ? json_tokener_parse(line) : NULL;
}

static bool reply_ok(json_object *o) {
        json_object *v;

        return o && json_object_object_get_ex(o, "v", &v) && json_object_get_int(v) == PROTOCOL_VERSION &&
               json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v);
}

static const char *reply_error(json_object *o) {
        json_object *v;

        if (!o || reply_ok(o) || !json_object_object_get_ex(o, "error", &v))
                return "";
        return json_object_get_string(v);
}

static int64_t reply_int(json_object *o, const char *key) {
        json_object *data, *v;

        if (!json_object_object_get_ex(o, "data", &data) || !json_object_object_get_ex(data, key, &v))
                return -1;
        return json_object_get_int64(v);
}

static void expect_error_reply(Conn *c, const char *req, const char *needle, const char *what) {
        json_object *o = roundtrip(c, req);

        CHECK(o && !reply_ok(o) && strstr(reply_error(o), needle), "%s: error naming \"%s\" (got \"%s\")", what,
              needle, o ? json_object_to_json_string(o) : "no reply");
        json_object_put(o);
}

static void expect_ok_reply(Conn *c, const char *req, const char *what) {
        json_object *o = roundtrip(c, req);

        CHECK(reply_ok(o), "%s: answered ok (got %s)", what, o ? json_object_to_json_string(o) : "no reply");
        json_object_put(o);
}

#define STATUS "{\"v\":1,\"cmd\":\"status\"}\n"

/* Polls status on c until the server counts want clients; returns the last count. */
static int64_t wait_for_clients(Conn *c, int64_t want) {
        uint64_t deadline = now_us() + WAIT_MS * 1000ULL;
        int64_t n = -1;

        do {
                json_object *o = roundtrip(c, STATUS);

                n = reply_int(o, "clients");
                json_object_put(o);
                if (n == want)
                        break;
                usleep(2000);
        } while (now_us() < deadline);
        return n;
}

static void test_requests(Server *s) {
        Conn c;
        json_object *o, *v;

        CHECK_INT(conn_open(&c, s->path, false), 0, "connect");
        o = roundtrip(&c, STATUS);
        CHECK(reply_ok(o), "status answered ok");
        CHECK(o && json_object_object_get_ex(o, "cmd", &v) && streq(json_object_get_string(v), "status"),
              "the reply names its command");
        json_object_put(o);
        o = roundtrip(&c, "{\"v\":1,\"cmd\":\"show\",\"target\":\"0000:00:04.0\"}\n");
        CHECK(reply_ok(o) && o && json_object_object_get_ex(o, "data", &v) &&
                      json_object_object_get_ex(v, "target", &v) && streq(json_object_get_string(v), "0000:00:04.0"),
              "show reaches the handler with its target");
        json_object_put(o);

        expect_error_reply(&c, "{\"v\":1,\"cmd\":\n", "malformed JSON", "truncated JSON");
        expect_error_reply(&c, "not json at all\n", "malformed JSON", "not JSON");
        expect_error_reply(&c, "{\"v\":1,\"cmd\":\"status\"} trailing\n", "malformed JSON", "trailing data");
        expect_error_reply(&c, "[1,2,3]\n", "must be a JSON object", "an array");
        expect_error_reply(&c, "1\n", "request must be a JSON object, got a number", "a number");
        expect_error_reply(&c, "null\n", "request must be a JSON object, got null", "null");
        expect_error_reply(&c, "{\"v\":1,\"cmd\":\"status\"\n", "malformed JSON: incomplete object",
                           "an object without its end");
        expect_error_reply(&c, "{\"v\":\"1\",\"cmd\":\"status\"}\n", "\"v\" must be an integer, got a string",
                           "a string version");
        expect_error_reply(&c, "{\"v\":1,\"cmd\":1}\n", "\"cmd\" must be a string", "a number command");
        expect_error_reply(&c, "{\"v\":1,\"cmd\":\"frobnicate\"}\n", "unknown command \"frobnicate\"",
                           "unknown command");
        expect_error_reply(&c, "{\"v\":2,\"cmd\":\"status\"}\n", "unsupported protocol version 2", "version 2");
        expect_error_reply(&c, "{\"cmd\":\"status\"}\n", "missing protocol version", "no version");
        expect_error_reply(&c, "{\"v\":1,\"cmd\":\"show\"}\n", "show needs a target", "missing target");
        /* A blank line is a keep-alive: no reply, so the next reply is status's. */
        expect_ok_reply(&c, "\n\n" STATUS, "blank lines are not answered");
        expect_ok_reply(&c, "{\"v\":1,\"cmd\":\"status\"}\r\n", "a CRLF line");
        expect_ok_reply(&c, STATUS, "the connection survives every error");

        /* Two requests in one write, and one request split over writes. */
        CHECK_INT(send_str(&c, STATUS STATUS), 0, "two requests in one write");
        for (int i = 0; i < 2; i++) {
                char *line = conn_read_line(&c, WAIT_MS);

                o = line ? json_tokener_parse(line) : NULL;
                CHECK(reply_ok(o), "pipelined request %d answered", i + 1);
                json_object_put(o);
                free(line);
        }
        CHECK_INT(send_str(&c, "{\"v\":1,"), 0, "first half of a request");
        usleep(20000);
        expect_ok_reply(&c, "\"cmd\":\"status\"}\n", "a request split over two writes");
        conn_close(&c);
}

/* A valid request padded to exactly len bytes (without the newline). */
static char *padded_request(size_t len) {
        static const char head[] = "{\"v\":1,\"cmd\":\"status\",\"pad\":\"", tail[] = "\"}";
        size_t pad = len - (sizeof(head) - 1) - (sizeof(tail) - 1);
        char *s = malloc(len + 2);

        memcpy(s, head, sizeof(head) - 1);
        memset(s + sizeof(head) - 1, 'p', pad);
        memcpy(s + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
        s[len] = '\n';
        s[len + 1] = '\0';
        return s;
}

static void test_oversized(Server *s) {
        _cleanup_free_ char *at_limit = padded_request(PROTOCOL_MAX_REQUEST);
        _cleanup_free_ char *over = padded_request(PROTOCOL_MAX_REQUEST + 1);
        _cleanup_free_ char *at_limit_crlf = realloc(padded_request(PROTOCOL_MAX_REQUEST), PROTOCOL_MAX_REQUEST + 3);
        _cleanup_free_ char *huge = malloc(200001);
        Conn c;
        int r;

        CHECK_INT(conn_open(&c, s->path, false), 0, "connect");
        expect_ok_reply(&c, at_limit, "a request of exactly PROTOCOL_MAX_REQUEST bytes is answered");
        /* The CR of a CRLF ending is not part of the request. */
        strcpy(at_limit_crlf + PROTOCOL_MAX_REQUEST, "\r\n");
        expect_ok_reply(&c, at_limit_crlf, "... also when it ends in CRLF");
        expect_ok_reply(&c, STATUS, "and the next request is answered, not an error for the rest of a line");
        expect_error_reply(&c, over, "request too long", "one byte over PROTOCOL_MAX_REQUEST");
        expect_ok_reply(&c, STATUS, "the next request on the same connection is answered");

        /* 200 kB in one line, written in pieces: one error, then the next
         * request. A second error for the rest of the line would come
         * before status's reply and fail the check. */
        memset(huge, 'x', 200000);
        huge[200000] = '\0';
        r = 0;
        for (size_t off = 0; off < 200000 && r == 0; off += 7000)
                r = send_all(c.fd, huge + off, 200000 - off < 7000 ? 200000 - off : 7000);
        CHECK_INT(r, 0, "write a 200 kB line in pieces");
        expect_error_reply(&c, "\n", "request too long", "a 200 kB line: one error");
        expect_ok_reply(&c, STATUS, "then the next request is answered");
        conn_close(&c);
}

/* 10,000 malformed lines on one connection, written while the replies are
 * read (non-blocking), with another client answered meanwhile. */
static void test_flood(Server *s) {
        static const char *const bad[] = { "x\n", "{\n", "[1]\n", "{\"v\":1}\n", "{\"v\":9,\"cmd\":\"status\"}\n" };
        enum { N = 10000 };
        size_t sent = 0, off = 0, replies = 0, errors = 0;
        uint64_t deadline = now_us() + 4 * WAIT_MS * 1000ULL, max_other_us = 0;
        Conn c, other;
        bool broken = false;

        CHECK_INT(conn_open(&c, s->path, true), 0, "connect the flooder");
        CHECK_INT(conn_open(&other, s->path, false), 0, "connect a bystander");
        while (replies < N && !broken && now_us() < deadline) {
                struct pollfd p = { .fd = c.fd, .events = POLLIN | (sent < N ? POLLOUT : 0) };
                char *line;

                if (poll(&p, 1, 1000) < 0)
                        break;
                if (p.revents & POLLOUT) {
                        /* As many lines as the socket takes. */
                        while (sent < N) {
                                const char *l = bad[sent % ELEMENTSOF(bad)];
                                ssize_t n = send(c.fd, l + off, strlen(l) - off, MSG_NOSIGNAL | MSG_DONTWAIT);

                                if (n < 0) {
                                        broken = errno != EAGAIN;
                                        break;
                                }
                                off += (size_t) n;
                                if (off == strlen(l)) {
                                        off = 0;
                                        if (++sent % 2000 == 0) {
                                                uint64_t t0 = now_us();
                                                json_object *o = roundtrip(&other, STATUS);

                                                CHECK(reply_ok(o), "a bystander is answered after %zu flood lines",
                                                      sent);
                                                json_object_put(o);
                                                if (now_us() - t0 > max_other_us)
                                                        max_other_us = now_us() - t0;
                                        }
                                }
                        }
                }
                if (p.revents & (POLLIN | POLLHUP)) {
                        ssize_t n = conn_fill(&c);

                        if (n == 0 || (n < 0 && n != -EAGAIN))
                                broken = true;
                        while ((line = conn_take_line(&c))) {
                                json_object *o = json_tokener_parse(line);

                                replies++;
                                errors += o && !reply_ok(o) && *reply_error(o);
                                json_object_put(o);
                                free(line);
                        }
                }
        }
        CHECK(!broken, "the flooded connection stays open");
        CHECK_INT(sent, N, "every flood line written");
        CHECK_INT(replies, N, "one reply per flood line");
        CHECK_INT(errors, N, "every flood reply is an error with a message");
        tap_diag("bystander round trip during the flood: at most %.1f ms", max_other_us / 1000.0);
        fcntl(c.fd, F_SETFL, 0);
        expect_ok_reply(&c, STATUS, "after the flood the same connection is answered");
        conn_close(&c);
        conn_close(&other);
}

/* 200 clients connect, each sends one request, all are answered. */
static void test_concurrent(Server *s) {
        enum { N = 200 };
        Conn *c = calloc(N, sizeof(Conn));
        struct pollfd *p = calloc(N, sizeof(struct pollfd));
        size_t connected = 0, answered = 0, ok = 0;
        uint64_t deadline;
        Conn probe;

        for (size_t i = 0; i < N; i++)
                connected += conn_open(&c[i], s->path, false) == 0;
        CHECK_INT(connected, N, "200 clients connected");
        for (size_t i = 0; i < N; i++)
                if (c[i].fd >= 0)
                        (void) send_str(&c[i], STATUS);
        deadline = now_us() + WAIT_MS * 1000ULL;
        while (answered < connected && now_us() < deadline) {
                for (size_t i = 0; i < N; i++)
                        p[i] = (struct pollfd) { .fd = c[i].fd, .events = POLLIN };
                if (poll(p, N, 1000) <= 0)
                        continue;
                for (size_t i = 0; i < N; i++) {
                        char *line;

                        if (!(p[i].revents & (POLLIN | POLLHUP)))
                                continue;
                        if (conn_fill(&c[i]) <= 0) {
                                conn_close(&c[i]); /* counted as unanswered */
                                continue;
                        }
                        if ((line = conn_take_line(&c[i]))) {
                                json_object *o = json_tokener_parse(line);

                                answered++;
                                ok += reply_ok(o);
                                json_object_put(o);
                                free(line);
                                p[i].fd = -1;
                        }
                }
        }
        CHECK_INT(answered, N, "all 200 concurrent clients answered");
        CHECK_INT(ok, N, "all 200 answers ok");
        for (size_t i = 0; i < N; i++)
                conn_close(&c[i]);
        CHECK_INT(conn_open(&probe, s->path, false), 0, "connect a probe");
        CHECK_INT(wait_for_clients(&probe, 1), 1, "the server forgets the 200 closed clients");
        conn_close(&probe);
        free(c);
        free(p);
}

/* The queue figures the server reports in status. */
static int64_t status_int(Conn *c, const char *key) {
        json_object *o = roundtrip(c, STATUS);
        int64_t v = reply_int(o, key);

        json_object_put(o);
        return v;
}

/* A client that keeps sending but never reads is not answered past
 * CONTROL_OUTPUT_HIGH queued bytes, and nothing more is read from it: it
 * stalls on its own full socket instead of growing the daemon's memory.
 * Meanwhile another client and the tick go on; when it reads at last, it
 * gets every answer. */
static void test_stuck_client(Server *s) {
        static const char req[] = "{\"v\":1,\"cmd\":\"groups\"}\n";
        uint64_t t0, deadline, max_rt_us = 0, ticks0, elapsed_us, stalled_since = 0;
        size_t sent = 0, off = 0, roundtrips = 0, answered = 0, reply_len, replies = 0, bad = 0;
        bool stalled = false, broken = false;
        int64_t max_queued, clients;
        Conn stuck, good;
        int err = 0;

        CHECK_INT(conn_open(&stuck, s->path, true), 0, "connect the client that does not read");
        CHECK_INT(conn_open(&good, s->path, false), 0, "connect a well-behaved client");
        {
                _cleanup_free_ char *line = NULL;

                /* The size of one reply the stuck client does not read. */
                CHECK_INT(send_str(&good, req), 0, "ask for groups once");
                line = conn_read_line(&good, WAIT_MS);
                reply_len = line ? strlen(line) + 1 : 0;
        }
        atomic_store(&s->max_tick_gap_us, 0);
        ticks0 = atomic_load(&s->ticks);
        t0 = now_us();
        deadline = t0 + 6 * WAIT_MS * 1000ULL;
        /* Write until the socket has taken nothing for 300 ms. */
        while (!stalled && !broken && now_us() < deadline) {
                uint64_t r0;
                json_object *o;

                for (int i = 0; i < 64; i++) {
                        ssize_t n = send(stuck.fd, req + off, sizeof(req) - 1 - off, MSG_NOSIGNAL | MSG_DONTWAIT);

                        if (n < 0) {
                                err = errno;
                                broken = err != EAGAIN;
                                if (!stalled_since)
                                        stalled_since = now_us();
                                stalled = now_us() - stalled_since > 300000;
                                break;
                        }
                        stalled_since = 0;
                        off += (size_t) n;
                        if (off == sizeof(req) - 1) {
                                off = 0;
                                sent++;
                        }
                }
                r0 = now_us();
                o = roundtrip(&good, STATUS);
                answered += reply_ok(o);
                roundtrips++;
                json_object_put(o);
                if (now_us() - r0 > max_rt_us)
                        max_rt_us = now_us() - r0;
                if (stalled_since)
                        usleep(10000);
        }
        elapsed_us = now_us() - t0;
        CHECK(!broken, "the client that does not read is not dropped (%s)", broken ? strerror(err) : "ok");
        CHECK(stalled, "its socket fills: the server stopped reading from it (after %zu requests)", sent);
        max_queued = status_int(&good, "max_queued");
        clients = status_int(&good, "clients");
        CHECK(max_queued > 0 && (uint64_t) max_queued <= CONTROL_OUTPUT_HIGH + reply_len,
              "what is queued for it stays under CONTROL_OUTPUT_HIGH plus one reply: %" PRId64 " bytes", max_queued);
        CHECK_INT(clients, 2, "both clients are still connected");
        CHECK_INT(answered, roundtrips, "every request of the well-behaved client answered meanwhile");
        CHECK(max_rt_us < STALL_US, "its slowest round trip: %.1f ms (under %llu s)", max_rt_us / 1000.0,
              STALL_US / 1000000);
        /* A stalled loop would stall for good; the bounds are loose because
         * under valgrind, or on a loaded machine, threads wait for a CPU. */
        CHECK(atomic_load(&s->ticks) - ticks0 >= elapsed_us / STALL_US &&
                      now_us() - atomic_load(&s->last_tick_us) < STALL_US,
              "the tick kept running: %" PRIu64 " ticks of 10 ms in %.0f ms", atomic_load(&s->ticks) - ticks0,
              elapsed_us / 1000.0);
        CHECK(atomic_load(&s->max_tick_gap_us) < STALL_US, "the longest gap between ticks: %.1f ms (under %llu s)",
              atomic_load(&s->max_tick_gap_us) / 1000.0, STALL_US / 1000000);

        /* It reads at last (finishing the request it was writing): every
         * request is answered, in full. */
        deadline = now_us() + 4 * WAIT_MS * 1000ULL;
        while (!broken && (replies < sent || off > 0) && now_us() < deadline) {
                struct pollfd p = { .fd = stuck.fd, .events = POLLIN | (off > 0 ? POLLOUT : 0) };
                char *line;

                if (poll(&p, 1, 1000) <= 0)
                        continue;
                if (p.revents & POLLOUT) {
                        ssize_t n = send(stuck.fd, req + off, sizeof(req) - 1 - off, MSG_NOSIGNAL | MSG_DONTWAIT);

                        if (n > 0 && (off += (size_t) n) == sizeof(req) - 1) {
                                off = 0;
                                sent++;
                        }
                }
                if (p.revents & (POLLIN | POLLHUP)) {
                        ssize_t n = conn_fill(&stuck);

                        broken = n == 0 || (n < 0 && n != -EAGAIN);
                        while ((line = conn_take_line(&stuck))) {
                                json_object *o = json_tokener_parse(line);

                                replies++;
                                bad += !reply_ok(o) || strlen(line) + 1 != reply_len;
                                json_object_put(o);
                                free(line);
                        }
                }
        }
        CHECK_INT(replies, sent, "once it reads, it gets an answer to every request it wrote");
        CHECK_INT(bad, 0, "... each the whole groups reply");
        conn_close(&stuck);
        expect_ok_reply(&good, STATUS, "the well-behaved client is still answered");
        CHECK_INT(wait_for_clients(&good, 1), 1, "the closed client is gone from the server");
        conn_close(&good);
}

/* 100 watchers that never read, with 64 KiB updates: each may hold at most
 * CONTROL_WATCH_BACKLOG unsent updates plus the one being written, the
 * update is serialized once and shared, older updates are dropped, and
 * the watchers stay connected. One that then reads gets recent updates. */
static void test_stuck_watchers(Server *s) {
        enum { N = 100, PAD = 65536, BROADCASTS = 12 };
        Conn *w = calloc(N, sizeof(Conn)), probe;
        size_t subscribed = 0;
        uint64_t ticks0, update_len = PAD + 128, deadline;
        int64_t watchers, max_queued, queued, held, dropped, clients, last_tick = -1, now_tick;
        int updates = 0, in_order = 1;
        char *line;

        CHECK_INT(conn_open(&probe, s->path, false), 0, "connect a probe");
        atomic_store(&s->watch_pad, PAD);
        for (size_t i = 0; i < N; i++) {
                json_object *o;

                if (conn_open(&w[i], s->path, false) < 0)
                        continue;
                o = roundtrip(&w[i], "{\"v\":1,\"cmd\":\"watch\"}\n");
                subscribed += reply_ok(o);
                json_object_put(o);
        }
        CHECK_INT(subscribed, N, "100 watchers subscribed");
        watchers = status_int(&probe, "watchers");
        CHECK_INT(watchers, N, "the server counts 100 watchers");
        /* Enough broadcasts to fill every socket and then some. */
        ticks0 = atomic_load(&s->ticks);
        deadline = now_us() + 6 * WAIT_MS * 1000ULL;
        while (atomic_load(&s->ticks) < ticks0 + 5 * BROADCASTS && now_us() < deadline)
                usleep(10000);
        max_queued = status_int(&probe, "max_queued");
        queued = status_int(&probe, "queued");
        held = status_int(&probe, "held");
        dropped = status_int(&probe, "dropped");
        clients = status_int(&probe, "clients");
        tap_diag("%d stuck watchers after %d broadcasts of %" PRIu64 " bytes: %" PRId64 " bytes queued, "
                 "%" PRId64 " held, at most %" PRId64 " for one, %" PRId64 " updates dropped",
                 N, BROADCASTS, update_len, queued, held, max_queued, dropped);
        CHECK(max_queued > 0 && (uint64_t) max_queued <= (CONTROL_WATCH_BACKLOG + 1) * update_len &&
                      max_queued <= 512 * 1024,
              "a stuck watcher has at most CONTROL_WATCH_BACKLOG + 1 updates queued (%" PRId64 " bytes)",
              max_queued);
        CHECK((uint64_t) held <= 2 * (CONTROL_WATCH_BACKLOG + 1) * update_len && held <= 1024 * 1024,
              "the queued updates are shared, not copied per watcher: %" PRId64 " bytes held for %" PRId64
              " queued",
              held, queued);
        CHECK(dropped > 0, "older updates were dropped for them (%" PRId64 ")", dropped);
        CHECK_INT(clients, N + 1, "every stuck watcher is still connected");
        CHECK(atomic_load(&s->max_tick_gap_us) < STALL_US, "the tick kept running: longest gap %.1f ms",
              atomic_load(&s->max_tick_gap_us) / 1000.0);

        /* The first watcher reads: whole updates in order, then current ones. */
        now_tick = (int64_t) atomic_load(&s->ticks);
        while ((line = conn_read_line(&w[0], 500))) {
                json_object *o = json_tokener_parse(line);
                int64_t t = reply_int(o, "tick");

                updates += reply_ok(o) && t > 0;
                in_order &= t > last_tick;
                last_tick = t;
                json_object_put(o);
                free(line);
                if (t > now_tick + 10)
                        break;
        }
        CHECK(updates > 0 && in_order, "a watcher that reads again gets whole updates in order (%d)", updates);
        CHECK(last_tick > now_tick, "... and then the current ones (tick %" PRId64 ", was at %" PRId64 ")",
              last_tick, now_tick);
        atomic_store(&s->watch_pad, 0);
        for (size_t i = 0; i < N; i++)
                conn_close(&w[i]);
        CHECK_INT(wait_for_clients(&probe, 1), 1, "the closed watchers are gone");
        watchers = status_int(&probe, "watchers");
        CHECK_INT(watchers, 0, "no watcher is left");
        conn_close(&probe);
        free(w);
}

/* One client pipelines 170 requests per write: each is answered, in
 * order, at most CONTROL_BATCH per dispatch, and the tick runs between
 * batches even though each request takes a millisecond. Another client
 * that asks meanwhile waits for a batch or two, not for the whole write. */
static void test_pipelined(Server *s) {
        enum { PER_WRITE = 170, ROUNDS = 3 };
        char *buf = malloc(PER_WRITE * 64);
        size_t answered = 0, in_order = 0;
        int64_t max_shows_before = 0;
        Conn c, other;

        CHECK_INT(conn_open(&c, s->path, false), 0, "connect the pipelining client");
        CHECK_INT(conn_open(&other, s->path, false), 0, "connect another client");
        atomic_store(&s->slow_us, 1000);
        usleep(50000); /* ticks reset the count between them */
        atomic_store(&s->max_per_iteration, 0);
        atomic_store(&s->max_between_ticks, 0);
        for (int round = 0; round < ROUNDS; round++) {
                size_t len = 0;

                for (int i = 0; i < PER_WRITE; i++)
                        len += (size_t) sprintf(buf + len, "{\"v\":1,\"cmd\":\"show\",\"target\":\"%d\"}\n",
                                                round * PER_WRITE + i);
                CHECK(send_all(c.fd, buf, len) == 0, "write %d requests at once (%zu bytes)", PER_WRITE, len);
                for (int i = 0; i < PER_WRITE; i++) {
                        char *line = conn_read_line(&c, WAIT_MS), want[16];
                        json_object *o = line ? json_tokener_parse(line) : NULL, *data, *t;

                        if (i == 0) {
                                /* The first answer is out: the rest are
                                 * buffered or being answered. */
                                int64_t shows0 = (int64_t) atomic_load(&s->shows);
                                int64_t shows1 = status_int(&other, "shows");

                                if (shows1 - shows0 > max_shows_before)
                                        max_shows_before = shows1 - shows0;
                        }
                        snprintf(want, sizeof(want), "%d", round * PER_WRITE + i);
                        answered += reply_ok(o);
                        in_order += o && json_object_object_get_ex(o, "data", &data) &&
                                    json_object_object_get_ex(data, "target", &t) &&
                                    streq(json_object_get_string(t), want);
                        json_object_put(o);
                        free(line);
                }
        }
        atomic_store(&s->slow_us, 0);
        CHECK_INT(answered, PER_WRITE * ROUNDS, "every pipelined request answered");
        CHECK_INT(in_order, PER_WRITE * ROUNDS, "... in the order they were sent");
        CHECK(atomic_load(&s->max_per_iteration) <= CONTROL_BATCH && CONTROL_BATCH <= 16,
              "at most CONTROL_BATCH (%d) requests answered per dispatch (at most %" PRIu64 ")", CONTROL_BATCH,
              atomic_load(&s->max_per_iteration));
        /* A tick is due every 10 requests (10 ms); it waits for at most
         * the batch being answered. */
        CHECK(atomic_load(&s->max_between_ticks) <= 48,
              "the tick runs between batches: at most %" PRIu64 " requests between two ticks",
              atomic_load(&s->max_between_ticks));
        CHECK(max_shows_before <= 4 * CONTROL_BATCH && CONTROL_BATCH <= 16,
              "a client asking meanwhile is answered after at most %" PRId64 " of the %d pipelined requests",
              max_shows_before, PER_WRITE);
        expect_ok_reply(&c, STATUS, "the connection is still answered");
        conn_close(&c);
        conn_close(&other);
        free(buf);
}

/* A last request without its newline, before the client shuts its
 * writing side, is answered; so is everything pipelined before it. */
/* Clients that write a request and close at once (no shutdown, no read):
 * every request is still carried out, though nobody gets the answers. */
/* Clients that write and close before the server reads them: a set is
 * still carried out (nothing sent is lost), a read-only request is not
 * (nobody reads its answer). The server is held in a slow request of a
 * probe meanwhile, so every one of them has closed when it is read. */
static void test_close_after_send(Server *s) {
        enum { N = 20 };
        int64_t shows_before, sets_before, shows = 0, sets = 0;
        Conn probe, slow;

        CHECK_INT(conn_open(&probe, s->path, false), 0, "connect a probe");
        shows_before = status_int(&probe, "shows");
        sets_before = status_int(&probe, "sets");
        CHECK_INT(conn_open(&slow, s->path, false), 0, "connect a slow client");
        atomic_store(&s->slow_us, 300000);
        (void) send_str(&slow, "{\"v\":1,\"cmd\":\"explain\",\"target\":\"1\"}\n");
        usleep(50000); /* the server is in that request now */
        atomic_store(&s->slow_us, 0);
        for (int i = 0; i < N; i++) {
                Conn c;

                if (conn_open(&c, s->path, false) < 0)
                        continue;
                (void) send_str(&c, "{\"v\":1,\"cmd\":\"set\",\"target\":\"7\",\"type\":\"lazy\"}\n"
                                    "{\"v\":1,\"cmd\":\"show\",\"target\":\"7\"}\n"
                                    "{\"v\":1,\"cmd\":\"show\",\"target\":\"8\"}");
                conn_close(&c);
        }
        free(conn_read_line(&slow, WAIT_MS));
        conn_close(&slow);
        for (int tries = 0; tries < 100 && sets < sets_before + N; tries++) {
                usleep(20000);
                sets = status_int(&probe, "sets");
        }
        shows = status_int(&probe, "shows");
        CHECK(sets == sets_before + N, "%d clients that wrote a set and closed: %" PRId64 " sets carried out", N,
              sets - sets_before);
        CHECK(shows == shows_before, "... and none of their %d read-only requests (%" PRId64 " carried out)", 2 * N,
              shows - shows_before);
        conn_close(&probe);
}

static void test_eof(Server *s) {
        static const char *const tails[] = {
                "{\"v\":1,\"cmd\":\"status\"}",
                "{\"v\":1,\"cmd\":\"status\"}\r",
                STATUS STATUS STATUS STATUS STATUS STATUS STATUS STATUS STATUS STATUS "{\"v\":1,\"cmd\":\"status\"}",
                "{\"v\":1,\"cmd\":",
        };
        static const int want[] = { 1, 1, 11, 1 };

        for (size_t i = 0; i < ELEMENTSOF(tails); i++) {
                int got = 0, ok = 0;
                char *line;
                Conn c;

                CHECK_INT(conn_open(&c, s->path, false), 0, "connect");
                CHECK(send_str(&c, tails[i]) == 0 && shutdown(c.fd, SHUT_WR) == 0, "write, then shut down writing");
                while ((line = conn_read_line(&c, WAIT_MS))) {
                        json_object *o = json_tokener_parse(line);

                        got++;
                        ok += reply_ok(o) || strstr(reply_error(o), "incomplete object");
                        json_object_put(o);
                        free(line);
                }
                CHECK(got == want[i] && ok == want[i], "request %zu answered at EOF: %d replies, %d as expected", i,
                      got, ok);
                CHECK(conn_fill(&c) == 0, "... then the server closes");
                conn_close(&c);
        }
        {
                /* An oversized line cut off by EOF: one error, nothing else. */
                _cleanup_free_ char *big = malloc(3 * PROTOCOL_MAX_REQUEST);
                char *line;
                int got = 0;
                Conn c;

                memset(big, 'x', 3 * PROTOCOL_MAX_REQUEST);
                CHECK_INT(conn_open(&c, s->path, false), 0, "connect");
                CHECK(send_all(c.fd, big, 3 * PROTOCOL_MAX_REQUEST) == 0 && shutdown(c.fd, SHUT_WR) == 0,
                      "write an oversized line, then shut down writing");
                while ((line = conn_read_line(&c, WAIT_MS))) {
                        got++;
                        CHECK(strstr(line, "request too long"), "the reply: %s", line);
                        free(line);
                }
                CHECK_INT(got, 1, "one error for an oversized line cut off by EOF");
                conn_close(&c);
        }
}

/* watch subscribers get the broadcast; others do not. */
static void test_watch(Server *s) {
        Conn w, plain;
        json_object *o;
        char *line;
        int updates = 0;

        CHECK_INT(conn_open(&w, s->path, false), 0, "connect a watcher");
        CHECK_INT(conn_open(&plain, s->path, false), 0, "connect a non-watcher");
        expect_ok_reply(&w, "{\"v\":1,\"cmd\":\"watch\"}\n", "watch answered");
        expect_ok_reply(&plain, STATUS, "status answered");
        for (int i = 0; i < 3 && (line = conn_read_line(&w, WAIT_MS)); i++) {
                o = json_tokener_parse(line);
                updates += reply_ok(o) && reply_int(o, "tick") > 0;
                json_object_put(o);
                free(line);
        }
        CHECK_INT(updates, 3, "the watcher gets an update per broadcast");
        line = conn_read_line(&plain, 200);
        CHECK(!line, "a client that did not ask for watch gets no update");
        free(line);
        conn_close(&w);
        conn_close(&plain);
}

/* CONTROL_MAX_CLIENTS connections are served; the next one gets an error
 * line and is closed; once one leaves, a new one is served. */
/* Every slot taken by root's idle clients: one more root client is still
 * served, by closing the one idle longest, which reads why. */
static void test_max_clients(Server *s) {
        Conn *c = calloc(CONTROL_MAX_CLIENTS, sizeof(Conn)), extra;
        size_t answered = 0;
        char *line;

        CHECK_INT(conn_open(&c[0], s->path, false), 0, "connect the first");
        CHECK_INT(wait_for_clients(&c[0], 1), 1, "no other client is left over");
        for (size_t i = 1; i < CONTROL_MAX_CLIENTS; i++)
                if (conn_open(&c[i], s->path, false) == 0) {
                        json_object *o = roundtrip(&c[i], STATUS);

                        answered += reply_ok(o);
                        json_object_put(o);
                }
        CHECK_INT(answered, CONTROL_MAX_CLIENTS - 1, "CONTROL_MAX_CLIENTS clients served");

        CHECK_INT(conn_open(&extra, s->path, false), 0, "one more root client connects");
        expect_ok_reply(&extra, STATUS, "... and is served although every slot was taken");
        line = conn_read_line(&c[0], WAIT_MS);
        CHECK(line && strstr(line, "idle longest"), "the client idle longest was closed and told why: %s",
              line ?: "(none)");
        free(line);
        line = conn_read_line(&c[0], WAIT_MS);
        CHECK(!line, "... and is closed");
        free(line);
        expect_ok_reply(&c[1], STATUS, "the others stay");
        conn_close(&extra);
        for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
                conn_close(&c[i]);
        free(c);
}

/* As uid (and gid) uid: opens up to CONTROL_MAX_PER_UID + 1 connections,
 * each asked for status; writes to report_fd how many were answered, then
 * the last refusal's error; holds them until release_fd is readable. */
static void hold_clients_as(const char *path, uid_t uid, int report_fd, int release_fd) {
        Conn c[CONTROL_MAX_PER_UID + 1];
        char out[512], err[256] = "";
        int answered = 0, n = 0;
        char b;

        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                _exit(2);
        while (n <= CONTROL_MAX_PER_UID && conn_open(&c[n], path, false) == 0)
                n++;
        usleep(200000); /* a refusal comes at once, before any request */
        for (int i = 0; i < n; i++) {
                char *refusal = conn_fill(&c[i]) > 0 ? conn_take_line(&c[i]) : NULL;
                json_object *o = refusal ? json_tokener_parse(refusal) : roundtrip(&c[i], STATUS);

                if (reply_ok(o))
                        answered++;
                else
                        snprintf(err, sizeof(err), "%s", o ? reply_error(o) : "(no reply)");
                json_object_put(o);
                free(refusal);
        }
        snprintf(out, sizeof(out), "%d %s\n", answered, err);
        (void) !write(report_fd, out, strlen(out));
        (void) !read(release_fd, &b, 1);
        _exit(0);
}

/* Other users fill what they may: CONTROL_MAX_PER_UID each, and no more
 * than CONTROL_MAX_CLIENTS - CONTROL_ADMIN_RESERVE in all; root is answered
 * at once beside them. */
static void test_admin_reserve(Server *s) {
        enum { USERS = (CONTROL_MAX_CLIENTS - CONTROL_ADMIN_RESERVE) / CONTROL_MAX_PER_UID + 1 };
        int release[2], report[2], total = 0;
        pid_t pids[USERS];
        Conn root;
        uint64_t t0;

        if (geteuid() != 0) {
                tap_diag("not root: the admin reserve and the per-user limit are not checked");
                return;
        }
        CHECK_INT(conn_open(&root, s->path, false), 0, "connect a probe");
        CHECK_INT(wait_for_clients(&root, 1), 1, "no other client is left over");
        conn_close(&root);
        (void) chmod(s->dir, 0755);
        (void) chmod(s->path, 0666);
        if (pipe(release) < 0 || pipe(report) < 0)
                return;
        for (int u = 0; u < USERS; u++) {
                fflush(stdout);
                pids[u] = fork();
                if (pids[u] == 0) {
                        close(release[1]);
                        close(report[0]);
                        hold_clients_as(s->path, 65534 - (uid_t) u, report[1], release[0]);
                }
                if (pids[u] > 0) {
                        char line[512] = "";
                        ssize_t n = read(report[0], line, sizeof(line) - 1);
                        int got = n > 0 ? atoi(line) : -1;
                        int want = CONTROL_MAX_CLIENTS - CONTROL_ADMIN_RESERVE - total;

                        if (want > CONTROL_MAX_PER_UID)
                                want = CONTROL_MAX_PER_UID;
                        if (n > 0)
                                line[n] = '\0';
                        CHECK_INT(got, want, "connections another user may hold");
                        CHECK(strstr(line, want == CONTROL_MAX_PER_UID ? "from this user" : "too many clients"),
                              "... and the next is refused saying why: %s", line);
                        total += got > 0 ? got : 0;
                }
        }
        t0 = now_us();
        CHECK_INT(conn_open(&root, s->path, false), 0, "root connects beside them");
        expect_ok_reply(&root, STATUS, "... and is answered");
        tap_diag("root answered in %.1f ms beside %d other users' connections", (now_us() - t0) / 1000.0, total);
        CHECK_INT(wait_for_clients(&root, total + 1), total + 1, "every one of them is still connected");
        close(release[1]);
        close(release[0]);
        close(report[0]);
        close(report[1]);
        for (int u = 0; u < USERS; u++)
                if (pids[u] > 0)
                        waitpid(pids[u], NULL, 0);
        CHECK_INT(wait_for_clients(&root, 1), 1, "they are gone when their processes end");
        conn_close(&root);
        (void) chmod(s->path, 0660);
        (void) chmod(s->dir, 0700);
}

/* On the reader socket admin_gid is the reader group: its members are the
 * clients the per-user limit is for, and only root has the reserve. */
static void test_reader_group_limited(const char *dir) {
        char sdir[128];
        int release[2], report[2];
        Server r;
        pid_t pid;

        if (geteuid() != 0) {
                tap_diag("not root: the reader socket's per-user limit is not checked");
                return;
        }
        snprintf(sdir, sizeof(sdir), "%s/reader", dir);
        if (mkdir(sdir, 0755) < 0 || server_start_as(&r, sdir, 65534, true) < 0) {
                CHECK(false, "a read-only server for the reader group 65534: %s", strerror(errno));
                return;
        }
        (void) chmod(dir, 0755);
        (void) chmod(r.path, 0666);
        if (pipe(release) < 0 || pipe(report) < 0)
                return;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                close(release[1]);
                close(report[0]);
                hold_clients_as(r.path, 65534, report[1], release[0]);
        }
        if (pid > 0) {
                char line[512] = "";
                ssize_t n = read(report[0], line, sizeof(line) - 1);

                if (n > 0)
                        line[n] = '\0';
                CHECK_INT(n > 0 ? atoi(line) : -1, CONTROL_MAX_PER_UID,
                          "a member of the reader group holds no more than the per-user limit on the reader socket");
                CHECK(strstr(line, "from this user"), "... and the next is refused saying why: %s", line);
        }
        close(release[1]);
        close(release[0]);
        close(report[0]);
        close(report[1]);
        if (pid > 0)
                waitpid(pid, NULL, 0);
        server_stop(&r);
        (void) rmdir(sdir);
        (void) chmod(dir, 0700);
}

/* A client with part of a request, and one with nothing, are closed after
 * CONTROL_IDLE_TIMEOUT_USEC with a line saying why; one that sent more of its
 * line halfway through is closed that long after its last byte; a watcher
 * that sends nothing stays. */
static void test_idle_timeout(Server *s) {
        Conn partial, silent, watcher, probe, late;
        uint64_t t0 = now_us();
        char *line;

        CHECK_INT(conn_open(&probe, s->path, false), 0, "connect a probe");
        CHECK_INT(wait_for_clients(&probe, 1), 1, "no other client is left over");
        CHECK_INT(conn_open(&partial, s->path, false), 0, "connect a client that sends half a request");
        (void) send_str(&partial, "{\"v\":1,\"cmd\":");
        CHECK_INT(conn_open(&silent, s->path, false), 0, "connect a client that sends nothing");
        CHECK_INT(conn_open(&watcher, s->path, false), 0, "connect a watcher");
        (void) send_str(&watcher, "{\"v\":1,\"cmd\":\"watch\"}\n");
        CHECK_INT(conn_open(&late, s->path, false), 0, "connect a client that sends a byte now and then");
        (void) send_str(&late, "{");
        conn_close(&probe); /* it would be idle too */
        usleep(CONTROL_IDLE_TIMEOUT_USEC / 2);
        (void) send_str(&late, "\"v\"");
        line = conn_read_line(&partial, (int) (CONTROL_IDLE_TIMEOUT_USEC / 2 / 1000) + WAIT_MS);
        CHECK(line && strstr(line, "no complete request"), "the half request times out with an error: %s",
              line ?: "(none)");
        CHECK(now_us() - t0 >= CONTROL_IDLE_TIMEOUT_USEC - 100000, "... not before the timeout (%.1f s)",
              (now_us() - t0) / 1e6);
        free(line);
        line = conn_read_line(&partial, WAIT_MS);
        CHECK(!line, "... and is closed");
        free(line);
        line = conn_read_line(&silent, WAIT_MS);
        CHECK(line && strstr(line, "no complete request"), "the silent client too: %s", line ?: "(none)");
        free(line);
        line = conn_read_line(&late, 1);
        CHECK(!line, "the client that sent a byte halfway is still open: %s", line ?: "(nothing)");
        free(line);
        line = conn_read_line(&late, (int) (CONTROL_IDLE_TIMEOUT_USEC / 2 / 1000) + WAIT_MS);
        CHECK(line && strstr(line, "no complete request") &&
                      now_us() - t0 >= CONTROL_IDLE_TIMEOUT_USEC * 3 / 2 - 100000,
              "... and times out that long after its last byte (%.1f s): %s", (now_us() - t0) / 1e6,
              line ?: "(none)");
        free(line);
        conn_close(&probe);
        CHECK_INT(conn_open(&probe, s->path, false), 0, "a new client connects");
        CHECK_INT(status_int(&probe, "watchers"), 1, "the watcher stays");
        CHECK_INT(wait_for_clients(&probe, 2), 2, "... and is the only other client left");
        conn_close(&partial);
        conn_close(&silent);
        conn_close(&watcher);
        conn_close(&probe);
        conn_close(&late);
}

/* admin_group by reload: the socket file's group changes with it, or
 * nothing changes (a socket systemd passed is not ours to change). */
static void test_set_admin_gid(const char *dir) {
        ControlServer *own = NULL, *passed = NULL;
        sd_event *e = NULL;
        char path[128];
        struct stat st;
        int fd;

        if (geteuid() != 0) {
                tap_diag("not root: changing the socket's group is not checked");
                return;
        }
        snprintf(path, sizeof(path), "%s/admin.sock", dir);
        CHECK(sd_event_new(&e) >= 0, "an event loop");
        CHECK_INT(control_server_new(e, path, -1, (gid_t) -1, handler, NULL, &own), 0, "a server that binds");
        CHECK_INT(control_server_set_admin_gid(own, 4), 0, "admin gid 4");
        CHECK(stat(path, &st) == 0 && st.st_gid == 4, "... the socket file's group is 4 (%u)", (unsigned) st.st_gid);
        CHECK_INT(control_server_set_admin_gid(own, (gid_t) -1), 0, "no admin group");
        CHECK(stat(path, &st) == 0 && st.st_gid == 0, "... the socket file's group is root's (%u)",
              (unsigned) st.st_gid);
        own = control_server_free(own);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0, "a listening socket as systemd passes it");
        CHECK_INT(control_server_new(e, NULL, fd, 4, handler, NULL, &passed), 0, "a server on it");
        CHECK_INT(control_server_set_admin_gid(passed, 5), -EPERM, "changing its admin group is refused");
        CHECK_INT(control_server_set_admin_gid(passed, 4), 0, "keeping it is fine");
        passed = control_server_free(passed); /* closes fd */
        sd_event_unref(e);
}

/* A group whose member list names a user whose primary group is another. */
static bool find_group_member(gid_t *ret_gid, uid_t *ret_uid, gid_t *ret_primary, char *name, size_t size) {
        struct group *gr;
        bool found = false;

        setgrent();
        while (!found && (gr = getgrent()))
                for (char **m = gr->gr_mem; m && *m && !found; m++) {
                        struct passwd *pw = getpwnam(*m);

                        if (pw && pw->pw_uid != 0 && pw->pw_gid != gr->gr_gid) {
                                *ret_gid = gr->gr_gid;
                                *ret_uid = pw->pw_uid;
                                *ret_primary = pw->pw_gid;
                                snprintf(name, size, "%s in %s", *m, gr->gr_name);
                                found = true;
                        }
                }
        endgrent();
        return found;
}

static void test_peer_is_admin(void) {
        gid_t gid, primary;
        uid_t uid;
        char who[128];

        static const gid_t some[] = { 100, 4242, 27 }, others[] = { 100, 27 };

        CHECK(control_peer_is_admin(0, 0, NULL, -1, (gid_t) -1), "root is admin without an admin group");
        CHECK(control_peer_is_admin(0, 1234, NULL, 0, 4321), "root is admin with any primary group");
        CHECK(!control_peer_is_admin(65534, 65534, NULL, -1, (gid_t) -1), "no admin group: only root");
        CHECK(!control_peer_is_admin(65534, 65534, some, 3, (gid_t) -1), "no admin group: only root, whatever groups");
        CHECK(control_peer_is_admin(65534, 65534, NULL, -1, 65534), "the primary group is the admin group");
        CHECK(control_peer_is_admin(65534, 65534, NULL, 0, 65534), "... also with no supplementary groups");
        CHECK(!control_peer_is_admin(65534, 65534, NULL, -1, 4242), "another group is not");
        CHECK(!control_peer_is_admin(4294960000u, 4242, NULL, -1, 4242 + 1), "an unknown uid is not");
        CHECK(control_peer_is_admin(65534, 65534, some, 3, 4242), "a supplementary group is the admin group");
        CHECK(control_peer_is_admin(4294960000u, 1, some, 3, 27), "... for a uid the database does not know");
        CHECK(!control_peer_is_admin(65534, 65534, others, 2, 4242), "supplementary groups without it are not");
        if (find_group_member(&gid, &uid, &primary, who, sizeof(who))) {
                CHECK(control_peer_is_admin(uid, primary, NULL, -1, gid),
                      "without SO_PEERGROUPS: a member listed in the group's gr_mem (%s)", who);
                CHECK(!control_peer_is_admin(uid, primary, NULL, 0, gid),
                      "with SO_PEERGROUPS the kernel's list decides: a dropped group does not count (%s)", who);
                CHECK(getpwuid(65534) && primary != 65534 && gid != 65534
                              ? !control_peer_is_admin(65534, 65534, NULL, -1, gid)
                              : true,
                      "a user not in that member list is not (%s)", who);
        } else
                tap_diag("no group with a non-root member in the group database: gr_mem case not checked");
}

/* As nobody, over the socket: read-only commands work, every privileged
 * command of the protocol table is refused with the reason. */
static void test_privileged_over_socket(Server *s) {
        int pipefd[2];
        pid_t pid;
        struct stat st;
        char out[16384] = "";
        size_t len = 0;
        ssize_t n;
        int status;

        CHECK(stat(s->path, &st) == 0 && (st.st_mode & 07777) == 0660 && S_ISSOCK(st.st_mode),
              "the socket has mode 0660");
        for (ProtocolCommand cmd = 0; cmd < _CMD_MAX; cmd++) {
                const ProtocolCommandInfo *info = protocol_command_info(cmd);
                ProtocolRequest req = { .cmd = cmd, .set_type = SET_LAZY };
                json_object *o;
                char *line;
                Conn c;

                if (!info->privileged)
                        continue;
                if (info->needs_target)
                        strcpy(req.target, "5");
                o = protocol_request_new(&req);
                line = protocol_to_line(o, NULL);
                json_object_put(o);
                if (conn_open(&c, s->path, false) == 0) {
                        o = roundtrip(&c, line);
                        CHECK(reply_ok(o) && reply_int(o, "handled") == 1, "%s is handled for root", info->name);
                        json_object_put(o);
                }
                conn_close(&c);
                free(line);
        }
        if (geteuid() != 0) {
                tap_diag("not root: the refusal of privileged commands over the socket is not checked");
                return;
        }
        /* The test's own relaxation, so that nobody may connect at all. */
        CHECK(chmod(s->dir, 0711) == 0 && chmod(s->path, 0666) == 0, "open the socket to nobody");
        if (pipe(pipefd) < 0)
                return;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                FILE *f = fdopen(pipefd[1], "w");

                close(pipefd[0]);
                if (!f || setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                for (ProtocolCommand cmd = 0; cmd < _CMD_MAX; cmd++) {
                        const ProtocolCommandInfo *info = protocol_command_info(cmd);
                        ProtocolRequest req = { .cmd = cmd, .set_type = SET_LAZY };
                        json_object *o;
                        char *line, *reply;
                        Conn c;

                        if (!info->privileged && cmd != CMD_STATUS)
                                continue;
                        if (info->needs_target)
                                strcpy(req.target, "5");
                        o = protocol_request_new(&req);
                        line = protocol_to_line(o, NULL);
                        json_object_put(o);
                        if (conn_open(&c, s->path, false) < 0)
                                _exit(3);
                        (void) send_str(&c, line);
                        reply = conn_read_line(&c, WAIT_MS);
                        fprintf(f, "%s\t%s\n", info->name, reply ?: "(no reply)");
                        free(reply);
                        free(line);
                        conn_close(&c);
                }
                fclose(f);
                _exit(0);
        }
        close(pipefd[1]);
        while (len < sizeof(out) - 1 && (n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
                len += (size_t) n;
        out[len] = '\0';
        close(pipefd[0]);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child running as nobody finished (status 0x%x)", status);
        for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
                char *tab = strchr(l, '\t');
                json_object *o;

                if (!tab)
                        continue;
                *tab = '\0';
                o = json_tokener_parse(tab + 1);
                if (streq(l, "status"))
                        CHECK(reply_ok(o), "nobody may ask for status");
                else
                        CHECK(!reply_ok(o) && strstr(reply_error(o), "needs root or a member of the admin group") &&
                                      strstr(reply_error(o), "uid 65534") && strstr(reply_error(o), l),
                              "%s is refused to nobody, naming the reason: %s", l, reply_error(o));
                json_object_put(o);
        }
}

/* A gid the group database does not know, so that only the kernel's list
 * of the peer's groups can make a peer a member. */
static gid_t unknown_gid(gid_t from) {
        for (gid_t g = from; g < from + 1000; g++)
                if (!getgrgid(g))
                        return g;
        return (gid_t) -1;
}

/* Connects as uid and gid 65534 with the supplementary groups given, asks
 * for set, and returns the reply line (or NULL). */
static char *set_as_nobody_with_groups(const char *path, const gid_t *groups, size_t n_groups) {
        int pipefd[2], status;
        char out[4096] = "";
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        if (pipe(pipefd) < 0)
                return NULL;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                char *reply;
                Conn c;

                close(pipefd[0]);
                if (setgroups(n_groups, groups) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                    setresuid(65534, 65534, 65534) < 0)
                        _exit(2);
                if (conn_open(&c, path, false) < 0)
                        _exit(3);
                (void) send_str(&c, "{\"v\":1,\"cmd\":\"set\",\"target\":\"5\",\"type\":\"lazy\"}\n");
                reply = conn_read_line(&c, WAIT_MS);
                if (reply)
                        (void) !write(pipefd[1], reply, strlen(reply));
                _exit(reply ? 0 : 4);
        }
        close(pipefd[1]);
        while (len < sizeof(out) - 1 && (n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
                len += (size_t) n;
        close(pipefd[0]);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                tap_diag("the child as nobody failed (status 0x%x)", status);
                return NULL;
        }
        return strndup(out, len);
}

/* The admin group held only as a supplementary group (setpriv --groups,
 * a login session) is enough for set: SO_PEERGROUPS tells the server. A
 * gid the group database does not know makes sure it is not the member
 * list that decides. */
static void test_supplementary_admin(const char *dir) {
        gid_t admin = unknown_gid(4242), other = admin == (gid_t) -1 ? admin : unknown_gid(admin + 1);
        char sdir[sizeof(((Server *) NULL)->dir)];
        Server s2;
        int r;

        if (geteuid() != 0 || admin == (gid_t) -1 || other == (gid_t) -1) {
                tap_diag("not root, or no free gid: the supplementary admin group is not checked");
                return;
        }
        snprintf(sdir, sizeof(sdir), "%s/admin", dir);
        CHECK(chmod(dir, 0711) == 0 && mkdir(sdir, 0711) == 0, "a directory for a server with admin group %u", (unsigned) admin);
        r = server_start(&s2, sdir, admin);
        snprintf(s2.dir, sizeof(s2.dir), "%s", sdir);
        CHECK(r == 0, "a second server listens, admin group %u (%d)", (unsigned) admin, r);
        if (r < 0)
                return;
        CHECK(chmod(s2.path, 0666) == 0, "open its socket to nobody");
        {
                const gid_t groups[] = { 100, admin, 27 };
                _cleanup_free_ char *line = set_as_nobody_with_groups(s2.path, groups, ELEMENTSOF(groups));
                json_object *o = line ? json_tokener_parse(line) : NULL;

                CHECK(reply_ok(o) && reply_int(o, "handled") == 1,
                      "nobody with the admin group among its supplementary groups may set: %s", line ?: "(no reply)");
                json_object_put(o);
        }
        {
                const gid_t groups[] = { 100, other };
                _cleanup_free_ char *line = set_as_nobody_with_groups(s2.path, groups, ELEMENTSOF(groups));
                json_object *o = line ? json_tokener_parse(line) : NULL;

                CHECK(o && !reply_ok(o) && strstr(reply_error(o), "needs root or a member of the admin group"),
                      "nobody with other supplementary groups may not: %s", line ?: "(no reply)");
                json_object_put(o);
        }
        {
                _cleanup_free_ char *line = set_as_nobody_with_groups(s2.path, NULL, 0);
                json_object *o = line ? json_tokener_parse(line) : NULL;

                CHECK(o && !reply_ok(o) && strstr(reply_error(o), "needs root or a member of the admin group"),
                      "nobody with no supplementary group may not: %s", line ?: "(no reply)");
                json_object_put(o);
        }
        server_stop(&s2);
        rmdir(sdir);
}

/* The socket path: a stale socket is replaced, a live one or anything
 * that is not a socket is left alone. */
static void test_socket_path(Server *s, const char *dir) {
        char path[100];
        sd_event *e = NULL;
        ControlServer *cs = NULL;
        int fd, r;

        CHECK(sd_event_new(&e) >= 0, "a second event loop");
        r = control_server_new(e, s->path, -1, (gid_t) -1, handler, NULL, &cs);
        CHECK_INT(r, -EADDRINUSE, "a socket another server listens on is not taken over");
        cs = control_server_free(cs);

        snprintf(path, sizeof(path), "%s/not-a-socket", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        close(fd);
        r = control_server_new(e, path, -1, (gid_t) -1, handler, NULL, &cs);
        CHECK(r < 0, "a regular file at the socket path is refused (%d)", r);
        CHECK(access(path, F_OK) == 0, "... and not deleted");
        cs = control_server_free(cs);
        unlink(path);

        /* A socket file nobody listens on, as a crashed daemon leaves it. */
        snprintf(path, sizeof(path), "%s/stale.sock", dir);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };

                snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
                CHECK(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "leave a stale socket");
        }
        close(fd);
        r = control_server_new(e, path, -1, (gid_t) -1, handler, NULL, &cs);
        CHECK_INT(r, 0, "a stale socket is replaced");
        cs = control_server_free(cs);
        CHECK(access(path, F_OK) < 0, "... and removed when that server goes");
        sd_event_unref(e);
}

int main(void) {
        char dir[] = "/tmp/test-control.XXXXXX";
        struct rlimit rl;
        Server s;
        int r;

        signal(SIGPIPE, SIG_IGN);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048) {
                rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (!mkdtemp(dir)) {
                CHECK(false, "mkdtemp: %s", strerror(errno));
                return tap_done();
        }
        r = server_start(&s, dir, (gid_t) -1);
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        CHECK_INT(r, 0, "the server listens");
        if (r < 0)
                return tap_done();

        test_requests(&s);
        test_oversized(&s);
        test_flood(&s);
        test_concurrent(&s);
        test_stuck_client(&s);
        test_pipelined(&s);
        test_eof(&s);
        test_close_after_send(&s);
        test_watch(&s);
        test_stuck_watchers(&s);
        test_max_clients(&s);
        test_admin_reserve(&s);
        test_reader_group_limited(dir);
        test_idle_timeout(&s);
        test_peer_is_admin();
        test_privileged_over_socket(&s);
        test_supplementary_admin(dir);
        test_socket_path(&s, dir);
        test_set_admin_gid(dir);

        server_stop(&s);
        CHECK(access(s.path, F_OK) < 0 && errno == ENOENT, "the socket file is removed when the server goes");
        CHECK(s.requests > 0 && s.errors >= 10000 && s.refused >= 2,
              "counters: %" PRIu64 " requests, %" PRIu64 " errors, %" PRIu64 " refused", s.requests, s.errors,
              s.refused);
        rmdir(dir);
        return tap_done();
}
