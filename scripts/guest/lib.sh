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

# serve_ram TARGET HOST NQN KIB: a RAM disk of KIB KiB exported as NQN on
# port 1 (127.0.0.1:4420) by the TARGET implementation (c or rust), and the
# HOST implementation loaded, not yet connected.
serve_ram() {
	local target=$1 host=$2 nqn=$3 kib=$4 impl
	impl=$(dirname "${BASH_SOURCE[0]}")/impl
	modprobe brd rd_nr=1 rd_size="$kib"
	"$impl" load "$target" target
	modprobe nvmet
	nvmet_subsys "$nqn" /dev/ram0
	nvmet_port 1 127.0.0.1 4420
	nvmet_link 1 "$nqn"
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
# CapsuleResp) and both digests.
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
			nvme disconnect -n "$nqn"
		done
	done
	echo "SQ flow control disabled, data and header digests"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --disable-sqflow -g -G
	dev=$(nvme_dev_for "$nqn")
	fio_verify "$dev" 64
	nvme disconnect -n "$nqn"
}

# nvmet_clear: remove every port and subsystem.
nvmet_clear() {
	local p s
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
	local target=$1 host=$2 nqn=$3 kib=$4 impl
	impl=$(dirname "${BASH_SOURCE[0]}")/impl
	modprobe brd rd_nr=1 rd_size="$kib"
	"$impl" load "$target" target
	modprobe nvmet
	nvmet_subsys "$nqn" /dev/ram0
	nvmet_port 1 "$NET_TADDR" 4420
	in_target ln -s "$NVMET/subsystems/$nqn" "$NVMET/ports/1/subsystems/$nqn"
	"$impl" load "$host" host
}

# connect_netns NQN [OPTION...]: nvme connect from the host's namespace to
# NET_TADDR:4420.
connect_netns() {
	local nqn=$1
	shift
	in_host nvme connect -t tcp -a "$NET_TADDR" -s 4420 -n "$nqn" "$@"
}
