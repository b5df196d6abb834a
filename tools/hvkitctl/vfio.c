// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl vfio: the vfio_preserve command group. vfio_preserve is a
 * vfio-pci variant driver without a device node, so everything here goes
 * through sysfs: the PCI device's driver_override, the driver's bind files
 * and the preserve, preserve_flags and preserve_status attributes the
 * driver adds to a device it is bound to (include/uapi/linux/hvkit.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <linux/hvkit.h>

#include "hvkitctl.h"

#define VPR_DRIVER	"vfio_preserve"
#define CLAIM_CONF	"hvkit-vfio-preserve.conf"
#define MAX_DRIVERS	32
#define BDF_LEN		32

struct vfio_sub {
	const char *name;
	int (*fn)(const struct vfio_sub *s, int argc, char **argv);
	const char *usage;
	const char *summary;
};

void vfio_help(FILE *out)
{
	fputs("Usage: hvkitctl vfio SUBCOMMAND [ARGS]\n"
	      "\n"
	      "vfio_preserve is a vfio-pci variant driver. Bound to a PCI device instead of\n"
	      "vfio-pci, it is a normal VFIO device to the VMM, but once armed it stops the\n"
	      "resets vfio-pci does when the device is opened and closed: the device keeps\n"
	      "its state (configuration, bus mastering, rings programmed by the guest)\n"
	      "while the VMM restarts, and with kram it is recorded and bound again after a\n"
	      "host kexec. QEMU needs no change:\n"
	      "  qemu-system-x86_64 ... -device vfio-pci,host=BDF\n"
	      "\n"
	      "Subcommands:\n"
	      "  list                 the devices bound to vfio_preserve: BDF, vendor:device,\n"
	      "                       IOMMU group, armed, what they keep\n"
	      "  bind BDF             bind BDF to vfio_preserve (driver_override, unbind from\n"
	      "                       its driver, drivers_probe); BDF may be short (01:00.0)\n"
	      "  unbind BDF           unbind it, clear driver_override, let its default driver\n"
	      "                       take it again\n"
	      "  preserve BDF [on|off] [--no-user-reset]\n"
	      "                       arm (default: on) or disarm it; --no-user-reset also\n"
	      "                       turns the VMM's VFIO_DEVICE_RESET into a no-op\n"
	      "  status [BDF]         preserve_status of BDF, or of every bound device\n"
	      "  early-claim          write the early-claim modprobe configuration for the\n"
	      "                       devices armed now (preserve and unbind do it too)\n"
	      "  help                 this text\n"
	      "\n"
	      "Kept (KEPT in list, kept_names in status): what the device really keeps now;\n"
	      "nothing while disarmed.\n"
	      "  no_reset       open and close do no function, PM or bus reset\n"
	      "  master         bus mastering and decoding stay on over close and open\n"
	      "  config         config space as the session left it survives close/open\n"
	      "                 (vfio-pci alone writes back its open-time copy at close)\n"
	      "  kexec          recorded in kram: bound again after a kexec\n"
	      "  restored       this boot's binding came from a kram record\n"
	      "  no_user_reset  VFIO_DEVICE_RESET is skipped\n"
	      "status also counts opens, resets_skipped (resets vfio-pci would have done),\n"
	      "resets_done (by this driver: disarmed opens and closes, VFIO_DEVICE_RESET)\n"
	      "and saved_generation (kram generation of the last record, 0: none); mig_*\n"
	      "count QEMU 7.2 migrations of an armed no_user_reset device: tokens handed\n"
	      "to the VMM, checked on load, refused, resumes without one\n"
	      "(Documentation/live-update.rst).\n"
	      "\n"
	      "Requirements:\n"
	      "  - modprobe vfio_preserve (bind says so when it is not loaded);\n"
	      "  - an IOMMU, and a singleton IOMMU group: a device that shares its group\n"
	      "    with others cannot be preserved (bind warns), as a reset of one could\n"
	      "    reach the others;\n"
	      "  - kram attached, for the kexec record (hvkitctl kram status).\n"
	      "  Writing preserve_flags is refused (EBUSY, EINVAL, ENODEV) when the device\n"
	      "  cannot be armed; preserve prints the kernel's reason (dmesg) when it can.\n"
	      "  The VMM can arm and read the same state on its VFIO device fd:\n"
	      "  VFIO_DEVICE_FEATURE with HVKIT_VFIO_FEATURE_PRESERVE.\n"
	      "\n"
	      "Early claim after a kexec: the next kernel's initramfs loads the native driver\n"
	      "of the device (virtio_pci, mlx5_core, ...) by modalias, and that driver would\n"
	      "bind and reset the device before vfio_preserve loads. preserve on|off, unbind\n"
	      "and early-claim write /etc/modprobe.d/" CLAIM_CONF " with\n"
	      "\"softdep DRIVER pre: vfio_preserve\" for the native driver of every armed\n"
	      "device (from the kernel's modules.alias; not for an SR-IOV VF, which no kexec\n"
	      "keeps: the next kernel clears VF Enable), or remove it when none is armed:\n"
	      "loading DRIVER then loads vfio_preserve (and kram) first, which claims the\n"
	      "recorded devices. Rebuild the initramfs of the next kernel afterwards\n"
	      "(update-initramfs -u; the hvkit hook adds kram and vfio_preserve). A driver\n"
	      "built into the kernel binds before any module: early-claim says so, and the\n"
	      "kexec command line must keep it off (initcall_blacklist=). If the VMM arms\n"
	      "through VFIO, run early-claim before the kexec. HVKIT_MODPROBE_D and\n"
	      "HVKIT_MODULES_DIR (default /etc/modprobe.d, /lib/modules) point elsewhere,\n"
	      "e.g. into the next kernel's root.\n"
	      "\n"
	      "Files: /sys/bus/pci/devices/BDF/{preserve,preserve_flags,preserve_status};\n"
	      "Documentation/vfio_preserve.rst.\n"
	      "\n"
	      "Exit status: 0 on success, 1 on error (the reason is printed), 2 on bad usage.\n",
	      out);
}

/* "hvkitctl vfio SUB: ..." on stderr; returns 1. */
static int __printf(2, 3) vfio_err(const struct vfio_sub *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hvkitctl vfio %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Bad usage: the problem and the subcommand's usage line; returns 2. */
static int __printf(2, 3) vfio_usage_err(const struct vfio_sub *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hvkitctl vfio %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: hvkitctl vfio %s\n", s->usage);
	return 2;
}

/* " (run as root)" after a permission error, else "". */
static const char *root_hint(int err)
{
	return err == -EACCES || err == -EPERM ? " (run as root)" : "";
}

/*
 * DOMAIN:BUS:DEV.FN or BUS:DEV.FN (domain 0000), any case, into the form
 * sysfs uses: 0: ok, -EINVAL: not a PCI address.
 */
static int norm_bdf(const char *in, char *out, size_t len)
{
	unsigned int dom = 0, bus, dev, fn;
	int n = -1, colons = 0;
	const char *p;

	if (!*in || strspn(in, "0123456789abcdefABCDEF:.") != strlen(in))
		return -EINVAL;
	for (p = in; *p; p++)
		colons += *p == ':';
	if (colons == 2 && sscanf(in, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) != 4)
		return -EINVAL;
	if (colons == 1 && sscanf(in, "%x:%x.%x%n", &bus, &dev, &fn, &n) != 3)
		return -EINVAL;
	if ((colons != 1 && colons != 2) || n < 0 || in[n] || dom > 0xffffff ||
	    bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

static void dev_path(char *buf, size_t len, const char *bdf, const char *file)
{
	snprintf(buf, len, "%s/bus/pci/devices/%s%s%s", sysfs_root, bdf,
		 file ? "/" : "", file ? file : "");
}

static bool driver_loaded(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s", sysfs_root, VPR_DRIVER);
	return !access(path, F_OK);
}

/* The basename of the symlink @file of the device, or "" when it has none. */
static void dev_link(const char *bdf, const char *file, char *name, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	name[0] = '\0';
	dev_path(path, sizeof(path), bdf, file);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) < len)
		strcpy(name, base);
}

/* A BDF operand: normalized into @bdf, and the device must exist. */
static int get_bdf(const struct vfio_sub *s, const char *arg, char *bdf, size_t len)
{
	char path[PATH_MAX];

	if (norm_bdf(arg, bdf, len))
		return vfio_usage_err(s,
				      "'%s' is not a PCI address (DOMAIN:BUS:DEV.FN or BUS:DEV.FN)",
				      arg);
	dev_path(path, sizeof(path), bdf, NULL);
	if (access(path, F_OK))
		return vfio_err(s, "no PCI device %s", bdf);
	return 0;
}

/*
 * 0 when @bdf is bound to vfio_preserve; else prints why not, with the
 * command that fixes it, and returns 1.
 */
static int need_bound(const struct vfio_sub *s, const char *bdf)
{
	char drv[NAME_MAX + 1];

	dev_link(bdf, "driver", drv, sizeof(drv));
	if (!strcmp(drv, VPR_DRIVER))
		return 0;
	if (drv[0])
		vfio_err(s, "%s is bound to %s, not %s: hvkitctl vfio bind %s", bdf, drv,
			 VPR_DRIVER, bdf);
	else
		vfio_err(s, "%s has no driver, not %s: hvkitctl vfio bind %s", bdf,
			 VPR_DRIVER, bdf);
	if (!driver_loaded())
		fprintf(stderr, "hvkitctl vfio %s: %s is not loaded: modprobe %s\n", s->name,
			VPR_DRIVER, VPR_DRIVER);
	return 1;
}

/* The value of "@key value" in the device's preserve_status. */
static int status_value(const char *bdf, const char *key, char *val, size_t len)
{
	char path[PATH_MAX], line[256];
	size_t klen = strlen(key);
	int ret = -ENOENT;
	FILE *f;

	dev_path(path, sizeof(path), bdf, "preserve_status");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, key, klen) || (line[klen] && line[klen] != ' '))
			continue;
		snprintf(val, len, "%s", line[klen] ? line + klen + 1 : "");
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static int bdf_filter(const struct dirent *de)
{
	return !!strchr(de->d_name, ':');
}

/* The devices bound to vfio_preserve, sorted: their count, or -errno. */
static int bound_devices(struct dirent ***names)
{
	char path[PATH_MAX];
	int n;

	snprintf(path, sizeof(path), "%s/bus/pci/drivers/%s", sysfs_root, VPR_DRIVER);
	n = scandir(path, names, bdf_filter, alphasort);
	return n < 0 ? -errno : n;
}

static void free_names(struct dirent **names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int vfio_bound_count(void)
{
	struct dirent **names;
	int n = bound_devices(&names);

	if (n >= 0)
		free_names(names, n);
	return n;
}

/* bound_devices() for list and status: prints the error itself. */
static int list_bound(const struct vfio_sub *s, struct dirent ***names)
{
	int n = bound_devices(names);

	if (n == -ENOENT)
		vfio_err(s, "%s is not loaded: modprobe %s", VPR_DRIVER, VPR_DRIVER);
	else if (n < 0)
		vfio_err(s, "%s/bus/pci/drivers/%s: %s", sysfs_root, VPR_DRIVER, strerror(-n));
	return n;
}

/*
 * Devices in the IOMMU group @group that are not PCI bridges (as the
 * driver counts them: a root port without ACS shares its device's group),
 * or -errno.
 */
static int group_size(const char *group)
{
	char path[PATH_MAX], cls[32];
	struct dirent **names;
	int n, i, size = 0;

	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%s/devices", sysfs_root, group);
	n = scandir(path, &names, bdf_filter, NULL);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%s/devices/%s/class",
			 sysfs_root, group, names[i]->d_name);
		if (read_line(path, cls, sizeof(cls)) || strncmp(cls, "0x0604", 6))
			size++;
	}
	free_names(names, n);
	return size;
}

