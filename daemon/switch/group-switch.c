/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "group-ops.h"
#include "group-switch.h"
#include "intent-log.h"
#include "log.h"
#include "sysfs.h"
#include "util.h"

static const char *const outcome_names[_SWITCH_OUTCOME_MAX] = {
        [SWITCH_OUTCOME_PLANNED] = "planned",
        [SWITCH_OUTCOME_UNCHANGED] = "unchanged",
        [SWITCH_OUTCOME_REFUSED] = "refused",
        [SWITCH_OUTCOME_DONE] = "done",
        [SWITCH_OUTCOME_OTHER_TYPE] = "other-type",
        [SWITCH_OUTCOME_FAILED] = "failed",
        [SWITCH_OUTCOME_NEEDS_ATTENTION] = "needs-attention",
};

const char *switch_outcome_to_string(SwitchOutcome o) {
        return o >= 0 && o < _SWITCH_OUTCOME_MAX ? outcome_names[o] : NULL;
}

void switch_result_done(SwitchResult *r) {
        free(r->message);
        strv_free(r->steps);
        r->message = NULL;
        r->steps = NULL;
}

static int vset_message(SwitchResult *r, const char *fmt, va_list ap) _printf_(2, 0);
static int vset_message(SwitchResult *r, const char *fmt, va_list ap) {
        char *m;

        if (vasprintf(&m, fmt, ap) < 0)
                return -ENOMEM;
        free(r->message);
        r->message = m;
        return 0;
}

static int set_message(SwitchResult *r, const char *fmt, ...) _printf_(2, 3);
static int set_message(SwitchResult *r, const char *fmt, ...) {
        va_list ap;
        int q;

        va_start(ap, fmt);
        q = vset_message(r, fmt, ap);
        va_end(ap);
        return q;
}

static const char *type_name(GroupType t) {
        return strna(group_type_to_string(t));
}

static void read_final(SwitchContext *ctx, SwitchResult *r) {
        if (group_read_type(ctx->sysfs_fd, r->group, &r->final_type, r->final_raw, sizeof(r->final_raw)) < 0) {
                r->final_type = GROUP_TYPE_UNKNOWN;
                snprintf(r->final_raw, sizeof(r->final_raw), "unreadable");
        }
}

/* Every device that had a driver when the switch began has one now. */
static bool all_bound_again(SwitchContext *ctx, const GroupState *s) {
        for (size_t i = 0; i < s->n_devices; i++) {
                _cleanup_free_ char *now = NULL;

                if (!s->devices[i].driver || !s->devices[i].is_pci)
                        continue;
                if (device_gone(ctx->sysfs_fd, s->devices[i].name))
                        continue; /* hot-removed: nothing left to bind */
                if (device_read_driver(ctx->sysfs_fd, s->devices[i].name, &now) < 0 || !now)
                        return false;
        }
        return true;
}

/* ---- planning ----------------------------------------------------------- */

static const GuardDevice *find_facts(const SwitchOptions *opts, const char *name) {
        for (size_t i = 0; opts && opts->devices && i < opts->n_devices; i++)
                if (opts->devices[i].name && streq(opts->devices[i].name, name))
                        return opts->devices + i;
        return NULL;
}

/* False when the version is unknown: the kernel's answer then decides. */
static bool kernel_older_than(const SwitchContext *ctx, unsigned major, unsigned minor) {
        return ctx->kernel_major > 0 &&
               (ctx->kernel_major < major || (ctx->kernel_major == major && ctx->kernel_minor < minor));
}

static int refuse(SwitchResult *r, const char *fmt, ...) _printf_(2, 3);
static int refuse(SwitchResult *r, const char *fmt, ...) {
        va_list ap;
        int q;

        va_start(ap, fmt);
        q = vset_message(r, fmt, ap);
        va_end(ap);
        if (q < 0)
                return q;
        r->outcome = SWITCH_OUTCOME_REFUSED;
        r->error = -ECANCELED;
        return -ECANCELED;
}

static int check_driver_files(SwitchContext *ctx, const char *driver) {
        char path[160];

        snprintf(path, sizeof(path), "bus/pci/drivers/%s/unbind", driver);
        if (!sysfs_exists(ctx->sysfs_fd, path))
                return -ENOENT;
        snprintf(path, sizeof(path), "bus/pci/drivers/%s/bind", driver);
        if (!sysfs_exists(ctx->sysfs_fd, path))
                return -ENOENT;
        return 0;
}

