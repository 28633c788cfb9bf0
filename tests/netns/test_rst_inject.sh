#!/bin/bash
# test_rst_inject: the RSTs of daemon/core/rst_build.c, sent by
# daemon/rst_send.c, reset real Linux sockets.
#
# In the router namespace, where the daemon runs, tests/netns/rst_inject.c
# (built here against build/libhs.a) watches r0 with a packet socket, tracks
# the connection with the daemon's own core and, on a trigger file, sends
# the RSTs hs_rst_build makes from the tracked flow.  Each endpoint kernel
# must then drop its socket: a blocked recv() fails with ECONNRESET and ss
# in its namespace no longer lists the connection.
#
#   1. IPv4 and IPv6 ESTABLISHED, after data both ways.  First a probe: RSTs
#      one past RCV.NXT must draw challenge ACKs (RFC 5961) and reset
#      nothing, which shows the endpoints check the number exactly; then the
#      exact RSTs reset both sockets.
#   2. Server in SYN_RCVD (the client's ACK is dropped on its way out): the
#      RST with seq = client ISN + 1 frees the server's request socket, and
#      the client (SYN_SENT for the tracker, ESTABLISHED in its kernel) is
#      reset by the RST|ACK built for that case.
#   3. Client in SYN_SENT (its SYN dies in the router): RST|ACK acknowledging
#      the SYN makes connect() fail with ECONNREFUSED.
set -u
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || lab_skip "needs root (network namespaces, raw sockets)"
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || lab_skip "no C compiler ($CC) to build tests/netns/rst_inject.c"
command -v ar >/dev/null 2>&1 || lab_skip "no ar (binutils) to inspect build/libhs.a"
LIBHS=$LAB_ROOT/build/libhs.a
[ -f "$LIBHS" ] || lab_skip "$LIBHS not built yet (make)"
for obj in rst_build.o rst_send.o; do
	ar t "$LIBHS" | grep -qx "$obj" || lab_fail "$LIBHS has no $obj: rebuild it (make)"
done

lab_up

INJ=$LAB_TMP/rst_inject
"$CC" -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Wformat=2 -Wvla -I"$LAB_ROOT/include" -I"$LAB_ROOT/include/core" -D_GNU_SOURCE -O2 -g \
	"$LAB_DIR/rst_inject.c" "$LIBHS" -o "$INJ" >"$LAB_TMP/build.out" 2>&1 ||
	lab_fail "cannot build rst_inject: $(cat "$LAB_TMP/build.out")"

# A TCP peer that reports how its socket ends: the server echoes, the client
# optionally sends and checks the echo, then both block in recv() and print
# RESET <errno name> / EOF.  Every wait is bounded by --hold.
PEER=$LAB_TMP/peer.py
cat >"$PEER" <<'EOF'
import argparse, errno, os, socket, sys, time

def emit(*w):
    sys.stdout.write(" ".join(str(x) for x in w) + "\n")
    sys.stdout.flush()

def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))

def watch(conn, deadline, echo):
    conn.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = conn.recv(65536)
        except socket.timeout:
            continue
        except OSError as e:
            emit("RESET", errname(e))
            return
        if not data:
            emit("EOF")
            return
        if echo:
            conn.sendall(data)
    emit("HOLD_OVER")

p = argparse.ArgumentParser()
p.add_argument("role", choices=("server", "client"))
p.add_argument("addr")
p.add_argument("port", type=int)
p.add_argument("--sport", type=int, default=0)
p.add_argument("--send", type=int, default=0)
p.add_argument("--hold", type=float, default=40)
a = p.parse_args()
deadline = time.monotonic() + a.hold
fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if a.role == "server":
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((a.addr, a.port))
    s.listen(16)
    s.settimeout(0.2)
    emit("LISTENING", a.port)
    while time.monotonic() < deadline:
        try:
            conn, peer = s.accept()
        except socket.timeout:
            continue
        emit("ACCEPTED", peer[1])
        watch(conn, deadline, True)
    sys.exit(0)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", a.sport))
emit("LOCAL", s.getsockname()[1])
s.settimeout(20)
try:
    s.connect((a.addr, a.port))
except OSError as e:
    emit("CONNECT_FAILED", errname(e))
    sys.exit(0)
emit("CONNECTED", s.getsockname()[1])
if a.send:
    payload = os.urandom(a.send)
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(len(payload) - len(got))
        if not chunk:
            break
        got += chunk
    if got != payload:
        emit("ECHO_BAD", len(got))
        sys.exit(4)
    emit("ECHO_OK", len(got))
watch(s, deadline, False)
EOF

# peer NS NAME ARGS...: starts peer.py; its lines go to $LAB_TMP/NAME.out,
# readable with lib.sh's lab_ep_* functions.
peer() {
	local ns=$1 name=$2
	shift 2
	lab_bg "$ns" "$LAB_TMP/$name.out" "$LAB_PY" -u "$PEER" "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
}

