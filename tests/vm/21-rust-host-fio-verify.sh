# fio with crc32c verify with the Rust host against the C target: randwrite then
# randread of blocks from 512 B to 1 MiB (below and above the 16 KiB
# in-capsule size, up to the 1 MiB the host splits no further), queue depth
# 1 and 64, for each digest mode and two queue layouts.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:host-fio
serve_ram c rust "$nqn" 65536
size=${FIO_SIZE:-3m}
# randwrite with verify: fio writes every block with a crc32c header, then
# reads them all back (random order) and checks them; any mismatch fails.
run_fio() {
	local dev=$1 depth=$2
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bssplit=512/15:4k/25:16k/15:20k/15:128k/15:1m/15 \
		--iodepth="$depth" --size="$size" --verify=crc32c --verify_fatal=1 \
		--do_verify=1 --verify_state_save=0 --output-format=terse >/tmp/fio.out
	# Terse v3: field 5 is the error, 6 KiB read (the verify pass), 47 KiB
	# written.
	echo "  qd $depth: error $(cut -d';' -f5 /tmp/fio.out), read $(cut -d';' -f6 /tmp/fio.out) KiB, wrote $(cut -d';' -f47 /tmp/fio.out) KiB"
	[ "$(cut -d';' -f5 /tmp/fio.out)" = 0 ]
	[ "$(cut -d';' -f6 /tmp/fio.out)" -gt 0 ]
}
for digests in "" "-g" "-G" "-g -G"; do
	for layout in "1 16" "2 1024"; do
		set -- $layout
		echo "digests '${digests}', nr_io_queues $1, queue_size $2"
		# shellcheck disable=SC2086
		nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i "$1" -Q "$2" $digests
		dev=$(nvme_dev_for "$nqn")
		for depth in 1 64; do
			run_fio "$dev" "$depth"
		done
		nvme disconnect -n "$nqn"
	done
done
# With SQ flow control disabled the target ends a read with a C2HData that
# carries SUCCESS and sends no CapsuleResp.
echo "SQ flow control disabled, data and header digests"
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --disable-sqflow -g -G
dev=$(nvme_dev_for "$nqn")
run_fio "$dev" 64
nvme disconnect -n "$nqn"
nvmet_clear
scripts/guest/impl unload host
scripts/guest/impl unload target
rmmod brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
