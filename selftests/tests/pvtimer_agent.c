// SPDX-License-Identifier: GPL-2.0
/*
 * pvtimer_agent (/dev/pvtimer_agent) without a guest: this program plays
 * both the server ("hvkitctl pvtimer serve": a memfd with the shared
 * memory header, one eventfd per slot, PVTIMER_IOC_ATTACH) and the guest
 * (deadlines written into the slots with the sequence protocol of
 * pvt_slot_write()). With a TSC offset of 0 the guest TSC is this CPU's
 * TSC, so __rdtsc() tells when the agent fired.
 *
 * Tested: deadlines fire once each and never early, with the agent's
 * heartbeat, next_scan, fired and fired_seq in the slot; a re-armed
 * deadline replaces the old one and a disarmed one never fires; a past
 * deadline fires at once (STATUS past); two attachments at once, DETACH
 * and close() of the attaching file (header agent_gen back to 0, no
 * firing after); SET_TSC and TSC offsets given at ATTACH; STATUS,
 * GET_INFO; every malformed argument gets its errno and leaves nothing
 * attached; an unprivileged caller gets EPERM; the agent scans at
 * idle_scan_ns while no slot is claimed (gid_valid) or written, and at
 * scan_ns once one is.
 *
 * The TSC frequency is calibrated against CLOCK_MONOTONIC at setup. It
 * only sets how far ahead deadlines are: every check compares TSC values.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>
#include <linux/hvkit.h>
#include "kselftest_harness.h"

#define AGENT_DEV	"/dev/pvtimer_agent"
#define SHM_SIZE	65536
#define MAX_SLOTS	4
#define NR_VMS		2
#define ROUNDS		20
#define PAGE		4096

/*
 * The agent turns a deadline into an hrtimer with the kernel's tsc_khz.
 * When the kernel's clocksource is not the TSC (HPET under TCG, say), the
 * two clocks may disagree by the kernel's TSC calibration error; the agent
 * then checks the TSC when its hrtimer expires and re-arms for the rest
 * (status "early"). So a firing before the deadline is a failure, with no
 * tolerance.
 */
#define EARLY_PPM	0

static_assert(sizeof(struct pvtimer_slot) == PVTIMER_SLOT_SIZE, "slot size");

/* TSC cycles per millisecond (kHz), calibrated by the fixture setup. */
static __u64 cyc_per_ms;

/* One memfd-backed shared memory as the server makes it, and its eventfds. */
struct pvvm {
	int memfd;
	void *shm;
	struct pvtimer_shm_header *hdr;
	unsigned int nr_slots;
	__s32 efd[MAX_SLOTS];
	__s64 tsc[MAX_SLOTS];	/* TSC offsets given to ATTACH */
	__u32 seq[MAX_SLOTS];	/* the guest's copy of each slot's seq */
	__u32 id;
	int owner;		/* the agent fd it is attached on, or -1 */
};

FIXTURE(agent) {
	int fd;
	int open_err;
	struct pvtimer_status st0;	/* at setup */
	struct pvvm vm[NR_VMS];
};

/* The fixture's type; "FIXTURE_DATA(agent) *self" confuses checkpatch. */
#define AGENT_SELF	FIXTURE_DATA(agent)

static __u64 ms_cyc(unsigned int ms)
{
	return (__u64)ms * cyc_per_ms;
}

static long long cyc_us(__s64 cyc)
{
	return cyc * 1000 / (__s64)cyc_per_ms;
}

/* Milliseconds from now until TSC @t, rounded up; 0 if it has passed. */
static int ms_until(__u64 t)
{
	__s64 left = (__s64)(t - __rdtsc());

	return left <= 0 ? 0 : (int)(left / (__s64)cyc_per_ms) + 1;
}

/* A (TSC, CLOCK_MONOTONIC ns) pair: the tightest of a few tries. */
static void tsc_sample(__u64 *tsc, __u64 *ns)
{
	__u64 a, b, best = ~0ULL;
	struct timespec ts;
	int i;

	for (i = 0; i < 5; i++) {
		a = __rdtsc();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		b = __rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		}
	}
}

/* TSC kHz over 50 ms of CLOCK_MONOTONIC, or 0. */
static __u64 calibrate(void)
{
	__u64 t0, n0, t1, n1;

	tsc_sample(&t0, &n0);
	usleep(50000);
	tsc_sample(&t1, &n1);
	if (n1 <= n0 || t1 <= t0)
		return 0;
	return (t1 - t0) * 1000000 / (n1 - n0);
}

static __u64 load64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static __u32 load32(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static struct pvtimer_slot *slot_of(struct pvvm *vm, unsigned int i)
{
	return pvtimer_slot_at(vm->shm, i);
}

/* The guest side of pvt_slot_write(): seq odd, the fields, seq even. */
static void slot_write(struct pvvm *vm, unsigned int i, __u64 deadline,
		       __u32 gflags)
{
	struct pvtimer_slot *s = slot_of(vm, i);

	__atomic_store_n(&s->seq, vm->seq[i] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->deadline, deadline, __ATOMIC_RELEASE);
	__atomic_store_n(&s->gflags, gflags, __ATOMIC_RELEASE);
	vm->seq[i] += 2;
	__atomic_store_n(&s->seq, vm->seq[i], __ATOMIC_RELEASE);
}

static int ioc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static int get_status(int fd, struct pvtimer_status *st, __u32 flags)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->flags = flags;
	return ioc(fd, PVTIMER_IOC_STATUS, st);
}

static int detach(int fd, __u32 id)
{
	struct pvtimer_detach d = { .size = sizeof(d), .id = id };

	return ioc(fd, PVTIMER_IOC_DETACH, &d);
}

static int set_tsc(int fd, __u32 id, __u32 vcpu, __s64 off)
{
	struct pvtimer_set_tsc t = {
		.size = sizeof(t), .id = id, .vcpu = vcpu, .tsc_offset = off,
	};

	return ioc(fd, PVTIMER_IOC_SET_TSC, &t);
}

static void vm_init(struct pvvm *vm)
{
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->memfd = -1;
	vm->owner = -1;
	for (i = 0; i < MAX_SLOTS; i++)
		vm->efd[i] = -1;
}

static void header_init(struct pvtimer_shm_header *h, unsigned int nr_slots)
{
	memset(h, 0, sizeof(*h));
	h->magic = PVTIMER_SHM_MAGIC;
	h->abi = PVTIMER_SHM_ABI;
	h->nr_slots = nr_slots;
	h->slot_size = PVTIMER_SLOT_SIZE;
	h->slot_offset = PVTIMER_SLOT_OFFSET;
}

