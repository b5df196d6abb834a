// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid's vPMU event filter (HYBRID_IOC_PMU_FILTER) on a raw-ioctl
 * KVM VM: an AuthenticAMD guest programs its legacy counter 0 (K7
 * EVNTSEL0/PERFCTR0, which KVM's AMD vPMU provides) and reads it after a
 * busy loop, one KVM_RUN per read. Checks: the counter counts; a filter
 * hvkit installs that denies the event stops it at the vCPU's next entry,
 * without the guest touching the counter again (6.1's own
 * KVM_SET_PMU_EVENT_FILTER would leave it running); clearing it lets the
 * count go on; the VMM's own filter is kept and put back (clear, unbind);
 * a VMM filter set after hvkit's replaces it and unbind leaves it alone;
 * bad inputs and a VM without a vPMU are refused.
 *
 * Needs /dev/kvm with a vPMU: the hybrid group boots L1 with pmu=on on the
 * test platform's emulator (selftests/platform/qemu/0003-*), whose
 * counters advance with the TSC while enabled, whatever the event. What
 * is tested is KVM's and kvm_hybrid's control of the guest counter, not
 * event accuracy.
 */
#include "hybrid_kvm.h"

#define K7_EVNTSEL0	0xc0010000
#define K7_PERFCTR0	0xc0010004
#define EVSEL_EN	0x400000	/* bit 22 */
#define EVSEL_OS	0x20000		/* bit 17 */
#define EVSEL_USR	0x10000		/* bit 16 */
#define EV_CYCLES	0x76	/* AMD: CPU clocks not halted */
/*
 * The other event: not one KVM counts itself. 6.1's kvm_pmu_trigger_event()
 * adds instructions and branches KVM emulates (the guest's RDMSR and HLT
 * here) to a counter of those events whatever the filter says.
 */
#define EV_DC		0x40	/* AMD: data cache accesses */

/*
 * At CODE:     wrmsr; hlt                     (program EVNTSEL0)
 * At CODE + 8: l: dec edi; jnz l; rdmsr; hlt  (spin EDI times, read ECX)
 */
static const __u8 code[] = { 0x0f, 0x30, 0xf4, 0x90, 0x90, 0x90, 0x90, 0x90,
			     0x66, 0x4f, 0x75, 0xfc, 0x0f, 0x32, 0xf4 };

static struct hybrid_core_type types[2];
/* Both P: E's L2 is shared by an x2APIC-aligned pair, which 2 vCPUs of two types split. */
static __u8 vtypes[2] = { 0, 0 };

/* Run vCPU @i from CODE + @off with @regs until it halts. */
static void run_at(struct vm *v, int i, __u32 off, struct kvm_regs *regs)
{
	struct kvm_sregs sregs;

	if (ioctl(v->vcpu[i], KVM_GET_SREGS, &sregs))
		ksft_exit_fail_msg("KVM_GET_SREGS: %s\n", strerror(errno));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(v->vcpu[i], KVM_SET_SREGS, &sregs))
		ksft_exit_fail_msg("KVM_SET_SREGS: %s\n", strerror(errno));
	regs->rip = CODE + off;
	regs->rflags = 2;
	if (ioctl(v->vcpu[i], KVM_SET_REGS, regs))
		ksft_exit_fail_msg("KVM_SET_REGS: %s\n", strerror(errno));
	if (ioctl(v->vcpu[i], KVM_RUN, 0) || v->run[i]->exit_reason != KVM_EXIT_HLT)
		ksft_exit_fail_msg("vCPU %d: KVM_RUN: %s, exit reason %u\n", i,
				   strerror(errno), v->run[i]->exit_reason);
	if (ioctl(v->vcpu[i], KVM_GET_REGS, regs))
		ksft_exit_fail_msg("KVM_GET_REGS: %s\n", strerror(errno));
}

/* The guest programs its counter 0 to count @event (0: off). */
static void guest_evsel(struct vm *v, __u32 event)
{
	struct kvm_regs r = { .rcx = K7_EVNTSEL0 };

	r.rax = event ? EVSEL_EN | EVSEL_OS | EVSEL_USR | event : 0;
	run_at(v, 0, 0, &r);
}

