#!/bin/bash
# bench_e2e.sh: end-to-end benchmark of handshaked in a client <-> router <->
# server namespace lab (tests/netns/lib.sh).  It compares, on an NFQUEUE in
# the router's FORWARD chain:
#
#   none        plain forwarding, no queue rule
#   bare-pp     build/bench/bare_nfq --per-packet (one recv + one verdict per packet)
#   bare-burst  build/bench/bare_nfq --burst (recvmmsg + one batch verdict per burst)
#   handshaked  the daemon, tracking every flow (pickup: true)
#
# Packets per second: build/bench/pktgen sends small TCP segments over 1k and
# 100k flows from the client; the server counts what arrives with an
# iptables INPUT rule that then drops it (so the server sends no RST back).
# Connections per second: build/bench/connrate, real connections through the
# router (the server closes first, then the client), several in flight.
#
# The generator (pktgen, connrate's client and server) is pinned to CPU 0,
# every consumer to CPU 1.
#
# Method.  Every consumer runs for the whole benchmark, each bound to its own
# queue (one daemon per flow count, so each table holds exactly its own
# flows, and one for the connection test); a case is selected by pointing
# the single NFQUEUE rule at that consumer's queue.  The cases are then run
# in rounds, one run of each per round, in a rotating order: a disturbance
# (this machine may be shared) lands on all cases alike instead of on one.
# Round 0 is a warm-up (it also lets each daemon pick up its flows) and is
# not counted.  The medians of the other rounds are reported.
#
# What "via consumer" counts.  The queues are opened with FAIL_OPEN (as
# handshaked does by default): once a queue holds maxlen packets the kernel
# lets further packets through WITHOUT asking the consumer.  The server's
# counter ("delivered") includes those and would overstate what the consumer
# handled, so the figure compared is the growth of the queue's id counter
# (/proc/net/netfilter/nfnetlink_queue), which counts only packets really
# queued, per second.  "bypass" is what was delivered beyond that.
#
# Noise.  This machine may be shared, so every run measures "other": the CPU
# time all tasks except ours used meanwhile, in percent of one CPU (tasks
# that start and end within the run escape it, so it is a lower bound; for
# packet runs, the share of CPU 0 the generator did not get is also taken).  A
# run with more than OTHER_MAX (default 10) is repeated, within a bounded
# number of retries, and counted as "noisy" if it stays above.
#
# User-space CPU.  The goal compares the consumers' user-space CPU time per
# packet (utime).  The kernel samples the user/system split at each tick
# (CLK_TCK), so a run of a few seconds holds a few dozen ticks of user time
# and its figure moves by a fifth from sampling alone; besides the medians,
# the ratio is given pooled: every counted run's ticks over its packets
# together, for either consumer alike, with the number of ticks it rests on.
#
# Environment: RUNS (default 5), DURATION (seconds per run, default 3),
# WARMUP (seconds, default 2), CONN_RUNS (default 3), PARALLEL (connections
# in flight, default 128), FLOW_COUNTS (default "1000 100000"), PKT_CASES,
# CONN_CASES (subsets of the cases above, "" for none), PERF=1 (also record
# the bare burst consumer and the daemon with perf, one more run of each at
# each flow count, and print the user-space share of the samples and the
# top symbols; PERF_KEEP=DIR keeps the data), MEM=0 (skip the memory
# measurements), MEM_FLOWS (default 1000000), MEM_TABLE (its table's
# max_flows, default 2097152), MEM_IDLE_TABLE (default 16777216).
#
# Memory.  Resident memory (VmRSS, and the peak VmHWM) of: a bare burst
# consumer (the reference, a queue reader holding no state); a daemon
# started with MEM_IDLE_TABLE flows that sees no traffic; and a daemon with a
# MEM_TABLE table while the generator sends to MEM_FLOWS flows until the
# daemon tracks them all (picked up mid-stream), with the resident bytes it
# gained per live flow.  Goals: idle under 64 MB, the peak with 1M flows in a
# 2M table under 128 MB, at most 100 bytes per flow.
#
# Run as root: make bench-e2e, or tests/bench/bench_e2e.sh.
set -u

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../netns/lib.sh
. "$ROOT/tests/netns/lib.sh"

RUNS=${RUNS:-5}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-2}
CONN_RUNS=${CONN_RUNS:-3}
PARALLEL=${PARALLEL:-128}
FLOW_COUNTS=${FLOW_COUNTS:-"1000 100000"}
PKT_CASES=${PKT_CASES-"none bare-pp bare-burst handshaked"}
CONN_CASES=${CONN_CASES-"none bare-burst handshaked"}
PERF=${PERF:-0}
MEM=${MEM:-1}
MEM_FLOWS=${MEM_FLOWS:-1000000}
MEM_TABLE=${MEM_TABLE:-2097152}
MEM_IDLE_TABLE=${MEM_IDLE_TABLE:-16777216}
QUIET_LOAD=${QUIET_LOAD:-5}         # percent of both CPUs: "quiet enough to start a run"
QUIET_BUDGET=${QUIET_BUDGET:-60}   # seconds, in all, spent waiting for quiet
OTHER_MAX=${OTHER_MAX:-10}          # percent of a CPU used by others: the run is repeated
MAX_TRIES=${MAX_TRIES:-3}           # per run ...
RETRIES=${RETRIES:-12}              # ... and extra runs in all, to keep the total time bounded
GEN_CPU=0
CONS_CPU=1
PKT_PORT=80
CONN_PORT=5001

