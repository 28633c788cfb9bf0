/*
 * hs_flow_hash_burst: the flow hash (hs_flow_hash.h) of a burst of IPv4
 * keys at once, from their words.  The flow table's batch path looks up
 * bursts of up to 64 packets, and the keyed SipHash of each key was a
 * fifth of its instructions per packet; the hashes of a burst are
 * independent, so on x86-64 they run in vector lanes, 8 keys to an
 * AVX-512 register or 4 to an AVX2 one.  The results are bit for bit
 * those of hs_flow_hash_keyed, so the table may use either for any key.
 *
 * The implementation is chosen once, on first use, from what the CPU and
 * the kernel support (CPUID and XCR0); a CPU or an emulator without AVX2
 * (valgrind runs no AVX-512) gets the plain loop.  This module owns that
 * choice and the vector code.
 */
#ifndef HS_FLOW_HASH_BURST_H
#define HS_FLOW_HASH_BURST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_siphash.h"

/*
 * out[i] = hs_flow_hash_words(keyed, addr_words[i], last_words[i]) for
 * i < n, any n: the hashes of IPv4 keys from their words
 * (hs_flow_hash_addr_word, hs_flow_hash_last_word, hs_flow_hash.h), equal
 * to hs_flow_hash_keyed of the keys.  For a caller that builds the keys
 * and has the words at hand: the lanes load them plainly.  Groups of 8
 * or 4 in lanes, the 1-3 words after the last group one at a time, which
 * is cheaper than a group with lanes to spare; IPv6 keys are the caller's
 * to hash (hs_flow_hash_keyed).  Pure: no allocation, no I/O; safe to call
 * from several threads at once.
 */
void hs_flow_hash_burst_words(const struct hs_sipstate *keyed, const uint64_t addr_words[],
			      const uint64_t last_words[], size_t n, uint64_t out[]);

/*
 * The implementations, for the tests (each must equal the scalar hash on
 * any CPU that can run it) and the benchmark (each one's cost).
 */
enum hs_flow_hash_burst_impl {
	HS_FLOW_HASH_BURST_SCALAR,
	HS_FLOW_HASH_BURST_AVX2,
	HS_FLOW_HASH_BURST_AVX512,
	HS_FLOW_HASH_BURST_IMPLS
};

/* Its name: "scalar", "avx2", "avx512". */
const char *hs_flow_hash_burst_impl_name(enum hs_flow_hash_burst_impl impl);

/* Whether this build has it and this CPU (and its kernel, for the registers' state) can run it. */
bool hs_flow_hash_burst_impl_usable(enum hs_flow_hash_burst_impl impl);

/* The one hs_flow_hash_burst_words uses: the widest usable. */
enum hs_flow_hash_burst_impl hs_flow_hash_burst_impl_chosen(void);

/* hs_flow_hash_burst_words with the given implementation, which must be usable. */
void hs_flow_hash_burst_words_with(enum hs_flow_hash_burst_impl impl, const struct hs_sipstate *keyed,
				   const uint64_t addr_words[], const uint64_t last_words[], size_t n, uint64_t out[]);

#endif
