#!/bin/bash
# test_track_fin_wait_1: the client sends its FIN, the server's ACK of it is
# dropped in the server's OUTPUT chain: client FIN_WAIT_1 (retransmitting
# the FIN), server CLOSE_WAIT.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

sp=$(lab_rand_port)
lab_drop_out s 8080 "$sp" ACK
lab_server srv 8080 --no-close
lab_client cl "$LAB_S4" 8080 --sport "$sp" --shutdown-write
lab_expect_tracked ipv4 "$sp" 8080 FIN_WAIT_1 CLOSE_WAIT
lab_replay_pass "FIN_WAIT_1/CLOSE_WAIT"
