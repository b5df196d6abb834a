// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_preserve: a vfio-pci variant driver that keeps a passthrough
 * device's state across VMM restarts and host kexec.
 *
 * Bound through driver_override ("vfio_preserve"), it is vfio-pci (the
 * exported vfio_pci_core) unless preserve is armed for the device. Armed,
 * the last close and the next open skip the function/PM/bus reset that
 * vfio_pci_core_enable()/disable() would do, and the Command register keeps
 * bus master and decode; the device's identity and config space go into a
 * kram area, so the kernel after a kexec binds it again without a reset.
 * Documentation/vfio_preserve.rst.
 *
 * How, without patching vfio-pci:
 *  - reset: for the duration of our own calls into vfio_pci_core_enable()
 *    and vfio_pci_core_disable(), the device's reset_methods[] are empty
 *    (what "echo > reset_method" does in sysfs): pci_try_reset_function()
 *    and __pci_reset_function_locked() return -ENOTTY. While armed, the
 *    device has PCI_DEV_FLAGS_NO_BUS_RESET, so the bus reset vfio-pci tries
 *    after a close without function reset is refused too.
 *  - bus master: the device's bus gets a pci_ops wrapper
 *    (pci_bus_set_ops(), as aer_inject does) that, in the same windows,
 *    keeps the Command register's master, memory and I/O bits when a
 *    write would clear them (pci_clear_master(), pci_disable_device(), the
 *    INTx-disable write of vfio_pci_core_disable()).
 *  - D3: armed, the device holds a runtime-PM reference and stays in D0 (a
 *    D3hot->D0 transition resets a device without No_Soft_Reset).
 */
#include <linux/capability.h>
#include <linux/debugfs.h>
#include <linux/iommu.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pci_hotplug.h>
#include <linux/pm_runtime.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
#include <asm/unaligned.h>

#include <hvkit/hvkit.h>
#include <uapi/linux/hvkit.h>
#include "../kram/kram.h"
#include "vpr_state.h"

#define CREATE_TRACE_POINTS
#include "vpr_trace.h"

#define VPR_DRV_NAME	"vfio_preserve"

static bool enable_sriov;
module_param(enable_sriov, bool, 0644);
MODULE_PARM_DESC(enable_sriov, "As vfio-pci's enable_sriov: allow sriov_numvfs on a disarmed PF (default N)");

static bool mig_region = true;
module_param(mig_region, bool, 0644);
MODULE_PARM_DESC(mig_region, "Offer QEMU 7.2's VFIO migration (v1) region on a device armed with no_user_reset, as a local-only protocol (default on; read at each open)");
static bool vpr_trace_init;
module_param_named(trace_init, vpr_trace_init, bool, 0444);
MODULE_PARM_DESC(trace_init, "Enable trace event vpr_record (tracefs events/vfio_preserve/, top-level buffer) before init reads the kram records, so each restore or refusal is traced; it stays enabled");

static bool kexec_keep_master;
static bool vpr_initialized;	/* after init: parameter writes come from sysfs */

/*
 * kexec_keep_master=1 lets the device master the bus through the kexec.
 * With the IOMMU's default domain in passthrough (iommu=pt) its DMA then
 * reaches physical memory unchecked whenever VFIO's domain is gone:
 * refused (-EPERM), and ignored with an error as a load-time option (the
 * module still loads).
 */
static int vpr_keep_master_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int ret;

	ret = kstrtobool(val ?: "1", &on);	/* a bare "kexec_keep_master" is 1 */
	if (ret)
		return ret;
	if (on && iommu_default_passthrough()) {
		pr_err("kexec_keep_master=1 refused: the IOMMU's default domain is passthrough (iommu=pt): the device's DMA would reach physical memory unchecked\n");
		return READ_ONCE(vpr_initialized) ? -EPERM : 0;
	}
	*(bool *)kp->arg = on;
	return 0;
}

static const struct kernel_param_ops vpr_keep_master_ops = {
	.flags = KERNEL_PARAM_OPS_FL_NOARG,
	.set = vpr_keep_master_set,
	.get = param_get_bool,
};
module_param_cb(kexec_keep_master, &vpr_keep_master_ops, &kexec_keep_master, 0644);
__MODULE_PARM_TYPE(kexec_keep_master, "bool");
MODULE_PARM_DESC(kexec_keep_master,
		 "Keep the device's bus master bit on through a kexec (default N; the upstream port's is cleared anyway, and the IOMMU is off until the next kernel sets it up: only for a quiesced device)");

/* A bus whose config accesses go through our filter. */
struct vpr_bus {
	struct list_head node;
	struct pci_bus *bus;
	struct pci_ops ops;		/* bus->ops points here */
	struct pci_ops *orig;
	unsigned int users;		/* armed devices on the bus */
	DECLARE_BITMAP(quiet, 256);	/* devfns in a preserve window */
};

struct vpr_dev {
	struct vfio_pci_core_device core;	/* first: vfio_alloc_device() */
	struct list_head node;
	struct mutex lock;		/* flags, counters, record, slot */
	struct vpr_bus *vbus;
	u32 flags;			/* HVKIT_VFIO_PRESERVE_* */
	bool allow_user_arm;		/* admin's opt-in: arming without CAP_SYS_ADMIN */
	bool held;			/* vpr_hold() done: armed resources */
	bool had_no_bus_reset;
	bool methods_held;		/* reset_methods[] emptied for no_user_reset */
	bool sriov_changing;		/* in vpr_sriov_configure(): no arming */
	u8 methods[PCI_NUM_RESET_METHODS];	/* ... and what they were */
	int slot;			/* kram slot, -1 none */
	bool saved;			/* a record of the current flags is in kram */
	u64 saved_gen;
	u64 opens;
	u64 resets_skipped;
	u64 resets_done;
	u64 user_resets_skipped;
	u64 binding;			/* random, per binding: migration tokens */
	u64 arms;			/* armed from disarmed, or no_user_reset dropped */
	u64 mig_runs;			/* migration region entries into RUNNING */
	bool mig_override;		/* admin: the next load skips the history check */
	u64 mig_saved;			/* migration tokens handed to a VMM */
	u64 mig_restored;		/* ... written back and checked */
	u64 mig_refused;		/* ... written back and refused */
	u64 mig_unverified;		/* resumes with no token checked */
	bool config_lost;		/* the last armed close restored the open-time config */
	bool untranslated;		/* identity or no IOMMU domain: master never kept */
	/* After kexec: the record this binding came from. */
	bool restored;
	bool restore_pending;
	struct vpr_record *restore_rec;
	unsigned int diff_before;	/* config dwords differing at the first open */
	unsigned int diff_after;
};

static DEFINE_MUTEX(vpr_lock);		/* devices, buses, kram area, pending */
static LIST_HEAD(vpr_devices);
static LIST_HEAD(vpr_buses);
static struct kram_area *vpr_area;
static u64 vpr_area_gen;
static u64 vpr_area_boot;	/* kram boot count, 0: unknown */
static struct dentry *vpr_debugfs;

/* Records found in kram at load, waiting for their device to probe. */
struct vpr_pending {
	struct list_head node;
	int slot;
	struct vpr_record *rec;
};

static LIST_HEAD(vpr_pending);

static struct vpr_dev *to_vpr(struct vfio_device *vdev)
{
	return container_of(vdev, struct vpr_dev, core.vdev);
}

static struct pci_dev *vpr_pdev(struct vpr_dev *d)
{
	return d->core.pdev;
}

/* ------------------------------------------------------------ bus filter */

#define VPR_CMD_KEEP	(PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_IO)

/*
 * In a preserve window a write to the Command register keeps the master
 * and decode bits that are set. Does not sleep (pci_ops run under
 * pci_lock, or locklessly). The read-modify-write races only with another
 * writer of the same device's Command register, which vfio-pci's own
 * locking (dev_set->lock around open and close) excludes in a window.
 */
static int vpr_bus_write(struct pci_bus *bus, unsigned int devfn, int where,
			 int size, u32 val)
{
	struct vpr_bus *vb = container_of(bus->ops, struct vpr_bus, ops);
	u32 cur;

	/* Child buses created below a wrapped bus inherit its ops. */
	if (bus == vb->bus && devfn < 256 && test_bit(devfn, vb->quiet) &&
	    where <= PCI_COMMAND && where + size > PCI_COMMAND &&
	    !vb->orig->read(bus, devfn, PCI_COMMAND, 2, &cur)) {
		unsigned int shift = (PCI_COMMAND - where) * 8;

		val |= (cur & VPR_CMD_KEEP) << shift;
	}
	return vb->orig->write(bus, devfn, where, size, val);
}

/*
 * The filter of @bus, installed when its first device is armed (@pdev).
 * Only on the secondary bus of a PCIe root or downstream port with no
 * bridge on it and no SR-IOV PF but @pdev's own: a bus created below
 * inherits its parent's ops (pci_add_new_bus()), and such a bus has no
 * room for one while our device sits there, except the virtual bus of a
 * PF whose VFs reach past it (virtfn_add_bus()). @pdev's own PF cannot
 * add VFs while @pdev, one of them, exists. Returns NULL otherwise (bus
 * master is then not kept; "kept" says so).
 *
 * A struct vpr_bus is never freed before module exit: with
 * CONFIG_PCI_LOCKLESS_CONFIG (x86) config reads call bus->ops without
 * pci_lock, so another CPU may still be in our wrapper after the ops are
 * given back. vpr_lock held.
 */
static struct vpr_bus *vpr_bus_get(struct pci_bus *bus, struct pci_dev *pdev)
{
	struct pci_dev *port = bus->self, *dev;
	struct vpr_bus *vb;
	struct pci_ops *old;

	if (pci_is_root_bus(bus) || !port || !pci_is_pcie(port) ||
	    (pci_pcie_type(port) != PCI_EXP_TYPE_ROOT_PORT &&
	     pci_pcie_type(port) != PCI_EXP_TYPE_DOWNSTREAM))
		return NULL;
	list_for_each_entry(dev, &bus->devices, bus_list)
		if (pci_is_bridge(dev) ||
		    (dev->is_physfn && dev != pci_physfn(pdev)))
			return NULL;
	list_for_each_entry(vb, &vpr_buses, node)
		if (vb->bus == bus)
			break;
	if (list_entry_is_head(vb, &vpr_buses, node)) {
		vb = kzalloc(sizeof(*vb), GFP_KERNEL);
		if (!vb)
			return NULL;
		vb->bus = bus;
		list_add(&vb->node, &vpr_buses);
	}
	if (vb->users++)
		return vb;
	vb->orig = bus->ops;
	vb->ops = *bus->ops;
	vb->ops.write = vpr_bus_write;
	old = pci_bus_set_ops(bus, &vb->ops);
	if (old != vb->orig) {
		/* Changed under us: give it back and do without a filter. */
		pci_bus_set_ops(bus, old);
		vb->users = 0;
		return NULL;
	}
	return vb;
}

