/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"
#include "protocol.h"
#include "util.h"

struct Config {
        DaemonSettings daemon;
        DevicePolicy policy;
        ConfSection *sections;
        size_t n_sections, n_sections_allocated;
        char **files;   /* read, in order */
        char **strings; /* every string a value or an origin points to */
        size_t n_files, n_files_allocated, n_strings, n_strings_allocated;
};

/* Appends s (taken, NULL-terminated list) in constant time: a config of
 * CONF_MAX_DROPINS files loads in linear time. */
static int strv_push(char ***l, size_t *n, size_t *allocated, char *s) {
        if (!s || greedy_realloc((void **) l, allocated, *n + 2, sizeof(char *)) < 0) {
                free(s);
                return -ENOMEM;
        }
        (*l)[(*n)++] = s;
        (*l)[*n] = NULL;
        return 0;
}

#define DAEMON_KEY(field, type, def, lo, hi, text)                                   \
        { CONF_SCOPE_DAEMON, #field, NULL, type, def, lo, hi, text,                  \
          offsetof(DaemonSettings, field) }
#define POLICY_KEY_NAMED(name, field, type, def, lo, hi, text)                       \
        { CONF_SCOPE_POLICY, name, #field, type, def, lo, hi, text,                  \
          offsetof(DevicePolicy, field) }
