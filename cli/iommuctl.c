/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iommuctl: asks iommutuned over its control socket and prints the answer,
 * as aligned tables for people or as the daemon's JSON (--json).
 *
 * Exit status: 0 ok, 1 the daemon reported an error, 2 usage error,
 * 3 cannot connect; status also 4 when a group needs attention and 5 when
 * the daemon cannot sample.
 */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "counters.h"
#include "protocol.h"
#include "table.h"
#include "util.h"

enum {
        EXIT_OK = 0,
        EXIT_DAEMON_ERROR = 1,
        EXIT_USAGE = 2,
        EXIT_CONNECT = 3,
        EXIT_ATTENTION = 4,     /* status: a group needs attention */
        EXIT_CANNOT_SAMPLE = 5, /* status: the daemon cannot sample */
};

#define EXIT_STATUS_TEXT                                                                                       \
        "Exit status: 0 ok, 1 the daemon reported an error, 2 usage error, 3 cannot connect;\n"                \
        "status also 4 when a group needs attention, 5 when the daemon cannot sample.\n"

typedef struct Options {
        const char *socket_path;     /* NULL: the default, or the reader socket for who may not use it */
        bool json;
        bool color;
        bool redraw;                 /* watch on a terminal: redraw in place */
        unsigned long long for_s;    /* set --for, 0: not given */
        const char *group_filter;    /* groups, watch: --group N[,N...] */
        unsigned rows;               /* the terminal's height when redrawing, 0: unknown */
        json_object *previous_watch; /* watch: the last update's groups, to see what changed */
        const char *notice;          /* watch: the reply's notice, shown under each header */
} Options;

static const char *bold(const Options *o) {
        return o->color ? "\033[1m" : "";
}
static const char *reset(const Options *o) {
        return o->color ? "\033[0m" : "";
}

static void help(void) {
        printf("Usage: iommuctl [OPTIONS] COMMAND ... [OPTIONS]\n\n"
               "Asks iommutuned about IOMMU groups, flushes and policy.\n\nCommands:\n");
        for (ProtocolCommand c = 0; c < _CMD_MAX; c++) {
                const ProtocolCommandInfo *i = protocol_command_info(c);
                char left[64];

                snprintf(left, sizeof(left), "%s %s", i->name, i->usage);
                printf("  %-48s %s%s\n", left, i->summary, i->privileged ? " (root or admin group)" : "");
        }
        printf("\nOptions:\n"
               "  --socket PATH   the daemon's socket (default " PROTOCOL_DEFAULT_SOCKET ",\n"
               "                  or " PROTOCOL_DEFAULT_READER_SOCKET " to read where that is refused)\n"
               "  --json          print the daemon's JSON\n"
               "  --no-color      no color, even on a terminal (none either with NO_COLOR or TERM=dumb)\n"
               "  --for DURATION  set: the pin lasts 90s, 15m, 2h or 1d (at most 366d)\n"
               "  --group N[,N]   groups, watch: only these groups\n"
               "  -h --help       this help; after a command, that command's\n"
               "\nOptions go before or after the command.\n\n" EXIT_STATUS_TEXT);
}

