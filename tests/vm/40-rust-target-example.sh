# The seed's example served by the Rust target to the C host: modprobe,
# configfs, nvme connect, lsblk shows the namespace, a 1 MiB pattern written
# and read back, disconnect, everything unloads.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:example
serve_ram rust c "$nqn" 16384
# The port shows the default in-capsule size the transport chose.
[ "$(cat $NVMET/ports/1/param_inline_data_size)" = 16384 ]
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
dev=$(nvme_dev_for "$nqn")
lsblk "$dev"
head -c 1048576 /dev/urandom >/tmp/pattern
dd if=/tmp/pattern of="$dev" bs=64k oflag=direct status=none
dd if="$dev" of=/tmp/readback bs=64k count=16 iflag=direct status=none
cmp /tmp/pattern /tmp/readback
nvme id-ctrl "$dev" | grep -E '^(subnqn|ioccsz)'
nvme disconnect -n "$nqn"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp
rmmod brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
