#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo: the main job of the README. The nvme's group starts strict (the
# harness switches it to DMA before the daemon starts); iommutuned runs on
# the shipped configuration (/etc/iommutuned/iommutuned.conf) while dma-load
# drives O_DIRECT reads through the nvme's IOMMU group; iommuctl shows what
# the daemon sees and does. The kernel's own counts for the same window,
# from tracefs, are printed beside it.
set -eu
. /vm/lib.sh

SOCK=/run/iommutuned/iommutuned.sock
CONF=/etc/iommutuned/iommutuned.conf
BDF=$(nvme_bdf)
G=$(group_of "$BDF")
show() { echo; echo "\$ iommuctl $*"; iommuctl --no-color --socket "$SOCK" "$@" || echo "(iommuctl exit $?)"; }

[ -f "$CONF" ] || fail "the shipped configuration is not in the guest at $CONF"
# Start strict: unbind, write DMA, bind (a bound group cannot leave DMA-FQ).
if [ "$(group_type "$G")" != DMA ]; then
	unbind "$BDF" nvme > /tmp/err || fail "unbind $BDF: $(cat /tmp/err)"
	set_type "$G" DMA > /tmp/err || { bind "$BDF" nvme; fail "write DMA: $(cat /tmp/err)"; }
	bind "$BDF" nvme > /tmp/err || fail "bind $BDF: $(cat /tmp/err)"
	wait_for /sys/block/nvme0n1 100 || fail "nvme0n1 did not come back"
fi
say "kernel $(uname -r), platform $VM_PLATFORM; nvme $BDF in group $G, now $(group_type "$G")"

iommutuned --config "$CONF" --socket "$SOCK" > /tmp/iommutuned.log 2>&1 &
DAEMON=$!
wait_for "$SOCK" 100 || { cat /tmp/iommutuned.log; fail "iommutuned did not open $SOCK"; }
show status

EVENTS="iommu:map iommu:unmap"
TC_ARGS=
if is_vtd; then
	EVENTS="$EVENTS intel_iommu:qi_submit"
	TC_ARGS="--pgsizes $(vtd_pgsizes)"
fi
trace_start $EVENTS
say "dma-load: 16 KiB O_DIRECT reads on /dev/nvme0n1 for 10 s"
dma-load -d /dev/nvme0n1 -b 16K -t 10 > /tmp/load.out &
LOAD=$!
sleep 2
show groups
sleep 6
say "group $G is now $(group_type "$G") in sysfs"
show groups
show explain "$BDF"

wait "$LOAD" || fail "dma-load failed"
sleep 2 # one more tick, so the daemon has counted the whole workload
# shellcheck disable=SC2086
trace_stop /tmp/truth.kv $TC_ARGS
show savings
echo
say "workload: $(cat /tmp/load.out)"
say "the kernel's counts for the same window (tracefs, independent of the daemon):"
tr '\n' ' ' < /tmp/truth.kv
echo

# The group that went lazy shows what it saved itself (not "unattributed").
iommuctl --no-color --socket "$SOCK" --json savings | json_flat > /tmp/sv.flat
AVOIDED=$(jgroup /tmp/sv.flat groups. "$G" avoided_vs_strict)
say "the nvme's group $G avoided ${AVOIDED:-0} invalidations against strict (its own figure in savings)"

kill "$DAEMON"
wait "$DAEMON" || true
say "daemon log:"
cat /tmp/iommutuned.log
[ "$(group_type "$G")" = DMA-FQ ] || fail "the busy nvme group did not become lazy"
[ -e "/sys/bus/pci/devices/$BDF/driver" ] || fail "the nvme is not bound after the demo"
[ "${AVOIDED:-0}" -gt 0 ] || fail "the lazy nvme group shows no savings of its own"
exit 0
