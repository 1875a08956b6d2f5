# Controller resets and a disconnect while I/O runs on the Rust target: a
# verifying fio job survives three resets with no error; a disconnect in the
# middle of another job fails that job's I/O but leaves no kernel report;
# then 20 quick resets in a row (queues released while new ones connect).
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:reset
serve_ram rust c "$nqn" 16384
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
dev=$(nvme_dev_for "$nqn")
ctrl=/dev/$(basename "$dev" | sed 's/n[0-9]*$//')
fio --name=reset --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite --bs=16k \
	--iodepth=16 --size=4m --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--verify_state_save=0 --output-format=terse >/tmp/fio.out 2>&1 &
fio_pid=$!
for i in 1 2 3; do
	sleep 1
	nvme reset "$ctrl" || true
done
wait $fio_pid
tail -1 /tmp/fio.out | cut -d';' -f1-9
[ "$(tail -1 /tmp/fio.out | cut -d';' -f5)" = 0 ]
echo "fio verified through 3 resets"
for i in $(seq 20); do
	nvme reset "$ctrl" 2>/dev/null || sleep 0.2
done
dd if="$dev" of=/dev/null bs=64k count=16 iflag=direct status=none
echo "I/O after 20 resets"
(dd if=/dev/zero of="$dev" bs=64k count=4096 oflag=direct status=none 2>/dev/null || true) &
sleep 1
nvme disconnect -n "$nqn"
wait
echo "disconnected under I/O"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
