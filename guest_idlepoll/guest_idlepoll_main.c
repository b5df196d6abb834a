// SPDX-License-Identifier: GPL-2.0
/*
 * guest_idlepoll: adaptive idle polling for KVM guests.
 */
#include <linux/module.h>
#include <hvkit/hvkit.h>

static int __init guest_idlepoll_init(void)
{
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;
}

static void __exit guest_idlepoll_exit(void)
{
	pr_info("unloaded\n");
}

module_init(guest_idlepoll_init);
module_exit(guest_idlepoll_exit);

MODULE_DESCRIPTION("hvkit guest_idlepoll: adaptive idle polling for KVM guests");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
