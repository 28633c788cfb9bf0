/*
 * test_nfq_parse: the daemon's own walk over a queue message's attributes
 * (hs_nfq_parse_packet) against the library parser it replaced
 * (nfq_nlmsg_parse): messages built as the kernel builds them read the
 * same; truncated, repeated, nested-flagged and too-short attributes are
 * handled as the library handles them; and on a million random mutations
 * of valid messages, whenever the library accepts a message the walk reads
 * exactly the same fields, and whatever the walk accepts lies inside the
 * message.  The walk over the messages of a datagram (hs_nfq_message_at)
 * finds the messages libmnl's mnl_nlmsg_ok and mnl_nlmsg_next find, in
 * datagrams of several messages with mutated lengths.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "hs_nfq.h"

#define BUF 512

/* A packet message as the kernel sends one: header, payload and the metadata the daemon reads. */
static size_t build(uint8_t *buf, uint32_t id, const uint8_t *payload, uint16_t plen, uint32_t cap_len,
		    uint32_t mark, uint32_t indev, uint32_t outdev)
{
	memset(buf, 0, BUF);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	struct nfqnl_msg_packet_hdr ph = { .packet_id = htonl(id), .hw_protocol = htons(0x0800), .hook = 2 };
	mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof(ph), &ph);
	if (indev)
		mnl_attr_put_u32(nlh, NFQA_IFINDEX_INDEV, htonl(indev));
	if (outdev)
		mnl_attr_put_u32(nlh, NFQA_IFINDEX_OUTDEV, htonl(outdev));
	if (mark)
		mnl_attr_put_u32(nlh, NFQA_MARK, htonl(mark));
	if (cap_len)
		mnl_attr_put_u32(nlh, NFQA_CAP_LEN, htonl(cap_len));
	mnl_attr_put(nlh, NFQA_PAYLOAD, plen, payload);
	return nlh->nlmsg_len;
}

/* The daemon's former reading of a message, through the library. */
static bool library_parse(const struct nlmsghdr *nlh, struct hs_nfq_packet *pkt)
{
	struct nlattr *attr[NFQA_MAX + 1];

	memset(attr, 0, sizeof(attr));
	if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
		return false;
	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return false;
	if (mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(struct nfqnl_msg_packet_hdr))
		return false;
	const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	uint32_t id_be;
	memcpy(&id_be, &ph->packet_id, sizeof(id_be));
	pkt->id = ntohl(id_be);
	pkt->data = attr[NFQA_PAYLOAD] ? mnl_attr_get_payload(attr[NFQA_PAYLOAD]) : NULL;
	pkt->caplen = attr[NFQA_PAYLOAD] ? mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]) : 0;
	pkt->wire_len = attr[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN])) : pkt->caplen;
	pkt->mark = attr[NFQA_MARK] ? ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) : 0;
	pkt->indev = attr[NFQA_IFINDEX_INDEV] ? ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV])) : 0;
	pkt->outdev = attr[NFQA_IFINDEX_OUTDEV] ? ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV])) : 0;
	return true;
}

static void assert_same(const struct hs_nfq_packet *a, const struct hs_nfq_packet *b)
{
	assert_int_equal(a->id, b->id);
	assert_ptr_equal(a->data, b->data);
	assert_int_equal(a->caplen, b->caplen);
	assert_int_equal(a->wire_len, b->wire_len);
	assert_int_equal(a->mark, b->mark);
	assert_int_equal(a->indev, b->indev);
	assert_int_equal(a->outdev, b->outdev);
}

