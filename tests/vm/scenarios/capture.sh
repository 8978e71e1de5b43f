#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# capture: copies the subset of /sys and /proc that iommutuned reads into a
# fixture tree with the real layout (real directories under sys/devices,
# symlinks verbatim as readlink shows them, regular files as their contents)
# and prints it as a base64 gzip tar between @@CAPTURE-BEGIN and
# @@CAPTURE-END; tests/vm/unpack-capture turns it back into a tree.
set -eu
. /vm/lib.sh

CAP=/tmp/capture
rm -rf "$CAP"
mkdir -p "$CAP/sys" "$CAP/proc/sys/kernel"

# copy_file /sys/...: a regular file's contents at the same path.
copy_file() {
	[ -f "$1" ] || return 0
	mkdir -p "$CAP$(dirname "$1")"
	cat "$1" > "$CAP$1" 2>/dev/null || rm -f "$CAP$1"
}
# copy_link /sys/...: a symlink, its target verbatim.
copy_link() {
	[ -L "$1" ] || return 0
	mkdir -p "$CAP$(dirname "$1")"
	ln -sfn "$(readlink "$1")" "$CAP$1"
}
# real DIR: the directory behind a sysfs link, as an absolute /sys path.
real() { readlink -f "$1"; }

# --- IOMMU units -------------------------------------------------------------
for u in /sys/class/iommu/*; do
	[ -e "$u" ] || continue
	copy_link "$u"
	r=$(real "$u")
	mkdir -p "$CAP$r/devices"
	for f in "$r"/intel-iommu/cap "$r"/intel-iommu/ecap "$r"/intel-iommu/version \
		 "$r"/intel-iommu/address "$r"/intel-iommu/domains_supported \
		 "$r"/intel-iommu/domains_used "$r"/amd-iommu/*; do
		copy_file "$f"
	done
	for d in "$r"/devices/*; do copy_link "$d"; done
done

# --- groups ------------------------------------------------------------------
for g in /sys/kernel/iommu_groups/*; do
	[ -d "$g" ] || continue
	copy_file "$g/type"
	copy_file "$g/reserved_regions"
	mkdir -p "$CAP$g/devices"
	for d in "$g"/devices/*; do copy_link "$d"; done
done

# --- PCI devices -------------------------------------------------------------
DRIVERS=
for l in /sys/bus/pci/devices/*; do
	copy_link "$l"
	d=$(real "$l")
	for f in vendor device class subsystem_vendor subsystem_device numa_node \
		 untrusted removable; do
		copy_file "$d/$f"
	done
	for f in iommu_group driver iommu; do copy_link "$d/$f"; done
	if [ -d "$d/msi_irqs" ]; then
		mkdir -p "$CAP$d/msi_irqs"
		for f in "$d"/msi_irqs/*; do copy_file "$f"; done
	fi
	[ -L "$d/driver" ] && DRIVERS="$DRIVERS $(basename "$(readlink "$d/driver")")"
done

# Block and net devices: names plus a few attributes, under their device.
# on_pci PATH: PATH lies below a PCI host bridge (pci0000:00 sits under
# /sys/devices on x86, under /sys/devices/platform/*.pcie on arm64 virt).
on_pci() { case $1 in */pci[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]/*) return 0 ;; esac; return 1; }
for b in /sys/block/*; do
	copy_link "$b"
	r=$(real "$b")
	on_pci "$r" || continue
	for f in dev size stat; do copy_file "$r/$f"; done
done
for n in /sys/class/net/*; do
	r=$(real "$n")
	on_pci "$r" || continue
	copy_link "$n"
	for f in ifindex address; do copy_file "$r/$f"; done
done

# Bound drivers: bind/unbind as empty files and the device links.
for drv in $(echo "$DRIVERS" | tr ' ' '\n' | sort -u); do
	dd=/sys/bus/pci/drivers/$drv
	mkdir -p "$CAP$dd"
	: > "$CAP$dd/bind"
	: > "$CAP$dd/unbind"
	for l in "$dd"/0000:*; do copy_link "$l"; done
done

# --- tracepoints, debugfs, proc --------------------------------------------------
for sys in iommu intel_iommu; do
	for e in /sys/kernel/tracing/events/$sys/*/; do
		[ -f "$e/id" ] || continue
		copy_file "${e%/}/id"
		copy_file "${e%/}/format"
	done
done
# A mounted debugfs is a non-empty directory. git keeps no empty
# directories, so one placeholder file stands for its contents.
if grep -q ' /sys/kernel/debug debugfs ' /proc/mounts; then
	mkdir -p "$CAP/sys/kernel/debug"
	: > "$CAP/sys/kernel/debug/.keep"
fi
cat /proc/cmdline > "$CAP/proc/cmdline"
cat /proc/sys/kernel/osrelease > "$CAP/proc/sys/kernel/osrelease"
cat /proc/interrupts > "$CAP/proc/interrupts"

# --- sanity checks and shipping -------------------------------------------------
n_units=$(ls /sys/class/iommu | wc -l)
n_groups=$(ls /sys/kernel/iommu_groups | wc -l)
check "captured $n_units IOMMU unit link(s)" [ "$(ls "$CAP/sys/class/iommu" | wc -l)" = "$n_units" ]
check "captured $n_groups group(s) with a type" [ "$(ls "$CAP"/sys/kernel/iommu_groups/*/type | wc -l)" = "$n_groups" ]
B=$(nvme_bdf)
check "nvme's iommu_group link kept verbatim" \
	[ "$(readlink "$CAP/sys/bus/pci/devices/$B/iommu_group")" = "$(readlink "/sys/bus/pci/devices/$B/iommu_group")" ]
for b in /sys/block/nvme0n1 /sys/block/vda; do
	check "$(basename "$b") captured under its PCI device" [ -f "$CAP$(real "$b")/dev" ]
done
for n in /sys/class/net/eth*; do
	check "$(basename "$n") captured under its PCI device" [ -f "$CAP$(real "$n")/ifindex" ]
done
(cd "$CAP" && find . | sort) > /tmp/capture.list
say "capture: $(wc -l < /tmp/capture.list) entries"
tar -C "$CAP" -czf /tmp/capture.tgz sys proc
echo "@@CAPTURE-BEGIN platform=$VM_PLATFORM bytes=$(wc -c < /tmp/capture.tgz) sha256=$(sha256sum /tmp/capture.tgz | cut -d' ' -f1)"
base64 < /tmp/capture.tgz
echo "@@CAPTURE-END"
finish
