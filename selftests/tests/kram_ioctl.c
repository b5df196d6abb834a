// SPDX-License-Identifier: GPL-2.0
/*
 * The kram ioctls of include/uapi/linux/hvkit.h: the STATUS argument
 * contract, ALLOC/FREE/WALK of tagged pool pages and their pread/pwrite
 * access through /dev/kram, named areas under /dev/kram_areas/, the
 * CAP_SYS_ADMIN checks, random arguments and concurrent allocators.
 *
 * Tests use tags 0x8000xxxx and areas named "kst_*". Each test registers
 * what it uses with use_tag()/use_area(), which first removes leftovers of
 * an earlier, interrupted run; the fixture teardown frees and deletes them
 * again, also after a failed ASSERT, so the program can run twice in a row.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include "kselftest_harness.h"

#define PAGE		4096
#define WALK_DONE	(~0ULL)
#define MAX_TAGS	16
#define MAX_AREAS	80
#define LIST_ROOM	256

FIXTURE(kram) {
	int fd;
	int open_err;
	int st_err;
	struct kram_status st;	/* at setup */
	__u32 tags[MAX_TAGS];
	int nr_tags;
	char areas[MAX_AREAS][KRAM_NAME_LEN];
	int nr_areas;
	int area_fd;
	void *map;
	size_t map_len;
};

/* The fixture's type; "FIXTURE_DATA(kram) *self" confuses checkpatch. */
#define KRAM_SELF	FIXTURE_DATA(kram)

static struct kram_area_info list_buf[LIST_ROOM], list_before[LIST_ROOM];

/* Helpers return 0 or the errno of the failed call. */
static int kram_ioc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static int get_status(int fd, struct kram_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return kram_ioc(fd, KRAM_IOC_STATUS, st);
}

static int pages_call(int fd, unsigned long cmd, __u32 tag, __u32 count,
		      __u32 flags, const void *pages, __u64 cursor)
{
	struct kram_pages p = {
		.size = sizeof(p), .flags = flags, .tag = tag, .count = count,
		.pages = (uintptr_t)pages, .cursor = cursor,
	};

	return kram_ioc(fd, cmd, &p);
}

static int kr_alloc(int fd, __u32 tag, __u32 count, __u32 flags, __u64 *pages)
{
	return pages_call(fd, KRAM_IOC_ALLOC, tag, count, flags, pages, 0);
}

static int kr_free(int fd, __u32 tag, __u32 count, const __u64 *pages)
{
	return pages_call(fd, KRAM_IOC_FREE, tag, count, 0, pages, 0);
}

/* Every page of @tag into a malloc()ed array (*out, *n). */
static int walk_all(int fd, __u32 tag, __u64 **out, size_t *n)
{
	struct kram_pages p = { .size = sizeof(p), .tag = tag };
	__u64 *all = NULL, *tmp, cursor = 0;
	size_t nr = 0;
	int ret;

	*out = NULL;
	*n = 0;
	for (;;) {
		tmp = realloc(all, (nr + KRAM_MAX_BATCH) * sizeof(*all));
		if (!tmp) {
			ret = ENOMEM;
			goto err;
		}
		all = tmp;
		p.size = sizeof(p);
		p.count = KRAM_MAX_BATCH;
		p.pages = (uintptr_t)(all + nr);
		p.cursor = cursor;
		ret = kram_ioc(fd, KRAM_IOC_WALK, &p);
		if (ret)
			goto err;
		ret = EPROTO;
		if (p.count > KRAM_MAX_BATCH)
			goto err;
		nr += p.count;
		if (p.cursor == WALK_DONE)
			break;
		if (p.cursor <= cursor)	/* no progress: would loop forever */
			goto err;
		cursor = p.cursor;
	}
	*out = all;
	*n = nr;
	return 0;
err:
	free(all);
	return ret;
}

/* Number of pages with @tag, or -errno. */
static long tag_pages(int fd, __u32 tag)
{
	__u64 *pages;
	size_t n;
	int ret;

	ret = walk_all(fd, tag, &pages, &n);
	free(pages);
	return ret ? -ret : (long)n;
}

static int free_list(int fd, __u32 tag, const __u64 *pages, size_t n)
{
	size_t i, c;
	int ret;

	for (i = 0; i < n; i += c) {
		c = n - i < KRAM_MAX_BATCH ? n - i : KRAM_MAX_BATCH;
		ret = kr_free(fd, tag, c, pages + i);
		if (ret)
			return ret;
	}
	return 0;
}

static int free_tag(int fd, __u32 tag)
{
	__u64 *pages;
	size_t n;
	int ret;

	ret = walk_all(fd, tag, &pages, &n);
	if (!ret)
		ret = free_list(fd, tag, pages, n);
	free(pages);
	return ret;
}

/* Names and versions are copied without a NUL when they fill the field. */
static int area_create(int fd, const char *name, const char *version,
		       __u64 nr_pages, __u64 *first_page)
{
	struct kram_area_create c = { .size = sizeof(c), .nr_pages = nr_pages };
	int ret;

	memcpy(c.name, name, strnlen(name, sizeof(c.name)));
	memcpy(c.version, version, strnlen(version, sizeof(c.version)));
	ret = kram_ioc(fd, KRAM_IOC_AREA_CREATE, &c);
	if (!ret && first_page)
		*first_page = c.first_page;
	return ret;
}

static int area_delete(int fd, const char *name)
{
	struct kram_area_delete d = { .size = sizeof(d) };

	memcpy(d.name, name, strnlen(name, sizeof(d.name)));
	return kram_ioc(fd, KRAM_IOC_AREA_DELETE, &d);
}

/* AREA_CREATE that must fail; an area created anyway is deleted again. */
static int create_bad(int fd, const char *name, const char *version, __u64 nr)
{
	int ret = area_create(fd, name, version, nr, NULL);

	if (!ret)
		area_delete(fd, name);
	return ret;
}

static int area_list(int fd, struct kram_area_info *info, __u32 room,
		     __u32 *count, __u32 *total)
{
	struct kram_area_list l = {
		.size = sizeof(l), .count = room, .areas = (uintptr_t)info,
	};
	int ret = kram_ioc(fd, KRAM_IOC_AREA_LIST, &l);

	if (!ret) {
		*count = l.count;
		*total = l.total;
	}
	return ret;
}

static struct kram_area_info *find_area(struct kram_area_info *info,
					__u32 n, const char *name)
{
	__u32 i;

	for (i = 0; i < n; i++)
		if (!strncmp(info[i].name, name, KRAM_NAME_LEN))
			return &info[i];
	return NULL;
}

/* pread/pwrite of exactly @len bytes at @off; EIO for a short transfer. */
static int page_io(int fd, bool write, __u64 off, void *buf, size_t len)
{
	ssize_t r = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

	if (r < 0)
		return errno;
	return (size_t)r == len ? 0 : EIO;
}

