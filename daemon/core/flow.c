/*
 * flow: the canonical flow key, the per-flow history string and address
 * formatting.  Small helpers shared by the table, the daemon and the CLI.
 */
#include "hs_flow.h"

#include <arpa/inet.h>
#include <endian.h>
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

	if (a_hi != b_hi)
		return a_hi < b_hi ? -1 : 1;
	uint64_t a_lo = be64toh(hs_load64(a + 8)), b_lo = be64toh(hs_load64(b + 8));
	return (a_lo > b_lo) - (a_lo < b_lo);
}

void hs_flow_key_from_packet(const struct hs_packet *pkt, struct hs_flow_key *key, bool *src_is_0)
{
	/*
	 * Order endpoints by address, then port, so that both directions
	 * build the same key.  IPv4 addresses are zero-padded, so one
	 * comparison serves both families.
	 */
	int cmp = addr_order(pkt->src.bytes, pkt->dst.bytes);
	bool src_low = cmp < 0 || (cmp == 0 && pkt->sport <= pkt->dport);

	if (src_low) {
		key->addr[0] = pkt->src;
		key->addr[1] = pkt->dst;
		key->port[0] = pkt->sport;
		key->port[1] = pkt->dport;
	} else {
		key->addr[0] = pkt->dst;
		key->addr[1] = pkt->src;
		key->port[0] = pkt->dport;
		key->port[1] = pkt->sport;
	}
	*src_is_0 = src_low;
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

static unsigned history_get(const struct hs_flow *flow, unsigned i)
{
	return (flow->history[i / 2] >> ((i % 2) * 4)) & 0xf;
}

void hs_flow_history_add(struct hs_flow *flow, enum hs_side side, enum hs_history_event event)
{
	unsigned code = (unsigned)event | (side == HS_SERVER ? 8u : 0u);

	for (unsigned i = 0; i < HS_HISTORY_MAX; i++) {
		unsigned cur = history_get(flow, i);

		if (cur == code)
			return;
		if (cur == 0) {
			flow->history[i / 2] |= (uint8_t)(code << ((i % 2) * 4));
			return;
		}
	}
	/* Full: the first events are the ones that tell how it started; keep them. */
}

size_t hs_flow_history_format(const struct hs_flow *flow, char *buf, size_t size)
{
	static const char letters[] = "?SHADFRI";
	bool syn_data[2] = { (flow->ep_flags[HS_CLIENT] & HS_EP_SYN_DATA) != 0,
			     (flow->ep_flags[HS_SERVER] & HS_EP_SYN_DATA) != 0 };
	size_t n = 0;

	if (size == 0)
		return 0;
	for (unsigned i = 0; i < HS_HISTORY_MAX && n + 1 < size; i++) {
		unsigned code = history_get(flow, i), event = code & 7;
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
