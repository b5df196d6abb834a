// SPDX-License-Identifier: GPL-2.0
/*
 * hvkitctl kram: the kram command group, one subcommand per KRAM_IOC_*
 * ioctl of /dev/kram (include/uapi/linux/hvkit.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/hvkit.h>

#include "hvkitctl.h"

typedef __u64 u64;
typedef __u32 u32;

#define KRAM_WALK_DONE		(~0ULL)
/* x86 physical KASLR avoids this many memmap= ranges (MAX_MEMMAP_REGIONS). */
#define KASLR_MEMMAP_MAX	4

struct kram_sub {
	const char *name;
	int (*fn)(const struct kram_sub *s, int argc, char **argv);
	const char *usage;
	const char *summary;
};

void kram_help(FILE *out)
{
	fputs("Usage: hvkitctl kram SUBCOMMAND [ARGS]\n"
	      "\n"
	      "kram is a persistent page allocator. It manages a range of physical RAM that\n"
	      "the kernel reserved at boot with memmap=SIZE$ADDR; the pages, and what is\n"
	      "written in them, survive a kexec reboot (kexec -s), so state such as a VM's\n"
	      "memory outlives the kernel that created it. (Not a power cycle or a firmware\n"
	      "reboot: the range is ordinary RAM.) The range holds named areas, physically\n"
	      "contiguous runs of pages found again by name, and a pool of single pages,\n"
	      "each owned by a numeric tag.\n"
	      "\n"
	      "Subcommands:\n"
	      "  status                   state of the region, its usage, attach times\n"
	      "  areas                    list the areas\n"
	      "  create NAME SIZE [--version STR]\n"
	      "                           create an area; SIZE is pages with a p suffix\n"
	      "                           (16p) or bytes with a K, M or G suffix (64M), a\n"
	      "                           multiple of 4096; prints its first page, device\n"
	      "  delete NAME              delete an area and free its pages\n"
	      "  alloc --tag TAG [--count N] [--zero]\n"
	      "                           allocate N (default 1) pool pages for TAG, zeroed\n"
	      "                           with --zero; prints one page index per line. All\n"
	      "                           or nothing: after an error none stay allocated\n"
	      "  free --tag TAG PGOFF...  free these pool pages of TAG\n"
	      "  free --tag TAG --all     free every pool page of TAG\n"
	      "  walk --tag TAG [--count-only]\n"
	      "                           print the pool pages of TAG, or how many\n"
	      "  help                     this text (\"kram SUBCOMMAND --help\": its usage)\n"
	      "\n"
	      "  TAG and PGOFF are decimal or 0x hex. Tags >= 0x80000000 belong to\n"
	      "  userspace; smaller ones to kernel users (walk shows them, alloc and free\n"
	      "  refuse them). After a kexec a tag's pages are still allocated: find them\n"
	      "  with \"walk\", release them with \"free --all\".\n"
	      "\n"
	      "Setting up (x86):\n"
	      "  1. Reserve the range on the kernel command line, e.g. 1 GiB at 4 GiB:\n"
	      "       memmap=1G$0x100000000\n"
	      "     In /etc/default/grub the $ needs escaping: memmap=1G\\\\\\$0x100000000\n"
	      "     Keep at most 4 memmap= ranges: x86 physical KASLR avoids only the\n"
	      "     first 4 and may put the kernel into a later one (status warns).\n"
	      "  2. Load the module on the same range:\n"
	      "       modprobe kram region=1G@0x100000000 init=1\n"
	      "     region=SIZE@ADDR  the memmap= range (same SIZE and ADDR)\n"
	      "     init=1            first use: format the region if it has no kram\n"
	      "                       superblock (one that has is attached, not formatted)\n"
	      "     reformat=1        destroy and reformat the region: every area and\n"
	      "                       page in it is lost\n"
	      "     \"options kram region=1G@0x100000000\" in /etc/modprobe.d/kram.conf\n"
	      "     loads it the same way on every boot.\n"
	      "  3. Reboot into the next kernel with kexec_file_load, keeping memmap=:\n"
	      "       kexec -s -l /boot/vmlinuz-NEW --initrd=/boot/initrd.img-NEW \\\n"
	      "             --reuse-cmdline\n"
	      "       kexec -e            (or: systemctl kexec)\n"
	      "     Use -s: with kexec_file_load the kernel places the new kernel's\n"
	      "     segments and keeps them out of reserved memory. With the legacy\n"
	      "     kexec_load (kexec -l without -s) kexec-tools picks the addresses and\n"
	      "     may put a segment into the region, overwriting kram pages.\n"
	      "     Then load kram again in the new kernel, on the same range.\n"
	      "\n"
	      "Access:\n"
	      "  Pool page N is at byte offset N*4096 of /dev/kram: use pread/pwrite,\n"
	      "  e.g. dd if=/dev/kram bs=4096 skip=N count=1.\n"
	      "  Area NAME is /dev/kram_areas/NAME: read, write and mmap it (offset 0 is\n"
	      "  the area's first page). A QEMU guest can keep its RAM there across a\n"
	      "  host kexec:\n"
	      "    hvkitctl kram create vm0 4G\n"
	      "    qemu-system-x86_64 -m 4G -machine memory-backend=m -object \\\n"
	      "      memory-backend-file,id=m,size=4G,mem-path=/dev/kram_areas/vm0,share=on,align=2M\n"
	      "  NAME is 1-31 characters of A-Z a-z 0-9 . _ - (not \".\" or \"..\");\n"
	      "  --version takes up to 31 printable characters, kept for the area's owner\n"
	      "  (to recognise the layout of its data). An area that is open or mapped\n"
	      "  cannot be deleted.\n"
	      "\n"
	      "Permissions:\n"
	      "  status is unprivileged (it needs read-write access to /dev/kram); every\n"
	      "  other subcommand needs CAP_SYS_ADMIN, and fails with ENODEV (\"No such\n"
	      "  device\") while no region is attached.\n"
	      "\n"
	      "More information:\n"
	      "  hvkitctl kram status     the state; why a region was refused\n"
	      "  /sys/class/misc/kram/    the device's sysfs attributes\n"
	      "  /sys/kernel/debug/kram/  debugfs (mount -t debugfs none /sys/kernel/debug)\n"
	      "  dmesg                    the module's messages (attach, refusal, format)\n"
	      "\n"
	      "Exit status: 0 on success, 1 when an operation failed (the error is\n"
	      "printed), 2 on bad usage.\n", out);
}

