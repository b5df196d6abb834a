// SPDX-License-Identifier: GPL-2.0
/*
 * edu_dma: drive QEMU's "edu" PCI device (1234:11e8) from user space, as
 * the workload of a VM (L2) that has it passed through and lives through
 * a live update of its host (L1). Its state lives in the device: a 4 KiB
 * DMA buffer and a liveness register (0x04 reads back the inverse of the
 * last write). Nothing in edu resets them but the device's removal, so
 * after a live update they show the device was kept, and a DMA through
 * the host's new IOMMU mapping shows that it still works.
 *
 *   edu_dma fill SEED    write SEED into register 0x04; DMA 2 KiB of
 *                        pseudo-random bytes from SEED (guest RAM -> the
 *                        device's buffer)
 *   edu_dma check SEED   register 0x04 must read ~SEED; DMA the device's
 *                        buffer into a zeroed page (device -> guest RAM)
 *                        and compare it with SEED's bytes
 *
 * Enables memory decode and bus master in the command register (sysfs
 * config), maps BAR 0 (sysfs resource0) and gives the device the page's
 * guest-physical address (from /proc/self/pagemap: root only; edu's DMA
 * reaches the first 256 MiB, so in a bigger VM the page is one of many
 * taken until one lies below that). Exit 0 on success, 1 on a failure (the
 * reason on stderr).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define EDU_ID		0x010000edU	/* register 0x00 */
#define EDU_BUF		0x40000		/* the device's DMA buffer */
#define EDU_DMA_RUN	0x1
#define EDU_DMA_TO_RAM	0x2		/* edu: "to PCI" (device -> RAM) */
#define PAGE		4096
/*
 * Bytes per DMA: less than edu's 4 KiB buffer, whose range check counts
 * the end as inside (QEMU 7.2 hw/misc/edu.c edu_check_range(): a transfer
 * of all 4096 bytes is a "hardware error" that aborts the emulator).
 */
#define LEN		2048
#define PFN_MASK	0x007fffffffffffffULL
#define PRESENT		0x8000000000000000ULL

static __u8 *bar;

/* MMIO: one access of the register's width each, never merged or dropped. */
static __u32 rd32(unsigned int off)
{
	return __atomic_load_n((__u32 *)(bar + off), __ATOMIC_SEQ_CST);
}

static void wr32(unsigned int off, __u32 v)
{
	__atomic_store_n((__u32 *)(bar + off), v, __ATOMIC_SEQ_CST);
}

static __u64 rd64(unsigned int off)
{
	return __atomic_load_n((__u64 *)(bar + off), __ATOMIC_SEQ_CST);
}

static void wr64(unsigned int off, __u64 v)
{
	__atomic_store_n((__u64 *)(bar + off), v, __ATOMIC_SEQ_CST);
}

static int fail(const char *msg)
{
	fprintf(stderr, "edu_dma: %s\n", msg);
	return 1;
}

