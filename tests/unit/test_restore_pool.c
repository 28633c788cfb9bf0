/*
 * test_restore_pool: flows of a snapshot written with another set of
 * queues (daemon/restore_pool.c), claimed by the table that misses them.
 * Two tables stand for the workers of a "0-1" range, each with the miss
 * hook a worker installs: the first packet of each saved connection,
 * whichever table it reaches, finds its flow again with its id, sides,
 * states, history, counters and ages; a packet of a flow the table holds,
 * or of a new connection, leaves the pool alone; a flow whose timeout
 * passed before its first packet leaves as expired; the main thread
 * forgets the rest at max_age; a save writes the waiting flows with their
 * ages moved on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_restore_pool.h"
#include "hs_snapshot.h"
#include "scenario.h"

#define T0 5000000u
#define SERVER_HOST 0x030303u
#define MAX_AGE_MS 300000u

static const uint8_t pool_key[16] = { 1, 2, 3 };

/* What a worker's miss hook does, counting the calls. */
struct worker {
	struct hs_table *table;
	struct hs_restore_pool *pool;
	unsigned misses;
};

static bool claim(void *ctx, const struct hs_flow_key *key, uint8_t family, uint64_t now_ms)
{
	struct worker *w = ctx;

	w->misses++;
	return hs_restore_pool_claim(w->pool, w->table, NULL, key, family, now_ms);
}

/* A table of a two-queue set (ids index + 1, step 2) that consults the pool. */
static void worker_init(struct worker *w, int index, struct hs_restore_pool *pool, uint64_t now)
{
	struct hs_table_config cfg;

	sc_config(&cfg, 64, true);
	cfg.id_first = (uint32_t)index + 1;
	cfg.id_step = 2;
	memset(w, 0, sizeof(*w));
	w->table = hs_table_create(&cfg, now);
	assert_non_null(w->table);
	w->pool = pool;
	hs_table_set_miss_hook(w->table, claim, w);
}

/* The saved table: two established connections (IPv4, IPv6) and one half-closed, 10 s idle at the save. */
static struct hs_table *saved_table(struct sc_conn *c)
{
	struct hs_table *t = sc_table(64, true, T0);

