/*
 * test_snapshot: the snapshot codec (core/snapshot_codec.c) and restoring
 * into a table (hs_table_restore_flow) and an engine.  A table holding
 * every pair of endpoint states, IPv4 and IPv6, goes through a file and
 * comes back field by field with its ages moved on by the gap; flows that
 * would have expired during the gap expire at once; windows catch up with
 * packets that passed while no daemon ran; verify memory survives; and
 * every damaged file (each byte flipped, each truncation, another version,
 * a duplicated connection) is refused without delivering anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_policy_engine.h"
#include "hs_snapshot.h"
#include "scenario.h"

#define T0 5000000u
#define SERVER_HOST 0x030303u

/* A growing buffer the writer emits into. */
struct sink {
	uint8_t *data;
	size_t len, cap;
};

static bool sink_emit(void *ctx, const void *bytes, size_t len)
{
	struct sink *s = ctx;

	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + len)
			cap *= 2;
		uint8_t *p = realloc(s->data, cap);
		if (!p)
			return false;
		s->data = p;
		s->cap = cap;
	}
	memcpy(s->data + s->len, bytes, len);
	s->len += len;
	return true;
}

struct save_ctx {
	struct hs_snap_writer *w;
	const struct hs_table *table;
	uint64_t now;
};

static bool save_flow(void *ctx, const struct hs_flow *f)
{
	struct save_ctx *c = ctx;

	hs_snap_write_flow(c->w, c->table, f, c->now);
	return true;
}

static void save_memory(void *ctx, const struct hs_engine_memory_entry *e)
{
	hs_snap_write_memory(ctx, e);
}

/* Writes one table (and engine, if any) as queue 0 of a snapshot saved at wall time `wall`. */
static void save(struct sink *s, const struct hs_table *t, const struct hs_policy_engine *e, uint64_t now,
		 uint64_t wall)
{
	struct hs_snap_writer w;
	struct hs_snap_header h = { .saved_wall_ms = wall, .sections = 1 };
	struct hs_snap_section sec = { .queue = 0, .next_id = hs_table_next_id(t), .id_step = 1 };
	struct save_ctx c = { &w, t, now };

	memset(h.machine, 0xab, sizeof(h.machine));
	memset(s, 0, sizeof(*s));
	assert_true(hs_snap_writer_init(&w, sink_emit, s));
	hs_snap_write_header(&w, &h);
	if (e) {
		hs_policy_engine_key(e, sec.engine_key);
		sec.rates_fingerprint = hs_policy_engine_rates_fingerprint(e);
	}
	hs_snap_write_section(&w, &sec);
	hs_table_foreach(t, save_flow, &c);
	for (uint32_t cursor = 0; e && hs_policy_engine_memory_walk(e, &cursor, 1000, now, save_memory, &w);)
		;
	assert_true(hs_snap_writer_finish(&w));
	hs_snap_writer_free(&w);
}

/* What the loading side does: flows into a table, ages moved on by the gap, memory into an engine. */
struct load_ctx {
	struct hs_table *table;
	struct hs_policy_engine *engine;
	uint64_t now;
	uint32_t gap_ticks;
	unsigned flows, sections, memory, full, duplicates;
	struct hs_snap_section section;
};

static void load_section(void *ctx, const struct hs_snap_section *s)
{
	struct load_ctx *c = ctx;

	c->sections++;
	c->section = *s;
}

static void load_flow(void *ctx, const struct hs_snap_section *s, const struct hs_flow *image,
		      const struct hs_flow_ages *saved)
{
	struct load_ctx *c = ctx;
	struct hs_flow_ages ages = { saved->age_ticks + c->gap_ticks, saved->idle_ticks + c->gap_ticks,
				     saved->state_ticks + c->gap_ticks };
	(void)s;

	c->flows++;
	enum hs_restore_result r = hs_table_restore_flow(c->table, image, &ages, c->now, true);
	c->full += r == HS_RESTORE_FULL;
	c->duplicates += r == HS_RESTORE_DUPLICATE;
}

static void load_memory(void *ctx, const struct hs_snap_section *s, const struct hs_engine_memory_entry *e)
{
	struct load_ctx *c = ctx;
	struct hs_engine_memory_entry aged = *e;
	(void)s;

	c->memory++;
	aged.age_ms += (uint64_t)c->gap_ticks * HS_TABLE_TICK_MS;
	if (c->engine)
		hs_policy_engine_memory_put(c->engine, &aged, c->now);
}

