#!/bin/bash
# test_hostile_sanitizers: a short lab session under instrumentation, twice:
#   (a) the ASan+UBSan daemon and CLI (build-san/, built here with
#       `make SAN=1 build-san/handshaked build-san/handshakectl` if missing),
#       ASAN_OPTIONS=abort_on_error=1:detect_leaks=1,
#       UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;
#   (b) the plain daemon under valgrind --leak-check=full
#       --errors-for-leak-kinds=definite --error-exitcode=99 (lighter traffic).
# The session: connections through the states (ESTABLISHED, FIN_WAIT_2/
# CLOSE_WAIT, TIME_WAIT/CLOSED, RST, CLOSE_WAIT/FIN_WAIT_2, SYN_SENT/LISTEN,
# SYN_RCVD, IPv6), a small random-source SYN flood into a small table
# (evictions), a few malformed packets and fragments, hostile control
# requests, list/stats/metrics, reload (good, refused, SIGHUP), kill of a
# flow (RSTs); then SIGTERM.  Asserted: the daemon exits 0 by itself, with
# no sanitizer report (ASan, LSan, UBSan "runtime error") in its output, and
# valgrind reports no error ("ERROR SUMMARY: 0 errors", nothing definitely
# lost).  HS_VALGRIND_DAEMON chooses another plain daemon binary for (b).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
command -v hping3 >/dev/null 2>&1 || lab_skip "hping3 is not installed (tests/install-deps)"

SAN_D="$LAB_ROOT/build-san/handshaked"
SAN_C="$LAB_ROOT/build-san/handshakectl"
PLAIN_D=${HS_VALGRIND_DAEMON:-$LAB_ROOT/build/handshaked}
PLAIN_C="$LAB_ROOT/build/handshakectl"
if [ ! -x "$SAN_D" ] || [ ! -x "$SAN_C" ]; then
	lab_log "building the sanitized daemon and CLI"
	(cd "$LAB_ROOT" && make -s SAN=1 build-san/handshaked build-san/handshakectl) >"/tmp/hs-san-build.$$.log" 2>&1 ||
		{ tail -n 30 "/tmp/hs-san-build.$$.log"; rm -f "/tmp/hs-san-build.$$.log"; lab_fail "make SAN=1 failed"; }
	rm -f "/tmp/hs-san-build.$$.log"
fi
[ -x "$PLAIN_D" ] && [ -x "$PLAIN_C" ] || lab_skip "$PLAIN_D not built yet (make)"

