#!/bin/bash
# test_rst_endhost_reaper: on an end host, a reaper resets 300 leaked
# CLOSE_WAIT sockets at once, and every one of its 600 RSTs lands.
#
# The client namespace is the end host: handshaked runs there, with
# catch-all NFQUEUE rules on its own INPUT and OUTPUT chains, as a user
# writes them by hand.  So the daemon's own RSTs pass OUTPUT into its own
# queue (and those to a local socket come back through lo into INPUT), and
# each stays charged to the raw socket's send buffer until the daemon gives
# it a verdict: a burst of 600 overflows that buffer.  The daemon must
# retry what the kernel refuses while it keeps giving verdicts, recognise
# its own RSTs by their mark (accepted untracked, never invalid), and only
# then forget the flows.
#
# Round 1 runs without a rule that lets marked packets bypass the queue,
# round 2 with one in OUTPUT and INPUT (what handshaked-rules installs).
# Each round: a server in the server namespace that accepts, writes and
# closes, and 300 connections from the host that it never closes (300
# CLOSE-WAIT sockets here, 300 FIN-WAIT-2 there).  The policy
# {state: CLOSE_WAIT, idle: 2s} reset must free every one of them (ss on
# both ends), with 600 RSTs sent, 0 failed, 0 skipped, 300 policy actions,
# no invalid packet and no flow left listed.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root
lab_require_daemon
N=300
MARK=0x4853
NAME=reaper

lab_up
lab_daemon_config "$LAB_TMP/handshaked.yaml" "policies:
  - name: $NAME
    match: {state: CLOSE_WAIT, idle: 2s}
    action: reset"
lab_start_daemon "$LAB_TMP/handshaked.yaml" c
for chain in OUTPUT INPUT; do
	lab_ipt46 c -A "$chain" -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass ||
		lab_fail "cannot add the NFQUEUE rule to the host's $chain"
done

# stat PATH: a number from `stats --json` (PATH like resets.sent); "error" if none.
stat() {
	pol_ctl stats --json 2>/dev/null | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        v = json.loads(line)
        for k in sys.argv[1].split("."):
            v = v[k]
        print(v)
        sys.exit(0)
print("error")
' "$1" 2>/dev/null || echo error
}

# flows_in STATE PORT: flows whose client or server is in STATE, to server port PORT.
flows_in() {
	lab_flows 2>/dev/null | "$LAB_PY" -c '
import json, sys
state, port, n = sys.argv[1], int(sys.argv[2]), 0
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        f = json.loads(line)
        if f["server"]["port"] == port and state in (f["client"]["state"], f["server"]["state"], "any"):
            n += 1
print(n)
' "$1" "$2"
}

ss_count() { # ss_count NS STATE PORT: sockets in STATE with PORT at either end
	lab_exec "$1" ss -tanH state "$2" "( sport = :$3 or dport = :$3 )" 2>/dev/null | wc -l
}
ss_is() { [ "$(ss_count "$1" "$2" "$3")" = "$4" ]; }
flows_are() { [ "$(flows_in "$1" "$2")" = "$3" ]; }

