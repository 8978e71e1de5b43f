#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# overhead: what the daemon's sampling costs the DMA workload. A benchmark:
# it prints figures and asserts nothing about them (it fails only when a
# run fails).
#
# For each group type of the nvme (OVERHEAD_TYPES, default "DMA-FQ DMA")
# and each block size (OVERHEAD_SIZES, default "64K 4K"), OVERHEAD_PAIRS
# (default 6) pairs of one fixed dma-load run (O_DIRECT reads of
# /dev/nvme0n1 for OVERHEAD_SECS, default 3 s): one with iommutuned
# stopped, one with it running, the order alternating from pair to pair
# (off/on, on/off, ...) so a drift of the host's speed hits both sides.
# The daemon runs in advise mode (nothing switches) with everything it
# opens on VT-d: perf counters on iommu:map and iommu:unmap, a ring buffer
# of iommu:unmap records filtered in the kernel (size >= the gather model's
# threshold) and one of every intel_iommu:qi_submit descriptor. Stopped, it
# has closed them all and the tracepoints are off again.
#
# Prints each run's MB/s, the daemon's CPU time in its runs, the median of
# each side, the ratio median(on) / median(off) and, less sensitive to a
# host whose speed drifts (TCG shares the host's cores with whatever else
# runs there), the median of the pairs' own on/off ratios; per (type,
# size), with a distribution-free confidence interval for that median and
# a sign test (median_ci). The issue's target is a ratio of 0.98 or more.
#
# Environment (tests/vm/run --env NAME=VALUE): OVERHEAD_TYPES,
# OVERHEAD_SIZES, OVERHEAD_PAIRS, OVERHEAD_SECS, and OVERHEAD_INTERVAL_MS
# (the daemon's interval_ms; default the daemon's own, 1000): with 60000
# no tick falls in a run, so "on" costs only what the kernel does for the
# open perf events, not the daemon's own CPU time. OVERHEAD_HIDE: event
# directories under tracefs' events/, comma-separated
# (intel_iommu/qi_submit); with it every pair becomes a triple with a third
# side, "hidden": the daemon running with those events hidden from it (an
# empty directory bound over each, in a mount namespace of its own), so
# it runs without that sampler. The three sides rotate; the difference
# between "on" and "hidden" is what that sampler costs.
set -eu
. /vm/lib.sh

TYPES=${OVERHEAD_TYPES:-DMA-FQ DMA}
SIZES=${OVERHEAD_SIZES:-64K 4K}
PAIRS=${OVERHEAD_PAIRS:-6}
SECS=${OVERHEAD_SECS:-3}
DEV=/dev/nvme0n1
BDF=$(nvme_bdf)
G=$(group_of "$BDF")
SOCK=/tmp/bench.sock
ST=/tmp/bench-state
CONF=/tmp/bench.conf
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

command -v iommutuned >/dev/null || fail "iommutuned is not in the initramfs"
printf '[daemon]\nmode = advise\n' > "$CONF"
[ -n "${OVERHEAD_INTERVAL_MS:-}" ] && echo "interval_ms = $OVERHEAD_INTERVAL_MS" >> "$CONF"

set_nvme_type() {
	[ "$(group_type "$G")" = "$1" ] && return 0
	if [ "$1" = DMA-FQ ]; then
		out=$(set_type "$G" DMA-FQ) || fail "live DMA -> DMA-FQ of group $G: $out"
	else
		unbind "$BDF" nvme > /tmp/err || fail "unbind $BDF: $(cat /tmp/err)"
		out=$(set_type "$G" "$1") || { bind "$BDF" nvme; fail "write $1 to group $G: $out"; }
		bind "$BDF" nvme > /tmp/err || fail "bind $BDF: $(cat /tmp/err)"
		wait_for /sys/block/nvme0n1 100 || fail "nvme0n1 did not come back"
	fi
	hw=$(cat /sys/block/nvme0n1/queue/max_hw_sectors_kb)
	[ "$hw" -gt 4096 ] && hw=4096
	echo "$hw" > /sys/block/nvme0n1/queue/max_sectors_kb
	[ "$(group_type "$G")" = "$1" ] || fail "group $G is $(group_type "$G"), not $1"
}

