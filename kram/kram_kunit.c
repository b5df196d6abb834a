// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of kram. kram_format: the on-memory format (kram_format.c),
 * run on a vmalloc()ed "region": geometry, names, the pool allocator's
 * edges, checksums and corruption detection, and every store of every
 * metadata update interrupted by a simulated crash. kram_api: the kernel
 * API of kram.h on the region kram.ko attached (skipped without one).
 */
#include <kunit/test.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
/*
 * The code under test is compiled into this module (kram.ko keeps its
 * format functions unexported).
 */
#include "kram_format.c"
#include "kram.h"

#define REGION_SIZE	SZ_2M
#define TAG_A		0x1001
#define TAG_B		0x1002

struct kram_test {
	void *region;
	void *pristine;		/* snapshot for the crash tests */
	struct kram_fmt *f;
};

static const u8 test_uuid[16] = { 0x6b, 0x72, 0x61, 0x6d, 1, 2, 3, 4 };

static int kram_test_init(struct kunit *test)
{
	struct kram_test *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, t);
	t->region = vzalloc(REGION_SIZE);
	t->pristine = vzalloc(REGION_SIZE);
	t->f = kunit_kzalloc(test, sizeof(*t->f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t->region);
	KUNIT_ASSERT_NOT_NULL(test, t->pristine);
	KUNIT_ASSERT_NOT_NULL(test, t->f);
	test->priv = t;
	return 0;
}

static void kram_test_exit(struct kunit *test)
{
	struct kram_test *t = test->priv;

	if (t->f->vbitmap)
		kram_fmt_detach(t->f);
	vfree(t->region);
	vfree(t->pristine);
}

/* Attach t->f to t->region (detaching first); returns the attach result. */
static int reattach(struct kram_test *t)
{
	if (t->f->vbitmap)
		kram_fmt_detach(t->f);
	memset(t->f, 0, sizeof(*t->f));
	return kram_fmt_attach(t->f, t->region, REGION_SIZE);
}

static void format_attach(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *scratch;

	scratch = kunit_kzalloc(test, sizeof(*scratch), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, scratch);
	KUNIT_ASSERT_EQ(test, kram_fmt_format(scratch, t->region, REGION_SIZE,
					      test_uuid), 0);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
}

/* ---------------------------------------------------------------- tests */

static void kram_geometry(struct kunit *test)
{
	static const u64 sizes[] = { SZ_64K, SZ_2M, SZ_64M, SZ_1G, 64ULL << 30 };
	struct kram_geom g;
	int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		u64 nd;

		KUNIT_ASSERT_EQ(test, kram_geom_compute(sizes[i], &g), 0);
		nd = g.nr_data_pages;
		/* Everything fits, in order, page aligned. */
		KUNIT_EXPECT_EQ(test, g.nr_pages, sizes[i] / KRAM_PAGE_SIZE);
		KUNIT_EXPECT_LT(test, g.area_table_off, g.bitmap_off);
		KUNIT_EXPECT_GE(test, g.bitmap_bytes * 8, nd);
		KUNIT_EXPECT_EQ(test, g.tags_off, g.bitmap_off + g.bitmap_bytes);
		KUNIT_EXPECT_GE(test, g.data_off - g.tags_off, nd * 8);
		KUNIT_EXPECT_EQ(test, g.data_off % KRAM_PAGE_SIZE, 0);
		KUNIT_EXPECT_LE(test, g.data_off / KRAM_PAGE_SIZE + nd, g.nr_pages);
		/* ... and at most 2 pages are wasted (a data page may need 2 more). */
		KUNIT_EXPECT_GE(test, g.data_off / KRAM_PAGE_SIZE + nd + 2,
				g.nr_pages);
		/* Metadata costs about 0.2% beyond the fixed pages. */
		KUNIT_EXPECT_LE(test, g.nr_pages - nd, 8 + g.nr_pages / 400);
	}
	KUNIT_EXPECT_EQ(test, kram_geom_compute(0, &g), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_geom_compute(SZ_2M + 1, &g), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_geom_compute((KRAM_MIN_PAGES - 1) *
						KRAM_PAGE_SIZE, &g), -EINVAL);
}

