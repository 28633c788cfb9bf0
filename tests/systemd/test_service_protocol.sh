#!/bin/bash
# test_service_protocol.sh: the real daemon against a fake systemd.
#
# build/handshaked runs in a network namespace of its own (so its NFQUEUE
# binding touches nothing else), with NOTIFY_SOCKET pointing at
# fake_notify.py and WATCHDOG_USEC set, and the test reads back what it says
# and when:
#   - READY=1 only once the queue is bound and the control socket answers,
#     and never when the start fails (STATUS= then says why);
#   - WATCHDOG=1 every half interval, and none while a worker thread is
#     frozen (cgroup v1 freezer) though the main loop runs; STATUS= refreshed
#     periodically;
#   - SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1, for a good file
#     and for a broken one (which is refused; the daemon keeps running);
#   - handshakectl metrics, and GET /metrics over HTTP when the configuration
#     loader knows metrics.listen (a slow client must not stall the daemon);
#   - SIGTERM: STOPPING=1, exit status 0, the queue unbound.
# Needs root (namespaces, NFQUEUE).  Exits 0 (pass), 77 (skip) or 1 (fail).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HANDSHAKED=${HANDSHAKED:-$ROOT/build/handshaked}
HANDSHAKECTL=${HANDSHAKECTL:-$ROOT/build/handshakectl}
FAKE=$ROOT/tests/systemd/fake_notify.py
PY=/usr/bin/python3
QNUM=5

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
fail() { log "FAIL: $*"; [ -n "${TMP:-}" ] && [ -f "$TMP/notify.log" ] && sed 's/^/  notify: /' "$TMP/notify.log"; [ -n "${TMP:-}" ] && [ -f "$TMP/daemon.log" ] && sed 's/^/  daemon: /' "$TMP/daemon.log"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespace, NFQUEUE)"
[ -x "$HANDSHAKED" ] && [ -x "$HANDSHAKECTL" ] || skip "build/handshaked or build/handshakectl missing (run make)"
[ -x "$PY" ] || skip "$PY missing"

NS=hsnotify$$
TMP=$(mktemp -d /tmp/hs-notify.XXXXXX)
PIDS=()
FROZEN_CG=""
cleanup() {
	exec 2>/dev/null
	if [ -n "$FROZEN_CG" ]; then
		echo THAWED >"$FROZEN_CG/freezer.state"
		for t in $(cat "$FROZEN_CG/tasks"); do echo "$t" >/sys/fs/cgroup/freezer/tasks; done
		rmdir "$FROZEN_CG"
	fi
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf -- "$TMP"
}
trap cleanup EXIT
ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
ip -n "$NS" link set lo up

# Waits until FILE has a line matching the extended regex; prints it.
wait_line() {
	local file=$1 re=$2 timeout_ms=${3:-5000} waited=0
	while [ "$waited" -lt "$timeout_ms" ]; do
		if grep -E -m1 -- "$re" "$file" 2>/dev/null; then return 0; fi
		sleep 0.05
		waited=$((waited + 50))
	done
	return 1
}
count_lines() { grep -c -E -- "$1" "$2" 2>/dev/null || true; }

# Does the loader know metrics.listen yet?  (daemon/config.c adds it; until
# then the HTTP part is skipped, with a message.)
PORT=9547
printf 'metrics: {listen: "127.0.0.1:%s"}\n' "$PORT" >"$TMP/probe.yaml"
HTTP=0
if "$HANDSHAKED" -t -c "$TMP/probe.yaml" >/dev/null 2>&1; then HTTP=1; fi

write_config() {
	{
		printf 'queue: {num: %s}\n' "$QNUM"
		printf 'control: {socket: %s/control.sock}\n' "$TMP"
		printf 'log: {level: %s, events: off}\n' "$1"
		printf 'table: {max_flows: 1024}\n'
		[ "$HTTP" = 1 ] && printf 'metrics: {listen: "127.0.0.1:%s"}\n' "$PORT"
	} >"$TMP/handshaked.yaml"
}
ctl() { ip netns exec "$NS" "$HANDSHAKECTL" -s "$TMP/control.sock" "$@"; }
queue_bound() { ip netns exec "$NS" cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null | awk -v q="$QNUM" '$1 == q' | grep -q .; }