#define POLICY_KEY(field, type, def, lo, hi, text)                                   \
        POLICY_KEY_NAMED(#field, field, type, def, lo, hi, text)

static const ConfKey conf_table[] = {
        DAEMON_KEY(interval_ms, CONF_TYPE_UINT, "1000", 100, 60000,
                   "Monitoring tick in milliseconds: how often unmap rates are sampled and "
                   "every group is re-evaluated."),
        /* sun_path holds 108 bytes with the terminating NUL. */
        DAEMON_KEY(socket, CONF_TYPE_PATH, PROTOCOL_DEFAULT_SOCKET, 0, 107,
                   "The control socket iommuctl talks to."),
        DAEMON_KEY(state_dir, CONF_TYPE_PATH, "/var/lib/iommutuned", 0, 4095,
                   "Where the daemon keeps what must survive a restart: the type each group "
                   "had before the daemon changed it, and recent switches."),
        DAEMON_KEY(mode, CONF_TYPE_DAEMON_MODE, PROTOCOL_DAEMON_MODE_ENFORCE, 0, 0,
                   "enforce: apply decisions by writing the group type. advise: plan and "
                   "report decisions (log, iommuctl) but never write to the kernel."),
        DAEMON_KEY(admin_group, CONF_TYPE_GROUP, "iommutuned", 0, 32,
                   "Members of this group may change policy over the socket; root always "
                   "may. Empty: root only."),
        DAEMON_KEY(restore_on_exit, CONF_TYPE_BOOL, "no", 0, 0,
                   "On a clean stop, put every group the daemon changed back to the type it "
                   "had before."),
        DAEMON_KEY(reader_socket, CONF_TYPE_PATH, PROTOCOL_DEFAULT_READER_SOCKET, 0, 107,
                   "A second, read-only control socket for monitoring: status, groups, show, "
                   "explain, savings, metrics and watch; set, clear and reload are refused "
                   "on it."),
        DAEMON_KEY(reader_group, CONF_TYPE_GROUP, "iommutuned-reader", 0, 32,
                   "Members of this group may use reader_socket (the file belongs to it, "
                   "mode 0660). Empty: no read-only socket."),

        POLICY_KEY_NAMED("default", policy, CONF_TYPE_POLICY, PROTOCOL_MODE_AUTO, 0, 0,
                         "What to do with a device. auto: switch its group between strict "
                         "(DMA) and lazy (DMA-FQ) by the measured unmap rate. strict: keep "
                         "it strict. lazy: keep it lazy. keep: leave whatever the kernel "
                         "chose."),
        POLICY_KEY(lazy_above_unmaps_per_sec, CONF_TYPE_UINT, "1000", 1, 100000000,
                   "auto: go lazy when a group's unmap rate stays above this many per "
                   "second for sustain_s."),
        POLICY_KEY(strict_below_unmaps_per_sec, CONF_TYPE_UINT, "10", 0, 100000000,
                   "auto: go back to strict when the unmap rate stays below this for "
                   "sustain_s. Must be less than lazy_above_unmaps_per_sec."),
        POLICY_KEY(sustain_s, CONF_TYPE_UINT, "3", 0, 3600,
                   "Seconds a rate must hold before the daemon acts on it."),
        POLICY_KEY(min_dwell_s, CONF_TYPE_UINT, "300", 0, 86400,
                   "Least time in seconds between two switches of one group."),
        POLICY_KEY(max_switches_per_hour, CONF_TYPE_UINT, "4", 0, 60,
                   "At most this many switches of one group in any hour; 0: never switch "
                   "it automatically."),
        POLICY_KEY(allow_rebind, CONF_TYPE_BOOL, "no", 0, 0,
                   "Whether the daemon may unbind and rebind a group's drivers. Only "
                   "strict to lazy works while a driver is bound; every other change, "
                   "including going back to strict, needs the drivers unbound for a moment."),
        POLICY_KEY(allow_lazy_when_kernel_forced_strict, CONF_TYPE_BOOL, "no", 0, 0,
                   "Whether to go lazy where the kernel chose strict on purpose (caching "
                   "mode or NpCache in a virtual machine, iommu.strict=1). Untrusted "
                   "devices are never made lazy."),
        POLICY_KEY(flush_cost_ns, CONF_TYPE_UINT, "0", 0, 10000000,
                   "Cost of one IOTLB invalidation in nanoseconds, used to estimate what "
                   "strict costs. 0: measure it where possible, else report it as unknown."),
        POLICY_KEY(require_exact_rate, CONF_TYPE_BOOL, "no", 0, 0,
                   "auto: decide only on an exact unmap rate (counted by device or by "
                   "domain, or the only group with I/O); with no, a rate apportioned "
                   "among busy groups by their I/O operations is used too."),
};

static const char *const policy_mode_table[_POLICY_MODE_MAX] = {
        [POLICY_MODE_AUTO] = PROTOCOL_MODE_AUTO,
        [POLICY_MODE_STRICT] = PROTOCOL_MODE_STRICT,
        [POLICY_MODE_LAZY] = PROTOCOL_MODE_LAZY,
        [POLICY_MODE_KEEP] = "keep",
        [POLICY_MODE_IDENTITY] = "identity",
};

static const char *const daemon_mode_table[_DAEMON_MODE_MAX] = {
        [DAEMON_MODE_ENFORCE] = PROTOCOL_DAEMON_MODE_ENFORCE,
        [DAEMON_MODE_ADVISE] = PROTOCOL_DAEMON_MODE_ADVISE,
};

static const char *const conf_scope_table[_CONF_SCOPE_MAX] = {
        [CONF_SCOPE_BUILTIN] = "built-in",
        [CONF_SCOPE_DAEMON] = "daemon",
        [CONF_SCOPE_POLICY] = "policy",
        [CONF_SCOPE_CLASS] = "class",
        [CONF_SCOPE_DRIVER] = "driver",
        [CONF_SCOPE_DEVICE] = "device",
};

static int lookup_name(const char *const *table, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *policy_mode_to_string(PolicyMode m) {
        return m >= 0 && m < _POLICY_MODE_MAX ? policy_mode_table[m] : NULL;
}

PolicyMode policy_mode_from_string(const char *s) {
        return (PolicyMode) lookup_name(policy_mode_table, _POLICY_MODE_MAX, s);
}

const char *daemon_mode_to_string(DaemonMode m) {
        return m >= 0 && m < _DAEMON_MODE_MAX ? daemon_mode_table[m] : NULL;
}

DaemonMode daemon_mode_from_string(const char *s) {
        return (DaemonMode) lookup_name(daemon_mode_table, _DAEMON_MODE_MAX, s);
}

const char *conf_scope_to_string(ConfScope s) {
        return s >= 0 && s < _CONF_SCOPE_MAX ? conf_scope_table[s] : NULL;
}

static bool scope_is_scoped(ConfScope s) {
        return s == CONF_SCOPE_CLASS || s == CONF_SCOPE_DRIVER || s == CONF_SCOPE_DEVICE;
}

const ConfKey *conf_keys(size_t *ret_n) {
        *ret_n = ELEMENTSOF(conf_table);
        return conf_table;
}

const ConfKey *conf_key_find(ConfScope scope, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(conf_table); i++) {
                const ConfKey *k = conf_table + i;

                if (scope_is_scoped(scope) ? streq_ptr(k->scoped_name, name)
                                           : k->section == scope && streq(k->name, name))
                        return k;
        }
        return NULL;
}

const ConfValue *conf_key_value(const ConfKey *k, const void *settings) {
        return (const ConfValue *) ((const char *) settings + k->offset);
}

static ConfValue *conf_key_value_mut(const ConfKey *k, void *settings) {
        return (ConfValue *) ((char *) settings + k->offset);
}

void conf_key_describe(const ConfKey *k, ConfScope scope, char *buf, size_t size) {
        switch (k->type) {
        case CONF_TYPE_UINT:
                snprintf(buf, size, "an integer from %" PRIu64 " to %" PRIu64, k->min, k->max);
                break;
        case CONF_TYPE_BOOL:
                snprintf(buf, size, "a boolean (yes/no, true/false, on/off, 1/0)");
                break;
        case CONF_TYPE_POLICY:
                snprintf(buf, size, PROTOCOL_MODE_AUTO ", " PROTOCOL_MODE_STRICT ", " PROTOCOL_MODE_LAZY "%s", scope == CONF_SCOPE_DEVICE ?
                         ", keep or identity" : " or keep");
                break;
        case CONF_TYPE_DAEMON_MODE:
                snprintf(buf, size, PROTOCOL_DAEMON_MODE_ENFORCE " or " PROTOCOL_DAEMON_MODE_ADVISE);
                break;
        case CONF_TYPE_PATH:
                snprintf(buf, size, "an absolute path of at most %" PRIu64 " characters", k->max);
                break;
        case CONF_TYPE_GROUP:
                snprintf(buf, size, "a group name of at most %" PRIu64 " characters, or nothing",
                         k->max);
                break;
        default:
                snprintf(buf, size, "?");
        }
}

/* Decimal only: a leading 0 does not mean octal here, and no sign. */
static int parse_decimal(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

static int parse_boolean(const char *s, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static bool group_name_valid(const char *s, size_t max) {
        if (strlen(s) > max || *s == '-')
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
               strlen(s);
}

/* Parses text as key k in a section of the given scope into *ret (strings
 * are borrowed from text). Returns 0, -EINVAL for a value the key does not
 * take, -EPERM for "identity" outside a [device] section. */
static int conf_parse_value(const ConfKey *k, ConfScope scope, const char *text, ConfValue *ret) {
        uint64_t u;
        int m;

        switch (k->type) {
        case CONF_TYPE_UINT:
                if (parse_decimal(text, &u) < 0 || u < k->min || u > k->max)
                        return -EINVAL;
                ret->u = u;
                return 0;
        case CONF_TYPE_BOOL:
                return parse_boolean(text, &ret->b);
        case CONF_TYPE_POLICY:
                m = policy_mode_from_string(text);
                if (m < 0)
                        return -EINVAL;
                if (m == POLICY_MODE_IDENTITY && scope != CONF_SCOPE_DEVICE)
                        return -EPERM;
                ret->policy = m;
                return 0;
        case CONF_TYPE_DAEMON_MODE:
                m = daemon_mode_from_string(text);
                if (m < 0)
                        return -EINVAL;
                ret->mode = m;
                return 0;
        case CONF_TYPE_PATH:
                if (text[0] != '/' || strlen(text) > k->max)
                        return -EINVAL;
                ret->s = text;
                return 0;
        case CONF_TYPE_GROUP:
                if (!group_name_valid(text, k->max))
                        return -EINVAL;
                ret->s = text;
                return 0;
        default:
                return -EINVAL;
        }
}

/* Keeps a copy of s for as long as c lives. */
static const char *config_intern(Config *c, const char *s) {
        char *copy = strdup(s);

        if (strv_push(&c->strings, &c->n_strings, &c->n_strings_allocated, copy) < 0)
                return NULL;
        return copy;
}

static ConfSection *config_find_section(const Config *c, ConfScope scope, const char *name) {
        for (size_t i = 0; name && i < c->n_sections; i++)
                if (c->sections[i].scope == scope && streq(c->sections[i].name, name))
                        return c->sections + i;
        return NULL;
}

static int config_new(Config **ret) {
        _cleanup_(config_freep) Config *c = calloc(1, sizeof(Config));

        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(conf_table); i++) {
                const ConfKey *k = conf_table + i;
                ConfValue *v = conf_key_value_mut(
                        k, k->section == CONF_SCOPE_DAEMON ? (void *) &c->daemon : &c->policy);

                /* The table's defaults are checked by tests/test-conf. */
                if (conf_parse_value(k, k->section, k->default_value, v) < 0)
                        return -EINVAL;
                if (k->type == CONF_TYPE_PATH || k->type == CONF_TYPE_GROUP) {
                        v->s = config_intern(c, v->s);
                        if (!v->s)
                                return -ENOMEM;
                }
                v->origin = (ConfOrigin) { .scope = CONF_SCOPE_BUILTIN };
        }
        *ret = TAKE_PTR(c);
        return 0;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->sections);
        strv_free(c->files);
        strv_free(c->strings);
        free(c);
        return NULL;
}

/* The state of one config_load(). inih does the key = value split and calls
 * parser_handle(); parser_read_line() feeds it, and since inih 55 (as Debian
 * builds it) tells the handler no line number, the reader counts lines. The
 * reader also checks section headers and syntax itself, so every bad line
 * is reported (inih only returns the first) and a header with no keys is
 * checked too; inih only ever sees "key=value" lines and blanks. */
typedef struct Parser {
        Config *config;
        char **errors;
        int r; /* -ENOMEM once an allocation failed */
        const char *file;
        FILE *f;
        unsigned line;
        char *buf;
        size_t buf_size;
        enum { SECTION_NONE, SECTION_BAD, SECTION_OK } section_state;
        ConfScope scope;
        const char *section_name; /* scoped sections only */
        size_t n_errors, n_errors_unlisted; /* listed in errors; past CONF_MAX_ERRORS */
} Parser;

static void parser_error_at(Parser *p, const char *file, unsigned line, const char *fmt, ...)
        _printf_(4, 5);
static void parser_error_at(Parser *p, const char *file, unsigned line, const char *fmt, ...) {
        char *msg = NULL, *full = NULL;
        va_list ap;
        int r;

        if (p->n_errors >= CONF_MAX_ERRORS) {
                p->n_errors_unlisted++;
                return;
        }
        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                p->r = -ENOMEM;
                return;
        }
        if ((size_t) r > CONF_MAX_ERROR) {
                /* A huge bad line is quoted by its start only. */
                char cut[CONF_MAX_ERROR + 64];

                snprintf(cut, sizeof(cut), "%.*s... (cut: %d bytes in all)", CONF_MAX_ERROR - 40, msg, r);
                free(msg);
                msg = strdup(cut);
                if (!msg) {
                        p->r = -ENOMEM;
                        return;
                }
        }
        if (line > 0)
                r = asprintf(&full, "%s:%u: %s", file, line, msg);
        else
                r = asprintf(&full, "%s: %s", file, msg);
        free(msg);
        if (r < 0 || strv_consume(&p->errors, full) < 0)
                p->r = -ENOMEM;
        else
                p->n_errors++;
}

