// SPDX-License-Identifier: GPL-2.0
/* HVKIT_PROBE HAVE_CT_IDLE_ENTER: ct_idle_enter() (6.0+; rcu_idle_enter() before) */
#include <linux/context_tracking.h>

void hvkit_probe(void);
void hvkit_probe(void)
{
	ct_idle_enter();
	ct_idle_exit();
}
