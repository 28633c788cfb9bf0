/*
 * hs_link_layer: finds the IP packet inside a captured frame.  It owns the
 * link-layer framings a capture file may hold (Ethernet with any number of
 * VLAN tags up to a bound, Linux cooked SLL and SLL2, raw IP, and the BSD
 * loopback header) and nothing else: what lies past the IP header is the
 * packet parser's business.  Pure: no allocation, no I/O, and no byte read
 * beyond the captured length.
 */
#ifndef HS_LINK_LAYER_H
#define HS_LINK_LAYER_H

#include <stddef.h>
#include <stdint.h>

/* The framings understood; a capture reader maps its own link-type numbers onto these. */
enum hs_link_type {
	HS_LINK_ETHERNET = 0,       /* Ethernet II, 802.1Q/802.1ad tags skipped */
	HS_LINK_SLL,                /* Linux cooked capture v1 (tcpdump -i any, older libpcap) */
	HS_LINK_SLL2,               /* Linux cooked capture v2 */
	HS_LINK_RAW,                /* no link header: IPv4 or IPv6, told apart by the version */
	HS_LINK_NULL,               /* BSD loopback: a 4-byte address family in the capturing host's byte order */
	HS_LINK_LOOP,               /* OpenBSD loopback: the same family in network byte order */
	HS_LINK_TYPE_COUNT
};

enum hs_link_result {
	HS_LINK_IP = 0,             /* an IPv4 or IPv6 packet starts at *ip_offset */
	HS_LINK_NOT_IP,             /* a valid frame carrying something else (ARP, LLDP, ...) */
	HS_LINK_TRUNCATED,          /* the capture ends inside the link-layer header */
	HS_LINK_TOO_MANY_TAGS,      /* more VLAN tags than any real network stacks */
	HS_LINK_RESULT_COUNT
};

/* Tags beyond this many (QinQ stacks two; some carriers three) are not followed. */
#define HS_LINK_MAX_VLAN_TAGS 4

/*
 * Looks through the link-layer header of frame[0..caplen) and, for an IP
 * packet, stores where the IP header starts.  Only the IP version nibble
 * of a raw or loopback frame is looked at; the rest is left to the parser.
 */
enum hs_link_result hs_link_find_ip(enum hs_link_type type, const uint8_t *frame, size_t caplen,
				    size_t *ip_offset);

/* Short, stable, lower-case names ("ethernet", "too_many_tags"). */
const char *hs_link_type_name(enum hs_link_type type);
const char *hs_link_result_name(enum hs_link_result result);

#endif
