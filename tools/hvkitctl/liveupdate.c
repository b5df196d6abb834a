// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl liveupdate: a running VM through a kexec of its host, with an
 * unmodified QEMU (7.2), driven through QEMU's QMP socket.
 *
 *   check    everything the live update needs, nothing changed
 *   save     checks, stop, save the device and CPU state (not the RAM,
 *            which is in kram areas: capability x-ignore-shared) into a
 *            kram area, quit QEMU
 *   kexec    checks, kexec -s -l into the next kernel, then kexec
 *   restore  into a QEMU started with the saved command line and
 *            "-incoming defer": checks, load, resume
 *   show     what a state area holds
 *
 * The state area: a header (struct lu_hdr, in its first LU_HDR_SIZE bytes)
 * and QEMU's migration stream after it. Nothing here keeps the VM's RAM:
 * kram does, in the areas that back its memory.
 */
#define _GNU_SOURCE	/* struct ucred */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <linux/hvkit.h>

#include "hvkitctl.h"

#define LU_MAGIC	"HVKITLU"
#define LU_VERSION	1
/* The migration stream starts here, in 64 KiB blocks (dd bs=64k skip=1). */
#define LU_HDR_SIZE	65536
#define LU_MAX_DEV	16
#define LU_MAX_MEM	16
#define LU_BDF_LEN	16
#define LU_ID_LEN	64

enum lu_state {
	LU_EMPTY,	/* nothing saved (or a save that did not finish) */
	LU_SAVED,	/* a complete save, not loaded yet */
	LU_RESTORED,	/* loaded into a QEMU once: spent */
};

static const char *const lu_state_names[] = {
	[LU_EMPTY] = "empty (no complete save)",
	[LU_SAVED] = "saved, not restored yet",
	[LU_RESTORED] = "restored (spent)",
};

/* One memory backend of the VM and the kram area behind it. */
struct lu_mem {
	char id[LU_ID_LEN];
	char area[KRAM_NAME_LEN];
	__u64 size;
};

struct lu_hdr {
	char magic[8];
	__u32 version;
	__u32 state;
	__u8 uuid[16];		/* kram's region at the save */
	__u64 boot_count;	/* kram's boot count at the save */
	__u64 stop_ns;		/* CLOCK_REALTIME when the VM stopped */
	__u64 save_ns;		/* stop to the end of the save */
	__u64 restore_ns;	/* CLOCK_REALTIME of the resume (LU_RESTORED) */
	__u32 nr_dev;
	__u32 nr_mem;
	char dev[LU_MAX_DEV][LU_BDF_LEN];
	struct lu_mem mem[LU_MAX_MEM];
	__u32 argv_len;		/* bytes of argv, NUL-separated */
	__u32 crc;		/* of the header and argv, this field 0 */
	char argv[];		/* QEMU's command line, as /proc/PID/cmdline */
};

/* argv as far as an older hvkitctl may have written it */
#define LU_ARGV_MAX	(LU_HDR_SIZE - sizeof(struct lu_hdr))

/*
 * What restore --exec needs besides argv, in the header's last 4 KiB:
 * QEMU's working directory at the save (relative paths of its command
 * line) and whether argv was cut short. Outside the CRC'd header, with a
 * CRC of its own: a header of an older hvkitctl has zeros here (nothing
 * known), and an older hvkitctl ignores it.
 */
#define LU_EXT_OFF	(LU_HDR_SIZE - 4096)
#define LU_EXT_MAGIC	"HVKITEXT"
#define LU_EXT_ARGV_CUT	0x1	/* QEMU's command line did not fit */

struct lu_ext {
	char magic[8];
	__u32 crc;		/* of flags, cwd_len and cwd[0..cwd_len) */
	__u32 flags;		/* LU_EXT_* */
	__u32 cwd_len;		/* strlen(cwd); 0: unknown */
	char cwd[4096 - 20];
};

/* argv as this hvkitctl writes it: up to the extension */
#define LU_ARGV_SAVE_MAX	(LU_EXT_OFF - sizeof(struct lu_hdr))

struct lu_opts {
	const char *qmp;
	const char *state;
	const char *kernel;
	const char *initrd;
	const char *append;
	bool reuse_cmdline;
	bool load_only;
	bool force;
	bool exec;
	const char *log;
	int timeout;
	int nr_ignore_vm;
	long ignore_vm[16];
};

struct lu_sub {
	const char *name;
	int (*fn)(const struct lu_sub *s, struct lu_opts *o);
	const char *usage;
	const char *summary;
	bool need_qmp, need_state;
};

void liveupdate_help(FILE *out)
{
	fputs("Usage: hvkitctl liveupdate SUBCOMMAND [OPTIONS]\n"
	      "\n"
	      "Keep a running VM through a kexec of its host: its RAM stays in kram areas,\n"
	      "its passthrough devices stay bound to vfio_preserve without a reset, and an\n"
	      "unmodified QEMU (7.2) saves and loads only its device and CPU state.\n"
	      "\n"
	      "Subcommands:\n"
	      "  check   --qmp SOCK --state AREA [--append CMDLINE]\n"
	      "          Run every check of save and kexec; change nothing.\n"
	      "  save    --qmp SOCK --state AREA [--timeout SECS] [--force]\n"
	      "          Checks, then stop the VM, save its state into AREA and quit QEMU.\n"
	      "          A save in AREA not restored yet is kept unless --force.\n"
	      "          On any failure the VM is left as it was (resumed if it ran).\n"
	      "  kexec   --state AREA --kernel FILE [--initrd FILE]\n"
	      "          (--append CMDLINE | --reuse-cmdline) [--load-only] [--ignore-vm PID]\n"
	      "          Checks, then kexec -s -l and reboot into it (systemctl kexec\n"
	      "          under systemd, else kexec -e). --load-only stops after the load.\n"
	      "  restore --qmp SOCK --state AREA [--timeout SECS]\n"
	      "          Into a QEMU started with the saved command line plus\n"
	      "          \"-incoming defer\" (and best -S): checks, load, resume.\n"
	      "  restore --exec --state AREA [--qmp SOCK] [--log FILE] [--timeout SECS]\n"
	      "          The same, into a QEMU this tool starts from the saved command\n"
	      "          line (in QEMU's directory at the save, its own session, its\n"
	      "          -incoming set to defer, -S added), and leaves running. Its QMP\n"
	      "          socket: --qmp SOCK (added when the command line lacks it; a\n"
	      "          relative one is in QEMU's directory), else the command line's\n"
	      "          first -qmp unix:PATH. Refused when the socket answers already,\n"
	      "          the saved command line was cut short, or it passes file\n"
	      "          descriptors (fd=, -add-fd: a management stack's QEMU; start it\n"
	      "          yourself). After a failure a QEMU that came up stays (it opened\n"
	      "          the devices: load into it with restore --qmp), one that did not\n"
	      "          is stopped; a loaded VM that is not resumed stays paused.\n"
	      "  show    --state AREA\n"
	      "          What AREA holds: state, devices, memory, QEMU's command line.\n"
	      "\n"
	      "Options:\n"
	      "  --qmp SOCK         QEMU's QMP socket (-qmp unix:SOCK,server=on,wait=off)\n"
	      "  --state AREA       kram area for the saved state (hvkitctl kram create\n"
	      "                     AREA 16M); the first 64 KiB hold this tool's header\n"
	      "  --timeout SECS     for the save or the load (default 300)\n"
	      "  --append CMDLINE   the next kernel's command line (check, kexec)\n"
	      "  --reuse-cmdline    the next kernel gets this one's command line\n"
	      "  --ignore-vm PID    (kexec) that process's KVM VMs may die in the kexec\n"
	      "  --force            (save) replace a save in AREA that was not restored\n"
	      "  --exec             (restore) start QEMU from the saved command line\n"
	      "  --log FILE         (restore --exec) QEMU's stdout and stderr, appended\n"
	      "                     (default /run/hvkit/liveupdate-AREA.log)\n"
	      "\n"
	      "The checks (save and restore refuse when one fails; the VM is not touched):\n"
	      "  - kram's region is attached; AREA is a kram area that nobody has open\n"
	      "    or mapped, with no save in it that was not restored (--force);\n"
	      "  - every memory backend of the VM (query-memdev, the machine's RAM\n"
	      "    included) is a kram area (mem-path /dev/kram_areas/NAME) with share=on:\n"
	      "    RAM elsewhere would be lost, or copied, by the kexec;\n"
	      "  - every vfio-pci device is bound to vfio_preserve, armed with\n"
	      "    no_user_reset and has x-enable-migration=on; no other VFIO device;\n"
	      "  - QEMU reports no migration blocker and no migration in progress;\n"
	      "  - kexec: the kexec binary and its -s (kexec_file_load; the legacy\n"
	      "    kexec_load is never used: it may place segments in kram's region),\n"
	      "    the syscall is available and allowed, the next command line has the\n"
	      "    same memmap= ranges over kram's region (and the same kram.* options),\n"
	      "    AREA holds a save not yet restored, no process has a KVM VM (its\n"
	      "    VM would die; --ignore-vm PID to let it).\n"
	      "\n"
	      "The recipe (Documentation/live-update.rst):\n"
	      "  hvkitctl liveupdate save --qmp /run/vm1.qmp --state vm1-state\n"
	      "  hvkitctl liveupdate kexec --state vm1-state --kernel /boot/vmlinuz-NEW \\\n"
	      "      --initrd /boot/initrd.img-NEW --reuse-cmdline\n"
	      "  # after the boot: kram and vfio_preserve attach their records\n"
	      "  hvkitctl liveupdate restore --exec --state vm1-state\n"
	      "  # or, QEMU started by hand or by a management stack:\n"
	      "  hvkitctl liveupdate show --state vm1-state   # QEMU's command line\n"
	      "  qemu-system-x86_64 SAME-ARGS -S -incoming defer &\n"
	      "  hvkitctl liveupdate restore --qmp /run/vm1.qmp --state vm1-state\n"
	      "\n"
	      "QEMU 7.2 does not save a queued exception's error code: a VM stopped right\n"
	      "after an exit that queues a page fault resumes with a wrong one (see\n"
	      "Documentation/live-update.rst, step 2).\n"
	      "\n"
	      "Exit status: 0 on success, 1 when a check or a step failed (the reason is\n"
	      "printed), 2 on bad usage.\n",
	      out);
}