/* kmsg_open() before the write, kmsg_last() after: what the kernel said. */
static int kmsg_open(void)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/kmsg", dev_root);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0 && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The last vfio_preserve message logged since kmsg_open(), or "". */
static void kmsg_last(int fd, char *msg, size_t len)
{
	char rec[8192], *text;
	ssize_t n;

	msg[0] = '\0';
	if (fd < 0)
		return;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten records: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		/* "PRIO,SEQ,USEC,FLAGS;TEXT\n" then " KEY=VALUE" lines */
		text = strchr(rec, ';');
		if (!text)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0';
		if (strstr(text, VPR_DRIVER))
			snprintf(msg, len, "%s", text);
	}
	close(fd);
}

/* Warn about the processes that hold /dev/vfio/@group open. */
static void warn_group_users(const struct vfio_sub *s, const char *group)
{
	char want[64], path[PATH_MAX], target[PATH_MAX], comm[64];
	struct dirent *p, *f;
	DIR *proc, *fds;
	ssize_t n;

	snprintf(want, sizeof(want), "/dev/vfio/%s", group);
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((p = readdir(proc))) {
		if (!isdigit((unsigned char)p->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((f = readdir(fds))) {
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", p->d_name, f->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, want))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/comm", p->d_name);
			if (read_line(path, comm, sizeof(comm)))
				strcpy(comm, "?");
			fprintf(stderr,
				"hvkitctl vfio %s: warning: process %s (%s) has %s open; the kernel asks it to release the device and the unbind waits until it does\n",
				s->name, p->d_name, comm, want);
			break;
		}
		closedir(fds);
	}
	closedir(proc);
}

/* ------------------------------------------------------- early claim */

struct drivers {
	char name[MAX_DRIVERS][NAME_MAX + 1];
	char dev[MAX_DRIVERS][BDF_LEN];	/* the first device that needs it */
	int n;
	bool full;
};

static void drivers_add(struct drivers *d, const char *name, const char *bdf)
{
	int i;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->name[i], name))
			return;
	if (d->n == MAX_DRIVERS || strlen(name) > NAME_MAX) {
		d->full = true;
		return;
	}
	strcpy(d->name[d->n], name);
	snprintf(d->dev[d->n], BDF_LEN, "%s", bdf);
	d->n++;
}

