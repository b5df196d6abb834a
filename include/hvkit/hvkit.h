/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hvkit: helpers shared by the hvkit modules (kernel side, not uapi).
 * Header-only on purpose: every hvkit module stays a self-contained .ko.
 */
#ifndef _HVKIT_HVKIT_H
#define _HVKIT_HVKIT_H

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <linux/trace_events.h>
#include <linux/types.h>
#include <linux/uaccess.h>
#include <uapi/linux/hvkit.h>

/* HVKIT_VERSION comes from dkms.conf's PACKAGE_VERSION through Kbuild. */
#ifndef HVKIT_VERSION
#error "HVKIT_VERSION is set by the root Kbuild"
#endif

/**
 * hvkit_arg_size_valid() - is @usize an acceptable argument size?
 * @usize:	the size field userspace passed
 * @min_size:	the smallest struct this command ever had (its first version)
 *
 * Return: 0, or -EINVAL when @usize is below @min_size or above
 * HVKIT_ARG_MAX_SIZE.
 */
static inline int hvkit_arg_size_valid(u32 usize, size_t min_size)
{
	if (usize < min_size || usize > HVKIT_ARG_MAX_SIZE)
		return -EINVAL;
	return 0;
}

/**
 * hvkit_flags_valid() - are all bits of @flags known?
 * @flags:	flags from userspace
 * @known:	mask of the flags the command understands
 *
 * Return: 0, or -EINVAL when an unknown flag is set.
 */
static inline int hvkit_flags_valid(u64 flags, u64 known)
{
	return (flags & ~known) ? -EINVAL : 0;
}

/**
 * hvkit_copy_arg_from_user() - fetch an extensible ioctl argument
 * @karg:	kernel copy, @ksize bytes
 * @ksize:	sizeof the kernel's struct
 * @min_size:	smallest valid user size
 * @uarg:	user pointer; its first __u32 is the size
 * @usize:	out: the size userspace declared
 *
 * Return: 0, -EFAULT, -EINVAL (bad size) or -E2BIG (unknown non-zero tail).
 */
static inline int hvkit_copy_arg_from_user(void *karg, size_t ksize,
					   size_t min_size,
					   const void __user *uarg, u32 *usize)
{
	int ret;

	if (get_user(*usize, (const u32 __user *)uarg))
		return -EFAULT;
	ret = hvkit_arg_size_valid(*usize, min_size);
	if (ret)
		return ret;
	return copy_struct_from_user(karg, ksize, uarg, *usize);
}

/**
 * hvkit_copy_arg_to_user() - return an ioctl argument, at most @usize bytes
 */
static inline int hvkit_copy_arg_to_user(void __user *uarg, const void *karg,
					 size_t ksize, u32 usize)
{
	return copy_to_user(uarg, karg, min_t(size_t, ksize, usize)) ?
		-EFAULT : 0;
}

/**
 * hvkit_fill_info() - answer HVKIT_IOC_GET_INFO for module @name
 * @info:	the validated argument (size and flags already checked)
 * @name:	module name
 * @features:	module-specific feature bits
 *
 * Return: 0, or -EINVAL if flags or padding are not zero.
 */
static inline int hvkit_fill_info(struct hvkit_info *info, const char *name,
				  u64 features)
{
	if (hvkit_flags_valid(info->flags, 0) || info->__pad0)
		return -EINVAL;
	info->api_version = HVKIT_API_VERSION;
	info->features = features;
	strscpy(info->module, name, sizeof(info->module));
	strscpy(info->version, HVKIT_VERSION, sizeof(info->version));
	return 0;
}

/**
 * hvkit_ioctl_get_info() - the whole HVKIT_IOC_GET_INFO command
 */
static inline long hvkit_ioctl_get_info(void __user *uarg, const char *name,
					u64 features)
{
	struct hvkit_info info;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&info, sizeof(info),
				       offsetofend(struct hvkit_info, version),
				       uarg, &usize);
	if (ret)
		return ret;
	ret = hvkit_fill_info(&info, name, features);
	if (ret)
		return ret;
	return hvkit_copy_arg_to_user(uarg, &info, sizeof(info), usize);
}

/**
 * hvkit_trace_own_events() - enable a module's init-time trace events
 * @system:	the module's TRACE_SYSTEM
 * @events:	the events its init fires, NULL-terminated
 *
 * 6.1 gives no simple way to enable a module's events before the module's
 * init runs: they appear in tracefs while it is loading (at
 * MODULE_STATE_COMING, just before init), and trace_event= works at boot
 * only. A module whose init makes decisions worth tracing (kram's attach,
 * vfio_preserve's kram records) calls this first when its trace_init
 * parameter is set. Only @events, not the whole system: its per-page events
 * would fill a ring buffer nobody has sized yet. They go to the top-level
 * buffer and stay enabled until turned off in tracefs. If the init then
 * fails, unloading the module clears every buffer its events were ever
 * enabled in, all of it (trace_module_remove_events()); dmesg tells the
 * failure either way.
 */
static inline void hvkit_trace_own_events(const char *system,
					  const char *const *events)
{
	int ret;

	if (!IS_ENABLED(CONFIG_EVENT_TRACING)) {
		pr_warn("trace_init=1: this kernel has no event tracing (CONFIG_EVENT_TRACING)\n");
		return;
	}
	for (; *events; events++) {
		ret = trace_set_clr_event(system, *events, 1);
		if (ret)
			pr_warn("trace_init=1: cannot enable events/%s/%s: %d\n",
				system, *events, ret);
		else
			pr_info("trace_init=1: events/%s/%s enabled in the top-level trace buffer\n",
				system, *events);
	}
}

#endif /* _HVKIT_HVKIT_H */
