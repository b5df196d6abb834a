// SPDX-License-Identifier: GPL-2.0
/*
 * kram_pin: hold the pages of a kram area the way a VFIO DMA mapping does,
 * with page references that outlive the mapping and the area's file. No
 * VFIO device is needed: vmsplice() puts the mapped pages themselves (get
 * user pages, a reference each) into a pipe, where they stay until the
 * pipe is read or closed. (io_uring's registered buffers would pin with
 * FOLL_LONGTERM like VFIO, but 6.1 refuses file-backed memory there.)
 *
 *   kram_pin AREA PAGES      (PAGES <= 16, a pipe's default capacity)
 *
 * Maps PAGES pages of /dev/kram_areas/AREA, vmsplices them into a pipe,
 * unmaps them, closes the area file and prints "pinned". It then waits
 * for a line on stdin (or its end), closes the pipe (which drops the
 * references) and prints "unpinned". Exit status: 0 ok, 1 failure, 2 bad
 * usage.
 *
 *   kram_pin --mmap-check AREA
 *
 * Under kernel lockdown: a writable shared mapping of the area must fail
 * with EPERM, a read-only one must work and mprotect() must not make it
 * writable. Exit status 0 when all three hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int mmap_check(const char *area)
{
	char path[128];
	int fd, ok = 1;
	void *p;

	snprintf(path, sizeof(path), "/dev/kram_areas/%s", area);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "kram_pin: %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(fd);
	fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "kram_pin: %s: %s\n", path, strerror(errno));
		return 1;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != EPERM) {
		printf("# writable mmap: %s\n", p == MAP_FAILED ? strerror(errno) : "allowed");
		ok = 0;
	}
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("# read-only mmap: %s\n", strerror(errno));
		return 1;
	}
	if (!mprotect(p, 4096, PROT_READ | PROT_WRITE)) {
		printf("# mprotect(PROT_WRITE) allowed\n");
		ok = 0;
	}
	printf("# read-only mmap: first byte 0x%02x\n", *(unsigned char *)p);
	munmap(p, 4096);
	close(fd);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	char path[128], line[16];
	struct iovec iov;
	int fd, pipefd[2];
	long pages;
	ssize_t n;
	void *p;

	if (argc == 3 && !strcmp(argv[1], "--mmap-check"))
		return mmap_check(argv[2]);
	pages = argc == 3 ? strtol(argv[2], NULL, 0) : 0;
	if (pages <= 0 || pages > 16) {
		fprintf(stderr, "usage: kram_pin AREA PAGES\n");
		return 2;
	}
	snprintf(path, sizeof(path), "/dev/kram_areas/%s", argv[1]);
	fd = open(path, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "kram_pin: %s: %s\n", path, strerror(errno));
		return 1;
	}
	p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "kram_pin: mmap: %s\n", strerror(errno));
		return 1;
	}
	memset(p, 0x6b, pages * 4096);
	if (pipe(pipefd)) {
		fprintf(stderr, "kram_pin: pipe: %s\n", strerror(errno));
		return 1;
	}
	iov.iov_base = p;
	iov.iov_len = pages * 4096;
	n = vmsplice(pipefd[1], &iov, 1, 0);
	if (n != pages * 4096) {
		fprintf(stderr, "kram_pin: vmsplice: %zd: %s\n", n, strerror(errno));
		return 1;
	}
	/* The references stay in the pipe; the mapping and the file go. */
	munmap(p, pages * 4096);
	close(fd);
	printf("pinned\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	close(pipefd[0]);
	close(pipefd[1]);
	printf("unpinned\n");
	return 0;
}
