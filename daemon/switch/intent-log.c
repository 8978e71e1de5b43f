/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>

#include "group-ops.h"
#include "intent-log.h"
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

void recovery_report_done(RecoveryReport *r) {
        strv_free(r->lines);
        *r = (RecoveryReport) {};
}

static bool switchable_type(GroupType t) {
        return t == GROUP_TYPE_DMA || t == GROUP_TYPE_DMA_FQ || t == GROUP_TYPE_IDENTITY;
}

/* ---- JSON --------------------------------------------------------------- */

static int add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

char *intent_record_to_json(const IntentRecord *r) {
        json_object *o = json_object_new_object(), *devs;
        const char *s;
        char *ret = NULL;
        int q = 0;

        if (!o)
                return NULL;
        q |= add(o, "version", json_object_new_int(INTENT_LOG_VERSION));
        q |= add(o, "group", json_object_new_int64(r->group));
        q |= add(o, "old_type", json_object_new_string(group_type_to_string(r->old_type)));
        q |= add(o, "new_type", json_object_new_string(group_type_to_string(r->new_type)));
        devs = json_object_new_array();
        for (size_t i = 0; devs && i < r->n_devices; i++) {
                json_object *d = json_object_new_object();

                if (!d || json_object_array_add(devs, d) < 0) {
                        json_object_put(d);
                        q = -ENOMEM;
                        break;
                }
                q |= add(d, "bdf", json_object_new_string(r->devices[i].bdf));
                if (r->devices[i].driver)
                        q |= add(d, "driver", json_object_new_string(r->devices[i].driver));
                else if (json_object_object_add(d, "driver", NULL) < 0)
                        q = -ENOMEM;
        }
        q |= add(o, "devices", devs);
        q |= add(o, "step", json_object_new_string(strna(intent_step_to_string(r->step))));
        if (r->boot_id[0])
                q |= add(o, "boot_id", json_object_new_string(r->boot_id));
        if (r->message)
                q |= add(o, "message", json_object_new_string(r->message));
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

static const char *get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static GroupType get_type(json_object *o, const char *key, ParseError *e) {
        const char *s = get_string(o, key);
        GroupType t = s ? group_type_from_string(s) : GROUP_TYPE_UNKNOWN;

        if (!switchable_type(t))
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
                const char *bdf = json_object_is_type(d, json_type_object) ? get_string(d, "bdf") : NULL;
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
        r.step = intent_step_from_string(get_string(o, "step"));
        if (r.step < 0)
                parse_error(&e, "\"step\" is missing or unknown");
        s = get_string(o, "boot_id");
        if (s && strscpy_checked(r.boot_id, sizeof(r.boot_id), s) < 0)
                parse_error(&e, "\"boot_id\" is too long");
        s = get_string(o, "message");
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
static bool name_to_group(const char *name, const char *prefix, unsigned *ret) {
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

static int read_record(SwitchContext *ctx, const char *name, IntentRecord *ret, char **ret_error) {
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
        q = read_record(ctx, name, &r, NULL);
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

                if (!name_to_group(*p, "attention-group-", &group))
                        continue;
                q = read_record(ctx, *p, list + n, NULL);
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

/* ---- recovery ----------------------------------------------------------- */

static int report(RecoveryReport *rep, int level, const char *fmt, ...) _printf_(3, 4);
static int report(RecoveryReport *rep, int level, const char *fmt, ...) {
        char line[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        log_full_errno(level, 0, "%s", line);
        return strv_extend(&rep->lines, line);
}

/* Binds every recorded device that has no driver now. Appends what failed
 * ("0000:01:00.0: <errno text>") to *failed. */
static int bind_recorded(SwitchContext *ctx, const IntentRecord *r, char ***steps, char ***failed) {
        for (size_t i = 0; i < r->n_devices; i++) {
                const IntentDevice *d = r->devices + i;
                _cleanup_free_ char *now = NULL;
                int q;

                if (!d->driver)
                        continue;
                q = device_read_driver(ctx->sysfs_fd, d->bdf, &now);
                if (q == -ENODEV) {
                        steps_add(steps, "%s is gone; nothing to bind", d->bdf);
                        continue;
                }
                if (q == 0 && now)
                        continue;
                if (q == 0)
                        q = device_bind(ctx, d->bdf, d->driver, steps, NULL);
                if (q == -ENOMEM)
                        return q;
                if (q < 0) {
                        const char *why = bind_error_explain(q);
                        char *line = NULL;

                        if (asprintf(&line, "%s (driver %s): %s", d->bdf, d->driver,
                                     why ? why : strerror(-q)) < 0)
                                return -ENOMEM;
                        if (strv_consume(failed, line) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static const IntentDevice *record_device(const IntentRecord *r, const char *bdf) {
        for (size_t i = 0; i < r->n_devices; i++)
                if (streq(r->devices[i].bdf, bdf))
                        return r->devices + i;
        return NULL;
}

/* Makes every device of the group unbound, so that the old type can be
 * written: a device bound now is unbound only when the record says the
 * switch had it unbound (it had a driver at the start) and may_unbind
 * agrees. Returns 1 when the group ends with no device bound, 0 when not
 * (*why says why), -ENOMEM. */
static int unbind_for_old_type(SwitchContext *ctx, const IntentRecord *r, const RecoveryOptions *opts,
                               size_t *ret_n, char ***steps, char **why) {
        _cleanup_(group_state_done) GroupState s = {};
        int q = group_state_read(ctx->sysfs_fd, r->group, &s);

        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return asprintf(why, "group %u cannot be read (%s)", r->group, strerror(-q)) < 0 ? -ENOMEM : 0;
        *ret_n = s.n_devices;
        /* Decide for every bound device first: unbind nothing unless all
         * of them may be unbound. */
        for (size_t i = 0; i < s.n_devices; i++) {
                const GroupDevice *d = s.devices + i;
                const IntentDevice *rd = record_device(r, d->name);
                _cleanup_free_ char *not = NULL;

                if (!d->driver)
                        continue;
                if (!rd || !rd->driver || !d->is_pci)
                        return asprintf(why, "%s is bound to %s and the switch never unbound it", d->name,
                                        d->driver) < 0 ? -ENOMEM : 0;
                if (!opts || !opts->may_unbind)
                        return asprintf(why, "%s is bound again (to %s) and recovery does not unbind devices",
                                        d->name, d->driver) < 0 ? -ENOMEM : 0;
                q = opts->may_unbind(opts->userdata, d->name, d->driver, &not);
                if (q == -ENOMEM)
                        return q;
                if (q <= 0)
                        return asprintf(why, "%s is bound again (to %s) and must not be unbound now: %s", d->name,
                                        d->driver, not ? not : q < 0 ? strerror(-q) : "in use") < 0 ? -ENOMEM : 0;
        }
        for (size_t i = 0; i < s.n_devices; i++) {
                const GroupDevice *d = s.devices + i;

                if (!d->driver)
                        continue;
                q = device_unbind(ctx, d->name, d->driver, steps);
                if (q < 0)
                        return asprintf(why, "%s cannot be unbound from %s (%s)", d->name, d->driver,
                                        strerror(-q)) < 0 ? -ENOMEM : 0;
        }
        return 1;
}

static char *join(char **l, const char *sep) {
        size_t len = 1;
        char *s;

        for (char **p = l; p && *p; p++)
                len += strlen(*p) + strlen(sep);
        s = malloc(len);
        if (!s)
                return NULL;
        s[0] = '\0';
        for (char **p = l; p && *p; p++) {
                if (p != l)
                        strcat(s, sep);
                strcat(s, *p);
        }
        return s;
}

static int recover_record(SwitchContext *ctx, const IntentRecord *r, const RecoveryOptions *opts,
                          RecoveryReport *rep) {
        _cleanup_strv_free_ char **steps = NULL, **failed = NULL, **gone = NULL;
        _cleanup_free_ char *failed_text = NULL, *msg = NULL, *why = NULL, *gone_text = NULL;
        size_t n_gone = 0;
        const char *old = group_type_to_string(r->old_type), *new = group_type_to_string(r->new_type);
        GroupType t = GROUP_TYPE_UNKNOWN, t_end = GROUP_TYPE_UNKNOWN;
        char raw_end[32] = "";
        size_t n_devices = 0;
        int q;

        q = group_read_type(ctx->sysfs_fd, r->group, &t, NULL, 0);
        if (q < 0)
                steps_add(&steps, "cannot read group %u's type: %s", r->group, strerror(-q));
        q = bind_recorded(ctx, r, &steps, &failed);
        if (q < 0)
                return q;

        if (failed && t != r->old_type && switchable_type(r->old_type)) {
                /* A device will not come up under the new type: put the
                 * old type back, which needs the whole group unbound. */
                q = unbind_for_old_type(ctx, r, opts, &n_devices, &steps, &why);
                if (q < 0)
                        return q;
                if (q > 0) {
                        strv_free(failed);
                        failed = NULL;
                        (void) group_write_type(ctx, r->group, r->old_type, n_devices, &steps);
                        /* Whatever the type now, every device gets its driver. */
                        q = bind_recorded(ctx, r, &steps, &failed);
                        if (q < 0)
                                return q;
                } else {
                        steps_add(&steps, "the old type %s cannot be written back: %s", old, strna(why));
                        /* What was unbound for it gets its driver back. */
                        strv_free(failed);
                        failed = NULL;
                        if ((q = bind_recorded(ctx, r, &steps, &failed)) < 0)
                                return q;
                }
        }

        if (group_read_type(ctx->sysfs_fd, r->group, &t_end, raw_end, sizeof(raw_end)) < 0)
                snprintf(raw_end, sizeof(raw_end), "unreadable");
        for (char **s = steps; s && *s; s++)
                log_info("Group %u recovery: %s", r->group, *s);

        /* Devices hot-removed since the switch began: nothing of them is
         * left to bind, and when all are gone the group went with them. */
        for (size_t i = 0; i < r->n_devices; i++)
                if (device_gone(ctx->sysfs_fd, r->devices[i].bdf)) {
                        n_gone++;
                        q = strv_extend(&gone, r->devices[i].bdf);
                        if (q < 0)
                                return q;
                }
        if (n_gone > 0) {
                gone_text = join(gone, ", ");
                if (!gone_text)
                        return -ENOMEM;
        }

        if (failed) {
                failed_text = join(failed, "; ");
                if (!failed_text ||
                    asprintf(&msg, "group %u (switch from %s to %s, stopped while %s): could not bind %s; "
                             "the group reads %s%s%s. Needs attention: bind the devices by hand, then clear the "
                             "mark.", r->group, old, new, intent_step_to_string(r->step), failed_text, raw_end,
                             why ? "; " : "", why ? why : "") < 0)
                        return -ENOMEM;
                rep->n_attention++;
                q = report(rep, LOG_ERR, "%s", msg);
                if (q < 0)
                        return q;
                q = intent_log_mark_attention(ctx, r, msg);
                if (q < 0)
                        log_error_errno(q, "Failed to record that group %u needs attention: %m", r->group);
                return 0;
        }

        if (n_gone > 0 && n_gone == r->n_devices && t_end == GROUP_TYPE_UNKNOWN)
                q = report(rep, LOG_WARNING,
                           "group %u: the switch from %s to %s was stopped while %s, and its device%s %s %s "
                           "gone since (hot-removed): the group no longer exists and nothing is left to bind",
                           r->group, old, new, intent_step_to_string(r->step), n_gone == 1 ? "" : "s",
                           gone_text, n_gone == 1 ? "is" : "are");
        else if (n_gone > 0)
                q = report(rep, LOG_WARNING,
                           "group %u: the switch from %s to %s was stopped while %s; %s %s gone since "
                           "(hot-removed); every device still present is bound and the group reads %s",
                           r->group, old, new, intent_step_to_string(r->step), gone_text,
                           n_gone == 1 ? "is" : "are", raw_end);
        else if (t_end == r->old_type)
                q = report(rep, LOG_NOTICE,
                           "group %u: the switch from %s to %s was stopped while %s; rolled back: the group "
                           "is %s and every device is bound",
                           r->group, old, new, intent_step_to_string(r->step), raw_end);
        else if (t_end == r->new_type)
                q = report(rep, LOG_NOTICE,
                           "group %u: the switch from %s to %s was stopped while %s; the kernel had "
                           "switched already, so it is finished: the group is %s and every device is bound",
                           r->group, old, new, intent_step_to_string(r->step), raw_end);
        else
                q = report(rep, LOG_WARNING,
                           "group %u: the switch from %s to %s was stopped while %s; every device is bound "
                           "and the group reads %s",
                           r->group, old, new, intent_step_to_string(r->step), raw_end);
        if (q < 0)
                return q;
        q = intent_log_remove(ctx, r->group);
        if (q < 0)
                log_warning_errno(q, "Failed to remove the intent record of group %u: %m", r->group);
        return 0;
}

/* A record that cannot be parsed: move it aside, then bind every unbound
 * PCI device of the group it names. */
static int recover_corrupt(SwitchContext *ctx, const char *name, unsigned group, const IntentRecord *partial,
                           const char *error, RecoveryReport *rep) {
        _cleanup_(group_state_done) GroupState s = {};
        _cleanup_strv_free_ char **steps = NULL;
        char aside[96];
        unsigned n_failed = 0;
        char base[96];
        int q;

        snprintf(base, sizeof(base), "%s.corrupt", name);
        q = kernel_write_move_aside(ctx, name, base, aside, sizeof(aside));
        if (q < 0)
                q = report(rep, LOG_WARNING,
                           "%s is corrupt (%s) and cannot be moved aside (%s): it stays and is read again at the "
                           "next start; binding every unbound device of group %u",
                           name, strna(error), strerror(-q), group);
        else
                q = report(rep, LOG_WARNING, "%s is corrupt (%s); moved to %s; binding every unbound device of group %u",
                           name, strna(error), aside, group);
        if (q < 0)
                return q;

        q = group_state_read(ctx->sysfs_fd, group, &s);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return report(rep, LOG_WARNING, "group %u cannot be read (%s); nothing bound", group,
                              strerror(-q));
        for (size_t i = 0; i < s.n_devices; i++) {
                const GroupDevice *d = s.devices + i;
                const char *driver = NULL;

                if (d->driver || !d->is_pci)
                        continue;
                for (size_t j = 0; partial && j < partial->n_devices; j++)
                        if (streq(partial->devices[j].bdf, d->name))
                                driver = partial->devices[j].driver;
                q = device_bind(ctx, d->name, driver, &steps, NULL);
                if (q == -ENOMEM)
                        return q;
                if (q < 0)
                        n_failed++;
        }
        for (char **p = steps; p && *p; p++)
                if ((q = report(rep, LOG_WARNING, "group %u: %s", group, *p)) < 0)
                        return q;
        if (n_failed) {
                IntentRecord a = { .group = group, .old_type = s.type, .new_type = s.type,
                                   .step = INTENT_STEP_NEEDS_ATTENTION };
                _cleanup_free_ char *msg = NULL;

                snprintf(a.boot_id, sizeof(a.boot_id), "%s", ctx->boot_id);

                rep->n_attention++;
                if (asprintf(&msg, "group %u: a corrupt intent record was found and %u device%s would not "
                             "bind. Needs attention.", group, n_failed, n_failed == 1 ? "" : "s") < 0)
                        return -ENOMEM;
                if ((q = report(rep, LOG_ERR, "%s", msg)) < 0)
                        return q;
                q = intent_log_mark_attention(ctx, &a, msg);
                if (q < 0)
                        log_error_errno(q, "Failed to record that group %u needs attention: %m", group);
        }
        return 0;
}

int intent_log_recover(SwitchContext *ctx, const RecoveryOptions *opts, RecoveryReport *ret) {
        _cleanup_strv_free_ char **names = NULL;
        RecoveryReport rep = {};
        int q;

        *ret = (RecoveryReport) {};
        if (ctx->state_fd < 0)
                return 0;
        q = sysfs_list_dir(ctx->state_fd, ".", &names);
        if (q < 0)
                return q;

        for (char **p = names; *p; p++) {
                size_t n = strlen(*p);

                /* A replace stopped between the temp file and the rename. */
                if ((*p)[0] == '.' && n > 4 && streq(*p + n - 4, ".tmp") &&
                    (strstr(*p, "intent-group-") || strstr(*p, "attention-group-"))) {
                        q = kernel_write(ctx, KERNEL_WRITE_STATE_REMOVE, *p, NULL);
                        if (q < 0)
                                log_warning_errno(q, "Failed to remove the stale temp file %s: %m", *p);
                }
        }

        for (char **p = names; *p; p++) {
                _cleanup_(intent_record_done) IntentRecord r = {};
                _cleanup_free_ char *error = NULL;
                unsigned group;
                bool attention;

                attention = name_to_group(*p, "attention-group-", &group);
                if (!attention && !name_to_group(*p, "intent-group-", &group))
                        continue;
                q = read_record(ctx, *p, &r, &error);
                if (q == -ENOMEM)
                        goto fail;
                if (attention) {
                        /* A mark from an earlier boot is stale: the kernel
                         * probed every device afresh. */
                        if ((q == 0 || q == -EBADMSG) && r.boot_id[0] && ctx->boot_id[0] &&
                            !streq(r.boot_id, ctx->boot_id)) {
                                if ((q = report(&rep, LOG_NOTICE, "group %u: clearing a needs-attention mark "
                                                "from an earlier boot", group)) < 0)
                                        goto fail;
                                (void) kernel_write(ctx, KERNEL_WRITE_STATE_REMOVE, *p, NULL);
                        } else
                                rep.n_attention++;
                        continue;
                }
                rep.n_records++;
                if (q == -ENOENT)
                        continue;
                if (q < 0) {
                        q = recover_corrupt(ctx, *p, group, &r, error ? error : strerror(-q), &rep);
                        if (q < 0)
                                goto fail;
                        continue;
                }
                if (r.group != group) {
                        q = recover_corrupt(ctx, *p, group, &r, "the group in the file does not match its name",
                                            &rep);
                        if (q < 0)
                                goto fail;
                        continue;
                }
                if (r.boot_id[0] && ctx->boot_id[0] && !streq(r.boot_id, ctx->boot_id)) {
                        q = report(&rep, LOG_NOTICE,
                                   "group %u: the intent record of a switch from %s to %s is from an earlier "
                                   "boot; the kernel probed every device afresh; removed it",
                                   group, group_type_to_string(r.old_type), group_type_to_string(r.new_type));
                        if (q < 0)
                                goto fail;
                        (void) intent_log_remove(ctx, group);
                        continue;
                }
                q = recover_record(ctx, &r, opts, &rep);
                if (q < 0)
                        goto fail;
        }
        *ret = rep;
        return 0;

fail:
        recovery_report_done(&rep);
        return q;
}
