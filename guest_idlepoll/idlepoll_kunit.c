// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the guest_idlepoll predictors (idlepoll_predict.c) on
 * synthetic idle-duration traces: a simulated CPU polls up to the
 * predicted window, and a period longer than the window halts and comes
 * back HALT_COST_NS (or the simulation's own cost) late, as a real halt
 * exit does. Each period's wakeup event is a timer due at its end, so the
 * simulated CPU measures its halt wake-up latency as a real one does.
 */
#include <kunit/test.h>
#include <linux/module.h>
/* The code under test is compiled into this module. */
#include "idlepoll_predict.c"

#define US		1000ULL
#define HALT_COST_NS	(20 * US)

struct sim {
	u64 hits, halts, poll_ns, periods;
	u64 last_window, max_window;
};

/*
 * Run @n periods of @trace (repeated) through @p, halts costing @cost ns,
 * measured by @wk (NULL: a fresh estimator); return the statistics. The
 * clock starts at 1 s.
 */
static struct sim simulate_cost(struct ipoll_pred *p, struct ipoll_wake *wk,
				const struct ipoll_params *prm,
				const u64 *trace, int len, int n, u64 cost)
{
	struct ipoll_wake fresh = {};
	struct sim s = {};
	u64 now = NSEC_PER_SEC;
	int i;

	if (!wk)
		wk = &fresh;
	for (i = 0; i < n; i++) {
		u64 d = trace[i % len];
		u64 w = ipoll_pred_window(p, prm, ipoll_benefit_ns(wk, prm));

		s.periods++;
		s.last_window = w;
		s.max_window = max(s.max_window, w);
		if (w && d <= w) {
			s.hits++;
			s.poll_ns += d;
			ipoll_pred_update(p, prm, ipoll_benefit_ns(wk, prm),
					  d, d, false);
			now += d;
		} else {
			s.halts++;
			s.poll_ns += w;
			/* Halt at now + w, timer due at now + d. */
			ipoll_wake_sample(wk, now + w, now + d + cost, now + d);
			ipoll_pred_update(p, prm, ipoll_benefit_ns(wk, prm),
					  d + cost, w, true);
			now += d + cost;
		}
	}
	return s;
}

static struct sim simulate(struct ipoll_pred *p, const struct ipoll_params *prm,
			   const u64 *trace, int len, int n)
{
	return simulate_cost(p, NULL, prm, trace, len, n, HALT_COST_NS);
}

static void params_for(struct ipoll_params *prm, u32 policy)
{
	ipoll_params_default(prm);
	prm->policy = policy;
}

static const u64 short_steady[] = { 5 * US };
static const u64 long_steady[] = { 1000 * US };
static const u64 bimodal[] = { 5 * US, 150 * US };

static void test_short_steady(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct sim s;
	u32 pol;

	for (pol = 0; pol < IPOLL_NR_POLICIES; pol++) {
		params_for(&prm, pol);
		ipoll_pred_reset(&p);
		s = simulate(&p, &prm, short_steady, 1, 200);
		/* Both learn to poll through 5 us idles: almost all hits. */
		KUNIT_EXPECT_GE_MSG(test, s.hits, 195ULL, "policy %u", pol);
		KUNIT_EXPECT_GE(test, s.last_window, 5 * US);
	}
	/* adaptive polls just past the idle time, haltpoll grows to 50 us. */
	params_for(&prm, IPOLL_ADAPTIVE);
	ipoll_pred_reset(&p);
	s = simulate(&p, &prm, short_steady, 1, 200);
	KUNIT_EXPECT_LE(test, s.last_window, 5 * US + 5 * US / 8);
	params_for(&prm, IPOLL_HALTPOLL);
	ipoll_pred_reset(&p);
	s = simulate(&p, &prm, short_steady, 1, 200);
	KUNIT_EXPECT_EQ(test, s.last_window, 50 * US);
}

static void test_long_steady(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct sim s;
	u32 pol;

	for (pol = 0; pol < IPOLL_NR_POLICIES; pol++) {
		params_for(&prm, pol);
		ipoll_pred_reset(&p);
		s = simulate(&p, &prm, long_steady, 1, 100);
		/* 1 ms idles: never worth polling, nothing polled at all. */
		KUNIT_EXPECT_EQ_MSG(test, s.hits, 0ULL, "policy %u", pol);
		KUNIT_EXPECT_EQ_MSG(test, s.poll_ns, 0ULL, "policy %u", pol);
		KUNIT_EXPECT_EQ(test, s.last_window, 0ULL);
	}
}

static void test_bimodal(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct sim a, h;

	/* Half 5 us, half 150 us: poll for the short mode only. */
	params_for(&prm, IPOLL_ADAPTIVE);
	ipoll_pred_reset(&p);
	a = simulate(&p, &prm, bimodal, 2, 400);
	KUNIT_EXPECT_GE(test, a.hits, 190ULL);
	KUNIT_EXPECT_LT(test, a.last_window, 10 * US);
	/*
	 * haltpoll grows its window far past the short mode (the halts after
	 * a missed poll are long) and polls in vain through every long
	 * period: the same hits for over four times the polling.
	 */
	params_for(&prm, IPOLL_HALTPOLL);
	ipoll_pred_reset(&p);
	h = simulate(&p, &prm, bimodal, 2, 400);
	KUNIT_EXPECT_GE(test, h.last_window, 50 * US);
	KUNIT_EXPECT_LE(test, h.hits, a.hits + 5);
	KUNIT_EXPECT_LT(test, a.poll_ns * 4, h.poll_ns);
}

static void test_shifting(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct sim s;

	/* The benefit the simulated CPU measures: its halt cost. */
	params_for(&prm, IPOLL_ADAPTIVE);
	ipoll_pred_reset(&p);
	s = simulate(&p, &prm, short_steady, 1, 50);
	KUNIT_EXPECT_GT(test, s.last_window, 0ULL);
	/* The load goes away: within IPOLL_NSAMPLES periods, no polling. */
	s = simulate(&p, &prm, long_steady, 1, IPOLL_NSAMPLES);
	KUNIT_EXPECT_EQ(test, ipoll_pred_window(&p, &prm, HALT_COST_NS), 0ULL);
	/* And comes back: polling resumes within 8 periods. */
	s = simulate(&p, &prm, short_steady, 1, 8);
	KUNIT_EXPECT_GT(test, ipoll_pred_window(&p, &prm, HALT_COST_NS), 0ULL);
	s = simulate(&p, &prm, short_steady, 1, 50);
	KUNIT_EXPECT_EQ(test, s.hits, 50ULL);
}

static void test_bounds(struct kunit *test)
{
	static const u64 trace[] = { 1 * US, 90 * US, 180 * US, 199 * US,
				     250 * US, 3 * US, 500 * US, 60 * US };
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct sim s;
	u32 pol;

	for (pol = 0; pol < IPOLL_NR_POLICIES; pol++) {
		params_for(&prm, pol);
		prm.max_poll_ns = 100 * US;
		prm.grow_start_ns = 20 * US;
		prm.benefit_ns = 1000 * US;	/* polling always pays */
		ipoll_pred_reset(&p);
		s = simulate(&p, &prm, trace, ARRAY_SIZE(trace), 500);
		KUNIT_EXPECT_LE_MSG(test, s.max_window, 100 * US, "policy %u", pol);
		KUNIT_EXPECT_GT(test, s.max_window, 0ULL);
		/* max_poll_ns = 0 turns polling off. */
		prm.max_poll_ns = 0;
		s = simulate(&p, &prm, trace, ARRAY_SIZE(trace), 100);
		KUNIT_EXPECT_EQ(test, s.max_window, 0ULL);
	}
}

static void test_haltpoll_rule(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;

	/* shrink_after = 1: the upstream rule, which shrinks at once. */
	params_for(&prm, IPOLL_HALTPOLL);
	prm.shrink_after = 1;
	ipoll_pred_reset(&p);
	ipoll_pred_update(&p, &prm, 0, 10 * US, 0, true);	/* grow from 0 */
	KUNIT_EXPECT_EQ(test, p.window_ns, 50 * US);
	ipoll_pred_update(&p, &prm, 0, 30 * US, 30 * US, false);	/* hit: no change */
	KUNIT_EXPECT_EQ(test, p.window_ns, 50 * US);
	ipoll_pred_update(&p, &prm, 0, 50 * US + 60 * US, 50 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);	/* halt 60 us > 50 */
	ipoll_pred_update(&p, &prm, 0, 100 * US + 150 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 200 * US);	/* x2, capped */
	ipoll_pred_update(&p, &prm, 0, 200 * US + 300 * US, 200 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);	/* shrink / 2 */
	prm.allow_shrink = false;
	ipoll_pred_update(&p, &prm, 0, 900 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);
	prm.allow_shrink = true;
	prm.shrink = 0;
	ipoll_pred_update(&p, &prm, 0, 900 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 0ULL);
}

static void test_halt_correction(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;

	params_for(&prm, IPOLL_ADAPTIVE);
	ipoll_pred_reset(&p);
	/*
	 * A benefit (halt wake-up latency) of 20 us. Halted after polling
	 * 4 us, back after 50 us: the event was at 30.
	 */
	ipoll_pred_update(&p, &prm, 20 * US, 50 * US, 4 * US, true);
	KUNIT_EXPECT_EQ(test, p.sample[0], 30 * US);
	/* Half the idle time when it is shorter than benefit_ns ... */
	ipoll_pred_update(&p, &prm, 20 * US, 16 * US, 2 * US, true);
	KUNIT_EXPECT_EQ(test, p.sample[1], 8 * US);
	/* ... and never before the end of the poll window. */
	ipoll_pred_update(&p, &prm, 20 * US, 30 * US, 18 * US, true);
	KUNIT_EXPECT_EQ(test, p.sample[2], 18 * US);
	ipoll_pred_update(&p, &prm, 20 * US, 3 * US, 3 * US, false);
	KUNIT_EXPECT_EQ(test, p.sample[3], 3 * US);
	KUNIT_EXPECT_EQ(test, p.count, 4U);
}

static void test_params(struct kunit *test)
{
	struct ipoll_params prm;
	const char *why = NULL;

	ipoll_params_default(&prm);
	KUNIT_EXPECT_EQ(test, ipoll_params_validate(&prm, &why), 0);
	KUNIT_EXPECT_NULL(test, why);
#define BAD(field, value) do {						\
		ipoll_params_default(&prm);				\
		prm.field = value;					\
		KUNIT_EXPECT_EQ_MSG(test, ipoll_params_validate(&prm, &why), \
				    -EINVAL, #field "=" #value);	\
		KUNIT_EXPECT_NOT_NULL(test, why);			\
	} while (0)
	BAD(policy, IPOLL_NR_POLICIES);
	BAD(max_poll_ns, IPOLL_MAX_POLL_NS_MAX + 1);
	BAD(grow, 0);
	BAD(grow, IPOLL_GROW_MAX + 1);
	BAD(shrink, IPOLL_SHRINK_MAX + 1);
	BAD(shrink_after, 0);
	BAD(shrink_after, IPOLL_SHRINK_AFTER_MAX + 1);
	BAD(grow_start_ns, IPOLL_MAX_POLL_NS_MAX + 1);
	BAD(benefit_ns, IPOLL_BENEFIT_NS_MAX + 1);
	BAD(cost_pct, 0);
	BAD(cost_pct, IPOLL_COST_PCT_MAX + 1);
	BAD(steal_pct, 101);
#undef BAD
	/* Edges that are valid. */
	ipoll_params_default(&prm);
	prm.max_poll_ns = 0;	/* grow_start_ns above it: capped */
	prm.shrink = 0;
	prm.steal_pct = 0;
	prm.shrink_after = IPOLL_SHRINK_AFTER_MAX;
	prm.benefit_ns = IPOLL_BENEFIT_NS_MAX;
	KUNIT_EXPECT_EQ(test, ipoll_params_validate(&prm, NULL), 0);
	prm.shrink_after = 1;	/* upstream */
	prm.benefit_ns = 0;	/* measured */
	KUNIT_EXPECT_EQ(test, ipoll_params_validate(&prm, NULL), 0);
}

static void test_backoff(struct kunit *test)
{
	struct ipoll_params prm;

	ipoll_params_default(&prm);
	KUNIT_EXPECT_EQ(test, ipoll_backoff(&prm, 9, true), IPOLL_BACKOFF_NONE);
	KUNIT_EXPECT_EQ(test, ipoll_backoff(&prm, 10, false), IPOLL_BACKOFF_STEAL);
	prm.smt_backoff = true;
	KUNIT_EXPECT_EQ(test, ipoll_backoff(&prm, 0, true), IPOLL_BACKOFF_SMT);
	KUNIT_EXPECT_EQ(test, ipoll_backoff(&prm, 0, false), IPOLL_BACKOFF_NONE);
	prm.steal_pct = 0;	/* off */
	KUNIT_EXPECT_EQ(test, ipoll_backoff(&prm, 100, false), IPOLL_BACKOFF_NONE);

	KUNIT_EXPECT_EQ(test, ipoll_steal_pct(5, 0), 0U);
	KUNIT_EXPECT_EQ(test, ipoll_steal_pct(25, 100), 25U);
	KUNIT_EXPECT_EQ(test, ipoll_steal_pct(300, 100), 100U);
	KUNIT_EXPECT_EQ(test, ipoll_steal_pct(0, 100), 0U);
}

/* 90 us idles: haltpoll's window grows 0 -> 50 -> 100 us and then hits. */
static const u64 short90[] = { 90 * US };

/* Bursts of 16 request/response idles of 90 us, a 5 ms gap after each. */
static const u64 gapped[] = { 90 * US, 90 * US, 90 * US, 90 * US,
			      90 * US, 90 * US, 90 * US, 90 * US,
			      90 * US, 90 * US, 90 * US, 90 * US,
			      90 * US, 90 * US, 90 * US, 90 * US,
			      5000 * US };

/* The same with the gap split by the tick into three long idles. */
static const u64 gapped_tick[] = { 90 * US, 90 * US, 90 * US, 90 * US,
				   90 * US, 90 * US, 90 * US, 90 * US,
				   90 * US, 90 * US, 90 * US, 90 * US,
				   90 * US, 90 * US, 90 * US, 90 * US,
				   2000 * US, 4000 * US, 4000 * US };

static void test_haltpoll_one_long_idle(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct sim s;

	params_for(&prm, IPOLL_HALTPOLL);
	KUNIT_ASSERT_EQ(test, prm.shrink_after, 4U);
	ipoll_pred_reset(&p);
	simulate(&p, &prm, short90, 1, 20);
	KUNIT_ASSERT_EQ(test, p.window_ns, 100 * US);
	/* One halt far longer than max_poll_ns: the window stays. */
	ipoll_pred_update(&p, &prm, 0, 100 * US + 5000 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);
	KUNIT_EXPECT_EQ(test, p.long_run, 1U);
	/* A poll hit is a short idle: it ends the run. */
	ipoll_pred_update(&p, &prm, 0, 90 * US, 90 * US, false);
	KUNIT_EXPECT_EQ(test, p.long_run, 0U);

	/* 20 bursts with a gap after each: only the gaps halt. */
	s = simulate(&p, &prm, gapped, ARRAY_SIZE(gapped), 20 * ARRAY_SIZE(gapped));
	KUNIT_EXPECT_EQ(test, s.halts, 20ULL);
	KUNIT_EXPECT_EQ(test, s.hits, 20 * 16ULL);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);
	/* Also when the tick splits each gap into three long idles. */
	s = simulate(&p, &prm, gapped_tick, ARRAY_SIZE(gapped_tick),
		     20 * ARRAY_SIZE(gapped_tick));
	KUNIT_EXPECT_EQ(test, s.halts, 20 * 3ULL);
	KUNIT_EXPECT_EQ(test, s.hits, 20 * 16ULL);

	/*
	 * The upstream rule halves the window at every gap, and the hits
	 * after it do not grow it back: the next burst's first idle misses,
	 * halts, and only that halt regrows the window.
	 */
	prm.shrink_after = 1;
	ipoll_pred_reset(&p);
	simulate(&p, &prm, short90, 1, 20);
	KUNIT_ASSERT_EQ(test, p.window_ns, 100 * US);
	ipoll_pred_update(&p, &prm, 0, 100 * US + 5000 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 50 * US);
	ipoll_pred_update(&p, &prm, 0, 90 * US, 90 * US, false);
	s = simulate(&p, &prm, gapped, ARRAY_SIZE(gapped), 20 * ARRAY_SIZE(gapped));
	KUNIT_EXPECT_GE(test, s.halts, 20 * 2ULL);
	KUNIT_EXPECT_LE(test, s.hits, 20 * 15ULL);
}

