/*
 * rst_build: the bytes of the resets handshaked sends (include/core/
 * hs_rst_build.h): IPv4/IPv6 header, TCP header, both checksums, and the
 * choice of their sequence and acknowledgement numbers from a tracked
 * flow.  Every field is written byte by byte in network order, so the
 * buffer needs no alignment.  Pure: no I/O, no allocation.
 */
#include "hs_rst_build.h"

#include <stdbool.h>
#include <string.h>

#define IPV4_HEADER 20u
#define IPV6_HEADER 40u
#define TCP_HEADER 20u
#define IPPROTO_NUM_TCP 6u
#define IPV4_DF 0x4000u

/* ---- byte helpers -------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/*
 * Adds bytes to a running one's-complement sum as big-endian 16-bit words
 * (RFC 1071).  Every piece summed here has an even length, so no odd byte
 * is ever carried between calls.
 */
static uint32_t sum_words(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += ((uint32_t)p[i] << 8) | p[i + 1];
	return sum;
}

static uint16_t fold_complement(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- sequence numbers ---------------------------------------------------- */

/* Whether we saw anything of a side's own sequence space: its SYN or a window it advertised. */
static bool window_seen(const struct hs_flow *flow, enum hs_side side)
{
	return flow->window[side].maxwin != 0 || (flow->ep_flags[side] & HS_EP_SYN) != 0;
}

enum hs_rst_seq_source hs_rst_seq(const struct hs_flow *flow, enum hs_side to, uint32_t *seq)
{
	enum hs_side peer = to == HS_CLIENT ? HS_SERVER : HS_CLIENT;

	if (window_seen(flow, peer)) {
		*seq = flow->window[peer].end;
		return HS_RST_SEQ_SENT;
	}
	/*
	 * The peer never spoke.  In a picked-up flow the tracker then keeps
	 * the highest acknowledgement number `to` sent in window[peer].end,
	 * which is `to`'s own RCV.NXT: as good as exact while all of the
	 * peer's traffic passes us.  Without the liberal flag nothing ever
	 * wrote that field, so it means nothing.
	 */
	if ((flow->ep_flags[peer] & HS_EP_LIBERAL) && window_seen(flow, to)) {
		*seq = flow->window[peer].end;
		return HS_RST_SEQ_ACKED;
	}
	*seq = 0;
	return HS_RST_SEQ_UNKNOWN;
}

/* ---- building ------------------------------------------------------------ */

/* Writes the TCP header at tcp and its checksum; pseudo holds the pseudo-header's partial sum. */
static void write_tcp(uint8_t *tcp, uint32_t pseudo, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags)
{
	put16(tcp + 0, sport);
	put16(tcp + 2, dport);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (uint8_t)((TCP_HEADER / 4) << 4);     /* data offset, no options */
	tcp[13] = flags;
	put16(tcp + 14, 0);     /* window: a RST advertises none, as Linux's own do */
	put16(tcp + 16, 0);     /* checksum, computed below over the zeroed field */
	put16(tcp + 18, 0);     /* urgent pointer */
	put16(tcp + 16, fold_complement(sum_words(pseudo, tcp, TCP_HEADER)));
}

size_t hs_rst_build(const struct hs_flow *flow, enum hs_side to, uint8_t *buf, size_t size)
{
	enum hs_side peer = to == HS_CLIENT ? HS_SERVER : HS_CLIENT;
	const struct hs_addr src_addr = hs_flow_addr(flow, peer), dst_addr = hs_flow_addr(flow, to);
	const struct hs_addr *src = &src_addr, *dst = &dst_addr;
	uint16_t sport = hs_flow_port(flow, peer), dport = hs_flow_port(flow, to);
	uint8_t flags = HS_TCP_RST;
	uint32_t seq, ack = 0;
	size_t len;

	if (hs_flow_family(flow) == HS_FAMILY_IPV4)
		len = IPV4_HEADER + TCP_HEADER;
	else if (hs_flow_family(flow) == HS_FAMILY_IPV6)
		len = IPV6_HEADER + TCP_HEADER;
	else
		return 0;
	if (size < len)
		return 0;

	enum hs_rst_seq_source source = hs_rst_seq(flow, to, &seq);
	if (flow->state[to] == HS_TCP_SYN_SENT) {
		/*
		 * A SYN-SENT socket accepts a RST only if it acknowledges the
		 * SYN, and ignores its sequence number; should the SYN-ACK we
		 * saw have reached it, it is ESTABLISHED instead and the
		 * sequence number (the server's ISN + 1, known then) is what
		 * counts.  RST|ACK with both numbers right satisfies either.
		 */
		flags |= HS_TCP_ACK;
		ack = flow->window[to].end;
	} else if (source == HS_RST_SEQ_UNKNOWN) {
		return 0;
	}

	memset(buf, 0, len);
	if (hs_flow_family(flow) == HS_FAMILY_IPV4) {
		uint8_t *ip = buf, *tcp = buf + IPV4_HEADER;
		uint32_t pseudo;

		ip[0] = 0x45;                           /* version 4, 5 words */
		put16(ip + 2, (uint16_t)len);
		put16(ip + 6, IPV4_DF);
		ip[8] = HS_RST_TTL;
		ip[9] = IPPROTO_NUM_TCP;
		memcpy(ip + 12, src->bytes, 4);         /* IPv4 lives in the first 4 bytes */
		memcpy(ip + 16, dst->bytes, 4);
		put16(ip + 10, fold_complement(sum_words(0, ip, IPV4_HEADER)));

		/* Pseudo-header: addresses, zero, protocol, TCP length. */
		pseudo = sum_words(0, ip + 12, 8) + IPPROTO_NUM_TCP + TCP_HEADER;
		write_tcp(tcp, pseudo, sport, dport, seq, ack, flags);
	} else {
		uint8_t *ip = buf, *tcp = buf + IPV6_HEADER;
		uint32_t pseudo;

		ip[0] = 0x60;                           /* version 6, class 0, label 0 */
		put16(ip + 4, TCP_HEADER);              /* payload length */
		ip[6] = IPPROTO_NUM_TCP;
		ip[7] = HS_RST_TTL;
		memcpy(ip + 8, src->bytes, 16);
		memcpy(ip + 24, dst->bytes, 16);

		/* RFC 8200 8.1: addresses, upper-layer length (32 bits), zeros, next header. */
		pseudo = sum_words(0, ip + 8, 32) + TCP_HEADER + IPPROTO_NUM_TCP;
		write_tcp(tcp, pseudo, sport, dport, seq, ack, flags);
	}
	return len;
}
