/*
 * Unit tests of the flow table (daemon/core/table.c): creation limits, lookup
 * from both directions, find by id, delete, foreach, counting with filters,
 * statistics, ages, the max_flows bound and eviction order (expired first,
 * then half-open, then the flow closest to expiry), expiry of every state
 * exactly at its timeout (100 ms wheel), timer refresh by packets and by
 * state changes, the removal hook, and hashing: many keys that differ only
 * in ports or addresses, plus SipHash-1-3's reference values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <inttypes.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_siphash.h"
#include "hs_table.h"
#include "hs_tcp_state.h"
#include "scenario.h"

#define DAY_MS 86400000ull
#define HOUR_MS 3600000ull
#define T_EPOCH 7000u

static const uint32_t default_timeouts[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;

/* ---- removal hook log ---------------------------------------------------- */

#define LOG_MAX 8192

struct hook_log {
	size_t n;
	unsigned by_reason[HS_REMOVE_REASON_COUNT];
	uint32_t id[LOG_MAX];
	uint8_t reason[LOG_MAX];
	uint8_t flags[LOG_MAX];
	uint16_t client_port[LOG_MAX];
};

static void log_hook(void *ctx, const struct hs_flow *flow, enum hs_remove_reason reason)
{
	struct hook_log *log = ctx;

	assert_true(reason < HS_REMOVE_REASON_COUNT);
	assert_true(flow->flags & HS_FLOW_IN_USE);
	log->by_reason[reason]++;
	if (log->n < LOG_MAX) {
		log->id[log->n] = flow->id;
		log->reason[log->n] = (uint8_t)reason;
		log->flags[log->n] = flow->flags;
		log->client_port[log->n] = hs_flow_port(flow, HS_CLIENT);
	}
	log->n++;
}

static struct hook_log *new_log(struct hs_table *t)
{
	struct hook_log *log = sc_alloc(sizeof(*log));

	assert_non_null(log);
	hs_table_set_remove_hook(t, log_hook, log);
	return log;
}

/* ---- creation ------------------------------------------------------------ */

static void test_create_limits(void **state)
{
	(void)state;
	struct hs_table_config cfg;

	sc_config(&cfg, 0, false);
	assert_null(hs_table_create(&cfg, 0));
	sc_config(&cfg, HS_TABLE_MAX_FLOWS + 1, false);
	assert_null(hs_table_create(&cfg, 0));

	sc_config(&cfg, 1, false);
	struct hs_table *t = hs_table_create(&cfg, 0);
	assert_non_null(t);
	assert_int_equal(hs_table_capacity(t), 1);
	sc_table_free(t);

	t = sc_table(1000, false, 0);
	assert_int_equal(hs_table_capacity(t), 1000);
	/* Empty, a table holds its index and no record; each new flow adds one. */
	size_t empty = hs_table_memory(t);
	assert_true(empty >= 1000 * 64 / HS_INDEX_FILL && empty < 1000 * sizeof(struct hs_flow));
	struct sc_conn c4, c6;
	sc_conn_init(&c4, HS_FAMILY_IPV4, 20, 41000, 10, 443);
	sc_conn_init(&c6, HS_FAMILY_IPV6, 20, 41000, 10, 443);
	assert_non_null(sc_syn(t, &c4, 10));
	assert_int_equal(hs_table_memory(t), empty + sizeof(struct hs_flow));
	assert_non_null(sc_syn(t, &c6, 10));
	assert_int_equal(hs_table_memory(t), empty + sizeof(struct hs_flow) + sizeof(struct hs_flow_v6));
	/* The same in parts, as stats and metrics show it. */
	struct hs_table_memory_parts parts;
	hs_table_memory_parts(t, &parts);
	assert_int_equal(parts.records, sizeof(struct hs_flow) + sizeof(struct hs_flow_v6));
	/* The index: 64-byte lines, HS_INDEX_FILL flows a line at a full table, one spare line. */
	assert_int_equal(parts.index % 64, 0);
	assert_true(parts.index >= 1000 * 64 / HS_INDEX_FILL && parts.index <= 1000 * 64 / HS_INDEX_FILL + 2 * 64);
	assert_int_equal(parts.records + parts.index + parts.fixed, hs_table_memory(t));
	hs_table_delete(t, sc_conn_lookup(t, &c4));
	hs_table_delete(t, sc_conn_lookup(t, &c6));
	assert_int_equal(hs_table_stats(t)->live, 0);
	struct hs_flow_match all;
	hs_flow_match_init(&all);
	assert_int_equal(hs_table_count(t, &all), 0);
	sc_table_free(t);
	hs_table_destroy(NULL);
}

/*
 * Memory follows the flows, not max_flows: a table of the largest size
 * (16.7M records of each family, 3.6 GiB of address space) is barely
 * resident until flows use it, and its span (what walkers scan) covers the
 * records ever used: IPv4 records have the even indices.  Measured, not
 * timed: the bounds are generous multiples of what the records need, and
 * far below the gigabytes a table written through would be.
 */
static void test_memory_follows_flows(void **state)
{
	(void)state;
	struct hs_table_config cfg;
	uint64_t before = sc_resident_bytes();

	sc_config(&cfg, HS_TABLE_MAX_FLOWS, false);
	struct hs_table *t = hs_table_create(&cfg, 0);
	assert_non_null(t);
	uint64_t empty = sc_resident_bytes();
	print_message("  table of %u flows: %" PRIu64 " KiB resident when empty\n", HS_TABLE_MAX_FLOWS,
		      (empty - before) / 1024);
	assert_true(empty - before < 16u * 1024 * 1024);
	assert_int_equal(hs_table_span(t), 0);

	struct sc_conn c;
	for (uint32_t i = 0; i < 10000; i++) {
		sc_conn_init(&c, HS_FAMILY_IPV4, 0x100 + i / 50000u, (uint16_t)(1024u + i % 50000u), 2, 80);
		assert_non_null(sc_syn(t, &c, 10));
	}
	uint64_t used = sc_resident_bytes();
	print_message("  after 10000 flows: %" PRIu64 " KiB more\n", (used - empty) / 1024);
	assert_int_equal(hs_table_span(t), 2 * 10000);
	/*
	 * 10000 records are 0.9 MiB, but their index lines are scattered
	 * over the whole 107 MiB index (in huge pages where the kernel gives
	 * them), so the index may become resident: still far below the 2 GiB
	 * of records a table written through at creation holds.
	 */
	assert_true(used - empty < 128u * 1024 * 1024);

	/* A freed record is reused before the span grows. */
	hs_table_delete(t, sc_conn_lookup(t, &c));
	sc_conn_init(&c, HS_FAMILY_IPV4, 0x200, 4000, 2, 80);
	assert_non_null(sc_syn(t, &c, 20));
	assert_int_equal(hs_table_span(t), 2 * 10000);
	/* An IPv6 flow takes the first IPv6 record, index 1: the span stays. */
	sc_conn_init(&c, HS_FAMILY_IPV6, 0x300, 4000, 2, 80);
	assert_non_null(sc_syn(t, &c, 30));
	assert_int_equal(hs_table_flow_index(t, sc_conn_lookup(t, &c)), 1);
	assert_int_equal(hs_table_span(t), 2 * 10000);
	sc_table_free(t);
}

/* ---- lookup, ids, delete ---------------------------------------------------- */

/*
 * The compact record: IPv4 flows hold their addresses in the record, IPv6
 * flows after it, in records of their own; both families share the
 * capacity; a copy of an IPv6 flow keeps its addresses after the record is
 * reused; byte counters run to 46 bits and stay there.
 */