/* "hvkitctl liveupdate SUB: ..." and a newline on stderr. */
static void lu_vmsg(const struct lu_sub *s, const char *fmt, va_list ap)
{
	fprintf(stderr, "hvkitctl liveupdate %s: ", s->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* A failure: the message; returns 1. */
static int __printf(2, 3) lu_err(const struct lu_sub *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lu_vmsg(s, fmt, ap);
	va_end(ap);
	return 1;
}

/* Bad usage: the message and the usage line; returns 2. */
static int __printf(2, 3) lu_usage_err(const struct lu_sub *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lu_vmsg(s, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Usage: hvkitctl liveupdate %s\n", s->usage);
	return 2;
}

/*
 * SIGINT, SIGTERM or SIGHUP while restore --exec runs (0: none; the
 * handler is installed only there): QMP reads and waits give up.
 */
static int lu_signal;

static void lu_on_signal(int sig)
{
	__atomic_store_n(&lu_signal, sig, __ATOMIC_RELAXED);
}

static int lu_signalled(void)
{
	return __atomic_load_n(&lu_signal, __ATOMIC_RELAXED);
}

static __u64 now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- a small JSON reader, enough for QMP's answers ---- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	bool b;
	long long n;
	char *s;		/* J_STR */
	char *key;		/* a member of an object */
	struct jv *kid;		/* J_ARR, J_OBJ: first element */
	struct jv *next;
};

static void jfree(struct jv *v)
{
	while (v) {
		struct jv *next = v->next;

		jfree(v->kid);
		free(v->s);
		free(v->key);
		free(v);
		v = next;
	}
}

static void jskip(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n')
		(*p)++;
}

static char *jstring(const char **p)
{
	const char *q = *p + 1;
	char *out, *o;

	out = malloc(strlen(q) + 1);
	if (!out)
		return NULL;
	for (o = out; *q && *q != '"'; q++) {
		if (*q != '\\') {
			*o++ = *q;
			continue;
		}
		switch (*++q) {
		case 'n':
			*o++ = '\n';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'u': {
			unsigned int c = 0;
			int i;

			for (i = 1; i <= 4; i++) {
				if (!isxdigit((unsigned char)q[i]))
					goto bad;
				c = c * 16 + (isdigit((unsigned char)q[i]) ? q[i] - '0' :
					      (tolower((unsigned char)q[i]) - 'a' + 10));
			}
			*o++ = c < 0x80 ? (char)c : '?';
			q += 4;
			break;
		}
		case '\0':
			goto bad;
		default:
			*o++ = *q;
			break;
		}
	}
	if (*q != '"')
		goto bad;
	*o = '\0';
	*p = q + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static struct jv *jparse_value(const char **p, int depth)
{
	struct jv *v, **tail;

	if (depth > 32)
		return NULL;
	jskip(p);
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	if (**p == '{' || **p == '[') {
		char close = **p == '{' ? '}' : ']';

		v->t = close == '}' ? J_OBJ : J_ARR;
		(*p)++;
		tail = &v->kid;
		jskip(p);
		if (**p == close) {
			(*p)++;
			return v;
		}
		for (;;) {
			char *key = NULL;

			jskip(p);
			if (v->t == J_OBJ) {
				if (**p != '"')
					goto bad;
				key = jstring(p);
				if (!key)
					goto bad;
				jskip(p);
				if (**p != ':') {
					free(key);
					goto bad;
				}
				(*p)++;
			}
			*tail = jparse_value(p, depth + 1);
			if (!*tail) {
				free(key);
				goto bad;
			}
			(*tail)->key = key;
			tail = &(*tail)->next;
			jskip(p);
			if (**p == ',') {
				(*p)++;
				continue;
			}
			if (**p != close)
				goto bad;
			(*p)++;
			return v;
		}
	}
	if (**p == '"') {
		v->t = J_STR;
		v->s = jstring(p);
		if (!v->s)
			goto bad;
		return v;
	}
	if (!strncmp(*p, "true", 4) || !strncmp(*p, "false", 5)) {
		v->t = J_BOOL;
		v->b = **p == 't';
		*p += v->b ? 4 : 5;
		return v;
	}
	if (!strncmp(*p, "null", 4)) {
		*p += 4;
		return v;
	}
	if ((**p == '-' && (*p)[1] >= '0' && (*p)[1] <= '9') || (**p >= '0' && **p <= '9')) {
		char *end;

		v->t = J_NUM;
		errno = 0;
		if (**p == '-')
			v->n = strtoll(*p, &end, 10);
		else
			v->n = (long long)strtoull(*p, &end, 10);
		/* Fractions and exponents: QMP's numbers here are integers. */
		while (*end == '.' || *end == 'e' || *end == 'E' || *end == '+' ||
		       *end == '-' || (*end >= '0' && *end <= '9'))
			end++;
		*p = end;
		return v;
	}
bad:
	jfree(v);
	return NULL;
}

static struct jv *jget(const struct jv *o, const char *key)
{
	struct jv *k;

	if (!o || o->t != J_OBJ)
		return NULL;
	for (k = o->kid; k; k = k->next)
		if (!strcmp(k->key, key))
			return k;
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
	struct jv *v = jget(o, key);

	return v && v->t == J_STR ? v->s : NULL;
}

/*
 * Append @src to @dst as a JSON string's contents, then @tail: 0, or -1
 * (and @dst emptied) when it does not fit.
 */
static int jesc(char *dst, size_t len, const char *src, const char *tail)
{
	size_t n = strlen(dst);

	for (; *src && n + 7 < len; src++) {
		unsigned char c = (unsigned char)*src;

		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c < 0x20) {
			n += snprintf(dst + n, len - n, "\\u%04x", c);
		} else {
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
	if (*src || n + strlen(tail) >= len) {
		dst[0] = '\0';
		return -1;
	}
	strcpy(dst + n, tail);
	return 0;
}

/* ---- QMP ---- */

struct qmp {
	int fd;
	pid_t pid;		/* QEMU's (SO_PEERCRED) */
	char buf[65536];
	size_t len;
	char err[512];		/* the last command's error */
	char last[128];		/* the start of the last line read */
	long long id;		/* of the last command */
	bool eof;		/* QEMU closed the socket */
};

/* One JSON line from QEMU, waiting at most @ms: parsed, or NULL. */
/* One JSON line from QEMU, by CLOCK_MONOTONIC @end (ns): parsed, or NULL. */
static struct jv *qmp_read_by(struct qmp *q, __u64 end)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd pfd = { q->fd, POLLIN, 0 };
		__u64 now;
		ssize_t n;

		if (nl) {
			const char *p = q->buf;
			struct jv *v;

			*nl = '\0';
			memcpy(q->last, q->buf, strnlen(q->buf, sizeof(q->last) - 1));
			q->last[strnlen(q->buf, sizeof(q->last) - 1)] = '\0';
			v = jparse_value(&p, 0);
			q->len -= nl + 1 - q->buf;
			memmove(q->buf, nl + 1, q->len);
			if (v)
				return v;
			snprintf(q->err, sizeof(q->err), "QEMU sent a line that is not JSON");
			continue;
		}
		if (q->len == sizeof(q->buf) - 1) {
			snprintf(q->err, sizeof(q->err), "QMP answer longer than %zu bytes",
				 sizeof(q->buf));
			return NULL;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= end) {
			snprintf(q->err, sizeof(q->err), "QEMU did not answer in time");
			return NULL;
		}
		if (poll(&pfd, 1, (int)((end - now) / 1000000) + 1) < 0 && errno != EINTR) {
			snprintf(q->err, sizeof(q->err), "poll: %s", strerror(errno));
			return NULL;
		}
		if (lu_signalled()) {
			snprintf(q->err, sizeof(q->err), "interrupted (signal %d)", lu_signalled());
			return NULL;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - 1 - q->len);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			q->eof = true;
		if (n <= 0) {
			snprintf(q->err, sizeof(q->err), "QEMU closed its QMP socket%s%s",
				 n < 0 ? ": " : " (it exited?)", n < 0 ? strerror(errno) : "");
			return NULL;
		}
		q->len += n;
	}
}

/*
 * Run one QMP command (a JSON object's text). Returns the whole answer;
 * *ret points into it at "return". NULL on an error (q->err says which).
 */
/* One JSON line from QEMU, waiting at most @ms: parsed, or NULL. */
static struct jv *qmp_read(struct qmp *q, int ms)
{
	return qmp_read_by(q, now_ns(CLOCK_MONOTONIC) + (__u64)ms * 1000000);
}

static struct jv *qmp_cmd_fd(struct qmp *q, const char *cmd, struct jv **ret, int ms, int fd)
{
	char buf[PATH_MAX + 512], cbuf[CMSG_SPACE(sizeof(int))];
	size_t len, off = 0;
	long long id = ++q->id;
	__u64 end;

	q->err[0] = '\0';
	/* Each command has an id: a late answer is never taken for another's. */
	if (cmd[0] != '{' ||
	    snprintf(buf, sizeof(buf), "{\"id\":%lld,%s", id, cmd + 1) >= (int)sizeof(buf)) {
		snprintf(q->err, sizeof(q->err), "QMP command too long");
		return NULL;
	}
	len = strlen(buf);
	while (off < len) {
		struct iovec iov = { buf + off, len - off };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* The file descriptor goes with the command's first byte. */
		if (fd >= 0 && !off) {
			struct cmsghdr *c;

			memset(cbuf, 0, sizeof(cbuf));
			msg.msg_control = cbuf;
			msg.msg_controllen = sizeof(cbuf);
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(q->err, sizeof(q->err), "write to QMP: %s",
				 n < 0 ? strerror(errno) : "short write");
			return NULL;
		}
		off += n;
	}
	end = now_ns(CLOCK_MONOTONIC) + (__u64)ms * 1000000;
	for (;;) {
		struct jv *v = qmp_read_by(q, end), *e, *vid;

		if (!v)
			return NULL;
		vid = jget(v, "id");
		if (jget(v, "event") || !vid || vid->t != J_NUM || vid->n != id) {
			jfree(v);
			continue;
		}
		e = jget(v, "error");
		if (e) {
			const char *d = jstr(e, "desc"), *c = jstr(e, "class");

			snprintf(q->err, sizeof(q->err), "%s%s%s", d ? d : "error",
				 c ? " " : "", c ? c : "");
			jfree(v);
			return NULL;
		}
		*ret = jget(v, "return");
		if (*ret)
			return v;
		jfree(v);
	}
}

static struct jv *qmp_cmd(struct qmp *q, const char *cmd, struct jv **ret, int ms)
{
	return qmp_cmd_fd(q, cmd, ret, ms, -1);
}

/* "{"execute":"NAME"}": 0, or -1 with q->err. */
static int qmp_simple(struct qmp *q, const char *name)
{
	char cmd[128];
	struct jv *ret, *v;

	snprintf(cmd, sizeof(cmd), "{\"execute\":\"%s\"}\n", name);
	v = qmp_cmd(q, cmd, &ret, 10000);
	jfree(v);
	return v ? 0 : -1;
}

static void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

/* Whether @pid runs a qemu-system-* or qemu-kvm binary. */
static bool is_qemu(pid_t pid)
{
	char path[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	return !strncmp(base, "qemu", 4);
}

/* Whether @pid still runs (a zombie does not: its parent has not reaped it). */
static bool pid_runs(pid_t pid)
{
	char path[64], stat[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_line(path, stat, sizeof(stat)))
		return false;
	p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* A connected stream socket to the unix socket @path: its fd, or -errno. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Connect and take QMP's greeting within @ms: the connection, or NULL. */
static struct qmp *qmp_open_ms(const struct lu_sub *s, const char *path, int ms)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct qmp *q;
	struct jv *g, *ret;

	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->fd = unix_connect(path);
	if (q->fd == -ENAMETOOLONG) {
		lu_err(s, "QMP socket path too long: %s", path);
		qmp_close(q);
		return NULL;
	}
	if (q->fd < 0) {
		lu_err(s, "connect to QMP socket %s: %s (QEMU's -qmp unix:%s,server=on,wait=off;%s)",
		       path, strerror(-q->fd), path,
		       q->fd == -ECONNREFUSED ? " QEMU is gone" : " is QEMU running?");
		qmp_close(q);
		return NULL;
	}
	/*
	 * The peer is who listen()ed: QEMU, unless another process made the
	 * socket and passed it (a management stack's fd=): then unknown.
	 */
	if (!getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) && is_qemu(cred.pid))
		q->pid = cred.pid;
	/* The greeting comes first; anything else before it is reported. */
	for (;;) {
		g = qmp_read(q, ms);
		if (!g) {
			lu_err(s, "%s: no QMP greeting (%s): another client on it (QEMU serves one at a time), or not a QMP socket?",
			       path, q->err);
			qmp_close(q);
			return NULL;
		}
		if (jget(g, "QMP"))
			break;
		fprintf(stderr, "hvkitctl liveupdate %s: %s: before QMP's greeting: %s\n",
			s->name, path, q->last);
		jfree(g);
	}
	jfree(g);
	/* Answered once QEMU's main loop runs: machine and devices set up. */
	g = qmp_cmd(q, "{\"execute\":\"qmp_capabilities\"}\n", &ret, ms);
	jfree(g);
	if (!g) {
		lu_err(s, "%s: qmp_capabilities: %s", path, q->err);
		qmp_close(q);
		return NULL;
	}
	return q;
}

static struct qmp *qmp_open(const struct lu_sub *s, const char *path)
{
	return qmp_open_ms(s, path, 10000);
}

/* query-status's "status" into @st: 0, or -1 (q->err). */
static int qmp_status(struct qmp *q, char *st, size_t len)
{
	struct jv *ret, *v = qmp_cmd(q, "{\"execute\":\"query-status\"}\n", &ret, 10000);
	const char *s;

	if (!v)
		return -1;
	s = jstr(ret, "status");
	snprintf(st, len, "%s", s ? s : "?");
	jfree(v);
	return 0;
}

/* qom-get PATH PROPERTY: the answer (free it), *val into it; NULL: q->err. */
static struct jv *qom_get(struct qmp *q, const char *path, const char *prop, struct jv **val)
{
	char cmd[1024] = "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"";

	if (jesc(cmd, sizeof(cmd), path, "\",\"property\":\"") ||
	    jesc(cmd, sizeof(cmd), prop, "\"}}\n")) {
		snprintf(q->err, sizeof(q->err), "QOM path too long");
		return NULL;
	}
	return qmp_cmd(q, cmd, val, 10000);
}

/* ---- what the VM uses ---- */

struct lu_vm {
	char status[32];
	int nr_dev, nr_mem;
	char dev[LU_MAX_DEV][LU_BDF_LEN];
	struct lu_mem mem[LU_MAX_MEM];
};

struct lu_checks {
	int failed;
};

static void lu_vline(const char *what, const char *fmt, va_list ap)
{
	printf("  %-5s ", what);
	vprintf(fmt, ap);
	putchar('\n');
}

static void __printf(3, 4) check(struct lu_checks *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (!ok)
		c->failed++;
	va_start(ap, fmt);
	lu_vline(ok ? "ok" : "FAIL", fmt, ap);
	va_end(ap);
}

/* Worth knowing, not a failure. */
static void __printf(1, 2) note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lu_vline("note", fmt, ap);
	va_end(ap);
}

/* The kram area behind @mem_path, into @area: 0, or -1 (not an area). */
static int area_of_path(const char *mem_path, char *area, size_t len)
{
	char dir[PATH_MAX], rdir[PATH_MAX], rpath[PATH_MAX];
	const char *base;
	size_t n;

	snprintf(dir, sizeof(dir), "%s/kram_areas", dev_root);
	if (!realpath(dir, rdir) || !realpath(mem_path, rpath))
		return -1;
	n = strlen(rdir);
	if (strncmp(rpath, rdir, n) || rpath[n] != '/')
		return -1;
	base = rpath + n + 1;
	if (strchr(base, '/') || strlen(base) >= len)
		return -1;
	strcpy(area, base);
	return 0;
}

/* Every memory backend of the VM: a shared kram area. */
static void check_memory(struct qmp *q, struct lu_vm *vm, struct lu_checks *c,
			 const char *state_area)
{
	struct jv *ret, *v, *m;

	v = qmp_cmd(q, "{\"execute\":\"query-memdev\"}\n", &ret, 10000);
	if (!v) {
		check(c, false, "query-memdev: %s", q->err);
		return;
	}
	for (m = ret->kid; m; m = m->next) {
		const char *id = jstr(m, "id");
		struct jv *sh = jget(m, "share"), *sz = jget(m, "size"), *pv, *a;
		char path[256], area[KRAM_NAME_LEN];
		struct kram_area_info info;
		__u64 size = sz && sz->t == J_NUM ? (__u64)sz->n : 0;
		struct lu_mem *lm;

		if (!id) {
			check(c, false,
			      "a memory backend without an id: cannot tell where its RAM is");
			continue;
		}
		snprintf(path, sizeof(path), "/objects/%s", id);
		a = qom_get(q, path, "mem-path", &pv);
		if (!a || pv->t != J_STR) {
			check(c, false,
			      "memory backend %s (%llu MiB) is not file-backed (memory-backend-ram?): its RAM would not survive the kexec; use -object memory-backend-file,id=ID,mem-path=%s/kram_areas/NAME,share=on,align=2M (the machine's RAM: -machine memory-backend=ID)",
			      id, (unsigned long long)(size >> 20), dev_root);
			jfree(a);
			continue;
		}
		if (area_of_path(pv->s, area, sizeof(area))) {
			check(c, false,
			      "memory backend %s: mem-path %s is not a kram area (%s/kram_areas/NAME)",
			      id, pv->s, dev_root);
			jfree(a);
			continue;
		}
		jfree(a);
		if (kram_find_area(area, &info)) {
			check(c, false, "memory backend %s: kram has no area '%s'", id, area);
			continue;
		}
		check(c, sh && sh->t == J_BOOL && sh->b,
		      "memory backend %s: kram area %s, share=%s%s", id, area,
		      sh && sh->t == J_BOOL && sh->b ? "on" : "off",
		      sh && sh->t == J_BOOL && sh->b ? "" :
		      " (x-ignore-shared skips only shared RAM: share=on)");
		/* 0: not given, QEMU aligns to the host page size. */
		a = qom_get(q, path, "align", &pv);
		if (a && pv->t == J_NUM && pv->n < 2 << 20)
			note("memory backend %s: align=%lld%s: %s", id, pv->n,
			     pv->n ? "" : " (not given: the page size)",
			     "QEMU maps the area that aligned, so the host and KVM map guest RAM with 4 KiB pages; align=2M gives 2 MiB pages");
		jfree(a);
		check(c, size <= info.nr_pages * KRAM_PAGE_SIZE,
		      "memory backend %s: %llu MiB in area %s of %llu MiB", id,
		      (unsigned long long)(size >> 20), area,
		      (unsigned long long)(info.nr_pages * KRAM_PAGE_SIZE >> 20));
		if (state_area && !strcmp(area, state_area))
			check(c, false, "memory backend %s is the state area %s itself", id, area);
		if (vm->nr_mem == LU_MAX_MEM) {
			check(c, false, "more than %d memory backends", LU_MAX_MEM);
			continue;
		}
		lm = &vm->mem[vm->nr_mem++];
		snprintf(lm->id, sizeof(lm->id), "%s", id);
		snprintf(lm->area, sizeof(lm->area), "%s", area);
		lm->size = size;
	}
	if (!ret->kid)
		check(c, false, "the VM has no memory backend (query-memdev is empty)");
	jfree(v);
}

/* One vfio-pci device of QEMU at QOM path @path: armed in vfio_preserve. */
static void check_vfio_dev(struct qmp *q, const char *path, struct lu_vm *vm,
			   struct lu_checks *c)
{
	char bdf[LU_BDF_LEN], drv[64], val[64], kept[256];
	struct jv *a, *pv;
	const char *raw;
	bool mig;

	a = qom_get(q, path, "sysfsdev", &pv);
	if (a && pv->t == J_STR && pv->s[0]) {
		raw = strrchr(pv->s, '/');
		raw = raw ? raw + 1 : pv->s;
	} else {
		jfree(a);
		a = qom_get(q, path, "host", &pv);
		raw = a && pv->t == J_STR ? pv->s : NULL;
	}
	if (!raw || vfio_norm_bdf(raw, bdf, sizeof(bdf))) {
		check(c, false, "%s: vfio-pci device whose host address QEMU does not say (%s)",
		      path, raw ? raw : q->err);
		jfree(a);
		return;
	}
	jfree(a);
	a = qom_get(q, path, "x-enable-migration", &pv);
	mig = a && pv->t == J_BOOL && pv->b;
	jfree(a);
	vfio_dev_driver(bdf, drv, sizeof(drv));
	if (strcmp(drv, "vfio_preserve")) {
		check(c, false, "%s (%s): bound to %s, not vfio_preserve", bdf, path,
		      drv[0] ? drv : "no driver");
		return;
	}
	if (vfio_dev_status(bdf, "armed", val, sizeof(val)) ||
	    vfio_dev_status(bdf, "kept_names", kept, sizeof(kept))) {
		check(c, false, "%s: cannot read its preserve_status", bdf);
		return;
	}
	check(c, !strcmp(val, "1") && strstr(kept, "no_user_reset"),
	      "%s (%s): vfio_preserve, %s%s", bdf, path,
	      strcmp(val, "1") ? "not armed" : "armed",
	      strcmp(val, "1") ? " (hvkitctl vfio preserve BDF --no-user-reset)" :
	      strstr(kept, "no_user_reset") ? " with no_user_reset" :
	      " without no_user_reset: QEMU's reset on the destination would reset it (re-arm with --no-user-reset)");
	check(c, mig, "%s: x-enable-migration=%s%s", bdf, mig ? "on" : "off",
	      mig ? "" :
	      " (QEMU 7.2 saves a VFIO device only with -device vfio-pci,...,x-enable-migration=on)");
	if (vm->nr_dev == LU_MAX_DEV) {
		check(c, false, "more than %d passthrough devices", LU_MAX_DEV);
		return;
	}
	snprintf(vm->dev[vm->nr_dev++], LU_BDF_LEN, "%s", bdf);
}

/* Every user-created device: vfio-pci ones checked, other VFIO refused. */
static void check_devices(struct qmp *q, struct lu_vm *vm, struct lu_checks *c)
{
	static const char *const roots[] = { "/machine/peripheral", "/machine/peripheral-anon" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		char cmd[256] = "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"";
		struct jv *ret, *v, *d;

		jesc(cmd, sizeof(cmd), roots[i], "\"}}\n");
		v = qmp_cmd(q, cmd, &ret, 10000);
		if (!v) {
			check(c, false, "qom-list %s: %s", roots[i], q->err);
			continue;
		}
		for (d = ret->kid; d; d = d->next) {
			const char *name = jstr(d, "name"), *type = jstr(d, "type");
			char path[512];

			if (!name || !type || strncmp(type, "child<", 6))
				continue;
			snprintf(path, sizeof(path), "%s/%s", roots[i], name);
			if (!strcmp(type, "child<vfio-pci>") ||
			    !strcmp(type, "child<vfio-pci-nohotplug>"))
				check_vfio_dev(q, path, vm, c);
			else if (!strncmp(type, "child<vfio-", 11))
				check(c, false, "%s: %.*s: only vfio-pci devices are kept", path,
				      (int)(strlen(type) - 7), type + 6);
		}
		jfree(v);
	}
	if (!vm->nr_dev)
		printf("  info  no passthrough (vfio-pci) device\n");
}

/* query-migrate: no blocker, nothing in progress. */
static void check_migration(struct qmp *q, struct lu_checks *c)
{
	struct jv *ret, *v, *r;
	const char *st;

	v = qmp_cmd(q, "{\"execute\":\"query-migrate\"}\n", &ret, 10000);
	if (!v) {
		check(c, false, "query-migrate: %s", q->err);
		return;
	}
	st = jstr(ret, "status");
	check(c, !st || !strcmp(st, "completed") || !strcmp(st, "failed") ||
	      !strcmp(st, "cancelled") || !strcmp(st, "none"),
	      "no migration in progress (status %s)", st ? st : "none");
	r = jget(ret, "blocked-reasons");
	if (r && r->t == J_ARR && r->kid) {
		for (r = r->kid; r; r = r->next)
			check(c, false, "QEMU blocks migration: %s",
			      r->t == J_STR ? r->s : "(no reason given)");
	} else {
		check(c, true, "QEMU reports no migration blocker");
	}
	jfree(v);
}

/* The state area: exists, user's, big enough. */
static int check_state_area(const char *state, struct lu_checks *c)
{
	struct kram_area_info info;
	int err = kram_find_area(state, &info);

	if (err) {
		check(c, false, "state area %s: %s%s", state, strerror(-err),
		      err == -ENOENT ? " (hvkitctl kram create AREA 16M)" : "");
		return -1;
	}
	check(c, (info.flags & KRAM_AREA_INFO_USER) && !info.users &&
	      info.nr_pages * KRAM_PAGE_SIZE >= 2 * LU_HDR_SIZE,
	      "state area %s: %llu KiB%s", state,
	      (unsigned long long)(info.nr_pages * KRAM_PAGE_SIZE >> 10),
	      !(info.flags & KRAM_AREA_INFO_USER) ? ", kernel-owned: not usable" :
	      info.users ? ", open or mapped by someone (another VM's RAM?): not usable" :
	      info.nr_pages * KRAM_PAGE_SIZE < 2 * LU_HDR_SIZE ? ", too small" : "");
	return 0;
}

static void check_kram(struct lu_checks *c, struct kram_status *st)
{
	int err = kram_get_status(st);

	check(c, !err && st->state == KRAM_STATE_ATTACHED,
	      "kram's region is attached%s%s", err ? ": " : "",
	      err ? strerror(-err) : st->state == KRAM_STATE_ATTACHED ? "" :
	      " (hvkitctl kram status)");
}

/* The VM's checks (save and check): 0 when all passed. */
static int check_vm(struct qmp *q, const struct lu_opts *o, struct lu_vm *vm,
		    struct lu_checks *c)
{
	struct kram_status st = { 0 };

	memset(vm, 0, sizeof(*vm));
	if (qmp_status(q, vm->status, sizeof(vm->status))) {
		check(c, false, "query-status: %s", q->err);
		return -1;
	}
	check(c, !strcmp(vm->status, "running") || !strcmp(vm->status, "paused"),
	      "VM status: %s%s", vm->status,
	      !strcmp(vm->status, "running") || !strcmp(vm->status, "paused") ? "" :
	      " (only a running or paused VM is saved)");
	check_kram(c, &st);
	check_state_area(o->state, c);
	check_memory(q, vm, c, o->state);
	check_devices(q, vm, c);
	check_migration(q, c);
	return c->failed ? -1 : 0;
}

/* ---- the state area ---- */

static __u32 crc32_le(__u32 crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int i;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static void area_dev(const char *area, char *path, size_t len)
{
	snprintf(path, len, "%s/kram_areas/%s", dev_root, area);
}

static __u32 hdr_crc(struct lu_hdr *h)
{
	__u32 saved = h->crc, crc;

	h->crc = 0;
	crc = crc32_le(0, h, sizeof(*h) + h->argv_len);
	h->crc = saved;
	return crc;
}

/* Read the header: 0, -errno, or -EBADMSG (no valid header: *why). */
static int hdr_read(const char *area, struct lu_hdr *h, const char **why)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	area_dev(area, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, h, LU_HDR_SIZE, 0);
	close(fd);
	if (n != LU_HDR_SIZE)
		return n < 0 ? -errno : -EIO;
	*why = NULL;
	if (memcmp(h->magic, LU_MAGIC, sizeof(LU_MAGIC)))
		*why = "no hvkitctl liveupdate header";
	else if (h->version != LU_VERSION)
		*why = "a header of another version of hvkitctl";
	else if (h->argv_len > LU_ARGV_MAX || h->nr_dev > LU_MAX_DEV ||
		 h->nr_mem > LU_MAX_MEM || h->state > LU_RESTORED)
		*why = "a header with impossible values";
	else if (hdr_crc(h) != h->crc)
		*why = "a header whose CRC does not match";
	return *why ? -EBADMSG : 0;
}

static int hdr_write(const char *area, struct lu_hdr *h)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, err = 0;

	memcpy(h->magic, LU_MAGIC, sizeof(LU_MAGIC));
	h->version = LU_VERSION;
	h->crc = hdr_crc(h);
	area_dev(area, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pwrite(fd, h, LU_HDR_SIZE, 0);
	if (n != LU_HDR_SIZE)
		err = n < 0 ? -errno : -EIO;
	if (fsync(fd) && !err && errno != EINVAL)
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

static struct lu_ext *hdr_ext(struct lu_hdr *h)
{
	return (struct lu_ext *)((char *)h + LU_EXT_OFF);
}

static __u32 ext_crc(const struct lu_ext *e)
{
	return crc32_le(crc32_le(0, &e->flags, 2 * sizeof(__u32)), e->cwd, e->cwd_len);
}

/* Keep QEMU's working directory (when known) and @flags in the header. */
static void ext_save(struct lu_hdr *h, pid_t pid, __u32 flags)
{
	struct lu_ext *e = hdr_ext(h);
	char path[64];
	ssize_t n;

	memset(e, 0, sizeof(*e));
	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
		n = readlink(path, e->cwd, sizeof(e->cwd));
		/* Not kept when it might be cut short. */
		if (n > 0 && n < (ssize_t)sizeof(e->cwd))
			e->cwd_len = (__u32)n;
		else
			memset(e->cwd, 0, sizeof(e->cwd));
	}
	e->flags = flags;
	e->crc = ext_crc(e);
	memcpy(e->magic, LU_EXT_MAGIC, sizeof(e->magic));
}

/* The header's extension, or NULL (an older hvkitctl's save, or damaged). */
static const struct lu_ext *ext_saved(struct lu_hdr *h)
{
	struct lu_ext *e = hdr_ext(h);

	if (sizeof(*h) + h->argv_len > LU_EXT_OFF ||
	    memcmp(e->magic, LU_EXT_MAGIC, sizeof(e->magic)) ||
	    e->cwd_len >= sizeof(e->cwd) || e->cwd[e->cwd_len] || ext_crc(e) != e->crc)
		return NULL;
	return e;
}

/*
 * QEMU's command line, NUL-separated, from /proc: bytes, or 0. *cut: it
 * did not fit (only whole arguments kept).
 */
static size_t qemu_argv(pid_t pid, char *buf, size_t len, bool *cut)
{
	char path[64], more;
	ssize_t n;
	int fd;

	*cut = false;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, len);
	if (n == (ssize_t)len && read(fd, &more, 1) == 1) {
		*cut = true;
		while (n > 0 && buf[n - 1])
			n--;
	}
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

/*
 * Hand QEMU the state area's node, open at the stream (after the header),
 * as fd "hvkit-lu" (getfd): QEMU reads or writes the stream through it
 * itself, so a write past the area's end fails the migration. 0, or -1
 * (a message printed).
 */
static int give_area_fd(const struct lu_sub *s, struct qmp *q, const char *area, bool out)
{
	char path[PATH_MAX];
	struct jv *r, *v;
	int fd;

	area_dev(area, path, sizeof(path));
	fd = open(path, (out ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		lu_err(s, "open %s: %s", path, strerror(errno));
		return -1;
	}
	if (lseek(fd, LU_HDR_SIZE, SEEK_SET) != LU_HDR_SIZE) {
		lu_err(s, "seek %s to its stream: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	v = qmp_cmd_fd(q, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"hvkit-lu\"}}\n",
		       &r, 10000, fd);
	close(fd);
	jfree(v);
	if (!v) {
		lu_err(s, "getfd (pass %s to QEMU): %s", path, q->err);
		return -1;
	}
	return 0;
}

static int set_ignore_shared(struct qmp *q)
{
	struct jv *ret, *v;

	v = qmp_cmd(q,
		    "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true}]}}\n",
		    &ret, 10000);
	jfree(v);
	return v ? 0 : -1;
}

/*
 * Start the save (@out) or the load of the VM's state through the state
 * area, RAM in shared backends left out: 0, or -1 (a message printed).
 */
static int start_stream(const struct lu_sub *s, struct qmp *q, const char *area, bool out)
{
	struct jv *r, *v;

	if (set_ignore_shared(q)) {
		lu_err(s, "migrate-set-capabilities x-ignore-shared: %s", q->err);
		return -1;
	}
	if (give_area_fd(s, q, area, out))
		return -1;
	v = qmp_cmd(q, out ?
		    "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:hvkit-lu\"}}\n" :
		    "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"fd:hvkit-lu\"}}\n",
		    &r, 10000);
	jfree(v);
	if (!v) {
		lu_err(s, "%s: %s", out ? "migrate" : "migrate-incoming", q->err);
		return -1;
	}
	return 0;
}

/* Devices' preserve_status counter @key, summed. */
static long long dev_count(const struct lu_vm *vm, const char *key)
{
	long long sum = 0;
	char val[32];
	int i;

	for (i = 0; i < vm->nr_dev; i++)
		if (!vfio_dev_status(vm->dev[i], key, val, sizeof(val)))
			sum += atoll(val);
	return sum;
}

/* ---- restore --exec: start QEMU from the saved command line ---- */

/* A QEMU this tool starts for restore --exec. */
struct lu_exec {
	char **argv;		/* the new QEMU's, NULL-terminated */
	char *qmp_arg;		/* "unix:SOCK,server=on,wait=off" when added */
	char sock[108];		/* its QMP socket, as QEMU names it */
	char conn[108];		/* the same, for this tool's connect() */
	const char *cwd;	/* QEMU's directory at the save, or NULL */
	char log[PATH_MAX];	/* QEMU's stdout and stderr */
	__u64 t0;		/* CLOCK_MONOTONIC at its start */
	pid_t pid;		/* the process started (0: none, or reaped) */
	bool child;		/* pid is this tool's child, not reaped yet */
	bool daemonize;		/* -daemonize: the process started exits */
	bool started;		/* a QEMU was started and may still run */
};

/*
 * restore --exec: a signal ends the waits or the load as a failure does
 * (exec_failed says what became of the QEMU started) instead of ending
 * this tool; QEMU's exit is seen (SIGCHLD not ignored).
 */
static void exec_signals(void)
{
	struct sigaction sa = { .sa_handler = lu_on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGCHLD, SIG_DFL);
}

/* Whether a process listens on the unix socket @path. */
static bool sock_answers(const char *path)
{
	int fd = unix_connect(path);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * PATH of a "-qmp unix:PATH[,OPTIONS]" value into @path (QEMU's ",," is a
 * comma of PATH): true, or false (not unix:, empty or too long).
 */
static bool qmp_unix_path(const char *val, char *path, size_t len)
{
	size_t n = 0;

	if (strncmp(val, "unix:", 5))
		return false;
	for (val += 5; *val; val++) {
		if (*val == ',' && *++val != ',')
			break;
		if (n + 1 >= len)
			return false;
		path[n++] = *val;
	}
	path[n] = '\0';
	return n > 0;
}

/*
 * Whether a QEMU argument hands it a file descriptor of the process that
 * started it (tap fd=, JSON "fd":, -add-fd, /dev/fdset/N, fd:N,
 * /proc/self/fd/N, /dev/fd/N): the new QEMU would find nothing under that
 * number (exec_start closes every fd but 0-2), or a file of its own.
 */
static bool passes_fd(const char *arg)
{
	static const char *const keys[] = { "fd=", "fds=", "vhostfd=", "vhostfds=" };
	static const char *const json[] = { "\"fd\"", "\"fds\"", "\"vhostfd\"", "\"vhostfds\"" };
	const char *p;
	size_t i;

	if (!strncmp(arg, "fd:", 3) || strstr(arg, "/dev/fdset/") ||
	    strstr(arg, "/proc/self/fd/") || strstr(arg, "/dev/fd/"))
		return true;
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		for (p = arg; (p = strstr(p, keys[i])); p++)
			if ((p == arg || p[-1] == ',') &&
			    isdigit((unsigned char)p[strlen(keys[i])]))
				return true;
		if (arg[0] == '{' && strstr(arg, json[i]))
			return true;
	}
	return false;
}

/*
 * The new QEMU's argv from the saved command line: "-incoming defer" (the
 * saved -incoming's value replaced, else added), -S added when missing,
 * and a QMP socket: --qmp SOCK (added unless the command line has it),
 * else its first "-qmp unix:PATH". 0, or -1 (a message printed).
 */
static int exec_argv(const struct lu_sub *s, const struct lu_opts *o, struct lu_hdr *h,
		     struct lu_exec *x)
{
	bool has_s = false, has_inc = false, has_qmp = false, moved = false;
	const struct lu_ext *e = ext_saved(h);
	size_t off, n = 0, i, k;
	char path[sizeof(x->sock)];
	struct stat sb;
	const char *q;
	char *a;
	int len;

	if (!h->argv_len) {
		lu_err(s, "the save holds no QEMU command line (QEMU's PID was unknown at the save: its QMP socket came from another process); start QEMU yourself with -incoming defer and restore without --exec");
		return -1;
	}
	if (h->argv[h->argv_len - 1]) {
		lu_err(s, "the saved QEMU command line is damaged (not NUL-terminated)");
		return -1;
	}
	if ((e && (e->flags & LU_EXT_ARGV_CUT)) || (!e && h->argv_len > LU_ARGV_SAVE_MAX)) {
		lu_err(s, "QEMU's command line was longer than the save holds (%u bytes kept): start QEMU yourself (hvkitctl liveupdate show) and restore without --exec",
		       h->argv_len);
		return -1;
	}
	x->cwd = e && e->cwd_len ? e->cwd : NULL;
	if (!x->cwd)
		note("QEMU's directory at the save is not known (%s): it starts in this one",
		     e ? "it could not be read" : "an older hvkitctl's save");
	if (x->cwd && (stat(x->cwd, &sb) || !S_ISDIR(sb.st_mode))) {
		note("QEMU's directory at the save, %s, is not there: it starts in this one",
		     x->cwd);
		x->cwd = NULL;
	}
	for (off = 0; off < h->argv_len; off += strlen(h->argv + off) + 1)
		n++;
	/* + -qmp VALUE, -S, -incoming defer, NULL */
	x->argv = calloc(n + 6, sizeof(*x->argv));
	if (!x->argv) {
		lu_err(s, "out of memory");
		return -1;
	}
	for (off = 0, i = 0; off < h->argv_len; off += strlen(h->argv + off) + 1)
		x->argv[i++] = h->argv + off;
	for (i = 1; i < n; i++) {
		/* QEMU takes -opt and --opt alike. */
		const char *opt = x->argv[i];
		bool val = i + 1 < n;

		if (opt[0] == '-' && opt[1] == '-' && opt[2])
			opt++;
		if (!strcmp(opt, "-incoming") && val) {
			x->argv[++i] = "defer";
			has_inc = true;
			continue;
		}
		if (!strcmp(opt, "-S")) {
			has_s = true;
		} else if (!strcmp(opt, "-daemonize")) {
			x->daemonize = true;
			moved = true;
		} else if (!strcmp(opt, "-chroot")) {
			moved = true;
		} else if ((!strcmp(opt, "-qmp") || !strcmp(opt, "-qmp-pretty")) && val &&
			   qmp_unix_path(x->argv[i + 1], path, sizeof(path)) &&
			   (o->qmp ? !strcmp(path, o->qmp) : !has_qmp)) {
			strcpy(x->sock, path);
			has_qmp = true;
		}
		if (passes_fd(x->argv[i])) {
			lu_err(s, "the saved QEMU command line hands QEMU a file descriptor of the process that started it ('%s'): start QEMU yourself with new ones and -incoming defer, and restore without --exec",
			       x->argv[i]);
			return -1;
		}
	}
	/* QEMU's chdir("/") after -daemonize (or -chroot) is what was saved. */
	if (moved)
		note("%s: QEMU's directory at the save was / (or its chroot): %s",
		     "-daemonize or -chroot", "relative paths point elsewhere; give absolute ones");
	k = n;
	if (!has_qmp) {
		if (!o->qmp) {
			lu_err(s, "the saved QEMU command line has no -qmp unix:PATH: give --qmp SOCK (added to it)");
			return -1;
		}
		if (!o->qmp[0] || strlen(o->qmp) >= sizeof(x->sock)) {
			lu_err(s, "--qmp: '%s' is not a socket path (at most %zu bytes)", o->qmp,
			       sizeof(x->sock) - 1);
			return -1;
		}
		strcpy(x->sock, o->qmp);
		/* QEMU's option syntax: a comma of the path is doubled. */
		x->qmp_arg = malloc(5 + 2 * strlen(o->qmp) + sizeof(",server=on,wait=off"));
		if (!x->qmp_arg) {
			lu_err(s, "out of memory");
			return -1;
		}
		a = x->qmp_arg + sprintf(x->qmp_arg, "unix:");
		for (q = o->qmp; *q; q++) {
			*a++ = *q;
			if (*q == ',')
				*a++ = ',';
		}
		strcpy(a, ",server=on,wait=off");
		x->argv[k++] = "-qmp";
		x->argv[k++] = x->qmp_arg;
	}
	if (!has_s)
		x->argv[k++] = "-S";
	if (!has_inc) {
		x->argv[k++] = "-incoming";
		x->argv[k++] = "defer";
	}
	x->argv[k] = NULL;
	/* A relative socket is QEMU's, in its directory. */
	if (x->sock[0] != '/' && x->cwd)
		len = snprintf(x->conn, sizeof(x->conn), "%s/%s", x->cwd, x->sock);
	else
		len = snprintf(x->conn, sizeof(x->conn), "%s", x->sock);
	if (len < 0 || len >= (int)sizeof(x->conn)) {
		lu_err(s, "QMP socket %s%s%s: longer than a unix socket path can be (%zu bytes)",
		       x->sock[0] != '/' && x->cwd ? x->cwd : "",
		       x->sock[0] != '/' && x->cwd ? "/" : "", x->sock, sizeof(x->conn) - 1);
		return -1;
	}
	return 0;
}

/* Start QEMU with x->argv in its own session: 0, or -1 (a message printed). */
static int exec_start(const struct lu_sub *s, const struct lu_opts *o, struct lu_exec *x)
{
	struct { int step, err; } e;
	int pfd[2], lfd, nfd;
	ssize_t n;
	pid_t pid;
	size_t i;

	if (sock_answers(x->conn)) {
		lu_err(s, "QMP socket %s answers: a QEMU runs on it already; stop it (or give another --qmp); nothing started",
		       x->conn);
		return -1;
	}
	if (o->log) {
		snprintf(x->log, sizeof(x->log), "%s", o->log);
	} else {
		if (mkdir("/run/hvkit", 0755) && errno != EEXIST) {
			lu_err(s, "mkdir /run/hvkit (QEMU's log; or give --log FILE): %s",
			       strerror(errno));
			return -1;
		}
		snprintf(x->log, sizeof(x->log), "/run/hvkit/liveupdate-%s.log", o->state);
	}
	lfd = open(x->log, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_CLOEXEC, 0640);
	if (lfd < 0) {
		lu_err(s, "open QEMU's log %s: %s", x->log, strerror(errno));
		return -1;
	}
	nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nfd < 0 || pipe2(pfd, O_CLOEXEC)) {
		lu_err(s, "open /dev/null or a pipe: %s", strerror(errno));
		close(lfd);
		if (nfd >= 0)
			close(nfd);
		return -1;
	}
	printf("starting QEMU%s%s:", x->cwd ? " in " : "", x->cwd ? x->cwd : "");
	for (i = 0; x->argv[i]; i++)
		printf(" %s", x->argv[i]);
	printf("\n");
	fflush(stdout);
	fflush(stderr);
	x->t0 = now_ns(CLOCK_MONOTONIC);
	pid = fork();
	if (!pid) {
		/* Its own session: no signal of this terminal or tool reaches it. */
		setsid();
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		dup2(nfd, 0);
		dup2(lfd, 1);
		dup2(lfd, 2);
		/*
		 * Nothing else of the caller's reaches QEMU (a pipe of a
		 * "$(...)" would wait for it); the error pipe is O_CLOEXEC.
		 */
		if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC)) {
			long fd, max = sysconf(_SC_OPEN_MAX);

			for (fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
				fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		}
		e.step = 1;
		if (!x->cwd || !chdir(x->cwd)) {
			e.step = 2;
			execvp(x->argv[0], x->argv);
		}
		e.err = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	close(lfd);
	close(nfd);
	if (pid < 0) {
		close(pfd[0]);
		lu_err(s, "fork: %s", strerror(errno));
		return -1;
	}
	/* The pipe closes at the exec (O_CLOEXEC): nothing read, it ran. */
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		lu_err(s, "%s %s: %s; nothing started, the state is kept",
		       e.step == 1 ? "chdir to QEMU's directory" : "run QEMU",
		       e.step == 1 ? x->cwd : x->argv[0], strerror(e.err));
		return -1;
	}
	x->pid = pid;
	x->child = true;
	x->started = true;
	printf("started QEMU, PID %d (its output: %s)\n", (int)pid, x->log);
	return 0;
}

/* The last lines of QEMU's log, on stderr. */
static void exec_log_tail(const struct lu_exec *x)
{
	char buf[1024], *p, *line;
	ssize_t n;
	off_t size;
	int fd;

	fd = open(x->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf) - 1, size > (off_t)sizeof(buf) - 1 ?
		  size - (off_t)(sizeof(buf) - 1) : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = size > (off_t)sizeof(buf) - 1 ? strchr(buf, '\n') : NULL;
	for (line = strtok(p ? p + 1 : buf, "\n"); line; line = strtok(NULL, "\n"))
		fprintf(stderr, "  qemu: %s\n", line);
}

/* Reap the process started when it exited: true if it did (its status in *st). */
static bool exec_exited(struct lu_exec *x, int *st)
{
	if (!x->child || waitpid(x->pid, st, WNOHANG) != x->pid)
		return false;
	x->child = false;
	return true;
}

/* The QEMU started: the process started, else its QMP peer (-daemonize); 0: unknown. */
static pid_t exec_pid(const struct lu_exec *x, const struct qmp *q)
{
	return x->pid > 0 ? x->pid : q ? q->pid : 0;
}

/*
 * Whether the QEMU started (@pid) is gone: reaped here (*st: its wait
 * status), or, not this tool's child, no longer running (*st: -1).
 */
static bool exec_gone(struct lu_exec *x, pid_t pid, int *st)
{
	*st = -1;
	if (exec_exited(x, st))
		return true;
	return !x->child && pid > 0 && !pid_runs(pid);
}

/*
 * Wait until QEMU's QMP socket answers and, with -daemonize, the process
 * started has exited 0 (its daemon set up): 0, or -1 (a message printed).
 */
static int exec_wait(const struct lu_sub *s, struct lu_exec *x, int timeout)
{
	bool up = false;
	int st;

	for (;;) {
		up = up || sock_answers(x->conn);
		if (exec_exited(x, &st)) {
			x->pid = 0;
			/* -daemonize: the process started exits 0 once its daemon runs. */
			if (!(x->daemonize && WIFEXITED(st) && !WEXITSTATUS(st))) {
				x->started = false;
				lu_err(s, "QEMU exited (%s %d) before it was up (QMP socket %s); nothing loaded, the state is kept",
				       WIFEXITED(st) ? "status" : "signal",
				       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), x->conn);
				exec_log_tail(x);
				lu_err(s, "if it opened a passthrough device first, a new QEMU gets that device's state only with vfio_preserve's mig_override (Documentation/live-update.rst, Limits)");
				return -1;
			}
		}
		if (up && !x->child)
			return 0;
		/* Without -daemonize the process started is QEMU, and stays. */
		if (up && !x->daemonize)
			return 0;
		if (lu_signalled()) {
			lu_err(s, "interrupted (signal %d) while QEMU started", lu_signalled());
			return -1;
		}
		if (now_ns(CLOCK_MONOTONIC) - x->t0 > (__u64)timeout * 1000000000ull) {
			lu_err(s, "QEMU was not up (QMP socket %s%s) within %d s", x->conn,
			       up ? " answers, -daemonize's process did not exit" : " silent",
			       timeout);
			exec_log_tail(x);
			return -1;
		}
		sleep_ms(50);
	}
}

