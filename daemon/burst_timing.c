/*
 * burst_timing: the burst-time histogram's buckets and the draw of the
 * bursts a worker times (include/hs_burst_timing.h).
 */
#include "hs_burst_timing.h"

const uint32_t hs_burst_bucket_le_us[HS_BURST_BUCKETS - 1] = { 5, 10, 25, 50, 100, 250, 500, 1000,
							       2500, 5000, 10000 };

void hs_burst_sampler_init(struct hs_burst_sampler *s, uint32_t seed)
{
	/* xorshift32 stays at zero once there. */
	s->state = seed != 0 ? seed : 0x9e3779b9u;
}

unsigned hs_burst_bucket(uint64_t took_us)
{
	/* A short linear scan: eleven compares for a timed burst. */
	unsigned bucket = 0;

	while (bucket < HS_BURST_BUCKETS - 1 && took_us > hs_burst_bucket_le_us[bucket])
		bucket++;
	return bucket;
}
