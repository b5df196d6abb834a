// SPDX-License-Identifier: GPL-2.0
/*
 * guest_pvtimer: exitless guest timer through a host agent.
 *
 * Each CPU's clockevent device writes its next deadline (guest TSC) into
 * its slot of an ivshmem-doorbell device's shared memory instead of the
 * TSC-deadline MSR, whose every write is a VM exit. The host agent
 * (pvtimer_agent) scans the slots and fires each deadline through MSI-X
 * vector N of the device, an irqfd in the host: no exit on the guest side.
 *
 * Safety net: the local APIC stays armed as a backstop no later than
 * backstop_us after the pending deadline, re-armed only when the deadlines
 * move past it. If the agent misses a deadline or its heartbeat goes
 * stale, the backstop fires it, the CPU counts a fallback and programs
 * the local APIC itself (direct mode) until the heartbeat is fresh again.
 * A deadline due before the agent's next scan takes the direct path too.
 *
 * The local APIC device of each CPU is found when ours replaces it (a
 * kprobe on clockevents_exchange_device). While ours is the tick device,
 * the local APIC's interrupt is routed to our handler, and the device is
 * kept out of the broadcast role (CLOCK_EVT_FEAT_C3STOP, removed again
 * before it is given back), so that unloading hands every CPU back to
 * lapic-deadline.
 */
#include <linux/clockchips.h>
#include <linux/cpuhotplug.h>
#include <linux/debugfs.h>
#include <linux/interrupt.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/percpu.h>
#include <linux/seq_file.h>
#include <asm/msr.h>
#include <asm/tsc.h>
#include <hvkit/hvkit.h>

#include "pvtimer_proto.h"

#define CREATE_TRACE_POINTS
#include "guest_pvtimer_trace.h"

#define PVT_NAME	"guest_pvtimer"
/* lapic-deadline counts in units of 8 TSC cycles (a u32 frequency). */
#define PVT_TSC_DIV	8

static unsigned int rating = 200;
module_param(rating, uint, 0444);
MODULE_PARM_DESC(rating, "clockevent rating (lapic-deadline is 150)");

static unsigned int backstop_us = 50000;
module_param(backstop_us, uint, 0644);
MODULE_PARM_DESC(backstop_us,
		 "latest a deadline the agent misses is fired by the local APIC (us)");

static unsigned int stale_us = 10000;
module_param(stale_us, uint, 0644);
MODULE_PARM_DESC(stale_us, "agent heartbeat older than this: program the local APIC (us)");

static unsigned int overdue_us = 1000;
module_param(overdue_us, uint, 0644);
MODULE_PARM_DESC(overdue_us,
		 "agent later than this for the scan it announced: program the local APIC (us)");

static unsigned int direct_ns;
module_param(direct_ns, uint, 0644);
MODULE_PARM_DESC(direct_ns,
		 "deadlines due within this of the agent's next scan take the direct path (ns)");

struct pvt_cpu {
	struct clock_event_device ced;
	struct clock_event_device *lapic;
	/* the tick core's handler of the released lapic, put back on release */
	void (*lapic_handler)(struct clock_event_device *dev);
	struct pvtimer_slot *slot;
	unsigned int cpu;
	int vec;
	bool registered;
	bool stuck;	/* the tick code kept our device: never reuse it */
	bool c3stop_added;
	bool direct;
	bool armed;
	bool lvtt_set;
	u32 seq;
	u64 deadline;
	u64 backstop;
	/* statistics, written only on this CPU with interrupts off */
	u64 programmed;
	u64 direct_writes;
	u64 backstop_writes;
	u64 cancel_writes;
	u64 agent_irqs;
	u64 stale_irqs;
	u64 early_irqs;
	u64 lapic_irqs;
	u64 fallbacks;
	u64 agent_down;
	u64 recovered;
	u64 late_max_ns;
	u64 late_hist[PVTIMER_LAT_BUCKETS];
};

static DEFINE_PER_CPU(struct pvt_cpu, pvt_cpus);

static struct pvt_dev {
	struct pci_dev *pdev;
	void *shm;
	resource_size_t shm_size;
	struct pvtimer_shm_header *hdr;
	unsigned int nr_slots;
	unsigned int nr_vecs;
	enum cpuhp_state hp_state;
	struct dentry *dbg;
} *pvt;

