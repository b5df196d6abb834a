// SPDX-License-Identifier: GPL-2.0
/*
 * modreload: unload and load one module COUNT times in a row.
 *
 *   modreload NAME KO COUNT [HOLD_MS]
 *
 * Each round is delete_module(NAME, O_NONBLOCK) (as busybox's rmmod; 6.1
 * ignores every flag but O_TRUNC, so it never waits: a module in use
 * fails the round at once, as "modprobe -r" did) then finit_module() of
 * the file KO, then a pause of HOLD_MS milliseconds (default 0) with the
 * module loaded, so that the caller's load goes through it before the
 * next unload (a busybox exec took about 30 ms there before). The module
 * is loaded with no parameters: options in /etc/modprobe.d or on the
 * kernel command line are not applied. NAME must be loaded at the start
 * and is loaded at the end when every round succeeded. Two execs of
 * busybox per round cost a debug test VM a quarter of each round
 * (idlepoll_reload: 200 rounds).
 *
 * Prints "rounds=N" (the rounds done) and, on a failure, which call
 * failed in which round with its errno; exits 0 only when all COUNT
 * rounds were done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* number WHAT S MIN MAX: S as a decimal in MIN..MAX, or exit 2 saying so. */
static long number(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "modreload: %s '%s' is not %ld..%ld\n", what, s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long count, hold_ms, i;
	int fd;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: modreload NAME KO COUNT [HOLD_MS]\n");
		return 2;
	}
	count = number("COUNT", argv[3], 1, 1000000);
	hold_ms = argc == 5 ? number("HOLD_MS", argv[4], 0, 10000) : 0;
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "modreload: open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	for (i = 0; i < count; i++) {
		if (syscall(SYS_delete_module, argv[1], O_NONBLOCK)) {
			printf("rounds=%ld\nfailed=delete_module round %ld: %s\n",
			       i, i + 1, strerror(errno));
			return 1;
		}
		if (syscall(SYS_finit_module, fd, "", 0)) {
			printf("rounds=%ld\nfailed=finit_module round %ld: %s\n",
			       i, i + 1, strerror(errno));
			return 1;
		}
		if (hold_ms)
			usleep(hold_ms * 1000);
	}
	printf("rounds=%ld\n", i);
	close(fd);
	return 0;
}
