/*
 * hs_flow: the flow key and the tracked flow record.  It owns the canonical,
 * direction-independent key of a TCP connection, the compact per-flow record
 * (both endpoints' states and windows, counters, times, history) and the
 * small helpers that read it.  Records live in the table's preallocated
 * arrays; nothing here allocates.
 */
#ifndef HS_FLOW_H
#define HS_FLOW_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hs_packet.h"
#include "hs_tcp_state.h"

/*
 * The key orders the two endpoints so that both directions of a connection
 * produce the same key: endpoint 0 is the one whose (address, port) compares
 * lower.  Padding is always zero so keys hash and compare as bytes.
 */
struct hs_flow_key {
	struct hs_addr addr[2];
	uint16_t port[2];
};

/* Per-endpoint sequence tracking, as Linux conntrack's ip_ct_tcp_state. */
struct hs_endpoint_window {
	uint32_t end;               /* highest sequence number sent + 1 (snd_nxt) */
	uint32_t maxend;            /* highest sequence number the peer allowed */
	uint32_t maxwin;            /* largest (scaled) window seen; 0 = not seen yet */
};

/* Per-endpoint flag bits (hs_flow.ep_flags). */
/*
 * Its 'D' is in the history (or the history was full), so its data may
 * take the common path (table.c, track_common), which reads this byte
 * anyway.
 */
#define HS_EP_SEEN_DATA  0x01
/*
 * A SYN or SYN-ACK of its carried data (TCP Fast Open).  The bit was
 * SACK-permitted, which nothing read: the checks use the cumulative ACK.
 */
#define HS_EP_SYN_DATA   0x02
#define HS_EP_SYN        0x04   /* its SYN (or SYN-ACK) was seen */
#define HS_EP_FIN        0x08   /* it sent a FIN; window.end is one past it */
#define HS_EP_LIBERAL    0x10   /* picked up mid-stream: only loose checks */
#define HS_EP_AHEAD_SEQ  0x20   /* its last packet started beyond its window: we may have missed some */
#define HS_EP_AHEAD_ACK  0x40   /* its last packet acked data of the peer's we never saw */
/*
 * The common path counted a pure ACK of the side, whose 'A' may not be in
 * the history yet (hs_flow_history_due).  Here, beside the bits that path
 * clears, its mark costs no store of its own.
 */
#define HS_EP_SEEN_ACK   0x80
/*
 * Both "ahead" bits at once, which no packet sets (resync marks one kind):
 * the flow was restored from a snapshot, and packets may have passed
 * unseen for as long as no daemon ran, any distance ahead of the windows.
 * The first plausible packet of either endpoint catches the windows up
 * without waiting for the peer's word (hs_tcp_update).
 */
#define HS_EP_GAP        (HS_EP_AHEAD_SEQ | HS_EP_AHEAD_ACK)

/* Flow flag bits (hs_flow.flags). */
#define HS_FLOW_IN_USE        0x01
#define HS_FLOW_CLIENT_IS_0   0x02  /* the client is key endpoint 0 */
#define HS_FLOW_ESTABLISHED   0x04  /* the handshake completed at some point */
#define HS_FLOW_PICKED_UP     0x08  /* first seen mid-stream */
#define HS_FLOW_TIMER_LINKED  0x10
#define HS_FLOW_TIMER_L2      0x20  /* filed in the timer wheel's second level */
#define HS_FLOW_POLICY_DONE   0x40  /* a timed policy acted in this state: wait for the next */
#define HS_FLOW_BLOCKED       0x80  /* dropped by a policy until a new SYN */

/* History letters are stored as 4-bit codes; bit 3 marks the server. */
enum hs_history_event {
	HS_HIST_SYN = 1,            /* 'S' */
	HS_HIST_SYNACK,             /* 'H' */
	HS_HIST_ACK,                /* 'A' pure ACK */
	HS_HIST_DATA,               /* 'D' payload */
	HS_HIST_FIN,                /* 'F' */
	HS_HIST_RST,                /* 'R' */
	HS_HIST_INVALID,            /* 'I' */
};
#define HS_HISTORY_MAX 12           /* events (nibbles) kept in hs_flow.history */

