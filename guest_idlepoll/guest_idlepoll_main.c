// SPDX-License-Identifier: GPL-2.0
/*
 * guest_idlepoll: adaptive idle polling for KVM guests.
 *
 * A cpuidle driver with two states: the kernel's POLL state and IDLEPOLL,
 * which polls (with TIF_POLLING_NRFLAG set, so a waker only sets
 * need_resched and sends no IPI) for a per-CPU window and then halts. The
 * window comes from a predictor of recent idle durations
 * (idlepoll_predict.c). With two states the governor (menu) is consulted
 * on every entry: it keeps the tick when it predicts a short idle period
 * (no TSC-deadline write, i.e. no VM exit, per entry) and picks POLL when
 * PM QoS forbids the halt's exit latency. See Documentation/guest_idlepoll.rst.
 *
 * Control: module parameters (writable at run time), /dev/guest_idlepoll
 * (IDLEPOLL_IOC_STATS), debugfs guest_idlepoll/stats.
 */
#include <linux/context_tracking.h>
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/cpuidle.h>
#include <linux/cpuidle_haltpoll.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel_stat.h>
#include <linux/kvm_para.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched/clock.h>
#include <linux/sched/idle.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/tick.h>
#include <linux/timekeeping.h>
#include <linux/topology.h>
#include <linux/workqueue.h>
#include <asm/processor.h>
#include <hvkit/hvkit.h>
#include "idlepoll_predict.h"

#define CREATE_TRACE_POINTS
#include "guest_idlepoll_trace.h"

/* Check the clock every this many cpu_relax() (as poll_idle() does). */
#define IPOLL_RELAX_COUNT	200
/* Steal time is sampled at most this often per CPU. */
#define IPOLL_STEAL_PERIOD_NS	(50 * NSEC_PER_MSEC)

struct ipoll_counters {
	u64 entries, polls, poll_hits, poll_misses, poll_ns;
	u64 halts, halt_ns, backoff_steal, backoff_smt;
	u64 wake_samples, miss_unhalted, miss_poll_ns;
};

struct ipoll_cpu {
	struct ipoll_pred pred;
	struct ipoll_wake wake;		/* not reset with the predictor */
	struct ipoll_counters cnt;	/* written by the CPU itself only */
	struct ipoll_counters base;	/* values at the last reset */
	u64 window_ns;
	u64 steal_last, steal_stamp;
	u32 steal_pct;
	u32 gen;			/* ipoll_gen the predictor was reset at */
	int in_enter;
	/*
	 * A poll that ran out of its window returns to the idle loop and the
	 * halt follows at the next entry (ipoll_enter()); until then this is
	 * the idle period it began: its start, its poll, its return, the task
	 * that idled (play_idle() runs other tasks' idle) and that task's
	 * context switches then (another count at the next entry: the CPU
	 * ran a task in between, the period ended unhalted).
	 */
	bool carry;
	u64 carry_t0, carry_poll_ns, carry_end;
	struct task_struct *carry_task;
	unsigned long carry_csw;
};

static DEFINE_PER_CPU(struct ipoll_cpu, ipoll_cpus);
static struct cpuidle_device __percpu *ipoll_devs;
static enum cpuhp_state ipoll_hp_state;
static struct dentry *ipoll_debugfs;
static bool ipoll_host_poll_ctl;	/* KVM_FEATURE_POLL_CONTROL present */

/* Parameters: writes validate the whole set and bump ipoll_gen. */
static struct ipoll_params ipoll_prm = IPOLL_PARAMS_INIT;
static DEFINE_MUTEX(ipoll_prm_lock);
static u32 ipoll_gen;

static unsigned int nr_states = 2;
module_param(nr_states, uint, 0444);
MODULE_PARM_DESC(nr_states, "cpuidle states: 2 = POLL + IDLEPOLL under the governor (default: honours PM QoS, keeps the tick for short idles on every kernel), 1 = latency mode: IDLEPOLL alone, no governor call per idle entry (lower wakeup latency, more polling; ignores PM QoS; on kernels before the 'stop the tick only after a tick wakeup' idle-loop change every idle entry stops the tick)");

static unsigned int halt_latency_us = 10;
module_param(halt_latency_us, uint, 0444);
MODULE_PARM_DESC(halt_latency_us, "exit latency declared for IDLEPOLL (a halt's wakeup in a VM); PM QoS limits below it make the governor poll instead");

static bool host_poll;
module_param(host_poll, bool, 0444);
MODULE_PARM_DESC(host_poll, "keep the host's halt polling for this guest (default: off while loaded, as the haltpoll driver does, when KVM offers poll control)");

/* --- parameters writable at run time ------------------------------- */

enum ipoll_ptype { PT_U64, PT_U32, PT_BOOL };