static void kram_names(struct kunit *test)
{
	char longname[KRAM_NAME_LEN];
	char ver[KRAM_VERSION_LEN] = "vfio_preserve/1 (2026)";

	KUNIT_EXPECT_EQ(test, kram_name_valid("vm0-ram"), 0);
	KUNIT_EXPECT_EQ(test, kram_name_valid("a.b_c-D9"), 0);
	KUNIT_EXPECT_EQ(test, kram_name_valid(""), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_name_valid("."), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_name_valid(".."), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_name_valid("a/b"), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_name_valid("a b"), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_name_valid("tab\t"), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_name_valid("caf\xe9"), -EINVAL);
	memset(longname, 'x', sizeof(longname));
	KUNIT_EXPECT_EQ(test, kram_name_valid(longname), -EINVAL);
	longname[KRAM_NAME_LEN - 1] = '\0';
	KUNIT_EXPECT_EQ(test, kram_name_valid(longname), 0);

	KUNIT_EXPECT_EQ(test, kram_version_valid(ver), 0);
	KUNIT_EXPECT_EQ(test, kram_version_valid(""), 0);
	ver[3] = '\n';
	KUNIT_EXPECT_EQ(test, kram_version_valid(ver), -EINVAL);
	memset(ver, 'v', sizeof(ver));
	KUNIT_EXPECT_EQ(test, kram_version_valid(ver), -EINVAL);
}

static void kram_format_roundtrip(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *f = t->f;
	int slot;

	KUNIT_EXPECT_EQ(test, reattach(t), -ENODATA);	/* blank region */
	format_attach(test);
	KUNIT_EXPECT_EQ(test, f->generation, 0);
	KUNIT_EXPECT_EQ(test, f->nr_areas, 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_free_pages(f), f->g.nr_data_pages);
	KUNIT_EXPECT_EQ(test, f->torn_records, 0);

	kram_fmt_bump_generation(f);
	kram_fmt_bump_generation(f);
	mutex_lock(&f->area_lock);
	slot = kram_fmt_area_create(f, "vm0", "v1", 16, 7);
	mutex_unlock(&f->area_lock);
	KUNIT_ASSERT_GE(test, slot, 0);

	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, f->generation, 2);
	slot = kram_fmt_area_find(f, "vm0");
	KUNIT_ASSERT_GE(test, slot, 0);
	KUNIT_EXPECT_EQ(test, f->areas[slot].nr_pages, 16);
	KUNIT_EXPECT_EQ(test, f->areas[slot].flags, 7);
	KUNIT_EXPECT_EQ(test, f->areas[slot].created_gen, 2);
	KUNIT_EXPECT_STREQ(test, f->areas[slot].version, "v1");
	KUNIT_EXPECT_EQ(test, f->area_pages, 16);
	KUNIT_EXPECT_EQ(test, f->torn_records, 0);
}

static void kram_pool_exhaustion(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *f;
	unsigned long *seen;
	u64 nd, i, idx;
	u32 tag;

	format_attach(test);
	f = t->f;
	nd = f->g.nr_data_pages;
	seen = kunit_kzalloc(test, BITS_TO_LONGS(nd) * sizeof(long), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, seen);

	/* Every page once, then -ENOSPC; the last page is reachable. */
	for (i = 0; i < nd; i++) {
		KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(f, TAG_A, &idx), 0);
		KUNIT_ASSERT_LT(test, idx, nd);
		KUNIT_ASSERT_FALSE(test, __test_and_set_bit(idx, seen));
	}
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_alloc(f, TAG_A, &idx), -ENOSPC);
	KUNIT_EXPECT_EQ(test, kram_fmt_free_pages(f), 0);
	KUNIT_EXPECT_TRUE(test, test_bit(nd - 1, seen));

	/* A freed page is found again even behind every CPU's hint. */
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, 0, TAG_A), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_alloc(f, TAG_B, &idx), 0);
	KUNIT_EXPECT_EQ(test, idx, 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_check(f, 0, &tag), 0);
	KUNIT_EXPECT_EQ(test, tag, TAG_B);

	/* Persisted: a re-attach counts the same pages. */
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, percpu_counter_sum(&t->f->nr_dynamic), nd);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_next(t->f, TAG_B, 0), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_next(t->f, TAG_B, 1), U64_MAX);
	for (i = 0; i < nd; i++)
		KUNIT_ASSERT_EQ(test, kram_fmt_pool_free(t->f, i, 0), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_free_pages(t->f), nd);
}

