/*
 * test_fuzz_regressions: regression tests for problems the libFuzzer
 * targets (tests/fuzz/) found in the tracking core, each reduced from a
 * fuzzer reproducer to the few packets that show it:
 *
 *   - a timed `drop` blocks a flow (both sides CLOSED) without the policy
 *     engine recounting it, so the flow stays counted against every limit
 *     its old state matched, for good;
 *   - a burst tracked with hs_table_track_batch and only then handed to
 *     the engine one result at a time counts a flow whose state changed
 *     twice in the burst twice (or not at all);
 *   - a SYN from the old server reopening a closed tuple swaps the sides,
 *     and the engine then takes the old connection out of the wrong
 *     groups;
 *   - hs_table_reconfigure with shorter timeouts leaves tracked flows on
 *     their old, later deadlines;
 *   - after 2^32 ticks (497 days) of a table's life the timer wheel stops
 *     expiring flows;
 *   - hs_table_destroy leaves up to 2 MiB of address space and a mapping
 *     behind per array whose size is not a whole number of pages, until
 *     mmap fails (the fuzzer, which makes a table per input, ran out of
 *     mappings after some 64,000 tables).
 *
 * The first three leave a limit's count above the number of flows that
 * match it (the second can also leave it below), so new connections are
 * refused with no flow in the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hs_config.h"
#include "hs_diag.h"
#include "hs_policy_engine.h"
#include "hs_table.h"
#include "scenario.h"

#define T0 1000000u
#define SERVER_HOST 0x020202u

/* ---- a table and an engine wired as a worker wires them ---- */

struct rig {
	struct hs_table *table;
	struct hs_policy_engine *engine;
	struct hs_actions actions;  /* none of these policies resets, and events are not looked at */
};

static const uint8_t engine_key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* Loads a policy set through the configuration loader, as the daemon does. */
static void load_policies(const char *yaml, struct hs_policy_set *set)
{
	static struct hs_config config;   /* large: a whole policy set */
	struct hs_diag diag;

	hs_diag_init(&diag, "test", yaml, strlen(yaml));
	int rc = hs_config_parse(yaml, strlen(yaml), &config, &diag);
	if (rc != 0)
		fail_msg("policies do not load:\n%s", hs_diag_text(&diag));
	hs_diag_free(&diag);
	*set = config.policies;
}

/*
 * The engine of the running test, freed by rig_teardown even when the test
 * fails half-way (cmocka jumps out), so the sanitizer reports no leak on
 * top of the failure.
 */
static struct hs_policy_engine *live_engine;

static int rig_teardown(void **state)
{
	hs_policy_engine_destroy(live_engine);
	live_engine = NULL;
	return sc_teardown(state);
}

static void rig_up(struct rig *r, const char *yaml)
{
	static struct hs_policy_set set;

	memset(r, 0, sizeof(*r));
	r->table = sc_table(64, false, T0);
	r->engine = hs_policy_engine_create(64, engine_key);
	assert_non_null(r->engine);
	live_engine = r->engine;
	hs_actions_init(&r->actions, NULL, NULL);
	r->actions.want_events = false;
	hs_policy_engine_attach(r->engine, r->table, &r->actions);
	load_policies(yaml, &set);
	hs_policy_engine_set(r->engine, &set, T0);
}

static void rig_down(struct rig *r)
{
	hs_policy_engine_destroy(r->engine);
	live_engine = NULL;
	sc_table_free(r->table);
}

/* Advances a side's next sequence number past the packet it sent. */
static void consume(struct sc_conn *c, enum hs_side from, uint8_t flags, uint32_t len)
{
	c->next[from] += len + ((flags & HS_TCP_SYN) ? 1u : 0u) + ((flags & HS_TCP_FIN) ? 1u : 0u);
}