/* The first edu device's sysfs directory in @dir, or -1. */
static int find_edu(char *dir, size_t len)
{
	struct dirent *e;
	DIR *d = opendir(PCI_DEVICES);
	int found = -1;

	if (!d)
		return -1;
	while (found && (e = readdir(d))) {
		char path[512], id[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", e->d_name);
		f = fopen(path, "r");
		if (!f || !fgets(id, sizeof(id), f) || strncmp(id, "0x1234", 6)) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", e->d_name);
		f = fopen(path, "r");
		if (f && fgets(id, sizeof(id), f) && !strncmp(id, "0x11e8", 6)) {
			snprintf(dir, len, PCI_DEVICES "/%s", e->d_name);
			found = 0;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return found;
}

static void pattern(__u8 *p, __u32 seed)
{
	__u64 x = seed * 0x9e3779b97f4a7c15ULL + 1;
	int i;

	for (i = 0; i < LEN; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x >> 24;
	}
}

/*
 * A locked page below 256 MiB (edu's DMA mask: 28 bits), its address in
 * *gpa: the first such page of up to 64 chunks of 4 MiB, locked and
 * touched; the chunks not used are given back. NULL if there is none.
 */
static __u8 *low_page(__u64 *gpa)
{
	const size_t chunk = 4 << 20, n = chunk / PAGE;
	__u64 *ent = malloc(n * sizeof(*ent));
	int fd = open("/proc/self/pagemap", O_RDONLY);
	__u8 *found = NULL;
	size_t i = 0;
	int c;

	if (!ent || fd < 0)
		goto out;
	for (c = 0; c < 64 && !found; c++) {
		__u8 *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

		if (p == MAP_FAILED)
			break;
		/* Locked, so that the pages stay where pagemap says. */
		if (mlock(p, chunk) ||
		    pread(fd, ent, n * sizeof(*ent), (uintptr_t)p / PAGE * sizeof(*ent)) !=
		    (ssize_t)(n * sizeof(*ent))) {
			munmap(p, chunk);
			break;
		}
		for (i = 0; i < n; i++) {
			__u64 a = (ent[i] & PFN_MASK) * PAGE;

			if ((ent[i] & PRESENT) && a && a + PAGE <= (1ULL << 28)) {
				found = p + i * PAGE;
				*gpa = a;
				break;
			}
		}
		/* Keep only the page found (the chunks before it are not
		 * unmapped until now: they keep their pages from coming back).
		 */
		if (found) {
			if (i)
				munmap(p, i * PAGE);
			if (i + 1 < n)
				munmap(p + (i + 1) * PAGE, chunk - (i + 1) * PAGE);
		}
	}
	printf("edu_dma: page below 256 MiB at 0x%llx after %d chunk(s) of 4 MiB\n",
	       found ? (unsigned long long)*gpa : 0ULL, c);
out:
	if (fd >= 0)
		close(fd);
	free(ent);
	return found;
}

/* One DMA of LEN bytes between @gpa and the device's buffer; 0 when done. */
static int dma(__u64 gpa, int to_ram)
{
	struct timespec t0, t;

	if (rd64(0x98) & EDU_DMA_RUN)
		return fail("a DMA is already running");
	wr64(0x80, to_ram ? EDU_BUF : gpa);
	wr64(0x88, to_ram ? gpa : EDU_BUF);
	wr64(0x90, LEN);
	wr64(0x98, EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rd64(0x98) & EDU_DMA_RUN) {
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 20)
			return fail("the DMA did not finish in 20 s");
	}
	return 0;
}

int main(int argc, char **argv)
{
	char dir[300], path[400];
	__u8 *page, *want;
	__u16 cmd;
	__u32 seed;
	__u64 gpa = 0;
	int fd, check, i;

	if (argc != 3 || (strcmp(argv[1], "fill") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: edu_dma fill|check SEED\n");
		return 2;
	}
	check = !strcmp(argv[1], "check");
	seed = strtoul(argv[2], NULL, 0);
	if (find_edu(dir, sizeof(dir)))
		return fail("no edu device (1234:11e8)");
	snprintf(path, sizeof(path), "%s/config", dir);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &cmd, 2, 4) != 2)
		return fail("cannot read its command register");
	printf("edu %s command 0x%04x\n", strrchr(dir, '/') + 1, cmd);
	if ((cmd & 0x6) != 0x6) {
		cmd |= 0x6;	/* memory decode, bus master */
		if (pwrite(fd, &cmd, 2, 4) != 2)
			return fail("cannot write its command register");
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/resource0", dir);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return fail("cannot open resource0");
	bar = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		return fail("cannot map BAR 0");
	if (rd32(0) != EDU_ID)
		return fail("register 0x00 is not edu's identification");

	page = low_page(&gpa);
	want = malloc(PAGE);
	if (!page || !want)
		return fail("no page below 256 MiB could be locked (edu's DMA reaches no higher)");
	pattern(want, seed);
	if (!check) {
		memcpy(page, want, LEN);
		wr32(0x04, seed);
		if (rd32(0x04) != ~seed)
			return fail("register 0x04 does not read back the inverse");
		if (dma(gpa, 0))
			return 1;
		printf("edu filled: register 0x04 = 0x%08x, page at 0x%llx DMAed to the device\n",
		       rd32(0x04), (unsigned long long)gpa);
		return 0;
	}
	i = rd32(0x04);
	printf("edu register 0x04 = 0x%08x (want 0x%08x)\n", i, ~seed);
	if ((__u32)i != ~seed)
		return fail("register 0x04 lost its value: the device was reset or replaced");
	memset(page, 0, PAGE);
	if (dma(gpa, 1))
		return 1;
	for (i = 0; i < LEN && page[i] == want[i]; i++)
		;
	printf("edu buffer DMAed into 0x%llx: %s\n", (unsigned long long)gpa,
	       i == LEN ? "all 2048 bytes as filled" : "differs");
	if (i != LEN)
		return fail("the device's buffer is not what was filled (or the DMA did not land)");
	return 0;
}
