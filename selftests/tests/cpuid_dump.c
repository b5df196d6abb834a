// SPDX-License-Identifier: GPL-2.0
/*
 * cpuid_dump CPU LEAF[.SUB]...: run CPUID on CPU (pinned) for each leaf and
 * print "cpuN LEAF SUB EAX EBX ECX EDX" in hex. Used inside L2 guests to see
 * what each vCPU reports (hybrid_l2.sh).
 */
#include <cpuid.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	unsigned int a, b, c, d, leaf, sub;
	cpu_set_t set;
	char *dot;
	int cpu, i;

	if (argc < 3) {
		fprintf(stderr, "usage: cpuid_dump CPU LEAF[.SUB]...\n");
		return 2;
	}
	cpu = atoi(argv[1]);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return 1;
	}
	for (i = 2; i < argc; i++) {
		leaf = strtoul(argv[i], &dot, 0);
		sub = *dot == '.' ? strtoul(dot + 1, NULL, 0) : 0;
		__cpuid_count(leaf, sub, a, b, c, d);
		printf("cpu%d %#x %#x %08x %08x %08x %08x\n", cpu, leaf, sub, a, b, c, d);
	}
	return 0;
}
