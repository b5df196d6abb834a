/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm_hybrid's CPUID table compiler: pure code (no KVM, no locking), so
 * KUnit can test it on its own (hybrid_kunit.c).
 *
 * A binding's profile (core types, vCPU -> type map, the vCPUs' x2APIC ids)
 * and its feature clears compile into one list of overrides per vCPU. An
 * override matches a leaf (and subleaf) and replaces the bits of @mask in
 * each register with those of @val; HYBRID_OVR_MAX_EAX raises EAX to at
 * least val[0] instead (the maximum-leaf leaves 0x0 and 0x80000000).
 */
#ifndef _KVM_HYBRID_CPUID_H
#define _KVM_HYBRID_CPUID_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/kvm.h>
#include <uapi/linux/hvkit.h>

#define HYBRID_OVR_INDEX	BIT(0)	/* @index must match */
#define HYBRID_OVR_MAX_EAX	BIT(1)
#define HYBRID_OVR_CLEAR	BIT(2)	/* from a feature clear */
/*
 * A profile's Intel lines (HYBRID_CT_INTEL: 0x1A, 7.EDX[15] and the
 * maximum raised for them) apply only to a guest whose CPUID leaf 0 says
 * GenuineIntel; its AMD lines (HYBRID_CT_AMD: 0x80000026, and 0x8000001D
 * and the legacy cache leaves) only to AuthenticAMD, AMDisbetter! or
 * HygonGenuine. The
 * same bits name a table's vendor (hybrid_table_vendor(); 0: another).
 */
#define HYBRID_OVR_INTEL	BIT(3)
#define HYBRID_OVR_AMD		BIT(4)
#define HYBRID_OVR_VENDOR	(HYBRID_OVR_INTEL | HYBRID_OVR_AMD)
/*
 * 0x80000026.0 of a core type: its mask and values are the core fields
 * (EAX[30:29], EBX[31:16]), which hybrid_apply() applies alone wherever
 * no CPUID table is at hand (the CPUID hook, a table without topology);
 * a table build also makes every level of the leaf from the vCPU's own
 * table (hybrid_amd_topo()), with @l3 for the complex level.
 */
#define HYBRID_OVR_TOPO		BIT(5)
/* @l3 is the profile's L3 sharing (else KVM's 0x8000001D L3's) */
#define HYBRID_OVR_TOPO_L3	BIT(6)

/* Enough for every leaf of one core type plus the feature clears. */
#define HYBRID_MAX_OVR		64
#define HYBRID_MAX_CLEARS	24

struct hybrid_ovr {
	u32 function;
	u32 index;
	u32 flags;
	u32 mask[4];
	u32 val[4];
	/*
	 * HYBRID_OVR_TOPO_L3: logical CPUs sharing an L3 of this vCPU's
	 * type, and the fewest and most of any vCPU's type in the layout
	 * (HYBRID_TOPO_NO_L3: a type without an L3).
	 */
	u16 l3[3];
};

#define HYBRID_TOPO_NO_L3	0xffff
/* 0x80000026 levels kvm_hybrid makes: core, complex, socket */
#define HYBRID_AMD_LEVELS	4

struct hybrid_vcpu_ovr {
	u32 n;
	struct hybrid_ovr e[HYBRID_MAX_OVR];
};

/* One feature clear in force: @vcpu may be HYBRID_ALL_VCPUS. */
struct hybrid_clear {
	u32 vcpu;
	u32 function;
	u32 index;
	u32 reg;
	u32 bits;
};

/*
 * What a vCPU's vPMU really counts, as KVM runs it (leaf 0xA terms): a
 * profile's PMU leaf is clamped to it. @version 0: the vCPU has no vPMU
 * that leaf 0xA describes (an AMD host, kvm.enable_pmu=0, the VMM turned
 * it off or gave no 0xA): the profile's leaf is not applied at all.
 */
struct hybrid_pmu_cap {
	u8 version;
	u8 gp;			/* general-purpose counters */
	u8 gp_width;		/* their bits */
	u8 mask_len;		/* architectural events enumerated in EBX */
	u8 fixed;		/* fixed counters */
	u8 fixed_width;
	u32 unavailable;	/* EBX: events KVM does not count */
};

