#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# smoke: the guest came up with its IOMMU, disks and NICs.
set -eu
. /vm/lib.sh
say "platform $VM_PLATFORM, kernel $(uname -r)"
ls /sys/class/iommu /sys/kernel/iommu_groups
for d in /sys/bus/pci/devices/*; do
	b=$(basename "$d")
	echo "$b class $(cat "$d/class") driver $(driver_of "$b") group $(group_of "$b" 2>/dev/null || echo -)"
done
ls /sys/block /sys/class/net
check "nvme0n1 present" test -e /sys/block/nvme0n1
check "vda present" test -e /sys/block/vda
grep -i huge /proc/meminfo
cat /sys/block/nvme0n1/queue/max_sectors_kb /sys/block/nvme0n1/queue/max_hw_sectors_kb
finish
