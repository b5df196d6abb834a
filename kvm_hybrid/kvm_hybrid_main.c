// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_hybrid: hybrid vCPU profiles and online CPUID control for stock KVM.
 *
 * A VM is bound (by VM fd or by its VMM's pid), while none of its vCPUs
 * runs, to a profile of core types and a vCPU -> type map. The profile is
 * compiled per vCPU (hybrid_cpuid.c) into a rewritten copy of the vCPU's
 * own KVM CPUID table, which KVM then answers every CPUID exit from: no
 * hook on the exit path. A kretprobe on kvm_set_cpuid() keeps that true
 * when the VMM sets the vCPU's CPUID again. Feature clears (hidden from
 * the guest, never from KVM, which keeps deciding with the VMM's bits) go
 * through a kretprobe on kvm_cpuid(), registered only while some binding
 * has a clear in force. A binding holds a reference on its VM (the struct
 * kvm, which pins the vendor module too): nothing depends on a probe
 * seeing the VM go away. hb_reap() unbinds a VM whose only reference left
 * is the binding's (its VMM closed it) within HB_REAP_MS, and its put
 * destroys the VM.
 *
 * Control interface: /dev/kvm_hybrid (ioctls in include/uapi/linux/hvkit.h),
 * debugfs kvm_hybrid/{bindings,audit}. Documentation/kvm_hybrid.rst.
 */
#include <linux/bsearch.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/kref.h>
#include <linux/kvm_host.h>
#include <linux/llist.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/random.h>
#include <linux/rculist.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/perf_event.h>
#include <asm/processor.h>
#include <hvkit/hvkit.h>
#include "hybrid_cpuid.h"
#include "kvm_private.h"

#define CREATE_TRACE_POINTS
#include "hybrid_trace.h"

struct hb_table {
	struct rcu_head rcu;
	u32 nr_vcpus;
	struct hybrid_vcpu_ovr v[];
};

/*
 * One vCPU's KVM CPUID table, as the binding installed it. KVM's pointer
 * and count change only in kvm_set_cpuid() (under the vCPU's mutex); the
 * kretprobe there holds @lock around its changes and marks @in_set for
 * the time KVM may free or replace the table, so that nobody else writes
 * into a table KVM is about to free.
 */
struct hb_vtab {
	spinlock_t lock;		/* the fields below */
	struct kvm_vcpu *vcpu;
	struct kvm_cpuid_entry2 *ours;	/* KVM's table now, or NULL (none yet) */
	struct kvm_cpuid_entry2 *orig;	/* the VMM's table, as KVM had it */
	struct kvm_cpuid_entry2 *scratch; /* @orig_n: shown to KVM's compare */
	u32 (*mask)[4];			/* per entry of @ours: the bits we own */
	u32 orig_n;
	u32 n;
	bool in_set;			/* inside kvm_set_cpuid() */
	bool presented;			/* @scratch is KVM's table for now */
	bool resync;			/* the profile changed during a set */
	bool detached;			/* unbound: overrides undone */
	const char *lost;		/* why the profile is not in KVM's table */
};

struct hb_binding {
	struct list_head node;		/* hb_list (RCU readers) */
	struct kref ref;
	struct rcu_head rcu;
	struct kvm *kvm;		/* referenced while listed */
	bool vm_held;			/* a VM reference still to put (hb_mutex) */
	bool listed;			/* in hb_list (under hb_list_lock) */
	bool claimed;			/* being unbound (under hb_list_lock) */
	u32 id;
	pid_t pid;
	struct mutex lock;		/* clears and table updates */
	struct hb_table __rcu *table;	/* profile + clears: the hook, ioctls */
	struct hb_table __rcu *prof;	/* the profile alone: KVM's tables */
	struct hb_vtab *vt;		/* [nr_vcpus] */
	u32 nr_types;
	u32 vendor;			/* vCPU 0's at bind (HYBRID_OVR_*), for the log */
	u32 nr_vcpus;
	struct hybrid_core_type *types;
	u8 *vcpu_type;
	u32 *apic_id;
	struct hybrid_pmu_cap *pmu_cap;	/* per vCPU, read at bind */
	char pmu_why[96];		/* why 0xA stays KVM's, or "" */
	/*
	 * HYBRID_IOC_PMU_FILTER, under @filter_lock (not @lock nor hb_mutex:
	 * it is held across a wait for KVM's SRCU readers):
	 */
	struct mutex filter_lock;
	bool filter_on;			/* hvkit's filter was installed */
	bool filter_done;		/* unbound: no more filters */
	u32 filter_cookie;		/* in hvkit's filter's pad[1] */
	struct kvm_pmu_event_filter *vmm_filter; /* the VMM's, to put back */
	struct work_struct filter_work;	/* unbind's hb_filter_unbind() */
	/* Under hb_filter_busy_lock: */
	struct list_head filter_busy;	/* in hb_filter_busy while queued or running */
	unsigned int filter_runs;	/* filter_work runs queued or running (<= 2) */
	u64 filter_seq;			/* when it was added to hb_filter_busy */
	u32 nr_clears;
	struct hybrid_clear clears[HYBRID_MAX_CLEARS];
	atomic64_t cpuid_exits;
	unsigned long logged;		/* HB_LOGGED_*: said once */
};

#define HB_LOGGED_TOPO	0		/* 0x80000026 not from the topology */

static LIST_HEAD(hb_list);
static DEFINE_SPINLOCK(hb_list_lock);	/* changes of hb_list */
static DEFINE_MUTEX(hb_mutex);		/* bind/unbind, probe registration */
static u32 hb_next_id = 1;
static bool hb_probes_on;		/* set_cpuid kretprobe */
static bool hb_hook_on;			/* kvm_cpuid kretprobe (clears) */
static atomic_t hb_in_set = ATOMIC_INIT(0);
static LLIST_HEAD(hb_dead);		/* KVM tables to vfree() in hb_gc() */
static struct dentry *hb_debugfs;
static void hb_reap_arm(void);

/* Audit log of feature changes: the last HB_AUDIT lines, in debugfs. */
#define HB_AUDIT	64
#define HB_AUDIT_LEN	192
static DEFINE_MUTEX(hb_audit_lock);
static char hb_audit[HB_AUDIT][HB_AUDIT_LEN];
static u64 hb_audit_seq;

static struct hb_binding *hb_find_kvm(struct kvm *kvm)
{
	struct hb_binding *b;

	list_for_each_entry_rcu(b, &hb_list, node)
		if (b->kvm == kvm)
			return b;
	return NULL;
}

/* --- the CPUID hook ------------------------------------------------------ */

/*
 * bool kvm_cpuid(struct kvm_vcpu *vcpu, u32 *eax, u32 *ebx, u32 *ecx,
 *		  u32 *edx, bool exact_only): on entry EAX/ECX hold the leaf
 * and subleaf, on return all four the result.
 */
struct hb_call {
	struct kvm_vcpu *vcpu;
	u32 *reg[4];
	u32 function;
	u32 index;
	bool exact_only;
};

static int hb_cpuid_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct hb_call *c = (struct hb_call *)ri->data;
	bool bound;

	c->vcpu = (struct kvm_vcpu *)regs->di;
	c->reg[0] = (u32 *)regs->si;
	c->reg[1] = (u32 *)regs->dx;
	c->reg[2] = (u32 *)regs->cx;
	c->reg[3] = (u32 *)regs->r8;
	c->function = *c->reg[0];
	c->index = *c->reg[2];
	c->exact_only = (u8)regs->r9;
	rcu_read_lock();
	bound = hb_find_kvm(c->vcpu->kvm);
	rcu_read_unlock();
	return bound ? 0 : 1;	/* non-zero: no return handler */
}

/*
 * The subleaf whose data KVM answered CPUID @fn with ECX=@idx: @idx, or the
 * index of @fn's entry if the VMM gave it no KVM_CPUID_FLAG_SIGNIFCANT_INDEX
 * (KVM then answers every ECX with it). Runs in the vCPU's thread inside
 * KVM_RUN (every caller of kvm_cpuid()): the table is stable.
 */
static u32 hb_answered_index(struct kvm_vcpu *vcpu, u32 fn, u32 idx)
{
	const struct kvm_cpuid_entry2 *e =
		hybrid_find_entry(vcpu->arch.cpuid_entries, vcpu->arch.cpuid_nent,
				  fn, idx, false);

	return e && !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ? e->index : idx;
}

/*
 * KVM found no entry for CPUID @*fn.@*sub (kvm_cpuid() returned false): it
 * answered zeros, or, for a guest of any vendor but AMD and Hygon and a
 * leaf above its class's maximum (6.1's get_out_of_range_cpuid_entry()),
 * the highest basic leaf's entry. Work out which, from the vCPU's table:
 * - a leaf the profile raised the maximum to cover is answered as a real
 *   CPU would an absent leaf, with zeros (@r cleared), plus the profile's
 *   own values for it (Intel guests read 0x15's TSC ratio, say, and must
 *   not get 0xD's XSAVE sizes);
 * - any other redirected leaf gets the overrides of the leaf whose data
 *   KVM returned (@*fn, @*sub rewritten), so that a clear of the highest
 *   basic leaf cannot be read through an out-of-range leaf.
 * Runs in the vCPU's thread inside KVM_RUN: the table is stable.
 */
static void hb_out_of_range(struct kvm_vcpu *vcpu, const struct hybrid_vcpu_ovr *ov,
			    u32 vendor, u32 *fn, u32 *sub, u32 r[4])
{
	const struct kvm_cpuid_entry2 *e = vcpu->arch.cpuid_entries, *basic, *class, *hi;
	u32 n = vcpu->arch.cpuid_nent, f = *fn, top;

	basic = hybrid_find_entry(e, n, 0, 0, true);
	if (!basic || !hybrid_vendor_redirects(basic->ebx, basic->ecx, basic->edx))
		return;
	if (f >= 0x40000000 && f <= 0x4fffffff)
		class = hybrid_find_entry(e, n, f & 0xffffff00, 0, true);
	else if (f >= 0xc0000000)
		class = hybrid_find_entry(e, n, 0xc0000000, 0, true);
	else
		class = hybrid_find_entry(e, n, f & 0x80000000, 0, true);
	if (class && f <= class->eax)
		return;
	/* Out of KVM's range: within the one the guest was shown? */
	if (f <= hybrid_raised_max(ov, vendor, f)) {
		memset(r, 0, 4 * sizeof(*r));
		/* As kvm_cpuid() for a leaf it has: CL and the x2APIC id. */
		hi = f == 0xb || f == 0x1f ? hybrid_find_entry(e, n, f, 1, false) : NULL;
		if (hi) {
			r[2] = *sub & 0xff;
			r[3] = hi->edx;
		}
		return;
	}
	/*
	 * Out of both: Intel answers with the highest basic leaf the guest
	 * was shown. If the profile raised it, that leaf is one KVM does not
	 * have (zeros plus the profile's values).
	 */
	top = max(basic->eax, hybrid_raised_max(ov, vendor, 0));
	if (top > basic->eax) {
		memset(r, 0, 4 * sizeof(*r));
		*fn = top;
		return;
	}
	*fn = basic->eax;
	hi = hybrid_find_entry(e, n, basic->eax, *sub, false);
	if (hi && !(hi->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX))
		*sub = hi->index;
}

static int hb_cpuid_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct hb_call *c = (struct hb_call *)ri->data;
	u32 idx = c->vcpu->vcpu_idx, r[4], before[4], i;
	struct hb_binding *b;
	struct hb_table *t;
	u32 fn, sub, vendor;

	rcu_read_lock();
	b = hb_find_kvm(c->vcpu->kvm);
	t = b ? rcu_dereference(b->table) : NULL;
	if (t && idx < t->nr_vcpus) {
		for (i = 0; i < 4; i++)
			r[i] = *c->reg[i];
		fn = c->function;
		sub = c->index;
		/* Leaf 0 is the first entry of a VMM's table, as a rule. */
		vendor = hybrid_table_vendor(c->vcpu->arch.cpuid_entries,
					     c->vcpu->arch.cpuid_nent);
		/* kvm_cpuid() returns a bool: only AL is defined. */
		if (!(u8)regs_return_value(regs) && !c->exact_only)
			/* No exact entry: zeros, or another leaf's data. */
			hb_out_of_range(c->vcpu, &t->v[idx], vendor, &fn, &sub, r);
		else if (hybrid_has_indexed_ovr(&t->v[idx], fn))
			/* The table walk only where an override names a subleaf. */
			sub = hb_answered_index(c->vcpu, fn, c->index);
		hybrid_apply(&t->v[idx], vendor, fn, sub, r);
		/* The originals are still in *c->reg: no copy unless traced. */
		if (trace_hybrid_override_enabled()) {
			for (i = 0; i < 4; i++)
				before[i] = *c->reg[i];
			if (memcmp(before, r, sizeof(r)))
				trace_hybrid_override(b->id, idx, c->function,
						      c->index, before, r);
		}
		for (i = 0; i < 4; i++)
			*c->reg[i] = r[i];
		atomic64_inc(&b->cpuid_exits);
	}
	rcu_read_unlock();
	return 0;
}

/* Set up by hb_hook_update(); registered only while a clear is in force. */
static struct kretprobe hb_cpuid_probe;
static unsigned long hb_missed;	/* nmissed of earlier registrations */

static void hb_gc(struct work_struct *work);
static DECLARE_WORK(hb_gc_work, hb_gc);

/*
 * Free a CPUID table KVM allocated (kvmalloc) from any context: vfree()
 * may sleep, so a vmalloc'ed one goes to hb_gc(), linked through its own
 * first bytes (every table we free has at least one entry).
 */
static void hb_free_table(struct kvm_cpuid_entry2 *e)
{
	if (!is_vmalloc_addr(e)) {
		kfree(e);
		return;
	}
	llist_add((struct llist_node *)e, &hb_dead);
	schedule_work(&hb_gc_work);
}

static void hb_free_dead(void)
{
	struct llist_node *n = llist_del_all(&hb_dead), *next;

	for (; n; n = next) {
		next = n->next;
		vfree(n);
	}
}