static void test_haltpoll_sustained_idle(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	u64 prev;
	int i, zero_at = -1;

	params_for(&prm, IPOLL_HALTPOLL);
	ipoll_pred_reset(&p);
	simulate(&p, &prm, short90, 1, 20);
	KUNIT_ASSERT_EQ(test, p.window_ns, 100 * US);
	/* Three long idles, a short halt, three more: never four in a row. */
	for (i = 0; i < 3; i++)
		ipoll_pred_update(&p, &prm, 0, 2000 * US, 100 * US, true);
	ipoll_pred_update(&p, &prm, 0, 100 * US + 60 * US, 100 * US, true);
	for (i = 0; i < 3; i++)
		ipoll_pred_update(&p, &prm, 0, 2000 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);

	/*
	 * A CPU that stays idle: the 4th long idle in a row halves the
	 * window, and so does every one after it, down to no polling
	 * (100 us needs 17 halvings).
	 */
	ipoll_pred_reset(&p);
	simulate(&p, &prm, short90, 1, 20);
	for (i = 0; i < 64; i++) {
		prev = p.window_ns;
		ipoll_pred_update(&p, &prm, 0, 10000 * US, prev, true);
		if (i < 3)
			KUNIT_EXPECT_EQ_MSG(test, p.window_ns, prev, "long idle %d", i + 1);
		else if (prev)
			KUNIT_EXPECT_EQ_MSG(test, p.window_ns, prev / 2, "long idle %d", i + 1);
		if (!p.window_ns && zero_at < 0)
			zero_at = i + 1;
	}
	KUNIT_EXPECT_EQ(test, zero_at, 3 + 17);
	KUNIT_EXPECT_EQ(test, ipoll_pred_window(&p, &prm, 0), 0ULL);

	/* The same in the simulation: a steady 1 ms load stops polling. */
	ipoll_pred_reset(&p);
	simulate(&p, &prm, short90, 1, 20);
	simulate(&p, &prm, long_steady, 1, 30);
	KUNIT_EXPECT_EQ(test, ipoll_pred_window(&p, &prm, 0), 0ULL);

	/* allow_shrink=N: never, however long the run. */
	prm.allow_shrink = false;
	ipoll_pred_reset(&p);
	simulate(&p, &prm, short90, 1, 20);
	for (i = 0; i < 64; i++)
		ipoll_pred_update(&p, &prm, 0, 10000 * US, 100 * US, true);
	KUNIT_EXPECT_EQ(test, p.window_ns, 100 * US);
}

