// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl idlepoll: guest_idlepoll statistics (IDLEPOLL_IOC_STATS on
 * /dev/guest_idlepoll) and its run-time parameters (module parameters).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/hvkit.h>

#include "hvkitctl.h"

#define IDLEPOLL_MAX_CPUS	1024

static const char *const idlepoll_params[] = {
	"policy", "max_poll_ns", "benefit_ns", "cost_pct", "steal_pct",
	"smt_backoff", "grow", "shrink", "shrink_after", "grow_start_ns", "allow_shrink",
	"nr_states", "halt_latency_us", "host_poll",
};

void idlepoll_help(FILE *out)
{
	fputs("Usage: hvkitctl idlepoll SUBCOMMAND [ARGS]\n"
	      "\n"
	      "guest_idlepoll is a cpuidle driver for guests: an idle vCPU polls for a\n"
	      "window predicted from its recent idle periods before it halts, so a wakeup\n"
	      "that comes soon costs no HLT exit, no host wakeup and no IPI.\n"
	      "\n"
	      "Subcommands:\n"
	      "  status [--reset]     parameters and per-CPU statistics; --reset zeroes\n"
	      "                       the counters after printing them (root)\n"
	      "  get [PARAM]          print one parameter, or all of them\n"
	      "  set PARAM VALUE      change a parameter at run time (root); the module\n"
	      "                       checks the value and logs why it refuses one\n"
	      "  help                 this text\n"
	      "\n"
	      "Statistics (per CPU): ENTRIES idle periods in the IDLEPOLL state, POLLS\n"
	      "periods that polled, HITS polls ended by a wakeup (no halt), MISSES polls\n"
	      "that ran out (the halt follows at the idle loop's next entry; with two\n"
	      "states the kernel counts the missed poll as POLL's, state0), POLL_MS time\n"
	      "spent polling, HALTS periods that halted, HALT_MS time halted, BACKOFF\n"
	      "periods with no polling because of steal time or a busy SMT sibling,\n"
	      "WINDOW the last window (ns), STEAL the CPU's steal time (%), WAKE_NS the\n"
	      "CPU's halt wake-up latency (timer expiry to the CPU running again,\n"
	      "smoothed over the halts a timer ended; 0: none yet), WAKES those halts,\n"
	      "BENEFIT what the adaptive policy takes a poll hit to save now (benefit_ns\n"
	      "if set, else WAKE_NS), UNHALTED misses whose period ended (a wakeup, a\n"
	      "task ran) before their halt. The kernel's own per-state counters are in\n"
	      "/sys/devices/system/cpu/cpuN/cpuidle/stateK/{name,usage,time}.\n"
	      "\n"
	      "Parameters (/sys/module/guest_idlepoll/parameters/):\n"
	      "  policy          haltpoll (default, the upstream rule) or adaptive\n"
	      "  max_poll_ns     cap on any window (0: never poll)\n"
	      "  benefit_ns      adaptive: latency one poll hit saves over a halt;\n"
	      "                  0 (default): each CPU's measured halt wake-up latency\n"
	      "  cost_pct        adaptive: weight of a polled ns, % of a latency ns\n"
	      "  steal_pct       no polling while steal time is at least this %\n"
	      "  smt_backoff     no polling while an SMT sibling is busy\n"
	      "  grow, shrink, grow_start_ns, allow_shrink   haltpoll's rule\n"
	      "  shrink_after    haltpoll: shrink at the Nth long halt in a row (default\n"
	      "                  4); 1 = upstream haltpoll, after every long halt\n"
	      "  nr_states, halt_latency_us, host_poll        load time only;\n"
	      "                  nr_states=1 is the latency mode (IDLEPOLL alone, no\n"
	      "                  governor: lower latency, more polling, no PM QoS)\n"
	      "\n"
	      "Exit status: 0 on success, 1 on error (the reason is printed), 2 on bad usage.\n",
	      out);
}

static int param_path(char *buf, size_t len, const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(idlepoll_params); i++) {
		if (!strcmp(name, idlepoll_params[i])) {
			snprintf(buf, len, "%s/module/guest_idlepoll/parameters/%s",
				 sysfs_root, name);
			return 0;
		}
	}
	fprintf(stderr, "hvkitctl idlepoll: unknown parameter '%s' (see hvkitctl idlepoll help)\n",
		name);
	return -EINVAL;
}

static int module_loaded(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/module/guest_idlepoll", sysfs_root);
	if (access(path, F_OK)) {
		fputs("hvkitctl idlepoll: guest_idlepoll is not loaded (modprobe guest_idlepoll)\n",
		      stderr);
		return 0;
	}
	return 1;
}

