/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "counters.h"
#include "json-stream.h"
#include "json-util.h"
#include "kernel-write.h"
#include "protocol.h"
#include "state-file.h"
#include "util.h"

int (*state_write_hook)(const char *step) = NULL;

/* The counters' keys come from the one table (counters.c), where each
 * row's state_key never changes. */
static uint64_t *counter_at(StateCounters *c, size_t i) {
        return counter_value_ptr(c, i);
}

static uint64_t counter_get(const StateCounters *c, size_t i) {
        return counter_value(c, i);
}

void state_counters_add(StateCounters *acc, const StateCounters *delta) {
        for (size_t i = 0; i < counter_info_count(); i++) {
                uint64_t *a = counter_at(acc, i), d = counter_get(delta, i);

                *a = *a > UINT64_MAX - d ? UINT64_MAX : *a + d;
        }
}

static bool override_mode_ok(const char *m) {
        return m && (streq(m, PROTOCOL_MODE_STRICT) || streq(m, PROTOCOL_MODE_LAZY) || streq(m, PROTOCOL_MODE_AUTO));
}

/* ---- the state in memory ------------------------------------------------ */

static void switch_done(StateSwitch *h) {
        free(h->key);
        free(h->from);
        free(h->to);
        free(h->result);
        *h = (StateSwitch) {};
}

void state_done(DaemonState *s) {
        for (size_t i = 0; i < s->n_groups; i++) {
                free(s->groups[i].key);
                free(s->groups[i].override_mode);
                free(s->groups[i].changed_from);
        }
        free(s->groups);
        free(s->by_key);
        for (size_t i = 0; i < s->n_units; i++)
                free(s->units[i].name);
        free(s->units);
        for (size_t i = 0; i < s->n_history; i++)
                switch_done(s->history + i);
        *s = (DaemonState) {};
}

static int by_key_compare(const void *a, const void *b, void *userdata) {
        const StateGroup *groups = userdata;

        return strcmp(groups[*(const size_t *) a].key, groups[*(const size_t *) b].key);
}

/* Makes s->by_key the positions of s->groups sorted by key. 0 or -ENOMEM. */
static int state_index_groups(DaemonState *s) {
        size_t *p;

        if (s->by_key && s->n_by_key == s->n_groups)
                return 0;
        p = reallocarray(s->by_key, s->n_groups + 1, sizeof(size_t));
        if (!p)
                return -ENOMEM;
        s->by_key = p;
        for (size_t i = 0; i < s->n_groups; i++)
                p[i] = i;
        qsort_r(p, s->n_groups, sizeof(size_t), by_key_compare, s->groups);
        s->n_by_key = s->n_groups;
        return 0;
}

StateGroup *state_group_find(const DaemonState *s, const char *key) {
        for (size_t i = 0; key && i < s->n_groups; i++)
                if (streq(s->groups[i].key, key))
                        return &s->groups[i];
        return NULL;
}

