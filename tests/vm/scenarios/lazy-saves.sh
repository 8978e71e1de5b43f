#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# lazy-saves: lazy only where it saves, on a kernel with the IOVA-based DMA
# API (6.17+; the test bed's vtd-13bpo).
#
#  1. The nvme group, strict, under sustained 64 KiB reads from a buffer of
#     scattered pages (dma-load -S: 16 segments, nvme's IOVA DMA API path,
#     which flushes at every unmap in DMA-FQ as in DMA): its unmap rate,
#     as the daemon measures it tick by tick, is above
#     lazy_above_unmaps_per_sec in sustain_s + 1 consecutive ticks, yet it
#     stays strict for sustain_s + 4 ticks, and `iommuctl explain` says
#     lazy would save 0 of its unmaps (IOVA DMA API).
#  2. The same group under sustained 4 KiB reads (one page: dma_map_phys,
#     the flush queue's path): it goes lazy within sustain_s + 2 ticks (+1
#     tick, +0.5 s, as in the policy scenario).
#  3. Back to 64 KiB scattered reads while lazy: the unmap rate stays far
#     above lazy_above_unmaps_per_sec, but lazy saves nothing now, so the
#     group goes strict again within sustain_s + 3 ticks + 1.5 s for the
#     rebind (as in the policy scenario), explain saying lazy would save 0
#     of its unmaps (IOVA DMA API), below strict_below_unmaps_per_sec; the
#     nvme is bound again after the rebind.
set -eu
. /vm/lib.sh

INTERVAL_MS=1000
SUSTAIN_S=2
TICK_CS=$((INTERVAL_MS / 10))
SOCK=/run/iommutuned/lazy-saves.sock
CONF=/tmp/ls.conf
ST=/tmp/lsst
LOG=/tmp/iommutuned.log
BDF=$(nvme_bdf)
G=$(group_of "$BDF")
DEV=/dev/nvme0n1

command -v iommutuned >/dev/null && command -v iommuctl >/dev/null ||
	fail "iommutuned and iommuctl must be in the initramfs"
kernel_at_least 6 17 || fail "lazy-saves needs a kernel with the IOVA DMA API path (6.17+), not $(uname -r)"
ctl() { iommuctl --no-color --socket "$SOCK" "$@"; }
read_type() { read -r RT < "/sys/kernel/iommu_groups/$1/type"; }

if [ "$(group_type "$G")" != DMA ]; then
	unbind "$BDF" nvme > /tmp/err || fail "unbind $BDF: $(cat /tmp/err)"
	set_type "$G" DMA > /tmp/err || { bind "$BDF" nvme; fail "write DMA: $(cat /tmp/err)"; }
	bind "$BDF" nvme > /tmp/err || fail "bind $BDF: $(cat /tmp/err)"
	wait_for /sys/block/nvme0n1 100 || fail "nvme0n1 did not come back"
fi
rate_of() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } } END { printf "%d", v["ops"] / v["secs"] }' "$1"; }
dma-load -d "$DEV" -b 64K -S -t 2 > /tmp/r64.out || fail "dma-load -S failed: $(cat /tmp/r64.out)"
dma-load -d "$DEV" -b 4K -t 2 > /tmp/r4.out || fail "dma-load failed"
R64=$(rate_of /tmp/r64.out) R4=$(rate_of /tmp/r4.out)
LAZY_ABOVE=$(( (R64 < R4 ? R64 : R4) / 10 ))
[ "$LAZY_ABOVE" -ge 20 ] || fail "the workload is too slow to test with: $(cat /tmp/r64.out /tmp/r4.out)"
say "kernel $(uname -r): nvme $BDF group $G $(group_type "$G"); strict reads/s: 64 KiB scattered $R64, 4 KiB $R4; lazy_above_unmaps_per_sec = $LAZY_ABOVE"

# min_dwell_s = sustain_s, not the shipped 300: part 3 shows the way back
# within seconds instead of after five minutes of dwell. The dwell itself
# is the policy scenario's and test-policy's; here it could only hide a
# wrong switch, and none of the parts has an idle gap longer than a tick
# (the loads follow one another) for a short dwell to act on.
cat > "$CONF" <<EOF2
[daemon]
interval_ms = $INTERVAL_MS
mode = enforce
admin_group =
[policy]
lazy_above_unmaps_per_sec = $LAZY_ABOVE
strict_below_unmaps_per_sec = 5
sustain_s = $SUSTAIN_S
min_dwell_s = $SUSTAIN_S
max_switches_per_hour = 60
[driver nvme]
allow_rebind = yes
allow_lazy_when_kernel_forced_strict = yes
EOF2
mkdir -p "$ST"
iommutuned --config "$CONF" --socket "$SOCK" --state-dir "$ST" > "$LOG" 2>&1 & DAEMON=$!
trap 'kill $DAEMON ${LOAD:-} 2>/dev/null || true' EXIT
wait_for "$SOCK" 150 || { cat "$LOG"; fail "iommutuned did not open $SOCK"; }
i=0
until ctl --json status > /tmp/st.json 2>/dev/null &&
      [ "$(json_flat < /tmp/st.json | grep '^ticks=' | cut -d= -f2)" -ge 2 ]; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "the daemon does not tick"
	sleep 0.2
