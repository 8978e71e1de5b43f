/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iommuctl: asks iommutuned over its control socket and prints the answer,
 * as aligned tables for people or as the daemon's JSON (--json).
 *
 * Exit status: 0 ok, 1 the daemon reported an error, 2 usage error,
 * 3 cannot connect.
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config.h"
#include "protocol.h"
#include "table.h"
#include "util.h"

enum { EXIT_OK = 0, EXIT_DAEMON_ERROR = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

typedef struct Options {
        const char *socket_path;
        bool json;
        bool color;
        bool redraw; /* watch on a terminal: redraw in place */
} Options;

static const char *bold(const Options *o) {
        return o->color ? "\033[1m" : "";
}
static const char *reset(const Options *o) {
        return o->color ? "\033[0m" : "";
}

static void help(void) {
        printf("Usage: iommuctl [--socket PATH] [--json] [--no-color] COMMAND ...\n\n"
               "Asks iommutuned about IOMMU groups, flushes and policy.\n\nCommands:\n");
        for (ProtocolCommand c = 0; c < _CMD_MAX; c++) {
                const ProtocolCommandInfo *i = protocol_command_info(c);
                char left[64];

                snprintf(left, sizeof(left), "%s %s", i->name, i->usage);
                printf("  %-48s %s%s\n", left, i->summary, i->privileged ? " (root or admin group)" : "");
        }
        printf("\nOptions:\n"
               "  --socket PATH   the daemon's socket (default " PROTOCOL_DEFAULT_SOCKET ")\n"
               "  --json          print the daemon's JSON\n"
               "  --no-color      no color, even on a terminal\n"
               "\nExit status: 0 ok, 1 the daemon reported an error, 2 usage error, 3 cannot connect.\n");
}

/* Parses "90", "90s", "15m", "2h", "1d" into seconds; 0 on error. */
static unsigned long long parse_duration(const char *s) {
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-')
                return 0;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return 0;
        switch (*end) {
        case '\0': case 's': break;
        case 'm': v = v > PROTOCOL_PIN_MAX_S / 60 ? UINT64_MAX : v * 60; break;
        case 'h': v = v > PROTOCOL_PIN_MAX_S / 3600 ? UINT64_MAX : v * 3600; break;
        case 'd': v = v > PROTOCOL_PIN_MAX_S / 86400 ? UINT64_MAX : v * 86400; break;
        default: return 0;
        }
        if (*end && end[1])
                return 0;
        return v > PROTOCOL_PIN_MAX_S ? 0 : v;
}

static int build_request(int argc, char **argv, ProtocolRequest *req) {
        const ProtocolCommandInfo *info;
        int i = 1;

        *req = (ProtocolRequest) { .set_type = _SET_INVALID };
        req->cmd = protocol_command_from_string(argv[0]);
        if (req->cmd == _CMD_INVALID) {
                fprintf(stderr, "iommuctl: unknown command \"%s\" (see iommuctl --help)\n", argv[0]);
                return -EINVAL;
        }
        info = protocol_command_info(req->cmd);
        if (info->needs_target) {
                if (argc < 2) {
                        fprintf(stderr, "iommuctl: usage: iommuctl %s %s\n", info->name, info->usage);
                        return -EINVAL;
                }
                if (!protocol_target_is_group(argv[1], NULL) && !protocol_target_is_pci(argv[1])) {
                        fprintf(stderr, "iommuctl: \"%s\" is neither a group number nor a PCI address like "
                                        "0000:00:04.0\n", argv[1]);
                        return -EINVAL;
                }
                snprintf(req->target, sizeof(req->target), "%s", argv[1]);
                i = 2;
        }
        if (req->cmd == CMD_SET) {
                if (argc < 3 || (req->set_type = protocol_set_type_from_string(argv[2])) == _SET_INVALID) {
                        fprintf(stderr, "iommuctl: usage: iommuctl %s %s\n", info->name, info->usage);
                        return -EINVAL;
                }
                i = 3;
                if (argc > i && streq(argv[i], "--for")) {
                        if (argc < i + 2 || !(req->for_s = parse_duration(argv[i + 1]))) {
                                fprintf(stderr, "iommuctl: --for needs a duration like 90s, 15m, 2h or 1d, "
                                                "at most 366d\n");
                                return -EINVAL;
                        }
                        i += 2;
                }
        }
        if (argc > i) {
                fprintf(stderr, "iommuctl: unexpected argument \"%s\" (usage: iommuctl %s %s)\n", argv[i], info->name,
                        info->usage);
                return -EINVAL;
        }
        return 0;
}

static int connect_daemon(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* Reads one reply line through a growing buffer. Returns the line in a new
 * string the caller frees, or NULL at EOF or on error. */
static char *read_line(int fd, char **buf, size_t *len, size_t *alloc) {
        for (;;) {
                char *nl = *len ? memchr(*buf, '\n', *len) : NULL;
                ssize_t n;

                if (nl) {
                        size_t l = (size_t) (nl - *buf);
                        char *line = strndup(*buf, l);

                        memmove(*buf, nl + 1, *len - l - 1);
                        *len -= l + 1;
                        return line;
                }
                if (greedy_realloc((void **) buf, alloc, *len + 65536, 1) < 0)
                        return NULL;
                n = read(fd, *buf + *len, *alloc - *len);
                if (n <= 0)
                        return NULL;
                *len += (size_t) n;
        }
}

/* A field as words: yes/no for booleans, one decimal for fractions, "-"
 * when absent. The string lives until the next call for the same slot. */
static const char *jstr(json_object *o, const char *key) {
        static char slots[8][64];
        static unsigned next;
        json_object *v = json_object_object_get(o, key);
        char *buf = slots[next++ % ELEMENTSOF(slots)];

        if (!v)
                return "-";
        if (json_object_is_type(v, json_type_boolean))
                return json_object_get_boolean(v) ? "yes" : "no";
        if (json_object_is_type(v, json_type_double)) {
                snprintf(buf, sizeof(slots[0]), "%.1f", json_object_get_double(v));
                return buf;
        }
        return json_object_get_string(v);
}

static void print_status(const Options *o, json_object *d) {
        json_object *units = json_object_object_get(d, "units"), *src = json_object_object_get(d, "sources");
        Table *t;

        printf("%siommutuned %s%s, %s mode, pid %s\n", bold(o), jstr(d, "version"), reset(o), jstr(d, "mode"),
               jstr(d, "pid"));
        printf("Kernel:   %s\n", jstr(d, "kernel"));
        if (json_object_object_get(d, "message"))
                printf("IOMMU:    %s\n", jstr(d, "message"));
        printf("Sources:  tracefs %s, debugfs %s, intel_iommu debugfs %s, tracepoints iommu:* %s, "
               "intel_iommu:qi_submit %s\n",
               jstr(src, "tracefs"), jstr(src, "debugfs"), jstr(src, "intel_iommu_debugfs"),
               jstr(src, "tracepoint_iommu"), jstr(src, "tracepoint_qi_submit"));
        if (json_object_object_get(src, "map_unmap_counters")) {
                printf("Sampling: map/unmap counters: %s\n", jstr(src, "map_unmap_counters"));
                printf("          unmap records: %s\n", jstr(src, "unmap_records"));
                printf("          invalidation records: %s\n", jstr(src, "invalidation_records"));
                printf("          unmaps by device: %s\n", jstr(src, "unmaps_by_device"));
                printf("          workload: %s\n", jstr(src, "workload"));
        }
        printf("Uptime:   %s s, %s ticks, last tick %s s ago\n", jstr(d, "uptime_s"), jstr(d, "ticks"),
               jstr(d, "last_tick_s_ago"));
        printf("Groups:   %s\n", jstr(d, "groups"));
        {
                json_object *tc = json_object_object_get(d, "tick_cost");
                json_object *ph = tc ? json_object_object_get(tc, "phases_us_per_tick") : NULL;

                if (tc) {
                        printf("Own cost: %.0f us CPU per tick (", json_object_get_double(json_object_object_get(tc, "cpu_us_per_tick")));
                        if (ph) {
                                const char *sep = "";

                                json_object_object_foreach(ph, name, v) {
                                        printf("%s%s %.0f", sep, name, json_object_get_double(v));
                                        sep = ", ";
                                }
                        }
                        printf(")\n");
                }
        }
        if (json_object_object_get(d, "driver_fix")) {
                json_object *v = json_object_object_get(d, "driver_fix");

                printf("VT-d lazy-mode fix: %s (%s)\n", jstr(v, "verdict"), jstr(v, "evidence"));
        }
        if (json_object_object_get(d, "flush_rules"))
                printf("Flush rules: %s\n", jstr(d, "flush_rules"));
        if (json_object_object_get(d, "last_reload_error"))
                printf("Reload:   %s failed; last error: %s\n", jstr(d, "reload_failures"), jstr(d, "last_reload_error"));
        {
                /* A switch that could not be undone: the operator must look. */
                json_object *att = json_object_object_get(d, "needs_attention");

                for (size_t i = 0; att && i < json_object_array_length(att); i++) {
                        json_object *a = json_object_array_get_idx(att, i);

                        printf("%sAttention: group %s%s: %s (switching it is refused until \"iommuctl clear %s\")\n",
                               bold(o), jstr(a, "group"), reset(o), jstr(a, "message"), jstr(a, "group"));
                }
        }
        t = table_new("UNIT", "VENDOR", "PAGE SIZES", "KERNEL FORCED STRICT", "DEVICES", NULL);
        for (size_t i = 0; t && units && i < json_object_array_length(units); i++) {
                json_object *u = json_object_array_get_idx(units, i);

                table_add_row(t, jstr(u, "name"), jstr(u, "vendor"), jstr(u, "page_sizes"),
                              json_object_object_get(u, "kernel_forced_strict") ? jstr(u, "kernel_forced_strict") : "no",
                              jstr(u, "devices"));
        }
        if (t && units && json_object_array_length(units) > 0) {
                putchar('\n');
                table_print(t, stdout);
        }
        table_free(t);
}

static void devices_cell(json_object *g, char *buf, size_t size) {
        json_object *devs = json_object_object_get(g, "devices");
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; devs && i < json_object_array_length(devs) && len < size; i++) {
                json_object *d = json_object_array_get_idx(devs, i);
                bool untrusted = json_object_get_boolean(json_object_object_get(d, "untrusted"));

                len += (size_t) snprintf(buf + len, size - len, "%s%s(%s%s%s)", i ? " " : "", jstr(d, "bdf"),
                                         jstr(d, "driver"), untrusted ? ",untrusted" : "", "");
        }
}

static void print_groups(const Options *o, json_object *d) {
        Table *t = table_new("GROUP", "TYPE", "POLICY", "DESIRED", "DEVICES", "REASON", NULL);

        for (size_t i = 0; t && i < json_object_array_length(d); i++) {
                json_object *g = json_object_array_get_idx(d, i);
                char devs[1024];

                devices_cell(g, devs, sizeof(devs));
                table_add_row(t, jstr(g, "group"), jstr(g, "type"), jstr(g, "policy"), jstr(g, "desired"), devs,
                              jstr(g, "reason"));
        }
        if (t)
                table_print(t, stdout);
        table_free(t);
}

static void print_explain(const Options *o, json_object *d) {
        json_object *rules = json_object_object_get(d, "rules");

        printf("%sGroup %s%s (%s), policy %s\n", bold(o), jstr(d, "group"), reset(o), jstr(d, "type"),
               jstr(d, "policy"));
        if (json_object_object_get(d, "decision")) {
                /* The decision names every rule, guard and origin already. */
                printf("\n%s", jstr(d, "decision"));
                return;
        }
        for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
                json_object *dev = json_object_array_get_idx(rules, i), *keys = json_object_object_get(dev, "config");
                Table *t = table_new("KEY", "VALUE", "FROM", NULL);

                printf("\n%s%s%s\n", bold(o), jstr(dev, "bdf"), reset(o));
                for (size_t k = 0; t && keys && k < json_object_array_length(keys); k++) {
                        json_object *kv = json_object_array_get_idx(keys, k);

                        table_add_row(t, jstr(kv, "key"), jstr(kv, "value"), jstr(kv, "from"));
                }
                if (t)
                        table_print(t, stdout);
                table_free(t);
        }
}

