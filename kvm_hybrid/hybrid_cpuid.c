// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid: profile validation and the per-vCPU CPUID override compiler.
 * Pure functions; see hybrid_cpuid.h.
 */
#include <linux/bitops.h>
#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/string.h>
#include "hybrid_cpuid.h"

#define EAX 0
#define EBX 1
#define ECX 2
#define EDX 3

static const char *const reg_names[] = { "EAX", "EBX", "ECX", "EDX" };

static bool name_ok(const char *name)
{
	size_t n = strnlen(name, HVKIT_NAME_LEN);

	return n > 0 && n < HVKIT_NAME_LEN;
}

static bool width_ok(u8 w)
{
	return !w || (w >= 8 && w <= 64);
}

static int validate_cache(const struct hybrid_core_type *ct, u32 i,
			  char *why, size_t len)
{
	const struct hybrid_cache *c = &ct->caches[i];
	u64 bytes = (u64)c->size_kb * 1024, way_bytes;
	u32 j;

	if (c->__pad0) {
		snprintf(why, len, "type %s cache %u: padding not zero",
			 ct->name, i);
		return -EINVAL;
	}
	if (c->level < 1 || c->level > 3 || c->type < HYBRID_CACHE_DATA ||
	    c->type > HYBRID_CACHE_UNIFIED) {
		snprintf(why, len, "type %s cache %u: level %u type %u (want level 1-3, type 1-3)",
			 ct->name, i, c->level, c->type);
		return -EINVAL;
	}
	if (!c->ways || c->ways > 1024 || !is_power_of_2(c->line_size) ||
	    c->line_size < 16 || c->line_size > 4096) {
		snprintf(why, len, "type %s L%u: %u ways, %u-byte lines (1-1024, 2^4-2^12)",
			 ct->name, c->level, c->ways, c->line_size);
		return -EINVAL;
	}
	if (!is_power_of_2(c->shared_by) || c->shared_by > 4096) {
		snprintf(why, len, "type %s L%u: shared by %u (want 2^0-2^12)",
			 ct->name, c->level, c->shared_by);
		return -EINVAL;
	}
	way_bytes = (u64)c->ways * c->line_size;
	if (!bytes || bytes % way_bytes || bytes / way_bytes > U32_MAX) {
		snprintf(why, len, "type %s L%u: %u KiB is not whole sets of %u x %u bytes",
			 ct->name, c->level, c->size_kb, c->ways, c->line_size);
		return -EINVAL;
	}
	for (j = 0; j < i; j++) {
		const struct hybrid_cache *p = &ct->caches[j];

		if (p->level > c->level) {
			snprintf(why, len, "type %s: caches must be listed innermost first",
				 ct->name);
			return -EINVAL;
		}
		if (p->level == c->level &&
		    (p->type == c->type || p->type == HYBRID_CACHE_UNIFIED ||
		     c->type == HYBRID_CACHE_UNIFIED)) {
			snprintf(why, len, "type %s: two L%u caches of overlapping type",
				 ct->name, c->level);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * AMD's legacy cache leaves 0x80000005 (L1) and 0x80000006 (L2, L3), which a
 * Linux guest without TOPOEXT builds its cache topology from, encode the
 * L2/L3 associativity as a code: only these ways fit.
 */
static const u16 amd_assoc_ways[16] = {
	[1] = 1, [2] = 2, [4] = 4, [6] = 8, [8] = 16, [0xa] = 32, [0xb] = 48,
	[0xc] = 64, [0xd] = 96, [0xe] = 128,
};

static u32 amd_assoc_code(u16 ways)
{
	u32 i;

	for (i = 0; i < ARRAY_SIZE(amd_assoc_ways); i++)
		if (amd_assoc_ways[i] && amd_assoc_ways[i] == ways)
			return i;
	return 0;
}

static int validate_amd_legacy(const struct hybrid_core_type *ct,
			       const struct hybrid_cache *c, char *why,
			       size_t len)
{
	if (c->level == 1 && (c->size_kb > 255 || c->ways > 255 ||
			      c->line_size > 255)) {
		snprintf(why, len, "type %s L1: 0x80000005 holds <= 255 KiB, ways, bytes",
			 ct->name);
		return -EINVAL;
	}
	if (c->level == 2 && c->size_kb > 0xffff) {
		snprintf(why, len, "type %s L2: 0x80000006 holds < 64 MiB", ct->name);
		return -EINVAL;
	}
	if (c->level == 3 && c->size_kb % 512) {
		snprintf(why, len, "type %s L3: 0x80000006 counts 512 KiB units",
			 ct->name);
		return -EINVAL;
	}
	if (c->level > 1 && (!amd_assoc_code(c->ways) || c->line_size > 255)) {
		snprintf(why, len, "type %s L%u: %u ways has no 0x80000006 code",
			 ct->name, c->level, c->ways);
		return -EINVAL;
	}
	return 0;
}

/**
 * hybrid_validate_type() - check one core type on its own
 * @ct:		the core type
 * @why:	where to write the reason for a refusal
 * @len:	size of @why
 *
 * Return: 0 or -EINVAL.
 */
int hybrid_validate_type(const struct hybrid_core_type *ct, char *why,
			 size_t len)
{
	u32 i;
	int ret;

	if (!name_ok(ct->name)) {
		snprintf(why, len, "a core type needs a name of 1-%d characters",
			 HVKIT_NAME_LEN - 1);
		return -EINVAL;
	}
	if (ct->flags & ~HYBRID_CT_ALL || !ct->flags) {
		snprintf(why, len, "type %s: flags %#x (known: %#x, at least one)",
			 ct->name, ct->flags, HYBRID_CT_ALL);
		return -EINVAL;
	}
	if (ct->__pad0 || ct->__pad1[0] || ct->__pad1[1] || ct->__pad1[2] ||
	    ct->__pad2) {
		snprintf(why, len, "type %s: padding not zero", ct->name);
		return -EINVAL;
	}
	if (ct->flags & HYBRID_CT_INTEL &&
	    (!ct->intel_core_type || ct->native_model_id >= BIT(24))) {
		snprintf(why, len, "type %s: Intel type %#x, model %#x (want type, model < 2^24)",
			 ct->name, ct->intel_core_type, ct->native_model_id);
		return -EINVAL;
	}
	if (ct->flags & HYBRID_CT_AMD && ct->amd_core_type > 15) {
		snprintf(why, len, "type %s: AMD core type %u (want 0-15)",
			 ct->name, ct->amd_core_type);
		return -EINVAL;
	}
	if (!(ct->flags & HYBRID_CT_CACHE) != !ct->nr_caches ||
	    ct->nr_caches > HYBRID_MAX_CACHES) {
		snprintf(why, len, "type %s: %u caches (want 1-%d with the cache flag, 0 without)",
			 ct->name, ct->nr_caches, HYBRID_MAX_CACHES);
		return -EINVAL;
	}
	for (i = 0; i < ct->nr_caches; i++) {
		ret = validate_cache(ct, i, why, len);
		if (ret)
			return ret;
		if (ct->flags & HYBRID_CT_AMD) {
			ret = validate_amd_legacy(ct, &ct->caches[i], why, len);
			if (ret)
				return ret;
		}
	}
	if (ct->flags & HYBRID_CT_FREQ &&
	    (!ct->base_mhz || ct->max_mhz < ct->base_mhz)) {
		snprintf(why, len, "type %s: base %u MHz, max %u MHz (want base > 0, max >= base)",
			 ct->name, ct->base_mhz, ct->max_mhz);
		return -EINVAL;
	}
	if (ct->flags & HYBRID_CT_PMU &&
	    (ct->pmu_version > 5 || ct->pmu_gp_counters > 32 ||
	     ct->pmu_fixed_counters > 16 || !width_ok(ct->pmu_gp_width) ||
	     !width_ok(ct->pmu_fixed_width) ||
	     ct->pmu_events_unavailable > 0xff ||
	     ct->pmu_fixed_mask > 0xffff)) {
		snprintf(why, len, "type %s: PMU v%u %ux%u fixed %ux%u %#x %#x out of range",
			 ct->name, ct->pmu_version, ct->pmu_gp_counters,
			 ct->pmu_gp_width, ct->pmu_fixed_counters,
			 ct->pmu_fixed_width, ct->pmu_events_unavailable,
			 ct->pmu_fixed_mask);
		return -EINVAL;
	}
	return 0;
}

/* Do the vCPUs that share cache @c of @t's vCPUs all have type @t? */
static int check_sharing(const struct hybrid_core_type *types,
			 const struct hybrid_layout *lay, u32 t,
			 const struct hybrid_cache *c, char *why, size_t len)
{
	u32 shift = ilog2(c->shared_by), v, w;

	if (c->shared_by == 1)
		return 0;
	for (v = 0; v < lay->nr_vcpus; v++) {
		if (lay->vcpu_type[v] != t)
			continue;
		for (w = 0; w < lay->nr_vcpus; w++) {
			if (lay->vcpu_type[w] == t ||
			    lay->apic_id[w] >> shift != lay->apic_id[v] >> shift)
				continue;
			snprintf(why, len, "%s L%u shared by %u holds vCPU %u (%s, x2APIC %u)",
				 types[t].name, c->level, c->shared_by, w,
				 types[lay->vcpu_type[w]].name,
				 lay->apic_id[w]);
			return -EINVAL;
		}
	}
	return 0;
}

/**
 * hybrid_validate_profile() - check a whole profile against a VM's layout
 * @types:	core types
 * @nr_types:	entries of @types
 * @lay:	the vCPUs: their core types and x2APIC ids
 * @why:	where to write the reason for a refusal
 * @len:	size of @why
 *
 * Every type must be valid and define the same leaves (a guest must not
 * see a leaf on some vCPUs only), with one base frequency; names unique;
 * each vCPU's type must exist; a cache shared by N CPUs must group vCPUs
 * of one type (the guest groups by x2APIC id >> log2(N)).
 *
 * Return: 0 or -EINVAL.
 */
int hybrid_validate_profile(const struct hybrid_core_type *types, u32 nr_types,
			    const struct hybrid_layout *lay, char *why,
			    size_t len)
{
	u32 t, u, v, c;
	int ret;

	if (!nr_types || nr_types > HYBRID_MAX_TYPES) {
		snprintf(why, len, "%u core types (want 1-%d)", nr_types,
			 HYBRID_MAX_TYPES);
		return -EINVAL;
	}
	if (!lay->nr_vcpus || lay->nr_vcpus > HYBRID_MAX_VCPUS) {
		snprintf(why, len, "%u vCPUs (want 1-%d)", lay->nr_vcpus,
			 HYBRID_MAX_VCPUS);
		return -EINVAL;
	}
	for (t = 0; t < nr_types; t++) {
		ret = hybrid_validate_type(&types[t], why, len);
		if (ret)
			return ret;
		for (u = 0; u < t; u++) {
			if (!strncmp(types[u].name, types[t].name, HVKIT_NAME_LEN)) {
				snprintf(why, len, "two core types named %s",
					 types[t].name);
				return -EINVAL;
			}
			if (types[u].flags != types[t].flags) {
				snprintf(why, len, "types %s and %s define other leaves (%#x, %#x)",
					 types[u].name, types[t].name,
					 types[u].flags, types[t].flags);
				return -EINVAL;
			}
			if (types[t].flags & HYBRID_CT_FREQ &&
			    types[u].base_mhz != types[t].base_mhz) {
				snprintf(why, len, "types %s, %s: base %u != %u MHz (TSC source)",
					 types[u].name, types[t].name,
					 types[u].base_mhz, types[t].base_mhz);
				return -EINVAL;
			}
		}
	}
	for (v = 0; v < lay->nr_vcpus; v++) {
		if (lay->vcpu_type[v] >= nr_types) {
			snprintf(why, len, "vCPU %u has core type %u of %u",
				 v, lay->vcpu_type[v], nr_types);
			return -EINVAL;
		}
		for (u = 0; u < v; u++) {
			if (lay->apic_id[u] == lay->apic_id[v]) {
				snprintf(why, len, "vCPUs %u and %u have the same x2APIC id %u",
					 u, v, lay->apic_id[v]);
				return -EINVAL;
			}
		}
	}
	for (t = 0; t < nr_types; t++) {
		for (c = 0; c < types[t].nr_caches; c++) {
			ret = check_sharing(types, lay, t, &types[t].caches[c],
					    why, len);
			if (ret)
				return ret;
		}
	}
	return 0;
}

struct refused {
	u32 function;
	u32 reg;	/* 4: the whole leaf */
	u32 bits;
	const char *why;
};

/*
 * KVM decides page-table formats, address widths and XSAVE layout from its
 * own copy of the CPUID table (set by KVM_SET_CPUID2), not from what a
 * CPUID exit returns. Hiding these from the guest would make the guest's
 * paging or state layout disagree with the one KVM emulates.
 */
static const struct refused refused[] = {
	{ 0x0, 4, 0, "the maximum leaf and vendor" },
	{ 0x80000000, 4, 0, "the maximum extended leaf and vendor" },
	{ 0x80000008, EAX, ~0U, "MAXPHYADDR and address widths: KVM's MMU uses its own" },
	{ 0x80000008, ECX, ~0U, "core count and APIC id size (topology)" },
	{ 0x80000008, EDX, ~0U, "INVLPGB and RDPRU limits" },
	{ 0xd, 4, 0, "XSAVE state sizes: KVM lays out guest XSAVE from its own table" },
	{ 0xb, 4, 0, "topology and x2APIC ids" },
	{ 0x1f, 4, 0, "topology and x2APIC ids" },
	{ 0x1, EBX, ~0U, "initial APIC id and CLFLUSH size" },
	{ 0x1, EDX, BIT(3) | BIT(6) | BIT(13) | BIT(16) | BIT(17),
	  "paging features (PSE, PAE, PGE, PAT, PSE36): KVM's MMU uses its own copy" },
	{ 0x7, EBX, BIT(7) | BIT(20), "SMEP/SMAP: KVM's MMU uses its own copy" },
	{ 0x7, ECX, BIT(3) | BIT(16), "PKU/LA57: KVM's MMU uses its own copy" },
	{ 0x80000001, EDX, BIT(20) | BIT(26) | BIT(29),
	  "NX, 1 GiB pages, long mode: KVM's MMU uses its own copy" },
};

/**
 * hybrid_feature_refused() - may these CPUID bits be hidden online?
 * @function:	leaf
 * @index:	subleaf, as hybrid_clear_normalize() left it
 * @reg:	0-3 (EAX-EDX)
 * @bits:	the bits
 * @why:	where to write the reason
 * @len:	size of @why
 *
 * Return: 0 if allowed, -EINVAL for a malformed request, -EPERM for an
 * MMU-relevant (or identity) leaf or bit.
 */
int hybrid_feature_refused(u32 function, u32 index, u32 reg, u32 bits,
			   char *why, size_t len)
{
	size_t i;

	if (reg > EDX || !bits) {
		snprintf(why, len, "register %u, bits %#x: want 0-3 (EAX-EDX), bits",
			 reg, bits);
		return -EINVAL;
	}
	/*
	 * The feature word of the XSAVE leaf (0xD.1 EAX) is the pool
	 * baseline's like any other, while the sizes and the XCR0/XSS masks,
	 * which KVM lays guest state out by, stay refused. XGETBV1 and XSAVES
	 * stay too: 6.1 makes XFD (AMX) depend on them only for bits the
	 * kernel itself clears, so a guest would use AMX without them, a CPU
	 * that does not exist. (0x80000008 EBX, IBPB, SSBD and the like, is
	 * allowed by having no entry.)
	 */
	if (function == 0xd && index == 1 && reg == EAX) {
		if (!(bits & (BIT(2) | BIT(3))))
			return 0;
		snprintf(why, len, "leaf 0xd.1 EAX bits %#lx: XGETBV1/XSAVES, which XFD needs",
			 bits & (BIT(2) | BIT(3)));
		return -EPERM;
	}
	for (i = 0; i < ARRAY_SIZE(refused); i++) {
		const struct refused *r = &refused[i];

		if (r->function != function)
			continue;
		if (r->reg == 4 || (r->reg == reg && (r->bits & bits))) {
			snprintf(why, len, "leaf %#x %s%s: %s", function,
				 reg_names[reg], r->reg == 4 ? "" : " bits",
				 r->why);
			return -EPERM;
		}
	}
	return 0;
}

/**
 * hybrid_index_significant() - does ECX select a subleaf of @function?
 * @function:	a CPUID leaf
 *
 * The leaves 6.1's KVM marks KVM_CPUID_FLAG_SIGNIFCANT_INDEX in the
 * tables it offers (cpuid_function_is_indexed(), do_host_cpuid()). For
 * every other leaf KVM answers any ECX with the same entry, so an
 * override of such a leaf must apply whatever ECX the guest passes. KVM
 * itself follows the flags of the VM's own entries, which the VMM chose:
 * where an entry of a listed leaf has no flag, the guest gets that entry's
 * subleaf for every ECX, and the CPUID hook applies the overrides of that
 * subleaf (hybrid_has_indexed_ovr()).
 */
bool hybrid_index_significant(u32 function)
{
	switch (function) {
	case 0x4: case 0x7: case 0xb: case 0xd: case 0xf: case 0x10:
	case 0x12: case 0x14: case 0x17: case 0x18: case 0x1d: case 0x1e:
	case 0x1f: case 0x8000001d:
		return true;
	}
	return false;
}

/**
 * hybrid_clear_normalize() - a clear's subleaf as KVM matches it
 * @function:	the leaf of the clear
 * @index:	its subleaf as written (or HYBRID_ANY_INDEX); rewritten
 *
 * A leaf without subleaves is one entry for every ECX: "any". A leaf with
 * them means subleaf 0 when none is named ("0x7 ebx" is 0x7.0's EBX, not
 * 0x7.1's). Stored so, a clear and its restore match however written.
 */
void hybrid_clear_normalize(u32 function, u32 *index)
{
	if (!hybrid_index_significant(function))
		*index = HYBRID_ANY_INDEX;
	else if (*index == HYBRID_ANY_INDEX)
		*index = 0;
}

static struct hybrid_ovr *ovr_add(struct hybrid_vcpu_ovr *out, u32 function,
				  u32 index, u32 flags)
{
	struct hybrid_ovr *o;

	if (out->n >= HYBRID_MAX_OVR)
		return NULL;
	o = &out->e[out->n++];
	memset(o, 0, sizeof(*o));
	o->function = function;
	o->index = index;
	o->flags = flags;
	return o;
}

static void ovr_set(struct hybrid_ovr *o, u32 reg, u32 mask, u32 val)
{
	o->mask[reg] = mask;
	o->val[reg] = val & mask;
}

/* Mark the overrides added since @first as @vendor's (HYBRID_OVR_INTEL/AMD). */
static void ovr_tag(struct hybrid_vcpu_ovr *out, u32 first, u32 vendor)
{
	for (; first < out->n; first++)
		out->e[first].flags |= vendor;
}

static int ovr_max_leaf(struct hybrid_vcpu_ovr *out, u32 base, u32 leaf)
{
	struct hybrid_ovr *o = ovr_add(out, base, 0, HYBRID_OVR_MAX_EAX);

	if (!o)
		return -ENOSPC;
	o->val[EAX] = leaf;
	return 0;
}

/* Cache subleaves of @leaf (0x4 or 0x8000001D), then a null subleaf. */
static int ovr_caches(struct hybrid_vcpu_ovr *out,
		      const struct hybrid_core_type *ct, u32 leaf)
{
	struct hybrid_ovr *o;
	u32 i;

	for (i = 0; i < ct->nr_caches; i++) {
		const struct hybrid_cache *c = &ct->caches[i];
		u32 sets = (u32)((u64)c->size_kb * 1024 /
				 ((u64)c->ways * c->line_size));

		o = ovr_add(out, leaf, i, HYBRID_OVR_INDEX);
		if (!o)
			return -ENOSPC;
		/* Type, level, self-initialising, sharing; the cores-per-
		 * package field EAX[31:26] stays the VMM's.
		 */
		ovr_set(o, EAX, GENMASK(25, 0),
			c->type | c->level << 5 | BIT(8) |
			(c->shared_by - 1) << 14);
		ovr_set(o, EBX, ~0U, (c->line_size - 1) | (c->ways - 1) << 22);
		ovr_set(o, ECX, ~0U, sets - 1);
		ovr_set(o, EDX, ~0U, 0);
	}
	o = ovr_add(out, leaf, ct->nr_caches, HYBRID_OVR_INDEX);
	if (!o)
		return -ENOSPC;
	ovr_set(o, EAX, ~0U, 0);
	ovr_set(o, EBX, ~0U, 0);
	ovr_set(o, ECX, ~0U, 0);
	ovr_set(o, EDX, ~0U, 0);
	return 0;
}

/* AMD's legacy 0x80000005 (L1d ECX, L1i EDX) and 0x80000006 (L2 ECX, L3
 * EDX) from the type's caches; a register without a cache stays KVM's.
 */
static int ovr_amd_legacy(struct hybrid_vcpu_ovr *out,
			  const struct hybrid_core_type *ct)
{
	struct hybrid_ovr *l1, *l2;
	u32 i;

	l1 = ovr_add(out, 0x80000005, 0, 0);
	l2 = ovr_add(out, 0x80000006, 0, 0);
	if (!l1 || !l2)
		return -ENOSPC;
	for (i = 0; i < ct->nr_caches; i++) {
		const struct hybrid_cache *c = &ct->caches[i];

		if (c->level == 1)
			ovr_set(l1, c->type == HYBRID_CACHE_INST ? EDX : ECX, ~0U,
				c->size_kb << 24 | c->ways << 16 | 1 << 8 |
				c->line_size);
		else if (c->level == 2)
			ovr_set(l2, ECX, ~0U, c->size_kb << 16 |
				amd_assoc_code(c->ways) << 12 | 1 << 8 |
				c->line_size);
		else
			ovr_set(l2, EDX, ~0U, (c->size_kb / 512) << 18 |
				amd_assoc_code(c->ways) << 12 | 1 << 8 |
				c->line_size);
	}
	return 0;
}

/* Logical CPUs sharing @ct's L3, HYBRID_TOPO_NO_L3 if it has none. */
static u16 type_l3(const struct hybrid_core_type *ct)
{
	u32 i;

	for (i = 0; i < ct->nr_caches; i++)
		if (ct->caches[i].level == 3)
			return ct->caches[i].shared_by;
	return HYBRID_TOPO_NO_L3;
}

/*
 * The profile's L3 is the complex of a type with caches (the guest sees
 * that L3 in 0x8000001D, the profile's too). Note the fewest and most
 * CPUs any vCPU's L3 groups: where they differ, complexes differ in size.
 */
static void ovr_topo_l3(struct hybrid_ovr *o, const struct hybrid_core_type *types,
			const struct hybrid_layout *lay,
			const struct hybrid_core_type *ct)
{
	u32 v;
	u16 l3;

	o->flags |= HYBRID_OVR_TOPO_L3;
	o->l3[0] = type_l3(ct);
	o->l3[1] = o->l3[0];
	o->l3[2] = o->l3[0];
	for (v = 0; v < lay->nr_vcpus; v++) {
		l3 = type_l3(&types[lay->vcpu_type[v]]);
		o->l3[1] = min(o->l3[1], l3);
		o->l3[2] = max(o->l3[2], l3);
	}
}

/**
 * hybrid_pmu_leaf() - a core type's leaf 0xA, clamped to a vCPU's vPMU
 * @ct:		the core type
 * @cap:	what KVM's vPMU of that vCPU counts
 * @regs:	out: EAX, EBX, ECX, EDX
 *
 * Every field is the smaller of the profile's and KVM's: the version,
 * the counters and their widths, the events enumerated (an event either
 * lacks is unavailable). Fixed counters need version 2, the fixed-counter
 * bitmap (ECX) version 5. A guest never sees a counter that does not count.
 *
 * Return: false if the core type has no PMU leaf or the vCPU no vPMU
 * that leaf 0xA describes (@regs untouched): leaf 0xA stays KVM's.
 */
bool hybrid_pmu_leaf(const struct hybrid_core_type *ct,
		     const struct hybrid_pmu_cap *cap, u32 regs[4])
{
	u32 ver, mlen, fixed = 0, fwidth = 0, fmask = 0;

	if (!(ct->flags & HYBRID_CT_PMU) || !ct->pmu_version || !cap->version)
		return false;
	ver = min_t(u32, ct->pmu_version, cap->version);
	mlen = min_t(u32, 8, cap->mask_len);
	if (ver >= 2) {
		fixed = min_t(u32, ct->pmu_fixed_counters, cap->fixed);
		fwidth = fixed ? min_t(u32, ct->pmu_fixed_width, cap->fixed_width) : 0;
	}
	if (ver >= 5 && cap->fixed)
		fmask = ct->pmu_fixed_mask & GENMASK(cap->fixed - 1, 0);
	regs[EAX] = ver | min_t(u32, ct->pmu_gp_counters, cap->gp) << 8 |
		min_t(u32, ct->pmu_gp_width, cap->gp_width) << 16 | mlen << 24;
	regs[EBX] = (ct->pmu_events_unavailable | cap->unavailable) &
		(mlen ? GENMASK(mlen - 1, 0) : 0);
	regs[ECX] = fmask;
	regs[EDX] = fixed | fwidth << 5;
	return true;
}

/**
 * hybrid_compile_vcpu() - the overrides of one vCPU
 * @types:	the profile's core types (validated)
 * @nr_types:	entries of @types
 * @lay:	the layout (validated)
 * @vcpu:	vCPU index
 * @clears:	feature clears in force (validated)
 * @nr_clears:	entries of @clears
 * @out:	the result
 *
 * Return: 0, -EINVAL for a bad @vcpu, -ENOSPC if the overrides do not fit.
 */
int hybrid_compile_vcpu(const struct hybrid_core_type *types, u32 nr_types,
			const struct hybrid_layout *lay, u32 vcpu,
			const struct hybrid_clear *clears, u32 nr_clears,
			struct hybrid_vcpu_ovr *out)
{
	const struct hybrid_core_type *ct;
	struct hybrid_ovr *o;
	u32 i, pmu[4], first;
	int ret;

	out->n = 0;
	if (vcpu >= lay->nr_vcpus || lay->vcpu_type[vcpu] >= nr_types)
		return -EINVAL;
	ct = &types[lay->vcpu_type[vcpu]];

	if (ct->flags & HYBRID_CT_INTEL) {
		first = out->n;
		ret = ovr_max_leaf(out, 0x0, 0x1a);
		if (ret)
			return ret;
		o = ovr_add(out, 0x7, 0, HYBRID_OVR_INDEX);
		if (!o)
			return -ENOSPC;
		ovr_set(o, EDX, BIT(15), BIT(15));
		o = ovr_add(out, 0x1a, 0, 0);
		if (!o)
			return -ENOSPC;
		ovr_set(o, EAX, ~0U, ct->intel_core_type << 24 |
			ct->native_model_id);
		ovr_set(o, EBX, ~0U, 0);
		ovr_set(o, ECX, ~0U, 0);
		ovr_set(o, EDX, ~0U, 0);
		ovr_tag(out, first, HYBRID_OVR_INTEL);
	}
	if (ct->flags & HYBRID_CT_AMD) {
		first = out->n;
		ret = ovr_max_leaf(out, 0x80000000, 0x80000026);
		if (ret)
			return ret;
		/*
		 * The core fields of subleaf 0; a table build makes every
		 * level around them from the vCPU's own topology leaves
		 * (hybrid_amd_topo()).
		 */
		o = ovr_add(out, 0x80000026, 0, HYBRID_OVR_INDEX | HYBRID_OVR_TOPO);
		if (!o)
			return -ENOSPC;
		ovr_set(o, EAX, BIT(29) | BIT(30), BIT(29) | BIT(30));
		ovr_set(o, EBX, GENMASK(31, 16),
			(u32)ct->amd_core_type << 28 |
			(ct->native_model_id & 0xf) << 24 |
			(u32)ct->amd_efficiency << 16);
		if (ct->flags & HYBRID_CT_CACHE)
			ovr_topo_l3(o, types, lay, ct);
		ovr_tag(out, first, HYBRID_OVR_AMD);
	}
	if (ct->flags & HYBRID_CT_CACHE) {
		ret = ovr_caches(out, ct, 0x4);
		first = out->n;
		if (!ret && ct->flags & HYBRID_CT_AMD)
			ret = ovr_caches(out, ct, 0x8000001d);
		if (!ret && ct->flags & HYBRID_CT_AMD)
			ret = ovr_amd_legacy(out, ct);
		if (ret)
			return ret;
		ovr_tag(out, first, HYBRID_OVR_AMD);
	}
	if (ct->flags & HYBRID_CT_FREQ) {
		ret = ovr_max_leaf(out, 0x0, 0x16);
		if (ret)
			return ret;
		o = ovr_add(out, 0x16, 0, 0);
		if (!o)
			return -ENOSPC;
		ovr_set(o, EAX, ~0U, ct->base_mhz);
		ovr_set(o, EBX, ~0U, ct->max_mhz);
		ovr_set(o, ECX, ~0U, ct->bus_mhz);
		ovr_set(o, EDX, ~0U, 0);
	}
	if (lay->pmu && hybrid_pmu_leaf(ct, &lay->pmu[vcpu], pmu)) {
		ret = ovr_max_leaf(out, 0x0, 0xa);
		if (ret)
			return ret;
		o = ovr_add(out, 0xa, 0, 0);
		if (!o)
			return -ENOSPC;
		for (i = 0; i < 4; i++)
			ovr_set(o, i, ~0U, pmu[i]);
	}
	for (i = 0; i < nr_clears; i++) {
		const struct hybrid_clear *c = &clears[i];

		if (c->vcpu != HYBRID_ALL_VCPUS && c->vcpu != vcpu)
			continue;
		/* Subleaves as hybrid_clear_normalize() left them. */
		o = ovr_add(out, c->function, c->index,
			    HYBRID_OVR_CLEAR | (c->index == HYBRID_ANY_INDEX ?
						0 : HYBRID_OVR_INDEX));
		if (!o)
			return -ENOSPC;
		ovr_set(o, c->reg, c->bits, 0);
	}
	return 0;
}

/*
 * What a vCPU's table says of its topology, as the guest reads it: the
 * SMT level (logical CPUs per core) and the package level, each with the
 * x2APIC id shift to the next level's id and the logical CPUs in it.
 */
struct amd_topo {
	u32 smt_shift;
	u32 smt_count;
	u32 pkg_shift;
	u32 pkg_count;
	u32 x2apic;
};

/* Entry KVM answers CPUID @fn.@idx from, if @fn is within the table's maximum. */
static const struct kvm_cpuid_entry2 *leaf_in_range(const struct kvm_cpuid_entry2 *e,
						    u32 n, u32 fn, u32 idx)
{
	const struct kvm_cpuid_entry2 *max;

	max = hybrid_find_entry(e, n, fn & 0x80000000, 0, true);
	if (!max || max->eax < fn)
		return NULL;
	return hybrid_find_entry(e, n, fn, idx, false);
}

/* TopologyExtensions (0x80000001 ECX[22]): 0x8000001D and 0x8000001E exist. */
static bool has_topoext(const struct kvm_cpuid_entry2 *e, u32 n)
{
	const struct kvm_cpuid_entry2 *x = leaf_in_range(e, n, 0x80000001, 0);

	return x && x->ecx & BIT(22);
}

/* Leaf 0xB: subleaf 0 the SMT level (type 1), subleaf 1 the core level
 * (type 2), whose shift and count are the package's.
 */
static bool topo_0b(const struct kvm_cpuid_entry2 *e, u32 n, struct amd_topo *t)
{
	const struct kvm_cpuid_entry2 *l0 = leaf_in_range(e, n, 0xb, 0);
	const struct kvm_cpuid_entry2 *l1 = leaf_in_range(e, n, 0xb, 1);

	if (!l0 || !l1 || (l0->ecx >> 8 & 0xff) != 1 ||
	    (l1->ecx >> 8 & 0xff) != 2)
		return false;
	t->smt_shift = l0->eax & 0x1f;
	t->smt_count = l0->ebx & 0xffff;
	t->pkg_shift = l1->eax & 0x1f;
	t->pkg_count = l1->ebx & 0xffff;
	t->x2apic = l0->edx;
	return t->smt_count && t->pkg_count >= t->smt_count &&
	       t->pkg_shift >= t->smt_shift;
}

/*
 * Without 0xB, as Linux reads an AMD CPU: 0x80000008 ECX the package
 * (NC: CPUs - 1, ApicIdSize: its shift, 0 for "from NC"), 0x8000001E
 * (with TopologyExtensions) the threads per core and the extended APIC
 * id; without it one thread per core and leaf 1's APIC id.
 */
static bool topo_legacy(const struct kvm_cpuid_entry2 *e, u32 n, struct amd_topo *t)
{
	const struct kvm_cpuid_entry2 *x8 = leaf_in_range(e, n, 0x80000008, 0);
	const struct kvm_cpuid_entry2 *x1e = NULL, *l1;
	u32 threads = 1;

	if (!x8)
		return false;
	if (has_topoext(e, n))
		x1e = leaf_in_range(e, n, 0x8000001e, 0);
	if (x1e) {
		threads = (x1e->ebx >> 8 & 0xff) + 1;
		t->x2apic = x1e->eax;
	} else {
		l1 = leaf_in_range(e, n, 0x1, 0);
		if (!l1)
			return false;
		t->x2apic = l1->ebx >> 24;
	}
	t->pkg_count = (x8->ecx & 0xff) + 1;
	t->pkg_shift = x8->ecx >> 12 & 0xf;
	if (!t->pkg_shift)
		t->pkg_shift = order_base_2(t->pkg_count);
	t->smt_count = threads;
	t->smt_shift = order_base_2(threads);
	return t->pkg_count >= threads && t->pkg_shift >= t->smt_shift;
}

/* Logical CPUs sharing the L3 of KVM's 0x8000001D, HYBRID_TOPO_NO_L3 if none. */
static u16 kvm_l3(const struct kvm_cpuid_entry2 *e, u32 n)
{
	const struct kvm_cpuid_entry2 *c;
	u32 i;

	if (!has_topoext(e, n))
		return HYBRID_TOPO_NO_L3;
	for (i = 0; i < 8; i++) {
		c = leaf_in_range(e, n, 0x8000001d, i);
		if (!c || !(c->eax & 0x1f))
			break;
		if ((c->eax >> 5 & 0x7) == 3)
			return (c->eax >> 14 & 0xfff) + 1;
	}
	return HYBRID_TOPO_NO_L3;
}

/*
 * The complex level's shift for an L3 shared by @l3 CPUs: within the
 * SMT and the package shifts. An L3 that spans the package, or none,
 * makes the package one complex.
 */
static u32 complex_shift(u32 l3, const struct amd_topo *t)
{
	if (l3 == HYBRID_TOPO_NO_L3)
		return t->pkg_shift;
	return clamp_t(u32, order_base_2(l3), t->smt_shift, t->pkg_shift);
}

/**
 * hybrid_amd_topo() - the levels of a vCPU's leaf 0x80000026
 * @ov:		the vCPU's overrides
 * @vendor:	its table's vendor (hybrid_table_vendor())
 * @e:		its table, as the VMM set it
 * @n:		entries of @e
 * @lv:		out: EAX-EDX of subleaves 0 .. return - 1
 *
 * AMD's extended topology leaf, one subleaf per level from the core up,
 * agreeing with the topology the rest of the vCPU's table shows: the core
 * level (type 1) and the package from leaf 0xB (or, without it,
 * 0x80000008 and 0x8000001E), between them the complex (type 2) of the
 * L3: the profile's with HYBRID_OVR_TOPO_L3, else KVM's 0x8000001D; above
 * it the die (CCD, type 3) and the socket (type 4), both the package, as
 * 0xB has the die. A complex whose shift is the core's adds nothing and
 * is left out, as real CPUs do. A package with no L3, or one L3, is one
 * complex, with no die or socket level: Linux 6.9+ maps type 1 to its SMT
 * domain, 2 to CORE, 3 to TILE and 4 to DIE, carries a shift up to the
 * domains above, and takes the die id from the domain below DIE, so every
 * die id is the package's, as from 0xB.
 *
 * Per level: EAX[4:0] the shift, EBX[15:0] the logical CPUs at the level,
 * ECX[7:0] the subleaf, ECX[15:8] the level type, EDX the x2APIC id
 * (Linux checks it is the same at every level).
 * Core level only: EBX[31:16] (core type, native model id, efficiency
 * ranking), which the APM defines for level type 1 only and Linux reads
 * as cpuid_ebx(0x80000026), i.e. subleaf 0; and EAX[29] (efficiency
 * ranking valid, type-1 only too) and EAX[30] (heterogeneous cores),
 * which Linux reads from subleaf 0 as well (X86_FEATURE_AMD_HTR_CORES):
 * on the higher levels they would claim fields those levels do not have.
 * EAX[31] (asymmetric topology) on the complex and socket levels when
 * the layout's core types have L3s of different sizes: the complexes
 * then hold different numbers of CPUs (and shifts: a complex is its
 * L3's x2APIC group, as 0x8000001D tells the guest; Linux 6.9+, which
 * wants one shift per level on all CPUs, logs a firmware bug for that,
 * and keeps the boot CPU's shifts). KVM's 0x8000001D is one table's,
 * which the profile does not make asymmetric.
 * A subleaf past the last is no entry: KVM answers zeros for it (an AMD
 * guest's absent subleaf), which ends a guest's walk (type 0, count 0).
 *
 * Return: the number of levels; 0 if the overrides have no AMD topology
 * line for @vendor; -EEXIST if @e has a 0x80000026 of its own (the VMM's
 * levels stay, with the core fields); -ENOENT if @e has no topology the
 * guest could read (then only the core fields of subleaf 0).
 */
int hybrid_amd_topo(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		    const struct kvm_cpuid_entry2 *e, u32 n,
		    u32 lv[HYBRID_AMD_LEVELS][4])
{
	const struct hybrid_ovr *o = NULL;
	struct amd_topo t;
	u32 i, nl = 0, shift, asym = 0;
	u16 l3;

	for (i = 0; i < ov->n && !o; i++)
		if (ov->e[i].flags & HYBRID_OVR_TOPO && hybrid_ovr_for(&ov->e[i], vendor))
			o = &ov->e[i];
	if (!o)
		return 0;
	if (hybrid_find_entry(e, n, 0x80000026, 0, true))
		return -EEXIST;
	if (!topo_0b(e, n, &t) && !topo_legacy(e, n, &t))
		return -ENOENT;
	l3 = o->flags & HYBRID_OVR_TOPO_L3 ? o->l3[0] : kvm_l3(e, n);
	if (o->flags & HYBRID_OVR_TOPO_L3 &&
	    complex_shift(o->l3[1], &t) != complex_shift(o->l3[2], &t))
		asym = BIT(31);

	memset(lv, 0, HYBRID_AMD_LEVELS * sizeof(lv[0]));
	lv[0][EAX] = t.smt_shift | o->val[EAX];
	lv[0][EBX] = t.smt_count | o->val[EBX];
	lv[0][ECX] = 1 << 8;
	shift = t.smt_shift;
	nl = 1;
	if (complex_shift(l3, &t) > shift) {
		shift = complex_shift(l3, &t);
		lv[nl][EAX] = shift | asym;
		lv[nl][EBX] = shift == t.pkg_shift ? t.pkg_count :
			      min_t(u32, l3, t.pkg_count);
		lv[nl][ECX] = nl | 2 << 8;
		nl++;
	}
	/*
	 * Below the package: the die (CCD, type 3) at the package's shift,
	 * then the socket. Linux 6.9+ takes a CPU's die id from the shift of
	 * the domain below its DIE (the CCD's, AMD type 3: its TILE); with
	 * no type 3 that is the complex's (or the core's) shift, and every
	 * complex (or core) would be a die of its own where 0xB says the
	 * package is one die.
	 */
	if (t.pkg_shift > shift) {
		lv[nl][EAX] = t.pkg_shift | asym;
		lv[nl][EBX] = t.pkg_count;
		lv[nl][ECX] = nl | 3 << 8;
		nl++;
		lv[nl][EAX] = t.pkg_shift | asym;
		lv[nl][EBX] = t.pkg_count;
		lv[nl][ECX] = nl | 4 << 8;
		nl++;
	}
	for (i = 0; i < nl; i++)
		lv[i][EDX] = t.x2apic;
	return nl;
}

/**
 * hybrid_added_base() - what an entry hybrid_table_build() adds holds
 * before the overrides apply
 * @ov:		the vCPU's overrides
 * @vendor:	the vendor of @src
 * @src:	the VMM's table the entry was added to
 * @n:		entries of @src
 * @function:	the entry's leaf
 * @index:	its subleaf
 * @regs:	out: a level of 0x80000026 (hybrid_amd_topo()), else zeros
 */
void hybrid_added_base(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		       const struct kvm_cpuid_entry2 *src, u32 n, u32 function,
		       u32 index, u32 regs[4])
{
	u32 lv[HYBRID_AMD_LEVELS][4];
	int nl;

	memset(regs, 0, 4 * sizeof(*regs));
	if (function != 0x80000026)
		return;
	nl = hybrid_amd_topo(ov, vendor, src, n, lv);
	if (nl > 0 && index < (u32)nl)
		memcpy(regs, lv[index], sizeof(lv[index]));
}

/**
 * hybrid_ovr_for() - does override @o apply to a guest of @vendor?
 * @o:		an override
 * @vendor:	the guest's vendor, as hybrid_table_vendor() names it
 *
 * A profile's Intel and AMD lines apply to guests of that vendor only;
 * everything else (caches in 0x4, frequency, the PMU leaf, clears) to all.
 */
bool hybrid_ovr_for(const struct hybrid_ovr *o, u32 vendor)
{
	return !(o->flags & HYBRID_OVR_VENDOR) || (o->flags & vendor);
}

/* Does @o apply to CPUID @function.@index of a guest of @vendor? */
static bool ovr_matches(const struct hybrid_ovr *o, u32 vendor, u32 function,
			u32 index)
{
	return o->function == function && hybrid_ovr_for(o, vendor) &&
	       (!(o->flags & HYBRID_OVR_INDEX) || o->index == index);
}

/**
 * hybrid_apply() - rewrite one CPUID result with a vCPU's overrides
 * @ov:		the vCPU's overrides
 * @vendor:	the guest's vendor (hybrid_table_vendor() of its table)
 * @function:	the leaf the guest asked for
 * @index:	its subleaf
 * @regs:	EAX-EDX as KVM computed them; rewritten in place
 *
 * Overrides apply in order, so feature clears (compiled last) win.
 */
void hybrid_apply(const struct hybrid_vcpu_ovr *ov, u32 vendor, u32 function,
		  u32 index, u32 regs[4])
{
	u32 i, r;

	for (i = 0; i < ov->n; i++) {
		const struct hybrid_ovr *o = &ov->e[i];

		if (!ovr_matches(o, vendor, function, index))
			continue;
		if (o->flags & HYBRID_OVR_MAX_EAX) {
			regs[EAX] = max(regs[EAX], o->val[EAX]);
			continue;
		}
		for (r = 0; r < 4; r++)
			regs[r] = (regs[r] & ~o->mask[r]) | o->val[r];
	}
}

/**
 * hybrid_ovr_mask() - the bits of one entry's registers the overrides own
 * @ov:		the vCPU's overrides
 * @vendor:	the guest's vendor
 * @function:	the entry's leaf
 * @index:	its subleaf
 * @mask:	out: per register, the bits hybrid_apply() may change
 *
 * A raised maximum (HYBRID_OVR_MAX_EAX) owns the whole of EAX.
 */
void hybrid_ovr_mask(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		     u32 function, u32 index, u32 mask[4])
{
	u32 i, r;

	memset(mask, 0, 4 * sizeof(*mask));
	for (i = 0; i < ov->n; i++) {
		const struct hybrid_ovr *o = &ov->e[i];

		if (!ovr_matches(o, vendor, function, index))
			continue;
		if (o->flags & HYBRID_OVR_MAX_EAX) {
			mask[EAX] = ~0U;
			continue;
		}
		for (r = 0; r < 4; r++)
			mask[r] |= o->mask[r];
	}
}

/**
 * hybrid_find_entry() - look a leaf up in a CPUID table as KVM does
 * @e:		the table
 * @n:		its entries
 * @function:	the leaf
 * @index:	the subleaf; it matters only for an entry with
 *		KVM_CPUID_FLAG_SIGNIFCANT_INDEX (6.1's cpuid_entry2_find())
 * @any_index:	the first entry of @function whatever its subleaf
 *		(6.1's kvm_find_cpuid_entry())
 *
 * Return: the entry, or NULL.
 */
const struct kvm_cpuid_entry2 *hybrid_find_entry(const struct kvm_cpuid_entry2 *e,
						 u32 n, u32 function, u32 index,
						 bool any_index)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (e[i].function == function &&
		    (any_index || !(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     e[i].index == index))
			return &e[i];
	return NULL;
}

/* Append a zero entry, unless there is no room. */
static int tbl_add(struct kvm_cpuid_entry2 *dst, u32 *n, u32 cap, u32 function,
		   u32 index, u32 flags)
{
	if (*n >= cap)
		return -E2BIG;
	memset(&dst[*n], 0, sizeof(dst[*n]));
	dst[*n].function = function;
	dst[*n].index = index;
	dst[*n].flags = flags;
	(*n)++;
	return 0;
}

/**
 * hybrid_table_build() - a vCPU's CPUID table with its overrides in it
 * @ov:		the vCPU's overrides (the profile's; feature clears too if any)
 * @src:	the VMM's table as KVM holds it
 * @n:		its entries
 * @dst:	out: @src's entries, rewritten, then the added ones; may be @src
 * @mask:	out, may be NULL: per entry and register, the bits the
 *		overrides own (all of an added entry), to undo them later
 * @cap:	room in @dst (and @mask): @n + HYBRID_TABLE_EXTRA_MAX is enough
 * @all_leaves:	a table for the VMM to set (HYBRID_IOC_CPUID2): every
 *		override; else KVM's live table: not leaf 0xA (below)
 *
 * The guest must see from KVM's table what it would have seen from KVM
 * plus the overrides applied to each answer:
 * - each of @src's entries is rewritten as hybrid_apply() would rewrite
 *   KVM's answer from it (an entry without KVM_CPUID_FLAG_SIGNIFCANT_INDEX
 *   answers every ECX, with the overrides of its own subleaf);
 * - a leaf or subleaf an override names that @src does not have is
 *   added (with the flag when the override names a subleaf), zeros plus
 *   the override, as KVM answers an absent leaf within range; the
 *   levels of 0x80000026 are added first, each as hybrid_amd_topo()
 *   makes it (hybrid_added_base()) plus the core fields. Other
 *   absent leaves need nothing: with leaf 0's (0x80000000's) EAX raised in
 *   the table, 6.1's KVM answers any leaf up to it that it does not have
 *   with zeros (get_out_of_range_cpuid_entry() redirects only above it).
 *   A table without leaf 0 (or 0x80000000) gets none: KVM answers every
 *   absent leaf of such a table with zeros, and would not with a leaf 0
 *   whose vendor is not AMD; the raised maximum is then not shown;
 * - in KVM's live table leaf 0xA is left as the VMM gave it: KVM reads it
 *   again whenever it refreshes the vPMU (a host write of
 *   PERF_CAPABILITIES) and must keep counting what the VMM asked for. Its
 *   overrides are the hook's. A VMM that sets a table with them asks KVM
 *   for that vPMU itself.
 *
 * Return: the entries in @dst, or -E2BIG.
 */
int hybrid_table_build(const struct hybrid_vcpu_ovr *ov,
		       const struct kvm_cpuid_entry2 *src, u32 n,
		       struct kvm_cpuid_entry2 *dst, u32 (*mask)[4], u32 cap,
		       bool all_leaves)
{
	u32 i, out = n, regs[4], vendor, lv[HYBRID_AMD_LEVELS][4];
	int ret, nl;

	if (n > cap)
		return -E2BIG;
	vendor = hybrid_table_vendor(src, n);
	/* Before @dst is written: it may be @src. */
	nl = hybrid_amd_topo(ov, vendor, src, n, lv);
	if (dst != src)
		memcpy(dst, src, n * sizeof(*dst));
	for (i = 0; nl > 0 && i < (u32)nl; i++) {
		ret = tbl_add(dst, &out, cap, 0x80000026, i,
			      KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		if (ret)
			return ret;
		dst[out - 1].eax = lv[i][EAX];
		dst[out - 1].ebx = lv[i][EBX];
		dst[out - 1].ecx = lv[i][ECX];
		dst[out - 1].edx = lv[i][EDX];
	}
	for (i = 0; i < ov->n; i++) {
		const struct hybrid_ovr *o = &ov->e[i];
		bool indexed = o->flags & HYBRID_OVR_INDEX;

		if (o->flags & (HYBRID_OVR_CLEAR | HYBRID_OVR_MAX_EAX) ||
		    !hybrid_ovr_for(o, vendor) ||
		    (!all_leaves && !hybrid_table_leaf(o->function)) ||
		    hybrid_find_entry(dst, out, o->function, o->index, !indexed))
			continue;
		ret = tbl_add(dst, &out, cap, o->function, indexed ? o->index : 0,
			      indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0);
		if (ret)
			return ret;
	}
	for (i = 0; i < out; i++) {
		if (!all_leaves && !hybrid_table_leaf(dst[i].function)) {
			if (mask)
				memset(mask[i], 0, sizeof(mask[i]));
			continue;
		}
		regs[0] = dst[i].eax;
		regs[1] = dst[i].ebx;
		regs[2] = dst[i].ecx;
		regs[3] = dst[i].edx;
		hybrid_apply(ov, vendor, dst[i].function, dst[i].index, regs);
		dst[i].eax = regs[0];
		dst[i].ebx = regs[1];
		dst[i].ecx = regs[2];
		dst[i].edx = regs[3];
		if (!mask)
			continue;
		if (i < n)
			hybrid_ovr_mask(ov, vendor, dst[i].function, dst[i].index,
					mask[i]);
		else
			memset(mask[i], 0xff, sizeof(mask[i]));
	}
	return out;
}

/**
 * hybrid_table_leaf() - may overrides of @function live in KVM's table?
 * @function:	a leaf
 *
 * All but leaf 0xA (see hybrid_table_build()).
 */
bool hybrid_table_leaf(u32 function)
{
	return function != 0xa;
}

/**
 * hybrid_has_indexed_ovr() - does an override of @function name a subleaf?
 * @ov:		the vCPU's overrides
 * @function:	a leaf
 *
 * Only then does the subleaf the VM's own entry stands for matter.
 */
bool hybrid_has_indexed_ovr(const struct hybrid_vcpu_ovr *ov, u32 function)
{
	u32 i;

	for (i = 0; i < ov->n; i++)
		if (ov->e[i].function == function && ov->e[i].flags & HYBRID_OVR_INDEX)
			return true;
	return false;
}

/**
 * hybrid_raised_max() - the maximum leaf the overrides give @function's class
 * @ov:		the vCPU's overrides
 * @vendor:	the guest's vendor
 * @function:	a basic (below 0x80000000) or extended leaf
 *
 * Return: the raised maximum of leaf 0 or 0x80000000 (whichever is
 * @function's class), 0 if the profile does not raise it.
 */
u32 hybrid_raised_max(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		      u32 function)
{
	u32 base, i, top = 0;

	if (function >= 0x40000000 && function < 0x80000000)
		return 0;
	if (function >= 0xc0000000)
		return 0;
	base = function & 0x80000000;
	for (i = 0; i < ov->n; i++)
		if (ov->e[i].function == base && ov->e[i].flags & HYBRID_OVR_MAX_EAX &&
		    hybrid_ovr_for(&ov->e[i], vendor))
			top = max(top, ov->e[i].val[EAX]);
	return top;
}

/**
 * hybrid_vendor_redirects() - does KVM answer out-of-range leaves with the
 * highest basic leaf for a guest of this vendor?
 * @ebx:	CPUID.0 EBX of the VM's table
 * @ecx:	its ECX
 * @edx:	its EDX
 *
 * 6.1's get_out_of_range_cpuid_entry(): every vendor but AMD and Hygon.
 */
bool hybrid_vendor_redirects(u32 ebx, u32 ecx, u32 edx)
{
	/* "AuthenticAMD", "AMDisbetter!", "HygonGenuine" */
	if (ebx == 0x68747541 && ecx == 0x444d4163 && edx == 0x69746e65)
		return false;
	if (ebx == 0x69444d41 && ecx == 0x21726574 && edx == 0x74656273)
		return false;
	if (ebx == 0x6f677948 && ecx == 0x656e6975 && edx == 0x6e65476e)
		return false;
	return true;
}

/**
 * hybrid_table_vendor() - the vendor a CPUID table shows its guest
 * @e:		the table (KVM's for a vCPU, or one a VMM will set)
 * @n:		its entries
 *
 * Return: HYBRID_OVR_INTEL for "GenuineIntel", HYBRID_OVR_AMD for
 * "AuthenticAMD", "AMDisbetter!" and "HygonGenuine", 0 for any other or
 * no leaf 0 (then neither vendor's lines apply).
 */
u32 hybrid_table_vendor(const struct kvm_cpuid_entry2 *e, u32 n)
{
	const struct kvm_cpuid_entry2 *l0 = hybrid_find_entry(e, n, 0, 0, true);

	if (!l0)
		return 0;
	if (l0->ebx == 0x756e6547 && l0->edx == 0x49656e69 && l0->ecx == 0x6c65746e)
		return HYBRID_OVR_INTEL;
	return hybrid_vendor_redirects(l0->ebx, l0->ecx, l0->edx) ? 0 : HYBRID_OVR_AMD;
}

const struct hybrid_fword hybrid_fwords[HYBRID_NR_FEATURE_WORDS] = {
	{ 0x1, 0, ECX }, { 0x1, 0, EDX }, { 0x7, 0, EBX }, { 0x7, 0, ECX },
	{ 0x7, 0, EDX }, { 0x7, 1, EAX }, { 0xd, 1, EAX },
	{ 0x80000001, 0, ECX }, { 0x80000001, 0, EDX }, { 0x80000007, 0, EDX },
	{ 0x80000008, 0, EBX }, { 0x80000021, 0, EAX }, { 0x6, 0, EAX },
	{ 0x40000001, 0, EAX },
};

/**
 * hybrid_baseline() - the features every set has
 * @sets:	feature words of hosts, profiles or VMs
 * @nr_sets:	entries of @sets, at least 1
 * @out:	the bitwise AND of all sets
 *
 * Return: 0, or -EINVAL if @nr_sets is 0 or a set uses the reserved words.
 */
int hybrid_baseline(const struct hybrid_features *sets, u32 nr_sets,
		    struct hybrid_features *out)
{
	u32 i, w;

	if (!nr_sets)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++)
		out->word[w] = ~0U;
	for (i = 0; i < nr_sets; i++) {
		for (w = 0; w < ARRAY_SIZE(out->word); w++) {
			if (w >= HYBRID_NR_FEATURE_WORDS) {
				if (sets[i].word[w])
					return -EINVAL;
				continue;
			}
			out->word[w] &= sets[i].word[w];
		}
	}
	return 0;
}

/**
 * hybrid_missing() - which features of a VM a baseline lacks
 * @vm:		the VM's feature words
 * @base:	a pool's baseline
 * @missing:	out: @vm & ~@base, word by word
 *
 * Return: the number of missing bits; 0 when the VM is a subset of the
 * baseline (it can run, or migrate, anywhere in the pool).
 */
u32 hybrid_missing(const struct hybrid_features *vm,
		   const struct hybrid_features *base,
		   struct hybrid_features *missing)
{
	u32 w, n = 0;

	memset(missing, 0, sizeof(*missing));
	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++) {
		missing->word[w] = vm->word[w] & ~base->word[w];
		n += hweight32(missing->word[w]);
	}
	return n;
}

/* Architectural events by 0xA EBX bit: event select | umask << 8. */
static const u16 hybrid_arch_events[HYBRID_PMU_MAX_EVENTS] = {
	0x003c,	/* unhalted core cycles */
	0x00c0,	/* instructions retired */
	0x013c,	/* unhalted reference cycles */
	0x4f2e,	/* LLC references */
	0x412e,	/* LLC misses */
	0x00c4,	/* branch instructions retired */
	0x00c5,	/* branch misses retired */
	0x01a4,	/* topdown slots */
};

/**
 * hybrid_pmu_filter() - the VM-wide allow list for a profile's vPMU
 * @types:	core types (with HYBRID_CT_PMU)
 * @nr_types:	entries of @types
 * @events:	out: the architectural events some type offers
 * @nevents:	out: entries of @events
 * @fixed_bitmap: out: the fixed counters some type offers
 *
 * A type offers event n if 0xA EBX bit n is clear; fixed counters are its
 * fixed_mask (version 5) or counters 0..pmu_fixed_counters-1.
 */
void hybrid_pmu_filter(const struct hybrid_core_type *types, u32 nr_types,
		       u64 events[HYBRID_PMU_MAX_EVENTS], u32 *nevents,
		       u32 *fixed_bitmap)
{
	u32 offered = 0, fixed = 0, t, i;

	for (t = 0; t < nr_types; t++) {
		const struct hybrid_core_type *ct = &types[t];

		if (!(ct->flags & HYBRID_CT_PMU) || !ct->pmu_version)
			continue;
		offered |= ~ct->pmu_events_unavailable & 0xff;
		if (ct->pmu_version >= 5)
			fixed |= ct->pmu_fixed_mask;
		else if (ct->pmu_fixed_counters)
			fixed |= GENMASK(ct->pmu_fixed_counters - 1, 0);
	}
	*nevents = 0;
	for (i = 0; i < HYBRID_PMU_MAX_EVENTS; i++)
		if (offered & BIT(i))
			events[(*nevents)++] = hybrid_arch_events[i];
	*fixed_bitmap = fixed;
}
