// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid benchmark: the cost of a CPUID exit with and without a
 * binding. Guest code (real mode) runs CPUID in a loop of N iterations,
 * each one a VM exit that KVM handles in the kernel; the wall time of the
 * KVM_RUN divided by N is the cost of one CPUID exit as the guest sees it.
 * Configurations, side by side, in one run:
 *   stock        nothing bound
 *   other bound  another VM is bound (its profile in its own KVM table)
 *   bound        this VM is bound: its profile is in KVM's table for it
 *   clear        and a feature clear is in force: the CPUID hook (a
 *                kretprobe on kvm_cpuid) runs on every CPUID exit
 *   stock again  all unbound: the run's own noise next to the first row
 * for leaf 0x1A (overridden when bound) and leaf 0x1 (never overridden).
 * REPS rounds, each configuration once per round (interleaved, so that
 * drift over the run falls on every row alike); medians of the rounds.
 * Prints a "| ..." table (selftests/run.sh bench). In make check
 * (BENCH_QUICK=yes, lib/vm.sh) QUICK_REPS rounds: it shows that the
 * benchmark runs; make bench gives the figures.
 */
#include <time.h>
#include "hybrid_kvm.h"

#define N	10000
#define REPS	7
#define QUICK_REPS	3
#define NCONF	5

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * ns per CPUID of leaf @leaf on vCPU 0 of @v, one run of N; @eax: what
 * the last CPUID of the loop returned in EAX.
 */
static __u64 measure(struct vm *v, __u32 leaf, __u32 *eax)
{
	struct kvm_regs regs;
	__u64 t0, t;

	memset(&regs, 0, sizeof(regs));
	regs.rdi = N;
	regs.rsi = leaf;
	t0 = now_ns();
	vcpu_run_to_hlt(v, 0, &regs);
	t = now_ns() - t0;
	if (regs.rdi & 0xffff)
		ksft_exit_fail_msg("loop ended early: edi %#llx\n", regs.rdi);
	*eax = regs.rax;
	return t / N;
}

static __u64 median(__u64 *t, int reps)
{
	qsort(t, reps, sizeof(t[0]), cmp_u64);
	return t[reps / 2];
}

int main(void)
{
	static const __u32 leaves[] = { 0x1a, 0x1 };
	static const char *const names[NCONF] = {
		"stock (nothing bound)", "another VM bound", "this VM bound",
		"this VM bound, a feature clear in force", "stock again (all unbound)" };
	struct hybrid_core_type types[2];
	__u64 ns[NCONF][2], t[NCONF][2][REPS];
	__u32 eax[NCONF][2] = {}, wrong[NCONF] = {}, hybrid, e;
	__u8 vt[NR_VCPUS] = { 0, 0, 1, 1 };
	struct hybrid_bind b;
	struct hybrid_unbind u = { .size = sizeof(u) };
	/* vCPU 3's hybrid bit: a clear that vCPU 0's answers do not show. */
	struct hybrid_feature f = { .size = sizeof(f), .op = HYBRID_FEAT_CLEAR,
				    .vcpu = 3, .function = 0x7, .index = 0,
				    .reg = 3, .bits = 1u << 15 };
	const char *quick = getenv("BENCH_QUICK");
	int reps = quick && !strcmp(quick, "yes") ? QUICK_REPS : REPS;
	struct vm v = { 0 }, other = { 0 };
	__u32 ids[2];
	int c, l, r;

	ksft_print_header();
	ksft_set_plan(NCONF);
	kvm_setup();
	test_profile(types, &b, vt, NR_VCPUS);
	vm_create_cpuid_loop(&v, NR_VCPUS);
	vm_create(&other, NR_VCPUS);
	hybrid = (__u32)types[0].intel_core_type << 24 | types[0].native_model_id;
	/*
	 * Rounds: every configuration once per round, in this order, so
	 * that the host's drift over the run falls on all of them alike.
	 */
	for (r = 0; r < reps; r++) {
		for (c = 0; c < NCONF; c++) {
			if (c == 1 || c == 2) {
				b.vm_fd = c == 1 ? other.vm : v.vm;
				b.id = 0;	/* out only: must be 0 going in */
				if (hyb(HYBRID_IOC_BIND, &b))
					ksft_exit_fail_msg("bind: %s %s\n", strerror(errno),
							   b.why);
				ids[c - 1] = b.id;
			}
			if (c == 3) {
				f.id = ids[1];
				if (hyb(HYBRID_IOC_FEATURE, &f))
					ksft_exit_fail_msg("clear: %s %s\n", strerror(errno),
							   f.why);
			}
			if (c == 4) {
				for (l = 0; l < 2; l++) {
					u.id = ids[l];
					if (hyb(HYBRID_IOC_UNBIND, &u))
						ksft_exit_fail_msg("unbind %u: %s\n", ids[l],
								   strerror(errno));
				}
			}
			for (l = 0; l < 2; l++) {
				t[c][l][r] = measure(&v, leaves[l], &e);
				/*
				 * What was timed must be what it says: vCPU 0 of
				 * the bound VM sees its P-core in 0x1A, the others
				 * the stock answer; 0x1 is never rewritten.
				 */
				if (!r && !c)
					eax[0][l] = e;
				if (l == 0 && (c == 2 || c == 3))
					wrong[c] += e != hybrid;
				else
					wrong[c] += e != eax[0][l] || (l == 0 && e == hybrid);
				eax[c][l] = e;
			}
		}
	}
	for (c = 0; c < NCONF; c++) {
		for (l = 0; l < 2; l++)
			ns[c][l] = median(t[c][l], reps);
		ksft_test_result(!wrong[c],
				 "%s: 0x1A EAX %#x, 0x1 EAX %#x (%u wrong); ns per CPUID: %llu, %llu\n",
				 names[c], eax[c][0], eax[c][1], wrong[c],
				 (unsigned long long)ns[c][0], (unsigned long long)ns[c][1]);
	}
	if (reps != REPS)
		printf("| make check's quick run (%d rounds, beside other VMs): see make bench\n",
		       reps);
	printf("| configuration | CPUID 0x1A (ns) | vs stock | CPUID 0x1 (ns) | vs stock |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (c = 0; c < NCONF; c++)
		printf("| %s | %llu | %.2fx | %llu | %.2fx |\n", names[c],
		       (unsigned long long)ns[c][0], (double)ns[c][0] / ns[0][0],
		       (unsigned long long)ns[c][1], (double)ns[c][1] / ns[0][1]);
	vm_destroy(&other, NR_VCPUS);
	vm_destroy(&v, NR_VCPUS);
	ksft_finished();
}
