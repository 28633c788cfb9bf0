#!/bin/bash
# test_ctl_filters: handshakectl's filters, count, summary, top and kill by
# filter against real sockets through the router.
#
# The server namespace gets a second address.  Flows, all held open:
#   50 IPv4 to 10.0.2.2:8080, each half-closed by its client: client
#      FIN_WAIT_2, server CLOSE_WAIT (the server never closes);
#   20 IPv4 to 10.0.2.3:9090, ESTABLISHED on both ends;
#   10 IPv6 to [fd00:2::2]:8080, ESTABLISHED on both ends.
# Then every filter's count is checked against what the test itself set up
# (and against the number of lines `list --json` prints for the same
# filter), `top --server-state CLOSE_WAIT --by dst` must name 10.0.2.2 with
# 50, every --by key must group as the test knows, summary must count each
# side's states, bad arguments must be refused with exit 2 naming the
# argument, `kill --dry-run` must reset nothing, and `kill --server-state
# CLOSE_WAIT --all` must reset exactly the 50 (ss on both ends: their
# sockets gone, the 30 others still ESTABLISHED).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root
lab_track_up
CTL_EP="$LAB_DIR/ctl_ep.py"
S4B=10.0.2.3
lab_exec s ip addr add "$S4B/24" dev s0 || lab_fail "cannot add $S4B to the server"

ctl_ep() { # ctl_ep NS NAME ARGS...
	local ns=$1 name=$2
	shift 2
	lab_bg "$ns" "$LAB_TMP/$name.out" "$LAB_PY" -u "$CTL_EP" "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
}
ss_count() { # ss_count NS STATE FILTER...: sockets in STATE that match an ss filter
	local ns=$1 state=$2
	shift 2
	lab_exec "$ns" ss -tanH state "$state" "$@" 2>/dev/null | wc -l
}
ss_is() { local want=$1; shift; [ "$(ss_count "$@")" = "$want" ]; }

ctl_ep s srvA server "$LAB_S4" 8080
ctl_ep s srvB server "$S4B" 9090
ctl_ep s srv6 server "$LAB_S6" 8080
for n in srvA srvB srv6; do lab_ep_wait_line "$n" '^LISTENING ' 10; done
ctl_ep c half clients "$LAB_S4" 8080 --count 50 --half-close
ctl_ep c estab clients "$S4B" 9090 --count 20
ctl_ep c estab6 clients "$LAB_S6" 8080 --count 10
for n in half estab estab6; do lab_ep_wait_line "$n" '^READY' 20; done
lab_ep_line half '^SUMMARY ok 50 of 50' || lab_fail "not every half-closed connection opened"
lab_ep_line estab '^SUMMARY ok 20 of 20' || lab_fail "not every established connection opened"
lab_ep_line estab6 '^SUMMARY ok 10 of 10' || lab_fail "not every IPv6 connection opened"
lab_wait_until 10 "50 CLOSE-WAIT sockets on the server" ss_is 50 s close-wait '( sport = :8080 )' ||
	lab_fail "the server has $(ss_count s close-wait '( sport = :8080 )') CLOSE-WAIT sockets on :8080"
lab_wait_until 10 "30 ESTABLISHED sockets on the server" ss_is 30 s established ||
	lab_fail "the server has $(ss_count s established) ESTABLISHED sockets"

# count ARGS...: what `count --json` says.
count() {
	pol_ctl count --json "$@" | "$LAB_PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["count"])'
}
# listed ARGS...: how many flows `list --json` prints.
listed() { pol_ctl list --json "$@" | grep -c '^{'; }

lab_wait_until 10 "the daemon to count 50 server CLOSE_WAIT" eval '[ "$(count --server-state CLOSE_WAIT)" = 50 ]' ||
	lab_fail "the daemon counts $(count --server-state CLOSE_WAIT) flows with the server in CLOSE_WAIT"
lab_wait_until 10 "the daemon to count 30 flows ESTABLISHED on both ends" \
	eval '[ "$(count --client-state ESTABLISHED --server-state ESTABLISHED)" = 30 ]' ||
	lab_fail "the daemon counts $(count --client-state ESTABLISHED --server-state ESTABLISHED) established flows"

