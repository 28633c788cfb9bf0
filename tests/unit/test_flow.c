/*
 * test_flow: the flow key's order and comparison and the history's
 * letters (daemon/core/flow.c, include/core/hs_flow.h), which work on
 * words where they once called memcmp or looped over bytes.  Each is held
 * to its byte-wise definition on random input:
 *
 * - hs_flow_key_from_packet puts first the endpoint whose address is
 *   lower as memcmp orders them (then the lower port), whatever the
 *   packet's direction.  Snapshots store keys in that order, so it must
 *   never change.
 * - hs_flow_has_key is true exactly when the family, both ports and both
 *   addresses (4 bytes for IPv4, 16 for IPv6) are equal byte for byte.
 * - hs_flow_history_add records an event in the first free nibble unless
 *   the side's event is there already or the twelve are full.
 * - An 'A' the common path noted (HS_EP_SEEN_ACK) reads, in the history as it
 *   stands, as if recorded just before the next event recorded after it.
 *
 * Addresses are drawn so that pairs often share a prefix (of 8 or 15
 * bytes, where a word compare could go wrong) and bytes often have the
 * high bit set (where a signed compare would).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "test_random.h"

#define ROUNDS 200000u

static struct test_random rng = { 0x2545f4914f6cdd1dull };

static uint8_t random_byte(void)
{
	/* Mostly the values around the sign bit and the ends, where compares go wrong. */
	static const uint8_t edges[] = { 0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff };
	uint64_t r = test_random_next(&rng);

	return (r & 1) ? edges[(r >> 8) % sizeof(edges)] : (uint8_t)(r >> 56);
}

static void random_addr(struct hs_addr *a, uint8_t family)
{
	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < (family == HS_FAMILY_IPV6 ? 16u : 4u); i++)
		a->bytes[i] = random_byte();
}

/* b as a copy of a sharing a prefix of 0, 8 or 15 bytes (or all), the rest drawn anew. */
static void related_addr(const struct hs_addr *a, struct hs_addr *b, uint8_t family)
{
	static const size_t prefixes[] = { 0, 3, 8, 15, 16 };
	size_t len = family == HS_FAMILY_IPV6 ? 16 : 4;
	size_t keep = prefixes[test_random_next(&rng) % 5];

	*b = *a;
	for (size_t i = keep < len ? keep : len; i < len; i++)
		b->bytes[i] = random_byte();
}

static uint16_t random_port(void)
{
	static const uint16_t edges[] = { 0, 1, 80, 0x7fff, 0x8000, 0xffff };
	uint64_t r = test_random_next(&rng);

	return (r & 1) ? edges[(r >> 8) % 6] : (uint16_t)(r >> 48);
}

static void test_key_order_is_memcmp_order(void **state)
{
	(void)state;
	struct hs_packet pkt;
	struct hs_flow_key key;
	bool src_is_0;

	for (uint32_t i = 0; i < ROUNDS; i++) {
		memset(&pkt, 0, sizeof(pkt));
		pkt.family = (i & 1) ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
		random_addr(&pkt.src, pkt.family);
		related_addr(&pkt.src, &pkt.dst, pkt.family);
		pkt.sport = random_port();
		pkt.dport = (test_random_next(&rng) & 3) ? random_port() : pkt.sport;

		int cmp = memcmp(pkt.src.bytes, pkt.dst.bytes, 16);
		bool want = cmp < 0 || (cmp == 0 && pkt.sport <= pkt.dport);
		hs_flow_key_from_packet(&pkt, &key, &src_is_0);
		if (src_is_0 != want)
			fail_msg("round %u: src_is_0 %d, memcmp order says %d", i, src_is_0, want);
		assert_memory_equal(&key.addr[want ? 0 : 1], &pkt.src, sizeof(pkt.src));
		assert_memory_equal(&key.addr[want ? 1 : 0], &pkt.dst, sizeof(pkt.dst));
		assert_int_equal(key.port[want ? 0 : 1], pkt.sport);
		assert_int_equal(key.port[want ? 1 : 0], pkt.dport);
	}
}

/* The definition: family, ports and the family's address bytes equal. */
static bool has_key_bytewise(const struct hs_flow_v6 *rec, uint8_t rec_family, const struct hs_flow_key *key,
			     uint8_t family)
{
	if (rec_family != family || memcmp(rec->flow.port, key->port, sizeof(key->port)) != 0)
		return false;
	if (family == HS_FAMILY_IPV6)
		return memcmp(rec->addr, key->addr, sizeof(key->addr)) == 0;
	return memcmp(rec->flow.addr4[0], key->addr[0].bytes, 4) == 0 &&
	       memcmp(rec->flow.addr4[1], key->addr[1].bytes, 4) == 0;
}

