#!/bin/bash
# test_policy_kill: `handshakectl kill ID` on an established connection
# (IPv4, then IPv6) sends an exact RST to each endpoint: a blocking read on
# both sides ends with ECONNRESET, ss shows neither socket afterwards, and
# the flow is gone from `list`.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/policy_lib.sh"

pol_require_root

lab_track_up

# kill_one FAMILY SERVER_ADDR PORT [--ipv6]
kill_one() {
	local fam=$1 addr=$2 port=$3 v6=${4:-}
	local srv="hsrv$fam" cli="hcli$fam"
	pol_ep s "$srv" hold-server "$port" ${v6:+"$v6"} --timeout 30
	lab_ep_wait_line "$srv" '^LISTENING ' 10
	pol_ep c "$cli" hold-client "$addr" "$port" --timeout 30
	lab_ep_wait_line "$cli" '^READY' 10
	lab_ep_wait_line "$srv" '^READY' 10
	local cport
	cport=$(lab_ep_field "$cli" LOCAL)
	[ -n "$cport" ] || lab_fail "$cli did not report its port"
	lab_expect_tracked "$fam" "$cport" "$port" ESTABLISHED ESTABLISHED

	local id
	id=$(pol_flow_id "$port" "$cport" "$fam")
	[ -n "$id" ] || lab_fail "no flow id for :$cport -> :$port ($fam)"
	local out rc
	out=$(pol_ctl kill "$id" 2>&1)
	rc=$?
	lab_log "handshakectl kill $id ($fam): exit $rc: $(echo "$out" | tr '\n' ' ')"
	[ "$rc" = 0 ] || lab_fail "handshakectl kill $id exited $rc: $out"

	# Both blocking reads must end, with ECONNRESET.
	lab_ep_wait_line "$cli" '^READ_END ' 5
	lab_ep_wait_line "$srv" '^READ_END ' 5
	local cend send
	cend=$(lab_ep_field "$cli" READ_END)
	send=$(lab_ep_field "$srv" READ_END)
	lab_log "$fam: client read ended with $cend, server read ended with $send"
	lab_assert_eq "$cend" ECONNRESET "$fam: the client's blocking read after kill"
	lab_assert_eq "$send" ECONNRESET "$fam: the server's blocking read after kill"

	# Neither kernel keeps the socket.
	lab_expect_ss c "$cport" "$port" CLOSED 3
	lab_expect_ss s "$port" "$cport" CLOSED 3
	# And the daemon forgot the flow.
	if pol__flow_listed "$port" "$cport" "$fam"; then
		lab_fail "$fam: flow $id still listed after kill: $(lab_flow_show "$port" "$cport" "$fam")"
	fi
	out=$(pol_ctl kill "$id" 2>&1)
	rc=$?
	[ "$rc" = 1 ] || lab_fail "a second kill of flow $id exited $rc (expected 1: no such flow): $out"
	lab_log "$fam: flow $id killed; both ends reset, both sockets gone, flow unlisted"
}

kill_one ipv4 "$LAB_S4" 8080
kill_one ipv6 "$LAB_S6" 8081 --ipv6

# An id that is not a number is refused with a usage-level error.
out=$(pol_ctl kill bogus 2>&1)
rc=$?
[ "$rc" != 0 ] || lab_fail "handshakectl kill bogus succeeded: $out"

lab_pass "kill resets both ends (IPv4 and IPv6)"
