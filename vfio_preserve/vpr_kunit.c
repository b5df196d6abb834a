// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of vfio_preserve's record and decisions (vpr_state.h): the
 * record's seal and checks, torn writes, the two copies of a slot across a
 * crash in the middle of a write and a seq wrap, the identity compare, the
 * arm and restore policies, the config space compare and the Command
 * register written back after kexec. Synthetic data only, no device.
 */
#include <kunit/test.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
/*
 * The code under test is compiled into this module (vfio_preserve.ko
 * exports none of it).
 */
#include "vpr_state.c"

#define RECORD_SIZE	sizeof(struct vpr_record)

static const struct vpr_bdf test_bdf = { .domain = 0, .bus = 0x3a, .devfn = 0x10 };
static const struct vpr_ident test_ident = {
	.vendor = 0x8086, .device = 0x1572, .subvendor = 0x8086, .subdevice = 0x0001,
	.class = 0x020000, .revision = 0x02, .hdr_type = 0,
	.dsn = 0x0123456789abcdefULL, .bar_len = { 0x800000, 0, 0x8000, 0, 0, 0 },
	.path_depth = 2, .path = { 0x08, 0x00 },
};

static struct vpr_record *new_record(struct kunit *test)
{
	struct vpr_record *r = kunit_kzalloc(test, RECORD_SIZE, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, r);
	return r;
}

/* A config space whose every byte depends on @tag. */
static u8 *new_cfg(struct kunit *test, u8 tag)
{
	u8 *cfg = kunit_kzalloc(test, VPR_CFG_SIZE, GFP_KERNEL);
	unsigned int i;

	KUNIT_ASSERT_NOT_NULL(test, cfg);
	for (i = 0; i < VPR_CFG_SIZE; i++)
		cfg[i] = (u8)(i * 7 + tag * 31 + 1);
	return cfg;
}

/* Write record number @n of a slot into @r with @seq, as vfio_preserve does. */
static void write_record(struct kunit *test, struct vpr_record *r, u32 seq, u8 n)
{
	r->seq = seq;	/* before the fill: the seal covers it */
	vpr_record_fill(r, &test_bdf, &test_ident, new_cfg(test, n), VPR_CFG_SIZE,
			VPR_REC_ARMED, n, 1000ULL * n, 0, NULL);
}

static void record_roundtrip(struct kunit *test)
{
	struct vpr_record *r = new_record(test);
	u8 *cfg = new_cfg(test, 1);
	u32 crc;

	r->seq = 42;
	vpr_record_fill(r, &test_bdf, &test_ident, cfg, VPR_CFG_SIZE,
			VPR_REC_ARMED | VPR_REC_NO_USER_RESET, 7, 123456789ULL, 3, NULL);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);
	KUNIT_EXPECT_EQ(test, r->magic, (u32)VPR_RECORD_MAGIC);
	KUNIT_EXPECT_EQ(test, r->version, (u32)VPR_RECORD_VERSION);
	KUNIT_EXPECT_EQ(test, r->seq, 42U);	/* left alone */
	KUNIT_EXPECT_EQ(test, r->flags, VPR_REC_ARMED | VPR_REC_NO_USER_RESET);
	KUNIT_EXPECT_EQ(test, r->cfg_size, (u32)VPR_CFG_SIZE);
	KUNIT_EXPECT_EQ(test, r->bdf.bus, test_bdf.bus);
	KUNIT_EXPECT_EQ(test, r->bdf.devfn, test_bdf.devfn);
	KUNIT_EXPECT_EQ(test, vpr_ident_compare(&r->ident, &test_ident, NULL), 0);
	KUNIT_EXPECT_EQ(test, r->saved_gen, 7ULL);
	KUNIT_EXPECT_EQ(test, r->saved_ns, 123456789ULL);
	KUNIT_EXPECT_EQ(test, memcmp(r->cfg, cfg, VPR_CFG_SIZE), 0);

	/* Sealing again changes nothing; the seal covers seq. */
	crc = r->crc;
	vpr_record_seal(r);
	KUNIT_EXPECT_EQ(test, r->crc, crc);
	r->seq++;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	vpr_record_seal(r);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);
	KUNIT_EXPECT_NE(test, r->crc, crc);

	/* A conventional (256-byte) config space: the rest is zeroed. */
	vpr_record_fill(r, &test_bdf, &test_ident, cfg, 256, 0, 8, 0, 0, NULL);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);
	KUNIT_EXPECT_EQ(test, r->cfg_size, 256U);
	KUNIT_EXPECT_EQ(test, memcmp(r->cfg, cfg, 256), 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(r->cfg + 256, 0, VPR_CFG_SIZE - 256));
	/* ... and is outside the CRC. */
	r->cfg[300] ^= 0xff;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);
}

