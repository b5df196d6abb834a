// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the guest_pvtimer slot protocol and decisions
 * (pvtimer_proto.h): sequence and torn-write handling, including a writer
 * thread racing the reader; the agent-health, direct-path and backstop
 * rules that make up the safety net; lateness buckets; header checks.
 */
#include <kunit/test.h>
#include <linux/cpumask.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "pvtimer_proto.h"

static void slot_roundtrip(struct kunit *test)
{
	struct pvtimer_slot s = {};
	u32 gseq = 0, seq, gflags;
	u64 dl;

	KUNIT_EXPECT_TRUE(test, pvt_slot_read(&s, &seq, &dl, &gflags));
	KUNIT_EXPECT_EQ(test, seq, 0U);
	pvt_slot_write(&s, &gseq, 12345, PVTIMER_G_ARMED);
	KUNIT_EXPECT_EQ(test, gseq, 2U);
	KUNIT_EXPECT_TRUE(test, pvt_slot_read(&s, &seq, &dl, &gflags));
	KUNIT_EXPECT_EQ(test, seq, 2U);
	KUNIT_EXPECT_EQ(test, dl, 12345ULL);
	KUNIT_EXPECT_EQ(test, gflags, PVTIMER_G_ARMED);
	pvt_slot_write(&s, &gseq, 0, 0);
	KUNIT_EXPECT_TRUE(test, pvt_slot_read(&s, &seq, &dl, &gflags));
	KUNIT_EXPECT_EQ(test, seq, 4U);
	KUNIT_EXPECT_EQ(test, gflags, 0U);
	/* The sequence wraps: still even, still one write per step. */
	gseq = U32_MAX - 1;
	s.seq = gseq;
	pvt_slot_write(&s, &gseq, 7, PVTIMER_G_ARMED);
	KUNIT_EXPECT_EQ(test, gseq, 0U);
	KUNIT_EXPECT_TRUE(test, pvt_slot_read(&s, &seq, &dl, &gflags));
	KUNIT_EXPECT_EQ(test, dl, 7ULL);
}

static void slot_write_in_progress(struct kunit *test)
{
	struct pvtimer_slot s = {};
	u32 seq, gflags;
	u64 dl;

	s.seq = 5;	/* odd: the guest is between its two seq stores */
	s.deadline = 99;
	KUNIT_EXPECT_FALSE(test, pvt_slot_read(&s, &seq, &dl, &gflags));
}

/* A writer on another CPU races the reader: no mixed read gets through. */
struct race {
	struct pvtimer_slot s;
	bool stop;
	u64 writes;
};

static int race_writer(void *arg)
{
	struct race *r = arg;
	u32 gseq = 0;

	while (!READ_ONCE(r->stop)) {
		/* deadline and flags both derive from the new sequence */
		u32 next = gseq + 2;

		pvt_slot_write(&r->s, &gseq, (u64)next * 1000003, next & 2 ? PVTIMER_G_ARMED : 0);
		r->writes++;
		cond_resched();
	}
	return 0;
}

/*
 * The writer and the reader on two different CPUs, until the reader has
 * seen both consistent slots and writes in progress (refused): a test
 * that asserts the race it guards against really happened.
 */
