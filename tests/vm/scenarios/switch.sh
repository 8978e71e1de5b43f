#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# switch: `iommutuned --switch-group` on the real kernel.
#
#  1. nvme, virtio-blk and each e1000e, one at a time, with a config that
#     allows rebinding that one device: DMA -> DMA-FQ live, then
#     DMA-FQ -> DMA through unbind/rebind (a group that boots DMA-FQ is first
#     taken to DMA the same way). After each switch: the type reads back as
#     asked, the device is bound to its driver again and works (the disk
#     reads, the NIC comes up with a carrier). Then TCP between the two NICs.
#  2. Refusals: DMA-FQ -> DMA with allow_rebind = no is refused by the
#     rebind-allowed guard and changes nothing; --dry-run prints the steps
#     and changes nothing.
#  3. Hot removal mid-switch: the switch is stopped by SIGKILL right after
#     it unbound the nvme (IOMMUTUNED_TEST_CRASH_AT_STEP), the nvme is
#     removed (/sys/bus/pci/devices/X/remove), then recovery runs: it must
#     say the device is gone, leave no intent record and nothing unbound;
#     after a rescan the nvme is back, bound and reads.
#  4. The kill -9 matrix: DMA-FQ -> DMA of the nvme group killed before each
#     write step N in turn (until a run survives: N - 1 steps), recovery
#     after each; every row must end with the nvme bound, the group DMA-FQ
#     or DMA, no intent record, and the disk reading.
#
# Recovery is what every start of iommutuned does first; here it is run
# alone by `iommutuned --recover` (manager_open), so that the group under
# test may even be gone.
set -eu
. /vm/lib.sh

ST=/tmp/st
CONF=/tmp/rebind.conf

command -v iommutuned >/dev/null || fail "iommutuned is not in the initramfs"

# --- the devices ---------------------------------------------------------------
NVME=$(nvme_bdf)
VDA=$(basename "$(dirname "$(readlink -f /sys/block/vda/device)")")
NICS=
for n in /sys/class/net/eth*; do
	[ "$(basename "$(readlink "$n/device/driver")")" = e1000e ] &&
		NICS="$NICS $(basename "$(readlink -f "$n/device")")"
done
[ -n "$NICS" ] || fail "no e1000e NIC"
say "platform $VM_PLATFORM, kernel $(uname -r): nvme $NVME, virtio-blk $VDA, e1000e$NICS"
for d in $NVME $VDA $NICS; do
	say "  $d: driver $(driver_of "$d"), group $(group_of "$d") ($(ls "/sys/kernel/iommu_groups/$(group_of "$d")/devices" | wc -l) device(s)), type $(group_type "$(group_of "$d")")"
done

# write_conf FILE BDF...: a config allowing rebind for exactly these devices.
write_conf() {
	f=$1; shift
	{
		echo "[daemon]"
		echo "mode = enforce"
		echo "[policy]"
		echo "default = keep"
		echo "max_switches_per_hour = 60"
		# AMD NpCache and VT-d caching mode make the kernel default strict;
		# the switches here are asked for by hand.
		echo "allow_lazy_when_kernel_forced_strict = yes"
		for b in "$@"; do
			echo "[device $b]"
			echo "allow_rebind = yes"
		done
	} > "$f"
}
write_conf /tmp/norebind.conf

# sw CONF GROUP TYPE [ARGS]: one `iommutuned --switch-group`; output in
# /tmp/sw.out, exit status in SW_RC, time in SW_MS.
sw() {
	c=$1 g=$2 to=$3; shift 3
	t0=$(uptime_cs)
	SW_RC=0
	iommutuned --config "$c" --state-dir "$ST" --switch-group "$g" --to "$to" "$@" > /tmp/sw.out 2>&1 || SW_RC=$?
	SW_MS=$(( ($(uptime_cs) - t0) * 10 ))
}
show_out() { sed 's/^/    | /' "$1"; }
# outcome_is WORD: the last one-off switch exited 0 with "WORD: ..." (its
# outcome line, see iommutuned.c switch_one()).
outcome_is() { [ "$SW_RC" = 0 ] && grep -q "^$1: " /tmp/sw.out; }
one_of() { v=$1; shift; for w in "$@"; do [ "$v" = "$w" ] && return 0; done; return 1; }

