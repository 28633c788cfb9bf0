#!/bin/bash
# test_endhost_addrs: the daemon follows the host's addresses, and only an
# end host has local endpoints.
#   - an address added to the host while the daemon runs (IPv4 and IPv6) is
#     known within 2 s (metrics handshaked_local_addresses), and
#     connections made from it are marked "local":"client";
#   - removed again, the count goes back; the flows made from it keep their
#     mark (a socket keeps its address for its life);
#   - a daemon on the router (FORWARD) sees the same connections with
#     "local":null: --local-state and --remote-state match nothing there,
#     while --state finds them;
#   - a daemon in a namespace without any address (lo down) warns that its
#     local_state policy can match nothing, counts 0 addresses, and picks up
#     127.0.0.1/8 and ::1 as soon as lo comes up.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"
. "$(dirname "$0")/endhost_lib.sh"

NEW4=10.0.1.50 NEW6=fd00:1::50
eh_up

metric() { # metric CTLSOCKET NS NAME: one sample of `handshakectl metrics`
	lab_exec "$2" timeout 10 "$HANDSHAKECTL" -s "$1" metrics 2>/dev/null | awk -v n="$3" '$1 == n { print $2 }'
}
addrs_are() { [ "$(metric "$1" "$2" handshaked_local_addresses)" = "$3" ]; }

# ---- an address comes and goes ----
before=$(metric "$LAB_SOCK" c handshaked_local_addresses)
[ -n "$before" ] && [ "$before" -ge 3 ] || lab_fail "the host's daemon knows $before addresses (lo, c0 v4 and v6 at least)"
ip -n "$LAB_NS_C" addr add "$NEW4/24" dev c0
ip -n "$LAB_NS_C" addr add "$NEW6/64" dev c0 nodad
lab_wait_until 2 "the daemon to learn 2 new addresses" addrs_are "$LAB_SOCK" c $((before + 2)) ||
	lab_fail "the daemon knows $(metric "$LAB_SOCK" c handshaked_local_addresses) addresses, expected $((before + 2))"
for src in "$NEW4" "$NEW6"; do
	dst=$LAB_S4
	[ "$src" = "$NEW6" ] && dst=$LAB_S6
	lab_bg c "$LAB_TMP/from-$src.out" "$LAB_PY" -u -c '
import socket, sys, time
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
s.settimeout(5)
s.bind((src, 0))
s.connect((dst, port))
print("CONNECTED", s.getsockname()[1], flush=True)
time.sleep(120)
' "$src" "$dst" "$EH_PORT_C"
	LAB_EP_PID[from-$src]=$LAB_LAST_PID
	lab_ep_wait_line "from-$src" '^CONNECTED ' 10
done
from_new() { # the "local" of each flow from the new addresses, sorted
	eh_ctl list --json 2>/dev/null | "$LAB_PY" -c '
import json, sys
for l in sys.stdin:
    if l.startswith("{"):
        f = json.loads(l)
        if f["client"]["addr"] in sys.argv[1:]:
            print(f["client"]["addr"], f["local"])
' "$NEW4" "$NEW6" | sort
}
want="$NEW4 client
$NEW6 client"
lab_wait_until 3 "flows from the new addresses, local client" eval '[ "$(from_new)" = "$want" ]' ||
	lab_fail "flows from the new addresses: $(from_new | tr '\n' ' '), expected: $(tr '\n' ' ' <<<"$want")"
lab_log "addresses added: $before -> $((before + 2)) known; connections from them are local (client)"

ip -n "$LAB_NS_C" addr del "$NEW4/24" dev c0
ip -n "$LAB_NS_C" addr del "$NEW6/64" dev c0
lab_wait_until 2 "the daemon to forget them" addrs_are "$LAB_SOCK" c "$before" ||
	lab_fail "the daemon knows $(metric "$LAB_SOCK" c handshaked_local_addresses) addresses, expected $before"
