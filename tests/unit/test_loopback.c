/*
 * test_loopback: which sighting of a looped-back packet is tracked
 * (daemon/core/loopback.c).  The decision is replayed for the three ways
 * rules can queue loopback traffic (both chains, OUTPUT only, INPUT only):
 * each packet must be tracked exactly once, and forwarded packets or those
 * on other devices are never taken for loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hs_loopback.h"

#define LO 1u
#define ETH 2u

static void test_pass(void **state)
{
	(void)state;
	assert_int_equal(hs_loopback_pass(0, LO, LO), HS_LO_OUT);
	assert_int_equal(hs_loopback_pass(LO, 0, LO), HS_LO_IN);
	/* Other devices, forwarded packets, and an unknown loopback device. */
	assert_int_equal(hs_loopback_pass(0, ETH, LO), HS_LO_ELSEWHERE);
	assert_int_equal(hs_loopback_pass(ETH, 0, LO), HS_LO_ELSEWHERE);
	assert_int_equal(hs_loopback_pass(ETH, LO, LO), HS_LO_ELSEWHERE);
	assert_int_equal(hs_loopback_pass(LO, ETH, LO), HS_LO_ELSEWHERE);
	assert_int_equal(hs_loopback_pass(0, 0, LO), HS_LO_ELSEWHERE);
	assert_int_equal(hs_loopback_pass(0, 7, 7), HS_LO_OUT);
	assert_int_equal(hs_loopback_pass(0, LO, 0), HS_LO_ELSEWHERE);
}

/*
 * The worker's use of the decision, as in worker.c: a way out is tracked
 * and remembered, a way in is tracked unless it repeats a recent way out.
 * Returns how many sightings were tracked.
 */
struct sighting {
	uint32_t indev, outdev;
	uint64_t ms;
};

static unsigned tracked(const struct sighting *s, unsigned n)
{
	uint64_t last_out = 0;
	unsigned count = 0;

	for (unsigned i = 0; i < n; i++) {
		enum hs_loopback_pass pass = hs_loopback_pass(s[i].indev, s[i].outdev, LO);
		if (pass == HS_LO_OUT)
			last_out = s[i].ms;
		if (pass == HS_LO_IN && hs_loopback_repeat(s[i].ms, last_out))
			continue;
		count++;
	}
	return count;
}

static void test_each_packet_once(void **state)
{
	(void)state;
	/* A connection's five packets, both directions, at 1000 ms + 10 ms apart. */
	struct sighting both[10], out_only[5], in_only[5];
	for (unsigned i = 0; i < 5; i++) {
		uint64_t t = 1000 + 10 * i;
		both[2 * i] = (struct sighting){ 0, LO, t };
		both[2 * i + 1] = (struct sighting){ LO, 0, t + 1 };
		out_only[i] = (struct sighting){ 0, LO, t };
		in_only[i] = (struct sighting){ LO, 0, t + 1 };
	}
	assert_int_equal(tracked(both, 10), 5);
	assert_int_equal(tracked(out_only, 5), 5);
	assert_int_equal(tracked(in_only, 5), 5);
}

static void test_repeat_window(void **state)
{
	(void)state;
	assert_false(hs_loopback_repeat(5000, 0));
	assert_true(hs_loopback_repeat(5000, 5000));
	assert_true(hs_loopback_repeat(5000 + HS_LOOPBACK_MEMORY_MS - 1, 5000));
	/* OUTPUT stopped queueing a while ago: ways in are tracked again. */
	assert_false(hs_loopback_repeat(5000 + HS_LOOPBACK_MEMORY_MS, 5000));
	/* Another worker stored a slightly later clock reading. */
	assert_true(hs_loopback_repeat(4999, 5000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_each_packet_once),
		cmocka_unit_test(test_repeat_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
