// SPDX-License-Identifier: GPL-2.0
/*
 * kram on-memory format: format, attach (validation), area records and
 * the dynamic pool. Documentation/kram.rst explains the layout and the
 * commit point of every update; the comments here name the step.
 *
 * Crash consistency rests on two facts: an aligned 8-byte store (and a
 * locked bit operation) either happened or did not when a kexec or crash
 * stops the CPU, and a kexec keeps memory contents (no power loss).
 */
#include <linux/bitmap.h>
#include <linux/crc32.h>
#include <linux/ctype.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "kram_format.h"

static_assert(sizeof(struct kram_sb) == 256);
static_assert(sizeof(struct kram_hdr_rec) == 64);
static_assert(sizeof(struct kram_area_rec) == 128);
static_assert(KRAM_HDR_OFF + 2 * sizeof(struct kram_hdr_rec) <= KRAM_PAGE_SIZE);
#define KRAM_AREA_TABLE_BYTES (KRAM_MAX_AREAS * 2 * sizeof(struct kram_area_rec))
static_assert(KRAM_AREA_TABLE_BYTES % KRAM_PAGE_SIZE == 0);
#define KRAM_FIXED_META_PAGES (1 + KRAM_AREA_TABLE_BYTES / KRAM_PAGE_SIZE)

#define KRAM_SALT_HDR	0x48445200u
#define KRAM_SALT_AREA	0x41524500u
#define KRAM_TAG_CHECK	0x4b52414du	/* "KRAM" */

/* ------------------------------------------------------------ primitives */

/*
 * KUnit's crash simulation: every store to the region goes through here;
 * with crash_sim set, after crash_after stores nothing more reaches
 * memory, as if the CPU had stopped there. Compiled out of production kernels (no CONFIG_KUNIT).
 */
static bool kram_store_ok(struct kram_fmt *f)
{
#if IS_ENABLED(CONFIG_KUNIT)
	if (!f->crash_sim)
		return true;
	if (f->crash_after == 0)
		return false;
	f->crash_after--;
#endif
	return true;
}

/* Copy a record 8 bytes at a time (each store can be the last one). */
static void kram_write_words(struct kram_fmt *f, void *dst, const void *src,
			     size_t len)
{
	u64 *d = dst;
	const u64 *s = src;
	size_t i;

	for (i = 0; i < len / sizeof(u64); i++) {
		if (!kram_store_ok(f))
			return;
		WRITE_ONCE(d[i], s[i]);
	}
	/* Later stores (the next step) stay behind this record. */
	smp_wmb();
}

static u32 kram_crc(const void *p, size_t len, u32 salt)
{
	return crc32_le(~0u, p, len) ^ salt;
}

static u32 kram_uuid_salt(const struct kram_sb *sb)
{
	return crc32_le(~0u, sb->uuid, sizeof(sb->uuid));
}

u64 kram_tagword(u32 tag)
{
	return (u64)tag | (u64)((tag * 0x9e3779b1u) ^ KRAM_TAG_CHECK) << 32;
}

static bool kram_tagword_valid(u64 w)
{
	return (u32)w && kram_tagword((u32)w) == w;
}

/* --------------------------------------------------------------- geometry */

static void kram_meta_bytes(u64 nd, u64 *bitmap_bytes, u64 *tag_bytes)
{
	*bitmap_bytes = ALIGN(DIV_ROUND_UP(nd, 64) * 8, KRAM_PAGE_SIZE);
	*tag_bytes = ALIGN(nd * sizeof(__le64), KRAM_PAGE_SIZE);
}

/* Pages a region with @nd data pages needs in all. */
static u64 kram_pages_needed(u64 nd)
{
	u64 bm, tg;

	kram_meta_bytes(nd, &bm, &tg);
	return KRAM_FIXED_META_PAGES + (bm + tg) / KRAM_PAGE_SIZE + nd;
}

/**
 * kram_geom_compute() - the layout of a region of @region_size bytes
 * @region_size:	bytes, a multiple of the page size
 * @g:			out: geometry
 *
 * Return: 0, or -EINVAL for a size that is unaligned or too small.
 */