static int plan_steps(SwitchContext *ctx, const GroupState *s, GroupType to, SwitchResult *r) {
        const char *from = type_name(s->type), *new = type_name(to);
        int q = 0;

        if (!r->needs_rebind) {
                q |= steps_add(&r->steps, "write %s to kernel/iommu_groups/%u/type, drivers stay bound (the "
                               "kernel brings up a flush queue on the live domain)", new, s->group);
                q |= steps_add(&r->steps, "read the type back: %s expected; the kernel may keep %s", new, from);
                return q ? -ENOMEM : 0;
        }
        q |= steps_add(&r->steps, "record the intent (group %u, %s to %s, each device's driver) in "
                       "intent-group-%u.json in the state directory", s->group, from, new, s->group);
        for (size_t i = 0; i < s->n_devices; i++)
                if (s->devices[i].driver)
                        q |= steps_add(&r->steps, "unbind %s from %s (bus/pci/drivers/%s/unbind)",
                                       s->devices[i].name, s->devices[i].driver, s->devices[i].driver);
                else
                        q |= steps_add(&r->steps, "%s has no driver: leave it alone", s->devices[i].name);
        q |= steps_add(&r->steps, "write %s to kernel/iommu_groups/%u/type", new, s->group);
        for (size_t i = 0; i < s->n_devices; i++)
                if (s->devices[i].driver)
                        q |= steps_add(&r->steps, "bind %s to %s again (bus/pci/drivers/%s/bind, else "
                                       "bus/pci/drivers_probe)", s->devices[i].name, s->devices[i].driver,
                                       s->devices[i].driver);
        q |= steps_add(&r->steps, "read the type back and check that every device is bound again");
        q |= steps_add(&r->steps, "remove the intent record");
        q |= steps_add(&r->steps, "if the type write or a bind fails: unbind what was bound again, write %s "
                       "back, bind every device; if that fails too, mark the group as needing attention",
                       from);
        return q ? -ENOMEM : 0;
}

/* Reads the group and decides. Fills r; on success (0) the switch may go
 * ahead with state *s. */
