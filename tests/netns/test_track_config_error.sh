#!/bin/bash
# test_track_config_error: `handshaked -t -c FILE` checks a configuration
# without starting: exit 0 for a good file; for a bad one a non-zero exit
# and a diagnostic "FILE:LINE:COL: message" naming the offending line.
# Needs no lab (no namespaces): -t must not touch the network.
set -u
. "$(dirname "$0")/lib.sh"

lab_require_daemon
T=$(mktemp -d /tmp/hs-netns-config.XXXXXX) || lab_fail "mktemp"
trap 'rm -rf -- "$T"' EXIT

# check_bad NAME LINE: FILE $T/NAME must be refused with a diagnostic at LINE.
check_bad() {
	local file=$T/$1 line=$2 out rc=0
	out=$(timeout 10 "$HANDSHAKED" -t -c "$file" 2>&1) || rc=$?
	[ "$rc" != 124 ] || lab_fail "handshaked -t -c $file did not finish within 10 s"
	[ "$rc" != 0 ] || lab_fail "handshaked -t accepted $1 (exit 0); output:
$out"
	printf '%s\n' "$out" | grep -Eq "^$file:$line:[0-9]+: " ||
		lab_fail "handshaked -t -c $file (exit $rc) printed no '$file:$line:COL: message' line; output:
$out"
	lab_log "$1 refused (exit $rc): $(printf '%s\n' "$out" | grep -E -m1 "^$file:")"
}

cat >"$T/good.yaml" <<EOF
queue:
  num: 3
control:
  socket: $T/control.sock
log:
  level: info
  events: $T/events.jsonl
EOF
rc=0
out=$(timeout 10 "$HANDSHAKED" -t -c "$T/good.yaml" 2>&1) || rc=$?
[ "$rc" = 0 ] || lab_fail "handshaked -t rejects a valid configuration (exit $rc):
$out"
[ ! -e "$T/control.sock" ] || lab_fail "handshaked -t created its control socket: it must only check"

# A value of the wrong type, on line 2.
cat >"$T/bad-value.yaml" <<EOF
queue:
  num: banana
control:
  socket: $T/control.sock
EOF
check_bad bad-value.yaml 2

# An unknown key, on line 4.
cat >"$T/bad-key.yaml" <<EOF
queue:
  num: 3
control:
  sokcet: $T/control.sock
EOF
check_bad bad-key.yaml 4

# Broken YAML syntax (an unclosed flow mapping), on line 2 or 3 depending on
# where the parser notices; accept either.
printf 'queue:\n  num: 3\ncontrol: {socket: /x\n' >"$T/bad-syntax.yaml"
rc=0
out=$(timeout 10 "$HANDSHAKED" -t -c "$T/bad-syntax.yaml" 2>&1) || rc=$?
[ "$rc" != 0 ] && printf '%s\n' "$out" | grep -Eq "^$T/bad-syntax.yaml:[0-9]+:[0-9]+: " ||
	lab_fail "handshaked -t -c bad-syntax.yaml (exit $rc) printed no FILE:LINE:COL diagnostic; output:
$out"

lab_pass "-t accepts a good file and points at the bad line of three bad ones"