/* The guest claims slot @i (its CPU's APIC ID written) or releases it. */
static void claim(struct pvvm *vm, unsigned int i, bool on)
{
	struct pvtimer_slot *s = pvtimer_slot_at(vm->shm, i);

	__atomic_store_n(&s->apic_id, i, __ATOMIC_RELAXED);
	__atomic_store_n(&s->gid_valid, on ? PVTIMER_GID_APIC : 0, __ATOMIC_RELEASE);
}

/* What "hvkitctl pvtimer serve" makes for a VM: 0 or an errno. */
static int vm_create(struct pvvm *vm, unsigned int nr_slots)
{
	void *shm;
	unsigned int i;

	vm->memfd = memfd_create("pvtimer_agent-test", MFD_CLOEXEC);
	if (vm->memfd < 0 || ftruncate(vm->memfd, SHM_SIZE))
		return errno;
	shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vm->memfd, 0);
	if (shm == MAP_FAILED)
		return errno;
	vm->shm = shm;
	vm->hdr = shm;
	vm->nr_slots = nr_slots;
	header_init(vm->hdr, nr_slots);
	for (i = 0; i < nr_slots; i++) {
		vm->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vm->efd[i] < 0)
			return errno;
		/* Claimed, as guest_pvtimer's probe does: the agent scans at scan_ns. */
		claim(vm, i, true);
	}
	return 0;
}

static void attach_arg(struct pvvm *vm, __u32 nr_vcpus,
		       struct pvtimer_attach *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->shm_addr = (uintptr_t)vm->shm;
	a->shm_size = SHM_SIZE;
	a->eventfds = (uintptr_t)vm->efd;
	a->tsc_offsets = (uintptr_t)vm->tsc;
	a->nr_vcpus = nr_vcpus;
	a->vm_pid = getpid();
}

static int vm_attach(int fd, struct pvvm *vm, __u32 nr_vcpus)
{
	struct pvtimer_attach a;
	int ret;

	attach_arg(vm, nr_vcpus, &a);
	ret = ioc(fd, PVTIMER_IOC_ATTACH, &a);
	if (!ret) {
		vm->id = a.id;
		vm->owner = fd;
	}
	return ret;
}

static void vm_destroy(struct pvvm *vm)
{
	int i;

	if (vm->owner >= 0)
		detach(vm->owner, vm->id);
	if (vm->shm)
		munmap(vm->shm, SHM_SIZE);
	for (i = 0; i < MAX_SLOTS; i++)
		if (vm->efd[i] >= 0)
			close(vm->efd[i]);
	if (vm->memfd >= 0)
		close(vm->memfd);
	vm_init(vm);
}

/*
 * Wait up to @ms for slot @i's eventfd: 0 with the count read and the TSC
 * at which poll() returned, ETIMEDOUT, or the errno of poll() or read().
 */
static int wait_fire(struct pvvm *vm, unsigned int i, int ms, __u64 *count,
		     __u64 *when)
{
	struct pollfd p = { .fd = vm->efd[i], .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, ms);
	} while (r < 0 && errno == EINTR);
	*when = __rdtsc();
	if (r <= 0)
		return r ? errno : ETIMEDOUT;
	if (read(vm->efd[i], count, sizeof(*count)) != sizeof(*count))
		return errno ? errno : EIO;
	return 0;
}

