// SPDX-License-Identifier: GPL-2.0
/*
 * timerload: a timer-expiry workload that checks every timer fires, and
 * never early.
 *
 *   timerload [-n COUNT] [-p PERIOD_US] [-t THREADS] [-w SECONDS]
 *
 * Each of THREADS threads (default 2) is pinned to CPU (index % CPUs it
 * may run on) and COUNT times (default 2000) sleeps until an absolute
 * CLOCK_MONOTONIC deadline PERIOD_US (default 500) ahead, then reads the
 * clock again. Every wakeup before its deadline counts as "early"; the
 * lateness of every wakeup (now - deadline) is recorded. This is what a
 * clockevent device (the local APIC's TSC deadline, or guest_pvtimer) must
 * get right: each programmed expiry raises one interrupt, not before it
 * is due.
 *
 * A timer that never fires leaves its thread asleep forever: a watchdog
 * (the main thread, and every worker after each of its own wakeups)
 * reports a thread that made no progress for SECONDS (default 2, may be
 * fractional) as "lost=1 thread=K stuck_at=ITER" and exits 3.
 *
 * Otherwise it prints key=value lines: expiries, expected, early, lost,
 * late_p50_ns, late_p99_ns, late_max_ns, elapsed_ns (and threads, cpus,
 * period_us), and exits 0 only if every expiry happened and none was
 * early, 1 if not, 2 on bad arguments.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#define NSEC_PER_SEC	1000000000ull
#define NSEC_PER_USEC	1000ull
/* The main thread's watchdog checks this often (at most). */
#define WATCHDOG_TICK_NS	(100 * 1000 * 1000ull)

struct worker {
	pthread_t th;
	int index;
	int cpu;
	__u64 *late;		/* lateness of each expiry, ns */
	/* Written by the worker, read by the watchdogs (__atomic). */
	long done;		/* expiries so far */
	__u64 last_ns;		/* CLOCK_MONOTONIC of its last progress */
	int finished;
	long early;
	int failed;		/* clock_nanosleep() error */
};

static long count = 2000, period_us = 500;
static int nr_threads = 2;
static __u64 watchdog_ns = 2 * NSEC_PER_SEC;
static struct worker *workers;
static int reported;

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static struct timespec to_ts(__u64 ns)
{
	struct timespec ts = {
		.tv_sec = ns / NSEC_PER_SEC,
		.tv_nsec = ns % NSEC_PER_SEC,
	};

	return ts;
}

/*
 * check_lost: a thread that has not finished and made no progress for the
 * watchdog period lost its timer. Report the first one found (once, from
 * whichever thread sees it) and end the process with status 3.
 */
static void check_lost(void)
{
	__u64 now = now_ns();
	int i;

	for (i = 0; i < nr_threads; i++) {
		struct worker *w = &workers[i];
		__u64 last;

		if (__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE))
			continue;
		last = __atomic_load_n(&w->last_ns, __ATOMIC_ACQUIRE);
		if (now < last || now - last < watchdog_ns)
			continue;
		if (__atomic_exchange_n(&reported, 1, __ATOMIC_ACQ_REL))
			pause();	/* another thread is reporting */
		printf("lost=1 thread=%d stuck_at=%ld\n", i,
		       __atomic_load_n(&w->done, __ATOMIC_ACQUIRE));
		printf("lost_cpu=%d\nlost_waited_ns=%llu\nexpected=%llu\n",
		       w->cpu, (unsigned long long)(now - last),
		       (unsigned long long)count * nr_threads);
		fflush(stdout);
		_exit(3);
	}
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	long i;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "timerload: sched_setaffinity(CPU%d): %s\n",
			w->cpu, strerror(errno));
		exit(1);
	}
	__atomic_store_n(&w->last_ns, now_ns(), __ATOMIC_RELEASE);
	for (i = 0; i < count; i++) {
		__u64 target = now_ns() + period_us * NSEC_PER_USEC, t;
		struct timespec ts = to_ts(target);
		int err;

		do {
			err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
					      &ts, NULL);
		} while (err == EINTR);
		if (err) {
			fprintf(stderr, "timerload: clock_nanosleep: %s\n",
				strerror(err));
			w->failed = err;
			break;
		}
		t = now_ns();
		if (t < target) {
			w->early++;
			w->late[i] = 0;
		} else {
			w->late[i] = t - target;
		}
		__atomic_store_n(&w->last_ns, t, __ATOMIC_RELEASE);
		__atomic_store_n(&w->done, i + 1, __ATOMIC_RELEASE);
		/* The main thread's own timer may be the lost one. */
		check_lost();
	}
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* The CPU the INDEX-th thread runs on: index modulo the CPUs allowed. */
static int pick_cpu(const cpu_set_t *allowed, int nr_allowed, int index)
{
	int k = index % nr_allowed, cpu;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, allowed) && k-- == 0)
			return cpu;
	return 0;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void print_usage(void)
{
	fputs("usage: timerload [-n COUNT] [-p PERIOD_US] [-t THREADS] [-w SECONDS]\n",
	      stderr);
}

