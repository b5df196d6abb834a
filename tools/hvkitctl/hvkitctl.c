// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl: drive the hvkit kernel modules from the command line.
 *
 * Every hvkit ioctl has a subcommand here, so nobody has to write C to use
 * hvkit. Module-specific command groups ("kram", "hybrid", ...) are added by
 * the module that owns them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/hvkit.h>

#include "hvkitctl.h"

static const char *const hvkit_modules[] = {
	"kram", "kvm_hybrid", "guest_pvtimer", "pvtimer_agent", "guest_idlepoll", "vfio_preserve",
};

const char *sysfs_root = "/sys";
const char *dev_root = "/dev";

/* Read one line of a small sysfs file, without the newline. */
int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int write_line(const char *path, const char *str)
{
	size_t len = strlen(str);
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, str, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

/* HVKIT_IOC_GET_INFO on /dev/<name>: 0, or -errno (-ENOENT: no device). */
static int get_info(const char *name, struct hvkit_info *info)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dev_root, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (ioctl(fd, HVKIT_IOC_GET_INFO, info) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int cmd_status(int argc, char **argv)
{
	char vpr[256];
	int loaded = 0;
	size_t i;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "hvkitctl status: takes no arguments\n");
		return 2;
	}
	printf("%-16s %-8s %-10s %-18s %s\n", "MODULE", "STATE", "VERSION",
	       "DEVICE", "API");
	for (i = 0; i < ARRAY_SIZE(hvkit_modules); i++) {
		const char *m = hvkit_modules[i];
		char path[256], state[32] = "absent", version[64] = "-";
		char device[64] = "-", api[64] = "-";
		struct hvkit_info info;
		int ret;

		snprintf(path, sizeof(path), "%s/module/%s/initstate",
			 sysfs_root, m);
		if (read_line(path, state, sizeof(state)) == 0) {
			if (!strcmp(state, "live"))
				strcpy(state, "loaded");
			loaded++;
			snprintf(path, sizeof(path), "%s/module/%s/version",
				 sysfs_root, m);
			if (read_line(path, version, sizeof(version)))
				strcpy(version, "?");
			ret = get_info(m, &info);
			if (ret == 0) {
				snprintf(device, sizeof(device), "%s/%s",
					 dev_root, m);
				snprintf(api, sizeof(api), "%u", info.api_version);
				if (strcmp(info.version, version))
					snprintf(api + strlen(api),
						 sizeof(api) - strlen(api),
						 " (device says %.32s)",
						 info.version);
			} else if (ret != -ENOENT) {
				snprintf(device, sizeof(device), "%s/%s: %s",
					 dev_root, m, strerror(-ret));
			}
		}
		printf("%-16s %-8s %-10s %-18s %s\n", m, state, version, device,
		       api);
	}
	printf("%d of %zu hvkit modules loaded\n", loaded,
	       ARRAY_SIZE(hvkit_modules));
	/* vfio_preserve has no /dev node (get_info() gives -ENOENT, DEVICE -). */
	snprintf(vpr, sizeof(vpr), "%s/module/vfio_preserve", sysfs_root);
	if (!access(vpr, F_OK)) {
		int n = vfio_bound_count();

		if (n >= 0)
			printf("vfio_preserve: %d PCI device%s bound (hvkitctl vfio list)\n",
			       n, n == 1 ? "" : "s");
		else
			printf("vfio_preserve: bound devices: %s\n", strerror(-n));
	}
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("hvkitctl %s (hvkit API %d)\n", HVKIT_VERSION, HVKIT_API_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	const char *help;
	/* The whole help, when there is more than help (NULL: help). */
	void (*long_help)(FILE *out);
} commands[] = {
	{ "status", cmd_status, "status",
	  "Which hvkit modules are loaded, their versions and devices.\n"
	  "    STATE is the module's /sys/module/<m>/initstate (\"loaded\" when\n"
	  "    live); DEVICE is /dev/<m> when the module has one and answers\n"
	  "    HVKIT_IOC_GET_INFO; API is the ioctl API version it implements.\n"
	  "    vfio_preserve has no device node (DEVICE -): a line after the table\n"
	  "    counts the PCI devices bound to it (hvkitctl vfio list).",
	  NULL },
	{ "kram", cmd_kram, "kram SUBCOMMAND ...",
	  "Persistent memory across kexec -s: region, areas, pages.",
	  kram_help },
	{ "hybrid", cmd_hybrid, "hybrid SUBCOMMAND ...",
	  "Hybrid vCPU profiles and online CPUID control of KVM VMs (host).",
	  hybrid_help },
	{ "idlepoll", cmd_idlepoll, "idlepoll SUBCOMMAND ...",
	  "Guest adaptive idle polling: statistics and parameters.",
	  idlepoll_help },
	{ "pvtimer", cmd_pvtimer, "pvtimer SUBCOMMAND ...",
	  "Exitless guest timers: ivshmem server for QEMU, agent and guest statistics.",
	  pvtimer_help },
	{ "vfio", cmd_vfio, "vfio SUBCOMMAND ...",
	  "Passthrough devices that keep their state (vfio_preserve).",
	  vfio_help },
	{ "liveupdate", cmd_liveupdate, "liveupdate SUBCOMMAND ...",
	  "Keep a running VM through a host kexec (QEMU over QMP, kram, vfio_preserve).",
	  liveupdate_help },
	{ "version", cmd_version, "version",
	  "Print hvkitctl's own version and the API version it speaks.", NULL },
	{ "help", cmd_help, "help [COMMAND]",
	  "This text, or the help of one command.", NULL },
};

static void print_usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: hvkitctl [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Control the hvkit kernel modules (kram, kvm_hybrid, guest_pvtimer,\n"
		"guest_idlepoll, vfio_preserve) through their devices and sysfs.\n"
		"\n"
		"Commands:\n");
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-20s %.*s\n", commands[i].usage,
			(int)strcspn(commands[i].help, "\n"), commands[i].help);
	fprintf(out,
		"\n"
		"Options:\n"
		"  -h, --help           show this help (\"hvkitctl help CMD\" for one command)\n"
		"  -V, --version        show the version\n"
		"      --sysfs DIR      read sysfs from DIR instead of /sys\n"
		"      --dev DIR        open devices in DIR instead of /dev\n"
		"\n"
		"Exit status: 0 on success, 1 when an operation failed (the error is\n"
		"printed), 2 on bad usage.\n");
}

static int cmd_help(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			if (commands[i].long_help) {
				commands[i].long_help(stdout);
				return 0;
			}
			printf("Usage: hvkitctl %s\n\n    %s\n", commands[i].usage,
			       commands[i].help);
			return 0;
		}
	}
	fprintf(stderr, "hvkitctl: unknown command '%s'\n", argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "dev", required_argument, NULL, 'd' },
		{}
	};
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_usage(stdout);
			return 0;
		case 'V':
			return cmd_version(0, NULL);
		case 's':
			sysfs_root = optarg;
			break;
		case 'd':
			dev_root = optarg;
			break;
		default:
			print_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		print_usage(stderr);
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[optind], commands[i].name))
			return commands[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "hvkitctl: unknown command '%s' (see hvkitctl --help)\n",
		argv[optind]);
	return 2;
}