/*
 * One tracked connection, 92 bytes; an IPv6 one takes 124 (hs_flow_v6).
 * Measured what a flow needs: a table's memory is its records, and 128
 * bytes a record (36 of them a key sized for IPv6 even when it holds two
 * IPv4 addresses) made 1M flows cost 132 MB with the index.  So the record
 * holds IPv4 addresses in place and an IPv6 flow's addresses follow its
 * record (the table keeps IPv6 records apart, 124 bytes each); the timer
 * wheel's links and slot and the family share two words (the hash index
 * lies outside the records, hs_flow_index.h); both window scales share a
 * byte; byte counters are 46 bits (64 TiB each way).  hs_flow_family and
 * hs_flow_wscale read the packed fields.
 *
 * A packet's tracking reads and writes nearly every field, so the table
 * fetches a record's two or three cache lines together, and the order of
 * the fields follows meaning, not lines.  Endpoint arrays (state, window, counters) are indexed by enum hs_side;
 * addresses and ports by key endpoint (hs_flow_addr, hs_flow_port read
 * them by side).  Times are 10 ms ticks since the table was created
 * (uint32: ages wrap after 497 days).
 *
 * A flow is copied with hs_flow_copy into an hs_flow_v6, never by
 * assignment: an IPv6 flow's addresses are not in struct hs_flow.
 */
struct hs_flow {
	/* The table's (timer wheel links and slot, free list), and the family: HS_FLOW_LINK_V6. */
	uint32_t link[2];
	uint8_t addr4[2][4];        /* IPv4 addresses by key endpoint; zero in an IPv6 flow */
	uint16_t port[2];           /* by key endpoint */
	uint8_t flags;              /* HS_FLOW_* */
	uint8_t wscales;            /* window scale applied to each side's windows: client low nibble, server high */
	uint8_t state[2];           /* enum hs_tcp_state, by side */
	uint8_t ep_flags[2];        /* HS_EP_*, by side */
	uint8_t history[HS_HISTORY_MAX / 2]; /* 4-bit hs_history_event codes, first event in the low nibble of byte 0 */
	struct hs_endpoint_window window[2];
	uint32_t last_seen;         /* ticks */
	uint32_t first_seen;
	uint32_t state_since;       /* when either endpoint's state last changed */
	uint32_t id;                /* unique per table while the flow lives */
	uint32_t packets[2];        /* every packet of the flow, invalid ones included */
	uint32_t bytes_lo[2];       /* IP bytes (headers included), as conntrack accounts them: the low 32 bits */
	uint16_t bytes_hi_marks[2]; /* bits 32-45 (HS_BYTES_HI_MASK), and two marks of the side (HS_LOCAL, HS_SENT_WSCALE) */
};

/*
 * An IPv6 flow as the table keeps it, and the room for any flow copied out
 * of a table (hs_flow_copy): the record, then both addresses by key
 * endpoint.
 */
struct hs_flow_v6 {
	struct hs_flow flow;
	struct hs_addr addr[2];
};

_Static_assert(sizeof(struct hs_flow) == 92, "a flow record is 92 bytes");
_Static_assert(offsetof(struct hs_flow_v6, flow) == 0, "an IPv6 record starts with the flow");

/* The bit of link[1] that says the flow is IPv6 (the table's links take 25 bits a word, the slot 12 of the rest). */
#define HS_FLOW_LINK_V6 (1u << 31)

static inline uint8_t hs_flow_family(const struct hs_flow *flow)
{
	return (flow->link[1] & HS_FLOW_LINK_V6) ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
}

static inline void hs_flow_set_family(struct hs_flow *flow, uint8_t family)
{
	flow->link[1] = family == HS_FAMILY_IPV6 ? flow->link[1] | HS_FLOW_LINK_V6 : flow->link[1] & ~HS_FLOW_LINK_V6;
}

/* A side's window scale, 0 to 14. */
static inline uint8_t hs_flow_wscale(const struct hs_flow *flow, enum hs_side side)
{
	return (uint8_t)((flow->wscales >> (side == HS_SERVER ? 4 : 0)) & 0xf);
}

static inline void hs_flow_set_wscale(struct hs_flow *flow, enum hs_side side, uint8_t wscale)
{
	unsigned shift = side == HS_SERVER ? 4 : 0;

	flow->wscales = (uint8_t)((flow->wscales & ~(0xfu << shift)) | ((wscale & 0xfu) << shift));
}