/* "2400", or "2400 (2380 apportioned)" when part of it was apportioned
 * among busy groups by their I/O operations. */
static const char *with_apportioned(char *buf, size_t size, json_object *c, const char *key, const char *part) {
        int64_t n = json_object_get_int64(json_object_object_get(c, part));

        if (n > 0)
                snprintf(buf, size, "%s (%" PRId64 " apportioned)", jstr(c, key), n);
        else
                snprintf(buf, size, "%s", jstr(c, key));
        return buf;
}

static void savings_row(Table *t, const char *who, const char *type, json_object *c) {
        char unmaps[64], avoided[64];

        table_add_row(t, who, type, with_apportioned(unmaps, sizeof(unmaps), c, "unmaps", "unmaps_apportioned"),
                      jstr(c, "invalidations"), jstr(c, "strict_would_cost"),
                      with_apportioned(avoided, sizeof(avoided), c, "avoided_vs_strict", "avoided_apportioned"),
                      jstr(c, "avoided_by_patch"), jstr(c, "time_saved_ns"));
}

static void print_savings(const Options *o, json_object *d) {
        json_object *groups = json_object_object_get(d, "groups"), *units = json_object_object_get(d, "units");
        json_object *sources = json_object_object_get(d, "sources");
        Table *t = table_new("GROUP", "TYPE", "UNMAPS", "INVALIDATIONS", "STRICT WOULD COST", "AVOIDED VS STRICT",
                             "AVOIDED BY PATCH", "TIME SAVED NS", NULL);

        /* Groups that saw nothing are left out here (--json has them all). */
        for (size_t i = 0; t && groups && i < json_object_array_length(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);

                if (json_object_get_int64(json_object_object_get(g, "unmaps")) ||
                    json_object_get_int64(json_object_object_get(g, "invalidations")))
                        savings_row(t, jstr(g, "group"), jstr(g, "type"), g);
        }
        for (size_t i = 0; t && units && i < json_object_array_length(units); i++) {
                json_object *u = json_object_array_get_idx(units, i);
                char who[96];

                snprintf(who, sizeof(who), "%s, unattributed", jstr(u, "unit"));
                savings_row(t, who, "-", json_object_object_get(u, "unattributed"));
                snprintf(who, sizeof(who), "%s, all", jstr(u, "unit"));
                savings_row(t, who, "-", json_object_object_get(u, "counters"));
        }
        if (t) {
                savings_row(t, "machine", "-", json_object_object_get(d, "total"));
                table_print(t, stdout);
        }
        table_free(t);
        printf("\n%sHow each figure was obtained%s\n", bold(o), reset(o));
        json_object_object_foreach(sources, key, val)
                printf("  %s: %s\n", key, json_object_get_string(val));
        printf("  last tick: %s\n", jstr(d, "last_tick_attribution"));
}

