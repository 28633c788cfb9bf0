#!/bin/bash
# test_ctl_watch: `handshakectl watch` streams flow events over the control
# socket as connections open and close, like conntrack -E, filtered, to
# several clients at once; a client that stops reading loses events without
# slowing the daemon, and is told how many.
#
#   - watchers: `watch --json --dport 8080`, `watch --json --dport 9090`,
#     `watch --json --family 4` and a text `watch`, all at once, then a
#     fifth that never reads;
#   - 20 connections to :8080 and 10 to :9090, each opened, used and closed
#     by both ends (the server answers and closes);
#   - each --json watcher sees exactly the flows to its port (by id: the
#     same ids list shows), each flow's events in order (new first, close
#     last, states in between), and nothing else; the text watcher sees both;
#     (the order asserted is the stream's: "ts" is read per event from the
#     wall clock and rounded to the millisecond, so it may step back by one)
#   - a client that sends "watch" and never reads, while 1500 more
#     connections come and go: ping keeps answering at once, every
#     connection through the router succeeds, the kernel queue drops
#     nothing; when the stalled client finally reads it finds
#     {"event":"lost","count":N} with N > 0, and stats counts the loss.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root
lab_track_up
CTL_EP="$LAB_DIR/ctl_ep.py"

pol_ep s srv80 server 8080 --backlog 1024 --hold 120
pol_ep s srv90 server 9090 --backlog 1024 --hold 120
lab_ep_wait_line srv80 '^LISTENING ' 10
lab_ep_wait_line srv90 '^LISTENING ' 10

watcher() { # watcher NAME ARGS...: handshakectl watch ARGS in the background, output in NAME.out
	local name=$1
	shift
	lab_bg r "$LAB_TMP/$name.out" timeout 120 "$HANDSHAKECTL" -s "$LAB_SOCK" watch "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
}
watcher w80 --json --dport 8080
watcher w90 --json --dport 9090
watcher wtext
watcher w4 --json --family 4
# The watchers are in once the daemon says so.
watchers() { pol_ctl stats --json | "$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["watch"]["watchers"])'; }
lab_wait_until 5 "four watchers" eval '[ "$(watchers)" = 4 ]' ||
	lab_fail "the daemon does not count four watchers: $(pol_ctl stats | grep watch)"

pol_ep c c80 count "$LAB_S4" 8080 --parallel 2 --max 20 --duration 20
pol_ep c c90 count "$LAB_S4" 9090 --parallel 2 --max 10 --duration 20
lab_ep_wait_line c80 '^RESULT ' 30
lab_ep_wait_line c90 '^RESULT ' 30
lab_ep_line c80 '^RESULT attempts 20 ok 20 ' || lab_fail "connections to 8080: $(grep RESULT "$LAB_TMP/c80.out")"
lab_ep_line c90 '^RESULT attempts 10 ok 10 ' || lab_fail "connections to 9090: $(grep RESULT "$LAB_TMP/c90.out")"

closes() { grep -c '"event":"close"' "$LAB_TMP/$1.out" 2>/dev/null; }
lab_wait_until 10 "20 closes seen by the 8080 watcher" eval '[ "$(closes w80)" -ge 20 ]' ||
	lab_fail "the 8080 watcher saw $(closes w80) closes: $(tail -n 5 "$LAB_TMP/w80.out")"
lab_wait_until 10 "10 closes seen by the 9090 watcher" eval '[ "$(closes w90)" -ge 10 ]' ||
	lab_fail "the 9090 watcher saw $(closes w90) closes"

# check_stream NAME PORT FLOWS: only that port's flows, FLOWS of them, each new ... close in order.
check_stream() {
	"$LAB_PY" - "$LAB_TMP/$1.out" "$2" "$3" <<'EOF'
import json, sys
path, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
flows = {}
for line in open(path):
    e = json.loads(line)
    assert e["event"] != "lost", "lost events: %s" % line
    f = e["flow"]
    assert f["server"]["port"] == port, "an event of another port: %s" % line
    flows.setdefault(f["id"], []).append(e)
assert len(flows) == want, "%d flows, expected %d" % (len(flows), want)
for fid, evs in flows.items():
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "new", "flow %d starts with %s" % (fid, kinds)
    assert "close" in kinds, "flow %d never closed: %s" % (fid, kinds)
    assert all(k in ("state",) for k in kinds[1:kinds.index("close")]), "flow %d: %s" % (fid, kinds)
    # The stream's order is the events' order; "ts" is the wall clock read per event and
    # rounded to the millisecond, so two of one burst may be a millisecond apart either way.
    ts = [e["ts"] for e in evs]
    assert all(b >= a - 0.0025 for a, b in zip(ts, ts[1:])), "flow %d out of order: %s" % (fid, ts)
    assert evs[0]["flow"]["client"]["state"] == "SYN_SENT", evs[0]
    c = [e for e in evs if e["event"] == "close"][0]["flow"]
    assert c["client"]["state"] in ("TIME_WAIT", "CLOSED") and c["server"]["state"] in ("TIME_WAIT", "CLOSED"), c
print("%d flows, %d events" % (len(flows), sum(len(v) for v in flows.values())))
EOF
}
S80=$(check_stream w80 8080 20) || lab_fail "the 8080 watcher's stream"
S90=$(check_stream w90 9090 10) || lab_fail "the 9090 watcher's stream"
TEXT_CLOSES=$(grep -c ' close ' "$LAB_TMP/wtext.out")
V4_CLOSES=$(closes w4)
[ "$V4_CLOSES" -ge 30 ] || lab_fail "the --family 4 watcher saw $V4_CLOSES closes, expected 30"
[ "$TEXT_CLOSES" -ge 30 ] || lab_fail "the text watcher saw $TEXT_CLOSES closes, expected 30: $(tail -n 3 "$LAB_TMP/wtext.out")"
lab_log "watch --dport 8080: $S80; --dport 9090: $S90; the text watcher: $TEXT_CLOSES closes, e.g."$'\n'"$(grep ' close ' "$LAB_TMP/wtext.out" | head -n 2)"

# A client that asks to watch and never reads.
lab_bg r "$LAB_TMP/stalled.out" timeout 100 "$LAB_PY" -u -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"watch\n")
print("WATCHING", flush=True)
while True:                   # stalled until told to read
    try:
        open(sys.argv[2]).close()
        break
    except OSError:
        time.sleep(0.1)
