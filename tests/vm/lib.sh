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
# The emulated IOMMU set-up without the kernel: vtd-cm-13bpo (Debian 13's
# backports kernel) is the vtd-cm machine.
VM_MACHINE=${VM_PLATFORM%-13bpo}

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

# kernel_at_least MAJOR MINOR: the running kernel is MAJOR.MINOR or newer.
kernel_at_least() {
	r=$(uname -r); maj=${r%%.*}; min=${r#*.}; min=${min%%[!0-9]*}
	[ "$maj" -gt "$1" ] || { [ "$maj" -eq "$1" ] && [ "$min" -ge "$2" ]; }
}

# The errno of a type write that needs the group's drivers unbound, made
# while one is bound: EBUSY up to 6.3 ("Device is still bound to driver"),
# EPERM from 6.4 (the bound driver owns the group through the DMA API).
bound_write_errno() { if kernel_at_least 6 4; then echo EPERM; else echo EBUSY; fi; }

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

# check_topology LABEL: `iommutuned --dump-topology --json` agrees with what
# this function reads from sysfs itself, right now: units and their devices
# (and VT-d caching mode), group ids, types and members, and per device its
# driver, group, unit, class and untrusted flag. Both sides become the same
# plain lines (the daemon's through topo-json) and are compared with diff;
# the table must name every group with its type.
check_topology() {
	command -v iommutuned >/dev/null ||
		fail "iommutuned is not in the initramfs (build BUILD/daemon/iommutuned first)"
	# --- the daemon's view ----------------------------------------------------------
	rc=0
	iommutuned --dump-topology --json > /tmp/topo.json 2> /tmp/topo.err || rc=$?
	if [ -s /tmp/topo.err ]; then echo "iommutuned stderr:"; cat /tmp/topo.err; fi
	[ "$rc" = 0 ] || fail "iommutuned --dump-topology --json exited $rc"
	topo-json < /tmp/topo.json > /tmp/daemon.raw ||
		fail "topo-json could not read the daemon's JSON"
	sort /tmp/daemon.raw > /tmp/daemon.txt
	rc=0
	iommutuned --dump-topology > /tmp/topo.txt 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "iommutuned --dump-topology (table) exited $rc"

	# --- the same from sysfs ---------------------------------------------------------
	name_of_link() { basename "$(readlink "$1")"; }
	{
		for u in /sys/class/iommu/*; do
			[ -e "$u" ] || continue
			un=$(basename "$u")
			echo "unit $un"
			for d in "$u"/devices/*; do
				[ -e "$d" ] || [ -L "$d" ] || continue
				echo "unit $un device $(basename "$d")"
			done
			if [ -f "$u/intel-iommu/cap" ]; then
				cap=$(cat "$u/intel-iommu/cap")
				echo "unit $un caching_mode $(( (0x$cap >> 7) & 1 ))"
			fi
		done
		for g in /sys/kernel/iommu_groups/*; do
			[ -d "$g" ] || continue
			id=$(basename "$g")
			echo "group $id type $(cat "$g/type")"
			for d in "$g"/devices/*; do
				echo "group $id device $(basename "$d")"
			done
		done
		# Every device in some group or under some unit, and every PCI device
		# (one in no group is not translated: the AMD IOMMU's own function,
		# SMMUv3's host bridge), as the daemon lists them.
		for d in /sys/kernel/iommu_groups/*/devices/* /sys/class/iommu/*/devices/* /sys/bus/pci/devices/*; do
			[ -e "$d" ] && basename "$d"
		done | sort -u | while read -r dev; do
			dir=
			for c in /sys/bus/pci/devices/$dev /sys/kernel/iommu_groups/*/devices/$dev \
				 /sys/class/iommu/*/devices/$dev; do
				[ -e "$c" ] && { dir=$(readlink -f "$c"); break; }
			done
			drv=-; grp=-; unit=-; class=-; untrusted=-
			[ -L "$dir/driver" ] && drv=$(name_of_link "$dir/driver")
			[ -L "$dir/iommu_group" ] && grp=$(name_of_link "$dir/iommu_group")
			[ -L "$dir/iommu" ] && unit=$(name_of_link "$dir/iommu")
			[ -f "$dir/class" ] && class=$(printf '0x%06x' "$(cat "$dir/class")")
			[ -f "$dir/untrusted" ] && untrusted=$(cat "$dir/untrusted")
			echo "device $dev driver $drv group $grp unit $unit class $class untrusted $untrusted"
		done
		echo "kernel release $(uname -r)"
	} | sort > /tmp/sysfs.txt

	[ "$1" = first ] && { say "daemon table:"; cat /tmp/topo.txt; }
	if diff -u /tmp/sysfs.txt /tmp/daemon.txt > /tmp/topo.diff; then
		echo "ok: --dump-topology --json matches sysfs ($1 dump, $(wc -l < /tmp/sysfs.txt) facts)"
	else
		echo "--- sysfs (this script)   +++ iommutuned --dump-topology --json"
		cat /tmp/topo.diff
		fail "iommutuned's topology differs from sysfs ($1 dump)"
	fi
	for g in /sys/kernel/iommu_groups/*; do
		id=$(basename "$g"); t=$(cat "$g/type")
		check "table shows group $id as $t ($1 dump)" grep -Eq "^ *$id +$t( |\$)" /tmp/topo.txt
	done
}

# capture_tree: copies the subset of /sys and /proc that iommutuned reads
# into a fixture tree with the real layout (real directories under
# sys/devices, symlinks verbatim as readlink shows them, regular files as
# their contents) and prints it as a base64 gzip tar between @@CAPTURE-BEGIN
# and @@CAPTURE-END; tests/vm/run unpacks it (tests/vm/unpack-capture) into
# BUILD/vm-capture/qemu-PLATFORM.
capture_tree() {
	CAP=/tmp/capture
	rm -rf "$CAP"
	mkdir -p "$CAP/sys" "$CAP/proc/sys/kernel"

	# copy_file /sys/...: a regular file's contents at the same path.
	copy_file() {
		[ -f "$1" ] || return 0
		mkdir -p "$CAP$(dirname "$1")"
		cat "$1" > "$CAP$1" 2>/dev/null || rm -f "$CAP$1"
	}
	# copy_link /sys/...: a symlink, its target verbatim.
	copy_link() {
		[ -L "$1" ] || return 0
		mkdir -p "$CAP$(dirname "$1")"
		ln -sfn "$(readlink "$1")" "$CAP$1"
	}
	# real DIR: the directory behind a sysfs link, as an absolute /sys path.
	real() { readlink -f "$1"; }

	# --- IOMMU units -------------------------------------------------------------
	for u in /sys/class/iommu/*; do
		[ -e "$u" ] || continue
		copy_link "$u"
		r=$(real "$u")
		mkdir -p "$CAP$r/devices"
		for f in "$r"/intel-iommu/cap "$r"/intel-iommu/ecap "$r"/intel-iommu/version \
			 "$r"/intel-iommu/address "$r"/intel-iommu/domains_supported \
			 "$r"/intel-iommu/domains_used "$r"/amd-iommu/*; do
			copy_file "$f"
		done
		for d in "$r"/devices/*; do copy_link "$d"; done
	done

	# --- groups ------------------------------------------------------------------
	for g in /sys/kernel/iommu_groups/*; do
		[ -d "$g" ] || continue
		copy_file "$g/type"
		copy_file "$g/reserved_regions"
		mkdir -p "$CAP$g/devices"
		for d in "$g"/devices/*; do copy_link "$d"; done
	done

	# --- PCI devices -------------------------------------------------------------
	DRIVERS=
	for l in /sys/bus/pci/devices/*; do
		copy_link "$l"
		d=$(real "$l")
		for f in vendor device class subsystem_vendor subsystem_device numa_node \
			 untrusted removable; do
			copy_file "$d/$f"
		done
		for f in iommu_group driver iommu; do copy_link "$d/$f"; done
		if [ -d "$d/msi_irqs" ]; then
			mkdir -p "$CAP$d/msi_irqs"
			for f in "$d"/msi_irqs/*; do copy_file "$f"; done
		fi
		[ -L "$d/driver" ] && DRIVERS="$DRIVERS $(basename "$(readlink "$d/driver")")"
	done

	# Block and net devices: names plus a few attributes, under their device.
	# on_pci PATH: PATH lies below a PCI host bridge (pci0000:00 sits under
	# /sys/devices on x86, under /sys/devices/platform/*.pcie on arm64 virt).
	on_pci() { case $1 in */pci[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]/*) return 0 ;; esac; return 1; }
	for b in /sys/block/*; do
		copy_link "$b"
		r=$(real "$b")
		on_pci "$r" || continue
		for f in dev size stat; do copy_file "$r/$f"; done
	done
	for n in /sys/class/net/*; do
		r=$(real "$n")
		on_pci "$r" || continue
		copy_link "$n"
		for f in ifindex address; do copy_file "$r/$f"; done
	done

	# Bound drivers: bind/unbind as empty files and the device links.
	for drv in $(echo "$DRIVERS" | tr ' ' '\n' | sort -u); do
		dd=/sys/bus/pci/drivers/$drv
		mkdir -p "$CAP$dd"
		: > "$CAP$dd/bind"
		: > "$CAP$dd/unbind"
		for l in "$dd"/0000:*; do copy_link "$l"; done
	done

	# --- tracepoints, debugfs, proc --------------------------------------------------
	for sys in iommu intel_iommu dma; do
		for e in /sys/kernel/tracing/events/$sys/*/; do
			[ -f "$e/id" ] || continue
			copy_file "${e%/}/id"
			copy_file "${e%/}/format"
		done
	done
	# A mounted debugfs is a non-empty directory. git keeps no empty
	# directories, so one placeholder file stands for its contents.
	if grep -q ' /sys/kernel/debug debugfs ' /proc/mounts; then
		mkdir -p "$CAP/sys/kernel/debug"
		: > "$CAP/sys/kernel/debug/.keep"
	fi
	cat /proc/cmdline > "$CAP/proc/cmdline"
	cat /proc/sys/kernel/osrelease > "$CAP/proc/sys/kernel/osrelease"
	cat /proc/interrupts > "$CAP/proc/interrupts"

	# --- sanity checks and shipping -------------------------------------------------
	n_units=$(ls /sys/class/iommu | wc -l)
	n_groups=$(ls /sys/kernel/iommu_groups | wc -l)
	check "captured $n_units IOMMU unit link(s)" [ "$(ls "$CAP/sys/class/iommu" | wc -l)" = "$n_units" ]
	check "captured $n_groups group(s) with a type" [ "$(ls "$CAP"/sys/kernel/iommu_groups/*/type | wc -l)" = "$n_groups" ]
	B=$(nvme_bdf)
	check "nvme's iommu_group link kept verbatim" \
		[ "$(readlink "$CAP/sys/bus/pci/devices/$B/iommu_group")" = "$(readlink "/sys/bus/pci/devices/$B/iommu_group")" ]
	for b in /sys/block/nvme0n1 /sys/block/vda; do
		check "$(basename "$b") captured under its PCI device" [ -f "$CAP$(real "$b")/dev" ]
	done
	for n in /sys/class/net/eth*; do
		check "$(basename "$n") captured under its PCI device" [ -f "$CAP$(real "$n")/ifindex" ]
	done
	(cd "$CAP" && find . | sort) > /tmp/capture.list
	say "capture: $(wc -l < /tmp/capture.list) entries"
	tar -C "$CAP" -czf /tmp/capture.tgz sys proc
	echo "@@CAPTURE-BEGIN platform=$VM_PLATFORM bytes=$(wc -c < /tmp/capture.tgz) sha256=$(sha256sum /tmp/capture.tgz | cut -d' ' -f1)"
	base64 < /tmp/capture.tgz
	echo "@@CAPTURE-END"
}
