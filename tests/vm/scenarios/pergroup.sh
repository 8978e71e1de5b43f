#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pergroup: per-group unmap rates and savings on a busy machine.
#
#  1. busy server: the nvme group starts strict; the virtio-blk disk
#     trickles (5 paced 4 KiB reads a second) and the two e1000e NICs ping
#     each other 5 times a second from two namespaces, so in every tick
#     several groups unmap. Sustained 16 KiB O_DIRECT reads on the nvme
#     make it lazy within sustain_s + 2 ticks (+ 1 tick of slack for the
#     workload's start, + 0.5 s for the switch and the watcher). The other
#     groups stay as they were (their own rates are far below
#     lazy_above_unmaps_per_sec). `iommuctl groups --json` gives the nvme's
#     rate with its source.
#  2. savings: with the nvme lazy and the others still busy, a traced
#     window of reads: the nvme group's avoided_vs_strict over the window
#     is within 5 % of what the kernel's trace shows for it: its reads'
#     unmaps (one per 16 KiB read: ground truth from the workload) less
#     the invalidations of its domain (the trace's per-domain counts; the
#     nvme's domain is the one with the most invalidations there).
#  3. two loads at about 4:1: the nvme (strict again: `iommuctl set`, the
#     daemon's rebind) at 400 reads/s and the virtio disk at 100 reads/s,
#     the NICs pinging. Before, a quiet moment: each disk alone for a few
#     ticks, where the daemon learns each one's domain id and unmaps per
#     operation. Each group's unmaps over a traced window against the
#     ground truth of the trace's per-domain page-selective invalidations
#     (both strict: one per unmap): within 10 % where the daemon counted
#     the window exactly (nothing of it apportioned), 25 % where it
#     apportioned.
#
# The virtio disk is made strict first (unbind, write DMA, bind) and kept
# so by the config; min_dwell_s = 3600 keeps the lazy nvme lazy between
# the phases.
set -eu
. /vm/lib.sh

INTERVAL_MS=1000
SUSTAIN_S=2
TICK_CS=$((INTERVAL_MS / 10))
SOCK=/run/iommutuned/pergroup.sock
CONF=/tmp/pg.conf
ST=/tmp/pgst
LOG=/tmp/iommutuned.log
BDF=$(nvme_bdf)
G=$(group_of "$BDF")
DEV=/dev/nvme0n1
VBDF=$(basename "$(dirname "$(readlink -f /sys/block/vda/device)")")
VG=$(group_of "$VBDF")

command -v iommutuned >/dev/null && command -v iommuctl >/dev/null ||
	fail "iommutuned and iommuctl must be in the initramfs"
is_vtd || fail "pergroup needs VT-d (per-domain invalidations are the ground truth)"

read_type() { read -r RT < "/sys/kernel/iommu_groups/$1/type"; }
ctl() { iommuctl --no-color --socket "$SOCK" "$@"; }

# --- the nvme starts strict ----------------------------------------------------------
if [ "$(group_type "$G")" != DMA ]; then
	unbind "$BDF" nvme > /tmp/err || fail "unbind $BDF: $(cat /tmp/err)"
	set_type "$G" DMA > /tmp/err || { bind "$BDF" nvme; fail "write DMA: $(cat /tmp/err)"; }
	bind "$BDF" nvme > /tmp/err || fail "bind $BDF: $(cat /tmp/err)"
	wait_for /sys/block/nvme0n1 100 || fail "nvme0n1 did not come back"
fi

if [ "$(group_type "$VG")" != DMA ]; then
	unbind "$VBDF" virtio-pci > /tmp/err || fail "unbind $VBDF: $(cat /tmp/err)"
	set_type "$VG" DMA > /tmp/err || { bind "$VBDF" virtio-pci; fail "write DMA for $VG: $(cat /tmp/err)"; }
	bind "$VBDF" virtio-pci > /tmp/err || fail "bind $VBDF: $(cat /tmp/err)"
	wait_for /sys/block/vda 100 || fail "vda did not come back"
fi

# --- the NICs in two namespaces --------------------------------------------------------
set -- $(for n in /sys/class/net/eth*; do
	[ "$(basename "$(readlink "$n/device/driver")")" = e1000e ] && basename "$n"; done)