static int plan(SwitchContext *ctx, unsigned group, GroupType to, const SwitchOptions *opts, GroupState *s,
                SwitchResult *r) {
        _cleanup_free_ GuardDevice *facts = NULL;
        _cleanup_free_ char *attention = NULL;
        const char *from_raw;
        int q;

        *r = (SwitchResult) { .group = group, .to = to, .from = GROUP_TYPE_UNKNOWN,
                              .final_type = GROUP_TYPE_UNKNOWN, .guards_passed = false };
        if (!group_type_switchable(to)) {
                r->outcome = SWITCH_OUTCOME_REFUSED;
                r->error = -EINVAL;
                return set_message(r, "group %u: %s is not a type this daemon switches to", group,
                                   type_name(to)) ?: -EINVAL;
        }

        q = group_state_read(ctx->sysfs_fd, group, s);
        if (q == -ENOMEM)
                return q;
        if (q < 0)
                return refuse(r, "group %u cannot be read: %s", group, strerror(-q));
        r->from = s->type;
        r->final_type = s->type;
        snprintf(r->final_raw, sizeof(r->final_raw), "%s", s->type_raw);
        from_raw = s->type_raw;

        if (s->type == to) {
                r->outcome = SWITCH_OUTCOME_UNCHANGED;
                r->guards_passed = true;
                r->all_bound = true;
                return set_message(r, "group %u is %s already", group, from_raw);
        }
        if (!group_type_switchable(s->type))
                return refuse(r, "group %u is %s: this daemon only switches DMA, DMA-FQ and identity groups "
                              "(blocked or unmanaged means another owner, such as VFIO, holds it)",
                              group, from_raw);
        if (s->n_devices == 0)
                return refuse(r, "group %u has no devices", group);

        r->needs_rebind = group_switch_needs_rebind(s->type, to);

        /* Guard facts: the caller's, with what sysfs says now. */
        facts = calloc(s->n_devices, sizeof(GuardDevice));
        if (!facts)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_devices; i++) {
                const GuardDevice *f = find_facts(opts, s->devices[i].name);
                char path[160], buf[16];

                if (!f)
                        return refuse(r, "group %u: no guard facts for %s (did it join the group after the "
                                      "facts were gathered?)", group, s->devices[i].name);
                facts[i] = *f;
                facts[i].name = s->devices[i].name;
                facts[i].bound = s->devices[i].driver != NULL;
                snprintf(path, sizeof(path), "bus/pci/devices/%s/untrusted", s->devices[i].name);
                if (s->devices[i].is_pci && sysfs_read_attr(ctx->sysfs_fd, path, buf, sizeof(buf)) > 0 &&
                    streq(buf, "1"))
                        facts[i].untrusted = TRISTATE_YES;
        }
        r->guards_passed = guards_check(s->type, to, facts, s->n_devices, opts ? opts->kernel : NULL,
                                        r->verdicts);

        q = plan_steps(ctx, s, to, r);
        if (q < 0)
                return q;

        if (!r->guards_passed) {
                char text[2048] = "";
                size_t len = 0;

                for (GuardId id = 0; id < _GUARD_MAX; id++)
                        if (r->verdicts[id].applies && !r->verdicts[id].passed && len < sizeof(text))
                                len += snprintf(text + len, sizeof(text) - len, "%s%s: %s", len ? "; " : "",
                                                guard_id_to_string(id), r->verdicts[id].reason);
                return refuse(r, "group %u: switch from %s to %s refused by the guards: %s", group, from_raw,
                              type_name(to), text);
        }

        q = intent_log_attention(ctx, group, &attention);
        if (q < 0)
                return q;
        if (q > 0)
                return refuse(r, "group %u needs attention and is left alone until the mark is cleared: %s",
                              group, strna(attention));
        if (intent_log_exists(ctx, group) > 0)
                return refuse(r, "group %u has the intent record of an interrupted switch; it is recovered at "
                              "start before the group is switched again", group);

        if (kernel_older_than(ctx, 5, 11))
                return refuse(r, "group %u: kernel %u.%u cannot change a group's type (the type file is "
                              "read-only before 5.11)", group, ctx->kernel_major, ctx->kernel_minor);
        if (to == GROUP_TYPE_DMA_FQ && kernel_older_than(ctx, 5, 15))
                return refuse(r, "group %u: kernel %u.%u has no DMA-FQ (lazy) type; it came with 5.15", group,
                              ctx->kernel_major, ctx->kernel_minor);
        if (s->n_devices > 1 && kernel_older_than(ctx, 6, 4))
                return refuse(r, "group %u has %zu devices and kernel %u.%u refuses to change the type of a "
                              "group with more than one device (EINVAL before about 6.4)",
                              group, s->n_devices, ctx->kernel_major, ctx->kernel_minor);

        if (r->needs_rebind) {
                if (ctx->state_fd < 0)
                        return refuse(r, "group %u: no state directory to keep the intent record in; a switch "
                                      "that unbinds drivers needs one", group);
                for (size_t i = 0; i < s->n_devices; i++) {
                        const GroupDevice *d = s->devices + i;

                        if (!d->driver)
                                continue;
                        if (!d->is_pci)
                                return refuse(r, "group %u: %s is bound to %s and is not a PCI device; only PCI "
                                              "devices are unbound and bound again", group, d->name, d->driver);
                        if (check_driver_files(ctx, d->driver) < 0)
                                return refuse(r, "group %u: driver %s of %s has no bind/unbind files", group,
                                              d->driver, d->name);
                }
        }

        r->outcome = SWITCH_OUTCOME_PLANNED;
        r->all_bound = true;
        return set_message(r, "group %u: switch from %s to %s %s; every guard passed", group, from_raw,
                           type_name(to),
                           r->needs_rebind ? "needs its drivers unbound and bound again" : "is made live");
}

int group_switch_plan(SwitchContext *ctx, unsigned group, GroupType to, const SwitchOptions *opts,
                      SwitchResult *ret) {
        _cleanup_(group_state_done) GroupState s = {};

        return plan(ctx, group, to, opts, &s, ret);
}

/* ---- carrying it out ---------------------------------------------------- */

static void finish_outcome(SwitchResult *r) {
        if (r->final_type == r->to && r->all_bound)
                r->outcome = SWITCH_OUTCOME_DONE;
        else
                r->outcome = SWITCH_OUTCOME_OTHER_TYPE;
}

/* A member of the group is gone from sysfs (hot-removed): a PCI device when
 * bus/pci/devices/<bdf> is, another device when its link in the group is
 * (the group's directory goes with its last device). */
static bool member_gone(SwitchContext *ctx, const GroupState *s, const GroupDevice *d) {
        char path[160];

        if (d->is_pci)
                return device_gone(ctx->sysfs_fd, d->name) > 0;
        snprintf(path, sizeof(path), "kernel/iommu_groups/%u/devices/%s", s->group, d->name);
        return sysfs_exists(ctx->sysfs_fd, path) == 0;
}

