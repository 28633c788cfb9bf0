# shellcheck shell=bash
#
# hostile_lib.sh: helpers shared by tests/netns/test_hostile_*.sh, sourced
# after lib.sh.  They read the daemon's counters (`handshakectl stats
# --json`), its memory, the router's rule counters, and start hostile_ep.py
# drivers.  Like lib.sh's, the functions that start processes record their
# PIDs in this shell, so never call them inside $(...).

HL_EP="$LAB_DIR/hostile_ep.py"

# hl_require_root: SKIP unless root (tests/netns/run checks it too).
hl_require_root() {
	[ "$(id -u)" = 0 ] || lab_skip "needs root (network namespaces, iptables)"
}

# hl_ep NS NAME ARGS...: hostile_ep.py ARGS in the background, output in
# $LAB_TMP/NAME.out (lab_ep_wait_line NAME ... and lab_ep_exit NAME work).
hl_ep() {
	local ns=$1 name=$2
	shift 2
	lab_bg "$ns" "$LAB_TMP/$name.out" "$LAB_PY" -u "$HL_EP" "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
}

# hl_ep_run NS ARGS...: hostile_ep.py ARGS in the foreground (bounded).
hl_ep_run() {
	local ns=$1
	shift
	lab_exec "$ns" timeout 60 "$LAB_PY" -u "$HL_EP" "$@"
}

# hl_ctl ARGS...: handshakectl in the router namespace.
hl_ctl() {
	lab_exec r timeout 15 "$HANDSHAKECTL" -s "$LAB_SOCK" "$@"
}

# hl_stats: `stats --json` as one line (empty and status 1 if no answer).
hl_stats() {
	local out
	out=$(hl_ctl stats --json 2>/dev/null) || return 1
	printf '%s\n' "$out" | grep -m1 '^{'
}

# hl_get JSON PATH...: the values at dotted PATHs (packets.seen) of a stats
# line, space-separated; "missing" for an absent key.
hl_get() {
	local json=$1
	shift
	printf '%s\n' "$json" | "$LAB_PY" -c '
import json, sys
d = json.loads(sys.stdin.readline())
out = []
for path in sys.argv[1:]:
    v = d
    for k in path.split("."):
        v = v.get(k) if isinstance(v, dict) else None
        if v is None:
            break
    out.append("missing" if v is None else str(v))
print(" ".join(out))
' "$@"
}

# hl_stat PATH...: hl_get on a fresh `stats --json`.
hl_stat() {
	local js
	js=$(hl_stats) || { echo "noanswer"; return 1; }
	hl_get "$js" "$@"
}

# hl_rss [PID]: the daemon's resident set size in kB (VmRSS).
hl_rss() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/${1:-$LAB_DAEMON_PID}/status" 2>/dev/null
}

# hl_rule_pkts NS FAMILY CHAIN TABLE MATCH: packets counted by the first rule
# of CHAIN whose `-S`-free listing line contains MATCH (iptables -L -v -x).
hl_rule_pkts() {
	local ns=$1 fam=$2 chain=$3 table=$4 match=$5 cmd=iptables
	[ "$fam" = 6 ] && cmd=ip6tables
	lab_exec "$ns" "$cmd" -w 5 -t "$table" -L "$chain" -v -n -x |
		awk -v m="$match" 'NR > 2 && index($0, m) { print $1; found = 1; exit } END { if (!found) print 0 }'
}

# hl_queue_id: the last packet id the kernel gave the queue (counts every
# packet actually queued to the daemon; fail-open passes get none).
hl_queue_id() {
	lab_queue_info | sed -n 's/.* id=\([0-9]*\).*/\1/p'
}

# hl_router_mac: the MAC address of the router's client-side interface.
hl_router_mac() {
	lab_exec r cat /sys/class/net/r0/address
}

# hl_flow_states CPORT SPORT: "CLIENT_STATE SERVER_STATE" of that flow, or NOFLOW.
hl_flow_states() {
	local c s
	c=$(lab_flow_state client "$2" "$1" 2>/dev/null)
	s=$(lab_flow_state server "$2" "$1" 2>/dev/null)
	echo "$c $s"
}

# hl_conns_rounds NAME: rounds completed so far by a `conns` driver.
hl_conns_rounds() {
	awk '$1 == "R" { n = $2 } END { print n + 0 }' "$LAB_TMP/$1.out" 2>/dev/null
}