static const char *env_or(const char *var, const char *def)
{
	const char *v = getenv(var);

	return v && *v ? v : def;
}

/*
 * The drivers of the running kernel whose aliases match the modalias of
 * @bdf, as modprobe and udev match them (fnmatch): the loadable ones from
 * modules.alias into @mods, the built-in ones (modules.builtin.modinfo,
 * "NAME.alias=PATTERN" strings) into @builtin. 0, or -errno (printed).
 */
static int native_drivers(const struct vfio_sub *s, const char *bdf,
			  struct drivers *mods, struct drivers *builtin)
{
	char path[PATH_MAX], alias[512], pat[512], mod[NAME_MAX + 1];
	char *line = NULL, *dot;
	struct utsname u;
	size_t cap = 0;
	FILE *f;
	int ret = 0;

	dev_path(path, sizeof(path), bdf, "modalias");
	ret = read_line(path, alias, sizeof(alias));
	if (ret) {
		vfio_err(s, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (uname(&u))
		return -errno;
	snprintf(path, sizeof(path), "%s/%s/modules.alias",
		 env_or("HVKIT_MODULES_DIR", "/lib/modules"), u.release);
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		vfio_err(s, "%s: %s: cannot tell the native driver of %s", path,
			 strerror(errno), bdf);
		return ret;
	}
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "alias %511s %255s", pat, mod) != 2)
			continue;
		/* vfio-pci's own aliases start with "vfio_pci:", never "pci:". */
		if (!fnmatch(pat, alias, 0) && strcmp(mod, VPR_DRIVER))
			drivers_add(mods, mod, bdf);
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s/modules.builtin.modinfo",
		 env_or("HVKIT_MODULES_DIR", "/lib/modules"), u.release);
	f = fopen(path, "re");
	if (f) {
		while (getdelim(&line, &cap, '\0', f) > 0) {
			dot = strchr(line, '.');
			if (!dot || strncmp(dot, ".alias=", 7) || fnmatch(dot + 7, alias, 0))
				continue;
			*dot = '\0';
			drivers_add(builtin, line, bdf);
		}
		fclose(f);
	}
	free(line);
	return 0;
}

