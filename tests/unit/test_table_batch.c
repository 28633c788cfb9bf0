/*
 * Unit test of the table's batch path (hs_table_track_batch): it works
 * ahead on the packets of a burst (hashes, index line and record
 * prefetches, the record whose tag matched) while earlier packets of the
 * same burst create, restart, evict and remove flows under it.  Whatever
 * it learned ahead must only ever be a hint: a table fed bursts must end
 * up exactly like a table fed the same packets one at a time, result by
 * result.
 *
 * Many connections share a small table (7 index lines of about 9 flows
 * each, constant eviction, records reused within a burst, flows deleted
 * between packets as a policy would), IPv4 and IPv6 mixed, with SYNs,
 * data, FINs, RSTs and out-of-window packets, in bursts of 1 to 150
 * packets (the batch path works in slices of 64).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_table.h"
#include "scenario.h"

#define CONNS 80
#define TABLE_FLOWS 64
#define ROUNDS 4000
#define BURST_MAX 150

/* A result as it can be compared after the burst: the flow by id, not by pointer. */
struct seen {
	uint32_t flow_id;           /* 0: no flow */
	enum hs_side sender;
	uint8_t old_state[2], new_state[2];
	uint8_t events;
	enum hs_invalid_reason invalid;
	enum hs_verdict_hint hint;
};

static void keep(struct seen *out, const struct hs_track_result *r)
{
	memset(out, 0, sizeof(*out));
	out->flow_id = r->flow ? r->flow->id : 0;
	out->sender = r->sender;
	memcpy(out->old_state, r->old_state, sizeof(out->old_state));
	memcpy(out->new_state, r->new_state, sizeof(out->new_state));
	out->events = r->events;
	out->invalid = r->invalid;
	out->hint = r->hint;
}

/*
 * What the daemon does with a result, in miniature: a policy may delete the
 * flow before the next packet is tracked (here, every flow whose id is a
 * multiple of 5, when it sends), which leaves a record free that a packet
 * further on in the burst may have found ahead.
 */
static void act_on(struct hs_table *t, const struct hs_track_result *res)
{
	if (res->flow && res->flow->id % 5 == 0)
		hs_table_delete(t, res->flow);
}

struct batch_ctx {
	struct hs_table *table;
	struct seen *seen;
};

/* The batch path's callback: results are only good until the next packet, so they are kept at once. */
static void keep_batch(void *ctx, size_t index, struct hs_track_result *res)
{
	struct batch_ctx *b = ctx;

	keep(&b->seen[index], res);
	act_on(b->table, res);
}

/* The next packet of a random connection, chosen to exercise every way a burst can change the table. */
static void next_packet(struct sc_conn *conns, uint32_t *rng, struct hs_packet *pkt)
{
	static const uint8_t kinds[] = {
		HS_TCP_SYN, HS_TCP_SYN | HS_TCP_ACK, HS_TCP_ACK, HS_TCP_ACK | HS_TCP_PSH,
		HS_TCP_ACK | HS_TCP_PSH, HS_TCP_FIN | HS_TCP_ACK, HS_TCP_RST, HS_TCP_ACK,
	};
	uint32_t r = *rng = *rng * 1103515245u + 12345u;
	struct sc_conn *c = &conns[(r >> 8) % CONNS];
	uint8_t flags = kinds[(r >> 20) % SC_ARRAY_SIZE(kinds)];
	enum hs_side from = (flags == HS_TCP_SYN) ? HS_CLIENT
			    : (flags == (HS_TCP_SYN | HS_TCP_ACK)) ? HS_SERVER : (enum hs_side)((r >> 24) & 1);
	uint32_t len = (flags & HS_TCP_PSH) ? 100 : 0;

	sc_conn_packet(c, from, flags, len, pkt);
	if ((r >> 27) == 0)
		pkt->seq += 0x40000000u;    /* now and then far out of window */
	/* Both tables see the same packets, so the sequence space only has to move on plausibly. */
	c->next[from] += len + ((flags & (HS_TCP_SYN | HS_TCP_FIN)) ? 1 : 0);
}

