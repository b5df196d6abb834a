// SPDX-License-Identifier: GPL-2.0
/* HVKIT_PROBE HAVE_LOCKDEP_HARDIRQS_ON_PREPARE_VOID: no ip argument (5.19+; 5.15.y backport) */
#include <linux/irqflags.h>

void hvkit_probe(void);
void hvkit_probe(void)
{
	lockdep_hardirqs_on_prepare();
}
