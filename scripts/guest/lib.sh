# Guest-side helpers for the demo, tests and benchmarks: configure an nvmet
# subsystem and TCP port through configfs, connect and disconnect the host.
# Sourced inside the VM (scripts/vm).

NVMET=/sys/kernel/config/nvmet

# nvmet_subsys NQN DEVICE: a subsystem open to any host, with namespace 1
# backed by DEVICE.
nvmet_subsys() {
	local nqn=$1 dev=$2 s
	s=$NVMET/subsystems/$nqn
	mkdir "$s"
	echo 1 >"$s/attr_allow_any_host"
	mkdir "$s/namespaces/1"
	echo -n "$dev" >"$s/namespaces/1/device_path"
	echo 1 >"$s/namespaces/1/enable"
}

# nvmet_port ID TRADDR TRSVCID [ADRFAM]: a TCP port, not yet enabled.
nvmet_port() {
	local id=$1 p
	p=$NVMET/ports/$id
	mkdir "$p"
	echo -n "${4:-ipv4}" >"$p/addr_adrfam"
	echo -n tcp >"$p/addr_trtype"
	echo -n "$2" >"$p/addr_traddr"
	echo -n "$3" >"$p/addr_trsvcid"
}

# nvmet_link PORT NQN: export the subsystem on the port (this enables the
# port: the core loads the transport and calls its add_port).
nvmet_link() {
	ln -s "$NVMET/subsystems/$2" "$NVMET/ports/$1/subsystems/$2"
}