static void test_wake_estimator(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_wake w = {};
	const u64 t = NSEC_PER_SEC;
	int i;

	ipoll_params_default(&prm);
	KUNIT_EXPECT_EQ(test, prm.benefit_ns, 0ULL);	/* measured */
	/* Halts no timer ended give no sample. */
	KUNIT_EXPECT_FALSE(test, ipoll_wake_sample(&w, t, t + 50 * US, 0));
	KUNIT_EXPECT_FALSE(test, ipoll_wake_sample(&w, t, t + 50 * US, (u64)KTIME_MAX));
	/* Back before the timer was due: an IPI or a device woke it. */
	KUNIT_EXPECT_FALSE(test, ipoll_wake_sample(&w, t, t + 50 * US, t + 60 * US));
	/* The timer was due before the halt began. */
	KUNIT_EXPECT_FALSE(test, ipoll_wake_sample(&w, t, t + 50 * US, t));
	/* A halt planned for 20 ms: the clocks' rates differ too much. */
	KUNIT_EXPECT_FALSE(test, ipoll_wake_sample(&w, t, t + 20040 * US, t + 20000 * US));
	KUNIT_EXPECT_EQ(test, w.samples, 0ULL);
	/* Nothing measured: the fallback, unless the parameter is set. */
	KUNIT_EXPECT_EQ(test, ipoll_benefit_ns(&w, &prm), (u64)IPOLL_BENEFIT_NS_FALLBACK);
	prm.benefit_ns = 7 * US;
	KUNIT_EXPECT_EQ(test, ipoll_benefit_ns(&w, &prm), 7 * US);
	prm.benefit_ns = 0;

	/* Timer due 100 us into the halt, CPU back 40 us later. */
	KUNIT_EXPECT_TRUE(test, ipoll_wake_sample(&w, t, t + 140 * US, t + 100 * US));
	KUNIT_EXPECT_EQ(test, w.samples, 1ULL);
	KUNIT_EXPECT_EQ(test, w.ewma_ns, 40 * US);	/* the first as it is */
	KUNIT_EXPECT_EQ(test, ipoll_benefit_ns(&w, &prm), 40 * US);
	prm.benefit_ns = 7 * US;	/* the parameter overrides */
	KUNIT_EXPECT_EQ(test, ipoll_benefit_ns(&w, &prm), 7 * US);
	prm.benefit_ns = 0;

	/* One vCPU preemption of 10 ms among the first: clamped, the minimum kept. */
	KUNIT_EXPECT_TRUE(test, ipoll_wake_sample(&w, t, t + 10100 * US, t + 100 * US));
	KUNIT_EXPECT_EQ(test, w.last_ns, (u64)IPOLL_WAKE_NS_MAX);
	KUNIT_EXPECT_EQ(test, w.ewma_ns, 40 * US);
	/* The latency is 10 us: the warm-up's minimum, then it stays. */
	for (i = 0; i < 64; i++)
		ipoll_wake_sample(&w, t, t + 110 * US, t + 100 * US);
	KUNIT_EXPECT_EQ(test, w.samples, 66ULL);
	KUNIT_EXPECT_EQ(test, w.ewma_ns, 10 * US);
	/* A 1 ms outlier after the warm-up: capped at 4x, weighted 1/8. */
	KUNIT_EXPECT_TRUE(test, ipoll_wake_sample(&w, t, t + 1100 * US, t + 100 * US));
	KUNIT_EXPECT_EQ(test, w.ewma_ns, 10 * US + (40 * US - 10 * US) / 8);
	/* One outlier every 8 samples keeps it within 2x of the latency. */
	for (i = 0; i < 64; i++)
		ipoll_wake_sample(&w, t, t + (i % 8 ? 110 : 1100) * US, t + 100 * US);
	KUNIT_EXPECT_LE(test, w.ewma_ns, 20 * US);
	/* A real rise to 100 us gets through within 16 samples. */
	for (i = 0; i < 16; i++)
		ipoll_wake_sample(&w, t, t + 200 * US, t + 100 * US);
	KUNIT_EXPECT_GE(test, w.ewma_ns, 80 * US);
	KUNIT_EXPECT_LE(test, w.ewma_ns, 100 * US);
	/* Back exactly at the expiry: a zero sample counts. */
	KUNIT_EXPECT_TRUE(test, ipoll_wake_sample(&w, t, t + 100 * US, t + 100 * US));
	KUNIT_EXPECT_EQ(test, w.last_ns, 0ULL);
}

