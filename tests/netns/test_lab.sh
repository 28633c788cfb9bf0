#!/bin/bash
# test_lab: self-test of lib.sh and endpoint.py, without the daemon.
#
# Proves that the lab forwards TCP in both families, that the NFQUEUE rule
# with --queue-bypass passes traffic while no program is bound to the queue,
# and that the endpoint drivers really put each kernel socket into each state
# (as `ss` in the endpoint's own namespace reports it) and keep it there.
set -u
. "$(dirname "$0")/lib.sh"

lab_up
S4=$LAB_S4
S6=$LAB_S6

# --- plain TCP through the router, both families --------------------------
lab_server echo4 8080
lab_server echo6 8081 --ipv6
lab_assert "IPv4 TCP exchange through the router" lab_connect c "$S4" 8080
lab_assert "IPv6 TCP exchange through the router" lab_connect c "$S6" 8081
lab_log "ok: TCP through the router, IPv4 and IPv6"

# --- NFQUEUE rule, no program on the queue: --queue-bypass passes ---------
lab_queue_rule_add
v4_before=$(lab_queue_rule_packets 4)
v6_before=$(lab_queue_rule_packets 6)
lab_assert "IPv4 through an unbound NFQUEUE with --queue-bypass" lab_connect c "$S4" 8080
lab_assert "IPv6 through an unbound NFQUEUE with --queue-bypass" lab_connect c "$S6" 8081
v4_after=$(lab_queue_rule_packets 4)
v6_after=$(lab_queue_rule_packets 6)
[ "$v4_after" -gt "$v4_before" ] || lab_fail "the IPv4 NFQUEUE rule saw no packet ($v4_before -> $v4_after)"
[ "$v6_after" -gt "$v6_before" ] || lab_fail "the IPv6 NFQUEUE rule saw no packet ($v6_before -> $v6_after)"
lab_log "ok: NFQUEUE --queue-bypass with no daemon (rule counted v4 $((v4_after - v4_before)), v6 $((v6_after - v6_before)) packets)"
# The rule stays: every state below is reached through it.

# --- ESTABLISHED ----------------------------------------------------------
lab_server est 9001 --no-close
lab_client est_c "$S4" 9001
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9001 ESTABLISHED
lab_expect_ss s 9001 "$cp" ESTABLISHED
lab_expect_ss_stays c "$cp" 9001 ESTABLISHED 1
lab_log "ok: ESTABLISHED/ESTABLISHED (:$cp)"

# --- client half-close: FIN_WAIT_2 / CLOSE_WAIT ----------------------------
lab_server half 9002 --no-close
lab_client half_c "$S4" 9002 --shutdown-write
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9002 FIN_WAIT_2
lab_expect_ss s 9002 "$cp" CLOSE_WAIT
lab_expect_ss_stays s 9002 "$cp" CLOSE_WAIT 1
lab_log "ok: FIN_WAIT_2/CLOSE_WAIT (:$cp)"

# --- server closes first: client CLOSE_WAIT, server FIN_WAIT_2 -------------
lab_server first 9003 --close-first
lab_client first_c "$S4" 9003
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9003 CLOSE_WAIT
lab_expect_ss s 9003 "$cp" FIN_WAIT_2
lab_expect_ss_stays c "$cp" 9003 CLOSE_WAIT 1
lab_log "ok: CLOSE_WAIT/FIN_WAIT_2 (:$cp)"

# --- full close: client TIME_WAIT, server CLOSED ---------------------------
lab_server full 9004
lab_client full_c "$S4" 9004 --send 100 --echo --close
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9004 TIME_WAIT
lab_expect_ss s 9004 "$cp" CLOSED
lab_ep_wait_line full '^SHUTDOWN ' 5
lab_log "ok: TIME_WAIT/CLOSED (:$cp)"

# --- abortive close (RST): both CLOSED --------------------------------------
lab_server abort 9005
lab_client abort_c "$S4" 9005 --abort
cp=$LAB_CPORT
lab_ep_wait_line abort_c '^ABORTED ' 5
lab_ep_wait_line abort '^RESET ' 5
lab_expect_ss c "$cp" 9005 CLOSED
lab_expect_ss s 9005 "$cp" CLOSED
lab_log "ok: RST: CLOSED/CLOSED (:$cp)"

