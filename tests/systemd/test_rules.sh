#!/bin/bash
# test_rules.sh: build/handshaked-rules against real iptables and ip6tables,
# in a network namespace of its own (whose firewall starts empty and is
# thrown away afterwards, so the host's rules are never touched).
#
# Checks, for several configurations: the exact rules `add` makes (chains,
# interfaces, families, --queue-num or --queue-balance, --queue-bypass, the
# "handshaked" comment); on INPUT and OUTPUT, the rule accepting the
# daemon's own marked packets ahead of the queueing rules, and lo left out
# unless rules.include_loopback; that add and del are idempotent; that add
# replaces the rules of an older configuration, and puts a missing or
# misplaced mark rule in front of queueing rules already there; that del
# also works from a broken file; that `show` exits 0 only when the firewall
# matches; and that rules that are not ours, in the same chains, survive
# everything.
# Needs root.  Exits 0 (pass), 77 (skip) or 1 (fail).
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RULES=$ROOT/build/handshaked-rules

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
fail() {
	log "FAIL: $*"
	echo "  iptables:"; in_ns iptables -S | sed 's/^/    /'
	echo "  ip6tables:"; in_ns ip6tables -S | sed 's/^/    /'
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespace, iptables)"
[ -x "$RULES" ] || skip "build/handshaked-rules missing (run make)"
command -v iptables >/dev/null && command -v ip6tables >/dev/null || skip "iptables/ip6tables not installed"

NS=hsrules$$
TMP=$(mktemp -d /tmp/hs-rules.XXXXXX)
cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf -- "$TMP"; }
trap cleanup EXIT
ip netns add "$NS" 2>/dev/null || skip "cannot create a network namespace"
in_ns() { ip netns exec "$NS" "$@"; }

# The rules of ours in a family, as `iptables -S` prints them, sorted.
ours() { in_ns "$1" -S | grep -- '--comment handshaked' | sort; }
# The rules of ours in one chain of a family, in the chain's order.
ours_in_order() { in_ns "$1" -S "$2" | grep -- '--comment handshaked'; }
expect_order() { # FAMILY CHAIN, the rules on stdin in order
	local want got
	want=$(cat)
	got=$(ours_in_order "$1" "$2")
	[ "$got" = "$want" ] || fail "$1 $2: rules in the wrong order: wanted
$want
got
$got"
}
# Asserts that family $1 holds exactly the rules given on stdin (any order).
expect_rules() {
	local family=$1 want got
	want=$(sort)
	got=$(ours "$family")
	[ "$got" = "$want" ] || fail "$family rules differ: wanted
$want
got
$got"
}

config() { printf '%s\n' "$@" >"$TMP/c.yaml"; "$ROOT/build/handshaked" -t -c "$TMP/c.yaml" >/dev/null || fail "config rejected: $*"; }
rules() { in_ns "$RULES" -c "$TMP/c.yaml" "$@"; }
NFQ="-j NFQUEUE --queue-num 0 --queue-bypass"
TAGGED="-p tcp -m comment --comment handshaked"
MARKED="-p tcp -m mark --mark 0x4853 -m comment --comment handshaked -j ACCEPT"

# Rules of someone else, which nothing here may touch.
in_ns iptables -A FORWARD -p udp -j ACCEPT
in_ns iptables -A INPUT -p tcp --dport 22 -j ACCEPT
in_ns ip6tables -A FORWARD -p udp -j ACCEPT
foreign4=$(in_ns iptables -S | grep -v -- '--comment handshaked')
foreign6=$(in_ns ip6tables -S | grep -v -- '--comment handshaked')
check_foreign() {
	[ "$(in_ns iptables -S | grep -v -- '--comment handshaked')" = "$foreign4" ] &&
		[ "$(in_ns ip6tables -S | grep -v -- '--comment handshaked')" = "$foreign6" ] ||
		fail "rules that are not ours changed"
}

