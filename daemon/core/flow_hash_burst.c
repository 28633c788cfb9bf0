/*
 * flow_hash_burst: hs_flow_hash_burst, the flow hash of many keys at once
 * (hs_flow_hash_burst.h): a plain loop everywhere, and on x86-64 the same
 * SipHash-1-3 run in 4 (AVX2) or 8 (AVX-512) vector lanes, one key a lane,
 * chosen once from CPUID.
 *
 * An IPv4 key's hash is two message blocks from the keyed state: both
 * addresses, then ports, family and length (hs_flow_hash_keyed).  The
 * vector code gathers each lane's words straight out of its key with the
 * CPU's gather loads, which measured cheaper than forming the words with
 * scalar loads and loading them from the stack (bursts of 32: AVX-512 2.9
 * against 3.5 ns a key, AVX2 4.4 against 6.1, bench_flow_hash), then runs
 * the rounds on whole registers.  Lanes of IPv6 keys are hashed as if
 * IPv4 and overwritten by the scalar hash after, which costs nothing when
 * a burst is all IPv4, the common case, and keeps the vector code to one
 * shape of message.
 *
 * A caller that builds the keys has an IPv4 key's two words in registers
 * as it builds them: hs_flow_hash_burst_words takes them in two arrays,
 * one plain vector load each, with no gathers and no key pointers, and
 * leaves IPv6 keys to the caller: half the cost of the gathering lanes
 * (bursts of 16: AVX-512 1.5 against 3.1 ns a key, AVX2 2.4 against 4.0,
 * bench_flow_hash).  The flow table's batch path hashes that way (its
 * pass of keys and hashes 635-656 -> 413 cycles a burst of 32, table.c).
 */
#include "hs_flow_hash_burst.h"

#include <stdatomic.h>
#include <string.h>

#include "hs_flow_hash.h"
#include "hs_packet.h"

typedef void burst_fn(const struct hs_sipstate *keyed, const struct hs_flow_key *const keys[],
		      const uint8_t families[], size_t n, uint64_t out[]);

typedef void words_fn(const struct hs_sipstate *keyed, const uint64_t addr_words[], const uint64_t last_words[],
		      size_t n, uint64_t out[]);

static void burst_scalar(const struct hs_sipstate *keyed, const struct hs_flow_key *const keys[],
			 const uint8_t families[], size_t n, uint64_t out[])
{
	for (size_t i = 0; i < n; i++)
		out[i] = hs_flow_hash_keyed(keyed, keys[i], families[i]);
}

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

/*
 * After a vector group stored lanes [0, count) of out: the IPv6 keys among
 * them, whose lanes were hashed as IPv4, get their real hash.
 */
static inline void fix_ipv6_lanes(const struct hs_sipstate *keyed, const struct hs_flow_key *const keys[],
				  const uint8_t families[], size_t count, uint64_t out[])
{
	for (size_t j = 0; j < count; j++)
		if (families[j] == HS_FAMILY_IPV6)
			out[j] = hs_flow_hash_keyed(keyed, keys[j], families[j]);
}

/*
 * Where a lane's words lie in its key, as offsets that a gather adds to
 * the key's address (the gather's base is 0 and its indices are the keys'
 * addresses): the 8 bytes at ADDR0_WORD start with addr[0]'s first 4, the
 * 8 at ADDR1_WORD end with addr[1]'s first 4 (so that they land in the top
 * half, where the block wants them), the 4 at PORTS_WORD are both ports.
 * All lie inside the key: nothing is read past it.
 */
#define ADDR0_WORD ((const void *)(uintptr_t)offsetof(struct hs_flow_key, addr[0]))
#define ADDR1_WORD ((const void *)(uintptr_t)(offsetof(struct hs_flow_key, addr[1]) - 4))
#define PORTS_WORD ((const void *)(uintptr_t)offsetof(struct hs_flow_key, port))
_Static_assert(offsetof(struct hs_flow_key, addr[1]) >= 4 &&
	       offsetof(struct hs_flow_key, addr[1]) + 4 <= sizeof(struct hs_flow_key) &&
	       offsetof(struct hs_flow_key, port) + 4 <= sizeof(struct hs_flow_key),
	       "the gathers read inside a flow key");

/* The family bytes of `width` keys, byte j in bits 8j (x86 is little-endian), with one load. */
LANE_INLINE uint64_t family_bytes(const uint8_t families[], size_t width)
{
	uint64_t bytes = 0;

	memcpy(&bytes, families, width);
	return bytes;
}

/* The last block's top byte: the message length, as hs_flow_hash_keyed puts it. */
#define LAST_BLOCK_LENGTH ((long long)((uint64_t)HS_FLOW_HASH_LEN_IPV4 << 56))

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

struct words4 {
	__m256i first, last;
};

