# Two subsystems on two Rust target ports; the second only admits one host
# NQN (allowed_hosts): that host connects, another is refused cleanly, and
# both subsystems serve I/O at once. host_traddr shows in the controller's
# debugfs directory.
set -euo pipefail
. scripts/guest/lib.sh
a=nqn.2026-11.io.nvme-tcp-rs:subsys-a
b=nqn.2026-11.io.nvme-tcp-rs:subsys-b
good=nqn.2026-11.io.nvme-tcp-rs:host-good
bad=nqn.2026-11.io.nvme-tcp-rs:host-bad
modprobe brd rd_nr=2 rd_size=8192
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvmet_subsys "$a" /dev/ram0
nvmet_subsys "$b" /dev/ram1
echo 0 >"$NVMET/subsystems/$b/attr_allow_any_host"
mkdir "$NVMET/hosts/$good"
ln -s "$NVMET/hosts/$good" "$NVMET/subsystems/$b/allowed_hosts/$good"
nvmet_port 1 127.0.0.1 4420
nvmet_link 1 "$a"
nvmet_port 2 127.0.0.1 4421
nvmet_link 2 "$b"
scripts/guest/impl load c host
# Each host NQN comes with its own host ID (the kernel refuses one ID under two NQNs).
badid=11111111-2222-3333-4444-555555555555
goodid=66666666-7777-8888-9999-000000000000
if nvme connect -t tcp -a 127.0.0.1 -s 4421 -n "$b" --hostnqn "$bad" --hostid "$badid" 2>/tmp/err; then
	echo "host $bad was let into $b"
	exit 1
fi
echo "refused as expected: $(head -1 /tmp/err)"
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$a" --hostnqn "$bad" --hostid "$badid"
nvme connect -t tcp -a 127.0.0.1 -s 4421 -n "$b" --hostnqn "$good" --hostid "$goodid"
da=$(nvme_dev_for "$a")
db=$(nvme_dev_for "$b")
head -c 1048576 /dev/urandom >/tmp/pa
head -c 1048576 /dev/urandom >/tmp/pb
dd if=/tmp/pa of="$da" bs=64k oflag=direct status=none &
dd if=/tmp/pb of="$db" bs=64k oflag=direct status=none
wait
dd if="$da" of=/tmp/ra bs=64k count=16 iflag=direct status=none
dd if="$db" of=/tmp/rb bs=64k count=16 iflag=direct status=none
cmp /tmp/pa /tmp/ra
cmp /tmp/pb /tmp/rb
mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
grep -h . /sys/kernel/debug/nvmet/*/ctrl*/host_traddr 2>/dev/null | sort -u | tee /tmp/traddr
grep -qx 127.0.0.1 /tmp/traddr
nvme disconnect -n "$a"
nvme disconnect -n "$b"
rm "$NVMET/subsystems/$b/allowed_hosts/$good"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
