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
#define KRAM_GEOM_WARN(x)	WARN_ON_ONCE(x)
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

/* Region page of data page @first: 2 MiB aligned when a multiple of 512. */
static u64 region_page(struct kram_fmt *f, u64 first)
{
	return f->g.data_off / KRAM_PAGE_SIZE + first;
}

/*
 * An area of 2 MiB or more starts on a 2 MiB boundary of the region, so
 * its mappings can use PMDs; a smaller one is placed first-fit; with no
 * aligned run free, a big area is still placed (unaligned).
 */
static void kram_area_pmd_placement(struct kunit *test)
{
	const u64 size = SZ_8M;
	struct kram_fmt *scratch, *f;
	int big, small, late;
	void *buf;

	scratch = kunit_kzalloc(test, sizeof(*scratch), GFP_KERNEL);
	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, scratch);
	KUNIT_ASSERT_NOT_NULL(test, f);
	buf = vzalloc(size);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	/* From here on no ASSERT: buf must be freed. */
	if (kram_fmt_format(scratch, buf, size, test_uuid) ||
	    kram_fmt_attach(f, buf, size)) {
		KUNIT_FAIL(test, "cannot format and attach an 8 MiB region");
		goto out_free;
	}
	/* The format's first data page is not 2 MiB aligned. */
	KUNIT_EXPECT_NE(test, region_page(f, 0) % KRAM_PMD_PAGES, 0);
	mutex_lock(&f->area_lock);
	small = kram_fmt_area_create(f, "small", "", 3, 0);
	big = kram_fmt_area_create(f, "big", "", KRAM_PMD_PAGES + 1, 0);
	KUNIT_EXPECT_GE(test, small, 0);
	KUNIT_EXPECT_GE(test, big, 0);
	if (small >= 0 && big >= 0) {
		KUNIT_EXPECT_EQ(test, f->areas[small].first_page, 0);
		KUNIT_EXPECT_EQ(test, region_page(f, f->areas[big].first_page) %
				KRAM_PMD_PAGES, 0);
		/* With no aligned run free, a big area is placed anyway. */
		KUNIT_EXPECT_EQ(test, kram_fmt_area_delete(f, small), 0);
		KUNIT_EXPECT_EQ(test, kram_fmt_area_delete(f, big), 0);
		late = kram_fmt_area_create(f, "late", "",
					    f->g.nr_data_pages - 1, 0);
		KUNIT_EXPECT_GE(test, late, 0);
		if (late >= 0)
			KUNIT_EXPECT_EQ(test, f->areas[late].first_page, 0);
	}
	mutex_unlock(&f->area_lock);
	kram_fmt_detach(f);
out_free:
	vfree(buf);
}

/*
 * Copy the metadata (everything before the data pages, and the backup
 * page) back from t->pristine: the tests below change nothing else.
 */
