#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# kram's attach-time warnings (group kram-warn): more than four memmap=
# ranges (physical KASLR avoids only four) and legacy kexec_load.
# shellcheck source=selftests/tests/kram_lib.sh
. /hvkit/tests/kram_lib
echo "TAP version 13"
kram_need_region
n=$(tr ' ' '\n' </proc/cmdline | grep -c '^memmap=')
echo "# $n memmap= options on the command line"
check "warned: $n memmap= ranges defeat KASLR" sh -c \
	"dmesg | grep -q 'kram: $n memmap= ranges on the command line: physical KASLR avoids only 4'"
check "warned: legacy kexec_load may overwrite the region" sh -c \
	"dmesg | grep -q 'kram: legacy kexec_load .* use kexec -s'"
dmesg | grep 'kram:.*\(KASLR\|kexec_load\)' | sed 's/^/# /'
exit $rc
