# shellcheck shell=bash
#
# tfo_lib.sh: TCP Fast Open (RFC 7413) between real Linux stacks, for the
# netns tests test_track_tfo (daemon in the router) and
# test_track_tfo_endhost (daemon on the client host).  Sourced after lib.sh.
#
# Every connection is checked at each step: the endpoints' own view of
# Fast Open (TCP_INFO's TCPI_OPT_SYN_DATA, read by tfo_ep.py), the
# daemon's states against ss through the handshake, both halves of the
# close and the end, and the history letter T for a SYN that carried data.

TFO_EP="$LAB_DIR/tfo_ep.py"
TFO_SYN_DATA=0          # SYNs with data the connections so far sent

# tfo_sysctl NS VALUE: net.ipv4.tcp_fastopen in one namespace (it is per namespace).
tfo_sysctl() {
	lab_exec "$1" sysctl -qw net.ipv4.tcp_fastopen="$2" || lab_fail "cannot set tcp_fastopen=$2 in $1"
}

# tfo_server NAME PORT ARGS...: tfo_ep.py server in the server namespace, serving
# connections one at a time; its close waits for $LAB_TMP/NAME.close.<peer-port>.
tfo_server() {
	local name=$1 port=$2
	shift 2
	lab_bg s "$LAB_TMP/$name.out" "$LAB_PY" -u "$TFO_EP" server "$port" --trigger "$LAB_TMP/$name.close" \
		--timeout 20 "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
	lab_ep_wait_line "$name" '^LISTENING ' 10
	lab_expect_ss s "$port" "" LISTEN 5
}

# tfo_history FAMILY CPORT SPORT: the history string of that flow.
tfo_history() {
	lab_flow_show "$3" "$2" "$1" | "$LAB_PY" -c '
import json, sys
flows = [json.loads(l) for l in sys.stdin if l.strip()]
print(max(flows, key=lambda f: f["id"])["history"] if flows else "NOFLOW")'
}

# tfo_conn SERVER FAMILY ADDR PORT MODE SYN_DATA TAKEN: one connection from
# start to end.  MODE is tfo_ep.py's client mode; SYN_DATA (0/1) says whether
# the client's SYN carries the request; TAKEN (0/1) whether the server takes it.
tfo_conn() {
	local srv=$1 fam=$2 addr=$3 port=$4 mode=$5 syn_data=$6 taken=$7
	local name="cl$RANDOM$RANDOM" cport hist
	lab_endpoint_tfo_client "$name" "$addr" "$port" "$mode"
	lab_ep_wait_line "$name" '^REPLY ' 10
	cport=$(lab_ep_field "$name" LOCAL)
	lab_ep_wait_line "$srv" "^REQUEST $cport " 10
	lab_assert_eq "$(awk -v p="$cport" '$1 == "REQUEST" && $2 == p { print $3 }' "$LAB_TMP/$srv.out")" "$taken" \
		"server $srv took the SYN's data (TCPI_OPT_SYN_DATA) for :$cport"
	lab_assert_eq "$(awk '$1 == "REPLY" { print $3 }' "$LAB_TMP/$name.out")" "$taken" \
		"client :$cport saw its SYN's data acknowledged (TCPI_OPT_SYN_DATA)"
	lab_expect_tracked "$fam" "$cport" "$port" ESTABLISHED ESTABLISHED
	hist=$(tfo_history "$fam" "$cport" "$port")
	if [ "$syn_data" = 1 ]; then
		TFO_SYN_DATA=$((TFO_SYN_DATA + 1))
		case "$hist" in T*) ;; *) lab_fail "history of :$cport is '$hist': no T for its SYN's data" ;; esac
	else
		case "$hist" in S*) ;; *) lab_fail "history of :$cport is '$hist', expected S first (no SYN data)" ;; esac
	fi
	touch "$LAB_TMP/$name.close"
	lab_ep_wait_line "$srv" "^EOF $cport" 10
	lab_expect_tracked "$fam" "$cport" "$port" FIN_WAIT_2 CLOSE_WAIT
	touch "$LAB_TMP/$srv.close.$cport"
	lab_ep_wait_line "$srv" "^CLOSED $cport" 10
	lab_expect_tracked "$fam" "$cport" "$port" TIME_WAIT CLOSED
	lab_log "tfo $mode :$cport -> :$port ($fam): syn data $syn_data, taken $taken, history $(tfo_history "$fam" "$cport" "$port")"
}

# lab_endpoint_tfo_client NAME ADDR PORT MODE: a tfo_ep.py client in the client namespace.
lab_endpoint_tfo_client() {
	local name=$1
	lab_bg c "$LAB_TMP/$name.out" "$LAB_PY" -u "$TFO_EP" client "$2" "$3" --mode "$4" \
		--trigger "$LAB_TMP/$name.close" --timeout 20
	LAB_EP_PID[$name]=$LAB_LAST_PID
}