/* How many members are gone; their names, comma-separated, in buf. No
 * allocation: this runs while devices may be unbound. */
static size_t gone_members(SwitchContext *ctx, const GroupState *s, char *buf, size_t size) {
        size_t n = 0, len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < s->n_devices; i++) {
                if (!member_gone(ctx, s, s->devices + i))
                        continue;
                if (len < size)
                        len += snprintf(buf + len, size - len, "%s%s", n ? ", " : "", s->devices[i].name);
                n++;
        }
        return n;
}

static bool group_gone(SwitchContext *ctx, const GroupState *s, char *buf, size_t size) {
        return s->n_devices > 0 && gone_members(ctx, s, buf, size) == s->n_devices;
}

/* Every device of the group was hot-removed during the switch: nothing is
 * left to bind and nothing to protect. No attention mark: there is nothing
 * to fix, and the group number may come back with a device after a rescan,
 * which a stale mark would block. The intent record (has_record) goes. */
static int finish_gone(SwitchContext *ctx, const GroupState *s, SwitchResult *r, int cause, const char *gone,
                       bool has_record) {
        size_t n = s->n_devices;
        int q;

        r->error = r->error ?: cause;
        r->outcome = SWITCH_OUTCOME_FAILED;
        r->needs_attention = false;
        r->all_bound = true; /* no device that had a driver is left */
        read_final(ctx, r);
        if (has_record) {
                q = intent_log_remove(ctx, s->group);
                if (q < 0)
                        log_warning_errno(q, "Failed to remove the intent record of group %u: %m", s->group);
                else
                        steps_add(&r->steps, "removed the intent record");
        }
        (void) set_message(r, "group %u: switch from %s to %s not done: the group's device%s %s %s gone "
                           "(hot-removed)%s; nothing is left to bind", s->group, type_name(r->from),
                           type_name(r->to), n == 1 ? "" : "s", gone, n == 1 ? "is" : "are",
                           r->final_type == GROUP_TYPE_UNKNOWN ? " and the group no longer exists" : "");
        log_warning("Group %u: %s", s->group, r->message ? r->message : "every device was hot-removed");
        return r->error;
}

static int switch_live(SwitchContext *ctx, const GroupState *s, SwitchResult *r) {
        char gone[512];
        const char *why;
        int q;

        q = group_write_type(ctx, s->group, r->to, s->n_devices, &r->steps);
        if ((q == -ENOENT || q == -ENODEV) && group_gone(ctx, s, gone, sizeof(gone)))
                return finish_gone(ctx, s, r, q, gone, false);
        read_final(ctx, r);
        r->all_bound = all_bound_again(ctx, s);
        steps_add(&r->steps, "group %u reads %s", s->group, r->final_raw);

        if (q < 0) {
                r->error = q;
                why = group_type_error_explain(q, s->n_devices);
                if (r->final_type == r->to) {
                        r->outcome = SWITCH_OUTCOME_DONE;
                        return set_message(r, "group %u: writing %s failed (%s), yet the group reads %s; drivers "
                                           "stayed bound", s->group, type_name(r->to), why ? why : strerror(-q),
                                           r->final_raw);
                }
                r->outcome = SWITCH_OUTCOME_FAILED;
                return set_message(r, "group %u: switch from %s to %s failed: %s; nothing was unbound and the group "
                                   "reads %s", s->group, type_name(r->from), type_name(r->to),
                                   why ? why : strerror(-q), r->final_raw);
        }
        finish_outcome(r);
        if (r->outcome == SWITCH_OUTCOME_DONE)
                return set_message(r, "group %u: switched from %s to %s live; drivers stayed bound", s->group,
                                   type_name(r->from), r->final_raw);
        return set_message(r, "group %u: the kernel accepted %s but the group reads %s: the flush queue could "
                           "not be set up, or the IOMMU does not defer flushes for this device; drivers "
                           "stayed bound", s->group, type_name(r->to), r->final_raw);
}

/* Updates the step in the intent record. Never fails: recovery goes by
 * what sysfs shows, not by the step, so the record written first is
 * enough; and a failure here (ENOMEM included) must not stop a switch
 * whose devices are unbound. */
static void intent_step(SwitchContext *ctx, IntentRecord *rec, IntentStep step) {
        int q;

        rec->step = step;
        q = intent_log_write(ctx, rec);
        if (q < 0)
                log_warning_errno(q, "Failed to update the intent record of group %u to \"%s\": %m", rec->group,
                                  intent_step_to_string(step));
}

