/*
 * test_policy_engine: the policy engine on a real table, driven packet by
 * packet with a test clock: limits counted per group and kept in step with
 * state changes and removals, verify (first SYN refused, its retransmission
 * let through, known sources at once), rate buckets, state-entry policies,
 * timed policies (reset, dry run, drop that blocks a flow until a new SYN),
 * and a reload that rebuilds the counts from the flows already tracked.
 * The engine decides and the rig acts, as the worker does: after every
 * packet and expiry pass it takes the engine's action list, records which
 * sides of which flow were to get RSTs and every event in order, and
 * deletes the reset flows (as if their RSTs had been sent), so the tests
 * assert the decisions themselves without a network.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs_policy_engine.h"
#include "scenario.h"

#define SERVER_HOST 0x020202u
#define T0 1000000u

#define LOG_MAX 64

/* An action as the rig saw it carried out. */
struct seen {
	uint8_t type;               /* HS_DO_EVENT or HS_DO_RESET */
	uint8_t event;              /* enum hs_event_kind */
	uint8_t sides;              /* reset */
	uint16_t policy;
	bool dry_run;
	uint8_t old_state[2];
	uint32_t flow_id;           /* whose flow */
	uint64_t now_ms;
};

struct rig {
	struct hs_table *table;
	struct hs_policy_engine *engine;
	struct hs_actions actions;
	struct hs_policy_set set;
	unsigned nseen;
	struct seen seen[LOG_MAX];
};

static const uint8_t engine_key[16] = { 0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

/* Takes every action the engine decided, in order, and does what the worker does with it. */
static void carry_out(struct rig *r)
{
	struct hs_action a;

	while (hs_actions_next(&r->actions, &a)) {
		assert_true(r->nseen < LOG_MAX);
		struct seen *s = &r->seen[r->nseen++];
		s->type = a.type;
		s->event = a.event;
		s->sides = a.sides;
		s->policy = a.policy;
		s->dry_run = a.dry_run;
		memcpy(s->old_state, a.old_state, sizeof(s->old_state));
		s->flow_id = a.flow.id;
		s->now_ms = a.now_ms;
		if (a.type == HS_DO_RESET) {
			struct hs_flow *f = hs_table_flow_ref(r->table, a.flow_index, a.flow.id);
			/* The flow stays until its RSTs are out; the rig sends none and deletes it. */
			assert_non_null(f);
			hs_table_delete(r->table, f);
		}
	}
}

/* An expiry pass at `now`, as the worker's timer runs it. */
static void expire(struct rig *r, uint64_t now)
{
	hs_policy_engine_now(r->engine, now);
	hs_table_expire(r->table, now);
	carry_out(r);
}

/* How many actions of a type (and, for events, a kind) a flow saw (flow_id 0: any flow). */
static unsigned count_seen(const struct rig *r, uint8_t type, int event, uint32_t flow_id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < r->nseen; i++)
		if (r->seen[i].type == type && (event < 0 || r->seen[i].event == event) &&
		    (!flow_id || r->seen[i].flow_id == flow_id))
			n++;
	return n;
}

/* The kinds of the events a flow saw, in order, as a string of their first letters ("nsspd"). */
static const char *event_story(const struct rig *r, uint32_t flow_id)
{
	static char story[LOG_MAX + 1];
	size_t n = 0;

	for (unsigned i = 0; i < r->nseen; i++) {
		const struct seen *e = &r->seen[i];
		if (e->flow_id != flow_id)
			continue;
		story[n++] = e->type == HS_DO_RESET ? 'R' : hs_event_kind_name((enum hs_event_kind)e->event)[0];
	}
	story[n] = '\0';
	return story;
}

/* The i-th action the rig saw for a flow. */
static const struct seen *nth_seen(const struct rig *r, uint32_t flow_id, unsigned nth)
{
	for (unsigned i = 0; i < r->nseen; i++)
		if (r->seen[i].flow_id == flow_id && nth-- == 0)
			return &r->seen[i];
	fail_msg("flow %u saw fewer actions", flow_id);
	return NULL;
}

static struct hs_policy *add_policy(struct hs_policy_set *set, const char *name, enum hs_policy_action action)
{
	struct hs_policy *p = &set->items[set->count++];

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	hs_flow_match_init(&p->match);
	p->action = action;
	return p;
}

static void rig_up(struct rig *r, uint32_t max_flows)
{
	memset(r, 0, sizeof(*r));
	r->table = sc_table(max_flows, true, T0);
	r->engine = hs_policy_engine_create(max_flows, engine_key);
	assert_non_null(r->engine);
	hs_actions_init(&r->actions, NULL, NULL);
	hs_policy_engine_attach(r->engine, r->table, &r->actions);
}

static void rig_apply(struct rig *r, uint64_t now)
{
	hs_policy_engine_set(r->engine, &r->set, now);
}

static void rig_down(struct rig *r)
{
	hs_policy_engine_destroy(r->engine);
	sc_table_free(r->table);
}

/* Sends the next packet of a side through table and engine; true if the engine dropped it. */
static bool feed(struct rig *r, struct sc_conn *c, enum hs_side from, uint8_t flags, uint32_t len, uint64_t now,
		 struct hs_track_result *res)
{
	struct hs_packet pkt;
	struct hs_track_result local;

