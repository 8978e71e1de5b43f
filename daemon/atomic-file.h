/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Replacing a file so that a crash or power loss at any moment leaves
 * either the old contents or the new ones, never a mix: write a temp file
 * in the same directory, fsync it, rename it over the file, fsync the
 * directory.
 */

#include <stddef.h>

/* Test hook: called before each step with its name ("open", "write",
 * "fsync", "rename", "fsync-dir"); a negative return fails that step with
 * that errno, as if the system call had. */
typedef int (*AtomicWriteHook)(const char *step);

/* Writes data (len bytes) to dir_fd/name through the temp file tmp in the
 * same directory (the writer's ".NAME.tmp", kernel_write_temp_name(),
 * which recovery and state_load() know to clean up): a leftover of that
 * name is stale (one writer holds the state directory's lock) and is
 * replaced. dir_fd must be opened for reading (O_RDONLY|O_DIRECTORY, not
 * O_PATH): fsync needs it. name and tmp are plain file names (no slash);
 * the temp file is mode 0600. Short writes and EINTR are retried. Only the
 * writer (kernel-write.h) calls this.
 *
 * Returns 0, or -errno of the step that failed: -EINVAL for a bad name.
 * A failure up to and including the rename leaves dir_fd/name untouched
 * and no temp file behind. A failure of the directory fsync comes after
 * the rename: the new file is in place, but may not survive a power loss;
 * the caller should write again later. hook may be NULL. */
int atomic_write_file_via(int dir_fd, const char *name, const char *tmp, const void *data, size_t len,
                          AtomicWriteHook hook);

/* Fills the temp file: writes everything to fd (do not close it) and
 * returns 0, or -errno (the replace fails with it, as a failed write). */
typedef int (*AtomicFill)(int fd, void *userdata);

/* The same as atomic_write_file_via(), with the contents written by fill as
 * it produces them (at the "write" step) rather than from one buffer: a
 * large file (state.json) needs no copy of itself in memory. Only the
 * writer (kernel_write_replace_streamed()) calls this. */
int atomic_write_file_streamed(int dir_fd, const char *name, const char *tmp, AtomicFill fill, void *userdata,
                               AtomicWriteHook hook);
