// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_keeper: hold one idle KVM VM (in-kernel irqchip, one vCPU that never
 * runs) for as long as the test VM lives. Started by PID 1 of a test VM
 * that loads KVM (lib/init.sh), it is a workaround for the emulator, not
 * a test.
 *
 * Why: every KVM VM created or destroyed flips a static key when it is
 * the only one (preempt_notifier_inc/dec: a site in __schedule(); a new
 * vCPU's local APIC: apic_sw_disabled). The kernel patches such a site
 * with text_poke_bp() (an INT3, then the new bytes) while the other vCPU
 * runs it. Under QEMU 7.2's multi-threaded TCG the other vCPU can keep
 * executing a stale translation that still holds the INT3: the kernel's
 * handler sees the patched bytes, rewinds and retries, forever. Seen on
 * 2026-12-02: both L1 vCPUs looping between __schedule+0x2ab (memory: a
 * 5-byte NOP) and exc_int3, IRQs off, at the start of an L2 (group
 * nested-idlepoll, no hvkit code in L1; the same freeze in bench-vfio-vmm
 * at a QEMU restart). With this VM alive the keys never go back to 0, so
 * starting and stopping L2 VMs patches nothing.
 *
 * Creating this VM flips the keys once itself: PID 1 takes the other CPUs
 * offline around it (lib/init.sh), so no other vCPU runs the sites being
 * patched. It creates FILE (argv[1]) once the VM and its vCPU exist.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

int main(int argc, char **argv)
{
	int kvm, vm, vcpu, ready;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("kvm_keeper: /dev/kvm");
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		perror("kvm_keeper: KVM_CREATE_VM");
		return 1;
	}
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
		perror("kvm_keeper: KVM_CREATE_IRQCHIP");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		perror("kvm_keeper: KVM_CREATE_VCPU");
	printf("kvm_keeper: holding an idle VM (vcpu fd %d)\n", vcpu);
	fflush(stdout);
	if (argc > 1) {
		ready = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (ready >= 0)
			close(ready);
	}
	for (;;)
		pause();
}