	if (!res)
		res = &local;
	sc_conn_packet(c, from, flags, len, &pkt);
	hs_policy_engine_now(r->engine, now);
	hs_table_track(r->table, &pkt, now, res);
	bool drop = hs_policy_engine_packet(r->engine, &pkt, res, now) == HS_VERDICT_DROP;
	carry_out(r);
	if (!drop && res->invalid == HS_INVALID_NONE && res->hint != HS_HINT_BLOCKED) {
		uint32_t used = len + ((flags & HS_TCP_SYN) ? 1 : 0) + ((flags & HS_TCP_FIN) ? 1 : 0);
		c->next[from] += used;
	}
	return drop;
}

/* Client SYN and server SYN-ACK: the server is then SYN_RCVD. */
static void half_open(struct rig *r, struct sc_conn *c, uint64_t now)
{
	assert_false(feed(r, c, HS_CLIENT, HS_TCP_SYN, 0, now, NULL));
	assert_false(feed(r, c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, now, NULL));
	assert_int_equal(sc_conn_lookup(r->table, c)->state[HS_SERVER], HS_TCP_SYN_RCVD);
}

static void full_open(struct rig *r, struct sc_conn *c, uint64_t now)
{
	half_open(r, c, now);
	assert_false(feed(r, c, HS_CLIENT, HS_TCP_ACK, 0, now, NULL));
}

static void test_verify_limit(void **state)
{
	struct rig r;
	struct sc_conn c[6];
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "syn-flood", HS_ACTION_VERIFY);
	p->match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->match.n_dst_ports = 1;
	p->match.dst_ports[0] = (struct hs_port_range){ 8080, 8080 };
	p->has_limit = true;
	p->limit_max = 2;
	p->limit_per = HS_PER_DESTINATION;
	rig_apply(&r, T0);

	for (int i = 0; i < 6; i++)
		sc_conn_init(&c[i], HS_FAMILY_IPV4, 0x0100 + (uint32_t)i, (uint16_t)(40000 + i), SERVER_HOST, 8080);
	half_open(&r, &c[0], T0);
	half_open(&r, &c[1], T0);

	/* Third half-open connection to the same destination: refused and forgotten by the table. */
	assert_true(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0 + 10, NULL));
	assert_null(sc_conn_lookup(r.table, &c[2]));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].refused, 1);
	/* A duplicate within 200 ms is not a retransmission. */
	assert_true(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0 + 100, NULL));
	/* The retransmission a second later is let through past the limit. */
	assert_false(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0 + 1010, NULL));
	assert_non_null(sc_conn_lookup(r.table, &c[2]));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].verified, 1);

	/* Another destination port is not limited. */
	struct sc_conn other;
	sc_conn_init(&other, HS_FAMILY_IPV4, 0x0200, 41000, SERVER_HOST, 9090);
	assert_false(feed(&r, &other, HS_CLIENT, HS_TCP_SYN, 0, T0 + 1020, NULL));

	/* When a half-open connection completes, it no longer counts: a new SYN passes at once. */
	assert_false(feed(&r, &c[2], HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0 + 1030, NULL));
	assert_false(feed(&r, &c[0], HS_CLIENT, HS_TCP_ACK, 0, T0 + 1040, NULL));
	assert_false(feed(&r, &c[1], HS_CLIENT, HS_TCP_ACK, 0, T0 + 1040, NULL));
	assert_false(feed(&r, &c[3], HS_CLIENT, HS_TCP_SYN, 0, T0 + 1050, NULL));
	rig_down(&r);
}

/*
 * verify in dry run lets every SYN through and leaves the flows alone, but
 * still decides: a first SYN past the limit counts as refused (and as a
 * dry-run action), a known source's as verified.
 */
static void test_verify_dry_run_decides(void **state)
{
	struct rig r;
	struct sc_conn known, c[4];
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "syn-flood", HS_ACTION_VERIFY);
	p->match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->has_limit = true;
	p->limit_max = 2;
	p->limit_per = HS_PER_DESTINATION;
	p->dry_run = true;
	rig_apply(&r, T0);

	sc_conn_init(&known, HS_FAMILY_IPV4, 0x0500, 39000, SERVER_HOST, 8080);
	full_open(&r, &known, T0);
	for (int i = 0; i < 4; i++)
		sc_conn_init(&c[i], HS_FAMILY_IPV4, 0x0600 + (uint32_t)i, (uint16_t)(40000 + i), SERVER_HOST, 8080);
	half_open(&r, &c[0], T0);
	half_open(&r, &c[1], T0);
	assert_false(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0 + 10, NULL));
	assert_non_null(sc_conn_lookup(r.table, &c[2]));
	const struct hs_policy_counters *pc = &hs_policy_engine_counters(r.engine)[0];
	assert_int_equal(pc->refused, 1);
	assert_int_equal(pc->dry_run, 1);
	assert_int_equal(pc->acted, 0);
	/* The source that completed a handshake passes, and that is no action. */
	struct sc_conn again;
	sc_conn_init(&again, HS_FAMILY_IPV4, 0x0500, 39001, SERVER_HOST, 8080);
	assert_false(feed(&r, &again, HS_CLIENT, HS_TCP_SYN, 0, T0 + 20, NULL));
	assert_int_equal(pc->verified, 1);
	assert_int_equal(pc->dry_run, 1);
	rig_down(&r);
}

