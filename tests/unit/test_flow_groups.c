/*
 * test_flow_groups: unit tests of the pure code behind top, list --sort and
 * summary (core/flow_groups.c, flow_rank.c, flow_tally.c): each key groups
 * the flows the test made, counts their ends' states, ranks groups and
 * flows as a plain sort of everything would, keeps its promise never to
 * allocate after a reservation, and leaves out the flows a key does not
 * apply to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hs_flow_groups.h"
#include "hs_flow_rank.h"
#include "hs_flow_tally.h"

static const uint8_t key[16] = { 9, 8, 7 };

/* A hand-made flow: client 10.0.c.c:cport -> server 10.1.s.s:sport, in the given states. */
static struct hs_flow flow(uint32_t c, uint16_t cport, uint32_t s, uint16_t sport, int cs, int ss, unsigned local)
{
	struct hs_flow_v6 f6;
	struct hs_flow_key k;

	memset(&f6, 0, sizeof(f6));
	memset(&k, 0, sizeof(k));
	k.addr[0].bytes[0] = 10;
	k.addr[0].bytes[2] = (uint8_t)(c >> 8);
	k.addr[0].bytes[3] = (uint8_t)c;
	k.addr[1].bytes[0] = 10;
	k.addr[1].bytes[1] = 1;
	k.addr[1].bytes[2] = (uint8_t)(s >> 8);
	k.addr[1].bytes[3] = (uint8_t)s;
	k.port[0] = cport;
	k.port[1] = sport;
	/* IPv4: the record holds the addresses, and is all a caller gets back. */
	hs_flow_key_set(&f6, &k, HS_FAMILY_IPV4);
	struct hs_flow f = f6.flow;
	f.flags = HS_FLOW_IN_USE | HS_FLOW_CLIENT_IS_0 | HS_FLOW_ESTABLISHED;
	f.state[HS_CLIENT] = (uint8_t)cs;
	f.state[HS_SERVER] = (uint8_t)ss;
	if (local & HS_SIDE_BIT(HS_CLIENT))
		f.bytes_hi_marks[HS_CLIENT] |= HS_LOCAL;
	if (local & HS_SIDE_BIT(HS_SERVER))
		f.bytes_hi_marks[HS_SERVER] |= HS_LOCAL;
	return f;
}

