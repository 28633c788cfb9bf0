/*
 * Unit tests for RST construction (daemon/core/rst_build.c) and sending
 * (daemon/rst_send.c: counters, the retry queue).  Flows are produced the
 * way the daemon produces them, by driving well-formed connections through
 * hs_table_track (tests/unit/scenario.c), so the sequence numbers the RSTs
 * must carry are the ones each endpoint really sent (struct sc_conn keeps
 * them).  Every RST is parsed back with hs_packet_parse, its header bytes
 * are checked one by one, both checksums are verified here with a separate
 * implementation, and it is finally fed back to the tracker, which must
 * accept it and close the flow just as the receiving kernel would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow.h"
#include "hs_packet.h"
#include "hs_rst_build.h"
#include "hs_rst_send.h"
#include "hs_table.h"
#include "scenario.h"

#define T0 1000u

static enum hs_side other(enum hs_side side)
{
	return side == HS_CLIENT ? HS_SERVER : HS_CLIENT;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/*
 * RFC 1071 verification, written independently of rst_build.c: sum the 16-bit
 * words of everything the checksum covers, checksum field included, and
 * fold; the result is 0xffff exactly when the checksum is right.
 */
static uint16_t ones_sum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < len; i += 2)
		sum += (uint64_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Builds the pseudo-header followed by the TCP segment, and checks the sum. */
static void assert_tcp_checksum(const uint8_t *buf, size_t len, uint8_t family)
{
	uint8_t whole[128];
	size_t ip = family == HS_FAMILY_IPV4 ? 20 : 40, n = 0, tcp_len = len - ip;

	memset(whole, 0, sizeof(whole));
	if (family == HS_FAMILY_IPV4) {
		memcpy(whole, buf + 12, 8);     /* source, destination */
		whole[9] = 6;
		whole[10] = (uint8_t)(tcp_len >> 8);
		whole[11] = (uint8_t)tcp_len;
		n = 12;
	} else {
		memcpy(whole, buf + 8, 32);
		whole[34] = (uint8_t)(tcp_len >> 8);
		whole[35] = (uint8_t)tcp_len;
		whole[39] = 6;
		n = 40;
	}
	memcpy(whole + n, buf + ip, tcp_len);
	assert_int_equal(ones_sum(whole, n + tcp_len), 0xffff);
}

/*
 * Builds the RST to `to`, checks every byte that matters and returns it
 * parsed.  expect_flags/expect_seq/expect_ack are what it must carry.
 */
static void check_rst(const struct hs_flow *flow, const struct sc_conn *c, enum hs_side to,
		      uint8_t expect_flags, uint32_t expect_seq, uint32_t expect_ack,
		      uint8_t *buf, size_t *len_out, struct hs_packet *pkt)
{
	enum hs_side peer = other(to);
	size_t want = c->family == HS_FAMILY_IPV4 ? 40 : 60;
	size_t len;

	memset(buf, 0xa5, HS_RST_MAX_LEN);
	len = hs_rst_build(flow, to, buf, HS_RST_MAX_LEN);
	assert_int_equal(len, want);

	assert_int_equal(hs_packet_parse(buf, len, 0, pkt), HS_PARSE_OK);
	assert_int_equal(pkt->family, c->family);
	assert_memory_equal(pkt->src.bytes, c->addr[peer].bytes, sizeof(pkt->src.bytes));
	assert_memory_equal(pkt->dst.bytes, c->addr[to].bytes, sizeof(pkt->dst.bytes));
	assert_int_equal(pkt->sport, c->port[peer]);
	assert_int_equal(pkt->dport, c->port[to]);
	assert_int_equal(pkt->flags, expect_flags);
	assert_int_equal(pkt->seq, expect_seq);
	assert_int_equal(pkt->ack, expect_ack);
	assert_int_equal(pkt->window, 0);
	assert_int_equal(pkt->tcp_header_len, 20);
	assert_int_equal(pkt->payload_len, 0);
	assert_int_equal(pkt->wire_len, len);
	assert_int_equal(pkt->mss, 0);
	assert_int_equal(pkt->wscale, HS_WSCALE_NONE);
	assert_false(pkt->has_timestamps);

	if (c->family == HS_FAMILY_IPV4) {
		assert_int_equal(pkt->ip_header_len, 20);
		assert_int_equal(buf[0], 0x45);
		assert_int_equal(buf[1], 0);                    /* TOS */
		assert_int_equal(be16(buf + 2), 40);            /* total length */
		assert_int_equal(be16(buf + 4), 0);             /* ID: the kernel picks one */
		assert_int_equal(be16(buf + 6), 0x4000);        /* DF, no fragment offset */
		assert_int_equal(buf[8], 64);                   /* TTL */
		assert_int_equal(buf[9], 6);
		assert_memory_equal(buf + 12, c->addr[peer].bytes, 4);
		assert_memory_equal(buf + 16, c->addr[to].bytes, 4);
		assert_int_equal(ones_sum(buf, 20), 0xffff);    /* header checksum */
	} else {
		assert_int_equal(pkt->ip_header_len, 40);
		assert_int_equal(buf[0], 0x60);                 /* version, class high bits */
		assert_int_equal(buf[1], 0);
		assert_int_equal(be16(buf + 2), 0);             /* flow label */
		assert_int_equal(be16(buf + 4), 20);            /* payload length */
		assert_int_equal(buf[6], 6);
		assert_int_equal(buf[7], 64);                   /* hop limit */
	}
	assert_int_equal(buf[len - 20 + 12], 0x50);             /* data offset 5, reserved 0 */
	assert_int_equal(be16(buf + len - 2), 0);               /* urgent pointer */
	assert_tcp_checksum(buf, len, c->family);
	*len_out = len;
}

/* Feeds a built RST to the tracker as if it came from `to`'s peer; it must close the flow. */
static void assert_tracker_accepts(struct hs_table *t, const uint8_t *buf, size_t len)
{
	struct hs_packet pkt;
	struct hs_track_result res;

	assert_int_equal(hs_packet_parse(buf, len, 0, &pkt), HS_PARSE_OK);
	hs_table_track(t, &pkt, T0 + 10, &res);
	assert_non_null(res.flow);
	assert_string_equal(hs_invalid_reason_name(res.invalid), hs_invalid_reason_name(HS_INVALID_NONE));
	assert_int_equal(res.new_state[HS_CLIENT], HS_TCP_CLOSED);
	assert_int_equal(res.new_state[HS_SERVER], HS_TCP_CLOSED);
}

/*
 * An open connection with data both ways: each side's RST carries exactly
 * its peer's next sequence number, for both families and both key orders
 * (client host below or above the server's: HS_FLOW_CLIENT_IS_0 either way).
 */
static void run_established(uint8_t family, uint32_t client_host, uint32_t server_host)
{
	for (int to_i = 0; to_i < 2; to_i++) {
		enum hs_side to = (enum hs_side)to_i;
		struct hs_table *t = sc_table(16, false, T0);
		struct sc_conn c;
		struct hs_flow *f;
		struct hs_packet pkt;
		uint8_t buf[HS_RST_MAX_LEN];
		size_t len;
		uint32_t seq = 0;

		sc_conn_init(&c, family, client_host, 40000, server_host, 443);
		f = sc_open(t, &c, T0);
		sc_step(t, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_PSH, 517, T0, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
		sc_step(t, &c, HS_SERVER, HS_TCP_ACK | HS_TCP_PSH, 1400, T0, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
		sc_step(t, &c, HS_SERVER, HS_TCP_ACK | HS_TCP_PSH, 333, T0, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
		sc_step(t, &c, HS_CLIENT, HS_TCP_ACK, 0, T0, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
		assert_int_equal((f->flags & HS_FLOW_CLIENT_IS_0) != 0, client_host < server_host);

		assert_int_equal(hs_rst_seq(f, to, &seq), HS_RST_SEQ_SENT);
		assert_int_equal(seq, c.next[other(to)]);
		check_rst(f, &c, to, HS_TCP_RST, c.next[other(to)], 0, buf, &len, &pkt);
		assert_tracker_accepts(t, buf, len);
		sc_table_free(t);
	}
}

static void test_ipv4_established(void **state)
{
	(void)state;
	run_established(HS_FAMILY_IPV4, 2, 9);  /* client is key endpoint 0 */
	run_established(HS_FAMILY_IPV4, 9, 2);  /* client is key endpoint 1 */
}

static void test_ipv6_established(void **state)
{
	(void)state;
	run_established(HS_FAMILY_IPV6, 0x01000002, 0x02000002);
	run_established(HS_FAMILY_IPV6, 0x02000002, 0x01000002);
}

/* After the client's FIN its next sequence number is one past the FIN. */
static void test_half_closed(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, false, T0);
	struct sc_conn c;
	struct hs_packet pkt;
	uint8_t buf[HS_RST_MAX_LEN];
	size_t len;

	sc_conn_init(&c, HS_FAMILY_IPV4, 5, 40001, 6, 80);
	sc_open(t, &c, T0);
	sc_step(t, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_PSH, 10, T0, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	struct hs_flow *f = sc_step(t, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_FIN, 0, T0,
				    HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);
	assert_int_equal(c.next[HS_CLIENT], c.isn[HS_CLIENT] + 1 + 10 + 1);
	check_rst(f, &c, HS_SERVER, HS_TCP_RST, c.next[HS_CLIENT], 0, buf, &len, &pkt);
	assert_tracker_accepts(t, buf, len);
	sc_table_free(t);
}

/*
 * The server answered (SYN_RCVD) but the client's ACK was never seen: the
 * RST to the server comes from the client's address with seq = client
 * ISN + 1, which frees the server's request socket.  The client's ISN here
 * is 0xffffffff, so that number wraps to 0.  The client, still SYN_SENT for
 * the tracker, gets RST|ACK acknowledging its SYN, with the server's
 * ISN + 1 as seq in case the SYN-ACK reached it and made it ESTABLISHED.
 */
static void test_server_syn_rcvd(void **state)
{
	(void)state;
	for (int to_i = 0; to_i < 2; to_i++) {
		enum hs_side to = (enum hs_side)to_i;
		struct hs_table *t = sc_table(16, false, T0);
		struct sc_conn c;
		struct hs_packet pkt;
		uint8_t buf[HS_RST_MAX_LEN];
		size_t len;
		uint32_t seq = 1;

		sc_conn_init(&c, HS_FAMILY_IPV4, 7, 40002, 3, 22);
		c.isn[HS_CLIENT] = c.next[HS_CLIENT] = 0xffffffffu;
		sc_syn(t, &c, T0);
		struct hs_flow *f = sc_step(t, &c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, 0, T0,
					    HS_TCP_SYN_SENT, HS_TCP_SYN_RCVD);
		assert_int_equal(c.next[HS_CLIENT], 0);
		if (to == HS_SERVER) {
			assert_int_equal(hs_rst_seq(f, HS_SERVER, &seq), HS_RST_SEQ_SENT);
			assert_int_equal(seq, 0);
			check_rst(f, &c, HS_SERVER, HS_TCP_RST, 0, 0, buf, &len, &pkt);
		} else {
			check_rst(f, &c, HS_CLIENT, HS_TCP_RST | HS_TCP_ACK, c.isn[HS_SERVER] + 1, 0,
				  buf, &len, &pkt);
		}
		assert_tracker_accepts(t, buf, len);
		sc_table_free(t);
	}
}

/*
 * Only the client's SYN was seen.  The server (LISTEN by the tracker's
 * convention, SYN_RCVD in its kernel if the SYN reached it) gets seq =
 * ISN + 1; the client, whose peer never spoke, gets RST|ACK with ack =
 * ISN + 1 and seq 0, the only RST a SYN-SENT socket accepts.
 */
static void test_client_syn_sent(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		uint8_t family = fam ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
		struct hs_table *t = sc_table(16, false, T0);
		struct sc_conn c;
		struct hs_packet pkt;
		uint8_t buf[HS_RST_MAX_LEN];
		size_t len;
		uint32_t seq = 1;

		sc_conn_init(&c, family, 11, 40003, 12, 8080);
		struct hs_flow *f = sc_syn(t, &c, T0);

		assert_int_equal(hs_rst_seq(f, HS_CLIENT, &seq), HS_RST_SEQ_UNKNOWN);
		check_rst(f, &c, HS_SERVER, HS_TCP_RST, c.isn[HS_CLIENT] + 1, 0, buf, &len, &pkt);
		check_rst(f, &c, HS_CLIENT, HS_TCP_RST | HS_TCP_ACK, 0, c.isn[HS_CLIENT] + 1, buf, &len, &pkt);
		assert_tracker_accepts(t, buf, len);
		sc_table_free(t);
	}
}

/*
 * A flow picked up from the client's packets while the server never spoke:
 * the server's next sequence number is known only as the client's last
 * acknowledgement (HS_RST_SEQ_ACKED), which follows the client's ACKs.
 */
static void test_pickup_silent_peer(void **state)
{
	(void)state;
	struct hs_table *t = sc_table(16, true, T0);
	struct sc_conn c;
	struct hs_packet pkt;
	uint8_t buf[HS_RST_MAX_LEN];
	size_t len;
	uint32_t seq = 0;
	struct hs_track_result res;

	sc_conn_init(&c, HS_FAMILY_IPV6, 21, 40004, 22, 993);
	c.next[HS_CLIENT] += 5000;      /* mid-stream */
	c.next[HS_SERVER] += 70000;
	struct hs_flow *f = sc_send(t, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_PSH, 100, T0, &res);
	assert_non_null(f);
	assert_true(f->flags & HS_FLOW_PICKED_UP);

	assert_int_equal(hs_rst_seq(f, HS_CLIENT, &seq), HS_RST_SEQ_ACKED);
	assert_int_equal(seq, c.next[HS_SERVER]);
	assert_int_equal(hs_rst_seq(f, HS_SERVER, &seq), HS_RST_SEQ_SENT);
	assert_int_equal(seq, c.next[HS_CLIENT]);

	/* The server's data passed us without being seen; the client acknowledges it. */
	c.next[HS_SERVER] += 1234;
	f = sc_send(t, &c, HS_CLIENT, HS_TCP_ACK, 0, T0, &res);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	assert_int_equal(hs_rst_seq(f, HS_CLIENT, &seq), HS_RST_SEQ_ACKED);
	assert_int_equal(seq, c.next[HS_SERVER]);

	check_rst(f, &c, HS_SERVER, HS_TCP_RST, c.next[HS_CLIENT], 0, buf, &len, &pkt);
	check_rst(f, &c, HS_CLIENT, HS_TCP_RST, c.next[HS_SERVER], 0, buf, &len, &pkt);
	assert_tracker_accepts(t, buf, len);
	sc_table_free(t);
}

/* A flow record with neither window seen: no RST can be built, and nothing is written. */
static void test_unknown_sequence(void **state)
{
	(void)state;
	struct hs_flow flow;
	uint8_t buf[HS_RST_MAX_LEN], before[HS_RST_MAX_LEN];
	uint32_t seq = 7;

	memset(&flow, 0, sizeof(flow));
	hs_flow_set_family(&flow, HS_FAMILY_IPV4);
	flow.flags = HS_FLOW_IN_USE | HS_FLOW_CLIENT_IS_0;
	flow.state[HS_CLIENT] = HS_TCP_ESTABLISHED;
	flow.state[HS_SERVER] = HS_TCP_ESTABLISHED;
	flow.ep_flags[HS_CLIENT] = HS_EP_LIBERAL;
	flow.ep_flags[HS_SERVER] = HS_EP_LIBERAL;
	flow.window[HS_CLIENT].end = 1234;
	memset(buf, 0x3c, sizeof(buf));
	memcpy(before, buf, sizeof(buf));

	for (int to = 0; to < 2; to++) {
		assert_int_equal(hs_rst_seq(&flow, (enum hs_side)to, &seq), HS_RST_SEQ_UNKNOWN);
		assert_int_equal(hs_rst_build(&flow, (enum hs_side)to, buf, sizeof(buf)), 0);
		assert_memory_equal(buf, before, sizeof(buf));
	}
	/* Without the liberal flag, an unseen window's end means nothing even if `to` was seen. */
	flow.ep_flags[HS_CLIENT] = 0;
	flow.window[HS_SERVER].maxwin = 100;
	assert_int_equal(hs_rst_seq(&flow, HS_SERVER, &seq), HS_RST_SEQ_UNKNOWN);
	assert_int_equal(hs_rst_build(&flow, HS_SERVER, buf, sizeof(buf)), 0);
	/* ...and the other direction is known from the server's window. */
	assert_int_equal(hs_rst_seq(&flow, HS_CLIENT, &seq), HS_RST_SEQ_SENT);
}

/* Exactly the packet length fits; one byte less writes nothing. */
static void test_buffer_sizes(void **state)
{
	(void)state;
	for (int fam = 0; fam < 2; fam++) {
		uint8_t family = fam ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;
		size_t need = fam ? 60 : 40;
		struct hs_table *t = sc_table(16, false, T0);
		struct sc_conn c;
		uint8_t *exact, *small;

		sc_conn_init(&c, family, 31, 40005, 32, 25);
		struct hs_flow *f = sc_open(t, &c, T0);
		/* Heap blocks of the exact sizes, so the sanitizer sees any overrun. */
		exact = sc_alloc(need);
		small = sc_alloc(need - 1);
		assert_int_equal(hs_rst_build(f, HS_CLIENT, exact, need), need);
		assert_int_equal(hs_rst_build(f, HS_SERVER, small, need - 1), 0);
		for (size_t i = 0; i < need - 1; i++)
			assert_int_equal(small[i], 0);
		sc_free(exact);
		sc_free(small);
		sc_table_free(t);
	}
}

static const struct hs_rst_tag no_tag = { 0, 0, HS_RST_NO_POLICY, 0 };

/* Without sockets nothing is sent: known RSTs count as failed, unknown ones as skipped. */
static void test_send_without_sockets(void **state)
{
	(void)state;
	struct hs_rst_sender s = HS_RST_SENDER_INIT;
	struct hs_table *t = sc_table(16, false, T0);
	struct sc_conn c;
	struct hs_flow_v6 unknown;

	sc_conn_init(&c, HS_FAMILY_IPV4, 41, 40006, 42, 443);
	struct hs_flow *f = sc_open(t, &c, T0);
	assert_int_equal(hs_rst_send_flow(&s, f, HS_RST_TO_BOTH, &no_tag, T0).sent, 0);
	assert_int_equal(s.stats.sent, 0);
	assert_int_equal(s.stats.failed, 2);
	assert_int_equal(s.stats.skipped, 0);
	assert_int_equal(hs_rst_send_flow(&s, f, 0, &no_tag, T0).sent, 0);
	assert_int_equal(hs_rst_send_flow(&s, f, HS_RST_TO_SERVER, &no_tag, T0).sent, 0);
	assert_int_equal(s.stats.failed, 3);

	memset(&unknown, 0, sizeof(unknown));
	hs_flow_set_family(&unknown.flow, HS_FAMILY_IPV6);
	struct hs_rst_result r = hs_rst_send_flow(&s, &unknown.flow, HS_RST_TO_BOTH, &no_tag, T0);
	assert_int_equal(r.sent, 0);
	assert_int_equal(r.skipped, 2);
	assert_int_equal(s.stats.skipped, 2);
	assert_int_equal(s.stats.failed, 3);
	/* No queue: nothing ever waits. */
	assert_int_equal(s.stats.retried, 0);
	assert_int_equal(hs_rst_waiting(&s), 0);
	hs_rst_close(&s);
	hs_rst_close(&s);
	assert_int_equal(s.fd4, -1);
	assert_int_equal(s.fd6, -1);
	sc_table_free(t);
}

/*
 * A stand-in for sendto: refuses with `fake_errno` while `fake_refusals`
 * lasts, then takes everything, and records the destination and the TCP
 * destination port of every packet it took, in order.
 */
static int fake_refusals, fake_errno;
static unsigned fake_taken;
static uint16_t fake_ports[16];

static ssize_t fake_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
			   socklen_t tolen)
{
	const uint8_t *p = buf;
	(void)fd;
	(void)flags;
	(void)tolen;
	assert_int_equal(to->sa_family, (p[0] >> 4) == 4 ? AF_INET : AF_INET6);
	if (fake_refusals > 0) {
		fake_refusals--;
		errno = fake_errno;
		return -1;
	}
	size_t tcp = (p[0] >> 4) == 4 ? 20 : 40;
	if (fake_taken < 16)
		fake_ports[fake_taken] = be16(p + tcp + 2);
	fake_taken++;
	return (ssize_t)len;
}

struct settled_log {
	unsigned n;
	struct hs_rst_tag tags[8];
	bool last[8], sent[8];
};

static void note_settled(void *ctx, const struct hs_rst_tag *tag, bool last, bool sent)
{
	struct settled_log *log = ctx;

	assert_true(log->n < 8);
	log->tags[log->n] = *tag;
	log->last[log->n] = last;
	log->sent[log->n] = sent;
	log->n++;
}

static void fake_sender(struct hs_rst_sender *s, int refusals, int err)
{
	*s = (struct hs_rst_sender)HS_RST_SENDER_INIT;
	s->fd4 = s->fd6 = 1000;     /* never used: the stand-in takes the sends */
	s->sendto_fn = fake_sendto;
	assert_int_equal(hs_rst_queue_alloc(s), 0);
	fake_refusals = refusals;
	fake_errno = err;
	fake_taken = 0;
	memset(fake_ports, 0, sizeof(fake_ports));
}

static void fake_close(struct hs_rst_sender *s)
{
	s->fd4 = s->fd6 = -1;
	hs_rst_close(s);
}

/*
 * RSTs the kernel refuses for now (EAGAIN) wait in order, RSTs decided
 * while others wait queue behind them, and each flow's last waiting RST
 * settles the flow once the kernel takes it.
 */
static void test_retry_in_order(void **state)
{
	(void)state;
	struct hs_rst_sender s;
	struct hs_table *t = sc_table(16, false, T0);
	struct sc_conn a, b;
	struct settled_log log;

	sc_conn_init(&a, HS_FAMILY_IPV4, 41, 40010, 42, 443);
	sc_conn_init(&b, HS_FAMILY_IPV6, 43, 40011, 44, 8443);
	struct hs_flow *fa = sc_open(t, &a, T0), *fb = sc_open(t, &b, T0);
	struct hs_rst_tag ta = { 1, fa->id, 3, 7 }, tb = { 2, fb->id, HS_RST_NO_POLICY, 0 };

	/* The client's RST is taken, the server's refused: it waits and carries `last`. */
	fake_sender(&s, 1, EAGAIN);
	fake_refusals = 0;
	struct hs_rst_result r = hs_rst_send_flow(&s, fa, HS_RST_TO_CLIENT, &ta, T0);
	assert_int_equal(r.sent, 1);
	assert_int_equal(r.queued, 0);
	fake_refusals = 1;
	r = hs_rst_send_flow(&s, fa, HS_RST_TO_SERVER, &ta, T0);
	assert_int_equal(r.sent, 0);
	assert_int_equal(r.queued, 1);
	/* Flow b's RSTs are not even offered while one waits: both queue behind it. */
	r = hs_rst_send_flow(&s, fb, HS_RST_TO_BOTH, &tb, T0 + 1);
	assert_int_equal(r.queued, 2);
	assert_int_equal(fake_taken, 1);
	assert_int_equal(hs_rst_waiting(&s), 3);
	assert_int_equal(hs_rst_room(&s), HS_RST_QUEUE_MAX - 3);
	assert_int_equal(s.stats.retried, 3);

	/* Still refused: nothing settles, nothing is lost before the deadline. */
	memset(&log, 0, sizeof(log));
	fake_refusals = 1;
	assert_int_equal(hs_rst_retry(&s, T0 + 10, note_settled, &log), 0);
	assert_int_equal(log.n, 0);
	/* Taken now: settled in the order they were decided, each flow's last one flagged. */
	assert_int_equal(hs_rst_retry(&s, T0 + 20, note_settled, &log), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.tags[0].flow_id, fa->id);
	assert_int_equal(log.tags[0].policy, 3);
	assert_int_equal(log.tags[0].generation, 7);
	assert_true(log.last[0] && log.sent[0]);
	assert_int_equal(log.tags[1].flow_id, fb->id);
	assert_false(log.last[1]);
	assert_int_equal(log.tags[2].flow_id, fb->id);
	assert_true(log.last[2] && log.sent[2]);
	/* Server of a, then client and server of b. */
	assert_int_equal(fake_taken, 4);
	assert_int_equal(fake_ports[0], 40010);
	assert_int_equal(fake_ports[1], 443);
	assert_int_equal(fake_ports[2], 40011);
	assert_int_equal(fake_ports[3], 8443);
	assert_int_equal(s.stats.sent, 4);
	assert_int_equal(s.stats.failed, 0);
	assert_int_equal(hs_rst_waiting(&s), 0);
	fake_close(&s);
	sc_table_free(t);
}

/* A RST still refused at its deadline fails; other errors fail at once; a full queue fails. */
static void test_retry_gives_up(void **state)
{
	(void)state;
	struct hs_rst_sender s;
	struct hs_table *t = sc_table(16, false, T0);
	struct sc_conn a;
	struct settled_log log;

	sc_conn_init(&a, HS_FAMILY_IPV4, 45, 40012, 46, 443);
	struct hs_flow *fa = sc_open(t, &a, T0);
	struct hs_rst_tag ta = { 3, fa->id, 0, 1 };

	fake_sender(&s, 1000000, ENOBUFS);
	struct hs_rst_result r = hs_rst_send_flow(&s, fa, HS_RST_TO_BOTH, &ta, T0);
	assert_int_equal(r.queued, 2);
	memset(&log, 0, sizeof(log));
	assert_int_equal(hs_rst_retry(&s, T0 + HS_RST_RETRY_MS - 1, note_settled, &log), 0);
	assert_int_equal(hs_rst_retry(&s, T0 + HS_RST_RETRY_MS, note_settled, &log), 2);
	assert_int_equal(log.n, 2);
	assert_false(log.sent[0] || log.sent[1]);
	assert_false(log.last[0]);
	assert_true(log.last[1]);
	assert_int_equal(s.stats.failed, 2);
	assert_int_equal(s.stats.sent, 0);
	assert_int_equal(s.last_errno, ENOBUFS);

	/* EPERM (a rule dropped it) is no reason to wait. */
	fake_refusals = 1;
	fake_errno = EPERM;
	r = hs_rst_send_flow(&s, fa, HS_RST_TO_CLIENT, &ta, T0);
	assert_int_equal(r.failed, 1);
	assert_int_equal(r.queued, 0);
	assert_int_equal(s.stats.failed, 3);

	/* A full queue: the RST that finds no room fails, the others wait. */
	fake_refusals = 1000000;
	fake_errno = EAGAIN;
	for (unsigned i = 0; i < HS_RST_QUEUE_MAX / 2; i++)
		assert_int_equal(hs_rst_send_flow(&s, fa, HS_RST_TO_BOTH, &ta, T0).queued, 2);
	assert_int_equal(hs_rst_room(&s), 0);
	r = hs_rst_send_flow(&s, fa, HS_RST_TO_BOTH, &ta, T0);
	assert_int_equal(r.failed, 2);
	assert_int_equal(s.stats.retried, 2 + HS_RST_QUEUE_MAX);
	assert_int_equal(s.stats.failed, 5);
	/* Every RST ends as sent or failed: retried ones are counted once more when settled. */
	fake_refusals = 0;
	memset(&log, 0, sizeof(log));
	assert_int_equal(hs_rst_retry(&s, T0 + 1, NULL, NULL), HS_RST_QUEUE_MAX);
	assert_int_equal(s.stats.sent, HS_RST_QUEUE_MAX);
	fake_close(&s);
	sc_table_free(t);
}

/* Opening needs CAP_NET_RAW: either both sockets open, or a reason and no descriptors. */
static void test_open_close(void **state)
{
	(void)state;
	struct hs_rst_sender s = HS_RST_SENDER_INIT;
	char err[256] = "";

	if (hs_rst_open(&s, 0x4853, err, sizeof(err)) == 0) {
		assert_true(s.fd4 >= 0);
		assert_int_equal(hs_rst_room(&s), HS_RST_QUEUE_MAX);
		hs_rst_close(&s);
	} else {
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(s.fd4, -1);
	assert_int_equal(s.fd6, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ipv4_established, sc_teardown),
		cmocka_unit_test_teardown(test_ipv6_established, sc_teardown),
		cmocka_unit_test_teardown(test_half_closed, sc_teardown),
		cmocka_unit_test_teardown(test_server_syn_rcvd, sc_teardown),
		cmocka_unit_test_teardown(test_client_syn_sent, sc_teardown),
		cmocka_unit_test_teardown(test_pickup_silent_peer, sc_teardown),
		cmocka_unit_test(test_unknown_sequence),
		cmocka_unit_test_teardown(test_buffer_sizes, sc_teardown),
		cmocka_unit_test_teardown(test_send_without_sockets, sc_teardown),
		cmocka_unit_test_teardown(test_retry_in_order, sc_teardown),
		cmocka_unit_test_teardown(test_retry_gives_up, sc_teardown),
		cmocka_unit_test(test_open_close),
	};

	return cmocka_run_group_tests_name("rst", tests, NULL, NULL);
}