/* Puts the old type back and binds every device: at most one attempt at
 * each action. Returns 0 when the group ended at the old type with every
 * device bound, else the first error, with *problems listing each failure
 * in words (as far as memory allows: the actions never depend on it). */
static int roll_back(SwitchContext *ctx, const GroupState *s, IntentRecord *rec, SwitchResult *r,
                     char ***problems) {
        bool any_bound = false;
        GroupType now;
        int q, first = 0;

        intent_step(ctx, rec, INTENT_STEP_ROLLING_BACK);
        steps_add(&r->steps, "rolling back to %s", type_name(r->from));

        /* When the type changed, devices bound again under the new type
         * must be unbound for the old type to be written. When it did not,
         * nothing is unbound: binding what is unbound is all there is. */
        if (group_read_type(ctx->sysfs_fd, s->group, &now, NULL, 0) < 0 || now != r->from) {
                for (size_t i = 0; i < s->n_devices; i++) {
                        const GroupDevice *d = s->devices + i;
                        _cleanup_free_ char *drv = NULL;

                        if (!d->is_pci) {
                                any_bound = any_bound || d->driver;
                                continue;
                        }
                        if (device_read_driver(ctx->sysfs_fd, d->name, &drv) < 0 || !drv)
                                continue;
                        if (!d->driver) {
                                any_bound = true; /* a driver appeared on a device we left alone */
                                continue;
                        }
                        q = device_unbind(ctx, d->name, drv, &r->steps);
                        if (q < 0) {
                                any_bound = true;
                                first = first ?: q;
                                log_error_errno(q, "Group %u: could not unbind %s from %s during rollback: %m",
                                                s->group, d->name, drv);
                                steps_add(problems, "could not unbind %s from %s: %s", d->name, drv, strerror(-q));
                        }
                }
                if (any_bound) {
                        first = first ?: -EBUSY;
                        steps_add(problems, "the old type %s cannot be written while a device is bound",
                                  type_name(r->from));
                } else {
                        q = group_write_type(ctx, s->group, r->from, s->n_devices, &r->steps);
                        if (q < 0) {
                                const char *why = group_type_error_explain(q, s->n_devices);

                                first = first ?: q;
                                log_error_errno(q, "Group %u: could not write the old type %s back: %m", s->group,
                                                type_name(r->from));
                                steps_add(problems, "could not write %s back: %s", type_name(r->from),
                                          why ? why : strerror(-q));
                        }
                }
        }

        /* Whatever happened to the type, every device gets its driver back. */
        for (size_t i = 0; i < s->n_devices; i++) {
                const GroupDevice *d = s->devices + i;

                q = device_bind_back(ctx, d->name, d->driver, &r->steps);
                if (q < 0) {
                        const char *why = bind_error_explain(q);

                        first = first ?: q;
                        log_error_errno(q, "Group %u: could not bind %s to %s again: %m", s->group, d->name,
                                        d->driver);
                        steps_add(problems, "could not bind %s to %s: %s", d->name, d->driver,
                                     why ? why : strerror(-q));
                }
        }

        read_final(ctx, r);
        r->all_bound = all_bound_again(ctx, s);
        if (!first && (r->final_type != r->from || !r->all_bound)) {
                first = -EIO;
                steps_add(problems, "after the rollback the group reads %s%s", r->final_raw,
                             r->all_bound ? "" : " and a device is without its driver");
        }
        return first;
}

/* Joins l with "; " into buf (no allocation). */
static const char *join_problems(char **l, char *buf, size_t size) {
        size_t len = 0;

        buf[0] = '\0';
        for (char **p = l; p && *p && len < size; p++)
                len += snprintf(buf + len, size - len, "%s%s", p != l ? "; " : "", *p);
        return buf;
}

/* A note on devices hot-removed while the rest of the group was switched:
 * "; 0000:02:00.1 is gone (hot-removed)", or "". */
static const char *gone_note(SwitchContext *ctx, const GroupState *s, char *buf, size_t size) {
        char names[512];
        size_t n = gone_members(ctx, s, names, sizeof(names));

        if (n == 0)
                buf[0] = '\0';
        else
                snprintf(buf, size, "; %s %s gone (hot-removed)", names, n == 1 ? "is" : "are");
        return buf;
}

/* The group cannot be left as it is: says so loudly and marks it. The mark
 * (attention-group-N.json) replaces the intent record; the switch refuses
 * the group until it is cleared. msg is in a buffer of the caller, so that
 * the mark does not hang on an allocation. */
