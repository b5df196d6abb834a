// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of kvm_hybrid's profile validation and CPUID table compiler
 * (hybrid_cpuid.c): a 2 P + 2 E profile compiled per vCPU and applied to
 * stock-looking CPUID results, leaf consistency across vCPUs, topology
 * (cache sharing against x2APIC ids), refused MMU leaves, feature clears.
 */
#include <kunit/test.h>
#include <linux/module.h>
/* The code under test is compiled into this module. */
#include "hybrid_cpuid.c"

static void make_type(struct hybrid_core_type *t, const char *name, bool p)
{
	memset(t, 0, sizeof(*t));
	strscpy(t->name, name, sizeof(t->name));
	t->flags = HYBRID_CT_ALL;
	t->intel_core_type = p ? HYBRID_INTEL_CORE : HYBRID_INTEL_ATOM;
	t->native_model_id = p ? 0x1 : 0x2;
	t->amd_core_type = p ? 0 : 1;
	t->amd_efficiency = p ? 200 : 100;
	t->base_mhz = 2000;
	t->max_mhz = p ? 5000 : 3800;
	t->bus_mhz = 100;
	t->pmu_version = 5;
	t->pmu_gp_counters = p ? 8 : 6;
	t->pmu_gp_width = 48;
	t->pmu_fixed_counters = 3;
	t->pmu_fixed_width = 48;
	t->pmu_events_unavailable = p ? 0 : 0x40;
	t->pmu_fixed_mask = 0x7;
	t->nr_caches = 3;
	t->caches[0] = (struct hybrid_cache){ .level = 1, .type = HYBRID_CACHE_DATA,
		.ways = p ? 12 : 8, .line_size = 64, .shared_by = 1,
		.size_kb = p ? 48 : 32 };
	t->caches[1] = (struct hybrid_cache){ .level = 1, .type = HYBRID_CACHE_INST,
		.ways = 8, .line_size = 64, .shared_by = 1, .size_kb = 32 };
	/* E-cores share their L2 by 2 (4 on real parts; 2 fits 2 E vCPUs). */
	t->caches[2] = (struct hybrid_cache){ .level = 2, .type = HYBRID_CACHE_UNIFIED,
		.ways = p ? 8 : 16, .line_size = 64, .shared_by = p ? 1 : 2,
		.size_kb = p ? 1280 : 2048 };
}

struct fixture {
	struct hybrid_core_type types[2];
	u8 vtype[4];
	u32 apic[4];
	struct hybrid_pmu_cap cap[4];
	struct hybrid_layout lay;
	struct hybrid_vcpu_ovr ov;
	char why[HYBRID_WHY_LEN];
};

static struct fixture *fixture(struct kunit *test)
{
	struct fixture *f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	static const u8 vt[4] = { 0, 0, 1, 1 };
	u32 i;

	KUNIT_ASSERT_NOT_NULL(test, f);
	make_type(&f->types[0], "P", true);
	make_type(&f->types[1], "E", false);
	for (i = 0; i < 4; i++) {
		f->vtype[i] = vt[i];
		f->apic[i] = i;
		/* A vPMU that counts everything the profile offers. */
		f->cap[i] = (struct hybrid_pmu_cap){ .version = 5, .gp = 8,
			.gp_width = 48, .mask_len = 8, .fixed = 4,
			.fixed_width = 48 };
	}
	f->lay.pmu = f->cap;
	f->lay.nr_vcpus = 4;
	f->lay.vcpu_type = f->vtype;
	f->lay.apic_id = f->apic;
	return f;
}

static void sim_cpuid(struct fixture *f, u32 vcpu, u32 fn, u32 idx, u32 r[4],
		      struct kunit *test)
{
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, vcpu,
						  NULL, 0, &f->ov), 0);
	/* What a stock AMD host's KVM might return. */
	r[0] = fn == 0 ? 0x10 : fn == 0x80000000 ? 0x80000021 : 0x11111111;
	r[1] = 0x22222222;
	r[2] = 0x33333333;
	r[3] = 0x44444444;
	/* Both vendors' lines: what the profile compiles to, unfiltered. */
	hybrid_apply(&f->ov, HYBRID_OVR_VENDOR, fn, idx, r);
}

static void test_valid_profile(struct kunit *test)
{
	struct fixture *f = fixture(test);

	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), 0);
}

static void test_core_type_leaves(struct kunit *test)
{
	struct fixture *f = fixture(test);
	u32 r[4], v;

	for (v = 0; v < 4; v++) {
		bool p = v < 2;

		sim_cpuid(f, v, 0x1a, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[0] >> 24, p ? 0x40U : 0x20U);
		KUNIT_EXPECT_EQ(test, r[0] & 0xffffff, p ? 1U : 2U);
		KUNIT_EXPECT_EQ(test, r[1] | r[2] | r[3], 0U);
		sim_cpuid(f, v, 0x7, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[3], 0x44444444U | BIT(15));
		KUNIT_EXPECT_EQ(test, r[0], 0x11111111U);	/* untouched */
		sim_cpuid(f, v, 0x7, 1, r, test);			/* subleaf 1 */
		KUNIT_EXPECT_EQ(test, r[3], 0x44444444U);
		sim_cpuid(f, v, 0x0, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[0], 0x1aU);		/* raised */
		KUNIT_EXPECT_EQ(test, r[1], 0x22222222U);	/* vendor kept */
		sim_cpuid(f, v, 0x80000000, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[0], 0x80000026U);
		sim_cpuid(f, v, 0x80000026, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[1] >> 28, p ? 0U : 1U);
		KUNIT_EXPECT_EQ(test, (r[1] >> 16) & 0xff, p ? 200U : 100U);
		KUNIT_EXPECT_EQ(test, r[1] & 0xffff, 0x2222U);	/* count kept */
		KUNIT_EXPECT_TRUE(test, r[0] & BIT(30));
	}
}

static void test_freq_and_pmu(struct kunit *test)
{
	struct fixture *f = fixture(test);
	u32 r[4], v;

	for (v = 0; v < 4; v++) {
		bool p = v < 2;

		sim_cpuid(f, v, 0x16, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[0], 2000U);	/* same base everywhere */
		KUNIT_EXPECT_EQ(test, r[1], p ? 5000U : 3800U);
		KUNIT_EXPECT_EQ(test, r[2], 100U);
		sim_cpuid(f, v, 0xa, 0, r, test);
		KUNIT_EXPECT_EQ(test, r[0] & 0xff, 5U);
		KUNIT_EXPECT_EQ(test, (r[0] >> 8) & 0xff, p ? 8U : 6U);
		KUNIT_EXPECT_EQ(test, (r[0] >> 16) & 0xff, 48U);
		KUNIT_EXPECT_EQ(test, r[1], p ? 0U : 0x40U);
		KUNIT_EXPECT_EQ(test, r[2], 7U);
		KUNIT_EXPECT_EQ(test, r[3], 3U | 48U << 5);
	}
}

