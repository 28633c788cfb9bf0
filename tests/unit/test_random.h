/*
 * test_random: the unit tests' pseudo-random numbers, xorshift64* (Vigna):
 * quick, every byte value in every position, and from a fixed seed, so
 * that a failing run repeats exactly.
 */
#ifndef TESTS_UNIT_TEST_RANDOM_H
#define TESTS_UNIT_TEST_RANDOM_H

#include <stddef.h>
#include <stdint.h>

struct test_random {
	uint64_t state;             /* never 0 */
};

static inline uint64_t test_random_next(struct test_random *r)
{
	r->state ^= r->state >> 12;
	r->state ^= r->state << 25;
	r->state ^= r->state >> 27;
	return r->state * 0x2545f4914f6cdd1dull;
}

/* n random bytes at p, one draw each (its top byte, the best mixed). */
static inline void test_random_fill(struct test_random *r, void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(test_random_next(r) >> 56);
}

#endif