/*
 * Write the early-claim configuration for the devices armed now (see the
 * help text), or remove it when none is: 0, or 1 with the reason printed.
 * Quiet when the file does not change.
 */
static int early_claim_update(const struct vfio_sub *s, bool verbose)
{
	char conf[PATH_MAX], tmp[PATH_MAX + 8], path[PATH_MAX], armed[8];
	char old[4096], text[4096];
	struct drivers mods = {}, builtin = {};
	struct dirent **names;
	size_t len = 0;
	ssize_t olen = -1;
	int i, n, fd, ret = 0;

	n = bound_devices(&names);
	if (n == -ENOENT)
		n = 0, names = NULL;	/* not loaded: nothing is armed */
	if (n < 0)
		return vfio_err(s, "%s/bus/pci/drivers/%s: %s", sysfs_root, VPR_DRIVER,
				strerror(-n));
	for (i = 0; i < n; i++) {
		dev_path(path, sizeof(path), names[i]->d_name, "preserve");
		if (read_line(path, armed, sizeof(armed)) || strcmp(armed, "1"))
			continue;
		/* An SR-IOV VF (a physfn link): no kexec keeps it, none to claim. */
		dev_path(path, sizeof(path), names[i]->d_name, "physfn");
		if (!access(path, F_OK))
			continue;
		if (native_drivers(s, names[i]->d_name, &mods, &builtin))
			ret = 1;
	}
	free_names(names, n > 0 ? n : 0);
	if (ret)
		return vfio_err(s, "early-claim configuration left unchanged");
	if (mods.full || builtin.full)
		return vfio_err(s, "more than %d native drivers: configuration left unchanged",
				MAX_DRIVERS);

	snprintf(conf, sizeof(conf), "%s/%s", env_or("HVKIT_MODPROBE_D", "/etc/modprobe.d"),
		 CLAIM_CONF);
	fd = open(conf, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		olen = read(fd, old, sizeof(old) - 1);
		close(fd);
	}
	for (i = 0; i < builtin.n; i++)
		fprintf(stderr,
			"hvkitctl vfio %s: warning: %s (native driver of %s) is built into this kernel: it binds the device at boot, before any module loads, and resets it; keep it off on the kexec command line (initcall_blacklist=) or preserve cannot survive a kexec\n",
			s->name, builtin.name[i], builtin.dev[i]);
	if (!mods.n) {
		if (olen < 0) {
			if (verbose)
				printf("no device armed for %s needs an early claim (%s: none)\n",
				       VPR_DRIVER, conf);
			return 0;
		}
		if (unlink(conf))
			return vfio_err(s, "%s: %s%s", conf, strerror(errno), root_hint(-errno));
		printf("%s: removed, no armed device needs an early claim\n", conf);
		puts("rebuild the next kernel's initramfs (update-initramfs -u) before a kexec");
		return 0;
	}
	len = snprintf(text, sizeof(text),
		       "# Written by hvkitctl vfio: the native drivers of the devices armed\n"
		       "# for vfio_preserve load it first, so that after a kexec it claims\n"
		       "# the recorded devices before they can bind and reset them.\n"
		       "# Regenerated by hvkitctl vfio preserve|unbind|early-claim.\n");
	for (i = 0; i < mods.n && len < sizeof(text); i++)
		len += snprintf(text + len, sizeof(text) - len,
				"# native driver of %s\n"
				"softdep %s pre: %s\n", mods.dev[i], mods.name[i], VPR_DRIVER);
	if (len >= sizeof(text))
		return vfio_err(s, "configuration too long");
	if (olen == (ssize_t)len && !memcmp(old, text, len)) {
		if (verbose)
			printf("%s is up to date\n", conf);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", conf);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vfio_err(s, "%s: %s%s", tmp, strerror(errno), root_hint(-errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return vfio_err(s, "%s: %s", tmp, strerror(-ret ? -ret : EIO));
	}
	close(fd);
	if (rename(tmp, conf)) {
		ret = errno;
		unlink(tmp);
		return vfio_err(s, "%s: %s%s", conf, strerror(ret), root_hint(-ret));
	}
	for (i = 0; i < mods.n; i++)
		printf("early claim: softdep %s pre: %s (for %s) in %s\n", mods.name[i],
		       VPR_DRIVER, mods.dev[i], conf);
	puts("rebuild the next kernel's initramfs (update-initramfs -u) before a kexec");
	return 0;
}

