#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kernel-facts: iommutuned's topology dump matches sysfs (before and after a
# type change), the platform's tree is captured as a fixture, and the kernel
# behaviour iommutuned relies on (KERNEL-NOTES.md) holds on this platform. Counts come from tracefs (trace-count); every
# expected figure is derived from the counting model, never a fixed number:
#   VT-d strict:   page-selective IOTLB invalidations = sum(k + 1) over unmaps
#                  (+ one per DMA map with caching mode)
#   VT-d lazy:     0 per unmap with the "avoid superfluous IOTLB tracking" fix,
#                  sum(k + (k > 0)) without it; flush-queue flushes are
#                  domain-selective, at most one per 10 ms timer tick or per
#                  255 queued unmaps per CPU
#   AMD, SMMUv3:   no flush tracepoints; map/unmap counts and types only
#   DMA paths (6.17+): a request of several segments (dma-load -S) goes
#                  through the IOVA-based DMA API (dma_iova_link/_destroy):
#                  one page-selective invalidation per unmap in DMA and in
#                  DMA-FQ alike; a one-segment request (4 KiB) through
#                  dma_map_phys and the flush queue: none per unmap lazy.
#                  Before 6.17 both go through the flush queue. Caching
#                  mode adds one per map call (per request) in both modes.
set -eu
. /vm/lib.sh

OPS=1000         # 64 KiB reads per measurement
BIG_OPS=50       # 3 MiB reads per measurement
DEV=/dev/nvme0n1
BDF=$(nvme_bdf)
G=$(group_of "$BDF")
NCPU=$(nproc)
EVENTS="iommu:map iommu:unmap"
TC_ARGS=
if is_vtd; then
	EVENTS="$EVENTS intel_iommu:qi_submit"
	TC_ARGS="--pgsizes $(vtd_pgsizes)"
	CM=$(vtd_caching_mode)
	say "VT-d cap $(cat /sys/class/iommu/dmar0/intel-iommu/cap) caching_mode=$CM pgsizes=$(vtd_pgsizes)"
fi
say "nvme $BDF in group $G ($(ls /sys/kernel/iommu_groups/$G/devices | wc -l) device(s)), type $(group_type "$G"), kernel $(uname -r)"

# measure NAME DMA-LOAD-ARGS...: trace one dma-load run into /tmp/NAME.kv.
measure() {
	name=$1; shift
	trace_start $EVENTS
	dma-load -d "$DEV" "$@" > "/tmp/$name.load" || fail "dma-load $* failed"
	# shellcheck disable=SC2086
	trace_stop "/tmp/$name.kv" $TC_ARGS
	echo "measured $name: $(cat "/tmp/$name.load" | sed 's/^dma-load: //') window_cs=$TRACE_WINDOW_CS"
	echo "measured $name: $(tr '\n' ' ' < "/tmp/$name.kv")"
}

# Runs of the workload must actually have mapped and unmapped per read.
check_io_counts() {
	check "$1: >= $2 unmaps traced (one per O_DIRECT read)" [ "$(kv "/tmp/$1.kv" unmap)" -ge "$2" ]
	check "$1: >= $2 maps traced" [ "$(kv "/tmp/$1.kv" map)" -ge "$2" ]
}

BOUND_ERRNO=$(bound_write_errno)
is_bound_refusal() { [ "$1" = 1 ] && case $2 in "errno=$BOUND_ERRNO"*) true ;; *) false ;; esac; }

rebind_with_type() {
	unbind "$BDF" nvme > /tmp/err || fail "unbind $BDF from nvme: $(cat /tmp/err)"
	out=$(set_type "$G" "$1") || { bind "$BDF" nvme; fail "write $1 to unbound group $G: $out"; }
	bind "$BDF" nvme > /tmp/err || fail "rebind $BDF to nvme: $(cat /tmp/err)"
	wait_for /sys/block/nvme0n1 100 || fail "nvme0n1 did not come back after rebinding"
	hw=$(cat /sys/block/nvme0n1/queue/max_hw_sectors_kb)
	[ "$hw" -gt 4096 ] && hw=4096
	echo "$hw" > /sys/block/nvme0n1/queue/max_sectors_kb
}

# --- 0. the daemon's topology against sysfs; the fixture capture --------------
check_topology first
capture_tree

