# The batching mode: both of our modules loaded wq_highpri=0 (through
# modprobe.d, so every load in the tests below gets it), where a busy
# queue's I/O work runs on the normal-priority workqueue. First that each
# module takes the option, makes its second workqueue and, under load, runs
# I/O work on it; then tests 21 (Rust host, C target), 22 (host recovery),
# 23 (Rust+Rust), 26 (queue maps, io_uring polled queues) and 43 (C host,
# Rust target) in that mode. 15 to 25 min in the debug VM.
# timeout: 2400
set -euo pipefail
. scripts/guest/lib.sh
conf=/etc/modprobe.d/nvme-tcp-rs-batching.conf
trap 'rm -f "$conf"' EXIT
mkdir -p /etc/modprobe.d
printf 'options nvme_tcp wq_highpri=0\noptions nvmet_tcp wq_highpri=0\n' >"$conf"

# Workers name the workqueue of the work they run or ran last
# ("kworker/0:2+nvme_tcp_wq_batch" while running, "-" after; a normal-
# priority worker has no "H" after its number); the rescuer of a
# WQ_MEM_RECLAIM workqueue is "kworker/R-<name>".
comms() { cat /proc/[0-9]*/comm 2>/dev/null || true; }

nqn=nqn.2026-11.io.nvme-tcp-rs:batching
serve_ram rust rust "$nqn" 65536
for m in nvme_tcp nvmet_tcp; do
	grep -qx N "/sys/module/$m/parameters/wq_highpri"
	names=$(comms)
	grep -qx "kworker/R-${m}_wq_batch" <<<"$names"
done
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i 1
dev=$(nvme_dev_for "$nqn")
fio --name=load --filename="$dev" --direct=1 --ioengine=io_uring --rw=randread \
	--bs=4k --iodepth=32 --time_based --runtime=4 --size=32m >/dev/null &
fio=$!
seen=
for _ in $(seq 40); do
	names=$(comms)
	seen+=$(grep -Eo '^kworker/[0-9]+:[0-9]+[-+]nvmet?_tcp_wq_batch$' <<<"$names" |
		sed 's/.*[-+]//' | sort -u | tr '\n' ' ' || true)
	sleep 0.1
done
wait "$fio"
seen=$(tr ' ' '\n' <<<"$seen" | sort -u | tr '\n' ' ')
echo "normal-priority workqueues seen in use: $seen"
[[ $seen == *nvme_tcp_wq_batch* && $seen == *nvmet_tcp_wq_batch* ]]
nvme disconnect -n "$nqn"
unserve_ram

for t in 21-rust-host-fio-verify 22-rust-host-recovery 23-rust-rust-fio-verify \
	26-rust-host-queue-maps 43-rust-target-fio-verify; do
	echo "=== $t with wq_highpri=0"
	bash "tests/vm/$t.sh"
done
