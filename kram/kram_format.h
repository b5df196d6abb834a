/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kram on-memory format and the operations on it. Documentation/kram.rst
 * describes the layout and why every update is crash-consistent.
 *
 * This code only sees a kernel mapping of the region (base, size): no
 * struct page, no device, so KUnit runs it on a vmalloc()ed buffer.
 */
#ifndef _KRAM_FORMAT_H
#define _KRAM_FORMAT_H

#include <linux/bitops.h>
#include <linux/mutex.h>
#include <linux/percpu_counter.h>
#include <linux/sizes.h>
#include <linux/types.h>
#include <uapi/linux/hvkit.h>

#define KRAM_MAGIC		0x314d524b54494b48ULL	/* "HKITKRM1" */
#define KRAM_FORMAT_VERSION	2	/* 2: backup page, mirrored records */
#define KRAM_MAX_AREAS		64
/* 2 MiB in pages: an area this big starts 2 MiB aligned when it can. */
#define KRAM_PMD_PAGES		(SZ_2M / KRAM_PAGE_SIZE)
#define KRAM_HDR_OFF		1024	/* two header records in page 0 */
#define KRAM_HDR_COPIES		4	/* two in page 0, two in the backup page */
#define KRAM_AREA_TABLE_OFF	KRAM_PAGE_SIZE
/* Smallest region: the fixed metadata plus one bitmap, tag and data page. */
#define KRAM_MIN_PAGES		16

/* Area record states. */
#define KRAM_AREA_FREE		0
#define KRAM_AREA_LIVE		1

/*
 * Superblock: written once at format time, never updated in place. The
 * backup page (the region's last page) holds a byte-identical copy.
 */
struct kram_sb {
	__le64 magic;
	__le32 version;
	__le32 sb_size;
	__le32 page_size;
	__le32 max_areas;
	__le64 region_size;
	__le64 nr_pages;
	__le64 area_table_off;
	__le64 bitmap_off;
	__le64 bitmap_bytes;
	__le64 tags_off;
	__le64 data_off;
	__le64 nr_data_pages;
	__le64 format_time;		/* ktime_get_real_seconds() */
	u8 uuid[16];
	__le64 backup_off;		/* the backup page: the last page */
	u8 reserved[132];
	__le32 crc;			/* crc32 of everything above */
};

/* Header flags. */
#define KRAM_HDR_REBOOTED	0x1	/* a reboot or kexec began after the last attach */

/*
 * Mutable header, four copies (two in page 0, two in the backup page),
 * all equal at rest: the valid copy with the highest seq wins.
 */
struct kram_hdr_rec {
	__le64 seq;
	__le64 generation;		/* attaches (every module load) */
	__le64 attach_time;		/* ktime_get_real_seconds() */
	__le64 boot_count;		/* boots of the host that attached */
	__le64 attach_boottime;		/* ktime_get_boottime_ns() at attach */
	__le32 flags;			/* KRAM_HDR_* */
	u8 boot_id[16];			/* the attaching boot's random boot_id */
	__le32 crc;
};

/* One area slot; two copies per slot, equal at rest, same rule. */
struct kram_area_rec {
	__le64 seq;
	__le32 state;
	__le32 flags;
	__le64 first_page;
	__le64 nr_pages;
	__le64 created_gen;
	char name[KRAM_NAME_LEN];
	char version[KRAM_VERSION_LEN];
	u8 reserved[20];
	__le32 crc;
};

/* Geometry, in host byte order. */
struct kram_geom {
	u64 region_size;
	u64 nr_pages;
	u64 area_table_off;
	u64 bitmap_off;
	u64 bitmap_bytes;
	u64 tags_off;
	u64 data_off;
	u64 nr_data_pages;
	u64 backup_off;
	u32 max_areas;
};

/* DRAM view of one area slot. */
struct kram_area_view {
	u64 seq;
	u32 state;
	u32 flags;
	u64 first_page;
	u64 nr_pages;
	u64 created_gen;
	char name[KRAM_NAME_LEN];
	char version[KRAM_VERSION_LEN];
};

