/*
 * packet.c: the packet parser (include/hs_packet.h).  This module owns the
 * translation of raw IPv4/IPv6 bytes, as NFQUEUE hands them over, into a
 * struct hs_packet: IP header validation, the IPv6 extension header walk,
 * the TCP header and its options.  It is pure: it allocates nothing, does no
 * I/O and never reads outside buf[0..caplen).  Every multi-byte field is read
 * byte by byte in network order, so unaligned buffers are fine.
 */
#include "hs_packet.h"

#include <string.h>

#define IPV4_MIN_HEADER 20u
#define IPV6_HEADER 40u
#define TCP_MIN_HEADER 20u

/* IPv4 fragment field: the More Fragments bit and the 13-bit offset. */
#define IPV4_MF 0x2000u
#define IPV4_OFFSET_MASK 0x1fffu

#define IPPROTO_NUM_TCP 6u

/* IPv6 next-header values for the extension headers we walk through. */
#define IPV6_EXT_HOPOPTS 0u
#define IPV6_EXT_ROUTING 43u
#define IPV6_EXT_FRAGMENT 44u
#define IPV6_EXT_AH 51u
#define IPV6_EXT_DSTOPTS 60u
#define IPV6_EXT_MOBILITY 135u
#define IPV6_EXT_HIP 139u
#define IPV6_EXT_SHIM6 140u
#define IPV6_FRAGMENT_HEADER 8u

/*
 * Real traffic carries at most a handful of extension headers; a longer
 * chain is either an attack on parsers or something we have no business
 * tracking, so the walk gives up after this many.
 */
#define IPV6_MAX_EXT_HEADERS 8u

/* The largest IP length field value; beyond it only GSO/jumbo packets go. */
#define IP_LEN_FIELD_MAX 65535u

/* RFC 7323, section 2.3: a shift above 14 is treated as 14. */
#define TCP_WSCALE_MAX 14u

#define TCPOPT_EOL 0u
#define TCPOPT_NOP 1u
#define TCPOPT_MSS 2u
#define TCPOPT_WSCALE 3u
#define TCPOPT_SACK_PERM 4u
#define TCPOPT_TIMESTAMP 8u
#define TCPOLEN_MSS 4u
#define TCPOLEN_WSCALE 3u
#define TCPOLEN_SACK_PERM 2u
#define TCPOLEN_TIMESTAMP 10u

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/*
 * The packet's real length as the caller knows it: wire_len when the capture
 * was truncated, otherwise the capture itself.  A wire length shorter than
 * the capture cannot happen with a correct caller, so it is reported as an
 * inconsistent length rather than silently trusted.
 */
static bool available_len(size_t caplen, size_t wire_len, size_t *avail)
{
	if (wire_len == 0) {
		*avail = caplen;
		return true;
	}
	if (wire_len < caplen)
		return false;
	*avail = wire_len;
	return true;
}

/*
 * Walks the TCP options in opt[0..len).  The caller has checked that all of
 * them lie within the capture and within the IP length.  Options of a known
 * kind but an unexpected length are skipped like unknown ones, as Linux's
 * tcp_parse_options does, because the length byte still tells us where the
 * next option starts; only a length that cannot be followed is an error.
 * Options are reported whatever the segment's flags: deciding that MSS and
 * window scale count only on a SYN is the state machine's business.
 */
static enum hs_parse_result parse_tcp_options(const uint8_t *opt, size_t len,
					      struct hs_packet *out)
{
	size_t i = 0;

	while (i < len) {
		uint8_t kind = opt[i];
		uint8_t optlen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return HS_PARSE_BAD_TCP_OPTION;
		optlen = opt[i + 1];
		if (optlen < 2 || optlen > len - i)
			return HS_PARSE_BAD_TCP_OPTION;

		switch (kind) {
		case TCPOPT_MSS:
			if (optlen == TCPOLEN_MSS)
				out->mss = get_be16(opt + i + 2);
			break;
		case TCPOPT_WSCALE:
			if (optlen == TCPOLEN_WSCALE) {
				uint8_t shift = opt[i + 2];

				out->wscale = shift > TCP_WSCALE_MAX ?
					(uint8_t)TCP_WSCALE_MAX : shift;
			}
			break;
		case TCPOPT_SACK_PERM:
			if (optlen == TCPOLEN_SACK_PERM)
				out->sack_permitted = true;
			break;
		case TCPOPT_TIMESTAMP:
			if (optlen == TCPOLEN_TIMESTAMP) {
				out->has_timestamps = true;
				out->tsval = get_be32(opt + i + 2);
				out->tsecr = get_be32(opt + i + 6);
			}
			break;
		default:
			break;
		}
		i += optlen;
	}
	return HS_PARSE_OK;
}