static void record_check_errors(struct kunit *test)
{
	struct vpr_record *r = new_record(test);
	static const u32 bad_sizes[] = { 0, 4, 128, 255, 257, 512, 1024, 4095, 4097, U32_MAX };
	unsigned int i;

	/* Never written. */
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -ENODATA);
	/* Magic 0 but something else written: not "never written". */
	r->seq = 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->seq = 0;
	r->saved_ns = 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->saved_ns = 0;
	/* A config space alone does not make a header. */
	r->cfg[0] = 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -ENODATA);

	write_record(test, r, 1, 1);
	KUNIT_ASSERT_EQ(test, vpr_record_check(r), 0);

	/* Bad magic, even resealed. */
	r->magic ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	vpr_record_seal(r);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->magic ^= 1;
	vpr_record_seal(r);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);

	/* A foreign version: whatever its size, flags and CRC. */
	r->version = VPR_RECORD_VERSION + 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EPROTO);
	r->cfg_size = 12345;
	r->flags = U32_MAX;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EPROTO);
	r->version = 0;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EPROTO);
	r->version = VPR_RECORD_VERSION;
	r->flags = VPR_REC_ARMED;
	r->cfg_size = VPR_CFG_SIZE;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);

	/* Sizes other than 256 and VPR_CFG_SIZE, even resealed. */
	for (i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		r->cfg_size = bad_sizes[i];
		if (bad_sizes[i] <= VPR_CFG_SIZE)
			vpr_record_seal(r);
		KUNIT_EXPECT_EQ_MSG(test, vpr_record_check(r), -EBADMSG, "cfg_size %u",
				    bad_sizes[i]);
	}
	r->cfg_size = VPR_CFG_SIZE;
	vpr_record_seal(r);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);

	/* Unknown flag bits, even resealed. */
	for (i = 2; i < 32; i++) {
		r->flags = VPR_REC_ARMED | BIT(i);
		vpr_record_seal(r);
		KUNIT_EXPECT_EQ_MSG(test, vpr_record_check(r), -EBADMSG, "flag bit %u", i);
	}
	r->flags = VPR_REC_FLAGS;
	vpr_record_seal(r);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);

	/* One byte flipped anywhere the CRC covers. */
	for (i = 0; i < RECORD_SIZE; i += 37) {
		u8 *p = (u8 *)r + i;

		*p ^= 0x40;
		KUNIT_EXPECT_NE_MSG(test, vpr_record_check(r), 0, "byte %u flipped", i);
		*p ^= 0x40;
	}
	r->cfg[VPR_CFG_SIZE - 1] ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->cfg[VPR_CFG_SIZE - 1] ^= 1;
	r->cfg[0x10] ^= 1;	/* a BAR */
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->cfg[0x10] ^= 1;
	r->crc ^= 0x80000000;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->crc ^= 0x80000000;
	r->saved_boot ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), -EBADMSG);
	r->saved_boot ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);
}

/*
 * A write stopped after @len bytes: the first @len bytes of @new over @old
 * (the copy's previous contents), in @out.
 */
static void tear(struct vpr_record *out, const struct vpr_record *old,
		 const struct vpr_record *new, size_t len)
{
	memcpy(out, old, RECORD_SIZE);
	memcpy(out, new, len);
}

static void record_torn_write(struct kunit *test)
{
	struct vpr_record *old = new_record(test), *new = new_record(test);
	struct vpr_record *zero = new_record(test), *t = new_record(test);
	unsigned int valid = 0;
	size_t len;

	write_record(test, old, 1, 1);
	write_record(test, new, 3, 2);
	KUNIT_ASSERT_EQ(test, vpr_record_check(old), 0);
	KUNIT_ASSERT_EQ(test, vpr_record_check(new), 0);

	/* Half of a new record over an old one, or over a never-written copy. */
	tear(t, old, new, RECORD_SIZE / 2);
	KUNIT_EXPECT_EQ(test, vpr_record_check(t), -EBADMSG);
	tear(t, zero, new, RECORD_SIZE / 2);
	KUNIT_EXPECT_EQ(test, vpr_record_check(t), -EBADMSG);
	/* The header written, the config space not. */
	tear(t, old, new, offsetof(struct vpr_record, cfg));
	KUNIT_EXPECT_EQ(test, vpr_record_check(t), -EBADMSG);
	/* All but the last byte. */
	tear(t, old, new, RECORD_SIZE - 1);
	KUNIT_EXPECT_EQ(test, vpr_record_check(t), -EBADMSG);

	/*
	 * Stopped at every 4-byte store: valid only when the contents are
	 * exactly the old or the new record.
	 */
	for (len = 0; len <= RECORD_SIZE; len += 4) {
		int err;

		tear(t, old, new, len);
		err = vpr_record_check(t);
		if (!err) {
			valid++;
			KUNIT_EXPECT_TRUE_MSG(test, !memcmp(t, old, RECORD_SIZE) ||
					      !memcmp(t, new, RECORD_SIZE),
					      "a mix of both passed at %zu bytes", len);
		} else {
			KUNIT_EXPECT_EQ_MSG(test, err, -EBADMSG, "at %zu bytes", len);
		}
		tear(t, zero, new, len);
		err = vpr_record_check(t);
		if (len == RECORD_SIZE)
			KUNIT_EXPECT_EQ(test, err, 0);
		else if (len == 0)
			KUNIT_EXPECT_EQ(test, err, -ENODATA);
		else if (len == sizeof(new->magic))	/* the magic, version 0 */
			KUNIT_EXPECT_EQ(test, err, -EPROTO);
		else
			KUNIT_EXPECT_EQ_MSG(test, err, -EBADMSG, "first write torn at %zu bytes",
					    len);
	}
	kunit_info(test, "%u of %zu tear points left a valid record (the old or the new)\n",
		   valid, RECORD_SIZE / 4 + 1);
}

