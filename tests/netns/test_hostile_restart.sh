#!/bin/bash
# test_hostile_restart: the daemon crashes (SIGKILL) under load and is
# started again with the same configuration (table.pickup: true, the
# default).  Four long-lived connections exchange 200 bytes each every
# 0.1 s, and a fifth streams 1 KiB echoes as fast as it can, through the
# kill and the restart.  Checked:
#   - every connection keeps working: data still flows both ways (rounds of
#     echoes go on after the restart; the stream ends cleanly);
#   - after some traffic, the restarted daemon (which never saw their
#     handshakes) lists the four connections ESTABLISHED/ESTABLISHED, as ss
#     shows them, with the right client and server;
#   - one connection is then half-closed by its client: the tracked states
#     converge to what ss shows, FIN_WAIT_2 / CLOSE_WAIT, while the others
#     stay ESTABLISHED and keep exchanging.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon

PORT=8080
NCONN=4

lab_track_up
lab_server echo "$PORT" --no-close --hold 150
TRIGGER="$LAB_TMP/halfclose"
hl_ep c conns conns "$LAB_S4" "$PORT" --count "$NCONN" --interval 0.1 --duration 80 --hold 60 \
	--io-timeout 15 --half-close-trigger "$TRIGGER" --half-close-index 0
lab_wait_until 10 "$NCONN connections" eval '[ "$(hl_conns_ports conns | wc -l)" = '"$NCONN"' ]' ||
	lab_fail "the connections did not open: $(cat "$LAB_TMP/conns.out")"
hl_wait_rounds conns 5 10
mapfile -t CPORTS < <(hl_conns_ports conns)
for p in "${CPORTS[@]}"; do
	lab_expect_tracked ipv4 "$p" "$PORT" ESTABLISHED ESTABLISHED
done

# Load: a bulk echo stream for 8 s.
lab_client stream "$LAB_S4" "$PORT" --stream 8 --close --hold 0 --io-timeout 20
lab_ep_wait_line stream '^CONNECTED ' 10
sleep 1.5
S0=$(hl_stats)
OLD=$LAB_DAEMON_PID
kill -KILL "$OLD"
lab_wait_until 5 "handshaked to die" eval '! lab__alive '"$OLD" || lab_fail "handshaked survived SIGKILL?"
wait "$OLD" 2>/dev/null
TK=${EPOCHREALTIME}
R_KILL=$(hl_conns_rounds conns)
lab_log "handshaked (pid $OLD) SIGKILLed under load after $(hl_get "$S0" packets.seen) packets; $R_KILL rounds so far"

# Started again, same configuration, same control socket (left stale by the kill).
lab_start_daemon "$LAB_TMP/handshaked.yaml"
TR=${EPOCHREALTIME}
lab_log "handshaked restarted (pid $LAB_DAEMON_PID) $(awk -v a="$TK" -v b="$TR" 'BEGIN { printf "%.2f", b - a }') s after the kill"

# Data flows both ways through the new daemon.
hl_wait_rounds conns 20 30
R_AFTER=$(hl_conns_rounds conns)
for p in "${CPORTS[@]}"; do
	lab_expect_tracked ipv4 "$p" "$PORT" ESTABLISHED ESTABLISHED
done
for p in "${CPORTS[@]}"; do
	lab_flow_show "$PORT" "$p"
done | sed 's/^/  picked up: /'
S1=$(hl_stats)
echo "restarted daemon: created $(hl_get "$S1" flows.created) flows (picked up), invalid $(hl_get "$S1" packets.invalid), seen $(hl_get "$S1" packets.seen)"

rc=0
lab_ep_exit stream 40 || rc=$?
STREAMED=$(grep -E '^(STREAMED|STREAM_EOF|ECHO_BAD|ERROR)' "$LAB_TMP/stream.out" | head -n 1)
lab_log "stream client: exit $rc, $STREAMED"
[ "$rc" = 0 ] || lab_fail "the streaming connection did not survive the kill and restart (exit $rc: $STREAMED)"

# Half-close connection 0: client FIN_WAIT_2, server CLOSE_WAIT (it never closes).
touch "$TRIGGER"
lab_ep_wait_line conns '^SHUTDOWN 0 ' 10
HC=${CPORTS[0]}
lab_expect_tracked ipv4 "$HC" "$PORT" FIN_WAIT_2 CLOSE_WAIT
hl_wait_rounds conns 10 20
for p in "${CPORTS[@]:1}"; do
	lab_expect_tracked ipv4 "$p" "$PORT" ESTABLISHED ESTABLISHED
done
lab_flow_show "$PORT" "$HC" | sed 's/^/  half-closed: /'
hl_conns_ok conns || lab_fail "a connection failed: $(grep -m1 '^FAIL' "$LAB_TMP/conns.out")"
lab__alive "$LAB_DAEMON_PID" || lab_fail "the restarted handshaked died"
SLOW=$(awk '$1 == "R" && $4 > m { m = $4 } END { print m + 0 }' "$LAB_TMP/conns.out")
echo "rounds: $R_KILL before the kill, $R_AFTER when checked after the restart, $(hl_conns_rounds conns) at the end; slowest exchange $SLOW ms"
lab_pass "$NCONN connections + a stream survived SIGKILL and restart; picked up ESTABLISHED/ESTABLISHED; half-close tracked FIN_WAIT_2/CLOSE_WAIT"
