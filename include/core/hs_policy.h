/*
 * hs_policy: the policy language's in-memory form, a policy's kind and
 * matching (daemon/core/policy.c); the engine that applies a set is
 * hs_policy_engine.  A policy set is parsed and validated with the rest of the
 * configuration (config.c) into plain fixed-size structs, so a set can be
 * copied and swapped whole between bursts without allocation.
 *
 * Three kinds of policy, told apart by their keys:
 *   admission  has `limit` or `rate`: checked when a new SYN arrives;
 *   timed      has `idle` or `age` in its match: checked as flows age;
 *   state      neither: checked when a flow enters a matching state.
 * Policies are evaluated in file order; the first that matches acts.
 */
#ifndef HS_POLICY_H
#define HS_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_flow.h"

#define HS_POLICY_MAX 64            /* policies in a set */
#define HS_POLICY_NAME_MAX 64
#define HS_POLICY_LIST_MAX 16       /* CIDRs or port ranges in one match key */

struct hs_cidr {
	uint8_t family;             /* HS_FAMILY_IPV4 or HS_FAMILY_IPV6 */
	uint8_t prefix;             /* 0..32 or 0..128 */
	struct hs_addr addr;        /* host bits already cleared */
};

struct hs_port_range {
	uint16_t lo, hi;            /* inclusive; a single port has lo == hi */
};

struct hs_policy_match {
	int state;                  /* either side in this state; -1 = any */
	int client_state;           /* -1 = any */
	int server_state;           /* -1 = any */
	int local_state;            /* the host's own endpoint in this state (end host); -1 = any */
	int remote_state;           /* the peer of the host's own endpoint in this state; -1 = any */
	uint8_t n_src, n_dst, n_src_ports, n_dst_ports;   /* 0 = key absent */
	struct hs_cidr src[HS_POLICY_LIST_MAX];           /* client address */
	struct hs_cidr dst[HS_POLICY_LIST_MAX];           /* server address */
	struct hs_port_range src_ports[HS_POLICY_LIST_MAX];
	struct hs_port_range dst_ports[HS_POLICY_LIST_MAX];
	uint32_t idle_ms;           /* no packet for this long; 0 = key absent */
	uint32_t age_ms;            /* in the current state this long; 0 = key absent */
};

enum hs_policy_action {
	HS_ACTION_ACCEPT = 0,       /* stop evaluating, let it be */
	HS_ACTION_DROP,             /* drop the packet; timed: remove the flow, drop it until a new SYN */
	HS_ACTION_RESET,            /* RSTs with exact sequence numbers, remove the flow */
	HS_ACTION_LOG,              /* an event only */
	HS_ACTION_VERIFY,           /* limits only: past the limit a SYN passes once retransmitted */
	HS_ACTION_COUNT
};

enum hs_policy_scope {
	HS_PER_GLOBAL = 0,
	HS_PER_SOURCE,              /* client address */
	HS_PER_DESTINATION,         /* server address and port */
};

struct hs_policy {
	char name[HS_POLICY_NAME_MAX];
	unsigned line;              /* where it starts in the file, for messages */
	struct hs_policy_match match;
	bool has_limit;
	uint32_t limit_max;
	enum hs_policy_scope limit_per;
	bool has_rate;
	uint32_t rate_per_second;   /* syn_per_second */
	uint32_t rate_burst;        /* burst: defaults to rate_per_second */
	enum hs_policy_scope rate_per;
	enum hs_policy_action action;
	bool dry_run;
};

struct hs_policy_set {
	uint32_t count;
	struct hs_policy items[HS_POLICY_MAX];
};

const char *hs_policy_action_name(enum hs_policy_action action);

/*
 * A policy's kind, the one definition the loader's checks and the engine
 * share: timed if its match has idle or age, admission if it has a limit
 * or a rate (the loader refuses a policy that is both), otherwise a
 * state-entry policy.
 */
bool hs_policy_is_timed(const struct hs_policy *policy);
bool hs_policy_is_admission(const struct hs_policy *policy);

/* An empty match: every key absent, every state key -1. */
void hs_policy_match_init(struct hs_policy_match *match);
/* Makes every state key absent (-1), keeping addresses, ports and thresholds. */
void hs_policy_match_clear_states(struct hs_policy_match *match);
/* Whether the match has local_state or remote_state, which only an end host's flows can meet. */
bool hs_policy_match_is_local(const struct hs_policy_match *match);

/*
 * Whether a flow whose client and server are in these states, and whose
 * endpoints in `local` (a set of HS_SIDE_BIT) are the host's own,
 * satisfies the match's state keys.  local_state holds when a local
 * endpoint is in it; remote_state when the peer of the one local endpoint
 * is: on a router (no local endpoint), and for the host's connections to
 * itself (both local, no remote), remote_state never holds, and on a router
 * local_state never does either.
 */
bool hs_policy_states_match(const struct hs_policy_match *match, int client, int server, unsigned local);
/* Whether any states and local sides satisfy them (false for contradictory keys). */
bool hs_policy_states_possible(const struct hs_policy_match *match);

/* Whether a flow's addresses, ports and states satisfy a match (idle and age are not looked at). */
bool hs_policy_match_flow(const struct hs_policy_match *match, const struct hs_flow *flow);

/* Whether an address is inside any of the CIDRs. */
bool hs_cidr_list_contains(const struct hs_cidr *list, unsigned n, uint8_t family, const struct hs_addr *addr);

#endif