static void slot_newest(struct kunit *test)
{
	struct vpr_record *a = new_record(test), *b = new_record(test);

	/* Both never written, then both corrupt: nothing. */
	KUNIT_EXPECT_NULL(test, vpr_slot_newest(a, b));
	write_record(test, a, 1, 1);
	write_record(test, b, 2, 2);
	a->cfg[9] ^= 1;
	b->cfg[9] ^= 1;
	KUNIT_EXPECT_NULL(test, vpr_slot_newest(a, b));
	a->cfg[9] ^= 1;
	b->cfg[9] ^= 1;

	/* Both valid: the higher seq. */
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	write_record(test, a, 3, 3);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), a);

	/* One invalid: the other, even with the lower seq. */
	a->flags |= BIT(7);	/* not resealed: bad CRC */
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	vpr_record_seal(a);	/* resealed: unknown flag */
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	write_record(test, a, 3, 3);
	a->version = VPR_RECORD_VERSION + 1;	/* a foreign version */
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	memset(a, 0, RECORD_SIZE);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(b, a), b);

	/* The seq wraps around U32_MAX: 0 is after U32_MAX. */
	write_record(test, a, U32_MAX, 4);
	write_record(test, b, 0, 5);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(b, a), b);
	write_record(test, a, 1, 6);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), a);
	write_record(test, a, U32_MAX - 1, 7);
	write_record(test, b, U32_MAX, 8);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);
	write_record(test, a, 0x7fffffff, 9);
	write_record(test, b, 0x80000000, 10);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), b);

	/* The same seq (never written so): A. */
	write_record(test, b, 0x7fffffff, 11);
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), a);
}

static void slot_target(struct kunit *test)
{
	struct vpr_record *a = new_record(test), *b = new_record(test);
	u32 seq = 0;

	/* Neither valid: A, seq 1. */
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 0);
	KUNIT_EXPECT_EQ(test, seq, 1U);
	write_record(test, a, 5, 1);
	write_record(test, b, 6, 2);
	a->magic = 0;
	b->crc++;
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 0);
	KUNIT_EXPECT_EQ(test, seq, 1U);

	/* One valid: the other one, after it. */
	b->crc--;
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 0);
	KUNIT_EXPECT_EQ(test, seq, 7U);
	write_record(test, a, 5, 1);
	b->seq = 0;	/* not resealed */
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 1);
	KUNIT_EXPECT_EQ(test, seq, 6U);

	/* Both valid: the older one. */
	write_record(test, b, 6, 2);
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 0);
	KUNIT_EXPECT_EQ(test, seq, 7U);
	write_record(test, a, 7, 3);
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 1);
	KUNIT_EXPECT_EQ(test, seq, 8U);

	/* Across the wrap. */
	write_record(test, a, U32_MAX, 4);
	write_record(test, b, U32_MAX - 1, 5);
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 1);
	KUNIT_EXPECT_EQ(test, seq, 0U);
	write_record(test, b, seq, 6);
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, &seq), 0);
	KUNIT_EXPECT_EQ(test, seq, 1U);

	/* next_seq may be NULL. */
	KUNIT_EXPECT_EQ(test, vpr_slot_target(a, b, NULL), 0);
}

/*
 * A slot written over and over across the seq wrap, then a write that
 * crashes halfway: the reader still gets the previous record, whole, and
 * the next write goes to the torn copy again.
 */