static int ipoll_param_store(const char *val, const struct kernel_param *kp,
			     enum ipoll_ptype type)
{
	size_t off = (char *)kp->arg - (char *)&ipoll_prm;
	struct ipoll_params tmp;
	const char *why;
	u64 v64;
	u32 v32;
	bool b;
	int ret;

	switch (type) {
	case PT_U64:
		ret = kstrtou64(val, 0, &v64);
		break;
	case PT_U32:
		ret = kstrtou32(val, 0, &v32);
		break;
	default:
		ret = kstrtobool(val, &b);
		break;
	}
	if (ret) {
		pr_err("%s: '%s' is not a valid value\n", kp->name, val);
		return -EINVAL;
	}
	mutex_lock(&ipoll_prm_lock);
	tmp = ipoll_prm;
	switch (type) {
	case PT_U64:
		*(u64 *)((char *)&tmp + off) = v64;
		break;
	case PT_U32:
		*(u32 *)((char *)&tmp + off) = v32;
		break;
	default:
		*(bool *)((char *)&tmp + off) = b;
		break;
	}
	ret = ipoll_params_validate(&tmp, &why);
	if (ret) {
		pr_err("%s=%s refused: %s\n", kp->name, val, why);
	} else {
		switch (type) {
		case PT_U64:
			WRITE_ONCE(*(u64 *)kp->arg, v64);
			break;
		case PT_U32:
			WRITE_ONCE(*(u32 *)kp->arg, v32);
			break;
		default:
			WRITE_ONCE(*(bool *)kp->arg, b);
			break;
		}
		WRITE_ONCE(ipoll_gen, ipoll_gen + 1);
	}
	mutex_unlock(&ipoll_prm_lock);
	return ret;
}

static int ipoll_set_u64(const char *val, const struct kernel_param *kp)
{
	return ipoll_param_store(val, kp, PT_U64);
}

static int ipoll_set_u32(const char *val, const struct kernel_param *kp)
{
	return ipoll_param_store(val, kp, PT_U32);
}

static int ipoll_set_bool(const char *val, const struct kernel_param *kp)
{
	return ipoll_param_store(val, kp, PT_BOOL);
}

static const struct kernel_param_ops ipoll_u64_ops = {
	.set = ipoll_set_u64,
	.get = param_get_ullong,
};

static const struct kernel_param_ops ipoll_u32_ops = {
	.set = ipoll_set_u32,
	.get = param_get_uint,
};

static const struct kernel_param_ops ipoll_bool_ops = {
	.set = ipoll_set_bool,
	.get = param_get_bool,
};

static const char *const ipoll_policy_names[IPOLL_NR_POLICIES] = {
	[IPOLL_HALTPOLL] = "haltpoll",
	[IPOLL_ADAPTIVE] = "adaptive",
};

static int ipoll_set_policy(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(ipoll_policy_names, val);

	if (i < 0) {
		pr_err("policy: '%s' is not one of: haltpoll adaptive\n", val);
		return -EINVAL;
	}
	mutex_lock(&ipoll_prm_lock);
	WRITE_ONCE(ipoll_prm.policy, i);
	WRITE_ONCE(ipoll_gen, ipoll_gen + 1);
	mutex_unlock(&ipoll_prm_lock);
	return 0;
}

static int ipoll_get_policy(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  ipoll_policy_names[READ_ONCE(ipoll_prm.policy)]);
}

static const struct kernel_param_ops ipoll_policy_ops = {
	.set = ipoll_set_policy,
	.get = ipoll_get_policy,
};

