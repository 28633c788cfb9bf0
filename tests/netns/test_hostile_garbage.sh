#!/bin/bash
# test_hostile_garbage: hand-made malformed and unusual packets, sent at the
# link layer from a third address of the client (10.0.1.3, fd00:1::3) to the
# server through the router (the server's raw PREROUTING drops them, so no
# answer muddles the counts), one kind at a time, both families:
#   trunc_tcp   IP header says TCP, only 10 bytes of TCP follow
#   doff_small  TCP data offset 3 (< 5)
#   doff_big    TCP data offset 15 (60 bytes) on a 20-byte segment
#   bad_option  TCP option with length 0
#   synfin      SYN+FIN, no payload
#   noflags     no flag at all, no payload
#   ext_chain   IPv6: ten destination-options headers before TCP
#   ext_short   IPv6: three destination-options headers before a TCP SYN (legal:
#               parsed as TCP, each SYN creates a flow)
#   frag        IPv4 / IPv6 fragments of a 1200-byte TCP segment
#   bad_iplen   IP length field beyond the frame (the kernel drops it: ip_rcv)
# The kernel may drop some of them before FORWARD, so for each kind the test
# compares what reached FORWARD (a counting rule for that source) and the
# NFQUEUE rule (iptables -L FORWARD -v -x in the router) with the daemon's
# counters: every queued packet is seen and accepted (strict is off), and
# the counter for that kind (malformed.<reason>, fragments, invalid.bad_flags)
# rises by exactly what reached the queue.  Afterwards the daemon is alive,
# and normal connections (IPv4 and IPv6) still work and are tracked.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon

A4=10.0.1.3
A6=fd00:1::3
N=${HS_HOSTILE_GARBAGE_N:-6}
DPORT=8090

lab_track_up
ip -n "$LAB_NS_C" addr add "$A4/24" dev c0 || lab_fail "cannot add $A4 to c0"
# Deprecated (preferred_lft 0): never picked as the source of real connections.
ip -n "$LAB_NS_C" addr add "$A6/64" dev c0 nodad preferred_lft 0 || lab_fail "cannot add $A6 to c0"
# The server drops whatever the attacker sends, before any TCP processing.
lab_ipt s -t raw -A PREROUTING -s "$A4" -j DROP || lab_fail "server raw rule"
lab_ip6t s -t raw -A PREROUTING -s "$A6" -j DROP || lab_fail "server raw rule (v6)"
# Counting rules, first in the router's FORWARD: what reached FORWARD from the attacker.
lab_ipt r -I FORWARD 1 -p tcp -s "$A4" || lab_fail "router counting rule"
lab_ip6t r -I FORWARD 1 -p tcp -s "$A6" || lab_fail "router counting rule (v6)"
RMAC=$(hl_router_mac)
[ -n "$RMAC" ] || lab_fail "no MAC for the router's r0"

lab_server echo4 8080
lab_server echo6 8081 --ipv6
lab_assert "a connection before the garbage (IPv4)" lab_connect c "$LAB_S4" 8080 3
lab_assert "a connection before the garbage (IPv6)" lab_connect c "$LAB_S6" 8081 3
sleep 0.5

queued() { # FAMILY: packets counted by the NFQUEUE rule
	lab_queue_rule_packets "$1"
}
reached() { # FAMILY: packets from the attacker counted in FORWARD
	if [ "$1" = 6 ]; then hl_rule_pkts r 6 FORWARD filter "$A6"; else hl_rule_pkts r 4 FORWARD filter "$A4"; fi
}