/* Words for -errno @err of the kram ioctl @cmd (0: not an ioctl), or NULL. */
static const char *kram_hint(unsigned long cmd, int err)
{
	if (!cmd)
		return NULL;
	switch (-err) {
	case EPERM:
		if (cmd == KRAM_IOC_FREE)
			return "needs CAP_SYS_ADMIN, or a page belongs to another tag";
		if (cmd == KRAM_IOC_AREA_DELETE)
			return "needs CAP_SYS_ADMIN, or a kernel owner's area (vfio_preserve's)";
		return "needs CAP_SYS_ADMIN (run as root)";
	case ENODEV:
		return "no region attached, see 'hvkitctl kram status'";
	case ENOSPC:
		if (cmd == KRAM_IOC_AREA_CREATE)
			return "not that many contiguous free pages, or the area table is full";
		return "the region is full; see 'hvkitctl kram status'";
	case EBUSY:
		return "the area is open, mapped or pinned (dmesg names the held pages)";
	case EEXIST:
		return "an area of that name exists";
	case ENOENT:
		if (cmd == KRAM_IOC_AREA_DELETE)
			return "no area of that name";
		if (cmd == KRAM_IOC_FREE)
			return "a page is not allocated (double free, or an area page)";
		return NULL;
	case ENOTTY:
		return "the loaded kram module does not know this ioctl (older than hvkitctl?)";
	case E2BIG:
		return "the loaded kram module is older than hvkitctl";
	case EPROTO:
		return "the kram module's answer makes no sense (cursor or count)";
	default:
		return NULL;
	}
}

/* "hvkitctl kram SUB: WHAT: strerror(-err)[; hint]" on stderr. */
static void __printf(4, 5)
kram_err(const struct kram_sub *s, unsigned long cmd, int err,
	 const char *fmt, ...)
{
	const char *hint = kram_hint(cmd, err);
	va_list ap;

	fprintf(stderr, "hvkitctl kram %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", strerror(-err));
	if (hint)
		fprintf(stderr, "; %s", hint);
	fputc('\n', stderr);
}

/* Bad usage: the problem and the subcommand's usage line; returns 2. */
static int __printf(2, 3)
kram_usage_err(const struct kram_sub *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hvkitctl kram %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: hvkitctl kram %s\n", s->usage);
	return 2;
}

/*
 * getopt_long() for a subcommand. cmd_kram() sets optind to 0 first: that
 * makes glibc (and musl) start over, including the argument ordering, so
 * options may follow the operands although main() parsed with "+".
 */
static int kram_getopt(int argc, char **argv, const char *shortopts,
		       const struct option *longopts)
{
	opterr = 0;
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}

/* The end of an option loop for c not handled by the subcommand. */
static int kram_bad_opt(const struct kram_sub *s, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == 'h') {
		printf("Usage: hvkitctl kram %s\n\n    %s\n", s->usage,
		       s->summary);
		return 0;
	}
	if (c == ':')
		return kram_usage_err(s, "option '%s' needs an argument", arg);
	if (strncmp(arg, "--", 2) && optopt)
		return kram_usage_err(s, "unknown option '-%c'", optopt);
	return kram_usage_err(s, "bad option '%s'", arg);
}

