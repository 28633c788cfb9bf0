/*
 * siphash: SipHash-1-3 (Aumasson and Bernstein; one compression and three
 * finalisation rounds), used to place flows in the table's buckets.  Keyed
 * with random bytes at start, it keeps chain lengths short even when an
 * attacker chooses the addresses and ports.  The reduced-round variant is
 * what Linux (hsiphash on 64-bit) and Rust's HashMap use for hash tables:
 * the output is never revealed, so the margin of 2-4 buys nothing here,
 * and it is a fifth of the per-packet cost.
 */
#include "hs_siphash.h"

#include <endian.h>
#include <string.h>

static inline uint64_t rotl64(uint64_t x, int bits)
{
	return (x << bits) | (x >> (64 - bits));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	/* memcpy keeps the load legal at any alignment; it compiles to one move. */
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

#define SIPROUND(v0, v1, v2, v3)                                               \
	do {                                                                   \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);  \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                        \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                        \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);  \
	} while (0)

uint64_t hs_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	size_t full = len & ~(size_t)7;

	for (size_t i = 0; i < full; i += 8) {
		uint64_t m = load_le64(in + i);

		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}

	/* The last block carries the remaining bytes and the length's low byte. */
	uint8_t tail[8] = { 0 };
	memcpy(tail, in + full, len - full);
	uint64_t b = load_le64(tail) | ((uint64_t)(len & 0xff) << 56);

	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}
