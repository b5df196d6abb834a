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

#endif /* _UAPI_LINUX_HVKIT_H */
