/*
 * Unit tests for the packet parser (daemon/core/packet.c).  Packets are built
 * byte by byte with the small helpers below so that every field the parser
 * reports can be checked against the exact value that was written.  Whenever
 * a test hands the parser a prefix of a packet, the prefix is copied into a
 * heap block of exactly that size, so that AddressSanitizer catches any read
 * past caplen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_packet.h"

/* ---- packet builder ---------------------------------------------------- */

struct pkt {
	uint8_t b[4096];
	size_t len;
};

static void put8(struct pkt *p, uint8_t v)
{
	assert_true(p->len < sizeof(p->b));
	p->b[p->len++] = v;
}

static void put16(struct pkt *p, uint16_t v)
{
	put8(p, (uint8_t)(v >> 8));
	put8(p, (uint8_t)v);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}

static void putn(struct pkt *p, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(p, v[i]);
}

static void set16(struct pkt *p, size_t off, uint16_t v)
{
	p->b[off] = (uint8_t)(v >> 8);
	p->b[off + 1] = (uint8_t)v;
}

static const uint8_t V4_SRC[4] = { 192, 0, 2, 1 };
static const uint8_t V4_DST[4] = { 198, 51, 100, 2 };
static const uint8_t V6_SRC[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				    0, 0, 0, 0, 0, 0, 0, 0x01 };
static const uint8_t V6_DST[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
				    0, 0, 0, 0, 0xfe, 0xdc, 0, 0x02 };

#define SPORT 0x1234
#define DPORT 443
#define SEQ 0x01020304u
#define ACK 0xa0b0c0d0u
#define WINDOW 0xfedc

/*
 * An IPv4 header with ihl 32-bit words (options filled with NOPs) and the
 * given protocol and fragment field.  The total length is left zero; call
 * ipv4_finish once the rest of the packet is written.
 */
static void ipv4_begin(struct pkt *p, uint8_t ihl, uint8_t proto, uint16_t frag)
{
	p->len = 0;
	put8(p, (uint8_t)(0x40 | (ihl & 0x0f)));
	put8(p, 0);             /* DSCP/ECN */
	put16(p, 0);            /* total length, filled in later */
	put16(p, 0xbeef);       /* identification */
	put16(p, frag);
	put8(p, 64);            /* TTL */
	put8(p, proto);
	put16(p, 0);            /* checksum: not checked by the parser */
	putn(p, V4_SRC, 4);
	putn(p, V4_DST, 4);
	for (unsigned i = 20; i < (unsigned)ihl * 4; i++)
		put8(p, 1);     /* IP option NOP */
}

static void ipv4_finish(struct pkt *p)
{
	set16(p, 2, (uint16_t)p->len);
}

/* The fixed IPv6 header; ipv6_finish fills in the payload length. */
static void ipv6_begin(struct pkt *p, uint8_t next)
{
	p->len = 0;
	put32(p, 0x60000000u);
	put16(p, 0);            /* payload length, filled in later */
	put8(p, next);
	put8(p, 64);            /* hop limit */
	putn(p, V6_SRC, 16);
	putn(p, V6_DST, 16);
}

static void ipv6_finish(struct pkt *p)
{
	set16(p, 4, (uint16_t)(p->len - 40));
}

/* Hop-by-hop, destination options or routing: (hdr_len + 1) * 8 bytes. */
static void ipv6_ext(struct pkt *p, uint8_t next, uint8_t hdr_len)
{
	size_t total = ((size_t)hdr_len + 1) * 8;

	put8(p, next);
	put8(p, hdr_len);
	/* A PadN option covering the rest, valid for options headers. */
	put8(p, 1);
	put8(p, (uint8_t)(total - 4));
	for (size_t i = 4; i < total; i++)
		put8(p, 0);
}

static void ipv6_frag(struct pkt *p, uint8_t next, uint16_t offset, int more)
{
	put8(p, next);
	put8(p, 0);
	put16(p, (uint16_t)((offset << 3) | (more ? 1 : 0)));
	put32(p, 0x11223344u);
}

/* Authentication header: payload length field in 32-bit words minus 2. */
static void ipv6_ah(struct pkt *p, uint8_t next, uint8_t len_field)
{
	size_t total = ((size_t)len_field + 2) * 4;

	put8(p, next);
	put8(p, len_field);
	put16(p, 0);
	put32(p, 0x1000);       /* SPI */
	for (size_t i = 8; i < total; i++)
		put8(p, 0x5a);
}

/*
 * A TCP header with the given flags and options (padded with EOL to a
 * multiple of four), followed by payload bytes.
 */
static void tcp_put(struct pkt *p, uint8_t flags, const uint8_t *opts,
		    size_t optlen, size_t payload)
{
	size_t padded = (optlen + 3) & ~(size_t)3;

	put16(p, SPORT);
	put16(p, DPORT);
	put32(p, SEQ);
	put32(p, ACK);
	put8(p, (uint8_t)(((20 + padded) / 4) << 4));
	put8(p, flags);
	put16(p, WINDOW);
	put16(p, 0);            /* checksum */
	put16(p, 0);            /* urgent pointer */
	putn(p, opts, optlen);
	for (size_t i = optlen; i < padded; i++)
		put8(p, 0);
	for (size_t i = 0; i < payload; i++)
		put8(p, (uint8_t)(0xa0 + i));
}

/* The options of a typical Linux SYN: MSS, SACK-permitted, timestamps, wscale. */
static const uint8_t SYN_OPTS[] = {
	2, 4, 0x05, 0xb4,                       /* MSS 1460 */
	4, 2,                                   /* SACK permitted */
	8, 10, 0x11, 0x22, 0x33, 0x44,          /* TSval */
	0x55, 0x66, 0x77, 0x88,                 /* TSecr */
	1,                                      /* NOP */
	3, 3, 7,                                /* window scale 7 */
};

/* Timestamps alone, NOP-aligned as Linux sends them on established flows. */
static const uint8_t TS_OPTS[] = {
	1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
};

static void build_v4_syn(struct pkt *p, size_t payload)
{
	ipv4_begin(p, 5, 6, 0x4000);    /* DF set: not a fragment */
	tcp_put(p, HS_TCP_SYN, SYN_OPTS, sizeof(SYN_OPTS), payload);
	ipv4_finish(p);
}

