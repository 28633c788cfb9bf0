/*
 * fuzz_packet: libFuzzer target for the packet parser (hs_packet_parse in
 * daemon/core/packet.c).
 *
 * The whole input is the captured packet (caplen = size), so seed files are
 * plain IP packets.  libFuzzer hands us a heap block of exactly that size,
 * so AddressSanitizer catches any read past caplen.  The wire length the
 * NFQUEUE metadata would report is derived from byte 1, which the parser
 * never looks at in either family (IPv4 TOS, IPv6 traffic class and flow
 * label bits), so choosing it does not disturb the parsed fields.
 *
 * Besides memory safety, every result is checked against what the header
 * promises: a packet reported OK has its IP and TCP headers inside the
 * capture, lengths that add up, and fields equal to the bytes at the
 * offsets the parser reported.  A parser that says OK while any of that is
 * false would feed garbage to the tracker, which trusts these fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a message that says which invariant broke. */
#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_packet: invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                    \
			abort();                                                        \
		}                                                                       \
	} while (0)

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * The wire length NFQUEUE would report with the packet.  Most inputs use 0
 * (the capture is the whole packet), because that is what the daemon sees
 * when copy_range covers the packet; the other modes cover a truncated
 * capture, GSO/BIG TCP packets beyond 64 KiB, a length past 4 GiB, and the
 * caller error of a wire length shorter than the capture.
 */
static size_t pick_wire_len(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t sel = data[1];
	size_t extra = (size_t)(sel >> 3);

	switch (sel & 7) {
	case 0:
	case 1:
	case 2:
		return 0;
	case 3:
		return size + extra;                    /* truncated by a small amount */
	case 4:
		return size + extra * 1500;             /* truncated by whole segments */
	case 5:
		return 65536 + extra * 40000;           /* GSO / BIG TCP beyond the 16-bit fields */
	case 6:
		return extra == 31 ? (size_t)UINT32_MAX + 1 + size : (size_t)UINT32_MAX - extra;
	default:
		return size > 1 ? size - 1 - (extra % (size - 1)) : 0;  /* shorter than the capture */
	}
}

static void check_ok(const uint8_t *data, size_t caplen, size_t wire_len, const struct hs_packet *pkt)
{
	size_t avail = wire_len ? wire_len : caplen;
	unsigned version = data[0] >> 4;

	CHECK(pkt->family == version);
	CHECK(pkt->tcp_header_len >= 20 && pkt->tcp_header_len <= 60 && pkt->tcp_header_len % 4 == 0);
	CHECK((size_t)pkt->ip_header_len + pkt->tcp_header_len <= caplen);
	CHECK(pkt->wire_len <= avail);
	CHECK((uint64_t)pkt->ip_header_len + pkt->tcp_header_len + pkt->payload_len == pkt->wire_len);
	CHECK(pkt->wscale == HS_WSCALE_NONE || pkt->wscale <= 14);
	if (!pkt->has_timestamps)
		CHECK(pkt->tsval == 0 && pkt->tsecr == 0);

	if (pkt->family == HS_FAMILY_IPV4) {
		unsigned ihl = (data[0] & 0x0f) * 4u;
		uint16_t tot_len = be16(data + 2);

		CHECK(pkt->ip_header_len == ihl && ihl >= 20);
		CHECK(data[9] == 6);
		CHECK((be16(data + 6) & 0x3fff) == 0);   /* neither MF nor an offset */
		CHECK(pkt->wire_len == tot_len || (tot_len == 0 && avail > 65535));
		CHECK(memcmp(pkt->src.bytes, data + 12, 4) == 0);
		CHECK(memcmp(pkt->dst.bytes, data + 16, 4) == 0);
		/* Keys hash and compare as 16 bytes: IPv4 padding must be zero. */
		for (int i = 4; i < 16; i++)
			CHECK(pkt->src.bytes[i] == 0 && pkt->dst.bytes[i] == 0);
	} else {
		CHECK(pkt->family == HS_FAMILY_IPV6);
		CHECK(pkt->ip_header_len >= 40);
		CHECK(pkt->wire_len == 40u + be16(data + 4) || (be16(data + 4) == 0 && avail - 40 > 65535));
		CHECK(memcmp(pkt->src.bytes, data + 8, 16) == 0);
		CHECK(memcmp(pkt->dst.bytes, data + 24, 16) == 0);
	}

	const uint8_t *tcp = data + pkt->ip_header_len;
	CHECK((size_t)(tcp[12] >> 4) * 4 == pkt->tcp_header_len);
	CHECK(pkt->sport == be16(tcp) && pkt->dport == be16(tcp + 2));
	CHECK(pkt->seq == be32(tcp + 4) && pkt->ack == be32(tcp + 8));
	CHECK(pkt->flags == tcp[13] && pkt->window == be16(tcp + 14));
	/* Options are only reported when the header has room for them. */
	if (pkt->tcp_header_len == 20)
		CHECK(pkt->mss == 0 && pkt->wscale == HS_WSCALE_NONE && !pkt->sack_permitted &&
		      !pkt->has_timestamps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_packet pkt, again;
	size_t wire_len = pick_wire_len(data, size);
	enum hs_parse_result r = hs_packet_parse(data, size, wire_len, &pkt);

	CHECK((unsigned)r < HS_PARSE_RESULT_COUNT);
	CHECK(strcmp(hs_parse_result_name(r), "unknown") != 0);
	if (size == 0)
		CHECK(r == HS_PARSE_EMPTY);
	if (r == HS_PARSE_OK)
		check_ok(data, size, wire_len, &pkt);
	if (size > 0 && wire_len && wire_len < size)
		CHECK(r != HS_PARSE_OK);

	/*
	 * The parser is pure: the same bytes at an odd address give the same
	 * answer, and nothing of an earlier result leaks into the next one.
	 */
	uint8_t *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy + 1, data, size);
	memset(&again, 0xa5, sizeof(again));
	enum hs_parse_result r2 = hs_packet_parse(copy + 1, size, wire_len, &again);
	CHECK(r2 == r);
	if (r == HS_PARSE_OK)
		CHECK(memcmp(&pkt, &again, sizeof(pkt)) == 0);
	free(copy);
	return 0;
}
