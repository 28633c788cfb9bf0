#!/bin/bash
# test_ctl_endhost: the question that brought an operator here, on an end
# host: "which remote endpoints hold my CLOSE_WAIT sockets?", answered in
# one command, `top --local-state CLOSE_WAIT --by remote`.
#
# The client namespace is the end host (daemon and NFQUEUE rules on its own
# INPUT and OUTPUT).  It makes 300 connections to a server (10.0.2.2:8081)
# that answers and closes each at once, and never closes its side: 300
# CLOSE-WAIT sockets on the host (ss), FIN-WAIT-2 on the server.  It also
# holds 20 connections to a second server address (10.0.2.3:9091) open.
# Checked: count --local-state CLOSE_WAIT is what ss counts on the host;
# top --by remote names 10.0.2.2 with 300, its states CLOSE_WAIT (the host)
# and FIN_WAIT_2 (the peer); top --by local groups the host's connections
# by its address; summary counts the host's own ends; kill --local-state
# CLOSE_WAIT --all resets exactly the 300 (ss on both ends), leaving the 20.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root
lab_require_daemon
N=300
S4B=10.0.2.3
CTL_EP="$LAB_DIR/ctl_ep.py"

lab_up
lab_exec s ip addr add "$S4B/24" dev s0 || lab_fail "cannot add $S4B to the server"
lab_daemon_config "$LAB_TMP/handshaked.yaml"
lab_start_daemon "$LAB_TMP/handshaked.yaml" c
for chain in OUTPUT INPUT; do
	lab_ipt46 c -A "$chain" -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass ||
		lab_fail "cannot add the NFQUEUE rule to the host's $chain"
done