static void build_v4_opts(struct pkt *p, uint8_t flags, const uint8_t *opts,
			  size_t optlen)
{
	ipv4_begin(p, 5, 6, 0);
	tcp_put(p, flags, opts, optlen, 0);
	ipv4_finish(p);
}

/*
 * Parses the first caplen bytes of p from a heap block of exactly that size,
 * so that any over-read is an ASan error rather than a silent success.
 */
static enum hs_parse_result parse_prefix(const struct pkt *p, size_t caplen,
					 size_t wire_len, struct hs_packet *out)
{
	uint8_t *copy = malloc(caplen ? caplen : 1);
	enum hs_parse_result r;

	assert_non_null(copy);
	memcpy(copy, p->b, caplen);
	r = hs_packet_parse(copy, caplen, wire_len, out);
	free(copy);
	return r;
}

static enum hs_parse_result parse(const struct pkt *p, struct hs_packet *out)
{
	return parse_prefix(p, p->len, 0, out);
}

static void assert_v4_addrs(const struct hs_packet *pk)
{
	static const uint8_t zero[12];

	assert_int_equal(pk->family, HS_FAMILY_IPV4);
	assert_memory_equal(pk->src.bytes, V4_SRC, 4);
	assert_memory_equal(pk->dst.bytes, V4_DST, 4);
	assert_memory_equal(pk->src.bytes + 4, zero, 12);
	assert_memory_equal(pk->dst.bytes + 4, zero, 12);
}

static void assert_v6_addrs(const struct hs_packet *pk)
{
	assert_int_equal(pk->family, HS_FAMILY_IPV6);
	assert_memory_equal(pk->src.bytes, V6_SRC, 16);
	assert_memory_equal(pk->dst.bytes, V6_DST, 16);
}

static void assert_tcp_fixed(const struct hs_packet *pk)
{
	assert_int_equal(pk->sport, SPORT);
	assert_int_equal(pk->dport, DPORT);
	assert_int_equal(pk->seq, SEQ);
	assert_int_equal(pk->ack, ACK);
	assert_int_equal(pk->window, WINDOW);
}

static void assert_no_options(const struct hs_packet *pk)
{
	assert_int_equal(pk->wscale, HS_WSCALE_NONE);
	assert_int_equal(pk->mss, 0);
	assert_false(pk->sack_permitted);
	assert_false(pk->has_timestamps);
	assert_int_equal(pk->tsval, 0);
	assert_int_equal(pk->tsecr, 0);
}

/* Checks that nothing past the IP layer leaked into a non-OK result. */
static void assert_tcp_zero(const struct hs_packet *pk)
{
	assert_int_equal(pk->sport, 0);
	assert_int_equal(pk->dport, 0);
	assert_int_equal(pk->seq, 0);
	assert_int_equal(pk->ack, 0);
	assert_int_equal(pk->flags, 0);
	assert_int_equal(pk->window, 0);
	assert_int_equal(pk->tcp_header_len, 0);
	assert_int_equal(pk->payload_len, 0);
	assert_no_options(pk);
}

/* ---- IPv4 ---------------------------------------------------------------- */

static void test_v4_syn_all_options(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	build_v4_syn(&p, 0);
	assert_int_equal(p.len, 60);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_v4_addrs(&pk);
	assert_tcp_fixed(&pk);
	assert_int_equal(pk.flags, HS_TCP_SYN);
	assert_int_equal(pk.ip_header_len, 20);
	assert_int_equal(pk.tcp_header_len, 40);
	assert_int_equal(pk.mss, 1460);
	assert_true(pk.sack_permitted);
	assert_true(pk.has_timestamps);
	assert_int_equal(pk.tsval, 0x11223344u);
	assert_int_equal(pk.tsecr, 0x55667788u);
	assert_int_equal(pk.wscale, 7);
	assert_int_equal(pk.payload_len, 0);
	assert_int_equal(pk.wire_len, 60);
}

static void test_v4_no_options_with_payload(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv4_begin(&p, 5, 6, 0);
	tcp_put(&p, HS_TCP_ACK | HS_TCP_PSH, NULL, 0, 100);
	ipv4_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_v4_addrs(&pk);
	assert_tcp_fixed(&pk);
	assert_int_equal(pk.flags, HS_TCP_ACK | HS_TCP_PSH);
	assert_int_equal(pk.ip_header_len, 20);
	assert_int_equal(pk.tcp_header_len, 20);
	assert_int_equal(pk.payload_len, 100);
	assert_int_equal(pk.wire_len, 140);
	assert_no_options(&pk);
}

static void test_v4_ip_options_skipped(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (uint8_t ihl = 6; ihl <= 15; ihl++) {
		ipv4_begin(&p, ihl, 6, 0);
		tcp_put(&p, HS_TCP_ACK, NULL, 0, 7);
		ipv4_finish(&p);
		assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
		assert_v4_addrs(&pk);
		assert_tcp_fixed(&pk);
		assert_int_equal(pk.ip_header_len, ihl * 4);
		assert_int_equal(pk.tcp_header_len, 20);
		assert_int_equal(pk.payload_len, 7);
		assert_int_equal(pk.wire_len, ihl * 4 + 27);
	}
}

static void test_v4_all_flags(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (unsigned f = 0; f < 256; f++) {
		build_v4_opts(&p, (uint8_t)f, NULL, 0);
		assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
		assert_int_equal(pk.flags, f);
	}
}

/* Ethernet pads short frames: bytes after the IP total length are not data. */
static void test_v4_trailing_padding(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv4_begin(&p, 5, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 2);
	ipv4_finish(&p);
	for (int i = 0; i < 4; i++)
		put8(&p, 0);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_int_equal(pk.payload_len, 2);
	assert_int_equal(pk.wire_len, 42);
}

static void test_v4_not_tcp(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv4_begin(&p, 5, 17, 0);
	put16(&p, 53);
	put16(&p, 53);
	put16(&p, 8);
	put16(&p, 0);
	ipv4_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_NOT_TCP);
	assert_v4_addrs(&pk);
	assert_int_equal(pk.wire_len, 28);
	assert_tcp_zero(&pk);
}

