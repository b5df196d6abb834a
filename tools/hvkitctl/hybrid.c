// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl hybrid: kvm_hybrid profiles, bindings and online feature control
 * (/dev/kvm_hybrid). Profiles are text files (format in hybrid_help()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include <linux/kvm.h>
#include "hvkitctl.h"

void hybrid_help(FILE *out)
{
	fputs("Usage: hvkitctl hybrid SUBCOMMAND ...\n"
	      "\n"
	      "Hybrid vCPUs (per-vCPU core types) and online CPUID control for KVM\n"
	      "VMs, through kvm_hybrid (/dev/kvm_hybrid, CAP_SYS_ADMIN).\n"
	      "\n"
	      "  status                      bindings: ID, VMM PID, vCPUs, core types,\n"
	      "                              feature clears, CPUID exits the clear\n"
	      "                              hook rewrote (the profile itself is in\n"
	      "                              KVM's table: no hook, no per-exit cost)\n"
	      "  check PROFILE               parse a profile file and print it\n"
	      "  bind PID PROFILE            bind the one VM of process PID, paused\n"
	      "                              (QEMU -S, or 'stop' in its monitor: a\n"
	      "                              running vCPU makes it fail, EBUSY);\n"
	      "                              prints the ID\n"
	      "  unbind ID                   stock CPUID again, at once\n"
	      "  clear ID LEAF[.SUB] REG BITS [VCPU]\n"
	      "                              hide BITS (e.g. 0x20) of REG (eax ebx ecx\n"
	      "                              edx) in LEAF (e.g. 0x7.0) on VCPU (default:\n"
	      "                              all); audited in the kernel log and in\n"
	      "                              /sys/kernel/debug/kvm_hybrid/audit.\n"
	      "                              SUB as KVM matches it: ignored for leaves\n"
	      "                              without subleaves (0x1: every ECX), 0 when\n"
	      "                              omitted for leaves with them (0x4 0x7 0xb\n"
	      "                              0xd 0xf 0x10 0x12 0x14 0x17 0x18 0x1d 0x1e\n"
	      "                              0x1f 0x8000001d)\n"
	      "  restore ID LEAF[.SUB] REG BITS [VCPU]\n"
	      "                              show them again\n"
	      "  host-profile [CPU]          the host CPU's values (CPUID run on CPU,\n"
	      "                              default 0) as a profile type block\n"
	      "  pmu ID [TYPE GP EVENTS_OFF FIXED]\n"
	      "                              vPMU: set core type TYPE's 0xA online\n"
	      "                              (general counters, unavailable events\n"
	      "                              mask, fixed counter mask); prints the\n"
	      "                              VM-wide allow list of the profile (KVM\n"
	      "                              filters per VM only) and the pmu-filter\n"
	      "                              command that enforces it;\n"
	      "                              refused (EOPNOTSUPP) where KVM's vPMU\n"
	      "                              has no 0xA (AMD host, enable_pmu=0)\n"
	      "  pmu-filter ID [allow|deny EVENT... [fixed MASK] | clear]\n"
	      "                              the bound VM's vPMU event filter (KVM's,\n"
	      "                              VM-wide): show it (whose: hvkit's, the\n"
	      "                              VMM's or none), install one in place of\n"
	      "                              the VMM's (counters of blocked events\n"
	      "                              stop at each vCPU's next entry), or\n"
	      "                              clear hvkit's (the VMM's is back, also at\n"
	      "                              unbind). EVENT: select | umask << 8 |\n"
	      "                              select[11:8] << 32, e.g. 0x76 (AMD\n"
	      "                              cycles), 0xc0 (instructions); at most 64.\n"
	      "                              A VMM's KVM_SET_PMU_EVENT_FILTER after it\n"
	      "                              replaces hvkit's\n"
	      "\n"
	      "Pool baselines (feature files: \"LEAF.SUB REG VALUE\" lines, one per\n"
	      "feature word: 0x1 ecx/edx, 0x7.0 ebx/ecx/edx, 0x7.1 eax, 0xd.1 eax,\n"
	      "0x80000001 ecx/edx, 0x80000007 edx, 0x80000008 ebx, 0x80000021 eax,\n"
	      "0x6 eax, 0x40000001 eax):\n"
	      "  supported                   this host's KVM_GET_SUPPORTED_CPUID\n"
	      "  features ID [VCPU]          what a bound VM's vCPU reports now\n"
	      "  baseline FILE...            the features every file has\n"
	      "  compare VMFILE FILE...      is the VM a subset of their baseline?\n"
	      "                              exit 0 if so, 1 (and the missing bits)\n"
	      "                              if not\n"
	      "\n"
	      "Profile file: one block per core type, then the vCPU map.\n"
	      "  type NAME                   starts a core type\n"
	      "    intel CORETYPE MODEL      0x1A: 0x40 Core (P), 0x20 Atom (E), native\n"
	      "                              model id; also sets 7.EDX[15] (hybrid);\n"
	      "                              shown to GenuineIntel guests only\n"
	      "    amd CORETYPE RANK         0x80000026: 0 performance, 1 efficiency;\n"
	      "                              efficiency rank 0-255; shown to\n"
	      "                              AuthenticAMD/HygonGenuine guests only,\n"
	      "                              with the leaf's levels (core, complex =\n"
	      "                              the type's L3, socket) made from the\n"
	      "                              VM's own topology leaves (0xB)\n"
	      "    freq BASE MAX BUS         0x16, MHz; BASE must match on every type\n"
	      "    pmu VER GP WIDTH FIXED FWIDTH [events MASK] [fixed MASK]\n"
	      "                              0xA: version, general counters and width,\n"
	      "                              fixed counters and width, unavailable\n"
	      "                              architectural events, fixed counter mask;\n"
	      "                              each clamped to the vCPU's vPMU, not\n"
	      "                              applied where it has none\n"
	      "    cache L1d|L1i|L2|L3 SIZE WAYS LINE SHARED\n"
	      "                              0x4 (with amd also 0x8000001D and the\n"
	      "                              legacy 0x80000005/6, AMD guests only:\n"
	      "                              L2/L3 ways 1, 2, 4,\n"
	      "                              8, 16, 32, 48, 64, 96 or 128): SIZE in K\n"
	      "                              or M, SHARED = logical CPUs sharing it (a\n"
	      "                              power of two, aligned on x2APIC ids)\n"
	      "  vcpus NAME NAME ...         core type of vCPU 0, 1, ... (all of them)\n"
	      "Every type must have the same kinds of lines. '#' starts a comment.\n"
	      "\n"
	      "Refused online (KVM's MMU and state layout use its own copy): leaf 0x0,\n"
	      "0x80000000, 0x80000008 EAX/ECX/EDX (MAXPHYADDR, topology; EBX, IBPB,\n"
	      "SSBD..., may be cleared), 0xD but 0xD.1 EAX (XSAVE sizes and masks),\n"
	      "0xB/0x1F (topology), 0x1.EBX, paging bits of 0x1.EDX, 0x7 (SMEP, SMAP,\n"
	      "PKU, LA57) and 0x80000001.EDX (NX, 1G pages, LM). Hiding a bit changes\n"
	      "what CPUID reports; the vCPU can still execute the instruction, and code\n"
	      "that already uses the feature keeps using it (not migration-safe).\n"
	      "\n"
	      "Exit status: 0 on success, 1 on error (the reason is printed), 2 on bad usage.\n",
	      out);
}

struct profile {
	struct hybrid_core_type types[HYBRID_MAX_TYPES];
	unsigned int nr_types;
	__u8 vcpus[HYBRID_MAX_VCPUS];
	unsigned int nr_vcpus;
};

static int open_dev(void)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/kvm_hybrid", dev_root);
	fd = open(path, O_RDWR);
	if (fd < 0)
		fprintf(stderr, "hvkitctl hybrid: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? " (modprobe kvm_hybrid)" : "");
	return fd;
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;

	/* strtoull() takes "-1" as its negation: ULLONG_MAX, not an error. */
	if (!s || !*s || strchr(s, '-'))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || *end || *v > max)
		return -1;
	return 0;
}