# --- 1. default type --------------------------------------------------------
case $VM_MACHINE in
vtd|vtd-debugfs|vtd-unpatched|vtd-6.12) DEFAULT=DMA-FQ ;; # x86 Kconfig default: lazy
vtd-cm) DEFAULT=DMA ;;  # caching mode: "IOMMU batching disallowed"
amd) DEFAULT=DMA ;;     # NpCache under QEMU: "Using strict mode due to virtualization"
smmuv3) DEFAULT=DMA ;;  # arm64 Kconfig default: strict
esac
TYPE0=$(group_type "$G")
check "default type of the nvme group is $DEFAULT (read $TYPE0)" [ "$TYPE0" = "$DEFAULT" ]

# --- 2. DMA-FQ -> DMA refused while bound ------------------------------------
if [ "$TYPE0" = DMA-FQ ]; then
	out=$(set_type "$G" DMA) && rc=0 || rc=$?
	echo "measured bound DMA-FQ->DMA write: rc=$rc $out"
	check "DMA-FQ -> DMA with nvme bound is refused with $BOUND_ERRNO (kernel $(uname -r))" is_bound_refusal "$rc" "$out"
	check "type still DMA-FQ after the refused write" [ "$(group_type "$G")" = DMA-FQ ]
	dmesg | grep -q "Device is still bound to driver" &&
		echo "ok: dmesg says 'Device is still bound to driver'" ||
		echo "note: dmesg has no 'Device is still bound to driver'"
fi

# --- 3. unbind, write DMA, rebind --------------------------------------------
rebind_with_type DMA
check "after unbind/write DMA/rebind the type is DMA" [ "$(group_type "$G")" = DMA ]
check "nvme is bound again" [ "$(driver_of "$BDF")" = nvme ]

# --- 4. strict: 64 KiB reads -------------------------------------------------
measure strict64k -b 64K -n "$OPS"
check_io_counts strict64k "$OPS"
if is_vtd; then
	u=$(kv /tmp/strict64k.kv unmap); k=$(kv /tmp/strict64k.kv unmap_k)
	p=$(kv /tmp/strict64k.kv iotlb_page); m=$(kv /tmp/strict64k.kv map)
	if [ "$CM" = 0 ]; then
		check "strict: page-selective invalidations ($p) = unmaps + k ($u + $k)" [ "$p" -eq $((u + k)) ]
	else
		# Caching mode: each dma_map also flushes (one sync per mapping
		# call, at most one per map event).
		check "strict, caching mode: page-selective ($p) >= 2 x unmaps ($u) + k ($k)" [ "$p" -ge $((2 * u + k)) ]
		check "strict, caching mode: page-selective ($p) <= unmaps + k + maps ($u + $k + $m)" [ "$p" -le $((u + k + m)) ]
	fi
	check "strict: no domain-selective invalidations" [ "$(kv /tmp/strict64k.kv iotlb_domain)" -eq 0 ]
fi

# --- 4b. strict: 64 KiB writes ------------------------------------------------
measure strictw64k -w -b 64K -n 200
check_io_counts strictw64k 200
if is_vtd && [ "$CM" = 0 ]; then
	u=$(kv /tmp/strictw64k.kv unmap); k=$(kv /tmp/strictw64k.kv unmap_k)
	p=$(kv /tmp/strictw64k.kv iotlb_page)
	check "strict writes: page-selective invalidations ($p) = unmaps + k ($u + $k)" [ "$p" -eq $((u + k)) ]
fi

# measure_paths MODE: 64 KiB reads from scattered pages (16 segments per
# request) and 4 KiB reads (one segment), each checked against the DMA path
# the kernel takes for it (see the header). MODE: strict or lazy.
IOVA_API=0
kernel_at_least 6 17 && IOVA_API=1
measure_paths() {
	measure "${1}64kS" -b 64K -n 300 -S
	check_io_counts "${1}64kS" 300
	adj=$(sed -n 's/.* adjacent=\([-0-9]*\).*/\1/p' "/tmp/${1}64kS.load")
	# Every other page of a larger mapping: physically adjacent only by
	# chance; a request of at least two segments is all the path needs.
	check "${1}64kS: the 16 buffer pages make >= 2 segments ($adj adjacent pairs)" [ "$adj" -ge 0 -a "$adj" -le 14 ]
	measure "${1}4k" -b 4K -n 1000
	check_io_counts "${1}4k" 1000
	is_vtd || return 0
	lazy=0; [ "$1" = lazy ] && lazy=1
	u=$(kv "/tmp/${1}64kS.kv" unmap); p=$(kv "/tmp/${1}64kS.kv" iotlb_page)
	# per request: the unmap's own (strict, or the IOVA API in any mode),
	# and with caching mode one for the map call
	want=$((u * ((1 - lazy) + lazy * IOVA_API + CM)))
	check "$1, 16-segment requests (IOVA API: $IOVA_API, caching mode: $CM): page-selective ($p) = $want for $u unmaps" [ "$p" -eq "$want" ]
	u=$(kv "/tmp/${1}4k.kv" unmap); p=$(kv "/tmp/${1}4k.kv" iotlb_page)
	want=$((u * ((1 - lazy) + CM)))
	check "$1, one-segment 4 KiB requests (dma_map_phys, flush queue when lazy): page-selective ($p) = $want for $u unmaps" [ "$p" -eq "$want" ]
}