static void slot_torn_race(struct kunit *test)
{
	struct race *r = kunit_kzalloc(test, sizeof(*r), GFP_KERNEL);
	unsigned long end = jiffies + 20 * HZ;
	unsigned int me, other;
	struct task_struct *t;
	u64 good = 0, torn = 0, i;

	KUNIT_ASSERT_NOT_NULL(test, r);
	if (num_online_cpus() < 2)
		kunit_skip(test, "needs two online CPUs");
	me = get_cpu();
	other = cpumask_any_but(cpu_online_mask, me);
	put_cpu();
	KUNIT_ASSERT_LT(test, other, nr_cpu_ids);
	KUNIT_ASSERT_EQ(test, set_cpus_allowed_ptr(current, cpumask_of(me)), 0);
	t = kthread_create(race_writer, r, "pvt_kunit_writer");
	if (IS_ERR(t)) {
		set_cpus_allowed_ptr(current, cpu_possible_mask);
		KUNIT_FAIL(test, "kthread_create: %ld", PTR_ERR(t));
		return;
	}
	kthread_bind(t, other);
	wake_up_process(t);
	for (i = 0; (good < 1000 || !torn || i < 100000) && time_before(jiffies, end); i++) {
		u32 seq, gflags;
		u64 dl;

		if (!pvt_slot_read(&r->s, &seq, &dl, &gflags)) {
			torn++;
			continue;
		}
		good++;
		if (dl != (u64)seq * 1000003 || gflags != (seq & 2 ? PVTIMER_G_ARMED : 0U)) {
			KUNIT_FAIL(test, "mixed read: seq %u deadline %llu flags %#x", seq, dl,
				   gflags);
			break;
		}
		if (!(i & 1023))
			cond_resched();
	}
	WRITE_ONCE(r->stop, true);
	kthread_stop(t);
	set_cpus_allowed_ptr(current, cpu_possible_mask);
	kunit_info(test, "CPUs %u/%u: %llu consistent reads, %llu refused, %llu writes\n",
		   me, other, good, torn, r->writes);
	KUNIT_EXPECT_GE(test, good, 1000ULL);
	KUNIT_EXPECT_GT(test, torn, 0ULL);	/* the race happened */
}

static void agent_fresh(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, pvt_agent_fresh(0, 1000, 500));	/* never scanned */
	KUNIT_EXPECT_TRUE(test, pvt_agent_fresh(900, 1000, 500));
	KUNIT_EXPECT_FALSE(test, pvt_agent_fresh(400, 1000, 500));	/* stale */
	KUNIT_EXPECT_FALSE(test, pvt_agent_fresh(500, 1000, 500));	/* exactly stale */
	KUNIT_EXPECT_TRUE(test, pvt_agent_fresh(1010, 1000, 500));	/* a bit ahead */
	/* TSC wrap: still the difference that counts. */
	KUNIT_EXPECT_TRUE(test, pvt_agent_fresh(U64_MAX - 10, 5, 500));
}

static void scan_overdue(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, pvt_scan_overdue(0, 1000, 500));	/* never announced */
	KUNIT_EXPECT_FALSE(test, pvt_scan_overdue(2000, 1000, 500));	/* ahead */
	KUNIT_EXPECT_FALSE(test, pvt_scan_overdue(1000, 1000, 500));
	KUNIT_EXPECT_FALSE(test, pvt_scan_overdue(600, 1000, 500));	/* late, within slack */
	KUNIT_EXPECT_FALSE(test, pvt_scan_overdue(500, 1000, 500));	/* exactly the slack */
	KUNIT_EXPECT_TRUE(test, pvt_scan_overdue(499, 1000, 500));	/* overdue */
	/* TSC wrap: still the difference that counts. */
	KUNIT_EXPECT_TRUE(test, pvt_scan_overdue(U64_MAX - 1000, 5, 500));
	KUNIT_EXPECT_FALSE(test, pvt_scan_overdue(U64_MAX - 10, 5, 500));
}

static void direct_path(struct kunit *test)
{
	/* The agent scans again at 1000: a deadline before it is direct. */
	KUNIT_EXPECT_TRUE(test, pvt_too_close(999, 1000, 0));
	KUNIT_EXPECT_FALSE(test, pvt_too_close(1000, 1000, 0));
	KUNIT_EXPECT_FALSE(test, pvt_too_close(5000, 1000, 0));
	KUNIT_EXPECT_TRUE(test, pvt_too_close(1100, 1000, 200));	/* margin */
	KUNIT_EXPECT_FALSE(test, pvt_too_close(1200, 1000, 200));
}