static void test_v4_fragments(void **state)
{
	static const struct {
		uint16_t frag;
		enum hs_parse_result want;
	} cases[] = {
		{ 0x2000, HS_PARSE_FRAGMENT },  /* first fragment: MF, offset 0 */
		{ 0x2000 | 185, HS_PARSE_FRAGMENT }, /* middle fragment */
		{ 185, HS_PARSE_FRAGMENT },     /* last fragment: offset only */
		{ 0x1fff, HS_PARSE_FRAGMENT },  /* largest offset */
		{ 0x4000, HS_PARSE_OK },        /* DF alone */
		{ 0x8000, HS_PARSE_OK },        /* reserved bit alone */
		{ 0, HS_PARSE_OK },
	};
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ipv4_begin(&p, 5, 6, cases[i].frag);
		tcp_put(&p, HS_TCP_ACK, NULL, 0, 16);
		ipv4_finish(&p);
		assert_int_equal(parse(&p, &pk), cases[i].want);
		assert_v4_addrs(&pk);
		assert_int_equal(pk.wire_len, 56);
		if (cases[i].want == HS_PARSE_FRAGMENT)
			assert_tcp_zero(&pk);
		else
			assert_int_equal(pk.sport, SPORT);
	}
	/* A fragment of another protocol is still a fragment. */
	ipv4_begin(&p, 5, 17, 0x2000);
	put32(&p, 0);
	ipv4_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_FRAGMENT);
}

/* ---- TCP options ------------------------------------------------------------ */

static enum hs_parse_result parse_opts(const uint8_t *opts, size_t len,
				       struct hs_packet *pk)
{
	struct pkt p;

	build_v4_opts(&p, HS_TCP_SYN, opts, len);
	return parse(&p, pk);
}

static void test_opt_each_alone(void **state)
{
	static const uint8_t mss[] = { 2, 4, 0x23, 0x28 };
	static const uint8_t ws[] = { 3, 3, 0 };
	static const uint8_t sack[] = { 4, 2 };
	static const uint8_t ts[] = { 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1 };
	struct hs_packet pk;

	(void)state;
	assert_int_equal(parse_opts(mss, sizeof(mss), &pk), HS_PARSE_OK);
	assert_int_equal(pk.mss, 9000);
	assert_int_equal(pk.wscale, HS_WSCALE_NONE);
	assert_false(pk.sack_permitted);
	assert_false(pk.has_timestamps);
	assert_int_equal(pk.tcp_header_len, 24);

	assert_int_equal(parse_opts(ws, sizeof(ws), &pk), HS_PARSE_OK);
	assert_int_equal(pk.wscale, 0);
	assert_int_equal(pk.mss, 0);

	assert_int_equal(parse_opts(sack, sizeof(sack), &pk), HS_PARSE_OK);
	assert_true(pk.sack_permitted);
	assert_int_equal(pk.wscale, HS_WSCALE_NONE);

	assert_int_equal(parse_opts(ts, sizeof(ts), &pk), HS_PARSE_OK);
	assert_true(pk.has_timestamps);
	assert_int_equal(pk.tsval, 0xdeadbeefu);
	assert_int_equal(pk.tsecr, 1);
	assert_int_equal(pk.mss, 0);
	assert_int_equal(pk.tcp_header_len, 32);
}

static void test_opt_wscale_clamped(void **state)
{
	static const struct {
		uint8_t in, want;
	} cases[] = { { 0, 0 }, { 1, 1 }, { 13, 13 }, { 14, 14 },
		      { 15, 14 }, { 100, 14 }, { 255, 14 } };
	struct hs_packet pk;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t opt[3] = { 3, 3, cases[i].in };

		assert_int_equal(parse_opts(opt, sizeof(opt), &pk), HS_PARSE_OK);
		assert_int_equal(pk.wscale, cases[i].want);
	}
}

static void test_opt_eol_stops(void **state)
{
	/* Anything after EOL, even garbage, is padding. */
	static const uint8_t opts[] = { 2, 4, 0x05, 0xb4, 0, 3, 3, 5, 8, 0, 0, 0 };
	struct hs_packet pk;

	(void)state;
	assert_int_equal(parse_opts(opts, sizeof(opts), &pk), HS_PARSE_OK);
	assert_int_equal(pk.mss, 1460);
	assert_int_equal(pk.wscale, HS_WSCALE_NONE);
	assert_false(pk.has_timestamps);
}

static void test_opt_nops_and_unknown_skipped(void **state)
{
	static const uint8_t opts[] = {
		1, 1, 1,
		30, 6, 0xff, 0xff, 0xff, 0xff,  /* MPTCP-like, skipped */
		254, 2,                         /* experimental, empty */
		2, 4, 0x02, 0x18,               /* MSS 536 */
		1,
		3, 3, 2,
	};
	struct hs_packet pk;

	(void)state;
	assert_int_equal(parse_opts(opts, sizeof(opts), &pk), HS_PARSE_OK);
	assert_int_equal(pk.mss, 536);
	assert_int_equal(pk.wscale, 2);
	assert_false(pk.sack_permitted);
	assert_int_equal(pk.tcp_header_len, 40);
}

/* Known kinds with a wrong length are skipped by their length, not used. */
static void test_opt_wrong_length_known_kinds(void **state)
{
	static const uint8_t opts[] = {
		2, 6, 0x05, 0xb4, 0, 0,         /* MSS of length 6 */
		3, 4, 7, 0,                     /* wscale of length 4 */
		4, 3, 0,                        /* SACK-permitted of length 3 */
		8, 8, 1, 2, 3, 4, 5, 6,         /* timestamps of length 8 */
		3, 3, 9,                        /* a well-formed wscale */
	};
	struct hs_packet pk;

	(void)state;
	assert_int_equal(parse_opts(opts, sizeof(opts), &pk), HS_PARSE_OK);
	assert_int_equal(pk.mss, 0);
	assert_false(pk.sack_permitted);
	assert_false(pk.has_timestamps);
	assert_int_equal(pk.wscale, 9);
}

static void test_opt_sack_blocks_skipped(void **state)
{
	static const uint8_t opts[] = {
		1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6,
		1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0,
	};
	struct hs_packet pk;

	(void)state;
	assert_int_equal(parse_opts(opts, sizeof(opts), &pk), HS_PARSE_OK);
	assert_true(pk.has_timestamps);
	assert_int_equal(pk.tsval, 5);
	assert_int_equal(pk.tsecr, 6);
	assert_false(pk.sack_permitted);
}

