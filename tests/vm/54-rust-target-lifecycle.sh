# Repeated life cycles on the Rust target: create port -> connect -> I/O ->
# disconnect -> remove port, LIFECYCLE_CYCLES times (100 by default);
# kmemleak (checked by the runner) must stay clean. About 8 s a cycle in the
# debug kernel under emulation.
# timeout: 1500
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:cycle
modprobe brd rd_nr=1 rd_size=4096
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvmet_subsys "$nqn" /dev/ram0
scripts/guest/impl load c host
head -c 262144 /dev/urandom >/tmp/pattern
for i in $(seq "${LIFECYCLE_CYCLES:-100}"); do
	nvmet_port 1 127.0.0.1 4420
	nvmet_link 1 "$nqn"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" >/dev/null
	dev=$(nvme_dev_for "$nqn")
	dd if=/tmp/pattern of="$dev" bs=64k oflag=direct status=none
	dd if="$dev" of=/tmp/readback bs=64k count=4 iflag=direct status=none
	cmp /tmp/pattern /tmp/readback
	nvme disconnect -n "$nqn" >/dev/null
	rm $NVMET/ports/1/subsystems/"$nqn"
	rmdir $NVMET/ports/1
done
echo "$i cycles"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