static int sub_early_claim(const struct vfio_sub *s, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return vfio_usage_err(s, "takes no arguments");
	return early_claim_update(s, true);
}

static int sub_list(const struct vfio_sub *s, int argc, char **argv)
{
	char path[PATH_MAX], ven[16], dev[16], group[32], armed[16], kept[128];
	struct dirent **names;
	int i, n;

	(void)argv;
	if (argc > 1)
		return vfio_usage_err(s, "takes no arguments");
	n = list_bound(s, &names);
	if (n < 0)
		return 1;
	if (!n) {
		printf("no PCI device is bound to %s (hvkitctl vfio bind BDF)\n", VPR_DRIVER);
		free(names);
		return 0;
	}
	printf("%-12s %-9s %5s %5s %s\n", "BDF", "VEN:DEV", "GROUP", "ARMED", "KEPT");
	for (i = 0; i < n; i++) {
		const char *bdf = names[i]->d_name;

		dev_path(path, sizeof(path), bdf, "vendor");
		if (read_line(path, ven, sizeof(ven)))
			strcpy(ven, "?");
		dev_path(path, sizeof(path), bdf, "device");
		if (read_line(path, dev, sizeof(dev)))
			strcpy(dev, "?");
		dev_link(bdf, "iommu_group", group, sizeof(group));
		if (status_value(bdf, "armed", armed, sizeof(armed)))
			strcpy(armed, "?");
		if (status_value(bdf, "kept_names", kept, sizeof(kept)))
			strcpy(kept, "?");
		printf("%-12s %4s:%-4s %5s %5s %s\n", bdf,
		       strncmp(ven, "0x", 2) ? ven : ven + 2,
		       strncmp(dev, "0x", 2) ? dev : dev + 2,
		       group[0] ? group : "-", armed, kept[0] ? kept : "-");
	}
	free_names(names, n);
	return 0;
}

