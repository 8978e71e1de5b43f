#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# rescan: the kernel fact topology_rescan() keys its reuse on. A sysfs
# entry keeps its inode number while the kernel object lives, and a device
# removed and found again (remove, then a bus rescan) comes back under new
# entries with new numbers, in bus/pci/devices, its unit's devices/ and
# its group, even where the address and the group id are the same again.
# Untouched devices and groups keep theirs. The second e1000e is removed
# (nothing in the guest uses it).
set -eu
. /vm/lib.sh

ino() { stat -c %i "$1"; }

dev=
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat "$d/class")" = 0x020000 ]; then dev=$(basename "$d"); fi
done
[ -n "$dev" ] || fail "no e1000e"
nvme=$(nvme_bdf)
unit=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu")")
grp=$(group_of "$dev")
nvme_grp=$(group_of "$nvme")
say "platform $VM_PLATFORM, kernel $(uname -r): $dev in group $grp behind $unit; nvme $nvme in group $nvme_grp"

bus_before=$(ino "/sys/bus/pci/devices/$dev")
unit_before=$(ino "/sys/class/iommu/$unit/devices/$dev")
grp_before=$(ino "/sys/kernel/iommu_groups/$grp")
nvme_before=$(ino "/sys/bus/pci/devices/$nvme")
nvme_grp_before=$(ino "/sys/kernel/iommu_groups/$nvme_grp")
unit_dir_before=$(ino "/sys/class/iommu/$unit")

sysfs-write "/sys/bus/pci/devices/$dev/remove" 1
check "$dev is gone after remove" test ! -e "/sys/bus/pci/devices/$dev"
sysfs-write /sys/bus/pci/rescan 1
check "$dev is back after a bus rescan" wait_for "/sys/bus/pci/devices/$dev"
grp_after=$(group_of "$dev")

bus_after=$(ino "/sys/bus/pci/devices/$dev")
unit_after=$(ino "/sys/class/iommu/$unit/devices/$dev")
grp_dir_after=$(ino "/sys/kernel/iommu_groups/$grp_after")
echo "measured bus/pci/devices/$dev inode $bus_before -> $bus_after; class/iommu/$unit/devices/$dev $unit_before -> $unit_after; group $grp (inode $grp_before) -> group $grp_after (inode $grp_dir_after)"
check "the device found again has a new bus entry" [ "$bus_after" != "$bus_before" ]
check "and a new entry in its unit's devices/" [ "$unit_after" != "$unit_before" ]
check "its group is a new object (group $grp_after)" [ "$grp_dir_after" != "$grp_before" ]
check "the nvme's bus entry kept its inode" [ "$(ino "/sys/bus/pci/devices/$nvme")" = "$nvme_before" ]
check "the nvme's group kept its inode" [ "$(ino "/sys/kernel/iommu_groups/$nvme_grp")" = "$nvme_grp_before" ]
check "the unit kept its inode" [ "$(ino "/sys/class/iommu/$unit")" = "$unit_dir_before" ]
finish