static u64 pvt_cycles(u64 ns)
{
	return pvt_ns_to_cyc(ns, tsc_khz);
}

/* Arm the local APIC (TSC-deadline mode) for guest TSC @tsc: one exit. */
static void pvt_lapic_arm(struct pvt_cpu *pc, u64 tsc)
{
	wrmsrl(MSR_IA32_TSC_DEADLINE, tsc);
	pc->backstop = tsc;
}

static void pvt_slot_disarm(struct pvt_cpu *pc)
{
	if (!pc->armed)
		return;
	pvt_slot_write(pc->slot, &pc->seq, 0, 0);
	pc->armed = false;
}

/*
 * Is the agent serving this slot: attached, a heartbeat younger than
 * stale_us, and not more than overdue_us late for the scan it announced?
 * Switches direct mode on and off.
 */
static bool pvt_use_agent(struct pvt_cpu *pc, u64 now)
{
	u64 hb = READ_ONCE(pc->slot->heartbeat);
	u64 next = READ_ONCE(pc->slot->next_scan);
	bool fresh = READ_ONCE(pvt->hdr->agent_gen) &&
		pvt_agent_fresh(hb, now, pvt_cycles(READ_ONCE(stale_us) * 1000ULL)) &&
		!pvt_scan_overdue(next, now, pvt_cycles(READ_ONCE(overdue_us) * 1000ULL));

	if (fresh && pc->direct) {
		pc->direct = false;
		pc->recovered++;
	} else if (!fresh && !pc->direct) {
		pc->direct = true;
		pc->agent_down++;
	}
	return fresh;
}

static int pvt_next_event(unsigned long delta, struct clock_event_device *ced)
{
	struct pvt_cpu *pc = container_of(ced, struct pvt_cpu, ced);
	u64 now = rdtsc();
	u64 dl = now + (u64)delta * PVT_TSC_DIV;
	u64 bound = pvt_cycles(READ_ONCE(backstop_us) * 1000ULL);
	bool agent, backstop = false;

	pc->deadline = dl;
	agent = pvt_use_agent(pc, now);
	if (!agent || pvt_too_close(dl, READ_ONCE(pc->slot->next_scan),
				    pvt_cycles(READ_ONCE(direct_ns)))) {
		pvt_slot_disarm(pc);
		pvt_lapic_arm(pc, dl);
		pc->direct_writes++;
		trace_pvt_program(smp_processor_id(), dl, agent ? "close" : "down", false);
		return 0;
	}
	pvt_slot_write(pc->slot, &pc->seq, dl, PVTIMER_G_ARMED);
	pc->armed = true;
	pc->programmed++;
	if (pvt_backstop_needed(pc->backstop, dl, bound)) {
		pvt_lapic_arm(pc, dl + bound);
		pc->backstop_writes++;
		backstop = true;
	}
	trace_pvt_program(smp_processor_id(), dl, "agent", backstop);
	return 0;
}

static int pvt_set_oneshot(struct clock_event_device *ced)
{
	struct pvt_cpu *pc = container_of(ced, struct pvt_cpu, ced);

	/*
	 * The local APIC serves as backstop and direct path: its LVTT in
	 * TSC-deadline mode, once (it stays so; a later write is an exit).
	 */
	if (!pc->lvtt_set && pc->lapic && pc->lapic->set_state_oneshot) {
		pc->lapic->set_state_oneshot(pc->lapic);
		pc->lvtt_set = true;
	}
	return 0;
}

/*
 * No timer pending (the tick stopped with nothing queued): withdraw the
 * deadline from the agent. An armed backstop is left alone: cancelling it
 * is an exit, and when it fires the tick code finds nothing due.
 */
static int pvt_stopped(struct clock_event_device *ced)
{
	pvt_slot_disarm(container_of(ced, struct pvt_cpu, ced));
	return 0;
}

static int pvt_shutdown(struct clock_event_device *ced)
{
	struct pvt_cpu *pc = container_of(ced, struct pvt_cpu, ced);

	pvt_slot_disarm(pc);
	if (pc->backstop) {
		wrmsrl(MSR_IA32_TSC_DEADLINE, 0);
		pc->backstop = 0;
		pc->cancel_writes++;
	}
	pc->lvtt_set = false;
	return 0;
}

