# Namespaces of every backing kind behind the Rust target: a block device
# (brd) and a file, with buffered_io 0 and 1; data written through the host
# reads back, and lands in the backing file.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:ns
modprobe brd rd_nr=1 rd_size=16384
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
# The files live on a tmpfs (4 KiB blocks, O_DIRECT capable) of their own.
mkdir -p /run/nsfiles
mount -t tmpfs -o size=64m none /run/nsfiles
truncate -s 16M /run/nsfiles/ns2.img
truncate -s 16M /run/nsfiles/ns3.img
nvmet_subsys "$nqn" /dev/ram0
s=$NVMET/subsystems/$nqn
for n in 2 3; do
	mkdir "$s/namespaces/$n"
	echo -n "/run/nsfiles/ns$n.img" >"$s/namespaces/$n/device_path"
	echo $((n - 2)) >"$s/namespaces/$n/buffered_io"
	echo 1 >"$s/namespaces/$n/enable"
done
nvmet_port 1 127.0.0.1 4420
nvmet_link 1 "$nqn"
scripts/guest/impl load c host
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
head -c 2097152 /dev/urandom >/tmp/pattern
for n in 1 2 3; do
	# The block device of namespace ID $n (device names need not follow NSIDs).
	dev=
	for i in $(seq 50); do
		for b in /sys/block/nvme*n*; do
			[ "$(cat "$b/nsid" 2>/dev/null)" = "$n" ] && dev=/dev/$(basename "$b")
		done
		[ -n "$dev" ] && break
		sleep 0.2
	done
	dd if=/tmp/pattern of="$dev" bs=128k oflag=direct status=none
	dd if="$dev" of=/tmp/readback bs=128k count=16 iflag=direct status=none
	cmp /tmp/pattern /tmp/readback
	echo "namespace $n ($dev): read back what was written"
done
sync
cmp -n 2097152 /tmp/pattern /run/nsfiles/ns2.img
cmp -n 2097152 /tmp/pattern /run/nsfiles/ns3.img
echo "the backing files hold the data"
nvme disconnect -n "$nqn"
nvmet_clear
umount /run/nsfiles
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