static void test_compact_records(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(4, false, T_EPOCH);
	struct sc_conn a, b, c4[3];
	struct hs_flow_v6 copy;

	sc_conn_init(&a, HS_FAMILY_IPV6, 0x61, 40001, 0x62, 443);
	sc_conn_init(&b, HS_FAMILY_IPV6, 0x71, 40002, 0x72, 443);
	struct hs_flow *fa = sc_open(t, &a, T_EPOCH + 10);
	hs_flow_copy(&copy, fa);
	uint32_t index_a = hs_table_flow_index(t, fa);
	assert_int_equal(index_a % 2, 1);
	hs_table_delete(t, fa);
	struct hs_flow *fb = sc_open(t, &b, T_EPOCH + 20);
	/* b took a's record; the copy still says a. */
	assert_int_equal(hs_table_flow_index(t, fb), index_a);
	struct hs_addr got = hs_flow_addr(&copy.flow, HS_CLIENT);
	assert_memory_equal(&got, &a.addr[HS_CLIENT], sizeof(got));
	got = hs_flow_addr(&copy.flow, HS_SERVER);
	assert_memory_equal(&got, &a.addr[HS_SERVER], sizeof(got));
	got = hs_flow_addr(fb, HS_CLIENT);
	assert_memory_equal(&got, &b.addr[HS_CLIENT], sizeof(got));

	/* Three IPv4 flows fill the table with b: the next flow of either family evicts one. */
	for (int i = 0; i < 3; i++) {
		sc_conn_init(&c4[i], HS_FAMILY_IPV4, 0x81 + (uint32_t)i, 40010, 0x90, 80);
		struct hs_flow *f = sc_open(t, &c4[i], T_EPOCH + 30);
		assert_int_equal(hs_table_flow_index(t, f) % 2, 0);
		got = hs_flow_addr(f, HS_CLIENT);
		assert_memory_equal(&got, &c4[i].addr[HS_CLIENT], sizeof(got));
	}
	assert_int_equal(hs_table_stats(t)->live, 4);
	assert_non_null(sc_syn(t, &a, T_EPOCH + 40));
	assert_int_equal(hs_table_stats(t)->live, 4);
	assert_int_equal(hs_table_stats(t)->flows_removed[HS_REMOVE_EVICTED], 1);
	assert_non_null(sc_conn_lookup(t, &a));

	/* 46-bit byte counts: past 2^32 and up to the most, not beyond. */
	struct hs_flow *f = sc_conn_lookup(t, &a);
	hs_flow_set_bytes(f, HS_SERVER, (UINT64_C(1) << 32) - 10);
	hs_flow_count(f, HS_SERVER, 100);
	assert_true(hs_flow_bytes(f, HS_SERVER) == (UINT64_C(1) << 32) + 90);
	hs_flow_set_bytes(f, HS_SERVER, HS_FLOW_BYTES_MAX - 1);
	hs_flow_count(f, HS_SERVER, 100);
	assert_true(hs_flow_bytes(f, HS_SERVER) == HS_FLOW_BYTES_MAX);
	assert_int_equal(sizeof(struct hs_flow), 92);
	sc_table_free(t);
}

static void test_lookup_both_directions(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(64, false, T_EPOCH);
	struct sc_conn c4, c6, other;

	sc_conn_init(&c4, HS_FAMILY_IPV4, 20, 41000, 10, 443);
	sc_conn_init(&c6, HS_FAMILY_IPV6, 20, 41000, 10, 443);
	struct hs_flow *f4 = sc_open(t, &c4, T_EPOCH + 100);
	struct hs_flow *f6 = sc_open(t, &c6, T_EPOCH + 100);
	assert_ptr_not_equal(f4, f6);
	assert_int_equal(hs_flow_family(f4), HS_FAMILY_IPV4);
	assert_int_equal(hs_flow_family(f6), HS_FAMILY_IPV6);

	/* Keys from either direction's packets find the same flow. */
	for (int from = 0; from < 2; from++) {
		struct hs_packet pkt;
		struct hs_flow_key key;
		bool src_is_0;

		sc_conn_packet(&c4, (enum hs_side)from, HS_TCP_ACK, 0, &pkt);
		memset(&key, 0, sizeof(key));
		hs_flow_key_from_packet(&pkt, &key, &src_is_0);
		assert_ptr_equal(hs_table_lookup(t, &key), f4);
		sc_conn_packet(&c6, (enum hs_side)from, HS_TCP_ACK, 0, &pkt);
		memset(&key, 0, sizeof(key));
		hs_flow_key_from_packet(&pkt, &key, &src_is_0);
		assert_ptr_equal(hs_table_lookup(t, &key), f6);
	}
	struct hs_addr a = hs_flow_addr(f4, HS_CLIENT);
	assert_memory_equal(&a, &c4.addr[HS_CLIENT], sizeof(struct hs_addr));
	a = hs_flow_addr(f4, HS_SERVER);
	assert_memory_equal(&a, &c4.addr[HS_SERVER], sizeof(struct hs_addr));
	/* An IPv6 flow's addresses, kept after its record. */
	a = hs_flow_addr(f6, HS_CLIENT);
	assert_memory_equal(&a, &c6.addr[HS_CLIENT], sizeof(struct hs_addr));
	a = hs_flow_addr(f6, HS_SERVER);
	assert_memory_equal(&a, &c6.addr[HS_SERVER], sizeof(struct hs_addr));
	assert_int_equal(hs_flow_port(f6, HS_CLIENT), 41000);
	assert_int_equal(hs_flow_port(f4, HS_CLIENT), 41000);
	assert_int_equal(hs_flow_port(f4, HS_SERVER), 443);

	/* Unknown keys: another port, another address. */
	sc_conn_init(&other, HS_FAMILY_IPV4, 20, 41001, 10, 443);
	assert_null(sc_conn_lookup(t, &other));
	sc_conn_init(&other, HS_FAMILY_IPV4, 21, 41000, 10, 443);
	assert_null(sc_conn_lookup(t, &other));
	sc_conn_init(&other, HS_FAMILY_IPV6, 20, 41000, 10, 444);
	assert_null(sc_conn_lookup(t, &other));
	sc_table_free(t);
}

static void test_find_id_and_delete(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	struct sc_conn c[3];
	struct hs_flow *f[3];
	uint32_t id[3];

	for (int i = 0; i < 3; i++) {
		sc_conn_init(&c[i], HS_FAMILY_IPV4, 1, (uint16_t)(42000 + i), 2, 80);
		f[i] = sc_open(t, &c[i], T_EPOCH + 10);
		id[i] = f[i]->id;
		assert_int_not_equal(id[i], 0);
	}
	assert_int_not_equal(id[0], id[1]);
	assert_int_not_equal(id[1], id[2]);
	assert_int_not_equal(id[0], id[2]);
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(hs_table_find_id(t, id[i]), f[i]);
	assert_null(hs_table_find_id(t, 0));
	assert_null(hs_table_find_id(t, id[0] + id[1] + id[2] + 1000));

	hs_table_delete(t, f[1]);
	assert_int_equal(log->n, 1);
	assert_int_equal(log->reason[0], HS_REMOVE_DELETED);
	assert_int_equal(log->id[0], id[1]);
	assert_int_equal(log->client_port[0], 42001);
	assert_null(hs_table_find_id(t, id[1]));
	assert_null(sc_conn_lookup(t, &c[1]));
	assert_ptr_equal(hs_table_find_id(t, id[0]), f[0]);
	assert_ptr_equal(hs_table_find_id(t, id[2]), f[2]);
	assert_ptr_equal(sc_conn_lookup(t, &c[0]), f[0]);
	assert_ptr_equal(sc_conn_lookup(t, &c[2]), f[2]);
	const struct hs_table_stats *st = hs_table_stats(t);
	assert_int_equal(st->flows_removed[HS_REMOVE_DELETED], 1);
	assert_int_equal(st->live, 2);

	/* The deleted tuple is unknown now: with pickup off its ACKs find no flow. */
	struct hs_track_result res;
	sc_send(t, &c[1], HS_CLIENT, HS_TCP_ACK, 0, T_EPOCH + 20, &res);
	assert_null(res.flow);
	assert_int_equal(res.invalid, HS_INVALID_NO_FLOW);

	/* A new connection on it is a new flow with an id no live flow has. */
	struct sc_conn again;
	sc_conn_init(&again, HS_FAMILY_IPV4, 1, 42001, 2, 80);
	struct hs_flow *nf = sc_open(t, &again, T_EPOCH + 30);
	assert_int_not_equal(nf->id, id[0]);
	assert_int_not_equal(nf->id, id[2]);
	assert_ptr_equal(hs_table_find_id(t, nf->id), nf);
	assert_int_equal(hs_table_stats(t)->live, 3);

	/* Deleting the rest empties the table; the hook saw each exactly once. */
	hs_table_delete(t, f[0]);
	hs_table_delete(t, f[2]);
	hs_table_delete(t, nf);
	assert_int_equal(log->n, 4);
	assert_int_equal(log->by_reason[HS_REMOVE_DELETED], 4);
	assert_int_equal(hs_table_stats(t)->live, 0);
	assert_int_equal(hs_table_stats(t)->live_half_open, 0);
	sc_table_free(t);
	sc_free(log);
}

