#!/bin/bash
# test_track_syn_sent: the SYN is dropped in the router after FORWARD (mangle
# POSTROUTING), so the daemon sees it but the server never does: client
# SYN_SENT, server LISTEN.
set -u
. "$(dirname "$0")/lib.sh"

lab_track_up
lab_replay_capture

lab_drop_syn_in_router 8080
lab_server srv 8080
lab_client cl "$LAB_S4" 8080 --connect-timeout 60
# The server side is read from its listener: the SYN never reached it.
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 SYN_SENT LISTEN ""
lab_replay_pass "SYN_SENT/LISTEN"
