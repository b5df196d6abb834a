// SPDX-License-Identifier: GPL-2.0
/*
 * idlepoll_wheel: a timer-wheel timer that an interrupt queues on an idle
 * CPU while that CPU polls must fire on time. A pinned hrtimer on the
 * target CPU fires delay_us after the round starts; its callback (hard
 * interrupt, on the target CPU, idle by then) notes whether it
 * interrupted guest_idlepoll's poll (the interrupted code is in
 * guest_idlepoll and the idle task has TIF_POLLING_NRFLAG set) and queues
 * a pinned timer-wheel timer expire_jiffies ahead, on that CPU. The wheel
 * timer's callback notes when it ran and starts the next round's hrtimer
 * itself, so no call into the target CPU (an IPI, or a wakeup that ends
 * its idle period and restarts its tick) comes between the rounds: the
 * CPU stays in one idle period with the tick stopped. There only the idle
 * loop's next pass sees the new timer (6.1's irq exit in idle does not
 * re-evaluate the tick, and a timer queued on the local CPU kicks
 * nobody): a cpuidle state that polls and then halts in one call sleeps
 * past it.
 *
 * Loading the module runs the rounds and publishes the results as
 * read-only parameters (in_poll, late_max_us, late_max_other_us, late);
 * it stays loaded, doing nothing, until rmmod (busybox's insmod retries a
 * failed init). Driven by selftests/tests/idlepoll_wheel.sh, with
 * guest_idlepoll's window made long enough to catch the interrupt.
 * Built with the modules, never installed by DKMS.
 */
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/jiffies.h>
#include <linux/kallsyms.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <asm/irq_regs.h>

static int cpu = -1;
module_param(cpu, int, 0444);
MODULE_PARM_DESC(cpu, "target CPU (default -1: the highest online CPU)");
static unsigned int rounds = 20;
module_param(rounds, uint, 0444);
MODULE_PARM_DESC(rounds, "rounds (1..1000)");
static unsigned int delay_us = 6000;
module_param(delay_us, uint, 0444);
MODULE_PARM_DESC(delay_us, "the interrupt comes this long after the round starts, the last round's wheel timer (default 6000: past a 4 ms tick, so the tick stops; 100..1000000)");
static unsigned int expire_jiffies = 1;
module_param(expire_jiffies, uint, 0444);
MODULE_PARM_DESC(expire_jiffies, "the wheel timer expires this many jiffies after the interrupt (1..100)");
static unsigned int late_us = 50000;
module_param(late_us, uint, 0444);
MODULE_PARM_DESC(late_us, "a wheel timer this late after its expiry counts in 'late'");

/* Results. */
static unsigned int in_poll;
module_param(in_poll, uint, 0444);
MODULE_PARM_DESC(in_poll, "result: rounds whose interrupt stopped guest_idlepoll's poll");
static unsigned long long late_max_us;
module_param(late_max_us, ullong, 0444);
MODULE_PARM_DESC(late_max_us, "result: the latest wheel timer of those rounds, us after its expiry");
static unsigned long long late_max_other_us;
module_param(late_max_other_us, ullong, 0444);
MODULE_PARM_DESC(late_max_other_us, "result: the same over the other rounds");
static unsigned int late;
module_param(late, uint, 0444);
MODULE_PARM_DESC(late, "result: polled rounds whose wheel timer came more than late_us after its expiry (one that never comes fails the load)");

struct iw_sample {
	ktime_t t_irq, t_fire;
	int irq_cpu, fire_cpu;
	bool polling;
};

static struct {
	struct hrtimer ht;
	struct timer_list wt;
	struct completion done;
	struct iw_sample *s;
	unsigned int round;	/* the round in flight */
	bool stop;
} iw;

/* Did this interrupt stop guest_idlepoll's poll loop? */
static bool iw_in_poll(void)
{
	struct pt_regs *regs = get_irq_regs();
	char sym[KSYM_SYMBOL_LEN];

	if (!regs || !is_idle_task(current) ||
	    !test_thread_flag(TIF_POLLING_NRFLAG))
		return false;
	sprint_symbol(sym, instruction_pointer(regs));
	return strstr(sym, "[guest_idlepoll]");
}

static enum hrtimer_restart iw_hrtimer(struct hrtimer *t)
{
	struct iw_sample *s = &iw.s[iw.round];

	s->t_irq = ktime_get();
	s->irq_cpu = smp_processor_id();
	s->polling = iw_in_poll();
	/* Pinned: on this CPU's wheel, as a driver's timer would be. */
	mod_timer(&iw.wt, jiffies + expire_jiffies);
	return HRTIMER_NORESTART;
}

