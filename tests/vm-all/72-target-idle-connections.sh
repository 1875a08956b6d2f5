# Many idle connections (issue 21, item 7): 1,000 TCP connections to a target
# port, half of them sending half an ICReq and the others nothing
# (scripts/guest/idle-conns). The Rust target, with connect_timeout=20,
# must close every one of them after 20 s (not before, and within 20 s more),
# its slab memory (every cache drained of the KASAN quarantine, then active
# objects x object size from /proc/slabinfo) must come back to the baseline
# within 1 MiB, and a legitimate host (the C host) must do verified I/O during
# the flood and after the deadline, on a controller that is older than the
# timeout (set-up connections are not touched). Then, with connect_timeout=1,
# 160 admin Connects sent within 0.3 s of the deadline must each be served or
# closed, and memory come back again. Then the idle connections against the C
# target, which has no such timeout: what it does is reported, not judged.
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-11.io.nvme-tcp-rs:idle
nconns=1000
tmo=20
rc=0

# mem: slab KiB (active objects), TCP socket objects, SUnreclaim and
# MemAvailable KiB, after draining every cache (kmem_cache_shrink also empties
# the cache's KASAN quarantine, which would hold freed objects).
mem() {
	local f
	for f in /sys/kernel/slab/*/shrink; do echo 1 >"$f" 2>/dev/null || true; done
	awk 'NR > 2 { s += $2 * $4 } $1 == "TCP" { t = $2 } END { printf "%d %d", s / 1024, t }' \
		/proc/slabinfo
	awk '/^SUnreclaim:/ { u = $2 } /^MemAvailable:/ { a = $2 } END { printf " %d %d\n", u, a }' \
		/proc/meminfo
}

# established: the target side's established connections on port 4420.
established() {
	ss -Htn state established '( sport = :4420 )' | wc -l
}

# flood IMPL WAIT: the idle connections against the target IMPL (already
# serving $nqn on 4420), with the legitimate host's I/O during and after.
# Sets base/during/after ("slab-KiB TCP-objects SUnreclaim-KiB
# MemAvailable-KiB") and result (idle-conns's last line).
flood() {
	local impl=$1 wait=$2 pid dev t0
	base=$(mem)
	echo "$impl target: before: slab/TCP/SUnreclaim/MemAvailable $base"
	rm -f /tmp/idle.ready
	t0=$(date +%s)
	scripts/guest/idle-conns 127.0.0.1 4420 $nconns "$wait" /tmp/idle.ready >/tmp/idle.out 2>&1 &
	pid=$!
	for _ in $(seq 1200); do
		[ -e /tmp/idle.ready ] || ! kill -0 $pid 2>/dev/null && break
		sleep 0.1
	done
	[ -e /tmp/idle.ready ] || { cat /tmp/idle.out; echo "idle-conns did not open its connections"; return 1; }
	during=$(mem)
	echo "$impl target: $(head -1 /tmp/idle.out), $(established) established on the target side after $(($(date +%s) - t0)) s"
	echo "$impl target: during: slab/TCP/SUnreclaim/MemAvailable $during"
	# The legitimate host, while the idle connections are there.
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn"
	dev=$(nvme_dev_for "$nqn")
	echo "legitimate host during the flood:"
	FIO_SIZE=1m fio_verify "$dev" 8 || rc=1
	wait $pid || { echo "idle-conns failed"; rc=1; }
	sed 1d /tmp/idle.out
	result=$(tail -1 /tmp/idle.out)
	echo "$impl target: $(established) established on the target side after $(($(date +%s) - t0)) s"
	# The controller is older than the timeout now: it must still serve.
	echo "legitimate host after the deadline:"
	FIO_SIZE=1m fio_verify "$dev" 8 || rc=1
	nvme disconnect -n "$nqn" >/dev/null
	# Let release and TIME_WAIT sockets settle before measuring.
	sleep 2
	after=$(mem)
	echo "$impl target: after: slab/TCP/SUnreclaim/MemAvailable $after"
}

field() { echo "$result" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# The Rust target.
serve_ram rust c "$nqn" 8192
echo $tmo >/sys/module/nvmet_tcp/parameters/connect_timeout
flood rust $((tmo + 40))
if [ "$(field closed)" != $nconns ] || [ "$(field open)" != 0 ]; then
	echo "FAIL: the Rust target closed $(field closed) of $nconns idle connections"
	rc=1
fi
if ! awk -v a="$(field min)" -v b="$(field max)" -v t=$tmo \
	'BEGIN { exit !(a >= t - 1 && b <= t + 20) }'; then
	echo "FAIL: closed after $(field min)..$(field max) s, not within [$((tmo - 1)), $((tmo + 20))] s"
	rc=1
fi
read -r b_slab _ <<<"$base"
read -r d_slab _ <<<"$during"
read -r a_slab _ <<<"$after"
echo "rust target: slab +$((d_slab - b_slab)) KiB with $nconns idle connections, +$((a_slab - b_slab)) KiB after they were closed"
if [ $((a_slab - b_slab)) -gt 1024 ]; then
	echo "FAIL: slab memory did not come back to the baseline (within 1 MiB)"
	rc=1
fi
# Connects at the deadline: with connect_timeout=1, 160 connections send
# their admin Connect within 0.3 s either side of it. Each is either served
# or closed, never anything else, and nothing is left behind.
echo 1 >/sys/module/nvmet_tcp/parameters/connect_timeout
scripts/guest/connect-at-deadline 127.0.0.1 4420 "$nqn" 160 1 >/tmp/deadline.out 2>&1 || true
cat /tmp/deadline.out
result=$(tail -1 /tmp/deadline.out)
echo "rust target: Connects at the deadline: $(field served) served, $(field closed) closed, $(field other) otherwise"
if [ "$(field other)" != 0 ] || [ $(($(field served) + $(field closed))) != 160 ]; then
	echo "FAIL: a Connect at the deadline was neither served nor closed"
	rc=1
fi
echo 30 >/sys/module/nvmet_tcp/parameters/connect_timeout
sleep 2
after=$(mem)
read -r a_slab _ <<<"$after"
echo "rust target: after the Connects at the deadline: slab/TCP/SUnreclaim/MemAvailable $after (+$((a_slab - b_slab)) KiB)"
if [ $((a_slab - b_slab)) -gt 1024 ]; then
	echo "FAIL: slab memory did not come back to the baseline (within 1 MiB)"
	rc=1
fi
nvmet_clear
scripts/guest/impl unload target

# The C target, for comparison: it keeps a connection that never sends a
# whole ICReq until the host closes it (no timeout); reported, not judged.
scripts/guest/impl load c target
nvmet_subsys "$nqn" /dev/ram0
nvmet_port 1 127.0.0.1 4420
nvmet_link 1 "$nqn"
flood c $((tmo + 20))
read -r b_slab _ <<<"$base"
read -r d_slab _ <<<"$during"
read -r a_slab _ <<<"$after"
echo "c target: closed $(field closed) of $nconns idle connections within $((tmo + 20)) s; slab +$((d_slab - b_slab)) KiB with them open, +$((a_slab - b_slab)) KiB after the client closed them"
nvmet_clear
unserve_ram
exit $rc
