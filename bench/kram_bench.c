// SPDX-License-Identifier: GPL-2.0
/*
 * kram_bench: kram_alloc_page()+kram_free_page() against the page
 * allocator's alloc_page()+__free_page(), single-threaded and with one
 * thread per CPU at once. Loading the module runs the benchmark and prints
 * a table (kernel log, "kram_bench: |" lines) and stays loaded doing
 * nothing until rmmod (a failed init would be retried by busybox's
 * insmod, running the benchmark twice). Driven by
 * selftests/tests/kram_bench.sh; run with selftests/run.sh bench.
 *
 * With hold=N it runs no benchmark: it is a kernel owner of N pool pages
 * (its tag is below KRAM_TAG_USER), each filled with a marker, until
 * rmmod; selftests/tests/kram_owner.sh checks that userspace cannot reach
 * them through /dev/kram.
 *
 * With churn=N it runs no benchmark either: N threads take every pool page
 * they can get (up to 64 each), fill each with a marker, let others run,
 * check that each still holds only the marker and free them, again and
 * again until rmmod, which prints the counts; a page whose marker changed
 * is an error. selftests/tests/kram_race.sh races /dev/kram's pread,
 * pwrite and free against it: no user read may return the marker and no
 * user write may land in a page the kernel owner holds.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include "../kram/kram.h"

static unsigned int iters = 100000;
module_param(iters, uint, 0444);
MODULE_PARM_DESC(iters, "alloc+free pairs per thread per round");
static unsigned int rounds = 5;
module_param(rounds, uint, 0444);
MODULE_PARM_DESC(rounds, "rounds; the median is reported");
static unsigned int batch = 1;
module_param(batch, uint, 0444);
MODULE_PARM_DESC(batch, "pages held at once: allocate BATCH, then free them (1..64)");

static unsigned int hold;
module_param(hold, uint, 0444);
MODULE_PARM_DESC(hold, "no benchmark: hold this many pool pages (kernel tag) until unload (1..64)");

static unsigned int churn;
module_param(churn, uint, 0444);
MODULE_PARM_DESC(churn, "no benchmark: this many threads churn pool pages with a marker until unload (1..8)");
static unsigned int churn_batch = 64;
module_param(churn_batch, uint, 0444);
MODULE_PARM_DESC(churn_batch, "pages a churner takes per cycle at most (1..64, default 64)");

#define BENCH_TAG	0x4b424e43	/* "KBNC" */
#define MAX_BATCH	64
#define HOLD_MARK	"kram_bench: a kernel owner's page"
#define CHURN_MARK	"KRAM_BENCH_CHURN"	/* 16 bytes, repeated */
#define MAX_CHURN	8

static struct page *held[MAX_BATCH];

/* KRAM_ZERO clears each page: the same work as an init_on_alloc kernel. */
enum bench_kind { BENCH_BUDDY, BENCH_KRAM, BENCH_KRAM_ZERO, BENCH_KINDS };

struct bench_thread {
	enum bench_kind kind;
	struct completion *go;
	struct completion done;
	u64 ns;
	int err;
};

static int bench_loop(enum bench_kind kind, u64 *ns)
{
	struct page *pages[MAX_BATCH];
	unsigned int i, j;
	u64 t0 = ktime_get_ns();

	for (i = 0; i < iters; i += batch) {
		for (j = 0; j < batch; j++) {
			pages[j] = kind == BENCH_BUDDY ? alloc_page(GFP_KERNEL) :
				   kram_alloc_page(BENCH_TAG);
			if (!pages[j])
				goto fail;
			if (kind == BENCH_KRAM_ZERO)
				clear_page(page_address(pages[j]));
		}
		for (j = 0; j < batch; j++) {
			if (kind != BENCH_BUDDY)
				kram_free_page(pages[j], BENCH_TAG);
			else
				__free_page(pages[j]);
		}
		if (!(i & 1023))
			cond_resched();
	}
	*ns = ktime_get_ns() - t0;
	return 0;
fail:
	while (j--) {
		if (kind != BENCH_BUDDY)
			kram_free_page(pages[j], BENCH_TAG);
		else
			__free_page(pages[j]);
	}
	return -ENOMEM;
}

static int bench_thread_fn(void *data)
{
	struct bench_thread *t = data;

	wait_for_completion(t->go);
	t->err = bench_loop(t->kind, &t->ns);
	complete(&t->done);
	return 0;
}

