/*
 * fuzz_track: libFuzzer target for the tracking core: the flow table
 * (daemon/core/table.c), the TCP state machine (daemon/core/tcp_state.c) and the
 * policy engine (daemon/core/policy_engine.c), driven the way a worker
 * drives them.
 *
 * One input is a whole session: a header that configures a small table
 * (1 to 8 flows, so eviction is routine) and then a series of records:
 * packets over eight fixed tuples (IPv4, IPv6, a self-connected socket and
 * an IPv6 address whose bytes equal an IPv4 tuple's), raw packet bytes
 * through the parser, clock steps from a millisecond to a month, `kill`
 * from the control socket, reloads and queries.  The table knows two of the
 * addresses as the host's own, so flows have a local end, none or two, and
 * the policies on local_state and remote_state count and act on them.  track_input.h describes
 * the byte format.  Sequence and acknowledgement numbers are relative to
 * what the table tracks, so short inputs already hold in-window
 * conversations and the fuzzer reaches the state machine's deep states.
 *
 * The harness mirrors daemon/worker.c: bursts go through
 * hs_table_track_batch whose callback gives each result to the engine
 * before the next packet is tracked, and then carries out the engine's
 * action list (events written, reset flows deleted as if their RSTs had
 * been sent: there is no sender here); a small list and a spill function
 * exercise its overflow; reloads call hs_table_reconfigure and then
 * hs_policy_engine_set.  After every record it checks invariants of
 * the table (counts, links, lookups, timers, expiry) and of the engine.
 *
 * daemon/core/policy_engine.c is included rather than linked so that the harness can
 * read the engine's private limit counts and compare them with a recount
 * from the flows in the table: a count that drifts would make a `limit`
 * refuse connections it should admit, or admit a flood it should stop,
 * without ever crashing.
 */
/*
 * FUZZ_POLICY_C names another copy of policy_engine.c, so that a fix can be tried
 * under the fuzzer before it goes into daemon/.
 */
#ifdef FUZZ_POLICY_C
#include FUZZ_POLICY_C
#else
#include "../../daemon/core/policy_engine.c"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_diag.h"
#include "hs_events.h"
#include "hs_flow_json.h"
#include "hs_packet.h"
#include "hs_policy_engine.h"
#include "hs_table.h"
#include "track_input.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_track: invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                   \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define MAX_FLOWS 8
#define BURST 64                        /* HS_NFQ_BURST: the most a worker reads at once */
#define SLOT_MS 100                     /* the timer wheel's resolution */
/*
 * Flow times are 32-bit ticks of 10 ms, which wrap after 497 days of table
 * lifetime while the wheels count in 64 bits.  Sessions may last three
 * years, so the wrap is crossed twice with flows of every age around it.
 */
#define MAX_ELAPSED_MS (3ull * 365 * 86400000ull)
/*
 * Tick differences are compared as signed 32-bit numbers, which holds for
 * 248 days.  A worker expires every 100 ms; even a stalled one is not left
 * alone for months, so the harness expires at least every 30 days, longer
 * than any timeout (20 days at most) but well inside that range.
 */
#define MAX_EXPIRE_GAP_MS (30ull * 86400000ull)

/* ---- the fixed world: tuples and policy sets ---- */

struct tuple {
	uint8_t family;
	struct hs_addr addr[2];
	uint16_t port[2];
	uint32_t isn[2];            /* sequence number a side starts from before it has spoken */
};

static struct tuple tuples[TI_TUPLES];
static struct hs_policy_set policy_sets[8];
static int devnull = -1;

/*
 * FUZZ_TRACK_TRACE=1 prints every step of a session to stderr, to read
 * what a reproducer does; fuzzing runs leave it off.
 */
static bool trace;
#define TRACE(...) do { if (trace) fprintf(stderr, __VA_ARGS__); } while (0)

static void set_v4(struct hs_addr *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	memset(a, 0, sizeof(*a));
	a->bytes[0] = b0;
	a->bytes[1] = b1;
	a->bytes[2] = b2;
	a->bytes[3] = b3;
}

static void set_v6(struct hs_addr *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, uint8_t last)
{
	set_v4(a, b0, b1, b2, b3);
	a->bytes[15] = last;
}

static void make_tuple(int i, uint8_t family, uint16_t p0, uint16_t p1, uint32_t isn0, uint32_t isn1)
{
	tuples[i].family = family;
	tuples[i].port[0] = p0;
	tuples[i].port[1] = p1;
	tuples[i].isn[0] = isn0;
	tuples[i].isn[1] = isn1;
}

static void init_tuples(void)
{
	make_tuple(0, HS_FAMILY_IPV4, 40000, 443, 0x01000000u, 0x20000000u);
	set_v4(&tuples[0].addr[0], 10, 0, 0, 1);
	set_v4(&tuples[0].addr[1], 10, 0, 0, 2);
	/* Same client and server hosts: one group for per-source and per-destination limits. */
	make_tuple(1, HS_FAMILY_IPV4, 40001, 443, 0xfffffff0u, 0x7ffffff0u);
	set_v4(&tuples[1].addr[0], 10, 0, 0, 1);
	set_v4(&tuples[1].addr[1], 10, 0, 0, 2);
	make_tuple(2, HS_FAMILY_IPV4, 40000, 80, 0, 0x80000000u);
	set_v4(&tuples[2].addr[0], 10, 0, 0, 3);
	set_v4(&tuples[2].addr[1], 10, 0, 0, 2);
	/* A socket connected to itself: both directions are one endpoint. */
	make_tuple(3, HS_FAMILY_IPV4, 5000, 5000, 0x12345678u, 0x12345678u);
	set_v4(&tuples[3].addr[0], 192, 168, 1, 1);
	set_v4(&tuples[3].addr[1], 192, 168, 1, 1);
	make_tuple(4, HS_FAMILY_IPV6, 40000, 443, 0x00000100u, 0xfffff000u);
	set_v6(&tuples[4].addr[0], 0xfd, 0, 0, 0, 1);
	set_v6(&tuples[4].addr[1], 0xfd, 0, 0, 0, 2);
	make_tuple(5, HS_FAMILY_IPV6, 40001, 443, 0x55555555u, 0xaaaaaaaau);
	set_v6(&tuples[5].addr[0], 0xfd, 0, 0, 0, 1);
	set_v6(&tuples[5].addr[1], 0xfd, 0, 0, 0, 2);
	/* The initiator on the lower port: pickup guesses the sides the other way. */
	make_tuple(6, HS_FAMILY_IPV6, 443, 1024, 0x3000u, 0x4000u);
	set_v6(&tuples[6].addr[0], 0xfd, 0, 0, 0, 3);
	set_v6(&tuples[6].addr[1], 0xfd, 0, 0, 0, 1);
	/* IPv6 addresses 0a00:1:: and 0a00:2:: have the key bytes of tuple 0's IPv4 addresses. */
	make_tuple(7, HS_FAMILY_IPV6, 40000, 443, 0x01000000u, 0x20000000u);
	set_v4(&tuples[7].addr[0], 10, 0, 0, 1);
	set_v4(&tuples[7].addr[1], 10, 0, 0, 2);
}

