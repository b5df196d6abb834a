// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl pvtimer: the ivshmem server that attaches a QEMU VM's
 * ivshmem-doorbell device to pvtimer_agent (/dev/pvtimer_agent), and the
 * statistics of the agent (host) and of guest_pvtimer (guest).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/hvkit.h>

#include "hvkitctl.h"

#define PVT_DEFAULT_VCPUS	2
#define PVT_DEFAULT_SIZE	65536ULL
/* The most pvtimer_agent maps. */
#define PVT_MAX_SIZE		0x4000000ULL	/* 64M */
/* The period of the TSC offset checks, and of every wait of the server. */
#define PVT_POLL_MS		100
/*
 * How long a new VM may take to show its vCPUs in KVM's debugfs. QEMU
 * connects to this server while it makes its chardevs, before it creates
 * its vCPUs; on a busy host that takes seconds. Waiting longer costs only
 * a VM that never shows them (this server serves one VM), and refusing
 * one that is merely slow leaves its guest on the local APIC timer.
 */
#define PVT_KVM_WAIT_MS		30000
/* QEMU's ivshmem server protocol (docs/specs/ivshmem-spec.rst). */
#define IVSHMEM_PROTOCOL	0
#define IVSHMEM_MAX_PEER	0xffff

static const char debugfs_hint[] =
	"debugfs must be mounted (mount -t debugfs none /sys/kernel/debug)";
static const char not_loaded[] =
	"hvkitctl pvtimer: neither pvtimer_agent (host) nor guest_pvtimer (guest) is loaded\n";
static const char serve_usage[] =
	"serve --socket PATH [--vcpus N] [--size BYTES] [--agent DEV]";

void pvtimer_help(FILE *out)
{
	fputs("Usage: hvkitctl pvtimer SUBCOMMAND [ARGS]\n"
	      "\n"
	      "Exitless guest timers. guest_pvtimer (guest) runs each CPU's timer without\n"
	      "VM exits: instead of writing the TSC-deadline MSR, a CPU writes its next\n"
	      "deadline into its slot of memory shared with the host. pvtimer_agent (host)\n"
	      "is a kernel thread on a CPU of its own that scans the slots, arms an hrtimer\n"
	      "for each deadline and fires it by signalling the eventfd that QEMU registered\n"
	      "as a KVM irqfd for that CPU's MSI-X vector: the interrupt is injected without\n"
	      "an exit. Memory and interrupts are those of QEMU's stock ivshmem-doorbell\n"
	      "device; \"pvtimer serve\" is its ivshmem server and attaches the VM to the agent.\n"
	      "\n"
	      "Subcommands:\n"
	      "  serve --socket PATH [--vcpus N] [--size BYTES] [--agent DEV]\n"
	      "                       the ivshmem server of one VM on the Unix socket PATH:\n"
	      "                       N vCPUs = MSI-X vectors (default 2, at most 64); BYTES\n"
	      "                       of shared memory, a power of two from 16384 to 64M\n"
	      "                       (default 65536, K/M/G suffixes); DEV the agent (default\n"
	      "                       /dev/pvtimer_agent). Runs until SIGTERM or SIGINT\n"
	      "  status [--reset]     host: the agent's counters and its attachments; guest:\n"
	      "                       guest_pvtimer's statistics and parameters. --reset\n"
	      "                       zeroes the counters after printing them (root)\n"
	      "  help                 this text\n"
	      "\n"
	      "Setting up:\n"
	      "  1. Host: modprobe pvtimer_agent cpu=C scan_us=U\n"
	      "       cpu=C      the CPU the agent thread runs on (keep vCPUs off it)\n"
	      "       scan_us=U  its scan period in microseconds; a deadline due before the\n"
	      "                  next scan is left to the guest's own local APIC timer\n"
	      "  2. Host: start one server per VM, before QEMU (QEMU connects once, at start):\n"
	      "       hvkitctl pvtimer serve --socket /run/pvtimer-VM.sock --vcpus N &\n"
	      "     and wait for its line \"pvtimer serve: listening on ...\". It serves one VM\n"
	      "     at a time (refuses a second connection), as root, and reads the vCPUs' TSC\n"
	      "     offsets from KVM's debugfs (mount -t debugfs none /sys/kernel/debug).\n"
	      "     With systemd (package hvkit-tools): systemctl start hvkit-pvtimer@VM\n"
	      "     returns once it listens (sd_notify READY=1); VCPUS=N (and SIZE=BYTES)\n"
	      "     in /etc/hvkit/pvtimer-VM.conf.\n"
	      "  3. Host: start QEMU with KVM (-enable-kvm) and a machine with PCI (-M pc or\n"
	      "     -M q35), adding:\n"
	      "       -chardev socket,id=pvt,path=/run/pvtimer-VM.sock \\\n"
	      "       -device ivshmem-doorbell,chardev=pvt,vectors=N\n"
	      "     N = the VM's vCPU count (-smp N) = serve's --vcpus N.\n"
	      "  4. Guest: modprobe guest_pvtimer\n"
	      "\n"
	      "Stopping: when QEMU exits, the server detaches the VM and waits for the next\n"
	      "one. Stopping the server (SIGTERM, SIGINT; or SIGKILL: the kernel detaches\n"
	      "when the agent's file closes) detaches the VM while it runs: the agent stops\n"
	      "firing its deadlines and the guest falls back to its local APIC timer within\n"
	      "backstop_us (a guest_pvtimer parameter). QEMU does not reconnect: restart the\n"
	      "VM, with a server running, to use the agent again.\n"
	      "\n"
	      "Status fields (host):\n"
	      "  agent_cpu       the CPU the agent thread runs on\n"
	      "  attached        VMs attached; vcpus: slots served over all of them\n"
	      "  scan_ns         the scan period; scans: scans done\n"
	      "  idle_scan_ns    the scan period while no guest uses the agent (no slot\n"
	      "                  claimed by a guest_pvtimer, no deadline written for 1 s);\n"
	      "                  idle_scans: scans at that pace\n"
	      "  armed           deadlines taken from slots (hrtimers armed)\n"
	      "  fired           deadlines fired (eventfd signalled: interrupts sent)\n"
	      "  torn            slot reads that raced a guest write (retried next scan)\n"
	      "  past            deadlines already due when seen (fired at once)\n"
	      "  early           hrtimers that expired before the guest's TSC reached the\n"
	      "                  deadline (re-armed for the rest: never fired early)\n"
	      "  agent_cpu_ms    CPU time of the agent thread\n"
	      "  late_avg_ns, late_max_ns, late_hist_us\n"
	      "                  how late the agent fired (its hrtimer against the deadline):\n"
	      "                  average, maximum, and a histogram in microseconds (<1:\n"
	      "                  count under 1 us, <2: 1 to 2 us, ..., >=16384: the rest)\n"
	      "  attachments:    /sys/kernel/debug/pvtimer_agent/vms, one line per VM\n"
	      "In a guest: /sys/kernel/debug/guest_pvtimer/stats, then the parameters in\n"
	      "/sys/module/guest_pvtimer/parameters/ as \"param NAME = VALUE\" lines.\n"
	      "\n"
	      "Exit status: 0 on success, 1 on error (the reason is printed), 2 on bad usage.\n",
	      out);
}