static void pvt_account_late(struct pvt_cpu *pc, u64 now)
{
	u64 ns = pvt_cyc_to_ns(now - pc->deadline, tsc_khz);

	pc->late_hist[pvt_lat_bucket(ns)]++;
	if (ns > pc->late_max_ns)
		pc->late_max_ns = ns;
}

/* The agent's MSI-X vector for this CPU. */
static irqreturn_t pvt_irq(int irq, void *data)
{
	struct pvt_cpu *pc = data;
	u64 now = rdtsc();

	if (pc != this_cpu_ptr(&pvt_cpus)) {
		/* Not on its CPU (affinity moved): that CPU's backstop fires it. */
		this_cpu_ptr(&pvt_cpus)->stale_irqs++;
		return IRQ_HANDLED;
	}
	switch (pc->registered ?
		pvt_irq_action(pc->armed, READ_ONCE(pc->slot->fired_seq), pc->seq,
			       now, pc->deadline) : PVT_IRQ_STALE) {
	case PVT_IRQ_STALE:
		/* Fired for a deadline the CPU has since replaced. */
		pc->stale_irqs++;
		return IRQ_HANDLED;
	case PVT_IRQ_EARLY:
		/* Early: the agent's TSC conversion is off. Never run a timer
		 * early; let the local APIC fire this one.
		 */
		pc->early_irqs++;
		if (trace_pvt_fire_enabled())
			trace_pvt_fire(smp_processor_id(), pc->deadline,
				       -(s64)pvt_cyc_to_ns(pc->deadline - now, tsc_khz), "early");
		pvt_slot_disarm(pc);
		pvt_lapic_arm(pc, pc->deadline);
		pc->direct_writes++;
		return IRQ_HANDLED;
	case PVT_IRQ_FIRE:
		break;
	}
	pc->armed = false;
	pc->agent_irqs++;
	pvt_account_late(pc, now);
	if (trace_pvt_fire_enabled())
		trace_pvt_fire(smp_processor_id(), pc->deadline,
			       pvt_cyc_to_ns(now - pc->deadline, tsc_khz), "agent");
	pc->ced.event_handler(&pc->ced);
	return IRQ_HANDLED;
}

/* The local APIC timer interrupt while our device is the tick device. */
static void pvt_lapic_handler(struct clock_event_device *lapic)
{
	struct pvt_cpu *pc = this_cpu_ptr(&pvt_cpus);
	u64 now = rdtsc();

	pc->backstop = 0;
	pc->lapic_irqs++;
	if (!pc->registered)
		return;
	switch (pvt_backstop_action(pc->armed, READ_ONCE(pc->slot->fired_seq), pc->seq,
				    now, pc->deadline)) {
	case PVT_BS_MOVE:
		/*
		 * The backstop came before the agent's deadline (it is kept
		 * across later deadlines, see pvt_backstop_needed()): move it.
		 */
		pvt_lapic_arm(pc, pc->deadline +
			      pvt_cycles(READ_ONCE(backstop_us) * 1000ULL));
		pc->backstop_writes++;
		return;
	case PVT_BS_FALLBACK:
		/* The agent missed it: the safety net fires it. */
		pc->fallbacks++;
		pvt_account_late(pc, now);
		if (trace_pvt_fire_enabled())
			trace_pvt_fire(smp_processor_id(), pc->deadline,
				       pvt_cyc_to_ns(now - pc->deadline, tsc_khz), "backstop");
		pvt_slot_disarm(pc);
		pvt_use_agent(pc, now);
		break;
	case PVT_BS_TICK:
		break;
	}
	pc->ced.event_handler(&pc->ced);
}

/*
 * Finding each CPU's local APIC device: it is the "old" device when ours
 * replaces it. Runs inside clockevents_register_device() on that CPU.
 */
/*
 * Put the tick core's handler back into @pc's lapic if ours is still there
 * (the one record of whether we hold it). Return: whether it was ours.
 */
static bool pvt_lapic_give_back(struct pvt_cpu *pc)
{
	if (!pc->lapic || READ_ONCE(pc->lapic->event_handler) != pvt_lapic_handler)
		return false;
	WRITE_ONCE(pc->lapic->event_handler, pc->lapic_handler);
	return true;
}

