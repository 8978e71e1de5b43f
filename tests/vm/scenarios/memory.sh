#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# memory: iommutuned's memory beside irqbalance and systemd-oomd, the three
# side by side for the same MEMORY_SECS (default 20: two of irqbalance's
# 10 s cycles) on a real kernel with cgroup v2 alone, where systemd-oomd
# runs (on a hybrid cgroup host it refuses: tests/bench-memory). A
# benchmark: prints each one's VmRSS, RssFile, RssShmem, RssAnon and private
# anonymous memory (tests/memory-figures, as bench-memory prints them) and
# the read syscalls and CPU ticks each spent over the window (that it kept
# polling); fails only when one of them does not run.
#
# iommutuned: advise mode on the shipped defaults, on the guest's sysfs (as
# the cost scenario starts it). irqbalance --foreground (it balances as
# root on its 10 s cycle). systemd-oomd: cgroup2 at /sys/fs/cgroup (nothing
# mounts v1 here, so the memory controller is v2's), PSI on (psi=1: Debian's
# kernel has it off by default). It needs PID 1's io.systemd.ManagedOOM
# socket: without one it does not start ("Failed to connect to
# /run/systemd/io.system.ManagedOOM", then "Failed to start up daemon"),
# which the scenario shows first. So guest/oom-peer answers on that socket with the cgroups Fedora's
# systemd-oomd-defaults hand it (the root cgroup for swap, and here the
# root for memory pressure too), and it monitors and polls as on such a
# server. At the end the peer is stopped, and the scenario says whether
# systemd-oomd goes on without it.
#
# The programs run from the initramfs, a tmpfs: their text and libraries
# count as RssShmem there, where a disk-backed server has them in RssFile.
#
# vm-bin: /usr/sbin/irqbalance bench
# vm-bin: /lib/systemd/systemd-oomd bench
# vm-bin: tests/memory-figures
# vm-cmdline: psi=1
set -u
. /vm/lib.sh

SECS=${MEMORY_SECS:-20}
SOCK=/tmp/memory.sock
MANAGED_OOM=/run/systemd/io.system.ManagedOOM
PIDS=
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done' EXIT
for p in iommutuned irqbalance systemd-oomd oom-peer memory-figures; do
	command -v "$p" > /dev/null || fail "$p is not in the initramfs"
done

# running PID: PID is a live process (an exited child not yet waited for is
# a zombie, which has no VmRSS).
running() { grep -qs '^VmRSS:' "/proc/$1/status"; }

# --- cgroup v2 and PSI, as systemd-oomd requires them -------------------------
mkdir -p /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2 at /sys/fs/cgroup"
grep -qw memory /sys/fs/cgroup/cgroup.controllers ||
	fail "no memory controller in cgroup v2 ($(cat /sys/fs/cgroup/cgroup.controllers))"
cat /proc/pressure/memory > /dev/null 2>&1 ||
	fail "no PSI: /proc/pressure/memory cannot be read (cmdline: $(cat /proc/cmdline))"
say "cgroup2 at /sys/fs/cgroup with $(cat /sys/fs/cgroup/cgroup.controllers); PSI on: $(head -1 /proc/pressure/memory)"
# systemd-oomd's own varlink server (for systemd --user) listens here.
mkdir -p /run/systemd/oom

# --- systemd-oomd without PID 1's socket ---------------------------------------
systemd-oomd > /tmp/oomd-alone.log 2>&1 &
alone=$!
sleep 3
if running "$alone"; then
	echo "measured systemd-oomd without $MANAGED_OOM: still running after 3 s"
	kill "$alone"
	wait "$alone" 2>/dev/null
else
	wait "$alone"
	echo "measured systemd-oomd without $MANAGED_OOM: exited ($?) within 3 s: $(tr '\n' ' ' < /tmp/oomd-alone.log)"
fi

# --- the three side by side ------------------------------------------------------
oom-peer "$MANAGED_OOM" \
	'[{"mode":"kill","path":"/","property":"ManagedOOMSwap"},{"mode":"kill","path":"/","property":"ManagedOOMMemoryPressure"}]' \
	> /tmp/oom-peer.log 2>&1 &