/*
 * A side's byte count is 46 bits (64 TiB each way); the two bits above it
 * in bytes_hi_marks are marks of the side that no common packet writes:
 * HS_LOCAL: its address is one of the host's own (the daemon runs on an
 * end host): decided when the flow is created, from the table's copy of
 * the host's addresses, and kept for the flow's life, as the socket keeps
 * its address (hs_flow_local_sides);
 * HS_SENT_WSCALE: it sent a window scale option in its SYN (which the
 * handshake alone reads: the scales in use are in wscales).
 */
#define HS_BYTES_HI_MASK  0x3fffu
#define HS_LOCAL          0x4000u
#define HS_SENT_WSCALE    0x8000u
#define HS_FLOW_BYTES_MAX ((UINT64_C(1) << 46) - 1)

static inline uint64_t hs_flow_bytes(const struct hs_flow *flow, enum hs_side side)
{
	return ((uint64_t)(flow->bytes_hi_marks[side] & HS_BYTES_HI_MASK) << 32) | flow->bytes_lo[side];
}

/* Sets a side's byte count, its marks kept; counts past 46 bits stay at the most. */
static inline void hs_flow_set_bytes(struct hs_flow *flow, enum hs_side side, uint64_t bytes)
{
	if (bytes > HS_FLOW_BYTES_MAX)
		bytes = HS_FLOW_BYTES_MAX;
	flow->bytes_lo[side] = (uint32_t)bytes;
	flow->bytes_hi_marks[side] = (uint16_t)((flow->bytes_hi_marks[side] & ~HS_BYTES_HI_MASK) | (bytes >> 32));
}

/*
 * Counts a packet of len bytes from a side.  Every packet does, so the
 * low word is added alone and the high one touched only on a carry
 * (saturating at the most), rather than the 46 bits put together and
 * split again.
 */
static inline void hs_flow_count(struct hs_flow *flow, enum hs_side side, uint32_t len)
{
	uint32_t lo = flow->bytes_lo[side] + len;

	flow->packets[side]++;
	if (lo < len) {
		if ((flow->bytes_hi_marks[side] & HS_BYTES_HI_MASK) == HS_BYTES_HI_MASK)
			lo = UINT32_MAX;
		else
			flow->bytes_hi_marks[side]++;
	}
	flow->bytes_lo[side] = lo;
}

/* The IPv6 record a flow of that family is the start of. */
static inline const struct hs_flow_v6 *hs_flow_v6_of(const struct hs_flow *flow)
{
	return (const struct hs_flow_v6 *)flow;
}

/* A key endpoint's address (0 or 1). */
static inline struct hs_addr hs_flow_key_addr(const struct hs_flow *flow, int index)
{
	struct hs_addr a = { { 0 } };

	if (hs_flow_family(flow) == HS_FAMILY_IPV6)
		return hs_flow_v6_of(flow)->addr[index];
	memcpy(a.bytes, flow->addr4[index], 4);
	return a;
}

/* The flow's canonical key, as hs_flow_key_from_packet builds it. */
void hs_flow_key_get(const struct hs_flow *flow, struct hs_flow_key *key);

/* Four bytes at any alignment, as one load (memcpy of a fixed size compiles to a move). */
static inline uint32_t hs_load32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t hs_load64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Whether two 16-byte addresses are equal: two loads each, no call to memcmp. */
static inline bool hs_addr_equal(const uint8_t a[16], const uint8_t b[16])
{
	return ((hs_load64(a) ^ hs_load64(b)) | (hs_load64(a + 8) ^ hs_load64(b + 8))) == 0;
}

/*
 * Whether the flow is the one with this key and family.  Every lookup
 * runs it on each record whose tag matched, so it compares words, not bytes:
 * both ports are one 4-byte word, an IPv4 address another.
 */