int kram_geom_compute(u64 region_size, struct kram_geom *g)
{
	u64 nr_pages = region_size / KRAM_PAGE_SIZE, nd, bm, tg;

	if (!region_size || region_size % KRAM_PAGE_SIZE ||
	    nr_pages < KRAM_MIN_PAGES)
		return -EINVAL;
	/* The largest nd whose metadata and data fit in the region. */
	nd = nr_pages - KRAM_FIXED_META_PAGES;
	while (kram_pages_needed(nd) > nr_pages)
		nd -= kram_pages_needed(nd) - nr_pages;
	/* The step above can overshoot by the metadata it saved: grow back. */
	while (kram_pages_needed(nd + 1) <= nr_pages)
		nd++;
	kram_meta_bytes(nd, &bm, &tg);
	memset(g, 0, sizeof(*g));
	g->region_size = region_size;
	g->nr_pages = nr_pages;
	g->max_areas = KRAM_MAX_AREAS;
	g->area_table_off = KRAM_AREA_TABLE_OFF;
	g->bitmap_off = KRAM_AREA_TABLE_OFF + KRAM_AREA_TABLE_BYTES;
	g->bitmap_bytes = bm;
	g->tags_off = g->bitmap_off + bm;
	g->data_off = g->tags_off + tg;
	g->nr_data_pages = nd;
	return 0;
}

/* ------------------------------------------------------- names, versions */

/**
 * kram_name_valid() - 1..31 characters of [A-Za-z0-9._-], not "." or ".."
 * @name:	NUL-terminated within KRAM_NAME_LEN bytes
 *
 * The name becomes /dev/kram_areas/<name>, hence the rules.
 * Return: 0 or -EINVAL.
 */
int kram_name_valid(const char *name)
{
	size_t len = strnlen(name, KRAM_NAME_LEN), i;

	if (!len || len == KRAM_NAME_LEN)
		return -EINVAL;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	/* ASCII only: the kernel's isalnum() also accepts Latin-1 letters. */
	for (i = 0; i < len; i++)
		if (!isascii(name[i]) || (!isalnum(name[i]) &&
					  !strchr("._-", name[i])))
			return -EINVAL;
	return 0;
}

/**
 * kram_version_valid() - printable ASCII, NUL-terminated, may be empty
 * @version:	KRAM_VERSION_LEN bytes
 *
 * Return: 0 or -EINVAL.
 */
int kram_version_valid(const char *version)
{
	size_t len = strnlen(version, KRAM_VERSION_LEN), i;

	if (len == KRAM_VERSION_LEN)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (version[i] < 0x20 || version[i] > 0x7e)
			return -EINVAL;
	return 0;
}

/* ---------------------------------------------------------------- records */

static struct kram_hdr_rec *kram_hdr(struct kram_fmt *f, int copy)
{
	return f->base + KRAM_HDR_OFF + copy * sizeof(struct kram_hdr_rec);
}

static struct kram_area_rec *kram_area_rec(struct kram_fmt *f, int slot,
					   int copy)
{
	return f->base + f->g.area_table_off +
	       (slot * 2 + copy) * sizeof(struct kram_area_rec);
}

static u32 kram_hdr_crc(struct kram_fmt *f, const struct kram_hdr_rec *r)
{
	return kram_crc(r, offsetof(struct kram_hdr_rec, crc),
			kram_uuid_salt(f->sb) ^ KRAM_SALT_HDR);
}

static u32 kram_area_crc(struct kram_fmt *f, int slot,
			 const struct kram_area_rec *r)
{
	return kram_crc(r, offsetof(struct kram_area_rec, crc),
			kram_uuid_salt(f->sb) ^ KRAM_SALT_AREA ^ slot);
}

/*
 * An invalid copy that is not all zeroes: a write was interrupted, or the
 * memory was corrupted. Either way the other copy is used; count it.
 */
static void kram_note_torn(struct kram_fmt *f, bool valid, const void *rec,
			   size_t len)
{
	if (!valid && memchr_inv(rec, 0, len))
		f->torn_records++;
}