static void mark_needs_attention(SwitchContext *ctx, const GroupState *s, IntentRecord *rec, SwitchResult *r,
                                 const char *msg) {
        int q;

        r->outcome = SWITCH_OUTCOME_NEEDS_ATTENTION;
        r->needs_attention = true;
        r->error = r->error ?: -EIO;
        (void) set_message(r, "%s", msg);
        log_error("%s", msg);
        q = intent_log_mark_attention(ctx, rec, msg);
        if (q < 0)
                log_error_errno(q, "Failed to record that group %u needs attention (the intent record stays "
                                "for the next start): %m", s->group);
}

/* After a failure at `what` with error `cause`: roll back and set the
 * outcome. Returns r->error. Never returns early: whatever fails here,
 * the rollback runs to its end and the outcome and the mark are set. */
static int fail_and_roll_back(SwitchContext *ctx, const GroupState *s, IntentRecord *rec, SwitchResult *r,
                              int cause, const char *what) {
        _cleanup_strv_free_ char **problems = NULL;
        char gone[512], note[600], text[2048], msg[4096];
        int q;

        r->error = r->error ?: cause;
        q = roll_back(ctx, s, rec, r, &problems);
        if (group_gone(ctx, s, gone, sizeof(gone)))
                /* The old type could not be written because the group went
                 * away with its devices. */
                return finish_gone(ctx, s, r, r->error, gone, true);
        gone_note(ctx, s, note, sizeof(note));
        if (q == 0) {
                r->outcome = SWITCH_OUTCOME_FAILED;
                q = intent_log_remove(ctx, s->group);
                if (q < 0)
                        log_warning_errno(q, "Failed to remove the intent record of group %u: %m", s->group);
                (void) set_message(r, "group %u: switch from %s to %s failed: %s; rolled back: the group reads "
                                   "%s and every device is bound%s", s->group, type_name(r->from),
                                   type_name(r->to), what, r->final_raw, note);
                return r->error;
        }

        join_problems(problems, text, sizeof(text));
        snprintf(msg, sizeof(msg), "group %u: switch from %s to %s failed: %s; the rollback failed too: %s%s. The "
                 "group reads %s. It needs attention and is left alone until the mark is cleared.",
                 s->group, type_name(r->from), type_name(r->to), what,
                 text[0] ? text : strerror(-q), note, r->final_raw);
        mark_needs_attention(ctx, s, rec, r, msg);
        return r->error;
}

/* After every bind said yes: each device that had a driver when the switch
 * began must have one now (binding one device can cost another its driver).
 * A device without one is probed once more (drivers_probe). Returns how many
 * are still without a driver, their names in buf, the first error in
 * *ret_error. */
static size_t reprobe_lost(SwitchContext *ctx, const GroupState *s, SwitchResult *r, char *buf, size_t size,
                           int *ret_error) {
        size_t n = 0, len = 0;

        buf[0] = '\0';
        *ret_error = 0;
        for (size_t i = 0; i < s->n_devices; i++) {
                const GroupDevice *d = s->devices + i;
                _cleanup_free_ char *now = NULL;
                int q;

                if (!d->driver || !d->is_pci)
                        continue;
                q = device_read_driver(ctx->sysfs_fd, d->name, &now);
                if (q == -ENODEV)
                        continue; /* hot-removed: nothing left to bind */
                if (q == 0 && now)
                        continue;
                log_warning("Group %u: %s is without its driver %s after binding back; probing it once more.",
                            s->group, d->name, d->driver);
                steps_add(&r->steps, "%s is without its driver %s after binding back; probing it once more",
                          d->name, d->driver);
                free(now);
                now = NULL;
                q = device_bind(ctx, d->name, NULL, &r->steps, &now);
                if (q == 0) {
                        if (now && !streq(now, d->driver))
                                steps_add(&r->steps, "%s is bound to %s, not %s as before", d->name, now,
                                          d->driver);
                        continue;
                }
                if (device_gone(ctx->sysfs_fd, d->name) > 0)
                        continue;
                *ret_error = *ret_error ?: q;
                log_error_errno(q, "Group %u: %s is without its driver %s after the switch, and probing it once "
                                "more did not bind it: %m", s->group, d->name, d->driver);
                if (len < size)
                        len += snprintf(buf + len, size - len, "%s%s (%s)", n ? ", " : "", d->name, d->driver);
                n++;
        }
        return n;
}

/* The intent record could not be written: nothing was unbound. The write
 * can fail after its rename (the directory fsync): the record is then in
 * place, and left behind it would make every later switch of the group be
 * refused until the next start. So it goes. */
