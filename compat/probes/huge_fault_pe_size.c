// SPDX-License-Identifier: GPL-2.0
/* HVKIT_PROBE HAVE_HUGE_FAULT_PE_SIZE: ->huge_fault takes an enum page_entry_size (before 6.6) */
#include <linux/mm.h>

static vm_fault_t hvkit_probe_fault(struct vm_fault *vmf, enum page_entry_size size)
{
	return size == PE_SIZE_PMD ? VM_FAULT_FALLBACK : VM_FAULT_SIGBUS;
}

const struct vm_operations_struct hvkit_probe_ops = {
	.huge_fault = hvkit_probe_fault,
};