/*
 * Write into @dst (@n entries laid out as @vt->ours) @vt's table brought
 * to @ov, or with every override undone (@ov NULL): each register takes,
 * in the bits the overrides own now or owned before, @ov applied to the
 * VMM's value (for an added entry: zeros, or its 0x80000026 level made
 * from the VMM's table again), and keeps its other bits (KVM
 * updates some at run time, e.g. OSXSAVE and the XSAVE sizes; no
 * override owns those). Into @vt->ours itself, the bits owned from now
 * on are recorded. Under @vt->lock; the vCPU may be running: each
 * register is one 32-bit store.
 */
static void hb_vtab_rewrite(struct hb_vtab *vt, const struct hybrid_vcpu_ovr *ov,
			    struct kvm_cpuid_entry2 *dst, u32 n)
{
	u32 i, r, m[4], want[4], mm;
	/* The VMM's table says which vendor's lines apply. */
	u32 vendor = hybrid_table_vendor(vt->orig, vt->orig_n);

	for (i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &dst[i];
		u32 *reg[4] = { &e->eax, &e->ebx, &e->ecx, &e->edx };

		if (!hybrid_table_leaf(e->function))
			continue;	/* the VMM's (the hook applies 0xA) */
		if (i < vt->orig_n) {
			want[0] = vt->orig[i].eax;
			want[1] = vt->orig[i].ebx;
			want[2] = vt->orig[i].ecx;
			want[3] = vt->orig[i].edx;
		} else if (ov) {
			/* As hybrid_table_build() made it from the VMM's table. */
			hybrid_added_base(ov, vendor, vt->orig, vt->orig_n,
					  e->function, e->index, want);
		} else {
			memset(want, 0, sizeof(want));
		}
		memset(m, 0, sizeof(m));
		if (ov) {
			hybrid_apply(ov, vendor, e->function, e->index, want);
			hybrid_ovr_mask(ov, vendor, e->function, e->index, m);
		}
		for (r = 0; r < 4; r++) {
			mm = m[r] | vt->mask[i][r];
			if (mm)
				WRITE_ONCE(*reg[r], (READ_ONCE(*reg[r]) & ~mm) |
						    (want[r] & mm));
			if (dst == vt->ours && i < vt->orig_n)
				vt->mask[i][r] = m[r];
		}
	}
}

/* Bring the installed table to @ov, or undo it (@ov NULL), in place. */
static void hb_vtab_sync(struct hb_vtab *vt, const struct hybrid_vcpu_ovr *ov)
{
	hb_vtab_rewrite(vt, ov, vt->ours, vt->n);
}

/* The table KVM holds for @vcpu is @e with @n entries; racy readers of
 * the pair (outside the vCPU's mutex) see at most as many entries as
 * either table has.
 */
static void hb_vcpu_table_set(struct kvm_vcpu *vcpu, struct kvm_cpuid_entry2 *e,
			      u32 n)
{
	if (n < vcpu->arch.cpuid_nent) {
		WRITE_ONCE(vcpu->arch.cpuid_nent, n);
		smp_wmb();	/* the shorter count before the shorter table */
		WRITE_ONCE(vcpu->arch.cpuid_entries, e);
	} else {
		WRITE_ONCE(vcpu->arch.cpuid_entries, e);
		smp_wmb();	/* the longer table before the longer count */
		WRITE_ONCE(vcpu->arch.cpuid_nent, n);
	}
}

/* Free a table built into @tmp and not committed. */
static void hb_vtab_discard(struct hb_vtab *tmp)
{
	kfree(tmp->ours);
	kfree(tmp->mask);
	kfree(tmp->scratch);
	memset(tmp, 0, sizeof(*tmp));
}

/*
 * Say once per binding when an AMD guest's 0x80000026 is not made from
 * its table's topology (hybrid_amd_topo()): the VMM has its own levels,
 * or the table describes none. Any context.
 */
static void hb_log_topo(struct hb_binding *b, struct kvm_vcpu *vcpu,
			const struct hybrid_vcpu_ovr *ov,
			const struct kvm_cpuid_entry2 *e, u32 n)
{
	u32 lv[HYBRID_AMD_LEVELS][4];
	int nl;

	/* Once per binding: not worked out again at every KVM_SET_CPUID2. */
	if (test_bit(HB_LOGGED_TOPO, &b->logged))
		return;
	nl = hybrid_amd_topo(ov, hybrid_table_vendor(e, n), e, n, lv);
	if (nl >= 0 || test_and_set_bit(HB_LOGGED_TOPO, &b->logged))
		return;
	if (nl == -EEXIST)
		pr_info("binding %u vCPU %u: the VMM's table has its own 0x80000026: its levels stay, the profile sets the core fields of subleaf 0\n",
			b->id, vcpu->vcpu_idx);
	else
		pr_info("binding %u vCPU %u: its CPUID describes no topology (0xB, or 0x80000008): 0x80000026 is subleaf 0 with the core fields only\n",
			b->id, vcpu->vcpu_idx);
}

/*
 * Build @vt's table for @ov from the vCPU's current KVM table into @tmp
 * (nothing installed yet): a rewritten copy that KVM will answer from and
 * kvfree(), and the VMM's table that KVM holds now becomes the binding's
 * (for undoing, and for KVM_SET_CPUID2's comparison). Under the vCPU's
 * mutex, or in kvm_set_cpuid() (which runs under it).
 */
static int hb_vtab_build(struct hb_binding *b, const struct hb_vtab *vt,
			 const struct hybrid_vcpu_ovr *ov, gfp_t gfp,
			 struct hb_vtab *tmp)
{
	struct kvm_vcpu *vcpu = vt->vcpu;
	u32 n = vcpu->arch.cpuid_nent, cap = n + HYBRID_TABLE_EXTRA_MAX, i;
	struct kvm_cpuid_entry2 *src = vcpu->arch.cpuid_entries;
	int ret;

	memset(tmp, 0, sizeof(*tmp));
	if (!n)
		return 0;	/* no CPUID yet: KVM_SET_CPUID2 brings it */
	tmp->ours = kmalloc_array(cap, sizeof(*tmp->ours), gfp | __GFP_NOWARN);
	tmp->mask = kmalloc_array(cap, sizeof(*tmp->mask), gfp | __GFP_NOWARN);
	tmp->scratch = kmalloc_array(n, sizeof(*tmp->scratch), gfp | __GFP_NOWARN);
	ret = -ENOMEM;
	if (!tmp->ours || !tmp->mask || !tmp->scratch)
		goto free;
	ret = hybrid_table_build(ov, src, n, tmp->ours, tmp->mask, cap, false);
	if (ret < 0)
		goto free;
	hb_log_topo(b, vcpu, ov, src, n);
	tmp->n = ret;
	tmp->orig = src;
	tmp->orig_n = n;
	if (!trace_hybrid_override_enabled())
		return 0;
	for (i = 0; i < tmp->n; i++) {
		const struct kvm_cpuid_entry2 *e = &tmp->ours[i];
		u32 before[4] = {}, after[4] = { e->eax, e->ebx, e->ecx, e->edx };

		if (i < n) {
			before[0] = src[i].eax;
			before[1] = src[i].ebx;
			before[2] = src[i].ecx;
			before[3] = src[i].edx;
		}
		if (i >= n || memcmp(before, after, sizeof(after)))
			trace_hybrid_override(b->id, vcpu->vcpu_idx, e->function,
					      e->index, before, after);
	}
	return 0;
free:
	hb_vtab_discard(tmp);
	return ret;
}

/* Make @tmp's table KVM's. Under @vt->lock and as hb_vtab_build(). */
static void hb_vtab_commit(struct hb_vtab *vt, struct hb_vtab *tmp)
{
	if (!tmp->ours)
		return;
	vt->orig = tmp->orig;
	vt->orig_n = tmp->orig_n;
	vt->ours = tmp->ours;
	vt->n = tmp->n;
	vt->mask = tmp->mask;
	vt->scratch = tmp->scratch;
	vt->lost = NULL;
	hb_vcpu_table_set(vt->vcpu, vt->ours, vt->n);
}

/*
 * Is KVM's table still the one installed? Outside kvm_set_cpuid() it can
 * only have changed there unseen if the kretprobe missed a call (no free
 * instance; counted, and logged when the probe goes): then never write
 * into it, KVM has freed it.
 */
static void hb_vtab_forget(struct hb_vtab *vt);

static bool hb_vtab_ours(struct hb_vtab *vt)
{
	if (!vt->ours)
		return false;
	if (READ_ONCE(vt->vcpu->arch.cpuid_entries) == vt->ours)
		return true;
	pr_err_ratelimited("vCPU %d: KVM's CPUID table was replaced unseen (a missed kvm_set_cpuid probe): the profile is not in it until the VMM sets the CPUID again\n",
			   vt->vcpu->vcpu_idx);
	vt->lost = "missed kvm_set_cpuid";
	hb_vtab_forget(vt);
	return false;
}

/*
 * Is @vt's table installed and KVM's (or, inside kvm_set_cpuid(), behind
 * the compare copy)? Under @vt->lock.
 */
static bool hb_vtab_live(struct hb_vtab *vt)
{
	return vt->ours && !vt->detached && (vt->presented || hb_vtab_ours(vt));
}

/*
 * The table to read @vt's vCPU's CPUID from, and its entries in @n: the
 * installed one (KVM's pointer may be the compare copy for a moment,
 * inside kvm_set_cpuid()), else KVM's. @vmm_only: not the entries a
 * profile added. Under @vt->lock, with the table stable (the vCPU's
 * mutex, or after its first VM entry: hb_vcpu_table_lock()).
 */
static const struct kvm_cpuid_entry2 *hb_vtab_table(struct hb_vtab *vt,
						    bool vmm_only, u32 *n)
{
	if (hb_vtab_live(vt)) {
		*n = vmm_only ? vt->orig_n : vt->n;
		return vt->ours;
	}
	*n = vt->vcpu->arch.cpuid_nent;
	return vt->vcpu->arch.cpuid_entries;
}

/* Forget an installed table that KVM has freed or that we put back. */
static void hb_vtab_forget(struct hb_vtab *vt)
{
	if (vt->orig)
		hb_free_table(vt->orig);
	kfree(vt->scratch);
	kfree(vt->mask);
	vt->orig = NULL;
	vt->scratch = NULL;
	vt->mask = NULL;
	vt->ours = NULL;
	vt->orig_n = 0;
	vt->n = 0;
}

/*
 * The installed table back to the VMM's values, the vCPU perhaps running:
 * its own entries rewritten, then the added ones dropped from the count,
 * untouched (KVM finds an entry by its key, whatever leaf 0's maximum
 * says: zeroed first, an added 0x1A would read 0 to a guest in between).
 */
static void hb_vtab_undo(struct hb_vtab *vt)
{
	hb_vtab_rewrite(vt, NULL, vt->ours, vt->orig_n);
	WRITE_ONCE(vt->vcpu->arch.cpuid_nent, vt->orig_n);
}

/*
 * Undo the overrides in KVM's table, in place (KVM keeps and frees the
 * table). Not while a kvm_set_cpuid() may free it: then its return
 * handler does it. Under @vt->lock.
 */
static void hb_vtab_detach(struct hb_vtab *vt)
{
	lockdep_assert_held(&vt->lock);
	if (vt->detached)
		return;
	vt->detached = true;
	if (vt->in_set || !hb_vtab_ours(vt))
		return;
	hb_vtab_undo(vt);
}

/* Undo @b's overrides in every vCPU's table (the binding's reference on
 * the VM keeps the VM and its vCPUs alive; in hb_bind_vm()'s failure path
 * after a racing unbind, the caller's VM file, and every table is undone).
 */
static void hb_detach_all(struct hb_binding *b)
{
	u32 v;

	for (v = 0; v < b->nr_vcpus; v++) {
		spin_lock(&b->vt[v].lock);
		hb_vtab_detach(&b->vt[v]);
		spin_unlock(&b->vt[v].lock);
	}
}

static void hb_free_rcu(struct rcu_head *rcu)
{
	struct hb_binding *b = container_of(rcu, struct hb_binding, rcu);
	u32 i;

	/* KVM keeps (and frees) each installed table; the rest is ours. */
	for (i = 0; b->vt && i < b->nr_vcpus; i++)
		hb_vtab_forget(&b->vt[i]);
	kfree(b->vt);
	kvfree(rcu_dereference_protected(b->prof, true));
	kvfree(rcu_dereference_protected(b->table, true));
	kfree(b->types);
	kfree(b->vcpu_type);
	kfree(b->apic_id);
	kfree(b->pmu_cap);
	kfree(b->vmm_filter);
	kfree(b);
}

static void hb_release(struct kref *ref)
{
	struct hb_binding *b = container_of(ref, struct hb_binding, ref);

	call_rcu(&b->rcu, hb_free_rcu);
}

/*
 * static int kvm_set_cpuid(struct kvm_vcpu *vcpu, struct kvm_cpuid_entry2 *e2,
 *			    int nent), under the vCPU's mutex (KVM_SET_CPUID
 * and KVM_SET_CPUID2). Before the vCPU's first VM entry KVM frees the
 * current table and takes @e2: the return handler builds the binding's
 * table from it. After it KVM only compares @e2 with the current table
 * (a VMM re-issuing it for a hot-plugged vCPU whose fd it kept): the
 * entry handler shows KVM the table with the overrides undone, so the
 * VMM's unchanged table still compares equal.
 */
struct hb_set_call {
	struct hb_binding *b;
	struct kvm_vcpu *vcpu;
};

static int hb_set_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct hb_set_call *c = (struct hb_set_call *)ri->data;
	struct kvm_vcpu *vcpu = (struct kvm_vcpu *)regs->di;
	struct hb_binding *b;
	struct hb_vtab *vt;

	rcu_read_lock();
	b = hb_find_kvm(vcpu->kvm);
	if (b && (vcpu->vcpu_idx >= b->nr_vcpus || !kref_get_unless_zero(&b->ref)))
		b = NULL;
	rcu_read_unlock();
	if (!b)
		return 1;
	vt = &b->vt[vcpu->vcpu_idx];
	spin_lock(&vt->lock);
	if (vt->detached) {
		spin_unlock(&vt->lock);
		kref_put(&b->ref, hb_release);
		return 1;
	}
	vt->in_set = true;
	atomic_inc(&hb_in_set);
	if (vcpu->arch.last_vmentry_cpu != -1 && hb_vtab_ours(vt)) {
		memcpy(vt->scratch, vt->ours, vt->orig_n * sizeof(*vt->scratch));
		hb_vtab_rewrite(vt, NULL, vt->scratch, vt->orig_n);
		hb_vcpu_table_set(vcpu, vt->scratch, vt->orig_n);
		vt->presented = true;
	}
	spin_unlock(&vt->lock);
	c->b = b;
	c->vcpu = vcpu;
	return 0;
}

