# NVMe/TCP over TLS 1.3 with a pre-shared key, the Rust host against the C
# target (whose TLS the C host checks first, as the harness's calibration),
# tlshd serving both sides' handshakes:
# - a PSK made with `nvme gen-tls-key` and inserted into the .nvme keyring
#   with `nvme check-tls-key --insert`; a port with addr_tsas tls1.3
#   (addr_treq required);
# - `nvme connect --tls` (the default PSK of this host and subsystem) and
#   `--tls_key=ID --keyring=.nvme`: fio crc32c verify at queue depth 1 and
#   32, also with header and data digests; the controller's tls_key
#   attribute reads the PSK's ID, tls_keyring the keyring given, and there
#   is no tls_configured_key (no concat); `nvme reset` runs new handshakes;
# - failures, each within the handshake timeout, leaving no controller, and
#   the port serving afterwards: a wrong PSK (this host's and subsystem's
#   identity with another secret, in a keyring the target does not look
#   in), no tlshd running, a handshake that gets no answer (a listener that
#   never speaks; tls_handshake_timeout 3 s);
# - the tls_handshake_timeout parameter: default 10, the C host's range;
# - concat is refused with a kernel log line.
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:host-tls
hostnqn=$(cat /etc/nvme/hostnqn)
param=/sys/module/nvme_tcp/parameters/tls_handshake_timeout
wrong_ring=nvme-tcp-rs-wrong
tlshd_pid=
listener_pid=