/* ---- foreach and filters ------------------------------------------------- */

struct visit {
	unsigned seen;
	unsigned stop_after;
	uint32_t ids[16];
};

static bool visit_fn(void *ctx, const struct hs_flow *flow)
{
	struct visit *v = ctx;

	if (v->seen < 16)
		v->ids[v->seen] = flow->id;
	v->seen++;
	return v->stop_after == 0 || v->seen < v->stop_after;
}

/*
 * Five flows:
 *   A 10.0.0.1:40001 -> 10.0.1.1:80   ESTABLISHED / ESTABLISHED
 *   B 10.0.0.2:40002 -> 10.0.1.1:80   FIN_WAIT_2  / CLOSE_WAIT
 *   C 10.0.0.3:40003 -> 10.0.1.2:443  SYN_SENT    / LISTEN
 *   D 10.0.0.4:40004 -> 10.0.1.2:443  CLOSE_WAIT  / FIN_WAIT_2
 *   E fd00::5:40005  -> fd00::101:80  ESTABLISHED / ESTABLISHED
 */
static struct hs_table *five_flows(struct hs_flow *f[5])
{
	struct hs_table *t = sc_table(32, false, T_EPOCH);
	struct sc_conn c;
	uint64_t now = T_EPOCH + 1000;

	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40001, 0x101, 80);
	f[0] = sc_open(t, &c, now);
	sc_conn_init(&c, HS_FAMILY_IPV4, 2, 40002, 0x101, 80);
	sc_open(t, &c, now);
	sc_step(t, &c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, now, HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);
	f[1] = sc_step(t, &c, HS_SERVER, HS_TCP_ACK, 0, now, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT);
	sc_conn_init(&c, HS_FAMILY_IPV4, 3, 40003, 0x102, 443);
	f[2] = sc_syn(t, &c, now);
	sc_conn_init(&c, HS_FAMILY_IPV4, 4, 40004, 0x102, 443);
	sc_open(t, &c, now);
	sc_step(t, &c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, now, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_1);
	f[3] = sc_step(t, &c, HS_CLIENT, HS_TCP_ACK, 0, now, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2);
	sc_conn_init(&c, HS_FAMILY_IPV6, 5, 40005, 0x101, 80);
	f[4] = sc_open(t, &c, now);
	return t;
}

static void test_foreach(void **state)
{
	(void)state;
	struct hs_flow *f[5];
	struct hs_table *t = five_flows(f);
	struct visit v;

	memset(&v, 0, sizeof(v));
	hs_table_foreach(t, visit_fn, &v);
	assert_int_equal(v.seen, 5);
	for (int i = 0; i < 5; i++) {
		int found = 0;
		for (int j = 0; j < 5; j++)
			found += v.ids[j] == f[i]->id;
		assert_int_equal(found, 1);
	}
	memset(&v, 0, sizeof(v));
	v.stop_after = 2;
	hs_table_foreach(t, visit_fn, &v);
	assert_int_equal(v.seen, 2);
	memset(&v, 0, sizeof(v));
	v.stop_after = 1;
	hs_table_foreach(t, visit_fn, &v);
	assert_int_equal(v.seen, 1);
	sc_table_free(t);
}

/* A one-address CIDR (a /32 or /128) of the scenario's addresses. */
static struct hs_cidr host_cidr(uint8_t family, uint32_t n)
{
	struct hs_cidr c = { .family = family, .prefix = family == HS_FAMILY_IPV6 ? 128 : 32 };

	sc_addr(family, n, &c.addr);
	return c;
}

static struct hs_port_range one_port(uint16_t port)
{
	return (struct hs_port_range){ port, port };
}

static void test_count_filters(void **state)
{
	(void)state;
	struct hs_flow *f[5];
	struct hs_table *t = five_flows(f);
	struct hs_flow_match flt;

	hs_flow_match_init(&flt);
	assert_int_equal(hs_table_count(t, &flt), 5);
	for (int i = 0; i < 5; i++)
		assert_true(hs_flow_match_flow(&flt, f[i]));

	hs_flow_match_init(&flt);
	flt.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_count(t, &flt), 2);
	assert_true(hs_flow_match_flow(&flt, f[0]));
	assert_false(hs_flow_match_flow(&flt, f[1]));

	hs_flow_match_init(&flt);
	flt.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);          /* either endpoint */
	assert_int_equal(hs_table_count(t, &flt), 2);
	flt.state = HS_STATE_SET(HS_TCP_LISTEN);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[2]));
	flt.state = HS_STATE_SET(HS_TCP_TIME_WAIT);
	assert_int_equal(hs_table_count(t, &flt), 0);
	/* Several states: any of them. */
	hs_state_set_add(&flt.state, HS_TCP_LISTEN);
	hs_state_set_add(&flt.state, HS_TCP_CLOSE_WAIT);
	assert_int_equal(hs_table_count(t, &flt), 3);

	hs_flow_match_init(&flt);
	flt.client_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[3]));
	hs_flow_match_init(&flt);
	flt.server_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[1]));
	flt.client_state = HS_STATE_SET(HS_TCP_FIN_WAIT_2);
	assert_int_equal(hs_table_count(t, &flt), 1);
	flt.client_state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_count(t, &flt), 0);

	hs_flow_match_init(&flt);
	flt.dst_ports[flt.n_dst_ports++] = one_port(80);
	assert_int_equal(hs_table_count(t, &flt), 3);
	hs_flow_match_init(&flt);
	flt.src_ports[flt.n_src_ports++] = one_port(80);
	assert_int_equal(hs_table_count(t, &flt), 0);
	flt.src_ports[0] = one_port(40003);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[2]));
	hs_flow_match_init(&flt);
	flt.dst_ports[flt.n_dst_ports++] = one_port(40003);
	assert_int_equal(hs_table_count(t, &flt), 0);
	/* Either port. */
	hs_flow_match_init(&flt);
	flt.ports[flt.n_ports++] = one_port(40003);
	assert_int_equal(hs_table_count(t, &flt), 1);
	flt.ports[flt.n_ports++] = one_port(80);
	assert_int_equal(hs_table_count(t, &flt), 4);

	hs_flow_match_init(&flt);
	flt.dst[flt.n_dst++] = host_cidr(HS_FAMILY_IPV4, 0x102);
	assert_int_equal(hs_table_count(t, &flt), 2);
	hs_flow_match_init(&flt);
	flt.src[flt.n_src++] = host_cidr(HS_FAMILY_IPV4, 0x102);
	assert_int_equal(hs_table_count(t, &flt), 0);
	flt.src[0] = host_cidr(HS_FAMILY_IPV4, 2);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[1]));

	hs_flow_match_init(&flt);
	flt.dst[flt.n_dst++] = host_cidr(HS_FAMILY_IPV6, 0x101);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[4]));
	hs_flow_match_init(&flt);
	flt.src[flt.n_src++] = host_cidr(HS_FAMILY_IPV6, 0x101);
	assert_int_equal(hs_table_count(t, &flt), 0);
	hs_flow_match_init(&flt);
	flt.families = HS_FAMILY_BIT_IPV6;
	assert_int_equal(hs_table_count(t, &flt), 1);
	flt.families = HS_FAMILY_BIT_IPV4;
	assert_int_equal(hs_table_count(t, &flt), 4);

	/* Combined: ESTABLISHED, server port 80, server address 10.0.1.1. */
	hs_flow_match_init(&flt);
	flt.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	flt.dst_ports[flt.n_dst_ports++] = one_port(80);
	assert_int_equal(hs_table_count(t, &flt), 2);
	flt.dst[flt.n_dst++] = host_cidr(HS_FAMILY_IPV4, 0x101);
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[0]));
	assert_false(hs_flow_match_flow(&flt, f[4]));
	/* By id. */
	hs_flow_match_init(&flt);
	flt.ids[flt.n_ids++] = f[3]->id;
	assert_int_equal(hs_table_count(t, &flt), 1);
	assert_true(hs_flow_match_flow(&flt, f[3]));
	sc_table_free(t);
}

