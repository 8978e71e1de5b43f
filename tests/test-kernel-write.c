/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one write gate: path checks, step numbering, the hooks (the write
 * hook, a failure at step N, SIGKILL at step N, both from the
 * environment), real writes to fixture files and the atomic replace in the
 * state directory, whole or streamed.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kernel-write.h"
#include "log.h"
#include "switch-sim.h"
#include "tap.h"
#include "util.h"

static unsigned hook_calls;
static int hook_answer;

static int counting_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path, const char *value) {
        hook_calls++;
        return hook_answer;
}

static void read_back(Sim *s, const char *rel, char *buf, size_t size) {
        int fd = openat(s->sys_fd, rel, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;

        buf[n > 0 ? n : 0] = '\0';
        if (fd >= 0)
                close(fd);
}

static void test_paths(void) {
        static const char *const bad_attr[] = { "/sys/kernel/x", "../x", "a/../b", "a/./b", "a//b", "", "a/", "." };
        static const char *const bad_state[] = { "a/b", ".hidden", "", "../x" };
        SwitchContext ctx;
        Sim s;

        sim_init(&s, 604);
        switch_context_init(&ctx, s.sys_fd, s.state_fd);
        for (size_t i = 0; i < ELEMENTSOF(bad_attr); i++)
                CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, bad_attr[i], "x") == -EINVAL, "attr path \"%s\" refused",
                      bad_attr[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad_state); i++) {
                CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, bad_state[i], "x") == -EINVAL,
                      "state name \"%s\" refused", bad_state[i]);
                CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_RENAME, "ok", bad_state[i]) == -EINVAL,
                      "rename to \"%s\" refused", bad_state[i]);
        }
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REMOVE, ".x.tmp", NULL) == 0, "a temp name may be removed");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "bus/pci/drivers_probe", NULL) == -EINVAL, "NULL value refused");
        CHECK(kernel_write(&ctx, _KERNEL_WRITE_KIND_MAX, "x", "x") == -EINVAL, "unknown kind refused");
        CHECK_INT(ctx.steps, 1, "refusals are not steps; the temp removal was");
        ctx.state_fd = -1;
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "x", "y") == -EBADF, "no state directory: -EBADF");
        sim_destroy(&s);
}

static void test_real_writes(void) {
        SwitchContext ctx;
        char buf[64];
        struct stat st;
        Sim s;

        sim_init(&s, 604);
        sim_add_group(&s, 3, "DMA-FQ");
        switch_context_init(&ctx, s.sys_fd, s.state_fd);
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "kernel/iommu_groups/3/type", "DMA") == 0, "write a fixture file");
        read_back(&s, "kernel/iommu_groups/3/type", buf, sizeof(buf));
        CHECK_STR(buf, "DMA", "truncated, then written (no \"DMA-FQ\" tail)");
        fchmodat(s.sys_fd, "kernel/iommu_groups/3/type", 0444, 0);
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "kernel/iommu_groups/3/type", "identity") == -EACCES,
              "no write bits: -EACCES, as kernfs says, even for root");
        read_back(&s, "kernel/iommu_groups/3/type", buf, sizeof(buf));
        CHECK_STR(buf, "DMA", "unchanged");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "kernel/iommu_groups/4/type", "DMA") == -ENOENT,
              "missing attribute: -ENOENT");

        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "intent-group-3.json", "{\"a\":1}\n") == 0, "replace");
        CHECK(sim_state_count(&s) == 1 && fstatat(s.state_fd, "intent-group-3.json", &st, 0) == 0 &&
              st.st_size == 8 && (st.st_mode & 0777) == 0600, "one file, 0600, no temp file");
        sim_write_state(&s, ".intent-group-3.json.tmp", "stale");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "intent-group-3.json", "{}\n") == 0 &&
              sim_state_count(&s) == 1, "a stale temp file does not get in the way");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_RENAME, "intent-group-3.json", "intent-group-3.json.corrupt") == 0 &&
              sim_state_exists(&s, "intent-group-3.json.corrupt"), "rename");
        sim_write_state(&s, "intent-group-3.json", "second");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_RENAME, "intent-group-3.json", "intent-group-3.json.corrupt") ==
                      -EEXIST && sim_state_exists(&s, "intent-group-3.json"),
              "rename onto an existing file: -EEXIST, nothing moved (evidence kept)");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REMOVE, "intent-group-3.json", NULL) == 0, "remove the second");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REMOVE, "intent-group-3.json.corrupt", NULL) == 0 &&
              sim_state_count(&s) == 0, "remove");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REMOVE, "intent-group-3.json", NULL) == 0, "remove absent: 0");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_RENAME, "nothing", "x") == -ENOENT, "rename absent: -ENOENT");
        sim_destroy(&s);
}

