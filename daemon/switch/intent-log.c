/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>

#include "group-ops.h"
#include "intent-log.h"
#include "json-util.h"
#include "log.h"
#include "sysfs.h"
#include "util.h"

static const char *const step_names[_INTENT_STEP_MAX] = {
        [INTENT_STEP_UNBINDING] = "unbinding",
        [INTENT_STEP_REBINDING] = "rebinding",
        [INTENT_STEP_ROLLING_BACK] = "rolling-back",
        [INTENT_STEP_NEEDS_ATTENTION] = "needs-attention",
};

const char *intent_step_to_string(IntentStep s) {
        return s >= 0 && s < _INTENT_STEP_MAX ? step_names[s] : NULL;
}

IntentStep intent_step_from_string(const char *s) {
        for (IntentStep i = 0; s && i < _INTENT_STEP_MAX; i++)
                if (streq(step_names[i], s))
                        return i;
        return _INTENT_STEP_INVALID;
}

void intent_record_done(IntentRecord *r) {
        for (size_t i = 0; i < r->n_devices; i++) {
                free(r->devices[i].bdf);
                free(r->devices[i].driver);
        }
        free(r->devices);
        free(r->message);
        *r = (IntentRecord) {};
}

void intent_records_free(IntentRecord *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                intent_record_done(r + i);
        free(r);
}

/* ---- JSON --------------------------------------------------------------- */

char *intent_record_to_json(const IntentRecord *r) {
        json_object *o = json_object_new_object(), *devs;
        const char *s;
        char *ret = NULL;
        int q = 0;

        if (!o)
                return NULL;
        q |= json_add(o, "version", json_object_new_int(INTENT_LOG_VERSION));
        q |= json_add(o, "group", json_object_new_int64(r->group));
        q |= json_add(o, "old_type", json_object_new_string(group_type_to_string(r->old_type)));
        q |= json_add(o, "new_type", json_object_new_string(group_type_to_string(r->new_type)));
        devs = json_object_new_array();
        for (size_t i = 0; devs && i < r->n_devices; i++) {
                json_object *d = json_object_new_object();

                if (!d || json_object_array_add(devs, d) < 0) {
                        json_object_put(d);
                        q = -ENOMEM;
                        break;
                }
                q |= json_add(d, "bdf", json_object_new_string(r->devices[i].bdf));
                if (r->devices[i].driver)
                        q |= json_add(d, "driver", json_object_new_string(r->devices[i].driver));
                else if (json_object_object_add(d, "driver", NULL) < 0)
                        q = -ENOMEM;
        }
        q |= json_add(o, "devices", devs);
        q |= json_add(o, "step", json_object_new_string(strna(intent_step_to_string(r->step))));
        if (r->boot_id[0])
                q |= json_add(o, "boot_id", json_object_new_string(r->boot_id));
        if (r->message)
                q |= json_add(o, "message", json_object_new_string(r->message));
        if (q == 0) {
                s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                if (s && asprintf(&ret, "%s\n", s) < 0)
                        ret = NULL;
        }
        json_object_put(o);
        return ret;
}

typedef struct ParseError {
        char *text;
} ParseError;

static void parse_error(ParseError *e, const char *fmt, ...) _printf_(2, 3);
static void parse_error(ParseError *e, const char *fmt, ...) {
        va_list ap;

        if (e->text)
                return; /* the first error is the one reported */
        va_start(ap, fmt);
        if (vasprintf(&e->text, fmt, ap) < 0)
                e->text = NULL;
        va_end(ap);
}

static GroupType get_type(json_object *o, const char *key, ParseError *e) {
        const char *s = json_get_string(o, key);
        GroupType t = s ? group_type_from_string(s) : GROUP_TYPE_UNKNOWN;

        if (!group_type_switchable(t))
                parse_error(e, "\"%s\" is missing or not DMA, DMA-FQ or identity", key);
        return t;
}

