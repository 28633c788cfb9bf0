/*
 * hs_flow_match: which flows a set of keys selects.  It is the one
 * definition behind a policy's `match` (the configuration fills what the
 * policy language has) and behind the filters of handshakectl list, count,
 * summary, top, watch and kill (the request language fills what the
 * command line has).  Every key is optional and all that are given must
 * hold; a key that holds several values (states, CIDRs, ports, families,
 * ids) holds when any one of them does.
 *
 * Matching reads only the flow record and allocates nothing: it runs on
 * every state change a policy set is consulted for.  The thresholds
 * (idle, ages) depend on the clock, which this code never reads: the
 * caller gives the flow's times, or (the policy engine) schedules them.
 */
#ifndef HS_FLOW_MATCH_H
#define HS_FLOW_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"

#define HS_MATCH_LIST_MAX 16        /* CIDRs, port ranges or ids in one key */

struct hs_cidr {
	uint8_t family;             /* HS_FAMILY_IPV4 or HS_FAMILY_IPV6 */
	uint8_t prefix;             /* 0..32 or 0..128 */
	struct hs_addr addr;        /* host bits already cleared */
};

struct hs_port_range {
	uint16_t lo, hi;            /* inclusive; a single port has lo == hi */
};

/*
 * A set of TCP states, one bit per enum hs_tcp_state.  As a key, the empty
 * set means the key is absent.  A struct, not a bare integer, so that a
 * state cannot be stored where a set is meant.
 */
struct hs_state_set {
	uint16_t bits;
};
#define HS_STATE_SET(state) ((struct hs_state_set){ .bits = (uint16_t)(1u << (state)) })

static inline bool hs_state_set_has(struct hs_state_set set, int state)
{
	return state >= 0 && state < HS_TCP_STATE_COUNT && (set.bits >> state) & 1u;
}

static inline void hs_state_set_add(struct hs_state_set *set, int state)
{
	if (state >= 0 && state < HS_TCP_STATE_COUNT)
		set->bits = (uint16_t)(set->bits | (1u << state));
}

/* The names, "CLOSE_WAIT" or "ESTABLISHED|CLOSE_WAIT", in the state machine's order. */
#define HS_STATE_SET_TEXT_MAX (HS_TCP_STATE_COUNT * 12)
const char *hs_state_set_format(char *buf, size_t size, struct hs_state_set set);

/* Bits of hs_flow_match.families. */
#define HS_FAMILY_BIT_IPV4 0x01
#define HS_FAMILY_BIT_IPV6 0x02

struct hs_flow_match {
	struct hs_state_set state;          /* either endpoint in one of these states */
	struct hs_state_set client_state;   /* the client (it sent the first SYN) */
	struct hs_state_set server_state;
	struct hs_state_set local_state;    /* the host's own endpoint (end host) */
	struct hs_state_set remote_state;   /* the peer of the host's own endpoint */
	uint8_t families;                   /* HS_FAMILY_BIT_*; 0 = either */
	uint8_t n_src, n_dst, n_addr;       /* 0 = key absent */
	uint8_t n_src_ports, n_dst_ports, n_ports, n_ids;
	struct hs_cidr src[HS_MATCH_LIST_MAX];              /* client address */
	struct hs_cidr dst[HS_MATCH_LIST_MAX];              /* server address */
	struct hs_cidr addr[HS_MATCH_LIST_MAX];             /* either address */
	struct hs_port_range src_ports[HS_MATCH_LIST_MAX];  /* client port */
	struct hs_port_range dst_ports[HS_MATCH_LIST_MAX];  /* server port */
	struct hs_port_range ports[HS_MATCH_LIST_MAX];      /* either port */
	uint32_t ids[HS_MATCH_LIST_MAX];                    /* flow ids */
	/* Thresholds: at least this long; 0 = key absent. */
	uint32_t idle_ms;                   /* since the flow's last packet */
	uint32_t state_age_ms;              /* in its current states (the policy key `age`) */
	uint64_t flow_age_ms;               /* since its first packet (`handshakectl --age-over`) */
};

/* An empty match: every key absent; it matches every flow. */
void hs_flow_match_init(struct hs_flow_match *match);
/* Makes every state key absent, keeping the other keys. */
void hs_flow_match_clear_states(struct hs_flow_match *match);
/* Whether the match has local_state or remote_state, which only an end host's flows can meet. */
bool hs_flow_match_is_local(const struct hs_flow_match *match);
/* Whether the match has any key at all. */
bool hs_flow_match_is_empty(const struct hs_flow_match *match);

/*
 * Whether a flow whose client and server are in these states, and whose
 * endpoints in `local` (a set of HS_SIDE_BIT) are the host's own,
 * satisfies the match's state keys.  local_state holds when a local
 * endpoint is in it; remote_state when the peer of the one local endpoint
 * is: on a router (no local endpoint), and for the host's connections to
 * itself (both local, no remote), remote_state never holds, and on a router
 * local_state never does either.
 */
bool hs_flow_match_states(const struct hs_flow_match *match, int client, int server, unsigned local);
/* Whether any states and local sides satisfy them (false for contradictory keys). */
bool hs_flow_match_states_possible(const struct hs_flow_match *match);

/* Whether a flow's states, family, addresses, ports and id satisfy the match (not its thresholds). */
bool hs_flow_match_flow(const struct hs_flow_match *match, const struct hs_flow *flow);

/* Whether a flow with these times meets the match's thresholds. */
bool hs_flow_match_times(const struct hs_flow_match *match, uint64_t flow_age_ms, uint64_t idle_ms,
			 uint64_t state_age_ms);

/* Whether an address is inside any of the CIDRs. */
bool hs_cidr_list_contains(const struct hs_cidr *list, unsigned n, uint8_t family, const struct hs_addr *addr);

#endif