BIN=$ROOT/build/bench
PKTGEN=$BIN/pktgen
BARE=$BIN/bare_nfq
CONNRATE=$BIN/connrate
DAEMON_BIN=$ROOT/build/handshaked

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "bench_e2e: must run as root" >&2; exit 1; }
for b in "$PKTGEN" "$BARE" "$CONNRATE" "$DAEMON_BIN" "$HANDSHAKECTL"; do
	[ -x "$b" ] || { echo "bench_e2e: $b is not built (make all)" >&2; exit 1; }
done
command -v taskset >/dev/null || { echo "bench_e2e: taskset is missing" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || echo "bench_e2e: warning: fewer than 2 CPUs, generator and consumer share one" >&2

lab_up
# The programs under test are copied first: the build directory may be
# rebuilt while the benchmark runs, and perf needs the binaries it samples.
mkdir -p "$LAB_TMP/bin" || lab_fail "mkdir $LAB_TMP/bin"
cp "$PKTGEN" "$BARE" "$CONNRATE" "$DAEMON_BIN" "$HANDSHAKECTL" "$LAB_TMP/bin/" ||
	lab_fail "cannot copy the programs to $LAB_TMP/bin"
PKTGEN=$LAB_TMP/bin/pktgen
BARE=$LAB_TMP/bin/bare_nfq
CONNRATE=$LAB_TMP/bin/connrate
DAEMON_BIN=$LAB_TMP/bin/handshaked
HANDSHAKECTL=$LAB_TMP/bin/handshakectl
RESULTS=$LAB_TMP/results     # lines: KIND CASE FLOWS METRIC VALUE
: >"$RESULTS"

# ---------------------------------------------------------------------------
# measurements

# Jiffies of the generator's CPU and the consumer's: "busy0 total0 busy1 total1".
cpu_snapshot() {
	awk -v a="cpu$GEN_CPU" -v b="cpu$CONS_CPU" '$1 == a || $1 == b {
		t = 0; for (i = 2; i <= NF; i++) t += $i
		busy[$1] = t - $5 - $6; total[$1] = t }
		END { print busy[a], total[a], busy[b], total[b] }' /proc/stat
}