ss_count() { # ss_count NS STATE FILTER...
	local ns=$1 state=$2
	shift 2
	lab_exec "$ns" ss -tanH state "$state" "$@" 2>/dev/null | wc -l
}
ss_is() { local want=$1; shift; [ "$(ss_count "$@")" = "$want" ]; }
count() { pol_ctl count --json "$@" | "$LAB_PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["count"])'; }

pol_ep s closer server 8081 --backlog 1024 --hold 120
lab_ep_wait_line closer '^LISTENING ' 10
lab_bg s "$LAB_TMP/holder.out" "$LAB_PY" -u "$CTL_EP" server "$S4B" 9091
lab_wait_until 10 "the second server to listen" lab_ep_line holder '^LISTENING ' || lab_fail "no second server"
pol_ep c leaker multi "$LAB_S4" 8081 --count "$N" --timeout 20 --hold 120
lab_ep_wait_line leaker '^SUMMARY ' 30
lab_ep_line leaker "^SUMMARY ok $N of $N" || lab_fail "not every connection opened: $(grep SUMMARY "$LAB_TMP/leaker.out")"
lab_bg c "$LAB_TMP/held.out" "$LAB_PY" -u "$CTL_EP" clients "$S4B" 9091 --count 20
lab_wait_until 20 "20 held connections" lab_ep_line held '^READY' || lab_fail "the held connections did not open"

lab_wait_until 15 "$N CLOSE-WAIT sockets on the host" ss_is "$N" c close-wait '( dport = :8081 )' ||
	lab_fail "the host has $(ss_count c close-wait '( dport = :8081 )') CLOSE-WAIT sockets"
lab_wait_until 10 "the daemon to count $N local CLOSE_WAIT" eval '[ "$(count --local-state CLOSE_WAIT)" = '"$N"' ]' ||
	lab_fail "the daemon counts $(count --local-state CLOSE_WAIT) flows with the host's end in CLOSE_WAIT"
SS_CW=$(ss_count c close-wait)
lab_assert_eq "$(count --local-state CLOSE_WAIT)" "$SS_CW" "count --local-state CLOSE_WAIT against ss on the host"
lab_assert_eq "$(count --remote-state FIN_WAIT_2)" "$N" "count --remote-state FIN_WAIT_2"
lab_assert_eq "$(count --local-state ESTABLISHED --dst "$S4B")" 20 "count --local-state ESTABLISHED --dst $S4B"

TOP=$(pol_ctl top --local-state CLOSE_WAIT --by remote)
lab_log "top --local-state CLOSE_WAIT --by remote:"$'\n'"$TOP"
grep -Eq "^ *$N +10\.0\.2\.2 +CLOSE_WAIT $N +FIN_WAIT_2 $N\$" <<<"$TOP" || lab_fail "top does not name 10.0.2.2 with $N: $TOP"
[ "$(wc -l <<<"$TOP")" = 2 ] || lab_fail "top --local-state CLOSE_WAIT --by remote shows more than one group: $TOP"
REMOTE=$(pol_ctl top --by remote --json | "$LAB_PY" -c '
import json, sys
print(" ".join("%s=%d" % (g["key"]["addr"], g["flows"]) for g in map(json.loads, sys.stdin)))')
lab_assert_eq "$REMOTE" "10.0.2.2=$N 10.0.2.3=20" "top --by remote"
LOCAL=$(pol_ctl top --by local --json | "$LAB_PY" -c '
import json, sys
print(" ".join("%s=%d" % (g["key"]["addr"], g["flows"]) for g in map(json.loads, sys.stdin)))')
lab_assert_eq "$LOCAL" "$LAB_C4=$((N + 20))" "top --by local (the host connects: its address)"
SUMMARY=$(pol_ctl summary)
lab_log "summary:"$'\n'"$SUMMARY"
pol_ctl summary --json | "$LAB_PY" -c '
import json, sys
s = json.loads(sys.stdin.readline())
n = int(sys.argv[1])
assert s["local_flows"] == n + 20, s
assert s["local"]["CLOSE_WAIT"] == n and s["remote"]["FIN_WAIT_2"] == n, s
assert s["local"]["ESTABLISHED"] == 20 and s["remote"]["ESTABLISHED"] == 20, s
' "$N" || lab_fail "summary --json: $(pol_ctl summary --json)"

# On an end host with no rule letting its own RSTs pass, most of 600 RSTs wait in the
# raw socket's buffer for their own verdicts: they are sent or waiting, none lost.
KILL=$(pol_ctl kill --local-state CLOSE_WAIT --all --json) || lab_fail "kill --local-state CLOSE_WAIT --all failed: $KILL"
lab_log "kill --local-state CLOSE_WAIT --all: $KILL"
"$LAB_PY" -c '
import json, sys
k, n = json.loads(sys.argv[1]), int(sys.argv[2])
assert k["killed"] == n and k["resets_sent"] + k["resets_waiting"] == 2 * n, k' "$KILL" "$N" ||
	lab_fail "kill said: $KILL"
lab_wait_until 15 "no CLOSE-WAIT socket left on the host" ss_is 0 c close-wait ||
	lab_fail "$(ss_count c close-wait) CLOSE-WAIT sockets left on the host"
lab_wait_until 10 "no FIN-WAIT-2 socket left on the server" ss_is 0 s fin-wait-2 ||
	lab_fail "$(ss_count s fin-wait-2) FIN-WAIT-2 sockets left on the server"
lab_assert_eq "$(ss_count c established '( dport = :9091 )')" 20 "the host's other connections (ss)"
lab_wait_until 10 "no local CLOSE_WAIT flow left" eval '[ "$(count --local-state CLOSE_WAIT)" = 0 ]' ||
	lab_fail "$(count --local-state CLOSE_WAIT) local CLOSE_WAIT flows still listed"

echo "== top --local-state CLOSE_WAIT --by remote (ss on the host: $SS_CW CLOSE-WAIT) =="
echo "$TOP"
echo "== summary =="
echo "$SUMMARY"
lab_pass "top --local-state CLOSE_WAIT --by remote named 10.0.2.2 with $N (ss: $SS_CW); kill reset exactly those"
