# DH-HMAC-CHAP (in the nvme and nvmet cores) through the transports, in all
# four pairings, with keys made by `nvme gen-dhchap-key`; the subsystem
# admits only this host, whose configfs entry holds the target's side:
# - every hash (hmac(sha256), hmac(sha384), hmac(sha512)) and every DH group
#   (null, ffdhe2048 to ffdhe8192) the cores offer, each at least once:
#   six connects, alternately unidirectional and bidirectional, each with
#   the core's "authenticated with hash H dhgroup G" line for the admin
#   queue (and "controller authenticated" when bidirectional) and a read;
# - a wrong host key, then a wrong controller key: the connect fails with
#   the core's message and leaves no controller;
# - re-authentication under fio write+verify: new keys on the target, then
#   in the controller's dhchap_secret and dhchap_ctrl_secret attributes;
#   each re-authenticates every queue, fio verifies with no error;
# - secure concatenation (`--concat`, tlshd running) on a second port with
#   addr_tsas tls1.3 and addr_treq not required, with hmac(sha256)/ffdhe2048
#   and hmac(sha384)/ffdhe3072 (a SHA-384 PSK): the admin queue
#   authenticates in the clear, then every queue runs TLS with the generated
#   PSK (the tls_key attribute names it, a psk key in .nvme), `nvme reset`
#   yields a new PSK, and fio verifies.
# timeout: 1800
set -euo pipefail
. scripts/guest/lib.sh
nqn=nqn.2026-12.io.nvme-tcp-rs:dhchap
hostnqn=$(cat /etc/nvme/hostnqn)
hosts=$NVMET/hosts/$hostnqn
hashes=("hmac(sha256)" "hmac(sha384)" "hmac(sha512)")
groups=(null ffdhe2048 ffdhe3072 ffdhe4096 ffdhe6144 ffdhe8192)
ctrl=

cleanup() {
	tlshd_end $?
	[ -z "${fio_pid:-}" ] || kill "$fio_pid" 2>/dev/null || true
	nvme disconnect -n "$nqn" >/dev/null 2>&1 || true
	unserve_ram
	rmmod nvme_auth nvme_keyring 2>/dev/null || true
}
trap cleanup EXIT

# key N: a new DH-HMAC-CHAP secret for this host, transformed with hash N
# (0: none, 1: SHA-256, 2: SHA-384, 3: SHA-512).
key() {
	nvme gen-dhchap-key --nqn="$hostnqn" --hmac="$1" | grep -o '^DHHC-1:[^ ]*'
}

# target_keys HOSTKEY CTRLKEY [HASH GROUP]: the target's side for this host
# (CTRLKEY empty: unidirectional).
target_keys() {
	echo -n "$1" >"$hosts/dhchap_key"
	echo -n "$2" >"$hosts/dhchap_ctrl_key"
	[ $# -lt 4 ] || {
		echo -n "$3" >"$hosts/dhchap_hash"
		echo -n "$4" >"$hosts/dhchap_dhgroup"
	}
}

# connect HOSTKEY [CTRLKEY]: connects with the secrets; sets dev and ctrl.
connect() {
	local args=(--dhchap-secret="$1")
	[ -z "${2:-}" ] || args+=(--dhchap-ctrl-secret="$2")
	# `|| return`: refused calls this as a condition, where set -e does not hold.
	nvme connect -t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn="$hostnqn" "${args[@]}" >/dev/null || return
	dev=$(nvme_dev_for "$nqn")
	ctrl=$(ctrl_of "$dev")
}