# Nanoseconds on a CPU, all threads of the given processes together.
run_ns() {
	local p f t=0
	for p in "$@"; do
		for f in /proc/"$p"/task/*/schedstat; do
			[ -r "$f" ] && t=$((t + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
		done
	done
	echo "$t"
}

# User-space CPU time of a process, all its threads, in clock ticks (utime in /proc/PID/stat).
user_ticks() {
	local st
	[ -n "$1" ] && st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	st=${st##*) }
	# shellcheck disable=SC2086  # the fields after the name
	set -- $st
	echo "${12}"
}
CLK_TCK=$(getconf CLK_TCK)

server_delivered() {
	lab_exec s iptables -w 5 -L INPUT -v -n -x |
		awk -v p="dpt:$PKT_PORT" '$3 == "DROP" && index($0, p) { n += $1 } END { print n + 0 }'
}

# The id counter of queue $1: it grows by one for every packet really queued.
queue_ids() {
	lab_exec r cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk -v q="$1" '$1 == q { print $8; f = 1 } END { if (!f) print 0 }'
}

queue_empty() { [ "$(lab_queue_total "$1")" = 0 ] || [ "$(lab_queue_info "$1")" = unbound ]; }

median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

field() { # field NAME TEXT: the word after NAME in TEXT
	awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"
}

# ---------------------------------------------------------------------------
# the lab's additions and the consumers

# The server counts and drops the generator's segments; connrate's port is
# left open.  The client gets a wide port range for connrate.
lab_ipt s -A INPUT -p tcp -d "$LAB_S4" --dport "$PKT_PORT" -j DROP ||
	lab_fail "cannot add the counting rule in the server"
lab_exec c sysctl -qw net.ipv4.ip_local_port_range="1024 65000" >/dev/null

declare -A QUEUE_OF=() PID_OF=() SOCK_OF=()
CONNSRV_PID=""
NEXT_QUEUE=$LAB_QNUM

# start_bare KEY FLAG
start_bare() {
	local key=$1 q=$NEXT_QUEUE
	NEXT_QUEUE=$((NEXT_QUEUE + 1))
	lab_bg r "$LAB_TMP/$key.out" taskset -c "$CONS_CPU" "$BARE" "$2" --queue "$q"
	lab_wait_until 5 "bare_nfq to bind queue $q" grep -q 'bound' "$LAB_TMP/$key.out" ||
		lab_fail "bare_nfq did not start: $(cat "$LAB_TMP/$key.out")"
	QUEUE_OF[$key]=$q
	PID_OF[$key]=$LAB_LAST_PID
}

# The daemon goes through lab_start_daemon, pinned by a wrapper: the
# affinity set before exec is inherited by all its threads.
cat >"$LAB_TMP/handshaked-pinned" <<EOF
#!/bin/sh
exec taskset -c $CONS_CPU "$DAEMON_BIN" "\$@"
EOF
chmod +x "$LAB_TMP/handshaked-pinned"
HANDSHAKED=$LAB_TMP/handshaked-pinned

# start_daemon KEY MAX_FLOWS
start_daemon() {
	local key=$1 q=$NEXT_QUEUE
	NEXT_QUEUE=$((NEXT_QUEUE + 1))
	cat >"$LAB_TMP/$key.yaml" <<EOF
# written by tests/bench/bench_e2e.sh
queue:
  num: $q
control:
  socket: $LAB_TMP/$key.sock
log:
  level: warning
  events: off
table:
  max_flows: $2
  pickup: true
EOF
	lab_start_daemon "$LAB_TMP/$key.yaml"
	QUEUE_OF[$key]=$q
	PID_OF[$key]=$LAB_DAEMON_PID
	SOCK_OF[$key]=$LAB_SOCK
}

# consumer_key CASE FLOWS: which consumer serves a case ("" for none).
consumer_key() {
	case "$1" in
	none) echo "" ;;
	handshaked) echo "hs-$2" ;;
	*) echo "$1" ;;
	esac
}

RULE_QUEUE=""
# select_queue Q|"": points the router's one NFQUEUE rule at queue Q, or removes it.
select_queue() {
	local q=$1
	[ "$q" = "$RULE_QUEUE" ] && return 0
	if [ -n "$RULE_QUEUE" ]; then
		lab_ipt r -D FORWARD -p tcp -j NFQUEUE --queue-num "$RULE_QUEUE" --queue-bypass ||
			lab_fail "cannot delete the NFQUEUE rule"
	fi
	if [ -n "$q" ]; then
		lab_ipt r -A FORWARD -p tcp -j NFQUEUE --queue-num "$q" --queue-bypass ||
			lab_fail "cannot add the NFQUEUE rule"
	fi
	RULE_QUEUE=$q
}

# The daemon's counters, one "name value" per line.
daemon_stats() {
	lab_exec r timeout 5 "$HANDSHAKECTL" -s "$1" stats --json | "$LAB_PY" -c '
import json, sys
s = json.load(sys.stdin)
p, f, q = s["packets"], s["flows"], s["queue"]
for k, v in (("live", f["live"]), ("created", f["created"]), ("seen", p["seen"]),
             ("invalid", p["invalid"]), ("evicted", f["evicted"]), ("expired", f["expired"]),
             ("untracked_table_full", f["untracked_table_full"]), ("enobufs", q["enobufs"]),
             ("bursts", q["bursts"]), ("loop_max_us", q["loop_max_us"])):
    print(k, v)'
}

# ---------------------------------------------------------------------------
# one run of each kind

# wait_quiet: waits until the two CPUs are nearly idle (between runs our own
# consumers are idle, so any load is another workload's), within the time
# left in QUIET_BUDGET.  Returns 1 if it gave up.
QUIET_LEFT_MS=$((QUIET_BUDGET * 1000))
wait_quiet() {
	local a b load t0
	t0=$(lab__now_ms)
	while :; do
		a=$(cpu_snapshot)
		sleep 0.3
		b=$(cpu_snapshot)
		load=$(echo "$a $b" | awk '{ printf "%.0f", 100 * (($5 - $1) + ($7 - $3)) / (($6 - $2) + ($8 - $4) + 1e-9) }')
		[ "$load" -le "$QUIET_LOAD" ] && break
		[ $(($(lab__now_ms) - t0)) -ge "$QUIET_LEFT_MS" ] && break
	done
	QUIET_LEFT_MS=$((QUIET_LEFT_MS - ($(lab__now_ms) - t0)))
	[ "$QUIET_LEFT_MS" -lt 0 ] && QUIET_LEFT_MS=0
	[ "$load" -le "$QUIET_LOAD" ]
}

# Noise: the CPU time that every task on the machine but ours used during a
# run.  task_times FILE records "pid tid nanoseconds" for every task; the
# generator and connrate's client start and end between two records, so they
# never appear, and the long-lived ones of ours are left out by PID.
task_times() {
	grep -H . /proc/[0-9]*/task/[0-9]*/schedstat 2>/dev/null |
		awk -F'[/: ]' '{ print $3, $5, $7 }' >"$1"
}

