// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_dev: a small VFIO user for the vfio_preserve tests. It opens a PCI
 * device through the VFIO group/container API of Linux 6.1 (the device is
 * a QEMU virtio-rng-pci, modern virtio 1.0, 1af4:1044), drives the virtio
 * common configuration structure through the BAR region of the VFIO device
 * fd, and issues HVKIT_VFIO_FEATURE_PRESERVE and VFIO_DEVICE_RESET, so the
 * shell tests can check what survives a close/open or a kexec; "dma" runs
 * the device's queue 0 for real (the device writes into mapped memory).
 *
 * Every command prints its results as key=value lines on stdout and its
 * errors on stderr (the failing call and strerror). Exit status: 0 ok,
 * 1 failure, 2 bad usage. "feature probe", "feature set", "reset" and
 * "open-fail" print the kernel's answer (0 or -errno) and exit 0 either
 * way: the caller checks the answer.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/hvkit.h>

#define SYSFS_PCI	"/sys/bus/pci/devices"
#define MAX_ROUNDS	100000

/* The queue addresses "write" programs into queue 0. */
#define Q_DESC		0x12345000ULL
#define Q_DRIVER	0x12346000ULL
#define Q_DEVICE	0x12347000ULL
/* The Cache Line Size "write" sets (in dwords). */
#define CLS_WRITTEN	0x10

struct vdev {
	const char *bdf;
	int container;
	int group;
	int device;
	int group_nr;
	struct vfio_region_info cfg;	/* the config space region */
	struct vfio_region_info bar;	/* the BAR holding the common config */
	__u64 cc_off;			/* the common config in @bar's region */
	const char *step;		/* the call that failed */
	int err;			/* its -errno */
};

static const char usage[] =
	"Usage: vfio_dev write BDF\n"
	"       vfio_dev read BDF\n"
	"       vfio_dev time BDF N\n"
	"       vfio_dev feature BDF probe|get|set FLAGS\n"
	"       vfio_dev feature BDF set-nocap FLAGS   (SET without CAP_SYS_ADMIN)\n"
	"       vfio_dev sysfs-nocap BDF ATTR VALUE    (write the device's sysfs ATTR\n"
	"                                              without CAP_SYS_ADMIN: write=0|-errno)\n"
	"       vfio_dev feature BDF set-reserved FLAGS (SET, a reserved field not 0)\n"
	"       vfio_dev reset BDF\n"
	"       vfio_dev open-fail BDF\n"
	"       vfio_dev dma BDF RAMFILE start|next|hold\n"
	"                (queue 0 in RAMFILE's first 16 KiB, mapped at IOVA 0x100000:\n"
	"                 start programs it, next posts one more buffer,\n"
	"                 hold is start that keeps the device open until killed)\n"
	"BDF is the full PCI address, e.g. 0000:01:00.0 (bound to a VFIO driver).\n";

/* Record and report the failure of @step with -errno @err; returns @err. */
static int fail(struct vdev *v, const char *step, int err)
{
	v->step = step;
	v->err = err;
	fprintf(stderr, "vfio_dev: %s: %s: %s\n", v->bdf, step, strerror(-err));
	return err;
}

static void vdev_init(struct vdev *v, const char *bdf)
{
	memset(v, 0, sizeof(*v));
	v->bdf = bdf;
	v->container = -1;
	v->group = -1;
	v->device = -1;
	v->group_nr = -1;
}

static void vdev_close(struct vdev *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->device = -1;
	v->group = -1;
	v->container = -1;
}

/* The number N of /dev/vfio/N: the device's iommu_group link. */
static int group_number(struct vdev *v)
{
	char path[PATH_MAX], link[PATH_MAX], *base, *end;
	ssize_t n;
	long nr;

	snprintf(path, sizeof(path), "%s/%s/iommu_group", SYSFS_PCI, v->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return fail(v, "readlink iommu_group", -errno);
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	errno = 0;
	nr = strtol(base, &end, 10);
	if (errno || end == base || *end || nr < 0 || nr > INT_MAX)
		return fail(v, "parse iommu_group", -EINVAL);
	v->group_nr = (int)nr;
	return 0;
}

/*
 * Container, group, IOMMU: everything up to the device fd. With @verbose
 * (open-fail), print the group and whether it is viable.
 */
static int open_group(struct vdev *v, int verbose)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[64];
	int ret, type;

	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		return fail(v, "open /dev/vfio/vfio", -errno);
	ret = ioctl(v->container, VFIO_GET_API_VERSION);
	if (ret != VFIO_API_VERSION)
		return fail(v, "VFIO_GET_API_VERSION", ret < 0 ? -errno : -EPROTO);
	ret = group_number(v);
	if (ret)
		return ret;
	if (verbose)
		printf("group=%d\n", v->group_nr);
	snprintf(path, sizeof(path), "/dev/vfio/%d", v->group_nr);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0)
		return fail(v, "open /dev/vfio/N", -errno);
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &st))
		return fail(v, "VFIO_GROUP_GET_STATUS", -errno);
	if (verbose)
		printf("viable=%d\n", !!(st.flags & VFIO_GROUP_FLAGS_VIABLE));
	else if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		fprintf(stderr,
			"vfio_dev: %s: group %d is not viable (every device in it must be bound to a VFIO driver or none)\n",
			v->bdf, v->group_nr);
	/* A non-viable group fails here (EBUSY): the caller sees the errno. */
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container))
		return fail(v, "VFIO_GROUP_SET_CONTAINER", -errno);
	type = VFIO_TYPE1v2_IOMMU;
	if (ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		type = VFIO_TYPE1_IOMMU;
	if (ioctl(v->container, VFIO_SET_IOMMU, type))
		return fail(v, "VFIO_SET_IOMMU", -errno);
	return 0;
}

