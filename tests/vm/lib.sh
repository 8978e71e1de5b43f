# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the test bed's guest scenarios (busybox sh). Sourced by
# /vm/scenario.sh; VM_PLATFORM is set by /init.

TRACING=/sys/kernel/tracing
FAILURES=0

say() { echo "== $*"; }
fail() { echo "FAIL: $*"; exit 1; }
# check DESCRIPTION COMMAND...: run the test command, record a failure.
check() {
	what=$1; shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		FAILURES=$((FAILURES + 1))
	fi
}
finish() {
	if [ "$FAILURES" -ne 0 ]; then
		echo "$FAILURES check(s) failed"
		exit 1
	fi
	exit 0
}

is_vtd() { case $VM_PLATFORM in vtd*) return 0 ;; esac; return 1; }

# PCI address of the device behind a block/class device path.
pci_of() { basename "$(readlink -f "$1")"; }
nvme_bdf() { pci_of /sys/class/nvme/nvme0/device; }
group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
group_type() { cat "/sys/kernel/iommu_groups/$1/type"; }
driver_of() {
	if [ -e "/sys/bus/pci/devices/$1/driver" ]; then
		basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
	else
		echo -
	fi
}

# set_type GROUP TYPE: write TYPE; prints "" on success or "errno=E..."
# and returns 1 on failure.
set_type() { sysfs-write "/sys/kernel/iommu_groups/$1/type" "$2"; }

unbind() { sysfs-write "/sys/bus/pci/drivers/$2/unbind" "$1"; }
bind() { sysfs-write "/sys/bus/pci/drivers/$2/bind" "$1"; }