static void test_keys(void **state)
{
	struct hs_flow_groups g;
	struct hs_flow flows[] = {
		flow(1, 40000, 1, 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, 0),
		flow(2, 40001, 1, 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, 0),
		flow(2, 40002, 1, 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, 0),
		flow(3, 40003, 2, 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, HS_SIDE_BIT(HS_CLIENT)),
		flow(3, 40004, 2, 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, HS_SIDE_BIT(HS_CLIENT)),
		flow(4, 40005, 3, 22, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, HS_SIDE_BIT(HS_SERVER)),
		flow(5, 40006, 5, 22, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, HS_SIDES_ALL),
	};
	static const struct {
		enum hs_group_by by;
		size_t groups;
		uint64_t first_flows;
		uint64_t skipped;
	} cases[] = {
		{ HS_GROUP_DST, 4, 3, 0 },      /* 10.1.0.1: three flows */
		{ HS_GROUP_SERVER, 5, 2, 0 },   /* 10.1.0.1:80 and 10.1.0.2:80: two each */
		{ HS_GROUP_SRC, 5, 2, 0 },
		{ HS_GROUP_CLIENT, 5, 2, 0 },
		{ HS_GROUP_DPORT, 3, 4, 0 },    /* port 80: four flows */
		{ HS_GROUP_REMOTE, 2, 2, 4 },   /* one local end only: flows 3, 4, 5 */
		{ HS_GROUP_LOCAL, 2, 2, 4 },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		hs_flow_groups_init(&g, cases[c].by, key);
		for (size_t i = 0; i < sizeof(flows) / sizeof(flows[0]); i++)
			assert_true(hs_flow_groups_add(&g, &flows[i]));
		hs_flow_groups_rank(&g, 0);
		assert_int_equal(g.count, cases[c].groups);
		assert_int_equal(g.items[0].flows, cases[c].first_flows);
		assert_int_equal(g.skipped, cases[c].skipped);
		uint64_t total = 0;
		for (size_t i = 0; i < g.count; i++) {
			total += g.items[i].flows;
			if (i)
				assert_true(g.items[i].flows <= g.items[i - 1].flows);
		}
		assert_int_equal(total + g.skipped, sizeof(flows) / sizeof(flows[0]));
		hs_flow_groups_free(&g);
	}
	/* By remote: the host's end is counted as end 0 whichever side it is. */
	hs_flow_groups_init(&g, HS_GROUP_REMOTE, key);
	hs_flow_groups_add(&g, &flows[3]);
	hs_flow_groups_add(&g, &flows[4]);
	hs_flow_groups_add(&g, &flows[5]);
	hs_flow_groups_rank(&g, 0);
	assert_int_equal(g.items[0].flows, 2);          /* 10.1.0.2, the peer of the host's two connections */
	assert_int_equal(g.items[0].key.addr.bytes[3], 2);
	assert_int_equal(g.items[0].states[0][HS_TCP_CLOSE_WAIT], 1);
	assert_int_equal(g.items[0].states[1][HS_TCP_FIN_WAIT_2], 1);
	assert_int_equal(g.items[1].states[0][HS_TCP_ESTABLISHED], 1);  /* the host serving ssh to 10.0.0.4 */
	assert_int_equal(g.items[1].key.addr.bytes[3], 4);
	assert_string_equal(hs_group_side_name(HS_GROUP_REMOTE, 0), "local");
	assert_string_equal(hs_group_side_name(HS_GROUP_DST, 1), "server");
	hs_flow_groups_free(&g);
	/* By local: a service is an address and a port, a connection the host makes an address. */
	hs_flow_groups_init(&g, HS_GROUP_LOCAL, key);
	hs_flow_groups_add(&g, &flows[3]);
	hs_flow_groups_add(&g, &flows[5]);
	hs_flow_groups_rank(&g, 0);
	assert_int_equal(g.count, 2);
	assert_true(g.items[0].key.has_port != g.items[1].key.has_port);
	hs_flow_groups_free(&g);
}

/* Many groups: growing, a reservation that holds, ranking and the limit. */
static void test_many_groups(void **state)
{
	struct hs_flow_groups g;
	enum { N = 20000 };

	(void)state;
	hs_flow_groups_init(&g, HS_GROUP_SRC, key);
	for (uint32_t i = 0; i < N; i++) {
		struct hs_flow f = flow(i, 1000, 1, 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, 0);
		for (uint32_t k = 0; k <= i % 3; k++)
			assert_true(hs_flow_groups_add(&g, &f));
	}
	assert_int_equal(g.count, N);
	assert_true(hs_flow_groups_reserve(&g, 5000));
	size_t capacity = g.capacity;
	struct hs_flow_group *items = g.items;
	for (uint32_t i = N; i < N + 5000; i++) {
		struct hs_flow f = flow(i, 1000, 1, 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, 0);
		assert_true(hs_flow_groups_add(&g, &f));
	}
	assert_true(g.items == items && g.capacity == capacity);   /* nothing moved after the reservation */
	hs_flow_groups_rank(&g, 10);
	assert_int_equal(g.count, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(g.items[i].flows, 3);
		if (i)      /* ties in the key's order */
			assert_true(memcmp(&g.items[i - 1].key.addr, &g.items[i].key.addr, sizeof(struct hs_addr)) < 0);
	}
	assert_false(g.out_of_memory);
	hs_flow_groups_free(&g);
}

static struct hs_flow_view view(uint32_t id, uint64_t idle, uint64_t age, uint32_t packets)
{
	struct hs_flow_view v;

	memset(&v, 0, sizeof(v));
	v.flow.id = id;
	v.idle_ms = idle;
	v.age_ms = age;
	v.flow.packets[HS_CLIENT] = packets;
	v.flow.bytes_lo[HS_CLIENT] = packets * 100u;
	return v;
}