struct hybrid_layout {
	u32 nr_vcpus;
	const u8 *vcpu_type;	/* [nr_vcpus] */
	const u32 *apic_id;	/* [nr_vcpus], the VM's x2APIC ids */
	const struct hybrid_pmu_cap *pmu; /* [nr_vcpus]; NULL: no vPMU */
};

int hybrid_validate_type(const struct hybrid_core_type *ct, char *why,
			 size_t len);
int hybrid_validate_profile(const struct hybrid_core_type *types, u32 nr_types,
			    const struct hybrid_layout *lay, char *why,
			    size_t len);
bool hybrid_index_significant(u32 function);
void hybrid_clear_normalize(u32 function, u32 *index);
int hybrid_feature_refused(u32 function, u32 index, u32 reg, u32 bits,
			   char *why, size_t len);
int hybrid_compile_vcpu(const struct hybrid_core_type *types, u32 nr_types,
			const struct hybrid_layout *lay, u32 vcpu,
			const struct hybrid_clear *clears, u32 nr_clears,
			struct hybrid_vcpu_ovr *out);
bool hybrid_pmu_leaf(const struct hybrid_core_type *ct,
		     const struct hybrid_pmu_cap *cap, u32 regs[4]);
bool hybrid_has_indexed_ovr(const struct hybrid_vcpu_ovr *ov, u32 function);
u32 hybrid_raised_max(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		      u32 function);
bool hybrid_vendor_redirects(u32 ebx, u32 ecx, u32 edx);
u32 hybrid_table_vendor(const struct kvm_cpuid_entry2 *e, u32 n);
bool hybrid_ovr_for(const struct hybrid_ovr *o, u32 vendor);
void hybrid_apply(const struct hybrid_vcpu_ovr *ov, u32 vendor, u32 function,
		  u32 index, u32 regs[4]);
void hybrid_ovr_mask(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		     u32 function, u32 index, u32 mask[4]);

int hybrid_amd_topo(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		    const struct kvm_cpuid_entry2 *e, u32 n,
		    u32 lv[HYBRID_AMD_LEVELS][4]);
void hybrid_added_base(const struct hybrid_vcpu_ovr *ov, u32 vendor,
		       const struct kvm_cpuid_entry2 *src, u32 n, u32 function,
		       u32 index, u32 regs[4]);

/*
 * A vCPU's overrides as entries of KVM's own CPUID table (the table KVM
 * answers every CPUID exit from, without any hook): the VMM's @n entries
 * first, in their order, then the leaves the profile adds. The most it
 * can add to any table: one entry per override, and for the one
 * HYBRID_OVR_TOPO override HYBRID_AMD_LEVELS entries instead of one.
 */
#define HYBRID_TABLE_EXTRA_MAX	(HYBRID_MAX_OVR + HYBRID_AMD_LEVELS - 1)
int hybrid_table_build(const struct hybrid_vcpu_ovr *ov,
		       const struct kvm_cpuid_entry2 *src, u32 n,
		       struct kvm_cpuid_entry2 *dst, u32 (*mask)[4], u32 cap,
		       bool all_leaves);
bool hybrid_table_leaf(u32 function);
const struct kvm_cpuid_entry2 *hybrid_find_entry(const struct kvm_cpuid_entry2 *e,
						 u32 n, u32 function, u32 index,
						 bool any_index);

/* Where feature word i lives (HYBRID_NR_FEATURE_WORDS in the uapi). */
struct hybrid_fword {
	u32 function;
	u32 index;
	u32 reg;
};

extern const struct hybrid_fword hybrid_fwords[HYBRID_NR_FEATURE_WORDS];

void hybrid_pmu_filter(const struct hybrid_core_type *types, u32 nr_types,
		       u64 events[HYBRID_PMU_MAX_EVENTS], u32 *nevents,
		       u32 *fixed_bitmap);

int hybrid_baseline(const struct hybrid_features *sets, u32 nr_sets,
		    struct hybrid_features *out);
u32 hybrid_missing(const struct hybrid_features *vm,
		   const struct hybrid_features *base,
		   struct hybrid_features *missing);

#endif /* _KVM_HYBRID_CPUID_H */