static int pvt_exchange_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct clock_event_device *old = (void *)regs->di;
	struct clock_event_device *new = (void *)regs->si;
	struct pvt_cpu *pc = this_cpu_ptr(&pvt_cpus);

	if (old && old->set_next_event == pvt_next_event) {
		/*
		 * Our device is being released (unbind, or a CPU going
		 * down, maybe from another CPU): give its lapic the tick
		 * core's handler back before the tick core sets up the
		 * replacement, whichever device that is and whether or
		 * not it writes the lapic's handler (clockevents_lock is
		 * held, interrupts are off).
		 */
		pvt_lapic_give_back(container_of(old, struct pvt_cpu, ced));
		return 0;
	}
	if (new != &pc->ced || !old)
		return 0;
	pc->lapic = old;
	/* Keep it out of the broadcast role while it is released. */
	if (!(old->features & CLOCK_EVT_FEAT_C3STOP)) {
		old->features |= CLOCK_EVT_FEAT_C3STOP;
		pc->c3stop_added = true;
	}
	return 0;
}

static struct kprobe pvt_kp;

static void pvt_register_local(void *arg)
{
	struct pvt_cpu *pc = arg;

	pc->lapic = NULL;
	clockevents_config_and_register(&pc->ced, tsc_khz * (1000 / PVT_TSC_DIV),
					0xF, ~0UL);
	if (!pc->lapic)
		return;	/* not made this CPU's tick device */
	pc->registered = true;
	/* Anything else is given back untouched (pvt_cpu_online()). */
	if (strcmp(pc->lapic->name, "lapic-deadline"))
		return;
	pc->lapic_handler = pc->lapic->event_handler;
	pc->lapic->event_handler = pvt_lapic_handler;
	if (!pc->lvtt_set && pc->lapic->set_state_oneshot) {
		pc->lapic->set_state_oneshot(pc->lapic);
		pc->lvtt_set = true;
	}
}

static void pvt_restore_lapic(struct pvt_cpu *pc)
{
	if (pc->lapic && pc->c3stop_added)
		pc->lapic->features &= ~CLOCK_EVT_FEAT_C3STOP;
	pc->c3stop_added = false;
}

static void pvt_check_lapic_local(void *arg)
{
	/*
	 * pvt_exchange_pre() gave the handler back when ours was released;
	 * should the kprobe have missed, the tick core may have installed its
	 * own handler since: put back only where ours is still there.
	 */
	if (pvt_lapic_give_back(arg))
		pr_err("CPU %u: lapic handler not given back on release: restored\n",
		       smp_processor_id());
}

/*
 * Take our device off @cpu. Should the tick code refuse (it kept the
 * device in another role), the device must outlive the module: pin it.
 * During module unload a pin is too late (delete_module() frees the module
 * whatever its count): that is a bug of ours, say it loudly.
 */
static void pvt_unbind(struct pvt_cpu *pc, unsigned int cpu)
{
	int ret = clockevents_unbind_device(&pc->ced, cpu);

	if (!ret) {
		smp_call_function_single(cpu, pvt_check_lapic_local, pc, 1);
		return;
	}
	pc->stuck = true;
	if (!module_is_live(THIS_MODULE)) {
		WARN(1, "CPU %u: the tick code keeps our device (%d) while the module unloads\n",
		     cpu, ret);
		return;
	}
	pr_err("CPU %u: the tick code keeps our device (%d): module pinned\n", cpu, ret);
	__module_get(THIS_MODULE);
}

