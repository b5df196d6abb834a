/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hvkit compat layer, force-included into every hvkit object by the root
 * Kbuild. Features are detected by compiling probes against the target
 * kernel (compat/conftest.sh, results in compat/generated/hvkit_config.h);
 * nothing here tests kernel version numbers or distributions.
 *
 * Rule: a stand-in lives here only when a probe says a supported kernel
 * (5.15+) lacks the real thing, so core files carry no #if. An API every
 * supported kernel has gets a probe that turns its absence into a clear
 * #error rather than a stand-in nothing would ever compile.
 */
#ifndef _HVKIT_COMPAT_H
#define _HVKIT_COMPAT_H

#include "generated/hvkit_config.h"

#ifndef HAVE_COPY_STRUCT_FROM_USER
/*
 * Every hvkit ioctl takes an extensible struct (include/uapi/linux/hvkit.h)
 * fetched with copy_struct_from_user() (5.4+). hvkit supports 5.15 and
 * later, so a kernel without it is out of range: say so plainly instead of
 * failing somewhere inside a module.
 */
#error "hvkit needs copy_struct_from_user() (Linux 5.4+; hvkit supports 5.15+)"
#endif

#ifndef HAVE_VM_FLAGS_SET
/* 6.3 made vma->vm_flags read-only behind vm_flags_set(). */
#define vm_flags_set(vma, flags) ((vma)->vm_flags |= (flags))
#define vm_flags_clear(vma, flags) ((vma)->vm_flags &= ~(flags))
#endif

#ifdef HAVE_HUGE_FAULT_PE_SIZE
#define hvkit_huge_fault_size_t enum page_entry_size
#define HVKIT_HUGE_FAULT_PMD PE_SIZE_PMD
#else
/* 6.6 gave ->huge_fault the page order instead of enum page_entry_size. */
#define hvkit_huge_fault_size_t unsigned int
#define HVKIT_HUGE_FAULT_PMD PMD_ORDER
#endif

#ifndef HAVE_CT_IDLE_ENTER
/*
 * 6.0 renamed rcu_idle_enter()/rcu_idle_exit() (GPL-exported since
 * 5.9's CPUIDLE_FLAG_RCU_IDLE) to ct_idle_enter()/ct_idle_exit().
 */
#define ct_idle_enter() rcu_idle_enter()
#define ct_idle_exit() rcu_idle_exit()
#endif

/*
 * Before 5.19 (and early 5.15.y) lockdep_hardirqs_on_prepare() took the
 * caller's address. A wrapper, not a macro of the same name: this file
 * comes before the kernel's declaration of it.
 */
#ifdef HAVE_LOCKDEP_HARDIRQS_ON_PREPARE_VOID
#define hvkit_lockdep_hardirqs_on_prepare() lockdep_hardirqs_on_prepare()
#else
#define hvkit_lockdep_hardirqs_on_prepare() lockdep_hardirqs_on_prepare(_THIS_IP_)
#endif

#endif /* _HVKIT_COMPAT_H */