static int parse_size_kb(const char *s, __u32 *kb)
{
	unsigned long long v;
	char buf[32], *unit;
	size_t n = strlen(s);

	if (!n || n >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	unit = buf + n - 1;
	if (*unit == 'K' || *unit == 'k' || *unit == 'M' || *unit == 'm') {
		char u = *unit;

		*unit = 0;
		if (parse_num(buf, 1ULL << 22, &v))
			return -1;
		*kb = (u == 'M' || u == 'm') ? v * 1024 : v;
		return 0;
	}
	return -1;
}

static int cache_line(struct hybrid_core_type *t, char **w, int n)
{
	static const struct { const char *name; __u8 level, type; } kinds[] = {
		{ "L1d", 1, HYBRID_CACHE_DATA }, { "L1i", 1, HYBRID_CACHE_INST },
		{ "L2", 2, HYBRID_CACHE_UNIFIED }, { "L3", 3, HYBRID_CACHE_UNIFIED },
	};
	unsigned long long ways, line, shared;
	struct hybrid_cache *c;
	size_t k;

	if (n != 6 || t->nr_caches >= HYBRID_MAX_CACHES)
		return -1;
	c = &t->caches[t->nr_caches];
	for (k = 0; k < ARRAY_SIZE(kinds); k++)
		if (!strcasecmp(w[1], kinds[k].name))
			break;
	if (k == ARRAY_SIZE(kinds) || parse_size_kb(w[2], &c->size_kb) ||
	    parse_num(w[3], 65535, &ways) || parse_num(w[4], 65535, &line) ||
	    parse_num(w[5], 65535, &shared))
		return -1;
	c->level = kinds[k].level;
	c->type = kinds[k].type;
	c->ways = ways;
	c->line_size = line;
	c->shared_by = shared;
	t->nr_caches++;
	t->flags |= HYBRID_CT_CACHE;
	return 0;
}

static int pmu_line(struct hybrid_core_type *t, char **w, int n)
{
	unsigned long long v[5], m;
	int i;

	if (n < 6)
		return -1;
	for (i = 0; i < 5; i++)
		if (parse_num(w[i + 1], 255, &v[i]))
			return -1;
	t->pmu_version = v[0];
	t->pmu_gp_counters = v[1];
	t->pmu_gp_width = v[2];
	t->pmu_fixed_counters = v[3];
	t->pmu_fixed_width = v[4];
	for (i = 6; i + 1 < n; i += 2) {
		if (parse_num(w[i + 1], 0xffffffff, &m))
			return -1;
		if (!strcmp(w[i], "events"))
			t->pmu_events_unavailable = m;
		else if (!strcmp(w[i], "fixed"))
			t->pmu_fixed_mask = m;
		else
			return -1;
	}
	if (i != n)
		return -1;
	t->flags |= HYBRID_CT_PMU;
	return 0;
}

static int type_index(const struct profile *p, const char *name)
{
	unsigned int i;

	for (i = 0; i < p->nr_types; i++)
		if (!strcmp(p->types[i].name, name))
			return i;
	return -1;
}

/* Parse @path into @p; print file:line: reason on error. */
static int parse_profile(const char *path, struct profile *p)
{
	struct hybrid_core_type *t = NULL;
	unsigned long long a, b, c;
	char line[512], *w[16];
	unsigned int lineno = 0;
	FILE *f = fopen(path, "r");
	int n;

	memset(p, 0, sizeof(*p));
	if (!f) {
		fprintf(stderr, "hvkitctl hybrid: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = strchr(line, '#'), *save = NULL, *tok;

		lineno++;
		if (s)
			*s = 0;
		n = 0;
		for (tok = strtok_r(line, " \t\r\n", &save); tok && n < 16;
		     tok = strtok_r(NULL, " \t\r\n", &save))
			w[n++] = tok;
		if (!n)
			continue;
		if (!strcmp(w[0], "type")) {
			if (n != 2 || strlen(w[1]) >= HVKIT_NAME_LEN ||
			    p->nr_types >= HYBRID_MAX_TYPES || type_index(p, w[1]) >= 0)
				goto bad;
			t = &p->types[p->nr_types++];
			strcpy(t->name, w[1]);
		} else if (!strcmp(w[0], "vcpus")) {
			int i;

			for (i = 1; i < n; i++) {
				int k = type_index(p, w[i]);

				if (k < 0 || p->nr_vcpus >= HYBRID_MAX_VCPUS)
					goto bad;
				p->vcpus[p->nr_vcpus++] = k;
			}
		} else if (!t) {
			goto bad;
		} else if (!strcmp(w[0], "intel")) {
			if (n != 3 || parse_num(w[1], 255, &a) ||
			    parse_num(w[2], 0xffffff, &b))
				goto bad;
			t->intel_core_type = a;
			t->native_model_id = b;
			t->flags |= HYBRID_CT_INTEL;
		} else if (!strcmp(w[0], "amd")) {
			if (n != 3 || parse_num(w[1], 15, &a) || parse_num(w[2], 255, &b))
				goto bad;
			t->amd_core_type = a;
			t->amd_efficiency = b;
			t->flags |= HYBRID_CT_AMD;
		} else if (!strcmp(w[0], "freq")) {
			if (n != 4 || parse_num(w[1], 65535, &a) ||
			    parse_num(w[2], 65535, &b) || parse_num(w[3], 65535, &c))
				goto bad;
			t->base_mhz = a;
			t->max_mhz = b;
			t->bus_mhz = c;
			t->flags |= HYBRID_CT_FREQ;
		} else if (!strcmp(w[0], "pmu")) {
			if (pmu_line(t, w, n))
				goto bad;
		} else if (!strcmp(w[0], "cache")) {
			if (cache_line(t, w, n))
				goto bad;
		} else {
			goto bad;
		}
	}
	fclose(f);
	if (!p->nr_types || !p->nr_vcpus) {
		fprintf(stderr, "hvkitctl hybrid: %s: needs a 'type' block and a 'vcpus' line\n",
			path);
		return -1;
	}
	return 0;
bad:
	fclose(f);
	fprintf(stderr, "hvkitctl hybrid: %s:%u: cannot parse (see: hvkitctl hybrid help)\n",
		path, lineno);
	return -1;
}

static const char *const cache_names[] = { "?", "d", "i", "" };

static void print_type(FILE *out, const struct hybrid_core_type *t)
{
	unsigned int i;

	fprintf(out, "type %s\n", t->name);
	if (t->flags & HYBRID_CT_INTEL)
		fprintf(out, "    intel %#x %#x\n", t->intel_core_type, t->native_model_id);
	if (t->flags & HYBRID_CT_AMD)
		fprintf(out, "    amd %u %u\n", t->amd_core_type, t->amd_efficiency);
	if (t->flags & HYBRID_CT_FREQ)
		fprintf(out, "    freq %u %u %u\n", t->base_mhz, t->max_mhz, t->bus_mhz);
	if (t->flags & HYBRID_CT_PMU)
		fprintf(out, "    pmu %u %u %u %u %u events %#x fixed %#x\n",
			t->pmu_version, t->pmu_gp_counters, t->pmu_gp_width,
			t->pmu_fixed_counters, t->pmu_fixed_width,
			t->pmu_events_unavailable, t->pmu_fixed_mask);
	for (i = 0; i < t->nr_caches && i < HYBRID_MAX_CACHES; i++) {
		const struct hybrid_cache *c = &t->caches[i];

		fprintf(out, "    cache L%u%s %uK %u %u %u\n", c->level,
			c->level == 1 && c->type < 4 ? cache_names[c->type] : "",
			c->size_kb, c->ways, c->line_size, c->shared_by);
	}
}

static int cmd_check(int argc, char **argv)
{
	struct profile *p;
	unsigned int i;

	if (argc != 2) {
		fputs("Usage: hvkitctl hybrid check PROFILE\n", stderr);
		return 2;
	}
	p = malloc(sizeof(*p));
	if (!p || parse_profile(argv[1], p)) {
		free(p);
		return 1;
	}
	for (i = 0; i < p->nr_types; i++)
		print_type(stdout, &p->types[i]);
	fputs("vcpus", stdout);
	for (i = 0; i < p->nr_vcpus; i++)
		printf(" %s", p->types[p->vcpus[i]].name);
	putchar('\n');
	free(p);
	return 0;
}

static int cmd_bind(int argc, char **argv)
{
	struct hybrid_bind b = { .size = sizeof(b), .flags = HYBRID_BIND_BY_PID };
	unsigned long long pid;
	struct profile *p;
	int fd, ret = 1;

	if (argc != 3 || parse_num(argv[1], 0x7fffffff, &pid)) {
		fputs("Usage: hvkitctl hybrid bind PID PROFILE\n", stderr);
		return 2;
	}
	p = malloc(sizeof(*p));
	if (!p || parse_profile(argv[2], p))
		goto out;
	fd = open_dev();
	if (fd < 0)
		goto out;
	b.pid = pid;
	b.nr_types = p->nr_types;
	b.nr_vcpus = p->nr_vcpus;
	b.types = (uintptr_t)p->types;
	b.vcpu_types = (uintptr_t)p->vcpus;
	if (ioctl(fd, HYBRID_IOC_BIND, &b)) {
		fprintf(stderr, "hvkitctl hybrid: bind pid %llu: %s%s%s\n", pid,
			strerror(errno), b.why[0] ? ": " : "", b.why);
	} else {
		printf("%u\n", b.id);
		ret = 0;
	}
	close(fd);
out:
	free(p);
	return ret;
}

static int parse_id(const char *s, __u32 *id)
{
	unsigned long long v;

	if (parse_num(s, 0xffffffff, &v))
		return -1;
	*id = v;
	return 0;
}

static int cmd_unbind(int argc, char **argv)
{
	struct hybrid_unbind u = { .size = sizeof(u) };
	int fd, ret;

	if (argc != 2 || parse_id(argv[1], &u.id)) {
		fputs("Usage: hvkitctl hybrid unbind ID\n", stderr);
		return 2;
	}
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_UNBIND, &u);
	if (ret)
		fprintf(stderr, "hvkitctl hybrid: unbind %u: %s\n", u.id, strerror(errno));
	close(fd);
	return ret ? 1 : 0;
}

static int cmd_feature(int argc, char **argv, __u32 op)
{
	static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };
	struct hybrid_feature f = { .size = sizeof(f), .op = op,
				    .vcpu = HYBRID_ALL_VCPUS,
				    .index = HYBRID_ANY_INDEX };
	unsigned long long leaf, sub, bits, vcpu;
	char leafbuf[32], *dot;
	int fd, ret;

	if (argc < 5 || argc > 6 || parse_id(argv[1], &f.id) ||
	    strlen(argv[2]) >= sizeof(leafbuf))
		goto usage;
	strcpy(leafbuf, argv[2]);
	dot = strchr(leafbuf, '.');
	if (dot) {
		*dot = 0;
		if (parse_num(dot + 1, 0xfffffffe, &sub))
			goto usage;
		f.index = sub;
	}
	if (parse_num(leafbuf, 0xffffffff, &leaf) ||
	    parse_num(argv[4], 0xffffffff, &bits))
		goto usage;
	f.function = leaf;
	f.bits = bits;
	for (f.reg = 0; f.reg < 4; f.reg++)
		if (!strcasecmp(argv[3], regs[f.reg]))
			break;
	if (f.reg == 4)
		goto usage;
	if (argc == 6) {
		if (parse_num(argv[5], HYBRID_MAX_VCPUS - 1, &vcpu))
			goto usage;
		f.vcpu = vcpu;
	}
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_FEATURE, &f);
	if (ret)
		fprintf(stderr, "hvkitctl hybrid: %s: %s%s%s\n", argv[0], strerror(errno),
			f.why[0] ? ": " : "", f.why);
	close(fd);
	return ret ? 1 : 0;