lab_assert_eq "$(from_new)" "$want" "flows made from the removed addresses keep their mark"
changes=$(metric "$LAB_SOCK" c handshaked_local_address_changes_total)
[ "$changes" -ge 4 ] || lab_fail "the daemon counted $changes address changes, expected at least 4"
lab_log "addresses removed: back to $before; $changes changes counted"

# ---- a router sees the same connections, and none of their ends is its own ----
R_SOCK=$LAB_TMP/router.sock
lab_daemon_config "$LAB_TMP/router.yaml"
sed -i "s|socket: .*|socket: $R_SOCK|; s|events: .*|events: off|" "$LAB_TMP/router.yaml"
lab_bg r "$LAB_TMP/router.log" "$HANDSHAKED" -c "$LAB_TMP/router.yaml"
rctl() { lab_exec r timeout 10 "$HANDSHAKECTL" -s "$R_SOCK" "$@"; }
lab_wait_until 10 "the router's daemon to answer" rctl ping || lab_fail "the router's daemon did not start: $(cat "$LAB_TMP/router.log")"
lab_queue_rule_add
EH_COUNT=20 EH_LEAK=4 eh_workload small --control "$EH_PORT_C"
either=$(rctl list --state ESTABLISHED --json | grep -c '^{')
[ "$either" -ge 2 ] || lab_fail "the router lists $either ESTABLISHED flows, expected the 2 control connections at least"
lab_assert_eq "$(rctl list --local-state ESTABLISHED --json | grep -c '^{')" 0 "router: --local-state ESTABLISHED"
lab_assert_eq "$(rctl list --remote-state ESTABLISHED --json | grep -c '^{')" 0 "router: --remote-state ESTABLISHED"
lab_assert_eq "$(rctl list --local-state CLOSE_WAIT --json | grep -c '^{')" 0 "router: --local-state CLOSE_WAIT"
lab_assert_eq "$(rctl list --json | grep '^{' | grep -vc '"local":null')" 0 "router: flows with a local endpoint"
lab_assert_eq "$(eh_ctl list --local-state CLOSE_WAIT --json | grep -c '^{')" 4 "host: --local-state CLOSE_WAIT"
lab_log "router: $either ESTABLISHED flows, none with a local endpoint; the host sees its 4 CLOSE_WAIT"

# ---- no address at all: a warning, then lo comes up ----
NS_BARE="${LAB_PREFIX}-${LAB_COUNTER}-bare"
lab__netns_add "$NS_BARE"
B_SOCK=$LAB_TMP/bare.sock
cat >"$LAB_TMP/bare.yaml" <<EOF
queue: {num: $LAB_QNUM}
control: {socket: $B_SOCK}
log: {level: info, events: off}
policies:
  - name: mine
    match: {local_state: CLOSE_WAIT, idle: 10m}
    action: reset
EOF
lab_bg "$NS_BARE" "$LAB_TMP/bare.log" "$HANDSHAKED" -c "$LAB_TMP/bare.yaml"
bctl() { lab_exec "$NS_BARE" timeout 10 "$HANDSHAKECTL" -s "$B_SOCK" "$@"; }
lab_wait_until 10 "the bare namespace's daemon to answer" bctl ping || lab_fail "no daemon: $(cat "$LAB_TMP/bare.log")"
grep -q 'policy "mine" (line 5) matches on local_state or remote_state, but no local address could be read' "$LAB_TMP/bare.log" ||
	lab_fail "no warning about the local_state policy without addresses: $(cat "$LAB_TMP/bare.log")"
lab_assert_eq "$(metric "$B_SOCK" "$NS_BARE" handshaked_local_addresses)" 0 "addresses with lo down"
ip -n "$NS_BARE" link set lo up
lab_wait_until 2 "127.0.0.1/8 and ::1 to be learnt" addrs_are "$B_SOCK" "$NS_BARE" 2 ||
	lab_fail "with lo up the daemon knows $(metric "$B_SOCK" "$NS_BARE" handshaked_local_addresses) addresses, expected 2"
lab_log "bare namespace: warned about policy \"mine\", 0 addresses, then 2 with lo up"
lab_pass "addresses followed as they come and go; a router has no local endpoint; no address, a warning"
