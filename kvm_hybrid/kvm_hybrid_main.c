// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid: hybrid vCPU profiles and online CPUID/vPMU control for KVM.
 *
 * Control interface: the misc device /dev/kvm_hybrid (ioctls in
 * include/uapi/linux/hvkit.h).
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <hvkit/hvkit.h>

static long kvm_hybrid_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case HVKIT_IOC_GET_INFO:
		return hvkit_ioctl_get_info(uarg, KBUILD_MODNAME, 0);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvm_hybrid_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvm_hybrid_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvm_hybrid_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvm_hybrid",
	.fops	= &kvm_hybrid_fops,
	.mode	= 0600,
};

static int __init kvm_hybrid_init(void)
{
	int ret;

	ret = misc_register(&kvm_hybrid_misc);
	if (ret) {
		pr_err("cannot register /dev/kvm_hybrid: %d\n", ret);
		return ret;
	}
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;
}

static void __exit kvm_hybrid_exit(void)
{
	misc_deregister(&kvm_hybrid_misc);
	pr_info("unloaded\n");
}

module_init(kvm_hybrid_init);
module_exit(kvm_hybrid_exit);

MODULE_DESCRIPTION("hvkit kvm_hybrid: hybrid vCPU profiles and online CPUID/vPMU control for KVM");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
