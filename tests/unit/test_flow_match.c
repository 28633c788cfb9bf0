/*
 * test_flow_match: unit tests of daemon/core/flow_match.c, the one matcher
 * behind a policy's match and handshakectl's filters: whether a flow's
 * endpoint states (one or several per key), family, addresses, ports, id
 * and times satisfy it, and whether an address lies in a CIDR list.  Flows are
 * built by hand, with the client as key endpoint 0 and as endpoint 1, so
 * that every check is seen to follow the client and server sides rather
 * than the key's order.  A final test parses policies from YAML and matches
 * flows against the result, to tie the loader's CIDRs and ranges to the
 * matcher that reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hs_config.h"
#include "hs_flow.h"
#include "hs_flow_match.h"
#include "hs_policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static struct hs_addr addr(const char *text, uint8_t *family)
{
	struct hs_addr a;
	uint8_t f;

	assert_true(hs_addr_parse(text, &a, &f));
	if (family)
		*family = f;
	return a;
}

/*
 * A tracked flow from client to server, with the client as key endpoint 0
 * or 1 as asked (the table decides that by comparing addresses, which a
 * hand-built flow need not respect: the matcher must not care).
 */
static struct hs_flow_v6 make_flow(const char *client, uint16_t client_port, const char *server,
				   uint16_t server_port, bool client_is_0, int client_state, int server_state)
{
	struct hs_flow_v6 flow;
	struct hs_flow_key key;
	uint8_t client_family, server_family;
	int c = client_is_0 ? 0 : 1;

	memset(&flow, 0, sizeof(flow));
	memset(&key, 0, sizeof(key));
	key.addr[c] = addr(client, &client_family);
	key.addr[!c] = addr(server, &server_family);
	assert_int_equal(client_family, server_family);
	key.port[c] = client_port;
	key.port[!c] = server_port;
	hs_flow_key_set(&flow, &key, client_family);
	flow.flow.flags = HS_FLOW_IN_USE | (client_is_0 ? HS_FLOW_CLIENT_IS_0 : 0);
	flow.flow.state[HS_CLIENT] = (uint8_t)client_state;
	flow.flow.state[HS_SERVER] = (uint8_t)server_state;
	return flow;
}

/* A match with every key absent. */
static struct hs_flow_match any(void)
{
	struct hs_flow_match m;

	memset(&m, 0, sizeof(m));
	hs_flow_match_init(&m);
	return m;
}

/* A state key holding one state, or absent for -1. */
static struct hs_state_set key(int state)
{
	struct hs_state_set set = { 0 };

	hs_state_set_add(&set, state);
	return set;
}

/* Reference: whether bit i (from the most significant) of an address is set. */
static bool bit(const struct hs_addr *a, unsigned i)
{
	return (a->bytes[i / 8] >> (7 - i % 8)) & 1;
}

/* A CIDR as the loader stores it: host bits cleared, one bit at a time. */
static struct hs_cidr cidr(const char *text, uint8_t prefix)
{
	struct hs_cidr c;