write_config info
"$PY" "$FAKE" "$TMP/notify" >"$TMP/notify.log" 2>&1 &
PIDS+=($!)
wait_line "$TMP/notify.log" '^listening' >/dev/null || fail "fake_notify.py did not start"

# ---- start ----
log "start with NOTIFY_SOCKET and WATCHDOG_USEC=1000000"
t0=$(date +%s%N)
ip netns exec "$NS" env NOTIFY_SOCKET="$TMP/notify" WATCHDOG_USEC=1000000 \
	"$HANDSHAKED" -c "$TMP/handshaked.yaml" >"$TMP/daemon.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
line=$(wait_line "$TMP/notify.log" 'READY=1') || fail "no READY=1"
log "ready after $((($(date +%s%N) - t0) / 1000000)) ms: $line"
first=$(grep -v '^listening' "$TMP/notify.log" | head -1)
case "$first" in
"$DPID READY=1|STATUS=tracking 0 flows"*) ;;
*) fail "the first message is not READY=1 with a status from pid $DPID: $first" ;;
esac
queue_bound || fail "READY=1 sent but queue $QNUM is not bound"
ctl ping >/dev/null || fail "READY=1 sent but the control socket does not answer"

# ---- watchdog and status ----
sleep 2.6
n=$(count_lines "WATCHDOG=1" "$TMP/notify.log")
log "WATCHDOG=1 pings in about 2.6 s at WATCHDOG_USEC=1000000: $n"
[ "$n" -ge 5 ] && [ "$n" -le 8 ] || fail "expected 5 to 8 watchdog pings (one at start, then every 0.5 s), got $n"
# A stuck worker stops the pings while the main loop carries on.  The v1
# freezer can freeze one thread (its tasks file takes thread ids), which is
# exactly a worker stuck in a loop or a lock.
FREEZER=/sys/fs/cgroup/freezer
if [ -f "$FREEZER/tasks" ] && mkdir "$FREEZER/hsnotify$$" 2>/dev/null; then
	FROZEN_CG=$FREEZER/hsnotify$$
	worker=$(ls "/proc/$DPID/task" | grep -vx "$DPID" | head -1)
	echo "$worker" >"$FROZEN_CG/tasks" || fail "cannot move the worker thread $worker into a freezer cgroup"
	echo FROZEN >"$FROZEN_CG/freezer.state"
	sleep 0.5
	before=$(count_lines "WATCHDOG=1" "$TMP/notify.log")
	sleep 2
	after=$(count_lines "WATCHDOG=1" "$TMP/notify.log")
	ctl ping >/dev/null || fail "the main loop stopped answering while a worker was frozen"
	echo THAWED >"$FROZEN_CG/freezer.state"
	echo "$worker" >"$FREEZER/tasks"
	rmdir "$FROZEN_CG"
	FROZEN_CG=""
	[ "$after" = "$before" ] || fail "the watchdog was pinged $((after - before)) time(s) while the worker was frozen"
	grep -q 'queue 5: worker loop made no progress' "$TMP/daemon.log" || fail "no error logged for the stuck worker"
	sleep 1.2
	[ "$(count_lines "WATCHDOG=1" "$TMP/notify.log")" -gt "$after" ] || fail "pings did not resume after the worker thawed"
	grep -q 'all worker loops run again' "$TMP/daemon.log" || fail "no notice when the worker recovered"
	log "worker thread frozen for 2 s: no WATCHDOG=1 (main loop still answering), pings resumed after thaw"
else
	log "SKIP part: no cgroup v1 freezer to stop one worker thread; stuck-worker check not run"
fi