/* The guest spins, then reads its counter 0. */
static __u64 guest_count(struct vm *v)
{
	struct kvm_regs r = { .rcx = K7_PERFCTR0, .rdi = 20000 };

	run_at(v, 0, 8, &r);
	return (r.rdx & 0xffffffff) << 32 | (r.rax & 0xffffffff);
}

/* How much counter 0 advanced over @n guest reads (each after a spin). */
static __u64 advance(struct vm *v, int n)
{
	__u64 a = guest_count(v), b = a;
	int i;

	for (i = 0; i < n; i++)
		b = guest_count(v);
	return b - a;
}

static int filter(__u32 id, __u32 flags, __u32 action, int n, const __u64 *ev,
		  struct hybrid_pmu_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->size = sizeof(*f);
	f->id = id;
	f->flags = flags;
	f->action = action;
	f->nevents = n;
	if (ev && n > 0 && n <= HYBRID_FILTER_MAX_EVENTS)
		memcpy(f->events, ev, n * sizeof(*ev));
	return hyb(HYBRID_IOC_PMU_FILTER, f);
}

/* The VMM's own KVM_SET_PMU_EVENT_FILTER: deny @event. */
static int vmm_deny(struct vm *v, __u64 event)
{
	struct {
		struct kvm_pmu_event_filter f;
		__u64 ev[1];
	} k = { .f.action = KVM_PMU_EVENT_DENY, .f.nevents = 1, .ev = { event } };

	return ioctl(v->vm, KVM_SET_PMU_EVENT_FILTER, &k.f) ? -errno : 0;
}

static int bind_vm(struct vm *v, struct hybrid_bind *b)
{
	test_profile(types, b, vtypes, 2);
	b->vm_fd = v->vm;
	return hyb(HYBRID_IOC_BIND, b);
}

