#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# cost: what the daemon holds and spends on this machine, to compare the
# 2-vCPU vtd platform with vtd-large (32 vCPUs, 100+ groups). A benchmark:
# it prints figures and fails only when the daemon does not run.
#
# The daemon runs on the shipped defaults in advise mode (interval 1 s).
# After COST_WARMUP_S (default 5) it prints, from /proc: its perf file
# descriptors (anon_inode:[perf_event]), the bytes of its perf ring
# mappings (/proc/PID/maps), VmLck and VmPin (what the kernel pins for the
# rings), VmRSS and RssAnon, then its CPU time per tick over COST_SECS
# (default 20) idle and the same with an nvme load running (TCG: the
# guest's CPU, not silicon's), and the daemon's own account ("Own cost").
# Then, with the nvme strict, its count of IOTLB invalidations against the
# kernel's (tracefs): the rings, sized for the machine and drained when a
# quarter full, lose no record.
set -eu
. /vm/lib.sh

WARMUP=${COST_WARMUP_S:-5}
SECS=${COST_SECS:-20}
SOCK=/tmp/cost.sock
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
command -v iommutuned >/dev/null || fail "iommutuned is not in the initramfs"
printf '[daemon]\nmode = advise\n' > /tmp/cost.conf

cpus=$(grep -c '^processor' /proc/cpuinfo)
groups=$(ls /sys/kernel/iommu_groups | wc -l)
devices=0
for d in /sys/bus/pci/devices/*; do [ -e "$d/iommu_group" ] && devices=$((devices + 1)); done
endpoints=0
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/iommu_group" ] && [ -e "$d/driver" ] || continue
	case $(basename "$(readlink "$d/driver")") in nvme|virtio-pci|e1000e) endpoints=$((endpoints + 1)) ;; esac
done
say "cost on $VM_PLATFORM: kernel $(uname -r), $cpus CPUs, $groups IOMMU groups, $devices PCI devices in groups ($endpoints nvme/virtio/e1000e endpoints)"
echo "measured cost machine: cpus=$cpus groups=$groups pci_devices=$devices endpoints=$endpoints"

iommutuned --config /tmp/cost.conf --socket "$SOCK" --state-dir /tmp/cost-state > /tmp/cost.log 2>&1 &
PID=$!
wait_for "$SOCK" 600 || { cat /tmp/cost.log; fail "iommutuned did not open $SOCK"; }
sleep "$WARMUP"
kill -0 "$PID" 2>/dev/null || { cat /tmp/cost.log; fail "iommutuned exited"; }

perf_fds=0
for f in /proc/$PID/fd/*; do
	case $(readlink "$f") in *perf_event*) perf_fds=$((perf_fds + 1)) ;; esac
done
fds=$(ls /proc/$PID/fd | wc -l)
# maps lines: "start-end perms offset dev inode path".
ring_kib=0
while read -r range _ _ _ _ path; do
	case $path in *perf_event*) ring_kib=$((ring_kib + (0x${range#*-} - 0x${range%-*}) / 1024)) ;; esac
done < /proc/$PID/maps
st() { awk -v k="$1:" '$1 == k { print $2 }' /proc/$PID/status; }
echo "measured cost fds: perf=$perf_fds all=$fds"
echo "measured cost memory: perf_rings_kib=$ring_kib VmLck_kib=$(st VmLck) VmPin_kib=$(st VmPin) VmRSS_kib=$(st VmRSS) RssAnon_kib=$(st RssAnon)"
iommuctl --socket "$SOCK" status | grep -E '^(Own cost|Sampling|Groups|          )' | sed 's/^/  | /' || true

ticks() { iommuctl --socket "$SOCK" --json status | json_flat > /tmp/st.flat; jget /tmp/st.flat ticks; }
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
# window WHAT: the daemon's CPU per tick over SECS seconds.
window() {
	t0=$(ticks) c0=$(cpu)
	sleep "$SECS"
	t1=$(ticks) c1=$(cpu)
	own=$(iommuctl --socket "$SOCK" status | sed -n 's/^Own cost: //p')
	awk -v w="$1" -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v hz="$HZ" -v own="$own" 'BEGIN {
		printf "measured cost cpu %s: %.1f ms per tick (%d ticks, %d clock ticks of 1/%d s); own account: %s\n",
			w, t ? c * 1000 / hz / t : 0, t, c, hz, own }'
}
window idle
dma-load -d /dev/nvme0n1 -b 64K -t $((SECS + 2)) > /tmp/load.out 2>&1 &
LOAD=$!
sleep 1
window "nvme 64K reads"
wait "$LOAD" || fail "dma-load: $(cat /tmp/load.out)"
echo "measured cost memory after: VmRSS_kib=$(st VmRSS) RssAnon_kib=$(st RssAnon)"

# The rings carry a strict group's invalidations (one record each) without
# loss: the nvme strict, 16 KiB reads for COST_SECS, the daemon's count of
# IOTLB invalidations against the kernel's (tracefs) over the same window.
G=$(group_of "$(nvme_bdf)")
BDF=$(nvme_bdf)
if [ "$(group_type "$G")" != DMA ]; then
	unbind "$BDF" nvme > /tmp/err || fail "unbind $BDF: $(cat /tmp/err)"
	set_type "$G" DMA > /tmp/err || { bind "$BDF" nvme; fail "write DMA: $(cat /tmp/err)"; }
	bind "$BDF" nvme > /tmp/err || fail "bind $BDF: $(cat /tmp/err)"
	wait_for /sys/block/nvme0n1 100 || fail "nvme0n1 did not come back"
fi
invalidations() { iommuctl --socket "$SOCK" --json savings | json_flat > /tmp/sv.flat; jget /tmp/sv.flat total.invalidations; }
# qi_submit records the kernel dropped (ring full), from the same reply.
records_lost() { jget /tmp/sv.flat total.invalidation_records_lost; }
trace_start intel_iommu:qi_submit
sleep 2
i0=$(invalidations)
l0=$(records_lost)
dma-load -d /dev/nvme0n1 -b 16K -t "$SECS" > /tmp/load.out 2>&1 || fail "dma-load: $(cat /tmp/load.out)"
sleep 3
i1=$(invalidations)
l1=$(records_lost)
trace_stop /tmp/strict.kv
kernel=$(( $(kv /tmp/strict.kv iotlb_page) + $(kv /tmp/strict.kv iotlb_domain) + $(kv /tmp/strict.kv iotlb_global) ))
echo "measured cost strict nvme 16K reads: $(sed 's/^dma-load: //' /tmp/load.out); IOTLB invalidations: daemon $((i1 - i0)), kernel $kernel; qi_submit records lost (ring full): $((l1 - l0))"
kill "$PID"
wait "$PID" || fail "iommutuned exited with $? (log: $(cat /tmp/cost.log))"
say "the daemon's log:"
sed 's/^/  | /' /tmp/cost.log | head -40
exit 0
