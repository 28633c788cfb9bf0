/*
 * hs_burst_timing: the burst-time histogram's buckets, and which bursts
 * the worker times.
 *
 * Timing a burst costs a second read of the clock (clock_gettime took 47
 * ns on the VM the benchmarks run on, where a burst in make bench-e2e
 * holds about three packets and 700-900 ns of the worker's user time), so
 * the worker times one burst in HS_BURST_TIMED_ONE_IN.  Which
 * one is drawn at random before the burst is handled: a slow burst is as
 * likely to be timed as a quick one, and traffic with a period cannot line
 * up with the draw as it could with every eighth burst.  The histogram is
 * then a sample of the bursts, its count the bursts timed, and the longest
 * burst the longest one timed.
 */
#ifndef HS_BURST_TIMING_H
#define HS_BURST_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#define HS_BURST_BUCKETS 12
/* Upper bounds of the histogram's buckets but the last, in microseconds. */
extern const uint32_t hs_burst_bucket_le_us[HS_BURST_BUCKETS - 1];

/* A power of two: the draw keeps that many low bits of a random word. */
#define HS_BURST_TIMED_ONE_IN 8u

/* Draws which bursts are timed; one per worker, its own thread's. */
struct hs_burst_sampler {
	uint32_t state;     /* xorshift32: never 0 */
};

/* Seeds the draw; any seed will do (0 is replaced), each worker its own. */
void hs_burst_sampler_init(struct hs_burst_sampler *s, uint32_t seed);

/*
 * Whether to time the next burst.  Marsaglia's xorshift32: three shifts
 * and three exclusive ors, inline because it runs once per burst.  Its
 * low three bits take each value equally often over its period (2^32 - 1),
 * bar zero's one fewer.
 */
static inline bool hs_burst_sampler_pick(struct hs_burst_sampler *s)
{
	uint32_t x = s->state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->state = x;
	return (x & (HS_BURST_TIMED_ONE_IN - 1)) == 0;
}

/* The bucket a burst that took took_us microseconds counts in. */
unsigned hs_burst_bucket(uint64_t took_us);

#endif