static int open_device(struct vdev *v)
{
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);
	if (v->device < 0) {
		v->device = -1;
		return fail(v, "VFIO_GROUP_GET_DEVICE_FD", -errno);
	}
	return 0;
}

static int region_info(struct vdev *v, __u32 index,
		       struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, ri))
		return fail(v, "VFIO_DEVICE_GET_REGION_INFO", -errno);
	return 0;
}

/* Exactly @len bytes at @off of the device fd: 0 or -errno. */
static int dev_pread(struct vdev *v, void *buf, size_t len, __u64 off,
		     const char *step)
{
	ssize_t n = pread(v->device, buf, len, (off_t)off);

	if (n < 0)
		return fail(v, step, -errno);
	if ((size_t)n != len)
		return fail(v, step, -EIO);
	return 0;
}

static int dev_pwrite(struct vdev *v, const void *buf, size_t len, __u64 off,
		      const char *step)
{
	ssize_t n = pwrite(v->device, buf, len, (off_t)off);

	if (n < 0)
		return fail(v, step, -errno);
	if ((size_t)n != len)
		return fail(v, step, -EIO);
	return 0;
}

/* Config space through VFIO (the virtualized view), little endian. */
static int cfg_read(struct vdev *v, unsigned int off, size_t size, __u32 *val)
{
	__u8 b[4] = { 0 };
	int ret;

	ret = dev_pread(v, b, size, v->cfg.offset + off, "pread config region");
	if (ret)
		return ret;
	*val = b[0] | b[1] << 8 | (__u32)b[2] << 16 | (__u32)b[3] << 24;
	return 0;
}

static int cfg_write8(struct vdev *v, unsigned int off, __u8 val)
{
	return dev_pwrite(v, &val, sizeof(val), v->cfg.offset + off,
			  "pwrite config region");
}

static int cfg_write16(struct vdev *v, unsigned int off, __u16 val)
{
	__le16 le = htole16(val);

	return dev_pwrite(v, &le, sizeof(le), v->cfg.offset + off,
			  "pwrite config region");
}

/*
 * One field of the common configuration (VIRTIO_PCI_COMMON_* offset) with
 * an access of the field's size: 1, 2 or 4 bytes (virtio 1.0 4.1.3.1; the
 * layout is 4.1.4.3).
 */
static int cc_read(struct vdev *v, size_t off, size_t size, __u32 *val)
{
	__u8 b8;
	__le16 b16;
	__le32 b32;
	void *buf = size == 1 ? (void *)&b8 : size == 2 ? (void *)&b16 : (void *)&b32;
	int ret;

	ret = dev_pread(v, buf, size, v->bar.offset + v->cc_off + off,
			"pread common config");
	if (ret)
		return ret;
	*val = size == 1 ? b8 : size == 2 ? le16toh(b16) : le32toh(b32);
	return 0;
}

static int cc_write(struct vdev *v, size_t off, size_t size, __u32 val)
{
	__u8 b8 = (__u8)val;
	__le16 b16 = htole16((__u16)val);
	__le32 b32 = htole32(val);
	const void *buf = size == 1 ? (void *)&b8 : size == 2 ? (void *)&b16 : (void *)&b32;

	return dev_pwrite(v, buf, size, v->bar.offset + v->cc_off + off,
			  "pwrite common config");
}

/* A 64-bit queue address: two 32-bit accesses, low half first. */
static int cc_read64(struct vdev *v, size_t off, __u64 *val)
{
	__u32 lo, hi;
	int ret;

	ret = cc_read(v, off, 4, &lo);
	if (!ret)
		ret = cc_read(v, off + 4, 4, &hi);
	if (!ret)
		*val = (__u64)hi << 32 | lo;
	return ret;
}