done
grep -E "IOVA-based|Unmaps by device|Flush model" "$LOG" | sed 's/^/    log: /' || true

# The group's unmap rate tick by tick, from `iommuctl --json watch` (one
# line per tick), with the nvme's completed reads (/sys/block/nvme0n1/stat)
# read at most 0.2 s after each line came: "TICK RATE READS UPTIME_CS"
# lines from the watch output $1 and the samples $2 ("UPTIME_CS READS
# LINES_SO_FAR").
sample_reads() { read -r rd _ < /sys/block/nvme0n1/stat; echo "$(uptime_cs) $rd $(wc -l < "$1")" >> "$2"; }
tick_rates() {
	k=0 samples=$2
	while read -r line; do
		k=$((k + 1))
		echo "$line" | json_flat > /tmp/watch.flat
		t=$(jget /tmp/watch.flat tick) r=$(jget /tmp/watch.flat groups.0.unmap_rate.unmaps_per_sec)
		set -- $(awk -v k=$k '$3 >= k { print $2, $1; exit }' "$samples")
		[ -n "$t" ] && [ -n "$r" ] && [ $# = 2 ] && echo "$t ${r%%.*} $1 $2"
	done < "$1" | awk '!seen[$1]++'
}

# --- 1. 64 KiB scattered reads: nothing to save -----------------------------------------
say "64 KiB reads on the IOVA DMA API path: stays strict"
HOLD_CS=$((SUSTAIN_S * 100 + 4 * TICK_CS))
dma-load -d "$DEV" -b 64K -S -t 100000 > /tmp/load.out 2>&1 & LOAD=$!
T0=$(uptime_cs)
TYPES=
rm -f /tmp/reads1
ctl --json --group "$G" watch > /tmp/watch1 2>/dev/null & WATCH=$!
while [ $(( $(uptime_cs) - T0 )) -lt "$HOLD_CS" ]; do
	read_type "$G"
	case " $TYPES " in *" $RT "*) ;; *) TYPES="$TYPES $RT" ;; esac
	sample_reads /tmp/watch1 /tmp/reads1
	sleep 0.2
done
kill "$WATCH" 2>/dev/null || true; wait "$WATCH" 2>/dev/null || true
tick_rates /tmp/watch1 /tmp/reads1 > /tmp/ticks1
ctl explain "$G" > /tmp/explain.out 2>&1 || true
sed 's/^/    explain: /' /tmp/explain.out
check "the nvme stays strict for sustain_s + 4 ticks under 64 KiB IOVA-API reads (types seen:$TYPES)" [ "$TYPES" = " DMA" ]
check "explain says lazy would save nothing on the IOVA DMA API" \
	grep -Eq "lazy would save [0-9]+ of [0-9]+ unmaps/s.*IOVA DMA API" /tmp/explain.out
# Not the last tick's rate against the rate measured before the daemon
# started: on the test bed's emulated machine the same load runs several
# times slower tick by tick while the host is busy (64 KiB scattered reads:
# 1515/s before the daemon started, then 1615, 1380, 567, 239 and 393 in
# consecutive ticks, the block layer's completed reads agreeing), so the
# last tick alone can be far below it. What shows the group is kept strict
# by its avoidable rate, not by a low raw one, is a raw rate above
# lazy_above_unmaps_per_sec in as many consecutive ticks as would switch it.
awk '{ printf "    tick %d: the daemon measured %d unmaps/s", $1, $2
       if (NR > 1 && $4 > pc) printf "; the nvme completed %d reads/s since the line before", ($3 - pr) * 100 / ($4 - pc)
       printf "\n"; pr = $3; pc = $4 }' /tmp/ticks1 2>/dev/null || true