/**
 * struct kram_fmt - an attached region, as the format code sees it
 * @base:	kernel mapping of the whole region
 * @size:	bytes mapped
 * @sb:	the superblock (in the region)
 * @g:	geometry from the superblock
 * @pbitmap:	persistent allocation bitmap of the pool (in the region)
 * @tags:	persistent owner tag words, one per data page (in the region)
 * @vbitmap:	volatile bitmap (DRAM): pool pages, area pages and claims
 * @hint:	per-CPU next-fit position in @vbitmap
 * @nr_dynamic:	pool pages allocated
 * @area_lock:	serialises area create/delete and the header
 * @hdr_seq:	sequence number of the current header record
 * @generation:	attach counter (bumped on every attach, also a reload)
 * @boot_count:	boots of the host that attached the region
 * @last_boottime: ktime_get_boottime_ns() of the last attach
 * @boot_id:	this boot's boot_id (all zero if unknown), stored at attach
 * @last_boot_id: the boot_id the header holds (the last attach's)
 * @hdr_flags:	KRAM_HDR_* of the current header
 * @area_pages:	pages owned by live areas
 * @nr_areas:	live areas
 * @areas:	DRAM view of every slot
 * @corrupt_tags: allocated pages whose tag word failed its check
 * @torn_records: metadata copies that were invalid or stale at attach (an
 *		update interrupted by a crash, or corruption); each was
 *		rewritten from a valid copy
 * @sb_recovered: superblock copies rewritten from the other at attach
 * @fixed_tags:	tag words with one flipped bit, corrected at attach
 * @fixed_bits:	persistent bitmap bits that disagreed with their tag word
 *		(a flipped bit, or an allocation or free cut by a crash)
 * @why:	human-readable reason of the last failed attach or format
 * @crash_sim:	KUnit only: simulate a crash after @crash_after stores
 * @crash_after: KUnit only: stores still allowed
 */
struct kram_fmt {
	void *base;
	u64 size;
	struct kram_sb *sb;
	struct kram_geom g;
	unsigned long *pbitmap;
	__le64 *tags;
	unsigned long *vbitmap;
	unsigned long __percpu *hint;
	struct percpu_counter nr_dynamic;
	struct mutex area_lock;		/* area records and the header */
	u64 hdr_seq;
	u64 generation;
	u64 boot_count;
	u64 last_boottime;
	u8 boot_id[16];
	u8 last_boot_id[16];
	u32 hdr_flags;
	u64 area_pages;
	u32 nr_areas;
	struct kram_area_view areas[KRAM_MAX_AREAS];
	atomic64_t corrupt_tags;
	u32 torn_records;
	u32 sb_recovered;
	u64 fixed_tags;
	u64 fixed_bits;
	char why[128];
#if IS_ENABLED(CONFIG_KUNIT)
	bool crash_sim;
	long crash_after;
#endif
};

int kram_geom_compute(u64 region_size, struct kram_geom *g);
int kram_fmt_format(struct kram_fmt *f, void *base, u64 size,
		    const u8 uuid[16]);
bool kram_fmt_probe(const void *first, const void *last);
bool kram_fmt_find_sb(const void *base, u64 size, u64 *off);
int kram_fmt_attach(struct kram_fmt *f, void *base, u64 size);
void kram_fmt_detach(struct kram_fmt *f);
int kram_fmt_bump_generation(struct kram_fmt *f, u64 boottime,
			     const u8 boot_id[16]);
void kram_fmt_mark_reboot(struct kram_fmt *f);

int kram_name_valid(const char *name);
int kram_version_valid(const char *version);

/* Stored area flag: created through /dev/kram, userspace owns it. */
#define KRAM_AREA_USER		KRAM_AREA_INFO_USER
/* kram_fmt_area_create() @flags that are not stored: */
#define KRAM_FMT_AREA_ZERO	0x20000000u	/* zero the pages before commit */

int kram_fmt_area_create(struct kram_fmt *f, const char *name,
			 const char *version, u64 nr_pages, u32 flags);
int kram_fmt_area_delete(struct kram_fmt *f, int slot);
int kram_fmt_area_find(struct kram_fmt *f, const char *name);

int kram_fmt_pool_alloc(struct kram_fmt *f, u32 tag, u64 *idx);
int kram_fmt_pool_alloc_flags(struct kram_fmt *f, u32 tag, u64 *idx, bool zero);
int kram_fmt_pool_free(struct kram_fmt *f, u64 idx, u32 tag);
int kram_fmt_pool_check(struct kram_fmt *f, u64 idx, u32 *tag);
u64 kram_fmt_pool_next(struct kram_fmt *f, u32 tag, u64 from);
u64 kram_fmt_free_pages(struct kram_fmt *f);

u64 kram_tagword(u32 tag);

static inline void *kram_fmt_page(struct kram_fmt *f, u64 idx)
{
	return f->base + f->g.data_off + idx * KRAM_PAGE_SIZE;
}

#endif /* _KRAM_FORMAT_H */
