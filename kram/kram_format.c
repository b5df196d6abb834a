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
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "kram_format.h"

static_assert(sizeof(struct kram_sb) == 256);
static_assert(sizeof(struct kram_hdr_rec) == 64);
static_assert(sizeof(struct kram_area_rec) == 128);
static_assert(KRAM_HDR_OFF + 2 * sizeof(struct kram_hdr_rec) <= KRAM_PAGE_SIZE);
#define KRAM_AREA_TABLE_BYTES (KRAM_MAX_AREAS * 2 * sizeof(struct kram_area_rec))
static_assert(KRAM_AREA_TABLE_BYTES % KRAM_PAGE_SIZE == 0);
/* Page 0, the area table and the backup page. */
#define KRAM_FIXED_META_PAGES (2 + KRAM_AREA_TABLE_BYTES / KRAM_PAGE_SIZE)
/* A magic within this many bits of KRAM_MAGIC is a damaged superblock. */
#define KRAM_MAGIC_NEAR	8

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

/*
 * A tag word is the tag and a CRC-32 of it. CRC-32's Hamming distance on
 * a 32-bit message is at least 3, so a word with one flipped bit is one
 * bit away from exactly one valid word: kram_tagword_fix() finds it.
 */
u64 kram_tagword(u32 tag)
{
	__le32 t = cpu_to_le32(tag);

	return (u64)tag | (u64)crc32_le(KRAM_TAG_CHECK, (u8 *)&t, sizeof(t)) << 32;
}

static bool kram_tagword_valid(u64 w)
{
	return (u32)w && kram_tagword((u32)w) == w;
}