/*
 * Stop the QEMU this tool started (QMP quit, else SIGTERM; SIGKILL after
 * 5 s): one that was not up within the timeout, or was interrupted
 * before it was.
 */
static void exec_stop(const struct lu_sub *s, struct lu_exec *x, struct qmp *q)
{
	pid_t pid = exec_pid(x, q);
	bool quit = q && !qmp_simple(q, "quit");
	int i, st, sig = quit ? 0 : SIGTERM;

	if (pid <= 0) {
		lu_err(s, "%s the QEMU this tool started (daemonized, PID unknown): check that it is gone",
		       quit ? "asked to quit" : "could not stop");
		return;
	}
	if (sig)
		kill(pid, sig);
	for (i = 0; i < 200; i++) {
		if (exec_gone(x, pid, &st))
			break;
		if (i == 100) {
			sig = SIGKILL;
			kill(pid, sig);
		}
		sleep_ms(50);
	}
	lu_err(s, "%s the QEMU this tool started (PID %d); the state is kept",
	       i == 200 ? "could not stop" : sig == SIGKILL ? "killed" : "stopped", (int)pid);
}

/*
 * restore --exec failed after it started QEMU (@q: its QMP connection, if
 * it came up; @stream: the load was started; @loaded: it finished). A
 * QEMU that exited (QEMU 7.2 exits when a load fails) is reported with
 * its status and log. One that never came up is stopped. One that came up
 * stays, and the tool says where: it has opened the passthrough devices,
 * and vfio_preserve takes a state only at a device's first open after the
 * kexec, so that QEMU is the one to load it into; a new one needs
 * mig_override.
 */