measure_paths strict

# A 3 MiB read is one request, so one unmap of 2M + 4K chunks, only where
# the kernel lets the nvme take requests of 2 MiB + 4 KiB. 6.12 caps it
# lower (max_hw_sectors_kb 128 seen): the reads then come as many small
# unmaps, and the mixed-size phases below are run on virtio-blk alone.
NVME_MAX_KB=$(cat /sys/block/nvme0n1/queue/max_sectors_kb)
BIG_ON_NVME=0
[ "$NVME_MAX_KB" -ge 2052 ] && BIG_ON_NVME=1
say "nvme requests up to $NVME_MAX_KB KiB (mixed page sizes in one unmap: $BIG_ON_NVME)"

# check_unmaps_capped NAME KIB: no unmap is larger than the request cap.
check_unmaps_capped() {
	u=$(kv "/tmp/$1.kv" unmap); b=$(kv "/tmp/$1.kv" unmap_bytes)
	check "$1: unmaps ($u, $b bytes) stay within the $2 KiB request cap" [ "$u" -gt 0 -a "$b" -le $((u * $2 * 1024)) ]
	check "$1: no unmap split into page sizes" [ "$(kv "/tmp/$1.kv" unmap_split)" -eq 0 ]
}

# --- 5. strict: 3 MiB reads on huge pages (k = 1 per unmap) ------------------
if is_vtd && [ "$BIG_ON_NVME" = 0 ]; then
	measure strict3m -b 3M -n "$BIG_OPS" -H -H
	check_io_counts strict3m "$BIG_OPS"
	check_unmaps_capped strict3m "$NVME_MAX_KB"
elif is_vtd; then
	measure strict3m -b 3M -n "$BIG_OPS" -H -H
	check_io_counts strict3m "$BIG_OPS"
	u=$(kv /tmp/strict3m.kv unmap); k=$(kv /tmp/strict3m.kv unmap_k)
	s=$(kv /tmp/strict3m.kv unmap_split); p=$(kv /tmp/strict3m.kv iotlb_page)
	m=$(kv /tmp/strict3m.kv map)
	check "3 MiB unmaps split into 2M + 4K chunks (split=$s >= $BIG_OPS)" [ "$s" -ge "$BIG_OPS" ]
	if [ "$CM" = 0 ]; then
		check "strict 3M: page-selective ($p) = unmaps + k ($u + $k)" [ "$p" -eq $((u + k)) ]
	else
		check "strict 3M, caching mode: page-selective ($p) >= 2 x unmaps + k" [ "$p" -ge $((2 * u + k)) ]
	fi
fi

# --- 6. live DMA -> DMA-FQ with the driver bound ------------------------------
out=$(set_type "$G" DMA-FQ) && rc=0 || rc=$?
echo "measured live DMA->DMA-FQ write: rc=$rc $out"
check "live DMA -> DMA-FQ write with nvme bound succeeds" [ "$rc" = 0 ]
check "type reads DMA-FQ after the live write (read $(group_type "$G"))" [ "$(group_type "$G")" = DMA-FQ ]
check "nvme still bound after the live write" [ "$(driver_of "$BDF")" = nvme ]
check_topology after-type-change