/* A decimal or 0x hex number; with @end, what follows it is for the caller. */
static int parse_u64(const char *str, u64 *val, char **end)
{
	const char *digits = str;
	unsigned long long v;
	int base = 10;
	char *e;

	if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
		digits = str + 2;
		base = 16;
	}
	/* strtoull() would also take spaces, a sign and a second "0x". */
	if (!isxdigit((unsigned char)digits[0]) ||
	    (base == 10 && !isdigit((unsigned char)digits[0])) ||
	    (base == 16 && tolower((unsigned char)digits[1]) == 'x'))
		return -EINVAL;
	errno = 0;
	v = strtoull(digits, &e, base);
	if (errno)
		return -errno;
	if (end)
		*end = e;
	else if (*e)
		return -EINVAL;
	*val = v;
	return 0;
}

static int parse_tag(const struct kram_sub *s, const char *str, u32 *tag,
		     bool user)
{
	u64 v;

	if (parse_u64(str, &v, NULL) || v > UINT_MAX)
		return kram_usage_err(s, "bad TAG '%s': a 32-bit number, decimal or 0x hex",
				      str);
	if (user && v < KRAM_TAG_USER)
		return kram_usage_err(s, "TAG %s is a kernel tag; userspace tags are >= 0x%x",
				      str, KRAM_TAG_USER);
	*tag = (u32)v;
	return 0;
}

/* SIZE of "create": "16p" (pages) or bytes, optionally K, M, G or T. */
static int parse_size(const char *str, u64 *nr_pages)
{
	unsigned int shift = 0;
	char *end;
	u64 v;

	if (parse_u64(str, &v, &end) || v == 0)
		return -EINVAL;
	if (!strcmp(end, "p")) {
		*nr_pages = v;
		return 0;
	}
	if (end[0] && end[1])
		return -EINVAL;
	switch (end[0]) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (v > (~0ULL >> shift))
		return -ERANGE;
	v <<= shift;
	if (v % KRAM_PAGE_SIZE)
		return -EDOM;
	*nr_pages = v / KRAM_PAGE_SIZE;
	return 0;
}

/* "4G", "1.5M", "512K", "100B". */
static const char *human(u64 bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	u64 div = 1;
	int i = -1;

	while (i < 5 && bytes / 1024 >= div) {
		div *= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%lluB", (unsigned long long)bytes);
	else if (bytes % div == 0)
		snprintf(buf, len, "%llu%c", (unsigned long long)(bytes / div),
			 units[i]);
	else
		snprintf(buf, len, "%.1f%c", (double)bytes / (double)div,
			 units[i]);
	return buf;
}

static const char *mib(u64 bytes, char *buf, size_t len)
{
	if (bytes % (1ULL << 20) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%.2f MiB", (double)bytes / (1 << 20));
	return buf;
}

/* 8-4-4-4-12 hex digits */
static const char *fmt_uuid(const __u8 *u, char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < 16 && n + 3 < len; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[n++] = '-';
		n += snprintf(buf + n, len - n, "%02x", u[i]);
	}
	buf[n] = '\0';
	return buf;
}

/* "12.345 ms" */
static const char *fmt_ms(u64 ns, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%03llu ms", (unsigned long long)(ns / 1000000),
		 (unsigned long long)(ns / 1000 % 1000));
	return buf;
}

/* Open <dev_root>/kram, or print why not and return -1. */
static int kram_open(const struct kram_sub *s)
{
	char path[PATH_MAX], mod[PATH_MAX], state[32];
	const char *hint = NULL;
	int fd, err;

	snprintf(path, sizeof(path), "%s/kram", dev_root);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	err = errno;
	if (err == ENOENT || err == ENODEV || err == ENXIO) {
		snprintf(mod, sizeof(mod), "%s/module/kram/initstate",
			 sysfs_root);
		if (read_line(mod, state, sizeof(state)))
			hint = "kram module not loaded (modprobe kram)";
		else
			hint = "the kram module is loaded, but not its device";
	} else if (err == EACCES) {
		hint = "the device is for root only";
	}
	fprintf(stderr, "hvkitctl kram %s: open %s: %s%s%s\n", s->name, path,
		strerror(err), hint ? "; " : "", hint ? hint : "");
	return -1;
}

/* ioctl(): 0, or -errno. */
static int kram_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : 0;
}

static void kram_pages_init(struct kram_pages *p, u32 tag, u32 flags,
			    u64 *pages, u32 count)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	p->flags = flags;
	p->tag = tag;
	p->count = count;
	p->pages = (unsigned long)pages;
}

