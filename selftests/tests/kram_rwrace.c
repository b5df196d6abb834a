// SPDX-License-Identifier: GPL-2.0
/*
 * kram_rwrace: /dev/kram's pread, pwrite and FREE against a kernel owner
 * that takes every pool page it can (kram_bench churn=1, loaded by
 * kram_race.sh): issue 14's "the check and the copy cannot race a free".
 *
 *   kram_rwrace TAG SECONDS
 *
 * Takes every pool page with TAG but fewer than 32 (the churner keeps
 * those), so a page freed here is the churner's within one of its cycles.
 * First, four copies whose user page is held by userfaultfd (the copy
 * faults and waits while this program acts): a 2-page pread and a 2-page
 * pwrite, each once as a control (nothing freed: 8192 bytes) and once
 * with the second page freed, and seen to be the churner's (EPERM),
 * while the copy waits on the first: the copy must stop at 4096 bytes
 * (it re-checks each page under the lock) and the read must not hold
 * the marker. Printed as "held NAME BYTES MARKER" lines. Then, for
 * SECONDS, one thread frees one of its pages and allocates one again,
 * one preads and one pwrites 1..4 pages starting at one of its pages
 * (the list changes under them, so they often hit a page just freed or
 * already the kernel owner's). A read that returns the churner's marker,
 * an errno other than EPERM (a kernel owner's page) and EINVAL (a free
 * page), or a page left with TAG at the end fails. Writes landing in the
 * churner's pages are counted by kram_bench itself (its rmmod line).
 * Prints the counts as "# " lines; exit 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include <linux/userfaultfd.h>

#define PAGE		4096
#define SPAN		4
#define MARK		"KRAM_BENCH_CHURN"
#define CHURN_TAG	0x4b424e43	/* kram_bench's kernel tag */

static int fd;
static __u32 tag;
static __u64 *own;		/* own[i]: a page index this tag holds */
static size_t nr_own;
static __u64 nr_data;		/* pool pages: a copy past the end is cut */
static int stop;		/* __atomic: the threads' end */

struct counts {
	unsigned long ok, eperm, einval, other, marker, bytes, waits, cut;
	int other_errno;
	bool write;		/* copier(): pwrite, not pread */
};

static int pages_ioc(unsigned long cmd, __u64 *idx, __u32 count)
{
	struct kram_pages p = {
		.size = sizeof(p), .tag = tag, .count = count,
		.pages = (uintptr_t)idx,
	};

	return ioctl(fd, cmd, &p) ? errno : 0;
}

static unsigned int rnd(unsigned int *seed, unsigned int n)
{
	return rand_r(seed) % n;
}

static void count_err(struct counts *c, int err)
{
	if (err == EPERM)
		c->eperm++;
	else if (err == EINVAL)
		c->einval++;
	else if (!c->other++)
		c->other_errno = err;
}

/* wbuf: what the writer writes ('U', set in main); rbuf: the reader's. */
static char rbuf[SPAN * PAGE], wbuf[SPAN * PAGE];

/* The reader (c->write false) or the writer, until stop. */
static void *copier(void *arg)
{
	struct counts *c = arg;
	unsigned int seed = c->write ? 2 : 1;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		__u64 p = __atomic_load_n(&own[rnd(&seed, nr_own)], __ATOMIC_RELAXED);
		size_t len = (1 + rnd(&seed, SPAN)) * PAGE;
		off_t off = (off_t)(p * PAGE);
		ssize_t n = c->write ? pwrite(fd, wbuf, len, off) :
				       pread(fd, rbuf, len, off);

		if (n < 0) {
			count_err(c, errno);
			continue;
		}
		c->ok++;
		/* Stopped at a page no longer ours (not at the pool's end). */
		c->cut += (size_t)n < len && p + len / PAGE <= nr_data;
		c->bytes += n;
		if (!c->write && memmem(rbuf, n, MARK, sizeof(MARK) - 1))
			c->marker++;
	}
	return NULL;
}

/*
 * Free one page, then take one again (the churner may hold every free
 * page a while). A page freed when time is up stays free: the final
 * clean-up walks the tag rather than trusting the list.
 */