# --- 7. lazy: 64 KiB reads ----------------------------------------------------
measure lazy64k -b 64K -n "$OPS"
check_io_counts lazy64k "$OPS"
if is_vtd; then
	u=$(kv /tmp/lazy64k.kv unmap); k=$(kv /tmp/lazy64k.kv unmap_k)
	s=$(kv /tmp/lazy64k.kv unmap_split); p=$(kv /tmp/lazy64k.kv iotlb_page)
	d=$(kv /tmp/lazy64k.kv iotlb_domain); m=$(kv /tmp/lazy64k.kv map)
	# Flush queue: one domain flush per 10 ms timer expiry (1 cs) or per
	# full 255-entry per-CPU ring.
	bound=$((TRACE_WINDOW_CS + 1 + u / 255 + NCPU))
	check "lazy: domain-selective flushes happen (read $d)" [ "$d" -ge 1 ]
	check "lazy: domain-selective flushes ($d) <= timer/ring bound ($bound)" [ "$d" -le "$bound" ]
	check "lazy: far fewer flushes ($d domain) than unmaps ($u)" [ "$((d * 4))" -le "$u" ]
	if [ "$CM" = 0 ]; then
		check "lazy: no page-selective invalidations on unmap (read $p, k=$k)" [ "$p" -eq 0 ]
	else
		sp=$(kv /tmp/strict64k.kv iotlb_page); su=$(kv /tmp/strict64k.kv unmap)
		check "lazy, caching mode: page-selective ($p) only for maps: <= maps ($m)" [ "$p" -le "$m" ]
		check "lazy, caching mode: page-selective ($p) >= unmaps ($u) (one per DMA map)" [ "$p" -ge "$u" ]
		echo "measured caching mode: strict page=$sp for $su unmaps, lazy page=$p + domain=$d for $u unmaps"
	fi
fi

measure_paths lazy

# --- 8. lazy: 3 MiB reads on huge pages: the superfluous-tracking fix --------
if is_vtd && [ "$BIG_ON_NVME" = 0 ]; then
	measure lazy3m -b 3M -n "$BIG_OPS" -H -H
	check_io_counts lazy3m "$BIG_OPS"
	check_unmaps_capped lazy3m "$NVME_MAX_KB"
elif is_vtd; then
	measure lazy3m -b 3M -n "$BIG_OPS" -H -H
	check_io_counts lazy3m "$BIG_OPS"
	u=$(kv /tmp/lazy3m.kv unmap); k=$(kv /tmp/lazy3m.kv unmap_k)
	s=$(kv /tmp/lazy3m.kv unmap_split); p=$(kv /tmp/lazy3m.kv iotlb_page)
	m=$(kv /tmp/lazy3m.kv map)
	check "3 MiB unmaps split into 2M + 4K chunks (split=$s >= $BIG_OPS)" [ "$s" -ge "$BIG_OPS" ]
	case $(uname -r) in
	*-unpatched) want=$((k + s)); why="unpatched: k + (k > 0) per unmap" ;;
	*) want=0; why="with the fix: none on unmap" ;;
	esac
	if [ "$CM" = 0 ]; then
		check "lazy 3M: page-selective invalidations ($p) = $want ($why)" [ "$p" -eq "$want" ]
	else
		check "lazy 3M, caching mode: page-selective ($p) - maps ($m) <= $want ($why)" [ "$p" -le $((want + m)) ]
	fi
fi

# --- 9. DMA-FQ -> DMA refused while bound, auto after unbind ------------------
out=$(set_type "$G" DMA) && rc=0 || rc=$?
echo "measured bound DMA-FQ->DMA write: rc=$rc $out"
check "DMA-FQ -> DMA with nvme bound is refused with $BOUND_ERRNO" is_bound_refusal "$rc" "$out"
rebind_with_type auto
check "unbind/auto/rebind returns to the default $DEFAULT (read $(group_type "$G"))" [ "$(group_type "$G")" = "$DEFAULT" ]

# --- 10. virtio-blk writes go through the IOMMU too ---------------------------
trace_start $EVENTS
dma-load -d /dev/vda -w -b 64K -n 200 > /tmp/vda.load || fail "dma-load writes to /dev/vda failed"
# shellcheck disable=SC2086
trace_stop /tmp/vda.kv $TC_ARGS
echo "measured vda-write64k: $(sed 's/^dma-load: //' /tmp/vda.load) $(tr '\n' ' ' < /tmp/vda.kv)"
check "virtio-blk: >= 200 unmaps for 200 O_DIRECT writes" [ "$(kv /tmp/vda.kv unmap)" -ge 200 ]