# other_load BEFORE AFTER MILLISECONDS: percent of one CPU used by others.
# Also sets OTHER_TOP to the busiest of those tasks ("name percent").
# Kernel threads are left out too: they are charged for softirq and timer
# work that mostly comes from our own traffic (with a queue, a kworker on
# the consumer's CPU runs 30-40% of it during the connection test).
other_load() {
	local ours res
	ours="$$ ${PID_OF[*]} $CONNSRV_PID 2 $(ps -o pid= --ppid 2 | tr '\n' ' ')"
	res=$(awk -v ours="$ours" -v ms="$3" '
		BEGIN { n = split(ours, o, " "); for (i = 1; i <= n; i++) skip[o[i]] = 1 }
		FNR == NR { before[$2] = $3; next }
		!($1 in skip) { d = $3 - before[$2]; if (d > 0) { sum += d; if (d > top) { top = d; tp = $1 "/task/" $2 } } }
		END { if (ms <= 0) ms = 1; printf "%.0f %s %.0f", 100 * sum / (ms * 1e6), tp == "" ? "-" : tp, 100 * top / (ms * 1e6) }' "$1" "$2")
	# shellcheck disable=SC2086  # three words
	set -- $res
	OTHER_TOP="-"
	[ "$2" != - ] && OTHER_TOP="$(cat "/proc/$2/comm" 2>/dev/null || echo exited) $3%"
	echo "$1"
}

# pkt_measure CASE FLOWS SECONDS: one generator run through CASE's consumer.
# Sets R to "sent delivered via_consumer bypass (all per second) cpu0% cpu1%
# consumer_ns_per_packet other% generator_ns_per_packet
# consumer_user_ns_per_packet".
pkt_measure() {
	local case=$1 flows=$2 secs=$3 key q="" pid=""
	key=$(consumer_key "$case" "$flows")
	if [ -n "$key" ]; then
		q=${QUEUE_OF[$key]}
		pid=${PID_OF[$key]}
	fi
	select_queue "$q"
	local d0 q0=0 c0 n0 u0 out
	d0=$(server_delivered)
	[ -n "$q" ] && q0=$(queue_ids "$q")
	n0=$(run_ns "$pid")
	u0=$(user_ticks "$pid")
	task_times "$LAB_TMP/tasks.0"
	local t0 t1
	t0=$(lab__now_ms)
	c0=$(cpu_snapshot)
	out=$(lab_exec c timeout $((${secs%.*} + 15)) taskset -c "$GEN_CPU" "$PKTGEN" --dst "$LAB_S4" \
		--dport "$PKT_PORT" --flows "$flows" --duration "$secs" 2>&1) ||
		lab_fail "pktgen failed: $out"
	local c1 n1 u1
	c1=$(cpu_snapshot)
	t1=$(lab__now_ms)
	task_times "$LAB_TMP/tasks.1"
	n1=$(run_ns "$pid")
	u1=$(user_ticks "$pid")
	# Let the queue drain (8192 packets at most) before the counters are read.
	[ -n "$q" ] && lab_wait_until 3 "queue $q to drain" queue_empty "$q" 2>/dev/null
	sleep 0.1
	local d1 q1=0
	d1=$(server_delivered)
	[ -n "$q" ] && q1=$(queue_ids "$q")

	local sent elapsed gcpu
	sent=$(field sent "$out")
	elapsed=$(field elapsed "$out")
	gcpu=$(field cpu_s "$out")
	if [ -z "$sent" ] || [ -z "$elapsed" ] || [ -z "$gcpu" ]; then
		lab_fail "cannot read pktgen's output: $out"
	fi
	local delivered=$((d1 - d0)) queued=$((q1 - q0))
	[ -z "$q" ] && queued=$delivered
	local other
	other_load "$LAB_TMP/tasks.0" "$LAB_TMP/tasks.1" $((t1 - t0)) >"$LAB_TMP/other"
	other=$(cat "$LAB_TMP/other")
	# The generator never sleeps, so whatever part of its CPU it did not get
	# went to someone else, short-lived tasks included.
	local lost
	lost=$(awk -v c="$gcpu" -v e="$elapsed" 'BEGIN { l = 100 * (1 - c / e); printf "%.0f", (l < 0) ? 0 : l }')
	if [ "$lost" -gt "$other" ]; then
		other=$lost
		OTHER_TOP="(the generator lost ${lost}% of CPU $GEN_CPU)"
	fi
	R=$(echo "$sent $delivered $queued $elapsed $((n1 - n0)) $c0 $c1 $other $gcpu $((u1 - u0))" | awk -v hz="$CLK_TCK" '{
		s = $1; d = $2; q = $3; e = $4; cons = $5
		b = d - q; if (b < 0) b = 0
		busy0 = 100 * ($10 - $6) / ($11 - $7); busy1 = 100 * ($12 - $8) / ($13 - $9)
		nspp = (q > 0 && cons > 0) ? cons / q : 0
		gnspp = (s > 0) ? $15 * 1e9 / s : 0
		unspp = (q > 0) ? $16 * 1e9 / hz / q : 0
		printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %s %.0f %.0f %.0f %.0f", s / e, d / e, q / e, b / e, busy0, busy1, nspp, $14, gnspp, unspp, $16, q }')
}

DISTURBED=0
# pkt_run CASE FLOWS SECONDS RECORD: a run, repeated (MAX_TRIES at most) while
# another workload took more than OTHER_MAX% of a CPU during it; with
# RECORD=1 the figures go to $RESULTS.
pkt_run() {
	local case=$1 flows=$2 secs=$3 record=$4 try note
	for ((try = 1; ; try++)); do
		[ "$record" = 1 ] && wait_quiet
		pkt_measure "$case" "$flows" "$secs"
		# shellcheck disable=SC2086
		set -- $R
		note=""
		[ "$record" = 1 ] || note=" (warm-up)"
		[ "$8" -gt "$OTHER_MAX" ] && note="$note (disturbed; busiest other task: $OTHER_TOP)"
		log "$(printf '%-10s %6s flows: sent %6s pps, delivered %6s, via consumer %6s, bypass %6s; CPU %3s%%/%3s%%, consumer %4s ns/pkt, other load %s%%, generator %s ns/pkt, consumer user space %s ns/pkt%s' \
			"$case" "$flows" "${@:1:10}" "$note")"
		[ "$record" = 1 ] || return 0
		[ "$8" -le "$OTHER_MAX" ] && break
		if [ "$try" -ge "$MAX_TRIES" ] || [ "$RETRIES" -le 0 ]; then
			DISTURBED=$((DISTURBED + 1))
			break
		fi
		RETRIES=$((RETRIES - 1))
	done
	local m i=1
	for m in sent delivered consumer bypass cpu_gen cpu_cons ns_per_pkt other gen_ns user_ns user_ticks queued; do
		echo "pkt $case $flows $m ${!i}" >>"$RESULTS"
		i=$((i + 1))
	done
}

# conn_run CASE RECORD: the same for connections per second.
conn_run() {
	local case=$1 record=$2 key q="" try
	key=$(consumer_key "$case" conn)
	[ -n "$key" ] && q=${QUEUE_OF[$key]}
	select_queue "$q"
	local out rate failed t0 t1 other note
	for ((try = 1; ; try++)); do
		[ "$record" = 1 ] && wait_quiet
		task_times "$LAB_TMP/tasks.0"
		t0=$(lab__now_ms)
		out=$(lab_exec c timeout $((${DURATION%.*} + 15)) taskset -c "$GEN_CPU" "$CONNRATE" client \
			--dst "$LAB_S4" --port "$CONN_PORT" --duration "$DURATION" --parallel "$PARALLEL" 2>&1) ||
			lab_fail "connrate client failed: $out"
		t1=$(lab__now_ms)
		task_times "$LAB_TMP/tasks.1"
		rate=$(field per_second "$out")
		failed=$(field failed "$out")
		[ -n "$rate" ] || lab_fail "cannot read connrate's output: $out"
		other_load "$LAB_TMP/tasks.0" "$LAB_TMP/tasks.1" $((t1 - t0)) >"$LAB_TMP/other"
		other=$(cat "$LAB_TMP/other")
		note=""
		[ "$record" = 1 ] || note=" (warm-up)"
		[ "$other" -gt "$OTHER_MAX" ] && note="$note (disturbed; busiest other task: $OTHER_TOP)"
		log "$(printf '%-10s connections: %s per second, %s failed, other load %s%%%s' "$case" \
			"$rate" "$failed" "$other" "$note")"
		[ "$record" = 1 ] || return 0
		[ "$other" -le "$OTHER_MAX" ] && break
		if [ "$try" -ge "$MAX_TRIES" ] || [ "$RETRIES" -le 0 ]; then
			DISTURBED=$((DISTURBED + 1))
			break
		fi
		RETRIES=$((RETRIES - 1))
	done
	echo "conn $case - rate $rate" >>"$RESULTS"
	echo "conn $case - other $other" >>"$RESULTS"
}

# rotate N WORDS...: the words, starting with the (N mod count)-th.
rotate() {
	local n=$1
	shift
	local -a w=("$@")
	local i c=${#w[@]}
	for ((i = 0; i < c; i++)); do
		printf '%s ' "${w[$(((i + n) % c))]}"
	done
}

# perf_consumer CASE FLOWS: records one more run of CASE's consumer with
# perf and prints where its time went; with PERF_KEEP=DIR the data stays
# there (CASE-FLOWS.data), with the binaries it sampled.
perf_consumer() {
	command -v perf >/dev/null || { log "perf not found"; return; }
	local case=$1 flows=$2 key data
	key=$(consumer_key "$case" "$flows")
	[ -n "$key" ] && [ -n "${PID_OF[$key]:-}" ] || return 0
	data="$LAB_TMP/perf.$case.$flows.data"
	log "perf record of $case ($flows flows) during one more run"
	perf record -q -g -o "$data" -p "${PID_OF[$key]}" -- sleep "$DURATION" >/dev/null 2>&1 &
	local ppid=$!
	pkt_run "$case" "$flows" "$DURATION" 0
	wait "$ppid" 2>/dev/null
	# The user-space share of the samples (4000 a second of CPU time, far
	# more than the 250 ticks of utime) times the consumer's CPU time.
	local share
	# shellcheck disable=SC2086  # R's figures
	set -- $R
	share=$(perf report -q -i "$data" --no-children --sort dso -g none 2>/dev/null |
		awk '$1 ~ /%$/ { t += $1 + 0; if ($2 !~ /^\[kernel/) u += $1 + 0 } END { printf "%.4f", (t > 0) ? u / t : 0 }')
	echo "perf: $case $flows flows: user space $share of the samples x consumer $7 ns/pkt =" \
		"$(awk -v s="$share" -v c="$7" 'BEGIN { printf "%.0f", s * c }') user ns/pkt"
	echo "---- perf: $case with $flows flows: time by object, then top symbols (self time) ----"
	perf report -q -i "$data" --no-children --sort dso -g none 2>/dev/null | grep -v '^$' | head -n 6
	perf report -q -i "$data" --no-children --sort dso,symbol -g none 2>/dev/null | grep -v '^$' |
		sed 's/[[:space:]-]*$//' | head -n 25
	echo "---- perf: $case with $flows flows: user space only, top symbols (% of all samples) ----"
	perf report -q -i "$data" --no-children --sort dso,symbol -g none 2>/dev/null | grep -v '^$' |
		grep -v '\[kernel' | sed 's/[[:space:]-]*$//' | head -n 30
	if [ -n "${PERF_KEEP:-}" ]; then
		mkdir -p "$PERF_KEEP" && cp "$data" "$PERF_KEEP/$case-$flows.data" && cp "$BARE" "$DAEMON_BIN" "$PERF_KEEP/" ||
			log "cannot keep the perf data in $PERF_KEEP"
	fi
}

# ---------------------------------------------------------------------------
# memory

# rss_kb PID FIELD: VmRSS or VmHWM of a process, in kB.
rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }

# stop_consumer KEY: ends one consumer of ours (its memory is not to weigh on the rest).
stop_consumer() {
	local pid=${PID_OF[$1]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	lab_wait_until 10 "$1 to exit" eval '! lab__alive '"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "PID_OF[$1]" "SOCK_OF[$1]"
}

live_flows() { field live "$(daemon_stats "${SOCK_OF[$1]}" | tr '\n' ' ')"; }

# mem_measure: the figures in MEM_* (kB), before the timed runs.
mem_measure() {
	MEM_REF_KB=n/a
	[ -n "${PID_OF[bare-burst]:-}" ] && MEM_REF_KB=$(rss_kb "${PID_OF[bare-burst]}" VmRSS)
	start_daemon mem-idle "$MEM_IDLE_TABLE"
	MEM_IDLE_KB=$(rss_kb "${PID_OF[mem-idle]}" VmRSS)
	stop_consumer mem-idle
	log "memory: bare consumer ${MEM_REF_KB} kB, idle daemon (max_flows $MEM_IDLE_TABLE) ${MEM_IDLE_KB} kB"

	start_daemon mem-flows "$MEM_TABLE"
	local pid=${PID_OF[mem-flows]} try live=0 out secs=$((MEM_FLOWS / 80000 + 2))
	MEM_EMPTY_KB=$(rss_kb "$pid" VmRSS)
	select_queue "${QUEUE_OF[mem-flows]}"
	# Flows the queue let through unseen (fail-open when it is full) are seen on the next pass.
	for ((try = 0; try < 5; try++)); do
		# Flows take turns from the first each run: long enough for every one at 80k packets/s.
		out=$(lab_exec c timeout $((secs + 15)) taskset -c "$GEN_CPU" "$PKTGEN" --dst "$LAB_S4" \
			--dport "$PKT_PORT" --flows "$MEM_FLOWS" --duration "$secs" 2>&1) || lab_fail "pktgen failed: $out"
		lab_wait_until 3 "queue to drain" queue_empty "${QUEUE_OF[mem-flows]}" 2>/dev/null
		live=$(live_flows mem-flows)
		log "memory: ${live:-?} of $MEM_FLOWS flows tracked"
		[ "${live:-0}" -ge "$MEM_FLOWS" ] && break
	done
	select_queue ""
	MEM_LIVE=${live:-0}
	MEM_FULL_KB=$(rss_kb "$pid" VmRSS)
	MEM_PEAK_KB=$(rss_kb "$pid" VmHWM)
	stop_consumer mem-flows
}

mem_report() {
	echo
	echo "== memory (resident kB; goals: idle daemon with max_flows $MEM_IDLE_TABLE < 64 MB,"
	echo "   $MEM_FLOWS live flows in a table of $MEM_TABLE: peak < 128 MB, <= 100 bytes per flow)"
	awk -v ref="$MEM_REF_KB" -v idle="$MEM_IDLE_KB" -v empty="$MEM_EMPTY_KB" -v full="$MEM_FULL_KB" \
		-v peak="$MEM_PEAK_KB" -v live="$MEM_LIVE" -v it="$MEM_IDLE_TABLE" -v mt="$MEM_TABLE" 'BEGIN {
		x = (ref + 0 > 0)
		printf "  %-52s %9s\n", "bare burst consumer (reference)", ref
		printf "  %-52s %9s", "handshaked, max_flows " it ", idle", idle
		if (x) printf "   %.1f x the reference", idle / ref
		printf "\n  %-52s %9s\n", "handshaked, max_flows " mt ", before traffic", empty
		printf "  %-52s %9s\n", "handshaked, " live " live flows", full
		printf "  %-52s %9s", "handshaked, " live " live flows, peak", peak
		if (x) printf "   %.1f x the reference", peak / ref
		printf "\n  %-52s %9.1f\n", "bytes gained per live flow", (live > 0) ? (full - empty) * 1024 / live : 0
	}'
}

# ---------------------------------------------------------------------------
# the benchmark

t_start=$(lab__now_ms)
c_a=$(cpu_snapshot)
sleep 1
c_b=$(cpu_snapshot)
IDLE_LOAD=$(echo "$c_a $c_b" | awk '{ printf "%.0f", 100 * (($5 - $1) + ($7 - $3)) / (($6 - $2) + ($8 - $4)) }')
log "machine load before the benchmark: ${IDLE_LOAD}% of both CPUs"
[ "$IDLE_LOAD" -gt 10 ] && log "warning: another workload is running; the figures will be noisy"

for c in $PKT_CASES $CONN_CASES; do
	case "$c" in
	none | handshaked) ;;
	bare-pp) [ -n "${PID_OF[bare-pp]:-}" ] || start_bare bare-pp --per-packet ;;
	bare-burst) [ -n "${PID_OF[bare-burst]:-}" ] || start_bare bare-burst --burst ;;
	*) lab_fail "unknown case $c" ;;
	esac
