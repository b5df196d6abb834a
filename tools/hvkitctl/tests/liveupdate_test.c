// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit test of "hvkitctl liveupdate restore --exec"'s command
 * line work: which QEMU arguments pass a file descriptor (passes_fd), the
 * socket of a "-qmp unix:" value (qmp_unix_path) and the new QEMU's argv
 * built from a saved header (exec_argv), with every refusal. It includes
 * liveupdate.c for its static functions; no kram, QEMU or VM is needed, so
 * "make check" runs it in its static step. Prints TAP; exits 1 on a
 * failure.
 */
#include "../liveupdate.c"
#include "tap.h"

static const struct lu_sub t_sub = { .name = "restore" };

/* A saved header with @args (NULL-terminated) as QEMU's command line. */
static struct lu_hdr *t_hdr(const char *const *args, __u32 ext_flags, bool ext)
{
	struct lu_hdr *h = calloc(1, LU_HDR_SIZE);
	size_t n;

	if (!h)
		exit(2);
	for (; *args; args++) {
		n = strlen(*args) + 1;
		memcpy(h->argv + h->argv_len, *args, n);
		h->argv_len += n;
	}
	if (ext)
		ext_save(h, getpid(), ext_flags);
	return h;
}

static void t_free(struct lu_exec *x)
{
	free(x->argv);
	free(x->qmp_arg);
	memset(x, 0, sizeof(*x));
}

/* x->argv joined with spaces. */
static const char *t_join(const struct lu_exec *x)
{
	static char buf[4096];
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; x->argv && x->argv[i]; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", x->argv[i]);
	return buf;
}

/*
 * exec_argv() on @args with --qmp @qmp: @want is the expected argv joined
 * by spaces, or NULL for a refusal; @sock the expected QMP socket.
 */
static void t_argv(const char *desc, const char *const *args, const char *qmp,
		   __u32 ext_flags, const char *want, const char *sock)
{
	struct lu_opts o = { .qmp = qmp };
	struct lu_exec x = { 0 };
	struct lu_hdr *h = t_hdr(args, ext_flags, true);
	int ret = exec_argv(&t_sub, &o, h, &x);

	if (!want)
		t_ok(ret == -1, "%s: refused", desc);
	else
		t_ok(!ret && !strcmp(t_join(&x), want) && !strcmp(x.sock, sock),
		     "%s: '%s' (socket '%s')", desc, ret ? "refused" : t_join(&x), x.sock);
	t_free(&x);
	free(h);
}

static void test_passes_fd(void)
{
	static const char *const yes[] = {
		"tap,id=n0,fd=3", "socket,id=s,fds=3:4", "vhostfd=5",
		"tap,id=n1,vhostfds=5:6", "{\"qom-type\":\"memory-backend-file\",\"fd\":\"3\"}",
		"fd:4", "file:/dev/fdset/2", "/proc/self/fd/7", "node-name=d,filename=/dev/fd/3",
	};
	static const char *const no[] = {
		"tap,id=n0,ifname=fdx", "id=nofd=3", "file=/tmp/fd=3", "tap,fd=x",
		"virtio-net-pci,netdev=n0", "-device", "fds", "{\"fdx\":1}",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++)
		t_ok(passes_fd(yes[i]), "passes_fd('%s')", yes[i]);
	for (i = 0; i < ARRAY_SIZE(no); i++)
		t_ok(!passes_fd(no[i]), "!passes_fd('%s')", no[i]);
}

static void test_qmp_unix_path(void)
{
	static const struct { const char *val, *path; } c[] = {
		{ "unix:/tmp/q.sock,server=on,wait=off", "/tmp/q.sock" },
		{ "unix:q,,1.sock,server=on", "q,1.sock" },
		{ "unix:/a", "/a" },
		{ "unix:a,,", "a," },
		{ "unix:", NULL },
		{ "unix:,server=on", NULL },
		{ "tcp:127.0.0.1:4444,server=on", NULL },
		{ "unix:/a/path/longer/than/sixteen", NULL },
	};
	char path[16];
	size_t i;
	bool ok;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		memset(path, 0, sizeof(path));
		ok = qmp_unix_path(c[i].val, path, sizeof(path));
		t_ok(c[i].path ? ok && !strcmp(path, c[i].path) : !ok,
		     "qmp_unix_path('%s') = %s", c[i].val, ok ? path : "refused");
	}
}