/* Which of two copies is current: -1 if neither is valid. */
static int kram_pick(bool valid0, u64 seq0, bool valid1, u64 seq1)
{
	if (valid0 && valid1)
		return seq1 > seq0 ? 1 : 0;
	if (valid0)
		return 0;
	return valid1 ? 1 : -1;
}

/*
 * Commit a header record: it goes into the copy that is not current, with
 * seq + 1. A torn write fails that copy's CRC, so the old copy stays
 * current; the last store of a complete write is the commit point.
 */
static void kram_hdr_commit(struct kram_fmt *f, u64 generation, u64 now)
{
	struct kram_hdr_rec r = {};
	int next = !f->hdr_cur;

	r.seq = cpu_to_le64(f->hdr_seq + 1);
	r.generation = cpu_to_le64(generation);
	r.attach_time = cpu_to_le64(now);
	r.crc = cpu_to_le32(kram_hdr_crc(f, &r));
	kram_write_words(f, kram_hdr(f, next), &r, sizeof(r));
	f->hdr_cur = next;
	f->hdr_seq++;
	f->generation = generation;
}

/* Same rule for an area slot; @v is the new DRAM view (seq ignored). */
static void kram_area_commit(struct kram_fmt *f, int slot,
			     struct kram_area_view *v)
{
	struct kram_area_view *cur = &f->areas[slot];
	struct kram_area_rec r = {};
	int next = !cur->cur;

	r.seq = cpu_to_le64(cur->seq + 1);
	r.state = cpu_to_le32(v->state);
	r.flags = cpu_to_le32(v->flags);
	r.first_page = cpu_to_le64(v->first_page);
	r.nr_pages = cpu_to_le64(v->nr_pages);
	r.created_gen = cpu_to_le64(v->created_gen);
	memcpy(r.name, v->name, sizeof(r.name));
	memcpy(r.version, v->version, sizeof(r.version));
	r.crc = cpu_to_le32(kram_area_crc(f, slot, &r));
	kram_write_words(f, kram_area_rec(f, slot, next), &r, sizeof(r));
	v->cur = next;
	v->seq = cur->seq + 1;
	*cur = *v;
}

/* ----------------------------------------------------------------- format */

bool kram_fmt_has_magic(const void *base)
{
	const struct kram_sb *sb = base;

	return le64_to_cpu(READ_ONCE(sb->magic)) == KRAM_MAGIC;
}

/**
 * kram_fmt_format() - write an empty kram into @base
 * @f:		scratch state (crash simulation, @f->why); not attached
 * @base:	kernel mapping of the region
 * @size:	bytes; the region uses the whole pages
 * @uuid:	identity of the new region
 *
 * Order: clear the magic (from here on the region reads as "no kram"),
 * write the metadata, write the superblock, set the magic last. A crash
 * during a format leaves a region without a superblock, never a kram that
 * looks valid with half-written metadata.
 *
 * Return: 0, or -EINVAL for an unusable size.
 */