/*
 * Every pool page of @tag, in batches, to @fn (which returns 0 or a
 * -errno that stops the walk). Returns 0 or -errno; *@ioc_err tells
 * whether it came from the ioctl.
 */
static int kram_walk_tag(int fd, u32 tag,
			 int (*fn)(void *ctx, const u64 *pages, u32 n),
			 void *ctx, bool *ioc_err)
{
	u64 buf[KRAM_MAX_BATCH], cursor = 0;
	struct kram_pages p;
	int err;

	*ioc_err = false;
	for (;;) {
		kram_pages_init(&p, tag, 0, buf, KRAM_MAX_BATCH);
		p.cursor = cursor;
		err = kram_ioctl(fd, KRAM_IOC_WALK, &p);
		if (err) {
			*ioc_err = true;
			return err;
		}
		if (p.count > KRAM_MAX_BATCH)
			return -EPROTO;
		if (p.count) {
			err = fn(ctx, buf, p.count);
			if (err)
				return err;
		}
		if (p.cursor == KRAM_WALK_DONE)
			return 0;
		if (p.cursor <= cursor)
			return -EPROTO;	/* no progress: do not loop forever */
		cursor = p.cursor;
	}
}

/* A growing array of page indexes. */
struct page_vec {
	u64 *v;
	size_t n, cap;
};