static int cmd_get(int argc, char **argv)
{
	char path[256], val[128];
	size_t i;
	int ret;

	if (argc > 2) {
		fprintf(stderr, "Usage: hvkitctl idlepoll get [PARAM]\n");
		return 2;
	}
	if (!module_loaded())
		return 1;
	for (i = 0; i < ARRAY_SIZE(idlepoll_params); i++) {
		const char *p = idlepoll_params[i];

		if (argc == 2 && strcmp(argv[1], p))
			continue;
		param_path(path, sizeof(path), p);
		ret = read_line(path, val, sizeof(val));
		if (ret) {
			fprintf(stderr, "hvkitctl idlepoll: %s: %s\n", path, strerror(-ret));
			return 1;
		}
		if (argc == 2) {
			printf("%s\n", val);
			return 0;
		}
		printf("%-16s %s\n", p, val);
	}
	if (argc == 2)
		return param_path(path, sizeof(path), argv[1]) ? 2 : 1;
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	char path[256];
	int ret = 0;

	if (argc != 3) {
		fprintf(stderr, "Usage: hvkitctl idlepoll set PARAM VALUE\n");
		return 2;
	}
	if (param_path(path, sizeof(path), argv[1]))
		return 2;
	if (!module_loaded())
		return 1;
	ret = write_line(path, argv[2]);
	if (ret == -EACCES || ret == -ENOENT) {
		fprintf(stderr, "hvkitctl idlepoll: %s: %s%s\n", path, strerror(-ret),
			ret == -EACCES ? " (load-time parameter, or not root)" : "");
		return 1;
	}
	if (ret) {
		fprintf(stderr, "hvkitctl idlepoll: %s=%s refused: %s (the kernel log says why)\n",
			argv[1], argv[2], strerror(-ret));
		return 1;
	}
	return 0;
}

static const char *const policy_names[] = { "haltpoll", "adaptive" };
static const char row_fmt[] =
	"%-4u %-5s %10llu %10llu %10llu %10llu %10.3f %10llu %10.3f %8llu %9llu %4u%%";

static int cmd_status(int argc, char **argv)
{
	struct idlepoll_cpu_stats *cpus;
	struct idlepoll_stats a;
	char path[256];
	unsigned int i;
	int fd, reset = 0;

	if (argc == 2 && !strcmp(argv[1], "--reset")) {
		reset = 1;
	} else if (argc > 1) {
		fprintf(stderr, "Usage: hvkitctl idlepoll status [--reset]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/guest_idlepoll", dev_root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hvkitctl idlepoll: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (is guest_idlepoll loaded?)" : "");
		return 1;
	}
	cpus = calloc(IDLEPOLL_MAX_CPUS, sizeof(*cpus));
	if (!cpus) {
		close(fd);
		fprintf(stderr, "hvkitctl idlepoll: out of memory\n");
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.flags = reset ? IDLEPOLL_STATS_RESET : 0;
	a.nr_cpus = IDLEPOLL_MAX_CPUS;
	a.cpu_size = sizeof(*cpus);
	a.cpus = (uintptr_t)cpus;
	if (ioctl(fd, IDLEPOLL_IOC_STATS, &a) < 0) {
		fprintf(stderr, "hvkitctl idlepoll: IDLEPOLL_IOC_STATS: %s\n", strerror(errno));
		free(cpus);
		close(fd);
		return 1;
	}
	close(fd);
	printf("policy %s, %u cpuidle states (%s), max_poll_ns %llu, %u possible CPUs\n",
	       a.policy < ARRAY_SIZE(policy_names) ? policy_names[a.policy] : "?",
	       a.nr_states,
	       a.nr_states == 2 ? "POLL + IDLEPOLL" : "IDLEPOLL: latency mode",
	       (unsigned long long)a.max_poll_ns, a.nr_possible);
	printf("%-4s %-5s %10s %10s %10s %10s %10s %10s %10s %8s %9s %5s %9s %8s %9s %9s\n",
	       "CPU", "STATE", "ENTRIES", "POLLS", "HITS", "MISSES", "POLL_MS",
	       "HALTS", "HALT_MS", "BACKOFF", "WINDOW", "STEAL", "WAKE_NS",
	       "WAKES", "BENEFIT", "UNHALTED");
	for (i = 0; i < a.nr_cpus; i++) {
		const struct idlepoll_cpu_stats *s = &cpus[i];

		printf(row_fmt,
		       s->cpu, !(s->flags & IDLEPOLL_CPU_ONLINE) ? "off" :
		       (s->flags & IDLEPOLL_CPU_REGISTERED) ? "on" : "unreg",
		       (unsigned long long)s->entries, (unsigned long long)s->polls,
		       (unsigned long long)s->poll_hits,
		       (unsigned long long)s->poll_misses, s->poll_ns / 1e6,
		       (unsigned long long)s->halts, s->halt_ns / 1e6,
		       (unsigned long long)(s->backoff_steal + s->backoff_smt),
		       (unsigned long long)s->window_ns, s->steal_pct);
		printf(" %9llu %8llu %9llu %9llu\n", (unsigned long long)s->wake_ns,
		       (unsigned long long)s->wake_samples,
		       (unsigned long long)s->benefit_ns,
		       (unsigned long long)s->miss_unhalted);
	}
	free(cpus);
	return 0;
}

int cmd_idlepoll(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		idlepoll_help(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		idlepoll_help(stdout);
		return 0;
	}
	if (!strcmp(sub, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(sub, "get"))
		return cmd_get(argc - 1, argv + 1);
	if (!strcmp(sub, "set"))
		return cmd_set(argc - 1, argv + 1);
	fprintf(stderr, "hvkitctl idlepoll: unknown subcommand '%s'\n"
		"Usage: hvkitctl idlepoll {status|get|set|help} ...\n", sub);
	return 2;
}