static int cc_write64(struct vdev *v, size_t off, __u64 val)
{
	int ret = cc_write(v, off, 4, (__u32)val);

	return ret ? ret : cc_write(v, off + 4, 4, (__u32)(val >> 32));
}

/*
 * The config-space offset of the virtio capability of @cfg_type (walking
 * the capability list through the VFIO config region) in *@pos, its BAR
 * and offset in *@bar and *@offset: 0 or -errno (printed).
 */
static int find_virtio_cap(struct vdev *v, __u32 cfg_type, __u32 *pos, __u32 *bar,
			   __u32 *offset)
{
	__u32 status, vndr, type;
	int guard, ret;

	ret = cfg_read(v, PCI_STATUS, 2, &status);
	if (ret)
		return ret;
	if (!(status & PCI_STATUS_CAP_LIST))
		return fail(v, "no PCI capability list", -ENODEV);
	ret = cfg_read(v, PCI_CAPABILITY_LIST, 1, pos);
	for (guard = 0; !ret && *pos >= PCI_STD_HEADER_SIZEOF && guard < 48; guard++) {
		*pos &= ~3U;
		type = 0;
		ret = cfg_read(v, *pos + PCI_CAP_LIST_ID, 1, &vndr);
		if (!ret && vndr == PCI_CAP_ID_VNDR)
			ret = cfg_read(v, *pos + offsetof(struct virtio_pci_cap, cfg_type), 1,
				       &type);
		if (!ret && vndr == PCI_CAP_ID_VNDR && type == cfg_type) {
			ret = cfg_read(v, *pos + offsetof(struct virtio_pci_cap, bar), 1, bar);
			if (!ret)
				ret = cfg_read(v, *pos + offsetof(struct virtio_pci_cap, offset),
					       4, offset);
			return ret;
		}
		if (!ret)
			ret = cfg_read(v, *pos + PCI_CAP_LIST_NEXT, 1, pos);
	}
	return ret ? ret : fail(v, "no such virtio capability", -ENODEV);
}

/* The virtio common configuration: its BAR region and offset. */
static int find_common_cfg(struct vdev *v)
{
	__u32 pos, bar, offset, len;
	int ret;

	ret = find_virtio_cap(v, VIRTIO_PCI_CAP_COMMON_CFG, &pos, &bar, &offset);
	if (!ret)
		ret = cfg_read(v, pos + offsetof(struct virtio_pci_cap, length), 4, &len);
	if (ret)
		return ret;
	if (bar > 5 || len < sizeof(struct virtio_pci_common_cfg))
		return fail(v, "bad virtio common config capability", -EINVAL);
	v->cc_off = offset;
	ret = region_info(v, VFIO_PCI_BAR0_REGION_INDEX + bar, &v->bar);
	if (ret)
		return ret;
	if (!(v->bar.flags & VFIO_REGION_INFO_FLAG_READ) ||
	    !(v->bar.flags & VFIO_REGION_INFO_FLAG_WRITE) ||
	    v->bar.size < v->cc_off + sizeof(struct virtio_pci_common_cfg))
		return fail(v, "BAR region of the common config", -EINVAL);
	return 0;
}

/* Container, group, device fd, regions: ready for the virtio commands. */
static int vdev_open(struct vdev *v)
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	int ret;

	ret = open_group(v, 0);
	if (!ret)
		ret = open_device(v);
	if (ret)
		return ret;
	if (ioctl(v->device, VFIO_DEVICE_GET_INFO, &di))
		return fail(v, "VFIO_DEVICE_GET_INFO", -errno);
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return fail(v, "not a vfio-pci device", -ENODEV);
	return region_info(v, VFIO_PCI_CONFIG_REGION_INDEX, &v->cfg);
}

/*
 * VFIO refuses BAR accesses (EIO) while memory decoding is off in its view
 * of the Command register: turn it on when it is not.
 */
static int enable_memory(struct vdev *v)
{
	__u32 cmd;
	int ret;

	ret = cfg_read(v, PCI_COMMAND, 2, &cmd);
	if (ret || (cmd & PCI_COMMAND_MEMORY))
		return ret;
	return cfg_write16(v, PCI_COMMAND, (__u16)(cmd | PCI_COMMAND_MEMORY));
}

/* The Command register as the host sees it (sysfs config, not VFIO). */
static int host_command(struct vdev *v, __u32 *cmd)
{
	char path[PATH_MAX];
	__u8 b[2];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/config", SYSFS_PCI, v->bdf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(v, "open sysfs config", -errno);
	n = pread(fd, b, sizeof(b), PCI_COMMAND);
	if (n != sizeof(b)) {
		n = n < 0 ? -errno : -EIO;
		close(fd);
		return fail(v, "pread sysfs config", (int)n);
	}
	close(fd);
	*cmd = b[0] | b[1] << 8;
	return 0;
}