/* Bad usage of subcommand @sub: the problem and its usage line; returns 2. */
static int __printf(3, 4)
usage_err(const char *sub, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hvkitctl pvtimer %s: ", sub);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: hvkitctl pvtimer %s\n", usage);
	return 2;
}

/* The end of an option loop for c not handled by the subcommand. */
static int bad_opt(const char *sub, const char *usage, int c, char **argv)
{
	if (c == 'h') {
		printf("Usage: hvkitctl pvtimer %s\n", usage);
		return 0;
	}
	if (c == ':')
		return usage_err(sub, usage, "option '%s' needs an argument", argv[optind - 1]);
	return usage_err(sub, usage, "bad option '%s'", argv[optind - 1]);
}

/* A decimal or 0x hex number; with @units, optionally K, M or G. */
static int parse_ull(const char *str, bool units, unsigned long long *val)
{
	unsigned int shift = 0;
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)str[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(str, &end, 0);
	if (errno)
		return -errno;
	if (units && *end) {
		switch (*end++) {
		case 'k': case 'K':
			shift = 10;
			break;
		case 'm': case 'M':
			shift = 20;
			break;
		case 'g': case 'G':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
	}
	if (*end || v > (ULLONG_MAX >> shift))
		return -EINVAL;
	*val = v << shift;
	return 0;
}

/* The server's settings and its open files. */
struct pvt_serve {
	const char *socket;
	const char *agent;
	unsigned int nr_vcpus;
	unsigned long long size;
	int agent_fd;
	int listen_fd;
	ino_t socket_ino;
	unsigned int next_peer;
};

/* The VM being served: its connection, memory, eventfds and attachment. */
struct pvt_vm {
	int conn;
	int memfd;
	void *shm;
	unsigned int peer;
	pid_t pid;
	bool attached;
	__u32 id;
	char dir[256];		/* KVM's debugfs directory of the VM */
	unsigned int vcpu_id[PVTIMER_MAX_VCPUS];	/* vCPU K's debugfs "vcpuID" */
	__s32 efd[PVTIMER_MAX_VCPUS];
	__s64 tsc[PVTIMER_MAX_VCPUS];	/* vCPU K's offset when attached */
	/*
	 * Slot K's vCPU (an index of vcpu_id[]): K until the guest names the
	 * CPU that owns the slot (its APIC ID, KVM's vCPU id); sent[K]: the
	 * offset the agent has for slot K.
	 */
	unsigned int slot_vcpu[PVTIMER_MAX_VCPUS];
	__s64 sent[PVTIMER_MAX_VCPUS];
	bool slot_named[PVTIMER_MAX_VCPUS];
	__u32 slot_apic[PVTIMER_MAX_VCPUS];
	unsigned long long slot_logged[PVTIMER_MAX_VCPUS];	/* now_ms() */
	/* A vCPU whose TSC KVM scales (find_vcpus -EOPNOTSUPP): which, how. */
	unsigned int scaled_vcpu;
	unsigned long long scale_ratio;
	unsigned int scale_frac;
};

/* The signal that stops the server (lock-free, so a signal handler may set it). */
static atomic_int pvt_stop;

static void pvt_signal(int sig)
{
	pvt_stop = sig;
}

static void __printf(1, 2) serve_err(const char *fmt, ...)
{
	va_list ap;

	fputs("hvkitctl pvtimer serve: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static void vm_init(struct pvt_vm *vm)
{
	unsigned int k;

	memset(vm, 0, sizeof(*vm));
	vm->conn = -1;
	vm->memfd = -1;
	vm->shm = MAP_FAILED;
	for (k = 0; k < PVTIMER_MAX_VCPUS; k++)
		vm->efd[k] = -1;
}

/* Detach the VM from the agent (QEMU's connection stays). */
static void vm_detach(struct pvt_serve *s, struct pvt_vm *vm)
{
	struct pvtimer_detach d = { .size = sizeof(d), .id = vm->id };

	if (!vm->attached)
		return;
	if (ioctl(s->agent_fd, PVTIMER_IOC_DETACH, &d))
		serve_err("detach VM pid %d (id %u): PVTIMER_IOC_DETACH: %s",
			  vm->pid, vm->id, strerror(errno));
	else
		printf("pvtimer serve: VM pid %d detached\n", vm->pid);
	vm->attached = false;
}

/* Detach the VM from the agent, close everything of it. */
static void vm_close(struct pvt_serve *s, struct pvt_vm *vm)
{
	unsigned int k;

	vm_detach(s, vm);
	for (k = 0; k < PVTIMER_MAX_VCPUS; k++)
		if (vm->efd[k] >= 0)
			close(vm->efd[k]);
	if (vm->shm != MAP_FAILED)
		munmap(vm->shm, s->size);
	if (vm->memfd >= 0)
		close(vm->memfd);
	if (vm->conn >= 0)
		close(vm->conn);
	vm_init(vm);
}

/* One message of the ivshmem protocol: a little-endian int64, and @fd if >= 0. */
static int ivshmem_send(int sock, __s64 val, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	__u64 le = htole64((__u64)val);
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == sizeof(le) ? 0 : -EIO;
}

/* A fresh memfd of the server's size, mapped, zeroed, with the header. */
static int vm_shm(struct pvt_serve *s, struct pvt_vm *vm)
{
	struct pvtimer_shm_header *h;

	vm->memfd = memfd_create("hvkit-pvtimer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (vm->memfd < 0) {
		serve_err("memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(vm->memfd, s->size)) {
		serve_err("memfd of %llu bytes: ftruncate: %s", s->size, strerror(errno));
		return -1;
	}
	/* Its size is the BAR's: nobody may change it under the agent. */
	if (fcntl(vm->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		serve_err("memfd: F_ADD_SEALS: %s", strerror(errno));
		return -1;
	}
	vm->shm = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->memfd, 0);
	if (vm->shm == MAP_FAILED) {
		serve_err("mmap of the %llu-byte memfd: %s", s->size, strerror(errno));
		return -1;
	}
	memset(vm->shm, 0, s->size);
	h = vm->shm;
	h->magic = PVTIMER_SHM_MAGIC;
	h->abi = PVTIMER_SHM_ABI;
	h->nr_slots = s->nr_vcpus;
	h->slot_size = PVTIMER_SLOT_SIZE;
	h->slot_offset = PVTIMER_SLOT_OFFSET;
	return 0;
}

/* The new peer's setup: version, its id, the memory, its vectors' eventfds. */
static int vm_setup(struct pvt_serve *s, struct pvt_vm *vm)
{
	unsigned int k;
	int ret;

	for (k = 0; k < s->nr_vcpus; k++) {
		vm->efd[k] = eventfd(0, EFD_CLOEXEC);
		if (vm->efd[k] < 0) {
			serve_err("eventfd: %s", strerror(errno));
			return -1;
		}
	}
	ret = ivshmem_send(vm->conn, IVSHMEM_PROTOCOL, -1);
	if (!ret)
		ret = ivshmem_send(vm->conn, vm->peer, -1);
	if (!ret)
		ret = ivshmem_send(vm->conn, -1, vm->memfd);
	for (k = 0; k < s->nr_vcpus && !ret; k++)
		ret = ivshmem_send(vm->conn, vm->peer, vm->efd[k]);
	if (ret) {
		serve_err("VM pid %d: sending the ivshmem setup: %s", vm->pid, strerror(-ret));
		return -1;
	}
	return 0;
}

/* vCPU K's TSC offset from KVM's debugfs: 0 or -errno. */
static int read_tsc(const struct pvt_vm *vm, unsigned int k, __s64 *val)
{
	char path[320], buf[32], *end;
	long long v;
	int ret;

	snprintf(path, sizeof(path), "%s/vcpu%u/tsc-offset", vm->dir, vm->vcpu_id[k]);
	ret = read_line(path, buf, sizeof(buf));
	if (ret)
		return ret;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf || *end)
		return -EINVAL;
	*val = v;
	return 0;
}

/* A number from one of KVM's debugfs files: 0 or -errno. */
static int read_ull(const char *path, unsigned long long *val)
{
	char buf[32], *end;
	int ret;

	ret = read_line(path, buf, sizeof(buf));
	if (ret)
		return ret;
	errno = 0;
	*val = strtoull(buf, &end, 10);
	return errno || end == buf || *end ? -EINVAL : 0;
}

/*
 * Does KVM scale vCPU K's TSC? The agent turns guest-TSC deadlines into
 * host time with the host's tsc_khz and the offset alone: a scaled guest
 * TSC (a VM started with a TSC frequency other than the host's) would
 * have every timer fire early or late. 0 when the guest TSC runs at the
 * host's rate (no "tsc-scaling-ratio": KVM cannot scale; or a ratio of
 * 1.0), -EOPNOTSUPP with vm->scale_* set when it does not, else -errno.
 */
static int check_tsc_scaling(struct pvt_vm *vm, unsigned int k)
{
	unsigned long long ratio, frac;
	char path[320];
	int ret;

	snprintf(path, sizeof(path), "%s/vcpu%u/tsc-scaling-ratio", vm->dir, vm->vcpu_id[k]);
	ret = read_ull(path, &ratio);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/vcpu%u/tsc-scaling-ratio-frac-bits", vm->dir,
		 vm->vcpu_id[k]);
	ret = read_ull(path, &frac);
	if (ret)
		return ret;
	if (frac < 64 && ratio == 1ULL << frac)
		return 0;
	vm->scaled_vcpu = k;
	vm->scale_ratio = ratio;
	vm->scale_frac = frac;
	return -EOPNOTSUPP;
}

/*
 * The vCPUs in vm->dir: vCPU K is the one with the K-th smallest id (QEMU
 * creates them in that order; the ids are APIC ids, contiguous unless the
 * topology leaves holes). 0 when the first N have a TSC offset, -EAGAIN
 * when not yet; *nr: how many vCPU directories there are.
 */
static int find_vcpus(struct pvt_serve *s, struct pvt_vm *vm, unsigned int *nr)
{
	unsigned int n = 0, i, id, k;
	struct dirent *de;
	DIR *d;
	char c;

	*nr = 0;
	d = opendir(vm->dir);
	if (!d)
		return -EAGAIN;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "vcpu%u%c", &id, &c) != 1)
			continue;
		(*nr)++;
		/* Keep the nr_vcpus smallest ids, sorted. */
		for (i = n; i > 0 && vm->vcpu_id[i - 1] > id; i--)
			if (i < s->nr_vcpus)
				vm->vcpu_id[i] = vm->vcpu_id[i - 1];
		if (i < s->nr_vcpus) {
			vm->vcpu_id[i] = id;
			if (n < s->nr_vcpus)
				n++;
		}
	}
	closedir(d);
	if (n < s->nr_vcpus)
		return -EAGAIN;
	for (k = 0; k < n; k++)
		if (read_tsc(vm, k, &vm->tsc[k]))
			return -EAGAIN;
	for (k = 0; k < n; k++)
		if (check_tsc_scaling(vm, k) == -EOPNOTSUPP)
			return -EOPNOTSUPP;
	return 0;
}

