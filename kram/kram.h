/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kram kernel API: persistent pages that keep their physical address and
 * contents across kexec. Documentation/kram.rst.
 *
 * Every page kram hands out has a struct page (ZONE_DEVICE, created with
 * memremap_pages()), so page_address(), kmap_local_page(), dma_map_page()
 * and vm_insert_page() work on it as on ordinary RAM. Pages are never
 * on the LRU and never reclaimed: they belong to their area or tag until
 * freed, also across kexec.
 *
 * Two kinds of persistent memory:
 *  - areas: named, fixed size, physically contiguous; page N of an area is
 *    the same physical page in every boot (kram_get_fixed_page()).
 *  - pool pages: single pages with an owner tag (kram_alloc_page()); after
 *    a kexec the owner finds its pages again with kram_walk_pages() and
 *    frees the ones it no longer needs.
 *
 * All functions may sleep unless noted, and fail with -ENODEV (or NULL)
 * while kram has no region attached.
 */
#ifndef _KRAM_KRAM_H
#define _KRAM_KRAM_H

#include <linux/mm_types.h>
#include <linux/types.h>
#include <uapi/linux/hvkit.h>

struct kram_area;

/*
 * kram_area_create() flag, not stored: the caller writes every byte of
 * the new area before anyone reads it, so kram need not zero it.
 */
#define KRAM_AREA_NOZERO	0x40000000u
/* The flags kram_area_create() stores for a kernel owner. */
#define KRAM_AREA_OWNER_FLAGS	0x1fffffffu

struct kram_area *kram_area_create(const char *name, const char *version,
				   u64 nr_pages, u32 flags);
struct kram_area *kram_area_open(const char *name);
void kram_area_put(struct kram_area *area);
int kram_area_delete(const char *name);

u64 kram_area_nr_pages(const struct kram_area *area);
const char *kram_area_version(const struct kram_area *area);
u64 kram_area_created_generation(const struct kram_area *area);
struct page *kram_get_fixed_page(struct kram_area *area, u64 index);

/* Pool pages: non-sleeping, may be called from atomic context. */
struct page *kram_alloc_page(u32 tag);
int kram_free_page(struct page *page, u32 tag);
int kram_page_tag(struct page *page, u32 *tag);

/* Callback of kram_walk_pages(): non-zero stops the walk. */
typedef int (*kram_page_fn_t)(struct page *page, void *data);
int kram_walk_pages(u32 tag, kram_page_fn_t fn, void *data);

/**
 * struct kram_usage - counters of the attached region
 * @generation:	attach counter (bumped on every attach, also a reload)
 * @boot_count:	boots of the host that attached the region (not reloads)
 * @data_pages:	pages for areas and the pool
 * @free_pages:	data pages in no area and not allocated
 * @dynamic_pages: pool pages allocated
 * @area_pages:	pages in areas
 * @nr_areas:	live areas
 */
struct kram_usage {
	u64 generation;
	u64 boot_count;
	u64 data_pages;
	u64 free_pages;
	u64 dynamic_pages;
	u64 area_pages;
	u32 nr_areas;
	u8 uuid[16];		/* the region's identity, chosen at format */
};

int kram_get_usage(struct kram_usage *usage);
bool kram_attached(void);

#endif /* _KRAM_KRAM_H */