/*
 * Policy sets, loaded through the real configuration loader so that every
 * set is one an operator could write.  Each has the four kinds the engine
 * distinguishes: a limit with verify, a rate, a timed reset on idle time
 * and a timed drop on age, over different states, scopes and matches;
 * some add state-entry policies, dry runs and limits with drop.
 */
static const char *const policy_yaml[8] = {
	/* 0: the syn-flood guard. */
	"policies:\n"
	"  - {name: syn-limit, match: {state: SYN_RCVD}, limit: {max: 2, per: destination}, action: verify}\n"
	"  - {name: syn-rate, match: {dst_port: 443}, rate: {syn_per_second: 2, burst: 3, per: source}, action: drop}\n"
	"  - {name: idle-reset, match: {state: CLOSE_WAIT, idle: 30s}, action: reset}\n"
	"  - {name: age-drop, match: {server_state: SYN_RCVD, age: 3s}, action: drop}\n",
	/* 1: established connections. */
	"policies:\n"
	"  - {name: est-limit, match: {state: ESTABLISHED}, limit: {max: 1, per: source}, action: verify}\n"
	"  - {name: rate-all, match: {src: [0.0.0.0/0, '::/0']}, rate: {syn_per_second: 1, burst: 1, per: global}, action: drop}\n"
	"  - {name: est-idle, match: {state: ESTABLISHED, idle: 2s}, action: reset}\n"
	"  - {name: est-age, match: {client_state: ESTABLISHED, age: 1s}, action: drop}\n",
	/* 2: closing states. */
	"policies:\n"
	"  - {name: fw2-limit, match: {client_state: FIN_WAIT_2}, limit: {max: 1, per: global}, action: verify}\n"
	"  - {name: net-rate, match: {dst: [10.0.0.0/8, 'fd00::/8']}, rate: {syn_per_second: 5, burst: 1, per: destination}, action: drop}\n"
	"  - {name: last-ack-idle, match: {state: LAST_ACK, idle: 500ms}, action: reset}\n"
	"  - {name: time-wait-age, match: {state: TIME_WAIT, age: 100ms}, action: drop}\n",
	/* 3: state-entry policies and a dry run among them. */
	"policies:\n"
	"  - {name: half-open, match: {state: SYN_RCVD}, limit: {max: 1, per: source}, action: verify, dry_run: true}\n"
	"  - {name: close-wait-log, match: {state: CLOSE_WAIT}, action: log}\n"
	"  - {name: fin-reset, match: {server_state: FIN_WAIT_1}, action: reset}\n"
	"  - {name: closing-drop, match: {client_state: CLOSING}, action: drop}\n"
	"  - {name: syn-rate, match: {dst_port: [80, 443]}, rate: {syn_per_second: 3, per: source}, action: drop}\n"
	"  - {name: syn-idle, match: {state: SYN_SENT, idle: 1s}, action: reset}\n"
	"  - {name: est-age, match: {state: ESTABLISHED, age: 5s}, action: drop}\n",
	/* 4: a limit that drops, with address and port matches. */
	"policies:\n"
	"  - {name: cap, match: {state: ESTABLISHED, src: 10.0.0.0/24, src_port: 40000-40001}, limit: {max: 1, per: destination}, action: drop}\n"
	"  - {name: syn-limit, match: {state: SYN_RCVD}, limit: {max: 1, per: global}, action: verify}\n"
	"  - {name: syn-rate, rate: {syn_per_second: 1, burst: 2, per: source}, action: drop}\n"
	"  - {name: fw2-idle, match: {client_state: FIN_WAIT_2, idle: 1s}, action: reset}\n"
	"  - {name: cw-age, match: {state: CLOSE_WAIT, age: 2s}, action: drop}\n"
	"  - {name: local-cap, match: {local_state: ESTABLISHED}, limit: {max: 1, per: source}, action: drop}\n"
	"  - {name: local-cw, match: {local_state: CLOSE_WAIT, remote_state: FIN_WAIT_2, idle: 1s}, action: reset}\n",
	/* 5: limits on several states, short timed policies. */
	"policies:\n"
	"  - {name: syn-sent, match: {client_state: SYN_SENT}, limit: {max: 1, per: destination}, action: verify}\n"
	"  - {name: tw-cap, match: {state: TIME_WAIT}, limit: {max: 1, per: source}, action: drop}\n"
	"  - {name: closed-cap, match: {state: CLOSED}, limit: {max: 1, per: global}, action: drop}\n"
	"  - {name: v6-rate, match: {src: 'fd00::/8'}, rate: {syn_per_second: 1, per: global}, action: drop}\n"
	"  - {name: tw-idle, match: {state: TIME_WAIT, idle: 50ms}, action: reset}\n"
	"  - {name: syn-age, match: {state: SYN_SENT, age: 200ms}, action: drop}\n",
	/* 6: one address family each, and an accept that shields what follows. */
	"policies:\n"
	"  - {name: v6-only, match: {dst: 'fd00::2/128'}, action: accept}\n"
	"  - {name: v4-half-open, match: {state: SYN_RCVD, dst: 10.0.0.2/32}, limit: {max: 1, per: source}, action: verify}\n"
	"  - {name: v4-rate, match: {src: 10.0.0.0/8}, rate: {syn_per_second: 1, burst: 1, per: destination}, action: drop}\n"
	"  - {name: est-idle-log, match: {state: ESTABLISHED, idle: 1s}, action: log}\n"
	"  - {name: any-idle, match: {state: FIN_WAIT_1, idle: 1s}, action: reset}\n"
	"  - {name: est-age-drop, match: {server_state: ESTABLISHED, age: 10s}, action: drop, dry_run: false}\n",
	/* 7: none at all (the engine still counts nothing and keeps stamps). */
	"policies: []\n",
};

