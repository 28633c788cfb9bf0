#!/bin/bash
# test_track_stop_wakes: an idle worker waits in its queue socket's receive
# (for at most 100 ms, the expiry interval); stopping the daemon wakes each
# one at once (hs_nfq_wake: an acknowledged empty netlink message arrives on
# its socket), so SIGTERM ends a daemon of QUEUES queues promptly.  Without
# the wake every worker would be stopped only when its receive timed out,
# one after the other: about 50 ms each, some 1.6 s for 32 queues.
#
# Bounds: the daemon's start and stop 10 s each.
set -u
. "$(dirname "$0")/lib.sh"

QUEUES=32
LIMIT_MS=${HS_STOP_LIMIT_MS:-600}

lab_require_daemon
lab_up
lab_daemon_config "$LAB_TMP/handshaked.yaml" "table:
  max_flows: 1024"
sed -i "s/^  num: $LAB_QNUM\$/  num: \"$LAB_QNUM-$((LAB_QNUM + QUEUES - 1))\"/" "$LAB_TMP/handshaked.yaml"
grep -q "num: \"$LAB_QNUM-" "$LAB_TMP/handshaked.yaml" || lab_fail "cannot set a queue range in the configuration"
lab_start_daemon "$LAB_TMP/handshaked.yaml"

bound=$(lab_exec r cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null | wc -l)
[ "$bound" -ge "$QUEUES" ] || lab_fail "only $bound queues are bound, expected $QUEUES"
lab_log "handshaked bound $bound queues; every worker is idle in its receive"

pid=$LAB_DAEMON_PID
t0=$(lab__now_ms)
kill -TERM "$pid"
lab_wait_until 10 "handshaked to exit after SIGTERM" eval '! lab__alive '"$pid" ||
	lab_fail "handshaked did not exit within 10 s of SIGTERM"
took=$(($(lab__now_ms) - t0))
lab_log "handshaked with $QUEUES queues exited $took ms after SIGTERM"
[ "$took" -le "$LIMIT_MS" ] ||
	lab_fail "handshaked with $QUEUES idle queues took $took ms to stop (at most $LIMIT_MS): are its workers woken from their receive, or stopped only when it times out?"
grep -qi "waking worker" "$LAB_TMP/handshaked.log" && lab_fail "a worker could not be woken: $(grep -i 'waking worker' "$LAB_TMP/handshaked.log")"

lab_pass "SIGTERM stops $QUEUES idle workers in $took ms"
