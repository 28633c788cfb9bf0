/*
 * siphash: SipHash-1-3 (Aumasson and Bernstein; one compression and three
 * finalisation rounds), used to place flows in the table's buckets.  Keyed
 * with random bytes at start, it keeps chain lengths short even when an
 * attacker chooses the addresses and ports.  The reduced-round variant is
 * what Linux (hsiphash on 64-bit) and Rust's HashMap use for hash tables:
 * the output is never revealed, so the margin of 2-4 buys nothing here,
 * and it is a fifth of the per-packet cost.  The rounds themselves are
 * inline in hs_siphash.h, shared with the flow key's hash.
 */
#include "hs_siphash.h"

#include <string.h>

uint64_t hs_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	struct hs_sipstate s = hs_sip_init(key);
	size_t full = len & ~(size_t)7;

	for (size_t i = 0; i < full; i += 8)
		hs_sip_block(&s, hs_sip_load_le64(in + i));

	/* The last block carries the remaining bytes and the length's low byte. */
	uint8_t tail[8] = { 0 };
	memcpy(tail, in + full, len - full);
	return hs_sip_finish(&s, hs_sip_load_le64(tail) | ((uint64_t)(len & 0xff) << 56));
}