static void kram_pool_bad_frees(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *f;
	u64 idx, apage;
	int slot;

	format_attach(test);
	f = t->f;
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_alloc(f, 0, &idx), -EINVAL);
	KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(f, TAG_A, &idx), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, idx, TAG_B), -EPERM);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, idx, TAG_A), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, idx, TAG_A), -ENOENT);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, f->g.nr_data_pages, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, U64_MAX, 0), -EINVAL);

	/* Area pages are not pool pages, and the pool never hands them out. */
	mutex_lock(&f->area_lock);
	slot = kram_fmt_area_create(f, "a", "", 8, 0);
	mutex_unlock(&f->area_lock);
	KUNIT_ASSERT_GE(test, slot, 0);
	apage = f->areas[slot].first_page;
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(f, apage, 0), -ENOENT);
	while (!kram_fmt_pool_alloc(f, TAG_A, &idx))
		KUNIT_ASSERT_TRUE(test, idx < apage || idx >= apage + 8);
	KUNIT_EXPECT_EQ(test, percpu_counter_sum(&f->nr_dynamic),
			f->g.nr_data_pages - 8);
}

static void kram_areas(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *f;
	char name[8];
	int i, slot;

	format_attach(test);
	f = t->f;
	mutex_lock(&f->area_lock);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_create(f, "bad/name", "", 1, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_create(f, "z", "", 0, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_create(f, "z", "", f->g.nr_data_pages + 1, 0),
			-ENOSPC);
	KUNIT_EXPECT_GE(test, kram_fmt_area_create(f, "z", "", 1, 0), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_create(f, "z", "", 1, 0), -EEXIST);
	for (i = 1; i < KRAM_MAX_AREAS; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		KUNIT_ASSERT_GE(test, kram_fmt_area_create(f, name, "", 1, 0), 0);
	}
	KUNIT_EXPECT_EQ(test, kram_fmt_area_create(f, "full", "", 1, 0), -ENOSPC);
	slot = kram_fmt_area_find(f, "a7");
	KUNIT_EXPECT_EQ(test, kram_fmt_area_delete(f, slot), 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_delete(f, slot), -ENOENT);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_find(f, "a7"), -ENOENT);
	KUNIT_EXPECT_GE(test, kram_fmt_area_create(f, "full", "", 1, 0), 0);
	mutex_unlock(&f->area_lock);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, t->f->nr_areas, KRAM_MAX_AREAS);
	KUNIT_EXPECT_GE(test, kram_fmt_area_find(t->f, "full"), 0);
}