static const struct hs_snap_visitor loader = { load_section, load_flow, load_memory };

static int load(const struct sink *s, struct load_ctx *c, char *why, size_t whylen)
{
	struct hs_snap_header h;
	struct hs_snap_totals totals;

	return hs_snap_read(s->data, s->len, &h, &totals, &loader, c, why, whylen);
}

/* A connection in every pair of endpoint states, in both families: 2 x 11 x 11 flows. */
static void fill_every_state(struct hs_table *t, uint64_t now)
{
	static const uint8_t families[2] = { HS_FAMILY_IPV4, HS_FAMILY_IPV6 };
	uint32_t n = 0;

	for (int fam = 0; fam < 2; fam++)
		for (int cs = 0; cs < HS_TCP_STATE_COUNT; cs++)
			for (int ss = 0; ss < HS_TCP_STATE_COUNT; ss++, n++) {
				struct sc_conn c;
				sc_conn_init(&c, families[fam], 0x1000 + n, (uint16_t)(30000 + n), SERVER_HOST, 443);
				/* Different histories, counters and times: some only a SYN, some a whole exchange. */
				struct hs_flow *f = (n % 3 == 0) ? sc_syn(t, &c, now + n) : sc_open(t, &c, now + n);
				if (n % 3 == 2)
					sc_step(t, &c, HS_CLIENT, HS_TCP_ACK, 100 + n, now + 2 * n, HS_TCP_ESTABLISHED,
						HS_TCP_ESTABLISHED);
				f = sc_conn_lookup(t, &c);
				assert_non_null(f);
				f->state[HS_CLIENT] = (uint8_t)cs;
				f->state[HS_SERVER] = (uint8_t)ss;
				f->ep_flags[HS_CLIENT] |= (uint8_t)((n * 7) & (HS_EP_SEEN_DATA | HS_EP_SYN_DATA | HS_EP_FIN |
									      HS_EP_LIBERAL | HS_EP_SEEN_ACK));
				if (n % 3 == 1)
					f->bytes_hi_marks[HS_SERVER] |= HS_LOCAL;
				if (n % 5 == 2)
					f->bytes_hi_marks[HS_CLIENT] |= HS_SENT_WSCALE;
				hs_flow_set_wscale(f, HS_SERVER, (uint8_t)(n % 15));
				if (n % 11 == 5)
					f->flags |= HS_FLOW_POLICY_DONE;
				if (n % 13 == 7)
					f->flags |= HS_FLOW_BLOCKED;
			}
}

struct expect_ctx {
	const struct hs_table *original;
	struct hs_table *restored;
	uint64_t then, now;
	uint32_t gap_ticks;
	unsigned checked;
};

/* Every restored flow equals the original one but for its links and times, which moved on by the gap. */
static bool compare_flow(void *ctx, const struct hs_flow *o)
{
	struct expect_ctx *c = ctx;
	struct hs_flow_key key;

	memset(&key, 0, sizeof(key));
	hs_flow_key_get(o, &key);
	struct hs_flow *r = hs_table_lookup(c->restored, &key);

	assert_non_null(r);
	assert_int_equal(hs_flow_family(r), hs_flow_family(o));
	assert_memory_equal(r->addr4, o->addr4, sizeof(o->addr4));
	assert_memory_equal(r->port, o->port, sizeof(o->port));
	if (hs_flow_family(o) == HS_FAMILY_IPV6)
		assert_memory_equal(hs_flow_v6_of(r)->addr, hs_flow_v6_of(o)->addr, sizeof(hs_flow_v6_of(o)->addr));
	assert_int_equal(r->flags & ~(HS_FLOW_TIMER_LINKED | HS_FLOW_TIMER_L2),
			 o->flags & ~(HS_FLOW_TIMER_LINKED | HS_FLOW_TIMER_L2));
	assert_memory_equal(r->state, o->state, 2);
	assert_int_equal(r->wscales, o->wscales);
	for (int s = 0; s < 2; s++)
		/* The original's noted 'A' (HS_EP_SEEN_ACK) is written in the copy's history (below). */
		assert_int_equal(r->ep_flags[s] & ~HS_EP_SEEN_DATA, (o->ep_flags[s] & ~(HS_EP_SEEN_ACK | HS_EP_SEEN_DATA)) | HS_EP_GAP);
	/* The history as it stands: an 'A' the original noted (HS_EP_SEEN_ACK) is written in the copy. */
	assert_true(hs_flow_history_due(r) == hs_flow_history_due(o));
	assert_memory_equal(r->window, o->window, sizeof(o->window));
	assert_int_equal(r->id, o->id);
	assert_memory_equal(r->packets, o->packets, sizeof(o->packets));
	assert_memory_equal(r->bytes_lo, o->bytes_lo, sizeof(o->bytes_lo));
	for (int s = 0; s < 2; s++) {
		assert_true(hs_flow_bytes(r, (enum hs_side)s) == hs_flow_bytes(o, (enum hs_side)s));
		/* A side whose 'D' the original recorded takes its data on the common path again. */
		/* Its data takes the common path again if its 'D' is in the history, or the history is full. */
		uint64_t h = hs_flow_history_due(o);
		bool data_seen = hs_history_has(h, (enum hs_side)s, HS_HIST_DATA) || (h >> (4 * (HS_HISTORY_MAX - 1))) != 0;
		assert_int_equal((r->ep_flags[s] & HS_EP_SEEN_DATA) != 0, data_seen);
		assert_int_equal(r->bytes_hi_marks[s] & ~HS_BYTES_HI_MASK, o->bytes_hi_marks[s] & ~HS_BYTES_HI_MASK);
	}
	uint64_t gap_ms = (uint64_t)c->gap_ticks * HS_TABLE_TICK_MS;
	assert_int_equal(hs_flow_age_ms(c->restored, r, c->now), hs_flow_age_ms(c->original, o, c->then) + gap_ms);
	assert_int_equal(hs_flow_idle_ms(c->restored, r, c->now), hs_flow_idle_ms(c->original, o, c->then) + gap_ms);
	assert_int_equal(hs_flow_state_age_ms(c->restored, r, c->now),
			 hs_flow_state_age_ms(c->original, o, c->then) + gap_ms);
	c->checked++;
	return true;
}

