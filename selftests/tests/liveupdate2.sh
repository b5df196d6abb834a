#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live update, second round (group live-update; listed as
# "kexec:liveupdate2", after "kexec:liveupdate"): L2, restored after L1's
# first kexec and saved again at its second mark (liveupdate stage2), goes
# through L1's second kexec and is restored once more (liveupdate).
exec /hvkit/tests/liveupdate "round2-$1"
