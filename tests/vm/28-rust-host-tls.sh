# NVMe/TCP over TLS 1.3 with a pre-shared key, the Rust host against the C
# target (whose TLS the C host checks first, as the harness's calibration),
# tlshd serving both sides' handshakes:
# - a PSK made with `nvme gen-tls-key` and inserted into the .nvme keyring
#   with `nvme check-tls-key --insert` (identity version 1, the one nvme-cli
#   derives when it inserts a key itself); a port with addr_tsas tls1.3
#   (addr_treq required);
# - `nvme connect --tls` (the kernel looks up this host's and subsystem's
#   PSK in .nvme), `--tls-key=ID` with header and data digests, and
#   `--tls-key=KEY --keyring=NAME` (nvme-cli puts the PSK into a keyring of
#   ours and passes both): fio crc32c verify at queue depth 1 and 32; the
#   controller's tls_key attribute reads the PSK's ID, tls_keyring the
#   keyring passed, and there is no tls_configured_key (no concat); `nvme
#   reset` runs new handshakes;
# - failures, each within the handshake timeout, leaving no controller, and
#   the port serving afterwards: a wrong PSK (another secret for this host
#   and subsystem, in a keyring the target does not look in: its identity's
#   digest differs, so the target has no such key), no tlshd running, a handshake that gets no answer (a listener that
#   never speaks; tls_handshake_timeout 3 s);
# - the tls_handshake_timeout parameter: default 10, the C host's range;
# - concat is refused with a kernel log line.
# The option semantics are nvme-cli 2.13's (libnvme 1.13): --keyring is
# passed to the kernel only with a --tls-key in interchange format, which
# nvme-cli inserts into that keyring first.
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:host-tls
hostnqn=$(cat /etc/nvme/hostnqn)
param=/sys/module/nvme_tcp/parameters/tls_handshake_timeout
tlshd_pid=
listener_pid=
rings=

cleanup() {
	local rc=$? r
	if [ $rc != 0 ] && [ -s /tmp/tlshd.log ]; then
		echo "--- the end of tlshd's log"
		tail -n 40 /tmp/tlshd.log
	fi
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	[ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null || true
	[ -z "$tlshd_pid" ] || kill "$tlshd_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	unserve_ram
	# The PSKs go with the .nvme keyring, ours with their keyrings.
	rmmod nvme_auth nvme_keyring 2>/dev/null || true
	for r in $rings; do
		# keyctl(KEYCTL_UNLINK, ring, KEY_SPEC_USER_KEYRING)
		python3 -c 'import ctypes, sys; ctypes.CDLL(None).syscall(250, 9, int(sys.argv[1]), -4)' "$r" || true
	done
}
trap cleanup EXIT

# new_keyring NAME: a keyring of ours, in the user keyring (which outlives
# the python that makes it; a session keyring made for it would not), where
# nvme-cli finds it by name (/proc/keys); every permission for the user,
# since tlshd links it for the handshake without possessing it.
new_keyring() {
	local id
	id=$(python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
# add_key("keyring", NAME, NULL, 0, KEY_SPEC_USER_KEYRING)
ring = libc.syscall(248, b"keyring", sys.argv[1].encode(), None, ctypes.c_size_t(0), -4)
if ring <= 0:
    sys.exit("add_key: errno %d" % ctypes.get_errno())
# keyctl(KEYCTL_SETPERM, ring, possessor and user: all)
if libc.syscall(250, 5, ring, ctypes.c_uint(0x3f3f0000)) != 0:
    sys.exit("setperm: errno %d" % ctypes.get_errno())
print(ring)
' "$1")
	rings="$rings $id"
}

# tlshd_start: tlshd in the background, logging to /tmp/tlshd.log, with the
# .nvme keyring in its session (ktls-utils links it by default since 0.12;
# said here for older ones). It has no ready signal: it is given a moment to
# join the handshake netlink group.
tlshd_start() {
	printf '[debug]\nloglevel=1\n[authenticate]\nkeyrings=.nvme\n' >/tmp/tlshd.conf
	/usr/sbin/tlshd -s -c /tmp/tlshd.conf >>/tmp/tlshd.log 2>&1 &
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

# gen_key: a new PSK in interchange format for this host and subsystem.
gen_key() {
	nvme gen-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" | grep '^NVMeTLSkey-'
}

# connect_tls ARGS...: nvme connect over TLS to the port; sets dev (the
# namespace's block device) and ctrl (the controller).
connect_tls() {
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" --tls "$@" >/dev/null
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(stats_ctrl "$dev")
}

# check_attrs CTRL PSK [KEYRING]: the TLS attributes of the controller: the
# PSK's ID (hex), the keyring's name if one was passed.
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

: >/tmp/tlshd.log
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

key=$(gen_key)
psk=$(nvme check-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" --identity=1 --insert --keydata="$key" |
	sed -n 's/^Inserted TLS key \([0-9a-fA-F]*\)$/\1/p' | tr 'A-F' 'a-f')
[ -n "$psk" ]
echo "PSK $psk inserted into .nvme"
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

	echo "--tls-key=ID, header and data digests"
	connect_tls --tls-key="$((16#$psk))" -g -G
	check_attrs "$ctrl" "$psk"
	FIO_SIZE=2m fio_verify "$dev" 32
	nvme disconnect -n "$nqn" >/dev/null

	echo "--tls-key=KEY --keyring=nvme-tcp-rs-good (the same secret in a keyring of ours)"
	new_keyring nvme-tcp-rs-good
	connect_tls --tls-key="$key" --keyring=nvme-tcp-rs-good
	ours=$(cat "/sys/class/nvme/$ctrl/tls_key")
	[ -n "$ours" ] && [ "$ours" != "$psk" ]
	grep -q "^$ours .* psk .*NVMe.* $hostnqn $nqn" /proc/keys
	check_attrs "$ctrl" "$ours" nvme-tcp-rs-good
	FIO_SIZE=1m fio_verify "$dev" 32
	echo "nvme reset: new handshakes"
	from=$(dmesg | wc -l)
	nvme reset "/dev/$ctrl"
	wait_live "$ctrl"
	check_attrs "$ctrl" "$ours" nvme-tcp-rs-good
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

echo "wrong PSK: another secret for this host and subsystem, in a keyring of ours"
new_keyring nvme-tcp-rs-wrong
wrong=$(gen_key)
[ "$wrong" != "$key" ]
must_fail 8 "TLS handshake" -a 127.0.0.1 -s 4420 --tls-key="$wrong" --keyring=nvme-tcp-rs-wrong

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