/* Has the agent scanned slot @i after guest TSC @t? Waits up to 1 s. */
static bool wait_scanned(struct pvvm *vm, unsigned int i, __u64 t)
{
	const __u64 *hb = &slot_of(vm, i)->heartbeat;
	int n;

	for (n = 0; n < 1000; n++) {
		if ((__s64)(load64(hb) - t) > 0)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * Wait up to 1 s for slot @i's fired counter to reach @want: the agent
 * signals the eventfd before it writes fired_seq and fired.
 */
static bool wait_fired(struct pvvm *vm, unsigned int i, __u64 want)
{
	const __u64 *fired = &slot_of(vm, i)->fired;
	int n;

	for (n = 0; n < 1000 && load64(fired) != want; n++)
		usleep(1000);
	return load64(fired) == want;
}

static bool wait_gen_zero(struct pvvm *vm)
{
	int n;

	for (n = 0; n < 1000 && load64(&vm->hdr->agent_gen); n++)
		usleep(1000);
	return !load64(&vm->hdr->agent_gen);
}

/*
 * The agent fired at host TSC @when a deadline (host TSC) set @lead cycles
 * ahead: never before it (EARLY_PPM). Returns true if before at all.
 */
static bool check_on_time(struct __test_metadata *_metadata, __u64 when,
			  __u64 deadline, __u64 lead)
{
	__u64 slack = lead / 1000000 * EARLY_PPM;

	EXPECT_LE(deadline, when + slack) {
		TH_LOG("fired %lld us before the deadline",
		       cyc_us(deadline - when));
	}
	return (__s64)(when - deadline) < 0;
}

/*
 * A fired deadline, checked: one eventfd count, on time, slot @i's fired
 * counter at @fired + 1 and its fired_seq the seq last written.
 */
static void check_fired(struct __test_metadata *_metadata, struct pvvm *vm,
			unsigned int i, __u64 count, __u64 fired)
{
	struct pvtimer_slot *s = slot_of(vm, i);

	EXPECT_EQ(1, count);
	ASSERT_TRUE(wait_fired(vm, i, fired + 1)) {
		TH_LOG("slot %u: fired is %llu, not %llu, after 1 s", i,
		       load64(&s->fired), fired + 1);
	}
	EXPECT_EQ(vm->seq[i], load32(&s->fired_seq));
}

FIXTURE_SETUP(agent)
{
	int i;

	for (i = 0; i < NR_VMS; i++)
		vm_init(&self->vm[i]);
	self->fd = open(AGENT_DEV, O_RDWR | O_CLOEXEC);
	self->open_err = self->fd < 0 ? errno : 0;
	if (self->fd < 0)
		return;
	ASSERT_EQ(0, get_status(self->fd, &self->st0, 0));
	if (!cyc_per_ms)
		cyc_per_ms = calibrate();
	/* 100 MHz .. 20 GHz */
	ASSERT_LT(100000, cyc_per_ms);
	ASSERT_GT(20000000, cyc_per_ms);
}

FIXTURE_TEARDOWN(agent)
{
	int i;

	for (i = 0; i < NR_VMS; i++)
		vm_destroy(&self->vm[i]);
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * An ASSERT in FIXTURE_SETUP does not stop the test body on 6.1's harness:
 * every test calls this itself. The groups that run this test load
 * pvtimer_agent: a missing device fails.
 */
static bool no_agent(struct __test_metadata *_metadata, AGENT_SELF *self)
{
	ASSERT_LE(0, self->fd) {
		TH_LOG("%s: %s%s", AGENT_DEV, strerror(self->open_err),
		       self->open_err == ENOENT ? " (pvtimer_agent not loaded)" : "");
	}
	return false;
}

/* vm[@k] with @nr slots, attached on self->fd, every slot scanned once. */
static void start_vm(struct __test_metadata *_metadata, AGENT_SELF *self,
		     int k, unsigned int nr)
{
	struct pvvm *vm = &self->vm[k];
	unsigned int i;

	ASSERT_EQ(0, vm_create(vm, nr));
	ASSERT_EQ(0, vm_attach(self->fd, vm, nr));
	EXPECT_NE(0, load64(&vm->hdr->agent_gen));
	EXPECT_EQ(self->st0.scan_ns, load64(&vm->hdr->agent_scan_ns));
	for (i = 0; i < nr; i++) {
		ASSERT_TRUE(wait_scanned(vm, i, 0)) {
			TH_LOG("slot %u: no heartbeat from the agent in 1 s", i);
		}
	}
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

TEST_F(agent, get_info)
{
	struct hvkit_info info = { .size = sizeof(info) };

	if (no_agent(_metadata, self))
		return;
	ASSERT_EQ(0, ioc(self->fd, HVKIT_IOC_GET_INFO, &info));
	EXPECT_EQ(HVKIT_API_VERSION, info.api_version);
	EXPECT_STREQ("pvtimer_agent", info.module);
	EXPECT_NE(0, info.version[0]);
}

TEST_F(agent, status)
{
	struct pvtimer_status a, b, c;
	long cpus = sysconf(_SC_NPROCESSORS_CONF);

	if (no_agent(_metadata, self))
		return;
	ASSERT_EQ(0, get_status(self->fd, &a, 0));
	TH_LOG("agent on CPU %u, scan every %llu ns, %u attached", a.agent_cpu,
	       a.scan_ns, a.nr_attached);
	EXPECT_EQ(sizeof(a), a.size);
	EXPECT_GT(cpus, a.agent_cpu);
	EXPECT_LE(10000, a.scan_ns);
	EXPECT_GE(100000000, a.scan_ns);
	EXPECT_LE(a.nr_attached, a.nr_vcpus);
	EXPECT_GE(a.nr_attached * PVTIMER_MAX_VCPUS, a.nr_vcpus);
	usleep(20000);
	ASSERT_EQ(0, get_status(self->fd, &b, 0));
	/* With nothing attached the agent sleeps: no scans, no wakeups. */
	EXPECT_EQ(!a.nr_attached && !b.nr_attached, a.scans == b.scans);
	EXPECT_LE(a.scans, b.scans);
	EXPECT_LE(a.fired, b.fired);
	EXPECT_LE(a.armed, b.armed);
	/* RESET returns the counters, then zeroes them. */
	ASSERT_EQ(0, get_status(self->fd, &b, PVTIMER_STATUS_RESET));
	ASSERT_EQ(0, get_status(self->fd, &c, 0));
	EXPECT_GE(b.scans, c.scans);
	EXPECT_EQ(0, c.armed);
	EXPECT_LE(c.fired, b.fired);
	EXPECT_LE(c.late_max_ns, b.late_max_ns);
}

TEST_F(agent, fires_on_time)
{
	struct pvvm *vm = &self->vm[0];
	long long late[ROUNDS * 2], gaps[7];
	__u64 dl[2], lead[2], now, count, when, fired[2], ours;
	unsigned int r, i, n = 0, early = 0;
	struct pvtimer_status st;
	struct pvtimer_slot *s;

	cpu_set_t cpus;

	if (no_agent(_metadata, self))
		return;
	/*
	 * On the agent's CPU: the firing time we read (rdtsc after the
	 * eventfd woke us) is on the same TSC the agent checked the deadline
	 * with, whatever the VM's TSC synchronisation between CPUs.
	 */
	CPU_ZERO(&cpus);
	CPU_SET(self->st0.agent_cpu, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	start_vm(_metadata, self, 0, 2);

	/*
	 * next_scan - heartbeat is the scan period in TSC cycles: with our
	 * calibration within 5%. The agent writes the two fields one after
	 * the other: the median of a few samples is one scan's pair.
	 */
	s = slot_of(vm, 0);
	for (i = 0; i < ARRAY_SIZE(gaps); i++) {
		__u64 hb = load64(&s->heartbeat);

		gaps[i] = (long long)(load64(&s->next_scan) - hb);
		usleep(1000);
	}
	qsort(gaps, ARRAY_SIZE(gaps), sizeof(gaps[0]), cmp_ll);
	ours = cyc_per_ms * self->st0.scan_ns / 1000000;
	TH_LOG("TSC %llu kHz (ours), scan period %lld cycles (agent), %llu (ours)",
	       cyc_per_ms, gaps[3], ours);
	EXPECT_GT(ours / 20, llabs(gaps[3] - (long long)ours));

	for (i = 0; i < 2; i++)
		fired[i] = load64(&slot_of(vm, i)->fired);
	for (r = 0; r < ROUNDS; r++) {
		now = __rdtsc();
		for (i = 0; i < 2; i++) {
			lead[i] = ms_cyc(5 + 2 * i);
			dl[i] = now + lead[i];
			slot_write(vm, i, dl[i], PVTIMER_G_ARMED);
		}
		for (i = 0; i < 2; i++) {
			ASSERT_EQ(0, wait_fire(vm, i, 1000, &count, &when)) {
				TH_LOG("round %u, slot %u: no event in 1 s", r, i);
			}
			early += check_on_time(_metadata, when, dl[i], lead[i]);
			late[n++] = cyc_us(when - dl[i]);
			check_fired(_metadata, vm, i, count, fired[i]++);
		}
	}
	qsort(late, n, sizeof(late[0]), cmp_ll);
	TH_LOG("%u firings, lateness (us): min %lld, median %lld, max %lld",
	       n, late[0], late[n / 2], late[n - 1]);
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	TH_LOG("agent hrtimers re-armed because they expired before the TSC deadline: %llu",
	       (unsigned long long)(st.early - self->st0.early));
	EXPECT_EQ(0, early);
}

TEST_F(agent, rearm_and_cancel)
{
	struct pvvm *vm = &self->vm[0];
	__u64 d_old, d_new, t, count, when, fired = 0;
	unsigned int dist;
	int k;

	if (no_agent(_metadata, self))
		return;
	start_vm(_metadata, self, 0, 1);

	/*
	 * A deadline 100 ms away replaced by one 5 ms away: one event, for
	 * the new one, and none for the old one. First before the agent may
	 * have seen the old deadline, then after it armed its hrtimer.
	 */
	for (k = 0; k < 2; k++) {
		d_old = __rdtsc() + ms_cyc(100);
		slot_write(vm, 0, d_old, PVTIMER_G_ARMED);
		ASSERT_TRUE(!k || wait_scanned(vm, 0, __rdtsc()));
		t = __rdtsc();
		ASSERT_GT(d_old, t + ms_cyc(20)) {
			TH_LOG("the agent took %lld us to scan: too slow",
			       cyc_us(t + ms_cyc(100) - d_old));
		}
		d_new = t + ms_cyc(5);
		slot_write(vm, 0, d_new, PVTIMER_G_ARMED);
		ASSERT_EQ(0, wait_fire(vm, 0, 1000, &count, &when));
		check_on_time(_metadata, when, d_new, ms_cyc(5));
		check_fired(_metadata, vm, 0, count, fired++);
		EXPECT_EQ(ETIMEDOUT, wait_fire(vm, 0, ms_until(d_old + ms_cyc(50)),
					       &count, &when)) {
			TH_LOG("an event %lld us after the replaced deadline",
			       cyc_us(when - d_old));
		}
		EXPECT_EQ(fired, load64(&slot_of(vm, 0)->fired));
	}

	/*
	 * A deadline armed by the agent, then disarmed: it must not fire.
	 * That says something only if the agent saw the disarm before the
	 * deadline: 20 ms away, else (a slow emulator) 100 ms, then 500 ms.
	 */
	for (k = 0, dist = 20;; k++, dist *= 5) {
		ASSERT_GT(3, k) {
			TH_LOG("the agent never saw a disarm before its deadline");
		}
		d_old = __rdtsc() + ms_cyc(dist);
		slot_write(vm, 0, d_old, PVTIMER_G_ARMED);
		ASSERT_TRUE(wait_scanned(vm, 0, __rdtsc()));
		slot_write(vm, 0, d_old, 0);
		ASSERT_TRUE(wait_scanned(vm, 0, __rdtsc()));
		t = __rdtsc();
		if ((__s64)(d_old - t) > (__s64)ms_cyc(1))
			break;
		TH_LOG("disarm seen %lld us before a %u ms deadline: again",
		       cyc_us(d_old - t), dist);
		/* It may have fired before the disarm: start over from here. */
		usleep(50000);
		wait_fire(vm, 0, 0, &count, &when);
		fired = load64(&slot_of(vm, 0)->fired);
	}
	EXPECT_EQ(ETIMEDOUT, wait_fire(vm, 0, ms_until(d_old + ms_cyc(50)),
				       &count, &when)) {
		TH_LOG("a disarmed deadline fired, %lld us after it",
		       cyc_us(when - d_old));
	}
	EXPECT_EQ(fired, load64(&slot_of(vm, 0)->fired));
}

TEST_F(agent, past_deadline)
{
	struct pvvm *vm = &self->vm[0];
	struct pvtimer_status st0, st;
	__u64 t, count, when;

	if (no_agent(_metadata, self))
		return;
	start_vm(_metadata, self, 0, 1);
	ASSERT_EQ(0, get_status(self->fd, &st0, 0));
	t = __rdtsc();
	slot_write(vm, 0, t - ms_cyc(1), PVTIMER_G_ARMED);
	ASSERT_EQ(0, wait_fire(vm, 0, 200, &count, &when)) {
		TH_LOG("a past deadline did not fire within 200 ms");
	}
	TH_LOG("fired %lld us after it was written", cyc_us(when - t));
	check_fired(_metadata, vm, 0, count, 0);
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	EXPECT_LT(st0.past, st.past);
	EXPECT_LT(st0.armed, st.armed);
	EXPECT_LT(st0.fired, st.fired);
	/* It fired once: nothing more for the same seq. */
	EXPECT_EQ(ETIMEDOUT, wait_fire(vm, 0, 20, &count, &when));
}

TEST_F(agent, two_vms)
{
	struct pvvm *a = &self->vm[0], *b = &self->vm[1];
	struct pvtimer_status st;
	__u64 d, hb, count, when;
	int fd2;

	if (no_agent(_metadata, self))
		return;
	start_vm(_metadata, self, 0, 2);
	start_vm(_metadata, self, 1, 1);
	EXPECT_NE(a->id, b->id);
	EXPECT_LT(load64(&a->hdr->agent_gen), load64(&b->hdr->agent_gen));
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	EXPECT_EQ(self->st0.nr_attached + 2, st.nr_attached);
	EXPECT_EQ(self->st0.nr_vcpus + 3, st.nr_vcpus);

	d = __rdtsc() + ms_cyc(5);
	slot_write(a, 1, d, PVTIMER_G_ARMED);
	slot_write(b, 0, d, PVTIMER_G_ARMED);
	ASSERT_EQ(0, wait_fire(a, 1, 1000, &count, &when));
	check_on_time(_metadata, when, d, ms_cyc(5));
	check_fired(_metadata, a, 1, count, 0);
	ASSERT_EQ(0, wait_fire(b, 0, 1000, &count, &when));
	check_on_time(_metadata, when, d, ms_cyc(5));
	check_fired(_metadata, b, 0, count, 0);

	/* Only the attaching file may detach. */
	fd2 = open(AGENT_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(ENOENT, detach(fd2, a->id));
	EXPECT_EQ(ENOENT, set_tsc(fd2, a->id, 0, 0));
	close(fd2);

	/* Detach a: its header says so at once, the agent leaves it alone. */
	ASSERT_EQ(0, detach(self->fd, a->id));
	a->owner = -1;
	EXPECT_EQ(0, load64(&a->hdr->agent_gen));
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	EXPECT_EQ(self->st0.nr_attached + 1, st.nr_attached);
	EXPECT_EQ(self->st0.nr_vcpus + 1, st.nr_vcpus);
	hb = load64(&slot_of(a, 0)->heartbeat);
	d = __rdtsc() + ms_cyc(5);
	slot_write(a, 0, d, PVTIMER_G_ARMED);
	slot_write(b, 0, d, PVTIMER_G_ARMED);
	ASSERT_EQ(0, wait_fire(b, 0, 1000, &count, &when));
	check_on_time(_metadata, when, d, ms_cyc(5));
	check_fired(_metadata, b, 0, count, 1);
	EXPECT_EQ(ETIMEDOUT, wait_fire(a, 0, 20, &count, &when));
	EXPECT_EQ(hb, load64(&slot_of(a, 0)->heartbeat));
	EXPECT_EQ(0, load64(&slot_of(a, 0)->fired));

	EXPECT_EQ(ENOENT, detach(self->fd, a->id));
	ASSERT_EQ(0, detach(self->fd, b->id));
	b->owner = -1;
	EXPECT_EQ(0, load64(&b->hdr->agent_gen));
	EXPECT_EQ(ENOENT, detach(self->fd, b->id));
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	EXPECT_EQ(self->st0.nr_attached, st.nr_attached);
	EXPECT_EQ(self->st0.nr_vcpus, st.nr_vcpus);
}

TEST_F(agent, close_detaches)
{
	struct pvvm *vm = &self->vm[0];
	struct pvtimer_status st;
	__u64 d, count, when;
	unsigned int dist;
	int fd2, k;

	if (no_agent(_metadata, self))
		return;
	/*
	 * A deadline the agent armed an hrtimer for, pending at close(): it
	 * must not fire. That says something only if close() returned before
	 * the deadline: 20 ms away, else (a slow emulator) 100, then 500 ms.
	 */
	for (k = 0, dist = 20;; k++, dist *= 5) {
		ASSERT_GT(3, k) {
			TH_LOG("close() never returned before its deadline");
		}
		vm_destroy(vm);
		fd2 = open(AGENT_DEV, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd2);
		ASSERT_EQ(0, vm_create(vm, 2));
		ASSERT_EQ(0, vm_attach(fd2, vm, 2));
		EXPECT_NE(0, load64(&vm->hdr->agent_gen));
		ASSERT_TRUE(wait_scanned(vm, 0, 0));
		ASSERT_EQ(0, get_status(self->fd, &st, 0));
		EXPECT_EQ(self->st0.nr_attached + 1, st.nr_attached);
		EXPECT_EQ(ENOENT, detach(self->fd, vm->id));

		d = __rdtsc() + ms_cyc(dist);
		slot_write(vm, 0, d, PVTIMER_G_ARMED);
		ASSERT_TRUE(wait_scanned(vm, 0, __rdtsc()));
		close(fd2);
		vm->owner = -1;
		ASSERT_TRUE(wait_gen_zero(vm)) {
			TH_LOG("agent_gen still %llu 1 s after close()",
			       load64(&vm->hdr->agent_gen));
		}
		ASSERT_EQ(0, get_status(self->fd, &st, 0));
		EXPECT_EQ(self->st0.nr_attached, st.nr_attached);
		EXPECT_EQ(self->st0.nr_vcpus, st.nr_vcpus);
		if ((__s64)(d - __rdtsc()) > (__s64)ms_cyc(1))
			break;
		TH_LOG("close() took until its %u ms deadline: again", dist);
	}
	EXPECT_EQ(ETIMEDOUT, wait_fire(vm, 0, ms_until(d + ms_cyc(30)),
				       &count, &when)) {
		TH_LOG("the pending deadline fired after close()");
	}
}

/* ATTACH that must fail; an attachment made anyway is detached again. */
static void attach_bad(struct __test_metadata *_metadata, int fd,
		       struct pvtimer_attach *a, int want, const char *what)
{
	int got = ioc(fd, PVTIMER_IOC_ATTACH, a);

	if (!got)
		detach(fd, a->id);
	EXPECT_EQ(want, got) {
		TH_LOG("ATTACH with %s: %s instead of %s", what,
		       got ? strerror(got) : "success", strerror(want));
	}
}

static void attach_bad_header(struct __test_metadata *_metadata, int fd,
			      struct pvvm *vm, int want, const char *what)
{
	struct pvtimer_attach a;

	attach_arg(vm, 2, &a);
	attach_bad(_metadata, fd, &a, want, what);
	header_init(vm->hdr, vm->nr_slots);
}

TEST_F(agent, bad_inputs)
{
	static const unsigned long unknown[] = {
		_IOWR(HVKIT_IOC_MAGIC, 0x54, struct pvtimer_status),
		_IOWR(HVKIT_IOC_MAGIC, 0x6f, struct pvtimer_status),
		/* ATTACH's and STATUS's numbers with another size/direction */
		_IOWR(HVKIT_IOC_MAGIC, 0x50, __u64),
		_IOR(HVKIT_IOC_MAGIC, 0x53, struct pvtimer_status),
	};
	struct pvvm *vm = &self->vm[0];
	struct {
		struct pvtimer_attach a;
		__u64 tail;
	} big;
	struct pvtimer_attach *a = &big.a;
	struct pvtimer_detach d;
	struct pvtimer_set_tsc t;
	struct pvtimer_status st;
	void *hole, *ro, *two;
	size_t i;
	int fd2, efd1;

	if (no_agent(_metadata, self))
		return;
	ASSERT_EQ(0, vm_create(vm, 2));
	/* Inaccessible memory for bad pointers, kept until the end. */
	hole = mmap(NULL, SHM_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, hole);

	/* The argument struct. */
	memset(&big, 0, sizeof(big));
	attach_arg(vm, 2, a);
	a->size = sizeof(*a) - 4;
	attach_bad(_metadata, self->fd, a, EINVAL, "a short struct");
	a->size = 0;
	attach_bad(_metadata, self->fd, a, EINVAL, "size 0");
	a->size = HVKIT_ARG_MAX_SIZE + 1;
	attach_bad(_metadata, self->fd, a, EINVAL, "size too large");
	a->size = sizeof(big);
	big.tail = 1;
	attach_bad(_metadata, self->fd, a, E2BIG, "a non-zero unknown tail");
	attach_arg(vm, 2, a);
	a->flags = 1;
	attach_bad(_metadata, self->fd, a, EINVAL, "flags 1");
	attach_arg(vm, 2, a);
	a->__pad0 = 1;
	attach_bad(_metadata, self->fd, a, EINVAL, "__pad0 1");
	EXPECT_EQ(EFAULT, ioc(self->fd, PVTIMER_IOC_ATTACH, NULL));
	EXPECT_EQ(EFAULT, ioc(self->fd, PVTIMER_IOC_ATTACH, hole));

	/* nr_vcpus */
	attach_arg(vm, 0, a);
	attach_bad(_metadata, self->fd, a, EINVAL, "nr_vcpus 0");
	attach_arg(vm, PVTIMER_MAX_VCPUS + 1, a);
	attach_bad(_metadata, self->fd, a, EINVAL, "nr_vcpus MAX + 1");
	attach_arg(vm, 3, a);
	attach_bad(_metadata, self->fd, a, EINVAL, "nr_vcpus > nr_slots");

	/* The shared memory. */
	attach_arg(vm, 2, a);
	a->shm_size = SHM_SIZE - PAGE;
	attach_bad(_metadata, self->fd, a, EINVAL, "shm_size 60 KiB");
	a->shm_size = PVTIMER_SHM_MIN_SIZE / 2;
	attach_bad(_metadata, self->fd, a, EINVAL, "shm_size MIN / 2");
	a->shm_size = 0;
	attach_bad(_metadata, self->fd, a, EINVAL, "shm_size 0");
	a->shm_size = 128ULL << 20;
	attach_bad(_metadata, self->fd, a, EINVAL, "shm_size 128 MiB");
	attach_arg(vm, 2, a);
	a->shm_addr += 64;
	attach_bad(_metadata, self->fd, a, EINVAL, "shm_addr not page aligned");
	a->shm_addr = (uintptr_t)hole;
	attach_bad(_metadata, self->fd, a, EFAULT, "shm_addr inaccessible");
	ro = mmap(NULL, SHM_SIZE, PROT_READ, MAP_SHARED, vm->memfd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	a->shm_addr = (uintptr_t)ro;
	attach_bad(_metadata, self->fd, a, EFAULT, "a read-only mapping");
	munmap(ro, SHM_SIZE);
	/* The memfd, then an inaccessible page range: pinned in part. */
	two = mmap(NULL, 2 * SHM_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(two, mmap(two, SHM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_FIXED, vm->memfd, 0));
	a->shm_addr = (uintptr_t)two;
	a->shm_size = 2 * SHM_SIZE;
	attach_bad(_metadata, self->fd, a, EFAULT, "half of shm inaccessible");
	munmap(two, 2 * SHM_SIZE);

	/* The header: the errno of pvt_shm_header_valid(). */
	vm->hdr->magic ^= 1;
	attach_bad_header(_metadata, self->fd, vm, ENODEV, "a wrong magic");
	vm->hdr->abi = PVTIMER_SHM_ABI + 1;
	attach_bad_header(_metadata, self->fd, vm, EPROTO, "a wrong abi");
	vm->hdr->slot_size = PVTIMER_SLOT_SIZE / 2;
	attach_bad_header(_metadata, self->fd, vm, EPROTO, "a wrong slot_size");
	vm->hdr->slot_offset = 2 * PVTIMER_SLOT_OFFSET;
	attach_bad_header(_metadata, self->fd, vm, EPROTO,
			  "a wrong slot_offset");
	vm->hdr->nr_slots = 0;
	attach_bad_header(_metadata, self->fd, vm, EINVAL, "nr_slots 0");
	vm->hdr->nr_slots = PVTIMER_MAX_VCPUS + 1;
	attach_bad_header(_metadata, self->fd, vm, EINVAL, "nr_slots MAX + 1");

	/* Eventfds and TSC offsets (slot 0's eventfd taken, then dropped). */
	attach_arg(vm, 2, a);
	efd1 = vm->efd[1];
	vm->efd[1] = vm->memfd;
	attach_bad(_metadata, self->fd, a, EINVAL, "a memfd as eventfd");
	vm->efd[1] = -1;
	attach_bad(_metadata, self->fd, a, EBADF, "eventfd -1");
	vm->efd[1] = dup(vm->efd[0]);
	ASSERT_LE(0, vm->efd[1]);
	close(vm->efd[1]);
	attach_bad(_metadata, self->fd, a, EBADF, "a closed eventfd");
	vm->efd[1] = efd1;
	a->eventfds = (uintptr_t)hole;
	attach_bad(_metadata, self->fd, a, EFAULT, "eventfds inaccessible");
	a->eventfds = 0;
	attach_bad(_metadata, self->fd, a, EFAULT, "eventfds NULL");
	attach_arg(vm, 2, a);
	a->tsc_offsets = (uintptr_t)hole;
	attach_bad(_metadata, self->fd, a, EFAULT, "tsc_offsets inaccessible");
	EXPECT_EQ(0, load64(&vm->hdr->agent_gen));

	/* DETACH */
	EXPECT_EQ(ENOENT, detach(self->fd, 0));
	EXPECT_EQ(ENOENT, detach(self->fd, ~0U));
	d = (struct pvtimer_detach){ .size = sizeof(d), .flags = 1 };
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_DETACH, &d));
	d = (struct pvtimer_detach){ .size = sizeof(d), .__pad0 = 1 };
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_DETACH, &d));
	d = (struct pvtimer_detach){ .size = 4 };
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_DETACH, &d));
	EXPECT_EQ(EFAULT, ioc(self->fd, PVTIMER_IOC_DETACH, NULL));

	/* SET_TSC, on a real attachment. */
	ASSERT_EQ(0, vm_attach(self->fd, vm, 2));
	EXPECT_EQ(EINVAL, set_tsc(self->fd, vm->id, 2, 0));
	EXPECT_EQ(EINVAL, set_tsc(self->fd, vm->id, ~0U, 0));
	EXPECT_EQ(ENOENT, set_tsc(self->fd, ~0U, 0, 0));
	t = (struct pvtimer_set_tsc){ .size = sizeof(t), .flags = 1, .id = vm->id };
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_SET_TSC, &t));
	t = (struct pvtimer_set_tsc){ .size = 4, .id = vm->id };
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_SET_TSC, &t));
	EXPECT_EQ(EFAULT, ioc(self->fd, PVTIMER_IOC_SET_TSC, NULL));
	EXPECT_EQ(0, set_tsc(self->fd, vm->id, 1, 0));
	fd2 = open(AGENT_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(ENOENT, detach(fd2, vm->id));
	close(fd2);
	ASSERT_EQ(0, detach(self->fd, vm->id));
	vm->owner = -1;
	EXPECT_EQ(ENOENT, detach(self->fd, vm->id));
	EXPECT_EQ(ENOENT, set_tsc(self->fd, vm->id, 0, 0));

	/* STATUS */
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.flags = 2;
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_STATUS, &st));
	st.flags = 0x80000000u;
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_STATUS, &st));
	st.flags = 0;
	st.size = 4;
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_STATUS, &st));
	st.size = HVKIT_ARG_MAX_SIZE + 1;
	EXPECT_EQ(EINVAL, ioc(self->fd, PVTIMER_IOC_STATUS, &st));
	EXPECT_EQ(EFAULT, ioc(self->fd, PVTIMER_IOC_STATUS, NULL));

	for (i = 0; i < ARRAY_SIZE(unknown); i++) {
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		EXPECT_EQ(ENOTTY, ioc(self->fd, unknown[i], &st)) {
			TH_LOG("ioctl %#lx", unknown[i]);
		}
	}

	/* Nothing half-made was left attached. */
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	EXPECT_EQ(self->st0.nr_attached, st.nr_attached);
	EXPECT_EQ(self->st0.nr_vcpus, st.nr_vcpus);
	munmap(hole, SHM_SIZE);
}

