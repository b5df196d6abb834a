/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kram's trace events (tracefs events/kram/): pool pages and areas, the
 * decisions that matter when a host's persistent memory is in question.
 * Zero cost while disabled (static keys). CREATE_TRACE_POINTS in
 * kram_main.c only. The attach and its refusals have no event: they
 * happen in module init, before 6.1 lets anyone enable a module's events
 * (its trace_event= is for boot only); dmesg and sysfs last_attach,
 * state and why tell them.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kram

#if !defined(_KRAM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KRAM_TRACE_H

#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(kram_page,
		    TP_PROTO(u64 index, u32 tag, int ret),
		    TP_ARGS(index, tag, ret),
		    TP_STRUCT__entry(__field(u64, index)
				     __field(u32, tag)
				     __field(int, ret)),
		    TP_fast_assign(__entry->index = index;
				   __entry->tag = tag;
				   __entry->ret = ret;),
		    TP_printk("index=%llu tag=%#x ret=%d", __entry->index, __entry->tag,
			      __entry->ret)
);

/* A pool page handed out (kernel callers and the ALLOC ioctl). */
DEFINE_EVENT(kram_page, kram_alloc,
	     TP_PROTO(u64 index, u32 tag, int ret),
	     TP_ARGS(index, tag, ret)
);

/* A pool page freed, or one the pool refused to free (ret < 0). */
DEFINE_EVENT(kram_page, kram_free,
	     TP_PROTO(u64 index, u32 tag, int ret),
	     TP_ARGS(index, tag, ret)
);

TRACE_EVENT(kram_area_create,
	    TP_PROTO(const char *name, u64 first_page, u64 nr_pages, u32 flags, int ret),
	    TP_ARGS(name, first_page, nr_pages, flags, ret),
	    TP_STRUCT__entry(__string(name, name)
			     __field(u64, first_page)
			     __field(u64, nr_pages)
			     __field(u32, flags)
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(name, name);
			   __entry->first_page = first_page;
			   __entry->nr_pages = nr_pages;
			   __entry->flags = flags;
			   __entry->ret = ret;),
	    TP_printk("name=%s first_page=%llu nr_pages=%llu flags=%#x ret=%d", __get_str(name),
		      __entry->first_page, __entry->nr_pages, __entry->flags, __entry->ret)
);

TRACE_EVENT(kram_area_delete,
	    TP_PROTO(const char *name, bool user, int ret),
	    TP_ARGS(name, user, ret),
	    TP_STRUCT__entry(__string(name, name)
			     __field(bool, user)
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(name, name);
			   __entry->user = user;
			   __entry->ret = ret;),
	    TP_printk("name=%s user=%d ret=%d", __get_str(name), __entry->user, __entry->ret)
);

#endif /* _KRAM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kram_trace
#include <trace/define_trace.h>
