#!/bin/bash
# test_state_requeue: a snapshot written by a daemon on one queue, loaded by
# a daemon on a "Q-(Q+1)" range with the kernel balancing connections over
# the two queues (--queue-balance, a hash under a seed the kernel keeps to
# itself).  Through the router: three IPv4 and three IPv6 connections
# ESTABLISHED with traffic every 0.1 s, and one half-closed (client
# FIN_WAIT_2, server CLOSE_WAIT) that stays silent.  Checked:
#   - the restarted daemon says the snapshot came from another set of
#     queues, and each connection with traffic is found again by whichever
#     worker its next packet reaches: same id, client and server, states,
#     history (still starting with the handshake); no flow was made afresh;
#   - the silent connection waits in the pool (stats: waiting 1), and a
#     second restart (SIGTERM, same two queues) keeps it waiting: the
#     snapshot carried it as a flow of no queue;
#   - the traffic kept flowing through both restarts.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"
. "$(dirname "$0")/policy_lib.sh"

hl_require_root
lab_require_daemon

Q=$LAB_QNUM
Q2=$((LAB_QNUM + 1))
lab_up
STATE="$LAB_TMP/state"
mkdir -p "$STATE"
# One queue first, then the range; max_age well beyond the test.
config() {
	lab_daemon_config "$LAB_TMP/handshaked.yaml" "state: {dir: $STATE, interval: 0, max_age: 5m}"
	sed -i "s|^  num: .*|  num: \"$1\"|" "$LAB_TMP/handshaked.yaml"
}
config "$Q"
lab_start_daemon "$LAB_TMP/handshaked.yaml"
lab_queue_rule_add

lab_server srv 8080 --no-close --hold 150
lab_server srv6 8086 --ipv6 --no-close --hold 150
hl_ep c conns conns "$LAB_S4" 8080 --count 3 --interval 0.1 --duration 90 --hold 60 --io-timeout 15
hl_ep c conns6 conns "$LAB_S6" 8086 --count 3 --interval 0.1 --duration 90 --hold 60 --io-timeout 15
lab_wait_until 10 "the connections with traffic" \
	eval '[ "$(hl_conns_ports conns | wc -l)" = 3 ] && [ "$(hl_conns_ports conns6 | wc -l)" = 3 ]' ||
	lab_fail "the connections did not open: $(cat "$LAB_TMP/conns.out" "$LAB_TMP/conns6.out")"
lab_client hc "$LAB_S4" 8080 --send 100 --echo --shutdown-write --hold 120
PHC=$LAB_CPORT
lab_expect_tracked ipv4 "$PHC" 8080 FIN_WAIT_2 CLOSE_WAIT
for p in $(hl_conns_ports conns); do lab_expect_tracked ipv4 "$p" 8080 ESTABLISHED ESTABLISHED; done
for p in $(hl_conns_ports conns6); do lab_expect_tracked ipv6 "$p" 8086 ESTABLISHED ESTABLISHED; done

# id family client-port client-state server-port server-state history, one flow a line.
table_view() {
	lab_flows | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    f = json.loads(line)
    print(f["id"], f["family"], f["client"]["port"], f["client"]["state"], f["server"]["port"],
          f["server"]["state"], f["history"])' | sort -n
}
stop_daemon() {
	local pid=$LAB_DAEMON_PID
	kill -TERM "$pid"
	lab_wait_until 10 "handshaked to exit" eval '! lab__alive '"$pid" || lab_fail "handshaked did not exit on SIGTERM"
	wait "$pid" 2>/dev/null
	cp "$LAB_TMP/handshaked.log" "$LAB_TMP/handshaked.log.$1"
}

BEFORE=$(table_view)
[ "$(echo "$BEFORE" | wc -l)" = 7 ] || lab_fail "expected 7 flows before the restart: $BEFORE"
stop_daemon one-queue
grep -q "state: saved 7 flows" "$LAB_TMP/handshaked.log" || lab_fail "no snapshot of 7 flows on SIGTERM"

# The same traffic, now balanced by the kernel over two queues.
lab_ipt46 r -D FORWARD -p tcp -j NFQUEUE --queue-num "$Q" --queue-bypass || lab_fail "cannot delete the rule"
lab_ipt46 r -A FORWARD -p tcp -j NFQUEUE --queue-balance "$Q:$Q2" --queue-bypass ||
	lab_fail "cannot add the --queue-balance rule"
