/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "group-ops.h"
#include "intent-log.h"
#include "log.h"
#include "recovery.h"
#include "sysfs.h"
#include "util.h"

void recovery_report_done(RecoveryReport *r) {
        strv_free(r->lines);
        *r = (RecoveryReport) {};
}

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

/* Binds every recorded device that has no driver now back to its driver.
 * Appends what failed ("0000:01:00.0: <errno text>") to *failed. */
static int bind_recorded(SwitchContext *ctx, const IntentRecord *r, char ***steps, char ***failed) {
        for (size_t i = 0; i < r->n_devices; i++) {
                const IntentDevice *d = r->devices + i;
                const char *why;
                char *line = NULL;
                int q;

                q = device_bind_back(ctx, d->bdf, d->driver, steps);
                if (q == -ENOMEM)
                        return q;
                if (q >= 0)
                        continue;
                why = bind_error_explain(q);
                if (asprintf(&line, "%s (driver %s): %s", d->bdf, d->driver, why ? why : strerror(-q)) < 0)
                        return -ENOMEM;
                if (strv_consume(failed, line) < 0)
                        return -ENOMEM;
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

        if (failed && t != r->old_type && group_type_switchable(r->old_type)) {
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

                attention = intent_log_name_to_group(*p, "attention-group-", &group);
                if (!attention && !intent_log_name_to_group(*p, "intent-group-", &group))
                        continue;
                q = intent_log_read(ctx, *p, &r, &error);
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