/* @w, or the one valid word one bit away from it; 0 if there is none. */
static u64 kram_tagword_fix(u64 w)
{
	u64 found = 0;
	int b;

	if (kram_tagword_valid(w))
		return w;
	for (b = 0; b < 64; b++) {
		if (!kram_tagword_valid(w ^ BIT_ULL(b)))
			continue;
		if (found)
			return 0;	/* cannot happen with distance 3 */
		found = w ^ BIT_ULL(b);
	}
	return found;
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
	g->backup_off = (nr_pages - 1) * KRAM_PAGE_SIZE;
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

/* Header copy @copy: 0 and 1 in page 0, 2 and 3 in the backup page. */
static struct kram_hdr_rec *kram_hdr(struct kram_fmt *f, int copy)
{
	return f->base + (copy < 2 ? 0 : f->g.backup_off) + KRAM_HDR_OFF +
	       (copy & 1) * sizeof(struct kram_hdr_rec);
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
 * Every record has several copies, all equal at rest. An update writes
 * the new record (seq + 1) into each copy in turn: once the first copy
 * is complete the update is committed (it has the highest seq); until
 * then the untouched copies hold the old record. A copy cut by a crash
 * fails its CRC. At attach the valid copy with the highest seq wins and
 * every other copy is rewritten from it (kram_fmt_attach()), so at rest
 * one corrupted copy, even of a committed record, loses nothing.
 */
static void kram_hdr_commit(struct kram_fmt *f, u64 generation, u64 boots,
			    u64 boottime, u32 flags)
{
	struct kram_hdr_rec r = {};
	int copy;

	r.seq = cpu_to_le64(f->hdr_seq + 1);
	r.generation = cpu_to_le64(generation);
	r.attach_time = cpu_to_le64(ktime_get_real_seconds());
	r.boot_count = cpu_to_le64(boots);
	r.attach_boottime = cpu_to_le64(boottime);
	r.flags = cpu_to_le32(flags);
	memcpy(r.boot_id, f->boot_id, sizeof(r.boot_id));
	r.crc = cpu_to_le32(kram_hdr_crc(f, &r));
	for (copy = 0; copy < KRAM_HDR_COPIES; copy++)
		kram_write_words(f, kram_hdr(f, copy), &r, sizeof(r));
	f->hdr_seq++;
	f->generation = generation;
	f->boot_count = boots;
	f->hdr_flags = flags;
	f->last_boottime = boottime;
}

static void kram_area_write(struct kram_fmt *f, int slot,
			    const struct kram_area_view *v)
{
	struct kram_area_rec r = {};

	r.seq = cpu_to_le64(v->seq);
	r.state = cpu_to_le32(v->state);
	r.flags = cpu_to_le32(v->flags);
	r.first_page = cpu_to_le64(v->first_page);
	r.nr_pages = cpu_to_le64(v->nr_pages);
	r.created_gen = cpu_to_le64(v->created_gen);
	memcpy(r.name, v->name, sizeof(r.name));
	memcpy(r.version, v->version, sizeof(r.version));
	r.crc = cpu_to_le32(kram_area_crc(f, slot, &r));
	kram_write_words(f, kram_area_rec(f, slot, 0), &r, sizeof(r));
	kram_write_words(f, kram_area_rec(f, slot, 1), &r, sizeof(r));
}

/* Same rule for an area slot; @v is the new DRAM view (seq ignored). */
static void kram_area_commit(struct kram_fmt *f, int slot,
			     struct kram_area_view *v)
{
	v->seq = f->areas[slot].seq + 1;
	kram_area_write(f, slot, v);
	f->areas[slot] = *v;
}

/* ----------------------------------------------------------------- format */

/* Does this page start with something that was a kram superblock? */
static bool kram_sb_near(const void *page)
{
	const struct kram_sb *sb = page;

	return hweight64(le64_to_cpu(READ_ONCE(sb->magic)) ^ KRAM_MAGIC) <=
	       KRAM_MAGIC_NEAR;
}

/**
 * kram_fmt_probe() - does a region hold a kram superblock copy?
 * @first:	the region's first page
 * @last:	its last page (where the backup copy lives), or NULL
 *
 * A damaged copy counts: a magic a few bits off is still a kram.
 * Return: true if either page starts with a (possibly damaged) superblock.
 */
bool kram_fmt_probe(const void *first, const void *last)
{
	return kram_sb_near(first) || (last && kram_sb_near(last));
}

static u32 kram_sb_crc(const struct kram_sb *sb)
{
	return kram_crc(sb, offsetof(struct kram_sb, crc), 0);
}

/**
 * kram_fmt_find_sb() - is there an intact superblock copy in any page?
 * @base:	kernel mapping of the region
 * @size:	bytes mapped
 * @off:	out: offset of the first copy found
 *
 * For the format decision only (init=1): a backup copy in the middle of
 * the range means the region was formatted with another size. Reads the
 * first 256 bytes of every page whose first word is the magic.
 * Return: true if one was found.
 */
bool kram_fmt_find_sb(const void *base, u64 size, u64 *off)
{
	u64 o;

	for (o = 0; o + KRAM_PAGE_SIZE <= size; o += KRAM_PAGE_SIZE) {
		const struct kram_sb *sb = base + o;

		if (le64_to_cpu(READ_ONCE(sb->magic)) == KRAM_MAGIC &&
		    le32_to_cpu(sb->crc) == kram_sb_crc(sb)) {
			*off = o;
			return true;
		}
		if (!(o & (SZ_64M - 1)))
			cond_resched();
	}
	return false;
}

/**
 * kram_fmt_format() - write an empty kram into @base
 * @f:		scratch state (crash simulation, @f->why); not attached
 * @base:	kernel mapping of the region
 * @size:	bytes; the region uses the whole pages
 * @uuid:	identity of the new region
 *
 * Order: clear the magic of both superblock copies (from here on the
 * region reads as "no kram"), write the metadata, write the backup
 * superblock, then the primary, each with its magic last. A crash during
 * a format leaves the old kram untouched (only a magic cleared, restored
 * from the other copy), a region without a superblock, or (after the
 * backup) a complete empty kram, never one that looks valid with
 * half-written metadata.
 *
 * Return: 0, or -EINVAL for an unusable size.
 */
int kram_fmt_format(struct kram_fmt *f, void *base, u64 size,
		    const u8 uuid[16])
{
	struct kram_sb *sb = base, *bsb;
	struct kram_sb nsb = {};
	struct kram_geom g;
	int slot;

	if (kram_geom_compute(ALIGN_DOWN(size, KRAM_PAGE_SIZE), &g)) {
		snprintf(f->why, sizeof(f->why),
			 "region of %llu bytes is too small (minimum %u pages)",
			 size, KRAM_MIN_PAGES);
		return -EINVAL;
	}
	bsb = base + g.backup_off;
	f->base = base;
	f->size = size;
	f->sb = sb;
	f->g = g;
	if (!kram_store_ok(f))
		return 0;
	WRITE_ONCE(sb->magic, 0);
	if (!kram_store_ok(f))
		return 0;
	WRITE_ONCE(bsb->magic, 0);
	/* "No kram" is visible before any metadata is wiped. */
	smp_wmb();
	/* Metadata: the superblock page, area table, bitmap, tags, backup. */
	if (!kram_store_ok(f))
		return 0;
	memset(base + sizeof(*sb), 0, g.data_off - sizeof(*sb));
	memset((void *)bsb + sizeof(*bsb), 0, KRAM_PAGE_SIZE - sizeof(*bsb));

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
	nsb.backup_off = cpu_to_le64(g.backup_off);
	nsb.format_time = cpu_to_le64(ktime_get_real_seconds());
	memcpy(nsb.uuid, uuid, sizeof(nsb.uuid));
	/* The CRC covers the magic, which is written last. */
	nsb.magic = cpu_to_le64(KRAM_MAGIC);
	nsb.crc = cpu_to_le32(kram_sb_crc(&nsb));
	nsb.magic = 0;
	kram_write_words(f, sb, &nsb, sizeof(nsb));

	/* Every copy of every record valid with seq 1. */
	f->hdr_seq = 0;
	kram_hdr_commit(f, 0, 0, 0, 0);
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++) {
		struct kram_area_view v = {};

		f->areas[slot] = (struct kram_area_view){};
		kram_area_commit(f, slot, &v);
	}
	/* The backup, its magic last: from then on the new kram is valid. */
	kram_write_words(f, bsb, &nsb, sizeof(nsb));
	if (!kram_store_ok(f))
		return 0;
	WRITE_ONCE(bsb->magic, cpu_to_le64(KRAM_MAGIC));
	/* The backup's magic is in memory before the primary's. */
	smp_wmb();
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

/*
 * One superblock copy at @off of a region of @size bytes: 0 and its
 * geometry in @g, or an error with the reason in f->why.
 */
static int kram_check_sb(struct kram_fmt *f, const struct kram_sb *sb, u64 off,
			 u64 size, struct kram_geom *g)
{
	u32 v = le32_to_cpu(sb->version);

	if (le64_to_cpu(sb->magic) != KRAM_MAGIC)
		return kram_refuse(f, -ENODATA, "no kram superblock");
	if (le32_to_cpu(sb->crc) != kram_sb_crc(sb))
		return kram_refuse(f, -EUCLEAN, "superblock checksum mismatch");
	if (v != KRAM_FORMAT_VERSION)
		return kram_refuse(f, -EPROTONOSUPPORT,
				   "on-memory format version %u, this module reads %u",
				   v, KRAM_FORMAT_VERSION);
	if (le32_to_cpu(sb->sb_size) != sizeof(*sb) ||
	    le32_to_cpu(sb->page_size) != KRAM_PAGE_SIZE ||
	    kram_geom_compute(le64_to_cpu(sb->region_size), g))
		return kram_refuse(f, -EUCLEAN, "superblock fields invalid");
	if (le64_to_cpu(sb->region_size) > size)
		return kram_refuse(f, -EINVAL,
				   "superblock describes %llu bytes, the region has %llu",
				   le64_to_cpu(sb->region_size), size);
	if (le32_to_cpu(sb->max_areas) != g->max_areas ||
	    le64_to_cpu(sb->nr_pages) != g->nr_pages ||
	    le64_to_cpu(sb->area_table_off) != g->area_table_off ||
	    le64_to_cpu(sb->bitmap_off) != g->bitmap_off ||
	    le64_to_cpu(sb->bitmap_bytes) != g->bitmap_bytes ||
	    le64_to_cpu(sb->tags_off) != g->tags_off ||
	    le64_to_cpu(sb->data_off) != g->data_off ||
	    le64_to_cpu(sb->nr_data_pages) != g->nr_data_pages ||
	    le64_to_cpu(sb->backup_off) != g->backup_off ||
	    (off && off != g->backup_off))
		return kram_refuse(f, -EUCLEAN, "superblock geometry inconsistent");
	return 0;
}

/*
 * Both superblock copies: the primary at 0, the backup in the last page
 * (where the primary says, else the last page of the mapped range). One
 * valid copy is enough; the other is rewritten from it after the whole
 * attach succeeded (*@fix: the copy to rewrite, 0 or 1, or -1).
 */
static int kram_load_sb(struct kram_fmt *f, u64 size, int *fix)
{
	const struct kram_sb *p = f->base, *b;
	struct kram_geom gp, gb;
	char whyp[sizeof(f->why)], whyb[sizeof(f->why)];
	u64 boff;
	int rp, rb;

	*fix = -1;
	rp = kram_check_sb(f, p, 0, size, &gp);
	strscpy(whyp, f->why, sizeof(whyp));
	boff = rp ? ALIGN_DOWN(size, KRAM_PAGE_SIZE) - KRAM_PAGE_SIZE :
		    gp.backup_off;
	b = f->base + boff;
	rb = kram_check_sb(f, b, boff, size, &gb);
	strscpy(whyb, f->why, sizeof(whyb));
	if (!rp && !rb) {
		if (memcmp(p, b, sizeof(*p)))
			return kram_refuse(f, -EUCLEAN,
					   "the two superblock copies are valid but differ");
		f->g = gp;
		return 0;
	}
	if (!rp || !rb) {
		f->g = rp ? gb : gp;
		*fix = rp ? 0 : 1;
		snprintf(f->why, sizeof(f->why), "%s superblock: %s",
			 rp ? "primary" : "backup", rp ? whyp : whyb);
		return 0;
	}
	/* Neither is valid. */
	if (!kram_fmt_probe(p, b))
		return kram_refuse(f, -ENODATA, "no kram superblock");
	if (rp == -EPROTONOSUPPORT || rp == -EINVAL)
		return kram_refuse(f, rp, "%s", whyp);
	return kram_refuse(f, -EUCLEAN,
			   "both superblock copies are damaged (primary: %s; backup: %s)",
			   whyp, whyb);
}

/* The valid header copy with the highest seq, or NULL. */
static struct kram_hdr_rec *kram_hdr_best(struct kram_fmt *f)
{
	struct kram_hdr_rec *best = NULL, *h;
	int copy;

	for (copy = 0; copy < KRAM_HDR_COPIES; copy++) {
		h = kram_hdr(f, copy);
		if (le32_to_cpu(h->crc) != kram_hdr_crc(f, h))
			continue;
		if (!best || le64_to_cpu(h->seq) > le64_to_cpu(best->seq))
			best = h;
	}
	return best;
}

/* Header: the valid copy with the highest seq; the others must not disagree. */
static int kram_load_hdr(struct kram_fmt *f, u32 *stale)
{
	struct kram_hdr_rec *best = kram_hdr_best(f), *h;
	int copy;

	*stale = 0;
	if (!best)
		return kram_refuse(f, -EUCLEAN, "all four header copies are corrupt");
	for (copy = 0; copy < KRAM_HDR_COPIES; copy++) {
		h = kram_hdr(f, copy);
		if (h == best || !memcmp(h, best, sizeof(*h)))
			continue;
		if (le32_to_cpu(h->crc) == kram_hdr_crc(f, h) &&
		    h->seq == best->seq)
			return kram_refuse(f, -EUCLEAN,
					   "two header copies with seq %llu differ",
					   le64_to_cpu(h->seq));
		(*stale)++;
	}
	f->hdr_seq = le64_to_cpu(best->seq);
	f->generation = le64_to_cpu(best->generation);
	f->boot_count = le64_to_cpu(best->boot_count);
	f->hdr_flags = le32_to_cpu(best->flags);
	f->last_boottime = le64_to_cpu(best->attach_boottime);
	memcpy(f->last_boot_id, best->boot_id, sizeof(f->last_boot_id));
	memcpy(f->boot_id, best->boot_id, sizeof(f->boot_id));
	return 0;
}

/* The valid copy of an area record with the higher seq, or NULL. */
static struct kram_area_rec *kram_area_best(struct kram_fmt *f, int slot)
{
	struct kram_area_rec *r0 = kram_area_rec(f, slot, 0);
	struct kram_area_rec *r1 = kram_area_rec(f, slot, 1);
	bool v0 = le32_to_cpu(r0->crc) == kram_area_crc(f, slot, r0);
	bool v1 = le32_to_cpu(r1->crc) == kram_area_crc(f, slot, r1);

	if (v0 && v1)
		return le64_to_cpu(r1->seq) > le64_to_cpu(r0->seq) ? r1 : r0;
	return v0 ? r0 : v1 ? r1 : NULL;
}

static int kram_load_area(struct kram_fmt *f, int slot, bool *stale)
{
	struct kram_area_rec *r0 = kram_area_rec(f, slot, 0);
	struct kram_area_rec *r1 = kram_area_rec(f, slot, 1);
	struct kram_area_view *v = &f->areas[slot];
	bool v0 = le32_to_cpu(r0->crc) == kram_area_crc(f, slot, r0);
	bool v1 = le32_to_cpu(r1->crc) == kram_area_crc(f, slot, r1);
	struct kram_area_rec *r;

	if (!v0 && !v1)
		return kram_refuse(f, -EUCLEAN,
				   "area slot %d: both copies are corrupt", slot);
	if (v0 && v1 && r0->seq == r1->seq && memcmp(r0, r1, sizeof(*r0)))
		return kram_refuse(f, -EUCLEAN,
				   "area slot %d: two copies with seq %llu differ",
				   slot, le64_to_cpu(r0->seq));
	r = kram_area_best(f, slot);
	*stale = !v0 || !v1 || r0->seq != r1->seq;
	memset(v, 0, sizeof(*v));
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

/*
 * What one pool page's persistent state says. The tag word is the commit
 * point of an allocation (written after the bitmap bit) and of a free
 * (zeroed before the bit is cleared), so a crash leaves at most "bit set,
 * tag 0"; "tag valid, bit clear" is a flipped bitmap bit.
 */
enum kram_page_state {
	KRAM_PG_FREE,		/* tag 0, bit clear */
	KRAM_PG_USED,		/* valid tag, bit set */
	KRAM_PG_CUT,		/* tag 0, bit set: alloc or free cut short */
	KRAM_PG_LOST_BIT,	/* valid (or fixable) tag, bit clear */
	KRAM_PG_FIX_TAG,	/* tag one bit off, bit set */
	KRAM_PG_GARBAGE,	/* unfixable tag, bit clear: a free page */
	KRAM_PG_CORRUPT,	/* unfixable tag, bit set: kept, never handed out */
};

static enum kram_page_state kram_page_state(struct kram_fmt *f, u64 i,
					    u64 *fixed)
{
	u64 w = le64_to_cpu(READ_ONCE(f->tags[i]));
	bool bit = test_bit(i, f->pbitmap);

	*fixed = w ? kram_tagword_fix(w) : 0;
	if (!w)
		return bit ? KRAM_PG_CUT : KRAM_PG_FREE;
	if (!*fixed)
		return bit ? KRAM_PG_CORRUPT : KRAM_PG_GARBAGE;
	if (!bit)
		return KRAM_PG_LOST_BIT;
	return *fixed == w ? KRAM_PG_USED : KRAM_PG_FIX_TAG;
}

/* Rewrite every stale or damaged copy from the valid state (attach only). */
static void kram_repair(struct kram_fmt *f, int sb_fix, u32 stale_hdr,
			const unsigned long *stale_areas)
{
	u64 nd = f->g.nr_data_pages, bits = f->g.bitmap_bytes * BITS_PER_BYTE;
	u64 i, fixed;
	int slot;

	if (sb_fix >= 0) {
		struct kram_sb *dst = sb_fix ? f->base + f->g.backup_off : f->base;
		const struct kram_sb *src = sb_fix ? f->base : f->base + f->g.backup_off;

		kram_write_words(f, dst, src, sizeof(*src));
		f->sb_recovered++;
	}
	if (stale_hdr && kram_hdr_best(f)) {
		/* The valid record, byte for byte, into every other copy. */
		struct kram_hdr_rec *best = kram_hdr_best(f), r = *best;
		int copy;

		for (copy = 0; copy < KRAM_HDR_COPIES; copy++)
			if (kram_hdr(f, copy) != best &&
			    memcmp(kram_hdr(f, copy), &r, sizeof(r)))
				kram_write_words(f, kram_hdr(f, copy), &r, sizeof(r));
		f->torn_records += stale_hdr;
	}
	for_each_set_bit(slot, stale_areas, KRAM_MAX_AREAS) {
		struct kram_area_rec *best = kram_area_best(f, slot), r;
		int copy;

		if (!best)
			continue;
		r = *best;
		for (copy = 0; copy < 2; copy++)
			if (kram_area_rec(f, slot, copy) != best)
				kram_write_words(f, kram_area_rec(f, slot, copy),
						 &r, sizeof(r));
		f->torn_records++;
	}
	for (i = 0; i < nd; i++) {
		switch (kram_page_state(f, i, &fixed)) {
		case KRAM_PG_CUT:
			clear_bit(i, f->pbitmap);
			f->fixed_bits++;
			break;
		case KRAM_PG_LOST_BIT:
			if (fixed != le64_to_cpu(f->tags[i])) {
				WRITE_ONCE(f->tags[i], cpu_to_le64(fixed));
				f->fixed_tags++;
			}
			/* The tag word before the bit, as an allocation does. */
			smp_wmb();
			set_bit(i, f->pbitmap);
			f->fixed_bits++;
			break;
		case KRAM_PG_FIX_TAG:
			WRITE_ONCE(f->tags[i], cpu_to_le64(fixed));
			f->fixed_tags++;
			break;
		case KRAM_PG_GARBAGE:
			WRITE_ONCE(f->tags[i], 0);
			f->fixed_tags++;
			break;
		default:
			break;
		}
		if (!(i & 0xffff))
			cond_resched();
	}
	/* Bits beyond the data pages name no page. */
	for (i = find_next_bit(f->pbitmap, bits, nd); i < bits;
	     i = find_next_bit(f->pbitmap, bits, i + 1)) {
		clear_bit(i, f->pbitmap);
		f->fixed_bits++;
	}
}

/**
 * kram_fmt_attach() - validate a formatted region and build the DRAM state
 * @f:		zeroed state, filled in on success
 * @base:	kernel mapping of the region
 * @size:	bytes mapped
 *
 * Checks both superblock copies, every copy of every record, that area
 * extents are inside the data pages and do not overlap each other or the
 * pool, and every pool page's tag word against its bitmap bit. Writes
 * nothing unless everything is consistent; then it rewrites every copy
 * that was stale or damaged from the valid one (counted in
 * @f->torn_records, @f->sb_recovered, @f->fixed_tags, @f->fixed_bits).
 * Cost: the area table plus one pass over the bitmap and the tag words.
 *
 * Return: 0, or -ENODATA (no superblock copy at all), -EPROTONOSUPPORT,
 * -EUCLEAN (corrupt beyond repair), -EINVAL (region smaller than the
 * superblock says), -ENOMEM; @f->why says what was wrong.
 */
int kram_fmt_attach(struct kram_fmt *f, void *base, u64 size)
{
	DECLARE_BITMAP(stale_areas, KRAM_MAX_AREAS);
	u64 nd, i, fixed, used = 0;
	int slot, ret, cpu, sb_fix;
	u32 stale_hdr;
	bool stale;

	f->base = base;
	f->size = size;
	f->sb = base;
	if (size < KRAM_MIN_PAGES * KRAM_PAGE_SIZE)
		return kram_refuse(f, -EINVAL, "region of %llu bytes is too small",
				   size);
	ret = kram_load_sb(f, size, &sb_fix);
	if (ret)
		return ret;
	/* The CRC salts read the uuid: take it from a valid copy. */
	if (sb_fix == 0)
		f->sb = base + f->g.backup_off;
	nd = f->g.nr_data_pages;
	f->pbitmap = base + f->g.bitmap_off;
	f->tags = base + f->g.tags_off;
	ret = kram_load_hdr(f, &stale_hdr);
	if (ret)
		return ret;

	f->vbitmap = kvzalloc(f->g.bitmap_bytes, GFP_KERNEL);
	if (!f->vbitmap)
		return kram_refuse(f, -ENOMEM, "out of memory");
	bitmap_zero(stale_areas, KRAM_MAX_AREAS);
	f->area_pages = 0;
	f->nr_areas = 0;
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++) {
		struct kram_area_view *v = &f->areas[slot];

		ret = kram_load_area(f, slot, &stale);
		if (ret)
			goto err;
		if (stale)
			__set_bit(slot, stale_areas);
		if (v->state != KRAM_AREA_LIVE)
			continue;
		if (find_next_bit(f->vbitmap, v->first_page + v->nr_pages,
				  v->first_page) < v->first_page + v->nr_pages) {
			ret = kram_refuse(f, -EUCLEAN,
					  "area '%s' overlaps another area", v->name);
			goto err;
		}
		bitmap_set(f->vbitmap, v->first_page, v->nr_pages);
		f->area_pages += v->nr_pages;
		f->nr_areas++;
	}
	/* Pool pages: a tag word (or a set bit with a broken one) owns a page. */
	for (i = 0; i < nd; i++) {
		switch (kram_page_state(f, i, &fixed)) {
		case KRAM_PG_USED:
		case KRAM_PG_LOST_BIT:
		case KRAM_PG_FIX_TAG:
		case KRAM_PG_CORRUPT:
			if (test_bit(i, f->vbitmap)) {
				ret = kram_refuse(f, -EUCLEAN,
						  "pool page %llu lies inside an area", i);
				goto err;
			}
			__set_bit(i, f->vbitmap);
			used++;
			break;
		default:
			break;
		}
		if (!(i & 0xffff))
			cond_resched();
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
	if (percpu_counter_init(&f->nr_dynamic, used, GFP_KERNEL))
		goto err_hint;
	mutex_init(&f->area_lock);
	atomic64_set(&f->corrupt_tags, 0);
	/*
	 * Everything is consistent: only now write anything. f->sb (the
	 * CRC salts' uuid) stays on the valid copy until the repair is done.
	 */
	kram_repair(f, sb_fix, stale_hdr, stale_areas);
	f->sb = base;
	/* A recovered superblock keeps its reason in why for the log. */
	if (sb_fix < 0)
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
 * kram_fmt_bump_generation() - count one more attach, and a boot if new
 * @f:		attached state
 * @boottime:	ktime_get_boottime_ns() now
 * @boot_id:	this boot's random boot_id, or NULL if it could not be read
 *
 * A new boot: the boot_id differs from the one the last attach stored.
 * Without both boot_ids: a reboot or kexec was marked
 * (kram_fmt_mark_reboot()) since the last attach, or the boot clock is
 * behind the last attach's (a crash), or nothing attached before.
 * Return: 0.
 */
int kram_fmt_bump_generation(struct kram_fmt *f, u64 boottime,
			     const u8 boot_id[16])
{
	bool new_boot;
	u64 boots;

	mutex_lock(&f->area_lock);
	boots = f->boot_count;
	if (!boots)
		new_boot = true;
	else if (boot_id && memchr_inv(boot_id, 0, 16) &&
		 memchr_inv(f->last_boot_id, 0, 16))
		new_boot = memcmp(boot_id, f->last_boot_id, 16);
	else
		new_boot = (f->hdr_flags & KRAM_HDR_REBOOTED) ||
			   boottime < f->last_boottime;
	if (new_boot)
		boots++;
	/* Unknown: store none, so that a later attach does not compare an old id. */
	if (boot_id)
		memcpy(f->boot_id, boot_id, sizeof(f->boot_id));
	else
		memset(f->boot_id, 0, sizeof(f->boot_id));
	kram_hdr_commit(f, f->generation + 1, boots, boottime, 0);
	mutex_unlock(&f->area_lock);
	return 0;
}

/**
 * kram_fmt_mark_reboot() - the host is going down: the next attach is a boot
 * @f:	attached state
 */
void kram_fmt_mark_reboot(struct kram_fmt *f)
{
	mutex_lock(&f->area_lock);
	kram_hdr_commit(f, f->generation, f->boot_count, f->last_boottime,
			f->hdr_flags | KRAM_HDR_REBOOTED);
	mutex_unlock(&f->area_lock);
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
static int kram_claim_extent_aligned(struct kram_fmt *f, u64 n, u64 mask,
				     u64 *first)
{
	u64 nd = f->g.nr_data_pages, start = 0, i;
	/* Data page i is region page data_off / page size + i. */
	u64 off = (f->g.data_off / KRAM_PAGE_SIZE) & mask;

	for (;;) {
		start = bitmap_find_next_zero_area_off(f->vbitmap, nd, start, n,
						       mask, off);
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

/*
 * An extent of 2 MiB or more starts on a 2 MiB boundary of the region (the
 * region itself is 2 MiB aligned) when such a run is free, so that its
 * mappings can use PMDs; else anywhere.
 */
static int kram_claim_extent(struct kram_fmt *f, u64 n, u64 *first)
{
	if (n >= KRAM_PMD_PAGES &&
	    !kram_claim_extent_aligned(f, n, KRAM_PMD_PAGES - 1, first))
		return 0;
	return kram_claim_extent_aligned(f, n, 0, first);
}

/**
 * kram_fmt_area_create() - create a live area; caller holds area_lock
 * @f:		attached state
 * @name:	valid name (kram_name_valid), not in use
 * @version:	owner's version string (kram_version_valid)
 * @nr_pages:	pages, > 0
 * @flags:	stored as given, except KRAM_FMT_AREA_ZERO: zero the pages
 *
 * The pages are claimed in DRAM first (and zeroed if asked); the area
 * exists once its record is committed (one record write: the commit
 * point), so a crash never leaves an area with another owner's bytes.
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
	if (flags & KRAM_FMT_AREA_ZERO) {
		u64 i;

		for (i = 0; i < nr_pages; i++) {
			clear_page(kram_fmt_page(f, first + i));
			if (!(i & 255))
				cond_resched();
		}
	}
	v.state = KRAM_AREA_LIVE;
	v.flags = flags & ~KRAM_FMT_AREA_ZERO;
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
 * Steps: claim the page in the volatile bitmap (atomic, DRAM only), set
 * its bit in the persistent bitmap, then write its tag word: the tag word
 * is the commit point. A crash before it leaves "bit set, tag 0", which
 * the next attach reads as free (kram_page_state()).
 *
 * Return: 0, -EINVAL (tag 0) or -ENOSPC.
 */
int kram_fmt_pool_alloc(struct kram_fmt *f, u32 tag, u64 *idx)
{
	return kram_fmt_pool_alloc_flags(f, tag, idx, false);
}

/* The same; with @zero the page is zero-filled before it is committed. */
int kram_fmt_pool_alloc_flags(struct kram_fmt *f, u32 tag, u64 *idx, bool zero)
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
		set_bit(i, f->pbitmap);
	/* A page never becomes someone's with another owner's bytes in it. */
	if (zero)
		clear_page(kram_fmt_page(f, i));
	/* The bit is in memory before the tag word that commits the page. */
	smp_wmb();
	if (kram_store_ok(f))
		WRITE_ONCE(f->tags[i], cpu_to_le64(kram_tagword(tag)));
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
	/* Bit set, tag 0: being allocated or freed right now. */
	if (!w)
		return -ENOENT;
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
 * Zeroing the tag word is the commit point (one compare-and-exchange, so
 * of two racing frees only one succeeds); the persistent bit is cleared
 * after it, the volatile bit last.
 *
 * Return: 0, -EINVAL, -ENOENT (not allocated: double free or area page),
 * -EPERM (other tag) or -EUCLEAN.
 */
int kram_fmt_pool_free(struct kram_fmt *f, u64 idx, u32 tag)
{
	unsigned long *hint;
	u32 owner;
	int ret;
	__le64 w;

	ret = kram_fmt_pool_check(f, idx, &owner);
	if (ret)
		return ret;
	if (tag && owner != tag)
		return -EPERM;
	if (!kram_store_ok(f))
		return 0;
	/* Two racing frees of one page: only one zeroes the tag word. */
	w = cpu_to_le64(kram_tagword(owner));
	if (cmpxchg64((__force u64 *)&f->tags[idx], (__force u64)w, 0) !=
	    (__force u64)w)
		return -ENOENT;
	if (kram_store_ok(f))
		clear_bit(idx, f->pbitmap);
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
