#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo: the main job of the README. iommutuned runs in the guest on the
# shipped configuration (/etc/iommutuned/iommutuned.conf when the test bed
# carries it, else the built-in defaults the shipped file documents) while
# dma-load drives O_DIRECT reads through the nvme's IOMMU group, and
# iommuctl shows what the daemon sees. The kernel's own counts for the same
# window, from tracefs, are printed beside it.
set -eu
. /vm/lib.sh

SOCK=/run/iommutuned/iommutuned.sock
BDF=$(nvme_bdf)
G=$(group_of "$BDF")
CONF=/etc/iommutuned/iommutuned.conf
[ -f "$CONF" ] && CONF_ARGS="--config $CONF" || CONF_ARGS=
show() { echo; echo "\$ iommuctl --no-color $*"; iommuctl --no-color --socket "$SOCK" "$@" || echo "(iommuctl exit $?)"; }

say "kernel $(uname -r), platform $VM_PLATFORM; nvme $BDF in group $G ($(group_type "$G"))"
# shellcheck disable=SC2086
iommutuned $CONF_ARGS --socket "$SOCK" > /tmp/iommutuned.log 2>&1 &
DAEMON=$!
wait_for "$SOCK" 100 || { cat /tmp/iommutuned.log; fail "iommutuned did not open $SOCK"; }

EVENTS="iommu:map iommu:unmap"
TC_ARGS=
if is_vtd; then
	EVENTS="$EVENTS intel_iommu:qi_submit"
	TC_ARGS="--pgsizes $(vtd_pgsizes)"
fi
trace_start $EVENTS
dma-load -d /dev/nvme0n1 -b 64K -t 6 > /tmp/load.out &
LOAD=$!
sleep 3

show status
show groups
show explain "$BDF"
show savings

wait "$LOAD" || fail "dma-load failed"
# shellcheck disable=SC2086
trace_stop /tmp/truth.kv $TC_ARGS
echo
say "workload: $(cat /tmp/load.out)"
say "the kernel's counts for the same window (tracefs, independent of the daemon):"
tr '\n' ' ' < /tmp/truth.kv
echo

kill "$DAEMON"
wait "$DAEMON" || true
say "daemon log:"
cat /tmp/iommutuned.log
kill -0 "$DAEMON" 2>/dev/null && fail "iommutuned did not stop on SIGTERM"
exit 0