static int not_started(SwitchContext *ctx, const GroupState *s, SwitchResult *r, int cause) {
        bool left = false;
        int q;

        r->error = cause;
        r->outcome = SWITCH_OUTCOME_FAILED;
        r->all_bound = true;
        log_error_errno(cause, "Group %u: could not write the intent record: %m", s->group);
        if (intent_log_exists(ctx, s->group) > 0) {
                q = intent_log_remove(ctx, s->group);
                /* The unlink may have happened even if the fsync after it
                 * failed: what counts is whether the file is there. */
                left = intent_log_exists(ctx, s->group) > 0;
                if (left)
                        log_error_errno(q, "Group %u: could not remove the intent record written in part: %m",
                                        s->group);
                else
                        steps_add(&r->steps, "removed the intent record, which was in place although writing it "
                                  "failed");
        }
        return set_message(r, "group %u: switch from %s to %s not started: the intent record could not be "
                           "written (%s); nothing was unbound%s", s->group, type_name(r->from), type_name(r->to),
                           strerror(-cause),
                           left ? "; the record is left behind and could not be removed, so the group is "
                                  "refused until the next start clears it" : "") ?: cause;
}

static int switch_rebind(SwitchContext *ctx, const GroupState *s, SwitchResult *r) {
        _cleanup_(intent_record_done) IntentRecord rec = {};
        char what[2048], gone[512], note[600];
        size_t what_len = 0;
        int q;

        rec = (IntentRecord) { .group = s->group, .old_type = r->from, .new_type = r->to,
                               .step = INTENT_STEP_UNBINDING };
        snprintf(rec.boot_id, sizeof(rec.boot_id), "%s", ctx->boot_id);
        rec.devices = calloc(s->n_devices, sizeof(IntentDevice));
        if (!rec.devices)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_devices; i++) {
                IntentDevice *d = rec.devices + rec.n_devices;

                if (!(d->bdf = strdup(s->devices[i].name)))
                        return -ENOMEM;
                rec.n_devices++;
                if (s->devices[i].driver && !(d->driver = strdup(s->devices[i].driver)))
                        return -ENOMEM;
        }

        q = intent_log_write(ctx, &rec);
        if (q < 0)
                return not_started(ctx, s, r, q);
        steps_add(&r->steps, "recorded the intent in intent-group-%u.json", s->group);

        /* From the first unbind on, every exit goes through the rollback
         * (fail_and_roll_back()) or the end below, and nothing returns early
         * on a failed allocation: the words are put together in buffers on
         * the stack, intent_step() only warns, and a bind that fails for
         * want of memory is a failed bind. */
        for (size_t i = 0; i < s->n_devices; i++) {
                const GroupDevice *d = s->devices + i;

                if (!d->driver)
                        continue;
                q = device_unbind(ctx, d->name, d->driver, &r->steps);
                if (q < 0) {
                        const char *why = bind_error_explain(q);

                        log_error_errno(q, "Group %u: could not unbind %s from %s: %m", s->group, d->name,
                                        d->driver);
                        snprintf(what, sizeof(what), "unbinding %s from %s failed: %s", d->name, d->driver,
                                 why ? why : strerror(-q));
                        return fail_and_roll_back(ctx, s, &rec, r, q, what);
                }
        }

        q = group_write_type(ctx, s->group, r->to, s->n_devices, &r->steps);
        if (q < 0) {
                const char *why = group_type_error_explain(q, s->n_devices);

                log_warning_errno(q, "Group %u: writing %s failed: %m", s->group, type_name(r->to));
                /* On the kernel the group's directory goes with its last
                 * device. */
                if ((q == -ENOENT || q == -ENODEV) && group_gone(ctx, s, gone, sizeof(gone)))
                        return finish_gone(ctx, s, r, q, gone, true);
                snprintf(what, sizeof(what), "%s", why ? why : strerror(-q));
                return fail_and_roll_back(ctx, s, &rec, r, q, what);
        }
        {
                GroupType t;
                char raw[32];

                if (group_read_type(ctx->sysfs_fd, s->group, &t, raw, sizeof(raw)) == 0)
                        steps_add(&r->steps, "group %u reads %s with the drivers unbound", s->group, raw);
        }
        intent_step(ctx, &rec, INTENT_STEP_REBINDING);

        what[0] = '\0';
        for (size_t i = 0; i < s->n_devices; i++) {
                const GroupDevice *d = s->devices + i;
                const char *why;

                q = device_bind_back(ctx, d->name, d->driver, &r->steps);
                if (q >= 0)
                        continue;
                why = bind_error_explain(q);
                r->error = r->error ?: q;
                log_warning_errno(q, "Group %u: could not bind %s to %s under %s: %m", s->group, d->name,
                                  d->driver, type_name(r->to));
                if (what_len < sizeof(what))
                        what_len += snprintf(what + what_len, sizeof(what) - what_len,
                                             "%sbinding %s to %s under %s failed: %s", what_len ? "; " : "",
                                             d->name, d->driver, type_name(r->to), why ? why : strerror(-q));
        }
        if (what_len > 0) /* a bind failed */
                return fail_and_roll_back(ctx, s, &rec, r, r->error, what);

        if (group_gone(ctx, s, gone, sizeof(gone)))
                /* Removed after the type was written. */
                return finish_gone(ctx, s, r, -ENODEV, gone, true);

        {
                char lost[1024];
                int error;
                size_t n_lost = reprobe_lost(ctx, s, r, lost, sizeof(lost), &error);

                read_final(ctx, r);
                if (n_lost > 0) {
                        char msg[2048];

                        r->all_bound = false;
                        r->error = r->error ?: (error ?: -ENODEV);
                        snprintf(msg, sizeof(msg), "group %u: switch from %s to %s: the group reads %s, but %s %s "
                                 "without %s driver after binding back and probing once more. It needs attention "
                                 "and is left alone until the mark is cleared.", s->group, type_name(r->from),
                                 type_name(r->to), r->final_raw, lost, n_lost == 1 ? "is" : "are",
                                 n_lost == 1 ? "its" : "their");
                        mark_needs_attention(ctx, s, &rec, r, msg);
                        return r->error;
                }
        }

        r->all_bound = true;
        steps_add(&r->steps, "group %u reads %s; every device is bound again", s->group, r->final_raw);
        q = intent_log_remove(ctx, s->group);
        if (q < 0)
                /* Harmless: the next start finds every device bound and
                 * removes it. */
                log_warning_errno(q, "Failed to remove the intent record of group %u: %m", s->group);
        else
                steps_add(&r->steps, "removed the intent record");

        /* All bound: OTHER_TYPE only means the kernel took the write and
         * the group reads another type. */
        finish_outcome(r);
        gone_note(ctx, s, note, sizeof(note));
        if (r->outcome == SWITCH_OUTCOME_DONE) {
                bool had_driver = false;

                for (size_t i = 0; i < s->n_devices; i++)
                        had_driver = had_driver || s->devices[i].driver;
                return set_message(r, "group %u: switched from %s to %s; %s%s", s->group, type_name(r->from),
                                   r->final_raw,
                                   had_driver ? "the drivers were unbound and bound again and every device is bound"
                                              : "no device had a driver, so none was unbound", note);
        }
        return set_message(r, "group %u: the kernel accepted %s but the group reads %s (a flush queue that could "
                           "not be set up leaves DMA); every device is bound%s", s->group, type_name(r->to),
                           r->final_raw, note);
}