/* Leaf 0xA never promises more than the vCPU's vPMU counts (issue 16). */
static void test_pmu_clamp(struct kunit *test)
{
	struct fixture *f = fixture(test);
	u32 r[4], v;

	/* 6.1 on an Intel host: version 2, the VMM gave 4 counters, KVM
	 * enumerates 7 events and cannot count event 5.
	 */
	for (v = 0; v < 4; v++)
		f->cap[v] = (struct hybrid_pmu_cap){ .version = 2, .gp = 4,
			.gp_width = 48, .mask_len = 7, .fixed = 3,
			.fixed_width = 48, .unavailable = BIT(5) };
	sim_cpuid(f, 0, 0xa, 0, r, test);			/* P */
	KUNIT_EXPECT_EQ(test, r[0], 2U | 4U << 8 | 48U << 16 | 7U << 24);
	KUNIT_EXPECT_EQ(test, r[1], (u32)BIT(5));
	KUNIT_EXPECT_EQ(test, r[2], 0U);	/* fixed bitmap: version 5 only */
	KUNIT_EXPECT_EQ(test, r[3], 3U | 48U << 5);
	sim_cpuid(f, 2, 0xa, 0, r, test);			/* E: 0x40 off too */
	KUNIT_EXPECT_EQ(test, r[1], 0x60U);
	KUNIT_EXPECT_EQ(test, (r[0] >> 8) & 0xff, 4U);

	/* Narrower counters, version 1: no fixed counters at all. */
	f->cap[0].version = 1;
	f->cap[0].gp_width = 40;
	sim_cpuid(f, 0, 0xa, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[0], 1U | 4U << 8 | 40U << 16 | 7U << 24);
	KUNIT_EXPECT_EQ(test, r[3], 0U);

	/* Version 5 with two fixed counters: the bitmap loses counter 2. */
	f->cap[0] = (struct hybrid_pmu_cap){ .version = 5, .gp = 8,
		.gp_width = 48, .mask_len = 8, .fixed = 2, .fixed_width = 48 };
	sim_cpuid(f, 0, 0xa, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[2], 3U);
	KUNIT_EXPECT_EQ(test, r[3], 2U | 48U << 5);

	/* No vPMU on vCPU 1 (AMD host, enable_pmu=0, ...): 0xA stays KVM's. */
	f->cap[1].version = 0;
	sim_cpuid(f, 1, 0xa, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[0], 0x11111111U);
	KUNIT_EXPECT_EQ(test, r[1], 0x22222222U);
	KUNIT_EXPECT_EQ(test, r[3], 0x44444444U);
	KUNIT_EXPECT_FALSE(test, hybrid_pmu_leaf(&f->types[0], &f->cap[1], r));
	/* Nor without any vPMU description. */
	f->lay.pmu = NULL;
	sim_cpuid(f, 0, 0xa, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[0], 0x11111111U);
}

static void test_cache_leaves(struct kunit *test)
{
	struct fixture *f = fixture(test);
	u32 r[4];

	/* E-core L2: 2048 KiB, 16 ways, 64-byte lines, shared by 2. */
	sim_cpuid(f, 2, 0x4, 2, r, test);
	KUNIT_EXPECT_EQ(test, r[0] & 0x1f, 3U);
	KUNIT_EXPECT_EQ(test, (r[0] >> 5) & 7, 2U);
	KUNIT_EXPECT_EQ(test, ((r[0] >> 14) & 0xfff) + 1, 2U);
	KUNIT_EXPECT_EQ(test, r[0] >> 26, 0x11111111U >> 26);	/* VMM's */
	KUNIT_EXPECT_EQ(test, (r[1] & 0xfff) + 1, 64U);
	KUNIT_EXPECT_EQ(test, (r[1] >> 22) + 1, 16U);
	KUNIT_EXPECT_EQ(test, r[2] + 1, 2048U * 1024 / (16 * 64));
	/* P-core L2 is private. */
	sim_cpuid(f, 0, 0x4, 2, r, test);
	KUNIT_EXPECT_EQ(test, ((r[0] >> 14) & 0xfff) + 1, 1U);
	KUNIT_EXPECT_EQ(test, r[2] + 1, 1280U * 1024 / (8 * 64));
	/* The list ends with a null subleaf; AMD's 0x8000001D matches. */
	sim_cpuid(f, 0, 0x4, 3, r, test);
	KUNIT_EXPECT_EQ(test, r[0] | r[1] | r[2] | r[3], 0U);
	sim_cpuid(f, 2, 0x8000001d, 2, r, test);
	KUNIT_EXPECT_EQ(test, ((r[0] >> 14) & 0xfff) + 1, 2U);
	/* AMD legacy leaves: L1d/L1i in 0x80000005, L2 in 0x80000006. */
	sim_cpuid(f, 2, 0x80000005, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[2] >> 24, 32U);		/* E L1d KiB */
	KUNIT_EXPECT_EQ(test, (r[2] >> 16) & 0xff, 8U);
	KUNIT_EXPECT_EQ(test, r[2] & 0xff, 64U);
	KUNIT_EXPECT_EQ(test, r[3] >> 24, 32U);		/* L1i */
	sim_cpuid(f, 0, 0x80000006, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[2] >> 16, 1280U);
	KUNIT_EXPECT_EQ(test, (r[2] >> 12) & 0xf, 6U);	/* 8 ways */
	KUNIT_EXPECT_EQ(test, r[3], 0x44444444U);	/* no L3: KVM's */
	sim_cpuid(f, 2, 0x80000006, 0, r, test);
	KUNIT_EXPECT_EQ(test, r[2] >> 16, 2048U);
	KUNIT_EXPECT_EQ(test, (r[2] >> 12) & 0xf, 8U);	/* 16 ways */
}

static void test_refused_profiles(struct kunit *test)
{
	struct fixture *f = fixture(test);

	/* Different base frequencies (TSC calibration). */
	f->types[1].base_mhz = 1800;
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	KUNIT_EXPECT_NOT_NULL(test, strstr(f->why, "TSC source"));
	f = fixture(test);
	/* A leaf on some vCPUs only. */
	f->types[1].flags &= ~HYBRID_CT_PMU;
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	f = fixture(test);
	/* An E L2 shared by 2 over x2APIC 1 (P) and 2 (E): 2 >> 1 != 1 >> 1,
	 * so put the E-cores on x2APIC ids 1 and 2, straddling a pair.
	 */
	f->vtype[1] = 1;
	f->vtype[2] = 0;
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	KUNIT_EXPECT_NOT_NULL(test, strstr(f->why, "shared by 2 holds"));
	f = fixture(test);
	f->vtype[3] = 2;				/* no such type */
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	f = fixture(test);
	f->apic[3] = 2;					/* duplicate id */
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	f = fixture(test);
	strscpy(f->types[1].name, "P", sizeof(f->types[1].name));
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 0, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
	f->lay.nr_vcpus = HYBRID_MAX_VCPUS + 1;
	KUNIT_EXPECT_EQ(test, hybrid_validate_profile(f->types, 1, &f->lay,
						      f->why, sizeof(f->why)), -EINVAL);
}

