#!/bin/bash
# test_track_last_ack: the client half-closes, then the server closes while
# the client's last ACK is dropped in the client's OUTPUT chain: client
# TIME_WAIT, server LAST_ACK (retransmitting its FIN).
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

sp=$(lab_rand_port)
trig="$LAB_TMP/server-close.go"
lab_server srv 8080 --trigger "$trig"
lab_client cl "$LAB_S4" 8080 --sport "$sp" --shutdown-write
lab_expect_tracked ipv4 "$sp" 8080 FIN_WAIT_2 CLOSE_WAIT
lab_drop_out c "$sp" 8080 ACK
touch "$trig"
lab_expect_tracked ipv4 "$sp" 8080 TIME_WAIT LAST_ACK
lab_replay_pass "FIN_WAIT_2/CLOSE_WAIT then TIME_WAIT/LAST_ACK"
