/*
 * flow_match: whether a tracked flow satisfies a match (hs_flow_match.h),
 * for the policy engine on every state change it is consulted for and for
 * the control socket's walks over a table.  It reads only the flow record,
 * allocates nothing and gives up at the first key that does not hold,
 * cheapest and most selective keys first.
 */
#include "hs_flow_match.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

const char *hs_state_set_format(char *buf, size_t size, struct hs_state_set set)
{
	size_t used = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++) {
		if (!hs_state_set_has(set, s))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s", used ? "|" : "", hs_tcp_state_name((enum hs_tcp_state)s));
		if (n < 0 || (size_t)n >= size - used) {
			buf[used] = '\0';      /* whole names only */
			break;
		}
		used += (size_t)n;
	}
	return buf;
}

/*
 * Whether addr lies inside one CIDR.  The CIDR's host bits are already
 * clear (the parsers guarantee it), so only the address needs masking.
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

bool hs_cidr_list_contains(const struct hs_cidr *list, unsigned n, uint8_t family, const struct hs_addr *addr)
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

/* An absent key (the empty set) holds for any state. */
static bool state_key_holds(struct hs_state_set key, int state)
{
	return key.bits == 0 || hs_state_set_has(key, state);
}

/* Whether one of the given sides is in one of the states of a key given. */
static bool sides_in(struct hs_state_set key, unsigned sides, int client, int server)
{
	return ((sides & HS_SIDE_BIT(HS_CLIENT)) && hs_state_set_has(key, client)) ||
	       ((sides & HS_SIDE_BIT(HS_SERVER)) && hs_state_set_has(key, server));
}

bool hs_flow_match_states(const struct hs_flow_match *m, int client, int server, unsigned local)
{
	return (m->state.bits == 0 || hs_state_set_has(m->state, client) || hs_state_set_has(m->state, server)) &&
	       state_key_holds(m->client_state, client) && state_key_holds(m->server_state, server) &&
	       (m->local_state.bits == 0 || sides_in(m->local_state, local, client, server)) &&
	       (m->remote_state.bits == 0 || sides_in(m->remote_state, hs_remote_sides(local), client, server));
}

bool hs_flow_match_states_possible(const struct hs_flow_match *m)
{
	for (int c = 0; c < HS_TCP_STATE_COUNT; c++)
		for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
			for (unsigned local = 0; local <= HS_SIDES_ALL; local++)
				if (hs_flow_match_states(m, c, s, local))
					return true;
	return false;
}

static bool ids_contain(const uint32_t *ids, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static uint8_t family_bit(uint8_t family)
{
	return family == HS_FAMILY_IPV6 ? HS_FAMILY_BIT_IPV6 : HS_FAMILY_BIT_IPV4;
}

/* Whether a side's address is in a list of networks. */
static bool side_in(const struct hs_cidr *list, unsigned n, const struct hs_flow *f, enum hs_side side)
{
	struct hs_addr a = hs_flow_addr(f, side);

	return hs_cidr_list_contains(list, n, hs_flow_family(f), &a);
}

/* The keys on either endpoint: addr and ports. */
static bool either_end(const struct hs_flow_match *m, const struct hs_flow *f)
{
	if (m->n_ports && !ports_contain(m->ports, m->n_ports, hs_flow_port(f, HS_CLIENT)) &&
	    !ports_contain(m->ports, m->n_ports, hs_flow_port(f, HS_SERVER)))
		return false;
	if (m->n_addr) {
		struct hs_addr c = hs_flow_addr(f, HS_CLIENT), s = hs_flow_addr(f, HS_SERVER);
		uint8_t family = hs_flow_family(f);

		if (!hs_cidr_list_contains(m->addr, m->n_addr, family, &c) &&
		    !hs_cidr_list_contains(m->addr, m->n_addr, family, &s))
			return false;
	}
	return true;
}

bool hs_flow_match_flow(const struct hs_flow_match *m, const struct hs_flow *f)
{
	/* An id is the most selective key there is; states are a compare or two each. */
	if (m->n_ids && !ids_contain(m->ids, m->n_ids, f->id))
		return false;
	if (!hs_flow_match_states(m, f->state[HS_CLIENT], f->state[HS_SERVER], hs_flow_local_sides(f)))
		return false;
	if (m->families && !(m->families & family_bit(hs_flow_family(f))))
		return false;
	if (m->n_dst_ports && !ports_contain(m->dst_ports, m->n_dst_ports, hs_flow_port(f, HS_SERVER)))
		return false;
	if (m->n_src_ports && !ports_contain(m->src_ports, m->n_src_ports, hs_flow_port(f, HS_CLIENT)))
		return false;
	if (m->n_dst && !side_in(m->dst, m->n_dst, f, HS_SERVER))
		return false;
	if (m->n_src && !side_in(m->src, m->n_src, f, HS_CLIENT))
		return false;
	return either_end(m, f);
}

bool hs_flow_match_times(const struct hs_flow_match *m, uint64_t flow_age_ms, uint64_t idle_ms,
			 uint64_t state_age_ms)
{
	return (!m->idle_ms || idle_ms >= m->idle_ms) && (!m->state_age_ms || state_age_ms >= m->state_age_ms) &&
	       (!m->flow_age_ms || flow_age_ms >= m->flow_age_ms);
}

void hs_flow_match_init(struct hs_flow_match *m)
{
	memset(m, 0, sizeof(*m));
}

void hs_flow_match_clear_states(struct hs_flow_match *m)
{
	m->state.bits = m->client_state.bits = m->server_state.bits = 0;
	m->local_state.bits = m->remote_state.bits = 0;
}

bool hs_flow_match_is_local(const struct hs_flow_match *m)
{
	return m->local_state.bits || m->remote_state.bits;
}

bool hs_flow_match_is_empty(const struct hs_flow_match *m)
{
	return !m->state.bits && !m->client_state.bits && !m->server_state.bits && !hs_flow_match_is_local(m) &&
	       !m->families && !m->n_src && !m->n_dst && !m->n_addr && !m->n_src_ports && !m->n_dst_ports &&
	       !m->n_ports && !m->n_ids && !m->idle_ms && !m->state_age_ms && !m->flow_age_ms;
}
