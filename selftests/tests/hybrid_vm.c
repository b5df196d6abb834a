// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid in a VM built with raw KVM ioctls (KVM-selftest style): four
 * vCPUs run real-mode guest code "cpuid; hlt" with the leaf and subleaf
 * set from here, so every CPUID below is executed by the guest and goes
 * through a CPUID exit. Checks: stock values; a 2 P + 2 E binding shows
 * per vCPU in 0x1A, 7.EDX[15], 0x4, 0x16, 0xA, 0x80000026; a feature bit
 * cleared online (VM-wide and per vCPU) disappears from the next CPUID and
 * comes back on restore; HYBRID_IOC_CPUID2; unbind restores stock values;
 * bad inputs are refused; bind by pid; closing the VM while bound unbinds.
 * Needs /dev/kvm (L1 of the nested suite) and kvm_hybrid.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include "hybrid_kvm.h"

static struct hybrid_core_type types[2];
static __u8 vtypes[NR_VCPUS] = { 0, 0, 1, 1 };

static int bind(struct hybrid_bind *b, int vm_fd, int nr_vcpus)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->vm_fd = vm_fd;
	b->nr_types = 2;
	b->nr_vcpus = nr_vcpus;
	b->types = (uintptr_t)types;
	b->vcpu_types = (uintptr_t)vtypes;
	return hyb(HYBRID_IOC_BIND, b);
}

struct parked {
	int fd;
	pid_t tid;
};

/* An AP never started: KVM_RUN blocks until a signal, holding the vCPU. */
static void *park_ap(void *arg)
{
	struct parked *p = arg;

	__atomic_store_n(&p->tid, gettid(), __ATOMIC_RELEASE);
	ioctl(p->fd, KVM_RUN, 0);
	return NULL;
}

/*
 * Start park_ap on vCPU fd @fd and wait (up to 30 s) until its thread
 * sleeps (S), in KVM_RUN: it has nothing else to sleep on. Return: 0,
 * also after 30 s (said, then the caller's check fails), or -1.
 */
static int start_parked(pthread_t *th, struct parked *p, int fd)
{
	char path[64], stat[256], *c;
	int i;
	FILE *f;

	p->fd = fd;
	p->tid = 0;
	if (pthread_create(th, NULL, park_ap, p))
		return -1;
	for (i = 0; i < 3000; i++) {
		pid_t tid = __atomic_load_n(&p->tid, __ATOMIC_ACQUIRE);

		snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
		f = tid ? fopen(path, "r") : NULL;
		c = f ? fgets(stat, sizeof(stat), f) : NULL;
		if (f)
			fclose(f);
		c = c ? strrchr(stat, ')') : NULL;
		if (c && c[1] == ' ' && c[2] == 'S')
			return 0;
		usleep(10000);
	}
	ksft_print_msg("vCPU thread %d not asleep in KVM_RUN after 30 s\n", p->tid);
	return 0;
}

static void on_usr1(int sig)
{
}

/* Get vCPU @i's parked thread @th out of KVM_RUN (SIGUSR1) and join it. */
static void unpark_ap(struct vm *v, int i, pthread_t th)
{
	int n;

	/* A KVM_RUN that starts late returns at once too. */
	v->run[i]->immediate_exit = 1;
	for (n = 0; n < 3000 && pthread_tryjoin_np(th, NULL); n++) {
		pthread_kill(th, SIGUSR1);
		usleep(10000);
	}
	if (n == 3000)
		ksft_exit_fail_msg("vCPU %d still in KVM_RUN 30 s after SIGUSR1\n", i);
}

static int feature_idx(__u32 id, __u32 op, __u32 vcpu, __u32 fn, __u32 idx, __u32 reg,
		       __u32 bits, char *why)
{
	struct hybrid_feature f = {
		.size = sizeof(f), .id = id, .op = op, .vcpu = vcpu,
		.function = fn, .index = idx, .reg = reg, .bits = bits,
	};
	int ret = hyb(HYBRID_IOC_FEATURE, &f);

	if (why)
		strcpy(why, f.why);
	return ret;
}

static int feature(__u32 id, __u32 op, __u32 vcpu, __u32 fn, __u32 reg, __u32 bits,
		   char *why)
{
	return feature_idx(id, op, vcpu, fn, HYBRID_ANY_INDEX, reg, bits, why);
}

/* Is @sym probed (/sys/kernel/debug/kprobes/list: "ADDR  r  sym+0x0 [kvm] ...")? */
static int probed(const char *sym)
{
	char line[256], want[128];
	int found = 0;
	FILE *f = fopen("/sys/kernel/debug/kprobes/list", "r");

	if (!f)
		ksft_exit_fail_msg("/sys/kernel/debug/kprobes/list: %s\n", strerror(errno));
	snprintf(want, sizeof(want), " %s+0x", sym);
	while (fgets(line, sizeof(line), f))
		found |= !!strstr(line, want);
	fclose(f);
	return found;
}

static int nr_bindings(__u64 *exits, __u64 *missed)
{
	struct hybrid_binding_info info[8];
	struct hybrid_list l = {
		.size = sizeof(l), .nr = 8, .entry_size = sizeof(info[0]),
		.entries = (uintptr_t)info,
	};

	if (hyb(HYBRID_IOC_LIST, &l))
		ksft_exit_fail_msg("HYBRID_IOC_LIST: %s\n", strerror(errno));
	if (exits)
		*exits = l.nr ? info[0].cpuid_exits : 0;
	if (missed)
		*missed = l.missed;
	return l.nr;
}

/*
 * Wait for the bindings of destroyed VMs to go (the reaper looks every
 * 200 ms): up to 30 s, so that a VM the host starves only takes longer.
 */
static void wait_unbound(void)
{
	int i;

	for (i = 0; i < 1500 && nr_bindings(NULL, NULL); i++)
		usleep(20000);
}

/* KVM's own value of a leaf (KVM_GET_SUPPORTED_CPUID), zeros if absent. */
static void kvm_leaf(__u32 fn, __u32 idx, __u32 r[4])
{
	__u32 i;

	memset(r, 0, 4 * sizeof(r[0]));
	for (i = 0; i < supported->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &supported->entries[i];

		if (e->function == fn && e->index == idx) {
			r[0] = e->eax;
			r[1] = e->ebx;
			r[2] = e->ecx;
			r[3] = e->edx;
		}
	}
}

