// SPDX-License-Identifier: GPL-2.0
/*
 * kram: persistent fixed-page allocator over a memmap=-reserved physical
 * range whose pages and contents survive kexec. Documentation/kram.rst.
 *
 * This file owns the region (claim, struct pages, attach), the kernel API
 * of kram.h, /dev/kram, /dev/kram_areas/<name>, sysfs and debugfs. The
 * on-memory format is kram_format.c.
 */
#include <linux/cdev.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pfn_t.h>
#include <linux/pseudo_fs.h>
#include <linux/random.h>
#include <linux/reboot.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>
#include <hvkit/hvkit.h>
#include "kram.h"
#include "kram_format.h"

#define CREATE_TRACE_POINTS
#include "kram_trace.h"

/* memremap_pages() works in memory-hotplug subsections. */
#define KRAM_ALIGN	SZ_2M
/* The pseudo filesystem of the areas' mappings ("kram"). */
#define KRAM_FS_MAGIC	0x6b72616d

static char *region;
module_param(region, charp, 0444);
MODULE_PARM_DESC(region,
		 "SIZE@ADDR of the reserved range (memmap=SIZE$ADDR or SIZE!ADDR on the kernel command line); empty: scan reserved ranges for a kram superblock");
static bool init;
module_param(init, bool, 0444);
MODULE_PARM_DESC(init, "format the named region if it holds no kram superblock (first use)");
static bool reformat;
module_param(reformat, bool, 0444);
MODULE_PARM_DESC(reformat, "DESTROY whatever the named region holds and format it");
static bool scan = true;
module_param(scan, bool, 0444);
MODULE_PARM_DESC(scan, "without region=, look for a kram superblock in unclaimed reserved ranges (default: on)");
static bool kram_trace_init;
module_param_named(trace_init, kram_trace_init, bool, 0444);
MODULE_PARM_DESC(trace_init, "enable trace events kram_attach and kram_refuse (tracefs events/kram/, top-level buffer) before init attaches, so the attach or its refusal is traced; they stay enabled");
static bool pmd = true;
module_param(pmd, bool, 0644);
MODULE_PARM_DESC(pmd, "map an aligned 2 MiB of an area with one PMD (default: on; off: 4 KiB pages only, for mappings made after)");

struct kram_area {
	int slot;
	unsigned int users;		/* kernel handles + open files */
	struct device *dev;
	/* The mapping every open file of the area shares (S_DAX): at first open. */
	struct inode *inode;
};

static struct {
	struct mutex lock;		/* attach state, areas[], users */
	bool attached;			/* set once, read locklessly */
	u32 state;
	int last_error;
	char why[160];
	phys_addr_t base;
	u64 size;
	struct resource *res;
	struct dev_pagemap pgmap;
	void *virt;
	unsigned long data_pfn;
	struct kram_fmt fmt;
	struct kram_area *areas[KRAM_MAX_AREAS];
	u64 attach_ns;
	u64 memmap_ns;
	dev_t devt;
	struct cdev cdev;
	struct dentry *debugfs;
	bool pin_hold;			/* module ref held: pages held */
	unsigned long pin_slots;	/* areas held with no handle open */
	/* (one bit per area slot) */
	struct delayed_work pin_work;	/* polls while pin_hold */
	rwlock_t pool_rw_lock;		/* pool pread/pwrite vs free */
	struct vfsmount *mnt;		/* kram_fs: the areas' inodes */
	atomic64_t map_pte;		/* area mapping faults served with 4 KiB */
	atomic64_t map_pmd;		/* ... with 2 MiB (one PMD) */
} kram = {
	.lock = __MUTEX_INITIALIZER(kram.lock),
	.pool_rw_lock = __RW_LOCK_UNLOCKED(kram.pool_rw_lock),
};

static_assert(KRAM_MAX_AREAS <= BITS_PER_LONG);	/* kram.pin_slots */

static struct class kram_area_class = {
	.name = "kram_area",
};

/* ------------------------------------------------------------ kernel API */

static struct page *kram_idx_page(u64 idx)
{
	return pfn_to_page(kram.data_pfn + idx);
}

static int kram_page_idx(struct page *page, u64 *idx)
{
	unsigned long pfn = page_to_pfn(page);

	if (!READ_ONCE(kram.attached) || pfn < kram.data_pfn ||
	    pfn - kram.data_pfn >= kram.fmt.g.nr_data_pages)
		return -EINVAL;
	*idx = pfn - kram.data_pfn;
	return 0;
}

/**
 * kram_attached() - is a region attached?
 *
 * Return: true when the kram API can hand out pages.
 */
bool kram_attached(void)
{
	return READ_ONCE(kram.attached);
}
EXPORT_SYMBOL_GPL(kram_attached);

/**
 * kram_alloc_page() - allocate a persistent page owned by @tag
 * @tag:	owner tag, non-zero; kernel owners use tags below KRAM_TAG_USER
 *
 * The page keeps its physical address, contents and tag across kexec until
 * kram_free_page(). It is not zeroed. Does not sleep.
 *
 * Return: the page, or NULL (no region, tag 0, pool full).
 */
struct page *kram_alloc_page(u32 tag)
{
	u64 idx = 0;
	int ret = -ENODEV;

	if (READ_ONCE(kram.attached))
		ret = kram_fmt_pool_alloc(&kram.fmt, tag, &idx);
	trace_kram_alloc(idx, tag, ret);
	if (ret)
		return NULL;
	return kram_idx_page(idx);
}
EXPORT_SYMBOL_GPL(kram_alloc_page);

/*
 * Every free of a pool page: excludes the pread/pwrite copy of that page
 * (kram_pool_rw()), so a page userspace may read is never freed and
 * handed to another owner in the middle of the copy.
 */
static int kram_pool_free(u64 idx, u32 tag)
{
	unsigned long flags;
	int ret;

	/*
	 * A kernel owner freeing with its own tag frees only a page of that
	 * tag (else -EPERM, nothing changed), a page userspace never copies
	 * (the copy checks the tag under the lock): no need to wait.
	 */
	if (tag && tag < KRAM_TAG_USER) {
		ret = kram_fmt_pool_free(&kram.fmt, idx, tag);
	} else {
		write_lock_irqsave(&kram.pool_rw_lock, flags);
		ret = kram_fmt_pool_free(&kram.fmt, idx, tag);
		write_unlock_irqrestore(&kram.pool_rw_lock, flags);
	}
	trace_kram_free(idx, tag, ret);
	return ret;
}

/**
 * kram_free_page() - free a page from kram_alloc_page()
 * @page:	the page
 * @tag:	the tag it was allocated with, or 0 to accept any
 *
 * Does not sleep.
 * Return: 0, -EINVAL (not a kram pool page), -ENOENT (not allocated:
 * double free), -EPERM (other tag), -EUCLEAN (its tag word is corrupt).
 */
int kram_free_page(struct page *page, u32 tag)
{
	u64 idx;
	int ret;

	ret = kram_page_idx(page, &idx);
	if (!ret)
		ret = kram_pool_free(idx, tag);
	if (ret)
		pr_err_ratelimited("free of page %#llx (pfn %#lx, tag %#x) refused: %d\n",
				   (u64)PFN_PHYS(page_to_pfn(page)),
				   page_to_pfn(page), tag, ret);
	return ret;
}
EXPORT_SYMBOL_GPL(kram_free_page);

/**
 * kram_page_tag() - owner tag of an allocated pool page
 * @page:	the page
 * @tag:	out: its tag
 *
 * Return: 0, or as kram_free_page().
 */
int kram_page_tag(struct page *page, u32 *tag)
{
	u64 idx;
	int ret = kram_page_idx(page, &idx);

	return ret ? ret : kram_fmt_pool_check(&kram.fmt, idx, tag);
}
EXPORT_SYMBOL_GPL(kram_page_tag);

/**
 * kram_walk_pages() - call @fn on every pool page of @tag
 * @tag:	owner tag
 * @fn:		callback; may free the page it is given; non-zero stops
 * @data:	passed to @fn
 *
 * The way an owner finds its pages after a kexec. Cost: one pass over the
 * allocation bitmap plus one check per allocated page.
 *
 * Return: 0, -ENODEV, or the first non-zero value @fn returned.
 */