static inline bool hs_flow_has_key(const struct hs_flow *flow, const struct hs_flow_key *key, uint8_t family)
{
	if (hs_flow_family(flow) != family || hs_load32(flow->port) != hs_load32(key->port))
		return false;
	if (family == HS_FAMILY_IPV6) {
		const struct hs_flow_v6 *v6 = hs_flow_v6_of(flow);

		return hs_addr_equal(v6->addr[0].bytes, key->addr[0].bytes) &&
		       hs_addr_equal(v6->addr[1].bytes, key->addr[1].bytes);
	}
	/* An IPv4 key's addresses are zero past their first four bytes (hs_packet_parse). */
	return ((hs_load32(flow->addr4[0]) ^ hs_load32(key->addr[0].bytes)) |
		(hs_load32(flow->addr4[1]) ^ hs_load32(key->addr[1].bytes))) == 0;
}

/*
 * Gives the record in dst the key's addresses and ports and the family:
 * an IPv4 flow's addresses go in the record, an IPv6 flow's after it.
 */
void hs_flow_key_set(struct hs_flow_v6 *dst, const struct hs_flow_key *key, uint8_t family);

/* Copies a flow (an IPv6 one with its addresses) into dst. */
void hs_flow_copy(struct hs_flow_v6 *dst, const struct hs_flow *src);

#define HS_NIL UINT32_MAX

