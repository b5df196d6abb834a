/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hvkit compat layer, force-included into every hvkit object by the root
 * Kbuild. Features are detected by compiling probes against the target
 * kernel (compat/conftest.sh, results in compat/generated/hvkit_config.h);
 * nothing here tests kernel version numbers or distributions.
 *
 * Rule: a stand-in lives here only when a probe says the kernel lacks the
 * real thing, so core files carry no #if.
 */
#ifndef _HVKIT_COMPAT_H
#define _HVKIT_COMPAT_H

#include "generated/hvkit_config.h"

#ifndef HAVE_COPY_STRUCT_FROM_USER
/* Before 5.4: copy_struct_from_user() and check_zeroed_user() are missing. */
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static inline int hvkit_compat_copy_struct_from_user(void *dst, size_t ksize,
						     const void __user *src,
						     size_t usize)
{
	size_t size = min(ksize, usize);
	size_t i;
	u8 c;

	if (usize < ksize)
		memset(dst + size, 0, ksize - usize);
	for (i = ksize; i < usize; i++) {
		if (get_user(c, (const u8 __user *)src + i))
			return -EFAULT;
		if (c)
			return -E2BIG;
	}
	return copy_from_user(dst, src, size) ? -EFAULT : 0;
}

#define copy_struct_from_user hvkit_compat_copy_struct_from_user
#endif

#endif /* _HVKIT_COMPAT_H */
