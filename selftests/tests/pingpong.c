// SPDX-License-Identifier: GPL-2.0
/*
 * pingpong: a message-passing wakeup workload for idle-polling tests.
 *
 *   pingpong [-n ROUNDS] [-t THINK_US] [-a CPU] [-b CPU]
 *            [-B BURST -g MIN_US:MAX_US [-s SEED]] [-m NAME [-w WAIT_US]]
 *
 * Thread A (pinned to CPU a) writes a byte into a pipe and waits for the
 * answer; thread B (CPU b) reads it, works THINK_US (a busy loop, the
 * request's processing) and answers. Every round trip wakes a sleeping
 * task on the other CPU, which is what idle polling is for.
 *
 * With -B and -g the load has idle gaps (fio-like request/response
 * bursts): BURST round trips back to back, then thread A sleeps a gap
 * drawn uniformly from MIN_US..MAX_US by a seeded generator (-s, default
 * 1), so every run with the same options sees the same gaps. The gaps are
 * idle time on both CPUs that an idle poller must decide about.
 *
 * With -m the program brackets exactly its measured loop for an L2 bench
 * (tests/idlepoll_bench.sh): after the warm-up it writes
 * "HVKIT: mark NAME:s ." to /dev/ttyS1 (L1 snapshots its KVM statistics
 * of this VM when it reads it) and sleeps WAIT_US (default 500000) for
 * L1 to take the snapshot, then executes 20 CPUIDs (each a VM exit L1
 * counts by reason), runs the loop, writes "NAME:e", sleeps WAIT_US and
 * executes 200 CPUIDs. A window whose exit histogram holds 20..219
 * CPUID exits was therefore snapshotted inside both waits; the waits
 * themselves are in the window and are measured by a run with -n 0 (the
 * same marks and waits, no loop), which the bench subtracts.
 *
 * Prints key=value lines: rounds, rtt_median_ns, rtt_p90_ns, rtt_p99_ns,
 * wall_ns, cpu_ns (CPU time of both threads over the measured rounds),
 * idle_ns (2 x wall - cpu: the CPUs' idle time over the loop, all of
 * which idle=poll polls), polled_ns (time the CPUs spent polling in
 * cpuidle over the loop: every state named POLL, plus guest_idlepoll's
 * in-state polling when /dev/guest_idlepoll exists), and with
 * guest_idlepoll loaded its per-loop counters (ip_*). The counters are
 * read by thread A right before and right after the loop, so every
 * configuration's polling is measured over the same interval; with -m
 * only (the benchmark), because /dev/guest_idlepoll open holds a module
 * reference: without -m pingpong opens nothing of guest_idlepoll's, and
 * the module can be unloaded under it (idlepoll_reload).
 */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/hvkit.h>

#define MAX_CPUS	64
#define CPUSYS		"/sys/devices/system/cpu"

static int ab[2], ba[2];
static long rounds = 1000, think_us, warmup = 50, burst;
static long gap_min_us, gap_max_us;
static unsigned long long seed = 1;
static int cpu_a, cpu_b = 1;
static __u64 server_cpu_ns;

/* Counter files read around the loop: the POLL states' "time" (us). */
static int poll_fd[MAX_CPUS], nr_poll_fd;
static int ipoll_fd = -1;

struct counters {
	__u64 polled_ns;
	struct idlepoll_cpu_stats ip[MAX_CPUS];
	__u32 ip_cpus;
};

/* CPU time of the calling thread (precise: the scheduler's runtime). */
static __u64 thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/* xorshift64*: a small generator that gives every run the same gaps. */
static __u64 next_rand(void)
{
	seed ^= seed >> 12;
	seed ^= seed << 25;
	seed ^= seed >> 27;
	return seed * 2685821657736338717ull;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "pingpong: sched_setaffinity(CPU%d): %s\n",
			cpu, strerror(errno));
		exit(1);
	}
}

static void xfer(int rfd, int wfd)
{
	char c = 0;

	if (wfd >= 0 && write(wfd, &c, 1) != 1) {
		perror("pingpong: write");
		exit(1);
	}
	if (rfd >= 0 && read(rfd, &c, 1) != 1) {
		perror("pingpong: read");
		exit(1);
	}
}

/* Open the "time" file of every CPU's cpuidle state named POLL. */
static void open_counters(void)
{
	char path[128], name[32];
	int cpu, st;

	for (cpu = 0; cpu < MAX_CPUS; cpu++) {
		for (st = 0; st < 10; st++) {
			FILE *f;

			snprintf(path, sizeof(path), CPUSYS "/cpu%d/cpuidle/state%d/name",
				 cpu, st);
			f = fopen(path, "r");
			if (!f)
				break;
			if (!fgets(name, sizeof(name), f))
				name[0] = 0;
			fclose(f);
			if (strcmp(name, "POLL\n"))
				continue;
			snprintf(path, sizeof(path), CPUSYS "/cpu%d/cpuidle/state%d/time",
				 cpu, st);
			poll_fd[nr_poll_fd] = open(path, O_RDONLY);
			if (poll_fd[nr_poll_fd] >= 0)
				nr_poll_fd++;
		}
	}
	ipoll_fd = open("/dev/guest_idlepoll", O_RDONLY);
}