/*
 * KVM's debugfs directory of the VM of vm->pid, "<pid>-<fd>", with the
 * server's number of vCPUs: 0, -EAGAIN (too few vCPUs so far), -ESRCH (no
 * such VM), or -errno of the kvm directory (debugfs not mounted: -ENOENT).
 */
static int find_kvm_vm(struct pvt_serve *s, struct pvt_vm *vm, unsigned int *nr)
{
	char path[200], prefix[24];
	struct dirent *de;
	int ret = -ESRCH;
	DIR *d;

	*nr = 0;
	snprintf(path, sizeof(path), "%s/kernel/debug/kvm", sysfs_root);
	d = opendir(path);
	if (!d)
		return -errno;
	snprintf(prefix, sizeof(prefix), "%d-", vm->pid);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(vm->dir, sizeof(vm->dir), "%s/%.50s", path, de->d_name);
		ret = find_vcpus(s, vm, nr);
		if (!ret || ret == -EOPNOTSUPP)
			break;
	}
	closedir(d);
	return ret;
}

/*
 * Data on QEMU's connection: it sends nothing after connecting, so drop
 * what comes. -1 when it has gone (EOF or error), else 0.
 */
static int conn_drain(struct pvt_vm *vm)
{
	char buf[256];
	ssize_t n = recv(vm->conn, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0) {
		serve_err("VM pid %d sent %zd unexpected bytes, ignored", vm->pid, n);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0)
		serve_err("VM pid %d: its connection: %s", vm->pid, strerror(errno));
	return -1;
}

