# Link failures under fio crc32c verify, in all four pairings (C/Rust host x
# C/Rust target), over the veth link between the host's and the target's
# network namespaces (keep-alive 6 s, reconnect delay 1 s):
# - the link down (host end) for 2 s, less than keep-alive: TCP retransmits,
#   no error recovery runs, fio verifies;
# - the link down for 15 s, more than keep-alive: the keep-alive times out,
#   the host recovers (error recovery, failed reconnects while the link is
#   down, then "Successfully reconnected"), the controller is live again and
#   fio verifies with zero errors;
# - the target's port removed and re-added from the target's namespace: the
#   host reconnects, fio verifies;
# - every packet lost (netem loss 100%) with ctrl_loss_tmo 3: connects time
#   out, the controller is removed, fio ends with an I/O error instead of
#   hanging, and the modules unload afterwards.
# Tests 22, 27 and 51 cover the port bounce and controller loss on loopback
# in one namespace.
#
# The C host's end of the link is in the initial namespace: it makes each
# connection in the namespace of the task at hand (nvme_tcp_alloc_queue:
# sock_create_kern(current->nsproxy->net_ns, ...)), and a reconnect runs in a
# work item, whose namespace is the initial one, so from another namespace it
# never reconnects. Ours keeps the namespace it was created in (test 29).
# timeout: 1200
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:linkfail
kato=6

# link_down SECS: the host's end of the link down for SECS seconds.
link_down() {
	host_ip link set veth-h down
	sleep "$1"
	host_ip link set veth-h up
}

for host in c rust; do
	NETNS_H=
	[ $host = c ] || NETNS_H=nvme-h
	netns_up
	for target in c rust; do
		echo "== host $host (namespace ${NETNS_H:-initial}), target $target"
		serve_ram_netns "$target" "$host" "$nqn" 65536
		connect_netns "$nqn" -i 2 --keep-alive-tmo=$kato --reconnect-delay 1 --ctrl-loss-tmo 60
		dev=$(nvme_dev_for "$nqn")
		ctrl=$(ctrl_of "$dev")

		echo "link down 2 s"
		new_mark
		fio_bg "$dev" 2m
		link_down 2
		fio_wait 120
		wait_state "$ctrl" live 1
		if since_mark | grep -Eq "nvme $ctrl: (starting error recovery|Reconnecting)"; then
			echo "error recovery ran for a link down less than keep-alive"
			since_mark | grep "nvme $ctrl"
			exit 1
		fi

		echo "link down 15 s"
		new_mark
		fio_bg "$dev" 2m
		link_down 15
		fio_wait 180
		wait_state "$ctrl" live 30
		log_has "$ctrl" "starting error recovery"
		log_has "$ctrl" "Successfully reconnected"

		echo "port removed and re-added"
		new_mark
		fio_bg "$dev" 2m
		rm "$NVMET/ports/1/subsystems/$nqn"
		sleep 3
		in_target ln -s "$NVMET/subsystems/$nqn" "$NVMET/ports/1/subsystems/$nqn"
		fio_wait 120
		wait_state "$ctrl" live 30
		log_has "$ctrl" "Successfully reconnected"
		nvme disconnect -n "$nqn" >/dev/null
		ctrl_gone "$ctrl" 20

		echo "every packet lost, ctrl_loss_tmo 3"
		new_mark
		connect_netns "$nqn" -i 2 --keep-alive-tmo=$kato --reconnect-delay 1 --ctrl-loss-tmo 3
		dev=$(nvme_dev_for "$nqn")
		ctrl=$(ctrl_of "$dev")
		fio_bg "$dev" 256m
		netem loss 100%
		ctrl_gone "$ctrl" 90
		if ! proc_gone "$fio_pid" 60; then
			echo "fio still running 60 s after its controller was removed"
			kill -9 "$fio_pid"
			exit 1
		fi
		rc=0
		wait "$fio_pid" || rc=$?
		echo "  fio exit status $rc, error $(cut -d';' -f5 /tmp/fio.out 2>/dev/null)"
		if [ $rc = 0 ] && [ "$(cut -d';' -f5 /tmp/fio.out)" = 0 ]; then
			echo "fio reported no error although the controller was lost"
			exit 1
		fi
		netem
		log_has "$ctrl" "Removing controller"
		since_mark | grep "nvme $ctrl:" | sort | uniq -c | sort -rn | head -8
		unserve_ram
		for m in nvme_tcp nvmet_tcp nvme_fabrics nvmet; do
			[ ! -d "/sys/module/$m" ] || { echo "$m still loaded"; exit 1; }
		done
		echo "modules unloaded"
	done
	netns_down
done
