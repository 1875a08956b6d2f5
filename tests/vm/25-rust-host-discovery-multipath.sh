# The Rust host's discovery, connect-all and native multipath, against the C
# target and then the Rust target. One subsystem on two ports (127.0.0.1:4420
# and [::1]:4421):
# - `nvme discover` through the Rust host lists the subsystem and the
#   discovery subsystem; `nvme connect-all` connects to what it lists;
# - a second path over IPv6; the subsystem then has two live controllers
#   behind one namespace head;
# - fio with verify on the head while port 1 goes away and comes back: I/O
#   fails over to the other path, fio finishes with zero errors, and the lost
#   path reconnects;
# - ANA: port 2's group made inaccessible under fio; the host learns it from
#   the asynchronous event (the path's ana_state) and I/O continues on port 1.
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:multipath

# wait_file FILE VALUE SECS
wait_file() {
	local i
	for i in $(seq $(($3 * 10))); do
		[ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	echo "$1: $(cat "$1" 2>/dev/null || echo missing), not $2, after $3 s"
	return 1
}

# ctrl_for TRADDR: the controller connected to the subsystem at TRADDR.
ctrl_for() {
	local c
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn")" = "$nqn" ] || continue
		grep -q "traddr=$1," "$c/address" && { basename "$c"; return 0; }
	done
	echo "no controller for $1" >&2
	return 1
}

for target in c rust; do
	echo "== target $target"
	modprobe brd rd_nr=1 rd_size=65536
	scripts/guest/impl load "$target" target
	modprobe nvmet
	nvmet_subsys "$nqn" /dev/ram0
	nvmet_port 1 127.0.0.1 4420
	nvmet_link 1 "$nqn"
	nvmet_port 2 ::1 4421 ipv6
	nvmet_link 2 "$nqn"
	scripts/guest/impl load rust host

	echo "discover"
	nvme discover -t tcp -a 127.0.0.1 -s 4420 -o json >/tmp/disc
	python3 - /tmp/disc "$nqn" <<'PY'
import json, sys
got = sorted((r["subnqn"], r["traddr"], r["trsvcid"])
             for r in json.load(open(sys.argv[1]))["records"])
want = sorted([(sys.argv[2], "127.0.0.1", "4420"),
               ("nqn.2014-08.org.nvmexpress.discovery", "127.0.0.1", "4420")])
assert got == want, got
print("  discovery log ok")
PY
	echo "connect-all, then a second path over IPv6"
	nvme connect-all -t tcp -a 127.0.0.1 -s 4420 --reconnect-delay 1 --ctrl-loss-tmo 60
	dev=$(nvme_dev_for "$nqn")
	nvme connect -t tcp -a ::1 -s 4421 -n "$nqn" --reconnect-delay 1 --ctrl-loss-tmo 60
	c1=$(ctrl_for 127.0.0.1)
	c2=$(ctrl_for ::1)
	wait_file "/sys/class/nvme/$c1/state" live 10
	wait_file "/sys/class/nvme/$c2/state" live 10
	[ "$(ls -d /sys/class/nvme/"$c1"/nvme*c*n1 /sys/class/nvme/"$c2"/nvme*c*n1 | wc -l)" = 2 ]
	echo "  paths $c1 and $c2 behind $dev"

	echo "port 1 away and back under fio"
	fio_bg "$dev" 8m
	rm "$NVMET/ports/1/subsystems/$nqn"
	sleep 3
	nvmet_link 1 "$nqn"
	fio_wait 120
	wait_file "/sys/class/nvme/$c1/state" live 20

	echo "ANA: port 2 inaccessible under fio"
	fio_bg "$dev" 8m
	echo inaccessible >"$NVMET/ports/2/ana_groups/1/ana_state"
	wait_file "$(ls -d /sys/class/nvme/"$c2"/nvme*c*n1)/ana_state" inaccessible 20
	fio_wait 120
	echo optimized >"$NVMET/ports/2/ana_groups/1/ana_state"
	wait_file "$(ls -d /sys/class/nvme/"$c2"/nvme*c*n1)/ana_state" optimized 20

	nvme disconnect -n "$nqn"
	unserve_ram
done