config "$Q-$Q2"
lab_start_daemon "$LAB_TMP/handshaked.yaml"
grep -q "state: loaded 7 of 7 flows" "$LAB_TMP/handshaked.log" ||
	lab_fail "the snapshot was not loaded: $(grep 'state:' "$LAB_TMP/handshaked.log")"
grep -q "state: 7 flows come from a daemon with another set of queues" "$LAB_TMP/handshaked.log" ||
	lab_fail "no word of the other set of queues: $(grep 'state:' "$LAB_TMP/handshaked.log")"

# Every connection with traffic is claimed by its first packet; the silent one waits.
lab_wait_until 10 "the six connections with traffic to be claimed" eval '[ "$(hl_stat state.pool.claimed)" = 6 ]' ||
	lab_fail "claimed: $(hl_stat state.pool.claimed state.pool.waiting); table: $(table_view | tr '\n' '|')"
AFTER=$(table_view)
lab_log "before: $(echo "$BEFORE" | tr '\n' '|')"
lab_log "after:  $(echo "$AFTER" | tr '\n' '|')"
"$LAB_PY" - "$PHC" <<EOF || lab_fail "the connections were not all found again as they were"
import sys
phc = sys.argv[1]
before = {l.split()[0]: l.split() for l in """$BEFORE""".strip().splitlines()}
after = {l.split()[0]: l.split() for l in """$AFTER""".strip().splitlines()}
ok = True
for i, b in before.items():
    if b[2] == phc:
        if i in after:
            print("the silent connection was claimed without a packet:", after[i]); ok = False
        continue
    a = after.get(i)
    if not a:
        print("flow", i, "not found again:", b); ok = False
    elif a[:6] != b[:6] or not a[6].startswith("ShA"):
        print("flow", i, "changed:", b, a); ok = False
if len(after) != 6:
    print("expected 6 flows listed, got", len(after)); ok = False
sys.exit(0 if ok else 1)
EOF
S=$(hl_stats)
[ "$(hl_get "$S" flows.created)" = 0 ] || lab_fail "flows were made afresh: created $(hl_get "$S" flows.created)"
[ "$(hl_get "$S" state.requeued)" = True ] || [ "$(hl_get "$S" state.requeued)" = true ] ||
	lab_fail "stats do not say the snapshot came from another set of queues: $(hl_get "$S" state)"
[ "$(hl_get "$S" state.pool.waiting)" = 1 ] || lab_fail "the silent connection is not waiting: $(hl_get "$S" state.pool)"
lab_log "packets per queue: $(hl_ctl metrics | grep '^handshaked_queue_packets_total' | tr '\n' ' ')"
hl_ctl stats | grep -A2 '^snapshots' | sed 's/^/  /'
hl_wait_rounds conns 10 10
hl_wait_rounds conns6 10 10

# A second restart with the same two queues: the waiting flow is saved as a flow of no queue and waits again.
stop_daemon two-queues
grep -q "state: saved 7 flows" "$LAB_TMP/handshaked.log" || lab_fail "the second snapshot did not hold 7 flows: $(grep 'state:' "$LAB_TMP/handshaked.log")"
lab_start_daemon "$LAB_TMP/handshaked.yaml"
grep -q "state: 1 flows were not claimed by any worker" "$LAB_TMP/handshaked.log" ||
	lab_fail "the waiting flow was not carried: $(grep 'state:' "$LAB_TMP/handshaked.log")"
S=$(hl_stats)
[ "$(hl_get "$S" state.pool.waiting)" = 1 ] && [ "$(hl_get "$S" state.loaded_flows)" = 7 ] ||
	lab_fail "after the second restart: $(hl_get "$S" state)"
[ "$(echo "$(table_view)" | wc -l)" = 6 ] || lab_fail "after the second restart: $(table_view | tr '\n' '|')"
hl_wait_rounds conns 10 10
hl_wait_rounds conns6 10 10
[ "$(hl_stat flows.created)" = 0 ] || lab_fail "flows were made afresh after the second restart"
hl_conns_ok conns || lab_fail "a connection failed: $(grep -m1 '^FAIL' "$LAB_TMP/conns.out")"
hl_conns_ok conns6 || lab_fail "an IPv6 connection failed: $(grep -m1 '^FAIL' "$LAB_TMP/conns6.out")"
lab_pass "7 flows from one queue: 6 claimed on a two-queue range by their first packet (ids, sides, states, history kept, none made afresh), the silent one waiting across a second restart, traffic kept flowing"
