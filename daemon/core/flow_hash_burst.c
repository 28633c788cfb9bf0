/*
 * flow_hash_burst: hs_flow_hash_burst_words, the flow hash of many IPv4
 * keys at once from their two message words (hs_flow_hash_burst.h): a
 * plain loop everywhere, and on x86-64 the same SipHash-1-3 run in 4
 * (AVX2) or 8 (AVX-512) vector lanes, one key a lane, chosen once from
 * CPUID.
 *
 * An IPv4 key's hash is two message blocks from the keyed state: both
 * addresses, then ports, family and length (hs_flow_hash_words).  The
 * caller builds the keys and has each key's two words in registers as it
 * builds them, so the lanes take them from two arrays, one plain vector
 * load each.  That measured half the cost of gathering the words out of
 * the keys, which this module did before (bursts of 16: AVX-512 1.5
 * against 3.1 ns a key, AVX2 2.4 against 4.0, bench_flow_hash); the flow
 * table's pass of keys and hashes went from 635-656 to 413 cycles a burst
 * of 32 (table.c).  IPv6 keys are the caller's, one at a time.
 */
#include "hs_flow_hash_burst.h"

#include <stdatomic.h>

#include "hs_flow_hash.h"

typedef void words_fn(const struct hs_sipstate *keyed, const uint64_t addr_words[], const uint64_t last_words[],
		      size_t n, uint64_t out[]);