	sc_conn_init(&c[0], HS_FAMILY_IPV4, 0x10, 40000, SERVER_HOST, 80);
	sc_conn_init(&c[1], HS_FAMILY_IPV6, 0x11, 40001, SERVER_HOST, 443);
	sc_conn_init(&c[2], HS_FAMILY_IPV4, 0x12, 40002, SERVER_HOST, 8080);
	for (int i = 0; i < 3; i++) {
		sc_open(t, &c[i], T0);
		sc_step(t, &c[i], HS_CLIENT, HS_TCP_ACK, 100, T0 + 10, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	}
	sc_step(t, &c[2], HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, T0 + 20, HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);
	sc_step(t, &c[2], HS_SERVER, HS_TCP_ACK, 0, T0 + 30, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT);
	return t;
}

struct fill_ctx {
	struct hs_restore_pool *pool;
	const struct hs_table *table;
	uint64_t now;
	uint32_t gap_ticks;
};

/* As the loader does: every flow into the pool with its ages at the save plus the gap. */
static bool fill_one(void *ctx, const struct hs_flow *f)
{
	struct fill_ctx *c = ctx;
	struct hs_flow_ages ages = {
		(uint32_t)(hs_flow_age_ms(c->table, f, c->now) / HS_TABLE_TICK_MS) + c->gap_ticks,
		(uint32_t)(hs_flow_idle_ms(c->table, f, c->now) / HS_TABLE_TICK_MS) + c->gap_ticks,
		(uint32_t)(hs_flow_state_age_ms(c->table, f, c->now) / HS_TABLE_TICK_MS) + c->gap_ticks,
	};

	assert_true(hs_restore_pool_add(c->pool, f, &ages));
	return true;
}

static void fill_pool(struct hs_restore_pool *pool, const struct hs_table *t, uint64_t saved_at, uint32_t gap_ms,
		      uint64_t loaded_ms)
{
	struct fill_ctx c = { pool, t, saved_at, gap_ms / HS_TABLE_TICK_MS };

	assert_true(hs_restore_pool_init(pool, 8, pool_key, loaded_ms, loaded_ms + MAX_AGE_MS));
	hs_table_foreach(t, fill_one, &c);
	assert_int_equal(atomic_load(&pool->waiting), 3);
}

/* Every connection comes back in whichever table its first packet reaches, as it was. */
static void test_claimed_by_first_packet(void **state)
{
	(void)state;
	struct sc_conn c[3];
	struct hs_table *old = saved_table(c);
	struct hs_restore_pool pool;
	struct worker w[2];
	uint64_t now = 1000;
	struct hs_track_result res;

	/* Saved 10 s after the last packets; no daemon for 2 s; the first packets 5 s after the load. */
	fill_pool(&pool, old, T0 + 10000, 2000, now);
	worker_init(&w[0], 0, &pool, now);
	worker_init(&w[1], 1, &pool, now);
	for (int i = 0; i < 3; i++) {
		struct worker *wk = &w[i % 2];
		const struct hs_flow *before = sc_conn_lookup(old, &c[i]);
		uint64_t idle_before = hs_flow_idle_ms(old, before, T0 + 10000);

		/* The client has sent a pure ACK before: the history has no new letter to add. */
		sc_send(wk->table, &c[i], HS_CLIENT, HS_TCP_ACK, 0, now + 5000, &res);
		assert_int_equal(res.invalid, HS_INVALID_NONE);
		const struct hs_flow *f = sc_conn_lookup(wk->table, &c[i]);
		assert_non_null(f);
		assert_null(sc_conn_lookup(w[(i + 1) % 2].table, &c[i]));
		assert_int_equal(f->id, before->id);
		assert_int_equal(f->flags & HS_FLOW_CLIENT_IS_0, before->flags & HS_FLOW_CLIENT_IS_0);
		assert_int_equal(f->state[HS_CLIENT], before->state[HS_CLIENT]);
		assert_int_equal(f->state[HS_SERVER], before->state[HS_SERVER]);
		assert_memory_equal(f->history, before->history, sizeof(f->history));
		assert_int_equal(f->packets[HS_CLIENT], before->packets[HS_CLIENT] + 1);
		assert_int_equal(f->packets[HS_SERVER], before->packets[HS_SERVER]);
		/* Its age went on by the idle time at the save, the gap and the wait in the pool. */
		assert_true(hs_flow_age_ms(wk->table, f, now + 5000) >= idle_before + 2000 + 5000);
		assert_int_equal(hs_table_stats(wk->table)->flows_created, 0);
		assert_int_equal(atomic_load(&pool.waiting), (uint64_t)(2 - i));
	}
	struct hs_restore_pool_stats st;
	hs_restore_pool_stats(&pool, &st);
	assert_int_equal(st.claimed, 3);
	assert_int_equal(st.waiting, 0);
	/* The half-closed connection goes on: the client's FIN was seen before the restart. */
	sc_step(w[0].table, &c[2], HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, now + 6000, HS_TCP_TIME_WAIT, HS_TCP_LAST_ACK);
	for (int i = 0; i < 2; i++)
		hs_table_destroy(w[i].table);
	hs_restore_pool_free(&pool);
	sc_table_free(old);
}

/* A packet of a tracked flow never asks; a new connection asks once and leaves the pool as it was. */
static void test_only_misses_ask(void **state)
{
	(void)state;
	struct sc_conn c[3], fresh;
	struct hs_table *old = saved_table(c);
	struct hs_restore_pool pool;
	struct worker w;
	struct hs_track_result res;

	fill_pool(&pool, old, T0 + 10000, 1000, 1000);
	worker_init(&w, 0, &pool, 1000);
	sc_send(w.table, &c[0], HS_CLIENT, HS_TCP_ACK, 10, 2000, &res);
	assert_int_equal(w.misses, 1);
	for (int i = 0; i < 5; i++)
		sc_send(w.table, &c[0], HS_CLIENT, HS_TCP_ACK, 10, 2100 + (uint64_t)i, &res);
	assert_int_equal(w.misses, 1);
	sc_conn_init(&fresh, HS_FAMILY_IPV4, 0x20, 50000, SERVER_HOST, 80);
	sc_open(w.table, &fresh, 3000);
	assert_int_equal(w.misses, 2);
	assert_int_equal(atomic_load(&pool.waiting), 2);
	const struct hs_flow *f = sc_conn_lookup(w.table, &fresh);
	/* New ids are the worker's own. */
	assert_int_equal(f->id % 2, 1);
	assert_int_equal(hs_table_stats(w.table)->flows_created, 1);
	hs_table_destroy(w.table);
	hs_restore_pool_free(&pool);
	sc_table_free(old);
}

/* A TIME_WAIT (60 s) that waited 55 s before the load and 10 s after: gone when its packet comes. */
static void test_expired_before_its_packet(void **state)
{
	(void)state;
	struct sc_conn tw;
	struct hs_table *old = sc_table(64, true, T0);
	struct hs_restore_pool pool;
	struct fill_ctx fc = { &pool, old, T0 + 50000, 5000 / HS_TABLE_TICK_MS };
	struct worker w;
	struct hs_track_result res;

	sc_conn_init(&tw, HS_FAMILY_IPV4, 0x10, 40000, SERVER_HOST, 80);
	sc_open(old, &tw, T0);
	sc_close(old, &tw, T0);
	assert_true(hs_restore_pool_init(&pool, 4, pool_key, 1000, 1000 + MAX_AGE_MS));
	hs_table_foreach(old, fill_one, &fc);
	worker_init(&w, 0, &pool, 1000);
	/* A new connection on the same ports. */
	tw.isn[HS_CLIENT] += 100000;
	tw.next[HS_CLIENT] = tw.isn[HS_CLIENT];
	sc_syn(w.table, &tw, 11000);
	struct hs_restore_pool_stats st;
	hs_restore_pool_stats(&pool, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.claimed, 0);
	assert_int_equal(hs_table_stats(w.table)->flows_removed[HS_REMOVE_EXPIRED], 1);
	const struct hs_flow *f = sc_conn_lookup(w.table, &tw);
	assert_non_null(f);
	assert_int_equal(f->state[HS_CLIENT], HS_TCP_SYN_SENT);
	assert_int_equal(hs_table_stats(w.table)->flows_created, 1);
	(void)res;
	hs_table_destroy(w.table);
	hs_restore_pool_free(&pool);
	sc_table_free(old);
}

/* At max_age the main thread forgets what no packet claimed; later misses find nothing. */
static void test_forgotten_at_max_age(void **state)
{
	(void)state;
	struct sc_conn c[3];
	struct hs_table *old = saved_table(c);
	struct hs_restore_pool pool;
	struct worker w;
	struct hs_track_result res;

	fill_pool(&pool, old, T0 + 10000, 1000, 1000);
	worker_init(&w, 0, &pool, 1000);
	sc_send(w.table, &c[0], HS_CLIENT, HS_TCP_ACK, 10, 2000, &res);
	assert_int_equal(hs_restore_pool_expire(&pool, 1000 + MAX_AGE_MS - 1), 0);
	assert_int_equal(atomic_load(&pool.waiting), 2);
	assert_int_equal(hs_restore_pool_expire(&pool, 1000 + MAX_AGE_MS), 2);
	assert_int_equal(hs_restore_pool_expire(&pool, 2000 + MAX_AGE_MS), 0);
	struct hs_restore_pool_stats st;
	hs_restore_pool_stats(&pool, &st);
	assert_int_equal(st.forgotten, 2);
	assert_int_equal(st.waiting, 0);
	/* The half-closed connection's next packet is picked up as a new flow. */
	sc_send(w.table, &c[2], HS_SERVER, HS_TCP_ACK, 10, 1000 + MAX_AGE_MS + 10, &res);
	assert_int_equal(hs_table_stats(w.table)->flows_created, 1);
	assert_true(sc_conn_lookup(w.table, &c[2])->flags & HS_FLOW_PICKED_UP);
	hs_table_destroy(w.table);
	hs_restore_pool_free(&pool);
	sc_table_free(old);
}

/* A tuple is held once; a full pool refuses. */
static void test_duplicate_and_full(void **state)
{
	(void)state;
	struct sc_conn c[3];
	struct hs_table *old = saved_table(c);
	struct hs_restore_pool pool;
	struct hs_flow_ages ages = { 10, 5, 5 };

	assert_true(hs_restore_pool_init(&pool, 2, pool_key, 0, MAX_AGE_MS));
	assert_true(hs_restore_pool_add(&pool, sc_conn_lookup(old, &c[0]), &ages));
	assert_false(hs_restore_pool_add(&pool, sc_conn_lookup(old, &c[0]), &ages));
	assert_true(hs_restore_pool_add(&pool, sc_conn_lookup(old, &c[1]), &ages));
	assert_false(hs_restore_pool_add(&pool, sc_conn_lookup(old, &c[2]), &ages));
	assert_int_equal(atomic_load(&pool.waiting), 2);
	hs_restore_pool_free(&pool);
	sc_table_free(old);
}

/* A snapshot taken while flows wait writes them as the section of no queue, their ages moved on. */
struct sink {
	uint8_t *data;
	size_t len, cap;
};

static bool sink_emit(void *ctx, const void *bytes, size_t len)
{
	struct sink *s = ctx;

	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->data = realloc(s->data, s->cap);
		if (!s->data)
			return false;
	}
	memcpy(s->data + s->len, bytes, len);
	s->len += len;
	return true;
}