module_param_cb(policy, &ipoll_policy_ops, &ipoll_prm.policy, 0644);
MODULE_PARM_DESC(policy, "window predictor: haltpoll (default: the upstream governor's grow/shrink rule, the better one in hvkit's benchmark) or adaptive (expected benefit over the last 16 idle periods)");
module_param_cb(max_poll_ns, &ipoll_u64_ops, &ipoll_prm.max_poll_ns, 0644);
MODULE_PARM_DESC(max_poll_ns, "global cap on any poll window, ns (haltpoll: guest_halt_poll_ns); 0 disables polling");
module_param_cb(grow, &ipoll_u32_ops, &ipoll_prm.grow, 0644);
MODULE_PARM_DESC(grow, "haltpoll: window growth factor (guest_halt_poll_grow)");
module_param_cb(shrink, &ipoll_u32_ops, &ipoll_prm.shrink, 0644);
MODULE_PARM_DESC(shrink, "haltpoll: window shrink divisor, 0 resets to 0 (guest_halt_poll_shrink)");
module_param_cb(shrink_after, &ipoll_u32_ops, &ipoll_prm.shrink_after, 0644);
MODULE_PARM_DESC(shrink_after, "haltpoll: shrink only at the Nth halt in a row longer than max_poll_ns (default 4: one gap between request bursts keeps the window); 1 = upstream haltpoll, shrink after every one; 1..64");
module_param_cb(grow_start_ns, &ipoll_u64_ops, &ipoll_prm.grow_start_ns, 0644);
MODULE_PARM_DESC(grow_start_ns, "haltpoll: first window when growing from 0 (guest_halt_poll_grow_start)");
module_param_cb(allow_shrink, &ipoll_bool_ops, &ipoll_prm.allow_shrink, 0644);
MODULE_PARM_DESC(allow_shrink, "haltpoll: shrink after long halts (guest_halt_poll_allow_shrink)");
module_param_cb(benefit_ns, &ipoll_u64_ops, &ipoll_prm.benefit_ns, 0644);
MODULE_PARM_DESC(benefit_ns, "adaptive: latency one poll hit saves over halting (HLT exit + wakeup), ns; 0 (default) = each CPU's own halt wake-up latency, measured on halts a timer ended (20000 until the first one); at most 1000000");
module_param_cb(cost_pct, &ipoll_u32_ops, &ipoll_prm.cost_pct, 0644);
MODULE_PARM_DESC(cost_pct, "adaptive: cost of one polled ns in % of one ns of latency (higher polls less)");
module_param_cb(steal_pct, &ipoll_u32_ops, &ipoll_prm.steal_pct, 0644);
MODULE_PARM_DESC(steal_pct, "do not poll while the CPU's steal time is at least this % (host contended); 0 = never back off");
module_param_cb(smt_backoff, &ipoll_bool_ops, &ipoll_prm.smt_backoff, 0644);
MODULE_PARM_DESC(smt_backoff, "do not poll while an SMT sibling is busy");

/* --- the idle state ------------------------------------------------ */

static bool ipoll_sibling_busy(int cpu)
{
	int sib;

	for_each_cpu(sib, topology_sibling_cpumask(cpu)) {
		if (sib != cpu && !READ_ONCE(per_cpu(ipoll_cpus, sib).in_enter))
			return true;
	}
	return false;
}

/* The window for this entry, after back-off; 0 = halt at once. */
static notrace u64 ipoll_window(struct ipoll_cpu *c, int cpu, u64 now,
				u64 benefit_ns)
{
	enum ipoll_backoff_reason why;
	u32 gen = READ_ONCE(ipoll_gen);

	if (unlikely(c->gen != gen)) {
		ipoll_pred_reset(&c->pred);
		c->gen = gen;
	}
	if (now - c->steal_stamp >= IPOLL_STEAL_PERIOD_NS) {
		u64 steal = kcpustat_this_cpu->cpustat[CPUTIME_STEAL];

		if (c->steal_stamp)
			c->steal_pct = ipoll_steal_pct(steal - c->steal_last,
						       now - c->steal_stamp);
		c->steal_last = steal;
		c->steal_stamp = now;
	}
	why = ipoll_backoff(&ipoll_prm, c->steal_pct,
			    ipoll_prm.smt_backoff && ipoll_sibling_busy(cpu));
	if (why == IPOLL_BACKOFF_STEAL) {
		c->cnt.backoff_steal++;
		return 0;
	}
	if (why == IPOLL_BACKOFF_SMT) {
		c->cnt.backoff_smt++;
		return 0;
	}
	return ipoll_pred_window(&c->pred, &ipoll_prm, benefit_ns);
}

/*
 * The halt, entered as 6.1's default_idle_call() enters arch_cpu_idle():
 * irq tracing and lockdep are told "on" while RCU still watches, RCU stops
 * watching only around the halt itself (an interrupt that wakes the CPU
 * enters RCU as from idle), and all of it is undone in reverse order with
 * interrupts off, which they stay on return. A wakeup that came after the
 * caller's last check is seen here, or its IPI ends the halt (interrupts
 * are off until the "sti; hlt" pair).
 */
static __always_inline void ipoll_halt(void)
{
	trace_hardirqs_on_prepare();
	hvkit_lockdep_hardirqs_on_prepare();
	ct_idle_enter();
	lockdep_hardirqs_on(_THIS_IP_);
	if (!need_resched())
		raw_safe_halt();
	raw_local_irq_disable();
	lockdep_hardirqs_off(_THIS_IP_);
	ct_idle_exit();
	trace_hardirqs_off_finish();
}

/* Context switches of @t: each time it left the CPU, preempted or asleep. */
static __always_inline unsigned long ipoll_csw(struct task_struct *t)
{
	return t->nvcsw + t->nivcsw;
}

/*
 * Account the halt that ended the idle period which began at @t0 with
 * @poll_ns of polling, at this entry or a poll's earlier one. Called with
 * TIF_POLLING_NRFLAG clear and need_resched() seen clear after clearing it.
 */