static void test_hooks(void) {
        SwitchContext ctx;
        char buf[64];
        Sim s;

        sim_init(&s, 604);
        sim_add_group(&s, 3, "DMA");
        switch_context_init(&ctx, s.sys_fd, s.state_fd);
        ctx.hook = counting_hook;

        hook_calls = 0;
        hook_answer = 1;
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "kernel/iommu_groups/3/type", "DMA-FQ") == 0 && hook_calls == 1,
              "hook carried it out");
        read_back(&s, "kernel/iommu_groups/3/type", buf, sizeof(buf));
        CHECK(streq(buf, "DMA\n"), "so nothing was written");
        hook_answer = -EBUSY;
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "kernel/iommu_groups/3/type", "DMA-FQ") == -EBUSY,
              "hook fails it");
        hook_answer = 0;
        CHECK(kernel_write(&ctx, KERNEL_WRITE_ATTR, "kernel/iommu_groups/3/type", "DMA-FQ") == 0, "hook lets it through");
        read_back(&s, "kernel/iommu_groups/3/type", buf, sizeof(buf));
        CHECK_STR(buf, "DMA-FQ", "written");
        CHECK_INT(ctx.steps, 3, "three steps");

        ctx.fail_at_step = 5;
        ctx.fail_errno = EPERM;
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "a", "1") == 0, "step 4 goes through");
        hook_calls = 0;
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "b", "1") == -EPERM && hook_calls == 0 &&
              !sim_state_exists(&s, "b"), "step 5 fails with EPERM, nothing written, hook not asked");
        CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "c", "1") == 0, "step 6 goes through");

        /* SIGKILL before step N: steps before it happened, N did not. */
        {
                pid_t pid;
                int status;

                fflush(stdout);
                pid = fork();
                if (pid == 0) {
                        SwitchContext c;

                        switch_context_init(&c, s.sys_fd, s.state_fd);
                        c.crash_at_step = 2;
                        kernel_write(&c, KERNEL_WRITE_STATE_REPLACE, "one", "1");
                        kernel_write(&c, KERNEL_WRITE_STATE_REPLACE, "two", "2");
                        _exit(0);
                }
                waitpid(pid, &status, 0);
                CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "killed by SIGKILL");
                CHECK(sim_state_exists(&s, "one") && !sim_state_exists(&s, "two"), "step 1 done, step 2 not");
        }
        /* SIGSTOP before step N: stopped with steps before it done and N
         * not; SIGCONT carries out N and the rest. */
        {
                pid_t pid;
                int status;
                bool three_while_stopped;

                fflush(stdout);
                pid = fork();
                if (pid == 0) {
                        SwitchContext c;

                        switch_context_init(&c, s.sys_fd, s.state_fd);
                        c.pause_at_step = 2;
                        kernel_write(&c, KERNEL_WRITE_STATE_REPLACE, "three", "3");
                        kernel_write(&c, KERNEL_WRITE_STATE_REPLACE, "four", "4");
                        _exit(0);
                }
                waitpid(pid, &status, WUNTRACED);
                CHECK(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP, "stopped by SIGSTOP");
                three_while_stopped = sim_state_exists(&s, "three") && !sim_state_exists(&s, "four");
                CHECK(three_while_stopped, "while stopped: step 1 done, step 2 not");
                kill(pid, SIGCONT);
                waitpid(pid, &status, 0);
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && sim_state_exists(&s, "four"),
                      "after SIGCONT: step 2 done, exit 0");
        }
        sim_destroy(&s);
}

