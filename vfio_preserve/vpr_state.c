// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_preserve: the persistent record of a preserved device and the
 * decisions taken on it (vpr_state.h). Pure functions on memory, no PCI
 * access: vfio_preserve.ko links this file and vpr_kunit.c compiles it in.
 */
#include <linux/build_bug.h>
#include <linux/crc32.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/pci_regs.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <asm/unaligned.h>

#include "vpr_state.h"

#define VPR_HDR_SIZE	offsetof(struct vpr_record, cfg)

static_assert(sizeof(struct vpr_ident) == 88);
static_assert(sizeof(struct vpr_bdf) == 8);
static_assert(VPR_HDR_SIZE == 176);
static_assert(sizeof(struct vpr_record) == VPR_HDR_SIZE + VPR_CFG_SIZE);
static_assert(sizeof(struct vpr_record) <= VPR_COPY_PAGES * PAGE_SIZE);

/* ---------------------------------------------------------------- record */

/* crc32_le(~0, ...) of @len bytes at @buf, the u32 at @crc_off counted as 0. */
static u32 vpr_crc_skip(const void *buf, size_t crc_off, size_t len)
{
	static const u8 zero[sizeof(u32)];
	const u8 *p = buf;
	u32 crc;

	crc = crc32_le(~0U, p, crc_off);
	crc = crc32_le(crc, zero, sizeof(zero));
	return crc32_le(crc, p + crc_off + sizeof(u32), len - crc_off - sizeof(u32));
}

/* The CRC of @r as vpr_record_seal() stores it: @r->crc counted as 0. */
static u32 vpr_record_crc(const struct vpr_record *r, u32 cfg_size)
{
	return vpr_crc_skip(r, offsetof(struct vpr_record, crc), VPR_HDR_SIZE + cfg_size);
}

void vpr_record_seal(struct vpr_record *r)
{
	r->crc = vpr_record_crc(r, min_t(u32, r->cfg_size, VPR_CFG_SIZE));
}

void vpr_record_fill(struct vpr_record *r, const struct vpr_bdf *bdf,
		     const struct vpr_ident *ident, const u8 *cfg,
		     u32 cfg_size, u32 flags, u64 gen, u64 now_ns, u64 boot,
		     const struct vpr_hist *hist)
{
	u32 seq = r->seq;

	cfg_size = min_t(u32, cfg_size, VPR_CFG_SIZE);
	memset(r, 0, VPR_HDR_SIZE);
	r->magic = VPR_RECORD_MAGIC;
	r->version = VPR_RECORD_VERSION;
	r->seq = seq;
	r->flags = flags;
	r->cfg_size = cfg_size;
	r->bdf = *bdf;
	r->bdf.__pad = 0;
	r->ident = *ident;
	r->ident.__pad = 0;
	r->saved_gen = gen;
	r->saved_ns = now_ns;
	r->saved_boot = boot;
	if (hist)
		r->hist = *hist;
	memcpy(r->cfg, cfg, cfg_size);
	memset(r->cfg + cfg_size, 0, VPR_CFG_SIZE - cfg_size);
	vpr_record_seal(r);
}

int vpr_record_check(const struct vpr_record *r)
{
	if (!memchr_inv(r, 0, VPR_HDR_SIZE))
		return -ENODATA;
	if (r->magic != VPR_RECORD_MAGIC)
		return -EBADMSG;
	/* A foreign version may size, flag and checksum differently. */
	if (r->version != VPR_RECORD_VERSION)
		return -EPROTO;
	if (r->cfg_size != 256 && r->cfg_size != VPR_CFG_SIZE)
		return -EBADMSG;
	if (r->flags & ~VPR_REC_FLAGS)
		return -EBADMSG;
	if (r->crc != vpr_record_crc(r, r->cfg_size))
		return -EBADMSG;
	return 0;
}