static notrace void ipoll_halt_account(struct ipoll_cpu *c, u64 t0,
				       u64 poll_ns, u64 next_timer_ns,
				       u64 benefit_ns)
{
	u64 hs, he, h0 = local_clock(), h1;

	if (!next_timer_ns || next_timer_ns == (u64)KTIME_MAX) {
		/* No timer due: no wake-up sample, no clock read. */
		ipoll_halt();
	} else {
		/*
		 * CLOCK_MONOTONIC, the clock of dev->next_hrtimer, around the
		 * halt: its wake-up latency when a timer ended it.
		 */
		hs = ktime_get_mono_fast_ns();
		ipoll_halt();
		he = ktime_get_mono_fast_ns();
		if (ipoll_wake_sample(&c->wake, hs, he, next_timer_ns))
			c->cnt.wake_samples++;
	}
	h1 = local_clock();
	c->cnt.halts++;
	c->cnt.halt_ns += h1 - h0;
	trace_ipoll_halt(poll_ns, h1 - h0);
	ipoll_pred_update(&c->pred, &ipoll_prm, benefit_ns, h1 - t0, poll_ns,
			  true);
}

/*
 * Called by cpuidle_enter_state() with interrupts off, TIF_POLLING_NRFLAG
 * clear (call_cpuidle() cleared it) and, since the state is
 * CPUIDLE_FLAG_RCU_IDLE, RCU watching: the poll and the trace events run
 * as any kernel code; only ipoll_halt() is an extended quiescent state.
 * Returns with interrupts off. The idle loop sets the polling flag again
 * after we return.
 *
 * A poll that runs out of its window does not halt here: it returns, as
 * poll_idle() does, and the next entry of the same idle period halts at
 * once. The poll ran with interrupts on, and what an interrupt did then
 * (a timer-wheel timer queued on this CPU, RCU callbacks) is seen only by
 * the idle loop's next tick_nohz_idle_stop_tick(): 6.1's irq exit in idle
 * only restarts idle time accounting, and a timer queued on the local CPU
 * kicks nobody (wake_up_idle_cpu() returns for it). Halting here would
 * sleep until the event programmed before the poll, the new timer late.
 * (A timer due before the window ends is still served at its end.) With
 * two states the missed poll is returned as POLL's (state 0) with
 * dev->poll_time_limit set, as poll_idle() returns a poll that ran out.
 */
static notrace int ipoll_enter(struct cpuidle_device *dev,
			       struct cpuidle_driver *drv, int index)
{
	struct ipoll_cpu *c = this_cpu_ptr(&ipoll_cpus);
	u64 t0 = local_clock(), poll_ns = 0, window, benefit_ns;
	u64 next_timer_ns = ktime_to_ns(READ_ONCE(dev->next_hrtimer));
	bool hit = false;