static void slot_crash_during_write(struct kunit *test)
{
	struct vpr_record *copy[2] = { new_record(test), new_record(test) };
	struct vpr_record *next = new_record(test), *prev = new_record(test);
	struct vpr_record *seen = new_record(test);
	const struct vpr_record *n;
	const u32 first = U32_MAX - 3;
	u32 seq;
	size_t len;
	u8 w;
	int t;

	/* Eight good writes, seq U32_MAX - 3 to 3: they alternate A, B, A... */
	for (w = 1; w <= 8; w++) {
		t = vpr_slot_target(copy[0], copy[1], &seq);
		KUNIT_EXPECT_EQ(test, t, (w - 1) & 1);
		if (w == 1) {
			KUNIT_EXPECT_EQ(test, seq, 1U);
			seq = first;	/* a slot that has lived long */
		} else {
			KUNIT_EXPECT_EQ(test, seq, first + w - 1);
		}
		write_record(test, copy[t], seq, w);
		n = vpr_slot_newest(copy[0], copy[1]);
		KUNIT_ASSERT_PTR_EQ(test, n, copy[t]);
		KUNIT_EXPECT_EQ(test, n->saved_gen, (u64)w);
	}
	KUNIT_EXPECT_EQ(test, copy[1]->seq, 3U);

	/* Write 9 goes to A, and crashes after half of it reached memory. */
	t = vpr_slot_target(copy[0], copy[1], &seq);
	KUNIT_ASSERT_EQ(test, t, 0);
	KUNIT_EXPECT_EQ(test, seq, 4U);
	memcpy(seen, copy[1], RECORD_SIZE);	/* what the reader must get */
	memcpy(prev, copy[0], RECORD_SIZE);	/* A before write 9: write 7 */
	write_record(test, next, seq, 9);
	memcpy(copy[0], next, RECORD_SIZE / 2);
	KUNIT_EXPECT_EQ(test, vpr_record_check(copy[0]), -EBADMSG);
	n = vpr_slot_newest(copy[0], copy[1]);
	KUNIT_ASSERT_PTR_EQ(test, n, copy[1]);
	KUNIT_EXPECT_EQ(test, n->seq, 3U);
	KUNIT_EXPECT_EQ(test, n->saved_gen, 8ULL);
	KUNIT_EXPECT_EQ(test, memcmp(n, seen, RECORD_SIZE), 0);
	KUNIT_EXPECT_EQ(test, memcmp(n->cfg, new_cfg(test, 8), VPR_CFG_SIZE), 0);

	/* After the reboot, the retry goes to the torn copy, same seq. */
	KUNIT_EXPECT_EQ(test, vpr_slot_target(copy[0], copy[1], &seq), 0);
	KUNIT_EXPECT_EQ(test, seq, 4U);

	/* The crash after every 8-byte store: the old record or the new one. */
	for (len = 0; len <= RECORD_SIZE; len += 8) {
		tear(copy[0], prev, next, len);
		n = vpr_slot_newest(copy[0], copy[1]);
		KUNIT_ASSERT_NOT_NULL(test, n);
		if (n == copy[0]) {
			KUNIT_EXPECT_EQ_MSG(test, n->seq, 4U, "at %zu bytes", len);
			KUNIT_EXPECT_EQ(test, memcmp(n, next, RECORD_SIZE), 0);
		} else {
			KUNIT_EXPECT_EQ_MSG(test, n->seq, 3U, "at %zu bytes", len);
			KUNIT_EXPECT_EQ(test, memcmp(n, seen, RECORD_SIZE), 0);
		}
	}
	/* Completed: the new record. */
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(copy[0], copy[1]), copy[0]);
	KUNIT_EXPECT_EQ(test, copy[0]->saved_gen, 9ULL);
}

/*
 * Erasing a slot (disarm, unbind) writes a tombstone as the next record.
 * Cut at every 8-byte store, the slot's newest record is the one before
 * the erase or the tombstone: never the older armed copy. (Zeroing both
 * copies in turn, as before, left the older armed copy valid when cut
 * between the two.)
 */
static void slot_erase_tombstone(struct kunit *test)
{
	struct vpr_record *a = new_record(test), *b = new_record(test);
	struct vpr_record *t = new_record(test), *old_b = new_record(test);
	const struct vpr_record *n;
	unsigned int cuts = 0;
	size_t len;
	u32 seq;
	int copy;

	/* B: an older armed record (seq 4); A: the newest (seq 5). */
	write_record(test, b, 4, 4);
	write_record(test, a, 5, 5);
	KUNIT_ASSERT_PTR_EQ(test, vpr_slot_armed(a, b), (const struct vpr_record *)a);
	copy = vpr_slot_target(a, b, &seq);
	KUNIT_ASSERT_EQ(test, copy, 1);
	KUNIT_ASSERT_EQ(test, seq, 6U);
	vpr_record_tombstone(t, seq);
	KUNIT_EXPECT_EQ(test, vpr_record_check(t), 0);
	KUNIT_EXPECT_EQ(test, t->flags, 0U);
	memcpy(old_b, b, RECORD_SIZE);
	for (len = 0; len <= RECORD_SIZE; len += 8) {
		tear(b, old_b, t, len);
		n = vpr_slot_newest(a, b);
		KUNIT_ASSERT_NOT_NULL(test, n);
		if (n == b) {
			KUNIT_EXPECT_EQ_MSG(test, n->seq, 6U, "cut at %zu bytes", len);
			KUNIT_EXPECT_NULL(test, vpr_slot_armed(a, b));
		} else {
			KUNIT_EXPECT_EQ_MSG(test, n->seq, 5U, "cut at %zu bytes", len);
			KUNIT_EXPECT_EQ(test, n->saved_gen, 5ULL);
			cuts++;
		}
		KUNIT_EXPECT_NE_MSG(test, n->saved_gen, 4ULL,
				    "cut at %zu bytes: the older armed record came back", len);
	}
	/* Complete: the slot is free; erasing again writes nothing new. */
	KUNIT_EXPECT_NULL(test, vpr_slot_armed(a, b));
	KUNIT_EXPECT_PTR_EQ(test, vpr_slot_newest(a, b), (const struct vpr_record *)b);
	kunit_info(test, "%u of %zu cut points left the record before the erase, the rest the tombstone\n",
		   cuts, RECORD_SIZE / 8 + 1);
}

