/*
 * policy_reach: a timed policy whose `idle` no flow it matches can reach.
 *
 * A timed policy holds an open or half-closed flow (the open-ended timeout
 * classes) past its timeout until it has acted, so in those states every
 * idle time is reachable.  In the other states the timeout is how long the
 * kernels keep the socket, and the flow is forgotten once it has been idle
 * that long: a policy that can only match such states and waits longer
 * would never act, which is worth a warning (the file still loads).  Every
 * pair of states the match allows is considered, so the check can miss an
 * unreachable policy but never warns about one that can act.
 */
#include "hs_policy_reach.h"

#include <stdio.h>

#include "hs_table.h"
#include "hs_tcp_state.h"

static bool state_allowed(struct hs_state_set wanted, int state)
{
	return wanted.bits == 0 || hs_state_set_has(wanted, state);
}

/* Whether a flow with these endpoint states satisfies the match's state keys. */
static bool pair_allowed(const struct hs_flow_match *m, int client, int server)
{
	return state_allowed(m->client_state, client) && state_allowed(m->server_state, server) &&
	       (m->state.bits == 0 || hs_state_set_has(m->state, client) || hs_state_set_has(m->state, server));
}

/*
 * The longest a flow the match allows stays idle in the table: the largest
 * timeout over the state pairs it allows, and in *cls that timeout's class.
 * False if some pair is open-ended (held for the policy, so any idle is
 * reachable) or none is allowed (contradictory states have their own warning).
 */
static bool longest_idle(const struct hs_flow_match *m, const uint32_t *timeout_ms, uint32_t *longest,
			 enum hs_timeout_class *cls)
{
	bool any = false;

	*longest = 0;
	for (int c = 0; c < HS_TCP_STATE_COUNT; c++) {
		for (int s = 0; s < HS_TCP_STATE_COUNT; s++) {
			if (!pair_allowed(m, c, s))
				continue;
			enum hs_timeout_class k = hs_tcp_timeout_class((enum hs_tcp_state)c, (enum hs_tcp_state)s);
			if (hs_timeout_class_open_ended(k))
				return false;
			if (!any || timeout_ms[k] > *longest) {
				*longest = timeout_ms[k];
				*cls = k;
			}
			any = true;
		}
	}
	return any;
}

static const char *ms_text(char *buf, size_t size, uint32_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%u s", ms / 1000);
	else
		snprintf(buf, size, "%u ms", ms);
	return buf;
}

void hs_policy_check_reach(struct cfg_loader *ld)
{
	const struct hs_policy_set *set = &ld->config->policies;

	for (uint32_t i = 0; i < set->count && i < HS_POLICY_MAX; i++) {
		const struct hs_policy *p = &set->items[i];
		enum hs_timeout_class cls = HS_TIMEOUT_CLOSED;
		uint32_t longest;
		char idle[32], limit[32];

		if (!ld->policy_idle[i] || !longest_idle(&p->match, ld->config->timeout_ms, &longest, &cls) ||
		    p->match.idle_ms <= longest)
			continue;
		cfg_report_at(ld, HS_DIAG_WARNING, ld->policy_idle[i],
			      "policy \"%s\" can never act: idle %s is longer than a connection it matches "
			      "stays idle in the table (at most %s, table.timeouts.%s; only open and "
			      "half-closed connections are kept for a timed policy)", p->name,
			      ms_text(idle, sizeof(idle), p->match.idle_ms), ms_text(limit, sizeof(limit), longest),
			      hs_timeout_class_name(cls));
	}
}