static void load_policy_sets(void)
{
	for (int i = 0; i < 8; i++) {
		struct hs_config config;
		struct hs_diag diag;
		const char *text = policy_yaml[i];

		hs_diag_init(&diag, "fuzz_track", text, strlen(text));
		if (hs_config_parse(text, strlen(text), &config, &diag) != 0) {
			fprintf(stderr, "fuzz_track: policy set %d does not load:\n%s", i, hs_diag_text(&diag));
			abort();
		}
		policy_sets[i] = config.policies;
		hs_diag_free(&diag);
	}
}

/*
 * One engine serves every session: creating one allocates 2 MiB of stamp
 * tables, which would cost more than the session itself.  reset_engine
 * returns it to the state of a fresh engine.  The harness uses only the
 * first STAMP_SLOTS slots of the verify and known-source tables (which
 * makes their bounded probing and stale-entry reuse easier to reach) and
 * a fixed hash key, so that a reproducer replays the same way in any
 * process.
 */
#define STAMP_SLOTS 1024u
static struct hs_policy_engine *engine;

static void reset_engine(void)
{
	struct hs_policy_engine *e = engine;

	memset(&e->set, 0, sizeof(e->set));
	memset(e->counters, 0, sizeof(e->counters));
	for (int i = 0; i < 16; i++)
		e->key[i] = (uint8_t)(0xc3 ^ (i * 11));
	e->table = NULL;
	e->actions = NULL;
	e->now_ms = 0;
	memset(e->counts, 0, (size_t)(e->counts_mask + 1) * sizeof(*e->counts));
	e->stamp_mask = STAMP_SLOTS - 1;
	memset(e->pending, 0, STAMP_SLOTS * sizeof(*e->pending));
	memset(e->known, 0, STAMP_SLOTS * sizeof(*e->known));
	memset(e->buckets, 0, (size_t)(e->buckets_mask + 1) * sizeof(*e->buckets));
	e->counts_full = 0;
	memset(e->resetting, 0, RESETTING_SLOTS * sizeof(*e->resetting));
	e->n_resetting = 0;
	e->has_limits = e->has_timed = false;
}

static struct hs_local_addrs host_addrs;

static void init_host_addrs(void)
{
	struct hs_local_addr e = { .family = HS_FAMILY_IPV4, .prefix = 32, .ifindex = 2 };

	hs_local_addrs_init(&host_addrs);
	set_v4(&e.addr, 10, 0, 0, 1);
	CHECK(hs_local_addrs_add(&host_addrs, &e) == HS_LOCAL_ADDRS_CHANGED);
	memset(&e.addr, 0, sizeof(e.addr));
	e.family = HS_FAMILY_IPV6;
	e.prefix = 128;
	set_v6(&e.addr, 0xfd, 0, 0, 0, 1);
	CHECK(hs_local_addrs_add(&host_addrs, &e) == HS_LOCAL_ADDRS_CHANGED);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Sized for the largest table a session makes; the tables are the same for 1 to 8 flows. */
	static const uint8_t key[16] = { 0 };   /* reset_engine sets the session's key */
	engine = hs_policy_engine_create(MAX_FLOWS, key);
	CHECK(engine != NULL);
	init_tuples();
	init_host_addrs();
	load_policy_sets();
	trace = getenv("FUZZ_TRACK_TRACE") != NULL;
	/* Events are formatted and written as in the daemon, to a sink that costs nothing. */
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return 0;
}

/* ---- input reading: missing bytes read as zero ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t take8(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t take16(struct input *in)
{
	uint16_t hi = take8(in);
	return (uint16_t)((hi << 8) | take8(in));
}

static uint32_t take32(struct input *in)
{
	uint32_t hi = take16(in);
	return (hi << 16) | take16(in);
}

/* ---- the rig: one session's table, engine and clock ---- */

struct rig {
	struct hs_table *table;
	struct hs_policy_engine *engine;
	struct hs_table_config cfg;
	uint32_t max_flows;
	bool lazy, batch, strict;
	int set;                    /* policy set in force, -1 for none */
	uint64_t epoch, now;
	uint64_t last_expire;       /* when hs_table_expire last ran */
	bool expired_now;           /* hs_table_expire ran at `now` with the current timeouts */
	uint64_t deferred_mark;     /* actions.resets_deferred when the last pass that reached a new slot began */
	uint32_t expire_slot;       /* the wheel slot that pass reached */
	bool reloaded;              /* the table was reconfigured, at reload_tick */
	uint32_t reload_tick;
	size_t queued;
	struct hs_packet queue[BURST];
	struct hs_track_result results[BURST];
};

static struct hs_events events;     /* 64 KiB: static, not on the stack */
static struct hs_actions actions;

/* As the worker writes an event: formatted in full, to a sink that costs nothing. */
static void write_event(void *ctx, const struct hs_action *a)
{
	struct rig *r = ctx;

	CHECK(a->type == HS_DO_EVENT && a->event < HS_EV_KIND_COUNT);
	CHECK(a->now_ms <= r->now);
	hs_events_action(&events, r->table, a, hs_policy_engine_policy(r->engine, a->policy, a->generation),
			 a->now_ms);
}

