/*
 * flow: the canonical flow key, the per-flow history string and address
 * formatting.  Small helpers shared by the table, the daemon and the CLI.
 */
#include "hs_flow.h"

#include <arpa/inet.h>
#include <endian.h>
#include <stddef.h>
#include <string.h>

/*
 * memcmp's order of two addresses (negative, zero, positive), computed as
 * that of two pairs of big-endian words: the byte-wise order is the order
 * of the numbers the bytes spell most significant first.  It runs for
 * every packet, where a call to memcmp cost more than the comparison.
 */
static inline int addr_order(const uint8_t a[16], const uint8_t b[16])
{
	uint64_t a_hi = be64toh(hs_load64(a)), b_hi = be64toh(hs_load64(b));
	uint64_t a_lo = be64toh(hs_load64(a + 8)), b_lo = be64toh(hs_load64(b + 8));
	int hi = (a_hi > b_hi) - (a_hi < b_hi), lo = (a_lo > b_lo) - (a_lo < b_lo);

	/* The first words decide unless they are equal; without a branch. */
	return 2 * hi + lo;
}

/*
 * The key of a packet of any family (IPv6 comes here): out of line, so
 * that the IPv4 path saves no registers for its wider work.
 */
static __attribute__((noinline)) void any_key(const struct hs_packet *pkt, struct hs_flow_key *key, bool *src_is_0)
{
	/*
	 * Order endpoints by address, then port, so that both directions
	 * build the same key.  IPv4 addresses are zero-padded, so one
	 * comparison serves both families.
	 */
	int cmp = addr_order(pkt->src.bytes, pkt->dst.bytes);
	bool src_low = (cmp < 0) | ((cmp == 0) & (pkt->sport <= pkt->dport));
	/*
	 * Which endpoint goes first is as random as the traffic, so the key
	 * is built without a branch: swap is all ones when the destination
	 * goes first, and (s ^ d) & swap turns s into d and d into s.
	 */
	uint64_t swap = (uint64_t)src_low - 1;

	for (size_t half = 0; half < 16; half += 8) {
		uint64_t s = hs_load64(pkt->src.bytes + half), d = hs_load64(pkt->dst.bytes + half);
		uint64_t x = (s ^ d) & swap;

		hs_store64(key->addr[0].bytes + half, s ^ x);
		hs_store64(key->addr[1].bytes + half, d ^ x);
	}
	hs_flow_key_ports(pkt, key, swap);
	*src_is_0 = src_low;
}

void hs_flow_key_from_packet(const struct hs_packet *pkt, struct hs_flow_key *key, bool *src_is_0)
{
	if (pkt->family == HS_FAMILY_IPV4)
		hs_flow_key_ipv4(pkt, key, src_is_0);
	else
		any_key(pkt, key, src_is_0);
}

void hs_flow_key_get(const struct hs_flow *flow, struct hs_flow_key *key)
{
	key->addr[0] = hs_flow_key_addr(flow, 0);
	key->addr[1] = hs_flow_key_addr(flow, 1);
	key->port[0] = flow->port[0];
	key->port[1] = flow->port[1];
}

void hs_flow_key_set(struct hs_flow_v6 *dst, const struct hs_flow_key *key, uint8_t family)
{
	struct hs_flow *f = &dst->flow;

	hs_flow_set_family(f, family);
	f->port[0] = key->port[0];
	f->port[1] = key->port[1];
	if (family == HS_FAMILY_IPV6) {
		memset(f->addr4, 0, sizeof(f->addr4));
		memcpy(dst->addr, key->addr, sizeof(dst->addr));
	} else {
		memcpy(f->addr4[0], key->addr[0].bytes, 4);
		memcpy(f->addr4[1], key->addr[1].bytes, 4);
	}
}

void hs_flow_copy(struct hs_flow_v6 *dst, const struct hs_flow *src)
{
	if (hs_flow_family(src) == HS_FAMILY_IPV6)
		*dst = *hs_flow_v6_of(src);
	else
		*dst = (struct hs_flow_v6){ .flow = *src };
}

size_t hs_flow_history_format(const struct hs_flow *flow, char *buf, size_t size)
{
	static const char letters[] = "?SHADFRI";
	bool syn_data[2] = { (flow->ep_flags[HS_CLIENT] & HS_EP_SYN_DATA) != 0,
			     (flow->ep_flags[HS_SERVER] & HS_EP_SYN_DATA) != 0 };
	uint64_t h = hs_flow_history_due(flow);
	size_t n = 0;

	if (size == 0)
		return 0;
	for (unsigned i = 0; i < HS_HISTORY_MAX && n + 1 < size; i++) {
		unsigned code = (unsigned)(h >> (4 * i)) & 0xf, event = code & 7;
		int side = (code & 8) ? HS_SERVER : HS_CLIENT;

		if (code == 0)
			break;
		char c = letters[event];
		/* The data a SYN carried is shown once, on the side's first SYN letter. */
		if ((event == HS_HIST_SYN || event == HS_HIST_SYNACK) && syn_data[side]) {
			c = 'T';
			syn_data[side] = false;
		}
		if (code & 8)
			c = (char)(c - 'A' + 'a');
		buf[n++] = c;
	}
	buf[n] = '\0';
	return n;
}

const char *hs_addr_format(const struct hs_addr *addr, uint8_t family, char *buf, size_t size)
{
	if (!inet_ntop(family == HS_FAMILY_IPV6 ? AF_INET6 : AF_INET, addr->bytes, buf, (socklen_t)size)) {
		if (size > 0)
			buf[0] = '\0';
	}
	return buf;
}

bool hs_addr_parse(const char *text, struct hs_addr *addr, uint8_t *family)
{
	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, text, addr->bytes) == 1) {
		*family = HS_FAMILY_IPV4;
		return true;
	}
	if (inet_pton(AF_INET6, text, addr->bytes) == 1) {
		*family = HS_FAMILY_IPV6;
		return true;
	}
	return false;
}