SIDES="off on"
[ -n "${OVERHEAD_HIDE:-}" ] && SIDES="off on hidden"

DAEMON=
# daemon_start [hidden]
daemon_start() {
	rm -f "$SOCK"
	if [ "${1:-}" = hidden ]; then
		mkdir -p /tmp/empty
		# shellcheck disable=SC2016
		unshare -m sh -c 'mount --make-rprivate / && for e in $(echo "$0" | tr , " "); do
				mount --bind /tmp/empty "/sys/kernel/tracing/events/$e" || exit 1
			done && exec iommutuned "$@"' "$OVERHEAD_HIDE" \
			--config "$CONF" --socket "$SOCK" --state-dir "$ST" > /tmp/bench-daemon.log 2>&1 &
	else
		iommutuned --config "$CONF" --socket "$SOCK" --state-dir "$ST" > /tmp/bench-daemon.log 2>&1 &
	fi
	DAEMON=$!
	wait_for "$SOCK" 200 || { cat /tmp/bench-daemon.log; fail "iommutuned did not open $SOCK"; }
	# The samplers are open before the socket; let the first tick pass too.
	sleep 1
	kill -0 "$DAEMON" 2>/dev/null || { cat /tmp/bench-daemon.log; fail "iommutuned exited"; }
}
daemon_cpu() { awk '{ print $14 + $15 }' "/proc/$DAEMON/stat"; }
daemon_stop() {
	kill "$DAEMON"
	wait "$DAEMON" || fail "iommutuned exited with $? (log: $(cat /tmp/bench-daemon.log))"
	DAEMON=
}

# one SIDE SIZE: one dma-load run without the daemon (off), with it (on),
# or with it blind to OVERHEAD_HIDE (hidden). Appends MB/s to
# /tmp/SIDE.mbps, the daemon's CPU time to /tmp/SIDE.cpu.
one() {
	side=$1 bs=$2
	if [ "$side" = off ]; then sleep 1; else daemon_start "$side"; c0=$(daemon_cpu); fi
	dma-load -d "$DEV" -b "$bs" -t "$SECS" > /tmp/run.out 2>&1 ||
		fail "dma-load -b $bs -t $SECS ($side): $(cat /tmp/run.out)"
	mbps=$(sed -n 's/.* MBps=\([0-9.]*\).*/\1/p' /tmp/run.out)
	ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' /tmp/run.out)
	[ -n "$mbps" ] || fail "no MBps in: $(cat /tmp/run.out)"
	extra=
	if [ "$side" != off ]; then
		c1=$(daemon_cpu)
		cpu_ms=$(( (c1 - c0) * 1000 / HZ ))
		extra=" daemon_cpu_ms=$cpu_ms"
		echo "$cpu_ms" >> "/tmp/$side.cpu"
		daemon_stop
	fi
	echo "$mbps" >> "/tmp/$side.mbps"
	echo "$mbps" > "/tmp/$side.last"
	echo "measured $TYPE $bs pair $PAIR $side: MBps=$mbps ops=$ops$extra"
}