static void test_refused_types(struct kunit *test)
{
	struct fixture *f = fixture(test);
	struct hybrid_core_type *t = &f->types[0];
	char *why = f->why;

	t->caches[0].size_kb = 47;	/* not whole sets */
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->caches[2].shared_by = 3;
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->caches[1].type = HYBRID_CACHE_UNIFIED;	/* overlaps L1d */
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->caches[0].level = 3;				/* out of order */
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->caches[2].ways = 10;		/* no 0x80000006 code for 10 ways */
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	t->flags &= ~HYBRID_CT_AMD;	/* fine for Intel's 0x4 */
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), 0);
	make_type(t, "P", true);
	t->max_mhz = 1000;
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->pmu_version = 6;
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->native_model_id = BIT(24);
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->flags |= BIT(7);
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->__pad2 = 1;
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "", true);
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
	make_type(t, "P", true);
	t->nr_caches = 0;				/* flag without caches */
	KUNIT_EXPECT_EQ(test, hybrid_validate_type(t, why, HYBRID_WHY_LEN), -EINVAL);
}

static void test_mmu_leaves_refused(struct kunit *test)
{
	char why[HYBRID_WHY_LEN];

	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x80000008, 0, 0, 0xff, why,
						     sizeof(why)), -EPERM);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "MAXPHYADDR"));
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xd, 0, 0, 1, why, sizeof(why)),
			-EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xd, 1, 1, 1, why, sizeof(why)),
			-EPERM);				/* 0xD.1 EBX: a size */
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xd, 2, 0, 1, why, sizeof(why)),
			-EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x80000008, 0, 2, 0xff, why,
						     sizeof(why)), -EPERM);	/* topology */
	/* Feature words inside those leaves are not: 0xD.1 EAX (XSAVES) and
	 * 0x80000008 EBX (IBPB, SSBD), both words of the pool baseline.
	 */
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xd, 1, 0, BIT(0) | BIT(1) | BIT(4),
						     why, sizeof(why)), 0);
	/* But not XGETBV1 or XSAVES, which XFD needs; nor 0x80000008 EDX. */
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xd, 1, 0, BIT(3), why,
						     sizeof(why)), -EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xd, 1, 0, BIT(0) | BIT(2), why,
						     sizeof(why)), -EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x80000008, 0, 3, 1, why,
						     sizeof(why)), -EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x80000008, 0, 1,
						     BIT(12) | BIT(24), why,
						     sizeof(why)), 0);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x1, 0, 3, BIT(6), why,
						     sizeof(why)), -EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x80000001, 0, 3, BIT(20),
						     why, sizeof(why)), -EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x7, 0, 2, BIT(16), why,
						     sizeof(why)), -EPERM);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0xb, 0, 3, 1, why, sizeof(why)),
			-EPERM);
	/* Ordinary feature bits are fine: AVX2, RDRAND, SSE4.2. */
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x7, 0, 1, BIT(5), why,
						     sizeof(why)), 0);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x1, 0, 2, BIT(30) | BIT(20),
						     why, sizeof(why)), 0);
	/* Malformed. */
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x1, 0, 4, 1, why, sizeof(why)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, hybrid_feature_refused(0x1, 0, 2, 0, why, sizeof(why)),
			-EINVAL);
}

static void test_feature_clears(struct kunit *test)
{
	struct fixture *f = fixture(test);
	struct hybrid_clear c[2] = {
		{ .vcpu = HYBRID_ALL_VCPUS, .function = 0x1, .index = HYBRID_ANY_INDEX,
		  .reg = 2, .bits = BIT(30) },
		{ .vcpu = 3, .function = 0x7, .index = 0, .reg = 3, .bits = BIT(15) },
	};
	u32 r[4], v;

	for (v = 0; v < 4; v++) {
		KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, v,
							  c, 2, &f->ov), 0);
		r[0] = 0; r[1] = 0; r[2] = ~0U; r[3] = 0;
		hybrid_apply(&f->ov, HYBRID_OVR_VENDOR, 0x1, 5, r);
		KUNIT_EXPECT_EQ(test, r[2], ~0U & ~BIT(30));
		r[3] = 0;
		hybrid_apply(&f->ov, HYBRID_OVR_VENDOR, 0x7, 0, r);
		/* The clear comes after the profile's hybrid bit: it wins. */
		KUNIT_EXPECT_EQ(test, !!(r[3] & BIT(15)), v != 3);
	}
	KUNIT_EXPECT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 4, c, 2,
						  &f->ov), -EINVAL);
}

/* Clears match subleaves as KVM does (its significant-index leaves). */
static void test_clear_subleaves(struct kunit *test)
{
	struct fixture *f = fixture(test);
	struct hybrid_clear c[2] = {
		/* leaf 1 has no subleaves: ".0" must not let ECX=5 see it */
		{ .vcpu = HYBRID_ALL_VCPUS, .function = 0x1, .index = 0,
		  .reg = 2, .bits = BIT(30) },
		/* leaf 7 has: no subleaf named means 0x7.0 only */
		{ .vcpu = HYBRID_ALL_VCPUS, .function = 0x7, .index = HYBRID_ANY_INDEX,
		  .reg = 1, .bits = BIT(5) },
	};
	u32 r[4], idx;

	KUNIT_EXPECT_TRUE(test, hybrid_index_significant(0x7));
	KUNIT_EXPECT_TRUE(test, hybrid_index_significant(0x8000001d));
	KUNIT_EXPECT_FALSE(test, hybrid_index_significant(0x1));
	KUNIT_EXPECT_FALSE(test, hybrid_index_significant(0x80000001));
	/* As the feature ioctl stores them. */
	hybrid_clear_normalize(c[0].function, &c[0].index);
	hybrid_clear_normalize(c[1].function, &c[1].index);
	KUNIT_EXPECT_EQ(test, c[0].index, HYBRID_ANY_INDEX);
	KUNIT_EXPECT_EQ(test, c[1].index, 0U);
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 0, c, 2, &f->ov), 0);
	for (idx = 0; idx < 8; idx++) {
		r[0] = 0; r[1] = 0; r[2] = ~0U; r[3] = 0;
		hybrid_apply(&f->ov, HYBRID_OVR_VENDOR, 0x1, idx, r);
		KUNIT_EXPECT_EQ(test, r[2], ~0U & ~BIT(30));
	}
	for (idx = 0; idx < 3; idx++) {
		r[0] = 0; r[1] = ~0U; r[2] = 0; r[3] = 0;
		hybrid_apply(&f->ov, HYBRID_OVR_VENDOR, 0x7, idx, r);
		KUNIT_EXPECT_EQ(test, !!(r[1] & BIT(5)), idx != 0);
	}
	/* The hook looks up the subleaf KVM answered only where it matters. */
	KUNIT_EXPECT_TRUE(test, hybrid_has_indexed_ovr(&f->ov, 0x7));
	KUNIT_EXPECT_FALSE(test, hybrid_has_indexed_ovr(&f->ov, 0x1));
}