int main(int argc, char **argv)
{
	__u64 *all, t0, elapsed, total = 0, expected;
	long early = 0, v;
	cpu_set_t allowed;
	int c, i, nr_allowed, failed = 0;
	double wd;
	char *end;

	while ((c = getopt(argc, argv, "n:p:t:w:h")) != -1) {
		switch (c) {
		case 'n':
			if (parse_long(optarg, 1, 100000000, &count))
				goto bad;
			break;
		case 'p':
			if (parse_long(optarg, 1, 60000000, &period_us))
				goto bad;
			break;
		case 't':
			if (parse_long(optarg, 1, 1024, &v))
				goto bad;
			nr_threads = v;
			break;
		case 'w':
			wd = strtod(optarg, &end);
			if (end == optarg || *end || !(wd > 0) || wd > 3600)
				goto bad;
			watchdog_ns = wd * NSEC_PER_SEC;
			if (!watchdog_ns)
				watchdog_ns = 1;
			break;
		case 'h':
			print_usage();
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	if (sched_getaffinity(0, sizeof(allowed), &allowed)) {
		perror("timerload: sched_getaffinity");
		return 1;
	}
	nr_allowed = CPU_COUNT(&allowed);
	if (nr_allowed < 1)
		nr_allowed = 1;
	expected = (__u64)count * nr_threads;
	workers = calloc(nr_threads, sizeof(*workers));
	all = calloc(expected, sizeof(*all));
	if (!workers || !all) {
		perror("timerload");
		return 1;
	}
	for (i = 0; i < nr_threads; i++) {
		workers[i].index = i;
		workers[i].cpu = pick_cpu(&allowed, nr_allowed, i);
		workers[i].late = all + (__u64)i * count;
	}

	/* No progress is due before the threads started. */
	t0 = now_ns();
	for (i = 0; i < nr_threads; i++)
		workers[i].last_ns = t0;
	for (i = 0; i < nr_threads; i++) {
		if (pthread_create(&workers[i].th, NULL, worker_fn, &workers[i])) {
			perror("timerload: pthread_create");
			return 1;
		}
	}

	/* Watchdog: until every thread is done. */
	for (;;) {
		__u64 tick = watchdog_ns / 4;
		struct timespec ts;
		int busy = 0;

		for (i = 0; i < nr_threads; i++)
			if (!__atomic_load_n(&workers[i].finished, __ATOMIC_ACQUIRE))
				busy = 1;
		if (!busy)
			break;
		check_lost();
		if (tick > WATCHDOG_TICK_NS)
			tick = WATCHDOG_TICK_NS;
		ts = to_ts(tick ? tick : 1);
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < nr_threads; i++)
		pthread_join(workers[i].th, NULL);
	elapsed = now_ns() - t0;

	/* Expiries each thread finished; lateness over all of them. */
	for (i = 0; i < nr_threads; i++) {
		struct worker *w = &workers[i];

		if (w->failed)
			failed = 1;
		early += w->early;
		if (total != (__u64)i * count)
			memmove(all + total, w->late, w->done * sizeof(*all));
		total += w->done;
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	printf("expiries=%llu\nexpected=%llu\nearly=%ld\nlost=0\n",
	       (unsigned long long)total, (unsigned long long)expected, early);
	printf("late_p50_ns=%llu\nlate_p99_ns=%llu\nlate_max_ns=%llu\n",
	       (unsigned long long)(total ? all[total / 2] : 0),
	       (unsigned long long)(total ? all[total * 99 / 100] : 0),
	       (unsigned long long)(total ? all[total - 1] : 0));
	printf("elapsed_ns=%llu\nthreads=%d\ncpus=%d\nperiod_us=%ld\n",
	       (unsigned long long)elapsed, nr_threads, nr_allowed, period_us);
	free(all);
	free(workers);
	return total == expected && !early && !failed ? 0 : 1;

bad:
	print_usage();
	return 2;
}