/* SYNs still unanswered count against a SYN_RCVD limit: a burst cannot slip in. */
static void test_limit_counts_syns_in_flight(void **state)
{
	struct rig r;
	struct sc_conn c[4];
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "syn-flood", HS_ACTION_DROP);
	p->match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->has_limit = true;
	p->limit_max = 2;
	p->limit_per = HS_PER_DESTINATION;
	rig_apply(&r, T0);
	for (int i = 0; i < 4; i++)
		sc_conn_init(&c[i], HS_FAMILY_IPV4, 0x0400 + (uint32_t)i, 40000, SERVER_HOST, 8080);
	assert_false(feed(&r, &c[0], HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	assert_false(feed(&r, &c[1], HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	assert_true(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	/* The answer to an admitted SYN changes nothing in the count. */
	assert_false(feed(&r, &c[0], HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0 + 1, NULL));
	assert_true(feed(&r, &c[3], HS_CLIENT, HS_TCP_SYN, 0, T0 + 2, NULL));
	/* A completed handshake frees a place. */
	assert_false(feed(&r, &c[0], HS_CLIENT, HS_TCP_ACK, 0, T0 + 3, NULL));
	assert_false(feed(&r, &c[3], HS_CLIENT, HS_TCP_SYN, 0, T0 + 4, NULL));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 2);
	rig_down(&r);
}

static void test_verify_known_source(void **state)
{
	struct rig r;
	struct sc_conn a, b, x, y;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "syn-flood", HS_ACTION_VERIFY);
	p->match.server_state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->has_limit = true;
	p->limit_max = 1;
	p->limit_per = HS_PER_GLOBAL;
	rig_apply(&r, T0);

	/* Source 0x300 completes a handshake; later, past the limit, its new SYN passes at once. */
	sc_conn_init(&a, HS_FAMILY_IPV6, 0x300, 40000, SERVER_HOST, 443);
	full_open(&r, &a, T0);
	sc_conn_init(&x, HS_FAMILY_IPV6, 0x301, 40000, SERVER_HOST, 443);
	half_open(&r, &x, T0 + 5);
	sc_conn_init(&b, HS_FAMILY_IPV6, 0x300, 40001, SERVER_HOST, 443);
	assert_false(feed(&r, &b, HS_CLIENT, HS_TCP_SYN, 0, T0 + 10, NULL));
	/* An unknown source past the limit is refused. */
	sc_conn_init(&y, HS_FAMILY_IPV6, 0x302, 40000, SERVER_HOST, 443);
	assert_true(feed(&r, &y, HS_CLIENT, HS_TCP_SYN, 0, T0 + 10, NULL));
	rig_down(&r);
}

static void test_source_limit_follows_closes(void **state)
{
	struct rig r;
	struct sc_conn c1, c2, c3;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "per-client", HS_ACTION_DROP);
	p->match.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	p->has_limit = true;
	p->limit_max = 1;
	p->limit_per = HS_PER_SOURCE;
	rig_apply(&r, T0);

	sc_conn_init(&c1, HS_FAMILY_IPV4, 0x500, 40000, SERVER_HOST, 80);
	sc_conn_init(&c2, HS_FAMILY_IPV4, 0x500, 40001, SERVER_HOST, 80);
	sc_conn_init(&c3, HS_FAMILY_IPV4, 0x501, 40000, SERVER_HOST, 80);
	full_open(&r, &c1, T0);
	assert_true(feed(&r, &c2, HS_CLIENT, HS_TCP_SYN, 0, T0 + 1, NULL));
	assert_false(feed(&r, &c3, HS_CLIENT, HS_TCP_SYN, 0, T0 + 1, NULL));
	/* The client resets its connection: the count drops and a new SYN passes. */
	assert_false(feed(&r, &c1, HS_CLIENT, HS_TCP_RST, 0, T0 + 2, NULL));
	assert_false(feed(&r, &c2, HS_CLIENT, HS_TCP_SYN, 0, T0 + 3, NULL));
	/* A removed flow stops counting too. */
	full_open(&r, &c2, T0 + 4);
	struct sc_conn c4;
	sc_conn_init(&c4, HS_FAMILY_IPV4, 0x500, 40002, SERVER_HOST, 80);
	assert_true(feed(&r, &c4, HS_CLIENT, HS_TCP_SYN, 0, T0 + 5, NULL));
	hs_table_delete(r.table, sc_conn_lookup(r.table, &c2));
	carry_out(&r);
	assert_false(feed(&r, &c4, HS_CLIENT, HS_TCP_SYN, 0, T0 + 6, NULL));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 2);
	rig_down(&r);
}

/*
 * The engine's tables follow what the policies need, not max_flows: for
 * the largest table, no policy keeps nothing resident (the count and
 * bucket tables alone would be 900 MiB written through), a per-source
 * limit makes resident only the pages its groups use, and a set without
 * it gives them back.  Measured, not timed: the bounds are generous
 * multiples of what the entries need.
 */
