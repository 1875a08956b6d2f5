# The Rust host when things go wrong (no error recovery yet): `nvme reset`
# removes the controller with a kernel-log line; the C target taking its port
# away under fio closes the connections, fio ends instead of hanging (with or
# without an error, depending on where multipath left its I/O), and the
# controller is removed; the module unloads cleanly.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:host-gone
serve_ram c rust "$nqn" 65536

# ctrl_gone CTRL: waits up to 30 s for the controller to be removed.
ctrl_gone() {
	local i
	for i in $(seq 300); do
		[ -e "/sys/class/nvme/$1" ] || return 0
		sleep 0.1
	done
	echo "controller $1 still there"
	return 1
}

nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
dev=$(nvme_dev_for "$nqn")
ctrl=$(basename "$dev")
ctrl=${ctrl%n*}
echo "reset of $ctrl"
nvme reset "/dev/$ctrl" || true
ctrl_gone "$ctrl"
dmesg | grep -q "$ctrl: reset and error recovery are not implemented yet; removing the controller"

echo "port removed under fio"
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i 2
dev=$(nvme_dev_for "$nqn")
ctrl=$(basename "$dev")
ctrl=${ctrl%n*}
fio --name=gone --filename="$dev" --direct=1 --ioengine=libaio --rw=randrw \
	--bs=4k --iodepth=32 --size=32m --time_based --runtime=120 \
	--output=/tmp/fio.out &
fio_pid=$!
sleep 5
if ! kill -0 "$fio_pid" 2>/dev/null; then
	echo "fio ended before the port went away"
	cat /tmp/fio.out
	exit 1
fi
rm "$NVMET/ports/1/subsystems/$nqn"
for i in $(seq 600); do
	kill -0 "$fio_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$fio_pid" 2>/dev/null; then
	echo "fio still running 60 s after the port went away"
	kill -9 "$fio_pid"
	exit 1
fi
fio_rc=0
wait "$fio_pid" || fio_rc=$?
echo "fio ended (status $fio_rc): $(grep -m1 -o 'err= *[0-9]*' /tmp/fio.out || echo 'no error line')"
ctrl_gone "$ctrl"
dmesg | grep "nvme_tcp" | tail -4
# What the core has left of the removed controller's subsystem (diagnostics).
ls /sys/class/nvme-subsystem/ /sys/block/ | tr '\n' ' '
echo
unserve_ram

# A new controller after all that must see its namespace as usual.
echo "connect again"
serve_ram c rust "$nqn" 65536
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
if ! dev=$(nvme_dev_for "$nqn"); then
	echo "no namespace 10 s after connecting; tasks in D state:"
	for p in /proc/[0-9]*; do
		if grep -q '^State:.*D' "$p/status" 2>/dev/null; then
			echo "$(cat "$p/comm") ($(basename "$p")):"
			cat "$p/stack" 2>/dev/null || true
		fi
	done
	ls /sys/class/nvme-subsystem/ /sys/block/ | tr '\n' ' '
	exit 1
fi
echo "namespace: $dev"
nvme disconnect -n "$nqn"
unserve_ram