/* The last armed device on the bus gives the original ops back. */
static void vpr_bus_put(struct vpr_bus *vb)
{
	struct pci_ops *old;

	if (!vb || --vb->users)
		return;
	old = pci_bus_set_ops(vb->bus, vb->orig);
	if (old != &vb->ops) {
		pr_warn("bus %04x:%02x: config ops replaced by someone else; left as they are\n",
			pci_domain_nr(vb->bus), vb->bus->number);
		pci_bus_set_ops(vb->bus, old);
	}
}

/*
 * Module exit: no bus uses a filter any more, not even a bus added below
 * a filtered one that inherited its ops (pci_add_new_bus(), e.g. the
 * virtual bus of a PF that reached the bus after the arming, through a
 * rescan): such a bus gets the original ops; then wait out late callers.
 */
static void vpr_buses_free(void)
{
	struct pci_dev *pdev = NULL;
	struct vpr_bus *vb, *n;

	if (list_empty(&vpr_buses))
		return;
	/*
	 * Through the devices, which hold references on their buses (a bus
	 * from pci_find_bus() has none, and a PF driver's remove frees a
	 * virtual bus without the rescan lock); a bus without devices has
	 * no config access to make, and a virtual one is removed when empty.
	 */
	pci_lock_rescan_remove();
	for_each_pci_dev(pdev)
		list_for_each_entry(vb, &vpr_buses, node)
			if (pdev->bus->ops == &vb->ops) {
				pci_bus_set_ops(pdev->bus, vb->orig);
				pr_info("bus %04x:%02x: inherited config filter removed\n",
					pci_domain_nr(pdev->bus), pdev->bus->number);
			}
	pci_unlock_rescan_remove();
	synchronize_rcu();
	synchronize_rcu_tasks();
	list_for_each_entry_safe(vb, n, &vpr_buses, node) {
		WARN_ON(vb->users);
		list_del(&vb->node);
		kfree(vb);
	}
}

/*
 * A preserve window: no reset method, Command bits kept. Returns the saved
 * reset methods for vpr_quiet_end().
 */
static void vpr_quiet_begin(struct vpr_dev *d, u8 *methods)
{
	struct pci_dev *pdev = vpr_pdev(d);

	memcpy(methods, pdev->reset_methods, sizeof(pdev->reset_methods));
	memset(pdev->reset_methods, 0, sizeof(pdev->reset_methods));
	if (d->vbus)
		set_bit(pdev->devfn, d->vbus->quiet);
}

static void vpr_quiet_end(struct vpr_dev *d, const u8 *methods)
{
	struct pci_dev *pdev = vpr_pdev(d);

	if (d->vbus)
		clear_bit(pdev->devfn, d->vbus->quiet);
	memcpy(pdev->reset_methods, methods, sizeof(pdev->reset_methods));
}

/* ------------------------------------------------------------ kram record */

/* Trace event vpr_record for @r (NULL: a slot with no valid copy). */
static void vpr_trace_record(int slot, const struct vpr_record *r,
			     const char *result, const char *why)
{
	if (!trace_vpr_record_enabled())
		return;
	if (r)
		trace_vpr_record(slot, r->bdf.domain, r->bdf.bus, r->bdf.devfn,
				 r->ident.vendor, r->ident.device, r->saved_gen,
				 result, why);
	else
		trace_vpr_record(slot, 0, 0, 0, 0, 0, 0, result, why);
}

/*
 * What the device is: IDs, class, revision, header type, its BAR sizes,
 * its PCIe serial number and where it sits (the devfn of every bridge
 * between the root bus and it). A record restores only onto a device
 * for which all of it is the same.
 */
static void vpr_ident_of(struct pci_dev *pdev, struct vpr_ident *id)
{
	struct pci_bus *bus;
	int depth = 0, i;

	memset(id, 0, sizeof(*id));
	id->vendor = pdev->vendor;
	id->device = pdev->device;
	id->subvendor = pdev->subsystem_vendor;
	id->subdevice = pdev->subsystem_device;
	id->class = pdev->class;
	id->revision = pdev->revision;
	id->hdr_type = pdev->hdr_type & 0x7f;
	id->dsn = pci_get_dsn(pdev);
	for (i = 0; i < ARRAY_SIZE(id->bar_len); i++)
		id->bar_len[i] = pci_resource_len(pdev, i);
	/* The bridges above the device, from the root bus down. */
	for (bus = pdev->bus; bus && bus->self; bus = bus->parent)
		depth++;
	id->path_depth = min(depth, VPR_PATH_MAX);
	i = depth;
	for (bus = pdev->bus; bus && bus->self; bus = bus->parent) {
		i--;
		if (i < VPR_PATH_MAX)
			id->path[i] = bus->self->devfn;
	}
}

static void vpr_bdf_of(struct pci_dev *pdev, struct vpr_bdf *b)
{
	memset(b, 0, sizeof(*b));
	b->domain = pci_domain_nr(pdev->bus);
	b->bus = pdev->bus->number;
	b->devfn = pdev->devfn;
}

static unsigned int vpr_cfg_read(struct pci_dev *pdev, u8 *cfg)
{
	unsigned int size = pdev->cfg_size > VPR_CFG_SIZE ? VPR_CFG_SIZE :
			    pdev->cfg_size;
	unsigned int off;
	u32 v;

	if (size != VPR_CFG_SIZE)
		size = 256;
	for (off = 0; off < size; off += 4) {
		if (pci_read_config_dword(pdev, off, &v))
			v = ~0U;
		put_unaligned_le32(v, cfg + off);
	}
	return size;
}

/* Copy @len bytes between kram area page range @first.. and @buf. */
static void vpr_area_io(unsigned int first, void *buf, size_t len, bool write)
{
	size_t done = 0;

	while (done < len) {
		struct page *pg = kram_get_fixed_page(vpr_area, first + done / PAGE_SIZE);
		size_t n = min_t(size_t, PAGE_SIZE, len - done);
		void *p;

		if (WARN_ON_ONCE(!pg))
			return;
		p = page_address(pg);
		if (write)
			memcpy(p, buf + done, n);
		else
			memcpy(buf + done, p, n);
		done += n;
	}
}

static unsigned int vpr_copy_page(int slot, int copy)
{
	return slot * VPR_SLOT_PAGES + copy * VPR_COPY_PAGES;
}

/*
 * Read both copies of @slot into @a and @b, a version 2 copy (an older
 * vfio_preserve's, before a kexec) as this version. vpr_lock held.
 */
static void vpr_slot_read(int slot, struct vpr_record *a, struct vpr_record *b)
{
	int ua, ub;

	vpr_area_io(vpr_copy_page(slot, 0), a, sizeof(*a), false);
	vpr_area_io(vpr_copy_page(slot, 1), b, sizeof(*b), false);
	ua = vpr_record_upgrade(a);
	ub = vpr_record_upgrade(b);
	if (!ua || !ub)
		pr_info_once("kram records of an older vfio_preserve (version 2) read as version %d\n",
			     VPR_RECORD_VERSION);
}

/* Where @d's binding stands. d->lock held. */
static void vpr_hist_of(struct vpr_dev *d, struct vpr_hist *h)
{
	lockdep_assert_held(&d->lock);
	h->binding = d->binding;
	h->opens = d->opens;
	h->arms = d->arms;
	h->runs = d->mig_runs;
}

/*
 * Erase @slot: write a tombstone (a disarmed record, seq + 1) into the
 * copy that is not the newest. A crash in the middle leaves the newest
 * record as it was; once complete, the tombstone is the newest. Zeroing
 * both copies instead could stop between them and leave the older copy,
 * an older armed record, as the only valid one. vpr_lock held.
 */
static void vpr_slot_clear(int slot)
{
	/* vpr_lock serialises every user of these two. */
	static struct vpr_record a, b;
	const struct vpr_record *n;
	u32 seq;
	int copy;

	lockdep_assert_held(&vpr_lock);
	vpr_slot_read(slot, &a, &b);
	n = vpr_slot_newest(&a, &b);
	if (n && !(n->flags & VPR_REC_ARMED))
		return;		/* a tombstone already */
	copy = vpr_slot_target(&a, &b, &seq);
	vpr_record_tombstone(copy ? &b : &a, seq);
	vpr_area_io(vpr_copy_page(slot, copy), copy ? &b : &a, sizeof(a), true);
}

/*
 * Open the kram area, creating it if @create (the first arming; a host
 * that never arms a device gets no area). vpr_lock held.
 */
static int vpr_area_ensure(bool create)
{
	struct kram_usage u;
	struct kram_area *a;
	int ret;

	if (vpr_area)
		return 0;
	if (!kram_attached())
		return -ENODEV;
	a = kram_area_open(VPR_AREA_NAME);
	if (IS_ERR(a) && PTR_ERR(a) == -ENOENT && !create)
		return -ENOENT;
	if (IS_ERR(a) && PTR_ERR(a) == -ENOENT)
		a = kram_area_create(VPR_AREA_NAME, VPR_AREA_VERSION,
				     VPR_AREA_PAGES, 0);
	if (IS_ERR(a)) {
		pr_err("kram area '%s': error %ld; preserve will not survive kexec\n",
		       VPR_AREA_NAME, PTR_ERR(a));
		return PTR_ERR(a);
	}
	if (strcmp(kram_area_version(a), VPR_AREA_VERSION) ||
	    kram_area_nr_pages(a) < VPR_AREA_PAGES) {
		/*
		 * Records this module cannot read: their devices reset as
		 * usual. The area is kernel-owned (userspace cannot delete
		 * it): the first arming replaces it.
		 */
		pr_err("kram area '%s' has version '%s' and %llu pages, not '%s' and %u: its records are not this module's to read%s\n",
		       VPR_AREA_NAME, kram_area_version(a), kram_area_nr_pages(a),
		       VPR_AREA_VERSION, VPR_AREA_PAGES,
		       create ? "; replacing it" : "; the first arming replaces it");
		kram_area_put(a);
		if (!create)
			return -EPROTO;
		ret = kram_area_delete(VPR_AREA_NAME);
		if (ret) {
			pr_err("kram area '%s': cannot delete it: %d\n", VPR_AREA_NAME, ret);
			return ret;
		}
		a = kram_area_create(VPR_AREA_NAME, VPR_AREA_VERSION,
				     VPR_AREA_PAGES, 0);
		if (IS_ERR(a)) {
			pr_err("kram area '%s': error %ld; preserve will not survive kexec\n",
			       VPR_AREA_NAME, PTR_ERR(a));
			return PTR_ERR(a);
		}
	}
	vpr_area = a;
	if (!kram_get_usage(&u)) {
		vpr_area_gen = u.generation;
		vpr_area_boot = u.boot_count;
	}
	return 0;
}