usage:
	fprintf(stderr, "Usage: hvkitctl hybrid %s ID LEAF[.SUB] eax|ebx|ecx|edx BITS [VCPU]\n",
		argv[0]);
	return 2;
}

static int cmd_status(int argc, char **argv)
{
	struct hybrid_binding_info info[64];
	struct hybrid_list l = { .size = sizeof(l), .nr = 64,
				 .entry_size = sizeof(info[0]),
				 .entries = (uintptr_t)info };
	unsigned int i;
	int fd, ret;

	(void)argv;
	if (argc != 1) {
		fputs("Usage: hvkitctl hybrid status\n", stderr);
		return 2;
	}
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_LIST, &l);
	close(fd);
	if (ret) {
		fprintf(stderr, "hvkitctl hybrid: status: %s\n", strerror(errno));
		return 1;
	}
	printf("%-6s %-8s %6s %6s %7s %12s\n", "ID", "PID", "VCPUS", "TYPES",
	       "CLEARS", "CPUID_EXITS");
	for (i = 0; i < l.nr && i < 64; i++)
		printf("%-6u %-8d %6u %6u %7u %12llu\n", info[i].id, info[i].pid,
		       info[i].nr_vcpus, info[i].nr_types, info[i].nr_clears,
		       (unsigned long long)info[i].cpuid_exits);
	printf("# %u binding(s), %llu CPUID exits not rewritten (missed probes)\n",
	       l.nr, (unsigned long long)l.missed);
	return 0;
}

