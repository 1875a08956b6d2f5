# NVMe/TCP over TLS 1.3 with a pre-shared key in all four pairings, tlshd
# serving both sides' handshakes, and the Rust host's failures:
# - a PSK made with `nvme gen-tls-key` and inserted into the .nvme keyring
#   with `nvme check-tls-key --insert` (identity version 1, the one nvme-cli
#   derives when it inserts a key itself);
# - for each target (C, then Rust), a port with addr_tsas tls1.3:
#   - addr_treq required: for each host, `nvme connect --tls` (the kernel
#     looks up this host's and subsystem's PSK in .nvme), the controller's
#     tls_key attribute reads the PSK's ID and there is no
#     tls_configured_key (no concat), with header and data digests: fio
#     crc32c verify (512 B to 1 MiB) at queue depth 1; then under fio
#     write+verify (4 KiB, QD 32) the port is
#     removed for 3 s, killing the connections: the host recovers, with new
#     handshakes, and fio ends with no error; a plain connect is refused;
#   - addr_treq not required: for each host, a plain connect (tls_key
#     empty) and a TLS connect with `--tls-key=ID` (tls_key set), each with
#     fio verify (512 B to 1 MiB, QD 32);
# - the Rust host against the Rust target: `--tls-key=KEY --keyring=NAME`
#   (nvme-cli puts the PSK into a keyring of ours and passes both; the
#   tls_keyring attribute reads it), and `nvme reset` runs new handshakes;
# - the Rust host's failures, each within the handshake timeout, leaving no
#   controller, and the port serving afterwards: a wrong PSK (another
#   secret for this host and subsystem, in a keyring the target does not
#   look in: its identity's digest differs, so the target has no such key),
#   no tlshd running, a handshake that gets no answer (a listener that never
#   speaks; tls_handshake_timeout 3 s);
# - the tls_handshake_timeout parameter: default 10, the C host's range.
# Secure concatenation is test 31's.
# The option semantics are nvme-cli 2.13's (libnvme 1.13): --keyring is
# passed to the kernel only with a --tls-key in interchange format, which
# nvme-cli inserts into that keyring first.
# timeout: 900
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:host-tls
hostnqn=$(cat /etc/nvme/hostnqn)
param=/sys/module/nvme_tcp/parameters/tls_handshake_timeout
listener_pid=
rings=