/* Is @slot free (no valid copy, and no live device or pending record)? */
static bool vpr_slot_busy(int slot, struct vpr_record *a, struct vpr_record *b)
{
	struct vpr_pending *p;
	struct vpr_dev *d;

	list_for_each_entry(d, &vpr_devices, node)
		if (d->slot == slot)
			return true;
	list_for_each_entry(p, &vpr_pending, node)
		if (p->slot == slot)
			return true;
	vpr_slot_read(slot, a, b);
	return !!vpr_slot_armed(a, b);
}

/*
 * Write @d's record (identity, flags, config space as it is now) into its
 * slot, taking a slot first if it has none. Returns 0, or -ENODEV without
 * kram, -ENOSPC with every slot taken, -EOPNOTSUPP for an SR-IOV VF: the
 * next kernel's sriov_init() clears VF Enable on the PF, which resets
 * every VF, so a VF is kept over close/open only and never recorded.
 * d->lock and vpr_lock held.
 */
static int vpr_record_save(struct vpr_dev *d)
{
	struct pci_dev *pdev = vpr_pdev(d);
	struct vpr_record *a, *b, *rec;
	struct vpr_ident id;
	struct vpr_bdf bdf;
	struct vpr_hist hist;
	u32 seq, flags = 0;
	int ret, slot, copy;
	u8 *cfg;

	if (pdev->is_virtfn)
		return -EOPNOTSUPP;
	ret = vpr_area_ensure(true);
	if (ret)
		return ret;
	a = kmalloc(sizeof(*a), GFP_KERNEL);
	b = kmalloc(sizeof(*b), GFP_KERNEL);
	rec = kzalloc(sizeof(*rec), GFP_KERNEL);
	cfg = kmalloc(VPR_CFG_SIZE, GFP_KERNEL);
	ret = -ENOMEM;
	if (!a || !b || !rec || !cfg)
		goto out;
	if (d->slot < 0) {
		for (slot = 0; slot < VPR_MAX_DEVICES; slot++)
			if (!vpr_slot_busy(slot, a, b))
				break;
		ret = -ENOSPC;
		if (slot == VPR_MAX_DEVICES) {
			pci_err(pdev, "all %d kram slots are taken: preserve will not survive kexec\n",
				VPR_MAX_DEVICES);
			goto out;
		}
		d->slot = slot;
	}
	vpr_slot_read(d->slot, a, b);
	copy = vpr_slot_target(a, b, &seq);
	if (d->flags & HVKIT_VFIO_PRESERVE_ARMED)
		flags |= VPR_REC_ARMED;
	if (d->flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET)
		flags |= VPR_REC_NO_USER_RESET;
	vpr_ident_of(pdev, &id);
	vpr_bdf_of(pdev, &bdf);
	rec->seq = seq;
	vpr_hist_of(d, &hist);
	vpr_record_fill(rec, &bdf, &id, cfg, vpr_cfg_read(pdev, cfg), flags,
			vpr_area_gen, ktime_get_real_ns(), vpr_area_boot, &hist);
	vpr_area_io(vpr_copy_page(d->slot, copy), rec, sizeof(*rec), true);
	d->saved_gen = vpr_area_gen;
	d->saved = true;
	ret = 0;
out:
	kfree(cfg);
	kfree(rec);
	kfree(b);
	kfree(a);
	return ret;
}

static void vpr_record_drop(struct vpr_dev *d)
{
	if (d->slot >= 0 && vpr_area)
		vpr_slot_clear(d->slot);
	d->slot = -1;
	d->saved = false;
	d->saved_gen = 0;
}

/* ------------------------------------------------------------ arming */

static int vpr_count_dev(struct device *dev, void *data)
{
	if (!dev_is_pci(dev) || !pci_is_bridge(to_pci_dev(dev)))
		(*(int *)data)++;
	return 0;
}

/*
 * Devices in @pdev's IOMMU group that can do DMA of their own, -1 when it
 * has no group. PCI bridges are not counted: without ACS a root port
 * shares its device's group, and VFIO accepts such a group too.
 */
static int vpr_group_devices(struct pci_dev *pdev)
{
	struct iommu_group *g = iommu_group_get(&pdev->dev);
	int n = 0;

	if (!g)
		return -1;
	iommu_group_for_each_dev(g, &n, vpr_count_dev);
	iommu_group_put(g);
	return n;
}

static u32 vpr_kept(struct vpr_dev *d)
{
	u32 k = 0;

	if (!(d->flags & HVKIT_VFIO_PRESERVE_ARMED))
		return 0;
	k |= HVKIT_VFIO_KEEP_NO_RESET;
	if (!d->config_lost)
		k |= HVKIT_VFIO_KEEP_CONFIG;
	if (d->vbus)
		k |= HVKIT_VFIO_KEEP_MASTER;
	if (d->slot >= 0 && d->saved)
		k |= HVKIT_VFIO_KEEP_KEXEC;
	if (d->restored)
		k |= HVKIT_VFIO_KEEP_RESTORED;
	if (d->flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET)
		k |= HVKIT_VFIO_KEEP_NO_USER_RESET;
	return k;
}

/*
 * no_user_reset: the device has no reset method at all while armed with
 * it, so neither VFIO_DEVICE_RESET (intercepted anyway) nor a reset the
 * VMM starts through config space (the FLR bit of Device Control, which
 * vfio-pci turns into pci_try_reset_function()) resets it. d->lock held.
 */
static void vpr_user_reset(struct vpr_dev *d, bool allow)
{
	struct pci_dev *pdev = vpr_pdev(d);

	if (!allow && !d->methods_held) {
		memcpy(d->methods, pdev->reset_methods, sizeof(d->methods));
		memset(pdev->reset_methods, 0, sizeof(pdev->reset_methods));
		d->methods_held = true;
	} else if (allow && d->methods_held) {
		memcpy(pdev->reset_methods, d->methods, sizeof(d->methods));
		d->methods_held = false;
	}
}

/*
 * What an armed device holds: a runtime-PM reference (D0), no bus reset,
 * the config filter on its bus. d->lock held.
 */
static int vpr_hold(struct vpr_dev *d)
{
	struct pci_dev *pdev = vpr_pdev(d);
	int ret;

	ret = pm_runtime_resume_and_get(&pdev->dev);
	if (ret < 0) {
		pci_err(pdev, "preserve refused: cannot resume the device (%d)\n", ret);
		return ret;
	}
	d->config_lost = false;
	d->had_no_bus_reset = pdev->dev_flags & PCI_DEV_FLAGS_NO_BUS_RESET;
	pdev->dev_flags |= PCI_DEV_FLAGS_NO_BUS_RESET;
	if (d->untranslated) {
		pci_info(pdev, "the IOMMU does not translate this device's DMA (passthrough or no domain): bus master is not kept\n");
	} else {
		mutex_lock(&vpr_lock);
		d->vbus = vpr_bus_get(pdev->bus, pdev);
		mutex_unlock(&vpr_lock);
		if (!d->vbus)
			pci_info(pdev, "no config filter on bus %02x (not below a PCIe port, or a bridge or another SR-IOV PF on it): bus master is not kept\n",
				 pdev->bus->number);
	}
	d->held = true;
	return 0;
}

static void vpr_release(struct vpr_dev *d)
{
	struct pci_dev *pdev = vpr_pdev(d);

	if (!d->held)
		return;
	vpr_user_reset(d, true);
	mutex_lock(&vpr_lock);
	vpr_bus_put(d->vbus);
	d->vbus = NULL;
	mutex_unlock(&vpr_lock);
	if (!d->had_no_bus_reset)
		pdev->dev_flags &= ~PCI_DEV_FLAGS_NO_BUS_RESET;
	pm_runtime_put(&pdev->dev);
	d->held = false;
}

/* 6.1's pci_reset_fn_methods[] (drivers/pci/pci.c): index 6 is "bus". */
#define VPR_RESET_BUS	6
static_assert(PCI_NUM_RESET_METHODS == 7);

/*
 * Whether vfio-pci can scrub a function without a bus reset: its reset
 * methods (what __pci_reset_function_locked() walks, as probed at
 * enumeration or set in sysfs) have one other than "bus". Read without a
 * lock (the PCI core writes them under the device lock).
 */
static bool vpr_own_reset(const u8 *methods)
{
	int i;
	u8 m;

	for (i = 0; i < PCI_NUM_RESET_METHODS; i++) {
		m = READ_ONCE(methods[i]);
		if (!m)
			break;
		if (m != VPR_RESET_BUS)
			return true;
	}
	return false;
}

/*
 * Whether @dev can reset its whole bus through a hotplug slot without
 * asking the other functions of the bus: a slot whose driver resets it
 * (pciehp: a secondary bus reset) and, in @pdev's own slot, a function
 * whose "bus" method uses it (pci_dev_reset_slot_function(): a function
 * that is not multi-function, e.g. a VF, or a per-function slot).
 */
static bool vpr_slot_resets_bus(struct pci_dev *dev, struct pci_dev *pdev)
{
	struct pci_slot *slot = dev->slot;

	if (!slot || !slot->hotplug || !slot->hotplug->ops ||
	    !slot->hotplug->ops->reset_slot)
		return false;
	return slot != pdev->slot || !dev->multifunction || slot->per_func_slot;
}

struct vpr_siblings {
	struct pci_dev *pdev;
	DECLARE_BITMAP(ours, 256);	/* devfns of functions bound to us */
	DECLARE_BITMAP(ours_reset, 256);	/* ... that have a reset of their own */
	char first[16];		/* the first one found, for the log */
	int n;			/* functions only a bus reset resets */
	int slot_reset;		/* functions whose slot reset ignores us */
};