# recover: what every start does first.
recover() {
	rc=0
	iommutuned --config "$CONF" --state-dir "$ST" --recover > /tmp/recover.out 2>&1 || rc=$?
	RECOVER_RC=$rc
}
intents() {
	for f in "$ST"/intent-group-* "$ST"/attention-group-*; do
		[ -e "$f" ] && printf '%s ' "${f##*/}"
	done
	return 0
}

# The block device of a PCI device ("" while there is none).
block_of() {
	for b in /sys/block/*; do
		case $(readlink -f "$b") in */"$1"/*) basename "$b"; return 0 ;; esac
	done
}
netdev_of() { ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n 1; }

# usable BDF DRIVER: the device works. Disks: 100 O_DIRECT 64 KiB reads.
# NICs: ip link set up, and a carrier within 10 s.
usable() {
	b=$1 drv=$2 i=0
	case $drv in
	nvme|virtio-pci)
		blk=
		while [ $i -lt 100 ]; do
			blk=$(block_of "$b")
			[ -n "$blk" ] && [ -b "/dev/$blk" ] && break
			sleep 0.1; i=$((i + 1))
		done
		[ -n "$blk" ] || { echo "    no block device under $b"; return 1; }
		dma-load -d "/dev/$blk" -b 64K -n 100 > /tmp/use.out 2>&1 ||
			{ echo "    dma-load on /dev/$blk failed: $(cat /tmp/use.out)"; return 1; }
		USE_WHAT="/dev/$blk: $(sed 's/^dma-load: //' /tmp/use.out)" ;;
	e1000e)
		nd=
		while [ $i -lt 100 ]; do
			nd=$(netdev_of "$b")
			[ -n "$nd" ] && break
			sleep 0.1; i=$((i + 1))
		done
		[ -n "$nd" ] || { echo "    no net device under $b"; return 1; }
		ip link set "$nd" up || { echo "    ip link set $nd up failed"; return 1; }
		i=0
		until ip link show "$nd" | grep -q LOWER_UP; do
			i=$((i + 1))
			[ $i -lt 100 ] || { echo "    no carrier on $nd after 10 s: $(ip link show "$nd")"; return 1; }
			sleep 0.1
		done
		USE_WHAT="$nd up, carrier after $((i / 10)).$((i % 10)) s" ;;
	*) USE_WHAT="(no usability check for $drv)" ;;
	esac
}

# switch_check DEVICE DRIVER GROUP TYPE: switch with the rebind config and
# check type, driver, usability and the state directory.
switch_check() {
	d=$1 drv=$2 g=$3 to=$4
	from=$(group_type "$g")
	sw "$CONF" "$g" "$to"
	echo "measured switch $d ($drv) group $g: $from -> $to: exit $SW_RC in ${SW_MS} ms: $(tail -n 1 /tmp/sw.out)"
	if ! outcome_is "done"; then
		show_out /tmp/sw.out
	fi
	check "$d $from -> $to: exit 0 and outcome done" outcome_is "done"
	now=$(group_type "$g")
	check "$d $from -> $to: group $g reads $to (read $now)" [ "$now" = "$to" ]
	check "$d $from -> $to: bound to $drv (is $(driver_of "$d"))" [ "$(driver_of "$d")" = "$drv" ]
	USE_WHAT=
	check "$d $from -> $to: usable" usable "$d" "$drv"
	echo "measured usable $d under $to: $USE_WHAT"
	check "$d $from -> $to: no intent record left ($(intents))" [ -z "$(intents)" ]
}

# --- 1. every device: live to lazy, rebind to strict ------------------------------
for d in $NVME $VDA $NICS; do
	drv=$(driver_of "$d")
	g=$(group_of "$d")
	write_conf "$CONF" "$d"
	say "$d ($drv), group $g, now $(group_type "$g")"
	if [ "$(group_type "$g")" = DMA-FQ ]; then
		switch_check "$d" "$drv" "$g" DMA
	fi
	switch_check "$d" "$drv" "$g" DMA-FQ
	switch_check "$d" "$drv" "$g" DMA
done

# TCP between the two NICs, each in a namespace, after their switches.
set -- $NICS
if [ $# -ge 2 ]; then
	A=$(netdev_of "$1") B=$(netdev_of "$2")
	unshare -n sleep 600 & NS_A=$!
	unshare -n sleep 600 & NS_B=$!
	sleep 0.2
	ip link set "$A" netns "$NS_A" && ip link set "$B" netns "$NS_B" ||
		fail "moving $A/$B into namespaces"
	nsenter -t "$NS_A" -n sh -c "ip addr add 192.0.2.1/24 dev $A && ip link set $A up && ip link set lo up" &&
		nsenter -t "$NS_B" -n sh -c "ip addr add 192.0.2.2/24 dev $B && ip link set $B up && ip link set lo up" ||
		fail "configuring the namespaces"
	i=0
	until nsenter -t "$NS_A" -n ip link show "$A" | grep -q LOWER_UP &&
	      nsenter -t "$NS_B" -n ip link show "$B" | grep -q LOWER_UP; do
		i=$((i + 1)); [ $i -lt 100 ] || break
		sleep 0.1
	done
	nsenter -t "$NS_B" -n net-blast recv 5001 20 > /tmp/recv.out 2>&1 & RECV=$!
	rc=0
	nsenter -t "$NS_A" -n net-blast send 192.0.2.2 5001 2 > /tmp/send.out 2>&1 || rc=$?
	wait "$RECV" || rc=$?
	cat /tmp/send.out /tmp/recv.out
	sent=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' /tmp/send.out)
	got=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' /tmp/recv.out)
	tcp_ok() { [ "$rc" = 0 ] && [ "${got:-0}" -gt 0 ] && [ "$got" = "$sent" ]; }
	check "TCP between $A and $B after their switches: $sent bytes sent, $got received" tcp_ok
	# Ending the namespaces gives the NICs back to the initial one.
	kill "$NS_A" "$NS_B" 2>/dev/null || true
	wait "$NS_A" "$NS_B" 2>/dev/null || true
fi

# --- 2. refusals and the dry run ------------------------------------------------------
G=$(group_of "$NVME")
write_conf "$CONF" "$NVME"
if [ "$(group_type "$G")" != DMA-FQ ]; then
	sw /tmp/norebind.conf "$G" DMA-FQ
	check "nvme DMA -> DMA-FQ live with allow_rebind = no: exit 0 (a live switch unbinds nothing)" [ "$SW_RC" = 0 ]
fi
sw /tmp/norebind.conf "$G" DMA
echo "measured refused switch (allow_rebind = no): exit $SW_RC"
show_out /tmp/sw.out
check "DMA-FQ -> DMA with allow_rebind = no: exit non-zero" [ "$SW_RC" != 0 ]
check "the refusal names the rebind guard" grep -q 'rebind-allowed' /tmp/sw.out
check "the refusal says refused" grep -q '^refused: ' /tmp/sw.out
check "after the refusal: still DMA-FQ" [ "$(group_type "$G")" = DMA-FQ ]
check "after the refusal: nvme still bound" [ "$(driver_of "$NVME")" = nvme ]
check "after the refusal: no intent record ($(intents))" [ -z "$(intents)" ]

sw "$CONF" "$G" DMA --dry-run
echo "measured dry run DMA-FQ -> DMA: exit $SW_RC"
show_out /tmp/sw.out
check "dry run: exit 0, outcome planned" outcome_is planned
check "dry run: prints the unbind step" grep -q "unbind $NVME from nvme" /tmp/sw.out
check "dry run: prints the type write" grep -q "write DMA to kernel/iommu_groups/$G/type" /tmp/sw.out
check "dry run: prints the rebind" grep -q "bind $NVME to nvme again" /tmp/sw.out
check "dry run: still DMA-FQ" [ "$(group_type "$G")" = DMA-FQ ]
check "dry run: nvme still bound" [ "$(driver_of "$NVME")" = nvme ]
check "dry run: no intent record ($(intents))" [ -z "$(intents)" ]

# --- 3. the nvme hot-removed in the middle of a switch --------------------------
# Write steps of DMA-FQ -> DMA of a one-device group (group-switch.c): 1 the
# intent record, 2 unbind, 3 the type, 4 the record's step, 5 bind, 6 removing
# the record. Killed before step 3: the nvme is unbound, the record says so.
say "hot removal: kill the switch before its type write, then remove $NVME"
rc=0
IOMMUTUNED_TEST_CRASH_AT_STEP=3 iommutuned --config "$CONF" --state-dir "$ST" --switch-group "$G" --to DMA \
	> /tmp/sw.out 2>&1 || rc=$?
echo "measured switch killed before step 3: exit $rc, nvme driver $(driver_of "$NVME"), state: $(intents)"
check "the switch was killed (exit 137, SIGKILL)" [ "$rc" = 137 ]
check "killed after the unbind: nvme unbound" [ "$(driver_of "$NVME")" = - ]
check "killed mid-switch: the intent record is there" [ -e "$ST/intent-group-$G.json" ]
echo 1 > "/sys/bus/pci/devices/$NVME/remove" || fail "cannot remove $NVME"
check "nvme $NVME removed" [ ! -e "/sys/bus/pci/devices/$NVME" ]
check "its group $G is gone with it" [ ! -e "/sys/kernel/iommu_groups/$G" ]
recover
echo "measured recovery after the removal: exit $RECOVER_RC"
show_out /tmp/recover.out
check "recovery exits 0" [ "$RECOVER_RC" = 0 ]
check "recovery says $NVME is gone" grep -q "$NVME is gone" /tmp/recover.out
check "recovery's report names group $G, the removal and that the group no longer exists" \
	grep -q "Recovery: group $G: .*hot-removed.*no longer exists" /tmp/recover.out
check "no intent or attention record left ($(intents))" [ -z "$(intents)" ]
unbound=
for d in $VDA $NICS; do
	[ "$(driver_of "$d")" = - ] && unbound="$unbound $d"
done
check "no device that still exists is left unbound ($unbound)" [ -z "$unbound" ]
echo 1 > /sys/bus/pci/rescan || fail "PCI rescan failed"
wait_for "/sys/bus/pci/devices/$NVME/driver" 150 || true
check "after the rescan $NVME is back and bound to nvme" [ "$(driver_of "$NVME")" = nvme ]
G=$(group_of "$NVME")
echo "measured after rescan: $NVME in group $G, type $(group_type "$G")"
USE_WHAT=
check "after the rescan the nvme reads" usable "$NVME" nvme
echo "measured usable $NVME after the rescan: $USE_WHAT"

# --- 3b. the nvme removed while a switch is running ------------------------------
# Paused (SIGSTOP) before step 3, the type write: the nvme is unbound; it is
# removed, and the switch goes on (SIGCONT) against a group that is gone.
say "hot removal under a running switch: pause it before its type write, remove $NVME, let it go on"
# (Strict by default on AMD and SMMUv3: made lazy live first.)
if [ "$(group_type "$G")" = DMA ]; then
	out=$(set_type "$G" DMA-FQ) || fail "live write of DMA-FQ to group $G: $out"
fi
[ "$(group_type "$G")" = DMA-FQ ] || fail "group $G is $(group_type "$G"), not DMA-FQ"
IOMMUTUNED_TEST_PAUSE_AT_STEP=3 iommutuned --config "$CONF" --state-dir "$ST" --switch-group "$G" --to DMA \
	> /tmp/sw.out 2>&1 &
swpid=$!
i=0
until [ "$(cut -d' ' -f3 "/proc/$swpid/stat" 2>/dev/null)" = T ]; do
	i=$((i + 1)); [ $i -lt 300 ] || fail "the switch did not stop before its type write"
	sleep 0.1
done
check "paused before the type write: nvme unbound" [ "$(driver_of "$NVME")" = - ]
echo 1 > "/sys/bus/pci/devices/$NVME/remove" || fail "cannot remove $NVME"
check "nvme $NVME removed, its group $G with it" [ ! -e "/sys/kernel/iommu_groups/$G" ]
kill -CONT "$swpid"
rc=0; wait "$swpid" || rc=$?
echo "measured switch with its group removed under it: exit $rc"
show_out /tmp/sw.out
check "the switch fails (exit $rc)" [ "$rc" != 0 ]
check "... saying the device was hot-removed and the group no longer exists" \
	grep -qi "hot-removed.*no longer exists\|no longer exists.*hot-removed" /tmp/sw.out
check "... and leaves no intent or attention record ($(intents))" [ -z "$(intents)" ]
echo 1 > /sys/bus/pci/rescan || fail "PCI rescan failed"
wait_for "/sys/bus/pci/devices/$NVME/driver" 150 || true
check "after the rescan $NVME is back and bound to nvme" [ "$(driver_of "$NVME")" = nvme ]
G=$(group_of "$NVME")
USE_WHAT=
check "after the rescan the nvme reads" usable "$NVME" nvme

# --- 4. kill -9 at every write step ------------------------------------------------
say "kill -9 matrix: group $G DMA-FQ -> DMA, SIGKILL before write step N"
MATRIX=/tmp/matrix.txt
: > "$MATRIX"
steps=0
N=1
while [ "$N" -le 12 ]; do
	if [ "$(group_type "$G")" != DMA-FQ ]; then
		out=$(set_type "$G" DMA-FQ) || fail "live write of DMA-FQ to group $G before step $N: $out"
	fi
	[ "$(group_type "$G")" = DMA-FQ ] || fail "group $G is not DMA-FQ before step $N"
	rc=0
	IOMMUTUNED_TEST_CRASH_AT_STEP=$N iommutuned --config "$CONF" --state-dir "$ST" --switch-group "$G" --to DMA \
		> /tmp/sw.out 2>&1 || rc=$?
	if [ "$rc" != 137 ]; then
		steps=$((N - 1))
		echo "measured kill9 N=$N: not killed (exit $rc): the switch has $steps write steps: $(tail -n 1 /tmp/sw.out)"
		SW_RC=$rc
		check "the run past the last step completes: exit 0, done" outcome_is "done"
		check "  and leaves group $G DMA (is $(group_type "$G"))" [ "$(group_type "$G")" = DMA ]
		check "  and the nvme bound (to $(driver_of "$NVME"))" [ "$(driver_of "$NVME")" = nvme ]
		break
	fi
	k_type=$(group_type "$G") k_drv=$(driver_of "$NVME") k_rec=$(intents)
	recover
	r_type=$(group_type "$G") r_drv=$(driver_of "$NVME") r_rec=$(intents)
	said=$(grep -m 1 "Recovery: " /tmp/recover.out | sed 's/.*Recovery: //' || true)
	USE_WHAT=
	reads=no
	usable "$NVME" nvme > /tmp/use.err 2>&1 && reads=yes
	row="N=$N killed: type=$k_type driver=$k_drv records=[${k_rec% }] | recovered (exit $RECOVER_RC): type=$r_type driver=$r_drv records=[${r_rec% }] reads=$reads"
	echo "$row" >> "$MATRIX"
	echo "measured kill9 $row"
	echo "    recovery: ${said:-(nothing to recover)}"
	[ "$RECOVER_RC" = 0 ] || show_out /tmp/recover.out
	[ "$reads" = yes ] || cat /tmp/use.err
	check "N=$N: recovery exits 0" [ "$RECOVER_RC" = 0 ]
	check "N=$N: nvme bound to nvme after recovery (is $r_drv)" [ "$r_drv" = nvme ]
	check "N=$N: group $G is DMA-FQ or DMA (is $r_type)" one_of "$r_type" DMA-FQ DMA
	check "N=$N: no intent or attention record left (${r_rec})" [ -z "$r_rec" ]
	check "N=$N: the disk reads" [ "$reads" = yes ]
	N=$((N + 1))
done
echo "measured kill9 matrix ($steps write steps):"
sed 's/^/    /' "$MATRIX"
check "the DMA-FQ -> DMA rebind switch has at least 5 write steps (has $steps)" [ "$steps" -ge 5 ]
check "every step up to the last was killed and recovered ($(wc -l < "$MATRIX") rows)" \
	[ "$(wc -l < "$MATRIX")" -eq "$steps" ]

finish
