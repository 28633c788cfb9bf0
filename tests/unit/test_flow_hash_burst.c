/*
 * test_flow_hash_burst: the burst hash from words (hs_flow_hash_burst.h)
 * equals the flow hash of each key (hs_flow_hash_keyed, itself held equal
 * to SipHash by test_flow_hash), in every implementation this CPU can run
 * and as chosen, for every burst length from 0 to 40 (whole vectors,
 * partial ones, several of each), and never writes past the burst.
 *
 * Words made from random keys of any family but IPv6 (the IPv4 message
 * shape, which other family bytes share) must equal hs_flow_hash_keyed of
 * the keys, and words drawn at random hs_flow_hash_words, so that every
 * bit of both words reaches the lanes as it reaches the scalar rounds.
 * Keys, families and keyed states are drawn at random (a fixed seed, so a
 * failure repeats).  The keyed state is any four words, not only states
 * hs_sip_keyed gives: the lanes must follow the scalar rounds from
 * anywhere.  Which implementations ran is printed; one the CPU supports
 * (as GCC's own __builtin_cpu_supports sees it) but the module thinks
 * unusable fails the test rather than going untested.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow_hash.h"
#include "hs_flow_hash_burst.h"
#include "hs_packet.h"
#include "test_random.h"

#define MAX_BURST 40
#define ROUNDS_PER_LENGTH 200
#define CANARY 0x5a5a5a5a5a5a5a5aull

static struct test_random rng = { 0x2545f4914f6cdd1dull };

/*
 * A family byte: mostly IPv4, often IPv6, and now and then any other
 * value, which hs_flow_hash_keyed hashes as IPv4 with that byte mixed in.
 */
static uint8_t random_family(void)
{
	uint64_t r = test_random_next(&rng) % 16;

	if (r < 10)
		return HS_FAMILY_IPV4;
	if (r < 15)
		return HS_FAMILY_IPV6;
	return (uint8_t)(test_random_next(&rng) >> 56);
}

/* What the CPU supports by the compiler's own test, to hold the module's to. */
static bool compiler_says_cpu_has(enum hs_flow_hash_burst_impl impl)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (impl == HS_FLOW_HASH_BURST_AVX2)
		return __builtin_cpu_supports("avx2");
	if (impl == HS_FLOW_HASH_BURST_AVX512)
		return __builtin_cpu_supports("avx512f");
#endif
	return impl == HS_FLOW_HASH_BURST_SCALAR;
}

/* A family byte with the IPv4 message shape: mostly IPv4, now and then any byte but IPv6's. */
static uint8_t random_ipv4_shaped_family(void)
{
	uint8_t family = random_family();

	return family == HS_FAMILY_IPV6 ? HS_FAMILY_IPV4 : family;
}

struct words_case {
	struct hs_sipstate keyed;
	uint64_t addr_words[MAX_BURST], last_words[MAX_BURST];
	uint64_t want[MAX_BURST];
};

/* Words of random keys (from_keys) or random words, and the scalar hash each must give. */
static void random_words_case(struct words_case *c, bool from_keys)
{
	test_random_fill(&rng, &c->keyed, sizeof(c->keyed));
	for (size_t i = 0; i < MAX_BURST; i++) {
		if (from_keys) {
			struct hs_flow_key key;
			uint8_t family = random_ipv4_shaped_family();

			test_random_fill(&rng, &key, sizeof(key));
			c->addr_words[i] = hs_flow_hash_addr_word(&key);
			c->last_words[i] = hs_flow_hash_last_word(&key, family, HS_FLOW_HASH_LEN_IPV4);
			c->want[i] = hs_flow_hash_keyed(&c->keyed, &key, family);
		} else {
			c->addr_words[i] = test_random_next(&rng);
			c->last_words[i] = test_random_next(&rng);
			c->want[i] = hs_flow_hash_words(&c->keyed, c->addr_words[i], c->last_words[i]);
		}
	}
}

/* One burst of n words through impl, or hs_flow_hash_burst_words when impl is HS_FLOW_HASH_BURST_IMPLS. */
static void expect_words_burst(int impl, const struct words_case *c, size_t n)
{
	const char *name = impl == HS_FLOW_HASH_BURST_IMPLS ? "chosen" : hs_flow_hash_burst_impl_name(impl);
	uint64_t out[MAX_BURST + 1];

	for (size_t i = 0; i <= MAX_BURST; i++)
		out[i] = CANARY;
	if (impl == HS_FLOW_HASH_BURST_IMPLS)
		hs_flow_hash_burst_words(&c->keyed, c->addr_words, c->last_words, n, out);
	else
		hs_flow_hash_burst_words_with((enum hs_flow_hash_burst_impl)impl, &c->keyed, c->addr_words,
					      c->last_words, n, out);
	for (size_t i = 0; i < n; i++)
		if (out[i] != c->want[i])
			fail_msg("words, %s, burst of %zu: word %zu hashed to %#llx, the scalar hash gives %#llx", name, n,
				 i, (unsigned long long)out[i], (unsigned long long)c->want[i]);
	for (size_t i = n; i <= MAX_BURST; i++)
		if (out[i] != CANARY)
			fail_msg("words, %s, burst of %zu: wrote out[%zu]", name, n, i);
}

static void check_words(int impl)
{
	struct words_case c;

	for (size_t n = 0; n <= MAX_BURST; n++)
		for (int round = 0; round < ROUNDS_PER_LENGTH; round++) {
			random_words_case(&c, round % 2 == 0);
			expect_words_burst(impl, &c, n);
		}
}

static void test_every_usable_impl_equals_scalar(void **state)
{
	(void)state;
	for (int i = 0; i < HS_FLOW_HASH_BURST_IMPLS; i++) {
		enum hs_flow_hash_burst_impl impl = (enum hs_flow_hash_burst_impl)i;
		bool usable = hs_flow_hash_burst_impl_usable(impl);

		if (usable != compiler_says_cpu_has(impl))
			fail_msg("%s: the module says %s, __builtin_cpu_supports says %s", hs_flow_hash_burst_impl_name(impl),
				 usable ? "usable" : "unusable", usable ? "no" : "yes");
		if (!usable) {
			printf("flow hash burst: %s not run (this CPU or build has no such unit)\n",
			       hs_flow_hash_burst_impl_name(impl));
			continue;
		}
		check_words(i);
		printf("flow hash burst: %s equals hs_flow_hash_keyed, bursts of 0-%d\n",
		       hs_flow_hash_burst_impl_name(impl), MAX_BURST);
	}
}

/* The dispatching entry point: the widest usable implementation, and the same results. */
static void test_chosen_impl(void **state)
{
	(void)state;
	enum hs_flow_hash_burst_impl chosen = hs_flow_hash_burst_impl_chosen();

	for (int i = chosen + 1; i < HS_FLOW_HASH_BURST_IMPLS; i++)
		assert_false(hs_flow_hash_burst_impl_usable((enum hs_flow_hash_burst_impl)i));
	assert_true(hs_flow_hash_burst_impl_usable(chosen));
	printf("flow hash burst: hs_flow_hash_burst_words uses %s\n", hs_flow_hash_burst_impl_name(chosen));
	check_words(HS_FLOW_HASH_BURST_IMPLS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_usable_impl_equals_scalar),
		cmocka_unit_test(test_chosen_impl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