static int hb_set_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct hb_set_call *c = (struct hb_set_call *)ri->data;
	struct kvm_vcpu *vcpu = c->vcpu;
	struct hb_binding *b = c->b;
	struct hb_vtab *vt = &b->vt[vcpu->vcpu_idx];
	const struct hybrid_vcpu_ovr *ov;
	int ret;

	spin_lock(&vt->lock);
	rcu_read_lock();
	ov = &rcu_dereference(b->prof)->v[vcpu->vcpu_idx];
	if (vt->presented) {
		/* KVM compared (and freed @e2): our table back. */
		vt->presented = false;
		hb_vcpu_table_set(vcpu, vt->ours, vt->detached ? vt->orig_n : vt->n);
		if (vt->detached)
			hb_vtab_sync(vt, NULL);
		else if (vt->resync)
			hb_vtab_sync(vt, ov);
	} else if (!vt->ours || vcpu->arch.cpuid_entries != vt->ours) {
		/* KVM took the VMM's new table (and freed ours, if any). */
		if (vt->ours)
			hb_vtab_forget(vt);
		if (!vt->detached && vcpu->arch.cpuid_nent) {
			struct hb_vtab tmp;

			ret = hb_vtab_build(b, vt, ov, GFP_ATOMIC, &tmp);
			if (!ret)
				hb_vtab_commit(vt, &tmp);
			/*
			 * KVM has taken the table: its call cannot fail now
			 * (the caller would free what KVM holds). Say so.
			 */
			if (ret) {
				vt->lost = "no memory";
				pr_err_ratelimited("binding %u vCPU %u: no memory for its CPUID table (%d): the VMM's new CPUID stands, without the profile; unbind and bind again\n",
						   b->id, vcpu->vcpu_idx, ret);
			}
		}
	} else if (vt->detached) {
		/* KVM refused the new table; ours stays, undone. */
		hb_vtab_undo(vt);
	} else if (vt->resync) {
		hb_vtab_sync(vt, ov);
	}
	rcu_read_unlock();
	vt->resync = false;
	vt->in_set = false;
	atomic_dec(&hb_in_set);
	spin_unlock(&vt->lock);
	kref_put(&b->ref, hb_release);
	return 0;
}

static struct kretprobe hb_set_probe;

static int hb_probes_get(char *why, size_t len)
{
	int ret;

	lockdep_assert_held(&hb_mutex);
	if (hb_probes_on)
		return 0;
	/* Registration fills in addr and flags: start from scratch each time. */
	hb_set_probe = (struct kretprobe){
		.kp.symbol_name	= "kvm_set_cpuid",
		.entry_handler	= hb_set_entry,
		.handler	= hb_set_ret,
		.data_size	= sizeof(struct hb_set_call),
		/*
		 * An instance is taken on every call, of any VM, before the
		 * entry handler runs, and held while the call sleeps: room
		 * for as many vCPUs as one binding may have, and more.
		 */
		.maxactive	= HYBRID_MAX_VCPUS + 4 * num_possible_cpus(),
	};
	ret = register_kretprobe(&hb_set_probe);
	if (ret) {
		snprintf(why, len, "cannot probe kvm_set_cpuid: %d", ret);
		return ret;
	}
	hb_probes_on = true;
	return 0;
}

/*
 * A kretprobe unregistered while its function runs does not call the
 * return handler: wait until no kvm_set_cpuid() of a bound vCPU is in
 * flight (one ioctl; only those of bindings now detached can be).
 */
static void hb_set_drain(void)
{
	while (atomic_read(&hb_in_set))
		usleep_range(500, 1000);
}

/* No binding left: take the probes out (nothing on KVM's paths). */
static void hb_probes_put(void)
{
	lockdep_assert_held(&hb_mutex);
	if (!hb_probes_on || !list_empty(&hb_list))
		return;
	hb_set_drain();
	unregister_kretprobe(&hb_set_probe);
	if (hb_set_probe.nmissed)
		pr_err("kvm_set_cpuid: %d calls missed: a vCPU's table may lack its profile\n",
		       hb_set_probe.nmissed);
	hb_probes_on = false;
}

/*
 * Does @b need the CPUID hook: a feature clear in force, or an override
 * that may not live in KVM's table (a profile's 0xA on a host with a
 * vPMU)? Under RCU.
 */
static bool hb_needs_hook(struct hb_binding *b)
{
	const struct hb_table *p = rcu_dereference(b->prof);
	u32 v, i;

	if (READ_ONCE(b->nr_clears))
		return true;
	for (v = 0; p && v < p->nr_vcpus; v++)
		for (i = 0; i < p->v[v].n; i++)
			if (!hybrid_table_leaf(p->v[v].e[i].function))
				return true;
	return false;
}

/*
 * The CPUID hook, only while some binding needs it (hb_needs_hook()):
 * then it runs on every CPUID exit of every VM.
 */
static int hb_hook_update(void)
{
	struct hb_binding *b;
	bool want = false;
	int ret;

	lockdep_assert_held(&hb_mutex);
	rcu_read_lock();
	list_for_each_entry_rcu(b, &hb_list, node)
		want |= hb_needs_hook(b);
	rcu_read_unlock();
	if (want == hb_hook_on)
		return 0;
	if (!want) {
		unregister_kretprobe(&hb_cpuid_probe);
		hb_missed += hb_cpuid_probe.nmissed;
		hb_hook_on = false;
		/* A return handler may still be running on another CPU until
		 * unregister_kretprobe() returns; it reads no binding after that.
		 */
		return 0;
	}
	hb_cpuid_probe = (struct kretprobe){
		.kp.symbol_name	= "kvm_cpuid",
		.entry_handler	= hb_cpuid_entry,
		.handler	= hb_cpuid_ret,
		.data_size	= sizeof(struct hb_call),
		.maxactive	= max_t(int, 16, 2 * num_possible_cpus()),
	};
	ret = register_kretprobe(&hb_cpuid_probe);
	if (ret) {
		pr_err("cannot probe kvm_cpuid: %d: feature clears are not applied\n", ret);
		return ret;
	}
	hb_hook_on = true;
	return 0;
}

static void hb_gc(struct work_struct *work)
{
	mutex_lock(&hb_mutex);
	hb_hook_update();
	hb_probes_put();
	mutex_unlock(&hb_mutex);
	hb_free_dead();
}

/* --- bindings -------------------------------------------------------------- */

static void hb_audit_log(const char *fmt, ...) __printf(1, 2);
static void hb_audit_log(const char *fmt, ...)
{
	va_list ap;
	char *line;

	mutex_lock(&hb_audit_lock);
	line = hb_audit[hb_audit_seq++ % HB_AUDIT];
	va_start(ap, fmt);
	vsnprintf(line, HB_AUDIT_LEN, fmt, ap);
	va_end(ap);
	pr_info("audit: %s\n", line);
	mutex_unlock(&hb_audit_lock);
}

/* Compile every vCPU's overrides (the profile's, and the clears?) */
static struct hb_table *hb_compile(struct hb_binding *b, bool clears)
{
	struct hybrid_layout lay = {
		.nr_vcpus = b->nr_vcpus,
		.vcpu_type = b->vcpu_type,
		.apic_id = b->apic_id,
		.pmu = b->pmu_cap,
	};
	struct hb_table *t;
	u32 v;
	int ret;

	t = kvzalloc(struct_size(t, v, b->nr_vcpus), GFP_KERNEL_ACCOUNT);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->nr_vcpus = b->nr_vcpus;
	for (v = 0; v < b->nr_vcpus; v++) {
		ret = hybrid_compile_vcpu(b->types, b->nr_types, &lay, v,
					  b->clears, clears ? b->nr_clears : 0,
					  &t->v[v]);
		if (ret) {
			kvfree(t);
			return ERR_PTR(ret);
		}
	}
	return t;
}

static void hb_publish(struct hb_binding *b, struct hb_table *t)
{
	struct hb_table *old;

	lockdep_assert_held(&b->lock);
	old = rcu_replace_pointer(b->table, t, lockdep_is_held(&b->lock));
	if (old)
		kvfree_rcu(old, rcu);
}

/* Find binding @id and take a reference; NULL if there is none. */
static struct hb_binding *hb_get(u32 id)
{
	struct hb_binding *b;

	spin_lock(&hb_list_lock);
	list_for_each_entry(b, &hb_list, node) {
		if (b->id == id) {
			kref_get(&b->ref);
			spin_unlock(&hb_list_lock);
			return b;
		}
	}
	spin_unlock(&hb_list_lock);
	return NULL;
}

/*
 * A binding id for a new binding: never 0 (hb_take()'s "the first", the
 * reaper's "none") nor one in use, also once the counter wraps. Under
 * hb_mutex, which every id change is.
 */
static u32 hb_new_id(void)
{
	struct hb_binding *b;
	u32 id;

	lockdep_assert_held(&hb_mutex);
	for (;;) {
		bool used = false;

		id = hb_next_id++;
		if (!id)
			continue;
		spin_lock(&hb_list_lock);
		list_for_each_entry(b, &hb_list, node)
			used |= b->id == id;
		spin_unlock(&hb_list_lock);
		if (!used)
			return id;
	}
}

struct hb_pid_vm {
	struct file *file;
	u32 count;
};

static int hb_pid_vm_cb(const void *arg, struct file *file, unsigned int fd)
{
	struct hb_pid_vm *pv = (struct hb_pid_vm *)arg;

	if (!file_is_kvm(file))
		return 0;
	if (!pv->count++)
		pv->file = get_file(file);
	return 0;
}

/* The one KVM VM file of process @nr (its fd table), with a reference. */
static struct file *hb_vm_of_pid(pid_t nr, char *why, size_t len)
{
	struct hb_pid_vm pv = {};
	struct task_struct *task;
	struct pid *pid;

	pid = find_get_pid(nr);
	task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	if (!task) {
		snprintf(why, len, "no process %d", nr);
		return ERR_PTR(-ESRCH);
	}
	task_lock(task);
	if (task->files)
		iterate_fd(task->files, 0, hb_pid_vm_cb, &pv);
	task_unlock(task);
	put_task_struct(task);
	if (!pv.count) {
		snprintf(why, len, "process %d holds no KVM VM", nr);
		return ERR_PTR(-ESRCH);
	}
	if (pv.count > 1) {
		fput(pv.file);
		snprintf(why, len, "process %d holds %u KVM VMs: bind by VM fd",
			 nr, pv.count);
		return ERR_PTR(-EINVAL);
	}
	return pv.file;
}

static bool hb_profile_has_pmu(const struct hb_binding *b)
{
	u32 i;

	for (i = 0; i < b->nr_types; i++)
		if (b->types[i].flags & HYBRID_CT_PMU)
			return true;
	return false;
}

static int hb_vcpu_table_lock(struct kvm_vcpu *vcpu);

/*
 * What @vcpu's vPMU counts, in leaf 0xA terms, as 6.1 sets it up: KVM
 * offers 0xA only on a host with the architectural PMU (Intel) and
 * kvm.enable_pmu (forced off on a hybrid host); the VM may turn its vPMU
 * off (KVM_CAP_PMU_CAPABILITY); intel_pmu_refresh() clamps the VMM's 0xA
 * into vcpu->arch.pmu at KVM_SET_CPUID2. Called at bind, before the VM
 * runs: a KVM_SET_CPUID2 after it with a smaller 0xA (allowed until the
 * first KVM_RUN), or a host write of PERF_CAPABILITIES (which refreshes
 * the vPMU even later), is not seen; bind again after it.
 * Returns the reason when there is none, else NULL.
 */
static const char *__hb_pmu_cap(struct kvm *kvm, struct kvm_vcpu *vcpu,
				struct hybrid_pmu_cap *cap)
{
	const struct kvm_pmu *pmu = &vcpu->arch.pmu;
	unsigned int version;

	memset(cap, 0, sizeof(*cap));
	if (!boot_cpu_has(X86_FEATURE_ARCH_PERFMON))
		return "the host has no architectural PMU: KVM's leaf 0xA is empty (AMD)";
	if (!READ_ONCE(enable_pmu) || !kvm_pmu_cap.version)
		return "KVM's vPMU is off (kvm.enable_pmu=0, or a hybrid host)";
	if (!READ_ONCE(kvm->arch.enable_pmu))
		return "the VMM turned this VM's vPMU off (KVM_CAP_PMU_CAPABILITY)";
	/*
	 * No CPUID table yet (bound before KVM_SET_CPUID2, e.g. to have
	 * HYBRID_IOC_CPUID2 fill it): the most KVM_SET_CPUID2 can give,
	 * KVM's own 0xA; intel_pmu_refresh() takes the clamped leaf then.
	 */
	if (!READ_ONCE(vcpu->arch.cpuid_nent)) {
		cap->version = kvm_pmu_cap.version;
		cap->gp = kvm_pmu_cap.num_counters_gp;
		cap->gp_width = kvm_pmu_cap.bit_width_gp;
		cap->mask_len = kvm_pmu_cap.events_mask_len;
		cap->unavailable = kvm_pmu_cap.events_mask;
		cap->fixed = kvm_pmu_cap.num_counters_fixed;
		cap->fixed_width = kvm_pmu_cap.bit_width_fixed;
		return NULL;
	}
	version = READ_ONCE(pmu->version);
	if (!version)
		return "the VMM gave this vCPU no vPMU (no leaf 0xA)";
	cap->version = min_t(u32, version, kvm_pmu_cap.version);
	cap->gp = READ_ONCE(pmu->nr_arch_gp_counters);
	cap->gp_width = fls64(READ_ONCE(pmu->counter_bitmask[KVM_PMC_GP]));
	cap->mask_len = kvm_pmu_cap.events_mask_len;
	cap->unavailable = kvm_pmu_cap.events_mask |
		~(u32)READ_ONCE(pmu->available_event_types);
	cap->fixed = READ_ONCE(pmu->nr_arch_fixed_counters);
	cap->fixed_width = fls64(READ_ONCE(pmu->counter_bitmask[KVM_PMC_FIXED]));
	return NULL;
}