ONE_PORT=$(lab_ep_field estab LOCAL)
ONE_ID=$(pol_ctl list --json --sport "$ONE_PORT" | "$LAB_PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
RESULTS=""
# expect_count WANT ARGS...: count and list agree with WANT for these filters.
expect_count() {
	local want=$1 got lines
	shift
	got=$(count "$@")
	lines=$(listed "$@")
	[ "$got" = "$want" ] || lab_fail "count $*: $got, expected $want"
	[ "$lines" = "$want" ] || lab_fail "list --json $*: $lines lines, expected $want (count said $got)"
	RESULTS="$RESULTS  $(printf '%-58s' "$*") $got"$'\n'
}
expect_count 80
expect_count 50 --server-state CLOSE_WAIT
expect_count 50 --client-state FIN_WAIT_2
expect_count 50 --state CLOSE_WAIT
expect_count 30 --state ESTABLISHED
expect_count 80 --state ESTABLISHED --state CLOSE_WAIT
expect_count 0 --server-state CLOSE_WAIT --dst "$S4B"
expect_count 20 --dst "$S4B"
expect_count 70 --dst 10.0.2.0/24
expect_count 50 --dst "$LAB_S4" --dst fd00:9::/32
expect_count 60 --dst "$LAB_S4" --dst "$LAB_S6"
expect_count 80 --src "$LAB_C4" --src "$LAB_C6"
expect_count 10 --src fd00:1::/64
expect_count 70 --addr "$LAB_C4"
expect_count 70 --family 4
expect_count 10 --family 6
expect_count 80 --family 4 --family 6
expect_count 60 --dport 8080
expect_count 20 --dport 9000-9999
expect_count 80 --port 8080 --port 9090
expect_count 1 --sport "$ONE_PORT"
expect_count 1 --port "$ONE_PORT"
expect_count 1 --id "$ONE_ID"
expect_count 10 --family 6 --dport 8080 --state ESTABLISHED
expect_count 0 --idle-over 1h
expect_count 80 --age-over 1ms
expect_count 0 --age-over 1d
expect_count 0 --local-state ESTABLISHED
expect_count 0 --remote-state ESTABLISHED

# top: the question of the issue, in one command.
TOP=$(pol_ctl top --server-state CLOSE_WAIT --by dst)
lab_log "top --server-state CLOSE_WAIT --by dst:"$'\n'"$TOP"
FIRST=$(pol_ctl top --server-state CLOSE_WAIT --by dst --json | head -n 1)
"$LAB_PY" - "$FIRST" <<'EOF' || lab_fail "top --server-state CLOSE_WAIT --by dst --json: $FIRST"
import json, sys
g = json.loads(sys.argv[1])
assert g["key"]["addr"] == "10.0.2.2" and g["flows"] == 50, g
assert g["server"] == {"CLOSE_WAIT": 50} and g["client"] == {"FIN_WAIT_2": 50}, g
EOF
grep -Eq '^ *50 +10\.0\.2\.2 +FIN_WAIT_2 50 +CLOSE_WAIT 50$' <<<"$TOP" || lab_fail "top's text does not show 10.0.2.2 with 50"

# Every key, against what the test knows: "KEY FLOWS" lines, most flows first.
top_keys() { # top_keys BY: key and flows of each group, one per line
	pol_ctl top --by "$1" --json --limit 100 | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    g = json.loads(line)
    k = g["key"]
    key = k.get("addr", "") + (":" + str(k["port"]) if "port" in k else "")
    print(key.lstrip(":"), g["flows"])'
}
expect_top() { # expect_top BY WANT
	local got
	got=$(top_keys "$1" | tr '\n' ' ')
	[ "$got" = "$2" ] || lab_fail "top --by $1: got '$got', expected '$2'"
	RESULTS="$RESULTS  top --by $(printf '%-6s' "$1")  $got"$'\n'
}
expect_top dst "10.0.2.2 50 10.0.2.3 20 fd00:2::2 10 "
expect_top server "10.0.2.2:8080 50 10.0.2.3:9090 20 fd00:2::2:8080 10 "
expect_top src "10.0.1.2 70 fd00:1::2 10 "
expect_top client "10.0.1.2 70 fd00:1::2 10 "
expect_top dport "8080 60 9090 20 "
expect_top remote ""
expect_top local ""
[ "$(pol_ctl top --by dport --limit 1 --json | wc -l)" = 1 ] || lab_fail "top --limit 1 printed more than one group"

# summary: each side's states.
SUMMARY=$(pol_ctl summary --json)
"$LAB_PY" - "$SUMMARY" <<'EOF' || lab_fail "summary --json: $SUMMARY"
import json, sys
s = json.loads(sys.argv[1])
assert s["flows"] == 80 and s["ipv4"] == 70 and s["ipv6"] == 10 and s["half_open"] == 0, s
assert s["client"]["FIN_WAIT_2"] == 50 and s["client"]["ESTABLISHED"] == 30, s
assert s["server"]["CLOSE_WAIT"] == 50 and s["server"]["ESTABLISHED"] == 30, s
assert s["local_flows"] == 0 and sum(s["local"].values()) == 0, s
EOF
lab_log "summary:"$'\n'"$(pol_ctl summary)"$'\n'"$(pol_ctl summary --json)"
lab_log "list --sort age --limit 3:"$'\n'"$(pol_ctl list --sort age --limit 3)"
[ "$(pol_ctl list --json --sort packets --limit 5 | wc -l)" = 5 ] || lab_fail "list --limit 5 did not print 5 flows"

# Bad arguments: exit 2 and the argument named, before anything is sent.
refused() { # refused REGEX ARGS...
	local re=$1 rc=0 out
	shift
	out=$(pol_ctl "$@" 2>&1) || rc=$?
	[ "$rc" = 2 ] || lab_fail "handshakectl $*: exit $rc, expected 2: $out"
	grep -Eq -- "$re" <<<"$out" || lab_fail "handshakectl $*: expected '$re' in: $out"
	RESULTS="$RESULTS  $(printf '%-40s' "$*") -> $out"$'\n'
}
refused 'unknown state "CLOSE_WAT" \(did you mean "CLOSE_WAIT"\?\)' count --state CLOSE_WAT
refused '--server-state: unknown state "NOPE"' list --server-state NOPE
refused '--src: "10.0.0.0/33"' count --src 10.0.0.0/33
refused '--dst: "10.0.0.x" is not an address' top --dst 10.0.0.x
refused '--dport: "70000": ports go from 1 to 65535' count --dport 70000
refused '--port: "90-80": the range ends before it starts' count --port 90-80
refused '--family: "5" is not a family' count --family 5
refused '--idle-over: "soon" is not a duration' list --idle-over soon
refused '--by: "dest" is not a key' top --by dest
refused '--sort: "size" is not a sort order' list --sort size
refused 'add --all' kill --dport 8080
refused 'name the flows' kill
refused 'name the flows' kill --all
refused 'unknown option "--stat" \(did you mean "--state"\?\)' count --stat ESTABLISHED

# kill --dry-run resets nothing.
DRY=$(pol_ctl kill --server-state CLOSE_WAIT --dry-run --json)
[ "$(grep -c '"id"' <<<"$DRY")" = 50 ] || lab_fail "kill --dry-run listed $(grep -c '"id"' <<<"$DRY") flows, expected 50"
grep -q '{"dry_run":true,"flows":50}' <<<"$DRY" || lab_fail "kill --dry-run did not say 50: $(tail -n 1 <<<"$DRY")"
[ "$(ss_count s close-wait '( sport = :8080 )')" = 50 ] || lab_fail "kill --dry-run reset something"

# kill by filter: exactly the 50, on both ends.
KILL=$(pol_ctl kill --server-state CLOSE_WAIT --all) || lab_fail "kill --server-state CLOSE_WAIT --all failed: $KILL"
lab_log "kill --server-state CLOSE_WAIT --all: $KILL"
grep -Eq '^50 flows reset: 100 RSTs sent' <<<"$KILL" || lab_fail "kill said: $KILL"
lab_wait_until 5 "no CLOSE-WAIT socket left on the server" ss_is 0 s close-wait ||
	lab_fail "$(ss_count s close-wait) CLOSE-WAIT sockets left on the server"
lab_wait_until 5 "no FIN-WAIT-2 socket left on the client" ss_is 0 c fin-wait-2 ||
	lab_fail "$(ss_count c fin-wait-2) FIN-WAIT-2 sockets left on the client"
[ "$(ss_count s established)" = 30 ] || lab_fail "the server has $(ss_count s established) ESTABLISHED sockets, expected 30"
[ "$(ss_count c established)" = 30 ] || lab_fail "the client has $(ss_count c established) ESTABLISHED sockets, expected 30"
expect_count 30
expect_count 0 --server-state CLOSE_WAIT

echo "== handshakectl filters against a lab table =="
printf '%s' "$RESULTS"
echo "== top --server-state CLOSE_WAIT --by dst =="
echo "$TOP"
lab_pass "every filter counted as set up; top names 10.0.2.2 with 50; kill reset exactly the 50 CLOSE_WAIT flows (ss)"
