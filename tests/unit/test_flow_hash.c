/*
 * test_flow_hash: the flow table's hash of a flow key (hs_flow_hash.h) is
 * exactly SipHash-1-3 (hs_siphash, checked against the reference vectors
 * in test_table) over the bytes the table hashed before it had its own
 * function: addr[0], addr[1] (4 bytes each for IPv4, 16 for IPv6),
 * port[0], port[1] as they lie in memory, and the family.  Bucket
 * positions therefore did not move, and the defence against hash flooding
 * (test_hash_spread) rests on SipHash as before.
 *
 * Keys, hash keys and families are drawn at random (a fixed seed, so a
 * failure repeats); corner keys (all zero, all ones) are added by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow_hash.h"
#include "hs_siphash.h"
#include "scenario.h"
#include "test_random.h"

#define RANDOM_KEYS 200000u

static struct test_random rng = { 0x9e3779b97f4a7c15ull };

/* The reference: the key's bytes laid out in a buffer, then the generic hash. */
static uint64_t reference_hash(const uint8_t hash_key[16], const struct hs_flow_key *key, uint8_t family)
{
	uint8_t buf[SC_KEY_BYTES_MAX];

	return hs_siphash(hash_key, buf, sc_key_bytes(key, family, buf));
}

static void expect_same(const uint8_t hash_key[16], const struct hs_flow_key *key, uint8_t family, uint32_t i)
{
	uint64_t want = reference_hash(hash_key, key, family), got = hs_flow_hash(hash_key, key, family);

	if (got != want)
		fail_msg("key %u (IPv%u): hs_flow_hash %#llx, hs_siphash over its bytes %#llx", i, family,
			 (unsigned long long)got, (unsigned long long)want);
}

/* A key as the parser builds it: an IPv4 address's last twelve bytes are zero. */
static void random_key(struct hs_flow_key *key, uint8_t family)
{
	memset(key, 0, sizeof(*key));
	for (int e = 0; e < 2; e++)
		test_random_fill(&rng, key->addr[e].bytes, family == HS_FAMILY_IPV6 ? 16 : 4);
	test_random_fill(&rng, key->port, sizeof(key->port));
}

static void test_equals_siphash_of_key_bytes(void **state)
{
	(void)state;
	uint8_t hash_key[16];
	struct hs_flow_key key;

	for (uint32_t i = 0; i < RANDOM_KEYS; i++) {
		uint8_t family = (i & 1) ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;

		/* A new hash key now and then: each daemon start draws one. */
		if (i % 64 == 0)
			test_random_fill(&rng, hash_key, sizeof(hash_key));
		random_key(&key, family);
		expect_same(hash_key, &key, family, i);
	}
}

static void test_corner_keys(void **state)
{
	(void)state;
	static const uint8_t families[] = { HS_FAMILY_IPV4, HS_FAMILY_IPV6 };
	uint8_t hash_key[16];
	struct hs_flow_key key;

	for (int fill = 0; fill < 2; fill++) {
		memset(hash_key, fill ? 0xff : 0, sizeof(hash_key));
		memset(&key, fill ? 0xff : 0, sizeof(key));
		for (size_t f = 0; f < sizeof(families); f++)
			expect_same(hash_key, &key, families[f], (uint32_t)fill);
	}
}

/*
 * What the table relies on besides equality: an IPv4 key's padding is not
 * hashed, while every byte that is hashed, and the family, change the
 * value (one random key, each byte flipped in turn).
 */
static void test_hashed_bytes(void **state)
{
	(void)state;
	uint8_t hash_key[16];
	struct hs_flow_key key, other;

	test_random_fill(&rng, hash_key, sizeof(hash_key));
	random_key(&key, HS_FAMILY_IPV4);
	uint64_t base = hs_flow_hash(hash_key, &key, HS_FAMILY_IPV4);

	other = key;
	test_random_fill(&rng, other.addr[0].bytes + 4, 12);
	test_random_fill(&rng, other.addr[1].bytes + 4, 12);
	assert_true(hs_flow_hash(hash_key, &other, HS_FAMILY_IPV4) == base);
	assert_true(hs_flow_hash(hash_key, &key, HS_FAMILY_IPV6) != base);
	for (size_t i = 0; i < sizeof(key); i++) {
		bool hashed = i >= offsetof(struct hs_flow_key, port) || i % 16 < 4;

		if (!hashed)
			continue;
		other = key;
		((uint8_t *)&other)[i] ^= 0x01;
		if (hs_flow_hash(hash_key, &other, HS_FAMILY_IPV4) == base)
			fail_msg("flipping byte %zu of an IPv4 key left its hash unchanged", i);
	}
	random_key(&key, HS_FAMILY_IPV6);
	base = hs_flow_hash(hash_key, &key, HS_FAMILY_IPV6);
	for (size_t i = 0; i < sizeof(key); i++) {
		other = key;
		((uint8_t *)&other)[i] ^= 0x80;
		if (hs_flow_hash(hash_key, &other, HS_FAMILY_IPV6) == base)
			fail_msg("flipping byte %zu of an IPv6 key left its hash unchanged", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equals_siphash_of_key_bytes),
		cmocka_unit_test(test_corner_keys),
		cmocka_unit_test(test_hashed_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
