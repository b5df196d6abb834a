// SPDX-License-Identifier: GPL-2.0
/* HVKIT_PROBE HAVE_VM_FLAGS_SET: vm_flags_set() (6.3+; vm_flags is const) */
#include <linux/mm.h>

void hvkit_probe(struct vm_area_struct *vma);
void hvkit_probe(struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_DONTEXPAND);
}
