// SPDX-License-Identifier: GPL-2.0
/*
 * "hvkitctl pvtimer serve" refuses a VM whose TSC KVM scales (issue 17,
 * item 3). The agent turns guest-TSC deadlines into host time with the
 * host's tsc_khz and the TSC offset alone, so a guest TSC running at
 * another rate (QEMU's tsc-frequency=) would have every timer fire early
 * or late. The server reads the vCPUs' tsc-scaling-ratio from KVM's
 * debugfs. Under TCG L1's KVM cannot scale (no such file), so this test
 * gives the server a debugfs tree of its own (hvkitctl --sysfs) for
 * a "VM" that is this process (the server finds a VM by its client's
 * pid, SO_PEERCRED), and plays QEMU's ivshmem client:
 *   - ratio 1.5: refused with the ratio named, nothing attached;
 *   - ratio 1.0, and no ratio file (KVM without TSC scaling): attached,
 *     detached again when the client goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/hvkit.h>
#include "kselftest.h"

#define ROOT	"/tmp/pvserve"
#define SOCK	"/tmp/pvserve.sock"
#define LOG	"/tmp/pvserve.log"
#define NOTIFY	"/tmp/pvserve.notify"
#define NR	2
#define SHM_SIZE	65536	/* serve's default --size */

static char vmdir[128];

static void put(const char *dir, unsigned int vcpu, const char *file, const char *val)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vcpu%u/%s", dir, vcpu, file);
	if (!val) {
		unlink(path);
		return;
	}
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", val) < 0 || fclose(f))
		ksft_exit_fail_msg("writing %s: %s\n", path, strerror(errno));
}

/* Both vCPUs: TSC offset 0 and the given ratio files (NULL: absent). */
static void set_ratio(const char *ratio, const char *frac)
{
	unsigned int v;

	for (v = 0; v < NR; v++) {
		put(vmdir, v, "tsc-offset", "0");
		put(vmdir, v, "tsc-scaling-ratio", ratio);
		put(vmdir, v, "tsc-scaling-ratio-frac-bits", frac);
	}
}

/* Does the server's log hold @s (waiting up to @ms)? */
static int log_has(const char *s, int ms)
{
	char buf[16384];
	ssize_t n;
	int fd;

	for (; ms >= 0; ms -= 50) {
		fd = open(LOG, O_RDONLY);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = 0;
				if (strstr(buf, s))
					return 1;
			}
		}
		usleep(50000);
	}
	return 0;
}

static int attached(void)
{
	struct pvtimer_status st = { .size = sizeof(st) };
	int fd = open("/dev/pvtimer_agent", O_RDONLY), ret;

	if (fd < 0)
		ksft_exit_fail_msg("/dev/pvtimer_agent: %s\n", strerror(errno));
	ret = ioctl(fd, PVTIMER_IOC_STATUS, &st);
	close(fd);
	if (ret)
		ksft_exit_fail_msg("PVTIMER_IOC_STATUS: %s\n", strerror(errno));
	return st.nr_attached;
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, SOCK);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		ksft_exit_fail_msg("connect %s: %s\n", SOCK, strerror(errno));
	return c;
}

/* Read what the server sends until it closes (1) or @ms pass (0). */
static int closed_by_server(int c, int ms)
{
	struct pollfd p = { .fd = c, .events = POLLIN };
	char buf[512];

	while (poll(&p, 1, ms) > 0) {
		ssize_t n = recv(c, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return 1;
	}
	return 0;
}

/* Connect with the current ratio files: attached in the end? */
static int attach_with(const char *what, int *c)
{
	int i;

	*c = client();
	for (i = 0; i < 100 && !attached(); i++)
		usleep(50000);
	ksft_print_msg("%s: %s after %d ms\n", what, attached() ? "attached" : "not attached",
		       i * 50);
	return attached();
}

/*
 * The shared memory a new client gets (QEMU's ivshmem protocol: the
 * version, the peer id, then -1 with the memfd), mapped; NULL if not.
 */
static void *client_shm(int c)
{
	int i;

	for (i = 0; i < 3; i++) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		long long val = 0;
		struct iovec iov = { .iov_base = &val, .iov_len = sizeof(val) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *cm;
		void *p;
		int fd;

		if (recvmsg(c, &m, 0) != sizeof(val))
			return NULL;
		cm = CMSG_FIRSTHDR(&m);
		if (val != -1 || !cm || cm->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		return p == MAP_FAILED ? NULL : p;
	}
	return NULL;
}

/*
 * The TSC offset the agent has for slot @k of the VM of this process
 * (pvtimer_agent's debugfs "vms": id pid slot tsc_offset ...), or -1 when
 * it is not there.
 */
static long long agent_offset(unsigned int k)
{
	char line[256];
	long long off, ret = -1;
	unsigned int id, slot;
	FILE *f;
	int pid;

	f = fopen("/sys/kernel/debug/pvtimer_agent/vms", "r");
	if (!f)
		ksft_exit_fail_msg("pvtimer_agent's debugfs vms: %s\n", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%u %d %u %lld", &id, &pid, &slot, &off) == 4 &&
		    pid == getpid() && slot == k)
			ret = off;
	fclose(f);
	return ret;
}

/* Wait up to @ms for slot @k's offset in the agent to be @want. */
static int agent_offset_is(unsigned int k, long long want, int ms)
{
	for (; ms >= 0; ms -= 50) {
		if (agent_offset(k) == want)
			return 1;
		usleep(50000);
	}
	ksft_print_msg("agent's slot %u offset: %lld, not %lld\n", k, agent_offset(k), want);
	return 0;
}

/* The guest names slot @k's CPU by its APIC ID, as guest_pvtimer does. */
static void name_slot(void *shm, unsigned int k, unsigned int apic)
{
	struct pvtimer_slot *sl = pvtimer_slot_at(shm, k);

	__atomic_store_n(&sl->apic_id, apic, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->gid_valid, PVTIMER_GID_APIC, __ATOMIC_RELEASE);
}

/* systemd's side of sd_notify: a datagram socket the server reports to. */
static int notify_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, NOTIFY);
	unlink(NOTIFY);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		ksft_exit_fail_msg("notify socket %s: %s\n", NOTIFY, strerror(errno));
	return fd;
}

