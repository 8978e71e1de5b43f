#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# soak: iommutuned under churn for SOAK_SECONDS (default 660; tests/vm/run
# --env SOAK_SECONDS=N). A random schedule (seed SOAK_SEED, printed; any
# seed from /dev/urandom by default) of:
#   - dma-load on the nvme and on the virtio-blk disk, started and stopped
#     (4K to 3M, reads and writes, some on huge pages, some stopped early);
#   - TCP (net-blast) between the two e1000e NICs, each moved into a
#     network namespace of its own for the episode;
#   - iommuctl clients: status, groups, savings, metrics, explain, show,
#     and watch streams, some killed mid-stream, some left to the daemon's
#     death;
#   - configuration reloads, by `iommuctl reload` and by SIGHUP, between two
#     valid configurations, and now and then an invalid one that must be
#     refused (the running configuration stays);
#   - SIGKILL of the daemon at random moments, and restarts with
#     IOMMUTUNED_TEST_CRASH_AT_STEP=N so that it also dies in the middle of
#     a switch (or of its recovery); every start recovers from the intent
#     log first.
# The configuration lets the daemon switch the four devices' groups often
# (policy auto, allow_rebind, sustain_s 1, min_dwell_s 2, 60 switches an
# hour, low thresholds); every other group is "keep".
#
# The first part (SOAK_KILL_PERCENT, default 45 %, of the time) kills; the
# rest is one daemon lifetime whose VmRSS is sampled.
#
# Checked, and printed as figures:
#   - counters never go backwards: within a lifetime every `iommuctl --json
#     savings` total is >= the one before; after every death the totals the
#     restarted daemon reports are >= what state.json held at the death
#     (read once the daemon is dead: the daemon saves every 10 s, so up to
#     10 s of counts die with it; how many is printed as "lost");
#   - memory: VmRSS of the long lifetime after a warm-up (SOAK_WARMUP,
#     default 60 s) grows by at most 10 % + 256 KiB;
#   - at the end (after a clean stop): every PCI device that had a driver
#     before the soak has it again, each of the four groups is DMA or DMA-FQ,
#     every other group has the type it had, no intent record is left and no
#     group needs attention; both disks read.
set -eu
. /vm/lib.sh

SOAK_SECONDS=${SOAK_SECONDS:-660}
KILL_PERCENT=${SOAK_KILL_PERCENT:-45}
W=/tmp/soak
ST=$W/state
CONF=$W/iommutuned.conf
SOCK=/run/iommutuned/soak.sock
LOG=$W/daemon.log
mkdir -p "$W" "$ST"
: > "$LOG"

command -v iommutuned >/dev/null || fail "iommutuned is not in the initramfs"
command -v iommuctl >/dev/null || fail "iommuctl is not in the initramfs"