int main(void)
{
	static const __u64 deny_cycles[] = { EV_CYCLES };
	struct hybrid_pmu_filter f;
	struct hybrid_unbind u = { .size = sizeof(u) };
	struct hybrid_bind b;
	__u64 d0, d1, d2, d3;
	struct vm v = { 0 };
	int ret, bad, i;

	ksft_print_header();
	ksft_set_plan(8);
	kvm_setup();
	cpuid_amd = true;
	vm_create_code(&v, 2, code, sizeof(code));

	/* The precondition the group sets up: a vPMU that counts. */
	guest_evsel(&v, EV_CYCLES);
	d0 = advance(&v, 3);
	if (!d0)
		ksft_exit_fail_msg("%s%s\n", "the guest's counter 0 does not count: no vPMU in L1 ",
				   "(L1_PMU=yes boots L1 with pmu=on: is 'PMU virtualization is disabled' in dmesg?)");
	ret = vmm_deny(&v, EV_DC);
	ksft_test_result(!ret,
			 "the guest counts event %#x: +%llu over 3 reads; the VMM's own filter (deny %#x) set\n",
			 EV_CYCLES, (unsigned long long)d0, EV_DC);

	ret = bind_vm(&v, &b);
	if (ret)
		ksft_exit_fail_msg("bind: %s (%s)\n", strerror(-ret), b.why);
	bad = filter(b.id, 0, 0, 0, NULL, &f) || f.owner != HYBRID_FILTER_VMM ||
	      f.action != HYBRID_FILTER_DENY || f.nevents != 1 || f.events[0] != EV_DC;
	ksft_test_result(!bad, "read: the filter in force is the VMM's (owner %u, %u events)\n",
			 f.owner, f.nevents);

	/* hvkit denies the counting event: it stops with no guest write. */
	d1 = advance(&v, 2);
	ret = filter(b.id, HYBRID_FILTER_SET, HYBRID_FILTER_DENY, 1, deny_cycles, &f);
	d2 = advance(&v, 3);
	ksft_test_result(!ret && f.owner == HYBRID_FILTER_HVKIT && d1 && !d2,
			 "deny %#x: counting +%llu before, +%llu after (owner %u)\n",
			 EV_CYCLES, (unsigned long long)d1, (unsigned long long)d2, f.owner);

	/* Clear: the VMM's filter is back and the count goes on. */
	ret = filter(b.id, HYBRID_FILTER_CLEAR, 0, 0, NULL, &f);
	d3 = advance(&v, 3);
	bad = ret || f.owner != HYBRID_FILTER_VMM || f.events[0] != EV_DC || !d3;
	guest_evsel(&v, EV_DC);	/* the VMM's filter denies this one */
	d2 = advance(&v, 3);
	ksft_test_result(!bad && !d2,
			 "clear: the VMM's filter is back (owner %u): %#x counts again (+%llu), %#x does not (+%llu)\n",
			 f.owner, EV_CYCLES, (unsigned long long)d3, EV_DC,
			 (unsigned long long)d2);

	/* Unbind puts the VMM's filter back. */
	guest_evsel(&v, EV_CYCLES);
	ret = filter(b.id, HYBRID_FILTER_SET, HYBRID_FILTER_ALLOW, 1, deny_cycles, &f);
	guest_evsel(&v, EV_DC);		/* not in hvkit's allow list */
	d1 = advance(&v, 2);
	u.id = b.id;
	bad = ret || hyb(HYBRID_IOC_UNBIND, &u);
	guest_evsel(&v, EV_CYCLES);
	d2 = advance(&v, 2);
	guest_evsel(&v, EV_DC);
	d3 = advance(&v, 2);
	ret = bind_vm(&v, &b);
	bad += ret || filter(b.id, 0, 0, 0, NULL, &f) || f.owner != HYBRID_FILTER_VMM ||
	       f.nevents != 1 || f.events[0] != EV_DC;
	u.id = b.id;
	bad += hyb(HYBRID_IOC_UNBIND, &u) != 0;
	ksft_test_result(!bad && !d1 && d2 && !d3,
			 "allow-list %#x: %#x blocked (+%llu); after unbind the VMM's deny %#x again (read: owner %u, event %#llx): %#x +%llu, %#x +%llu\n",
			 EV_CYCLES, EV_DC, (unsigned long long)d1, EV_DC, f.owner,
			 (unsigned long long)f.events[0], EV_CYCLES,
			 (unsigned long long)d2, EV_DC, (unsigned long long)d3);

	/* A VMM filter set after hvkit's replaces it; unbind leaves it. */
	ret = bind_vm(&v, &b);
	bad = ret || filter(b.id, HYBRID_FILTER_SET, HYBRID_FILTER_DENY, 1, deny_cycles, &f);
	bad += vmm_deny(&v, 0x42) != 0;
	bad += filter(b.id, 0, 0, 0, NULL, &f) || f.owner != HYBRID_FILTER_VMM ||
	       f.events[0] != 0x42;
	u.id = b.id;
	bad += hyb(HYBRID_IOC_UNBIND, &u) != 0;
	/* Neither hvkit's (deny 0x76) nor the older VMM one (deny 0x40) is back. */
	guest_evsel(&v, EV_CYCLES);
	d1 = advance(&v, 2);
	guest_evsel(&v, EV_DC);
	d2 = advance(&v, 2);
	ksft_test_result(!bad && d1 && d2,
			 "the VMM's later filter replaces hvkit's; unbind keeps it: %#x +%llu, %#x +%llu\n",
			 EV_CYCLES, (unsigned long long)d1, EV_DC, (unsigned long long)d2);

	/* Bad inputs. */
	ret = bind_vm(&v, &b);
	bad = ret != 0;
	bad += filter(b.id, HYBRID_FILTER_SET, 2, 1, deny_cycles, &f) != -EINVAL;
	bad += filter(b.id, HYBRID_FILTER_SET, 0, HYBRID_FILTER_MAX_EVENTS + 1, NULL,
		      &f) != -E2BIG;
	bad += filter(b.id, HYBRID_FILTER_CLEAR, 1, 0, NULL, &f) != -EINVAL;
	bad += filter(b.id, HYBRID_FILTER_SET | HYBRID_FILTER_CLEAR, 0, 0, NULL, &f) != -EINVAL;
	bad += filter(b.id, 1u << 7, 0, 0, NULL, &f) != -EINVAL;
	{
		static const __u64 wide[] = { 1ull << 40 | EV_CYCLES };

		bad += filter(b.id, HYBRID_FILTER_SET, 1, 1, wide, &f) != -EINVAL;
	}
	filter(b.id, 0, 0, 0, NULL, &f);
	f.flags = HYBRID_FILTER_SET;
	f.action = HYBRID_FILTER_DENY;
	f.nevents = 1;
	f.events[0] = EV_CYCLES;
	f.owner = 0;
	f.fixed_counter_bitmap = 1u << 3;		/* KVM has 3 fixed counters */
	bad += hyb(HYBRID_IOC_PMU_FILTER, &f) != -EINVAL;
	f.fixed_counter_bitmap = 0;
	f.events[1] = EV_DC;				/* past nevents */
	bad += hyb(HYBRID_IOC_PMU_FILTER, &f) != -EINVAL;
	bad += filter(b.id + 1000, 0, 0, 0, NULL, &f) != -ENOENT;
	f.__pad0 = 1;
	bad += hyb(HYBRID_IOC_PMU_FILTER, &f) != -EINVAL;
	u.id = b.id;
	bad += hyb(HYBRID_IOC_UNBIND, &u) != 0;
	ksft_test_result(!bad, "%s%s\n",
			 "refused: bad action, too many events, a clear with an action, ",
			 "set+clear, unknown flag, bits KVM ignores, a 4th fixed counter, events past nevents, no binding, pad");
	vm_destroy(&v, 2);

	/* A VM whose VMM turned its vPMU off: nothing to filter. */
	{
		struct kvm_enable_cap cap = { .cap = KVM_CAP_PMU_CAPABILITY,
					      .args = { KVM_PMU_CAP_DISABLE } };
		struct kvm_userspace_memory_region slot = { .memory_size = MEM_SIZE };
		struct vm w = { 0 };

		/* vm_create_code() with the capability set before the vCPUs. */
		w.vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		if (w.vm < 0 || ioctl(w.vm, KVM_ENABLE_CAP, &cap))
			ksft_exit_fail_msg("KVM_CAP_PMU_CAPABILITY disable: %s\n", strerror(errno));
		w.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		slot.userspace_addr = (uintptr_t)w.mem;
		if (w.mem == MAP_FAILED || ioctl(w.vm, KVM_SET_USER_MEMORY_REGION, &slot))
			ksft_exit_fail_msg("memory slot: %s\n", strerror(errno));
		for (i = 0; i < 2; i++) {
			w.vcpu[i] = ioctl(w.vm, KVM_CREATE_VCPU, i);
			if (w.vcpu[i] < 0)
				ksft_exit_fail_msg("KVM_CREATE_VCPU: %s\n", strerror(errno));
			set_cpuid(w.vcpu[i], i);
		}
		ret = bind_vm(&w, &b);
		bad = ret != 0;
		ret = filter(b.id, HYBRID_FILTER_SET, HYBRID_FILTER_DENY, 1, deny_cycles, &f);
		bad += ret != -EOPNOTSUPP;
		bad += filter(b.id, 0, 0, 0, NULL, &f) != 0 || f.owner != HYBRID_FILTER_NONE;
		u.id = b.id;
		bad += hyb(HYBRID_IOC_UNBIND, &u) != 0;
		for (i = 0; i < 2; i++)
			close(w.vcpu[i]);
		close(w.vm);
		munmap(w.mem, MEM_SIZE);
		ksft_test_result(!bad,
				 "a VM whose vPMU the VMM turned off: set refused (%s), read says none\n",
				 strerror(-ret));
	}
	ksft_finished();
}