static int cmd_host_profile(int argc, char **argv)
{
	struct hybrid_host_profile h = { .size = sizeof(h) };
	unsigned long long cpu = 0;
	int fd, ret;

	if (argc > 2 || (argc == 2 && parse_num(argv[1], 0xffffffff, &cpu))) {
		fputs("Usage: hvkitctl hybrid host-profile [CPU]\n", stderr);
		return 2;
	}
	h.cpu = cpu;
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_HOST_PROFILE, &h);
	close(fd);
	if (ret) {
		fprintf(stderr, "hvkitctl hybrid: host-profile %llu: %s\n", cpu,
			strerror(errno));
		return 1;
	}
	print_type(stdout, &h.type);
	return 0;
}

/* The feature words' places, in the uapi's order (include/uapi/linux/hvkit.h). */
static const struct { unsigned int leaf, sub, reg; } fwords[HYBRID_NR_FEATURE_WORDS] = {
	{ 0x1, 0, 2 }, { 0x1, 0, 3 }, { 0x7, 0, 1 }, { 0x7, 0, 2 }, { 0x7, 0, 3 },
	{ 0x7, 1, 0 }, { 0xd, 1, 0 }, { 0x80000001, 0, 2 }, { 0x80000001, 0, 3 },
	{ 0x80000007, 0, 3 }, { 0x80000008, 0, 1 }, { 0x80000021, 0, 0 },
	{ 0x6, 0, 0 }, { 0x40000001, 0, 0 },
};