static void spill_events(void *ctx, struct hs_actions *list)
{
	hs_actions_spill_events(list, write_event, ctx);
}

/*
 * The worker's carry_out: events written, reset flows deleted (the RSTs
 * are built, as the worker would send them, and the flow goes).  A reset
 * names the flow whose record is where the action says (it may have left
 * since: evicted, or expired in a class that does not hold it); its RSTs
 * go to the sides the engine chose.
 */
static void carry_out(struct rig *r)
{
	struct hs_action a;
	uint8_t pkt[HS_RST_MAX_LEN];

	while (hs_actions_next(&actions, &a)) {
		if (a.type == HS_DO_EVENT) {
			write_event(r, &a);
			continue;
		}
		CHECK(a.type == HS_DO_RESET);
		CHECK(a.sides && !(a.sides & ~3u));
		for (int side = 0; side < 2; side++)
			if (a.sides & (1u << side))
				(void)hs_rst_build(&a.flow, (enum hs_side)side, pkt, sizeof(pkt));
		struct hs_flow *f = hs_table_flow_ref(r->table, a.flow_index, a.flow.id);
		TRACE("  reset flow %u sides %#x%s\n", a.flow.id, a.sides, f ? "" : " (gone already)");
		if (f)
			hs_table_delete(r->table, f);
	}
	/* Half the list, as the worker's room with an empty RST queue. */
	actions.reset_room = actions.capacity / 2;
}

