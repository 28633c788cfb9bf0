/*
 * bench_flow_hash: what the flow hash costs a key, one key at a time
 * (hs_flow_hash_keyed, as the table hashes a lone packet) against bursts
 * of IPv4 keys at once from their two words (hs_flow_hash_burst_words, in
 * each implementation this CPU can run, and as chosen): bursts of 32 and
 * 16, the batch path's, and the short bursts of a quiet queue, where a
 * vector's unused lanes cost as much as used ones.  The keys are spread
 * over a pool that fits in L1, so the figures are the hash's arithmetic,
 * not the memory's; their words are made once before the runs, as the
 * table's batch path has them from building the keys.  Every variant
 * hashes the same keys in the same order; the sum of the hashes is kept so
 * that the compiler cannot drop the work, and checked equal across
 * variants.  Medians of RUNS runs, with each burst variant's ratio to the
 * scalar hash in the same run.
 *
 *   bench_flow_hash [KEYS]      (default 2000000 keys a run and burst length)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "hs_flow_hash.h"
#include "hs_flow_hash_burst.h"
#include "hs_packet.h"
#include "bench_util.h"

#define RUNS 7
#define BURST_MAX 32
#define POOL 512            /* keys: 512 x 36 bytes, well inside L1 */

static struct hs_flow_key pool[POOL];
static const struct hs_flow_key *burst_keys[POOL];
static uint64_t addr_words[POOL], last_words[POOL];  /* burst_keys' words, in the same order */

static void make_keys(uint64_t seed)
{
	for (size_t i = 0; i < POOL; i++) {
		uint64_t r = seed += 0x9e3779b97f4a7c15ull;

		r = (r ^ (r >> 31)) * 0xbf58476d1ce4e5b9ull;
		for (size_t b = 0; b < sizeof(pool[i]); b++)
			((uint8_t *)&pool[i])[b] = (uint8_t)(r >> (8 * (b % 8)) ^ b * 37);
		/* Scattered, as the parser's keys lie in a burst's packet records. */
		burst_keys[i] = &pool[(i * 197) % POOL];
	}
	for (size_t i = 0; i < POOL; i++) {
		addr_words[i] = hs_flow_hash_addr_word(burst_keys[i]);
		last_words[i] = hs_flow_hash_last_word(burst_keys[i], HS_FAMILY_IPV4, HS_FLOW_HASH_LEN_IPV4);
	}
}

/* ns a key over `keys` keys, one hs_flow_hash_keyed call each; *sum collects the hashes. */
static double time_scalar(const struct hs_sipstate *keyed, size_t keys, uint64_t *sum)
{
	uint64_t start = now_ns(), acc = 0;

	for (size_t k = 0; k < keys; k++)
		acc += hs_flow_hash_keyed(keyed, burst_keys[k % POOL], HS_FAMILY_IPV4);
	*sum = acc;
	return (double)(now_ns() - start) / (double)keys;
}

/*
 * The same keys in bursts of `burst` through one implementation of
 * hs_flow_hash_burst_words, or through hs_flow_hash_burst_words itself
 * (the one it chose) when impl is DISPATCH.
 */
#define DISPATCH HS_FLOW_HASH_BURST_IMPLS
#define VARIANTS (HS_FLOW_HASH_BURST_IMPLS + 1)

static double time_burst(int impl, const struct hs_sipstate *keyed, size_t burst, size_t keys, uint64_t *sum)
{
	uint64_t start = now_ns(), acc = 0, out[BURST_MAX];

	for (size_t done = 0; done < keys; done += burst) {
		size_t k = done % POOL;

		if (impl == DISPATCH)
			hs_flow_hash_burst_words(keyed, addr_words + k, last_words + k, burst, out);
		else
			hs_flow_hash_burst_words_with((enum hs_flow_hash_burst_impl)impl, keyed, addr_words + k,
						      last_words + k, burst, out);
		for (size_t i = 0; i < burst; i++)
			acc += out[i];
	}
	*sum = acc;
	return (double)(now_ns() - start) / (double)keys;
}

static bool variant_usable(int impl)
{
	return impl == DISPATCH || hs_flow_hash_burst_impl_usable((enum hs_flow_hash_burst_impl)impl);
}

static const char *variant_name(int impl)
{
	return impl == DISPATCH ? "chosen" : hs_flow_hash_burst_impl_name((enum hs_flow_hash_burst_impl)impl);
}

static const size_t burst_lengths[] = { 32, 16, 8, 4, 2, 1 };
#define LENGTHS (sizeof(burst_lengths) / sizeof(burst_lengths[0]))

/* ns a key: one key a call [burst length][run], bursts [length][variant][run], and the ratio of the two in each run. */
static double ns_one[LENGTHS][RUNS], ns[LENGTHS][VARIANTS][RUNS], ratio[LENGTHS][VARIANTS][RUNS];

/* One run of every burst length and variant; false if one hashed differently. */
static bool run_all(const struct hs_sipstate *keyed, size_t keys, int run)
{
	for (size_t l = 0; l < LENGTHS; l++) {
		/* Whole bursts of this length that start and end inside the pool, as many as make `keys`. */
		size_t per_pool = POOL / burst_lengths[l] * burst_lengths[l], n = keys / per_pool * per_pool;
		uint64_t want, got;

		ns_one[l][run] = time_scalar(keyed, n, &want);
		for (int impl = 0; impl < VARIANTS; impl++) {
			if (!variant_usable(impl))
				continue;
			ns[l][impl][run] = time_burst(impl, keyed, burst_lengths[l], n, &got);
			ratio[l][impl][run] = ns[l][impl][run] / ns_one[l][run];
			if (got != want) {
				fprintf(stderr, "bench_flow_hash: %s hashed differently\n", variant_name(impl));
				return false;
			}
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	size_t keys = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	uint8_t hash_key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct hs_sipstate keyed = hs_sip_keyed(hash_key);

	keys = keys < POOL ? POOL : keys;
	make_keys(42);
	for (int run = 0; run < RUNS; run++)
		if (!run_all(&keyed, keys, run))
			return 1;
	printf("flow hash, about %zu IPv4 keys a run and burst length, medians of %d runs; ns/key (x one key a call)\n",
	       keys, RUNS);
	printf("hs_flow_hash_burst_words chose %s\n", hs_flow_hash_burst_impl_name(hs_flow_hash_burst_impl_chosen()));
	printf("  burst  one key a call");
	for (int impl = 0; impl < VARIANTS; impl++)
		printf("  %-15s", variant_name(impl));
	printf("\n");
	for (size_t l = 0; l < LENGTHS; l++) {
		printf("  %5zu  %14.2f", burst_lengths[l], median(ns_one[l], RUNS));
		for (int impl = 0; impl < VARIANTS; impl++)
			if (variant_usable(impl))
				printf("  %6.2f (%.3f)", median(ns[l][impl], RUNS), median(ratio[l][impl], RUNS));
			else
				printf("  %-15s", "not usable");
		printf("\n");
	}
	return 0;
}
