#!/bin/bash
# test_state_restart: the table survives a restart (state.dir).  Through
# the router: an IPv4 and an IPv6 connection ESTABLISHED with traffic
# flowing every 0.1 s, one half-closed (client FIN_WAIT_2, server
# CLOSE_WAIT, never closed), one in TIME_WAIT and one whose final ACK of
# the handshake is dropped by the client (server SYN_RCVD, retransmitting
# its SYN-ACK; client SYN_SENT as far as the router saw).  Checked:
#   - SIGTERM writes a snapshot; the restarted daemon lists the same flows
#     (ids, client and server, states, history, packets) and their ages and
#     idle times went on across the gap; ss agrees with every state;
#   - the connections with traffic kept working through the restart and
#     were not picked up again (their history still starts with the SYN);
#   - the stuck CLOSE_WAIT is reset by {state: CLOSE_WAIT, idle: 14s} after
#     the restart, 14 s after its last packet (before the restart, not after);
#   - SIGKILL with interval: 1s: the restarted daemon still has the flows;
#   - a damaged snapshot is refused with a clear log line, renamed .bad,
#     and the daemon starts empty.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"
. "$(dirname "$0")/policy_lib.sh"

hl_require_root
lab_require_daemon

REAPER=stale-close-wait
IDLE_S=14
lab_up
STATE="$LAB_TMP/state"
mkdir -p "$STATE"
lab_daemon_config "$LAB_TMP/handshaked.yaml" "state: {dir: $STATE, interval: 1s, max_age: 5m}
policies:
  - name: $REAPER
    match: {state: CLOSE_WAIT, idle: ${IDLE_S}s}
    action: reset"
lab_start_daemon "$LAB_TMP/handshaked.yaml"
lab_queue_rule_add

# Two connections with traffic (IPv4, IPv6), a half-closed one, one in TIME_WAIT.
lab_server srv 8080 --no-close --hold 150
lab_server srv6 8086 --ipv6 --no-close --hold 150
lab_server tws 8081 --hold 150
hl_ep c conns conns "$LAB_S4" 8080 --count 1 --interval 0.1 --duration 90 --hold 60 --io-timeout 15
hl_ep c conns6 conns "$LAB_S6" 8086 --count 1 --interval 0.1 --duration 90 --hold 60 --io-timeout 15
lab_wait_until 10 "the connections with traffic" eval '[ -n "$(hl_conns_ports conns)" ] && [ -n "$(hl_conns_ports conns6)" ]' ||
	lab_fail "the connections did not open: $(cat "$LAB_TMP/conns.out" "$LAB_TMP/conns6.out")"
P4=$(hl_conns_ports conns)
P6=$(hl_conns_ports conns6)
lab_client tw "$LAB_S4" 8081 --send 100 --echo --close --hold 120
PTW=$LAB_CPORT
lab_client hc "$LAB_S4" 8080 --send 100 --echo --shutdown-write --hold 120
PHC=$LAB_CPORT
lab_expect_tracked ipv4 "$P4" 8080 ESTABLISHED ESTABLISHED
lab_expect_tracked ipv6 "$P6" 8086 ESTABLISHED ESTABLISHED
lab_expect_tracked ipv4 "$PTW" 8081 TIME_WAIT CLOSED
lab_expect_tracked ipv4 "$PHC" 8080 FIN_WAIT_2 CLOSE_WAIT
T_HC=$(pol_ms)
# SYN_RCVD: the client's ACK of the SYN-ACK (and its repeats) never leaves it.
PSR=$(lab_rand_port)
lab_drop_out c "$PSR" 8080 ACK
lab_client sr "$LAB_S4" 8080 --sport "$PSR" --hold 120
expect_syn_rcvd() {
	lab_expect_ss s 8080 "$PSR" SYN_RCVD
	lab_expect_flow server 8080 "$PSR" ipv4 SYN_RCVD
	lab_expect_flow client 8080 "$PSR" ipv4 SYN_SENT
}
expect_syn_rcvd
HC_IDLE0=$(pol_flow_field 8080 "$PHC" ipv4 idle_ms)

