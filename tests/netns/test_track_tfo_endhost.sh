#!/bin/bash
# test_track_tfo_endhost: the same TCP Fast Open connections as
# test_track_tfo, with the daemon on the client host itself (NFQUEUE on the
# client's INPUT and OUTPUT, strict mode) instead of in the router: every
# connection completes, states agree with ss at each step, none invalid.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tfo_lib.sh"

lab_require_daemon
lab_up
lab_daemon_config "$LAB_TMP/handshaked.yaml" "table:
  strict: true"
lab_start_daemon "$LAB_TMP/handshaked.yaml" c
lab_queue_rule_add_endhost c
tfo_run_all
lab_pass "Fast Open on the end host: every connection tracked, none invalid"
