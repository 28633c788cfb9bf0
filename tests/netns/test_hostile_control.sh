#!/bin/bash
# test_hostile_control: the control socket against hostile or broken clients.
#   - the socket file is mode 0660;
#   - byte-exact requests (hostile_ep.py ctl): a request of 1023 bytes with
#     its newline is served, 1024 and 2000 bytes get "error: command too
#     long"; a non-printable byte, a NUL, no newline before EOF, an empty
#     line, an unknown command, too many arguments, a bad filter each get a
#     clear error from the daemon itself (it trusts no client);
#     through handshakectl, `kill abc`, `kill 0`, `list --state NOPE`,
#     `list --state`, `stats --json extra` are refused by the CLI before
#     anything is sent, with exit 2 and the bad argument named, and a kill
#     of a flow that does not exist by the daemon with exit 1; after every
#     one of them `ping` still answers;
#   - a user outside the socket's group (nobody, via setpriv) cannot connect
#     (permission denied, exit 2), while nobody with the socket's group as a
#     supplementary group can: it is the socket's mode that refuses;
#   - a client that connects and sends nothing: every client has its own
#     buffer and deadline and the main loop never waits for one, so a
#     `ping` behind one idle client, or two, is answered at once (asserted:
#     < 1.5 s), the idle ones get "no complete command" after 2 s, and the
#     packet path is not held meanwhile (a connection through the router
#     succeeds at once and is tracked);
#   - a client that dribbles one byte a second (never a newline) must not
#     hold the control socket, nor the main loop with it (a SIGHUP sent
#     meanwhile): ping and the SIGHUP are both handled within 1.5 s.
#
# The CLI run as nobody is a copy in the lab's temporary directory: the
# checkout may sit in a private (0700) directory that nobody cannot reach.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile_lib.sh"

hl_require_root
lab_require_daemon
command -v setpriv >/dev/null 2>&1 || lab_skip "setpriv (util-linux) is not installed"

lab_track_up
lab_server echo 8080 --no-close --hold 150
lab_client held "$LAB_S4" 8080
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 ESTABLISHED ESTABLISHED

# ---- the socket file
MODE=$(stat -c '%a' "$LAB_SOCK")
OWNER=$(stat -c '%U:%G' "$LAB_SOCK")
SGID=$(stat -c '%g' "$LAB_SOCK")
lab_assert_eq "$MODE" 660 "mode of the control socket $LAB_SOCK"
lab_log "control socket: mode $MODE, owner $OWNER"

ping_ok() {
	local out
	out=$(hl_ctl ping 2>&1) && [ "$out" = pong ]
}

hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# raw NAME HEX REGEX [ARGS...]: sends HEX byte-exactly, expects a reply
# matching REGEX, then a working ping.
RESULTS=""
raw() {
	local name=$1 hex=$2 re=$3
	shift 3
	local out reply
	out=$(lab_exec r timeout 40 "$LAB_PY" -u "$HL_EP" ctl "$LAB_SOCK" --data "$hex" "$@" 2>&1)
	reply=$(sed -n 's/^REPLY [0-9]* //p' <<<"$out")
	grep -Eq -- "$re" <<<"$reply" || lab_fail "$name: expected a reply matching '$re', got: $out"
	ping_ok || lab_fail "ping failed after $name"
	RESULTS="$RESULTS  $(printf '%-22s' "$name") -> ${reply:0:110}"$'\n'
}

pad() { # pad N: "ping" followed by spaces, N bytes in all
	local s="ping"
	while [ "${#s}" -lt "$1" ]; do s="$s "; done
	printf '%s' "$s"
}