/*
 * Leaf 0xA as a bound vCPU may show it: never more than KVM's vPMU (its
 * own 0xA, which the test VMs are given), and exactly KVM's where KVM
 * has none (an AMD host: empty). @gp: the profile's counters.
 */
static int pmu_leaf_ok(const __u32 r[4], __u32 gp, __u32 unavailable)
{
	__u32 k[4], kgp, mask;

	kvm_leaf(0xa, 0, k);
	if (!(k[0] & 0xff))
		return !memcmp(r, k, sizeof(k));
	kgp = (k[0] >> 8) & 0xff;
	mask = (1u << ((r[0] >> 24) & 0xff)) - 1;
	/* KVM's own unavailable events stay unavailable, and the profile's. */
	return (r[0] & 0xff) <= (k[0] & 0xff) &&
	       ((r[0] >> 8) & 0xff) == (gp < kgp ? gp : kgp) &&
	       ((r[0] >> 16) & 0xff) <= ((k[0] >> 16) & 0xff) &&
	       ((r[0] >> 24) & 0xff) <= ((k[0] >> 24) & 0xff) &&
	       (r[1] & (unavailable | k[1]) & mask) == ((unavailable | k[1]) & mask) &&
	       (r[3] & 0x1f) <= (k[3] & 0x1f) &&
	       ((r[3] >> 5) & 0xff) <= ((k[3] >> 5) & 0xff);
}

/*
 * The bound profile as vCPU @i of @v sees it: the Intel lines for an
 * Intel guest only, the AMD lines for an AMD guest (@amd) only, the rest
 * for both.
 */
static void check_profile(struct vm *v, bool amd)
{
	__u32 r[4], k[4], k0[4], bad = 0;
	int i;

	kvm_leaf(0x80000000, 0, k);
	kvm_leaf(0x0, 0, k0);
	for (i = 0; i < NR_VCPUS; i++) {
		int p = vtypes[i] == 0;

		guest_cpuid(v, i, 0x1a, 0, r);
		if (amd ? (r[0] | r[1] | r[2] | r[3]) != 0 :
		    r[0] != ((p ? 0x40u : 0x20u) << 24 | (p ? 1 : 2))) {
			ksft_print_msg("vCPU %d 0x1A eax %#x\n", i, r[0]);
			bad++;
		}
		guest_cpuid(v, i, 0x7, 0, r);
		bad += !(r[3] & (1u << 15)) != amd;
		guest_cpuid(v, i, 0x4, 2, r);
		if (((r[0] >> 14) & 0xfff) + 1 != (p ? 1u : 2u) ||
		    (r[1] >> 22) + 1 != (p ? 8u : 16u)) {
			ksft_print_msg("vCPU %d 0x4.2 eax %#x ebx %#x\n", i, r[0], r[1]);
			bad++;
		}
		guest_cpuid(v, i, 0x16, 0, r);
		if (r[0] != 2000 || r[1] != (p ? 5000u : 3800u)) {
			ksft_print_msg("vCPU %d 0x16 %u %u\n", i, r[0], r[1]);
			bad++;
		}
		guest_cpuid(v, i, 0xa, 0, r);
		if (!pmu_leaf_ok(r, p ? 8 : 6, p ? 0 : 0x40)) {
			ksft_print_msg("vCPU %d 0xA %#x %#x %#x %#x\n", i, r[0], r[1], r[2], r[3]);
			bad++;
		}
		if (amd) {
			guest_cpuid(v, i, 0x80000026, 0, r);
			bad += (r[1] >> 28) != (p ? 0u : 1u);
		}
		/* The extended maximum: raised for the AMD line only. */
		guest_cpuid(v, i, 0x80000000, 0, r);
		bad += amd ? r[0] < 0x80000026 : r[0] != k[0];
		if (!amd) {
			__u32 r2[4];

			/*
			 * Out of range for an Intel guest: 0x80000026 reads as
			 * 0x80000027 does (KVM's highest basic leaf), no level.
			 */
			guest_cpuid(v, i, 0x80000026, 1, r);
			guest_cpuid(v, i, 0x80000027, 1, r2);
			if (memcmp(r, r2, sizeof(r))) {
				ksft_print_msg("vCPU %d Intel 0x80000026.1: %#x %#x %#x %#x\n",
					       i, r[0], r[1], r[2], r[3]);
				bad++;
			}
		}
		/*
		 * The basic one: at least 0x1A (Intel); for AMD raised only to
		 * 0x16 (the frequency leaf, any vendor's) if KVM's is below.
		 */
		guest_cpuid(v, i, 0x0, 0, r);
		if (amd ? r[0] != (k0[0] > 0x16 ? k0[0] : 0x16) : r[0] < 0x1a) {
			ksft_print_msg("vCPU %d: basic maximum %#x (KVM's %#x)\n", i, r[0], k0[0]);
			bad++;
		}
	}
	if (amd)
		ksft_test_result(!bad, "2 P + 2 E, AMD guest: %s (%u wrong)\n",
				 "0x80000026 0x4 0x16 0xA, no Intel line (0x1A, 7.EDX[15])", bad);
	else
		ksft_test_result(!bad, "2 P + 2 E, Intel guest: %s (%u wrong)\n",
				 "0x1A 7.EDX 0x4 0x16 0xA (within KVM's vPMU), no AMD line (0x80000026)",
				 bad);
}

/*
 * vCPU @i's table @c (as the VMM set it) with leaf 0xB rewritten to @smt
 * logical CPUs per core (shift @smt_shift) and @pkg per package (shift
 * @pkg_shift), added if @c has none, set again (before the first
 * KVM_RUN, as a VMM may).
 */
