# The in-tree C modules stay loadable next to ours: the seed's example with
# the C target and the C host, with a data check.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:cc
serve_ram c c "$nqn" 16384
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
dev=$(nvme_dev_for "$nqn")
echo "connected: $dev"
lsblk "$dev"
head -c 1048576 /dev/urandom >/tmp/pattern
dd if=/tmp/pattern of="$dev" bs=64k oflag=direct status=none
dd if="$dev" of=/tmp/readback bs=64k count=16 iflag=direct status=none
cmp /tmp/pattern /tmp/readback
[ "$(scripts/guest/impl which host)" = c ]
[ "$(scripts/guest/impl which target)" = c ]
nvme disconnect -n "$nqn"
unserve_ram