/* A maximal header: 40 bytes of options filling it exactly. */
static void test_opt_fill_40_bytes(void **state)
{
	uint8_t opts[40];
	struct hs_packet pk;

	(void)state;
	opts[0] = 2;
	opts[1] = 4;
	opts[2] = 0x01;
	opts[3] = 0x00;
	opts[4] = 253;
	opts[5] = 36;
	memset(opts + 6, 0xee, 34);
	assert_int_equal(parse_opts(opts, sizeof(opts), &pk), HS_PARSE_OK);
	assert_int_equal(pk.mss, 256);
	assert_int_equal(pk.tcp_header_len, 60);
}

static void test_opt_bad_lengths(void **state)
{
	static const uint8_t len0[] = { 30, 0, 0, 0 };
	static const uint8_t len1[] = { 30, 1, 0, 0 };
	static const uint8_t past[] = { 30, 5, 0, 0 };
	static const uint8_t past_ts[] = { 1, 1, 8, 10, 0, 0, 0, 0 };
	static const uint8_t no_len[] = { 1, 1, 1, 2 }; /* kind in the last byte */
	static const uint8_t mss_len0[] = { 2, 0, 0, 0 };
	struct hs_packet pk;

	(void)state;
	assert_int_equal(parse_opts(len0, sizeof(len0), &pk), HS_PARSE_BAD_TCP_OPTION);
	assert_int_equal(parse_opts(len1, sizeof(len1), &pk), HS_PARSE_BAD_TCP_OPTION);
	assert_int_equal(parse_opts(past, sizeof(past), &pk), HS_PARSE_BAD_TCP_OPTION);
	assert_int_equal(parse_opts(past_ts, sizeof(past_ts), &pk), HS_PARSE_BAD_TCP_OPTION);
	assert_int_equal(parse_opts(no_len, sizeof(no_len), &pk), HS_PARSE_BAD_TCP_OPTION);
	assert_int_equal(parse_opts(mss_len0, sizeof(mss_len0), &pk), HS_PARSE_BAD_TCP_OPTION);
	/* The option may not run into the payload either. */
	{
		struct pkt p;

		ipv4_begin(&p, 5, 6, 0);
		tcp_put(&p, HS_TCP_SYN, past, sizeof(past), 10);
		ipv4_finish(&p);
		assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_TCP_OPTION);
	}
}

/* ---- TCP header errors ------------------------------------------------------- */

static void test_tcp_bad_data_offset(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (uint8_t doff = 0; doff < 5; doff++) {
		build_v4_opts(&p, HS_TCP_ACK, NULL, 0);
		p.b[20 + 12] = (uint8_t)(doff << 4);
		assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_DATA_OFFSET);
	}

	/* Data offset 6 in a 20-byte segment: beyond the IP length. */
	build_v4_opts(&p, HS_TCP_ACK, NULL, 0);
	p.b[20 + 12] = 6 << 4;
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_DATA_OFFSET);

	/* Captured bytes past the IP length do not make room for options. */
	build_v4_opts(&p, HS_TCP_ACK, NULL, 0);
	p.b[20 + 12] = 15 << 4;
	for (int i = 0; i < 40; i++)
		put8(&p, 0);    /* captured bytes past the IP length */
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_DATA_OFFSET);

	/* A 28-byte segment: offset 8 overshoots it, offset 7 fills it. */
	ipv4_begin(&p, 5, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 8);
	ipv4_finish(&p);
	memset(p.b + 40, 1, 8);        /* the payload turns into NOP options */
	p.b[20 + 12] = 8 << 4;
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_DATA_OFFSET);
	p.b[20 + 12] = 7 << 4;  /* exactly the segment: no payload */
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_int_equal(pk.tcp_header_len, 28);
	assert_int_equal(pk.payload_len, 0);
}

static void test_tcp_truncated(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	build_v4_syn(&p, 50);
	/* Inside the fixed header. */
	assert_int_equal(parse_prefix(&p, 39, p.len, &pk), HS_PARSE_TRUNCATED_TCP);
	assert_v4_addrs(&pk);
	assert_int_equal(pk.sport, 0);
	/* Fixed header complete, options cut. */
	assert_int_equal(parse_prefix(&p, 40, p.len, &pk), HS_PARSE_TRUNCATED_TCP);
	assert_int_equal(parse_prefix(&p, 59, p.len, &pk), HS_PARSE_TRUNCATED_TCP);
	assert_int_equal(pk.mss, 0);
	assert_int_equal(parse_prefix(&p, 60, p.len, &pk), HS_PARSE_OK);
	assert_int_equal(pk.payload_len, 50);
}

/* ---- IP-level errors ---------------------------------------------------------- */

static void test_empty(void **state)
{
	struct hs_packet pk;
	uint8_t b[1] = { 0x45 };

	(void)state;
	memset(&pk, 0xa5, sizeof(pk));
	assert_int_equal(hs_packet_parse(b, 0, 0, &pk), HS_PARSE_EMPTY);
	assert_int_equal(pk.family, 0);
	assert_int_equal(pk.wscale, HS_WSCALE_NONE);
	assert_int_equal(hs_packet_parse(NULL, 0, 0, &pk), HS_PARSE_EMPTY);
	assert_int_equal(hs_packet_parse(NULL, 0, 1500, &pk), HS_PARSE_EMPTY);
}

static void test_bad_version(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (unsigned v = 0; v < 16; v++) {
		if (v == 4 || v == 6)
			continue;
		build_v4_syn(&p, 0);
		p.b[0] = (uint8_t)((v << 4) | 5);
		assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_VERSION);
		assert_int_equal(pk.family, 0);
		/* One byte is enough to know. */
		assert_int_equal(parse_prefix(&p, 1, 0, &pk), HS_PARSE_BAD_VERSION);
	}
}

static void test_v4_bad_ihl(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		build_v4_syn(&p, 0);
		p.b[0] = (uint8_t)(0x40 | ihl);
		assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_IHL);
		assert_int_equal(pk.family, 0);
	}
}

static void test_truncated_ip(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	build_v4_syn(&p, 0);
	assert_int_equal(parse_prefix(&p, 19, 0, &pk), HS_PARSE_TRUNCATED_IP);
	assert_int_equal(pk.family, 0);

	/* IHL 15: the header needs 60 bytes. */
	ipv4_begin(&p, 15, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv4_finish(&p);
	assert_int_equal(parse_prefix(&p, 59, p.len, &pk), HS_PARSE_TRUNCATED_IP);
	assert_int_equal(parse_prefix(&p, 60, p.len, &pk), HS_PARSE_TRUNCATED_TCP);

	ipv6_begin(&p, 6);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse_prefix(&p, 39, p.len, &pk), HS_PARSE_TRUNCATED_IP);
	assert_int_equal(pk.family, 0);
}