wait_line "$TMP/notify.log" "^$DPID STATUS=tracking [0-9]+ flows \([0-9]+ half-open\); [0-9]+ packets, [0-9]+ dropped; queue $QNUM-$QNUM\$" 6000 >/dev/null ||
	fail "no periodic STATUS= line"
log "periodic STATUS= seen"

# ---- reload, good file ----
write_config debug
monotonic_usec() { "$PY" -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'; }
before=$(wc -l <"$TMP/notify.log")
t_before=$(monotonic_usec)
kill -HUP "$DPID"
wait_line "$TMP/notify.log" 'RELOADING=1\|MONOTONIC_USEC=[0-9]+$' >/dev/null || fail "no RELOADING=1 after SIGHUP"
t_after=$(monotonic_usec)
sleep 0.3
tail -n +"$((before + 1))" "$TMP/notify.log" | grep -v WATCHDOG >"$TMP/after"
reloading=$(grep -m1 RELOADING "$TMP/after") || fail "no RELOADING=1 after SIGHUP"
usec=${reloading##*MONOTONIC_USEC=}
[ "$usec" -ge "$t_before" ] && [ "$usec" -le "$t_after" ] ||
	fail "MONOTONIC_USEC=$usec is not CLOCK_MONOTONIC at the reload (between $t_before and $t_after)"
ready=$(grep -A1 -m1 RELOADING "$TMP/after" | tail -1)
case "$ready" in
"$DPID READY=1|STATUS=configuration reloaded from $TMP/handshaked.yaml") log "reload: $reloading, then $ready" ;;
*) fail "after RELOADING=1, expected READY=1 with a reloaded status, got: $ready" ;;
esac

# ---- reload, broken file ----
printf 'queue: {num: %s}\ntable: {max_flow: 10}\n' "$QNUM" >"$TMP/handshaked.yaml"
before=$(wc -l <"$TMP/notify.log")
kill -HUP "$DPID"
wait_line "$TMP/notify.log" 'refused' >/dev/null || fail "no READY=1 after a refused reload"
tail -n +"$((before + 1))" "$TMP/notify.log" | grep -v WATCHDOG >"$TMP/after"
grep -q 'RELOADING=1|MONOTONIC_USEC=' "$TMP/after" || fail "no RELOADING=1 before the refused reload"
grep -q "READY=1|STATUS=reload of $TMP/handshaked.yaml refused; running configuration kept" "$TMP/after" ||
	fail "the refused reload did not end with READY=1 and a status saying so"
kill -0 "$DPID" 2>/dev/null || fail "the daemon died on a broken configuration"
ctl ping >/dev/null || fail "the daemon stopped answering after a refused reload"
grep -q 'max_flow' "$TMP/daemon.log" || fail "the refused reload's error is not in the log"
log "broken file refused, daemon still running"
write_config info

# ---- reload through the control socket announces itself too ----
before=$(wc -l <"$TMP/notify.log")
ctl reload >/dev/null || fail "handshakectl reload failed"
sleep 0.2
tail -n +"$((before + 1))" "$TMP/notify.log" | grep -v WATCHDOG >"$TMP/after"
grep -q 'RELOADING=1' "$TMP/after" && grep -q 'READY=1|STATUS=configuration reloaded' "$TMP/after" ||
	fail "handshakectl reload was not announced with RELOADING=1 ... READY=1"

# ---- metrics ----
ctl metrics >"$TMP/metrics.txt" || fail "handshakectl metrics failed"
for want in '# TYPE handshaked_flows gauge' 'handshaked_flows{side="client",state="ESTABLISHED"} 0' \
	"handshaked_queue_packets_total{queue=\"$QNUM\"} 0" "handshaked_queue_kernel_waiting{queue=\"$QNUM\"} 0" \
	'handshaked_reloads_total{result="refused"} 1'; do
	grep -qxF "$want" "$TMP/metrics.txt" || fail "handshakectl metrics lacks: $want"