/* The words of 4 keys. */
LANE_INLINE TARGET_AVX2 struct words4 words4_gather(const struct hs_flow_key *const keys[], const uint8_t families[])
{
	__m256i keys_at = _mm256_loadu_si256((const __m256i *)keys);
	__m256i addr0 = _mm256_i64gather_epi64(ADDR0_WORD, keys_at, 1);
	__m256i addr1 = _mm256_i64gather_epi64(ADDR1_WORD, keys_at, 1);
	__m128i ports = _mm256_i64gather_epi32(PORTS_WORD, keys_at, 1);
	__m256i family = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)family_bytes(families, 4)));
	struct words4 w;

	/* The low halves from addr0's word, the high ones from addr1's. */
	w.first = _mm256_blend_epi32(addr0, addr1, 0xaa);
	w.last = _mm256_or_si256(_mm256_or_si256(_mm256_cvtepu32_epi64(ports), _mm256_slli_epi64(family, 32)),
				 _mm256_set1_epi64x(LAST_BLOCK_LENGTH));
	return w;
}

LANE_INLINE TARGET_AVX2 struct sip4 sip4_start(const struct hs_sipstate *keyed)
{
	return (struct sip4){ _mm256_set1_epi64x((long long)keyed->v0), _mm256_set1_epi64x((long long)keyed->v1),
			      _mm256_set1_epi64x((long long)keyed->v2), _mm256_set1_epi64x((long long)keyed->v3) };
}

/* The hashes of 4 keys into out[0..3]. */
LANE_INLINE TARGET_AVX2 void group4(const struct sip4 *start, const struct hs_sipstate *keyed,
				    const struct hs_flow_key *const keys[], const uint8_t families[], uint64_t out[])
{
	struct words4 w = words4_gather(keys, families);

	_mm256_storeu_si256((__m256i *)out, sip4_hash(*start, w.first, w.last));
	fix_ipv6_lanes(keyed, keys, families, 4, out);
}

/*
 * Whole groups of 4 in lanes, the 1-3 keys left over one at a time: a
 * group costs about what 3 scalar hashes do however few of its lanes are
 * used (bench_flow_hash: a burst of 2 took longer in lanes than one at a
 * time), so a partial group would gain nothing.
 */
static TARGET_AVX2 void burst_avx2(const struct hs_sipstate *keyed, const struct hs_flow_key *const keys[],
				   const uint8_t families[], size_t n, uint64_t out[])
{
	size_t i = 0;

	if (n >= 4) {
		const struct sip4 start = sip4_start(keyed);

		for (; i + 4 <= n; i += 4)
			group4(&start, keyed, keys + i, families + i, out + i);
	}
	burst_scalar(keyed, keys + i, families + i, n - i, out + i);
}

/* The hashes of 4 keys' words into out[0..3]: two plain loads, no gathers. */
LANE_INLINE TARGET_AVX2 void words_group4(const struct sip4 *start, const uint64_t addr_words[],
					  const uint64_t last_words[], uint64_t out[])
{
	_mm256_storeu_si256((__m256i *)out, sip4_hash(*start, _mm256_loadu_si256((const __m256i *)addr_words),
						      _mm256_loadu_si256((const __m256i *)last_words)));
}