static void command_help(const ProtocolCommandInfo *i) {
        printf("Usage: iommuctl [OPTIONS] %s%s%s\n\n%c%s.%s\n", i->name, *i->usage ? " " : "", i->usage,
               toupper((unsigned char) i->summary[0]), i->summary + 1,
               i->privileged ? "\nNeeds root or the daemon's admin group (not the read-only socket)." : "");
        if (streq(i->name, "status"))
                printf("\nExit status 4 when a group needs attention (a switch that could not be undone;\n"
                       "\"iommuctl clear GROUP\" once looked at), 5 when the daemon cannot sample flushes.\n");
        if (streq(i->name, "watch"))
                printf("\nOn a terminal the table is redrawn in place and fits it: groups doing DMA and\n"
                       "groups that changed since the last tick first. --group N[,N] shows only those;\n"
                       "--json prints one compact object per line.\n");
        printf("\nSee iommuctl --help for the options.\n");
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

static int build_request(int argc, char **argv, const Options *o, ProtocolRequest *req) {
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
                req->for_s = o->for_s;
        } else if (o->for_s) {
                fprintf(stderr, "iommuctl: --for goes with set only\n");
                return -EINVAL;
        }
        if (o->group_filter && req->cmd != CMD_WATCH && req->cmd != CMD_GROUPS) {
                fprintf(stderr, "iommuctl: --group goes with groups and watch only\n");
                return -EINVAL;
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

/* A duration in nanoseconds for people: "0", "850 ns", "12.3 us", "4.5 ms",
 * "2.1 s", "3 min 20 s", "5 h 10 min", "2 d 3 h". */
static void format_ns(uint64_t ns, char *buf, size_t size) {
        uint64_t s = ns / 1000000000ULL;

        if (ns == 0)
                snprintf(buf, size, "0");
        else if (ns < 1000)
                snprintf(buf, size, "%" PRIu64 " ns", ns);
        else if (ns < 1000000)
                snprintf(buf, size, "%.1f us", (double) ns / 1e3);
        else if (ns < 1000000000ULL)
                snprintf(buf, size, "%.1f ms", (double) ns / 1e6);
        else if (s < 60)
                snprintf(buf, size, "%.1f s", (double) ns / 1e9);
        else if (s < 3600)
                snprintf(buf, size, "%" PRIu64 " min %" PRIu64 " s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, size, "%" PRIu64 " h %" PRIu64 " min", s / 3600, s % 3600 / 60);
        else
                snprintf(buf, size, "%" PRIu64 " d %" PRIu64 " h", s / 86400, s % 86400 / 3600);
}

/* The pins "iommuctl set" made, one a line. */
/* perf records the kernel dropped: said only when there were any, and
 * loudly when the last tick's figures are short by them. */
static void print_records_lost(const Options *o, json_object *rl) {
        int64_t last = json_object_get_int64(json_object_object_get(rl, "last_tick"));
        int64_t ticks = json_object_get_int64(json_object_object_get(rl, "ticks_short"));

        if (!rl || (last == 0 && ticks == 0))
                return;
        printf("Records lost (ring full): unmap %s, invalidation %s, by device %s; %" PRId64 " tick%s short\n",
               jstr(rl, "unmap_records_lost"), jstr(rl, "invalidation_records_lost"), jstr(rl, "dma_records_lost"),
               ticks, ticks == 1 ? "" : "s");
        if (last > 0)
                printf("%sThe last tick's figures are short:%s %" PRId64 " perf record%s lost\n", bold(o), reset(o),
                       last, last == 1 ? " was" : "s were");
}

static void print_pins(json_object *pins) {
        for (size_t i = 0; pins && i < json_object_array_length(pins); i++) {
                json_object *p = json_object_array_get_idx(pins, i), *until = json_object_object_get(p, "until_unix_s");
                char when[96] = "until cleared";

                if (until) {
                        time_t t = (time_t) json_object_get_int64(until);
                        char left[32], date[40];
                        struct tm tm;

                        format_ns((uint64_t) json_object_get_int64(json_object_object_get(p, "expires_in_s")) *
                                          1000000000ULL, left, sizeof(left));
                        strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
                        snprintf(when, sizeof(when), "until %s (in %s)", date, left);
                }
                printf("%s group %s (%s): %s %s\n", i ? "         " : "Pins:    ", jstr(p, "group"), jstr(p, "device"),
                       jstr(p, "mode"), when);
        }
}

/* What status exits with: EXIT_ATTENTION before EXIT_CANNOT_SAMPLE. */
static int status_exit(json_object *d) {
        json_object *att = json_object_object_get(d, "needs_attention");

        if (att && json_object_array_length(att) > 0)
                return EXIT_ATTENTION;
        if (json_object_object_get(d, "cannot_sample"))
                return EXIT_CANNOT_SAMPLE;
        return EXIT_OK;
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
        {
                char up[32], ago[32] = "-";

                format_ns((uint64_t) (json_object_get_double(json_object_object_get(d, "uptime_s")) * 1e9), up, sizeof(up));
                if (json_object_object_get(d, "last_tick_s_ago"))
                        format_ns((uint64_t) (json_object_get_double(json_object_object_get(d, "last_tick_s_ago")) * 1e9),
                                  ago, sizeof(ago));
                printf("Uptime:   %s, %s ticks, last tick %s ago\n", up, jstr(d, "ticks"), ago);
        }
        printf("Groups:   %s\n", jstr(d, "groups"));
        print_records_lost(o, json_object_object_get(d, "records_lost"));
        print_pins(json_object_object_get(d, "pins"));
        if (json_object_object_get(d, "cannot_sample"))
                printf("%sCannot sample:%s %s\n", bold(o), reset(o), jstr(d, "cannot_sample"));
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
                /* Failing until a save succeeds: set, clear and reload are refused. */
                json_object *sd = json_object_object_get(d, "state_dir");

                if (sd && !json_object_get_boolean(json_object_object_get(sd, "writable")))
                        printf("State:    %s cannot be written (%s): set, clear and reload fail until it can\n",
                               jstr(sd, "path"), jstr(sd, "error"));
        }
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

/* Whether --group lists the group (no filter: every group). */
static bool group_wanted(const Options *o, json_object *g) {
        const char *id = jstr(g, "group");
        size_t len = strlen(id);

        if (!o->group_filter)
                return true;
        for (const char *p = o->group_filter; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (strncmp(p, id, len) == 0 && (p[len] == ',' || p[len] == '\0'))
                        return true;
        return false;
}

static void print_groups(const Options *o, json_object *d) {
        Table *t = table_new("GROUP", "TYPE", "POLICY", "DESIRED", "DEVICES", "REASON", NULL);

        for (size_t i = 0; t && i < json_object_array_length(d); i++) {
                json_object *g = json_object_array_get_idx(d, i);
                char devs[1024];

                if (!group_wanted(o, g))
                        continue;
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

/* Counter i's cell from the counters object c: "2400", or "2400 (2380
 * apportioned)" when part of it was apportioned among busy groups by their
 * I/O operations; a time as a duration; "-" when the reply lacks it. */
static const char *counter_cell(char *buf, size_t size, json_object *c, size_t i) {
        const CounterInfo *info = counter_info(i), *part = counter_apportioned_part(i);
        json_object *v = json_object_object_get(c, info->wire_key);
        int64_t n = json_object_get_int64(v), apportioned = 0;

        if (part)
                apportioned = json_object_get_int64(json_object_object_get(c, part->wire_key));
        if (!v)
                snprintf(buf, size, "-");
        else if (info->unit == COUNTER_UNIT_NANOSECONDS)
                format_ns((uint64_t) n, buf, size);
        else if (apportioned > 0)
                snprintf(buf, size, "%" PRId64 " (%" PRId64 " apportioned)", n, apportioned);
        else
                snprintf(buf, size, "%" PRId64, n);
        return buf;
}

/* The savings table's columns: who, the type, then each counter the
 * counter table marks as a column, in its order. */
#define SAVINGS_COLUMNS_MAX 16

static void savings_row(Table *t, const char *who, const char *type, json_object *c) {
        char cells_buf[SAVINGS_COLUMNS_MAX][64];
        const char *cells[SAVINGS_COLUMNS_MAX] = { who, type };
        size_t n = 2;

        for (size_t i = 0; i < counter_info_count() && n < SAVINGS_COLUMNS_MAX; i++)
                if (counter_info(i)->column) {
                        cells[n] = counter_cell(cells_buf[n], sizeof(cells_buf[n]), c, i);
                        n++;
                }
        table_add_rowv(t, cells);
}

/* Whether any of the savings table's counters is not 0 in c. */
static bool savings_any(json_object *c) {
        for (size_t i = 0; i < counter_info_count(); i++)
                if (counter_info(i)->column &&
                    json_object_get_int64(json_object_object_get(c, counter_info(i)->wire_key)))
                        return true;
        return false;
}

static Table *savings_table_new(void) {
        char titles[SAVINGS_COLUMNS_MAX][48];
        const char *headers[SAVINGS_COLUMNS_MAX] = { "GROUP", "TYPE" };
        size_t n = 2;

        for (size_t i = 0; i < counter_info_count() && n < SAVINGS_COLUMNS_MAX; i++)
                if (counter_info(i)->column) {
                        counter_column_title(i, titles[n], sizeof(titles[n]));
                        headers[n] = titles[n];
                        n++;
                }
        return table_newv(headers, n);
}

static void print_savings(const Options *o, json_object *d) {
        json_object *groups = json_object_object_get(d, "groups"), *units = json_object_object_get(d, "units");
        json_object *sources = json_object_object_get(d, "sources");
        Table *t = savings_table_new();

        /* Groups that saw nothing are left out here (--json has them all). */
        for (size_t i = 0; t && groups && i < json_object_array_length(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);

                if (savings_any(g))
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
        if (!json_object_object_get(d, "group")) {
                json_object *devs = json_object_object_get(d, "devices");

                printf("%sDevice %s%s: group none, %s\n", bold(o),
                       devs && json_object_array_length(devs) ? jstr(json_object_array_get_idx(devs, 0), "bdf") : "-",
                       reset(o), jstr(d, "translation"));
                return;
        }
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

/* Whether a group's type or decision differs from the previous update's
 * (a group that was not there counts as changed; nothing did at the first). */
static bool watch_changed(const Options *o, json_object *g) {
        json_object *prev = o->previous_watch;

        if (!prev)
                return false;
        for (size_t i = 0; i < json_object_array_length(prev); i++) {
                json_object *p = json_object_array_get_idx(prev, i);

                if (streq(jstr(p, "group"), jstr(g, "group")))
                        return !streq(jstr(p, "type"), jstr(g, "type")) || !streq(jstr(p, "desired"), jstr(g, "desired"));
        }
        return true;
}

/* One watch update for people: groups doing DMA and groups that changed
 * first, then the rest in group order; on a terminal only as many rows as
 * fit, with a count of the rest. */
static void print_watch(Options *o, json_object *data) {
        json_object *groups = json_object_object_get(data, "groups"), *shown = json_object_new_array();
        size_t n = groups ? json_object_array_length(groups) : 0, n_active = 0, n_changed = 0, n_wanted = 0;
        size_t limit = o->redraw && o->rows > 6 ? o->rows - 5 : SIZE_MAX;

        for (int pass = 0; shown && pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        json_object *g = json_object_array_get_idx(groups, i);
                        bool active = json_object_get_boolean(json_object_object_get(g, "active"));
                        bool changed = watch_changed(o, g);

                        if (!group_wanted(o, g) || (pass == 0) != (active || changed))
                                continue;
                        n_wanted++;
                        n_active += active;
                        n_changed += changed;
                        if (json_object_array_length(shown) < limit)
                                json_object_array_add(shown, json_object_get(g));
                }
        /* Redraw in place like top: home, clear, then the table. */
        if (o->redraw)
                fputs("\033[H\033[2J", stdout);
        /* "tick N" first: scripts read the tick number off this line. */
        printf("tick %s (%zu groups%s, %zu doing DMA, %zu changed)\n\n", jstr(data, "tick"), n_wanted,
               o->group_filter ? " chosen with --group" : "", n_active, n_changed);
        if (o->notice)
                printf("%s\n\n", o->notice);
        if (shown) {
                print_groups(&(Options) { .color = o->color }, shown);
                if (n_wanted > json_object_array_length(shown))
                        printf("... %zu more (iommuctl watch --group N[,N] shows chosen groups)\n",
                               n_wanted - json_object_array_length(shown));
        }
        json_object_put(shown);
        json_object_put(o->previous_watch);
        o->previous_watch = json_object_get(groups);
}

static void print_reply(Options *o, ProtocolCommand cmd, json_object *data) {
        if (o->json && o->group_filter) {
                json_object *groups = cmd == CMD_WATCH ? json_object_object_get(data, "groups") : data;

                for (size_t i = json_object_array_length(groups); i > 0; i--)
                        if (!group_wanted(o, json_object_array_get_idx(groups, i - 1)))
                                json_object_array_del_idx(groups, i - 1, 1);
        }
        if (o->json && cmd == CMD_WATCH) {
                /* One compact object per line, for line-based consumers. */
                puts(json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                fflush(stdout);
                return;
        }
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
        case CMD_WATCH: print_watch(o, data); break;
        default:
                puts(json_object_to_json_string_ext(data, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        fflush(stdout);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
                { "no-color", no_argument, NULL, 'n' },     { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },       { "for", required_argument, NULL, 'f' },
                { "group", required_argument, NULL, 'g' },
                /* Hidden: the verbs, one a line, for the shell completion. */
                { "list-commands", no_argument, NULL, 'L' }, {},
        };
        Options o = { .color = isatty(STDOUT_FILENO),
                      .redraw = isatty(STDOUT_FILENO) };
        _cleanup_free_ char *buf = NULL, *line_out = NULL;
        size_t len = 0, alloc = 0, out_len;
        ProtocolRequest req;
        json_object *request;
        int c, fd, status = EXIT_OK, send_error = 0;
        bool want_help = false, notice_shown = false;
        const char *term = getenv("TERM");
        char *line;

        /* Options go before or after the verb (getopt moves them first). */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 's': o.socket_path = optarg; break;
                case 'j': o.json = true; break;
                case 'n': o.color = false; break;
                case 'h': want_help = true; break;
                case 'f':
                        if (!(o.for_s = parse_duration(optarg))) {
                                fprintf(stderr, "iommuctl: --for needs a duration like 90s, 15m, 2h or 1d, "
                                                "at most 366d\n");
                                return EXIT_USAGE;
                        }
                        break;
                case 'g':
                        if (!*optarg || strspn(optarg, "0123456789,") != strlen(optarg)) {
                                fprintf(stderr, "iommuctl: --group needs group numbers like 7 or 2,7\n");
                                return EXIT_USAGE;
                        }
                        o.group_filter = optarg;
                        break;
                case 'V': printf("iommuctl %s (protocol %d)\n", PACKAGE_VERSION, PROTOCOL_VERSION); return EXIT_OK;
                case 'L':
                        for (ProtocolCommand cmd = 0; cmd < _CMD_MAX; cmd++)
                                puts(protocol_command_info(cmd)->name);
                        return EXIT_OK;
                default: return EXIT_USAGE;
                }
        if (want_help) {
                if (optind < argc && protocol_command_from_string(argv[optind]) != _CMD_INVALID)
                        command_help(protocol_command_info(protocol_command_from_string(argv[optind])));
                else
                        help();
                return EXIT_OK;
        }
        if (getenv("NO_COLOR"))
                o.color = false;
        /* A terminal that cannot show escapes gets none: no bold, no redraw. */
        if (term && streq(term, "dumb"))
                o.color = o.redraw = false;
        if (o.redraw) {
                struct winsize ws;

                if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
                        o.rows = ws.ws_row;
        }
        if (optind >= argc) {
                help();
                return EXIT_USAGE;
        }
        if (build_request(argc - optind, argv + optind, &o, &req) < 0)
                return EXIT_USAGE;

        if (o.socket_path)
                fd = connect_daemon(o.socket_path);
        else {
                /* Who may not use the main socket may still read on the
                 * read-only one (the reader group). */
                o.socket_path = PROTOCOL_DEFAULT_SOCKET;
                fd = connect_daemon(o.socket_path);
                if ((fd == -EACCES || fd == -EPERM) && !protocol_command_info(req.cmd)->privileged &&
                    access(PROTOCOL_DEFAULT_READER_SOCKET, F_OK) == 0) {
                        o.socket_path = PROTOCOL_DEFAULT_READER_SOCKET;
                        fd = connect_daemon(o.socket_path);
                }
        }
        if (fd < 0) {
                if (fd == -EACCES || fd == -EPERM)
                        fprintf(stderr, "iommuctl: cannot connect to %s: %s\n(the socket is for root and the "
                                        "daemon's admin group: run as root or as a member of it; to read only, "
                                        "the reader group and " PROTOCOL_DEFAULT_READER_SOCKET ")\n",
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
                /* Something the operator must read whatever was asked (no
                 * IOMMU): beside the table, or on stderr where stdout is
                 * for programs. */
                o.notice = json_object_object_get(reply, "notice") ? jstr(reply, "notice") : NULL;
                if (o.notice && !notice_shown) {
                        bool to_stderr = o.json || req.cmd == CMD_METRICS;

                        notice_shown = req.cmd == CMD_WATCH; /* watch: once, then under each header */
                        if (to_stderr || (req.cmd != CMD_STATUS && req.cmd != CMD_WATCH))
                                fprintf(to_stderr ? stderr : stdout, "%s%s\n%s", to_stderr ? "iommuctl: " : "",
                                        jstr(reply, "notice"), to_stderr ? "" : "\n");
                }
                print_reply(&o, req.cmd, data);
                if (req.cmd == CMD_STATUS)
                        status = status_exit(data);
                json_object_put(reply);
                free(line);
        } while (req.cmd == CMD_WATCH);
        json_object_put(o.previous_watch);
        close(fd);
        return status;
}
