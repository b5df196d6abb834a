// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the ioctl-argument helpers every hvkit module uses
 * (include/hvkit/hvkit.h).
 */
#include <kunit/test.h>
#include <linux/module.h>
#include <hvkit/hvkit.h>

static void hvkit_common_arg_size(struct kunit *test)
{
	const size_t min = offsetofend(struct hvkit_info, version);

	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(min, min), 0);
	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(min + 8, min), 0);
	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(HVKIT_ARG_MAX_SIZE, min), 0);
	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(min - 1, min), -EINVAL);
	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(0, min), -EINVAL);
	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(HVKIT_ARG_MAX_SIZE + 1, min),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, hvkit_arg_size_valid(U32_MAX, min), -EINVAL);
}

static void hvkit_common_flags(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, hvkit_flags_valid(0, 0), 0);
	KUNIT_EXPECT_EQ(test, hvkit_flags_valid(0x5, 0x7), 0);
	KUNIT_EXPECT_EQ(test, hvkit_flags_valid(0x8, 0x7), -EINVAL);
	KUNIT_EXPECT_EQ(test, hvkit_flags_valid(BIT_ULL(63), 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, hvkit_flags_valid(BIT_ULL(63), BIT_ULL(63)), 0);
}

static void hvkit_common_fill_info(struct kunit *test)
{
	struct hvkit_info info = { .size = sizeof(info) };

	KUNIT_ASSERT_EQ(test, hvkit_fill_info(&info, "kram", 0x3), 0);
	KUNIT_EXPECT_EQ(test, info.api_version, (u32)HVKIT_API_VERSION);
	KUNIT_EXPECT_EQ(test, info.features, 0x3ULL);
	KUNIT_EXPECT_STREQ(test, info.module, "kram");
	KUNIT_EXPECT_STREQ(test, info.version, HVKIT_VERSION);
	KUNIT_EXPECT_EQ(test, info.size, (u32)sizeof(info));
}

static void hvkit_common_fill_info_rejects(struct kunit *test)
{
	struct hvkit_info info = { .size = sizeof(info), .flags = 1 };

	KUNIT_EXPECT_EQ(test, hvkit_fill_info(&info, "kram", 0), -EINVAL);
	info.flags = 0;
	info.__pad0 = 1;
	KUNIT_EXPECT_EQ(test, hvkit_fill_info(&info, "kram", 0), -EINVAL);
}

static void hvkit_common_fill_info_long_name(struct kunit *test)
{
	struct hvkit_info info = { .size = sizeof(info) };
	char name[HVKIT_NAME_LEN + 8];

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	KUNIT_ASSERT_EQ(test, hvkit_fill_info(&info, name, 0), 0);
	/* Truncated, always NUL-terminated. */
	KUNIT_EXPECT_EQ(test, strlen(info.module), (size_t)HVKIT_NAME_LEN - 1);
}

static struct kunit_case hvkit_common_cases[] = {
	KUNIT_CASE(hvkit_common_arg_size),
	KUNIT_CASE(hvkit_common_flags),
	KUNIT_CASE(hvkit_common_fill_info),
	KUNIT_CASE(hvkit_common_fill_info_rejects),
	KUNIT_CASE(hvkit_common_fill_info_long_name),
	{}
};

static struct kunit_suite hvkit_common_suite = {
	.name = "hvkit_common",
	.test_cases = hvkit_common_cases,
};

kunit_test_suite(hvkit_common_suite);

MODULE_DESCRIPTION("KUnit tests for hvkit's shared ioctl helpers");
MODULE_LICENSE("GPL");