# serve_ram TARGET HOST NQN KIB [ADDR [RUN...]]: a RAM disk of KIB KiB exported
# as NQN on port 1 (ADDR:4420, 127.0.0.1 by default) by the TARGET
# implementation (c or rust), the port enabled through RUN if given (e.g.
# in_target, for the namespace it listens in), and the HOST implementation
# loaded, not yet connected.
serve_ram() {
	local target=$1 host=$2 nqn=$3 kib=$4 addr=${5:-127.0.0.1} impl
	shift 4
	[ $# = 0 ] || shift
	impl=$(dirname "${BASH_SOURCE[0]}")/impl
	modprobe brd rd_nr=1 rd_size="$kib"
	"$impl" load "$target" target
	modprobe nvmet
	nvmet_subsys "$nqn" /dev/ram0
	nvmet_port 1 "$addr" 4420
	"$@" ln -s "$NVMET/subsystems/$nqn" "$NVMET/ports/1/subsystems/$nqn"
	"$impl" load "$host" host
}

# unserve_ram: undo serve_ram (and whatever else configfs holds): ports,
# subsystems, both implementations, the RAM disks and the cores.
unserve_ram() {
	local impl
	impl=$(dirname "${BASH_SOURCE[0]}")/impl
	nvmet_clear
	"$impl" unload host
	"$impl" unload target
	rmmod brd
	rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
}

# fio_verify DEV DEPTH: randwrite with crc32c verify of blocks from 512 B to
# 1 MiB (FIO_SIZE bytes, default 3m): fio writes every block with a checksum
# header, then reads them all back (random order) and checks them; any
# mismatch or I/O error fails. Leaves the IOPS of the writes and of the reads
# in fio_wiops and fio_riops.
fio_verify() {
	local dev=$1 depth=$2
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bssplit=512/15:4k/25:16k/15:20k/15:128k/15:1m/15 \
		--iodepth="$depth" --size="${FIO_SIZE:-3m}" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --verify_state_save=0 --output-format=terse >/tmp/fio.out
	# Terse v3: field 5 is the error, 6 KiB read (the verify pass), 47 KiB
	# written.
	echo "  qd $depth: error $(cut -d';' -f5 /tmp/fio.out), read $(cut -d';' -f6 /tmp/fio.out) KiB, wrote $(cut -d';' -f47 /tmp/fio.out) KiB"
	# Fields 49 and 8: the IOPS of the writes and of the verifying reads.
	fio_wiops=$(cut -d';' -f49 /tmp/fio.out)
	fio_riops=$(cut -d';' -f8 /tmp/fio.out)
	[ "$(cut -d';' -f5 /tmp/fio.out)" = 0 ]
	[ "$(cut -d';' -f6 /tmp/fio.out)" -gt 0 ]
}

# fio_bg DEV SIZE: starts a randwrite+verify job on DEV in the background
# and returns once its writes are under way.
fio_bg() {
	local before i
	before=$(awk '{ print $5 }' "/sys/block/$(basename "$1")/stat")
	fio --name=background --filename="$1" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=32 --size="$2" --verify=crc32c \
		--verify_fatal=1 --do_verify=1 --verify_state_save=0 \
		--output-format=terse >/tmp/fio.out 2>/tmp/fio.err &
	fio_pid=$!
	for i in $(seq 300); do
		[ "$(awk '{ print $5 }' "/sys/block/$(basename "$1")/stat")" -gt $((before + 200)) ] &&
			return 0
		sleep 0.1
	done
	echo "fio wrote nothing in 30 s"
	return 1
}

# proc_gone PID SECS: waits up to SECS seconds for process PID to end; fails
# if it is still running.
proc_gone() {
	local i
	for i in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# fio_wait SECS: waits for fio_bg's job; 0 iff it finished in time with no
# error and read everything back.
fio_wait() {
	local rc=0
	if ! proc_gone "$fio_pid" "$1"; then
		echo "fio still running after $1 s"
		kill -9 "$fio_pid"
		wait "$fio_pid" || true
		return 1
	fi
	wait "$fio_pid" || rc=$?
	echo "  fio status $rc, error $(cut -d';' -f5 /tmp/fio.out 2>/dev/null), verified $(cut -d';' -f6 /tmp/fio.out 2>/dev/null) KiB"
	[ $rc = 0 ] && [ "$(cut -d';' -f5 /tmp/fio.out)" = 0 ] &&
		[ "$(cut -d';' -f6 /tmp/fio.out)" -gt 0 ] || { cat /tmp/fio.err; return 1; }
}

# fio_verify_matrix NQN: fio_verify (2 MiB) over the subsystem NQN on
# 127.0.0.1:4420, each digest mode (none, -g, -G, both) on one of two queue
# layouts (1 I/O queue of 16, 2 of 1024) and each layout with and without
# digests, at queue depth 64; queue depth 1 once, without digests (the one
# command in flight takes the same path whatever the digests); then SQ flow
# control disabled (reads end with a C2HData carrying SUCCESS and no
# CapsuleResp) with both digests on the default queues. With both digests, on
# one I/O queue and with SQ flow control off, the Rust side's statistics are
# checked against a known workload (stats_check), and a Rust host's across a
# reset (stats_reset); the statistics' directories must go with the
# controller (stats_gone).
fio_verify_matrix() {
	local nqn=$1 case digests queues size depths dev depth FIO_SIZE=${FIO_SIZE:-2m}
	for case in "none 1 16 1,64" "none 2 1024 64" "-g 2 1024 64" "-G 1 16 64" "-g,-G 1 16 64"; do
		set -- $case
		digests=${1//,/ } queues=$2 size=$3 depths=${4//,/ }
		[ "$digests" != none ] || digests=
		echo "digests '${digests}', nr_io_queues $queues, queue_size $size"
		# shellcheck disable=SC2086
		nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i "$queues" -Q "$size" $digests
		dev=$(nvme_dev_for "$nqn")
		for depth in $depths; do
			fio_verify "$dev" "$depth"
		done
		if [ "$digests" = "-g -G" ]; then
			stats_check "$dev" 4 4 sqflow
			stats_reset "$dev"
			nvme disconnect -n "$nqn"
			stats_gone "$dev"
		else
			nvme disconnect -n "$nqn"
		fi
	done
	echo "SQ flow control disabled, data and header digests"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --disable-sqflow -g -G
	dev=$(nvme_dev_for "$nqn")
	fio_verify "$dev" 64
	stats_check "$dev" 4 4 nosqflow
	nvme disconnect -n "$nqn"
}

# The statistics of the Rust modules in debugfs (README, "Statistics"). The
# helpers spawn few processes: under emulation each costs about 0.15 s.
STATS_HOST=/sys/kernel/debug/nvme_tcp
STATS_TARGET=/sys/kernel/debug/nvmet_tcp

# stats_ctrl DEV: sets STATS_CTRL to the controller (nvmeN) of the namespace
# DEV (/dev/nvmeNn1).
stats_ctrl() {
	STATS_CTRL=${1##*/}
	STATS_CTRL=${STATS_CTRL%n[0-9]*}
}

# stats_snap DIR CTRL: a copy, in DIR, of the stats file of every queue of the
# host's controller CTRL and of every target queue (Rust modules only), named
# nvme_tcp_CTRL_QID and nvmet_tcp_N.
stats_snap() {
	local out=$1 ctrl=$2 f q
	rm -rf "$out"
	mkdir -p "$out"
	for f in "$STATS_HOST/$ctrl"/*/stats; do
		[ -e "$f" ] || continue
		q=${f%/stats}
		cat "$f" >"$out/nvme_tcp_${ctrl}_${q##*/}"
	done
	for f in "$STATS_TARGET"/*/stats; do
		[ -e "$f" ] || continue
		q=${f%/stats}
		cat "$f" >"$out/nvmet_tcp_${q##*/}"
	done
}

# stats_compare BEFORE AFTER SIDE WANT: compares what the I/O queues (qid 1
# and up) of SIDE (nvme_tcp or nvmet_tcp) counted between two snapshots,
# summed, with WANT ("name received sent;..." for every counter but the
# peak, "-" for a counter with one value). Prints "as sent, bytes R S" or
# each difference, then the send list peaks; fails on a difference.
stats_compare() {
	local b=$1 a=$2 side=$3 want=$4 f files=()
	for f in "$a/${side}"_*; do
		[ -e "$f" ] && [ -e "$b/${f##*/}" ] && files+=("$b/${f##*/}" "$f")
	done
	[ ${#files[@]} -gt 0 ] || { echo "  stats ($side): no queue to compare"; return 1; }
	awk -v after="$a/" -v want="$want" '
	FNR == 1 { io = ($1 == "qid" && $2 ~ /^[1-9]/); sign = index(FILENAME, after) == 1 ? 1 : -1 }
	!io || $1 == "qid" || $1 == "pdu" { next }
	$1 == "send_list_peak" { if (sign > 0) peaks = peaks " " $2; next }
	{ r[$1] += sign * $2; s[$1] = NF == 3 ? s[$1] + sign * $3 : "-" }
	END {
		n = split(want, w, ";")
		for (i = 1; i <= n; i++) {
			split(w[i], f, " ")
			seen[f[1]] = 1
			if (r[f[1]] "" != f[2] "" || s[f[1]] "" != f[3] "") {
				printf "    %s: counted %s %s, expected %s %s\n", f[1], r[f[1]], s[f[1]], f[2], f[3]
				bad = 1
			}
		}
		for (k in r) if (!(k in seen)) { printf "    %s: not expected\n", k; bad = 1 }
		if (!bad) printf "as sent, bytes %s %s\n", r["bytes"], s["bytes"]
		printf "    send list peaks:%s\n", peaks
		exit bad
	}' "${files[@]}"
}

# stats_check DEV HDGST DDGST sqflow|nosqflow: on the controller of DEV (one
# or more I/O queues, no other I/O), 16 writes and 16 reads each of 4 KiB
# (in the capsule) and 32 KiB (by R2T and one H2CData) at queue depth 1
# (dd, direct); then on each Rust side, the I/O queues' counters must have
# moved by exactly that: CapsuleCmds = commands issued, R2Ts and H2CData =
# the 32 KiB writes, C2HData = the reads, CapsuleResps = every command (or
# the writes alone without SQ flow control), and the bytes their PLENs with
# HDGST/DDGST-byte digests; no digest error, no TermReq, no ICReq.
stats_check() {
	local dev=$1 hd=$2 dd=$3 flow=$4 inline n=16 small=4096 big=32768
	local cap rsp tx rx host target side want rc=0
	stats_ctrl "$dev"
	read -r inline <"$NVMET"/ports/1/param_inline_data_size
	[ "$inline" -ge "$small" ] && [ "$inline" -lt "$big" ] || {
		echo "stats: in-capsule size $inline is not between the writes' sizes"
		return 1
	}
	stats_snap /tmp/stats.before "$STATS_CTRL"
	dd if=/dev/zero of="$dev" bs=$small count=$n oflag=direct 2>/dev/null
	dd if=/dev/zero of="$dev" bs=$big count=$n oflag=direct 2>/dev/null
	dd if="$dev" of=/dev/null bs=$small count=$n iflag=direct 2>/dev/null
	dd if="$dev" of=/dev/null bs=$big count=$n iflag=direct 2>/dev/null
	stats_snap /tmp/stats.after "$STATS_CTRL"
	cap=$((72 + hd))
	rsp=$((4 * n))
	[ "$flow" = nosqflow ] && rsp=$((2 * n))
	# Host to controller: 4n capsules (n with 4 KiB of data), n H2CData of
	# 32 KiB. Controller to host: n R2Ts, 2n C2HData, the CapsuleResps.
	tx=$((4 * n * cap + n * (small + dd) + n * (24 + hd + big + dd)))
	rx=$((n * (24 + hd) + n * (24 + hd + small + dd) + n * (24 + hd + big + dd) + rsp * (24 + hd)))
	# "name received sent" on the host; the target's swaps the columns.
	host="CapsuleCmd 0 $((4 * n));H2CData 0 $n;R2T $n 0;C2HData $((2 * n)) 0;CapsuleResp $rsp 0"
	host+=";ICReq 0 0;ICResp 0 0;H2CTermReq 0 0;C2HTermReq 0 0;bytes $rx $tx"
	target="CapsuleCmd $((4 * n)) 0;H2CData $n 0;R2T 0 $n;C2HData 0 $((2 * n));CapsuleResp 0 $rsp"
	target+=";ICReq 0 0;ICResp 0 0;H2CTermReq 0 0;C2HTermReq 0 0;bytes $tx $rx"
	for side in nvme_tcp nvmet_tcp; do
		set -- /tmp/stats.after/"$side"_*
		[ -e "$1" ] || continue
		if [ $side = nvme_tcp ]; then want=$host; else want=$target; fi
		echo -n "  stats ($side, $flow): "
		stats_compare /tmp/stats.before /tmp/stats.after "$side" \
			"$want;data_digest_errors 0 -;header_digest_errors 0 -" || rc=1
	done
	return $rc
}

# stats_reset DEV: with a Rust host, `nvme reset` of DEV's controller: it must
# be live again within 10 s, with one reset and no recovery counted, and one
# more ICReq sent and ICResp received on each of its queues.
stats_reset() {
	local i state ctrl before
	stats_ctrl "$1"
	ctrl=$STATS_HOST/$STATS_CTRL
	[ -d "$ctrl" ] || return 0
	stats_snap /tmp/stats.reset "$STATS_CTRL"
	nvme reset "/dev/$STATS_CTRL"
	for i in $(seq 100); do
		read -r state <"/sys/class/nvme/$STATS_CTRL/state"
		[ "$state" = live ] && break
		sleep 0.1
	done
	[ "$state" = live ] || { echo "  not live 10 s after nvme reset: $state"; return 1; }
	# Each queue: one more ICReq sent and ICResp received. The controller:
	# one reset, no recovery.
	awk -v before=/tmp/stats.reset/ '
	FNR == 1 { q = $1 == "qid"; sign = index(FILENAME, before) == 1 ? -1 : 1; if (q && sign > 0) queues++ }
	q && $1 == "ICReq" { sent += sign * $3 }
	q && $1 == "ICResp" { received += sign * $2 }
	!q { c[$1] = $2; line = line " " $1 " " $2 }
	END {
		printf "  after nvme reset: live;%s; %d queues, ICReq sent %+d, ICResp received %+d\n", line, queues, sent, received
		exit !(c["resets"] == 1 && c["recoveries"] == 0 && sent == queues && received == queues)
	}' /tmp/stats.reset/nvme_tcp_* "$ctrl"/*/stats "$ctrl/stats" ||
		{ echo "  not one reset, no recovery and one ICReq/ICResp more per queue"; return 1; }
}

# stats_sum CTRL: the counters of every queue of the host's controller CTRL
# summed ("name received sent"), then the controller's ("name value").
stats_sum() {
	awk 'FNR == 1 { q = $1 == "qid" }
	q && $1 != "qid" && $1 != "pdu" && $1 != "send_list_peak" { r[$1] += $2; s[$1] = NF == 3 ? s[$1] + $3 : "-" }
	!q { print }
	END { for (k in r) print k, r[k], s[k] }' "$STATS_HOST/$1"/*/stats "$STATS_HOST/$1/stats"
}

# stats_gone DEV: after DEV's controller was deleted, its statistics go with it
# (within 10 s): the host's directory, and every target queue's (nothing else
# is connected).
stats_gone() {
	local i f left
	stats_ctrl "$1"
	for i in $(seq 100); do
		left=
		for f in "$STATS_HOST/$STATS_CTRL" "$STATS_TARGET"/*/; do
			[ -e "$f" ] && left+=" $f"
		done
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	echo "  statistics left after the disconnect:$left"
	return 1
}

# nvmet_clear: remove every port and subsystem.
nvmet_clear() {
	local p s n h
	[ -d "$NVMET" ] || return 0
	for p in "$NVMET"/ports/*; do
		[ -d "$p" ] || continue
		rm -f "$p"/subsystems/* 2>/dev/null || true
		rmdir "$p"
	done
	for s in "$NVMET"/subsystems/*; do
		[ -d "$s" ] || continue
		rm -f "$s"/allowed_hosts/* 2>/dev/null || true
		for n in "$s"/namespaces/*; do
			[ -d "$n" ] || continue
			echo 0 >"$n/enable"
			rmdir "$n"
		done
		rmdir "$s"
	done
	for h in "$NVMET"/hosts/*; do
		[ -d "$h" ] && rmdir "$h"
	done
	return 0
}

# fabrics_connect TRADDR TRSVCID NQN: connect the host to NQN through the
# kernel's /dev/nvme-fabrics directly (the kernel's default host NQN and ID)
# and print the controller's name (nvmeN). For tests that connect and
# disconnect from several shells at once: nvme-cli's libnvme scans the whole
# sysfs topology on every connect and can crash when another controller
# disappears under the scan (seen once here, in CI: "Segmentation fault nvme
# connect"), which says nothing about the drivers under test.
fabrics_connect() {
	local fd line
	exec {fd}<>/dev/nvme-fabrics
	if ! printf 'transport=tcp,traddr=%s,trsvcid=%s,nqn=%s' "$1" "$2" "$3" >&"$fd"; then
		exec {fd}>&-
		return 1
	fi
	read -r line <&"$fd" || true
	exec {fd}>&-
	case $line in
	instance=*) line=${line#instance=}; echo "nvme${line%%,*}" ;;
	*) echo "fabrics_connect: unexpected reply '$line'" >&2; return 1 ;;
	esac
}

# fabrics_disconnect CTRL: delete the controller CTRL (nvmeN), as
# nvme disconnect does, through its sysfs attribute (synchronous).
fabrics_disconnect() {
	echo 1 >"/sys/class/nvme/$1/delete_controller"
}

# nvme_dev_for NQN: the block device of the first namespace of the
# subsystem NQN the host is connected to (waits up to 10 s for it).
nvme_dev_for() {
	local nqn=$1 s n i
	for i in $(seq 100); do
		for s in /sys/class/nvme-subsystem/nvme-subsys*; do
			[ "$(cat "$s/subsysnqn" 2>/dev/null)" = "$nqn" ] || continue
			for n in "$s"/nvme*n*; do
				[ -e "$n" ] || continue
				[ -b "/dev/$(basename "$n")" ] || continue
				echo "/dev/$(basename "$n")"
				return 0
			done
		done
		sleep 0.1
	done
	return 1
}

# ctrl_of DEV: the controller (nvmeN) of the namespace block device DEV.
ctrl_of() {
	local c=${1##*/}
	echo "${c%n*}"
}

# wait_state CTRL STATE SECS: waits for the controller's state.
wait_state() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(cat "/sys/class/nvme/$1/state" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	echo "$1: state $(cat "/sys/class/nvme/$1/state" 2>/dev/null || echo gone), not $2, after $3 s"
	return 1
}

# ctrl_gone CTRL SECS: waits for the controller to be removed.
ctrl_gone() {
	local i
	for i in $(seq $(($2 * 10))); do
		[ -e "/sys/class/nvme/$1" ] || return 0
		sleep 0.1
	done
	echo "controller $1 still there after $2 s"
	return 1
}

# A mark in the kernel log, for checks of what was logged since: new_mark
# writes a new one (named by the time, so that no earlier test's mark in the
# same boot matches), since_mark prints the log from it, and log_has CTRL
# TEXT checks that it has "nvme CTRL: TEXT".
LOG_MARK=
new_mark() {
	LOG_MARK=$EPOCHREALTIME
	echo "test-mark $LOG_MARK" >/dev/kmsg
}

since_mark() {
	dmesg | sed -n "/test-mark $LOG_MARK\$/,\$p"
}

log_has() {
	since_mark | grep -q "nvme $1: $2" ||
		{ echo "no \"nvme $1: $2\" in the kernel log"; return 1; }
}

# fio_passes DEV OUT PID: fio write+verify passes (4 KiB to 128 KiB, QD 16)
# on DEV until the file OUT has a line "DONE" or process PID has ended (a
# hostile tool's run); prints how many passes and their errors, and fails if
# any pass had one.
fio_passes() {
	local dev=$1 out=$2 pid=$3 passes=0 bad=0 frc
	while ! grep -q '^DONE' "$out" && kill -0 "$pid" 2>/dev/null; do
		passes=$((passes + 1))
		frc=0
		fio --name=passes --filename="$dev" --direct=1 --ioengine=libaio \
			--rw=randwrite --bssplit=4k/30:16k/20:64k/25:128k/25 --iodepth=16 \
			--size=4m --verify=crc32c --verify_fatal=1 --do_verify=1 \
			--verify_state_save=0 --output-format=terse \
			>/tmp/fio.out 2>/tmp/fio.err || frc=$?
		if [ $frc != 0 ] || [ "$(tail -1 /tmp/fio.out | cut -d';' -f5)" != 0 ]; then
			bad=$((bad + 1))
			echo "fio pass $passes: status $frc"
			cat /tmp/fio.err
			tail -1 /tmp/fio.out | cut -d';' -f1-9
		fi
	done
	echo "fio: $passes write+verify passes, $bad with errors"
	[ $bad = 0 ]
}

# Two network stacks joined by a veth pair, for tests over a link that is not
# loopback: the target's namespace NETNS_T (veth-t, 10.0.0.1/24) and the
# host's NETNS_H (veth-h, 10.0.0.2/24); with NETNS_H empty, the host's end is
# in the initial namespace. Commands run in one with in_target or in_host
# (nsenter, which changes only the network namespace: `ip netns exec` would
# mount a sysfs of its own over /sys and hide configfs).
NETNS_T=nvmet-t
NETNS_H=${NETNS_H-nvme-h}
NET_TADDR=10.0.0.1
NET_HADDR=10.0.0.2

# netns_up: creates the namespaces and the link between them.
netns_up() {
	ip netns add "$NETNS_T"
	if [ -n "$NETNS_H" ]; then
		ip netns add "$NETNS_H"
		ip link add veth-t netns "$NETNS_T" type veth peer name veth-h netns "$NETNS_H"
		ip -n "$NETNS_H" link set lo up
	else
		ip link add veth-t netns "$NETNS_T" type veth peer name veth-h
	fi
	ip -n "$NETNS_T" link set lo up
	ip -n "$NETNS_T" addr add "$NET_TADDR/24" dev veth-t
	ip -n "$NETNS_T" link set veth-t up
	host_ip addr add "$NET_HADDR/24" dev veth-h
	host_ip link set veth-h up
}

# netns_down: removes the namespaces and the link (a namespace goes once
# nothing holds it: disconnect the host and remove the ports first).
netns_down() {
	[ -n "$NETNS_H" ] || ip link del veth-h 2>/dev/null || true
	[ -z "$NETNS_H" ] || ip netns del "$NETNS_H" 2>/dev/null || true
	ip netns del "$NETNS_T" 2>/dev/null || true
}

# in_target CMD...: runs CMD in the target's network namespace.
in_target() {
	nsenter --net="/run/netns/$NETNS_T" "$@"
}

# in_host CMD...: runs CMD in the host's network namespace.
in_host() {
	if [ -n "$NETNS_H" ]; then
		nsenter --net="/run/netns/$NETNS_H" "$@"
	else
		"$@"
	fi
}

# host_ip ARGS...: `ip ARGS...` in the host's network namespace.
host_ip() {
	ip ${NETNS_H:+-n "$NETNS_H"} "$@"
}

# link_each ARGS...: `ip ARGS... dev IF` for each end of the link.
link_each() {
	ip -n "$NETNS_T" "$@" dev veth-t
	host_ip "$@" dev veth-h
}

# netem ARGS...: the netem qdisc with ARGS on both ends of the link (each
# direction); `netem` with no ARGS removes it.
netem() {
	if [ $# = 0 ]; then
		tc -n "$NETNS_T" qdisc del dev veth-t root 2>/dev/null || true
		in_host tc qdisc del dev veth-h root 2>/dev/null || true
	else
		tc -n "$NETNS_T" qdisc replace dev veth-t root netem "$@"
		in_host tc qdisc replace dev veth-h root netem "$@"
	fi
}

# link_mtu MTU: sets the MTU of both ends.
link_mtu() {
	link_each link set mtu "$1"
}

# serve_ram_netns TARGET HOST NQN KIB: serve_ram over the link: port 1
# listens on NET_TADDR:4420, enabled from the target's namespace.
serve_ram_netns() {
	serve_ram "$1" "$2" "$3" "$4" "$NET_TADDR" in_target
}

# connect_netns NQN [OPTION...]: nvme connect from the host's namespace to
# NET_TADDR:4420.
connect_netns() {
	local nqn=$1
	shift
	in_host nvme connect -t tcp -a "$NET_TADDR" -s 4420 -n "$nqn" "$@"
}

# --- TLS (tests 28 and 56) ---

# tlshd_start: tlshd (ktls-utils) in the background, logging to
# /tmp/tlshd.log, with the .nvme keyring in its session (ktls-utils links it
# by default since 0.12; said here for older ones). It has no ready signal:
# it is given a moment to join the handshake netlink group.
tlshd_start() {
	[ -x /usr/sbin/tlshd ] || { echo "no tlshd in the guest"; return 1; }
	printf '[debug]\nloglevel=1\n[authenticate]\nkeyrings=.nvme\n' >/tmp/tlshd.conf
	/usr/sbin/tlshd -s -c /tmp/tlshd.conf >>/tmp/tlshd.log 2>&1 &
	TLSHD_PID=$!
	sleep 2
	kill -0 "$TLSHD_PID" || { echo "tlshd did not start:"; cat /tmp/tlshd.log; return 1; }
}

# tlshd_end RC: a test's clean-up: the end of tlshd's log if the test failed
# (RC, its exit status, not 0), then tlshd_stop.
tlshd_end() {
	if [ "$1" != 0 ] && [ -s /tmp/tlshd.log ]; then
		echo "--- the end of tlshd's log"
		tail -n 40 /tmp/tlshd.log
	fi
	tlshd_stop
}

# tlshd_stop: stops the tlshd tlshd_start started, if it runs (stopped or not).
tlshd_stop() {
	[ -n "${TLSHD_PID:-}" ] || return 0
	kill -CONT "$TLSHD_PID" 2>/dev/null || true
	kill "$TLSHD_PID" 2>/dev/null || true
	wait "$TLSHD_PID" 2>/dev/null || true
	TLSHD_PID=
}

# tls_psk HOSTNQN SUBSYSNQN: a new PSK (nvme gen-tls-key) inserted into the
# .nvme keyring as the retained PSK for the pair (identity version 1, the
# one nvme-cli derives when it inserts a key itself). Sets TLS_KEY (the
# interchange format) and TLS_PSK (the inserted key's serial, lower-case
# hex).
tls_psk() {
	TLS_KEY=$(nvme gen-tls-key --hostnqn="$1" --subsysnqn="$2" | grep -o '^NVMeTLSkey-[^ ]*')
	TLS_PSK=$(nvme check-tls-key --hostnqn="$1" --subsysnqn="$2" --identity=1 --insert \
		--keydata="$TLS_KEY" | sed -n 's/^Inserted TLS key \([0-9a-fA-F]*\)$/\1/p' | tr 'A-F' 'a-f')
	[ -n "$TLS_PSK" ]
}

# tls_port ID TREQ: makes the disabled port ID a TLS 1.3 port with addr_treq
# TREQ (required or "not required").
tls_port() {
	echo -n tls1.3 >"$NVMET/ports/$1/addr_tsas"
	echo -n "$2" >"$NVMET/ports/$1/addr_treq"
}

# tls_key_of CTRL: the host controller's tls_key attribute (empty if none).
tls_key_of() {
	cat "/sys/class/nvme/$1/tls_key" 2>/dev/null || true
}