s.settimeout(3)
data = b""
try:
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
lost = [l for l in data.split(b"\n") if b"\"event\":\"lost\"" in l]
print("READ", len(data), "LOST", lost[0].decode() if lost else "none", flush=True)
' "$LAB_SOCK" "$LAB_TMP/read-now"
STALLED_PID=$LAB_LAST_PID
lab_wait_until 5 "the stalled watcher to connect" lab_ep_line stalled '^WATCHING' || lab_fail "the stalled watcher did not start"
LAB_EP_PID[stalled]=$STALLED_PID

DROPPED0=$(pol_ctl stats --json | "$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["queue"]["kernel_dropped"])')
pol_ep c flood count "$LAB_S4" 8080 --parallel 4 --max 1500 --duration 60
MAX_PING=0
while lab__alive "${LAB_EP_PID[flood]}"; do
	t0=${EPOCHREALTIME}
	out=$(pol_ctl ping 2>&1) || lab_fail "ping failed while a watcher stalled: $out"
	ms=$(awk -v a="$t0" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%d", (b - a) * 1000 }')
	[ "$ms" -gt "$MAX_PING" ] && MAX_PING=$ms
	sleep 0.2
done
lab_ep_line flood '^RESULT attempts 1500 ok 1500 ' || lab_fail "connections during the stall: $(grep RESULT "$LAB_TMP/flood.out")"
FLOOD=$(grep RESULT "$LAB_TMP/flood.out")
STATS=$(pol_ctl stats --json)
read -r WLOST WDELIVERED DROPPED1 <<<"$("$LAB_PY" -c '
import json, sys
s = json.loads(sys.argv[1])
print(s["watch"]["lost"], s["watch"]["delivered"], s["queue"]["kernel_dropped"])' "$STATS")"
lab_log "during the stall: $FLOOD; ping at most $MAX_PING ms; watch: delivered $WDELIVERED, lost $WLOST; kernel queue drops $((DROPPED1 - DROPPED0))"
[ "$MAX_PING" -lt 1000 ] || lab_fail "ping took $MAX_PING ms while a watcher stalled"
[ "$DROPPED1" = "$DROPPED0" ] || lab_fail "the kernel queue dropped $((DROPPED1 - DROPPED0)) packets while a watcher stalled"
[ "$WLOST" -gt 0 ] || lab_fail "no event lost to the stalled watcher (stats: $WLOST)"

touch "$LAB_TMP/read-now"
lab_ep_wait_line stalled '^READ ' 20
STALLED=$(grep '^READ ' "$LAB_TMP/stalled.out")
lab_log "the stalled watcher, reading at last: $STALLED"
grep -Eq 'LOST \{"event":"lost","count":[1-9][0-9]*\}' <<<"$STALLED" || lab_fail "the stalled watcher was not told what it lost: $STALLED"
# The others kept up: they lost nothing.
grep -q '"event":"lost"' "$LAB_TMP/w90.out" && lab_fail "the 9090 watcher lost events"
grep -q '"event":"lost"' "$LAB_TMP/w4.out" && lab_fail "the --family 4 watcher lost events"
lab_assert_eq "$(watchers)" 5 "watchers while the stalled one is still connected"
pol_ctl ping >/dev/null || lab_fail "ping after the stall"

echo "== watch: four watchers, then a fifth that stalls =="
echo "--dport 8080: $S80"
echo "--dport 9090: $S90"
echo "text: $TEXT_CLOSES closes"
echo "stall: $FLOOD; ping at most $MAX_PING ms; delivered $WDELIVERED, lost $WLOST; $STALLED"
lab_pass "watchers saw exactly their flows' events, in order; a stalled watcher lost $WLOST events without slowing the daemon, and was told"