# hl_conns_ok NAME: the `conns` driver is alive and has not failed.
hl_conns_ok() {
	! grep -q '^FAIL ' "$LAB_TMP/$1.out" 2>/dev/null && lab__alive "${LAB_EP_PID[$1]}"
}

# hl_conns_ports NAME: the local ports of a `conns` driver's connections.
hl_conns_ports() {
	awk '$1 == "CONNECTED" { print $3 }' "$LAB_TMP/$1.out"
}

# hl_wait_rounds NAME N [TIMEOUT]: waits until NAME completed N more rounds
# than now; fails the test if it fails or stalls.
hl_wait_rounds() {
	local name=$1 more=$2 timeout=${3:-15} base
	base=$(hl_conns_rounds "$name")
	lab_wait_until "$timeout" "$more more rounds of exchanges from $name" \
		eval '! hl_conns_ok '"$name"' || [ "$(hl_conns_rounds '"$name"')" -ge '"$((base + more))"' ]' ||
		lab_fail "connections $name stalled: $(tail -n 3 "$LAB_TMP/$name.out" | tr '\n' ' ')"
	hl_conns_ok "$name" || lab_fail "connections $name failed: $(grep -m1 '^FAIL' "$LAB_TMP/$name.out")"
}

# hl_daemon_log_clean: no sanitizer, valgrind or crash report in the daemon's output.
hl_daemon_log_clean() {
	! grep -Eq 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|SUMMARY: |Invalid (read|write)|uninitialised|definitely lost: [1-9]' \
		"$LAB_TMP/handshaked.log"
}

# hl_sum A B ...: sum of integers.
hl_sum() {
	local s=0 x
	for x in "$@"; do s=$((s + x)); done
	echo "$s"
}

# hl_flow_line CADDR CPORT SPORT: the JSON of the newest listed flow with
# exactly that client address and port and that server port (empty if
# none).  Unlike lab_flow_state, the client address counts: a random-source
# flood makes flows that share the real client's port.
hl_flow_line() {
	lab_flows 2>/dev/null | "$LAB_PY" -c '
import json, sys
addr, cport, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
best = None
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    f = json.loads(line)
    c, s = f.get("client", {}), f.get("server", {})
    if c.get("addr") == addr and c.get("port") == cport and s.get("port") == sport:
        if best is None or f.get("id", 0) > best.get("id", 0):
            best = f
if best is not None:
    print(json.dumps(best, sort_keys=True))
' "$1" "$2" "$3"
}

# hl_flow_field JSON KEY...: fields of a flow line (client.state, idle_ms, ...).
hl_flow_field() {
	local json=$1
	shift
	[ -n "$json" ] || { echo NOFLOW; return 1; }
	hl_get "$json" "$@"
}

hl__tracked_agrees_at() { # CADDR CPORT SPORT
	local line
	line=$(hl_flow_line "$1" "$2" "$3")
	HL_FL=$(hl_flow_field "$line" client.state server.state)
	HL_SS="$(lab_ss_state c "$2" "$3") $(lab_ss_state s "$3" "$2")"
	[ "$HL_FL" = "$HL_SS" ]
}

# hl_expect_tracked_at CADDR CPORT SPORT CLIENT_STATE SERVER_STATE: like
# lab_expect_tracked (ss first, then the daemon agrees within 5 s), with the
# flow found by client address and port.
hl_expect_tracked_at() {
	local caddr=$1 cport=$2 sport=$3 cwant=$4 swant=$5
	lab_expect_ss c "$cport" "$sport" "$cwant" 10
	lab_expect_ss s "$sport" "$cport" "$swant" 10
	HL_FL="" HL_SS=""
	lab_wait_until 5 "handshakectl to agree with ss on $caddr:$cport -> :$sport" \
		hl__tracked_agrees_at "$caddr" "$cport" "$sport" ||
		lab_fail "ss and handshakectl disagree on $caddr:$cport -> :$sport: ss $HL_SS, handshakectl $HL_FL
  flow: $(hl_flow_line "$caddr" "$cport" "$sport")"
	[ "$HL_SS" = "$cwant $swant" ] ||
		lab_fail "the endpoints moved on while the daemon was read: $HL_SS (expected $cwant $swant)"
	lab_log "tracked ($caddr:$cport -> :$sport): $HL_FL (ss agrees)"
}