/* Wait for the VM's vCPUs in KVM's debugfs and read their TSC offsets. */
static int wait_kvm(struct pvt_serve *s, struct pvt_vm *vm)
{
	unsigned long long end = now_ms() + PVT_KVM_WAIT_MS;
	struct pollfd p = { .fd = vm->conn, .events = POLLIN };
	unsigned int nr;
	int ret;

	for (;;) {
		ret = find_kvm_vm(s, vm, &nr);
		if (!ret)
			return 0;
		if (ret == -EOPNOTSUPP) {
			serve_err("VM pid %d: KVM scales vCPU %u's TSC (ratio %llu / 2^%u, %.6f):\n"
				  "  the agent fires guest-TSC deadlines at the host's TSC rate and\n"
				  "  would fire them early or late; not attached (the guest keeps its\n"
				  "  local APIC timer). Start the VM at the host's TSC frequency\n"
				  "  (no tsc-frequency= other than the host's).",
				  vm->pid, vm->scaled_vcpu, vm->scale_ratio, vm->scale_frac,
				  vm->scale_frac < 64 ?
				  (double)vm->scale_ratio / (double)(1ULL << vm->scale_frac) : 0.0);
			return -1;
		}
		if (pvt_stop)
			return -1;
		if (now_ms() >= end)
			break;
		if (poll(&p, 1, PVT_POLL_MS) > 0 && conn_drain(vm)) {
			printf("pvtimer serve: VM pid %d disconnected before it was attached\n",
			       vm->pid);
			return -1;
		}
	}
	if (ret == -EAGAIN)
		serve_err("VM pid %d: %s has %u vCPUs after %d s, fewer than --vcpus %u:\n"
			  "  vectors= and --vcpus must be the VM's vCPU count",
			  vm->pid, vm->dir, nr, PVT_KVM_WAIT_MS / 1000, s->nr_vcpus);
	else if (ret == -ESRCH)
		serve_err("VM pid %d: no KVM VM \"%d-*\" in %s/kernel/debug/kvm after %d s:\n"
			  "  %s, and KVM must run the VM (-enable-kvm)",
			  vm->pid, vm->pid, sysfs_root, PVT_KVM_WAIT_MS / 1000, debugfs_hint);
	else
		serve_err("VM pid %d: %s/kernel/debug/kvm: %s:\n"
			  "  %s, the server must run as root, and KVM must run the VM",
			  vm->pid, sysfs_root, strerror(-ret), debugfs_hint);
	return -1;
}