static void fill(void *buf, size_t len, __u64 seed)
{
	__u64 *w = buf;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = (seed + i) * 0x9e3779b97f4a7c15ULL;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Open /dev/kram_areas/<name>, waiting up to 1 s for devtmpfs. */
/* 0 when a PROT_READ MAP_SHARED map of an O_RDONLY fd holds @want. */
static int readonly_map_matches(const char *name, const void *want,
				size_t len)
{
	char path[64];
	void *ro;
	int fd, ret;

	snprintf(path, sizeof(path), "/dev/kram_areas/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return errno;
	ro = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ret = ro == MAP_FAILED ? errno : memcmp(want, ro, len) ? EIO : 0;
	if (ro != MAP_FAILED)
		munmap(ro, len);
	close(fd);
	return ret;
}

static int open_area(const char *name)
{
	char path[64];
	int fd, i;

	snprintf(path, sizeof(path), "/dev/kram_areas/%s", name);
	for (i = 0; i < 100; i++) {
		fd = open(path, O_RDWR);
		if (fd >= 0 || errno != ENOENT)
			break;
		usleep(10000);
	}
	return fd;
}

static bool area_node_gone(const char *name)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/dev/kram_areas/%s", name);
	for (i = 0; i < 100; i++) {
		if (access(path, F_OK) && errno == ENOENT)
			return true;
		usleep(10000);
	}
	return false;
}

FIXTURE_SETUP(kram)
{
	self->area_fd = -1;
	self->fd = open("/dev/kram", O_RDWR);
	self->open_err = self->fd < 0 ? errno : 0;
	if (self->fd >= 0)
		self->st_err = get_status(self->fd, &self->st);
}

FIXTURE_TEARDOWN(kram)
{
	int i, ret;

	if (self->map)
		munmap(self->map, self->map_len);
	if (self->area_fd >= 0)
		close(self->area_fd);
	if (self->fd < 0)
		return;
	for (i = 0; i < self->nr_areas; i++) {
		ret = area_delete(self->fd, self->areas[i]);
		EXPECT_EQ(0, ret == ENOENT ? 0 : ret) {
			TH_LOG("cleanup: delete area %s", self->areas[i]);
		}
	}
	for (i = 0; i < self->nr_tags; i++) {
		EXPECT_EQ(0, free_tag(self->fd, self->tags[i])) {
			TH_LOG("cleanup: free pages of tag %#x", self->tags[i]);
		}
	}
	close(self->fd);
}

/*
 * Does the test group give kram a region? The runner says so in
 * KRAM_REGION (yes|no, from the group's MODPROBE_CONF); run by hand
 * without it, whatever is attached decides.
 */
static bool region_wanted(const struct kram_status *st)
{
	const char *w = getenv("KRAM_REGION");

	if (!w)
		return st->state == KRAM_STATE_ATTACHED;
	return !strcmp(w, "yes");
}

/* Every test needs /dev/kram: kram is loaded in each group that runs this. */
static void need_kram(struct __test_metadata *_metadata, KRAM_SELF *self)
{
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/kram: %s", strerror(self->open_err));
	}
	ASSERT_EQ(0, self->st_err);
}

/*
 * A SKIP in FIXTURE_SETUP does not stop the test body on 6.1's harness:
 * every test calls this (or need_kram()) itself. A region the group set
 * up but that is not attached fails; in a group without one the test is
 * skipped.
 */
static bool no_region(struct __test_metadata *_metadata, KRAM_SELF *self)
{
	need_kram(_metadata, self);
	if (self->st.state == KRAM_STATE_ATTACHED)
		return false;
	ASSERT_FALSE(region_wanted(&self->st)) {
		TH_LOG("the group gives kram a region, but none is attached (state %u, error %d)",
		       self->st.state, self->st.last_error);
	}
	SKIP(return true, "this group gives kram no region");
}

/* Take @tag for this test: free a previous run's leftovers, free at teardown. */
static void use_tag(struct __test_metadata *_metadata, KRAM_SELF *self,
		    __u32 tag)
{
	ASSERT_GT(MAX_TAGS, self->nr_tags);
	self->tags[self->nr_tags++] = tag;
	ASSERT_EQ(0, free_tag(self->fd, tag)) {
		TH_LOG("freeing leftover pages of tag %#x", tag);
	}
}

static void use_area(struct __test_metadata *_metadata, KRAM_SELF *self,
		     const char *name)
{
	int ret;

	ASSERT_GT(MAX_AREAS, self->nr_areas);
	snprintf(self->areas[self->nr_areas++], KRAM_NAME_LEN, "%s", name);
	ret = area_delete(self->fd, name);
	ASSERT_EQ(0, ret == ENOENT ? 0 : ret) {
		TH_LOG("deleting leftover area %s", name);
	}
}

TEST_F(kram, status_contract)
{
	static const unsigned long unknown[] = {
		_IOWR(HVKIT_IOC_MAGIC, 0x2f, struct kram_pages),
		_IOWR(HVKIT_IOC_MAGIC, 0x17, struct kram_pages),
		/* STATUS's number with another encoded size */
		_IOWR(HVKIT_IOC_MAGIC, 0x10, __u64),
	};
	struct {
		struct kram_status st;
		char tail[64];
	} big;
	struct kram_status *st = &big.st;
	size_t i;
	void *ro;

	need_kram(_metadata, self);
	memset(&big, 0, sizeof(big));
	ASSERT_EQ(0, get_status(self->fd, st));
	TH_LOG("state %u, %llu data pages, %llu free, %u/%u areas",
	       st->state, st->data_pages, st->free_pages, st->nr_areas,
	       st->max_areas);
	EXPECT_LE(st->state, KRAM_STATE_REFUSED);
	switch (st->state) {
	case KRAM_STATE_ATTACHED:
		EXPECT_EQ(0, st->last_error);
		EXPECT_NE(0, st->generation);
		EXPECT_LE(st->meta_pages + st->data_pages, st->nr_pages);
		EXPECT_EQ(st->data_pages,
			  st->free_pages + st->dynamic_pages + st->area_pages);
		EXPECT_LE(st->nr_areas, st->max_areas);
		break;
	case KRAM_STATE_REFUSED:
		EXPECT_GT(0, st->last_error);
		break;
	default:
		break;
	}

	memset(&big, 0, sizeof(big));
	st->size = 0;
	EXPECT_EQ(EINVAL, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));
	st->size = 4;
	EXPECT_EQ(EINVAL, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));
	st->size = HVKIT_ARG_MAX_SIZE + 1;
	EXPECT_EQ(EINVAL, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));
	st->size = sizeof(*st);
	st->flags = 1;
	EXPECT_EQ(EINVAL, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));
	st->flags = 0x80000000u;
	EXPECT_EQ(EINVAL, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));
	st->flags = 0;
	st->__pad0 = 1;
	EXPECT_EQ(EINVAL, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));

	/* A newer, larger struct: fine with a zero tail, E2BIG otherwise. */
	memset(&big, 0, sizeof(big));
	st->size = sizeof(big);
	EXPECT_EQ(0, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));
	EXPECT_EQ(self->st.state, st->state);
	memset(&big, 0, sizeof(big));
	st->size = sizeof(big);
	big.tail[63] = 1;
	EXPECT_EQ(E2BIG, kram_ioc(self->fd, KRAM_IOC_STATUS, &big));

	EXPECT_EQ(EFAULT, kram_ioc(self->fd, KRAM_IOC_STATUS, NULL));
	EXPECT_EQ(EFAULT, kram_ioc(self->fd, KRAM_IOC_STATUS, (void *)16));
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	((struct kram_status *)ro)->size = sizeof(struct kram_status);
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ));
	EXPECT_EQ(EFAULT, kram_ioc(self->fd, KRAM_IOC_STATUS, ro));
	munmap(ro, PAGE);

	memset(&big, 0, sizeof(big));
	for (i = 0; i < ARRAY_SIZE(unknown); i++)
		EXPECT_EQ(ENOTTY, kram_ioc(self->fd, unknown[i], &big));
}

