#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kram's trace events (tracefs events/kram/): an area created and deleted,
# a refused delete, pool pages allocated and freed, each
# with its fields. Then disabled: nothing more is recorded. Reloaded with
# trace_init=1: the attach is traced (kram_refuse.sh traces a refusal).
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
# shellcheck source=selftests/tests/trace_lib.sh
. /hvkit/tests/trace_lib
echo "TAP version 13"
kram_need_region
EV="kram/kram_alloc kram/kram_free kram/kram_area_create kram/kram_area_delete"
check "tracefs mounted, kram's events listed" sh -c \
	". /hvkit/tests/trace_lib; trace_mount && [ -d $TR/events/kram/kram_alloc ]"
check "enable kram_alloc, kram_free, kram_area_create, kram_area_delete" trace_on $EV
tag=0x80000077
hvkitctl kram create trc 4p --version trc/1 >/dev/null
hvkitctl kram delete trc >/dev/null
hvkitctl kram delete no-such-area >/dev/null 2>&1
hvkitctl kram alloc --tag $tag --count 2 >/dev/null
hvkitctl kram free --tag 0x80000078 --all >/dev/null 2>&1
hvkitctl kram free --tag $tag --all >/dev/null
trace_show kram
check "kram_area_create: name=trc nr_pages=4 ret=0" \
	trace_has kram_area_create 'name=trc first_page=[0-9]+ nr_pages=4 flags=0x[0-9a-f]+ ret=0'
check "kram_area_delete: name=trc user=1 ret=0" trace_has kram_area_delete 'name=trc user=1 ret=0'
check "kram_area_delete refused: name=no-such-area ret=-2 (ENOENT)" \
	trace_has kram_area_delete 'name=no-such-area user=1 ret=-2'
check "kram_alloc: two pages of tag $tag, ret=0" \
	sh -c "[ \$(grep -cE ' kram_alloc: index=[0-9]+ tag=$tag ret=0' $TR/trace) = 2 ]"
check "kram_free: the same two pages, ret=0" \
	sh -c "[ \$(grep -cE ' kram_free: index=[0-9]+ tag=$tag ret=0' $TR/trace) = 2 ]"
trace_off $EV
: >$TR/trace
hvkitctl kram alloc --tag $tag --count 1 >/dev/null
hvkitctl kram free --tag $tag --all >/dev/null
check "disabled: nothing recorded" sh -c "! grep -q ' kram_' $TR/trace"

# kram's attach happens in its init, before anyone could enable its
# events: trace_init=1 has kram enable them itself, first. Without it
# they stay off.
read -r base size <$KRAM_SYS/region
check "modprobe -r kram" modprobe -r kram
: >$TR/trace
check "modprobe kram trace_init=1 (the group's region)" modprobe kram trace_init=1
trace_show kram_attach
check "trace_init=1 enabled kram_attach and kram_refuse, not kram_alloc" \
	[ "$(cat $TR/events/kram/kram_attach/enable)$(cat $TR/events/kram/kram_refuse/enable)$(cat $TR/events/kram/kram_alloc/enable)" = 110 ]
check "kram_attach: base=$base size=$size, the generation, pages and areas, formatted=0" \
	trace_has kram_attach "base=$base size=$size generation=[1-9][0-9]* data_pages=[1-9][0-9]* free_pages=[0-9]+ areas=[0-9]+ metadata_us=[0-9]+ formatted=0"
check "no kram_refuse event" sh -c "! grep -q ' kram_refuse:' $TR/trace"
echo 0 >$TR/events/kram/enable
check "modprobe -r kram" modprobe -r kram
: >$TR/trace
check "modprobe kram (no trace_init)" modprobe kram
check "without trace_init kram's events stay off, nothing recorded" \
	sh -c "[ \"\$(cat $TR/events/kram/enable)\" = 0 ] && ! grep -q ' kram_' $TR/trace"
exit $rc
