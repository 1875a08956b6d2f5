# Both sides Rust: the Rust host against the Rust target, the same fio crc32c
# verify matrix as tests 21 (Rust host, C target) and 43 (C host, Rust
# target).
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:rust-rust
serve_ram rust rust "$nqn" 65536
scripts/guest/impl which host | grep -qx rust
scripts/guest/impl which target | grep -qx rust
fio_verify_matrix "$nqn"
unserve_ram
