#!/bin/bash
# test_hostile_failopen_resync: after an overload in which fail-open let some
# of an established connection's packets pass unseen, the daemon must track
# that connection again.  One connection exchanges 200 bytes each way every
# 0.2 s (request/response: both sides send data and acknowledge each
# other's).  The daemon is SIGSTOPped for 2.5 s while a SYN flood (our own
# address, a closed port) fills its queue, so the connection's packets pass
# by fail-open; then SIGCONT.  Twice, each in a fresh lab:
#   (a) table.strict false;
#   (b) table.strict true.
# Checked after the recovery: the connection keeps exchanging; within 5 s the
# flow is refreshed again (idle_ms < 1500) and over 2 s of exchanges no
# packet is counted invalid (packets.invalid does not move); a half-close by
# the client is tracked FIN_WAIT_2 / CLOSE_WAIT as ss shows it.
# The outcome of both phases is reported before the test fails.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon
command -v hping3 >/dev/null 2>&1 || lab_skip "hping3 is not installed (tests/install-deps)"

PORT=8080
PROBLEMS=()
REPORT=""

# phase NAME EXTRA_YAML
phase() {
	local name=$1 yaml=$2 problems=()
	lab_track_up "$yaml"
	lab_server echo "$PORT" --no-close --hold 120
	local trig="$LAB_TMP/halfclose"
	hl_ep c conn conns "$LAB_S4" "$PORT" --count 1 --interval 0.2 --size 200 --duration 60 --hold 30 \
		--io-timeout 15 --half-close-trigger "$trig" --half-close-index 0
	lab_wait_until 10 "the connection" eval '[ -n "$(hl_conns_ports conn)" ]' ||
		lab_fail "the connection did not open: $(cat "$LAB_TMP/conn.out")"
	hl_wait_rounds conn 5 10
	local cport
	cport=$(hl_conns_ports conn)
	lab_expect_tracked ipv4 "$cport" "$PORT" ESTABLISHED ESTABLISHED
	local before
	before=$(hl_flow_line "$LAB_C4" "$cport" "$PORT")

	# The overload: the daemon stopped, its queue full, fail-open passing the rest.
	local r0 r1
	kill -STOP "$LAB_DAEMON_PID"
	lab_bg c "$LAB_TMP/hping3.out" timeout -s INT 3 hping3 -S --flood -p 9 "$LAB_S4"
	local hp=$LAB_LAST_PID
	sleep 0.3
	r0=$(hl_conns_rounds conn)
	sleep 2.2
	r1=$(hl_conns_rounds conn)
	kill -CONT "$LAB_DAEMON_PID"
	lab_wait_until 10 "the flood to stop" eval '! lab__alive '"$hp" || lab_fail "hping3 outlived its timeout"
	lab_wait_until 15 "the daemon to drain its queue" eval '[ "$(lab_queue_total)" = 0 ]' ||
		lab_fail "the queue did not drain after SIGCONT ($(lab_queue_info))"
	lab_log "$name: while the daemon was stopped the connection exchanged $((r1 - r0)) rounds (its packets passed by fail-open)"
	[ $((r1 - r0)) -ge 3 ] || lab_fail "$name: the connection did not exchange while the daemon was stopped ($((r1 - r0)) rounds): fail-open did not pass it?"

	# Recovery: exchanges go on...
	local base alive=1
	base=$(hl_conns_rounds conn)
	if ! lab_wait_until 20 "10 more rounds" eval '! hl_conns_ok conn || [ "$(hl_conns_rounds conn)" -ge '"$((base + 10))"' ]' ||
		! hl_conns_ok conn; then
		alive=0
		problems+=("the connection stopped working after the overload: $(grep -m1 '^FAIL' "$LAB_TMP/conn.out" || tail -n 1 "$LAB_TMP/conn.out")")
	fi
	# ... the flow is refreshed by them ...
	local line idle
	lab_wait_until 5 "the flow to be refreshed" eval '
		line=$(hl_flow_line "$LAB_C4" '"$cport"' '"$PORT"')
		[ -n "$line" ] && [ "$(hl_flow_field "$line" idle_ms)" -lt 1500 ]'
	line=$(hl_flow_line "$LAB_C4" "$cport" "$PORT")
	idle=$(hl_flow_field "$line" idle_ms)
	[ "$idle" != NOFLOW ] && [ "$idle" -lt 1500 ] ||
		problems+=("the flow is no longer refreshed by the connection's packets: idle_ms $idle while it exchanges every 0.2 s")
	# ... and none of them is invalid.
	local i0 i1 inv
	i0=$(hl_stat packets.invalid)
	sleep 2
	i1=$(hl_stat packets.invalid)
	inv=$(hl_ctl stats | awk '$1 == "invalid" { printf "%s %s, ", $2, $3 }')
	[ "$i1" = "$i0" ] ||
		problems+=("$((i1 - i0)) of the connection's packets counted invalid in 2 s after the recovery (invalid by reason: ${inv%, })")
	local after
	after=$(hl_flow_line "$LAB_C4" "$cport" "$PORT")

	# A half-close is tracked.
	local hc="not tried (the connection is dead)"
	if [ "$alive" = 1 ]; then
		touch "$trig"
		lab_ep_wait_line conn '^SHUTDOWN 0 ' 10
		lab_expect_ss c "$cport" "$PORT" FIN_WAIT_2 10
		lab_expect_ss s "$PORT" "$cport" CLOSE_WAIT 10
		lab_wait_until 5 "the half-close to be tracked" eval \
			'[ "$(hl_flow_field "$(hl_flow_line "$LAB_C4" '"$cport"' '"$PORT"')" client.state server.state)" = "FIN_WAIT_2 CLOSE_WAIT" ]'
		hc=$(hl_flow_field "$(hl_flow_line "$LAB_C4" "$cport" "$PORT")" client.state server.state)
		[ "$hc" = "FIN_WAIT_2 CLOSE_WAIT" ] ||
			problems+=("after a half-close ss shows FIN_WAIT_2 / CLOSE_WAIT, the daemon $hc")
	fi
	local st
	st=$(hl_stats)
	REPORT="$REPORT== phase $name ==
before the overload: $before
after the recovery:  $after
half-close tracked as: $hc
packets: $(hl_get "$st" packets.seen packets.invalid packets.dropped | awk '{ print "seen " $1 ", invalid " $2 ", dropped " $3 }'); invalid by reason: ${inv%, }
"
	local p
	for p in "${problems[@]}"; do
		PROBLEMS+=("$name: $p")
	done
	lab_log "$name: ${#problems[@]} problem(s)"
}

phase "a (strict: false)" ""
lab_down
phase "b (strict: true)" "table:
  strict: true"

printf '%s' "$REPORT"
if [ "${#PROBLEMS[@]}" -gt 0 ]; then
	echo "FAIL: the daemon does not resynchronise an established flow whose packets fail-open let pass:"
	printf '  - %s\n' "${PROBLEMS[@]}"
	exit 1
fi
lab_pass "after a fail-open episode the flow is tracked again (strict and not)"
