// SPDX-License-Identifier: GPL-2.0
/*
 * What "make demo" shows of kvm_hybrid: a small KVM VM (raw KVM ioctls,
 * 4 vCPUs running "cpuid; hlt") bound to a 2 P + 2 E profile, each vCPU's
 * core type (CPUID 0x1A), maximum frequency (0x16) and L2 cache (0x4.2)
 * as the guest reads them, and a feature bit (0x1.ECX[0], SSE3) before,
 * during and after an online clear. Exits non-zero if a value is not what
 * the profile or the clear says.
 */
#include "hybrid_kvm.h"

static struct hybrid_core_type types[2];
static __u8 vtypes[NR_VCPUS] = { 0, 0, 1, 1 };

/* One line per vCPU; returns how many values are not what the profile says. */
static int show(struct vm *v, const char *when, int want_sse3)
{
	__u32 r[4], l2[4], f[4], id[4];
	int i, bad = 0;

	printf("  %s:\n", when);
	for (i = 0; i < NR_VCPUS; i++) {
		int p = vtypes[i] == 0;
		int sse3;

		guest_cpuid(v, i, 0x1a, 0, id);
		guest_cpuid(v, i, 0x16, 0, f);
		guest_cpuid(v, i, 0x4, 2, l2);
		guest_cpuid(v, i, 0x1, 0, r);
		sse3 = r[2] & 1;
		printf("    vCPU %d: 0x1A 0x%08x (%s), 0x16 %u MHz max, L2 %uK %u-way, SSE3 %d\n",
		       i, id[0], id[0] >> 24 == 0x40 ? "Core, P" :
		       id[0] >> 24 == 0x20 ? "Atom, E" : "no core type",
		       f[1], ((l2[1] >> 22) + 1) * (((l2[1] >> 12) & 0x3ff) + 1) *
		       ((l2[1] & 0xfff) + 1) * (l2[2] + 1) / 1024, (l2[1] >> 22) + 1, sse3);
		if (want_sse3 >= 0) {
			bad += id[0] != ((p ? 0x40u : 0x20u) << 24 | (p ? 1 : 2));
			bad += f[1] != (p ? 5000u : 3800u);
		}
		if (want_sse3 >= 0 && sse3 != want_sse3)
			bad++;
	}
	return bad;
}

static int feature(__u32 id, __u32 op)
{
	struct hybrid_feature f = {
		.size = sizeof(f), .id = id, .op = op, .vcpu = HYBRID_ALL_VCPUS,
		.function = 0x1, .index = 0, .reg = 2, .bits = 0x1,
	};

	return hyb(HYBRID_IOC_FEATURE, &f);
}

int main(void)
{
	struct hybrid_bind b;
	struct vm v = { .irqchip = false };
	__u32 r[4];
	int bad = 0, ret;

	kvm_setup();
	test_profile(types, &b, vtypes, NR_VCPUS);
	vm_create(&v, NR_VCPUS);
	guest_cpuid(&v, 0, 0x1, 0, r);
	if (!(r[2] & 1)) {
		printf("this CPU model has no SSE3 to hide: no demo\n");
		return 1;
	}
	printf("kvm_hybrid: a KVM VM with %d vCPUs (raw KVM ioctls, guest code \"cpuid; hlt\")\n",
	       NR_VCPUS);
	show(&v, "stock KVM", -1);
	b.vm_fd = v.vm;
	ret = hyb(HYBRID_IOC_BIND, &b);
	if (ret) {
		printf("bind: %s (%s)\n", strerror(-ret), b.why);
		return 1;
	}
	printf("  bound to a 2 P + 2 E profile (binding %u): vCPUs 0-1 P, 2-3 E\n", b.id);
	bad += show(&v, "bound", 1);
	ret = feature(b.id, HYBRID_FEAT_CLEAR);
	printf("  online clear of 0x1.ECX bit 0 (SSE3) on every vCPU: %s\n",
	       ret ? strerror(-ret) : "done");
	bad += !!ret + show(&v, "after the clear", 0);
	ret = feature(b.id, HYBRID_FEAT_RESTORE);
	printf("  restore: %s\n", ret ? strerror(-ret) : "done");
	bad += !!ret + show(&v, "after the restore", 1);
	vm_destroy(&v, NR_VCPUS);
	printf("  VM closed: the binding went with it\n");
	printf("kvm_hybrid demo: %s\n", bad ? "VALUES DIFFER FROM THE PROFILE" : "ok");
	return !!bad;
}
