/*
 * Unit test of the flow table's defence against hash flooding: an attacker
 * who guesses a SipHash key K can pick 4-tuples that all land in one line
 * of the index of a table keyed with K, but the daemon keys its table with
 * a fresh random key (getrandom) per start, so the same tuples spread
 * normally there.
 *
 * The test brute-forces COLLIDERS IPv4 flows (client port and address
 * varied) whose hash under a fixed key K names one home line of the index
 * of a table of MAX_FLOWS, tracks them (client SYNs through hs_table_track)
 * in a table keyed with K and in one keyed with a random key, checks that
 * both tables hold and find every one of them, then asks each table for
 * the shape of its own index (hs_table_index_shape): under K the flows
 * fill line after line from their home and a lookup walks all of them;
 * under the random key no line overflows, so every lookup reads one line.
 * The attacker's model of the hash (bucket_of below) only picks the tuples;
 * every assertion about spread is on the real table, so a table that
 * ignored its configured key (hashing with a fixed one, say) fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_siphash.h"
#include "hs_table.h"
#include "hs_tcp_state.h"
#include "scenario.h"

#define MAX_FLOWS 1024u
#define COLLIDERS 200u          /* in some 100 lines of 15 slots: a fair hash gives 2 a line, a line overflows at 16 */
#define T_NOW 5000u
#define SERVER_HOST 2u
#define SERVER_PORT 443

static struct hs_table *keyed_table(const uint8_t key16[16])
{
	struct hs_table_config cfg;

	sc_config(&cfg, MAX_FLOWS, false);
	memcpy(cfg.hash_key, key16, 16);
	struct hs_table *t = hs_table_create(&cfg, T_NOW);
	assert_non_null(t);
	return t;
}

/* The lines of a table's index, as the table reports them. */
static uint32_t index_lines(void)
{
	static const uint8_t any[16];
	struct hs_table *t = keyed_table(any);
	struct hs_index_shape shape;

	hs_table_index_shape(t, &shape);
	hs_table_destroy(t);
	return shape.lines;
}

/* The home line of a flow key, computed as hs_index_place_of() does. */
static uint32_t home_of(const uint8_t key16[16], const struct hs_flow_key *key, uint8_t family, uint32_t lines)
{
	uint8_t buf[SC_KEY_BYTES_MAX];
	size_t n = sc_key_bytes(key, family, buf);

	return (uint32_t)(((uint64_t)(uint32_t)hs_siphash(key16, buf, n) * lines) >> 32);
}

/* Candidate i: client 10.0.(1 + i / 50000).x, port 1024 + i % 50000, to server 10.0.0.2:443. */
static void candidate(uint32_t i, struct sc_conn *c)
{
	sc_conn_init(c, HS_FAMILY_IPV4, 0x100 + i / 50000u, (uint16_t)(1024u + i % 50000u), SERVER_HOST,
		     SERVER_PORT);
}

/*
 * Tracks every connection's SYN in t, checks that each is found again, and
 * returns the shape of the table's own index.
 */
static struct hs_index_shape track_all(struct hs_table *t, struct sc_conn *conns, size_t n)
{
	struct hs_index_shape shape;

	for (size_t i = 0; i < n; i++) {
		struct hs_flow *f = sc_syn(t, &conns[i], T_NOW + 10);

		assert_non_null(f);
	}
	assert_int_equal(hs_table_stats(t)->live, n);
	assert_int_equal(hs_table_stats(t)->flows_created, n);
	assert_int_equal(hs_table_stats(t)->evicted_half_open + hs_table_stats(t)->evicted_established, 0);
	for (size_t i = 0; i < n; i++) {
		struct hs_flow *f = sc_conn_lookup(t, &conns[i]);

		assert_non_null(f);
		assert_int_equal(hs_flow_port(f, HS_CLIENT), conns[i].port[HS_CLIENT]);
		assert_int_equal(f->state[HS_CLIENT], HS_TCP_SYN_SENT);
	}
	hs_table_index_shape(t, &shape);
	return shape;
}

/* Brute force: COLLIDERS tuples whose home line under `guess` is the first one's; returns the tries. */
static uint32_t find_colliders(const uint8_t guess[16], struct sc_conn *conns, uint32_t lines)
{
	size_t found = 0;
	uint32_t target = 0, tries = 0;

	for (uint32_t i = 0; found < COLLIDERS && i < 50u * 1000u * 1000u; i++) {
		struct sc_conn c;
		struct hs_flow_key k;

		candidate(i, &c);
		sc_conn_key(&c, &k);
		uint32_t home = home_of(guess, &k, HS_FAMILY_IPV4, lines);
		tries++;
		if (found == 0)
			target = home;
		if (home == target)
			conns[found++] = c;
	}
	assert_int_equal(found, COLLIDERS);
	return tries;
}

