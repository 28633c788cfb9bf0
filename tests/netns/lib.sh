# shellcheck shell=bash
#
# lib.sh: the handshaked network-namespace lab, sourced by tests/netns/test_*.sh.
#
#   client ns                router ns                      server ns
#   c0 10.0.1.2/24  <--->  r0 10.0.1.1   r1 10.0.2.1  <--->  s0 10.0.2.2/24
#      fd00:1::2/64           fd00:1::1    fd00:2::1            fd00:2::2/64
#
# The router forwards both families; the NFQUEUE rule (lab_queue_rule_add)
# and handshaked (lab_start_daemon) live in the router namespace.  The router
# also has a default route toward the client (which does not forward), so that
# replies to addresses outside the lab die inside the lab.  Nothing here
# touches the host's own network namespace, firewall or routes.
#
# Names are unique per run ($LAB_PREFIX, default hs<PID>, plus a counter), so
# parallel runs do not collide.  Cleanup (lab_down, run from the EXIT/INT/TERM
# trap that lab_up installs) kills exactly the processes this shell started
# (lab_bg, lab_endpoint, lab_start_daemon) and any process left inside the
# namespaces it created, deletes those namespaces and its temporary directory.
#
# Conventions: states are the RFC 793 names handshakectl prints (SYN_SENT,
# FIN_WAIT_2, ...); "CLOSED" means "no socket".  Every wait is bounded.
# Functions that start processes record their PIDs in this shell, so never
# call them inside $(...).

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=$(cd "$LAB_DIR/../.." && pwd)
LAB_PY=/usr/bin/python3                 # python3-scapy is installed for this one
LAB_ENDPOINT="$LAB_DIR/endpoint.py"
LAB_FLOWQ="$LAB_DIR/flowq.py"
HANDSHAKED=${HANDSHAKED:-$LAB_ROOT/build/handshaked}
HANDSHAKECTL=${HANDSHAKECTL:-$LAB_ROOT/build/handshakectl}

LAB_PREFIX=${LAB_PREFIX:-hs$$}
LAB_QNUM=${LAB_QNUM:-3}
LAB_COUNTER=${LAB_COUNTER:-0}

# Addresses (fixed: every lab has its own namespaces, so they never clash).
LAB_C4=10.0.1.2;  LAB_RC4=10.0.1.1;  LAB_RS4=10.0.2.1;  LAB_S4=10.0.2.2
LAB_C6=fd00:1::2; LAB_RC6=fd00:1::1; LAB_RS6=fd00:2::1; LAB_S6=fd00:2::2

LAB_NS_C=""; LAB_NS_R=""; LAB_NS_S=""
LAB_NETNS=()            # namespaces this shell created
LAB_PIDS=()             # processes this shell started
LAB_TMP=""              # temporary directory of the current lab
LAB_SOCK=""             # control socket of the daemon
LAB_DAEMON_PID=""
LAB_LAST_PID=""
declare -gA LAB_EP_PID=()
LAB__OWNER=$BASHPID
LAB__TRAPPED=0
LAB__DOWN_RUNNING=0

# ---------------------------------------------------------------------------
# messages, assertions, waiting

lab_log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

lab_skip() {
	echo "SKIP: $*"
	exit 77
}

lab_pass() {
	echo "PASS${1:+: $*}"
	exit 0
}