static int vpr_sibling_cb(struct pci_dev *dev, void *data)
{
	struct vpr_siblings *s = data;
	bool own;

	/* Bridges are never passed through: no tenant to scrub. */
	if (dev->bus != s->pdev->bus || dev == s->pdev || pci_is_bridge(dev))
		return 0;
	if (vpr_slot_resets_bus(dev, s->pdev))
		s->slot_reset++;
	/*
	 * One of ours, armed or not, counts by its real methods (an armed
	 * one may hold them): it may be disarmed later and need its scrub.
	 */
	if (test_bit(dev->devfn, s->ours))
		own = test_bit(dev->devfn, s->ours_reset);
	else
		own = vpr_own_reset(dev->reset_methods);
	if (own)
		return 0;
	if (!s->n++)
		strscpy(s->first, pci_name(dev), sizeof(s->first));
	return 0;
}

/*
 * Functions on @pdev's bus (besides it) that only a bus reset resets, and
 * those that can reset the bus through their slot anyway: arming sets
 * PCI_DEV_FLAGS_NO_BUS_RESET, which refuses the bus and slot resets that
 * check it. A root bus has no bridge to reset it: none there.
 * pci_walk_bus() holds pci_bus_sem; vpr_lock is taken before, not inside.
 */
static void vpr_bus_reset_only(struct pci_dev *pdev, struct vpr_siblings *s)
{
	struct vpr_dev *o;

	s->pdev = pdev;
	bitmap_zero(s->ours, 256);
	bitmap_zero(s->ours_reset, 256);
	s->first[0] = '\0';
	s->n = 0;
	s->slot_reset = 0;
	if (pci_is_root_bus(pdev->bus))
		return;
	mutex_lock(&vpr_lock);
	list_for_each_entry(o, &vpr_devices, node) {
		struct pci_dev *od = vpr_pdev(o);

		if (od->bus != pdev->bus)
			continue;
		__set_bit(od->devfn, s->ours);
		if (vpr_own_reset(READ_ONCE(o->methods_held) ? o->methods : od->reset_methods))
			__set_bit(od->devfn, s->ours_reset);
	}
	mutex_unlock(&vpr_lock);
	pci_walk_bus(pdev->bus, vpr_sibling_cb, s);
}

/* Arm, change or disarm. d->lock held. */
static int __vpr_set_flags_locked(struct vpr_dev *d, u32 flags)
{
	struct pci_dev *pdev = vpr_pdev(d);
	bool was = d->flags & HVKIT_VFIO_PRESERVE_ARMED;
	bool arm = flags & HVKIT_VFIO_PRESERVE_ARMED;
	struct vpr_arm_ctx c = {};
	struct vpr_siblings sib;
	const char *why;
	int ret;

	if (flags & ~HVKIT_VFIO_PRESERVE_FLAGS) {
		pci_err(pdev, "unknown preserve flags 0x%x (known 0x%x)\n",
			flags & ~HVKIT_VFIO_PRESERVE_FLAGS, HVKIT_VFIO_PRESERVE_FLAGS);
		return -EINVAL;
	}
	if (!arm && (flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET)) {
		pci_err(pdev, "no_user_reset needs preserve armed\n");
		return -EINVAL;
	}
	/*
	 * The reset at release is what scrubs a device between tenants:
	 * turning any of it off needs CAP_SYS_ADMIN in the initial user
	 * namespace, or the administrator's opt-in for this device
	 * (allow_user_arm). Turning it back on needs nothing.
	 */
	if ((flags & ~d->flags) && !d->allow_user_arm &&
	    !capable(CAP_SYS_ADMIN)) {
		dev_err_ratelimited(&pdev->dev, "preserve refused for %s (pid %d): arming needs CAP_SYS_ADMIN, or allow_user_arm=1 set by an administrator\n",
				    current->comm, task_pid_nr(current));
		return -EPERM;
	}
	if (arm && !was) {
		c.group_devices = vpr_group_devices(pdev);
		c.hdr_normal = (pdev->hdr_type & 0x7f) == PCI_HEADER_TYPE_NORMAL;
		c.is_bridge = pci_is_bridge(pdev);
		c.has_vfs = pci_num_vf(pdev) > 0 || d->sriov_changing;
		c.vf_bus_apart = pdev->is_virtfn && pdev->bus != pci_physfn(pdev)->bus;
		vpr_bus_reset_only(pdev, &sib);
		c.siblings_bus_reset_only = sib.n;
		c.siblings_slot_reset = sib.slot_reset;
		ret = vpr_policy_arm(&c, &why);
		if (ret) {
			pci_err(pdev, "preserve refused: %s\n", why);
			/* The policy's last rule: name a function it is about. */
			if (ret == -EBUSY && sib.n && !sib.slot_reset && c.group_devices == 1 &&
			    !c.has_vfs && !c.vf_bus_apart)
				pci_err(pdev, "preserve refused: %s has no reset but the bus's (%d such function(s) on bus %02x)\n",
					sib.first, sib.n, pdev->bus->number);
			return ret;
		}
		ret = vpr_hold(d);
		if (ret)
			return ret;
	}
	/*
	 * A token saved before an arm, or before no_user_reset went away (a
	 * reset that this driver does not count was possible), is spent.
	 */
	if (arm && (!was || ((d->flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET) &&
			     !(flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET))))
		d->arms++;
	d->flags = flags;
	if (arm) {
		vpr_user_reset(d, !(flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET));
		mutex_lock(&vpr_lock);
		ret = vpr_record_save(d);
		mutex_unlock(&vpr_lock);
		if (ret == -ENODEV && !was)
			pci_info(pdev, "kram has no region: preserve holds over close/open, not over kexec\n");
		if (ret == -EOPNOTSUPP && !was)
			pci_info(pdev, "an SR-IOV VF: preserve holds over close/open only; a kexec resets every VF (the next kernel clears VF Enable), and so does a reset of PF %s\n",
				 pci_name(pci_physfn(pdev)));
		pci_info(pdev, "preserve %s (flags 0x%x, kept 0x%x)\n",
			 was ? "updated" : "armed", flags, vpr_kept(d));
		return 0;
	}
	if (was) {
		mutex_lock(&vpr_lock);
		vpr_record_drop(d);
		mutex_unlock(&vpr_lock);
		vpr_release(d);
		d->restored = false;
		d->restore_pending = false;
		pci_info(pdev, "preserve disarmed: the next close resets the device\n");
	}
	return 0;
}

/* Every change of the flags, done or refused, is traced (vpr_arm). */
static int vpr_set_flags_locked(struct vpr_dev *d, u32 flags)
{
	u32 old = d->flags;
	int ret = __vpr_set_flags_locked(d, flags);

	trace_vpr_arm(pci_name(vpr_pdev(d)), old, flags, ret);
	return ret;
}

static int vpr_set_flags(struct vpr_dev *d, u32 flags)
{
	int ret;

	mutex_lock(&d->lock);
	ret = vpr_set_flags_locked(d, flags);
	mutex_unlock(&d->lock);
	return ret;
}

/* ------------------------------------------------------------ restore */

/*
 * First armed open after kexec: write back the parts of the saved config
 * space that the old kernel's shutdown and the new kernel's enumeration
 * may have changed, before vfio-pci captures the state it restores at
 * close. d->lock held, inside a preserve window.
 */
static void vpr_restore_config(struct vpr_dev *d)
{
	struct pci_dev *pdev = vpr_pdev(d);
	struct vpr_record *r = d->restore_rec;
	u8 *now = kmalloc(VPR_CFG_SIZE, GFP_KERNEL);
	unsigned int size;
	u16 cmd, saved;

	if (!now)
		return;
	size = min(vpr_cfg_read(pdev, now), r->cfg_size);
	d->diff_before = vpr_cfg_diff(r->cfg, now, size);
	pci_write_config_byte(pdev, PCI_CACHE_LINE_SIZE, r->cfg[PCI_CACHE_LINE_SIZE]);
	pci_write_config_byte(pdev, PCI_LATENCY_TIMER, r->cfg[PCI_LATENCY_TIMER]);
	if (pdev->pcie_cap) {
		unsigned int p = pdev->pcie_cap;

		pcie_capability_write_word(pdev, PCI_EXP_DEVCTL,
					   get_unaligned_le16(r->cfg + p + PCI_EXP_DEVCTL));
		pcie_capability_write_word(pdev, PCI_EXP_DEVCTL2,
					   get_unaligned_le16(r->cfg + p + PCI_EXP_DEVCTL2));
	}
	pci_read_config_word(pdev, PCI_COMMAND, &cmd);
	saved = get_unaligned_le16(r->cfg + PCI_COMMAND);
	/*
	 * Bus master stays as found (cleared by the old kernel's shutdown,
	 * unless kexec_keep_master): this open comes before the VMM has
	 * mapped anything for the device in the new kernel's IOMMU (a variant
	 * driver cannot see its container's mappings), and DMA now would
	 * fault. The VMM (or the guest's driver) turns it on when it is
	 * ready, with a Command write through VFIO.
	 */
	pci_write_config_word(pdev, PCI_COMMAND, vpr_restore_command(saved, cmd, false));
	vpr_cfg_read(pdev, now);
	d->diff_after = vpr_cfg_diff(r->cfg, now, size);
	pci_info(pdev, "restored from kram (generation %llu): %u config dwords differed, %u after restore; bus master %s\n",
		 r->saved_gen, d->diff_before, d->diff_after,
		 cmd & PCI_COMMAND_MASTER ? "still on" : "off until the VMM turns it on");
	kfree(now);
}

/*
 * Armed close: vfio_pci_core_disable() writes back the config space it
 * saved at open (pci_load_and_free_saved_state(), pci_restore_state():
 * header dwords 0-15 and the saved PCIe, PCI-X, LTR, DPC, PTM and VC
 * state), undoing what the VMM and its guest wrote since (Cache Line
 * Size, Latency Timer, PCIe Device Control). The state to keep is the
 * current one: it replaces the open-time copy, so that the restore writes
 * back what the device holds now. When that fails, the open-time state
 * comes back and KEEP_CONFIG is not reported until an armed close keeps it
 * again. d->lock held.
 */
static void vpr_keep_config(struct vpr_dev *d)
{
	struct vfio_pci_core_device *vdev = &d->core;
	struct pci_dev *pdev = vdev->pdev;
	struct pci_saved_state *now = NULL;

	/* A device gone or hung (all ones) has no state worth keeping. */
	if (pci_device_is_present(pdev) && !pci_save_state(pdev)) {
		/*
		 * Not what the session left: INTx stays disabled (vfio-pci
		 * freed the handler, and drives the bit itself at the next
		 * open), and bus master goes off with no filter to keep it.
		 */
		pdev->saved_config_space[PCI_COMMAND / 4] |= PCI_COMMAND_INTX_DISABLE;
		if (!d->vbus)
			pdev->saved_config_space[PCI_COMMAND / 4] &= ~PCI_COMMAND_MASTER;
		now = pci_store_saved_state(pdev);
	}
	d->config_lost = !now;
	if (!now) {
		pci_warn(pdev, "preserve: could not store the config space at close: vfio-pci restores the one of the open\n");
		return;
	}
	kfree(vdev->pci_saved_state);
	vdev->pci_saved_state = now;
}