/* One packet through table and engine, as a burst of one; true if the engine dropped it. */
static bool feed(struct rig *r, struct sc_conn *c, enum hs_side from, uint8_t flags, uint64_t now)
{
	struct hs_packet pkt;
	struct hs_track_result res;

	sc_conn_packet(c, from, flags, 0, &pkt);
	hs_table_track(r->table, &pkt, now, &res);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	bool drop = hs_policy_engine_packet(r->engine, &pkt, &res, now) == HS_VERDICT_DROP;
	if (!drop)
		consume(c, from, flags, 0);
	return drop;
}

/* ---- timed drop ---- */

/*
 * A timed `drop` blocks the flow: hs_table_block shows both sides CLOSED.
 * The engine's limit counts must follow, or the blocked flow stays counted
 * as half-open; when it later expires the engine forgets it as CLOSED,
 * which never counted, and the count never comes down.  Here the only
 * half-open connection to the server is dropped by the timed policy and
 * expires, and the next client's SYN must still be admitted.
 *
 * Fix: daemon/core/policy_engine.c, act(), case HS_ACTION_DROP when timed: keep the
 * flow's states before hs_table_block and call recount(e, f, old, true,
 * true) after it.
 */
static void test_timed_drop_releases_limit_count(void **state)
{
	struct rig r;
	struct sc_conn a, b;
	(void)state;

	rig_up(&r, "policies:\n"
		   "  - {name: half-open-cap, match: {state: SYN_RCVD}, limit: {max: 1, per: destination}, action: drop}\n"
		   "  - {name: half-open-timeout, match: {server_state: SYN_RCVD, age: 1s}, action: drop}\n");
	sc_conn_init(&a, HS_FAMILY_IPV4, 0x0101, 40000, SERVER_HOST, 443);
	sc_conn_init(&b, HS_FAMILY_IPV4, 0x0102, 40001, SERVER_HOST, 443);

	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_SYN, T0));
	assert_false(feed(&r, &a, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, T0));

	/* The timed policy blocks the half-open flow ... */
	hs_table_expire(r.table, T0 + 2000);
	struct hs_flow *f = sc_conn_lookup(r.table, &a);
	assert_non_null(f);
	assert_true(f->flags & HS_FLOW_BLOCKED);
	/* ... and it expires on the closed timeout: the table is empty. */
	hs_table_expire(r.table, T0 + 20000);
	assert_int_equal(hs_table_stats(r.table)->live, 0);

	/* Nothing is half-open, so the limit of one has room for b. */
	assert_false(feed(&r, &b, HS_CLIENT, HS_TCP_SYN, T0 + 20010));
	assert_non_null(sc_conn_lookup(r.table, &b));
	rig_down(&r);
}

/* ---- bursts ---- */

/*
 * The worker used to track a whole burst with hs_table_track_batch and
 * only then call hs_policy_engine_packet for each result.  The engine
 * recounts a flow from res->old_state (the state before that packet) to
 * f->state (by then the state after the whole burst), so a flow whose
 * state changed twice in one burst was counted by both results: here the
 * SYN-ACK (SYN_SENT/LISTEN -> SYN_SENT/SYN_RCVD) and the final ACK
 * (-> ESTABLISHED) arrive in one burst, and the flow was counted twice
 * against an ESTABLISHED limit.  It closes and expires, one count stayed
 * behind, and the client's next connection was refused with none open.
 *
 * Each result must reach the engine before the next packet of the burst
 * is tracked, which hs_table_track_batch's callback now guarantees.
 * Recounting from res->old_state to res->new_state after the burst would
 * not be enough: a SYN the engine refuses would be forgotten by a state
 * it reached later in the burst, and a result may point at a record the
 * burst released or reused (the fuzzer finds both).
 */
/* The worker's way: each result goes to the engine before the next packet is tracked. */
struct burst_check {
	struct hs_policy_engine *engine;
	const struct hs_packet *pkts;
	uint64_t now;
	int handled;
};

