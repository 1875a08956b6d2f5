# fio with crc32c verify with the Rust host against the C target: randwrite
# then randread of blocks from 512 B to 1 MiB, queue depth 1 and 64, every
# digest mode, two queue layouts, and SQ flow control disabled (C2HData with
# SUCCESS): fio_verify_matrix in scripts/guest/lib.sh.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:host-fio
serve_ram c rust "$nqn" 65536
fio_verify_matrix "$nqn"
unserve_ram