/* ------------------------------------------------------------ vfio ops */

/* ------------------------------------------ migration region (QEMU 7.2) */

/*
 * QEMU 7.2 migrates a VM with a vfio-pci device only if the device offers
 * the VFIO migration "v1" region (VFIO_REGION_TYPE_MIGRATION_DEPRECATED;
 * the protocol of struct vfio_device_migration_info). A device armed with
 * no_user_reset offers one while kram is attached: its "device state" is
 * a token (struct vpr_mig_token) that says which device on which host
 * QEMU saved, in which boot, and where the device's binding stood. The
 * device keeps its real state itself; QEMU restores its config space
 * (command register, MSI/MSI-X) from its own stream. Writing the token
 * back on the destination (data_size) is where it is checked
 * (vpr_mig_token_check()): another host or device, a reset, another open
 * or a disarm since the save fails the migration there, before the VM
 * runs. A device_state write never fails for a valid state (QEMU 7.2's
 * VM state handler cannot take a failure: outside a migration it passes
 * a NULL file to qemu_file_set_error()); a save is refused at its first
 * pending_bytes or data_size read instead. Documentation/live-update.rst.
 */
#define VPR_MIG_HDR		sizeof(struct vfio_device_migration_info)
#define VPR_MIG_DATA		4096	/* data_offset */
#define VPR_MIG_SIZE		(2 * VPR_MIG_DATA)
#define VPR_MIG_TOKEN		sizeof(struct vpr_mig_token)
#define VPR_MIG_ARMED		(HVKIT_VFIO_PRESERVE_ARMED | HVKIT_VFIO_PRESERVE_NO_USER_RESET)

struct vpr_mig {
	struct mutex lock;		/* everything below; outside vpr_dev.lock */
	u32 state;			/* device_state, VFIO_DEVICE_STATE_V1_* */
	int save_err;			/* SAVING: 0 (@tx built), or why there is no token */
	bool token_sent;		/* SAVING: the token's data_size read */
	bool verified;			/* RESUMING: a token written and checked */
	u64 resets;			/* the device's resets_done at this open */
	size_t rx_len;			/* bytes of @rx written */
	struct vpr_mig_token tx;
	u8 rx[VPR_MIG_TOKEN];
};

/*
 * The device as a token sees it; -EPERM when it is not armed with
 * no_user_reset, -ENODEV without kram, -EIO after a reset since QEMU
 * opened it. *@why then says it.
 */
static int vpr_mig_ctx_of(struct vpr_dev *d, struct vpr_mig *m, struct vpr_mig_ctx *c,
			  const char **why)
{
	struct pci_dev *pdev = vpr_pdev(d);
	struct kram_usage u;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (kram_get_usage(&u)) {
		*why = "kram is not attached: nothing identifies this host";
		return -ENODEV;
	}
	memcpy(c->uuid, u.uuid, sizeof(c->uuid));
	c->boot = u.boot_count;
	c->now_ns = ktime_get_real_ns();
	vpr_ident_of(pdev, &c->ident);
	vpr_bdf_of(pdev, &c->bdf);
	mutex_lock(&d->lock);
	if ((d->flags & VPR_MIG_ARMED) != VPR_MIG_ARMED) {
		*why = "not armed with no_user_reset: a kexec or a VMM reset would lose its state";
		ret = -EPERM;
	} else if (d->resets_done != m->resets) {
		*why = "the device was reset since the VMM opened it";
		ret = -EIO;
	}
	vpr_hist_of(d, &c->hist);
	c->restored = d->restored && d->restore_rec;
	if (c->restored) {
		c->record_boot = d->restore_rec->saved_boot;
		c->record_hist = d->restore_rec->hist;
	}
	mutex_unlock(&d->lock);
	return ret;
}

static void vpr_mig_count(struct vpr_dev *d, u64 *counter)
{
	mutex_lock(&d->lock);
	(*counter)++;
	mutex_unlock(&d->lock);
}

/* Entering SAVING: the token of this device, on this host, now. */
static void vpr_mig_save(struct vpr_dev *d, struct vpr_mig *m)
{
	struct vpr_mig_ctx c;
	const char *why;

	m->token_sent = false;
	m->save_err = vpr_mig_ctx_of(d, m, &c, &why);
	if (m->save_err) {
		dev_err_ratelimited(&vpr_pdev(d)->dev, "migration: save refused: %s\n", why);
		return;
	}
	vpr_mig_token_fill(&m->tx, &c);
}

static const char vpr_mig_unchecked[] =
	"; its history since the save not checked (mig_override)";

/* data_size written in RESUMING: check what QEMU wrote as the token. */
static int vpr_mig_load(struct vpr_dev *d, struct vpr_mig *m, u64 size)
{
	struct pci_dev *pdev = vpr_pdev(d);
	const struct vpr_mig_token *t = (const void *)m->rx;
	struct vpr_mig_ctx c;
	const char *why;
	bool override;
	int ret;

	m->verified = false;
	/* mig_override: one load, whatever its outcome. */
	mutex_lock(&d->lock);
	override = d->mig_override;
	d->mig_override = false;
	mutex_unlock(&d->lock);
	ret = vpr_mig_ctx_of(d, m, &c, &why);
	c.override = override;
	if (!ret && size != m->rx_len) {
		why = "data_size is not what was written";
		ret = -EINVAL;
	}
	if (!ret)
		ret = vpr_mig_token_check(m->rx, size, &c, &why);
	m->rx_len = 0;
	if (ret) {
		vpr_mig_count(d, &d->mig_refused);
		dev_err_ratelimited(&pdev->dev, "migration refused: %s\n", why);
		return ret;
	}
	m->verified = true;
	vpr_mig_count(d, &d->mig_restored);
	dev_info_ratelimited(&pdev->dev, "migration: token checked (saved in kram boot %llu, this is boot %llu): the same device, not reset%s\n",
			     t->boot, c.boot, c.override ? vpr_mig_unchecked : "");
	return 0;
}

static int vpr_mig_set_state(struct vpr_dev *d, struct vpr_mig *m, u32 new)
{
	struct pci_dev *pdev = vpr_pdev(d);
	u32 old = m->state;

	if ((new & ~VFIO_DEVICE_STATE_MASK) || !VFIO_DEVICE_STATE_VALID(new)) {
		dev_err_ratelimited(&pdev->dev, "migration: device_state 0x%x is not valid\n", new);
		return -EINVAL;
	}
	if ((new & VFIO_DEVICE_STATE_V1_SAVING) && !(old & VFIO_DEVICE_STATE_V1_SAVING))
		vpr_mig_save(d, m);
	if (!(new & VFIO_DEVICE_STATE_V1_SAVING) && (old & VFIO_DEVICE_STATE_V1_SAVING)) {
		if (m->token_sent) {
			vpr_mig_count(d, &d->mig_saved);
			dev_info_ratelimited(&pdev->dev, "migration: token handed to the VMM (kram boot %llu)\n",
					     m->tx.boot);
		}
		m->token_sent = false;
	}
	if ((new & VFIO_DEVICE_STATE_V1_RESUMING) && !(old & VFIO_DEVICE_STATE_V1_RESUMING)) {
		m->verified = false;
		m->rx_len = 0;
	}
	if (!(new & VFIO_DEVICE_STATE_V1_RESUMING) && (old & VFIO_DEVICE_STATE_V1_RESUMING) &&
	    !m->verified) {
		/* A stream with this device's section always carries a token. */
		vpr_mig_count(d, &d->mig_unverified);
		dev_warn_ratelimited(&pdev->dev, "migration: resumed without a token checked\n");
	}
	/* The VM runs on: a token handed before this is spent. */
	if ((new & VFIO_DEVICE_STATE_V1_RUNNING) && !(old & VFIO_DEVICE_STATE_V1_RUNNING))
		vpr_mig_count(d, &d->mig_runs);
	m->state = new;
	return 0;
}

/* The header: one whole field per access, as QEMU makes them. */
static ssize_t vpr_mig_hdr(struct vpr_dev *d, struct vpr_mig *m, char __user *buf,
			   size_t count, loff_t pos, bool iswrite)
{
	const size_t f_state = offsetof(struct vfio_device_migration_info, device_state);
	const size_t f_pending = offsetof(struct vfio_device_migration_info, pending_bytes);
	const size_t f_offset = offsetof(struct vfio_device_migration_info, data_offset);
	const size_t f_size = offsetof(struct vfio_device_migration_info, data_size);
	bool saving = m->state & VFIO_DEVICE_STATE_V1_SAVING;
	bool unsent = saving && !m->save_err && !m->token_sent;
	u64 v = 0;
	u32 s;
	int ret;

	if (pos == f_state && count == sizeof(u32)) {
		if (!iswrite)
			return copy_to_user(buf, &m->state, sizeof(u32)) ? -EFAULT : count;
		if (copy_from_user(&s, buf, sizeof(s)))
			return -EFAULT;
		ret = vpr_mig_set_state(d, m, s);
		return ret ? ret : count;
	}
	if (count != sizeof(u64) ||
	    (pos != f_pending && pos != f_offset && pos != f_size))
		return -EINVAL;
	if (iswrite) {
		if (pos != f_size || !(m->state & VFIO_DEVICE_STATE_V1_RESUMING))
			return -EINVAL;
		if (copy_from_user(&v, buf, sizeof(v)))
			return -EFAULT;
		ret = vpr_mig_load(d, m, v);
		return ret ? ret : count;
	}
	/* A save with no token fails here, where QEMU fails the migration. */
	if (saving && m->save_err && pos != f_offset)
		return m->save_err;
	if (pos == f_pending) {
		v = unsent ? VPR_MIG_TOKEN : 0;
	} else if (pos == f_offset) {
		v = VPR_MIG_DATA;
	} else if (unsent) {
		v = VPR_MIG_TOKEN;	/* data_size: the token, once per save */
		m->token_sent = true;
	}
	return copy_to_user(buf, &v, sizeof(v)) ? -EFAULT : count;
}