done
if [[ " $PKT_CASES " == *" handshaked "* ]]; then
	for f in $FLOW_COUNTS; do
		start_daemon "hs-$f" 262144
	done
fi
# Connections in TIME_WAIT stay in the table for 120 s: room for all of them.
[[ " $CONN_CASES " == *" handshaked "* ]] && start_daemon hs-conn 1048576

[ "$MEM" = 1 ] && mem_measure
log "packet runs: $RUNS rounds of ${DURATION}s after a ${WARMUP}s warm-up round; generator CPU $GEN_CPU, consumers CPU $CONS_CPU"
if [ -n "$PKT_CASES" ]; then
	for ((round = 0; round <= RUNS; round++)); do
		for f in $FLOW_COUNTS; do
			# shellcheck disable=SC2086  # the list of cases
			for c in $(rotate "$round" $PKT_CASES); do
				if [ "$round" = 0 ]; then
					pkt_run "$c" "$f" "$WARMUP" 0
				else
					pkt_run "$c" "$f" "$DURATION" 1
				fi
			done
		done
	done
	if [ "$PERF" = 1 ]; then
		for f in $FLOW_COUNTS; do
			for c in bare-burst handshaked; do
				[[ " $PKT_CASES " == *" $c "* ]] && perf_consumer "$c" "$f"
			done
		done
	fi