cleanup() {
	tlshd_end $?
	local r
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	[ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null || true
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

# connect_tls ARGS...: nvme connect over TLS to the port; sets dev (the
# namespace's block device) and ctrl (the controller).
connect_tls() {
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" --tls "$@" >/dev/null
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(ctrl_of "$dev")
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

# must_fail SECS WHAT ARGS...: a TLS connect (ARGS: address, port and more)
# that must fail within SECS seconds, with WHAT in the kernel log, and leave
# no controller behind.
must_fail() {
	local secs=$1 what=$2 t0 t new
	shift 2
	new_mark
	t0=$(date +%s)
	if nvme connect -t tcp -n "$nqn" --hostnqn="$hostnqn" --tls "$@" >/dev/null 2>&1; then
		echo "  connected: $*"
		return 1
	fi
	t=$(($(date +%s) - t0))
	new=$(since_mark)
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
modprobe brd rd_nr=1 rd_size=65536

for target in c rust; do
	scripts/guest/impl load "$target" target
	modprobe nvmet
	nvmet_subsys "$nqn" /dev/ram0
	nvmet_port 1 127.0.0.1 4420
	tls_port 1 required
	nvmet_link 1 "$nqn"
	# One PSK for the whole test (a second one would have another identity,
	# and the hosts would pick either), unless the keyring went with its
	# module.
	if ! grep -q "^${psk:-none} " /proc/keys; then
		tls_psk "$hostnqn" "$nqn"
		key=$TLS_KEY psk=$TLS_PSK
		echo "PSK $psk inserted into .nvme"
	fi
	# After the .nvme keyring is made (by nvme_keyring, which the target
	# loads), for tlshd to link it.
	tlshd_start
	for host in c rust; do
		echo "== $host host, $target target, addr_treq required"
		scripts/guest/impl load "$host" host
		connect_tls --reconnect-delay 1 --ctrl-loss-tmo 30 -g -G
		check_attrs "$ctrl" "$psk"
		FIO_SIZE=2m fio_verify "$dev" 1
		echo "  the connections killed under fio (the port removed for 3 s)"
		new_mark
		fio_bg "$dev" 4m
		rm "$NVMET/ports/1/subsystems/$nqn"
		sleep 3
		nvmet_link 1 "$nqn"
		fio_wait 120
		wait_state "$ctrl" live 20
		log_has "$ctrl" "Successfully reconnected"
		check_attrs "$ctrl" "$psk"
		nvme disconnect -n "$nqn" >/dev/null
		if nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" >/dev/null 2>&1; then
			echo "  a plain connect succeeded on a port that requires TLS"
			exit 1
		fi
		echo "  a plain connect is refused"
	done
	rm "$NVMET/ports/1/subsystems/$nqn"
	tls_port 1 "not required"
	nvmet_link 1 "$nqn"
	for host in c rust; do
		echo "== $host host, $target target, addr_treq not required"
		scripts/guest/impl load "$host" host
		nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" >/dev/null
		dev=$(nvme_dev_for "$nqn")
		ctrl=$(ctrl_of "$dev")
		echo "  plain: $ctrl: tls_key '$(tls_key_of "$ctrl")'"
		[ -z "$(tls_key_of "$ctrl")" ]
		FIO_SIZE=1m fio_verify "$dev" 32
		nvme disconnect -n "$nqn" >/dev/null
		echo "  TLS, --tls-key=ID"
		connect_tls --tls-key="$((16#$psk))"
		check_attrs "$ctrl" "$psk"
		FIO_SIZE=1m fio_verify "$dev" 32
		nvme disconnect -n "$nqn" >/dev/null
	done
	[ "$target" = rust ] && break
	tlshd_stop
	nvmet_clear
	scripts/guest/impl unload host
	scripts/guest/impl unload target
done

echo "== Rust host, Rust target: --tls-key=KEY --keyring=nvme-tcp-rs-good (the same secret in a keyring of ours)"
new_keyring nvme-tcp-rs-good
connect_tls --tls-key="$key" --keyring=nvme-tcp-rs-good
ours=$(tls_key_of "$ctrl")
[ -n "$ours" ] && [ "$ours" != "$psk" ]
grep -q "^$ours .* psk .*NVMe.* $hostnqn $nqn" /proc/keys
check_attrs "$ctrl" "$ours" nvme-tcp-rs-good
FIO_SIZE=1m fio_verify "$dev" 32
echo "nvme reset: new handshakes"
new_mark
nvme reset "/dev/$ctrl"
wait_state "$ctrl" live 20
check_attrs "$ctrl" "$ours" nvme-tcp-rs-good
FIO_SIZE=1m fio_verify "$dev" 32
if [ "$(since_mark | grep -c 'TLS handshake')" != 0 ]; then
	echo "a handshake failed in the reset"
	exit 1
fi
nvme disconnect -n "$nqn" >/dev/null

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
wrong=$(nvme gen-tls-key --hostnqn="$hostnqn" --subsysnqn="$nqn" | grep -o '^NVMeTLSkey-[^ ]*')
[ "$wrong" != "$key" ]
must_fail 8 "nvme[0-9]*: queue 0: TLS handshake" -a 127.0.0.1 -s 4420 --tls-key="$wrong" --keyring=nvme-tcp-rs-wrong

echo "no tlshd"
tlshd_stop
must_fail 5 "nvme[0-9]*: queue 0: failed to start TLS" -a 127.0.0.1 -s 4420
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
must_fail 8 "nvme[0-9]*: queue 0: TLS handshake" -a 127.0.0.1 -s 4421
kill "$listener_pid"
wait "$listener_pid" 2>/dev/null || true
listener_pid=

echo 10 >"$param"
echo "the port still serves"
connect_tls
check_attrs "$ctrl" "$psk"
FIO_SIZE=1m fio_verify "$dev" 32
nvme disconnect -n "$nqn" >/dev/null
