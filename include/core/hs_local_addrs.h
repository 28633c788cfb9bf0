/*
 * hs_local_addrs: the addresses of the host the daemon runs on (its network
 * namespace), so that the table can tell which endpoint of a flow is local
 * on an end host.  It owns a fixed-size set: add, remove, lookup.  It does
 * no I/O; an edge (addr_watch.c) fills it from rtnetlink and each worker's
 * table keeps its own copy, so lookups on the packet path touch nothing
 * shared.
 *
 * Entries are either one address (prefix 32 or 128) or, for IPv4 addresses
 * on the loopback device, a whole prefix: Linux makes every address of
 * 127.0.0.1/8 local, not only 127.0.0.1.  An entry is identified by its
 * address, prefix and interface, because one address may sit on two
 * interfaces and leaves the host only when both are gone.
 */
#ifndef HS_LOCAL_ADDRS_H
#define HS_LOCAL_ADDRS_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_packet.h"

#define HS_LOCAL_ADDRS_MAX 256      /* single addresses; a host with more is rare */
#define HS_LOCAL_NETS_MAX 16        /* whole local prefixes (IPv4 on loopback) */

struct hs_local_addr {
	struct hs_addr addr;        /* IPv4 in the first four bytes, the rest zero */
	uint32_t ifindex;
	uint8_t family;             /* HS_FAMILY_IPV4 or HS_FAMILY_IPV6 */
	uint8_t prefix;             /* 32 / 128 for one address, shorter for a local prefix */
};

struct hs_local_addrs {
	uint32_t n_hosts, n_nets;
	/* Sorted by family, address, interface, so that a lookup is a binary search. */
	struct hs_local_addr hosts[HS_LOCAL_ADDRS_MAX];
	struct hs_local_addr nets[HS_LOCAL_NETS_MAX];   /* few: searched in order */
};

enum hs_local_addrs_result {
	HS_LOCAL_ADDRS_UNCHANGED = 0,   /* already there (add) or not there (remove) */
	HS_LOCAL_ADDRS_CHANGED,
	HS_LOCAL_ADDRS_FULL,            /* no room: the address is not tracked */
	HS_LOCAL_ADDRS_INVALID,         /* unknown family or prefix out of range */
};

void hs_local_addrs_init(struct hs_local_addrs *set);

/* Adds an entry (host bits of an IPv4 address's unused bytes are ignored). */
enum hs_local_addrs_result hs_local_addrs_add(struct hs_local_addrs *set, const struct hs_local_addr *entry);

/* Removes the entry with the same family, address, prefix and interface. */
enum hs_local_addrs_result hs_local_addrs_remove(struct hs_local_addrs *set,
						 const struct hs_local_addr *entry);

/* Whether addr is one of the host's addresses or inside one of its local prefixes. */
bool hs_local_addrs_contains(const struct hs_local_addrs *set, uint8_t family, const struct hs_addr *addr);

/* Whether two sets hold the same entries. */
bool hs_local_addrs_equal(const struct hs_local_addrs *a, const struct hs_local_addrs *b);

/* Entries of both kinds. */
static inline uint32_t hs_local_addrs_count(const struct hs_local_addrs *set)
{
	return set->n_hosts + set->n_nets;
}

#endif