/* Version 2: the header up to @saved_boot, then @cfg (no @hist). */
#define VPR_V2_HDR_SIZE		offsetof(struct vpr_record, hist)
static_assert(VPR_V2_HDR_SIZE == 144);

int vpr_record_upgrade(struct vpr_record *r)
{
	if (r->magic != VPR_RECORD_MAGIC || r->version != 2)
		return 1;
	if ((r->cfg_size != 256 && r->cfg_size != VPR_CFG_SIZE) ||
	    (r->flags & ~VPR_REC_FLAGS) ||
	    r->crc != vpr_crc_skip(r, offsetof(struct vpr_record, crc),
				   VPR_V2_HDR_SIZE + r->cfg_size))
		return -EBADMSG;
	memmove(r->cfg, (u8 *)r + VPR_V2_HDR_SIZE, r->cfg_size);
	memset(&r->hist, 0, sizeof(r->hist));
	memset(r->cfg + r->cfg_size, 0, VPR_CFG_SIZE - r->cfg_size);
	r->version = VPR_RECORD_VERSION;
	vpr_record_seal(r);
	return 0;
}

/* ----------------------------------------------------------------- slots */

/* @a was written after @b: wrap-safe. */
static bool vpr_seq_after(u32 a, u32 b)
{
	return (s32)(a - b) > 0;
}

const struct vpr_record *vpr_slot_newest(const struct vpr_record *a,
					 const struct vpr_record *b)
{
	bool va = !vpr_record_check(a), vb = !vpr_record_check(b);

	if (va && vb)
		return vpr_seq_after(b->seq, a->seq) ? b : a;	/* a tie: A */
	if (va)
		return a;
	if (vb)
		return b;
	return NULL;
}

void vpr_record_tombstone(struct vpr_record *r, u32 seq)
{
	static const u8 zero_cfg[256];
	static const struct vpr_ident no_ident;
	static const struct vpr_bdf no_bdf;

	r->seq = seq;
	vpr_record_fill(r, &no_bdf, &no_ident, zero_cfg, sizeof(zero_cfg), 0,
			0, 0, 0, NULL);
}

const struct vpr_record *vpr_slot_armed(const struct vpr_record *a,
					const struct vpr_record *b)
{
	const struct vpr_record *n = vpr_slot_newest(a, b);

	return n && (n->flags & VPR_REC_ARMED) ? n : NULL;
}

int vpr_slot_target(const struct vpr_record *a, const struct vpr_record *b,
		    u32 *next_seq)
{
	const struct vpr_record *n = vpr_slot_newest(a, b);

	if (next_seq)
		*next_seq = n ? n->seq + 1 : 1;
	return n == a ? 1 : 0;
}

/* -------------------------------------------------------------- identity */

enum vpr_ident_field {
	VPR_ID_SAME,
	VPR_ID_VENDOR,
	VPR_ID_DEVICE,
	VPR_ID_SUBVENDOR,
	VPR_ID_SUBDEVICE,
	VPR_ID_CLASS,
	VPR_ID_REVISION,
	VPR_ID_HDR_TYPE,
	VPR_ID_BARS,
	VPR_ID_DSN,
	VPR_ID_PATH,
	VPR_ID_NR,
};

static const char * const vpr_ident_names[VPR_ID_NR] = {
	[VPR_ID_VENDOR]		= "vendor",
	[VPR_ID_DEVICE]		= "device",
	[VPR_ID_SUBVENDOR]	= "subvendor",
	[VPR_ID_SUBDEVICE]	= "subdevice",
	[VPR_ID_CLASS]		= "class",
	[VPR_ID_REVISION]	= "revision",
	[VPR_ID_HDR_TYPE]	= "header type",
	[VPR_ID_BARS]		= "BAR sizes",
	[VPR_ID_DSN]		= "serial number",
	[VPR_ID_PATH]		= "slot path",
};

#define VPR_STALE(field) \
	"the device at this address is a different device (" field " changed)"

