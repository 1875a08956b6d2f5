# The Rust target's port goes away under I/O and comes back: the host
# (reconnect every second) loses its queues, reconnects when the port
# returns, and a verifying fio job that ran across it finishes clean.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:portgone
serve_ram rust c "$nqn" 16384
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --reconnect-delay 1 --ctrl-loss-tmo 120
dev=$(nvme_dev_for "$nqn")
fio --name=portgone --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite --bs=8k \
	--iodepth=8 --size=4m --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--verify_state_save=0 --output-format=terse >/tmp/fio.out 2>&1 &
fio_pid=$!
sleep 2
rm "$NVMET/ports/1/subsystems/$nqn"
echo "port 1 disabled"
sleep 3
nvmet_link 1 "$nqn"
echo "port 1 back"
wait $fio_pid
tail -1 /tmp/fio.out | cut -d';' -f1-9
[ "$(tail -1 /tmp/fio.out | cut -d';' -f5)" = 0 ]
dmesg | grep -E 'nvme nvme[0-9]+: (Successfully reconnected|reconnect|starting error recovery)' | tail -3
nvme disconnect -n "$nqn"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
