/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sock-flood: stresses iommutuned's control socket from inside the guest.
 *
 *   sock-flood SOCKET malformed N     N malformed lines of assorted kinds on
 *                                     one connection; every one must get an
 *                                     error reply naming the problem, and a
 *                                     valid request after them an ok reply
 *   sock-flood SOCKET clients N SECS  N concurrent connections, each sending
 *                                     status requests one after another for
 *                                     SECS seconds; prints round trips,
 *                                     median and p99 latency
 *
 * Exits 0 only when every request got the reply it should. Static, no
 * JSON library: replies are recognised by their "ok" member.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024

static double now_ms(void) {
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_to(const char *path) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

static int write_all(int fd, const char *s, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t) w;
	}
	return 0;
}

/* Reads one reply line into buf; returns its length or -1. */
static int read_line(int fd, char *buf, size_t size, char *pending, size_t *plen) {
	for (;;) {
		char *nl = memchr(pending, '\n', *plen);
		ssize_t r;

		if (nl) {
			size_t l = (size_t) (nl - pending);

			if (l >= size)
				l = size - 1;
			memcpy(buf, pending, l);
			buf[l] = '\0';
			memmove(pending, nl + 1, *plen - (size_t) (nl - pending) - 1);
			*plen -= (size_t) (nl - pending) + 1;
			return (int) l;
		}
		if (*plen >= 1 << 20)
			return -1;
		r = read(fd, pending + *plen, (1 << 20) - *plen);
		if (r <= 0)
			return -1;
		*plen += (size_t) r;
	}
}

static int malformed(const char *path, long n) {
	static const char *const bad[] = {
		"not json at all",
		"{\"v\":1,\"cmd\":",
		"{\"v\":2,\"cmd\":\"status\"}",
		"{\"v\":1,\"cmd\":\"frobnicate\"}",
		"{\"cmd\":\"status\"}",
		"[1,2,3]",
		"{\"v\":1,\"cmd\":\"show\",\"target\":\"../../etc/passwd\"}",
		"{\"v\":1,\"cmd\":\"set\",\"target\":\"1\",\"type\":\"identity\"}",
	};
	static char pending[1 << 20];
	char big[8192], reply[4096];
	size_t plen = 0;
	long errors = 0, sent = 0;
	int fd = connect_to(path);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (long i = 0; i < n; i++) {
		const char *line = i % 100 == 99 ? big : bad[i % (sizeof(bad) / sizeof(bad[0]))];

		if (write_all(fd, line, strlen(line)) < 0 || write_all(fd, "\n", 1) < 0)
			return fprintf(stderr, "sock-flood: write failed after %ld lines\n", i), 1;
		sent++;
		/* Read as we go so neither side's buffer fills. */
		while (sent - errors > 64) {
			if (read_line(fd, reply, sizeof(reply), pending, &plen) < 0)
				return fprintf(stderr, "sock-flood: connection lost after %ld errors\n", errors), 1;
			if (!strstr(reply, "\"ok\":false") || !strstr(reply, "\"error\":"))
				return fprintf(stderr, "sock-flood: not an error reply: %s\n", reply), 1;
			errors++;
		}
	}
	while (errors < sent) {
		if (read_line(fd, reply, sizeof(reply), pending, &plen) < 0)
			return fprintf(stderr, "sock-flood: connection lost after %ld errors\n", errors), 1;
		if (!strstr(reply, "\"ok\":false"))
			return fprintf(stderr, "sock-flood: not an error reply: %s\n", reply), 1;
		errors++;
	}
	write_all(fd, "{\"v\":1,\"cmd\":\"status\"}\n", 23);
	if (read_line(fd, reply, sizeof(reply), pending, &plen) < 0 || !strstr(reply, "\"ok\":true"))
		return fprintf(stderr, "sock-flood: no ok reply after the flood\n"), 1;
	printf("sock-flood: %ld malformed lines, %ld error replies, then status ok on the same connection\n", sent,
	       errors);
	return 0;
}

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *) a, y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static int clients(const char *path, int n, double secs) {
	static const char req[] = "{\"v\":1,\"cmd\":\"status\"}\n";
	static struct pollfd pfd[MAX_CLIENTS];
	static double sent_at[MAX_CLIENTS];
	static char buf[MAX_CLIENTS][8192];
	static size_t len[MAX_CLIENTS];
	size_t n_lat = 0, cap = 1 << 20;
	double *lat = malloc(cap * sizeof(double)), end;
	long bad = 0;

	if (n > MAX_CLIENTS || !lat)
		return 2;
	for (int i = 0; i < n; i++) {
		pfd[i] = (struct pollfd) { .fd = connect_to(path), .events = POLLIN };
		sent_at[i] = now_ms();
		if (write_all(pfd[i].fd, req, sizeof(req) - 1) < 0)
			return fprintf(stderr, "sock-flood: client %d cannot write\n", i), 1;
	}
	end = now_ms() + secs * 1e3;
	while (now_ms() < end) {
		if (poll(pfd, (nfds_t) n, 1000) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			char *nl;
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			r = read(pfd[i].fd, buf[i] + len[i], sizeof(buf[i]) - len[i]);
			if (r <= 0)
				return fprintf(stderr, "sock-flood: client %d lost its connection\n", i), 1;
			len[i] += (size_t) r;
			while ((nl = memchr(buf[i], '\n', len[i]))) {
				*nl = '\0';
				if (!strstr(buf[i], "\"ok\":true"))
					bad++;
				if (n_lat < cap)
					lat[n_lat++] = now_ms() - sent_at[i];
				len[i] -= (size_t) (nl + 1 - buf[i]);
				memmove(buf[i], nl + 1, len[i]);
				sent_at[i] = now_ms();
				if (write_all(pfd[i].fd, req, sizeof(req) - 1) < 0)
					return fprintf(stderr, "sock-flood: client %d cannot write\n", i), 1;
			}
			if (len[i] == sizeof(buf[i]))
				len[i] = 0; /* a reply longer than the buffer: not ours to judge */
		}
	}
	qsort(lat, n_lat, sizeof(double), cmp_double);
	printf("sock-flood: %d clients, %.0f s: %zu status round trips, %ld not ok; latency median %.1f ms, p99 %.1f ms, "
	       "max %.1f ms\n",
	       n, secs, n_lat, bad, n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 99 / 100] : 0,
	       n_lat ? lat[n_lat - 1] : 0);
	for (int i = 0; i < n; i++)
		close(pfd[i].fd);
	free(lat);
	return bad || n_lat < (size_t) n ? 1 : 0;
}

int main(int argc, char *argv[]) {
	if (argc == 4 && strcmp(argv[2], "malformed") == 0)
		return malformed(argv[1], atol(argv[3]));
	if (argc == 5 && strcmp(argv[2], "clients") == 0)
		return clients(argv[1], atoi(argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: sock-flood SOCKET malformed N | SOCKET clients N SECONDS\n");
	return 2;
}