SUMMARY=""
TOTAL_QUEUED=0
# one KIND FAMILY COUNTER: sends N packets of KIND, checks the counts.
# COUNTER is the stats path that must rise by what was queued ("-" for none).
one() {
	local kind=$1 fam=$2 counter=$3 src=$A4 dst=$LAB_S4
	[ "$fam" = 6 ] && { src=$A6; dst=$LAB_S6; }
	local q0 r0 s0 q1 r1 s1 out
	q0=$(queued "$fam"); r0=$(reached "$fam")
	s0=$(hl_stats) || lab_fail "stats did not answer before $kind/v$fam"
	out=$(hl_ep_run c garbage "$kind" --src "$src" --dst "$dst" --dport "$DPORT" --dmac "$RMAC" \
		--iface c0 --count "$N" 2>&1) || lab_fail "sending $kind/v$fam failed: $out"
	local frames
	frames=$(awk '$1 == "SENT" { print $3 }' <<<"$out")
	# Wait until the daemon has seen everything the NFQUEUE rule queued.
	sleep 0.3
	lab_wait_until 5 "the daemon to see the $kind/v$fam packets" eval '
		[ $(( $(hl_stat packets.seen) - $(hl_get "$s0" packets.seen) )) -ge $(( $(queued '"$fam"') - q0 )) ]'
	sleep 0.2
	q1=$(queued "$fam"); r1=$(reached "$fam")
	s1=$(hl_stats) || lab_fail "stats did not answer after $kind/v$fam (daemon alive: $(lab__alive "$LAB_DAEMON_PID" && echo yes || echo no))"
	lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died on $kind/v$fam"
	local dq=$((q1 - q0)) dr=$((r1 - r0))
	local dseen=$(( $(hl_get "$s1" packets.seen) - $(hl_get "$s0" packets.seen) ))
	local dacc=$(( $(hl_get "$s1" packets.accepted) - $(hl_get "$s0" packets.accepted) ))
	local dmal=$(( $(hl_get "$s1" packets.malformed) - $(hl_get "$s0" packets.malformed) ))
	local dfrag=$(( $(hl_get "$s1" packets.fragments) - $(hl_get "$s0" packets.fragments) ))
	local dinv=$(( $(hl_get "$s1" packets.invalid) - $(hl_get "$s0" packets.invalid) ))
	local dcnt=-
	[ "$counter" != - ] && dcnt=$(( $(hl_get "$s1" "$counter") - $(hl_get "$s0" "$counter") ))
	local line
	line=$(printf '%-11s v%s sent %3s  FORWARD %3s  queued %3s  seen %3s  accepted %3s  malformed %3s  fragments %3s  invalid %3s  %s %s' \
		"$kind" "$fam" "$frames" "$dr" "$dq" "$dseen" "$dacc" "$dmal" "$dfrag" "$dinv" "$counter" "$dcnt")
	lab_log "$line"
	SUMMARY="$SUMMARY$line"$'\n'
	TOTAL_QUEUED=$((TOTAL_QUEUED + dq))
	# What reached FORWARD from the attacker is all that was queued (no other traffic).
	[ "$dq" = "$dr" ] || lab_fail "$kind/v$fam: $dr packets reached FORWARD but the NFQUEUE rule counted $dq"
	[ "$dseen" = "$dq" ] || lab_fail "$kind/v$fam: the NFQUEUE rule queued $dq packets, the daemon saw $dseen"
	[ "$dacc" = "$dseen" ] || lab_fail "$kind/v$fam: seen $dseen, accepted $dacc (strict is off: all pass)"
	if [ "$counter" != - ]; then
		[ "$dcnt" = "$dq" ] || lab_fail "$kind/v$fam: $dq packets queued, but $counter rose by $dcnt"
	fi
	LAST_Q=$dq
}

for fam in 4 6; do
	one trunc_tcp "$fam" malformed.truncated_tcp
	one doff_small "$fam" malformed.bad_data_offset
	one doff_big "$fam" malformed.bad_data_offset
	one bad_option "$fam" malformed.bad_tcp_option
	one synfin "$fam" invalid.bad_flags
	one noflags "$fam" invalid.bad_flags
	one frag "$fam" packets.fragments
	FRAG_Q[fam]=$LAST_Q
	one bad_iplen "$fam" -
	BADLEN_Q[fam]=$LAST_Q
done
one ext_chain 6 malformed.ext_chain_too_long
EXT_Q=$LAST_Q
one ext_short 6 flows.created
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died"

echo "== what reached the daemon, per kind ($N packets or fragmented packets each) =="
printf '%s' "$SUMMARY"
echo "== stats =="
hl_ctl stats | sed 's/^/  /'

# The parser's paths must actually have been exercised, not skipped by the kernel.
[ "${FRAG_Q[4]}" -gt 0 ] || lab_fail "no IPv4 fragment reached the queue"
[ "${FRAG_Q[6]}" -gt 0 ] || lab_fail "no IPv6 fragment reached the queue"
[ "$EXT_Q" -gt 0 ] || lab_fail "no IPv6 packet with a 10-header chain reached the queue"
for k in truncated_tcp bad_data_offset bad_tcp_option ext_chain_too_long; do
	[ "$(hl_stat "malformed.$k")" -gt 0 ] || lab_fail "malformed.$k is 0: no such packet reached the daemon"
done
[ "$(hl_stat invalid.bad_flags)" -gt 0 ] || lab_fail "invalid.bad_flags is 0"
lab_log "IP-length garbage queued: v4 ${BADLEN_Q[4]}, v6 ${BADLEN_Q[6]} (the kernel drops these in ip_rcv/ipv6_rcv)"

# Normal traffic afterwards.
lab_assert "a connection after the garbage (IPv4)" lab_connect c "$LAB_S4" 8080 3
lab_assert "a connection after the garbage (IPv6)" lab_connect c "$LAB_S6" 8081 3
lab_server hold 8082 --no-close
lab_client cl "$LAB_S4" 8082
lab_expect_tracked ipv4 "$LAB_CPORT" 8082 ESTABLISHED ESTABLISHED
hl_daemon_log_clean || lab_fail "the daemon's output has an error report"
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died"
lab_pass "$TOTAL_QUEUED malformed/unusual packets queued, each counted by reason; traffic and tracking intact"