# median_ci FILE: "[lo, hi] at C %, sign test: B of N below 1, p=P" for
# the median of the values in FILE: the distribution-free interval
# between the k-th smallest and the k-th largest, k the largest with
# P(Binomial(n, 1/2) < k) <= 2.5 % (so at least 95 % coverage, exactly
# as printed), and the two-sided sign test of "the median ratio is 1".
median_ci() {
	sort -n "$1" | awk '{ v[NR] = $1; below += ($1 < 1); above += ($1 > 1) }
	function cdf(x, n,   i, c, p) { p = 0; c = 1; for (i = 0; i <= x; i++) { p += c; c = c * (n - i) / (i + 1) } for (i = 0; i < n; i++) p /= 2; return p }
	END {
		n = NR; k = 0
		while (k + 1 <= n && cdf(k, n) <= 0.025) k++
		m = below < above ? below : above; p = 2 * cdf(m, below + above); if (p > 1) p = 1
		if (k < 1) printf "no interval with %d pairs", n
		else printf "[%.3f, %.3f] at %.1f %%", v[k], v[n - k + 1], (1 - 2 * cdf(k - 1, n)) * 100
		printf ", sign test: %d of %d below 1, p=%.3f", below, n, p
	}'
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f\n", a / b; else print 0 }'; }
# rotated N WORDS...: the words rotated left by N.
rotated() {
	n=$1; shift
	i=0
	while [ "$i" -lt "$n" ]; do first=$1; shift; set -- "$@" "$first"; i=$((i + 1)); done
	echo "$@"
}

say "overhead: kernel $(uname -r), nvme $BDF group $G; $PAIRS rounds of ${SECS} s O_DIRECT reads per type and size ($SIDES); interval_ms ${OVERHEAD_INTERVAL_MS:-1000}${OVERHEAD_HIDE:+; hidden from the daemon: $OVERHEAD_HIDE}"
iommutuned --version
: > /tmp/summary
# The daemon's own CPU time per tick with no workload, for scale.
set_nvme_type "${TYPES%% *}"
daemon_start
t0=$(iommuctl --socket "$SOCK" --json status | json_flat > /tmp/st.flat; jget /tmp/st.flat ticks) c0=$(daemon_cpu)
sleep 10
t1=$(iommuctl --socket "$SOCK" --json status | json_flat > /tmp/st.flat; jget /tmp/st.flat ticks) c1=$(daemon_cpu)
own=$(iommuctl --socket "$SOCK" status | sed -n 's/^Own cost: //p')
daemon_stop
idle="daemon idle: $(( (c1 - c0) * 1000 / HZ )) ms CPU in $((t1 - t0)) ticks; its own account: $own"
echo "measured $idle"
echo "$idle" >> /tmp/summary
NSIDES=$(echo $SIDES | wc -w)
for TYPE in $TYPES; do
	set_nvme_type "$TYPE"
	for BS in $SIZES; do
		for sd in $SIDES; do : > "/tmp/$sd.mbps"; : > "/tmp/$sd.cpu"; : > "/tmp/$sd.pairs"; done
		# Warm-up run, not counted.
		dma-load -d "$DEV" -b "$BS" -t 1 > /dev/null || fail "warm-up dma-load -b $BS failed"
		PAIR=1
		while [ "$PAIR" -le "$PAIRS" ]; do
			# Pair 1 off on, pair 2 on off, ... (three sides: rotated).
			# shellcheck disable=SC2046
			for sd in $(rotated $(( (PAIR - 1) % NSIDES )) $SIDES); do one "$sd" "$BS"; done
			line=
			for sd in $SIDES; do
				[ "$sd" = off ] && continue
				pr=$(ratio "$(cat "/tmp/$sd.last")" "$(cat /tmp/off.last)")
				echo "$pr" >> "/tmp/$sd.pairs"
				line="$line $sd/off $pr"
			done
			echo "measured $TYPE $BS pair $PAIR:$line"
			PAIR=$((PAIR + 1))
		done
		m_off=$(median /tmp/off.mbps)
		line="$TYPE $BS: median without the daemon $m_off MB/s"
		for sd in $SIDES; do
			[ "$sd" = off ] && continue
			m=$(median "/tmp/$sd.mbps")
			line="$line; $sd $m MB/s: ratio $(ratio "$m" "$m_off"), median of the pairs' ratios $(median "/tmp/$sd.pairs") $(median_ci "/tmp/$sd.pairs") (pairs: $(tr '\n' ' ' < "/tmp/$sd.pairs" | sed 's/ $//')), daemon CPU per ${SECS} s run: median $(median "/tmp/$sd.cpu") ms"
		done
		echo "measured $line"
		echo "$line" >> /tmp/summary
	done
done
say "the daemon's log of its last run:"
sed 's/^/  | /' /tmp/bench-daemon.log
say "summary (ratio: median with / median without; target >= 0.98):"
sed 's/^/measured summary: /' /tmp/summary
exit 0