static void test_memory_follows_policies(void **state)
{
	struct rig r;
	struct sc_conn c;
	const uint32_t sources = 2000;
	(void)state;

	/* The table is small, so that what grows is the engine's (the table's own: test_table). */
	rig_up(&r, 2 * sources);
	hs_policy_engine_destroy(r.engine);
	uint64_t before = sc_resident_bytes();
	r.engine = hs_policy_engine_create(HS_TABLE_MAX_FLOWS, engine_key);
	assert_non_null(r.engine);
	hs_policy_engine_attach(r.engine, r.table, &r.actions);
	rig_apply(&r, T0);
	uint64_t idle = sc_resident_bytes();
	print_message("  engine for %u flows, no policy: %" PRIu64 " KiB resident\n", HS_TABLE_MAX_FLOWS,
		      (idle - before) / 1024);
	/* What stats report: no count table, buckets or verify memory without policies that use them. */
	uint64_t reported = hs_policy_engine_memory(r.engine);
	assert_true(reported < 256u * 1024);
	assert_true(idle - before < 16u * 1024 * 1024);

	struct hs_policy *p = add_policy(&r.set, "per-client", HS_ACTION_DROP);
	p->match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->has_limit = true;
	p->limit_max = 1;
	p->limit_per = HS_PER_SOURCE;
	rig_apply(&r, T0);
	/* A per-source limit may fill a count table of two slots a flow: stats say so. */
	assert_true(hs_policy_engine_memory(r.engine) >= reported + 2ull * HS_TABLE_MAX_FLOWS * 16);
	for (uint32_t i = 0; i < sources; i++) {
		sc_conn_init(&c, HS_FAMILY_IPV4, 0x10000 + i, 40000, SERVER_HOST, 80);
		assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_SYN, 0, T0 + 1, NULL));
		r.nseen = 0;   /* the rig's log holds a few events; these are not the point */
	}
	/* The limit holds per source: a second SYN from the last one is refused. */
	sc_conn_init(&c, HS_FAMILY_IPV4, 0x10000 + sources - 1, 40001, SERVER_HOST, 80);
	assert_true(feed(&r, &c, HS_CLIENT, HS_TCP_SYN, 0, T0 + 2, NULL));
	uint64_t used = sc_resident_bytes();
	print_message("  %u sources counted: %" PRIu64 " KiB more\n", sources, (used - idle) / 1024);
	/* At most a page per group in the count table, where 512 MiB are reserved. */
	assert_true(used - idle < 2 * (uint64_t)sources * 4096);

	r.set.count = 0;
	rig_apply(&r, T0 + 3);
	uint64_t after = sc_resident_bytes();
	print_message("  the limit removed: %" PRIu64 " KiB less\n", (used - after) / 1024);
	/* The count table's pages (a page per source) are given back. */
	assert_true(used - after >= (uint64_t)sources * 4096 / 2);
	rig_down(&r);
}

