#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# pergroup-bench: what counting unmaps per device costs per event, against
# today's counters (figures, no verdict). 4 KiB O_DIRECT reads on the lazy
# nvme (a high unmap rate), in interleaved rounds with:
#   none    no perf event open;
#   count   counters on iommu:map and iommu:unmap, one fd per CPU each (the
#           daemon's machine-wide counters);
#   record  record streams on the dma:* unmap tracepoints this kernel has,
#           one fd and one 64-page ring per CPU each, drained every 100 ms
#           (the daemon's per-device counting).
# The cost per event of a mode is (its time per read - none's) / its events
# per read; the ratio record/count is printed with the fds and the ring
# memory per CPU, from medians over the rounds. Under TCG on a loaded host
# the rounds scatter: read the spread too.
set -eu
. /vm/lib.sh

ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECS:-3}
DEV=/dev/nvme0n1
[ -d "$TRACING/events/dma" ] || fail "no dma:* tracepoints in $(uname -r) (6.12+)"
DMA_EVENTS=
for e in dma_unmap_page dma_unmap_phys dma_unmap_sg dma_unmap_resource dma_free dma_free_pages dma_free_sgt; do
	[ -e "$TRACING/events/dma/$e/id" ] && DMA_EVENTS="$DMA_EVENTS dma:$e"
done
say "kernel $(uname -r); nvme group $(group_of "$(nvme_bdf)") $(group_type "$(group_of "$(nvme_bdf)")"); record events:$DMA_EVENTS"

: > /tmp/bench.tsv
run() { # run MODE
	case $1 in
	none) dma-load -d "$DEV" -b 4K -t "$SECS" > /tmp/l.out; ev=0 ;;
	count|record)
		# shellcheck disable=SC2086
		if [ "$1" = count ]; then set -- count iommu:map iommu:unmap; else set -- record $DMA_EVENTS; fi
		m=$1; shift
		perf-hold "$m" $((SECS + 1)) "$@" > /tmp/h.out & H=$!
		sleep 0.3
		dma-load -d "$DEV" -b 4K -t "$SECS" > /tmp/l.out
		wait "$H"
		ev=$(sed -n 's/.* events=\([0-9]*\) .*/\1/p' /tmp/h.out)
		cat /tmp/h.out > "/tmp/hold-$m.out"
		set -- "$m" ;;
	esac
	ops=$(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' /tmp/l.out)
	secs=$(sed -n 's/.* secs=\([0-9.]*\) .*/\1/p' /tmp/l.out)
	echo "$1 $ops $secs $ev" >> /tmp/bench.tsv
	echo "round $r $1: $(sed 's/^dma-load: //' /tmp/l.out)${ev:+, events $ev}"
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for mode in none count record; do run "$mode"; done
	r=$((r + 1))
done
# ns per read per round, medians per mode; events per read: the events the
# hold saw (the reads are all there is) over the reads.
awk '
	{ nsop = $3 * 1e9 / $2; n[$1]++; v[$1, n[$1]] = nsop; if ($4 > 0) epo[$1] += $4 / $2 }
	function median(m,   i, j, t, k) {
		k = n[m]; for (i = 1; i <= k; i++) a[i] = v[m, i]
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	END {
		base = median("none"); c = median("count"); rec = median("record")
		ce = epo["count"] / n["count"]; re = epo["record"] / n["record"]
		cc = ce > 0 ? (c - base) / ce : 0; rc = re > 0 ? (rec - base) / re : 0
		printf "measured ns per 4 KiB read (median of %d): none %.0f, count %.0f, record %.0f\n", n["none"], base, c, rec
		printf "measured events per read: count %.2f (iommu:map+unmap), record %.2f (dma:* unmaps)\n", ce, re
		printf "measured cost per event: count %.0f ns, record %.0f ns; ratio record/count %.2f\n", cc, rc, (cc > 0 ? rc / cc : 0)
	}' /tmp/bench.tsv
echo "measured $(cat /tmp/hold-count.out)"
echo "measured $(cat /tmp/hold-record.out)"
exit 0