static void kram_corruption(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_sb *sb = t->region;
	u8 *meta = t->region;
	u64 idx;
	u32 tag;
	int slot;

	format_attach(test);
	mutex_lock(&t->f->area_lock);
	slot = kram_fmt_area_create(t->f, "x", "", 4, 0);
	mutex_unlock(&t->f->area_lock);
	KUNIT_ASSERT_GE(test, slot, 0);
	KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(t->f, TAG_A, &idx), 0);
	kram_fmt_bump_generation(t->f);	/* both header copies written */
	memcpy(t->pristine, t->region, REGION_SIZE);

	/* Any bit of the superblock. */
	meta[offsetof(struct kram_sb, nr_pages)] ^= 1;
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	memcpy(t->region, t->pristine, REGION_SIZE);
	meta[offsetof(struct kram_sb, uuid)] ^= 0x80;
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	memcpy(t->region, t->pristine, REGION_SIZE);
	sb->version = cpu_to_le32(2);
	KUNIT_EXPECT_EQ(test, reattach(t), -EPROTONOSUPPORT);
	memcpy(t->region, t->pristine, REGION_SIZE);
	sb->magic = cpu_to_le64(0x1234);
	KUNIT_EXPECT_EQ(test, reattach(t), -ENODATA);

	/*
	 * One header copy corrupt: the other is used (the newer copy 1 holds
	 * generation 1, the older copy 0 generation 0); both: refused.
	 */
	memcpy(t->region, t->pristine, REGION_SIZE);
	meta[KRAM_HDR_OFF + 8] ^= 1;
	KUNIT_EXPECT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, t->f->torn_records, 1);
	KUNIT_EXPECT_EQ(test, t->f->generation, 1);
	memcpy(t->region, t->pristine, REGION_SIZE);
	meta[KRAM_HDR_OFF + sizeof(struct kram_hdr_rec) + 8] ^= 1;
	KUNIT_EXPECT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, t->f->generation, 0);	/* rolled back */
	meta[KRAM_HDR_OFF + 8] ^= 1;
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);

	/* Both copies of an area record corrupt. */
	memcpy(t->region, t->pristine, REGION_SIZE);
	meta[KRAM_AREA_TABLE_OFF + slot * 256 + 40] ^= 1;
	meta[KRAM_AREA_TABLE_OFF + slot * 256 + 128 + 40] ^= 1;
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);

	/* A pool bit inside an area: overlapping owners. */
	memcpy(t->region, t->pristine, REGION_SIZE);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	set_bit(t->f->areas[slot].first_page + 1, t->f->pbitmap);
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);

	/* A bit beyond the data pages. */
	memcpy(t->region, t->pristine, REGION_SIZE);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	set_bit(t->f->g.nr_data_pages, t->f->pbitmap);
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);

	/* A corrupt tag word: detected on use, never handed to an owner. */
	memcpy(t->region, t->pristine, REGION_SIZE);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	t->f->tags[idx] ^= cpu_to_le64(1ULL << 40);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_check(t->f, idx, &tag), -EUCLEAN);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_next(t->f, TAG_A, 0), U64_MAX);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(t->f, idx, 0), -EUCLEAN);
	KUNIT_EXPECT_GE(test, atomic64_read(&t->f->corrupt_tags), 1);

	/* A region smaller than the superblock says. */
	memcpy(t->region, t->pristine, REGION_SIZE);
	if (t->f->vbitmap)
		kram_fmt_detach(t->f);
	memset(t->f, 0, sizeof(*t->f));
	KUNIT_EXPECT_EQ(test, kram_fmt_attach(t->f, t->region, SZ_1M), -EINVAL);
}

/* ---------------------------------------------------- interrupted updates */

enum kram_op { OP_AREA_CREATE, OP_AREA_DELETE, OP_ALLOC, OP_FREE, OP_BUMP };

static const char *const op_names[] = {
	"area create", "area delete", "pool alloc", "pool free", "generation",
};

/* The state one op changes: 0 = as before, 1 = as after, -1 = neither. */
static int observe(struct kram_test *t, enum kram_op op, u64 page)
{
	struct kram_fmt *f = t->f;
	int slot = kram_fmt_area_find(f, "crash");
	u32 tag;

	switch (op) {
	case OP_AREA_CREATE:
		if (slot < 0)
			return f->area_pages == 4 ? 0 : -1;
		return f->areas[slot].nr_pages == 8 && f->area_pages == 12 &&
		       !strcmp(f->areas[slot].version, "after") ? 1 : -1;
	case OP_AREA_DELETE:
		if (kram_fmt_area_find(f, "keep") < 0)
			return -1;
		return kram_fmt_area_find(f, "victim") >= 0 ?
		       (f->area_pages == 8 ? 0 : -1) :
		       (f->area_pages == 4 ? 1 : -1);
	case OP_ALLOC:
	case OP_FREE:
		/* Page free and unused, or allocated with its tag. */
		if (!kram_fmt_pool_check(f, page, &tag))
			return tag == TAG_B ? (op == OP_ALLOC) : -1;
		if (percpu_counter_sum(&f->nr_dynamic) != 1)
			return -1;
		return op == OP_FREE;
	case OP_BUMP:
		return f->generation == 5 ? 0 : f->generation == 6 ? 1 : -1;
	}
	return -1;
}