# refused WHAT HOSTKEY CTRLKEY: the connect fails, with WHAT in the kernel
# log, and leaves no controller.
refused() {
	local what=$1
	shift
	new_mark
	if connect "$@" 2>/dev/null; then
		echo "  connected"
		return 1
	fi
	since_mark | grep -q -- "$what" || { echo "  no '$what' in the kernel log"; return 1; }
	if grep -qx "$nqn" /sys/class/nvme/*/subsysnqn 2>/dev/null; then
		echo "  a controller is left"
		return 1
	fi
	echo "  refused: $what"
}

# reauth_done SECS: the re-authentication the mark precedes ended for the
# admin queue (both directions: the connection is bidirectional) within
# SECS, with no failure.
reauth_done() {
	local i
	for i in $(seq $(($1 * 10))); do
		if since_mark | grep -q "nvme $ctrl: qid 0: controller authenticated"; then
			! since_mark | grep -E "nvme $ctrl: .*(fail|error)" || return 1
			return 0
		fi
		sleep 0.1
	done
	echo "  no re-authentication in $1 s"
	return 1
}

: >/tmp/tlshd.log
modprobe brd rd_nr=1 rd_size=32768
# The FFDHE groups are templates of dh_generic, which has no module alias for
# them: nothing loads it on demand (the same with the C drivers).
modprobe dh_generic
for target in c rust; do
	scripts/guest/impl load "$target" target
	modprobe nvmet
	nvmet_subsys "$nqn" /dev/ram0
	echo 0 >"$NVMET/subsystems/$nqn/attr_allow_any_host"
	mkdir "$hosts"
	ln -s "$hosts" "$NVMET/subsystems/$nqn/allowed_hosts/$hostnqn"
	nvmet_port 1 127.0.0.1 4420
	nvmet_link 1 "$nqn"
	nvmet_port 2 127.0.0.1 4421
	tls_port 2 "not required"
	nvmet_link 2 "$nqn"
	# After the .nvme keyring is made (by nvme_keyring, which the target
	# loads), for tlshd to link it.
	tlshd_start
	for host in c rust; do
		echo "== $host host, $target target"
		scripts/guest/impl load "$host" host
		for i in "${!groups[@]}"; do
			hash=${hashes[$((i % 3))]} group=${groups[$i]}
			hkey=$(key $((i % 4))) ckey=
			[ $((i % 2)) = 0 ] || ckey=$(key $(((i + 1) % 4)))
			target_keys "$hkey" "$ckey" "$hash" "$group"
			new_mark
			connect "$hkey" "$ckey"
			log_has "$ctrl" "qid 0: authenticated with hash $hash dhgroup $group"
			if [ -n "$ckey" ]; then
				log_has "$ctrl" "qid 0: controller authenticated"
			fi
			dd if="$dev" of=/dev/null bs=64k count=16 iflag=direct status=none
			echo "  $hash $group $([ -n "$ckey" ] && echo bidirectional || echo unidirectional): authenticated, read"
			nvme disconnect -n "$nqn" >/dev/null
		done

		hkey=$(key 1) ckey=$(key 2)
		target_keys "$hkey" "$ckey" "hmac(sha256)" ffdhe2048
		refused "qid 0: authentication failed" "$(key 1)" "$ckey"
		refused "qid 0: controller authentication failed" "$hkey" "$(key 2)"

		echo "  re-authentication under fio"
		connect "$hkey" "$ckey"
		fio_bg "$dev" 4m
		hkey=$(key 3)
		target_keys "$hkey" "$ckey"
		new_mark
		echo -n "$hkey" >"/sys/class/nvme/$ctrl/dhchap_secret"
		reauth_done 60
		echo "  new host key: re-authenticated"
		ckey=$(key 0)
		target_keys "$hkey" "$ckey"
		new_mark
		echo -n "$ckey" >"/sys/class/nvme/$ctrl/dhchap_ctrl_secret"
		reauth_done 60
		echo "  new controller key: re-authenticated"
		fio_wait 120
		fio_pid=
		[ "$(cat "/sys/class/nvme/$ctrl/state")" = live ]
		nvme disconnect -n "$nqn" >/dev/null

		for hg in "hmac(sha256) ffdhe2048" "hmac(sha384) ffdhe3072"; do
			read -r hash group <<<"$hg"
			hkey=$(key 0)
			target_keys "$hkey" "" "$hash" "$group"
			new_mark
			nvme connect -t tcp -a 127.0.0.1 -s 4421 -n "$nqn" --hostnqn="$hostnqn" \
				--dhchap-secret="$hkey" --concat >/dev/null
			dev=$(nvme_dev_for "$nqn")
			ctrl=$(ctrl_of "$dev")
			log_has "$ctrl" "qid 0: authenticated with hash $hash dhgroup $group"
			psk1=$(tls_key_of "$ctrl")
			[ -n "$psk1" ] && grep -q "^$psk1 .* psk .*NVMe" /proc/keys
			nvme reset "/dev/$ctrl"
			wait_state "$ctrl" live 30
			psk2=$(tls_key_of "$ctrl")
			echo "  concat $hash $group: PSK $psk1, after the reset $psk2"
			grep -o 'Session description: .*' /tmp/tlshd.log | tail -n 1 | sed 's/^/  tlshd: /' || true
			[ -n "$psk2" ] && [ "$psk2" != "$psk1" ]
			FIO_SIZE=1m fio_verify "$dev" 32
			nvme disconnect -n "$nqn" >/dev/null
		done
		scripts/guest/impl unload host
	done
	tlshd_stop
	nvmet_clear
	scripts/guest/impl unload target
done
