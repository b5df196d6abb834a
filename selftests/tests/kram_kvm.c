// SPDX-License-Identifier: GPL-2.0
/*
 * A KVM guest whose memory is a kram area: create an area, mmap its device
 * (MAP_SHARED), give the mapping to KVM as the guest's only memory slot, run
 * real-mode guest code that writes a value, and read that value through the
 * area device. The smallest end-to-end check of "guest RAM in kram" before
 * a whole L2 Linux (kram_l2ram.sh). Needs /dev/kvm (group kram: KMODS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include <linux/kvm.h>
#include "kselftest.h"

#define AREA	"kst_kvm"
#define PAGES	16

static int kram_ioctl(unsigned long cmd, void *arg)
{
	int fd = open("/dev/kram", O_RDWR), ret;

	if (fd < 0)
		return -errno;
	ret = ioctl(fd, cmd, arg) ? -errno : 0;
	close(fd);
	return ret;
}

static void delete_area(void)
{
	struct kram_area_delete d = { .size = sizeof(d) };

	strcpy(d.name, AREA);
	kram_ioctl(KRAM_IOC_AREA_DELETE, &d);
}

int main(void)
{
	/* mov ax, 0x1234 + runs; mov [0x2000], ax; hlt */
	static const __u8 code[] = { 0xb8, 0x34, 0x12, 0x01, 0xc8,
					0xa3, 0x00, 0x20, 0xf4 };
	struct kram_area_create c = { .size = sizeof(c), .nr_pages = PAGES };
	struct kvm_userspace_memory_region slot = {};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int kvm, vm, vcpu, afd, ret, i, runs = 200, bad = 0;
	__u16 got = 0;
	__u8 *mem;

	ksft_print_header();
	ksft_set_plan(4);
	kvm = open("/dev/kvm", O_RDWR);
	/* The group loads kvm_amd and gives kram a region: both must be there. */
	if (kvm < 0)
		ksft_exit_fail_msg("/dev/kvm: %s\n", strerror(errno));
	delete_area();
	strcpy(c.name, AREA);
	ret = kram_ioctl(KRAM_IOC_AREA_CREATE, &c);
	if (ret == -ENODEV)
		ksft_exit_fail_msg("AREA_CREATE: no kram region attached\n");
	if (ret)
		ksft_exit_fail_msg("AREA_CREATE: %s\n", strerror(-ret));
	for (i = 0; i < 50; i++) {
		afd = open("/dev/kram_areas/" AREA, O_RDWR);
		if (afd >= 0)
			break;
		usleep(20000);
	}
	if (afd < 0)
		ksft_exit_fail_msg("open area: %s\n", strerror(errno));
	mem = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	if (mem == MAP_FAILED)
		ksft_exit_fail_msg("mmap area: %s\n", strerror(errno));
	memset(mem, 0, PAGES * 4096);
	memcpy(mem + 0x1000, code, sizeof(code));
	ksft_test_result_pass("area mapped, guest code written through the mapping\n");

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		ksft_exit_fail_msg("KVM_CREATE_VM: %s\n", strerror(errno));
	slot.memory_size = PAGES * 4096;
	slot.userspace_addr = (uintptr_t)mem;
	ret = ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot);
	ksft_test_result(!ret, "KVM accepts the kram mapping as guest memory\n");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
		   PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (vcpu < 0 || run == MAP_FAILED)
		ksft_exit_fail_msg("vcpu: %s\n", strerror(errno));

	/* Each run: cx = run number, the guest stores 0x1234 + cx. */
	for (i = 0; i < runs; i++) {
		if (ioctl(vcpu, KVM_GET_SREGS, &sregs))
			ksft_exit_fail_msg("KVM_GET_SREGS: %s\n", strerror(errno));
		sregs.cs.base = 0;
		sregs.cs.selector = 0;
		sregs.ds.base = 0;
		sregs.ds.selector = 0;
		ioctl(vcpu, KVM_SET_SREGS, &sregs);
		memset(&regs, 0, sizeof(regs));
		regs.rip = 0x1000;
		regs.rcx = i;
		regs.rflags = 2;
		ioctl(vcpu, KVM_SET_REGS, &regs);
		if (ioctl(vcpu, KVM_RUN, 0) || run->exit_reason != KVM_EXIT_HLT) {
			ksft_print_msg("run %d: exit reason %u, errno %d\n", i,
				       run->exit_reason, errno);
			bad++;
			break;
		}
		if (pread(afd, &got, sizeof(got), 0x2000) != sizeof(got) ||
		    got != (__u16)(0x1234 + i))
			bad++;
	}
	ksft_test_result(!bad, "%d guest runs: each store reached the kram area (last %#x)\n",
			 runs, got);
	close(vcpu);
	close(vm);
	munmap(mem, PAGES * 4096);
	close(afd);
	{
		struct kram_area_delete d = { .size = sizeof(d) };

		strcpy(d.name, AREA);
		ret = kram_ioctl(KRAM_IOC_AREA_DELETE, &d);
	}
	ksft_test_result(!ret, "area deleted after the VM closed\n");
	close(kvm);
	ksft_finished();
}