fi

if [ -n "$CONN_CASES" ]; then
	lab_bg s "$LAB_TMP/connsrv.out" taskset -c "$GEN_CPU" "$CONNRATE" server --port "$CONN_PORT"
	lab_wait_until 5 "connrate server to listen" grep -q listening "$LAB_TMP/connsrv.out" ||
		lab_fail "connrate server did not start: $(cat "$LAB_TMP/connsrv.out")"
	CONNSRV_PID=$LAB_LAST_PID
	log "connection runs: $CONN_RUNS rounds of ${DURATION}s after a warm-up round, $PARALLEL in flight"
	for ((round = 0; round <= CONN_RUNS; round++)); do
		# shellcheck disable=SC2086  # the list of cases
		for c in $(rotate "$round" $CONN_CASES); do
			conn_run "$c" "$([ "$round" = 0 ] && echo 0 || echo 1)"
		done
	done
fi
select_queue ""

# ---------------------------------------------------------------------------
# report

get() { # get KIND CASE FLOWS METRIC -> median
	awk -v k="$1" -v c="$2" -v f="$3" -v m="$4" '$1 == k && $2 == c && $3 == f && $4 == m { print $5 }' \
		"$RESULTS" | median
}
noisy() { # noisy KIND CASE FLOWS -> how many counted runs were disturbed
	awk -v k="$1" -v c="$2" -v f="$3" -v max="$OTHER_MAX" \
		'$1 == k && $2 == c && $3 == f && $4 == "other" && $5 > max { n++ } END { print n + 0 }' "$RESULTS"
}
# pooled CASE FLOWS -> "NS TICKS": user-space ns per packet over all the counted runs together (their
# utime ticks over their packets), and how many ticks that rests on.  utime is sampled at CLK_TCK, so one
# run of a few seconds holds a few dozen ticks of user time and its figure moves by a fifth from sampling
# alone; the pooled figure rests on every run's ticks, for either consumer alike.
pooled() {
	awk -v c="$1" -v f="$2" -v hz="$CLK_TCK" '$1 == "pkt" && $2 == c && $3 == f && $4 == "user_ticks" { t += $5 }
		$1 == "pkt" && $2 == c && $3 == f && $4 == "queued" { q += $5 }
		END { if (q > 0) printf "%.1f %d\n", t * 1e9 / hz / q, t; else print "nan 0" }' "$RESULTS"
}
kpps() { awk '{ printf "%.1f", $1 / 1000 }'; }
int() { awk '{ printf "%.0f", $1 }'; }

