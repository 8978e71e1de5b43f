#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# socket: the control socket under abuse, in the guest. A flood of 10000
# malformed requests on one connection, then 200 concurrent clients asking
# for status as fast as they can for 10 s, while a DMA workload runs: every
# malformed line gets an error reply, every status an ok, and the
# monitoring tick keeps its pace (ticks counted against the clock). Prints
# the status round-trip latency (median, p99) with 200 clients.
set -eu
. /vm/lib.sh

SOCK=/run/iommutuned/iommutuned.sock
INTERVAL_MS=500
printf '[daemon]\ninterval_ms = %s\nmode = advise\n' "$INTERVAL_MS" > /tmp/c.conf
iommutuned --config /tmp/c.conf --socket "$SOCK" > /tmp/d.log 2>&1 &
DAEMON=$!
wait_for "$SOCK" 100 || { cat /tmp/d.log; fail "iommutuned did not open $SOCK"; }
ticks() { iommuctl --socket "$SOCK" --json status | json_flat | sed -n 's/^ticks=//p'; }

dma-load -d /dev/nvme0n1 -b 64K -t 25 > /tmp/load.out &
LOAD=$!
t0=$(uptime_cs) k0=$(ticks)
check "10000 malformed requests: an error reply each, the connection survives" sock-flood "$SOCK" malformed 10000
check "200 concurrent clients for 10 s: every status answered" sock-flood "$SOCK" clients 200 10
t1=$(uptime_cs) k1=$(ticks)
expected=$(( (t1 - t0) * 10 / INTERVAL_MS ))
echo "measured ticks: $((k1 - k0)) in $(( (t1 - t0) * 10 )) ms of abuse (interval $INTERVAL_MS ms: $expected due)"
check "the tick kept its pace under the abuse (>= 90% of the ticks due)" [ $(( (k1 - k0) * 10 )) -ge $(( expected * 9 )) ]
check "the daemon still answers status" sh -c "iommuctl --socket '$SOCK' status > /dev/null"
check "the daemon is still running" kill -0 "$DAEMON"
wait "$LOAD" || fail "dma-load failed"
kill "$DAEMON"
wait "$DAEMON" || true
finish