static int page_vec_reserve(struct page_vec *pv, size_t more)
{
	size_t cap = pv->cap ? pv->cap : 1024;
	u64 *v;

	if (pv->n + more < pv->n)
		return -ENOMEM;
	while (cap < pv->n + more) {
		if (cap > SIZE_MAX / 2 / sizeof(*v))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == pv->cap)
		return 0;
	v = realloc(pv->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pv->v = v;
	pv->cap = cap;
	return 0;
}

static int page_vec_add(void *ctx, const u64 *pages, u32 n)
{
	struct page_vec *pv = ctx;
	int err = page_vec_reserve(pv, n);

	if (err)
		return err;
	memcpy(pv->v + pv->n, pages, n * sizeof(*pages));
	pv->n += n;
	return 0;
}

static int walk_print(void *ctx, const u64 *pages, u32 n)
{
	u32 i;

	(void)ctx;
	for (i = 0; i < n; i++)
		printf("%llu\n", (unsigned long long)pages[i]);
	return 0;
}

static int walk_count(void *ctx, const u64 *pages, u32 n)
{
	(void)pages;
	*(u64 *)ctx += n;
	return 0;
}

/* FREE @n pages in batches; *@freed counts those freed. 0 or -errno. */
static int kram_free_pages(int fd, u32 tag, u64 *pages, size_t n,
			   size_t *freed)
{
	struct kram_pages p;
	size_t done = 0;
	u32 batch;
	int err = 0;

	while (done < n) {
		batch = n - done > KRAM_MAX_BATCH ? KRAM_MAX_BATCH :
			(u32)(n - done);
		kram_pages_init(&p, tag, 0, pages + done, batch);
		err = kram_ioctl(fd, KRAM_IOC_FREE, &p);
		if (err)
			break;
		done += batch;
	}
	*freed = done;
	return err;
}

/*
 * The x86 boot decompressor avoids only MAX_MEMMAP_REGIONS (4) memmap=
 * ranges when it picks a random physical address for the kernel: in 6.1
 * a range in a 5th memmap= option is not avoided, so the kernel may be
 * decompressed into it, perhaps into kram's region. Warn about that.
 */
static void kram_check_cmdline(const char *path)
{
	char cmdline[8192], *tok, *save, *r, *rsave;
	int ranges = 0;

	if (read_line(path, cmdline, sizeof(cmdline)))
		return;
	for (tok = strtok_r(cmdline, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (strncmp(tok, "memmap=", 7))
			continue;
		/* Ranges have an address; "memmap=SIZE" is a limit. */
		for (r = strtok_r(tok + 7, ",", &rsave); r;
		     r = strtok_r(NULL, ",", &rsave))
			if (strpbrk(r, "@#$!%"))
				ranges++;
	}
	if (ranges > KASLR_MEMMAP_MAX)
		fprintf(stderr,
			"hvkitctl kram status: warning: the kernel command line has %d memmap=\n"
			"  ranges, but physical KASLR only avoids %d memmap= ranges: the kernel\n"
			"  may be decompressed into a later one (the kram region?). Use at most\n"
			"  %d, or boot with nokaslr.\n",
			ranges, KASLR_MEMMAP_MAX, KASLR_MEMMAP_MAX);
}

static int sub_status(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const char *const states[] = {
		[KRAM_STATE_DETACHED] = "detached (no region)",
		[KRAM_STATE_ATTACHED] = "attached",
		[KRAM_STATE_REFUSED] = "refused (a region was found but not attached)",
	};
	struct kram_status st;
	char b1[40], b2[32];
	int c, fd, err;

	while ((c = kram_getopt(argc, argv, ":h", opts)) != -1)
		return kram_bad_opt(s, c, argv);
	if (optind < argc)
		return kram_usage_err(s, "takes no arguments");

	fd = kram_open(s);
	if (fd < 0) {
		kram_check_cmdline("/proc/cmdline");
		return 1;
	}
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	err = kram_ioctl(fd, KRAM_IOC_STATUS, &st);
	close(fd);
	if (err) {
		kram_err(s, KRAM_IOC_STATUS, err, "get the status");
		kram_check_cmdline("/proc/cmdline");
		return 1;
	}

	if (st.state < ARRAY_SIZE(states))
		printf("state:          %s\n", states[st.state]);
	else
		printf("state:          unknown (%u)\n", st.state);
	if (st.last_error)
		printf("last error:     %s (%d)\n", strerror(abs(st.last_error)),
		       st.last_error);
	if (st.state == KRAM_STATE_REFUSED)
		printf("                the kernel log (dmesg) says why; reformat=1 would\n"
		       "                format the region anew, losing what it holds\n");
	if (st.region_size || st.state != KRAM_STATE_DETACHED) {
		printf("region base:    0x%llx (%s)\n",
		       (unsigned long long)st.region_base,
		       mib(st.region_base, b1, sizeof(b1)));
		printf("region size:    0x%llx (%s)\n",
		       (unsigned long long)st.region_size,
		       mib(st.region_size, b1, sizeof(b1)));
	}
	if (st.state == KRAM_STATE_ATTACHED) {
		printf("generation:     %llu (attaches, reloads included)\n",
		       (unsigned long long)st.generation);
		printf("boot count:     %llu (boots of the host)\n",
		       (unsigned long long)st.boot_count);
		printf("uuid:           %s\n", fmt_uuid(st.uuid, b1, sizeof(b1)));
		printf("format version: %u\n", st.format_version);
		printf("pages:          %llu total, %llu meta, %llu data\n",
		       (unsigned long long)st.nr_pages,
		       (unsigned long long)st.meta_pages,
		       (unsigned long long)st.data_pages);
		printf("data pages:     %llu free (%s), %llu dynamic, %llu in areas\n",
		       (unsigned long long)st.free_pages,
		       human(st.free_pages * KRAM_PAGE_SIZE, b1, sizeof(b1)),
		       (unsigned long long)st.dynamic_pages,
		       (unsigned long long)st.area_pages);
		printf("areas:          %u of %u\n", st.nr_areas, st.max_areas);
		printf("attach time:    %s metadata check, %s struct pages\n",
		       fmt_ms(st.attach_ns, b1, sizeof(b1)),
		       fmt_ms(st.memmap_ns, b2, sizeof(b2)));
	}
	kram_check_cmdline("/proc/cmdline");
	return 0;
}

/*
 * KRAM_IOC_AREA_LIST into a new array (*areas, free() it): *count entries
 * of *total live areas (fewer if areas kept appearing while listing).
 * 0 or -errno.
 */
static int kram_list_areas(int fd, struct kram_area_info **areas, u32 *count, u32 *total)
{
	struct kram_area_info *a = NULL, *na;
	struct kram_area_list l;
	u32 n = 0;
	int err, tries;

	/* Learn the total with count 0; retry if areas appear meanwhile. */
	for (tries = 0; ; tries++) {
		memset(&l, 0, sizeof(l));
		l.size = sizeof(l);
		l.count = n;
		l.areas = (unsigned long)a;
		err = kram_ioctl(fd, KRAM_IOC_AREA_LIST, &l);
		if (err) {
			free(a);
			return err;
		}
		if (l.total <= n || tries == 4)
			break;
		n = l.total + 8;
		na = realloc(a, n * sizeof(*a));
		if (!na) {
			free(a);
			return -ENOMEM;
		}
		a = na;
		memset(a, 0, n * sizeof(*a));
	}
	*areas = a;
	*count = l.count < n ? l.count : n;
	*total = l.total;
	return 0;
}

static int sub_areas(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct kram_area_info *a = NULL;
	int c, fd, err, wn = 4, wv = 7;
	char dev[PATH_MAX], sz[32];
	u32 i, count, total;

	while ((c = kram_getopt(argc, argv, ":h", opts)) != -1)
		return kram_bad_opt(s, c, argv);
	if (optind < argc)
		return kram_usage_err(s, "takes no arguments");

	fd = kram_open(s);
	if (fd < 0)
		return 1;
	err = kram_list_areas(fd, &a, &count, &total);
	if (err) {
		kram_err(s, err == -ENOMEM ? 0 : KRAM_IOC_AREA_LIST, err, "list the areas");
		goto out;
	}

	for (i = 0; i < count; i++) {
		a[i].name[KRAM_NAME_LEN - 1] = '\0';
		a[i].version[KRAM_VERSION_LEN - 1] = '\0';
		if ((int)strlen(a[i].name) > wn)
			wn = strlen(a[i].name);
		if ((int)strlen(a[i].version) > wv)
			wv = strlen(a[i].version);
	}
	printf("%-*s %-*s %10s %7s %10s %11s %5s %s\n", wn, "NAME", wv,
	       "VERSION", "PAGES", "SIZE", "FIRST_PAGE", "CREATED_GEN", "USERS",
	       "DEVICE");
	for (i = 0; i < count; i++) {
		if (a[i].flags & KRAM_AREA_INFO_USER)
			snprintf(dev, sizeof(dev), "%s/kram_areas/%s", dev_root,
				 a[i].name);
		else
			snprintf(dev, sizeof(dev), "(kernel-owned)");
		printf("%-*s %-*s %10llu %7s %10llu %11llu %5u %s\n",
		       wn, a[i].name, wv, a[i].version[0] ? a[i].version : "-",
		       (unsigned long long)a[i].nr_pages,
		       human(a[i].nr_pages * KRAM_PAGE_SIZE, sz, sizeof(sz)),
		       (unsigned long long)a[i].first_page,
		       (unsigned long long)a[i].created_generation,
		       a[i].users, dev);
	}
	if (total > count)
		fprintf(stderr, "hvkitctl kram areas: %u more areas appeared while listing\n",
			total - count);
out:
	free(a);
	close(fd);
	return err ? 1 : 0;
}

static bool kram_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len < 1 || len >= KRAM_NAME_LEN || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

static int sub_create(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *version = "", *name;
	struct kram_area_create ac;
	char sz[32];
	u64 nr_pages;
	int c, fd, err;
	size_t i;

	while ((c = kram_getopt(argc, argv, ":v:h", opts)) != -1) {
		switch (c) {
		case 'v':
			version = optarg;
			break;
		default:
			return kram_bad_opt(s, c, argv);
		}
	}
	if (argc - optind != 2)
		return kram_usage_err(s, "needs NAME and SIZE");
	name = argv[optind];
	if (!kram_name_ok(name))
		return kram_usage_err(s,
				      "bad NAME '%s': 1-%d characters of A-Z a-z 0-9 . _ -, not \".\" or \"..\"",
				      name, KRAM_NAME_LEN - 1);
	if (strlen(version) >= KRAM_VERSION_LEN)
		return kram_usage_err(s, "--version: at most %d characters",
				      KRAM_VERSION_LEN - 1);
	for (i = 0; version[i]; i++)
		if (!isprint((unsigned char)version[i]))
			return kram_usage_err(s, "--version: printable characters only");
	err = parse_size(argv[optind + 1], &nr_pages);
	if (err == -EDOM)
		return kram_usage_err(s,
				      "SIZE '%s' is not a multiple of 4096 bytes (pages: add p, e.g. 16p)",
				      argv[optind + 1]);
	if (err)
		return kram_usage_err(s,
				      "bad SIZE '%s': pages (16p) or bytes, optionally with K, M, G (64M)",
				      argv[optind + 1]);

	fd = kram_open(s);
	if (fd < 0)
		return 1;
	memset(&ac, 0, sizeof(ac));
	ac.size = sizeof(ac);
	ac.nr_pages = nr_pages;
	strncpy(ac.name, name, sizeof(ac.name) - 1);
	strncpy(ac.version, version, sizeof(ac.version) - 1);
	err = kram_ioctl(fd, KRAM_IOC_AREA_CREATE, &ac);
	close(fd);
	if (err) {
		kram_err(s, KRAM_IOC_AREA_CREATE, err,
			 "create area '%s' of %llu page%s", name,
			 (unsigned long long)nr_pages, PLURAL(nr_pages));
		return 1;
	}
	printf("created area %s: %llu page%s (%s)\n", name,
	       (unsigned long long)nr_pages, PLURAL(nr_pages),
	       human(nr_pages * KRAM_PAGE_SIZE, sz, sizeof(sz)));
	printf("first_page: %llu\n", (unsigned long long)ac.first_page);
	printf("device: %s/kram_areas/%s\n", dev_root, name);
	return 0;
}

static int sub_delete(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct kram_area_delete ad;
	const char *name;
	int c, fd, err;

	while ((c = kram_getopt(argc, argv, ":h", opts)) != -1)
		return kram_bad_opt(s, c, argv);
	if (argc - optind != 1)
		return kram_usage_err(s, "needs one NAME");
	name = argv[optind];
	if (!kram_name_ok(name))
		return kram_usage_err(s, "bad NAME '%s'", name);

	fd = kram_open(s);
	if (fd < 0)
		return 1;
	memset(&ad, 0, sizeof(ad));
	ad.size = sizeof(ad);
	strncpy(ad.name, name, sizeof(ad.name) - 1);
	err = kram_ioctl(fd, KRAM_IOC_AREA_DELETE, &ad);
	close(fd);
	if (err) {
		kram_err(s, KRAM_IOC_AREA_DELETE, err, "delete area '%s'",
			 name);
		return 1;
	}
	printf("deleted area %s\n", name);
	return 0;
}

static int sub_alloc(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "zero", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct page_vec pv = {};
	bool have_tag = false;
	u32 tag = 0, flags = 0, batch;
	struct kram_pages p;
	int c, fd, err, ret = 1;
	size_t i, freed;
	u64 count = 1;

	while ((c = kram_getopt(argc, argv, ":t:n:zh", opts)) != -1) {
		switch (c) {
		case 't':
			if (parse_tag(s, optarg, &tag, true))
				return 2;
			have_tag = true;
			break;
		case 'n':
			if (parse_u64(optarg, &count, NULL) || !count)
				return kram_usage_err(s, "bad --count '%s': a number >= 1",
						      optarg);
			break;
		case 'z':
			flags |= KRAM_ALLOC_ZERO;
			break;
		default:
			return kram_bad_opt(s, c, argv);
		}
	}
	if (!have_tag)
		return kram_usage_err(s, "needs --tag TAG");
	if (optind < argc)
		return kram_usage_err(s, "unexpected argument '%s'",
				      argv[optind]);
	if (count > SIZE_MAX / sizeof(u64))
		return kram_usage_err(s, "--count %llu is too large",
				      (unsigned long long)count);

	fd = kram_open(s);
	if (fd < 0)
		return 1;
	while (pv.n < count) {
		batch = count - pv.n > KRAM_MAX_BATCH ? KRAM_MAX_BATCH :
			(u32)(count - pv.n);
		err = page_vec_reserve(&pv, batch);
		if (err) {
			kram_err(s, 0, err, "room for %llu page indexes",
				 (unsigned long long)count);
			goto undo;
		}
		kram_pages_init(&p, tag, flags, pv.v + pv.n, batch);
		err = kram_ioctl(fd, KRAM_IOC_ALLOC, &p);
		if (err) {
			kram_err(s, KRAM_IOC_ALLOC, err,
				 "allocate %llu page%s with tag 0x%x",
				 (unsigned long long)count, PLURAL(count), tag);
			goto undo;
		}
		pv.n += batch;
	}
	for (i = 0; i < pv.n; i++)
		printf("%llu\n", (unsigned long long)pv.v[i]);
	ret = 0;
	goto out;
undo:
	/* All or nothing, like one ALLOC: give back the earlier batches. */
	err = kram_free_pages(fd, tag, pv.v, pv.n, &freed);
	if (err)
		kram_err(s, KRAM_IOC_FREE, err,
			 "free the %zu page%s allocated before the error (%zu freed; 'hvkitctl kram free --tag 0x%x --all' frees the rest)",
			 pv.n, PLURAL(pv.n), freed, tag);
out:
	free(pv.v);
	close(fd);
	return ret;
}

static int sub_free(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct page_vec pv = {};
	bool have_tag = false, all = false, ioc;
	int c, fd, err, ret = 1;
	size_t freed;
	u32 tag = 0;
	u64 pg;

	while ((c = kram_getopt(argc, argv, ":t:ah", opts)) != -1) {
		switch (c) {
		case 't':
			if (parse_tag(s, optarg, &tag, true))
				return 2;
			have_tag = true;
			break;
		case 'a':
			all = true;
			break;
		default:
			return kram_bad_opt(s, c, argv);
		}
	}
	if (!have_tag)
		return kram_usage_err(s, "needs --tag TAG");
	if (all && optind < argc)
		return kram_usage_err(s, "--all or PGOFF..., not both");
	if (!all && optind == argc)
		return kram_usage_err(s, "needs PGOFF... or --all");
	for (; optind < argc; optind++) {
		if (parse_u64(argv[optind], &pg, NULL))
			return kram_usage_err(s, "bad PGOFF '%s': decimal or 0x hex",
					      argv[optind]);
		if (page_vec_add(&pv, &pg, 1)) {
			free(pv.v);
			fprintf(stderr, "hvkitctl kram free: %s\n",
				strerror(ENOMEM));
			return 1;
		}
	}

	fd = kram_open(s);
	if (fd < 0)
		goto out_free;
	if (all) {
		err = kram_walk_tag(fd, tag, page_vec_add, &pv, &ioc);
		if (err) {
			kram_err(s, ioc ? KRAM_IOC_WALK : 0, err,
				 "walk tag 0x%x", tag);
			goto out;
		}
	}
	err = kram_free_pages(fd, tag, pv.v, pv.n, &freed);
	if (err) {
		if (freed)
			kram_err(s, KRAM_IOC_FREE, err,
				 "free %zu pages of tag 0x%x (the first %zu were freed)",
				 pv.n, tag, freed);
		else
			kram_err(s, KRAM_IOC_FREE, err,
				 "free %zu page%s of tag 0x%x", pv.n,
				 PLURAL(pv.n), tag);
		goto out;
	}
	printf("freed %zu page%s\n", freed, PLURAL(freed));
	ret = 0;
out:
	close(fd);
out_free:
	free(pv.v);
	return ret;
}

static int sub_walk(const struct kram_sub *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "count-only", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool have_tag = false, count_only = false, ioc;
	int c, fd, err;
	u64 n = 0;
	u32 tag = 0;

	while ((c = kram_getopt(argc, argv, ":t:ch", opts)) != -1) {
		switch (c) {
		case 't':
			if (parse_tag(s, optarg, &tag, false))
				return 2;
			have_tag = true;
			break;
		case 'c':
			count_only = true;
			break;
		default:
			return kram_bad_opt(s, c, argv);
		}
	}
	if (!have_tag)
		return kram_usage_err(s, "needs --tag TAG");
	if (optind < argc)
		return kram_usage_err(s, "unexpected argument '%s'",
				      argv[optind]);

	fd = kram_open(s);
	if (fd < 0)
		return 1;
	err = kram_walk_tag(fd, tag, count_only ? walk_count : walk_print, &n,
			    &ioc);
	close(fd);
	if (err) {
		kram_err(s, ioc ? KRAM_IOC_WALK : 0, err, "walk tag 0x%x", tag);
		return 1;
	}
	if (count_only)
		printf("%llu\n", (unsigned long long)n);
	return 0;
}

static const struct kram_sub kram_subs[] = {
	{ "status", sub_status, "status",
	  "State of the region (attached, refused), usage, timings." },
	{ "areas", sub_areas, "areas", "List the areas." },
	{ "create", sub_create, "create NAME SIZE [--version STR]",
	  "Create an area; SIZE: pages (16p) or bytes with K/M/G (64M)." },
	{ "delete", sub_delete, "delete NAME",
	  "Delete an area and free its pages." },
	{ "alloc", sub_alloc, "alloc --tag TAG [--count N] [--zero]",
	  "Allocate N pool pages for TAG (>= 0x80000000); print their indexes." },
	{ "free", sub_free, "free --tag TAG {PGOFF...|--all}",
	  "Free pool pages of TAG: these, or all of them." },
	{ "walk", sub_walk, "walk --tag TAG [--count-only]",
	  "Print the pool pages of TAG, or how many there are." },
};

int cmd_kram(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	size_t i;

	if (!sub) {
		kram_help(stderr);
		return 2;
	}
	if (!strcmp(sub, "help") || !strcmp(sub, "--help") ||
	    !strcmp(sub, "-h")) {
		kram_help(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(kram_subs); i++) {
		if (!strcmp(sub, kram_subs[i].name)) {
			optind = 0;	/* see kram_getopt() */
			return kram_subs[i].fn(&kram_subs[i], argc - 1,
					       argv + 1);
		}
	}
	fprintf(stderr,
		"hvkitctl kram: unknown subcommand '%s'\n"
		"Usage: hvkitctl kram {status|areas|create|delete|alloc|free|walk|help} ...\n",
		sub);
	return 2;
}

/* <dev_root>/kram without messages: the fd, or -errno. */
static int kram_open_quiet(void)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/kram", dev_root);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* For other command groups (liveupdate.c): no messages, -errno. */
int kram_get_status(struct kram_status *st)
{
	int fd = kram_open_quiet(), err;

	if (fd < 0)
		return fd;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	err = kram_ioctl(fd, KRAM_IOC_STATUS, st);
	close(fd);
	return err;
}

int kram_find_area(const char *name, struct kram_area_info *info)
{
	struct kram_area_info *a = NULL;
	int fd = kram_open_quiet(), err;
	u32 i, count, total;

	if (fd < 0)
		return fd;
	err = kram_list_areas(fd, &a, &count, &total);
	close(fd);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < count; i++) {
		a[i].name[KRAM_NAME_LEN - 1] = '\0';
		if (!strcmp(a[i].name, name)) {
			*info = a[i];
			err = 0;
			break;
		}
	}
	free(a);
	return err;
}