static void restore_meta(struct kram_test *t)
{
	struct kram_geom g;

	KRAM_GEOM_WARN(kram_geom_compute(REGION_SIZE, &g));
	memcpy(t->region, t->pristine, g.data_off);
	memcpy(t->region + g.backup_off, t->pristine + g.backup_off,
	       KRAM_PAGE_SIZE);
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

	kram_fmt_bump_generation(f, 1000, NULL);
	kram_fmt_bump_generation(f, 2000, NULL);
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

/*
 * The state kram_corruption() builds: area "x" (4 pages, first page
 * @first), one pool page @idx of TAG_A, generation 1, boot 1. Every
 * recovery must find exactly this again.
 */
static bool state_intact(struct kram_test *t, u64 first, u64 idx)
{
	struct kram_fmt *f = t->f;
	int slot = kram_fmt_area_find(f, "x");
	u32 tag;

	return slot >= 0 && f->areas[slot].first_page == first &&
	       f->areas[slot].nr_pages == 4 && f->nr_areas == 1 &&
	       !kram_fmt_pool_check(f, idx, &tag) && tag == TAG_A &&
	       percpu_counter_sum(&f->nr_dynamic) == 1 &&
	       f->generation == 1 && f->boot_count == 1;
}

/* After a recovery the whole metadata is back to the pristine bytes. */
static bool meta_pristine(struct kram_test *t)
{
	struct kram_geom gg, *g = &gg;

	KRAM_GEOM_WARN(kram_geom_compute(REGION_SIZE, &gg));

	return !memcmp(t->region, t->pristine, g->data_off) &&
	       !memcmp(t->region + g->backup_off, t->pristine + g->backup_off,
		       KRAM_PAGE_SIZE);
}

/*
 * Flip bit @bit at byte offset @off; attach must either recover
 * everything (and rewrite the metadata to the pristine bytes) or refuse
 * and write nothing. Returns the attach result.
 */
static int flip_and_attach(struct kunit *test, size_t off, int bit,
			   u64 first, u64 idx, void *scratch)
{
	struct kram_test *t = test->priv;
	struct kram_geom gg, *g = &gg;	/* t->f is wiped by every reattach */
	u8 *r = t->region;
	int ret;

	KRAM_GEOM_WARN(kram_geom_compute(REGION_SIZE, &gg));
	restore_meta(t);
	r[off] ^= BIT(bit);
	memcpy(scratch, t->region, g->data_off);
	memcpy(scratch + g->data_off, t->region + g->backup_off, KRAM_PAGE_SIZE);
	ret = reattach(t);
	if (ret) {
		bool same = !memcmp(scratch, t->region, g->data_off) &&
			    !memcmp(scratch + g->data_off,
				    t->region + g->backup_off, KRAM_PAGE_SIZE);

		KUNIT_EXPECT_TRUE_MSG(test, same,
				      "offset %#zx bit %d: refused (%s) but wrote",
				      off, bit, t->f->why);
		return ret;
	}
	KUNIT_EXPECT_TRUE_MSG(test, state_intact(t, first, idx),
			      "offset %#zx bit %d: attached with lost state", off, bit);
	KUNIT_EXPECT_TRUE_MSG(test, meta_pristine(t),
			      "offset %#zx bit %d: metadata not repaired", off, bit);
	return 0;
}

/*
 * The state both corruption tests start from (see state_intact()), saved
 * in t->pristine with every copy of every record equal. Returns the
 * area's slot; @g gets the geometry (t->f is wiped by every reattach).
 */
static int corruption_setup(struct kunit *test, struct kram_geom *g,
			    u64 *first, u64 *idx)
{
	struct kram_test *t = test->priv;
	int slot;

	format_attach(test);
	*g = t->f->g;
	mutex_lock(&t->f->area_lock);
	slot = kram_fmt_area_create(t->f, "x", "", 4, 0);
	mutex_unlock(&t->f->area_lock);
	KUNIT_ASSERT_GE(test, slot, 0);
	*first = t->f->areas[slot].first_page;
	KUNIT_ASSERT_EQ(test, kram_fmt_pool_alloc(t->f, TAG_A, idx), 0);
	kram_fmt_bump_generation(t->f, 1000, NULL);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);	/* all copies equal */
	KUNIT_ASSERT_TRUE(test, state_intact(t, *first, *idx));
	memcpy(t->pristine, t->region, REGION_SIZE);
	return slot;
}

/*
 * One flipped bit anywhere in the metadata: every bit of both superblock
 * copies, of the live area's two records, of the allocated page's tag
 * word, every header copy and the bitmap words in use, and samples of
 * the rest. None may lose an area or a pool page; none may make kram
 * refuse (each has a valid copy to recover from).
 */