cleanup() {
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	[ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null || true
	[ -z "$tlshd_pid" ] || kill "$tlshd_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	unserve_ram
	# The PSKs go with the .nvme keyring, the wrong one with its keyring.
	rmmod nvme_auth nvme_keyring 2>/dev/null || true
	python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
# keyctl(KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "keyring", name, 0), then
# keyctl(KEYCTL_UNLINK, ring, KEY_SPEC_USER_KEYRING).
ring = libc.syscall(250, 10, -4, b"keyring", b"nvme-tcp-rs-wrong", 0)
if ring > 0:
    libc.syscall(250, 9, ring, -4)
' 2>/dev/null || true
}
trap cleanup EXIT

# tlshd_start: tlshd in the background, logging to /tmp/tlshd.log. It has no
# ready signal: it is given a moment to join the handshake netlink group.
tlshd_start() {
	/usr/sbin/tlshd -s >>/tmp/tlshd.log 2>&1 &
	tlshd_pid=$!
	sleep 2
	kill -0 "$tlshd_pid" || {
		echo "tlshd did not start:"
		cat /tmp/tlshd.log
		return 1
	}
}

tlshd_stop() {
	kill "$tlshd_pid"
	wait "$tlshd_pid" 2>/dev/null || true
	tlshd_pid=
}

# insert_psk KEY [ARGS...]: inserts KEY (interchange format) for this host
# and subsystem, and prints its ID (hex, as the tls_key attribute shows it).
insert_psk() {
	local key=$1 out
	shift
	out=$(nvme check-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" --insert --keydata="$key" "$@")
	echo "$out" | sed -n 's/^Inserted TLS key \([0-9a-fA-F]*\)$/\1/p' | tr 'A-F' 'a-f'
}

# connect_tls ARGS...: nvme connect over TLS to the port; sets dev (the
# namespace's block device) and ctrl (the controller).
connect_tls() {
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" --tls "$@" >/dev/null
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(stats_ctrl "$dev")
}

# check_attrs CTRL PSK [KEYRING]: the TLS attributes of the controller.
check_attrs() {
	local c=/sys/class/nvme/$1
	echo "  $1: tls_key '$(cat "$c/tls_key")', tls_keyring '$(cat "$c/tls_keyring" 2>/dev/null || echo -)'"
	[ "$(cat "$c/tls_key")" = "$(printf %08x "$((16#$2))")" ]
	[ ! -e "$c/tls_configured_key" ]
	if [ -n "${3:-}" ]; then
		[ "$(cat "$c/tls_keyring")" = "$3" ]
	else
		[ ! -e "$c/tls_keyring" ]
	fi
}

# wait_live CTRL: the controller is live again within 20 s.
wait_live() {
	local i
	for i in $(seq 200); do
		[ "$(cat "/sys/class/nvme/$1/state")" = live ] && return 0
		sleep 0.1
	done
	echo "$1: $(cat "/sys/class/nvme/$1/state"), not live"
	return 1
}

# must_fail SECS WHAT ARGS...: a TLS connect (ARGS: address, port and more)
# that must fail within SECS seconds, with WHAT in the kernel log, and leave
# no controller behind.
must_fail() {
	local secs=$1 what=$2 from t0 t new
	shift 2
	from=$(dmesg | wc -l)
	t0=$(date +%s)
	if nvme connect -t tcp -n "$nqn" --hostnqn="$hostnqn" --tls "$@" >/dev/null 2>&1; then
		echo "  connected: $*"
		return 1
	fi
	t=$(($(date +%s) - t0))
	new=$(dmesg | tail -n +"$((from + 1))")
	echo "  refused in $t s: $(echo "$new" | grep -E 'TLS|PSK' | head -3 | tr '\n' ' ')"
	if [ "$t" -gt "$secs" ]; then
		echo "  not within $secs s"
		return 1
	fi
	if ! echo "$new" | grep -q "$what"; then
		echo "  no '$what' in the kernel log"
		return 1
	fi
	if grep -qx "$nqn" /sys/class/nvme/*/subsysnqn 2>/dev/null; then
		echo "  a controller is left"
		return 1
	fi
}

[ -x /usr/sbin/tlshd ] || {
	echo "no tlshd in the guest"
	exit 1
}

# The C target on a TLS port; its keyring is .nvme (nvme_keyring).
modprobe brd rd_nr=1 rd_size=65536
scripts/guest/impl load c target
modprobe nvmet
nvmet_subsys "$nqn" /dev/ram0
nvmet_port 1 127.0.0.1 4420
echo -n tls1.3 >"$NVMET/ports/1/addr_tsas"
echo -n required >"$NVMET/ports/1/addr_treq"
nvmet_link 1 "$nqn"

key=$(nvme gen-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" | grep '^NVMeTLSkey-')
psk=$(insert_psk "$key")
[ -n "$psk" ]
echo "PSK $psk inserted"
tlshd_start

for host in c rust; do
	echo "== $host host"
	scripts/guest/impl load "$host" host
	connect_tls
	check_attrs "$ctrl" "$psk"
	FIO_SIZE=2m fio_verify "$dev" 1
	FIO_SIZE=2m fio_verify "$dev" 32
	nvme disconnect -n "$nqn" >/dev/null
	[ "$host" = c ] && continue

	echo "tls_key=$psk, header and data digests, keyring .nvme"
	connect_tls --tls_key="$((16#$psk))" --keyring=.nvme -g -G
	check_attrs "$ctrl" "$psk" .nvme
	FIO_SIZE=2m fio_verify "$dev" 32
	echo "nvme reset: new handshakes"
	from=$(dmesg | wc -l)
	nvme reset "/dev/$ctrl"
	wait_live "$ctrl"
	check_attrs "$ctrl" "$psk" .nvme
	FIO_SIZE=1m fio_verify "$dev" 32
	if [ "$(dmesg | tail -n +"$((from + 1))" | grep -c 'TLS handshake')" != 0 ]; then
		echo "a handshake failed in the reset"
		exit 1
	fi
	nvme disconnect -n "$nqn" >/dev/null
done

echo "== failures (Rust host)"
echo "tls_handshake_timeout: $(cat "$param")"
[ "$(cat "$param")" = 10 ]
if echo 4294968 >"$param" 2>/dev/null; then
	echo "tls_handshake_timeout took 4294968 (C's most is 4294967)"
	exit 1
fi
echo 3 >"$param"
[ "$(cat "$param")" = 3 ]

echo "wrong PSK: this host's and subsystem's identity, another secret, in a keyring of our own"
# In the user keyring, which outlives this python (a session keyring made
# for it would not) and where nvme-cli finds it by name; all permissions for
# the user, since tlshd links it for the handshake without possessing it.
python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
# add_key("keyring", name, NULL, 0, KEY_SPEC_USER_KEYRING)
ring = libc.syscall(248, b"keyring", b"nvme-tcp-rs-wrong", None, ctypes.c_size_t(0), -4)
if ring <= 0:
    sys.exit("add_key: errno %d" % ctypes.get_errno())
# keyctl(KEYCTL_SETPERM, ring, possessor and user: all)
if libc.syscall(250, 5, ring, ctypes.c_uint(0x3f3f0000)) != 0:
    sys.exit("setperm: errno %d" % ctypes.get_errno())
'
wrong=$(nvme gen-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" | grep '^NVMeTLSkey-')
[ "$wrong" != "$key" ]
[ -n "$(insert_psk "$wrong" --keyring="$wrong_ring")" ]
must_fail 8 "TLS handshake" -a 127.0.0.1 -s 4420 --keyring="$wrong_ring"

echo "no tlshd"
tlshd_stop
must_fail 5 "failed to start TLS" -a 127.0.0.1 -s 4420
tlshd_start

echo "no answer to the ClientHello (a listener that never speaks)"
python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 4421))
s.listen(8)
time.sleep(120)
' &
listener_pid=$!
for i in $(seq 100); do
	[ -n "$(ss -ltnH 'sport = :4421')" ] && break
	sleep 0.1
done
must_fail 8 "TLS handshake" -a 127.0.0.1 -s 4421
kill "$listener_pid"
wait "$listener_pid" 2>/dev/null || true
listener_pid=

echo "concat is refused"
from=$(dmesg | wc -l)
if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" --concat \
	--dhchap-secret="$(nvme gen-dhchap-key --nqn="$hostnqn")" >/dev/null 2>&1; then
	echo "concat connected"
	exit 1
fi
dmesg | tail -n +"$((from + 1))" | grep 'secure concatenation is not implemented yet'

echo 10 >"$param"
echo "the port still serves"
connect_tls
check_attrs "$ctrl" "$psk"
FIO_SIZE=1m fio_verify "$dev" 32
nvme disconnect -n "$nqn" >/dev/null