# tfo_conn_server_first SERVER FAMILY ADDR PORT: the client's first ACK is
# lost (dropped in its own OUTPUT), so the Fast Open server answers and
# closes while still SYN-RCVD (RFC 7413 4.2.2): its data and FIN pass before
# any ACK of its SYN.  The server must run with --close-after-reply.
tfo_conn_server_first() {
	local srv=$1 fam=$2 addr=$3 port=$4 name="cl$RANDOM$RANDOM" cport
	local ipt=lab_ipt
	[ "$fam" = ipv6 ] && ipt=lab_ip6t
	"$ipt" c -I OUTPUT -p tcp --dport "$port" --tcp-flags ALL ACK -m statistic --mode nth --every 1000000 \
		--packet 0 -j DROP || lab_fail "cannot add the rule that loses the client's first ACK"
	lab_endpoint_tfo_client "$name" "$addr" "$port" connect
	lab_ep_wait_line "$name" '^REPLY ' 10
	cport=$(lab_ep_field "$name" LOCAL)
	lab_ep_wait_line "$srv" "^CLOSED $cport" 10
	lab_assert_eq "$(awk -v p="$cport" '$1 == "REQUEST" && $2 == p { print $3 }' "$LAB_TMP/$srv.out")" 1 \
		"server $srv took the SYN's data for :$cport"
	[ "$("$ipt" c -L OUTPUT -v -n -x | awk '$3 == "DROP" { n += $1 } END { print n + 0 }')" = 1 ] ||
		lab_fail "the client's first ACK was not the one lost"
	"$ipt" c -D OUTPUT -p tcp --dport "$port" --tcp-flags ALL ACK -m statistic --mode nth --every 1000000 \
		--packet 0 -j DROP
	TFO_SYN_DATA=$((TFO_SYN_DATA + 1))
	touch "$LAB_TMP/$name.close"
	lab_ep_wait_line "$name" "^CLOSED $cport" 10
	lab_expect_tracked "$fam" "$cport" "$port" CLOSED TIME_WAIT
	lab_log "tfo server-first :$cport -> :$port ($fam): history $(tfo_history "$fam" "$cport" "$port")"
}

# tfo_expect_no_invalid: handshakectl stats --json counts no invalid packet,
# and as many SYNs with data as the connections sent.
tfo_expect_no_invalid() {
	local out
	out=$(lab_exec r timeout 5 "$HANDSHAKECTL" -s "$LAB_SOCK" stats --json) || lab_fail "stats failed"
	printf '%s\n' "$out" | grep '^{' | "$LAB_PY" -c '
import json, sys
s = json.loads(sys.stdin.read())
bad = {k: v for k, v in s["invalid"].items() if v}
if bad or s["packets"]["invalid"] or s["packets"]["dropped"]:
    sys.exit("invalid packets %s (invalid %d, dropped %d)" % (bad, s["packets"]["invalid"], s["packets"]["dropped"]))
if s["packets"]["syn_with_data"] < int(sys.argv[1]):
    sys.exit("syn_with_data %d, expected at least %s" % (s["packets"]["syn_with_data"], sys.argv[1]))
print("seen %d packets, %d SYNs with data, none invalid" % (s["packets"]["seen"], s["packets"]["syn_with_data"]))
' "$TFO_SYN_DATA" >"$LAB_TMP/tfo_stats.out" 2>&1 || lab_fail "stats: $(cat "$LAB_TMP/tfo_stats.out")
$out"
	lab_log "stats: $(cat "$LAB_TMP/tfo_stats.out")"
}

# tfo_run_all: the whole set, both families: (a) a Fast Open server (cookie
# first, then data in the SYN, taken; sendto(MSG_FASTOPEN) too; answering and
# closing in SYN-RCVD), (b) a server without Fast Open (the SYN's data is
# ignored, the client sends it again), (c) data without a cookie
# (tcp_fastopen 0x4 on the client, 0x200|0x400 on the server).
tfo_run_all() {
	local pa pb pc fam addr v6
	tfo_sysctl c 3
	tfo_sysctl s 3
	for fam in ipv4 ipv6; do
		if [ "$fam" = ipv4 ]; then addr=$LAB_S4; v6=""; else addr=$LAB_S6; v6=--ipv6; fi
		pa=$(lab_rand_port); pb=$((pa + 1)); pc=$((pa + 2))
		lab_exec c ip tcp_metrics flush all 2>/dev/null
		tfo_server "tfoA$fam" "$pa" $v6 --tfo 16 --count 4
		tfo_conn "tfoA$fam" "$fam" "$addr" "$pa" connect 0 0        # no cookie yet: asks for one
		tfo_conn "tfoA$fam" "$fam" "$addr" "$pa" connect 1 1
		tfo_conn "tfoA$fam" "$fam" "$addr" "$pa" sendto 1 1
		tfo_conn "tfoA$fam" "$fam" "$addr" "$pa" connect 1 1
		tfo_server "tfoF$fam" "$((pa + 3))" $v6 --tfo 16 --count 1 --close-after-reply
		tfo_conn_server_first "tfoF$fam" "$fam" "$addr" "$((pa + 3))"
		tfo_server "tfoB$fam" "$pb" $v6 --count 2
		tfo_conn "tfoB$fam" "$fam" "$addr" "$pb" connect 1 0        # the cookie is the address's: data in the SYN
		tfo_conn "tfoB$fam" "$fam" "$addr" "$pb" sendto 1 0
		tfo_sysctl c 5
		tfo_sysctl s $((0x602))
		tfo_server "tfoC$fam" "$pc" $v6 --count 1
		tfo_conn "tfoC$fam" "$fam" "$addr" "$pc" connect 1 1
		tfo_sysctl c 3
		tfo_sysctl s 3
	done
	tfo_expect_no_invalid
}
