# Our modules load from updates/, say they are the Rust implementations,
# register with the nvme cores and unload cleanly.
set -euo pipefail
kver=$(uname -r)
for m in nvmet_tcp nvme_tcp; do
	file=$(modinfo -F filename "$m")
	echo "$m: $file"
	case $file in */updates/*) ;; *) echo "modprobe would not pick ours for $m"; exit 1 ;; esac
	desc=$(modinfo -F description "$m")
	echo "$m: $desc"
	case $desc in *"Rust implementation"*) ;; *) echo "description does not say Rust"; exit 1 ;; esac
done
[ "$(modinfo -F alias nvmet_tcp)" = nvmet-transport-3 ]
modprobe nvmet_tcp
modprobe nvme_tcp
scripts/guest/impl which target | grep -qx rust
scripts/guest/impl which host | grep -qx rust
# The host transport is registered under its name with nvme-fabrics.
grep -q . /dev/nvme-fabrics
rmmod nvme_tcp
rmmod nvmet_tcp
[ ! -d /sys/module/nvme_tcp ] && [ ! -d /sys/module/nvmet_tcp ]
rmmod nvme_fabrics nvmet nvme_core 2>/dev/null || true
echo "kernel $kver: both Rust modules loaded and unloaded"
