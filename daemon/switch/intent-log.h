/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The intent record of a group switch that unbinds drivers, kept in the
 * state directory so that a daemon killed half-way leaves no device
 * unbound once it starts again.
 *
 * intent-group-N.json is written (temp file, fsync, rename, fsync of the
 * directory) before the first unbind and removed when the switch is over:
 *   {"version":1,"group":7,"old_type":"DMA-FQ","new_type":"DMA",
 *    "devices":[{"bdf":"0000:01:00.0","driver":"nvme"}],
 *    "step":"unbinding","boot_id":"..."}
 * A device with "driver":null had none when the switch began and is left
 * alone.
 *
 * attention-group-N.json (same format, step "needs-attention", plus
 * "message") marks a group whose switch could not be undone; the switch
 * refuses that group until the mark is cleared, so nothing retries in a
 * loop. Status shows these.
 *
 * Recovery at start reads these records: recovery.h.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernel-write.h"
#include "topology.h"

#define INTENT_LOG_VERSION 1
/* An intent file larger than this is corrupt. */
#define INTENT_LOG_MAX_SIZE (64 * 1024)
#define INTENT_LOG_MAX_DEVICES 256

typedef enum IntentStep {
        INTENT_STEP_UNBINDING,       /* unbinding, then writing the type */
        INTENT_STEP_REBINDING,       /* the type write was accepted; binding back */
        INTENT_STEP_ROLLING_BACK,    /* something failed; putting the old type back */
        INTENT_STEP_NEEDS_ATTENTION, /* rollback failed (attention-group-N.json only) */
        _INTENT_STEP_MAX,
        _INTENT_STEP_INVALID = -EINVAL,
} IntentStep;

typedef struct IntentDevice {
        char *bdf;
        char *driver; /* NULL: had no driver when the switch began */
} IntentDevice;

typedef struct IntentRecord {
        unsigned group;
        GroupType old_type, new_type;
        IntentDevice *devices;
        size_t n_devices;
        IntentStep step;
        char boot_id[40];  /* "" when unknown */
        char *message;     /* NEEDS_ATTENTION: what is wrong, in words */
} IntentRecord;

void intent_record_done(IntentRecord *r);

const char *intent_step_to_string(IntentStep s); /* "unbinding", ... */
IntentStep intent_step_from_string(const char *s);

/* Pure: the record as JSON text (one line and a newline); NULL on ENOMEM. */
char *intent_record_to_json(const IntentRecord *r);
/* Pure: parses and checks a record (version, known types and step, device
 * and driver names safe for a path, at most INTENT_LOG_MAX_DEVICES). Returns
 * 0, -EBADMSG with *ret_error (may be NULL) saying what is wrong, or
 * -ENOMEM. On -EBADMSG, *ret holds what could be read: group (or 0),
 * devices whose names were valid. */
int intent_record_from_json(const char *text, IntentRecord *ret, char **ret_error);

/* Writes intent-group-N.json atomically. */
int intent_log_write(SwitchContext *ctx, const IntentRecord *r);
/* Removes intent-group-N.json (absent is fine). */
int intent_log_remove(SwitchContext *ctx, unsigned group);
/* 1 when intent-group-N.json exists, 0 when not. */
int intent_log_exists(SwitchContext *ctx, unsigned group);

/* Writes attention-group-N.json from r with message, then removes the
 * intent record. */
int intent_log_mark_attention(SwitchContext *ctx, const IntentRecord *r, const char *message);
/* 1 and the message (may be NULL) when group is marked, 0 when not. */
int intent_log_attention(SwitchContext *ctx, unsigned group, char **ret_message);
/* Clears the mark (after an administrator fixed the group). */
int intent_log_clear_attention(SwitchContext *ctx, unsigned group);
/* Every group marked, sorted by group; *ret_n records. */
int intent_log_list_attention(SwitchContext *ctx, IntentRecord **ret, size_t *ret_n);
void intent_records_free(IntentRecord *r, size_t n);

/* Reads and checks the record in state file name (intent-group-N.json or
 * attention-group-N.json) with read_regular_file_at() (never blocks):
 * as intent_record_from_json(); a file too large, a FIFO or a link is
 * -EBADMSG with *ret_error (may be NULL) saying so; -ENOENT; -ENOMEM. */
int intent_log_read(SwitchContext *ctx, const char *name, IntentRecord *ret, char **ret_error);
/* Whether name is "<prefix><N>.json" (prefix "intent-group-" or
 * "attention-group-"); *ret the group N. */
bool intent_log_name_to_group(const char *name, const char *prefix, unsigned *ret);
