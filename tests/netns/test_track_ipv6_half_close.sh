#!/bin/bash
# test_track_ipv6_half_close: IPv6 client half-close: client FIN_WAIT_2,
# server CLOSE_WAIT.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_server srv 8080 --ipv6 --no-close
lab_client cl "$LAB_S6" 8080 --send 100 --echo --shutdown-write
lab_expect_tracked ipv6 "$LAB_CPORT" 8080 FIN_WAIT_2 CLOSE_WAIT
lab_replay_pass "IPv6 FIN_WAIT_2/CLOSE_WAIT"
