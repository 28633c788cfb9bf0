#!/bin/bash
# test_track_syn_rcvd: the server answers the SYN but the handshake's final
# ACK never reaches it: server SYN_RCVD (retransmitting its SYN-ACK).
#
# Part 1, a real client whose final ACK is dropped in its own OUTPUT chain.
#   Its kernel is ESTABLISHED (it sent the ACK; the ACK died after leaving the
#   socket), but that ACK never passes the router, so the daemon cannot know:
#   by its convention (daemon/tcp_state.c) a client becomes ESTABLISHED when
#   its ACK of the SYN-ACK passes.  So the server side must agree with ss
#   (SYN_RCVD) and the client side must read SYN_SENT.
# Part 2, a raw scapy SYN (no client socket at all; the client kernel's RST
#   to the unexpected SYN-ACK is dropped): server SYN_RCVD, client SYN_SENT.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture
lab_server srv 8080

# Part 1.
sp=$(lab_rand_port)
lab_drop_out c "$sp" 8080 ACK
lab_client cl "$LAB_S4" 8080 --sport "$sp"
lab_expect_ss c "$sp" 8080 ESTABLISHED
lab_expect_ss s 8080 "$sp" SYN_RCVD
lab_expect_flow server 8080 "$sp" ipv4 "$(lab_ss_state s 8080 "$sp")"
lab_expect_flow client 8080 "$sp" ipv4 SYN_SENT
lab_expect_ss s 8080 "$sp" SYN_RCVD 1
lab_log "real client :$sp: server SYN_RCVD (ss agrees), client SYN_SENT (its ACK never passed)"

# Part 2.
sp2=$(lab_rand_port)
[ "$sp2" = "$sp" ] && sp2=$((sp + 1))
lab_drop_out c "$sp2" 8080 RST
lab_endpoint c syn syn "$LAB_S4" 8080 --sport "$sp2"
lab_ep_wait_line syn '^SENT ' 20
lab_expect_ss s 8080 "$sp2" SYN_RCVD
lab_expect_flow server 8080 "$sp2" ipv4 "$(lab_ss_state s 8080 "$sp2")"
lab_expect_flow client 8080 "$sp2" ipv4 SYN_SENT
lab_log "raw SYN :$sp2: server SYN_RCVD (ss agrees), client SYN_SENT"

lab_replay_pass "SYN_RCVD with the final ACK withheld"