int kram_walk_pages(u32 tag, kram_page_fn_t fn, void *data)
{
	u64 i;
	int ret;

	if (!READ_ONCE(kram.attached))
		return -ENODEV;
	for (i = kram_fmt_pool_next(&kram.fmt, tag, 0); i != U64_MAX;
	     i = kram_fmt_pool_next(&kram.fmt, tag, i + 1)) {
		ret = fn(kram_idx_page(i), data);
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}
EXPORT_SYMBOL_GPL(kram_walk_pages);

/**
 * kram_get_usage() - the region's counters
 * @usage:	out
 *
 * Return: 0 or -ENODEV.
 */
int kram_get_usage(struct kram_usage *usage)
{
	struct kram_fmt *f = &kram.fmt;

	if (!READ_ONCE(kram.attached))
		return -ENODEV;
	usage->generation = f->generation;
	usage->boot_count = f->boot_count;
	usage->data_pages = f->g.nr_data_pages;
	usage->free_pages = kram_fmt_free_pages(f);
	usage->dynamic_pages = percpu_counter_sum_positive(&f->nr_dynamic);
	usage->area_pages = f->area_pages;
	usage->nr_areas = f->nr_areas;
	memcpy(usage->uuid, f->sb->uuid, sizeof(usage->uuid));
	return 0;
}
EXPORT_SYMBOL_GPL(kram_get_usage);

/* Device node of a live area; caller holds kram.lock. */
static int kram_area_add_dev(int slot)
{
	struct kram_area *a;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	a->slot = slot;
	/* Kernel-owned areas have no device node: no userspace access. */
	if (!(kram.fmt.areas[slot].flags & KRAM_AREA_USER)) {
		kram.areas[slot] = a;
		return 0;
	}
	/* "!" becomes "/": the node is /dev/kram_areas/<name>. */
	a->dev = device_create(&kram_area_class, NULL,
			       MKDEV(MAJOR(kram.devt), slot), NULL,
			       "kram_areas!%s", kram.fmt.areas[slot].name);
	if (IS_ERR(a->dev)) {
		int ret = PTR_ERR(a->dev);

		kfree(a);
		return ret;
	}
	kram.areas[slot] = a;
	return 0;
}

static void kram_area_del_dev(int slot)
{
	struct kram_area *a = kram.areas[slot];

	if (!a)
		return;
	if (a->dev)
		device_destroy(&kram_area_class, MKDEV(MAJOR(kram.devt), slot));
	/* No file is open (users 0): no mapping refers to the inode. */
	iput(a->inode);
	kram.areas[slot] = NULL;
	kfree(a);
}

/*
 * Pages of live area @slot that someone holds besides kram: a pin (GUP,
 * e.g. VFIO DMA, vmsplice). A mapping holds no page reference (devmap
 * entries, kram_area_map()), but its file keeps the area open. kram's own
 * reference is the page's initial one (ZONE_DEVICE pages start at
 * refcount 1). With @count all of them, else 1 at the first. Caller holds
 * kram.lock.
 */
static u64 kram_area_held(int slot, bool count)
{
	struct kram_area_view *v = &kram.fmt.areas[slot];
	u64 i, n = 0;

	for (i = 0; i < v->nr_pages; i++) {
		if (page_ref_count(kram_idx_page(v->first_page + i)) != 1) {
			n++;
			if (!count)
				break;
		}
		if (!(i & 4095))
			cond_resched();
	}
	return n;
}

/*
 * Once the last file of an area is closed its pages may still be pinned
 * (a DMA mapping can outlive the mmap that created it). memunmap_pages()
 * does not wait for such pins: unloading kram then would free the struct
 * pages under them. While any area's pages are held with no file open,
 * kram holds a reference on itself (modprobe -r: "in use") and checks
 * the held areas again every second. @slot: the area whose last handle
 * just went, or -1 (the poll). Caller holds kram.lock.
 */
static void kram_pin_check(int slot)
{
	int s;

	if (slot >= 0 && kram.attached &&
	    kram.fmt.areas[slot].state == KRAM_AREA_LIVE &&
	    kram_area_held(slot, false) && !test_and_set_bit(slot, &kram.pin_slots))
		pr_warn("area '%s': %llu pages still mapped or pinned (a DMA mapping?): kram stays loaded until they are released\n",
			kram.fmt.areas[slot].name, kram_area_held(slot, true));
	for_each_set_bit(s, &kram.pin_slots, KRAM_MAX_AREAS)
		if (!kram.attached || kram.fmt.areas[s].state != KRAM_AREA_LIVE ||
		    !kram_area_held(s, false))
			clear_bit(s, &kram.pin_slots);
	if (kram.pin_slots && !kram.pin_hold) {
		__module_get(THIS_MODULE);
		kram.pin_hold = true;
	} else if (!kram.pin_slots && kram.pin_hold) {
		kram.pin_hold = false;
		pr_info("no area page is mapped or pinned any more: kram may be unloaded\n");
		/* kram_exit() waits for this work item to return. */
		module_put(THIS_MODULE);
	}
	if (kram.pin_hold)
		schedule_delayed_work(&kram.pin_work, HZ);
}

static void kram_pin_work(struct work_struct *work)
{
	mutex_lock(&kram.lock);
	kram_pin_check(-1);
	mutex_unlock(&kram.lock);
}

static int kram_area_create_locked(const char *name, const char *version,
				   u64 nr_pages, u32 flags)
{
	int slot, ret;

	lockdep_assert_held(&kram.lock);
	if (!kram.attached)
		return -ENODEV;
	mutex_lock(&kram.fmt.area_lock);
	slot = kram_fmt_area_create(&kram.fmt, name, version, nr_pages,
				    flags & KRAM_AREA_NOZERO ?
				    flags & ~KRAM_AREA_NOZERO :
				    flags | KRAM_FMT_AREA_ZERO);
	mutex_unlock(&kram.fmt.area_lock);
	trace_kram_area_create(name, slot < 0 ? 0 : kram.fmt.areas[slot].first_page,
			       nr_pages, flags, slot < 0 ? slot : 0);
	if (slot < 0)
		return slot;
	ret = kram_area_add_dev(slot);
	if (ret)
		pr_err("area '%s' created but its device node failed: %d\n",
		       name, ret);
	pr_info("area '%s' created: %llu pages at %#llx (version '%s')\n",
		name, nr_pages,
		(u64)PFN_PHYS(kram.data_pfn + kram.fmt.areas[slot].first_page),
		version);
	return slot;
}

static int kram_area_delete_locked(const char *name, bool user)
{
	int slot, ret;
	u64 held;

	lockdep_assert_held(&kram.lock);
	if (!kram.attached)
		return -ENODEV;
	mutex_lock(&kram.fmt.area_lock);
	slot = kram_fmt_area_find(&kram.fmt, name);
	if (slot < 0) {
		ret = slot;
	} else if (user != !!(kram.fmt.areas[slot].flags & KRAM_AREA_USER)) {
		ret = -EPERM;	/* the other side's area */
	} else if (kram.areas[slot] && kram.areas[slot]->users) {
		ret = -EBUSY;
	} else {
		held = kram_area_held(slot, true);
		if (held) {
			pr_warn("area '%s' not deleted: %llu pages still mapped or pinned (VFIO DMA?)\n",
				name, held);
			ret = -EBUSY;
		} else {
			ret = kram_fmt_area_delete(&kram.fmt, slot);
		}
	}
	mutex_unlock(&kram.fmt.area_lock);
	trace_kram_area_delete(name, user, ret);
	if (ret)
		return ret;
	kram_area_del_dev(slot);
	pr_info("area '%s' deleted\n", name);
	return 0;
}

/**
 * kram_area_create() - create a named persistent area and open it
 * @name:	1-31 characters of [A-Za-z0-9._-], not "." or ".."
 * @version:	the owner's format version string (printable, < 32 bytes);
 *		kram stores it, the owner checks it after kexec
 * @nr_pages:	pages, physically contiguous
 * @flags:	KRAM_AREA_OWNER_FLAGS bits stored for the owner, 0 if
 *		unused; KRAM_AREA_NOZERO (not stored): the caller overwrites
 *		every byte, skip zeroing
 *
 * The area is kernel-owned: it has no /dev/kram_areas node and userspace
 * can neither read, write, map nor delete it.
 *
 * The pages are zero-filled before the area exists (unless
 * KRAM_AREA_NOZERO): a new area never shows a former owner's bytes.
 *
 * Return: a handle (kram_area_put() when done), or ERR_PTR(-EINVAL,
 * -EEXIST, -ENOSPC, -ENODEV, -ENOMEM).
 */
struct kram_area *kram_area_create(const char *name, const char *version,
				   u64 nr_pages, u32 flags)
{
	struct kram_area *a;
	int slot;

	if (flags & ~(KRAM_AREA_OWNER_FLAGS | KRAM_AREA_NOZERO))
		return ERR_PTR(-EINVAL);
	mutex_lock(&kram.lock);
	slot = kram_area_create_locked(name, version, nr_pages, flags);
	if (slot < 0) {
		a = ERR_PTR(slot);
	} else if (!kram.areas[slot]) {
		a = ERR_PTR(-ENOMEM);
	} else {
		a = kram.areas[slot];
		a->users++;
	}
	mutex_unlock(&kram.lock);
	return a;
}
EXPORT_SYMBOL_GPL(kram_area_create);

/**
 * kram_area_open() - open an existing area (e.g. after kexec)
 * @name:	its name
 *
 * Return: a handle, or ERR_PTR(-ENOENT) / ERR_PTR(-ENODEV), or
 * ERR_PTR(-EPERM) for an area userspace created (its bytes are
 * userspace's to write: a kernel owner would read forged state).
 */
struct kram_area *kram_area_open(const char *name)
{
	struct kram_area *a;
	int slot;

	mutex_lock(&kram.lock);
	if (!kram.attached) {
		a = ERR_PTR(-ENODEV);
		goto out;
	}
	slot = kram_fmt_area_find(&kram.fmt, name);
	if (slot < 0 || !kram.areas[slot]) {
		a = ERR_PTR(-ENOENT);
		goto out;
	}
	/* A user area's bytes are userspace's to write: never a kernel's. */
	if (kram.fmt.areas[slot].flags & KRAM_AREA_USER) {
		pr_err("area '%s' belongs to userspace: a kernel owner may not open it\n",
		       name);
		a = ERR_PTR(-EPERM);
		goto out;
	}
	a = kram.areas[slot];
	a->users++;
out:
	mutex_unlock(&kram.lock);
	return a;
}
EXPORT_SYMBOL_GPL(kram_area_open);

/**
 * kram_area_put() - drop a handle from kram_area_create/open()
 * @area:	the handle (NULL or an ERR_PTR is ignored)
 */
void kram_area_put(struct kram_area *area)
{
	if (IS_ERR_OR_NULL(area))
		return;
	mutex_lock(&kram.lock);
	if (!WARN_ON_ONCE(!area->users))
		area->users--;
	if (!area->users)
		kram_pin_check(area->slot);
	mutex_unlock(&kram.lock);
}
EXPORT_SYMBOL_GPL(kram_area_put);

/**
 * kram_area_delete() - delete an area and return its pages to the pool
 * @name:	its name
 *
 * Return: 0, -ENOENT, -EBUSY (a handle or an open file exists, or a page
 * is still mapped or pinned), -ENODEV.
 */
int kram_area_delete(const char *name)
{
	int ret;

	mutex_lock(&kram.lock);
	ret = kram_area_delete_locked(name, false);
	mutex_unlock(&kram.lock);
	return ret;
}
EXPORT_SYMBOL_GPL(kram_area_delete);

u64 kram_area_nr_pages(const struct kram_area *area)
{
	return kram.fmt.areas[area->slot].nr_pages;
}
EXPORT_SYMBOL_GPL(kram_area_nr_pages);

const char *kram_area_version(const struct kram_area *area)
{
	return kram.fmt.areas[area->slot].version;
}
EXPORT_SYMBOL_GPL(kram_area_version);

u64 kram_area_created_generation(const struct kram_area *area)
{
	return kram.fmt.areas[area->slot].created_gen;
}
EXPORT_SYMBOL_GPL(kram_area_created_generation);

/**
 * kram_get_fixed_page() - page @index of @area
 * @area:	an open area
 * @index:	0 .. kram_area_nr_pages() - 1
 *
 * The same physical page, with the same contents, in every boot. Does not
 * sleep.
 * Return: the page, or NULL if @index is out of range.
 */
struct page *kram_get_fixed_page(struct kram_area *area, u64 index)
{
	struct kram_area_view *v = &kram.fmt.areas[area->slot];

	if (index >= v->nr_pages)
		return NULL;
	return kram_idx_page(v->first_page + index);
}
EXPORT_SYMBOL_GPL(kram_get_fixed_page);

/* ---------------------------------------------------------- area devices */

/*
 * An area's mappings belong to an inode of kram's own pseudo filesystem,
 * flagged S_DAX as device-dax's are: 6.1's mm calls ->huge_fault only for
 * anonymous and DAX mappings (hugepage_vma_check()), and treats a DAX
 * mapping's PMDs as special (zap_huge_pmd(), __split_huge_pmd()), never as
 * a THP. One inode per area, shared by all its files. Without CONFIG_FS_DAX
 * S_DAX is 0 and every fault maps 4 KiB. Caller holds kram.lock.
 */
static int kram_area_inode(struct kram_area *a)
{
	struct inode *inode;

	if (a->inode)
		return 0;
	inode = alloc_anon_inode(kram.mnt->mnt_sb);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	inode->i_flags |= S_DAX;
	i_size_write(inode, kram.fmt.areas[a->slot].nr_pages << PAGE_SHIFT);
	a->inode = inode;
	return 0;
}

static int kram_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, KRAM_FS_MAGIC) ? 0 : -ENOMEM;
}