#define parser_error(p, ...) parser_error_at((p), (p)->file, (p)->line, __VA_ARGS__)

/* "[policy]", "[driver nvme]". */
static void parser_section_label(const Parser *p, char *buf, size_t size) {
        if (p->section_name)
                snprintf(buf, size, "[%s %s]", conf_scope_to_string(p->scope), p->section_name);
        else
                snprintf(buf, size, "[%s]", conf_scope_to_string(p->scope));
}

static bool bdf_valid(const char *s) {
        /* dddd:bb:dd.f as the kernel prints it; VMD domains have 5 digits. */
        size_t n = strspn(s, "0123456789abcdef");

        if (n < 4 || n > 8 || s[n] != ':')
                return false;
        s += n + 1;
        if (strspn(s, "0123456789abcdef") != 2 || s[2] != ':')
                return false;
        s += 3;
        return strspn(s, "0123456789abcdef") == 2 && s[0] <= '1' && s[2] == '.' &&
               s[3] >= '0' && s[3] <= '7' && s[4] == '\0';
}

static bool word_valid(const char *s, const char *chars) {
        return *s && strspn(s, chars) == strlen(s);
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define CLASS_CHARS LOWER_DIGITS "_-"
#define DRIVER_CHARS LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-"
#define KEY_CHARS LOWER_DIGITS "_"

static char *strip(char *s) {
        char *e;

        s += strspn(s, " \t\r\n\f\v");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n\f\v", e[-1]))
                *--e = '\0';
        return s;
}

/* Cuts a comment: "#" or ";" at the start or after whitespace. */
static void strip_comment(char *l) {
        for (char *c = l; *c; c++)
                if ((*c == '#' || *c == ';') && (c == l || strchr(" \t", c[-1]))) {
                        *c = '\0';
                        return;
                }
}

/* l is "[...]" with comments and outer whitespace gone. */
static void parser_section_header(Parser *p, char *l) {
        char *end = strchr(l, ']'), *kind, *name;
        int scope = -EINVAL;

        p->section_state = SECTION_BAD;
        p->section_name = NULL;
        if (!end) {
                parser_error(p, "expected \"]\" to close the section header \"%s\"", l);
                return;
        }
        if (end[1]) {
                parser_error(p, "unexpected text after the section header: \"%s\"",
                             strip(end + 1));
                return;
        }
        *end = '\0';
        kind = strip(l + 1);
        name = kind + strcspn(kind, " \t");
        if (*name)
                *name++ = '\0';
        name = strip(name);

        if (streq(kind, "daemon"))
                scope = CONF_SCOPE_DAEMON;
        else if (streq(kind, "policy"))
                scope = CONF_SCOPE_POLICY;
        else if (streq(kind, "device"))
                scope = CONF_SCOPE_DEVICE;
        else if (streq(kind, "driver"))
                scope = CONF_SCOPE_DRIVER;
        else if (streq(kind, "class"))
                scope = CONF_SCOPE_CLASS;

        switch (scope) {
        case CONF_SCOPE_DAEMON:
        case CONF_SCOPE_POLICY:
                if (*name) {
                        parser_error(p, "[%s] takes no name, got \"%s\"", kind, name);
                        return;
                }
                break;
        case CONF_SCOPE_DEVICE:
                if (!bdf_valid(name)) {
                        parser_error(p, "[device]: expected a PCI address like 0000:3b:00.0 "
                                     "(lowercase hex), got \"%s\"", name);
                        return;
                }
                break;
        case CONF_SCOPE_DRIVER:
                if (!word_valid(name, DRIVER_CHARS)) {
                        parser_error(p, "[driver]: expected a driver name like nvme "
                                     "(letters, digits, \"_\", \"-\", \".\"), got \"%s\"", name);
                        return;
                }
                break;
        case CONF_SCOPE_CLASS:
                if (!word_valid(name, CLASS_CHARS)) {
                        parser_error(p, "[class]: expected a class word like ethernet "
                                     "(a-z, 0-9, \"_\", \"-\"), got \"%s\"", name);
                        return;
                }
                break;
        default:
                parser_error(p, "unknown section [%s]; expected [daemon], [policy], "
                             "[device ADDRESS], [driver NAME] or [class WORD]", kind);
                return;
        }

        if (scope_is_scoped(scope)) {
                const ConfSection *s = config_find_section(p->config, scope, name);

                p->section_name = s ? s->name : config_intern(p->config, name);
                if (!p->section_name) {
                        p->r = -ENOMEM;
                        return;
                }
        }
        p->scope = scope;
        p->section_state = SECTION_OK;
}

static void parser_unknown_key(Parser *p, const char *key) {
        const ConfKey *k;
        char where[128];

        parser_section_label(p, where, sizeof(where));
        if ((k = conf_key_find(CONF_SCOPE_DAEMON, key)) && p->scope != CONF_SCOPE_DAEMON)
                parser_error(p, "%s: belongs in [daemon], not in %s", key, where);
        else if (p->scope == CONF_SCOPE_DAEMON && (k = conf_key_find(CONF_SCOPE_POLICY, key)))
                parser_error(p, "%s: belongs in [policy], not in [daemon]", key);
        else if (scope_is_scoped(p->scope) && (k = conf_key_find(CONF_SCOPE_POLICY, key)))
                parser_error(p, "%s: not valid in %s, which calls it \"%s\"", key, where,
                             k->scoped_name);
        else if (p->scope == CONF_SCOPE_POLICY && (k = conf_key_find(CONF_SCOPE_DEVICE, key)))
                parser_error(p, "%s: not valid in [policy], which calls it \"%s\"", key,
                             k->name);
        else
                parser_error(p, "unknown key \"%s\" in %s", key, where);
}

/* inih's reader: one line of the file per call, rewritten as described at
 * struct Parser. */
static char *parser_read_line(char *str, int num, void *stream) {
        Parser *p = stream;
        char *l, *eq, *key, *value;
        ssize_t n;

        errno = 0;
        n = getline(&p->buf, &p->buf_size, p->f);
        if (n < 0) {
                if (errno == ENOMEM)
                        p->r = -ENOMEM;
                else if (ferror(p->f))
                        parser_error_at(p, p->file, 0, "read error: %s", strerror(errno));
                return NULL;
        }
        p->line++;
        str[0] = '\0';

        l = p->buf;
        if ((size_t) n != strlen(l)) {
                parser_error(p, "line contains a NUL byte");
                return str;
        }
        if (p->line == 1 && strncmp(l, "\xEF\xBB\xBF", 3) == 0)
                l += 3;
        strip_comment(l);
        l = strip(l);
        if (!*l)
                return str;
        if (*l == '[') {
                parser_section_header(p, l);
                return str;
        }

        eq = strchr(l, '=');
        if (!eq) {
                parser_error(p, "expected \"key = value\", a [section] header or a comment, "
                             "got \"%s\"", l);
                return str;
        }
        *eq = '\0';
        key = strip(l);
        value = strip(eq + 1);
        if (!*key) {
                parser_error(p, "expected a key name before \"=\"");
                return str;
        }
        if (p->section_state == SECTION_BAD) /* reported at its header */
                return str;
        if (p->section_state == SECTION_NONE) {
                parser_error(p, "\"%s\" before any section header; expected [daemon], "
                             "[policy], [device ADDRESS], [driver NAME] or [class WORD] first",
                             key);
                return str;
        }
        if (!word_valid(key, KEY_CHARS)) { /* inih would split "a:b = c" at ':' */
                parser_unknown_key(p, key);
                return str;
        }
        if (snprintf(str, (size_t) num, "%s=%s", key, value) >= num) {
                str[0] = '\0';
                parser_error(p, "line too long: key and value may have at most %d characters",
                             num - 2);
        }
        return str;
}

static ConfValue *parser_target(Parser *p, const ConfKey *k) {
        Config *c = p->config;
        ConfSection *s;

        if (p->scope == CONF_SCOPE_DAEMON)
                return conf_key_value_mut(k, &c->daemon);
        if (p->scope == CONF_SCOPE_POLICY)
                return conf_key_value_mut(k, &c->policy);

        s = config_find_section(c, p->scope, p->section_name);
        if (!s) {
                if (greedy_realloc((void **) &c->sections, &c->n_sections_allocated,
                                   c->n_sections + 1, sizeof(ConfSection)) < 0) {
                        p->r = -ENOMEM;
                        return NULL;
                }
                s = c->sections + c->n_sections++;
                *s = (ConfSection) { .scope = p->scope, .name = p->section_name };
        }
        return conf_key_value_mut(k, &s->values);
}

static int parser_handle(void *user, _unused_ const char *section, const char *name,
                         const char *value) {
        Parser *p = user;
        const ConfKey *k;
        ConfValue v = {}, *target;
        char expected[128];
        int r;

        if (p->r < 0)
                return 1;
        k = conf_key_find(p->scope, name);
        if (!k) {
                parser_unknown_key(p, name);
                return 1;
        }
        target = parser_target(p, k);
        if (!target)
                return 1;
        if (target->origin.file == p->file) {
                parser_error(p, "%s: already set at line %u; a key may appear once per "
                             "section in a file", name, target->origin.line);
                return 1;
        }
        r = conf_parse_value(k, p->scope, value, &v);
        if (r == -EPERM) {
                parser_error(p, "%s: \"%s\" is only allowed in a [device] section", name, value);
                return 1;
        }
        if (r < 0) {
                conf_key_describe(k, p->scope, expected, sizeof(expected));
                parser_error(p, "%s: expected %s, got \"%s\"", name, expected, value);
                return 1;
        }
        if (k->type == CONF_TYPE_PATH || k->type == CONF_TYPE_GROUP) {
                v.s = config_intern(p->config, v.s);
                if (!v.s) {
                        p->r = -ENOMEM;
                        return 1;
                }
        }
        v.origin = (ConfOrigin) {
                .scope = p->scope,
                .section = p->section_name,
                .file = p->file,
                .line = p->line,
        };
        *target = v;
        return 1;
}

static void parser_read_file(Parser *p, const char *path, bool required) {
        size_t n_errors = strv_length(p->errors);
        _cleanup_free_ char *text = NULL;
        mode_t mode;
        FILE *f;
        int r;

        p->file = config_intern(p->config, path);
        if (!p->file) {
                p->r = -ENOMEM;
                return;
        }
        /* Never blocks: a FIFO must not hang the loop (its open would wait
         * for a writer); it and devices are refused before any read. */
        r = read_regular_file_at(AT_FDCWD, path, CONF_MAX_FILE_SIZE, READ_FILE_FOLLOW_LINKS, &text, &mode);
        if (r == -EBADFD) {
                parser_error_at(p, path, 0, "not a regular file (%s); not read", file_type_words(mode));
                return;
        }
        if (r == -EFBIG) {
                parser_error_at(p, path, 0, "larger than %u bytes; not read", CONF_MAX_FILE_SIZE);
                return;
        }
        if (r == -ENOMEM) {
                p->r = -ENOMEM;
                return;
        }
        if (r < 0) {
                if (r != -ENOENT || required)
                        parser_error_at(p, path, 0, "cannot open: %s", strerror(-r));
                return;
        }
        /* inih reads lines from a stream: the text read, as one. */
        f = fmemopen(text, (size_t) r, "r");
        if (!f) {
                p->r = -ENOMEM;
                return;
        }
        if (strv_push(&p->config->files, &p->config->n_files, &p->config->n_files_allocated, strdup(path)) < 0) {
                fclose(f);
                p->r = -ENOMEM;
                return;
        }
        p->f = f;
        p->line = 0;
        p->section_state = SECTION_NONE;
        p->section_name = NULL;

        r = ini_parse_stream(parser_read_line, p, parser_handle, p);
        if (r == -2)
                p->r = -ENOMEM;
        else if (r > 0 && strv_length(p->errors) == n_errors)
                /* inih disagreed with the reader; should not happen. */
                parser_error_at(p, p->file, (unsigned) r, "syntax error");
        fclose(f);
        p->f = NULL;
}

static void parser_read_dropins(Parser *p, const char *dir) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n_names = 0, n_allocated = 0;
        struct dirent *de;
        DIR *d;

        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        parser_error_at(p, dir, 0, "cannot open directory: %s",
                                        strerror(errno));
                return;
        }
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".conf"))
                        continue;
                if (n_names == CONF_MAX_DROPINS) {
                        parser_error_at(p, dir, 0, "more than %d drop-ins (*.conf); none read: merge them",
                                        CONF_MAX_DROPINS);
                        closedir(d);
                        return;
                }
                if (strv_push(&names, &n_names, &n_allocated, strdup(de->d_name)) < 0) {
                        p->r = -ENOMEM;
                        break;
                }
        }
        closedir(d);
        strv_sort(names);

        for (char **name = names; p->r >= 0 && name && *name; name++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (asprintf(&path, "%s/%s", dir, *name) < 0) {
                        path = NULL;
                        p->r = -ENOMEM;
                        break;
                }
                /* Directories, and links to /dev/null that mask a file, are skipped. */
                if (stat(path, &st) < 0) {
                        parser_error_at(p, path, 0, "cannot open: %s", strerror(errno));
                        continue;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                parser_read_file(p, path, true);
        }
}

