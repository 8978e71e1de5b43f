/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The control socket: a non-blocking Unix stream server on the Manager's
 * sd-event loop. It reads request lines per client, checks each with
 * protocol_parse_request(), checks privilege with SO_PEERCRED and
 * SO_PEERGROUPS, and hands it to the Manager's handler; replies are queued
 * per client.
 *
 * Bounds, so no client can hurt the loop:
 *  - at most CONTROL_MAX_CLIENTS connections (more are accepted and closed
 *    at once with an error line), of which the last CONTROL_ADMIN_RESERVE
 *    are kept for root and the admin group, and at most
 *    CONTROL_MAX_PER_UID belong to one other uid; when every slot is taken,
 *    root or an admin still gets in by closing the client idle longest
 *    (one with no request to answer, nothing to write, not a watcher);
 *  - a client that is not a watcher and has no whole request to answer
 *    and nothing left to write is closed, with an error line, after
 *    CONTROL_IDLE_TIMEOUT_USEC without a byte from it (a blank line is a
 *    keep-alive);
 *  - a read-only request (every command that is not privileged) from a
 *    client that has closed its connection is not carried out: nobody
 *    would read the answer; set, clear and reload still are. "Closed" is
 *    as last seen: for the first request after a read, by the epoll event
 *    that brought it in; for each later one, by a poll() just before it;
 *  - a request line of at most PROTOCOL_MAX_REQUEST bytes, not counting a
 *    CR before its newline (longer ones get an error and the rest of the
 *    line is skipped);
 *  - at most CONTROL_BATCH requests answered per client per dispatch; the
 *    rest wait for a later dispatch at the clients' priority, taking turns
 *    with other clients, so a client that pipelines hundreds of requests
 *    lets the tick and the others in between;
 *  - backpressure: no request of a client is answered, and nothing more is
 *    read from it, while CONTROL_OUTPUT_HIGH bytes are queued for it, so a
 *    client that writes but does not read stalls on its own socket; one
 *    reply that would take a queue past CONTROL_MAX_OUTPUT drops the client;
 *  - a watch update is serialized once per broadcast and shared by every
 *    watcher; a watcher keeps at most CONTROL_WATCH_BACKLOG updates unsent,
 *    older ones are dropped (see control_server_broadcast()).
 * Nothing here blocks. A request that ends without a newline when the
 * client shuts its writing side is still answered.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "protocol.h"

#define CONTROL_MAX_CLIENTS 256
#define CONTROL_ADMIN_RESERVE 32
#define CONTROL_MAX_PER_UID 64
#define CONTROL_IDLE_TIMEOUT_USEC (10 * 1000000ULL)
#define CONTROL_MAX_OUTPUT (4u << 20)
#define CONTROL_OUTPUT_HIGH (256u << 10)
#define CONTROL_BATCH 8
#define CONTROL_WATCH_BACKLOG 2
/* Clients are served at a lower priority than the Manager's sources (the
 * tick, signals), so however many clients have requests pending, the tick
 * waits for at most one dispatch: CONTROL_DISPATCH_CLIENTS ready clients
 * (a read and at most CONTROL_BATCH requests each) or one client's
 * buffered batch. */
#define CONTROL_CLIENT_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)
#define CONTROL_DISPATCH_CLIENTS 16

typedef struct ControlServer ControlServer;
typedef struct ControlClient ControlClient;

/* Answers one request. privileged tells whether the peer is root or in the
 * admin group; the server already refused privileged commands to others.
 * Returns the reply object (ownership passes to the server), or NULL for
 * "no reply" (watch subscriptions answer through control_server_broadcast).
 * A handler may return another reference to the object it returned last
 * (a snapshot it does not change afterwards): the server then sends the
 * line it serialized then, without serializing again. */
typedef json_object *(*ControlHandler)(void *userdata, ControlClient *client, const ProtocolRequest *req);

/* Listens on listen_fd when it is >= 0 (socket activation), else binds
 * path (removing a stale socket), with mode 0660 and group admin_gid when
 * it is not (gid_t) -1. Returns 0 or -errno. */
int control_server_new(sd_event *event, const char *path, int listen_fd, gid_t admin_gid, ControlHandler handler,
                       void *userdata, ControlServer **ret);
ControlServer *control_server_free(ControlServer *s);
/* Drops the last reply kept for serving again (see ControlHandler): the
 * next reply is serialized afresh. s may be NULL. */
void control_server_forget_reply(ControlServer *s);

/* The admin group may change on reload: the privilege checks and the
 * socket file's group (when the server bound it; gid (gid_t) -1 gives it
 * to root's group) change together. Returns 0; -EPERM and nothing changed
 * when the server listens on a socket systemd passed (its group is the
 * unit's SocketGroup=); -errno and nothing changed when the file's group
 * cannot be changed. */
int control_server_set_admin_gid(ControlServer *s, gid_t gid);
/* Makes a server read-only (the reader socket): every privileged command
 * is refused, whoever the peer is. admin_gid then only owns the file. */
void control_server_set_read_only(ControlServer *s);

/* Marks a client as subscribed to watch updates. */
void control_client_subscribe(ControlClient *c);
/* How many clients are subscribed: the Manager need not build an update
 * for nobody. */
size_t control_server_watchers(const ControlServer *s);
/* Sends obj (not consumed) to every subscribed client: serialized once,
 * queued by reference, written at the clients' priority. A watcher with
 * CONTROL_WATCH_BACKLOG updates still unsent loses the oldest of them
 * (each update is the whole state) and stays connected. */
void control_server_broadcast(ControlServer *s, json_object *obj);

size_t control_server_clients(const ControlServer *s);
/* Counters for metrics: requests answered, errors returned, clients
 * refused (too many, or closed for another's room or for idling). */
void control_server_stats(const ControlServer *s, uint64_t *ret_requests, uint64_t *ret_errors,
                          uint64_t *ret_refused);

typedef struct ControlQueueStats {
        size_t queued_bytes;      /* not yet written, over all clients */
        size_t max_client_bytes;  /* not yet written, the most for one client */
        size_t held_bytes;        /* memory holding that: a shared update counted once */
        uint64_t updates_dropped; /* watch updates dropped for watchers behind */
} ControlQueueStats;
void control_server_queue_stats(const ControlServer *s, ControlQueueStats *ret);

/* Whether a peer with these credentials may use privileged commands: root,
 * or admin_gid as primary group or among groups. n_groups < 0 means the
 * supplementary groups are unknown (no SO_PEERGROUPS): then the group
 * database's member list of admin_gid is asked instead. */
bool control_peer_is_admin(uid_t uid, gid_t gid, const gid_t *groups, int n_groups, gid_t admin_gid);
