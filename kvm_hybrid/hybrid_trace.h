/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvm_hybrid's trace events (tracefs events/kvm_hybrid/): bindings, the
 * CPUID results it rewrites, feature clears. Zero cost while disabled.
 * CREATE_TRACE_POINTS in kvm_hybrid_main.c only.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvm_hybrid

#if !defined(_HYBRID_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _HYBRID_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(hybrid_bind,
	    TP_PROTO(u32 id, pid_t pid, u32 nr_vcpus, u32 nr_types),
	    TP_ARGS(id, pid, nr_vcpus, nr_types),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(pid_t, pid)
			     __field(u32, nr_vcpus)
			     __field(u32, nr_types)),
	    TP_fast_assign(__entry->id = id;
			   __entry->pid = pid;
			   __entry->nr_vcpus = nr_vcpus;
			   __entry->nr_types = nr_types;),
	    TP_printk("id=%u pid=%d vcpus=%u types=%u", __entry->id, __entry->pid,
		      __entry->nr_vcpus, __entry->nr_types)
);

TRACE_EVENT(hybrid_unbind,
	    TP_PROTO(u32 id, pid_t pid, const char *why),
	    TP_ARGS(id, pid, why),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(pid_t, pid)
			     __string(why, why)),
	    TP_fast_assign(__entry->id = id;
			   __entry->pid = pid;
			   __assign_str(why, why);),
	    TP_printk("id=%u pid=%d why=%s", __entry->id, __entry->pid, __get_str(why))
);

/*
 * A bound vCPU's CPUID as the binding changed it: an entry of its KVM
 * table the profile rewrote or added (at bind, or when the VMM sets the
 * CPUID again), or an answer the feature-clear hook rewrote.
 */
TRACE_EVENT(hybrid_override,
	    TP_PROTO(u32 id, u32 vcpu, u32 function, u32 index, const u32 *before,
		     const u32 *after),
	    TP_ARGS(id, vcpu, function, index, before, after),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(u32, vcpu)
			     __field(u32, function)
			     __field(u32, index)
			     __array(u32, before, 4)
			     __array(u32, after, 4)),
	    TP_fast_assign(__entry->id = id;
			   __entry->vcpu = vcpu;
			   __entry->function = function;
			   __entry->index = index;
			   memcpy(__entry->before, before, sizeof(__entry->before));
			   memcpy(__entry->after, after, sizeof(__entry->after));),
	    TP_printk("id=%u vcpu=%u leaf=%#x.%#x eax=%#x->%#x ebx=%#x->%#x ecx=%#x->%#x edx=%#x->%#x",
		      __entry->id, __entry->vcpu, __entry->function, __entry->index,
		      __entry->before[0], __entry->after[0], __entry->before[1],
		      __entry->after[1], __entry->before[2], __entry->after[2],
		      __entry->before[3], __entry->after[3])
);

/*
 * A feature clear or restore on a binding, done (ret 0) or refused
 * (refusals before the binding is found are only in dmesg).
 */
TRACE_EVENT(hybrid_clear,
	    TP_PROTO(u32 id, bool clear, u32 vcpu, u32 function, u32 index, u32 reg, u32 bits,
		     int ret),
	    TP_ARGS(id, clear, vcpu, function, index, reg, bits, ret),
	    TP_STRUCT__entry(__field(u32, id)
			     __field(bool, clear)
			     __field(u32, vcpu)
			     __field(u32, function)
			     __field(u32, index)
			     __field(u32, reg)
			     __field(u32, bits)
			     __field(int, ret)),
	    TP_fast_assign(__entry->id = id;
			   __entry->clear = clear;
			   __entry->vcpu = vcpu;
			   __entry->function = function;
			   __entry->index = index;
			   __entry->reg = reg;
			   __entry->bits = bits;
			   __entry->ret = ret;),
	    TP_printk("id=%u op=%s vcpu=%#x leaf=%#x.%#x reg=%u bits=%#x ret=%d", __entry->id,
		      __entry->clear ? "clear" : "restore", __entry->vcpu, __entry->function,
		      __entry->index, __entry->reg, __entry->bits, __entry->ret)
);

#endif /* _HYBRID_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE hybrid_trace
#include <trace/define_trace.h>
