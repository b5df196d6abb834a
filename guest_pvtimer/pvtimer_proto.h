/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_pvtimer: the slot protocol and the decisions both sides make,
 * shared by the guest module, the host agent and their KUnit suite.
 * The layout is in <uapi/linux/hvkit.h> (struct pvtimer_slot).
 */
#ifndef _HVKIT_PVTIMER_PROTO_H
#define _HVKIT_PVTIMER_PROTO_H

#include <linux/compiler.h>
#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/types.h>
#include <asm/barrier.h>
#include <hvkit/hvkit.h>

/**
 * pvt_slot_write() - the guest publishes a deadline (or disarms)
 * @s:		the slot
 * @seq:	the guest's copy of s->seq (even); updated
 * @deadline:	guest TSC of the expiry
 * @gflags:	PVTIMER_G_ARMED, or 0 to disarm
 *
 * Only the slot's CPU writes seq, gflags and deadline, with interrupts
 * off, so there is one writer; the agent may read at any moment. (Probe
 * and remove write apic_id and gid_valid: the server reads them, and the
 * agent scans at its fast pace only while some slot is claimed or was
 * written in the last second.)
 */
static inline void pvt_slot_write(struct pvtimer_slot *s, u32 *seq,
				  u64 deadline, u32 gflags)
{
	WRITE_ONCE(s->seq, *seq + 1);
	smp_wmb();	/* odd seq visible before the fields change */
	WRITE_ONCE(s->deadline, deadline);
	WRITE_ONCE(s->gflags, gflags);
	smp_wmb();	/* fields visible before seq is even again */
	*seq += 2;
	WRITE_ONCE(s->seq, *seq);
}

/**
 * pvt_slot_read() - the agent's consistent view of a slot
 * @s:		the slot
 * @seq:	out: the even sequence number the fields belong to
 * @deadline:	out
 * @gflags:	out
 *
 * Return: true when the fields are one write's; false when the guest was
 * writing (odd sequence) or wrote in between (torn: read again later).
 */
static inline bool pvt_slot_read(const struct pvtimer_slot *s, u32 *seq,
				 u64 *deadline, u32 *gflags)
{
	u32 s1, s2;

	s1 = READ_ONCE(s->seq);
	if (s1 & 1)
		return false;
	smp_rmb();	/* pairs with the first smp_wmb() in pvt_slot_write() */
	*deadline = READ_ONCE(s->deadline);
	*gflags = READ_ONCE(s->gflags);
	smp_rmb();	/* pairs with the second smp_wmb() */
	s2 = READ_ONCE(s->seq);
	if (s1 != s2)
		return false;
	*seq = s1;
	return true;
}

/**
 * pvt_agent_fresh() - may the guest rely on the agent for a deadline?
 * @heartbeat:	guest TSC of the agent's last scan (0: never)
 * @now:	guest TSC now
 * @stale:	how old a heartbeat may be, in TSC cycles
 *
 * A heartbeat slightly in the future (TSC offset rounding) is fresh.
 */
static inline bool pvt_agent_fresh(u64 heartbeat, u64 now, u64 stale)
{
	if (!heartbeat)
		return false;
	return (s64)(now - heartbeat) < (s64)stale;
}

/**
 * pvt_scan_overdue() - is the agent late for the scan it announced?
 * @next_scan:	guest TSC by which the agent said it would scan again (0: never)
 * @now:	guest TSC now
 * @slack:	how late a scan may be, in TSC cycles
 *
 * A fresh heartbeat is not enough: an agent whose announced scan is more
 * than @slack overdue would see a new deadline only when it is back (at
 * least that late), so the guest treats it as stale and programs the local
 * APIC (fail closed) instead of waiting for the heartbeat to age.
 */
static inline bool pvt_scan_overdue(u64 next_scan, u64 now, u64 slack)
{
	if (!next_scan)
		return true;
	return (s64)(now - next_scan) > (s64)slack;
}

/**
 * pvt_too_close() - must a deadline take the direct (local APIC) path?
 * @deadline:	guest TSC of the expiry
 * @next_scan:	guest TSC by which the agent looks at the slot again
 * @margin:	extra cycles the agent needs from its scan to arming
 *
 * The agent sees a new deadline only at its next scan: one due before
 * that (plus the margin) would fire late through the agent.
 */
static inline bool pvt_too_close(u64 deadline, u64 next_scan, u64 margin)
{
	return (s64)(deadline - (next_scan + margin)) < 0;
}

/**
 * pvt_backstop_needed() - must the local APIC safety net be re-armed?
 * @backstop:	guest TSC the local APIC is armed for (0: not armed)
 * @deadline:	the new agent-served deadline
 * @bound:	the most a missed deadline may be late, in cycles
 *
 * The safety net must fire within @bound after @deadline, so that a dead
 * agent costs at most @bound of lateness. It may fire before @deadline:
 * the guest then re-arms it for @deadline + @bound (one MSR write, as here)
 * and nothing is run early. So an armed backstop stays until it would be
 * too late: a periodic timer re-arms it about once per @bound, and a far
 * deadline followed by a near one (an idle CPU's tick, then a sleep)
 * costs nothing.
 */
