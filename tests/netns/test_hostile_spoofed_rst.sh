#!/bin/bash
# test_hostile_spoofed_rst: an attacker in the client's network (a third
# address, 10.0.1.3, added to c0) forges, in the CLIENT's name (its address
# and port), a RST and a FIN+ACK whose sequence numbers are 2^30 past the
# client's next sequence number (scapy, raw IP; the client's real next
# sequence number is read off the wire first).  Twice, each in a fresh lab:
#   (a) default (table.strict false): the daemon accepts and counts them:
#       invalid.rst_out_of_window and invalid.seq_above_window rise, the flow
#       stays ESTABLISHED/ESTABLISHED in list --json, packets.dropped does not
#       move;
#   (b) table.strict true: the same packets are dropped (packets.dropped
#       rises by both, the counters rise as in (a); a counting rule in the
#       server's INPUT sees neither, where in (a) it sees both), and the
#       server's socket stays ESTABLISHED in ss, as does the tracked state.
# In both, the connection still exchanges data afterwards.  An exact-
# sequence spoofed RST is deliberately not sent: it would be a valid RST.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon

PORT=8080
ATTACKER=10.0.1.3

# phase NAME EXTRA_YAML: one lab; sets D_RST D_SEQ D_DROP D_SEEN.
phase() {
	local name=$1 yaml=$2
	lab_track_up "$yaml"
	ip -n "$LAB_NS_C" addr add "$ATTACKER/24" dev c0 || lab_fail "cannot add $ATTACKER to c0"
	lab_server echo "$PORT" --no-close --hold 90
	# One connection, exchanging 200 bytes every 0.3 s.
	hl_ep c conn conns "$LAB_S4" "$PORT" --count 1 --interval 0.3 --duration 60 --hold 30 --io-timeout 10
	lab_wait_until 10 "the connection" eval '[ -n "$(hl_conns_ports conn)" ]' ||
		lab_fail "the connection did not open: $(cat "$LAB_TMP/conn.out")"
	hl_wait_rounds conn 3 10
	CPORT=$(hl_conns_ports conn)
	lab_expect_tracked ipv4 "$CPORT" "$PORT" ESTABLISHED ESTABLISHED
	# Counting rules in the server: RSTs and FINs that arrive in the client's name.
	lab_ipt s -A INPUT -p tcp -s "$LAB_C4" --sport "$CPORT" --tcp-flags RST RST || lab_fail "server rule"
	lab_ipt s -A INPUT -p tcp -s "$LAB_C4" --sport "$CPORT" --tcp-flags FIN FIN || lab_fail "server rule"

	local s0 s1
	s0=$(hl_stats) || lab_fail "stats did not answer"
	# The forger: reads the client's next sequence number off c0, then sends.
	local out
	out=$(hl_ep_run c spoof --src "$LAB_C4" --sport "$CPORT" --dst "$LAB_S4" --dport "$PORT" \
		--iface c0 --offset $((1 << 30)) 2>&1) || lab_fail "the forger failed: $out"
	lab_log "phase $name: forger: $(tr '\n' ' ' <<<"$out")"
	grep -q '^SENT rst' <<<"$out" || lab_fail "the forger sent nothing: $out"

	# Both forged packets reach the daemon (the queue drains at once).
	lab_wait_until 5 "the daemon to count the forged RST and FIN" eval '
		read -r a b <<<"$(hl_stat invalid.rst_out_of_window invalid.seq_above_window)"
		[ "$a" -ge $(( $(hl_get "$s0" invalid.rst_out_of_window) + 1 )) ] &&
		[ "$b" -ge $(( $(hl_get "$s0" invalid.seq_above_window) + 1 )) ]' ||
		lab_fail "phase $name: the daemon did not count the forged packets as invalid (before: $(hl_get "$s0" invalid.rst_out_of_window invalid.seq_above_window), now: $(hl_stat invalid.rst_out_of_window invalid.seq_above_window))"
	sleep 0.5
	s1=$(hl_stats) || lab_fail "stats did not answer"
	D_RST=$(( $(hl_get "$s1" invalid.rst_out_of_window) - $(hl_get "$s0" invalid.rst_out_of_window) ))
	D_SEQ=$(( $(hl_get "$s1" invalid.seq_above_window) - $(hl_get "$s0" invalid.seq_above_window) ))
	D_DROP=$(( $(hl_get "$s1" packets.dropped) - $(hl_get "$s0" packets.dropped) ))
	D_INV=$(( $(hl_get "$s1" packets.invalid) - $(hl_get "$s0" packets.invalid) ))
	D_SEEN=$(( $(hl_get "$s1" packets.seen) - $(hl_get "$s0" packets.seen) ))
	SRV_RST=$(hl_rule_pkts s 4 INPUT filter "flags:0x04/0x04")
	SRV_FIN=$(hl_rule_pkts s 4 INPUT filter "flags:0x01/0x01")

	# Nothing changed: the tracked states, the endpoints' own sockets.
	local st
	st=$(hl_flow_states "$CPORT" "$PORT")
	lab_assert_eq "$st" "ESTABLISHED ESTABLISHED" "phase $name: tracked states after the forged RST and FIN"
	lab_expect_ss s "$PORT" "$CPORT" ESTABLISHED 2
	lab_expect_ss c "$CPORT" "$PORT" ESTABLISHED 2
	hl_wait_rounds conn 5 10
	lab_expect_tracked ipv4 "$CPORT" "$PORT" ESTABLISHED ESTABLISHED
	local hist
	hist=$(lab_flow_show "$PORT" "$CPORT" | "$LAB_PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["history"])')
	echo "== phase $name =="
	echo "invalid.rst_out_of_window +$D_RST, invalid.seq_above_window +$D_SEQ, packets.invalid +$D_INV, packets.dropped +$D_DROP, packets.seen +$D_SEEN"
	echo "flow history $hist; tracked $st; server ss $(lab_ss_state s "$PORT" "$CPORT")"
	echo "arrived at the server in the client's name: $SRV_RST RST, $SRV_FIN FIN"
	hl_ctl stats | grep -E '^ +invalid' | sed 's/^/  /'
	[ "$D_RST" -ge 1 ] || lab_fail "phase $name: rst_out_of_window did not rise"
	[ "$D_SEQ" -ge 1 ] || lab_fail "phase $name: seq_above_window did not rise"
}

phase "a (strict: false)" ""
[ "$D_DROP" = 0 ] || lab_fail "phase a: packets.dropped rose by $D_DROP without strict mode"
[ "$SRV_RST" -ge 1 ] && [ "$SRV_FIN" -ge 1 ] ||
	lab_fail "phase a: the forged packets did not reach the server (RST $SRV_RST, FIN $SRV_FIN) though the daemon accepts invalid packets without strict"
A="rst_out_of_window +$D_RST, seq_above_window +$D_SEQ, dropped +$D_DROP"
lab_down

phase "b (strict: true)" "table:
  strict: true"
[ "$D_DROP" -ge 2 ] || lab_fail "phase b: packets.dropped rose by $D_DROP with strict mode (expected >= 2: the RST and the FIN)"
[ "$D_DROP" -ge $((D_RST + D_SEQ)) ] ||
	lab_fail "phase b: $((D_RST + D_SEQ)) packets counted invalid but only $D_DROP dropped"
[ "$SRV_RST" = 0 ] && [ "$SRV_FIN" = 0 ] ||
	lab_fail "phase b: forged packets reached the server despite strict mode (RST $SRV_RST, FIN $SRV_FIN)"
B="rst_out_of_window +$D_RST, seq_above_window +$D_SEQ, dropped +$D_DROP"
lab_pass "forged out-of-window RST+FIN: (a) $A, flow ESTABLISHED; (b strict) $B, server ESTABLISHED"