static const char *const reg_names[] = { "eax", "ebx", "ecx", "edx" };

static void print_features(FILE *out, const struct hybrid_features *f)
{
	unsigned int w;

	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++)
		fprintf(out, "%#x.%u %s %#010x\n", fwords[w].leaf, fwords[w].sub,
			reg_names[fwords[w].reg], f->word[w]);
}

/* A features file: "LEAF.SUB REG VALUE" lines, as print_features writes. */
static int read_features(const char *path, struct hybrid_features *f)
{
	char line[256], reg[8];
	unsigned int leaf, sub, val, w, lineno = 0;
	FILE *in = fopen(path, "r");

	memset(f, 0, sizeof(*f));
	if (!in) {
		fprintf(stderr, "hvkitctl hybrid: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%i.%u %7s %i", &leaf, &sub, reg, &val) != 4)
			goto bad;
		for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++)
			if (fwords[w].leaf == leaf && fwords[w].sub == sub &&
			    !strcasecmp(reg, reg_names[fwords[w].reg]))
				break;
		if (w == HYBRID_NR_FEATURE_WORDS)
			goto bad;
		f->word[w] = val;
	}
	fclose(in);
	return 0;
bad:
	fclose(in);
	fprintf(stderr, "hvkitctl hybrid: %s:%u: not a feature word line\n", path, lineno);
	return -1;
}

