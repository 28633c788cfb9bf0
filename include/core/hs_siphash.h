/*
 * hs_siphash: SipHash-1-3, the keyed hash behind the flow table.  A random
 * key chosen at start makes bucket positions unpredictable, so an attacker
 * cannot aim packets at one chain.
 *
 * Besides the generic hs_siphash, the header gives the steps it is made
 * of (hs_sip_init, hs_sip_block, hs_sip_finish), inline, so that a caller
 * with input of a fixed shape (the flow table hashing a flow key on every
 * packet, hs_flow_hash.h) can compute the same function from word loads,
 * without assembling its bytes into a buffer first; and a key's starting
 * state (hs_sip_keyed, hs_sip_first_block) that such a caller computes
 * once, not for every message.
 */
#ifndef HS_SIPHASH_H
#define HS_SIPHASH_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint64_t hs_siphash(const uint8_t key[16], const void *data, size_t len);

/* The four words of SipHash's internal state. */
struct hs_sipstate {
	uint64_t v0, v1, v2, v3;
};

static inline uint64_t hs_sip_rotl(uint64_t x, int bits)
{
	return (x << bits) | (x >> (64 - bits));
}

/* Little-endian loads, legal at any alignment: memcpy of a fixed size compiles to one move. */
static inline uint64_t hs_sip_load_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline uint64_t hs_sip_load_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline struct hs_sipstate hs_sip_init(const uint8_t key[16])
{
	uint64_t k0 = hs_sip_load_le64(key), k1 = hs_sip_load_le64(key + 8);

	return (struct hs_sipstate){ 0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
				     0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1 };
}

/* A SipRound's first step, which reads only v0 and v1. */
static inline void hs_sip_round_start(struct hs_sipstate *s)
{
	s->v0 += s->v1; s->v1 = hs_sip_rotl(s->v1, 13); s->v1 ^= s->v0; s->v0 = hs_sip_rotl(s->v0, 32);
}

/* The rest of a SipRound. */
static inline void hs_sip_round_rest(struct hs_sipstate *s)
{
	s->v2 += s->v3; s->v3 = hs_sip_rotl(s->v3, 16); s->v3 ^= s->v2;
	s->v0 += s->v3; s->v3 = hs_sip_rotl(s->v3, 21); s->v3 ^= s->v0;
	s->v2 += s->v1; s->v1 = hs_sip_rotl(s->v1, 17); s->v1 ^= s->v2; s->v2 = hs_sip_rotl(s->v2, 32);
}

static inline void hs_sip_round(struct hs_sipstate *s)
{
	hs_sip_round_start(s);
	hs_sip_round_rest(s);
}

/* One 8-byte message block, with SipHash-1-3's one compression round. */
static inline void hs_sip_block(struct hs_sipstate *s, uint64_t m)
{
	s->v3 ^= m;
	hs_sip_round(s);
	s->v0 ^= m;
}

/*
 * The state every message under a key starts from, one step into the
 * first block: the first block's message word is mixed into v3 only, and
 * the first step of its round reads v0 and v1 alone, so that step is the
 * same for every message.  A caller hashing many messages under one key
 * (the flow table, every packet) keeps this state and starts each message
 * with hs_sip_first_block, which finishes the step's round: the same
 * SipHash, a dozen instructions a message fewer.
 */
static inline struct hs_sipstate hs_sip_keyed(const uint8_t key[16])
{
	struct hs_sipstate s = hs_sip_init(key);

	hs_sip_round_start(&s);
	return s;
}

/* The first 8-byte block of a message, from the state hs_sip_keyed gave (as hs_sip_block from hs_sip_init's). */
static inline void hs_sip_first_block(struct hs_sipstate *s, uint64_t m)
{
	s->v3 ^= m;
	hs_sip_round_rest(s);
	s->v0 ^= m;
}

/*
 * The last block (the message's 0-7 remaining bytes, little-endian, with
 * the message length's low byte in the top byte), then the three
 * finalisation rounds: the hash.
 */
static inline uint64_t hs_sip_finish(struct hs_sipstate *s, uint64_t last)
{
	hs_sip_block(s, last);
	s->v2 ^= 0xff;
	hs_sip_round(s);
	hs_sip_round(s);
	hs_sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

#endif