static int pvt_cpu_online(unsigned int cpu)
{
	struct pvt_cpu *pc = per_cpu_ptr(&pvt_cpus, cpu);
	int ret;

	if (!pc->slot || pc->stuck)
		return 0;
	memset(&pc->ced, 0, sizeof(pc->ced));
	pc->ced.name = PVT_NAME;
	/* PERCPU: never a broadcast device; this CPU's only. */
	pc->ced.features = CLOCK_EVT_FEAT_ONESHOT | CLOCK_EVT_FEAT_PERCPU;
	pc->ced.rating = rating;
	pc->ced.cpumask = cpumask_of(cpu);
	pc->ced.set_next_event = pvt_next_event;
	pc->ced.set_state_oneshot = pvt_set_oneshot;
	pc->ced.set_state_oneshot_stopped = pvt_stopped;
	pc->ced.set_state_shutdown = pvt_shutdown;
	pc->lapic = NULL;
	pc->direct = true;
	pc->armed = false;
	pc->backstop = 0;
	pc->lvtt_set = false;
	ret = smp_call_function_single(cpu, pvt_register_local, pc, 1);
	if (ret)
		return ret;
	if (!pc->registered) {
		/* Not selected: this CPU stays on its current timer. */
		pr_err("CPU %u: not made the tick device; the CPU keeps its timer\n", cpu);
		pvt_unbind(pc, cpu);
		return 0;
	}
	if (strcmp(pc->lapic->name, "lapic-deadline")) {
		pr_err("CPU %u: replaced '%s', not lapic-deadline: giving it back\n",
		       cpu, pc->lapic->name);
		pvt_restore_lapic(pc);
		pvt_unbind(pc, cpu);
		pc->registered = false;
		return 0;
	}
	pr_info("CPU %u: timer on slot %d (MSI-X vector %d)\n", cpu, pc->vec, pc->vec);
	return 0;
}

static int pvt_cpu_offline(unsigned int cpu)
{
	struct pvt_cpu *pc = per_cpu_ptr(&pvt_cpus, cpu);

	if (!pc->registered)
		return 0;
	pvt_restore_lapic(pc);
	pvt_unbind(pc, cpu);
	pc->registered = false;
	pvt_slot_disarm(pc);
	return 0;
}

/* ------------------------------------------------------------ debugfs */

static int pvt_stats_show(struct seq_file *m, void *unused)
{
	unsigned int cpu, b;

	seq_printf(m, "device %s slots %u agent_gen %llu\n", pci_name(pvt->pdev),
		   pvt->nr_slots, READ_ONCE(pvt->hdr->agent_gen));
	seq_puts(m, "cpu slot mode programmed direct backstop_writes cancel_writes agent_irqs stale_irqs early_irqs lapic_irqs fallbacks agent_down recovered late_max_ns\n");
	for_each_possible_cpu(cpu) {
		struct pvt_cpu *pc = per_cpu_ptr(&pvt_cpus, cpu);

		seq_printf(m, "%u %d %s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu\n",
			   cpu, pc->slot ? pc->vec : -1,
			   !pc->registered ? "lapic" : pc->direct ? "direct" : "agent",
			   pc->programmed, pc->direct_writes, pc->backstop_writes,
			   pc->cancel_writes,
			   pc->agent_irqs, pc->stale_irqs, pc->early_irqs,
			   pc->lapic_irqs, pc->fallbacks, pc->agent_down,
			   pc->recovered, pc->late_max_ns);
	}
	seq_puts(m, "late_hist_us");
	for (b = 0; b < PVTIMER_LAT_BUCKETS; b++) {
		u64 sum = 0;

		for_each_possible_cpu(cpu)
			sum += per_cpu_ptr(&pvt_cpus, cpu)->late_hist[b];
		if (b == PVTIMER_LAT_BUCKETS - 1)
			seq_printf(m, " >=%u:%llu", 1U << (b - 1), sum);
		else
			seq_printf(m, " <%u:%llu", 1U << b, sum);
	}
	seq_putc(m, '\n');
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvt_stats);

static void pvt_reset_local(void *unused)
{
	struct pvt_cpu *pc = this_cpu_ptr(&pvt_cpus);

	pc->programmed = 0;
	pc->direct_writes = 0;
	pc->backstop_writes = 0;
	pc->cancel_writes = 0;
	pc->agent_irqs = 0;
	pc->stale_irqs = 0;
	pc->early_irqs = 0;
	pc->lapic_irqs = 0;
	pc->fallbacks = 0;
	pc->agent_down = 0;
	pc->recovered = 0;
	pc->late_max_ns = 0;
	memset(pc->late_hist, 0, sizeof(pc->late_hist));
}

static ssize_t pvt_reset_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	bool v;
	int ret = kstrtobool_from_user(ubuf, len, &v);

	if (ret)
		return ret;
	if (v)
		on_each_cpu(pvt_reset_local, NULL, 1);
	return len;
}

static const struct file_operations pvt_reset_fops = {
	.owner	= THIS_MODULE,
	.write	= pvt_reset_write,
	.llseek	= noop_llseek,
};

