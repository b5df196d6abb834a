/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hvkit: the one userspace API of the hvkit kernel modules.
 *
 * Devices
 *   Each hvkit module with a control interface registers a misc character
 *   device named after it (/dev/kram, /dev/kvm_hybrid, ...). Every such
 *   device answers HVKIT_IOC_GET_INFO; the module-specific ioctls are listed
 *   in the module's block below.
 *
 * ioctl number space
 *   Magic 0xB8 (HVKIT_IOC_MAGIC), a block that is free in the kernel's
 *   Documentation/userspace-api/ioctl/ioctl-number.rst (checked against 6.1
 *   and mainline). Sequence numbers are split by module:
 *     0x00-0x0f  common to every hvkit device (HVKIT_IOC_GET_INFO)
 *     0x10-0x2f  kram            (/dev/kram)
 *     0x30-0x4f  kvm_hybrid      (/dev/kvm_hybrid)
 *     0x50-0x6f  guest_pvtimer   (host agent)
 *     0x70-0x7f  guest_idlepoll
 *     0x80-0x9f  vfio_preserve
 *
 * Argument conventions (every hvkit ioctl)
 *   - One struct per command, passed by pointer, _IOWR(HVKIT_IOC_MAGIC, nr, T).
 *   - The struct starts with __u32 size (the caller's sizeof(T)) and
 *     __u32 flags. The kernel accepts an older, smaller struct and a newer,
 *     larger one as long as the bytes it does not know are zero
 *     (copy_struct_from_user semantics); it writes back at most size bytes.
 *   - Only __u64/__u32/__u16/__u8 fields, naturally aligned, with explicit
 *     padding fields that must be zero.
 *   - Errors: -EINVAL for a bad size, unknown flags or non-zero padding;
 *     -E2BIG for a larger struct with non-zero unknown bytes; -ENOTTY for
 *     an unknown command; -EPERM when a privileged command is issued without
 *     CAP_SYS_ADMIN; -EFAULT for a bad pointer.
 */
#ifndef _UAPI_LINUX_HVKIT_H
#define _UAPI_LINUX_HVKIT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define HVKIT_IOC_MAGIC		0xB8
#define HVKIT_API_VERSION	1

/* Largest argument struct any hvkit ioctl accepts. */
#define HVKIT_ARG_MAX_SIZE	4096

#define HVKIT_NAME_LEN		32

/**
 * struct hvkit_info - identity of the module behind an hvkit device
 * @size:	in: sizeof(struct hvkit_info) as the caller knows it
 * @flags:	in: must be 0
 * @api_version: out: HVKIT_API_VERSION the module implements
 * @__pad0:	must be 0
 * @features:	out: module-specific feature bits (see the module's block)
 * @module:	out: NUL-terminated module name, e.g. "kram"
 * @version:	out: NUL-terminated module version, e.g. "0.1.0"
 */
struct hvkit_info {
	__u32 size;
	__u32 flags;
	__u32 api_version;
	__u32 __pad0;
	__u64 features;
	char module[HVKIT_NAME_LEN];
	char version[HVKIT_NAME_LEN];
};

/* Common to every hvkit device; unprivileged. */
#define HVKIT_IOC_GET_INFO	_IOWR(HVKIT_IOC_MAGIC, 0x00, struct hvkit_info)

/*
 * kram (/dev/kram): a persistent page allocator over a memmap=-reserved
 * physical range whose pages survive kexec. Documentation/kram.rst.
 *
 * Pages are named by their data page index ("pgoff"): page i of the pool
 * is at byte offset i * 4096 of /dev/kram for pread/pwrite, and an area
 * occupies data pages [first_page, first_page + nr_pages). An area's
 * pages are read, written and mmap()ed through /dev/kram_areas/<name>
 * (offset 0 = the area's page 0), which QEMU can use as
 * -object memory-backend-file,mem-path=/dev/kram_areas/<name>,share=on.
 *
 * KRAM_IOC_STATUS needs no capability (the node is mode 0600, so it is
 * root's unless udev grants more; a read-only fd is enough); every other
 * kram command, pread/pwrite of /dev/kram and opening an area need
 * CAP_SYS_ADMIN. Every command but STATUS fails with -ENODEV while no
 * region is attached. Pages from ALLOC without KRAM_ALLOC_ZERO hold
 * whatever their previous owner left.
 *
 * Module parameters (modprobe kram ...): region=SIZE@ADDR names the
 * memmap= range; init=1 formats it if it holds no kram superblock;
 * reformat=1 destroys and formats it. Without region= kram scans
 * unclaimed reserved ranges for its superblock. sysfs:
 * /sys/class/misc/kram/ (state, last_attach, region, generation, *_pages,
 * areas, attach_ns, memmap_ns, uuid); debugfs: /sys/kernel/debug/kram/.
 */
#define KRAM_PAGE_SIZE		4096	/* unit of every page index */
#define KRAM_NAME_LEN		32	/* area name, NUL-terminated */
#define KRAM_VERSION_LEN	32	/* area version string, NUL-terminated */
#define KRAM_MAX_BATCH		1024	/* pages per ALLOC/FREE/WALK call */
/* Tags at or above this value belong to userspace (ioctls); below: kernel. */
#define KRAM_TAG_USER		0x80000000u

/* kram_status.state */
#define KRAM_STATE_DETACHED	0	/* no region (none named or found) */
#define KRAM_STATE_ATTACHED	1
#define KRAM_STATE_REFUSED	2	/* a region was refused: see last_error */

/**
 * struct kram_status - the region and its usage (KRAM_IOC_STATUS)
 * @size:	in: sizeof(struct kram_status) as the caller knows it
 * @flags:	in: must be 0
 * @state:	out: KRAM_STATE_*
 * @last_error:	out: 0, or the -errno of the last attach attempt
 * @region_base: out: physical address of the region
 * @region_size: out: bytes
 * @generation:	out: boot counter, bumped on every attach
 * @nr_pages:	out: pages in the region
 * @meta_pages:	out: pages holding metadata (superblock, area table,
 *		bitmap, tags)
 * @data_pages:	out: pages for areas and the dynamic pool
 * @free_pages:	out: data pages neither in an area nor allocated
 * @dynamic_pages: out: pages allocated with a tag
 * @area_pages:	out: pages owned by areas
 * @nr_areas:	out: live areas
 * @max_areas:	out: area table slots
 * @format_version: out: on-memory format version
 * @__pad0:	must be 0
 * @attach_ns:	out: time to validate the metadata at the last attach
 * @memmap_ns:	out: time to create the region's struct pages
 * @uuid:	out: region identity, chosen at format time
 */
struct kram_status {
	__u32 size;
	__u32 flags;
	__u32 state;
	__s32 last_error;
	__u64 region_base;
	__u64 region_size;
	__u64 generation;
	__u64 nr_pages;
	__u64 meta_pages;
	__u64 data_pages;
	__u64 free_pages;
	__u64 dynamic_pages;
	__u64 area_pages;
	__u32 nr_areas;
	__u32 max_areas;
	__u32 format_version;
	__u32 __pad0;
	__u64 attach_ns;
	__u64 memmap_ns;
	__u8 uuid[16];
};

/**
 * struct kram_area_create - create a named area (KRAM_IOC_AREA_CREATE)
 * @size:	in: sizeof(struct kram_area_create)
 * @flags:	in: must be 0
 * @nr_pages:	in: pages, > 0; the area is physically contiguous
 * @name:	in: 1-31 characters of [A-Za-z0-9._-], not "." or ".."
 * @version:	in: the owner's version string, printable, may be empty
 * @first_page:	out: data page index of the area's page 0
 *
 * Errors: -EEXIST (name taken), -ENOSPC (no free run of @nr_pages pages,
 * or all area slots in use), -EINVAL (bad name, version or size).
 */
struct kram_area_create {
	__u32 size;
	__u32 flags;
	__u64 nr_pages;
	char name[KRAM_NAME_LEN];
	char version[KRAM_VERSION_LEN];
	__u64 first_page;
};

/**
 * struct kram_area_delete - delete an area and free its pages
 * @size:	in: sizeof(struct kram_area_delete)
 * @flags:	in: must be 0
 * @name:	in: the area; -ENOENT if unknown, -EBUSY while open or mapped
 */
struct kram_area_delete {
	__u32 size;
	__u32 flags;
	char name[KRAM_NAME_LEN];
};

/**
 * struct kram_area_info - one area, as KRAM_IOC_AREA_LIST reports it
 * @name:	NUL-terminated name
 * @version:	NUL-terminated owner version string
 * @first_page:	data page index of page 0
 * @nr_pages:	pages
 * @created_generation: generation in which the area was created
 * @flags:	flags given at creation (kernel users; 0 from the ioctl)
 * @users:	open handles (kernel users and open device files)
 */
struct kram_area_info {
	char name[KRAM_NAME_LEN];
	char version[KRAM_VERSION_LEN];
	__u64 first_page;
	__u64 nr_pages;
	__u64 created_generation;
	__u32 flags;
	__u32 users;
};

/**
 * struct kram_area_list - list the areas (KRAM_IOC_AREA_LIST)
 * @size:	in: sizeof(struct kram_area_list)
 * @flags:	in: must be 0
 * @count:	in: room in @areas (entries, 0 to learn @total only);
 *		out: entries written (the first @count live areas)
 * @total:	out: live areas
 * @areas:	in: user pointer to struct kram_area_info[count]
 */
struct kram_area_list {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 total;
	__u64 areas;
};

/* kram_pages.flags */
#define KRAM_ALLOC_ZERO		(1u << 0)	/* ALLOC: zero the pages */

/**
 * struct kram_pages - a batch of pool pages (ALLOC, FREE, WALK)
 * @size:	in: sizeof(struct kram_pages)
 * @flags:	in: KRAM_ALLOC_ZERO for ALLOC, else 0
 * @tag:	in: owner tag; ALLOC and FREE need tag >= KRAM_TAG_USER
 * @count:	in: 1..KRAM_MAX_BATCH entries in @pages;
 *		out (WALK): entries written
 * @pages:	in: user pointer to __u64[count] data page indexes
 *		(out for ALLOC and WALK, in for FREE)
 * @cursor:	WALK in: first index to look at; out: where to continue,
 *		or ~0ULL when the walk is complete. Must be 0 otherwise.
 *
 * ALLOC is all or nothing (-ENOSPC). FREE checks every page first: a page
 * that is not allocated (double free, an area page) gives -ENOENT, one with
 * another tag -EPERM, one listed twice -EINVAL, and nothing is freed.
 * WALK accepts any non-zero tag (kernel owners' too, read-only); it may
 * return fewer than @count entries before the walk is complete.
 */
struct kram_pages {
	__u32 size;
	__u32 flags;
	__u32 tag;
	__u32 count;
	__u64 pages;
	__u64 cursor;
};

#define KRAM_IOC_STATUS		_IOWR(HVKIT_IOC_MAGIC, 0x10, struct kram_status)
#define KRAM_IOC_AREA_CREATE	_IOWR(HVKIT_IOC_MAGIC, 0x11, struct kram_area_create)
#define KRAM_IOC_AREA_DELETE	_IOWR(HVKIT_IOC_MAGIC, 0x12, struct kram_area_delete)
#define KRAM_IOC_AREA_LIST	_IOWR(HVKIT_IOC_MAGIC, 0x13, struct kram_area_list)
#define KRAM_IOC_ALLOC		_IOWR(HVKIT_IOC_MAGIC, 0x14, struct kram_pages)
#define KRAM_IOC_FREE		_IOWR(HVKIT_IOC_MAGIC, 0x15, struct kram_pages)
#define KRAM_IOC_WALK		_IOWR(HVKIT_IOC_MAGIC, 0x16, struct kram_pages)

/*
 * guest_idlepoll (/dev/guest_idlepoll, ioctls 0x70-0x7f)
 *
 * The tunables are module parameters (/sys/module/guest_idlepoll/
 * parameters/, writable at run time); this block reads the per-CPU
 * statistics. Counters are totals since the module was loaded, minus the
 * values at the last IDLEPOLL_STATS_RESET.
 */
#define IDLEPOLL_POLICY_HALTPOLL	0	/* upstream haltpoll grow/shrink */
#define IDLEPOLL_POLICY_ADAPTIVE	1	/* hvkit expected-benefit rule */

#define IDLEPOLL_CPU_ONLINE		(1U << 0)
#define IDLEPOLL_CPU_REGISTERED		(1U << 1)	/* its cpuidle device */

/**
 * struct idlepoll_cpu_stats - one CPU's idle polling
 * @cpu:	CPU number
 * @flags:	IDLEPOLL_CPU_*
 * @entries:	idle periods in the idlepoll state
 * @polls:	periods that polled (window > 0)
 * @poll_hits:	polls ended by a wakeup before the window ran out
 * @poll_misses: polls that ran out and halted
 * @poll_ns:	time spent polling
 * @halts:	periods that halted (misses plus periods with no window)
 * @halt_ns:	time spent halted
 * @backoff_steal: periods that did not poll because of steal time
 * @backoff_smt: periods that did not poll because an SMT sibling was busy
 * @window_ns:	the window the CPU used last
 * @steal_pct:	the CPU's steal time over the last sample, in %
 * @__pad0:	0
 */
struct idlepoll_cpu_stats {
	__u32 cpu;
	__u32 flags;
	__u64 entries;
	__u64 polls;
	__u64 poll_hits;
	__u64 poll_misses;
	__u64 poll_ns;
	__u64 halts;
	__u64 halt_ns;
	__u64 backoff_steal;
	__u64 backoff_smt;
	__u64 window_ns;
	__u32 steal_pct;
	__u32 __pad0;
};

#define IDLEPOLL_STATS_RESET	(1U << 0)	/* after reading; CAP_SYS_ADMIN */

/**
 * struct idlepoll_stats - argument of IDLEPOLL_IOC_STATS
 * @size:	sizeof(struct idlepoll_stats)
 * @flags:	0 or IDLEPOLL_STATS_RESET
 * @nr_cpus:	in: entries of @cpus; out: entries filled (possible CPUs,
 *		at most the input value)
 * @cpu_size:	in: sizeof(struct idlepoll_cpu_stats) as the caller knows it
 * @cpus:	user pointer to an array of struct idlepoll_cpu_stats
 * @policy:	out: IDLEPOLL_POLICY_*
 * @nr_states:	out: cpuidle states of the driver (2: POLL + IDLEPOLL)
 * @max_poll_ns: out: the global cap on any window
 * @nr_possible: out: number of possible CPUs
 * @__pad0:	0
 */
struct idlepoll_stats {
	__u32 size;
	__u32 flags;
	__u32 nr_cpus;
	__u32 cpu_size;
	__u64 cpus;
	__u32 policy;
	__u32 nr_states;
	__u64 max_poll_ns;
	__u32 nr_possible;
	__u32 __pad0;
};

#define IDLEPOLL_IOC_STATS	_IOWR(HVKIT_IOC_MAGIC, 0x70, struct idlepoll_stats)

#endif /* _UAPI_LINUX_HVKIT_H */