static void test_kernel_messages(void **state)
{
	(void)state;
	uint8_t buf[BUF], payload[61];
	struct hs_nfq_packet got, want;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	/* A forwarded packet with every attribute; payload lengths that need padding and that do not. */
	for (uint16_t plen = 40; plen <= 61; plen += 7) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		build(buf, 0x01020304, payload, plen, 1500, 0x4853, 2, 3);
		assert_true(hs_nfq_parse_packet(nlh, &got));
		assert_true(library_parse(nlh, &want));
		assert_same(&got, &want);
		assert_int_equal(got.id, 0x01020304);
		assert_int_equal(got.caplen, plen);
		assert_int_equal(got.wire_len, 1500);
		assert_int_equal(got.mark, 0x4853);
		assert_int_equal(got.indev, 2);
		assert_int_equal(got.outdev, 3);
		assert_memory_equal(got.data, payload, plen);
	}
	/* A local packet: no indev, no mark, no cap_len (the whole packet was copied). */
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	build(buf, 9, payload, 40, 0, 0, 0, 5);
	assert_true(hs_nfq_parse_packet(nlh, &got));
	assert_true(library_parse(nlh, &want));
	assert_same(&got, &want);
	assert_int_equal(got.wire_len, 40);
	assert_int_equal(got.indev, 0);
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t buf[BUF], payload[40] = { 0x45 };
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct hs_nfq_packet got, want;

	/* Not a packet message. */
	build(buf, 1, payload, sizeof(payload), 0, 0, 0, 0);
	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT;
	assert_false(hs_nfq_parse_packet(nlh, &got));

	/* No packet header at all: only a payload. */
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
	mnl_attr_put(nlh, NFQA_PAYLOAD, sizeof(payload), payload);
	assert_false(hs_nfq_parse_packet(nlh, &got));
	assert_false(library_parse(nlh, &want));

	/* A message too short for its netfilter header. */
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	assert_false(hs_nfq_parse_packet(nlh, &got));

	/* A mark of two bytes: the library refuses the message, and so does the walk. */
	size_t len = build(buf, 1, payload, sizeof(payload), 0, 0, 0, 0);
	nlh = (struct nlmsghdr *)buf;
	struct nlattr *mark = (struct nlattr *)(buf + len);
	mark->nla_len = NLA_HDRLEN + 2;
	mark->nla_type = NFQA_MARK;
	nlh->nlmsg_len = (uint32_t)(len + NLA_ALIGN(mark->nla_len));
	assert_false(library_parse(nlh, &want));
	assert_false(hs_nfq_parse_packet(nlh, &got));

	/* An attribute longer than the message ends the walk there: what came before counts. */
	build(buf, 7, payload, sizeof(payload), 0, 0, 0, 0);
	struct nlattr *last = (struct nlattr *)(buf + nlh->nlmsg_len - NLA_ALIGN(NLA_HDRLEN + sizeof(payload)));
	last->nla_len = (uint16_t)(last->nla_len + 100);
	assert_true(library_parse(nlh, &want));
	assert_true(hs_nfq_parse_packet(nlh, &got));
	assert_same(&got, &want);
	assert_null(got.data);

	/* A length that cuts the packet header short: the library reads past it, the walk refuses. */
	build(buf, 6, payload, sizeof(payload), 0, 0, 0, 0);
	nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)) + NLA_HDRLEN +
			 sizeof(struct nfqnl_msg_packet_hdr) - 2;
	assert_true(library_parse(nlh, &want));
	assert_false(hs_nfq_parse_packet(nlh, &got));

	/* The nested and byte-order flags are not part of the type; a repeated attribute: the last counts. */
	len = build(buf, 8, payload, sizeof(payload), 0, 1, 0, 0);
	mark = (struct nlattr *)(buf + len);
	mark->nla_len = NLA_HDRLEN + 4;
	mark->nla_type = NFQA_MARK | NLA_F_NET_BYTEORDER;
	uint32_t two = htonl(2);
	memcpy(buf + len + NLA_HDRLEN, &two, 4);
	nlh->nlmsg_len = (uint32_t)(len + NLA_HDRLEN + 4);
	assert_true(library_parse(nlh, &want));
	assert_true(hs_nfq_parse_packet(nlh, &got));
	assert_same(&got, &want);
	assert_int_equal(got.mark, 2);
}

/*
 * Random mutations of valid messages: bytes flipped anywhere past the
 * netlink header, and lengths cut short.  The library's acceptance implies
 * the walk's, with the same fields, wherever the message's length is a
 * multiple of 4 as the kernel's are; the walk never points outside the
 * message.
 */
static void test_mutations_agree(void **state)
{
	(void)state;
	uint8_t buf[BUF], payload[52];
	uint32_t x = 2463534242u, accepted = 0, both = 0;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	for (uint32_t round = 0; round < 1000000; round++) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		size_t len = build(buf, round, payload, (uint16_t)(20 + round % 33), round % 3 ? 1500 : 0,
				   round % 5, round % 7, round % 11);
		for (int k = 0; k < 1 + (int)(round % 3); k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			size_t at = NLMSG_HDRLEN + x % (len - NLMSG_HDRLEN);
			buf[at] ^= (uint8_t)(1u << ((x >> 20) % 8));
		}
		if (round % 4 == 0)
			nlh->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + (x >> 8) % (len - NLMSG_HDRLEN + 1));
		struct hs_nfq_packet got, want;
		bool ours = hs_nfq_parse_packet(nlh, &got), theirs = library_parse(nlh, &want);
		/*
		 * The library walks to the length rounded up to 4 bytes, so it
		 * reads an attribute cut by the message's end as if whole; the
		 * walk reads nothing past the end (the kernel's lengths are
		 * always rounded: they agree there).
		 */
		if (theirs && nlh->nlmsg_len % 4 == 0) {
			assert_true(ours);
			assert_same(&got, &want);
			both++;
		}
		if (ours) {
			accepted++;
			if (got.data) {
				assert_true(got.data >= buf + NLMSG_HDRLEN);
				assert_true(got.data + got.caplen <= buf + nlh->nlmsg_len);
			}
		}
	}
	print_message("  %u of 1000000 mutated messages read by the library, the same by the walk; "
		      "%u read by the walk\n", both, accepted);
	assert_true(both > 100000);
}