static void test_rate(void **state)
{
	struct rig r;
	struct sc_conn c[8];
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "rate", HS_ACTION_DROP);
	p->has_rate = true;
	p->rate_per_second = 2;
	p->rate_burst = 2;
	p->rate_per = HS_PER_SOURCE;
	rig_apply(&r, T0);
	for (int i = 0; i < 8; i++)
		sc_conn_init(&c[i], HS_FAMILY_IPV4, 0x700, (uint16_t)(30000 + i), SERVER_HOST, 80);
	assert_false(feed(&r, &c[0], HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	assert_false(feed(&r, &c[1], HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	assert_true(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	/* Half a second gives back one token at 2 per second. */
	assert_false(feed(&r, &c[3], HS_CLIENT, HS_TCP_SYN, 0, T0 + 500, NULL));
	assert_true(feed(&r, &c[4], HS_CLIENT, HS_TCP_SYN, 0, T0 + 500, NULL));
	/* Another source has its own bucket. */
	struct sc_conn o;
	sc_conn_init(&o, HS_FAMILY_IPV4, 0x701, 30000, SERVER_HOST, 80);
	assert_false(feed(&r, &o, HS_CLIENT, HS_TCP_SYN, 0, T0 + 500, NULL));
	rig_down(&r);
}

static void test_state_entry_policy(void **state)
{
	struct rig r;
	struct sc_conn c, ok;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *allow = add_policy(&r.set, "trusted", HS_ACTION_ACCEPT);
	allow->match.n_src = 1;
	sc_addr(HS_FAMILY_IPV4, 0x900, &allow->match.src[0].addr);
	allow->match.src[0].family = HS_FAMILY_IPV4;
	allow->match.src[0].prefix = 32;
	struct hs_policy *p = add_policy(&r.set, "no-synack", HS_ACTION_DROP);
	p->match.server_state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	rig_apply(&r, T0);

	sc_conn_init(&c, HS_FAMILY_IPV4, 0x901, 40000, SERVER_HOST, 80);
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	assert_true(feed(&r, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0, NULL));
	/* The accept policy comes first for the trusted source. */
	sc_conn_init(&ok, HS_FAMILY_IPV4, 0x900, 40000, SERVER_HOST, 80);
	assert_false(feed(&r, &ok, HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	assert_false(feed(&r, &ok, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0, NULL));
	rig_down(&r);
}

/* Client half-close: FIN_WAIT_2 / CLOSE_WAIT at `now`. */
static void half_close(struct rig *r, struct sc_conn *c, uint64_t now)
{
	full_open(r, c, now);
	assert_false(feed(r, c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, now, NULL));
	assert_false(feed(r, c, HS_SERVER, HS_TCP_ACK, 0, now, NULL));
	assert_int_equal(sc_conn_lookup(r->table, c)->state[HS_SERVER], HS_TCP_CLOSE_WAIT);
}

static void test_timed_reset(void **state)
{
	struct rig r;
	struct sc_conn c, busy;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "stale-close-wait", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 2000;
	rig_apply(&r, T0);

	sc_conn_init(&c, HS_FAMILY_IPV4, 0xa00, 40000, SERVER_HOST, 80);
	sc_conn_init(&busy, HS_FAMILY_IPV4, 0xa01, 40000, SERVER_HOST, 80);
	half_close(&r, &c, T0);
	half_close(&r, &busy, T0);
	uint32_t cid = sc_conn_lookup(r.table, &c)->id, bid = sc_conn_lookup(r.table, &busy)->id;
	expire(&r, T0 + 1900);
	assert_non_null(sc_conn_lookup(r.table, &c));
	assert_int_equal(count_seen(&r, HS_DO_RESET, -1, 0), 0);
	/* Data from the server keeps `busy` from being idle. */
	assert_false(feed(&r, &busy, HS_SERVER, HS_TCP_ACK, 10, T0 + 1900, NULL));
	expire(&r, T0 + 2200);
	assert_null(sc_conn_lookup(r.table, &c));
	assert_non_null(sc_conn_lookup(r.table, &busy));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 1);
	/*
	 * c's story: new, four state changes to FIN_WAIT_2/CLOSE_WAIT, then
	 * the policy's event, RSTs to both ends (client and server), and the
	 * deletion told last, once the RSTs were out.
	 */
	assert_string_equal(event_story(&r, cid), "nsssspRd");
	const struct seen *rst = nth_seen(&r, cid, 6);
	assert_int_equal(rst->sides, (1u << HS_CLIENT) | (1u << HS_SERVER));
	assert_int_equal(rst->policy, 0);
	assert_int_equal(rst->now_ms, T0 + 2200);
	assert_int_equal(nth_seen(&r, cid, 5)->policy, 0);
	assert_false(nth_seen(&r, cid, 5)->dry_run);
	assert_int_equal(count_seen(&r, HS_DO_RESET, -1, bid), 0);
	expire(&r, T0 + 4000);
	assert_null(sc_conn_lookup(r.table, &busy));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 2);
	assert_int_equal(count_seen(&r, HS_DO_RESET, -1, bid), 1);
	assert_int_equal(count_seen(&r, HS_DO_RESET, -1, 0), 2);
	rig_down(&r);
}

/* Sets the open and half-closed timeouts (established, fin_wait, close_wait); the others keep their defaults. */
static void set_open_timeouts(struct hs_table *t, uint32_t ms)
{
	struct hs_table_config cfg;

	sc_config(&cfg, hs_table_capacity(t), true);
	cfg.timeout_ms[HS_TIMEOUT_ESTABLISHED] = ms;
	cfg.timeout_ms[HS_TIMEOUT_FIN_WAIT] = ms;
	cfg.timeout_ms[HS_TIMEOUT_CLOSE_WAIT] = ms;
	hs_table_reconfigure(t, &cfg);
}

/* Runs the table's expiry every 100 ms from `from` to `to`, as the daemon's timer does. */
static void run_clock(struct rig *r, uint64_t from, uint64_t to)
{
	for (uint64_t t = from; t <= to; t += 100)
		expire(r, t);
}

/*
 * The reaper: a leaked CLOSE_WAIT socket never sends, and under the
 * default timeouts a reaper with idle 90 s finds it still tracked at 90 s
 * and resets it (conntrack's 60 s for CLOSE_WAIT forgot it at 60 s).
 */
static void test_reaper_acts_on_idle_close_wait(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "reaper", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 90000;
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xa10, 40000, SERVER_HOST, 80);
	half_close(&r, &c, T0);
	run_clock(&r, T0, T0 + 89900);
	assert_non_null(sc_conn_lookup(r.table, &c));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 0);
	run_clock(&r, T0 + 90000, T0 + 90200);
	assert_null(sc_conn_lookup(r.table, &c));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 1);
	assert_int_equal(hs_table_stats(r.table)->flows_removed[HS_REMOVE_DELETED], 1);
	assert_int_equal(hs_table_stats(r.table)->flows_removed[HS_REMOVE_EXPIRED], 0);
	rig_down(&r);
}

/*
 * A timed policy gets its turn whatever the timeout: with established,
 * fin_wait and close_wait set to 60 s, a 90 s reaper still resets the half-closed flow
 * at 90 s, and a 2-minute log policy on open connections logs at 2 minutes,
 * after which the flow, its policy done, expires.
 */
static void test_timed_policy_holds_past_timeout(void **state)
{
	struct rig r;
	struct sc_conn half, open;
	(void)state;

	rig_up(&r, 64);
	set_open_timeouts(r.table, 60000);
	struct hs_policy *p = add_policy(&r.set, "reaper", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 90000;
	p = add_policy(&r.set, "idle-open", HS_ACTION_LOG);
	p->match.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	p->match.idle_ms = 120000;
	rig_apply(&r, T0);
	sc_conn_init(&half, HS_FAMILY_IPV4, 0xa20, 40000, SERVER_HOST, 80);
	sc_conn_init(&open, HS_FAMILY_IPV6, 0xa21, 40000, SERVER_HOST, 80);
	half_close(&r, &half, T0);
	full_open(&r, &open, T0);

	run_clock(&r, T0, T0 + 89900);
	assert_non_null(sc_conn_lookup(r.table, &half));
	assert_non_null(sc_conn_lookup(r.table, &open));
	run_clock(&r, T0 + 90000, T0 + 90200);
	assert_null(sc_conn_lookup(r.table, &half));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 1);

	run_clock(&r, T0 + 90300, T0 + 119900);
	assert_non_null(sc_conn_lookup(r.table, &open));
	assert_int_equal(hs_policy_engine_counters(r.engine)[1].acted, 0);
	run_clock(&r, T0 + 120000, T0 + 120500);
	assert_int_equal(hs_policy_engine_counters(r.engine)[1].acted, 1);
	assert_null(sc_conn_lookup(r.table, &open));
	assert_int_equal(hs_table_stats(r.table)->flows_removed[HS_REMOVE_EXPIRED], 1);
	rig_down(&r);
}

/*
 * TIME_WAIT lasts as long as the kernel keeps it (60 s): a policy waiting
 * for 90 idle seconds does not hold a connection that no longer exists.
 */
static void test_timed_policy_does_not_hold_time_wait(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "late", HS_ACTION_LOG);
	p->match.state = HS_STATE_SET(HS_TCP_TIME_WAIT);
	p->match.idle_ms = 90000;
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xa30, 40000, SERVER_HOST, 80);
	full_open(&r, &c, T0);
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, T0, NULL));
	assert_false(feed(&r, &c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, T0, NULL));
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_ACK, 0, T0, NULL));
	assert_int_equal(sc_conn_lookup(r.table, &c)->state[HS_CLIENT], HS_TCP_TIME_WAIT);
	run_clock(&r, T0, T0 + 59900);
	assert_non_null(sc_conn_lookup(r.table, &c));
	run_clock(&r, T0 + 60000, T0 + 100000);
	assert_null(sc_conn_lookup(r.table, &c));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 0);
	rig_down(&r);
}