/* The strings or numbers of a JSON array, joined with commas ("-": none). */
static const char *jlist(json_object *o, const char *key, char *buf, size_t size) {
        json_object *a = json_object_object_get(o, key);
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; a && json_object_is_type(a, json_type_array) && i < json_object_array_length(a) && len < size;
             i++)
                len += (size_t) snprintf(buf + len, size - len, "%s%s", i ? "," : "",
                                         json_object_get_string(json_object_array_get_idx(a, i)));
        return buf[0] ? buf : "-";
}

static void print_group_line(const Options *o, json_object *d) {
        printf("%sGroup %s%s: %s (policy %s; desired %s, action %s)\n", bold(o), jstr(d, "group"), reset(o),
               jstr(d, "type"), jstr(d, "policy"), jstr(d, "desired"), jstr(d, "action"));
        if (json_object_object_get(d, "reason"))
                printf("Reason: %s\n", jstr(d, "reason"));
}

static void print_show(const Options *o, json_object *d) {
        json_object *devs = json_object_object_get(d, "device_details");
        Table *t = table_new("DEVICE", "ID", "CLASS", "DRIVER", "UNIT", "NUMA", "UNTRUSTED", "REMOVABLE", "BLOCK",
                             "NET", "MSI IRQS", NULL);

        print_group_line(o, d);
        for (size_t i = 0; t && devs && i < json_object_array_length(devs); i++) {
                json_object *v = json_object_array_get_idx(devs, i);
                char id[32], block[128], net[128], irqs[256];

                snprintf(id, sizeof(id), "%s:%s", jstr(v, "vendor"), jstr(v, "device"));
                table_add_row(t, jstr(v, "bdf"), id, jstr(v, "class"), jstr(v, "driver"), jstr(v, "unit"),
                              jstr(v, "numa_node"), jstr(v, "untrusted"), jstr(v, "removable"),
                              jlist(v, "block", block, sizeof(block)), jlist(v, "net", net, sizeof(net)),
                              jlist(v, "msi_irqs", irqs, sizeof(irqs)));
        }
        if (t) {
                putchar('\n');
                table_print(t, stdout);
        }
        table_free(t);
}

