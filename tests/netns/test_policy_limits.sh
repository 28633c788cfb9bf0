#!/bin/bash
# test_policy_limits: admission policies, each in a fresh lab.
#  1. limit {match: {state: ESTABLISHED}, limit: {max: 3, per: source},
#     action: drop}: with three connections established from 10.0.1.2, a
#     fourth from that address cannot connect (its SYNs are dropped: connect
#     times out) while one from a second client address, 10.0.1.3, connects
#     at once; after one of the three is aborted, 10.0.1.2 connects again.
#  2. rate {rate: {syn_per_second: 2, burst: 2, per: source}, action: drop}:
#     of 6 connection attempts started at once from 10.0.1.2, the first two
#     connect at once and the others only after the kernel retransmitted
#     their SYNs (>= ~1 s), while 10.0.1.3 connects at once meanwhile.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root

SECOND=10.0.1.3
INSTANT_MS=500          # a connect this fast had no SYN retransmitted (RTO 1 s)

# multi_fg NAME ARGS...: policy_ep.py multi in the client namespace, in the
# foreground, output in $LAB_TMP/NAME.out (and on stdout).
multi_fg() {
	local name=$1
	shift
	lab_exec c timeout 20 "$LAB_PY" -u "$LAB_POLICY_EP" multi "$@" >"$LAB_TMP/$name.out" 2>&1
	cat "$LAB_TMP/$name.out"
}

# conn_result NAME I: "OK MS", "TIMEOUT MS" or "FAILED MS ERR" of CONN I.
conn_result() { awk -v i="$2" '$1 == "CONN" && $2 == i { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "$LAB_TMP/$1.out"; }

# ---------------------------------------------------------------------------
# 1. concurrent connections per source

lab_track_up "policies:
  - name: conn-limit
    match: {state: ESTABLISHED}
    limit: {max: 3, per: source}
    action: drop"
ip -n "$LAB_NS_C" addr add "$SECOND/24" dev c0 || lab_fail "cannot add $SECOND to c0"
lab_server srv 8080 --hold 60

ports=()
for i in 1 2 3; do
	lab_client "c$i" "$LAB_S4" 8080 --connect-timeout 3 --send 16 --echo --abort \
		--trigger "$LAB_TMP/abort$i" --hold 40
	lab_ep_wait_line "c$i" '^ECHO_OK' 5
	ports+=("$LAB_CPORT")
	lab_expect_tracked ipv4 "$LAB_CPORT" 8080 ESTABLISHED ESTABLISHED
done
lab_log "three connections established from $LAB_C4: ports ${ports[*]}"
lab_assert_eq "$(pol_counter conn-limit acted)" 0 "conn-limit acted before the limit was reached"

lab_log "4th from $LAB_C4: $(multi_fg fourth "$LAB_S4" 8080 --count 1 --timeout 2.5 | tr '\n' ' ')"
r=$(conn_result fourth 0)
case "$r" in
TIMEOUT*) ;;
*) lab_fail "the 4th concurrent connection from $LAB_C4 was not refused: $r
  stats: $(pol_ctl stats | grep '^policy')" ;;
esac
acted=$(pol_counter conn-limit acted)
[ "$acted" -ge 1 ] || lab_fail "conn-limit: acted $acted after dropping the 4th connection's SYNs"
lab_log "conn-limit acted $acted (the 4th connection's SYN and its retransmissions)"

lab_log "from $SECOND: $(multi_fg second "$LAB_S4" 8080 --bind "$SECOND" --count 1 --timeout 3 | tr '\n' ' ')"
r=$(conn_result second 0)
case "$r" in
OK*) [ "$(awk '{print $2}' <<<"$r")" -lt "$INSTANT_MS" ] || lab_fail "the connection from $SECOND took $r" ;;
*) lab_fail "the connection from $SECOND (another source) failed: $r" ;;
esac

# One of the three goes away (RST): the source is under its limit again.
touch "$LAB_TMP/abort1"
lab_ep_wait_line c1 '^ABORTED' 5
lab_expect_flow client 8080 "${ports[0]}" ipv4 CLOSED 5
lab_log "after aborting :${ports[0]}: $(multi_fg again "$LAB_S4" 8080 --count 1 --timeout 3 | tr '\n' ' ')"
r=$(conn_result again 0)
case "$r" in
OK*) ;;
*) lab_fail "with one of the three closed, a new connection from $LAB_C4 failed: $r
  flows: $(lab_flows | grep -c '"ESTABLISHED"') listed with an ESTABLISHED side" ;;
esac
lab_log "stats: $(pol_ctl stats | grep '^policy')"
lab_down

# ---------------------------------------------------------------------------
# 2. SYN rate per source

lab_track_up "policies:
  - name: syn-rate
    match: {dst_port: 8080}
    rate: {syn_per_second: 2, burst: 2, per: source}
    action: drop"
ip -n "$LAB_NS_C" addr add "$SECOND/24" dev c0 || lab_fail "cannot add $SECOND to c0"
lab_server srv 8080 --hold 60

pol_ep c burst multi "$LAB_S4" 8080 --count 6 --timeout 6
lab_ep_wait_line burst '^CONN [0-9]+ OK' 3
sleep 0.3
# Meanwhile (the other four are waiting for their retransmissions) another source connects at once.
lab_log "from $SECOND during the burst: $(multi_fg other "$LAB_S4" 8080 --bind "$SECOND" --count 1 --timeout 3 | tr '\n' ' ')"
r=$(conn_result other 0)
case "$r" in
OK*) [ "$(awk '{print $2}' <<<"$r")" -lt "$INSTANT_MS" ] || lab_fail "the connection from $SECOND took $r (ms)" ;;
*) lab_fail "the connection from $SECOND (another source) failed: $r" ;;
esac
lab_ep_wait_line burst '^SUMMARY' 10
lab_log "6 attempts from $LAB_C4: $(grep '^CONN' "$LAB_TMP/burst.out" | sort -k4n | awk '{printf "%s:%s@%sms ", $2, $3, $4}')"
instant=$(awk -v t="$INSTANT_MS" '$1 == "CONN" && $3 == "OK" && $4 < t' "$LAB_TMP/burst.out" | wc -l)
early=$(awk '$1 == "CONN" && $3 == "OK" && $4 >= '"$INSTANT_MS"' && $4 < 900' "$LAB_TMP/burst.out" | wc -l)
late=$(awk '$1 == "CONN" && $3 == "OK" && $4 >= 900' "$LAB_TMP/burst.out" | wc -l)
lab_log "instant (< ${INSTANT_MS} ms) $instant, in between $early, after >= 900 ms $late"
lab_assert_eq "$instant" 2 "connections of the burst that connected at once (burst 2)"
lab_assert_eq "$early" 0 "connections of the burst that connected before a SYN retransmission"
[ "$late" -ge 2 ] || lab_fail "only $late of the 4 throttled connections connected later (tokens refill at 2/s)"
acted=$(pol_counter syn-rate acted)
[ "$acted" -ge 4 ] || lab_fail "syn-rate acted $acted times (expected at least the 4 first SYNs over the burst)"
lab_log "stats: $(pol_ctl stats | grep '^policy')"
lab_pass "limit: 4th refused, other source served; rate: 2 instant, $late later"