/* Without a region every command but STATUS gives ENODEV. */
TEST_F(kram, detached_enodev)
{
	struct kram_area_list l = {
		.size = sizeof(l), .count = 1, .areas = (uintptr_t)list_buf,
	};
	__u64 page = 0;

	need_kram(_metadata, self);
	if (self->st.state == KRAM_STATE_ATTACHED) {
		ASSERT_TRUE(region_wanted(&self->st)) {
			TH_LOG("a region is attached in a group that gives kram none");
		}
		SKIP(return, "this group gives kram a region");
	}
	EXPECT_EQ(ENODEV, kr_alloc(self->fd, 0x80000100, 1, 0, &page));
	EXPECT_EQ(ENODEV, kr_free(self->fd, 0x80000100, 1, &page));
	EXPECT_EQ(ENODEV, pages_call(self->fd, KRAM_IOC_WALK, 0x80000100, 1,
				     0, &page, 0));
	EXPECT_EQ(ENODEV, area_create(self->fd, "kst_d", "", 1, NULL));
	EXPECT_EQ(ENODEV, area_delete(self->fd, "kst_d"));
	EXPECT_EQ(ENODEV, kram_ioc(self->fd, KRAM_IOC_AREA_LIST, &l));
}

#define NBASIC	64

TEST_F(kram, alloc_free_basic)
{
	const __u32 tag = 0x80000101;
	__u64 pages[NBASIC], *walked;
	struct kram_status st0, st;
	char *buf, *want;
	size_t i, n;

	if (no_region(_metadata, self))
		return;
	use_tag(_metadata, self, tag);
	ASSERT_EQ(0, get_status(self->fd, &st0));
	ASSERT_LE(NBASIC, st0.free_pages);
	buf = malloc(PAGE);
	want = malloc(PAGE);
	ASSERT_TRUE(buf && want);

	ASSERT_EQ(0, kr_alloc(self->fd, tag, NBASIC, 0, pages));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages + NBASIC, st.dynamic_pages);
	EXPECT_EQ(st0.free_pages - NBASIC, st.free_pages);
	qsort(pages, NBASIC, sizeof(pages[0]), cmp_u64);
	for (i = 0; i < NBASIC; i++) {
		EXPECT_LT(pages[i], st0.data_pages);
		if (i)
			EXPECT_LT(pages[i - 1], pages[i]);
	}
	ASSERT_EQ(0, walk_all(self->fd, tag, &walked, &n));
	qsort(walked, n, sizeof(walked[0]), cmp_u64);
	EXPECT_EQ(NBASIC, n);
	if (n == NBASIC)
		EXPECT_EQ(0, memcmp(pages, walked, sizeof(pages)));
	free(walked);

	for (i = 0; i < NBASIC; i++) {
		fill(buf, PAGE, pages[i] * PAGE / 8);
		ASSERT_EQ(0, page_io(self->fd, true, pages[i] * PAGE, buf, PAGE));
	}
	for (i = 0; i < NBASIC; i++) {
		fill(want, PAGE, pages[i] * PAGE / 8);
		ASSERT_EQ(0, page_io(self->fd, false, pages[i] * PAGE, buf, PAGE));
		EXPECT_EQ(0, memcmp(want, buf, PAGE)) {
			TH_LOG("page %llu does not hold its pattern", pages[i]);
		}
	}
	/* Part of a page, in the middle. */
	fill(want, PAGE, pages[0] * PAGE / 8);
	memset(want + 1000, 0x5a, 100);
	ASSERT_EQ(0, page_io(self->fd, true, pages[0] * PAGE + 1000,
			     want + 1000, 100));
	ASSERT_EQ(0, page_io(self->fd, false, pages[0] * PAGE + 1000, buf, 100));
	EXPECT_EQ(0, memcmp(want + 1000, buf, 100));
	ASSERT_EQ(0, page_io(self->fd, false, pages[0] * PAGE, buf, PAGE));
	EXPECT_EQ(0, memcmp(want, buf, PAGE));

	EXPECT_EQ(ENXIO, page_io(self->fd, false, st0.data_pages * PAGE, buf, PAGE));
	EXPECT_EQ(ENXIO, page_io(self->fd, false, 1ULL << 50, buf, PAGE));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, 0));
	EXPECT_EQ(ENODEV, errno);

	ASSERT_EQ(0, free_list(self->fd, tag, pages, NBASIC));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages, st.dynamic_pages);
	EXPECT_EQ(st0.free_pages, st.free_pages);
	EXPECT_EQ(EINVAL, page_io(self->fd, false, pages[0] * PAGE, buf, PAGE));
	EXPECT_EQ(EINVAL, page_io(self->fd, true, pages[NBASIC - 1] * PAGE,
				  buf, PAGE));
	EXPECT_EQ(0, tag_pages(self->fd, tag));
	free(buf);
	free(want);
}

#define NJUNK	16

/*
 * A pool page from the ioctl path is zeroed whether or not the caller
 * asks (KRAM_ALLOC_ZERO): it may have held a kernel owner's or another
 * tenant's bytes. Both ways, the pages just filled with junk and freed
 * come back zeroed.
 */