# Prints the lab's state for a failure message (to stderr).
lab_diag() {
	[ -n "$LAB_NS_R" ] || return 0
	{
		echo "---- diagnostics ----"
		local ns
		for ns in "$LAB_NS_C" "$LAB_NS_R" "$LAB_NS_S"; do
			[ -n "$ns" ] || continue
			echo "# ss -tan in $ns"
			timeout 5 ip netns exec "$ns" ss -tanH 2>&1 | sed 's/^/  /'
		done
		echo "# iptables -S (router, client, server)"
		for ns in "$LAB_NS_R" "$LAB_NS_C" "$LAB_NS_S"; do
			timeout 5 ip netns exec "$ns" iptables -w -S 2>/dev/null | grep -v '^-P' | sed "s/^/  $ns: /"
			timeout 5 ip netns exec "$ns" iptables -w -t mangle -S 2>/dev/null | grep -v '^-P' | sed "s/^/  $ns mangle: /"
			timeout 5 ip netns exec "$ns" ip6tables -w -S 2>/dev/null | grep -v '^-P' | sed "s/^/  $ns v6: /"
		done
		echo "# nfnetlink_queue $LAB_QNUM in the router: $(lab_queue_info)"
		if [ -n "$LAB_SOCK" ] && [ -x "$HANDSHAKECTL" ]; then
			echo "# handshakectl list --json"
			lab_flows 2>&1 | head -n 40 | sed 's/^/  /'
		fi
		if [ -n "$LAB_TMP" ] && [ -f "$LAB_TMP/handshaked.log" ]; then
			echo "# handshaked output (last 40 lines)"
			tail -n 40 "$LAB_TMP/handshaked.log" | sed 's/^/  /'
		fi
		if [ -n "$LAB_TMP" ]; then
			local f
			for f in "$LAB_TMP"/*.out; do
				[ -f "$f" ] || continue
				echo "# $(basename "$f")"
				tail -n 12 "$f" | sed 's/^/  /'
			done
		fi
		echo "---------------------"
	} >&2
}

lab_fail() {
	echo "FAIL: $*" >&2
	lab_diag
	exit 1
}

# lab_assert_eq ACTUAL EXPECTED MESSAGE
lab_assert_eq() {
	[ "$1" = "$2" ] || lab_fail "$3: got '$1', expected '$2'"
}

# lab_assert MESSAGE CMD...: CMD must succeed.
lab_assert() {
	local msg=$1
	shift
	"$@" || lab_fail "$msg (command failed: $*)"
}

lab__now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

# lab_wait_until TIMEOUT_S DESCRIPTION CMD...: runs CMD (in this shell, its
# output discarded) every 0.1 s until it succeeds.  Returns 1 and says what
# it waited for after TIMEOUT_S seconds (fractions allowed, e.g. 2.5).
lab_wait_until() {
	local timeout=$1 desc=$2
	shift 2
	local t=${EPOCHREALTIME//[.,]/}
	local limit_us
	limit_us=$(awk -v s="$timeout" 'BEGIN { printf "%d", s * 1000000 }')
	local end=$((t + limit_us))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		t=${EPOCHREALTIME//[.,]/}
		if [ "$t" -ge "$end" ]; then
			echo "timeout after ${timeout}s waiting for: $desc" >&2
			return 1
		fi
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------
# namespaces

# lab_ns c|client|r|router|s|server|NAME -> namespace name
lab_ns() {
	case "$1" in
	c | client) echo "$LAB_NS_C" ;;
	r | router) echo "$LAB_NS_R" ;;
	s | server) echo "$LAB_NS_S" ;;
	*) echo "$1" ;;
	esac
}

# lab_exec NS CMD...: runs CMD in the namespace, in the foreground.
lab_exec() {
	local ns
	ns=$(lab_ns "$1")
	shift
	[ -n "$ns" ] || { echo "lab_exec: no lab is up" >&2; return 1; }
	ip netns exec "$ns" "$@"
}

lab__check_tools() {
	local t missing=""
	for t in ip iptables ip6tables ss timeout awk; do
		command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
	done
	[ -x "$LAB_PY" ] || missing="$missing $LAB_PY"
	[ -z "$missing" ] || lab_fail "missing tools:$missing (tests/install-deps installs them)"
}

lab__install_trap() {
	[ "$LAB__TRAPPED" = 1 ] && return 0
	LAB__TRAPPED=1
	trap 'lab__on_exit' EXIT
	trap 'lab__on_signal 130' INT
	trap 'lab__on_signal 143' TERM
}

lab__on_exit() {
	local rc=$?
	[ "$BASHPID" = "$LAB__OWNER" ] || return "$rc"
	lab_down
	return "$rc"
}

lab__on_signal() {
	[ "$BASHPID" = "$LAB__OWNER" ] || exit "$1"
	echo "interrupted: cleaning up the lab" >&2
	trap - EXIT
	lab_down
	exit "$1"
}

lab__netns_add() {
	ip netns add "$1" || lab_fail "ip netns add $1 failed (can this kernel create network namespaces?)"
	LAB_NETNS+=("$1")
}

# lab_up: creates the three namespaces, links, addresses, routes and a temp
# directory ($LAB_TMP), and checks that the path works in both families.
lab_up() {
	lab__check_tools
	lab__install_trap
	[ -z "$LAB_NS_R" ] || lab_fail "lab_up: a lab is already up ($LAB_NS_R)"
	LAB_COUNTER=$((LAB_COUNTER + 1))
	local base="${LAB_PREFIX}-${LAB_COUNTER}"
	LAB_TMP=$(mktemp -d "/tmp/hs-netns.${base}.XXXXXX") || lab_fail "mktemp failed"
	LAB_NS_C="${base}-c"
	LAB_NS_R="${base}-r"
	LAB_NS_S="${base}-s"
	local ns
	for ns in "$LAB_NS_C" "$LAB_NS_R" "$LAB_NS_S"; do
		lab__netns_add "$ns"
		# Per-namespace settings, before any link exists: no DAD delay.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 >/dev/null 2>&1
		ip -n "$ns" link set lo up || lab_fail "lo up in $ns"
	done
	ip -n "$LAB_NS_C" link add c0 type veth peer name r0 netns "$LAB_NS_R" ||
		lab_fail "cannot create a veth pair (client-router)"
	ip -n "$LAB_NS_S" link add s0 type veth peer name r1 netns "$LAB_NS_R" ||
		lab_fail "cannot create a veth pair (server-router)"

	ip -n "$LAB_NS_C" addr add "$LAB_C4/24" dev c0
	ip -n "$LAB_NS_C" addr add "$LAB_C6/64" dev c0 nodad
	ip -n "$LAB_NS_R" addr add "$LAB_RC4/24" dev r0
	ip -n "$LAB_NS_R" addr add "$LAB_RC6/64" dev r0 nodad
	ip -n "$LAB_NS_R" addr add "$LAB_RS4/24" dev r1
	ip -n "$LAB_NS_R" addr add "$LAB_RS6/64" dev r1 nodad
	ip -n "$LAB_NS_S" addr add "$LAB_S4/24" dev s0
	ip -n "$LAB_NS_S" addr add "$LAB_S6/64" dev s0 nodad
	ip -n "$LAB_NS_C" link set c0 up
	ip -n "$LAB_NS_R" link set r0 up
	ip -n "$LAB_NS_R" link set r1 up
	ip -n "$LAB_NS_S" link set s0 up

	ip netns exec "$LAB_NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		>/dev/null || lab_fail "cannot enable forwarding in the router"
	ip -n "$LAB_NS_C" route add default via "$LAB_RC4" || lab_fail "client v4 route"
	ip -n "$LAB_NS_S" route add default via "$LAB_RS4" || lab_fail "server v4 route"
	ip -n "$LAB_NS_C" -6 route add default via "$LAB_RC6" || lab_fail "client v6 route"
	ip -n "$LAB_NS_S" -6 route add default via "$LAB_RS6" || lab_fail "server v6 route"
	# Replies to addresses outside the lab (spoofed sources) go to the
	# client, which does not forward: they reach FORWARD, then die.
	ip -n "$LAB_NS_R" route add default via "$LAB_C4" || lab_fail "router v4 default route"
	ip -n "$LAB_NS_R" -6 route add default via "$LAB_C6" || lab_fail "router v6 default route"

	lab_wait_until 5 "IPv4 path client -> server" lab_probe c "$LAB_S4" 1 ||
		lab_fail "no IPv4 path from client to server"
	lab_wait_until 5 "IPv6 path client -> server" lab_probe c "$LAB_S6" 1 ||
		lab_fail "no IPv6 path from client to server"
	lab_wait_until 5 "IPv4 path server -> client" lab_probe s "$LAB_C4" 1 ||
		lab_fail "no IPv4 path from server to client"
	lab_log "lab up: $LAB_NS_C <-> $LAB_NS_R <-> $LAB_NS_S, tmp $LAB_TMP"
}

lab__alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

# Our own child (not a reused PID)?
lab__ours() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	local _state ppid _rest
	read -r _state ppid _rest <<<"$st"
	[ "$ppid" = "$LAB__OWNER" ]
}

lab__any_alive() {
	local p
	for p in "$@"; do lab__alive "$p" && return 0; done
	return 1
}

# lab_down: removes what lab_up and the helpers created, and nothing else.
# Idempotent; safe to call at any point.
lab_down() {
	[ "$LAB__DOWN_RUNNING" = 1 ] && return 0
	LAB__DOWN_RUNNING=1
	local p ns live=()
	for p in "${LAB_PIDS[@]}"; do
		if lab__ours "$p" && lab__alive "$p"; then
			live+=("$p")
			kill -TERM "$p" 2>/dev/null
			kill -CONT "$p" 2>/dev/null # a SIGSTOPped daemon must see the TERM
		fi
	done
	if [ "${#live[@]}" -gt 0 ]; then
		lab_wait_until 3 "lab processes to exit" eval '! lab__any_alive "${live[@]}"' 2>/dev/null
		for p in "${live[@]}"; do
			lab__alive "$p" && kill -KILL "$p" 2>/dev/null
		done
	fi
	for p in "${LAB_PIDS[@]}"; do
		lab__ours "$p" && wait "$p" 2>/dev/null
	done
	LAB_PIDS=()
	for ns in "${LAB_NETNS[@]}"; do
		# Anything still running inside a namespace we made is ours too.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	LAB_NETNS=()
	if [ -n "$LAB_TMP" ] && [ -d "$LAB_TMP" ]; then
		if [ -n "${LAB_KEEP_TMP:-}" ]; then
			echo "lab: kept $LAB_TMP" >&2
		else
			rm -rf -- "$LAB_TMP"
		fi
	fi
	LAB_TMP=""; LAB_NS_C=""; LAB_NS_R=""; LAB_NS_S=""
	LAB_SOCK=""; LAB_DAEMON_PID=""
	LAB_EP_PID=()
	LAB__DOWN_RUNNING=0
}

# ---------------------------------------------------------------------------
# processes

# lab_bg NS OUTFILE CMD...: starts CMD in the namespace in the background,
# output to OUTFILE; records the PID (also in $LAB_LAST_PID).
lab_bg() {
	local ns out=$2
	ns=$(lab_ns "$1")
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 </dev/null &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_endpoint NS NAME ARGS...: runs endpoint.py ARGS in the namespace in the
# background; its report lines go to $LAB_TMP/NAME.out.
lab_endpoint() {
	local ns=$1 name=$2
	shift 2
	lab_bg "$ns" "$LAB_TMP/$name.out" "$LAB_PY" -u "$LAB_ENDPOINT" "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
}

# lab_ep_line NAME REGEX: does endpoint NAME's output have a matching line?
lab_ep_line() { grep -Eq -- "$2" "$LAB_TMP/$1.out" 2>/dev/null; }

# lab_ep_wait_line NAME REGEX [TIMEOUT]: waits for such a line; fails the
# test if the endpoint exits first or the time runs out.
lab_ep_wait_line() {
	local name=$1 re=$2 timeout=${3:-10}
	lab_wait_until "$timeout" "'$re' from endpoint $name" lab__ep_line_or_dead "$name" "$re" ||
		lab_fail "endpoint $name never printed '$re'"
	lab_ep_line "$name" "$re" || lab_fail "endpoint $name exited before printing '$re'"
}

lab__ep_line_or_dead() {
	lab_ep_line "$1" "$2" && return 0
	! lab__alive "${LAB_EP_PID[$1]}"
}

# lab_ep_field NAME KEYWORD: second word of NAME's first line starting with
# KEYWORD (for instance the port of "CONNECTED 43210").
lab_ep_field() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$LAB_TMP/$1.out" 2>/dev/null
}

# lab_ep_exit NAME [TIMEOUT]: waits for endpoint NAME to exit and returns its
# exit status (124 on timeout: it is then killed).
lab_ep_exit() {
	local pid=${LAB_EP_PID[$1]} timeout=${2:-15}
	if ! lab_wait_until "$timeout" "endpoint $1 to exit" eval '! lab__alive '"$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# lab_probe NS ADDR PORT [TIMEOUT]: 0 if a TCP connect to ADDR:PORT gets an
# answer (connected or refused) within TIMEOUT seconds.  A closed port is the
# quickest path check there is (no ping here).
lab_probe() {
	lab_exec "$1" timeout 10 "$LAB_PY" -c '
import socket, sys
a, p, t = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET)
s.settimeout(t)
try:
    s.connect((a, p))
except ConnectionRefusedError:
    sys.exit(0)
except OSError:
    sys.exit(1)
sys.exit(0)
' "$2" "$3" "${4:-1}"
}

# lab_connect NS ADDR PORT [TIMEOUT]: a full TCP exchange through the lab:
# connect, send 64 bytes, expect them echoed (endpoint.py server), close.
lab_connect() {
	lab_exec "$1" timeout 20 "$LAB_PY" "$LAB_ENDPOINT" client "$2" "$3" \
		--connect-timeout "${4:-3}" --io-timeout "${4:-3}" --send 64 --echo --close --hold 0 \
		>/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# firewall

# lab_ipt NS ARGS... / lab_ip6t NS ARGS... / lab_ipt46 NS ARGS... (both)
lab_ipt() { local ns=$1; shift; lab_exec "$ns" iptables -w 5 "$@"; }
lab_ip6t() { local ns=$1; shift; lab_exec "$ns" ip6tables -w 5 "$@"; }
lab_ipt46() { lab_ipt "$@" && lab_ip6t "$@"; }

# lab_queue_rule_add [QNUM] / lab_queue_rule_del [QNUM]: the NFQUEUE rule in
# the router's FORWARD chain, both families, with --queue-bypass.
lab_queue_rule_add() {
	local q=${1:-$LAB_QNUM}
	lab_ipt46 r -A FORWARD -p tcp -j NFQUEUE --queue-num "$q" --queue-bypass ||
		lab_fail "cannot add the NFQUEUE rule (queue $q) in the router"
}
lab_queue_rule_del() {
	local q=${1:-$LAB_QNUM}
	lab_ipt46 r -D FORWARD -p tcp -j NFQUEUE --queue-num "$q" --queue-bypass ||
		lab_fail "cannot delete the NFQUEUE rule (queue $q) in the router"
}

# lab_queue_rule_add_endhost NS [QNUM]: the daemon on an end host: NFQUEUE
# rules for the packets NS receives and sends, both families, with
# --queue-bypass (start the daemon with lab_start_daemon CONFIG NS).  Incoming
# packets are queued in mangle PREROUTING (addrtype LOCAL), not in INPUT:
# early demux attaches a socket to a packet before INPUT, and a packet held
# in the queue there can reach a socket that closed meanwhile (see
# test_track_early_demux and the README).  Outgoing ones go in OUTPUT.
lab_queue_rule_add_endhost() {
	local ns=$1 q=${2:-$LAB_QNUM}
	lab_ipt46 "$ns" -t mangle -A PREROUTING -p tcp -m addrtype --dst-type LOCAL -j NFQUEUE --queue-num "$q" \
		--queue-bypass || lab_fail "cannot add the NFQUEUE rule (queue $q) in $ns PREROUTING"
	lab_ipt46 "$ns" -A OUTPUT -p tcp -j NFQUEUE --queue-num "$q" --queue-bypass ||
		lab_fail "cannot add the NFQUEUE rule (queue $q) in $ns OUTPUT"
}

# lab_queue_rule_packets [4|6]: packets counted by the router's NFQUEUE rule.
lab_queue_rule_packets() {
	local cmd=iptables
	[ "${1:-4}" = 6 ] && cmd=ip6tables
	lab_exec r "$cmd" -w 5 -L FORWARD -v -n -x |
		awk '$3 == "NFQUEUE" { n += $1 } END { print n + 0 }'
}

# lab_queue_info [QNUM]: the kernel's view of the queue in the router, from
# /proc/net/netfilter/nfnetlink_queue: "portid=P total=N dropped=D
# user_dropped=U id=I", or "unbound" when no program is bound to it.
lab_queue_info() {
	local q=${1:-$LAB_QNUM}
	lab_exec r cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null | awk -v q="$q" '
	$1 == q { printf "portid=%s total=%s dropped=%s user_dropped=%s id=%s\n", $2, $3, $6, $7, $8; found = 1 }
	END { if (!found) print "unbound" }'
}

# lab_queue_total [QNUM]: packets waiting in the queue for a verdict.
lab_queue_total() {
	lab_queue_info "${1:-}" | sed -n 's/.* total=\([0-9]*\).*/\1/p'
}

# Packets that must not reach their destination: rules in an endpoint's
# OUTPUT chain (the packet never leaves) or the router's mangle POSTROUTING
# (after the daemon saw it in FORWARD).
#   lab_drop_syn_in_router SPORT                SYNs to SPORT die after FORWARD
#   lab_drop_out NS SPORT DPORT FLAGS           NS drops what it sends from
#                                               SPORT to DPORT with exactly FLAGS
#                                               ("ACK" = pure ACK, "RST" = any RST)
lab_drop_syn_in_router() {
	lab_ipt46 r -t mangle -A POSTROUTING -p tcp --dport "$1" --syn -j DROP ||
		lab_fail "cannot add the SYN drop rule in the router"
}
lab_drop_out() {
	local ns=$1 sport=$2 dport=$3 flags=$4 match
	case "$flags" in
	RST) match="--tcp-flags RST RST" ;;
	*) match="--tcp-flags ALL $flags" ;;
	esac
	# shellcheck disable=SC2086
	lab_ipt46 "$ns" -A OUTPUT -p tcp --sport "$sport" --dport "$dport" $match -j DROP ||
		lab_fail "cannot add an OUTPUT drop rule in $ns"
}

