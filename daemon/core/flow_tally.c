/*
 * flow_tally: flows counted by the states of their endpoints, for
 * `handshakectl summary`.
 */
#include "hs_flow_tally.h"

#include <inttypes.h>
#include <stdio.h>

void hs_flow_tally_add(struct hs_flow_tally *t, const struct hs_flow *f)
{
	int cs = f->state[HS_CLIENT], ss = f->state[HS_SERVER];
	unsigned local = hs_flow_local_sides(f), remote = hs_remote_sides(local);

	t->flows++;
	t->half_open += !(f->flags & HS_FLOW_ESTABLISHED);
	if (hs_flow_family(f) == HS_FAMILY_IPV6)
		t->ipv6++;
	else
		t->ipv4++;
	if (cs >= HS_TCP_STATE_COUNT || ss >= HS_TCP_STATE_COUNT)
		return;
	t->client[cs]++;
	t->server[ss]++;
	t->local_flows += local != 0;
	if (local & HS_SIDE_BIT(HS_CLIENT))
		t->local[cs]++;
	if (local & HS_SIDE_BIT(HS_SERVER))
		t->local[ss]++;
	if (remote & HS_SIDE_BIT(HS_CLIENT))
		t->remote[cs]++;
	if (remote & HS_SIDE_BIT(HS_SERVER))
		t->remote[ss]++;
}

/* Writes ,"name":{"STATE":N,...}; returns what snprintf would (more than size: it did not fit). */
static int states_json(char *buf, size_t size, const char *name, const uint64_t *counts)
{
	int used = snprintf(buf, size, ",\"%s\":{", name);

	for (int s = 0; s < HS_TCP_STATE_COUNT && used > 0 && (size_t)used < size; s++)
		used += snprintf(buf + used, size - (size_t)used, "%s\"%s\":%" PRIu64, s ? "," : "",
				 hs_tcp_state_name((enum hs_tcp_state)s), counts[s]);
	if (used > 0 && (size_t)used < size)
		used += snprintf(buf + used, size - (size_t)used, "}");
	return used;
}

size_t hs_flow_tally_json(char *buf, size_t size, const struct hs_flow_tally *t)
{
	int used = snprintf(buf, size, "{\"flows\":%" PRIu64 ",\"half_open\":%" PRIu64 ",\"ipv4\":%" PRIu64
			    ",\"ipv6\":%" PRIu64, t->flows, t->half_open, t->ipv4, t->ipv6);
	const struct {
		const char *name;
		const uint64_t *counts;
	} sides[] = { { "client", t->client }, { "server", t->server }, { "local", t->local }, { "remote", t->remote } };

	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]) && used > 0 && (size_t)used < size; i++) {
		if (i == 2)
			used += snprintf(buf + used, size - (size_t)used, ",\"local_flows\":%" PRIu64, t->local_flows);
		if (used > 0 && (size_t)used < size)
			used += states_json(buf + used, size - (size_t)used, sides[i].name, sides[i].counts);
	}
	if (used > 0 && (size_t)used < size)
		used += snprintf(buf + used, size - (size_t)used, "}");
	return used > 0 && (size_t)used < size ? (size_t)used : 0;
}