/*
 * Under the vCPU's mutex while its table may still change (before its
 * first VM entry; KVM_SET_CPUID2 sets cpuid_nent, then refreshes the
 * vPMU), so that a vCPU ioctl cannot be half-way through. When the mutex
 * is busy (a vCPU parked in KVM_RUN before its first entry, or a vCPU
 * ioctl of the VMM running now) read without it: the values may then be
 * stale, or zero (then the profile's 0xA is not applied).
 */
static const char *hb_pmu_cap(struct kvm *kvm, struct kvm_vcpu *vcpu,
			      struct hybrid_pmu_cap *cap)
{
	int locked = hb_vcpu_table_lock(vcpu);
	const char *why = __hb_pmu_cap(kvm, vcpu, cap);

	if (locked > 0)
		mutex_unlock(&vcpu->mutex);
	return why;
}

/* Take @b out of hb_list; true if this call did (the list's reference
 * is then the caller's to drop).
 */
static bool hb_unlist(struct hb_binding *b)
{
	bool was;

	spin_lock(&hb_list_lock);
	was = b->listed;
	if (was) {
		list_del_rcu(&b->node);
		b->listed = false;
	}
	spin_unlock(&hb_list_lock);
	return was;
}

/* --- the vPMU event filter (HYBRID_IOC_PMU_FILTER) ------------------------- */

/* pad[0] of a filter hvkit installed; pad[1] is its binding's cookie. */
#define HB_FILTER_MAGIC	0x4b545648	/* "HVTK" */

static struct workqueue_struct *hb_filter_wq;

/*
 * Bindings whose filter_work is queued or running, in the order they were
 * queued, for a filter ioctl to wait on those of its own VM only. Never
 * held while waiting. A binding listed has a reference its work holds.
 */
static LIST_HEAD(hb_filter_busy);
static DEFINE_SPINLOCK(hb_filter_busy_lock);
static u64 hb_filter_busy_seq;

/*
 * Is @f, KVM's filter of @b's VM (read under kvm->lock), the one @b
 * installed? KVM copies a VMM's filter whole, pad included: a VMM's
 * matches only if it wrote hvkit's magic and random cookie.
 */
static bool hb_filter_ours(const struct hb_binding *b,
			   const struct kvm_pmu_event_filter *f)
{
	return f && b->filter_cookie && f->pad[0] == HB_FILTER_MAGIC &&
	       f->pad[1] == b->filter_cookie;
}

/* Whose filter @f (the one in force; NULL: none) is: HYBRID_FILTER_*. */
static u32 hb_filter_owner(const struct hb_binding *b,
			   const struct kvm_pmu_event_filter *f)
{
	if (!f)
		return HYBRID_FILTER_NONE;
	return hb_filter_ours(b, f) ? HYBRID_FILTER_HVKIT : HYBRID_FILTER_VMM;
}

static int hb_cmp_u64(const void *pa, const void *pb)
{
	u64 a = *(const u64 *)pa, b = *(const u64 *)pb;

	return (a > b) - (a < b);
}

/*
 * Does filter @f (NULL: none) let counter @idx of @pmu count, by 6.1's
 * check_pmu_event_filter()? @idx < INTEL_PMC_IDX_FIXED: a general
 * counter, by its event select (read racily: the vCPU may change it, and
 * then reprograms it itself); else fixed counter @idx - INTEL_PMC_IDX_FIXED.
 */
static bool hb_filter_allows(const struct kvm_pmu_event_filter *f,
			     struct kvm_pmu *pmu, int idx)
{
	u64 key;
	bool in;

	if (!f)
		return true;
	if (idx < INTEL_PMC_IDX_FIXED) {
		if (idx >= KVM_INTEL_PMC_MAX_GENERIC)
			return true;
		key = READ_ONCE(pmu->gp_counters[idx].eventsel) & AMD64_RAW_EVENT_MASK_NB;
		in = !!bsearch(&key, f->events, f->nevents, sizeof(key), hb_cmp_u64);
	} else {
		idx -= INTEL_PMC_IDX_FIXED;
		/* Not a fixed counter (Intel's vLBR index): KVM has no pmc. */
		if (idx >= KVM_PMC_MAX_FIXED)
			return true;
		in = f->fixed_counter_bitmap & BIT(idx);
	}
	return f->action == KVM_PMU_EVENT_ALLOW ? in : !in;
}

/*
 * The filter of @kvm went from @prev to the one in force now: have each
 * vCPU reprogram, before its next entry, every counter whose verdict
 * changed, as a guest write of its event select does. 6.1's
 * kvm_pmu_handle_event() then pauses each such counter that has a perf
 * event and runs it again only if the filter allows its event.
 * KVM_SET_PMU_EVENT_FILTER itself leaves running counters alone in 6.1.
 * Only counters whose verdict changed: in 6.1 a counter's reprogram_pmi
 * bit also stands for "overflowed", so marking one that overflows in the
 * same instant would lose that overflow. Called after the grace period
 * that retired @prev, before it is freed.
 */
static void hb_pmu_reprogram(struct kvm *kvm, const struct kvm_pmu_event_filter *prev)
{
	const struct kvm_pmu_event_filter *cur;
	struct kvm_vcpu *vcpu;
	unsigned long i;
	int idx, bit;
	bool any;

	idx = srcu_read_lock(&kvm->srcu);
	cur = srcu_dereference(kvm->arch.pmu_event_filter, &kvm->srcu);
	kvm_for_each_vcpu(i, vcpu, kvm) {
		struct kvm_pmu *pmu = &vcpu->arch.pmu;

		any = false;
		for_each_set_bit(bit, pmu->all_valid_pmc_idx, X86_PMC_IDX_MAX) {
			if (hb_filter_allows(prev, pmu, bit) == hb_filter_allows(cur, pmu, bit))
				continue;
			set_bit(bit, pmu->reprogram_pmi);
			any = true;
		}
		if (any) {
			kvm_make_request(KVM_REQ_PMU, vcpu);
			kvm_vcpu_kick(vcpu);
		}
	}
	srcu_read_unlock(&kvm->srcu, idx);
}

/*
 * After a filter change in @kvm (kvm->lock released): wait for KVM's SRCU
 * readers of the filter replaced, as KVM_SET_PMU_EVENT_FILTER does; with
 * @reprogram, mark the counters whose verdict changed from @prev (not
 * freed before this); then free @to_free.
 */
static void hb_filter_retire(struct kvm *kvm, bool reprogram,
			     const struct kvm_pmu_event_filter *prev,
			     struct kvm_pmu_event_filter *to_free)
{
	synchronize_srcu_expedited(&kvm->srcu);
	if (reprogram)
		hb_pmu_reprogram(kvm, prev);
	kfree(to_free);
}

/*
 * Remove @b's filter from @kvm and put the VMM's back, if hvkit's is
 * still the one in force; drop the VMM's saved one otherwise (the VMM
 * has set another since). Under @b->filter_lock: waits for KVM's SRCU
 * readers, as KVM_SET_PMU_EVENT_FILTER does. Returns the owner of the
 * filter that was in force (HYBRID_FILTER_*).
 */
static u32 hb_filter_clear(struct hb_binding *b, struct kvm *kvm)
{
	struct kvm_pmu_event_filter *cur, *to_free;
	u32 owner;

	lockdep_assert_held(&b->filter_lock);
	mutex_lock(&kvm->lock);
	cur = rcu_dereference_protected(kvm->arch.pmu_event_filter,
					lockdep_is_held(&kvm->lock));
	owner = hb_filter_owner(b, cur);
	if (!b->filter_on) {
		mutex_unlock(&kvm->lock);
		return owner;
	}
	if (owner == HYBRID_FILTER_HVKIT) {
		rcu_assign_pointer(kvm->arch.pmu_event_filter, b->vmm_filter);
		to_free = cur;
	} else {
		to_free = b->vmm_filter;
	}
	b->vmm_filter = NULL;
	WRITE_ONCE(b->filter_on, false);
	mutex_unlock(&kvm->lock);
	hb_filter_retire(kvm, owner == HYBRID_FILTER_HVKIT, to_free, to_free);
	return owner;
}

/*
 * Unbind's part (queued by hb_unbind_ref() with a reference on the VM and
 * on the binding): hvkit's filter out, the VMM's back, in a work item and
 * not under hb_mutex: a vCPU may stay in an SRCU read section for long
 * (a fault on userfaultfd memory), and every VM's bind and unbind would
 * wait for it.
 */
static void hb_filter_unbind(struct work_struct *work)
{
	struct hb_binding *b = container_of(work, struct hb_binding, filter_work);
	struct kvm *kvm = b->kvm;

	mutex_lock(&b->filter_lock);
	if (b->filter_on && hb_filter_clear(b, kvm) == HYBRID_FILTER_HVKIT)
		pr_info("binding %u: its vPMU event filter is removed, the VMM's is back\n",
			b->id);
	mutex_unlock(&b->filter_lock);
	/* Before the put: a flusher takes its reference while @b is listed. */
	spin_lock(&hb_filter_busy_lock);
	if (!--b->filter_runs)
		list_del(&b->filter_busy);
	spin_unlock(&hb_filter_busy_lock);
	kref_put(&b->ref, hb_release);
	kvm_put_kvm(kvm);
}

/*
 * Undo @b's overrides while it is listed, then unlist it and drop the
 * caller's reference on it (see hb_unbind()).
 */
static void hb_unbind_ref(struct hb_binding *b)
{
	bool queued;

	lockdep_assert_held(&hb_mutex);
	/*
	 * No filter from now on; one installed (or being installed) comes
	 * out in hb_filter_unbind(). The VM is alive: the binding's reference
	 * (or, on bind's failure path, the caller's VM file) holds it.
	 */
	WRITE_ONCE(b->filter_done, true);
	/*
	 * Always: an ioctl may be installing one now (it read filter_done
	 * under filter_lock before this); the work takes filter_lock after
	 * it. Not filter_lock here: its holder may wait on KVM's SRCU.
	 */
	kvm_get_kvm(b->kvm);
	kref_get(&b->ref);
	/*
	 * Counted under the lock the work's end takes: a work that starts at
	 * once still finds itself counted. Listed before @b is unlisted, so
	 * before a new binding of the VM can exist (see hb_flush_vm_filter()).
	 * A second call (bind's failure path after an unbind ioctl) while
	 * the first work runs queues it again: counted, it stays listed.
	 */
	spin_lock(&hb_filter_busy_lock);
	queued = queue_work(hb_filter_wq, &b->filter_work);
	if (queued && !b->filter_runs++) {
		b->filter_seq = ++hb_filter_busy_seq;
		list_add_tail(&b->filter_busy, &hb_filter_busy);
	}
	spin_unlock(&hb_filter_busy_lock);
	if (!queued) {
		/* Queued by an earlier call, not run yet: it holds its own. */
		kref_put(&b->ref, hb_release);
		kvm_put_kvm(b->kvm);
	}
	hb_detach_all(b);
	if (hb_unlist(b))
		kref_put(&b->ref, hb_release);
	kref_put(&b->ref, hb_release);
}

/*
 * A paused VMM may still be in a short vCPU ioctl (QEMU finishing machine
 * init, or reading registers for its monitor): try for up to 100 ms. A
 * vCPU in KVM_RUN holds its mutex for as long as it runs: never wait on it.
 */
static bool hb_vcpu_trylock_briefly(struct kvm_vcpu *vcpu)
{
	int i;

	for (i = 0; i < 50; i++) {
		if (mutex_trylock(&vcpu->mutex))
			return true;
		if (fatal_signal_pending(current))
			break;
		usleep_range(2000, 2500);
	}
	return false;
}

/*
 * Install each vCPU's table. Only while the vCPU neither runs nor is in
 * another vCPU ioctl: its mutex, never waited for (a vCPU in KVM_RUN
 * holds it for as long as it runs). A vCPU without CPUID yet gets its
 * table when the VMM sets it (hb_set_ret()).
 */
static int hb_install(struct hb_binding *b, char *why, size_t len)
{
	const struct hb_table *p;
	struct hb_vtab tmp;
	u32 v;
	int ret = 0;

	mutex_lock(&b->lock);
	p = rcu_dereference_protected(b->prof, lockdep_is_held(&b->lock));
	for (v = 0; v < b->nr_vcpus && !ret; v++) {
		struct hb_vtab *vt = &b->vt[v];

		if (!hb_vcpu_trylock_briefly(vt->vcpu)) {
			snprintf(why, len,
				 "vCPU %u is running (in KVM_RUN or a vCPU ioctl): bind the VM paused (QEMU -S, or 'stop' in its monitor)",
				 v);
			ret = -EBUSY;
			break;
		}
		/* No CPUID yet: the vendor comes with it, nothing to log. */
		if (!v)
			b->vendor = vt->vcpu->arch.cpuid_nent ?
				hybrid_table_vendor(vt->vcpu->arch.cpuid_entries,
						    vt->vcpu->arch.cpuid_nent) :
				HYBRID_OVR_VENDOR;
		ret = hb_vtab_build(b, vt, &p->v[v], GFP_KERNEL_ACCOUNT, &tmp);
		if (ret) {
			snprintf(why, len, "vCPU %u: cannot build its CPUID table: %d",
				 v, ret);
		} else {
			spin_lock(&vt->lock);
			if (vt->detached || vt->ours)
				hb_vtab_discard(&tmp);
			else
				hb_vtab_commit(vt, &tmp);
			spin_unlock(&vt->lock);
		}
		mutex_unlock(&vt->vcpu->mutex);
	}
	mutex_unlock(&b->lock);
	return ret;
}

/*
 * Say which of the profile's vendor lines the guest does not get (they
 * apply per vCPU, by the vendor of its table: hybrid_ovr_for()).
 */
