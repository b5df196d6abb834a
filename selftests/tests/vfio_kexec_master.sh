#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# vfio_kexec with kexec_keep_master=1 (listed as "kexec:vfio_kexec_master"):
# bus master stays on through the kexec, so nothing of the virtio state is
# lost. Only safe for a device that does no DMA while the IOMMU is off
# (Documentation/vfio_preserve.rst).
KEEP_MASTER=1
# shellcheck source=selftests/tests/vfio_kexec.sh
. /hvkit/tests/vfio_kexec