static void test_round_trip_every_state(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(1024, true, T0);
	fill_every_state(t, T0 + 100);
	uint64_t then = T0 + 90000;
	struct sink s;

	save(&s, t, NULL, then, 1700000000000ull);
	/* Both ways of loading: checked and delivered at once, or checked (sections only), then delivered. */
	for (int twice = 0; twice < 2; twice++) {
		/* The loading daemon's clock starts anywhere; 3 s passed in between. */
		uint64_t now = 77000;
		struct hs_table *r = sc_table(1024, true, now);
		struct load_ctx c = { .table = r, .now = now, .gap_ticks = 300 };
		char why[256] = "";
		if (twice) {
			static const struct hs_snap_visitor sections_only = { load_section, NULL, NULL };
			struct hs_snap_header h;
			struct hs_snap_totals totals;

			assert_int_equal(hs_snap_read(s.data, s.len, &h, &totals, &sections_only, &c, why, sizeof(why)), 0);
			assert_int_equal(totals.flows, 2 * HS_TCP_STATE_COUNT * HS_TCP_STATE_COUNT);
			assert_int_equal(c.flows, 0);
			c.sections = 0;
			assert_int_equal(hs_snap_deliver(s.data, s.len, &loader, &c), 0);
		} else {
			assert_int_equal(load(&s, &c, why, sizeof(why)), 0);
		}
		assert_int_equal(c.flows, 2 * HS_TCP_STATE_COUNT * HS_TCP_STATE_COUNT);
		assert_int_equal(c.sections, 1);
		assert_int_equal(c.full + c.duplicates, 0);
		assert_int_equal(hs_table_stats(r)->live, hs_table_stats(t)->live);
		assert_int_equal(hs_table_stats(r)->live_half_open, hs_table_stats(t)->live_half_open);

		struct expect_ctx e = { t, r, then, now, 300, 0 };
		hs_table_foreach(t, compare_flow, &e);
		assert_int_equal(e.checked, 2 * HS_TCP_STATE_COUNT * HS_TCP_STATE_COUNT);
		/* Ids go on where the saved table left off: a new flow gets a new one. */
		assert_int_equal(hs_table_next_id(r), 1);
		hs_table_set_next_id(r, c.section.next_id);
		struct sc_conn fresh;
		sc_conn_init(&fresh, HS_FAMILY_IPV4, 0x9999, 50000, SERVER_HOST, 80);
		assert_int_equal(sc_syn(r, &fresh, now + 10)->id, hs_table_next_id(t));
		sc_table_free(r);
	}
	free(s.data);
	sc_table_free(t);
}

/* One connection of each family in TIME_WAIT and one ESTABLISHED, saved 10 s after their last packet. */
static struct hs_table *small_table(struct sc_conn *tw, struct sc_conn *est)
{
	struct hs_table *t = sc_table(64, true, T0);

