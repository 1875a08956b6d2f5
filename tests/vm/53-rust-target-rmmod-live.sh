# Tearing the Rust target down under a connected host: unlinking the port
# closes the host's queues (the host starts reconnecting), rmmod then
# succeeds and leaves nothing behind (kmemleak), and the module loads again.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:rmmod
serve_ram rust c "$nqn" 16384
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --reconnect-delay 1 --ctrl-loss-tmo 5
dev=$(nvme_dev_for "$nqn")
# I/O in flight while the port goes away.
(dd if="$dev" of=/dev/null bs=64k iflag=direct status=none 2>/dev/null || true) &
sleep 1
nvmet_clear
for i in $(seq 50); do
	rmmod nvmet_tcp 2>/dev/null && break
	sleep 0.2
done
! lsmod | grep -q '^nvmet_tcp '
wait
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