static void hb_log_vendor(const struct hb_binding *b)
{
	u32 i, lines = 0;

	for (i = 0; i < b->nr_types; i++) {
		if (b->types[i].flags & HYBRID_CT_INTEL)
			lines |= HYBRID_OVR_INTEL;
		if (b->types[i].flags & HYBRID_CT_AMD)
			lines |= HYBRID_OVR_AMD;
	}
	lines &= ~b->vendor;
	if (!lines)
		return;
	pr_info("binding %u: vCPU 0's vendor is %s: the profile's %s%s%s are not shown to it\n",
		b->id, b->vendor & HYBRID_OVR_INTEL ? "Intel" :
		b->vendor & HYBRID_OVR_AMD ? "AMD or Hygon" : "neither Intel nor AMD",
		lines & HYBRID_OVR_INTEL ? "Intel lines (0x1A, 7.EDX[15])" : "",
		lines == HYBRID_OVR_VENDOR ? " and " : "",
		lines & HYBRID_OVR_AMD ? "AMD lines (0x80000026, the AMD cache leaves)" : "");
}

/*
 * Bind @kvm with @b. Once @b is listed (*@listed), it lives by its
 * references: the caller must not touch it again, whatever the result.
 */
static int hb_bind_vm(struct hybrid_bind *a, struct kvm *kvm,
		      struct hb_binding *b, bool *listed)
{
	struct hybrid_layout lay;
	struct hb_table *t;
	u32 online = atomic_read(&kvm->online_vcpus), v;
	const char *why;
	int ret;

	if (a->nr_vcpus != online) {
		snprintf(a->why, sizeof(a->why), "the VM has %u vCPUs, the map gives %u",
			 online, a->nr_vcpus);
		return -EINVAL;
	}
	for (v = 0; v < a->nr_vcpus; v++) {
		struct kvm_vcpu *vcpu = kvm_get_vcpu(kvm, v);

		if (!vcpu) {
			snprintf(a->why, sizeof(a->why), "vCPU %u is not created yet", v);
			return -EINVAL;
		}
		b->apic_id[v] = vcpu->vcpu_id;
		b->vt[v].vcpu = vcpu;
		spin_lock_init(&b->vt[v].lock);
		why = hb_pmu_cap(kvm, vcpu, &b->pmu_cap[v]);
		if (why && !b->pmu_why[0])
			snprintf(b->pmu_why, sizeof(b->pmu_why), "vCPU %u: %s", v, why);
	}
	lay.nr_vcpus = a->nr_vcpus;
	lay.vcpu_type = b->vcpu_type;
	lay.apic_id = b->apic_id;
	lay.pmu = b->pmu_cap;
	ret = hybrid_validate_profile(b->types, b->nr_types, &lay, a->why,
				      sizeof(a->why));
	if (ret)
		return ret;
	t = hb_compile(b, true);
	if (!IS_ERR(t)) {
		RCU_INIT_POINTER(b->table, t);
		t = hb_compile(b, false);
		if (!IS_ERR(t))
			RCU_INIT_POINTER(b->prof, t);
	}
	if (IS_ERR(t)) {
		snprintf(a->why, sizeof(a->why), "cannot compile the overrides: %ld",
			 PTR_ERR(t));
		return PTR_ERR(t);
	}

	mutex_lock(&hb_mutex);
	rcu_read_lock();
	if (hb_find_kvm(kvm)) {
		rcu_read_unlock();
		mutex_unlock(&hb_mutex);
		snprintf(a->why, sizeof(a->why), "the VM is already bound: unbind it first");
		return -EBUSY;
	}
	rcu_read_unlock();
	ret = hb_probes_get(a->why, sizeof(a->why));
	if (ret) {
		mutex_unlock(&hb_mutex);
		return ret;
	}
	b->kvm = kvm;
	/* The caller holds the VM file: the VM is alive. */
	kvm_get_kvm(kvm);
	b->vm_held = true;
	b->id = hb_new_id();
	/* Before it is in the list: from then on an unbind may free it. */
	a->id = b->id;
	/*
	 * Listed before any table is installed: from the first vCPU mutex
	 * released on, kvm_set_cpuid() must find the binding.
	 */
	kref_get(&b->ref);
	spin_lock(&hb_list_lock);
	list_add_tail_rcu(&b->node, &hb_list);
	b->listed = true;
	spin_unlock(&hb_list_lock);
	*listed = true;
	mutex_unlock(&hb_mutex);

	ret = hb_install(b, a->why, sizeof(a->why));
	mutex_lock(&hb_mutex);
	if (!ret) {
		ret = hb_hook_update();
		if (ret)
			snprintf(a->why, sizeof(a->why),
				 "cannot probe kvm_cpuid for the profile's leaf 0xA: %d", ret);
	}
	if (ret) {
		/*
		 * An unbind ioctl may have taken the binding (and put the held
		 * reference) while hb_mutex was dropped: put only what is left.
		 * The VM file is held: the VM is alive, this put not its last.
		 */
		bool held = b->vm_held;

		b->vm_held = false;
		a->id = 0;
		hb_unbind_ref(b);
		if (held)
			kvm_put_kvm(kvm);
		hb_hook_update();
		hb_probes_put();
		mutex_unlock(&hb_mutex);
		return ret;
	}
	hb_reap_arm();
	mutex_unlock(&hb_mutex);
	pr_info("binding %u: pid %d, %u vCPUs, %u core types\n", b->id,
		b->pid, b->nr_vcpus, b->nr_types);
	hb_log_vendor(b);
	trace_hybrid_bind(b->id, b->pid, b->nr_vcpus, b->nr_types);
	if (b->pmu_why[0] && hb_profile_has_pmu(b))
		pr_warn("binding %u: the profile's PMU leaf 0xA is not applied where the vCPU has no vPMU (%s)\n",
			b->id, b->pmu_why);
	kref_put(&b->ref, hb_release);
	return 0;
}

static long hb_ioctl_bind(void __user *uarg)
{
	struct hybrid_bind a;
	struct hb_binding *b;
	bool listed = false;
	struct file *vmf;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), offsetofend(struct hybrid_bind, why),
				       uarg, &usize);
	if (ret)
		return ret;
	memset(a.why, 0, sizeof(a.why));
	if (hvkit_flags_valid(a.flags, HYBRID_BIND_BY_PID) || a.__pad0 || a.id)
		return -EINVAL;
	if (!a.nr_types || a.nr_types > HYBRID_MAX_TYPES ||
	    !a.nr_vcpus || a.nr_vcpus > HYBRID_MAX_VCPUS) {
		snprintf(a.why, sizeof(a.why), "%u types, %u vCPUs (want 1-%d, 1-%d)",
			 a.nr_types, a.nr_vcpus, HYBRID_MAX_TYPES, HYBRID_MAX_VCPUS);
		ret = -EINVAL;
		goto out;
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		return -ENOMEM;
	kref_init(&b->ref);
	mutex_init(&b->lock);
	mutex_init(&b->filter_lock);
	INIT_WORK(&b->filter_work, hb_filter_unbind);
	INIT_LIST_HEAD(&b->filter_busy);
	b->nr_types = a.nr_types;
	b->nr_vcpus = a.nr_vcpus;
	b->types = memdup_user(u64_to_user_ptr(a.types),
			       array_size(a.nr_types, sizeof(*b->types)));
	b->vcpu_type = memdup_user(u64_to_user_ptr(a.vcpu_types), a.nr_vcpus);
	b->apic_id = kcalloc(a.nr_vcpus, sizeof(u32), GFP_KERNEL_ACCOUNT);
	b->pmu_cap = kcalloc(a.nr_vcpus, sizeof(*b->pmu_cap), GFP_KERNEL_ACCOUNT);
	b->vt = kcalloc(a.nr_vcpus, sizeof(*b->vt), GFP_KERNEL_ACCOUNT);
	if (IS_ERR(b->types) || IS_ERR(b->vcpu_type) || !b->apic_id || !b->pmu_cap ||
	    !b->vt) {
		ret = IS_ERR(b->types) ? PTR_ERR(b->types) :
		      IS_ERR(b->vcpu_type) ? PTR_ERR(b->vcpu_type) : -ENOMEM;
		if (IS_ERR(b->types))
			b->types = NULL;
		if (IS_ERR(b->vcpu_type))
			b->vcpu_type = NULL;
		goto free;
	}

	if (a.flags & HYBRID_BIND_BY_PID) {
		vmf = hb_vm_of_pid(a.pid, a.why, sizeof(a.why));
		b->pid = a.pid;
	} else {
		vmf = fget(a.vm_fd);
		if (!vmf) {
			vmf = ERR_PTR(-EBADF);
			snprintf(a.why, sizeof(a.why), "fd %d is not open", a.vm_fd);
		} else if (!file_is_kvm(vmf)) {
			fput(vmf);
			vmf = ERR_PTR(-EINVAL);
			snprintf(a.why, sizeof(a.why), "fd %d is not a KVM VM", a.vm_fd);
		}
		b->pid = task_tgid_nr(current);
	}
	if (IS_ERR(vmf)) {
		ret = PTR_ERR(vmf);
		goto free;
	}
	/*
	 * The VM file pins the VM until hb_bind_vm() returns: its failure
	 * path's put of the binding's reference must not be the last.
	 */
	ret = hb_bind_vm(&a, vmf->private_data, b, &listed);
	fput(vmf);
	/* Listed once, @b went by its references (hb_bind_vm()). */
	if (listed)
		b = NULL;
	if (ret)
		goto free;
	return hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);

free:
	if (!b)
		goto out;
	kfree(b->vt);
	kvfree(rcu_dereference_protected(b->prof, true));
	kvfree(rcu_dereference_protected(b->table, true));
	kfree(b->types);
	kfree(b->vcpu_type);
	kfree(b->apic_id);
	kfree(b->pmu_cap);
	kfree(b);
out:
	if (a.why[0])
		pr_err("bind refused: %s\n", a.why);
	if (hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize))
		return -EFAULT;
	return ret;
}

/*
 * Claim binding @id (0: the first) for unbinding, with a reference on it
 * (the binding's own on its VM keeps the VM alive until hb_unbind()
 * hands it to its caller). It stays listed until its tables are undone
 * (hb_unbind()).
 */
static struct hb_binding *hb_take(u32 id)
{
	struct hb_binding *b;

	lockdep_assert_held(&hb_mutex);
	spin_lock(&hb_list_lock);
	list_for_each_entry(b, &hb_list, node) {
		if ((id && b->id != id) || b->claimed)
			continue;
		b->claimed = true;
		kref_get(&b->ref);
		spin_unlock(&hb_list_lock);
		return b;
	}
	spin_unlock(&hb_list_lock);
	return NULL;
}

/*
 * Undo a claimed binding's overrides, then unlist it. In this order: a
 * kvm_set_cpuid() that starts meanwhile still finds the binding and sees
 * each table either before the undo (and the undo waits for its return
 * handler) or after it; never a table that KVM may be freeing unseen.
 * Returns the binding's VM reference, for the caller to put with
 * hb_put_vm() once hb_mutex is dropped (NULL: none left to put).
 */
static struct kvm *hb_unbind(struct hb_binding *b)
{
	/* Read before: hb_unbind_ref() may drop the last reference on @b. */
	struct kvm *held = b->vm_held ? b->kvm : NULL;

	lockdep_assert_held(&hb_mutex);
	b->vm_held = false;	/* put once: see hb_bind_vm()'s failure path */
	hb_unbind_ref(b);
	return held;
}

/*
 * Put a VM reference hb_unbind() handed over. Its VMM may have closed the
 * VM: then this destroys it, which flushes KVM's work, stops its threads
 * and waits for SRCU; so never under hb_mutex, which binds, unbinds, lists
 * and the debugfs files wait on.
 */
static void hb_put_vm(struct kvm *kvm)
{
	lockdep_assert_not_held(&hb_mutex);
	if (kvm)
		kvm_put_kvm(kvm);
}

/*
 * Unbind claimed binding @b, saying @msg in the log and @why in the
 * trace, and put its VM reference with hb_mutex dropped for the while.
 */
static void hb_unbind_put(struct hb_binding *b, const char *msg, const char *why)
{
	struct kvm *kvm;

	pr_info("binding %u (pid %d): %s\n", b->id, b->pid, msg);
	trace_hybrid_unbind(b->id, b->pid, why);
	kvm = hb_unbind(b);
	mutex_unlock(&hb_mutex);
	hb_put_vm(kvm);
	mutex_lock(&hb_mutex);
}

/*
 * Every HB_REAP_MS while a binding exists: unbind each VM whose only
 * reference left is its binding's (the VMM closed the VM file, every vCPU
 * file and anything else that held it), and so destroy it. Also what
 * happens to a VM bound when its VMM exits or is killed.
 */
#define HB_REAP_MS	200

static void hb_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(hb_reap_work, hb_reap);

static void hb_reap_arm(void)
{
	lockdep_assert_held(&hb_mutex);
	if (!list_empty(&hb_list))
		queue_delayed_work(system_unbound_wq, &hb_reap_work,
				   msecs_to_jiffies(HB_REAP_MS));
}

static void hb_reap(struct work_struct *work)
{
	struct hb_binding *b;
	u32 id;

	mutex_lock(&hb_mutex);
	for (;;) {
		id = 0;
		spin_lock(&hb_list_lock);
		list_for_each_entry(b, &hb_list, node) {
			if (!b->claimed && refcount_read(&b->kvm->users_count) == 1) {
				id = b->id;
				break;
			}
		}
		spin_unlock(&hb_list_lock);
		b = id ? hb_take(id) : NULL;
		if (!b)
			break;
		hb_unbind_put(b, "its VMM closed the VM: unbound, its reference dropped",
			      "VM destroyed");
	}
	hb_hook_update();
	hb_probes_put();
	hb_reap_arm();
	mutex_unlock(&hb_mutex);
}

static long hb_ioctl_unbind(void __user *uarg)
{
	struct hybrid_unbind a;
	struct hb_binding *found;
	struct kvm *kvm = NULL;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(a.flags, 0) || a.__pad0)
		return -EINVAL;
	mutex_lock(&hb_mutex);
	found = a.id ? hb_take(a.id) : NULL;
	if (found) {
		pr_info("binding %u (pid %d): unbound\n", found->id, found->pid);
		trace_hybrid_unbind(found->id, found->pid, "unbind ioctl");
		kref_get(&found->ref);	/* for the flush below */
		kvm = hb_unbind(found);
		hb_hook_update();
		hb_probes_put();
	}
	mutex_unlock(&hb_mutex);
	if (found) {
		/* The VMM's filter is back when the unbind returns. */
		flush_work(&found->filter_work);
		kref_put(&found->ref, hb_release);
	}
	hb_put_vm(kvm);
	if (!found) {
		pr_err("unbind: no binding %u\n", a.id);
		return -ENOENT;
	}
	return 0;
}

