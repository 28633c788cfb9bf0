/*
 * hs_packet: the packet parser.  It owns the translation from raw IP bytes
 * (as NFQUEUE hands them over, possibly truncated to the copy range) into a
 * struct hs_packet.  It is pure: no allocation, no I/O, and it never reads a
 * byte beyond the length it is given.  Malformed input yields a reason code.
 */
#ifndef HS_PACKET_H
#define HS_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* TCP flag bits, as on the wire (byte 13 of the TCP header). */
#define HS_TCP_FIN 0x01
#define HS_TCP_SYN 0x02
#define HS_TCP_RST 0x04
#define HS_TCP_PSH 0x08
#define HS_TCP_ACK 0x10
#define HS_TCP_URG 0x20
#define HS_TCP_ECE 0x40
#define HS_TCP_CWR 0x80

/* Families are stored as the IP version number. */
#define HS_FAMILY_IPV4 4
#define HS_FAMILY_IPV6 6

/* Sentinel for "no window scale option present". */
#define HS_WSCALE_NONE 0xff

/*
 * An address large enough for IPv6.  IPv4 addresses occupy the first four
 * bytes and the remaining twelve are zero, so that keys compare and hash
 * byte-wise without looking at the family.
 */
struct hs_addr {
	uint8_t bytes[16];
};

enum hs_parse_result {
	HS_PARSE_OK = 0,
	HS_PARSE_NOT_TCP,           /* valid IP, but the payload is not TCP */
	HS_PARSE_FRAGMENT,          /* an IP fragment: TCP header not reliably present */
	HS_PARSE_EMPTY,             /* zero-length buffer */
	HS_PARSE_BAD_VERSION,       /* neither IPv4 nor IPv6 */
	HS_PARSE_TRUNCATED_IP,      /* buffer ends inside the IP header */
	HS_PARSE_BAD_IHL,           /* IPv4 header length below 20 bytes */
	HS_PARSE_BAD_IP_LENGTH,     /* IP total/payload length inconsistent */
	HS_PARSE_BAD_EXT_HEADER,    /* IPv6 extension header malformed or truncated */
	HS_PARSE_EXT_CHAIN_TOO_LONG,/* more IPv6 extension headers than we follow */
	HS_PARSE_TRUNCATED_TCP,     /* buffer ends inside the TCP header or options */
	HS_PARSE_BAD_DATA_OFFSET,   /* TCP data offset below 5 or beyond the segment */
	HS_PARSE_BAD_TCP_OPTION,    /* TCP option with an impossible length */
	HS_PARSE_RESULT_COUNT
};

struct hs_packet {
	uint8_t family;             /* HS_FAMILY_IPV4 or HS_FAMILY_IPV6 */
	uint8_t flags;              /* HS_TCP_* bits */
	uint8_t wscale;             /* window scale option, HS_WSCALE_NONE if absent */
	bool sack_permitted;
	bool has_timestamps;
	uint8_t ip_header_len;      /* bytes from the IP header start to the TCP header */
	uint8_t tcp_header_len;     /* TCP header length including options */
	uint16_t mss;               /* MSS option, 0 if absent */
	struct hs_addr src, dst;
	uint16_t sport, dport;      /* host byte order */
	uint32_t seq, ack;          /* host byte order */
	uint16_t window;            /* raw, unscaled */
	uint32_t tsval, tsecr;
	uint32_t payload_len;       /* TCP payload bytes per the IP length, not the capture */
	uint32_t wire_len;          /* total IP packet length */
};

/*
 * Parses the IP packet in buf[0..caplen).  wire_len is the packet's real
 * length when the capture was truncated (NFQUEUE copy range), or 0 when buf
 * holds the whole packet.  Only the IP and TCP headers must lie within the
 * captured bytes; the payload length comes from the IP header (or wire_len
 * for GSO packets whose IP length field is zero).
 */
enum hs_parse_result hs_packet_parse(const uint8_t *buf, size_t caplen,
				     size_t wire_len, struct hs_packet *out);

/* A short, stable, lower-case name for a parse result ("truncated_tcp"). */
const char *hs_parse_result_name(enum hs_parse_result result);

#endif
