#!/bin/bash
# test_track_early_demux: with the daemon on an end host, a segment queued
# right behind the one that moves a socket into TIME_WAIT must still reach
# the TIME_WAIT socket.  Early demux (net.ipv4.tcp_early_demux=1, the
# default) attaches the socket to each packet before INPUT; a packet held in
# a queue on INPUT keeps the old, now closed, socket and is lost there.
#
# A scripted peer (demux_peer.py) opens a connection to a server that
# half-closes at once (shutdown: its socket stays a full socket in
# FIN_WAIT_2), acknowledges, then sends its FIN and, right behind it, a SYN
# reopening the same ports, which a TIME_WAIT socket answers with a
# SYN-ACK.  The daemon is held (SIGSTOP) while both go out, so both wait in
# the queue together, as in a burst.  Queued on INPUT the SYN is lost
# (logged: the quirk); queued in mangle PREROUTING, before early demux, as
# lab_queue_rule_add_endhost does, every SYN must be answered.
set -u
. "$(dirname "$0")/lib.sh"

TRIALS=6
lab_require_daemon
lab_up
lab_daemon_config "$LAB_TMP/handshaked.yaml" ""
lab_start_daemon "$LAB_TMP/handshaked.yaml" c
lab_exec c sysctl -qw net.ipv4.tcp_early_demux=1 || lab_fail "cannot set tcp_early_demux"
lab_bg c "$LAB_TMP/halfclose.out" timeout 170 "$LAB_PY" -u -c '
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 8080))
l.listen(64)
print("LISTENING", flush=True)
keep = []
while True:
    c, _ = l.accept()
    c.shutdown(socket.SHUT_WR)
    keep.append(c)
'
lab_expect_ss c 8080 "" LISTEN 5
# The peer's kernel knows nothing of its raw connections: keep its RSTs home.
lab_ipt s -A OUTPUT -p tcp --tcp-flags RST RST -d "$LAB_C4" -j DROP || lab_fail "cannot add the RST rule"

# trials: how many of TRIALS SYNs behind a FIN got no SYN-ACK.
trials() {
	local lost=0 i sp r
	for i in $(seq 1 "$TRIALS"); do
		sp=$((30000 + i * 7 + RANDOM % 5000))
		rm -f "$LAB_TMP/go" "$LAB_TMP/peer.out"
		lab_bg s "$LAB_TMP/peer.out" timeout 10 "$LAB_PY" -u "$LAB_DIR/demux_peer.py" "$LAB_S4" "$LAB_C4" 8080 \
			"$sp" 8 "$LAB_TMP/go"
		lab_wait_until 5 "the peer's connection" grep -q READY "$LAB_TMP/peer.out" >&2 ||
			lab_fail "peer: $(cat "$LAB_TMP/peer.out")"
		kill -STOP "$LAB_DAEMON_PID"
		touch "$LAB_TMP/go"
		lab_wait_until 5 "FIN and SYN sent" grep -q SENT "$LAB_TMP/peer.out" >&2
		lab_wait_until 2 "both in the queue" lab_endhost_queued 2 >&2
		kill -CONT "$LAB_DAEMON_PID"
		lab_wait_until 5 "the peer's verdict" grep -Eq '^(SYNACK|LOST)' "$LAB_TMP/peer.out" >&2 ||
			lab_fail "peer: $(cat "$LAB_TMP/peer.out")"
		grep -q '^SYNACK' "$LAB_TMP/peer.out" || lost=$((lost + 1))
	done
	echo "$lost"
}

# lab_endhost_queued N: at least N packets wait in the client's queue.
lab_endhost_queued() {
	[ "$(lab_exec c cat /proc/net/netfilter/nfnetlink_queue | awk -v q="$LAB_QNUM" '$1 == q { print $3 }')" -ge "$1" ]
}

lab_ipt46 c -A INPUT -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass || lab_fail "INPUT rule"
lab_ipt46 c -A OUTPUT -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass || lab_fail "OUTPUT rule"
lost_input=$(trials)
lab_log "queued on INPUT, early demux on: $lost_input of $TRIALS SYNs behind a FIN lost"
lab_ipt46 c -D INPUT -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass || lab_fail "INPUT rule"
lab_ipt46 c -D OUTPUT -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass || lab_fail "OUTPUT rule"

lab_queue_rule_add_endhost c
lost_pre=$(trials)
lab_log "queued in mangle PREROUTING, early demux on: $lost_pre of $TRIALS lost"
[ "$lost_pre" = 0 ] || lab_fail "$lost_pre of $TRIALS SYNs behind a FIN lost with the queue in PREROUTING"
lab_pass "PREROUTING: 0 of $TRIALS lost (INPUT: $lost_input of $TRIALS)"