/* Add or remove @bits of a clear; the table is recompiled by the caller. */
static int hb_clear_change(struct hb_binding *b, const struct hybrid_feature *a,
			   char *why, size_t len)
{
	struct hybrid_clear *c;
	u32 i;

	for (i = 0; i < b->nr_clears; i++) {
		c = &b->clears[i];
		if (c->vcpu != a->vcpu || c->function != a->function ||
		    c->index != a->index || c->reg != a->reg)
			continue;
		if (a->op == HYBRID_FEAT_CLEAR) {
			c->bits |= a->bits;
			return 0;
		}
		if (!(c->bits & a->bits)) {
			snprintf(why, len, "bits %#x of that register are not cleared",
				 a->bits);
			return -ENOENT;
		}
		c->bits &= ~a->bits;
		if (!c->bits)
			b->clears[i] = b->clears[--b->nr_clears];
		return 0;
	}
	if (a->op == HYBRID_FEAT_RESTORE) {
		snprintf(why, len, "nothing is cleared in leaf %#x there", a->function);
		return -ENOENT;
	}
	if (b->nr_clears >= HYBRID_MAX_CLEARS) {
		snprintf(why, len, "at most %d feature clears per binding",
			 HYBRID_MAX_CLEARS);
		return -ENOSPC;
	}
	c = &b->clears[b->nr_clears++];
	c->vcpu = a->vcpu;
	c->function = a->function;
	c->index = a->index;
	c->reg = a->reg;
	c->bits = a->bits;
	return 0;
}

/*
 * KVM_SET_CPUID2 replaces a vCPU's table only before its first VM entry;
 * until then hold the vCPU's mutex to read it. A vCPU that never entered
 * the guest may still be inside KVM_RUN holding that mutex (an AP waiting
 * for its SIPI, for as long as the guest does not start it): never wait
 * for it. Return: whether it is held, or -EBUSY.
 */
static int hb_vcpu_table_lock(struct kvm_vcpu *vcpu)
{
	/* Written under vcpu->mutex after the first VM exit, never undone. */
	if (smp_load_acquire(&vcpu->arch.last_vmentry_cpu) != -1)
		return 0;
	if (mutex_trylock(&vcpu->mutex))
		return 1;
	/* It may have just entered the guest for the first time. */
	return smp_load_acquire(&vcpu->arch.last_vmentry_cpu) != -1 ? 0 : -EBUSY;
}

/* Does @vcpu's CPUID (KVM's table or the binding's overrides) have @fn? */
static int hb_leaf_known(struct hb_binding *b, struct kvm_vcpu *vcpu, u32 v,
			 u32 fn, u32 idx)
{
	const struct hybrid_vcpu_ovr *ov;
	const struct kvm_cpuid_entry2 *tab;
	struct hb_table *t;
	int locked, found = 0;
	u32 i, n, vendor;

	locked = hb_vcpu_table_lock(vcpu);
	if (locked < 0)
		return locked;
	/* The VMM's entries only, not the leaves a profile adds. */
	spin_lock(&b->vt[v].lock);
	tab = hb_vtab_table(&b->vt[v], true, &n);
	vendor = hybrid_table_vendor(tab, n);
	for (i = 0; i < n && !found; i++) {
		const struct kvm_cpuid_entry2 *e = &tab[i];

		found = e->function == fn &&
			(idx == HYBRID_ANY_INDEX || e->index == idx ||
			 !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX));
	}
	spin_unlock(&b->vt[v].lock);
	if (locked)
		mutex_unlock(&vcpu->mutex);
	rcu_read_lock();
	t = rcu_dereference(b->table);
	ov = &t->v[v];
	for (i = 0; i < ov->n && !found; i++)
		found = ov->e[i].function == fn && hybrid_ovr_for(&ov->e[i], vendor) &&
			!(ov->e[i].flags & (HYBRID_OVR_CLEAR | HYBRID_OVR_MAX_EAX));
	rcu_read_unlock();
	return found;
}

static struct kvm *hb_get_kvm(u32 id, struct hb_binding **bp);

static long hb_ioctl_feature(void __user *uarg)
{
	static const char *const regs[] = { "EAX", "EBX", "ECX", "EDX" };
	struct hybrid_clear saved[HYBRID_MAX_CLEARS];
	struct hybrid_feature a;
	struct hb_binding *b;
	struct kvm *kvm;
	struct hb_table *t;
	u32 usize, nsaved;
	char vcpu[16], sub[16];
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), offsetofend(struct hybrid_feature, why),
				       uarg, &usize);
	if (ret)
		return ret;
	memset(a.why, 0, sizeof(a.why));
	if (hvkit_flags_valid(a.flags, 0) || a.__pad0 ||
	    a.op > HYBRID_FEAT_RESTORE)
		return -EINVAL;
	hybrid_clear_normalize(a.function, &a.index);
	ret = hybrid_feature_refused(a.function, a.index, a.reg, a.bits,
				     a.why, sizeof(a.why));
	if (ret)
		goto out;
	kvm = hb_get_kvm(a.id, &b);
	if (!kvm) {
		snprintf(a.why, sizeof(a.why), "no binding %u", a.id);
		ret = -ENOENT;
		goto out;
	}
	mutex_lock(&b->lock);
	if (a.vcpu != HYBRID_ALL_VCPUS && a.vcpu >= b->nr_vcpus) {
		snprintf(a.why, sizeof(a.why), "vCPU %u of %u", a.vcpu, b->nr_vcpus);
		ret = -EINVAL;
		goto unlock;
	}
	if (a.op == HYBRID_FEAT_CLEAR) {
		u32 v = a.vcpu == HYBRID_ALL_VCPUS ? 0 : a.vcpu;

		ret = hb_leaf_known(b, kvm_get_vcpu(kvm, v), v, a.function, a.index);
		if (ret == -EBUSY)
			snprintf(a.why, sizeof(a.why),
				 "vCPU %u is busy in a vCPU ioctl before its first VM entry (an AP not started?): try again",
				 v);
		if (!ret) {
			snprintf(a.why, sizeof(a.why), "leaf %#x is not in vCPU %u's CPUID",
				 a.function, v);
			ret = -EINVAL;
		}
		if (ret < 0)
			goto unlock;
	}
	memcpy(saved, b->clears, sizeof(saved));
	nsaved = b->nr_clears;
	ret = hb_clear_change(b, &a, a.why, sizeof(a.why));
	if (ret)
		goto unlock;
	t = hb_compile(b, true);
	if (IS_ERR(t)) {
		memcpy(b->clears, saved, sizeof(saved));
		b->nr_clears = nsaved;
		ret = PTR_ERR(t);
		snprintf(a.why, sizeof(a.why), "cannot compile the overrides: %d", ret);
		goto unlock;
	}
	hb_publish(b, t);
	if (a.vcpu == HYBRID_ALL_VCPUS)
		strscpy(vcpu, "all", sizeof(vcpu));
	else
		snprintf(vcpu, sizeof(vcpu), "%u", a.vcpu);
	if (a.index == HYBRID_ANY_INDEX)
		strscpy(sub, "*", sizeof(sub));
	else
		snprintf(sub, sizeof(sub), "%#x", a.index);
	hb_audit_log("binding %u pid %d vCPU %s: %s %#x.%s %s %#x by %s[%d] uid %u",
		     b->id, b->pid, vcpu,
		     a.op == HYBRID_FEAT_CLEAR ? "clear" : "restore",
		     a.function, sub, regs[a.reg], a.bits, current->comm,
		     task_tgid_nr(current),
		     from_kuid(&init_user_ns, current_uid()));
unlock:
	mutex_unlock(&b->lock);
	/* The hook goes in before the ioctl returns, and out with the last clear. */
	if (!ret) {
		mutex_lock(&hb_mutex);
		ret = hb_hook_update();
		mutex_unlock(&hb_mutex);
		if (ret) {
			snprintf(a.why, sizeof(a.why), "cannot probe kvm_cpuid: %d", ret);
			mutex_lock(&b->lock);
			memcpy(b->clears, saved, sizeof(saved));
			b->nr_clears = nsaved;
			t = hb_compile(b, true);
			if (!IS_ERR(t))
				hb_publish(b, t);
			mutex_unlock(&b->lock);
		}
	}
	trace_hybrid_clear(b->id, a.op == HYBRID_FEAT_CLEAR, a.vcpu, a.function,
			   a.index, a.reg, a.bits, ret);
	kref_put(&b->ref, hb_release);
	kvm_put_kvm(kvm);
out:
	if (ret && a.why[0])
		pr_err("feature %s refused: %s\n",
		       a.op == HYBRID_FEAT_CLEAR ? "clear" : "restore", a.why);
	if (hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize))
		return -EFAULT;
	return ret;
}

static long hb_ioctl_list(void __user *uarg)
{
	struct hybrid_binding_info *info;
	struct hybrid_list a;
	struct hb_binding *b;
	u32 usize, n = 0, cap, i;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(a.flags, 0) || a.missed)
		return -EINVAL;
	if (a.nr && (a.entry_size < offsetofend(struct hybrid_binding_info, cpuid_exits) ||
		     a.entry_size > HVKIT_ARG_MAX_SIZE))
		return -EINVAL;
	cap = min_t(u32, a.nr, 256);
	info = kcalloc(max_t(u32, cap, 1), sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	rcu_read_lock();
	list_for_each_entry_rcu(b, &hb_list, node) {
		if (n < cap) {
			info[n].id = b->id;
			info[n].pid = b->pid;
			info[n].nr_vcpus = b->nr_vcpus;
			info[n].nr_types = b->nr_types;
			info[n].nr_clears = READ_ONCE(b->nr_clears);
			info[n].cpuid_exits = atomic64_read(&b->cpuid_exits);
		}
		n++;
	}
	rcu_read_unlock();
	ret = 0;
	for (i = 0; i < min(n, cap) && !ret; i++) {
		void __user *dst = u64_to_user_ptr(a.entries) + (u64)i * a.entry_size;

		if (copy_to_user(dst, &info[i], min_t(u32, a.entry_size, sizeof(*info))) ||
		    (a.entry_size > sizeof(*info) &&
		     clear_user(dst + sizeof(*info), a.entry_size - sizeof(*info))))
			ret = -EFAULT;
	}
	kfree(info);
	if (ret)
		return ret;
	a.nr = n;
	mutex_lock(&hb_mutex);
	a.missed = hb_missed + (hb_hook_on ? hb_cpuid_probe.nmissed : 0);
	mutex_unlock(&hb_mutex);
	return hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);
}

static long hb_ioctl_cpuid2(void __user *uarg)
{
	struct kvm_cpuid_entry2 *e;
	struct hybrid_vcpu_ovr *ov;
	struct hybrid_cpuid2 a;
	struct hb_binding *b;
	struct hb_table *t;
	u32 usize, n;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(a.flags, 0) || a.nent > a.max_nent ||
	    a.max_nent > KVM_MAX_CPUID_ENTRIES)
		return -EINVAL;
	b = hb_get(a.id);
	if (!b) {
		pr_err("cpuid2: no binding %u\n", a.id);
		return -ENOENT;
	}
	ret = -EINVAL;
	if (a.vcpu >= b->nr_vcpus) {
		pr_err("cpuid2: vCPU %u of %u\n", a.vcpu, b->nr_vcpus);
		goto put;
	}
	ov = kmalloc(sizeof(*ov), GFP_KERNEL);
	e = kvcalloc(max_t(u32, a.max_nent, 1), sizeof(*e), GFP_KERNEL);
	ret = -ENOMEM;
	if (!ov || !e)
		goto free;
	ret = -EFAULT;
	if (copy_from_user(e, u64_to_user_ptr(a.entries),
			   array_size(a.nent, sizeof(*e))))
		goto free;
	rcu_read_lock();
	t = rcu_dereference(b->table);
	memcpy(ov, &t->v[a.vcpu], sizeof(*ov));
	rcu_read_unlock();
	/* The leaves the profile adds, then every entry rewritten. */
	ret = hybrid_table_build(ov, e, a.nent, e, NULL, a.max_nent, true);
	if (ret < 0)
		goto free;
	n = ret;
	ret = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(a.entries), e, array_size(n, sizeof(*e))))
		goto free;
	a.nent = n;
	ret = hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);
free:
	kvfree(e);
	kfree(ov);
put:
	kref_put(&b->ref, hb_release);
	return ret;
}

/* Does some vCPU of core type @type show a (clamped) leaf 0xA? */
static bool hb_type_has_vpmu(const struct hb_binding *b, u32 type)
{
	u32 v;

	for (v = 0; v < b->nr_vcpus; v++)
		if (b->vcpu_type[v] == type && b->pmu_cap[v].version)
			return true;
	return false;
}

/*
 * The profile changed (HYBRID_IOC_PMU): publish its new compilation @p and
 * bring every installed table to it, in place (the vCPUs may run; the
 * leaves a profile owns are not ones KVM updates). Under @b->lock, with
 * the VM held.
 */
static void hb_resync(struct hb_binding *b, struct hb_table *p)
{
	struct hb_table *old;
	u32 v;

	lockdep_assert_held(&b->lock);
	old = rcu_replace_pointer(b->prof, p, lockdep_is_held(&b->lock));
	for (v = 0; v < b->nr_vcpus; v++) {
		struct hb_vtab *vt = &b->vt[v];

		spin_lock(&vt->lock);
		if (vt->ours && !vt->detached) {
			/* KVM may free the table inside kvm_set_cpuid(). */
			if (vt->in_set)
				vt->resync = true;
			else if (hb_vtab_ours(vt))
				hb_vtab_sync(vt, &p->v[v]);
		}
		spin_unlock(&vt->lock);
	}
	kvfree_rcu(old, rcu);
}