static inline void hs_store64(void *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

_Static_assert(offsetof(struct hs_packet, dport) == offsetof(struct hs_packet, sport) + 2,
	       "a packet's ports lie as a key's do, source first");

/*
 * The key's ports: the packet's two as one word, their 16-bit halves
 * exchanged where swap (all ones) says the destination goes first.  One
 * 4-byte store: the hash and the lookup that follow read both ports as one
 * word, and a CPU cannot forward two 2-byte stores to a 4-byte load (it
 * waits until they reach the cache).
 */
static inline void hs_flow_key_ports(const struct hs_packet *pkt, struct hs_flow_key *key, uint64_t swap)
{
	uint32_t ports = hs_load32(&pkt->sport);

	ports ^= (ports ^ (ports << 16 | ports >> 16)) & (uint32_t)swap;
	memcpy(key->port, &ports, sizeof(key->port));
}

/*
 * The key of an IPv4 packet (hs_flow_key_from_packet for that family).
 * Its addresses are zero past their first four bytes (hs_packet.h), so
 * the first 8 bytes of each, read as one big-endian number, order them as
 * memcmp orders all 16, and its low 32 bits are zero: the port goes
 * there, and one compare orders address then port.  The same 8-byte words
 * are the key's addresses, and both ports are one word: a third of the
 * work of the general case, which most traffic does not need.  Inline
 * here, so that the table's batch path builds a burst's keys without a
 * call for each (measured: 6 instructions a packet).
 */
static inline void hs_flow_key_ipv4(const struct hs_packet *pkt, struct hs_flow_key *key, bool *src_is_0)
{
	uint64_t s = hs_load64(pkt->src.bytes), d = hs_load64(pkt->dst.bytes);
	bool src_low = (be64toh(s) | pkt->sport) <= (be64toh(d) | pkt->dport);
	/* Without a branch: swap is all ones when the destination goes first. */
	uint64_t swap = (uint64_t)src_low - 1, x = (s ^ d) & swap;

	hs_store64(key->addr[0].bytes, s ^ x);
	hs_store64(key->addr[0].bytes + 8, 0);
	hs_store64(key->addr[1].bytes, d ^ x);
	hs_store64(key->addr[1].bytes + 8, 0);
	hs_flow_key_ports(pkt, key, swap);
	*src_is_0 = src_low;
}

/* Builds the canonical key for pkt and says whether pkt's source is key endpoint 0. */
void hs_flow_key_from_packet(const struct hs_packet *pkt, struct hs_flow_key *key,
			     bool *src_is_0);

/* Which side sent a packet whose source is key endpoint 0 (src_is_0) or 1. */
static inline enum hs_side hs_flow_sender(const struct hs_flow *flow, bool src_is_0)
{
	bool client_is_0 = (flow->flags & HS_FLOW_CLIENT_IS_0) != 0;
	return src_is_0 == client_is_0 ? HS_CLIENT : HS_SERVER;
}

/* The key endpoint index (0 or 1) of a side. */
static inline int hs_flow_key_index(const struct hs_flow *flow, enum hs_side side)
{
	bool client_is_0 = (flow->flags & HS_FLOW_CLIENT_IS_0) != 0;
	return (side == HS_CLIENT) == client_is_0 ? 0 : 1;
}

/* A side's address; an IPv4 address is zero-padded, as in struct hs_addr everywhere. */
static inline struct hs_addr hs_flow_addr(const struct hs_flow *flow, enum hs_side side)
{
	return hs_flow_key_addr(flow, hs_flow_key_index(flow, side));
}

/* Bit of a side in a set of sides (hs_flow_local_sides). */
#define HS_SIDE_BIT(side) (1u << (side))

/* Which endpoints are the host's own: a set of HS_SIDE_BIT, 0 on a router. */
static inline unsigned hs_flow_local_sides(const struct hs_flow *flow)
{
	return ((flow->bytes_hi_marks[HS_CLIENT] & HS_LOCAL) ? HS_SIDE_BIT(HS_CLIENT) : 0) |
	       ((flow->bytes_hi_marks[HS_SERVER] & HS_LOCAL) ? HS_SIDE_BIT(HS_SERVER) : 0);
}

/* Every set of sides: none (a router), the client, the server, both (loopback). */
#define HS_SIDES_ALL (HS_SIDE_BIT(HS_CLIENT) | HS_SIDE_BIT(HS_SERVER))

/*
 * The remote side of a flow with the given local sides: the peer of the one
 * local endpoint.  A router's flows (no local side) and the host's
 * connections to itself (both local) have none.
 */
static inline unsigned hs_remote_sides(unsigned local)
{
	return local == HS_SIDE_BIT(HS_CLIENT) ? HS_SIDE_BIT(HS_SERVER)
	       : local == HS_SIDE_BIT(HS_SERVER) ? HS_SIDE_BIT(HS_CLIENT) : 0;
}

/* Whether one of the given sides is in state want, the client being in client and the server in server. */
static inline bool hs_sides_in_state(unsigned sides, int client, int server, int want)
{
	return ((sides & HS_SIDE_BIT(HS_CLIENT)) && client == want) ||
	       ((sides & HS_SIDE_BIT(HS_SERVER)) && server == want);
}

static inline uint16_t hs_flow_port(const struct hs_flow *flow, enum hs_side side)
{
	return flow->port[hs_flow_key_index(flow, side)];
}

/*
 * The history as a 48-bit number, nibble i (event i) in bits 4i to 4i+3,
 * so that every packet's lookup of its event is a few word operations
 * rather than a loop over twelve nibbles with a branch on each.
 */
#define HS_NIBBLES_LOW  UINT64_C(0x111111111111)  /* 1 in each of the 12 nibbles */
#define HS_NIBBLES_HIGH UINT64_C(0x888888888888)  /* the high bit of each */

/*
 * Read as a 4-byte and a 2-byte word: a 6-byte memcpy into a uint64_t
 * goes through the stack as two stores and one wider load, which the CPU
 * cannot forward and stalls on, every packet.
 */
static inline uint64_t hs_flow_history_bits(const struct hs_flow *flow)
{
	uint32_t lo;
	uint16_t hi;

	memcpy(&lo, flow->history, sizeof(lo));
	memcpy(&hi, flow->history + 4, sizeof(hi));
	return le32toh(lo) | (uint64_t)le16toh(hi) << 32;
}

/*
 * The high bits of x's zero nibbles, of the twelve.  Nonzero exactly when
 * one is zero, and the lowest bit set marks the lowest zero nibble (a
 * borrow may also mark a nonzero nibble above a zero one, never below).
 */
static inline uint64_t hs_zero_nibbles(uint64_t x)
{
	return (x - HS_NIBBLES_LOW) & ~x & HS_NIBBLES_HIGH;
}

/* Stores the history from its 48-bit number (hs_flow_history_bits); bits above the 48 are dropped. */
static inline void hs_flow_set_history_bits(struct hs_flow *flow, uint64_t h)
{
	uint32_t lo = htole32((uint32_t)h);
	uint16_t hi = htole16((uint16_t)(h >> 32));

	memcpy(flow->history, &lo, sizeof(lo));
	memcpy(flow->history + 4, &hi, sizeof(hi));
}

/* An event's 4-bit code in the history: the event, and 8 for the server. */
static inline uint64_t hs_history_code(enum hs_side side, enum hs_history_event event)
{
	return (unsigned)event | (side == HS_SERVER ? 8u : 0u);
}

/*
 * A history with one more event from a side.  Like Zeek's history, each
 * letter is recorded once per side, in the order first seen, so the string
 * stays short and reads as the story of the connection; a full history
 * keeps its first events, the ones that tell how the connection started.
 *
 * Without a branch, because whether an event is new follows no pattern
 * the CPU can predict where flows see few packets each (f2d9f77).
 */
static inline uint64_t hs_history_append(uint64_t h, enum hs_side side, enum hs_history_event event)
{
	uint64_t code = hs_history_code(side, event);
	/*
	 * The first free nibble, after the highest one in use (0s only
	 * follow the last event): the 15 below makes an empty history's
	 * nibble 0, and a full history's is the thirteenth, which the
	 * 48 bits drop.
	 */
	unsigned first_free = (unsigned)(__builtin_clzll(h << 4 | 15) ^ 63) & ~3u;
	/* All ones unless a nibble already holds the code. */
	uint64_t is_new = -(uint64_t)(hs_zero_nibbles(h ^ code * HS_NIBBLES_LOW) == 0);

	return (h | (code << first_free & is_new)) & (HS_NIBBLES_LOW * 0xf);
}

/*
 * The history as it stands, with the 'A' (or 'a') that the common path
 * noted (HS_EP_SEEN_ACK) and did not write.  The common packet, an ACK
 * between two ESTABLISHED endpoints, is most of the traffic, and writing
 * its letter into the history cost 5% of the batch path at 1M flows
 * (make bench-ab: 0.952 without it); a flag in the store that packet
 * makes anyway costs 2% (0.973, with the rule for data below).
 * Its data ('D') still goes to its place: a side's first data leaves the
 * common path (HS_EP_SEEN_DATA), which costs a mispredicted branch twice a
 * connection.  A noted 'A' is written before the next event recorded, and
 * read here before that: so it stands where it happened, after every
 * event before it and before every event after it.  Only when both sides'
 * first pure ACKs fall between the same two recorded events (the client's
 * usually ends the handshake, so rarely) is their order between
 * themselves lost: the client's is put first.
 */
static inline uint64_t hs_flow_history_due(const struct hs_flow *flow)
{
	uint64_t h = hs_flow_history_bits(flow);

	if (flow->ep_flags[HS_CLIENT] & HS_EP_SEEN_ACK)
		h = hs_history_append(h, HS_CLIENT, HS_HIST_ACK);
	if (flow->ep_flags[HS_SERVER] & HS_EP_SEEN_ACK)
		h = hs_history_append(h, HS_SERVER, HS_HIST_ACK);
	return h;
}

/* Whether a history holds an event from a side. */
static inline bool hs_history_has(uint64_t h, enum hs_side side, enum hs_history_event event)
{
	return hs_zero_nibbles(h ^ hs_history_code(side, event) * HS_NIBBLES_LOW) != 0;
}

/*
 * Records a history event from a side (the packet path's slow way; the
 * common packet notes its 'A' instead, hs_flow_history_due), after any
 * noted 'A'.  A side's 'D' recorded, or due and dropped from a full
 * history, lets its later data take the common path (HS_EP_SEEN_DATA).
 */
static inline void hs_flow_history_add(struct hs_flow *flow, enum hs_side side, enum hs_history_event event)
{
	uint64_t h = hs_history_append(hs_flow_history_due(flow), side, event);

	hs_flow_set_history_bits(flow, h);
	if (event == HS_HIST_DATA)
		flow->ep_flags[side] |= HS_EP_SEEN_DATA;
}

/*
 * Writes the history as letters ("ShADadFf") into buf; returns its length.
 * A side whose SYN or SYN-ACK carried data (TCP Fast Open) shows 'T' ('t'
 * for the server) in place of its first 'S' or 'H'.
 */
size_t hs_flow_history_format(const struct hs_flow *flow, char *buf, size_t size);

/* Formats an address of the given family into buf (at least 46 bytes). */
const char *hs_addr_format(const struct hs_addr *addr, uint8_t family, char *buf, size_t size);

/* Parses "10.0.0.1" or "fd00::1" into addr and family; false on error. */
bool hs_addr_parse(const char *text, struct hs_addr *addr, uint8_t *family);

#endif
