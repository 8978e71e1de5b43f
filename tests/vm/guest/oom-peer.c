/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * oom-peer SOCKET CGROUPS-JSON: the service manager's side of
 * io.systemd.ManagedOOM for a guest without systemd, so that systemd-oomd
 * runs there as it does under PID 1. systemd-oomd connects to
 * /run/systemd/io.system.ManagedOOM on its first timer tick and calls
 * SubscribeManagedOOMCGroups with "more"; when it cannot connect, the
 * timer's handler fails and the event loop exits (the timers are set
 * exit-on-failure in systemd 252), so without a peer it does not run.
 *
 * Listens on SOCKET; to every call on every connection it answers
 * {"parameters":{"cgroups":CGROUPS-JSON},"continues":true} (a varlink
 * message ends with a NUL byte) and keeps the connection open, as PID 1
 * does between unit changes. CGROUPS-JSON is the array PID 1 would send,
 * e.g. [{"mode":"kill","path":"/","property":"ManagedOOMSwap"}]. Runs until
 * killed; prints one line per call it answered.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 16

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "oom-peer: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, MAX_CLIENTS) < 0) {
		fprintf(stderr, "oom-peer: cannot listen on %s: %s\n", path, strerror(errno));
		return -1;
	}
	return fd;
}

/* answer_calls: one reply per NUL-terminated call read from FD; 0 while the
 * connection stays open, -1 once the peer closed it or it failed. */
static int answer_calls(int fd, const char *reply, size_t reply_len)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0)
		return -1;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\0')
			continue;
		if (write(fd, reply, reply_len) != (ssize_t)reply_len)
			return -1;
		printf("oom-peer: answered a call\n");
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pollfd fds[1 + MAX_CLIENTS];
	char reply[4096];
	int nfds = 1, len;

	if (argc != 3) {
		fprintf(stderr, "usage: oom-peer SOCKET CGROUPS-JSON\n");
		return 2;
	}
	len = snprintf(reply, sizeof(reply), "{\"parameters\":{\"cgroups\":%s},\"continues\":true}", argv[2]);
	if (len < 0 || (size_t)len >= sizeof(reply)) {
		fprintf(stderr, "oom-peer: CGROUPS-JSON too long\n");
		return 2;
	}
	fds[0].fd = listen_on(argv[1]);
	if (fds[0].fd < 0)
		return 1;
	fds[0].events = POLLIN;
	for (;;) {
		if (poll(fds, nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("oom-peer: poll");
			return 1;
		}
		for (int i = nfds - 1; i >= 1; i--) {
			if (!fds[i].revents)
				continue;
			/* The reply includes its terminating NUL. */
			if (answer_calls(fds[i].fd, reply, (size_t)len + 1) < 0) {
				close(fds[i].fd);
				fds[i] = fds[--nfds];
			}
		}
		if ((fds[0].revents & POLLIN) && nfds < 1 + MAX_CLIENTS) {
			int c = accept4(fds[0].fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0)
				fds[nfds++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
	}
}