/* Out-of-range leaves: which vendors KVM redirects, what the profile raised. */
static void test_out_of_range(struct kunit *test)
{
	struct fixture *f = fixture(test);

	/* GenuineIntel redirects; AuthenticAMD, AMDisbetter!, HygonGenuine not. */
	KUNIT_EXPECT_TRUE(test, hybrid_vendor_redirects(0x756e6547, 0x6c65746e, 0x49656e69));
	KUNIT_EXPECT_FALSE(test, hybrid_vendor_redirects(0x68747541, 0x444d4163, 0x69746e65));
	KUNIT_EXPECT_FALSE(test, hybrid_vendor_redirects(0x69444d41, 0x21726574, 0x74656273));
	KUNIT_EXPECT_FALSE(test, hybrid_vendor_redirects(0x6f677948, 0x656e6975, 0x6e65476e));
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 0, NULL, 0, &f->ov), 0);
	/*
	 * The hybrid profile raises the basic maximum to 0x1A for an Intel
	 * guest, to 0x16 (its frequency leaf, any vendor) for the others; the
	 * extended one to 0x80000026 for an AMD guest only.
	 */
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, HYBRID_OVR_INTEL, 0x15), 0x1aU);
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, HYBRID_OVR_AMD, 0x15), 0x16U);
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, 0, 0x15), 0x16U);
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, HYBRID_OVR_AMD, 0x80000001),
			0x80000026U);
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, HYBRID_OVR_INTEL, 0x80000001), 0U);
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, HYBRID_OVR_VENDOR, 0x40000100), 0U);
	KUNIT_EXPECT_EQ(test, hybrid_raised_max(&f->ov, HYBRID_OVR_VENDOR, 0xc0000001), 0U);
}

/* A table as KVM might hold it for an Intel-vendor guest with max basic 0xD. */
static const struct kvm_cpuid_entry2 tb_src[] = {
	{ .function = 0x0, .eax = 0xd, .ebx = 0x756e6547, .ecx = 0x6c65746e,
	  .edx = 0x49656e69 },
	{ .function = 0x1, .eax = 0x806f8, .ecx = 0xfffa3203, .edx = 0x178bfbff },
	{ .function = 0x7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	  .ebx = 0x219c07ab, .edx = 0x4 },
	{ .function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	  .eax = 0x7, .ebx = 0x340, .ecx = 0x340 },
	{ .function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	  .eax = 0xf },
	{ .function = 0x80000000, .eax = 0x80000008 },
	{ .function = 0x80000008, .eax = 0x3030 },
};

static void test_table_build(struct kunit *test)
{
	struct fixture *f = fixture(test);
	u32 n = ARRAY_SIZE(tb_src), cap = n + HYBRID_TABLE_EXTRA_MAX, i, r[4];
	const struct kvm_cpuid_entry2 *e;
	struct kvm_cpuid_entry2 *t;
	u32 (*mask)[4];
	int nt;

	t = kunit_kcalloc(test, cap, sizeof(*t), GFP_KERNEL);
	mask = kunit_kcalloc(test, cap, sizeof(*mask), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	KUNIT_ASSERT_NOT_NULL(test, mask);
	/* vCPU 2, an E-core. */
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 2, NULL, 0,
						  &f->ov), 0);
	nt = hybrid_table_build(&f->ov, tb_src, n, t, mask, cap, false);
	KUNIT_ASSERT_GT(test, nt, (int)n);

	/* The VMM's entries first, in order, with their keys. */
	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_EQ(test, t[i].function, tb_src[i].function);
		KUNIT_EXPECT_EQ(test, t[i].index, tb_src[i].index);
		KUNIT_EXPECT_EQ(test, t[i].flags, tb_src[i].flags);
	}
	/* Every entry reads as KVM's answer with the overrides applied. */
	for (i = 0; i < n; i++) {
		r[0] = tb_src[i].eax;
		r[1] = tb_src[i].ebx;
		r[2] = tb_src[i].ecx;
		r[3] = tb_src[i].edx;
		hybrid_apply(&f->ov, HYBRID_OVR_INTEL, tb_src[i].function,
			     tb_src[i].index, r);
		KUNIT_EXPECT_EQ(test, t[i].eax, r[0]);
		KUNIT_EXPECT_EQ(test, t[i].ebx, r[1]);
		KUNIT_EXPECT_EQ(test, t[i].ecx, r[2]);
		KUNIT_EXPECT_EQ(test, t[i].edx, r[3]);
	}
	/* Leaf 0 raised to 0x1A, the hybrid bit, the E-core's 0x1A. */
	KUNIT_EXPECT_EQ(test, t[0].eax, 0x1aU);
	KUNIT_EXPECT_EQ(test, mask[0][0], ~0U);
	KUNIT_EXPECT_TRUE(test, t[2].edx & BIT(15));
	KUNIT_EXPECT_EQ(test, mask[2][3], (u32)BIT(15));
	KUNIT_EXPECT_EQ(test, mask[1][0] | mask[1][1] | mask[1][2] | mask[1][3], 0U);
	KUNIT_EXPECT_EQ(test, mask[3][1], 0U);		/* XSAVE sizes: KVM's */
	e = hybrid_find_entry(t, nt, 0x1a, 0, false);
	KUNIT_ASSERT_NOT_NULL(test, e);
	KUNIT_EXPECT_EQ(test, e->eax >> 24, (u32)HYBRID_INTEL_ATOM);
	/*
	 * No filler: with leaf 0's EAX raised, KVM answers an absent leaf up
	 * to it with zeros itself. Leaf 0xA stays the VMM's (the hook's).
	 */
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x15, 0, false));
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000021, 0, false));
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0xa, 0, false));
	KUNIT_EXPECT_FALSE(test, hybrid_table_leaf(0xa));
	e = hybrid_find_entry(t, nt, 0x16, 0, false);
	KUNIT_ASSERT_NOT_NULL(test, e);
	KUNIT_EXPECT_EQ(test, e->eax, 2000U);
	/* An Intel guest: none of the profile's AMD lines, nor their masks. */
	e = hybrid_find_entry(t, nt, 0x80000000, 0, false);
	KUNIT_ASSERT_NOT_NULL(test, e);
	KUNIT_EXPECT_EQ(test, e->eax, 0x80000008U);
	KUNIT_EXPECT_EQ(test, mask[5][0], 0U);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000005, 0, false));
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000006, 0, false));
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000026, 0, false));
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x8000001d, 0, false));
	/* Cache subleaves of leaf 4 from the profile, none beyond the null one. */
	KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(t, nt, 0x4, 0, false));
	/* Each leaf once (a key KVM would find twice is a bug). */
	for (i = 0; i < nt; i++)
		KUNIT_EXPECT_PTR_EQ(test, hybrid_find_entry(t, nt, t[i].function,
							    t[i].index, false), &t[i]);
	/*
	 * A table without leaf 0 gets none: with a leaf 0 whose vendor is not
	 * AMD, KVM would answer leaves above it with another leaf's data.
	 */
	nt = hybrid_table_build(&f->ov, tb_src + 1, n - 1, t, mask, cap, false);
	KUNIT_ASSERT_GT(test, nt, (int)n - 1);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x0, 0, false));
	/* Not enough room: refused, not truncated. */
	KUNIT_EXPECT_EQ(test, hybrid_table_build(&f->ov, tb_src, n, t, mask, n + 3, false),
			-E2BIG);
}

/*
 * A profile's Intel lines reach only Intel guests, its AMD lines only AMD
 * (and Hygon) guests; a guest of another vendor gets neither.
 */
