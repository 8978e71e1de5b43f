/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The one gate every write of the daemon passes: writes to sysfs
 * attributes (a group's type, a driver's bind/unbind, drivers_probe), to
 * debugfs (below the sysfs root, kernel/debug/: VT-d's dmar_perf_latency,
 * dmar-latency.h) and every change in the state directory (the intent
 * records and marks, intent-log.h; state.json and moving a corrupt file
 * aside, state-file.h). Nothing else in the daemon writes to the kernel or
 * to its state directory. Outside this gate, and outside those places, the
 * daemon creates only the state directory itself and the socket's
 * runtime directory when run by hand (mkdir_parents(), where systemd's
 * StateDirectory= and RuntimeDirectory= would), and its sockets
 * (control.h).
 *
 * Each write is a numbered step (1, 2, ... over the life of a context).
 * A context is one job's sequence of writes: the Manager's switch context
 * (switches, recovery, attention marks) is the one the environment's hooks
 * are set on, so step N names the same write of a switch whatever else the
 * daemon wrote; a state.json load or save and the debugfs timing each use
 * a context of their own.
 * Before a step is carried out:
 *   - the test-only crash hook stops the process with SIGKILL when the step
 *     is crash_at_step (a "kill -9 at step N" without a second process);
 *   - the test-only failure hook fails the step with fail_errno when it is
 *     fail_at_step, without writing;
 *   - the test-only pause hook stops the process with SIGSTOP when the step
 *     is pause_at_step, so a test can change the machine under a running
 *     switch (remove a device) and let it go on with SIGCONT;
 *   - the write hook, when set, sees the step and may fail it, let it
 *     happen, or carry it out itself (tests model the kernel this way).
 * A replace is itself several system calls; the test-only replace hook
 * sees each of them ("open", "write", "fsync", "rename", "fsync-dir",
 * atomic-file.h) and may fail it.
 * The test-only hooks can come from the environment
 * (switch_context_test_hooks_from_env()), so the test bed can kill or fail
 * the real daemon at any step.
 *
 * Paths are relative: sysfs and debugfs paths to the sysfs root
 * ("kernel/iommu_groups/7/type", "kernel/debug/iommu/intel/
 * dmar_perf_latency"), state file names to the state directory
 * ("intent-group-7.json", no slash). An absolute path, "..", or a slash in
 * a state name is refused.
 */

#include <stdbool.h>
#include <stddef.h>

#include "atomic-file.h"

typedef enum KernelWriteKind {
        KERNEL_WRITE_ATTR,          /* write value to the sysfs or debugfs attribute path */
        KERNEL_WRITE_STATE_REPLACE, /* replace state file path with value: temp file (kernel_write_temp_name()),
                                     * fsync, rename, fsync dir; streamed: kernel_write_replace_streamed() */
        KERNEL_WRITE_STATE_REMOVE,  /* remove state file path (absent is fine; ".NAME.tmp" allowed), fsync dir */
        KERNEL_WRITE_STATE_RENAME,  /* rename state file path to value, never over an existing
                                     * value (-EEXIST: evidence is kept), fsync dir */
        _KERNEL_WRITE_KIND_MAX,
} KernelWriteKind;

/* Called before every step. Returns 0 to let the write happen, 1 when the
 * hook carried it out itself, or -errno to fail the step with that errno
 * (nothing is written). */
typedef int (*KernelWriteHook)(void *userdata, unsigned step, KernelWriteKind kind, const char *path,
                               const char *value);

typedef struct SwitchContext {
        int sysfs_fd;             /* the sysfs root ("/sys"); borrowed, not closed here */
        int state_fd;             /* the state directory, O_RDONLY|O_DIRECTORY (fsync needs it); -1: none */
        char boot_id[40];         /* proc sys/kernel/random/boot_id, "" when unknown */
        unsigned kernel_major;    /* from osrelease; 0 when unknown */
        unsigned kernel_minor;
        unsigned steps;           /* steps begun so far */
        KernelWriteHook hook;
        void *hook_userdata;
        unsigned crash_at_step;   /* test only: SIGKILL before this step; 0: never */
        unsigned fail_at_step;    /* test only: fail this step with fail_errno; 0: never */
        unsigned pause_at_step;   /* test only: SIGSTOP before this step, to go on at SIGCONT; 0: never */
        int fail_errno;           /* positive */
        AtomicWriteHook replace_hook; /* test only: sees each system call of a replace; NULL: none */
} SwitchContext;

/* Sets up a context over borrowed fds. state_fd may be -1: switches that
 * need an intent record are then refused. */
void switch_context_init(SwitchContext *ctx, int sysfs_fd, int state_fd);

/* Reads the boot id and the kernel release from a proc root fd. Missing
 * files leave the fields unknown; returns 0, or -errno when proc_fd is bad. */
int switch_context_read_kernel(SwitchContext *ctx, int proc_fd);

/* Parses "6.1.0-13-amd64" into major and minor; -EINVAL when it is not. */
int kernel_release_parse(const char *release, unsigned *ret_major, unsigned *ret_minor);

/* Reads IOMMUTUNED_TEST_CRASH_AT_STEP=N, IOMMUTUNED_TEST_PAUSE_AT_STEP=N and
 * IOMMUTUNED_TEST_FAIL_AT_STEP=N:ERRNO
 * (ERRNO a name like EBUSY or a number). Returns 1 when a hook was set, 0
 * when none of the variables is set, -EINVAL for a malformed value (nothing set). */
int switch_context_test_hooks_from_env(SwitchContext *ctx);

/* The one write function. Runs the step (see above) and returns 0 or
 * -errno. For KERNEL_WRITE_ATTR a file without any write permission bit
 * gives -EACCES even for root, as the kernel's kernfs does for an
 * attribute without a store method (a type file before 5.11); a regular
 * file that is not on sysfs (a fixture) is truncated before the write. */
int kernel_write(SwitchContext *ctx, KernelWriteKind kind, const char *path, const char *value);

/* A KERNEL_WRITE_STATE_REPLACE step of state file name whose contents fill
 * writes into the temp file as it produces them (atomic-file.h's
 * AtomicFill, at the replace's "write"), for a file too large to hold
 * whole in memory (state.json). The same step as kernel_write()'s replace:
 * the same temp file, counting, test hooks and replace hook; the write
 * hook sees it with value NULL (a hook that carries it out itself has no
 * contents to write). Returns 0 or -errno, fill's own -errno included;
 * -EINVAL for a bad name or no fill, -EBADF without a state directory. */
int kernel_write_replace_streamed(SwitchContext *ctx, const char *name, AtomicFill fill, void *userdata);

/* Moves state file name aside, to aside, or when that is taken to
 * "<aside>.1", "<aside>.2", ... (never over an earlier one: that is
 * evidence too), one KERNEL_WRITE_STATE_RENAME step. ret_aside (size
 * bytes) receives the name it went to. Returns 0, -EEXIST when the first
 * 1000 names are all taken, -ENAMETOOLONG, or the rename's -errno. */
int kernel_write_move_aside(SwitchContext *ctx, const char *name, const char *aside, char *ret_aside,
                            size_t size);

/* The temp file a replace of state file name writes first: ".NAME.tmp"
 * (hidden; KERNEL_WRITE_STATE_REMOVE takes it, to clean up after a replace
 * that was stopped half-way). */
void kernel_write_temp_name(const char *name, char *buf, size_t size);

/* "write", "replace", "remove", "rename". */
const char *kernel_write_kind_to_string(KernelWriteKind kind);

/* Maps "EBUSY" or "16" to 16; -EINVAL when unknown. */
int errno_from_name(const char *s);
/* "EBUSY" for 16; NULL when not one of the names known here. */
const char *errno_to_name(int error);