# ---------------------------------------------------------------------------
# endpoint states as the endpoints' own kernels see them

# lab_ss_state NS LPORT [PPORT]: the state of the socket with local port LPORT
# (and peer port PPORT when given), mapped to our names.  With PPORT, no such
# socket means CLOSED.  Without, a connection socket wins over a listener;
# a listener alone gives LISTEN; nothing gives CLOSED.
lab_ss_state() {
	lab_exec "$1" ss -tanH 2>/dev/null | awk -v lp="$2" -v pp="${3:-}" '
	function name(s) {
		if (s == "ESTAB") return "ESTABLISHED"
		if (s == "SYN-SENT") return "SYN_SENT"
		if (s == "SYN-RECV") return "SYN_RCVD"
		if (s == "FIN-WAIT-1") return "FIN_WAIT_1"
		if (s == "FIN-WAIT-2") return "FIN_WAIT_2"
		if (s == "CLOSING") return "CLOSING"
		if (s == "TIME-WAIT") return "TIME_WAIT"
		if (s == "CLOSE-WAIT") return "CLOSE_WAIT"
		if (s == "LAST-ACK") return "LAST_ACK"
		if (s == "LISTEN") return "LISTEN"
		if (s == "UNCONN" || s == "CLOSE") return "CLOSED"
		return "UNKNOWN(" s ")"
	}
	{
		l = $4; p = $5
		sub(/.*:/, "", l); sub(/.*:/, "", p)
		if (l != lp) next
		if ($1 == "LISTEN") { if (pp == "") listen = 1; next }
		if (pp != "" && p != pp) next
		found = name($1)
	}
	END {
		if (found != "") print found
		else if (listen) print "LISTEN"
		else print "CLOSED"
	}'
}

