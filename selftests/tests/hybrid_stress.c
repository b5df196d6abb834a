// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid under load. Four vCPU threads run CPUID 0x1A in a loop (200
 * per KVM_RUN, a short pause between runs, as a VM with frequent exits)
 * and set their own CPUID table again after every 32 runs (a VMM
 * re-plugging a vCPU whose fd it kept: KVM compares it with the bound
 * table). Meanwhile the main thread binds the VM (the bind waits for each
 * vCPU between two runs), clears and restores a bit of 0x1A (the CPUID
 * hook), and unbinds, again and again, for SECONDS and until it did
 * MIN_CYCLES cycles and every vCPU MIN_CYCLES runs: progress is counted,
 * not timed, so a VM the host starves runs longer instead of failing. It
 * fails when that is not done in MAX_SECS (every bind refused, a vCPU
 * that never runs).
 * Every answer a vCPU reads must be its stock one, its profile's, or its
 * profile's with that bit cleared; no table set may fail.
 *
 * Then it binds once more, closes /dev/kvm_hybrid, creates MARKER, and
 * waits for the module to go (hybrid_load.sh unloads it while the vCPUs
 * still run): module exit must undo the profile in place, so every vCPU
 * reads its stock 0x1A again, and its table is the VMM's.
 *
 * Kprobes go in and out only while no vCPU executes the probed function:
 * a second VM ("anchor"), bound with a clear in force before the vCPUs
 * start, keeps the probes registered through the loop, and the vCPUs are
 * paused while it goes. On this test platform (QEMU 7.2 multi-threaded
 * TCG) patching the call site of a function another vCPU is executing
 * faults (RIP 0, or a CPU stuck on the site), with or without kvm_hybrid:
 * a tracefs kprobe on kvm_cpuid toggled under this load does the same,
 * and single-threaded TCG does not (README, "The nested platform").
 *
 * Usage: hybrid_stress SECONDS MARKER (SECONDS 1 to MAX_SECS)
 */
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include "hybrid_kvm.h"

#define PER_RUN		200
#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define SET_EVERY	32
#define MIN_CYCLES	3
#define MAX_SECS	120

static struct vm v;
static struct kvm_cpuid2 *table[NR_VCPUS];
static int stop, paused, quiet;	/* main thread -> vCPU threads */
static __u32 allowed[NR_VCPUS][3];
static __u32 last[NR_VCPUS];		/* vCPU threads -> main thread */
static int parked[NR_VCPUS];		/* seen paused, not in KVM_RUN (one pause) */
static unsigned long runs[NR_VCPUS], bad_value[NR_VCPUS], set_fail[NR_VCPUS];
static __u32 bad_seen[NR_VCPUS];

static void run_once(int i, __u32 *eax)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE;
	regs.rflags = 2;
	regs.rdi = PER_RUN;
	regs.rsi = 0x1a;
	if (ioctl(v.vcpu[i], KVM_SET_REGS, &regs))
		ksft_exit_fail_msg("vCPU %d: KVM_SET_REGS: %s\n", i, strerror(errno));
	if (ioctl(v.vcpu[i], KVM_RUN, 0) || v.run[i]->exit_reason != KVM_EXIT_HLT)
		ksft_exit_fail_msg("vCPU %d: KVM_RUN: %s, exit reason %u\n", i,
				   strerror(errno), v.run[i]->exit_reason);
	if (ioctl(v.vcpu[i], KVM_GET_REGS, &regs))
		ksft_exit_fail_msg("vCPU %d: KVM_GET_REGS: %s\n", i, strerror(errno));
	*eax = regs.rax;
}

static void *vcpu_loop(void *arg)
{
	int i = (int)(long)arg, k;
	__u32 eax;

	while (!LOAD(stop)) {
		if (LOAD(paused)) {
			STORE(parked[i], 1);
			usleep(1000);
			continue;
		}
		STORE(parked[i], 0);
		run_once(i, &eax);
		STORE(last[i], eax);
		for (k = 0; k < 3 && eax != allowed[i][k]; k++)
			;
		if (k == 3) {
			bad_value[i]++;
			bad_seen[i] = eax;
		}
		STORE(runs[i], runs[i] + 1);
		if (runs[i] % SET_EVERY == 0 && !LOAD(quiet) &&
		    ioctl(v.vcpu[i], KVM_SET_CPUID2, table[i]))
			set_fail[i]++;
		usleep(300);
	}
	return NULL;
}

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * The waits below count what the vCPU threads did, never sleep a fixed
 * time: a VM the host starves only takes longer. WAIT_SECS ends a wait
 * that would never end (a vCPU stuck in KVM_RUN).
 */
#define WAIT_SECS	60

