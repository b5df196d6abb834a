/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A KVM VM built with raw ioctls for the kvm_hybrid tests (hybrid_vm.c,
 * hybrid_bench.c, hybrid_stress.c): real-mode guest code at CODE, vCPUs with KVM's supported
 * CPUID table and their own APIC ids, and the 2 P + 2 E test profile.
 */
#ifndef HYBRID_KVM_H
#define HYBRID_KVM_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include <linux/kvm.h>
#include "kselftest.h"

#define NR_VCPUS	4
#define MEM_SIZE	0x10000
#define CODE		0x1000
#define MAX_ENT		256

struct vm {
	int vm;
	int vcpu[NR_VCPUS];
	struct kvm_run *run[NR_VCPUS];
	void *mem;
	/*
	 * Set before vm_create(): in-kernel LAPIC. Read by vm_create(): a
	 * struct vm on the stack must be initialized ({ 0 }), or garbage
	 * here gives the VM an irqchip and "cpuid; hlt" halts in the kernel
	 * for good (hybrid_vm hung so once linked dynamically).
	 */
	bool irqchip;
};

static int kvm_fd, hyb_fd, run_size;
static struct kvm_cpuid2 *supported;

static inline int hyb(unsigned long cmd, void *arg)
{
	return ioctl(hyb_fd, cmd, arg) ? -errno : 0;
}

static inline struct kvm_cpuid2 *cpuid2_alloc(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_ENT * sizeof(c->entries[0]));

	if (!c)
		ksft_exit_fail_msg("out of memory\n");
	c->nent = MAX_ENT;
	return c;
}

/*
 * The vendor set_cpuid() gives a guest, whatever the host's: "GenuineIntel"
 * (KVM's Intel CPUID rules, and kvm_hybrid shows a profile's Intel lines:
 * 0x1A, 7.EDX[15]), or with cpuid_amd "AuthenticAMD" (the AMD lines:
 * 0x80000026). cpuid_intel: GenuineIntel with basic leaves up to 0xD only.
 */
static bool cpuid_intel, cpuid_amd;

/* KVM's supported table with this vCPU's APIC id, as a VMM would set it. */
static inline void set_cpuid(int vcpu, int id)
{
	struct kvm_cpuid2 *c = cpuid2_alloc();
	__u32 i;

	memcpy(c, supported, sizeof(*c) + supported->nent * sizeof(c->entries[0]));
	if (cpuid_intel) {
		/* Basic leaves up to 0xD on every host: 0xE and up are out of range. */
		__u32 k = 0;

		for (i = 0; i < c->nent; i++)
			if (c->entries[i].function < 0xe ||
			    c->entries[i].function >= 0x40000000)
				c->entries[k++] = c->entries[i];
		c->nent = k;
	}
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | (__u32)id << 24;
		if (e->function == 0 && cpuid_intel)
			e->eax = 0xd;
		if (e->function == 0 && !cpuid_amd) {
			e->ebx = 0x756e6547;	/* "Genu" */
			e->edx = 0x49656e69;	/* "ineI" */
			e->ecx = 0x6c65746e;	/* "ntel" */
		} else if (e->function == 0) {
			e->ebx = 0x68747541;	/* "Auth" */
			e->edx = 0x69746e65;	/* "enti" */
			e->ecx = 0x444d4163;	/* "cAMD" */
		}
		if (e->function == 0xb || e->function == 0x1f ||
		    e->function == 0x8000001e)
			e->edx = id;
	}
	if (ioctl(vcpu, KVM_SET_CPUID2, c))
		ksft_exit_fail_msg("KVM_SET_CPUID2: %s\n", strerror(errno));
	free(c);
}

