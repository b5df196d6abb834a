/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_idlepoll's trace events (tracefs events/guest_idlepoll/): each
 * poll with its window and whether a wakeup came within it, and each halt
 * with how long it lasted. They fire in the IDLEPOLL state's ->enter()
 * while RCU is watching (the state is CPUIDLE_FLAG_RCU_IDLE: the driver
 * stops RCU watching itself, around the halt only). Zero cost while
 * disabled. CREATE_TRACE_POINTS in guest_idlepoll_main.c only.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM guest_idlepoll

#if !defined(_GUEST_IDLEPOLL_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _GUEST_IDLEPOLL_TRACE_H

#include <linux/tracepoint.h>

/*
 * The CPU is the trace buffer's own (the [00N] column): no field repeats
 * it. A poll begins, for at most @window_ns (the predictor's window).
 */
TRACE_EVENT(ipoll_poll_start,
	    TP_PROTO(u64 window_ns),
	    TP_ARGS(window_ns),
	    TP_STRUCT__entry(__field(u64, window_ns)),
	    TP_fast_assign(__entry->window_ns = window_ns;),
	    TP_printk("window_ns=%llu", __entry->window_ns)
);

/*
 * A poll ended after @poll_ns: @hit, a wakeup (need_resched) came within
 * the window, or a miss: the CPU halts next.
 */
TRACE_EVENT(ipoll_poll_end,
	    TP_PROTO(u64 window_ns, u64 poll_ns, bool hit),
	    TP_ARGS(window_ns, poll_ns, hit),
	    TP_STRUCT__entry(__field(u64, window_ns)
			     __field(u64, poll_ns)
			     __field(bool, hit)),
	    TP_fast_assign(__entry->window_ns = window_ns;
			   __entry->poll_ns = poll_ns;
			   __entry->hit = hit;),
	    TP_printk("window_ns=%llu poll_ns=%llu %s", __entry->window_ns,
		      __entry->poll_ns, __entry->hit ? "hit" : "miss")
);

/* The CPU halted (a VM exit) for @halt_ns, after polling for @poll_ns. */
TRACE_EVENT(ipoll_halt,
	    TP_PROTO(u64 poll_ns, u64 halt_ns),
	    TP_ARGS(poll_ns, halt_ns),
	    TP_STRUCT__entry(__field(u64, poll_ns)
			     __field(u64, halt_ns)),
	    TP_fast_assign(__entry->poll_ns = poll_ns;
			   __entry->halt_ns = halt_ns;),
	    TP_printk("poll_ns=%llu halt_ns=%llu", __entry->poll_ns,
		      __entry->halt_ns)
);

#endif /* _GUEST_IDLEPOLL_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE guest_idlepoll_trace
#include <trace/define_trace.h>