/* The next notification within @ms into @buf ("" if none). */
static void notify_read(int fd, char *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = 0;

	buf[0] = 0;
	if (poll(&p, 1, ms) == 1)
		n = recv(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = 0;
}

int main(void)
{
	int c, st, before, refused, ok, nfd;
	void *shm;
	char cmd[320], note[256];
	pid_t srv;

	ksft_print_header();
	ksft_set_plan(9);
	nfd = notify_socket();
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", ROOT, SOCK);
	if (system(cmd))
		ksft_exit_fail_msg("%s\n", cmd);
	snprintf(vmdir, sizeof(vmdir), ROOT "/kernel/debug/kvm/%d-9", getpid());
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/vcpu0 %s/vcpu1", vmdir, vmdir);
	if (system(cmd))
		ksft_exit_fail_msg("%s\n", cmd);
	/* 1.5 with KVM's SVM 48 fraction bits (VMX uses 48 too). */
	set_ratio("422212465065984", "48");
	before = attached();

	srv = fork();
	if (srv < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	if (!srv) {
		int fd = open(LOG, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		setenv("NOTIFY_SOCKET", NOTIFY, 1);
		execlp("hvkitctl", "hvkitctl", "--sysfs", ROOT, "pvtimer", "serve",
		       "--socket", SOCK, "--vcpus", "2", (char *)NULL);
		_exit(127);
	}
	if (!log_has("listening on", 10000)) {
		kill(srv, SIGKILL);
		if (system("sed 's/^/# serve: /' " LOG))
			ksft_print_msg("no server log\n");
		ksft_exit_fail_msg("the server did not start (%s)\n", LOG);
	}
	notify_read(nfd, note, sizeof(note), 5000);
	ksft_print_msg("sd_notify: %s\n", note);
	ksft_test_result(!strcmp(note, "READY=1\nSTATUS=listening on " SOCK),
			 "sd_notify: READY=1 once listening\n");

	/* Scaled: refused, named, the connection closed, nothing attached. */
	c = client();
	refused = closed_by_server(c, 30000);
	close(c);
	ok = refused && attached() == before &&
	     log_has("KVM scales vCPU 0's TSC (ratio 422212465065984 / 2^48, 1.500000)", 1000);
	ksft_test_result(ok, "TSC scaled 1.5x: refused with the ratio, nothing attached\n");

	/* Ratio 1.0: served. */
	set_ratio("281474976710656", "48");
	ok = attach_with("ratio 1.0", &c) == before + 1;
	ksft_test_result(ok, "TSC ratio 1.0: attached\n");
	close(c);
	for (st = 0; st < 100 && attached() != before; st++)
		usleep(50000);
	ksft_test_result(attached() == before, "client gone: detached\n");

	/* No ratio file (a KVM that cannot scale, as under TCG): served. */
	set_ratio(NULL, NULL);
	ok = attach_with("no tsc-scaling-ratio", &c) == before + 1;
	ksft_test_result(ok, "no TSC scaling in KVM: attached\n");

	/*
	 * Slots named by the guest (APIC ID = KVM's vCPU id): slot 0 by vCPU
	 * 0 is checked; slot 1 by vCPU 0 gets vCPU 0's offset, not vCPU 1's
	 * (they differ here); a slot named by an APIC ID no vCPU has makes
	 * the server detach the VM.
	 */
	put(vmdir, 1, "tsc-offset", "1000");
	shm = client_shm(c);
	if (!shm)
		ksft_exit_fail_msg("no shared memory from the server\n");
	name_slot(shm, 0, 0);
	ok = log_has("slot 0 is vCPU 0's (APIC ID 0): checked", 3000);
	ksft_test_result(ok, "slot 0 named by APIC ID 0: checked\n");
	/* Slot 1 follows vCPU 1's offset until the guest names it. */
	ok = agent_offset_is(1, 1000, 3000);
	name_slot(shm, 1, 0);
	ok = ok && log_has("slot 1: APIC ID 0, vcpu0 (not vcpu1)", 3000) &&
	     agent_offset_is(1, 0, 3000) && agent_offset_is(0, 0, 0);
	ksft_test_result(ok, "slot 1 named by APIC ID 0: the agent has vCPU 0's TSC offset\n");
	name_slot(shm, 0, 7);
	ok = log_has("slot 0 belongs to the CPU with APIC ID 7", 3000);
	for (st = 0; st < 100 && attached() != before; st++)
		usleep(50000);
	ksft_test_result(ok && attached() == before && !closed_by_server(c, 300),
			 "slot named by an APIC ID no vCPU has: detached, QEMU's connection kept\n");
	munmap(shm, SHM_SIZE);
	close(c);

	kill(srv, SIGTERM);
	if (waitpid(srv, &st, 0) != srv || !WIFEXITED(st))
		ksft_print_msg("server ended with status %#x\n", st);
	notify_read(nfd, note, sizeof(note), 1000);
	ksft_test_result(!strcmp(note, "STOPPING=1"), "sd_notify: STOPPING=1 on SIGTERM\n");
	close(nfd);
	snprintf(cmd, sizeof(cmd), "sed 's/^/# serve: /' %s", LOG);
	if (system(cmd))
		ksft_print_msg("no server log\n");
	ksft_finished();
}
