/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "group-lookup.h"
#include "util.h"

/* What the child reports: 0 and the gid, or -errno. */
typedef struct Answer {
        int error;
        gid_t gid;
} Answer;

static _Noreturn void child_look_up(const char *name, int fd) {
        struct group gr, *found = NULL;
        Answer a = {};
        char *buf = NULL;
        int q = ERANGE;

        /* A group with many members needs a larger buffer (ERANGE). */
        for (size_t size = 16384; q == ERANGE && size <= 16 * 1024 * 1024; size *= 2) {
                free(buf);
                if (!(buf = malloc(size)))
                        _exit(1);
                q = getgrnam_r(name, &gr, buf, size, &found);
        }
        if (q != 0)
                a.error = -q;
        else if (!found)
                a.error = -ENOENT;
        else
                a.gid = found->gr_gid;
        /* One write of a few bytes to a pipe is atomic. */
        _exit(write(fd, &a, sizeof(a)) == (ssize_t) sizeof(a) ? 0 : 1);
}

static int read_answer(int fd, Answer *ret) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;
        int q;

        do
                q = poll(&p, 1, GROUP_LOOKUP_TIMEOUT_MS);
        while (q < 0 && errno == EINTR);
        if (q < 0)
                return -errno;
        if (q == 0)
                return -ETIMEDOUT;
        do
                n = read(fd, ret, sizeof(*ret));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == (ssize_t) sizeof(*ret) ? 0 : -EIO; /* the child died before it answered */
}

int group_lookup_gid(const char *name, gid_t *ret) {
        int pipe_fd[2], status, q;
        Answer a;
        pid_t pid;

        if (isempty(name))
                return -EINVAL;
        if (pipe2(pipe_fd, O_CLOEXEC) < 0)
                return -errno;
        /* Nothing buffered is copied into the child, where an exit that
         * flushes (valgrind's, for one) would print it a second time. */
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                q = -errno;
                close(pipe_fd[0]);
                close(pipe_fd[1]);
                return q;
        }
        if (pid == 0) {
                close(pipe_fd[0]);
                child_look_up(name, pipe_fd[1]);
        }
        close(pipe_fd[1]);
        q = read_answer(pipe_fd[0], &a);
        close(pipe_fd[0]);
        if (q == -ETIMEDOUT)
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (q < 0)
                return q;
        if (a.error < 0)
                return a.error;
        *ret = a.gid;
        return 0;
}