peer=$!
PIDS="$PIDS $peer"
wait_for "$MANAGED_OOM" 100 || fail "oom-peer did not listen on $MANAGED_OOM: $(cat /tmp/oom-peer.log)"

printf '[daemon]\nmode = advise\n' > /tmp/memory.conf
iommutuned --config /tmp/memory.conf --socket "$SOCK" --state-dir /tmp/memory-state > /tmp/iommutuned.log 2>&1 &
iommutuned=$!
irqbalance --foreground > /tmp/irqbalance.log 2>&1 &
irqbalance=$!
systemd-oomd > /tmp/systemd-oomd.log 2>&1 &
oomd=$!
PIDS="$PIDS $iommutuned $irqbalance $oomd"
wait_for "$SOCK" 600 || { cat /tmp/iommutuned.log; fail "iommutuned did not open $SOCK"; }

# activity PID: read syscalls and CPU clock ticks (user + system) so far.
activity() { echo "$(awk '$1 == "syscr:" { print $2 }' "/proc/$1/io") $(awk '{ print $14 + $15 }' "/proc/$1/stat")"; }
sleep 2
activity "$iommutuned" > /tmp/before.iommutuned
activity "$irqbalance" > /tmp/before.irqbalance
activity "$oomd" > /tmp/before.systemd-oomd
sleep "$SECS"

say "memory after $SECS s side by side, KiB (kernel $(uname -r), $(ls /sys/kernel/iommu_groups | wc -l) IOMMU groups, $(grep -c '^processor' /proc/cpuinfo) CPUs)"
memory-figures --header
gone=
# report NAME PID VERSION: its figures (log in /tmp/NAME.log), then a
# "measured" line with them and what it did since /tmp/before.NAME.
report() {
	if ! memory-figures "$1 $3" "$2" > "/tmp/figures.$1" 2>&1 ||
		! activity "$2" > "/tmp/after.$1" 2>/dev/null; then
		printf '  %-34s did not keep running: %s\n' "$1" "$(tail -3 "/tmp/$1.log" | tr '\n' ' ')"
		gone="$gone $1"
		return
	fi
	cat "/tmp/figures.$1"
	read -r reads0 cpu0 < "/tmp/before.$1"
	read -r reads1 cpu1 < "/tmp/after.$1"
	awk -v n="$1" -v r=$((reads1 - reads0)) -v c=$((cpu1 - cpu0)) -v s="$SECS" '{
		printf "measured memory %s: VmRSS=%d RssFile=%d RssShmem=%d RssAnon=%d anonymous=%d KiB; %d read syscalls, %d CPU clock ticks in %d s\n",
			n, $(NF - 4), $(NF - 3), $(NF - 2), $(NF - 1), $NF, r, c, s }' "/tmp/figures.$1"
}
report iommutuned "$iommutuned" "$(iommutuned --version 2>&1 | head -1 | sed 's/^iommutuned //')"
report irqbalance "$irqbalance" "$(irqbalance --version 2>&1 | head -1 | sed 's/.* version //')"
report systemd-oomd "$oomd" "$(systemd-oomd --version | head -1 | sed 's/^systemd [0-9]* (\(.*\))/\1/')"
say "systemd-oomd said: $(tr '\n' ' ' < /tmp/systemd-oomd.log)"
say "oom-peer: $(grep -c 'answered' /tmp/oom-peer.log) call(s) of io.systemd.ManagedOOM answered"
[ -z "$gone" ] || fail "did not keep running:$gone"

# --- systemd-oomd when PID 1's side goes away --------------------------------------
activity "$oomd" > /tmp/before.systemd-oomd
kill "$peer"
wait "$peer" 2>/dev/null
sleep 5
if running "$oomd" && activity "$oomd" > /tmp/after.systemd-oomd 2>/dev/null; then
	read -r reads0 _ < /tmp/before.systemd-oomd
	read -r reads1 _ < /tmp/after.systemd-oomd
	echo "measured systemd-oomd after $MANAGED_OOM closed: still running 5 s later, $((reads1 - reads0)) read syscalls in them; said: $(tail -2 /tmp/systemd-oomd.log | tr '\n' ' ')"
else
	echo "measured systemd-oomd after $MANAGED_OOM closed: exited within 5 s: $(tail -2 /tmp/systemd-oomd.log | tr '\n' ' ')"
fi
exit 0