static void set_timeouts(struct hs_table_config *cfg, unsigned profile, struct input *in)
{
	static const uint32_t defaults[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;
	static const uint32_t short_ms[HS_TIMEOUT_CLASS_COUNT] = { 3000, 2000, 20000, 5000, 4000, 3000, 6000, 1000 };
	static const uint32_t tiny_ms[HS_TIMEOUT_CLASS_COUNT] = { 10, 5, 100, 30, 20, 10, 50, 1 };

	switch (profile & 3) {
	case TI_PROFILE_DEFAULT:
		memcpy(cfg->timeout_ms, defaults, sizeof(defaults));
		break;
	case TI_PROFILE_SHORT:
		memcpy(cfg->timeout_ms, short_ms, sizeof(short_ms));
		break;
	case TI_PROFILE_TINY:
		memcpy(cfg->timeout_ms, tiny_ms, sizeof(tiny_ms));
		break;
	default:
		for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
			cfg->timeout_ms[i] = ti_custom_timeout_ms[take8(in) & 15];
		break;
	}
}

/* What any track result must satisfy, right after tracking. */
static void check_result(const struct hs_track_result *res)
{
	CHECK(res->hint <= HS_HINT_BLOCKED);
	/*
	 * A full table evicts to make room, and every live flow is on a
	 * wheel where eviction finds it, so no valid packet goes untracked.
	 */
	CHECK(res->hint != HS_HINT_UNTRACKED);
	CHECK((unsigned)res->invalid < HS_INVALID_REASON_COUNT);
	CHECK((res->invalid != HS_INVALID_NONE) == (res->hint == HS_HINT_INVALID));
	for (int s = 0; s < 2; s++)
		CHECK(res->old_state[s] < HS_TCP_STATE_COUNT && res->new_state[s] < HS_TCP_STATE_COUNT);
	if (!res->flow) {
		CHECK(res->events == 0);
		CHECK(res->hint == HS_HINT_INVALID);
	} else {
		CHECK(res->sender == HS_CLIENT || res->sender == HS_SERVER);
		if (res->events & HS_EVENT_RESTART)
			CHECK(res->events & HS_EVENT_NEW);
		if (res->events & HS_EVENT_NEW)
			CHECK(res->events & HS_EVENT_STATE);
	}
}

/* The worker's verdict loop for one tracked packet. */
static void after_track(struct rig *r, const struct hs_packet *pkt, struct hs_track_result *res)
{
	if (res->hint == HS_HINT_BLOCKED)
		return;
	if (res->hint == HS_HINT_INVALID && r->strict)
		return;
	TRACE("  engine: flow %u %s/%s -> %s/%s events %#x\n", res->flow ? res->flow->id : 0,
	      hs_tcp_state_name(res->old_state[0]), hs_tcp_state_name(res->old_state[1]),
	      hs_tcp_state_name(res->new_state[0]), hs_tcp_state_name(res->new_state[1]), res->events);
	enum hs_verdict verdict = hs_policy_engine_packet(r->engine, pkt, res, r->now);
	TRACE("  engine: %s%s\n", verdict == HS_VERDICT_DROP ? "drop" : "pass", res->flow ? "" : ", flow gone");
	CHECK(verdict == HS_VERDICT_ACCEPT || verdict == HS_VERDICT_DROP);
	carry_out(r);
}

/*
 * What the worker's verdict_one does with a result, plus the checks that
 * hold right after tracking: until the next packet, the result is the
 * flow's present state.
 */
static void verdict(struct rig *r, const struct hs_packet *pkt, struct hs_track_result *res)
{
	TRACE("  tracked: hint %d invalid %s\n", (int)res->hint, hs_invalid_reason_name(res->invalid));
	check_result(res);
	if (res->flow) {
		CHECK(res->flow->flags & HS_FLOW_IN_USE);
		CHECK(res->new_state[HS_CLIENT] == res->flow->state[HS_CLIENT]);
		CHECK(res->new_state[HS_SERVER] == res->flow->state[HS_SERVER]);
	}
	after_track(r, pkt, res);
}

/* The table calls this right after tracking each packet of a burst, as it calls verdict_one. */
static void burst_done(void *ctx, size_t i, struct hs_track_result *res)
{
	struct rig *r = ctx;

	verdict(r, &r->queue[i], res);
}

static void flush(struct rig *r)
{
	if (r->queued == 0)
		return;
	const struct hs_packet *ptrs[BURST];

	for (size_t i = 0; i < r->queued; i++)
		ptrs[i] = &r->queue[i];
	hs_policy_engine_now(r->engine, r->now);
	hs_table_track_batch(r->table, ptrs, r->queued, r->now, r->results, burst_done, r);
	carry_out(r);
	r->queued = 0;
	hs_events_flush(&events);
}

static void submit(struct rig *r, const struct hs_packet *pkt, bool flush_now)
{
	TRACE("packet %u -> %u flags %#x seq %u ack %u win %u len %u%s\n", pkt->sport, pkt->dport, pkt->flags,
	      pkt->seq, pkt->ack, pkt->window, pkt->payload_len, r->batch ? " (queued)" : "");
	if (r->batch) {
		r->queue[r->queued++] = *pkt;
		if (flush_now || r->queued == BURST)
			flush(r);
		return;
	}
	struct hs_track_result res;

	hs_policy_engine_now(r->engine, r->now);
	hs_table_track(r->table, pkt, r->now, &res);
	verdict(r, pkt, &res);
}

/*
 * A reset deferred for want of room is looked at again in the next wheel
 * slot: deferrals are counted from the start of the last expiry pass that
 * reached a slot not yet processed (a pass within the same slot looks at
 * nothing new).
 */
static void mark_deferrals(struct rig *r)
{
	uint32_t slot = hs_table_tick(r->table, r->now) / (SLOT_MS / HS_TABLE_TICK_MS);

	if (slot != r->expire_slot) {
		r->expire_slot = slot;
		r->deferred_mark = actions.resets_deferred;
	}
}

/* Moves the clock forward; the worker's timer then expires what is due. */
static void step_clock(struct rig *r, uint64_t ms, bool expire)
{
	if (ms == 0)
		return;
	flush(r);   /* a burst is handled at one time */
	if (r->now - r->epoch + ms > MAX_ELAPSED_MS)
		ms = MAX_ELAPSED_MS - (r->now - r->epoch);
	r->now += ms;
	r->expired_now = false;
	if (r->now - r->last_expire > MAX_EXPIRE_GAP_MS)
		expire = true;
	TRACE("clock +%llu ms -> %llu ms%s\n", (unsigned long long)ms, (unsigned long long)(r->now - r->epoch),
	      expire ? ", expire" : "");
	if (expire) {
		hs_policy_engine_now(r->engine, r->now);
		mark_deferrals(r);
		hs_table_expire(r->table, r->now);
		carry_out(r);
		r->last_expire = r->now;
		r->expired_now = true;
		hs_events_flush(&events);
	}
}

/* ---- packets ---- */

/* Finds the flow of a tuple of the packet's family (an IPv4 flow can share an IPv6 flow's key bytes). */
static struct hs_flow *flow_of(struct rig *r, const struct hs_packet *pkt, bool *src_is_0)
{
	struct hs_flow_key key;

	memset(&key, 0, sizeof(key));
	hs_flow_key_from_packet(pkt, &key, src_is_0);
	struct hs_flow *f = hs_table_lookup(r->table, &key);
	return f && hs_flow_family(f) == pkt->family ? f : NULL;
}

static uint32_t number(struct input *in, unsigned mode, uint32_t tracked)
{
	switch (mode & 3) {
	case TI_NUM_TRACKED:
		return tracked;
	case TI_NUM_SMALL:
		return tracked + (uint32_t)(int32_t)(int8_t)take8(in);
	case TI_NUM_WIDE:
		return tracked + (uint32_t)((int32_t)(int16_t)take16(in) * 64);
	default:
		return take32(in);
	}
}

static void address(struct hs_packet *pkt, const struct tuple *tp, int from)
{
	pkt->family = tp->family;
	pkt->src = tp->addr[from];
	pkt->dst = tp->addr[!from];
	pkt->sport = tp->port[from];
	pkt->dport = tp->port[!from];
}

/* The sequence numbers a side would use next: tracked if the table has seen it, else its ISN. */
static void tracked_numbers(struct rig *r, const struct hs_packet *pkt, const struct tuple *tp, int from,
			    uint32_t *seq, uint32_t *ack)
{
	bool src_is_0;
	struct hs_flow *f = flow_of(r, pkt, &src_is_0);

	*seq = tp->isn[from];
	*ack = tp->isn[!from] + 1;
	if (!f)
		return;
	enum hs_side sender = hs_flow_sender(f, src_is_0), receiver = (enum hs_side)!sender;
	if (f->window[sender].maxwin || (f->ep_flags[sender] & HS_EP_SYN))
		*seq = f->window[sender].end;
	if (f->window[receiver].maxwin || (f->ep_flags[receiver] & (HS_EP_SYN | HS_EP_LIBERAL)))
		*ack = f->window[receiver].end;
}

static void packet_record(struct rig *r, uint8_t op, struct input *in)
{
	uint8_t b1 = take8(in), b2 = take8(in);
	int from = (b1 & TI_DIR) ? 1 : 0;
	const struct tuple *tp = &tuples[b1 & 7];
	unsigned fsel = b1 >> 4;
	struct hs_packet pkt;
	uint32_t seq, ack;

	memset(&pkt, 0, sizeof(pkt));
	pkt.flags = fsel == TI_RAW_FLAGS ? take8(in) : ti_flag_table[fsel];
	address(&pkt, tp, from);
	/* The table's view may be behind the queue in batch mode; that only makes numbers less exact. */
	tracked_numbers(r, &pkt, tp, from, &seq, &ack);
	pkt.seq = number(in, b2, seq);
	pkt.ack = number(in, b2 >> 2, ack);
	switch ((b2 >> 4) & 3) {
	case TI_NUM_TRACKED:
		pkt.window = 65535;
		break;
	case TI_NUM_SMALL:
		pkt.window = (uint16_t)(take8(in) << 8);
		break;
	case TI_NUM_WIDE:
		pkt.window = take16(in);
		break;
	default:
		pkt.window = 0;
		break;
	}
	switch (b2 >> 6) {
	case TI_NUM_TRACKED:
		pkt.payload_len = 0;
		break;
	case TI_NUM_SMALL:
		pkt.payload_len = take8(in);
		break;
	case TI_NUM_WIDE:
		pkt.payload_len = take16(in);
		break;
	default:
		/* GSO and BIG TCP: anything the parser accepts, up to a wire length of 4 GiB. */
		pkt.payload_len = take32(in) % (UINT32_MAX - 120);
		break;
	}
	uint8_t b3 = take8(in);
	pkt.wscale = HS_WSCALE_NONE;
	if (b3 & TI_OPT_WSCALE) {
		uint8_t shift = take8(in) & 15;
		pkt.wscale = shift > 14 ? 14 : shift;   /* as the parser clamps it */
	}
	pkt.sack_permitted = (b3 & TI_OPT_SACK) != 0;
	if (b3 & TI_OPT_TS) {
		pkt.has_timestamps = true;
		pkt.tsval = (uint32_t)r->now;
	}
	pkt.mss = (b3 & TI_OPT_MSS) ? 1460 : 0;
	pkt.ip_header_len = tp->family == HS_FAMILY_IPV4 ? 20 : 40;
	pkt.tcp_header_len = 20 + ((b3 & 0x0f) ? 20 : 0);
	pkt.wire_len = pkt.ip_header_len + pkt.tcp_header_len + pkt.payload_len;

	step_clock(r, ti_step_ms[b3 >> 4], !r->lazy);
	submit(r, &pkt, (op & TI_FLUSH) != 0);
}

static void raw_record(struct rig *r, struct input *in)
{
	uint8_t len = take8(in);
	uint8_t buf[256];
	size_t n = len < in->n ? len : in->n;

	memcpy(buf, in->p, n);
	in->p += n;
	in->n -= n;
	uint8_t remap = take8(in);
	size_t wire = 0;
	if (((remap >> 5) & 3) == 1)
		wire = n + take16(in);

	/* An exact-size copy, so that the sanitizer sees any read past the capture. */
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return;
	memcpy(copy, buf, n);
	struct hs_packet pkt;
	enum hs_parse_result pr = hs_packet_parse(copy, n, wire, &pkt);
	free(copy);
	TRACE("raw packet of %zu bytes: %s\n", n, hs_parse_result_name(pr));
	if (pr != HS_PARSE_OK)
		return;
	if (remap & 1) {
		const struct tuple *tp = &tuples[(remap >> 1) & 7];
		/* Keep the parsed family: an IPv4 packet joins an IPv4 tuple, and so on. */
		if (tp->family != pkt.family)
			tp = &tuples[((remap >> 1) & 7) ^ 4];
		address(&pkt, tp, (remap >> 4) & 1);
	}
	submit(r, &pkt, true);
}

/* ---- other records ---- */

/* `handshakectl kill ID`: find by id and delete (the worker sends RSTs first; there is no sender here). */
static void delete_record(struct rig *r, uint8_t op)
{
	flush(r);
	const struct hs_flow *at = hs_table_flow_at(r->table, (uint32_t)(op >> 3) % r->max_flows);
	if (!at)
		return;
	struct hs_flow *f = hs_table_find_id(r->table, at->id);
	CHECK(f == at);
	TRACE("kill flow %u\n", f->id);
	hs_policy_engine_now(r->engine, r->now);
	hs_table_delete(r->table, f);
	carry_out(r);
	hs_events_flush(&events);
}

static const struct hs_policy_set empty_set;

static const struct hs_policy_set *current_set(const struct rig *r)
{
	return r->set >= 0 ? &policy_sets[r->set] : &empty_set;
}

/* The control socket's read-only views of the table. */
static void query(struct rig *r, uint8_t sel)
{
	struct hs_flow_match filter;
	char buf[512];

	hs_flow_match_init(&filter);
	hs_state_set_add(&filter.state, sel & 15);
	if (sel & 0x10) {
		uint8_t family = tuples[sel >> 5].family;
		filter.dst[filter.n_dst++] = (struct hs_cidr){ .family = family, .prefix = family == HS_FAMILY_IPV6 ? 128 : 32,
							      .addr = tuples[sel >> 5].addr[1] };
	}
	if (sel & 0x20)
		filter.dst_ports[filter.n_dst_ports++] = (struct hs_port_range){ 443, 443 };
	CHECK(hs_table_count(r->table, &filter) <= hs_table_stats(r->table)->live);
	for (uint32_t i = 0; i < hs_table_capacity(r->table); i++) {
		const struct hs_flow *f = hs_table_flow_at(r->table, i);
		if (f)
			CHECK(hs_flow_text(buf, sizeof(buf), r->table, f, r->now) > 0);
	}
	CHECK(hs_table_memory(r->table) > 0);
}

static void admin_record(struct rig *r, uint8_t op, struct input *in)
{
	flush(r);
	switch ((op >> 3) & 3) {
	case TI_ADMIN_RELOAD: {
		uint8_t b = take8(in);
		/* As hs_worker_apply: the table first, then the (same) policies. */
		set_timeouts(&r->cfg, b & 3, in);
		r->cfg.pickup = (b & 4) != 0;
		TRACE("reload: timeouts %u %u %u %u %u %u %u %u ms, pickup %d\n", r->cfg.timeout_ms[0],
		      r->cfg.timeout_ms[1], r->cfg.timeout_ms[2], r->cfg.timeout_ms[3], r->cfg.timeout_ms[4],
		      r->cfg.timeout_ms[5], r->cfg.timeout_ms[6], r->cfg.timeout_ms[7], r->cfg.pickup);
		hs_table_reconfigure(r->table, &r->cfg);
		hs_policy_engine_set(r->engine, current_set(r), r->now);
		carry_out(r);
		r->expired_now = false;
		r->reloaded = true;
		r->reload_tick = hs_table_tick(r->table, r->now);
		break;
	}
	case TI_ADMIN_POLICIES: {
		uint8_t b = take8(in);
		r->set = (b & 8) ? -1 : (int)(b & 7);
		TRACE("reload: policy set %d\n", r->set);
		hs_table_reconfigure(r->table, &r->cfg);
		hs_policy_engine_set(r->engine, current_set(r), r->now);
		carry_out(r);
		r->expired_now = false;
		/* A timed policy that held flows past their timeout may be gone: like shorter timeouts. */
		r->reloaded = true;
		r->reload_tick = hs_table_tick(r->table, r->now);
		break;
	}
	case TI_ADMIN_EXPIRE:
		TRACE("expire\n");
		hs_policy_engine_now(r->engine, r->now);
		mark_deferrals(r);
		hs_table_expire(r->table, r->now);
		carry_out(r);
		r->last_expire = r->now;
		r->expired_now = true;
		break;
	default:
		query(r, take8(in));
		break;
	}
	hs_events_flush(&events);
}

/* ---- invariants ---- */

struct census {
	const struct hs_flow *flows[MAX_FLOWS + 1];
	uint32_t n, half_open;
	bool overflow;
};

static bool census_visit(void *ctx, const struct hs_flow *f)
{
	struct census *c = ctx;

	if (c->n == MAX_FLOWS) {
		c->overflow = true;
		return false;
	}
	c->flows[c->n++] = f;
	if (!(f->flags & HS_FLOW_ESTABLISHED))
		c->half_open++;
	return true;
}

/*
 * Whether a timed policy that holds the flow past its timeout (an
 * open-ended state) has had its turn come, without acting yet: the engine
 * still names a due tick for it, at or before now.
 */
static bool policy_turn_came(const struct rig *r, const struct hs_flow *f, uint32_t now_tick)
{
	uint32_t turn;

	if (f->flags & (HS_FLOW_POLICY_DONE | HS_FLOW_BLOCKED))
		return false;
	if (!hs_timeout_class_open_ended(hs_tcp_timeout_class(f->state[HS_CLIENT], f->state[HS_SERVER])))
		return false;
	return policy_due(r->engine, f, &turn) && (int32_t)(now_tick - turn) >= 0;
}

static void check_flow(struct rig *r, const struct hs_flow *f)
{
	char buf[HS_FLOW_JSON_MAX];

	CHECK(f->flags & HS_FLOW_IN_USE);
	CHECK(f->state[HS_CLIENT] < HS_TCP_STATE_COUNT && f->state[HS_SERVER] < HS_TCP_STATE_COUNT);
	CHECK(hs_flow_wscale(f, HS_CLIENT) <= 14 && hs_flow_wscale(f, HS_SERVER) <= 14);
	CHECK(f->id != 0);
	/* An IPv6 flow keeps its addresses after its record, none in it. */
	if (hs_flow_family(f) == HS_FAMILY_IPV6)
		CHECK(memcmp(f->addr4, "\0\0\0\0\0\0\0\0", sizeof(f->addr4)) == 0);
	struct hs_flow_key key;
	memset(&key, 0, sizeof(key));
	hs_flow_key_get(f, &key);
	CHECK(hs_flow_has_key(f, &key, hs_flow_family(f)));
	/* Every live flow must be on a timer, or it would never expire. */
	CHECK(f->flags & HS_FLOW_TIMER_LINKED);
	/* A blocked flow shows both endpoints closed until a new SYN reopens it. */
	if (f->flags & HS_FLOW_BLOCKED)
		CHECK(f->state[HS_CLIENT] == HS_TCP_CLOSED && f->state[HS_SERVER] == HS_TCP_CLOSED);

	/*
	 * The key finds the flow.  hs_table_lookup tries IPv4 first, so an
	 * IPv6 flow whose key bytes equal a live IPv4 flow's finds that one:
	 * the documented ambiguity of a family-less key, accepted here.
	 */
	struct hs_flow *found = hs_table_lookup(r->table, &key);
	CHECK(found != NULL);
	if (found != f)
		CHECK(hs_flow_family(found) != hs_flow_family(f) && hs_flow_has_key(found, &key, hs_flow_family(found)));
	CHECK(hs_table_find_id(r->table, f->id) == f);

	CHECK(hs_flow_json(buf, sizeof(buf), r->table, f, r->now) > 0);
	CHECK(hs_flow_history_format(f, buf, sizeof(buf)) <= HS_HISTORY_MAX);

	/*
	 * Right after hs_table_expire(now), no flow is past its deadline (its
	 * timeout, or the turn of a timed policy that holds it) by a whole
	 * wheel slot: the wheel looks at every flow by its deadline.  A
	 * reload that shortens timeouts, or takes away a policy that held a
	 * flow, can put a deadline in the past; such a flow is due one slot
	 * after the reload, so for that slot the check waits.  A timed reset
	 * that found no room for its RSTs waits for a later tick on purpose,
	 * so a flow its policy holds past its timeout may then be late (the
	 * pass deferred some reset), whether its policy's turn came after
	 * the timeout or before it (a pause longer than both).  The deadline
	 * never comes before the timeout.
	 */
	uint32_t now_tick = hs_table_tick(r->table, r->now);
	bool just_reloaded = r->reloaded && now_tick - r->reload_tick < SLOT_MS / HS_TABLE_TICK_MS;
	if (r->expired_now && !just_reloaded) {
		uint32_t ms = hs_flow_timeout_ms(r->table, f);
		uint32_t ticks = ms / HS_TABLE_TICK_MS ? ms / HS_TABLE_TICK_MS : 1;
		uint32_t due = hs_flow_deadline_tick(r->table, f);
		CHECK((int32_t)(due - (f->last_seen + ticks)) >= 0);
		int32_t late = (int32_t)(now_tick - due);
		bool waits_for_room = policy_turn_came(r, f, now_tick) && actions.resets_deferred != r->deferred_mark;
		if (late >= (int32_t)(SLOT_MS / HS_TABLE_TICK_MS) && !waits_for_room) {
			fprintf(stderr, "fuzz_track: flow %u (%s/%s) is %d ticks past its timeout of %u ms\n", f->id,
				hs_tcp_state_name(f->state[0]), hs_tcp_state_name(f->state[1]), late, ms);
			CHECK(!"a flow outlived its timeout");
		}
	}
}

/*
 * Each limit policy's count per group must equal the number of live flows
 * of that group that count against it, and nothing may be left counted
 * for groups with no flow.
 */
static void check_counts(struct rig *r, const struct census *c)
{
	struct hs_policy_engine *e = r->engine;
	uint64_t expected_total = 0, total = 0;

	CHECK(e->counts_full == 0);
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (!p->has_limit)
			continue;
		for (uint32_t a = 0; a < c->n; a++) {
			uint64_t key = group_key(e, i, p->limit_per, c->flows[a], 0);
			uint32_t want = 0;

			for (uint32_t b = 0; b < c->n; b++)
				if (group_key(e, i, p->limit_per, c->flows[b], 0) == key &&
				    counts_for(p, c->flows[b], c->flows[b]->state))
					want++;
			if (counts_for(p, c->flows[a], c->flows[a]->state))
				expected_total++;
			uint32_t have = count_get(e, key);
			if (have != want) {
				fprintf(stderr, "fuzz_track: policy \"%s\": group of flow %u counts %u, %u flows match\n",
					p->name, c->flows[a]->id, have, want);
				CHECK(!"limit count out of step with the table");
			}
		}
	}
	if (!e->has_limits)
		return;
	for (uint32_t i = 0; i <= e->counts_mask; i++)
		total += e->counts[i].key ? e->counts[i].count : 0;
	if (total != expected_total) {
		fprintf(stderr, "fuzz_track: limit counts add up to %llu, %llu flows count\n",
			(unsigned long long)total, (unsigned long long)expected_total);
		CHECK(!"limit counts left for flows that are gone");
	}
}

