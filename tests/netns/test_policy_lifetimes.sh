#!/bin/bash
# test_policy_lifetimes: flows live as long as the endpoints' sockets do,
# checked against the kernels over a minute and a half, both at once.
#
#   TIME_WAIT   20 connections the server closes first leave 20 TIME-WAIT
#               sockets in the server namespace; each one's flow must leave
#               the table within 5 s of the kernel's socket (Linux keeps
#               TIME_WAIT 60 s; conntrack's 120 s would miss by a minute).
#   CLOSE_WAIT  a client shuts down its write side and the server
#               application never closes: idle for 80 s (conntrack forgets
#               CLOSE_WAIT at 60 s) the flow is still listed as ss shows it,
#               and the reaper {state: CLOSE_WAIT, idle: 90s} resets it at
#               90 s: the server's CLOSE-WAIT socket is gone.
#
# Default timeouts throughout; about 95 s in all.  (A policy test: the
# daemon's own RSTs are not in the router's inbound capture, so the offline
# replay the test_track_* tests end with would not see the reset.)
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root

NAME=reaper
TW_PORT=9090
CW_PORT=8080
lab_track_up "policies:
  - name: $NAME
    match: {state: CLOSE_WAIT, idle: 90s}
    action: reset"

# The half-closed connection first: it must wait the longest.
lab_server srv $CW_PORT --no-close --hold 150
lab_client cl "$LAB_S4" $CW_PORT --send 100 --echo --shutdown-write --hold 150
CPORT=$LAB_CPORT
lab_expect_tracked ipv4 "$CPORT" $CW_PORT FIN_WAIT_2 CLOSE_WAIT

# Then the TIME_WAIT connections: the server sends "ok" and closes first.
pol_ep s tw-srv server $TW_PORT --hold 150
lab_ep_wait_line tw-srv '^LISTENING ' 10
pol_ep c tw-cl count "$LAB_S4" $TW_PORT --parallel 4 --max 20 --duration 10 --timeout 5 --wait-eof
lab_ep_wait_line tw-cl '^RESULT ' 15
grep -q '^RESULT attempts 20 ok 20 ' "$LAB_TMP/tw-cl.out" ||
	lab_fail "lab: the TIME_WAIT connections did not all succeed: $(grep '^RESULT' "$LAB_TMP/tw-cl.out")"
# The clients' last FINs may still be on their way.
tw_all() { [ "$(pol_ss_count s time-wait)" -ge 20 ]; }
lab_wait_until 5 "20 TIME-WAIT sockets in the server namespace" tw_all ||
	lab_fail "lab: $(pol_ss_count s time-wait) TIME-WAIT sockets in the server namespace, expected 20"

# Each TIME_WAIT flow leaves with its socket (about 60 s; 80 s at most).
lab_exec r "$LAB_PY" "$LAB_DIR/lifetime_watch.py" --ns "$LAB_NS_S" --port $TW_PORT \
	--ctl "$HANDSHAKECTL" --sock "$LAB_SOCK" --timeout 80 >"$LAB_TMP/watch.out" 2>&1
watch_rc=$?
summary=$(grep '^SUMMARY' "$LAB_TMP/watch.out")
[ "$watch_rc" = 0 ] && [ -n "$summary" ] || lab_fail "TIME_WAIT: $(grep -v '^CONN' "$LAB_TMP/watch.out")"
lab_log "TIME_WAIT: $summary"
read -r _ _ n _ kmin _ _ _ maxdiff <<<"$summary"
lab_assert_eq "$n" 20 "TIME_WAIT connections watched"
awk -v d="$maxdiff" 'BEGIN { exit !(d <= 5) }' ||
	lab_fail "a TIME_WAIT flow left the table $maxdiff s away from its socket (at most 5 s):
$(sort -k5 -n "$LAB_TMP/watch.out" | tail -3)"
# The watch started right after the connections: their sockets lived about 60 s.
awk -v k="$kmin" 'BEGIN { exit !(k >= 50) }' || lab_fail "lab: TIME-WAIT sockets went after only $kmin s"

# The half-closed flow, idle 80 s or more: still listed, as ss shows it.
# (It must be read before the reaper's 90 s: the window is 8 s wide, for a
# loaded machine.)
idle_ok() {
	local idle
	idle=$(pol_flow_field $CW_PORT "$CPORT" ipv4 idle_ms)
	[ -n "$idle" ] && [ "$idle" -ge 80000 ]
}
idle=$(pol_flow_field $CW_PORT "$CPORT" ipv4 idle_ms)
[ -n "$idle" ] || lab_fail "the CLOSE_WAIT flow :$CPORT -> :$CW_PORT is gone after the TIME_WAIT watch"
lab_wait_until $(( (88000 - idle) / 1000 )) "the CLOSE_WAIT flow to be idle 80 s" idle_ok ||
	lab_fail "the CLOSE_WAIT flow :$CPORT -> :$CW_PORT is not listed idle 80 s: $(lab_flow_show $CW_PORT "$CPORT" ipv4)"
idle=$(pol_flow_field $CW_PORT "$CPORT" ipv4 idle_ms)
state=$(lab_flow_state server $CW_PORT "$CPORT" ipv4)
ss_state=$(lab_ss_state s $CW_PORT "$CPORT")
acted=$(pol_counter "$NAME" acted)
[ -n "$idle" ] && [ "$idle" -lt 90000 ] || lab_fail "the flow was read too late (idle ${idle:-gone} ms): the machine is too slow for this test"
lab_assert_eq "$state" CLOSE_WAIT "listed server state, idle $idle ms"
lab_assert_eq "$ss_state" CLOSE_WAIT "server socket (ss), idle $idle ms"
lab_assert_eq "$acted" 0 "reaper actions before 90 s idle"
lab_log "CLOSE_WAIT: listed and in ss, idle $idle ms"

# At 90 s the reaper resets it: the server's socket is gone (4 s for the timer and the packets).
gone() { [ "$(lab_ss_state s $CW_PORT "$CPORT")" = CLOSED ]; }
lab_wait_until $(( (90000 - idle) / 1000 + 4 )) "the server's CLOSE-WAIT socket to be reset" gone ||
	lab_fail "server :$CW_PORT is still $(lab_ss_state s $CW_PORT "$CPORT") after the reaper's time
  stats: $(pol_ctl stats | grep -i polic)"
pol_wait_counter "$NAME" acted 1 3 || lab_fail "reaper acted $(pol_counter "$NAME" acted) times, expected 1"
pol_wait_event "$NAME: reset" 3 "$CPORT" || lab_fail "no policy event \"$NAME: reset\": $(pol_policy_events)"
# The daemon's own record of when it acted: the flow's idle time in the event.
at=$(grep '"event":"policy"' "$LAB_TMP/events.jsonl" | grep -o '"idle_ms":[0-9]*' | tail -n 1 | cut -d: -f2)
[ -n "$at" ] && [ "$at" -ge 90000 ] && [ "$at" -lt 91000 ] ||
	lab_fail "the reaper acted at ${at:-?} ms idle, expected 90 s (to within the timer's step)"
lab_assert_eq "$(lab_ss_state c "$CPORT" $CW_PORT)" CLOSED "client socket after the reset"
pol__flow_listed $CW_PORT "$CPORT" ipv4 && lab_fail "the reset flow is still listed: $(lab_flow_show $CW_PORT "$CPORT" ipv4)"
lab_pass "TIME_WAIT flows left within $maxdiff s of their sockets ($n, kernel lifetime from $kmin s); CLOSE_WAIT listed at $idle ms idle and reset at $at ms idle"
