/*
 * gen_seeds: writes the seed corpora of fuzz_packet and fuzz_track.
 *
 *   gen_seeds DIR      writes DIR/packet/NAME and DIR/track/NAME
 *
 * Packet seeds are whole IP packets like those of the unit-test scenarios:
 * IPv4 and IPv6 SYN, SYN-ACK, data, FIN and RST, with TCP and IP options,
 * IPv6 extension headers, fragments, non-TCP payloads, truncated captures
 * and GSO-sized packets.  Byte 1 (TOS or traffic class, ignored by the
 * parser) tells fuzz_packet which wire length to report, as described
 * there.  Track seeds are sessions in the format of track_input.h: full
 * handshakes and teardowns, simultaneous open and close, resets, a tuple
 * reopened after TIME_WAIT, pickup, eviction, policies and reloads.
 * Starting from real conversations lets the fuzzer spend its time on
 * variations of them instead of rediscovering the handshake.
 *
 * The configuration seeds are files already in the repository; the
 * runner copies them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hs_tcp_state.h"
#include "track_input.h"

/* ---- output ---- */

static const char *out_dir;

static void write_seed(const char *sub, const char *name, const uint8_t *bytes, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void make_dir(const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", out_dir, sub);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- a byte buffer ---- */

struct buf {
	uint8_t b[4096];
	size_t len;
};

static void put8(struct buf *p, unsigned v)
{
	if (p->len >= sizeof(p->b)) {
		fprintf(stderr, "gen_seeds: a seed outgrew its buffer\n");
		exit(1);
	}
	p->b[p->len++] = (uint8_t)v;
}

static void put16(struct buf *p, unsigned v)
{
	put8(p, (v >> 8) & 0xff);
	put8(p, v & 0xff);
}

static void put32(struct buf *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void set16(struct buf *p, size_t off, unsigned v)
{
	p->b[off] = (uint8_t)(v >> 8);
	p->b[off + 1] = (uint8_t)v;
}

/* ---- packets ---- */

static const uint8_t v4_client[4] = { 10, 0, 0, 1 }, v4_server[4] = { 10, 0, 0, 2 };
static const uint8_t v6_client[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v6_server[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

/* TCP options a Linux SYN carries: MSS, SACK permitted, timestamps, NOP, window scale. */
static void syn_options(struct buf *p)
{
	put8(p, 2); put8(p, 4); put16(p, 1460);
	put8(p, 4); put8(p, 2);
	put8(p, 8); put8(p, 10); put32(p, 0x01020304); put32(p, 0);
	put8(p, 1);
	put8(p, 3); put8(p, 3); put8(p, 7);
}

struct tcp_spec {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	const uint8_t *options;     /* NULL: none; else opt_len bytes, a multiple of 4 */
	size_t opt_len;
	bool syn_options;           /* the 20 bytes of syn_options() instead */
	size_t payload;
};

static void tcp(struct buf *p, const struct tcp_spec *t)
{
	size_t opt = t->syn_options ? 20 : t->opt_len;

	put16(p, t->sport);
	put16(p, t->dport);
	put32(p, t->seq);
	put32(p, t->ack);
	put8(p, (unsigned)((20 + opt) / 4) << 4);
	put8(p, t->flags);
	put16(p, t->window);
	put16(p, 0);        /* checksum: the parser does not look */
	put16(p, 0);        /* urgent pointer */
	if (t->syn_options)
		syn_options(p);
	for (size_t i = 0; t->options && i < t->opt_len; i++)
		put8(p, t->options[i]);
	for (size_t i = 0; i < t->payload; i++)
		put8(p, (unsigned)('a' + i % 26));
}

/* IPv4 with ihl words of header (options are NOPs); tos selects fuzz_packet's wire length. */
static void ipv4(struct buf *p, unsigned ihl, unsigned tos, unsigned proto, unsigned frag)
{
	p->len = 0;
	put8(p, 0x40 | ihl);
	put8(p, tos);
	put16(p, 0);
	put16(p, 0x1234);
	put16(p, frag);
	put8(p, 64);
	put8(p, proto);
	put16(p, 0);
	for (int i = 0; i < 4; i++)
		put8(p, v4_client[i]);
	for (int i = 0; i < 4; i++)
		put8(p, v4_server[i]);
	for (unsigned i = 20; i < ihl * 4; i++)
		put8(p, 1);
}

static void ipv4_done(struct buf *p)
{
	set16(p, 2, (unsigned)p->len);
}

static void ipv6(struct buf *p, unsigned tclass_byte, unsigned next)
{
	p->len = 0;
	put8(p, 0x60);
	put8(p, tclass_byte);
	put16(p, 0);
	put16(p, 0);
	put8(p, next);
	put8(p, 64);
	for (int i = 0; i < 16; i++)
		put8(p, v6_client[i]);
	for (int i = 0; i < 16; i++)
		put8(p, v6_server[i]);
}

static void ipv6_done(struct buf *p)
{
	set16(p, 4, (unsigned)(p->len - 40));
}

/* An options-type extension header (hop-by-hop, destination, routing) of (len + 1) * 8 bytes. */
static void ipv6_ext(struct buf *p, unsigned next, unsigned len)
{
	size_t total = ((size_t)len + 1) * 8;

	put8(p, next);
	put8(p, len);
	put8(p, 1);
	put8(p, (unsigned)(total - 4));
	for (size_t i = 4; i < total; i++)
		put8(p, 0);
}

static void packet_seeds(void)
{
	static const uint8_t sack_blocks[] = { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
	static const uint8_t eol_early[] = { 0, 2, 4, 5, 0xb4, 0, 0, 0 };
	static const uint8_t bad_len[] = { 2, 9, 5, 0xb4 };
	/* MSS of 3 bytes, window scale of 2, SACK permitted of 3: skipped, not errors. */
	static const uint8_t odd_lengths[] = { 2, 3, 5, 3, 2, 4, 3, 0 };
	static const uint8_t max_opts[40] = { 3, 3, 14, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 4, 2, 2, 4, 5,
					      0xb4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
					      1, 1, 0 };
	const uint32_t isn_c = 0x01000000, isn_s = 0x20000000;
	struct tcp_spec syn = { 40000, 443, isn_c, 0, 0x02, 64240, NULL, 0, true, 0 };
	struct tcp_spec synack = { 443, 40000, isn_s, isn_c + 1, 0x12, 65160, NULL, 0, true, 0 };
	struct tcp_spec ack = { 40000, 443, isn_c + 1, isn_s + 1, 0x10, 502, NULL, 0, false, 0 };
	struct tcp_spec data = ack, fin = ack, rst = ack, rstack = synack;
	struct buf p;

	data.flags = 0x18;
	data.payload = 100;
	fin.flags = 0x11;
	rst.flags = 0x04;
	rst.ack = 0;
	rstack.flags = 0x14;
	rstack.seq = 0;
	rstack.syn_options = false;

	const struct { const char *name; const struct tcp_spec *t; } basic[] = {
		{ "syn", &syn }, { "synack", &synack }, { "ack", &ack }, { "data", &data },
		{ "fin", &fin }, { "rst", &rst }, { "rstack", &rstack },
	};
	char name[64];
	for (size_t i = 0; i < sizeof(basic) / sizeof(basic[0]); i++) {
		ipv4(&p, 5, 0, 6, 0x4000);
		tcp(&p, basic[i].t);
		ipv4_done(&p);
		snprintf(name, sizeof(name), "v4_%s", basic[i].name);
		write_seed("packet", name, p.b, p.len);

		ipv6(&p, 0, 6);
		tcp(&p, basic[i].t);
		ipv6_done(&p);
		snprintf(name, sizeof(name), "v6_%s", basic[i].name);
		write_seed("packet", name, p.b, p.len);
	}

	/* TCP options: SACK blocks, EOL before the end, a bad length, odd lengths, all 40 bytes. */
	const struct { const char *name; const uint8_t *o; size_t n; } opts[] = {
		{ "v4_opt_sack", sack_blocks, sizeof(sack_blocks) },
		{ "v4_opt_eol", eol_early, sizeof(eol_early) },
		{ "v4_opt_bad_len", bad_len, sizeof(bad_len) },
		{ "v4_opt_odd_len", odd_lengths, sizeof(odd_lengths) },
		{ "v4_opt_max", max_opts, sizeof(max_opts) },
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct tcp_spec t = ack;
		t.options = opts[i].o;
		t.opt_len = opts[i].n;
		ipv4(&p, 5, 0, 6, 0);
		tcp(&p, &t);
		ipv4_done(&p);
		write_seed("packet", opts[i].name, p.b, p.len);
	}

	/* IP options (ihl 15), fragments, UDP. */
	ipv4(&p, 15, 0, 6, 0);
	tcp(&p, &syn);
	ipv4_done(&p);
	write_seed("packet", "v4_ip_options", p.b, p.len);
	ipv4(&p, 5, 0, 6, 0x2000);
	tcp(&p, &data);
	ipv4_done(&p);
	write_seed("packet", "v4_first_fragment", p.b, p.len);
	ipv4(&p, 5, 0, 6, 0x0010);
	for (int i = 0; i < 64; i++)
		put8(&p, (unsigned)i);
	ipv4_done(&p);
	write_seed("packet", "v4_later_fragment", p.b, p.len);
	ipv4(&p, 5, 0, 17, 0);
	put32(&p, 0x00350035);
	put32(&p, 0x00080000);
	ipv4_done(&p);
	write_seed("packet", "v4_udp", p.b, p.len);

	/* A capture cut after the headers: the wire length (mode 3) is the IP length. */
	ipv4(&p, 5, 3 | (20 << 3), 6, 0);
	data.payload = 20;
	tcp(&p, &data);
	ipv4_done(&p);
	write_seed("packet", "v4_truncated_capture", p.b, 40);
	data.payload = 100;
	/* GSO: total length 0, the wire length from the queue (mode 5). */
	ipv4(&p, 5, 5 | (3 << 3), 6, 0);
	tcp(&p, &data);
	write_seed("packet", "v4_gso", p.b, p.len);

	/* IPv6 extension headers: hop-by-hop, destination options, routing, then TCP. */
	ipv6(&p, 0, 0);
	ipv6_ext(&p, 60, 0);
	ipv6_ext(&p, 43, 1);
	ipv6_ext(&p, 6, 0);
	tcp(&p, &syn);
	ipv6_done(&p);
	write_seed("packet", "v6_ext_chain", p.b, p.len);
	/* Authentication header (length in 32-bit words minus 2). */
	ipv6(&p, 0, 51);
	put8(&p, 6);
	put8(&p, 4);
	for (int i = 2; i < 24; i++)
		put8(&p, 0);
	tcp(&p, &ack);
	ipv6_done(&p);
	write_seed("packet", "v6_ah", p.b, p.len);
	/* Fragment header, atomic and not. */
	ipv6(&p, 0, 44);
	put8(&p, 6);
	put8(&p, 0);
	put16(&p, 0);
	put32(&p, 0xabcdef01);
	tcp(&p, &data);
	ipv6_done(&p);
	write_seed("packet", "v6_atomic_fragment", p.b, p.len);
	ipv6(&p, 0, 44);
	put8(&p, 6);
	put8(&p, 0);
	put16(&p, 1);
	put32(&p, 0xabcdef02);
	tcp(&p, &data);
	ipv6_done(&p);
	write_seed("packet", "v6_first_fragment", p.b, p.len);
	/* A chain longer than the parser follows. */
	ipv6(&p, 0, 60);
	for (int i = 0; i < 9; i++)
		ipv6_ext(&p, i == 8 ? 6 : 60, 0);
	tcp(&p, &ack);
	ipv6_done(&p);
	write_seed("packet", "v6_long_chain", p.b, p.len);
	/* ESP, no next header, ICMPv6. */
	ipv6(&p, 0, 50);
	put32(&p, 0x1000);
	put32(&p, 1);
	ipv6_done(&p);
	write_seed("packet", "v6_esp", p.b, p.len);
	ipv6(&p, 0, 59);
	ipv6_done(&p);
	write_seed("packet", "v6_no_next", p.b, p.len);
	ipv6(&p, 0, 58);
	put32(&p, 0x80000000);
	put32(&p, 0x00010001);
	ipv6_done(&p);
	write_seed("packet", "v6_icmp", p.b, p.len);
	/* GSO/jumbo: payload length 0, a wire length beyond 64 KiB (mode 5). */
	ipv6(&p, 5 | (2 << 3), 6);
	tcp(&p, &data);
	write_seed("packet", "v6_gso", p.b, p.len);
	/* Headers only, the rest cut by the copy range (mode 3). */
	ipv6(&p, 3 | (30 << 3), 6);
	data.payload = 30;
	tcp(&p, &data);
	ipv6_done(&p);
	write_seed("packet", "v6_truncated_capture", p.b, 60);
}

/* ---- track sessions ---- */

struct session {
	struct buf b;
};

static void begin(struct session *s, unsigned h0, unsigned h1)
{
	s->b.len = 0;
	put8(&s->b, h0);
	put8(&s->b, h1);
}

/* A packet at the tracked numbers: payload up to 255 bytes, options (TI_OPT_*), a clock step index. */
static void pkt(struct session *s, unsigned tuple, int dir, unsigned flag_index, unsigned payload,
		unsigned opts, unsigned step, bool flush_after)
{
	put8(&s->b, TI_KIND_PACKET | (flush_after ? TI_FLUSH : 0));
	put8(&s->b, (tuple & 7) | (dir ? TI_DIR : 0) | (flag_index << 4));
	put8(&s->b, payload ? (TI_NUM_SMALL << 6) : 0);
	if (payload)
		put8(&s->b, payload);
	put8(&s->b, (opts & 0x0f) | (step << 4));
	if (opts & TI_OPT_WSCALE)
		put8(&s->b, 7);
}

/* A packet whose sequence number is off by delta (-128..127) from the tracked one. */
static void pkt_seq_off(struct session *s, unsigned tuple, int dir, unsigned flag_index, int delta)
{
	put8(&s->b, TI_KIND_PACKET | TI_FLUSH);
	put8(&s->b, (tuple & 7) | (dir ? TI_DIR : 0) | (flag_index << 4));
	put8(&s->b, TI_NUM_SMALL);
	put8(&s->b, (unsigned)(delta & 0xff));
	put8(&s->b, 0);
}

/* A packet whose acknowledgement is off by delta (-128..127) from the tracked one. */
static void pkt_ack_off(struct session *s, unsigned tuple, int dir, unsigned flag_index, int delta)
{
	put8(&s->b, TI_KIND_PACKET | TI_FLUSH);
	put8(&s->b, (tuple & 7) | (dir ? TI_DIR : 0) | (flag_index << 4));
	put8(&s->b, TI_NUM_SMALL << 2);
	put8(&s->b, (unsigned)(delta & 0xff));
	put8(&s->b, 0);
}

/* A clock step of (m + 1) * ti_clock_unit_ms[e], then expiry. */
static void clock_step(struct session *s, unsigned e, unsigned m)
{
	put8(&s->b, TI_KIND_CLOCK);
	put8(&s->b, (e << 4) | (m & 15));
}

static void admin(struct session *s, unsigned what, unsigned arg)
{
	put8(&s->b, TI_KIND_ADMIN | (what << 3));
	put8(&s->b, arg);
}

static void kill_slot(struct session *s, unsigned slot)
{
	put8(&s->b, TI_KIND_DELETE | (slot << 3));
}

/* SYN, SYN-ACK, ACK: the client is endpoint 0 of the tuple. */
static void handshake(struct session *s, unsigned t, unsigned opts)
{
	pkt(s, t, 0, TI_F_SYN, 0, opts, 4, true);
	pkt(s, t, 1, TI_F_SYNACK, 0, opts, 5, true);
	pkt(s, t, 0, TI_F_ACK, 0, 0, 5, true);
}

static void exchange(struct session *s, unsigned t)
{
	pkt(s, t, 0, TI_F_PSHACK, 100, 0, 4, true);
	pkt(s, t, 1, TI_F_ACK, 0, 0, 5, true);
	pkt(s, t, 1, TI_F_PSHACK, 200, 0, 4, true);
	pkt(s, t, 0, TI_F_ACK, 0, 0, 5, true);
}

/* The side `first` closes first: FIN, ACK, FIN, ACK. */
static void teardown(struct session *s, unsigned t, int first)
{
	pkt(s, t, first, TI_F_FINACK, 0, 0, 6, true);
	pkt(s, t, !first, TI_F_ACK, 0, 0, 5, true);
	pkt(s, t, !first, TI_F_FINACK, 0, 0, 6, true);
	pkt(s, t, first, TI_F_ACK, 0, 0, 5, true);
}

static void save(struct session *s, const char *name)
{
	write_seed("track", name, s->b.b, s->b.len);
}

/*
 * A session the fuzzer found, kept as it came (fuzz_track's trace tells
 * it): three ESTABLISHED flows under policy set 1 (an idle reset and an
 * age drop), timeouts shortened by a reload, then a clock step of 40
 * minutes.  The expiry pass resets two flows, which fills the small
 * action list, so the third flow's reset waits for room: a pending policy
 * holds it past its timeout, though its turn came before the timeout
 * did.  The harness once took that for a flow the wheel forgot.
 */
static void held_past_pause_seed(void)
{
	static const uint8_t session[] = {
	0x00, 0x07, 0x08, 0x04, 0x00, 0x4f, 0x07, 0x08, 0x1c, 0x00, 0x5f, 0x07,
	0x08, 0x24, 0x00, 0x50, 0x08, 0x34, 0x40, 0x64, 0x40, 0x08, 0x2c, 0x7e,
	0x00, 0x00, 0x5f, 0x07, 0x08, 0x24, 0x00, 0x50, 0x08, 0x34, 0x40, 0x64,
	0x40, 0x08, 0x2c, 0x7e, 0x00, 0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0x40,
	0x00, 0x19, 0x83, 0x64, 0x40, 0x08, 0x28, 0x00, 0x57, 0x63, 0x60, 0x77,
	0x2f, 0x61, 0x67, 0xe5, 0x08, 0x34, 0x40, 0xc8, 0x40, 0x08, 0x20, 0x00,
	0x50, 0x08, 0x36, 0x48, 0x00, 0x40, 0x05, 0x32, 0x65, 0x73, 0x74, 0x2d,
	0x61, 0x67, 0x65, 0x08, 0x45, 0x00, 0x08, 0x4b,
	};

	write_seed("track", "held_past_pause", session, sizeof(session));
}

static void track_seeds(void)
{
	struct session s;
	const unsigned v4 = 0, v4b = 1, v4c = 2, self = 3, v6 = 4, v6b = 5;

	/* Handshake, data, client closes, TIME_WAIT runs out. */
	begin(&s, 0, 7);
	handshake(&s, v4, TI_OPT_MSS | TI_OPT_SACK);
	exchange(&s, v4);
	teardown(&s, v4, 0);
	clock_step(&s, 4, 11);
	save(&s, "v4_full");

	/* IPv6 with window scaling, SACK, timestamps; the server closes first. */
	begin(&s, 0, 7);
	handshake(&s, v6, TI_OPT_WSCALE | TI_OPT_SACK | TI_OPT_TS | TI_OPT_MSS);
	exchange(&s, v6);
	teardown(&s, v6, 1);
	clock_step(&s, 4, 11);
	save(&s, "v6_full_server_closes");

	/* Simultaneous open: both send SYNs, both send SYN-ACKs. */
	begin(&s, 0, 7);
	pkt(&s, v4, 0, TI_F_SYN, 0, 0, 4, true);
	pkt(&s, v4, 1, TI_F_SYN, 0, 0, 4, true);
	pkt(&s, v4, 0, TI_F_SYNACK, 0, 0, 4, true);
	pkt(&s, v4, 1, TI_F_SYNACK, 0, 0, 4, true);
	exchange(&s, v4);
	save(&s, "simultaneous_open");

	/* Simultaneous close: the FINs cross, neither acknowledging the other. */
	begin(&s, 0, 7);
	handshake(&s, v6b, 0);
	pkt(&s, v6b, 0, TI_F_FINACK, 0, 0, 4, true);
	pkt_ack_off(&s, v6b, 1, TI_F_FINACK, -1);
	pkt(&s, v6b, 0, TI_F_ACK, 0, 0, 4, true);
	pkt(&s, v6b, 1, TI_F_ACK, 0, 0, 0, true);
	clock_step(&s, 3, 15);
	save(&s, "simultaneous_close");

	/* RSTs: refused SYN, reset mid-connection, and one out of window. */
	begin(&s, 0, 7);
	pkt(&s, v4, 0, TI_F_SYN, 0, 0, 4, true);
	pkt(&s, v4, 1, TI_F_RSTACK, 0, 0, 5, true);
	handshake(&s, v4b, 0);
	pkt_seq_off(&s, v4b, 1, TI_F_RST, 100);
	pkt(&s, v4b, 1, TI_F_RST, 0, 0, 5, true);
	pkt(&s, v4b, 0, TI_F_ACK, 0, 0, 5, true);
	clock_step(&s, 3, 11);
	save(&s, "resets");

	/* A tuple reopened by a new SYN while in TIME_WAIT. */
	begin(&s, 0, 7);
	handshake(&s, v4c, 0);
	teardown(&s, v4c, 0);
	pkt(&s, v4c, 0, TI_F_SYN, 0, 0, 10, true);
	pkt(&s, v4c, 1, TI_F_SYNACK, 0, 0, 5, true);
	save(&s, "restart");

	/* Pickup: mid-stream packets from both sides, then a close. */
	begin(&s, TI_PICKUP, 7);
	pkt(&s, v4, 1, TI_F_PSHACK, 50, 0, 4, true);
	pkt(&s, v4, 0, TI_F_ACK, 0, 0, 5, true);
	pkt(&s, v6, 0, TI_F_FINACK, 0, 0, 5, true);
	pkt(&s, v6, 1, TI_F_FINACK, 0, 0, 5, true);
	teardown(&s, v4, 0);
	save(&s, "pickup");

	/* Eviction: two flows of room, four SYNs, short timeouts. */
	begin(&s, 1u << TI_PROFILE_SHIFT, 1);
	for (unsigned t = 0; t < 6; t++)
		pkt(&s, t, 0, TI_F_SYN, 0, 0, 6, true);
	handshake(&s, v4, 0);
	clock_step(&s, 3, 4);
	save(&s, "eviction");

	/* A socket connected to itself. */
	begin(&s, 0, 7);
	pkt(&s, self, 0, TI_F_SYN, 0, 0, 4, true);
	pkt(&s, self, 0, TI_F_SYN, 0, 0, 4, true);
	pkt(&s, self, 0, TI_F_SYNACK, 0, 0, 4, true);
	pkt(&s, self, 0, TI_F_ACK, 0, 0, 4, true);
	save(&s, "self_connect");

	/* Established for a week: the second level of the wheel cascades. */
	begin(&s, 0, 7 | (3u << TI_EPOCH_SHIFT));
	handshake(&s, v6, 0);
	handshake(&s, v4, 0);
	clock_step(&s, 11, 6);
	pkt(&s, v4, 0, TI_F_ACK, 0, 0, 15, true);
	clock_step(&s, 11, 2);
	save(&s, "long_lived");

	/* Every policy set: SYN floods past the limit, verify's retransmission, timed policies. */
	for (unsigned set = 0; set < 8; set++) {
		char name[32];
		for (int batch = 0; batch < 2; batch++) {
			begin(&s, TI_POLICIES | (set << TI_SET_SHIFT) | (1u << TI_PROFILE_SHIFT),
			      7 | (batch ? TI_BATCH : 0));
			for (unsigned t = 0; t < 3; t++) {
				pkt(&s, t, 0, TI_F_SYN, 0, 0, 4, !batch);
				pkt(&s, t, 1, TI_F_SYNACK, 0, 0, 0, !batch);
			}
			pkt(&s, v4b, 0, TI_F_SYN, 0, 0, 11, true);
			handshake(&s, v4, 0);
			handshake(&s, v6, 0);
			exchange(&s, v4);
			pkt(&s, v4, 1, TI_F_FINACK, 0, 0, 4, true);
			clock_step(&s, 3, 2);
			pkt(&s, v4, 0, TI_F_FINACK, 0, 0, 4, true);
			clock_step(&s, 4, 5);
			clock_step(&s, 3, 9);
			snprintf(name, sizeof(name), "policies_%u%s", set, batch ? "_batch" : "");
			save(&s, name);
		}
	}

	/* A burst holding a whole conversation, tracked as one batch. */
	begin(&s, TI_POLICIES, 7 | TI_BATCH);
	pkt(&s, v4, 0, TI_F_SYN, 0, 0, 4, false);
	pkt(&s, v4, 1, TI_F_SYNACK, 0, 0, 0, false);
	pkt(&s, v4, 0, TI_F_ACK, 0, 0, 0, false);
	pkt(&s, v4, 0, TI_F_PSHACK, 10, 0, 0, false);
	pkt(&s, v4, 1, TI_F_FINACK, 0, 0, 0, false);
	pkt(&s, v4, 0, TI_F_FINACK, 0, 0, 0, true);
	save(&s, "batch_conversation");

	/* Reloads, queries and kills between packets. */
	begin(&s, TI_POLICIES | TI_PICKUP, 3);
	handshake(&s, v4, 0);
	handshake(&s, v6, 0);
	admin(&s, TI_ADMIN_QUERY, 0x34);
	admin(&s, TI_ADMIN_RELOAD, TI_PROFILE_TINY | 4);
	clock_step(&s, 1, 5);
	admin(&s, TI_ADMIN_POLICIES, 3);
	handshake(&s, v4b, 0);
	kill_slot(&s, 0);
	admin(&s, TI_ADMIN_RELOAD, TI_PROFILE_DEFAULT);
	admin(&s, TI_ADMIN_EXPIRE, 0);
	save(&s, "admin");

	/* A raw SYN through the parser, joined to tuple 0, then the rest of the handshake. */
	begin(&s, 0, 7);
	{
		struct buf p;
		struct tcp_spec syn = { 40000, 443, 0x01000000, 0, 0x02, 64240, NULL, 0, true, 0 };
		ipv4(&p, 5, 0, 6, 0);
		tcp(&p, &syn);
		ipv4_done(&p);
		put8(&s.b, TI_KIND_RAW);
		put8(&s.b, (unsigned)p.len);
		for (size_t i = 0; i < p.len; i++)
			put8(&s.b, p.b[i]);
		put8(&s.b, 1 | (0 << 1));
	}
	pkt(&s, v4, 1, TI_F_SYNACK, 0, 0, 5, true);
	pkt(&s, v4, 0, TI_F_ACK, 0, 0, 5, true);
	save(&s, "raw_syn");

	/* Custom timeouts at the wheel's edges. */
	begin(&s, 3u << TI_PROFILE_SHIFT, 7);
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
		put8(&s.b, (unsigned)(9 + i % 7));
	handshake(&s, v4, 0);
	clock_step(&s, 6, 0);
	clock_step(&s, 6, 0);
	save(&s, "custom_timeouts");

	held_past_pause_seed();
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	make_dir("packet");
	make_dir("track");
	packet_seeds();
	track_seeds();
	return 0;
}
