# fio crc32c verify through an imperfect link, in all four pairings (C/Rust
# host x C/Rust target), without digests and with header and data digests:
# the host and the target in network namespaces of their own, joined by a
# veth pair (lib.sh netns_up), with netem on both ends: loss 1% and 5%,
# reordering 25% (behind a 10 ms delay, which netem's reordering needs),
# duplication 1%, a delay of 2 to 20 ms (11 ms +- 9 ms), a rate of 100
# Mbit/s; then the link's MTU 1280 and 9000 (a connection of each). Every
# run must verify with zero errors. TCP hides all of it, so no error recovery
# may run: the kernel log of each connection must have no reset, reconnect or
# queue error line. The log ends with a table of each run's IOPS (writes,
# verifying reads) against the same connection's clean link.
# timeout: 1500
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:netem
depth=16
table=/tmp/netem-table
: >"$table"

conditions=(
	"loss 1%"
	"loss 5%"
	"delay 10ms reorder 25% 50%"
	"duplicate 1%"
	"delay 11ms 9ms"
	"rate 100mbit"
)

# no_recovery: the kernel log since the mark has no line of error recovery
# (C's and ours: "starting error recovery", "Reconnecting", "reset",
# "queue N: ... error", "I/O tag ... timeout", "failed to connect").
no_recovery() {
	local lines
	lines=$(since_mark |
		grep -Ei 'error recovery|reconnect|resetting|queue [0-9]+.*(error|fail)|timeout|failed to connect|TermReq' || true)
	if [ -n "$lines" ]; then
		echo "error recovery ran:"
		echo "$lines"
		return 1
	fi
}

# run PAIRING DIGESTS CONDITION: one fio verify on the connected device,
# with its line in the table (IOPS against the clean run's).
run() {
	fio --name=netem --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bssplit=4k/40:16k/30:64k/20:128k/10 --iodepth="$depth" --size=768k \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0 \
		--output-format=terse >/tmp/fio.out
	# Terse v3: field 5 is the error, 6 KiB read (verified), 8 and 49 the IOPS
	# of the reads and the writes.
	echo "  error $(cut -d';' -f5 /tmp/fio.out), verified $(cut -d';' -f6 /tmp/fio.out) KiB"
	[ "$(cut -d';' -f5 /tmp/fio.out)" = 0 ] || return 1
	[ "$(cut -d';' -f6 /tmp/fio.out)" -gt 0 ] || return 1
	fio_wiops=$(cut -d';' -f49 /tmp/fio.out) fio_riops=$(cut -d';' -f8 /tmp/fio.out)
	fio_wiops=${fio_wiops%.*} fio_riops=${fio_riops%.*}
	if [ "$3" = clean ]; then
		clean_w=$fio_wiops clean_r=$fio_riops
	fi
	printf '%-9s %-7s %-28s %7s %7s %5s%% %5s%%\n' "$1" "$2" "$3" "$fio_wiops" "$fio_riops" \
		$((fio_wiops * 100 / (clean_w > 0 ? clean_w : 1))) \
		$((fio_riops * 100 / (clean_r > 0 ? clean_r : 1))) >>"$table"
}

netns_up
for target in c rust; do
	for host in c rust; do
		pairing="$host-$target"
		serve_ram_netns "$target" "$host" "$nqn" 16384
		for digests in none "-g -G"; do
			dg=${digests/-g -G/hd+dd}
			opts=()
			[ "$digests" = none ] || opts=(-g -G)
			echo "== $pairing, digests $dg"
			new_mark
			connect_netns "$nqn" "${opts[@]}"
			dev=$(nvme_dev_for "$nqn")
			echo "clean"
			run "$pairing" "$dg" clean
			for c in "${conditions[@]}"; do
				echo "$c"
				# shellcheck disable=SC2086
				netem $c
				run "$pairing" "$dg" "$c"
				netem
			done
			in_host nvme disconnect -n "$nqn" >/dev/null
			no_recovery
			for mtu in 1280 9000; do
				echo "mtu $mtu"
				link_mtu "$mtu"
				new_mark
				connect_netns "$nqn" "${opts[@]}"
				dev=$(nvme_dev_for "$nqn")
				run "$pairing" "$dg" "mtu $mtu"
				in_host nvme disconnect -n "$nqn" >/dev/null
				no_recovery
				link_mtu 1500
			done
		done
		unserve_ram
	done
done
netns_down

echo
echo "IOPS through the link, each against the clean link of the same pairing and digests"
printf '%-9s %-7s %-28s %7s %7s %6s %6s\n' host-tgt digests condition write read write read
cat "$table"
