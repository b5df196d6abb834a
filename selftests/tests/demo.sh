#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What "make demo" shows: the modules as the kernel sees them.
echo "\$ uname -r"; uname -r
echo "\$ lsmod | grep hvkit modules"
lsmod | grep -E '^(kram|kvm_hybrid|guest_pvtimer|guest_idlepoll|vfio_preserve) '
echo "\$ hvkitctl status"
hvkitctl status
