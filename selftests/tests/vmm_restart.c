// SPDX-License-Identifier: GPL-2.0
/*
 * vmm_restart: the blackout of a "VMM restart with a passthrough device",
 * as the vfio_preserve benchmark measures it. Starts QEMU with the given
 * arguments plus a QMP socket, waits until it is ready, then ROUNDS times:
 * stops it (SIGTERM, wait for the exit: VFIO closes the device), starts it
 * again and waits until QMP answers query-pci with the device realized
 * (QEMU opens the device and resets the machine before QMP serves).
 *
 *   vmm_restart ROUNDS -- QEMU-BINARY ARGS...
 *
 * Prints per round "round=N stop_us=.. start_us=.. blackout_us=.." and at
 * the end stop_us_median=, start_us_median=, blackout_us_median=.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SOCK "/tmp/vmm_restart.qmp"
#define MAX_ROUNDS 100
#define READY_TIMEOUT_S 120

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static pid_t start_qemu(char **argv, int argc)
{
	char **args = calloc(argc + 3, sizeof(*args));
	pid_t pid;
	int i;

	if (!args)
		return -1;
	for (i = 0; i < argc; i++)
		args[i] = argv[i];
	args[argc] = "-qmp";
	args[argc + 1] = "unix:" SOCK ",server=on,wait=off";
	unlink(SOCK);
	pid = fork();
	if (pid == 0) {
		execv(args[0], args);
		fprintf(stderr, "vmm_restart: exec %s: %s\n", args[0], strerror(errno));
		_exit(127);
	}
	free(args);
	return pid;
}

/* Read from @fd until @needle shows up; 0, or -1 on EOF/error. */
static int read_until(int fd, const char *needle)
{
	char buf[65536];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		if (len >= sizeof(buf) - 1)
			len = 0;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		len += n;
		buf[len] = 0;
		if (strstr(buf, needle))
			return 0;
	}
}

/*
 * Wait until QMP answers query-pci. QEMU serves QMP only after every device
 * is realized (a vfio-pci device that cannot be opened makes it exit).
 */
static int wait_ready(pid_t pid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	static const char qpci[] = "{\"execute\":\"query-pci\"}\n";
	int fd, status;

	strcpy(sa.sun_path, SOCK);
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr,
				"vmm_restart: QEMU exited (status 0x%x) before it was ready\n",
				status);
			return -1;
		}
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(fd);
		usleep(1000);
	}
	if (read_until(fd, "QMP") ||
	    write(fd, caps, sizeof(caps) - 1) != sizeof(caps) - 1 ||
	    read_until(fd, "return") ||
	    write(fd, qpci, sizeof(qpci) - 1) != sizeof(qpci) - 1 ||
	    read_until(fd, "\"return\"")) {
		fprintf(stderr, "vmm_restart: QMP conversation failed\n");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static long long median(long long *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_ll);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	long long stop[MAX_ROUNDS], start[MAX_ROUNDS], black[MAX_ROUNDS];
	long long t0, t1, t2;
	int rounds, i, status;
	pid_t pid;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: vmm_restart ROUNDS -- QEMU-BINARY ARGS...\n");
		return 2;
	}
	rounds = atoi(argv[1]);
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "vmm_restart: ROUNDS must be 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	/* A QEMU that never gets ready must not hang the test: SIGALRM kills us. */
	alarm(READY_TIMEOUT_S);
	pid = start_qemu(argv + 3, argc - 3);
	if (pid < 0 || wait_ready(pid))
		return 1;
	alarm(0);
	for (i = 0; i < rounds; i++) {
		t0 = now_us();
		kill(pid, SIGTERM);
		if (waitpid(pid, &status, 0) != pid) {
			perror("vmm_restart: waitpid");
			return 1;
		}
		t1 = now_us();
		alarm(READY_TIMEOUT_S);
		pid = start_qemu(argv + 3, argc - 3);
		if (pid < 0 || wait_ready(pid))
			return 1;
		alarm(0);
		t2 = now_us();
		stop[i] = t1 - t0;
		start[i] = t2 - t1;
		black[i] = t2 - t0;
		printf("round=%d stop_us=%lld start_us=%lld blackout_us=%lld\n",
		       i + 1, stop[i], start[i], black[i]);
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	printf("stop_us_median=%lld\nstart_us_median=%lld\nblackout_us_median=%lld\nrounds=%d\n",
	       median(stop, rounds), median(start, rounds), median(black, rounds), rounds);
	return 0;
}