int group_switch(SwitchContext *ctx, unsigned group, GroupType to, const SwitchOptions *opts,
                 SwitchResult *ret) {
        _cleanup_(group_state_done) GroupState s = {};
        int q;

        q = plan(ctx, group, to, opts, &s, ret);
        if (q < 0 || ret->outcome != SWITCH_OUTCOME_PLANNED) {
                if (q < 0 && ret->message)
                        log_debug("%s", ret->message);
                return q;
        }
        strv_free(ret->steps);
        ret->steps = NULL;

        log_info("Group %u: switching from %s to %s%s.", group, type_name(ret->from), type_name(to),
                 ret->needs_rebind ? " (unbinding its drivers)" : "");
        q = ret->needs_rebind ? switch_rebind(ctx, &s, ret) : switch_live(ctx, &s, ret);
        if (q == -ENOMEM && ret->outcome == SWITCH_OUTCOME_PLANNED)
                return q; /* before anything was unbound */

        /* The caller reports the outcome (with its journal fields). */
        switch (ret->outcome) {
        case SWITCH_OUTCOME_DONE:
                return 0;
        case SWITCH_OUTCOME_OTHER_TYPE:
                return -EOPNOTSUPP;
        case SWITCH_OUTCOME_FAILED:
                return ret->error ?: -EIO;
        case SWITCH_OUTCOME_NEEDS_ATTENTION:
                return ret->error ?: -EIO;
        default:
                return q;
        }
}
