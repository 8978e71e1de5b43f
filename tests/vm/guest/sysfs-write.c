/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sysfs-write FILE VALUE: one write(2) of VALUE to FILE, as `echo` would do,
 * but reporting the exact errno: on failure prints "errno=EBUSY (Device or
 * resource busy)" on stdout and exits 1, so scenarios can assert on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	ssize_t n;
	int fd, err;

	if (argc != 3) {
		fprintf(stderr, "usage: sysfs-write FILE VALUE\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		err = errno;
		printf("errno=%s (%s) opening %s\n", strerrorname_np(err), strerror(err), argv[1]);
		return 1;
	}
	n = write(fd, argv[2], strlen(argv[2]));
	err = errno;
	if (n < 0) {
		printf("errno=%s (%s)\n", strerrorname_np(err), strerror(err));
		return 1;
	}
	if (close(fd) < 0) {
		err = errno;
		printf("errno=%s (%s) on close\n", strerrorname_np(err), strerror(err));
		return 1;
	}
	return 0;
}