static int sub_bind(const struct vfio_sub *s, int argc, char **argv)
{
	char bdf[BDF_LEN], path[PATH_MAX], old[NAME_MAX + 1], drv[NAME_MAX + 1];
	char group[32];
	int ret, probe_err, size;

	if (argc != 2)
		return vfio_usage_err(s, "takes one BDF");
	ret = get_bdf(s, argv[1], bdf, sizeof(bdf));
	if (ret)
		return ret;
	dev_link(bdf, "driver", old, sizeof(old));
	if (!strcmp(old, VPR_DRIVER)) {
		printf("%s is already bound to %s\n", bdf, VPR_DRIVER);
		return 0;
	}
	/* Leave the device with its driver when vfio_preserve cannot take it. */
	if (!driver_loaded())
		return vfio_err(s, "%s is not loaded (no %s/bus/pci/drivers/%s): modprobe %s",
				VPR_DRIVER, sysfs_root, VPR_DRIVER, VPR_DRIVER);

	dev_path(path, sizeof(path), bdf, "driver_override");
	ret = write_line(path, VPR_DRIVER);
	if (ret)
		return vfio_err(s, "%s: %s%s", path, strerror(-ret), root_hint(ret));
	if (old[0]) {
		dev_link(bdf, "iommu_group", group, sizeof(group));
		if (group[0])
			warn_group_users(s, group);	/* old may be vfio-pci */
		dev_path(path, sizeof(path), bdf, "driver/unbind");
		ret = write_line(path, bdf);
		if (ret) {
			vfio_err(s, "unbind %s from %s: %s: %s%s", bdf, old, path,
				 strerror(-ret), root_hint(ret));
			dev_path(path, sizeof(path), bdf, "driver_override");
			write_line(path, "\n");
			return 1;
		}
	}
	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", sysfs_root);
	probe_err = write_line(path, bdf);

	dev_link(bdf, "driver", drv, sizeof(drv));
	if (strcmp(drv, VPR_DRIVER)) {
		if (drv[0])
			vfio_err(s, "%s is bound to %s, not %s", bdf, drv, VPR_DRIVER);
		else
			vfio_err(s, "%s has no driver: %s did not take it%s%s", bdf, VPR_DRIVER,
				 probe_err ? ", drivers_probe: " : "",
				 probe_err ? strerror(-probe_err) : "");
		if (!driver_loaded())
			fprintf(stderr, "hvkitctl vfio bind: %s is not loaded: modprobe %s\n",
				VPR_DRIVER, VPR_DRIVER);
		else
			fprintf(stderr,
				"hvkitctl vfio bind: the kernel log (dmesg) says why; hvkitctl vfio unbind %s gives it back to its default driver\n",
				bdf);
		return 1;
	}
	dev_link(bdf, "iommu_group", group, sizeof(group));
	printf("%s bound to %s (was: %s), IOMMU group %s: /dev/vfio/%s\n", bdf, VPR_DRIVER,
	       old[0] ? old : "no driver", group[0] ? group : "-", group[0] ? group : "-");
	size = group[0] ? group_size(group) : 0;
	if (size > 1)
		fprintf(stderr,
			"hvkitctl vfio bind: note: IOMMU group %s has %d devices besides bridges: VFIO needs every one bound to a VFIO driver (or to none), and preserve needs a singleton group\n",
			group, size);
	return 0;
}

