#!/bin/bash
# test_track_daemon_killed: handshaked is SIGKILLed while a connection
# streams through it.  With --queue-bypass on the rule, the kernel lets
# packets through once no program is bound to the queue: new connections
# (IPv4 and IPv6) must still succeed.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_server echo4 8080
lab_server echo6 8081 --ipv6

# The daemon is in the path and tracking.
lab_assert "a connection through the running daemon" lab_connect c "$LAB_S4" 8080 3
lab_wait_until 5 "the daemon to list a flow to :8080" \
	eval '[ "$(lab_flows | "$LAB_PY" "$LAB_FLOWQ" count --sport 8080)" -ge 1 ]' ||
	lab_fail "the daemon lists no flow to :8080 after a connection through it"

# Traffic under way: a client echoing 1 KiB chunks for 6 s.
lab_client stream "$LAB_S4" 8080 --stream 6 --close --hold 0
lab_ep_wait_line stream '^CONNECTED ' 10
sleep 1

kill -KILL "$LAB_DAEMON_PID"
lab_wait_until 5 "handshaked to die" eval '! lab__alive "$LAB_DAEMON_PID"' ||
	lab_fail "handshaked survived SIGKILL?"
lab_log "handshaked SIGKILLed under traffic"

for i in 1 2 3 4 5; do
	lab_connect c "$LAB_S4" 8080 3 || lab_fail "IPv4 connection $i after SIGKILL failed (--queue-bypass should pass it)"
	lab_connect c "$LAB_S6" 8081 3 || lab_fail "IPv6 connection $i after SIGKILL failed (--queue-bypass should pass it)"
done
lab_log "5 IPv4 and 5 IPv6 connections succeeded without the daemon"

# The streaming connection itself: packets queued at the moment of the kill
# are dropped by the kernel; TCP retransmits them through the bypass.
rc=0
lab_ep_exit stream 30 || rc=$?
lab_log "streaming client: exit $rc, $(grep -E '^(STREAMED|STREAM_EOF|ECHO_BAD|ERROR)' "$LAB_TMP/stream.out" | head -n 1)"
[ "$rc" = 0 ] || lab_fail "the connection streaming during the kill did not survive (exit $rc)"

lab_pass "new connections succeed after SIGKILL"
