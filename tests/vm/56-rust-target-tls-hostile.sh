# Hostile input on a TLS port of the Rust target (issue 20), tlshd serving
# the handshakes; each case must end in a clean close, and the port must
# serve a TLS host (the C host, fio verify) afterwards. The port has
# addr_tsas tls1.3 and addr_treq required (the pairings, and a port that
# does not require TLS, are test 28's):
# - a plain connect is refused, with the target's log line;
# - garbage in a TLS record instead of a ClientHello (tlshd fails the
#   handshake, or waits for more until tls_handshake_timeout); bytes that are neither TLS nor NVMe/TCP; a connection that
#   sends 3 bytes and nothing more (closed by connect_timeout); a handshake
#   tlshd never takes up (SIGSTOP: closed by tls_handshake_timeout); one
#   with no tlshd at all (refused at once);
# - a TLS session that sends a close_notify alert after its ICReq
#   (scripts/guest/tls-close-notify): the target logs the alert, as C does,
#   and closes when the host does.
# Not covered here: a fatal TLS alert (Python's ssl cannot send one).
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:tls
hostnqn=$(cat /etc/nvme/hostnqn)
params=/sys/module/nvmet_tcp/parameters

cleanup() {
	tlshd_end $?
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	echo 30 >"$params/connect_timeout" 2>/dev/null || true
	echo 10 >"$params/tls_handshake_timeout" 2>/dev/null || true
	unserve_ram
	rmmod nvme_auth nvme_keyring 2>/dev/null || true
}
trap cleanup EXIT

# raw_closed WHAT SECS BYTES...: opens a TCP connection to the port, sends the
# printf-format BYTES, and waits up to SECS for the target to close it.
raw_closed() {
	local what=$1 secs=$2 rc=0 t0
	shift 2
	t0=$(date +%s)
	exec 3<>/dev/tcp/127.0.0.1/4420
	# shellcheck disable=SC2059
	[ $# = 0 ] || printf "$@" >&3
	timeout "$secs" cat <&3 >/dev/null 2>&1 || rc=$?
	exec 3<&-
	if [ $rc = 124 ]; then
		echo "  $what: still open after $secs s"
		return 1
	fi
	echo "  $what: closed after $(($(date +%s) - t0)) s"
}

# target_log PATTERN: the kernel log since the mark has the target's PATTERN.
target_log() {
	since_mark | grep -q -- "nvmet_tcp: .*$1" ||
		{ echo "  no '$1' in the kernel log"; return 1; }
}

: >/tmp/tlshd.log
modprobe brd rd_nr=1 rd_size=32768
scripts/guest/impl load rust target
modprobe nvmet
scripts/guest/impl load c host
nvmet_subsys "$nqn" /dev/ram0
nvmet_port 1 127.0.0.1 4420
tls_port 1 required
nvmet_link 1 "$nqn"
tls_psk "$hostnqn" "$nqn"
# After the .nvme keyring is made, for tlshd to link it.
tlshd_start

echo "a plain connect is refused"
new_mark
if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" >/dev/null 2>&1; then
	echo "  a plain connect succeeded on a port that requires TLS"
	exit 1
fi
target_log 'which requires TLS (addr_treq required): connection refused'

echo "hostile input on the TLS port"
new_mark
raw_closed "garbage TLS record" 20 '\x16\x03\x01\x00\x40%s' "$(head -c 64 /dev/zero | tr '\0' 'x')"
target_log 'TLS handshake \(failed\|timeout\)'
raw_closed "neither TLS nor NVMe/TCP" 20 'GET / HTTP/1.0\r\n\r\n'
echo 3 >"$params/connect_timeout"
raw_closed "3 bytes, then silence" 20 '\x16\x03\x01'
target_log 'no ICReq within connect_timeout'
echo 30 >"$params/connect_timeout"
echo 3 >"$params/tls_handshake_timeout"
kill -STOP "$TLSHD_PID"
raw_closed "handshake not taken up" 20 '\x16\x03\x01\x00\x40%s' "$(head -c 64 /dev/zero | tr '\0' 'y')"
kill -CONT "$TLSHD_PID"
target_log 'TLS handshake timeout'
echo 10 >"$params/tls_handshake_timeout"
tlshd_stop
raw_closed "no tlshd" 20 '\x16\x03\x01\x00\x40%s' "$(head -c 64 /dev/zero | tr '\0' 'z')"
target_log 'failed to start TLS'
tlshd_start

echo "a TLS session that ends with close_notify"
new_mark
scripts/guest/tls-close-notify 127.0.0.1 4420 - "$TLS_PSK"
target_log 'TLS Alert desc 0'

echo "the port still serves"
nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" --tls >/dev/null
dev=$(nvme_dev_for "$nqn")
[ "$(tls_key_of "$(ctrl_of "$dev")")" = "$(printf %08x "$((16#$TLS_PSK))")" ]
FIO_SIZE=2m fio_verify "$dev" 32
nvme disconnect -n "$nqn" >/dev/null
