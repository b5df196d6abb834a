// SPDX-License-Identifier: GPL-2.0
/*
 * IDLEPOLL_IOC_STATS on /dev/guest_idlepoll: the answer is consistent,
 * counters only grow, reset works for root and is refused to others, and
 * every malformed argument gets the errno include/uapi/linux/hvkit.h
 * promises.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include "kselftest_harness.h"

#define MAXCPU 64

static struct idlepoll_cpu_stats cpus[MAXCPU];

static int stats(int fd, struct idlepoll_stats *a, __u32 flags, __u32 n)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = flags;
	a->nr_cpus = n;
	a->cpu_size = sizeof(cpus[0]);
	a->cpus = (uintptr_t)cpus;
	return ioctl(fd, IDLEPOLL_IOC_STATS, a) ? errno : 0;
}

FIXTURE(ip) {
	int fd;
};

FIXTURE_SETUP(ip)
{
	self->fd = open("/dev/guest_idlepoll", O_RDONLY);
}

FIXTURE_TEARDOWN(ip)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(ip, answer)
{
	struct idlepoll_stats a;
	__u64 entries = 0;
	int i;

	/* The groups that run this load guest_idlepoll. */
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/guest_idlepoll missing (module not loaded)");
	}
	ASSERT_EQ(0, stats(self->fd, &a, 0, 0));
	EXPECT_EQ(0, a.nr_cpus);
	ASSERT_GE(a.nr_possible, 1);
	EXPECT_LE(a.policy, IDLEPOLL_POLICY_ADAPTIVE);
	EXPECT_TRUE(a.nr_states == 1 || a.nr_states == 2);
	ASSERT_EQ(0, stats(self->fd, &a, 0, MAXCPU));
	EXPECT_EQ(a.nr_cpus, a.nr_possible < MAXCPU ? a.nr_possible : MAXCPU);
	for (i = 0; i < (int)a.nr_cpus; i++) {
		const struct idlepoll_cpu_stats *s = &cpus[i];

		EXPECT_EQ(i, s->cpu);
		/*
		 * The CPU may be updating its counters while they are read,
		 * one at a time: allow one period in flight.
		 */
		EXPECT_LE(s->poll_hits + s->poll_misses, s->polls + 1);
		EXPECT_LE(s->polls, s->poll_hits + s->poll_misses + 1);
		EXPECT_LE(s->poll_misses, s->halts + s->miss_unhalted + 1);
		EXPECT_LE(s->miss_poll_ns, s->poll_ns);
		/* And a miss's halt after a reset (its entry before). */
		EXPECT_LE(s->halts + s->poll_hits, s->entries + 2);
		EXPECT_LE(s->steal_pct, 100);
		if (s->flags & IDLEPOLL_CPU_ONLINE)
			EXPECT_TRUE(s->flags & IDLEPOLL_CPU_REGISTERED);
		entries += s->entries;
	}
	usleep(200000);
	ASSERT_EQ(0, stats(self->fd, &a, 0, MAXCPU));
	for (i = 0; i < (int)a.nr_cpus; i++)
		entries -= cpus[i].entries;
	EXPECT_GT(0, (__s64)entries) TH_LOG("idle entries did not grow");
	/* A short array: only that many CPUs. */
	ASSERT_EQ(0, stats(self->fd, &a, 0, 1));
	EXPECT_EQ(1, a.nr_cpus);
}

/* The benefit_ns module parameter, or -1. */
static long long param_benefit_ns(void)
{
	FILE *f = fopen("/sys/module/guest_idlepoll/parameters/benefit_ns", "r");
	long long v = -1;

	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

TEST_F(ip, wake_latency)
{
	struct idlepoll_stats a;
	long long prm = param_benefit_ns();
	__u64 samples = 0;
	int i;

	/* The groups that run this load guest_idlepoll. */
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/guest_idlepoll missing (module not loaded)");
	}
	ASSERT_LE(0, prm);
	/* Idle CPUs halt, and some halts end at a timer (this usleep's). */
	usleep(300000);
	ASSERT_EQ(0, stats(self->fd, &a, 0, MAXCPU));
	for (i = 0; i < (int)a.nr_cpus; i++) {
		const struct idlepoll_cpu_stats *s = &cpus[i];

		/* Samples are clamped to 1 ms, so is their average. */
		EXPECT_LE(s->wake_ns, 1000000);
		EXPECT_LE(s->wake_last_ns, 1000000);
		/*
		 * The benefit the adaptive policy uses: the parameter, else
		 * the estimate, else 20000 before the first sample (a zero
		 * estimate is possible but needs a wakeup to the nanosecond).
		 */
		EXPECT_TRUE(prm ? s->benefit_ns == (__u64)prm :
			    s->wake_ns ? s->benefit_ns == s->wake_ns :
			    s->benefit_ns == 20000 || s->benefit_ns == 0)
			TH_LOG("cpu %u: benefit_ns %llu, wake_ns %llu, parameter %lld",
			       s->cpu, (unsigned long long)s->benefit_ns,
			       (unsigned long long)s->wake_ns, prm);
		samples += s->wake_samples;
	}
	EXPECT_LT(0, samples) TH_LOG("no timer-ended halt measured on any CPU");
}