static void crash_every_store(struct kunit *test, enum kram_op op)
{
	struct kram_test *t = test->priv;
	bool saw[2] = {};
	u64 page = 0, meta;
	long budget;
	int before, after, slot, i;

	/* Baseline: generation 5, area "keep" (4 pages), one pool page. */
	format_attach(test);
	for (i = 0; i < 5; i++)
		kram_fmt_bump_generation(t->f);
	mutex_lock(&t->f->area_lock);
	KUNIT_ASSERT_GE(test, kram_fmt_area_create(t->f, "keep", "", 4, 0), 0);
	if (op == OP_AREA_DELETE)
		KUNIT_ASSERT_GE(test,
				kram_fmt_area_create(t->f, "victim", "", 4, 0), 0);
	mutex_unlock(&t->f->area_lock);
	KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(t->f, TAG_A, &page), 0);
	if (op == OP_FREE)
		KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(t->f, TAG_B, &page), 0);
	else if (op == OP_ALLOC)
		page = U64_MAX;
	memcpy(t->pristine, t->region, REGION_SIZE);

	meta = t->f->g.data_off;	/* only metadata changes below */
	for (budget = 0; budget < 64; budget++) {
		memcpy(t->region, t->pristine, meta);
		KUNIT_ASSERT_EQ(test, reattach(t), 0);
		t->f->crash_sim = true;
		t->f->crash_after = budget;
		switch (op) {
		case OP_AREA_CREATE:
			mutex_lock(&t->f->area_lock);
			KUNIT_ASSERT_GE(test, kram_fmt_area_create(t->f, "crash",
								   "after", 8, 0), 0);
			mutex_unlock(&t->f->area_lock);
			break;
		case OP_AREA_DELETE:
			mutex_lock(&t->f->area_lock);
			slot = kram_fmt_area_find(t->f, "victim");
			KUNIT_ASSERT_EQ(test, kram_fmt_area_delete(t->f, slot), 0);
			mutex_unlock(&t->f->area_lock);
			break;
		case OP_ALLOC:
			KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(t->f, TAG_B, &page), 0);
			break;
		case OP_FREE:
			KUNIT_ASSERT_EQ(test, kram_fmt_pool_free(t->f, page, TAG_B), 0);
			break;
		case OP_BUMP:
			kram_fmt_bump_generation(t->f);
			break;
		}
		after = t->f->crash_after;	/* > 0: the op completed */
		/* "Reboot": attach the image exactly as the crash left it. */
		KUNIT_ASSERT_EQ_MSG(test, reattach(t), 0,
				    "%s, crash after %ld stores: attach refused: %s",
				    op_names[op], budget, t->f->why);
		before = observe(t, op, page);
		KUNIT_ASSERT_GE_MSG(test, before, 0,
				    "%s, crash after %ld stores: torn state",
				    op_names[op], budget);
		saw[before] = true;
		/* Once the op completed, the new state must be there. */
		if (after > 0) {
			KUNIT_EXPECT_EQ_MSG(test, before, 1,
					    "%s completed but not persistent",
					    op_names[op]);
			break;
		}
	}
	KUNIT_EXPECT_TRUE_MSG(test, saw[0], "%s: never saw the old state",
			      op_names[op]);
	KUNIT_EXPECT_TRUE_MSG(test, saw[1], "%s: never saw the new state",
			      op_names[op]);
	kunit_info(test, "%s: %ld crash points, each left the old or the new state\n",
		   op_names[op], budget + 1);
}

static void kram_crash_area_create(struct kunit *test)
{
	crash_every_store(test, OP_AREA_CREATE);
}

static void kram_crash_area_delete(struct kunit *test)
{
	crash_every_store(test, OP_AREA_DELETE);
}

static void kram_crash_alloc(struct kunit *test)
{
	crash_every_store(test, OP_ALLOC);
}

static void kram_crash_free(struct kunit *test)
{
	crash_every_store(test, OP_FREE);
}