static long hb_ioctl_pmu(void __user *uarg)
{
	struct hybrid_core_type *ct, old;
	struct hybrid_pmu a;
	struct hb_binding *b;
	struct hb_table *t, *p;
	char why[HYBRID_WHY_LEN];
	struct kvm *kvm;
	u32 usize;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(a.flags, HYBRID_PMU_SET) || a.__pad0)
		return -EINVAL;
	/* The VM held: a change is written into its vCPUs' tables. */
	kvm = hb_get_kvm(a.id, &b);
	if (!kvm) {
		pr_err("pmu: no binding %u\n", a.id);
		return -ENOENT;
	}
	mutex_lock(&b->lock);
	if (a.flags & HYBRID_PMU_SET) {
		ret = -EINVAL;
		if (a.type >= b->nr_types || !(b->types[a.type].flags & HYBRID_CT_PMU) ||
		    a.gp_counters > 255) {
			pr_err("pmu: binding %u has no core type %u with a PMU leaf\n",
			       a.id, a.type);
			goto unlock;
		}
		ret = -EOPNOTSUPP;
		if (!hb_type_has_vpmu(b, a.type)) {
			pr_err("pmu: binding %u type %s: no vCPU of this type has a vPMU that leaf 0xA describes (first reason at bind: %s)\n",
			       a.id, b->types[a.type].name,
			       b->pmu_why[0] ? b->pmu_why : "no vCPU of this type");
			goto unlock;
		}
		ct = &b->types[a.type];
		old = *ct;
		ct->pmu_gp_counters = a.gp_counters;
		ct->pmu_events_unavailable = a.events_unavailable;
		ct->pmu_fixed_mask = a.fixed_mask;
		ret = hybrid_validate_type(ct, why, sizeof(why));
		t = ret ? ERR_PTR(ret) : hb_compile(b, true);
		p = IS_ERR(t) ? NULL : hb_compile(b, false);
		if (IS_ERR(p)) {
			kvfree(t);
			t = ERR_CAST(p);
		}
		if (IS_ERR(t)) {
			*ct = old;
			ret = PTR_ERR(t);
			pr_err("pmu: binding %u type %s: refused: %d %s\n", a.id,
			       old.name, ret, ret == -EINVAL ? why : "");
			goto unlock;
		}
		hb_publish(b, t);
		hb_resync(b, p);
		hb_audit_log("binding %u pid %d type %s: PMU %u gp, off %#x, fixed %#x by %s[%d]",
			     b->id, b->pid, ct->name, a.gp_counters,
			     a.events_unavailable, a.fixed_mask, current->comm,
			     task_tgid_nr(current));
	}
	hybrid_pmu_filter(b->types, b->nr_types, a.events, &a.nevents,
			  &a.fixed_counter_bitmap);
	ret = hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);
unlock:
	mutex_unlock(&b->lock);
	kref_put(&b->ref, hb_release);
	kvm_put_kvm(kvm);
	return ret;
}

/*
 * Install @a's filter into @kvm in place of the one in force, keeping the
 * VMM's for hb_filter_clear(). Under @b->filter_lock. 0 or -ENOMEM.
 */
static int hb_filter_set(struct hb_binding *b, struct kvm *kvm,
			 const struct hybrid_pmu_filter *a)
{
	struct kvm_pmu_event_filter *f, *old, *to_free;

	lockdep_assert_held(&b->filter_lock);
	f = kzalloc(struct_size(f, events, a->nevents), GFP_KERNEL_ACCOUNT);
	if (!f)
		return -ENOMEM;
	f->action = a->action;
	f->nevents = a->nevents;
	f->fixed_counter_bitmap = a->fixed_counter_bitmap;
	memcpy(f->events, a->events, flex_array_size(f, events, a->nevents));
	/* KVM looks events up with bsearch(). */
	sort(f->events, f->nevents, sizeof(f->events[0]), hb_cmp_u64, NULL);
	while (!b->filter_cookie)
		b->filter_cookie = get_random_u32();
	f->pad[0] = HB_FILTER_MAGIC;
	f->pad[1] = b->filter_cookie;

	mutex_lock(&kvm->lock);
	/*
	 * Unbound meanwhile (set before the VM was unlisted, so ordered
	 * before another binding of this VM took kvm->lock): that binding's
	 * filter, or the VMM's, is not ours to save or replace.
	 */
	if (READ_ONCE(b->filter_done)) {
		mutex_unlock(&kvm->lock);
		kfree(f);
		return -ENOENT;
	}
	old = rcu_replace_pointer(kvm->arch.pmu_event_filter, f,
				  lockdep_is_held(&kvm->lock));
	if (hb_filter_ours(b, old)) {
		to_free = old;
	} else {
		/* The VMM's (or none): put back later. One saved before is stale. */
		to_free = b->vmm_filter;
		b->vmm_filter = old;
	}
	WRITE_ONCE(b->filter_on, true);
	mutex_unlock(&kvm->lock);
	/* @old is alive: freed here, or saved under filter_lock. */
	hb_filter_retire(kvm, true, old, to_free);
	return 0;
}

/* The filter in force in @kvm into @a (owner, action, events). Under @b->filter_lock. */
static void hb_filter_read(struct hb_binding *b, struct kvm *kvm,
			   struct hybrid_pmu_filter *a)
{
	const struct kvm_pmu_event_filter *cur;

	lockdep_assert_held(&b->filter_lock);
	mutex_lock(&kvm->lock);
	cur = rcu_dereference_protected(kvm->arch.pmu_event_filter,
					lockdep_is_held(&kvm->lock));
	a->owner = hb_filter_owner(b, cur);
	a->action = cur ? cur->action : 0;
	a->nevents = cur ? cur->nevents : 0;
	a->fixed_counter_bitmap = cur ? cur->fixed_counter_bitmap : 0;
	memset(a->events, 0, sizeof(a->events));
	if (cur)
		memcpy(a->events, cur->events,
		       min_t(u32, cur->nevents, HYBRID_FILTER_MAX_EVENTS) * sizeof(u64));
	mutex_unlock(&kvm->lock);
}

static const char *const hb_filter_owners[] = { "none", "hvkit's", "the VMM's" };

