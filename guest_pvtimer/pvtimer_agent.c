// SPDX-License-Identifier: GPL-2.0
/*
 * pvtimer_agent: the host side of guest_pvtimer.
 *
 * "hvkitctl pvtimer serve" (the ivshmem server QEMU connects to) attaches
 * each VM here: its shared memory (pinned and mapped into the kernel) and
 * the eventfd of every MSI-X vector, which QEMU made KVM irqfds. A kernel
 * thread bound to one CPU (the agent CPU) scans the slots every scan_us
 * (every idle_scan_us while no guest uses them), publishes its heartbeat
 * and next scan time into each slot, and arms a pinned hard-irq hrtimer
 * for each new deadline (the thread is SCHED_FIFO, so a vCPU thread on
 * its CPU cannot delay a scan). The hrtimer signals the
 * eventfd: KVM injects the interrupt into the vCPU (a posted interrupt
 * with APICv/AVIC), and the guest took no exit to program it.
 *
 * Deadlines are guest TSC values; host TSC = guest TSC - the vCPU's TSC
 * offset, which the server reads from KVM's debugfs (PVTIMER_IOC_SET_TSC
 * when it changes).
 */
#include <linux/debugfs.h>
#include <linux/eventfd.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <asm/tsc.h>
#include <hvkit/hvkit.h>

#include "pvtimer_proto.h"

#define CREATE_TRACE_POINTS
#include "pvtimer_agent_trace.h"

static int cpu = -1;
module_param(cpu, int, 0444);
MODULE_PARM_DESC(cpu, "the agent's CPU (default: the last online CPU)");

static unsigned int scan_us = 100;
module_param(scan_us, uint, 0644);
MODULE_PARM_DESC(scan_us, "slot scan period (us, 10..100000)");

/*
 * While no slot of any attached VM is claimed by a guest (gid_valid: the
 * guest's guest_pvtimer is bound) and no guest wrote a deadline in the
 * last PVTA_ACTIVE_NS (guests older than gid_valid), the agent scans only
 * every idle_scan_us: it publishes heartbeats and next_scan at that pace,
 * so a guest that loads meanwhile programs its local APIC until the next
 * scan sees its claim. 0: always scan_us.
 */
#define PVTA_ACTIVE_NS	NSEC_PER_SEC
static unsigned int idle_scan_us = 10000;
module_param(idle_scan_us, uint, 0644);
MODULE_PARM_DESC(idle_scan_us, "scan period while no guest uses the agent: no slot claimed, no deadline written for 1 s (us, 0 = scan_us always, else at least scan_us and at most 100000)");

/*
 * Fault injection (debugfs stall_ms, root only): at its next scan with a
 * VM attached, the agent thread skips its scans for that long, once,
 * after announcing a normal next scan, as a preempted or stuck agent
 * would. Armed deadlines still fire (their hrtimers are not the thread's;
 * one a TSC offset change cancelled waits for the next scan); the guest
 * must notice the overdue scan and program its local APIC itself. At most
 * 10 s. An attach meanwhile ends the stall early.
 */
static u32 pvta_stall_ms;
/* Set by an attach: scan now, not after the sleep the thread is entering. */
static u32 pvta_kick;

struct pvta_vm;

struct pvta_slot {
	struct hrtimer timer;
	struct pvta_vm *vm;
	struct pvtimer_slot *slot;
	struct eventfd_ctx *efd;
	s64 tsc_offset;
	u32 seen_seq;		/* last sequence taken from the slot */
	u32 armed_seq;		/* the sequence the hrtimer fires */
	u64 deadline;		/* guest TSC */
	ktime_t target;
};

struct pvta_vm {
	struct list_head node;
	struct file *owner;	/* the /dev/pvtimer_agent file that attached it */
	u32 id;
	u32 nr_vcpus;
	pid_t pid;
	u64 gen;		/* the header's agent_gen it published */
	u64 active_ns;		/* when a scan last saw a slot's seq change */
	struct page **pages;
	unsigned long nr_pages;
	void *shm;
	struct pvtimer_shm_header *hdr;
	struct pvta_slot slots[];
};

/* For the trace events: the slot's vCPU. */
static u32 pvta_vcpu(const struct pvta_slot *ps)
{
	return ps - ps->vm->slots;
}

