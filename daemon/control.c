/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "log.h"
#include "util.h"

struct ControlClient {
        ControlServer *server;
        ControlClient *next;
        int fd;
        sd_event_source *source;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        char in[PROTOCOL_MAX_REQUEST + 1];
        size_t in_len;
        bool skipping;   /* inside an oversized line: drop bytes up to its newline */
        bool closing;    /* peer closed its side: drop once the output is written */
        bool subscribed; /* watch */
        char *out;
        size_t out_len, out_off, out_alloc;
};

struct ControlServer {
        sd_event *event;
        int fd;
        bool owns_path;
        char *path;
        sd_event_source *source;
        gid_t admin_gid;
        ControlHandler handler;
        void *userdata;
        ControlClient *clients;
        size_t n_clients;
        uint64_t requests, errors, refused;
};

bool control_peer_is_admin(uid_t uid, gid_t gid, gid_t admin_gid) {
        struct passwd pw, *pwp = NULL;
        struct group gr, *grp = NULL;
        char pbuf[4096], gbuf[16384];

        if (uid == 0)
                return true;
        if (admin_gid == (gid_t) -1)
                return false;
        if (gid == admin_gid)
                return true;
        /* SO_PEERCRED carries only the primary group: look the user up in
         * the group's member list. */
        if (getpwuid_r(uid, &pw, pbuf, sizeof(pbuf), &pwp) != 0 || !pwp)
                return false;
        if (getgrgid_r(admin_gid, &gr, gbuf, sizeof(gbuf), &grp) != 0 || !grp)
                return false;
        for (char **m = grp->gr_mem; m && *m; m++)
                if (streq(*m, pwp->pw_name))
                        return true;
        return false;
}

static void client_free(ControlClient *c) {
        ControlServer *s = c->server;

        for (ControlClient **p = &s->clients; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        s->n_clients--;
                        break;
                }
        sd_event_source_disable_unref(c->source);
        if (c->fd >= 0)
                close(c->fd);
        free(c->out);
        free(c);
}

static int client_update_events(ControlClient *c) {
        uint32_t events = c->closing ? 0 : EPOLLIN;

        if (c->out_len > c->out_off)
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(c->source, events);
}

/* Writes what is queued; returns 0, or -errno when the client must go. */
static int client_flush(ControlClient *c) {
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                c->out_off += (size_t) n;
        }
        if (c->out_off == c->out_len)
                c->out_off = c->out_len = 0;
        return client_update_events(c);
}

/* Queues one object as a line. A client that lets more than
 * CONTROL_MAX_OUTPUT pile up is dropped: -ENOBUFS. */
static int client_send(ControlClient *c, json_object *obj) {
        _cleanup_free_ char *line = NULL;
        size_t len;

        line = protocol_to_line(obj, &len);
        if (!line)
                return -ENOMEM;
        if (c->out_len - c->out_off + len > CONTROL_MAX_OUTPUT)
                return -ENOBUFS;
        if (c->out_off > 0 && c->out_len + len > c->out_alloc) {
                memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
                c->out_len -= c->out_off;
                c->out_off = 0;
        }
        if (greedy_realloc((void **) &c->out, &c->out_alloc, c->out_len + len, 1) < 0)
                return -ENOMEM;
        memcpy(c->out + c->out_len, line, len);
        c->out_len += len;
        return client_flush(c);
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

static int client_handle_line(ControlClient *c, const char *line, size_t len) {
        ControlServer *s = c->server;
        const ProtocolCommandInfo *info;
        ProtocolRequest req;
        char err[512];
        json_object *reply;
        int r;

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
        if (info->privileged && !control_peer_is_admin(c->uid, c->gid, s->admin_gid)) {
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
        r = client_send(c, reply);
        json_object_put(reply);
        return r;
}

/* Splits what was read into lines; keeps a partial line for later. */
static int client_process_input(ControlClient *c) {
        size_t start = 0;
        int r;

        for (size_t i = 0; i < c->in_len; i++) {
                if (c->in[i] != '\n')
                        continue;
                if (c->skipping)
                        c->skipping = false;
                else if ((r = client_handle_line(c, c->in + start, i - start)) < 0)
                        return r;
                start = i + 1;
        }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        if (c->in_len == sizeof(c->in)) {
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
        return 0;
}

static int client_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ControlClient *c = userdata;
        int r = 0;

        if (revents & EPOLLOUT) {
                r = client_flush(c);
                if (r < 0)
                        goto drop;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n <= 0) {
                        c->closing = true;
                } else {
                        c->in_len += (size_t) n;
                        r = client_process_input(c);
                        if (r < 0)
                                goto drop;
                }
        }
        if (c->closing && c->out_len == c->out_off)
                goto drop;
        if (c->closing)
                (void) client_update_events(c);
        return 0;
drop:
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                log_debug_errno(r, "Dropping control client (pid %d): %m", (int) c->pid);
        client_free(c);
        return 0;
}

static int server_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ControlServer *s = userdata;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        ControlClient *c;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(errno, "Failed to accept a control connection: %m");
                return 0;
        }
        if (s->n_clients >= CONTROL_MAX_CLIENTS) {
                static const char busy[] = "{\"v\":1,\"ok\":false,\"error\":\"too many clients, try again\"}\n";

                s->refused++;
                (void) !send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                close(cfd);
                return 0;
        }
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning_errno(errno, "Failed to read the peer credentials of a control connection: %m");
                close(cfd);
                return 0;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(cfd);
                return 0;
        }
        *c = (ControlClient) { .server = s, .fd = cfd, .uid = cred.uid, .gid = cred.gid, .pid = cred.pid };
        r = sd_event_add_io(s->event, &c->source, cfd, EPOLLIN, client_io, c);
        if (r >= 0)
                r = sd_event_source_set_priority(c->source, CONTROL_CLIENT_PRIORITY);
        if (r < 0) {
                c->source = sd_event_source_disable_unref(c->source);
                close(cfd);
                free(c);
                return 0;
        }
        c->next = s->clients;
        s->clients = c;
        s->n_clients++;
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
        *s = (ControlServer) { .event = sd_event_ref(event), .fd = -EBADF, .admin_gid = admin_gid,
                               .handler = handler, .userdata = userdata };
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
        if (s->fd >= 0)
                close(s->fd);
        if (s->owns_path)
                (void) unlink(s->path);
        free(s->path);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void control_server_set_admin_gid(ControlServer *s, gid_t gid) {
        s->admin_gid = gid;
}

void control_client_subscribe(ControlClient *c) {
        c->subscribed = true;
}

void control_server_broadcast(ControlServer *s, json_object *obj) {
        for (ControlClient *c = s->clients, *next; c; c = next) {
                next = c->next;
                if (c->subscribed && !c->closing && client_send(c, obj) < 0)
                        client_free(c); /* a watcher that stopped reading */
        }
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