[ $# -ge 2 ] || fail "two e1000e NICs needed, found: $*"
NIC_A=$1 NIC_B=$2
NIC_GROUPS="$(group_of "$(pci_of "/sys/class/net/$NIC_A/device")") $(group_of "$(pci_of "/sys/class/net/$NIC_B/device")")"
unshare -n sleep 100000 & NS_A=$!
unshare -n sleep 100000 & NS_B=$!
sleep 0.5
ip link set "$NIC_A" netns "$NS_A" && ip link set "$NIC_B" netns "$NS_B" ||
	fail "cannot move the NICs into namespaces"
nsenter -t "$NS_A" -n sh -c "ip addr add 192.0.2.1/24 dev $NIC_A && ip link set $NIC_A up && ip link set lo up" &&
nsenter -t "$NS_B" -n sh -c "ip addr add 192.0.2.2/24 dev $NIC_B && ip link set $NIC_B up && ip link set lo up" ||
	fail "cannot set up the NICs"
i=0
until nsenter -t "$NS_A" -n ip link show "$NIC_A" | grep -q LOWER_UP &&
      nsenter -t "$NS_B" -n ip link show "$NIC_B" | grep -q LOWER_UP; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "the NICs' links do not come up"
	sleep 0.1
done
types_of_others() { for g in $VG $NIC_GROUPS; do read_type "$g"; printf '%s=%s ' "$g" "$RT"; done; }
OTHERS0=$(types_of_others)
say "platform $VM_PLATFORM, kernel $(uname -r): nvme $BDF group $G $(group_type "$G"); virtio-blk $VBDF group $VG; NICs $NIC_A $NIC_B groups $NIC_GROUPS; $OTHERS0"

# --- background: the trickles ---------------------------------------------------------
nsenter -t "$NS_A" -n ping -q -i 0.2 192.0.2.2 > /dev/null 2>&1 & PING=$!
dma-load -d /dev/vda -b 4K -t 100000 -r 5 > /dev/null 2>&1 & TRICKLE=$!
cleanup() {
	for p in ${LOAD:-} ${LOAD2:-} $TRICKLE $PING ${DAEMON:-} $NS_A $NS_B; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# The nvme's strict read rate with the trickles on, without the daemon.
dma-load -d "$DEV" -b 16K -t 2 > /tmp/rate.out || fail "dma-load failed"
RATE=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } } END { printf "%d", v["ops"] / v["secs"] }' /tmp/rate.out)
LAZY_ABOVE=$((RATE / 10))
[ "$LAZY_ABOVE" -ge 50 ] || fail "the workload is too slow to test with: $(cat /tmp/rate.out)"
echo "measured strict 16K read rate: $RATE reads/s; lazy_above_unmaps_per_sec = $LAZY_ABOVE"

cat > "$CONF" <<EOF
[daemon]
interval_ms = $INTERVAL_MS
mode = enforce
admin_group =
[policy]
lazy_above_unmaps_per_sec = $LAZY_ABOVE
strict_below_unmaps_per_sec = 10
sustain_s = $SUSTAIN_S
min_dwell_s = 3600
max_switches_per_hour = 60
[driver nvme]
allow_rebind = yes
allow_lazy_when_kernel_forced_strict = yes
[driver virtio-pci]
policy = strict
EOF
mkdir -p "$ST"
iommutuned --config "$CONF" --socket "$SOCK" --state-dir "$ST" > "$LOG" 2>&1 & DAEMON=$!
wait_for "$SOCK" 150 || { cat "$LOG"; fail "iommutuned did not open $SOCK"; }
i=0
until ctl --json status > /tmp/st.json 2>/dev/null &&
      [ "$(json_flat < /tmp/st.json | grep '^ticks=' | cut -d= -f2)" -ge 2 ]; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "the daemon does not tick"
	sleep 0.2
done

# --- 1. busy server: the nvme goes lazy ------------------------------------------------
say "busy server: sustained nvme reads while the virtio disk and the NICs trickle"
LAZY_BOUND=$((SUSTAIN_S * 100 + 3 * TICK_CS + 50))
dma-load -d "$DEV" -b 16K -t 100000 > /tmp/load.out 2>&1 & LOAD=$!
T0=$(uptime_cs)
T_LAZY= SEVERAL=0
: > /tmp/attr.log
while :; do
	read_type "$G"
	at=$(( $(uptime_cs) - T0 ))
	[ "$RT" = DMA-FQ ] && { T_LAZY=$at; break; }
	[ "$at" -le $((LAZY_BOUND + 300)) ] || break
	if ctl --json savings > /tmp/sv.json 2>/dev/null && ctl --json groups > /tmp/gr.json 2>/dev/null; then
		a=$(json_flat < /tmp/sv.json | sed -n 's/^last_tick_attribution=//p')
		# Groups with unmaps of their own in the last tick.
		n=$(json_flat < /tmp/gr.json | awk -F= '/^[0-9]+\.unmap_rate\.unmaps_per_sec=/ && $2 > 0 { n++ } END { print n + 0 }')
		echo "$at $n groups unmapping; $a" >> /tmp/attr.log
		[ "$n" -ge 3 ] && SEVERAL=$((SEVERAL + 1))
	fi
	sleep 0.3