/* No .owner: the mount lives from init to exit and must not pin kram. */
static struct file_system_type kram_fs_type = {
	.name		= "kram",
	.init_fs_context = kram_fs_init_fs_context,
	.kill_sb	= kill_anon_super,
};

static int kram_area_fop_open(struct inode *inode, struct file *file)
{
	unsigned int slot = iminor(inode);
	int ret = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&kram.lock);
	if (slot >= KRAM_MAX_AREAS || !kram.areas[slot]) {
		ret = -ENXIO;
	} else if (!(kram.fmt.areas[slot].flags & KRAM_AREA_USER)) {
		/* A kernel-owned area has no node; a mknod'ed one gets nothing. */
		ret = -EPERM;
	} else {
		ret = kram_area_inode(kram.areas[slot]);
	}
	if (!ret) {
		kram.areas[slot]->users++;
		file->private_data = kram.areas[slot];
		/* What mm sees of this file's mappings (device-dax does the same). */
		file->f_mapping = kram.areas[slot]->inode->i_mapping;
	}
	mutex_unlock(&kram.lock);
	return ret;
}

static int kram_area_fop_release(struct inode *inode, struct file *file)
{
	kram_area_put(file->private_data);
	return 0;
}

static u64 kram_area_bytes(struct file *file)
{
	return kram_area_nr_pages(file->private_data) * PAGE_SIZE;
}

static loff_t kram_area_fop_llseek(struct file *file, loff_t off, int whence)
{
	return fixed_size_llseek(file, off, whence, kram_area_bytes(file));
}

/* Copy between user memory and pages first+[pos, pos+len) of the data. */
static ssize_t kram_copy(u64 first, u64 limit, char __user *ubuf,
			 size_t len, loff_t *ppos, bool to_user)
{
	u64 pos = *ppos;
	size_t done = 0;

	if (pos >= limit)
		return 0;
	len = min_t(u64, len, limit - pos);
	while (done < len) {
		size_t off = pos & ~PAGE_MASK;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - off);
		void *p = page_address(kram_idx_page(first + (pos >> PAGE_SHIFT))) + off;
		unsigned long left;

		left = to_user ? copy_to_user(ubuf + done, p, n) :
				 copy_from_user(p, ubuf + done, n);
		done += n - left;
		pos += n - left;
		if (left)
			break;
		cond_resched();
	}
	*ppos = pos;
	return done ? done : -EFAULT;
}

static ssize_t kram_area_fop_read(struct file *file, char __user *buf,
				  size_t len, loff_t *ppos)
{
	struct kram_area *a = file->private_data;

	if (*ppos < 0)
		return -EINVAL;
	return kram_copy(kram.fmt.areas[a->slot].first_page,
			 kram_area_bytes(file), buf, len, ppos, true);
}

static ssize_t kram_area_fop_write(struct file *file, const char __user *buf,
				   size_t len, loff_t *ppos)
{
	struct kram_area *a = file->private_data;

	if (*ppos < 0)
		return -EINVAL;
	if (security_locked_down(LOCKDOWN_DEV_MEM))
		return -EPERM;
	if (*ppos >= kram_area_bytes(file) && len)
		return -ENOSPC;
	return kram_copy(kram.fmt.areas[a->slot].first_page,
			 kram_area_bytes(file), (char __user *)buf, len, ppos,
			 false);
}

/*
 * Map the area's pages at fault time as device-dax does: a devmap PTE, or a
 * devmap PMD where 2 MiB of the mapping are 2 MiB of contiguous, aligned
 * physical pages (an area of 2 MiB or more starts on a 2 MiB boundary when
 * one was free). GUP (KVM, VFIO pins) takes its references through the
 * region's dev_pagemap; the mapping itself holds none. KVM maps a guest's
 * RAM with 2 MiB pages where the host maps 2 MiB (host_pfn_mapping_level()).
 * Page @pgoff of the area backs the fault; outside the area: SIGBUS.
 */
static vm_fault_t kram_insert_pmd(struct vm_fault *vmf, pfn_t p)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	return vmf_insert_pfn_pmd(vmf, p, vmf->flags & FAULT_FLAG_WRITE);
#else
	return VM_FAULT_FALLBACK;
#endif
}