static LIST_HEAD(pvta_vms);
static DEFINE_MUTEX(pvta_lock);	/* the list; held by each scan */
static u32 pvta_next_id = 1;
static u64 pvta_gen;
static struct task_struct *pvta_thread;
static DECLARE_WAIT_QUEUE_HEAD(pvta_wq);
static struct dentry *pvta_dbg;

static struct {
	atomic64_t scans, idle_scans, armed, fired, torn, past, early, late_sum, late_max;
	atomic64_t hist[PVTIMER_LAT_BUCKETS];
} pvta_st;

static u64 pvta_guest_tsc(const struct pvta_slot *ps, u64 host_tsc)
{
	return host_tsc + ps->tsc_offset;
}

/* Fire @ps's deadline: the eventfd is the vCPU's MSI-X irqfd. */
static void pvta_fire(struct pvta_slot *ps, u32 seq)
{
	/* The guest's handler checks fired_seq: publish it before the MSI. */
	WRITE_ONCE(ps->slot->fired_seq, seq);
	WRITE_ONCE(ps->slot->fired, ps->slot->fired + 1);
	smp_wmb();	/* fired_seq before the MSI (the guest reads it in pvt_irq) */
	eventfd_signal(ps->efd, 1);
	atomic64_inc(&pvta_st.fired);
}

/*
 * The hrtimer expiry for a deadline @cyc host TSC cycles away (> 0): rounded
 * up (a few ns late is fine, early is not), and at most 600 s away
 * (clockevents' own limit; the guest chose the deadline).
 */
static ktime_t pvta_expiry(u64 cyc)
{
	cyc = min_t(u64, cyc, (u64)tsc_khz * 1000 * 600);
	return ktime_add_ns(ktime_get(), pvt_cyc_to_ns(cyc, tsc_khz) + 1);
}

static enum hrtimer_restart pvta_timer_fn(struct hrtimer *t)
{
	struct pvta_slot *ps = container_of(t, struct pvta_slot, timer);
	u64 gnow = pvta_guest_tsc(ps, rdtsc());
	s64 late;
	u64 max;

	/*
	 * Never early: the hrtimer was armed from CLOCK_MONOTONIC and
	 * tsc_khz, the deadline is the guest's TSC. Re-arm for the rest.
	 */
	if ((s64)(gnow - ps->deadline) < 0) {
		atomic64_inc(&pvta_st.early);
		if (trace_pvta_fire_enabled())
			trace_pvta_fire(ps->vm->id, pvta_vcpu(ps), ps->deadline,
					ktime_to_ns(ktime_sub(ktime_get(), ps->target)), true);
		ps->target = pvta_expiry(ps->deadline - gnow);
		hrtimer_set_expires(t, ps->target);
		return HRTIMER_RESTART;
	}
	late = ktime_to_ns(ktime_sub(ktime_get(), ps->target));

	if (late < 0)
		late = 0;
	atomic64_add(late, &pvta_st.late_sum);
	atomic64_inc(&pvta_st.hist[pvt_lat_bucket(late)]);
	max = atomic64_read(&pvta_st.late_max);
	if ((u64)late > max)
		atomic64_set(&pvta_st.late_max, late);
	trace_pvta_fire(ps->vm->id, pvta_vcpu(ps), ps->deadline, late, false);
	pvta_fire(ps, ps->armed_seq);
	return HRTIMER_NORESTART;
}

/* Take a new deadline from the slot: arm, fire or cancel. IRQs off. */
static void pvta_apply(struct pvta_slot *ps, u32 seq, u64 deadline, u32 gflags)
{
	u64 host_dl, now;
	s64 cyc;

	/*
	 * A callback running elsewhere (the agent CPU went offline and the
	 * timers migrated): leave the slot alone, take it at the next scan.
	 */
	if (hrtimer_try_to_cancel(&ps->timer) < 0)
		return;
	ps->seen_seq = seq;
	/* Disarmed, or fired already (taken again after SET_TSC). */
	if (!(gflags & PVTIMER_G_ARMED) || READ_ONCE(ps->slot->fired_seq) == seq)
		return;
	atomic64_inc(&pvta_st.armed);
	ps->deadline = deadline;
	ps->armed_seq = seq;
	host_dl = deadline - ps->tsc_offset;
	now = rdtsc();
	cyc = host_dl - now;
	if (cyc <= 0) {
		atomic64_inc(&pvta_st.past);
		if (trace_pvta_arm_enabled())
			trace_pvta_arm(ps->vm->id, pvta_vcpu(ps), deadline,
				       -(s64)pvt_cyc_to_ns(-cyc, tsc_khz), true);
		pvta_fire(ps, seq);
		return;
	}
	if (trace_pvta_arm_enabled())
		trace_pvta_arm(ps->vm->id, pvta_vcpu(ps), deadline,
			       pvt_cyc_to_ns(cyc, tsc_khz), false);
	ps->target = pvta_expiry(cyc);
	hrtimer_start(&ps->timer, ps->target, HRTIMER_MODE_ABS_PINNED_HARD);
}

