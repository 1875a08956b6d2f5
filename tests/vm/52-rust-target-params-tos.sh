# The Rust target's module parameters, with the C names: so_priority and
# idle_poll_period_usecs are writable (0644) and refuse negative values;
# I/O works with idle polling on; a host's TOS is mirrored on the target's
# socket.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:params
modprobe brd rd_nr=1 rd_size=8192
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
p=/sys/module/nvmet_tcp/parameters
for name in so_priority idle_poll_period_usecs; do
	[ "$(stat -c %a "$p/$name")" = 644 ]
	[ "$(cat "$p/$name")" = 0 ]
	if echo -1 >"$p/$name" 2>/dev/null; then
		echo "$name accepted -1"
		exit 1
	fi
done
echo 1000 >"$p/idle_poll_period_usecs"
echo 3 >"$p/so_priority"
nvmet_subsys "$nqn" /dev/ram0
nvmet_port 1 127.0.0.1 4420
nvmet_link 1 "$nqn"
scripts/guest/impl load c host
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --tos 32
dev=$(nvme_dev_for "$nqn")
head -c 1048576 /dev/urandom >/tmp/pattern
dd if=/tmp/pattern of="$dev" bs=64k oflag=direct status=none
dd if="$dev" of=/tmp/readback bs=64k count=16 iflag=direct status=none
cmp /tmp/pattern /tmp/readback
echo "I/O with idle polling and so_priority 3"
# The target side of each connection (local port 4420) carries the host's TOS.
ss -tin --tos state established '( sport = :4420 )' | tee /tmp/ss
grep -q 'tos:0x20' /tmp/ss
nvme disconnect -n "$nqn"
echo 0 >"$p/idle_poll_period_usecs"
echo 0 >"$p/so_priority"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