static vm_fault_t kram_area_map(struct vm_fault *vmf, bool huge)
{
	struct vm_area_struct *vma = vmf->vma;
	struct kram_area *a = vma->vm_file->private_data;
	/* first_page and nr_pages do not change while a file is open. */
	struct kram_area_view *v = &kram.fmt.areas[a->slot];
	unsigned long addr = vmf->address & (huge ? PMD_MASK : PAGE_MASK);
	u64 pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	u64 n = huge ? PTRS_PER_PMD : 1;
	unsigned long pfn;
	vm_fault_t ret;
	pfn_t p;

	if (huge && (addr < vma->vm_start || addr + PMD_SIZE > vma->vm_end))
		return VM_FAULT_FALLBACK;
	if (pgoff >= v->nr_pages || n > v->nr_pages - pgoff)
		return huge ? VM_FAULT_FALLBACK : VM_FAULT_SIGBUS;
	pfn = kram.data_pfn + v->first_page + pgoff;
	p = __pfn_to_pfn_t(pfn, PFN_DEV | PFN_MAP);
	if (huge) {
		if (!IS_ALIGNED(pfn, PTRS_PER_PMD))
			return VM_FAULT_FALLBACK;
		ret = kram_insert_pmd(vmf, p);
	} else {
		ret = vmf_insert_mixed(vma, vmf->address, p);
	}
	/* Also counts a fault that found the entry there already. */
	if (ret == VM_FAULT_NOPAGE)
		atomic64_inc(huge ? &kram.map_pmd : &kram.map_pte);
	return ret;
}

static vm_fault_t kram_area_fault(struct vm_fault *vmf)
{
	return kram_area_map(vmf, false);
}

static vm_fault_t kram_area_huge_fault(struct vm_fault *vmf,
				       hvkit_huge_fault_size_t size)
{
	if (!IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ||
	    size != HVKIT_HUGE_FAULT_PMD)
		return VM_FAULT_FALLBACK;
	return kram_area_map(vmf, true);
}

static const struct vm_operations_struct kram_area_vm_ops = {
	.fault		= kram_area_fault,
	.huge_fault	= kram_area_huge_fault,
};

static int kram_area_fop_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kram_area *a = file->private_data;
	u64 npages = kram_area_nr_pages(a), pgoff = vma->vm_pgoff;
	u64 len = vma_pages(vma);

	/* MAP_SHARED only (read-only shared maps have VM_MAYSHARE alone). */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (pgoff >= npages || len > npages - pgoff)
		return -EINVAL;
	/* Under lockdown: read-only maps only, never made writable later. */
	if (security_locked_down(LOCKDOWN_DEV_MEM)) {
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	/*
	 * pmd= is read once per mapping: two faults of one vma must never
	 * choose differently for the same 2 MiB (a PTE table and a PMD).
	 * hugepage_vma_check() then keeps ->huge_fault away.
	 */
	vm_flags_set(vma, VM_DONTEXPAND | (READ_ONCE(pmd) ? 0 : VM_NOHUGEPAGE));
	vma->vm_ops = &kram_area_vm_ops;
	return 0;
}

static const struct file_operations kram_area_fops = {
	.owner		= THIS_MODULE,
	.open		= kram_area_fop_open,
	.release	= kram_area_fop_release,
	.llseek		= kram_area_fop_llseek,
	.read		= kram_area_fop_read,
	.write		= kram_area_fop_write,
	.mmap		= kram_area_fop_mmap,
	/* mmap(NULL): an address in line with the offset for PMDs (THP only). */
	.get_unmapped_area = thp_get_unmapped_area,
};

/* ------------------------------------------------------------- /dev/kram */

static long kram_ioc_status(void __user *uarg)
{
	struct kram_fmt *f = &kram.fmt;
	struct kram_status st;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&st, sizeof(st),
				       offsetofend(struct kram_status, uuid),
				       uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(st.flags, 0) || st.__pad0)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	st.size = usize;
	mutex_lock(&kram.lock);
	st.state = kram.state;
	st.last_error = kram.last_error;
	st.region_base = kram.base;
	st.region_size = kram.size;
	if (kram.attached) {
		st.generation = f->generation;
		st.boot_count = f->boot_count;
		st.nr_pages = f->g.nr_pages;
		st.data_pages = f->g.nr_data_pages;
		st.meta_pages = f->g.nr_pages - f->g.nr_data_pages;
		st.free_pages = kram_fmt_free_pages(f);
		st.dynamic_pages = percpu_counter_sum_positive(&f->nr_dynamic);
		st.area_pages = f->area_pages;
		st.nr_areas = f->nr_areas;
		st.max_areas = f->g.max_areas;
		st.format_version = KRAM_FORMAT_VERSION;
		memcpy(st.uuid, f->sb->uuid, sizeof(st.uuid));
	}
	st.attach_ns = kram.attach_ns;
	st.memmap_ns = kram.memmap_ns;
	mutex_unlock(&kram.lock);
	return hvkit_copy_arg_to_user(uarg, &st, sizeof(st), usize);
}

static long kram_ioc_area_create(void __user *uarg)
{
	struct kram_area_create c;
	u32 usize;
	int ret, slot;

	ret = hvkit_copy_arg_from_user(&c, sizeof(c),
				       offsetofend(struct kram_area_create, first_page),
				       uarg, &usize);
	if (ret)
		return ret;
	/* Userspace areas are always zeroed: there is no opt-out here. */
	if (hvkit_flags_valid(c.flags, 0) || !c.nr_pages ||
	    kram_name_valid(c.name) || kram_version_valid(c.version))
		return -EINVAL;
	mutex_lock(&kram.lock);
	slot = kram_area_create_locked(c.name, c.version, c.nr_pages,
				       KRAM_AREA_USER);
	if (slot >= 0)
		c.first_page = kram.fmt.areas[slot].first_page;
	mutex_unlock(&kram.lock);
	if (slot < 0)
		return slot;
	return hvkit_copy_arg_to_user(uarg, &c, sizeof(c), usize);
}

static long kram_ioc_area_delete(void __user *uarg)
{
	struct kram_area_delete d;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&d, sizeof(d),
				       offsetofend(struct kram_area_delete, name),
				       uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(d.flags, 0) || kram_name_valid(d.name))
		return -EINVAL;
	mutex_lock(&kram.lock);
	ret = kram_area_delete_locked(d.name, true);
	mutex_unlock(&kram.lock);
	return ret;
}

static long kram_ioc_area_list(void __user *uarg)
{
	struct kram_area_info *info = NULL;
	struct kram_area_list l;
	u32 usize, n = 0, want;
	int ret = 0, slot;

	ret = hvkit_copy_arg_from_user(&l, sizeof(l),
				       offsetofend(struct kram_area_list, areas),
				       uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(l.flags, 0))
		return -EINVAL;
	/*
	 * Collected under kram.lock, copied out after it: a copy_to_user()
	 * may fault and take mmap_lock, which must never nest inside it.
	 */
	want = min_t(u32, l.count, KRAM_MAX_AREAS);
	if (want) {
		info = kcalloc(want, sizeof(*info), GFP_KERNEL);
		if (!info)
			return -ENOMEM;
	}
	l.total = 0;
	mutex_lock(&kram.lock);
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++) {
		struct kram_area_view *v = &kram.fmt.areas[slot];

		if (v->state != KRAM_AREA_LIVE)
			continue;
		l.total++;
		if (n >= want)
			continue;
		memcpy(info[n].name, v->name, sizeof(info[n].name));
		memcpy(info[n].version, v->version, sizeof(info[n].version));
		info[n].first_page = v->first_page;
		info[n].nr_pages = v->nr_pages;
		info[n].created_generation = v->created_gen;
		info[n].flags = v->flags;
		info[n].users = kram.areas[slot] ? kram.areas[slot]->users : 0;
		n++;
	}
	mutex_unlock(&kram.lock);
	if (n && copy_to_user(u64_to_user_ptr(l.areas), info, n * sizeof(*info)))
		ret = -EFAULT;
	kfree(info);
	if (ret)
		return ret;
	l.count = n;
	return hvkit_copy_arg_to_user(uarg, &l, sizeof(l), usize);
}