static void test_v4_bad_ip_length(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	/* Total length shorter than the IP header. */
	build_v4_syn(&p, 0);
	set16(&p, 2, 19);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_IP_LENGTH);
	ipv4_begin(&p, 8, 6, 0);
	tcp_put(&p, 0, NULL, 0, 0);
	ipv4_finish(&p);
	set16(&p, 2, 31);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_IP_LENGTH);

	/* Total length beyond the whole packet (wire_len 0). */
	build_v4_syn(&p, 0);
	set16(&p, 2, 61);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_IP_LENGTH);

	/* Total length beyond the stated wire length. */
	build_v4_syn(&p, 0);
	set16(&p, 2, 1500);
	assert_int_equal(parse_prefix(&p, 60, 1499, &pk), HS_PARSE_BAD_IP_LENGTH);
	assert_int_equal(parse_prefix(&p, 60, 1500, &pk), HS_PARSE_OK);

	/* A wire length shorter than the capture is the caller's contradiction. */
	build_v4_syn(&p, 0);
	assert_int_equal(parse_prefix(&p, 60, 59, &pk), HS_PARSE_BAD_IP_LENGTH);
	/* Even when the IP length would fit in both (padded capture). */
	for (int i = 0; i < 20; i++)
		put8(&p, 0);
	assert_int_equal(parse_prefix(&p, 80, 70, &pk), HS_PARSE_BAD_IP_LENGTH);
	assert_int_equal(parse_prefix(&p, 80, 80, &pk), HS_PARSE_OK);
	assert_int_equal(pk.wire_len, 60);

	/* Zero total length on a packet that fits in 64 KiB. */
	build_v4_syn(&p, 0);
	set16(&p, 2, 0);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_IP_LENGTH);
	assert_int_equal(parse_prefix(&p, 60, 65535, &pk), HS_PARSE_BAD_IP_LENGTH);
}

/* ---- length sources: truncated capture, GSO ----------------------------------- */

static void test_v4_truncated_capture_uses_ip_length(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv4_begin(&p, 5, 6, 0x4000);
	tcp_put(&p, HS_TCP_ACK, TS_OPTS, sizeof(TS_OPTS), 1400);  /* timestamps + pad */
	ipv4_finish(&p);
	assert_int_equal(p.len, 1452);
	/* NFQUEUE copied only the headers. */
	assert_int_equal(parse_prefix(&p, 52, 1452, &pk), HS_PARSE_OK);
	assert_v4_addrs(&pk);
	assert_tcp_fixed(&pk);
	assert_int_equal(pk.tcp_header_len, 32);
	assert_int_equal(pk.payload_len, 1400);
	assert_int_equal(pk.wire_len, 1452);
	assert_true(pk.has_timestamps);
	assert_int_equal(pk.tsval, 0x11223344u);
	/* A copy range of 128 bytes, mid-payload, changes nothing. */
	assert_int_equal(parse_prefix(&p, 128, 1452, &pk), HS_PARSE_OK);
	assert_int_equal(pk.payload_len, 1400);
	assert_int_equal(pk.wire_len, 1452);
}

static void test_v4_gso_zero_total_length(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv4_begin(&p, 5, 6, 0x4000);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	/* Total length stays zero: the packet is 100000 bytes long. */
	assert_int_equal(parse_prefix(&p, 40, 100000, &pk), HS_PARSE_OK);
	assert_int_equal(pk.wire_len, 100000);
	assert_int_equal(pk.payload_len, 100000 - 40);
	assert_int_equal(pk.tcp_header_len, 20);
	assert_tcp_fixed(&pk);

	/* Just above 64 KiB. */
	assert_int_equal(parse_prefix(&p, 40, 65536, &pk), HS_PARSE_OK);
	assert_int_equal(pk.payload_len, 65536 - 40);

	/* At 64 KiB - 1 the field could have held it: corrupt. */
	assert_int_equal(parse_prefix(&p, 40, 65535, &pk), HS_PARSE_BAD_IP_LENGTH);

	/* Too large for the 32-bit output on a 64-bit size_t. */
	if (sizeof(size_t) > 4) {
		size_t huge = (size_t)UINT32_MAX + 1;

		assert_int_equal(parse_prefix(&p, 40, huge, &pk), HS_PARSE_BAD_IP_LENGTH);
	}
}

/* ---- IPv6 ------------------------------------------------------------------ */

static void test_v6_plain(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv6_begin(&p, 6);
	tcp_put(&p, HS_TCP_SYN | HS_TCP_ACK, SYN_OPTS, sizeof(SYN_OPTS), 3);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_v6_addrs(&pk);
	assert_tcp_fixed(&pk);
	assert_int_equal(pk.flags, HS_TCP_SYN | HS_TCP_ACK);
	assert_int_equal(pk.ip_header_len, 40);
	assert_int_equal(pk.tcp_header_len, 40);
	assert_int_equal(pk.payload_len, 3);
	assert_int_equal(pk.wire_len, 83);
	assert_int_equal(pk.mss, 1460);
	assert_int_equal(pk.wscale, 7);
	assert_true(pk.sack_permitted);
	assert_true(pk.has_timestamps);
}

static void build_v6_chain(struct pkt *p, size_t payload)
{
	ipv6_begin(p, 0);
	ipv6_ext(p, 60, 0);             /* hop-by-hop, 8 bytes */
	ipv6_ext(p, 43, 1);             /* destination options, 16 bytes */
	ipv6_ext(p, 51, 2);             /* routing, 24 bytes (body is opaque to the parser) */
	ipv6_ah(p, 60, 4);              /* AH, (4 + 2) * 4 = 24 bytes */
	ipv6_ext(p, 6, 0);              /* destination options, 8 bytes */
	tcp_put(p, HS_TCP_ACK, TS_OPTS, sizeof(TS_OPTS), payload);
	ipv6_finish(p);
}

