# shellcheck shell=bash
#
# policy_lib.sh: helpers shared by tests/netns/test_policy_*.sh, sourced
# after lib.sh.  They read the daemon's policy counters and events and start
# policy_ep.py drivers; like lib.sh's, the functions that start processes
# record their PIDs in this shell, so never call them inside $(...).

LAB_POLICY_EP="$LAB_DIR/policy_ep.py"

# pol_require_root: SKIP (exit 77) unless root (namespaces, iptables).
# tests/netns/run checks this and namespace support before any test runs;
# this covers a test started by hand.
pol_require_root() {
	[ "$(id -u)" = 0 ] || lab_skip "needs root (network namespaces, iptables)"
}

# pol_ep NS NAME ARGS...: runs policy_ep.py ARGS in the namespace in the
# background, output in $LAB_TMP/NAME.out (lab_ep_wait_line NAME ... works).
pol_ep() {
	local ns=$1 name=$2
	shift 2
	lab_bg "$ns" "$LAB_TMP/$name.out" "$LAB_PY" -u "$LAB_POLICY_EP" "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
}

# pol_ctl ARGS...: handshakectl in the router namespace (stdout and stderr).
pol_ctl() {
	lab_exec r timeout 10 "$HANDSHAKECTL" -s "$LAB_SOCK" "$@"
}

# pol_counter POLICY FIELD: a per-policy counter from `stats --json`
# (acted, dry_run, verified, refused, resets_sent); "none" if the daemon
# does not list that policy, "error" if stats did not answer.
pol_counter() {
	local out
	out=$(pol_ctl stats --json 2>/dev/null) || { echo error; return 1; }
	printf '%s\n' "$out" | "$LAB_PY" -c '
import json, sys
name, field = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    for p in json.loads(line).get("policies", []):
        if p.get("name") == name:
            print(p.get(field, "missing"))
            sys.exit(0)
print("none")
' "$1" "$2"
}

# pol_names: the policy names `stats --json` lists, one per line.
pol_names() {
	pol_ctl stats --json 2>/dev/null | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        for p in json.loads(line).get("policies", []):
            print(p.get("name"))
'
}

pol__counter_is() { [ "$(pol_counter "$1" "$2")" = "$3" ]; }

# pol_wait_counter POLICY FIELD VALUE [TIMEOUT]: waits until the counter says VALUE.
pol_wait_counter() {
	lab_wait_until "${4:-5}" "policy $1 $2 = $3" pol__counter_is "$1" "$2" "$3"
}

# pol_events REASON [CPORT]: how many "policy" events carry exactly this
# reason (for the flow with client port CPORT, if given).
pol_events() {
	[ -f "$LAB_TMP/events.jsonl" ] || { echo 0; return 0; }
	"$LAB_PY" -c '
import json, sys
reason, cport = sys.argv[1], sys.argv[2]
n = 0
with open(sys.argv[3]) as f:
    for line in f:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") != "policy" or e.get("reason") != reason:
            continue
        if cport and str(e.get("flow", {}).get("client", {}).get("port")) != cport:
            continue
        n += 1
print(n)
' "$1" "${2:-}" "$LAB_TMP/events.jsonl"
}

# pol_policy_events: every "policy" event (JSON lines), for messages.
pol_policy_events() {
	grep '"event":"policy"' "$LAB_TMP/events.jsonl" 2>/dev/null | tail -n "${1:-10}"
}

pol__events_at_least() { [ "$(pol_events "$1" "${3:-}")" -ge "$2" ]; }

# pol_wait_event REASON [TIMEOUT] [CPORT]: waits for such an event.
pol_wait_event() {
	lab_wait_until "${2:-5}" "a policy event \"$1\"" pol__events_at_least "$1" 1 "${3:-}"
}

# pol_flow_field SPORT CPORT FAMILY FIELD: a top-level field (id, age_ms,
# idle_ms, history) of that flow in `list --json`, or nothing when the
# daemon does not list it.
pol_flow_field() {
	lab_flows 2>/dev/null | "$LAB_PY" -c '
import json, sys
sport, cport, fam, field = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    f = json.loads(line)
    if f["server"]["port"] == sport and f["client"]["port"] == cport and f["family"] == fam:
        print(f.get(field, ""))
        break
' "$1" "$2" "$3" "$4"
}

# pol_flow_id SPORT CPORT FAMILY: the id of that flow, or nothing.
pol_flow_id() { pol_flow_field "$1" "$2" "$3" id; }

pol__flow_listed() { [ -n "$(pol_flow_id "$1" "$2" "$3")" ]; }

# pol_ss_count NS STATE-FILTER: sockets ss shows in that state (ss syntax:
# syn-recv, established, close-wait, ...).
pol_ss_count() {
	lab_exec "$1" ss -tanH state "$2" 2>/dev/null | wc -l
}

# pol_ms: milliseconds, monotonic enough for the intervals measured here.
pol_ms() { lab__now_ms; }