static int kram_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static long kram_ioc_pages(unsigned int cmd, void __user *uarg)
{
	u32 known = cmd == KRAM_IOC_ALLOC ? KRAM_ALLOC_ZERO : 0;
	struct kram_fmt *f = &kram.fmt;
	struct kram_pages p;
	u64 *idx, i, n = 0;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&p, sizeof(p),
				       offsetofend(struct kram_pages, cursor),
				       uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(p.flags, known) || !p.count ||
	    p.count > KRAM_MAX_BATCH || !p.tag)
		return -EINVAL;
	if (cmd != KRAM_IOC_WALK && (p.tag < KRAM_TAG_USER || p.cursor))
		return -EINVAL;
	idx = kcalloc(p.count, sizeof(*idx), GFP_KERNEL);
	if (!idx)
		return -ENOMEM;

	switch (cmd) {
	case KRAM_IOC_ALLOC:
		for (n = 0; n < p.count; n++) {
			/*
			 * Always zeroed, before the page is committed: it may
			 * have been a kernel owner's (KRAM_ALLOC_ZERO is
			 * accepted and implied).
			 */
			ret = kram_fmt_pool_alloc_flags(f, p.tag, &idx[n], true);
			trace_kram_alloc(ret ? 0 : idx[n], p.tag, ret);
			if (ret)
				break;
		}
		if (!ret && copy_to_user(u64_to_user_ptr(p.pages), idx,
					 n * sizeof(*idx)))
			ret = -EFAULT;
		if (ret)	/* all or nothing */
			while (n--)
				kram_pool_free(idx[n], p.tag);
		break;
	case KRAM_IOC_FREE:
		if (copy_from_user(idx, u64_to_user_ptr(p.pages),
				   p.count * sizeof(*idx))) {
			ret = -EFAULT;
			break;
		}
		/* Check every page first: a bad batch frees nothing. */
		sort(idx, p.count, sizeof(*idx), kram_cmp_u64, NULL);
		for (i = 0; i < p.count && !ret; i++) {
			u32 tag;

			if (i && idx[i] == idx[i - 1])
				ret = -EINVAL;
			else
				ret = kram_fmt_pool_check(f, idx[i], &tag);
			if (!ret && tag != p.tag)
				ret = -EPERM;
		}
		for (i = 0; i < p.count && !ret; i++)
			ret = kram_pool_free(idx[i], p.tag);
		break;
	case KRAM_IOC_WALK:
		i = p.cursor;
		while (n < p.count) {
			i = kram_fmt_pool_next(f, p.tag, i);
			if (i == U64_MAX)
				break;
			idx[n++] = i++;
		}
		p.cursor = i;
		p.count = n;
		if (n && copy_to_user(u64_to_user_ptr(p.pages), idx,
				      n * sizeof(*idx)))
			ret = -EFAULT;
		if (!ret)
			ret = hvkit_copy_arg_to_user(uarg, &p, sizeof(p), usize);
		break;
	}
	kfree(idx);
	return ret;
}

static long kram_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case HVKIT_IOC_GET_INFO:
		return hvkit_ioctl_get_info(uarg, KBUILD_MODNAME, 0);
	case KRAM_IOC_STATUS:
		return kram_ioc_status(uarg);
	case KRAM_IOC_AREA_CREATE:
	case KRAM_IOC_AREA_DELETE:
	case KRAM_IOC_AREA_LIST:
	case KRAM_IOC_ALLOC:
	case KRAM_IOC_FREE:
	case KRAM_IOC_WALK:
		break;
	default:
		return -ENOTTY;
	}
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!READ_ONCE(kram.attached))
		return -ENODEV;
	switch (cmd) {
	case KRAM_IOC_AREA_CREATE:
		return kram_ioc_area_create(uarg);
	case KRAM_IOC_AREA_DELETE:
		return kram_ioc_area_delete(uarg);
	case KRAM_IOC_AREA_LIST:
		return kram_ioc_area_list(uarg);
	default:
		return kram_ioc_pages(cmd, uarg);
	}
}

/*
 * pread/pwrite of pool page N at offset N * 4096: only pages of user tags
 * (>= KRAM_TAG_USER), only while allocated; kernel owners' pages are
 * never reachable. Every page is checked first (a bad range copies
 * nothing); then each page's check and copy run again under pool_rw_lock,
 * which every free takes for writing, through a bounce page (the user
 * copy may fault and sleep): a page freed and reused by another owner in
 * between is never copied.
 */
static ssize_t kram_pool_rw(char __user *buf, size_t len, loff_t *ppos,
			    bool to_user)
{
	u64 pos = *ppos, limit, i;
	unsigned long flags;
	size_t done = 0;
	void *bounce;
	int ret = 0;
	u32 tag;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	/* Under lockdown nothing writes persistent memory from userspace. */
	if (!to_user && security_locked_down(LOCKDOWN_DEV_MEM))
		return -EPERM;
	if (!READ_ONCE(kram.attached))
		return -ENODEV;
	if (*ppos < 0)
		return -EINVAL;
	if (!len)
		return 0;
	limit = kram.fmt.g.nr_data_pages * PAGE_SIZE;
	if (pos >= limit)
		return -ENXIO;
	len = min_t(u64, len, limit - pos);
	for (i = pos >> PAGE_SHIFT; i <= (pos + len - 1) >> PAGE_SHIFT; i++) {
		ret = kram_fmt_pool_check(&kram.fmt, i, &tag);
		if (ret)
			return ret == -ENOENT ? -EINVAL : ret;
		if (tag < KRAM_TAG_USER)
			return -EPERM;
	}
	bounce = (void *)__get_free_page(GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	while (done < len) {
		u64 idx = pos >> PAGE_SHIFT;
		size_t off = pos & ~PAGE_MASK;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - off);
		void *p = page_address(kram_idx_page(idx)) + off;

		if (!to_user && copy_from_user(bounce, buf + done, n)) {
			ret = -EFAULT;
			break;
		}
		read_lock_irqsave(&kram.pool_rw_lock, flags);
		ret = kram_fmt_pool_check(&kram.fmt, idx, &tag);
		if (!ret && tag < KRAM_TAG_USER)
			ret = -EPERM;
		/* The page's bytes are read after its tag (pairs with the alloc). */
		smp_rmb();
		if (!ret && to_user)
			memcpy(bounce, p, n);
		else if (!ret)
			memcpy(p, bounce, n);
		read_unlock_irqrestore(&kram.pool_rw_lock, flags);
		if (ret) {
			if (ret == -ENOENT)
				ret = -EINVAL;
			break;
		}
		if (to_user && copy_to_user(buf + done, bounce, n)) {
			ret = -EFAULT;
			break;
		}
		done += n;
		pos += n;
		cond_resched();
	}
	free_page((unsigned long)bounce);
	*ppos = pos;
	return done ? done : ret;
}

static ssize_t kram_read(struct file *file, char __user *buf, size_t len,
			 loff_t *ppos)
{
	return kram_pool_rw(buf, len, ppos, true);
}

static ssize_t kram_write(struct file *file, const char __user *buf,
			  size_t len, loff_t *ppos)
{
	return kram_pool_rw((char __user *)buf, len, ppos, false);
}

static loff_t kram_llseek(struct file *file, loff_t off, int whence)
{
	u64 size = READ_ONCE(kram.attached) ?
		   kram.fmt.g.nr_data_pages * PAGE_SIZE : 0;

	return fixed_size_llseek(file, off, whence, size);
}

static const struct file_operations kram_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kram_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= kram_llseek,
	.read		= kram_read,
	.write		= kram_write,
};

/* ------------------------------------------------------------------ sysfs */

static const char *const kram_state_names[] = {
	[KRAM_STATE_DETACHED] = "detached",
	[KRAM_STATE_ATTACHED] = "attached",
	[KRAM_STATE_REFUSED] = "refused",
};

static ssize_t state_show(struct device *d, struct device_attribute *a,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n", kram_state_names[READ_ONCE(kram.state)]);
}
static DEVICE_ATTR_RO(state);

static ssize_t last_attach_show(struct device *d, struct device_attribute *a,
				char *buf)
{
	ssize_t n;

	mutex_lock(&kram.lock);
	n = sysfs_emit(buf, "%d %s\n", kram.last_error, kram.why);
	mutex_unlock(&kram.lock);
	return n;
}
static DEVICE_ATTR_RO(last_attach);

static ssize_t region_show(struct device *d, struct device_attribute *a,
			   char *buf)
{
	return sysfs_emit(buf, "%#llx %#llx\n", (u64)kram.base, kram.size);
}
static DEVICE_ATTR_RO(region);

#define KRAM_ATTR_U64(name, expr)					\
static ssize_t name##_show(struct device *d, struct device_attribute *a, \
			   char *buf)					\
{									\
	if (!READ_ONCE(kram.attached))					\
		return sysfs_emit(buf, "0\n");				\
	return sysfs_emit(buf, "%llu\n", (u64)(expr));			\
}									\
static DEVICE_ATTR_RO(name)

