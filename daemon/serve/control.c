/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "control.h"
#include "log.h"
#include "util.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* One serialized line, shared by every client it is queued for: a watch
 * update is serialized once per broadcast, whatever the number of
 * watchers, and each of them holds a reference rather than a copy. */
typedef struct ControlLine {
        unsigned refs;
        size_t len;
        char *data; /* from protocol_to_line() */
} ControlLine;

/* A line queued for one client. */
typedef struct ControlOut {
        struct ControlOut *next;
        ControlLine *line;
        bool update; /* a watch update: may be dropped for a newer one */
} ControlOut;

struct ControlClient {
        ControlServer *server;
        ControlClient *next;
        int fd;
        uint32_t events;         /* what the socket is watched for in the server's epoll set */
        bool freed;              /* freed during a dispatch: kept until it ends (see server_clients_io()) */
        sd_event_source *more;   /* more requests are buffered: go on later */
        sd_event_source *idle;   /* closes it after CONTROL_IDLE_TIMEOUT_USEC without input */
        uint64_t last_input_usec; /* CLOCK_MONOTONIC of its last byte (or its connect) */
        bool admin;      /* root or the admin group at connect: may use the reserve */
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups;  /* supplementary groups from SO_PEERGROUPS */
        int n_groups;   /* -1 when the kernel could not tell */
        /* A request of PROTOCOL_MAX_REQUEST bytes, a CR and the newline. */
        char in[PROTOCOL_MAX_REQUEST + 2];
        size_t in_len;
        bool skipping;   /* inside an oversized line: drop bytes up to its newline */
        bool eof;        /* the peer shut its writing side: answer what is buffered, then go */
        bool seen_open;  /* the epoll event that brought the input in had no hang-up (see client_peer_gone()) */
        bool gone;       /* the peer closed: what it sent is carried out, answers are not kept */
        bool subscribed; /* watch */
        bool told_behind; /* logged that its watch updates are being dropped */
        ControlOut *out_head, *out_tail;
        size_t out_off;     /* bytes of out_head already written */
        size_t out_bytes;   /* bytes queued and not written, out_off excluded */
        unsigned updates_unsent; /* watch updates queued, none of whose bytes went out */
};

struct ControlServer {
        sd_event *event;
        int fd;
        bool owns_path;
        char *path;
        sd_event_source *source;
        /* The clients' sockets: an epoll set of their own, one source in
         * the loop. sd-event dispatches one source per epoll_wait(), and
         * its epoll set is level-triggered, so with a request pending on
         * each of N clients every dispatch re-reported all N: O(N) kernel
         * work per request. Here one dispatch serves up to
         * CONTROL_DISPATCH_CLIENTS ready clients from one epoll_wait(). */
        int clients_epfd;
        sd_event_source *clients_source;
        bool dispatching;          /* inside server_clients_io(): client_free() defers */
        ControlClient *freed;      /* clients freed during this dispatch */
        gid_t admin_gid;
        bool read_only;     /* the reader socket: no privileged command for anyone */
        ControlHandler handler;
        void *userdata;
        ControlClient *clients;
        size_t n_clients;
        uint64_t requests, errors, refused, updates_dropped;
        /* The last reply sent and its line: a handler that returns the
         * same object again (a snapshot, see ControlHandler) gets the same
         * line, serialized once. The reference held keeps the object's
         * address from being reused by another. */
        json_object *last_reply;
        ControlLine *last_reply_line;
};