TEST_F_TIMEOUT(kram, alloc_zero, 120)
{
	const __u32 tag = 0x80000102;
	const __u32 modes[] = { 0, KRAM_ALLOC_ZERO };
	__u64 junk[NJUNK], got[256];
	struct kram_status st0, st;
	__u32 batch, i, j, m;
	int hits, dirty, ret;
	char *buf, *zero;

	if (no_region(_metadata, self))
		return;
	use_tag(_metadata, self, tag);
	ASSERT_EQ(0, get_status(self->fd, &st0));
	ASSERT_LE(NJUNK, st0.free_pages);
	buf = malloc(PAGE);
	zero = calloc(1, PAGE);
	ASSERT_TRUE(buf && zero);

	for (m = 0; m < ARRAY_SIZE(modes); m++) {
		ASSERT_EQ(0, kr_alloc(self->fd, tag, NJUNK, 0, junk));
		memset(buf, 0xa5, PAGE);
		for (i = 0; i < NJUNK; i++)
			ASSERT_EQ(0, page_io(self->fd, true, junk[i] * PAGE, buf, PAGE));
		ASSERT_EQ(0, kr_free(self->fd, tag, NJUNK, junk));

		/* Allocate until every junk page came back (or none is left). */
		hits = 0;
		dirty = 0;
		batch = NJUNK;
		while (hits < NJUNK && batch) {
			ret = kr_alloc(self->fd, tag, batch, modes[m], got);
			if (ret == ENOSPC) {
				batch /= 2;
				continue;
			}
			ASSERT_EQ(0, ret);
			for (i = 0; i < batch; i++) {
				ASSERT_EQ(0, page_io(self->fd, false, got[i] * PAGE,
						     buf, PAGE));
				if (memcmp(buf, zero, PAGE) && dirty++ < 5)
					TH_LOG("flags 0x%x: page %llu is not zeroed",
					       modes[m], got[i]);
				for (j = 0; j < NJUNK; j++)
					hits += got[i] == junk[j];
			}
			batch = 256;
		}
		EXPECT_EQ(0, dirty);
		EXPECT_EQ(NJUNK, hits);
		ASSERT_EQ(0, free_tag(self->fd, tag));
	}
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages, st.dynamic_pages);
	free(buf);
	free(zero);
}

TEST_F(kram, bad_inputs)
{
	static const __u32 bad_tags[] = { 0, 1, KRAM_TAG_USER - 1 };
	static const __u32 bad_counts[] = { 0, KRAM_MAX_BATCH + 1, 0xffffffff };
	static const unsigned long cmds[] = { KRAM_IOC_ALLOC, KRAM_IOC_FREE };
	const __u32 tag = 0x80000103, tag2 = 0x80000104;
	struct kram_status st0, st;
	__u64 p[4], q, two[2], three[3], first, *buf;
	long expect_dyn;
	void *ro;
	size_t c, i;
	int ret;

	if (no_region(_metadata, self))
		return;
	use_tag(_metadata, self, tag);
	use_tag(_metadata, self, tag2);
	use_area(_metadata, self, "kst_bad");
	ASSERT_EQ(0, get_status(self->fd, &st0));
	ASSERT_LE(6, st0.free_pages);
	buf = calloc(KRAM_MAX_BATCH + 1, sizeof(*buf));
	ASSERT_NE(NULL, buf);

	for (c = 0; c < ARRAY_SIZE(cmds); c++) {
		for (i = 0; i < ARRAY_SIZE(bad_tags); i++)
			EXPECT_EQ(EINVAL, pages_call(self->fd, cmds[c], bad_tags[i],
						     1, 0, buf, 0));
		for (i = 0; i < ARRAY_SIZE(bad_counts); i++)
			EXPECT_EQ(EINVAL, pages_call(self->fd, cmds[c], tag,
						     bad_counts[i], 0, buf, 0));
	}
	EXPECT_EQ(EINVAL, kr_alloc(self->fd, tag, 1, 2, buf));
	EXPECT_EQ(EINVAL, kr_alloc(self->fd, tag, 1, 0x80000000u, buf));
	EXPECT_EQ(EINVAL, pages_call(self->fd, KRAM_IOC_ALLOC, tag, 1, 0, buf, 1));
	EXPECT_EQ(EINVAL, pages_call(self->fd, KRAM_IOC_WALK, 0, 1, 0, buf, 0));
	for (i = 0; i < ARRAY_SIZE(bad_counts); i++)
		EXPECT_EQ(EINVAL, pages_call(self->fd, KRAM_IOC_WALK, tag,
					     bad_counts[i], 0, buf, 0));
	EXPECT_EQ(EINVAL, pages_call(self->fd, KRAM_IOC_WALK, tag, 1, 1, buf, 0));
	/* WALK takes any non-zero tag, also a kernel one. */
	EXPECT_EQ(0, pages_call(self->fd, KRAM_IOC_WALK, 1, 1, 0, buf, 0));

	/* Bad pointers: EFAULT and no page leaked. */
	EXPECT_EQ(EFAULT, kr_alloc(self->fd, tag, 4, 0, NULL));
	EXPECT_EQ(EFAULT, kr_alloc(self->fd, tag, 4, 0, (void *)16));
	ro = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_EQ(EFAULT, kr_alloc(self->fd, tag, 4, 0, ro));
	/* The first two entries writable, the rest beyond the mapping. */
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, munmap((char *)ro + PAGE, PAGE));
	EXPECT_EQ(EFAULT, kr_alloc(self->fd, tag, 4, 0,
				   (void *)((char *)ro + PAGE - 16)));
	munmap(ro, PAGE);
	EXPECT_EQ(EFAULT, kr_free(self->fd, tag, 4, NULL));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages, st.dynamic_pages);
	EXPECT_EQ(0, tag_pages(self->fd, tag));

	ASSERT_EQ(0, kr_alloc(self->fd, tag, 4, 0, p));
	ASSERT_EQ(0, kr_alloc(self->fd, tag2, 1, 0, &q));
	EXPECT_EQ(EINVAL, pages_call(self->fd, KRAM_IOC_FREE, tag, 1, 0, &p[0], 1));
	EXPECT_EQ(EINVAL, pages_call(self->fd, KRAM_IOC_FREE, tag, 1,
				     KRAM_ALLOC_ZERO, &p[0], 0));
	EXPECT_EQ(0, kr_free(self->fd, tag, 1, &p[0]));
	EXPECT_EQ(ENOENT, kr_free(self->fd, tag, 1, &p[0]));
	EXPECT_EQ(EPERM, kr_free(self->fd, tag2, 1, &p[1]));
	EXPECT_EQ(0, page_io(self->fd, false, p[1] * PAGE, buf, 8));
	two[0] = st0.data_pages;
	EXPECT_EQ(EINVAL, kr_free(self->fd, tag, 1, two));
	two[0] = ~0ULL;
	EXPECT_EQ(EINVAL, kr_free(self->fd, tag, 1, two));

	/* One bad entry in a batch: nothing is freed. */
	three[0] = p[1];
	three[1] = p[2];
	three[2] = p[0];
	EXPECT_EQ(ENOENT, kr_free(self->fd, tag, 3, three));
	three[2] = st0.data_pages;
	EXPECT_EQ(EINVAL, kr_free(self->fd, tag, 3, three));
	three[2] = q;
	EXPECT_EQ(EPERM, kr_free(self->fd, tag, 3, three));
	EXPECT_EQ(3, tag_pages(self->fd, tag));
	EXPECT_EQ(1, tag_pages(self->fd, tag2));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages + 4, st.dynamic_pages);

	/*
	 * The same page twice in one batch: rejected, or freed once; either
	 * way the counters must agree with what WALK sees.
	 */
	two[0] = p[1];
	two[1] = p[1];
	ret = kr_free(self->fd, tag, 2, two);
	TH_LOG("FREE of a duplicated page: %s", ret ? strerror(ret) : "freed");
	EXPECT_TRUE(ret == 0 || ret == ENOENT || ret == EINVAL);
	expect_dyn = tag_pages(self->fd, tag) + tag_pages(self->fd, tag2);
	EXPECT_EQ(ret ? 4 : 3, expect_dyn);
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages + expect_dyn, st.dynamic_pages);

	/* An area's page is not a pool allocation. */
	if (st0.nr_areas < st0.max_areas) {
		ASSERT_EQ(0, area_create(self->fd, "kst_bad", "", 1, &first));
		EXPECT_EQ(ENOENT, kr_free(self->fd, tag, 1, &first));
		EXPECT_EQ(0, area_delete(self->fd, "kst_bad"));
	}

	EXPECT_EQ(0, free_tag(self->fd, tag));
	EXPECT_EQ(0, free_tag(self->fd, tag2));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages, st.dynamic_pages);
	EXPECT_EQ(st0.free_pages, st.free_pages);
	free(buf);
}