static void words_scalar(const struct hs_sipstate *keyed, const uint64_t addr_words[], const uint64_t last_words[],
			 size_t n, uint64_t out[])
{
	for (size_t i = 0; i < n; i++)
		out[i] = hs_flow_hash_words(keyed, addr_words[i], last_words[i]);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define TARGET_AVX2 __attribute__((target("avx2")))
#define TARGET_AVX512 __attribute__((target("avx512f")))
#define LANE_INLINE static inline __attribute__((always_inline))

/* ---- AVX2: 4 lanes; rotates by 32 and 16 are shuffles, the rest shift, shift, or ---- */

struct sip4 {
	__m256i v0, v1, v2, v3;
};

#define AVX2_ROTL(x, bits) _mm256_or_si256(_mm256_slli_epi64((x), (bits)), _mm256_srli_epi64((x), 64 - (bits)))
#define AVX2_ROTL32(x) _mm256_shuffle_epi32((x), _MM_SHUFFLE(2, 3, 0, 1))

/* A byte shuffle that moves each 64-bit lane's bytes up by two: a rotate by 16. */
LANE_INLINE TARGET_AVX2 __m256i avx2_rotl16(__m256i x)
{
	const __m256i up2 = _mm256_setr_epi8(6, 7, 0, 1, 2, 3, 4, 5, 14, 15, 8, 9, 10, 11, 12, 13,
					     6, 7, 0, 1, 2, 3, 4, 5, 14, 15, 8, 9, 10, 11, 12, 13);

	return _mm256_shuffle_epi8(x, up2);
}

LANE_INLINE TARGET_AVX2 void sip4_round_rest(struct sip4 *s)
{
	s->v2 = _mm256_add_epi64(s->v2, s->v3); s->v3 = avx2_rotl16(s->v3); s->v3 = _mm256_xor_si256(s->v3, s->v2);
	s->v0 = _mm256_add_epi64(s->v0, s->v3); s->v3 = AVX2_ROTL(s->v3, 21); s->v3 = _mm256_xor_si256(s->v3, s->v0);
	s->v2 = _mm256_add_epi64(s->v2, s->v1); s->v1 = AVX2_ROTL(s->v1, 17); s->v1 = _mm256_xor_si256(s->v1, s->v2);
	s->v2 = AVX2_ROTL32(s->v2);
}

LANE_INLINE TARGET_AVX2 void sip4_round(struct sip4 *s)
{
	s->v0 = _mm256_add_epi64(s->v0, s->v1); s->v1 = AVX2_ROTL(s->v1, 13); s->v1 = _mm256_xor_si256(s->v1, s->v0);
	s->v0 = AVX2_ROTL32(s->v0);
	sip4_round_rest(s);
}

/* hs_sip_first_block then hs_sip_finish (hs_siphash.h), in 4 lanes. */
LANE_INLINE TARGET_AVX2 __m256i sip4_hash(struct sip4 s, __m256i first, __m256i last)
{
	s.v3 = _mm256_xor_si256(s.v3, first);
	sip4_round_rest(&s);
	s.v0 = _mm256_xor_si256(s.v0, first);
	s.v3 = _mm256_xor_si256(s.v3, last);
	sip4_round(&s);
	s.v0 = _mm256_xor_si256(s.v0, last);
	s.v2 = _mm256_xor_si256(s.v2, _mm256_set1_epi64x(0xff));
	sip4_round(&s);
	sip4_round(&s);
	sip4_round(&s);
	return _mm256_xor_si256(_mm256_xor_si256(s.v0, s.v1), _mm256_xor_si256(s.v2, s.v3));
}

LANE_INLINE TARGET_AVX2 struct sip4 sip4_start(const struct hs_sipstate *keyed)
{
	return (struct sip4){ _mm256_set1_epi64x((long long)keyed->v0), _mm256_set1_epi64x((long long)keyed->v1),
			      _mm256_set1_epi64x((long long)keyed->v2), _mm256_set1_epi64x((long long)keyed->v3) };
}

/* The hashes of 4 keys' words into out[0..3]: two plain loads, no gathers. */
LANE_INLINE TARGET_AVX2 void words_group4(const struct sip4 *start, const uint64_t addr_words[],
					  const uint64_t last_words[], uint64_t out[])
{
	_mm256_storeu_si256((__m256i *)out, sip4_hash(*start, _mm256_loadu_si256((const __m256i *)addr_words),
						      _mm256_loadu_si256((const __m256i *)last_words)));
}

/*
 * Whole groups of 4 in lanes, the 1-3 keys left over one at a time: a
 * group costs about what 3 scalar hashes do however few of its lanes are
 * used (bench_flow_hash: a burst of 2 took longer in lanes than one at a
 * time), so a partial group would gain nothing.
 */
static TARGET_AVX2 void words_avx2(const struct hs_sipstate *keyed, const uint64_t addr_words[],
				   const uint64_t last_words[], size_t n, uint64_t out[])
{
	size_t i = 0;

	if (n >= 4) {
		const struct sip4 start = sip4_start(keyed);

		for (; i + 4 <= n; i += 4)
			words_group4(&start, addr_words + i, last_words + i, out + i);
	}
	words_scalar(keyed, addr_words + i, last_words + i, n - i, out + i);
}

/* ---- AVX-512: 8 lanes; every rotate is one vprolq ---- */

struct sip8 {
	__m512i v0, v1, v2, v3;
};

LANE_INLINE TARGET_AVX512 void sip8_round_rest(struct sip8 *s)
{
	s->v2 = _mm512_add_epi64(s->v2, s->v3); s->v3 = _mm512_rol_epi64(s->v3, 16); s->v3 = _mm512_xor_si512(s->v3, s->v2);
	s->v0 = _mm512_add_epi64(s->v0, s->v3); s->v3 = _mm512_rol_epi64(s->v3, 21); s->v3 = _mm512_xor_si512(s->v3, s->v0);
	s->v2 = _mm512_add_epi64(s->v2, s->v1); s->v1 = _mm512_rol_epi64(s->v1, 17); s->v1 = _mm512_xor_si512(s->v1, s->v2);
	s->v2 = _mm512_rol_epi64(s->v2, 32);
}

LANE_INLINE TARGET_AVX512 void sip8_round(struct sip8 *s)
{
	s->v0 = _mm512_add_epi64(s->v0, s->v1); s->v1 = _mm512_rol_epi64(s->v1, 13); s->v1 = _mm512_xor_si512(s->v1, s->v0);
	s->v0 = _mm512_rol_epi64(s->v0, 32);
	sip8_round_rest(s);
}

/* hs_sip_first_block then hs_sip_finish (hs_siphash.h), in 8 lanes. */
LANE_INLINE TARGET_AVX512 __m512i sip8_hash(struct sip8 s, __m512i first, __m512i last)
{
	s.v3 = _mm512_xor_si512(s.v3, first);
	sip8_round_rest(&s);
	s.v0 = _mm512_xor_si512(s.v0, first);
	s.v3 = _mm512_xor_si512(s.v3, last);
	sip8_round(&s);
	s.v0 = _mm512_xor_si512(s.v0, last);
	s.v2 = _mm512_xor_si512(s.v2, _mm512_set1_epi64(0xff));
	sip8_round(&s);
	sip8_round(&s);
	sip8_round(&s);
	/* 0x96 is the truth table of a ^ b ^ c: two instructions for the four-way xor. */
	return _mm512_xor_si512(_mm512_ternarylogic_epi64(s.v0, s.v1, s.v2, 0x96), s.v3);
}

LANE_INLINE TARGET_AVX512 struct sip8 sip8_start(const struct hs_sipstate *keyed)
{
	return (struct sip8){ _mm512_set1_epi64((long long)keyed->v0), _mm512_set1_epi64((long long)keyed->v1),
			      _mm512_set1_epi64((long long)keyed->v2), _mm512_set1_epi64((long long)keyed->v3) };
}

/*
 * Whole groups of 8 in AVX-512 lanes, then 4 of what is left in AVX2 lanes
 * (every CPU with AVX-512 has AVX2, and cpu_can_run asks for both), then
 * the last 1-3 one at a time.  Leftovers do not go into a group of 8 with
 * lanes masked off: a masked group cost as much as a full one, 6.4 ns a
 * key for 4 keys against 4.0 in AVX2 lanes (bench_flow_hash, bursts of 4).
 */
static TARGET_AVX512 void words_avx512(const struct hs_sipstate *keyed, const uint64_t addr_words[],
				       const uint64_t last_words[], size_t n, uint64_t out[])
{
	size_t i = 0;

	if (n >= 8) {
		const struct sip8 start = sip8_start(keyed);

		for (; i + 8 <= n; i += 8)
			_mm512_storeu_si512(out + i, sip8_hash(start, _mm512_loadu_si512(addr_words + i),
							       _mm512_loadu_si512(last_words + i)));
	}
	if (n - i >= 4) {
		const struct sip4 start = sip4_start(keyed);

		words_group4(&start, addr_words + i, last_words + i, out + i);
		i += 4;
	}
	words_scalar(keyed, addr_words + i, last_words + i, n - i, out + i);
}

/*
 * CPUID says what the CPU has; XCR0 says whether the kernel saves the
 * registers' state on a context switch (AVX: bits 1-2; AVX-512 also the
 * mask and upper registers, bits 5-7).  Both are needed.  This reads CPUID
 * itself rather than through __builtin_cpu_supports, whose tables live in
 * libgcc: the core may call nothing outside itself (make check-core).
 */
static bool cpu_can_run(enum hs_flow_hash_burst_impl impl)
{
	unsigned int eax, ebx, ecx, edx, xcr0_low, xcr0_high;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE) || !(ecx & bit_AVX))
		return false;
	__asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
	if ((xcr0_low & 0x06) != 0x06 || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
		return false;
	if (impl == HS_FLOW_HASH_BURST_AVX2)
		return ebx & bit_AVX2;
	return (ebx & bit_AVX2) && (ebx & bit_AVX512F) && (xcr0_low & 0xe6) == 0xe6;
}

