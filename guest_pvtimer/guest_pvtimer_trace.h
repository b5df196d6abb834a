/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_pvtimer's trace events (tracefs events/guest_pvtimer/): how each
 * deadline was programmed (through the agent's slot, or on the local APIC
 * and why) and how each timer interrupt came (the agent's MSI, or the
 * local APIC's safety net for a deadline the agent missed). Zero cost
 * while disabled. CREATE_TRACE_POINTS in guest_pvtimer_main.c only.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM guest_pvtimer

#if !defined(_GUEST_PVTIMER_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _GUEST_PVTIMER_TRACE_H

#include <linux/tracepoint.h>

/*
 * A deadline programmed: @path "agent" (the slot; @backstop: the local
 * APIC re-armed as safety net), "down" (the agent is stale or overdue:
 * local APIC) or "close" (due before the agent's next scan: local APIC).
 */
TRACE_EVENT(pvt_program,
	    TP_PROTO(u32 cpu, u64 deadline, const char *path, bool backstop),
	    TP_ARGS(cpu, deadline, path, backstop),
	    TP_STRUCT__entry(__field(u32, cpu)
			     __field(u64, deadline)
			     __string(path, path)
			     __field(bool, backstop)),
	    TP_fast_assign(__entry->cpu = cpu;
			   __entry->deadline = deadline;
			   __assign_str(path, path);
			   __entry->backstop = backstop;),
	    TP_printk("cpu=%u deadline=%llu path=%s backstop=%d", __entry->cpu,
		      __entry->deadline, __get_str(path), __entry->backstop)
);

/*
 * A timer interrupt for a deadline: @source "agent" (its MSI), "early"
 * (the agent's MSI before the deadline: left to the local APIC) or
 * "backstop" (the local APIC fired a deadline the agent missed).
 */
TRACE_EVENT(pvt_fire,
	    TP_PROTO(u32 cpu, u64 deadline, s64 late_ns, const char *source),
	    TP_ARGS(cpu, deadline, late_ns, source),
	    TP_STRUCT__entry(__field(u32, cpu)
			     __field(u64, deadline)
			     __field(s64, late_ns)
			     __string(source, source)),
	    TP_fast_assign(__entry->cpu = cpu;
			   __entry->deadline = deadline;
			   __entry->late_ns = late_ns;
			   __assign_str(source, source);),
	    TP_printk("cpu=%u deadline=%llu late_ns=%lld source=%s", __entry->cpu,
		      __entry->deadline, __entry->late_ns, __get_str(source))
);

#endif /* _GUEST_PVTIMER_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE guest_pvtimer_trace
#include <trace/define_trace.h>
