#!/bin/bash
# test_track_daemon_stopped: handshaked is SIGSTOPped.  A bound program that
# stops reading black-holes its queue unless the queue is fail-open
# (NFQA_CFG_F_FAIL_OPEN, queue.fail_open, on by default): then every packet
# beyond the queue's length (or the socket's buffer) passes.  So after
# enough packets, traffic flows again while the daemon is still stopped.
# Then SIGCONT: the daemon must survive the overflow (ENOBUFS) and go on
# tracking new connections.
#
# Bounds: at most HS_FLOOD_MAX packets (default 60000, several times the
# default queue length 8192) and 90 s; each probe connection 3 s.
set -u
. "$(dirname "$0")/lib.sh"

FLOOD_MAX=${HS_FLOOD_MAX:-60000}
lab_track_up
lab_server echo 8080

lab_assert "a connection through the running daemon" lab_connect c "$LAB_S4" 8080 3
lab_wait_until 5 "the daemon to list a flow to :8080" \
	eval '[ "$(lab_flows | "$LAB_PY" "$LAB_FLOWQ" count --sport 8080)" -ge 1 ]' ||
	lab_fail "the daemon lists no flow to :8080 after a connection through it"

kill -STOP "$LAB_DAEMON_PID"
lab_log "handshaked SIGSTOPped"

# Fill the queue with SYNs to a closed port on the server (raw socket in
# the client namespace, our own source address), then probe.
sent=0
batch=10000
passed=0
start=$SECONDS
while [ "$sent" -lt "$FLOOD_MAX" ] && [ $((SECONDS - start)) -lt 90 ]; do
	out=$(lab_exec c timeout 30 "$LAB_PY" "$LAB_ENDPOINT" flood "$LAB_S4" 9 \
		--count "$batch" --sport-base $((20000 + sent % 20000)) --max-seconds 20 2>&1)
	n=$(printf '%s\n' "$out" | awk '$1 == "SENT" { print $2 }')
	[ -n "$n" ] || lab_fail "flood failed: $out"
	sent=$((sent + n))
	if lab_connect c "$LAB_S4" 8080 3; then
		passed=1
		break
	fi
	lab_log "after $sent packets traffic does not pass yet"
	batch=5000
done
[ "$passed" = 1 ] || lab_fail "with handshaked stopped, traffic still did not pass after $sent packets in $((SECONDS - start)) s: is the queue fail-open (NFQA_CFG_F_FAIL_OPEN with the flags and mask in one pair)?"
lab_log "traffic passes with the daemon stopped, after $sent flood packets ($(lab_queue_info))"
for i in 1 2 3; do
	lab_connect c "$LAB_S4" 8080 3 || lab_fail "connection $i with the daemon stopped and the queue full failed"
done

kill -CONT "$LAB_DAEMON_PID"
lab_log "handshaked SIGCONTinued"
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died"
lab_wait_until 20 "handshakectl to answer after SIGCONT" eval 'lab_flows >/dev/null' ||
	lab_fail "handshaked does not answer after SIGCONT (did it die on ENOBUFS? alive: $(lab__alive "$LAB_DAEMON_PID" && echo yes || echo no))"

lab_wait_until 20 "the daemon to drain its queue" eval '[ "$(lab_queue_total)" = 0 ]' ||
	lab_fail "handshaked did not drain its queue after SIGCONT ($(lab_queue_info))"
lab_log "queue drained: $(lab_queue_info)"

# It tracks again: a connection that stays open shows up ESTABLISHED.
lab_server srv2 8082 --no-close
lab_client cl "$LAB_S4" 8082
lab_expect_tracked ipv4 "$LAB_CPORT" 8082 ESTABLISHED ESTABLISHED
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died after SIGCONT"

lab_pass "fail-open with the daemon stopped; tracking resumes after SIGCONT"
