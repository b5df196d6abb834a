// SPDX-License-Identifier: GPL-2.0
/*
 * kram: persistent fixed-page allocator surviving kexec.
 *
 * Control interface: the misc device /dev/kram (ioctls in
 * include/uapi/linux/hvkit.h).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <hvkit/hvkit.h>

static long kram_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case HVKIT_IOC_GET_INFO:
		return hvkit_ioctl_get_info(uarg, KBUILD_MODNAME, 0);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kram_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kram_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kram_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kram",
	.fops	= &kram_fops,
	.mode	= 0600,
};

static int __init kram_init(void)
{
	int ret;

	ret = misc_register(&kram_misc);
	if (ret) {
		pr_err("cannot register /dev/kram: %d\n", ret);
		return ret;
	}
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;
}

static void __exit kram_exit(void)
{
	misc_deregister(&kram_misc);
	pr_info("unloaded\n");
}

module_init(kram_init);
module_exit(kram_exit);

MODULE_DESCRIPTION("hvkit kram: persistent fixed-page allocator surviving kexec");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
