# A hostile host against the Rust target (tools/hostile-host): every
# malformed or out-of-sequence PDU of its list ends that connection with the
# right C2HTermReq (or CQE) and nothing else, then random mutations of a
# valid stream; meanwhile a legitimate C host runs fio with verify on another
# port of the same target, which must not notice. The hostile host has its
# own subsystem and RAM disk: its (valid or mutated) writes land there, so a
# verify error on the bystander's disk can only come from the target. The
# runner fails the test on any kernel report. The cases the C target is the
# reference for run against it as well.
set -euo pipefail
. scripts/guest/lib.sh
hostile=build/cargo/release/hostile-host
[ -x "$hostile" ] || { echo "build tools/hostile-host first (scripts/test does)"; exit 1; }
nqn=nqn.2026-11.io.nvme-tcp-rs:bystander
hostile_nqn=nqn.2026-11.io.nvme-tcp-rs:hostile
modprobe brd rd_nr=2 rd_size=32768
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvmet_subsys "$nqn" /dev/ram0
nvmet_subsys "$hostile_nqn" /dev/ram1
nvmet_port 1 127.0.0.1 4420
nvmet_link 1 "$nqn"
nvmet_port 2 127.0.0.1 4421
nvmet_link 2 "$hostile_nqn"
scripts/guest/impl load c host
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
dev=$(nvme_dev_for "$nqn")
# The hostile host runs in the background; the bystander repeats complete
# write+verify passes until it is done.
(
	r=0
	"$hostile" --target 127.0.0.1:4421 --subnqn "$hostile_nqn" || r=1
	"$hostile" --target 127.0.0.1:4421 --subnqn "$hostile_nqn" \
		--mutate "${HOSTILE_MUTATIONS:-300}" --seed "$RANDOM" || r=1
	exit $r
) >/tmp/hostile.out 2>&1 &
hostile_pid=$!
rc=0
passes=0
bystander=ok
while kill -0 $hostile_pid 2>/dev/null; do
	passes=$((passes + 1))
	frc=0
	fio --name=bystander --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bs=4k --iodepth=8 --size=1m --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--verify_state_save=0 --output-format=terse >/tmp/fio.out 2>/tmp/fio.err || frc=$?
	if [ $frc != 0 ] || [ "$(tail -1 /tmp/fio.out | cut -d';' -f5)" != 0 ]; then
		bystander=failed
		echo "bystander pass $passes: fio status $frc"
		cat /tmp/fio.err
		tail -1 /tmp/fio.out | cut -d';' -f1-9
	fi
done
wait $hostile_pid || rc=1
cat /tmp/hostile.out
echo "bystander: $passes verified passes, $bystander"
[ $bystander = ok ] || rc=1
# How many error lines the target logged (rate-limited).
echo "target error lines: $(dmesg | grep -c 'nvmet_tcp: queue' || true)"
nvme disconnect -n "$nqn"
nvmet_clear
scripts/guest/impl unload host

# The cases where the C target is the reference, against it too: a Connect
# (and commands) right behind the ICReq, a data length over MAXH2CDATA. (An
# SGL descriptor type NVMe/TCP does not carry is served by C as if it were a
# transport one, so that case runs against ours only.)
scripts/guest/impl load c target
nvmet_subsys "$hostile_nqn" /dev/ram1
nvmet_port 2 127.0.0.1 4421
nvmet_link 2 "$hostile_nqn"
echo "the C target:"
"$hostile" --target 127.0.0.1:4421 --subnqn "$hostile_nqn" --case icreq-connect-pipelined \
	--case sgl-too-long --case write-over-maxh2cdata || rc=1
nvmet_clear
scripts/guest/impl unload target
rmmod brd
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
exit $rc