static void *freer(void *arg)
{
	struct counts *c = arg;
	unsigned int seed = 3;
	int err;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		size_t i = rnd(&seed, nr_own);
		__u64 p = own[i];

		err = pages_ioc(KRAM_IOC_FREE, &p, 1);
		if (err) {
			count_err(c, err);
			break;
		}
		c->ok++;
		while ((err = pages_ioc(KRAM_IOC_ALLOC, &p, 1)) == ENOSPC &&
		       !__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
			c->waits++;
			usleep(100);
		}
		if (err && err != ENOSPC) {
			count_err(c, err);
			break;
		}
		if (!err)
			__atomic_store_n(&own[i], p, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Free every page of the tag; 0 or an errno. */
static int free_all(void)
{
	__u64 batch[KRAM_MAX_BATCH];
	int err;

	for (;;) {
		struct kram_pages w = {
			.size = sizeof(w), .tag = tag, .count = KRAM_MAX_BATCH,
			.pages = (uintptr_t)batch,
		};

		if (ioctl(fd, KRAM_IOC_WALK, &w))
			return errno;
		if (!w.count)
			return 0;
		err = pages_ioc(KRAM_IOC_FREE, batch, w.count);
		if (err)
			return err;
	}
}

/*
 * Pages the churner can take: the free ones and those it holds (a sum
 * its cycles do not change). ~0 on an error.
 */
static __u64 churner_share(void)
{
	struct kram_status st = { .size = sizeof(st) };
	static __u64 idx[KRAM_MAX_BATCH];
	__u64 held = 0, cursor = 0;

	if (ioctl(fd, KRAM_IOC_STATUS, &st))
		return ~0ULL;
	while (cursor != ~0ULL) {
		struct kram_pages w = {
			.size = sizeof(w), .tag = CHURN_TAG, .count = KRAM_MAX_BATCH,
			.pages = (uintptr_t)idx, .cursor = cursor,
		};

		if (ioctl(fd, KRAM_IOC_WALK, &w))
			return ~0ULL;
		held += w.count;
		cursor = w.cursor;
	}
	return st.free_pages + held;
}

/* ---- copies held by userfaultfd ---- */

struct held {
	int uffd;
	__u64 victim;		/* freed while the first fault waits; 0: none */
	char *fill;		/* what each faulting page is filled with */
	int done;		/* __atomic */
	int err;		/* first failure, as an errno */
	const char *why;
	unsigned long faults;
	int given;		/* the victim was the kernel's at fault 1 */
};

static int held_fail(struct held *h, const char *why, int err)
{
	if (!h->err) {
		h->err = err ?: EIO;
		h->why = why;
	}
	return -1;
}

/*
 * Free the victim page, then wait until a read of it says EPERM: until
 * the churner (a kernel thread on another CPU) took it. A hang bound, not
 * a count: 200000 tries (1-2 s on the debug kernel) ran out once while
 * that CPU's vCPU thread waited for the host (make check, 2026-12-05).
 */
static int give_to_kernel(struct held *h)
{
	static char tmp[PAGE];
	__u64 p = h->victim;
	time_t end;

	if (pages_ioc(KRAM_IOC_FREE, &p, 1))
		return held_fail(h, "free of the victim page", errno);
	for (end = time(NULL) + 60; time(NULL) < end;) {
		if (pread(fd, tmp, PAGE, (off_t)(h->victim * PAGE)) < 0 && errno == EPERM)
			return 0;
		sched_yield();
	}
	return held_fail(h, "the churner never took the freed page", ETIMEDOUT);
}

static void *held_handler(void *arg)
{
	struct held *h = arg;
	struct uffd_msg msg;

	while (!__atomic_load_n(&h->done, __ATOMIC_RELAXED)) {
		struct pollfd pfd = { .fd = h->uffd, .events = POLLIN };
		struct uffdio_copy cp = { .len = PAGE };

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if (!h->faults++ && h->victim) {
			if (give_to_kernel(h))
				h->victim = 0;	/* resolve anyway: the copy must not hang */
			else
				h->given = 1;
		}
		cp.dst = msg.arg.pagefault.address & ~(__u64)(PAGE - 1);
		cp.src = (uintptr_t)h->fill;
		if (ioctl(h->uffd, UFFDIO_COPY, &cp))
			held_fail(h, "UFFDIO_COPY", errno);
	}
	return NULL;
}

/*
 * One held copy of pages @a and @a + 1: pread (@write false) or pwrite;
 * @victim 1 frees page @a + 1 during the first fault. Returns the copy's
 * result (bytes or -errno) and sets *@marker when the read has the marker.
 */
static long held_copy(__u64 a, bool write, bool victim, int *marker)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct held h = { .victim = victim ? a + 1 : 0 };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	static char fill[PAGE];
	pthread_t th;
	char *buf;
	long n;

	*marker = 0;
	memset(fill, write ? 'U' : 0, sizeof(fill));
	h.fill = fill;
	buf = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -errno;
	h.uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (h.uffd < 0) {
		n = -errno;
		printf("# userfaultfd: %s\n", strerror(errno));
		munmap(buf, 2 * PAGE);
		return n;
	}
	reg.range.start = (uintptr_t)buf;
	reg.range.len = 2 * PAGE;
	if (ioctl(h.uffd, UFFDIO_API, &api) || ioctl(h.uffd, UFFDIO_REGISTER, &reg) ||
	    pthread_create(&th, NULL, held_handler, &h)) {
		n = -errno;
		printf("# userfaultfd set-up: %s\n", strerror(errno));
		close(h.uffd);
		munmap(buf, 2 * PAGE);
		return n;
	}
	if (write)
		n = pwrite(fd, buf, 2 * PAGE, (off_t)(a * PAGE));
	else
		n = pread(fd, buf, 2 * PAGE, (off_t)(a * PAGE));
	if (n < 0)
		n = -errno;
	__atomic_store_n(&h.done, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	if (h.err) {
		printf("# held copy: %s: %s\n", h.why, strerror(h.err));
		n = -h.err;
	}
	printf("# held copy of pages %llu-%llu (%s): %ld, %lu faults, victim %s\n",
	       (unsigned long long)a, (unsigned long long)a + 1,
	       write ? "pwrite" : "pread", n, h.faults,
	       !victim ? "none" : h.given ? "the kernel's at the first fault" :
	       "not given");
	if (!write && n > 0 && memmem(buf, n, MARK, sizeof(MARK) - 1))
		*marker = 1;
	close(h.uffd);
	munmap(buf, 2 * PAGE);
	return n;
}

static int cmp_u64(const void *x, const void *y)
{
	__u64 a = *(const __u64 *)x, b = *(const __u64 *)y;

	return a < b ? -1 : a > b;
}

/*
 * The four held copies, on four pairs of adjacent pages of this tag.
 * Prints "held NAME BYTES MARKER"; a freed victim is not given back.
 */
static void held_copies(void)
{
	static const struct { const char *name; bool write, victim; } c[] = {
		{ "read-control", false, false }, { "read-freed", false, true },
		{ "write-control", true, false }, { "write-freed", true, true },
	};
	__u64 *s = malloc(nr_own * sizeof(*s));
	size_t i, k = 0;

	if (!s)
		return;
	memcpy(s, own, nr_own * sizeof(*s));
	qsort(s, nr_own, sizeof(*s), cmp_u64);
	for (i = 0; i + 1 < nr_own && k < 4; i++) {
		int marker;
		long n;

		if (s[i + 1] != s[i] + 1)
			continue;
		n = held_copy(s[i], c[k].write, c[k].victim, &marker);
		printf("held %s %ld %d\n", c[k].name, n, marker);
		k++;
		i += 2;		/* the next pair starts beyond this one */
	}
	free(s);
}

int main(int argc, char **argv)
{
	struct counts rd = { 0 }, wr = { .write = true }, fr = { 0 };
	struct kram_status st = { .size = sizeof(st) };
	pthread_t th[3];
	__u64 share;
	size_t cap;
	int i;
	__u64 batch[KRAM_MAX_BATCH];
	time_t end;
	int ret = 0, err;

	if (argc != 3) {
		fprintf(stderr, "usage: kram_rwrace TAG SECONDS\n");
		return 2;
	}
	tag = strtoul(argv[1], NULL, 0);
	fd = open("/dev/kram", O_RDWR);
	if (fd < 0 || ioctl(fd, KRAM_IOC_STATUS, &st)) {
		perror("/dev/kram");
		return 1;
	}
	cap = st.data_pages;
	nr_data = cap;
	own = calloc(cap, sizeof(*own));
	if (!own)
		return 1;
	/* Every page the churner does not hold: one at a time at the end. */
	for (;;) {
		__u32 n = KRAM_MAX_BATCH;

		while (n && pages_ioc(KRAM_IOC_ALLOC, batch, n) == ENOSPC)
			n /= 2;
		if (!n)
			break;
		memcpy(own + nr_own, batch, n * sizeof(*batch));
		nr_own += n;
	}
	/*
	 * Squeeze the churner: take what it lets go between its cycles, so
	 * that it holds few pages and takes any page freed here at once.
	 */
	end = time(NULL) + 120;	/* usually about 3 s on debug; 120 s if starved */
	for (i = 0; time(NULL) < end && nr_own < cap; i++) {
		if (!(i % 64) && churner_share() < 32)
			break;
		if (pages_ioc(KRAM_IOC_ALLOC, batch, 1)) {
			usleep(20);
			continue;
		}
		own[nr_own++] = batch[0];
	}
	share = churner_share();
	printf("# %zu of %llu pool pages taken with tag %#x, %llu free or the churner's\n",
	       nr_own, (unsigned long long)cap, tag, (unsigned long long)share);
	if (nr_own < 16 || share >= 32) {
		printf("# FAIL: %llu pages free or the churner's (want < 32), %zu here\n",
		       (unsigned long long)share, nr_own);
		free_all();
		return 1;
	}
	held_copies();
	/* The victims are gone: rebuild the list from the kernel's view. */
	nr_own = 0;
	for (;;) {
		struct kram_pages w = {
			.size = sizeof(w), .tag = tag, .count = KRAM_MAX_BATCH,
			.pages = (uintptr_t)batch, .cursor = 0,
		};

		w.cursor = nr_own ? own[nr_own - 1] + 1 : 0;
		if (ioctl(fd, KRAM_IOC_WALK, &w) || !w.count)
			break;
		memcpy(own + nr_own, batch, w.count * sizeof(*batch));
		nr_own += w.count;
	}
	end = time(NULL) + atoi(argv[2]);
	memset(wbuf, 'U', sizeof(wbuf));
	if (pthread_create(&th[0], NULL, copier, &rd) ||
	    pthread_create(&th[1], NULL, copier, &wr) ||
	    pthread_create(&th[2], NULL, freer, &fr)) {
		perror("pthread_create");
		return 1;
	}
	while (time(NULL) < end)
		sleep(1);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	printf("# reads: %lu (%lu bytes), %lu EPERM (the kernel owner's), %lu EINVAL (free), ",
	       rd.ok, rd.bytes, rd.eperm, rd.einval);
	printf("%lu other, %lu with the marker, %lu cut short\n", rd.other, rd.marker, rd.cut);
	printf("# writes: %lu (%lu bytes), %lu EPERM, %lu EINVAL, %lu other, %lu cut short\n",
	       wr.ok, wr.bytes, wr.eperm, wr.einval, wr.other, wr.cut);
	printf("# free+alloc: %lu, %lu waits for a page, %lu errors\n",
	       fr.ok, fr.waits, fr.other + fr.eperm + fr.einval);
	if (rd.marker) {
		printf("# FAIL: %lu reads returned a kernel owner's bytes\n", rd.marker);
		ret = 1;
	}
	if (rd.other || wr.other || fr.other + fr.eperm + fr.einval) {
		printf("# FAIL: unexpected errno %s\n",
		       strerror(rd.other_errno ?: wr.other_errno ?: fr.other_errno));
		ret = 1;
	}
	/*
	 * The stress met pages that stopped being this tag's: refused (EPERM:
	 * the kernel owner's at the first check) or cut short (the re-check
	 * under the lock, in the middle of a copy).
	 */
	printf("race-met %lu %lu\n", rd.eperm + wr.eperm, rd.cut + wr.cut);
	err = free_all();
	if (err) {
		printf("# FAIL: freeing the tag's pages at the end: %s\n", strerror(err));
		ret = 1;
	}
	return ret;
}