raw "1023 bytes (ping)" "$(hexof "$(pad 1022)")0a" '^ok\\npong'
raw "1024 bytes" "$(hexof "$(pad 1023)")0a" '^error: command too long'
raw "2000 bytes" "$(hexof "$(pad 1999)")0a" '^error: command too long'
raw "64 KiB, no newline" "" '^error: command too long' --fill 65536
raw "non-printable 0x01" "$(hexof ping)010a" '^error: command contains a non-printable byte at offset 4'
raw "NUL byte" "7069006e670a" '^error: command contains a non-printable byte at offset 2'
raw "0xff byte" "$(hexof list)ff0a" '^error: command contains a non-printable byte'
raw "no newline, EOF" "$(hexof ping)" '^error: command must end with a newline'
raw "empty line" "0a" '^error: empty command'
raw "only spaces" "$(hexof '     ')0a" '^error: empty command'
raw "unknown command" "$(hexof frobnicate)0a" '^error: unknown command "frobnicate"'
raw "too many arguments" "$(hexof "list$(printf ' --json%.0s' $(seq 1 70))")0a" '^error: too many arguments'
raw "two commands" "$(hexof ping)0a$(hexof reload)0a" '^ok\\npong\\n$'
# What handshakectl would refuse, sent anyway: the daemon checks for itself.
raw "bad state (raw)" "$(hexof 'list --state NOPE')0a" '^error: list: --state: unknown state "NOPE"'
raw "bad CIDR (raw)" "$(hexof 'count --src 10.0.0.0/40')0a" '^error: count: --src: "10.0.0.0/40"'
raw "kill, no flows (raw)" "$(hexof 'kill --all')0a" '^error: kill: name the flows'
raw "unknown option (raw)" "$(hexof 'top --bye dst')0a" '^error: top: unknown option "--bye"'

