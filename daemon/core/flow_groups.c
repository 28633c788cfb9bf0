/*
 * flow_groups: flows grouped by an endpoint key for `handshakectl top`.
 * Groups are kept in an array that doubles as it fills, found through an
 * open-addressing index of their positions, then sorted once at the end:
 * counting a million flows touches each once and sorts only the groups.
 */
#include "hs_flow_groups.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_siphash.h"

#define FIRST_CAPACITY 64

static const char *const by_names[HS_GROUP_BY_COUNT] = {
	[HS_GROUP_REMOTE] = "remote", [HS_GROUP_LOCAL] = "local", [HS_GROUP_CLIENT] = "client",
	[HS_GROUP_SERVER] = "server", [HS_GROUP_SRC] = "src", [HS_GROUP_DST] = "dst", [HS_GROUP_DPORT] = "dport",
};

const char *hs_group_by_name(enum hs_group_by by)
{
	return (unsigned)by < HS_GROUP_BY_COUNT ? by_names[by] : "unknown";
}

int hs_group_by_parse(const char *name)
{
	for (int i = 0; i < HS_GROUP_BY_COUNT; i++)
		if (strcmp(name, by_names[i]) == 0)
			return i;
	return -1;
}

const char *hs_group_side_name(enum hs_group_by by, int end)
{
	bool host = by == HS_GROUP_REMOTE || by == HS_GROUP_LOCAL;

	return end == 0 ? (host ? "local" : "client") : (host ? "remote" : "server");
}

void hs_flow_groups_init(struct hs_flow_groups *g, enum hs_group_by by, const uint8_t hash_key[16])
{
	memset(g, 0, sizeof(*g));
	g->by = by;
	memcpy(g->hash_key, hash_key, sizeof(g->hash_key));
}

void hs_flow_groups_free(struct hs_flow_groups *g)
{
	free(g->items);
	free(g->index);
	g->items = NULL;
	g->index = NULL;
	g->count = g->capacity = g->index_size = 0;
}

/*
 * The flow's key and which of its sides count as ends 0 and 1 (the client
 * and the server, or the host's own end and its peer).  False if the key
 * does not apply: remote and local need exactly one end of the host's own
 * (a router's flows have none; a connection of the host to itself has no
 * remote end).
 */
static bool key_of(enum hs_group_by by, const struct hs_flow *f, struct hs_group_key *k, enum hs_side ends[2])
{
	unsigned local = hs_flow_local_sides(f);
	enum hs_side side;

	memset(k, 0, sizeof(*k));
	ends[0] = HS_CLIENT;
	ends[1] = HS_SERVER;
	k->family = hs_flow_family(f);
	switch (by) {
	case HS_GROUP_REMOTE:
	case HS_GROUP_LOCAL:
		if (local != HS_SIDE_BIT(HS_CLIENT) && local != HS_SIDE_BIT(HS_SERVER))
			return false;
		ends[0] = local == HS_SIDE_BIT(HS_CLIENT) ? HS_CLIENT : HS_SERVER;
		ends[1] = ends[0] == HS_CLIENT ? HS_SERVER : HS_CLIENT;
		side = by == HS_GROUP_LOCAL ? ends[0] : ends[1];
		k->addr = hs_flow_addr(f, side);
		/* A service the host offers is its address and port; a connection it makes, its address. */
		if (by == HS_GROUP_LOCAL && side == HS_SERVER) {
			k->has_port = true;
			k->port = hs_flow_port(f, HS_SERVER);
		}
		return true;
	case HS_GROUP_CLIENT:
	case HS_GROUP_SRC:
		k->addr = hs_flow_addr(f, HS_CLIENT);
		return true;
	case HS_GROUP_SERVER:
		k->has_port = true;
		k->port = hs_flow_port(f, HS_SERVER);
		/* fall through */
	case HS_GROUP_DST:
		k->addr = hs_flow_addr(f, HS_SERVER);
		return true;
	case HS_GROUP_DPORT:
		k->family = 0;
		k->has_port = true;
		k->port = hs_flow_port(f, HS_SERVER);
		return true;
	case HS_GROUP_BY_COUNT:
		break;
	}
	return false;
}

static bool same_key(const struct hs_group_key *a, const struct hs_group_key *b)
{
	return a->family == b->family && a->has_port == b->has_port && a->port == b->port &&
	       memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0;
}

static size_t slot_of(const struct hs_flow_groups *g, const struct hs_group_key *k)
{
	return (size_t)hs_siphash(g->hash_key, k, sizeof(*k)) & (g->index_size - 1);
}