#define RANDOM_ITERS	2000

TEST_F_TIMEOUT(kram, random_bytes, 120)
{
	static const struct {
		unsigned long cmd;
		const char *name;
	} cmds[] = {
		{ KRAM_IOC_STATUS, "STATUS" },
		{ KRAM_IOC_AREA_CREATE, "AREA_CREATE" },
		{ KRAM_IOC_AREA_DELETE, "AREA_DELETE" },
		{ KRAM_IOC_AREA_LIST, "AREA_LIST" },
		{ KRAM_IOC_ALLOC, "ALLOC" },
		{ KRAM_IOC_FREE, "FREE" },
		{ KRAM_IOC_WALK, "WALK" },
	};
	__u64 buf[256 / 8];
	struct kram_pages *p = (void *)buf;
	struct kram_status st0, st;
	__u32 n0 = 0, total0 = 0, n, total, i;
	size_t c, b;
	int it, ok;
	bool attached;

	need_kram(_metadata, self);
	attached = self->st.state == KRAM_STATE_ATTACHED;
	if (attached) {
		ASSERT_EQ(0, get_status(self->fd, &st0));
		ASSERT_EQ(0, area_list(self->fd, list_before, LIST_ROOM,
				       &n0, &total0));
	}

	srand(1);
	for (c = 0; c < ARRAY_SIZE(cmds); c++) {
		ok = 0;
		for (it = 0; it < RANDOM_ITERS; it++) {
			for (b = 0; b < sizeof(buf); b++)
				((unsigned char *)buf)[b] = rand();
			p->size = rand() % 201;
			if (ioctl(self->fd, cmds[c].cmd, buf))
				continue;
			ok++;
			if (cmds[c].cmd == KRAM_IOC_ALLOC &&
			    p->tag >= KRAM_TAG_USER &&
			    p->count >= 1 && p->count <= KRAM_MAX_BATCH)
				EXPECT_EQ(0, kr_free(self->fd, p->tag, p->count,
						     (__u64 *)(uintptr_t)p->pages));
		}
		TH_LOG("%s: %d of %d random calls succeeded", cmds[c].name, ok,
		       RANDOM_ITERS);
	}

	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(self->st.state, st.state);
	if (!attached)
		return;
	ASSERT_EQ(0, area_list(self->fd, list_buf, LIST_ROOM, &n, &total));
	for (i = 0; i < n; i++) {
		if (find_area(list_before, n0, list_buf[i].name))
			continue;
		TH_LOG("random AREA_CREATE made area '%.*s'; deleting it",
		       KRAM_NAME_LEN, list_buf[i].name);
		EXPECT_EQ(0, area_delete(self->fd, list_buf[i].name));
	}
	ASSERT_EQ(0, area_list(self->fd, list_buf, LIST_ROOM, &n, &total));
	EXPECT_EQ(total0, total);
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages, st.dynamic_pages);
	EXPECT_EQ(st0.area_pages, st.area_pages);
}

static int check_errno(struct __test_metadata *_metadata, int want, int got,
		       const char *what)
{
	if (want == got)
		return 0;
	TH_LOG("unprivileged %s: want %s, got %s", what, strerror(want),
	       got ? strerror(got) : "success");
	return 1;
}

/* In a child: no ASSERT/EXPECT here, they would jump into the harness. */
static int unprivileged_child(struct __test_metadata *_metadata, __u32 tag,
			      __u64 page)
{
	struct kram_area_list l = {
		.size = sizeof(l), .count = 1, .areas = (uintptr_t)list_buf,
	};
	struct hvkit_info info = { .size = sizeof(info) };
	struct kram_status st;
	__u64 out = 0;
	int fd, bad = 0;

	fd = open("/dev/kram", O_RDWR);
	if (fd < 0) {
		TH_LOG("open /dev/kram: %s", strerror(errno));
		return 100;
	}
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534)) {
		TH_LOG("dropping privileges: %s", strerror(errno));
		return 101;
	}
	bad += check_errno(_metadata, 0, get_status(fd, &st), "STATUS");
	bad += check_errno(_metadata, 0, kram_ioc(fd, HVKIT_IOC_GET_INFO, &info),
			   "GET_INFO");
	bad += check_errno(_metadata, EPERM, kr_alloc(fd, tag, 1, 0, &out),
			   "ALLOC");
	bad += check_errno(_metadata, EPERM, kr_free(fd, tag, 1, &page), "FREE");
	bad += check_errno(_metadata, EPERM,
			   pages_call(fd, KRAM_IOC_WALK, tag, 1, 0, &out, 0),
			   "WALK");
	bad += check_errno(_metadata, EPERM,
			   area_create(fd, "kst_up2", "", 1, NULL), "AREA_CREATE");
	bad += check_errno(_metadata, EPERM, area_delete(fd, "kst_up"),
			   "AREA_DELETE");
	bad += check_errno(_metadata, EPERM,
			   kram_ioc(fd, KRAM_IOC_AREA_LIST, &l), "AREA_LIST");
	bad += check_errno(_metadata, EACCES,
			   open("/dev/kram", O_RDWR) < 0 ? errno : 0, "open");
	close(fd);
	return bad;
}