# --- random numbers: an LCG, so that a seed replays the schedule -------------
SEED=${SOAK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')}
RNG=$SEED
# rnd N: R = a number in 0..N-1.
rnd() {
	RNG=$(( (RNG * 1103515245 + 12345) % 2147483648 ))
	R=$(( (RNG / 65536) % $1 ))
}
now_s() { cut -d. -f1 /proc/uptime; }
# sched WHAT: a line in the soak's own log of what it did.
sched() { echo "t=$(( $(now_s) - ${T0:-0} )) $*" >> $W/schedule; }
# sleep_cs N: sleep N hundredths of a second.
sleep_cs() { sleep "$(( $1 / 100 )).$(printf '%02d' $(( $1 % 100 )))"; }
# A process that exists and is not a zombie.
running() { [ -n "$1" ] && [ -e "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# --- the devices ---------------------------------------------------------------
NVME=$(nvme_bdf)
VDA=$(basename "$(dirname "$(readlink -f /sys/block/vda/device)")")
NICS=
for n in /sys/class/net/eth*; do
	[ "$(basename "$(readlink "$n/device/driver")")" = e1000e ] &&
		NICS="$NICS $(basename "$(readlink -f "$n/device")")"
done
set -- $NICS
[ $# -ge 2 ] || fail "expected two e1000e NICs, found:$NICS"
NIC1=$1 NIC2=$2
TOUCHED="$NVME $VDA $NIC1 $NIC2"
TOUCHED_GROUPS=
for d in $TOUCHED; do TOUCHED_GROUPS="$TOUCHED_GROUPS $(group_of "$d")"; done
is_touched_group() { for _tg in $TOUCHED_GROUPS; do [ "$_tg" = "$1" ] && return 0; done; return 1; }
netdev_of() { ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n 1; }
# iommuctl with a deadline: a daemon that stops answering fails the
# client instead of hanging the soak.
ctl() { timeout 30 iommuctl --socket "$SOCK" "$@"; }

# What was there before: drivers and group types.
for p in /sys/bus/pci/devices/*; do echo "$(basename "$p") $(driver_of "$(basename "$p")")"; done > $W/drivers.before
for g in /sys/kernel/iommu_groups/*; do echo "$(basename "$g") $(cat "$g/type")"; done > $W/types.before
say "soak: ${SOAK_SECONDS} s, seed $SEED, kernel $(uname -r); nvme $NVME, virtio-blk $VDA, e1000e $NIC1 $NIC2 (groups$TOUCHED_GROUPS)"
while read -r g t; do echo "   group $g: $t$(is_touched_group "$g" && echo ' (the daemon may switch it)')"; done < $W/types.before

# --- configurations ----------------------------------------------------------------
# conf_valid A|B: two valid configurations that differ in their numbers.
conf_valid() {
	if [ "$1" = A ]; then iv=500 la=200 sb=20; else iv=1000 la=400 sb=50; fi
	{
		echo "# soak configuration $1"
		echo "[daemon]"
		echo "mode = enforce"
		echo "interval_ms = $iv"
		echo "[policy]"
		echo "default = keep"
		echo "lazy_above_unmaps_per_sec = $la"
		echo "strict_below_unmaps_per_sec = $sb"
		echo "sustain_s = 1"
		echo "min_dwell_s = 2"
		echo "max_switches_per_hour = 60"
		for d in $TOUCHED; do
			echo "[device $d]"
			echo "policy = auto"
			echo "allow_rebind = yes"
		done
	} > "$CONF.new"
	mv "$CONF.new" "$CONF"
	CONF_NOW=$1
}
conf_invalid() {
	{
		echo "[daemon]"
		echo "mode = sometimes"
		echo "[policy]"
		echo "sustain_s = -1"
	} > "$CONF.new"
	mv "$CONF.new" "$CONF"
}
conf_valid A

# --- counters -----------------------------------------------------------------------
# The totals, as "name value" lines in a fixed order: from state.json (its
# names) or from `iommuctl --json savings` (the protocol's names).
STATE_KEYS="maps unmaps iotlb_invalidations iotlb_page_selective devtlb_invalidations strict_model_invalidations unpatched_model_invalidations avoided_vs_strict avoided_by_patch time_saved_ns"
SAVINGS_KEYS="maps unmaps invalidations invalidations_page_selective device_tlb_invalidations strict_would_cost unpatched_lazy_would_cost avoided_vs_strict avoided_by_patch time_saved_ns"
totals_from_state() { # OUT
	if [ ! -s "$ST/state.json" ]; then
		for k in $STATE_KEYS; do echo "$k 0"; done > "$1"
		return 0
	fi
	json_flat < "$ST/state.json" > $W/state.flat
	for k in $STATE_KEYS; do echo "$k $(jget $W/state.flat "total.$k")"; done > "$1"
}
totals_from_daemon() { # OUT: 1 when the daemon did not answer
	out=$1
	ctl --json savings > $W/savings.json 2> $W/savings.err || return 1
	json_flat < $W/savings.json > $W/savings.flat
	set -- $STATE_KEYS
	for k in $SAVINGS_KEYS; do echo "$1 $(jget $W/savings.flat "total.$k")"; shift; done > "$W/totals.tmp"
	grep -q ' $' "$W/totals.tmp" && { echo "note: savings without totals: $(cat $W/savings.json | head -c 300)"; return 1; }
	mv "$W/totals.tmp" "$out"
}
# ge NEW OLD: every counter in NEW >= the one in OLD; prints the ones that are not.
ge() {
	awk 'NR == FNR { old[$1] = $2; next } ($2 + 0 < old[$1] + 0) { printf " %s %s < %s", $1, $2, old[$1]; bad = 1 } END { exit bad }' "$2" "$1"
}
# diff_unmaps NEW OLD: unmaps(NEW) - unmaps(OLD).
diff_unmaps() { echo $(( $(awk '$1 == "unmaps" { print $2 }' "$1") - $(awk '$1 == "unmaps" { print $2 }' "$2") )); }

STATE_AGE_MAX=0 LIFE_START=0
BACKWARDS=0 CHECKS_LIVE=0 CHECKS_RESTART=0 LOST_UNMAPS=0 LOST_MAX=0

# --- the daemon ------------------------------------------------------------------------
DAEMON='' HOOK_NOW='' LIFETIME=0 KILLS=0 MIDSWITCH_KILLS=0 HOOK_DEATHS=0 START_FAILS=0 HOOK_STARTS=0
# daemon_start [CRASH_STEP]: starts it and waits until it answers on the
# socket (or dies); checks the totals it reports against state.json.
daemon_start() {
	LIFETIME=$((LIFETIME + 1))
	HOOK_NOW=${1:-}
	totals_from_state $W/baseline
	echo "---- lifetime $LIFETIME (t=$(( $(now_s) - T0 )) s)${1:+ IOMMUTUNED_TEST_CRASH_AT_STEP=$1}" >> "$LOG"
	if [ -n "${1:-}" ]; then
		HOOK_STARTS=$((HOOK_STARTS + 1))
		IOMMUTUNED_TEST_CRASH_AT_STEP=$1 iommutuned --config "$CONF" --socket "$SOCK" --state-dir "$ST" >> "$LOG" 2>&1 &
	else
		iommutuned --config "$CONF" --socket "$SOCK" --state-dir "$ST" >> "$LOG" 2>&1 &
	fi
	DAEMON=$!
	LIFE_START=$(now_s)
	: > "$W/rss.$LIFETIME"
	i=0
	while :; do
		if ! running "$DAEMON"; then
			wait "$DAEMON" && rc=0 || rc=$?
			echo "note: lifetime $LIFETIME: the daemon died while starting (exit $rc)"
			[ "$rc" = 137 ] && [ -n "${1:-}" ] && HOOK_DEATHS=$((HOOK_DEATHS + 1)) || START_FAILS=$((START_FAILS + 1))
			DAEMON=
			return 0
		fi
		ctl --json status > $W/status.json 2>/dev/null &&
			json_flat < $W/status.json > $W/status.flat &&
			[ "$(jget $W/status.flat pid)" = "$DAEMON" ] && break
		i=$((i + 1))
		[ $i -lt 600 ] || fail "lifetime $LIFETIME: the daemon did not answer in 60 s (log: $(tail -n 20 "$LOG"))"
		sleep 0.1
	done
	if totals_from_daemon $W/last; then
		CHECKS_RESTART=$((CHECKS_RESTART + 1))
		if ! out=$(ge $W/last $W/baseline); then
			echo "FAIL: lifetime $LIFETIME: totals after the restart are below state.json at the death:$out"
			BACKWARDS=$((BACKWARDS + 1))
		fi
	fi
}
# daemon_died: the daemon is gone (killed or dead by itself): reap it and
# count what died with it.
daemon_died() {
	totals_from_state $W/atdeath
	if [ -s $W/last ]; then
		lost=$(diff_unmaps $W/last $W/atdeath)
		[ "$lost" -gt 0 ] || lost=0
		LOST_UNMAPS=$((LOST_UNMAPS + lost))
		[ "$lost" -gt "$LOST_MAX" ] && LOST_MAX=$lost
		# What state.json holds at a death never goes backwards either.
		if [ -s $W/prevdeath ] && ! out=$(ge $W/atdeath $W/prevdeath); then
			echo "FAIL: lifetime $LIFETIME: state.json at this death is below the one at the previous:$out"
			BACKWARDS=$((BACKWARDS + 1))
		fi
	fi
	cp $W/atdeath $W/prevdeath
	rm -f $W/last
	DAEMON=
}
daemon_kill() {
	totals_from_state $W/beforekill
	# How old the saved counters are (the daemon saves every 10 s), for a
	# daemon that lived long enough to have saved on its own.
	if [ $(( $(now_s) - LIFE_START )) -ge 15 ] && [ -e "$ST/state.json" ]; then
		age=$(( $(date +%s) - $(stat -c %Y "$ST/state.json") ))
		[ "$age" -gt "$STATE_AGE_MAX" ] && STATE_AGE_MAX=$age
	fi
	sched "SIGKILL $DAEMON"
	kill -KILL "$DAEMON" 2>/dev/null || true
	# A process stuck in the kernel does not die: say so rather than wait.
	i=0
	while running "$DAEMON"; do
		i=$((i + 1))
		if [ $i -ge 300 ]; then
			echo "FAIL: the daemon (pid $DAEMON) did not die within 30 s of SIGKILL: state $(awk '{ print $3 }' "/proc/$DAEMON/stat"), kernel stack:"
			sed 's/^/    /' "/proc/$DAEMON/stack" 2>/dev/null || true
			dmesg | tail -n 60 | sed 's/^/    kernel: /'
			exit 1
		fi
		sleep 0.1
	done
	wait "$DAEMON" 2>/dev/null || true
	KILLS=$((KILLS + 1))
	echo "---- SIGKILL (t=$(( $(now_s) - T0 )) s)" >> "$LOG"
	daemon_died
	if ! out=$(ge $W/atdeath $W/beforekill); then
		echo "FAIL: state.json after the kill is below the one read before it:$out"
		BACKWARDS=$((BACKWARDS + 1))
	fi
}
# kill_mid_switch: SIGKILL while a switch is under way (its intent record
# exists), waiting up to about 8 s for one; a load started or stopped first
# gives the policy a reason to switch. Without one, a kill at that moment.
kill_mid_switch() {
	rnd 2
	if [ "$R" = 0 ]; then load_toggle NVME /dev/nvme0n1; else load_toggle VDA /dev/vda; fi
	i=0 found=0
	while [ $i -lt 400 ]; do
		for f in "$ST"/intent-group-*.json; do [ -e "$f" ] && found=1; done
		[ $found = 1 ] && break
		i=$((i + 1))
		[ $((i % 25)) = 0 ] && { check_alive || return 0; }
		sleep 0.02
	done
	# A record left by a death of its own (the crash hook) is no kill.
	check_alive || return 0
	[ $found = 1 ] && MIDSWITCH_KILLS=$((MIDSWITCH_KILLS + 1))
	daemon_kill
}
# check_alive: notices a daemon that died by itself (the crash hook).
check_alive() {
	[ -n "$DAEMON" ] || return 1
	running "$DAEMON" && return 0
	wait "$DAEMON" && rc=0 || rc=$?
	echo "---- died by itself, exit $rc (t=$(( $(now_s) - T0 )) s)" >> "$LOG"
	if [ "$rc" = 137 ] && [ -n "$HOOK_NOW" ]; then HOOK_DEATHS=$((HOOK_DEATHS + 1)); else
		echo "FAIL: the daemon exited with $rc by itself (log: $(tail -n 20 "$LOG" | tr '\n' '|'))"
		FAILURES=$((FAILURES + 1))
	fi
	daemon_died
	return 1
}
# poll_totals: the live totals must not go backwards within a lifetime.
poll_totals() {
	check_alive || return 0
	totals_from_daemon $W/now || return 0
	if [ -s $W/last ]; then
		CHECKS_LIVE=$((CHECKS_LIVE + 1))
		if ! out=$(ge $W/now $W/last); then
			echo "FAIL: lifetime $LIFETIME: live totals went backwards:$out"
			BACKWARDS=$((BACKWARDS + 1))
		fi
	fi
	mv $W/now $W/last
}
rss_sample() {
	check_alive || return 0
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON/status" 2>/dev/null) || return 0
	[ -z "$rss" ] || echo "$(( $(now_s) - T0 )) $rss" >> "$W/rss.$LIFETIME"
}

# --- workloads ---------------------------------------------------------------------------
LOADS_STARTED=0 LOADS_OK=0 LOADS_FAILED=0 LOADS_STOPPED=0 LOADS_NODEV=0
NVME_PID='' VDA_PID=''
# load_reap NAME PID: 0 when PID is done (or none).
load_reap() {
	[ -n "$2" ] || return 0
	running "$2" && return 1
	if wait "$2"; then LOADS_OK=$((LOADS_OK + 1)); else
		LOADS_FAILED=$((LOADS_FAILED + 1))
		echo "$1: $(tail -n 1 "$W/load.$1" 2>/dev/null)" >> $W/load-failures
	fi
	return 0
}
load_toggle() { # NAME DEV
	eval "pid=\$${1}_PID"
	if [ -n "$pid" ] && running "$pid"; then
		rnd 3
		if [ "$R" = 0 ]; then # stop it early
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			LOADS_STOPPED=$((LOADS_STOPPED + 1))
			eval "${1}_PID="
		fi
		return 0
	fi
	load_reap "$1" "$pid" || true
	eval "${1}_PID="
	[ -b "$2" ] || { LOADS_NODEV=$((LOADS_NODEV + 1)); return 0; }
	rnd 5; bs=$(echo 4K 16K 64K 512K 3M | cut -d' ' -f$((R + 1)))
	rnd 20; secs=$((R + 2))
	args="-d $2 -b $bs -t $secs"
	rnd 4; [ "$R" = 0 ] && args="$args -w"
	rnd 3; { [ "$R" = 0 ] || [ "$bs" = 3M ]; } && args="$args -H"
	# shellcheck disable=SC2086
	dma-load $args > "$W/load.$1" 2>&1 &
	eval "${1}_PID=$!"
	LOADS_STARTED=$((LOADS_STARTED + 1))
	sched "load $1: dma-load $args"
}

NET_PID='' NET_EPISODES=0 NET_OK=0 NET_FAILED=0
# One TCP episode, in the background: both NICs into namespaces, SECS of
# net-blast, namespaces gone (the NICs fall back into the initial one).
net_episode() {
	secs=$1 A='' B='' i=0
	while [ $i -lt 50 ]; do
		A=$(netdev_of "$NIC1") B=$(netdev_of "$NIC2")
		[ -n "$A" ] && [ -n "$B" ] && break
		sleep 0.1; i=$((i + 1))
	done
	[ -n "$A" ] && [ -n "$B" ] || { echo "net: no net devices in the initial namespace ($A/$B)"; return 1; }
	unshare -n sleep $((secs + 40)) & NA=$!
	unshare -n sleep $((secs + 40)) & NB=$!
	sleep 0.2
	rc=0
	{ ip link set "$A" netns "$NA" && ip link set "$B" netns "$NB" &&
		nsenter -t "$NA" -n sh -c "ip addr add 192.0.2.1/24 dev $A && ip link set $A up && ip link set lo up" &&
		nsenter -t "$NB" -n sh -c "ip addr add 192.0.2.2/24 dev $B && ip link set $B up && ip link set lo up"; } ||
		{ echo "net: moving or configuring $A/$B failed"; rc=1; }
	if [ $rc = 0 ]; then
		i=0
		until nsenter -t "$NA" -n ip link show "$A" 2>/dev/null | grep -q LOWER_UP &&
		      nsenter -t "$NB" -n ip link show "$B" 2>/dev/null | grep -q LOWER_UP; do
			i=$((i + 1)); [ $i -lt 100 ] || { echo "net: no carrier after 10 s"; rc=1; break; }
			sleep 0.1
		done
	fi
	if [ $rc = 0 ]; then
		nsenter -t "$NB" -n net-blast recv 5001 $((secs + 15)) > $W/net.recv 2>&1 & RECV=$!
		nsenter -t "$NA" -n net-blast send 192.0.2.2 5001 "$secs" > $W/net.send 2>&1 || rc=1
		wait "$RECV" || rc=1
		[ $rc = 0 ] && echo "net: $(cat $W/net.send) / $(cat $W/net.recv)" || echo "net: $(cat $W/net.send $W/net.recv | tr '\n' ' ')"
	fi
	kill "$NA" "$NB" 2>/dev/null || true
	wait "$NA" "$NB" 2>/dev/null || true
	return $rc
}
net_toggle() {
	if [ -n "$NET_PID" ]; then
		running "$NET_PID" && return 0
		if wait "$NET_PID"; then NET_OK=$((NET_OK + 1)); else NET_FAILED=$((NET_FAILED + 1)); fi
		NET_PID=
		return 0
	fi
	rnd 15; secs=$((R + 2))
	net_episode "$secs" >> $W/net.log 2>&1 &
	NET_PID=$!
	NET_EPISODES=$((NET_EPISODES + 1))
	sched "net: $secs s"
}

# --- clients ---------------------------------------------------------------------------------
CLIENTS=0 CLIENT_FAILS=0 WATCHES=0 WATCHES_KILLED=0 WATCH_LINES=0 WATCH_PIDS=
client_oneshot() {
	check_alive || return 0
	rnd 7
	case $R in
	0) c=status ;; 1) c=groups ;; 2) c=savings ;; 3) c=metrics ;;
	4) c="explain $NVME" ;; 5) c="show $VDA" ;; *) c="show $(group_of "$NIC1")" ;;
	esac
	rnd 2; j=; [ "$R" = 0 ] && j=--json
	CLIENTS=$((CLIENTS + 1))
	sched "iommuctl $j $c"
	# shellcheck disable=SC2086
	if ! ctl $j $c > $W/client.out 2> $W/client.err; then
		# Only a failure while the daemon lives counts.
		if check_alive; then
			CLIENT_FAILS=$((CLIENT_FAILS + 1))
			echo "FAIL: iommuctl $j $c: $(head -c 300 $W/client.err)"
			FAILURES=$((FAILURES + 1))
		fi
	fi
}
watch_start() {
	check_alive || return 0
	WATCHES=$((WATCHES + 1))
	sched "iommuctl watch"
	rnd 2; j=; [ "$R" = 0 ] && j=--json
	iommuctl --socket "$SOCK" $j watch > "$W/watch.$WATCHES" 2>&1 &
	rnd 80
	WATCH_PIDS="$WATCH_PIDS $!:$(( $(now_s) + R / 10 + 1 )):$WATCHES"
}
# watch_reap [all]: kill the watch clients past their time (all of them).
watch_reap() {
	keep=
	for w in $WATCH_PIDS; do
		pid=${w%%:*} rest=${w#*:}; until=${rest%%:*} n=${rest#*:}
		if [ "${1:-}" = all ] || [ "$(now_s)" -ge "$until" ] || ! running "$pid"; then
			if running "$pid"; then
				rnd 2; [ "$R" = 0 ] && sig=KILL || sig=TERM
				kill -$sig "$pid" 2>/dev/null || true
				WATCHES_KILLED=$((WATCHES_KILLED + 1))
			fi
			wait "$pid" 2>/dev/null || true
			WATCH_LINES=$((WATCH_LINES + $(wc -l < "$W/watch.$n")))
			rm -f "$W/watch.$n"
		else
			keep="$keep $w"
		fi
	done
	WATCH_PIDS=$keep
}

# --- reloads ------------------------------------------------------------------------------------
RELOADS=0 RELOADS_HUP=0 INVALID_REFUSED=0 INVALID_TRIED=0
reload_failures() {
	ctl --json status > $W/rs.json 2>/dev/null || return 1
	json_flat < $W/rs.json > $W/rs.flat
	jget $W/rs.flat reload_failures
}
reload() {
	check_alive || return 0
	rnd 5
	invalid=0; [ "$R" = 0 ] && invalid=1
	rnd 2; by=ctl; [ "$R" = 0 ] && by=hup
	before=$(reload_failures) || return 0
	sched "reload by $by$([ $invalid = 1 ] && echo ', invalid')"
	if [ $invalid = 1 ]; then
		INVALID_TRIED=$((INVALID_TRIED + 1))
		conf_invalid
	elif [ "$CONF_NOW" = A ]; then conf_valid B; else conf_valid A; fi
	if [ $by = ctl ]; then
		rc=0
		ctl reload > $W/reload.out 2>&1 || rc=$?
		if [ $invalid = 1 ]; then
			if [ $rc = 1 ] && grep -q invalid $W/reload.out; then INVALID_REFUSED=$((INVALID_REFUSED + 1))
			elif check_alive; then
				echo "FAIL: iommuctl reload of an invalid configuration: exit $rc: $(cat $W/reload.out)"
				FAILURES=$((FAILURES + 1))
			fi
		elif [ $rc != 0 ] && check_alive; then
			echo "FAIL: iommuctl reload of configuration $CONF_NOW: exit $rc: $(cat $W/reload.out)"
			FAILURES=$((FAILURES + 1))
		fi
		RELOADS=$((RELOADS + 1))
	else
		kill -HUP "$DAEMON" 2>/dev/null || true
		RELOADS_HUP=$((RELOADS_HUP + 1))
		if [ $invalid = 1 ]; then
			i=0 after=$before
			while [ $i -lt 50 ] && [ "$after" = "$before" ]; do
				sleep 0.1; i=$((i + 1))
				after=$(reload_failures) || break
			done
			if [ "$after" = $((before + 1)) ]; then INVALID_REFUSED=$((INVALID_REFUSED + 1))
			elif check_alive; then
				echo "FAIL: SIGHUP with an invalid configuration: reload_failures $before -> $after"
				FAILURES=$((FAILURES + 1))
			fi
		else
			sleep 0.2
			after=$(reload_failures) || return 0
			if [ "$after" != "$before" ]; then
				echo "FAIL: SIGHUP with configuration $CONF_NOW: reload_failures $before -> $after"
				FAILURES=$((FAILURES + 1))
			fi
		fi
	fi
	# Never leave the invalid one in place: a restart would not start.
	[ $invalid = 1 ] && conf_valid "$CONF_NOW"
	return 0
}

# --- the schedule -----------------------------------------------------------------------------------
# The kernel's complaints (lockups, hung tasks, warnings) are kept off the
# console (init: dmesg -n 1). A watcher raises the console's log level when
# there is one, so the kernel's next reports print their stacks straight to
# the console (a CPU stuck with interrupts off can stall every user-space
# write to the serial console, never printk), asks for every CPU's
# backtrace and the blocked tasks (SysRq l, w), and ends the run when a
# soft lockup lasts minutes.
echo 1 > /proc/sys/kernel/softlockup_all_cpu_backtrace 2>/dev/null || true
KERNEL_COMPLAINTS='soft lockup|blocked for more than|BUG:|Oops|WARNING:|rcu_sched self-detected|rcu: INFO'
kernel_watch() {
	seen=0
	while :; do
		sleep 5
		n=$(dmesg | grep -cE "$KERNEL_COMPLAINTS" || true)
		if [ "$n" -gt 0 ] && [ "$seen" = 0 ]; then
			dmesg -n 8
			echo l > /proc/sysrq-trigger 2>/dev/null || true
			echo w > /proc/sysrq-trigger 2>/dev/null || true
			# What the soak and the daemon did last, through printk too.
			{ tail -n 12 $W/schedule; tail -n 40 "$LOG"; } 2>/dev/null |
				while read -r l; do echo "<4>soak: $l" > /dev/kmsg; done
			timeout 10 sh -c 'echo "FAIL: kernel: the kernel complained; its log:"
				dmesg | grep -v "Link is\|IPv6" | tail -n 200 | sed "s/^/    kernel: /"' || true
		fi
		seen=$n
		if dmesg | grep -qE 'soft lockup - CPU#[0-9]+ stuck for ([2-9][0-9]{2}|1[2-9][0-9])s'; then
			timeout 10 sh -c 'echo "FAIL: kernel: a CPU has been stuck for minutes; stopping"; echo "@@VM-RESULT rc=1"' || true
			sync
			poweroff -f
		fi
	done
}
kernel_watch &
KWATCH=$!
T0=$(now_s)
END=$((T0 + SOAK_SECONDS))
KILL_UNTIL=$((T0 + SOAK_SECONDS * KILL_PERCENT / 100))
WARMUP=${SOAK_WARMUP:-60}
RESTART_PENDING=0
daemon_start
LONG_LIFETIME=
while [ "$(now_s)" -lt "$END" ]; do
	t=$(now_s)
	if [ -z "$LONG_LIFETIME" ] && [ "$t" -ge "$KILL_UNTIL" ]; then
		# The long lifetime: a fresh daemon, never killed, RSS sampled.
		if check_alive; then daemon_kill; fi
		daemon_start
		while [ -z "$DAEMON" ]; do daemon_start; done
		LONG_LIFETIME=$LIFETIME
		say "t=$((t - T0)) s: lifetime $LIFETIME is the long one (no more kills; RSS sampled)"
	fi
	if ! check_alive; then
		# Dead (killed, or by the crash hook): restart, now or a little later.
		if [ "$RESTART_PENDING" -le "$t" ]; then
			rnd 3
			if [ -z "$LONG_LIFETIME" ] && [ "$R" = 0 ]; then rnd 9; daemon_start $((R + 1)); else daemon_start; fi
		fi
	fi
	rnd 100
	if [ "$R" -lt 18 ]; then load_toggle NVME /dev/nvme0n1
	elif [ "$R" -lt 36 ]; then load_toggle VDA /dev/vda
	elif [ "$R" -lt 46 ]; then net_toggle
	elif [ "$R" -lt 62 ]; then client_oneshot
	elif [ "$R" -lt 70 ]; then watch_start
	elif [ "$R" -lt 78 ]; then reload
	elif [ "$R" -lt 90 ] && [ -z "$LONG_LIFETIME" ] && check_alive; then
		rnd 3
		if [ "$R" = 0 ]; then kill_mid_switch; else daemon_kill; fi
		rnd 4; RESTART_PENDING=$(( $(now_s) + R ))
	fi
	load_reap NVME "$NVME_PID" && NVME_PID=
	load_reap VDA "$VDA_PID" && VDA_PID=
	[ -n "$NET_PID" ] && ! running "$NET_PID" && net_toggle
	watch_reap
	poll_totals
	rss_sample
	rnd 150; sleep_cs $((R + 20))
done

# --- the end -------------------------------------------------------------------------------------
say "t=$(( $(now_s) - T0 )) s: stopping the workloads and clients"
for p in $NVME_PID $VDA_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
if [ -n "$NET_PID" ]; then wait "$NET_PID" && NET_OK=$((NET_OK + 1)) || NET_FAILED=$((NET_FAILED + 1)); fi
watch_reap all
# Quiet for a few ticks, so the daemon settles (idle groups go strict).
sleep 8
poll_totals
rss_sample
check_alive || fail "the daemon of the long lifetime is not running at the end"
ctl --json status > $W/status.json || fail "iommuctl status at the end failed"
json_flat < $W/status.json > $W/status.flat
attention=$(grep -c '^needs_attention\.' $W/status.flat || true)
kill -TERM "$DAEMON"
wait "$DAEMON" && rc=0 || rc=$?
echo "---- SIGTERM (t=$(( $(now_s) - T0 )) s): exit $rc" >> "$LOG"
check "the daemon stops cleanly on SIGTERM at the end (exit $rc)" [ "$rc" = 0 ]
totals_from_state $W/final
if [ -s $W/last ] && ! out=$(ge $W/final $W/last); then
	echo "FAIL: state.json after the clean stop is below the last live totals:$out"
	BACKWARDS=$((BACKWARDS + 1))
fi

# Devices: give a rebind or a namespace's end a moment.
i=0
while [ $i -lt 100 ]; do
	for p in /sys/bus/pci/devices/*; do echo "$(basename "$p") $(driver_of "$(basename "$p")")"; done > $W/drivers.after
	cmp -s $W/drivers.before $W/drivers.after && break
	sleep 0.1; i=$((i + 1))
done
while read -r d drv; do
	[ "$drv" = - ] && continue
	now=$(grep "^$d " $W/drivers.after | cut -d' ' -f2)
	check "$d is bound to $drv again (is ${now:-gone})" [ "$now" = "$drv" ]
done < $W/drivers.before
while read -r g t0; do
	t1=$(group_type "$g" 2>/dev/null || echo gone)
	if is_touched_group "$g"; then
		check "group $g (switched by the daemon) is DMA or DMA-FQ: $t1" [ "$t1" = DMA -o "$t1" = DMA-FQ ]
	else
		check "group $g (policy keep) is still $t0: $t1" [ "$t1" = "$t0" ]
	fi
done < $W/types.before
left=$(ls "$ST" | grep -E '^(intent|attention)-' | tr '\n' ' ' || true)
check "no intent or attention record left in the state directory (${left:-none})" [ -z "$left" ]
check "no group needs attention at the end ($attention)" [ "$attention" = 0 ]
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the nvme reads at the end" dma-load -d /dev/nvme0n1 -b 64K -n 100
check "the virtio-blk disk reads at the end" dma-load -d /dev/vda -b 64K -n 100

kill "$KWATCH" 2>/dev/null || true
check "the kernel did not complain (soft lockup, hung task, BUG, WARNING)" [ "$(dmesg | grep -cE "$KERNEL_COMPLAINTS" || true)" = 0 ]

# --- figures --------------------------------------------------------------------------------------
SWITCHES=$(grep -c ': done: ' "$LOG" || true)
SW_OTHER=$(grep -E '^Group [0-9]+ .* -> .*: ' "$LOG" | grep -vc ': done: ' || true)
RECOVERIES=$(grep -c 'Recovery: ' "$LOG" || true)
HIST=$(json_flat < "$ST/state.json" | grep -c '^history\.[0-9]*\.result=' || true)
echo "measured soak: ${SOAK_SECONDS} s, seed $SEED: $LIFETIME daemon lifetimes; $KILLS SIGKILLs ($MIDSWITCH_KILLS of them while an intent record was there: mid-switch); $HOOK_STARTS starts with the crash hook, $HOOK_DEATHS deaths by it (mid-switch or mid-recovery); $START_FAILS other failed starts"
echo "measured soak: switches logged: $SWITCHES done, $SW_OTHER with another outcome; $RECOVERIES recovery messages; state.json history holds $HIST"
echo "measured soak: workloads: $LOADS_STARTED dma-load started ($LOADS_OK ok, $LOADS_FAILED failed, $LOADS_STOPPED stopped early, $LOADS_NODEV skipped: no device mid-rebind); $NET_EPISODES TCP episodes ($NET_OK ok, $NET_FAILED failed)"
echo "measured soak: clients: $CLIENTS one-shot ($CLIENT_FAILS failed while the daemon lived); $WATCHES watch streams ($WATCHES_KILLED killed mid-stream, $WATCH_LINES lines)"
echo "measured soak: reloads: $RELOADS by iommuctl, $RELOADS_HUP by SIGHUP; $INVALID_TRIED invalid configurations, $INVALID_REFUSED refused as they must be"
echo "measured soak: counters: $CHECKS_LIVE live checks, $CHECKS_RESTART after a start against state.json at the death, $BACKWARDS went backwards; unmaps lost with a killed daemon (not yet saved): $LOST_UNMAPS in all, at most $LOST_MAX at once; state.json at most $STATE_AGE_MAX s old at a SIGKILL"
echo "measured soak: final totals (state.json): $(tr '\n' ' ' < $W/final)"
check "the cumulative counters never went backwards ($BACKWARDS)" [ "$BACKWARDS" = 0 ]
check "invalid configurations were refused ($INVALID_REFUSED of $INVALID_TRIED)" [ "$INVALID_REFUSED" = "$INVALID_TRIED" ]
check "switches happened ($SWITCHES)" [ "$SWITCHES" -gt 0 ]
check "state.json was at most 20 s old at every SIGKILL (saved every 10 s; max $STATE_AGE_MAX s)" [ "$STATE_AGE_MAX" -le 20 ]

# Memory: the long lifetime, after the warm-up.
R_FILE=$W/rss.$LONG_LIFETIME
first=$(head -n 1 "$R_FILE" | cut -d' ' -f1)
awk -v from=$((first + WARMUP)) '$1 >= from' "$R_FILE" > $W/rss.steady
n=$(wc -l < $W/rss.steady)
if [ "$n" -lt 3 ]; then
	echo "note: the long lifetime has $n RSS samples after its warm-up: no memory verdict (SOAK_SECONDS too small)"
else
	set -- $(awk 'NR == 1 { s = $2; t0 = $1 } { if ($2 > m) m = $2; e = $2; t1 = $1 } END { print s, e, m, t1 - t0 }' $W/rss.steady)
	r0=$1 r1=$2 rmax=$3 span=$4
	all=$(awk '{ if ($2 > m) m = $2 } END { print m }' "$R_FILE")
	echo "measured soak: VmRSS of lifetime $LONG_LIFETIME ($(wc -l < "$R_FILE") samples over $(( $(tail -n 1 "$R_FILE" | cut -d' ' -f1) - first )) s): at start $(head -n 1 "$R_FILE" | cut -d' ' -f2) KiB; after the ${WARMUP} s warm-up $r0 KiB, at the end $r1 KiB, max $rmax KiB over $span s ($n samples; max over the whole lifetime $all KiB)"
	limit=$(( r0 + r0 / 10 + 256 ))
	check "VmRSS after the warm-up stays within 10 % + 256 KiB of $r0 KiB (max $rmax, limit $limit)" [ "$rmax" -le "$limit" ]
	echo "measured soak: VmRSS series of lifetime $LONG_LIFETIME (t s: KiB, about every 30 s): $(awk '$1 >= next_t { printf "%s%d: %d", sep, $1, $2; sep = ", "; next_t = $1 + 30 } END { printf "%s%d: %d", sep, $1, $2 }' "$R_FILE")"
fi
n=1
while [ $n -le "$LIFETIME" ]; do
	f=$W/rss.$n
	[ -s "$f" ] && echo "   rss lifetime $n: $(wc -l < "$f") samples, $(head -n 1 "$f" | cut -d' ' -f2) -> $(tail -n 1 "$f" | cut -d' ' -f2) KiB"
	n=$((n + 1))
done

say "workload failures (devices rebound under them are expected):"
sort $W/load-failures 2>/dev/null | sed 's/[0-9][0-9]* //g' | sort | uniq -c | head -n 20 || true
say "net episodes that failed:"
grep -v '^net: net-blast: role=send' $W/net.log 2>/dev/null | sort | uniq -c | head -n 20 || true
say "daemon log: switch outcomes and everything not routine:"
grep -E '^Group [0-9]+ [A-Z-]+ -> [A-Za-z-]+: ' "$LOG" | sed 's/^Group [0-9]* //; s/: .*//' | sort | uniq -c
grep -vE '^(Group [0-9]+ .*: done: |Group [0-9]+: switching from |IOMMU topology: |Map/unmap counters: |Unmap records: |Invalidation records: |Workload: |Admin group |Listening on |Configuration reloaded|Stopped|---- |Recovery: )' "$LOG" |
	sort | uniq -c | sort -rn | head -n 60
say "recovery messages:"
grep 'Recovery: ' "$LOG" | sed 's/[0-9][0-9]*/N/g' | sort | uniq -c | head -n 30
finish