TEST_F(ip, cpu_size_versions)
{
	const __u32 v0 = offsetof(struct idlepoll_cpu_stats, wake_ns);
	unsigned char buf[4 * sizeof(struct idlepoll_cpu_stats)];
	struct idlepoll_stats a;
	__u32 cpu1;
	size_t i;

	/* The groups that run this load guest_idlepoll. */
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/guest_idlepoll missing (module not loaded)");
	}
	ASSERT_EQ(96, v0);
	/* A caller built before the wake fields: 96-byte entries, no more. */
	memset(buf, 0xaa, sizeof(buf));
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.nr_cpus = 2;
	a.cpu_size = v0;
	a.cpus = (uintptr_t)buf;
	ASSERT_EQ(0, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	ASSERT_GE(a.nr_possible, 2) TH_LOG("the group boots two CPUs");
	ASSERT_EQ(2, a.nr_cpus);
	memcpy(&cpu1, buf + v0, sizeof(cpu1));
	EXPECT_EQ(1, cpu1);
	for (i = 2 * v0; i < sizeof(buf); i++)
		if (buf[i] != 0xaa)
			break;
	EXPECT_EQ(sizeof(buf), i) TH_LOG("byte %zu past two 96-byte entries written", i);
	/* A caller with a longer entry: the tail is zeroed. */
	memset(buf, 0xaa, sizeof(buf));
	a.nr_cpus = 1;
	a.cpu_size = sizeof(struct idlepoll_cpu_stats) + 16;
	ASSERT_EQ(0, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	for (i = sizeof(struct idlepoll_cpu_stats); i < a.cpu_size; i++)
		EXPECT_EQ(0, buf[i]);
	EXPECT_EQ(0xaa, buf[a.cpu_size]);
}

TEST_F(ip, reset)
{
	struct idlepoll_stats a;
	__u64 before = 0, after = 0;
	int i;

	/* The groups that run this load guest_idlepoll. */
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/guest_idlepoll missing (module not loaded)");
	}
	usleep(100000);
	ASSERT_EQ(0, stats(self->fd, &a, 0, MAXCPU));
	for (i = 0; i < (int)a.nr_cpus; i++)
		before += cpus[i].entries;
	ASSERT_EQ(0, stats(self->fd, &a, IDLEPOLL_STATS_RESET, MAXCPU));
	ASSERT_EQ(0, stats(self->fd, &a, 0, MAXCPU));
	for (i = 0; i < (int)a.nr_cpus; i++)
		after += cpus[i].entries;
	EXPECT_LT(after, before) TH_LOG("reset: %llu -> %llu entries",
					(unsigned long long)before,
					(unsigned long long)after);
}

TEST_F(ip, bad_arguments)
{
	struct idlepoll_stats a;
	void *unmapped;

	/* The groups that run this load guest_idlepoll. */
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/guest_idlepoll missing (module not loaded)");
	}
	/* Unknown flag, non-zero padding. */
	EXPECT_EQ(EINVAL, stats(self->fd, &a, 1U << 7, 1));
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.__pad0 = 1;
	EXPECT_EQ(-1, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	EXPECT_EQ(EINVAL, errno);
	/* Sizes: struct too small, too large, per-CPU size too small. */
	a.__pad0 = 0;
	a.size = 8;
	EXPECT_EQ(-1, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	EXPECT_EQ(EINVAL, errno);
	a.size = HVKIT_ARG_MAX_SIZE + 1;
	EXPECT_EQ(-1, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	EXPECT_EQ(EINVAL, errno);
	a.size = sizeof(a);
	a.nr_cpus = 1;
	a.cpu_size = 16;
	a.cpus = (uintptr_t)cpus;
	EXPECT_EQ(-1, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	EXPECT_EQ(EINVAL, errno);
	/* Bad pointers: the argument and the array. */
	unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, unmapped);
	EXPECT_EQ(-1, ioctl(self->fd, IDLEPOLL_IOC_STATS, unmapped));
	EXPECT_EQ(EFAULT, errno);
	a.cpu_size = sizeof(cpus[0]);
	a.cpus = (uintptr_t)unmapped;
	EXPECT_EQ(-1, ioctl(self->fd, IDLEPOLL_IOC_STATS, &a));
	EXPECT_EQ(EFAULT, errno);
	munmap(unmapped, 4096);
	/* Unknown command in our block. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(HVKIT_IOC_MAGIC, 0x7f, struct idlepoll_stats), &a));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(ip, unprivileged)
{
	int status;
	pid_t pid;

	/* The groups that run this load guest_idlepoll. */
	ASSERT_LE(0, self->fd) {
		TH_LOG("/dev/guest_idlepoll missing (module not loaded)");
	}
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct idlepoll_stats a;
		int fd;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(101);
		fd = open("/dev/guest_idlepoll", O_RDONLY);
		if (fd < 0)
			_exit(102);
		if (stats(fd, &a, 0, MAXCPU))	/* reading is for everyone */
			_exit(103);
		if (stats(fd, &a, IDLEPOLL_STATS_RESET, MAXCPU) != EPERM)
			_exit(104);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
