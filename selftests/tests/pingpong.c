// SPDX-License-Identifier: GPL-2.0
/*
 * pingpong: a message-passing wakeup workload for idle-polling tests.
 *
 *   pingpong [-n ROUNDS] [-t THINK_US] [-a CPU] [-b CPU]
 *
 * Thread A (pinned to CPU a) writes a byte into a pipe and waits for the
 * answer; thread B (CPU b) reads it, works THINK_US (a busy loop, the
 * request's processing) and answers. Every round trip wakes a sleeping
 * task on the other CPU, which is what idle polling is for. Prints
 * key=value lines: rounds, rtt_median_ns, rtt_p90_ns, rtt_p99_ns,
 * wall_ns, cpu_ns (CPU time of both threads over the measured rounds).
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

static int ab[2], ba[2];
static long rounds = 1000, think_us, warmup = 50;
static int cpu_a, cpu_b = 1;
static __u64 server_cpu_ns;

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
	server_cpu_ns = thread_cpu_ns() - c0;
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	pthread_t th;
	__u64 *rtt, t0, c0, wall, cpu;
	long i;
	int c;

	while ((c = getopt(argc, argv, "n:t:a:b:h")) != -1) {
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
		default:
			fputs("usage: pingpong [-n ROUNDS] [-t THINK_US] [-a CPU] [-b CPU]\n",
			      stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || think_us < 0) {
		fprintf(stderr, "pingpong: bad -n or -t\n");
		return 2;
	}
	rtt = calloc(rounds, sizeof(*rtt));
	if (!rtt || pipe(ab) || pipe(ba)) {
		perror("pingpong");
		return 1;
	}
	pin_cpu(cpu_a);
	if (pthread_create(&th, NULL, server, NULL)) {
		perror("pingpong: pthread_create");
		return 1;
	}
	for (i = 0; i < warmup; i++)
		xfer(ba[0], ab[1]);
	t0 = now_ns();
	c0 = thread_cpu_ns();
	for (i = 0; i < rounds; i++) {
		__u64 t = now_ns();

		xfer(ba[0], ab[1]);
		rtt[i] = now_ns() - t;
	}
	wall = now_ns() - t0;
	cpu = thread_cpu_ns() - c0;
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
	free(rtt);
	return 0;
}