static void pvta_scan(u64 scan_cyc, u64 now_ns)
{
	struct pvta_vm *vm;
	unsigned long flags;
	unsigned int i;

	list_for_each_entry(vm, &pvta_vms, node) {
		for (i = 0; i < vm->nr_vcpus; i++) {
			struct pvta_slot *ps = &vm->slots[i];
			u64 deadline, now;
			u32 seq, gflags;

			local_irq_save(flags);
			now = rdtsc();
			WRITE_ONCE(ps->slot->heartbeat, pvta_guest_tsc(ps, now));
			WRITE_ONCE(ps->slot->next_scan, pvta_guest_tsc(ps, now + scan_cyc));
			if (!pvt_slot_read(ps->slot, &seq, &deadline, &gflags)) {
				atomic64_inc(&pvta_st.torn);
			} else if (seq != ps->seen_seq) {
				/* The guest wrote (not a first look, nor SET_TSC's retake). */
				if (ps->seen_seq != U32_MAX)
					vm->active_ns = now_ns;
				pvta_apply(ps, seq, deadline, gflags);
			}
			local_irq_restore(flags);
		}
	}
	atomic64_inc(&pvta_st.scans);
}

/*
 * Does a guest use an attached VM's slots: one claimed (gid_valid), or a
 * deadline written in the last PVTA_ACTIVE_NS? Under pvta_lock.
 */
static bool pvta_claimed(u64 now_ns)
{
	struct pvta_vm *vm;
	unsigned int i;

	list_for_each_entry(vm, &pvta_vms, node) {
		if (vm->active_ns && now_ns - vm->active_ns < PVTA_ACTIVE_NS)
			return true;
		for (i = 0; i < vm->nr_vcpus; i++)
			if (READ_ONCE(vm->slots[i].slot->gid_valid) & PVTIMER_GID_APIC)
				return true;
	}
	return false;
}

/* The scan period now (ns): scan_us, or idle_scan_us while nothing is claimed. */
static u64 pvta_period_ns(bool claimed)
{
	unsigned int us = clamp(READ_ONCE(scan_us), 10U, 100000U);
	unsigned int idle = READ_ONCE(idle_scan_us);

	if (!claimed && idle)
		us = clamp(idle, us, 100000U);
	return (u64)us * NSEC_PER_USEC;
}

