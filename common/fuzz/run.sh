#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs every fuzz target of the PDU crate for SECONDS each (default 20), starting from the
# committed seed corpus (copied into build/fuzz-corpus/TARGET, which keeps growing across
# runs), and fails on any crash; a crashing input is saved under common/fuzz/artifacts/. Part of the test command.
#
# Usage: common/fuzz/run.sh [SECONDS]
#
# Needs cargo-fuzz, installed into the project's tool cache with:
#   scripts/setup (or: cargo install --locked --root ~/.cache/nvme-tcp-rs/cargo cargo-fuzz)
# Only stable rustc exists here; RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its -Z flags.
# The crate forbids raw memory access, so no sanitizer is used; debug assertions and overflow
# checks are on.
set -eu

secs=${1:-20}
fuzz=$(cd "$(dirname "$0")" && pwd)
common=$(dirname "$fuzz")
root=$(dirname "$common")
tools=${NVME_TCP_TOOLS:-${NVME_TCP_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nvme-tcp-rs}/cargo}
PATH="$tools/bin:$PATH"
export PATH
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
	echo "run.sh: cargo-fuzz not found; install it with:" >&2
	echo "  cargo install --locked --root $tools cargo-fuzz" >&2
	exit 1
fi

targets="parse rx"
opts="--fuzz-dir $fuzz --sanitizer none --debug-assertions --target-dir $root/build/cargo-fuzz"
cd "$common"

# shellcheck disable=SC2086
cargo fuzz build $opts

for t in $targets; do
	corpus="$root/build/fuzz-corpus/$t"
	mkdir -p "$corpus"
	cp "$fuzz/corpus/seed/"* "$corpus/"
	echo "== fuzz $t for ${secs}s"
	# shellcheck disable=SC2086
	cargo fuzz run $opts "$t" "$corpus" -- \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "fuzz: no crash in $targets (${secs}s each)"