static void read_counters(struct counters *c)
{
	struct idlepoll_stats s;
	char buf[32];
	__u32 i;
	int k;

	c->polled_ns = 0;
	for (k = 0; k < nr_poll_fd; k++) {
		ssize_t len = pread(poll_fd[k], buf, sizeof(buf) - 1, 0);

		if (len <= 0) {
			perror("pingpong: POLL state time");
			exit(1);
		}
		buf[len] = 0;
		c->polled_ns += strtoull(buf, NULL, 10) * 1000;
	}
	c->ip_cpus = 0;
	if (ipoll_fd < 0)
		return;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.nr_cpus = MAX_CPUS;
	s.cpu_size = sizeof(c->ip[0]);
	s.cpus = (__u64)(unsigned long)c->ip;
	if (ioctl(ipoll_fd, IDLEPOLL_IOC_STATS, &s)) {
		perror("pingpong: IDLEPOLL_IOC_STATS");
		exit(1);
	}
	c->ip_cpus = s.nr_cpus;
	/* Misses' polls are POLL's time with two states (counted above). */
	for (i = 0; i < s.nr_cpus; i++)
		c->polled_ns += c->ip[i].poll_ns -
				(s.nr_states == 2 ? c->ip[i].miss_poll_ns : 0);
}

/* guest_idlepoll's counters over the loop, summed over CPUs. */
static void print_ipoll(const struct counters *a, const struct counters *b)
{
	__u64 ent = 0, polls = 0, hits = 0, miss = 0, halts = 0, bst = 0, bsmt = 0;
	__u32 i;

	if (!a->ip_cpus || a->ip_cpus != b->ip_cpus)
		return;
	for (i = 0; i < a->ip_cpus; i++) {
		ent += b->ip[i].entries - a->ip[i].entries;
		polls += b->ip[i].polls - a->ip[i].polls;
		hits += b->ip[i].poll_hits - a->ip[i].poll_hits;
		miss += b->ip[i].poll_misses - a->ip[i].poll_misses;
		halts += b->ip[i].halts - a->ip[i].halts;
		bst += b->ip[i].backoff_steal - a->ip[i].backoff_steal;
		bsmt += b->ip[i].backoff_smt - a->ip[i].backoff_smt;
	}
	printf("ip_entries=%llu\nip_polls=%llu\nip_hits=%llu\nip_misses=%llu\n",
	       (unsigned long long)ent, (unsigned long long)polls,
	       (unsigned long long)hits, (unsigned long long)miss);
	printf("ip_halts=%llu\nip_backoff_steal=%llu\nip_backoff_smt=%llu\n",
	       (unsigned long long)halts, (unsigned long long)bst,
	       (unsigned long long)bsmt);
	/* The window and steal each CPU had at the end of the loop. */
	for (i = 0; i < b->ip_cpus; i++)
		printf("ip_cpu%u_window_ns=%llu\nip_cpu%u_steal_pct=%u\n",
		       b->ip[i].cpu, (unsigned long long)b->ip[i].window_ns,
		       b->ip[i].cpu, b->ip[i].steal_pct);
}

/* Mark NAME for L1 (see the head comment), then wait for its snapshot. */
static void emit_mark(const char *name, const char *end, long wait_us)
{
	char line[160];
	int fd, len;

	len = snprintf(line, sizeof(line), "HVKIT: mark %s:%s .\n", name, end);
	fd = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
	if (fd < 0 || write(fd, line, len) != len) {
		perror("pingpong: mark on /dev/ttyS1");
		exit(1);
	}
	close(fd);
	sleep_us(wait_us);
}

/* N CPUID exits: a count L1's exit histogram shows in the window. */
static void cpuid_exits(int n)
{
	unsigned int a, b, c, d;

	while (n--) {
		__cpuid(0, a, b, c, d);
		asm volatile("" : : "r"(a), "r"(b), "r"(c), "r"(d));
	}
}