static int pvta_thread_fn(void *unused)
{
	while (!kthread_should_stop()) {
		bool claimed;
		u64 period;
		ktime_t now, next;
		u32 stall;

		/* Nothing attached: sleep until something is (kthread_stop wakes it). */
		if (list_empty_careful(&pvta_vms)) {
			wait_event_interruptible(pvta_wq, !list_empty_careful(&pvta_vms) ||
						 kthread_should_stop());
			continue;
		}
		stall = xchg(&pvta_stall_ms, 0);
		if (stall) {
			stall = min(stall, 10000U);
			pr_info("stalling %u ms (debugfs stall_ms)\n", stall);
			set_current_state(TASK_INTERRUPTIBLE);
			if (!kthread_should_stop() && !xchg(&pvta_kick, 0))
				schedule_timeout(msecs_to_jiffies(stall));
			__set_current_state(TASK_RUNNING);
			continue;
		}
		/* This scan serves a kick set so far (the VM is listed first). */
		WRITE_ONCE(pvta_kick, 0);
		mutex_lock(&pvta_lock);
		now = ktime_get();
		claimed = pvta_claimed(ktime_to_ns(now));
		period = pvta_period_ns(claimed);
		next = ktime_add_ns(now, period);
		pvta_scan(pvt_ns_to_cyc(period, tsc_khz), ktime_to_ns(now));
		if (!claimed)
			atomic64_inc(&pvta_st.idle_scans);
		mutex_unlock(&pvta_lock);
		/* A scan longer than the period still sleeps one: never spin at RT. */
		if (ktime_after(ktime_get(), next))
			next = ktime_add_ns(ktime_get(), period);
		set_current_state(TASK_INTERRUPTIBLE);
		/* After the state: an attach that set the kick also woke us. */
		if (!kthread_should_stop() && !xchg(&pvta_kick, 0))
			schedule_hrtimeout_range(&next, 0, HRTIMER_MODE_ABS_PINNED);
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/* ------------------------------------------------------------ attach */

static void pvta_vm_free(struct pvta_vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		if (vm->slots[i].slot)
			hrtimer_cancel(&vm->slots[i].timer);
		if (vm->slots[i].efd)
			eventfd_ctx_put(vm->slots[i].efd);
	}
	/* Only if no later attachment of the same memory took over. */
	if (vm->hdr && vm->gen && READ_ONCE(vm->hdr->agent_gen) == vm->gen)
		WRITE_ONCE(vm->hdr->agent_gen, 0);
	if (vm->shm)
		vunmap(vm->shm);
	if (vm->pages)
		unpin_user_pages_dirty_lock(vm->pages, vm->nr_pages, true);
	kvfree(vm->pages);
	kfree(vm);
}

/*
 * Under pvta_lock: unlink, so that no scan sees it, and withdraw its
 * agent_gen (a later attachment of the same memory publishes its own under
 * the lock). The caller frees it with pvta_vm_free() after unlocking: the
 * unpinning and unmapping may sleep, and a SCHED_FIFO scan must not wait
 * for them (mutexes do not boost).
 */
static void pvta_vm_unlink(struct pvta_vm *vm)
{
	list_del(&vm->node);
	if (vm->hdr && vm->gen && READ_ONCE(vm->hdr->agent_gen) == vm->gen)
		WRITE_ONCE(vm->hdr->agent_gen, 0);
	vm->gen = 0;
}

static int pvta_map_shm(struct pvta_vm *vm, u64 addr, u64 size)
{
	long got;

	if (!size || size > SZ_64M || !is_power_of_2(size) || size < PVTIMER_SHM_MIN_SIZE ||
	    !PAGE_ALIGNED(addr)) {
		pr_err("attach: shared memory must be page aligned, a power of two, %u bytes..64 MiB\n",
		       PVTIMER_SHM_MIN_SIZE);
		return -EINVAL;
	}
	vm->nr_pages = size >> PAGE_SHIFT;
	vm->pages = kvcalloc(vm->nr_pages, sizeof(*vm->pages), GFP_KERNEL);
	if (!vm->pages)
		return -ENOMEM;
	got = pin_user_pages_fast(addr, vm->nr_pages, FOLL_WRITE | FOLL_LONGTERM, vm->pages);
	if (got != vm->nr_pages) {
		if (got > 0)
			unpin_user_pages(vm->pages, got);
		kvfree(vm->pages);
		vm->pages = NULL;
		pr_err("attach: cannot pin the shared memory (%ld)\n", got);
		return got < 0 ? got : -EFAULT;
	}
	vm->shm = vmap(vm->pages, vm->nr_pages, VM_MAP, PAGE_KERNEL);
	if (!vm->shm)
		return -ENOMEM;
	return 0;
}

static long pvta_ioctl_attach(struct file *file, void __user *uarg)
{
	struct pvtimer_attach a;
	struct pvta_vm *vm;
	u32 usize, i, nr;
	s64 off;
	pid_t pid;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (a.flags || a.__pad0)
		return -EINVAL;
	if (!a.nr_vcpus || a.nr_vcpus > PVTIMER_MAX_VCPUS) {
		pr_err("attach: nr_vcpus %u not in 1..%u\n", a.nr_vcpus, PVTIMER_MAX_VCPUS);
		return -EINVAL;
	}
	vm = kzalloc(struct_size(vm, slots, a.nr_vcpus), GFP_KERNEL);
	if (!vm)
		return -ENOMEM;
	vm->nr_vcpus = a.nr_vcpus;
	vm->pid = a.vm_pid;
	vm->owner = file;
	ret = pvta_map_shm(vm, a.shm_addr, a.shm_size);
	if (ret)
		goto err;
	vm->hdr = vm->shm;
	ret = pvt_shm_header_valid(vm->hdr, a.shm_size);
	if (ret) {
		pr_err("attach: the memory has no valid pvtimer header (%d)\n", ret);
		vm->hdr = NULL;
		goto err;
	}
	if (a.nr_vcpus > vm->hdr->nr_slots) {
		pr_err("attach: %u vCPUs but the header has %u slots\n", a.nr_vcpus,
		       vm->hdr->nr_slots);
		vm->hdr = NULL;
		ret = -EINVAL;
		goto err;
	}
	for (i = 0; i < a.nr_vcpus; i++) {
		struct pvta_slot *ps = &vm->slots[i];
		s32 fd;
		s64 off;

		if (get_user(fd, (s32 __user *)u64_to_user_ptr(a.eventfds) + i) ||
		    get_user(off, (s64 __user *)u64_to_user_ptr(a.tsc_offsets) + i)) {
			ret = -EFAULT;
			goto err;
		}
		ps->efd = eventfd_ctx_fdget(fd);
		if (IS_ERR(ps->efd)) {
			ret = PTR_ERR(ps->efd);
			ps->efd = NULL;
			pr_err("attach: vCPU %u: fd %d is not an eventfd\n", i, fd);
			goto err;
		}
		ps->vm = vm;
		ps->tsc_offset = off;
		ps->slot = pvtimer_slot_at(vm->shm, i);
		ps->seen_seq = U32_MAX;	/* odd: never a slot's value */
		hrtimer_init(&ps->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_PINNED_HARD);
		ps->timer.function = pvta_timer_fn;
	}
	mutex_lock(&pvta_lock);
	vm->id = pvta_next_id++;
	WRITE_ONCE(vm->hdr->agent_scan_ns, pvta_period_ns(true));
	vm->gen = ++pvta_gen;
	WRITE_ONCE(vm->hdr->agent_gen, vm->gen);
	list_add_tail(&vm->node, &pvta_vms);
	/*
	 * Once unlocked, a DETACH of the new id may free @vm: what the log
	 * says is copied now, printed after (not while the scan waits).
	 */
	a.id = vm->id;
	pid = vm->pid;
	nr = vm->nr_vcpus;
	off = vm->slots[0].tsc_offset;
	mutex_unlock(&pvta_lock);
	pr_info("VM pid %d attached as id %u: %u vCPUs, TSC offset %lld\n", pid, a.id, nr, off);
	wake_up(&pvta_wq);
	/*
	 * Asleep for an idle period: scan now, the new VM's first heartbeat.
	 * The kick covers a thread between its scan and its sleep, which the
	 * wakeup alone would miss (set before it: wake_up_process() orders).
	 */
	WRITE_ONCE(pvta_kick, 1);
	wake_up_process(pvta_thread);
	return hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);

err:
	pvta_vm_free(vm);
	return ret;
}