static void kram_corruption_one_bit(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct { size_t off, len, step; } spans[8];
	u64 idx, first, ok = 0, n = 0;
	struct kram_geom gg, *g = &gg;	/* t->f is wiped by every reattach */
	void *scratch;
	int slot, i, bit;
	size_t o;

	slot = corruption_setup(test, &gg, &first, &idx);
	scratch = kunit_kzalloc(test, g->data_off + KRAM_PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, scratch);

	spans[0] = (typeof(spans[0])){ 0, sizeof(struct kram_sb), 1 };
	spans[1] = (typeof(spans[0])){ g->backup_off, sizeof(struct kram_sb), 1 };
	spans[2] = (typeof(spans[0])){ KRAM_HDR_OFF, 128, 1 };
	spans[3] = (typeof(spans[0])){ g->backup_off + KRAM_HDR_OFF, 128, 1 };
	spans[4] = (typeof(spans[0])){ g->area_table_off + slot * 256, 256, 1 };
	spans[5] = (typeof(spans[0])){ g->tags_off + idx * 8, 8, 1 };
	/* Samples: the rest of the area table, the bitmap, other tags. */
	spans[6] = (typeof(spans[0])){ g->area_table_off, KRAM_MAX_AREAS * 256, 97 };
	spans[7] = (typeof(spans[0])){ g->bitmap_off,
				       DIV_ROUND_UP(g->nr_data_pages, 8), 3 };
	for (i = 0; i < ARRAY_SIZE(spans); i++) {
		for (o = spans[i].off; o < spans[i].off + spans[i].len;
		     o += spans[i].step) {
			for (bit = 0; bit < 8; bit++) {
				n++;
				if (!flip_and_attach(test, o, bit, first, idx, scratch))
					ok++;
				else
					KUNIT_FAIL(test, "offset %#zx bit %d: refused: %s",
						   o, bit, t->f->why);
			}
		}
		cond_resched();
	}
	/* Tag words of free pages: garbage is cleaned, the page stays free. */
	for (o = 0; o < g->nr_data_pages; o += 37) {
		if (o == idx)
			continue;
		n++;
		if (!flip_and_attach(test, g->tags_off + o * 8 + (o & 7),
				     (o / 8) % 8, first, idx, scratch))
			ok++;
	}
	KUNIT_EXPECT_EQ(test, ok, n);
	kunit_info(test, "%llu single-bit corruptions, %llu recovered with every area and pool page\n",
		   n, ok);
}