static ssize_t vpr_mig_rw(struct vfio_pci_core_device *vdev, char __user *buf,
			  size_t count, loff_t *ppos, bool iswrite)
{
	unsigned int i = VFIO_PCI_OFFSET_TO_INDEX(*ppos) - VFIO_PCI_NUM_REGIONS;
	struct vpr_dev *d = container_of(vdev, struct vpr_dev, core);
	struct vpr_mig *m = vdev->region[i].data;
	loff_t pos = *ppos & VFIO_PCI_OFFSET_MASK;
	ssize_t ret = -EINVAL;

	if (pos >= VPR_MIG_SIZE || count > VPR_MIG_SIZE - pos)
		return -EINVAL;
	mutex_lock(&m->lock);
	if (pos < VPR_MIG_HDR) {
		ret = vpr_mig_hdr(d, m, buf, count, pos, iswrite);
	} else if (pos >= VPR_MIG_DATA && pos - VPR_MIG_DATA + count <= VPR_MIG_TOKEN) {
		pos -= VPR_MIG_DATA;
		if (!iswrite && (m->state & VFIO_DEVICE_STATE_V1_SAVING) && !m->save_err) {
			ret = copy_to_user(buf, (u8 *)&m->tx + pos, count) ? -EFAULT : count;
		} else if (iswrite && (m->state & VFIO_DEVICE_STATE_V1_RESUMING)) {
			ret = copy_from_user(m->rx + pos, buf, count) ? -EFAULT : count;
			if (ret > 0)
				m->rx_len = max_t(size_t, m->rx_len, pos + count);
		}
	} else if (pos >= VPR_MIG_DATA && iswrite) {
		dev_err_ratelimited(&vdev->pdev->dev, "migration: more data than a token: not a vfio_preserve stream\n");
	}
	mutex_unlock(&m->lock);
	if (ret > 0)
		*ppos += ret;
	return ret;
}

/* vfio_pci_core_disable() calls it at every close: the region goes with it. */
static void vpr_mig_release(struct vfio_pci_core_device *vdev,
			    struct vfio_pci_region *region)
{
	struct vpr_mig *m = region->data;

	mutex_destroy(&m->lock);
	kfree(m);
}

static const struct vfio_pci_regops vpr_mig_ops = {
	.rw		= vpr_mig_rw,
	.release	= vpr_mig_release,
};

/*
 * At an open armed with no_user_reset, after vfio_pci_core_enable(), with
 * d->lock held: offer the region. A failure only leaves the device
 * unmigratable (QEMU blocks migration).
 */
static void vpr_mig_register(struct vpr_dev *d)
{
	struct vpr_mig *m;
	int ret;

	if (!mig_region || !kram_attached() || (d->flags & VPR_MIG_ARMED) != VPR_MIG_ARMED)
		return;
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m) {
		pci_warn(vpr_pdev(d), "migration region: out of memory; the VMM cannot migrate it\n");
		return;
	}
	mutex_init(&m->lock);
	/* QEMU 7.2 assumes a newly opened device RUNNING. */
	m->state = VFIO_DEVICE_STATE_V1_RUNNING;
	m->resets = d->resets_done;
	ret = vfio_pci_core_register_dev_region(&d->core, VFIO_REGION_TYPE_MIGRATION_DEPRECATED,
						VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED,
						&vpr_mig_ops, VPR_MIG_SIZE,
						VFIO_REGION_INFO_FLAG_READ |
						VFIO_REGION_INFO_FLAG_WRITE, m);
	if (ret) {
		pci_warn(vpr_pdev(d), "migration region: %d; the VMM cannot migrate it\n", ret);
		mutex_destroy(&m->lock);
		kfree(m);
	}
}

static int vpr_open_device(struct vfio_device *core_vdev)
{
	struct vpr_dev *d = to_vpr(core_vdev);
	struct vfio_pci_core_device *vdev = &d->core;
	struct pci_dev *pdev = vdev->pdev;
	u8 methods[PCI_NUM_RESET_METHODS];
	bool armed;
	int ret;

	mutex_lock(&d->lock);
	armed = d->flags & HVKIT_VFIO_PRESERVE_ARMED;
	if (armed) {
		vpr_quiet_begin(d, methods);
		if (d->restore_pending)
			vpr_restore_config(d);
	}
	ret = vfio_pci_core_enable(vdev);
	if (armed) {
		vpr_quiet_end(d, methods);
		/*
		 * Resets are possible again (VFIO_DEVICE_RESET, GET_INFO); with
		 * no_user_reset they are intercepted, but the VMM must see them.
		 */
		vdev->reset_works = (d->methods_held ? d->methods[0] :
				     pdev->reset_methods[0]) != 0;
		if (!ret) {
			d->resets_skipped++;
			d->restore_pending = false;
			trace_vpr_reset(pci_name(pdev), "open", true);
			vpr_mig_register(d);
		}
	} else if (!ret && vdev->reset_works) {
		d->resets_done++;
		trace_vpr_reset(pci_name(pdev), "open", false);
	}
	if (!ret)
		d->opens++;
	mutex_unlock(&d->lock);
	if (ret)
		return ret;
	vfio_pci_core_finish_enable(vdev);
	return 0;
}

static void vpr_close_device(struct vfio_device *core_vdev)
{
	struct vpr_dev *d = to_vpr(core_vdev);
	struct vfio_pci_core_device *vdev = &d->core;
	u8 methods[PCI_NUM_RESET_METHODS];

	mutex_lock(&d->lock);
	if (!(d->flags & HVKIT_VFIO_PRESERVE_ARMED)) {
		bool reset = vdev->reset_works;

		vfio_pci_core_close_device(core_vdev);
		if (reset) {
			d->resets_done++;
			trace_vpr_reset(pci_name(vdev->pdev), "close", false);
		}
		mutex_unlock(&d->lock);
		return;
	}
	vpr_quiet_begin(d, methods);
	vdev->reset_works = false;
	vpr_keep_config(d);
	vfio_pci_core_close_device(core_vdev);
	vpr_quiet_end(d, methods);
	d->resets_skipped++;
	trace_vpr_reset(pci_name(vdev->pdev), "close", true);
	/* The state the next open (or the next kernel) finds. */
	mutex_lock(&vpr_lock);
	vpr_record_save(d);
	mutex_unlock(&vpr_lock);
	mutex_unlock(&d->lock);
}

static long vpr_ioctl(struct vfio_device *core_vdev, unsigned int cmd,
		      unsigned long arg)
{
	struct vpr_dev *d = to_vpr(core_vdev);
	long ret;

	if (cmd != VFIO_DEVICE_RESET)
		return vfio_pci_core_ioctl(core_vdev, cmd, arg);
	mutex_lock(&d->lock);
	if ((d->flags & HVKIT_VFIO_PRESERVE_ARMED) &&
	    (d->flags & HVKIT_VFIO_PRESERVE_NO_USER_RESET)) {
		d->user_resets_skipped++;
		d->resets_skipped++;
		trace_vpr_reset(pci_name(d->core.pdev), "VFIO_DEVICE_RESET", true);
		mutex_unlock(&d->lock);
		return 0;
	}
	mutex_unlock(&d->lock);
	ret = vfio_pci_core_ioctl(core_vdev, cmd, arg);
	if (!ret) {
		mutex_lock(&d->lock);
		d->resets_done++;
		trace_vpr_reset(pci_name(d->core.pdev), "VFIO_DEVICE_RESET", false);
		mutex_unlock(&d->lock);
	}
	return ret;
}

static void vpr_fill(struct vpr_dev *d, struct hvkit_vfio_preserve *p)
{
	memset(p, 0, sizeof(*p));
	p->flags = d->flags;
	p->kept = vpr_kept(d);
	p->resets_skipped = d->resets_skipped;
	p->resets_done = d->resets_done;
	p->saved_generation = d->saved_gen;
}

static int vpr_device_feature(struct vfio_device *core_vdev, u32 flags,
			      void __user *arg, size_t argsz)
{
	struct vpr_dev *d = to_vpr(core_vdev);
	struct hvkit_vfio_preserve p;
	int ret;

	if ((flags & VFIO_DEVICE_FEATURE_MASK) != HVKIT_VFIO_FEATURE_PRESERVE)
		return vfio_pci_core_ioctl_feature(core_vdev, flags, arg, argsz);
	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET |
				 VFIO_DEVICE_FEATURE_SET, sizeof(p));
	if (ret != 1)
		return ret;
	if (flags & VFIO_DEVICE_FEATURE_SET) {
		if (copy_from_user(&p, arg, sizeof(p)))
			return -EFAULT;
		/* Only @flags is input: the rest is reserved, must be zero. */
		if (p.kept || p.resets_skipped || p.resets_done ||
		    p.saved_generation) {
			dev_err_ratelimited(&vpr_pdev(d)->dev, "preserve SET: reserved fields must be zero\n");
			return -EINVAL;
		}
		ret = vpr_set_flags(d, p.flags);
		if (ret)
			return ret;
	}
	if (flags & VFIO_DEVICE_FEATURE_GET) {
		mutex_lock(&d->lock);
		vpr_fill(d, &p);
		mutex_unlock(&d->lock);
		if (copy_to_user(arg, &p, sizeof(p)))
			return -EFAULT;
	}
	return 0;
}

static int vpr_init_dev(struct vfio_device *core_vdev)
{
	struct vpr_dev *d = to_vpr(core_vdev);

	mutex_init(&d->lock);
	INIT_LIST_HEAD(&d->node);
	d->slot = -1;
	get_random_bytes(&d->binding, sizeof(d->binding));
	return vfio_pci_core_init_dev(core_vdev);
}

static void vpr_release_dev(struct vfio_device *core_vdev)
{
	struct vpr_dev *d = to_vpr(core_vdev);

	kfree(d->restore_rec);
	mutex_destroy(&d->lock);
	vfio_pci_core_release_dev(core_vdev);
}

static const struct vfio_device_ops vpr_ops = {
	.name		= VPR_DRV_NAME,
	.init		= vpr_init_dev,
	.release	= vpr_release_dev,
	.open_device	= vpr_open_device,
	.close_device	= vpr_close_device,
	.ioctl		= vpr_ioctl,
	.device_feature	= vpr_device_feature,
	.read		= vfio_pci_core_read,
	.write		= vfio_pci_core_write,
	.mmap		= vfio_pci_core_mmap,
	.request	= vfio_pci_core_request,
	.match		= vfio_pci_core_match,
};

/* ------------------------------------------------------------ sysfs */

static struct vpr_dev *vpr_of_dev(struct device *dev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(dev);

	return container_of(vdev, struct vpr_dev, core);
}

static ssize_t preserve_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct vpr_dev *d = vpr_of_dev(dev);

	return sysfs_emit(buf, "%d\n", !!(READ_ONCE(d->flags) & HVKIT_VFIO_PRESERVE_ARMED));
}