static void set_topology(struct vm *v, int i, const struct kvm_cpuid2 *c,
			 __u32 smt_shift, __u32 smt, __u32 pkg_shift, __u32 pkg)
{
	struct kvm_cpuid2 *big = cpuid2_alloc();
	__u32 k, n = 0;

	for (k = 0; k < c->nent; k++)
		if (c->entries[k].function != 0xb)
			big->entries[n++] = c->entries[k];
	for (k = 0; k < 3; k++) {
		struct kvm_cpuid_entry2 *e = &big->entries[n++];

		memset(e, 0, sizeof(*e));
		e->function = 0xb;
		e->index = k;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->eax = k == 0 ? smt_shift : k == 1 ? pkg_shift : 0;
		e->ebx = k == 0 ? smt : k == 1 ? pkg : 0;
		e->ecx = k | (k < 2 ? k + 1 : 0) << 8;
		e->edx = i;
	}
	big->nent = n;
	if (ioctl(v->vcpu[i], KVM_SET_CPUID2, big))
		ksft_exit_fail_msg("KVM_SET_CPUID2 (0xB): %s\n", strerror(errno));
	free(big);
}

/*
 * AMD's 0x80000026 as the guest reads it on vCPU @i, against the guest's
 * own 0xB and its type's L3 (@l3: CPUs sharing it; @asym: the layout's
 * L3s differ): the core level, the complex of the L3 unless it adds
 * nothing, the die and the socket unless it is the package; every field;
 * zeros past the last; and the die id Linux computes from it is 0xB's.
 * Return: the number of wrong fields.
 */
static int check_amd_topology(struct vm *v, int i, const struct hybrid_core_type *t,
			      __u32 l3, int asym)
{
	__u32 b0[4], b1[4], r[4], want[6][4], smt_shift, pkg_shift, cshift, shift;
	__u32 n = 0, k, bad = 0, dom[5] = { 0 }, type, tile;

	guest_cpuid(v, i, 0xb, 0, b0);
	guest_cpuid(v, i, 0xb, 1, b1);
	smt_shift = b0[0] & 0x1f;
	pkg_shift = b1[0] & 0x1f;
	for (cshift = 0; (1u << cshift) < l3; cshift++)
		;
	memset(want, 0, sizeof(want));
	want[n][0] = smt_shift | 1u << 29 | 1u << 30;
	want[n][1] = (b0[1] & 0xffff) | (__u32)t->amd_core_type << 28 |
		     (t->native_model_id & 0xf) << 24 | (__u32)t->amd_efficiency << 16;
	want[n][2] = 1u << 8;
	shift = smt_shift;
	n++;
	/* An L3 spanning the package makes it one complex (no socket level). */
	if (cshift > pkg_shift)
		cshift = pkg_shift;
	if (cshift > shift) {
		want[n][0] = cshift | (asym ? 1u << 31 : 0);
		want[n][1] = cshift == pkg_shift ? b1[1] & 0xffff : l3;
		want[n][2] = n | 2u << 8;
		shift = cshift;
		n++;
	}
	/* Below the package: the die (CCD) and the socket, both the package. */
	if (pkg_shift > shift) {
		want[n][0] = pkg_shift | (asym ? 1u << 31 : 0);
		want[n][1] = b1[1] & 0xffff;
		want[n][2] = n | 3u << 8;
		n++;
		want[n][0] = pkg_shift | (asym ? 1u << 31 : 0);
		want[n][1] = b1[1] & 0xffff;
		want[n][2] = n | 4u << 8;
		n++;
	}
	for (k = 0; k < n; k++)
		want[k][3] = b0[3];
	/* Two subleaves past the last: zeros (KVM, an absent AMD subleaf). */
	for (k = 0; k < n + 2; k++) {
		guest_cpuid(v, i, 0x80000026, k, r);
		if (memcmp(r, want[k], sizeof(r))) {
			ksft_print_msg("vCPU %d 0x80000026.%u %#x %#x %#x %#x != %#x %#x %#x %#x\n",
				       i, k, r[0], r[1], r[2], r[3], want[k][0],
				       want[k][1], want[k][2], want[k][3]);
			bad++;
		}
	}
	guest_cpuid(v, i, 0x80000000, 0, r);
	bad += r[0] < 0x80000026;
	/*
	 * Independently of the above: the die id Linux 6.9+ computes from
	 * the levels the guest read (topology_ext.c: AMD type 1 -> SMT, 2 ->
	 * CORE, 3 -> TILE, 4 -> DIE; a shift carried up to the domains above
	 * it; the die id is the x2APIC id >> the TILE domain's shift) must be
	 * 0xB's, where the package is the die.
	 */
	for (k = 0; k < 4; k++) {
		guest_cpuid(v, i, 0x80000026, k, r);
		type = r[2] >> 8 & 0xff;
		if (!type || type > 4)
			break;
		for (tile = type - 1; tile < 5; tile++)
			dom[tile] = r[0] & 0x1f;
	}
	tile = dom[2];
	if (b0[3] >> tile != b0[3] >> pkg_shift) {
		ksft_print_msg("vCPU %d: die %u from 0x80000026, %u from 0xB (shifts %u, %u)\n",
			       i, b0[3] >> tile, b0[3] >> pkg_shift, tile, pkg_shift);
		bad++;
	}
	return bad;
}

/*
 * An AMD guest whose VMM gives it a topology in 0xB (one thread per core,
 * 4 per package): P vCPUs 0-1 share an L3 (a complex of 2), E vCPUs 2-3
 * each have their own (no complex level: it would add nothing), so the
 * complexes differ and the levels above the core say so. Bound with 8
 * per package, then the VMM sets 4 (KVM_SET_CPUID2 before the first
 * run): the leaf follows the table KVM has now.
 */
