// SPDX-License-Identifier: GPL-2.0
/*
 * guest_idlepoll predictors (see idlepoll_predict.h and
 * Documentation/guest_idlepoll.rst).
 *
 * haltpoll: the rule of the upstream haltpoll governor
 * (drivers/cpuidle/governors/haltpoll.c), which Debian does not build and a
 * module cannot register. After a halt of block_ns: grow the window
 * (x grow, at least grow_start_ns) when window < block_ns <= max_poll_ns,
 * shrink it (/ shrink) when block_ns > max_poll_ns. Poll hits change
 * nothing.
 *
 * With one change by default: a long idle (block_ns > max_poll_ns) shrinks
 * the window only when it is at least the shrink_after-th long idle in a
 * row; any shorter idle, poll hits included, ends the run. Upstream shrinks
 * after every long idle, so a request/response load with a gap of a few ms
 * between bursts loses half its window at every gap, and since hits do not
 * grow it, the next burst's idles miss and halt until the window has grown
 * back step by step. The gap between two bursts is one long idle, or a few
 * when the tick (4 ms at HZ=250) is kept and splits it; shrink_after = 4
 * rides out gaps of up to 12-16 ms the tick splits in four or fewer (a
 * gap the tick does not split, the tick being stopped, always), while a
 * CPU that is really idle (long idles
 * and nothing else) still shrinks on the 4th and on every long idle after
 * it, to no polling at all after about log2(window) more. shrink_after = 1
 * is the upstream rule exactly.
 *
 * adaptive: keep the last IPOLL_NSAMPLES idle durations (the time from
 * idle entry to the wakeup event, poll hits and halts alike) and choose
 * the window that maximises the expected benefit over them: polling up to
 * W gains benefit_ns for every idle period that ends within W, and costs
 * cost_pct % of every ns polled: the whole period for those, W for the
 * others. The best W is always one of the samples (the benefit falls
 * between two samples), so at most IPOLL_NSAMPLES candidates are tried.
 * A halted period's wakeup event came about benefit_ns before the CPU was
 * back: its sample is idle - benefit_ns (half the idle time when that is
 * shorter than benefit_ns), never less than the polled window. So the cost
 * of halting does not make the next window shorter, and an overestimated
 * benefit cannot pin the window at zero.
 *
 * benefit_ns is the CPU's own measured halt wake-up latency unless the
 * parameter sets it (ipoll_wake_sample(), ipoll_benefit_ns()).
 */
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/math64.h>
#include <linux/string.h>
#include "idlepoll_predict.h"

void ipoll_params_default(struct ipoll_params *prm)
{
	static const struct ipoll_params def = IPOLL_PARAMS_INIT;

	*prm = def;
}

/**
 * ipoll_params_validate() - check a parameter set
 * @prm:	the parameters
 * @why:	set to a description of the first bad parameter
 *
 * Return: 0 or -EINVAL.
 */
int ipoll_params_validate(const struct ipoll_params *prm, const char **why)
{
	const char *bad = NULL;

	if (prm->policy >= IPOLL_NR_POLICIES)
		bad = "policy must be haltpoll or adaptive";
	else if (prm->max_poll_ns > IPOLL_MAX_POLL_NS_MAX)
		bad = "max_poll_ns must be at most 10000000 (10 ms)";
	else if (prm->grow < 1 || prm->grow > IPOLL_GROW_MAX)
		bad = "grow must be 1..16";
	else if (prm->shrink > IPOLL_SHRINK_MAX)
		bad = "shrink must be 0..16";
	else if (prm->shrink_after < 1 || prm->shrink_after > IPOLL_SHRINK_AFTER_MAX)
		bad = "shrink_after must be 1..64 (1: shrink after every long idle, as upstream)";
	else if (prm->grow_start_ns > IPOLL_MAX_POLL_NS_MAX)
		bad = "grow_start_ns must be at most 10000000 (10 ms)";
	else if (prm->benefit_ns > IPOLL_BENEFIT_NS_MAX)
		bad = "benefit_ns must be at most 1000000 (1 ms; 0: measured)";
	else if (prm->cost_pct < 1 || prm->cost_pct > IPOLL_COST_PCT_MAX)
		bad = "cost_pct must be 1..10000";
	else if (prm->steal_pct > IPOLL_STEAL_PCT_MAX)
		bad = "steal_pct must be 0..100";
	if (why)
		*why = bad;
	return bad ? -EINVAL : 0;
}

void ipoll_pred_reset(struct ipoll_pred *p)
{
	memset(p, 0, sizeof(*p));
}