static int vm_attach(struct pvt_serve *s, struct pvt_vm *vm)
{
	struct pvtimer_attach a;
	unsigned int k;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.shm_addr = (uintptr_t)vm->shm;
	a.shm_size = s->size;
	a.eventfds = (uintptr_t)vm->efd;
	a.tsc_offsets = (uintptr_t)vm->tsc;
	a.nr_vcpus = s->nr_vcpus;
	a.vm_pid = vm->pid;
	if (ioctl(s->agent_fd, PVTIMER_IOC_ATTACH, &a)) {
		serve_err("attach VM pid %d: PVTIMER_IOC_ATTACH: %s%s", vm->pid, strerror(errno),
			  errno == EPERM ? " (needs CAP_SYS_ADMIN)" :
			  errno == ENOTTY ? " (not pvtimer_agent, or an older one)" : "");
		return -1;
	}
	vm->id = a.id;
	vm->attached = true;
	for (k = 0; k < s->nr_vcpus; k++) {
		vm->slot_vcpu[k] = k;
		vm->sent[k] = vm->tsc[k];
		vm->slot_named[k] = false;
		vm->slot_logged[k] = 0;
	}
	printf("pvtimer serve: VM pid %d attached as id %u (%u vCPUs)\n", vm->pid, vm->id,
	       s->nr_vcpus);
	return 0;
}

/* A new connection: serve it, or refuse it while a VM is served. */
static void serve_accept(struct pvt_serve *s, struct pvt_vm *vm)
{
	struct ucred cred = { .pid = 0 };
	socklen_t len = sizeof(cred);
	int c;

	c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			serve_err("accept on %s: %s", s->socket, strerror(errno));
		return;
	}
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		serve_err("%s: SO_PEERCRED: %s", s->socket, strerror(errno));
		close(c);
		return;
	}
	if (vm->conn >= 0) {
		serve_err("refusing a connection from pid %d: serving VM pid %d (one per server)",
			  cred.pid, vm->pid);
		close(c);
		return;
	}
	vm->conn = c;
	vm->pid = cred.pid;
	vm->peer = s->next_peer;
	s->next_peer = s->next_peer == IVSHMEM_MAX_PEER ? 0 : s->next_peer + 1;
	printf("pvtimer serve: connection from pid %d (ivshmem peer %u)\n", vm->pid, vm->peer);
	if (vm_shm(s, vm) || vm_setup(s, vm) || wait_kvm(s, vm) || vm_attach(s, vm))
		vm_close(s, vm);
}

