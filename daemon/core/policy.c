/*
 * policy: the policy language's runtime side (include/core/hs_policy.h):
 * a policy's kind, and whether a tracked flow satisfies its match.  This
 * module owns the runtime side of the match keys that config.c parses:
 * endpoint states (by side, and for the host's own endpoint and its peer),
 * CIDR lists and port ranges, and the names of actions.
 * It runs on every state change a policy set is consulted for, so it reads
 * only the flow record, allocates nothing and gives up at the first key
 * that does not match, cheapest keys first.  Idle and age thresholds are
 * the engine's business: they depend on the clock, which this code never
 * looks at.
 */
#include "hs_policy.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

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

/*
 * Whether addr lies inside one CIDR.  The CIDR's host bits are already
 * clear (the loader guarantees it), so only the address needs masking.
 * Whole 32-bit words of the prefix are compared as they are, and the word
 * the prefix ends in through a mask, so an IPv6 /64 costs two compares;
 * the words stay in network order, which is why the mask is too.
 */
static bool cidr_contains(const struct hs_cidr *cidr, const struct hs_addr *addr)
{
	unsigned prefix = cidr->prefix, offset = 0;
	uint32_t want, have;

	for (; prefix >= 32; prefix -= 32, offset += 4) {
		memcpy(&want, cidr->addr.bytes + offset, sizeof(want));
		memcpy(&have, addr->bytes + offset, sizeof(have));
		if (want != have)
			return false;
	}
	if (prefix == 0)
		return true;
	memcpy(&want, cidr->addr.bytes + offset, sizeof(want));
	memcpy(&have, addr->bytes + offset, sizeof(have));
	return ((want ^ have) & htonl(~UINT32_C(0) << (32 - prefix))) == 0;
}

bool hs_cidr_list_contains(const struct hs_cidr *list, unsigned n, uint8_t family,
			   const struct hs_addr *addr)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i].family == family && cidr_contains(&list[i], addr))
			return true;
	return false;
}

static bool ports_contain(const struct hs_port_range *ranges, unsigned n, uint16_t port)
{
	for (unsigned i = 0; i < n; i++)
		if (port >= ranges[i].lo && port <= ranges[i].hi)
			return true;
	return false;
}

bool hs_policy_match_flow(const struct hs_policy_match *match, const struct hs_flow *flow)
{
	/* States are a compare or two each and the most selective keys, so they go first. */
	if (!hs_policy_states_match(match, flow->state[HS_CLIENT], flow->state[HS_SERVER],
				    hs_flow_local_sides(flow)))
		return false;
	if (match->n_dst_ports &&
	    !ports_contain(match->dst_ports, match->n_dst_ports, hs_flow_port(flow, HS_SERVER)))
		return false;
	if (match->n_src_ports &&
	    !ports_contain(match->src_ports, match->n_src_ports, hs_flow_port(flow, HS_CLIENT)))
		return false;
	if (match->n_dst &&
	    !hs_cidr_list_contains(match->dst, match->n_dst, flow->family, hs_flow_addr(flow, HS_SERVER)))
		return false;
	if (match->n_src &&
	    !hs_cidr_list_contains(match->src, match->n_src, flow->family, hs_flow_addr(flow, HS_CLIENT)))
		return false;
	return true;
}

bool hs_policy_is_timed(const struct hs_policy *p)
{
	return p->match.idle_ms || p->match.age_ms;
}

bool hs_policy_is_admission(const struct hs_policy *p)
{
	return p->has_limit || p->has_rate;
}

void hs_policy_match_init(struct hs_policy_match *m)
{
	memset(m, 0, sizeof(*m));
	hs_policy_match_clear_states(m);
}

void hs_policy_match_clear_states(struct hs_policy_match *m)
{
	m->state = m->client_state = m->server_state = -1;
	m->local_state = m->remote_state = -1;
}

bool hs_policy_match_is_local(const struct hs_policy_match *m)
{
	return m->local_state >= 0 || m->remote_state >= 0;
}

bool hs_policy_states_match(const struct hs_policy_match *m, int client, int server, unsigned local)
{
	return (m->state < 0 || client == m->state || server == m->state) &&
	       (m->client_state < 0 || client == m->client_state) &&
	       (m->server_state < 0 || server == m->server_state) &&
	       (m->local_state < 0 || hs_sides_in_state(local, client, server, m->local_state)) &&
	       (m->remote_state < 0 || hs_sides_in_state(hs_remote_sides(local), client, server, m->remote_state));
}

bool hs_policy_states_possible(const struct hs_policy_match *m)
{
	for (int c = 0; c < HS_TCP_STATE_COUNT; c++)
		for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
			for (unsigned local = 0; local <= HS_SIDES_ALL; local++)
				if (hs_policy_states_match(m, c, s, local))
					return true;
	return false;
}