done
sed 's/^/    tick: /' /tmp/attr.log
ctl explain "$G" > /tmp/explain.out 2>&1 || true
sed 's/^/    explain: /' /tmp/explain.out
echo "measured busy server: DMA -> DMA-FQ ${T_LAZY:-never} cs after the load started (bound $LAZY_BOUND cs = sustain_s + 3 ticks + 0.5 s)"
check "several groups unmapped in the ticks before (3 or more in $SEVERAL samples)" [ "$SEVERAL" -ge 1 ]
check "the nvme goes lazy within sustain_s + 2 ticks (+1 tick, +0.5 s): ${T_LAZY:-never} cs <= $LAZY_BOUND" \
	[ "${T_LAZY:-99999}" -le "$LAZY_BOUND" ]
check "explain gives the rate's source" grep -Eq "unmap rate: [0-9]+/s over the last tick, (apportioned|exact)" /tmp/explain.out
ctl --json groups > /tmp/groups.json
json_flat < /tmp/groups.json > /tmp/groups.flat
VSRC=$(jgroup /tmp/groups.flat "" "$VG" unmap_rate.source) VRATE=$(jgroup /tmp/groups.flat "" "$VG" unmap_rate.unmaps_per_sec)
echo "measured virtio-blk group $VG: rate ${VRATE:-?}/s, ${VSRC:-?}"
check "the trickling virtio disk has a rate of its own" [ -n "$VSRC" ]
sleep 1
OTHERS=$(types_of_others)
check "the other groups keep their types ($OTHERS0-> $OTHERS)" [ "$OTHERS" = "$OTHERS0" ]

# --- 2. savings of the lazy group ------------------------------------------------------
say "savings: the lazy nvme's own, against the trace"
savings_of() { # savings_of GROUP KEY
	ctl --json savings > /tmp/sv.json && json_flat < /tmp/sv.json > /tmp/sv.flat && jgroup /tmp/sv.flat groups. "$1" "$2"
}
kill "$LOAD" 2>/dev/null; wait "$LOAD" 2>/dev/null || true; LOAD=
sleep 2 # two ticks: the savings settle
A0=$(savings_of "$G" avoided_vs_strict)
trace_start intel_iommu:qi_submit
dma-load -d "$DEV" -b 16K -n 6000 > /tmp/win.out 2>&1 & LOAD=$!
wait "$LOAD" || fail "dma-load in the window: $(cat /tmp/win.out)"
LOAD=
sleep 2.5 # the flush queue's last flush and two more ticks
trace_stop /tmp/win.tc
A1=$(savings_of "$G" avoided_vs_strict)
OPS=$(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' /tmp/win.out)
# The lazy nvme's domain: the most domain-selective invalidations (the
# flush queue's) in the window; the strict virtio disk's are page-selective.
grep '^iotlb_did' /tmp/win.tc | sed 's/^/    trace: /'
NV_INV=$(awk -F'[=,:]' '/^iotlb_did/ && $5 > m { m = $5; s = $3 + $5 + $7 } END { print s + 0 }' /tmp/win.tc)
TRUTH=$((OPS - NV_INV))
GOT=$((A1 - A0))
echo "measured savings: nvme group avoided_vs_strict +$GOT over the window; trace: $OPS unmaps (one per read) - $NV_INV invalidations of its domain = $TRUTH"
check "the lazy group's savings within 5 % of the trace ($GOT vs $TRUTH)" \
	awk -v a="$GOT" -v b="$TRUTH" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * 0.05) }'
ctl savings | sed 's/^/    savings: /'

# --- 3. two loads, about 4:1 ---------------------------------------------------------
say "two loads at about 4:1, each group's rate against the trace"
ctl set "$G" strict > /tmp/set.out 2>&1 || fail "iommuctl set $G strict: $(cat /tmp/set.out)"
i=0
until read_type "$G" && [ "$RT" = DMA ] && [ -e /sys/block/nvme0n1 ]; do
	i=$((i + 1)); [ $i -lt 150 ] || fail "the nvme did not go back to strict: $(cat /tmp/set.out)"
	sleep 0.2