/* Tell the agent slot K's TSC offset: 0, or -1 (the error printed). */
static int vm_set_tsc(struct pvt_serve *s, struct pvt_vm *vm, unsigned int k, __s64 v)
{
	struct pvtimer_set_tsc t;

	memset(&t, 0, sizeof(t));
	t.size = sizeof(t);
	t.id = vm->id;
	t.vcpu = k;
	t.tsc_offset = v;
	/* Not retried: one message per change. */
	vm->sent[k] = v;
	if (ioctl(s->agent_fd, PVTIMER_IOC_SET_TSC, &t)) {
		serve_err("VM pid %d slot %u: PVTIMER_IOC_SET_TSC: %s", vm->pid, k,
			  strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Slot K must be read with the TSC offset of the vCPU that writes it. The
 * guest maps slots to CPUs by MSI-X vector affinity and names each slot's
 * CPU by its APIC ID, which is KVM's vCPU id (the debugfs "vcpuID"); this
 * server assumed vCPU K (the K-th smallest id) until then. A slot named
 * by another vCPU gets that vCPU's offset; one named by an APIC ID with no
 * vCPU here cannot be served right: the VM is detached (its guest falls
 * back to the local APIC timer). -1 then, else 0.
 */
static int vm_check_slots(struct pvt_serve *s, struct pvt_vm *vm)
{
	unsigned int k, j;

	for (k = 0; k < s->nr_vcpus; k++) {
		struct pvtimer_slot *sl = pvtimer_slot_at(vm->shm, k);
		__u32 apic;

		/* Acquire: pairs with the guest's write barrier before it. */
		if (!(__atomic_load_n(&sl->gid_valid, __ATOMIC_ACQUIRE) & PVTIMER_GID_APIC)) {
			vm->slot_named[k] = false;
			continue;
		}
		apic = __atomic_load_n(&sl->apic_id, __ATOMIC_RELAXED);
		if (vm->slot_named[k] && apic == vm->slot_apic[k])
			continue;
		vm->slot_named[k] = true;
		vm->slot_apic[k] = apic;
		for (j = 0; j < s->nr_vcpus && vm->vcpu_id[j] != apic; j++)
			;
		if (j == s->nr_vcpus) {
			serve_err("VM pid %d: slot %u belongs to the CPU with APIC ID %u, and no\n"
				  "  vCPU of %s has that id: its TSC offset is unknown; detaching\n"
				  "  (the guest keeps its local APIC timer). Start the server with\n"
				  "  --vcpus = the VM's vCPU count.",
				  vm->pid, k, apic, vm->dir);
			vm_detach(s, vm);
			return -1;
		}
		/*
		 * A guest renaming its slots cannot flood the log: one line
		 * per slot per 10 s at most.
		 */
		if (!vm->slot_logged[k] || now_ms() - vm->slot_logged[k] >= 10000) {
			vm->slot_logged[k] = now_ms();
			printf("pvtimer serve: slot %u", k);
			if (j == k)
				printf(" is vCPU %u's (APIC ID %u): checked\n",
				       vm->vcpu_id[j], apic);
			else
				printf(": APIC ID %u, vcpu%u (not vcpu%u)\n", apic, vm->vcpu_id[j],
				       vm->vcpu_id[k]);
		}
		vm->slot_vcpu[k] = j;
		if (vm->tsc[j] != vm->sent[k])
			vm_set_tsc(s, vm, k, vm->tsc[j]);
	}
	return 0;
}

/* Pass the TSC offsets that changed on to the agent, slot by slot. */
static void vm_update_tsc(struct pvt_serve *s, struct pvt_vm *vm)
{
	unsigned int k, j;
	__s64 v;

	for (j = 0; j < s->nr_vcpus; j++)
		if (!read_tsc(vm, j, &v))
			vm->tsc[j] = v;
	for (k = 0; k < s->nr_vcpus; k++) {
		v = vm->tsc[vm->slot_vcpu[k]];
		if (v != vm->sent[k] && !vm_set_tsc(s, vm, k, v))
			printf("pvtimer serve: slot %u TSC offset now %lld (vcpu%u)\n", k,
			       (long long)v, vm->vcpu_id[vm->slot_vcpu[k]]);
	}
}

static int serve_listen(struct pvt_serve *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	strcpy(sa.sun_path, s->socket);
	if (!lstat(s->socket, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			serve_err("%s exists and is not a socket", s->socket);
			return -1;
		}
		if (unlink(s->socket)) {
			serve_err("removing the old socket %s: %s", s->socket, strerror(errno));
			return -1;
		}
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0) {
		serve_err("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(s->listen_fd, 8)) {
		serve_err("%s: %s", s->socket, strerror(errno));
		return -1;
	}
	if (!stat(s->socket, &st))
		s->socket_ino = st.st_ino;
	return 0;
}

/*
 * systemd's readiness protocol (sd_notify(3), without libsystemd): one
 * datagram to $NOTIFY_SOCKET, a path or, with a leading '@', an abstract
 * name. hvkit-pvtimer@.service is Type=notify, so that "systemctl start"
 * returns only once QEMU can connect. Nothing happens without the variable.
 */
static void serve_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path)) {
		serve_err("NOTIFY_SOCKET too long: %s", path);
		return;
	}
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
			     offsetof(struct sockaddr_un, sun_path) + len) < 0)
		serve_err("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int sub_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'z' },
		{ "agent", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct pvt_serve s = {
		.nr_vcpus = PVT_DEFAULT_VCPUS, .size = PVT_DEFAULT_SIZE,
		.agent_fd = -1, .listen_fd = -1,
	};
	struct sigaction sa = { .sa_handler = pvt_signal, .sa_flags = SA_RESTART };
	unsigned long long v, next_tsc = 0;
	char agent[256];
	struct pvt_vm vm;
	struct stat st;
	int c, ret = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			s.socket = optarg;
			break;
		case 'n':
			if (parse_ull(optarg, false, &v) || v < 1 || v > PVTIMER_MAX_VCPUS)
				return usage_err("serve", serve_usage, "bad --vcpus '%s': 1 to %d",
						 optarg, PVTIMER_MAX_VCPUS);
			s.nr_vcpus = v;
			break;
		case 'z':
			if (parse_ull(optarg, true, &v) || v < PVTIMER_SHM_MIN_SIZE ||
			    v > PVT_MAX_SIZE || (v & (v - 1)))
				return usage_err("serve", serve_usage,
						 "bad --size '%s': a power of two from %d to 64M",
						 optarg, PVTIMER_SHM_MIN_SIZE);
			s.size = v;
			break;
		case 'a':
			s.agent = optarg;
			break;
		default:
			return bad_opt("serve", serve_usage, c, argv);
		}
	}
	if (optind < argc)
		return usage_err("serve", serve_usage, "unexpected argument '%s'", argv[optind]);
	if (!s.socket)
		return usage_err("serve", serve_usage, "--socket PATH is required");
	if (!s.socket[0] || strlen(s.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return usage_err("serve", serve_usage, "--socket: a path of 1 to %zu characters",
				 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (!s.agent) {
		snprintf(agent, sizeof(agent), "%s/pvtimer_agent", dev_root);
		s.agent = agent;
	}

	s.agent_fd = open(s.agent, O_RDWR | O_CLOEXEC);
	if (s.agent_fd < 0) {
		serve_err("%s: %s%s", s.agent, strerror(errno),
			  errno == ENOENT ? " (modprobe pvtimer_agent)" : "");
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL)) {
		serve_err("sigaction: %s", strerror(errno));
		close(s.agent_fd);
		return 1;
	}
	if (serve_listen(&s)) {
		if (s.listen_fd >= 0)
			close(s.listen_fd);
		close(s.agent_fd);
		return 1;
	}
	/* Tests and scripts wait for these lines: one write each. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pvtimer serve: listening on %s (%u vectors, %llu bytes)\n", s.socket,
	       s.nr_vcpus, s.size);
	fflush(stdout);
	{
		char msg[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];

		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=listening on %s", s.socket);
		serve_notify(msg);
	}

	vm_init(&vm);
	while (!pvt_stop) {
		struct pollfd p[2] = {
			{ .fd = vm.conn, .events = POLLIN },
			{ .fd = s.listen_fd, .events = POLLIN },
		};
		int n = poll(p, 2, PVT_POLL_MS);

		if (n < 0 && errno != EINTR) {
			serve_err("poll: %s", strerror(errno));
			ret = 1;
			break;
		}
		/* QEMU first: one that exits makes room for the next. */
		if (n > 0 && p[0].revents && conn_drain(&vm))
			vm_close(&s, &vm);
		if (n > 0 && p[1].revents)
			serve_accept(&s, &vm);
		if (vm.attached && now_ms() >= next_tsc && !vm_check_slots(&s, &vm)) {
			vm_update_tsc(&s, &vm);
			next_tsc = now_ms() + PVT_POLL_MS;
		}
	}
	serve_notify("STOPPING=1");
	vm_close(&s, &vm);
	close(s.listen_fd);
	if (!stat(s.socket, &st) && st.st_ino == s.socket_ino && unlink(s.socket))
		serve_err("removing %s: %s", s.socket, strerror(errno));
	close(s.agent_fd);
	if (pvt_stop)
		printf("pvtimer serve: %s, exiting\n", strsignal(pvt_stop));
	return ret;
}