int kram_fmt_format(struct kram_fmt *f, void *base, u64 size,
		    const u8 uuid[16])
{
	struct kram_sb *sb = base;
	struct kram_sb nsb = {};
	struct kram_geom g;
	int slot;

	if (kram_geom_compute(ALIGN_DOWN(size, KRAM_PAGE_SIZE), &g)) {
		snprintf(f->why, sizeof(f->why),
			 "region of %llu bytes is too small (minimum %u pages)",
			 size, KRAM_MIN_PAGES);
		return -EINVAL;
	}
	f->base = base;
	f->size = size;
	f->sb = sb;
	f->g = g;
	if (!kram_store_ok(f))
		return 0;
	WRITE_ONCE(sb->magic, 0);
	/* "No kram" is visible before any metadata is wiped. */
	smp_wmb();
	/* Metadata pages: the superblock page, area table, bitmap, tags. */
	if (!kram_store_ok(f))
		return 0;
	memset(base + sizeof(*sb), 0, g.data_off - sizeof(*sb));

	nsb.version = cpu_to_le32(KRAM_FORMAT_VERSION);
	nsb.sb_size = cpu_to_le32(sizeof(nsb));
	nsb.page_size = cpu_to_le32(KRAM_PAGE_SIZE);
	nsb.max_areas = cpu_to_le32(g.max_areas);
	nsb.region_size = cpu_to_le64(g.region_size);
	nsb.nr_pages = cpu_to_le64(g.nr_pages);
	nsb.area_table_off = cpu_to_le64(g.area_table_off);
	nsb.bitmap_off = cpu_to_le64(g.bitmap_off);
	nsb.bitmap_bytes = cpu_to_le64(g.bitmap_bytes);
	nsb.tags_off = cpu_to_le64(g.tags_off);
	nsb.data_off = cpu_to_le64(g.data_off);
	nsb.nr_data_pages = cpu_to_le64(g.nr_data_pages);
	nsb.format_time = cpu_to_le64(ktime_get_real_seconds());
	memcpy(nsb.uuid, uuid, sizeof(nsb.uuid));
	/* The CRC covers the magic, which is written last. */
	nsb.magic = cpu_to_le64(KRAM_MAGIC);
	nsb.crc = cpu_to_le32(kram_crc(&nsb, offsetof(struct kram_sb, crc), 0));
	nsb.magic = 0;
	kram_write_words(f, sb, &nsb, sizeof(nsb));

	/* Copy 0 of every record valid with seq 1, copy 1 all zeroes. */
	f->hdr_cur = 1;
	f->hdr_seq = 0;
	kram_hdr_commit(f, 0, 0);
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++) {
		struct kram_area_view v = {};

		f->areas[slot] = (struct kram_area_view){ .cur = 1 };
		kram_area_commit(f, slot, &v);
	}
	if (!kram_store_ok(f))
		return 0;
	WRITE_ONCE(sb->magic, cpu_to_le64(KRAM_MAGIC));
	/* Pairs with nothing: orders the format before the caller's attach. */
	smp_wmb();
	return 0;
}

/* ----------------------------------------------------------------- attach */

#define kram_refuse(f, err, fmt, ...) ({				\
	snprintf((f)->why, sizeof((f)->why), fmt, ##__VA_ARGS__);	\
	(err);								\
})

static int kram_check_sb(struct kram_fmt *f, u64 size)
{
	struct kram_sb *sb = f->sb;
	struct kram_geom g;
	u32 v = le32_to_cpu(sb->version);

	if (le64_to_cpu(sb->magic) != KRAM_MAGIC)
		return kram_refuse(f, -ENODATA, "no kram superblock");
	if (v != KRAM_FORMAT_VERSION)
		return kram_refuse(f, -EPROTONOSUPPORT,
				   "on-memory format version %u, this module reads %u",
				   v, KRAM_FORMAT_VERSION);
	if (le32_to_cpu(sb->crc) !=
	    kram_crc(sb, offsetof(struct kram_sb, crc), 0))
		return kram_refuse(f, -EUCLEAN, "superblock checksum mismatch");
	if (le32_to_cpu(sb->sb_size) != sizeof(*sb) ||
	    le32_to_cpu(sb->page_size) != KRAM_PAGE_SIZE ||
	    kram_geom_compute(le64_to_cpu(sb->region_size), &g))
		return kram_refuse(f, -EUCLEAN, "superblock fields invalid");
	if (le64_to_cpu(sb->region_size) > size)
		return kram_refuse(f, -EINVAL,
				   "superblock describes %llu bytes, the region has %llu",
				   le64_to_cpu(sb->region_size), size);
	if (le32_to_cpu(sb->max_areas) != g.max_areas ||
	    le64_to_cpu(sb->nr_pages) != g.nr_pages ||
	    le64_to_cpu(sb->area_table_off) != g.area_table_off ||
	    le64_to_cpu(sb->bitmap_off) != g.bitmap_off ||
	    le64_to_cpu(sb->bitmap_bytes) != g.bitmap_bytes ||
	    le64_to_cpu(sb->tags_off) != g.tags_off ||
	    le64_to_cpu(sb->data_off) != g.data_off ||
	    le64_to_cpu(sb->nr_data_pages) != g.nr_data_pages)
		return kram_refuse(f, -EUCLEAN, "superblock geometry inconsistent");
	f->g = g;
	return 0;
}