	memset(&c, 0, sizeof(c));
	c.addr = addr(text, &c.family);
	c.prefix = prefix;
	for (unsigned i = prefix; i < 128; i++)
		c.addr.bytes[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return c;
}

/* Reference: bit by bit, the slow and obvious way. */
static bool reference_contains(const struct hs_cidr *c, uint8_t family, const struct hs_addr *a)
{
	if (c->family != family)
		return false;
	for (unsigned i = 0; i < c->prefix; i++)
		if (bit(&c->addr, i) != bit(a, i))
			return false;
	return true;
}

/* Checks a match on both key orders of the same connection. */
static void expect_match(const struct hs_flow_match *m, const char *client, uint16_t client_port,
			 const char *server, uint16_t server_port, int client_state, int server_state,
			 bool want)
{
	for (int order = 0; order < 2; order++) {
		struct hs_flow_v6 flow = make_flow(client, client_port, server, server_port, order == 0,
						client_state, server_state);
		if (hs_flow_match_flow(m, &flow.flow) != want) {
			print_error("%s:%u (%s) -> %s:%u (%s), client is key endpoint %d: expected %s\n",
				    client, client_port, hs_tcp_state_name((enum hs_tcp_state)client_state),
				    server, server_port, hs_tcp_state_name((enum hs_tcp_state)server_state),
				    order, want ? "a match" : "no match");
			fail();
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

/* Reference for the end-host keys: which endpoints are local, written out per case. */
static bool reference_local(int local_state, int remote_state, int cs, int ss, unsigned local)
{
	bool client_local = local & 1, server_local = local & 2;
	bool local_ok = local_state < 0 || (client_local && cs == local_state) || (server_local && ss == local_state);
	bool remote_ok;

	if (remote_state < 0)
		remote_ok = true;
	else if (client_local && !server_local)
		remote_ok = ss == remote_state;
	else if (server_local && !client_local)
		remote_ok = cs == remote_state;
	else
		remote_ok = false;      /* a router (no local end), or the host talking to itself (no remote end) */
	return local_ok && remote_ok;
}

/* local_state and remote_state against every state pair and every set of local endpoints. */
static void test_local_remote_states(void **state)
{
	static const int choices[] = { -1, HS_TCP_SYN_SENT, HS_TCP_ESTABLISHED, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2 };

	(void)state;
	for (size_t a = 0; a < ARRAY_SIZE(choices); a++) {
		for (size_t b = 0; b < ARRAY_SIZE(choices); b++) {
			struct hs_flow_match m = any();
			m.local_state = key(choices[a]);
			m.remote_state = key(choices[b]);
			for (int cs = 0; cs < HS_TCP_STATE_COUNT; cs++) {
				for (int ss = 0; ss < HS_TCP_STATE_COUNT; ss++) {
					for (unsigned local = 0; local < 4; local++) {
						struct hs_flow_v6 flow = make_flow("10.0.0.1", 1000, "10.0.0.2", 80,
										(cs + ss + local) % 2 == 0, cs, ss);
						if (local & 1)
							flow.flow.bytes_hi_marks[HS_CLIENT] |= HS_LOCAL;
						if (local & 2)
							flow.flow.bytes_hi_marks[HS_SERVER] |= HS_LOCAL;
						bool want = reference_local(choices[a], choices[b], cs, ss, local);
						assert_int_equal(hs_flow_match_flow(&m, &flow.flow), want);
						assert_int_equal(hs_flow_match_states(&m, cs, ss, local), want);
					}
				}
			}
		}
	}
	/* The usual end-host question: the host's socket stuck in CLOSE_WAIT, whichever side it is. */
	struct hs_flow_match m = any();
	m.local_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	struct hs_flow_v6 out = make_flow("10.0.0.1", 40000, "10.0.0.2", 80, true, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2);
	out.flow.bytes_hi_marks[HS_CLIENT] |= HS_LOCAL;
	assert_true(hs_flow_match_flow(&m, &out.flow));
	/* The host in FIN_WAIT_2 facing a remote CLOSE_WAIT is not the host's CLOSE_WAIT. */
	struct hs_flow_v6 mirror = make_flow("10.0.0.1", 40000, "10.0.0.2", 80, true, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT);
	mirror.flow.bytes_hi_marks[HS_CLIENT] |= HS_LOCAL;
	assert_false(hs_flow_match_flow(&m, &mirror.flow));
	m.local_state = key(-1);
	m.remote_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	assert_true(hs_flow_match_flow(&m, &mirror.flow));
	/* Other marks, and every bit of ep_flags, do not count as local. */
	struct hs_flow_v6 other = make_flow("10.0.0.1", 40000, "10.0.0.2", 80, true, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT);
	other.flow.ep_flags[HS_CLIENT] = other.flow.ep_flags[HS_SERVER] = 0xff;
	other.flow.bytes_hi_marks[HS_CLIENT] = other.flow.bytes_hi_marks[HS_SERVER] = (uint16_t)~HS_LOCAL;
	assert_false(hs_flow_match_flow(&m, &other.flow));
	/* Clearing the states drops the end-host keys too (admission ignores states). */
	m.local_state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	hs_flow_match_clear_states(&m);
	assert_true(hs_flow_match_flow(&m, &other.flow));
	assert_false(hs_flow_match_is_local(&m));
}

static void test_empty_match(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	expect_match(&m, "10.0.0.1", 40000, "10.0.0.2", 80, HS_TCP_SYN_SENT, HS_TCP_LISTEN, true);
	expect_match(&m, "fd00::1", 1, "fd00::2", 65535, HS_TCP_CLOSED, HS_TCP_CLOSED, true);
	expect_match(&m, "0.0.0.0", 0, "255.255.255.255", 0, HS_TCP_LAST_ACK, HS_TCP_TIME_WAIT, true);
}

/* Every pair of endpoint states, against the rule written out plainly. */
static void test_states(void **state)
{
	static const int choices[] = { -1, HS_TCP_CLOSED, HS_TCP_SYN_RCVD, HS_TCP_ESTABLISHED, HS_TCP_CLOSE_WAIT,
				       HS_TCP_LAST_ACK };

	(void)state;
	for (size_t a = 0; a < ARRAY_SIZE(choices); a++) {
		for (size_t b = 0; b < ARRAY_SIZE(choices); b++) {
			for (size_t c = 0; c < ARRAY_SIZE(choices); c++) {
				struct hs_flow_match m = any();
				m.state = key(choices[a]);
				m.client_state = key(choices[b]);
				m.server_state = key(choices[c]);
				for (int cs = 0; cs < HS_TCP_STATE_COUNT; cs++) {
					for (int ss = 0; ss < HS_TCP_STATE_COUNT; ss++) {
						int st = choices[a], cst = choices[b], sst = choices[c];
						bool want = (st < 0 || cs == st || ss == st) && (cst < 0 || cs == cst) &&
							    (sst < 0 || ss == sst);
						struct hs_flow_v6 flow = make_flow("10.0.0.1", 1000, "10.0.0.2", 80,
										(cs + ss) % 2 == 0, cs, ss);
						assert_int_equal(hs_flow_match_flow(&m, &flow.flow), want);
					}
				}
			}
		}
	}

	/* The sides are the client's and the server's, not the key's. */
	struct hs_flow_match m = any();
	m.server_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, true);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, false);
	m = any();
	m.client_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, true);
	m = any();
	m.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, true);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, true);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
}