static void hand_to_engine(void *arg, size_t i, struct hs_track_result *res)
{
	struct burst_check *c = arg;

	assert_int_equal(res->invalid, HS_INVALID_NONE);
	assert_int_equal(hs_policy_engine_packet(c->engine, &c->pkts[i], res, c->now), HS_VERDICT_ACCEPT);
	c->handled++;
}

static void test_burst_keeps_limit_counts(void **state)
{
	struct rig r;
	struct sc_conn a, b;
	struct hs_packet pkts[2];
	struct hs_track_result res[2];
	const struct hs_packet *burst[2] = { &pkts[0], &pkts[1] };
	(void)state;

	rig_up(&r, "policies:\n"
		   "  - {name: per-client-cap, match: {state: ESTABLISHED}, limit: {max: 1, per: source}, action: drop}\n");
	sc_conn_init(&a, HS_FAMILY_IPV4, 0x0101, 40000, SERVER_HOST, 443);
	sc_conn_init(&b, HS_FAMILY_IPV4, 0x0101, 40001, SERVER_HOST, 443);

	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_SYN, T0));
	/* SYN-ACK and the handshake's last ACK in one burst, handled as the worker does. */
	sc_conn_packet(&a, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, &pkts[0]);
	consume(&a, HS_SERVER, HS_TCP_SYN, 0);
	sc_conn_packet(&a, HS_CLIENT, HS_TCP_ACK, 0, &pkts[1]);
	struct burst_check check = { .engine = r.engine, .pkts = pkts, .now = T0 + 1 };
	hs_table_track_batch(r.table, burst, 2, T0 + 1, res, hand_to_engine, &check);
	assert_int_equal(check.handled, 2);
	assert_int_equal(sc_conn_lookup(r.table, &a)->state[HS_CLIENT], HS_TCP_ESTABLISHED);

	/* The connection is reset and expires: the client has nothing open. */
	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_RST, T0 + 2));
	hs_table_expire(r.table, T0 + 20000);
	assert_int_equal(hs_table_stats(r.table)->live, 0);

	/* Its next connection is within the limit of one. */
	assert_false(feed(&r, &b, HS_CLIENT, HS_TCP_SYN, T0 + 20010));
	assert_non_null(sc_conn_lookup(r.table, &b));
	rig_down(&r);
}

/* ---- a tuple reopened from the other side ---- */

/*
 * A SYN on a finished tuple (both ends CLOSED or TIME_WAIT, or the
 * receiver in LAST_ACK) starts a new connection whose client is the SYN's
 * sender, even when that is the old server: restart_flow then swaps the
 * sides.  hs_policy_engine_packet took the old connection out of its
 * limit groups with recount(e, f, res->old_state, true, true), which
 * judged the old states against the flow as it is after the restart,
 * sides swapped: a per-source group was looked up by the new client's
 * address (the old server), src/dst and port matches read the wrong ends,
 * and the old client's group kept its count.  Here a connection in
 * TIME_WAIT counts against its client's limit of one; the server reopens
 * the tuple; the old client's next connection must still be admitted,
 * since nothing of its own is in TIME_WAIT any more.
 *
 * Fix: restart_flow calls the removal hook (HS_REMOVE_REOPENED) with the
 * old connection as it was, sides and states, before it reuses the
 * record, and the engine counts the reopened flow as a new one.
 */