static void test_v6_ext_chain(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	build_v6_chain(&p, 5);
	assert_int_equal(p.len, 40 + 80 + 32 + 5);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_v6_addrs(&pk);
	assert_tcp_fixed(&pk);
	assert_int_equal(pk.ip_header_len, 120);
	assert_int_equal(pk.tcp_header_len, 32);
	assert_int_equal(pk.payload_len, 5);
	assert_int_equal(pk.wire_len, 157);
	assert_true(pk.has_timestamps);
	assert_int_equal(pk.tsecr, 0x55667788u);
}

static void test_v6_ah_length(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	/* AH with the smallest length field: 8 bytes, no ICV. */
	ipv6_begin(&p, 51);
	ipv6_ah(&p, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_int_equal(pk.ip_header_len, 48);
	assert_int_equal(pk.sport, SPORT);

	/* Length 1 gives 12 bytes: a multiple of 4, not of 8. */
	ipv6_begin(&p, 51);
	ipv6_ah(&p, 6, 1);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_int_equal(pk.ip_header_len, 52);
	assert_int_equal(pk.sport, SPORT);
	assert_int_equal(pk.seq, SEQ);
}

static void test_v6_fragment(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	/* First fragment, directly after the fixed header. */
	ipv6_begin(&p, 44);
	ipv6_frag(&p, 6, 0, 1);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 16);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_FRAGMENT);
	assert_v6_addrs(&pk);
	assert_int_equal(pk.wire_len, 84);
	assert_tcp_zero(&pk);

	/* A later fragment behind hop-by-hop options. */
	ipv6_begin(&p, 0);
	ipv6_ext(&p, 44, 0);
	ipv6_frag(&p, 6, 100, 0);
	put32(&p, 0xdeadbeefu);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_FRAGMENT);
	assert_v6_addrs(&pk);

	/* An atomic fragment (offset 0, M clear) is reported as a fragment too. */
	ipv6_begin(&p, 44);
	ipv6_frag(&p, 6, 0, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_FRAGMENT);

	/* A fragment header cut short is a bad extension header. */
	assert_int_equal(parse_prefix(&p, 47, p.len, &pk), HS_PARSE_BAD_EXT_HEADER);
}

static void test_v6_not_tcp(void **state)
{
	static const uint8_t protos[] = { 17, 58, 50, 59, 132, 255 };
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	for (size_t i = 0; i < sizeof(protos); i++) {
		ipv6_begin(&p, protos[i]);
		put32(&p, 0x00350035u);
		put32(&p, 0);
		ipv6_finish(&p);
		assert_int_equal(parse(&p, &pk), HS_PARSE_NOT_TCP);
		assert_v6_addrs(&pk);
		assert_int_equal(pk.wire_len, 48);
		assert_tcp_zero(&pk);
	}
	/* ESP behind a destination options header. */
	ipv6_begin(&p, 60);
	ipv6_ext(&p, 50, 0);
	put32(&p, 0x1000);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_NOT_TCP);
	/* No next header, with payload length zero. */
	ipv6_begin(&p, 59);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_NOT_TCP);
	assert_int_equal(pk.wire_len, 40);
}

static void build_v6_dst_chain(struct pkt *p, unsigned n)
{
	ipv6_begin(p, n ? 60 : 6);
	for (unsigned i = 0; i < n; i++)
		ipv6_ext(p, i + 1 < n ? 60 : 6, 0);
	tcp_put(p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(p);
}

static void test_v6_chain_bound(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	build_v6_dst_chain(&p, 8);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_int_equal(pk.ip_header_len, 40 + 64);
	assert_int_equal(pk.sport, SPORT);

	build_v6_dst_chain(&p, 9);
	assert_int_equal(parse(&p, &pk), HS_PARSE_EXT_CHAIN_TOO_LONG);
	assert_v6_addrs(&pk);

	build_v6_dst_chain(&p, 40);
	assert_int_equal(parse(&p, &pk), HS_PARSE_EXT_CHAIN_TOO_LONG);

	/* Headers so long that ip_header_len (a byte) could not hold them. */
	ipv6_begin(&p, 60);
	ipv6_ext(&p, 6, 26);            /* 216 bytes: TCP at 256 */
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_EXT_CHAIN_TOO_LONG);
	ipv6_begin(&p, 60);
	ipv6_ext(&p, 6, 25);            /* 208 bytes: TCP at 248 */
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_OK);
	assert_int_equal(pk.ip_header_len, 248);
}

static void test_v6_bad_ext_header(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	/* The capture ends inside a destination options header. */
	build_v6_dst_chain(&p, 2);
	assert_int_equal(parse_prefix(&p, 41, p.len, &pk), HS_PARSE_BAD_EXT_HEADER);
	assert_int_equal(parse_prefix(&p, 55, p.len, &pk), HS_PARSE_BAD_EXT_HEADER);
	assert_int_equal(parse_prefix(&p, 56, p.len, &pk), HS_PARSE_TRUNCATED_TCP);

	/* The header's length runs past the IP payload length. */
	ipv6_begin(&p, 60);
	ipv6_ext(&p, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	p.b[41] = 5;            /* claims 48 bytes */
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_EXT_HEADER);

	/* Same with captured bytes beyond the IP length: still bad. */
	ipv6_begin(&p, 60);
	ipv6_ext(&p, 6, 1);
	ipv6_finish(&p);
	set16(&p, 4, 8);        /* payload length covers half the header */
	assert_int_equal(parse_prefix(&p, p.len, 0, &pk), HS_PARSE_BAD_EXT_HEADER);

	/* Hop-by-hop options anywhere but first. */
	ipv6_begin(&p, 60);
	ipv6_ext(&p, 0, 0);
	ipv6_ext(&p, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_EXT_HEADER);

	/* An AH cut after its length byte. */
	ipv6_begin(&p, 51);
	ipv6_ah(&p, 6, 4);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	assert_int_equal(parse_prefix(&p, 50, p.len, &pk), HS_PARSE_BAD_EXT_HEADER);
	assert_int_equal(parse_prefix(&p, 63, p.len, &pk), HS_PARSE_BAD_EXT_HEADER);
	assert_int_equal(parse_prefix(&p, 64, p.len, &pk), HS_PARSE_TRUNCATED_TCP);
}