/* HYBRID_IOC_PMU_FILTER's input: 0, or -EINVAL/-E2BIG (a message logged). */
static int hb_filter_check(const struct hybrid_pmu_filter *a)
{
	u32 i;

	if (hvkit_flags_valid(a->flags, HYBRID_FILTER_SET | HYBRID_FILTER_CLEAR) ||
	    (a->flags & HYBRID_FILTER_SET && a->flags & HYBRID_FILTER_CLEAR)) {
		pr_err("pmu_filter: bad flags %#x: read (0), set or clear\n", a->flags);
		return -EINVAL;
	}
	if (a->__pad0) {
		pr_err("pmu_filter: __pad0 must be 0\n");
		return -EINVAL;
	}
	if (!(a->flags & HYBRID_FILTER_SET)) {
		/* Read and clear take no filter: their input fields must be 0. */
		if (a->action || a->nevents || a->fixed_counter_bitmap || a->owner ||
		    memchr_inv(a->events, 0, sizeof(a->events))) {
			pr_err("pmu_filter: a read or clear with filter fields set\n");
			return -EINVAL;
		}
		return 0;
	}
	if (a->action != HYBRID_FILTER_ALLOW && a->action != HYBRID_FILTER_DENY) {
		pr_err("pmu_filter: action %u: allow (0) or deny (1)\n", a->action);
		return -EINVAL;
	}
	if (a->nevents > HYBRID_FILTER_MAX_EVENTS) {
		pr_err("pmu_filter: %u events, at most %u\n", a->nevents,
		       HYBRID_FILTER_MAX_EVENTS);
		return -E2BIG;
	}
	if (a->owner) {
		pr_err("pmu_filter: owner is an output: 0\n");
		return -EINVAL;
	}
	if (a->fixed_counter_bitmap & ~GENMASK(KVM_PMC_MAX_FIXED - 1, 0)) {
		pr_err("pmu_filter: fixed counters %#x: KVM has %u\n",
		       a->fixed_counter_bitmap, KVM_PMC_MAX_FIXED);
		return -EINVAL;
	}
	if (memchr_inv(&a->events[a->nevents], 0,
		       (HYBRID_FILTER_MAX_EVENTS - a->nevents) * sizeof(a->events[0]))) {
		pr_err("pmu_filter: events past nevents (%u) must be 0\n", a->nevents);
		return -EINVAL;
	}
	for (i = 0; i < a->nevents; i++) {
		/* What KVM compares: any other bit would never match. */
		if (a->events[i] & ~(u64)AMD64_RAW_EVENT_MASK_NB) {
			pr_err("pmu_filter: event %u (%#llx): bits KVM's filter ignores (not in %#llx)\n",
			       i, a->events[i], (u64)AMD64_RAW_EVENT_MASK_NB);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Wait for the filter works of @kvm's earlier bindings still queued or
 * running (a bind that failed, or an unbind whose caller has not returned
 * yet): @b, a new binding of the same VM,
 * then finds the VMM's filter back in force, not an old binding's. Those
 * of @kvm only: another VM's work may wait long on that VM's SRCU. No
 * lock held: the works take filter_lock and kvm->lock.
 *
 * @b is listed, so each earlier binding of @kvm was unlisted before @b
 * was bound, and added to hb_filter_busy before that: those not finished
 * are there, numbered up to the number read first. One pass over them, in
 * order, suffices: a work queued later is @b's own, or the second of a
 * binding whose first already cleared its filter (filter_done keeps it
 * from setting another), or one of a binding bound after @b's unbind
 * (which may also be waited for when numbered earlier, harmlessly). A
 * listed binding's work holds its VM: an equal ->kvm is @kvm, not another
 * VM at the same address.
 */
static void hb_flush_vm_filter(struct kvm *kvm, struct hb_binding *b)
{
	struct hb_binding *old;
	u64 seen = 0, end;

	might_sleep();
	lockdep_assert_not_held(&hb_mutex);
	spin_lock(&hb_filter_busy_lock);
	end = hb_filter_busy_seq;
	for (;;) {
		list_for_each_entry(old, &hb_filter_busy, filter_busy)
			if (old->filter_seq > seen && old->filter_seq <= end &&
			    old->kvm == kvm && old != b)
				break;
		if (list_entry_is_head(old, &hb_filter_busy, filter_busy))
			break;
		/* Listed: its work holds a reference until it is unlisted. */
		kref_get(&old->ref);
		seen = old->filter_seq;
		spin_unlock(&hb_filter_busy_lock);
		flush_work(&old->filter_work);
		kref_put(&old->ref, hb_release);
		spin_lock(&hb_filter_busy_lock);
	}
	spin_unlock(&hb_filter_busy_lock);
}

static long hb_ioctl_pmu_filter(void __user *uarg)
{
	struct hybrid_pmu_filter *a;
	struct hb_binding *b;
	struct kvm *kvm;
	u32 usize, owner;
	int ret;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	ret = hvkit_copy_arg_from_user(a, sizeof(*a), sizeof(*a), uarg, &usize);
	if (!ret)
		ret = hb_filter_check(a);
	if (ret)
		goto out;
	kvm = hb_get_kvm(a->id, &b);
	if (!kvm) {
		pr_err("pmu_filter: no binding %u\n", a->id);
		ret = -ENOENT;
		goto out;
	}
	hb_flush_vm_filter(kvm, b);
	mutex_lock(&b->filter_lock);
	if (READ_ONCE(b->filter_done)) {
		pr_err("pmu_filter: binding %u is being unbound\n", a->id);
		ret = -ENOENT;
		goto unlock;
	}
	if (a->flags & HYBRID_FILTER_SET && !READ_ONCE(kvm->arch.enable_pmu)) {
		pr_err("pmu_filter: binding %u: the VM has no vPMU (%s): nothing to filter\n",
		       a->id, READ_ONCE(enable_pmu) ? "the VMM turned it off" :
		       "kvm.enable_pmu=0, no host PMU, or a hybrid host");
		ret = -EOPNOTSUPP;
		goto unlock;
	}
	if (a->flags & HYBRID_FILTER_SET) {
		ret = hb_filter_set(b, kvm, a);
		if (!ret)
			hb_audit_log("binding %u pid %d: vPMU filter %s %u, fixed %#x by %s[%d]",
				     b->id, b->pid, a->action ? "deny" : "allow", a->nevents,
				     a->fixed_counter_bitmap, current->comm,
				     task_tgid_nr(current));
	} else if (a->flags & HYBRID_FILTER_CLEAR) {
		owner = hb_filter_clear(b, kvm);
		hb_audit_log("binding %u pid %d: vPMU filter clear (%s was in force%s) by %s[%d]",
			     b->id, b->pid, hb_filter_owners[owner],
			     owner == HYBRID_FILTER_HVKIT ? ": the VMM's is back" : "",
			     current->comm, task_tgid_nr(current));
	}
	if (!ret) {
		hb_filter_read(b, kvm, a);
		ret = hvkit_copy_arg_to_user(uarg, a, sizeof(*a), usize);
	}
unlock:
	mutex_unlock(&b->filter_lock);
	kref_put(&b->ref, hb_release);
	kvm_put_kvm(kvm);
out:
	kfree(a);
	return ret;
}

static long hb_ioctl_baseline(void __user *uarg)
{
	struct hybrid_features *sets;
	struct hybrid_baseline *a;
	u32 usize;
	int ret;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	ret = hvkit_copy_arg_from_user(a, sizeof(*a), sizeof(*a), uarg, &usize);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (hvkit_flags_valid(a->flags, HYBRID_BASELINE_CHECK) || a->__pad0 ||
	    a->__pad1 || !a->nr_sets || a->nr_sets > 64)
		goto out;
	sets = memdup_user(u64_to_user_ptr(a->sets),
			   array_size(a->nr_sets, sizeof(*sets)));
	if (IS_ERR(sets)) {
		ret = PTR_ERR(sets);
		goto out;
	}
	ret = hybrid_baseline(sets, a->nr_sets, &a->baseline);
	kfree(sets);
	if (ret) {
		pr_err("baseline: reserved feature words must be 0\n");
		goto out;
	}
	memset(&a->missing, 0, sizeof(a->missing));
	a->nr_missing = 0;
	if (a->flags & HYBRID_BASELINE_CHECK)
		a->nr_missing = hybrid_missing(&a->check, &a->baseline, &a->missing);
	ret = hvkit_copy_arg_to_user(uarg, a, sizeof(*a), usize);
out:
	kfree(a);
	return ret;
}

/*
 * A binding's VM with a reference, or NULL if no binding has @id. A
 * binding in hb_list holds its own reference: the struct kvm is there to
 * take one on.
 */
static struct kvm *hb_get_kvm(u32 id, struct hb_binding **bp)
{
	struct hb_binding *b;
	struct kvm *kvm = NULL;

	spin_lock(&hb_list_lock);
	list_for_each_entry(b, &hb_list, node) {
		if (b->id != id)
			continue;
		if (kvm_get_kvm_safe(b->kvm)) {
			kvm = b->kvm;
			kref_get(&b->ref);
			*bp = b;
		}
		break;
	}
	spin_unlock(&hb_list_lock);
	return kvm;
}

static long hb_ioctl_vm_features(void __user *uarg)
{
	struct hybrid_vm_features a;
	struct hybrid_vcpu_ovr *ov;
	const struct kvm_cpuid_entry2 *tab;
	struct kvm_vcpu *vcpu;
	struct hb_vtab *vt;
	u32 nent, vendor;
	struct hb_binding *b;
	struct hb_table *t;
	struct kvm *kvm;
	bool locked = false;
	u32 usize, w;
	int ret;

	ret = hvkit_copy_arg_from_user(&a, sizeof(a), sizeof(a), uarg, &usize);
	if (ret)
		return ret;
	if (hvkit_flags_valid(a.flags, 0))
		return -EINVAL;
	kvm = hb_get_kvm(a.id, &b);
	if (!kvm) {
		pr_err("vm features: no binding %u\n", a.id);
		return -ENOENT;
	}
	ov = kmalloc(sizeof(*ov), GFP_KERNEL);
	ret = -ENOMEM;
	if (!ov)
		goto put;
	ret = -EINVAL;
	vcpu = a.vcpu < b->nr_vcpus ? kvm_get_vcpu(kvm, a.vcpu) : NULL;
	if (!vcpu) {
		pr_err("vm features: vCPU %u of %u\n", a.vcpu, b->nr_vcpus);
		goto put;
	}
	ret = hb_vcpu_table_lock(vcpu);
	if (ret < 0) {
		pr_err("vm features: vCPU %u is busy in a vCPU ioctl before its first VM entry (an AP not started?)\n",
		       a.vcpu);
		goto put;
	}
	locked = ret;
	rcu_read_lock();
	t = rcu_dereference(b->table);
	memcpy(ov, &t->v[a.vcpu], sizeof(*ov));
	rcu_read_unlock();
	memset(&a.features, 0, sizeof(a.features));
	vt = &b->vt[a.vcpu];
	spin_lock(&vt->lock);
	tab = hb_vtab_table(vt, false, &nent);
	vendor = hybrid_table_vendor(tab, nent);
	for (w = 0; w < HYBRID_NR_FEATURE_WORDS; w++) {
		const struct hybrid_fword *f = &hybrid_fwords[w];
		const struct kvm_cpuid_entry2 *e;
		u32 r[4] = {};

		/* KVM's table (asm/kvm_host.h), looked up as KVM does. */
		e = hybrid_find_entry(tab, nent, f->function, f->index, false);
		if (e) {
			r[0] = e->eax;
			r[1] = e->ebx;
			r[2] = e->ecx;
			r[3] = e->edx;
		}
		/* An entry without the flag is its own subleaf's data. */
		hybrid_apply(ov, vendor, f->function, e ? e->index : f->index, r);
		a.features.word[w] = r[f->reg];
	}
	spin_unlock(&vt->lock);
	if (locked)
		mutex_unlock(&vcpu->mutex);
	ret = hvkit_copy_arg_to_user(uarg, &a, sizeof(a), usize);
put:
	kfree(ov);
	kref_put(&b->ref, hb_release);
	kvm_put_kvm(kvm);
	return ret;
}

/* --- host profiler --------------------------------------------------------- */

static void hb_read_caches(struct hybrid_core_type *ct, u32 leaf)
{
	u32 eax, ebx, ecx, edx, i;

	for (i = 0; i < HYBRID_MAX_CACHES; i++) {
		struct hybrid_cache *c = &ct->caches[i];
		u64 bytes;

		cpuid_count(leaf, i, &eax, &ebx, &ecx, &edx);
		if (!(eax & 0x1f) || (eax & 0x1f) > HYBRID_CACHE_UNIFIED)
			break;
		c->type = eax & 0x1f;
		c->level = (eax >> 5) & 7;
		c->shared_by = roundup_pow_of_two(((eax >> 14) & 0xfff) + 1);
		c->line_size = (ebx & 0xfff) + 1;
		c->ways = (ebx >> 22) + 1;
		bytes = (u64)c->ways * c->line_size * (((ebx >> 12) & 0x3ff) + 1) *
			((u64)ecx + 1);
		c->size_kb = bytes / 1024;
		ct->nr_caches++;
	}
	if (ct->nr_caches)
		ct->flags |= HYBRID_CT_CACHE;
}

static void hb_read_host(void *arg)
{
	struct hybrid_core_type *ct = arg;
	u32 max = cpuid_eax(0), emax = cpuid_eax(0x80000000);
	u32 eax, ebx, ecx, edx;

	if (max >= 0x1a && cpuid_edx(7) & BIT(15)) {
		eax = cpuid_eax(0x1a);
		ct->flags |= HYBRID_CT_INTEL;
		ct->intel_core_type = eax >> 24;
		ct->native_model_id = eax & GENMASK(23, 0);
	}
	if (emax >= 0x80000026) {
		cpuid_count(0x80000026, 0, &eax, &ebx, &ecx, &edx);
		if (eax & BIT(30)) {
			ct->flags |= HYBRID_CT_AMD;
			ct->amd_core_type = ebx >> 28;
			ct->amd_efficiency = (ebx >> 16) & 0xff;
			if (!(ct->flags & HYBRID_CT_INTEL))
				ct->native_model_id = (ebx >> 24) & 0xf;
		}
	}
	if (max >= 0x4)
		hb_read_caches(ct, 0x4);
	if (!ct->nr_caches && emax >= 0x8000001d)
		hb_read_caches(ct, 0x8000001d);
	if (max >= 0x16) {
		cpuid_count(0x16, 0, &eax, &ebx, &ecx, &edx);
		if (eax & 0xffff) {
			ct->flags |= HYBRID_CT_FREQ;
			ct->base_mhz = eax;
			ct->max_mhz = max_t(u32, ebx & 0xffff, eax & 0xffff);
			ct->bus_mhz = ecx;
		}
	}
	if (max >= 0xa) {
		cpuid_count(0xa, 0, &eax, &ebx, &ecx, &edx);
		if (eax & 0xff) {
			ct->flags |= HYBRID_CT_PMU;
			ct->pmu_version = eax & 0xff;
			ct->pmu_gp_counters = (eax >> 8) & 0xff;
			ct->pmu_gp_width = (eax >> 16) & 0xff;
			ct->pmu_events_unavailable = ebx & 0xff;
			ct->pmu_fixed_mask = ecx & 0xffff;
			ct->pmu_fixed_counters = edx & 0x1f;
			ct->pmu_fixed_width = (edx >> 5) & 0xff;
		}
	}
}

static long hb_ioctl_host_profile(void __user *uarg)
{
	struct hybrid_host_profile *a;
	u32 usize;
	int ret;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	ret = hvkit_copy_arg_from_user(a, sizeof(*a), sizeof(*a), uarg, &usize);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (hvkit_flags_valid(a->flags, 0) || a->__pad0)
		goto out;
	if (a->cpu >= nr_cpu_ids || !cpu_online(a->cpu)) {
		pr_err("host profile: CPU %u is not online\n", a->cpu);
		goto out;
	}
	memset(&a->type, 0, sizeof(a->type));
	snprintf(a->type.name, sizeof(a->type.name), "cpu%u", a->cpu);
	ret = smp_call_function_single(a->cpu, hb_read_host, &a->type, 1);
	if (ret) {
		pr_err("host profile: CPU %u: %d\n", a->cpu, ret);
		goto out;
	}
	ret = hvkit_copy_arg_to_user(uarg, a, sizeof(*a), usize);
out:
	kfree(a);
	return ret;
}

static long kvm_hybrid_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	if (cmd != HVKIT_IOC_GET_INFO && cmd != HYBRID_IOC_LIST &&
	    cmd != HYBRID_IOC_BASELINE && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case HVKIT_IOC_GET_INFO:
		return hvkit_ioctl_get_info(uarg, KBUILD_MODNAME, 0);
	case HYBRID_IOC_BIND:
		return hb_ioctl_bind(uarg);
	case HYBRID_IOC_UNBIND:
		return hb_ioctl_unbind(uarg);
	case HYBRID_IOC_FEATURE:
		return hb_ioctl_feature(uarg);
	case HYBRID_IOC_LIST:
		return hb_ioctl_list(uarg);
	case HYBRID_IOC_CPUID2:
		return hb_ioctl_cpuid2(uarg);
	case HYBRID_IOC_HOST_PROFILE:
		return hb_ioctl_host_profile(uarg);
	case HYBRID_IOC_BASELINE:
		return hb_ioctl_baseline(uarg);
	case HYBRID_IOC_VM_FEATURES:
		return hb_ioctl_vm_features(uarg);
	case HYBRID_IOC_PMU:
		return hb_ioctl_pmu(uarg);
	case HYBRID_IOC_PMU_FILTER:
		return hb_ioctl_pmu_filter(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvm_hybrid_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvm_hybrid_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvm_hybrid_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kvm_hybrid",
	.fops	= &kvm_hybrid_fops,
	.mode	= 0600,
};

/* --- debugfs --------------------------------------------------------------- */

static int hb_dbg_bindings_show(struct seq_file *m, void *v)
{
	struct hb_binding *b;
	u32 i;

	mutex_lock(&hb_mutex);
	seq_printf(m, "probes %s, cpuid hook %s, missed %lu, kvm_set_cpuid missed %d\n",
		   hb_probes_on ? "on" : "off", hb_hook_on ? "on" : "off",
		   hb_missed + (hb_hook_on ? hb_cpuid_probe.nmissed : 0),
		   hb_probes_on ? hb_set_probe.nmissed : 0);
	mutex_unlock(&hb_mutex);
	rcu_read_lock();
	list_for_each_entry_rcu(b, &hb_list, node) {
		seq_printf(m, "binding %u pid %d vcpus %u types %u clears %u cpuid_exits %llu\n",
			   b->id, b->pid, b->nr_vcpus, b->nr_types,
			   READ_ONCE(b->nr_clears),
			   (unsigned long long)atomic64_read(&b->cpuid_exits));
		for (i = 0; i < b->nr_vcpus; i++) {
			const struct hybrid_pmu_cap *c = &b->pmu_cap[i];

			struct hb_vtab *vt = &b->vt[i];
			const char *lost;
			u32 on, nn;

			spin_lock(&vt->lock);
			on = vt->ours ? vt->orig_n : 0;
			nn = vt->ours ? vt->n : 0;
			lost = vt->lost;
			spin_unlock(&vt->lock);
			seq_printf(m, "  vcpu %u x2apic %u type %s table ", i,
				   b->apic_id[i], b->types[b->vcpu_type[i]].name);
			if (nn)
				seq_printf(m, "%u->%u entries", on, nn);
			else
				seq_printf(m, "%s%s", lost ? "LOST: " : "none yet", lost ?: "");
			seq_puts(m, " vpmu ");
			if (c->version)
				seq_printf(m, "v%u %ux%u fixed %ux%u\n", c->version,
					   c->gp, c->gp_width, c->fixed, c->fixed_width);
			else
				seq_puts(m, "none (0xA stays KVM's)\n");
		}
		if (b->pmu_why[0])
			seq_printf(m, "  0xA: %s\n", b->pmu_why);
		/* Whether the VMM replaced it since: HYBRID_IOC_PMU_FILTER's read. */
		if (READ_ONCE(b->filter_on))
			seq_puts(m, "  vPMU event filter: set by hvkit (the VMM may have replaced it)\n");
	}
	rcu_read_unlock();
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hb_dbg_bindings);

static int hb_dbg_audit_show(struct seq_file *m, void *v)
{
	u64 i;

	mutex_lock(&hb_audit_lock);
	for (i = hb_audit_seq > HB_AUDIT ? hb_audit_seq - HB_AUDIT : 0;
	     i < hb_audit_seq; i++)
		seq_printf(m, "%llu %s\n", (unsigned long long)i,
			   hb_audit[i % HB_AUDIT]);
	mutex_unlock(&hb_audit_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hb_dbg_audit);

static int __init kvm_hybrid_init(void)
{
	int ret;

	hb_filter_wq = alloc_workqueue("kvm_hybrid_filter", WQ_UNBOUND, 0);
	if (!hb_filter_wq)
		return -ENOMEM;
	ret = misc_register(&kvm_hybrid_misc);
	if (ret) {
		pr_err("cannot register /dev/kvm_hybrid: %d\n", ret);
		destroy_workqueue(hb_filter_wq);
		return ret;
	}
	hb_debugfs = debugfs_create_dir("kvm_hybrid", NULL);
	debugfs_create_file("bindings", 0400, hb_debugfs, NULL,
			    &hb_dbg_bindings_fops);
	debugfs_create_file("audit", 0400, hb_debugfs, NULL, &hb_dbg_audit_fops);
	pr_info("version %s loaded\n", HVKIT_VERSION);
	return 0;
}

static void __exit kvm_hybrid_exit(void)
{
	struct hb_binding *b;

	misc_deregister(&kvm_hybrid_misc);
	debugfs_remove(hb_debugfs);
	/* It re-arms itself: cancel it before the bindings go. */
	cancel_delayed_work_sync(&hb_reap_work);
	mutex_lock(&hb_mutex);
	while ((b = hb_take(0)))
		hb_unbind_put(b, "unbound at unload", "module unload");
	hb_hook_update();
	hb_probes_put();
	mutex_unlock(&hb_mutex);
	/* Unbind's filter works: VMM filters back, their references put. */
	destroy_workqueue(hb_filter_wq);
	/* Each unlisted itself (a work queued while draining would not run). */
	WARN_ON_ONCE(!list_empty(&hb_filter_busy));
	rcu_barrier();	/* hb_free_rcu and kvfree_rcu callbacks */
	flush_work(&hb_gc_work);	/* and what they queued */
	hb_free_dead();
	pr_info("unloaded\n");
}

module_init(kvm_hybrid_init);
module_exit(kvm_hybrid_exit);

MODULE_DESCRIPTION("hvkit kvm_hybrid: hybrid vCPU profiles and online CPUID/vPMU control for KVM");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
