# Repeated life cycles on the Rust target: create port -> connect -> I/O ->
# disconnect -> remove port, LIFECYCLE_CYCLES times in all (40 by default;
# the longer tier's test 74 runs 100),
# as two streams side by side, each with its own subsystem, RAM disk and
# port, so that the cycles of one overlap those of the other; kmemleak
# (checked by the runner) must stay clean. About 8 s a cycle in the debug
# kernel under emulation, for each stream. The host side connects through
# /dev/nvme-fabrics (fabrics_connect), not nvme-cli, whose topology scan is
# not safe against the other stream's controllers coming and going.
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
base=nqn.2026-11.io.nvme-tcp-rs:cycle
cycles=${LIFECYCLE_CYCLES:-40}
modprobe brd rd_nr=2 rd_size=4096
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvmet_subsys "${base}1" /dev/ram0
nvmet_subsys "${base}2" /dev/ram1
scripts/guest/impl load c host
head -c 262144 /dev/urandom >/tmp/pattern

# stream ID COUNT: COUNT cycles on port ID (TCP port 4419 + ID) with
# subsystem ${base}ID.
stream() {
	local id=$1 nqn=$base$1 svc=$((4419 + $1)) ctrl dev i
	for i in $(seq "$2"); do
		nvmet_port "$id" 127.0.0.1 "$svc"
		nvmet_link "$id" "$nqn"
		ctrl=$(fabrics_connect 127.0.0.1 "$svc" "$nqn")
		dev=$(nvme_dev_for "$nqn")
		dd if=/tmp/pattern of="$dev" bs=64k oflag=direct status=none
		dd if="$dev" of="/tmp/readback$id" bs=64k count=4 iflag=direct status=none
		cmp /tmp/pattern "/tmp/readback$id"
		fabrics_disconnect "$ctrl"
		rm "$NVMET/ports/$id/subsystems/$nqn"
		rmdir "$NVMET/ports/$id"
	done
	echo "stream $id: $i cycles"
}

(set -e; stream 1 $((cycles / 2))) &
one=$!
(set -e; stream 2 $((cycles - cycles / 2))) &
two=$!
rc=0
wait $one || rc=1
wait $two || rc=1
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
exit $rc