	sc_conn_init(&tw[0], HS_FAMILY_IPV4, 0x10, 40000, SERVER_HOST, 80);
	sc_conn_init(&tw[1], HS_FAMILY_IPV6, 0x11, 40001, SERVER_HOST, 80);
	for (int i = 0; i < 2; i++) {
		sc_open(t, &tw[i], T0);
		sc_close(t, &tw[i], T0);
		assert_int_equal(sc_conn_lookup(t, &tw[i])->state[HS_CLIENT], HS_TCP_TIME_WAIT);
	}
	sc_conn_init(est, HS_FAMILY_IPV4, 0x12, 40002, SERVER_HOST, 22);
	sc_open(t, est, T0);
	return t;
}

/* TIME_WAIT lasts 60 s: after a gap of 55 s (plus the 10 s idle at saving) it is over at once. */
static void test_gap_expires_what_timed_out(void **state)
{
	(void)state;
	struct sc_conn tw[2], est;
	struct hs_table *t = small_table(tw, &est);
	struct sink s;

	save(&s, t, NULL, T0 + 10000, 1);
	for (int gap_s = 40; gap_s <= 55; gap_s += 15) {
		uint64_t now = 1000;
		struct hs_table *r = sc_table(64, true, now);
		struct load_ctx c = { .table = r, .now = now, .gap_ticks = (uint32_t)gap_s * 100 };
		char why[256];

		assert_int_equal(load(&s, &c, why, sizeof(why)), 0);
		assert_int_equal(hs_table_stats(r)->live, 3);
		size_t gone = hs_table_expire(r, now + 100);
		if (gap_s == 55) {
			/* Expired by the first pass, through the removal path, as any expiry. */
			assert_int_equal(gone, 2);
			assert_int_equal(hs_table_stats(r)->flows_removed[HS_REMOVE_EXPIRED], 2);
		} else {
			/* 50 s of its 60 are gone: 10 s remain. */
			assert_int_equal(gone, 0);
			assert_int_equal(hs_table_expire(r, now + 9800), 0);
			assert_int_equal(hs_table_expire(r, now + 10300), 2);
		}
		assert_non_null(sc_conn_lookup(r, &est));
		sc_table_free(r);
	}
	free(s.data);
	sc_table_free(t);
}

/*
 * While no daemon ran, 40 MB went each way, far beyond the 16 windows a
 * live flow may catch up: the restored flow takes the first packet as
 * valid; the same flow without the mark would not.
 */
static void test_gap_resynchronises(void **state)
{
	(void)state;
	struct sc_conn tw[2], est;
	struct hs_table *t = small_table(tw, &est);
	struct sink s;

	save(&s, t, NULL, T0 + 10000, 1);
	for (int marked = 1; marked >= 0; marked--) {
		struct hs_table *r = sc_table(64, true, 1000);
		struct load_ctx c = { .table = r, .now = 1000, .gap_ticks = 200 };
		char why[256];
		struct sc_conn later = est;
		struct hs_track_result res;

		assert_int_equal(load(&s, &c, why, sizeof(why)), 0);
		if (!marked) {
			struct hs_flow *f = sc_conn_lookup(r, &est);
			f->ep_flags[0] &= (uint8_t)~HS_EP_GAP;
			f->ep_flags[1] &= (uint8_t)~HS_EP_GAP;
		}
		later.next[HS_CLIENT] += 40u << 20;
		later.next[HS_SERVER] += 40u << 20;
		sc_send(r, &later, HS_SERVER, HS_TCP_ACK, 1000, 1100, &res);
		if (marked) {
			assert_int_equal(res.invalid, HS_INVALID_NONE);
			assert_int_equal(hs_table_stats(r)->resyncs, 1);
			/* And the other side's next packet fits the caught-up windows. */
			sc_send(r, &later, HS_CLIENT, HS_TCP_ACK, 500, 1110, &res);
			assert_int_equal(res.invalid, HS_INVALID_NONE);
			assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_ESTABLISHED);
		} else {
			assert_int_not_equal(res.invalid, HS_INVALID_NONE);
		}
		sc_table_free(r);
	}
	free(s.data);
	sc_table_free(t);
}

