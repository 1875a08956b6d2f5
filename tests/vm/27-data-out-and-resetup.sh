# Commands that move data to the controller but are not writes, and a target
# torn down and set up again under I/O, in all four pairings (C/Rust host x
# C/Rust target), against a loop-device namespace:
#
# - Dataset Management (deallocate) with 10 ranges in the capsule, with 256
#   ranges (4 KiB of data), and 256 ranges again with the port's in-capsule
#   data size 1 KiB (the range list comes by R2T/H2CData; the C target needs
#   1 KiB for the Connect on its admin queue); Write Zeroes; Reservation Register
#   (reservations enabled); Set Features Host Identifier with its 16 bytes
#   (the core refuses it); an admin passthrough with data (the same Set
#   Features); Compare (not implemented by the core: refused). Every pairing
#   must give each command the status C+C gives it, and deallocate and write
#   zeroes must succeed.
# - fio randread runs while the target's port, subsystem and namespace are
#   removed; the host goes to `connecting`; the target is set up again; the
#   host must be `live` within 5 s (reconnect delay 1 s), as with C+C.
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:dataout
truncate -s 64M /tmp/ns27.img
loopdev=$(losetup -f --show /tmp/ns27.img)
dd if=/dev/urandom of=/tmp/blk27 bs=4096 count=1 2>/dev/null
# 256 ranges of 8 blocks each, one every 16 blocks.
python3 -c '
import struct, sys
sys.stdout.buffer.write(b"".join(struct.pack("<IIQ", 0, 8, i * 16) for i in range(256)))' >/tmp/ranges27

# target_up [INLINE]: the subsystem (reservations on) and port 1, with
# param_inline_data_size INLINE if given.
target_up() {
	nvmet_subsys "$nqn" "$loopdev"
	echo 0 >"$NVMET/subsystems/$nqn/namespaces/1/enable"
	echo 1 >"$NVMET/subsystems/$nqn/namespaces/1/resv_enable"
	echo 1 >"$NVMET/subsystems/$nqn/namespaces/1/enable"
	nvmet_port 1 127.0.0.1 4420
	[ $# -gt 0 ] && echo "$1" >"$NVMET/ports/1/param_inline_data_size"
	nvmet_link 1 "$nqn"
}

# run NAME CMD...: runs an nvme-cli command; records "NAME rc status" (the
# status in nvme-cli's words) in $out.
run() {
	local name=$1 rc=0 text
	shift
	text=$("$@" 2>&1) || rc=$?
	text=$(echo "$text" | grep -o 'NVMe status: [^:(]*\|success\|Success' | head -1)
	echo "$name rc=$rc ${text:-?}" >>"$out"
}

commands() {
	local dev=$1 ctrl=$2
	run dsm-10 nvme dsm "$dev" --ad -s 0,100,200,300,400,500,600,700,800,900 -b 8,8,8,8,8,8,8,8,8,8
	run dsm-256 nvme io-passthru "$dev" -n 1 --opcode=0x09 --cdw10=255 --cdw11=4 \
		--data-len=4096 --write --input-file=/tmp/ranges27
	run write-zeroes nvme write-zeroes "$dev" -s 0 -c 7
	run resv-register nvme resv-register "$dev" -n 1 --nrkey=0x1234 --rrega=0
	run set-features-hostid nvme set-feature "$ctrl" -f 0x81 -l 16 -d /tmp/blk27
	run admin-passthru-data nvme admin-passthru "$ctrl" --opcode=0x09 --cdw10=0x81 \
		--data-len=16 --write --input-file=/tmp/blk27
	run compare nvme compare "$dev" -s 16 -c 7 -z 4096 -d /tmp/blk27
}

rc=0
reference=
for pair in c,c c,rust rust,c rust,rust; do
	host=${pair%,*}
	target=${pair#*,}
	echo "=== host $host, target $target"
	out=/tmp/out27.$host.$target
	: >"$out"
	scripts/guest/impl load "$target" target
	modprobe nvmet
	target_up
	scripts/guest/impl load "$host" host
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --reconnect-delay 1 --ctrl-loss-tmo 60 >/dev/null
	dev=$(nvme_dev_for "$nqn")
	ctrl=/dev/$(basename "$dev" | sed 's/n[0-9]*$//')
	commands "$dev" "$ctrl"
	nvme disconnect -n "$nqn" >/dev/null

	# The range list by R2T: less in-capsule data than it.
	nvmet_clear
	target_up 1024
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --reconnect-delay 1 --ctrl-loss-tmo 60 >/dev/null
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(basename "$dev" | sed 's/n[0-9]*$//')
	run dsm-256-r2t nvme io-passthru "$dev" -n 1 --opcode=0x09 --cdw10=255 --cdw11=4 \
		--data-len=4096 --write --input-file=/tmp/ranges27
	cat "$out"

	# Torn down and set up again under I/O.
	fio --name=rr --filename="$dev" --direct=1 --ioengine=libaio --rw=randread --bs=4k \
		--iodepth=16 --time_based --runtime=60 --output-format=terse >/tmp/fio27.out 2>&1 &
	fio_pid=$!
	sleep 2
	nvmet_clear
	state=gone
	for i in $(seq 100); do
		state=$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null || echo gone)
		[ "$state" = connecting ] && break
		sleep 0.1
	done
	echo "  after the target went: $state"
	[ "$state" = connecting ] || rc=1
	sleep 2
	target_up 1024
	for i in $(seq 50); do
		state=$(cat "/sys/class/nvme/$ctrl/state" 2>/dev/null || echo gone)
		[ "$state" = live ] && break
		sleep 0.1
	done
	echo "  5 s after it came back: $state"
	[ "$state" = live ] || rc=1
	kill "$fio_pid" 2>/dev/null || true
	wait "$fio_pid" 2>/dev/null || true
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	nvmet_clear
	scripts/guest/impl unload host
	scripts/guest/impl unload target
	rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true

	grep -q '^dsm-10 rc=0 ' "$out" && grep -q '^dsm-256 rc=0 ' "$out" &&
		grep -q '^dsm-256-r2t rc=0 ' "$out" && grep -q '^write-zeroes rc=0 ' "$out" ||
		{ echo "  deallocate or write zeroes failed"; rc=1; }
	if [ -z "$reference" ]; then
		reference=$out
	elif ! diff -u "$reference" "$out"; then
		echo "  statuses differ from C+C"
		rc=1
	fi
done
losetup -d "$loopdev"
rm -f /tmp/ns27.img
exit $rc