# The table as listed, one flow per line, the fields a restart must keep.
snapshot_view() {
	lab_flows | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    f = json.loads(line)
    print(f["id"], f["family"], f["client"]["addr"], f["client"]["port"], f["client"]["state"],
          f["server"]["addr"], f["server"]["port"], f["server"]["state"], f["history"], f["age_ms"], f["idle_ms"],
          f["client"]["packets"], f["server"]["packets"])' | sort -n
}
# Stops the daemon with a signal and waits for it to exit.
stop_daemon() {
	local pid=$LAB_DAEMON_PID
	kill "-$1" "$pid"
	lab_wait_until 10 "handshaked to exit" eval '! lab__alive '"$pid" || lab_fail "handshaked did not exit on SIG$1"
	wait "$pid" 2>/dev/null
}
restart_daemon() {
	cp "$LAB_TMP/handshaked.log" "$LAB_TMP/handshaked.log.$1"
	lab_start_daemon "$LAB_TMP/handshaked.yaml"
}

BEFORE=$(snapshot_view)
T_STOP=$(pol_ms)
stop_daemon TERM
grep -q "state: saved 5 flows" "$LAB_TMP/handshaked.log" ||
	lab_fail "no snapshot of 5 flows on SIGTERM: $(grep 'state:' "$LAB_TMP/handshaked.log")"
sleep 1 # a gap while no daemon runs: traffic passes the queue unseen (--queue-bypass)
restart_daemon term
T_START=$(pol_ms)
grep -q "state: loaded 5 of 5 flows" "$LAB_TMP/handshaked.log" ||
	lab_fail "the snapshot was not loaded: $(grep 'state:' "$LAB_TMP/handshaked.log")"
AFTER=$(snapshot_view)
lab_log "before: $(echo "$BEFORE" | tr '\n' '|')"
lab_log "after:  $(echo "$AFTER" | tr '\n' '|')"

# Same ids, endpoints, states, history; ages and idle times went on by at least the gap.
GAP=$((T_START - T_STOP))
"$LAB_PY" - "$GAP" "$P4" "$P6" "$PSR" <<EOF || lab_fail "the restarted table differs"
import sys
gap, p4, p6, psr = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
before = {l.split()[0]: l.split() for l in """$BEFORE""".strip().splitlines()}
after = {l.split()[0]: l.split() for l in """$AFTER""".strip().splitlines()}
ok = sorted(before) == sorted(after)
if not ok:
    print("ids differ:", sorted(before), sorted(after))
for i, b in before.items():
    a = after.get(i)
    if not a:
        continue
    moving = b[3] in (p4, p6, psr)   # traffic, or SYN-ACKs sent again, moved them on meanwhile
    handshake = "Sh" if b[3] == psr else "ShA"
    if a[:8] != b[:8] or (not moving and a[8] != b[8]) or not a[8].startswith(handshake):
        print("flow", i, "changed:", b, a); ok = False
    if int(a[9]) < int(b[9]) + gap - 500:
        print("flow", i, "age did not go on across the gap:", b[9], a[9], "gap", gap); ok = False
    if not moving and (int(a[10]) < int(b[10]) + gap - 500 or a[11:] != b[11:]):
        print("flow", i, "idle or packets changed:", b, a); ok = False
sys.exit(0 if ok else 1)
EOF
lab_expect_tracked ipv4 "$P4" 8080 ESTABLISHED ESTABLISHED
lab_expect_tracked ipv6 "$P6" 8086 ESTABLISHED ESTABLISHED
lab_expect_tracked ipv4 "$PTW" 8081 TIME_WAIT CLOSED
lab_expect_tracked ipv4 "$PHC" 8080 FIN_WAIT_2 CLOSE_WAIT
expect_syn_rcvd
hl_wait_rounds conns 10 10
hl_wait_rounds conns6 10 10
S=$(hl_stats)
lab_log "after the restart: created $(hl_get "$S" flows.created), invalid $(hl_get "$S" packets.invalid), resynced $(hl_get "$S" flows.resynced), loaded $(hl_get "$S" state.loaded_flows)"
[ "$(hl_get "$S" flows.created)" = 0 ] || lab_fail "flows were picked up again instead of restored: $(snapshot_view)"