static void check_all(struct rig *r)
{
	const struct hs_table_stats *st = hs_table_stats(r->table);
	struct census c;
	uint64_t removed = 0;

	memset(&c, 0, sizeof(c));
	hs_table_foreach(r->table, census_visit, &c);
	CHECK(!c.overflow);
	CHECK(st->live <= r->max_flows);
	CHECK(st->live == c.n);
	CHECK(st->live_half_open == c.half_open);
	for (int i = 0; i < HS_REMOVE_REASON_COUNT; i++)
		removed += st->flows_removed[i];
	CHECK(st->flows_created - removed == st->live);
	for (uint32_t i = 0; i < c.n; i++) {
		check_flow(r, c.flows[i]);
		for (uint32_t j = 0; j < i; j++)
			CHECK(c.flows[i]->id != c.flows[j]->id);
	}
	check_counts(r, &c);
}

/* ---- the session ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rig rig;
	struct rig *r = &rig;
	struct input in = { data, size };
	uint8_t h0 = take8(&in), h1 = take8(&in);

	memset(r, 0, sizeof(*r));
	r->max_flows = (h1 & TI_FLOWS_MASK) + 1u;
	r->lazy = (h0 & TI_LAZY_TIMER) != 0;
	r->batch = (h1 & TI_BATCH) != 0;
	r->strict = (h1 & TI_STRICT) != 0;
	r->set = (h0 & TI_POLICIES) ? (int)((h0 & TI_SET_MASK) >> TI_SET_SHIFT) : -1;
	r->epoch = (uint64_t)(h1 >> TI_EPOCH_SHIFT) * TI_EPOCH_STEP_MS;
	r->now = r->epoch;
	r->last_expire = r->now;
	r->cfg.max_flows = r->max_flows;
	r->cfg.pickup = (h0 & TI_PICKUP) != 0;
	for (int i = 0; i < 16; i++)
		r->cfg.hash_key[i] = (uint8_t)(i * 29 + 7);
	set_timeouts(&r->cfg, (h0 & TI_PROFILE_MASK) >> TI_PROFILE_SHIFT, &in);
	TRACE("session: %u flows, pickup %d, timeouts %u %u %u %u %u %u %u %u ms, policy set %d%s%s%s\n",
	      r->max_flows, r->cfg.pickup, r->cfg.timeout_ms[0], r->cfg.timeout_ms[1], r->cfg.timeout_ms[2],
	      r->cfg.timeout_ms[3], r->cfg.timeout_ms[4], r->cfg.timeout_ms[5], r->cfg.timeout_ms[6],
	      r->cfg.timeout_ms[7], r->set, r->batch ? ", batch" : "", r->lazy ? ", lazy timer" : "",
	      r->strict ? ", strict" : "");

	r->table = hs_table_create(&r->cfg, r->now);
	CHECK(r->table != NULL);
	/* The host owns 10.0.0.1 and fd00::1: those tuples have a local end, the others none or two. */
	hs_table_set_local_addrs(r->table, &host_addrs);
	reset_engine();
	r->engine = engine;
	hs_events_init(&events, devnull);
	/*
	 * A list of a few actions, so that a burst or an expiry pass fills it
	 * and the spill path runs as it does in the daemon under load.
	 */
	hs_actions_init(&actions, spill_events, r);
	actions.capacity = 4 + (h0 & 3u) * 2;
	hs_policy_engine_attach(r->engine, r->table, &actions);
	hs_policy_engine_set(r->engine, current_set(r), r->now);
	carry_out(r);

	while (in.n > 0) {
		uint8_t op = take8(&in);

		switch (op & 7) {
		case TI_KIND_RAW:
			raw_record(r, &in);
			break;
		case TI_KIND_CLOCK: {
			uint8_t b = take8(&in);
			step_clock(r, ((uint64_t)(b & 15) + 1) * ti_clock_unit_ms[b >> 4], !(op & 8));
			break;
		}
		case TI_KIND_DELETE:
			delete_record(r, op);
			break;
		case TI_KIND_ADMIN:
			admin_record(r, op, &in);
			break;
		default:
			packet_record(r, op, &in);
			break;
		}
		if (r->queued == 0)
			check_all(r);
	}
	flush(r);
	check_all(r);
	hs_events_flush(&events);
	hs_table_destroy(r->table);
	return 0;
}