static void test_amd_topology(void)
{
	struct kvm_cpuid2 *vmm[NR_VCPUS];
	struct hybrid_core_type t[2];
	struct hybrid_bind b;
	struct vm a = { 0 };
	int i, ret, bad = 0;

	test_profile(t, &b, vtypes, NR_VCPUS);
	t[1].caches[2].shared_by = 1;
	for (i = 0; i < 2; i++) {
		t[i].caches[3] = (struct hybrid_cache){ 3, HYBRID_CACHE_UNIFIED, 16, 64,
							i ? 1 : 2, 16384, 0 };
		t[i].nr_caches = 4;
	}
	memset(&a, 0, sizeof(a));
	cpuid_amd = true;
	vm_create(&a, NR_VCPUS);
	cpuid_amd = false;
	for (i = 0; i < NR_VCPUS; i++) {
		vmm[i] = get_cpuid(a.vcpu[i]);
		set_topology(&a, i, vmm[i], 0, 1, 3, 8);
	}
	b.vm_fd = a.vm;
	ret = hyb(HYBRID_IOC_BIND, &b);
	for (i = 0; i < NR_VCPUS; i++) {
		set_topology(&a, i, vmm[i], 0, 1, 2, 4);
		free(vmm[i]);
	}
	if (ret)
		ksft_print_msg("AMD topology: bind %d (%s)\n", ret, b.why);
	else
		for (i = 0; i < NR_VCPUS; i += 2)
			bad += check_amd_topology(&a, i, &t[vtypes[i]],
						  t[vtypes[i]].caches[3].shared_by, 1);
	ksft_test_result(!ret && !bad,
			 "AMD guest: 0x80000026 of a P and an E vCPU match 0xB, the L3s (%d wrong)\n",
			 bad);
	vm_destroy(&a, NR_VCPUS);
	wait_unbound();
}

/* A child that owns a 1-vCPU VM until killed: bind-by-pid target. It
 * closes the VM fd it inherited from us, so it holds exactly one VM.
 */
