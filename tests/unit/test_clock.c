/*
 * Unit tests for the daemon's clocks (daemon/clock.c): the wall-clock time
 * of a monotonic moment, which stamps events, is the calendar time of that
 * moment and does not wobble from one call to the next, so events stamped
 * in order come out in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "hs_clock.h"

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The same monotonic moment, asked for over some 50 ms of real time, has one wall time. */
static void test_wall_time_of_a_moment_is_steady(void **state)
{
	(void)state;
	uint64_t moment = hs_now_ms();
	uint64_t first = hs_wall_ms_at(moment);
	uint64_t deadline = hs_now_ms() + 50;
	unsigned calls = 0;

	while (hs_now_ms() < deadline) {
		assert_int_equal(hs_wall_ms_at(moment), first);
		calls++;
	}
	assert_true(calls > 100);
}

/* Moments in order have wall times in order, a millisecond apart where they are. */
static void test_wall_times_follow_moments(void **state)
{
	(void)state;
	uint64_t base = hs_now_ms();
	uint64_t deadline = base + 50, previous = 0;

	while (hs_now_ms() < deadline) {
		uint64_t moment = hs_now_ms();
		uint64_t wall = hs_wall_ms_at(moment);

		assert_true(wall >= previous);
		assert_int_equal(wall - hs_wall_ms_at(base), moment - base);
		previous = wall;
	}
}

/* It is the calendar time: within a few milliseconds of the wall clock read now. */
static void test_wall_time_is_calendar_time(void **state)
{
	(void)state;
	uint64_t before = realtime_ms();
	uint64_t wall = hs_wall_ms_at(hs_now_ms());
	uint64_t after = realtime_ms();

	assert_true(wall + 2 >= before);
	assert_true(wall <= after + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wall_time_of_a_moment_is_steady),
		cmocka_unit_test(test_wall_times_follow_moments),
		cmocka_unit_test(test_wall_time_is_calendar_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