RUN=$(awk -v lim="$LAZY_ABOVE" '{ run = ($1 == pt + 1 && run && $2 > lim) ? run + 1 : ($2 > lim); if (run > best) best = run; pt = $1 }
	END { print best + 0 }' /tmp/ticks1 2>/dev/null || echo 0)
check "while its unmap rate was above lazy_above_unmaps_per_sec = $LAZY_ABOVE in $RUN consecutive ticks (sustain_s + 1 = $((SUSTAIN_S + 1)) wanted)" \
	[ "$RUN" -ge $((SUSTAIN_S + 1)) ]
kill "$LOAD"; wait "$LOAD" 2>/dev/null || true; LOAD=

# --- 2. 4 KiB reads: the flush queue's path, lazy ---------------------------------------
say "4 KiB reads on the map/unmap API: goes lazy"
LAZY_BOUND=$((SUSTAIN_S * 100 + 3 * TICK_CS + 50))
dma-load -d "$DEV" -b 4K -t 100000 > /tmp/load.out 2>&1 & LOAD=$!
T0=$(uptime_cs)
T_LAZY=
while :; do
	read_type "$G"; at=$(( $(uptime_cs) - T0 ))
	[ "$RT" = DMA-FQ ] && { T_LAZY=$at; break; }
	[ "$at" -le $((LAZY_BOUND + 300)) ] || break
	sleep 0.1
done
ctl explain "$G" > /tmp/explain.out 2>&1 || true
sed 's/^/    explain: /' /tmp/explain.out
echo "measured 4 KiB reads: DMA -> DMA-FQ ${T_LAZY:-never} cs after the load started (bound $LAZY_BOUND cs)"
check "the nvme goes lazy within sustain_s + 2 ticks (+1 tick, +0.5 s): ${T_LAZY:-never} <= $LAZY_BOUND" \
	[ "${T_LAZY:-99999}" -le "$LAZY_BOUND" ]
kill "$LOAD"; wait "$LOAD" 2>/dev/null || true; LOAD=
[ -n "$T_LAZY" ] || finish

# --- 3. 64 KiB scattered reads again: lazy saves nothing, back to strict ----------------
# The rebind takes the nvme from under dma-load, whose reads then fail: it
# is only the load that shows the way back, and is stopped after it.
say "64 KiB reads again, lazy: goes strict, lazy saves nothing"
STRICT_BOUND=$((SUSTAIN_S * 100 + 3 * TICK_CS + 150))
dma-load -d "$DEV" -b 64K -S -t 100000 > /tmp/load.out 2>&1 & LOAD=$!
T0=$(uptime_cs)
T_STRICT=
rm -f /tmp/explain.back
while :; do
	read_type "$G"; at=$(( $(uptime_cs) - T0 ))
	[ "$RT" = DMA ] && { T_STRICT=$at; break; }
	[ "$at" -le $((STRICT_BOUND + 300)) ] || break
	# What explain said last while the group was still lazy (the daemon
	# may have switched since read_type): the reason it is going strict.
	ctl explain "$G" > /tmp/explain.tmp 2>&1 && grep -q "^Group $G (DMA-FQ)" /tmp/explain.tmp &&
		mv /tmp/explain.tmp /tmp/explain.back
	sleep 0.1
done
kill "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true; LOAD=
sed 's/^/    explain (last while lazy): /' /tmp/explain.back 2>/dev/null || true
grep "Group $G DMA-FQ -> DMA" "$LOG" | sed 's/^/    log: /' || true
echo "measured 64 KiB reads while lazy: DMA-FQ -> DMA ${T_STRICT:-never} cs after the load started (bound $STRICT_BOUND cs = sustain_s + 3 ticks + 1.5 s for the rebind)"
check "the nvme goes strict again within sustain_s + 3 ticks + 1.5 s: ${T_STRICT:-never} <= $STRICT_BOUND" \
	[ "${T_STRICT:-99999}" -le "$STRICT_BOUND" ]
check "explain, while lazy, said lazy would save 0 of the group's unmaps (IOVA DMA API), below strict_below_unmaps_per_sec" \
	grep -Eq "reason: policy auto: lazy would save 0 of [0-9]+ unmaps/s.*IOVA DMA API\), below strict_below_unmaps_per_sec = 5 for [0-9]+ s \(sustain_s = $SUSTAIN_S\)" /tmp/explain.back
RATE=$(sed -n 's/.*unmap rate: \([0-9]*\)\/s.*/\1/p' /tmp/explain.back 2>/dev/null | head -1)
check "while its unmap rate (${RATE:-?}/s) is above lazy_above_unmaps_per_sec = $LAZY_ABOVE" [ "${RATE:-0}" -gt "$LAZY_ABOVE" ]
check "the daemon logged the switch back to strict" grep -q "Group $G DMA-FQ -> DMA: done" "$LOG"
wait_for "/sys/bus/pci/devices/$BDF/driver" 100 || true
check "nvme bound again after the rebind (driver $(driver_of "$BDF"))" [ "$(driver_of "$BDF")" = nvme ]
finish