# 3 MiB writes and reads on virtio-blk from huge pages, in its group's
# default type. Whether one transfer is one mapping depends on how
# virtio-blk's segments fall on the huge page (seen: 4 to 5 mappings per
# 3 MiB read on one run, one on the next), so the counts are shown and only
# the bytes are checked: the exact
# per-unmap flush counts are held on the nvme above, where one 3 MiB read
# is one request.
VDA_G=$(group_of "$(pci_of /sys/block/vda/device/..)")
say "virtio-blk in group $VDA_G, type $(group_type "$VDA_G"), requests up to $(cat /sys/block/vda/queue/max_sectors_kb) KiB"
splits=0
for dir in w r; do
	name=vda3m$dir
	trace_start $EVENTS
	if [ "$dir" = w ]; then set -- -w; else set --; fi
	dma-load -d /dev/vda "$@" -b 3M -n "$BIG_OPS" -H -H > "/tmp/$name.load" ||
		fail "dma-load $* -b 3M on /dev/vda failed"
	# shellcheck disable=SC2086
	trace_stop "/tmp/$name.kv" $TC_ARGS
	echo "measured $name: $(sed 's/^dma-load: //' "/tmp/$name.load") $(tr '\n' ' ' < "/tmp/$name.kv")"
	check_io_counts "$name" "$BIG_OPS"
	check "$name: all $BIG_OPS x 3 MiB went through the IOMMU ($(kv "/tmp/$name.kv" unmap_bytes) bytes unmapped)" \
		[ "$(kv "/tmp/$name.kv" unmap_bytes)" -ge $((BIG_OPS * 3145728)) ]
	splits=$((splits + $(kv "/tmp/$name.kv" unmap_split)))
done
echo "measured virtio-blk: $splits unmaps of mixed 2M + 4K chunks in the two 3 MiB passes"

# --- 10b. strict with mixed page sizes: one 3 MiB mapping on virtio-blk -------
# dma-load -A puts the buffer on two physically adjacent huge pages, so a
# 3 MiB read is one segment, one mapping at a 4 MiB-aligned IOVA: one 2M page
# and 256 4K pages (k = 1), on any kernel (the nvme's requests are capped at
# 128 KiB from 6.12). VT-d's own page table (6.1-6.18) syncs at the size
# change: k + 1 per strict unmap; the generic page table (6.19+) gathers the
# whole range and syncs once (gather_range_pages() ->
# iommu_iotlb_gather_add_range(); __iommu_dma_unmap()'s one sync). Lazy:
# none per unmap, k + (k > 0) on the unpatched driver.
if is_vtd && [ "$CM" = 0 ]; then
	VDA_BDF=$(pci_of /sys/block/vda/device/..)
	unbind "$VDA_BDF" virtio-pci > /tmp/err || fail "unbind $VDA_BDF from virtio-pci: $(cat /tmp/err)"
	out=$(set_type "$VDA_G" DMA) || { bind "$VDA_BDF" virtio-pci; fail "write DMA to unbound group $VDA_G: $out"; }
	bind "$VDA_BDF" virtio-pci > /tmp/err || fail "rebind $VDA_BDF to virtio-pci: $(cat /tmp/err)"
	wait_for /sys/block/vda 100 || fail "vda did not come back after rebinding"
	echo 4096 > /sys/block/vda/queue/max_sectors_kb
	GENERIC_PT=0
	kernel_at_least 6 19 && GENERIC_PT=1
	for mode in strict lazy; do
		if [ "$mode" = lazy ]; then
			set_type "$VDA_G" DMA-FQ > /tmp/err || fail "live DMA -> DMA-FQ on group $VDA_G: $(cat /tmp/err)"
		fi
		check "virtio-blk group $VDA_G is $mode ($(group_type "$VDA_G"))" [ "$(group_type "$VDA_G")" = "$([ "$mode" = strict ] && echo DMA || echo DMA-FQ)" ]
		name=vda3mA$mode
		trace_start $EVENTS
		dma-load -d /dev/vda -b 3M -n "$BIG_OPS" -A > "/tmp/$name.load" || fail "dma-load -A -b 3M on /dev/vda failed"
		# shellcheck disable=SC2086
		trace_stop "/tmp/$name.kv" $TC_ARGS
		echo "measured $name: $(sed 's/^dma-load: //' "/tmp/$name.load") $(tr '\n' ' ' < "/tmp/$name.kv")"
		u=$(kv "/tmp/$name.kv" unmap); k=$(kv "/tmp/$name.kv" unmap_k)
		sp=$(kv "/tmp/$name.kv" unmap_split); p=$(kv "/tmp/$name.kv" iotlb_page)
		check "$name: every 3 MiB read one mapping of mixed page sizes (split=$sp, k=$k, $BIG_OPS reads)" [ "$sp" -ge "$BIG_OPS" ]
		if [ "$mode" = strict ] && [ "$GENERIC_PT" = 1 ]; then
			want=$u; why="generic page table: 1 per unmap whatever its page sizes, not unmaps + k = $((u + k))"
		elif [ "$mode" = strict ]; then
			want=$((u + k)); why="k + 1 per unmap"
		else
			case $(uname -r) in
			*-unpatched) want=$((k + sp)); why="unpatched: k + (k > 0) per unmap" ;;
			*) want=0; why="none on unmap" ;;
			esac
		fi
		check "$name: page-selective invalidations ($p) = $want ($why)" [ "$p" -eq "$want" ]
	done