static struct pvta_vm *pvta_find(struct file *file, u32 id)
{
	struct pvta_vm *vm;

	list_for_each_entry(vm, &pvta_vms, node)
		if (vm->id == id && vm->owner == file)
			return vm;
	return NULL;
}

static long pvta_ioctl_detach(struct file *file, void __user *uarg)
{
	struct pvtimer_detach d;
	struct pvta_vm *vm;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&d, sizeof(d), sizeof(d), uarg, &usize);
	if (ret)
		return ret;
	if (d.flags || d.__pad0)
		return -EINVAL;
	mutex_lock(&pvta_lock);
	vm = pvta_find(file, d.id);
	if (vm)
		pvta_vm_unlink(vm);
	mutex_unlock(&pvta_lock);
	if (!vm)
		return -ENOENT;
	pr_info("VM pid %d (id %u) detached\n", vm->pid, vm->id);
	pvta_vm_free(vm);
	return 0;
}

static long pvta_ioctl_set_tsc(struct file *file, void __user *uarg)
{
	struct pvtimer_set_tsc t;
	struct pvta_vm *vm;
	u32 usize, id = 0;
	int ret;

	ret = hvkit_copy_arg_from_user(&t, sizeof(t), sizeof(t), uarg, &usize);
	if (ret)
		return ret;
	if (t.flags)
		return -EINVAL;
	mutex_lock(&pvta_lock);
	vm = pvta_find(file, t.id);
	if (!vm) {
		ret = -ENOENT;
	} else if (t.vcpu >= vm->nr_vcpus) {
		ret = -EINVAL;
	} else {
		struct pvta_slot *ps = &vm->slots[t.vcpu];

		hrtimer_cancel(&ps->timer);
		ps->tsc_offset = t.tsc_offset;
		ps->seen_seq = U32_MAX;	/* take the pending deadline again */
		id = vm->id;
	}
	mutex_unlock(&pvta_lock);
	/* printk may write the console synchronously: not under the scan's lock */
	if (!ret)
		pr_info_ratelimited("VM id %u slot %u: TSC offset %lld\n", id, t.vcpu,
				    t.tsc_offset);
	return ret;
}

