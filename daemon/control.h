/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The control socket: a non-blocking Unix stream server on the Manager's
 * sd-event loop. It reads one request line at a time per client, checks it
 * with protocol_parse_request(), checks privilege with SO_PEERCRED, and
 * hands it to the Manager's handler; replies are queued per client.
 *
 * Bounds, so no client can hurt the loop: at most CONTROL_MAX_CLIENTS
 * connections (more are accepted and closed at once with an error line), a
 * request line of at most PROTOCOL_MAX_REQUEST bytes (longer ones get an
 * error and the rest of the line is skipped), and at most
 * CONTROL_MAX_OUTPUT bytes queued for a client that does not read (it is
 * disconnected past that). Nothing here blocks.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "protocol.h"

#define CONTROL_MAX_CLIENTS 256
#define CONTROL_MAX_OUTPUT (4u << 20)
/* Clients are served at a lower priority than the Manager's sources (the
 * tick, signals), so however many clients have requests pending, the tick
 * waits for at most the one client being served. */
#define CONTROL_CLIENT_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)

typedef struct ControlServer ControlServer;
typedef struct ControlClient ControlClient;

/* Answers one request. privileged tells whether the peer is root or in the
 * admin group; the server already refused privileged commands to others.
 * Returns the reply object (ownership passes to the server), or NULL for
 * "no reply" (watch subscriptions answer through control_server_broadcast). */
typedef json_object *(*ControlHandler)(void *userdata, ControlClient *client, const ProtocolRequest *req);

/* Listens on listen_fd when it is >= 0 (socket activation), else binds
 * path (removing a stale socket), with mode 0660 and group admin_gid when
 * it is not (gid_t) -1. Returns 0 or -errno. */
int control_server_new(sd_event *event, const char *path, int listen_fd, gid_t admin_gid, ControlHandler handler,
                       void *userdata, ControlServer **ret);
ControlServer *control_server_free(ControlServer *s);

/* The admin group may change on reload. */
void control_server_set_admin_gid(ControlServer *s, gid_t gid);

/* Marks a client as subscribed to watch updates. */
void control_client_subscribe(ControlClient *c);
/* Sends obj (not consumed) to every subscribed client. */
void control_server_broadcast(ControlServer *s, json_object *obj);

size_t control_server_clients(const ControlServer *s);
/* Counters for metrics: requests answered, errors returned, clients refused. */
void control_server_stats(const ControlServer *s, uint64_t *ret_requests, uint64_t *ret_errors,
                          uint64_t *ret_refused);

/* Whether a peer with these credentials may use privileged commands. */
bool control_peer_is_admin(uid_t uid, gid_t gid, gid_t admin_gid);