# wait_for PATH [TENTHS]: until PATH exists (default 10 s).
wait_for() {
	n=0
	while [ ! -e "$1" ]; do
		[ "$n" -ge "${2:-100}" ] && return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# Hundredths of a second since boot.
uptime_cs() { awk '{ split($1, a, "."); print a[1] * 100 + a[2] }' /proc/uptime; }

# trace_start EVENT...: clear the ring buffer and enable EVENTs
# (system:name); the buffer is sized so a workload's events all fit.
trace_start() {
	[ -d "$TRACING/events" ] || fail "tracefs is not mounted at $TRACING"
	echo 0 > "$TRACING/tracing_on"
	echo 0 > "$TRACING/events/enable"
	echo "${TRACE_BUFFER_KB:-16384}" > "$TRACING/buffer_size_kb" ||
		fail "cannot set buffer_size_kb"
	# Drop new events rather than overwrite old ones when full; both
	# show up in per_cpu/*/stats, which trace_stop checks.
	echo 0 > "$TRACING/options/overwrite"
	echo > "$TRACING/trace"
	for ev in "$@"; do
		[ -e "$TRACING/events/${ev%%:*}/${ev#*:}/enable" ] ||
			fail "no tracepoint $ev in $TRACING/events"
		echo 1 > "$TRACING/events/${ev%%:*}/${ev#*:}/enable"
	done
	TRACE_T0=$(uptime_cs)
	echo 1 > "$TRACING/tracing_on"
}

# trace_stop OUTFILE [trace-count options]: stop tracing, check that nothing
# was lost, and write trace-count's key=value summary to OUTFILE (also
# sets TRACE_WINDOW_CS, the traced time in hundredths of a second).
trace_stop() {
	out=$1; shift
	echo 0 > "$TRACING/tracing_on"
	TRACE_WINDOW_CS=$(( $(uptime_cs) - TRACE_T0 ))
	echo 0 > "$TRACING/events/enable"
	for s in "$TRACING"/per_cpu/cpu*/stats; do
		ov=$(awk '/^overrun:/ { print $2 }' "$s")
		dr=$(awk '/^dropped events:/ { print $3 }' "$s")
		if [ "${ov:-0}" != 0 ] || [ "${dr:-0}" != 0 ]; then
			fail "trace lost events ($s: overrun=$ov dropped=$dr): raise TRACE_BUFFER_KB"
		fi
	done
	trace-count "$@" "$TRACING/trace" > "$out" ||
		fail "trace-count failed on $TRACING/trace (exit $?)"
	echo > "$TRACING/trace"
}

# kv FILE KEY: the value of KEY in a key=value file (0 if absent).
kv() { awk -F= -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' "$1"; }

# VT-d page sizes from the unit's cap register: 4K plus 2M/1G for
# second-level large page support (cap bits 34, 35).
vtd_pgsizes() {
	cap=$(cat /sys/class/iommu/dmar0/intel-iommu/cap)
	sizes=$(( 0x1000 ))
	[ $(( (0x$cap >> 34) & 1 )) = 1 ] && sizes=$(( sizes | 0x200000 ))
	[ $(( (0x$cap >> 35) & 1 )) = 1 ] && sizes=$(( sizes | 0x40000000 ))
	printf '0x%x\n' "$sizes"
}
vtd_caching_mode() {
	cap=$(cat /sys/class/iommu/dmar0/intel-iommu/cap)
	echo $(( (0x$cap >> 7) & 1 ))
}

# json_flat: JSON on stdin (iommuctl --json) -> one PATH=VALUE line per
# scalar, PATH joining keys and array indexes with dots ("total.unmaps",
# "0.group"); strings unquoted (an escaped character stands for itself).
json_flat() {
	awk 'BEGIN { RS = "\001" } { s = s $0 }
	function emit(v,   p, k) {
		p = ""
		for (k = 1; k <= d; k++) p = p (k > 1 ? "." : "") key[k]
		print p "=" v
	}
	END {
		d = 0; want_key = 0
		while (s != "") {
			c = substr(s, 1, 1)
			if (c == "{") { d++; typ[d] = "o"; key[d] = ""; want_key = 1; s = substr(s, 2) }
			else if (c == "[") { d++; typ[d] = "a"; key[d] = 0; s = substr(s, 2) }
			else if (c == "}" || c == "]") { d--; s = substr(s, 2) }
			else if (c == ",") { if (typ[d] == "a") key[d]++; else want_key = 1; s = substr(s, 2) }
			else if (c == ":") { want_key = 0; s = substr(s, 2) }
			else if (c == "\"") {
				if (!match(s, /^"([^"\\]|\\.)*"/)) exit 1
				v = substr(s, 2, RLENGTH - 2); s = substr(s, RLENGTH + 1)
				gsub(/\\"/, "\"", v); gsub(/\\\//, "/", v); gsub(/\\\\/, "\\", v)
				if (typ[d] == "o" && want_key) key[d] = v; else emit(v)
			} else if (match(s, /^[ \t\r\n]+/)) s = substr(s, RLENGTH + 1)
			else {
				match(s, /^[^],} \t\r\n]+/)
				if (RLENGTH < 1) exit 1
				emit(substr(s, 1, RLENGTH)); s = substr(s, RLENGTH + 1)
			}
		}
	}'
}
# jget FLAT PATH: the value at PATH in a json_flat file ("" when absent).
jget() { awk -v p="$2=" 'index($0, p) == 1 { print substr($0, length(p) + 1); exit }' "$1"; }
# jgroup FLAT PREFIX GROUP FIELD[,FIELD...]: FIELD of the array element
# under PREFIX ("" for a top-level array, "groups." for savings) whose
# "group" is GROUP; several fields: their values separated by spaces, "-"
# for an absent one.
jgroup() {
	awk -v pre="$2" -v g="$3" -v f="$4" '
		{ eq = index($0, "="); p = substr($0, 1, eq - 1); v = substr($0, eq + 1) }
		pre != "" && index(p, pre) != 1 { next }
		{ rest = substr(p, length(pre) + 1); dot = index(rest, "."); if (!dot) next
		  i = substr(rest, 1, dot - 1); k = substr(rest, dot + 1); val[i, k] = v
		  if (k == "group" && v == g) hit = i }
		END {
			if (hit == "") exit
			n = split(f, fs, ",")
			if (n == 1) { print val[hit, f]; exit }
			for (j = 1; j <= n; j++)
				printf "%s%s", (j > 1 ? " " : ""), ((hit, fs[j]) in val ? val[hit, fs[j]] : "-")
			print ""
		}' "$1"
}
