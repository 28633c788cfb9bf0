#!/bin/bash
# test_track_tfo: TCP Fast Open (RFC 7413) between real Linux stacks through
# the router, the daemon in strict mode: cookie, then data in the SYN taken
# by a Fast Open server (with connect and with sendto), a server answering
# and closing in SYN-RCVD, data in the SYN ignored by a server without Fast
# Open, data without a cookie; IPv4 and IPv6.  Every connection completes,
# states agree with ss at each step through close, no packet is invalid,
# and the router's capture replayed offline shows the same flows.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tfo_lib.sh"

lab_track_up "table:
  strict: true"
lab_replay_capture
tfo_run_all
lab_replay_pass "Fast Open through the router: every connection tracked, none invalid"
