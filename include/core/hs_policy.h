/*
 * hs_policy: the policy language's in-memory form and a policy's kind
 * (daemon/core/policy.c); which flows a policy's match selects is
 * hs_flow_match, the one matcher the policies and handshakectl's filters
 * share; the engine that applies a set is hs_policy_engine.  A policy set is parsed and validated with the rest of the
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
#include "hs_flow_match.h"

#define HS_POLICY_MAX 64            /* policies in a set */
#define HS_POLICY_NAME_MAX 64
#define HS_POLICY_LIST_MAX HS_MATCH_LIST_MAX   /* CIDRs or port ranges in one match key */

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
	struct hs_flow_match match;         /* the language fills states, src, dst, ports, idle, age */
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

#endif