# ---- defaults: FORWARD, both families, queue 0 ----
config 'queue: {num: 0}'
rules show >/dev/null && fail "show exits 0 while no rule is installed"
rules add >"$TMP/out" || fail "add failed"
grep -c '^added: ' "$TMP/out" | grep -qx 2 || fail "add should report 2 added rules: $(cat "$TMP/out")"
expect_rules iptables <<<"-A FORWARD $TAGGED $NFQ"
expect_rules ip6tables <<<"-A FORWARD $TAGGED $NFQ"
rules add >"$TMP/out" || fail "second add failed"
[ -s "$TMP/out" ] && fail "second add changed something: $(cat "$TMP/out")"
expect_rules iptables <<<"-A FORWARD $TAGGED $NFQ"
rules show >"$TMP/out" || fail "show exits non-zero with the rules in place: $(cat "$TMP/out")"
grep -c '^present: ' "$TMP/out" | grep -qx 2 || fail "show should list 2 present rules"
check_foreign
log "defaults: FORWARD in both families; add is idempotent; show agrees"

# ---- a queue range, host chains, interfaces, IPv4 only ----
config 'queue: {num: "2-3"}' \
	'rules: {chains: [INPUT, OUTPUT, FORWARD], in_interfaces: [eth0, "veth+"], out_interfaces: [wan0], families: [ipv4]}'
rules show >/dev/null && fail "show exits 0 with the rules of another configuration"
rules add >"$TMP/out" || fail "add (range) failed: $(cat "$TMP/out")"
BAL="-j NFQUEUE --queue-balance 2:3 --queue-bypass"
expect_rules iptables <<EOF
-A INPUT $MARKED
-A INPUT -i eth0 $TAGGED $BAL
-A INPUT -i veth+ $TAGGED $BAL
-A OUTPUT $MARKED
-A OUTPUT -o wan0 $TAGGED $BAL
-A FORWARD -i eth0 -o wan0 $TAGGED $BAL
-A FORWARD -i veth+ -o wan0 $TAGGED $BAL
EOF
# The ip6tables rules of the old configuration are gone: ipv6 is not wanted any more.
expect_rules ip6tables </dev/null
grep -q '^removed: iptables -A FORWARD -p tcp -m comment --comment handshaked -j NFQUEUE --queue-num 0' "$TMP/out" ||
	fail "add did not report removing the old configuration's rule"
rules show >/dev/null || fail "show exits non-zero after add"
check_foreign
log "range 2-3, INPUT/OUTPUT/FORWARD with interfaces, IPv4 only: 7 rules (2 for the mark), old ones replaced"

# ---- a duplicate of ours: show notices, add removes it; then del ----
in_ns iptables -A INPUT -i eth0 $TAGGED $BAL
rules show >"$TMP/out" && fail "show exits 0 with a duplicated rule"
grep -q '^duplicate: iptables -A INPUT -i eth0' "$TMP/out" || fail "show does not name the duplicate: $(cat "$TMP/out")"
rules add >"$TMP/out" || fail "add (duplicate) failed"
grep -q '^removed duplicate: ' "$TMP/out" || fail "add did not remove the duplicate: $(cat "$TMP/out")"
rules show >/dev/null || fail "show exits non-zero after add removed the duplicate"
in_ns iptables -A INPUT -i eth0 $TAGGED $BAL
rules del >"$TMP/out" || fail "del failed: $(cat "$TMP/out")"
expect_rules iptables </dev/null
expect_rules ip6tables </dev/null
rules del >"$TMP/out" || fail "second del failed"
[ -s "$TMP/out" ] && fail "second del changed something: $(cat "$TMP/out")"
check_foreign
log "del removes every copy, twice is harmless, foreign rules intact"