StateGroup *state_group(DaemonState *s, const char *key, unsigned group_hint) {
        size_t lo = 0, hi, *p;
        StateGroup *g;
        char *k;

        if (!key) {
                errno = EINVAL;
                return NULL;
        }
        if (s->next_lookup < s->n_groups && streq(s->groups[s->next_lookup].key, key)) {
                g = s->groups + s->next_lookup++;
                g->group_hint = group_hint;
                return g;
        }
        if (state_index_groups(s) < 0) {
                errno = ENOMEM;
                return NULL;
        }
        /* Binary search; lo ends at the key's place in the order. */
        hi = s->n_by_key;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(s->groups[s->by_key[mid]].key, key);

                if (c == 0) {
                        g = s->groups + s->by_key[mid];
                        g->group_hint = group_hint;
                        s->next_lookup = s->by_key[mid] + 1;
                        return g;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        k = strdup(key);
        if (!k)
                return NULL;
        p = reallocarray(s->by_key, s->n_groups + 2, sizeof(size_t));
        if (!p) {
                free(k);
                errno = ENOMEM;
                return NULL;
        }
        s->by_key = p;
        g = reallocarray(s->groups, s->n_groups + 1, sizeof(StateGroup));
        if (!g) {
                free(k);
                errno = ENOMEM;
                return NULL;
        }
        s->groups = g;
        memmove(p + lo + 1, p + lo, (s->n_by_key - lo) * sizeof(size_t));
        p[lo] = s->n_groups;
        s->n_by_key++;
        g = s->groups + s->n_groups++;
        *g = (StateGroup) { .key = k, .group_hint = group_hint };
        s->next_lookup = s->n_groups;
        return g;
}

StateUnit *state_unit(DaemonState *s, const char *name) {
        StateUnit *u;
        char *n;

        if (!name) {
                errno = EINVAL;
                return NULL;
        }
        for (size_t i = 0; i < s->n_units; i++)
                if (streq(s->units[i].name, name))
                        return s->units + i;
        n = strdup(name);
        if (!n)
                return NULL;
        u = reallocarray(s->units, s->n_units + 1, sizeof(StateUnit));
        if (!u) {
                free(n);
                errno = ENOMEM;
                return NULL;
        }
        s->units = u;
        u = s->units + s->n_units++;
        *u = (StateUnit) { .name = n };
        return u;
}

static int strdup_null(const char *s, char **ret) {
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int state_record_switch(DaemonState *s, uint64_t realtime_ns, unsigned group, const char *key, const char *from,
                        const char *to, const char *result) {
        StateSwitch h = { .realtime_ns = realtime_ns, .group = group };

        if (strdup_null(key, &h.key) < 0 || strdup_null(from, &h.from) < 0 || strdup_null(to, &h.to) < 0 ||
            strdup_null(result, &h.result) < 0) {
                switch_done(&h);
                return -ENOMEM;
        }
        if (s->n_history >= STATE_HISTORY_MAX) {
                switch_done(s->history);
                memmove(s->history, s->history + 1, (STATE_HISTORY_MAX - 1) * sizeof(StateSwitch));
                s->n_history = STATE_HISTORY_MAX - 1;
        }
        s->history[s->n_history++] = h;
        return 0;
}

/* ---- to JSON ------------------------------------------------------------ */

/* Written as a stream (json-stream.h), in json-c's own format: the file
 * once took a json-c tree and its whole text in memory, the daemon's
 * largest allocation by far. */

/* json-c's integers are int64: from 2^63 on, a decimal string. */
static void write_u64(JsonStream *js, const char *key, uint64_t v) {
        char buf[24];

        if (v <= INT64_MAX) {
                json_stream_int64(js, key, (int64_t) v);
                return;
        }
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        json_stream_string(js, key, buf);
}

/* The file nests three deep: json_stream_begin_*() cannot fail here. The
 * machine's counters (machine), or a group's or unit's: without the
 * machine-only rows (reading takes each row as optional). */
static void write_counters(JsonStream *js, const char *key, const StateCounters *c, bool machine) {
        (void) json_stream_begin_object(js, key);
        for (size_t i = 0; i < counter_info_count(); i++)
                if (machine || !counter_info(i)->machine_only)
                        write_u64(js, counter_info(i)->state_key, counter_get(c, i));
        json_stream_end(js);
}

static int state_check(const DaemonState *s) {
        if (s->n_history > STATE_HISTORY_MAX || (s->n_groups && !s->groups) || (s->n_units && !s->units))
                return -EINVAL;
        for (size_t i = 0; i < s->n_groups; i++)
                if (!s->groups[i].key || (s->groups[i].override_mode && !override_mode_ok(s->groups[i].override_mode)))
                        return -EINVAL;
        for (size_t i = 0; i < s->n_units; i++)
                if (!s->units[i].name)
                        return -EINVAL;
        return 0;
}

static void write_unit(JsonStream *js, const StateUnit *u) {
        (void) json_stream_begin_object(js, NULL);
        json_stream_string(js, "name", u->name);
        write_counters(js, "counters", &u->counters, false);
        write_counters(js, "unattributed", &u->unattributed, false);
        json_stream_end(js);
}

static void write_group(JsonStream *js, const StateGroup *g) {
        (void) json_stream_begin_object(js, NULL);
        json_stream_string(js, "key", g->key);
        json_stream_int64(js, "group_hint", g->group_hint);
        write_counters(js, "counters", &g->counters, false);
        if (g->override_mode) {
                (void) json_stream_begin_object(js, "override");
                json_stream_string(js, "mode", g->override_mode);
                write_u64(js, "until_realtime_ns", g->override_until_realtime_ns);
                json_stream_end(js);
        } else
                json_stream_null(js, "override");
        json_stream_string(js, "changed_from", g->changed_from);
        json_stream_end(js);
}

static void write_switch(JsonStream *js, const StateSwitch *h) {
        (void) json_stream_begin_object(js, NULL);
        write_u64(js, "realtime_ns", h->realtime_ns);
        json_stream_int64(js, "group", h->group);
        json_stream_string(js, "key", h->key);
        json_stream_string(js, "from", h->from);
        json_stream_string(js, "to", h->to);
        json_stream_string(js, "result", h->result);
        json_stream_end(js);
}

/* Writes the state (checked by the caller) to f, ending in a newline;
 * returns 0 or -errno of the first write that failed. */
static int state_write(const DaemonState *s, FILE *f) {
        JsonStream js;

        json_stream_init(&js, f);
        (void) json_stream_begin_object(&js, NULL);
        json_stream_int64(&js, "version", STATE_FILE_VERSION);
        write_counters(&js, "total", &s->total, true);
        (void) json_stream_begin_array(&js, "units");
        for (size_t i = 0; i < s->n_units; i++)
                write_unit(&js, s->units + i);
        json_stream_end(&js);
        (void) json_stream_begin_array(&js, "groups");
        for (size_t i = 0; i < s->n_groups; i++)
                write_group(&js, s->groups + i);
        json_stream_end(&js);
        (void) json_stream_begin_array(&js, "history");
        for (size_t i = 0; i < s->n_history; i++)
                write_switch(&js, s->history + i);
        json_stream_end(&js);
        json_stream_end(&js);
        fputc('\n', f);
        if (fflush(f) != 0 || ferror(f))
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int state_to_json(const DaemonState *s, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        *ret = NULL;
        r = state_check(s);
        if (r < 0)
                return r;
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        r = state_write(s, f);
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

/* ---- from JSON ---------------------------------------------------------- */

/* The first error found, with the path of the field ("groups[2].key"). */
typedef struct Parser {
        char error[256];
} Parser;

static int fail(Parser *p, const char *fmt, ...) _printf_(2, 3);
static int fail(Parser *p, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(p->error, sizeof(p->error), fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

/* Field paths: "where.key", or "key" at the top level. */
#define DOT(where) (*(where) ? "." : "")

/* The field key of o, of the given type; *ret is NULL for a JSON null when
 * nullable. */
static int get_field(Parser *p, json_object *o, const char *where, const char *key, json_type type, bool nullable,
                     json_object **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return fail(p, "%s%s%s: missing", where, DOT(where), key);
        if (!v && nullable) {
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, type))
                return fail(p, "%s%s%s: not %s%s", where, DOT(where), key, json_type_words(type),
                            nullable ? " or null" : "");
        *ret = v;
        return 0;
}

static int get_u64(Parser *p, json_object *o, const char *where, const char *key, bool optional, uint64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                if (optional) {
                        *ret = 0;
                        return 0;
                }
                return fail(p, "%s%s%s: missing", where, DOT(where), key);
        }
        if (!v || json_get_u64(v, ret) < 0)
                return fail(p, "%s%s%s: not an unsigned 64-bit integer (an integer below 2^63 or a decimal string)",
                            where, DOT(where), key);
        return 0;
}

static int get_unsigned(Parser *p, json_object *o, const char *where, const char *key, unsigned *ret) {
        json_object *v;
        int64_t i;
        int r;

        r = get_field(p, o, where, key, json_type_int, false, &v);
        if (r < 0)
                return r;
        i = json_object_get_int64(v);
        if (i < 0 || i > UINT_MAX)
                return fail(p, "%s%s%s: %" PRId64 " is out of range", where, DOT(where), key, i);
        *ret = (unsigned) i;
        return 0;
}

static int get_string(Parser *p, json_object *o, const char *where, const char *key, bool nullable, char **ret) {
        json_object *v;
        const char *s;
        int r;

        r = get_field(p, o, where, key, json_type_string, nullable, &v);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                return 0;
        }
        s = json_object_get_string(v);
        if (strlen(s) != (size_t) json_object_get_string_len(v))
                return fail(p, "%s%s%s: contains a NUL character", where, DOT(where), key);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_counters(Parser *p, json_object *o, const char *where, const char *key, StateCounters *ret) {
        json_object *c;
        char path[128];
        int r;

        r = get_field(p, o, where, key, json_type_object, false, &c);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s%s%s", where, DOT(where), key);
        for (size_t i = 0; i < counter_info_count(); i++) {
                r = get_u64(p, c, path, counter_info(i)->state_key, true, counter_at(ret, i));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The array o[key]: its elements, each checked to be an object. */
static int get_objects(Parser *p, json_object *o, const char *key, json_object **ret, size_t *ret_n) {
        json_object *a;
        size_t n;
        int r;

        r = get_field(p, o, "", key, json_type_array, false, &a);
        if (r < 0)
                return r;
        n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++)
                if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_object))
                        return fail(p, "%s[%zu]: not an object", key, i);
        *ret = a;
        *ret_n = n;
        return 0;
}

static int parse_units(Parser *p, json_object *top, DaemonState *s) {
        json_object *a;
        size_t n;
        int r;

        r = get_objects(p, top, "units", &a, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        s->units = calloc(n, sizeof(StateUnit));
        if (!s->units)
                return -ENOMEM;
        s->n_units = n;
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(a, i);
                StateUnit *u = s->units + i;
                char where[48];

                snprintf(where, sizeof(where), "units[%zu]", i);
                if ((r = get_string(p, o, where, "name", false, &u->name)) < 0 ||
                    (r = get_counters(p, o, where, "counters", &u->counters)) < 0 ||
                    (r = get_counters(p, o, where, "unattributed", &u->unattributed)) < 0)
                        return r;
        }
        return 0;
}

static int parse_override(Parser *p, json_object *o, const char *where, StateGroup *g) {
        json_object *ov;
        char path[64];
        int r;

        r = get_field(p, o, where, "override", json_type_object, true, &ov);
        if (r < 0 || !ov)
                return r;
        snprintf(path, sizeof(path), "%s.override", where);
        r = get_string(p, ov, path, "mode", false, &g->override_mode);
        if (r < 0)
                return r;
        if (!override_mode_ok(g->override_mode))
                return fail(p, "%s.mode: \"%.32s\" is not strict, lazy or auto", path, g->override_mode);
        return get_u64(p, ov, path, "until_realtime_ns", false, &g->override_until_realtime_ns);
}

static int parse_groups(Parser *p, json_object *top, DaemonState *s) {
        json_object *a;
        size_t n;
        int r;

        r = get_objects(p, top, "groups", &a, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        s->groups = calloc(n, sizeof(StateGroup));
        if (!s->groups)
                return -ENOMEM;
        s->n_groups = n;
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(a, i);
                StateGroup *g = s->groups + i;
                char where[48];

                snprintf(where, sizeof(where), "groups[%zu]", i);
                if ((r = get_string(p, o, where, "key", false, &g->key)) < 0 ||
                    (r = get_unsigned(p, o, where, "group_hint", &g->group_hint)) < 0 ||
                    (r = get_counters(p, o, where, "counters", &g->counters)) < 0 ||
                    (r = parse_override(p, o, where, g)) < 0 ||
                    (r = get_string(p, o, where, "changed_from", true, &g->changed_from)) < 0)
                        return r;
        }
        return 0;
}

static int parse_history(Parser *p, json_object *top, DaemonState *s) {
        json_object *a;
        size_t n;
        int r;

        r = get_objects(p, top, "history", &a, &n);
        if (r < 0)
                return r;
        /* Every entry is checked; the newest STATE_HISTORY_MAX are kept. */
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_array_get_idx(a, i);
                StateSwitch h = {};
                char where[48];

                snprintf(where, sizeof(where), "history[%zu]", i);
                if ((r = get_u64(p, o, where, "realtime_ns", false, &h.realtime_ns)) < 0 ||
                    (r = get_unsigned(p, o, where, "group", &h.group)) < 0 ||
                    (r = get_string(p, o, where, "key", true, &h.key)) < 0 ||
                    (r = get_string(p, o, where, "from", true, &h.from)) < 0 ||
                    (r = get_string(p, o, where, "to", true, &h.to)) < 0 ||
                    (r = get_string(p, o, where, "result", true, &h.result)) < 0) {
                        switch_done(&h);
                        return r;
                }
                if (n - i > STATE_HISTORY_MAX)
                        switch_done(&h);
                else
                        s->history[s->n_history++] = h;
        }
        return 0;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* names[i * stride] for i < n: each may appear once. */
static int check_unique(Parser *p, const char *what, const char *const *first, size_t stride, size_t n) {
        _cleanup_free_ const char **sorted = NULL;

        if (n < 2)
                return 0;
        sorted = calloc(n, sizeof(char *));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sorted[i] = *(const char *const *) ((const char *) first + i * stride);
        qsort(sorted, n, sizeof(char *), cmp_strp);
        for (size_t i = 1; i < n; i++)
                if (streq(sorted[i - 1], sorted[i]))
                        return fail(p, "%s: \"%.64s\" appears twice", what, sorted[i]);
        return 0;
}

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static void json_tokener_freep(struct json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

static int parse(Parser *p, const char *text, size_t len, DaemonState *s) {
        _cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
        _cleanup_(json_putp) json_object *o = NULL;
        enum json_tokener_error e;
        json_object *v;
        int64_t version;
        size_t end;
        int r;

        if (len > STATE_FILE_MAX_SIZE)
                return fail(p, "larger than %u bytes", STATE_FILE_MAX_SIZE);
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        o = json_tokener_parse_ex(tok, text, (int) len);
        e = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        if (!o && e == json_tokener_continue) {
                /* A bare number or null at the top ends only at the end of
                 * the input. */
                o = json_tokener_parse_ex(tok, "", 1);
                if (!o && json_tokener_get_error(tok) != json_tokener_success)
                        return fail(p, "not JSON: ends early (%zu bytes)", len);
                end = len;
        } else if (!o && e != json_tokener_success)
                return fail(p, "not JSON: %s at byte %zu", json_tokener_error_desc(e), end);
        if (!o)
                return fail(p, "not a JSON object");
        for (; end < len; end++)
                if (!strchr(" \t\r\n", text[end]) || text[end] == '\0')
                        return fail(p, "not JSON: garbage after the end at byte %zu", end);
        if (!json_object_is_type(o, json_type_object))
                return fail(p, "not a JSON object");

        r = get_field(p, o, "", "version", json_type_int, false, &v);
        if (r < 0)
                return r;
        version = json_object_get_int64(v);
        if (version != STATE_FILE_VERSION) {
                fail(p, "version %" PRId64 "; this iommutuned reads version %d", version, STATE_FILE_VERSION);
                return -EPROTONOSUPPORT;
        }

        if ((r = get_counters(p, o, "", "total", &s->total)) < 0 || (r = parse_units(p, o, s)) < 0 ||
            (r = parse_groups(p, o, s)) < 0 || (r = parse_history(p, o, s)) < 0)
                return r;
        if (s->n_units > 0 &&
            (r = check_unique(p, "units", (const char *const *) &s->units[0].name, sizeof(StateUnit), s->n_units)) < 0)
                return r;
        if (s->n_groups > 0 &&
            (r = check_unique(p, "groups", (const char *const *) &s->groups[0].key, sizeof(StateGroup), s->n_groups)) < 0)
                return r;
        return 0;
}

int state_parse(const char *text, size_t len, DaemonState *ret, char **ret_error) {
        _cleanup_(state_done) DaemonState s = {};
        Parser p = {};
        int r;

        *ret = (DaemonState) {};
        if (ret_error)
                *ret_error = NULL;
        if (!text && len > 0)
                return -EINVAL;

        r = parse(&p, text ? text : "", len, &s);
        if (r == 0) {
                *ret = s;
                s = (DaemonState) {};
                return 0;
        }
        if (r != -ENOMEM && ret_error && !(*ret_error = strdup(p.error)))
                return -ENOMEM;
        return r;
}

/* ---- the file ----------------------------------------------------------- */

/* The temp files of saves before the writer named them (".state.json.tmp"
 * now): "state.json.tmp-<pid>". */
#define OLD_TEMP_PREFIX STATE_FILE_NAME ".tmp-"

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* A save killed half-way leaves its temp file; the rename never happened,
 * so it holds nothing state.json lacks. */
static void remove_stale_temps(SwitchContext *ctx) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        char temp[NAME_MAX + 1];
        int fd;

        kernel_write_temp_name(STATE_FILE_NAME, temp, sizeof(temp));
        fd = openat(ctx->state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (streq(de->d_name, temp) || strncmp(de->d_name, OLD_TEMP_PREFIX, strlen(OLD_TEMP_PREFIX)) == 0)
                        (void) kernel_write(ctx, KERNEL_WRITE_STATE_REMOVE, de->d_name, NULL);
}

/* Renames state.json to state.json.corrupt-<seconds>, never over an
 * earlier one. */
static int move_aside(SwitchContext *ctx, char *aside, size_t size) {
        char base[64];

        snprintf(base, sizeof(base), STATE_FILE_NAME ".corrupt-%" PRIu64, now_realtime_ns() / 1000000000u);
        return kernel_write_move_aside(ctx, STATE_FILE_NAME, base, aside, size);
}

int state_load(int dir_fd, DaemonState *ret, char **ret_warning) {
        _cleanup_free_ char *text = NULL, *error = NULL, *warning = NULL;
        char aside[NAME_MAX + 1];
        SwitchContext ctx;
        const char *what;
        int r;

        *ret = (DaemonState) {};
        if (ret_warning)
                *ret_warning = NULL;

        /* A context of its own: its steps are not a switch's. */
        switch_context_init(&ctx, -EBADF, dir_fd);
        remove_stale_temps(&ctx);

        /* Never blocks: a FIFO in its place must not hang the daemon. */
        r = read_regular_file_at(dir_fd, STATE_FILE_NAME, STATE_FILE_MAX_SIZE, 0, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r == -ELOOP)
                error = strdup("a symbolic link, not a regular file");
        else if (r == -EBADFD)
                error = strdup("not a regular file");
        else if (r == -EFBIG) {
                if (asprintf(&error, "larger than %u bytes", STATE_FILE_MAX_SIZE) < 0)
                        error = NULL;
        } else if (r < 0)
                return r;
        else {
                r = state_parse(text, (size_t) r, ret, &error);
                if (r == 0 || r == -ENOMEM)
                        return r;
        }
        if (!error)
                return -ENOMEM;

        what = r == -EPROTONOSUPPORT ? "is from another version" : "is corrupt";
        r = move_aside(&ctx, aside, sizeof(aside));
        if (r < 0)
                r = asprintf(&warning,
                             "%s %s (%s); it could not be moved aside (%s) and will be replaced at the next save; "
                             "starting from an empty state",
                             STATE_FILE_NAME, what, error, strerror(-r));
        else
                r = asprintf(&warning, "%s %s (%s); moved to %s; starting from an empty state", STATE_FILE_NAME,
                             what, error, aside);
        if (r < 0)
                return -ENOMEM;
        if (ret_warning)
                *ret_warning = TAKE_PTR(warning);
        return 0;
}

/* Fills the temp file through a stdio buffer: the file's text is never
 * whole in memory. */
static int fill_state_file(int fd, void *userdata) {
        const DaemonState *s = userdata;
        int copy, r;
        long size;
        FILE *f;

        copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        f = fdopen(copy, "w");
        if (!f) {
                r = -errno;
                close(copy);
                return r;
        }
        r = state_write(s, f);
        size = r == 0 ? ftell(f) : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && size > (long) STATE_FILE_MAX_SIZE)
                r = -EFBIG;
        return r;
}

int state_save(int dir_fd, const DaemonState *s) {
        SwitchContext ctx;
        int r;

        r = state_check(s);
        if (r < 0)
                return r;
        switch_context_init(&ctx, -EBADF, dir_fd); /* its own: its steps are not a switch's */
        ctx.replace_hook = state_write_hook;
        return kernel_write_replace_streamed(&ctx, STATE_FILE_NAME, fill_state_file, (void *) s);
}
