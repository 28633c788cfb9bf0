/*
 * test_burst_timing: the burst-time histogram's buckets and the draw of
 * the bursts a worker times (daemon/burst_timing.c).  The draw must time
 * one burst in HS_BURST_TIMED_ONE_IN, whatever the seed, with no pattern
 * traffic could line up with: periodic traffic (every p-th burst a slow
 * one) must see its slow bursts timed as often as the others, and a
 * timed burst must say nothing about whether the next one is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hs_burst_timing.h"

#define DRAWS 800000u
#define PERIOD_MAX 64u

static void test_buckets(void **state)
{
	(void)state;
	for (unsigned b = 1; b < HS_BURST_BUCKETS - 1; b++)
		assert_true(hs_burst_bucket_le_us[b - 1] < hs_burst_bucket_le_us[b]);
	assert_int_equal(hs_burst_bucket(0), 0);
	/* A bucket holds its upper bound; one more is the next bucket's. */
	for (unsigned b = 0; b < HS_BURST_BUCKETS - 1; b++) {
		assert_int_equal(hs_burst_bucket(hs_burst_bucket_le_us[b]), b);
		assert_int_equal(hs_burst_bucket((uint64_t)hs_burst_bucket_le_us[b] + 1), b + 1);
	}
	assert_int_equal(hs_burst_bucket(UINT64_MAX), HS_BURST_BUCKETS - 1);
}

/* The share of DRAWS bursts timed, per phase of every period up to PERIOD_MAX, and after a timed one. */
struct tally {
	uint64_t timed;
	uint64_t timed_at[PERIOD_MAX + 1][PERIOD_MAX];
	uint64_t after_timed, timed_after_timed;
};

static void draw(uint32_t seed, struct tally *t)
{
	struct hs_burst_sampler s;
	bool before = false;

	memset(t, 0, sizeof(*t));
	hs_burst_sampler_init(&s, seed);
	for (uint32_t i = 0; i < DRAWS; i++) {
		bool timed = hs_burst_sampler_pick(&s);

		t->timed += timed;
		for (unsigned p = 2; p <= PERIOD_MAX; p++)
			t->timed_at[p][i % p] += timed;
		t->after_timed += before;
		t->timed_after_timed += before && timed;
		before = timed;
	}
}

/* Whether got is within a quarter of want (binomial spreads here are a few percent). */
static bool near(uint64_t got, double want)
{
	return got > want * 0.75 && got < want * 1.25;
}

static void test_one_in_n_without_pattern(void **state)
{
	static struct tally t;
	const uint32_t seeds[] = { 0, 1, 2, 0x9e3779b9u, 0xffffffffu, 12345 };

	(void)state;
	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		draw(seeds[k], &t);
		/* Within 2% of the share over the whole run (about 8 spreads). */
		double want = (double)DRAWS / HS_BURST_TIMED_ONE_IN;
		assert_true(t.timed > want * 0.98 && t.timed < want * 1.02);
		for (unsigned p = 2; p <= PERIOD_MAX; p++) {
			for (unsigned phase = 0; phase < p; phase++) {
				uint64_t bursts = DRAWS / p + (phase < DRAWS % p);
				if (!near(t.timed_at[p][phase], (double)bursts / HS_BURST_TIMED_ONE_IN))
					fail_msg("seed %u: period %u phase %u: %llu of %llu bursts timed", seeds[k], p,
						 phase, (unsigned long long)t.timed_at[p][phase],
						 (unsigned long long)bursts);
			}
		}
		assert_true(near(t.timed_after_timed, (double)t.after_timed / HS_BURST_TIMED_ONE_IN));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_one_in_n_without_pattern),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