static ssize_t preserve_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct vpr_dev *d = vpr_of_dev(dev);
	bool on;
	int ret;

	ret = kstrtobool(buf, &on);
	if (ret) {
		dev_err(dev, "preserve: '%.*s' is not 0/1/on/off\n",
			(int)strcspn(buf, "\n"), buf);
		return ret;
	}
	mutex_lock(&d->lock);
	/* "1" keeps the other flags; "0" clears them all. */
	ret = vpr_set_flags_locked(d, on ? d->flags | HVKIT_VFIO_PRESERVE_ARMED : 0);
	mutex_unlock(&d->lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(preserve);

static ssize_t preserve_flags_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "0x%x\n", READ_ONCE(vpr_of_dev(dev)->flags));
}

static ssize_t preserve_flags_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t count)
{
	u32 flags;
	int ret;

	ret = kstrtou32(buf, 0, &flags);
	if (ret) {
		dev_err(dev, "preserve_flags: '%.*s' is not a number\n",
			(int)strcspn(buf, "\n"), buf);
		return ret;
	}
	ret = vpr_set_flags(vpr_of_dev(dev), flags);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(preserve_flags);

static ssize_t allow_user_arm_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(vpr_of_dev(dev)->allow_user_arm));
}

/*
 * A per-device switch of the administrator (CAP_SYS_ADMIN): @field of
 * @dev's vpr_dev, under its lock; @on_msg or @off_msg goes to the log.
 */
static ssize_t vpr_admin_bool_store(struct device *dev, struct device_attribute *attr,
				    const char *buf, size_t count, bool *field,
				    const char *on_msg, const char *off_msg)
{
	struct vpr_dev *d = vpr_of_dev(dev);
	bool on;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ret = kstrtobool(buf, &on);
	if (ret) {
		dev_err(dev, "%s: '%.*s' is not 0/1/on/off\n", attr->attr.name,
			(int)strcspn(buf, "\n"), buf);
		return ret;
	}
	mutex_lock(&d->lock);
	*field = on;
	mutex_unlock(&d->lock);
	dev_info(dev, "%s %d: %s\n", attr->attr.name, on, on ? on_msg : off_msg);
	return count;
}

/* The administrator's per-device opt-in: an unprivileged VMM may arm. */
static ssize_t allow_user_arm_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t count)
{
	return vpr_admin_bool_store(dev, attr, buf, count, &vpr_of_dev(dev)->allow_user_arm,
				    "the device's VFIO user may arm preserve without CAP_SYS_ADMIN",
				    "arming needs CAP_SYS_ADMIN");
}
static DEVICE_ATTR_RW(allow_user_arm);

static ssize_t mig_override_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(vpr_of_dev(dev)->mig_override));
}

/*
 * The administrator's way out when a migration token was spent by mistake
 * (a destination QEMU that failed before its load counts as an open): the
 * next load on this device checks host, device and boot, not the
 * device's history since the save. One load, then it is off again.
 */
static ssize_t mig_override_store(struct device *dev,
				  struct device_attribute *attr,
				  const char *buf, size_t count)
{
	return vpr_admin_bool_store(dev, attr, buf, count, &vpr_of_dev(dev)->mig_override,
				    "the next migration load skips the device's history since the save",
				    "migration loads check the device's history");
}
static DEVICE_ATTR_RW(mig_override);

static const char * const vpr_kept_names[] = {
	"no_reset", "master", "config", "kexec", "restored", "no_user_reset",
};

static ssize_t preserve_status_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	struct vpr_dev *d = vpr_of_dev(dev);
	int len = 0, i;
	u32 kept;

	mutex_lock(&d->lock);
	kept = vpr_kept(d);
	len += sysfs_emit_at(buf, len, "armed %d\nflags 0x%x\nkept 0x%x\nkept_names",
			     !!(d->flags & HVKIT_VFIO_PRESERVE_ARMED), d->flags, kept);
	for (i = 0; i < ARRAY_SIZE(vpr_kept_names); i++)
		if (kept & BIT(i))
			len += sysfs_emit_at(buf, len, " %s", vpr_kept_names[i]);
	len += sysfs_emit_at(buf, len,
			     "\nopens %llu\nresets_skipped %llu\nresets_done %llu\nuser_resets_skipped %llu\nsaved_generation %llu\nslot %d\nrestored %d\nrestore_pending %d\nrestore_diff_before %u\nrestore_diff_after %u\n",
			     d->opens, d->resets_skipped, d->resets_done,
			     d->user_resets_skipped, d->saved_gen, d->slot,
			     d->restored, d->restore_pending, d->diff_before,
			     d->diff_after);
	len += sysfs_emit_at(buf, len,
			     "mig_saved %llu\nmig_restored %llu\nmig_refused %llu\nmig_unverified %llu\n",
			     d->mig_saved, d->mig_restored, d->mig_refused,
			     d->mig_unverified);
	mutex_unlock(&d->lock);
	return len;
}
static DEVICE_ATTR_RO(preserve_status);

static struct attribute *vpr_attrs[] = {
	&dev_attr_preserve.attr,
	&dev_attr_preserve_flags.attr,
	&dev_attr_preserve_status.attr,
	&dev_attr_allow_user_arm.attr,
	&dev_attr_mig_override.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vpr);

/* ------------------------------------------------------------ debugfs */

static int vpr_devices_show(struct seq_file *m, void *v)
{
	struct vpr_pending *p;
	struct vpr_dev *d;

	mutex_lock(&vpr_lock);
	seq_printf(m, "kram area: %s\n", vpr_area ? VPR_AREA_NAME : "none");
	list_for_each_entry(d, &vpr_devices, node)
		seq_printf(m, "%s flags 0x%x kept 0x%x slot %d opens %llu skipped %llu done %llu\n",
			   pci_name(vpr_pdev(d)), d->flags, vpr_kept(d), d->slot,
			   d->opens, d->resets_skipped, d->resets_done);
	list_for_each_entry(p, &vpr_pending, node)
		seq_printf(m, "pending %04x:%02x:%02x.%d slot %d (not probed yet)\n",
			   p->rec->bdf.domain, p->rec->bdf.bus,
			   PCI_SLOT(p->rec->bdf.devfn), PCI_FUNC(p->rec->bdf.devfn),
			   p->slot);
	mutex_unlock(&vpr_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vpr_devices);

/* ------------------------------------------------------------ pci driver */

static struct vpr_pending *vpr_pending_take(struct pci_dev *pdev)
{
	struct vpr_pending *p;
	struct vpr_bdf b;

	vpr_bdf_of(pdev, &b);
	list_for_each_entry(p, &vpr_pending, node) {
		if (p->rec->bdf.domain == b.domain && p->rec->bdf.bus == b.bus &&
		    p->rec->bdf.devfn == b.devfn) {
			list_del(&p->node);
			return p;
		}
	}
	return NULL;
}

static int vpr_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iommu_domain *dom;
	u16 cmd;
	struct vpr_pending *p;
	struct vpr_dev *d;
	int ret;

	d = vfio_alloc_device(vpr_dev, core.vdev, &pdev->dev, &vpr_ops);
	if (IS_ERR(d))
		return PTR_ERR(d);
	dev_set_drvdata(&pdev->dev, &d->core);
	/*
	 * No DMA owner yet (driver_managed_dma): the group's domain is its
	 * default one, which cannot change while the device is bound. In an
	 * identity domain (iommu=pt) or with none (vfio noiommu) nothing
	 * translates the device's DMA once VFIO's domain is gone: bus master
	 * is then never kept, neither over a close nor through a kexec.
	 */
	dom = iommu_get_domain_for_dev(&pdev->dev);
	d->untranslated = !dom || dom->type == IOMMU_DOMAIN_IDENTITY;

	mutex_lock(&vpr_lock);
	p = vpr_pending_take(pdev);
	mutex_unlock(&vpr_lock);

	if (p) {
		/* Bound after kexec (or a reload) from a kram record: armed. */
		mutex_lock(&d->lock);
		d->slot = p->slot;
		d->restore_rec = p->rec;
		kfree(p);
		/*
		 * kexec_keep_master in the old kernel, nothing translating in
		 * this one (iommu=pt, no IOMMU): its DMA has been reaching
		 * memory untranslated since the kexec; end that now.
		 */
		cmd = 0;
		pci_read_config_word(pdev, PCI_COMMAND, &cmd);
		if (d->untranslated && (cmd & PCI_COMMAND_MASTER)) {
			pci_write_config_word(pdev, PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER);
			pci_info(pdev, "bus master cleared: the IOMMU does not translate its DMA in this kernel\n");
		}
		if (!vpr_hold(d)) {
			d->restored = true;
			d->restore_pending = true;
			d->saved_gen = d->restore_rec->saved_gen;
			d->saved = true;
			d->flags = HVKIT_VFIO_PRESERVE_ARMED;
			if (d->restore_rec->flags & VPR_REC_NO_USER_RESET) {
				d->flags |= HVKIT_VFIO_PRESERVE_NO_USER_RESET;
				vpr_user_reset(d, false);
			}
		} else {
			pci_err(pdev, "kram record (slot %d) dropped: the device cannot be held in D0\n",
				d->slot);
			vpr_trace_record(d->slot, d->restore_rec, "refuse",
					 "the device cannot be held in D0; erased");
			mutex_lock(&vpr_lock);
			vpr_record_drop(d);
			mutex_unlock(&vpr_lock);
		}
		mutex_unlock(&d->lock);
	}

	ret = vfio_pci_core_register_device(&d->core);
	if (ret)
		goto out_put;
	mutex_lock(&vpr_lock);
	list_add(&d->node, &vpr_devices);
	mutex_unlock(&vpr_lock);
	if (d->restored) {
		pci_info(pdev, "bound from kram record (slot %d): armed, not reset\n", d->slot);
		vpr_trace_record(d->slot, d->restore_rec, "bound", "armed, not reset");
	}
	return 0;

out_put:
	mutex_lock(&d->lock);
	vpr_release(d);
	mutex_unlock(&d->lock);
	vfio_put_device(&d->core.vdev);
	return ret;
}

