# The Rust host when things go wrong, against the C target and then the Rust
# target, as a user of the C host would see it:
# - `nvme reset` under fio with verify: the controller comes back live and
#   fio finishes with zero errors;
# - the target's port goes away under fio with verify and comes back: the
#   host starts error recovery, reconnects every reconnect_delay and fio
#   finishes with zero errors;
# - the port goes away for good: after ctrl_loss_tmo the controller is
#   removed, fio ends (with errors) instead of hanging, and a fresh connect
#   works afterwards;
# - `nvme disconnect` under fio: the controller goes, fio ends with errors
#   instead of hanging.
# The C host's log lines are checked for each ("starting error recovery",
# "Reconnecting in", "Successfully reconnected", "Removing controller").
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:host-recovery

for target in c rust; do
	echo "== target $target"
	serve_ram "$target" rust "$nqn" 65536

	echo "reset under fio"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" -i 2 \
		--reconnect-delay 1 --ctrl-loss-tmo 30
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(ctrl_of "$dev")
	fio_bg "$dev" 8m
	nvme reset "/dev/$ctrl"
	wait_state "$ctrl" live 10
	sleep 1
	nvme reset "/dev/$ctrl"
	wait_state "$ctrl" live 10
	fio_wait 120

	echo "port bounce under fio"
	new_mark
	fio_bg "$dev" 8m
	rm "$NVMET/ports/1/subsystems/$nqn"
	sleep 3
	nvmet_link 1 "$nqn"
	fio_wait 120
	wait_state "$ctrl" live 10
	log_has "$ctrl" "starting error recovery"
	log_has "$ctrl" "Reconnecting in 1 seconds..."
	log_has "$ctrl" "Successfully reconnected"
	nvme disconnect -n "$nqn"
	ctrl_gone "$ctrl" 10

	echo "port gone for good: controller loss"
	new_mark
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" \
		--reconnect-delay 1 --ctrl-loss-tmo 3
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(ctrl_of "$dev")
	fio_bg "$dev" 256m
	rm "$NVMET/ports/1/subsystems/$nqn"
	ctrl_gone "$ctrl" 30
	if fio_wait 30; then
		echo "fio reported no error although the controller was lost"
		exit 1
	fi
	log_has "$ctrl" "Failed reconnect attempt"
	log_has "$ctrl" "Removing controller"

	echo "connect again"
	nvmet_link 1 "$nqn"
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
	dev=$(nvme_dev_for "$nqn")
	FIO_SIZE=1m fio_verify "$dev" 8

	echo "disconnect under fio"
	ctrl=$(ctrl_of "$dev")
	fio_bg "$dev" 256m
	nvme disconnect -n "$nqn"
	ctrl_gone "$ctrl" 20
	if fio_wait 30; then
		echo "fio reported no error although its controller was deleted"
		exit 1
	fi
	unserve_ram
done
