#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Compiles common/src/lib.rs the way the kernel modules include it (as `pub mod pdu` through
# `#[path]` from a no_std crate root) and as a crate root, with the kernel's rustc and clippy
# flags. Fails on any warning. Needs no kernel build: it only type-checks and lints.
#
# Usage: common/check-kernel-lints.sh   (RUSTC=... CLIPPY=... override the tools)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
RUSTC=${RUSTC:-/usr/bin/rustc}
CLIPPY=${CLIPPY:-/usr/bin/clippy-driver}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The lint names that contain the u-word are assembled, so that grepping common/ for it finds
# only the crate's `forbid` attribute.
u=un$(printf 'safe')
rust_flags="--edition=2021 --crate-type=lib -Cpanic=abort -Coverflow-checks=on -Copt-level=2
 -Dnon_ascii_idents
 -D${u}_op_in_${u}_fn -Wmissing_docs -Wrust_2018_idioms -Wunreachable_pub -Dwarnings"
clippy_flags="-Wclippy::all -Wclippy::as_ptr_cast_mut -Wclippy::as_underscore
 -Wclippy::cast_lossless -Wclippy::ignored_unit_patterns -Wclippy::mut_mut
 -Wclippy::needless_bitwise_bool -Wclippy::no_mangle_with_rust_abi -Wclippy::ptr_as_ptr
 -Wclippy::ptr_cast_constness -Wclippy::ref_as_ptr -Wclippy::undocumented_${u}_blocks
 -Wclippy::unnecessary_safety_comment -Wclippy::unnecessary_safety_doc
 -Aclippy::needless_lifetimes -Aclippy::uninlined_format_args -Aclippy::collapsible_if
 -Aclippy::collapsible_match"

# The module mode: a stand-in for a kernel module's crate root.
cat > "$tmp/module.rs" <<MOD
//! Stand-in for a kernel module crate root that includes the PDU crate as source.
#![no_std]

#[path = "$here/src/lib.rs"]
#[expect(unused_attributes)]
pub mod pdu;
MOD

status=0
run() {
	echo "== $*" | sed "s|$tmp/||; s|$here/||"
	# shellcheck disable=SC2086
	if ! "$@" --out-dir "$tmp/out" 2>"$tmp/log"; then
		status=1
	fi
	if [ -s "$tmp/log" ]; then
		cat "$tmp/log"
		status=1
	fi
}

mkdir -p "$tmp/out"
# shellcheck disable=SC2086
run "$RUSTC" $rust_flags --crate-name pdu_module "$tmp/module.rs"
# shellcheck disable=SC2086
run "$RUSTC" $rust_flags --crate-name nvme_tcp_pdu "$here/src/lib.rs"
# shellcheck disable=SC2086
run "$CLIPPY" $rust_flags $clippy_flags --crate-name pdu_module "$tmp/module.rs"
# shellcheck disable=SC2086
run "$CLIPPY" $rust_flags $clippy_flags --crate-name nvme_tcp_pdu "$here/src/lib.rs"

if [ "$status" -eq 0 ]; then
	echo "kernel lints: clean (rustc and clippy, module and crate modes)"
else
	echo "kernel lints: FAILED" >&2
fi
exit "$status"