static void test_vendor_lines(struct kunit *test)
{
	static const u32 vendors[][3] = {	/* EBX, ECX, EDX of leaf 0 */
		{ 0x68747541, 0x444d4163, 0x69746e65 },	/* AuthenticAMD */
		{ 0x6f677948, 0x656e6975, 0x6e65476e },	/* HygonGenuine */
		{ 0x69444d41, 0x21726574, 0x74656273 },	/* AMDisbetter! */
		{ 0x746e6543, 0x736c7561, 0x48727561 },	/* CentaurHauls */
	};
	struct fixture *f = fixture(test);
	u32 n = ARRAY_SIZE(tb_src), cap = n + HYBRID_TABLE_EXTRA_MAX, v;
	struct kvm_cpuid_entry2 *src, *t;
	const struct kvm_cpuid_entry2 *e;
	int nt;

	src = kunit_kcalloc(test, n, sizeof(*src), GFP_KERNEL);
	t = kunit_kcalloc(test, cap, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, src);
	KUNIT_ASSERT_NOT_NULL(test, t);
	KUNIT_EXPECT_EQ(test, hybrid_table_vendor(tb_src, n), (u32)HYBRID_OVR_INTEL);
	KUNIT_EXPECT_EQ(test, hybrid_table_vendor(tb_src + 1, n - 1), 0U);
	/* vCPU 2, an E-core (AMD core type 1). */
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 2, NULL, 0,
						  &f->ov), 0);
	for (v = 0; v < ARRAY_SIZE(vendors); v++) {
		bool amd = v < 3;

		memcpy(src, tb_src, n * sizeof(*src));
		src[0].ebx = vendors[v][0];
		src[0].ecx = vendors[v][1];
		src[0].edx = vendors[v][2];
		KUNIT_EXPECT_EQ(test, hybrid_table_vendor(src, n),
				amd ? (u32)HYBRID_OVR_AMD : 0U);
		nt = hybrid_table_build(&f->ov, src, n, t, NULL, cap, false);
		KUNIT_ASSERT_GT(test, nt, (int)n);
		/* No Intel line: no 0x1A, no hybrid bit, the maximum 0x16's. */
		KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x1a, 0, false));
		KUNIT_EXPECT_FALSE(test, t[2].edx & BIT(15));
		KUNIT_EXPECT_EQ(test, t[0].eax, 0x16U);
		/* The frequency and leaf 4's caches: every vendor. */
		KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(t, nt, 0x16, 0, false));
		KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(t, nt, 0x4, 0, false));
		/* The AMD lines: only for AMD and Hygon. */
		e = hybrid_find_entry(t, nt, 0x80000000, 0, false);
		KUNIT_ASSERT_NOT_NULL(test, e);
		KUNIT_EXPECT_EQ(test, e->eax, amd ? 0x80000026U : 0x80000008U);
		e = hybrid_find_entry(t, nt, 0x80000026, 0, false);
		if (!amd) {
			KUNIT_EXPECT_NULL(test, e);
			KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x8000001d, 0, false));
			KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000005, 0, false));
			KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000006, 0, false));
			continue;
		}
		KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(t, nt, 0x80000005, 0, false));
		KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(t, nt, 0x80000006, 0, false));
		KUNIT_ASSERT_NOT_NULL(test, e);
		/* A subleaf the profile names: added with the flag. */
		KUNIT_EXPECT_EQ(test, e->flags, (u32)KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		KUNIT_EXPECT_EQ(test, e->ebx >> 28, 1U);
		KUNIT_EXPECT_NULL(test, hybrid_find_entry(t, nt, 0x80000026, 1, false));
		KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(t, nt, 0x8000001d, 0, false));
	}
}

/*
 * AMD leaf 0x80000026 from a vCPU's own topology. A 16-vCPU layout, one
 * package of 8 SMT-2 cores (0xB: shift 1, 2 per core; shift 4, 16 per
 * package): x2APIC 0-7 P-cores whose L3 is shared by 8, 8-15 E-cores
 * whose L3 is shared by 4.
 */
struct topo_fixture {
	struct hybrid_core_type types[2];
	u8 vtype[16];
	u32 apic[16];
	struct hybrid_layout lay;
	struct hybrid_vcpu_ovr ov;
	struct kvm_cpuid_entry2 src[16];
	struct kvm_cpuid_entry2 t[16 + HYBRID_TABLE_EXTRA_MAX];
	char why[HYBRID_WHY_LEN];
};

static const u32 amd_vendor[3] = { 0x68747541, 0x444d4163, 0x69746e65 };
static const u32 intel_vendor[3] = { 0x756e6547, 0x6c65746e, 0x49656e69 };

static void add_l3(struct hybrid_core_type *t, u16 shared_by)
{
	t->caches[t->nr_caches++] = (struct hybrid_cache){ .level = 3,
		.type = HYBRID_CACHE_UNIFIED, .ways = 16, .line_size = 64,
		.shared_by = shared_by, .size_kb = 32768 };
}

static struct topo_fixture *topo_fixture(struct kunit *test, u16 p_l3, u16 e_l3)
{
	struct topo_fixture *f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	u32 i;

	KUNIT_ASSERT_NOT_NULL(test, f);
	make_type(&f->types[0], "P", true);
	make_type(&f->types[1], "E", false);
	add_l3(&f->types[0], p_l3);
	add_l3(&f->types[1], e_l3);
	for (i = 0; i < 16; i++) {
		f->vtype[i] = i >= 8;
		f->apic[i] = i;
	}
	f->lay.nr_vcpus = 16;
	f->lay.vcpu_type = f->vtype;
	f->lay.apic_id = f->apic;
	KUNIT_ASSERT_EQ(test, hybrid_validate_profile(f->types, 2, &f->lay, f->why,
						      sizeof(f->why)), 0);
	return f;
}

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/*
 * vCPU @apic's table as a VMM gives an AMD guest: 0xB (SMT shift/count,
 * package shift/count) unless !@with_0b, the same topology in 0x80000008
 * and 0x8000001E (TopologyExtensions), and KVM's cache leaf 0x8000001D
 * with an L3 shared by @kvm_l3. Return: its entries.
 */
static u32 amd_table(struct kvm_cpuid_entry2 *t, const u32 vendor[3], u32 apic,
		     u32 smt_shift, u32 smt, u32 pkg_shift, u32 pkg, bool with_0b,
		     u32 kvm_l3)
{
	u32 n = 0;

	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x0, .eax = 0xd,
		.ebx = vendor[0], .ecx = vendor[1], .edx = vendor[2] };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x1, .eax = 0xa00f11,
		.ebx = apic << 24 | pkg << 16, .ecx = 0xfef83203 };
	if (with_0b) {
		t[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0,
			.flags = SIG, .eax = smt_shift, .ebx = smt, .ecx = 1 << 8,
			.edx = apic };
		t[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1,
			.flags = SIG, .eax = pkg_shift, .ebx = pkg,
			.ecx = 1 | 2 << 8, .edx = apic };
		t[n++] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2,
			.flags = SIG, .ecx = 2, .edx = apic };
	}
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000021,
		.ebx = vendor[0], .ecx = vendor[1], .edx = vendor[2] };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = BIT(22) };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3030,
		.ecx = (pkg - 1) | pkg_shift << 12 };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x8000001d, .index = 0,
		.flags = SIG, .eax = 0x121 | (smt - 1) << 14 };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x8000001d, .index = 1,
		.flags = SIG, .eax = 0x163 | (kvm_l3 - 1) << 14 };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x8000001d, .index = 2,
		.flags = SIG };
	t[n++] = (struct kvm_cpuid_entry2){ .function = 0x8000001e, .eax = apic,
		.ebx = (smt - 1) << 8 | apic / smt };
	return n;
}