/* A small snapshot with flows of both families and engine memory, for the corruption tests. */
static void small_snapshot(struct sink *s)
{
	struct sc_conn tw[2], est;
	struct hs_table *t = small_table(tw, &est);
	static const uint8_t key[16] = { 9, 8, 7 };
	struct hs_policy_engine *e = hs_policy_engine_create(64, key);
	struct hs_engine_memory_entry m = { HS_MEMORY_KNOWN, 0x1234, 0, 0 };

	assert_non_null(e);
	hs_policy_engine_memory_put(e, &m, T0 + 9000);
	save(s, t, e, T0 + 10000, 1);
	hs_policy_engine_destroy(e);
	sc_table_free(t);
}

/* Loads into a fresh table; asserts a refusal that delivered nothing. */
static void assert_refused(const uint8_t *data, size_t len, const char *what)
{
	struct hs_table *r = sc_table(64, true, 1000);
	struct load_ctx c = { .table = r, .now = 1000 };
	struct hs_snap_header h;
	struct hs_snap_totals totals;
	char why[256] = "";

	if (hs_snap_read(data, len, &h, &totals, &loader, &c, why, sizeof(why)) == 0)
		fail_msg("%s: accepted", what);
	assert_true(why[0] != '\0');
	assert_int_equal(c.flows + c.sections + c.memory, 0);
	assert_int_equal(hs_table_stats(r)->live, 0);
	sc_table_free(r);
}

static void test_every_byte_flipped(void **state)
{
	(void)state;
	struct sink s;
	char what[64];

	small_snapshot(&s);
	{
		struct hs_table *r = sc_table(64, true, 1000);
		struct load_ctx c = { .table = r, .now = 1000 };
		char why[256];
		assert_int_equal(load(&s, &c, why, sizeof(why)), 0);
		assert_int_equal(c.flows, 3);
		assert_int_equal(c.memory, 1);
		sc_table_free(r);
	}
	for (size_t i = 0; i < s.len; i++)
		for (int bit = 0; bit < 8; bit++) {
			s.data[i] ^= (uint8_t)(1u << bit);
			snprintf(what, sizeof(what), "byte %zu bit %d flipped", i, bit);
			assert_refused(s.data, s.len, what);
			s.data[i] ^= (uint8_t)(1u << bit);
		}
	free(s.data);
}

static void test_every_truncation(void **state)
{
	(void)state;
	struct sink s;
	char what[64];

	small_snapshot(&s);
	for (size_t len = 0; len < s.len; len++) {
		snprintf(what, sizeof(what), "truncated to %zu of %zu", len, s.len);
		/* A copy of exactly that length, so the sanitizers see any read past it. */
		uint8_t *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, s.data, len);
		assert_refused(copy, len, what);
		free(copy);
	}
	/* Bytes after the end block are refused too. */
	uint8_t *longer = malloc(s.len + 1);
	memcpy(longer, s.data, s.len);
	longer[s.len] = 0;
	assert_refused(longer, s.len + 1, "one byte added");
	free(longer);
	free(s.data);
}

