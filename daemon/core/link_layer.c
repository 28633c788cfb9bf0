/*
 * link_layer: the link-layer framings of captured frames (hs_link_layer.h).
 * Field layouts follow the published link-type definitions: Ethernet II
 * with 802.1Q (0x8100), 802.1ad (0x88a8) and the pre-standard 0x9100 tag,
 * Linux SLL (16 bytes, protocol at 14) and SLL2 (20 bytes, protocol at 0),
 * and the loopback header's address family, whose IPv6 value differs
 * between the systems that write such captures.
 */
#include "hs_link_layer.h"

#include <stdbool.h>

#define ETHER_HEADER 14u
#define VLAN_TAG 4u
#define SLL_HEADER 16u
#define SLL_PROTOCOL_AT 14u
#define SLL2_HEADER 20u
#define SLL2_PROTOCOL_AT 0u
#define LOOPBACK_HEADER 4u

#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_IPV6 0x86ddu
#define ETHERTYPE_8021Q 0x8100u
#define ETHERTYPE_8021AD 0x88a8u
#define ETHERTYPE_QINQ_OLD 0x9100u

/* AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS). */
#define LOOPBACK_AF_INET 2u

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static bool is_vlan_ethertype(uint16_t type)
{
	return type == ETHERTYPE_8021Q || type == ETHERTYPE_8021AD || type == ETHERTYPE_QINQ_OLD;
}

/*
 * From an ethertype at frame[type_at] on: skips VLAN tags (each is the tag
 * control word followed by the next ethertype) and decides on the last one.
 */
static enum hs_link_result after_ethertype(const uint8_t *frame, size_t caplen, size_t type_at,
					   size_t *ip_offset)
{
	for (unsigned tags = 0;; tags++) {
		if (caplen < type_at + 2)
			return HS_LINK_TRUNCATED;
		uint16_t type = get_be16(frame + type_at);
		if (!is_vlan_ethertype(type)) {
			if (type != ETHERTYPE_IPV4 && type != ETHERTYPE_IPV6)
				return HS_LINK_NOT_IP;
			*ip_offset = type_at + 2;
			return HS_LINK_IP;
		}
		if (tags == HS_LINK_MAX_VLAN_TAGS)
			return HS_LINK_TOO_MANY_TAGS;
		type_at += VLAN_TAG;
	}
}

static bool is_loopback_family(uint32_t af)
{
	return af == LOOPBACK_AF_INET || af == 10 || af == 24 || af == 28 || af == 30;
}

/*
 * The loopback header's family is written in the byte order of the host
 * that captured (NULL) or in network order (LOOP).  A NULL capture read on
 * a host of the other byte order shows the family swapped, so both orders
 * are accepted for it.
 */
static enum hs_link_result loopback(const uint8_t *frame, size_t caplen, bool network_order, size_t *ip_offset)
{
	if (caplen < LOOPBACK_HEADER)
		return HS_LINK_TRUNCATED;
	uint32_t be = ((uint32_t)frame[0] << 24) | ((uint32_t)frame[1] << 16) | ((uint32_t)frame[2] << 8) | frame[3];
	uint32_t le = ((uint32_t)frame[3] << 24) | ((uint32_t)frame[2] << 16) | ((uint32_t)frame[1] << 8) | frame[0];
	if (!is_loopback_family(be) && (network_order || !is_loopback_family(le)))
		return HS_LINK_NOT_IP;
	*ip_offset = LOOPBACK_HEADER;
	return HS_LINK_IP;
}

enum hs_link_result hs_link_find_ip(enum hs_link_type type, const uint8_t *frame, size_t caplen,
				    size_t *ip_offset)
{
	switch (type) {
	case HS_LINK_ETHERNET:
		return after_ethertype(frame, caplen, ETHER_HEADER - 2, ip_offset);
	case HS_LINK_SLL:
		if (caplen < SLL_HEADER)
			return HS_LINK_TRUNCATED;
		return after_ethertype(frame, caplen, SLL_PROTOCOL_AT, ip_offset);
	case HS_LINK_SLL2: {
		if (caplen < SLL2_HEADER)
			return HS_LINK_TRUNCATED;
		uint16_t type2 = get_be16(frame + SLL2_PROTOCOL_AT);
		if (is_vlan_ethertype(type2)) {
			/* Tags, when the kernel left them in the data, follow the header. */
			return after_ethertype(frame, caplen, SLL2_HEADER + 2, ip_offset);
		}
		if (type2 != ETHERTYPE_IPV4 && type2 != ETHERTYPE_IPV6)
			return HS_LINK_NOT_IP;
		*ip_offset = SLL2_HEADER;
		return HS_LINK_IP;
	}
	case HS_LINK_RAW:
		*ip_offset = 0;
		return HS_LINK_IP;
	case HS_LINK_NULL:
	case HS_LINK_LOOP:
		return loopback(frame, caplen, type == HS_LINK_LOOP, ip_offset);
	case HS_LINK_TYPE_COUNT:
		break;
	}
	return HS_LINK_NOT_IP;
}

const char *hs_link_type_name(enum hs_link_type type)
{
	static const char *const names[HS_LINK_TYPE_COUNT] = {
		[HS_LINK_ETHERNET] = "ethernet", [HS_LINK_SLL] = "linux_sll", [HS_LINK_SLL2] = "linux_sll2",
		[HS_LINK_RAW] = "raw", [HS_LINK_NULL] = "null", [HS_LINK_LOOP] = "loop",
	};
	return (unsigned)type < HS_LINK_TYPE_COUNT ? names[type] : "unknown";
}

const char *hs_link_result_name(enum hs_link_result result)
{
	static const char *const names[HS_LINK_RESULT_COUNT] = {
		[HS_LINK_IP] = "ip", [HS_LINK_NOT_IP] = "not_ip", [HS_LINK_TRUNCATED] = "truncated_link_header",
		[HS_LINK_TOO_MANY_TAGS] = "too_many_vlan_tags",
	};
	return (unsigned)result < HS_LINK_RESULT_COUNT ? names[result] : "unknown";
}
