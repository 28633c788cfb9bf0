#!/bin/bash
# test_track_full_close: the client closes, the server closes on EOF, the
# last ACK arrives: client TIME_WAIT, server CLOSED.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_server srv 8080
lab_client cl "$LAB_S4" 8080 --send 100 --echo --close
lab_ep_wait_line srv "^SHUTDOWN " 10
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 TIME_WAIT CLOSED
lab_replay_pass "TIME_WAIT/CLOSED"