# ---- del from a broken file still removes our rules ----
config 'queue: {num: 7}' 'rules: {families: ipv6}'
rules add >/dev/null || fail "add (ipv6 only) failed"
expect_rules ip6tables <<<"-A FORWARD $TAGGED -j NFQUEUE --queue-num 7 --queue-bypass"
expect_rules iptables </dev/null
printf 'queue: {num: 7\n' >"$TMP/c.yaml"
rules add >/dev/null 2>&1 && fail "add succeeded with a broken file"
rules del >"$TMP/out" 2>&1 || fail "del failed with a broken file: $(cat "$TMP/out")"
expect_rules ip6tables </dev/null
check_foreign
log "del with a broken configuration removes every tagged rule"

# ---- -n prints and does nothing ----
config 'queue: {num: 1}' 'rules: {chains: [OUTPUT], out_interfaces: [eth1]}'
rules -n add >"$TMP/out" || fail "add -n failed"
cat >"$TMP/want" <<EOF
iptables -w -A OUTPUT $MARKED
iptables -w -A OUTPUT -o eth1 $TAGGED -j NFQUEUE --queue-num 1 --queue-bypass
ip6tables -w -A OUTPUT $MARKED
ip6tables -w -A OUTPUT -o eth1 $TAGGED -j NFQUEUE --queue-num 1 --queue-bypass
EOF
diff -u "$TMP/want" "$TMP/out" || fail "add -n printed something else"
expect_rules iptables </dev/null
in_ns "$RULES" -c "$TMP/c.yaml" bogus 2>/dev/null; [ $? = 2 ] || fail "an unknown command should exit 2"
log "-n prints the commands without running them; usage errors exit 2"

# ---- an end host: the mark rule first, loopback left out ----
config 'queue: {num: 4}' 'rules: {chains: [INPUT, OUTPUT]}'
rules add >"$TMP/out" || fail "add (end host) failed: $(cat "$TMP/out")"
Q4="-j NFQUEUE --queue-num 4 --queue-bypass"
for family in iptables ip6tables; do
	expect_order "$family" INPUT <<EOF
-A INPUT $MARKED
-A INPUT ! -i lo $TAGGED $Q4
EOF
	expect_order "$family" OUTPUT <<EOF
-A OUTPUT $MARKED
-A OUTPUT ! -o lo $TAGGED $Q4
EOF
done
rules show >/dev/null || fail "show exits non-zero after add (end host)"
check_foreign
log "end host: the own-mark ACCEPT rule ahead of the queueing rule in INPUT and OUTPUT, lo left out"

# ---- include_loopback, and another mark: the old mark rule goes, the new one goes in front ----
config 'queue: {num: 4, own_mark: 77}' 'rules: {chains: [INPUT, OUTPUT], include_loopback: true, families: [ipv4]}'
rules add >"$TMP/out" || fail "add (include_loopback) failed: $(cat "$TMP/out")"
MARK77="-p tcp -m mark --mark 0x4d -m comment --comment handshaked -j ACCEPT"
expect_order iptables INPUT <<EOF
-A INPUT $MARK77
-A INPUT $TAGGED $Q4
EOF
expect_order iptables OUTPUT <<EOF
-A OUTPUT $MARK77
-A OUTPUT $TAGGED $Q4
EOF
expect_rules ip6tables </dev/null
check_foreign
log "include_loopback: true queues lo too; own_mark 77 replaced 0x4853"