static bool collect(void *ctx, const struct hs_flow *flow)
{
	uint64_t *sum = ctx;

	sum[0]++;
	sum[1] += flow->id * 31u + flow->state[HS_CLIENT] * 7u + flow->state[HS_SERVER];
	sum[2] += flow->packets[HS_CLIENT] + 3u * flow->packets[HS_SERVER] + flow->last_seen;
	return true;
}

static void test_batch_equals_one_at_a_time(void **state)
{
	(void)state;
	struct hs_table *batch = sc_table(TABLE_FLOWS, true, 1000);
	struct hs_table *single = sc_table(TABLE_FLOWS, true, 1000);
	struct sc_conn *conns = sc_alloc(sizeof(*conns) * CONNS);
	static struct hs_packet pkts[BURST_MAX];
	static const struct hs_packet *ptrs[BURST_MAX];
	static struct hs_track_result res[BURST_MAX];
	static struct seen seen_batch[BURST_MAX], seen_single[BURST_MAX];
	uint32_t rng = 20261205u;
	uint64_t now = 1000, packets_on_a_flow = 0;

	for (uint32_t i = 0; i < CONNS; i++)
		sc_conn_init(&conns[i], i % 3 ? HS_FAMILY_IPV4 : HS_FAMILY_IPV6, 1 + i % 17, (uint16_t)(40000 + i),
			     500 + i % 5, 80);
	for (size_t i = 0; i < BURST_MAX; i++)
		ptrs[i] = &pkts[i];
	for (int round = 0; round < ROUNDS; round++) {
		size_t n = 1 + (size_t)(round * 7919u) % BURST_MAX;

		for (size_t i = 0; i < n; i++)
			next_packet(conns, &rng, &pkts[i]);
		now += 1 + round % 3;
		struct batch_ctx ctx = { batch, seen_batch };
		hs_table_track_batch(batch, ptrs, n, now, res, keep_batch, &ctx);
		for (size_t i = 0; i < n; i++) {
			struct hs_track_result one;

			hs_table_track(single, &pkts[i], now, &one);
			keep(&seen_single[i], &one);
			act_on(single, &one);
			packets_on_a_flow += one.flow != NULL;
		}
		for (size_t i = 0; i < n; i++) {
			if (memcmp(&seen_batch[i], &seen_single[i], sizeof(struct seen)) != 0)
				fail_msg("round %d packet %zu of %zu: batch flow %u %d/%d, one at a time flow %u %d/%d",
					 round, i, n, seen_batch[i].flow_id, seen_batch[i].new_state[0],
					 seen_batch[i].new_state[1], seen_single[i].flow_id,
					 seen_single[i].new_state[0], seen_single[i].new_state[1]);
		}
	}
	assert_memory_equal(hs_table_stats(batch), hs_table_stats(single), sizeof(struct hs_table_stats));
	uint64_t sum_batch[3] = { 0 }, sum_single[3] = { 0 };
	hs_table_foreach(batch, collect, sum_batch);
	hs_table_foreach(single, collect, sum_single);
	assert_memory_equal(sum_batch, sum_single, sizeof(sum_batch));
	/* The traffic did what it is for: a full table, evictions, restarts and most packets on a flow. */
	const struct hs_table_stats *st = hs_table_stats(single);
	assert_int_equal(st->live, TABLE_FLOWS);
	assert_true(st->evicted_half_open + st->evicted_established > 5000);
	assert_true(st->restarts > 100);
	assert_true(st->flows_removed[HS_REMOVE_DELETED] > 1000);
	assert_true(packets_on_a_flow > ROUNDS * 15);
	sc_free(conns);
	sc_table_free(batch);
	sc_table_free(single);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_batch_equals_one_at_a_time, sc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
