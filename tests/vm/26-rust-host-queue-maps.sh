# Queue maps of the Rust host: with nr_io_queues 1, nr_write_queues 1 and
# nr_poll_queues 1 the controller has three I/O queues that serve the
# default (writes), read and poll maps ("mapped 1/1/1"); io_uring polled I/O
# (fio --hipri, IORING_SETUP_IOPOLL) goes through the poll queue and verifies;
# plain reads go through the read queue and writes through the default one
# (the queue of every command, from the nvme core's trace event). Then with two
# of each (one queue a CPU): six queues. host_iface binds the queues to lo;
# an unknown interface is refused. The target's qid_max drops to 1 and back
# to 2 under fio: the host reconnects with fewer queues, then more, and fio
# verifies. Against the C target, then (all but the six queues and
# host_iface) against the Rust target.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:maps

# commands_on DEV RW ENGINE QID: runs 1 MiB of 4 KiB random RW (read or
# write) at queue depth 32 through ENGINE (io_uring --hipri: polled) on DEV
# and prints how many of its commands the nvme core set up on queue QID and
# how many on the others (the core's nvme_setup_cmd trace event).
commands_on() {
	local dev=$1 rw=$2 engine=$3 qid=$4 tr=/sys/kernel/tracing on off
	[ -d $tr/events ] || tr=/sys/kernel/debug/tracing
	echo >$tr/trace
	echo 1 >$tr/events/nvme/nvme_setup_cmd/enable
	# shellcheck disable=SC2086
	fio --name=sample --filename="$dev" --direct=1 --ioengine=$engine --rw="rand$rw" \
		--bs=4k --iodepth=32 --size=1m --output-format=terse >/dev/null
	echo 0 >$tr/events/nvme/nvme_setup_cmd/enable
	on=$(grep -c "qid=$qid,.*nvme_cmd_$rw" $tr/trace || true)
	off=$(grep "nvme_cmd_$rw" $tr/trace | grep -vc "qid=$qid," || true)
	echo "$on $off"
}

# hipri_verify DEV DEPTH: fio_verify through io_uring with polled completions.
hipri_verify() {
	local t0
	t0=$(date +%s)
	fio --name=hipri --filename="$1" --direct=1 --ioengine=io_uring --hipri \
		--rw=randwrite --bssplit=4k/40:16k/30:128k/30 --iodepth="$2" --size=1m \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 \
		--output-format=terse >/tmp/fio.out
	echo "  hipri qd $2: $(($(date +%s) - t0)) s, error $(cut -d';' -f5 /tmp/fio.out), read $(cut -d';' -f6 /tmp/fio.out) KiB"
	[ "$(cut -d';' -f5 /tmp/fio.out)" = 0 ]
	[ "$(cut -d';' -f6 /tmp/fio.out)" -gt 0 ]
}

# connect_maps N TOTAL: connects with N queues of each kind (-i N -W N -P N)
# and checks the core's lines for TOTAL I/O queues mapped N/N/N; sets dev.
connect_maps() {
	local from log
	from=$(dmesg | wc -l)
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i "$1" -W "$1" -P "$1"
	dev=$(nvme_dev_for "$nqn")
	log=$(dmesg | tail -n +"$((from + 1))")
	echo "$log" | grep -E "creating|mapped"
	echo "$log" | grep -q "creating $2 I/O queues"
	echo "$log" | grep -q "mapped $1/$1/$1 default/read/poll queues"
}

for target in c rust; do
	echo "== Rust host, $target target"
	serve_ram "$target" rust "$nqn" 32768
	connect_maps 1 3
	[ "$(cat /sys/block/"$(basename "$dev")"/queue/io_poll)" = 1 ]
	# qid 1 serves the default map (writes), 2 the read map, 3 the poll map.
	for check in "read io_uring --hipri 3" "read libaio 2" "write libaio 1"; do
		# shellcheck disable=SC2086
		set -- $check
		n=$(commands_on "$dev" "$1" "${*:2:$#-2}" "${@: -1}")
		echo "  $*: ${n% *} commands on queue ${*: -1}, ${n#* } elsewhere"
		[ "${n% *}" = 256 ] && [ "${n#* }" = 0 ]
	done
	hipri_verify "$dev" 1
	hipri_verify "$dev" 32
	FIO_SIZE=1m fio_verify "$dev" 16
	nvme disconnect -n "$nqn"

	# The target's qid_max changes under fio (the target drops the
	# controller): the host reconnects with 1 I/O queue, then with 2 again
	# (the tag set shrinks, then grows back), and fio verifies.
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i 2 --reconnect-delay 1
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(basename "$dev")
	ctrl=${ctrl%n*}
	fio_bg "$dev" 8m
	for q in 1 2; do
		from=$(dmesg | wc -l)
		echo $q >"$NVMET/subsystems/$nqn/attr_qid_max"
		for i in $(seq 300); do
			dmesg | tail -n +"$((from + 1))" | grep -q "$ctrl: creating $q I/O queues" &&
				[ "$(cat /sys/class/nvme/$ctrl/state)" = live ] && break
			sleep 0.1
		done
		dmesg | tail -n +"$((from + 1))" | grep "$ctrl: creating $q I/O queues"
		[ "$(cat /sys/class/nvme/$ctrl/state)" = live ]
		sleep 2
	done
	fio_wait 120
	nvme disconnect -n "$nqn"
	# nvmet's default (NVMET_NR_QUEUES).
	echo 128 >"$NVMET/subsystems/$nqn/attr_qid_max"
	if [ "$target" = rust ]; then
		unserve_ram
		continue
	fi

	connect_maps 2 6
	hipri_verify "$dev" 32
	FIO_SIZE=1m fio_verify "$dev" 32
	nvme disconnect -n "$nqn"

	# host_iface: the queues bind to the interface; an unknown one is refused.
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i 1 --host-iface=lo
	dev=$(nvme_dev_for "$nqn")
	FIO_SIZE=1m fio_verify "$dev" 8
	nvme disconnect -n "$nqn"
	if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --host-iface=nosuch0 2>/dev/null; then
		echo "connect through a missing interface succeeded"
		exit 1
	fi
	dmesg | tail -5 | grep "invalid interface passed: nosuch0"
	unserve_ram
done