static void test_timed_dry_run_acts_once(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "would-reset", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 1000;
	p->dry_run = true;
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xb00, 40000, SERVER_HOST, 80);
	half_close(&r, &c, T0);
	for (uint64_t t = T0; t <= T0 + 5000; t += 100)
		expire(&r, t);
	assert_non_null(sc_conn_lookup(r.table, &c));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].dry_run, 1);
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 0);
	/* One policy event, marked as a dry run, and no RST for anyone. */
	assert_int_equal(count_seen(&r, HS_DO_EVENT, HS_EV_POLICY, 0), 1);
	assert_true(r.seen[r.nseen - 1].dry_run);
	assert_int_equal(count_seen(&r, HS_DO_RESET, -1, 0), 0);
	rig_down(&r);
}

static void test_timed_drop_blocks(void **state)
{
	struct rig r;
	struct sc_conn c;
	struct hs_track_result res;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "half-open-timeout", HS_ACTION_DROP);
	p->match.server_state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->match.state_age_ms = 2000;
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xc00, 40000, SERVER_HOST, 80);
	half_open(&r, &c, T0);
	/* A retransmitted SYN-ACK does not change the state: age counts from the state's start. */
	c.next[HS_SERVER]--;
	assert_false(feed(&r, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0 + 1500, NULL));
	expire(&r, T0 + 1900);
	assert_false(sc_conn_lookup(r.table, &c)->flags & HS_FLOW_BLOCKED);
	expire(&r, T0 + 2100);
	struct hs_flow *f = sc_conn_lookup(r.table, &c);
	assert_non_null(f);
	assert_true(f->flags & HS_FLOW_BLOCKED);
	/* The client's late ACK is refused, then a new SYN starts over. */
	feed(&r, &c, HS_CLIENT, HS_TCP_ACK, 0, T0 + 2200, &res);
	assert_int_equal(res.hint, HS_HINT_BLOCKED);
	c.isn[HS_CLIENT] += 100000;
	c.next[HS_CLIENT] = c.isn[HS_CLIENT];
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_SYN, 0, T0 + 2300, &res));
	assert_true(res.events & HS_EVENT_RESTART);
	assert_false(sc_conn_lookup(r.table, &c)->flags & HS_FLOW_BLOCKED);
	rig_down(&r);
}