lab__ss_is() { [ "$(lab_ss_state "$1" "$2" "$3")" = "$4" ]; }

# lab_wait_ss NS LPORT PPORT STATE [TIMEOUT]: waits until lab_ss_state says
# STATE (PPORT may be "" for none).
lab_wait_ss() {
	local ns=$1 lp=$2 pp=$3 want=$4 timeout=${5:-10}
	lab_wait_until "$timeout" "ss in $(lab_ns "$ns") to show :$lp${pp:+ <-> :$pp} in $want" \
		lab__ss_is "$ns" "$lp" "$pp" "$want"
}

# lab_expect_ss NS LPORT PPORT STATE [TIMEOUT]: the same, failing the test
# (the lab or the drivers did not do their part: not the daemon's fault).
lab_expect_ss() {
	lab_wait_ss "$@" ||
		lab_fail "lab: $(lab_ns "$1") :$2${3:+ <-> :$3} is $(lab_ss_state "$1" "$2" "$3"), expected $4"
}

# lab_expect_ss_stays NS LPORT PPORT STATE SECONDS: the state holds.
lab_expect_ss_stays() {
	local end=$(($(lab__now_ms) + ${5%.*} * 1000 + 500)) st
	while [ "$(lab__now_ms)" -lt "$end" ]; do
		st=$(lab_ss_state "$1" "$2" "$3")
		[ "$st" = "$4" ] || lab_fail "lab: $(lab_ns "$1") :$2 left $4 (now $st)"
		sleep 0.2
	done
}