/* Expect 0x80000026.@idx of @t to be exactly @eax .. @edx, an indexed entry. */
static void expect_level(struct kunit *test, const struct kvm_cpuid_entry2 *t, int nt,
			 u32 idx, u32 eax, u32 ebx, u32 ecx, u32 edx)
{
	const struct kvm_cpuid_entry2 *e = hybrid_find_entry(t, nt, 0x80000026, idx, false);

	KUNIT_ASSERT_NOT_NULL_MSG(test, e, "subleaf %u", idx);
	KUNIT_EXPECT_EQ_MSG(test, e->flags, (u32)SIG, "subleaf %u", idx);
	KUNIT_EXPECT_EQ_MSG(test, e->eax, eax, "subleaf %u", idx);
	KUNIT_EXPECT_EQ_MSG(test, e->ebx, ebx, "subleaf %u", idx);
	KUNIT_EXPECT_EQ_MSG(test, e->ecx, ecx, "subleaf %u", idx);
	KUNIT_EXPECT_EQ_MSG(test, e->edx, edx, "subleaf %u", idx);
}

/*
 * The core fields of the fixture's types, EBX[31:16] of the core level:
 * core type [31:28], native model id [27:24], efficiency rank [23:16].
 */
#define P_CORE	0x01c80000U	/* 0, 1, 200 */
#define E_CORE	0x12640000U	/* 1, 2, 100 */
#define HETERO	(BIT(29) | BIT(30))

/* Every level of a P- and an E-core, the complex from the profile's L3. */
static void test_amd_topo_levels(struct kunit *test)
{
	struct topo_fixture *f = topo_fixture(test, 8, 4);
	u32 n, lv[HYBRID_AMD_LEVELS][4], base[4], i;
	int nt;

	/* vCPU 3, a P-core: core, complex of 8 (shift 3), socket of 16. */
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 3, NULL, 0,
						  &f->ov), 0);
	n = amd_table(f->src, amd_vendor, 3, 1, 2, 4, 16, true, 16);
	KUNIT_EXPECT_EQ(test, hybrid_amd_topo(&f->ov, HYBRID_OVR_AMD, f->src, n, lv), 4);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	KUNIT_ASSERT_GT(test, nt, (int)n);
	/* The L3s differ in size (8, 4): asymmetric above the core level. */
	expect_level(test, f->t, nt, 0, 1 | HETERO, 2 | P_CORE, 0 | 1 << 8, 3);
	expect_level(test, f->t, nt, 1, 3 | BIT(31), 8, 1 | 2 << 8, 3);
	expect_level(test, f->t, nt, 2, 4 | BIT(31), 16, 2 | 3 << 8, 3);
	expect_level(test, f->t, nt, 3, 4 | BIT(31), 16, 3 | 4 << 8, 3);
	/* Past the last: no entry, KVM answers an AMD guest zeros. */
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 4, false));
	/* The extended maximum shows the leaf. */
	KUNIT_EXPECT_EQ(test, hybrid_find_entry(f->t, nt, 0x80000000, 0, true)->eax,
			0x80000026U);
	/* An undo-and-redo (hb_vtab_rewrite()) makes the same entries. */
	for (i = 0; i < 4; i++) {
		const struct kvm_cpuid_entry2 *e =
			hybrid_find_entry(f->t, nt, 0x80000026, i, false);

		hybrid_added_base(&f->ov, HYBRID_OVR_AMD, f->src, n, 0x80000026, i, base);
		hybrid_apply(&f->ov, HYBRID_OVR_AMD, 0x80000026, i, base);
		KUNIT_EXPECT_EQ(test, base[0], e->eax);
		KUNIT_EXPECT_EQ(test, base[1], e->ebx);
		KUNIT_EXPECT_EQ(test, base[2], e->ecx);
		KUNIT_EXPECT_EQ(test, base[3], e->edx);
	}

	/* vCPU 9, an E-core: its complex is its L3 of 4 (shift 2). */
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 9, NULL, 0,
						  &f->ov), 0);
	n = amd_table(f->src, amd_vendor, 9, 1, 2, 4, 16, true, 16);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	KUNIT_ASSERT_GT(test, nt, (int)n);
	expect_level(test, f->t, nt, 0, 1 | HETERO, 2 | E_CORE, 0 | 1 << 8, 9);
	expect_level(test, f->t, nt, 1, 2 | BIT(31), 4, 1 | 2 << 8, 9);
	expect_level(test, f->t, nt, 2, 4 | BIT(31), 16, 2 | 3 << 8, 9);
	expect_level(test, f->t, nt, 3, 4 | BIT(31), 16, 3 | 4 << 8, 9);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 4, false));
	/* Each key once. */
	for (i = 0; i < nt; i++)
		KUNIT_EXPECT_PTR_EQ(test, hybrid_find_entry(f->t, nt, f->t[i].function,
							    f->t[i].index, false),
				    &f->t[i]);
}

/* Levels that add nothing are left out; equal L3s are not asymmetric. */
static void test_amd_topo_skip(struct kunit *test)
{
	struct topo_fixture *f = topo_fixture(test, 8, 8);
	u32 n;
	int nt;

	/* A package of 8 (shift 3): the L3 of 8 is the package, one complex. */
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 0, NULL, 0,
						  &f->ov), 0);
	n = amd_table(f->src, amd_vendor, 0, 1, 2, 3, 8, true, 8);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, 1 | HETERO, 2 | P_CORE, 1 << 8, 0);
	expect_level(test, f->t, nt, 1, 3, 8, 1 | 2 << 8, 0);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 2, false));
	/* No SMT (shift 0, 1 thread), package of 16: all four levels. */
	n = amd_table(f->src, amd_vendor, 5, 0, 1, 4, 16, true, 8);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, 0 | HETERO, 1 | P_CORE, 1 << 8, 5);
	expect_level(test, f->t, nt, 1, 3, 8, 1 | 2 << 8, 5);
	expect_level(test, f->t, nt, 2, 4, 16, 2 | 3 << 8, 5);
	expect_level(test, f->t, nt, 3, 4, 16, 3 | 4 << 8, 5);
}

/*
 * Without the cache flag the complex is KVM's 0x8000001D L3; without 0xB
 * the topology comes from 0x80000008 and 0x8000001E; with neither, only
 * the core fields of subleaf 0, as before (count 0: a guest falls back).
 */
