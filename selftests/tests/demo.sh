#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What "make demo" shows: the modules as the kernel sees them, and kram
# keeping an area's bytes across a module reload, guest_idlepoll polling
# through a ping-pong load, vfio_preserve keeping a virtio device's state
# over a VFIO close/open that vfio-pci resets, kvm_hybrid giving a small
# KVM VM per-vCPU core types and hiding a feature bit online.
run() { echo "\$ $*"; "$@"; }
run uname -r
echo "\$ lsmod | grep hvkit modules"
lsmod | grep -E '^(kram|kvm_hybrid|guest_pvtimer|guest_idlepoll|vfio_preserve) '
run hvkitctl status
echo
run grep -o 'memmap=[^ ]*' /proc/cmdline
run cat /etc/modprobe.d/hvkit.conf
run hvkitctl kram status
run hvkitctl kram create demo 16p --version demo/1
sleep 0.5
echo "\$ echo 'hello from generation N' > /dev/kram_areas/demo"
echo "hello from generation $(cat /sys/class/misc/kram/generation)" >/dev/kram_areas/demo
run hvkitctl kram alloc --tag 0x80000001 --count 3
run modprobe -r vfio_preserve kram     # vfio_preserve keeps its records in kram
run modprobe kram
run modprobe vfio_preserve
run hvkitctl kram areas
sleep 0.5
echo "\$ head -n1 /dev/kram_areas/demo"
head -n1 /dev/kram_areas/demo
run hvkitctl kram walk --tag 0x80000001
run cat /sys/class/misc/kram/generation
run hvkitctl kram free --tag 0x80000001 --all
run hvkitctl kram delete demo
echo
run cat /sys/devices/system/cpu/cpuidle/current_driver
echo "\$ pingpong -n 500 -t 0   # a message-passing load across the 2 vCPUs"
pingpong -n 500 -t 0 | grep rtt_median
run hvkitctl idlepoll status
echo
dev=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1044 ] && dev=$(basename "$d")
done
if [ -n "$dev" ]; then
	run hvkitctl vfio bind "$dev"
	echo "\$ vfio_dev write $dev; vfio_dev read $dev   # virtio state through VFIO, then close/open"
	vfio_dev write "$dev" | grep status=
	vfio_dev read "$dev" | grep status=
	run hvkitctl vfio preserve "$dev"
	echo "\$ vfio_dev write $dev; vfio_dev read $dev"
	vfio_dev write "$dev" | grep status=
	vfio_dev read "$dev" | grep status=
	run hvkitctl vfio list
	run hvkitctl vfio preserve "$dev" off
	run hvkitctl vfio unbind "$dev"
fi
echo
if [ -c /dev/kvm ]; then
	echo "\$ hybrid_demo   # a KVM VM in this VM, bound to a P+E profile, one bit cleared online"
	hybrid_demo
fi
