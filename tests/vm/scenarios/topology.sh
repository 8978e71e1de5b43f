#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# topology: `iommutuned --dump-topology --json` agrees with what this script
# reads from sysfs itself: units and their devices (and VT-d caching mode),
# group ids, types and members, and per device its driver, group, unit,
# class and untrusted flag. Both sides become the same plain lines (the
# daemon's through topo-json) and are compared with diff.
set -eu
. /vm/lib.sh

command -v iommutuned >/dev/null ||
	fail "iommutuned is not in the initramfs (build BUILD/daemon/iommutuned first)"

# compare LABEL: one dump of the daemon against sysfs, right now.
compare() {
	# --- the daemon's view ----------------------------------------------------------
	rc=0
	iommutuned --dump-topology --json > /tmp/topo.json 2> /tmp/topo.err || rc=$?
	if [ -s /tmp/topo.err ]; then echo "iommutuned stderr:"; cat /tmp/topo.err; fi
	[ "$rc" = 0 ] || fail "iommutuned --dump-topology --json exited $rc"
	topo-json < /tmp/topo.json > /tmp/daemon.raw ||
		fail "topo-json could not read the daemon's JSON"
	sort /tmp/daemon.raw > /tmp/daemon.txt
	rc=0
	iommutuned --dump-topology > /tmp/topo.txt 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "iommutuned --dump-topology (table) exited $rc"

	# --- the same from sysfs ---------------------------------------------------------
	name_of_link() { basename "$(readlink "$1")"; }
	{
		for u in /sys/class/iommu/*; do
			[ -e "$u" ] || continue
			un=$(basename "$u")
			echo "unit $un"
			for d in "$u"/devices/*; do
				[ -e "$d" ] || [ -L "$d" ] || continue
				echo "unit $un device $(basename "$d")"
			done
			if [ -f "$u/intel-iommu/cap" ]; then
				cap=$(cat "$u/intel-iommu/cap")
				echo "unit $un caching_mode $(( (0x$cap >> 7) & 1 ))"
			fi
		done
		for g in /sys/kernel/iommu_groups/*; do
			[ -d "$g" ] || continue
			id=$(basename "$g")
			echo "group $id type $(cat "$g/type")"
			for d in "$g"/devices/*; do
				echo "group $id device $(basename "$d")"
			done
		done
		# Every device in some group or under some unit, as the daemon lists them.
		for d in /sys/kernel/iommu_groups/*/devices/* /sys/class/iommu/*/devices/*; do
			[ -e "$d" ] && basename "$d"
		done | sort -u | while read -r dev; do
			dir=
			for c in /sys/bus/pci/devices/$dev /sys/kernel/iommu_groups/*/devices/$dev \
				 /sys/class/iommu/*/devices/$dev; do
				[ -e "$c" ] && { dir=$(readlink -f "$c"); break; }
			done
			drv=-; grp=-; unit=-; class=-; untrusted=-
			[ -L "$dir/driver" ] && drv=$(name_of_link "$dir/driver")
			[ -L "$dir/iommu_group" ] && grp=$(name_of_link "$dir/iommu_group")
			[ -L "$dir/iommu" ] && unit=$(name_of_link "$dir/iommu")
			[ -f "$dir/class" ] && class=$(printf '0x%06x' "$(cat "$dir/class")")
			[ -f "$dir/untrusted" ] && untrusted=$(cat "$dir/untrusted")
			echo "device $dev driver $drv group $grp unit $unit class $class untrusted $untrusted"
		done
		echo "kernel release $(uname -r)"
	} | sort > /tmp/sysfs.txt

	[ "$1" = first ] && { say "daemon table:"; cat /tmp/topo.txt; }
	if diff -u /tmp/sysfs.txt /tmp/daemon.txt > /tmp/topo.diff; then
		echo "ok: --dump-topology --json matches sysfs ($1 dump, $(wc -l < /tmp/sysfs.txt) facts)"
	else
		echo "--- sysfs (this script)   +++ iommutuned --dump-topology --json"
		cat /tmp/topo.diff
		fail "iommutuned's topology differs from sysfs ($1 dump)"
	fi
}

compare first

# The daemon reads the live state: change the nvme group's type and compare
# again (DMA-FQ -> DMA needs the driver unbound; DMA -> DMA-FQ works live).
B=$(nvme_bdf); G=$(group_of "$B")
if [ "$(group_type "$G")" = DMA-FQ ]; then
	unbind "$B" nvme || fail "unbind $B"
	set_type "$G" DMA || fail "write DMA to group $G"
	bind "$B" nvme || fail "bind $B"
	wait_for /sys/block/nvme0n1 || fail "nvme0n1 did not come back"
else
	set_type "$G" DMA-FQ || fail "live write DMA-FQ to group $G"
fi
say "group $G is now $(group_type "$G")"
compare after-type-change

# The table names every group and its type too.
for g in /sys/kernel/iommu_groups/*; do
	id=$(basename "$g"); t=$(cat "$g/type")
	check "table shows group $id as $t" grep -Eq "^ *$id +$t( |\$)" /tmp/topo.txt
done
finish
