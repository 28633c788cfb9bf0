# shellcheck shell=bash
#
# replay_lib.sh: the lab's traffic replayed offline (sourced by lib.sh).
#
# A test that calls lab_replay_capture after lab_track_up has tcpdump record
# every packet arriving at the router (-Q in: before FORWARD, so also what
# the router drops after the daemon saw it); lab_replay_pass then reads the
# daemon's table, cuts the capture at that moment, replays it with
# `handshaked -r` and the daemon's own configuration, and requires the same
# flows with the same client and server states, packets, bytes and history
# (ids and times aside) before the test passes; two packets of opposite
# sides that crossed between the tap and the queue may leave their history
# letters swapped (replay_check.py, crossed).

LAB_CAPTURE=""
LAB_TCPDUMP_PID=""

# lab_replay_capture: starts tcpdump in the router namespace and waits until it captures.
lab_replay_capture() {
	command -v tcpdump >/dev/null || lab_skip "tcpdump not installed (tests/install-deps)"
	LAB_CAPTURE=$LAB_TMP/router.pcap
	# -Z root: tcpdump would otherwise write as the tcpdump user, which may not enter $LAB_TMP.
	# -s 512: headers are all a replay needs (lengths come from the IP header), and a
	# whole-packet snap length makes the kernel's ring a handful of 256 KiB slots that a
	# burst overflows.  The replay is compared only if the kernel dropped nothing.
	lab_bg r "$LAB_TMP/tcpdump.log" tcpdump -i any -Q in --immediate-mode -U -n -s 512 -B 8192 -Z root \
		-w "$LAB_CAPTURE"
	LAB_TCPDUMP_PID=$LAB_LAST_PID
	lab_wait_until 10 "tcpdump to listen" grep -q "listening on" "$LAB_TMP/tcpdump.log" ||
		lab_fail "tcpdump did not start: $(cat "$LAB_TMP/tcpdump.log")"
}

# lab_replay_pass MESSAGE: the comparison above, then lab_pass MESSAGE.
lab_replay_pass() {
	[ -n "$LAB_TCPDUMP_PID" ] || lab_fail "lab_replay_pass without lab_replay_capture"
	local until
	until=$(date +%s.%N)
	lab_flows >"$LAB_TMP/live.jsonl" || lab_fail "cannot read the daemon's table"
	# tcpdump writes what it has and exits on SIGINT.
	kill -INT "$LAB_TCPDUMP_PID" 2>/dev/null
	lab_wait_until 10 "tcpdump to exit" eval '! lab__alive '"$LAB_TCPDUMP_PID" ||
		lab_fail "tcpdump did not stop"
	wait "$LAB_TCPDUMP_PID" 2>/dev/null
	grep -q "^0 packets dropped by kernel" "$LAB_TMP/tcpdump.log" ||
		lab_fail "tcpdump lost packets, the capture cannot be compared: $(cat "$LAB_TMP/tcpdump.log")"
	"$LAB_PY" "$LAB_DIR/replay_check.py" trim "$LAB_CAPTURE" "$LAB_TMP/until.pcap" "$until" >&2 ||
		lab_fail "cannot cut the capture"
	"$HANDSHAKED" -r "$LAB_TMP/until.pcap" -c "$LAB_TMP/handshaked.yaml" --json >"$LAB_TMP/replay.jsonl" \
		2>"$LAB_TMP/replay.err" || lab_fail "handshaked -r failed: $(cat "$LAB_TMP/replay.err")"
	local report
	if ! report=$("$LAB_PY" "$LAB_DIR/replay_check.py" compare "$LAB_TMP/live.jsonl" "$LAB_TMP/replay.jsonl"); then
		lab_fail "the replayed capture disagrees with the live daemon:
$report"
	fi
	lab_log "replay: $report"
	lab_pass "$@"
}