static void exec_failed(const struct lu_sub *s, const struct lu_opts *o, struct lu_exec *x,
			struct qmp *q, bool stream, bool loaded)
{
	pid_t pid = exec_pid(x, q);
	bool gone = false;
	char who[40];
	int i, st;

	if (pid > 0)
		snprintf(who, sizeof(who), "QEMU (PID %d)", (int)pid);
	else
		snprintf(who, sizeof(who), "QEMU (daemonized, PID unknown)");
	/* A failed load, or a QEMU that did not answer, may be exiting. */
	for (i = 0; i < ((stream && !loaded) || !q ? 60 : 1) && !gone; i++) {
		if (i)
			sleep_ms(50);
		gone = exec_gone(x, pid, &st);
	}
	if (gone && st != -1)
		lu_err(s, "%s exited (%s %d)", who, WIFEXITED(st) ? "status" : "signal",
		       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	else if (gone)
		lu_err(s, "%s exited", who);
	if (gone) {
		exec_log_tail(x);
	} else if (!q) {
		exec_stop(s, x, NULL);
	} else if (loaded) {
		lu_err(s, "%s keeps the loaded VM, paused, not resumed (its output: %s)",
		       who, x->log);
	} else {
		lu_err(s, "%s waits for the state (inmigrate, its devices open): once the cause is fixed, load it there: hvkitctl liveupdate restore --qmp %s --state %s",
		       who, x->conn, o->state);
	}
	if (!loaded)
		lu_err(s, "the state is kept; a new QEMU that opens its devices gets their state only with vfio_preserve's mig_override (Documentation/live-update.rst, Limits)");
}

/* ---- subcommands ---- */

static int sub_save(const struct lu_sub *s, struct lu_opts *o)
{
	struct lu_checks c = { 0 };
	struct kram_status st = { 0 };
	struct lu_hdr *h = NULL;
	struct qmp *q;
	struct lu_vm vm;
	char mst[32] = "";
	const char *why;
	bool was_running = false, cut;
	__u64 t0, t1;
	int ret = 1, i, err;

	q = qmp_open(s, o->qmp);
	if (!q)
		return 1;
	printf("checks (QEMU PID %d):\n", (int)q->pid);
	if (check_vm(q, o, &vm, &c)) {
		lu_err(s, "%d check%s failed: nothing done, the VM is as it was (%s)", c.failed,
		       PLURAL(c.failed), vm.status);
		goto out;
	}
	h = calloc(1, LU_HDR_SIZE);
	if (!h)
		goto out;
	err = kram_get_status(&st);
	if (err) {
		lu_err(s, "kram status: %s", strerror(-err));
		goto out;
	}
	/* Another VM's save, not restored yet: its QEMU is gone already. */
	if (hdr_read(o->state, h, &why) == 0 && h->state == LU_SAVED) {
		if (!o->force) {
			lu_err(s, "state area %s holds a save not restored yet (stopped at %llu): restore it first, or --force to lose it; nothing done",
			       o->state, (unsigned long long)(h->stop_ns / 1000000000));
			goto out;
		}
		printf("state area %s held a save not restored (stopped at %llu): %s\n",
		       o->state, (unsigned long long)(h->stop_ns / 1000000000),
		       "replaced (--force)");
	}
	/* A save that does not finish must never look like one that did. */
	memset(h, 0, LU_HDR_SIZE);
	h->state = LU_EMPTY;
	err = hdr_write(o->state, h);
	if (err) {
		lu_err(s, "write the header of state area %s: %s", o->state, strerror(-err));
		goto out;
	}
	was_running = !strcmp(vm.status, "running");
	t0 = now_ns(CLOCK_MONOTONIC);
	h->stop_ns = now_ns(CLOCK_REALTIME);
	if (was_running) {
		struct jv *r, *v;

		/* stop drains the VM's I/O: it may take long. */
		v = qmp_cmd(q, "{\"execute\":\"stop\"}\n", &r, o->timeout * 1000);
		jfree(v);
		if (!v) {
			lu_err(s, "stop: %s", q->err);
			goto resume;
		}
	}
	if (start_stream(s, q, o->state, true))
		goto resume;
	for (;;) {
		struct jv *r, *v = qmp_cmd(q, "{\"execute\":\"query-migrate\"}\n", &r, 10000);
		const char *m, *e;

		if (!v) {
			lu_err(s, "query-migrate: %s", q->err);
			goto resume;
		}
		m = jstr(r, "status");
		e = jstr(r, "error-desc");
		snprintf(mst, sizeof(mst), "%s", m ? m : "?");
		if (m && !strcmp(m, "completed")) {
			struct jv *tt = jget(r, "total-time"), *dt = jget(r, "downtime");
			struct jv *rt = jget(jget(r, "ram"), "transferred");

			printf("QEMU: total time %lld ms, downtime %lld ms, RAM sent %lld KiB\n",
			       tt ? tt->n : -1, dt ? dt->n : -1, rt ? rt->n / 1024 : -1);
		}
		if (m && (!strcmp(m, "failed") || !strcmp(m, "cancelled")))
			lu_err(s, "the save %s%s%s", m, e ? ": " : "", e ? e : "");
		jfree(v);
		if (!strcmp(mst, "completed") || !strcmp(mst, "failed") ||
		    !strcmp(mst, "cancelled"))
			break;
		if (now_ns(CLOCK_MONOTONIC) - t0 > (__u64)o->timeout * 1000000000ull) {
			lu_err(s, "the save did not finish within %d s (status %s): cancelled",
			       o->timeout, mst);
			qmp_simple(q, "migrate_cancel");
			/* cont is refused while the migration is still cancelling. */
			for (i = 0; i < 500; i++) {
				struct jv *r2, *v2 = qmp_cmd(q, "{\"execute\":\"query-migrate\"}\n",
							     &r2, 10000);
				const char *m2 = v2 ? jstr(r2, "status") : NULL;
				bool busy = m2 && (!strcmp(m2, "cancelling") ||
						   !strcmp(m2, "active") ||
						   !strcmp(m2, "device") ||
						   !strcmp(m2, "setup"));

				jfree(v2);
				if (!busy)
					break;
				sleep_ms(20);
			}
			strcpy(mst, "timeout");
			break;
		}
		sleep_ms(20);
	}
	if (strcmp(mst, "completed"))
		goto resume;
	t1 = now_ns(CLOCK_MONOTONIC);
	h->save_ns = t1 - t0;
	h->state = LU_SAVED;
	memcpy(h->uuid, st.uuid, sizeof(h->uuid));
	h->boot_count = st.boot_count;
	h->nr_dev = vm.nr_dev;
	memcpy(h->dev, vm.dev, sizeof(h->dev));
	h->nr_mem = vm.nr_mem;
	memcpy(h->mem, vm.mem, sizeof(h->mem));
	h->argv_len = qemu_argv(q->pid, h->argv, LU_ARGV_SAVE_MAX, &cut);
	ext_save(h, q->pid, cut ? LU_EXT_ARGV_CUT : 0);
	err = hdr_write(o->state, h);
	if (err) {
		lu_err(s, "write the header of state area %s: %s", o->state, strerror(-err));
		goto resume;
	}
	printf("saved into %s in %llu ms (stop to end; its RAM stays in its areas); %d device%s\n",
	       o->state, (unsigned long long)(h->save_ns / 1000000), vm.nr_dev, PLURAL(vm.nr_dev));
	for (i = 0; i < vm.nr_dev; i++) {
		char val[32] = "?";

		vfio_dev_status(vm.dev[i], "mig_saved", val, sizeof(val));
		printf("  %s: vfio_preserve handed its token (mig_saved %s)\n", vm.dev[i], val);
	}
	if (qmp_simple(q, "quit"))
		printf("quit: %s\n", q->err);
	/* QEMU closes the socket as it exits (end of file), then the process. */
	{
		__u64 end = now_ns(CLOCK_MONOTONIC) + (__u64)o->timeout * 1000000000ull;
		struct jv *ev;

		while ((ev = qmp_read_by(q, end)))
			jfree(ev);
		if (!q->eof) {
			lu_err(s, "QEMU did not close its QMP socket within %d s of quit (%s)",
			       o->timeout, q->err);
			goto out;
		}
	}
	for (i = 0; q->pid > 0 && pid_runs(q->pid) && i < 100 * o->timeout; i++)
		sleep_ms(10);
	if (q->pid > 0 && pid_runs(q->pid)) {
		lu_err(s, "QEMU %d did not exit after quit", (int)q->pid);
		goto out;
	}
	if (q->pid > 0)
		printf("QEMU %d quit", (int)q->pid);
	else
		printf("QEMU closed its QMP socket (%s)",
		       "its PID is not known: a socket made by another process");
	printf("; next: hvkitctl liveupdate kexec --state %s ...\n", o->state);
	ret = 0;
	goto out;
resume:
	/* No damage: the VM goes on as it was. */
	if (was_running) {
		if (qmp_simple(q, "cont"))
			lu_err(s, "cont: %s: the VM stays paused", q->err);
		else
			printf("the VM was resumed: nothing was saved\n");
	}
out:
	free(h);
	qmp_close(q);
	return ret;
}

/* Size with the kernel's K/M/G/T suffixes (memparse). */
static int memparse(const char *s, __u64 *v, const char **end)
{
	static const char suffixes[] = "KkMmGgTt";
	const char *shift;
	char *e;

	errno = 0;
	*v = strtoull(s, &e, 0);
	if (e == s || errno)
		return -1;
	shift = strchr(suffixes, *e);
	if (*e && shift) {
		*v <<= 10 * (1 + (shift - suffixes) / 2);
		e++;
	}
	*end = e;
	return 0;
}

struct mm_range {
	__u64 size, base;
	char type;
};

/* The memmap=SIZE{$!#@%}BASE ranges of @cmdline that overlap [base, end). */
static int memmap_ranges(const char *cmdline, __u64 base, __u64 end, struct mm_range *r, int max)
{
	char *copy = strdup(cmdline), *tok, *save, *part, *psave;
	int n = 0;

	if (!copy)
		return 0;
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(tok, "memmap=", 7))
			continue;
		for (part = strtok_r(tok + 7, ",", &psave); part;
		     part = strtok_r(NULL, ",", &psave)) {
			struct mm_range m;
			const char *e;

			if (memparse(part, &m.size, &e) || !strchr("$!#@%", *e) || !*e)
				continue;
			m.type = *e;
			/* SIZE%OFFSET-OLD+NEW retypes: memmap_exact() compares those. */
			if (m.type == '%' || memparse(e + 1, &m.base, &e))
				continue;
			if (m.base < end && base < m.base + m.size && n < max)
				r[n++] = m;
		}
	}
	free(copy);
	return n;
}