static void ident_compare(struct kunit *test)
{
	static const char * const names[] = {
		"vendor", "device", "subvendor", "subdevice", "class", "revision",
		"header type", "BAR sizes", "serial number", "slot path",
	};
	struct vpr_ident now;
	const char *field = "unset";
	unsigned int i;

	now = test_ident;
	KUNIT_EXPECT_EQ(test, vpr_ident_compare(&test_ident, &now, &field), 0);
	KUNIT_EXPECT_NULL(test, field);
	now.__pad = 0xff;	/* padding is not identity */
	now.path[5] = 0x77;	/* nor path bytes beyond its depth */
	KUNIT_EXPECT_EQ(test, vpr_ident_compare(&test_ident, &now, NULL), 0);

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		now = test_ident;
		switch (i) {
		case 0:
			now.vendor = 0x10de;
			break;
		case 1:
			now.device++;
			break;
		case 2:
			now.subvendor = 0x1028;
			break;
		case 3:
			now.subdevice ^= 0x100;
			break;
		case 4:
			now.class = 0x010802;
			break;
		case 5:
			now.revision = 3;
			break;
		case 6:
			now.hdr_type = 1;
			break;
		case 7:
			now.bar_len[2] = 0x4000;	/* another BAR layout */
			break;
		case 8:
			now.dsn ^= 1;			/* same model, another unit */
			break;
		case 9:
			now.path[1] = 0x10;		/* behind another bridge */
			break;
		}
		field = NULL;
		KUNIT_EXPECT_EQ(test, vpr_ident_compare(&test_ident, &now, &field), -ESTALE);
		KUNIT_EXPECT_STREQ(test, field, names[i]);
		KUNIT_EXPECT_EQ(test, vpr_ident_compare(&test_ident, &now, NULL), -ESTALE);
	}

	/* Several differ: the first in order. */
	now = test_ident;
	now.revision++;
	now.subdevice++;
	now.device++;
	KUNIT_EXPECT_EQ(test, vpr_ident_compare(&test_ident, &now, &field), -ESTALE);
	KUNIT_EXPECT_STREQ(test, field, "device");
}

static void policy_arm(struct kunit *test)
{
	const struct vpr_arm_ctx good = { .group_devices = 1, .hdr_normal = true };
	struct vpr_arm_ctx c;
	const char *why;

	c = good;
	why = "unset";
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), 0);
	KUNIT_EXPECT_NULL(test, why);

	/* Each reason, and the first of them wins. */
	c = (struct vpr_arm_ctx){ .group_devices = -1, .is_bridge = true, .has_vfs = true };
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -ENODEV);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "IOMMU group"));

	c.group_devices = 2;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EINVAL);	/* bridge */
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "bridge"));

	c.is_bridge = false;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EINVAL);	/* type 1 header */
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "type 0"));

	c.hdr_normal = true;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);	/* VFs */
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "virtual functions"));

	c.has_vfs = false;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);	/* group */
	KUNIT_EXPECT_STREQ(test, why,
			   "its IOMMU group has other devices: only singleton groups are preserved");
	c.group_devices = 0;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);

	c.group_devices = 1;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), 0);

	/*
	 * Functions on the same bus: only those without a reset of their own
	 * refuse (a VF or a function with FLR is not counted by the caller).
	 */
	c.siblings_bus_reset_only = 1;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "bus reset"));
	/* ... and the group rule comes first. */
	c.group_devices = 2;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "IOMMU group"));
	c.group_devices = 1;
	c.siblings_bus_reset_only = 0;
	c.siblings_slot_reset = 2;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "hotplug slot"));
	c.siblings_slot_reset = 0;
	/* A VF on a virtual bus: its PF's bus reset would not see it. */
	c.vf_bus_apart = true;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EBUSY);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "virtual bus"));
	c.vf_bus_apart = false;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), 0);

	/* A bridge with a type 1 header in a singleton group. */
	c.is_bridge = true;
	c.hdr_normal = false;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, &why), -EINVAL);
	c = good;
	c.hdr_normal = false;
	KUNIT_EXPECT_EQ(test, vpr_policy_arm(&c, NULL), -EINVAL);
}