echo
echo "== handshaked end-to-end benchmark: medians of $RUNS runs of ${DURATION}s (connections: $CONN_RUNS runs)"
echo "   generator on CPU $GEN_CPU, consumers on CPU $CONS_CPU; kpps = thousands of packets per second;"
echo "   'via consumer' = packets that got a verdict from the consumer (the figure compared);"
echo "   CPU = busy share of CPU $GEN_CPU / CPU $CONS_CPU; gen ns = the generator's CPU time per packet sent"
echo "   (the router's receive path up to the queue included); cons ns = the consumer's CPU time per packet"
echo "   it handled (reinjection and delivery to the server included); user ns = the part of it in user"
echo "   space (utime, in ${CLK_TCK} Hz ticks); other = CPU used by other tasks"
echo "   on the machine during the runs (% of one CPU);"
echo "   noisy = runs in which that exceeded ${OTHER_MAX}% even after retrying"
if [ -n "$PKT_CASES" ]; then
	echo
	printf '%-11s %6s %9s %10s %13s %7s %10s %7s %7s %7s %6s %6s\n' case flows "sent kpps" "deliv kpps" \
		"via consumer" bypass "CPU0/CPU1" "gen ns" "cons ns" "user ns" other noisy
	for f in $FLOW_COUNTS; do
		for c in $PKT_CASES; do
			printf '%-11s %6s %9s %10s %13s %7s %10s %7s %7s %7s %5s%% %6s\n' "$c" "$f" \
				"$(get pkt "$c" "$f" sent | kpps)" "$(get pkt "$c" "$f" delivered | kpps)" \
				"$(get pkt "$c" "$f" consumer | kpps)" "$(get pkt "$c" "$f" bypass | kpps)" \
				"$(get pkt "$c" "$f" cpu_gen | int)/$(get pkt "$c" "$f" cpu_cons | int)%" \
				"$(get pkt "$c" "$f" gen_ns | int)" \
				"$(if [ "$c" = none ]; then echo -; else get pkt "$c" "$f" ns_per_pkt | int; fi)" \
				"$(if [ "$c" = none ]; then echo -; else get pkt "$c" "$f" user_ns | int; fi)" \
				"$(get pkt "$c" "$f" other | int)" "$(noisy pkt "$c" "$f")/$RUNS"
		done
	done