/*
 * Parses the TCP header at buf[off..), where l4_len is the segment length
 * the IP header announces.  The capture only has to hold the header and its
 * options, never the payload.
 */
static enum hs_parse_result parse_tcp(const uint8_t *buf, size_t caplen,
				      size_t off, size_t l4_len,
				      struct hs_packet *out)
{
	const uint8_t *tcp;
	size_t hlen;

	if (caplen < off || caplen - off < TCP_MIN_HEADER)
		return HS_PARSE_TRUNCATED_TCP;
	tcp = buf + off;

	hlen = (size_t)(tcp[12] >> 4) * 4;
	if (hlen < TCP_MIN_HEADER || hlen > l4_len)
		return HS_PARSE_BAD_DATA_OFFSET;
	if (caplen - off < hlen)
		return HS_PARSE_TRUNCATED_TCP;

	out->sport = get_be16(tcp);
	out->dport = get_be16(tcp + 2);
	out->seq = get_be32(tcp + 4);
	out->ack = get_be32(tcp + 8);
	out->flags = tcp[13];
	out->window = get_be16(tcp + 14);
	out->tcp_header_len = (uint8_t)hlen;
	out->payload_len = (uint32_t)(l4_len - hlen);

	return parse_tcp_options(tcp + TCP_MIN_HEADER, hlen - TCP_MIN_HEADER, out);
}

static enum hs_parse_result parse_ipv4(const uint8_t *buf, size_t caplen,
				       size_t wire_len, struct hs_packet *out)
{
	size_t hlen = (size_t)(buf[0] & 0x0f) * 4;
	size_t avail, ip_len;
	uint16_t tot_len, frag;

	if (hlen < IPV4_MIN_HEADER)
		return HS_PARSE_BAD_IHL;
	if (caplen < hlen)
		return HS_PARSE_TRUNCATED_IP;
	if (!available_len(caplen, wire_len, &avail))
		return HS_PARSE_BAD_IP_LENGTH;

	/*
	 * GSO and BIG TCP hand us IPv4 packets larger than the 16-bit total
	 * length can express; the kernel then leaves it zero and the real
	 * length is only known from the queue metadata.  A zero length on a
	 * packet that would fit is plainly corrupt.  A total length below the
	 * real one is fine: link-layer padding follows short packets.
	 */
	tot_len = get_be16(buf + 2);
	if (tot_len == 0 && avail > IP_LEN_FIELD_MAX) {
		if (avail > UINT32_MAX)
			return HS_PARSE_BAD_IP_LENGTH;
		ip_len = avail;
	} else {
		if (tot_len < hlen || tot_len > avail)
			return HS_PARSE_BAD_IP_LENGTH;
		ip_len = tot_len;
	}

	out->family = HS_FAMILY_IPV4;
	out->ip_header_len = (uint8_t)hlen;
	out->wire_len = (uint32_t)ip_len;
	memcpy(out->src.bytes, buf + 12, 4);
	memcpy(out->dst.bytes, buf + 16, 4);

	/*
	 * A first fragment (offset 0, MF set) does carry the TCP header, but
	 * its length says nothing about the segment's, so every fragment is
	 * left to reassembly.  The DF and reserved bits do not matter here.
	 */
	frag = get_be16(buf + 6);
	if ((frag & IPV4_MF) || (frag & IPV4_OFFSET_MASK))
		return HS_PARSE_FRAGMENT;
	if (buf[9] != IPPROTO_NUM_TCP)
		return HS_PARSE_NOT_TCP;

	return parse_tcp(buf, caplen, hlen, ip_len - hlen, out);
}

