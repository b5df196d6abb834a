// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit test of "hvkitctl hybrid pmu-filter"'s argument parsing
 * (pmu_filter_parse): read, clear and set, events and the fixed-counter
 * mask, and every refusal (no ID, a bad action, a bad or negative number,
 * "fixed" without its mask, more than HYBRID_FILTER_MAX_EVENTS events).
 * It includes hybrid.c for its static functions; no kvm_hybrid or VM is
 * needed. Prints TAP; exits 1 on a failure.
 */
#include "../hybrid.c"
#include "tap.h"

/* pmu_filter_parse() of "pmu-filter" and @args (NULL-terminated) into @f. */
static int t_parse(const char *const *args, struct hybrid_pmu_filter *f)
{
	char *argv[HYBRID_FILTER_MAX_EVENTS + 16];
	int argc = 0;

	memset(f, 0, sizeof(*f));
	argv[argc++] = "pmu-filter";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return pmu_filter_parse(argc, argv, f);
}

/* Each refused: @args gives @want (1 usage, 2 too many events). */
static void t_refused(const char *what, int want, const char *const *args)
{
	struct hybrid_pmu_filter f;

	t_ok(t_parse(args, &f) == want, "refused: %s", what);
}

int main(void)
{
	struct hybrid_pmu_filter f;
	const char *many[HYBRID_FILTER_MAX_EVENTS + 4];
	int i, r;

	r = t_parse((const char *const[]){ "7", NULL }, &f);
	t_ok(!r && f.id == 7 && !f.flags && !f.nevents, "ID alone: a read (flags 0)");
	r = t_parse((const char *const[]){ "7", "clear", NULL }, &f);
	t_ok(!r && f.id == 7 && f.flags == HYBRID_FILTER_CLEAR && !f.nevents, "clear");
	r = t_parse((const char *const[]){ "3", "allow", "0xc0", "0x2e", "fixed", "0x3", NULL },
		    &f);
	t_ok(!r && f.id == 3 && f.flags == HYBRID_FILTER_SET && f.action == HYBRID_FILTER_ALLOW &&
	     f.nevents == 2 && f.events[0] == 0xc0 && f.events[1] == 0x2e &&
	     f.fixed_counter_bitmap == 3, "allow 0xc0 0x2e fixed 0x3");
	r = t_parse((const char *const[]){ "3", "deny", "fixed", "1", "0x412e", NULL }, &f);
	t_ok(!r && f.action == HYBRID_FILTER_DENY && f.nevents == 1 && f.events[0] == 0x412e &&
	     f.fixed_counter_bitmap == 1, "deny, the fixed mask before an event");
	r = t_parse((const char *const[]){ "3", "deny", NULL }, &f);
	t_ok(!r && f.flags == HYBRID_FILTER_SET && f.action == HYBRID_FILTER_DENY && !f.nevents,
	     "deny with no event (an empty deny list: everything allowed)");

	t_refused("no ID", 1, (const char *const[]){ NULL });
	t_refused("an ID that is not a number", 1, (const char *const[]){ "vm0", NULL });
	t_refused("a negative ID", 1, (const char *const[]){ "-1", NULL });
	t_refused("an ID above 32 bits", 1, (const char *const[]){ "0x100000000", NULL });
	t_refused("an unknown action", 1, (const char *const[]){ "3", "block", "0xc0", NULL });
	t_refused("clear with more words", 1,
		  (const char *const[]){ "3", "clear", "0xc0", NULL });
	t_refused("an event that is not a number", 1,
		  (const char *const[]){ "3", "allow", "cycles", NULL });
	t_refused("a negative event (strtoull would take -1 as all ones)", 1,
		  (const char *const[]){ "3", "allow", "-1", NULL });
	t_refused("\"fixed\" as the last word, without its mask", 1,
		  (const char *const[]){ "3", "allow", "0xc0", "fixed", NULL });
	t_refused("a fixed mask above 32 bits", 1,
		  (const char *const[]){ "3", "allow", "fixed", "0x100000000", NULL });

	many[0] = "3";
	many[1] = "allow";
	for (i = 0; i < HYBRID_FILTER_MAX_EVENTS; i++)
		many[2 + i] = "0xc0";
	many[2 + i] = NULL;
	r = t_parse(many, &f);
	t_ok(!r && f.nevents == HYBRID_FILTER_MAX_EVENTS, "%u events: taken",
	     HYBRID_FILTER_MAX_EVENTS);
	many[2 + i] = "0xc0";
	many[3 + i] = NULL;
	t_refused("one event more than HYBRID_FILTER_MAX_EVENTS", 2, many);

	return t_done();
}