static void test_has_key_is_bytewise_equality(void **state)
{
	(void)state;
	struct hs_flow_v6 rec;
	struct hs_flow_key key, probe;
	uint32_t matched = 0, missed = 0;

	for (uint32_t i = 0; i < ROUNDS; i++) {
		uint8_t family = (i & 1) ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
		uint8_t probe_family = (test_random_next(&rng) % 8) ? family : (uint8_t)(HS_FAMILY_IPV4 + HS_FAMILY_IPV6 - family);

		memset(&key, 0, sizeof(key));
		random_addr(&key.addr[0], family);
		random_addr(&key.addr[1], family);
		key.port[0] = random_port();
		key.port[1] = random_port();
		memset(&rec, 0, sizeof(rec));
		hs_flow_key_set(&rec, &key, family);

		/* The same key, or one differing in an address (often by a byte or two) or a port. */
		probe = key;
		switch (test_random_next(&rng) % 4) {
		case 0:
			break;
		case 1:
			related_addr(&key.addr[0], &probe.addr[0], family);
			break;
		case 2:
			related_addr(&key.addr[1], &probe.addr[1], family);
			break;
		default:
			probe.port[test_random_next(&rng) & 1] = random_port();
			break;
		}
		bool want = has_key_bytewise(&rec, family, &probe, probe_family);
		if (hs_flow_has_key(&rec.flow, &probe, probe_family) != want)
			fail_msg("round %u (IPv%u record, IPv%u key): hs_flow_has_key says %d", i, family, probe_family,
				 !want);
		want ? matched++ : missed++;
	}
	/* Both answers were exercised many times. */
	assert_true(matched > ROUNDS / 8 && missed > ROUNDS / 8);
}

static unsigned nibble(const uint8_t *history, unsigned i)
{
	return (history[i / 2] >> ((i % 2) * 4)) & 0xf;
}

/* The definition, one nibble at a time. */
static void history_add_bytewise(uint8_t *history, unsigned code)
{
	for (unsigned i = 0; i < HS_HISTORY_MAX; i++) {
		unsigned cur = nibble(history, i);

		if (cur == code)
			return;
		if (cur == 0) {
			history[i / 2] |= (uint8_t)(code << ((i % 2) * 4));
			return;
		}
	}
}

static void test_history_add_as_defined(void **state)
{
	(void)state;
	struct hs_flow f;
	uint8_t want[HS_HISTORY_MAX / 2];
	uint32_t full = 0;

	for (uint32_t i = 0; i < ROUNDS / 4; i++) {
		/* A history of 0 to 12 distinct random events, as packets leave them, then one more. */
		unsigned events = (unsigned)(test_random_next(&rng) % (HS_HISTORY_MAX + 1));

		memset(&f, 0, sizeof(f));
		memset(want, 0, sizeof(want));
		for (unsigned e = 0; e <= events; e++) {
			enum hs_side side = (test_random_next(&rng) & 1) ? HS_SERVER : HS_CLIENT;
			enum hs_history_event ev = (enum hs_history_event)(HS_HIST_SYN + test_random_next(&rng) % 7);

			history_add_bytewise(want, ev | (side == HS_SERVER ? 8u : 0u));
			hs_flow_history_add(&f, side, ev);
			if (memcmp(f.history, want, sizeof(want)) != 0)
				fail_msg("round %u, event %u (%c%u): history differs from the definition", i, e,
					 side == HS_SERVER ? 's' : 'c', ev);
		}
		full += nibble(want, HS_HISTORY_MAX - 1) != 0;
	}
	/* Full histories were among them (all 14 letters exist; the last nibble was reached). */
	assert_true(full > 0);
}

/* The noted 'A's, client's first, into the definition's history (bytewise). */
static void flush_noted_bytewise(uint8_t *history, bool noted[2])
{
	for (int side = HS_CLIENT; side <= HS_SERVER; side++)
		if (noted[side])
			history_add_bytewise(history, HS_HIST_ACK | (side == HS_SERVER ? 8u : 0u));
	noted[HS_CLIENT] = noted[HS_SERVER] = false;
}

/*
 * The common path notes a pure ACK's 'A' (HS_EP_SEEN_ACK) rather than
 * writing it.  The history as it stands (hs_flow_history_due, and the
 * letters) must then read as if each noted 'A' had been recorded just
 * before the next event recorded after it: where it happened, but for
 * two sides' 'A's noted between the same two events, client's first.
 * A side whose 'D' is recorded, or whose 'D' a full history dropped,
 * is marked HS_EP_SEEN_DATA.
 */
