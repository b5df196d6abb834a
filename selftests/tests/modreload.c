// SPDX-License-Identifier: GPL-2.0
/*
 * modreload: unload and load one module COUNT times in a row.
 *
 *   modreload NAME KO COUNT
 *
 * Each round is delete_module(NAME, O_NONBLOCK) (what "modprobe -r" and
 * "rmmod" call) then finit_module() of the file KO with no parameters
 * (what "insmod" calls): the module's exit and init under whatever load
 * the caller keeps running. NAME must be loaded at the start and is
 * loaded at the end when every round succeeded. Two execs of busybox
 * per round cost a debug test VM more than the kernel's own work did
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

int main(int argc, char **argv)
{
	char *end;
	long count, i;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: modreload NAME KO COUNT\n");
		return 2;
	}
	errno = 0;
	count = strtol(argv[3], &end, 10);
	if (errno || *end || end == argv[3] || count < 1) {
		fprintf(stderr, "modreload: COUNT '%s' is not a positive number\n", argv[3]);
		return 2;
	}
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
	}
	printf("rounds=%ld\n", i);
	close(fd);
	return 0;
}