# ---- queueing rules from before mark rules existed: add inserts the mark rule in front ----
rules del >/dev/null || fail "del failed"
in_ns iptables -A OUTPUT -p tcp -j ACCEPT     # someone else's, before ours
in_ns iptables -A OUTPUT $TAGGED $Q4
in_ns iptables -A OUTPUT -p udp -j ACCEPT     # someone else's, after ours
foreign4=$(in_ns iptables -S | grep -v -- '--comment handshaked')
rules show >"$TMP/out" && fail "show exits 0 with the mark rule missing"
grep -q '^missing:   iptables -A OUTPUT -p tcp -m mark' "$TMP/out" || fail "show does not name the missing mark rule: $(cat "$TMP/out")"
rules add >"$TMP/out" || fail "add (upgrade) failed: $(cat "$TMP/out")"
[ "$(in_ns iptables -S OUTPUT | grep -v '^-P')" = "-A OUTPUT -p tcp -j ACCEPT
-A OUTPUT $MARK77
-A OUTPUT $TAGGED $Q4
-A OUTPUT -p udp -j ACCEPT" ] || fail "the mark rule was not inserted right before the queueing rule:
$(in_ns iptables -S OUTPUT)"
# A mark rule behind the queueing rule sees nothing: show says so, add moves it.
in_ns iptables -D OUTPUT $MARK77
in_ns iptables -A OUTPUT $MARK77
rules show >"$TMP/out" && fail "show exits 0 with the mark rule behind the queueing rule"
grep -q '^misplaced: iptables -A OUTPUT -p tcp -m mark' "$TMP/out" || fail "show does not call the mark rule misplaced: $(cat "$TMP/out")"
rules add >"$TMP/out" || fail "add (misplaced) failed: $(cat "$TMP/out")"
expect_order iptables OUTPUT <<EOF
-A OUTPUT $MARK77
-A OUTPUT $TAGGED $Q4
EOF
rules show >/dev/null || fail "show exits non-zero after add moved the mark rule"
rules del >/dev/null || fail "del failed"
expect_rules iptables </dev/null
check_foreign
log "an older firewall's queueing rule gets the mark rule in front of it; a misplaced one is moved"
# ---- PREROUTING: the end host's incoming packets in mangle, before early demux ----
mangle_ours() { in_ns "$1" -t mangle -S PREROUTING | grep -- '--comment handshaked'; }
config 'queue: {num: 5}' 'rules: {chains: [PREROUTING, OUTPUT]}'
rules add >"$TMP/out" || fail "add (PREROUTING) failed: $(cat "$TMP/out")"
grep -q '^added: iptables -t mangle -A PREROUTING ' "$TMP/out" || fail "add does not say it added to mangle: $(cat "$TMP/out")"
Q5="-j NFQUEUE --queue-num 5 --queue-bypass"
for family in iptables ip6tables; do
	want="-A PREROUTING $MARKED
-A PREROUTING ! -i lo -p tcp -m addrtype --dst-type LOCAL -m comment --comment handshaked $Q5"
	[ "$(mangle_ours "$family")" = "$want" ] || fail "$family mangle PREROUTING: wanted
$want
got
$(mangle_ours "$family")"
	expect_order "$family" OUTPUT <<END
-A OUTPUT $MARKED
-A OUTPUT ! -o lo $TAGGED $Q5
END
	[ -z "$(ours_in_order "$family" INPUT)" ] || fail "$family: a rule in filter INPUT with PREROUTING chosen"
done
rules show >/dev/null || fail "show exits non-zero after add (PREROUTING)"
# Back to INPUT: the mangle rules are stale and go.
config 'queue: {num: 5}' 'rules: {chains: [INPUT]}'
rules add >"$TMP/out" || fail "add (back to INPUT) failed: $(cat "$TMP/out")"
[ -z "$(mangle_ours iptables)$(mangle_ours ip6tables)" ] || fail "stale mangle PREROUTING rules left: $(mangle_ours iptables)"
config 'queue: {num: 5}' 'rules: {chains: [PREROUTING]}'
rules add >/dev/null || fail "add (PREROUTING again) failed"
rules del >"$TMP/out" || fail "del (PREROUTING) failed: $(cat "$TMP/out")"
[ -z "$(mangle_ours iptables)$(mangle_ours ip6tables)" ] || fail "del left mangle PREROUTING rules"
expect_rules iptables </dev/null
check_foreign
log "PREROUTING: mark and queue rules in mangle (addrtype LOCAL, lo left out), replaced and deleted like the others"
echo PASS