/* Grows the array to hold at least `need` groups and rebuilds the index for it.  False when memory ran out. */
static bool grow(struct hs_flow_groups *g, size_t need)
{
	size_t capacity = g->capacity ? g->capacity : FIRST_CAPACITY;

	while (capacity < need)
		capacity *= 2;
	struct hs_flow_group *items = realloc(g->items, capacity * sizeof(*items));

	if (!items)
		return false;
	g->items = items;
	uint32_t *index = capacity * 2 <= UINT32_MAX ? calloc(capacity * 2, sizeof(*index)) : NULL;
	if (!index)
		return false;
	free(g->index);
	g->index = index;
	g->index_size = capacity * 2;
	g->capacity = capacity;
	for (size_t i = 0; i < g->count; i++) {
		size_t s = slot_of(g, &g->items[i].key);
		while (g->index[s])
			s = (s + 1) & (g->index_size - 1);
		g->index[s] = (uint32_t)i + 1;
	}
	return true;
}

bool hs_flow_groups_add(struct hs_flow_groups *g, const struct hs_flow *f)
{
	struct hs_group_key k;
	enum hs_side ends[2];

	if (!key_of(g->by, f, &k, ends)) {
		g->skipped++;
		return true;
	}
	if (g->count == g->capacity && !grow(g, g->count + 1)) {
		g->out_of_memory = true;
		return false;
	}
	/* The index is at most half full, so the probe ends at an empty slot. */
	size_t s = slot_of(g, &k);
	while (g->index[s] && !same_key(&g->items[g->index[s] - 1].key, &k))
		s = (s + 1) & (g->index_size - 1);
	struct hs_flow_group *grp;
	if (g->index[s]) {
		grp = &g->items[g->index[s] - 1];
	} else {
		grp = &g->items[g->count];
		memset(grp, 0, sizeof(*grp));
		grp->key = k;
		g->index[s] = (uint32_t)++g->count;
	}
	grp->flows++;
	for (int e = 0; e < 2; e++)
		if (f->state[ends[e]] < HS_TCP_STATE_COUNT)
			grp->states[e][f->state[ends[e]]]++;
	return true;
}

bool hs_flow_groups_reserve(struct hs_flow_groups *g, size_t more)
{
	if (g->count + more <= g->capacity)
		return true;
	if (grow(g, g->count + more))
		return true;
	g->out_of_memory = true;
	return false;
}

static int key_order(const struct hs_group_key *a, const struct hs_group_key *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	int c = memcmp(&a->addr, &b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->port < b->port ? -1 : a->port > b->port;
}

static int most_flows_first(const void *pa, const void *pb)
{
	const struct hs_flow_group *a = pa, *b = pb;

	if (a->flows != b->flows)
		return a->flows > b->flows ? -1 : 1;
	return key_order(&a->key, &b->key);
}

void hs_flow_groups_rank(struct hs_flow_groups *g, size_t limit)
{
	if (g->count > 1)
		qsort(g->items, g->count, sizeof(g->items[0]), most_flows_first);
	/* The index no longer matches the order; nothing is added after ranking. */
	free(g->index);
	g->index = NULL;
	g->index_size = 0;
	if (limit && g->count > limit)
		g->count = limit;
}

static int states_json(char *buf, size_t size, const char *name, const uint32_t *counts)
{
	int used = snprintf(buf, size, ",\"%s\":{", name);
	bool first = true;

	for (int s = 0; s < HS_TCP_STATE_COUNT && used > 0 && (size_t)used < size; s++) {
		if (!counts[s])
			continue;
		used += snprintf(buf + used, size - (size_t)used, "%s\"%s\":%" PRIu32, first ? "" : ",",
				 hs_tcp_state_name((enum hs_tcp_state)s), counts[s]);
		first = false;
	}
	if (used > 0 && (size_t)used < size)
		used += snprintf(buf + used, size - (size_t)used, "}");
	return used;
}

size_t hs_flow_group_json(char *buf, size_t size, enum hs_group_by by, const struct hs_flow_group *grp)
{
	char addr[64] = "";
	int used;

	if (grp->key.family)
		hs_addr_format(&grp->key.addr, grp->key.family, addr, sizeof(addr));
	if (grp->key.family && grp->key.has_port)
		used = snprintf(buf, size, "{\"key\":{\"family\":\"%s\",\"addr\":\"%s\",\"port\":%u}",
				grp->key.family == HS_FAMILY_IPV6 ? "ipv6" : "ipv4", addr, grp->key.port);
	else if (grp->key.family)
		used = snprintf(buf, size, "{\"key\":{\"family\":\"%s\",\"addr\":\"%s\"}",
				grp->key.family == HS_FAMILY_IPV6 ? "ipv6" : "ipv4", addr);
	else
		used = snprintf(buf, size, "{\"key\":{\"port\":%u}", grp->key.port);
	if (used > 0 && (size_t)used < size)
		used += snprintf(buf + used, size - (size_t)used, ",\"flows\":%" PRIu64, grp->flows);
	for (int e = 0; e < 2 && used > 0 && (size_t)used < size; e++)
		used += states_json(buf + used, size - (size_t)used, hs_group_side_name(by, e), grp->states[e]);
	if (used > 0 && (size_t)used < size)
		used += snprintf(buf + used, size - (size_t)used, "}");
	return used > 0 && (size_t)used < size ? (size_t)used : 0;
}