static int cmd_features(int argc, char **argv)
{
	struct hybrid_vm_features vf = { .size = sizeof(vf) };
	unsigned long long vcpu = 0;
	int fd, ret;

	if (argc < 2 || argc > 3 || parse_id(argv[1], &vf.id) ||
	    (argc == 3 && parse_num(argv[2], 0xffffffff, &vcpu))) {
		fputs("Usage: hvkitctl hybrid features ID [VCPU]\n", stderr);
		return 2;
	}
	vf.vcpu = vcpu;
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_VM_FEATURES, &vf);
	close(fd);
	if (ret) {
		fprintf(stderr, "hvkitctl hybrid: features %u: %s\n", vf.id, strerror(errno));
		return 1;
	}
	print_features(stdout, &vf.features);
	return 0;
}

/* This host's KVM_GET_SUPPORTED_CPUID as feature words. */
static int cmd_supported(int argc, char **argv)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} t = { .c.nent = 256 };
	struct hybrid_features f = {};
	unsigned int w, i;
	int fd, ret;

	(void)argv;
	if (argc != 1) {
		fputs("Usage: hvkitctl hybrid supported\n", stderr);
		return 2;
	}
	fd = open("/dev/kvm", O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "hvkitctl hybrid: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	ret = ioctl(fd, KVM_GET_SUPPORTED_CPUID, &t.c);
	close(fd);
	if (ret) {
		fprintf(stderr, "hvkitctl hybrid: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
		return 1;
	}
	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++) {
		for (i = 0; i < t.c.nent; i++) {
			const struct kvm_cpuid_entry2 *e = &t.c.entries[i];
			const __u32 r[4] = { e->eax, e->ebx, e->ecx, e->edx };

			if (e->function == fwords[w].leaf &&
			    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
			     e->index == fwords[w].sub)) {
				f.word[w] = r[fwords[w].reg];
				break;
			}
		}
	}
	print_features(stdout, &f);
	return 0;
}