static inline void vm_create_code(struct vm *v, int nr, const __u8 *code, size_t len)
{
	struct kvm_userspace_memory_region slot = { .memory_size = MEM_SIZE };
	int i;

	v->vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		ksft_exit_fail_msg("KVM_CREATE_VM: %s\n", strerror(errno));
	/* In-kernel LAPIC: vCPUs other than 0 start as APs waiting for a SIPI. */
	if (v->irqchip && ioctl(v->vm, KVM_CREATE_IRQCHIP, 0))
		ksft_exit_fail_msg("KVM_CREATE_IRQCHIP: %s\n", strerror(errno));
	v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->mem == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	memcpy((char *)v->mem + CODE, code, len);
	slot.userspace_addr = (uintptr_t)v->mem;
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &slot))
		ksft_exit_fail_msg("memory slot: %s\n", strerror(errno));
	for (i = 0; i < nr; i++) {
		v->vcpu[i] = ioctl(v->vm, KVM_CREATE_VCPU, i);
		if (v->vcpu[i] < 0)
			ksft_exit_fail_msg("KVM_CREATE_VCPU %d: %s\n", i, strerror(errno));
		v->run[i] = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 v->vcpu[i], 0);
		if (v->run[i] == MAP_FAILED)
			ksft_exit_fail_msg("mmap run: %s\n", strerror(errno));
		set_cpuid(v->vcpu[i], i);
	}
}

/*
 * Guest code "l: mov eax, esi; xor ecx, ecx; cpuid; dec edi; jnz l; hlt":
 * CPUID leaf ESI, EDI times, per KVM_RUN (hybrid_bench.c, hybrid_stress.c).
 */
static inline void vm_create_cpuid_loop(struct vm *v, int nr)
{
	static const __u8 loop[] = { 0x66, 0x89, 0xf0, 0x66, 0x31, 0xc9, 0x0f, 0xa2,
				     0x66, 0x4f, 0x75, 0xf4, 0xf4 };

	vm_create_code(v, nr, loop, sizeof(loop));
}

/* Guest code "cpuid; hlt": guest_cpuid() runs one CPUID per KVM_RUN. */
static inline void vm_create(struct vm *v, int nr)
{
	static const __u8 code[] = { 0x0f, 0xa2, 0xf4 };

	vm_create_code(v, nr, code, sizeof(code));
}

static inline void vm_destroy(struct vm *v, int nr)
{
	int i;

	for (i = 0; i < nr; i++) {
		munmap(v->run[i], run_size);
		close(v->vcpu[i]);
	}
	close(v->vm);
	munmap(v->mem, MEM_SIZE);
}

/* Run vCPU @i of @v from CODE in real mode with @regs until it halts. */
static inline void vcpu_run_to_hlt(struct vm *v, int i, struct kvm_regs *regs)
{
	struct kvm_sregs sregs;

	if (ioctl(v->vcpu[i], KVM_GET_SREGS, &sregs))
		ksft_exit_fail_msg("KVM_GET_SREGS: %s\n", strerror(errno));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ioctl(v->vcpu[i], KVM_SET_SREGS, &sregs);
	regs->rip = CODE;
	regs->rflags = 2;
	ioctl(v->vcpu[i], KVM_SET_REGS, regs);
	if (ioctl(v->vcpu[i], KVM_RUN, 0) || v->run[i]->exit_reason != KVM_EXIT_HLT)
		ksft_exit_fail_msg("vCPU %d: KVM_RUN: %s, exit reason %u\n", i,
				   strerror(errno), v->run[i]->exit_reason);
	ioctl(v->vcpu[i], KVM_GET_REGS, regs);
}

/* Run "cpuid; hlt" on vCPU @i of @v: the guest's view of leaf @fn.@idx. */
static inline void guest_cpuid(struct vm *v, int i, __u32 fn, __u32 idx, __u32 r[4])
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rax = fn;
	regs.rcx = idx;
	vcpu_run_to_hlt(v, i, &regs);
	r[0] = regs.rax;
	r[1] = regs.rbx;
	r[2] = regs.rcx;
	r[3] = regs.rdx;
}

