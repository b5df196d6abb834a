// SPDX-License-Identifier: GPL-2.0
/* HVKIT_PROBE HAVE_COPY_STRUCT_FROM_USER: extensible ioctl args (5.4+) */
#include <linux/uaccess.h>

int hvkit_probe(void *dst, const void __user *src);
int hvkit_probe(void *dst, const void __user *src)
{
	return copy_struct_from_user(dst, 8, src, 16);
}
