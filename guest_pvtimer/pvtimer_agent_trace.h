/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvtimer_agent's trace events (tracefs events/pvtimer_agent/): every
 * deadline it takes from a slot and every firing, with its lateness.
 * Zero cost while disabled. CREATE_TRACE_POINTS in pvtimer_agent.c only.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM pvtimer_agent

#if !defined(_PVTIMER_AGENT_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _PVTIMER_AGENT_TRACE_H

#include <linux/tracepoint.h>

/* A deadline taken from a slot: armed @in_ns ahead, or due (@past). */
TRACE_EVENT(pvta_arm,
	    TP_PROTO(u32 vm, u32 vcpu, u64 deadline, s64 in_ns, bool past),
	    TP_ARGS(vm, vcpu, deadline, in_ns, past),
	    TP_STRUCT__entry(__field(u32, vm)
			     __field(u32, vcpu)
			     __field(u64, deadline)
			     __field(s64, in_ns)
			     __field(bool, past)),
	    TP_fast_assign(__entry->vm = vm;
			   __entry->vcpu = vcpu;
			   __entry->deadline = deadline;
			   __entry->in_ns = in_ns;
			   __entry->past = past;),
	    TP_printk("vm=%u vcpu=%u deadline=%llu in_ns=%lld past=%d", __entry->vm,
		      __entry->vcpu, __entry->deadline, __entry->in_ns, __entry->past)
);

/*
 * The hrtimer of a deadline expired: fired @late_ns after its target, or,
 * before the guest's TSC reached the deadline, re-armed (@early).
 */
TRACE_EVENT(pvta_fire,
	    TP_PROTO(u32 vm, u32 vcpu, u64 deadline, s64 late_ns, bool early),
	    TP_ARGS(vm, vcpu, deadline, late_ns, early),
	    TP_STRUCT__entry(__field(u32, vm)
			     __field(u32, vcpu)
			     __field(u64, deadline)
			     __field(s64, late_ns)
			     __field(bool, early)),
	    TP_fast_assign(__entry->vm = vm;
			   __entry->vcpu = vcpu;
			   __entry->deadline = deadline;
			   __entry->late_ns = late_ns;
			   __entry->early = early;),
	    TP_printk("vm=%u vcpu=%u deadline=%llu late_ns=%lld early=%d", __entry->vm,
		      __entry->vcpu, __entry->deadline, __entry->late_ns, __entry->early)
);

#endif /* _PVTIMER_AGENT_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE pvtimer_agent_trace
#include <trace/define_trace.h>