static void test_env(void) {
        SwitchContext ctx;

        switch_context_init(&ctx, -1, -1);
        unsetenv("IOMMUTUNED_TEST_CRASH_AT_STEP");
        unsetenv("IOMMUTUNED_TEST_FAIL_AT_STEP");
        CHECK(switch_context_test_hooks_from_env(&ctx) == 0 && !ctx.crash_at_step && !ctx.fail_at_step, "unset: none");
        setenv("IOMMUTUNED_TEST_FAIL_AT_STEP", "3:EBUSY", 1);
        CHECK(switch_context_test_hooks_from_env(&ctx) == 1 && ctx.fail_at_step == 3 && ctx.fail_errno == EBUSY,
              "3:EBUSY");
        setenv("IOMMUTUNED_TEST_FAIL_AT_STEP", "2:13", 1);
        CHECK(switch_context_test_hooks_from_env(&ctx) == 1 && ctx.fail_errno == EACCES, "2:13");
        setenv("IOMMUTUNED_TEST_CRASH_AT_STEP", "7", 1);
        CHECK(switch_context_test_hooks_from_env(&ctx) == 1 && ctx.crash_at_step == 7, "crash at 7");
        static const char *const bad[] = { "3", "x:EBUSY", "0:EBUSY", "3:EWHAT", "3:", ":EBUSY", "3:-1" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SwitchContext c;

                switch_context_init(&c, -1, -1);
                setenv("IOMMUTUNED_TEST_FAIL_AT_STEP", bad[i], 1);
                CHECK(switch_context_test_hooks_from_env(&c) == -EINVAL && !c.fail_at_step && !c.crash_at_step,
                      "\"%s\" refused, nothing set", bad[i]);
        }
        unsetenv("IOMMUTUNED_TEST_FAIL_AT_STEP");
        setenv("IOMMUTUNED_TEST_CRASH_AT_STEP", "0", 1);
        CHECK(switch_context_test_hooks_from_env(&ctx) == -EINVAL, "crash at 0 refused");
        unsetenv("IOMMUTUNED_TEST_CRASH_AT_STEP");
        setenv("IOMMUTUNED_TEST_PAUSE_AT_STEP", "3", 1);
        CHECK(switch_context_test_hooks_from_env(&ctx) == 1 && ctx.pause_at_step == 3, "pause at 3");
        setenv("IOMMUTUNED_TEST_PAUSE_AT_STEP", "x", 1);
        CHECK(switch_context_test_hooks_from_env(&ctx) == -EINVAL, "pause at x refused");
        unsetenv("IOMMUTUNED_TEST_PAUSE_AT_STEP");

        CHECK(errno_from_name("EPERM") == EPERM && errno_from_name("ENODEV") == ENODEV &&
              errno_from_name("nope") == -EINVAL && errno_from_name(NULL) == -EINVAL, "errno names");
        CHECK_STR(errno_to_name(-EBUSY), "EBUSY", "errno_to_name");
}

