# nvme discover against Rust target ports: one on the wildcard address (the
# log then names the address the host connected to) and one on a named
# address, IPv4 and IPv6; the log lists the subsystem on each port.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:disc
modprobe null_blk nr_devices=1
modprobe nvmet_tcp
[ "$(scripts/guest/impl which target)" = rust ]
nvmet_subsys "$nqn" /dev/nullb0
nvmet_port 1 0.0.0.0 4420
nvmet_link 1 "$nqn"
nvmet_port 2 ::1 4421 ipv6
nvmet_link 2 "$nqn"
scripts/guest/impl load c host
# The log lists the subsystems of the port the host asked (and the discovery
# subsystem itself); a wildcard port reports the address the host reached.
check_log() {
	nvme discover -t tcp -a "$1" -s "$2" -o json >/tmp/disc
	python3 - /tmp/disc "$nqn" "$1" "$2" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))["records"]
_, path, nqn, addr, svc = sys.argv
got = sorted((r["subnqn"], r["traddr"], r["trsvcid"], r["trtype"]) for r in log)
want = sorted([(nqn, addr, svc, "tcp"),
               ("nqn.2014-08.org.nvmexpress.discovery", addr, svc, "tcp")])
assert got == want, got
print("discovery log of", addr, svc, "ok")
PY
}
check_log 127.0.0.1 4420
check_log ::1 4421
# Connect through the IPv6 port too.
nvme connect -t tcp -a ::1 -s 4421 -n "$nqn"
dev=$(nvme_dev_for "$nqn")
dd if="$dev" of=/dev/null bs=4k count=16 iflag=direct status=none
nvme disconnect -n "$nqn"
nvmet_clear
scripts/guest/impl unload host
rmmod nvmet_tcp null_blk
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