static void print_reply(const Options *o, ProtocolCommand cmd, json_object *data) {
        if (o->json) {
                puts(json_object_to_json_string_ext(data, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                return;
        }
        switch (cmd) {
        case CMD_STATUS: print_status(o, data); break;
        case CMD_GROUPS: print_groups(o, data); break;
        case CMD_EXPLAIN: print_explain(o, data); break;
        case CMD_SAVINGS: print_savings(o, data); break;
        case CMD_METRICS: fputs(json_object_get_string(data), stdout); break;
        case CMD_SHOW: print_show(o, data); break;
        case CMD_SET:
                if (json_object_object_get(data, "for_s"))
                        printf("Group %s pinned to %s for %s s", jstr(data, "group"), jstr(data, "pinned"),
                               jstr(data, "for_s"));
                else
                        printf("Group %s pinned to %s until cleared", jstr(data, "group"), jstr(data, "pinned"));
                printf(" (%s).\n", jstr(data, "note"));
                print_group_line(o, data);
                break;
        case CMD_CLEAR:
                printf("Group %s: pin cleared%s.\n", jstr(data, "group"),
                       json_object_get_boolean(json_object_object_get(data, "attention_cleared"))
                               ? "; its needs-attention mark released"
                               : "");
                print_group_line(o, data);
                break;
        case CMD_RELOAD: printf("Configuration reloaded.\n"); break;
        case CMD_WATCH:
                /* Redraw in place like top: home, clear, then the table. */
                if (o->redraw)
                        fputs("\033[H\033[2J", stdout);
                printf("tick %s\n\n", jstr(data, "tick"));
                print_groups(o, json_object_object_get(data, "groups"));
                break;
        default:
                puts(json_object_to_json_string_ext(data, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        fflush(stdout);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
                { "no-color", no_argument, NULL, 'n' },     { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                /* Hidden: the verbs, one a line, for the shell completion. */
                { "list-commands", no_argument, NULL, 'L' }, {},
        };
        Options o = { .socket_path = PROTOCOL_DEFAULT_SOCKET, .color = isatty(STDOUT_FILENO),
                      .redraw = isatty(STDOUT_FILENO) };
        _cleanup_free_ char *buf = NULL, *line_out = NULL;
        size_t len = 0, alloc = 0, out_len;
        ProtocolRequest req;
        json_object *request;
        int c, fd, status = EXIT_OK, send_error = 0;
        char *line;

        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 's': o.socket_path = optarg; break;
                case 'j': o.json = true; break;
                case 'n': o.color = false; break;
                case 'h': help(); return EXIT_OK;
                case 'V': printf("iommuctl %s (protocol %d)\n", PACKAGE_VERSION, PROTOCOL_VERSION); return EXIT_OK;
                case 'L':
                        for (ProtocolCommand cmd = 0; cmd < _CMD_MAX; cmd++)
                                puts(protocol_command_info(cmd)->name);
                        return EXIT_OK;
                default: return EXIT_USAGE;
                }
        if (getenv("NO_COLOR"))
                o.color = false;
        if (optind >= argc) {
                help();
                return EXIT_USAGE;
        }
        if (build_request(argc - optind, argv + optind, &req) < 0)
                return EXIT_USAGE;

        fd = connect_daemon(o.socket_path);
        if (fd < 0) {
                if (fd == -EACCES || fd == -EPERM)
                        fprintf(stderr, "iommuctl: cannot connect to %s: %s\n(the socket is for root and the "
                                        "daemon's admin group: run as root or as a member of it)\n",
                                o.socket_path, strerror(-fd));
                else
                        fprintf(stderr, "iommuctl: cannot connect to %s: %s\n(is iommutuned running? "
                                        "systemctl status iommutuned)\n", o.socket_path, strerror(-fd));
                return EXIT_CONNECT;
        }
        request = protocol_request_new(&req);
        line_out = request ? protocol_to_line(request, &out_len) : NULL;
        json_object_put(request);
        /* MSG_NOSIGNAL: a daemon that refused the connection (too many
         * clients) has closed its end already, and its error line is still
         * there to read. */
        if (!line_out)
                send_error = ENOMEM;
        else if (send(fd, line_out, out_len, MSG_NOSIGNAL) != (ssize_t) out_len)
                send_error = errno ? errno : EIO;
        if (send_error && send_error != EPIPE && send_error != ECONNRESET) {
                fprintf(stderr, "iommuctl: sending the request failed: %s\n", strerror(send_error));
                close(fd);
                return EXIT_CONNECT;
        }
        do {
                json_object *reply = NULL, *data = NULL;
                char err[1024];
                int r;

                line = read_line(fd, &buf, &len, &alloc);
                if (!line && send_error) {
                        fprintf(stderr, "iommuctl: sending the request failed: %s\n", strerror(send_error));
                        status = EXIT_CONNECT;
                        break;
                }
                if (!line) {
                        fprintf(stderr, "iommuctl: the daemon closed the connection without an answer\n");
                        status = EXIT_CONNECT;
                        break;
                }
                r = protocol_parse_reply(line, &reply, &data, err, sizeof(err));
                if (r < 0) {
                        free(line);
                        fprintf(stderr, "iommuctl: %s: %s\n", r == -EPROTO ? "the daemon says" : "bad reply", err);
                        json_object_put(reply);
                        status = EXIT_DAEMON_ERROR;
                        break;
                }
                print_reply(&o, req.cmd, data);
                json_object_put(reply);
                free(line);
        } while (req.cmd == CMD_WATCH);
        close(fd);
        return status;
}