static void kram_crash_generation(struct kunit *test)
{
	crash_every_store(test, OP_BUMP);
}

/*
 * A format interrupted anywhere never yields a kram that looks valid: the
 * old kram (no store yet), no kram at all, or the new empty one.
 */
static void kram_crash_format(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *scratch;
	long budget;
	u64 meta;
	int ret;

	scratch = kunit_kzalloc(test, sizeof(*scratch), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, scratch);
	format_attach(test);
	mutex_lock(&t->f->area_lock);
	KUNIT_ASSERT_GE(test, kram_fmt_area_create(t->f, "old", "", 1, 0), 0);
	mutex_unlock(&t->f->area_lock);
	meta = t->f->g.data_off;
	memcpy(t->pristine, t->region, REGION_SIZE);
	for (budget = 0; budget < 4000; budget++) {
		memcpy(t->region, t->pristine, meta);
		memset(scratch, 0, sizeof(*scratch));
		scratch->crash_sim = true;
		scratch->crash_after = budget;
		kram_fmt_format(scratch, t->region, REGION_SIZE, test_uuid);
		ret = reattach(t);
		if (!budget) {
			KUNIT_ASSERT_EQ(test, ret, 0);
			KUNIT_ASSERT_GE(test, kram_fmt_area_find(t->f, "old"), 0);
			continue;
		}
		if (ret == 0)
			break;
		KUNIT_ASSERT_EQ_MSG(test, ret, -ENODATA,
				    "format cut after %ld stores: %s", budget,
				    t->f->why);
	}
	/* The first attachable image is the complete new format. */
	KUNIT_EXPECT_LT(test, budget, 4000);
	KUNIT_EXPECT_EQ(test, scratch->crash_after, 0);
	KUNIT_EXPECT_EQ(test, kram_fmt_area_find(t->f, "old"), -ENOENT);
	KUNIT_EXPECT_EQ(test, t->f->nr_areas, 0);
	kunit_info(test, "format: %ld crash points\n", budget);
}

static struct kunit_case kram_format_cases[] = {
	KUNIT_CASE(kram_geometry),
	KUNIT_CASE(kram_names),
	KUNIT_CASE(kram_format_roundtrip),
	KUNIT_CASE(kram_pool_exhaustion),
	KUNIT_CASE(kram_pool_bad_frees),
	KUNIT_CASE(kram_areas),
	KUNIT_CASE(kram_corruption),
	KUNIT_CASE(kram_crash_area_create),
	KUNIT_CASE(kram_crash_area_delete),
	KUNIT_CASE(kram_crash_alloc),
	KUNIT_CASE(kram_crash_free),
	KUNIT_CASE(kram_crash_generation),
	KUNIT_CASE(kram_crash_format),
	{}
};

static struct kunit_suite kram_format_suite = {
	.name = "kram_format",
	.init = kram_test_init,
	.exit = kram_test_exit,
	.test_cases = kram_format_cases,
};

/* ------------------------------------------- the kernel API (kram.h) */

/*
 * These cases use the region kram.ko attached, so they need one: they run
 * in the kram test group (memmap= + region=) and skip elsewhere.
 */
#define API_TAG		0x4150490a	/* kernel-owned tag */

static int api_count(struct page *page, void *data)
{
	(*(u64 *)data)++;
	return 0;
}

static int api_free(struct page *page, void *data)
{
	return kram_free_page(page, API_TAG);
}

