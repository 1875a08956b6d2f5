# timeout: 420
# A hostile target against the host (tools/hostile-target): a target
# (TARGET_IMPL, default rust; see below) serves a RAM disk on 127.0.0.1:4420,
# the proxy listens on 127.0.0.1:4430
# and forwards to it, and the host under test (HOST_IMPL, default rust)
# connects through the proxy with a short reconnect delay. While fio writes
# and verifies (crc32c) in a loop, the proxy damages one target-to-host PDU
# per case (malformed ICResp, forged CapsuleResp, C2HData and R2T that do not
# fit their command, a C2HTermReq, a cut connection; then, with digests on,
# bad header digests, a bad HLEN, a bad data digest and random mutations),
# checks the host's reaction on that connection (an H2CTermReq with the right
# FES if it sends one, then closing; carrying on where the error is not
# fatal) and waits for the host to reconnect and do I/O before the next case.
# Every case must pass, every fio pass must verify with no error, and
# everything must be torn down; the Rust host's statistics (debugfs) must have
# counted the C2HTermReq received, a recovery and a reconnect after the cut
# connection, every H2CTermReq the proxy saw, and the header and data digest
# errors; the runner fails the test on any kernel
# report (oops, KASAN, lockdep, kmemleak, hung task).
#
# By default a host that closes without an H2CTermReq passes (the C host never
# sends one). HOSTILE_STRICT=1 asks for the spec's full reaction: an
# H2CTermReq with the right FES/FEI before every close over a fatal error, and
# the cases the C host does not check (ICResp HLEN, C2HData DATAO alone).
set -euo pipefail
. scripts/guest/lib.sh
tool=build/cargo/release/hostile-target
[ -x "$tool" ] || { echo "build tools/hostile-target first (scripts/test does)"; exit 1; }
host=${HOST_IMPL:-rust}
nqn=nqn.2026-11.io.nvme-tcp-rs:hostile-target
out=/tmp/hostile-target
proxy_pid=
trap '[ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true' EXIT
# Behind the proxy the Rust target by default: with the C target behind it,
# after the digest cases one C target queue's release hung in
# nvmet_sq_destroy (seen once with the Rust host, 2026-11-26; never with the
# C host in three runs; cause not isolated). TARGET_IMPL=c runs it anyway.
serve_ram "${TARGET_IMPL:-rust}" "$host" "$nqn" 32768
echo "host: $(scripts/guest/impl which host), target: $(scripts/guest/impl which target)"
rc=0
strict=()
extra=()
if [ "${HOSTILE_STRICT:-0}" = 1 ]; then
	strict=(--require-term-req)
	extra=(--case icresp-hlen --case c2h-shift)
fi

# stat_at_least NAME FIELD N: the summed statistic NAME (field FIELD: 2
# received, 3 sent, 2 for a controller's) is at least N.
stat_at_least() {
	awk -v n="$1" -v f="$2" -v min="$3" '$1 == n { v = $f } END { exit !(v >= min) }' "$out.$label.stats"
}

# proxy_run LABEL "CONNECT OPTIONS" TOOL-ARGS...: start the proxy with the
# cases, connect through it, run fio write+verify passes until the proxy has
# gone through every case, disconnect, and collect the proxy's verdict.
proxy_run() {
	local label=$1 opts=$2 i dev prc=0
	shift 2
	echo "== $label (nvme connect options: ${opts:-none})"
	"$tool" --listen 127.0.0.1:4430 --target 127.0.0.1:4420 --timeout 45 "${strict[@]}" "$@" \
		>"$out.$label" 2>"$out.$label.err" &
	proxy_pid=$!
	for i in $(seq 50); do
		grep -q '^hostile-target:' "$out.$label" && break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	nvme connect -t tcp -a 127.0.0.1 -s 4430 -n "$nqn" \
		--reconnect-delay=1 --ctrl-loss-tmo=120 $opts
	dev=$(nvme_dev_for "$nqn")
	fio_passes "$dev" "$out.$label" "$proxy_pid" || rc=1
	# The Rust host's statistics (every queue of the controller, summed)
	# count what the cases did.
	stats_ctrl "$dev"
	ctrl=$STATS_CTRL
	if [ -d "$STATS_HOST/$ctrl" ]; then
		stats_sum "$ctrl" >"$out.$label.stats"
		sed 's/^/stats: /' "$out.$label.stats"
		for want in "$@"; do
			case $want in
			--case) continue ;;
			c2h-termreq) stat_at_least C2HTermReq 2 1 ;;
			resp-hdgst) stat_at_least header_digest_errors 2 1 ;;
			c2h-ddgst) stat_at_least data_digest_errors 2 1 ;;
			kill) stat_at_least recoveries 2 1 && stat_at_least reconnects 2 1 ;;
			r2t-beyond) stat_at_least R2T 2 1 ;;
			esac || { echo "stats: $want not counted"; rc=1; }
		done
		# Every H2CTermReq the proxy saw was counted as sent.
		terms=$(grep -c 'host: H2CTermReq FES' "$out.$label" || true)
		stat_at_least H2CTermReq 3 "$terms" ||
			{ echo "stats: fewer H2CTermReqs sent than the proxy's $terms"; rc=1; }
	fi
	# A host that gave the controller up has nothing left to disconnect.
	nvme disconnect -n "$nqn" || { echo "nvme disconnect failed"; rc=1; }
	# The proxy exits once the host has closed every connection.
	if ! proc_gone "$proxy_pid" 30; then
		echo "the proxy still has connections 30 s after the disconnect"
		kill "$proxy_pid"
		prc=1
	fi
	wait "$proxy_pid" || prc=$?
	proxy_pid=
	cat "$out.$label"
	sed 's/^/proxy: /' "$out.$label.err"
	echo "proxy status $prc"
	[ $prc = 0 ] || rc=1
}

# Without digests: a cut connection, malformed ICResps, forged PDUs that do
# not fit their command, a C2HTermReq.
proxy_run plain "" \
	--case kill --case icresp-pfv --case icresp-maxh2cdata --case icresp-cpda \
	--case icresp-dgst --case icresp-plen --case resp-unknown-cid \
	--case c2h-beyond --case c2h-overlap --case r2t-beyond --case r2t-zero \
	--case c2h-termreq "${extra[@]}"
# With header and data digests: the digest cases, then random damage.
proxy_run digests "-g -G" \
	--case resp-hlen --case resp-hdgst --case c2h-ddgst \
	--mutate "${HOSTILE_MUTATIONS:-6}" --seed "${HOSTILE_SEED:-$RANDOM}"

echo "host error lines: $(dmesg | grep -c 'nvme nvme' || true)"
unserve_ram
exit $rc
