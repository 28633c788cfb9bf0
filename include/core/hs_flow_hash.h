/*
 * hs_flow_hash: the flow table's hash of a flow key, computed on every
 * packet.  It is SipHash-1-3 (hs_siphash.h) of the bytes that can differ
 * between keys: both addresses (4 bytes each for IPv4, 16 for IPv6), both
 * ports as they lie in memory, and the family, 13 or 37 bytes.  The
 * generic hs_siphash over those bytes gives the same value; this one
 * reads them straight out of the key with word loads, because assembling
 * them into a buffer and running the generic loop and tail cost as much
 * as the hash itself.
 */
#ifndef HS_FLOW_HASH_H
#define HS_FLOW_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"
#include "hs_siphash.h"

/* The layout the word loads below rely on: both addresses back to back, then both ports. */
_Static_assert(offsetof(struct hs_flow_key, addr) == 0 && sizeof(struct hs_addr) == 16 &&
	       offsetof(struct hs_flow_key, port) == 32 && sizeof(((struct hs_flow_key *)0)->port) == 4,
	       "hs_flow_hash reads a flow key as two 16-byte addresses and two ports");

/* The message lengths: both addresses, both ports and the family (the burst hash builds the same words). */
#define HS_FLOW_HASH_LEN_IPV4 (2 * 4 + 4 + 1)
#define HS_FLOW_HASH_LEN_IPV6 (2 * 16 + 4 + 1)

/*
 * The words an IPv4 key's hash is made of: its first message block, both
 * addresses' four bytes, and its last block, both ports, the family and
 * the message length in the top byte.  Named, so that a caller that has
 * them at hand (the batch path, which builds the key) hands them to the
 * burst hash (hs_flow_hash_burst_words) with no key to read them back
 * from, and the one definition below says what they are.
 */
static inline uint64_t hs_flow_hash_addr_word(const struct hs_flow_key *key)
{
	return hs_sip_load_le32(key->addr[0].bytes) | hs_sip_load_le32(key->addr[1].bytes) << 32;
}

static inline uint64_t hs_flow_hash_last_word(const struct hs_flow_key *key, uint8_t family, uint64_t len)
{
	return hs_sip_load_le32(key->port) | (uint64_t)family << 32 | len << 56;
}

/* The hash of a two-block message, an IPv4 key's, from its words. */
static inline uint64_t hs_flow_hash_words(const struct hs_sipstate *keyed, uint64_t addr_word, uint64_t last_word)
{
	struct hs_sipstate s = *keyed;

	hs_sip_first_block(&s, addr_word);
	return hs_sip_finish(&s, last_word);
}

/*
 * SipHash-1-3, from the state hs_sip_keyed gave for a key, of addr[0],
 * addr[1] (4 bytes each for IPv4, 16 for IPv6), port[0], port[1], family:
 * exactly hs_siphash under that key over those bytes
 * (tests/unit/test_flow_hash.c holds the two equal).  The flow table
 * keeps its key's state, so that no packet computes it again.
 */
static inline uint64_t hs_flow_hash_keyed(const struct hs_sipstate *keyed, const struct hs_flow_key *key,
					  uint8_t family)
{
	if (family == HS_FAMILY_IPV6) {
		struct hs_sipstate s = *keyed;
		const uint8_t *addrs = (const uint8_t *)key->addr;

		hs_sip_first_block(&s, hs_sip_load_le64(addrs));
		for (size_t i = 8; i < 2 * sizeof(struct hs_addr); i += 8)
			hs_sip_block(&s, hs_sip_load_le64(addrs + i));
		return hs_sip_finish(&s, hs_flow_hash_last_word(key, family, HS_FLOW_HASH_LEN_IPV6));
	}
	return hs_flow_hash_words(keyed, hs_flow_hash_addr_word(key),
				  hs_flow_hash_last_word(key, family, HS_FLOW_HASH_LEN_IPV4));
}

/* The same under hash_key itself. */
static inline uint64_t hs_flow_hash(const uint8_t hash_key[16], const struct hs_flow_key *key, uint8_t family)
{
	struct hs_sipstate keyed = hs_sip_keyed(hash_key);

	return hs_flow_hash_keyed(&keyed, key, family);
}

#endif
