#!/bin/bash
# test_track_server_close_first: the server shuts down first: client
# CLOSE_WAIT (it never closes), server FIN_WAIT_2.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_server srv 8080 --close-first
lab_client cl "$LAB_S4" 8080
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 CLOSE_WAIT FIN_WAIT_2
lab_replay_pass "CLOSE_WAIT/FIN_WAIT_2"
