/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kram's trace events (tracefs events/kram/): pool pages and areas, the
 * decisions that matter when a host's persistent memory is in question.
 * Zero cost while disabled (static keys). CREATE_TRACE_POINTS in
 * kram_main.c only. The attach and its refusals happen in module init,
 * before anyone could enable a module's events on 6.1: load kram with
 * trace_init=1 to have it enable its own events first
 * (hvkit_trace_own_events()).
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

/* The region attached at load: what it holds, and whether it was formatted. */
TRACE_EVENT(kram_attach,
	    TP_PROTO(u64 base, u64 size, u64 generation, u64 data_pages, u64 free_pages,
		     u32 nr_areas, u64 metadata_us, bool formatted),
	    TP_ARGS(base, size, generation, data_pages, free_pages, nr_areas, metadata_us,
		    formatted),
	    TP_STRUCT__entry(__field(u64, base)
			     __field(u64, size)
			     __field(u64, generation)
			     __field(u64, data_pages)
			     __field(u64, free_pages)
			     __field(u32, nr_areas)
			     __field(u64, metadata_us)
			     __field(bool, formatted)),
	    TP_fast_assign(__entry->base = base;
			   __entry->size = size;
			   __entry->generation = generation;
			   __entry->data_pages = data_pages;
			   __entry->free_pages = free_pages;
			   __entry->nr_areas = nr_areas;
			   __entry->metadata_us = metadata_us;
			   __entry->formatted = formatted;),
	    TP_printk("base=%#llx size=%#llx generation=%llu data_pages=%llu free_pages=%llu areas=%u metadata_us=%llu formatted=%d",
		      __entry->base, __entry->size, __entry->generation, __entry->data_pages,
		      __entry->free_pages, __entry->nr_areas, __entry->metadata_us,
		      __entry->formatted)
);

/* The region refused at load, and why (sysfs last_attach says the same). */
TRACE_EVENT(kram_refuse,
	    TP_PROTO(u64 base, u64 size, int err, const char *why),
	    TP_ARGS(base, size, err, why),
	    TP_STRUCT__entry(__field(u64, base)
			     __field(u64, size)
			     __field(int, err)
			     __string(why, why)),
	    TP_fast_assign(__entry->base = base;
			   __entry->size = size;
			   __entry->err = err;
			   __assign_str(why, why);),
	    TP_printk("base=%#llx size=%#llx err=%d why=%s", __entry->base, __entry->size,
		      __entry->err, __get_str(why))
);

#endif /* _KRAM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE kram_trace
#include <trace/define_trace.h>
