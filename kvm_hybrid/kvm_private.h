/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kvm_hybrid uses of kvm.ko that 6.1 declares only in KVM's private
 * headers (arch/x86/kvm/x86.h, pmu.h); both are EXPORT_SYMBOL_GPL.
 */
#ifndef _KVM_HYBRID_KVM_PRIVATE_H
#define _KVM_HYBRID_KVM_PRIVATE_H

#include <linux/types.h>
#include <asm/perf_event.h>

extern bool enable_pmu;
extern struct x86_pmu_capability kvm_pmu_cap;

#endif /* _KVM_HYBRID_KVM_PRIVATE_H */