	WRITE_ONCE(c->in_enter, 1);
	dev->poll_time_limit = false;
	/* Once per entry: the window and the predictor's update share it. */
	benefit_ns = ipoll_benefit_ns(&c->wake, &ipoll_prm);
	if (c->carry) {
		/*
		 * The same period: the same task, never switched out since
		 * (the idle task's switches count in nivcsw, an idle
		 * injection thread's sleeps in nvcsw), and call_cpuidle() did
		 * not see need_resched() in between (it zeroes
		 * last_residency_ns). No time bound: a pass of the idle loop
		 * can take milliseconds on a slow or preempted vCPU, and a CPU
		 * that polled anew after every such miss would never halt.
		 */
		bool same = current == c->carry_task &&
			    ipoll_csw(current) == c->carry_csw &&
			    dev->last_residency_ns;

		c->carry = false;
		if (same && !current_clr_polling_and_test()) {
			/* Its halt, now. */
			ipoll_halt_account(c, c->carry_t0, c->carry_poll_ns,
					   next_timer_ns, benefit_ns);
			goto out;
		}
		/* It ended after the window, before its halt. */
		c->cnt.miss_unhalted++;
		ipoll_pred_update(&c->pred, &ipoll_prm, benefit_ns,
				  (same ? t0 : c->carry_end) - c->carry_t0,
				  c->carry_poll_ns, true);
		if (same) {
			/*
			 * need_resched(): it ends now, refused as
			 * call_cpuidle() refuses (no residency for the
			 * governor to learn from).
			 */
			index = -EBUSY;
			goto out;
		}
	}
	window = ipoll_window(c, dev->cpu, t0, benefit_ns);
	c->window_ns = window;
	c->cnt.entries++;
	if (window) {
		unsigned int loops = 0;

		trace_ipoll_poll_start(window);
		local_irq_enable();
		/*
		 * call_cpuidle() cleared TIF_POLLING_NRFLAG: set it again, so
		 * a waker only sets need_resched and sends no IPI (an APIC
		 * write, i.e. a VM exit, on the waker's side).
		 */
		if (!current_set_polling_and_test()) {
			while (!need_resched()) {
				cpu_relax();
				if (++loops < IPOLL_RELAX_COUNT)
					continue;
				loops = 0;
				if (local_clock() - t0 >= window)
					break;
			}
		}
		local_irq_disable();
		poll_ns = local_clock() - t0;
	}
	/* Wakers must send an IPI from now on. */
	hit = current_clr_polling_and_test();
	if (window) {
		c->cnt.polls++;
		c->cnt.poll_ns += poll_ns;
		if (hit)
			c->cnt.poll_hits++;
		else
			c->cnt.poll_misses++;
		trace_ipoll_poll_end(window, poll_ns, hit);
	}
	if (hit) {
		ipoll_pred_update(&c->pred, &ipoll_prm, benefit_ns,
				  local_clock() - t0, poll_ns, false);
	} else if (window) {
		/* Back to the idle loop; its next entry here halts. */
		c->carry = true;
		c->carry_t0 = t0;
		c->carry_poll_ns = poll_ns;
		c->carry_end = local_clock();
		c->carry_task = current;
		c->carry_csw = ipoll_csw(current);
		dev->poll_time_limit = true;
		/*
		 * With two states, cpuidle accounts this poll to POLL, as the
		 * governors need: menu takes a POLLING state that hit its time
		 * limit for a long idle; a short residency of IDLEPOLL's would
		 * teach it short idles (keep the tick, choose POLL).
		 */
		if (nr_states == 2) {
			/* After poll_ns: a reader takes it first (ipoll_fill()). */
			barrier();
			c->cnt.miss_poll_ns += poll_ns;
			index = 0;
		}
	} else {
		ipoll_halt_account(c, t0, 0, next_timer_ns, benefit_ns);
	}
out:
	WRITE_ONCE(c->in_enter, 0);
	return index;
}

/*
 * No .owner: cpuidle would take a module reference per registered device,
 * and the devices go away only in module_exit(), so the module could never
 * be unloaded. guest_idlepoll_exit() unregisters everything first instead.
 */
static struct cpuidle_driver ipoll_driver = {
	.name		= "guest_idlepoll",
	.safe_state_index = 0,
};

static void ipoll_init_states(struct cpuidle_driver *drv)
{
	struct cpuidle_state *s;

	if (nr_states == 2)
		cpuidle_poll_state_init(drv);
	s = &drv->states[nr_states - 1];
	strscpy(s->name, "IDLEPOLL", CPUIDLE_NAME_LEN);
	strscpy(s->desc, "hvkit adaptive poll, then halt", CPUIDLE_DESC_LEN);
	s->enter = ipoll_enter;
	/* ipoll_enter() stops RCU watching itself, around the halt only. */
	s->flags = CPUIDLE_FLAG_RCU_IDLE;
	s->exit_latency = halt_latency_us;
	s->target_residency = 1;
	s->power_usage = -1;
	drv->state_count = nr_states;
}

/* --- host halt polling (MSR_KVM_POLL_CONTROL) ---------------------- */

static bool ipoll_detect_poll_control(void)
{
	u32 base;

	if (!kvm_para_available())
		return false;
	base = hypervisor_cpuid_base(KVM_SIGNATURE, 0);
	return base && (cpuid_eax(base | KVM_CPUID_FEATURES) &
			BIT(KVM_FEATURE_POLL_CONTROL));
}

static void ipoll_host_poll(unsigned int cpu, bool guest_polls)
{
	if (host_poll || !ipoll_host_poll_ctl)
		return;
	if (guest_polls)
		arch_haltpoll_enable(cpu);
	else
		arch_haltpoll_disable(cpu);
}

/* --- CPU hotplug ---------------------------------------------------- */

static int ipoll_cpu_online(unsigned int cpu)
{
	struct cpuidle_device *dev = per_cpu_ptr(ipoll_devs, cpu);
	struct ipoll_cpu *c;
	int ret;

	if (dev->registered)
		return 0;
	/*
	 * Runs on @cpu, not idle: a miss pending from before it went offline
	 * ended unhalted.
	 */
	c = per_cpu_ptr(&ipoll_cpus, cpu);
	c->cnt.miss_unhalted += c->carry;
	c->carry = false;
	dev->cpu = cpu;
	ret = cpuidle_register_device(dev);
	if (ret) {
		pr_err("cpu%u: cpuidle_register_device: %d\n", cpu, ret);
		return ret;
	}
	/* POLL (chosen under a strict PM QoS limit) polls up to a tick. */
	dev->poll_limit_ns = TICK_NSEC;
	ipoll_host_poll(cpu, true);
	return 0;
}

