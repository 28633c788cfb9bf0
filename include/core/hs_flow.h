/*
 * hs_flow: the flow key and the tracked flow record.  It owns the canonical,
 * direction-independent key of a TCP connection, the compact per-flow record
 * (both endpoints' states and windows, counters, times, history) and the
 * small helpers that read it.  Records live in the table's preallocated
 * array; nothing here allocates.
 */
#ifndef HS_FLOW_H
#define HS_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#define HS_EP_WSCALE     0x01   /* sent a window scale option in its SYN */
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
 * Its address is one of the host's own (the daemon runs on an end host):
 * decided when the flow is created, from the table's copy of the host's
 * addresses, and kept for the flow's life, as the socket keeps its address.
 */
#define HS_EP_LOCAL      0x80
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
 * One tracked connection, 128 bytes: the first cache line holds what a
 * lookup reads (links, key, states), the second what the window checks and
 * counters write.  Endpoint arrays (state, window, counters) are indexed by
 * enum hs_side, not by key order.  Times are 10 ms ticks since the table was
 * created (uint32: ages wrap after 497 days).  Byte counters are split into
 * 32-bit halves so that the record needs only 4-byte alignment.
 */
struct hs_flow {
	uint32_t hash_next;         /* index + 1 of the next flow in the bucket; also the free list */
	uint32_t timer_next;        /* timer wheel links (flow indices, HS_NIL at the ends) */
	uint32_t timer_prev;
	struct hs_flow_key key;     /* 36 bytes */
	uint16_t timer_slot;        /* wheel slot this flow is filed in */
	uint8_t flags;              /* HS_FLOW_* */
	uint8_t family;             /* HS_FAMILY_IPV4 or HS_FAMILY_IPV6 */
	uint8_t state[2];           /* enum hs_tcp_state, by side */
	uint8_t wscale[2];          /* window scale applied to each side's windows */
	uint8_t ep_flags[2];        /* HS_EP_*, by side */
	uint8_t history[HS_HISTORY_MAX / 2]; /* 4-bit hs_history_event codes, first event in the low nibble of byte 0 */
	struct hs_endpoint_window window[2];
	uint32_t last_seen;         /* ticks */
	uint32_t first_seen;
	uint32_t state_since;       /* when either endpoint's state last changed */
	uint32_t id;                /* unique per table while the flow lives */
	uint32_t packets[2];        /* every packet of the flow, invalid ones included */
	uint32_t bytes_lo[2];       /* IP bytes (headers included), as conntrack accounts them */
	uint32_t bytes_hi[2];
};

static inline uint64_t hs_flow_bytes(const struct hs_flow *flow, enum hs_side side)
{
	return ((uint64_t)flow->bytes_hi[side] << 32) | flow->bytes_lo[side];
}

static inline void hs_flow_count(struct hs_flow *flow, enum hs_side side, uint32_t len)
{
	uint64_t total = hs_flow_bytes(flow, side) + len;

	flow->packets[side]++;
	flow->bytes_lo[side] = (uint32_t)total;
	flow->bytes_hi[side] = (uint32_t)(total >> 32);
}

#define HS_NIL UINT32_MAX

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

static inline const struct hs_addr *hs_flow_addr(const struct hs_flow *flow, enum hs_side side)
{
	return &flow->key.addr[hs_flow_key_index(flow, side)];
}

/* Bit of a side in a set of sides (hs_flow_local_sides). */
#define HS_SIDE_BIT(side) (1u << (side))

/* Which endpoints are the host's own: a set of HS_SIDE_BIT, 0 on a router. */
static inline unsigned hs_flow_local_sides(const struct hs_flow *flow)
{
	return ((flow->ep_flags[HS_CLIENT] & HS_EP_LOCAL) ? HS_SIDE_BIT(HS_CLIENT) : 0) |
	       ((flow->ep_flags[HS_SERVER] & HS_EP_LOCAL) ? HS_SIDE_BIT(HS_SERVER) : 0);
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
	return flow->key.port[hs_flow_key_index(flow, side)];
}

/*
 * Records a history event from a side.  Like Zeek's history, each letter is
 * recorded once per side, in the order first seen, so the string stays
 * short and reads as the story of the connection.
 */
void hs_flow_history_add(struct hs_flow *flow, enum hs_side side, enum hs_history_event event);

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