# ---------------------------------------------------------------------------
# the daemon

# lab_require_daemon: SKIP (exit 77) until both programs are built.
lab_require_daemon() {
	[ -x "$HANDSHAKED" ] || lab_skip "$HANDSHAKED not built yet (make)"
	[ -x "$HANDSHAKECTL" ] || lab_skip "$HANDSHAKECTL not built yet (make)"
}

# lab_daemon_config FILE [EXTRA_YAML]: writes a configuration for this lab
# (queue $LAB_QNUM, control socket and events file in $LAB_TMP).
lab_daemon_config() {
	local file=$1
	cat >"$file" <<EOF
# written by tests/netns/lib.sh for lab $LAB_NS_R
queue:
  num: $LAB_QNUM
control:
  socket: $LAB_TMP/control.sock
log:
  level: info
  events: $LAB_TMP/events.jsonl
${2:-}
EOF
}

# lab_start_daemon CONFIG [NS]: starts handshaked -c CONFIG in the router
# namespace (or NS: an end host) in the background (output in
# $LAB_TMP/handshaked.log), records its PID in $LAB_DAEMON_PID and waits
# (10 s at most) until its control socket answers `handshakectl list --json`.
# The control socket is a path, so handshakectl reaches it from any namespace.
lab_start_daemon() {
	local config=$1 ns=${2:-r}
	[ -f "$config" ] || lab_fail "lab_start_daemon: no config $config"
	LAB_SOCK=$(sed -n 's/^[[:space:]]*socket:[[:space:]]*//p' "$config" | head -n 1 |
		sed 's/[[:space:]]*#.*//; s/^["'\'']//; s/["'\'']$//')
	[ -n "$LAB_SOCK" ] || lab_fail "lab_start_daemon: no control: socket: in $config"
	lab_bg "$ns" "$LAB_TMP/handshaked.log" "$HANDSHAKED" -c "$config"
	LAB_DAEMON_PID=$LAB_LAST_PID
	lab_wait_until 10 "handshaked's control socket $LAB_SOCK to answer" lab__daemon_ready ||
		lab_fail "handshaked did not answer on $LAB_SOCK within 10 s"
	lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked exited during start-up"
	lab_log "handshaked up, pid $LAB_DAEMON_PID, socket $LAB_SOCK"
}