static int kram_load_hdr(struct kram_fmt *f)
{
	struct kram_hdr_rec *h0 = kram_hdr(f, 0), *h1 = kram_hdr(f, 1);
	bool v0 = le32_to_cpu(h0->crc) == kram_hdr_crc(f, h0);
	bool v1 = le32_to_cpu(h1->crc) == kram_hdr_crc(f, h1);
	int c = kram_pick(v0, le64_to_cpu(h0->seq), v1, le64_to_cpu(h1->seq));

	kram_note_torn(f, v0, h0, sizeof(*h0));
	kram_note_torn(f, v1, h1, sizeof(*h1));
	if (c < 0)
		return kram_refuse(f, -EUCLEAN, "both header copies are corrupt");
	f->hdr_cur = c;
	f->hdr_seq = le64_to_cpu(kram_hdr(f, c)->seq);
	f->generation = le64_to_cpu(kram_hdr(f, c)->generation);
	return 0;
}

static int kram_load_area(struct kram_fmt *f, int slot)
{
	struct kram_area_rec *r0 = kram_area_rec(f, slot, 0);
	struct kram_area_rec *r1 = kram_area_rec(f, slot, 1);
	struct kram_area_view *v = &f->areas[slot];
	bool v0 = le32_to_cpu(r0->crc) == kram_area_crc(f, slot, r0);
	bool v1 = le32_to_cpu(r1->crc) == kram_area_crc(f, slot, r1);
	struct kram_area_rec *r;
	int c;

	c = kram_pick(v0, le64_to_cpu(r0->seq), v1, le64_to_cpu(r1->seq));
	kram_note_torn(f, v0, r0, sizeof(*r0));
	kram_note_torn(f, v1, r1, sizeof(*r1));
	if (c < 0)
		return kram_refuse(f, -EUCLEAN,
				   "area slot %d: both copies are corrupt", slot);
	r = c ? r1 : r0;
	memset(v, 0, sizeof(*v));
	v->cur = c;
	v->seq = le64_to_cpu(r->seq);
	v->state = le32_to_cpu(r->state);
	v->flags = le32_to_cpu(r->flags);
	v->first_page = le64_to_cpu(r->first_page);
	v->nr_pages = le64_to_cpu(r->nr_pages);
	v->created_gen = le64_to_cpu(r->created_gen);
	memcpy(v->name, r->name, sizeof(v->name));
	memcpy(v->version, r->version, sizeof(v->version));
	if (v->state == KRAM_AREA_FREE)
		return 0;
	if (v->state != KRAM_AREA_LIVE || kram_name_valid(v->name) ||
	    kram_version_valid(v->version) || !v->nr_pages ||
	    v->first_page >= f->g.nr_data_pages ||
	    v->nr_pages > f->g.nr_data_pages - v->first_page)
		return kram_refuse(f, -EUCLEAN,
				   "area slot %d: invalid record", slot);
	return 0;
}

/**
 * kram_fmt_attach() - validate a formatted region and build the DRAM state
 * @f:		zeroed state, filled in on success
 * @base:	kernel mapping of the region
 * @size:	bytes mapped
 *
 * Checks the superblock, both copies of every record, that area extents
 * are inside the data pages, do not overlap each other or the pool, and
 * that no bit beyond the data pages is set. Cost: the area table plus one
 * pass over the bitmap (nr_data_pages / 8 bytes); the tag words are not
 * read (each is checked when used).
 *
 * Return: 0, or -ENODATA (no superblock), -EPROTONOSUPPORT, -EUCLEAN
 * (corrupt), -EINVAL (region smaller than the superblock says), -ENOMEM;
 * @f->why says what was wrong.
 */