static int check_errno(struct __test_metadata *_metadata, int want, int got,
		       const char *what)
{
	if (want == got)
		return 0;
	TH_LOG("unprivileged %s: want %s, got %s", what, strerror(want),
	       got ? strerror(got) : "success");
	return 1;
}

/* In a child: no ASSERT/EXPECT here, they would jump into the harness. */
static int unprivileged_child(struct __test_metadata *_metadata, int fd,
			      struct pvvm *vm)
{
	struct hvkit_info info = { .size = sizeof(info) };
	struct pvtimer_status st;
	struct pvtimer_attach a;
	int bad = 0;

	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534)) {
		TH_LOG("dropping privileges: %s", strerror(errno));
		return 100;
	}
	attach_arg(vm, 1, &a);
	bad += check_errno(_metadata, 0, ioc(fd, HVKIT_IOC_GET_INFO, &info),
			   "GET_INFO");
	bad += check_errno(_metadata, 0, get_status(fd, &st, 0), "STATUS");
	bad += check_errno(_metadata, EPERM,
			   get_status(fd, &st, PVTIMER_STATUS_RESET),
			   "STATUS with RESET");
	bad += check_errno(_metadata, EPERM, ioc(fd, PVTIMER_IOC_ATTACH, &a),
			   "ATTACH");
	bad += check_errno(_metadata, EPERM, detach(fd, vm->id), "DETACH");
	bad += check_errno(_metadata, EPERM, set_tsc(fd, vm->id, 0, 0),
			   "SET_TSC");
	return bad;
}