fi

# --- 11. Intel IOMMU debugfs where the kernel has it ----------------------------
if [ "$VM_PLATFORM" = vtd-debugfs ] || [ "$VM_PLATFORM" = vtd-unpatched ]; then
	for f in dmar_perf_latency dmar_translation_struct invalidation_queue iommu_regset; do
		check "debugfs has iommu/intel/$f" [ -e "/sys/kernel/debug/iommu/intel/$f" ]
	done
else
	check "no Intel IOMMU debugfs on this kernel" [ ! -e /sys/kernel/debug/iommu/intel ]
fi

# --- 12. network: TCP between the two e1000e NICs in two namespaces -----------
NICS=
for n in /sys/class/net/eth*; do
	[ "$(basename "$(readlink "$n/device/driver")")" = e1000e ] && NICS="$NICS $(basename "$n")"
done
set -- $NICS
[ $# -ge 2 ] || fail "expected two e1000e NICs, found:$NICS"
unshare -n sleep 600 & NS_A=$!
unshare -n sleep 600 & NS_B=$!
sleep 0.2
ip link set "$1" netns "$NS_A" || fail "ip link set $1 netns $NS_A"
ip link set "$2" netns "$NS_B" || fail "ip link set $2 netns $NS_B"
nsenter -t "$NS_A" -n sh -c "ip addr add 192.0.2.1/24 dev $1 && ip link set $1 up && ip link set lo up" ||
	fail "configuring $1 in namespace A"
nsenter -t "$NS_B" -n sh -c "ip addr add 192.0.2.2/24 dev $2 && ip link set $2 up && ip link set lo up" ||
	fail "configuring $2 in namespace B"
# Wait for the links to come up (e1000e autonegotiation).
i=0
# (/sys shows the initial namespace's devices: ask ip inside each namespace.)
until nsenter -t "$NS_A" -n ip link show "$1" | grep -q LOWER_UP &&
      nsenter -t "$NS_B" -n ip link show "$2" | grep -q LOWER_UP; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "no carrier on $1/$2 after 10 s"
	sleep 0.1
done
trace_start $EVENTS
nsenter -t "$NS_B" -n net-blast recv 5001 20 > /tmp/recv.out & RECV=$!
nsenter -t "$NS_A" -n net-blast send 192.0.2.2 5001 2 > /tmp/send.out || fail "net-blast send failed"
wait "$RECV" || fail "net-blast recv failed"
# shellcheck disable=SC2086
trace_stop /tmp/net.kv $TC_ARGS
cat /tmp/send.out /tmp/recv.out
echo "measured net: $(tr '\n' ' ' < /tmp/net.kv)"
sent=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' /tmp/send.out)
got=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' /tmp/recv.out)
check "TCP between the namespaces: received all $sent bytes sent (got $got)" [ "${got:-0}" -gt 0 -a "$got" = "$sent" ]
check "NIC traffic is mapped through the IOMMU ($(kv /tmp/net.kv map) maps)" [ "$(kv /tmp/net.kv map)" -gt 0 ]
check "NIC traffic is unmapped through the IOMMU ($(kv /tmp/net.kv unmap) unmaps)" [ "$(kv /tmp/net.kv unmap)" -gt 0 ]
kill "$NS_A" "$NS_B" 2>/dev/null || true

finish