# --- SYN unanswered: SYN_SENT / LISTEN (SYN dropped in the router) ---------
lab_drop_syn_in_router 9006
lab_server synsent 9006
lab_client synsent_c "$S4" 9006 --connect-timeout 60
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9006 SYN_SENT
lab_expect_ss s 9006 "" LISTEN
lab_expect_ss_stays c "$cp" 9006 SYN_SENT 1
lab_ep_line synsent '^ACCEPTED ' && lab_fail "the server accepted a connection whose SYN was dropped"
lab_log "ok: SYN_SENT/LISTEN (:$cp)"

# --- SYN_RCVD, raw scapy SYN: the client kernel's RST is dropped -----------
sp=$(lab_rand_port)
lab_drop_out c "$sp" 9007 RST
lab_server synrcvd 9007
lab_endpoint c synraw syn "$S4" 9007 --sport "$sp"
lab_ep_wait_line synraw '^SENT ' 20
lab_expect_ss s 9007 "$sp" SYN_RCVD
lab_expect_ss c "$sp" 9007 CLOSED
lab_expect_ss_stays s 9007 "$sp" SYN_RCVD 1
lab_log "ok: SYN_RCVD with a raw SYN (client :$sp has no socket)"

# --- SYN_RCVD, real client whose final ACK is withheld ---------------------
sp=$(lab_rand_port)
lab_drop_out c "$sp" 9008 ACK
lab_server synrcvd2 9008
lab_client synrcvd2_c "$S4" 9008 --sport "$sp"
lab_expect_ss c "$sp" 9008 ESTABLISHED
lab_expect_ss s 9008 "$sp" SYN_RCVD
lab_expect_ss_stays s 9008 "$sp" SYN_RCVD 1
lab_log "ok: SYN_RCVD with the final ACK withheld (client :$sp ESTABLISHED)"

# --- FIN_WAIT_1: the server's ACK of the FIN is withheld -------------------
sp=$(lab_rand_port)
lab_drop_out s 9009 "$sp" ACK
lab_server finwait1 9009 --no-close
lab_client finwait1_c "$S4" 9009 --sport "$sp" --shutdown-write
lab_expect_ss c "$sp" 9009 FIN_WAIT_1
lab_expect_ss s 9009 "$sp" CLOSE_WAIT
lab_expect_ss_stays c "$sp" 9009 FIN_WAIT_1 1
lab_log "ok: FIN_WAIT_1/CLOSE_WAIT (:$sp)"

# --- LAST_ACK: the client's last ACK is withheld ---------------------------
sp=$(lab_rand_port)
trig="$LAB_TMP/lastack.go"
lab_server lastack 9010 --trigger "$trig"
lab_client lastack_c "$S4" 9010 --sport "$sp" --shutdown-write
lab_expect_ss c "$sp" 9010 FIN_WAIT_2
lab_expect_ss s 9010 "$sp" CLOSE_WAIT
lab_drop_out c "$sp" 9010 ACK
touch "$trig"
lab_expect_ss s 9010 "$sp" LAST_ACK
lab_expect_ss c "$sp" 9010 TIME_WAIT
lab_expect_ss_stays s 9010 "$sp" LAST_ACK 1
lab_log "ok: TIME_WAIT/LAST_ACK (:$sp)"

# --- IPv6: ESTABLISHED and half-close --------------------------------------
lab_server est6 9011 --ipv6 --no-close
lab_client est6_c "$S6" 9011
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9011 ESTABLISHED
lab_expect_ss s 9011 "$cp" ESTABLISHED
lab_server half6 9012 --ipv6 --no-close
lab_client half6_c "$S6" 9012 --shutdown-write
cp=$LAB_CPORT
lab_expect_ss c "$cp" 9012 FIN_WAIT_2
lab_expect_ss s 9012 "$cp" CLOSE_WAIT
lab_log "ok: IPv6 ESTABLISHED and FIN_WAIT_2/CLOSE_WAIT"

# --- every state above still holds (nothing drifted meanwhile) -------------
lab_expect_ss c "$(lab_ep_field est_c LOCAL)" 9001 ESTABLISHED 1
lab_expect_ss s 9002 "$(lab_ep_field half_c LOCAL)" CLOSE_WAIT 1
lab_expect_ss c "$(lab_ep_field synsent_c LOCAL)" 9006 SYN_SENT 1

lab_pass "lab, NFQUEUE bypass and 11 endpoint states"