# injector NAME ADDR PORT ARGS...: starts rst_inject in the router on r0.
injector() {
	local name=$1 addr=$2 port=$3
	shift 3
	lab_bg r "$LAB_TMP/$name.out" "$INJ" --dev r0 --server "$addr" --port "$port" \
		--trigger "$LAB_TMP/$name.go" --timeout 40 "$@"
	LAB_EP_PID[$name]=$LAB_LAST_PID
	lab_ep_wait_line "$name" '^READY$' 10
}

# ss_conn NS LPORT PPORT: the lines of `ss -tan` for that connection, any state.
ss_conn() {
	lab_exec "$1" ss -tanH 2>/dev/null | awk -v lp="$2" -v pp="$3" '
	{ l = $4; p = $5; sub(/.*:/, "", l); sub(/.*:/, "", p) }
	l == lp && p == pp { print }'
}
# shellcheck disable=SC2317 # called through lab_wait_until
ss_gone() { [ -z "$(ss_conn "$1" "$2" "$3")" ]; }

expect_gone() {
	lab_wait_until 5 "ss in $(lab_ns "$1") to drop :$2 <-> :$3" ss_gone "$1" "$2" "$3" ||
		lab_fail "$(lab_ns "$1") still lists :$2 <-> :$3 after the RST: $(ss_conn "$1" "$2" "$3")"
}

# challenge_acks NS: the kernel's count of challenge ACKs sent (RFC 5961).
challenge_acks() {
	lab_exec "$1" cat /proc/net/netstat | awk '
	$1 == "TcpExt:" && !names { for (i = 2; i <= NF; i++) col[$i] = i; names = 1; next }
	$1 == "TcpExt:" { print $(col["TCPChallengeACK"]) + 0; exit }'
}

# The sequence number an injector printed for a side's RST.
rst_field() {
	awk -v to="$2" -v k="$3" '$1 == "RST" && $2 == to { for (i = 3; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' \
		"$LAB_TMP/$1.out"
}

# --- 1. ESTABLISHED: probe, then the real reset ----------------------------
established() {
	local fam=$1 port=$2 addr=$LAB_S4 cp
	[ "$fam" = 6 ] && addr=$LAB_S6
	local srv=srv$port cl=cl$port inj=inj$port
	peer s "$srv" server "$addr" "$port"
	lab_ep_wait_line "$srv" '^LISTENING ' 10
	injector "$inj" "$addr" "$port" --probe "$LAB_TMP/$inj.probe"
	peer c "$cl" client "$addr" "$port" --send 100
	lab_ep_wait_line "$cl" '^ECHO_OK 100$' 10
	cp=$(lab_ep_field "$cl" CONNECTED)
	lab_ep_wait_line "$inj" "^TRACKING $cp\$" 5
	lab_expect_ss c "$cp" "$port" ESTABLISHED 5
	lab_expect_ss s "$port" "$cp" ESTABLISHED 5

	# In-window but not exact: challenge ACKs, no reset.
	local ch_c ch_s
	ch_c=$(challenge_acks c)
	ch_s=$(challenge_acks s)
	touch "$LAB_TMP/$inj.probe"
	lab_ep_wait_line "$inj" '^PROBE_SENT 2$' 10
	lab_wait_until 3 "challenge ACKs from both endpoints" \
		eval '[ "$(challenge_acks c)" -gt "$ch_c" ] && [ "$(challenge_acks s)" -gt "$ch_s" ]' ||
		lab_fail "IPv$fam: the off-by-one RSTs drew no challenge ACK (client $ch_c -> $(challenge_acks c), server $ch_s -> $(challenge_acks s))"
	lab_expect_ss_stays c "$cp" "$port" ESTABLISHED 1
	lab_expect_ss s "$port" "$cp" ESTABLISHED 1
	lab_ep_line "$cl" '^RESET' && lab_fail "IPv$fam: the client was reset by an off-by-one RST"
	lab_ep_line "$srv" '^RESET' && lab_fail "IPv$fam: the server was reset by an off-by-one RST"
	lab_log "IPv$fam: off-by-one RSTs drew challenge ACKs only"

	touch "$LAB_TMP/$inj.go"
	lab_ep_wait_line "$inj" '^SENT ' 10
	lab_ep_exit "$inj" 10 || lab_fail "IPv$fam: rst_inject did not send both RSTs: $(grep -E '^(FLOW|RST|SENT)' "$LAB_TMP/$inj.out")"
	lab_ep_wait_line "$cl" '^RESET ' 5
	lab_ep_wait_line "$srv" '^RESET ' 5
	lab_assert_eq "$(awk '$1 == "RESET" { print $2; exit }' "$LAB_TMP/$cl.out")" ECONNRESET "IPv$fam client's recv()"
	lab_assert_eq "$(awk '$1 == "RESET" { print $2; exit }' "$LAB_TMP/$srv.out")" ECONNRESET "IPv$fam server's recv()"
	expect_gone c "$cp" "$port"
	expect_gone s "$port" "$cp"
	lab_assert_eq "$(rst_field "$inj" client flags)" 0x04 "IPv$fam RST to the client: flags"
	lab_assert_eq "$(rst_field "$inj" server flags)" 0x04 "IPv$fam RST to the server: flags"
	lab_log "IPv$fam ESTABLISHED :$cp -> :$port reset on both ends ($(grep '^FLOW' "$LAB_TMP/$inj.out" | tail -n 1))"
}