static int ipoll_cpu_offline(unsigned int cpu)
{
	struct cpuidle_device *dev = per_cpu_ptr(ipoll_devs, cpu);

	if (dev->registered) {
		ipoll_host_poll(cpu, false);
		cpuidle_unregister_device(dev);
	}
	return 0;
}

/* --- statistics ----------------------------------------------------- */

static void ipoll_fill(int cpu, struct idlepoll_cpu_stats *st)
{
	const struct ipoll_cpu *c = per_cpu_ptr(&ipoll_cpus, cpu);
	const struct ipoll_counters *n = &c->cnt, *b = &c->base;
	struct ipoll_wake wk;

	memset(st, 0, sizeof(*st));
	st->cpu = cpu;
	if (cpu_online(cpu))
		st->flags |= IDLEPOLL_CPU_ONLINE;
	if (per_cpu_ptr(ipoll_devs, cpu)->registered)
		st->flags |= IDLEPOLL_CPU_REGISTERED;
	st->entries = READ_ONCE(n->entries) - READ_ONCE(b->entries);
	st->polls = READ_ONCE(n->polls) - READ_ONCE(b->polls);
	st->poll_hits = READ_ONCE(n->poll_hits) - READ_ONCE(b->poll_hits);
	st->poll_misses = READ_ONCE(n->poll_misses) - READ_ONCE(b->poll_misses);
	/* miss_poll_ns first: the CPU adds to poll_ns first. */
	st->miss_poll_ns = READ_ONCE(n->miss_poll_ns) - READ_ONCE(b->miss_poll_ns);
	barrier();
	st->poll_ns = READ_ONCE(n->poll_ns) - READ_ONCE(b->poll_ns);
	st->halts = READ_ONCE(n->halts) - READ_ONCE(b->halts);
	st->halt_ns = READ_ONCE(n->halt_ns) - READ_ONCE(b->halt_ns);
	st->backoff_steal = READ_ONCE(n->backoff_steal) - READ_ONCE(b->backoff_steal);
	st->backoff_smt = READ_ONCE(n->backoff_smt) - READ_ONCE(b->backoff_smt);
	st->window_ns = READ_ONCE(c->window_ns);
	st->steal_pct = READ_ONCE(c->steal_pct);
	/* One snapshot: the CPU may take a sample meanwhile. */
	wk.samples = READ_ONCE(c->wake.samples);
	wk.ewma_ns = READ_ONCE(c->wake.ewma_ns);
	wk.last_ns = READ_ONCE(c->wake.last_ns);
	if (wk.samples)
		st->wake_ns = wk.ewma_ns;
	st->wake_last_ns = wk.last_ns;
	st->wake_samples = READ_ONCE(n->wake_samples) - READ_ONCE(b->wake_samples);
	st->benefit_ns = ipoll_benefit_ns(&wk, &ipoll_prm);
	st->miss_unhalted = READ_ONCE(n->miss_unhalted) - READ_ONCE(b->miss_unhalted);
}

static DEFINE_MUTEX(ipoll_reset_lock);

static void ipoll_reset(void)
{
	int cpu;

	mutex_lock(&ipoll_reset_lock);
	for_each_possible_cpu(cpu) {
		struct ipoll_cpu *c = per_cpu_ptr(&ipoll_cpus, cpu);

		/* Field by field: the owner CPU keeps counting meanwhile. */
		c->base.entries = READ_ONCE(c->cnt.entries);
		c->base.polls = READ_ONCE(c->cnt.polls);
		c->base.poll_hits = READ_ONCE(c->cnt.poll_hits);
		c->base.poll_misses = READ_ONCE(c->cnt.poll_misses);
		c->base.poll_ns = READ_ONCE(c->cnt.poll_ns);
		c->base.halts = READ_ONCE(c->cnt.halts);
		c->base.halt_ns = READ_ONCE(c->cnt.halt_ns);
		c->base.backoff_steal = READ_ONCE(c->cnt.backoff_steal);
		c->base.backoff_smt = READ_ONCE(c->cnt.backoff_smt);
		c->base.wake_samples = READ_ONCE(c->cnt.wake_samples);
		c->base.miss_unhalted = READ_ONCE(c->cnt.miss_unhalted);
		c->base.miss_poll_ns = READ_ONCE(c->cnt.miss_poll_ns);
	}
	mutex_unlock(&ipoll_reset_lock);
}

