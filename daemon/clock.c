/*
 * clock: the monotonic clock in the units the daemon uses, and the wall
 * clock's time of a monotonic moment (hs_clock.h).
 */
#include "hs_clock.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* A clock's time in nanoseconds (either fits an int64_t until the year 2262). */
static int64_t ns_of(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t hs_now_ms(void)
{
	return (uint64_t)ns_of(CLOCK_MONOTONIC) / 1000000u;
}

uint64_t hs_now_us(void)
{
	return (uint64_t)ns_of(CLOCK_MONOTONIC) / 1000u;
}

/*
 * The wall clock runs apart from the monotonic one only when it is set or
 * slewed, so the difference between them is kept, in whole milliseconds,
 * and taken again only when it has moved by more than a millisecond.
 * Reading both clocks and rounding each to the millisecond, as this did,
 * made the difference itself wobble by one: two events of one burst could
 * come out of order in `watch`.  The difference is kept per thread, since
 * each worker stamps its own events.
 */
static _Thread_local int64_t wall_minus_mono_ms;
static _Thread_local bool have_wall_minus_mono;

#define CLOCK_READ_TRIES 4
#define CLOCK_READ_SPAN_NS 20000        /* a read pair farther apart was interrupted */

/*
 * The wall clock minus the monotonic one, in ns, read between two
 * monotonic reads: a thread preempted between its reads would see the
 * difference off by the time it lost, so a read that took long is tried
 * again.  False when none was quick; *diff_ns is then the quickest.
 */
static bool read_wall_minus_mono(int64_t *diff_ns)
{
	int64_t best_span = INT64_MAX;

	for (int i = 0; i < CLOCK_READ_TRIES; i++) {
		int64_t before = ns_of(CLOCK_MONOTONIC);
		int64_t wall = ns_of(CLOCK_REALTIME);
		int64_t after = ns_of(CLOCK_MONOTONIC);

		if (after - before < best_span) {
			best_span = after - before;
			*diff_ns = wall - before - best_span / 2;
		}
		if (best_span <= CLOCK_READ_SPAN_NS)
			return true;
	}
	return false;
}

uint64_t hs_wall_ms_at(uint64_t mono_ms)
{
	int64_t diff_ns = 0;
	bool quick = read_wall_minus_mono(&diff_ns);

	/* A slow read is better than none, but not better than one kept. */
	if (quick || !have_wall_minus_mono) {
		int64_t moved_ns = diff_ns - wall_minus_mono_ms * 1000000;

		if (!have_wall_minus_mono || moved_ns > 1000000 || moved_ns < -1000000) {
			/* Rounded down; a wall clock set before 1970 is taken as 1970. */
			wall_minus_mono_ms = diff_ns >= 0 ? diff_ns / 1000000 : 0;
			have_wall_minus_mono = true;
		}
	}
	return mono_ms + (uint64_t)wall_minus_mono_ms;
}
