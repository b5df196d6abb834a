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
 * -object memory-backend-file,mem-path=/dev/kram_areas/<name>,share=on,align=2M
 * (align=2M: QEMU maps it 2 MiB aligned, so kram can map it with PMDs).
 *
 * KRAM_IOC_STATUS needs no capability (the node is mode 0600, so it is
 * root's unless udev grants more; a read-only fd is enough); every other
 * kram command, pread/pwrite of /dev/kram and opening an area need
 * CAP_SYS_ADMIN. Every command but STATUS fails with -ENODEV while no
 * region is attached. Pages from ALLOC and new areas are always
 * zero-filled before they are handed out. Userspace reaches only its own
 * pages (tags >= KRAM_TAG_USER) and areas (KRAM_AREA_INFO_USER); under
 * kernel lockdown it can read them but not write them.
 *
 * Module parameters (modprobe kram ...): region=SIZE@ADDR names the
 * memmap= range; init=1 formats it if no copy of a kram superblock is
 * found in it;
 * reformat=1 destroys and formats it. Without region= kram scans
 * unclaimed reserved ranges for its superblock. sysfs:
 * /sys/class/misc/kram/ (state, last_attach, region, generation,
 * boot_count, *_pages,
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
 * @generation:	out: attach counter, bumped on every attach (also a
 *		module reload)
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
 * @boot_count:	out: boots of the host that attached the region: bumped
 *		on the first attach after a reboot or kexec, not on a reload
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
	__u64 boot_count;
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
 * The area's pages are zero-filled before it exists: it never shows the
 * bytes of an area deleted before it.
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

/* kram_area_info.flags: the area belongs to userspace. */
#define KRAM_AREA_INFO_USER	0x80000000u

/**
 * struct kram_area_info - one area, as KRAM_IOC_AREA_LIST reports it
 * @name:	NUL-terminated name
 * @version:	NUL-terminated owner version string
 * @first_page:	data page index of page 0
 * @nr_pages:	pages
 * @created_generation: generation in which the area was created
 * @flags:	KRAM_AREA_INFO_USER for an area created through /dev/kram
 *		(userspace's: it has a /dev/kram_areas node); without it the
 *		area is kernel-owned and its other bits are its owner's flags
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
#define KRAM_ALLOC_ZERO		(1u << 0)	/* ALLOC: accepted; pages are always zeroed */

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
 * kvm_hybrid (/dev/kvm_hybrid, ioctls 0x30-0x4f): hybrid vCPUs and online
 * CPUID control for KVM guests. Documentation/kvm_hybrid.rst.
 *
 * A profile is an array of core types (struct hybrid_core_type: P, E, ...).
 * HYBRID_IOC_BIND binds a VM (by VM fd, or by its VMM's pid) with a profile
 * and a vCPU -> core type map; from then on every CPUID the VM's vCPUs
 * execute returns KVM's value with the core type's leaves (0x1A, 7.EDX[15],
 * 0x4/0x8000001D, 0x16, 0xA, 0x80000026) overridden, and with the feature
 * bits cleared by HYBRID_IOC_FEATURE hidden. HYBRID_IOC_CPUID2 applies the
 * same overrides to a kvm_cpuid2 table for VMMs that set it themselves with
 * KVM_SET_CPUID2. All commands but HYBRID_IOC_LIST need CAP_SYS_ADMIN.
 *
 * Hiding a feature bit changes what CPUID reports, not what the vCPU can
 * execute: KVM still runs the instruction.
 */
#define HYBRID_MAX_TYPES	8
#define HYBRID_MAX_CACHES	8
#define HYBRID_MAX_VCPUS	1024
#define HYBRID_WHY_LEN		128

/* struct hybrid_cache.type: the 0x4 EAX[4:0] encoding */
#define HYBRID_CACHE_DATA	1
#define HYBRID_CACHE_INST	2
#define HYBRID_CACHE_UNIFIED	3

/**
 * struct hybrid_cache - one cache level of a core type (leaf 0x4 subleaf)
 * @level:	1-3
 * @type:	HYBRID_CACHE_*
 * @ways:	associativity, 1-1024
 * @line_size:	bytes, a power of two, 16-4096
 * @shared_by:	logical CPUs sharing this cache, a power of two, 1-4096;
 *		such groups are x2APIC-id aligned and hold one core type
 * @size_kb:	size in KiB; a multiple of ways * line_size
 * @__pad0:	0
 */
struct hybrid_cache {
	__u8 level;
	__u8 type;
	__u16 ways;
	__u16 line_size;
	__u16 shared_by;
	__u32 size_kb;
	__u32 __pad0;
};

/* struct hybrid_core_type.flags: which leaves the type defines */
#define HYBRID_CT_INTEL		(1U << 0) /* 0x1A, 7.EDX[15] (hybrid) */
#define HYBRID_CT_AMD		(1U << 1) /* 0x80000026 (see below) */
#define HYBRID_CT_CACHE		(1U << 2) /* 0x4 (and 0x8000001D with AMD) */
#define HYBRID_CT_FREQ		(1U << 3) /* 0x16 */
#define HYBRID_CT_PMU		(1U << 4) /* 0xA */
#define HYBRID_CT_ALL		0x1f

/* Intel leaf 0x1A EAX[31:24] */
#define HYBRID_INTEL_ATOM	0x20	/* E-core */
#define HYBRID_INTEL_CORE	0x40	/* P-core */

/**
 * struct hybrid_core_type - one core type of a profile
 * @name:	NUL-terminated, e.g. "P"
 * @flags:	HYBRID_CT_*
 * @intel_core_type: 0x1A EAX[31:24] (HYBRID_INTEL_*)
 * @amd_core_type: 0x80000026 EBX[31:28]: 0 performance, 1 efficiency
 * @amd_efficiency: 0x80000026 EBX[23:16] power efficiency ranking; both
 *		on the core level (subleaf 0, with EAX[30:29] set). For an
 *		AMD or Hygon guest the leaf gets every level (core, complex,
 *		socket: shift, count, type, x2APIC id) from the vCPU's own
 *		topology leaves (0xB, else 0x80000008/0x8000001E), the
 *		complex from the type's L3 (else KVM's 0x8000001D);
 *		Documentation/kvm_hybrid.rst
 * @nr_caches:	entries of @caches used
 * @native_model_id: 0x1A EAX[23:0]; its low 4 bits are 0x80000026 EBX[27:24]
 * @base_mhz:	0x16 EAX; must be the same for every type of a profile (a
 *		guest calibrates its TSC from it)
 * @max_mhz:	0x16 EBX, >= @base_mhz
 * @bus_mhz:	0x16 ECX
 * @__pad0:	0
 * @pmu_version: 0xA EAX[7:0], 0-5
 * @pmu_gp_counters: 0xA EAX[15:8], at most 32
 * @pmu_gp_width: 0xA EAX[23:16], 0 or 8-64
 * @pmu_fixed_counters: 0xA EDX[4:0], at most 16
 * @pmu_fixed_width: 0xA EDX[12:5], 0 or 8-64
 * @__pad1:	0
 * @pmu_events_unavailable: 0xA EBX: bit n set = architectural event n not
 *		available; EAX[31:24] (the vector length) is 8
 * @pmu_fixed_mask: 0xA ECX: fixed counters supported (version 5)
 * @__pad2:	0
 * @caches:	the cache levels, innermost first
 */
struct hybrid_core_type {
	char name[HVKIT_NAME_LEN];
	__u32 flags;
	__u8 intel_core_type;
	__u8 amd_core_type;
	__u8 amd_efficiency;
	__u8 nr_caches;
	__u32 native_model_id;
	__u16 base_mhz;
	__u16 max_mhz;
	__u16 bus_mhz;
	__u16 __pad0;
	__u8 pmu_version;
	__u8 pmu_gp_counters;
	__u8 pmu_gp_width;
	__u8 pmu_fixed_counters;
	__u8 pmu_fixed_width;
	__u8 __pad1[3];
	__u32 pmu_events_unavailable;
	__u32 pmu_fixed_mask;
	__u32 __pad2;
	struct hybrid_cache caches[HYBRID_MAX_CACHES];
};

#define HYBRID_BIND_BY_PID	(1U << 0) /* find the VM in @pid's fds */

/**
 * struct hybrid_bind - argument of HYBRID_IOC_BIND
 * @size:	sizeof(struct hybrid_bind)
 * @flags:	0 (bind @vm_fd) or HYBRID_BIND_BY_PID
 * @vm_fd:	a KVM VM file descriptor of the caller
 * @pid:	the VMM's pid (HYBRID_BIND_BY_PID); it must hold exactly one VM
 * @nr_types:	entries of @types, 1-HYBRID_MAX_TYPES
 * @nr_vcpus:	entries of @vcpu_types: the VM's vCPU count at bind time
 * @types:	user pointer to struct hybrid_core_type[@nr_types]
 * @vcpu_types:	user pointer to __u8[@nr_vcpus]: core type of each vCPU,
 *		by vCPU index (creation order)
 * @id:		out: the binding's id
 * @__pad0:	0
 * @why:	out: on -EINVAL, -EBUSY or -ESRCH, why (also in the kernel log)
 */
struct hybrid_bind {
	__u32 size;
	__u32 flags;
	__s32 vm_fd;
	__s32 pid;
	__u32 nr_types;
	__u32 nr_vcpus;
	__u64 types;
	__u64 vcpu_types;
	__u32 id;
	__u32 __pad0;
	char why[HYBRID_WHY_LEN];
};

/**
 * struct hybrid_unbind - argument of HYBRID_IOC_UNBIND
 * @size:	sizeof(struct hybrid_unbind)
 * @flags:	0
 * @id:		the binding; the VM's CPUID is stock again at once
 * @__pad0:	0
 */
struct hybrid_unbind {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 __pad0;
};

#define HYBRID_FEAT_CLEAR	0	/* @op: hide the bits */
#define HYBRID_FEAT_RESTORE	1	/* @op: show them again */
#define HYBRID_ALL_VCPUS	0xffffffffU
#define HYBRID_ANY_INDEX	0xffffffffU

/**
 * struct hybrid_feature - argument of HYBRID_IOC_FEATURE
 * @size:	sizeof(struct hybrid_feature)
 * @flags:	0
 * @id:		the binding
 * @op:		HYBRID_FEAT_CLEAR or HYBRID_FEAT_RESTORE
 * @vcpu:	vCPU index, or HYBRID_ALL_VCPUS
 * @function:	CPUID leaf (EAX)
 * @index:	subleaf (ECX), or HYBRID_ANY_INDEX
 * @reg:	0 EAX, 1 EBX, 2 ECX, 3 EDX
 * @bits:	the bits to hide or show again; MMU-relevant leaves and bits
 *		(MAXPHYADDR, paging features, XSAVE sizes, topology) are
 *		refused with -EPERM and a reason in @why
 * @__pad0:	0
 * @why:	out: why a request was refused
 */
struct hybrid_feature {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 op;
	__u32 vcpu;
	__u32 function;
	__u32 index;
	__u32 reg;
	__u32 bits;
	__u32 __pad0;
	char why[HYBRID_WHY_LEN];
};

/**
 * struct hybrid_binding_info - one binding, as HYBRID_IOC_LIST reports it
 * @id:		binding id
 * @pid:	tgid of the process that created the VM (the VMM)
 * @nr_vcpus:	vCPUs bound
 * @nr_types:	core types of its profile
 * @nr_clears:	feature clears in force
 * @__pad0:	0
 * @cpuid_exits: CPUID results of this VM the feature-clear hook rewrote
 *		(the profile is in KVM's own table: 0 while no clear is in force)
 */
struct hybrid_binding_info {
	__u32 id;
	__s32 pid;
	__u32 nr_vcpus;
	__u32 nr_types;
	__u32 nr_clears;
	__u32 __pad0;
	__u64 cpuid_exits;
};

/**
 * struct hybrid_list - argument of HYBRID_IOC_LIST
 * @size:	sizeof(struct hybrid_list)
 * @flags:	0
 * @nr:		in: entries of @entries; out: bindings (may exceed the input)
 * @entry_size:	sizeof(struct hybrid_binding_info) as the caller knows it
 * @entries:	user pointer to struct hybrid_binding_info[@nr]
 * @missed:	out: CPUID exits the clear hook could not rewrite (a kretprobe
 *		instance was missing; should stay 0)
 */
struct hybrid_list {
	__u32 size;
	__u32 flags;
	__u32 nr;
	__u32 entry_size;
	__u64 entries;
	__u64 missed;
};

/**
 * struct hybrid_cpuid2 - argument of HYBRID_IOC_CPUID2
 * @size:	sizeof(struct hybrid_cpuid2)
 * @flags:	0
 * @id:		the binding whose profile and feature clears to apply
 * @vcpu:	vCPU index
 * @nent:	in: entries in @entries (the VMM's table for that vCPU);
 *		out: entries of the result
 * @max_nent:	capacity of @entries; leaves the profile adds (0x1A for a
 *		GenuineIntel table, 0x80000026's levels for an AMD or Hygon
 *		one, made from @entries' own topology, cache subleaves) are
 *		appended (-E2BIG if full)
 * @entries:	user pointer to struct kvm_cpuid_entry2[@max_nent] (linux/kvm.h),
 *		rewritten in place, ready for KVM_SET_CPUID2
 */
struct hybrid_cpuid2 {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 vcpu;
	__u32 nent;
	__u32 max_nent;
	__u64 entries;
};

/**
 * struct hybrid_host_profile - argument of HYBRID_IOC_HOST_PROFILE
 * @size:	sizeof(struct hybrid_host_profile)
 * @flags:	0
 * @cpu:	the host CPU to read (CPUID runs on it)
 * @__pad0:	0
 * @type:	out: that CPU's values as a core type named "cpuN"
 */
struct hybrid_host_profile {
	__u32 size;
	__u32 flags;
	__u32 cpu;
	__u32 __pad0;
	struct hybrid_core_type type;
};

/*
 * Feature words: the CPUID registers that hold feature bits, in this order
 * (like libvirt's and QEMU's feature words). Pool baselines are computed
 * on them.
 */
#define HYBRID_NR_FEATURE_WORDS	14
/*  0 0x1 ECX          1 0x1 EDX          2 0x7.0 EBX        3 0x7.0 ECX
 *  4 0x7.0 EDX        5 0x7.1 EAX        6 0xD.1 EAX        7 0x80000001 ECX
 *  8 0x80000001 EDX   9 0x80000007 EDX  10 0x80000008 EBX  11 0x80000021 EAX
 * 12 0x6 EAX         13 0x40000001 EAX (KVM paravirtual features)
 */

/**
 * struct hybrid_features - the feature words of one host, profile or VM
 * @word:	HYBRID_NR_FEATURE_WORDS words, then 0
 */
struct hybrid_features {
	__u32 word[16];
};

#define HYBRID_BASELINE_CHECK	(1U << 0) /* also compare @check */

/**
 * struct hybrid_baseline - argument of HYBRID_IOC_BASELINE
 * @size:	sizeof(struct hybrid_baseline)
 * @flags:	0 or HYBRID_BASELINE_CHECK
 * @nr_sets:	entries of @sets, 1-64
 * @__pad0:	0
 * @sets:	user pointer to struct hybrid_features[@nr_sets] (hosts'
 *		KVM_GET_SUPPORTED_CPUID, profiles, VMs)
 * @baseline:	out: the features every set has (bitwise AND)
 * @check:	in (HYBRID_BASELINE_CHECK): a VM's features
 * @missing:	out: bits of @check that @baseline lacks
 * @nr_missing:	out: how many; 0 = the VM can run anywhere in the pool
 * @__pad1:	0
 */
struct hybrid_baseline {
	__u32 size;
	__u32 flags;
	__u32 nr_sets;
	__u32 __pad0;
	__u64 sets;
	struct hybrid_features baseline;
	struct hybrid_features check;
	struct hybrid_features missing;
	__u32 nr_missing;
	__u32 __pad1;
};

/**
 * struct hybrid_vm_features - argument of HYBRID_IOC_VM_FEATURES
 * @size:	sizeof(struct hybrid_vm_features)
 * @flags:	0
 * @id:		a binding
 * @vcpu:	vCPU index
 * @features:	out: what that vCPU's CPUID reports now: KVM's table with
 *		the binding's overrides and feature clears
 */
struct hybrid_vm_features {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 vcpu;
	struct hybrid_features features;
};

#define HYBRID_PMU_SET		(1U << 0) /* change @type's PMU leaf online */
#define HYBRID_PMU_MAX_EVENTS	8	  /* architectural events (0xA EBX) */

/**
 * struct hybrid_pmu - argument of HYBRID_IOC_PMU
 * @size:	sizeof(struct hybrid_pmu)
 * @flags:	0 (read) or HYBRID_PMU_SET
 * @id:		the binding
 * @type:	core type index (HYBRID_PMU_SET)
 * @gp_counters: HYBRID_PMU_SET: general counters the type's vCPUs report
 * @events_unavailable: HYBRID_PMU_SET: 0xA EBX, bit n = architectural
 *		event n not available
 * @fixed_mask:	HYBRID_PMU_SET: 0xA ECX, fixed counters available
 * @nevents:	out: entries of @events
 * @fixed_counter_bitmap: out: fixed counters any type may use
 * @events:	out: the architectural events (event select | umask << 8)
 *		any core type of the binding may use
 *
 * The vPMU of a KVM VM is filtered VM-wide (KVM_SET_PMU_EVENT_FILTER,
 * which only the VMM's process may issue). kvm_hybrid therefore tells each
 * vCPU what its core type offers through 0xA (changed online with
 * HYBRID_PMU_SET, read by the next CPUID) and computes the VM-wide allow
 * list here, for the VMM to apply as struct kvm_pmu_event_filter
 * (action KVM_PMU_EVENT_ALLOW). An event no core type offers is blocked
 * for every vCPU; one that some type offers is not enforced per vCPU.
 *
 * What a vCPU's 0xA reports is clamped, field by field, to what KVM's
 * vPMU of that vCPU counts (read at bind); a vCPU without a vPMU that 0xA
 * describes (AMD host, kvm.enable_pmu=0, vPMU turned off by the VMM)
 * keeps KVM's own 0xA. HYBRID_PMU_SET on a type none of whose vCPUs has
 * one fails with -EOPNOTSUPP (the reason in the kernel log).
 */
struct hybrid_pmu {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 type;
	__u32 gp_counters;
	__u32 events_unavailable;
	__u32 fixed_mask;
	__u32 nevents;
	__u32 fixed_counter_bitmap;
	__u32 __pad0;
	__u64 events[HYBRID_PMU_MAX_EVENTS];
};

/* struct hybrid_pmu_filter.flags */
#define HYBRID_FILTER_SET	(1U << 0) /* install @action/@events (else read) */
#define HYBRID_FILTER_CLEAR	(1U << 1) /* remove hvkit's: the VMM's is back */
/* struct hybrid_pmu_filter.action: KVM's KVM_PMU_EVENT_ALLOW/_DENY */
#define HYBRID_FILTER_ALLOW	0
#define HYBRID_FILTER_DENY	1
/* struct hybrid_pmu_filter.owner */
#define HYBRID_FILTER_NONE	0	/* KVM counts every event */
#define HYBRID_FILTER_HVKIT	1	/* this binding's, installed by hvkit */
#define HYBRID_FILTER_VMM	2	/* the VMM's (KVM_SET_PMU_EVENT_FILTER) */
#define HYBRID_FILTER_MAX_EVENTS 64

/**
 * struct hybrid_pmu_filter - argument of HYBRID_IOC_PMU_FILTER
 * @size:	sizeof(struct hybrid_pmu_filter)
 * @flags:	0 (read), HYBRID_FILTER_SET or HYBRID_FILTER_CLEAR
 * @id:		the binding
 * @action:	in (SET) and out: HYBRID_FILTER_ALLOW or HYBRID_FILTER_DENY
 * @nevents:	in (SET): entries of @events, at most HYBRID_FILTER_MAX_EVENTS;
 *		out: the events of the filter in force (only the first
 *		HYBRID_FILTER_MAX_EVENTS are copied)
 * @fixed_counter_bitmap: in (SET) and out: fixed counters (Intel) the
 *		action applies to
 * @owner:	out: HYBRID_FILTER_* of the filter in force after the call
 * @__pad0:	0
 * @events:	event select | unit mask << 8 | (event select bits 11:8) << 32,
 *		as KVM compares them (AMD64_RAW_EVENT_MASK_NB); other bits
 *		are refused
 *
 * Installs a vPMU event filter into the bound VM as KVM_SET_PMU_EVENT_FILTER
 * would (which only the VM's own process may issue), and reprograms every
 * vCPU's counters at once: a counter of an event the filter blocks stops
 * at the vCPU's next entry, which 6.1's own ioctl leaves to the guest's
 * next write of that counter. The filter is VM-wide in 6.1 (one per VM,
 * not per core type). The VMM's filter in force before is kept and put
 * back by HYBRID_FILTER_CLEAR and at unbind; a VMM that sets its own
 * filter afterwards replaces hvkit's, which then is neither put back nor
 * reinstalled. -EOPNOTSUPP when the VM has no vPMU (kvm.enable_pmu=0, or
 * the VMM turned it off); -E2BIG for too many events. 6.1 still adds the
 * instructions and branches KVM emulates to counters of those events
 * whatever the filter, and starts a counter the guest enabled while its
 * event was blocked only at the guest's next change of its event select
 * (Documentation/kvm_hybrid.rst).
 */
struct hybrid_pmu_filter {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 action;
	__u32 nevents;
	__u32 fixed_counter_bitmap;
	__u32 owner;
	__u32 __pad0;
	__u64 events[HYBRID_FILTER_MAX_EVENTS];
};

#define HYBRID_IOC_BIND		_IOWR(HVKIT_IOC_MAGIC, 0x30, struct hybrid_bind)
#define HYBRID_IOC_UNBIND	_IOWR(HVKIT_IOC_MAGIC, 0x31, struct hybrid_unbind)
#define HYBRID_IOC_FEATURE	_IOWR(HVKIT_IOC_MAGIC, 0x32, struct hybrid_feature)
#define HYBRID_IOC_LIST		_IOWR(HVKIT_IOC_MAGIC, 0x33, struct hybrid_list)
#define HYBRID_IOC_CPUID2	_IOWR(HVKIT_IOC_MAGIC, 0x34, struct hybrid_cpuid2)
#define HYBRID_IOC_HOST_PROFILE	_IOWR(HVKIT_IOC_MAGIC, 0x35, struct hybrid_host_profile)
#define HYBRID_IOC_BASELINE	_IOWR(HVKIT_IOC_MAGIC, 0x36, struct hybrid_baseline)
#define HYBRID_IOC_VM_FEATURES	_IOWR(HVKIT_IOC_MAGIC, 0x37, struct hybrid_vm_features)
#define HYBRID_IOC_PMU		_IOWR(HVKIT_IOC_MAGIC, 0x38, struct hybrid_pmu)
#define HYBRID_IOC_PMU_FILTER	_IOWR(HVKIT_IOC_MAGIC, 0x39, struct hybrid_pmu_filter)

/*
 * guest_pvtimer (guest) and pvtimer_agent (host, /dev/pvtimer_agent,
 * ioctls 0x50-0x6f)
 *
 * Transport: QEMU's ivshmem-doorbell device, served by "hvkitctl pvtimer
 * serve". Its shared memory (the device's BAR2) starts with struct
 * pvtimer_shm_header; slot N (struct pvtimer_slot) at slot_offset +
 * N * slot_size belongs to guest CPU N, and MSI-X vector N of the device
 * interrupts guest CPU N. The host agent fires slot N's deadline by
 * signalling the eventfd of vector N, which QEMU registered as a KVM irqfd.
 *
 * Times in the shared memory are guest TSC values. The agent converts them
 * with the vCPU's TSC offset (host TSC = guest TSC - offset), which the
 * server reads from KVM's debugfs and keeps current (PVTIMER_IOC_SET_TSC).
 *
 * Slot protocol: the guest makes @seq odd, writes @deadline and @gflags,
 * then makes @seq even again; the agent reads @seq, the fields, and @seq
 * again, and uses the fields only if both reads are the same even value.
 * The agent writes only the agent half of a slot and the header's
 * @agent_* fields.
 */
#define PVTIMER_SHM_MAGIC	0x31524d5450564b48ULL	/* "HKVPTMR1" */
#define PVTIMER_SHM_ABI		1
#define PVTIMER_MAX_VCPUS	64
#define PVTIMER_SLOT_SIZE	128
#define PVTIMER_SLOT_OFFSET	4096
/* The smallest shared memory that holds every slot (a power of two). */
#define PVTIMER_SHM_MIN_SIZE	16384

/**
 * struct pvtimer_shm_header - start of the shared memory (server-written)
 * @magic:	PVTIMER_SHM_MAGIC: what makes an ivshmem device a pvtimer one
 * @abi:	PVTIMER_SHM_ABI
 * @nr_slots:	slots (= MSI-X vectors = vCPUs the server was started for)
 * @slot_size:	PVTIMER_SLOT_SIZE
 * @slot_offset: PVTIMER_SLOT_OFFSET
 * @agent_gen:	agent: non-zero while an agent serves this memory, bumped
 *		at every attach
 * @agent_scan_ns: agent: its scan period while a guest uses it (at attach;
 *		slower while none does: the slots' @next_scan tells)
 */
struct pvtimer_shm_header {
	__u64 magic;
	__u32 abi;
	__u32 nr_slots;
	__u32 slot_size;
	__u32 slot_offset;
	__u64 agent_gen;
	__u64 agent_scan_ns;
};

/* struct pvtimer_slot.gflags */
#define PVTIMER_G_ARMED		(1U << 0)	/* @deadline is pending */

/* struct pvtimer_slot.gid_valid: @apic_id holds the slot's CPU */
#define PVTIMER_GID_APIC	(1U << 0)

/**
 * struct pvtimer_slot - one guest CPU's timer, shared with the agent
 * @seq:	guest: even when stable, odd while the guest writes
 * @gflags:	guest: PVTIMER_G_*
 * @deadline:	guest: the next expiry, guest TSC
 * @apic_id:	guest: the APIC ID of the CPU that owns the slot (KVM's
 *		vCPU id): the server checks that it reads the TSC offset of
 *		that vCPU for this slot
 * @gid_valid:	guest: PVTIMER_GID_APIC once @apic_id is written; 0 from
 *		the guest's probe until then and after it released the slot
 *		(older guests never set it). While no slot of any attached VM
 *		has it and no guest wrote a deadline for a second, the agent
 *		scans at its idle pace
 * @__gpad:	guest half padding (one cache line per side)
 * @fired_seq:	agent: the @seq whose deadline it fired last
 * @__apad0:	0
 * @heartbeat:	agent: guest TSC of its last scan of this slot
 * @next_scan:	agent: guest TSC by which it scans again; a deadline
 *		earlier than this may be seen too late (the guest then
 *		programs its local APIC itself)
 * @fired:	agent: deadlines fired for this slot
 * @__apad:	agent half padding
 */
struct pvtimer_slot {
	__u32 seq;
	__u32 gflags;
	__u64 deadline;
	__u32 apic_id;
	__u32 gid_valid;
	__u8 __gpad[40];
	__u32 fired_seq;
	__u32 __apad0;
	__u64 heartbeat;
	__u64 next_scan;
	__u64 fired;
	__u8 __apad[32];
};

/* pvtimer_slot_at() - slot @i of the shared memory that starts at @shm. */
static __inline__ struct pvtimer_slot *pvtimer_slot_at(void *shm, unsigned int i)
{
	return (struct pvtimer_slot *)((char *)shm + PVTIMER_SLOT_OFFSET +
				       (unsigned long)i * PVTIMER_SLOT_SIZE);
}

/* Lateness histograms: bucket 0 is < 1 us, bucket i < 2^i us, the last
 * bucket everything from 2^(PVTIMER_LAT_BUCKETS - 2) us on.
 */
#define PVTIMER_LAT_BUCKETS	16

/**
 * struct pvtimer_attach - argument of PVTIMER_IOC_ATTACH
 * @size:	sizeof(struct pvtimer_attach)
 * @flags:	0
 * @shm_addr:	the caller's mapping of the shared memory (read-write)
 * @shm_size:	its size: a power of two, at least PVTIMER_SHM_MIN_SIZE
 * @eventfds:	user pointer to __s32[@nr_vcpus]: vector N's eventfd
 * @tsc_offsets: user pointer to __s64[@nr_vcpus]: slot N's TSC offset (the
 *		offset of the vCPU that writes slot N)
 * @nr_vcpus:	1..PVTIMER_MAX_VCPUS, at most the header's nr_slots
 * @vm_pid:	the VMM's pid, for status and logs
 * @id:		out: the attachment's id (DETACH, SET_TSC)
 *
 * The attachment lives until PVTIMER_IOC_DETACH or until the file it was
 * made on is closed (a crashed server detaches everything it attached).
 */
struct pvtimer_attach {
	__u32 size;
	__u32 flags;
	__u64 shm_addr;
	__u64 shm_size;
	__u64 eventfds;
	__u64 tsc_offsets;
	__u32 nr_vcpus;
	__u32 vm_pid;
	__u32 id;
	__u32 __pad0;
};

/**
 * struct pvtimer_detach - argument of PVTIMER_IOC_DETACH
 * @size:	sizeof(struct pvtimer_detach)
 * @flags:	0
 * @id:		from PVTIMER_IOC_ATTACH
 * @__pad0:	0
 */
struct pvtimer_detach {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 __pad0;
};

/**
 * struct pvtimer_set_tsc - argument of PVTIMER_IOC_SET_TSC
 * @size:	sizeof(struct pvtimer_set_tsc)
 * @flags:	0
 * @id:		from PVTIMER_IOC_ATTACH
 * @vcpu:	the slot whose TSC offset changed (its vCPU's, or another
 *		vCPU's once the guest named the slot's CPU)
 * @tsc_offset:	its new offset (host TSC = guest TSC - offset)
 */
struct pvtimer_set_tsc {
	__u32 size;
	__u32 flags;
	__u32 id;
	__u32 vcpu;
	__s64 tsc_offset;
};

#define PVTIMER_STATUS_RESET	(1U << 0)	/* zero the counters after reading */

/**
 * struct pvtimer_status - argument of PVTIMER_IOC_STATUS (the agent)
 * @size:	sizeof(struct pvtimer_status)
 * @flags:	0 or PVTIMER_STATUS_RESET
 * @agent_cpu:	out: the CPU the agent runs on
 * @nr_attached: out: attachments (VMs)
 * @nr_vcpus:	out: slots served, over all attachments
 * @__pad0:	0
 * @scan_ns:	out: scan period
 * @scans:	out: scans done
 * @armed:	out: deadlines taken from slots (hrtimers armed)
 * @fired:	out: deadlines fired (eventfd signalled)
 * @torn:	out: slot reads that raced a guest write (retried next scan)
 * @past:	out: deadlines already due when seen (fired at once)
 * @agent_ns:	out: CPU time of the agent thread
 * @late_sum_ns: out: sum of the agent's firing lateness (hrtimer vs deadline)
 * @late_max_ns: out: its maximum
 * @late_hist:	out: its histogram (PVTIMER_LAT_BUCKETS)
 * @early:	out: hrtimers that expired before the guest TSC reached the
 *		deadline (re-armed for the rest, never fired early)
 * @idle_scans:	out: of @scans, those at @idle_scan_ns: no slot of any
 *		attached VM was claimed by a guest (gid_valid) or written
 *		in the last second
 * @idle_scan_ns: out: the scan period while no guest uses the agent
 */
struct pvtimer_status {
	__u32 size;
	__u32 flags;
	__u32 agent_cpu;
	__u32 nr_attached;
	__u32 nr_vcpus;
	__u32 __pad0;
	__u64 scan_ns;
	__u64 scans;
	__u64 armed;
	__u64 fired;
	__u64 torn;
	__u64 past;
	__u64 agent_ns;
	__u64 late_sum_ns;
	__u64 late_max_ns;
	__u64 late_hist[PVTIMER_LAT_BUCKETS];
	__u64 early;
	__u64 idle_scans;
	__u64 idle_scan_ns;
};

#define PVTIMER_IOC_ATTACH	_IOWR(HVKIT_IOC_MAGIC, 0x50, struct pvtimer_attach)
#define PVTIMER_IOC_DETACH	_IOWR(HVKIT_IOC_MAGIC, 0x51, struct pvtimer_detach)
#define PVTIMER_IOC_SET_TSC	_IOWR(HVKIT_IOC_MAGIC, 0x52, struct pvtimer_set_tsc)
/*
 * STATUS keeps the number of its first version (a 224-byte struct, up to
 * @late_hist): the struct grows at its end, its @size says how much of it
 * the caller knows, so old and new tools work with old and new modules.
 */
#define PVTIMER_STATUS_SIZE_VER0	224
#define PVTIMER_IOC_STATUS	_IOC(_IOC_READ | _IOC_WRITE, HVKIT_IOC_MAGIC, 0x53, \
				     PVTIMER_STATUS_SIZE_VER0)

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
 * @poll_misses: polls that ran out of their window (the CPU halts next,
 *		unless @miss_unhalted)
 * @poll_ns:	time spent polling
 * @halts:	periods that halted (misses but @miss_unhalted, and periods
 *		with no window)
 * @halt_ns:	time spent halted
 * @backoff_steal: periods that did not poll because of steal time
 * @backoff_smt: periods that did not poll because an SMT sibling was busy
 * @window_ns:	the window the CPU used last
 * @steal_pct:	the CPU's steal time over the last sample, in %
 * @__pad0:	0
 * @wake_ns:	the CPU's halt wake-up latency, smoothed: time from a timer's
 *		expiry to the CPU running again, over halts that timer ended
 *		(0: none measured yet; not zeroed by a reset)
 * @wake_last_ns: the last such sample
 * @wake_samples: halts measured (the timer-ended ones), since the last reset
 * @benefit_ns:	what the adaptive policy takes a poll hit to save on this
 *		CPU now: the benefit_ns parameter if set, else @wake_ns, else
 *		20000 until the first measurement
 * @miss_unhalted: misses whose period ended (a wakeup) or went on in another
 *		state before the halt that follows a miss
 * @miss_poll_ns: with two states, the misses' part of @poll_ns, which
 *		cpuidle accounts to POLL (state0's time); 0 with one state
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
	__u64 wake_ns;
	__u64 wake_last_ns;
	__u64 wake_samples;
	__u64 benefit_ns;
	__u64 miss_unhalted;
	__u64 miss_poll_ns;
};

#define IDLEPOLL_STATS_RESET	(1U << 0)	/* after reading; CAP_SYS_ADMIN */

/**
 * struct idlepoll_stats - argument of IDLEPOLL_IOC_STATS
 * @size:	sizeof(struct idlepoll_stats)
 * @flags:	0 or IDLEPOLL_STATS_RESET
 * @nr_cpus:	in: entries of @cpus; out: entries filled (possible CPUs,
 *		at most the input value)
 * @cpu_size:	in: sizeof(struct idlepoll_cpu_stats) as the caller knows it;
 *		at least 92 (through @steal_pct, the first version): a shorter
 *		entry gets the fields it covers, a longer one zeroes the rest
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

/* ------------------------------------------------------------ vfio_preserve */

/*
 * vfio_preserve is a vfio-pci variant driver (driver name "vfio_preserve",
 * bound through the device's driver_override). It has no device node: its
 * control is a VFIO device feature on the VFIO device fd, and sysfs files
 * on the PCI device while it is bound (.../preserve, .../preserve_flags,
 * .../preserve_status); Documentation/vfio_preserve.rst.
 *
 * HVKIT_VFIO_FEATURE_PRESERVE: VFIO_DEVICE_FEATURE (<linux/vfio.h>) with
 * this feature index and struct hvkit_vfio_preserve as data.
 *   - VFIO_DEVICE_FEATURE_PROBE: 0 when the device is bound to vfio_preserve
 *     (vfio-pci answers -ENOTTY);
 *   - VFIO_DEVICE_FEATURE_GET: the flags, what the device really keeps now
 *     (@kept) and its counters;
 *   - VFIO_DEVICE_FEATURE_SET: arms or disarms; @flags is the input,
 *     every other field must be zero (-EINVAL): clear what GET returned.
 *     Turning reset-on-release off needs CAP_SYS_ADMIN, or the device's
 *     allow_user_arm set by an administrator (-EPERM).
 * The index is far above the kernel's own features (1-10 in 2026).
 */
#define HVKIT_VFIO_FEATURE_PRESERVE	0x4856

/*
 * flags: what the owner asks for.
 *   ARMED: keep state over close/open and kexec;
 *   NO_USER_RESET: also turn VFIO_DEVICE_RESET into a no-op (needs ARMED).
 */
#define HVKIT_VFIO_PRESERVE_ARMED		(1U << 0)
#define HVKIT_VFIO_PRESERVE_NO_USER_RESET	(1U << 1)
#define HVKIT_VFIO_PRESERVE_FLAGS		(HVKIT_VFIO_PRESERVE_ARMED | \
						 HVKIT_VFIO_PRESERVE_NO_USER_RESET)

/*
 * kept: what the device really keeps now (0 while disarmed).
 *   NO_RESET: open/close do no function, PM or bus reset;
 *   MASTER: bus master and decode stay on over close/open;
 *   CONFIG: config space as the session left it is kept over close/open
 *     (vfio-pci would write back its open-time copy at close), but for
 *     INTx (left disabled), the MSI/MSI-X enables and AER status;
 *   KEXEC: recorded in kram, bound again after kexec;
 *   RESTORED: this boot's binding came from a kram record;
 *   NO_USER_RESET: VFIO_DEVICE_RESET is skipped.
 */
#define HVKIT_VFIO_KEEP_NO_RESET	(1U << 0)
#define HVKIT_VFIO_KEEP_MASTER		(1U << 1)
#define HVKIT_VFIO_KEEP_CONFIG		(1U << 2)
#define HVKIT_VFIO_KEEP_KEXEC		(1U << 3)
#define HVKIT_VFIO_KEEP_RESTORED	(1U << 4)
#define HVKIT_VFIO_KEEP_NO_USER_RESET	(1U << 5)

/**
 * struct hvkit_vfio_preserve - data of HVKIT_VFIO_FEATURE_PRESERVE
 * @flags:	SET: HVKIT_VFIO_PRESERVE_* wanted; GET: current
 * @kept:	GET: HVKIT_VFIO_KEEP_*
 * @resets_skipped: GET: resets vfio-pci would have done and did not
 * @resets_done: GET: resets done by this driver (disarmed closes/opens,
 *		VFIO_DEVICE_RESET)
 * @saved_generation: GET: kram generation of the last saved record, 0 if
 *		none (kram not attached, or disarmed)
 */
struct hvkit_vfio_preserve {
	__u32 flags;
	__u32 kept;
	__u64 resets_skipped;
	__u64 resets_done;
	__u64 saved_generation;
};

#endif /* _UAPI_LINUX_HVKIT_H */