done
ctl explain "$G" 2>/dev/null | grep 'domain:' | sed 's/^/    after the rebind: /' || true
# A quiet moment: each disk alone, the NICs and the trickle stopped. The
# trace of each names its domain id (the one with page-selective
# invalidations), the ground truth's key below.
kill "$PING" "$TRICKLE" 2>/dev/null || true
wait "$PING" "$TRICKLE" 2>/dev/null || true
sleep 1
solo() { # solo DEVICE RATE OUT: DID_OF = the domain id its reads invalidated
	trace_start intel_iommu:qi_submit
	dma-load -d "$1" -b 16K -t 4 -r "$2" > /dev/null 2>&1 &
	l=$!
	while kill -0 "$l" 2>/dev/null; do
		ctl --json savings 2>/dev/null | json_flat | sed -n "s|^last_tick_attribution=|    quiet tick ($1): |p"
		sleep 0.7
	done
	wait "$l" || true
	trace_stop "$3"
	DID_OF=$(awk -F'[=,:]' '/^iotlb_did/ && $7 > m { m = $7; d = substr($1, 10) } END { print d }' "$3")
}
solo "$DEV" 400 /tmp/solo-nvme.tc; DID_NV=$DID_OF
solo /dev/vda 100 /tmp/solo-vda.tc; DID_VB=$DID_OF
echo "measured domain ids from the solo traces: nvme $DID_NV, virtio $DID_VB"
grep -E "Learned|re-attached|Unmaps by device|IOVA-based|Domain ids at attach" "$LOG" | sed 's/^/    log: /' || true
[ -n "$DID_NV" ] && [ -n "$DID_VB" ] && [ "$DID_NV" != "$DID_VB" ] || fail "the solo traces do not name two domains"
nsenter -t "$NS_A" -n ping -q -i 0.2 192.0.2.2 > /dev/null 2>&1 & PING=$!
sleep 1
ctl --json savings > /tmp/sv.json; json_flat < /tmp/sv.json > /tmp/sv.flat
set -- $(jgroup /tmp/sv.flat groups. "$G" unmaps,unmaps_apportioned) $(jgroup /tmp/sv.flat groups. "$VG" unmaps,unmaps_apportioned)
U0=$1 UA0=$2 V0=$3 VA0=$4
trace_start intel_iommu:qi_submit
dma-load -d "$DEV" -b 16K -t 8 -r 400 > /tmp/n.out 2>&1 & LOAD=$!
dma-load -d /dev/vda -b 16K -t 8 -r 100 > /tmp/v.out 2>&1 & LOAD2=$!
wait "$LOAD" || true; wait "$LOAD2" || true; LOAD= LOAD2=
sleep 2.5
trace_stop /tmp/two.tc
ctl --json groups > /tmp/groups.json; json_flat < /tmp/groups.json > /tmp/groups.flat
ctl --json savings > /tmp/sv.json; json_flat < /tmp/sv.json > /tmp/sv.flat
set -- $(jgroup /tmp/sv.flat groups. "$G" unmaps,unmaps_apportioned) $(jgroup /tmp/sv.flat groups. "$VG" unmaps,unmaps_apportioned)
U1=$1 UA1=$2 V1=$3 VA1=$4
grep '^iotlb_did' /tmp/two.tc | sed 's/^/    trace: /'
# Both strict: one page-selective invalidation per unmap.
page_of() { awk -F'[=,:]' -v k="iotlb_did$1" '$1 == k { print $7 }' /tmp/two.tc; }
T_NV=$(page_of "$DID_NV") T_VB=$(page_of "$DID_VB")
D_NV=$((U1 - U0)) D_VB=$((V1 - V0))
tol_of() { if [ "$1" = "$2" ]; then echo 10; else echo 25; fi; }
TOL_NV=$(tol_of "$UA0" "$UA1") TOL_VB=$(tol_of "$VA0" "$VA1")
echo "measured 4:1: nvme daemon $D_NV ($((UA1 - UA0)) apportioned) vs trace $T_NV ($(sed 's/^dma-load: //' /tmp/n.out)); virtio daemon $D_VB ($((VA1 - VA0)) apportioned) vs trace $T_VB ($(sed 's/^dma-load: //' /tmp/v.out))"
echo "measured last tick: $(sed -n 's/^last_tick_attribution=//p' /tmp/sv.flat)"
within_pct() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'; }
check "nvme unmaps within $TOL_NV % of the trace ($D_NV vs $T_NV)" within_pct "$D_NV" "$T_NV" "$TOL_NV"
check "virtio unmaps within $TOL_VB % of the trace ($D_VB vs $T_VB)" within_pct "$D_VB" "$T_VB" "$TOL_VB"

kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=
finish