static void policy_restore(struct kunit *test)
{
	static const char * const names[] = {
		"vendor", "device", "subvendor", "subdevice", "class", "revision",
		"header type", "BAR sizes", "serial number", "slot path",
	};
	struct vpr_record *r = new_record(test);
	struct vpr_restore_ctx c = {
		.present = false, .bound = true, .bound_to_us = false,
		.group_devices = -1,
	};
	char want[64];
	const char *why;
	unsigned int i;

	r->seq = 1;
	vpr_record_fill(r, &test_bdf, &test_ident, new_cfg(test, 1), VPR_CFG_SIZE,
			VPR_REC_NO_USER_RESET, 1, 1, 0, NULL);
	c.now = test_ident;
	c.now.vendor = 0x1af4;

	/* Everything wrong: fixed one by one, in the order they are checked. */
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -EINVAL);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "not armed"));

	r->flags |= VPR_REC_ARMED;
	vpr_record_seal(r);
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ENODEV);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "no device"));

	c.present = true;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why,
			   "the device at this address is a different device (vendor changed)");

	c.now = test_ident;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -EBUSY);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "another driver"));

	c.bound_to_us = true;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ENODEV);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "no IOMMU group"));

	c.group_devices = 3;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -EBUSY);
	KUNIT_EXPECT_STREQ(test, why,
			   "its IOMMU group has other devices: only singleton groups are preserved");

	c.group_devices = 1;
	why = "unset";
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), 0);
	KUNIT_EXPECT_NULL(test, why);
	/* Not bound to any driver is as good as bound to us. */
	c.bound = false;
	c.bound_to_us = false;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, NULL), 0);
	/* A VF there now: SR-IOV setup reset it; no record may bind it ... */
	c.is_virtfn = true;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ESTALE);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "SR-IOV VF"));
	/* ... and that is said before "bound to another driver". */
	c.bound = true;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ESTALE);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "SR-IOV VF"));
	c.bound = false;
	c.is_virtfn = false;

	/* Each identity field gets its own sentence naming it. */
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		c.now = test_ident;
		switch (i) {
		case 0:
			c.now.vendor++;
			break;
		case 1:
			c.now.device++;
			break;
		case 2:
			c.now.subvendor++;
			break;
		case 3:
			c.now.subdevice++;
			break;
		case 4:
			c.now.class++;
			break;
		case 5:
			c.now.revision++;
			break;
		case 6:
			c.now.hdr_type = 2;
			break;
		case 7:
			c.now.bar_len[0] <<= 1;
			break;
		case 8:
			c.now.dsn = 0;
			break;
		case 9:
			c.now.path_depth = 1;
			break;
		}
		why = NULL;
		KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ESTALE);
		KUNIT_ASSERT_NOT_NULL(test, why);
		snprintf(want, sizeof(want), "(%s changed)", names[i]);
		KUNIT_EXPECT_NOT_NULL_MSG(test, strstr(why, want), "%s: %s", names[i], why);
	}

	/* A record of this boot (reload) or the one before (kexec) only. */
	c.now = test_ident;
	r->saved_boot = 7;
	vpr_record_seal(r);
	c.boot_now = 7;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, NULL), 0);
	c.boot_now = 8;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, NULL), 0);
	c.boot_now = 9;
	why = NULL;
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, &why), -ESTALE);
	KUNIT_ASSERT_NOT_NULL(test, why);
	KUNIT_EXPECT_NOT_NULL(test, strstr(why, "older than the previous boot"));
	c.boot_now = 6;		/* from the future: not this boot's either */
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, NULL), -ESTALE);
	c.boot_now = 0;		/* unknown: the identity decides */
	KUNIT_EXPECT_EQ(test, vpr_policy_restore(r, &c, NULL), 0);
}

static void cfg_diff(struct kunit *test)
{
	u8 *a = new_cfg(test, 3), *b = kunit_kzalloc(test, VPR_CFG_SIZE, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, b);
	memcpy(b, a, VPR_CFG_SIZE);
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 0U);
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, 0), 0U);

	/* Status (bytes 6 and 7) is not counted, Command (4 and 5) is. */
	b[PCI_STATUS] ^= 0xff;
	b[PCI_STATUS + 1] ^= 0xf9;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 0U);
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, 256), 0U);
	b[PCI_COMMAND] ^= PCI_COMMAND_MEMORY;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 1U);
	b[PCI_COMMAND] ^= PCI_COMMAND_MEMORY;
	b[PCI_COMMAND + 1] ^= PCI_COMMAND_INTX_DISABLE >> 8;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 1U);
	b[PCI_COMMAND + 1] ^= PCI_COMMAND_INTX_DISABLE >> 8;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 0U);

	/* The same bits elsewhere count: only dword 1 is masked. */
	b[0x46] ^= 0xff;
	b[0x47] ^= 0xff;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 1U);

	/* Dwords, not bytes: 4 bytes of one dword count once. */
	b[0x10] ^= 1;
	b[0x11] ^= 1;
	b[0x12] ^= 1;
	b[0x13] ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 2U);

	/* The first and last dwords; only @size bytes are compared. */
	b[0] ^= 1;
	b[VPR_CFG_SIZE - 1] ^= 0x80;
	b[256] ^= 2;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), 5U);
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, 256), 3U);
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, 4), 1U);
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(b, a, VPR_CFG_SIZE), 5U);
	/* Every dword differs, except the Status-only one. */
	memset(b, 0, VPR_CFG_SIZE);
	memset(a, 0xff, VPR_CFG_SIZE);
	a[PCI_COMMAND] = 0;
	a[PCI_COMMAND + 1] = 0;
	KUNIT_EXPECT_EQ(test, vpr_cfg_diff(a, b, VPR_CFG_SIZE), VPR_CFG_SIZE / 4U - 1);
}