static void test_restart_from_server_side_keeps_limit_counts(void **state)
{
	struct rig r;
	struct sc_conn a, b;
	struct hs_track_result res;
	struct hs_packet pkt;
	(void)state;

	rig_up(&r, "policies:\n"
		   "  - {name: time-wait-cap, match: {state: TIME_WAIT}, limit: {max: 1, per: source}, action: drop}\n");
	sc_conn_init(&a, HS_FAMILY_IPV4, 0x0101, 40000, SERVER_HOST, 443);
	sc_conn_init(&b, HS_FAMILY_IPV4, 0x0101, 40001, SERVER_HOST, 443);

	/* a opens and closes, client first: the client is left in TIME_WAIT. */
	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_SYN, T0));
	assert_false(feed(&r, &a, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, T0));
	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_ACK, T0));
	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, T0 + 1));
	assert_false(feed(&r, &a, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, T0 + 2));
	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_ACK, T0 + 3));
	struct hs_flow *f = sc_conn_lookup(r.table, &a);
	assert_int_equal(f->state[HS_CLIENT], HS_TCP_TIME_WAIT);

	/* The old server's SYN reopens the tuple with the sides swapped. */
	sc_conn_packet(&a, HS_SERVER, HS_TCP_SYN, 0, &pkt);
	hs_table_track(r.table, &pkt, T0 + 1000, &res);
	assert_true(res.events & HS_EVENT_RESTART);
	assert_int_equal(hs_policy_engine_packet(r.engine, &pkt, &res, T0 + 1000), HS_VERDICT_ACCEPT);
	f = sc_conn_lookup(r.table, &a);
	struct hs_addr client = hs_flow_addr(f, HS_CLIENT);
	assert_memory_equal(&client, &a.addr[HS_SERVER], sizeof(struct hs_addr));
	assert_int_equal(f->state[HS_CLIENT], HS_TCP_SYN_SENT);

	/* Nothing of the old client is in TIME_WAIT: its next connection is within the limit. */
	assert_false(feed(&r, &b, HS_CLIENT, HS_TCP_SYN, T0 + 1010));
	assert_non_null(sc_conn_lookup(r.table, &b));
	rig_down(&r);
}

/* ---- reload ---- */

/*
 * A reload that shortens a timeout must apply to flows already tracked:
 * an operator cuts timeouts to relieve a full table.  Flows are filed
 * lazily at their old deadline, so hs_table_reconfigure must refile them
 * when a deadline gets earlier (hs_policy_engine_set refiles them only
 * when the old or the new set has policies).  Here syn_sent becomes one
 * second while a SYN_SENT flow is filed for 120 s, and it must be gone
 * two seconds later.
 *
 * Fix: daemon/core/table.c, hs_table_reconfigure: remember the old
 * timeout_ticks and, if any class got shorter, file every flow again
 * (hs_table_rewake_all), as a policy reload already does.
 */
static void test_reload_shorter_timeouts_expire(void **state)
{
	struct hs_table_config cfg;
	struct sc_conn c;
	(void)state;

	struct hs_table *t = sc_table(16, false, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0x0101, 40000, SERVER_HOST, 443);
	sc_syn(t, &c, T0);

	sc_config(&cfg, 16, false);
	cfg.timeout_ms[HS_TIMEOUT_SYN_SENT] = 1000;
	hs_table_reconfigure(t, &cfg);
	assert_int_equal(hs_flow_timeout_ms(t, sc_conn_lookup(t, &c)), 1000);

	for (uint64_t now = T0 + 100; now <= T0 + 3000; now += 100)
		hs_table_expire(t, now);
	assert_null(sc_conn_lookup(t, &c));
	assert_int_equal(hs_table_stats(t)->live, 0);
	sc_table_free(t);
}

/* ---- the tick wrap ---- */

/*
 * Flow times are 32-bit ticks of 10 ms since the table was created, which
 * wrap after 497 days; hs_flow.h accepts that ages wrap then.  The timer
 * wheel must keep expiring flows across the wrap.  hs_table_expire used
 * to compute the wheel's slot as tick / 10, and 2^32 is not a multiple
 * of 10: at the wrap the slot number fell back from 429496729 to 0, the
 * processing point stayed ahead of it for another 497 days, and no flow
 * expired (or met a timed policy) in that time; only eviction freed
 * room.  Here flows created shortly before and after the wrap must not
 * outlive their 120 s SYN_SENT timeout.
 *
 * Fix: daemon/core/table.c: keep the wheel's time (processed, the target in
 * hs_table_expire, and `when` in timer_target) in a unit that wraps with
 * the ticks, or in 64 bits: for instance a power-of-two SLOT_TICKS with
 * all slot arithmetic modulo 2^32 / SLOT_TICKS, or a 64-bit processing
 * point with each flow's 32-bit deadline widened to the 64-bit tick
 * nearest the current time.
 */
