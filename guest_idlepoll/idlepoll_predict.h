/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_idlepoll predictors: how long to poll before halting, from the
 * durations of recent idle periods. Pure code (no per-CPU state, no clock),
 * so KUnit drives it with synthetic traces.
 */
#ifndef _IDLEPOLL_PREDICT_H
#define _IDLEPOLL_PREDICT_H

#include <linux/types.h>

enum ipoll_policy {
	IPOLL_HALTPOLL = 0,	/* upstream haltpoll governor's grow/shrink */
	IPOLL_ADAPTIVE = 1,	/* hvkit: expected benefit over recent idles */
	IPOLL_NR_POLICIES,
};

/* Recent idle durations the adaptive policy keeps per CPU. */
#define IPOLL_NSAMPLES		16

/* Upper bounds of the parameters (validation). */
#define IPOLL_MAX_POLL_NS_MAX	(10ULL * 1000 * 1000)	/* 10 ms */
#define IPOLL_GROW_MAX		16
#define IPOLL_SHRINK_MAX	16
#define IPOLL_SHRINK_AFTER_MAX	64
#define IPOLL_BENEFIT_NS_MAX	(1000ULL * 1000)	/* 1 ms */
#define IPOLL_COST_PCT_MAX	10000
#define IPOLL_STEAL_PCT_MAX	100

struct ipoll_params {
	u32 policy;		/* enum ipoll_policy */
	u64 max_poll_ns;	/* global cap on any window */
	/* haltpoll (names and defaults of the upstream governor) */
	u32 grow;		/* guest_halt_poll_grow */
	u32 shrink;		/* guest_halt_poll_shrink (0: reset to 0) */
	u32 shrink_after;	/* long idles in a row before a shrink (1: upstream) */
	u64 grow_start_ns;	/* guest_halt_poll_grow_start */
	bool allow_shrink;	/* guest_halt_poll_allow_shrink */
	/* adaptive */
	u64 benefit_ns;		/* latency a poll hit saves over a halt (0: measured) */
	u32 cost_pct;		/* weight of one polled ns, in % of benefit ns */
	/* back-off */
	u32 steal_pct;		/* no polling above this steal rate (0: off) */
	bool smt_backoff;	/* no polling while an SMT sibling is busy */
};

/* The defaults, usable in a static initialiser (module parameters). */
#define IPOLL_PARAMS_INIT {			\
	.policy = IPOLL_HALTPOLL,		\
	.max_poll_ns = 200000,			\
	.grow = 2,				\
	.shrink = 2,				\
	.shrink_after = 4,			\
	.grow_start_ns = 50000,			\
	.allow_shrink = true,			\
	.benefit_ns = 0,			\
	.cost_pct = 100,			\
	.steal_pct = 10,			\
	.smt_backoff = false,			\
}

struct ipoll_pred {
	u64 window_ns;			/* haltpoll: current window */
	u32 long_run;			/* haltpoll: long idles in a row */
	u64 sample[IPOLL_NSAMPLES];	/* adaptive: ring of idle durations */
	u32 pos;
	u32 count;
};

/*
 * A CPU's halt wake-up latency, measured on the halts a timer ended: the
 * time from the timer's expiry (the clockevent's next event, which
 * cpuidle_enter() stores in dev->next_hrtimer) until the CPU runs again
 * after the halt. All times in ns of CLOCK_MONOTONIC.
 */
struct ipoll_wake {
	u64 ewma_ns;	/* smoothed latency; valid once samples > 0 */
	u64 last_ns;	/* the last sample, before smoothing (clamped) */
	u64 samples;	/* samples taken */
};

/* The benefit the adaptive policy assumes before a CPU has measured one. */
#define IPOLL_BENEFIT_NS_FALLBACK	20000
/* Weight of a new wake-latency sample: 1 / 2^IPOLL_WAKE_EWMA_SHIFT. */
#define IPOLL_WAKE_EWMA_SHIFT		3
/* Samples are clamped to this (a vCPU the host preempted for 10 ms). */
#define IPOLL_WAKE_NS_MAX		IPOLL_BENEFIT_NS_MAX
/* Halts planned longer than this give no sample (clock rate drift). */
#define IPOLL_WAKE_PLAN_NS_MAX		(10 * NSEC_PER_MSEC)
/* The first samples: their minimum. After: capped at this times the estimate. */
#define IPOLL_WAKE_WARMUP		4
#define IPOLL_WAKE_CAP_MULT		4

void ipoll_params_default(struct ipoll_params *prm);
int ipoll_params_validate(const struct ipoll_params *prm, const char **why);

void ipoll_pred_reset(struct ipoll_pred *p);
void ipoll_pred_update(struct ipoll_pred *p, const struct ipoll_params *prm,
		       u64 benefit_ns, u64 idle_ns, u64 poll_ns, bool halted);
u64 ipoll_pred_window(const struct ipoll_pred *p,
		      const struct ipoll_params *prm, u64 benefit_ns);

bool ipoll_wake_sample(struct ipoll_wake *w, u64 halt_start_ns,
		       u64 halt_end_ns, u64 next_timer_ns);
u64 ipoll_benefit_ns(const struct ipoll_wake *w,
		     const struct ipoll_params *prm);

/* Why a window was cut to zero by ipoll_backoff(). */
enum ipoll_backoff_reason {
	IPOLL_BACKOFF_NONE = 0,
	IPOLL_BACKOFF_STEAL,
	IPOLL_BACKOFF_SMT,
};

enum ipoll_backoff_reason ipoll_backoff(const struct ipoll_params *prm,
					u32 steal_pct, bool sibling_busy);
u32 ipoll_steal_pct(u64 steal_delta_ns, u64 wall_delta_ns);

#endif /* _IDLEPOLL_PREDICT_H */
