/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon's persistent state: /var/lib/iommutuned/state.json (json-c).
 * Cumulative counters (so a restart never resets them), manual overrides,
 * a bounded switch history, and which groups the daemon changed against
 * the kernel's default.
 *
 * Written atomically: a temp file in the same directory, fsync, rename over
 * state.json, fsync of the directory. A state file that cannot be parsed,
 * or has an unknown version, is renamed aside (state.json.corrupt-<time>)
 * with a warning, and the daemon starts from an empty state.
 *
 * Groups are keyed by their first device's PCI address, which survives a
 * reboot where group numbers may not; the group number is kept as a hint.
 *
 * The file:
 *   {"version":1,
 *    "total":{<counters>},
 *    "units":[{"name":"dmar0","counters":{...},"unattributed":{...}}],
 *    "groups":[{"key":"0000:01:00.0","group_hint":7,"counters":{...},
 *               "override":{"mode":"lazy","until_realtime_ns":0} or null,
 *               "changed_from":"DMA" or null}],
 *    "history":[{"realtime_ns":...,"group":7,"key":"0000:01:00.0",
 *                "from":"DMA-FQ","to":"DMA","result":"switched"}]}
 * A 64-bit value is a JSON integer below 2^63 and a decimal string from
 * 2^63 on (json-c's integers are int64; larger JSON integers are refused,
 * as json-c clamps them silently); both forms are read.
 *
 * On load every field's type is checked; a bad one makes the whole file
 * corrupt, never a partial load. Fields this version does not know are
 * ignored. A counter missing from a counters object reads as 0, so a new
 * counter needs no new version; every other field is required ("override"
 * and "changed_from" may be null, as may the history's strings). A group
 * key or unit name that appears twice is corrupt. A history longer than
 * STATE_HISTORY_MAX keeps its newest entries. What state_save() writes,
 * state_load() reads back exactly.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_FILE_NAME "state.json"
#define STATE_FILE_VERSION 1
#define STATE_HISTORY_MAX 64
/* A state file larger than this is corrupt (and state_save refuses to
 * write one). */
#define STATE_FILE_MAX_SIZE (16u * 1024 * 1024)

/* Counters of one group, one unit, or the unattributed remainder. */
typedef struct StateCounters {
        uint64_t maps;
        uint64_t unmaps;
        uint64_t iotlb_invalidations;        /* iotlb_inv + p_iotlb_inv descriptors */
        uint64_t iotlb_page_selective;       /* of those, page-selective */
        uint64_t devtlb_invalidations;       /* dev_tlb_inv + p_dev_tlb_inv */
        uint64_t strict_model_invalidations; /* what strict mode would have cost (gather model) */
        uint64_t unpatched_model_invalidations; /* what the unpatched lazy driver would have cost */
        uint64_t avoided_vs_strict;
        uint64_t avoided_by_patch;
        uint64_t time_saved_ns;
        uint64_t unmaps_apportioned;         /* of unmaps, apportioned by I/O operations (estimated) */
        uint64_t avoided_apportioned;        /* of avoided_vs_strict, resting on apportioned unmaps */
        /* perf records the kernel dropped (ring full) per source: the
         * machine's figures are short by these; a lost record names no
         * group or unit, so only the machine's (total) counts them. */
        uint64_t unmap_records_lost;
        uint64_t qi_records_lost;
        uint64_t dma_records_lost;
} StateCounters;

typedef struct StateGroup {
        char *key;                  /* first device's PCI address */
        unsigned group_hint;        /* group number when last seen */
        StateCounters counters;
        /* A manual override: "strict", "lazy" or "auto" (NULL: none) until
         * until_realtime_ns (0: until cleared). Realtime, so it survives a
         * reboot correctly. */
        char *override_mode;
        uint64_t override_until_realtime_ns;
        /* The type the kernel had before the daemon first changed the group
         * (NULL: the daemon never changed it). */
        char *changed_from;
} StateGroup;

typedef struct StateUnit {
        char *name;                 /* dmar0, ivhd0, ... */
        StateCounters counters;     /* everything on the unit, attributed or not */
        StateCounters unattributed; /* the part no group could be given */
} StateUnit;

typedef struct StateSwitch {
        uint64_t realtime_ns;
        unsigned group;
        char *key;                  /* first device (NULL: unknown) */
        char *from, *to;            /* kernel type strings (NULL: unknown) */
        char *result;               /* words: "switched", "rolled back: ...", "needs attention: ..." */
} StateSwitch;

typedef struct DaemonState {
        StateGroup *groups;
        size_t n_groups;
        StateUnit *units;
        size_t n_units;
        StateCounters total;        /* the whole machine, unattributed included */
        StateSwitch history[STATE_HISTORY_MAX]; /* oldest first */
        size_t n_history;
        /* state_group()'s lookup index, not saved: the positions in groups[]
         * sorted by key (valid while n_by_key == n_groups, rebuilt
         * otherwise), and where the next lookup looks first (the entry after
         * the last one found: a tick asks for the groups in the order they
         * were added). */
        size_t *by_key;
        size_t n_by_key;
        size_t next_lookup;
} DaemonState;

/* Loads dir_fd/state.json (dir_fd: O_RDONLY|O_DIRECTORY). A missing file
 * gives an empty state and 0. A corrupt or unknown-version file (or
 * something at state.json that is not a regular file) is renamed aside to
 * state.json.corrupt-<realtime seconds> (".N" appended when that name is
 * taken), *ret is empty, and *ret_warning (when not NULL) says what
 * happened and where the file went; returns 0. Temp files left by an
 * interrupted save (state.json.tmp-*) are removed. *ret_warning is NULL
 * when there is nothing to warn about.
 *
 * Errors: -ENOMEM, and -errno when state.json exists but cannot be opened
 * or read (EACCES, EIO, ...): starting empty would overwrite it with reset
 * counters at the next save, so the caller must not save then. */
int state_load(int dir_fd, DaemonState *ret, char **ret_warning);

/* Pure, no file I/O (what state_load() uses; the fuzzing entry point).
 * Parses len bytes of text (need not be NUL-terminated) into *ret.
 * Returns 0; -EBADMSG when the text is corrupt; -EPROTONOSUPPORT when it
 * is a state file of another version; -ENOMEM. On an error *ret is empty
 * and *ret_error (when not NULL) says what is wrong, e.g.
 * "groups[2].counters.maps: not an unsigned 64-bit integer". */
int state_parse(const char *text, size_t len, DaemonState *ret, char **ret_error);

/* Pure: the state as JSON text (pretty-printed, ending in a newline).
 * Returns 0; -EINVAL when an override mode is not "strict", "lazy" or
 * "auto" or a group has no key or a unit no name (a file that would not
 * load back is never written); -ENOMEM. */
int state_to_json(const DaemonState *s, char **ret);

/* Writes s to dir_fd/state.json atomically (see atomic-file.h): temp file
 * state.json.tmp-<pid> (mode 0600), write, fsync, rename, fsync of the
 * directory. Every step goes through state_write_hook below, so tests can
 * fail any of them. Returns 0 or -errno (-EINVAL as state_to_json(),
 * -EFBIG past STATE_FILE_MAX_SIZE). On a failure up to the rename the old
 * file is untouched and no temp file is left; when only the directory
 * fsync fails, the new file is in place but may not survive a power loss,
 * and the next save tries again. */
int state_save(int dir_fd, const DaemonState *s);

/* Test hook: when set, called before each step of state_save() ("open",
 * "write", "fsync", "rename", "fsync-dir"); a negative return fails that
 * step with that errno. */
extern int (*state_write_hook)(const char *step);

/* Frees everything s holds; s is empty afterwards. */
void state_done(DaemonState *s);

/* Finds or adds (zeroed) the entry for a group/unit. state_group() sets
 * group_hint on the entry it finds too, as group numbers can change across
 * a reboot. state_group() costs O(1) when asked in the order the entries
 * were added and O(log n) otherwise (the index in DaemonState). NULL on ENOMEM, or EINVAL when key/name is NULL. Adding may
 * move the arrays: a pointer returned earlier is valid only until the
 * next add. */
StateGroup *state_group(DaemonState *s, const char *key, unsigned group_hint);
StateUnit *state_unit(DaemonState *s, const char *name);
/* Appends to the history, dropping the oldest past STATE_HISTORY_MAX.
 * Copies the strings (each may be NULL). 0 or -ENOMEM (history as it
 * was). */
int state_record_switch(DaemonState *s, uint64_t realtime_ns, unsigned group, const char *key, const char *from,
                        const char *to, const char *result);

/* Adds each counter of delta to acc, saturating at UINT64_MAX. */
void state_counters_add(StateCounters *acc, const StateCounters *delta);
