/*
 * bench_flow_hash: what the flow hash costs a key, one key at a time
 * (hs_flow_hash_keyed, as the table hashed each packet) against bursts of
 * 32 IPv4 keys at once (hs_flow_hash_burst, in each implementation this
 * CPU can run).  The keys are spread over a pool that fits in L1, so the
 * figures are the hash's arithmetic, not the memory's.  Every variant
 * hashes the same keys in the same order; the sum of the hashes is kept
 * so that the compiler cannot drop the work, and checked equal across
 * variants.  Medians of RUNS runs, with each burst variant's ratio to the
 * scalar hash in the same run.
 *
 *   bench_flow_hash [KEYS]      (default 4000000 keys a run)
 */
#include <stdio.h>
#include <stdlib.h>

#include "hs_flow_hash.h"
#include "hs_flow_hash_burst.h"
#include "hs_packet.h"
#include "bench_util.h"

#define RUNS 7
#define BURST 32
#define POOL 512            /* keys: 512 x 36 bytes, well inside L1 */

static struct hs_flow_key pool[POOL];
static const struct hs_flow_key *burst_keys[POOL];
static uint8_t families[POOL];

static void make_keys(uint64_t seed)
{
	for (size_t i = 0; i < POOL; i++) {
		uint64_t r = seed += 0x9e3779b97f4a7c15ull;

		r = (r ^ (r >> 31)) * 0xbf58476d1ce4e5b9ull;
		for (size_t b = 0; b < sizeof(pool[i]); b++)
			((uint8_t *)&pool[i])[b] = (uint8_t)(r >> (8 * (b % 8)) ^ b * 37);
		/* Scattered, as the parser's keys lie in a burst's packet records. */
		burst_keys[i] = &pool[(i * 197) % POOL];
		families[i] = HS_FAMILY_IPV4;
	}
}

/* ns a key over `keys` keys, one hs_flow_hash_keyed call each; *sum collects the hashes. */
static double time_scalar(const struct hs_sipstate *keyed, size_t keys, uint64_t *sum)
{
	uint64_t start = now_ns(), acc = 0;

	for (size_t done = 0; done < keys; done += BURST)
		for (size_t i = 0; i < BURST; i++) {
			size_t k = (done + i) % POOL;

			acc += hs_flow_hash_keyed(keyed, burst_keys[k], families[k]);
		}
	*sum = acc;
	return (double)(now_ns() - start) / (double)keys;
}

/* The same keys in bursts of 32 through one implementation of hs_flow_hash_burst. */
static double time_burst(enum hs_flow_hash_burst_impl impl, const struct hs_sipstate *keyed, size_t keys,
			 uint64_t *sum)
{
	uint64_t start = now_ns(), acc = 0, out[BURST];

	for (size_t done = 0; done < keys; done += BURST) {
		size_t k = done % POOL;

		hs_flow_hash_burst_with(impl, keyed, burst_keys + k, families + k, BURST, out);
		for (size_t i = 0; i < BURST; i++)
			acc += out[i];
	}
	*sum = acc;
	return (double)(now_ns() - start) / (double)keys;
}

int main(int argc, char **argv)
{
	size_t keys = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
	uint8_t hash_key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct hs_sipstate keyed = hs_sip_keyed(hash_key);
	double ns[HS_FLOW_HASH_BURST_IMPLS + 1][RUNS], ratio[HS_FLOW_HASH_BURST_IMPLS][RUNS];
	uint64_t want, got;

	keys = (keys + POOL - 1) / POOL * POOL;
	make_keys(42);
	for (int run = 0; run < RUNS; run++) {
		ns[HS_FLOW_HASH_BURST_IMPLS][run] = time_scalar(&keyed, keys, &want);
		for (int impl = 0; impl < HS_FLOW_HASH_BURST_IMPLS; impl++) {
			if (!hs_flow_hash_burst_impl_usable((enum hs_flow_hash_burst_impl)impl))
				continue;
			ns[impl][run] = time_burst((enum hs_flow_hash_burst_impl)impl, &keyed, keys, &got);
			ratio[impl][run] = ns[impl][run] / ns[HS_FLOW_HASH_BURST_IMPLS][run];
			if (got != want) {
				fprintf(stderr, "bench_flow_hash: %s hashed differently\n",
					hs_flow_hash_burst_impl_name((enum hs_flow_hash_burst_impl)impl));
				return 1;
			}
		}
	}
	printf("flow hash, %zu IPv4 keys a run, medians of %d runs (hs_flow_hash_burst uses %s)\n", keys, RUNS,
	       hs_flow_hash_burst_impl_name(hs_flow_hash_burst_impl_chosen()));
	printf("  hs_flow_hash_keyed, one key a call  %6.2f ns/key\n", median(ns[HS_FLOW_HASH_BURST_IMPLS], RUNS));
	for (int impl = 0; impl < HS_FLOW_HASH_BURST_IMPLS; impl++) {
		if (!hs_flow_hash_burst_impl_usable((enum hs_flow_hash_burst_impl)impl)) {
			printf("  burst of %d, %-7s  not usable on this CPU\n", BURST,
			       hs_flow_hash_burst_impl_name((enum hs_flow_hash_burst_impl)impl));
			continue;
		}
		printf("  burst of %d, %-7s                %6.2f ns/key  %.3f x one at a time\n", BURST,
		       hs_flow_hash_burst_impl_name((enum hs_flow_hash_burst_impl)impl), median(ns[impl], RUNS),
		       median(ratio[impl], RUNS));
	}
	return 0;
}