static const char * const vpr_ident_why[VPR_ID_NR] = {
	[VPR_ID_VENDOR]		= VPR_STALE("vendor"),
	[VPR_ID_DEVICE]		= VPR_STALE("device"),
	[VPR_ID_SUBVENDOR]	= VPR_STALE("subvendor"),
	[VPR_ID_SUBDEVICE]	= VPR_STALE("subdevice"),
	[VPR_ID_CLASS]		= VPR_STALE("class"),
	[VPR_ID_REVISION]	= VPR_STALE("revision"),
	[VPR_ID_HDR_TYPE]	= VPR_STALE("header type"),
	[VPR_ID_BARS]		= VPR_STALE("BAR sizes"),
	[VPR_ID_DSN]		= VPR_STALE("serial number"),
	[VPR_ID_PATH]		=
		"the device at this address sits behind other bridges (slot path changed)",
};

/* The first field of the identity that differs, in vpr_ident_compare()'s order. */
static enum vpr_ident_field vpr_ident_diff(const struct vpr_ident *s,
					   const struct vpr_ident *n)
{
	if (s->vendor != n->vendor)
		return VPR_ID_VENDOR;
	if (s->device != n->device)
		return VPR_ID_DEVICE;
	if (s->subvendor != n->subvendor)
		return VPR_ID_SUBVENDOR;
	if (s->subdevice != n->subdevice)
		return VPR_ID_SUBDEVICE;
	if (s->class != n->class)
		return VPR_ID_CLASS;
	if (s->revision != n->revision)
		return VPR_ID_REVISION;
	if (s->hdr_type != n->hdr_type)
		return VPR_ID_HDR_TYPE;
	if (memcmp(s->bar_len, n->bar_len, sizeof(s->bar_len)))
		return VPR_ID_BARS;
	if (s->dsn != n->dsn)
		return VPR_ID_DSN;
	if (s->path_depth != n->path_depth ||
	    memcmp(s->path, n->path, min_t(u8, s->path_depth, VPR_PATH_MAX)))
		return VPR_ID_PATH;
	return VPR_ID_SAME;
}

int vpr_ident_compare(const struct vpr_ident *saved,
		      const struct vpr_ident *now, const char **field)
{
	enum vpr_ident_field f = vpr_ident_diff(saved, now);

	if (field)
		*field = vpr_ident_names[f];	/* NULL when the same */
	return f == VPR_ID_SAME ? 0 : -ESTALE;
}

/* --------------------------------------------------------------- policy */

/* Store @msg in *@why (when asked for) and return @err. */
static int vpr_why(const char **why, const char *msg, int err)
{
	if (why)
		*why = msg;
	return err;
}

int vpr_policy_arm(const struct vpr_arm_ctx *c, const char **why)
{
	if (c->group_devices < 0)
		return vpr_why(why, "it has no IOMMU group", -ENODEV);
	if (c->is_bridge)
		return vpr_why(why, "it is a bridge: only endpoints are preserved", -EINVAL);
	if (!c->hdr_normal)
		return vpr_why(why, "its config header is not type 0: only endpoints are preserved",
			       -EINVAL);
	if (c->has_vfs)
		return vpr_why(why, "it has SR-IOV virtual functions enabled", -EBUSY);
	if (c->group_devices != 1)
		return vpr_why(why,
			       "its IOMMU group has other devices: only singleton groups are preserved",
			       -EBUSY);
	if (c->vf_bus_apart)
		return vpr_why(why,
			       "it is an SR-IOV VF on a virtual bus: a reset of its PF's bus would reset it without seeing it is armed",
			       -EBUSY);
	if (c->siblings_slot_reset)
		return vpr_why(why,
			       "another function on its bus can reset the bus through a hotplug slot without asking this device",
			       -EBUSY);
	if (c->siblings_bus_reset_only)
		return vpr_why(why,
			       "another function on its bus has no reset of its own (FLR, PM): arming would block the bus reset that scrubs it",
			       -EBUSY);
	return vpr_why(why, NULL, 0);
}