static_assert(offsetof(struct pvtimer_status, early) == PVTIMER_STATUS_SIZE_VER0,
	      "PVTIMER_IOC_STATUS's number holds the first version's size");

static long pvta_ioctl_status(void __user *uarg)
{
	struct pvtimer_status st;
	struct pvta_vm *vm;
	u32 usize, flags;
	int ret, b;

	ret = hvkit_copy_arg_from_user(&st, sizeof(st), offsetofend(struct pvtimer_status, flags),
				       uarg, &usize);
	if (ret)
		return ret;
	if (st.flags & ~PVTIMER_STATUS_RESET)
		return -EINVAL;
	if ((st.flags & PVTIMER_STATUS_RESET) && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	flags = st.flags;
	memset(&st, 0, sizeof(st));
	st.size = usize;
	st.flags = flags;
	st.agent_cpu = cpu;
	mutex_lock(&pvta_lock);
	list_for_each_entry(vm, &pvta_vms, node) {
		st.nr_attached++;
		st.nr_vcpus += vm->nr_vcpus;
	}
	/* One scan's two counters together (a scan holds the lock). */
	st.scans = atomic64_read(&pvta_st.scans);
	st.idle_scans = atomic64_read(&pvta_st.idle_scans);
	if (flags & PVTIMER_STATUS_RESET) {
		atomic64_set(&pvta_st.scans, 0);
		atomic64_set(&pvta_st.idle_scans, 0);
	}
	mutex_unlock(&pvta_lock);
	st.scan_ns = pvta_period_ns(true);
	st.idle_scan_ns = pvta_period_ns(false);
	st.armed = atomic64_read(&pvta_st.armed);
	st.fired = atomic64_read(&pvta_st.fired);
	st.torn = atomic64_read(&pvta_st.torn);
	st.past = atomic64_read(&pvta_st.past);
	st.early = atomic64_read(&pvta_st.early);
	st.agent_ns = pvta_thread->se.sum_exec_runtime;
	st.late_sum_ns = atomic64_read(&pvta_st.late_sum);
	st.late_max_ns = atomic64_read(&pvta_st.late_max);
	for (b = 0; b < PVTIMER_LAT_BUCKETS; b++)
		st.late_hist[b] = atomic64_read(&pvta_st.hist[b]);
	if (flags & PVTIMER_STATUS_RESET) {
		atomic64_set(&pvta_st.armed, 0);
		atomic64_set(&pvta_st.fired, 0);
		atomic64_set(&pvta_st.torn, 0);
		atomic64_set(&pvta_st.past, 0);
		atomic64_set(&pvta_st.early, 0);
		atomic64_set(&pvta_st.late_sum, 0);
		atomic64_set(&pvta_st.late_max, 0);
		for (b = 0; b < PVTIMER_LAT_BUCKETS; b++)
			atomic64_set(&pvta_st.hist[b], 0);
	}
	return hvkit_copy_arg_to_user(uarg, &st, sizeof(st), usize);
}

static long pvta_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (cmd != HVKIT_IOC_GET_INFO && cmd != PVTIMER_IOC_STATUS &&
	    !capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case HVKIT_IOC_GET_INFO:
		return hvkit_ioctl_get_info(uarg, KBUILD_MODNAME, 0);
	case PVTIMER_IOC_ATTACH:
		return pvta_ioctl_attach(file, uarg);
	case PVTIMER_IOC_DETACH:
		return pvta_ioctl_detach(file, uarg);
	case PVTIMER_IOC_SET_TSC:
		return pvta_ioctl_set_tsc(file, uarg);
	case PVTIMER_IOC_STATUS:
		return pvta_ioctl_status(uarg);
	default:
		return -ENOTTY;
	}
}