static const u64 steady60[] = { 60 * US };

static void test_adaptive_measured_benefit(struct kunit *test)
{
	struct ipoll_params prm;
	struct ipoll_pred p;
	struct ipoll_wake wk;
	struct sim s;

	params_for(&prm, IPOLL_ADAPTIVE);
	/*
	 * Halts cost 200 us: once the first timer-ended halt has measured
	 * that, polling through 60 us idles pays (200 us saved for 60 us
	 * polled) and the CPU polls every one of them.
	 */
	ipoll_pred_reset(&p);
	memset(&wk, 0, sizeof(wk));
	s = simulate_cost(&p, &wk, &prm, steady60, 1, 100, 200 * US);
	KUNIT_EXPECT_EQ(test, wk.ewma_ns, 200 * US);
	KUNIT_EXPECT_GE(test, s.hits, 95ULL);
	KUNIT_EXPECT_GE(test, s.last_window, 60 * US);
	/* The old constant (20 us) on the same CPU: never worth polling. */
	prm.benefit_ns = 20 * US;
	ipoll_pred_reset(&p);
	memset(&wk, 0, sizeof(wk));
	s = simulate_cost(&p, &wk, &prm, steady60, 1, 100, 200 * US);
	KUNIT_EXPECT_EQ(test, s.hits, 0ULL);
	/* Halts that cost only 10 us: not worth polling 60 us either. */
	prm.benefit_ns = 0;
	ipoll_pred_reset(&p);
	memset(&wk, 0, sizeof(wk));
	s = simulate_cost(&p, &wk, &prm, steady60, 1, 100, 10 * US);
	KUNIT_EXPECT_EQ(test, wk.ewma_ns, 10 * US);
	KUNIT_EXPECT_EQ(test, wk.samples, 100ULL);
	KUNIT_EXPECT_EQ(test, s.hits, 0ULL);
	KUNIT_EXPECT_EQ(test, s.last_window, 0ULL);
}

static struct kunit_case idlepoll_predict_cases[] = {
	KUNIT_CASE(test_short_steady),
	KUNIT_CASE(test_long_steady),
	KUNIT_CASE(test_bimodal),
	KUNIT_CASE(test_shifting),
	KUNIT_CASE(test_bounds),
	KUNIT_CASE(test_haltpoll_rule),
	KUNIT_CASE(test_haltpoll_one_long_idle),
	KUNIT_CASE(test_haltpoll_sustained_idle),
	KUNIT_CASE(test_wake_estimator),
	KUNIT_CASE(test_adaptive_measured_benefit),
	KUNIT_CASE(test_halt_correction),
	KUNIT_CASE(test_params),
	KUNIT_CASE(test_backoff),
	{}
};

static struct kunit_suite idlepoll_predict_suite = {
	.name = "idlepoll_predict",
	.test_cases = idlepoll_predict_cases,
};

kunit_test_suite(idlepoll_predict_suite);

MODULE_DESCRIPTION("KUnit tests of the guest_idlepoll predictors");
MODULE_LICENSE("GPL");
