// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_preserve: VFIO-PCI reset suppression across VMM restarts and kexec.
 */
#include <linux/module.h>
#include <hvkit/hvkit.h>

static int __init vfio_preserve_init(void)
{
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;
}

static void __exit vfio_preserve_exit(void)
{
	pr_info("unloaded\n");
}

module_init(vfio_preserve_init);
module_exit(vfio_preserve_exit);

MODULE_DESCRIPTION("hvkit vfio_preserve: VFIO-PCI reset suppression across VMM restarts and kexec");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
