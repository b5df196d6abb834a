// SPDX-License-Identifier: GPL-2.0
/*
 * What a VMM pays to map guest RAM and touch it once (bench-kram), side by
 * side: a kram area mapped at a 2 MiB aligned address (one PMD per 2 MiB),
 * the same area at an address 4 KiB off (4 KiB pages only), anonymous
 * memory (QEMU's default RAM) and a shared memfd (QEMU's
 * memory-backend-memfd), each as the kernel's THP settings leave it.
 * Figures: mmap time, first-touch time (one write per 4 KiB) and page
 * faults taken (getrusage), the median of ROUNDS rounds.
 *
 *   kram_mapbench MIB [ROUNDS]
 *
 * Prints "| " table lines, then one line saying what failed or "done".
 * Exit status 1 only when something does not work (the area cannot be
 * created, a mapping fails, a byte written is not read back through the
 * area device), 2 for a usage error; never on a figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/hvkit.h>

#define AREA	"kst_mapbench"
#define PAGE	4096UL
#define HUGE	(2UL << 20)
#define MAXR	15

enum { KRAM_PMD, KRAM_PTE, ANON, MEMFD, NMODES };

static const char *const mode_name[NMODES] = {
	"kram area, 2 MiB aligned address", "kram area, 4 KiB off",
	"anonymous (MAP_PRIVATE)", "memfd (MAP_SHARED)",
};

static int kram_ioc(unsigned long cmd, void *arg)
{
	int fd = open("/dev/kram", O_RDWR), ret;

	if (fd < 0)
		return errno;
	ret = ioctl(fd, cmd, arg) ? errno : 0;
	close(fd);
	return ret;
}

static void area_delete(void)
{
	struct kram_area_delete d = { .size = sizeof(d) };

	strcpy(d.name, AREA);
	kram_ioc(KRAM_IOC_AREA_DELETE, &d);
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static long minflt(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_minflt;
}

/* Address space for @len whose start + @skew is 2 MiB aligned. */
static size_t room_of(size_t len)
{
	return len + 2 * HUGE;
}

static char *reserve(size_t len, size_t skew, char **base)
{
	*base = mmap(NULL, room_of(len), PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*base == MAP_FAILED)
		return MAP_FAILED;
	return (char *)((((uintptr_t)*base + HUGE - 1) & ~(HUGE - 1)) + skew);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return v[n / 2];
}

/* One round of @mode: mmap and first-touch times (us), faults taken. */
static int round_of(int mode, int afd, size_t len, double *map_us,
		    double *touch_us, double *faults)
{
	int mfd = -1, fd = afd, flags = MAP_SHARED | MAP_FIXED, ret = 0;
	char *want, *base, *m;
	double t0;
	long f0;
	size_t i;

	want = reserve(len, mode == KRAM_PTE ? PAGE : 0, &base);
	if (want == MAP_FAILED)
		return errno;
	if (mode == ANON) {
		fd = -1;
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	} else if (mode == MEMFD) {
		mfd = memfd_create("kram_mapbench", 0);
		if (mfd < 0 || ftruncate(mfd, len)) {
			ret = errno;
			goto out;
		}
		fd = mfd;
	}
	t0 = now_us();
	m = mmap(want, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	*map_us = now_us() - t0;
	if (m == MAP_FAILED) {
		ret = errno;
		goto out;
	}
	f0 = minflt();
	t0 = now_us();
	for (i = 0; i < len; i += PAGE)
		m[i] = (char)(i / PAGE + mode);
	*touch_us = now_us() - t0;
	*faults = minflt() - f0;
out:
	munmap(base, room_of(len));
	if (mfd >= 0)
		close(mfd);
	return ret;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 0, len;
	int rounds = argc > 2 ? atoi(argv[2]) : 5, mode, r, afd, ret = 0;
	struct kram_area_create c = { .size = sizeof(c) };
	double mu[MAXR], tu[MAXR], fl[MAXR];
	char path[64], b;

	if (!mib || mib > 4096 || rounds < 1 || rounds > MAXR) {
		fprintf(stderr, "usage: kram_mapbench MIB [ROUNDS (1-%d)]\n", MAXR);
		return 2;
	}
	len = mib << 20;
	area_delete();
	strcpy(c.name, AREA);
	c.nr_pages = len / PAGE;
	ret = kram_ioc(KRAM_IOC_AREA_CREATE, &c);
	if (ret) {
		printf("create a %zu MiB area: %s\n", mib, strerror(ret));
		return 1;
	}
	snprintf(path, sizeof(path), "/dev/kram_areas/%s", AREA);
	for (r = 0; r < 100 && (afd = open(path, O_RDWR)) < 0; r++)
		usleep(10000);
	if (afd < 0) {
		printf("open %s: %s\n", path, strerror(errno));
		area_delete();
		return 1;
	}
	printf("| map + first touch of %zu MiB (one write per 4 KiB), median of %d rounds:\n",
	       mib, rounds);
	printf("| memory | mmap | first touch | page faults |\n");
	for (mode = 0; mode < NMODES && !ret; mode++) {
		for (r = 0; r < rounds && !ret; r++)
			ret = round_of(mode, afd, len, &mu[r], &tu[r], &fl[r]);
		if (ret)
			break;
		printf("| %s | %.0f us | %.1f ms | %.0f |\n", mode_name[mode],
		       median(mu, rounds), median(tu, rounds) / 1000,
		       median(fl, rounds));
	}
	/* The last rounds on the area (4 KiB off) wrote KRAM_PTE at offset 0. */
	if (!ret && (pread(afd, &b, 1, 0) != 1 || b != (char)KRAM_PTE))
		ret = EIO;
	close(afd);
	area_delete();
	if (ret) {
		printf("%s: %s\n", mode < NMODES ? mode_name[mode] : "read back",
		       strerror(ret));
		return 1;
	}
	printf("done\n");
	return 0;
}