static void test_colliding_keys_spread_under_random_key(void **state)
{
	(void)state;
	uint8_t guess[16], random_key[16];
	uint32_t lines = index_lines();

	for (int i = 0; i < 16; i++)
		guess[i] = (uint8_t)(0xa5 ^ (i * 29));
	assert_int_equal(getrandom(random_key, sizeof(random_key), 0), (ssize_t)sizeof(random_key));
	if (memcmp(random_key, guess, 16) == 0)
		random_key[0] ^= 1;

	struct sc_conn *conns = sc_alloc(COLLIDERS * sizeof(*conns));
	assert_non_null(conns);
	uint32_t tries = find_colliders(guess, conns, lines);
	print_message("  %u tuples with one home line of %u found in %u tries\n", COLLIDERS, lines, tries);

	/* The attacker's guess was right: the flows fill line after line, and the unluckiest lookup walks them all. */
	uint32_t filled = (COLLIDERS + HS_INDEX_SLOTS - 1) / HS_INDEX_SLOTS;
	struct hs_table *tk = keyed_table(guess);
	struct hs_index_shape hit = track_all(tk, conns, COLLIDERS);
	assert_int_equal(hit.lines, lines);
	assert_int_equal(hit.used, filled);
	assert_int_equal(hit.longest_walk, filled);
	hs_table_destroy(tk);

	/* The daemon's way: a random key per start.  Normal spread, and every lookup reads one line. */
	struct hs_table *tr = keyed_table(random_key);
	struct hs_index_shape spread = track_all(tr, conns, COLLIDERS);
	print_message("  random key: %u flows in %u of %u lines, longest walk %u (guessed key: %u lines, walk %u)\n",
		      COLLIDERS, spread.used, spread.lines, spread.longest_walk, hit.used, hit.longest_walk);
	assert_int_equal(spread.longest_walk, 1);
	/* 200 balls in 101 bins occupy about 87 bins on average; far fewer means clustering. */
	assert_true(spread.used >= 75);
	hs_table_destroy(tr);

	sc_free(conns);
}

/*
 * The same under many random keys, so that a lucky draw cannot hide a
 * weak spread: over 50 keys no line ever overflows.
 */
static void test_many_random_keys(void **state)
{
	(void)state;
	uint8_t guess[16];

	for (int i = 0; i < 16; i++)
		guess[i] = (uint8_t)(0x3c + i * 7);
	struct sc_conn *conns = sc_alloc(COLLIDERS * sizeof(*conns));
	assert_non_null(conns);
	find_colliders(guess, conns, index_lines());
	uint32_t worst = 0;
	for (int round = 0; round < 50; round++) {
		uint8_t key[16];

		assert_int_equal(getrandom(key, sizeof(key), 0), (ssize_t)sizeof(key));
		struct hs_table *t = keyed_table(key);
		struct hs_index_shape shape = track_all(t, conns, COLLIDERS);
		hs_table_destroy(t);
		if (shape.longest_walk > worst)
			worst = shape.longest_walk;
	}
	print_message("  50 tables with random keys: longest walk over all of them %u line(s)\n", worst);
	assert_int_equal(worst, 1);
	sc_free(conns);
}

/*
 * One packet from each connection's `from` side through the batch path
 * (hs_table_track_batch, bursts of up to 32), every result valid and in
 * the states wanted.
 */
static void batch_step(struct hs_table *t, struct sc_conn *conns, enum hs_side from, uint8_t flags,
		       enum hs_tcp_state client, enum hs_tcp_state server)
{
	static struct hs_packet pkts[COLLIDERS];
	static struct hs_track_result res[COLLIDERS];
	const struct hs_packet *ptrs[COLLIDERS];

	for (size_t i = 0; i < COLLIDERS; i++) {
		sc_conn_packet(&conns[i], from, flags, 0, &pkts[i]);
		ptrs[i] = &pkts[i];
	}
	hs_table_track_batch(t, ptrs, COLLIDERS, T_NOW + 20, res, NULL, NULL);
	for (size_t i = 0; i < COLLIDERS; i++) {
		assert_int_equal(res[i].invalid, HS_INVALID_NONE);
		assert_int_equal(res[i].new_state[HS_CLIENT], client);
		assert_int_equal(res[i].new_state[HS_SERVER], server);
		if (flags & HS_TCP_SYN)
			conns[i].next[from]++;
	}
}

/*
 * The guessed key's flows through the batch path: it reads a packet's home
 * line ahead and prefetches what it names, but the flows lie up to 14
 * lines from home, so most are found by the walk when tracked.  Each must
 * be found, never created twice, through the whole handshake.
 */
static void test_colliding_keys_through_batch(void **state)
{
	(void)state;
	uint8_t guess[16];

	for (int i = 0; i < 16; i++)
		guess[i] = (uint8_t)(0x5a ^ (i * 31));
	struct sc_conn *conns = sc_alloc(COLLIDERS * sizeof(*conns));
	assert_non_null(conns);
	find_colliders(guess, conns, index_lines());
	struct hs_table *t = keyed_table(guess);

	batch_step(t, conns, HS_CLIENT, HS_TCP_SYN, HS_TCP_SYN_SENT, HS_TCP_LISTEN);
	batch_step(t, conns, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
	batch_step(t, conns, HS_CLIENT, HS_TCP_ACK, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	batch_step(t, conns, HS_SERVER, HS_TCP_ACK, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_stats(t)->live, COLLIDERS);
	assert_int_equal(hs_table_stats(t)->flows_created, COLLIDERS);
	struct hs_index_shape shape;
	hs_table_index_shape(t, &shape);
	assert_int_equal(shape.longest_walk, (COLLIDERS + HS_INDEX_SLOTS - 1) / HS_INDEX_SLOTS);
	hs_table_destroy(t);
	sc_free(conns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_colliding_keys_spread_under_random_key, sc_teardown),
		cmocka_unit_test_teardown(test_many_random_keys, sc_teardown),
		cmocka_unit_test_teardown(test_colliding_keys_through_batch, sc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