lab__daemon_ready() {
	lab__alive "$LAB_DAEMON_PID" || return 0 # stop waiting: it died
	[ -S "$LAB_SOCK" ] && lab_flows >/dev/null 2>&1
}

# lab_flows: the daemon's table, JSON Lines on stdout.
lab_flows() {
	[ -n "$LAB_SOCK" ] || { echo "lab_flows: no daemon started" >&2; return 1; }
	lab_exec r timeout 5 "$HANDSHAKECTL" -s "$LAB_SOCK" list --json
}

# lab_flow_state SIDE SPORT [CPORT] [FAMILY]: SIDE's state in the newest flow
# with that server port (and client port, family); NOFLOW if none.
lab_flow_state() {
	local out
	out=$(lab_flows 2>/dev/null) || { echo "NOANSWER"; return 1; }
	printf '%s\n' "$out" | "$LAB_PY" "$LAB_FLOWQ" state --side "$1" --sport "$2" \
		${3:+--cport "$3"} ${4:+--family "$4"}
}

# lab_flow_show SPORT [CPORT] [FAMILY]: the matching flows' JSON.
lab_flow_show() {
	lab_flows 2>/dev/null | "$LAB_PY" "$LAB_FLOWQ" show --sport "$1" ${2:+--cport "$2"} ${3:+--family "$3"}
}