KRAM_ATTR_U64(generation, kram.fmt.generation);
KRAM_ATTR_U64(boot_count, kram.fmt.boot_count);
KRAM_ATTR_U64(data_pages, kram.fmt.g.nr_data_pages);
KRAM_ATTR_U64(meta_pages, kram.fmt.g.nr_pages - kram.fmt.g.nr_data_pages);
KRAM_ATTR_U64(free_pages, kram_fmt_free_pages(&kram.fmt));
KRAM_ATTR_U64(dynamic_pages, percpu_counter_sum_positive(&kram.fmt.nr_dynamic));
KRAM_ATTR_U64(area_pages, kram.fmt.area_pages);
KRAM_ATTR_U64(areas, kram.fmt.nr_areas);
KRAM_ATTR_U64(attach_ns, kram.attach_ns);
KRAM_ATTR_U64(memmap_ns, kram.memmap_ns);
KRAM_ATTR_U64(map_faults_pte, atomic64_read(&kram.map_pte));
KRAM_ATTR_U64(map_faults_pmd, atomic64_read(&kram.map_pmd));

/* 1 when new area mappings use 2 MiB PMDs: THP, FS_DAX and pmd=1. */
static ssize_t map_pmd_show(struct device *d, struct device_attribute *a,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) &&
			  IS_ENABLED(CONFIG_FS_DAX) && READ_ONCE(pmd));
}
static DEVICE_ATTR_RO(map_pmd);

static ssize_t uuid_show(struct device *d, struct device_attribute *a,
			 char *buf)
{
	if (!READ_ONCE(kram.attached))
		return sysfs_emit(buf, "\n");
	return sysfs_emit(buf, "%pUb\n", kram.fmt.sb->uuid);
}
static DEVICE_ATTR_RO(uuid);

static struct attribute *kram_attrs[] = {
	&dev_attr_state.attr, &dev_attr_last_attach.attr,
	&dev_attr_region.attr, &dev_attr_generation.attr,
	&dev_attr_boot_count.attr,
	&dev_attr_data_pages.attr, &dev_attr_meta_pages.attr,
	&dev_attr_free_pages.attr, &dev_attr_dynamic_pages.attr,
	&dev_attr_area_pages.attr, &dev_attr_areas.attr,
	&dev_attr_attach_ns.attr, &dev_attr_memmap_ns.attr,
	&dev_attr_map_faults_pte.attr, &dev_attr_map_faults_pmd.attr,
	&dev_attr_map_pmd.attr, &dev_attr_uuid.attr, NULL,
};
ATTRIBUTE_GROUPS(kram);

static struct miscdevice kram_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kram",
	.fops	= &kram_fops,
	.mode	= 0600,
	.groups	= kram_groups,
};

/* ---------------------------------------------------------------- debugfs */

static int kram_dbg_status_show(struct seq_file *m, void *unused)
{
	struct kram_fmt *f = &kram.fmt;
	struct kram_geom *g = &f->g;

	mutex_lock(&kram.lock);
	seq_printf(m, "state: %s\nlast_attach: %d %s\n",
		   kram_state_names[kram.state], kram.last_error, kram.why);
	seq_printf(m, "region: %#llx-%#llx (%llu MiB)\n", (u64)kram.base,
		   (u64)kram.base + kram.size - 1, kram.size >> 20);
	if (kram.attached) {
		seq_printf(m, "uuid: %pUb\ngeneration: %llu\nboot_count: %llu\nformat_version: %u\n",
			   f->sb->uuid, f->generation, f->boot_count,
			   KRAM_FORMAT_VERSION);
		seq_printf(m, "geometry: pages %llu, metadata %llu, data %llu (first data pfn %#lx)\n",
			   g->nr_pages, g->nr_pages - g->nr_data_pages,
			   g->nr_data_pages, kram.data_pfn);
		seq_printf(m, "offsets: area_table %#llx bitmap %#llx (+%llu) tags %#llx data %#llx\n",
			   g->area_table_off, g->bitmap_off, g->bitmap_bytes,
			   g->tags_off, g->data_off);
		seq_printf(m, "pages: free %llu, pool %lld, areas %llu\n",
			   kram_fmt_free_pages(f),
			   percpu_counter_sum(&f->nr_dynamic), f->area_pages);
		seq_printf(m, "areas: %u of %u\ncorrupt_tag_words_seen: %lld\ntorn_records_at_attach: %u\n",
			   f->nr_areas, g->max_areas,
			   (s64)atomic64_read(&f->corrupt_tags), f->torn_records);
		seq_printf(m, "superblock_recovered_at_attach: %u\ntag_words_fixed_at_attach: %llu\nbitmap_bits_fixed_at_attach: %llu\n",
			   f->sb_recovered, f->fixed_tags, f->fixed_bits);
	}
	seq_printf(m, "attach_ns: %llu\nmemmap_ns: %llu\n", kram.attach_ns,
		   kram.memmap_ns);
	seq_printf(m, "map_faults: pte %lld, pmd %lld\n",
		   (s64)atomic64_read(&kram.map_pte),
		   (s64)atomic64_read(&kram.map_pmd));
	mutex_unlock(&kram.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kram_dbg_status);

static int kram_dbg_areas_show(struct seq_file *m, void *unused)
{
	int slot;

	seq_puts(m, "slot name version first_page nr_pages phys created_gen users\n");
	mutex_lock(&kram.lock);
	for (slot = 0; kram.attached && slot < KRAM_MAX_AREAS; slot++) {
		struct kram_area_view *v = &kram.fmt.areas[slot];

		if (v->state != KRAM_AREA_LIVE)
			continue;
		seq_printf(m, "%d %s '%s' %llu %llu %#llx %llu %u\n", slot,
			   v->name, v->version, v->first_page, v->nr_pages,
			   (u64)PFN_PHYS(kram.data_pfn + v->first_page),
			   v->created_gen,
			   kram.areas[slot] ? kram.areas[slot]->users : 0);
	}
	mutex_unlock(&kram.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kram_dbg_areas);

/* Pool pages per tag (one pass over the bitmap; for humans). */
static int kram_dbg_tags_show(struct seq_file *m, void *unused)
{
	struct kram_fmt *f = &kram.fmt;
	struct { u32 tag; u64 n; } t[32];
	u64 i, other = 0, bad = 0;
	int nt = 0, k;

	seq_puts(m, "tag pages\n");
	if (!READ_ONCE(kram.attached))
		return 0;
	for_each_set_bit(i, f->pbitmap, f->g.nr_data_pages) {
		u32 tag;

		if (kram_fmt_pool_check(f, i, &tag)) {
			bad++;
			continue;
		}
		for (k = 0; k < nt && t[k].tag != tag; k++)
			;
		if (k == nt && nt < ARRAY_SIZE(t))
			t[nt++] = (typeof(t[0])){ .tag = tag };
		if (k < nt)
			t[k].n++;
		else
			other++;
	}
	for (k = 0; k < nt; k++)
		seq_printf(m, "%#010x %llu\n", t[k].tag, t[k].n);
	if (other)
		seq_printf(m, "other %llu\n", other);
	if (bad)
		seq_printf(m, "corrupt %llu\n", bad);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kram_dbg_tags);

/* ---------------------------------------------------------------- attach */

static __printf(2, 3) void kram_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kram.why, sizeof(kram.why), fmt, ap);
	va_end(ap);
	kram.last_error = err;
	kram.state = KRAM_STATE_REFUSED;
	pr_err("region %#llx+%#llx refused: %s (%d)\n", (u64)kram.base,
	       kram.size, kram.why, err);
	trace_kram_refuse(kram.base, kram.size, err, kram.why);
}