/*
 * The offsets of the messages the library's walk finds in buf[0..len); how
 * many.  It stops, as the daemon's walk does, at a length of 2^31 or more,
 * which the library compares as a negative int and would take, to jump
 * gigabytes ahead.
 */
static unsigned library_walk(const uint8_t *buf, size_t len, size_t *offs, unsigned max)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int left = (int)len;
	unsigned n = 0;

	while (n < max && mnl_nlmsg_ok(nlh, left) && nlh->nlmsg_len <= INT32_MAX) {
		offs[n++] = (size_t)((const uint8_t *)nlh - buf);
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	return n;
}

static unsigned daemon_walk(const uint8_t *buf, size_t len, size_t *offs, unsigned max)
{
	const struct nlmsghdr *nlh;
	unsigned n = 0;

	for (size_t off = 0; n < max && (nlh = hs_nfq_message_at(buf, len, off)) != NULL;
	     off += NLMSG_ALIGN(nlh->nlmsg_len))
		offs[n++] = off;
	return n;
}

/*
 * Datagrams of one to four messages as the kernel sends them, then with a
 * message's length changed (zero, short of a header, odd, beyond the
 * datagram, or any other) and the datagram cut anywhere: the walk finds the
 * messages the library finds, and each lies inside the datagram.  A
 * length changed to one short of the message's has the walks step into
 * the middle of a message and read whatever lies there as a header.
 */
static void test_message_walk(void **state)
{
	(void)state;
	static uint8_t dgram[4 * BUF];
	uint8_t msg[BUF], payload[52] = { 0 };
	uint32_t x = 88172645u, several = 0;

	for (uint32_t round = 0; round < 200000; round++) {
		size_t len = 0, starts[4];
		unsigned count = 1 + round % 4;

		for (unsigned m = 0; m < count; m++) {
			size_t mlen = build(msg, round + m, payload, (uint16_t)(20 + (round + m) % 33), 0, 0, 0, 0);
			starts[m] = len;
			memcpy(dgram + len, msg, mlen);
			len += NLMSG_ALIGN(mlen);
		}
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		if (round % 3) {
			struct nlmsghdr *victim = (struct nlmsghdr *)(dgram + starts[x % count]);
			const uint32_t lens[] = { 0, 1, NLMSG_HDRLEN - 1, NLMSG_HDRLEN, victim->nlmsg_len + 1,
						  victim->nlmsg_len - 3, (uint32_t)len + 4, (x >> 9) % (2 * len) };
			victim->nlmsg_len = lens[(x >> 4) % (sizeof(lens) / sizeof(lens[0]))];
		}
		if (round % 5 == 0)
			len = (x >> 12) % (len + 1);
		size_t want[4], got[4];
		unsigned nwant = library_walk(dgram, len, want, 4), ngot = daemon_walk(dgram, len, got, 4);
		assert_int_equal(ngot, nwant);
		for (unsigned m = 0; m < ngot; m++) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)(dgram + got[m]);
			assert_int_equal(got[m], want[m]);
			assert_true(got[m] + nlh->nlmsg_len <= len);
		}
		several += ngot > 1;
	}
	assert_true(several > 50000);
	/* A length the library's int comparison would take. */
	struct nlmsghdr huge = { .nlmsg_len = 0x80000000u };
	assert_null(hs_nfq_message_at((const uint8_t *)&huge, sizeof(huge), 0));
	assert_non_null(hs_nfq_message_at((const uint8_t *)&(struct nlmsghdr){ .nlmsg_len = NLMSG_HDRLEN },
					  NLMSG_HDRLEN, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_messages),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mutations_agree),
		cmocka_unit_test(test_message_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
