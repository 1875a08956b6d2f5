# Shared settings for the project's scripts; sourced, never run.
#
# Everything downloaded or built lives under $CACHE so that a second run is
# cheap and the project tree stays clean.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${NVME_TCP_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nvme-tcp-rs}
KVER_SERIES=7.3

# The kernel's own Rust toolchain: Debian's rustc-web (bookworm-security),
# never rustup's, which has no rust-src and makes CONFIG_RUST drop out.
KRUSTC=/usr/bin/rustc
KRUSTDOC=/usr/bin/rustdoc
KCLIPPY=/usr/bin/clippy-driver
KRUSTFMT=/usr/bin/rustfmt
KBINDGEN=$CACHE/cargo/bin/bindgen
export LIBCLANG_PATH=/usr/lib/llvm-19/lib

VENV=$CACHE/venv
ROOTFS=$CACHE/rootfs
SRC=$CACHE/linux-src

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Directory of the built kernel for a variant (release or debug).
kbuild_dir() { echo "$CACHE/kbuild-$1"; }

# Directory where the modules of a variant (in-tree and ours) are staged.
modroot_dir() { echo "$CACHE/modroot-$1"; }

# Make variables for the kernel and module builds: clang 19 (KASAN with Rust
# needs a clang-built kernel) and the kernel's Rust toolchain.
kmake_vars() {
	echo "ARCH=x86_64 LLVM=-19 RUSTC=$KRUSTC HOSTRUSTC=$KRUSTC RUSTDOC=$KRUSTDOC BINDGEN=$KBINDGEN CLIPPY_DRIVER=$KCLIPPY"
}
