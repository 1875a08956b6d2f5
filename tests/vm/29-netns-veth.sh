# Network namespaces, Rust host and Rust target: the target's port, enabled
# from one namespace, listens there only; the host, connecting from another
# over a veth pair (with host_iface and host_traddr of that namespace), does
# verified I/O; from the initial namespace, which has no route to the target,
# the same connect fails, and so does one naming the host namespace's
# interface. `nvme reset`, run from the initial namespace, reconnects from a
# work item: the new connections are made in the controller's namespace
# again (C's would be made in the initial one and fail), and I/O verifies.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:netns

# conns NS...: the host's established connections to the port in the
# namespace (none: the initial one).
conns() {
	"$@" ss -tnH state established dst "$NET_TADDR:4420" | wc -l
}

netns_up
serve_ram_netns rust rust "$nqn" 16384
[ -n "$(in_target ss -ltnH 'sport = :4420')" ]
[ -z "$(ss -ltnH 'sport = :4420')" ]
echo "the port listens in $NETNS_T only"

if fabrics_connect "$NET_TADDR" 4420 "$nqn" 2>/dev/null; then
	echo "connected from the initial namespace, which has no route to $NET_TADDR"
	exit 1
fi
if nvme connect -t tcp -a "$NET_TADDR" -s 4420 -n "$nqn" --host-iface=veth-h 2>/dev/null; then
	echo "host_iface veth-h accepted in the initial namespace"
	exit 1
fi
echo "from the initial namespace: refused"

connect_netns "$nqn" -i 2 --host-iface=veth-h --host-traddr="$NET_HADDR" \
	--reconnect-delay 1 --ctrl-loss-tmo 10
dev=$(nvme_dev_for "$nqn")
ctrl=$(basename "$dev")
ctrl=${ctrl%n*}
echo "connections: $(conns in_host) in $NETNS_H, $(conns) in the initial namespace"
[ "$(conns in_host)" = 3 ]
[ "$(conns)" = 0 ]
FIO_SIZE=1m fio_verify "$dev" 16

nvme reset "/dev/$ctrl"
for i in $(seq 100); do
	[ "$(cat "/sys/class/nvme/$ctrl/state")" = live ] && break
	sleep 0.1
done
echo "after reset: $(cat "/sys/class/nvme/$ctrl/state"), connections: $(conns in_host) in $NETNS_H, $(conns) in the initial namespace"
[ "$(cat "/sys/class/nvme/$ctrl/state")" = live ]
[ "$(conns in_host)" = 3 ]
[ "$(conns)" = 0 ]
FIO_SIZE=1m fio_verify "$dev" 16

nvme disconnect -n "$nqn"
unserve_ram
netns_down