/* Whether @tok is one of @cmdline's blank-separated words. */
static bool has_token(const char *cmdline, const char *tok)
{
	char *copy = strdup(cmdline), *w, *save;
	bool found = false;

	if (!copy)
		return false;
	for (w = strtok_r(copy, " \t\n", &save); w && !found; w = strtok_r(NULL, " \t\n", &save))
		found = !strcmp(w, tok);
	free(copy);
	return found;
}

/*
 * The memmap= options that are not plain reservations ("exactmap", which
 * empties the firmware's map, and SIZE%OFFSET-OLD+NEW, which retypes a
 * range: either could hand kram's region to the next kernel as RAM, or
 * move it): each must be in both command lines, exactly.
 */
static void memmap_exact(const char *a, const char *b, const char *which, struct lu_checks *c)
{
	char *copy = strdup(a), *tok, *save;

	if (!copy)
		return;
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(tok, "memmap=", 7) || (!strchr(tok, '%') && !strstr(tok, "exactmap")))
			continue;
		check(c, has_token(b, tok),
		      "%s %s (it changes the memory map: both boots need the same)", tok,
		      which);
	}
	free(copy);
}

/* Each "kram.NAME=..." of @cmdline, also in @next. */
static void check_kram_params(const char *cur, const char *next, struct lu_checks *c)
{
	char *copy = strdup(cur), *tok, *save;

	if (!copy)
		return;
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncmp(tok, "kram.", 5))
			continue;
		check(c, has_token(next, tok), "next command line keeps %s", tok);
	}
	free(copy);
}