static void test_noted_ack_stands_where_it_happened(void **state)
{
	(void)state;
	uint32_t noted_count = 0, full = 0;

	for (uint32_t i = 0; i < ROUNDS / 4; i++) {
		unsigned events = (unsigned)(test_random_next(&rng) % (2 * HS_HISTORY_MAX));
		struct hs_flow f;
		uint8_t want[HS_HISTORY_MAX / 2];
		bool noted[2] = { false, false }, data_due[2] = { false, false };

		memset(&f, 0, sizeof(f));
		memset(want, 0, sizeof(want));
		for (unsigned e = 0; e < events; e++) {
			enum hs_side side = (test_random_next(&rng) & 1) ? HS_SERVER : HS_CLIENT;
			enum hs_history_event ev = (enum hs_history_event)(HS_HIST_SYN + test_random_next(&rng) % 7);

			if (ev == HS_HIST_ACK && (test_random_next(&rng) & 1)) {
				f.ep_flags[side] |= HS_EP_SEEN_ACK;
				noted[side] = true;
				noted_count++;
				continue;
			}
			flush_noted_bytewise(want, noted);
			history_add_bytewise(want, ev | (side == HS_SERVER ? 8u : 0u));
			hs_flow_history_add(&f, side, ev);
			data_due[side] |= ev == HS_HIST_DATA;
		}
		uint8_t shown[HS_HISTORY_MAX / 2];
		uint64_t due = hs_flow_history_due(&f);

		flush_noted_bytewise(want, noted);
		for (unsigned b = 0; b < sizeof(shown); b++)
			shown[b] = (uint8_t)(due >> (8 * b));
		if (memcmp(shown, want, sizeof(want)) != 0)
			fail_msg("round %u: the history as it stands differs from the definition", i);
		for (int side = HS_CLIENT; side <= HS_SERVER; side++)
			if (data_due[side] != ((f.ep_flags[side] & HS_EP_SEEN_DATA) != 0))
				fail_msg("round %u: side %d's data mark is wrong", i, side);
		full += nibble(want, HS_HISTORY_MAX - 1) != 0;
	}
	assert_true(noted_count > ROUNDS / 8 && full > 0);
}

/* The story of a connection, letters and all: the server's first pure ACK noted, then data recorded. */
static void test_noted_ack_in_the_letters(void **state)
{
	(void)state;
	struct hs_flow f;
	char buf[HS_HISTORY_MAX + 1];

	memset(&f, 0, sizeof(f));
	hs_flow_history_add(&f, HS_CLIENT, HS_HIST_SYN);
	hs_flow_history_add(&f, HS_SERVER, HS_HIST_SYNACK);
	hs_flow_history_add(&f, HS_CLIENT, HS_HIST_ACK);
	f.ep_flags[HS_SERVER] |= HS_EP_SEEN_ACK;
	hs_flow_history_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "ShAa");
	hs_flow_history_add(&f, HS_CLIENT, HS_HIST_DATA);
	hs_flow_history_add(&f, HS_SERVER, HS_HIST_DATA);
	hs_flow_history_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "ShAaDd");
	/* The byte counts keep clear of the marks, and the marks of them. */
	f.bytes_hi_marks[HS_SERVER] |= HS_LOCAL | HS_SENT_WSCALE;
	hs_flow_set_bytes(&f, HS_SERVER, HS_FLOW_BYTES_MAX);
	assert_true(hs_flow_bytes(&f, HS_SERVER) == HS_FLOW_BYTES_MAX);
	assert_true((f.bytes_hi_marks[HS_SERVER] & ~HS_BYTES_HI_MASK) == (HS_LOCAL | HS_SENT_WSCALE));
	hs_flow_count(&f, HS_SERVER, 1000);
	assert_true(hs_flow_bytes(&f, HS_SERVER) == HS_FLOW_BYTES_MAX);
	assert_true((f.bytes_hi_marks[HS_SERVER] & ~HS_BYTES_HI_MASK) == (HS_LOCAL | HS_SENT_WSCALE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_order_is_memcmp_order),
		cmocka_unit_test(test_has_key_is_bytewise_equality),
		cmocka_unit_test(test_history_add_as_defined),
		cmocka_unit_test(test_noted_ack_stands_where_it_happened),
		cmocka_unit_test(test_noted_ack_in_the_letters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
