#!/bin/bash
# test_track_established: a connection that stays open: both endpoints
# ESTABLISHED in ss and in handshakectl; every line of list --json has the
# documented shape and this flow's addresses and counters make sense.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture
lab_server srv 8080 --no-close
lab_client cl "$LAB_S4" 8080 --send 100 --echo
lab_ep_wait_line cl '^ECHO_OK ' 10
cp=$LAB_CPORT
lab_expect_tracked ipv4 "$cp" 8080 ESTABLISHED ESTABLISHED

# Every line of list --json is a JSON object of the documented shape.
problems=$(lab_flows | "$LAB_PY" "$LAB_FLOWQ" check) ||
	lab_fail "handshakectl list --json does not have the documented shape:
$problems"

# This flow: family, addresses, ports, counters, ages, history.
flow=$(lab_flow_show 8080 "$cp" ipv4 | tail -n 1)
msg=$(printf '%s\n' "$flow" | CPORT=$cp CADDR=$LAB_C4 SADDR=$LAB_S4 "$LAB_PY" -c '
import json, os, sys
f = json.loads(sys.stdin.readline())
c, s = f["client"], f["server"]
checks = [
    (f["family"] == "ipv4", "family is %r" % f["family"]),
    (c["addr"] == os.environ["CADDR"], "client.addr is %r" % c["addr"]),
    (s["addr"] == os.environ["SADDR"], "server.addr is %r" % s["addr"]),
    (c["port"] == int(os.environ["CPORT"]) and s["port"] == 8080,
     "ports are %r/%r" % (c["port"], s["port"])),
    (c["packets"] >= 3, "client.packets %r < 3 (SYN, ACK, data)" % c["packets"]),
    (s["packets"] >= 2, "server.packets %r < 2 (SYN-ACK, data)" % s["packets"]),
    (c["bytes"] >= 100, "client.bytes %r < 100 (it sent 100 bytes)" % c["bytes"]),
    (s["bytes"] >= 100, "server.bytes %r < 100 (it echoed 100 bytes)" % s["bytes"]),
    (f["age_ms"] >= f["idle_ms"] >= 0, "age_ms %r, idle_ms %r" % (f["age_ms"], f["idle_ms"])),
    (f["history"].startswith("S"), "history %r does not start with the client SYN (S)" % f["history"]),
]
bad = [m for ok, m in checks if not ok]
print("; ".join(bad))
sys.exit(1 if bad else 0)
') || lab_fail "flow :$cp -> :8080: $msg
  flow: $flow"
lab_log "flow: $flow"
lab_replay_pass "ESTABLISHED/ESTABLISHED, JSON shape ok"
