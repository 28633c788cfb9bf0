/*
 * local_addrs: the set of the host's own addresses (see hs_local_addrs.h).
 *
 * Single addresses are kept sorted so that the lookup, done once per side
 * of every new flow, is a binary search whatever the set's size; the few
 * whole local prefixes are scanned.  Changes shift entries in place: they
 * happen when an interface gains or loses an address, rarely enough that
 * keeping lookups cheap is what matters.
 */
#include "hs_local_addrs.h"

#include <string.h>

void hs_local_addrs_init(struct hs_local_addrs *set)
{
	memset(set, 0, sizeof(*set));
}

static unsigned addr_bits(uint8_t family)
{
	return family == HS_FAMILY_IPV6 ? 128 : 32;
}

/* A copy with the bytes an IPv4 address does not use cleared, or false if the entry makes no sense. */
static bool normalise(const struct hs_local_addr *in, struct hs_local_addr *out)
{
	if (in->family != HS_FAMILY_IPV4 && in->family != HS_FAMILY_IPV6)
		return false;
	if (in->prefix > addr_bits(in->family))
		return false;
	*out = *in;
	if (in->family == HS_FAMILY_IPV4)
		memset(out->addr.bytes + 4, 0, sizeof(out->addr.bytes) - 4);
	return true;
}

static bool is_host(const struct hs_local_addr *e)
{
	return e->prefix == addr_bits(e->family);
}

/* Orders by family and address only: what a lookup knows. */
static int compare_addr(uint8_t family, const struct hs_addr *addr, const struct hs_local_addr *e)
{
	if (family != e->family)
		return family < e->family ? -1 : 1;
	return memcmp(addr->bytes, e->addr.bytes, sizeof(addr->bytes));
}

/* The full order of the sorted array: address, then interface. */
static int compare_entry(const struct hs_local_addr *a, const struct hs_local_addr *b)
{
	int c = compare_addr(a->family, &a->addr, b);

	if (c != 0)
		return c;
	return a->ifindex == b->ifindex ? 0 : a->ifindex < b->ifindex ? -1 : 1;
}

/* Index of the first host entry not ordered before key (n_hosts if none). */
static uint32_t lower_bound(const struct hs_local_addrs *set, const struct hs_local_addr *key)
{
	uint32_t lo = 0, hi = set->n_hosts;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (compare_entry(&set->hosts[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The same entry: family, address, prefix and interface (padding is never compared). */
static bool same_entry(const struct hs_local_addr *a, const struct hs_local_addr *b)
{
	return a->family == b->family && a->prefix == b->prefix && a->ifindex == b->ifindex &&
	       memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0;
}

static enum hs_local_addrs_result add_net(struct hs_local_addrs *set, const struct hs_local_addr *e)
{
	for (uint32_t i = 0; i < set->n_nets; i++)
		if (same_entry(&set->nets[i], e))
			return HS_LOCAL_ADDRS_UNCHANGED;
	if (set->n_nets == HS_LOCAL_NETS_MAX)
		return HS_LOCAL_ADDRS_FULL;
	set->nets[set->n_nets++] = *e;
	return HS_LOCAL_ADDRS_CHANGED;
}

enum hs_local_addrs_result hs_local_addrs_add(struct hs_local_addrs *set, const struct hs_local_addr *entry)
{
	struct hs_local_addr e;

	if (!normalise(entry, &e))
		return HS_LOCAL_ADDRS_INVALID;
	if (!is_host(&e))
		return add_net(set, &e);
	uint32_t at = lower_bound(set, &e);
	if (at < set->n_hosts && compare_entry(&set->hosts[at], &e) == 0)
		return HS_LOCAL_ADDRS_UNCHANGED;
	if (set->n_hosts == HS_LOCAL_ADDRS_MAX)
		return HS_LOCAL_ADDRS_FULL;
	memmove(&set->hosts[at + 1], &set->hosts[at], (set->n_hosts - at) * sizeof(set->hosts[0]));
	set->hosts[at] = e;
	set->n_hosts++;
	return HS_LOCAL_ADDRS_CHANGED;
}

enum hs_local_addrs_result hs_local_addrs_remove(struct hs_local_addrs *set, const struct hs_local_addr *entry)
{
	struct hs_local_addr e;

	if (!normalise(entry, &e))
		return HS_LOCAL_ADDRS_INVALID;
	if (!is_host(&e)) {
		for (uint32_t i = 0; i < set->n_nets; i++) {
			if (same_entry(&set->nets[i], &e)) {
				set->nets[i] = set->nets[--set->n_nets];
				return HS_LOCAL_ADDRS_CHANGED;
			}
		}
		return HS_LOCAL_ADDRS_UNCHANGED;
	}
	uint32_t at = lower_bound(set, &e);
	if (at == set->n_hosts || compare_entry(&set->hosts[at], &e) != 0)
		return HS_LOCAL_ADDRS_UNCHANGED;
	set->n_hosts--;
	memmove(&set->hosts[at], &set->hosts[at + 1], (set->n_hosts - at) * sizeof(set->hosts[0]));
	return HS_LOCAL_ADDRS_CHANGED;
}

/* Whether addr's first prefix bits equal the entry's (the family already matches). */
static bool net_contains(const struct hs_local_addr *net, const struct hs_addr *addr)
{
	unsigned whole = net->prefix / 8, rest = net->prefix % 8;

	if (memcmp(net->addr.bytes, addr->bytes, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return ((net->addr.bytes[whole] ^ addr->bytes[whole]) & mask) == 0;
}

bool hs_local_addrs_contains(const struct hs_local_addrs *set, uint8_t family, const struct hs_addr *addr)
{
	uint32_t lo = 0, hi = set->n_hosts;

	/* Any interface will do: the search stops at the first entry with the address. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = compare_addr(family, addr, &set->hosts[mid]);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	for (uint32_t i = 0; i < set->n_nets; i++)
		if (set->nets[i].family == family && net_contains(&set->nets[i], addr))
			return true;
	return false;
}

bool hs_local_addrs_equal(const struct hs_local_addrs *a, const struct hs_local_addrs *b)
{
	if (a->n_hosts != b->n_hosts || a->n_nets != b->n_nets)
		return false;
	for (uint32_t i = 0; i < a->n_hosts; i++)
		if (!same_entry(&a->hosts[i], &b->hosts[i]))
			return false;
	/* Nets are few and unordered: each must be somewhere in the other set. */
	for (uint32_t i = 0; i < a->n_nets; i++) {
		bool found = false;
		for (uint32_t j = 0; j < b->n_nets && !found; j++)
			found = same_entry(&a->nets[i], &b->nets[j]);
		if (!found)
			return false;
	}
	return true;
}