static bool in_groups(gid_t gid, const gid_t *groups, int n_groups) {
        for (int i = 0; i < n_groups; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

bool control_peer_is_admin(uid_t uid, gid_t gid, const gid_t *groups, int n_groups, gid_t admin_gid) {
        struct passwd pw, *pwp = NULL;
        struct group gr, *grp = NULL;
        char pbuf[4096], gbuf[16384];

        if (uid == 0)
                return true;
        if (admin_gid == (gid_t) -1)
                return false;
        if (gid == admin_gid)
                return true;
        /* The kernel's list is what the peer process really holds
         * (setpriv --groups, a login session's initgroups, a container's
         * mapping), and it is authoritative: a group the process dropped
         * does not count because the group file names the user. */
        if (n_groups >= 0)
                return in_groups(admin_gid, groups, n_groups);
        /* Without SO_PEERGROUPS (before Linux 4.13) SO_PEERCRED carries only
         * the primary group: look the user up in the group's member list. */
        if (getpwuid_r(uid, &pw, pbuf, sizeof(pbuf), &pwp) != 0 || !pwp)
                return false;
        if (getgrgid_r(admin_gid, &gr, gbuf, sizeof(gbuf), &grp) != 0 || !grp)
                return false;
        for (char **m = grp->gr_mem; m && *m; m++)
                if (streq(*m, pwp->pw_name))
                        return true;
        return false;
}

/* The peer's supplementary groups as the kernel recorded them at
 * connect(). Returns the count, or -errno (-ENOPROTOOPT before 4.13). */
static int peer_groups(int fd, gid_t **ret) {
        socklen_t len = 32 * sizeof(gid_t);

        for (int attempt = 0; attempt < 4; attempt++) {
                _cleanup_free_ gid_t *g = malloc(len > 0 ? len : sizeof(gid_t));
                socklen_t got = len;

                if (!g)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
                        *ret = TAKE_PTR(g);
                        return (int) (got / sizeof(gid_t));
                }
                if (errno != ERANGE)
                        return -errno;
                len = got; /* the kernel says how much it needs */
        }
        return -ERANGE;
}

static ControlLine *line_new(json_object *obj) {
        ControlLine *l = malloc(sizeof(*l));

        if (!l)
                return NULL;
        l->data = protocol_to_line(obj, &l->len);
        if (!l->data) {
                free(l);
                return NULL;
        }
        l->refs = 1;
        return l;
}

static void line_unref(ControlLine *l) {
        if (l && --l->refs == 0) {
                free(l->data);
                free(l);
        }
}

static void out_free(ControlOut *o) {
        line_unref(o->line);
        free(o);
}

static void client_free(ControlClient *c) {
        ControlServer *s = c->server;

        if (c->freed)
                return;
        for (ControlClient **p = &s->clients; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        s->n_clients--;
                        break;
                }
        sd_event_source_disable_unref(c->more);
        sd_event_source_disable_unref(c->idle);
        c->more = c->idle = NULL;
        if (c->fd >= 0) {
                (void) epoll_ctl(s->clients_epfd, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -EBADF;
        }
        while (c->out_head) {
                ControlOut *o = c->out_head;

                c->out_head = o->next;
                out_free(o);
        }
        free(c->groups);
        c->groups = NULL;
        if (s->dispatching) {
                /* Its event may still be in the batch being served. */
                c->freed = true;
                c->next = s->freed;
                s->freed = c;
                return;
        }
        free(c);
}

/* Appends line (taking a reference) to what c is sent. */
static int client_queue(ControlClient *c, ControlLine *line, bool update) {
        ControlOut *o = malloc(sizeof(*o));

        if (!o)
                return -ENOMEM;
        *o = (ControlOut) { .line = line, .update = update };
        line->refs++;
        if (c->out_tail)
                c->out_tail->next = o;
        else
                c->out_head = o;
        c->out_tail = o;
        c->out_bytes += line->len;
        if (update)
                c->updates_unsent++;
        return 0;
}

/* Drops the oldest watch update none of which was written yet. */
static void client_drop_oldest_update(ControlClient *c) {
        ControlOut *prev = NULL;

        for (ControlOut *o = c->out_head; o; prev = o, o = o->next) {
                if (!o->update || (o == c->out_head && c->out_off > 0))
                        continue;
                if (prev)
                        prev->next = o->next;
                else
                        c->out_head = o->next;
                if (c->out_tail == o)
                        c->out_tail = prev;
                c->out_bytes -= o->line->len;
                c->updates_unsent--;
                out_free(o);
                return;
        }
}

/* Writes what is queued, as much as the socket takes; returns 0, or -errno
 * when the client must go. */
static int client_flush(ControlClient *c) {
        while (c->out_head) {
                struct iovec iov[64];
                struct msghdr mh = { .msg_iov = iov };
                ControlOut *o = c->out_head;
                size_t off = c->out_off;
                ssize_t n;

                for (; o && mh.msg_iovlen < ELEMENTSOF(iov); o = o->next, off = 0)
                        iov[mh.msg_iovlen++] = (struct iovec) { .iov_base = o->line->data + off,
                                                                .iov_len = o->line->len - off };
                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return -errno;
                }
                c->out_bytes -= (size_t) n;
                while (n > 0) {
                        ControlOut *head = c->out_head;
                        size_t left = head->line->len - c->out_off;

                        if ((size_t) n < left) {
                                if (c->out_off == 0 && head->update)
                                        c->updates_unsent--; /* started: it goes out whole */
                                c->out_off += (size_t) n;
                                break;
                        }
                        n -= (ssize_t) left;
                        if (c->out_off == 0 && head->update)
                                c->updates_unsent--;
                        c->out_off = 0;
                        c->out_head = head->next;
                        if (!c->out_head)
                                c->out_tail = NULL;
                        out_free(head);
                }
        }
        return 0;
}

/* Queues one reply. Replies are only made while less than
 * CONTROL_OUTPUT_HIGH is queued (see client_process()), so this bound is
 * reached only by a single huge reply: -ENOBUFS, and the client goes. */
static int client_send(ControlClient *c, json_object *obj) {
        ControlLine *line;
        int r;

        if (c->gone)
                return 0; /* nobody to read it */

        line = line_new(obj);
        if (!line)
                return -ENOMEM;
        if (c->out_bytes + line->len > CONTROL_MAX_OUTPUT)
                r = -ENOBUFS;
        else
                r = client_queue(c, line, false);
        line_unref(line);
        return r;
}

/* A reply: serialized once while the handler keeps returning the same
 * object (see ControlServer.last_reply). */
static int client_send_reply(ControlClient *c, json_object *reply) {
        ControlServer *s = c->server;
        ControlLine *line;

        if (c->gone)
                return 0;
        if (reply != s->last_reply) {
                line = line_new(reply);
                if (!line)
                        return -ENOMEM;
                json_object_put(s->last_reply);
                line_unref(s->last_reply_line);
                s->last_reply = json_object_get(reply);
                s->last_reply_line = line;
        }
        line = s->last_reply_line;
        if (c->out_bytes + line->len > CONTROL_MAX_OUTPUT)
                return -ENOBUFS;
        return client_queue(c, line, false);
}

static int client_reply_error(ControlClient *c, const char *msg) {
        json_object *o = protocol_reply_error("%s", msg);
        int r;

        if (!o)
                return -ENOMEM;
        c->server->errors++;
        r = client_send(c, o);
        json_object_put(o);
        return r;
}

/* Whether the peer closed its end (not just shut its writing side, which
 * still reads the answers). */
static bool peer_closed(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Whether nobody will read c's answers. The first request after a read
 * costs no poll(): the epoll event that brought its bytes in reported no
 * hang-up microseconds ago, and a poll() is as stale by the time the
 * answer is written (a peer that closes in between gets an answer that
 * fails with EPIPE, then client_run_rest()). The requests after it, a
 * pipelined batch or one left for a later dispatch, are checked each. */
static bool client_peer_gone(ControlClient *c) {
        if (c->gone)
                return true;
        if (c->seen_open) {
                c->seen_open = false;
                return false;
        }
        return peer_closed(c->fd);
}

static int client_handle_line(ControlClient *c, const char *line, size_t len) {
        ControlServer *s = c->server;
        const ProtocolCommandInfo *info;
        ProtocolRequest req;
        char err[512];
        json_object *reply;
        int r;

        /* A CR before the newline is part of the line ending, not of the
         * request: it does not count against PROTOCOL_MAX_REQUEST. */
        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len == 0)
                return 0; /* blank lines are keep-alives */
        r = protocol_parse_request(line, len, &req, err, sizeof(err));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return client_reply_error(c, err);
        info = protocol_command_info(req.cmd);
        if (info->privileged && s->read_only) {
                snprintf(err, sizeof(err), "%s changes the daemon's policy: this is the read-only socket; use the "
                         "daemon's main socket as root or a member of the admin group", info->name);
                return client_reply_error(c, err);
        }
        /* Work only for someone who reads it: a read-only request from a
         * peer that has closed is dropped (a flood of connect, pipeline,
         * close costs no answer each); set, clear and reload still run. */
        if (!info->privileged && client_peer_gone(c)) {
                c->gone = true;
                return 0;
        }
        if (info->privileged && !control_peer_is_admin(c->uid, c->gid, c->groups, c->n_groups, s->admin_gid)) {
                snprintf(err, sizeof(err), "%s changes the daemon's policy: it needs root or a member of the "
                         "admin group (uid %u is neither)", info->name, (unsigned) c->uid);
                return client_reply_error(c, err);
        }
        s->requests++;
        reply = s->handler(s->userdata, c, &req);
        if (!reply)
                return 0;
        {
                json_object *ok = NULL;

                if (json_object_object_get_ex(reply, "ok", &ok) && !json_object_get_boolean(ok))
                        s->errors++;
        }
        r = client_send_reply(c, reply);
        json_object_put(reply);
        return r;
}

/* Whether a request is buffered that can be answered now: a whole line,
 * or after EOF the last line without its newline. */
static bool client_has_request(const ControlClient *c) {
        return memchr(c->in, '\n', c->in_len) || (c->eof && c->in_len > 0);
}

/* Answers at most CONTROL_BATCH buffered requests, and none once
 * CONTROL_OUTPUT_HIGH is queued (the client is not reading: it waits).
 * What is left waits for the next dispatch, so one client pipelining
 * hundreds of requests in a write holds the loop for a batch at a time. */
static int client_process(ControlClient *c) {
        size_t start = 0;
        int r = 0;

        for (unsigned n = 0; n < CONTROL_BATCH && c->out_bytes < CONTROL_OUTPUT_HIGH; n++) {
                char *nl = memchr(c->in + start, '\n', c->in_len - start);
                size_t end = nl ? (size_t) (nl - c->in) : c->in_len;

                if (!nl && !(c->eof && end > start))
                        break;
                if (c->skipping)
                        c->skipping = false; /* the end of an oversized line */
                else if ((r = client_handle_line(c, c->in + start, end - start)) < 0)
                        break;
                start = nl ? end + 1 : end;
        }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        if (r < 0)
                return r;
        if (c->in_len == sizeof(c->in) && !memchr(c->in, '\n', c->in_len)) {
                /* A full buffer without a newline: the request is too long. */
                if (!c->skipping) {
                        char msg[128];

                        snprintf(msg, sizeof(msg), "request too long (more than %d bytes); skipped to its end",
                                 PROTOCOL_MAX_REQUEST);
                        c->skipping = true;
                        if ((r = client_reply_error(c, msg)) < 0)
                                return r;
                }
                c->in_len = 0;
        }
        if (c->eof && c->skipping)
                c->in_len = 0; /* the rest of an oversized line, cut off by EOF */
        return 0;
}

/* Sets what the client waits for after a dispatch. Returns 1 when it is
 * done (EOF, every request answered and written) and may go, 0, or -errno. */
static int client_update(ControlClient *c) {
        bool request = client_has_request(c), room = c->out_bytes < CONTROL_OUTPUT_HIGH;
        uint32_t events = 0;

        if (c->eof && !request && !c->out_head)
                return 1;
        if (c->out_head)
                events |= EPOLLOUT;
        /* Read on only when everything buffered was answered and the output
         * is below its bound: a client that sends but does not read is
         * throttled by its own socket filling up, not by our memory. */
        if (!c->eof && !request && room && c->in_len < sizeof(c->in))
                events |= EPOLLIN;
        if (events != c->events) {
                struct epoll_event ev = { .events = events, .data.ptr = c };

                if (epoll_ctl(c->server->clients_epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                        return -errno;
                c->events = events;
        }
        return sd_event_source_set_enabled(c->more, request && room ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
}

static void client_drop(ControlClient *c, int r) {
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                log_debug_errno(r, "Dropping control client (pid %d): %m", (int) c->pid);
        client_free(c);
}

/* After a dispatch: write what was queued, then wait for what is next. */
/* The peer closed the connection: what it sent before closing is still
 * carried out (a `set` written just before close is not lost), as far as
 * one input buffer holds it (about a hundred requests at most, so the tick
 * waits for little); the answers go nowhere. */
static void client_run_rest(ControlClient *c, int fd) {
        if (!c->eof && c->in_len < sizeof(c->in)) {
                ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

                if (n > 0)
                        c->in_len += (size_t) n;
        }
        c->eof = true;
        c->gone = true;
        while (client_has_request(c)) {
                size_t before = c->in_len;

                if (client_process(c) < 0 || c->in_len >= before)
                        break;
        }
}

static int client_done(ControlClient *c, int r) {
        if (r >= 0)
                r = client_flush(c);
        if (r == -EPIPE || r == -ECONNRESET)
                /* Closed before its answers were written: what it sent is
                 * still carried out, as on a hang-up. */
                client_run_rest(c, c->fd);
        if (r >= 0)
                r = client_update(c);
        if (r != 0)
                client_drop(c, r);
        return 0;
}

static void client_touch(ControlClient *c);

static int client_io(ControlClient *c, uint32_t revents) {
        int fd = c->fd;
        int r = 0;

        /* Closed by the peer (HUP): its buffered requests still run, see
         * client_run_rest(). Reset (ERR): nothing can be trusted. A peer
         * that only shut its writing side gets EOF instead, and answers. */
        if (revents & (EPOLLHUP | EPOLLERR)) {
                if (!(revents & EPOLLERR))
                        client_run_rest(c, fd);
                return client_done(c, -ECONNRESET);
        }
        if ((revents & EPOLLIN) && !c->eof && !client_has_request(c) && c->in_len < sizeof(c->in)) {
                ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return client_done(c, -errno);
                if (n == 0)
                        c->eof = true;
                else if (n > 0) {
                        c->in_len += (size_t) n;
                        client_touch(c);
                        c->seen_open = true; /* revents had no hang-up (see above) */
                }
                r = client_process(c);
                c->seen_open = false;
        }
        return client_done(c, r);
}

/* The clients' epoll set is readable: serves up to CONTROL_DISPATCH_CLIENTS
 * ready clients, each as one dispatch did before (a read and a batch of
 * requests). A client the others' handling frees (a watcher dropped by a
 * broadcast) is kept until the batch ends, so its event is skipped. */
static int server_clients_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct epoll_event ev[CONTROL_DISPATCH_CLIENTS];
        ControlServer *s = userdata;
        int n;

        n = epoll_wait(s->clients_epfd, ev, ELEMENTSOF(ev), 0);
        if (n < 0)
                return errno == EINTR ? 0 : log_warning_errno(errno, "Failed to wait for control clients: %m");
        s->dispatching = true;
        for (int i = 0; i < n; i++) {
                ControlClient *c = ev[i].data.ptr;

                if (!c->freed)
                        (void) client_io(c, ev[i].events);
        }
        s->dispatching = false;
        while (s->freed) {
                ControlClient *c = s->freed;

                s->freed = c->next;
                free(c);
        }
        return 0;
}

/* Input arrived: the idle timeout starts again. The timer is not moved
 * here (that is a priority-queue update per request); when it fires,
 * client_idle_timeout() re-arms it from the last input. */
static void client_touch(ControlClient *c) {
        (void) sd_event_now(c->server->event, CLOCK_MONOTONIC, &c->last_input_usec);
}

/* Idle: not a watcher, no whole request to answer, nothing to write. */
static bool client_idle(const ControlClient *c) {
        return !c->subscribed && !c->gone && !client_has_request(c) && !c->out_head;
}

/* Sends a last error line, as far as the socket takes it, and closes. */
static void client_close_with(ControlClient *c, const char *msg) {
        json_object *o = protocol_reply_error("%s", msg);
        _cleanup_free_ char *line = o ? protocol_to_line(o, NULL) : NULL;

        if (line)
                (void) !send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
        json_object_put(o);
        c->server->refused++;
        client_free(c);
}

static int client_idle_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        ControlClient *c = userdata;
        char msg[128];

        if (!client_idle(c)) {
                /* Busy (a watcher, or answers pending): it is not idle. */
                (void) sd_event_source_set_time(source, usec + CONTROL_IDLE_TIMEOUT_USEC);
                return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        }
        if (c->last_input_usec + CONTROL_IDLE_TIMEOUT_USEC > usec) {
                /* Input since the timer was set: count from that. */
                (void) sd_event_source_set_time(source, c->last_input_usec + CONTROL_IDLE_TIMEOUT_USEC);
                return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        }
        log_debug("Closing control client (pid %d): no complete request in %llu s", (int) c->pid,
                  CONTROL_IDLE_TIMEOUT_USEC / 1000000ULL);
        snprintf(msg, sizeof(msg), "closed: no complete request in %llu s", CONTROL_IDLE_TIMEOUT_USEC / 1000000ULL);
        client_close_with(c, msg);
        return 0;
}

static int client_more(sd_event_source *source, uint64_t usec, void *userdata) {
        ControlClient *c = userdata;

        return client_done(c, client_process(c));
}

#define USEC_PER_SEC_ACCURACY 1000000ULL

/* Whether a peer may take a slot now; NULL when it may, else why not.
 * Root and admins get the last CONTROL_ADMIN_RESERVE slots, and when every
 * slot is taken the client idle longest makes room for them. */
static const char *server_room_for(ControlServer *s, uid_t uid, bool admin) {
        ControlClient *oldest = NULL;
        size_t same_uid = 0;

        if (!admin) {
                if (s->n_clients >= CONTROL_MAX_CLIENTS - CONTROL_ADMIN_RESERVE)
                        return "too many clients, try again";
                for (const ControlClient *c = s->clients; c; c = c->next)
                        same_uid += c->uid == uid;
                if (same_uid >= CONTROL_MAX_PER_UID)
                        return "too many connections from this user, try again";
                return NULL;
        }
        if (s->n_clients < CONTROL_MAX_CLIENTS)
                return NULL;
        for (ControlClient *c = s->clients; c; c = c->next)
                if (client_idle(c) && (!oldest || c->last_input_usec < oldest->last_input_usec))
                        oldest = c;
        if (!oldest)
                return "too many clients, try again";
        log_debug("Control connections full: closing the client idle longest (pid %d) for an admin",
                  (int) oldest->pid);
        client_close_with(oldest, "closed: the daemon is full and this connection was idle longest");
        return NULL;
}

static int server_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ControlServer *s = userdata;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        ControlClient *c;
        gid_t *groups = NULL;
        const char *busy;
        bool admin;
        int cfd, n_groups, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(errno, "Failed to accept a control connection: %m");
                return 0;
        }
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning_errno(errno, "Failed to read the peer credentials of a control connection: %m");
                close(cfd);
                return 0;
        }
        n_groups = peer_groups(cfd, &groups);
        if (n_groups == -ENOMEM) {
                close(cfd);
                return 0;
        }
        if (n_groups < 0) {
                if (n_groups != -ENOPROTOOPT)
                        log_debug_errno(n_groups, "Failed to read the peer groups of a control connection, "
                                        "using the group database: %m");
                n_groups = -1;
        }
        /* On the reader socket admin_gid is the reader group, whose
         * members are the very clients the limits are for: only root gets
         * the reserve there. */
        admin = s->read_only ? cred.uid == 0
                             : control_peer_is_admin(cred.uid, cred.gid, groups, n_groups, s->admin_gid);
        busy = server_room_for(s, cred.uid, admin);
        if (busy) {
                json_object *o = protocol_reply_error("%s", busy);
                _cleanup_free_ char *line = o ? protocol_to_line(o, NULL) : NULL;

                s->refused++;
                if (line)
                        (void) !send(cfd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
                json_object_put(o);
                free(groups);
                close(cfd);
                return 0;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                free(groups);
                close(cfd);
                return 0;
        }
        *c = (ControlClient) { .server = s, .fd = cfd, .uid = cred.uid, .gid = cred.gid, .pid = cred.pid,
                               .groups = groups, .n_groups = n_groups, .admin = admin };
        {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

                r = epoll_ctl(s->clients_epfd, EPOLL_CTL_ADD, cfd, &ev) < 0 ? -errno : 0;
                if (r >= 0)
                        c->events = EPOLLIN;
                else
                        c->fd = -EBADF, close(cfd); /* not in the set: client_free() must not DEL it */
        }
        /* Buffered requests go on from a timer that is always due, as
         * sd-bus does, not from a defer source: a defer source enabled
         * during a dispatch is pending before the next poll, so it would
         * always be older than, and served before, every other client's
         * input. A due timer turns pending in the same poll as their
         * input, so clients take turns, a batch each, and the tick (a
         * higher priority) comes first whenever it is due. */
        if (r >= 0)
                r = sd_event_add_time(s->event, &c->more, CLOCK_MONOTONIC, 1, 1, client_more, c);
        if (r >= 0)
                r = sd_event_source_set_priority(c->more, CONTROL_CLIENT_PRIORITY);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->more, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &c->idle, CLOCK_MONOTONIC, CONTROL_IDLE_TIMEOUT_USEC,
                                               USEC_PER_SEC_ACCURACY, client_idle_timeout, c);
        if (r >= 0)
                r = sd_event_source_set_priority(c->idle, CONTROL_CLIENT_PRIORITY);
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &c->last_input_usec);
        c->next = s->clients;
        s->clients = c;
        s->n_clients++;
        if (r < 0)
                client_free(c);
        return 0;
}

