/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfio_preserve: the persistent record of a preserved device and the
 * decisions taken on it. Pure functions on memory, no PCI access, so that
 * KUnit (vpr_kunit.c) tests them on synthetic data.
 *
 * Layout in kram: one area VPR_AREA_NAME of VPR_AREA_PAGES pages, version
 * string VPR_AREA_VERSION. Slot N (0 .. VPR_MAX_DEVICES-1) is
 * VPR_SLOT_PAGES pages holding two copies (A at page 0, B at page 2) of a
 * struct vpr_record, each two pages. A write goes to the copy that is not
 * the newest valid one, so a crash in the middle of a write leaves the
 * previous record intact; a reader takes the valid copy with the higher
 * @seq. A record is valid when its magic, version, sizes and CRC32 check;
 * a valid version 2 copy (an older vfio_preserve's, from before a kexec)
 * is read as this version (vpr_record_upgrade()).
 */
#ifndef _VFIO_PRESERVE_VPR_STATE_H
#define _VFIO_PRESERVE_VPR_STATE_H

#include <linux/bits.h>
#include <linux/types.h>

#define VPR_AREA_NAME		"vfio_preserve"
#define VPR_AREA_VERSION	"vpr-1"
#define VPR_MAX_DEVICES		16
#define VPR_COPY_PAGES		2
#define VPR_SLOT_PAGES		(2 * VPR_COPY_PAGES)
#define VPR_AREA_PAGES		(VPR_MAX_DEVICES * VPR_SLOT_PAGES)
#define VPR_CFG_SIZE		4096	/* PCIe extended config space */
#define VPR_RECORD_MAGIC	0x31525056	/* "VPR1" */
#define VPR_RECORD_VERSION	3	/* 2: BARs, serial number, slot path, boot; 3: hist */
#define VPR_PATH_MAX		16	/* bridges between a root bus and the device */

/* record flags */
#define VPR_REC_ARMED		BIT(0)
#define VPR_REC_NO_USER_RESET	BIT(1)
#define VPR_REC_FLAGS		(VPR_REC_ARMED | VPR_REC_NO_USER_RESET)

/* What identifies a device: all must match for a restore. */
struct vpr_ident {
	u16 vendor;
	u16 device;
	u16 subvendor;
	u16 subdevice;
	u32 class;	/* 24-bit class code */
	u8 revision;
	u8 hdr_type;	/* without the multi-function bit */
	u8 path_depth;	/* entries of @path in use */
	u8 __pad;
	u64 dsn;	/* PCIe Device Serial Number, 0 when it has none */
	u64 bar_len[6];	/* size of each BAR, 0 when unused */
	u8 path[VPR_PATH_MAX];	/* devfn of each bridge from the root bus down */
};

struct vpr_bdf {
	u32 domain;
	u8 bus;
	u8 devfn;
	u16 __pad;
};

/*
 * Where a binding stands (struct vpr_mig_token): a random identity of the
 * binding, its opens, its arms (disarmed -> armed, or no_user_reset
 * dropped), and the VM's RUNNING entries through its migration region.
 */
struct vpr_hist {
	u64 binding;
	u64 opens;
	u64 arms;
	u64 runs;
};

/**
 * struct vpr_record - one copy of a slot's record
 * @magic:	VPR_RECORD_MAGIC
 * @version:	VPR_RECORD_VERSION
 * @crc:	crc32_le(~0, ...) of the whole record with @crc = 0, over
 *		offsetof(cfg) + @cfg_size bytes
 * @seq:	write counter of the slot; the newer copy has the higher @seq
 * @flags:	VPR_REC_*
 * @cfg_size:	bytes of @cfg that are valid: 256 or VPR_CFG_SIZE
 * @bdf:	where the device was
 * @ident:	what it was
 * @saved_gen:	kram generation when written
 * @saved_ns:	ktime_get_real_ns() when written
 * @saved_boot:	kram boot count when written (0: unknown)
 * @hist:	the binding's history when written (migration tokens)
 * @cfg:	the device's config space when written
 */
struct vpr_record {
	u32 magic;
	u32 version;
	u32 crc;
	u32 seq;
	u32 flags;
	u32 cfg_size;
	struct vpr_bdf bdf;
	struct vpr_ident ident;
	u64 saved_gen;
	u64 saved_ns;
	u64 saved_boot;
	struct vpr_hist hist;
	u8 cfg[VPR_CFG_SIZE];
};

/*
 * Fill @r (seq left alone: set it first, the CRC covers it) and seal it;
 * @hist NULL: zeros.
 */
void vpr_record_fill(struct vpr_record *r, const struct vpr_bdf *bdf,
		     const struct vpr_ident *ident, const u8 *cfg,
		     u32 cfg_size, u32 flags, u64 gen, u64 now_ns, u64 boot,
		     const struct vpr_hist *hist);
/*
 * A valid version 2 record (an older vfio_preserve wrote it before a
 * kexec: no @hist, @cfg 32 bytes earlier) rewritten in place as this
 * version, @hist zero, and sealed: 0. 1 when @r is not version 2 (left
 * alone), -EBADMSG when it is but does not check (left alone).
 */
int vpr_record_upgrade(struct vpr_record *r);
/* Compute and store @r->crc. */
void vpr_record_seal(struct vpr_record *r);
/*
 * 0 when @r is a valid record; -ENODATA when it was never written (magic 0
 * and all of the header zero); -EPROTO for a foreign version; -EBADMSG for
 * a bad magic, size, flag or CRC (a torn or corrupt write).
 */
int vpr_record_check(const struct vpr_record *r);
/* The valid copy with the higher seq (wrapping compare), or NULL. */
const struct vpr_record *vpr_slot_newest(const struct vpr_record *a,
					 const struct vpr_record *b);
/*
 * A tombstone: a valid record with no flags (disarmed), @seq and nothing
 * else. Erasing a slot writes one as the next record, so the newest valid
 * copy is the tombstone or, if the write was cut, the record before it,
 * never an older armed record.
 */
void vpr_record_tombstone(struct vpr_record *r, u32 seq);
/* The slot's newest valid record if it is armed, else NULL (free slot). */
const struct vpr_record *vpr_slot_armed(const struct vpr_record *a,
					const struct vpr_record *b);

/*
 * Which copy (0 = A, 1 = B) the next write of a slot goes to: the one that
 * is not vpr_slot_newest(); A when neither is valid. *@next_seq is the seq
 * the new record must carry (newest's seq + 1, or 1).
 */
int vpr_slot_target(const struct vpr_record *a, const struct vpr_record *b,
		    u32 *next_seq);

/*
 * 0 when @now is the device @saved describes; -ESTALE otherwise, with
 * *@field (if not NULL) naming the first field that differs ("vendor",
 * "device", "subvendor", "subdevice", "class", "revision", "header type",
 * "BAR sizes", "serial number", "slot path").
 */
int vpr_ident_compare(const struct vpr_ident *saved,
		      const struct vpr_ident *now, const char **field);

/* What arming needs to know of a device. */
struct vpr_arm_ctx {
	int group_devices;	/* devices in its IOMMU group, < 0: no group */
	bool hdr_normal;	/* type 0 header */
	bool has_vfs;		/* SR-IOV VFs enabled (or being changed) */
	bool is_bridge;
	/*
	 * Other functions on its bus that nothing but a bus reset can reset
	 * (0 on a root bus, which no bridge can reset): arming blocks bus
	 * resets, so a tenant of one of these could no longer be scrubbed.
	 */
	int siblings_bus_reset_only;
	/*
	 * Other functions on its bus that can reset the bus through a
	 * hotplug slot without asking this device: one in another slot
	 * (this device at devfn >= 8 has none), or one in its slot whose
	 * "bus" method resets the slot (not multi-function, e.g. a VF).
	 */
	int siblings_slot_reset;
	/*
	 * An SR-IOV VF on a bus of its own (a virtual bus, no bridge above
	 * it): a reset of its PF's bus resets it, and pci_bus_resetable() of
	 * that bus never sees the VF's no-bus-reset flag. A VF on its PF's
	 * bus is armed like any function (kept over close/open only).
	 */
	bool vf_bus_apart;
};

/*
 * 0 when a device may be armed; else -ENODEV (no IOMMU group), -EBUSY (a
 * group with other devices, VFs enabled, a VF on a virtual bus, or a function on its
 * bus that only a bus reset resets or that can reset the bus through its
 * hotplug slot),
 * -EINVAL (a bridge or a non-type-0 header),
 * with *@why a sentence for pr_err (not NULL).
 */
int vpr_policy_arm(const struct vpr_arm_ctx *c, const char **why);

/* What the restore after kexec finds in place of a record. */
struct vpr_restore_ctx {
	bool present;		/* a PCI device at the record's BDF */
	struct vpr_ident now;	/* its identity, if present */
	bool bound;		/* bound to a driver */
	bool bound_to_us;	/* ... and that driver is vfio_preserve */
	int group_devices;	/* as in vpr_arm_ctx */
	bool is_virtfn;		/* an SR-IOV VF is there now */
	u64 boot_now;		/* kram's boot count now, 0: unknown */
};

/*
 * 0: bind and restore; -ENODEV: no device there, or it has no IOMMU
 * group; -ESTALE: a different device (identity changed), an SR-IOV VF,
 * or a record neither from this boot nor the one before; -EBUSY: another
 * driver owns it, or its group is no longer a singleton; -EINVAL: the
 * record is not armed. *@why as above. A record that does not pass
 * vpr_record_check() never gets here.
 */
int vpr_policy_restore(const struct vpr_record *r,
		       const struct vpr_restore_ctx *c, const char **why);

/*
 * Dwords of config space that differ between @a and @b over @size bytes
 * (a multiple of 4), not counting the Status register (bits 31:16 of
 * dword 1: error and interrupt status bits the hardware sets).
 */
unsigned int vpr_cfg_diff(const u8 *a, const u8 *b, unsigned int size);

/*
 * The Command register to write back after kexec: the saved memory/IO
 * decode, SERR, parity and INTx-disable bits; bus master only when
 * @keep_master, else as it is @now. Other bits as @now.
 */
u16 vpr_restore_command(u16 saved, u16 now, bool keep_master);

/*
 * The migration token (QEMU 7.2's VFIO migration "v1" region, see
 * Documentation/live-update.rst): what vfio_preserve hands QEMU as an
 * armed device's "state" on the source and checks when QEMU writes it back
 * on the destination. It carries no device state (the device keeps its
 * own); it proves that the destination is the same device on the same
 * host, after no reset: a local-only migration protocol.
 */
#define VPR_MIG_MAGIC		0x4d525056	/* "VPRM" */
#define VPR_MIG_VERSION		2

/**
 * struct vpr_mig_token - one device's migration token
 * @magic:	VPR_MIG_MAGIC
 * @version:	VPR_MIG_VERSION
 * @crc:	crc32_le(~0, ...) of the token with @crc = 0
 * @__pad:	zero
 * @uuid:	the kram region's UUID (the host's identity; chosen at format)
 * @boot:	kram's boot count when saved
 * @saved_ns:	ktime_get_real_ns() when saved
 * @hist:	where the device's binding stood (the source's open included)
 * @bdf:	where the device is
 * @ident:	what it is
 */
struct vpr_mig_token {
	u32 magic;
	u32 version;
	u32 crc;
	u32 __pad;
	u8 uuid[16];
	u64 boot;
	u64 saved_ns;
	struct vpr_hist hist;
	struct vpr_bdf bdf;
	struct vpr_ident ident;
};

/* The device's side of a save or a load (struct vpr_mig_token's fields). */
struct vpr_mig_ctx {
	u8 uuid[16];		/* kram's region UUID now */
	u64 boot;		/* kram's boot count now */
	u64 now_ns;
	struct vpr_hist hist;	/* at a load: the destination's open counted */
	struct vpr_bdf bdf;	/* the device QEMU opened */
	struct vpr_ident ident;
	/*
	 * The binding came from a kram record after a kexec: that record's
	 * saved_boot and hist (its last write in the old kernel: the
	 * shutdown at the kexec, or the armed close before it).
	 */
	bool restored;
	u64 record_boot;
	struct vpr_hist record_hist;
	/* The administrator's mig_override: the history is not checked. */
	bool override;
};

/* Fill and seal @t from @c (the source's side). */
void vpr_mig_token_fill(struct vpr_mig_token *t, const struct vpr_mig_ctx *c);
/*
 * 0 when the @len bytes at @t are a token of the device @c describes, on
 * this host, handed out for this load and no other:
 * - saved in this boot: by the same binding, armed all along, with one
 *   open since (this one) and no run of the VM after the save;
 * - saved in the boot before: the device came through the kexec bound
 *   from its record, whose history is the token's (nothing happened to
 *   it in the old kernel after the save but the saver's close), was not
 *   armed again, and this is its first open.
 * Else -EINVAL (not a token: size, magic, CRC), -EPROTO (another
 * version), -EXDEV (another host: kram region UUID), -ENODEV (another
 * device: BDF), -ESTALE (another device at that BDF, another boot, or
 * the device's history since the save), with *@why a sentence for
 * pr_err (not NULL).
 */
int vpr_mig_token_check(const void *t, size_t len, const struct vpr_mig_ctx *c,
			const char **why);

#endif /* _VFIO_PRESERVE_VPR_STATE_H */