static void haltpoll_adjust(struct ipoll_pred *p,
			    const struct ipoll_params *prm, u64 block_ns)
{
	u64 val;

	if (block_ns > prm->max_poll_ns) {
		/* A long idle: shrink only at the shrink_after-th in a row. */
		if (p->long_run < prm->shrink_after)
			p->long_run++;
		if (prm->allow_shrink && p->long_run >= prm->shrink_after)
			p->window_ns = prm->shrink ? p->window_ns / prm->shrink : 0;
		return;
	}
	p->long_run = 0;
	if (block_ns > p->window_ns) {
		val = p->window_ns * prm->grow;
		if (val < prm->grow_start_ns)
			val = prm->grow_start_ns;
		if (val > prm->max_poll_ns)
			val = prm->max_poll_ns;
		p->window_ns = val;
	}
}

/**
 * ipoll_pred_update() - account one idle period
 * @p:		the CPU's predictor
 * @prm:	parameters
 * @benefit_ns:	adaptive: what a poll hit saves (ipoll_benefit_ns())
 * @idle_ns:	time from idle entry until the CPU ran again
 * @poll_ns:	the part of it spent polling
 * @halted:	true when the period ended in (or after) a halt
 */
void ipoll_pred_update(struct ipoll_pred *p, const struct ipoll_params *prm,
		       u64 benefit_ns, u64 idle_ns, u64 poll_ns, bool halted)
{
	u64 d = idle_ns;

	if (prm->policy == IPOLL_HALTPOLL) {
		/* Upstream adjusts after the halt state, on its residency. */
		if (halted)
			haltpoll_adjust(p, prm, idle_ns - min(poll_ns, idle_ns));
		else
			p->long_run = 0;	/* a hit: a short idle */
		return;
	}
	if (halted)
		d = max(idle_ns > benefit_ns ? idle_ns - benefit_ns :
			idle_ns / 2, poll_ns);
	p->sample[p->pos] = d;
	p->pos = (p->pos + 1) % IPOLL_NSAMPLES;
	if (p->count < IPOLL_NSAMPLES)
		p->count++;
}