/* Whether a program is in $PATH. */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save, file[PATH_MAX];
	bool found = false;

	copy = strdup(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return false;
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(file, sizeof(file), "%s/%s", dir, prog);
		found = !access(file, X_OK);
	}
	free(copy);
	return found;
}

/* Run argv (its output into @out when given): the exit status, or -1. */
static int run(const char *const argv[], char *out, size_t outlen)
{
	int pfd[2] = { -1, -1 }, status;
	pid_t pid;

	if (out && pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (out) {
			dup2(pfd[1], 1);
			dup2(pfd[1], 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (out) {
		size_t len = 0;
		ssize_t n;

		close(pfd[1]);
		while (len < outlen - 1 &&
		       (n = read(pfd[0], out + len, outlen - 1 - len)) > 0)
			len += n;
		out[len] = '\0';
		close(pfd[0]);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether @pid is in o->ignore_vm. */
static bool vm_ignored(const struct lu_opts *o, long pid)
{
	int i;

	for (i = 0; i < o->nr_ignore_vm; i++)
		if (o->ignore_vm[i] == pid)
			return true;
	return false;
}

/*
 * Processes with a KVM VM (an fd of anon_inode:kvm-vm): their VMs die in a
 * kexec. Before the save (@strict false) the VM to save is one of them:
 * listed, not counted. --ignore-vm PID: that process's VMs may die.
 */
static void check_vms(const struct lu_opts *o, struct lu_checks *c, bool strict)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int vms = 0, bad = 0;

	if (!proc) {
		check(c, false, "open /proc: %s", strerror(errno));
		return;
	}
	while ((de = readdir(proc))) {
		char fdp[300], link[600], target[64];
		struct dirent *fe;
		DIR *fds;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(fdp, sizeof(fdp), "/proc/%s/fd", de->d_name);
		fds = opendir(fdp);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			char comm[64] = "?", cp[300];
			ssize_t n;

			snprintf(link, sizeof(link), "%s/%s", fdp, fe->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, "anon_inode:kvm-vm"))
				continue;
			snprintf(cp, sizeof(cp), "/proc/%s/comm", de->d_name);
			read_line(cp, comm, sizeof(comm));
			if (vm_ignored(o, atol(de->d_name)))
				printf("  info  PID %s (%s) has a KVM VM: %s\n", de->d_name, comm,
				       "--ignore-vm, it dies in the kexec");
			else if (strict && ++bad)
				check(c, false,
				      "PID %s (%s) has a KVM VM: it would die in the kexec (save it, or --ignore-vm %s)",
				      de->d_name, comm, de->d_name);
			else
				printf("  info  PID %s (%s) has a KVM VM: %s\n", de->d_name, comm,
				       "save it before the kexec (or --ignore-vm PID)");
			vms++;
			break;
		}
		closedir(fds);
	}
	closedir(proc);
	if (!vms)
		check(c, true, "no process has a KVM VM");
	else if (!bad)
		check(c, true, "%d process%s with a KVM VM (listed above)", vms,
		      vms == 1 ? "" : "es");
}

/* The kexec checks, with @next the next kernel's command line. */
static int kexec_checks(const struct lu_opts *o, const char *next, struct lu_checks *c,
			bool for_kexec)
{
	char cur[8192] = "", help[8192];
	struct mm_range rc[8], rn[8];
	struct kram_status st = { 0 };
	struct lu_hdr *h;
	const char *why;
	int nc, nn, i, j, err;
	long r;

	check(c, in_path("kexec"), "kexec (kexec-tools) in PATH");
	if (in_path("kexec")) {
		static const char *const argv[] = { "kexec", "--help", NULL };

		run(argv, help, sizeof(help));
		check(c, strstr(help, "kexec-file-syscall"),
		      "kexec knows -s (kexec_file_load; the legacy kexec_load is never used)");
	}
	/* Bad fds: EBADF when the syscall exists and is allowed; nothing loaded. */
	r = syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0UL);
	err = r < 0 ? errno : 0;
	check(c, err == EBADF, "kexec_file_load available%s%s%s", err == EBADF ? "" : ": ",
	      err == EBADF ? "" : strerror(err),
	      err == EBADF ? "" : err == EPERM ? " (root? kernel.kexec_load_disabled?)" :
	      err == EBUSY ? " (another kexec load in progress)" :
	      " (a kernel without CONFIG_KEXEC_FILE?)");
	check_kram(c, &st);
	if (read_line("/proc/cmdline", cur, sizeof(cur)))
		check(c, false, "read /proc/cmdline");
	if (st.state == KRAM_STATE_ATTACHED) {
		__u64 end = st.region_base + st.region_size;

		nc = memmap_ranges(cur, st.region_base, end, rc, ARRAY_SIZE(rc));
		nn = memmap_ranges(next, st.region_base, end, rn, ARRAY_SIZE(rn));
		check(c, nc > 0, "this boot's memmap= reserves kram's region 0x%llx+0x%llx%s",
		      (unsigned long long)st.region_base, (unsigned long long)st.region_size,
		      nc ? "" : " (no memmap= covers it: cannot tell the next boot's)");
		for (i = 0; i < nc; i++) {
			bool same = false;

			for (j = 0; j < nn; j++)
				same |= rn[j].base == rc[i].base && rn[j].size == rc[i].size &&
					rn[j].type == rc[i].type;
			check(c, same, "next command line has memmap=0x%llx%c0x%llx%s",
			      (unsigned long long)rc[i].size, rc[i].type,
			      (unsigned long long)rc[i].base,
			      same ? "" :
			      ": without it the next kernel may use kram's pages as RAM");
		}
		for (j = 0; j < nn; j++) {
			bool same = false;

			for (i = 0; i < nc; i++)
				same |= rn[j].base == rc[i].base && rn[j].size == rc[i].size &&
					rn[j].type == rc[i].type;
			if (!same)
				check(c, false,
				      "next command line's memmap=0x%llx%c0x%llx over kram's region is not this boot's",
				      (unsigned long long)rn[j].size, rn[j].type,
				      (unsigned long long)rn[j].base);
		}
	}
	memmap_exact(cur, next, "is on the next command line too", c);
	memmap_exact(next, cur, "is on this boot's command line too", c);
	check_kram_params(cur, next, c);
	h = calloc(1, LU_HDR_SIZE);
	if (h && o->state) {
		err = hdr_read(o->state, h, &why);
		if (for_kexec)
			check(c, !err && h->state == LU_SAVED, "state area %s: %s%s", o->state,
			      err == -EBADMSG ? why :
			      err ? strerror(-err) : lu_state_names[h->state],
			      !err && h->state == LU_SAVED ? "" :
			      " (kexec only a host whose VM is saved)");
		else
			printf("  info  state area %s: %s\n", o->state,
			       err == -EBADMSG ? why :
			       err ? strerror(-err) : lu_state_names[h->state]);
	}
	free(h);
	check_vms(o, c, for_kexec);
	return c->failed ? -1 : 0;
}

static int sub_check(const struct lu_sub *s, struct lu_opts *o)
{
	struct lu_checks c = { 0 };
	char next[8192] = "";
	struct lu_vm vm;
	struct qmp *q;

	q = qmp_open(s, o->qmp);
	if (!q)
		return 1;
	printf("the VM (QEMU PID %d):\n", (int)q->pid);
	check_vm(q, o, &vm, &c);
	qmp_close(q);
	if (o->append)
		snprintf(next, sizeof(next), "%s", o->append);
	else
		read_line("/proc/cmdline", next, sizeof(next));
	printf("the kexec (next command line: %s):\n", o->append ? "--append" : "this boot's");
	kexec_checks(o, next, &c, false);
	if (c.failed) {
		lu_err(s, "%d check%s failed", c.failed, PLURAL(c.failed));
		return 1;
	}
	printf("all checks passed\n");
	return 0;
}

static int sub_kexec(const struct lu_sub *s, struct lu_opts *o)
{
	char next[8192] = "", cl[8300];
	struct lu_checks c = { 0 };
	const char *load[8];
	int n = 0, rc;

	if (!o->kernel)
		return lu_usage_err(s, "--kernel FILE is required");
	if (!o->append == !o->reuse_cmdline)
		return lu_usage_err(s, "give --append CMDLINE or --reuse-cmdline");
	if (o->reuse_cmdline) {
		if (read_line("/proc/cmdline", next, sizeof(next)))
			return lu_err(s, "read /proc/cmdline: %s", strerror(errno));
	} else {
		snprintf(next, sizeof(next), "%s", o->append);
	}
	printf("checks (next command line: %s):\n", next);
	check(&c, !access(o->kernel, R_OK), "kernel %s readable", o->kernel);
	if (o->initrd)
		check(&c, !access(o->initrd, R_OK), "initrd %s readable", o->initrd);
	if (kexec_checks(o, next, &c, true) || c.failed)
		return lu_err(s, "%d check%s failed: nothing loaded", c.failed, PLURAL(c.failed));
	snprintf(cl, sizeof(cl), "--command-line=%s", next);
	load[n++] = "kexec";
	load[n++] = "-s";
	load[n++] = "-l";
	load[n++] = o->kernel;
	if (o->initrd) {
		static char ird[PATH_MAX + 16];

		snprintf(ird, sizeof(ird), "--initrd=%s", o->initrd);
		load[n++] = ird;
	}
	load[n++] = cl;
	load[n] = NULL;
	rc = run(load, NULL, 0);
	if (rc)
		return lu_err(s, "kexec -s -l failed (exit %d): nothing loaded", rc);
	printf("loaded: kexec -s -l %s%s%s\n", o->kernel, o->initrd ? " --initrd=" : "",
	       o->initrd ? o->initrd : "");
	if (o->load_only)
		return 0;
	sync();
	if (!access("/run/systemd/system", F_OK)) {
		static const char *const argv[] = { "systemctl", "kexec", NULL };

		printf("systemctl kexec\n");
		fflush(stdout);
		execvp(argv[0], (char *const *)argv);
	} else {
		static const char *const argv[] = { "kexec", "-e", NULL };

		printf("kexec -e\n");
		fflush(stdout);
		execvp(argv[0], (char *const *)argv);
	}
	return lu_err(s, "exec of the reboot failed: %s (the kernel stays loaded)",
		      strerror(errno));
}

static int sub_restore(const struct lu_sub *s, struct lu_opts *o)
{
	struct lu_checks c = { 0 };
	struct kram_status st = { 0 };
	struct lu_hdr *h;
	struct qmp *q = NULL;
	struct lu_exec x = { 0 };
	struct lu_vm vm;
	char vs[32] = "";
	const char *why;
	long long r0, f0, r1, f1;
	__u64 t0, t1, rt;
	int ret = 1, i, j, err;
	bool stream = false, loaded = false;

	h = calloc(1, LU_HDR_SIZE);
	if (!h)
		return 1;
	err = hdr_read(o->state, h, &why);
	if (err) {
		lu_err(s, "state area %s: %s", o->state, err == -EBADMSG ? why : strerror(-err));
		goto out;
	}
	if (h->state != LU_SAVED) {
		lu_err(s, "state area %s: %s: nothing to restore", o->state,
		       lu_state_names[h->state]);
		goto out;
	}
	err = kram_get_status(&st);
	if (err || memcmp(st.uuid, h->uuid, sizeof(h->uuid))) {
		lu_err(s, "kram's region is not the one of the save (%s): a state loads only on its own host",
		       err ? strerror(-err) : "another uuid");
		goto out;
	}
	if (o->exec) {
		exec_signals();
		if (exec_argv(s, o, h, &x) || exec_start(s, o, &x) ||
		    exec_wait(s, &x, o->timeout))
			goto out;
		/* Its monitor greets once machine and devices are set up. */
		q = qmp_open_ms(s, x.conn, o->timeout * 1000);
		if (q)
			printf("its QMP monitor answered after %llu ms\n",
			       (unsigned long long)((now_ns(CLOCK_MONOTONIC) - x.t0) / 1000000));
	} else {
		q = qmp_open(s, o->qmp);
	}
	if (!q)
		goto out;
	printf("checks (QEMU PID %d; saved at kram boot %llu, now %llu):\n", (int)q->pid,
	       (unsigned long long)h->boot_count, (unsigned long long)st.boot_count);
	memset(&vm, 0, sizeof(vm));
	if (qmp_status(q, vm.status, sizeof(vm.status))) {
		lu_err(s, "query-status: %s", q->err);
		goto out;
	}
	check(&c, !strcmp(vm.status, "inmigrate"), "VM status: %s%s", vm.status,
	      strcmp(vm.status, "inmigrate") ?
	      " (start QEMU with the saved command line and -incoming defer)" : "");
	check_memory(q, &vm, &c, o->state);
	check_devices(q, &vm, &c);
	check(&c, vm.nr_mem == (int)h->nr_mem, "%d memory backend%s (saved: %u)", vm.nr_mem,
	      PLURAL(vm.nr_mem), h->nr_mem);
	for (i = 0; i < (int)h->nr_mem; i++) {
		bool same = false;

		for (j = 0; j < vm.nr_mem; j++)
			same |= !strcmp(vm.mem[j].id, h->mem[i].id) &&
				!strcmp(vm.mem[j].area, h->mem[i].area) &&
				vm.mem[j].size == h->mem[i].size;
		check(&c, same, "memory backend %s: area %s, %llu MiB, as saved", h->mem[i].id,
		      h->mem[i].area, (unsigned long long)(h->mem[i].size >> 20));
	}
	check(&c, vm.nr_dev == (int)h->nr_dev, "%d passthrough device%s (saved: %u)", vm.nr_dev,
	      PLURAL(vm.nr_dev), h->nr_dev);
	for (i = 0; i < (int)h->nr_dev; i++) {
		bool same = false;

		for (j = 0; j < vm.nr_dev; j++)
			same |= !strcmp(vm.dev[j], h->dev[i]);
		check(&c, same, "passthrough device %s, as saved", h->dev[i]);
	}
	if (c.failed) {
		lu_err(s, "%d check%s failed: nothing loaded; the state is kept", c.failed,
		       PLURAL(c.failed));
		goto out;
	}
	r0 = dev_count(&vm, "mig_restored");
	f0 = dev_count(&vm, "mig_refused");
	t0 = now_ns(CLOCK_MONOTONIC);
	if (lu_signalled()) {
		lu_err(s, "interrupted (signal %d) before the load", lu_signalled());
		goto out;
	}
	stream = true;
	if (start_stream(s, q, o->state, false))
		goto out;
	for (;;) {
		if (qmp_status(q, vs, sizeof(vs))) {
			r1 = dev_count(&vm, "mig_refused") - f0;
			lu_err(s, "the load failed (%s)%s", q->err,
			       r1 > 0 ?
			       "; vfio_preserve refused a device's state: the kernel log says why" :
			       "; QEMU's log says why");
			goto out;
		}
		if (strcmp(vs, "inmigrate"))
			break;
		if (now_ns(CLOCK_MONOTONIC) - t0 > (__u64)o->timeout * 1000000000ull) {
			lu_err(s, "the load did not finish within %d s", o->timeout);
			goto out;
		}
		if (lu_signalled()) {
			lu_err(s, "interrupted (signal %d) during the load", lu_signalled());
			goto out;
		}
		sleep_ms(20);
	}
	loaded = true;
	t1 = now_ns(CLOCK_MONOTONIC);
	r1 = dev_count(&vm, "mig_restored") - r0;
	f1 = dev_count(&vm, "mig_refused") - f0;
	printf("loaded in %llu ms (status %s); devices' tokens: %lld restored, %lld refused\n",
	       (unsigned long long)((t1 - t0) / 1000000), vs, r1, f1);
	if (r1 != vm.nr_dev || f1) {
		lu_err(s, "not every device's state was restored by vfio_preserve: the VM is not resumed");
		goto out;
	}
	if (strcmp(vs, "paused") && strcmp(vs, "running")) {
		lu_err(s, "after the load QEMU says '%s': not resumed", vs);
		goto out;
	}
	/* Spent before the VM runs: a state never loads twice. */
	rt = now_ns(CLOCK_REALTIME);
	h->state = LU_RESTORED;
	h->restore_ns = rt;
	err = hdr_write(o->state, h);
	if (err) {
		lu_err(s, "mark state area %s restored: %s: the VM is not resumed", o->state,
		       strerror(-err));
		goto out;
	}
	if (!strcmp(vs, "paused") && qmp_simple(q, "cont")) {
		lu_err(s, "cont: %s (the state is spent; cont the VM by hand)", q->err);
		goto out;
	}
	rt = now_ns(CLOCK_REALTIME);
	printf("resumed; the VM was stopped %llu.%03llu s (stop to resume, CLOCK_REALTIME)\n",
	       (unsigned long long)((rt - h->stop_ns) / 1000000000),
	       (unsigned long long)((rt - h->stop_ns) / 1000000 % 1000));
	if (o->exec && exec_pid(&x, q) > 0)
		printf("QEMU PID %d runs the VM (its output: %s)\n",
		       (int)exec_pid(&x, q), x.log);
	else if (o->exec)
		printf("QEMU runs the VM (PID unknown; its output: %s)\n", x.log);
	ret = 0;
out:
	if (ret && x.started)
		exec_failed(s, o, &x, q, stream, loaded);
	free(h);
	if (q)
		qmp_close(q);
	free(x.argv);
	free(x.qmp_arg);
	return ret;
}

static int sub_show(const struct lu_sub *s, struct lu_opts *o)
{
	struct lu_hdr *h = calloc(1, LU_HDR_SIZE);
	const char *why;
	__u32 i, off;
	int err;

	if (!h)
		return 1;
	err = hdr_read(o->state, h, &why);
	if (err) {
		free(h);
		return lu_err(s, "state area %s: %s", o->state,
			      err == -EBADMSG ? why : strerror(-err));
	}
	printf("state:       %s\n", lu_state_names[h->state]);
	printf("kram:        boot %llu at the save\n", (unsigned long long)h->boot_count);
	printf("stopped at:  %llu (CLOCK_REALTIME, s); save took %llu ms\n",
	       (unsigned long long)(h->stop_ns / 1000000000),
	       (unsigned long long)(h->save_ns / 1000000));
	if (h->state == LU_RESTORED)
		printf("resumed at:  %llu (%llu ms after the stop)\n",
		       (unsigned long long)(h->restore_ns / 1000000000),
		       (unsigned long long)((h->restore_ns - h->stop_ns) / 1000000));
	for (i = 0; i < h->nr_mem; i++)
		printf("memory:      %s in kram area %s, %llu MiB\n", h->mem[i].id, h->mem[i].area,
		       (unsigned long long)(h->mem[i].size >> 20));
	for (i = 0; i < h->nr_dev; i++)
		printf("device:      %s\n", h->dev[i]);
	printf("qemu:       ");
	for (off = 0; off < h->argv_len; off += strnlen(h->argv + off, h->argv_len - off) + 1)
		printf(" %.*s", (int)strnlen(h->argv + off, h->argv_len - off), h->argv + off);
	printf("\n");
	free(h);
	return 0;
}

static const struct lu_sub lu_subs[] = {
	{ "check", sub_check, "check --qmp SOCK --state AREA [--append CMDLINE]",
	  "Run every check of save and kexec; change nothing.", true, true },
	{ "save", sub_save, "save --qmp SOCK --state AREA [--timeout SECS] [--force]",
	  "Checks, stop, save the VM's state into AREA, quit QEMU.", true, true },
	{ "kexec", sub_kexec,
	  "kexec --state AREA --kernel FILE [--initrd FILE] (--append CMDLINE | --reuse-cmdline) [--load-only] [--ignore-vm PID]",
	  "Checks, kexec -s -l, reboot into it.", false, true },
	{ "restore", sub_restore,
	  "restore --state AREA (--qmp SOCK | --exec [--qmp SOCK] [--log FILE]) [--timeout SECS]",
	  "Load the state into a QEMU started with -incoming defer (--exec: started here from the saved command line); resume.",
	  true, true },
	{ "show", sub_show, "show --state AREA", "What a state area holds.", false, true },
};

int cmd_liveupdate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "state", required_argument, NULL, 's' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "reuse-cmdline", no_argument, NULL, 'r' },
		{ "load-only", no_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ignore-vm", required_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },
		{ "exec", no_argument, NULL, 'e' },
		{ "log", required_argument, NULL, 'L' },
		{}
	};
	struct lu_opts o = { .timeout = 300 };
	const struct lu_sub *s = NULL;
	const char *sub = argc > 1 ? argv[1] : NULL;
	size_t i;
	int c;

	if (!sub) {
		liveupdate_help(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		liveupdate_help(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(lu_subs); i++)
		if (!strcmp(sub, lu_subs[i].name))
			s = &lu_subs[i];
	if (!s) {
		fprintf(stderr, "hvkitctl liveupdate: unknown subcommand '%s'\n"
			"Usage: hvkitctl liveupdate {check|save|kexec|restore|show|help} ...\n",
			sub);
		return 2;
	}
	optind = 0;
	opterr = 0;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("Usage: hvkitctl liveupdate %s\n\n    %s\n\n%s\n", s->usage,
			       s->summary, "(hvkitctl liveupdate help: the checks and the recipe)");
			return 0;
		case 'q':
			o.qmp = optarg;
			break;
		case 's':
			o.state = optarg;
			break;
		case 'k':
			o.kernel = optarg;
			break;
		case 'i':
			o.initrd = optarg;
			break;
		case 'a':
			o.append = optarg;
			break;
		case 'r':
			o.reuse_cmdline = true;
			break;
		case 'l':
			o.load_only = true;
			break;
		case 'f':
			o.force = true;
			break;
		case 'e':
			o.exec = true;
			break;
		case 'L':
			o.log = optarg;
			break;
		case 'v': {
			char *end;
			long pid = strtol(optarg, &end, 10);

			if (*end || pid < 1)
				return lu_usage_err(s, "--ignore-vm: '%s' is not a PID", optarg);
			if (o.nr_ignore_vm == (int)ARRAY_SIZE(o.ignore_vm))
				return lu_usage_err(s, "--ignore-vm: at most %zu",
						    ARRAY_SIZE(o.ignore_vm));
			o.ignore_vm[o.nr_ignore_vm++] = pid;
			break;
		}
		case 't': {
			char *end;
			long t = strtol(optarg, &end, 10);

			if (*end || t < 1 || t > 86400)
				return lu_usage_err(s, "--timeout: '%s' is not 1..86400 seconds",
						    optarg);
			o.timeout = (int)t;
			break;
		}
		case ':':
			return lu_usage_err(s, "option '%s' needs an argument", argv[optind - 1]);
		default:
			return lu_usage_err(s, "bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return lu_usage_err(s, "unexpected argument '%s'", argv[optind]);
	if ((o.exec || o.log) && strcmp(s->name, "restore"))
		return lu_usage_err(s, "--exec and --log are for restore");
	if (o.log && !o.exec)
		return lu_usage_err(s, "--log is for --exec (the log of the QEMU it starts)");
	if (s->need_qmp && !o.qmp && !o.exec)
		return lu_usage_err(s, "--qmp SOCK is required%s",
				    strcmp(s->name, "restore") ? "" : " (or --exec)");
	if (s->need_state && !o.state)
		return lu_usage_err(s, "--state AREA is required");
	if (o.state && (!o.state[0] || strchr(o.state, '/') || strchr(o.state, '\'') ||
			strlen(o.state) >= KRAM_NAME_LEN))
		return lu_usage_err(s, "--state: '%s' is not a kram area name", o.state);
	if ((o.kernel || o.initrd || o.reuse_cmdline || o.load_only || o.nr_ignore_vm) &&
	    strcmp(s->name, "kexec"))
		return lu_usage_err(s,
				    "--kernel, --initrd, --reuse-cmdline, --load-only, --ignore-vm are for kexec");
	if (o.force && strcmp(s->name, "save"))
		return lu_usage_err(s, "--force is for save");
	if (o.append && strcmp(s->name, "kexec") && strcmp(s->name, "check"))
		return lu_usage_err(s, "--append is for check and kexec");
	return s->fn(s, &o);
}