/* strict_below must stay under lazy_above, or auto would flip every tick.
 * Checked for [policy] and for each section over [policy]; a device matched
 * by several sections can still combine two of them, which the policy has to
 * cope with. */
static void parser_check_thresholds(Parser *p, const DevicePolicy *section) {
        const DevicePolicy *base = &p->config->policy;
        const ConfValue *strict = &base->strict_below_unmaps_per_sec;
        const ConfValue *lazy = &base->lazy_above_unmaps_per_sec;
        const ConfValue *at, *other;
        _cleanup_free_ char *other_origin = NULL;

        if (section) {
                if (section->strict_below_unmaps_per_sec.origin.scope == CONF_SCOPE_UNSET &&
                    section->lazy_above_unmaps_per_sec.origin.scope == CONF_SCOPE_UNSET)
                        return;
                if (section->strict_below_unmaps_per_sec.origin.scope != CONF_SCOPE_UNSET)
                        strict = &section->strict_below_unmaps_per_sec;
                if (section->lazy_above_unmaps_per_sec.origin.scope != CONF_SCOPE_UNSET)
                        lazy = &section->lazy_above_unmaps_per_sec;
        }
        if (strict->u < lazy->u)
                return;

        /* Blame the value set where we look, the stricter one if both are. */
        if (section ? strict != &base->strict_below_unmaps_per_sec
                    : strict->origin.scope != CONF_SCOPE_BUILTIN)
                at = strict, other = lazy;
        else
                at = lazy, other = strict;
        other_origin = conf_origin_to_string(&other->origin);
        if (!other_origin) {
                p->r = -ENOMEM;
                return;
        }
        parser_error_at(p, at->origin.file, at->origin.line,
                        "%s = %" PRIu64 " must be %s %s = %" PRIu64 " (%s%s)",
                        at == strict ? "strict_below_unmaps_per_sec" : "lazy_above_unmaps_per_sec",
                        at->u, at == strict ? "less than" : "greater than",
                        at == strict ? "lazy_above_unmaps_per_sec" : "strict_below_unmaps_per_sec",
                        other->u, other->origin.scope == CONF_SCOPE_BUILTIN ? "" : "from ",
                        other_origin);
}

