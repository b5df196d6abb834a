/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TAP for hvkitctl's host-side unit tests: t_ok() prints one result,
 * t_done() the plan and the exit status. Included after the .c under
 * test (which brings hvkitctl.h's __printf).
 */
#ifndef HVKITCTL_TESTS_TAP_H
#define HVKITCTL_TESTS_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int t_nr, t_bad;

static void __printf(2, 3) t_ok(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++t_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	t_bad += !ok;
}

/* The plan line; 1 if a result failed, else 0 (main()'s return). */
static int t_done(void)
{
	printf("1..%d\n", t_nr);
	return t_bad ? 1 : 0;
}

#endif
