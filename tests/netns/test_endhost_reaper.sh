#!/bin/bash
# test_endhost_reaper: on an end host, the policy
# {local_state: CLOSE_WAIT, idle: 2s} reset frees every socket the host's
# program leaked, three runs in a row, and nothing else.
#
# handshaked runs in the host on PREROUTING and OUTPUT with the rules
# handshaked-rules installs (so its own RSTs skip its queue).  Each run is
# the end-host workload: 2000 connections, 200 at a time, IPv4 and IPv6,
# 300 of them leaked in CLOSE_WAIT.  About 2 s after their last packet the
# policy resets all 300 at once; per run:
#   - ss shows none of the 300 CLOSE-WAIT sockets left on the host, and none
#     of their 300 FIN-WAIT-2 peers on the remote (10 s at most);
#   - stats: 600 RSTs sent, 0 failed, 0 skipped, none waiting; the policy
#     acted 300 times; no packet counted invalid (the daemon's own RSTs
#     included), none of its own packets reached its queue;
#   - no flow is listed with its local endpoint in CLOSE_WAIT.
# Throughout, the two idle control connections (one per family), open
# since before the first run and ESTABLISHED at both ends, survive: ss
# shows them ESTABLISHED and the daemon lists them.  So do 10 connections
# the host half-closed and the remote never answered (host FIN_WAIT_2,
# remote CLOSE_WAIT): CLOSE_WAIT on the remote end is not the host's to
# reap, and {state: CLOSE_WAIT} would have reset them.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"
. "$(dirname "$0")/endhost_lib.sh"

NAME=host-close-wait
RUNS=3
eh_up "policies:
  - name: $NAME
    match: {local_state: CLOSE_WAIT, idle: 2s}
    action: reset"

# The control connections: opened first, idle from then on.
MIRROR=10
EH_COUNT=0 EH_LEAK=0 eh_workload control --control "$EH_PORT_C" --mirror "$MIRROR"
control=$(awk '$1 == "CONTROL" { print $2, $3 }' "$LAB_TMP/control.out" | sort)
[ "$(wc -l <<<"$control")" = 2 ] || lab_fail "no control connections: $(cat "$LAB_TMP/control.out")"

mirror=$(awk '$1 == "MIRROR" { print $2, $3 }' "$LAB_TMP/control.out" | sort)
lab_wait_until 5 "the remote's $MIRROR CLOSE-WAIT sockets" eval '[ "$(eh_ss_count s close-wait "$EH_PORT_C")" = "$MIRROR" ]' ||
	lab_fail "the remote has $(eh_ss_count s close-wait "$EH_PORT_C") CLOSE-WAIT sockets, expected $MIRROR"

control_alive() {
	[ "$(eh_ss_ports c established "$EH_PORT_C")" = "$control" ] &&
		[ "$(eh_local_ports ESTABLISHED)" = "$control" ] &&
		[ "$(eh_ss_ports c fin-wait-2 "$EH_PORT_C")" = "$mirror" ] &&
		[ "$(eh_local_ports FIN_WAIT_2)" = "$mirror" ]
}

local_cw() { eh_ctl list --local-state CLOSE_WAIT --json 2>/dev/null | grep -c '^{'; }
count_is() { [ "$("$@" 2>/dev/null)" = "$EXPECT" ]; }

for run in $(seq 1 "$RUNS"); do
	sent0=$(eh_stat resets.sent) failed0=$(eh_stat resets.failed) skipped0=$(eh_stat resets.skipped)
	invalid0=$(eh_stat packets.invalid) own0=$(eh_stat packets.own) acted0=$(pol_counter "$NAME" acted)
	t0=$(pol_ms)
	eh_workload "run$run"
	t1=$(pol_ms)
	EXPECT=0
	lab_wait_until 10 "run $run: no CLOSE-WAIT socket left on the host" count_is eh_ss_count c close-wait "$EH_PORT_A" ||
		lab_fail "run $run: $(eh_ss_count c close-wait "$EH_PORT_A") of $EH_LEAK leaked sockets still in CLOSE-WAIT
  stats: $(eh_ctl stats | grep -Ei 'reset|rst|policy')"
	t2=$(pol_ms)
	lab_wait_until 5 "run $run: no FIN-WAIT-2 socket left on the remote" count_is eh_ss_count s fin-wait-2 "$EH_PORT_A" ||
		lab_fail "run $run: $(eh_ss_count s fin-wait-2 "$EH_PORT_A") FIN-WAIT-2 sockets still on the remote"
	lab_wait_until 5 "run $run: no RST waiting" eval '[ "$(eh_stat resets.waiting)" = 0 ]' ||
		lab_fail "run $run: $(eh_stat resets.waiting) RSTs still waiting"
	lab_wait_until 5 "run $run: no flow with its local end in CLOSE_WAIT" count_is local_cw ||
		lab_fail "run $run: $(local_cw) flows still listed with the local endpoint in CLOSE_WAIT"

	sent=$(($(eh_stat resets.sent) - sent0))
	failed=$(($(eh_stat resets.failed) - failed0))
	skipped=$(($(eh_stat resets.skipped) - skipped0))
	invalid=$(($(eh_stat packets.invalid) - invalid0))
	own=$(($(eh_stat packets.own) - own0))
	acted=$(($(pol_counter "$NAME" acted) - acted0))
	lab_log "run $run: workload took $((t1 - t0)) ms; all $EH_LEAK leaked sockets gone $((t2 - t1)) ms after it;" \
		"RSTs sent $sent, failed $failed, skipped $skipped; policy acted $acted; invalid $invalid; own packets queued $own"
	lab_assert_eq "$acted" "$EH_LEAK" "run $run: policy actions"
	lab_assert_eq "$sent" $((2 * EH_LEAK)) "run $run: RSTs sent"
	lab_assert_eq "$failed" 0 "run $run: RSTs failed"
	lab_assert_eq "$skipped" 0 "run $run: RSTs skipped"
	lab_assert_eq "$invalid" 0 "run $run: packets counted invalid"
	lab_assert_eq "$own" 0 "run $run: the daemon's own packets that reached its queue (the mark rule lets them by)"
	control_alive || lab_fail "run $run: a control or half-closed connection did not survive:
  ESTABLISHED: ss $(eh_ss_ports c established "$EH_PORT_C" | tr '\n' ' '), list $(eh_local_ports ESTABLISHED | tr '\n' ' ') (expected $(tr '\n' ' ' <<<"$control"))
  FIN_WAIT_2: ss $(eh_ss_ports c fin-wait-2 "$EH_PORT_C" | wc -l), list $(eh_local_ports FIN_WAIT_2 | wc -l) (expected $MIRROR)"
done
lab_pass "$RUNS runs: $EH_LEAK of $EH_LEAK leaked sockets reset each time with $((2 * EH_LEAK)) RSTs, 0 failed; control and half-closed connections alive"