# session full|light: drives the lab through a daemon already started.
session() {
	local mode=$1
	lab_server srv 8080 --no-close --hold 150
	lab_server srv2 8081 --hold 150
	lab_server srv6 8083 --ipv6 --no-close --hold 150
	[ "$mode" = full ] && lab_server guarded 8086 --hold 150

	lab_client est "$LAB_S4" 8080 --hold 150
	EST_PORT=$LAB_CPORT
	lab_expect_tracked ipv4 "$EST_PORT" 8080 ESTABLISHED ESTABLISHED
	lab_client half "$LAB_S4" 8080 --send 300 --echo --shutdown-write --hold 150
	lab_expect_tracked ipv4 "$LAB_CPORT" 8080 FIN_WAIT_2 CLOSE_WAIT
	lab_client full "$LAB_S4" 8081 --send 100 --echo --close --hold 150
	lab_expect_tracked ipv4 "$LAB_CPORT" 8081 TIME_WAIT CLOSED
	lab_client abort "$LAB_S4" 8081 --abort --hold 150
	lab_expect_tracked ipv4 "$LAB_CPORT" 8081 CLOSED CLOSED
	lab_client est6 "$LAB_S6" 8083 --send 100 --echo --shutdown-write --hold 150
	lab_expect_tracked ipv6 "$LAB_CPORT" 8083 FIN_WAIT_2 CLOSE_WAIT
	if [ "$mode" = full ]; then
		lab_server first 8082 --close-first --hold 150
		lab_client cf "$LAB_S4" 8082 --hold 150
		lab_expect_tracked ipv4 "$LAB_CPORT" 8082 CLOSE_WAIT FIN_WAIT_2
		lab_drop_syn_in_router 8084
		lab_server srv4 8084 --hold 150
		lab_client ss "$LAB_S4" 8084 --connect-timeout 60 --hold 150
		lab_expect_tracked ipv4 "$LAB_CPORT" 8084 SYN_SENT LISTEN ""
		local sp
		sp=$(lab_rand_port)
		lab_drop_out c "$sp" 8080 ACK
		lab_client sr "$LAB_S4" 8080 --sport "$sp" --hold 150
		lab_expect_ss s 8080 "$sp" SYN_RCVD
		lab_expect_flow server 8080 "$sp" ipv4 SYN_RCVD
	fi

	# A small flood from random sources into the small table: evictions;
	# in full mode a second one at the port the "guard" policy verifies.
	local flood=(-i u200) port
	[ "$mode" = light ] && flood=(-c 300 -i u2000)
	for port in 8080 8086; do
		[ "$mode" = light ] && [ "$port" = 8086 ] && continue
		timeout -s INT 2 ip netns exec "$LAB_NS_C" hping3 -S "${flood[@]}" --rand-source -p "$port" -q "$LAB_S4" \
			>"$LAB_TMP/hping3.out" 2>&1
		lab_log "flood at :$port: $(sed -n 's/^\([0-9]* packets transmitted\).*/\1/p' "$LAB_TMP/hping3.out"); $(hl_stat flows.live flows.evicted | awk '{ print "live " $1 ", evicted " $2 }')"
	done
	[ "$(hl_stat flows.evicted)" -gt 0 ] || lab_fail "the flood caused no eviction"

	# Malformed packets and fragments.
	ip -n "$LAB_NS_C" addr add 10.0.1.3/24 dev c0 2>/dev/null
	lab_ipt s -t raw -A PREROUTING -s 10.0.1.3 -j DROP
	local rmac kind
	rmac=$(hl_router_mac)
	for kind in trunc_tcp doff_big frag; do
		hl_ep_run c garbage "$kind" --src 10.0.1.3 --dst "$LAB_S4" --dmac "$rmac" --count 3 >/dev/null ||
			lab_fail "sending $kind failed"
	done

	# Hostile control requests.
	lab_exec r timeout 20 "$LAB_PY" "$HL_EP" ctl "$LAB_SOCK" --data "" --fill 3000 >/dev/null
	lab_exec r timeout 20 "$LAB_PY" "$HL_EP" ctl "$LAB_SOCK" --data 6c69737400ff0a >/dev/null
	lab_exec r timeout 20 "$LAB_PY" "$HL_EP" ctl "$LAB_SOCK" --data 6c697374 >/dev/null
	hl_ctl kill abc >/dev/null 2>&1
	hl_ctl list --state NOPE >/dev/null 2>&1

	# Reading everything.
	hl_ctl list >/dev/null || lab_fail "list failed"
	hl_ctl list --json >/dev/null || lab_fail "list --json failed"
	hl_ctl list --state ESTABLISHED >/dev/null || lab_fail "list --state failed"
	hl_ctl stats >/dev/null || lab_fail "stats failed"
	hl_stats >/dev/null || lab_fail "stats --json failed"
	hl_ctl metrics >/dev/null || lab_fail "metrics failed"

	# Reload: good, refused, SIGHUP.
	hl_ctl reload >/dev/null || lab_fail "reload of an unchanged configuration failed"
	cp "$LAB_TMP/handshaked.yaml" "$LAB_TMP/good.yaml"
	printf 'table:\n  max_flow: 10\n' >>"$LAB_TMP/handshaked.yaml"
	local rc=0
	hl_ctl reload >/dev/null 2>&1 || rc=$?
	[ "$rc" = 1 ] || lab_fail "reload of a bad configuration: exit $rc (expected 1)"
	cp "$LAB_TMP/good.yaml" "$LAB_TMP/handshaked.yaml"
	kill -HUP "$LAB_DAEMON_PID"
	sleep 0.5

	# Kill the established flow: RSTs to both ends.
	local id
	id=$(lab_flow_show 8080 "$EST_PORT" | "$LAB_PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])') ||
		lab_fail "no flow for :$EST_PORT"
	hl_ctl kill "$id" >/dev/null || lab_fail "kill $id failed"
	lab_wait_ss c "$EST_PORT" 8080 CLOSED 5 || lab_log "the client of the killed flow is $(lab_ss_state c "$EST_PORT" 8080)"
	lab_assert "a connection at the end" lab_connect c "$LAB_S4" 8081 5
	lab__alive "$LAB_DAEMON_PID" || lab_fail "the daemon died during the session"
}

# san_fail MESSAGE FILE: the report itself says it all (the lab's
# diagnostics would only push it out of the run's output).
san_fail() {
	echo "FAIL: $1"
	[ -n "${2:-}" ] && grep -v '^==[0-9]*== *$' "$2" | grep -vE '^handshaked: (info|notice)' | head -n 60
	exit 1
}

# stop_daemon: SIGTERM, wait (30 s at most); sets EXIT_STATUS.
stop_daemon() {
	local pid=$LAB_DAEMON_PID
	kill -TERM "$pid"
	if ! lab_wait_until 30 "the daemon to exit after SIGTERM" eval '! lab__alive '"$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		lab_fail "the daemon did not exit within 30 s of SIGTERM"
	fi
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
}

YAML="table:
  max_flows: 2048
policies:
  - name: guard
    match: {state: SYN_RCVD, dst_port: 8086}
    limit: {max: 200, per: destination}
    action: verify
  - name: reaper
    match: {state: CLOSE_WAIT, idle: 30s}
    action: reset
    dry_run: true"

# ---- (a) ASan + UBSan
T0=$SECONDS
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
HANDSHAKED=$SAN_D
HANDSHAKECTL=$SAN_C
lab_track_up "$YAML"
session full
stop_daemon
A_STATUS=$EXIT_STATUS
A_LOG=$(grep -Ec 'AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY: ' "$LAB_TMP/handshaked.log")
echo "== (a) ASan+UBSan: exit status $A_STATUS, $A_LOG report lines, $((SECONDS - T0)) s =="
tail -n 5 "$LAB_TMP/handshaked.log" | sed 's/^/  /'
if [ "$A_STATUS" != 0 ] || [ "$A_LOG" != 0 ]; then
	san_fail "(a) the sanitized daemon exited $A_STATUS with $A_LOG sanitizer report lines" "$LAB_TMP/handshaked.log"
fi
unset ASAN_OPTIONS UBSAN_OPTIONS
lab_down

# ---- (b) valgrind, plain build
command -v valgrind >/dev/null 2>&1 || lab_skip "valgrind is not installed ((a) passed)"
T1=$SECONDS
HANDSHAKECTL=$PLAIN_C
lab_up
VG_WRAP="$LAB_TMP/valgrind-handshaked"
cat >"$VG_WRAP" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \\
	--log-file="$LAB_TMP/valgrind.log" "$PLAIN_D" "\$@"
EOF
chmod +x "$VG_WRAP"
HANDSHAKED=$VG_WRAP
lab_daemon_config "$LAB_TMP/handshaked.yaml" "table:
  max_flows: 64"
# Valgrind starts slowly; lab_start_daemon waits 10 s for the control socket.
lab_start_daemon "$LAB_TMP/handshaked.yaml"
lab_queue_rule_add
session light
stop_daemon
B_STATUS=$EXIT_STATUS
B_ERRORS=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$LAB_TMP/valgrind.log" | tail -n 1)
B_LOST=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$LAB_TMP/valgrind.log" | tail -n 1)
echo "== (b) valgrind: exit status $B_STATUS, ERROR SUMMARY ${B_ERRORS:-?} errors, definitely lost ${B_LOST:-0} bytes, $((SECONDS - T1)) s =="
grep -E 'HEAP SUMMARY|in use at exit|definitely|indirectly|possibly|still reachable|ERROR SUMMARY' "$LAB_TMP/valgrind.log" | sed 's/^==[0-9]*== /  /'
if [ "$B_STATUS" != 0 ] || [ "${B_ERRORS:-x}" != 0 ]; then
	san_fail "(b) under valgrind the daemon exited $B_STATUS with ${B_ERRORS:-unknown} errors" "$LAB_TMP/valgrind.log"
fi
[ -z "$B_LOST" ] || [ "$B_LOST" = 0 ] || san_fail "(b) valgrind: $B_LOST bytes definitely lost" "$LAB_TMP/valgrind.log"
hl_daemon_log_clean || lab_fail "(b) the daemon's output has an error report"
lab_pass "ASan+UBSan: exit 0, no report; valgrind: exit 0, 0 errors"
