#!/bin/bash
# test_track_loopback: a connection a host makes to itself is tracked once,
# with the kernel's packet counts, whichever of its chains the rules queue.
#
# The client namespace is the end host, running handshaked.  A looped-back
# packet passes OUTPUT, then comes back through lo into INPUT, so with
# catch-all rules in both chains the daemon is shown every packet twice.
# Three rounds: rules in INPUT only, in OUTPUT only, in both.
# In each, connections over 127.0.0.1, ::1 and from the host's own address
# to itself exchange data and stay open; the daemon must list each once,
# and its packet counts must equal the client socket's segs_out and
# segs_in (ss -ti).  With both chains queued, the second sightings are
# counted as loopback repeats; with one chain, there are none.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root
lab_require_daemon

lab_up
lab_daemon_config "$LAB_TMP/handshaked.yaml"
lab_start_daemon "$LAB_TMP/handshaked.yaml" c

# stat PATH: a number from `stats --json` (PATH like packets.loopback_repeat).
stat() {
	pol_ctl stats --json 2>/dev/null | "$LAB_PY" -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        v = json.loads(line)
        for k in sys.argv[1].split("."):
            v = v[k]
        print(v)
        sys.exit(0)
print("error")
' "$1" 2>/dev/null || echo error
}

# rules CHAIN...: the host's queueing rules, in these chains only (both families).
rules() {
	lab_ipt46 c -F INPUT && lab_ipt46 c -F OUTPUT || lab_fail "cannot flush the host's rules"
	local chain
	for chain in "$@"; do
		lab_ipt46 c -A "$chain" -p tcp -j NFQUEUE --queue-num "$LAB_QNUM" --queue-bypass ||
			lab_fail "cannot add the NFQUEUE rule to $chain"
	done
}

# counts SPORT CPORT: "flows client_packets server_packets" of the daemon's flows on those ports.
counts() {
	lab_flows 2>/dev/null | "$LAB_PY" -c '
import json, sys
sport, cport = int(sys.argv[1]), int(sys.argv[2])
n = c = s = 0
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        f = json.loads(line)
        if f["server"]["port"] == sport and f["client"]["port"] == cport:
            n += 1
            c, s = f["client"]["packets"], f["server"]["packets"]
print(n, c, s)
' "$1" "$2"
}

# kernel CPORT SPORT: "1 segs_out segs_in" of the client socket (ss -ti), or "0 0 0".
kernel() {
	lab_exec c ss -tinH state established "( sport = :$1 and dport = :$2 )" 2>/dev/null | tr -s ' \n' ' ' |
		awk '{ o = i = -1
		       for (k = 1; k <= NF; k++) {
			       if ($k ~ /^segs_out:/) { sub(/segs_out:/, "", $k); o = $k }
			       if ($k ~ /^segs_in:/) { sub(/segs_in:/, "", $k); i = $k }
		       }
		       if (o >= 0) { print 1, o, i; found = 1 } }
		     END { if (!found) print 0, 0, 0 }'
}

LAST=""
agree() {
	local k d
	k=$(kernel "$1" "$2")
	d=$(counts "$2" "$1")
	LAST="kernel (socket, segs_out, segs_in): $k; daemon (flows, client packets, server packets): $d"
	[ "${k%% *}" = 1 ] && [ "$d" = "$k" ]
}

# connect NAME ADDR PORT [--ipv6]: a server and a client on the host, data both ways, held open;
# then the daemon must agree with the client socket.
connect() {
	local name=$1 addr=$2 port=$3 v6=${4:-}
	lab_endpoint c "srv$name" server "$port" $v6 --hold 60
	lab_ep_wait_line "srv$name" '^LISTENING ' 10
	lab_endpoint c "cl$name" client "$addr" "$port" --send 64 --echo --hold 60
	lab_ep_wait_line "cl$name" '^ECHO_OK ' 10
	local cport
	cport=$(lab_ep_field "cl$name" LOCAL)
	[ -n "$cport" ] || lab_fail "$name: the client did not report its port"
	lab_wait_until 5 "the daemon's counts of $addr:$port to equal the kernel's" agree "$cport" "$port" ||
		lab_fail "$name ($addr): $LAST"
	lab_log "$name ($addr :$cport -> :$port): $LAST"
}

round() {
	local label=$1 port=$2
	shift 2
	rules "$@"
	local repeats0 invalid0
	repeats0=$(stat packets.loopback_repeat) invalid0=$(stat packets.invalid)
	connect "$label-v4" 127.0.0.1 "$port"
	connect "$label-v6" ::1 $((port + 1)) --ipv6
	connect "$label-own" "$LAB_C4" $((port + 2))
	ROUND_REPEATS=$(($(stat packets.loopback_repeat) - repeats0))
	local invalid=$(($(stat packets.invalid) - invalid0))
	lab_log "$label: loopback repeats $ROUND_REPEATS, invalid $invalid"
	lab_assert_eq "$invalid" 0 "$label: packets counted invalid"
}

# INPUT only comes first: after OUTPUT stopped queueing, the daemon takes
# the ways in for repeats for a few seconds more (HS_LOOPBACK_MEMORY_MS).
round input 23000 INPUT
lab_assert_eq "$ROUND_REPEATS" 0 "INPUT only: loopback repeats"
round output 22000 OUTPUT
lab_assert_eq "$ROUND_REPEATS" 0 "OUTPUT only: loopback repeats"
round both 21000 OUTPUT INPUT
[ "$ROUND_REPEATS" -gt 0 ] || lab_fail "both chains queued, yet no loopback packet was seen twice"
lab_pass "loopback connections tracked once with the kernel's counts, whichever chains are queued"