/* Copy the file @path to stdout: 0, or -1 (the error printed). */
static int cat_file(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "re");
	int ret = 0;
	size_t n;

	if (!f) {
		fprintf(stderr, "hvkitctl pvtimer status: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	if (ferror(f)) {
		fprintf(stderr, "hvkitctl pvtimer status: %s: %s\n", path, strerror(errno));
		ret = -1;
	}
	fclose(f);
	return ret;
}

static int agent_status(const char *dev, bool reset)
{
	struct pvtimer_status st;
	char path[256];
	int fd, i;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hvkitctl pvtimer status: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.flags = reset ? PVTIMER_STATUS_RESET : 0;
	if (ioctl(fd, PVTIMER_IOC_STATUS, &st)) {
		fprintf(stderr, "hvkitctl pvtimer status: %s: PVTIMER_IOC_STATUS: %s\n", dev,
			strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	printf("agent_cpu: %u\n", st.agent_cpu);
	printf("attached: %u\n", st.nr_attached);
	printf("vcpus: %u\n", st.nr_vcpus);
	printf("scan_ns: %llu\n", (unsigned long long)st.scan_ns);
	printf("scans: %llu\n", (unsigned long long)st.scans);
	/* 0 from a module older than the idle pace (it never reports 0). */
	if (st.idle_scan_ns) {
		printf("idle_scan_ns: %llu\n", (unsigned long long)st.idle_scan_ns);
		printf("idle_scans: %llu\n", (unsigned long long)st.idle_scans);
	} else {
		puts("idle_scan_ns: unknown (an older pvtimer_agent)");
		puts("idle_scans: unknown");
	}
	printf("armed: %llu\n", (unsigned long long)st.armed);
	printf("fired: %llu\n", (unsigned long long)st.fired);
	printf("torn: %llu\n", (unsigned long long)st.torn);
	printf("past: %llu\n", (unsigned long long)st.past);
	printf("early: %llu\n", (unsigned long long)st.early);
	printf("agent_cpu_ms: %.3f\n", st.agent_ns / 1e6);
	printf("late_avg_ns: %llu\n",
	       st.fired ? (unsigned long long)(st.late_sum_ns / st.fired) : 0ULL);
	printf("late_max_ns: %llu\n", (unsigned long long)st.late_max_ns);
	fputs("late_hist_us:", stdout);
	for (i = 0; i < PVTIMER_LAT_BUCKETS; i++)
		printf(" %s%u:%llu", i < PVTIMER_LAT_BUCKETS - 1 ? "<" : ">=",
		       i < PVTIMER_LAT_BUCKETS - 1 ? 1U << i : 1U << (i - 1),
		       (unsigned long long)st.late_hist[i]);
	putchar('\n');
	snprintf(path, sizeof(path), "%s/kernel/debug/pvtimer_agent/vms", sysfs_root);
	if (!access(path, F_OK)) {
		puts("attachments:");
		if (cat_file(path))
			return 1;
	}
	return 0;
}

static int skip_dots(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

static int guest_status(const char *stats, bool reset)
{
	struct dirent **names;
	char path[512], val[256];
	int i, n, ret = 0;

	if (cat_file(stats))
		return 1;
	snprintf(path, sizeof(path), "%s/module/guest_pvtimer/parameters", sysfs_root);
	n = scandir(path, &names, skip_dots, alphasort);
	if (n < 0) {
		fprintf(stderr, "hvkitctl pvtimer status: %s: %s\n", path, strerror(errno));
		ret = 1;
	}
	for (i = 0; i < n; i++) {
		int err;

		snprintf(path, sizeof(path), "%s/module/guest_pvtimer/parameters/%s",
			 sysfs_root, names[i]->d_name);
		err = read_line(path, val, sizeof(val));
		if (err) {
			fprintf(stderr, "hvkitctl pvtimer status: %s: %s\n", path, strerror(-err));
			ret = 1;
		} else {
			printf("param %s = %s\n", names[i]->d_name, val);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	if (reset) {
		int err;

		fflush(stdout);
		snprintf(path, sizeof(path), "%s/kernel/debug/guest_pvtimer/reset", sysfs_root);
		err = write_line(path, "1");
		if (err) {
			fprintf(stderr, "hvkitctl pvtimer status: --reset: %s: %s\n", path,
				strerror(-err));
			ret = 1;
		}
	}
	return ret;
}

static int sub_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reset", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const char usage[] = "status [--reset]";
	char dev[256], stats[256], path[256];
	bool reset = false, host, guest;
	int c, ret = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c != 'r')
			return bad_opt("status", usage, c, argv);
		reset = true;
	}
	if (optind < argc)
		return usage_err("status", usage, "unexpected argument '%s'", argv[optind]);

	snprintf(dev, sizeof(dev), "%s/pvtimer_agent", dev_root);
	snprintf(stats, sizeof(stats), "%s/kernel/debug/guest_pvtimer/stats", sysfs_root);
	host = !access(dev, F_OK);
	guest = !access(stats, F_OK);
	if (!host && !guest) {
		snprintf(path, sizeof(path), "%s/module/guest_pvtimer", sysfs_root);
		if (!access(path, F_OK)) {
			fprintf(stderr, "hvkitctl pvtimer status: guest_pvtimer is loaded, but %s\n"
				"  is missing: %s, and run as root\n", stats, debugfs_hint);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/module/pvtimer_agent", sysfs_root);
		if (!access(path, F_OK)) {
			fprintf(stderr, "hvkitctl pvtimer status: pvtimer_agent is loaded, no %s\n",
				dev);
			return 1;
		}
		fputs(not_loaded, stderr);
		return 1;
	}
	if (host && agent_status(dev, reset))
		ret = 1;
	if (guest) {
		if (host)
			putchar('\n');
		if (guest_status(stats, reset))
			ret = 1;
	}
	return ret;
}

int cmd_pvtimer(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		pvtimer_help(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		pvtimer_help(stdout);
		return 0;
	}
	/* optind 0: getopt starts over, options may follow operands (see kram.c). */
	optind = 0;
	if (!strcmp(sub, "serve"))
		return sub_serve(argc - 1, argv + 1);
	if (!strcmp(sub, "status"))
		return sub_status(argc - 1, argv + 1);
	fprintf(stderr, "hvkitctl pvtimer: unknown subcommand '%s'\n"
		"Usage: hvkitctl pvtimer {serve|status|help} ...\n", sub);
	return 2;
}
