#!/bin/bash
# test_drop_pcap: log.pcap holds exactly what the daemon dropped.  In strict
# mode, with `log: {pcap: ...}`, a forger in the client's network sends, in
# the client's name, a RST and a FIN+ACK 2^30 past the client's next
# sequence number (as test_hostile_spoofed_rst does), twice each.  The
# daemon drops the four; its stats say the capture wrote four packets; once
# it stops, `tcpdump -r` reads exactly those four from the file (RST, FIN,
# RST, FIN, from the client's address and port, with the forged sequence
# number), while the connection's own packets, all accepted, are not
# there; and `handshaked -r` reads the file back (four packets, invalid).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon
command -v tcpdump >/dev/null || lab_skip "tcpdump not installed (tests/install-deps)"

PORT=8080
ATTACKER=10.0.1.3

lab_up
PCAP=$LAB_TMP/dropped.pcap
lab_daemon_config "$LAB_TMP/handshaked.yaml" "table:
  strict: true"
# The log section is written by lab_daemon_config; the pcap keys join it.
sed -i "s|^  events: .*|&\n  pcap: $PCAP\n  pcap_max_mb: 1|" "$LAB_TMP/handshaked.yaml"
lab_start_daemon "$LAB_TMP/handshaked.yaml"
lab_queue_rule_add
ip -n "$LAB_NS_C" addr add "$ATTACKER/24" dev c0 || lab_fail "cannot add $ATTACKER to c0"
[ -f "$PCAP" ] || lab_fail "the daemon did not create $PCAP"

lab_server echo "$PORT" --no-close --hold 90
hl_ep c conn conns "$LAB_S4" "$PORT" --count 1 --interval 0.3 --duration 60 --hold 30 --io-timeout 10
lab_wait_until 10 "the connection" eval '[ -n "$(hl_conns_ports conn)" ]' ||
	lab_fail "the connection did not open: $(cat "$LAB_TMP/conn.out")"
hl_wait_rounds conn 3 10
CPORT=$(hl_conns_ports conn)
lab_expect_tracked ipv4 "$CPORT" "$PORT" ESTABLISHED ESTABLISHED

out=$(hl_ep_run c spoof --src "$LAB_C4" --sport "$CPORT" --dst "$LAB_S4" --dport "$PORT" \
	--iface c0 --offset $((1 << 30)) --repeat 2 2>&1) || lab_fail "the forger failed: $out"
lab_log "forger: $(tr '\n' ' ' <<<"$out")"
BAD=$(awk '$1 == "SENT" { print $3 }' <<<"$out")
[ -n "$BAD" ] || lab_fail "the forger sent nothing: $out"

lab_wait_until 5 "the daemon to drop the four forged packets" eval '[ "$(hl_stat packets.dropped)" -ge 4 ]' ||
	lab_fail "the daemon dropped $(hl_stat packets.dropped) packets, expected 4"
lab_wait_until 5 "the capture to write them" eval '[ "$(hl_stat drop_pcap.written)" = 4 ]' ||
	lab_fail "the capture wrote $(hl_stat drop_pcap.written) packets, expected 4"
hl_wait_rounds conn 3 10
DROPPED=$(hl_stat packets.dropped)
read -r LOST ERRORS <<<"$(hl_stat drop_pcap.lost drop_pcap.write_errors)"
[ "$DROPPED" = 4 ] && [ "$LOST" = 0 ] && [ "$ERRORS" = 0 ] ||
	lab_fail "dropped $DROPPED, capture lost $LOST, write errors $ERRORS (expected 4, 0, 0)"
hl_ctl metrics | grep -q '^handshaked_drop_pcap_written_total 4$' ||
	lab_fail "metrics do not show 4 packets written: $(hl_ctl metrics | grep drop_pcap)"

# Stop the daemon: the file is complete once it has exited.
kill -TERM "$LAB_DAEMON_PID"
lab_wait_until 10 "handshaked to exit" eval '! lab__alive '"$LAB_DAEMON_PID" || lab_fail "handshaked did not stop"

tcpdump -r "$PCAP" -n -tt -S >"$LAB_TMP/dropped.txt" 2>"$LAB_TMP/tcpdump.err" ||
	lab_fail "tcpdump cannot read $PCAP: $(cat "$LAB_TMP/tcpdump.err")"
cat "$LAB_TMP/dropped.txt"
[ "$(wc -l <"$LAB_TMP/dropped.txt")" = 4 ] || lab_fail "$PCAP holds $(wc -l <"$LAB_TMP/dropped.txt") packets, expected 4"
n=0
while read -r _ _ src _ dst flags seq _; do
	n=$((n + 1))
	want_flags="[R]," && [ $((n % 2)) = 0 ] && want_flags="[F.],"
	[ "$src" = "$LAB_C4.$CPORT" ] && [ "$dst" = "$LAB_S4.$PORT:" ] && [ "$flags" = "$want_flags" ] &&
		[ "${seq%%[:,]*}" = "$BAD" ] ||
		lab_fail "packet $n in $PCAP is not the forged one: $src > $dst $flags seq $seq (expected $want_flags seq $BAD)"
done < <(awk '{ print $1, $2, $3, $4, $5, $7, $9 }' "$LAB_TMP/dropped.txt")
grep -q 'raw IP\|RAW' "$LAB_TMP/tcpdump.err" || lab_fail "unexpected link type: $(cat "$LAB_TMP/tcpdump.err")"

"$HANDSHAKED" -r "$PCAP" --json >"$LAB_TMP/replay.jsonl" 2>"$LAB_TMP/replay.err" ||
	lab_fail "handshaked -r cannot read $PCAP: $(cat "$LAB_TMP/replay.err")"
tail -n 1 "$LAB_TMP/replay.jsonl" | grep -q '"packets":4,"link_type":"RAW"' ||
	lab_fail "handshaked -r did not read four raw IP packets: $(tail -n 1 "$LAB_TMP/replay.jsonl")"
lab_pass "4 forged packets dropped in strict mode, exactly those 4 in log.pcap (tcpdump -r and handshaked -r read it)"