/* baseline FILE...: the common set; compare VM FILE...: is VM a subset? */
static int cmd_baseline(int argc, char **argv, int compare)
{
	struct hybrid_baseline bl = { .size = sizeof(bl) };
	struct hybrid_features *sets;
	int i, fd, ret = 1, first = compare ? 2 : 1;
	unsigned int w;

	if (argc <= first || argc - first > 64) {
		fprintf(stderr, "Usage: hvkitctl hybrid %s\n",
			compare ? "compare VMFILE FILE..." : "baseline FILE...");
		return 2;
	}
	sets = calloc(argc - first, sizeof(*sets));
	if (!sets)
		return 1;
	if (compare && read_features(argv[1], &bl.check))
		goto out;
	for (i = first; i < argc; i++)
		if (read_features(argv[i], &sets[i - first]))
			goto out;
	bl.nr_sets = argc - first;
	bl.sets = (uintptr_t)sets;
	bl.flags = compare ? HYBRID_BASELINE_CHECK : 0;
	fd = open_dev();
	if (fd < 0)
		goto out;
	if (ioctl(fd, HYBRID_IOC_BASELINE, &bl)) {
		fprintf(stderr, "hvkitctl hybrid: baseline: %s\n", strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (!compare) {
		print_features(stdout, &bl.baseline);
		ret = 0;
		goto out;
	}
	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++)
		if (bl.missing.word[w])
			printf("missing %#x.%u %s %#010x\n", fwords[w].leaf, fwords[w].sub,
			       reg_names[fwords[w].reg], bl.missing.word[w]);
	printf("%u feature bit(s) of %s are not in the baseline of %d set(s): %s\n",
	       bl.nr_missing, argv[1], argc - first,
	       bl.nr_missing ? "not compatible" : "compatible");
	ret = bl.nr_missing ? 1 : 0;
out:
	free(sets);
	return ret;
}

/* pmu ID [TYPE GP EVENTS_OFF FIXED]: the VM-wide filter; set a type's 0xA. */
static int cmd_pmu(int argc, char **argv)
{
	struct hybrid_pmu p = { .size = sizeof(p) };
	unsigned long long v[4];
	unsigned int i;
	int fd, ret;

	if ((argc != 2 && argc != 6) || parse_id(argv[1], &p.id))
		goto usage;
	if (argc == 6) {
		for (i = 0; i < 4; i++)
			if (parse_num(argv[i + 2], 0xffffffff, &v[i]))
				goto usage;
		p.flags = HYBRID_PMU_SET;
		p.type = v[0];
		p.gp_counters = v[1];
		p.events_unavailable = v[2];
		p.fixed_mask = v[3];
	}
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_PMU, &p);
	close(fd);
	if (ret) {
		fprintf(stderr, "hvkitctl hybrid: pmu %u: %s (see the kernel log)\n", p.id,
			strerror(errno));
		return 1;
	}
	printf("# the allow list of this profile (KVM_PMU_EVENT_ALLOW); to enforce it:\n");
	printf("#   hvkitctl hybrid pmu-filter %u allow", p.id);
	for (i = 0; i < p.nevents && i < HYBRID_PMU_MAX_EVENTS; i++)
		printf(" %#llx", (unsigned long long)p.events[i]);
	printf(" fixed %#x\n", p.fixed_counter_bitmap);
	printf("fixed_counter_bitmap %#x\nnevents %u\n", p.fixed_counter_bitmap, p.nevents);
	for (i = 0; i < p.nevents && i < HYBRID_PMU_MAX_EVENTS; i++)
		printf("event %#06llx\n", (unsigned long long)p.events[i]);
	return 0;
usage:
	fputs("Usage: hvkitctl hybrid pmu ID [TYPE GP_COUNTERS EVENTS_OFF FIXED_MASK]\n", stderr);
	return 2;
}

/*
 * pmu-filter's arguments (argv[1] on) into @f: 0; 1 for a usage error;
 * 2 for more than HYBRID_FILTER_MAX_EVENTS events (said on stderr).
 */
