# shellcheck shell=bash
#
# endhost_lib.sh: the end-host tier's lab, sourced by tests/netns/test_endhost_*.sh
# after lib.sh (and policy_lib.sh).
#
# lib.sh's client namespace is the end host: handshaked runs there, on its
# PREROUTING (mangle, packets to a local address) and OUTPUT chains, with the
# rules build/handshaked-rules installs from a configuration whose rules:
# lists them, as the README recommends (the mark rules, and loopback left
# out).  EH_RULES may choose INPUT instead.  lib.sh's server namespace, through the router
# (which queues nothing), is the remote, with endhost_ep.py's servers:
#
#   EH_PORT_A  closes first: the host's socket goes CLOSE_WAIT, then (once
#              the host's program closes) LAST_ACK and gone; a leaked one
#              stays CLOSE_WAIT, facing a remote FIN_WAIT_2;
#   EH_PORT_B  waits for the host to close first: the host's socket ends in
#              TIME_WAIT;
#   EH_PORT_C  keeps a connection open and idle (the control connection).
#
# The workload (eh_workload) is EH_COUNT connections, EH_CONCURRENCY at a
# time, alternating IPv4 and IPv6, EH_LEAK of them leaked in CLOSE_WAIT.

EH_EP="$LAB_DIR/endhost_ep.py"
HANDSHAKED_RULES=${HANDSHAKED_RULES:-$LAB_ROOT/build/handshaked-rules}
EH_PORT_A=7001
EH_PORT_B=7002
EH_PORT_C=7003
EH_PORTS="$EH_PORT_A,$EH_PORT_B,$EH_PORT_C"
EH_COUNT=${EH_COUNT:-2000}
EH_CONCURRENCY=${EH_CONCURRENCY:-200}
EH_LEAK=${EH_LEAK:-300}
EH_CONFIG=""
EH_RULES=${EH_RULES:-"rules: {chains: [PREROUTING, OUTPUT]}"}

# eh_up [EXTRA_YAML]: the lab, the configuration ($EH_RULES: PREROUTING and OUTPUT,
# plus EXTRA_YAML), the rules from handshaked-rules in the host, the daemon there,
# and the remote's servers.
eh_up() {
	[ "$(id -u)" = 0 ] || lab_skip "needs root (network namespaces, iptables)"
	lab_require_daemon
	[ -x "$HANDSHAKED_RULES" ] || lab_skip "$HANDSHAKED_RULES not built yet (make)"
	lab_up
	EH_CONFIG="$LAB_TMP/handshaked.yaml"
	lab_daemon_config "$EH_CONFIG" "$EH_RULES
${1:-}"
	lab_exec c "$HANDSHAKED_RULES" -c "$EH_CONFIG" add >"$LAB_TMP/rules.out" 2>&1 ||
		lab_fail "handshaked-rules add failed in the host: $(cat "$LAB_TMP/rules.out")"
	lab_exec c "$HANDSHAKED_RULES" -c "$EH_CONFIG" show >>"$LAB_TMP/rules.out" 2>&1 ||
		lab_fail "handshaked-rules show disagrees right after add: $(cat "$LAB_TMP/rules.out")"
	lab_start_daemon "$EH_CONFIG" c
	lab_bg s "$LAB_TMP/servers.out" "$LAB_PY" -u "$EH_EP" servers --close-first "$EH_PORT_A" \
		--peer-closes "$EH_PORT_B" --hold-open "$EH_PORT_C" --hold 600
	LAB_EP_PID[servers]=$LAB_LAST_PID
	lab_ep_wait_line servers '^LISTENING ' 10
	lab_log "end host $LAB_NS_C: handshaked with $EH_RULES, $(grep -c '^added: ' "$LAB_TMP/rules.out") rules from handshaked-rules; remote $LAB_NS_S ports $EH_PORTS"
}

# eh_ctl ARGS...: handshakectl for the host's daemon.
eh_ctl() { lab_exec c timeout 10 "$HANDSHAKECTL" -s "$LAB_SOCK" "$@"; }

# eh_stat PATH: a number from `stats --json` (resets.sent, packets.invalid, ...).
eh_stat() { eh_ctl stats --json 2>/dev/null | "$LAB_PY" "$EH_EP" stat "$1" 2>/dev/null || echo error; }