/* Wait until no vCPU thread is in KVM_RUN (paused set). */
static void wait_parked(void)
{
	__u64 end = now_ms() + WAIT_SECS * 1000ULL;
	int i = 0;

	while (i < NR_VCPUS) {
		if (LOAD(parked[i])) {
			i++;
			continue;
		}
		if (now_ms() > end)
			ksft_exit_fail_msg("vCPU %d did not leave KVM_RUN in %d s\n",
					   i, WAIT_SECS);
		usleep(1000);
	}
}

/*
 * Wait until every vCPU has run twice since now: its last answer is from
 * a run that began after the caller's change. Return: 0, or -1 when one
 * did not.
 */
static int wait_fresh_runs(void)
{
	__u64 end = now_ms() + WAIT_SECS * 1000ULL;
	unsigned long from[NR_VCPUS];
	int i;

	for (i = 0; i < NR_VCPUS; i++)
		from[i] = LOAD(runs[i]);
	for (i = 0; i < NR_VCPUS; ) {
		if (LOAD(runs[i]) - from[i] >= 2) {
			i++;
			continue;
		}
		if (now_ms() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

/* The fewest runs a vCPU did since @from (LOAD(runs[]) then). */
static unsigned long fewest_runs(const unsigned long *from)
{
	unsigned long n, min = ~0UL;
	int i;

	for (i = 0; i < NR_VCPUS; i++) {
		n = LOAD(runs[i]) - from[i];
		min = n < min ? n : min;
	}
	return min;
}

int main(int argc, char **argv)
{
	struct hybrid_core_type types[2];
	__u8 vt[NR_VCPUS] = { 0, 0, 1, 1 };
	struct hybrid_bind b;
	struct hybrid_feature f = { .size = sizeof(f), .vcpu = HYBRID_ALL_VCPUS,
				    .function = 0x1a, .index = HYBRID_ANY_INDEX,
				    .reg = 0, .bits = 1 };
	struct hybrid_unbind u = { .size = sizeof(u) };
	unsigned long cycles = 0, busy = 0, errs = 0, total_bad = 0, total_set = 0, total_runs = 0;
	pthread_t th[NR_VCPUS];
	struct kvm_cpuid2 *now;
	struct vm anchor = { 0 };
	__u32 anchor_id;
	unsigned long from[NR_VCPUS], fewest;
	__u64 start, elapsed, end;
	int i, ret, secs, reverted, unloaded, fresh;
	struct stat st;
	FILE *m;

	if (argc != 3)
		ksft_exit_fail_msg("usage: hybrid_stress SECONDS MARKER\n");
	secs = atoi(argv[1]);
	if (secs < 1 || secs > MAX_SECS)
		ksft_exit_fail_msg("SECONDS: 1 to %d\n", MAX_SECS);
	ksft_print_header();
	ksft_set_plan(3);
	kvm_setup();
	test_profile(types, &b, vt, NR_VCPUS);
	vm_create_cpuid_loop(&v, NR_VCPUS);
	for (i = 0; i < NR_VCPUS; i++) {
		struct kvm_sregs sregs;
		__u32 p = (__u32)types[vt[i]].intel_core_type << 24 |
			  types[vt[i]].native_model_id;

		if (ioctl(v.vcpu[i], KVM_GET_SREGS, &sregs))
			ksft_exit_fail_msg("KVM_GET_SREGS: %s\n", strerror(errno));
		sregs.cs.base = 0;
		sregs.cs.selector = 0;
		if (ioctl(v.vcpu[i], KVM_SET_SREGS, &sregs))
			ksft_exit_fail_msg("KVM_SET_SREGS: %s\n", strerror(errno));
		run_once(i, &allowed[i][0]);		/* stock */
		allowed[i][1] = p;			/* the profile's */
		allowed[i][2] = p & ~1u;		/* with bit 0 cleared */
		table[i] = get_cpuid(v.vcpu[i]);
	}
	/* The anchor: the probes (and the CPUID hook) in before any vCPU runs. */
	vm_create(&anchor, NR_VCPUS);
	b.vm_fd = anchor.vm;
	if (hyb(HYBRID_IOC_BIND, &b))
		ksft_exit_fail_msg("anchor bind: %s %s\n", strerror(errno), b.why);
	anchor_id = b.id;
	f.id = anchor_id;
	f.op = HYBRID_FEAT_CLEAR;
	f.function = 0x1;
	f.bits = 1;
	f.reg = 2;
	if (hyb(HYBRID_IOC_FEATURE, &f))
		ksft_exit_fail_msg("anchor clear: %s %s\n", strerror(errno), f.why);
	f.function = 0x1a;
	f.reg = 0;
	for (i = 0; i < NR_VCPUS; i++)
		if (pthread_create(&th[i], NULL, vcpu_loop, (void *)(long)i))
			ksft_exit_fail_msg("pthread_create\n");

	for (i = 0; i < NR_VCPUS; i++)
		from[i] = LOAD(runs[i]);
	start = now_ms();
	while ((elapsed = now_ms() - start) < secs * 1000ULL ||
	       ((cycles < MIN_CYCLES || fewest_runs(from) < MIN_CYCLES) && !errs &&
		elapsed < MAX_SECS * 1000ULL)) {
		b.vm_fd = v.vm;
		b.id = 0;
		ret = hyb(HYBRID_IOC_BIND, &b);
		if (ret == -EBUSY) {
			busy++;
			continue;
		}
		errs += ret != 0;
		if (ret)
			continue;
		f.id = b.id;
		f.op = HYBRID_FEAT_CLEAR;
		errs += hyb(HYBRID_IOC_FEATURE, &f) != 0;
		usleep(20000);
		f.op = HYBRID_FEAT_RESTORE;
		errs += hyb(HYBRID_IOC_FEATURE, &f) != 0;
		usleep(20000);
		u.id = b.id;
		errs += hyb(HYBRID_IOC_UNBIND, &u) != 0;
		cycles++;
	}
	fewest = fewest_runs(from);
	for (i = 0; i < NR_VCPUS; i++) {
		total_bad += LOAD(bad_value[i]);
		total_set += LOAD(set_fail[i]);
		total_runs += LOAD(runs[i]) - from[i];
	}
	ksft_test_result(cycles >= MIN_CYCLES && fewest >= MIN_CYCLES && !errs && !total_bad &&
			 !total_set,
			 "%.1f s under load: %lu bind/clear/restore/unbind cycles, %lu vCPU runs of %d CPUIDs, the fewest %lu of one vCPU (at least %d each; %lu binds EBUSY), %lu errors; %lu unexpected 0x1A (e.g. %#x), %lu table sets failed\n",
			 elapsed / 1000.0, cycles, total_runs, PER_RUN, fewest, MIN_CYCLES, busy,
			 errs, total_bad, bad_seen[0] | bad_seen[1] | bad_seen[2] | bad_seen[3],
			 total_set);

	/*
	 * The anchor goes with the vCPUs paused (the hook's probe out); from
	 * now on no vCPU sets its CPUID (kvm_set_cpuid's probe goes at unload).
	 */
	STORE(quiet, 1);
	STORE(paused, 1);
	wait_parked();
	u.id = anchor_id;
	if (hyb(HYBRID_IOC_UNBIND, &u))
		ksft_exit_fail_msg("anchor unbind: %s\n", strerror(errno));
	STORE(paused, 0);
	/* Bound once more, running; the module goes while the vCPUs run. */
	b.vm_fd = v.vm;
	end = now_ms() + WAIT_SECS * 1000ULL;
	do {
		b.id = 0;
		ret = hyb(HYBRID_IOC_BIND, &b);
	} while (ret == -EBUSY && now_ms() < end);
	reverted = 0;
	fresh = !ret && !wait_fresh_runs();
	if (fresh)
		for (i = 0; i < NR_VCPUS; i++)
			reverted += LOAD(last[i]) == allowed[i][1];
	close(hyb_fd);
	m = fopen(argv[2], "w");
	if (!m)
		ksft_exit_fail_msg("%s: %s\n", argv[2], strerror(errno));
	fclose(m);
	end = now_ms() + 2 * WAIT_SECS * 1000ULL;
	while (!stat("/sys/module/kvm_hybrid", &st) && now_ms() < end)
		usleep(50000);
	unloaded = stat("/sys/module/kvm_hybrid", &st) != 0;
	ksft_test_result(!ret && fresh && reverted == NR_VCPUS && unloaded,
			 "bound while running (%d), every vCPU ran since (%d) and saw its profile (%d of %d); kvm_hybrid unloaded (%d)\n",
			 ret, fresh, reverted, NR_VCPUS, unloaded);
	/* Every vCPU's last answer from a run begun after the unload. */
	fresh = unloaded && !wait_fresh_runs();
	STORE(stop, 1);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(th[i], NULL);
	ret = 0;
	for (i = 0; i < NR_VCPUS; i++) {
		ret += last[i] != allowed[i][0];
		now = get_cpuid(v.vcpu[i]);
		ret += now->nent != table[i]->nent ||
		       memcmp(now->entries, table[i]->entries,
			      now->nent * sizeof(now->entries[0]));
		free(now);
	}
	for (i = 0; i < NR_VCPUS; i++)
		ret += !!bad_value[i] + !!set_fail[i];
	ksft_test_result(!ret && fresh,
			 "after the unload, running: every vCPU ran since (%d), reads its stock 0x1A and holds the VMM's table; no unexpected 0x1A, no table set failed\n",
			 fresh);
	vm_destroy(&anchor, NR_VCPUS);
	vm_destroy(&v, NR_VCPUS);
	ksft_finished();
}