static int pmu_filter_parse(int argc, char **argv, struct hybrid_pmu_filter *f)
{
	unsigned long long v;
	int i;

	if (argc < 2 || parse_id(argv[1], &f->id))
		return 1;
	if (argc == 3 && !strcmp(argv[2], "clear")) {
		f->flags = HYBRID_FILTER_CLEAR;
		return 0;
	}
	if (argc == 2)
		return 0;
	if (!strcmp(argv[2], "allow"))
		f->action = HYBRID_FILTER_ALLOW;
	else if (!strcmp(argv[2], "deny"))
		f->action = HYBRID_FILTER_DENY;
	else
		return 1;
	f->flags = HYBRID_FILTER_SET;
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "fixed") && i + 1 < argc) {
			if (parse_num(argv[++i], 0xffffffff, &v))
				return 1;
			f->fixed_counter_bitmap = v;
			continue;
		}
		if (f->nevents == HYBRID_FILTER_MAX_EVENTS) {
			fprintf(stderr, "hvkitctl hybrid: pmu-filter: at most %u events\n",
				HYBRID_FILTER_MAX_EVENTS);
			return 2;
		}
		if (parse_num(argv[i], ~0ULL, &v))
			return 1;
		f->events[f->nevents++] = v;
	}
	return 0;
}

/* pmu-filter ID [allow|deny EVENT... [fixed MASK] | clear] */
static int cmd_pmu_filter(int argc, char **argv)
{
	static const char *const owners[] = { "none", "hvkit", "vmm" };
	struct hybrid_pmu_filter f = { .size = sizeof(f) };
	int fd, ret, i;

	ret = pmu_filter_parse(argc, argv, &f);
	if (ret == 1)
		goto usage;
	if (ret)
		return ret;
	fd = open_dev();
	if (fd < 0)
		return 1;
	ret = ioctl(fd, HYBRID_IOC_PMU_FILTER, &f);
	close(fd);
	if (ret) {
		fprintf(stderr, "hvkitctl hybrid: pmu-filter %u: %s (see the kernel log)\n", f.id,
			strerror(errno));
		return 1;
	}
	printf("owner %s\n", f.owner < 3 ? owners[f.owner] : "?");
	if (f.owner == HYBRID_FILTER_NONE)
		return 0;
	printf("action %s\nfixed_counter_bitmap %#x\nnevents %u\n",
	       f.action == HYBRID_FILTER_DENY ? "deny" : "allow", f.fixed_counter_bitmap,
	       f.nevents);
	for (i = 0; i < (int)f.nevents && i < HYBRID_FILTER_MAX_EVENTS; i++)
		printf("event %#llx\n", (unsigned long long)f.events[i]);
	return 0;
usage:
	fputs("Usage: hvkitctl hybrid pmu-filter ID [allow|deny EVENT... [fixed MASK] | clear]\n",
	      stderr);
	return 2;
}

int cmd_hybrid(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		hybrid_help(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		hybrid_help(stdout);
		return 0;
	}
	if (!strcmp(sub, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(sub, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(sub, "bind"))
		return cmd_bind(argc - 1, argv + 1);
	if (!strcmp(sub, "unbind"))
		return cmd_unbind(argc - 1, argv + 1);
	if (!strcmp(sub, "clear"))
		return cmd_feature(argc - 1, argv + 1, HYBRID_FEAT_CLEAR);
	if (!strcmp(sub, "restore"))
		return cmd_feature(argc - 1, argv + 1, HYBRID_FEAT_RESTORE);
	if (!strcmp(sub, "host-profile"))
		return cmd_host_profile(argc - 1, argv + 1);
	if (!strcmp(sub, "features"))
		return cmd_features(argc - 1, argv + 1);
	if (!strcmp(sub, "pmu"))
		return cmd_pmu(argc - 1, argv + 1);
	if (!strcmp(sub, "pmu-filter"))
		return cmd_pmu_filter(argc - 1, argv + 1);
	if (!strcmp(sub, "supported"))
		return cmd_supported(argc - 1, argv + 1);
	if (!strcmp(sub, "baseline"))
		return cmd_baseline(argc - 1, argv + 1, 0);
	if (!strcmp(sub, "compare"))
		return cmd_baseline(argc - 1, argv + 1, 1);
	fprintf(stderr, "hvkitctl hybrid: unknown subcommand '%s'\n"
		"Usage: hvkitctl hybrid {status|check|bind|unbind|clear|restore|host-profile|\n"
		"                        features|supported|baseline|compare|pmu|pmu-filter|help} ...\n",
		sub);
	return 2;
}
