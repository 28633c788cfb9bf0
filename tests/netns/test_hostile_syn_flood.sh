#!/bin/bash
# test_hostile_syn_flood: a random-source SYN flood (hping3 --flood
# --rand-source, about 6 s) at a listening server, through a daemon whose
# table holds 10000 flows.  Three connections opened before the flood
# exchange data every 0.2 s all along.  Checked:
#   - the daemon's VmRSS stays flat (the table is preallocated): at most
#     +5 MB from before the flood to after it;
#   - stats --json flows.live, sampled every 0.25 s during the flood, never
#     exceeds flows.capacity (10000);
#   - the table overflows and evicts, half-open flows only
#     (flows.evicted_half_open > 0, flows.evicted_established == 0);
#   - the three connections keep exchanging data during and after the
#     flood, and are still listed ESTABLISHED/ESTABLISHED, as ss shows them.
# Prints the flood rate (hping3's count and the daemon's packets.seen), RSS
# before and after, evictions.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon
command -v hping3 >/dev/null 2>&1 || lab_skip "hping3 is not installed (tests/install-deps)"

PORT=8080
CAP=10000
FLOOD_S=${HS_HOSTILE_FLOOD_S:-6}
RSS_SLACK_KB=5120

lab_track_up "table:
  max_flows: $CAP"
lab_server echo "$PORT" --no-close --hold 150

# Three long-lived connections, exchanging 200 bytes each every 0.2 s.
hl_ep c conns conns "$LAB_S4" "$PORT" --count 3 --interval 0.2 --duration 60 --hold 60 --io-timeout 15
lab_wait_until 10 "three connections" eval '[ "$(hl_conns_ports conns | wc -l)" = 3 ]' ||
	lab_fail "the three connections did not open: $(cat "$LAB_TMP/conns.out")"
hl_wait_rounds conns 5 10
mapfile -t CPORTS < <(hl_conns_ports conns)
for p in "${CPORTS[@]}"; do
	hl_expect_tracked_at "$LAB_C4" "$p" "$PORT" ESTABLISHED ESTABLISHED
done

S0=$(hl_stats) || lab_fail "stats --json did not answer"
CAPACITY=$(hl_get "$S0" flows.capacity)
lab_assert_eq "$CAPACITY" "$CAP" "flows.capacity with table.max_flows $CAP"
RSS0=$(hl_rss)
[ -n "$RSS0" ] || lab_fail "cannot read VmRSS of pid $LAB_DAEMON_PID"
R0=$(hl_conns_rounds conns)
lab_log "before the flood: RSS ${RSS0} kB, $(hl_get "$S0" flows.live) flows live, $R0 rounds exchanged"

# The flood: hping3 stops on SIGINT and prints its count.
T0=${EPOCHREALTIME}
lab_bg c "$LAB_TMP/hping3.out" timeout -s INT "$FLOOD_S" \
	hping3 -S --flood --rand-source -p "$PORT" "$LAB_S4"
HPING=$LAB_LAST_PID

# Sample the table while the flood runs.
MAXLIVE=0
SAMPLES=""
NSAMPLES=0
while lab__alive "$HPING"; do
	js=$(hl_stats) || lab_fail "stats --json did not answer during the flood"
	read -r live cap evest <<<"$(hl_get "$js" flows.live flows.capacity flows.evicted_established)"
	[ "$live" -le "$cap" ] || lab_fail "flows.live $live exceeds flows.capacity $cap during the flood"
	[ "$evest" = 0 ] || lab_fail "an established flow was evicted during the flood (evicted_established $evest)"
	[ "$live" -gt "$MAXLIVE" ] && MAXLIVE=$live
	SAMPLES="$SAMPLES $live"
	NSAMPLES=$((NSAMPLES + 1))
	hl_conns_ok conns || lab_fail "a connection failed during the flood: $(grep -m1 '^FAIL' "$LAB_TMP/conns.out")"
	sleep 0.25