static void test_cidr_ipv4(void **state)
{
	static const struct {
		const char *net;
		uint8_t prefix;
		const char *address;
		bool inside;
	} cases[] = {
		{ "0.0.0.0", 0, "0.0.0.0", true },
		{ "0.0.0.0", 0, "255.255.255.255", true },
		{ "10.0.0.0", 8, "10.255.255.255", true },
		{ "10.0.0.0", 8, "11.0.0.0", false },
		{ "10.0.0.0", 8, "9.255.255.255", false },
		{ "172.16.0.0", 17, "172.16.127.255", true },
		{ "172.16.0.0", 17, "172.16.128.0", false },
		{ "172.16.128.0", 17, "172.16.128.0", true },
		{ "172.16.128.0", 17, "172.16.255.255", true },
		{ "172.16.128.0", 17, "172.17.128.0", false },
		{ "192.168.1.7", 32, "192.168.1.7", true },
		{ "192.168.1.7", 32, "192.168.1.6", false },
		{ "192.168.1.6", 31, "192.168.1.7", true },
		{ "192.168.1.6", 31, "192.168.1.8", false },
		{ "128.0.0.0", 1, "200.1.2.3", true },
		{ "128.0.0.0", 1, "127.255.255.255", false },
		{ "100.64.0.0", 10, "100.127.255.255", true },
		{ "100.64.0.0", 10, "100.128.0.0", false },
		{ "198.18.0.0", 15, "198.19.255.255", true },
		{ "198.18.0.0", 15, "198.20.0.0", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hs_cidr c = cidr(cases[i].net, cases[i].prefix);
		uint8_t family;
		struct hs_addr a = addr(cases[i].address, &family);
		if (hs_cidr_list_contains(&c, 1, family, &a) != cases[i].inside) {
			print_error("%s in %s/%u: expected %d\n", cases[i].address, cases[i].net, cases[i].prefix,
				    cases[i].inside);
			fail();
		}
		assert_int_equal(reference_contains(&c, family, &a), cases[i].inside);
	}
}

static void test_cidr_ipv6(void **state)
{
	static const struct {
		const char *net;
		uint8_t prefix;
		const char *address;
		bool inside;
	} cases[] = {
		{ "::", 0, "::", true },
		{ "::", 0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true },
		{ "fd00::", 8, "fdff:1::1", true },
		{ "fd00::", 8, "fe00::1", false },
		{ "fe80::", 10, "febf:ffff::1", true },
		{ "fe80::", 10, "fec0::1", false },
		{ "2001:db8::", 32, "2001:db8:ffff::1", true },
		{ "2001:db8::", 32, "2001:db9::", false },
		{ "2001:db8::", 64, "2001:db8::ffff:ffff:ffff:ffff", true },
		{ "2001:db8::", 64, "2001:db8:0:1::", false },
		{ "2001:db8::", 65, "2001:db8::7fff:ffff:ffff:ffff", true },
		{ "2001:db8::", 65, "2001:db8::8000:0:0:0", false },
		{ "2001:db8::8000:0:0:0", 65, "2001:db8::8000:0:0:0", true },
		{ "2001:db8::8000:0:0:0", 65, "2001:db8::ffff:ffff:ffff:ffff", true },
		{ "2001:db8::8000:0:0:0", 65, "2001:db8::7fff:ffff:ffff:ffff", false },
		{ "::1", 128, "::1", true },
		{ "::1", 128, "::2", false },
		{ "::", 127, "::1", true },
		{ "::", 127, "::2", false },
		{ "8000::", 1, "8000::", true },
		{ "8000::", 1, "7fff::", false },
		{ "2001:db8:8000::", 33, "2001:db8:ffff::", true },
		{ "2001:db8:8000::", 33, "2001:db8:7fff::", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hs_cidr c = cidr(cases[i].net, cases[i].prefix);
		uint8_t family;
		struct hs_addr a = addr(cases[i].address, &family);
		if (hs_cidr_list_contains(&c, 1, family, &a) != cases[i].inside) {
			print_error("%s in %s/%u: expected %d\n", cases[i].address, cases[i].net, cases[i].prefix,
				    cases[i].inside);
			fail();
		}
		assert_int_equal(reference_contains(&c, family, &a), cases[i].inside);
	}
}

/* A list matches when any entry does; entries only match their own family. */
static void test_cidr_lists(void **state)
{
	const struct hs_cidr list[] = { cidr("10.0.0.0", 8), cidr("fd00::", 8), cidr("192.168.1.1", 32) };
	const struct hs_cidr v4_any = cidr("0.0.0.0", 0), v6_any = cidr("::", 0);
	uint8_t v4, v6;
	struct hs_addr a4 = addr("10.1.2.3", &v4), b4 = addr("192.168.1.1", NULL), c4 = addr("192.168.1.2", NULL);
	struct hs_addr a6 = addr("fd12::3", &v6), b6 = addr("fe80::1", NULL);

	(void)state;
	assert_true(hs_cidr_list_contains(list, 3, v4, &a4));
	assert_true(hs_cidr_list_contains(list, 3, v4, &b4));
	assert_false(hs_cidr_list_contains(list, 3, v4, &c4));
	assert_true(hs_cidr_list_contains(list, 3, v6, &a6));
	assert_false(hs_cidr_list_contains(list, 3, v6, &b6));
	/* Only the first n entries count, and an empty list holds nothing. */
	assert_false(hs_cidr_list_contains(list, 1, v4, &b4));
	assert_false(hs_cidr_list_contains(list, 0, v4, &a4));
	/* 0.0.0.0/0 holds every IPv4 address and no IPv6 one, and the other way round. */
	assert_true(hs_cidr_list_contains(&v4_any, 1, v4, &a4));
	assert_false(hs_cidr_list_contains(&v4_any, 1, v6, &a6));
	assert_true(hs_cidr_list_contains(&v6_any, 1, v6, &a6));
	assert_false(hs_cidr_list_contains(&v6_any, 1, v4, &a4));
	/* An IPv4 address's bytes, read as IPv6, are ::-prefixed: the family must still decide. */
	struct hs_cidr v6_zero = cidr("::", 96);
	assert_false(hs_cidr_list_contains(&v6_zero, 1, v4, &a4));
}

/* Random addresses and prefixes of every length, against the bit-by-bit reference. */
static void test_cidr_random(void **state)
{
	uint64_t seed = 0x9E3779B97F4A7C15ull;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		struct hs_cidr c;
		struct hs_addr a;
		uint8_t family = round % 2 ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
		unsigned bits = family == HS_FAMILY_IPV4 ? 32 : 128;

		memset(&c, 0, sizeof(c));
		memset(&a, 0, sizeof(a));
		for (unsigned i = 0; i < bits / 8; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			a.bytes[i] = (uint8_t)(seed >> 56);
			c.addr.bytes[i] = (uint8_t)(seed >> 48);
		}
		c.family = family;
		c.prefix = (uint8_t)((seed >> 32) % (bits + 1));
		/* Half the time, make the address share the prefix so that both answers occur. */
		if ((seed >> 20) & 1)
			for (unsigned i = 0; i < c.prefix; i++)
				if (bit(&a, i) != bit(&c.addr, i))
					a.bytes[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
		for (unsigned i = c.prefix; i < 128; i++)
			c.addr.bytes[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
		if (hs_cidr_list_contains(&c, 1, family, &a) != reference_contains(&c, family, &a)) {
			char net[64], text[64];
			print_error("%s in %s/%u: reference says %d\n", hs_addr_format(&a, family, text, sizeof(text)),
				    hs_addr_format(&c.addr, family, net, sizeof(net)), c.prefix,
				    reference_contains(&c, family, &a));
			fail();
		}
	}
}

/* src is the client's address and dst the server's, whichever key endpoint each is. */
static void test_address_sides(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	m.n_src = 1;
	m.src[0] = cidr("10.0.0.0", 8);
	expect_match(&m, "10.1.1.1", 5000, "192.0.2.1", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "192.0.2.1", 5000, "10.1.1.1", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	/* An IPv6 flow never matches an IPv4-only list. */
	expect_match(&m, "fd00::1", 5000, "fd00::2", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);

	m = any();
	m.n_dst = 2;
	m.dst[0] = cidr("192.0.2.0", 24);
	m.dst[1] = cidr("2001:db8::", 32);
	expect_match(&m, "10.1.1.1", 5000, "192.0.2.1", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "192.0.2.1", 5000, "10.1.1.1", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	expect_match(&m, "fd00::1", 5000, "2001:db8::80", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "2001:db8::80", 5000, "fd00::1", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);

	/* Both keys must hold. */
	m.n_src = 1;
	m.src[0] = cidr("fd00::", 8);
	expect_match(&m, "fd00::1", 5000, "2001:db8::80", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "fe80::1", 5000, "2001:db8::80", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	expect_match(&m, "10.1.1.1", 5000, "192.0.2.1", 443, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
}

static void test_ports(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	m.n_dst_ports = 3;
	m.dst_ports[0] = (struct hs_port_range){ 80, 80 };
	m.dst_ports[1] = (struct hs_port_range){ 443, 443 };
	m.dst_ports[2] = (struct hs_port_range){ 8000, 8080 };
	static const struct {
		uint16_t port;
		bool inside;
	} cases[] = {
		{ 80, true }, { 79, false }, { 81, false }, { 443, true }, { 7999, false }, { 8000, true },
		{ 8040, true }, { 8080, true }, { 8081, false }, { 1, false }, { 65535, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		/* The server's port decides dst_port; the client's is not looked at. */
		expect_match(&m, "10.0.0.1", 443, "10.0.0.2", cases[i].port, HS_TCP_SYN_SENT, HS_TCP_LISTEN,
			     cases[i].inside);
		expect_match(&m, "10.0.0.1", cases[i].port, "10.0.0.2", 9, HS_TCP_SYN_SENT, HS_TCP_LISTEN, false);
	}

	m = any();
	m.n_src_ports = 1;
	m.src_ports[0] = (struct hs_port_range){ 1024, 65535 };
	expect_match(&m, "10.0.0.1", 1024, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.1", 65535, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.1", 1023, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	expect_match(&m, "10.0.0.1", 80, "10.0.0.2", 2000, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);

	/* The full range and the edges. */
	m = any();
	m.n_dst_ports = 1;
	m.dst_ports[0] = (struct hs_port_range){ 1, 65535 };
	expect_match(&m, "10.0.0.1", 1, "10.0.0.2", 1, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.1", 1, "10.0.0.2", 65535, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
}

/* Every key must hold at once; idle and age are the engine's, so they are ignored here. */
static void test_all_keys(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	m.server_state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	m.n_src = 1;
	m.src[0] = cidr("198.51.100.0", 24);
	m.n_dst = 1;
	m.dst[0] = cidr("203.0.113.10", 32);
	m.n_src_ports = 1;
	m.src_ports[0] = (struct hs_port_range){ 32768, 60999 };
	m.n_dst_ports = 1;
	m.dst_ports[0] = (struct hs_port_range){ 443, 443 };
	m.idle_ms = 30000;
	m.state_age_ms = 1;
	expect_match(&m, "198.51.100.7", 40000, "203.0.113.10", 443, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, true);
	expect_match(&m, "198.51.100.7", 40000, "203.0.113.10", 443, HS_TCP_FIN_WAIT_2, HS_TCP_LAST_ACK, false);
	expect_match(&m, "198.51.101.7", 40000, "203.0.113.10", 443, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
	expect_match(&m, "198.51.100.7", 40000, "203.0.113.11", 443, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
	expect_match(&m, "198.51.100.7", 61000, "203.0.113.10", 443, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
	expect_match(&m, "198.51.100.7", 40000, "203.0.113.10", 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
}

/* A key with several states holds when the flow is in any of them; each key still must hold. */
static void test_state_sets(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	m.server_state = key(HS_TCP_CLOSE_WAIT);
	hs_state_set_add(&m.server_state, HS_TCP_LAST_ACK);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, true);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_TIME_WAIT, HS_TCP_LAST_ACK, true);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, false);
	/* Every state set against every pair, as the rule reads. */
	for (unsigned bits = 1; bits < (1u << HS_TCP_STATE_COUNT); bits = bits * 3 + 1) {
		struct hs_flow_match e = any();
		e.state.bits = (uint16_t)(bits & ((1u << HS_TCP_STATE_COUNT) - 1));
		for (int cs = 0; cs < HS_TCP_STATE_COUNT; cs++)
			for (int ss = 0; ss < HS_TCP_STATE_COUNT; ss++) {
				bool want = ((e.state.bits >> cs) & 1) || ((e.state.bits >> ss) & 1);
				assert_int_equal(hs_flow_match_states(&e, cs, ss, 0), want);
			}
	}
	/* Out-of-range states are never in a set, and adding one changes nothing. */
	struct hs_state_set set = { 0 };
	hs_state_set_add(&set, -1);
	hs_state_set_add(&set, HS_TCP_STATE_COUNT);
	assert_int_equal(set.bits, 0);
	assert_false(hs_state_set_has(HS_STATE_SET(HS_TCP_CLOSED), -1));
	assert_false(hs_state_set_has(HS_STATE_SET(HS_TCP_CLOSED), HS_TCP_STATE_COUNT));
	char text[HS_STATE_SET_TEXT_MAX];
	assert_string_equal(hs_state_set_format(text, sizeof(text), m.server_state), "CLOSE_WAIT|LAST_ACK");
	assert_string_equal(hs_state_set_format(text, sizeof(text), set), "");
	set.bits = (uint16_t)((1u << HS_TCP_STATE_COUNT) - 1);
	hs_state_set_format(text, sizeof(text), set);
	assert_non_null(strstr(text, "CLOSED|LISTEN|SYN_SENT"));
	/* A buffer too short keeps what fitted, terminated. */
	assert_string_equal(hs_state_set_format(text, 12, m.server_state), "CLOSE_WAIT");
}

/* The keys only handshakectl's filters give: family, either address, either port, ids. */
static void test_filter_keys(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	m.families = HS_FAMILY_BIT_IPV6;
	expect_match(&m, "fd00::1", 1000, "fd00::2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	m.families |= HS_FAMILY_BIT_IPV4;
	expect_match(&m, "10.0.0.1", 1000, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);

	/* --addr: either end, any of the CIDRs. */
	m = any();
	m.n_addr = 2;
	m.addr[0] = cidr("10.9.0.0", 16);
	m.addr[1] = cidr("fd00:9::", 32);
	expect_match(&m, "10.9.1.1", 1000, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.2", 1000, "10.9.1.1", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.2", 1000, "10.0.0.3", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	expect_match(&m, "fd00::2", 1000, "fd00:9::3", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "fd00::2", 1000, "fd00:8::3", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);

	/* --port: either end, any of the ranges. */
	m = any();
	m.n_ports = 2;
	m.ports[0] = (struct hs_port_range){ 22, 22 };
	m.ports[1] = (struct hs_port_range){ 6000, 6010 };
	expect_match(&m, "10.0.0.1", 22, "10.0.0.2", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.1", 40000, "10.0.0.2", 6005, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(&m, "10.0.0.1", 40000, "10.0.0.2", 6011, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);

	/* --id: any of the ids, and every other key too. */
	m = any();
	struct hs_flow_v6 f = make_flow("10.0.0.1", 1000, "10.0.0.2", 80, true, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	f.flow.id = 17;
	m.n_ids = 2;
	m.ids[0] = 5;
	m.ids[1] = 17;
	assert_true(hs_flow_match_flow(&m, &f.flow));
	m.ids[1] = 18;
	assert_false(hs_flow_match_flow(&m, &f.flow));
	m.ids[1] = 17;
	m.client_state = key(HS_TCP_CLOSE_WAIT);
	assert_false(hs_flow_match_flow(&m, &f.flow));

	/* An empty match has no key; each key makes it not empty. */
	m = any();
	assert_true(hs_flow_match_is_empty(&m));
	m.n_ids = 1;
	assert_false(hs_flow_match_is_empty(&m));
	m = any();
	m.flow_age_ms = 1;
	assert_false(hs_flow_match_is_empty(&m));
	m = any();
	m.remote_state = key(HS_TCP_CLOSED);
	assert_false(hs_flow_match_is_empty(&m));
}

/* Thresholds hold at and past their value ("at least"), each on its own time. */
static void test_times(void **state)
{
	struct hs_flow_match m = any();

	(void)state;
	assert_true(hs_flow_match_times(&m, 0, 0, 0));
	m.idle_ms = 30000;
	assert_false(hs_flow_match_times(&m, 99999, 29999, 99999));
	assert_true(hs_flow_match_times(&m, 0, 30000, 0));
	m = any();
	m.flow_age_ms = 3600000;
	assert_false(hs_flow_match_times(&m, 3599999, 99999999, 99999999));
	assert_true(hs_flow_match_times(&m, 3600000, 0, 0));
	m = any();
	m.state_age_ms = 5000;
	assert_false(hs_flow_match_times(&m, 99999, 99999, 4999));
	assert_true(hs_flow_match_times(&m, 0, 0, 5000));
	m.idle_ms = 10;
	assert_false(hs_flow_match_times(&m, 0, 9, 5000));
	assert_true(hs_flow_match_times(&m, 0, 10, 5000));
}

/* Policies written in YAML, loaded, and matched: the loader and the matcher agree. */
static void test_from_config(void **state)
{
	static const char yaml[] =
		"policies:\n"
		"  - name: internal-web\n"
		"    match: {src: [10.1.2.3/8, \"fd00::1/16\"], dst_port: [80, 443, 8000-8080], server_state: CLOSE_WAIT}\n"
		"    action: log\n"
		"  - name: odd-prefixes\n"
		"    match: {dst: [172.16.200.1/17, \"2001:db8::8000:0:0:1/65\"], src_port: 1024-65535}\n"
		"    action: log\n";
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	hs_diag_init(&diag, "test.yaml", yaml, strlen(yaml));
	assert_int_equal(hs_config_parse(yaml, strlen(yaml), &config, &diag), 0);
	assert_int_equal(diag.errors, 0);
	assert_int_equal(diag.warnings, 4);     /* every CIDR above has host bits set */
	hs_diag_free(&diag);
	const struct hs_flow_match *web = &config.policies.items[0].match;
	const struct hs_flow_match *odd = &config.policies.items[1].match;

	expect_match(web, "10.200.0.1", 5000, "192.0.2.1", 8080, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, true);
	expect_match(web, "fd00:ffff::9", 5000, "fd01::1", 443, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, true);
	expect_match(web, "fd01::9", 5000, "fd00::1", 443, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
	expect_match(web, "10.200.0.1", 5000, "192.0.2.1", 8081, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT, false);
	expect_match(web, "10.200.0.1", 5000, "192.0.2.1", 80, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2, false);

	expect_match(odd, "10.0.0.1", 1024, "172.16.128.0", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(odd, "10.0.0.1", 1024, "172.16.127.255", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	expect_match(odd, "fd00::1", 2000, "2001:db8::ffff:1:2:3", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, true);
	expect_match(odd, "fd00::1", 2000, "2001:db8::7fff:1:2:3", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
	expect_match(odd, "fd00::1", 1023, "2001:db8::ffff:1:2:3", 80, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED, false);
}

/*
 * The matcher runs on every state change a policy set looks at, so its
 * cost is printed (not asserted: sanitizer builds are many times slower)
 * for a match that must read every list to the end.
 */
static void test_speed(void **state)
{
	struct hs_flow_match m = any();
	struct hs_flow_v6 flow = make_flow("fd00::1", 40000, "2001:db8::80", 8443, false, HS_TCP_ESTABLISHED,
					HS_TCP_ESTABLISHED);
	struct timespec t0, t1;
	volatile unsigned matched = 0;
	const unsigned rounds = 1000000;

	(void)state;
	m.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	m.n_src = m.n_dst = m.n_dst_ports = HS_POLICY_LIST_MAX;
	for (unsigned i = 0; i < HS_POLICY_LIST_MAX; i++) {
		char text[32];
		snprintf(text, sizeof(text), "fd%02x::", i + 1);
		m.src[i] = cidr(i + 1 == HS_POLICY_LIST_MAX ? "fd00::" : text, 16);
		snprintf(text, sizeof(text), "2001:db%x::", i);
		m.dst[i] = cidr(i + 1 == HS_POLICY_LIST_MAX ? "2001:db8::" : text, 32);
		m.dst_ports[i] = (struct hs_port_range){ (uint16_t)(100 * i + 1), (uint16_t)(100 * i + 50) };
	}
	m.dst_ports[HS_POLICY_LIST_MAX - 1] = (struct hs_port_range){ 8443, 8443 };
	assert_true(hs_flow_match_flow(&m, &flow.flow));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < rounds; i++)
		matched += hs_flow_match_flow(&m, &flow.flow);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(matched, rounds);
	double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / rounds;
	print_message("  worst-case match (3 lists of 16, IPv6): %.1f ns\n", ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_match),
		cmocka_unit_test(test_states),
		cmocka_unit_test(test_local_remote_states),
		cmocka_unit_test(test_cidr_ipv4),
		cmocka_unit_test(test_cidr_ipv6),
		cmocka_unit_test(test_cidr_lists),
		cmocka_unit_test(test_cidr_random),
		cmocka_unit_test(test_address_sides),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_state_sets),
		cmocka_unit_test(test_filter_keys),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_from_config),
		cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