/* Removes a socket an earlier run left behind. Anything else at path is
 * left alone (bind then fails with EADDRINUSE), and so is a socket some
 * process still listens on: taking it over would cut that daemon off from
 * its clients. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa) {
        _cleanup_close_ int probe = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return 0;
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0)
                return -errno;
        /* Non-blocking: EAGAIN means a full backlog, so someone listens. */
        if (connect(probe, (const struct sockaddr *) sa, sizeof(*sa)) == 0 || errno == EAGAIN)
                return -EADDRINUSE;
        if (errno != ECONNREFUSED)
                return 0;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int bind_socket(const char *path, gid_t admin_gid) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        mode_t old_umask;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = remove_stale_socket(path, &sa);
        if (r < 0)
                return r;
        old_umask = umask(0117);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old_umask);
        if (r < 0)
                return -errno;
        if (chmod(path, 0660) < 0)
                return -errno;
        if (admin_gid != (gid_t) -1 && chown(path, 0, admin_gid) < 0 && errno != EPERM)
                return -errno;
        if (listen(fd, 64) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int control_server_new(sd_event *event, const char *path, int listen_fd, gid_t admin_gid, ControlHandler handler,
                       void *userdata, ControlServer **ret) {
        ControlServer *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (ControlServer) { .event = sd_event_ref(event), .fd = -EBADF, .clients_epfd = -EBADF,
                               .admin_gid = admin_gid, .handler = handler, .userdata = userdata };
        if (listen_fd >= 0) {
                s->fd = listen_fd;
                r = fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0 ? -errno : 0;
        } else {
                s->path = strdup(path);
                r = s->path ? bind_socket(path, admin_gid) : -ENOMEM;
                if (r >= 0) {
                        s->fd = r;
                        s->owns_path = true;
                }
        }
        if (r >= 0)
                r = sd_event_add_io(event, &s->source, s->fd, EPOLLIN, server_accept, s);
        if (r >= 0) {
                s->clients_epfd = epoll_create1(EPOLL_CLOEXEC);
                r = s->clients_epfd < 0 ? -errno : 0;
        }
        if (r >= 0)
                r = sd_event_add_io(event, &s->clients_source, s->clients_epfd, EPOLLIN, server_clients_io, s);
        if (r >= 0)
                r = sd_event_source_set_priority(s->clients_source, CONTROL_CLIENT_PRIORITY);
        if (r < 0) {
                control_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

ControlServer *control_server_free(ControlServer *s) {
        if (!s)
                return NULL;
        while (s->clients)
                client_free(s->clients);
        sd_event_source_disable_unref(s->source);
        sd_event_source_disable_unref(s->clients_source);
        if (s->clients_epfd >= 0)
                close(s->clients_epfd);
        if (s->fd >= 0)
                close(s->fd);
        if (s->owns_path)
                (void) unlink(s->path);
        free(s->path);
        control_server_forget_reply(s);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void control_server_forget_reply(ControlServer *s) {
        if (!s)
                return;
        json_object_put(s->last_reply);
        line_unref(s->last_reply_line);
        s->last_reply = NULL;
        s->last_reply_line = NULL;
}

int control_server_set_admin_gid(ControlServer *s, gid_t gid) {
        if (gid == s->admin_gid)
                return 0;
        if (!s->owns_path)
                return -EPERM;
        if (chown(s->path, (uid_t) -1, gid == (gid_t) -1 ? 0 : gid) < 0)
                return -errno;
        s->admin_gid = gid;
        return 0;
}

void control_server_set_read_only(ControlServer *s) {
        s->read_only = true;
}

void control_client_subscribe(ControlClient *c) {
        c->subscribed = true;
}

size_t control_server_watchers(const ControlServer *s) {
        size_t n = 0;

        for (const ControlClient *c = s->clients; c; c = c->next)
                n += c->subscribed && !c->eof;
        return n;
}

void control_server_broadcast(ControlServer *s, json_object *obj) {
        ControlLine *line = NULL;

        for (ControlClient *c = s->clients, *next; c; c = next) {
                int r;

                next = c->next;
                if (!c->subscribed || c->eof)
                        continue;
                if (!line) {
                        line = line_new(obj);
                        if (!line) {
                                log_warning_errno(ENOMEM, "Failed to serialize a watch update: %m");
                                return;
                        }
                }
                /* Each update is the whole state, so a watcher that falls
                 * behind loses nothing by skipping one: what it should see
                 * is the latest. Past CONTROL_WATCH_BACKLOG unsent updates
                 * the oldest unsent one is dropped (logged once per client)
                 * and the client stays; a `watch` paused in a pager resumes
                 * with current data, and at most a few shared updates stay
                 * queued for it, whatever their size. */
                if (c->updates_unsent >= CONTROL_WATCH_BACKLOG) {
                        client_drop_oldest_update(c);
                        s->updates_dropped++;
                        if (!c->told_behind) {
                                log_info("Watch client (pid %d) is not reading its updates: dropping the oldest "
                                         "unsent ones", (int) c->pid);
                                c->told_behind = true;
                        }
                }
                r = client_queue(c, line, true);
                /* The socket is written at the clients' priority, after the
                 * tick that broadcast. */
                if (r >= 0)
                        r = client_update(c);
                if (r < 0)
                        client_drop(c, r);
        }
        line_unref(line);
}

size_t control_server_clients(const ControlServer *s) {
        return s->n_clients;
}

void control_server_stats(const ControlServer *s, uint64_t *ret_requests, uint64_t *ret_errors,
                          uint64_t *ret_refused) {
        *ret_requests = s->requests;
        *ret_errors = s->errors;
        *ret_refused = s->refused;
}

void control_server_queue_stats(const ControlServer *s, ControlQueueStats *ret) {
        ControlQueueStats st = { .updates_dropped = s->updates_dropped };
        double held = 0;

        for (const ControlClient *c = s->clients; c; c = c->next) {
                st.queued_bytes += c->out_bytes;
                if (c->out_bytes > st.max_client_bytes)
                        st.max_client_bytes = c->out_bytes;
                /* Only queues hold lines: each reference holds its share. */
                for (const ControlOut *o = c->out_head; o; o = o->next)
                        held += (double) o->line->len / o->line->refs;
        }
        st.held_bytes = (size_t) (held + 0.5);
        *ret = st;
}