static void kram_api_pool(struct kunit *test)
{
	struct kram_usage u0, u1;
	struct page *pages[64];
	u64 n = 0;
	u32 tag;
	int i;

	if (!kram_attached())
		kunit_skip(test, "no kram region attached");
	KUNIT_ASSERT_EQ(test, kram_get_usage(&u0), 0);
	for (i = 0; i < ARRAY_SIZE(pages); i++) {
		pages[i] = kram_alloc_page(API_TAG);
		KUNIT_ASSERT_NOT_NULL(test, pages[i]);
		/* A struct page in the direct map: page_address() works. */
		memset(page_address(pages[i]), i, PAGE_SIZE);
	}
	KUNIT_ASSERT_EQ(test, kram_get_usage(&u1), 0);
	KUNIT_EXPECT_EQ(test, u1.dynamic_pages, u0.dynamic_pages + 64);
	KUNIT_EXPECT_EQ(test, u1.free_pages, u0.free_pages - 64);
	KUNIT_EXPECT_EQ(test, kram_page_tag(pages[5], &tag), 0);
	KUNIT_EXPECT_EQ(test, tag, API_TAG);
	KUNIT_EXPECT_EQ(test, ((u8 *)page_address(pages[5]))[100], 5);
	KUNIT_EXPECT_EQ(test, kram_walk_pages(API_TAG, api_count, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 64);
	KUNIT_EXPECT_EQ(test, kram_free_page(pages[0], API_TAG + 1), -EPERM);
	KUNIT_EXPECT_EQ(test, kram_walk_pages(API_TAG, api_free, NULL), 0);
	KUNIT_EXPECT_EQ(test, kram_free_page(pages[0], API_TAG), -ENOENT);
	KUNIT_EXPECT_NULL(test, kram_alloc_page(0));
	KUNIT_ASSERT_EQ(test, kram_get_usage(&u1), 0);
	KUNIT_EXPECT_EQ(test, u1.dynamic_pages, u0.dynamic_pages);
	KUNIT_EXPECT_EQ(test, u1.free_pages, u0.free_pages);
}

static void kram_api_areas(struct kunit *test)
{
	struct kram_area *a, *b;
	struct page *p0, *p7;

	if (!kram_attached())
		kunit_skip(test, "no kram region attached");
	kram_area_delete("kunit_api");
	a = kram_area_create("kunit_api", "kunit/1", 8, 3);
	KUNIT_ASSERT_FALSE(test, IS_ERR(a));
	KUNIT_EXPECT_EQ(test, kram_area_nr_pages(a), 8);
	KUNIT_EXPECT_STREQ(test, kram_area_version(a), "kunit/1");
	p0 = kram_get_fixed_page(a, 0);
	p7 = kram_get_fixed_page(a, 7);
	KUNIT_ASSERT_NOT_NULL(test, p0);
	KUNIT_EXPECT_EQ(test, page_to_pfn(p7), page_to_pfn(p0) + 7);
	KUNIT_EXPECT_NULL(test, kram_get_fixed_page(a, 8));
	strscpy(page_address(p7), "fixed", 8);
	KUNIT_EXPECT_EQ(test, PTR_ERR(kram_area_create("kunit_api", "", 1, 0)),
			-EEXIST);
	/* Opened again by name: the same physical pages. */
	b = kram_area_open("kunit_api");
	KUNIT_ASSERT_FALSE(test, IS_ERR(b));
	KUNIT_EXPECT_EQ(test, page_to_pfn(kram_get_fixed_page(b, 7)),
			page_to_pfn(p7));
	KUNIT_EXPECT_STREQ(test, (char *)page_address(kram_get_fixed_page(b, 7)),
			   "fixed");
	KUNIT_EXPECT_EQ(test, kram_area_delete("kunit_api"), -EBUSY);
	kram_area_put(b);
	kram_area_put(a);
	KUNIT_EXPECT_EQ(test, kram_area_delete("kunit_api"), 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(kram_area_open("kunit_api")), -ENOENT);
	KUNIT_EXPECT_EQ(test, kram_area_delete("kunit_api"), -ENOENT);
	KUNIT_EXPECT_EQ(test, PTR_ERR(kram_area_create("a/b", "", 1, 0)), -EINVAL);
}

static struct kunit_case kram_api_cases[] = {
	KUNIT_CASE(kram_api_pool),
	KUNIT_CASE(kram_api_areas),
	{}
};

static struct kunit_suite kram_api_suite = {
	.name = "kram_api",
	.test_cases = kram_api_cases,
};

kunit_test_suites(&kram_format_suite, &kram_api_suite);

MODULE_DESCRIPTION("KUnit tests of kram's on-memory format");
MODULE_LICENSE("GPL");