/* hs_flow_hash_burst_words: groups of 4 in lanes, the 1-3 words left one at a time, as burst_avx2. */
static TARGET_AVX2 void words_avx2(const struct hs_sipstate *keyed, const uint64_t addr_words[],
				   const uint64_t last_words[], size_t n, uint64_t out[])
{
	size_t i = 0;

	if (n >= 4) {
		const struct sip4 start = sip4_start(keyed);

		for (; i + 4 <= n; i += 4)
			words_group4(&start, addr_words + i, last_words + i, out + i);
	}
	for (; i < n; i++)
		out[i] = hs_flow_hash_words(keyed, addr_words[i], last_words[i]);
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

struct words8 {
	__m512i first, last;
};

/* The words of 8 keys. */
LANE_INLINE TARGET_AVX512 struct words8 words8_gather(const struct hs_flow_key *const keys[], const uint8_t families[])
{
	__m512i keys_at = _mm512_loadu_si512(keys);
	__m512i addr0 = _mm512_i64gather_epi64(keys_at, ADDR0_WORD, 1);
	__m512i addr1 = _mm512_i64gather_epi64(keys_at, ADDR1_WORD, 1);
	__m256i ports = _mm512_i64gather_epi32(keys_at, PORTS_WORD, 1);
	__m512i family = _mm512_cvtepu8_epi64(_mm_cvtsi64_si128((long long)family_bytes(families, 8)));
	struct words8 w;

	/* The low halves from addr0's word, the high ones from addr1's. */
	w.first = _mm512_mask_blend_epi32(0xaaaa, addr0, addr1);
	/* 0xfe is the truth table of a | b | c. */
	w.last = _mm512_ternarylogic_epi64(_mm512_cvtepu32_epi64(ports), _mm512_slli_epi64(family, 32),
					   _mm512_set1_epi64(LAST_BLOCK_LENGTH), 0xfe);
	return w;
}

/*
 * Whole groups of 8 in AVX-512 lanes, then 4 of what is left in AVX2 lanes
 * (every CPU with AVX-512 has AVX2, and cpu_can_run asks for both), then
 * the last 1-3 one at a time.  Leftovers do not go into a group of 8 with
 * lanes masked off: a masked group cost as much as a full one, 6.4 ns a
 * key for 4 keys against 4.0 in AVX2 lanes (bench_flow_hash, bursts of 4).
 */
static TARGET_AVX512 void burst_avx512(const struct hs_sipstate *keyed, const struct hs_flow_key *const keys[],
				       const uint8_t families[], size_t n, uint64_t out[])
{
	size_t i = 0;

	if (n >= 8) {
		const struct sip8 start = sip8_start(keyed);

		for (; i + 8 <= n; i += 8) {
			struct words8 w = words8_gather(keys + i, families + i);

			_mm512_storeu_si512(out + i, sip8_hash(start, w.first, w.last));
			fix_ipv6_lanes(keyed, keys + i, families + i, 8, out + i);
		}
	}
	if (n - i >= 4) {
		const struct sip4 start = sip4_start(keyed);

		group4(&start, keyed, keys + i, families + i, out + i);
		i += 4;
	}
	burst_scalar(keyed, keys + i, families + i, n - i, out + i);
}

/* hs_flow_hash_burst_words: groups of 8, then 4, then one at a time, as burst_avx512. */
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
	for (; i < n; i++)
		out[i] = hs_flow_hash_words(keyed, addr_words[i], last_words[i]);
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

static burst_fn *const impls[HS_FLOW_HASH_BURST_IMPLS] = { burst_scalar, burst_avx2, burst_avx512 };
static words_fn *const words_impls[HS_FLOW_HASH_BURST_IMPLS] = { words_scalar, words_avx2, words_avx512 };

#else

static bool cpu_can_run(enum hs_flow_hash_burst_impl impl)
{
	(void)impl;
	return false;
}

static burst_fn *const impls[HS_FLOW_HASH_BURST_IMPLS] = { burst_scalar, NULL, NULL };
static words_fn *const words_impls[HS_FLOW_HASH_BURST_IMPLS] = { words_scalar, NULL, NULL };

#endif

const char *hs_flow_hash_burst_impl_name(enum hs_flow_hash_burst_impl impl)
{
	static const char *const names[HS_FLOW_HASH_BURST_IMPLS] = { "scalar", "avx2", "avx512" };

	return impl < HS_FLOW_HASH_BURST_IMPLS ? names[impl] : "?";
}

bool hs_flow_hash_burst_impl_usable(enum hs_flow_hash_burst_impl impl)
{
	if (impl >= HS_FLOW_HASH_BURST_IMPLS || !impls[impl])
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

void hs_flow_hash_burst_with(enum hs_flow_hash_burst_impl impl, const struct hs_sipstate *keyed,
			     const struct hs_flow_key *const keys[], const uint8_t families[], size_t n,
			     uint64_t out[])
{
	impls[impl](keyed, keys, families, n, out);
}

/*
 * The choice is made on the first call and kept: CPUID costs more than a
 * burst's hashes (and under a hypervisor it traps).  Threads that race to
 * make it all store the same pointer, so relaxed atomics suffice.
 */
void hs_flow_hash_burst(const struct hs_sipstate *keyed, const struct hs_flow_key *const keys[],
			const uint8_t families[], size_t n, uint64_t out[])
{
	static _Atomic(burst_fn *) chosen;
	burst_fn *fn = atomic_load_explicit(&chosen, memory_order_relaxed);

	/*
	 * Fewer keys than fill one group of 4 lanes take the scalar hash in
	 * every implementation; here they skip the call through the pointer.
	 */
	if (n < 4) {
		burst_scalar(keyed, keys, families, n, out);
		return;
	}
	if (!fn) {
		fn = impls[hs_flow_hash_burst_impl_chosen()];
		atomic_store_explicit(&chosen, fn, memory_order_relaxed);
	}
	fn(keyed, keys, families, n, out);
}

void hs_flow_hash_burst_words_with(enum hs_flow_hash_burst_impl impl, const struct hs_sipstate *keyed,
				   const uint64_t addr_words[], const uint64_t last_words[], size_t n, uint64_t out[])
{
	words_impls[impl](keyed, addr_words, last_words, n, out);
}

/*
 * Chosen on the first call and kept, as for hs_flow_hash_burst.  No
 * shortcut for short bursts: the table calls with 16 words, and a short
 * burst costs the implementation one compare to hand to its scalar loop.
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