static void test_amd_topo_fallback(struct kunit *test)
{
	struct topo_fixture *f = topo_fixture(test, 8, 4);
	u32 n, i, lv[HYBRID_AMD_LEVELS][4];
	int nt;

	for (i = 0; i < 2; i++) {
		f->types[i].flags &= ~HYBRID_CT_CACHE;
		f->types[i].nr_caches = 0;
	}
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 9, NULL, 0,
						  &f->ov), 0);
	/* KVM's L3 shared by 8: complex of 8, the same for all (no EAX[31]). */
	n = amd_table(f->src, amd_vendor, 9, 1, 2, 4, 16, true, 8);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, 1 | HETERO, 2 | E_CORE, 1 << 8, 9);
	expect_level(test, f->t, nt, 1, 3, 8, 1 | 2 << 8, 9);
	expect_level(test, f->t, nt, 2, 4, 16, 2 | 3 << 8, 9);
	expect_level(test, f->t, nt, 3, 4, 16, 3 | 4 << 8, 9);

	/* No 0xB: the same levels from 0x80000008 and 0x8000001E. */
	n = amd_table(f->src, amd_vendor, 9, 1, 2, 4, 16, false, 8);
	KUNIT_EXPECT_EQ(test, hybrid_amd_topo(&f->ov, HYBRID_OVR_AMD, f->src, n, lv), 4);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, 1 | HETERO, 2 | E_CORE, 1 << 8, 9);
	expect_level(test, f->t, nt, 1, 3, 8, 1 | 2 << 8, 9);
	expect_level(test, f->t, nt, 2, 4, 16, 2 | 3 << 8, 9);
	expect_level(test, f->t, nt, 3, 4, 16, 3 | 4 << 8, 9);

	/* No 0xB, no 0x80000008 (maximum 0x80000001): subleaf 0's core fields. */
	n = amd_table(f->src, amd_vendor, 9, 1, 2, 4, 16, false, 8);
	for (i = 0; i < n; i++)
		if (f->src[i].function == 0x80000000)
			f->src[i].eax = 0x80000001;
	KUNIT_EXPECT_EQ(test, hybrid_amd_topo(&f->ov, HYBRID_OVR_AMD, f->src, n, lv),
			-ENOENT);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, HETERO, E_CORE, 0, 0);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 1, false));

	/* A VMM's own 0x80000026 keeps its levels: only the core fields. */
	n = amd_table(f->src, amd_vendor, 9, 1, 2, 4, 16, true, 8);
	f->src[n++] = (struct kvm_cpuid_entry2){ .function = 0x80000026, .index = 0,
		.flags = SIG, .eax = 1, .ebx = 2, .ecx = 1 << 8, .edx = 9 };
	KUNIT_EXPECT_EQ(test, hybrid_amd_topo(&f->ov, HYBRID_OVR_AMD, f->src, n, lv),
			-EEXIST);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, 1 | HETERO, 2 | E_CORE, 1 << 8, 9);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 1, false));
}

/* An Intel-vendor guest gets no 0x80000026 at all, whatever its topology. */
static void test_amd_topo_intel(struct kunit *test)
{
	struct topo_fixture *f = topo_fixture(test, 8, 4);
	u32 n, lv[HYBRID_AMD_LEVELS][4];
	int nt;

	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 3, NULL, 0,
						  &f->ov), 0);
	n = amd_table(f->src, intel_vendor, 3, 1, 2, 4, 16, true, 16);
	KUNIT_EXPECT_EQ(test, hybrid_amd_topo(&f->ov, HYBRID_OVR_INTEL, f->src, n, lv), 0);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	KUNIT_ASSERT_GT(test, nt, (int)n);
	KUNIT_EXPECT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 0, true));
	KUNIT_EXPECT_EQ(test, hybrid_find_entry(f->t, nt, 0x80000000, 0, true)->eax,
			0x80000021U);
}

/*
 * KVM_SET_CPUID2 before the first run: the table is built again from the
 * new one (hb_set_ret() -> hybrid_table_build()) and follows its topology.
 */
static void test_amd_topo_reset(struct kunit *test)
{
	struct topo_fixture *f = topo_fixture(test, 8, 4);
	u32 n;
	int nt;

	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 3, NULL, 0,
						  &f->ov), 0);
	n = amd_table(f->src, amd_vendor, 3, 1, 2, 4, 16, true, 16);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 2, 4 | BIT(31), 16, 2 | 3 << 8, 3);
	expect_level(test, f->t, nt, 3, 4 | BIT(31), 16, 3 | 4 << 8, 3);
	/* Re-set: one thread per core, 32 per package, another x2APIC id. */
	n = amd_table(f->src, amd_vendor, 0x23, 0, 1, 5, 32, true, 16);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, ARRAY_SIZE(f->t), false);
	expect_level(test, f->t, nt, 0, 0 | HETERO, 1 | P_CORE, 1 << 8, 0x23);
	expect_level(test, f->t, nt, 1, 3 | BIT(31), 8, 1 | 2 << 8, 0x23);
	expect_level(test, f->t, nt, 2, 5 | BIT(31), 32, 2 | 3 << 8, 0x23);
	expect_level(test, f->t, nt, 3, 5 | BIT(31), 32, 3 | 4 << 8, 0x23);
}

/*
 * The most a profile adds to a table fits HYBRID_TABLE_EXTRA_MAX: every
 * leaf of a type with all flags and HYBRID_MAX_CACHES caches, the four
 * topology levels, HYBRID_MAX_CLEARS clears compiled (they add nothing).
 */
static void test_amd_topo_room(struct kunit *test)
{
	struct topo_fixture *f = topo_fixture(test, 8, 4);
	struct hybrid_clear *cl = kunit_kcalloc(test, HYBRID_MAX_CLEARS, sizeof(*cl),
						GFP_KERNEL);
	u32 n, i;
	int nt;

	KUNIT_ASSERT_NOT_NULL(test, cl);
	for (i = 0; i < HYBRID_MAX_CLEARS; i++)
		cl[i] = (struct hybrid_clear){ .vcpu = HYBRID_ALL_VCPUS,
			.function = 0x1, .index = HYBRID_ANY_INDEX, .reg = 2,
			.bits = BIT(i) };
	for (i = f->types[0].nr_caches; i < HYBRID_MAX_CACHES; i++)
		f->types[0].caches[i] = f->types[0].caches[3];
	f->types[0].nr_caches = HYBRID_MAX_CACHES;
	KUNIT_ASSERT_EQ(test, hybrid_compile_vcpu(f->types, 2, &f->lay, 3, cl,
						  HYBRID_MAX_CLEARS, &f->ov), 0);
	n = amd_table(f->src, amd_vendor, 3, 1, 2, 4, 16, true, 16);
	nt = hybrid_table_build(&f->ov, f->src, n, f->t, NULL, n + HYBRID_TABLE_EXTRA_MAX,
				true);
	KUNIT_EXPECT_GT(test, nt, (int)n + HYBRID_AMD_LEVELS);
	KUNIT_EXPECT_LE(test, nt, (int)(n + HYBRID_TABLE_EXTRA_MAX));
	KUNIT_EXPECT_NOT_NULL(test, hybrid_find_entry(f->t, nt, 0x80000026, 2, false));
}