static inline void make_type(struct hybrid_core_type *t, const char *name, int p)
{
	memset(t, 0, sizeof(*t));
	strcpy(t->name, name);
	t->flags = HYBRID_CT_ALL;
	t->intel_core_type = p ? HYBRID_INTEL_CORE : HYBRID_INTEL_ATOM;
	t->native_model_id = p ? 1 : 2;
	t->amd_core_type = !p;
	t->amd_efficiency = p ? 200 : 100;
	t->base_mhz = 2000;
	t->max_mhz = p ? 5000 : 3800;
	t->bus_mhz = 100;
	t->pmu_version = 5;
	t->pmu_gp_counters = p ? 8 : 6;
	t->pmu_gp_width = 48;
	t->pmu_fixed_counters = 3;
	t->pmu_fixed_width = 48;
	t->pmu_fixed_mask = 7;
	t->nr_caches = 3;
	t->caches[0] = (struct hybrid_cache){ 1, HYBRID_CACHE_DATA, p ? 12 : 8, 64, 1,
					     p ? 48 : 32, 0 };
	t->caches[1] = (struct hybrid_cache){ 1, HYBRID_CACHE_INST, 8, 64, 1, 32, 0 };
	/* The two E vCPUs (x2APIC 2 and 3) share their L2. */
	t->caches[2] = (struct hybrid_cache){ 2, HYBRID_CACHE_UNIFIED, p ? 8 : 16, 64,
					     p ? 1 : 2, p ? 1280 : 2048, 0 };
}

/*
 * The vCPU's CPUID table as KVM holds it (KVM_GET_CPUID2). 6.1 reports
 * the count back neither on success nor on E2BIG: the count is the
 * smallest buffer KVM does not refuse.
 */
static inline struct kvm_cpuid2 *get_cpuid(int vcpu)
{
	struct kvm_cpuid2 *c = cpuid2_alloc();
	__u32 lo = 0, hi = MAX_ENT, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c->nent = mid;
		if (!ioctl(vcpu, KVM_GET_CPUID2, c))
			hi = mid;
		else if (errno == E2BIG)
			lo = mid + 1;
		else
			ksft_exit_fail_msg("KVM_GET_CPUID2: %s\n", strerror(errno));
	}
	c->nent = lo;
	if (ioctl(vcpu, KVM_GET_CPUID2, c))
		ksft_exit_fail_msg("KVM_GET_CPUID2 (%u): %s\n", lo, strerror(errno));
	return c;
}

/*
 * The 2 P + 2 E test profile in @types, and @b ready to bind a VM of
 * @nr vCPUs of types @vt to it (the caller sets vm_fd).
 */
static inline void test_profile(struct hybrid_core_type types[2], struct hybrid_bind *b,
				const __u8 *vt, __u32 nr)
{
	make_type(&types[0], "P", 1);
	make_type(&types[1], "E", 0);
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->nr_types = 2;
	b->nr_vcpus = nr;
	b->types = (uintptr_t)types;
	b->vcpu_types = (uintptr_t)vt;
}

/* Open /dev/kvm and /dev/kvm_hybrid (skip without them), read KVM's table. */
static inline void kvm_setup(void)
{
	struct hvkit_info info = { .size = sizeof(info) };

	kvm_fd = open("/dev/kvm", O_RDWR);
	if (kvm_fd < 0)
		ksft_exit_skip("no /dev/kvm\n");
	hyb_fd = open("/dev/kvm_hybrid", O_RDWR);
	if (hyb_fd < 0)
		ksft_exit_skip("no /dev/kvm_hybrid (modprobe kvm_hybrid)\n");
	if (hyb(HVKIT_IOC_GET_INFO, &info))
		ksft_exit_fail_msg("GET_INFO: %s\n", strerror(errno));
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	supported = cpuid2_alloc();
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, supported))
		ksft_exit_fail_msg("KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
}

#endif /* HYBRID_KVM_H */
