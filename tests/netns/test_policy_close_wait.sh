#!/bin/bash
# test_policy_close_wait: a connection left half-closed (the client shuts
# down its write side, the server application never closes) is reset by
# the policy {state: CLOSE_WAIT, idle: 2s, action: reset}: about 2 s after
# its last packet the server's CLOSE-WAIT socket and the client's FIN-WAIT-2
# socket are both gone, the policy counts acted 1 (2 resets sent) and one
# event says "stale-close-wait: reset".  (test_policy_close_wait_dry_run:
# the same with dry_run: true.)
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root

NAME=stale-close-wait
lab_track_up "policies:
  - name: $NAME
    match: {state: CLOSE_WAIT, idle: 2s}
    action: reset
    dry_run: false"

lab_server srv 8080 --no-close
lab_client cl "$LAB_S4" 8080 --send 100 --echo --shutdown-write --hold 30
CPORT=$LAB_CPORT
lab_expect_tracked ipv4 "$CPORT" 8080 FIN_WAIT_2 CLOSE_WAIT
t0=$(pol_ms)
idle0=$(pol_flow_field 8080 "$CPORT" ipv4 idle_ms)
[ -n "$idle0" ] || lab_fail "no idle_ms for the flow :$CPORT -> :8080"
lab_log "half-closed: client FIN_WAIT_2, server CLOSE_WAIT, flow idle ${idle0} ms"
[ "$(pol_counter "$NAME" acted)" = 0 ] || lab_fail "the policy acted before the flow was idle 2 s"

both_gone() {
	[ "$(lab_ss_state s 8080 "$CPORT")" = CLOSED ] && [ "$(lab_ss_state c "$CPORT" 8080)" = CLOSED ]
}
# Idle 2 s from the last packet, plus the daemon's timer tick: about 3 s at most.
if ! lab_wait_until 3.5 "both sockets to be reset" both_gone; then
	lab_fail "after 3.5 s: server :8080 is $(lab_ss_state s 8080 "$CPORT"), client :$CPORT is $(lab_ss_state c "$CPORT" 8080)
  stats: $(pol_ctl stats | grep '^policy')
  events: $(pol_policy_events)"
fi
t1=$(pol_ms)
since_last=$((t1 - t0 + idle0))
lab_log "both sockets gone $((t1 - t0)) ms after the check, about $since_last ms after the flow's last packet"
[ "$since_last" -ge 1900 ] || lab_fail "reset after only about $since_last ms of idleness (policy: 2 s)"

pol_wait_counter "$NAME" acted 1 3 || lab_fail "policy $NAME: acted $(pol_counter "$NAME" acted), expected 1"
resets=$(pol_counter "$NAME" resets_sent)
dry=$(pol_counter "$NAME" dry_run)
lab_log "stats: $(pol_ctl stats | grep '^policy')"
lab_assert_eq "$resets" 2 "policy $NAME: resets sent (one to each end)"
lab_assert_eq "$dry" 0 "policy $NAME: dry-run count"
pol_wait_event "$NAME: reset" 3 "$CPORT" || lab_fail "no policy event \"$NAME: reset\" for :$CPORT; got: $(pol_policy_events)"
lab_assert_eq "$(pol_events "$NAME: reset")" 1 "events \"$NAME: reset\""
lab_log "event: $(pol_policy_events 1)"
if pol__flow_listed 8080 "$CPORT" ipv4; then
	lab_fail "the reset flow is still listed: $(lab_flow_show 8080 "$CPORT" ipv4)"
fi
lab_pass "CLOSE_WAIT reaped after about $since_last ms idle; both ends reset"
