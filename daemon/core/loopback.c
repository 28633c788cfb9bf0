/*
 * loopback: which sighting of a looped-back packet to track
 * (include/core/hs_loopback.h explains the rule and why it holds).
 */
#include "hs_loopback.h"

bool hs_loopback_repeat(uint64_t now_ms, uint64_t last_out_ms)
{
	/* A way out seen "after" now (another worker's clock read later) is recent too. */
	return last_out_ms != 0 && (now_ms < last_out_ms || now_ms - last_out_ms < HS_LOOPBACK_MEMORY_MS);
}
