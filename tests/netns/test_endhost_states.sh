#!/bin/bash
# test_endhost_states: on an end host, the table's local endpoints are the
# host's sockets.
#
# handshaked runs in the host on PREROUTING and OUTPUT with the rules
# handshaked-rules installs.  The host opens 2000 connections, 200 at a
# time, alternating IPv4 and IPv6, to a remote whose port A closes first and
# whose port B lets the host close first, and leaks 300 of those to A in
# CLOSE_WAIT; one idle control connection per family stays ESTABLISHED, and
# 10 more connections are half-closed by the host and never answered, so the
# host waits in FIN_WAIT_2 facing a remote CLOSE_WAIT.
#   - for every state, the flows whose local endpoint is in it are as many
#     as the host's sockets in it (ss -tan), polled until equal (10 s);
#   - `list --local-state CLOSE_WAIT` returns exactly the 300 leaked sockets
#     (family and port, against the driver's own list and ss), every flow's
#     "local" is "client", and `--remote-state FIN_WAIT_2` returns their 300
#     peers, which ss in the remote shows in FIN-WAIT-2;
#   - `list --state CLOSE_WAIT` says 310 (either end): the 10 remote
#     CLOSE_WAITs are not the host's;
#   - stats: the addresses were read, no invalid packet, the daemon's
#     metrics count the host's endpoints by state as the list does;
#   - with the rules handshaked-rules makes by default, loopback is not
#     queued: connections over 127.0.0.1 and ::1 leave no flow.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/endhost_lib.sh"

eh_up
MIRROR=10
eh_workload load --control "$EH_PORT_C" --mirror "$MIRROR"

eh_expect_states_agree 10

leaked=$(eh_leaked load)
[ "$(wc -l <<<"$leaked")" = "$EH_LEAK" ] || lab_fail "the driver reports $(wc -l <<<"$leaked") leaked sockets"
listed=$(eh_local_ports CLOSE_WAIT) || lab_fail "list --local-state CLOSE_WAIT: a flow without a single local side"
n_listed=$(grep -c . <<<"$listed")
[ "$listed" = "$leaked" ] || lab_fail "list --local-state CLOSE_WAIT gives $n_listed flows, not the $EH_LEAK leaked sockets:
  $(diff <(echo "$leaked") <(echo "$listed") | head -n 10 | tr '\n' ' ')"
ss_cw=$(eh_ss_ports c close-wait "$EH_PORT_A")
[ "$ss_cw" = "$leaked" ] || lab_fail "ss shows other CLOSE-WAIT sockets than the leaked ones:
  $(diff <(echo "$leaked") <(echo "$ss_cw") | head -n 10 | tr '\n' ' ')"
lab_log "list --local-state CLOSE_WAIT: exactly the $EH_LEAK leaked sockets ($(grep -c '^4 ' <<<"$listed") IPv4, $(grep -c '^6 ' <<<"$listed") IPv6)"

remote=$(eh_ctl list --remote-state FIN_WAIT_2 --json | grep -c '^{')
lab_assert_eq "$remote" "$EH_LEAK" "list --remote-state FIN_WAIT_2"
lab_assert_eq "$(eh_ss_count s fin-wait-2 "$EH_PORT_A")" "$EH_LEAK" "the remote's FIN-WAIT-2 sockets (ss)"
either=$(eh_ctl list --state CLOSE_WAIT --json | grep -c '^{')
lab_assert_eq "$either" $((EH_LEAK + MIRROR)) "list --state CLOSE_WAIT (either end: the leaks and the remote's)"
lab_assert_eq "$(eh_ctl list --local-state FIN_WAIT_2 --remote-state CLOSE_WAIT --json | grep -c '^{')" "$MIRROR" \
	"list --local-state FIN_WAIT_2 --remote-state CLOSE_WAIT"
lab_assert_eq "$(eh_ss_count s close-wait "$EH_PORT_C")" "$MIRROR" "the remote's CLOSE-WAIT sockets (ss)"
not_client=$(eh_ctl list --json | grep '^{' | grep -vc '"local":"client"')
lab_assert_eq "$not_client" 0 "flows whose local endpoint is not the client"
lab_log "--remote-state FIN_WAIT_2: $remote; --state CLOSE_WAIT (either end): $either; every flow local: client"

est=$(eh_ctl list --local-state ESTABLISHED --json | grep -c '^{')
lab_assert_eq "$est" 2 "flows whose local endpoint is ESTABLISHED (the two control connections)"
lab_assert_eq "$(eh_stat local_addresses.read)" True "stats: local addresses read"
lab_assert_eq "$(eh_stat packets.invalid)" 0 "stats: invalid packets"
cw_metric=$(eh_ctl metrics | awk '$1 == "handshaked_local_endpoints{state=\"CLOSE_WAIT\"}" { print $2 }')
lab_assert_eq "$cw_metric" "$EH_LEAK" "metrics: handshaked_local_endpoints{state=\"CLOSE_WAIT\"}"
lab_bg c "$LAB_TMP/lo.out" "$LAB_PY" -u "$EH_EP" loopback --port 7100 --rounds 2 --hold 60
LAB_EP_PID[lo]=$LAB_LAST_PID
lab_ep_wait_line lo '^READY' 10
lab_assert_eq "$(eh_ctl list --json | grep -c '"port":7100')" 0 "flows over loopback with lo left out of the rules"
lab_pass "$EH_COUNT connections: local states match ss for every state; $EH_LEAK CLOSE_WAIT listed exactly"