established 4 8080
established 6 8081

# --- 2. server in SYN_RCVD --------------------------------------------------
port=8082
sp=$(lab_rand_port)
peer s srv_sr server "$LAB_S4" "$port"
lab_ep_wait_line srv_sr '^LISTENING ' 10
lab_drop_out c "$sp" "$port" ACK        # the handshake's last ACK never leaves the client
injector inj_sr "$LAB_S4" "$port"
peer c cl_sr client "$LAB_S4" "$port" --sport "$sp"
lab_ep_wait_line cl_sr '^CONNECTED ' 10
lab_ep_wait_line inj_sr "^TRACKING $sp\$" 5
lab_expect_ss s "$port" "$sp" SYN_RCVD 5
lab_expect_ss c "$sp" "$port" ESTABLISHED 5
touch "$LAB_TMP/inj_sr.go"
lab_ep_wait_line inj_sr '^SENT ' 10
lab_ep_exit inj_sr 10 || lab_fail "SYN_RCVD: rst_inject did not send both RSTs: $(grep -E '^(FLOW|RST|SENT)' "$LAB_TMP/inj_sr.out")"
lab_ep_line inj_sr '^FLOW SYN_SENT [0-9]+ SYN_RCVD [0-9]+$' ||
	lab_fail "SYN_RCVD: tracked as $(grep '^FLOW' "$LAB_TMP/inj_sr.out"), expected SYN_SENT/SYN_RCVD"
lab_assert_eq "$(rst_field inj_sr server flags)" 0x04 "SYN_RCVD: RST to the server: flags"
lab_assert_eq "$(rst_field inj_sr server seq)" "$(awk '$1 == "FLOW" { print $3 }' "$LAB_TMP/inj_sr.out")" \
	"SYN_RCVD: RST to the server: seq (client ISN + 1)"
lab_assert_eq "$(rst_field inj_sr client flags)" 0x14 "SYN_RCVD: RST to the client: flags (RST|ACK)"
expect_gone s "$port" "$sp"
lab_expect_ss s "$port" "" LISTEN 2      # only the request socket went, not the listener
lab_ep_wait_line cl_sr '^RESET ' 5
lab_assert_eq "$(awk '$1 == "RESET" { print $2; exit }' "$LAB_TMP/cl_sr.out")" ECONNRESET "SYN_RCVD: client's recv()"
expect_gone c "$sp" "$port"
lab_ep_line srv_sr '^ACCEPTED' && lab_fail "SYN_RCVD: the server accepted the half-open connection"
lab_log "SYN_RCVD: the server's request socket was freed, the client reset"

# --- 3. client in SYN_SENT --------------------------------------------------
port=8083
peer s srv_ss server "$LAB_S4" "$port"
lab_ep_wait_line srv_ss '^LISTENING ' 10
lab_drop_syn_in_router "$port"          # the SYN passes r0, then dies in the router
injector inj_ss "$LAB_S4" "$port" --sides client
peer c cl_ss client "$LAB_S4" "$port"
lab_ep_wait_line cl_ss '^LOCAL ' 10
cp=$(lab_ep_field cl_ss LOCAL)
lab_ep_wait_line inj_ss "^TRACKING $cp\$" 5
lab_expect_ss c "$cp" "$port" SYN_SENT 5
touch "$LAB_TMP/inj_ss.go"
lab_ep_wait_line inj_ss '^SENT ' 10
lab_ep_exit inj_ss 10 || lab_fail "SYN_SENT: rst_inject did not send the RST: $(grep -E '^(FLOW|RST|SENT)' "$LAB_TMP/inj_ss.out")"
lab_assert_eq "$(rst_field inj_ss client flags)" 0x14 "SYN_SENT: RST to the client: flags (RST|ACK)"
lab_assert_eq "$(rst_field inj_ss client ack)" "$(awk '$1 == "FLOW" { print $3 }' "$LAB_TMP/inj_ss.out")" \
	"SYN_SENT: RST to the client: ack (client ISN + 1)"
# connect() would otherwise go on retrying for 20 s: an answer within 5 s is the RST's.
lab_ep_wait_line cl_ss '^CONNECT_FAILED ' 5
lab_assert_eq "$(lab_ep_field cl_ss CONNECT_FAILED)" ECONNREFUSED "SYN_SENT: client's connect()"
expect_gone c "$cp" "$port"
lab_log "SYN_SENT: connect() refused by the RST|ACK"

lab_pass "RSTs reset ESTABLISHED (IPv4, IPv6; off-by-one only challenged), SYN_RCVD and SYN_SENT endpoints"