# eh_workload NAME [ARGS...]: runs the client workload in the host (output in
# $LAB_TMP/NAME.out), waits (60 s at most) until it reports, and checks that
# every connection worked.  The leaked and control sockets stay open until the
# lab goes down.
eh_workload() {
	local name=$1
	shift
	lab_bg c "$LAB_TMP/$name.out" "$LAB_PY" -u "$EH_EP" clients --v4 "$LAB_S4" --v6 "$LAB_S6" \
		--close-first "$EH_PORT_A" --peer-closes "$EH_PORT_B" --count "$EH_COUNT" \
		--concurrency "$EH_CONCURRENCY" --leak "$EH_LEAK" --hold 600 "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
	lab_ep_wait_line "$name" '^READY' 60
	lab_ep_line "$name" "^SUMMARY ok $EH_COUNT failed 0 leaked $EH_LEAK " ||
		lab_fail "workload $name: $(grep -E '^(SUMMARY|FAILED)' "$LAB_TMP/$name.out" | tr '\n' ' ')"
	lab_log "workload $name: $(grep '^SUMMARY' "$LAB_TMP/$name.out")"
}

# eh_leaked NAME: the leaked sockets of workload NAME, "FAMILY PORT" per line, sorted.
eh_leaked() { awk '$1 == "LEAKED" { print $2, $3 }' "$LAB_TMP/$1.out" | sort; }

# eh_flow_tally / eh_ss_tally: "STATE COUNT" lines for the lab's ports: the
# flows by the state of their local endpoint, and the host's sockets (ss).
eh_flow_tally() { eh_ctl list --json 2>/dev/null | "$LAB_PY" "$EH_EP" tally-flows --ports "$EH_PORTS"; }
eh_ss_tally() { lab_exec c ss -tanH 2>/dev/null | "$LAB_PY" "$EH_EP" tally-ss --ports "$EH_PORTS"; }

# eh__states_agree: whether every state ss shows has as many flows whose
# local endpoint is in it, and no flow has its local endpoint in a state ss
# does not show (CLOSED aside: a socket that is gone is not listed by ss,
# while its flow waits out the closed timeout).  Leaves both tallies in
# EH_FLOWS and EH_SS.
eh__states_agree() {
	EH_FLOWS=$(eh_flow_tally | grep -v '^CLOSED ')
	EH_SS=$(eh_ss_tally)
	[ -n "$EH_SS" ] && [ "$EH_FLOWS" = "$EH_SS" ]
}

# eh_expect_states_agree [TIMEOUT]: polls (10 s by default) until they agree;
# fails the test with both tallies otherwise.
eh_expect_states_agree() {
	EH_FLOWS=""; EH_SS=""
	lab_wait_until "${1:-10}" "the local endpoints' states to match ss" eh__states_agree ||
		lab_fail "per state, flows by local endpoint and the host's sockets differ:
  handshakectl: $(echo "$EH_FLOWS" | tr '\n' ' ')
  ss:           $(echo "$EH_SS" | tr '\n' ' ')"
	lab_log "states agree: $(echo "$EH_SS" | tr '\n' ' ')"
}

# eh_local_ports STATE: the flows whose local endpoint is in STATE, as
# `list --local-state STATE` gives them: "FAMILY LOCALPORT" per line, sorted.
eh_local_ports() {
	eh_ctl list --local-state "$1" --json 2>/dev/null | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        f = json.loads(line)
        side = f["local"]
        if side not in ("client", "server"):
            sys.exit("flow %d has local %r" % (f["id"], side))
        print(f["family"][-1], f[side]["port"])
' | sort
}

# eh_ss_ports NS SSSTATE PEERPORT: the sockets of NS in that state (ss syntax,
# close-wait) facing PEERPORT: "FAMILY LOCALPORT" per line, sorted.
eh_ss_ports() {
	lab_exec "$1" ss -tanH state "$2" "( dport = :$3 )" 2>/dev/null | awk '{
		n = split($3, a, ":"); port = a[n]
		fam = ($3 ~ /^\[/ || $3 ~ /::/) ? 6 : 4
		print fam, port
	}' | sort
}

# eh_ss_count NS SSSTATE PORT: sockets in that state with PORT at either end.
eh_ss_count() {
	lab_exec "$1" ss -tanH state "$2" "( sport = :$3 or dport = :$3 )" 2>/dev/null | wc -l
}