static void test_exec_argv(const char *cwd)
{
	static const char *const tcp[] = { "qemu-system-x86_64", "-m", "512",
		"-qmp", "unix:q,,1.sock,server=on,wait=off", "-incoming", "tcp:0:4444", NULL };
	static const char *const plain[] = { "qemu", "-m", "512", NULL };
	static const char *const has[] = { "qemu", "--incoming", "defer", "-S",
		"--qmp", "unix:/run/a.sock,server=on,wait=off", NULL };
	static const char *const two[] = { "qemu", "-qmp", "unix:/run/a.sock,server=on",
		"-qmp", "unix:/run/b.sock,server=on", NULL };
	static const char *const daemon[] = { "qemu", "-daemonize",
		"-qmp", "unix:/run/d.sock,server=on", NULL };
	static const char *const fd[] = { "qemu", "-netdev", "tap,id=n0,fd=3",
		"-qmp", "unix:/run/a.sock,server=on", NULL };
	static const char *const addfd[] = { "qemu", "-add-fd", "fd=4,set=2",
		"-qmp", "unix:/run/a.sock,server=on", NULL };
	static const char *const lng[] = { "qemu", "-qmp",
		"unix:sock-0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
		NULL };
	char want[1024], sock[256];
	struct lu_opts o = { 0 };
	struct lu_exec x = { 0 };
	struct lu_hdr *h;
	struct lu_ext *e;

	snprintf(want, sizeof(want), "%s %s",
		 "qemu-system-x86_64 -m 512 -qmp unix:q,,1.sock,server=on,wait=off",
		 "-incoming defer -S");
	t_argv("-incoming tcp: becomes defer, -S added, relative socket", tcp, NULL, 0,
	       want, "q,1.sock");
	h = t_hdr(tcp, 0, true);
	snprintf(sock, sizeof(sock), "%s/q,1.sock", cwd);
	t_ok(!exec_argv(&t_sub, &o, h, &x) && !strcmp(x.conn, sock) && x.cwd &&
	     !strcmp(x.cwd, cwd) && !x.daemonize,
	     "a relative socket is connected in QEMU's saved directory: '%s'", x.conn);
	t_free(&x);
	free(h);

	t_argv("--incoming/--qmp forms and -S kept, nothing added", has, NULL, 0,
	       "qemu --incoming defer -S --qmp unix:/run/a.sock,server=on,wait=off",
	       "/run/a.sock");
	t_argv("no -qmp and no --qmp", plain, NULL, 0, NULL, NULL);
	t_argv("--qmp with a comma is added, the comma doubled", plain, "/tmp/a,b.sock", 0,
	       "qemu -m 512 -qmp unix:/tmp/a,,b.sock,server=on,wait=off -S -incoming defer",
	       "/tmp/a,b.sock");
	t_argv("--qmp picks the command line's matching -qmp", two, "/run/b.sock", 0,
	       "qemu -qmp unix:/run/a.sock,server=on -qmp unix:/run/b.sock,server=on -S -incoming defer",
	       "/run/b.sock");
	t_argv("without --qmp the first -qmp unix: is used", two, NULL, 0,
	       "qemu -qmp unix:/run/a.sock,server=on -qmp unix:/run/b.sock,server=on -S -incoming defer",
	       "/run/a.sock");
	t_argv("--qmp too long for a unix socket", plain,
	       "/tmp/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789.sock",
	       0, NULL, NULL);
	t_argv("a socket path too long once in QEMU's directory", lng, NULL, 0, NULL, NULL);
	t_argv("tap fd= refused", fd, NULL, 0, NULL, NULL);
	t_argv("-add-fd refused", addfd, NULL, 0, NULL, NULL);
	t_argv("a command line cut short at the save", tcp, NULL, LU_EXT_ARGV_CUT, NULL, NULL);

	h = t_hdr(daemon, 0, true);
	t_ok(!exec_argv(&t_sub, &o, h, &x) && x.daemonize && !strcmp(x.sock, "/run/d.sock"),
	     "-daemonize seen");
	t_free(&x);
	free(h);

	/* An older hvkitctl's save: no extension, QEMU's directory unknown. */
	h = t_hdr(tcp, 0, false);
	t_ok(!exec_argv(&t_sub, &o, h, &x) && !x.cwd && !strcmp(x.conn, "q,1.sock"),
	     "a save without the extension loads, directory unknown");
	t_free(&x);
	/* ... whose argv is longer than this hvkitctl keeps: cut. */
	h->argv_len = LU_ARGV_SAVE_MAX + 1;
	h->argv[h->argv_len - 1] = '\0';
	t_ok(exec_argv(&t_sub, &o, h, &x) == -1, "an old save longer than kept is refused as cut");
	t_free(&x);
	free(h);

	/* The extension's CRC covers the directory. */
	h = t_hdr(tcp, 0, true);
	e = hdr_ext(h);
	e->cwd[0] ^= 1;
	t_ok(!ext_saved(h), "a damaged extension is not used");
	free(h);

	h = t_hdr(plain, 0, true);
	h->argv_len = 0;
	t_ok(exec_argv(&t_sub, &o, h, &x) == -1, "a save without a command line");
	t_free(&x);
	h->argv_len = 4;
	memcpy(h->argv, "qemu", 4);
	t_ok(exec_argv(&t_sub, &o, h, &x) == -1, "a command line not NUL-terminated");
	t_free(&x);
	free(h);
}

int main(void)
{
	char tmpl[] = "/tmp/hvkit-lu-test.XXXXXX", *dir;
	struct lu_hdr *h;
	struct lu_exec x = { 0 };
	struct lu_opts o = { 0 };
	static const char *const rel[] = { "qemu", "-qmp", "unix:q.sock,server=on", NULL };

	dir = mkdtemp(tmpl);
	if (!dir || chdir(dir))
		return 2;
	test_passes_fd();
	test_qmp_unix_path();
	test_exec_argv(dir);

	/* QEMU's directory at the save is gone: the socket is this one's. */
	h = t_hdr(rel, 0, true);
	if (chdir("/") || rmdir(dir))
		return 2;
	t_ok(!exec_argv(&t_sub, &o, h, &x) && !x.cwd && !strcmp(x.conn, "q.sock"),
	     "QEMU's saved directory gone: it starts in this one");
	t_free(&x);
	free(h);

	return t_done();
}
