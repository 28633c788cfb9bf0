#!/bin/bash
# test_track_half_close: the client shuts down its write side: client
# FIN_WAIT_2, server CLOSE_WAIT (the server never closes).
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_server srv 8080 --no-close
lab_client cl "$LAB_S4" 8080 --send 100 --echo --shutdown-write
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 FIN_WAIT_2 CLOSE_WAIT
lab_replay_pass "FIN_WAIT_2/CLOSE_WAIT"