TEST_F(kram, unprivileged)
{
	const __u32 tag = 0x80000105;
	__u32 n, total;
	__u64 page;
	int status;
	pid_t pid;

	if (no_region(_metadata, self))
		return;
	use_tag(_metadata, self, tag);
	use_area(_metadata, self, "kst_up");
	use_area(_metadata, self, "kst_up2");
	ASSERT_LE(2, self->st.free_pages);
	ASSERT_GT(self->st.max_areas, self->st.nr_areas);
	ASSERT_EQ(0, kr_alloc(self->fd, tag, 1, 0, &page));
	ASSERT_EQ(0, area_create(self->fd, "kst_up", "", 1, NULL));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(unprivileged_child(_metadata, tag, page));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* Nothing the child tried took effect. */
	EXPECT_EQ(1, tag_pages(self->fd, tag));
	ASSERT_EQ(0, area_list(self->fd, list_buf, LIST_ROOM, &n, &total));
	EXPECT_NE(NULL, find_area(list_buf, n, "kst_up"));
	EXPECT_EQ(NULL, find_area(list_buf, n, "kst_up2"));
}

#define AREA_PAGES	8
#define NAME31		"kst_xxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define NAME32		NAME31 "x"
#define VERSION32	"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
static_assert(sizeof(NAME31) == KRAM_NAME_LEN, "31 characters");
static_assert(sizeof(VERSION32) == KRAM_VERSION_LEN + 1, "32 characters");

TEST_F(kram, areas)
{
	static const char *const bad_names[] = {
		"", ".", "..", "a/b", "a b", "kst_\x01", "kst_\xc3\xa9",
		"kst_\xe9",	/* Latin-1: a letter to the kernel's isalnum() */
		NAME32,		/* fills the field: no NUL */
	};
	const size_t len = AREA_PAGES * PAGE;
	struct kram_status st0, st;
	struct kram_area_info *a;
	__u64 first;
	__u32 n, total, i;
	char *buf, *want, *m;
	int ret;

	if (no_region(_metadata, self))
		return;
	use_area(_metadata, self, "kst_a");
	use_area(_metadata, self, "kst_e");
	use_area(_metadata, self, NAME31);
	ASSERT_EQ(0, get_status(self->fd, &st0));
	ASSERT_LE(AREA_PAGES + 2, st0.free_pages);
	ASSERT_LE(st0.nr_areas + 2, st0.max_areas);
	buf = malloc(len);
	want = malloc(len);
	ASSERT_TRUE(buf && want);

	ASSERT_EQ(0, area_create(self->fd, "kst_a", "v1", AREA_PAGES, &first));
	EXPECT_EQ(EEXIST, create_bad(self->fd, "kst_a", "v1", AREA_PAGES));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.nr_areas + 1, st.nr_areas);
	EXPECT_EQ(st0.area_pages + AREA_PAGES, st.area_pages);
	EXPECT_EQ(st0.free_pages - AREA_PAGES, st.free_pages);
	EXPECT_LE(first + AREA_PAGES, st.data_pages);

	ASSERT_EQ(0, area_list(self->fd, list_buf, LIST_ROOM, &n, &total));
	EXPECT_EQ(st.nr_areas, total);
	EXPECT_EQ(total, n);
	a = find_area(list_buf, n, "kst_a");
	ASSERT_NE(NULL, a);
	EXPECT_STREQ("v1", a->version);
	EXPECT_EQ(first, a->first_page);
	EXPECT_EQ(AREA_PAGES, a->nr_pages);
	EXPECT_EQ(st.generation, a->created_generation);
	EXPECT_EQ(KRAM_AREA_INFO_USER, a->flags);	/* created here: userspace's */
	EXPECT_EQ(0, a->users);
	if (total > 1) {
		ASSERT_EQ(0, area_list(self->fd, list_buf, 1, &n, &total));
		EXPECT_EQ(1, n);
		EXPECT_EQ(st.nr_areas, total);
	}

	for (i = 0; i < ARRAY_SIZE(bad_names); i++)
		EXPECT_EQ(EINVAL, create_bad(self->fd, bad_names[i], "", 1)) {
			TH_LOG("bad_names[%u]", i);
		}
	EXPECT_EQ(EINVAL, create_bad(self->fd, "kst_v", "\x01", 1));
	EXPECT_EQ(EINVAL, create_bad(self->fd, "kst_v", VERSION32, 1));
	EXPECT_EQ(EINVAL, create_bad(self->fd, "kst_v", "", 0));
	ret = create_bad(self->fd, "kst_v", "", ~0ULL);
	EXPECT_TRUE(ret == ENOSPC || ret == EINVAL) {
		TH_LOG("nr_pages ~0: %s", strerror(ret));
	}
	EXPECT_EQ(ENOSPC, create_bad(self->fd, "kst_v", "", st.free_pages + 1));
	/* Longest name, empty version. */
	EXPECT_EQ(0, area_create(self->fd, NAME31, "", 1, NULL));
	EXPECT_EQ(0, area_delete(self->fd, NAME31));

	self->area_fd = open_area("kst_a");
	ret = errno;
	ASSERT_LE(0, self->area_fd) {
		TH_LOG("open /dev/kram_areas/kst_a: %s", strerror(ret));
	}
	EXPECT_EQ((off_t)len, lseek(self->area_fd, 0, SEEK_END));
	fill(want, len, 0x1234);
	ASSERT_EQ(0, page_io(self->area_fd, true, 0, want, len));
	ASSERT_EQ(0, page_io(self->area_fd, false, 0, buf, len));
	EXPECT_EQ(0, memcmp(want, buf, len));

	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->area_fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	self->map = m;
	self->map_len = len;
	EXPECT_EQ(0, memcmp(want, m, len));
	fill(m + 5 * PAGE, PAGE, 0x5678);
	fill(want + 5 * PAGE, PAGE, 0x5678);
	ASSERT_EQ(0, page_io(self->area_fd, false, 0, buf, len));
	EXPECT_EQ(0, memcmp(want, buf, len));

	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE,
				   self->area_fd, 0));
	EXPECT_EQ(EINVAL, errno);
	/* A read-only shared map of a read-only fd sees the same pages. */
	EXPECT_EQ(0, readonly_map_matches("kst_a", want, len));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len + PAGE, PROT_READ, MAP_SHARED,
				   self->area_fd, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED,
				   self->area_fd, len));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(0, area_list(self->fd, list_buf, LIST_ROOM, &n, &total));
	a = find_area(list_buf, n, "kst_a");
	ASSERT_NE(NULL, a);
	EXPECT_LE(1, a->users);

	EXPECT_EQ(EBUSY, area_delete(self->fd, "kst_a"));
	close(self->area_fd);
	self->area_fd = -1;
	EXPECT_EQ(EBUSY, area_delete(self->fd, "kst_a"));	/* still mapped */
	munmap(self->map, self->map_len);
	self->map = NULL;
	EXPECT_EQ(0, area_delete(self->fd, "kst_a"));
	EXPECT_TRUE(area_node_gone("kst_a"));
	EXPECT_EQ(ENOENT, area_delete(self->fd, "kst_a"));
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.nr_areas, st.nr_areas);
	EXPECT_EQ(st0.area_pages, st.area_pages);
	EXPECT_EQ(st0.free_pages, st.free_pages);
	free(buf);
	free(want);
}