done
log "handshakectl metrics: $(grep -vc '^#' "$TMP/metrics.txt") samples"

if [ "$HTTP" = 1 ]; then
	http_get() { # PATH -> prints the whole response
		ip netns exec "$NS" timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PORT"'; printf "GET %s HTTP/1.0\r\nHost: x\r\n\r\n" "$1" >&3; cat <&3' _ "$1"
	}
	http_get /metrics >"$TMP/http.txt" || fail "GET /metrics failed"
	head -1 "$TMP/http.txt" | grep -q '^HTTP/1.0 200 OK' || fail "GET /metrics: $(head -1 "$TMP/http.txt")"
	grep -qi '^Content-Type: text/plain; version=0.0.4' "$TMP/http.txt" || fail "GET /metrics: wrong Content-Type"
	grep -qxF '# TYPE handshaked_flows gauge' <(tr -d '\r' <"$TMP/http.txt") || fail "GET /metrics: no exposition text"
	http_get / | head -1 | grep -q '^HTTP/1.0 404' || fail "GET / is not 404"
	# A client that connects and says nothing must not hold the main loop.
	ip netns exec "$NS" timeout 8 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$PORT"'; sleep 7' &
	slow=$!
	PIDS+=("$slow")
	sleep 0.3
	t0=$(date +%s%N)
	ctl ping >/dev/null || fail "control socket blocked by a silent HTTP client"
	http_get /metrics | head -1 | grep -q 200 || fail "a silent HTTP client blocks other scrapes"
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -lt 1000 ] || fail "ping and a scrape took $ms ms beside a silent client"
	# And the server gives up on it after its 5 s deadline.
	for _ in $(seq 1 70); do
		ip netns exec "$NS" ss -tnH state established "( sport = :$PORT )" | grep -q . || break
		sleep 0.1
	done
	ip netns exec "$NS" ss -tnH state established "( sport = :$PORT )" | grep -q . &&
		fail "the server kept a silent HTTP connection open past its deadline"
	kill "$slow" 2>/dev/null
	wait "$slow" 2>/dev/null
	log "HTTP: 200 for /metrics, 404 elsewhere, a silent client does not block ($ms ms) and is dropped"
else
	log "SKIP part: the configuration loader does not know metrics.listen yet; HTTP listener not tested here"
fi

# ---- a second daemon on the same queue fails, and never says READY ----
"$PY" "$FAKE" "$TMP/notify2" >"$TMP/notify2.log" 2>&1 &
PIDS+=($!)
wait_line "$TMP/notify2.log" '^listening' >/dev/null || fail "second fake_notify.py did not start"
sed "s|$TMP/control.sock|$TMP/control2.sock|; /metrics/d" "$TMP/handshaked.yaml" >"$TMP/second.yaml"
ip netns exec "$NS" env NOTIFY_SOCKET="$TMP/notify2" "$HANDSHAKED" -c "$TMP/second.yaml" >"$TMP/second.log" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "a second daemon on queue $QNUM started"
sleep 0.2
grep -q 'READY=1' "$TMP/notify2.log" && fail "a daemon that failed to start sent READY=1"
grep -q 'STATUS=start failed: ' "$TMP/notify2.log" || fail "a failed start did not say why in STATUS="
log "failed start: exit $rc, $(grep -m1 STATUS "$TMP/notify2.log" | cut -c1-100)"

# ---- stop ----
before=$(wc -l <"$TMP/notify.log")
kill -TERM "$DPID"
wait "$DPID"
rc=$?
[ "$rc" = 0 ] || fail "the daemon exited with $rc on SIGTERM"
sleep 0.2
tail -n +"$((before + 1))" "$TMP/notify.log" | grep -q "^$DPID STOPPING=1\$" || fail "no STOPPING=1 on SIGTERM"
queue_bound && fail "queue $QNUM still bound after exit"
log "SIGTERM: STOPPING=1, exit 0, queue unbound"
echo "PASS"