TEST_F(agent, unprivileged)
{
	struct pvvm *vm = &self->vm[0];
	struct pvtimer_status st;
	int status;
	pid_t pid;

	if (no_agent(_metadata, self))
		return;
	ASSERT_EQ(0, geteuid()) {
		TH_LOG("needs root, to drop privileges");
	}
	ASSERT_EQ(0, vm_create(vm, 1));
	ASSERT_EQ(0, vm_attach(self->fd, vm, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(unprivileged_child(_metadata, self->fd, vm));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* The child's DETACH did nothing; its exit closed no attachment. */
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	EXPECT_EQ(self->st0.nr_attached + 1, st.nr_attached);
	EXPECT_NE(0, load64(&vm->hdr->agent_gen));
}

/*
 * Host TSC = guest TSC - offset. Each deadline is written as guest TSC for
 * a host time 25 ms ahead. Slot 0, offset -20 ms (SET_TSC): ignoring the
 * offset, or using it with the wrong sign, fires 20 or 25 ms early. Slot
 * 1, offset +20 ms: 20 or 40 ms late (one of three tries must be less than
 * 15 ms late). vm[1]: offset -20 ms given at ATTACH.
 */
TEST_F(agent, set_tsc)
{
	struct pvvm *vm = &self->vm[0], *vm1 = &self->vm[1];
	const __s64 off = ms_cyc(20);
	__u64 t0, hb, dl, count, when, fired = 0;
	long long late = -1;
	int k;

	if (no_agent(_metadata, self))
		return;
	start_vm(_metadata, self, 0, 2);

	t0 = __rdtsc();
	ASSERT_EQ(0, set_tsc(self->fd, vm->id, 0, -off));
	ASSERT_EQ(0, set_tsc(self->fd, vm->id, 1, off));
	/* A scan after both: heartbeats in each vCPU's guest TSC. */
	ASSERT_TRUE(wait_scanned(vm, 1, t0 + off)) {
		TH_LOG("slot 1's heartbeat does not include the new offset");
	}
	hb = load64(&slot_of(vm, 1)->heartbeat);
	EXPECT_GE(__rdtsc() + off, hb);
	hb = load64(&slot_of(vm, 0)->heartbeat);
	EXPECT_LT(t0, hb + off);
	EXPECT_GE(__rdtsc(), hb + off);

	dl = __rdtsc() + ms_cyc(25);
	slot_write(vm, 0, dl - off, PVTIMER_G_ARMED);
	ASSERT_EQ(0, wait_fire(vm, 0, 1000, &count, &when));
	check_on_time(_metadata, when, dl, ms_cyc(25));
	check_fired(_metadata, vm, 0, count, 0);
	TH_LOG("offset -20 ms: %lld us late", cyc_us(when - dl));

	for (k = 0; k < 3 && (late < 0 || late >= 15000); k++) {
		dl = __rdtsc() + ms_cyc(25);
		slot_write(vm, 1, dl + off, PVTIMER_G_ARMED);
		ASSERT_EQ(0, wait_fire(vm, 1, 1000, &count, &when));
		check_on_time(_metadata, when, dl, ms_cyc(25));
		check_fired(_metadata, vm, 1, count, fired++);
		late = cyc_us(when - dl);
		TH_LOG("offset +20 ms, try %d: %lld us late", k, late);
	}
	EXPECT_GT(15000, late);

	/* An offset given at ATTACH. */
	ASSERT_EQ(0, vm_create(vm1, 1));
	vm1->tsc[0] = -off;
	ASSERT_EQ(0, vm_attach(self->fd, vm1, 1));
	ASSERT_TRUE(wait_scanned(vm1, 0, 0));
	dl = __rdtsc() + ms_cyc(25);
	slot_write(vm1, 0, dl - off, PVTIMER_G_ARMED);
	ASSERT_EQ(0, wait_fire(vm1, 0, 1000, &count, &when));
	check_on_time(_metadata, when, dl, ms_cyc(25));
	check_fired(_metadata, vm1, 0, count, 0);
}

/* CLOCK_MONOTONIC in ms. */
static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Scans (all, idle) over @ms, and the window really measured (ms). */
static void scans_over(struct __test_metadata *_metadata, int fd, unsigned int ms,
		       __u64 *all, __u64 *idle, double *win)
{
	struct pvtimer_status a, b;
	double t0, t1;

	t0 = mono_ms();
	ASSERT_EQ(0, get_status(fd, &a, 0));
	usleep(ms * 1000);
	ASSERT_EQ(0, get_status(fd, &b, 0));
	t1 = mono_ms();
	*all = b.scans - a.scans;
	*idle = b.idle_scans - a.idle_scans;
	*win = t1 - t0;
}

/*
 * While no attached slot is claimed by a guest (gid_valid 0: its
 * guest_pvtimer is not loaded) and none had a deadline written, the agent
 * scans every idle_scan_ns and announces that pace in next_scan; once one
 * is claimed, or a deadline is written into one, every scan_ns.
 */
TEST_F(agent, idle_until_claimed)
{
	struct pvvm *vm = &self->vm[0];
	struct pvtimer_status st;
	__u64 idle_ms, all, idle, hb, next, count, when;
	double win;
	int k;

	if (no_agent(_metadata, self))
		return;
	start_vm(_metadata, self, 0, 2);
	ASSERT_EQ(0, get_status(self->fd, &st, 0));
	ASSERT_EQ(1, st.nr_attached) {
		TH_LOG("another attachment's claimed slots would keep the agent busy");
	}
	TH_LOG("scan every %llu ns, %llu ns while no slot is claimed", st.scan_ns,
	       st.idle_scan_ns);
	ASSERT_LT(st.scan_ns, st.idle_scan_ns);
	idle_ms = st.idle_scan_ns / 1000000;
	ASSERT_LE(1, idle_ms);

	/* Claimed (vm_create): no idle scan, many scans. */
	usleep(20000);
	scans_over(_metadata, self->fd, idle_ms * 10, &all, &idle, &win);
	TH_LOG("claimed: %llu scans (%llu idle) in %.1f ms", all, idle, win);
	EXPECT_EQ(0, idle);
	EXPECT_LT(40, all);

	/* Both released: only idle scans, at most one per idle_scan_ns. */
	claim(vm, 0, false);
	claim(vm, 1, false);
	usleep(idle_ms * 2000 + 20000);
	scans_over(_metadata, self->fd, idle_ms * 10, &all, &idle, &win);
	TH_LOG("released: %llu scans (%llu idle) in %.1f ms", all, idle, win);
	EXPECT_EQ(all, idle);
	EXPECT_LE(1, all);
	EXPECT_GE(win / idle_ms + 2, all);
	/*
	 * The agent stores heartbeat, then next_scan: a read between the two
	 * pairs a new heartbeat with the last scan's next_scan. Read again
	 * (a real short announcement fails every try).
	 */
	for (k = 0; k < 100; k++) {
		hb = load64(&slot_of(vm, 0)->heartbeat);
		next = load64(&slot_of(vm, 0)->next_scan);
		if ((__s64)(next - hb) >= (__s64)ms_cyc(idle_ms) / 2)
			break;
		usleep(1000);
	}
	TH_LOG("next_scan announced %lld us after the heartbeat", cyc_us(next - hb));
	EXPECT_LE(ms_cyc(idle_ms) * 9 / 10, next - hb);

	/* A deadline written (a guest older than gid_valid): fast again. */
	slot_write(vm, 0, __rdtsc() + ms_cyc(idle_ms * 3), PVTIMER_G_ARMED);
	ASSERT_EQ(0, wait_fire(vm, 0, 1000, &count, &when));
	usleep(20000);
	scans_over(_metadata, self->fd, idle_ms * 10, &all, &idle, &win);
	TH_LOG("a deadline written, none claimed: %llu scans (%llu idle) in %.1f ms", all, idle,
	       win);
	EXPECT_EQ(0, idle);
	EXPECT_LT(40, all);

	/* A second after that deadline, none claimed: idle again. */
	usleep(1100000);
	scans_over(_metadata, self->fd, idle_ms * 10, &all, &idle, &win);
	TH_LOG("a second later: %llu scans (%llu idle) in %.1f ms", all, idle, win);
	EXPECT_EQ(all, idle);
	EXPECT_GE(win / idle_ms + 2, all);

	/* One claimed again: fast within an idle period. */
	claim(vm, 1, true);
	usleep(idle_ms * 2000 + 20000);
	scans_over(_metadata, self->fd, idle_ms * 10, &all, &idle, &win);
	TH_LOG("claimed again: %llu scans (%llu idle) in %.1f ms", all, idle, win);
	EXPECT_EQ(0, idle);
	EXPECT_LT(40, all);
}

/* Write @val to pvtimer_agent's parameter @name; 0 on success. */
static int set_param(const char *name, const char *val)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "/sys/module/pvtimer_agent/parameters/%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

/* pvtimer_agent's parameter @name into @buf (newline dropped). */
static int get_param(const char *name, char *buf, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/pvtimer_agent/parameters/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/*
 * idle_scan_us out of its range is clamped, as STATUS reports it: below
 * scan_us to scan_us, above 100 ms to 100 ms, 0 = scan_us always.
 */
TEST_F(agent, idle_scan_clamped)
{
	static const struct { const char *val; __u64 want_ns; } c[] = {
		{ "1", 0 }, { "0", 0 }, { "1000000", 100000000 }, { "20000", 20000000 },
	};
	struct pvtimer_status st;
	char old[32];
	unsigned int i;

	if (no_agent(_metadata, self))
		return;
	ASSERT_EQ(0, get_param("idle_scan_us", old, sizeof(old)));
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		ASSERT_EQ(0, set_param("idle_scan_us", c[i].val));
		ASSERT_EQ(0, get_status(self->fd, &st, 0));
		TH_LOG("idle_scan_us=%s: idle_scan_ns %llu, scan_ns %llu", c[i].val,
		       st.idle_scan_ns, st.scan_ns);
		EXPECT_EQ(c[i].want_ns ? c[i].want_ns : st.scan_ns, st.idle_scan_ns);
	}
	ASSERT_EQ(0, set_param("idle_scan_us", old));
}

TEST_HARNESS_MAIN