/* SIZE@ADDR (also SIZE$ADDR and SIZE!ADDR, as written for memmap=). */
static int kram_parse_region(const char *s, phys_addr_t *base, u64 *size)
{
	char *end;

	*size = memparse(s, &end);
	if (end == s || (*end != '@' && *end != '$' && *end != '!'))
		return -EINVAL;
	s = end + 1;
	*base = memparse(s, &end);
	if (end == s || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}

/* How many memmap= options the running kernel was booted with. */
static int kram_count_memmap(void)
{
	struct file *file;
	char *buf, *p;
	loff_t pos = 0;
	ssize_t n;
	int count = 0;

	buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	file = filp_open("/proc/cmdline", O_RDONLY, 0);
	if (IS_ERR(file)) {
		kfree(buf);
		return PTR_ERR(file);
	}
	n = kernel_read(file, buf, PAGE_SIZE - 1, &pos);
	fput(file);
	/* One per memmap= option, plus one per comma-separated extra range. */
	for (p = buf; n > 0 && (p = strstr(p, "memmap=")); p += 7) {
		char *q;

		if (p != buf && p[-1] != ' ')
			continue;
		count++;
		for (q = p; *q && *q != ' ' && *q != '\n'; q++)
			count += *q == ',';
	}
	kfree(buf);
	return count;
}

static void kram_warn_environment(void)
{
	int n = kram_count_memmap();

	if (n > 4)
		pr_warn("%d memmap= ranges on the command line: physical KASLR avoids only 4, the kernel may be decompressed into a kram region; use at most 4\n",
			n);
	/* Lockdown refuses legacy kexec_load; otherwise it is possible. */
	if (!security_locked_down(LOCKDOWN_KEXEC))
		pr_warn("legacy kexec_load (kexec -l without -s) may place segments in this region, which it sees as RAM in /sys/firmware/memmap: use kexec -s (kexec_file_load)\n");
}

/* Read a small file (sysfs, procfs) into @buf, NUL-terminated. */
static int kram_read_file(const char *path, char *buf, size_t len)
{
	struct file *file;
	loff_t pos = 0;
	ssize_t n;

	file = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	n = kernel_read(file, buf, len - 1, &pos);
	fput(file);
	if (n < 0)
		return n;
	buf[n] = '\0';
	strim(buf);
	return 0;
}

/*
 * memmap= makes any range "Reserved" in the kernel's view, firmware
 * memory (ACPI tables, BIOS data) included: a range that was not RAM in
 * the firmware's own map (/sys/firmware/memmap, from before memmap=) is
 * refused, or kram would overwrite what the firmware keeps there.
 * Return: 0, -EINVAL (refused), or -ENOENT when the map is unavailable.
 */
static int kram_check_firmware_map(phys_addr_t base, u64 size)
{
	u64 covered = 0, start, end, last = base + size - 1;
	char path[64], type[48], num[32];
	int i;

	for (i = 0; ; i++) {
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%d/start", i);
		if (kram_read_file(path, num, sizeof(num)))
			break;
		if (kstrtou64(num, 0, &start))
			return -ENOENT;
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%d/end", i);
		if (kram_read_file(path, num, sizeof(num)) || kstrtou64(num, 0, &end))
			return -ENOENT;
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%d/type", i);
		if (kram_read_file(path, type, sizeof(type)))
			return -ENOENT;
		if (end < base || start > last)
			continue;
		if (strcmp(type, "System RAM") &&
		    strcmp(type, "Persistent Memory (legacy)")) {
			kram_fail(-EINVAL, "includes firmware memory %#llx-%#llx (%s)",
				  start, end, type);
			return -EINVAL;
		}
		covered += min(end, last) - max_t(u64, start, base) + 1;
	}
	if (!i)
		return -ENOENT;
	if (covered < size) {
		kram_fail(-EINVAL, "part of the range is not memory in /sys/firmware/memmap");
		return -EINVAL;
	}
	return 0;
}

static int kram_claim(phys_addr_t base, u64 size)
{
	int ret;

	if (!size || !IS_ALIGNED(base, KRAM_ALIGN) || !IS_ALIGNED(size, KRAM_ALIGN)) {
		kram_fail(-EINVAL, "base and size must be 2 MiB aligned (memremap_pages)");
		return -EINVAL;
	}
	if (region_intersects(base, size, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		kram_fail(-EINVAL, "the range overlaps System RAM (no memmap=?)");
		return -EINVAL;
	}
	ret = kram_check_firmware_map(base, size);
	if (ret == -ENOENT)
		pr_warn("no /sys/firmware/memmap: cannot check that the range is RAM for the firmware\n");
	else if (ret)
		return ret;
	/* Exclusive: not even /dev/mem may touch it while kram holds it. */
	kram.res = request_mem_region_exclusive(base, size, "kram");
	if (!kram.res) {
		kram_fail(-EBUSY, "the range is already claimed (see /proc/iomem)");
		return -EBUSY;
	}
	return 0;
}

/*
 * memremap_pages() marks every ZONE_DEVICE page PG_reserved. VFIO type1
 * pins reserved pfns (pin_user_pages_remote) but never unpins them
 * (put_pfn() skips is_invalid_reserved_pfn()): every DMA mapping of an area
 * would leave 1024 references per page behind, and kram could never tell
 * such an area from one still in use. The data pages are RAM to everyone
 * (struct pages, refcounted, mapped cacheable), so they are not reserved;
 * KVM already treats ZONE_DEVICE pages as refcounted either way. No one
 * else has the pages yet: the non-atomic clear is safe.
 */
static void kram_unreserve_pages(void)
{
	u64 i;

	for (i = 0; i < kram.fmt.g.nr_data_pages; i++) {
		__clear_bit(PG_reserved, &kram_idx_page(i)->flags);
		if (!(i & 0xffff))
			cond_resched();
	}
}

/*
 * This boot's random id (/proc/sys/kernel/random/boot_id, made once per
 * boot): the boot counter's exact test. Return: 0 or -errno.
 */
static int kram_boot_id(uuid_t *id)
{
	char buf[UUID_STRING_LEN + 2];
	int ret;

	ret = kram_read_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	if (!ret)
		ret = uuid_parse(buf, id);
	if (ret)
		pr_warn("cannot read the boot_id (%d): the boot counter falls back to the reboot mark and the boot clock\n",
			ret);
	return ret;
}

static int kram_attach(phys_addr_t base, u64 size)
{
	struct kram_fmt *f = &kram.fmt;
	bool formatted = false;
	u64 t0;
	int ret;

	kram.base = base;
	kram.size = size;
	ret = kram_claim(base, size);
	if (ret)
		return ret;

	kram.pgmap.type = MEMORY_DEVICE_GENERIC;
	kram.pgmap.range.start = base;
	kram.pgmap.range.end = base + size - 1;
	kram.pgmap.nr_range = 1;
	t0 = ktime_get_ns();
	kram.virt = memremap_pages(&kram.pgmap, NUMA_NO_NODE);
	kram.memmap_ns = ktime_get_ns() - t0;
	if (IS_ERR(kram.virt)) {
		ret = PTR_ERR(kram.virt);
		kram_fail(ret, "memremap_pages() failed (needs CONFIG_ZONE_DEVICE)");
		goto err_release;
	}

	memset(f, 0, sizeof(*f));
	t0 = ktime_get_ns();
	ret = reformat ? -ENODATA : kram_fmt_attach(f, kram.virt, size);
	kram.attach_ns = ktime_get_ns() - t0;
	/*
	 * init=1 formats only a region in which no copy of a superblock is
	 * found: not at its start, not at its end (even damaged), and no
	 * intact one in any page (a kram formatted with another size).
	 */
	if (ret == -ENODATA && (reformat || init)) {
		u8 uuid[16];
		u64 off;

		if (!reformat && kram_fmt_find_sb(kram.virt, size, &off)) {
			kram_fail(-EUCLEAN,
				  "init=1 but an intact kram superblock is at offset %#llx: formatted with another size? (nothing changed; reformat=1 wipes)",
				  off);
			ret = -EUCLEAN;
			goto err_unmap;
		}
		pr_warn("%s region %#llx+%#llx\n",
			reformat ? "reformat=1: DESTROYING and formatting" :
				   "init=1 and no copy of a kram superblock anywhere in the region: formatting",
			(u64)base, size);
		get_random_bytes(uuid, sizeof(uuid));
		memset(f, 0, sizeof(*f));
		ret = kram_fmt_format(f, kram.virt, size, uuid);
		if (ret) {
			kram_fail(ret, "%s", f->why);
			goto err_unmap;
		}
		formatted = true;
		memset(f, 0, sizeof(*f));
		t0 = ktime_get_ns();
		ret = kram_fmt_attach(f, kram.virt, size);
		kram.attach_ns = ktime_get_ns() - t0;
	}
	if (!ret) {
		uuid_t id;
		bool have_id = !kram_boot_id(&id);

		kram_fmt_bump_generation(f, ktime_get_boottime_ns(),
					 have_id ? id.b : NULL);
	}
	if (ret) {
		if (ret == -ENODATA)
			kram_fail(ret, "no kram superblock (new region? init=1)");
		else
			kram_fail(ret, "%s (nothing changed; reformat=1 wipes)",
				  f->why);
		goto err_unmap;
	}
	if (f->sb_recovered)
		pr_warn("recovered the superblock from its other copy (%s)\n",
			f->why);
	if (f->torn_records)
		pr_warn("%u metadata record copies were invalid or stale (an update cut by a crash or kexec, or corruption): rewritten from the valid copy\n",
			f->torn_records);
	if (f->fixed_tags || f->fixed_bits)
		pr_warn("pool metadata repaired: %llu tag words (one flipped bit each, or garbage on a free page), %llu bitmap bits (a flipped bit, or an allocation or free cut by a crash)\n",
			f->fixed_tags, f->fixed_bits);
	if (f->g.region_size < size)
		pr_warn("region= names %llu bytes, the kram in it has %llu: the rest is unused\n",
			size, f->g.region_size);
	kram.data_pfn = PHYS_PFN(base + f->g.data_off);
	kram_unreserve_pages();
	kram.state = KRAM_STATE_ATTACHED;
	kram.last_error = 0;
	snprintf(kram.why, sizeof(kram.why), "attached");
	WRITE_ONCE(kram.attached, true);
	pr_info("attached %#llx+%#llx: generation %llu, %llu data pages (%llu free, %lld pool, %llu in %u areas), metadata %llu us, struct pages %llu us\n",
		(u64)base, size, f->generation, f->g.nr_data_pages,
		kram_fmt_free_pages(f), percpu_counter_sum(&f->nr_dynamic),
		f->area_pages, f->nr_areas, div_u64(kram.attach_ns, 1000),
		div_u64(kram.memmap_ns, 1000));
	trace_kram_attach(base, size, f->generation, f->g.nr_data_pages,
			  kram_fmt_free_pages(f), f->nr_areas,
			  div_u64(kram.attach_ns, 1000), formatted);
	return 0;

err_unmap:
	memunmap_pages(&kram.pgmap);
err_release:
	release_mem_region(base, size);
	kram.res = NULL;
	return ret;
}

/* Is there a kram superblock copy (even damaged) in one page at @phys? */
static bool kram_scan_page(phys_addr_t phys)
{
	void *p;
	bool hit;

	/* Claimed by a driver (or a child of one): not ours to read. */
	if (!request_mem_region(phys, PAGE_SIZE, "kram-scan"))
		return false;
	p = memremap(phys, PAGE_SIZE, MEMREMAP_WB);
	hit = p && kram_fmt_probe(p, NULL);
	if (p)
		memunmap(p);
	release_mem_region(phys, PAGE_SIZE);
	return hit;
}

/*
 * Scanning: is there a kram superblock at the start of this range, or
 * its backup in the range's last page?
 */
static int kram_scan_one(struct resource *res, void *arg)
{
	struct resource *found = arg;
	u64 size = ALIGN_DOWN(resource_size(res), KRAM_ALIGN);

	if (res->start < SZ_1M || !IS_ALIGNED(res->start, KRAM_ALIGN) ||
	    size < KRAM_ALIGN)
		return 0;
	if (!kram_scan_page(res->start) &&
	    !kram_scan_page(res->start + size - PAGE_SIZE))
		return 0;
	found->start = res->start;
	found->end = res->start + size - 1;
	return 1;
}

static int kram_find_region(phys_addr_t *base, u64 *size)
{
	struct resource found = {};

	if (walk_iomem_res_desc(IORES_DESC_RESERVED, IORESOURCE_MEM, 0, -1,
				&found, kram_scan_one) != 1 &&
	    walk_iomem_res_desc(IORES_DESC_PERSISTENT_MEMORY_LEGACY,
				IORESOURCE_MEM, 0, -1, &found,
				kram_scan_one) != 1)
		return -ENODEV;
	*base = found.start;
	*size = resource_size(&found);
	return 0;
}

static void kram_detach(void)
{
	int slot;

	if (!kram.attached)
		return;
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++)
		kram_area_del_dev(slot);
	WRITE_ONCE(kram.attached, false);
	kram_fmt_detach(&kram.fmt);
	memunmap_pages(&kram.pgmap);
	release_mem_region(kram.base, kram.size);
	kram.res = NULL;
	pr_info("detached %#llx+%#llx (contents kept)\n", (u64)kram.base,
		kram.size);
}

static int kram_setup_region(void)
{
	phys_addr_t base;
	u64 size;
	int ret, slot;

	if (region && *region) {
		if (kram_parse_region(region, &base, &size)) {
			pr_err("region=%s: expected SIZE@ADDR, e.g. region=64M@0x10000000\n",
			       region);
			return -EINVAL;
		}
		ret = kram_attach(base, size);
		if (ret)
			return ret;
	} else {
		if (init || reformat) {
			pr_err("init=1 and reformat=1 need an explicit region=SIZE@ADDR\n");
			return -EINVAL;
		}
		if (!scan || kram_find_region(&base, &size)) {
			snprintf(kram.why, sizeof(kram.why),
				 "no region: none named (region=) and none found");
			pr_info("no region: load with region=SIZE@ADDR (and init=1 the first time)\n");
			return 0;
		}
		pr_info("found a kram superblock at %#llx+%#llx\n", (u64)base,
			size);
		/* A region found by scanning that fails stays refused, visibly. */
		if (kram_attach(base, size))
			return 0;
	}
	mutex_lock(&kram.lock);
	for (slot = 0; slot < KRAM_MAX_AREAS; slot++) {
		if (kram.fmt.areas[slot].state != KRAM_AREA_LIVE)
			continue;
		ret = kram_area_add_dev(slot);
		if (ret)
			pr_err("area '%s': device node failed: %d\n",
			       kram.fmt.areas[slot].name, ret);
	}
	mutex_unlock(&kram.lock);
	return 0;
}

/*
 * A reboot or kexec is starting: the next attach is in a new boot. A
 * crash does not get here; the next attach then sees its boot clock
 * behind the last attach's (kram_fmt_bump_generation()), or counts no boot.
 */
static int kram_reboot(struct notifier_block *nb, unsigned long action,
		       void *data)
{
	/*
	 * Not kram.lock: a reboot must not wait on an ioctl. Attach happens
	 * before the notifier is registered and detach after it is
	 * unregistered: kram.attached is stable here.
	 */
	if (READ_ONCE(kram.attached))
		kram_fmt_mark_reboot(&kram.fmt);
	return NOTIFY_DONE;
}

static struct notifier_block kram_reboot_nb = {
	.notifier_call = kram_reboot,
};

static int __init kram_init(void)
{
	int ret;

	if (kram_trace_init) {
		static const char *const ev[] = { "kram_attach", "kram_refuse", NULL };

		hvkit_trace_own_events("kram", ev);
	}
	INIT_DELAYED_WORK(&kram.pin_work, kram_pin_work);
	kram.mnt = kern_mount(&kram_fs_type);
	if (IS_ERR(kram.mnt))
		return PTR_ERR(kram.mnt);
	ret = class_register(&kram_area_class);
	if (ret)
		goto err_mnt;
	ret = alloc_chrdev_region(&kram.devt, 0, KRAM_MAX_AREAS, "kram_area");
	if (ret)
		goto err_class;
	cdev_init(&kram.cdev, &kram_area_fops);
	kram.cdev.owner = THIS_MODULE;
	ret = cdev_add(&kram.cdev, kram.devt, KRAM_MAX_AREAS);
	if (ret)
		goto err_chrdev;

	/*
	 * /dev/kram first: once the region is attached and area nodes
	 * exist, nothing may fail any more (a pinned area page could not be
	 * detached from). Until attach completes /dev/kram answers -ENODEV.
	 */
	ret = misc_register(&kram_misc);
	if (ret) {
		pr_err("cannot register /dev/kram: %d\n", ret);
		goto err_cdev;
	}
	/*
	 * Attach is not under kram.lock: it reads /proc and sysfs files,
	 * whose locks kram's own sysfs and debugfs files take before
	 * kram.lock. Nothing else reaches kram before init returns but area
	 * device opens, and the area table they look at is locked.
	 */
	ret = kram_setup_region();
	if (ret)
		goto err_misc;
	if (kram.attached)
		kram_warn_environment();
	register_reboot_notifier(&kram_reboot_nb);
	kram.debugfs = debugfs_create_dir("kram", NULL);
	debugfs_create_file("status", 0444, kram.debugfs, NULL,
			    &kram_dbg_status_fops);
	debugfs_create_file("areas", 0444, kram.debugfs, NULL,
			    &kram_dbg_areas_fops);
	debugfs_create_file("tags", 0400, kram.debugfs, NULL,
			    &kram_dbg_tags_fops);
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;

err_misc:
	misc_deregister(&kram_misc);
err_cdev:
	cdev_del(&kram.cdev);
err_chrdev:
	unregister_chrdev_region(kram.devt, KRAM_MAX_AREAS);
err_class:
	class_unregister(&kram_area_class);
err_mnt:
	kern_unmount(kram.mnt);
	return ret;
}

static void __exit kram_exit(void)
{
	unregister_reboot_notifier(&kram_reboot_nb);
	/* The pin poll dropped its module reference; let it return. */
	cancel_delayed_work_sync(&kram.pin_work);
	debugfs_remove_recursive(kram.debugfs);
	misc_deregister(&kram_misc);
	mutex_lock(&kram.lock);
	kram_detach();
	mutex_unlock(&kram.lock);
	cdev_del(&kram.cdev);
	unregister_chrdev_region(kram.devt, KRAM_MAX_AREAS);
	class_unregister(&kram_area_class);
	/* kram_detach() put every area's inode. */
	kern_unmount(kram.mnt);
	pr_info("unloaded\n");
}

module_init(kram_init);
module_exit(kram_exit);

MODULE_DESCRIPTION("hvkit kram: persistent fixed-page allocator surviving kexec");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