/* ---- statistics and times ---------------------------------------------------- */

static void test_stats(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, false, T_EPOCH);
	const struct hs_table_stats *st = hs_table_stats(t);
	struct sc_conn a, b;
	struct hs_track_result res;

	sc_conn_init(&a, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_conn_init(&b, HS_FAMILY_IPV6, 1, 40000, 2, 80);
	sc_syn(t, &a, T_EPOCH);
	assert_int_equal(st->live, 1);
	assert_int_equal(st->live_half_open, 1);
	sc_syn(t, &b, T_EPOCH);
	assert_int_equal(st->live, 2);
	assert_int_equal(st->live_half_open, 2);
	sc_step(t, &a, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T_EPOCH, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
	assert_int_equal(st->live_half_open, 2);
	sc_step(t, &a, HS_CLIENT, HS_TCP_ACK, 0, T_EPOCH, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	assert_int_equal(st->live_half_open, 1);
	/* Invalid: a SYN on the established flow, then a mid-stream packet of no flow. */
	sc_send(t, &a, HS_CLIENT, HS_TCP_SYN, 0, T_EPOCH, &res);
	assert_int_equal(res.invalid, HS_INVALID_UNEXPECTED_SYN);
	struct sc_conn none;
	sc_conn_init(&none, HS_FAMILY_IPV4, 7, 40000, 2, 80);
	sc_send(t, &none, HS_CLIENT, HS_TCP_ACK, 0, T_EPOCH, &res);
	assert_null(res.flow);

	assert_int_equal(st->packets, 6);
	assert_int_equal(st->flows_created, 2);
	assert_int_equal(st->invalid[HS_INVALID_UNEXPECTED_SYN], 1);
	assert_int_equal(st->invalid[HS_INVALID_NO_FLOW], 1);
	assert_int_equal(st->invalid[HS_INVALID_NONE], 0);
	assert_int_equal(st->live, 2);
	assert_int_equal(st->live_half_open, 1);
	for (int r = 0; r < HS_REMOVE_REASON_COUNT; r++)
		assert_int_equal(st->flows_removed[r], 0);
	assert_int_equal(st->evicted_half_open, 0);
	assert_int_equal(st->evicted_established, 0);
	assert_int_equal(st->untracked_table_full, 0);
	assert_int_equal(st->restarts, 0);

	/* Expiring the half-open one updates both live counters. */
	assert_int_equal(hs_table_expire(t, T_EPOCH + 121000), 1);
	assert_int_equal(st->live, 1);
	assert_int_equal(st->live_half_open, 0);
	assert_int_equal(st->flows_removed[HS_REMOVE_EXPIRED], 1);
	sc_table_free(t);
}

static void test_age_idle(void **state)
{
	(void)state;
	const uint64_t e = 123450;
	struct hs_table *t = sc_table(16, false, e);
	struct sc_conn c;

	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_syn(t, &c, e + 1000);
	sc_step(t, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, e + 3000, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
	struct hs_flow *f = sc_step(t, &c, HS_CLIENT, HS_TCP_ACK, 0, e + 4500, HS_TCP_ESTABLISHED,
				    HS_TCP_ESTABLISHED);
	assert_int_equal(hs_flow_age_ms(t, f, e + 10000), 9000);
	assert_int_equal(hs_flow_idle_ms(t, f, e + 10000), 5500);
	assert_int_equal(hs_flow_state_age_ms(t, f, e + 10000), 5500);
	/* Data changes no state: idle restarts, state age goes on. */
	sc_step(t, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_PSH, 10, e + 8000, HS_TCP_ESTABLISHED,
		HS_TCP_ESTABLISHED);
	assert_int_equal(hs_flow_age_ms(t, f, e + 10000), 9000);
	assert_int_equal(hs_flow_idle_ms(t, f, e + 10000), 2000);
	assert_int_equal(hs_flow_state_age_ms(t, f, e + 10000), 5500);
	assert_int_equal(hs_flow_timeout_ms(t, f), default_timeouts[HS_TIMEOUT_ESTABLISHED]);
	sc_table_free(t);
}

/* ---- bound and eviction ------------------------------------------------------ */

static void test_bound_holds(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(1000, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	const struct hs_table_stats *st = hs_table_stats(t);

	for (uint32_t i = 0; i < 5000; i++) {
		struct sc_conn c;
		struct hs_track_result res;

		sc_conn_init(&c, HS_FAMILY_IPV4, 1 + i / 1000, (uint16_t)(30000 + i % 1000), 0xffff, 80);
		sc_send(t, &c, HS_CLIENT, HS_TCP_SYN, 0, T_EPOCH + i, &res);
		assert_non_null(res.flow);
		assert_int_equal(res.hint, HS_HINT_ACCEPT);
		assert_int_equal(st->live, i < 1000 ? i + 1 : 1000);
	}
	struct hs_flow_match all;
	hs_flow_match_init(&all);
	assert_int_equal(hs_table_count(t, &all), 1000);
	assert_int_equal(st->flows_created, 5000);
	assert_int_equal(st->evicted_half_open, 4000);
	assert_int_equal(st->evicted_established, 0);
	assert_int_equal(st->flows_removed[HS_REMOVE_EVICTED], 4000);
	assert_int_equal(log->by_reason[HS_REMOVE_EVICTED], 4000);
	assert_int_equal(log->n, 4000);
	assert_int_equal(st->untracked_table_full, 0);
	sc_table_free(t);
	sc_free(log);
}

/* Established flows stay while half-open ones remain to be evicted. */
static void test_evict_half_open_first(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	const struct hs_table_stats *st = hs_table_stats(t);
	struct sc_conn est[12];
	uint64_t now = T_EPOCH;

	for (int i = 0; i < 12; i++) {
		sc_conn_init(&est[i], HS_FAMILY_IPV4, 1, (uint16_t)(41000 + i), 2, 80);
		sc_open(t, &est[i], now += 1000);
	}
	for (int i = 0; i < 4; i++) {
		struct sc_conn c;

		sc_conn_init(&c, HS_FAMILY_IPV6, 1, (uint16_t)(42000 + i), 2, 80);
		sc_syn(t, &c, now += 1000);
	}
	assert_int_equal(st->live, 16);
	assert_int_equal(st->live_half_open, 4);

	for (int k = 1; k <= 8; k++) {
		struct sc_conn c;

		sc_conn_init(&c, HS_FAMILY_IPV4, 3, (uint16_t)(43000 + k), 2, 80);
		sc_syn(t, &c, now += 1000);
		assert_non_null(sc_conn_lookup(t, &c));
		assert_int_equal(st->live, 16);
		assert_int_equal(st->live_half_open, 4);
		assert_int_equal(st->evicted_half_open, (uint64_t)k);
		assert_int_equal(st->evicted_established, 0);
		assert_int_equal(st->flows_removed[HS_REMOVE_EVICTED], (uint64_t)k);
		assert_int_equal(log->n, (size_t)k);
		assert_int_equal(log->reason[k - 1], HS_REMOVE_EVICTED);
		assert_int_equal(log->flags[k - 1] & HS_FLOW_ESTABLISHED, 0);
		for (int i = 0; i < 12; i++)
			assert_non_null(sc_conn_lookup(t, &est[i]));
	}
	sc_table_free(t);
	sc_free(log);
}

/*
 * No half-open flow: the one closest to expiry goes.  A TIME_WAIT flow
 * (2 minutes) before established ones (5 days), and among established
 * ones the longest idle.
 */
static void test_evict_closest_to_expiry(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(4, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	const struct hs_table_stats *st = hs_table_stats(t);
	struct sc_conn a, b, c, d, e, f, g, h;
	const uint64_t base = T_EPOCH + 2 * DAY_MS;

	sc_conn_init(&a, HS_FAMILY_IPV4, 1, 40001, 2, 80);
	sc_conn_init(&b, HS_FAMILY_IPV4, 1, 40002, 2, 80);
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40003, 2, 80);
	sc_conn_init(&d, HS_FAMILY_IPV4, 1, 40004, 2, 80);
	sc_conn_init(&e, HS_FAMILY_IPV4, 1, 40005, 2, 80);
	sc_conn_init(&f, HS_FAMILY_IPV4, 1, 40006, 2, 80);
	sc_conn_init(&g, HS_FAMILY_IPV4, 1, 40007, 2, 80);
	sc_conn_init(&h, HS_FAMILY_IPV4, 1, 40008, 2, 80);
	uint32_t id_a = sc_open(t, &a, T_EPOCH + 1000)->id;
	uint32_t id_b = sc_open(t, &b, T_EPOCH + DAY_MS)->id;
	sc_open(t, &d, base);
	sc_open(t, &c, base + 1000);
	uint32_t id_c = sc_close(t, &c, base + 2000)->id;
	assert_int_equal(st->live, 4);
	assert_int_equal(st->live_half_open, 0);

	/* E: the TIME_WAIT flow C goes. */
	sc_syn(t, &e, base + 3000);
	assert_int_equal(log->n, 1);
	assert_int_equal(log->id[0], id_c);
	assert_int_equal(log->reason[0], HS_REMOVE_EVICTED);
	assert_int_equal(st->evicted_established, 1);
	assert_null(sc_conn_lookup(t, &c));
	assert_non_null(sc_conn_lookup(t, &a));
	assert_non_null(sc_conn_lookup(t, &b));
	assert_non_null(sc_conn_lookup(t, &d));

	/* F: E is half-open now, so E goes. */
	sc_open(t, &f, base + 4000);
	assert_int_equal(log->n, 2);
	assert_int_equal(log->client_port[1], 40005);
	assert_int_equal(st->evicted_half_open, 1);
	assert_null(sc_conn_lookup(t, &e));

	/* G: all established; A (idle since day 0) is closest to expiry. */
	sc_open(t, &g, base + 5000);
	assert_int_equal(log->n, 3);
	if (log->id[2] != id_a)
		fail_msg("evicted the flow of client port %u (id %u), expected A (port 40001, id %u, "
			 "idle since day 0; B since day 1, D since day 2, F since day 2 + 4 s)",
			 log->client_port[2], log->id[2], id_a);
	assert_int_equal(st->evicted_established, 2);
	assert_null(sc_conn_lookup(t, &a));
	assert_non_null(sc_conn_lookup(t, &b));
	assert_non_null(sc_conn_lookup(t, &d));
	assert_non_null(sc_conn_lookup(t, &f));

	/* H: then B (day 1). */
	sc_open(t, &h, base + 6000);
	assert_int_equal(log->n, 4);
	if (log->id[3] != id_b)
		fail_msg("evicted the flow of client port %u (id %u), expected B (port 40002, id %u)",
			 log->client_port[3], log->id[3], id_b);
	assert_int_equal(st->evicted_established, 3);
	assert_non_null(sc_conn_lookup(t, &d));
	assert_non_null(sc_conn_lookup(t, &f));
	assert_non_null(sc_conn_lookup(t, &g));
	assert_non_null(sc_conn_lookup(t, &h));
	sc_table_free(t);
	sc_free(log);
}

/* An expired flow goes before any half-open one, even if nobody ran the expiry. */
static void test_evict_expired_first(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(4, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	const struct hs_table_stats *st = hs_table_stats(t);
	struct sc_conn a, b, c, d, e;

	sc_conn_init(&a, HS_FAMILY_IPV4, 1, 40001, 2, 80);
	sc_conn_init(&b, HS_FAMILY_IPV4, 1, 40002, 2, 80);
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40003, 2, 80);
	sc_conn_init(&d, HS_FAMILY_IPV4, 1, 40004, 2, 80);
	sc_conn_init(&e, HS_FAMILY_IPV4, 1, 40005, 2, 80);
	sc_open(t, &a, T_EPOCH + 1000);
	sc_open(t, &b, T_EPOCH + 1000);
	uint32_t id_b = sc_close(t, &b, T_EPOCH + 1000)->id;   /* TIME_WAIT: gone by +121 s */
	sc_syn(t, &c, T_EPOCH + 200000);
	sc_syn(t, &d, T_EPOCH + 200000);
	assert_int_equal(log->n, 0);

	sc_syn(t, &e, T_EPOCH + 201000);
	assert_int_equal(log->n, 1);
	assert_int_equal(log->id[0], id_b);
	/* Reported as expired or evicted: either is fair for a flow past its deadline. */
	assert_true(log->reason[0] == HS_REMOVE_EXPIRED || log->reason[0] == HS_REMOVE_EVICTED);
	assert_null(sc_conn_lookup(t, &b));
	assert_non_null(sc_conn_lookup(t, &a));
	assert_non_null(sc_conn_lookup(t, &c));
	assert_non_null(sc_conn_lookup(t, &d));
	assert_non_null(sc_conn_lookup(t, &e));
	assert_int_equal(st->evicted_half_open, 0);
	assert_int_equal(st->live, 4);
	sc_table_free(t);
	sc_free(log);

	/* The same with an established flow idle past its 5 days and fresh half-open ones. */
	t = sc_table(4, false, T_EPOCH);
	log = new_log(t);
	st = hs_table_stats(t);
	const uint64_t late = T_EPOCH + 1000 + 432000000;
	sc_conn_init(&a, HS_FAMILY_IPV6, 1, 40001, 2, 80);
	sc_conn_init(&b, HS_FAMILY_IPV6, 1, 40002, 2, 80);
	sc_conn_init(&c, HS_FAMILY_IPV6, 1, 40003, 2, 80);
	sc_conn_init(&d, HS_FAMILY_IPV6, 1, 40004, 2, 80);
	sc_conn_init(&e, HS_FAMILY_IPV6, 1, 40005, 2, 80);
	uint32_t id_a = sc_open(t, &a, T_EPOCH + 1000)->id;
	sc_syn(t, &b, late - 10000);
	sc_syn(t, &c, late - 10000);
	sc_syn(t, &d, late - 10000);
	sc_syn(t, &e, late + 1000);
	assert_int_equal(log->n, 1);
	assert_int_equal(log->id[0], id_a);
	assert_true(log->reason[0] == HS_REMOVE_EXPIRED || log->reason[0] == HS_REMOVE_EVICTED);
	assert_null(sc_conn_lookup(t, &a));
	assert_non_null(sc_conn_lookup(t, &b));
	assert_non_null(sc_conn_lookup(t, &c));
	assert_non_null(sc_conn_lookup(t, &d));
	assert_non_null(sc_conn_lookup(t, &e));
	assert_int_equal(st->evicted_half_open, 0);
	assert_int_equal(st->live_half_open, 4);
	sc_table_free(t);
	sc_free(log);
}

/* A new connection on a TIME_WAIT tuple is half-open again, with SYN_SENT's timeout. */
static void test_restart_timers(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	const struct hs_table_stats *st = hs_table_stats(t);
	struct sc_conn c;
	struct hs_track_result res;
	const uint64_t t0 = T_EPOCH + 1000, t1 = t0 + 30000;

	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_open(t, &c, t0);
	struct hs_flow *f = sc_close(t, &c, t0);
	uint32_t old_id = f->id;
	assert_int_equal(st->live_half_open, 0);

	c.next[HS_CLIENT] += 100000;
	sc_send(t, &c, HS_CLIENT, HS_TCP_SYN, 0, t1, &res);
	assert_ptr_equal(res.flow, f);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_true(res.events & HS_EVENT_RESTART);
	assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_SYN_SENT);
	assert_int_equal(res.new_state[HS_SERVER], HS_TCP_LISTEN);
	assert_int_equal(st->restarts, 1);
	assert_int_equal(st->live, 1);
	assert_int_equal(st->live_half_open, 1);
	assert_int_equal(f->flags & HS_FLOW_ESTABLISHED, 0);
	assert_int_equal(f->packets[HS_CLIENT], 1);
	assert_int_equal(f->packets[HS_SERVER], 0);
	assert_int_equal(hs_flow_timeout_ms(t, f), default_timeouts[HS_TIMEOUT_SYN_SENT]);
	assert_int_equal(hs_flow_age_ms(t, f, t1 + 5000), 5000);
	assert_ptr_equal(hs_table_find_id(t, f->id), f);
	if (f->id != old_id)
		assert_null(hs_table_find_id(t, old_id));
	/* The hook saw the old connection end, as it was: its id, before the record was reused. */
	assert_int_equal(log->n, 1);
	assert_int_equal(log->reason[0], HS_REMOVE_REOPENED);
	assert_int_equal(log->id[0], old_id);

	/* Past the old TIME_WAIT deadline (t0 + 60 s) it lives on; gone after SYN_SENT's (70 s). */
	assert_int_equal(hs_table_expire(t, t0 + 61000), 0);
	assert_int_equal(hs_table_expire(t, t1 + 69000), 0);
	assert_int_equal(hs_table_expire(t, t1 + 71000), 1);
	assert_int_equal(log->n, 2);
	assert_int_equal(log->reason[1], HS_REMOVE_EXPIRED);
	assert_int_equal(st->live, 0);
	assert_int_equal(st->live_half_open, 0);
	sc_table_free(t);
	sc_free(log);
}

/* ---- expiry ------------------------------------------------------------------ */

typedef struct hs_flow *(*build_fn)(struct hs_table *t, struct sc_conn *c, uint64_t now);

static struct hs_flow *build_syn_sent(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	return sc_syn(t, c, now);
}

static struct hs_flow *build_syn_rcvd(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	sc_syn(t, c, now);
	return sc_step(t, c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, now, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
}

static struct hs_flow *build_established(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	return sc_open(t, c, now);
}

static struct hs_flow *build_fin_wait_1(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	sc_open(t, c, now);
	return sc_step(t, c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, now, HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);
}

static struct hs_flow *build_fin_wait_2(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	build_fin_wait_1(t, c, now);
	return sc_step(t, c, HS_SERVER, HS_TCP_ACK, 0, now, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT);
}

static struct hs_flow *build_last_ack(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	build_fin_wait_1(t, c, now);
	return sc_step(t, c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, now, HS_TCP_TIME_WAIT, HS_TCP_LAST_ACK);
}

static struct hs_flow *build_closing(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	struct hs_track_result res;

	build_fin_wait_1(t, c, now);
	/* The server's FIN does not acknowledge the client's: they crossed. */
	c->next[HS_CLIENT]--;
	sc_send(t, c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, now, &res);
	c->next[HS_CLIENT]++;
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_CLOSING);
	assert_int_equal(res.new_state[HS_SERVER], HS_TCP_CLOSING);
	return res.flow;
}

static struct hs_flow *build_time_wait(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	sc_open(t, c, now);
	return sc_close(t, c, now);
}

static struct hs_flow *build_reset(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	sc_open(t, c, now);
	return sc_step(t, c, HS_CLIENT, HS_TCP_RST | HS_TCP_ACK, 0, now, HS_TCP_CLOSED, HS_TCP_CLOSED);
}

static struct hs_flow *build_close_wait(struct hs_table *t, struct sc_conn *c, uint64_t now)
{
	sc_open(t, c, now);
	sc_step(t, c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, now, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_1);
	return sc_step(t, c, HS_CLIENT, HS_TCP_ACK, 0, now, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2);
}

struct state_case {
	const char *name;
	build_fn build;
	uint32_t timeout_ms;        /* expected timeout; 0: whatever its class says */
};

static const struct state_case state_cases[] = {
	/*
	 * The defaults follow the kernels: a half-closed connection lasts as
	 * long as an open one (CLOSE_WAIT has no timer), TIME_WAIT as long as
	 * Linux's TCP_TIMEWAIT_LEN.
	 */
	{ "SYN_SENT/LISTEN", build_syn_sent, 70000 },
	{ "SYN_SENT/SYN_RCVD", build_syn_rcvd, 35000 },
	{ "ESTABLISHED", build_established, 432000000 },
	{ "FIN_WAIT_1/CLOSE_WAIT", build_fin_wait_1, 432000000 },
	{ "FIN_WAIT_2/CLOSE_WAIT", build_fin_wait_2, 432000000 },
	{ "CLOSE_WAIT/FIN_WAIT_2", build_close_wait, 432000000 },
	{ "TIME_WAIT/LAST_ACK", build_last_ack, 125000 },
	{ "CLOSING/CLOSING", build_closing, 125000 },
	{ "TIME_WAIT/CLOSED", build_time_wait, 60000 },
	{ "CLOSED/CLOSED", build_reset, 10000 },
};

static uint32_t case_timeout(const struct state_case *sc, struct hs_table *t, const struct hs_flow *f)
{
	uint32_t to = hs_flow_timeout_ms(t, f);
	enum hs_timeout_class cls = hs_tcp_timeout_class((enum hs_tcp_state)f->state[HS_CLIENT],
							 (enum hs_tcp_state)f->state[HS_SERVER]);

	assert_int_equal(to, default_timeouts[cls]);
	if (sc->timeout_ms)
		assert_int_equal(to, sc->timeout_ms);
	return to;
}

/* Gone exactly then: not 1 s before the timeout, yes 1 s after. */
static void test_expire_each_state(void **state)
{
	(void)state;
	for (size_t k = 0; k < SC_ARRAY_SIZE(state_cases); k++) {
		const struct state_case *cs = &state_cases[k];
		struct hs_table *t = sc_table(8, false, T_EPOCH);
		struct hook_log *log = new_log(t);
		struct sc_conn c;
		const uint64_t t0 = T_EPOCH + 50000;

		print_message("  state %s\n", cs->name);
		sc_conn_init(&c, k % 2 ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4, 1, 40000, 2, 80);
		struct hs_flow *f = cs->build(t, &c, t0);
		uint32_t id = f->id;
		uint32_t to = case_timeout(cs, t, f);

		assert_int_equal(hs_table_expire(t, t0 + to - 1000), 0);
		assert_ptr_equal(sc_conn_lookup(t, &c), f);
		assert_int_equal(log->n, 0);
		assert_int_equal(hs_table_expire(t, t0 + to + 1000), 1);
		assert_null(sc_conn_lookup(t, &c));
		assert_null(hs_table_find_id(t, id));
		assert_int_equal(log->n, 1);
		assert_int_equal(log->id[0], id);
		assert_int_equal(log->reason[0], HS_REMOVE_EXPIRED);
		assert_int_equal(hs_table_stats(t)->flows_removed[HS_REMOVE_EXPIRED], 1);
		assert_int_equal(hs_table_stats(t)->live, 0);
		assert_int_equal(hs_table_stats(t)->live_half_open, 0);
		assert_int_equal(hs_table_expire(t, t0 + to + 2000000), 0);
		assert_int_equal(log->n, 1);
		sc_table_free(t);
		sc_free(log);
	}
}

/*
 * The daemon calls expire often: with calls every `period` ms the flow
 * must live through t0 + timeout - slack and be gone by t0 + timeout + slack.
 */
static void expire_periodically(const struct state_case *cs, uint64_t period, uint64_t slack)
{
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	struct sc_conn c;
	const uint64_t t0 = T_EPOCH + 12340;

	print_message("  state %s, expire every %llu ms\n", cs->name, (unsigned long long)period);
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	struct hs_flow *f = cs->build(t, &c, t0);
	uint32_t to = case_timeout(cs, t, f);
	uint64_t gone = 0;

	for (uint64_t now = t0; now <= t0 + to + 2 * slack; now += period) {
		size_t n = hs_table_expire(t, now);

		if (n) {
			assert_int_equal(n, 1);
			assert_int_equal(gone, 0);
			gone = now;
		}
		if (now <= t0 + to - slack)
			assert_int_equal(n, 0);
		if (now >= t0 + to + slack)
			assert_int_not_equal(gone, 0);
	}
	assert_int_equal(log->n, 1);
	assert_int_equal(log->reason[0], HS_REMOVE_EXPIRED);
	assert_null(sc_conn_lookup(t, &c));
	sc_table_free(t);
	sc_free(log);
}

static void test_expire_periodic(void **state)
{
	(void)state;
	for (size_t k = 0; k < SC_ARRAY_SIZE(state_cases); k++) {
		if (state_cases[k].timeout_ms > 3600000)
			expire_periodically(&state_cases[k], 10000, 10000);
		else
			expire_periodically(&state_cases[k], 100, 200);
	}
}

/*
 * A half-closed connection is an open connection to eviction too: a
 * CLOSE_WAIT flow idle for a short while stays, and the established flow
 * idle the longest goes first, then the half-closed one that is idler
 * than the rest, whichever side is in CLOSE_WAIT.
 */
static void test_evict_close_wait_like_established(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(4, false, T_EPOCH);
	struct hook_log *log = new_log(t);
	struct sc_conn old_open, half_closed, peer_half_closed, recent_open, n1, n2;
	const uint64_t t0 = T_EPOCH + 1000;

	sc_conn_init(&old_open, HS_FAMILY_IPV4, 1, 40001, 2, 80);
	sc_conn_init(&half_closed, HS_FAMILY_IPV4, 1, 40002, 2, 80);
	sc_conn_init(&peer_half_closed, HS_FAMILY_IPV6, 1, 40003, 2, 80);
	sc_conn_init(&recent_open, HS_FAMILY_IPV4, 1, 40004, 2, 80);
	sc_conn_init(&n1, HS_FAMILY_IPV4, 1, 40005, 2, 80);
	sc_conn_init(&n2, HS_FAMILY_IPV4, 1, 40006, 2, 80);
	/* An hour apart: the wheel orders established flows to within 410 s. */
	uint32_t id_old = sc_open(t, &old_open, t0)->id;
	uint32_t id_half = build_close_wait(t, &half_closed, t0 + HOUR_MS)->id;
	build_fin_wait_2(t, &peer_half_closed, t0 + 2 * HOUR_MS);
	sc_open(t, &recent_open, t0 + 3 * HOUR_MS);

	/* Past conntrack's 60 s for CLOSE_WAIT, hours past, nothing has expired. */
	const uint64_t t1 = t0 + 3 * HOUR_MS + 90000;
	assert_int_equal(hs_table_expire(t, t1), 0);
	sc_open(t, &n1, t1);
	assert_int_equal(log->n, 1);
	if (log->id[0] != id_old)
		fail_msg("evicted client port %u, expected the established flow idle longest (port 40001)",
			 log->client_port[0]);
	sc_open(t, &n2, t1 + 1000);
	assert_int_equal(log->n, 2);
	if (log->id[1] != id_half)
		fail_msg("evicted client port %u, expected the half-closed flow idle longest (port 40002)",
			 log->client_port[1]);
	assert_non_null(sc_conn_lookup(t, &peer_half_closed));
	assert_non_null(sc_conn_lookup(t, &recent_open));
	assert_int_equal(hs_table_stats(t)->evicted_established, 2);
	sc_table_free(t);
	sc_free(log);
}

/*
 * Lifetimes that follow the endpoints' kernels.  A leaked socket in
 * CLOSE_WAIT never sends again and no kernel times it out, so an idle
 * half-closed flow is still there long after conntrack's 60 s, as long as
 * an idle established one; TIME_WAIT goes at Linux's 60 s, not 120.
 */
static void test_lifetimes_follow_kernels(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct sc_conn cw, fw2, tw;
	const uint64_t t0 = T_EPOCH + 1000;

	sc_conn_init(&cw, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_conn_init(&fw2, HS_FAMILY_IPV6, 1, 40001, 2, 80);
	sc_conn_init(&tw, HS_FAMILY_IPV4, 1, 40002, 2, 80);
	build_close_wait(t, &cw, t0);           /* the client leaked its socket */
	build_fin_wait_2(t, &fw2, t0);          /* the server did */
	build_time_wait(t, &tw, t0);

	assert_int_equal(hs_table_expire(t, t0 + 59000), 0);
	assert_int_equal(hs_table_expire(t, t0 + 60100), 1);
	assert_null(sc_conn_lookup(t, &tw));
	assert_int_equal(hs_table_expire(t, t0 + 90000), 0);
	assert_int_equal(hs_table_expire(t, t0 + DAY_MS), 0);
	assert_non_null(sc_conn_lookup(t, &cw));
	assert_non_null(sc_conn_lookup(t, &fw2));
	assert_int_equal(hs_table_expire(t, t0 + 432000000 - 1000), 0);
	assert_int_equal(hs_table_expire(t, t0 + 432000000 + 1000), 2);
	sc_table_free(t);
}

/* A valid packet pushes the deadline out. */
static void test_packet_refreshes_timer(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct sc_conn c;
	struct hs_track_result res;
	const uint64_t t0 = T_EPOCH + 1000;

	/* A retransmitted SYN after 63 s (Linux's sixth): SYN_SENT lasts until t0 + 133 s. */
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_syn(t, &c, t0);
	assert_int_equal(hs_table_expire(t, t0 + 62000), 0);
	c.next[HS_CLIENT]--;
	sc_send(t, &c, HS_CLIENT, HS_TCP_SYN, 0, t0 + 63000, &res);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(hs_table_expire(t, t0 + 71000), 0);
	assert_non_null(sc_conn_lookup(t, &c));
	assert_int_equal(hs_table_expire(t, t0 + 132000), 0);
	assert_int_equal(hs_table_expire(t, t0 + 134000), 1);
	assert_null(sc_conn_lookup(t, &c));

	/* Data a day into an established connection: it lasts 5 days from then. */
	sc_conn_init(&c, HS_FAMILY_IPV6, 1, 40001, 2, 80);
	const uint64_t t1 = t0 + 200000;
	sc_open(t, &c, t1);
	assert_int_equal(hs_table_expire(t, t1 + DAY_MS / 2), 0);
	sc_step(t, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_PSH, 100, t1 + DAY_MS, HS_TCP_ESTABLISHED,
		HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_expire(t, t1 + 432000000 + 1000), 0);
	assert_non_null(sc_conn_lookup(t, &c));
	assert_int_equal(hs_table_expire(t, t1 + DAY_MS + 432000000 - 1000), 0);
	assert_int_equal(hs_table_expire(t, t1 + DAY_MS + 432000000 + 1000), 1);
	assert_null(sc_conn_lookup(t, &c));
	sc_table_free(t);
}

/* A state change moves the deadline to the new state's timeout, either way. */
static void test_state_change_reschedules(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct sc_conn c;
	const uint64_t t0 = T_EPOCH + 1000;

	/* Established (5 days), closed at t1: TIME_WAIT, 60 s from t1. */
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_open(t, &c, t0);
	const uint64_t t1 = t0 + 5000;
	sc_close(t, &c, t1);
	assert_int_equal(hs_table_expire(t, t1 + 59000), 0);
	assert_non_null(sc_conn_lookup(t, &c));
	assert_int_equal(hs_table_expire(t, t1 + 61000), 1);
	assert_null(sc_conn_lookup(t, &c));

	/* SYN_SENT (70 s) then SYN_RCVD (35 s) 60 s later: due at +95 s. */
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40001, 2, 80);
	const uint64_t t2 = t1 + 200000;
	sc_syn(t, &c, t2);
	sc_step(t, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, t2 + 60000, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
	assert_int_equal(hs_table_expire(t, t2 + 71000), 0);
	assert_non_null(sc_conn_lookup(t, &c));
	assert_int_equal(hs_table_expire(t, t2 + 94000), 0);
	assert_int_equal(hs_table_expire(t, t2 + 96000), 1);

	/* SYN_RCVD (35 s) completed after 30 s: established, alive long after. */
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40002, 2, 80);
	const uint64_t t3 = t2 + 200000;
	sc_syn(t, &c, t3);
	sc_step(t, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, t3, HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
	sc_step(t, &c, HS_CLIENT, HS_TCP_ACK, 0, t3 + 30000, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_expire(t, t3 + 61000), 0);
	assert_int_equal(hs_table_expire(t, t3 + 3600000), 0);
	assert_non_null(sc_conn_lookup(t, &c));
	sc_table_free(t);
}

static void test_reconfigure(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(8, false, T_EPOCH);
	struct hs_table_config cfg;
	struct sc_conn c;
	struct hs_track_result res;

	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_send(t, &c, HS_CLIENT, HS_TCP_ACK, 0, T_EPOCH + 10, &res);
	assert_null(res.flow);
	assert_int_equal(res.invalid, HS_INVALID_NO_FLOW);

	sc_config(&cfg, 8, true);
	cfg.timeout_ms[HS_TIMEOUT_CLOSED] = 2000;
	hs_table_reconfigure(t, &cfg);
	assert_int_equal(hs_table_capacity(t), 8);
	sc_send(t, &c, HS_CLIENT, HS_TCP_ACK, 0, T_EPOCH + 20, &res);
	assert_non_null(res.flow);
	assert_true(res.flow->flags & HS_FLOW_PICKED_UP);
	assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_ESTABLISHED);
	assert_int_equal(res.new_state[HS_SERVER], HS_TCP_ESTABLISHED);

	/* A reset flow now lasts 2 s. */
	sc_step(t, &c, HS_CLIENT, HS_TCP_RST | HS_TCP_ACK, 0, T_EPOCH + 1000, HS_TCP_CLOSED, HS_TCP_CLOSED);
	assert_int_equal(hs_flow_timeout_ms(t, res.flow), 2000);
	assert_int_equal(hs_table_expire(t, T_EPOCH + 2000), 0);
	assert_int_equal(hs_table_expire(t, T_EPOCH + 4000), 1);
	sc_table_free(t);
}

/* ---- hashing ----------------------------------------------------------------- */

static double elapsed_s(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

#define MANY 60000u

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Many keys that differ only in the client port, or only in the client
 * address: all found again, none lost, and fast (a degenerate hash would
 * make this quadratic: minutes, not milliseconds).
 */
static void test_hash_many_keys(void **state)
{
	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		struct hs_table *t = sc_table(65536, false, T_EPOCH);
		struct timespec start;

		clock_gettime(CLOCK_MONOTONIC, &start);
		for (uint32_t i = 0; i < MANY; i++) {
			struct sc_conn c;

			if (variant == 0)
				sc_conn_init(&c, HS_FAMILY_IPV4, 1, (uint16_t)(1024 + i), 2, 80);
			else
				sc_conn_init(&c, HS_FAMILY_IPV6, 0x10000 + i, 40000, 2, 443);
			sc_syn(t, &c, T_EPOCH + 100);
		}
		for (uint32_t i = 0; i < MANY; i++) {
			struct sc_conn c;

			if (variant == 0)
				sc_conn_init(&c, HS_FAMILY_IPV4, 1, (uint16_t)(1024 + i), 2, 80);
			else
				sc_conn_init(&c, HS_FAMILY_IPV6, 0x10000 + i, 40000, 2, 443);
			struct hs_flow *f = sc_conn_lookup(t, &c);
			assert_non_null(f);
			assert_int_equal(hs_flow_port(f, HS_CLIENT), c.port[HS_CLIENT]);
			struct hs_addr client = hs_flow_addr(f, HS_CLIENT);
			assert_memory_equal(&client, &c.addr[HS_CLIENT], sizeof(struct hs_addr));
		}
		double secs = elapsed_s(&start);
		print_message("  %s: %u inserts + lookups in %.3f s\n",
			      variant == 0 ? "ports" : "addresses", MANY, secs);
		assert_true(secs < 5.0);
		assert_int_equal(hs_table_stats(t)->live, MANY);
		assert_int_equal(hs_table_stats(t)->evicted_half_open, 0);
		struct hs_flow_match all;
		hs_flow_match_init(&all);
		assert_int_equal(hs_table_count(t, &all), MANY);

		/* Ids stay unique across all of them. */
		uint32_t *ids = sc_alloc(MANY * sizeof(*ids));
		assert_non_null(ids);
		for (uint32_t i = 0; i < MANY; i++) {
			struct sc_conn c;

			if (variant == 0)
				sc_conn_init(&c, HS_FAMILY_IPV4, 1, (uint16_t)(1024 + i), 2, 80);
			else
				sc_conn_init(&c, HS_FAMILY_IPV6, 0x10000 + i, 40000, 2, 443);
			ids[i] = sc_conn_lookup(t, &c)->id;
			assert_int_not_equal(ids[i], 0);
		}
		qsort(ids, MANY, sizeof(*ids), cmp_u32);
		for (uint32_t i = 1; i < MANY; i++)
			assert_int_not_equal(ids[i - 1], ids[i]);
		sc_free(ids);
		sc_table_free(t);
	}
}

static void test_siphash(void **state)
{
	(void)state;
	uint8_t key[16], msg[64];

	/*
	 * hs_siphash is SipHash-1-3 (include/hs_siphash.h).  Reference values
	 * for key 00..0f and message 00..(n-1), as in the SipHash test vectors
	 * (n = 0 is the first of Rust's SipHasher13 vectors); n = 7, 8, 15, 63
	 * cover a lone tail, one full block, block + tail, many blocks.
	 */
	static const struct { size_t len; uint64_t hash; } vectors[] = {
		{ 0, 0xabac0158050fc4dcull },
		{ 1, 0xc9f49bf37d57ca93ull },
		{ 7, 0xd3927d989bb11140ull },
		{ 8, 0x369095118d299a8eull },
		{ 15, 0xd320d86d2a519956ull },
		{ 63, 0x9d199062b7bbb3a8ull },
	};
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < SC_ARRAY_SIZE(vectors); i++) {
		uint64_t h = hs_siphash(key, msg, vectors[i].len);

		if (h != vectors[i].hash)
			fail_msg("siphash of %zu bytes: expected %#llx, got %#llx", vectors[i].len,
				 (unsigned long long)vectors[i].hash, (unsigned long long)h);
	}
	/* The key matters. */
	key[0] ^= 1;
	assert_true(hs_siphash(key, msg, 15) != 0xd320d86d2a519956ull);
	key[0] ^= 1;

	/* Keys differing in one port or one address byte spread evenly over 65536 buckets. */
	uint16_t *load = sc_alloc(65536 * sizeof(*load));
	assert_non_null(load);
	for (int variant = 0; variant < 2; variant++) {
		unsigned max = 0;

		memset(load, 0, 65536 * sizeof(*load));
		for (uint32_t i = 0; i < 65536; i++) {
			struct hs_flow_key k;

			memset(&k, 0, sizeof(k));
			sc_addr(HS_FAMILY_IPV4, 1, &k.addr[0]);
			sc_addr(HS_FAMILY_IPV4, 2, &k.addr[1]);
			k.port[1] = 80;
			if (variant == 0)
				k.port[0] = (uint16_t)i;
			else
				sc_addr(HS_FAMILY_IPV6, i, &k.addr[0]);
			uint32_t b = (uint32_t)hs_siphash(key, &k, sizeof(k)) & 0xffff;
			if (++load[b] > max)
				max = load[b];
		}
		/* Balls into bins: the fullest of 65536 bins with 65536 keys holds about 8. */
		assert_true(max <= 16);
	}
	sc_free(load);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_limits, sc_teardown),
		cmocka_unit_test_teardown(test_memory_follows_flows, sc_teardown),
		cmocka_unit_test_teardown(test_compact_records, sc_teardown),
		cmocka_unit_test_teardown(test_lookup_both_directions, sc_teardown),
		cmocka_unit_test_teardown(test_find_id_and_delete, sc_teardown),
		cmocka_unit_test_teardown(test_foreach, sc_teardown),
		cmocka_unit_test_teardown(test_count_filters, sc_teardown),
		cmocka_unit_test_teardown(test_stats, sc_teardown),
		cmocka_unit_test_teardown(test_age_idle, sc_teardown),
		cmocka_unit_test_teardown(test_bound_holds, sc_teardown),
		cmocka_unit_test_teardown(test_evict_half_open_first, sc_teardown),
		cmocka_unit_test_teardown(test_evict_closest_to_expiry, sc_teardown),
		cmocka_unit_test_teardown(test_evict_close_wait_like_established, sc_teardown),
		cmocka_unit_test_teardown(test_evict_expired_first, sc_teardown),
		cmocka_unit_test_teardown(test_restart_timers, sc_teardown),
		cmocka_unit_test_teardown(test_expire_each_state, sc_teardown),
		cmocka_unit_test_teardown(test_expire_periodic, sc_teardown),
		cmocka_unit_test_teardown(test_lifetimes_follow_kernels, sc_teardown),
		cmocka_unit_test_teardown(test_packet_refreshes_timer, sc_teardown),
		cmocka_unit_test_teardown(test_state_change_reschedules, sc_teardown),
		cmocka_unit_test_teardown(test_reconfigure, sc_teardown),
		cmocka_unit_test_teardown(test_hash_many_keys, sc_teardown),
		cmocka_unit_test_teardown(test_siphash, sc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