lab__flow_is() { [ "$(lab_flow_state "$1" "$2" "$3" "$4")" = "$5" ]; }

# lab_expect_flow SIDE SPORT CPORT FAMILY STATE [TIMEOUT]: the daemon shows
# STATE for that side.
lab_expect_flow() {
	local timeout=${6:-5}
	lab_wait_until "$timeout" "handshakectl: $1 of :$3 -> :$2 ($4) in $5" \
		lab__flow_is "$1" "$2" "$3" "$4" "$5" ||
		lab_fail "handshakectl shows $1 of :$3 -> :$2 ($4) as $(lab_flow_state "$1" "$2" "$3" "$4"), expected $5
  flow: $(lab_flow_show "$2" "$3" "$4")"
}

# lab_expect_tracked FAMILY CPORT SPORT CLIENT_STATE SERVER_STATE [SERVER_PEER]
#   1. the endpoints' kernels reach those states (ss; else the lab failed),
#   2. handshakectl shows, for the client and server side of that flow, the
#      same states as ss does (waiting up to 5 s for the daemon to catch up).
# SERVER_PEER (default CPORT) is the peer port used to read the server's ss
# state; "" reads the port alone (a bare listener then reads LISTEN).
lab_expect_tracked() {
	local fam=$1 cport=$2 sport=$3 cwant=$4 swant=$5
	local speer=${6-$cport}
	lab_expect_ss c "$cport" "$sport" "$cwant" 10
	lab_expect_ss s "$sport" "$speer" "$swant" 10
	LAB__SS_C=""; LAB__SS_S=""; LAB__FL_C=""; LAB__FL_S=""
	if ! lab_wait_until 5 "handshakectl to agree with ss" \
		lab__tracked_agrees "$fam" "$cport" "$sport" "$speer"; then
		lab_fail "ss and handshakectl disagree on :$cport -> :$sport ($fam):
  client: ss $LAB__SS_C, handshakectl $LAB__FL_C
  server: ss $LAB__SS_S, handshakectl $LAB__FL_S
  flow: $(lab_flow_show "$sport" "$cport" "$fam")"
	fi
	[ "$LAB__SS_C" = "$cwant" ] && [ "$LAB__SS_S" = "$swant" ] ||
		lab_fail "the endpoints moved on while the daemon was read: client $LAB__SS_C, server $LAB__SS_S (expected $cwant/$swant)"
	lab_log "tracked ($fam :$cport -> :$sport): client $LAB__FL_C, server $LAB__FL_S (ss agrees)"
}

