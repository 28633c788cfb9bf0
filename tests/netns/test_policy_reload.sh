#!/bin/bash
# test_policy_reload: policies change at run time and tracked flows survive.
#  1. The daemon starts with the CLOSE_WAIT reaper (idle 2s: reset); a
#     long-lived established connection is opened and its flow id noted.
#  2. A bad file (unknown action) and `handshakectl reload`: exit 1, the
#     error as FILE:LINE:COL; the old policy still acts (a new half-closed
#     connection is reset) and the established flow keeps its id.
#  3. A good file with another policy (new name, idle 1s) and SIGHUP: stats
#     lists the new policy only, it acts on a new half-closed connection,
#     and the established flow is still there with the same id.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root

OLD=stale-close-wait
NEW=close-wait-reaper
lab_track_up "policies:
  - name: $OLD
    match: {state: CLOSE_WAIT, idle: 2s}
    action: reset"
CONF=$LAB_TMP/handshaked.yaml

lab_server srv 8080 --no-close --hold 60
lab_client long "$LAB_S4" 8080 --send 32 --echo --hold 50
LONG=$LAB_CPORT
lab_expect_tracked ipv4 "$LONG" 8080 ESTABLISHED ESTABLISHED
ID=$(pol_flow_id 8080 "$LONG" ipv4)
[ -n "$ID" ] || lab_fail "no flow id for the long-lived connection :$LONG"
lab_log "long-lived connection :$LONG is flow $ID"

# expect_long_alive WHEN: the long-lived connection is untouched.
expect_long_alive() {
	local id
	id=$(pol_flow_id 8080 "$LONG" ipv4)
	lab_assert_eq "$id" "$ID" "flow id of the long-lived connection $1"
	lab_expect_tracked ipv4 "$LONG" 8080 ESTABLISHED ESTABLISHED
}

# half_close_reaped NAME POLICY LIMIT_S: a new half-closed connection is
# reset by POLICY within LIMIT_S seconds.
half_close_reaped() {
	local name=$1 policy=$2 limit=$3 port before
	before=$(pol_counter "$policy" acted)
	lab_client "$name" "$LAB_S4" 8080 --send 16 --echo --shutdown-write --hold 30
	port=$LAB_CPORT
	lab_expect_tracked ipv4 "$port" 8080 FIN_WAIT_2 CLOSE_WAIT
	local t0
	t0=$(pol_ms)
	lab_wait_until "$limit" "both sockets of :$port to be reset" eval \
		'[ "$(lab_ss_state s 8080 '"$port"')" = CLOSED ] && [ "$(lab_ss_state c '"$port"' 8080)" = CLOSED ]' ||
		lab_fail "$policy did not reset the half-closed :$port within ${limit}s (server $(lab_ss_state s 8080 "$port"), client $(lab_ss_state c "$port" 8080))
  stats: $(pol_ctl stats | grep '^policy')"
	pol_wait_event "$policy: reset" 3 "$port" || lab_fail "no event \"$policy: reset\" for :$port: $(pol_policy_events)"
	pol_wait_counter "$policy" acted $((before + 1)) 3 ||
		lab_fail "$policy acted $(pol_counter "$policy" acted), expected $((before + 1))"
	lab_log "$policy reset the half-closed :$port $(($(pol_ms) - t0)) ms after the check"
}

# ---------------------------------------------------------------------------
# 2. a bad file is refused and changes nothing

lab_daemon_config "$CONF" "policies:
  - name: $OLD
    match: {state: CLOSE_WAIT, idle: 2s}
    action: explode"
BADLINE=$(grep -n 'action: explode' "$CONF" | cut -d: -f1)
out=$(pol_ctl reload 2>&1)
rc=$?
echo "handshakectl reload (bad file) exited $rc:"
echo "$out" | sed 's/^/  /'
lab_assert_eq "$rc" 1 "handshakectl reload of a bad file: exit status"
grep -Eq "^$CONF:$BADLINE:[0-9]+: error: .*explode" <<<"$out" ||
	lab_fail "handshakectl reload did not print $CONF:$BADLINE:COL: error ... explode"
lab_assert_eq "$(pol_names | tr '\n' ' ')" "$OLD " "policies running after the refused reload"
lab_assert_eq "$(pol_ctl stats --json | sed -n 's/.*"reload_failures":\([0-9]*\).*/\1/p')" 1 "reload_failures"
expect_long_alive "after the refused reload"
half_close_reaped hc1 "$OLD" 3.5

# ---------------------------------------------------------------------------
# 3. a good file by SIGHUP

lab_daemon_config "$CONF" "policies:
  - name: $NEW
    match: {state: CLOSE_WAIT, idle: 1s}
    action: reset"
"$HANDSHAKED" -t -c "$CONF" >/dev/null || lab_fail "the new configuration does not pass handshaked -t"
kill -HUP "$LAB_DAEMON_PID" || lab_fail "cannot send SIGHUP to handshaked ($LAB_DAEMON_PID)"
lab_wait_until 5 "stats to list only $NEW" eval '[ "$(pol_names | tr "\n" " ")" = "'"$NEW"' " ]' ||
	lab_fail "after SIGHUP stats lists: $(pol_names | tr '\n' ' ')
  log: $(tail -n 5 "$LAB_TMP/handshaked.log")"
lab_log "after SIGHUP: $(pol_ctl stats | grep '^policy'); log: $(grep -i reload "$LAB_TMP/handshaked.log" | tail -n 1)"
lab_assert_eq "$(pol_ctl stats --json | sed -n 's/.*"reloads":\([0-9]*\).*/\1/p')" 1 "reloads"
expect_long_alive "after SIGHUP"
half_close_reaped hc2 "$NEW" 2.5
expect_long_alive "at the end"
lab_ep_line long '^(DONE|ERROR)' && lab_fail "the long-lived client ended early: $(cat "$LAB_TMP/long.out")"
lab_pass "bad reload refused (line $BADLINE), old policy kept; SIGHUP installed $NEW; flow $ID survived both"