int config_load(const char *main_path, const char *dropin_dir, ConfigLoadFlags flags,
                Config **ret, char ***ret_errors) {
        _cleanup_(config_freep) Config *c = NULL;
        Parser p = {};
        int r;

        *ret = NULL;
        if (ret_errors)
                *ret_errors = NULL;

        r = config_new(&c);
        if (r < 0)
                return r;
        p.config = c;

        if (main_path)
                parser_read_file(&p, main_path, flags & CONFIG_LOAD_MAIN_REQUIRED);
        if (dropin_dir && p.r >= 0)
                parser_read_dropins(&p, dropin_dir);
        if (p.r >= 0)
                parser_check_thresholds(&p, NULL);
        for (size_t i = 0; p.r >= 0 && i < c->n_sections; i++)
                parser_check_thresholds(&p, &c->sections[i].values);
        free(p.buf);
        if (p.r >= 0 && p.n_errors_unlisted > 0) {
                char *more = NULL;

                /* Named by the file like every error line. */
                if (asprintf(&more, "%s: ... and %zu more errors", main_path ?: strna(dropin_dir),
                             p.n_errors_unlisted) < 0 ||
                    strv_consume(&p.errors, more) < 0)
                        p.r = -ENOMEM;
        }

        if (p.r < 0) {
                strv_free(p.errors);
                return p.r;
        }
        if (p.errors) {
                if (ret_errors)
                        *ret_errors = p.errors;
                else
                        strv_free(p.errors);
                return -EINVAL;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

const DaemonSettings *config_daemon(const Config *c) {
        return &c->daemon;
}

const DevicePolicy *config_policy(const Config *c) {
        return &c->policy;
}

const ConfSection *config_sections(const Config *c, size_t *ret_n) {
        *ret_n = c->n_sections;
        return c->sections;
}

char *const *config_files(const Config *c) {
        static char *const none[] = { NULL };

        return c->files ?: none;
}

int config_resolve_device(const Config *c, const char *bdf, const char *driver,
                          const char *class_word, DevicePolicy *ret) {
        const ConfSection *layers[3];

        if (!c || !bdf || !ret)
                return -EINVAL;

        /* Weakest first, so each later layer overrides. */
        layers[0] = config_find_section(c, CONF_SCOPE_CLASS, class_word);
        layers[1] = config_find_section(c, CONF_SCOPE_DRIVER, driver);
        layers[2] = config_find_section(c, CONF_SCOPE_DEVICE, bdf);

        *ret = c->policy;
        for (size_t l = 0; l < ELEMENTSOF(layers); l++) {
                if (!layers[l])
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(conf_table); i++) {
                        const ConfKey *k = conf_table + i;
                        const ConfValue *v = conf_key_value(k, &layers[l]->values);

                        if (k->section == CONF_SCOPE_POLICY && v->origin.scope != CONF_SCOPE_UNSET)
                                *conf_key_value_mut(k, ret) = *v;
                }
        }
        return 0;
}