lab__tracked_agrees() {
	LAB__FL_C=$(lab_flow_state client "$3" "$2" "$1")
	LAB__FL_S=$(lab_flow_state server "$3" "$2" "$1")
	LAB__SS_C=$(lab_ss_state c "$2" "$3")
	LAB__SS_S=$(lab_ss_state s "$3" "$4")
	[ "$LAB__FL_C" = "$LAB__SS_C" ] && [ "$LAB__FL_S" = "$LAB__SS_S" ]
}

# lab_track_up [EXTRA_YAML]: the usual start of a daemon test: lab, config,
# daemon, NFQUEUE rule.
lab_track_up() {
	lab_require_daemon
	lab_up
	lab_daemon_config "$LAB_TMP/handshaked.yaml" "${1:-}"
	lab_start_daemon "$LAB_TMP/handshaked.yaml"
	lab_queue_rule_add
}

# lab_server NAME PORT ARGS...: starts an endpoint.py server in the server
# namespace and waits until it listens.
lab_server() {
	local name=$1 port=$2
	shift 2
	lab_endpoint s "$name" server "$port" "$@"
	lab_ep_wait_line "$name" '^LISTENING ' 10
	lab_expect_ss s "$port" "" LISTEN 5
}

# lab_client NAME ADDR PORT ARGS...: starts an endpoint.py client in the
# client namespace and waits until it knows its local port ($LAB_CPORT).
lab_client() {
	local name=$1
	shift
	lab_endpoint c "$name" client "$@"
	lab_ep_wait_line "$name" '^LOCAL ' 10
	LAB_CPORT=$(lab_ep_field "$name" LOCAL)
	[ -n "$LAB_CPORT" ] || lab_fail "client $name did not report its port"
}

# lab_rand_port: a port in 20000-29999, outside the ephemeral range.
lab_rand_port() { echo $((20000 + RANDOM % 10000)); }

# The lab's traffic captured and replayed offline: lab_replay_capture, lab_replay_pass.
. "$LAB_DIR/replay_lib.sh"