static void test_kernel_info(void) {
        unsigned major = 0, minor = 0;
        SwitchContext ctx;
        char dir[256], path[300];
        FILE *f;
        int fd;

        CHECK(kernel_release_parse("6.1.0-13-amd64", &major, &minor) == 0 && major == 6 && minor == 1, "6.1.0-13-amd64");
        CHECK(kernel_release_parse("6.12.9", &major, &minor) == 0 && major == 6 && minor == 12, "6.12.9");
        CHECK(kernel_release_parse("six", &major, &minor) == -EINVAL, "garbage refused");

        snprintf(dir, sizeof(dir), "%s/kw-proc-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        CHECK(mkdtemp(dir) != NULL, "temp proc root");
        snprintf(path, sizeof(path), "%s/sys", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/sys/kernel", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/sys/kernel/random", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/sys/kernel/osrelease", dir);
        f = fopen(path, "we");
        fputs("6.4.0-1-amd64\n", f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", dir);
        f = fopen(path, "we");
        fputs("2f1e8c1e-0000-4000-8000-123456789abc\n", f);
        fclose(f);
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        switch_context_init(&ctx, -1, -1);
        CHECK(switch_context_read_kernel(&ctx, fd) == 0 && ctx.kernel_major == 6 && ctx.kernel_minor == 4 &&
              streq(ctx.boot_id, "2f1e8c1e-0000-4000-8000-123456789abc"), "read from a proc root");
        close(fd);
        unlink(path);
        snprintf(path, sizeof(path), "%s/sys/kernel/osrelease", dir);
        unlink(path);
        snprintf(path, sizeof(path), "rm -r '%s'", dir);
        (void) !system(path);
}

static const char *failing_part;

static int replace_part_hook(const char *part) {
        return failing_part && streq(part, failing_part) ? -EIO : 0;
}

static bool state_exists(Sim *s, const char *name) {
        return faccessat(s->state_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The replace hook sees each system call of a replace: a failure at any of
 * them up to the rename leaves the old file and no temp file. */
static void test_replace_hook(void) {
        static const char *const parts[] = { "open", "write", "fsync", "rename" };
        char buf[64];
        SwitchContext ctx;
        Sim s;

        sim_init(&s, 605);
        switch_context_init(&ctx, s.sys_fd, s.state_fd);
        ctx.replace_hook = replace_part_hook;
        CHECK_INT(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "f.json", "old"), 0, "a replace");
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                int fd;
                ssize_t n;

                failing_part = parts[i];
                CHECK(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "f.json", "new") == -EIO,
                      "a replace failed at its %s", parts[i]);
                fd = openat(s.state_fd, "f.json", O_RDONLY | O_CLOEXEC);
                n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
                buf[n > 0 ? n : 0] = '\0';
                if (fd >= 0)
                        close(fd);
                CHECK(streq(buf, "old") && !state_exists(&s, ".f.json.tmp"),
                      "... leaves the old file (%s) and no temp file", buf);
        }
        failing_part = "fsync-dir";
        CHECK_INT(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "f.json", "new"), -EIO,
                  "a replace failed at its directory fsync");
        failing_part = NULL;
        sim_destroy(&s);
}

static void read_state(Sim *s, const char *name, char *buf, size_t size) {
        int fd = openat(s->state_fd, name, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;

        buf[n > 0 ? n : 0] = '\0';
        if (fd >= 0)
                close(fd);
}

typedef struct Fill {
        unsigned calls;
        int fail_after_part; /* -errno after the first part; 0: none */
} Fill;

/* Writes its contents in three parts, as a stream would. */
static int fill_in_parts(int fd, void *userdata) {
        static const char *const parts[] = { "{\"a\":", "1", "}\n" };
        Fill *f = userdata;

        f->calls++;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                if (write(fd, parts[i], strlen(parts[i])) != (ssize_t) strlen(parts[i]))
                        return -EIO;
                if (f->fail_after_part)
                        return f->fail_after_part;
        }
        return 0;
}

static const char *seen_value;
static KernelWriteKind seen_kind;

static int seeing_hook(void *userdata, unsigned step, KernelWriteKind kind, const char *path, const char *value) {
        hook_calls++;
        seen_kind = kind;
        seen_value = value;
        return hook_answer;
}

/* A streamed replace (state.json's save) is one replace step of the
 * writer: the same checks, numbering, hooks and temp file as a replace of
 * a whole text; its contents come from the fill callback. */
static void test_replace_streamed(void) {
        char buf[64];
        SwitchContext ctx;
        Fill fill = {};
        Sim s;

        sim_init(&s, 607);
        switch_context_init(&ctx, s.sys_fd, -1);
        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", fill_in_parts, &fill), -EBADF,
                  "no state directory: -EBADF");
        switch_context_init(&ctx, s.sys_fd, s.state_fd);
        CHECK_INT(kernel_write_replace_streamed(&ctx, "a/b", fill_in_parts, &fill), -EINVAL, "a slash: -EINVAL");
        CHECK_INT(kernel_write_replace_streamed(&ctx, ".s.json.tmp", fill_in_parts, &fill), -EINVAL,
                  "a hidden name: -EINVAL");
        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", NULL, NULL), -EINVAL, "no fill: -EINVAL");
        CHECK(ctx.steps == 0 && fill.calls == 0, "refused before a step, nothing filled");

        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", fill_in_parts, &fill), 0, "a streamed replace");
        read_state(&s, "s.json", buf, sizeof(buf));
        CHECK_STR(buf, "{\"a\":1}\n", "... holds every part the fill wrote");
        CHECK(ctx.steps == 1 && fill.calls == 1 && !state_exists(&s, ".s.json.tmp"),
              "... one step, one fill, no temp file left");

        ctx.hook = seeing_hook;
        hook_answer = -EPERM;
        hook_calls = 0;
        CHECK_INT(kernel_write_replace_streamed(&ctx, "t.json", fill_in_parts, &fill), -EPERM,
                  "the write hook fails it");
        CHECK(hook_calls == 1 && seen_kind == KERNEL_WRITE_STATE_REPLACE && !seen_value,
              "... the hook saw a replace with no value");
        CHECK(fill.calls == 1 && !state_exists(&s, "t.json"), "... nothing filled, nothing written");
        hook_answer = 1;
        CHECK_INT(kernel_write_replace_streamed(&ctx, "t.json", fill_in_parts, &fill), 0,
                  "the write hook carries it out");
        CHECK(fill.calls == 1 && !state_exists(&s, "t.json"), "... so the writer does not");
        hook_answer = 0;
        ctx.hook = NULL;

        ctx.fail_at_step = ctx.steps + 1;
        ctx.fail_errno = EROFS;
        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", fill_in_parts, &fill), -EROFS,
                  "the test hook fails the step");
        ctx.fail_at_step = 0;
        CHECK(fill.calls == 1 && ctx.steps == 4, "... before the fill, and it counts as a step");

        fill.fail_after_part = -ENOSPC;
        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", fill_in_parts, &fill), -ENOSPC,
                  "a fill that fails half-way: its error");
        read_state(&s, "s.json", buf, sizeof(buf));
        CHECK(streq(buf, "{\"a\":1}\n") && !state_exists(&s, ".s.json.tmp"),
              "... leaves the old file (%s) and no temp file", buf);
        fill.fail_after_part = 0;

        ctx.replace_hook = replace_part_hook;
        failing_part = "write";
        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", fill_in_parts, &fill), -EIO,
                  "the replace hook fails its write");
        CHECK(fill.calls == 2 && !state_exists(&s, ".s.json.tmp"), "... before the fill, no temp file left");
        failing_part = "rename";
        CHECK_INT(kernel_write_replace_streamed(&ctx, "s.json", fill_in_parts, &fill), -EIO,
                  "the replace hook fails its rename");
        CHECK(fill.calls == 3 && !state_exists(&s, ".s.json.tmp"), "... after the fill, no temp file left");
        failing_part = NULL;
        sim_destroy(&s);
}