int kram_fmt_attach(struct kram_fmt *f, void *base, u64 size)
{
	u64 nd, bits;
	int slot, ret, cpu;

	f->base = base;
	f->size = size;
	f->sb = base;
	ret = kram_check_sb(f, size);
	if (ret)
		return ret;
	nd = f->g.nr_data_pages;
	f->pbitmap = base + f->g.bitmap_off;
	f->tags = base + f->g.tags_off;
	ret = kram_load_hdr(f);
	if (ret)
		return ret;
	bits = f->g.bitmap_bytes * BITS_PER_BYTE;
	if (find_next_bit(f->pbitmap, bits, nd) < bits)
		return kram_refuse(f, -EUCLEAN, "bitmap has bits beyond the data pages");

	f->vbitmap = kvzalloc(f->g.bitmap_bytes, GFP_KERNEL);
	if (!f->vbitmap)
		return kram_refuse(f, -ENOMEM, "out of memory");
	bitmap_copy(f->vbitmap, f->pbitmap, nd);
	f->area_pages = 0;
	f->nr_areas = 0;
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++) {
		struct kram_area_view *v = &f->areas[slot];

		ret = kram_load_area(f, slot);
		if (ret)
			goto err;
		if (v->state != KRAM_AREA_LIVE)
			continue;
		if (find_next_bit(f->vbitmap, v->first_page + v->nr_pages,
				  v->first_page) < v->first_page + v->nr_pages) {
			ret = kram_refuse(f, -EUCLEAN,
					  "area '%s' overlaps another area or pool pages",
					  v->name);
			goto err;
		}
		bitmap_set(f->vbitmap, v->first_page, v->nr_pages);
		f->area_pages += v->nr_pages;
		f->nr_areas++;
	}
	ret = -ENOMEM;
	f->hint = alloc_percpu(unsigned long);
	if (!f->hint)
		goto err;
	/* Spread the CPUs' next-fit positions over the pool. */
	for_each_possible_cpu(cpu) {
		unsigned long *hint = per_cpu_ptr(f->hint, cpu);

		*hint = div64_u64(nd * cpu, nr_cpu_ids);
	}
	if (percpu_counter_init(&f->nr_dynamic,
				bitmap_weight(f->pbitmap, nd), GFP_KERNEL))
		goto err_hint;
	mutex_init(&f->area_lock);
	atomic64_set(&f->corrupt_tags, 0);
	f->why[0] = '\0';
	return 0;

err_hint:
	free_percpu(f->hint);
	f->hint = NULL;
	if (ret == -ENOMEM)
		kram_refuse(f, -ENOMEM, "out of memory");
err:
	kvfree(f->vbitmap);
	f->vbitmap = NULL;
	return ret;
}

/* Release the DRAM state; the region is untouched. */
void kram_fmt_detach(struct kram_fmt *f)
{
	percpu_counter_destroy(&f->nr_dynamic);
	free_percpu(f->hint);
	f->hint = NULL;
	kvfree(f->vbitmap);
	f->vbitmap = NULL;
	mutex_destroy(&f->area_lock);
}

/**
 * kram_fmt_bump_generation() - count one more boot (attach)
 * @f:	attached state
 *
 * Return: 0.
 */
int kram_fmt_bump_generation(struct kram_fmt *f)
{
	mutex_lock(&f->area_lock);
	kram_hdr_commit(f, f->generation + 1, ktime_get_real_seconds());
	mutex_unlock(&f->area_lock);
	return 0;
}

/* ------------------------------------------------------------------ areas */

/* Slot of the live area @name, or -ENOENT. Caller holds area_lock. */
int kram_fmt_area_find(struct kram_fmt *f, const char *name)
{
	int slot;

	for (slot = 0; slot < KRAM_MAX_AREAS; slot++)
		if (f->areas[slot].state == KRAM_AREA_LIVE &&
		    !strncmp(f->areas[slot].name, name, KRAM_NAME_LEN))
			return slot;
	return -ENOENT;
}

/*
 * Claim @n free pages in a row in the volatile bitmap. Pool allocations
 * run concurrently without area_lock, so each bit is taken atomically and
 * a lost race moves the search on.
 */