static void test_reload_rebuilds_counts(void **state)
{
	struct rig r;
	struct sc_conn c[3];
	(void)state;

	rig_up(&r, 64);
	rig_apply(&r, T0);   /* no policies yet */
	for (int i = 0; i < 3; i++)
		sc_conn_init(&c[i], HS_FAMILY_IPV4, 0xd00, (uint16_t)(40000 + i), SERVER_HOST, 80);
	full_open(&r, &c[0], T0);
	full_open(&r, &c[1], T0);

	struct hs_policy *p = add_policy(&r.set, "cap", HS_ACTION_DROP);
	p->match.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	p->has_limit = true;
	p->limit_max = 2;
	p->limit_per = HS_PER_SOURCE;
	rig_apply(&r, T0 + 10);
	/* The two flows opened before the reload count against the new limit. */
	assert_true(feed(&r, &c[2], HS_CLIENT, HS_TCP_SYN, 0, T0 + 20, NULL));
	assert_non_null(sc_conn_lookup(r.table, &c[0]));
	rig_down(&r);
}

static void test_reload_wakes_timed(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xe00, 40000, SERVER_HOST, 80);
	half_close(&r, &c, T0);
	struct hs_policy *p = add_policy(&r.set, "reaper", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 1000;
	rig_apply(&r, T0 + 500);
	expire(&r, T0 + 1200);
	assert_null(sc_conn_lookup(r.table, &c));
	rig_down(&r);
}

/* Events of a connection opened and closed, in order, with the states before each change. */
static void test_event_order(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xf00, 40000, SERVER_HOST, 80);
	full_open(&r, &c, T0);
	uint32_t id = sc_conn_lookup(r.table, &c)->id;
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, T0 + 1, NULL));
	assert_false(feed(&r, &c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, T0 + 2, NULL));
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_ACK, 0, T0 + 3, NULL));
	/* new, SYN-ACK, ACK, FIN, FIN, last ACK (state, then close), then expiry. */
	assert_string_equal(event_story(&r, id), "nsssssc");
	assert_int_equal(nth_seen(&r, id, 1)->old_state[HS_CLIENT], HS_TCP_SYN_SENT);
	assert_int_equal(nth_seen(&r, id, 1)->old_state[HS_SERVER], HS_TCP_LISTEN);
	assert_int_equal(nth_seen(&r, id, 5)->old_state[HS_SERVER], HS_TCP_LAST_ACK);
	assert_int_equal(nth_seen(&r, id, 6)->now_ms, T0 + 3);
	expire(&r, T0 + 200000);
	assert_string_equal(event_story(&r, id), "nsssssce");
	assert_int_equal(nth_seen(&r, id, 7)->now_ms, T0 + 200000);
	rig_down(&r);
}

/*
 * A reset on entering SYN_RCVD goes to the server alone (its half-open
 * slot), the SYN-ACK is dropped, and the flow leaves once the RST is out.
 */
static void test_reset_sides_half_open(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "no-half-open", HS_ACTION_RESET);
	p->match.server_state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xf10, 40000, SERVER_HOST, 80);
	assert_false(feed(&r, &c, HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	uint32_t id = sc_conn_lookup(r.table, &c)->id;
	assert_true(feed(&r, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0 + 1, NULL));
	assert_null(sc_conn_lookup(r.table, &c));
	assert_string_equal(event_story(&r, id), "nspRd");
	assert_int_equal(nth_seen(&r, id, 3)->sides, 1u << HS_SERVER);
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 1);
	rig_down(&r);
}

/* A SYN refused by a limit leaves the policy's event and nothing else: no "new", no flow. */
static void test_refused_syn_events(void **state)
{
	struct rig r;
	struct sc_conn a, b;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "one-at-a-time", HS_ACTION_DROP);
	p->match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->has_limit = true;
	p->limit_max = 1;
	p->limit_per = HS_PER_GLOBAL;
	rig_apply(&r, T0);
	sc_conn_init(&a, HS_FAMILY_IPV6, 0xf20, 40000, SERVER_HOST, 80);
	sc_conn_init(&b, HS_FAMILY_IPV6, 0xf21, 40000, SERVER_HOST, 80);
	assert_false(feed(&r, &a, HS_CLIENT, HS_TCP_SYN, 0, T0, NULL));
	unsigned before = r.nseen;
	assert_true(feed(&r, &b, HS_CLIENT, HS_TCP_SYN, 0, T0 + 1, NULL));
	assert_null(sc_conn_lookup(r.table, &b));
	assert_int_equal(r.nseen - before, 1);
	assert_int_equal(r.seen[before].event, HS_EV_POLICY);
	assert_int_equal(count_seen(&r, HS_DO_EVENT, HS_EV_NEW, 0), 1);
	assert_int_equal(count_seen(&r, HS_DO_RESET, -1, 0), 0);
	rig_down(&r);
}

/*
 * With no room for more RSTs, a timed reset waits for a later tick: no
 * event, no reset, the flow kept and still due.  It acts once there is room.
 */
static void test_timed_reset_waits_for_room(void **state)
{
	struct rig r;
	struct sc_conn c;
	(void)state;

	rig_up(&r, 64);
	struct hs_policy *p = add_policy(&r.set, "reaper", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 1000;
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xf30, 40000, SERVER_HOST, 80);
	half_close(&r, &c, T0);
	uint32_t id = sc_conn_lookup(r.table, &c)->id;
	r.actions.reset_room = 0;
	expire(&r, T0 + 1500);
	assert_non_null(sc_conn_lookup(r.table, &c));
	assert_string_equal(event_story(&r, id), "nssss");
	/* Looked at again on every tick the pass went through after it was due. */
	assert_true(r.actions.resets_deferred >= 1);
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 0);
	r.actions.reset_room = 2;
	expire(&r, T0 + 1600);
	assert_null(sc_conn_lookup(r.table, &c));
	assert_string_equal(event_story(&r, id), "nsssspRd");
	assert_int_equal(r.actions.reset_room, 1);
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 1);
	rig_down(&r);
}

