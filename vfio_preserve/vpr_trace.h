/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfio_preserve's trace events (tracefs events/vfio_preserve/): arming
 * and disarming, and every reset the device had or was spared. Zero cost
 * while disabled. CREATE_TRACE_POINTS in vfio_preserve_main.c only. The
 * kram records are read in module init, before anyone could enable a
 * module's events on 6.1: load with trace_init=1 to have vfio_preserve
 * enable its own events first (hvkit_trace_own_events()).
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

/*
 * A kram record at load: @result is restore (its device is claimed to bind
 * without reset), bound (it did, armed), refuse (not restored, @why;
 * erased), invalid (no valid copy; erased) or unbound (its device did not
 * bind; @why says whether the record was erased or kept).
 */
TRACE_EVENT(vpr_record,
	    TP_PROTO(int slot, u32 domain, u8 bus, u8 devfn, u16 vendor, u16 device,
		     u64 saved_gen, const char *result, const char *why),
	    TP_ARGS(slot, domain, bus, devfn, vendor, device, saved_gen, result, why),
	    TP_STRUCT__entry(__field(int, slot)
			     __field(u32, domain)
			     __field(u8, bus)
			     __field(u8, devfn)
			     __field(u16, vendor)
			     __field(u16, device)
			     __field(u64, saved_gen)
			     __string(result, result)
			     __string(why, why)),
	    TP_fast_assign(__entry->slot = slot;
			   __entry->domain = domain;
			   __entry->bus = bus;
			   __entry->devfn = devfn;
			   __entry->vendor = vendor;
			   __entry->device = device;
			   __entry->saved_gen = saved_gen;
			   __assign_str(result, result);
			   __assign_str(why, why);),
	    TP_printk("slot=%d dev=%04x:%02x:%02x.%d vendor=%04x device=%04x saved_gen=%llu result=%s why=%s",
		      __entry->slot, __entry->domain, __entry->bus, __entry->devfn >> 3,
		      __entry->devfn & 7, __entry->vendor, __entry->device, __entry->saved_gen,
		      __get_str(result), __get_str(why))
);

#endif /* _VPR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vpr_trace
#include <trace/define_trace.h>
