# What the Rust host does not implement yet fails with a message in the
# kernel log and EOPNOTSUPP, never an oops (served by the C target).
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:unimpl
modprobe null_blk nr_devices=1
scripts/guest/impl load c target
modprobe nvmet
nvmet_subsys "$nqn" /dev/nullb0
nvmet_port 1 127.0.0.1 4420
nvmet_link 1 "$nqn"
modprobe nvme_tcp
scripts/guest/impl which host | grep -qx rust
if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" 2>/tmp/err; then
	echo "connecting with the Rust host unexpectedly succeeded"
	exit 1
fi
cat /tmp/err
dmesg | tail -5 | grep -q "nvme_tcp: connect to 127.0.0.1:4420 ($nqn): controllers are not implemented yet"
nvmet_clear
rmmod nvme_tcp null_blk
scripts/guest/impl unload target
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