static long ipoll_ioctl_stats(void __user *uarg)
{
	struct idlepoll_stats a;
	struct idlepoll_cpu_stats st;
	u32 usize, n = 0;
	int cpu, ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(a.flags, IDLEPOLL_STATS_RESET) || a.__pad0)
		return -EINVAL;
	if (a.nr_cpus && (a.cpu_size < offsetofend(struct idlepoll_cpu_stats,
						   steal_pct) ||
			  a.cpu_size > HVKIT_ARG_MAX_SIZE))
		return -EINVAL;
	if ((a.flags & IDLEPOLL_STATS_RESET) && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	for_each_possible_cpu(cpu) {
		u64 __user *dst;

		if (n >= a.nr_cpus)
			break;
		ipoll_fill(cpu, &st);
		dst = u64_to_user_ptr(a.cpus + (u64)n * a.cpu_size);
		if (copy_to_user(dst, &st, min_t(size_t, sizeof(st), a.cpu_size)))
			return -EFAULT;
		if (a.cpu_size > sizeof(st) &&
		    clear_user((char __user *)dst + sizeof(st),
			       a.cpu_size - sizeof(st)))
			return -EFAULT;
		n++;
	}
	if (a.flags & IDLEPOLL_STATS_RESET)
		ipoll_reset();
	a.nr_cpus = n;
	a.policy = READ_ONCE(ipoll_prm.policy);
	a.nr_states = nr_states;
	a.max_poll_ns = READ_ONCE(ipoll_prm.max_poll_ns);
	a.nr_possible = num_possible_cpus();
	return hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);
}

static long ipoll_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case HVKIT_IOC_GET_INFO:
		return hvkit_ioctl_get_info(uarg, KBUILD_MODNAME, 0);
	case IDLEPOLL_IOC_STATS:
		return ipoll_ioctl_stats(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations ipoll_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= ipoll_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice ipoll_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "guest_idlepoll",
	.fops	= &ipoll_fops,
	.mode	= 0644,
};