/* The decisions of the two interrupt handlers (pvt_irq, pvt_lapic_handler). */
static void handler_actions(struct kunit *test)
{
	/* The agent's MSI: current and due, early, or for an old deadline. */
	KUNIT_EXPECT_EQ(test, pvt_irq_action(true, 6, 6, 1000, 1000), PVT_IRQ_FIRE);
	KUNIT_EXPECT_EQ(test, pvt_irq_action(true, 6, 6, 1001, 1000), PVT_IRQ_FIRE);
	KUNIT_EXPECT_EQ(test, pvt_irq_action(true, 6, 6, 999, 1000), PVT_IRQ_EARLY);
	KUNIT_EXPECT_EQ(test, pvt_irq_action(true, 4, 6, 1001, 1000), PVT_IRQ_STALE);
	KUNIT_EXPECT_EQ(test, pvt_irq_action(false, 6, 6, 1001, 1000), PVT_IRQ_STALE);
	/* Across the TSC's wrap: signed differences. */
	KUNIT_EXPECT_EQ(test, pvt_irq_action(true, 2, 2, 5, U64_MAX - 5), PVT_IRQ_FIRE);
	KUNIT_EXPECT_EQ(test, pvt_irq_action(true, 2, 2, U64_MAX - 5, 5), PVT_IRQ_EARLY);

	/* The local APIC: a backstop before the agent's deadline moves. */
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(true, 4, 6, 999, 1000), PVT_BS_MOVE);
	/* even if the agent already fired this one */
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(true, 6, 6, 999, 1000), PVT_BS_MOVE);
	/* due, and the agent has not fired it: the safety net does */
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(true, 4, 6, 1000, 1000), PVT_BS_FALLBACK);
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(true, 4, 6, 5, U64_MAX - 5),
			PVT_BS_FALLBACK);
	/* the agent fired it already, or a direct deadline: just the tick */
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(true, 6, 6, 1000, 1000), PVT_BS_TICK);
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(false, 4, 6, 1000, 1000), PVT_BS_TICK);
	KUNIT_EXPECT_EQ(test, pvt_backstop_action(false, 4, 6, 999, 1000), PVT_BS_TICK);
}

static void backstop_rule(struct kunit *test)
{
	const u64 bound = 1000;
	u64 bs = 0, dl, writes = 0, early = 0, worst = 0, i;

	KUNIT_EXPECT_TRUE(test, pvt_backstop_needed(0, 100, bound));	/* none armed */
	KUNIT_EXPECT_FALSE(test, pvt_backstop_needed(99, 100, bound));	/* fires first: kept */
	KUNIT_EXPECT_FALSE(test, pvt_backstop_needed(100, 100, bound));
	KUNIT_EXPECT_FALSE(test, pvt_backstop_needed(1100, 100, bound));
	KUNIT_EXPECT_TRUE(test, pvt_backstop_needed(1101, 100, bound));	/* too late */

	/*
	 * A periodic timer (period bound/10), as the guest runs it: a
	 * backstop that comes before the pending deadline is moved to
	 * deadline + bound (the lapic handler), then the rule. Every deadline
	 * stays covered within @bound (a dead agent costs at most that), and
	 * the backstop is written about once per @bound.
	 */
	for (dl = 100; dl < 100 + 100 * bound; dl += bound / 10) {
		if (bs && bs < dl) {
			/* it fires while dl is pending: moved to dl + bound */
			early++;
			bs = dl + bound;
			writes++;
		}
		if (pvt_backstop_needed(bs, dl, bound)) {
			bs = dl + bound;
			writes++;
		}
		KUNIT_ASSERT_LE(test, bs, dl + bound);
		if (bs >= dl)
			worst = max(worst, bs - dl);
	}
	KUNIT_EXPECT_LE(test, worst, bound);
	KUNIT_EXPECT_LE(test, writes, 120ULL);	/* 1000 deadlines */
	kunit_info(test, "1000 periodic deadlines: %llu backstop writes, %llu early\n",
		   writes, early);

	/* An idle CPU: far tick deadline, then a near sleep, repeatedly. */
	bs = 0;
	writes = 0;
	for (i = 0, dl = 100; i < 100; i++, dl += bound / 20) {
		if (bs && bs < dl) {
			bs = dl + bound;
			writes++;
		}
		if (pvt_backstop_needed(bs, dl + 50 * bound, bound)) {
			bs = dl + 51 * bound;
			writes++;
		}
		if (pvt_backstop_needed(bs, dl, bound)) {
			bs = dl + bound;
			writes++;
		}
		KUNIT_ASSERT_LE(test, bs, dl + bound);
	}
	kunit_info(test, "far/near pairs: %llu backstop writes for 200 deadlines\n", writes);
	KUNIT_EXPECT_LE(test, writes, 20ULL);
}

