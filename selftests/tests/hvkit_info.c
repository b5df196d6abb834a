// SPDX-License-Identifier: GPL-2.0
/*
 * HVKIT_IOC_GET_INFO on every hvkit device that is present: the answer
 * matches sysfs, and every malformed argument is refused with the errno
 * include/uapi/linux/hvkit.h promises.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include "kselftest_harness.h"

static const char *const devices[] = {
	"kram", "kvm_hybrid", "guest_idlepoll", "pvtimer_agent",
};

FIXTURE(dev) {
	int fd;
	int open_err;
	const char *name;
};

FIXTURE_VARIANT(dev) {
	int idx;
};

FIXTURE_VARIANT_ADD(dev, kram) { .idx = 0 };
FIXTURE_VARIANT_ADD(dev, kvm_hybrid) { .idx = 1 };
FIXTURE_VARIANT_ADD(dev, guest_idlepoll) { .idx = 2 };
FIXTURE_VARIANT_ADD(dev, pvtimer_agent) { .idx = 3 };

FIXTURE_SETUP(dev)
{
	char path[64];

	self->name = devices[variant->idx];
	snprintf(path, sizeof(path), "/dev/%s", self->name);
	self->fd = open(path, O_RDWR);
	self->open_err = self->fd < 0 ? errno : 0;
}

/*
 * Is @name one of the modules the test group loads (MODULES, exported by
 * the VM's PID 1)? Run by hand without it, every device is optional.
 */
static bool group_loads(const char *name)
{
	const char *m = getenv("MODULES");
	size_t n = strlen(name);

	while (m && *m) {
		m += strspn(m, " ");
		if (!strncmp(m, name, n) && (m[n] == ' ' || !m[n]))
			return true;
		m += strcspn(m, " ");
	}
	return false;
}

/*
 * A SKIP in FIXTURE_SETUP does not stop the test body on 6.1's harness, so
 * every test checks for the device itself: a device of a module the group
 * loads must open; the others are skipped.
 */
static bool no_device(struct __test_metadata *_metadata, struct _test_data_dev *self)
{
	if (self->fd >= 0)
		return false;
	ASSERT_FALSE(group_loads(self->name)) {
		TH_LOG("/dev/%s: %s, but the group loads %s", self->name,
		       strerror(self->open_err), self->name);
	}
	SKIP(return true, "%s is not loaded in this group", self->name);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

static int get_info(int fd, void *arg)
{
	return ioctl(fd, HVKIT_IOC_GET_INFO, arg) ? errno : 0;
}

TEST_F(dev, info_matches_sysfs)
{
	struct hvkit_info info = { .size = sizeof(info) };
	char path[128], version[64] = "";
	FILE *f;

	if (no_device(_metadata, self))
		return;
	ASSERT_EQ(0, get_info(self->fd, &info));
	EXPECT_EQ(HVKIT_API_VERSION, info.api_version);
	EXPECT_STREQ(self->name, info.module);
	snprintf(path, sizeof(path), "/sys/module/%s/version", self->name);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(version, sizeof(version), f));
	fclose(f);
	version[strcspn(version, "\n")] = '\0';
	EXPECT_STREQ(version, info.version);
}

TEST_F(dev, bad_sizes)
{
	struct {
		struct hvkit_info info;
		char tail[64];
	} big;

	if (no_device(_metadata, self))
		return;
	memset(&big, 0, sizeof(big));
	big.info.size = 8;
	EXPECT_EQ(EINVAL, get_info(self->fd, &big));
	big.info.size = 0;
	EXPECT_EQ(EINVAL, get_info(self->fd, &big));
	big.info.size = HVKIT_ARG_MAX_SIZE + 1;
	EXPECT_EQ(EINVAL, get_info(self->fd, &big));
	big.info.size = 0xffffffff;
	EXPECT_EQ(EINVAL, get_info(self->fd, &big));
	/* A newer, larger struct is fine while its tail is zero... */
	big.info.size = sizeof(big);
	EXPECT_EQ(0, get_info(self->fd, &big));
	EXPECT_STREQ(self->name, big.info.module);
	/* ...and refused with E2BIG when the kernel cannot know the tail. */
	big.info.size = sizeof(big);
	big.tail[10] = 1;
	EXPECT_EQ(E2BIG, get_info(self->fd, &big));
}

TEST_F(dev, bad_flags_and_padding)
{
	struct hvkit_info info = { .size = sizeof(info), .flags = 1 };

	if (no_device(_metadata, self))
		return;
	EXPECT_EQ(EINVAL, get_info(self->fd, &info));
	info.flags = 0x80000000u;
	EXPECT_EQ(EINVAL, get_info(self->fd, &info));
	info.flags = 0;
	info.__pad0 = 1;
	EXPECT_EQ(EINVAL, get_info(self->fd, &info));
}

TEST_F(dev, bad_pointers)
{
	void *ro;

	if (no_device(_metadata, self))
		return;
	EXPECT_EQ(EFAULT, get_info(self->fd, NULL));
	EXPECT_EQ(EFAULT, get_info(self->fd, (void *)16));
	/* Readable but not writable: the answer cannot be written back. */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	((struct hvkit_info *)ro)->size = sizeof(struct hvkit_info);
	ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));
	EXPECT_EQ(EFAULT, get_info(self->fd, ro));
	munmap(ro, 4096);
}

TEST_F(dev, unknown_commands)
{
	char buf[256] = { 0 };

	if (no_device(_metadata, self))
		return;
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(HVKIT_IOC_MAGIC, 0x0f, struct hvkit_info), buf));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IO('X', 1), buf));
	EXPECT_EQ(ENOTTY, errno);
	/* Right number, wrong encoded size: a different command. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(HVKIT_IOC_MAGIC, 0x00, __u64), buf));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_HARNESS_MAIN
