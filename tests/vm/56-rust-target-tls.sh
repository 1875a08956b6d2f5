# NVMe/TCP over TLS 1.3 with a PSK against the Rust target (issue 20), the C
# host connecting with --tls, tlshd serving both sides' handshakes:
# - a port with addr_tsas tls1.3 and addr_treq required: a TLS connect
#   (tls_key set on the host, ", TLS" in the core's controller line, so the
#   queue's sq->tls_key is set) and a short fio crc32c verify at queue depth 1
#   and 32; a plain connect is refused, with the target's log line;
# - hostile input on that port, each ending in a clean close and the port
#   still serving: garbage in a TLS record header instead of a ClientHello
#   (tlshd fails the handshake), bytes that are neither, a connection that
#   sends 3 bytes and nothing more (closed by connect_timeout), a handshake
#   tlshd never takes up (SIGSTOP: closed by tls_handshake_timeout), one
#   with no tlshd at all (refused at once), and a TLS session that sends a
#   close_notify alert after its ICReq (scripts/guest/tls-close-notify: the
#   target logs the alert, as C does, and closes when the host does);
# - the same port with addr_treq not required: a plain connect and a TLS
#   connect both work (tls_key empty, then set), each with fio verify.
# Not covered here: a fatal TLS alert (Python's ssl cannot send one).
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:tls
hostnqn=nqn.2014-08.org.nvmexpress:uuid:5e1f0c2a-7d3b-4c59-9a61-2f6d1e0b7c41
port=$NVMET/ports/1
params=/sys/module/nvmet_tcp/parameters
tlshd_pid=

tlshd_start() {
	cat >/tmp/tlshd.conf <<-'EOF'
		[debug]
		loglevel=0
		tls=0
		nl=0
		[authenticate]
		keyrings=.nvme
	EOF
	/usr/sbin/tlshd -s -c /tmp/tlshd.conf >/tmp/tlshd.log 2>&1 &
	tlshd_pid=$!
	sleep 1
	kill -0 "$tlshd_pid" || { echo "tlshd did not start"; cat /tmp/tlshd.log; return 1; }
}

tlshd_stop() {
	[ -n "$tlshd_pid" ] || return 0
	kill -CONT "$tlshd_pid" 2>/dev/null || true
	kill "$tlshd_pid" 2>/dev/null || true
	wait "$tlshd_pid" 2>/dev/null || true
	tlshd_pid=
}

cleanup() {
	tlshd_stop
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	echo 30 >"$params/connect_timeout" 2>/dev/null || true
	echo 10 >"$params/tls_handshake_timeout" 2>/dev/null || true
}
trap cleanup EXIT

# connect_tls / connect_plain: the C host connects (fails if it cannot).
connect_tls() {
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" --tls
}
connect_plain() {
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn"
}

# tls_key_of DEV: the host controller's tls_key attribute (empty if absent).
tls_key_of() {
	cat "/sys/class/nvme/$(stats_ctrl "$1")/tls_key" 2>/dev/null || true
}

# verify_io: fio verify at queue depth 1 and 32 on the connected namespace,
# then disconnect; $1: "tls" (tls_key must be set) or "plain" (it must not).
verify_io() {
	local dev key
	dev=$(nvme_dev_for "$nqn")
	key=$(tls_key_of "$dev")
	echo "  $dev: tls_key '${key}'"
	if [ "$1" = tls ]; then [ -n "$key" ]; else [ -z "$key" ]; fi
	FIO_SIZE=2m fio_verify "$dev" 1
	FIO_SIZE=2m fio_verify "$dev" 32
	nvme disconnect -n "$nqn"
}

# log_since N PATTERN: the kernel log after its first N lines has PATTERN.
log_since() {
	dmesg | tail -n +"$(($1 + 1))" | grep -q -- "$2" ||
		{ echo "  no '$2' in the kernel log"; return 1; }
}

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

modprobe brd rd_nr=1 rd_size=32768
scripts/guest/impl load rust target
modprobe nvmet
scripts/guest/impl load c host
tlshd_start

# The PSK: a configured key made by nvme-cli, checked and inserted (as the
# retained PSK for this host and subsystem) into the .nvme keyring.
key=$(nvme gen-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" | grep -o 'NVMeTLSkey-1:[^ ]*')
nvme check-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" --keydata="$key" --insert | tee /tmp/tls-key.out
serial=$(awk '/Inserted TLS key/ { print $4 }' /tmp/tls-key.out)
[ -n "$serial" ]

nvmet_subsys "$nqn" /dev/ram0
nvmet_port 1 127.0.0.1 4420
echo -n tls1.3 >"$port/addr_tsas"
[ "$(cat "$port/addr_treq")" = required ]
nvmet_link 1 "$nqn"

echo "treq required: TLS connect"
n=$(dmesg | wc -l)
connect_tls
log_since "$n" ', TLS'
verify_io tls

echo "treq required: plain connect refused"
n=$(dmesg | wc -l)
if connect_plain; then
	echo "  a plain connect succeeded on a port that requires TLS"
	exit 1
fi
log_since "$n" 'which requires TLS (addr_treq required): connection refused'

echo "hostile input on the TLS port"
n=$(dmesg | wc -l)
raw_closed "garbage TLS record" 20 '\x16\x03\x01\x00\x40%s' "$(head -c 64 /dev/zero | tr '\0' 'x')"
raw_closed "neither TLS nor NVMe/TCP" 20 'GET / HTTP/1.0\r\n\r\n'
echo 3 >"$params/connect_timeout"
raw_closed "3 bytes, then silence" 20 '\x16\x03\x01'
log_since "$n" 'no ICReq within connect_timeout'
echo 30 >"$params/connect_timeout"
echo 3 >"$params/tls_handshake_timeout"
kill -STOP "$tlshd_pid"
raw_closed "handshake not taken up" 20 '\x16\x03\x01\x00\x40%s' "$(head -c 64 /dev/zero | tr '\0' 'y')"
kill -CONT "$tlshd_pid"
log_since "$n" 'TLS handshake timeout'
echo 10 >"$params/tls_handshake_timeout"
tlshd_stop
raw_closed "no tlshd" 20 '\x16\x03\x01\x00\x40%s' "$(head -c 64 /dev/zero | tr '\0' 'z')"
log_since "$n" 'failed to start TLS'
tlshd_start
n=$(dmesg | wc -l)
scripts/guest/tls-close-notify 127.0.0.1 4420 "NVMe0R01 $hostnqn $nqn" "$serial"
log_since "$n" 'TLS Alert desc 0'
echo "  the port still serves:"
connect_tls
verify_io tls

echo "treq not required: plain and TLS connects"
rm "$port/subsystems/$nqn"
echo -n "not required" >"$port/addr_treq"
nvmet_link 1 "$nqn"
connect_plain
verify_io plain
connect_tls
verify_io tls

trap - EXIT
cleanup
unserve_ram
rmmod nvme_keyring 2>/dev/null || true