static void vpr_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);
	struct vpr_dev *d = container_of(vdev, struct vpr_dev, core);

	vfio_pci_core_unregister_device(vdev);
	mutex_lock(&d->lock);
	if (d->flags & HVKIT_VFIO_PRESERVE_ARMED) {
		bool rec = d->slot >= 0;

		if (module_is_live(THIS_MODULE)) {
			/* Unbound: the device is no longer ours to keep. */
			mutex_lock(&vpr_lock);
			vpr_record_drop(d);
			mutex_unlock(&vpr_lock);
			pci_info(pdev, "unbound while armed: preserve disarmed%s\n",
				 rec ? ", kram record erased" : "");
		} else if (rec) {
			pci_info(pdev, "module unloaded while armed: kram record kept (slot %d), the next load binds the device again\n",
				 d->slot);
		} else {
			pci_info(pdev, "module unloaded while armed: no kram record, so the next load finds it disarmed\n");
		}
	}
	/* Off the list before the release: no arming counts it as ours. */
	mutex_lock(&vpr_lock);
	list_del(&d->node);
	mutex_unlock(&vpr_lock);
	vpr_release(d);
	mutex_unlock(&d->lock);
	vfio_put_device(&vdev->vdev);
}

/*
 * Shutdown (also the kexec path, right before pci_device_shutdown() clears
 * bus master): record the device's latest state for the next kernel.
 */
static void vpr_shutdown(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);
	struct vpr_dev *d = container_of(vdev, struct vpr_dev, core);

	mutex_lock(&d->lock);
	if (d->flags & HVKIT_VFIO_PRESERVE_ARMED) {
		mutex_lock(&vpr_lock);
		vpr_record_save(d);
		mutex_unlock(&vpr_lock);
		/*
		 * The filter then keeps bus master through pci_clear_master().
		 * An untranslated device has no filter (vpr_hold()). Not for a
		 * VF: it has no record, the next kernel resets it.
		 */
		if (kexec_keep_master && d->vbus && !pdev->is_virtfn)
			set_bit(pdev->devfn, d->vbus->quiet);
	}
	mutex_unlock(&d->lock);
}

/* As vfio-pci: refused unless enable_sriov; also refused while armed. */
static int vpr_sriov_configure(struct pci_dev *pdev, int nr_virtfn)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);
	struct vpr_dev *d = container_of(vdev, struct vpr_dev, core);
	int ret;

	if (!enable_sriov)
		return -ENOENT;
	/*
	 * Not under d->lock across the call: disabling removes the VFs, and
	 * an armed VF bound to us takes its own d->lock (the same lock class)
	 * in vpr_remove(). The flag keeps arming out meanwhile.
	 */
	mutex_lock(&d->lock);
	if (d->flags & HVKIT_VFIO_PRESERVE_ARMED) {
		mutex_unlock(&d->lock);
		pci_err(pdev, "sriov_numvfs: refused while preserve is armed\n");
		return -EBUSY;
	}
	d->sriov_changing = true;
	mutex_unlock(&d->lock);
	ret = vfio_pci_core_sriov_configure(vdev, nr_virtfn);
	mutex_lock(&d->lock);
	d->sriov_changing = false;
	mutex_unlock(&d->lock);
	return ret;
}

static const struct pci_device_id vpr_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_ANY_ID, PCI_ANY_ID) },
	{}
};
MODULE_DEVICE_TABLE(pci, vpr_table);

static struct pci_driver vpr_driver = {
	.name			= VPR_DRV_NAME,
	.id_table		= vpr_table,
	.probe			= vpr_probe,
	.remove			= vpr_remove,
	.shutdown		= vpr_shutdown,
	.sriov_configure	= vpr_sriov_configure,
	.err_handler		= &vfio_pci_core_err_handlers,
	.driver_managed_dma	= true,
	.dev_groups		= vpr_groups,
	/* Probe must run while the pending records are there. */
	.driver.probe_type	= PROBE_FORCE_SYNCHRONOUS,
};

/* ------------------------------------------------------------ load */

/* Give up a device's driver_override if it is ours. */
static void vpr_clear_override(const struct vpr_bdf *b)
{
	struct pci_dev *pdev = pci_get_domain_bus_and_slot(b->domain, b->bus, b->devfn);

	if (!pdev)
		return;
	if (pdev->driver_override && !strcmp(pdev->driver_override, VPR_DRV_NAME))
		driver_set_override(&pdev->dev, &pdev->driver_override, "", 0);
	pci_dev_put(pdev);
}

/*
 * After kexec: every armed record in kram whose device is present,
 * unchanged, unbound and alone in its IOMMU group gets driver_override set
 * to us, so that registering the driver binds it (no reset: probe does
 * none). Every other record is refused loudly and dropped. vpr_lock held.
 */
static void vpr_scan_records(void)
{
	struct vpr_record *a, *b;
	const struct vpr_record *r;
	int slot, found = 0;

	if (vpr_area_ensure(false))
		return;
	a = kmalloc(sizeof(*a), GFP_KERNEL);
	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!a || !b)
		goto out;
	for (slot = 0; slot < VPR_MAX_DEVICES; slot++) {
		struct vpr_restore_ctx c = {};
		struct vpr_pending *p;
		struct pci_dev *pdev;
		const char *why;
		int ret;

		vpr_slot_read(slot, a, b);
		r = vpr_slot_newest(a, b);
		/* A tombstone: the slot was erased, nothing to restore. */
		if (r && !(r->flags & VPR_REC_ARMED))
			continue;
		if (!r) {
			ret = vpr_record_check(a);
			if (ret != -ENODATA || vpr_record_check(b) != -ENODATA) {
				pr_err("kram slot %d: no valid record (copy A: %d, copy B: %d); dropped\n",
				       slot, ret, vpr_record_check(b));
				vpr_trace_record(slot, NULL, "invalid",
						 "no valid copy; erased");
				vpr_slot_clear(slot);
			}
			continue;
		}
		found++;
		pdev = pci_get_domain_bus_and_slot(r->bdf.domain, r->bdf.bus,
						   r->bdf.devfn);
		c.present = pdev;
		if (pdev) {
			vpr_ident_of(pdev, &c.now);
			c.bound = pdev->dev.driver;
			c.bound_to_us = c.bound && pdev->dev.driver == &vpr_driver.driver;
			c.group_devices = vpr_group_devices(pdev);
			c.is_virtfn = pdev->is_virtfn;
		}
		c.boot_now = vpr_area_boot;
		ret = vpr_policy_restore(r, &c, &why);
		if (!ret) {
			ret = driver_set_override(&pdev->dev, &pdev->driver_override,
						  VPR_DRV_NAME, strlen(VPR_DRV_NAME));
			if (ret)
				why = "driver_override could not be set";
		}
		p = ret ? NULL : kzalloc(sizeof(*p), GFP_KERNEL);
		if (p)
			p->rec = kmemdup(r, sizeof(*r), GFP_KERNEL);
		if (p && p->rec) {
			p->slot = slot;
			list_add_tail(&p->node, &vpr_pending);
			pr_info("kram slot %d: %04x:%02x:%02x.%d %04x:%04x saved in generation %llu: binding without reset\n",
				slot, r->bdf.domain, r->bdf.bus, PCI_SLOT(r->bdf.devfn),
				PCI_FUNC(r->bdf.devfn), r->ident.vendor, r->ident.device,
				r->saved_gen);
			vpr_trace_record(slot, r, "restore", "binding without reset");
		} else {
			kfree(p);
			if (!ret) {
				why = "out of memory";
				vpr_clear_override(&r->bdf);
			}
			pr_err("kram slot %d: %04x:%02x:%02x.%d %04x:%04x not restored: %s; record dropped\n",
			       slot, r->bdf.domain, r->bdf.bus, PCI_SLOT(r->bdf.devfn),
			       PCI_FUNC(r->bdf.devfn), r->ident.vendor, r->ident.device, why);
			vpr_trace_record(slot, r, "refuse", why);
			vpr_slot_clear(slot);
		}
		pci_dev_put(pdev);
	}
	if (found)
		pr_info("%d preserved device record(s) in kram area '%s'\n", found, VPR_AREA_NAME);
out:
	kfree(b);
	kfree(a);
}

/*
 * Records whose device did not bind when the driver registered: with
 * @drop (it probed and failed, or vanished) the record is erased, else
 * (the driver never registered) kept for the next load. vpr_lock held.
 */
static void vpr_pending_free(bool drop)
{
	struct vpr_pending *p, *n;

	list_for_each_entry_safe(p, n, &vpr_pending, node) {
		pr_warn("kram slot %d: %04x:%02x:%02x.%d did not bind; record %s\n",
			p->slot, p->rec->bdf.domain, p->rec->bdf.bus,
			PCI_SLOT(p->rec->bdf.devfn), PCI_FUNC(p->rec->bdf.devfn),
			drop ? "erased" : "kept for the next load");
		vpr_trace_record(p->slot, p->rec, "unbound",
				 drop ? "did not bind; erased" :
					"did not bind; kept for the next load");
		vpr_clear_override(&p->rec->bdf);
		if (drop && vpr_area)
			vpr_slot_clear(p->slot);
		list_del(&p->node);
		kfree(p->rec);
		kfree(p);
	}
}

static int __init vfio_preserve_init(void)
{
	int ret;

	if (vpr_trace_init) {
		static const char *const ev[] = { "vpr_record", NULL };

		hvkit_trace_own_events("vfio_preserve", ev);
	}
	mutex_lock(&vpr_lock);
	vpr_scan_records();
	mutex_unlock(&vpr_lock);
	ret = pci_register_driver(&vpr_driver);
	if (ret) {
		pr_err("cannot register the PCI driver: %d\n", ret);
		goto err;
	}
	mutex_lock(&vpr_lock);
	vpr_pending_free(true);
	mutex_unlock(&vpr_lock);
	vpr_debugfs = debugfs_create_dir(VPR_DRV_NAME, NULL);
	debugfs_create_file("devices", 0400, vpr_debugfs, NULL, &vpr_devices_fops);
	WRITE_ONCE(vpr_initialized, true);
	pr_info("version %s loaded (kram %s)\n", HVKIT_VERSION,
		vpr_area ? "area found" : kram_attached() ? "attached" :
		"not attached: no preserve across kexec");
	return 0;
err:
	mutex_lock(&vpr_lock);
	vpr_pending_free(false);
	mutex_unlock(&vpr_lock);
	kram_area_put(vpr_area);
	vpr_area = NULL;
	return ret;
}

static void __exit vfio_preserve_exit(void)
{
	debugfs_remove_recursive(vpr_debugfs);
	pci_unregister_driver(&vpr_driver);
	vpr_buses_free();
	kram_area_put(vpr_area);
	pr_info("unloaded\n");
}

module_init(vfio_preserve_init);
module_exit(vfio_preserve_exit);

MODULE_DESCRIPTION("hvkit vfio_preserve: VFIO-PCI reset suppression across VMM restarts and kexec");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
