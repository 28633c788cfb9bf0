/*
 * policy: the policy language's runtime side (include/core/hs_policy.h):
 * a policy's kind and the names of actions.  Whether a flow satisfies a
 * policy's match is hs_flow_match (flow_match.c).
 */
#include "hs_policy.h"

#include <stddef.h>

static const char *const action_names[HS_ACTION_COUNT] = {
	[HS_ACTION_ACCEPT] = "accept",
	[HS_ACTION_DROP] = "drop",
	[HS_ACTION_RESET] = "reset",
	[HS_ACTION_LOG] = "log",
	[HS_ACTION_VERIFY] = "verify",
};

const char *hs_policy_action_name(enum hs_policy_action action)
{
	return (unsigned)action < HS_ACTION_COUNT ? action_names[action] : "unknown";
}

bool hs_policy_is_timed(const struct hs_policy *p)
{
	return p->match.idle_ms || p->match.state_age_ms;
}

bool hs_policy_is_admission(const struct hs_policy *p)
{
	return p->has_limit || p->has_rate;
}