static void iw_timer(struct timer_list *t)
{
	struct iw_sample *s = &iw.s[iw.round];

	s->t_fire = ktime_get();
	s->fire_cpu = smp_processor_id();
	if (++iw.round < rounds && !READ_ONCE(iw.stop))
		/* From this CPU: the next round's interrupt, pinned here. */
		hrtimer_start(&iw.ht, ns_to_ktime((u64)delay_us * NSEC_PER_USEC),
			      HRTIMER_MODE_REL_PINNED_HARD);
	else
		complete(&iw.done);
}

static void iw_arm(void *unused)
{
	hrtimer_start(&iw.ht, ns_to_ktime((u64)delay_us * NSEC_PER_USEC),
		      HRTIMER_MODE_REL_PINNED_HARD);
}

/* No callback runs or is pending after this. */
static void iw_stop(void)
{
	WRITE_ONCE(iw.stop, true);
	/* Each may start the other once more: twice each. */
	del_timer_sync(&iw.wt);
	hrtimer_cancel(&iw.ht);
	del_timer_sync(&iw.wt);
	hrtimer_cancel(&iw.ht);
}

static int __init iw_init(void)
{
	u64 late_ns, tick_ns = jiffies_to_nsecs(1), wait_ms;
	unsigned int r;
	int ret;

	if (!rounds || rounds > 1000 || delay_us < 100 || delay_us > 1000000 ||
	    !expire_jiffies || expire_jiffies > 100) {
		pr_err("rounds 1..1000, delay_us 100..1000000, expire_jiffies 1..100\n");
		return -EINVAL;
	}
	if (cpu < 0)
		cpu = cpumask_last(cpu_online_mask);
	if (cpu >= nr_cpu_ids || !cpu_online(cpu)) {
		pr_err("cpu %d is not online\n", cpu);
		return -EINVAL;
	}
	iw.s = kcalloc(rounds, sizeof(*iw.s), GFP_KERNEL);
	if (!iw.s)
		return -ENOMEM;
	hrtimer_init(&iw.ht, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
	iw.ht.function = iw_hrtimer;
	timer_setup(&iw.wt, iw_timer, TIMER_PINNED);
	init_completion(&iw.done);
	/*
	 * Let the target CPU settle into idle (and its tick stop). Round 0
	 * is armed by this call, which ends the target's idle period: its
	 * interrupt may not find a poll (in_poll tells).
	 */
	msleep(50);
	ret = smp_call_function_single(cpu, iw_arm, NULL, 1);
	if (ret) {
		pr_err("smp_call_function_single(%d): %d\n", cpu, ret);
		goto out;
	}
	/* Each round: the delay, a jiffy or more, and up to 5 s late. */
	wait_ms = (u64)rounds * (delay_us / 1000 + 5000 +
				 expire_jiffies * jiffies_to_msecs(1));
	if (!wait_for_completion_timeout(&iw.done, msecs_to_jiffies(wait_ms))) {
		pr_err("rounds not done in %llu ms (round %u)\n", wait_ms,
		       READ_ONCE(iw.round));
		ret = -ETIMEDOUT;
		goto out;
	}
	for (r = 0; r < rounds; r++) {
		struct iw_sample *s = &iw.s[r];

		/* Counted from the interrupt plus expire_jiffies ticks. */
		late_ns = ktime_to_ns(ktime_sub(s->t_fire, s->t_irq));
		late_ns = late_ns > expire_jiffies * tick_ns ?
			  late_ns - expire_jiffies * tick_ns : 0;
		pr_info("round %u: interrupt on cpu %d %s, wheel timer on cpu %d %llu us after its expiry\n",
			r, s->irq_cpu, s->polling ? "in the poll" : "not in the poll",
			s->fire_cpu, late_ns / NSEC_PER_USEC);
		if (s->polling) {
			in_poll++;
			late_max_us = max_t(u64, late_max_us, late_ns / NSEC_PER_USEC);
			if (late_ns > (u64)late_us * NSEC_PER_USEC)
				late++;
		} else {
			late_max_other_us = max_t(u64, late_max_other_us,
						  late_ns / NSEC_PER_USEC);
		}
	}
	pr_info("cpu %d: %u rounds, %u in the poll: latest %llu us after expiry, %u later than %u us; others latest %llu us\n",
		cpu, rounds, in_poll, late_max_us, late, late_us, late_max_other_us);
	ret = 0;
out:
	iw_stop();
	kfree(iw.s);
	iw.s = NULL;
	return ret;
}

static void __exit iw_exit(void)
{
}

module_init(iw_init);
module_exit(iw_exit);
MODULE_DESCRIPTION("hvkit test: a wheel timer queued in an idle CPU's poll fires on time");
MODULE_LICENSE("GPL");