static pid_t vm_child(struct vm *parent, int *ready)
{
	int pfd[2];
	pid_t pid;
	char c;

	if (pipe(pfd))
		ksft_exit_fail_msg("pipe\n");
	pid = fork();
	if (!pid) {
		struct vm v = { 0 };

		close(pfd[0]);
		close(parent->vm);
		vm_create(&v, 1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	*ready = read(pfd[0], &c, 1) == 1;
	close(pfd[0]);
	return pid;
}

int main(void)
{
	__u32 stock[NR_VCPUS][4], r[4], bit, sse_bit;
	struct hybrid_bind b = { 0 };
	char why[HYBRID_WHY_LEN];
	__u64 exits, missed;
	struct kvm_cpuid2 *vmm_table, *bound_table;
	bool pmu_hook;
	struct vm v = { 0 };
	int i, ret, bad, devnull, ready;
	pid_t child;

	ksft_print_header();
	ksft_set_plan(29);
	kvm_setup();
	make_type(&types[0], "P", 1);
	make_type(&types[1], "E", 0);

	vm_create(&v, NR_VCPUS);
	for (i = 0; i < NR_VCPUS; i++)
		guest_cpuid(&v, i, 0x1a, 0, stock[i]);
	guest_cpuid(&v, 0, 0x1, 0, r);
	/* A feature bit the guest sees, to hide: SSE3 .. SSE4.2, POPCNT. */
	sse_bit = 0;
	for (bit = 0; bit < 24 && !sse_bit; bit++)
		if (r[2] & (1u << bit))
			sse_bit = 1u << bit;
	guest_cpuid(&v, 1, 0x7, 0, r);
	ksft_test_result(!(r[3] & (1u << 15)) && sse_bit,
			 "stock: no hybrid bit, 0x1A = %#x, feature bit %#x of 0x1.ECX to hide\n",
			 stock[0][0], sse_bit);

	vmm_table = get_cpuid(v.vcpu[2]);
	/* A vCPU in KVM_RUN holds its table: binding then is refused. */
	{
		struct vm w = { .irqchip = true };
		struct sigaction sa = { .sa_handler = on_usr1 };
		struct kvm_cpuid2 *t0, *t1;
		struct parked pk;
		pthread_t th;

		sigaction(SIGUSR1, &sa, NULL);
		vm_create(&w, 2);
		t0 = get_cpuid(w.vcpu[0]);
		ret = -1;
		if (!start_parked(&th, &pk, w.vcpu[1])) {
			ret = bind(&b, w.vm, 2);
			unpark_ap(&w, 1, th);
		}
		/* vCPU 0 was bound before vCPU 1 refused: undone. */
		t1 = get_cpuid(w.vcpu[0]);
		bad = t1->nent != t0->nent ||
		      memcmp(t1->entries, t0->entries, t0->nent * sizeof(t0->entries[0]));
		ksft_test_result(ret == -EBUSY && !nr_bindings(NULL, NULL) && !bad,
				 "bind while a vCPU is in KVM_RUN: %d (%s), no binding left, vCPU 0's table the VMM's again\n",
				 ret, b.why);
		free(t0);
		free(t1);
		vm_destroy(&w, 2);
	}

	/* The same profile on an AMD guest: the AMD lines, not the Intel ones. */
	{
		struct vm a = { 0 };

		cpuid_amd = true;
		vm_create(&a, NR_VCPUS);
		cpuid_amd = false;
		ret = bind(&b, a.vm, NR_VCPUS);
		if (ret)
			ksft_print_msg("AMD guest: bind %d (%s)\n", ret, b.why);
		check_profile(&a, true);
		vm_destroy(&a, NR_VCPUS);
		wait_unbound();
	}
	test_amd_topology();
	ret = bind(&b, v.vm, NR_VCPUS);
	ksft_test_result(!ret && b.id, "bind by VM fd: id %u %s\n", b.id, ret ? b.why : "");
	check_profile(&v, false);
	/*
	 * Zero cost per exit: the profile is in KVM's own table, so nothing
	 * of the module runs on a CPUID exit, bound or not. Only a profile's
	 * 0xA (where KVM has a vPMU) needs the CPUID hook.
	 */
	kvm_leaf(0xa, 0, r);
	pmu_hook = (r[0] & 0xff) != 0;
	nr_bindings(&exits, &missed);
	bound_table = get_cpuid(v.vcpu[2]);
	ksft_test_result((pmu_hook || !exits) && !missed &&
			 probed("kvm_cpuid") == pmu_hook && probed("kvm_set_cpuid") &&
			 bound_table->nent > vmm_table->nent,
			 "bound, no clear: kvm_cpuid %s (vPMU %s), %llu CPUID exits seen, KVM's table %u -> %u entries\n",
			 pmu_hook ? "probed" : "not probed", pmu_hook ? "yes" : "no",
			 (unsigned long long)exits, vmm_table->nent, bound_table->nent);

	/* Online feature control, VM-wide then on one vCPU. */
	ret = feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x1, 2, sse_bit, why);
	bad = ret;
	for (i = 0; i < NR_VCPUS && !ret; i++) {
		guest_cpuid(&v, i, 0x1, 0, r);
		bad += !!(r[2] & sse_bit);
	}
	nr_bindings(&exits, &missed);
	bad += !probed("kvm_cpuid") || exits < NR_VCPUS;
	ksft_test_result(!bad,
			 "clear 0x1.ECX %#x on all vCPUs: gone from the next CPUID (hook on, %llu exits) %s\n",
			 sse_bit, (unsigned long long)exits, why);
	ret = feature(b.id, HYBRID_FEAT_RESTORE, HYBRID_ALL_VCPUS, 0x1, 2, sse_bit, why);
	bad = ret;
	for (i = 0; i < NR_VCPUS && !ret; i++) {
		guest_cpuid(&v, i, 0x1, 0, r);
		bad += !(r[2] & sse_bit);
	}
	bad += probed("kvm_cpuid") != pmu_hook;
	ksft_test_result(!bad, "restore: back on every vCPU, hook gone with the last clear %s\n",
			 why);
	/*
	 * Leaf 1 has no subleaves: KVM answers any ECX with it, so a clear
	 * written "0x1.0" must hide the bit from CPUID 1 with ECX=5 too, and
	 * a restore written without a subleaf must undo it.
	 */
	ret = feature_idx(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x1, 0, 2, sse_bit, why);
	bad = ret;
	for (i = 0; i < NR_VCPUS && !ret; i++) {
		guest_cpuid(&v, i, 0x1, 5, r);
		bad += !!(r[2] & sse_bit);
	}
	ret = feature(b.id, HYBRID_FEAT_RESTORE, HYBRID_ALL_VCPUS, 0x1, 2, sse_bit, why);
	guest_cpuid(&v, 0, 0x1, 5, r);
	bad += ret || !(r[2] & sse_bit);
	ksft_test_result(!bad,
			 "clear 0x1.0 ECX %#x hides it from CPUID 1 ECX=5, restore 0x1 %s\n",
			 sse_bit, why);
	ret = feature(b.id, HYBRID_FEAT_CLEAR, 3, 0x7, 3, 1u << 15, why);
	bad = ret;
	for (i = 0; i < NR_VCPUS && !ret; i++) {
		guest_cpuid(&v, i, 0x7, 0, r);
		bad += !!(r[3] & (1u << 15)) != (i != 3);
	}
	ret = feature(b.id, HYBRID_FEAT_RESTORE, 3, 0x7, 3, 1u << 15, why);
	guest_cpuid(&v, 3, 0x7, 0, r);
	bad += ret || !(r[3] & (1u << 15));
	ksft_test_result(!bad, "clear 7.EDX[15] on vCPU 3 only, then restore\n");

	/* What the guest sees as feature words, and a pool baseline. */
	{
		struct hybrid_vm_features vf = { .size = sizeof(vf), .id = b.id, .vcpu = 1 };
		struct hybrid_features sets[2];
		struct hybrid_baseline bl = { .size = sizeof(bl), .nr_sets = 2,
					      .flags = HYBRID_BASELINE_CHECK,
					      .sets = (uintptr_t)sets };

		bad = hyb(HYBRID_IOC_VM_FEATURES, &vf) != 0;
		guest_cpuid(&v, 1, 0x1, 0, r);
		bad += vf.features.word[0] != r[2];	/* 0x1.ECX as the guest saw it */
		sets[0] = vf.features;
		sets[1] = vf.features;
		sets[1].word[0] &= ~sse_bit;		/* a host without that bit */
		bl.check = vf.features;
		bad += hyb(HYBRID_IOC_BASELINE, &bl) != 0;
		bad += bl.nr_missing != 1 || bl.missing.word[0] != sse_bit;
		ret = feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x1, 2, sse_bit, why);
		bad += ret || hyb(HYBRID_IOC_VM_FEATURES, &vf);
		bl.check = vf.features;
		bad += hyb(HYBRID_IOC_BASELINE, &bl) || bl.nr_missing != 0;
		feature(b.id, HYBRID_FEAT_RESTORE, HYBRID_ALL_VCPUS, 0x1, 2, sse_bit, why);
		vf.vcpu = NR_VCPUS;
		bad += hyb(HYBRID_IOC_VM_FEATURES, &vf) != -EINVAL;
		ksft_test_result(!bad, "pool baseline: a subset only once the bit is cleared\n");
	}

	/* vPMU: E loses events online; the VMM applies the VM-wide filter.
	 * Where KVM's vPMU has no leaf 0xA (an AMD host) the change is
	 * refused and the guest keeps KVM's 0xA.
	 */
	{
		struct hybrid_pmu pm = { .size = sizeof(pm), .id = b.id, .type = 1,
					 .flags = HYBRID_PMU_SET, .gp_counters = 4,
					 .events_unavailable = 0xfe, .fixed_mask = 0x1 };
		struct {
			struct kvm_pmu_event_filter f;
			__u64 ev[HYBRID_PMU_MAX_EVENTS];
		} kf = { .f.action = KVM_PMU_EVENT_ALLOW };
		__u32 k[4];

		kvm_leaf(0xa, 0, k);
		if (!(k[0] & 0xff)) {
			ret = hyb(HYBRID_IOC_PMU, &pm);
			bad = ret != -EOPNOTSUPP;
			guest_cpuid(&v, 2, 0xa, 0, r);		/* an E vCPU */
			bad += memcmp(r, k, sizeof(k)) != 0;
			pm.type = 2;
			bad += hyb(HYBRID_IOC_PMU, &pm) != -EINVAL;
			ksft_test_result(!bad,
					 "vPMU: KVM has no leaf 0xA here: change refused (%s), 0xA stays KVM's\n",
					 strerror(-ret));
		} else {
			bad = hyb(HYBRID_IOC_PMU, &pm) != 0;
			guest_cpuid(&v, 2, 0xa, 0, r);		/* an E vCPU */
			bad += !pmu_leaf_ok(r, 4, 0xfe);
			guest_cpuid(&v, 0, 0xa, 0, r);		/* a P vCPU */
			bad += !pmu_leaf_ok(r, 8, 0);
			bad += pm.nevents != 8 || pm.fixed_counter_bitmap != 0x7;
			kf.f.nevents = pm.nevents;
			kf.f.fixed_counter_bitmap = pm.fixed_counter_bitmap;
			memcpy(kf.ev, pm.events, sizeof(kf.ev));
			ret = ioctl(v.vm, KVM_SET_PMU_EVENT_FILTER, &kf.f);
			ksft_print_msg("KVM_SET_PMU_EVENT_FILTER with %u events: %s\n", pm.nevents,
				       ret ? strerror(errno) : "accepted");
			bad += ret != 0;
			pm.events_unavailable = 0x100;		/* beyond 8 events */
			bad += hyb(HYBRID_IOC_PMU, &pm) != -EINVAL;
			pm.type = 2;
			bad += hyb(HYBRID_IOC_PMU, &pm) != -EINVAL;
			ksft_test_result(!bad,
					 "vPMU: E 0xA changed online within KVM's vPMU, VMM filters\n");
		}
	}

	/* Refusals. */
	bad = 0;
	ret = feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x80000008, 0, 0xff, why);
	ksft_print_msg("MAXPHYADDR clear: %s (%s)\n", strerror(-ret), why);
	bad += ret != -EPERM || !strstr(why, "MAXPHYADDR");
	bad += feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x1, 3, 1u << 6, why) != -EPERM;
	/* Feature words inside those leaves are allowed: 0x80000008 EBX
	 * (IBPB, SSBD, ...) hides a bit the guest sees; 0xD.0's masks and
	 * sizes stay refused.
	 */
	guest_cpuid(&v, 0, 0x80000008, 0, r);
	bit = r[1] & -r[1];
	if (!bit)	/* nothing to see hidden: the acceptance is still checked */
		bit = 1u << 12;
	ret = feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x80000008, 1, bit, why);
	ksft_print_msg("0x80000008 EBX clear of %#x (KVM's EBX %#x): %s\n", bit, r[1],
		       ret ? strerror(-ret) : "done");
	bad += ret != 0;
	guest_cpuid(&v, 1, 0x80000008, 0, r);
	bad += (r[1] & bit) != 0;
	bad += feature(b.id, HYBRID_FEAT_RESTORE, HYBRID_ALL_VCPUS, 0x80000008, 1, bit, why) != 0;
	bad += feature_idx(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0xd, 0, 0, 1, why) != -EPERM;
	/* 0xD.1 EAX: XSAVEOPT, XSAVEC, XFD may go; XGETBV1 and XSAVES not. */
	guest_cpuid(&v, 0, 0xd, 1, r);
	bit = r[0] & 0x13 & -(r[0] & 0x13);
	ret = feature_idx(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0xd, 1, 0, bit ? bit : 1, why);
	ksft_print_msg("0xD.1 EAX clear of %#x (KVM's EAX %#x): %s\n", bit ? bit : 1, r[0],
		       ret ? strerror(-ret) : "done");
	bad += ret != 0;
	guest_cpuid(&v, 1, 0xd, 1, r);
	bad += bit && (r[0] & bit);
	bad += feature_idx(b.id, HYBRID_FEAT_RESTORE, HYBRID_ALL_VCPUS, 0xd, 1, 0, bit ? bit : 1,
			   why) != 0;
	ret = feature_idx(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0xd, 1, 0, 1u << 3, why);
	bad += ret != -EPERM;
	ret = feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x80000008, 2, 0xff, why);
	bad += ret != -EPERM;
	bad += feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x1, 4, 1, why) != -EINVAL;
	bad += feature(b.id, HYBRID_FEAT_CLEAR, NR_VCPUS, 0x1, 2, sse_bit, why) != -EINVAL;
	bad += feature(b.id + 100, HYBRID_FEAT_CLEAR, 0, 0x1, 2, sse_bit, why) != -ENOENT;
	bad += feature(b.id, HYBRID_FEAT_RESTORE, 0, 0x1, 2, sse_bit, why) != -ENOENT;
	ret = feature(b.id, HYBRID_FEAT_CLEAR, HYBRID_ALL_VCPUS, 0x12345678, 0, 1, why);
	ksft_print_msg("unknown leaf: %s (%s)\n", strerror(-ret), why);
	bad += ret != -EINVAL;
	/* A leaf only the profile defines (0x1A on this AMD host) is known. */
	bad += feature(b.id, HYBRID_FEAT_CLEAR, 0, 0x1a, 0, 1u << 30, why) != 0;
	guest_cpuid(&v, 0, 0x1a, 0, r);
	bad += r[0] != 0x00000001;		/* Core (0x40) minus bit 30 */
	bad += feature(b.id, HYBRID_FEAT_RESTORE, 0, 0x1a, 0, 1u << 30, why) != 0;
	ksft_test_result(!bad,
			 "feature refusals: MMU -EPERM (0x80000008 EBX allowed), bad input -EINVAL, ENOENT\n");

	bad = 0;
	devnull = open("/dev/null", O_RDONLY);
	bad += bind(&b, devnull, NR_VCPUS) != -EINVAL;
	ksft_print_msg("foreign fd: %s\n", b.why);
	close(devnull);
	bad += bind(&b, 1000, NR_VCPUS) != -EBADF;
	bad += bind(&b, v.vm, NR_VCPUS - 1) != -EINVAL;
	ksft_print_msg("wrong vCPU count: %s\n", b.why);
	bad += bind(&b, v.vm, NR_VCPUS) != -EBUSY;
	ksft_print_msg("second bind: %s\n", b.why);
	memset(&b, 0, sizeof(b));
	b.size = 8;
	bad += hyb(HYBRID_IOC_BIND, &b) != -EINVAL;
	b.size = sizeof(b);
	b.flags = HYBRID_BIND_BY_PID;
	b.pid = 0x3fffffff;
	b.nr_types = 2;
	b.nr_vcpus = NR_VCPUS;
	b.types = (uintptr_t)types;
	b.vcpu_types = (uintptr_t)vtypes;
	bad += hyb(HYBRID_IOC_BIND, &b) != -ESRCH;
	b.pid = 1;	/* init holds no VM */
	bad += hyb(HYBRID_IOC_BIND, &b) != -ESRCH;
	ksft_print_msg("pid 1: %s\n", b.why);
	b.flags = 1u << 7;
	bad += hyb(HYBRID_IOC_BIND, &b) != -EINVAL;
	types[1].base_mhz = 1800;
	bad += bind(&b, v.vm, NR_VCPUS) != -EINVAL;	/* refused before EBUSY */
	ksft_print_msg("two base frequencies: %s\n", b.why);
	types[1].base_mhz = 2000;
	ksft_test_result(!bad, "bind refusals: fds, vCPUs, double, size, pids, flags, profile\n");

	/* HYBRID_IOC_CPUID2 on vCPU 2's stock table. */
	{
		struct kvm_cpuid2 *c = cpuid2_alloc();
		struct hybrid_cpuid2 a = { .size = sizeof(a), .vcpu = 2 };
		struct hybrid_binding_info bi = { 0 };
		struct hybrid_list l = { .size = sizeof(l), .nr = 1,
			.entry_size = sizeof(bi), .entries = (uintptr_t)&bi };
		__u32 k, found = 0;

		/* No binding listed: id 0, and the checks below fail on it. */
		if (hyb(HYBRID_IOC_LIST, &l) || !l.nr)
			ksft_print_msg("HYBRID_IOC_LIST: no binding (%s)\n", strerror(errno));
		memcpy(c, supported, sizeof(*c) + supported->nent * sizeof(c->entries[0]));
		/* An Intel-vendor table: 0x1A is one of the profile's Intel lines. */
		for (k = 0; k < c->nent; k++) {
			if (c->entries[k].function)
				continue;
			c->entries[k].ebx = 0x756e6547;
			c->entries[k].edx = 0x49656e69;
			c->entries[k].ecx = 0x6c65746e;
		}
		a.id = bi.id;
		a.nent = c->nent;
		a.max_nent = MAX_ENT;
		a.entries = (uintptr_t)c->entries;
		ret = hyb(HYBRID_IOC_CPUID2, &a);
		for (k = 0; !ret && k < a.nent; k++)
			if (c->entries[k].function == 0x1a &&
			    c->entries[k].eax >> 24 == HYBRID_INTEL_ATOM)
				found = 1;
		ksft_test_result(!ret && found && a.nent > supported->nent,
				 "CPUID2: vCPU 2's table gets 0x1A = E (%u -> %u entries)\n",
				 supported->nent, a.nent);
		a.vcpu = NR_VCPUS;
		ret = hyb(HYBRID_IOC_CPUID2, &a);
		ksft_test_result(ret == -EINVAL, "CPUID2: out-of-range vCPU refused\n");

		/*
		 * A VMM that sets a vCPU's CPUID again after it ran (QEMU
		 * re-plugging a vCPU whose fd it kept): KVM accepts only the
		 * same table; the VMM's own still compares equal while bound,
		 * and the profile stays.
		 */
		errno = 0;
		ret = ioctl(v.vcpu[2], KVM_SET_CPUID2, vmm_table) ? -errno : 0;
		guest_cpuid(&v, 2, 0x1a, 0, r);
		ksft_test_result(!ret && r[0] >> 24 == HYBRID_INTEL_ATOM,
				 "KVM_SET_CPUID2 again after the vCPU ran, same table: %d, 0x1A still E\n",
				 ret);
		/* A different table after the first run: KVM's own refusal, profile kept. */
		vmm_table->entries[0].ecx ^= 1;
		errno = 0;
		ret = ioctl(v.vcpu[2], KVM_SET_CPUID2, vmm_table) ? -errno : 0;
		vmm_table->entries[0].ecx ^= 1;
		guest_cpuid(&v, 2, 0x1a, 0, r);
		ksft_test_result(ret == -EINVAL && r[0] >> 24 == HYBRID_INTEL_ATOM,
				 "KVM_SET_CPUID2 after the vCPU ran, a different table: %d, 0x1A still E\n",
				 ret);

		/* Unbind: stock values at once. */
		{
			struct hybrid_unbind u = { .size = sizeof(u), .id = bi.id };
			struct hybrid_unbind u0 = { .size = sizeof(u0), .id = 0 };
			struct kvm_cpuid2 *now;
			__u32 k;

			/* Id 0 is no binding's (module exit's "any" must not leak). */
			ret = hyb(HYBRID_IOC_UNBIND, &u0);
			ksft_test_result(ret == -ENOENT && nr_bindings(NULL, NULL) == 1,
					 "unbind id 0: %d, the binding stays\n", ret);
			ret = hyb(HYBRID_IOC_UNBIND, &u);
			bad = ret;
			for (i = 0; i < NR_VCPUS; i++) {
				guest_cpuid(&v, i, 0x1a, 0, r);
				bad += memcmp(r, stock[i], sizeof(r)) != 0;
			}
			guest_cpuid(&v, 0, 0x7, 0, r);
			bad += !!(r[3] & (1u << 15));
			ksft_test_result(!bad && !nr_bindings(NULL, NULL),
					 "unbind: stock 0x1A and 7.EDX on every vCPU, no binding left\n");
			/* KVM holds the VMM's table again, entry for entry. */
			now = get_cpuid(v.vcpu[2]);
			bad = now->nent != vmm_table->nent;
			for (k = 0; !bad && k < now->nent; k++)
				bad += memcmp(&now->entries[k], &vmm_table->entries[k],
					      sizeof(now->entries[k])) != 0;
			ksft_test_result(!bad && !probed("kvm_set_cpuid"),
					 "unbind: KVM's table is the VMM's (%u entries, bound %u), no probe left\n",
					 now->nent, bound_table->nent);
			free(now);
			ksft_test_result(hyb(HYBRID_IOC_UNBIND, &u) == -ENOENT,
					 "unbind twice: -ENOENT\n");
		}
		free(c);
		free(vmm_table);
		free(bound_table);
	}

	/* Bind by pid: a child process owns a 1-vCPU VM. */
	child = vm_child(&v, &ready);
	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.flags = HYBRID_BIND_BY_PID;
	b.pid = child;
	b.nr_types = 2;
	b.nr_vcpus = 1;
	b.types = (uintptr_t)types;
	b.vcpu_types = (uintptr_t)vtypes;
	ret = ready ? hyb(HYBRID_IOC_BIND, &b) : -EIO;
	ksft_test_result(!ret && nr_bindings(NULL, NULL) == 1,
			 "bind by pid %d: id %u %s\n", child, b.id, b.why);
	/* The VMM dies: its VM is destroyed, the binding goes with it. */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	wait_unbound();
	ksft_test_result(!nr_bindings(NULL, NULL), "VMM killed while bound: binding gone\n");

	/* Close our VM while bound. */
	ret = bind(&b, v.vm, NR_VCPUS);
	guest_cpuid(&v, 2, 0x1a, 0, r);
	vm_destroy(&v, NR_VCPUS);
	wait_unbound();
	ksft_test_result(!ret && r[0] >> 24 == HYBRID_INTEL_ATOM && !nr_bindings(NULL, NULL),
			 "VM closed while bound: binding gone\n");

	/*
	 * The VMM sets a vCPU's CPUID again before it ever ran: KVM frees
	 * the table the binding installed and takes the new one; the
	 * profile must be in that one too.
	 */
	memset(&v, 0, sizeof(v));
	vm_create(&v, NR_VCPUS);
	ret = bind(&b, v.vm, NR_VCPUS);
	set_cpuid(v.vcpu[3], 3);
	guest_cpuid(&v, 3, 0x1a, 0, r);
	vm_destroy(&v, NR_VCPUS);
	wait_unbound();
	ksft_test_result(!ret && r[0] >> 24 == HYBRID_INTEL_ATOM && !nr_bindings(NULL, NULL),
			 "KVM_SET_CPUID2 again before the first run, while bound: 0x1A %#x\n",
			 r[0]);

	/*
	 * A vCPU parked in KVM_RUN before its first VM entry (an AP the guest
	 * never started) holds its vCPU mutex for as long as it waits: a clear
	 * on it, or reading its features, must say -EBUSY at once, not hang.
	 */
	{
		struct sigaction sa = { .sa_handler = on_usr1 };
		struct hybrid_vm_features vf = { .size = sizeof(vf), .vcpu = 1 };
		struct timespec t0 = {}, t1 = {};
		char why2[HYBRID_WHY_LEN] = "";
		struct parked pk;
		pthread_t th;
		long ms;
		int r1 = -1, r2 = -1;

		sigaction(SIGUSR1, &sa, NULL);
		memset(&v, 0, sizeof(v));
		v.irqchip = true;
		vm_create(&v, 2);
		ret = bind(&b, v.vm, 2);
		if (!ret && !start_parked(&th, &pk, v.vcpu[1])) {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			r1 = feature(b.id, HYBRID_FEAT_CLEAR, 1, 0x1, 2, sse_bit, why2);
			vf.id = b.id;
			r2 = hyb(HYBRID_IOC_VM_FEATURES, &vf);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			unpark_ap(&v, 1, th);
		}
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		/* Seen 1-4 ms: a wait for the AP of 3 s or more fails. */
		ksft_test_result(!ret && r1 == -EBUSY && r2 == -EBUSY && ms < 3000,
				 "vCPU parked in KVM_RUN before its first entry: clear %d, features %d in %ld ms (%s)\n",
				 r1, r2, ms, why2);
		vm_destroy(&v, 2);
	}

	/*
	 * An Intel-vendor guest whose table ends at 0xD: 6.1's KVM answers a
	 * leaf above that with 0xD's entry (its XSAVE sizes). The profile
	 * raises the maximum to 0x1A; a leaf in between that neither KVM nor
	 * the profile has (0x15, the TSC ratio) must read as zeros, and a leaf
	 * above 0x1A as 0x1A does (Intel's rule, with the maximum shown).
	 */
	{
		__u32 tmax, raised, s15[4], r15[4], r1a[4], r1b[4], sd[4];

		memset(&v, 0, sizeof(v));
		cpuid_intel = true;
		vm_create(&v, 2);
		cpuid_intel = false;
		guest_cpuid(&v, 0, 0x0, 0, r);
		tmax = r[0];
		guest_cpuid(&v, 0, 0x15, 0, s15);
		guest_cpuid(&v, 0, 0xd, 0, sd);
		ret = bind(&b, v.vm, 2);
		guest_cpuid(&v, 0, 0x0, 0, r);
		raised = r[0];
		guest_cpuid(&v, 0, 0x15, 0, r15);
		guest_cpuid(&v, 0, 0x1a, 0, r1a);
		guest_cpuid(&v, 0, 0x1b, 0, r1b);
		ksft_print_msg("Intel-vendor guest: CPUID 0x15 unbound %#x %#x %#x %#x\n",
			       s15[0], s15[1], s15[2], s15[3]);
		/* Unbound, KVM's redirect is visible: 0x15 reads as 0xD.0. */
		bad = tmax != 0xd || memcmp(s15, sd, sizeof(sd)) != 0;
		bad += ret || raised < 0x1a || (r15[0] | r15[1] | r15[2] | r15[3]);
		bad += memcmp(r1a, r1b, sizeof(r1a)) != 0 || !r1a[0];
		if (!sd[1])	/* no 0xD.0 on this host (EBX is at least 576) */
			ksft_test_result_skip("Intel-vendor guest: the host has no leaf 0xD\n");
		else
			ksft_test_result(!bad,
					 "Intel-vendor guest, max %#x raised to %#x: 0x15 %#x %#x %#x %#x\n",
					 tmax, raised, r15[0], r15[1], r15[2], r15[3]);
		vm_destroy(&v, 2);
	}
	ksft_finished();
}