static int parse_devices(json_object *o, IntentRecord *r, ParseError *e) {
        json_object *arr;
        size_t n;

        if (!json_object_object_get_ex(o, "devices", &arr) || !json_object_is_type(arr, json_type_array)) {
                parse_error(e, "\"devices\" is missing or not an array");
                return 0;
        }
        n = json_object_array_length(arr);
        if (n > INTENT_LOG_MAX_DEVICES) {
                parse_error(e, "\"devices\" has %zu entries", n);
                return 0;
        }
        r->devices = calloc(n + 1, sizeof(IntentDevice));
        if (!r->devices)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(arr, i), *drv = NULL;
                const char *bdf = json_object_is_type(d, json_type_object) ? json_get_string(d, "bdf") : NULL;
                const char *driver = NULL;

                if (!bdf || !sysfs_name_ok(bdf)) {
                        parse_error(e, "device %zu has no valid \"bdf\"", i);
                        continue;
                }
                if (json_object_object_get_ex(d, "driver", &drv) && drv) {
                        driver = json_object_is_type(drv, json_type_string) ? json_object_get_string(drv) : NULL;
                        if (!driver || !sysfs_name_ok(driver)) {
                                parse_error(e, "device %s has an invalid \"driver\"", bdf);
                                driver = NULL;
                        }
                }
                if (!(r->devices[r->n_devices].bdf = strdup(bdf)))
                        return -ENOMEM;
                if (driver && !(r->devices[r->n_devices].driver = strdup(driver))) {
                        free(r->devices[r->n_devices].bdf);
                        return -ENOMEM;
                }
                r->n_devices++;
        }
        return 0;
}

