# fio with crc32c verify against the Rust target, C host: randwrite then
# randread of blocks from 512 B to 1 MiB (below and above the 16 KiB
# in-capsule size, up to the 1 MiB the host splits no further), queue depth
# 1 and 64, every digest mode, two queue layouts, and SQ flow control
# disabled (fio_verify_matrix in scripts/guest/lib.sh).
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:fio
serve_ram rust c "$nqn" 65536
fio_verify_matrix "$nqn"
unserve_ram
