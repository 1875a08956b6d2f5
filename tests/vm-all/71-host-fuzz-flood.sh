# Fuzzing the host at volume (issue 21, item 4): the host under test connects
# to the Rust target through tools/hostile-target --reshape, with header and
# data digests, and runs fio write+verify passes (4 KiB to 128 KiB) while the
# proxy first damages FLOOD_MUTATIONS (default 10) target-to-host PDUs at
# random (each a fatal error for the host: it must close and reconnect), then
# keeps rewriting every target-to-host PDU into a legal but unusual one (each
# C2HData into up to 256 C2HData of random sizes, padded beyond the header for
# the Rust host; each R2T into up to 16 R2Ts asked one after the other; every
# CapsuleResp with another SQHD) until FLOOD_PDUS (default 10^5) PDUs were
# written to the host or FLOOD_SECONDS passed. A PDU counts as delivered only
# on a connection the host later closed with no command in flight and no fault
# (it has read it); the proxy prints the count and the PDUs per second.
# Pass for the Rust host: every mutation case passed, every fio pass verified,
# at least FLOOD_PDUS delivered, nothing left behind, no kernel report.
#
# Calibration: the same against the C host (no padding: the C host does not
# honour a PDO beyond the header), with C_FLOOD_PDUS (default 3*10^4); its
# result is reported, not judged (a kernel report still fails the test).
set -euo pipefail
. scripts/guest/lib.sh
tool=build/cargo/release/hostile-target
[ -x "$tool" ] || { echo "build tools/hostile-target first (scripts/test does)"; exit 1; }
nqn=nqn.2026-11.io.nvme-tcp-rs:hostile-target
out=/tmp/host-flood
seed=${FLOOD_SEED:-$RANDOM}
proxy_pid=
trap '[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true' EXIT
rc=0

# flood HOST PDUS SECONDS TOOL-ARGS...: the host HOST through the proxy with
# the flood; returns non-zero if a fio pass failed, a case failed, fewer than
# PDUS were delivered or the proxy did not end.
flood() {
	local host=$1 pdus=$2 secs=$3 dev prc=0 delivered r=0
	shift 3
	scripts/guest/impl load "$host" host
	echo "== $host host, seed $seed"
	"$tool" --listen 127.0.0.1:4430 --target 127.0.0.1:4420 --timeout 60 \
		--mutate "${FLOOD_MUTATIONS:-10}" --seed "$seed" --reshape --flood "$pdus" \
		--flood-seconds "$secs" "$@" >"$out.$host" 2>"$out.$host.err" &
	proxy_pid=$!
	for _ in $(seq 50); do
		grep -q '^hostile-target:' "$out.$host" && break
		sleep 0.1
	done
	nvme connect -t tcp -a 127.0.0.1 -s 4430 -n "$nqn" --reconnect-delay=1 \
		--ctrl-loss-tmo=120 -g -G >/dev/null
	dev=$(nvme_dev_for "$nqn")
	fio_passes "$dev" "$out.$host" "$proxy_pid" || r=1
	nvme disconnect -n "$nqn" >/dev/null || { echo "nvme disconnect failed"; r=1; }
	if ! proc_gone "$proxy_pid" 30; then
		echo "the proxy still has connections 30 s after the disconnect"
		kill "$proxy_pid"
		prc=1
	fi
	wait "$proxy_pid" || prc=$?
	proxy_pid=
	cat "$out.$host"
	sed 's/^/proxy: /' "$out.$host.err" | tail -20
	echo "proxy status $prc"
	[ $prc = 0 ] || r=1
	delivered=$(sed -n 's/^FLOOD delivered=\([0-9]*\) .*/\1/p' "$out.$host")
	if [ "${delivered:-0}" -lt "$pdus" ]; then
		echo "only ${delivered:-0} PDUs delivered to the $host host, not $pdus"
		r=1
	fi
	scripts/guest/impl unload host
	return $r
}

serve_ram rust rust "$nqn" 32768
flood rust "${FLOOD_PDUS:-100000}" "${FLOOD_SECONDS:-1200}" --pad || rc=1
if ! flood c "${C_FLOOD_PDUS:-30000}" "${C_FLOOD_SECONDS:-600}"; then
	echo "C HOST: the flood above failed against the C host (reported, not judged)"
fi
echo "host error lines: $(dmesg | grep -c 'nvme nvme' || true)"
unserve_ram
exit $rc
# timeout: 2700
