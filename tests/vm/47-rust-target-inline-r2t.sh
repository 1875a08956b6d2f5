# param_inline_data_size on a Rust target port: 0 sends every write (and the
# I/O queue's Connect data) by R2T/H2CData, 4096 splits at one page; values
# out of range are refused with a message in the kernel log.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:inline
modprobe brd rd_nr=1 rd_size=16384
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvmet_subsys "$nqn" /dev/ram0
scripts/guest/impl load c host
for bad in -2 4194305; do
	nvmet_port 1 127.0.0.1 4420
	echo "$bad" >$NVMET/ports/1/param_inline_data_size
	if nvmet_link 1 "$nqn" 2>/dev/null; then
		echo "inline size $bad was accepted"
		exit 1
	fi
	dmesg | tail -3 | grep -q "param_inline_data_size $bad is not in"
	rmdir $NVMET/ports/1
done
for size in 0 4096; do
	nvmet_port 1 127.0.0.1 4420
	echo "$size" >$NVMET/ports/1/param_inline_data_size
	nvmet_link 1 "$nqn"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
	dev=$(nvme_dev_for "$nqn")
	# IOCCSZ announces the in-capsule size: 64 B of SQE plus the data, in 16 B units.
	[ "$(nvme id-ctrl "$dev" | awk '$1 == "ioccsz" {print $3}')" = $(((64 + size) / 16)) ]
	# 256 writes of each size up to 8 KiB (each one command at queue depth
	# 1), four of 1 MiB; fresh data each time, so that a write that did not
	# land cannot pass for one that did.
	for bs in 512 4k 8k 1M; do
		count=256
		[ $bs != 1M ] || count=4
		len=$(($(numfmt --from=iec $bs) * count))
		head -c "$len" /dev/urandom >/tmp/pattern
		dd if=/tmp/pattern of="$dev" bs=$bs count=$count oflag=direct status=none
		dd if="$dev" of=/tmp/readback bs=$bs count=$count iflag=direct status=none
		cmp /tmp/pattern /tmp/readback
		echo "inline $size, bs $bs: read back the $len bytes written"
	done
	nvme disconnect -n "$nqn"
	rm $NVMET/ports/1/subsystems/"$nqn"
	rmdir $NVMET/ports/1
done
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