static int ipoll_stats_show(struct seq_file *m, void *unused)
{
	struct idlepoll_cpu_stats st;
	int cpu;

	seq_printf(m, "policy %s states %u%s max_poll_ns %llu shrink_after %u benefit_ns %llu%s host_poll_control %s\n",
		   ipoll_policy_names[READ_ONCE(ipoll_prm.policy)], nr_states,
		   nr_states == 1 ? " (latency mode)" : "",
		   READ_ONCE(ipoll_prm.max_poll_ns),
		   READ_ONCE(ipoll_prm.shrink_after),
		   READ_ONCE(ipoll_prm.benefit_ns),
		   READ_ONCE(ipoll_prm.benefit_ns) ? "" : " (measured)",
		   !ipoll_host_poll_ctl ? "absent" : host_poll ? "host polls" :
		   "host polling off");
	seq_puts(m, "cpu  entries      polls        hits         misses       poll_ns          halts        halt_ns          backoff_steal backoff_smt window_ns steal% wake_ns   wake_last_ns wake_samples benefit_ns   miss_unhalted miss_poll_ns\n");
	for_each_possible_cpu(cpu) {
		ipoll_fill(cpu, &st);
		seq_printf(m, "%-4d %-12llu %-12llu %-12llu %-12llu %-16llu %-12llu %-16llu %-13llu %-11llu %-9llu %-6u %-9llu %-12llu %-12llu %-12llu %-13llu %llu%s\n",
			   cpu, st.entries, st.polls, st.poll_hits,
			   st.poll_misses, st.poll_ns, st.halts, st.halt_ns,
			   st.backoff_steal, st.backoff_smt, st.window_ns,
			   st.steal_pct, st.wake_ns, st.wake_last_ns,
			   st.wake_samples, st.benefit_ns, st.miss_unhalted,
			   st.miss_poll_ns, st.flags & IDLEPOLL_CPU_REGISTERED ? "" : " (off)");
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ipoll_stats);

/* --- load and unload ------------------------------------------------ */

static DEFINE_PER_CPU(struct work_struct, ipoll_sync_work);

static void ipoll_sync_fn(struct work_struct *work)
{
}

/*
 * The driver and its devices are unregistered: no CPU picks them any
 * more, but one may still be on its way through them. A CPU in
 * ipoll_halt() is RCU-idle, and for the POLL state (nr_states=2) 6.1's
 * cpuidle_enter_state() stops RCU watching (ct_idle_enter()) before it
 * calls ->enter() and starts it again only after it returned, while it
 * still reads ipoll_driver and the device: such a CPU is invisible to
 * synchronize_rcu(). A work item on every CPU ends only once
 * that CPU has left the idle call and gone through the scheduler; coming
 * back to idle it no longer finds this driver. Only then may the module's
 * text, ipoll_driver and the devices go.
 */
static void ipoll_wait_idle_exit(void)
{
	int cpu;

	cpus_read_lock();
	for_each_online_cpu(cpu) {
		struct work_struct *w = per_cpu_ptr(&ipoll_sync_work, cpu);

		INIT_WORK(w, ipoll_sync_fn);
		queue_work_on(cpu, system_highpri_wq, w);
	}
	for_each_online_cpu(cpu)
		flush_work(per_cpu_ptr(&ipoll_sync_work, cpu));
	cpus_read_unlock();
	/*
	 * Every CPU has now left cpuidle_enter_state(), which cleared its
	 * rq->idle_state (a pointer into ipoll_driver.states[]); a scheduler
	 * reader that loaded the old pointer (find_idlest_group_cpu(), under
	 * rcu_read_lock()) is in a read section that began before: wait for it.
	 */
	synchronize_rcu();
	/* Nothing of ours runs now; in_enter is the proof the debug check reads. */
	for_each_possible_cpu(cpu)
		WARN_ON_ONCE(READ_ONCE(per_cpu(ipoll_cpus, cpu).in_enter));
}

static void ipoll_uninit(void)
{
	if (ipoll_hp_state)
		cpuhp_remove_state(ipoll_hp_state);
	ipoll_hp_state = 0;
	cpuidle_unregister_driver(&ipoll_driver);
	ipoll_wait_idle_exit();
	free_percpu(ipoll_devs);
	ipoll_devs = NULL;
}

static int __init guest_idlepoll_init(void)
{
	struct cpuidle_driver *other;
	const char *why;
	int ret;

	if (nr_states < 1 || nr_states > 2) {
		pr_err("nr_states=%u: must be 1 (latency mode) or 2 (default)\n", nr_states);
		return -EINVAL;
	}
	if (ipoll_params_validate(&ipoll_prm, &why)) {
		pr_err("bad parameters: %s\n", why);
		return -EINVAL;
	}
	if (boot_option_idle_override != IDLE_NO_OVERRIDE) {
		pr_err("the kernel was booted with idle=%s: the idle loop does not use cpuidle\n",
		       boot_option_idle_override == IDLE_POLL ? "poll" :
		       boot_option_idle_override == IDLE_HALT ? "halt" : "nomwait");
		return -ENODEV;
	}
	other = cpuidle_get_driver();
	if (other) {
		pr_err("cpuidle driver '%s' already owns the CPUs and x86 allows only one: boot without it%s\n",
		       other->name, strcmp(other->name, "haltpoll") ? "" :
		       " (haltpoll loads with cpuidle_haltpoll.force=1 or the host's KVM_HINTS_REALTIME)");
		return -EBUSY;
	}
	ipoll_host_poll_ctl = ipoll_detect_poll_control();

	ret = misc_register(&ipoll_misc);
	if (ret) {
		pr_err("cannot register /dev/guest_idlepoll: %d\n", ret);
		return ret;
	}
	ipoll_init_states(&ipoll_driver);
	ret = cpuidle_register_driver(&ipoll_driver);
	if (ret) {
		other = cpuidle_get_driver();
		pr_err("cpuidle_register_driver: %d (driver '%s' registered meanwhile?)\n",
		       ret, other ? other->name : "none");
		goto err_misc;
	}
	ipoll_devs = alloc_percpu(struct cpuidle_device);
	if (!ipoll_devs) {
		ret = -ENOMEM;
		cpuidle_unregister_driver(&ipoll_driver);
		goto err_misc;
	}
	ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "cpuidle/guest_idlepoll:online",
				ipoll_cpu_online, ipoll_cpu_offline);
	if (ret < 0) {
		pr_err("cpuhp_setup_state: %d\n", ret);
		ipoll_uninit();
		goto err_misc;
	}
	ipoll_hp_state = ret;
	ipoll_debugfs = debugfs_create_dir("guest_idlepoll", NULL);
	debugfs_create_file("stats", 0444, ipoll_debugfs, NULL, &ipoll_stats_fops);
	pr_info("version %s loaded: %u states%s, policy %s, max_poll_ns %llu, host poll control %s\n",
		HVKIT_VERSION, nr_states, nr_states == 1 ? " (latency mode)" : "",
		ipoll_policy_names[ipoll_prm.policy],
		ipoll_prm.max_poll_ns,
		!ipoll_host_poll_ctl ? "absent" : host_poll ? "kept" : "host polling off");
	return 0;

err_misc:
	misc_deregister(&ipoll_misc);
	return ret;
}

static void __exit guest_idlepoll_exit(void)
{
	debugfs_remove_recursive(ipoll_debugfs);
	misc_deregister(&ipoll_misc);
	ipoll_uninit();
	pr_info("unloaded; CPUs back to the default idle\n");
}

module_init(guest_idlepoll_init);
module_exit(guest_idlepoll_exit);

MODULE_DESCRIPTION("hvkit guest_idlepoll: adaptive idle polling for KVM guests");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