/* One round on @nthreads CPUs at once: ns per alloc+free pair. */
static int bench_round(enum bench_kind kind, int nthreads, u64 *ns_per_op)
{
	DECLARE_COMPLETION_ONSTACK(go);
	struct bench_thread *t;
	struct task_struct *task;
	u64 max = 0;
	int i, ret = 0;

	t = kcalloc(nthreads, sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < nthreads; i++) {
		t[i].kind = kind;
		t[i].go = &go;
		init_completion(&t[i].done);
		task = kthread_create(bench_thread_fn, &t[i], "kram_bench/%d", i);
		if (IS_ERR(task)) {
			ret = PTR_ERR(task);
			nthreads = i;
			break;
		}
		kthread_bind(task, i % num_online_cpus());
		wake_up_process(task);
	}
	complete_all(&go);
	for (i = 0; i < nthreads; i++) {
		wait_for_completion(&t[i].done);
		ret = ret ?: t[i].err;
		max = max_t(u64, max, t[i].ns);
	}
	*ns_per_op = div_u64(max, iters);
	kfree(t);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static int bench_median(enum bench_kind kind, int nthreads, u64 *median)
{
	u64 v[16];
	unsigned int r;
	int ret;

	for (r = 0; r < rounds; r++) {
		ret = bench_round(kind, nthreads, &v[r]);
		if (ret)
			return ret;
	}
	sort(v, rounds, sizeof(v[0]), cmp_u64, NULL);
	*median = v[rounds / 2];
	return 0;
}

static void hold_release(void)
{
	unsigned int i;

	for (i = 0; i < hold; i++) {
		if (held[i] && kram_free_page(held[i], BENCH_TAG))
			pr_err("held page %u: free refused\n", i);
		held[i] = NULL;
	}
}

/* hold=N: take N pool pages as a kernel owner, mark them, keep them. */
static int hold_pages(void)
{
	unsigned int i;

	for (i = 0; i < hold; i++) {
		held[i] = kram_alloc_page(BENCH_TAG);
		if (!held[i]) {
			pr_err("hold: pool page %u of %u: none left\n", i, hold);
			hold_release();
			return -ENOMEM;
		}
		memset(page_address(held[i]), 0, PAGE_SIZE);
		strscpy(page_address(held[i]), HOLD_MARK, PAGE_SIZE);
	}
	pr_info("holding %u pool pages with tag %#x until unload\n", hold, BENCH_TAG);
	return 0;
}

static struct task_struct *churners[MAX_CHURN];
static atomic64_t churn_cycles, churn_pages, churn_bad, churn_free_err;

static void churn_fill(u8 *p)
{
	unsigned int off;

	for (off = 0; off < PAGE_SIZE; off += sizeof(CHURN_MARK) - 1)
		memcpy(p + off, CHURN_MARK, sizeof(CHURN_MARK) - 1);
}

static bool churn_intact(const u8 *p)
{
	unsigned int off;

	for (off = 0; off < PAGE_SIZE; off += sizeof(CHURN_MARK) - 1)
		if (memcmp(p + off, CHURN_MARK, sizeof(CHURN_MARK) - 1))
			return false;
	return true;
}

/*
 * One churner: take what the pool has (a page a user just freed is taken
 * at once when the pool is nearly full), mark it, yield, check, free.
 */
static int churn_fn(void *data)
{
	struct page *pages[MAX_BATCH];
	unsigned int n, i;

	while (!kthread_should_stop()) {
		for (n = 0; n < churn_batch; n++) {
			pages[n] = kram_alloc_page(BENCH_TAG);
			if (!pages[n])
				break;
			churn_fill(page_address(pages[n]));
		}
		/* The window in which /dev/kram's users run against us. */
		if (n)
			cond_resched();
		else
			usleep_range(50, 100);
		for (i = 0; i < n; i++) {
			if (!churn_intact(page_address(pages[i])))
				atomic64_inc(&churn_bad);
			if (kram_free_page(pages[i], BENCH_TAG))
				atomic64_inc(&churn_free_err);
		}
		atomic64_add(n, &churn_pages);
		atomic64_inc(&churn_cycles);
		cond_resched();
	}
	return 0;
}

static void churn_stop(void)
{
	unsigned int i;

	for (i = 0; i < churn; i++) {
		if (churners[i])
			kthread_stop(churners[i]);
		churners[i] = NULL;
	}
}

static int churn_start(void)
{
	unsigned int i;

	for (i = 0; i < churn; i++) {
		churners[i] = kthread_run(churn_fn, NULL, "kram_churn/%u", i);
		if (IS_ERR(churners[i])) {
			int ret = PTR_ERR(churners[i]);

			churners[i] = NULL;
			pr_err("churn: thread %u: %d\n", i, ret);
			churn_stop();
			return ret;
		}
	}
	pr_info("churn: %u threads churn pool pages with tag %#x until unload\n",
		churn, BENCH_TAG);
	return 0;
}

static int __init kram_bench_init(void)
{
	struct kram_usage before, after;
	int threads[] = { 1, num_online_cpus() }, i, ret;

	if (hold > MAX_BATCH || churn > MAX_CHURN || (hold && churn) ||
	    !churn_batch || churn_batch > MAX_BATCH) {
		pr_err("hold: 0..%d, churn: 0..%d, not both; churn_batch: 1..%d\n",
		       MAX_BATCH, MAX_CHURN, MAX_BATCH);
		return -EINVAL;
	}
	if ((hold || churn) && !kram_attached()) {
		pr_err("kram has no region attached\n");
		return -ENODEV;
	}
	if (hold)
		return hold_pages();
	if (churn)
		return churn_start();
	if (!iters || !rounds || rounds > 16 || !batch || batch > MAX_BATCH) {
		pr_err("iters > 0, 1 <= rounds <= 16, 1 <= batch <= %d\n", MAX_BATCH);
		return -EINVAL;
	}
	iters = roundup(iters, batch);
	if (kram_get_usage(&before)) {
		pr_err("kram has no region attached\n");
		return -ENODEV;
	}
	pr_info("| %u alloc+free pairs per thread, batch %u, median of %u rounds; init_on_alloc %s (alloc_page zeroes pages)\n",
		iters, batch, rounds,
		want_init_on_alloc(GFP_KERNEL) ? "on" : "off: alloc_page does not zero");
	pr_info("| threads | alloc_page+__free_page | kram_alloc+kram_free (ratio) | kram + clear_page (ratio) |\n");
	for (i = 0; i < ARRAY_SIZE(threads); i++) {
		u64 ns[BENCH_KINDS];
		int k;

		if (i && threads[i] == threads[0])
			break;
		for (k = 0; k < BENCH_KINDS; k++) {
			ret = bench_median(k, threads[i], &ns[k]);
			if (ret) {
				pr_err("round failed: %d\n", ret);
				return ret;
			}
		}
		pr_info("| %d | %llu ns/op | %llu ns/op (%llu.%02llux) | %llu ns/op (%llu.%02llux) |\n",
			threads[i], ns[BENCH_BUDDY],
			ns[BENCH_KRAM], div64_u64(ns[BENCH_KRAM], ns[BENCH_BUDDY]),
			div64_u64(ns[BENCH_KRAM] * 100, ns[BENCH_BUDDY]) % 100,
			ns[BENCH_KRAM_ZERO],
			div64_u64(ns[BENCH_KRAM_ZERO], ns[BENCH_BUDDY]),
			div64_u64(ns[BENCH_KRAM_ZERO] * 100, ns[BENCH_BUDDY]) % 100);
	}
	kram_get_usage(&after);
	/* Every page the benchmark took went back: counts are conserved. */
	pr_info("| pool pages before %llu, after %llu\n", before.dynamic_pages,
		after.dynamic_pages);
	if (before.dynamic_pages != after.dynamic_pages) {
		pr_err("pool pages not conserved\n");
		return -EIO;
	}
	return 0;
}

static void __exit kram_bench_exit(void)
{
	hold_release();
	if (!churn)
		return;
	churn_stop();
	pr_info("churn: %lld cycles, %lld pages, %lld changed by others, %lld frees refused\n",
		atomic64_read(&churn_cycles), atomic64_read(&churn_pages),
		atomic64_read(&churn_bad), atomic64_read(&churn_free_err));
	if (atomic64_read(&churn_bad) || atomic64_read(&churn_free_err))
		pr_err("churn: a kernel owner's page was changed or could not be freed\n");
}

module_init(kram_bench_init);
module_exit(kram_bench_exit);

MODULE_DESCRIPTION("hvkit benchmark: kram_alloc_page vs alloc_page");
MODULE_LICENSE("GPL");