static void restore_command(struct kunit *test)
{
	const u16 from_saved = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_PARITY |
			       PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;
	const u16 io_mem = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
	unsigned int bit;

	/* A device reset since: decode off, bus master off. */
	KUNIT_EXPECT_EQ(test, vpr_restore_command(io_mem | PCI_COMMAND_MASTER, 0, false),
			io_mem);
	KUNIT_EXPECT_EQ(test, vpr_restore_command(io_mem | PCI_COMMAND_MASTER, 0, true),
			io_mem | PCI_COMMAND_MASTER);
	/* Master as it is now without keep_master, whatever was saved. */
	KUNIT_EXPECT_EQ(test, vpr_restore_command(io_mem, PCI_COMMAND_MASTER, false),
			io_mem | PCI_COMMAND_MASTER);
	KUNIT_EXPECT_EQ(test, vpr_restore_command(io_mem, PCI_COMMAND_MASTER, true), io_mem);
	/* Other bits (VGA snoop, MWI, special cycles, ...) as now. */
	KUNIT_EXPECT_EQ(test, vpr_restore_command(PCI_COMMAND_VGA_PALETTE | PCI_COMMAND_SERR,
						  PCI_COMMAND_INVALIDATE, false),
			PCI_COMMAND_INVALIDATE | PCI_COMMAND_SERR);
	KUNIT_EXPECT_EQ(test, vpr_restore_command(0xffff, 0, false), from_saved);
	KUNIT_EXPECT_EQ(test, vpr_restore_command(0xffff, 0, true),
			from_saved | PCI_COMMAND_MASTER);
	KUNIT_EXPECT_EQ(test, vpr_restore_command(0, 0xffff, false), (u16)~from_saved);
	KUNIT_EXPECT_EQ(test, vpr_restore_command(0, 0xffff, true),
			(u16)~(from_saved | PCI_COMMAND_MASTER));

	/* Each bit on its own, both ways round. */
	for (bit = 0; bit < 16; bit++) {
		u16 m = BIT(bit);
		bool saved_bit = (from_saved & m) || m == PCI_COMMAND_MASTER;

		KUNIT_EXPECT_EQ_MSG(test, vpr_restore_command(m, 0, true), saved_bit ? m : 0,
				    "bit %u saved", bit);
		KUNIT_EXPECT_EQ_MSG(test, vpr_restore_command(0, m, true), saved_bit ? 0 : m,
				    "bit %u now", bit);
		saved_bit = from_saved & m;
		KUNIT_EXPECT_EQ_MSG(test, vpr_restore_command(m, 0, false), saved_bit ? m : 0,
				    "bit %u saved, no keep_master", bit);
		KUNIT_EXPECT_EQ_MSG(test, vpr_restore_command(0, m, false), saved_bit ? 0 : m,
				    "bit %u now, no keep_master", bit);
	}
}

/*
 * A version 2 record (an older vfio_preserve's, from before a kexec) is
 * read as this version: the same fields and config space, no history; a
 * corrupt one is left alone, and a current one is not touched.
 */
static void record_upgrade_v2(struct kunit *test)
{
	static const struct vpr_hist h = { 1, 2, 3, 4 };
	struct vpr_record *r = new_record(test), *v2;
	const size_t v2_hdr = offsetof(struct vpr_record, hist);
	u8 *cfg = new_cfg(test, 9);

	vpr_record_fill(r, &test_bdf, &test_ident, cfg, VPR_CFG_SIZE,
			VPR_REC_ARMED, 7, 99, 3, &h);
	KUNIT_EXPECT_EQ(test, vpr_record_upgrade(r), 1);
	KUNIT_EXPECT_EQ(test, vpr_record_check(r), 0);
	KUNIT_EXPECT_EQ(test, r->hist.runs, 4ULL);

	/* The same record as version 2 laid it out and sealed it. */
	v2 = kunit_kzalloc(test, sizeof(*v2), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, v2);
	memcpy(v2, r, v2_hdr);
	memcpy((u8 *)v2 + v2_hdr, cfg, VPR_CFG_SIZE);
	v2->version = 2;
	v2->crc = 0;
	v2->crc = crc32_le(~0U, (u8 *)v2, v2_hdr + VPR_CFG_SIZE);
	KUNIT_EXPECT_EQ(test, vpr_record_check(v2), -EPROTO);
	((u8 *)v2)[v2_hdr + 5] ^= 1;	/* corrupt: left alone */
	KUNIT_EXPECT_EQ(test, vpr_record_upgrade(v2), -EBADMSG);
	KUNIT_EXPECT_EQ(test, v2->version, 2U);
	((u8 *)v2)[v2_hdr + 5] ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_record_upgrade(v2), 0);
	KUNIT_EXPECT_EQ(test, vpr_record_check(v2), 0);
	KUNIT_EXPECT_EQ(test, v2->version, (u32)VPR_RECORD_VERSION);
	KUNIT_EXPECT_EQ(test, memcmp(v2->cfg, cfg, VPR_CFG_SIZE), 0);
	KUNIT_EXPECT_EQ(test, v2->saved_boot, 3ULL);
	KUNIT_EXPECT_EQ(test, v2->hist.binding, 0ULL);
	KUNIT_EXPECT_EQ(test, vpr_ident_compare(&v2->ident, &test_ident, NULL), 0);
}

/*
 * The migration token: what the source hands QEMU is accepted once, on
 * the same device of the same host, right after the save's open or after
 * the kexec the device went through preserved with nothing else done to
 * it, and refused with the reason otherwise.
 */
