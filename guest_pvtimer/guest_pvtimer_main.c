// SPDX-License-Identifier: GPL-2.0
/*
 * guest_pvtimer: exitless guest timer through a host agent.
 */
#include <linux/module.h>
#include <hvkit/hvkit.h>

static int __init guest_pvtimer_init(void)
{
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;
}

static void __exit guest_pvtimer_exit(void)
{
	pr_info("unloaded\n");
}

module_init(guest_pvtimer_init);
module_exit(guest_pvtimer_exit);

MODULE_DESCRIPTION("hvkit guest_pvtimer: exitless guest timer through a host agent");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