static void write_pooled(void *ctx, const struct hs_flow *image, const struct hs_flow_ages *ages)
{
	hs_snap_write_flow_aged(ctx, image, ages);
}

struct read_ctx {
	unsigned flows;
	uint32_t step;
	uint32_t min_age;
};

static void read_section(void *ctx, const struct hs_snap_section *s)
{
	((struct read_ctx *)ctx)->step = s->id_step;
}

static void read_flow(void *ctx, const struct hs_snap_section *s, const struct hs_flow *image,
		      const struct hs_flow_ages *ages)
{
	struct read_ctx *c = ctx;
	(void)s;
	(void)image;
	c->flows++;
	if (ages->age_ticks < c->min_age)
		c->min_age = ages->age_ticks;
}

static void test_waiting_flows_saved(void **state)
{
	(void)state;
	struct sc_conn c[3];
	struct hs_table *old = saved_table(c);
	struct hs_restore_pool pool;
	struct hs_snap_writer w;
	struct sink s = { 0 };
	struct hs_snap_header h = { .saved_wall_ms = 1, .sections = 1 };
	struct hs_snap_section sec = { .queue = UINT16_MAX, .id_step = 0 };
	struct read_ctx rc = { .step = 99, .min_age = UINT32_MAX };
	const struct hs_snap_visitor v = { read_section, read_flow, NULL };
	struct hs_snap_totals totals;
	char why[256];

	/* Saved with ages of at least 10 s, loaded at 1000, saved again 60 s later. */
	fill_pool(&pool, old, T0 + 10000, 0, 1000);
	assert_true(hs_snap_writer_init(&w, sink_emit, &s));
	hs_snap_write_header(&w, &h);
	hs_snap_write_section(&w, &sec);
	for (uint32_t cursor = 0; hs_restore_pool_walk(&pool, &cursor, 2, 61000, write_pooled, &w);)
		;
	assert_true(hs_snap_writer_finish(&w));
	hs_snap_writer_free(&w);
	assert_int_equal(hs_snap_read(s.data, s.len, &h, &totals, &v, &rc, why, sizeof(why)), 0);
	assert_int_equal(rc.flows, 3);
	assert_int_equal(rc.step, 0);
	assert_true(rc.min_age >= (10000 + 60000) / HS_TABLE_TICK_MS);
	free(s.data);
	hs_restore_pool_free(&pool);
	sc_table_free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_claimed_by_first_packet, sc_teardown),
		cmocka_unit_test_teardown(test_only_misses_ask, sc_teardown),
		cmocka_unit_test_teardown(test_expired_before_its_packet, sc_teardown),
		cmocka_unit_test_teardown(test_forgotten_at_max_age, sc_teardown),
		cmocka_unit_test_teardown(test_duplicate_and_full, sc_teardown),
		cmocka_unit_test_teardown(test_waiting_flows_saved, sc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
