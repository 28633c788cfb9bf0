/*
 * Unit tests of the host's address set (daemon/core/local_addrs.c) and of
 * what the table does with it: add, remove and lookup in both families,
 * the same address on two interfaces, whole local prefixes (127.0.0.0/8 on
 * loopback), the fixed capacity, invalid entries; then the HS_LOCAL mark
 * a new flow gets (client, server, both, neither), its survival across a
 * change of the set, the marks following the addresses when a reopened
 * tuple swaps client and server, and the "local" field of the flow's JSON
 * and the '*' of its text line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_flow_json.h"
#include "hs_local_addrs.h"
#include "hs_table.h"
#include "scenario.h"

static struct hs_local_addr entry(const char *text, uint8_t prefix, uint32_t ifindex)
{
	struct hs_local_addr e;

	memset(&e, 0, sizeof(e));
	assert_true(hs_addr_parse(text, &e.addr, &e.family));
	e.prefix = prefix;
	e.ifindex = ifindex;
	return e;
}

static bool contains(const struct hs_local_addrs *set, const char *text)
{
	struct hs_addr addr;
	uint8_t family;

	assert_true(hs_addr_parse(text, &addr, &family));
	return hs_local_addrs_contains(set, family, &addr);
}

static enum hs_local_addrs_result add(struct hs_local_addrs *set, const char *text, uint8_t prefix,
				      uint32_t ifindex)
{
	struct hs_local_addr e = entry(text, prefix, ifindex);
	return hs_local_addrs_add(set, &e);
}

static enum hs_local_addrs_result del(struct hs_local_addrs *set, const char *text, uint8_t prefix,
				      uint32_t ifindex)
{
	struct hs_local_addr e = entry(text, prefix, ifindex);
	return hs_local_addrs_remove(set, &e);
}

static void test_add_remove_lookup(void **state)
{
	(void)state;
	struct hs_local_addrs *set = sc_alloc(sizeof(*set));

	hs_local_addrs_init(set);
	assert_false(contains(set, "10.0.0.1"));
	assert_int_equal(add(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(add(set, "fd00::1", 128, 2), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(add(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_UNCHANGED);
	assert_int_equal(hs_local_addrs_count(set), 2);
	assert_true(contains(set, "10.0.0.1"));
	assert_true(contains(set, "fd00::1"));
	assert_false(contains(set, "10.0.0.2"));
	assert_false(contains(set, "fd00::2"));
	/* The same bytes in the other family are another address. */
	assert_false(contains(set, "::a00:1"));
	assert_int_equal(del(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(del(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_UNCHANGED);
	assert_false(contains(set, "10.0.0.1"));
	assert_true(contains(set, "fd00::1"));
	assert_int_equal(hs_local_addrs_count(set), 1);
	sc_free(set);
}

/* One address on two interfaces stays local until it has left both. */
static void test_same_address_two_interfaces(void **state)
{
	(void)state;
	struct hs_local_addrs *set = sc_alloc(sizeof(*set));

	hs_local_addrs_init(set);
	assert_int_equal(add(set, "192.0.2.7", 32, 3), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(add(set, "192.0.2.7", 32, 5), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(del(set, "192.0.2.7", 32, 3), HS_LOCAL_ADDRS_CHANGED);
	assert_true(contains(set, "192.0.2.7"));
	assert_int_equal(del(set, "192.0.2.7", 32, 4), HS_LOCAL_ADDRS_UNCHANGED);
	assert_true(contains(set, "192.0.2.7"));
	assert_int_equal(del(set, "192.0.2.7", 32, 5), HS_LOCAL_ADDRS_CHANGED);
	assert_false(contains(set, "192.0.2.7"));
	sc_free(set);
}

/* 127.0.0.1/8 on loopback makes all of 127.0.0.0/8 local; a /7 or a /0 works bit by bit. */
static void test_local_prefixes(void **state)
{
	(void)state;
	struct hs_local_addrs *set = sc_alloc(sizeof(*set));

	hs_local_addrs_init(set);
	assert_int_equal(add(set, "127.0.0.1", 8, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(add(set, "127.0.0.1", 8, 1), HS_LOCAL_ADDRS_UNCHANGED);
	assert_true(contains(set, "127.0.0.1"));
	assert_true(contains(set, "127.255.3.4"));
	assert_false(contains(set, "128.0.0.1"));
	assert_false(contains(set, "126.0.0.1"));
	assert_int_equal(add(set, "198.18.0.1", 15, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_true(contains(set, "198.19.255.255"));
	assert_false(contains(set, "198.20.0.0"));
	assert_false(contains(set, "198.17.255.255"));
	assert_int_equal(hs_local_addrs_count(set), 2);
	/* Equality ignores the order local prefixes were added in. */
	struct hs_local_addrs *other = sc_alloc(sizeof(*other));
	hs_local_addrs_init(other);
	assert_int_equal(add(other, "198.18.0.1", 15, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_false(hs_local_addrs_equal(set, other));
	assert_int_equal(add(other, "127.0.0.1", 8, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_true(hs_local_addrs_equal(set, other));
	assert_int_equal(add(other, "10.0.0.1", 32, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(add(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_CHANGED);
	assert_false(hs_local_addrs_equal(set, other));   /* another interface */
	assert_int_equal(del(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(del(other, "10.0.0.1", 32, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_true(hs_local_addrs_equal(set, other));
	sc_free(other);
	assert_int_equal(del(set, "127.0.0.1", 8, 1), HS_LOCAL_ADDRS_CHANGED);
	assert_false(contains(set, "127.0.0.5"));
	assert_true(contains(set, "198.18.9.9"));
	sc_free(set);
}

static void test_capacity_and_invalid(void **state)
{
	(void)state;
	struct hs_local_addrs *set = sc_alloc(sizeof(*set));
	struct hs_local_addr e;

	hs_local_addrs_init(set);
	/* Added in descending order, so that every insertion shifts the array. */
	for (uint32_t i = HS_LOCAL_ADDRS_MAX; i > 0; i--) {
		memset(&e, 0, sizeof(e));
		sc_addr(HS_FAMILY_IPV6, i, &e.addr);
		e.family = HS_FAMILY_IPV6;
		e.prefix = 128;
		e.ifindex = 2;
		assert_int_equal(hs_local_addrs_add(set, &e), HS_LOCAL_ADDRS_CHANGED);
	}
	for (uint32_t i = 1; i + 1 < HS_LOCAL_ADDRS_MAX; i++)
		assert_true(memcmp(&set->hosts[i].addr, &set->hosts[i + 1].addr, sizeof(e.addr)) < 0);
	assert_int_equal(add(set, "10.9.9.9", 32, 2), HS_LOCAL_ADDRS_FULL);
	assert_false(contains(set, "10.9.9.9"));
	for (uint32_t i = 1; i <= HS_LOCAL_ADDRS_MAX; i++) {
		struct hs_addr a;
		sc_addr(HS_FAMILY_IPV6, i, &a);
		assert_true(hs_local_addrs_contains(set, HS_FAMILY_IPV6, &a));
	}
	for (int i = 0; i < HS_LOCAL_NETS_MAX; i++) {
		char text[32];
		snprintf(text, sizeof(text), "127.%d.0.1", i);
		assert_int_equal(add(set, text, 16, 1), HS_LOCAL_ADDRS_CHANGED);
	}
	assert_int_equal(add(set, "127.99.0.1", 16, 1), HS_LOCAL_ADDRS_FULL);
	assert_int_equal(hs_local_addrs_count(set), HS_LOCAL_ADDRS_MAX + HS_LOCAL_NETS_MAX);

	e = entry("10.0.0.1", 33, 2);
	assert_int_equal(hs_local_addrs_add(set, &e), HS_LOCAL_ADDRS_INVALID);
	e = entry("fd00::1", 129, 2);
	assert_int_equal(hs_local_addrs_add(set, &e), HS_LOCAL_ADDRS_INVALID);
	e.family = 5;
	e.prefix = 32;
	assert_int_equal(hs_local_addrs_remove(set, &e), HS_LOCAL_ADDRS_INVALID);
	/* Junk in the bytes an IPv4 address does not use is ignored, not stored. */
	hs_local_addrs_init(set);
	e = entry("10.1.2.3", 32, 2);
	memset(e.addr.bytes + 4, 0xee, 12);
	assert_int_equal(hs_local_addrs_add(set, &e), HS_LOCAL_ADDRS_CHANGED);
	assert_true(contains(set, "10.1.2.3"));
	sc_free(set);
}

/* ---- the table ---- */

static struct hs_local_addrs *host_set(void)
{
	struct hs_local_addrs *set = sc_alloc(sizeof(*set));

	hs_local_addrs_init(set);
	assert_int_equal(add(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_CHANGED);   /* sc host 1 */
	assert_int_equal(add(set, "fd00::1", 128, 2), HS_LOCAL_ADDRS_CHANGED);
	assert_int_equal(add(set, "127.0.0.1", 8, 1), HS_LOCAL_ADDRS_CHANGED);
	return set;
}

static const char *json_local(struct hs_table *t, const struct hs_flow *f)
{
	static char buf[HS_FLOW_JSON_MAX];
	size_t n = hs_flow_json(buf, sizeof(buf), t, f, 0);

	assert_true(n > 0);
	const char *p = strstr(buf, "\"local\":");
	assert_non_null(p);
	return p + strlen("\"local\":");
}

static void test_table_marks_local_side(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(64, false, 0);
	struct hs_local_addrs *set = host_set();
	struct sc_conn out, in, router, v6;
	struct hs_flow *f;

	hs_table_set_local_addrs(t, set);
	sc_conn_init(&out, HS_FAMILY_IPV4, 1, 40000, 2, 80);     /* this host connects out */
	sc_conn_init(&in, HS_FAMILY_IPV4, 3, 40001, 1, 22);      /* a peer connects in */
	sc_conn_init(&router, HS_FAMILY_IPV4, 3, 40002, 4, 80);  /* neither end is ours */
	sc_conn_init(&v6, HS_FAMILY_IPV6, 1, 40003, 5, 443);

	f = sc_open(t, &out, 0);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));
	assert_true(f->bytes_hi_marks[HS_CLIENT] & HS_LOCAL);
	assert_false(f->bytes_hi_marks[HS_SERVER] & HS_LOCAL);
	assert_true(strncmp(json_local(t, f), "\"client\",", 9) == 0);
	/* The mark survives the connection's whole life, through every state. */
	f = sc_close(t, &out, 100);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));

	f = sc_open(t, &in, 0);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_SERVER));
	assert_true(strncmp(json_local(t, f), "\"server\",", 9) == 0);
	f = sc_open(t, &router, 0);
	assert_int_equal(hs_flow_local_sides(f), 0);
	assert_true(strncmp(json_local(t, f), "null,", 5) == 0);
	f = sc_open(t, &v6, 0);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));

	/* Loopback: 127.0.0.1 to 127.0.0.2, both inside the local /8. */
	struct sc_conn lo;
	sc_conn_init(&lo, HS_FAMILY_IPV4, 1, 40004, 1, 8080);
	lo.addr[HS_CLIENT].bytes[0] = 127, lo.addr[HS_CLIENT].bytes[3] = 1;
	lo.addr[HS_SERVER].bytes[0] = 127, lo.addr[HS_SERVER].bytes[3] = 2;
	f = sc_open(t, &lo, 0);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT) | HS_SIDE_BIT(HS_SERVER));
	assert_true(strncmp(json_local(t, f), "\"both\",", 7) == 0);

	/* The list filters: the host's own end, and its peer. */
	struct hs_flow_match flt;
	hs_flow_match_init(&flt);
	flt.local_state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_count(t, &flt), 3);     /* in, v6, loopback; out is closed */
	flt.local_state = HS_STATE_SET(HS_TCP_TIME_WAIT);
	assert_int_equal(hs_table_count(t, &flt), 1);     /* out: the host closed first */
	flt.local_state.bits = 0;
	flt.remote_state = HS_STATE_SET(HS_TCP_CLOSED);
	assert_int_equal(hs_table_count(t, &flt), 1);     /* out's server; loopback has no remote end */
	flt.remote_state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	assert_int_equal(hs_table_count(t, &flt), 2);     /* in's client, v6's server; not the router's flow */

	/* The text line puts a '*' before the local endpoint. */
	char line[512];
	f = sc_conn_lookup(t, &in);
	assert_true(hs_flow_text(line, sizeof(line), t, f, 0) > 0);
	assert_non_null(strstr(line, " 10.0.0.3:40001 "));
	assert_non_null(strstr(line, " *10.0.0.1:22 "));
	sc_free(set);
}

/* A new set applies to new flows; tracked ones keep the mark they were created with. */
static void test_table_set_changes(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(64, false, 0);
	struct hs_local_addrs *set = host_set();
	struct sc_conn a, b;
	struct hs_flow *f;

	sc_conn_init(&a, HS_FAMILY_IPV4, 1, 40000, 2, 80);
	sc_conn_init(&b, HS_FAMILY_IPV4, 1, 40001, 2, 80);
	f = sc_open(t, &a, 0);
	assert_int_equal(hs_flow_local_sides(f), 0);      /* no set yet: a router */
	hs_table_set_local_addrs(t, set);
	f = sc_open(t, &b, 0);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));
	f = sc_conn_lookup(t, &a);
	assert_int_equal(hs_flow_local_sides(f), 0);
	hs_table_set_local_addrs(t, NULL);
	f = sc_conn_lookup(t, &b);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));
	/* The table keeps its own copy: changing the caller's set changes nothing. */
	hs_table_set_local_addrs(t, set);
	assert_int_equal(del(set, "10.0.0.1", 32, 2), HS_LOCAL_ADDRS_CHANGED);
	struct sc_conn c;
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40002, 2, 80);
	f = sc_open(t, &c, 0);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));
	sc_free(set);
}

/* A SYN from the old server reopens a closed tuple: client and server swap, the marks follow the addresses. */
static void test_table_restart_swaps_marks(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(64, false, 0);
	struct hs_local_addrs *set = host_set();
	struct sc_conn first, second;
	struct hs_track_result res;
	struct hs_flow *f;

	hs_table_set_local_addrs(t, set);
	sc_conn_init(&first, HS_FAMILY_IPV4, 1, 40000, 2, 5000);
	f = sc_open(t, &first, 0);
	f = sc_close(t, &first, 10);
	assert_int_equal(f->state[HS_SERVER], HS_TCP_CLOSED);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_CLIENT));
	/* The peer (old server, 10.0.0.2:5000) now opens a connection to the same port pair. */
	sc_conn_init(&second, HS_FAMILY_IPV4, 2, 5000, 1, 40000);
	second.isn[HS_CLIENT] = second.next[HS_CLIENT] = 0x70000000u;
	f = sc_send(t, &second, HS_CLIENT, HS_TCP_SYN, 0, 20, &res);
	assert_non_null(f);
	assert_true(res.events & HS_EVENT_RESTART);
	assert_int_equal(hs_flow_port(f, HS_CLIENT), 5000);
	assert_int_equal(hs_flow_local_sides(f), HS_SIDE_BIT(HS_SERVER));
	sc_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_add_remove_lookup, sc_teardown),
		cmocka_unit_test_teardown(test_same_address_two_interfaces, sc_teardown),
		cmocka_unit_test_teardown(test_local_prefixes, sc_teardown),
		cmocka_unit_test_teardown(test_capacity_and_invalid, sc_teardown),
		cmocka_unit_test_teardown(test_table_marks_local_side, sc_teardown),
		cmocka_unit_test_teardown(test_table_set_changes, sc_teardown),
		cmocka_unit_test_teardown(test_table_restart_swaps_marks, sc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