static enum hs_parse_result parse_ipv6(const uint8_t *buf, size_t caplen,
				       size_t wire_len, struct hs_packet *out)
{
	size_t avail, ip_len, limit, off;
	uint16_t payload;
	unsigned count = 0;
	uint8_t next;

	if (caplen < IPV6_HEADER)
		return HS_PARSE_TRUNCATED_IP;
	if (!available_len(caplen, wire_len, &avail))
		return HS_PARSE_BAD_IP_LENGTH;

	/*
	 * As for IPv4, GSO and BIG TCP packets beyond 64 KiB of payload carry
	 * a zero payload length (and, on newer kernels, no jumbo option), so
	 * the real length comes from the queue.  A zero payload length on a
	 * small packet is legal: it simply has no payload.
	 */
	payload = get_be16(buf + 4);
	if (payload == 0 && avail - IPV6_HEADER > IP_LEN_FIELD_MAX) {
		if (avail > UINT32_MAX)
			return HS_PARSE_BAD_IP_LENGTH;
		ip_len = avail;
	} else {
		ip_len = IPV6_HEADER + (size_t)payload;
		if (ip_len > avail)
			return HS_PARSE_BAD_IP_LENGTH;
	}

	out->family = HS_FAMILY_IPV6;
	out->wire_len = (uint32_t)ip_len;
	memcpy(out->src.bytes, buf + 8, 16);
	memcpy(out->dst.bytes, buf + 24, 16);

	/*
	 * Extension headers must lie both within the capture (we have to read
	 * the next one's type) and within the packet the IP header announces.
	 */
	limit = caplen < ip_len ? caplen : ip_len;
	next = buf[6];
	off = IPV6_HEADER;
	for (;;) {
		size_t ext_len;

		switch (next) {
		case IPPROTO_NUM_TCP:
			/*
			 * ip_header_len is a byte; a chain longer than that is
			 * legal but far beyond anything real TCP traffic uses.
			 */
			if (off > UINT8_MAX)
				return HS_PARSE_EXT_CHAIN_TOO_LONG;
			out->ip_header_len = (uint8_t)off;
			return parse_tcp(buf, caplen, off, ip_len - off, out);
		case IPV6_EXT_HOPOPTS:
		case IPV6_EXT_ROUTING:
		case IPV6_EXT_FRAGMENT:
		case IPV6_EXT_AH:
		case IPV6_EXT_DSTOPTS:
		case IPV6_EXT_MOBILITY:
		case IPV6_EXT_HIP:
		case IPV6_EXT_SHIM6:
			break;
		default:
			/* ESP (50), No Next Header (59), UDP, ICMPv6, ... */
			return HS_PARSE_NOT_TCP;
		}

		if (++count > IPV6_MAX_EXT_HEADERS)
			return HS_PARSE_EXT_CHAIN_TOO_LONG;
		/* RFC 8200, section 4.3: hop-by-hop options come first or not at all. */
		if (next == IPV6_EXT_HOPOPTS && off != IPV6_HEADER)
			return HS_PARSE_BAD_EXT_HEADER;
		if (limit < off || limit - off < 2)
			return HS_PARSE_BAD_EXT_HEADER;

		if (next == IPV6_EXT_FRAGMENT)
			ext_len = IPV6_FRAGMENT_HEADER;
		else if (next == IPV6_EXT_AH)
			ext_len = ((size_t)buf[off + 1] + 2) * 4; /* RFC 4302: 32-bit words */
		else
			ext_len = ((size_t)buf[off + 1] + 1) * 8;
		if (limit - off < ext_len)
			return HS_PARSE_BAD_EXT_HEADER;

		/*
		 * Even an atomic fragment (offset 0, M clear) is reported: the
		 * caller treats IPv4 and IPv6 fragments alike, outside tracking.
		 */
		if (next == IPV6_EXT_FRAGMENT)
			return HS_PARSE_FRAGMENT;

		next = buf[off];
		off += ext_len;
	}
}

enum hs_parse_result hs_packet_parse(const uint8_t *buf, size_t caplen,
				     size_t wire_len, struct hs_packet *out)
{
	memset(out, 0, sizeof(*out));
	out->wscale = HS_WSCALE_NONE;

	if (buf == NULL || caplen == 0)
		return HS_PARSE_EMPTY;

	switch (buf[0] >> 4) {
	case 4:
		return parse_ipv4(buf, caplen, wire_len, out);
	case 6:
		return parse_ipv6(buf, caplen, wire_len, out);
	default:
		return HS_PARSE_BAD_VERSION;
	}
}

static const char *const result_names[HS_PARSE_RESULT_COUNT] = {
	[HS_PARSE_OK] = "ok",
	[HS_PARSE_NOT_TCP] = "not_tcp",
	[HS_PARSE_FRAGMENT] = "fragment",
	[HS_PARSE_EMPTY] = "empty",
	[HS_PARSE_BAD_VERSION] = "bad_version",
	[HS_PARSE_TRUNCATED_IP] = "truncated_ip",
	[HS_PARSE_BAD_IHL] = "bad_ihl",
	[HS_PARSE_BAD_IP_LENGTH] = "bad_ip_length",
	[HS_PARSE_BAD_EXT_HEADER] = "bad_ext_header",
	[HS_PARSE_EXT_CHAIN_TOO_LONG] = "ext_chain_too_long",
	[HS_PARSE_TRUNCATED_TCP] = "truncated_tcp",
	[HS_PARSE_BAD_DATA_OFFSET] = "bad_data_offset",
	[HS_PARSE_BAD_TCP_OPTION] = "bad_tcp_option",
};

const char *hs_parse_result_name(enum hs_parse_result result)
{
	/* The cast keeps the check meaningful whatever type the enum gets. */
	if ((unsigned)result >= HS_PARSE_RESULT_COUNT || !result_names[result])
		return "unknown";
	return result_names[result];
}
