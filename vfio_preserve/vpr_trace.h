/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfio_preserve's trace events (tracefs events/vfio_preserve/): arming
 * and disarming, and every reset the device had or was spared. Zero cost
 * while disabled. CREATE_TRACE_POINTS in vfio_preserve_main.c only. The
 * kram records restored or refused at load have no event: 6.1 cannot
 * enable a module's events before its init runs; dmesg tells them.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vfio_preserve

#if !defined(_VPR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VPR_TRACE_H

#include <linux/tracepoint.h>

/* A change of the preserve flags: done (ret 0) or refused. */
TRACE_EVENT(vpr_arm,
	    TP_PROTO(const char *dev, u32 old_flags, u32 flags, int ret),
	    TP_ARGS(dev, old_flags, flags, ret),
	    TP_STRUCT__entry(__string(dev, dev)
			     __field(u32, old_flags)
			     __field(u32, flags)
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(dev, dev);
			   __entry->old_flags = old_flags;
			   __entry->flags = flags;
			   __entry->ret = ret;),
	    TP_printk("dev=%s old_flags=%#x flags=%#x ret=%d", __get_str(dev),
		      __entry->old_flags, __entry->flags, __entry->ret)
);

/* A reset vfio-pci does (@skipped 0) or preserve spared (@skipped 1). */
TRACE_EVENT(vpr_reset,
	    TP_PROTO(const char *dev, const char *when, bool skipped),
	    TP_ARGS(dev, when, skipped),
	    TP_STRUCT__entry(__string(dev, dev)
			     __string(when, when)
			     __field(bool, skipped)),
	    TP_fast_assign(__assign_str(dev, dev);
			   __assign_str(when, when);
			   __entry->skipped = skipped;),
	    TP_printk("dev=%s when=%s skipped=%d", __get_str(dev), __get_str(when),
		      __entry->skipped)
);

#endif /* _VPR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vpr_trace
#include <trace/define_trace.h>