/* The server's file closed (it exited or was killed): detach its VMs. */
static int pvta_release(struct inode *inode, struct file *file)
{
	struct pvta_vm *vm, *tmp;
	LIST_HEAD(gone);

	mutex_lock(&pvta_lock);
	list_for_each_entry_safe(vm, tmp, &pvta_vms, node) {
		if (vm->owner == file) {
			pvta_vm_unlink(vm);
			list_add(&vm->node, &gone);
		}
	}
	mutex_unlock(&pvta_lock);
	list_for_each_entry_safe(vm, tmp, &gone, node) {
		pr_info("VM pid %d (id %u) detached\n", vm->pid, vm->id);
		pvta_vm_free(vm);
	}
	return 0;
}

static const struct file_operations pvta_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= pvta_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= pvta_release,
	.llseek		= noop_llseek,
};

static struct miscdevice pvta_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "pvtimer_agent",
	.fops	= &pvta_fops,
	.mode	= 0600,
};

static int pvta_vms_show(struct seq_file *m, void *unused)
{
	struct pvta_vm *vm;
	unsigned int i;

	seq_puts(m, "id pid vcpu tsc_offset seq fired_seq fired pending_ns\n");
	mutex_lock(&pvta_lock);
	list_for_each_entry(vm, &pvta_vms, node) {
		for (i = 0; i < vm->nr_vcpus; i++) {
			struct pvta_slot *ps = &vm->slots[i];
			s64 left = hrtimer_active(&ps->timer) ?
				ktime_to_ns(hrtimer_get_remaining(&ps->timer)) : -1;

			seq_printf(m, "%u %d %u %lld %u %u %llu %lld\n", vm->id, vm->pid, i,
				   ps->tsc_offset, READ_ONCE(ps->slot->seq),
				   READ_ONCE(ps->slot->fired_seq), READ_ONCE(ps->slot->fired),
				   left);
		}
	}
	mutex_unlock(&pvta_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvta_vms);

static int __init pvtimer_agent_init(void)
{
	int ret;

	if (!tsc_khz) {
		pr_err("needs a TSC of known frequency\n");
		return -ENODEV;
	}
	if (!boot_cpu_has(X86_FEATURE_CONSTANT_TSC))
		pr_warn("the TSC is not marked constant: deadlines may drift\n");
	if (cpu < 0)
		cpu = cpumask_last(cpu_online_mask);
	if (cpu >= nr_cpu_ids || !cpu_online(cpu)) {
		pr_err("cpu=%d is not an online CPU\n", cpu);
		return -EINVAL;
	}
	if (scan_us < 10 || scan_us > 100000) {
		pr_err("scan_us=%u not in 10..100000\n", scan_us);
		return -EINVAL;
	}
	pvta_thread = kthread_create(pvta_thread_fn, NULL, "pvtimer_agent/%d", cpu);
	if (IS_ERR(pvta_thread))
		return PTR_ERR(pvta_thread);
	kthread_bind(pvta_thread, cpu);
	/*
	 * Real-time (MAX_RT_PRIO / 2): a vCPU thread sharing the agent's CPU
	 * must not delay a scan past the guests' stale_us (their heartbeat
	 * would go stale and every CPU would fall back to the local APIC).
	 */
	sched_set_fifo(pvta_thread);
	get_task_struct(pvta_thread);
	ret = misc_register(&pvta_misc);
	if (ret) {
		kthread_stop(pvta_thread);
		put_task_struct(pvta_thread);
		return ret;
	}
	wake_up_process(pvta_thread);
	pvta_dbg = debugfs_create_dir("pvtimer_agent", NULL);
	debugfs_create_file("vms", 0400, pvta_dbg, NULL, &pvta_vms_fops);
	debugfs_create_u32("stall_ms", 0600, pvta_dbg, &pvta_stall_ms);
	pr_info("version %s: agent on CPU %d, scan every %u us\n", HVKIT_VERSION, cpu,
		scan_us);
	return 0;
}

static void __exit pvtimer_agent_exit(void)
{
	debugfs_remove_recursive(pvta_dbg);
	misc_deregister(&pvta_misc);
	kthread_stop(pvta_thread);
	put_task_struct(pvta_thread);
	/* Every file is closed (the module was not in use): nothing attached. */
	WARN_ON(!list_empty(&pvta_vms));
	pr_info("unloaded\n");
}

module_init(pvtimer_agent_init);
module_exit(pvtimer_agent_exit);

MODULE_DESCRIPTION("hvkit pvtimer_agent: host agent firing guest_pvtimer deadlines");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