/* ------------------------------------------------------------ PCI */

static void pvt_free_irqs(struct pci_dev *pdev)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu) {
		struct pvt_cpu *pc = per_cpu_ptr(&pvt_cpus, cpu);

		if (!pc->slot)
			continue;
		free_irq(pci_irq_vector(pdev, pc->vec), pc);
		WRITE_ONCE(pc->slot->gid_valid, 0);
		pc->slot = NULL;
	}
	pci_free_irq_vectors(pdev);
}

/* Vector N is slot N; it interrupts the CPU its affinity names. */
static int pvt_setup_irqs(struct pci_dev *pdev)
{
	unsigned int want = min_t(unsigned int, pvt->nr_slots, nr_cpu_ids);
	int nvec, i, ret, used = 0;

	nvec = pci_alloc_irq_vectors(pdev, 1, want, PCI_IRQ_MSIX | PCI_IRQ_AFFINITY);
	if (nvec < 0) {
		pci_err(pdev, "no MSI-X vectors (%d): give the device vectors=N\n", nvec);
		return nvec;
	}
	pvt->nr_vecs = nvec;
	for (i = 0; i < nvec; i++) {
		const struct cpumask *mask = pci_irq_get_affinity(pdev, i);
		unsigned int cpu;
		struct pvt_cpu *pc;

		if (!mask || cpumask_weight(mask) != 1) {
			pci_warn(pdev, "vector %d is not bound to one CPU: unused\n", i);
			continue;
		}
		cpu = cpumask_first(mask);
		pc = per_cpu_ptr(&pvt_cpus, cpu);
		if (pc->slot)
			continue;
		pc->cpu = cpu;
		pc->vec = i;
		pc->slot = pvtimer_slot_at(pvt->shm, i);
		/* Go on from the slot's sequence: its fired_seq may be old. */
		pc->seq = READ_ONCE(pc->slot->seq) & ~1U;
		ret = request_irq(pci_irq_vector(pdev, i), pvt_irq,
				  IRQF_TIMER | IRQF_NOBALANCING, PVT_NAME, pc);
		if (ret) {
			pc->slot = NULL;
			pci_err(pdev, "vector %d: request_irq: %d\n", i, ret);
			pvt_free_irqs(pdev);
			return ret;
		}
		/*
		 * Name the slot's CPU (its APIC ID is KVM's vCPU id): the
		 * server reads this slot with that vCPU's TSC offset.
		 */
		if (cpu_physical_id(cpu) != BAD_APICID) {
			WRITE_ONCE(pc->slot->apic_id, cpu_physical_id(cpu));
			smp_wmb();	/* the ID before its flag (server: acquire) */
			WRITE_ONCE(pc->slot->gid_valid, PVTIMER_GID_APIC);
		}
		used++;
	}
	if (!used) {
		pci_err(pdev, "none of %d vectors interrupts a single CPU (%u possible CPUs): give the device vectors=<CPUs>\n",
			nvec, num_possible_cpus());
		pvt_free_irqs(pdev);
		return -ENODEV;
	}
	return 0;
}