/* Damage beyond one copy: refused with a reason, nothing written. */
static void kram_corruption_refused(struct kunit *test)
{
	struct kram_test *t = test->priv;
	u64 idx, first, off;
	struct kram_geom gg, *g = &gg;	/* t->f is wiped by every reattach */
	struct kram_sb *sb;
	void *scratch;
	u8 *r = t->region;
	int slot;
	u32 tag;

	slot = corruption_setup(test, &gg, &first, &idx);
	scratch = kunit_kzalloc(test, g->data_off + KRAM_PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, scratch);

	/* Both superblock copies: refused, not treated as a blank region. */
	restore_meta(t);
	r[offsetof(struct kram_sb, nr_pages)] ^= 1;
	r[g->backup_off + offsetof(struct kram_sb, nr_pages)] ^= 1;
	memcpy(scratch, t->region, g->data_off);
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	KUNIT_EXPECT_EQ(test, memcmp(scratch, t->region, g->data_off), 0);
	/* One changed byte of the magic, backup gone: still a kram. */
	restore_meta(t);
	r[3] ^= 0xff;
	memset(r + g->backup_off, 0, sizeof(struct kram_sb));
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	KUNIT_EXPECT_TRUE(test, kram_fmt_probe(t->region, NULL));
	/* Both magics wiped: no kram here (init=1 would look further). */
	restore_meta(t);
	memset(r, 0, 8);
	memset(r + g->backup_off, 0, 8);
	KUNIT_EXPECT_EQ(test, reattach(t), -ENODATA);
	/* ... and kram_fmt_find_sb() finds an intact copy elsewhere. */
	memcpy(r + 16 * KRAM_PAGE_SIZE, t->pristine, sizeof(struct kram_sb));
	KUNIT_EXPECT_TRUE(test, kram_fmt_find_sb(t->region, REGION_SIZE, &off));
	KUNIT_EXPECT_EQ(test, off, 16 * KRAM_PAGE_SIZE);
	memset(r + 16 * KRAM_PAGE_SIZE, 0, sizeof(struct kram_sb));
	KUNIT_EXPECT_FALSE(test, kram_fmt_find_sb(t->region, REGION_SIZE, &off));
	/* An older format version, valid CRC in both copies. */
	restore_meta(t);
	sb = t->region;
	sb->version = cpu_to_le32(1);
	sb->crc = cpu_to_le32(kram_sb_crc(sb));
	memcpy(r + g->backup_off, sb, sizeof(*sb));
	KUNIT_EXPECT_EQ(test, reattach(t), -EPROTONOSUPPORT);
	/* Two valid superblock copies that differ. */
	restore_meta(t);
	sb->format_time = cpu_to_le64(1);
	sb->crc = cpu_to_le32(kram_sb_crc(sb));
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	/* Every header copy corrupt. */
	restore_meta(t);
	r[KRAM_HDR_OFF + 8] ^= 1;
	r[KRAM_HDR_OFF + 64 + 8] ^= 1;
	r[g->backup_off + KRAM_HDR_OFF + 8] ^= 1;
	r[g->backup_off + KRAM_HDR_OFF + 64 + 8] ^= 1;
	memcpy(scratch, t->region, g->data_off);
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	KUNIT_EXPECT_EQ(test, memcmp(scratch, t->region, g->data_off), 0);
	/* Both copies of an area record corrupt. */
	restore_meta(t);
	r[g->area_table_off + slot * 256 + 40] ^= 1;
	r[g->area_table_off + slot * 256 + 128 + 40] ^= 1;
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	/* A valid tag word inside an area: two owners. */
	restore_meta(t);
	((__le64 *)(r + g->tags_off))[first + 1] = cpu_to_le64(kram_tagword(TAG_B));
	KUNIT_EXPECT_EQ(test, reattach(t), -EUCLEAN);
	/* A region smaller than the superblock says. */
	restore_meta(t);
	if (t->f->vbitmap)
		kram_fmt_detach(t->f);
	memset(t->f, 0, sizeof(*t->f));
	KUNIT_EXPECT_EQ(test, kram_fmt_attach(t->f, t->region, SZ_1M), -EINVAL);
	memset(t->f, 0, sizeof(*t->f));

	/* A tag word corrupted at run time: detected on use, never handed out. */
	restore_meta(t);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	t->f->tags[idx] ^= cpu_to_le64(3ULL << 40);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_check(t->f, idx, &tag), -EUCLEAN);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_next(t->f, TAG_A, 0), U64_MAX);
	KUNIT_EXPECT_EQ(test, kram_fmt_pool_free(t->f, idx, 0), -EUCLEAN);
	KUNIT_EXPECT_GE(test, atomic64_read(&t->f->corrupt_tags), 1);
}

/* Each single-bit error of a tag word maps back to the word. */
static void kram_tagword_code(struct kunit *test)
{
	static const u32 tags[] = { 1, TAG_A, 0x7fffffff, KRAM_TAG_USER,
				    KRAM_TAG_USER | 5, 0xffffffff };
	int i, b;

	for (i = 0; i < ARRAY_SIZE(tags); i++) {
		u64 w = kram_tagword(tags[i]);

		KUNIT_EXPECT_TRUE(test, kram_tagword_valid(w));
		KUNIT_EXPECT_EQ(test, kram_tagword_fix(w), w);
		for (b = 0; b < 64; b++)
			KUNIT_EXPECT_EQ_MSG(test, kram_tagword_fix(w ^ BIT_ULL(b)), w,
					    "tag %#x bit %d", tags[i], b);
	}
	KUNIT_EXPECT_FALSE(test, kram_tagword_valid(0));
}