static int sub_unbind(const struct vfio_sub *s, int argc, char **argv)
{
	char bdf[BDF_LEN], path[PATH_MAX], drv[NAME_MAX + 1], ovr[64], group[32];
	int ret;

	if (argc != 2)
		return vfio_usage_err(s, "takes one BDF");
	ret = get_bdf(s, argv[1], bdf, sizeof(bdf));
	if (ret)
		return ret;
	dev_link(bdf, "driver", drv, sizeof(drv));
	dev_path(path, sizeof(path), bdf, "driver_override");
	if (read_line(path, ovr, sizeof(ovr)))
		ovr[0] = '\0';
	if (drv[0] && strcmp(drv, VPR_DRIVER))
		return vfio_err(s, "%s is bound to %s, not %s", bdf, drv, VPR_DRIVER);
	/* Driverless: only undo a bind that failed half-way. */
	if (!drv[0] && strcmp(ovr, VPR_DRIVER))
		return vfio_err(s, "%s is not bound to %s (it has no driver)", bdf, VPR_DRIVER);
	if (drv[0]) {
		dev_link(bdf, "iommu_group", group, sizeof(group));
		if (group[0])
			warn_group_users(s, group);
		dev_path(path, sizeof(path), bdf, "driver/unbind");
		ret = write_line(path, bdf);
		if (ret)
			return vfio_err(s, "%s: %s%s", path, strerror(-ret), root_hint(ret));
	}
	dev_path(path, sizeof(path), bdf, "driver_override");
	ret = write_line(path, "\n");
	if (ret)
		return vfio_err(s, "%s: %s%s", path, strerror(-ret), root_hint(ret));
	snprintf(path, sizeof(path), "%s/bus/pci/drivers_probe", sysfs_root);
	ret = write_line(path, bdf);
	if (ret)
		vfio_err(s, "warning: %s: %s", path, strerror(-ret));
	dev_link(bdf, "driver", drv, sizeof(drv));
	printf("%s unbound from %s; now %s%s\n", bdf, VPR_DRIVER,
	       drv[0] ? "bound to " : "without a driver", drv);
	return early_claim_update(s, false);
}

static int sub_preserve(const struct vfio_sub *s, int argc, char **argv)
{
	char bdf[BDF_LEN], path[PATH_MAX], val[32], msg[512], drv[NAME_MAX + 1];
	char group[32];
	const char *arg = NULL, *mode = NULL;
	bool on = true, nur = false;
	unsigned int flags;
	int i, ret, kfd, size;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-user-reset"))
			nur = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return vfio_usage_err(s, "unknown option '%s'", argv[i]);
		else if (!arg)
			arg = argv[i];
		else if (!mode)
			mode = argv[i];
		else
			return vfio_usage_err(s, "too many arguments");
	}
	if (!arg)
		return vfio_usage_err(s, "needs a BDF");
	if (mode && !strcmp(mode, "off"))
		on = false;
	else if (mode && strcmp(mode, "on"))
		return vfio_usage_err(s, "'%s' is neither on nor off", mode);
	if (!on && nur)
		return vfio_usage_err(s, "--no-user-reset goes with on");
	ret = get_bdf(s, arg, bdf, sizeof(bdf));
	if (ret)
		return ret;
	if (need_bound(s, bdf))
		return 1;

	flags = on ? HVKIT_VFIO_PRESERVE_ARMED : 0;
	if (nur)
		flags |= HVKIT_VFIO_PRESERVE_NO_USER_RESET;
	snprintf(val, sizeof(val), "0x%x", flags);
	dev_path(path, sizeof(path), bdf, "preserve_flags");
	kfd = kmsg_open();
	ret = write_line(path, val);
	kmsg_last(kfd, msg, sizeof(msg));
	if (ret) {
		vfio_err(s, "%s: preserve_flags=%s refused: %s%s", bdf, val, strerror(-ret),
			 root_hint(ret));
		if (msg[0])
			fprintf(stderr, "hvkitctl vfio preserve: kernel: %s\n", msg);
		dev_link(bdf, "iommu_group", group, sizeof(group));
		size = group[0] ? group_size(group) : 0;
		if (on && size > 1)
			fprintf(stderr,
				"hvkitctl vfio preserve: IOMMU group %s has %d devices besides bridges: preserve needs a singleton IOMMU group\n",
				group, size);
		/* It may have been unbound meanwhile. */
		dev_link(bdf, "driver", drv, sizeof(drv));
		if (strcmp(drv, VPR_DRIVER))
			need_bound(s, bdf);
		return 1;
	}
	if (status_value(bdf, "kept_names", msg, sizeof(msg)))
		strcpy(msg, "?");
	printf("%s: preserve %s (flags %s), kept: %s\n", bdf, on ? "on" : "off", val,
	       msg[0] ? msg : "nothing");
	return early_claim_update(s, false);
}