static inline bool pvt_backstop_needed(u64 backstop, u64 deadline, u64 bound)
{
	if (!backstop)
		return true;
	return (s64)(backstop - deadline) > (s64)bound;
}

/* What a timer interrupt on a CPU means, decided by pvt_irq_action(). */
enum pvt_irq_act {
	PVT_IRQ_STALE,	/* for a deadline since replaced or withdrawn: ignore */
	PVT_IRQ_EARLY,	/* the agent's, before the deadline: to the local APIC */
	PVT_IRQ_FIRE,	/* the agent's, due: run the tick */
};

/**
 * pvt_irq_action() - the agent's interrupt (MSI) on its CPU
 * @armed:	a deadline is in the CPU's slot
 * @fired_seq:	the slot's fired_seq (the agent wrote it before the MSI)
 * @seq:	the sequence of the CPU's current deadline
 * @now:	guest TSC
 * @deadline:	the current deadline, guest TSC
 */
static inline enum pvt_irq_act pvt_irq_action(bool armed, u32 fired_seq, u32 seq,
					      u64 now, u64 deadline)
{
	if (!armed || fired_seq != seq)
		return PVT_IRQ_STALE;
	if ((s64)(now - deadline) < 0)
		return PVT_IRQ_EARLY;
	return PVT_IRQ_FIRE;
}

/* What the local APIC's interrupt means, decided by pvt_backstop_action(). */
enum pvt_bs_act {
	PVT_BS_TICK,		/* a direct deadline, or the agent fired already: tick */
	PVT_BS_MOVE,		/* the backstop came before the agent's deadline: re-arm */
	PVT_BS_FALLBACK,	/* the agent missed a due deadline: fire it, tick */
};

/**
 * pvt_backstop_action() - the local APIC timer while our device is the tick
 * @armed:	a deadline is in the CPU's slot (served by the agent)
 * @fired_seq:	the slot's fired_seq
 * @seq:	the sequence of that deadline
 * @now:	guest TSC
 * @deadline:	that deadline, guest TSC
 *
 * The backstop is kept across later deadlines (pvt_backstop_needed()), so
 * it may come before the pending one: then it is moved, and nothing runs
 * early. A due deadline the agent has not fired is the safety net's.
 */
static inline enum pvt_bs_act pvt_backstop_action(bool armed, u32 fired_seq, u32 seq,
						  u64 now, u64 deadline)
{
	if (armed && (s64)(now - deadline) < 0)
		return PVT_BS_MOVE;
	if (armed && fired_seq != seq)
		return PVT_BS_FALLBACK;
	return PVT_BS_TICK;
}

/**
 * pvt_lat_bucket() - histogram bucket of a lateness in ns
 *
 * Bucket 0: < 1 us; bucket i: [2^(i-1), 2^i) us; the last bucket holds
 * everything from 2^(PVTIMER_LAT_BUCKETS - 2) us on.
 */
static inline unsigned int pvt_lat_bucket(u64 ns)
{
	u64 us = div_u64(ns, 1000);
	unsigned int b;

	if (!us)
		return 0;
	b = ilog2(us) + 1;
	return min_t(unsigned int, b, PVTIMER_LAT_BUCKETS - 1);
}

/* Cycles <-> ns with the TSC frequency in kHz (tsc_khz). */
static inline u64 pvt_cyc_to_ns(u64 cyc, u32 khz)
{
	return khz ? mul_u64_u32_div(cyc, 1000000, khz) : 0;
}

static inline u64 pvt_ns_to_cyc(u64 ns, u32 khz)
{
	return mul_u64_u32_div(ns, khz, 1000000);
}

/**
 * pvt_shm_header_valid() - is this shared memory a pvtimer one?
 * @h:		the header (guest: BAR2; agent: the server's memfd)
 * @size:	the shared memory's size
 *
 * Return: 0, or a negative errno saying what is wrong.
 */
static inline int pvt_shm_header_valid(const struct pvtimer_shm_header *h,
				       u64 size)
{
	if (READ_ONCE(h->magic) != PVTIMER_SHM_MAGIC)
		return -ENODEV;
	if (READ_ONCE(h->abi) != PVTIMER_SHM_ABI)
		return -EPROTO;
	if (READ_ONCE(h->slot_size) != PVTIMER_SLOT_SIZE ||
	    READ_ONCE(h->slot_offset) != PVTIMER_SLOT_OFFSET)
		return -EPROTO;
	if (!READ_ONCE(h->nr_slots) || READ_ONCE(h->nr_slots) > PVTIMER_MAX_VCPUS)
		return -EINVAL;
	if (size < PVTIMER_SLOT_OFFSET + (u64)h->nr_slots * PVTIMER_SLOT_SIZE)
		return -EINVAL;
	return 0;
}

#endif /* _HVKIT_PVTIMER_PROTO_H */