/* The heap with a limit keeps exactly what a full sort would put first, in that order. */
static void test_rank(void **state)
{
	enum { N = 5000 };
	static struct hs_flow_view all[N];

	(void)state;
	srand(42);
	for (uint32_t i = 0; i < N; i++)
		all[i] = view(i + 1, (uint64_t)(rand() % 1000), (uint64_t)(rand() % 100), (uint32_t)(rand() % 50));
	for (int by = HS_SORT_IDLE; by < HS_SORT_COUNT; by++) {
		struct hs_flow_rank full, top;
		hs_flow_rank_init(&full, (enum hs_flow_sort)by, 0);
		hs_flow_rank_init(&top, (enum hs_flow_sort)by, 25);
		assert_true(hs_flow_rank_reserve(&full, N));
		for (uint32_t i = 0; i < N; i++) {
			assert_true(hs_flow_rank_add(&full, &all[i]));
			assert_true(hs_flow_rank_add(&top, &all[i]));
		}
		hs_flow_rank_finish(&full);
		hs_flow_rank_finish(&top);
		assert_int_equal(full.count, N);
		assert_int_equal(top.count, 25);
		assert_true(top.capacity <= 25);
		for (size_t i = 0; i < 25; i++)
			assert_int_equal(top.items[i].flow.id, full.items[i].flow.id);
		for (size_t i = 1; i < N; i++) {
			const struct hs_flow_view *a = &full.items[i - 1], *b = &full.items[i];
			uint64_t ma = by == HS_SORT_IDLE ? a->idle_ms : by == HS_SORT_AGE ? a->age_ms : a->flow.packets[0];
			uint64_t mb = by == HS_SORT_IDLE ? b->idle_ms : by == HS_SORT_AGE ? b->age_ms : b->flow.packets[0];
			assert_true(ma > mb || (ma == mb && a->flow.id < b->flow.id));
		}
		assert_int_equal(hs_flow_sort_parse(hs_flow_sort_name((enum hs_flow_sort)by)), by);
		hs_flow_rank_free(&full);
		hs_flow_rank_free(&top);
	}
}

static void test_tally(void **state)
{
	struct hs_flow_tally t;
	struct hs_flow f[] = {
		flow(1, 1, 1, 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, 0),
		flow(2, 1, 1, 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, HS_SIDE_BIT(HS_CLIENT)),
		flow(3, 1, 1, 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, HS_SIDES_ALL),
		flow(4, 1, 1, 80, HS_TCP_SYN_SENT, HS_TCP_LISTEN, 0),
	};
	char json[HS_FLOW_TALLY_JSON_MAX];

	(void)state;
	f[3].flags &= (uint8_t)~HS_FLOW_ESTABLISHED;
	hs_flow_set_family(&f[3], HS_FAMILY_IPV6);   /* the tally reads the family only, not addresses */
	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < 4; i++)
		hs_flow_tally_add(&t, &f[i]);
	assert_int_equal(t.flows, 4);
	assert_int_equal(t.half_open, 1);
	assert_int_equal(t.ipv6, 1);
	assert_int_equal(t.client[HS_TCP_FIN_WAIT_2], 1);
	assert_int_equal(t.server[HS_TCP_CLOSE_WAIT], 1);
	assert_int_equal(t.local_flows, 2);
	assert_int_equal(t.local[HS_TCP_CLOSE_WAIT], 1);
	assert_int_equal(t.local[HS_TCP_ESTABLISHED], 2);       /* both ends of the loopback connection */
	assert_int_equal(t.remote[HS_TCP_FIN_WAIT_2], 1);
	assert_int_equal(t.remote[HS_TCP_ESTABLISHED], 0);      /* it has no remote end */
	size_t n = hs_flow_tally_json(json, sizeof(json), &t);
	assert_true(n > 0 && json[0] == '{' && json[n - 1] == '}');
	assert_non_null(strstr(json, "\"local\":{\"CLOSED\":0,\"LISTEN\":0,\"SYN_SENT\":0,\"SYN_RCVD\":0,\"ESTABLISHED\":2,"));
	assert_int_equal(hs_flow_tally_json(json, 100, &t), 0);  /* too small: nothing, not half */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_many_groups),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_tally),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