static void test_v6_bad_ip_length(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv6_begin(&p, 6);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	ipv6_finish(&p);
	set16(&p, 4, 21);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_IP_LENGTH);
	assert_int_equal(pk.family, 0);
	assert_int_equal(parse_prefix(&p, 60, 60, &pk), HS_PARSE_BAD_IP_LENGTH);
	assert_int_equal(parse_prefix(&p, 60, 61, &pk), HS_PARSE_OK);
	assert_int_equal(pk.payload_len, 1);
	assert_int_equal(parse_prefix(&p, 60, 59, &pk), HS_PARSE_BAD_IP_LENGTH);

	/* TCP behind a payload length too short for its fixed header. */
	set16(&p, 4, 19);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_DATA_OFFSET);
	set16(&p, 4, 0);
	assert_int_equal(parse(&p, &pk), HS_PARSE_BAD_DATA_OFFSET);
}

static void test_v6_jumbo(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv6_begin(&p, 0);
	ipv6_ext(&p, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 0);
	/* Payload length left zero: BIG TCP, 200000 bytes on the wire. */
	assert_int_equal(parse_prefix(&p, p.len, 200000, &pk), HS_PARSE_OK);
	assert_int_equal(pk.wire_len, 200000);
	assert_int_equal(pk.ip_header_len, 48);
	assert_int_equal(pk.payload_len, 200000 - 68);
	assert_tcp_fixed(&pk);

	/*
	 * 65535 bytes of payload would have fit the field, so a zero there
	 * means an empty payload, and the hop-by-hop header lies outside it.
	 */
	assert_int_equal(parse_prefix(&p, p.len, 40 + 65535, &pk), HS_PARSE_BAD_EXT_HEADER);
	/* One byte more is the smallest jumbo packet. */
	assert_int_equal(parse_prefix(&p, p.len, 40 + 65536, &pk), HS_PARSE_OK);
	assert_int_equal(pk.wire_len, 40 + 65536);
	assert_int_equal(pk.payload_len, 40 + 65536 - 68);
}

static void test_v6_truncated_capture_uses_ip_length(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	build_v6_chain(&p, 1000);
	assert_int_equal(parse_prefix(&p, 152, p.len, &pk), HS_PARSE_OK);
	assert_int_equal(pk.ip_header_len, 120);
	assert_int_equal(pk.payload_len, 1000);
	assert_int_equal(pk.wire_len, 1152);
}

/* ---- truncation at every length ------------------------------------------------- */

/*
 * The expected result for a capture of caplen bytes of a packet whose wire
 * length is known, given where each layer starts and ends.
 */
struct layout {
	size_t ip_end;          /* end of the IPv4 header / the IPv6 fixed header */
	size_t ext_end;         /* end of the IPv6 extension headers (= ip_end if none) */
	size_t tcp_end;         /* end of the TCP header including options */
};

static enum hs_parse_result expected_at(const struct layout *l, size_t caplen)
{
	if (caplen == 0)
		return HS_PARSE_EMPTY;
	if (caplen < l->ip_end)
		return HS_PARSE_TRUNCATED_IP;
	if (caplen < l->ext_end)
		return HS_PARSE_BAD_EXT_HEADER;
	if (caplen < l->tcp_end)
		return HS_PARSE_TRUNCATED_TCP;
	return HS_PARSE_OK;
}

/* Field by field, because struct padding is not part of the contract. */
static void assert_same_packet(const struct hs_packet *a, const struct hs_packet *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->wscale, b->wscale);
	assert_int_equal(a->sack_permitted, b->sack_permitted);
	assert_int_equal(a->has_timestamps, b->has_timestamps);
	assert_int_equal(a->ip_header_len, b->ip_header_len);
	assert_int_equal(a->tcp_header_len, b->tcp_header_len);
	assert_int_equal(a->mss, b->mss);
	assert_memory_equal(a->src.bytes, b->src.bytes, 16);
	assert_memory_equal(a->dst.bytes, b->dst.bytes, 16);
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->ack, b->ack);
	assert_int_equal(a->window, b->window);
	assert_int_equal(a->tsval, b->tsval);
	assert_int_equal(a->tsecr, b->tsecr);
	assert_int_equal(a->payload_len, b->payload_len);
	assert_int_equal(a->wire_len, b->wire_len);
}

static void check_every_length(const struct pkt *p, const struct layout *l)
{
	struct hs_packet full, pk;

	assert_int_equal(parse(p, &full), HS_PARSE_OK);
	for (size_t caplen = 0; caplen <= p->len; caplen++) {
		enum hs_parse_result want = expected_at(l, caplen);
		enum hs_parse_result got;

		/* With the real wire length, as NFQUEUE's copy range gives it. */
		got = parse_prefix(p, caplen, p->len, &pk);
		if (got != want)
			fail_msg("caplen %zu: got %s, want %s", caplen,
				 hs_parse_result_name(got), hs_parse_result_name(want));
		if (got == HS_PARSE_OK)
			assert_same_packet(&pk, &full);

		/*
		 * Without it the buffer claims to be the whole packet, so any
		 * cut the IP length notices is a length error.
		 */
		got = parse_prefix(p, caplen, 0, &pk);
		if (caplen < l->ip_end)
			assert_int_equal(got, want);
		else if (caplen < p->len)
			assert_int_equal(got, HS_PARSE_BAD_IP_LENGTH);
		else
			assert_int_equal(got, HS_PARSE_OK);
	}
}

static void test_truncate_every_length_v4(void **state)
{
	struct pkt p;
	const struct layout l = { 28, 28, 28 + 40 };

	(void)state;
	ipv4_begin(&p, 7, 6, 0x4000);
	tcp_put(&p, HS_TCP_SYN, SYN_OPTS, sizeof(SYN_OPTS), 12);
	ipv4_finish(&p);
	check_every_length(&p, &l);
}

static void test_truncate_every_length_v4_plain(void **state)
{
	struct pkt p;
	const struct layout l = { 20, 20, 40 };

	(void)state;
	ipv4_begin(&p, 5, 6, 0);
	tcp_put(&p, HS_TCP_ACK, NULL, 0, 5);
	ipv4_finish(&p);
	check_every_length(&p, &l);
}

static void test_truncate_every_length_v6(void **state)
{
	struct pkt p;
	const struct layout l = { 40, 120, 152 };

	(void)state;
	build_v6_chain(&p, 9);
	check_every_length(&p, &l);
}

/* ---- robustness -------------------------------------------------------------- */