int vpr_policy_restore(const struct vpr_record *r,
		       const struct vpr_restore_ctx *c, const char **why)
{
	enum vpr_ident_field f;

	if (!(r->flags & VPR_REC_ARMED))
		return vpr_why(why, "the record is not armed", -EINVAL);
	if (!c->present)
		return vpr_why(why, "no device is present at the saved address", -ENODEV);
	f = vpr_ident_diff(&r->ident, &c->now);
	if (f != VPR_ID_SAME)
		return vpr_why(why, vpr_ident_why[f], -ESTALE);
	/* This boot (a module reload) or the one before (a kexec). */
	if (r->saved_boot && c->boot_now && r->saved_boot != c->boot_now &&
	    r->saved_boot + 1 != c->boot_now)
		return vpr_why(why,
			       "the record is older than the previous boot: the device may have been reset or reassigned since",
			       -ESTALE);
	/*
	 * vpr_record_save() writes none for a VF: a record found on one is
	 * for another device that was at this address (and SR-IOV setup
	 * has reset the VF anyway).
	 */
	if (c->is_virtfn)
		return vpr_why(why,
			       "the device is an SR-IOV VF: the kernel's SR-IOV setup reset it (VF Enable cleared at boot)",
			       -ESTALE);
	if (c->bound && !c->bound_to_us)
		return vpr_why(why, "the device is bound to another driver", -EBUSY);
	if (c->group_devices < 0)
		return vpr_why(why, "the device has no IOMMU group", -ENODEV);
	if (c->group_devices != 1)
		return vpr_why(why,
			       "its IOMMU group has other devices: only singleton groups are preserved",
			       -EBUSY);
	return vpr_why(why, NULL, 0);
}

/* ---------------------------------------------------------- config space */

unsigned int vpr_cfg_diff(const u8 *a, const u8 *b, unsigned int size)
{
	unsigned int off, n = 0;

	for (off = 0; off + 4 <= size; off += 4) {
		u32 x = get_unaligned_le32(a + off) ^ get_unaligned_le32(b + off);

		/* Status (bits 31:16 of PCI_COMMAND's dword): set by the hardware. */
		if (off == PCI_COMMAND)
			x &= 0xffff;
		if (x)
			n++;
	}
	return n;
}

#define VPR_CMD_SAVED	(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_PARITY | \
			 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

u16 vpr_restore_command(u16 saved, u16 now, bool keep_master)
{
	u16 from_saved = VPR_CMD_SAVED | (keep_master ? PCI_COMMAND_MASTER : 0);

	return (saved & from_saved) | (now & ~from_saved);
}

/* ------------------------------------------------------- migration token */

static_assert(sizeof(struct vpr_mig_token) == 176);

static u32 vpr_mig_crc(const struct vpr_mig_token *t)
{
	return vpr_crc_skip(t, offsetof(struct vpr_mig_token, crc), sizeof(*t));
}

void vpr_mig_token_fill(struct vpr_mig_token *t, const struct vpr_mig_ctx *c)
{
	memset(t, 0, sizeof(*t));
	t->magic = VPR_MIG_MAGIC;
	t->version = VPR_MIG_VERSION;
	memcpy(t->uuid, c->uuid, sizeof(t->uuid));
	t->boot = c->boot;
	t->saved_ns = c->now_ns;
	t->hist = c->hist;
	t->bdf = c->bdf;
	t->bdf.__pad = 0;
	t->ident = c->ident;
	t->ident.__pad = 0;
	t->crc = vpr_mig_crc(t);
}

static const char vpr_mig_reopened[] =
	"opened by another VMM since the save, or this state was loaded already";
static const char vpr_mig_reopened_kexec[] =
	"opened by another VMM since the kexec, or this state was loaded already";

