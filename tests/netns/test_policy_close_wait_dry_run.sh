#!/bin/bash
# test_policy_close_wait_dry_run: the CLOSE_WAIT reaper with dry_run: true
# only reports: the event says "stale-close-wait: reset (dry run)", the
# policy counts dry-run 1 and acted 0, and both sockets (client FIN-WAIT-2,
# server CLOSE-WAIT) and the flow stay for 4 s after the policy fired.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root

NAME=stale-close-wait
lab_track_up "policies:
  - name: $NAME
    match: {state: CLOSE_WAIT, idle: 2s}
    action: reset
    dry_run: true"

lab_server srv 8080 --no-close
lab_client cl "$LAB_S4" 8080 --send 100 --echo --shutdown-write --hold 30
CPORT=$LAB_CPORT
lab_expect_tracked ipv4 "$CPORT" 8080 FIN_WAIT_2 CLOSE_WAIT
t0=$(pol_ms)

pol_wait_event "$NAME: reset (dry run)" 3.5 "$CPORT" ||
	lab_fail "no policy event \"$NAME: reset (dry run)\" within 3.5 s; got: $(pol_policy_events)"
lab_log "dry-run event $(($(pol_ms) - t0)) ms after the check: $(pol_policy_events 1)"

# Nothing was done: both sockets and the flow stay.
end=$(($(pol_ms) + 4000))
while [ "$(pol_ms)" -lt "$end" ]; do
	s=$(lab_ss_state s 8080 "$CPORT")
	c=$(lab_ss_state c "$CPORT" 8080)
	[ "$s" = CLOSE_WAIT ] && [ "$c" = FIN_WAIT_2 ] ||
		lab_fail "dry run, yet the server socket is $s and the client socket $c"
	sleep 0.2
done
lab_expect_tracked ipv4 "$CPORT" 8080 FIN_WAIT_2 CLOSE_WAIT
lab_log "stats: $(pol_ctl stats | grep '^policy')"
lab_assert_eq "$(pol_counter "$NAME" dry_run)" 1 "policy $NAME: dry-run count (once per state entry)"
lab_assert_eq "$(pol_counter "$NAME" acted)" 0 "policy $NAME: acted"
lab_assert_eq "$(pol_counter "$NAME" resets_sent)" 0 "policy $NAME: resets sent"
lab_assert_eq "$(pol_events "$NAME: reset")" 0 "events without \"(dry run)\""
lab_assert_eq "$(pol_events "$NAME: reset (dry run)")" 1 "dry-run events"
lab_pass "dry run: event only, both sockets kept 4 s"