fi
if [ -n "$CONN_CASES" ]; then
	echo
	printf '%-11s %14s %6s %6s\n' case "connections/s" other noisy
	for c in $CONN_CASES; do
		printf '%-11s %14s %5s%% %6s\n' "$c" "$(get conn "$c" - rate | int)" "$(get conn "$c" - other | int)" \
			"$(noisy conn "$c" -)/$CONN_RUNS"
	done
fi
echo
echo "ratios (goal: handshaked >= 0.90 x bare-burst and ahead of bare-pp):"
ratio() { # ratio LABEL A B
	awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
		if (a == "nan" || b == "nan" || b == 0) printf "  %-49s n/a\n", l
		else printf "  %-49s %.3f\n", l, a / b }'
}
for f in $FLOW_COUNTS; do
	ratio "$f flows, pps via consumer, hs / bare-burst:" "$(get pkt handshaked "$f" consumer)" \
		"$(get pkt bare-burst "$f" consumer)"
	ratio "$f flows, pps via consumer, hs / bare-pp:" "$(get pkt handshaked "$f" consumer)" \
		"$(get pkt bare-pp "$f" consumer)"
	ratio "$f flows, consumer ns/pkt, hs / bare-burst:" "$(get pkt handshaked "$f" ns_per_pkt)" \
		"$(get pkt bare-burst "$f" ns_per_pkt)"
	ratio "$f flows, generator ns/pkt, hs / bare-burst:" "$(get pkt handshaked "$f" gen_ns)" \
		"$(get pkt bare-burst "$f" gen_ns)"
	ratio "$f flows, user-space ns/pkt, hs / bare-burst, medians:" "$(get pkt handshaked "$f" user_ns)" \
		"$(get pkt bare-burst "$f" user_ns)"
	read -r hs_user hs_ticks <<<"$(pooled handshaked "$f")"
	read -r bare_user bare_ticks <<<"$(pooled bare-burst "$f")"
	ratio "$f flows, user-space ns/pkt, hs / bare-burst, pooled (goal <= 1.5):" "$hs_user" "$bare_user"
	printf '  %-49s %s / %s ns/pkt, over %s / %s ticks\n' "  (pooled over every counted run)" \
		"$hs_user" "$bare_user" "$hs_ticks" "$bare_ticks"
done
ratio "connections/s, hs / bare-burst:" "$(get conn handshaked - rate)" "$(get conn bare-burst - rate)"
ratio "connections/s, hs / none:" "$(get conn handshaked - rate)" "$(get conn none - rate)"

[ "$MEM" = 1 ] && mem_report
echo
echo "the bare consumers' own counters (over the whole benchmark):"
for key in bare-pp bare-burst; do
	pid=${PID_OF[$key]:-}
	[ -n "$pid" ] || continue
	kill -TERM "$pid" 2>/dev/null
	lab_wait_until 5 "$key to exit" eval '! lab__alive '"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	line=$(grep 'packets' "$LAB_TMP/$key.out" | tail -n 1)
	printf '  %-10s %s, packets/recv %s\n' "$key:" "${line#bare_nfq: }" \
		"$(awk -v p="$(field packets "$line")" -v r="$(field recvs "$line")" 'BEGIN { printf "%.1f", r ? p / r : 0 }')"
done
echo
echo "handshaked's own statistics (it tracked the flows):"
for key in $(printf '%s\n' "${!SOCK_OF[@]}" | sort); do
	st=$(daemon_stats "${SOCK_OF[$key]}") || { echo "  $key: handshakectl stats failed"; continue; }
	seen=$(field seen "$(tr '\n' ' ' <<<"$st")")
	bursts=$(field bursts "$(tr '\n' ' ' <<<"$st")")
	printf '  %-10s %s, packets/burst %s\n' "$key:" "$(tr '\n' ' ' <<<"$st" | sed 's/\([a-z_]*\) \([0-9]*\) /\1 \2, /g; s/, $//')" \
		"$(awk -v s="$seen" -v b="$bursts" 'BEGIN { printf "%.1f", b ? s / b : 0 }')"
done
echo
echo "runs still disturbed by another workload after $MAX_TRIES tries: $DISTURBED"
echo "machine load before the benchmark: ${IDLE_LOAD}%; total time $((($(lab__now_ms) - t_start) / 1000)) s"
