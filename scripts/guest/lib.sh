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
