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

# fio_wait SECS: waits for fio_bg's job; 0 iff it finished in time with no
# error and read everything back.
fio_wait() {
	local i rc=0
	for i in $(seq $(($1 * 10))); do
		kill -0 "$fio_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$fio_pid" 2>/dev/null; then
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

# fio_verify_matrix NQN: fio_verify at queue depth 1 and 64 over the
# subsystem NQN on 127.0.0.1:4420, for each digest mode (none, -g, -G, both)
# and two queue layouts (1 I/O queue of 16, 2 of 1024); then once more with
# SQ flow control disabled (reads end with a C2HData carrying SUCCESS and no
# CapsuleResp) and both digests. With both digests, on one I/O queue and with
# SQ flow control off, the Rust side's statistics are checked against a known
# workload (stats_check), and a Rust host's across a reset (stats_reset); the
# statistics' directories must go with the controller (stats_gone).
fio_verify_matrix() {
	local nqn=$1 digests layout dev depth
	for digests in "" "-g" "-G" "-g -G"; do
		for layout in "1 16" "2 1024"; do
			set -- $layout
			echo "digests '${digests}', nr_io_queues $1, queue_size $2"
			# shellcheck disable=SC2086
			nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i "$1" -Q "$2" $digests
			dev=$(nvme_dev_for "$nqn")
			for depth in 1 64; do
				fio_verify "$dev" "$depth"
			done
			if [ "$digests" = "-g -G" ] && [ "$1" = 1 ]; then
				stats_check "$dev" 4 4 sqflow
				stats_reset "$dev"
				nvme disconnect -n "$nqn"
				stats_gone "$dev"
			else
				nvme disconnect -n "$nqn"
			fi
		done
	done
	echo "SQ flow control disabled, data and header digests"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --disable-sqflow -g -G
	dev=$(nvme_dev_for "$nqn")
	fio_verify "$dev" 64
	stats_check "$dev" 4 4 nosqflow
	nvme disconnect -n "$nqn"
}

# The statistics of the Rust modules in debugfs (README, "Statistics").
STATS_HOST=/sys/kernel/debug/nvme_tcp
STATS_TARGET=/sys/kernel/debug/nvmet_tcp

# stats_ctrl DEV: the controller (nvmeN) of the namespace DEV (/dev/nvmeNn1).
stats_ctrl() {
	basename "$1" | sed 's/n[0-9]*$//'
}

# stats_snap DIR CTRL: a copy, in DIR, of the stats file of every queue of the
# host's controller CTRL and of every target queue (Rust modules only).
stats_snap() {
	local out=$1 ctrl=$2 f
	rm -rf "$out"
	mkdir -p "$out"
	for f in "$STATS_HOST/$ctrl"/*/stats "$STATS_TARGET"/*/stats; do
		[ -e "$f" ] || continue
		cat "$f" >"$out/$(echo "${f#/sys/kernel/debug/}" | tr / _)"
	done
}

# stats_delta BEFORE AFTER SIDE: what the I/O queues (qid 1 and up) of SIDE
# (nvme_tcp or nvmet_tcp) counted between two snapshots, summed: one line per
# counter, "name received sent" (or "name value").
stats_delta() {
	local b=$1 a=$2 side=$3 f
	for f in "$a/${side}"_*; do
		[ -e "$f" ] && [ -e "$b/${f##*/}" ] || continue
		grep -qE '^qid +[1-9]' "$f" || continue
		paste "$b/${f##*/}" "$f"
	done | awk '$1 != "qid" && $1 != "pdu" && $1 != "send_list_peak" {
		n = NF / 2
		r[$1] += $(n + 2) - $2
		if (n == 3) s[$1] += $(n + 3) - $3; else s[$1] = "-"
	} END { for (k in r) print k, r[k], s[k] }' | sort
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
	local dev=$1 hd=$2 dd=$3 flow=$4 ctrl inline n=16 small=4096 big=32768
	local cap resp h2c c2h r2t tx rx want got side rc=0
	ctrl=$(stats_ctrl "$dev")
	inline=$(cat "$NVMET"/ports/1/param_inline_data_size)
	[ "$inline" -ge "$small" ] && [ "$inline" -lt "$big" ] || {
		echo "stats: in-capsule size $inline is not between the writes' sizes"
		return 1
	}
	stats_snap /tmp/stats.before "$ctrl"
	dd if=/dev/urandom of="$dev" bs=$small count=$n oflag=direct 2>/dev/null
	dd if=/dev/urandom of="$dev" bs=$big count=$n oflag=direct 2>/dev/null
	dd if="$dev" of=/dev/null bs=$small count=$n iflag=direct 2>/dev/null
	dd if="$dev" of=/dev/null bs=$big count=$n iflag=direct 2>/dev/null
	stats_snap /tmp/stats.after "$ctrl"
	cap=$((72 + hd))
	resp=$((4 * n))
	[ "$flow" = nosqflow ] && resp=$((2 * n))
	# PDUs from host to controller, and their bytes: 4n capsules (n with
	# 4 KiB of data), n H2CData of 32 KiB.
	h2c="CapsuleCmd $((4 * n)) H2CData $n"
	tx=$((4 * n * cap + n * (small + dd) + n * (24 + hd + big + dd)))
	# From controller to host: n R2Ts, 2n C2HData, the CapsuleResps.
	c2h="R2T $n C2HData $((2 * n)) CapsuleResp $resp"
	rx=$((n * (24 + hd) + n * (24 + hd + small + dd) + n * (24 + hd + big + dd) + resp * (24 + hd)))
	for side in nvme_tcp nvmet_tcp; do
		ls /tmp/stats.after/"$side"_* >/dev/null 2>&1 || continue
		stats_delta /tmp/stats.before /tmp/stats.after "$side" >/tmp/stats.delta
		# The host sends $h2c and receives $c2h; the target the other way.
		if [ "$side" = nvme_tcp ]; then
			want=$(stats_want "$h2c" "$c2h" "$tx" "$rx")
		else
			want=$(stats_want "$c2h" "$h2c" "$rx" "$tx")
		fi
		got=$(cat /tmp/stats.delta)
		if [ "$got" = "$want" ]; then
			echo "  stats ($side, $flow): as sent, $(grep '^bytes' /tmp/stats.delta)"
		else
			echo "  stats ($side, $flow): counted"
			diff <(echo "$want") <(echo "$got") | sed 's/^/    /' || true
			rc=1
		fi
		echo "    send list peaks: $(awk '$1 == "send_list_peak" { printf "%s ", $2 }' /tmp/stats.after/"$side"_*)"
	done
	return $rc
}

# stats_want SENT RECEIVED SENT_BYTES RECEIVED_BYTES: the delta stats_delta
# prints for a side that sent and received these PDUs ("Type count ...").
stats_want() {
	local t r s
	{
		for t in ICReq ICResp CapsuleCmd CapsuleResp H2CData C2HData R2T H2CTermReq C2HTermReq; do
			r=$(echo "$2" | awk -v t="$t" '{ for (i = 1; i < NF; i += 2) if ($i == t) print $(i + 1) }')
			s=$(echo "$1" | awk -v t="$t" '{ for (i = 1; i < NF; i += 2) if ($i == t) print $(i + 1) }')
			echo "$t ${r:-0} ${s:-0}"
		done
		echo "bytes $4 $3"
		echo "data_digest_errors 0 -"
		echo "header_digest_errors 0 -"
	} | sort
}

# stats_reset DEV: with a Rust host, `nvme reset` of DEV's controller: it must
# be live again within 10 s, with one reset and no recovery counted, and one
# more ICReq sent and ICResp received on each of its queues.
stats_reset() {
	local ctrl i state f before
	ctrl=$(stats_ctrl "$1")
	[ -d "$STATS_HOST/$ctrl" ] || return 0
	before=$(cat "$STATS_HOST/$ctrl"/*/stats | awk '$1 == "ICReq" { n += $3 } END { print n }')
	nvme reset "/dev/$ctrl"
	for i in $(seq 100); do
		state=$(cat "/sys/class/nvme/$ctrl/state")
		[ "$state" = live ] && break
		sleep 0.1
	done
	echo "  after nvme reset: $state; $(tr -s ' \n' ' ' <"$STATS_HOST/$ctrl/stats")"
	[ "$state" = live ] || return 1
	grep -qxE 'resets +1' "$STATS_HOST/$ctrl/stats" &&
		grep -qxE 'recoveries +0' "$STATS_HOST/$ctrl/stats" ||
		{ echo "  not one reset and no recovery"; return 1; }
	for f in "$STATS_HOST/$ctrl"/*/stats; do
		awk '$1 == "ICReq" { s = $3 } $1 == "ICResp" { r = $2 } END { exit !(s == r && s >= 2) }' "$f" ||
			{ echo "  $f: ICReq/ICResp not counted on reconnect"; cat "$f"; return 1; }
	done
	[ "$(cat "$STATS_HOST/$ctrl"/*/stats | awk '$1 == "ICReq" { n += $3 } END { print n }')" \
		-eq $((before + $(ls -d "$STATS_HOST/$ctrl"/*/ | wc -l))) ] ||
		{ echo "  not one more ICReq per queue"; return 1; }
}

# stats_sum CTRL: the counters of every queue of the host's controller CTRL
# summed ("name received sent"), then the controller's ("name value").
stats_sum() {
	cat "$STATS_HOST/$1"/*/stats | awk '$1 != "qid" && $1 != "pdu" && $1 != "send_list_peak" {
		r[$1] += $2; if (NF == 3) s[$1] += $3; else s[$1] = "-"
	} END { for (k in r) print k, r[k], s[k] }' | sort
	cat "$STATS_HOST/$1/stats"
}

# stats_gone DEV: after DEV's controller was deleted, its statistics go with it
# (within 10 s): the host's directory, and every target queue's (nothing else
# is connected).
stats_gone() {
	local ctrl i left
	ctrl=$(stats_ctrl "$1")
	for i in $(seq 100); do
		left=$(ls -d "$STATS_HOST/$ctrl" "$STATS_TARGET"/*/ 2>/dev/null || true)
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	echo "  statistics left after the disconnect: $left"
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
