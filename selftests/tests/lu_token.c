// SPDX-License-Identifier: GPL-2.0
/*
 * lu_token: a process that lives through a live update of its VM (L2), and
 * a page of its memory that the host (L1) rewrites while the VM is saved.
 *
 *   lu_token TIMEOUT_S
 *
 * Locks one anonymous page, writes "HVKIT-LU-WAIT:<pid>:<random>" into it
 * and prints the page's guest-physical address (from /proc/self/pagemap,
 * root only) as "lu_token gpa=0x... token=...". With the VM's RAM in a kram
 * area, that address is the page's offset in the area: after the host
 * saved the VM, rebooted (kexec) and restored it, the host overwrites the
 * page's first bytes with "HVKIT-LU-DONE:" through /dev/kram_areas/NAME,
 * before the VM runs again. This program polls the page and exits 0 when
 * it sees the mark with its own token still after it, 1 on a timeout, 2
 * when the page holds anything else (lost or foreign memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#define WAIT	"HVKIT-LU-WAIT:"
#define DONE	"HVKIT-LU-DONE:"
/* pagemap entry: PFN in bits 0-54, "present" in bit 63. */
#define PFN_MASK	0x007fffffffffffffULL
#define PRESENT		0x8000000000000000ULL

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long psz = sysconf(_SC_PAGESIZE);
	char token[64], *page;
	double t0, timeout;
	__u64 ent, rnd = 0;
	int fd;

	timeout = argc == 2 ? atof(argv[1]) : 0;
	if (timeout <= 0) {
		fprintf(stderr, "usage: lu_token TIMEOUT_S\n");
		return 2;
	}
	page = mmap(NULL, psz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
	if (page == MAP_FAILED) {
		perror("lu_token: mmap");
		return 2;
	}
	fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, &rnd, sizeof(rnd)) != sizeof(rnd)) {
		perror("lu_token: /dev/urandom");
		return 2;
	}
	close(fd);
	snprintf(token, sizeof(token), "%d:%016llx", getpid(), (unsigned long long)rnd);
	memset(page, 0, psz);
	snprintf(page, psz, WAIT "%s", token);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &ent, sizeof(ent),
			    (uintptr_t)page / psz * sizeof(ent)) != sizeof(ent)) {
		perror("lu_token: /proc/self/pagemap");
		return 2;
	}
	close(fd);
	if (!(ent & PRESENT) || !(ent & PFN_MASK)) {
		fprintf(stderr, "lu_token: page not present or PFN hidden (entry %#llx)\n",
			(unsigned long long)ent);
		return 2;
	}
	printf("lu_token gpa=0x%llx token=%s\n",
	       (unsigned long long)((ent & PFN_MASK) * psz), token);
	fflush(stdout);
	t0 = now_s();
	for (;;) {
		/* The host writes behind the compiler's back: load each byte. */
		char head[sizeof(DONE) - 1];
		size_t i;

		for (i = 0; i < sizeof(head); i++)
			head[i] = __atomic_load_n(&page[i], __ATOMIC_RELAXED);
		if (!memcmp(head, DONE, sizeof(head))) {
			if (strcmp(page + strlen(DONE), token)) {
				printf("lu_token: marked, but followed by '%.40s', not %s\n",
				       page + strlen(DONE), token);
				return 2;
			}
			printf("lu_token: page marked by the host after %.1f s, token intact\n",
			       now_s() - t0);
			return 0;
		}
		if (memcmp(head, WAIT, sizeof(head)) || strcmp(page + strlen(WAIT), token)) {
			printf("lu_token: page changed to '%.40s'\n", page);
			return 2;
		}
		if (now_s() - t0 > timeout) {
			printf("lu_token: no mark after %.0f s\n", timeout);
			return 1;
		}
		usleep(20000);
	}
}