/* A counter of /sys/class/misc/kram/, or -1. */
static long long kram_sysfs(const char *attr)
{
	char path[96];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/misc/kram/%s", attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The physical address of area @name (debugfs kram/areas), or 0. */
static unsigned long long area_phys(const char *name)
{
	unsigned long long phys = 0, v;
	char line[256], n[KRAM_NAME_LEN + 1];
	FILE *f = fopen("/sys/kernel/debug/kram/areas", "r");

	if (!f)
		return 0;
	/* slot name 'version' first_page nr_pages phys created_gen users */
	while (fgets(line, sizeof(line), f)) {
		char *q = strrchr(line, '\'');

		if (q && sscanf(line, "%*d %32s", n) == 1 && !strcmp(n, name) &&
		    sscanf(q + 1, "%*u %*u %llx", &v) == 1)
			phys = v;
	}
	fclose(f);
	return phys;
}

/* Area mapping faults kram served (sysfs counters), or since @f0. */
struct map_faults {
	long long pte, pmd;
};

static struct map_faults faults_since(const struct map_faults *f0)
{
	struct map_faults f = {
		kram_sysfs("map_faults_pte") - (f0 ? f0->pte : 0),
		kram_sysfs("map_faults_pmd") - (f0 ? f0->pmd : 0),
	};

	return f;
}

/* MAP_SHARED|MAP_FIXED of @fd at a 2 MiB aligned address, or MAP_FAILED. */
static char *map_aligned(int fd, size_t len, off_t off)
{
	size_t room = len + (2UL << 20);
	char *r = mmap(NULL, room, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (r == MAP_FAILED)
		return r;
	a = (char *)(((uintptr_t)r + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	if (a > r)
		munmap(r, a - r);
	munmap(a + len, r + room - (a + len));
	return mmap(a, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, off);
}

/*
 * An area of 2 MiB or more starts 2 MiB aligned and a mapping of it at a
 * 2 MiB aligned address is served with one PMD per 2 MiB (device-dax
 * style), so KVM can map guest RAM in it with 2 MiB pages; an unaligned
 * mapping gets 4 KiB pages of the same memory; MADV_DONTNEED refaults the
 * same pages (the data stays).
 */
TEST_F(kram, area_pmd_map)
{
	const size_t len = 4UL << 20, pages = len / PAGE;
	struct map_faults f0, f;
	char *buf, *want, *m;
	size_t i;

	if (no_region(_metadata, self))
		return;
	ASSERT_EQ(1, kram_sysfs("map_pmd")) {
		TH_LOG("no PMD maps: needs THP, FS_DAX and kram's pmd=1");
	}
	use_area(_metadata, self, "kst_pmd");
	ASSERT_LE(2 * pages, self->st.free_pages);
	ASSERT_EQ(0, area_create(self->fd, "kst_pmd", "", pages, NULL));
	ASSERT_NE(0, area_phys("kst_pmd")) {
		TH_LOG("no address for kst_pmd in /sys/kernel/debug/kram/areas");
	}
	/* An area of 2 MiB or more starts 2 MiB aligned (a fresh region). */
	ASSERT_EQ(0, area_phys("kst_pmd") % (2 << 20)) {
		TH_LOG("area kst_pmd at %#llx (debugfs kram/areas): not 2 MiB aligned",
		       area_phys("kst_pmd"));
	}
	self->area_fd = open_area("kst_pmd");
	ASSERT_LE(0, self->area_fd);
	buf = malloc(len);
	want = malloc(len);
	ASSERT_TRUE(buf && want);
	fill(want, len, 0x2d2d);

	f0 = faults_since(NULL);
	m = map_aligned(self->area_fd, len, 0);
	ASSERT_NE(MAP_FAILED, m);
	self->map = m;
	self->map_len = len;
	for (i = 0; i < pages; i++)
		memcpy(m + i * PAGE, want + i * PAGE, PAGE);
	f = faults_since(&f0);
	EXPECT_EQ(2, f.pmd);
	EXPECT_EQ(0, f.pte);
	ASSERT_EQ(0, page_io(self->area_fd, false, 0, buf, len));
	EXPECT_EQ(0, memcmp(want, buf, len));

	/* Dropped and refaulted: the same pages, the data still there. */
	ASSERT_EQ(0, madvise(m, len, MADV_DONTNEED));
	EXPECT_EQ(0, memcmp(want, m, len));
	f = faults_since(&f0);
	EXPECT_EQ(4, f.pmd);
	EXPECT_EQ(0, f.pte);
	munmap(m, len);
	self->map = NULL;

	/* mmap(NULL): kram picks an address in line with the offset. */
	f0 = faults_since(NULL);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, self->area_fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	self->map = m;
	EXPECT_EQ(0, (uintptr_t)m % (2 << 20));
	EXPECT_EQ(0, memcmp(want, m, len));
	f = faults_since(&f0);
	EXPECT_EQ(2, f.pmd);
	EXPECT_EQ(0, f.pte);
	munmap(m, len);
	self->map = NULL;

	/* One page in: no 2 MiB of the mapping is 2 MiB of the area. */
	f0 = faults_since(NULL);
	m = map_aligned(self->area_fd, 2UL << 20, PAGE);
	ASSERT_NE(MAP_FAILED, m);
	self->map = m;
	self->map_len = 2UL << 20;
	EXPECT_EQ(0, memcmp(want + PAGE, m, 2UL << 20));
	f = faults_since(&f0);
	EXPECT_EQ(0, f.pmd);
	EXPECT_EQ((2 << 20) / PAGE, f.pte);
	/* A write through a 4 KiB mapping lands in the area too. */
	m[100] ^= 0x5a;
	ASSERT_EQ(0, page_io(self->area_fd, false, PAGE, buf, PAGE));
	EXPECT_EQ((char)(want[PAGE + 100] ^ 0x5a), buf[100]);
	free(buf);
	free(want);
}

/* Fill the area table: one more area than max_areas is ENOSPC. */
TEST_F_TIMEOUT(kram, area_table_full, 120)
{
	struct kram_status st0, st;
	__u32 i, room;
	char name[KRAM_NAME_LEN];

	if (no_region(_metadata, self))
		return;
	ASSERT_GT(MAX_AREAS, self->st.max_areas);
	/* Every name this test can use, in case an earlier run left some. */
	for (i = 0; i <= self->st.max_areas; i++) {
		snprintf(name, sizeof(name), "kst_full%u", i);
		use_area(_metadata, self, name);
	}
	ASSERT_EQ(0, get_status(self->fd, &st0));
	room = st0.max_areas - st0.nr_areas;
	ASSERT_LE(room + 1, st0.free_pages);
	for (i = 0; i < room; i++) {
		snprintf(name, sizeof(name), "kst_full%u", i);
		ASSERT_EQ(0, area_create(self->fd, name, "", 1, NULL)) {
			TH_LOG("area %u of %u", i, room);
		}
	}
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st.max_areas, st.nr_areas);
	snprintf(name, sizeof(name), "kst_full%u", room);
	EXPECT_EQ(ENOSPC, create_bad(self->fd, name, "", 1));
	for (i = 0; i < room; i++) {
		snprintf(name, sizeof(name), "kst_full%u", i);
		EXPECT_EQ(0, area_delete(self->fd, name));
	}
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.nr_areas, st.nr_areas);
	EXPECT_EQ(st0.free_pages, st.free_pages);
}

#define NTHREADS	8
#define CONC_ITERS	2000
#define CONC_MAX_ALLOC	32
#define CONC_HOLD	256

struct worker {
	int fd;
	__u32 tag;
	unsigned int seed;
	__u64 data_pages;
	__u32 *owner;		/* shared: tag holding each page, 0 if none */
	__u64 held[CONC_HOLD + CONC_MAX_ALLOC];
	size_t nr_held;
	unsigned long allocs, frees, enospc;
	int err;		/* first unexpected errno */
	char why[160];
};

static int worker_fail(struct worker *w, int err, const char *what, __u64 n)
{
	if (!w->err) {
		w->err = err;
		snprintf(w->why, sizeof(w->why), "%s %llu", what, n);
	}
	return err;
}

/* Every page must still hold [index, tag]; give up ownership, then FREE. */
static int worker_free(struct worker *w, const __u64 *pages, size_t n)
{
	__u64 hdr[2];
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = page_io(w->fd, false, pages[i] * PAGE, hdr, sizeof(hdr));
		if (ret)
			return worker_fail(w, ret, "pread of page", pages[i]);
		if (hdr[0] != pages[i] || hdr[1] != w->tag)
			return worker_fail(w, EBADMSG, "overwritten: page",
					   pages[i]);
		__atomic_store_n(&w->owner[pages[i]], 0, __ATOMIC_SEQ_CST);
	}
	ret = kr_free(w->fd, w->tag, n, pages);
	if (ret)
		return worker_fail(w, ret, "FREE, pages:", n);
	w->frees += n;
	return 0;
}

static int worker_alloc(struct worker *w, size_t n)
{
	__u64 *pages = w->held + w->nr_held, hdr[2];
	__u32 prev;
	size_t i;
	int ret;

	ret = kr_alloc(w->fd, w->tag, n, 0, pages);
	if (ret == ENOSPC) {
		w->enospc++;
		return ret;
	}
	if (ret)
		return worker_fail(w, ret, "ALLOC, pages:", n);
	w->nr_held += n;
	w->allocs += n;
	for (i = 0; i < n; i++) {
		if (pages[i] >= w->data_pages)
			return worker_fail(w, ERANGE, "ALLOC gave page",
					   pages[i]);
		prev = 0;
		if (!__atomic_compare_exchange_n(&w->owner[pages[i]], &prev,
						 w->tag, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
			return worker_fail(w, EEXIST,
					   "also given to another thread: page",
					   pages[i]);
		hdr[0] = pages[i];
		hdr[1] = w->tag;
		ret = page_io(w->fd, true, pages[i] * PAGE, hdr, sizeof(hdr));
		if (ret)
			return worker_fail(w, ret, "pwrite of page", pages[i]);
	}
	return 0;
}

/* Free about half of the held pages, or all of them. */
static void worker_free_some(struct worker *w, bool all)
{
	__u64 batch[CONC_HOLD + CONC_MAX_ALLOC];
	size_t i, keep = 0, n = 0;

	for (i = 0; i < w->nr_held; i++) {
		if (all || rand_r(&w->seed) & 1)
			batch[n++] = w->held[i];
		else
			w->held[keep++] = w->held[i];
	}
	w->nr_held = keep;
	if (n)
		worker_free(w, batch, n);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	size_t n;
	int i;

	for (i = 0; i < CONC_ITERS && !w->err; i++) {
		n = 1 + rand_r(&w->seed) % CONC_MAX_ALLOC;
		if (w->nr_held + n > CONC_HOLD)
			worker_free_some(w, false);
		else if (worker_alloc(w, n) == ENOSPC ||
			 rand_r(&w->seed) % 8 == 0)
			worker_free_some(w, false);
	}
	if (!w->err)
		worker_free_some(w, true);
	return NULL;
}

TEST_F_TIMEOUT(kram, concurrency, 300)
{
	struct kram_status st0, st;
	pthread_t th[NTHREADS];
	struct worker *w;
	__u32 *owner;
	int t, started;

	if (no_region(_metadata, self))
		return;
	for (t = 0; t < NTHREADS; t++)
		use_tag(_metadata, self, 0x80001000 + t);
	ASSERT_EQ(0, get_status(self->fd, &st0));
	ASSERT_LE(CONC_MAX_ALLOC, st0.free_pages);
	owner = calloc(st0.data_pages, sizeof(*owner));
	w = calloc(NTHREADS, sizeof(*w));
	ASSERT_TRUE(owner && w);

	for (started = 0; started < NTHREADS; started++) {
		w[started].fd = self->fd;
		w[started].tag = 0x80001000 + started;
		w[started].seed = started + 1;
		w[started].data_pages = st0.data_pages;
		w[started].owner = owner;
		if (pthread_create(&th[started], NULL, worker_run, &w[started]))
			break;
	}
	for (t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	ASSERT_EQ(NTHREADS, started);

	for (t = 0; t < NTHREADS; t++) {
		TH_LOG("thread %d: %lu pages allocated, %lu freed, %lu ENOSPC",
		       t, w[t].allocs, w[t].frees, w[t].enospc);
		EXPECT_EQ(0, w[t].err) {
			TH_LOG("thread %d: %s: %s", t, w[t].why,
			       strerror(w[t].err));
		}
		EXPECT_EQ(0, tag_pages(self->fd, w[t].tag));
	}
	ASSERT_EQ(0, get_status(self->fd, &st));
	EXPECT_EQ(st0.dynamic_pages, st.dynamic_pages);
	EXPECT_EQ(st0.free_pages, st.free_pages);
	free(owner);
	free(w);
}

TEST_HARNESS_MAIN
