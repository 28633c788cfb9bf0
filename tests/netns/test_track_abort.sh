#!/bin/bash
# test_track_abort: the client closes with SO_LINGER 0 (RST): both CLOSED.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_server srv 8080
lab_client cl "$LAB_S4" 8080 --send 100 --echo --abort
lab_ep_wait_line cl "^ABORTED " 10
lab_ep_wait_line srv "^RESET " 10
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 CLOSED CLOSED
lab_replay_pass "RST: CLOSED/CLOSED"