static void lateness_buckets(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(0), 0U);
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(999), 0U);
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(1000), 1U);	/* [1, 2) us */
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(1999), 1U);
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(2000), 2U);	/* [2, 4) us */
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(3999), 2U);
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(4000), 3U);
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(1000ULL * 1000), 10U);	/* 1 ms */
	KUNIT_EXPECT_EQ(test, pvt_lat_bucket(U64_MAX), PVTIMER_LAT_BUCKETS - 1);
	KUNIT_EXPECT_EQ(test, pvt_ns_to_cyc(1000, 2000000), 2000ULL);	/* 2 GHz */
	KUNIT_EXPECT_EQ(test, pvt_cyc_to_ns(2000, 2000000), 1000ULL);
}

static void header_checks(struct kunit *test)
{
	struct pvtimer_shm_header h = {
		.magic = PVTIMER_SHM_MAGIC, .abi = PVTIMER_SHM_ABI, .nr_slots = 2,
		.slot_size = PVTIMER_SLOT_SIZE, .slot_offset = PVTIMER_SLOT_OFFSET,
	};

	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, PVTIMER_SHM_MIN_SIZE), 0);
	h.magic++;
	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, PVTIMER_SHM_MIN_SIZE), -ENODEV);
	h.magic--;
	h.abi = 2;
	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, PVTIMER_SHM_MIN_SIZE), -EPROTO);
	h.abi = PVTIMER_SHM_ABI;
	h.nr_slots = 0;
	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, PVTIMER_SHM_MIN_SIZE), -EINVAL);
	h.nr_slots = PVTIMER_MAX_VCPUS + 1;
	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, 1 << 20), -EINVAL);
	h.nr_slots = PVTIMER_MAX_VCPUS;	/* every slot must fit */
	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, PVTIMER_SHM_MIN_SIZE), 0);
	KUNIT_EXPECT_EQ(test, pvt_shm_header_valid(&h, 8192), -EINVAL);
	KUNIT_EXPECT_EQ(test, sizeof(struct pvtimer_slot), (size_t)PVTIMER_SLOT_SIZE);
	KUNIT_EXPECT_EQ(test, offsetof(struct pvtimer_slot, fired_seq), (size_t)64);
	KUNIT_EXPECT_EQ(test, offsetof(struct pvtimer_slot, apic_id), (size_t)16);
	KUNIT_EXPECT_EQ(test, offsetof(struct pvtimer_slot, gid_valid), (size_t)20);
}

static struct kunit_case pvtimer_cases[] = {
	KUNIT_CASE(slot_roundtrip),
	KUNIT_CASE(slot_write_in_progress),
	KUNIT_CASE(slot_torn_race),
	KUNIT_CASE(agent_fresh),
	KUNIT_CASE(scan_overdue),
	KUNIT_CASE(direct_path),
	KUNIT_CASE(handler_actions),
	KUNIT_CASE(backstop_rule),
	KUNIT_CASE(lateness_buckets),
	KUNIT_CASE(header_checks),
	{}
};

static struct kunit_suite pvtimer_suite = {
	.name = "pvtimer_proto",
	.test_cases = pvtimer_cases,
};

kunit_test_suite(pvtimer_suite);

MODULE_DESCRIPTION("KUnit tests of the guest_pvtimer slot protocol and safety net");
MODULE_LICENSE("GPL");