/* Moving a file aside: never over an earlier copy, one step. */
static void test_move_aside(void) {
        char aside[64];
        SwitchContext ctx;
        Sim s;

        sim_init(&s, 606);
        switch_context_init(&ctx, s.sys_fd, s.state_fd);
        CHECK_INT(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "x.json", "1"), 0, "x.json written");
        CHECK_INT(kernel_write_move_aside(&ctx, "x.json", "x.json.corrupt", aside, sizeof(aside)), 0, "moved aside");
        CHECK_STR(aside, "x.json.corrupt", "... to the name asked for");
        CHECK_INT(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "x.json", "2"), 0, "x.json written again");
        CHECK_INT(kernel_write_move_aside(&ctx, "x.json", "x.json.corrupt", aside, sizeof(aside)), 0, "moved aside");
        CHECK_STR(aside, "x.json.corrupt.1", "... next to the earlier copy, never over it");
        CHECK(state_exists(&s, "x.json.corrupt") && !state_exists(&s, "x.json"), "the earlier copy stays");
        CHECK_INT(ctx.steps, 4, "each move is one step (a name taken costs none)");
        ctx.fail_at_step = 5;
        ctx.fail_errno = EROFS;
        CHECK_INT(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "x.json", "3"), -EROFS, "the test hook fails step 5");
        ctx.fail_at_step = 0;
        CHECK_INT(kernel_write(&ctx, KERNEL_WRITE_STATE_REPLACE, "x.json", "3"), 0, "step 6 writes");
        ctx.fail_at_step = 7;
        CHECK_INT(kernel_write_move_aside(&ctx, "x.json", "x.json.corrupt", aside, sizeof(aside)), -EROFS,
                  "a move the test hook fails: its error");
        CHECK(state_exists(&s, "x.json") && !state_exists(&s, "x.json.corrupt.2"), "... and nothing moved");
        sim_destroy(&s);
}

int main(void) {
        log_set_max_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT);

        test_paths();
        test_real_writes();
        test_hooks();
        test_env();
        test_kernel_info();
        test_replace_hook();
        test_replace_streamed();
        test_move_aside();
        return tap_done();
}