static int kram_claim_extent(struct kram_fmt *f, u64 n, u64 *first)
{
	u64 nd = f->g.nr_data_pages, start = 0, i;

	for (;;) {
		start = bitmap_find_next_zero_area(f->vbitmap, nd, start, n, 0);
		if (start >= nd || start + n > nd)
			return -ENOSPC;
		for (i = start; i < start + n; i++)
			if (test_and_set_bit(i, f->vbitmap))
				break;
		if (i == start + n) {
			*first = start;
			return 0;
		}
		while (i-- > start)
			clear_bit(i, f->vbitmap);
		start++;
	}
}

/**
 * kram_fmt_area_create() - create a live area; caller holds area_lock
 * @f:		attached state
 * @name:	valid name (kram_name_valid), not in use
 * @version:	owner's version string (kram_version_valid)
 * @nr_pages:	pages, > 0
 * @flags:	stored as given
 *
 * The pages are claimed in DRAM first; the area exists once its record is
 * committed (one record write: the commit point).
 *
 * Return: the slot, or -EINVAL, -EEXIST, -ENOSPC.
 */
int kram_fmt_area_create(struct kram_fmt *f, const char *name,
			 const char *version, u64 nr_pages, u32 flags)
{
	struct kram_area_view v = {};
	int slot, ret;
	u64 first;

	lockdep_assert_held(&f->area_lock);
	if (kram_name_valid(name) || kram_version_valid(version) || !nr_pages)
		return -EINVAL;
	if (nr_pages > f->g.nr_data_pages)
		return -ENOSPC;
	if (kram_fmt_area_find(f, name) >= 0)
		return -EEXIST;
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++)
		if (f->areas[slot].state == KRAM_AREA_FREE)
			break;
	if (slot == KRAM_MAX_AREAS)
		return -ENOSPC;
	ret = kram_claim_extent(f, nr_pages, &first);
	if (ret)
		return ret;
	v.state = KRAM_AREA_LIVE;
	v.flags = flags;
	v.first_page = first;
	v.nr_pages = nr_pages;
	v.created_gen = f->generation;
	strscpy(v.name, name, sizeof(v.name));
	strscpy(v.version, version, sizeof(v.version));
	kram_area_commit(f, slot, &v);
	f->area_pages += nr_pages;
	f->nr_areas++;
	return slot;
}

/**
 * kram_fmt_area_delete() - free a live area; caller holds area_lock
 * @f:		attached state
 * @slot:	slot of a live area
 *
 * The record is committed FREE first; only then do the pages return to
 * the volatile bitmap. A crash in between loses nothing persistent.
 *
 * Return: 0 or -ENOENT.
 */
int kram_fmt_area_delete(struct kram_fmt *f, int slot)
{
	struct kram_area_view v = {};
	u64 first, n, i;

	lockdep_assert_held(&f->area_lock);
	if (slot < 0 || slot >= KRAM_MAX_AREAS ||
	    f->areas[slot].state != KRAM_AREA_LIVE)
		return -ENOENT;
	first = f->areas[slot].first_page;
	n = f->areas[slot].nr_pages;
	kram_area_commit(f, slot, &v);
	for (i = first; i < first + n; i++)
		clear_bit(i, f->vbitmap);
	f->area_pages -= n;
	f->nr_areas--;
	return 0;
}

/* ------------------------------------------------------------------- pool */

/**
 * kram_fmt_pool_alloc() - allocate one pool page for @tag
 * @f:		attached state
 * @tag:	owner tag, non-zero
 * @idx:	out: data page index
 *
 * Steps: claim the page in the volatile bitmap (atomic, DRAM only), write
 * its tag word, then set its bit in the persistent bitmap: that bit is the
 * commit point. A crash before it leaves the page free; the tag word of a
 * free page means nothing.
 *
 * Return: 0, -EINVAL (tag 0) or -ENOSPC.
 */
