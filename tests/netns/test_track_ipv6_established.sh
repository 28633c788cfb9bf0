#!/bin/bash
# test_track_ipv6_established: IPv6 connection that stays open: both
# ESTABLISHED, family ipv6.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_server srv 8080 --ipv6 --no-close
lab_client cl "$LAB_S6" 8080 --send 100 --echo
lab_ep_wait_line cl "^ECHO_OK " 10
lab_expect_tracked ipv6 "$LAB_CPORT" 8080 ESTABLISHED ESTABLISHED
lab_replay_pass "IPv6 ESTABLISHED/ESTABLISHED"