/* What "read" prints; @cmd is the host's Command register. */
static int print_state(struct vdev *v, __u32 cmd)
{
	__u32 status, feat, cls;
	__u64 desc, drv, dev;
	int ret;

	ret = cc_read(v, VIRTIO_PCI_COMMON_STATUS, 1, &status);
	if (!ret)
		ret = cc_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	if (!ret)
		ret = cc_read64(v, VIRTIO_PCI_COMMON_Q_DESCLO, &desc);
	if (!ret)
		ret = cc_read64(v, VIRTIO_PCI_COMMON_Q_AVAILLO, &drv);
	if (!ret)
		ret = cc_read64(v, VIRTIO_PCI_COMMON_Q_USEDLO, &dev);
	if (!ret)
		ret = cc_write(v, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	if (!ret)
		ret = cc_read(v, VIRTIO_PCI_COMMON_GF, 4, &feat);
	if (!ret)
		ret = cfg_read(v, PCI_CACHE_LINE_SIZE, 1, &cls);
	if (ret)
		return ret;
	printf("status=0x%x\n", status);
	printf("cache_line=0x%x\n", cls);
	printf("queue_desc=0x%llx\n", (unsigned long long)desc);
	printf("queue_driver=0x%llx\n", (unsigned long long)drv);
	printf("queue_device=0x%llx\n", (unsigned long long)dev);
	printf("driver_feature1=0x%x\n", feat);
	printf("command=0x%04x\n", cmd);
	return 0;
}

static int cmd_read(struct vdev *v)
{
	__u32 cmd, vcmd;
	int ret;

	ret = vdev_open(v);
	/* Both views of Command before this program changes anything. */
	if (!ret)
		ret = host_command(v, &cmd);
	if (!ret)
		ret = cfg_read(v, PCI_COMMAND, 2, &vcmd);
	if (!ret)
		ret = find_common_cfg(v);
	if (!ret)
		ret = enable_memory(v);
	if (!ret)
		ret = print_state(v, cmd);
	if (!ret)
		printf("vfio_command=0x%04x\n", vcmd);
	vdev_close(v);
	return ret ? 1 : 0;
}

static int set_status(struct vdev *v, __u32 status)
{
	return cc_write(v, VIRTIO_PCI_COMMON_STATUS, 1, status);
}

/*
 * Reset, negotiate VERSION_1, program queue 0 at @desc/@drv/@dev (enabled
 * with @enable, else left disabled), bus master, DRIVER_OK.
 */
static int program(struct vdev *v, __u64 desc, __u64 drv, __u64 dev, int enable)
{
	__u32 status = 0, feat, cmd;
	int ret, i;

	ret = set_status(v, 0);
	/* The reset is complete when device_status reads back 0. */
	for (i = 0; !ret && i < 1000; i++) {
		ret = cc_read(v, VIRTIO_PCI_COMMON_STATUS, 1, &status);
		if (ret || !status)
			break;
		usleep(1000);
	}
	if (ret)
		return ret;
	if (status)
		return fail(v, "device_status stays non-zero after the reset", -ETIMEDOUT);
	status = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	ret = set_status(v, status);
	status |= VIRTIO_CONFIG_S_DRIVER;
	if (!ret)
		ret = set_status(v, status);
	if (!ret)
		ret = cc_write(v, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	if (!ret)
		ret = cc_read(v, VIRTIO_PCI_COMMON_DF, 4, &feat);
	if (ret)
		return ret;
	if (!(feat & 1))	/* VIRTIO_F_VERSION_1: bit 32 */
		return fail(v, "device does not offer VIRTIO_F_VERSION_1", -EOPNOTSUPP);
	/*
	 * VERSION_1, and ACCESS_PLATFORM (bit 33) when offered: a device with
	 * iommu_platform=on DMAs through the IOMMU, to our IOVAs; one without
	 * it would take them for guest-physical addresses.
	 */
	ret = cc_write(v, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	if (!ret)
		ret = cc_write(v, VIRTIO_PCI_COMMON_GF, 4, 1 | (feat & 2));
	status |= VIRTIO_CONFIG_S_FEATURES_OK;
	if (!ret)
		ret = set_status(v, status);
	if (!ret)
		ret = cc_read(v, VIRTIO_PCI_COMMON_STATUS, 1, &status);
	if (ret)
		return ret;
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return fail(v, "FEATURES_OK not accepted", -EPROTO);
	ret = cc_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	if (!ret)
		ret = cc_write64(v, VIRTIO_PCI_COMMON_Q_DESCLO, desc);
	if (!ret)
		ret = cc_write64(v, VIRTIO_PCI_COMMON_Q_AVAILLO, drv);
	if (!ret)
		ret = cc_write64(v, VIRTIO_PCI_COMMON_Q_USEDLO, dev);
	if (!ret && enable)
		ret = cc_write(v, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	if (!ret)
		ret = cfg_read(v, PCI_COMMAND, 2, &cmd);
	if (!ret)
		ret = cfg_write16(v, PCI_COMMAND,
				  (__u16)(cmd | PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY));
	status |= VIRTIO_CONFIG_S_DRIVER_OK;
	if (!ret)
		ret = set_status(v, status);
	return ret;
}

static int cmd_write(struct vdev *v)
{
	__u32 cmd;
	int ret;

	ret = vdev_open(v);
	if (!ret)
		ret = find_common_cfg(v);
	/* Before any BAR access; bus mastering comes later, in program(). */
	if (!ret)
		ret = enable_memory(v);
	/* queue_enable stays 0: nothing may use these addresses. */
	if (!ret)
		ret = program(v, Q_DESC, Q_DRIVER, Q_DEVICE, 0);
	/*
	 * And one config register vfio-pci passes through to the device
	 * (Cache Line Size): what a guest writes there is device state too.
	 */
	if (!ret)
		ret = cfg_write8(v, PCI_CACHE_LINE_SIZE, CLS_WRITTEN);
	if (!ret)
		ret = host_command(v, &cmd);
	if (!ret)
		ret = print_state(v, cmd);
	vdev_close(v);
	return ret ? 1 : 0;
}

/*
 * "dma": queue 0 of the virtio-rng as a guest driver runs it, in "guest
 * RAM" that outlives the process (a file mapped shared, a kram area across
 * a kexec) and is mapped for the device at DMA_IOVA by every run:
 *   DMA_IOVA + 0x0000  descriptor table
 *            + 0x1000  available ring
 *            + 0x2000  used ring
 *            + 0x3000  buffers, DMA_BUF bytes each, one per request
 * "start" resets and programs the device with this queue and has it fill
 * one buffer; "next" (a later process: after a close/open or a kexec)
 * maps the same RAM again, posts one more buffer where the rings say the
 * last run stopped, and checks that the device's write landed in it.
 * "hold" is "start" that then keeps the device open until it is killed
 * (a VMM still running when the host kexecs), after printing held=1.
 */
#define DMA_IOVA	0x100000ULL
#define DMA_SIZE	0x4000UL
#define DMA_BUF		64
#define DMA_FILL	0xaa

struct vring_desc_le {
	__le64 addr;
	__le32 len;
	__le16 flags;
	__le16 next;
};

static int vfio_map(struct vdev *v, void *ram)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (__u64)(unsigned long)ram,
		.iova = DMA_IOVA,
		.size = DMA_SIZE,
	};

	if (ioctl(v->container, VFIO_IOMMU_MAP_DMA, &m))
		return fail(v, "VFIO_IOMMU_MAP_DMA", -errno);
	return 0;
}

/* The notify address of queue 0 in @v->bar's region (same BAR as the common config). */
static int find_notify(struct vdev *v, __u64 *where)
{
	__u32 pos, bar, offset, mult, qoff;
	int ret;

	ret = find_virtio_cap(v, VIRTIO_PCI_CAP_NOTIFY_CFG, &pos, &bar, &offset);
	if (!ret)
		ret = cfg_read(v, pos + sizeof(struct virtio_pci_cap), 4, &mult);
	if (!ret)
		ret = cc_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	if (!ret)
		ret = cc_read(v, VIRTIO_PCI_COMMON_Q_NOFF, 2, &qoff);
	if (ret)
		return ret;
	if (v->bar.index != VFIO_PCI_BAR0_REGION_INDEX + bar)
		return fail(v, "notify capability in another BAR", -EOPNOTSUPP);
	*where = v->bar.offset + offset + (__u64)qoff * mult;
	return 0;
}

/*
 * Post buffer number @n (descriptor n % queue size, its own slot in the
 * buffer page), notify, wait for the used ring to reach @n + 1. Sets
 * *@landed when the device wrote into the buffer.
 */
static int dma_one(struct vdev *v, unsigned char *ram, unsigned int qsz, __u16 n,
		   __u64 notify, int *landed)
{
	struct vring_desc_le *desc = (struct vring_desc_le *)ram;
	__le16 *avail = (__le16 *)(ram + 0x1000);
	__le16 *used = (__le16 *)(ram + 0x2000);
	__le32 len;
	unsigned int slot = n % (0x1000 / DMA_BUF), d = n % qsz, i;
	unsigned char *buf = ram + 0x3000 + slot * DMA_BUF;
	__le16 q0 = htole16(0);
	int ret;

	memset(buf, DMA_FILL, DMA_BUF);
	desc[d].addr = htole64(DMA_IOVA + 0x3000 + slot * DMA_BUF);
	desc[d].len = htole32(DMA_BUF);
	desc[d].flags = htole16(2);	/* VRING_DESC_F_WRITE */
	desc[d].next = 0;
	avail[0] = htole16(1);		/* VRING_AVAIL_F_NO_INTERRUPT */
	avail[2 + n % qsz] = htole16(d);
	/* The ring entry before the index the device reads, as a driver. */
	__atomic_store_n(&avail[1], htole16((__u16)(n + 1)), __ATOMIC_SEQ_CST);
	ret = dev_pwrite(v, &q0, sizeof(q0), notify, "notify queue 0");
	if (ret)
		return ret;
	for (i = 0; i < 5000; i++) {
		if (le16toh(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE)) == (__u16)(n + 1))
			break;
		usleep(1000);
	}
	*landed = 0;
	for (i = 0; i < DMA_BUF; i++)
		*landed |= buf[i] != DMA_FILL;
	memcpy(&len, ram + 0x2000 + 4 + 8 * d + 4, sizeof(len));
	printf("used_idx=%u\n", le16toh(__atomic_load_n(&used[1], __ATOMIC_ACQUIRE)));
	printf("used_len=%u\n", le32toh(len));
	printf("landed=%d\n", *landed);
	return 0;
}

static int cmd_dma(struct vdev *v, const char *file, const char *op)
{
	__u32 status = 0, qsz = 0, cmd = 0;
	unsigned char *ram = MAP_FAILED;
	__u64 notify = 0;
	bool hold = !strcmp(op, "hold");
	int fd, ret, landed = 0;
	__u16 n = 0;

	if (hold)
		op = "start";
	if (strcmp(op, "start") && strcmp(op, "next")) {
		fputs(usage, stderr);
		return 2;
	}
	fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "vfio_dev: %s: %s\n", file, strerror(errno));
		return 1;
	}
	ram = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (ram == MAP_FAILED) {
		fprintf(stderr, "vfio_dev: mmap %s: %s\n", file, strerror(errno));
		return 1;
	}
	ret = vdev_open(v);
	if (!ret)
		ret = vfio_map(v, ram);
	if (!ret)
		ret = find_common_cfg(v);
	if (!ret)
		ret = enable_memory(v);
	if (!ret && !strcmp(op, "start")) {
		__u32 feat = 0;

		ret = cc_write(v, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
		if (!ret)
			ret = cc_read(v, VIRTIO_PCI_COMMON_DF, 4, &feat);
		if (!ret && !(feat & 2))
			ret = fail(v,
				   "no VIRTIO_F_ACCESS_PLATFORM: the device would bypass the IOMMU (iommu_platform=on)",
				   -EOPNOTSUPP);
		memset(ram, 0, DMA_SIZE);
		if (!ret)
			ret = program(v, DMA_IOVA, DMA_IOVA + 0x1000, DMA_IOVA + 0x2000, 1);
	}
	if (!ret)
		ret = cc_read(v, VIRTIO_PCI_COMMON_STATUS, 1, &status);
	if (!ret)
		ret = cfg_read(v, PCI_COMMAND, 2, &cmd);
	if (ret)
		goto out;
	printf("status=0x%x\n", status);
	printf("vfio_command=0x%04x\n", cmd);
	/* Reset (disarmed): nothing left to drive; the caller checks status. */
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		printf("landed=0\n");
		goto out;
	}
	/*
	 * After a kexec the first open leaves bus master off (vfio_preserve
	 * restores it only at the VMM's request): the VMM turns it on once
	 * its mappings are in place, before the device may run again.
	 */
	if (!(cmd & PCI_COMMAND_MASTER)) {
		ret = cfg_write16(v, PCI_COMMAND, (__u16)(cmd | PCI_COMMAND_MASTER));
		if (ret)
			goto out;
		printf("bus_master_set_again=1\n");
	}
	/*
	 * A kexec with bus master off (kexec_keep_master=0) made QEMU's device
	 * drop DRIVER_OK; its queue is still programmed: the VMM sets it again.
	 */
	if (!(status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		ret = set_status(v, status | VIRTIO_CONFIG_S_DRIVER_OK);
		if (ret)
			goto out;
		printf("driver_ok_set_again=1\n");
	}
	ret = cc_write(v, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	if (!ret)
		ret = cc_read(v, VIRTIO_PCI_COMMON_Q_SIZE, 2, &qsz);
	if (!ret && (!qsz || qsz > 0x1000 / sizeof(struct vring_desc_le)))
		ret = fail(v, "queue size", -EINVAL);
	if (!ret)
		ret = find_notify(v, &notify);
	if (ret)
		goto out;
	/* Where the rings in guest RAM say the last run stopped. */
	n = le16toh(*(__le16 *)(ram + 0x2000 + 2));
	if (n != le16toh(*(__le16 *)(ram + 0x1000 + 2))) {
		ret = fail(v, "used index differs from avail index in RAM", -EPROTO);
		goto out;
	}
	printf("queue_size=%u\n", qsz);
	printf("request=%u\n", n);
	ret = dma_one(v, ram, qsz, n, notify, &landed);
	if (!ret && hold) {
		printf("held=1\n");
		fflush(stdout);
		for (;;)
			pause();
	}
out:
	vdev_close(v);
	munmap(ram, DMA_SIZE);
	return ret ? 1 : 0;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n values in microseconds, rounded; sorts @ns. */
static unsigned long long median_us(__u64 *ns, size_t n)
{
	__u64 m;

	qsort(ns, n, sizeof(*ns), cmp_u64);
	m = n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2;
	return (m + 500) / 1000;
}

static int cmd_time(struct vdev *v, const char *count)
{
	__u64 *open_ns, *close_ns, *cycle_ns, t0, t1, t2;
	unsigned long n, i;
	char *end;
	int ret;

	errno = 0;
	n = strtoul(count, &end, 10);
	if (errno || end == count || *end || n < 1 || n > MAX_ROUNDS) {
		fprintf(stderr, "vfio_dev: N must be 1..%d, not '%s'\n", MAX_ROUNDS, count);
		return 2;
	}
	open_ns = calloc(n, sizeof(*open_ns));
	close_ns = calloc(n, sizeof(*close_ns));
	cycle_ns = calloc(n, sizeof(*cycle_ns));
	ret = open_ns && close_ns && cycle_ns ? 0 : fail(v, "calloc", -ENOMEM);
	if (!ret)
		ret = open_group(v, 0);
	for (i = 0; !ret && i < n; i++) {
		t0 = now_ns();
		ret = open_device(v);
		t1 = now_ns();
		if (ret)
			break;
		if (close(v->device))
			ret = fail(v, "close device fd", -errno);
		t2 = now_ns();
		v->device = -1;
		open_ns[i] = t1 - t0;
		close_ns[i] = t2 - t1;
		cycle_ns[i] = t2 - t0;
	}
	if (!ret) {
		printf("open_us_median=%llu\n", median_us(open_ns, n));
		printf("close_us_median=%llu\n", median_us(close_ns, n));
		printf("cycle_us_median=%llu\n", median_us(cycle_ns, n));
		/* median_us() sorted cycle_ns */
		printf("cycle_us_min=%llu\n", (unsigned long long)(cycle_ns[0] + 500) / 1000);
		printf("cycle_us_max=%llu\n", (unsigned long long)(cycle_ns[n - 1] + 500) / 1000);
		printf("n=%lu\n", n);
	}
	free(open_ns);
	free(close_ns);
	free(cycle_ns);
	vdev_close(v);
	return ret ? 1 : 0;
}

/* Drop CAP_SYS_ADMIN from every set: an unprivileged VMM with the fd. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	__u32 bit = 1U << (CAP_SYS_ADMIN % 32);
	int w = CAP_SYS_ADMIN / 32;

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[w].effective &= ~bit;
	d[w].permitted &= ~bit;
	d[w].inheritable &= ~bit;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* Write @value to the device's sysfs @attr without CAP_SYS_ADMIN. */
static int cmd_sysfs_nocap(struct vdev *v, const char *attr, const char *value)
{
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", v->bdf, attr);
	ret = drop_sys_admin();
	if (ret) {
		fprintf(stderr, "vfio_dev: capset: %s\n", strerror(-ret));
		return 1;
	}
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		fprintf(stderr, "vfio_dev: %s: %s\n", path, strerror(errno));
		return 1;
	}
	ret = write(fd, value, strlen(value)) < 0 ? -errno : 0;
	close(fd);
	printf("write=%d\n", ret);
	return 0;
}

static int cmd_feature(struct vdev *v, int argc, char **argv)
{
	__u64 buf[(sizeof(struct vfio_device_feature) +
		   sizeof(struct hvkit_vfio_preserve) + 7) / 8];
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	struct hvkit_vfio_preserve *p = (struct hvkit_vfio_preserve *)f->data;
	const char *op = argv[0];
	unsigned long flags = 0;
	char *end;
	int ret;

	if ((!strcmp(op, "set") || !strcmp(op, "set-nocap") ||
	     !strcmp(op, "set-reserved")) && argc == 2) {
		errno = 0;
		flags = strtoul(argv[1], &end, 0);
		if (errno || end == argv[1] || *end || flags > UINT32_MAX) {
			fprintf(stderr, "vfio_dev: bad FLAGS '%s'\n", argv[1]);
			return 2;
		}
	} else if (argc != 1 || (strcmp(op, "probe") && strcmp(op, "get"))) {
		fputs(usage, stderr);
		return 2;
	}
	ret = vdev_open(v);
	if (ret) {
		vdev_close(v);
		return 1;
	}
	memset(buf, 0, sizeof(buf));
	f->argsz = sizeof(struct vfio_device_feature) + sizeof(*p);
	f->flags = HVKIT_VFIO_FEATURE_PRESERVE;
	if (!strcmp(op, "probe")) {
		f->flags |= VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			    VFIO_DEVICE_FEATURE_SET;
		ret = ioctl(v->device, VFIO_DEVICE_FEATURE, f) ? -errno : 0;
		printf("probe=%d\n", ret);
		ret = 0;
	} else if (!strcmp(op, "get")) {
		f->flags |= VFIO_DEVICE_FEATURE_GET;
		if (ioctl(v->device, VFIO_DEVICE_FEATURE, f)) {
			ret = fail(v, "VFIO_DEVICE_FEATURE GET", -errno);
			printf("get=%d\n", ret);
		} else {
			printf("flags=0x%x\n", p->flags);
			printf("kept=0x%x\n", p->kept);
			printf("resets_skipped=%llu\n", (unsigned long long)p->resets_skipped);
			printf("resets_done=%llu\n", (unsigned long long)p->resets_done);
			printf("saved_generation=%llu\n",
			       (unsigned long long)p->saved_generation);
		}
	} else {
		f->flags |= VFIO_DEVICE_FEATURE_SET;
		p->flags = (__u32)flags;
		if (!strcmp(op, "set-reserved"))
			p->resets_done = 1;
		if (!strcmp(op, "set-nocap")) {
			ret = drop_sys_admin();
			if (ret) {
				fail(v, "capset", ret);
				vdev_close(v);
				return 1;
			}
		}
		ret = ioctl(v->device, VFIO_DEVICE_FEATURE, f) ? -errno : 0;
		if (ret)
			fprintf(stderr, "vfio_dev: %s: VFIO_DEVICE_FEATURE SET 0x%lx: %s\n",
				v->bdf, flags, strerror(-ret));
		printf("set=%d\n", ret);
		ret = 0;
	}
	vdev_close(v);
	return ret ? 1 : 0;
}

static int cmd_reset(struct vdev *v)
{
	int ret;

	ret = vdev_open(v);
	if (ret) {
		vdev_close(v);
		return 1;
	}
	ret = ioctl(v->device, VFIO_DEVICE_RESET) ? -errno : 0;
	if (ret)
		fprintf(stderr, "vfio_dev: %s: VFIO_DEVICE_RESET: %s\n", v->bdf,
			strerror(-ret));
	printf("reset=%d\n", ret);
	vdev_close(v);
	return 0;
}

/* For bad-input tests: where opening fails, and with which errno. */
static int cmd_open_fail(struct vdev *v)
{
	int ret;

	ret = open_group(v, 1);
	if (!ret)
		ret = open_device(v);
	printf("open=%d\n", ret);
	if (ret)
		printf("step=%s\n", v->step);
	vdev_close(v);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct vdev v;

	if (argc < 3) {
		fputs(usage, argc > 1 && !strcmp(cmd, "--help") ? stdout : stderr);
		return argc > 1 && !strcmp(cmd, "--help") ? 0 : 2;
	}
	vdev_init(&v, argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "write") && argc == 3)
		return cmd_write(&v);
	if (!strcmp(cmd, "read") && argc == 3)
		return cmd_read(&v);
	if (!strcmp(cmd, "time") && argc == 4)
		return cmd_time(&v, argv[3]);
	if (!strcmp(cmd, "feature") && argc >= 4)
		return cmd_feature(&v, argc - 3, argv + 3);
	if (!strcmp(cmd, "reset") && argc == 3)
		return cmd_reset(&v);
	if (!strcmp(cmd, "open-fail") && argc == 3)
		return cmd_open_fail(&v);
	if (!strcmp(cmd, "dma") && argc == 5)
		return cmd_dma(&v, argv[3], argv[4]);
	if (!strcmp(cmd, "sysfs-nocap") && argc == 5)
		return cmd_sysfs_nocap(&v, argv[3], argv[4]);
	fputs(usage, stderr);
	return 2;
}