int kram_fmt_pool_alloc(struct kram_fmt *f, u32 tag, u64 *idx)
{
	u64 nd = f->g.nr_data_pages;
	unsigned long *hint, start, i;
	bool wrapped = false;

	if (!tag)
		return -EINVAL;
	hint = get_cpu_ptr(f->hint);
	start = *hint < nd ? *hint : 0;
	i = start;
	for (;;) {
		i = find_next_zero_bit(f->vbitmap, wrapped ? start : nd, i);
		if (i >= (wrapped ? start : nd)) {
			if (wrapped) {
				put_cpu_ptr(f->hint);
				return -ENOSPC;
			}
			wrapped = true;
			i = 0;
			continue;
		}
		if (!test_and_set_bit(i, f->vbitmap))
			break;
	}
	*hint = i + 1;
	put_cpu_ptr(f->hint);

	if (kram_store_ok(f))
		WRITE_ONCE(f->tags[i], cpu_to_le64(kram_tagword(tag)));
	/* The tag is in memory before the bit that makes it valid. */
	smp_wmb();
	if (kram_store_ok(f))
		set_bit(i, f->pbitmap);
	percpu_counter_inc(&f->nr_dynamic);
	*idx = i;
	return 0;
}

/**
 * kram_fmt_pool_check() - is pool page @idx allocated, and to whom?
 * @f:		attached state
 * @idx:	data page index
 * @tag:	out: its tag
 *
 * Return: 0, -EINVAL (out of range), -ENOENT (not a pool page in use:
 * free, or an area page) or -EUCLEAN (its tag word is corrupt).
 */
int kram_fmt_pool_check(struct kram_fmt *f, u64 idx, u32 *tag)
{
	u64 w;

	if (idx >= f->g.nr_data_pages)
		return -EINVAL;
	if (!test_bit(idx, f->pbitmap))
		return -ENOENT;
	w = le64_to_cpu(READ_ONCE(f->tags[idx]));
	if (!kram_tagword_valid(w)) {
		atomic64_inc(&f->corrupt_tags);
		return -EUCLEAN;
	}
	*tag = (u32)w;
	return 0;
}

/**
 * kram_fmt_pool_free() - free pool page @idx
 * @f:		attached state
 * @idx:	data page index
 * @tag:	the tag it must carry, or 0 for any valid tag
 *
 * Clearing the persistent bit is the commit point; the volatile bit is
 * released after it.
 *
 * Return: 0, -EINVAL, -ENOENT (not allocated: double free or area page),
 * -EPERM (other tag) or -EUCLEAN.
 */
int kram_fmt_pool_free(struct kram_fmt *f, u64 idx, u32 tag)
{
	unsigned long *hint;
	u32 owner;
	int ret;

	ret = kram_fmt_pool_check(f, idx, &owner);
	if (ret)
		return ret;
	if (tag && owner != tag)
		return -EPERM;
	if (!kram_store_ok(f))
		return 0;
	/* Two racing frees of one page: only one clears the bit. */
	if (!test_and_clear_bit(idx, f->pbitmap))
		return -ENOENT;
	/* The free is committed before another CPU can reuse the page. */
	smp_mb__after_atomic();
	clear_bit(idx, f->vbitmap);
	percpu_counter_dec(&f->nr_dynamic);
	/* Reuse the page this CPU just freed first: it is cache-hot. */
	hint = get_cpu_ptr(f->hint);
	if (idx < *hint)
		*hint = idx;
	put_cpu_ptr(f->hint);
	return 0;
}

/**
 * kram_fmt_pool_next() - first page of @tag at or after @from
 * @f:		attached state
 * @tag:	owner tag
 * @from:	data page index to start at
 *
 * Return: the index, or U64_MAX when there is none.
 */
u64 kram_fmt_pool_next(struct kram_fmt *f, u32 tag, u64 from)
{
	u64 nd = f->g.nr_data_pages, i;
	u32 t;

	for (i = find_next_bit(f->pbitmap, nd, from); i < nd;
	     i = find_next_bit(f->pbitmap, nd, i + 1))
		if (!kram_fmt_pool_check(f, i, &t) && t == tag)
			return i;
	return U64_MAX;
}

/* Data pages neither in an area nor allocated from the pool. */
u64 kram_fmt_free_pages(struct kram_fmt *f)
{
	s64 dyn = percpu_counter_sum_positive(&f->nr_dynamic);

	return f->g.nr_data_pages - f->area_pages - min_t(u64, dyn,
		f->g.nr_data_pages - f->area_pages);
}