/*
 * A flow whose RSTs are under way stays in the table until the caller has
 * settled them, even past its timeout: here close_wait is 1 s and the
 * reaper waits 2 s idle, so the flow is held by the policy, acted on, and
 * must not expire before the worker deletes it.  If the worker never does,
 * the engine lets it go after a minute.
 */
static void test_reset_holds_flow_until_settled(void **state)
{
	struct rig r;
	struct sc_conn c, d;
	(void)state;

	rig_up(&r, 64);
	set_open_timeouts(r.table, 1000);
	struct hs_policy *p = add_policy(&r.set, "reaper", HS_ACTION_RESET);
	p->match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	p->match.idle_ms = 2000;
	rig_apply(&r, T0);
	sc_conn_init(&c, HS_FAMILY_IPV4, 0xf40, 40000, SERVER_HOST, 80);
	sc_conn_init(&d, HS_FAMILY_IPV4, 0xf41, 40000, SERVER_HOST, 80);
	half_close(&r, &c, T0);
	half_close(&r, &d, T0);
	/* Passes of the table alone: the resets are asked for, nobody carries them out yet. */
	for (uint64_t t = T0; t <= T0 + 5000; t += 100) {
		hs_policy_engine_now(r.engine, t);
		hs_table_expire(r.table, t);
	}
	assert_int_equal(hs_actions_pending(&r.actions), 4);    /* two policy events, two resets */
	assert_non_null(sc_conn_lookup(r.table, &c));
	assert_non_null(sc_conn_lookup(r.table, &d));
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 2);
	/* The worker settles c's RSTs and deletes it: deleted, not expired. */
	struct hs_action a;
	uint32_t cid = sc_conn_lookup(r.table, &c)->id;
	for (int i = 0; i < 4; i++) {
		assert_true(hs_actions_next(&r.actions, &a));
		if (a.type == HS_DO_RESET && a.flow.id == cid)
			hs_table_delete(r.table, hs_table_flow_ref(r.table, a.flow_index, a.flow.id));
	}
	assert_null(sc_conn_lookup(r.table, &c));
	assert_int_equal(hs_table_stats(r.table)->flows_removed[HS_REMOVE_DELETED], 1);
	assert_int_equal(hs_table_stats(r.table)->flows_removed[HS_REMOVE_EXPIRED], 0);
	/* d's RSTs never come to an end: it stays a minute, then goes with its timeout, and no policy acts again. */
	for (uint64_t t = T0 + 5100; t <= T0 + 61000; t += 100) {
		hs_policy_engine_now(r.engine, t);
		hs_table_expire(r.table, t);
	}
	assert_non_null(sc_conn_lookup(r.table, &d));
	expire(&r, T0 + 62100);
	assert_null(sc_conn_lookup(r.table, &d));
	assert_int_equal(hs_table_stats(r.table)->flows_removed[HS_REMOVE_EXPIRED], 1);
	assert_int_equal(hs_policy_engine_counters(r.engine)[0].acted, 2);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_verify_limit, sc_teardown),
		cmocka_unit_test_teardown(test_limit_counts_syns_in_flight, sc_teardown),
		cmocka_unit_test_teardown(test_verify_known_source, sc_teardown),
		cmocka_unit_test_teardown(test_source_limit_follows_closes, sc_teardown),
		cmocka_unit_test_teardown(test_memory_follows_policies, sc_teardown),
		cmocka_unit_test_teardown(test_rate, sc_teardown),
		cmocka_unit_test_teardown(test_state_entry_policy, sc_teardown),
		cmocka_unit_test_teardown(test_timed_reset, sc_teardown),
		cmocka_unit_test_teardown(test_reaper_acts_on_idle_close_wait, sc_teardown),
		cmocka_unit_test_teardown(test_timed_policy_holds_past_timeout, sc_teardown),
		cmocka_unit_test_teardown(test_timed_policy_does_not_hold_time_wait, sc_teardown),
		cmocka_unit_test_teardown(test_timed_dry_run_acts_once, sc_teardown),
		cmocka_unit_test_teardown(test_verify_dry_run_decides, sc_teardown),
		cmocka_unit_test_teardown(test_timed_drop_blocks, sc_teardown),
		cmocka_unit_test_teardown(test_reload_rebuilds_counts, sc_teardown),
		cmocka_unit_test_teardown(test_reload_wakes_timed, sc_teardown),
		cmocka_unit_test_teardown(test_event_order, sc_teardown),
		cmocka_unit_test_teardown(test_reset_sides_half_open, sc_teardown),
		cmocka_unit_test_teardown(test_refused_syn_events, sc_teardown),
		cmocka_unit_test_teardown(test_timed_reset_waits_for_room, sc_teardown),
		cmocka_unit_test_teardown(test_reset_holds_flow_until_settled, sc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