static void test_wrong_version(void **state)
{
	(void)state;
	struct sink s;
	struct hs_snap_header h;
	struct hs_snap_totals totals;
	char why[256] = "";

	small_snapshot(&s);
	s.data[8] = 2;
	assert_int_equal(hs_snap_read(s.data, s.len, &h, &totals, NULL, NULL, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "version 2"));
	memcpy(s.data, "NOTSNAP\n", 8);
	assert_int_equal(hs_snap_read(s.data, s.len, &h, &totals, NULL, NULL, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a handshaked snapshot"));
	free(s.data);
}

/* A checksummed file that holds the same connection twice is refused, not half loaded. */
static void test_duplicate_refused(void **state)
{
	(void)state;
	struct sc_conn tw[2], est;
	struct hs_table *t = small_table(tw, &est);
	struct hs_snap_writer w;
	struct hs_snap_header h = { .sections = 1 };
	struct hs_snap_section sec = { .queue = 3, .next_id = 9, .id_step = 1 };
	struct sink s = { 0 };

	assert_true(hs_snap_writer_init(&w, sink_emit, &s));
	hs_snap_write_header(&w, &h);
	hs_snap_write_section(&w, &sec);
	hs_snap_write_flow(&w, t, sc_conn_lookup(t, &est), T0);
	hs_snap_write_flow(&w, t, sc_conn_lookup(t, &tw[0]), T0);
	hs_snap_write_flow(&w, t, sc_conn_lookup(t, &est), T0);
	assert_true(hs_snap_writer_finish(&w));
	hs_snap_writer_free(&w);
	assert_refused(s.data, s.len, "duplicate");
	free(s.data);
	sc_table_free(t);
}

/* The verify memory survives: a SYN dropped before the restart passes when retransmitted after it. */
static void test_verify_memory_survives(void **state)
{
	(void)state;
	static const uint8_t key_a[16] = { 1 }, key_b[16] = { 2 };
	struct hs_policy_set set = { .count = 1 };
	struct hs_policy *p = &set.items[0];

	snprintf(p->name, sizeof(p->name), "syn-flood");
	hs_flow_match_init(&p->match);
	p->match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	p->has_limit = true;
	p->limit_max = 0;
	p->limit_per = HS_PER_GLOBAL;
	p->action = HS_ACTION_VERIFY;

	struct hs_actions actions_a, actions_b;
	struct hs_table *ta = sc_table(64, true, T0);
	struct hs_policy_engine *ea = hs_policy_engine_create(64, key_a);
	hs_actions_init(&actions_a, NULL, NULL);
	hs_policy_engine_attach(ea, ta, &actions_a);
	hs_policy_engine_set(ea, &set, T0);

	struct sc_conn c;
	struct hs_packet syn;
	struct hs_track_result res;
	sc_conn_init(&c, HS_FAMILY_IPV4, 0x77, 45000, SERVER_HOST, 80);
	sc_conn_packet(&c, HS_CLIENT, HS_TCP_SYN, 0, &syn);
	hs_table_track(ta, &syn, T0, &res);
	assert_int_equal(hs_policy_engine_packet(ea, &syn, &res, T0), HS_VERDICT_DROP);

	struct sink s;
	save(&s, ta, ea, T0 + 300, 1);

	/* Restarted 400 ms later with another key: the engine adopts the saved one. */
	for (int adopt = 1; adopt >= 0; adopt--) {
		uint64_t now = 2000;
		struct hs_table *tb = sc_table(64, true, now);
		struct hs_policy_engine *eb = hs_policy_engine_create(64, key_b);
		struct load_ctx lc = { .table = tb, .engine = eb, .now = now, .gap_ticks = 40 };
		char why[256];

		hs_actions_init(&actions_b, NULL, NULL);
		hs_policy_engine_attach(eb, tb, &actions_b);
		assert_int_equal(load(&s, &lc, why, sizeof(why)), 0);
		assert_int_equal(lc.memory, 1);
		/* Put back in the order the worker uses: key, policies, then the entries again. */
		if (adopt)
			hs_policy_engine_adopt_key(eb, lc.section.engine_key);
		hs_policy_engine_set(eb, &set, now);
		lc.memory = 0;
		assert_int_equal(load(&s, &lc, why, sizeof(why)), 0);

		/* 1 s after the first SYN: a retransmission, let through only if remembered. */
		hs_table_track(tb, &syn, now + 300, &res);
		enum hs_verdict v = hs_policy_engine_packet(eb, &syn, &res, now + 300);
		assert_int_equal(v, adopt ? HS_VERDICT_ACCEPT : HS_VERDICT_DROP);
		hs_policy_engine_destroy(eb);
		sc_table_free(tb);
	}
	free(s.data);
	hs_policy_engine_destroy(ea);
	sc_table_free(ta);
}

/* A table smaller than the snapshot keeps what fits and says how many did not. */
static void test_full_table(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(1024, true, T0);
	struct sink s;

	fill_every_state(t, T0);
	save(&s, t, NULL, T0 + 1000, 1);
	struct hs_table *r = sc_table(100, true, 1000);
	struct load_ctx c = { .table = r, .now = 1000 };
	char why[256];
	assert_int_equal(load(&s, &c, why, sizeof(why)), 0);
	assert_int_equal(hs_table_stats(r)->live, 100);
	assert_int_equal(c.full, 2 * HS_TCP_STATE_COUNT * HS_TCP_STATE_COUNT - 100);
	free(s.data);
	sc_table_free(t);
	sc_table_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_round_trip_every_state, sc_teardown),
		cmocka_unit_test_teardown(test_gap_expires_what_timed_out, sc_teardown),
		cmocka_unit_test_teardown(test_gap_resynchronises, sc_teardown),
		cmocka_unit_test_teardown(test_every_byte_flipped, sc_teardown),
		cmocka_unit_test_teardown(test_every_truncation, sc_teardown),
		cmocka_unit_test_teardown(test_wrong_version, sc_teardown),
		cmocka_unit_test_teardown(test_duplicate_refused, sc_teardown),
		cmocka_unit_test_teardown(test_verify_memory_survives, sc_teardown),
		cmocka_unit_test_teardown(test_full_table, sc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