static void *server(void *arg)
{
	long i;

	(void)arg;
	__u64 c0 = 0;

	pin_cpu(cpu_b);
	for (i = 0; i < rounds + warmup; i++) {
		__u64 end;

		if (i == warmup)
			c0 = thread_cpu_ns();
		xfer(ab[0], -1);
		end = now_ns() + (__u64)think_us * 1000;
		while (think_us && now_ns() < end)
			;
		xfer(-1, ba[1]);
	}
	if (!rounds)
		c0 = thread_cpu_ns();
	server_cpu_ns = thread_cpu_ns() - c0;
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static void print_help(void)
{
	fputs("usage: pingpong [-n ROUNDS] [-t THINK_US] [-a CPU] [-b CPU]\n"
	      "                [-B BURST -g MIN_US:MAX_US [-s SEED]] [-m NAME [-w WAIT_US]]\n",
	      stderr);
}

int main(int argc, char **argv)
{
	static struct counters k0, k1;
	const char *mark_name = NULL;
	long wait_us = 500000, gaps = 0;
	__u64 *rtt, t0, c0, wall, cpu, gap_ns = 0;
	pthread_t th;
	long i;
	int c;

	while ((c = getopt(argc, argv, "n:t:a:b:B:g:s:m:w:h")) != -1) {
		switch (c) {
		case 'n':
			rounds = atol(optarg);
			break;
		case 't':
			think_us = atol(optarg);
			break;
		case 'a':
			cpu_a = atoi(optarg);
			break;
		case 'b':
			cpu_b = atoi(optarg);
			break;
		case 'B':
			burst = atol(optarg);
			break;
		case 'g':
			if (sscanf(optarg, "%ld:%ld", &gap_min_us, &gap_max_us) != 2)
				gap_min_us = -1;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			mark_name = optarg;
			break;
		case 'w':
			wait_us = atol(optarg);
			break;
		default:
			print_help();
			return c == 'h' ? 0 : 2;
		}
	}
	if (rounds < 0 || (rounds == 0 && !mark_name) || think_us < 0 ||
	    burst < 0 || gap_min_us < 0 || gap_max_us < gap_min_us ||
	    (burst && !gap_max_us) || !seed || wait_us < 0) {
		fprintf(stderr, "pingpong: bad -n, -t, -B, -g, -s or -w\n");
		print_help();
		return 2;
	}
	rtt = calloc(rounds ? rounds : 1, sizeof(*rtt));
	if (!rtt || pipe(ab) || pipe(ba)) {
		perror("pingpong");
		return 1;
	}
	/*
	 * With -m only (the benchmark): an open /dev/guest_idlepoll holds a
	 * module reference, and idlepoll_reload unloads guest_idlepoll under
	 * a pingpong that runs for minutes.
	 */
	if (mark_name)
		open_counters();
	pin_cpu(cpu_a);
	if (pthread_create(&th, NULL, server, NULL)) {
		perror("pingpong: pthread_create");
		return 1;
	}
	for (i = 0; i < warmup; i++)
		xfer(ba[0], ab[1]);
	if (mark_name) {
		emit_mark(mark_name, "s", wait_us);
		cpuid_exits(20);
	}
	read_counters(&k0);
	t0 = now_ns();
	c0 = thread_cpu_ns();
	for (i = 0; i < rounds; i++) {
		__u64 t;

		if (burst && i && i % burst == 0) {
			long us = gap_min_us + (long)(next_rand() %
				(__u64)(gap_max_us - gap_min_us + 1));

			t = now_ns();
			sleep_us(us);
			gap_ns += now_ns() - t;
			gaps++;
		}
		t = now_ns();
		xfer(ba[0], ab[1]);
		rtt[i] = now_ns() - t;
	}
	wall = now_ns() - t0;
	cpu = thread_cpu_ns() - c0;
	read_counters(&k1);
	if (mark_name) {
		emit_mark(mark_name, "e", wait_us);
		cpuid_exits(200);
	}
	pthread_join(th, NULL);
	cpu += server_cpu_ns;
	qsort(rtt, rounds, sizeof(*rtt), cmp_u64);
	printf("rounds=%ld\nthink_us=%ld\n", rounds, think_us);
	printf("rtt_median_ns=%llu\nrtt_p90_ns=%llu\nrtt_p99_ns=%llu\n",
	       (unsigned long long)rtt[rounds / 2],
	       (unsigned long long)rtt[rounds * 9 / 10],
	       (unsigned long long)rtt[rounds * 99 / 100]);
	printf("wall_ns=%llu\ncpu_ns=%llu\n", (unsigned long long)wall,
	       (unsigned long long)cpu);
	printf("idle_ns=%llu\n", (unsigned long long)(2 * wall > cpu ? 2 * wall - cpu : 0));
	if (mark_name)
		printf("polled_ns=%llu\n", (unsigned long long)(k1.polled_ns - k0.polled_ns));
	if (burst)
		printf("bursts=%ld\ngap_ns=%llu\n", gaps + 1, (unsigned long long)gap_ns);
	print_ipoll(&k0, &k1);
	free(rtt);
	return 0;
}