static void mig_token(struct kunit *test)
{
	static const u8 uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct vpr_mig_ctx src = {}, c;
	struct vpr_mig_token t, bad;
	const char *why = "unset";
	unsigned int i;

	memcpy(src.uuid, uuid, sizeof(src.uuid));
	src.boot = 5;
	src.now_ns = 1000;
	src.hist.binding = 0x1234;
	src.hist.opens = 3;
	src.hist.arms = 1;
	src.hist.runs = 2;
	src.bdf = test_bdf;
	src.ident = test_ident;
	vpr_mig_token_fill(&t, &src);

	/* The same boot: the next open of the same binding, nothing between. */
	c = src;
	c.hist.opens = 4;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), 0);
	KUNIT_EXPECT_NULL(test, why);

	/* Not a token: size, magic, any bit of it (CRC), another version. */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t) - 1, &c, &why), -EINVAL);
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t) + 8, &c, &why), -EINVAL);
	KUNIT_EXPECT_STREQ(test, why, "not a vfio_preserve migration token (size)");
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, 4, &c, &why), -EINVAL);
	bad = t;
	bad.version = 1;	/* version 1 was 168 bytes */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&bad, 168, &c, &why), -EPROTO);
	bad = t;
	bad.magic ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&bad, sizeof(bad), &c, &why), -EINVAL);
	KUNIT_EXPECT_STREQ(test, why, "not a vfio_preserve migration token (magic)");
	for (i = offsetof(struct vpr_mig_token, __pad); i < sizeof(t); i++) {
		bad = t;
		((u8 *)&bad)[i] ^= 0x10;
		KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&bad, sizeof(bad), &c, &why), -EINVAL);
	}
	KUNIT_EXPECT_STREQ(test, why, "a corrupt migration token (CRC)");
	bad = t;
	bad.version++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&bad, sizeof(bad), &c, &why), -EPROTO);

	/* Another host, another device, another boot. */
	c.uuid[15] ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -EXDEV);
	c.uuid[15] ^= 1;
	c.bdf.devfn++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ENODEV);
	c.bdf = test_bdf;
	c.ident.bar_len[0] *= 2;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	c.ident = test_ident;
	c.boot = 4;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "saved in a later boot than this one");
	c.boot = 7;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "saved more than one boot ago");
	c.boot = 5;

	/* The same boot: the binding's history since the save. */
	c.hist.binding++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "the device was unbound and bound again since the save");
	c.hist.binding = src.hist.binding;
	c.hist.arms++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why,
			   "disarmed, or no_user_reset dropped, since the save");
	c.hist.arms = src.hist.arms;
	c.hist.opens = 5;	/* another open, or a second load */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	c.hist.opens = 3;	/* the saver's own open (loadvm) */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "the VMM that saved it still has the device open");
	c.hist.opens = 4;
	c.hist.runs++;	/* the VM ran on after the save */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "the VM ran on with the device after the save");

	/*
	 * After one kexec: a new binding from a record whose history is the
	 * token's (the saver's close wrote it: no open counted).
	 */
	c = src;
	c.boot = 6;
	c.hist.binding = 0x5678;
	c.hist.opens = 1;
	c.hist.arms = 0;
	c.hist.runs = 0;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "the device did not come through the kexec preserved");
	c.restored = true;
	c.record_boot = 5;
	c.record_hist = src.hist;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), 0);
	c.record_boot = 4;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	c.record_boot = 5;
	c.record_hist.opens++;	/* another VMM before the kexec, or a second load */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why, "opened again or run on before the kexec, after the save");
	c.record_hist = src.hist;
	c.record_hist.runs++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	c.record_hist = src.hist;
	c.record_hist.binding++;	/* unbound and bound again, then armed */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why,
			   "the device was unbound, disarmed or re-armed before the kexec");
	c.record_hist = src.hist;
	c.record_hist.arms++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	c.record_hist = src.hist;
	c.hist.arms = 1;	/* disarmed and armed again since the kexec */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	KUNIT_EXPECT_STREQ(test, why,
			   "disarmed, or no_user_reset dropped, since the kexec");
	c.hist.arms = 0;
	c.hist.opens = 2;	/* another open first, or a second load */
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);

	/* mig_override: the history is not checked; host, device, boot are. */
	c.override = true;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), 0);
	c.restored = false;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ESTALE);
	c.restored = true;
	c.bdf.devfn++;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -ENODEV);
	c = src;
	c.override = true;
	c.hist.opens = 9;
	c.hist.runs = 9;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), 0);
	c.uuid[0] ^= 1;
	KUNIT_EXPECT_EQ(test, vpr_mig_token_check(&t, sizeof(t), &c, &why), -EXDEV);
}

static struct kunit_case vpr_state_cases[] = {
	KUNIT_CASE(record_roundtrip),
	KUNIT_CASE(record_check_errors),
	KUNIT_CASE(record_torn_write),
	KUNIT_CASE(slot_newest),
	KUNIT_CASE(slot_target),
	KUNIT_CASE(slot_crash_during_write),
	KUNIT_CASE(slot_erase_tombstone),
	KUNIT_CASE(ident_compare),
	KUNIT_CASE(policy_arm),
	KUNIT_CASE(policy_restore),
	KUNIT_CASE(cfg_diff),
	KUNIT_CASE(restore_command),
	KUNIT_CASE(record_upgrade_v2),
	KUNIT_CASE(mig_token),
	{}
};

static struct kunit_suite vpr_state_suite = {
	.name = "vfio_preserve_state",
	.test_cases = vpr_state_cases,
};

kunit_test_suite(vpr_state_suite);

MODULE_DESCRIPTION("KUnit tests of vfio_preserve's device record, its two-copy slots and policies");
MODULE_LICENSE("GPL");