static int pvt_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	unsigned int i;
	int ret;

	if (pvt)
		return -EBUSY;	/* one pvtimer device per guest */
	if (!boot_cpu_has(X86_FEATURE_TSC_DEADLINE_TIMER) || !tsc_khz) {
		pci_err(pdev, "needs the TSC-deadline local APIC timer and a known TSC rate\n");
		return -ENODEV;
	}
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	if (pci_resource_len(pdev, 2) < PVTIMER_SHM_MIN_SIZE)
		return -ENODEV;	/* not ours (or no shared memory) */
	pvt = kzalloc(sizeof(*pvt), GFP_KERNEL);
	if (!pvt)
		return -ENOMEM;
	pvt->pdev = pdev;
	pvt->shm_size = pci_resource_len(pdev, 2);
	if (!devm_request_mem_region(&pdev->dev, pci_resource_start(pdev, 2),
				     pvt->shm_size, PVT_NAME)) {
		ret = -EBUSY;
		goto err_free;
	}
	pvt->shm = devm_memremap(&pdev->dev, pci_resource_start(pdev, 2),
				 pvt->shm_size, MEMREMAP_WB);
	if (IS_ERR(pvt->shm)) {
		ret = PTR_ERR(pvt->shm);
		goto err_free;
	}
	pvt->hdr = pvt->shm;
	ret = pvt_shm_header_valid(pvt->hdr, pvt->shm_size);
	if (ret) {
		pci_info(pdev, "ivshmem device without a pvtimer header (%d): not ours\n", ret);
		ret = -ENODEV;
		goto err_free;
	}
	pvt->nr_slots = pvt->hdr->nr_slots;
	/* The memory outlives a guest reset: no slot is named by an old boot. */
	for (i = 0; i < pvt->nr_slots; i++)
		WRITE_ONCE(pvtimer_slot_at(pvt->shm, i)->gid_valid, 0);
	pci_set_master(pdev);
	ret = pvt_setup_irqs(pdev);
	if (ret)
		goto err_free;
	pvt_kp.symbol_name = "clockevents_exchange_device";
	pvt_kp.pre_handler = pvt_exchange_pre;
	ret = register_kprobe(&pvt_kp);
	if (ret) {
		pci_err(pdev, "kprobe on clockevents_exchange_device: %d\n", ret);
		goto err_irqs;
	}
	ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "hvkit/guest_pvtimer:online",
				pvt_cpu_online, pvt_cpu_offline);
	if (ret < 0)
		goto err_kprobe;
	pvt->hp_state = ret;
	pvt->dbg = debugfs_create_dir(PVT_NAME, NULL);
	debugfs_create_file("stats", 0444, pvt->dbg, NULL, &pvt_stats_fops);
	debugfs_create_file("reset", 0200, pvt->dbg, NULL, &pvt_reset_fops);
	pci_info(pdev, "%u slots, %u vectors, agent %s; version %s\n", pvt->nr_slots,
		 pvt->nr_vecs, READ_ONCE(pvt->hdr->agent_gen) ? "attached" : "not attached",
		 HVKIT_VERSION);
	return 0;

err_kprobe:
	unregister_kprobe(&pvt_kp);
	memset(&pvt_kp, 0, sizeof(pvt_kp));
err_irqs:
	pvt_free_irqs(pdev);
err_free:
	kfree(pvt);
	pvt = NULL;
	return ret;
}

static void pvt_remove(struct pci_dev *pdev)
{
	unsigned int cpu;

	if (!pvt || pvt->pdev != pdev)
		return;
	debugfs_remove_recursive(pvt->dbg);
	cpuhp_remove_state(pvt->hp_state);
	/* Offline CPUs too: a lapic must never keep a handler of ours. */
	for_each_possible_cpu(cpu)
		if (pvt_lapic_give_back(per_cpu_ptr(&pvt_cpus, cpu)))
			pr_err("CPU %u: lapic handler not given back on release: restored\n", cpu);
	unregister_kprobe(&pvt_kp);
	memset(&pvt_kp, 0, sizeof(pvt_kp));
	pvt_free_irqs(pdev);
	kfree(pvt);
	pvt = NULL;
	pci_info(pdev, "timers back on lapic-deadline\n");
}

static const struct pci_device_id pvt_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, 0x1110) },	/* ivshmem */
	{ }
};
MODULE_DEVICE_TABLE(pci, pvt_ids);

static struct pci_driver pvt_driver = {
	.name		= PVT_NAME,
	.id_table	= pvt_ids,
	.probe		= pvt_probe,
	.remove		= pvt_remove,
};

static int __init guest_pvtimer_init(void)
{
	int ret;

	if (rating <= 150) {
		pr_err("rating=%u must be above lapic-deadline's 150\n", rating);
		return -EINVAL;
	}
	ret = pci_register_driver(&pvt_driver);
	if (ret)
		return ret;
	if (!pvt)
		pr_info("version %s loaded; no pvtimer ivshmem device bound yet\n",
			HVKIT_VERSION);
	return 0;
}

static void __exit guest_pvtimer_exit(void)
{
	pci_unregister_driver(&pvt_driver);
	pr_info("unloaded\n");
}

module_init(guest_pvtimer_init);
module_exit(guest_pvtimer_exit);

MODULE_DESCRIPTION("hvkit guest_pvtimer: exitless guest timer through a host agent");
MODULE_AUTHOR("hvkit developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(HVKIT_VERSION);
