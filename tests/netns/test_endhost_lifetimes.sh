#!/bin/bash
# test_endhost_lifetimes: on an end host, flows live as long as the host's
# sockets do, under the default timeouts.
#
# A smaller end-host workload (100 connections, 10 leaked in CLOSE_WAIT,
# 50 ending in TIME_WAIT on the host) under the policy
# {local_state: CLOSE_WAIT, idle: 90s} reset, then:
#   - TIME_WAIT: the kernel keeps it 60 s; the flows whose local endpoint is
#     in TIME_WAIT leave the table within 5 s of the host's TIME-WAIT
#     sockets (ss), neither much earlier nor much later;
#   - CLOSE_WAIT: a kernel keeps a leaked socket until its program closes
#     it, so after 85 s without a packet the 10 flows are still listed (and
#     ss still shows the 10 sockets); the reaper then resets them once they
#     have been idle 90 s, not before, and within 3 s after.
# The whole test takes about 95 s.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"
. "$(dirname "$0")/endhost_lib.sh"

NAME=reaper-90s
EH_COUNT=100 EH_CONCURRENCY=50 EH_LEAK=10
eh_up "policies:
  - name: $NAME
    match: {local_state: CLOSE_WAIT, idle: 90s}
    action: reset"

t0=$(pol_ms)
eh_workload load
tw_ss() { eh_ss_count c time-wait "$EH_PORT_B"; }
tw_flows() { eh_ctl list --local-state TIME_WAIT --json 2>/dev/null | grep -c '^{'; }
cw_flows() { eh_ctl list --local-state CLOSE_WAIT --json 2>/dev/null | grep -c '^{'; }
eh_expect_states_agree 10
lab_assert_eq "$(tw_ss)" $((EH_COUNT / 2)) "the host's TIME-WAIT sockets (ss)"
lab_assert_eq "$(tw_flows)" $((EH_COUNT / 2)) "flows with the local endpoint in TIME_WAIT"
lab_assert_eq "$(cw_flows)" "$EH_LEAK" "flows with the local endpoint in CLOSE_WAIT"

# TIME_WAIT: from 50 s on, note when the kernel's sockets and the flows are gone.
lab_wait_until 60 "50 s after the workload" eval '[ $(( $(pol_ms) - t0 )) -ge 50000 ]'
ss_gone="" flows_gone=""
deadline=$(( t0 + 80000 ))
while [ "$(pol_ms)" -lt "$deadline" ] && { [ -z "$ss_gone" ] || [ -z "$flows_gone" ]; }; do
	now=$(pol_ms)
	[ -z "$ss_gone" ] && [ "$(tw_ss)" = 0 ] && ss_gone=$now
	[ -z "$flows_gone" ] && [ "$(tw_flows)" = 0 ] && flows_gone=$now
	sleep 0.2
done
[ -n "$ss_gone" ] || lab_fail "the host still has $(tw_ss) TIME-WAIT sockets 80 s after the workload"
[ -n "$flows_gone" ] || lab_fail "$(tw_flows) flows still in TIME_WAIT 80 s after the workload, the sockets gone $(( (ss_gone - t0) / 1000 )) s after it"
gap=$(( flows_gone - ss_gone ))
lab_log "TIME_WAIT: sockets gone $(( ss_gone - t0 )) ms after the workload started, flows $(( flows_gone - t0 )) ms (gap $gap ms)"
[ "${gap#-}" -le 5000 ] || lab_fail "TIME_WAIT flows left the table $gap ms after the kernel's sockets (more than 5 s apart)"

# CLOSE_WAIT: still listed after 85 s of silence, reset at 90 s.
idle=$(eh_ctl list --local-state CLOSE_WAIT --json | "$LAB_PY" -c '
import json, sys
print(min(json.loads(l)["idle_ms"] for l in sys.stdin if l.startswith("{")))')
t_idle=$(pol_ms)
lab_wait_until 40 "the leaked sockets to be idle 85 s" eval '[ $(( idle + $(pol_ms) - t_idle )) -ge 85000 ]'
lab_assert_eq "$(cw_flows)" "$EH_LEAK" "flows still listed in CLOSE_WAIT after 85 s idle"
lab_assert_eq "$(eh_ss_count c close-wait "$EH_PORT_A")" "$EH_LEAK" "the host's CLOSE-WAIT sockets after 85 s (ss)"
lab_assert_eq "$(pol_counter "$NAME" acted)" 0 "the reaper's actions before 90 s"
lab_log "after 85 s idle: $EH_LEAK flows in CLOSE_WAIT listed, $EH_LEAK sockets in ss"
t_check=$(pol_ms)
lab_wait_until 10 "the reaper to reset the leaked sockets" eval '[ "$(eh_ss_count c close-wait "$EH_PORT_A")" = 0 ]' ||
	lab_fail "$(eh_ss_count c close-wait "$EH_PORT_A") leaked sockets still in CLOSE-WAIT after $(( idle + $(pol_ms) - t_idle )) ms idle"
t_reset=$(pol_ms)
idle_at_reset=$(( idle + t_reset - t_idle ))
lab_log "leaked sockets reset at about $idle_at_reset ms of idleness ($(( t_reset - t_check )) ms after the 85 s check)"
[ "$idle_at_reset" -ge 89500 ] || lab_fail "reset after only $idle_at_reset ms idle (policy: 90 s)"
[ "$idle_at_reset" -le 93500 ] || lab_fail "reset only after $idle_at_reset ms idle (policy: 90 s)"
pol_wait_counter "$NAME" acted "$EH_LEAK" 3 || lab_fail "policy $NAME acted $(pol_counter "$NAME" acted) times, expected $EH_LEAK"
lab_assert_eq "$(eh_stat resets.failed)" 0 "RSTs failed"
lab_pass "TIME_WAIT flows left $gap ms after the sockets; CLOSE_WAIT listed after 85 s and reset at ${idle_at_reset} ms idle"