static words_fn *const words_impls[HS_FLOW_HASH_BURST_IMPLS] = { words_scalar, words_avx2, words_avx512 };

#else

static bool cpu_can_run(enum hs_flow_hash_burst_impl impl)
{
	(void)impl;
	return false;
}

static words_fn *const words_impls[HS_FLOW_HASH_BURST_IMPLS] = { words_scalar, NULL, NULL };

#endif

const char *hs_flow_hash_burst_impl_name(enum hs_flow_hash_burst_impl impl)
{
	static const char *const names[HS_FLOW_HASH_BURST_IMPLS] = { "scalar", "avx2", "avx512" };

	return impl < HS_FLOW_HASH_BURST_IMPLS ? names[impl] : "?";
}

bool hs_flow_hash_burst_impl_usable(enum hs_flow_hash_burst_impl impl)
{
	if (impl >= HS_FLOW_HASH_BURST_IMPLS || !words_impls[impl])
		return false;
	return impl == HS_FLOW_HASH_BURST_SCALAR || cpu_can_run(impl);
}

enum hs_flow_hash_burst_impl hs_flow_hash_burst_impl_chosen(void)
{
	for (int impl = HS_FLOW_HASH_BURST_IMPLS - 1; impl > HS_FLOW_HASH_BURST_SCALAR; impl--)
		if (hs_flow_hash_burst_impl_usable((enum hs_flow_hash_burst_impl)impl))
			return (enum hs_flow_hash_burst_impl)impl;
	return HS_FLOW_HASH_BURST_SCALAR;
}

void hs_flow_hash_burst_words_with(enum hs_flow_hash_burst_impl impl, const struct hs_sipstate *keyed,
				   const uint64_t addr_words[], const uint64_t last_words[], size_t n, uint64_t out[])
{
	words_impls[impl](keyed, addr_words, last_words, n, out);
}

/*
 * Chosen on the first call and kept.  No shortcut for short bursts: the
 * table calls with 16 words, and a short burst costs the implementation
 * one compare to hand to its scalar loop.
 */
void hs_flow_hash_burst_words(const struct hs_sipstate *keyed, const uint64_t addr_words[],
			      const uint64_t last_words[], size_t n, uint64_t out[])
{
	static _Atomic(words_fn *) chosen;
	words_fn *fn = atomic_load_explicit(&chosen, memory_order_relaxed);

	if (!fn) {
		fn = words_impls[hs_flow_hash_burst_impl_chosen()];
		atomic_store_explicit(&chosen, fn, memory_order_relaxed);
	}
	fn(keyed, addr_words, last_words, n, out);
}