# The stuck CLOSE_WAIT: reset IDLE_S after its last packet, counted from before the restart.
both_gone() {
	[ "$(lab_ss_state s 8080 "$PHC")" = CLOSED ] && [ "$(lab_ss_state c "$PHC" 8080)" = CLOSED ]
}
lab_wait_until $((IDLE_S + 5)) "the stale CLOSE_WAIT to be reset" both_gone ||
	lab_fail "not reset: server $(lab_ss_state s 8080 "$PHC"), client $(lab_ss_state c "$PHC" 8080)"
SINCE=$(($(pol_ms) - T_HC + HC_IDLE0))
lab_log "stale CLOSE_WAIT reset about $SINCE ms after its last packet (policy: ${IDLE_S} s; restarted after $((T_START - T_HC)) ms)"
[ "$SINCE" -ge $((IDLE_S * 1000 - 100)) ] || lab_fail "reset after only $SINCE ms"
[ "$SINCE" -le $((IDLE_S * 1000 + 3000)) ] || lab_fail "reset $SINCE ms after the last packet: the idle time did not go on across the restart"
[ "$(pol_counter "$REAPER" acted)" = 1 ] || lab_fail "$REAPER did not act in the restarted daemon"

# SIGKILL: the periodic snapshot (interval 1s) is at most a second old, so
# once two have been written since the reset, the table in it is the one listed.
lab_wait_until 5 "the reset flow to leave the table" eval '! pol__flow_listed 8080 "$PHC" ipv4' ||
	lab_fail "the reset flow is still listed"
SAVES=$(hl_stat state.saves)
lab_wait_until 5 "two periodic snapshots" eval '[ "$(hl_stat state.saves)" -ge $((SAVES + 2)) ]' ||
	lab_fail "no periodic snapshot: $(hl_ctl stats | grep -A1 '^snapshots')"
hl_ctl stats | grep -A1 '^snapshots' | sed 's/^/  /'
BEFORE=$(snapshot_view | awk '{ print $1, $2, $4, $5, $8 }')
stop_daemon KILL
restart_daemon kill
AFTER=$(snapshot_view | awk '{ print $1, $2, $4, $5, $8 }')
[ "$BEFORE" = "$AFTER" ] || lab_fail "after SIGKILL the table differs:
before: $BEFORE
after:  $AFTER"
hl_wait_rounds conns 10 10
hl_wait_rounds conns6 10 10

# A damaged snapshot: refused, renamed .bad, the daemon starts empty.
stop_daemon TERM
SIZE=$(stat -c %s "$STATE/handshaked.snap")
printf '\x5a' | dd of="$STATE/handshaked.snap" bs=1 seek=$((SIZE / 2)) conv=notrunc status=none
restart_daemon bad
grep -E "state: refusing snapshot .*handshaked.snap: checksum mismatch in block [0-9]+ at offset [0-9]+; renamed to .*handshaked.snap.bad; starting with an empty table" \
	"$LAB_TMP/handshaked.log" >/dev/null || lab_fail "no clear refusal: $(grep 'state:' "$LAB_TMP/handshaked.log")"
grep 'state: refusing' "$LAB_TMP/handshaked.log" | sed 's/^/  /'
[ -f "$STATE/handshaked.snap.bad" ] || lab_fail "the damaged snapshot was not renamed .bad"
S=$(hl_stats)
[ "$(hl_get "$S" state.loaded_flows)" = 0 ] && [ "$(hl_get "$S" state.load_refused)" = 1 ] ||
	lab_fail "stats after a refused snapshot: $(hl_get "$S" state)"
hl_conns_ok conns || lab_fail "a connection failed: $(grep -m1 '^FAIL' "$LAB_TMP/conns.out")"
hl_conns_ok conns6 || lab_fail "the IPv6 connection failed: $(grep -m1 '^FAIL' "$LAB_TMP/conns6.out")"
lab_pass "5 flows (ESTABLISHED v4 and v6, FIN_WAIT_2/CLOSE_WAIT, TIME_WAIT, SYN_SENT/SYN_RCVD) kept across SIGTERM (ids, states, history, ages), traffic kept flowing, CLOSE_WAIT reaped ${SINCE} ms after its last packet, SIGKILL kept them, a damaged snapshot refused"