done
wait "$HPING" 2>/dev/null
T1=${EPOCHREALTIME}
R1=$(hl_conns_rounds conns)
S1=$(hl_stats) || lab_fail "stats --json did not answer after the flood"
RSS1=$(hl_rss)
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died during the flood"
ELAPSED=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')

# The connections go on after the flood.
hl_wait_rounds conns 10 20
for p in "${CPORTS[@]}"; do
	hl_expect_tracked_at "$LAB_C4" "$p" "$PORT" ESTABLISHED ESTABLISHED
done

read -r seen0 created0 <<<"$(hl_get "$S0" packets.seen flows.created)"
read -r seen1 created1 live1 ev evho evest untracked kdrop kudrop <<<"$(hl_get "$S1" packets.seen flows.created \
	flows.live flows.evicted flows.evicted_half_open flows.evicted_established flows.untracked_table_full \
	queue.kernel_dropped queue.kernel_user_dropped)"
SENT=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$LAB_TMP/hping3.out" | head -n 1)
SEEN=$((seen1 - seen0))
HPRATE=$(awk -v n="${SENT:-0}" -v t="$ELAPSED" 'BEGIN { printf "%d", n / t }')
SEENRATE=$(awk -v n="$SEEN" -v t="$ELAPSED" 'BEGIN { printf "%d", n / t }')
echo "== SYN flood: ${ELAPSED}s =="
echo "hping3: ${SENT:-?} SYNs sent, ${HPRATE}/s; daemon packets.seen +$SEEN (${SEENRATE}/s, both directions)"
echo "flows: created +$((created1 - created0)), live $live1 of $CAP (max sampled $MAXLIVE over $NSAMPLES samples)"
echo "evicted $ev (half-open $evho, established $evest), untracked (table full) $untracked"
echo "kernel queue: dropped $kdrop, user_dropped $kudrop ($(lab_queue_info))"
echo "VmRSS: before ${RSS0} kB, after ${RSS1} kB (delta $((RSS1 - RSS0)) kB)"
echo "connections: $((R1 - R0)) rounds during the flood, $(awk '$1 == "R" && $4 > m { m = $4 } END { print m + 0 }' "$LAB_TMP/conns.out") ms slowest exchange"
echo "flows.live samples:$SAMPLES"
echo "events file: $(stat -c %s "$LAB_TMP/events.jsonl" 2>/dev/null || echo 0) bytes"
for p in "${CPORTS[@]}"; do
	echo "  after: $(hl_flow_line "$LAB_C4" "$p" "$PORT")"
done

[ -n "$SENT" ] && [ "$SENT" -gt 0 ] || lab_fail "hping3 reported no packets sent: $(cat "$LAB_TMP/hping3.out")"
[ "$NSAMPLES" -ge 5 ] || lab_fail "only $NSAMPLES samples of the table during the flood"
[ "$MAXLIVE" -le "$CAP" ] || lab_fail "flows.live reached $MAXLIVE > capacity $CAP"
[ "$live1" -le "$CAP" ] || lab_fail "flows.live $live1 > capacity $CAP after the flood"
[ "$ev" -gt 0 ] || lab_fail "no eviction: the flood did not fill a $CAP-flow table? (created +$((created1 - created0)))"
[ "$evho" -gt 0 ] || lab_fail "evictions took no half-open flow"
[ "$evest" = 0 ] || lab_fail "evicted_established is $evest: established flows were evicted while half-open ones remained"
[ "$evho" = "$ev" ] || lab_fail "evicted $ev but half-open $evho"
[ $((RSS1 - RSS0)) -le "$RSS_SLACK_KB" ] ||
	lab_fail "VmRSS grew from $RSS0 kB to $RSS1 kB (more than $RSS_SLACK_KB kB) during the flood"
[ $((R1 - R0)) -ge 5 ] || lab_fail "the connections exchanged only $((R1 - R0)) rounds during the flood"
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died"
lab_pass "flood ${HPRATE} SYN/s for ${ELAPSED}s; live max $MAXLIVE <= $CAP; evicted $ev half-open, 0 established; RSS $RSS0 -> $RSS1 kB; 3 connections kept working"