# Through handshakectl: exit 2 (refused by the CLI) or 1 (by the daemon) and a message on stderr.
ctl_refused() { # NAME EXIT REGEX ARGS...
	local name=$1 want=$2 re=$3 rc=0 out
	shift 3
	out=$(hl_ctl "$@" 2>&1) || rc=$?
	[ "$rc" = "$want" ] || lab_fail "handshakectl $*: exit $rc (expected $want: refused): $out"
	grep -Eq -- "$re" <<<"$out" || lab_fail "handshakectl $*: expected '$re', got: $out"
	ping_ok || lab_fail "ping failed after handshakectl $*"
	RESULTS="$RESULTS  $(printf '%-22s' "$name") -> exit $rc: $(head -n 1 <<<"$out" | cut -c1-100)"$'\n'
}
ctl_refused "kill abc" 2 'kill: "abc" is not a flow id' kill abc
ctl_refused "kill 0" 2 'is not a flow id' kill 0
ctl_refused "kill -5" 2 'is not a flow id' kill -5
ctl_refused "kill 99999999999" 2 'is not a flow id' kill 99999999999
ctl_refused "kill 4000000000" 1 'no flow with id' kill 4000000000
ctl_refused "list --state NOPE" 2 'unknown state "NOPE"' list --state NOPE
ctl_refused "list --state" 2 'no state after "--state"' list --state
ctl_refused "stats --json extra" 2 'unexpected argument "extra"' stats --json extra
ctl_refused "ping extra" 2 'unexpected argument "extra"' ping extra
rc=0
out=$(hl_ctl "$(pad 2000)" 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q 'command too long' <<<"$out" ||
	lab_fail "handshakectl with a 2000-byte command: exit $rc, $out (expected its own refusal, exit 2)"
RESULTS="$RESULTS  $(printf '%-22s' "ctl 2000-byte command") -> exit $rc: $out"$'\n'
lab_expect_tracked ipv4 "$LAB_CPORT" 8080 ESTABLISHED ESTABLISHED

# ---- permissions: nobody cannot connect; nobody in the socket's group can
chmod 0711 "$LAB_TMP"   # let others traverse the directory: only the socket's mode may refuse
CTL_COPY="$LAB_TMP/handshakectl-for-nobody"
install -m 0755 "$HANDSHAKECTL" "$CTL_COPY"
rc=0
out=$(lab_exec r setpriv --reuid=nobody --regid=nogroup --clear-groups \
	timeout 10 "$CTL_COPY" -s "$LAB_SOCK" ping 2>&1) || rc=$?
[ "$rc" = 2 ] || lab_fail "handshakectl ping as nobody: exit $rc (expected 2): $out"
grep -qi 'permission denied' <<<"$out" || lab_fail "handshakectl ping as nobody: expected 'Permission denied', got: $out"
NOBODY="exit $rc: $out"
lab_log "as nobody: $NOBODY"
rc=0
out2=$(lab_exec r setpriv --reuid=nobody --regid=nogroup --groups="$SGID" \
	timeout 10 "$CTL_COPY" -s "$LAB_SOCK" ping 2>&1) || rc=$?
[ "$rc" = 0 ] && [ "$out2" = pong ] ||
	lab_fail "handshakectl ping as nobody with group $SGID: exit $rc: $out2 (the directory, not the socket's mode, refuses?)"
chmod 0700 "$LAB_TMP"

# ---- idle clients
# idle_then_ping N: N clients connect and send nothing; then a ping is timed.
idle_then_ping() {
	local n=$1 i
	for i in $(seq 1 "$n"); do
		hl_ep r "idle$n-$i" ctl "$LAB_SOCK" --idle 1 --timeout 30
	done
	for i in $(seq 1 "$n"); do
		lab_ep_wait_line "idle$n-$i" '^CONNECTED ' 5
	done
	local t0=${EPOCHREALTIME} rc=0
	out=$(hl_ctl ping 2>&1) || rc=$?
	PING_MS=$(awk -v a="$t0" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%d", (b - a) * 1000 }')
	[ "$rc" = 0 ] && [ "$out" = pong ] || lab_fail "ping behind $n idle client(s): exit $rc: $out"
	IDLE_REPLIES=""
	for i in $(seq 1 "$n"); do
		lab_ep_wait_line "idle$n-$i" '^(REPLY|NO_REPLY) ' 20
		IDLE_REPLIES="$IDLE_REPLIES $(grep -E '^(REPLY|NO_REPLY) ' "$LAB_TMP/idle$n-$i.out" | cut -c1-100);"
	done
}

# One idle client; meanwhile the packet path works and is tracked.
hl_ep r idle1-1 ctl "$LAB_SOCK" --idle 1 --timeout 30
lab_ep_wait_line idle1-1 '^CONNECTED ' 5
T0=${EPOCHREALTIME}
lab_assert "a connection through the router while the control socket is held" lab_connect c "$LAB_S4" 8080 3
CONN_MS=$(awk -v a="$T0" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%d", (b - a) * 1000 }')
lab_server during 8081 --no-close --hold 60
lab_client during "$LAB_S4" 8081
DURING_PORT=$LAB_CPORT
out=$(hl_ctl ping 2>&1) || lab_fail "ping behind one idle client failed: $out"
PING1_MS=$(awk -v a="$T0" -v b="${EPOCHREALTIME}" 'BEGIN { printf "%d", (b - a) * 1000 }')
lab_ep_wait_line idle1-1 '^(REPLY|NO_REPLY) ' 20
IDLE1=$(grep -E '^(REPLY|NO_REPLY) ' "$LAB_TMP/idle1-1.out")
lab_expect_tracked ipv4 "$DURING_PORT" 8081 ESTABLISHED ESTABLISHED
lab_log "one idle client: connection through the router in $CONN_MS ms; ping answered $PING1_MS ms after the idle client connected; idle client got: $IDLE1"
grep -q '^REPLY [0-9]* error: no complete command received' <<<"$IDLE1" ||
	lab_fail "the idle client got no clear error: $IDLE1"
IDLE_MS=$(awk '{ print $2 }' <<<"$IDLE1")
[ "$CONN_MS" -lt 3000 ] || lab_fail "a connection through the router took $CONN_MS ms while the control socket was held"
[ "$PING1_MS" -lt 1500 ] || lab_fail "ping behind one idle client took $PING1_MS ms (expected at once)"

idle_then_ping 2
PING2_MS=$PING_MS
lab_log "two idle clients: ping answered after $PING2_MS ms; they got:$IDLE_REPLIES"
[ "$PING2_MS" -lt 1500 ] || lab_fail "ping behind two idle clients took $PING2_MS ms (expected at once)"

# ---- a dribbling client: one byte a second for 10 s, never a newline.
# Behind it: a ping, and a SIGHUP (the same main loop reads signals).
hl_ep r drip ctl "$LAB_SOCK" --drip 1 --drip-bytes 10 --timeout 40
lab_ep_wait_line drip '^CONNECTED ' 5
sleep 0.3
HUPS0=$(grep -c 'SIGHUP: reloading' "$LAB_TMP/handshaked.log")
T0=${EPOCHREALTIME}
lab_bg r "$LAB_TMP/drip-ping.out" timeout 40 "$HANDSHAKECTL" -s "$LAB_SOCK" ping
PINGPID=$LAB_LAST_PID
kill -HUP "$LAB_DAEMON_PID"
DRIP_PING_MS="" HUP_MS=""
end=$((SECONDS + 35))
while [ "$SECONDS" -lt "$end" ] && { [ -z "$DRIP_PING_MS" ] || [ -z "$HUP_MS" ]; }; do
	now=${EPOCHREALTIME}
	if [ -z "$DRIP_PING_MS" ] && ! lab__alive "$PINGPID"; then
		DRIP_PING_MS=$(awk -v a="$T0" -v b="$now" 'BEGIN { printf "%d", (b - a) * 1000 }')
	fi
	if [ -z "$HUP_MS" ] && [ "$(grep -c 'SIGHUP: reloading' "$LAB_TMP/handshaked.log")" -gt "$HUPS0" ]; then
		HUP_MS=$(awk -v a="$T0" -v b="$now" 'BEGIN { printf "%d", (b - a) * 1000 }')
	fi
	sleep 0.05
done
rc=0
wait "$PINGPID" || rc=$?
[ -n "$DRIP_PING_MS" ] || lab_fail "ping behind the dribbling client did not finish in 35 s"
[ -n "$HUP_MS" ] || lab_fail "the SIGHUP sent during the dribble was not handled in 35 s"
lab_ep_wait_line drip '^(REPLY|NO_REPLY) ' 30
DRIP=$(grep -E '^(DRIPPED|REPLY|NO_REPLY) ' "$LAB_TMP/drip.out" | tr '\n' ' ')
lab_log "dribbling client (1 byte/s, 10 bytes): ping (exit $rc: $(cat "$LAB_TMP/drip-ping.out")) answered after $DRIP_PING_MS ms, SIGHUP handled after $HUP_MS ms; the client: $DRIP"
[ "$rc" = 0 ] || lab_fail "ping after the dribbling client failed: exit $rc"
ping_ok || lab_fail "ping failed at the end"
lab__alive "$LAB_DAEMON_PID" || lab_fail "handshaked died"

echo "== control socket: mode $MODE ($OWNER) =="
printf '%s' "$RESULTS"
echo "as nobody: $NOBODY; as nobody with group $SGID: $out2"
echo "idle client: got its error after ${IDLE_MS} ms; ping behind it: $PING1_MS ms; behind two: $PING2_MS ms; packet path meanwhile: connection in $CONN_MS ms"
echo "dribbling client (1 byte/s for 10 s): ping answered after $DRIP_PING_MS ms, a SIGHUP sent meanwhile handled after $HUP_MS ms"
[ "$DRIP_PING_MS" -lt 1500 ] ||
	lab_fail "a dribbling client held the control socket $DRIP_PING_MS ms (expected at once)"
[ "$HUP_MS" -lt 1500 ] ||
	lab_fail "a dribbling client held the main loop: a SIGHUP waited $HUP_MS ms (expected at once)"
lab_pass "malformed requests refused, ping still answers; mode 660; nobody refused; idle client delays ping $PING1_MS ms (2 clients: $PING2_MS ms); dribbling client: ping $DRIP_PING_MS ms, SIGHUP $HUP_MS ms"