static void test_expiry_across_tick_wrap(void **state)
{
	const uint64_t wrap_ms = (1ull << 32) * HS_TABLE_TICK_MS;   /* 497.1 days */
	struct sc_conn before, after;
	(void)state;

	struct hs_table *t = sc_table(16, false, 0);
	sc_conn_init(&before, HS_FAMILY_IPV4, 0x0101, 40000, SERVER_HOST, 443);
	sc_conn_init(&after, HS_FAMILY_IPV4, 0x0102, 40000, SERVER_HOST, 443);

	/* A daemon that has run for 497 days, expiring every second. */
	for (uint64_t now = wrap_ms - 100000; now <= wrap_ms + 400000; now += 1000) {
		hs_table_expire(t, now);
		if (now == wrap_ms - 30000)
			sc_syn(t, &before, now);
		if (now == wrap_ms + 10000)
			sc_syn(t, &after, now);
	}
	/* Both are far past their 120 s SYN_SENT timeout. */
	assert_null(sc_conn_lookup(t, &before));
	assert_null(sc_conn_lookup(t, &after));
	assert_int_equal(hs_table_stats(t)->live, 0);
	sc_table_free(t);
}

/* ---- table memory ---- */

/* The process's virtual memory size in KiB, from /proc/self/status. */
static long vm_size_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld", &kib) == 1)
			break;
	fclose(f);
	assert_true(kib > 0);
	return kib;
}

/*
 * The arrays come from mmap, aligned to 2 MiB: alloc_zeroed maps 2 MiB
 * more than asked and unmaps the head and the tail.  When the size was
 * not a multiple of the page size the tail started inside a page, so its
 * munmap failed (EINVAL, ignored), and hs_table_destroy unmapped only the
 * array's own bytes: nearly 2 MiB and a mapping stayed behind per array.  A
 * table of 8 flows has two such arrays (32 bytes of buckets, 1 KiB of
 * flows).  The daemon makes its tables once, but anything that makes many
 * (tests, the fuzzers, a future table rebuild on reload) runs out of
 * mappings (vm.max_map_count) or address space.
 *
 * Fix: daemon/core/table.c, alloc_zeroed: round bytes up to the page size
 * before computing the tail, and unmap the same rounded length in
 * hs_table_destroy (or keep the rounded lengths in flows_bytes and
 * buckets_bytes).
 */
static void test_table_destroy_unmaps_everything(void **state)
{
	struct hs_table_config cfg;
	(void)state;

	sc_config(&cfg, 8, false);
	/* Once first, so that allocator start-up costs are not counted. */
	hs_table_destroy(hs_table_create(&cfg, T0));
	long before = vm_size_kib();
	for (int i = 0; i < 200; i++) {
		struct hs_table *t = hs_table_create(&cfg, T0);
		assert_non_null(t);
		hs_table_destroy(t);
	}
	/* 200 leaked tails would be 800 MiB; allow room for allocator caches (sanitizers). */
	long grown = vm_size_kib() - before;
	if (grown > 65536)
		fail_msg("200 tables created and destroyed left %ld KiB of address space behind", grown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_timed_drop_releases_limit_count, rig_teardown),
		cmocka_unit_test_teardown(test_burst_keeps_limit_counts, rig_teardown),
		cmocka_unit_test_teardown(test_restart_from_server_side_keeps_limit_counts, rig_teardown),
		cmocka_unit_test_teardown(test_reload_shorter_timeouts_expire, sc_teardown),
		cmocka_unit_test_teardown(test_expiry_across_tick_wrap, sc_teardown),
		cmocka_unit_test_teardown(test_table_destroy_unmaps_everything, sc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
