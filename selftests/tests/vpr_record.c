// SPDX-License-Identifier: GPL-2.0
/*
 * vpr_record: edit a vfio_preserve kram record from userspace, to test the
 * module's refusals after a reload (the record layout is
 * vfio_preserve/vpr_state.h's struct vpr_record). The area is kernel-owned:
 * userspace reaches it only through /dev/mem while kram is unloaded, so
 * AREA is FILE@OFFSET, e.g. /dev/mem@0x10203000 (the area's physical
 * address, from /sys/kernel/debug/kram/areas).
 *
 *   vpr_record AREA SLOT vendor HEX   newest copy with another vendor id,
 *                                     re-sealed (valid CRC, seq + 1)
 *   vpr_record AREA SLOT corrupt      flip a config byte in both copies
 *                                     (CRC no longer matches)
 *   vpr_record AREA SLOT boot N       newest copy saved in kram boot N,
 *                                     re-sealed (seq + 1)
 *   vpr_record AREA SLOT show         both copies (seq, flags, CRC) and
 *                                     the newest valid one: what the next
 *                                     load would read (flags 0: a
 *                                     tombstone, the slot was erased)
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>

#define COPY_BYTES	(2 * 4096)
#define SLOT_BYTES	(2 * COPY_BYTES)
#define HDR_SIZE	176
#define CFG_SIZE	4096
#define MAGIC		0x31525056

/* struct vpr_record, as vpr_state.h lays it out (x86-64). */
struct rec {
	__u32 magic, version, crc, seq, flags, cfg_size;
	__u32 domain;
	__u8 bus, devfn;
	__u16 pad0;
	__u16 vendor, device, subvendor, subdevice;
	__u32 class;
	__u8 revision, hdr_type, path_depth, pad1;
	__u64 dsn;
	__u64 bar_len[6];
	__u8 path[16];
	__u64 saved_gen, saved_ns, saved_boot;
	__u64 binding, opens, arms, runs;	/* struct vpr_hist */
	__u8 cfg[CFG_SIZE];
};

/* The kernel's crc32_le(): reflected 0xedb88320, no final inversion. */
static __u32 crc32_le(__u32 crc, const void *buf, size_t len)
{
	const __u8 *p = buf;
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
	}
	return crc;
}

static void seal(struct rec *r)
{
	r->crc = 0;
	r->crc = crc32_le(~0U, r, HDR_SIZE + r->cfg_size);
}

static bool sealed(struct rec *r)
{
	__u32 crc = r->crc;
	bool ok;

	if (r->magic != MAGIC || r->cfg_size > CFG_SIZE)
		return false;
	seal(r);
	ok = r->crc == crc;
	r->crc = crc;
	return ok;
}

static int io(int fd, struct rec *r, off_t off, int wr)
{
	ssize_t n = wr ? pwrite(fd, r, sizeof(*r), off) : pread(fd, r, sizeof(*r), off);

	if (n != (ssize_t)sizeof(*r)) {
		perror(wr ? "vpr_record: pwrite" : "vpr_record: pread");
		return -1;
	}
	return 0;
}

/*
 * Which of a slot's two copies is the newer of those @ok says count (the
 * sequence numbers compared as the module does, across a wrap); -1: none.
 */
static int newest_of(struct rec *r[2], const bool ok[2])
{
	if (!ok[0] && !ok[1])
		return -1;
	return ok[1] && (!ok[0] || (__s32)(r[1]->seq - r[0]->seq) > 0);
}

int main(int argc, char **argv)
{
	struct rec *r[2];
	bool ok[2];
	int fd, slot, newest, i;
	off_t off[2], base = 0;
	char *at;
	bool vendor = argc == 5 && !strcmp(argv[3], "vendor");
	bool boot = argc == 5 && !strcmp(argv[3], "boot");
	bool corrupt = argc == 4 && !strcmp(argv[3], "corrupt");
	bool show = argc == 4 && !strcmp(argv[3], "show");

	if (offsetof(struct rec, cfg) != HDR_SIZE) {
		fprintf(stderr, "vpr_record: header layout differs from vpr_state.h\n");
		return 1;
	}
	if (!vendor && !corrupt && !boot && !show) {
		fprintf(stderr, "usage: vpr_record FILE@OFFSET SLOT vendor HEX\n"
			"       vpr_record FILE@OFFSET SLOT corrupt\n"
			"       vpr_record FILE@OFFSET SLOT boot N\n"
			"       vpr_record FILE@OFFSET SLOT show\n");
		return 2;
	}
	slot = atoi(argv[2]);
	at = strchr(argv[1], '@');
	if (at) {
		*at = '\0';
		base = (off_t)strtoull(at + 1, NULL, 0);
	}
	fd = open(argv[1], show ? O_RDONLY : O_RDWR | O_SYNC);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	for (i = 0; i < 2; i++) {
		r[i] = calloc(1, sizeof(*r[i]));
		off[i] = base + (off_t)slot * SLOT_BYTES + i * COPY_BYTES;
		if (!r[i] || io(fd, r[i], off[i], 0))
			return 1;
	}
	if (show) {
		for (i = 0; i < 2; i++) {
			ok[i] = sealed(r[i]);
			printf("slot %d copy %d: magic %s, seq %u, flags %#x, crc %s\n", slot, i,
			       r[i]->magic == MAGIC ? "ok" : "none", r[i]->seq, r[i]->flags,
			       ok[i] ? "ok" : "bad");
		}
		newest = newest_of(r, ok);
		if (newest < 0) {
			printf("slot %d newest valid: none\n", slot);
			return 0;
		}
		printf("slot %d newest valid: copy %d, seq %u, flags %#x\n", slot, newest,
		       r[newest]->seq, r[newest]->flags);
		return 0;
	}
	/* Any copy with the magic, sealed or not: what the test changes. */
	for (i = 0; i < 2; i++)
		ok[i] = r[i]->magic == MAGIC;
	newest = newest_of(r, ok);
	if (newest < 0) {
		fprintf(stderr, "vpr_record: slot %d holds no record\n", slot);
		return 1;
	}
	if (corrupt) {
		for (i = 0; i < 2; i++) {
			r[i]->cfg[0x40] ^= 0xff;
			if (io(fd, r[i], off[i], 1))
				return 1;
		}
		printf("slot %d: both copies corrupted\n", slot);
		return 0;
	}
	if (boot) {
		printf("slot %d: copy %d, saved in boot %llu -> boot %s\n", slot, newest,
		       (unsigned long long)r[newest]->saved_boot, argv[4]);
		r[newest]->saved_boot = strtoull(argv[4], NULL, 0);
	} else {
		printf("slot %d: copy %d, %04x:%04x -> vendor %s\n", slot, newest,
		       r[newest]->vendor, r[newest]->device, argv[4]);
		r[newest]->vendor = (__u16)strtoul(argv[4], NULL, 16);
	}
	r[newest]->seq++;
	seal(r[newest]);
	return io(fd, r[newest], off[!newest], 1) ? 1 : 0;
}