int intent_record_from_json(const char *text, IntentRecord *ret, char **ret_error) {
        _cleanup_(intent_record_done) IntentRecord r = {};
        ParseError e = {};
        enum json_tokener_error jerr;
        json_object *o, *v;
        const char *s;
        int q = 0;

        o = json_tokener_parse_verbose(text, &jerr);
        if (!o || !json_object_is_type(o, json_type_object)) {
                parse_error(&e, "not a JSON object%s%s", o ? "" : ": ",
                            o ? "" : json_tokener_error_desc(jerr));
                goto finish;
        }
        if (!json_object_object_get_ex(o, "version", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != INTENT_LOG_VERSION)
                parse_error(&e, "\"version\" is missing or not %d", INTENT_LOG_VERSION);
        if (json_object_object_get_ex(o, "group", &v) && json_object_is_type(v, json_type_int) &&
            json_object_get_int64(v) >= 0 && json_object_get_int64(v) <= 1000000)
                r.group = (unsigned) json_object_get_int64(v);
        else
                parse_error(&e, "\"group\" is missing or not a group number");
        r.old_type = get_type(o, "old_type", &e);
        r.new_type = get_type(o, "new_type", &e);
        q = parse_devices(o, &r, &e);
        if (q < 0)
                goto finish;
        r.step = intent_step_from_string(json_get_string(o, "step"));
        if (r.step < 0)
                parse_error(&e, "\"step\" is missing or unknown");
        s = json_get_string(o, "boot_id");
        if (s && strscpy_checked(r.boot_id, sizeof(r.boot_id), s) < 0)
                parse_error(&e, "\"boot_id\" is too long");
        s = json_get_string(o, "message");
        if (s && !(r.message = strdup(s)))
                q = -ENOMEM;

finish:
        json_object_put(o);
        if (q < 0) {
                free(e.text);
                return q;
        }
        *ret = r;
        r = (IntentRecord) {};
        if (e.text) {
                if (ret_error)
                        *ret_error = e.text;
                else
                        free(e.text);
                return -EBADMSG;
        }
        return 0;
}

/* ---- the state directory ------------------------------------------------ */

static void intent_name(char *buf, size_t size, unsigned group) {
        snprintf(buf, size, "intent-group-%u.json", group);
}

static void attention_name(char *buf, size_t size, unsigned group) {
        snprintf(buf, size, "attention-group-%u.json", group);
}

/* Parses "<prefix><N>.json" exactly. */
bool intent_log_name_to_group(const char *name, const char *prefix, unsigned *ret) {
        size_t n = strlen(prefix);
        uint64_t g;
        char num[16];
        const char *end;

        if (strncmp(name, prefix, n) != 0)
                return false;
        end = strstr(name + n, ".json");
        if (!end || !streq(end, ".json") || end == name + n || (size_t) (end - name - n) >= sizeof(num))
                return false;
        memcpy(num, name + n, end - name - n);
        num[end - name - n] = '\0';
        if (num[0] < '0' || num[0] > '9' || safe_atou64(num, &g) < 0 || g > 1000000)
                return false;
        *ret = (unsigned) g;
        return true;
}

int intent_log_write(SwitchContext *ctx, const IntentRecord *r) {
        _cleanup_free_ char *text = intent_record_to_json(r);
        char name[64];

        if (!text)
                return -ENOMEM;
        intent_name(name, sizeof(name), r->group);
        return kernel_write(ctx, KERNEL_WRITE_STATE_REPLACE, name, text);
}

int intent_log_remove(SwitchContext *ctx, unsigned group) {
        char name[64];

        intent_name(name, sizeof(name), group);
        return kernel_write(ctx, KERNEL_WRITE_STATE_REMOVE, name, NULL);
}

int intent_log_exists(SwitchContext *ctx, unsigned group) {
        char name[64];

        if (ctx->state_fd < 0)
                return 0;
        intent_name(name, sizeof(name), group);
        return sysfs_exists(ctx->state_fd, name);
}

int intent_log_mark_attention(SwitchContext *ctx, const IntentRecord *r, const char *message) {
        IntentRecord a = *r;
        _cleanup_free_ char *text = NULL;
        char name[64];
        int q;

        a.step = INTENT_STEP_NEEDS_ATTENTION;
        a.message = (char *) message;
        text = intent_record_to_json(&a);
        if (!text)
                return -ENOMEM;
        attention_name(name, sizeof(name), r->group);
        q = kernel_write(ctx, KERNEL_WRITE_STATE_REPLACE, name, text);
        if (q < 0)
                /* The intent record stays: the next start tries once more. */
                return q;
        return intent_log_remove(ctx, r->group);
}

int intent_log_read(SwitchContext *ctx, const char *name, IntentRecord *ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        int q;

        /* Never blocks: a FIFO named like a record is not waited on. */
        q = read_regular_file_at(ctx->state_fd, name, INTENT_LOG_MAX_SIZE, 0, &text, NULL);
        if (q == -EFBIG || q == -EBADFD || q == -ELOOP) {
                if (ret_error)
                        *ret_error = strdup(q == -EFBIG ? "the file is too large" :
                                            q == -ELOOP ? "a symbolic link, not a regular file" :
                                                          "not a regular file");
                *ret = (IntentRecord) {};
                return -EBADMSG;
        }
        if (q < 0)
                return q;
        return intent_record_from_json(text, ret, ret_error);
}

int intent_log_attention(SwitchContext *ctx, unsigned group, char **ret_message) {
        _cleanup_(intent_record_done) IntentRecord r = {};
        char name[64];
        int q;

        if (ctx->state_fd < 0)
                return 0;
        attention_name(name, sizeof(name), group);
        if (!sysfs_exists(ctx->state_fd, name))
                return 0;
        q = intent_log_read(ctx, name, &r, NULL);
        if (q == -ENOMEM)
                return q;
        /* A mark that cannot be read still marks the group. */
        if (ret_message)
                *ret_message = TAKE_PTR(r.message);
        return 1;
}

int intent_log_clear_attention(SwitchContext *ctx, unsigned group) {
        char name[64];

        attention_name(name, sizeof(name), group);
        return kernel_write(ctx, KERNEL_WRITE_STATE_REMOVE, name, NULL);
}

int intent_log_list_attention(SwitchContext *ctx, IntentRecord **ret, size_t *ret_n) {
        _cleanup_strv_free_ char **names = NULL;
        IntentRecord *list = NULL;
        size_t n = 0;
        int q;

        *ret = NULL;
        *ret_n = 0;
        if (ctx->state_fd < 0)
                return 0;
        q = sysfs_list_dir(ctx->state_fd, ".", &names);
        if (q < 0)
                return q;
        list = calloc(strv_length(names) + 1, sizeof(IntentRecord));
        if (!list)
                return -ENOMEM;
        for (char **p = names; *p; p++) {
                unsigned group;

                if (!intent_log_name_to_group(*p, "attention-group-", &group))
                        continue;
                q = intent_log_read(ctx, *p, list + n, NULL);
                if (q == -ENOMEM) {
                        intent_records_free(list, n + 1);
                        return q;
                }
                list[n].group = group;
                if (q < 0 && !list[n].message)
                        list[n].message = strdup("the attention record cannot be read");
                n++;
        }
        /* Names sort as strings; order by number. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && list[j - 1].group > list[j].group; j--) {
                        IntentRecord t = list[j];

                        list[j] = list[j - 1];
                        list[j - 1] = t;
                }
        *ret = list;
        *ret_n = n;
        return 0;
}