/* New areas are zeroed before they exist, unless the caller opts out. */
static void kram_area_zeroed(struct kunit *test)
{
	struct kram_test *t = test->priv;
	struct kram_fmt *f;
	u64 first;
	int slot;

	format_attach(test);
	f = t->f;
	mutex_lock(&f->area_lock);
	slot = kram_fmt_area_create(f, "old", "", 4, 0);
	KUNIT_ASSERT_GE(test, slot, 0);
	first = f->areas[slot].first_page;
	memset(kram_fmt_page(f, first), 0xa5, 4 * KRAM_PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, kram_fmt_area_delete(f, slot), 0);
	slot = kram_fmt_area_create(f, "new", "", 4, KRAM_FMT_AREA_ZERO);
	KUNIT_ASSERT_GE(test, slot, 0);
	KUNIT_EXPECT_EQ(test, f->areas[slot].first_page, first);
	KUNIT_EXPECT_EQ(test, f->areas[slot].flags, 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(kram_fmt_page(f, first), 0,
					   4 * KRAM_PAGE_SIZE));
	memset(kram_fmt_page(f, first), 0xa5, 4 * KRAM_PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, kram_fmt_area_delete(f, slot), 0);
	slot = kram_fmt_area_create(f, "nozero", "", 4, 0);
	KUNIT_ASSERT_GE(test, slot, 0);
	KUNIT_EXPECT_EQ(test, *(u8 *)kram_fmt_page(f, first), 0xa5);
	mutex_unlock(&f->area_lock);
}

/* The boot counter moves on a reboot, not on a reload. */
static void kram_boot_count(struct kunit *test)
{
	static const u8 id_a[16] = { 0xa }, id_b[16] = { 0xb };
	struct kram_test *t = test->priv;

	format_attach(test);
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 0);
	kram_fmt_bump_generation(t->f, 5000, NULL);	/* first attach ever */
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 1);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	kram_fmt_bump_generation(t->f, 9000, NULL);	/* reload, same boot */
	KUNIT_EXPECT_EQ(test, t->f->generation, 2);
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 1);
	kram_fmt_mark_reboot(t->f);		/* kexec */
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, t->f->generation, 2);
	kram_fmt_bump_generation(t->f, 20000, NULL);
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 2);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	kram_fmt_bump_generation(t->f, 3000, NULL);	/* crash: clock behind */
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 3);
	KUNIT_EXPECT_EQ(test, t->f->generation, 4);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 3);

	/* With boot_ids the answer is exact, whatever the clock says. */
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	kram_fmt_bump_generation(t->f, 4000, id_a);	/* first with an id */
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 3);	/* no id to compare */
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	kram_fmt_bump_generation(t->f, 50, id_a);	/* same boot, clock behind */
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 3);
	kram_fmt_mark_reboot(t->f);			/* kexec -e that failed */
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	kram_fmt_bump_generation(t->f, 60, id_a);
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 3);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	kram_fmt_bump_generation(t->f, 1000000, id_b);	/* a crash, late attach */
	KUNIT_EXPECT_EQ(test, t->f->boot_count, 4);
	KUNIT_ASSERT_EQ(test, reattach(t), 0);
	KUNIT_EXPECT_EQ(test, memcmp(t->f->last_boot_id, id_b, 16), 0);
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
	u64 page = 0;
	long budget;
	int before, after, slot, i;

	/* Baseline: generation 5, area "keep" (4 pages), one pool page. */
	format_attach(test);
	for (i = 0; i < 5; i++)
		kram_fmt_bump_generation(t->f, 1000 * i, NULL);
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

	for (budget = 0; budget < 96; budget++) {
		restore_meta(t);
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
			kram_fmt_bump_generation(t->f, 9000, NULL);
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
	int ret;

	scratch = kunit_kzalloc(test, sizeof(*scratch), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, scratch);
	format_attach(test);
	mutex_lock(&t->f->area_lock);
	KUNIT_ASSERT_GE(test, kram_fmt_area_create(t->f, "old", "", 1, 0), 0);
	mutex_unlock(&t->f->area_lock);
	memcpy(t->pristine, t->region, REGION_SIZE);
	for (budget = 0; budget < 4000; budget++) {
		restore_meta(t);
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
		/* Only one magic cleared: the old kram, recovered intact. */
		if (ret == 0 && kram_fmt_area_find(t->f, "old") >= 0 &&
		    t->f->sb_recovered == 1)
			continue;
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
	KUNIT_CASE(kram_area_pmd_placement),
	KUNIT_CASE(kram_corruption_one_bit),
	KUNIT_CASE(kram_corruption_refused),
	KUNIT_CASE(kram_tagword_code),
	KUNIT_CASE(kram_area_zeroed),
	KUNIT_CASE(kram_boot_count),
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