/* The device's history since a save in this boot. */
static int vpr_mig_same_boot(const struct vpr_mig_token *t, const struct vpr_mig_ctx *c,
			     const char **why)
{
	if (t->hist.binding != c->hist.binding)
		return vpr_why(why, "the device was unbound and bound again since the save",
			       -ESTALE);
	if (t->hist.arms != c->hist.arms)
		return vpr_why(why, "disarmed, or no_user_reset dropped, since the save",
			       -ESTALE);
	if (c->hist.opens != t->hist.opens + 1)
		return vpr_why(why, c->hist.opens > t->hist.opens + 1 ? vpr_mig_reopened :
			       "the VMM that saved it still has the device open", -ESTALE);
	if (t->hist.runs != c->hist.runs)
		return vpr_why(why, "the VM ran on with the device after the save", -ESTALE);
	return vpr_why(why, NULL, 0);
}

/* The device's history since a save in the boot before this one. */
static int vpr_mig_after_kexec(const struct vpr_mig_token *t, const struct vpr_mig_ctx *c,
			       const char **why)
{
	const struct vpr_hist *r = &c->record_hist;

	/* The saver's close wrote the record last: it counts no open. */
	if (r->binding != t->hist.binding || r->arms != t->hist.arms)
		return vpr_why(why, "the device was unbound, disarmed or re-armed before the kexec",
			       -ESTALE);
	if (r->opens != t->hist.opens || r->runs != t->hist.runs)
		return vpr_why(why, "opened again or run on before the kexec, after the save",
			       -ESTALE);
	if (c->hist.arms)
		return vpr_why(why, "disarmed, or no_user_reset dropped, since the kexec",
			       -ESTALE);
	if (c->hist.opens != 1)
		return vpr_why(why, vpr_mig_reopened_kexec, -ESTALE);
	return vpr_why(why, NULL, 0);
}

int vpr_mig_token_check(const void *buf, size_t len, const struct vpr_mig_ctx *c,
			const char **why)
{
	struct vpr_mig_token t;

	/* magic and version first: another version may have another size */
	if (len < 2 * sizeof(u32) || get_unaligned((const u32 *)buf) != VPR_MIG_MAGIC)
		return vpr_why(why, "not a vfio_preserve migration token (magic)", -EINVAL);
	if (get_unaligned((const u32 *)buf + 1) != VPR_MIG_VERSION)
		return vpr_why(why, "a migration token of another vfio_preserve version", -EPROTO);
	if (len != sizeof(t))
		return vpr_why(why, "not a vfio_preserve migration token (size)", -EINVAL);
	memcpy(&t, buf, sizeof(t));
	if (t.crc != vpr_mig_crc(&t))
		return vpr_why(why, "a corrupt migration token (CRC)", -EINVAL);
	if (memcmp(t.uuid, c->uuid, sizeof(t.uuid)))
		return vpr_why(why, "saved on another host (kram region UUID); local only", -EXDEV);
	if (t.bdf.domain != c->bdf.domain || t.bdf.bus != c->bdf.bus ||
	    t.bdf.devfn != c->bdf.devfn)
		return vpr_why(why, "saved from another device (another BDF)", -ENODEV);
	if (vpr_ident_compare(&t.ident, &c->ident, NULL))
		return vpr_why(why, "saved from another device at this BDF (its identity differs)",
			       -ESTALE);
	if (t.boot == c->boot)
		return c->override ? vpr_why(why, NULL, 0) : vpr_mig_same_boot(&t, c, why);
	if (t.boot + 1 == c->boot) {
		if (!c->restored || c->record_boot != t.boot)
			return vpr_why(why, "the device did not come through the kexec preserved",
				       -ESTALE);
		return c->override ? vpr_why(why, NULL, 0) : vpr_mig_after_kexec(&t, c, why);
	}
	return vpr_why(why, t.boot > c->boot ? "saved in a later boot than this one" :
		       "saved more than one boot ago", -ESTALE);
}
