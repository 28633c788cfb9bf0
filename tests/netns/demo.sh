#!/bin/bash
# demo.sh (make demo): handshaked at work in a throw-away lab.  Builds a
# client <-> router <-> server set of network namespaces, runs the daemon in
# the router with conf/handshaked.yaml (only its socket, event and state
# paths are pointed into the lab's temporary directory), drives a few real TCP
# connections through it, and shows what an operator sees: the table, the
# JSON form, the counters and the events.  Everything it made is removed at
# the end.
set -u
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces, iptables)" >&2; exit 1; }
lab_require_daemon
LAB_QNUM=0
lab_up

config="$LAB_TMP/handshaked.yaml"
# The snapshots go to the lab's directory too: a demo must neither write the
# host's /var/lib/handshaked nor load a table a real daemon left there.
mkdir -p "$LAB_TMP/state"
sed -e "s|^\([[:space:]]*socket:\).*|\1 $LAB_TMP/control.sock|" \
    -e "s|^\([[:space:]]*events:\).*|\1 $LAB_TMP/events.jsonl|" \
    -e "s|^\([[:space:]]*dir:\).*|\1 $LAB_TMP/state|" \
    "$LAB_ROOT/conf/handshaked.yaml" >"$config"
! grep -q /var/lib/handshaked "$config" || lab_fail "the demo's configuration still names /var/lib/handshaked"
"$HANDSHAKED" -t -c "$config" >/dev/null || lab_fail "conf/handshaked.yaml does not check"
lab_start_daemon "$config"
lab_queue_rule_add

ctl() { lab_exec r "$HANDSHAKECTL" -s "$LAB_SOCK" "$@"; }
title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

title "router: iptables -A FORWARD -p tcp -j NFQUEUE --queue-num 0 --queue-bypass; handshaked -c conf/handshaked.yaml"

# A server that answers and, after a client's FIN, stays in CLOSE_WAIT for
# one connection, closes normally for the others.
lab_server web 8080
lab_server lazy 8081 --no-close
lab_server web6 8443 --ipv6

lab_client full "$LAB_S4" 8080 --send 2000 --echo --close
lab_client half "$LAB_S4" 8081 --send 100 --shutdown-write --hold 30
lab_client open "$LAB_S4" 8080 --send 500 --echo --hold 30
lab_client open6 "$LAB_S6" 8443 --send 300 --echo --hold 30
sleep 1.5

title "the endpoints' own view (ss -tan in the client and server namespaces)"
echo "client:"; lab_exec c ss -tanH state all '( sport >= :1024 )' | grep -v LISTEN | sed 's/^/  /'
echo "server:"; lab_exec s ss -tanH | grep -v LISTEN | sed 's/^/  /'

title "handshakectl list: both endpoints of every connection"
ctl list

title "handshakectl list --json --state CLOSE_WAIT"
ctl list --json --state CLOSE_WAIT

title "handshakectl stats"
ctl stats

title "events (JSON Lines, log.events), last 6"
tail -n 6 "$LAB_TMP/events.jsonl"

title "a configuration error, as handshaked -t reports it"
printf 'table:\n  max_flow: 10\n  timeouts: {syn_sent: 2x}\n' >"$LAB_TMP/bad.yaml"
"$HANDSHAKED" -t -c "$LAB_TMP/bad.yaml" || true

echo
lab_log "demo done; removing the lab"