/* Copy the device's preserve_status to stdout: 0, or 1 (error printed). */
static int print_status(const struct vfio_sub *s, const char *bdf)
{
	char path[PATH_MAX], buf[4096];
	FILE *f;
	size_t n;
	int ret = 0;

	dev_path(path, sizeof(path), bdf, "preserve_status");
	f = fopen(path, "re");
	if (!f)
		return vfio_err(s, "%s: %s", path, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	if (ferror(f))
		ret = vfio_err(s, "%s: %s", path, strerror(errno));
	fclose(f);
	return ret;
}

static int sub_status(const struct vfio_sub *s, int argc, char **argv)
{
	struct dirent **names;
	char bdf[BDF_LEN];
	int i, n, ret = 0;

	if (argc > 2)
		return vfio_usage_err(s, "takes at most one BDF");
	if (argc == 2) {
		ret = get_bdf(s, argv[1], bdf, sizeof(bdf));
		if (ret)
			return ret;
		return need_bound(s, bdf) || print_status(s, bdf);
	}
	n = list_bound(s, &names);
	if (n < 0)
		return 1;
	if (!n)
		printf("no PCI device is bound to %s (hvkitctl vfio bind BDF)\n", VPR_DRIVER);
	for (i = 0; i < n; i++) {
		printf("%sdevice %s\n", i ? "\n" : "", names[i]->d_name);
		fflush(stdout);
		ret |= print_status(s, names[i]->d_name);
	}
	free_names(names, n);
	return ret;
}

static const struct vfio_sub vfio_subs[] = {
	{ "list", sub_list, "list",
	  "The devices bound to vfio_preserve: BDF, vendor:device, group, armed, kept." },
	{ "bind", sub_bind, "bind BDF",
	  "Bind BDF to vfio_preserve (driver_override, unbind, drivers_probe)." },
	{ "unbind", sub_unbind, "unbind BDF",
	  "Unbind BDF from vfio_preserve and give it back to its default driver." },
	{ "preserve", sub_preserve, "preserve BDF [on|off] [--no-user-reset]",
	  "Arm (default) or disarm BDF; --no-user-reset also skips VFIO_DEVICE_RESET." },
	{ "status", sub_status, "status [BDF]",
	  "preserve_status of BDF, or of every device bound to vfio_preserve." },
	{ "early-claim", sub_early_claim, "early-claim",
	  "Write /etc/modprobe.d/" CLAIM_CONF " (softdep NATIVE-DRIVER pre: vfio_preserve)\n"
	  "    for every armed device, or remove it when none is; see hvkitctl vfio help." },
};

int cmd_vfio(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	size_t i;
	int j;

	if (!sub) {
		vfio_help(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		vfio_help(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(vfio_subs); i++) {
		const struct vfio_sub *s = &vfio_subs[i];

		if (strcmp(sub, s->name))
			continue;
		for (j = 2; j < argc; j++) {
			if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) {
				printf("Usage: hvkitctl vfio %s\n\n    %s\n", s->usage,
				       s->summary);
				return 0;
			}
		}
		return s->fn(s, argc - 1, argv + 1);
	}
	fprintf(stderr,
		"hvkitctl vfio: unknown subcommand '%s'\n"
		"Usage: hvkitctl vfio {list|bind|unbind|preserve|status|early-claim|help} ...\n",
		sub);
	return 2;
}

/* For other command groups (liveupdate.c). */
int vfio_dev_status(const char *bdf, const char *key, char *val, size_t len)
{
	return status_value(bdf, key, val, len);
}

void vfio_dev_driver(const char *bdf, char *name, size_t len)
{
	dev_link(bdf, "driver", name, len);
}

int vfio_norm_bdf(const char *in, char *out, size_t len)
{
	return norm_bdf(in, out, len);
}
