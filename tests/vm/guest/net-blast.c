/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net-blast: TCP traffic between two guest network namespaces, to drive DMA
 * through the IOMMU of the guest's NICs.
 *
 *   net-blast recv PORT SECONDS
 *       accept one connection on PORT, count bytes until EOF, or give up
 *       after SECONDS without a connection
 *   net-blast send ADDRESS PORT SECONDS [CHUNK]
 *       connect (retrying for up to 5 s) and write CHUNK-byte buffers
 *       (default 64K) for SECONDS
 *
 * Both print one line: "net-blast: role=send|recv bytes=N secs=S MBps=R".
 * Only ever used with the guest's own TEST-NET addresses (192.0.2.0/24).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *role, unsigned long long bytes, double secs)
{
	printf("net-blast: role=%s bytes=%llu secs=%.3f MBps=%.1f\n", role, bytes,
	       secs, secs > 0 ? bytes / secs / 1e6 : 0.0);
}

static int do_recv(int port, int seconds)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = seconds };
	unsigned long long bytes = 0;
	static char buf[1 << 16];
	int ls, s, one = 1;
	double t0;
	ssize_t n;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		fprintf(stderr, "net-blast: listen on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	s = accept(ls, NULL, NULL);
	if (s < 0) {
		fprintf(stderr, "net-blast: accept on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	t0 = now();
	while ((n = read(s, buf, sizeof(buf))) > 0)
		bytes += n;
	if (n < 0) {
		fprintf(stderr, "net-blast: read: %s\n", strerror(errno));
		return 1;
	}
	report("recv", bytes, now() - t0);
	close(s);
	close(ls);
	return 0;
}

static int do_send(const char *addr, int port, int seconds, size_t chunk)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	unsigned long long bytes = 0;
	double t0, deadline;
	char *buf;
	int s = -1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "net-blast: bad IPv4 address '%s'\n", addr);
		return 1;
	}
	buf = calloc(1, chunk);
	if (!buf)
		return 1;
	deadline = now() + 5;
	for (;;) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (s >= 0)
			close(s);
		if (now() > deadline) {
			fprintf(stderr, "net-blast: connect %s:%d: %s\n", addr, port,
				strerror(errno));
			return 1;
		}
		usleep(100 * 1000);
	}
	t0 = now();
	while (now() - t0 < seconds) {
		ssize_t n = write(s, buf, chunk);

		if (n < 0) {
			fprintf(stderr, "net-blast: write: %s\n", strerror(errno));
			return 1;
		}
		bytes += n;
	}
	report("send", bytes, now() - t0);
	close(s);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return do_recv(atoi(argv[2]), atoi(argv[3]));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "send"))
		return do_send(argv[2], atoi(argv[3]), atoi(argv[4]),
			       argc == 6 ? strtoul(argv[5], NULL, 0) : 65536);
	fprintf(stderr, "usage: net-blast recv PORT SECONDS\n"
			"       net-blast send ADDRESS PORT SECONDS [CHUNK]\n");
	return 1;
}
