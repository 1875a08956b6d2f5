# The Rust host against the C target, then the Rust target: connect, the
# namespace appears, data written with dd reads back the same (below and
# above the in-capsule size, so in-capsule, R2T/H2CData and C2HData all run),
# disconnect, unload.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:host-example
for target in c rust; do
	echo "target: $target"
	serve_ram "$target" rust "$nqn" 65536
	scripts/guest/impl which host | grep -qx rust
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
	dev=$(nvme_dev_for "$nqn")
	echo "namespace: $dev"
	lsblk "$dev"
	head -c 4M /dev/urandom >/tmp/pattern
	for bs in 4k 64k 1M; do
		dd if=/tmp/pattern of="$dev" bs="$bs" oflag=direct status=none
		dd if="$dev" of=/tmp/back bs="$bs" count=$((4096 * 1024 / $(numfmt --from=iec "${bs^^}"))) iflag=direct status=none
		cmp /tmp/pattern /tmp/back
		echo "bs $bs: 4 MiB written and read back"
	done
	nvme disconnect -n "$nqn"
	unserve_ram
done