/* Headers at an odd address: reads must not assume alignment (UBSan). */
static void test_unaligned_buffer(void **state)
{
	struct pkt p;
	struct hs_packet pk;
	static uint8_t shifted[200];

	(void)state;
	build_v6_chain(&p, 0);
	for (size_t shift = 1; shift < 8; shift++) {
		memcpy(shifted + shift, p.b, p.len);
		assert_int_equal(hs_packet_parse(shifted + shift, p.len, 0, &pk), HS_PARSE_OK);
		assert_tcp_fixed(&pk);
		assert_int_equal(pk.tsval, 0x11223344u);
	}
}

/* The output is cleared on every path, whatever it held before. */
static void test_output_cleared(void **state)
{
	struct pkt p;
	struct hs_packet pk;

	(void)state;
	ipv4_begin(&p, 5, 17, 0);
	put32(&p, 0);
	ipv4_finish(&p);
	memset(&pk, 0x5a, sizeof(pk));
	assert_int_equal(parse(&p, &pk), HS_PARSE_NOT_TCP);
	assert_v4_addrs(&pk);
	assert_int_equal(pk.ip_header_len, 20);
	assert_tcp_zero(&pk);

	memset(&pk, 0x5a, sizeof(pk));
	assert_int_equal(parse_prefix(&p, 5, 0, &pk), HS_PARSE_TRUNCATED_IP);
	assert_int_equal(pk.family, 0);
	assert_int_equal(pk.wire_len, 0);
	assert_int_equal(pk.src.bytes[0], 0);
	assert_tcp_zero(&pk);
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/*
 * Mutated valid packets and random lengths: the parser must never read out
 * of bounds, and whatever it accepts must be self-consistent.
 */
static void test_random_mutations(void **state)
{
	struct pkt base[3], p;
	struct hs_packet pk;
	uint32_t seed = 0x9e3779b9u;

	(void)state;
	build_v4_syn(&base[0], 30);
	build_v6_chain(&base[1], 30);
	ipv4_begin(&base[2], 9, 6, 0);
	tcp_put(&base[2], HS_TCP_ACK, SYN_OPTS, sizeof(SYN_OPTS), 0);
	ipv4_finish(&base[2]);

	for (int iter = 0; iter < 200000; iter++) {
		const struct pkt *b = &base[iter % 3];
		unsigned flips = 1 + xorshift(&seed) % 4;
		size_t caplen, wire;

		p = *b;
		for (unsigned i = 0; i < flips; i++)
			p.b[xorshift(&seed) % p.len] = (uint8_t)xorshift(&seed);
		caplen = xorshift(&seed) % (p.len + 1);
		wire = (xorshift(&seed) & 1) ? 0 : caplen + xorshift(&seed) % 200;
		if (parse_prefix(&p, caplen, wire, &pk) != HS_PARSE_OK)
			continue;
		assert_true(pk.family == HS_FAMILY_IPV4 || pk.family == HS_FAMILY_IPV6);
		assert_true(pk.tcp_header_len >= 20 && pk.tcp_header_len <= 60);
		assert_true((size_t)pk.ip_header_len + pk.tcp_header_len <= caplen);
		assert_int_equal((uint64_t)pk.ip_header_len + pk.tcp_header_len +
				 pk.payload_len, pk.wire_len);
		assert_true(pk.wscale == HS_WSCALE_NONE || pk.wscale <= 14);
	}
}

/* ---- result names ------------------------------------------------------------ */

static void test_result_names(void **state)
{
	static const char *const want[HS_PARSE_RESULT_COUNT] = {
		"ok", "not_tcp", "fragment", "empty", "bad_version",
		"truncated_ip", "bad_ihl", "bad_ip_length", "bad_ext_header",
		"ext_chain_too_long", "truncated_tcp", "bad_data_offset",
		"bad_tcp_option",
	};

	(void)state;
	for (int i = 0; i < HS_PARSE_RESULT_COUNT; i++)
		assert_string_equal(hs_parse_result_name((enum hs_parse_result)i), want[i]);
	assert_string_equal(hs_parse_result_name(HS_PARSE_RESULT_COUNT), "unknown");
	assert_string_equal(hs_parse_result_name((enum hs_parse_result)1000), "unknown");
	assert_string_equal(hs_parse_result_name((enum hs_parse_result)-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_syn_all_options),
		cmocka_unit_test(test_v4_no_options_with_payload),
		cmocka_unit_test(test_v4_ip_options_skipped),
		cmocka_unit_test(test_v4_all_flags),
		cmocka_unit_test(test_v4_trailing_padding),
		cmocka_unit_test(test_v4_not_tcp),
		cmocka_unit_test(test_v4_fragments),
		cmocka_unit_test(test_opt_each_alone),
		cmocka_unit_test(test_opt_wscale_clamped),
		cmocka_unit_test(test_opt_eol_stops),
		cmocka_unit_test(test_opt_nops_and_unknown_skipped),
		cmocka_unit_test(test_opt_wrong_length_known_kinds),
		cmocka_unit_test(test_opt_sack_blocks_skipped),
		cmocka_unit_test(test_opt_fill_40_bytes),
		cmocka_unit_test(test_opt_bad_lengths),
		cmocka_unit_test(test_tcp_bad_data_offset),
		cmocka_unit_test(test_tcp_truncated),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_v4_bad_ihl),
		cmocka_unit_test(test_truncated_ip),
		cmocka_unit_test(test_v4_bad_ip_length),
		cmocka_unit_test(test_v4_truncated_capture_uses_ip_length),
		cmocka_unit_test(test_v4_gso_zero_total_length),
		cmocka_unit_test(test_v6_plain),
		cmocka_unit_test(test_v6_ext_chain),
		cmocka_unit_test(test_v6_ah_length),
		cmocka_unit_test(test_v6_fragment),
		cmocka_unit_test(test_v6_not_tcp),
		cmocka_unit_test(test_v6_chain_bound),
		cmocka_unit_test(test_v6_bad_ext_header),
		cmocka_unit_test(test_v6_bad_ip_length),
		cmocka_unit_test(test_v6_jumbo),
		cmocka_unit_test(test_v6_truncated_capture_uses_ip_length),
		cmocka_unit_test(test_truncate_every_length_v4),
		cmocka_unit_test(test_truncate_every_length_v4_plain),
		cmocka_unit_test(test_truncate_every_length_v6),
		cmocka_unit_test(test_unaligned_buffer),
		cmocka_unit_test(test_output_cleared),
		cmocka_unit_test(test_random_mutations),
		cmocka_unit_test(test_result_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