# round NAME PORT: the whole exercise on one server port; prints what it measured.
round() {
	local label=$1 port=$2
	local sent0 failed0 skipped0 retried0 own0 invalid0 acted0
	sent0=$(stat resets.sent) failed0=$(stat resets.failed) skipped0=$(stat resets.skipped)
	retried0=$(stat resets.retried) own0=$(stat packets.own) invalid0=$(stat packets.invalid)
	acted0=$(pol_counter "$NAME" acted)

	pol_ep s "srv$port" server "$port" --backlog 1024 --hold 120
	lab_ep_wait_line "srv$port" '^LISTENING ' 10
	pol_ep c "cl$port" multi "$LAB_S4" "$port" --count "$N" --timeout 20 --hold 120
	lab_ep_wait_line "cl$port" '^SUMMARY ' 30
	lab_ep_line "cl$port" "^SUMMARY ok $N of $N" ||
		lab_fail "$label: not every connection opened: $(grep SUMMARY "$LAB_TMP/cl$port.out")"
	lab_wait_until 15 "$N CLOSE-WAIT sockets on the host" ss_is c close-wait "$port" "$N" ||
		lab_fail "$label: the host has $(ss_count c close-wait "$port") CLOSE-WAIT sockets, expected $N"
	lab_wait_until 5 "the daemon to list $N flows in CLOSE_WAIT" flows_are CLOSE_WAIT "$port" "$N" ||
		lab_fail "$label: the daemon lists $(flows_in CLOSE_WAIT "$port") flows in CLOSE_WAIT, expected $N"
	local t0
	t0=$(pol_ms)
	lab_log "$label: $N CLOSE-WAIT sockets on the host (ss) and $N flows in CLOSE_WAIT (handshakectl)"

	# Idle 2 s, then the reaper: every socket on both ends must be gone.
	lab_wait_until 15 "every CLOSE-WAIT socket on the host to be reset" ss_is c close-wait "$port" 0 ||
		lab_fail "$label: $(ss_count c close-wait "$port") of $N CLOSE-WAIT sockets still on the host;
  stats: $(pol_ctl stats | grep -E '^(resets|packets|policy)')"
	lab_wait_until 5 "every FIN-WAIT-2 socket on the server to be reset" ss_is s fin-wait-2 "$port" 0 ||
		lab_fail "$label: $(ss_count s fin-wait-2 "$port") of $N FIN-WAIT-2 sockets still on the server"
	local t1
	t1=$(pol_ms)
	lab_wait_until 5 "no flow of port $port left" flows_are any "$port" 0 ||
		lab_fail "$label: $(flows_in any "$port") flows of port $port still listed"
	lab_wait_until 5 "no RST left waiting" eval '[ "$(stat resets.waiting)" = 0 ]' ||
		lab_fail "$label: $(stat resets.waiting) RSTs still waiting"

	local sent failed skipped retried own invalid acted
	sent=$(($(stat resets.sent) - sent0))
	failed=$(($(stat resets.failed) - failed0))
	skipped=$(($(stat resets.skipped) - skipped0))
	retried=$(($(stat resets.retried) - retried0))
	own=$(($(stat packets.own) - own0))
	invalid=$(($(stat packets.invalid) - invalid0))
	acted=$(($(pol_counter "$NAME" acted) - acted0))
	lab_log "$label: all sockets freed $((t1 - t0)) ms after the check; RSTs sent $sent, retried $retried," \
		"failed $failed, skipped $skipped; own packets seen $own; invalid $invalid; policy acted $acted"
	lab_assert_eq "$acted" "$N" "$label: policy actions"
	lab_assert_eq "$sent" $((2 * N)) "$label: RSTs sent"
	lab_assert_eq "$failed" 0 "$label: RSTs failed"
	lab_assert_eq "$skipped" 0 "$label: RSTs skipped"
	lab_assert_eq "$invalid" 0 "$label: packets counted invalid"
	ROUND_OWN=$own
	ROUND_RETRIED=$retried
}

round "without a mark rule" 8081
# Every own RST passed OUTPUT, and those to the host's own sockets INPUT too.
[ "$ROUND_OWN" -ge $((2 * N)) ] ||
	lab_fail "without a mark rule the daemon recognised only $ROUND_OWN of its own packets (at least $((2 * N)) passed its queue)"

for chain in OUTPUT INPUT; do
	lab_ipt46 c -I "$chain" -m mark --mark "$MARK" -j ACCEPT ||
		lab_fail "cannot add the mark rule to the host's $chain"
done
round "with a mark rule" 8082
lab_assert_eq "$ROUND_OWN" 0 "with a mark rule: own packets that still reached the queue"
lab_assert_eq "$ROUND_RETRIED" 0 "with a mark rule: RSTs the kernel refused at first"

lab_log "log lines about RSTs: $(grep -c 'RST' "$LAB_TMP/handshaked.log")"
lab_pass "600 of 600 RSTs sent with and without a mark rule; every leaked socket freed"