static void test_baseline(struct kunit *test)
{
	struct hybrid_features sets[3] = {}, base, vm = {}, missing;
	u32 w;

	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++) {
		sets[0].word[w] = 0xffff0000 | w;
		sets[1].word[w] = 0x0fff00ff;
		sets[2].word[w] = 0x00ffffff;
	}
	KUNIT_ASSERT_EQ(test, hybrid_baseline(sets, 3, &base), 0);
	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++)
		KUNIT_EXPECT_EQ(test, base.word[w], 0x00ff0000U | (w & 0xff));
	KUNIT_EXPECT_EQ(test, base.word[HYBRID_NR_FEATURE_WORDS], 0U);
	/* One set: the baseline is the set. */
	KUNIT_ASSERT_EQ(test, hybrid_baseline(sets + 1, 1, &base), 0);
	KUNIT_EXPECT_EQ(test, base.word[3], 0x0fff00ffU);
	KUNIT_EXPECT_EQ(test, hybrid_baseline(sets, 0, &base), -EINVAL);
	sets[2].word[15] = 1;				/* reserved */
	KUNIT_EXPECT_EQ(test, hybrid_baseline(sets, 3, &base), -EINVAL);

	/* Subset check against the baseline of sets 0 and 1. */
	sets[2].word[15] = 0;
	KUNIT_ASSERT_EQ(test, hybrid_baseline(sets, 2, &base), 0);
	vm.word[2] = 0x0f000001;			/* within 0x0fff0000|2 */
	KUNIT_EXPECT_EQ(test, hybrid_missing(&vm, &base, &missing), 1U);
	KUNIT_EXPECT_EQ(test, missing.word[2], 0x1U);
	vm.word[2] = 0x0f000002;
	KUNIT_EXPECT_EQ(test, hybrid_missing(&vm, &base, &missing), 0U);
	vm.word[0] = 0xf0000000;			/* 4 bits outside */
	KUNIT_EXPECT_EQ(test, hybrid_missing(&vm, &base, &missing), 4U);
	KUNIT_EXPECT_EQ(test, missing.word[0], 0xf0000000U);
	/* The feature words are where the leaves are. */
	KUNIT_EXPECT_EQ(test, hybrid_fwords[2].function, 0x7U);
	KUNIT_EXPECT_EQ(test, hybrid_fwords[2].reg, 1U);
	KUNIT_EXPECT_EQ(test, hybrid_fwords[HYBRID_NR_FEATURE_WORDS - 1].function,
			0x40000001U);
}

static void test_pmu_filter(struct kunit *test)
{
	struct fixture *f = fixture(test);
	u64 ev[HYBRID_PMU_MAX_EVENTS];
	u32 n, fixed;

	/* P offers all 8 events, E lacks branch misses (bit 6). */
	hybrid_pmu_filter(f->types, 2, ev, &n, &fixed);
	KUNIT_EXPECT_EQ(test, n, 8U);
	KUNIT_EXPECT_EQ(test, fixed, 0x7U);
	KUNIT_EXPECT_EQ(test, ev[0], 0x3cULL);
	KUNIT_EXPECT_EQ(test, ev[1], 0xc0ULL);
	/* Neither offers topdown slots or LLC misses: not in the list. */
	f->types[0].pmu_events_unavailable = 0x90;
	f->types[1].pmu_events_unavailable = 0xd0;
	hybrid_pmu_filter(f->types, 2, ev, &n, &fixed);
	KUNIT_EXPECT_EQ(test, n, 6U);
	KUNIT_EXPECT_EQ(test, ev[4], 0xc4ULL);		/* 0,1,2,3,5,6 */
	KUNIT_EXPECT_EQ(test, ev[5], 0xc5ULL);
	/* Version 4: fixed counters 0..n-1 rather than the mask. */
	f->types[0].pmu_version = 4;
	f->types[0].pmu_fixed_counters = 4;
	f->types[1].pmu_fixed_mask = 0x1;
	hybrid_pmu_filter(f->types, 2, ev, &n, &fixed);
	KUNIT_EXPECT_EQ(test, fixed, 0xfU);
	/* No PMU leaf at all: nothing allowed. */
	f->types[0].flags &= ~HYBRID_CT_PMU;
	f->types[1].flags &= ~HYBRID_CT_PMU;
	hybrid_pmu_filter(f->types, 2, ev, &n, &fixed);
	KUNIT_EXPECT_EQ(test, n, 0U);
	KUNIT_EXPECT_EQ(test, fixed, 0U);
}

/* The compiler never touches MMU leaves: every vCPU sees KVM's values. */
static void test_mmu_leaves_identical(struct kunit *test)
{
	static const u32 leaves[][2] = {
		{ 0x80000008, 0 }, { 0xd, 0 }, { 0xd, 1 }, { 0x1, 0 },
		{ 0xb, 0 }, { 0xb, 1 }, { 0x1f, 0 }, { 0x80000001, 0 },
	};
	struct fixture *f = fixture(test);
	u32 r[4], v, i;

	for (i = 0; i < ARRAY_SIZE(leaves); i++) {
		for (v = 0; v < 4; v++) {
			sim_cpuid(f, v, leaves[i][0], leaves[i][1], r, test);
			KUNIT_EXPECT_EQ_MSG(test, r[0], 0x11111111U, "leaf %#x", leaves[i][0]);
			KUNIT_EXPECT_EQ_MSG(test, r[1], 0x22222222U, "leaf %#x", leaves[i][0]);
			KUNIT_EXPECT_EQ_MSG(test, r[2], 0x33333333U, "leaf %#x", leaves[i][0]);
			KUNIT_EXPECT_EQ_MSG(test, r[3], 0x44444444U, "leaf %#x", leaves[i][0]);
		}
	}
}

static struct kunit_case hybrid_cpuid_cases[] = {
	KUNIT_CASE(test_mmu_leaves_identical),
	KUNIT_CASE(test_pmu_filter),
	KUNIT_CASE(test_baseline),
	KUNIT_CASE(test_valid_profile),
	KUNIT_CASE(test_core_type_leaves),
	KUNIT_CASE(test_freq_and_pmu),
	KUNIT_CASE(test_pmu_clamp),
	KUNIT_CASE(test_cache_leaves),
	KUNIT_CASE(test_refused_profiles),
	KUNIT_CASE(test_refused_types),
	KUNIT_CASE(test_mmu_leaves_refused),
	KUNIT_CASE(test_feature_clears),
	KUNIT_CASE(test_clear_subleaves),
	KUNIT_CASE(test_out_of_range),
	KUNIT_CASE(test_table_build),
	KUNIT_CASE(test_vendor_lines),
	KUNIT_CASE(test_amd_topo_levels),
	KUNIT_CASE(test_amd_topo_skip),
	KUNIT_CASE(test_amd_topo_fallback),
	KUNIT_CASE(test_amd_topo_intel),
	KUNIT_CASE(test_amd_topo_reset),
	KUNIT_CASE(test_amd_topo_room),
	{}
};

static struct kunit_suite hybrid_cpuid_suite = {
	.name = "kvm_hybrid_cpuid",
	.test_cases = hybrid_cpuid_cases,
};

kunit_test_suite(hybrid_cpuid_suite);

MODULE_DESCRIPTION("KUnit tests of the kvm_hybrid CPUID table compiler");
MODULE_LICENSE("GPL");