static u64 adaptive_window(const struct ipoll_pred *p,
			   const struct ipoll_params *prm, u64 benefit_ns)
{
	u64 s[IPOLL_NSAMPLES], sum = 0, best_w = 0;
	s64 best = 0;
	u32 n = p->count, i, j;

	/* Insertion sort: at most 16 values. */
	for (i = 0; i < n; i++) {
		u64 v = p->sample[i];

		for (j = i; j > 0 && s[j - 1] > v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	for (i = 0; i < n; i++) {
		u64 w = s[i];
		s64 gain, cost;

		if (w > prm->max_poll_ns)
			break;
		sum += w;
		/* i + 1 periods end within w, n - i - 1 poll w in vain. */
		gain = (s64)(i + 1) * (s64)benefit_ns * 100;
		cost = (s64)prm->cost_pct * (s64)(sum + (u64)(n - i - 1) * w);
		if (gain - cost > best) {
			best = gain - cost;
			best_w = w;
		}
	}
	if (!best_w && best > 0)
		best_w = 1;	/* the winning samples were zero-length */
	/* A margin of 1/8 for jitter, within the cap. */
	return min(best_w + best_w / 8, prm->max_poll_ns);
}

/**
 * ipoll_pred_window() - the poll window for the next idle period
 * @p:		the CPU's predictor
 * @prm:	parameters
 * @benefit_ns:	adaptive: what a poll hit saves (ipoll_benefit_ns())
 *
 * Return: the window in ns, 0 to halt at once; never above max_poll_ns.
 */
u64 ipoll_pred_window(const struct ipoll_pred *p,
		      const struct ipoll_params *prm, u64 benefit_ns)
{
	if (prm->policy == IPOLL_HALTPOLL)
		return min(p->window_ns, prm->max_poll_ns);
	return adaptive_window(p, prm, benefit_ns);
}

/**
 * ipoll_wake_sample() - measure one halt's wake-up latency, if a timer ended it
 * @w:			the CPU's estimator
 * @halt_start_ns:	CLOCK_MONOTONIC just before the halt
 * @halt_end_ns:	CLOCK_MONOTONIC once the CPU ran again after it
 * @next_timer_ns:	the CPU's next timer event when it went idle
 *			(dev->next_hrtimer; 0 or KTIME_MAX: none)
 *
 * What a guest can observe of its own halt's cost: for an IPI it knows
 * neither when it was sent nor when the host delivered it, but a timer
 * was due at a known time. A halt that began before that time and ended
 * after it was ended by the timer (or by something that came while the
 * timer was already due): the CPU was back halt_end - next_timer after
 * its wakeup event. That covers the host's timer, the wakeup of the vCPU
 * thread, the VM entry, the interrupt and its handler; a poll hit of an
 * interrupt would pay the handler too, so this slightly overestimates the
 * saving for timers and underestimates it for IPIs (whose sender also
 * exits). A halt that ended before the timer was due (an IPI, a device)
 * gives no sample, nor does a halt planned longer than
 * IPOLL_WAKE_PLAN_NS_MAX (the timer's and the clock's rates differ by
 * the NTP correction: tens of us over a second). Samples are clamped to
 * IPOLL_WAKE_NS_MAX. The first IPOLL_WAKE_WARMUP keep their minimum;
 * after them each is capped at IPOLL_WAKE_CAP_MULT times the estimate
 * (one preempted or softirq-laden halt moves it a little, a real rise
 * gets through in a few samples) and smoothed, new = old + (sample - old)
 * / 8.
 *
 * Return: true if the halt gave a sample.
 */
bool ipoll_wake_sample(struct ipoll_wake *w, u64 halt_start_ns,
		       u64 halt_end_ns, u64 next_timer_ns)
{
	u64 d, avg = w->ewma_ns;

	if (!next_timer_ns || next_timer_ns == (u64)KTIME_MAX ||
	    halt_start_ns >= next_timer_ns || halt_end_ns < next_timer_ns ||
	    next_timer_ns - halt_start_ns > IPOLL_WAKE_PLAN_NS_MAX)
		return false;
	d = min_t(u64, halt_end_ns - next_timer_ns, IPOLL_WAKE_NS_MAX);
	if (!w->samples)
		avg = d;
	else if (w->samples < IPOLL_WAKE_WARMUP)
		avg = min(avg, d);
	else if (d >= avg)
		avg += (min(d, max(avg * IPOLL_WAKE_CAP_MULT, (u64)NSEC_PER_USEC)) - avg) >>
			IPOLL_WAKE_EWMA_SHIFT;
	else
		avg -= (avg - d) >> IPOLL_WAKE_EWMA_SHIFT;
	/* Only this CPU writes; the statistics read it from others. */
	WRITE_ONCE(w->last_ns, d);
	WRITE_ONCE(w->ewma_ns, avg);
	WRITE_ONCE(w->samples, w->samples + 1);
	return true;
}

/**
 * ipoll_benefit_ns() - the latency a poll hit saves on this CPU
 * @w:		the CPU's wake-latency estimator
 * @prm:	parameters
 *
 * Return: the benefit_ns parameter when it is set, else the CPU's
 * smoothed halt wake-up latency, else (no timer-ended halt measured yet)
 * IPOLL_BENEFIT_NS_FALLBACK.
 */
u64 ipoll_benefit_ns(const struct ipoll_wake *w,
		     const struct ipoll_params *prm)
{
	if (prm->benefit_ns)
		return prm->benefit_ns;
	if (!READ_ONCE(w->samples))
		return IPOLL_BENEFIT_NS_FALLBACK;
	return READ_ONCE(w->ewma_ns);
}

/**
 * ipoll_steal_pct() - steal time as a percentage of wall time
 * @steal_delta_ns:	steal time accounted in the interval
 * @wall_delta_ns:	length of the interval
 *
 * Return: 0..100.
 */
u32 ipoll_steal_pct(u64 steal_delta_ns, u64 wall_delta_ns)
{
	if (!wall_delta_ns)
		return 0;
	if (steal_delta_ns >= wall_delta_ns)
		return 100;
	return (u32)div64_u64(steal_delta_ns * 100, wall_delta_ns);
}

/**
 * ipoll_backoff() - must this CPU halt without polling?
 * @prm:		parameters
 * @steal_pct:		recent steal time of this CPU, in %
 * @sibling_busy:	an SMT sibling of this CPU is running something
 *
 * Polling on a contended host burns time another vCPU is waiting for;
 * polling next to a busy SMT sibling slows the sibling down.
 *
 * Return: the reason to back off, or IPOLL_BACKOFF_NONE.
 */
enum ipoll_backoff_reason ipoll_backoff(const struct ipoll_params *prm,
					u32 steal_pct, bool sibling_busy)
{
	if (prm->steal_pct && steal_pct >= prm->steal_pct)
		return IPOLL_BACKOFF_STEAL;
	if (prm->smt_backoff && sibling_busy)
		return IPOLL_BACKOFF_SMT;
	return IPOLL_BACKOFF_NONE;
}
