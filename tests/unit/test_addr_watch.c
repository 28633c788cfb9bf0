/*
 * Unit tests of the rtnetlink address parser (hs_addr_watch_parse in
 * daemon/addr_watch.c), on messages built here as the kernel builds them:
 * IPv4 and IPv6 addresses, point-to-point links (IFA_LOCAL is ours,
 * IFA_ADDRESS the peer's), IPv4 on the loopback device (the whole prefix
 * is local) and IPv6 there (only the address), and every malformed or
 * foreign message refused: other message types and families, short
 * headers, addresses of the wrong length, attributes running past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include <cmocka.h>

#include "hs_addr_watch.h"
#include "hs_flow.h"

static char buf[4096];

static struct nlmsghdr *message(uint16_t type, uint8_t family, uint8_t prefixlen, uint32_t ifindex)
{
	memset(buf, 0, sizeof(buf));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = ifindex;
	return nlh;
}

static void put_addr(struct nlmsghdr *nlh, uint16_t attr, const char *text)
{
	uint8_t bytes[16];
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, text, bytes), 1);
	mnl_attr_put(nlh, attr, family == AF_INET6 ? 16 : 4, bytes);
}

static void assert_entry(const struct nlmsghdr *nlh, const char *text, uint8_t prefix, uint32_t ifindex)
{
	struct hs_local_addr e;
	struct hs_addr want;
	uint8_t family;

	assert_true(hs_addr_watch_parse(nlh, &e));
	assert_true(hs_addr_parse(text, &want, &family));
	assert_int_equal(e.family, family);
	assert_memory_equal(e.addr.bytes, want.bytes, sizeof(want.bytes));
	assert_int_equal(e.prefix, prefix);
	assert_int_equal(e.ifindex, ifindex);
}

static void test_ipv4_and_ipv6(void **state)
{
	(void)state;
	struct nlmsghdr *nlh = message(RTM_NEWADDR, AF_INET, 24, 2);

	put_addr(nlh, IFA_ADDRESS, "10.0.1.2");
	put_addr(nlh, IFA_LOCAL, "10.0.1.2");
	assert_entry(nlh, "10.0.1.2", 32, 2);

	nlh = message(RTM_DELADDR, AF_INET6, 64, 3);
	put_addr(nlh, IFA_ADDRESS, "fd00:1::2");
	assert_entry(nlh, "fd00:1::2", 128, 3);
}

/* On a point-to-point link IFA_ADDRESS is the peer: IFA_LOCAL is ours, wherever it comes. */
static void test_point_to_point(void **state)
{
	(void)state;
	struct nlmsghdr *nlh = message(RTM_NEWADDR, AF_INET, 32, 4);

	put_addr(nlh, IFA_ADDRESS, "192.0.2.1");
	put_addr(nlh, IFA_LOCAL, "192.0.2.2");
	assert_entry(nlh, "192.0.2.2", 32, 4);
	nlh = message(RTM_NEWADDR, AF_INET6, 128, 4);
	put_addr(nlh, IFA_LOCAL, "fd00::2");
	put_addr(nlh, IFA_ADDRESS, "fd00::1");
	assert_entry(nlh, "fd00::2", 128, 4);
}

static void test_loopback(void **state)
{
	(void)state;
	struct nlmsghdr *nlh = message(RTM_NEWADDR, AF_INET, 8, 1);

	put_addr(nlh, IFA_LOCAL, "127.0.0.1");
	put_addr(nlh, IFA_ADDRESS, "127.0.0.1");
	assert_entry(nlh, "127.0.0.1", 8, 1);
	/* IPv6 makes only the address itself local, even on loopback. */
	nlh = message(RTM_NEWADDR, AF_INET6, 64, 1);
	put_addr(nlh, IFA_ADDRESS, "fd09::1");
	assert_entry(nlh, "fd09::1", 128, 1);
	/* A /24 elsewhere is one address. */
	nlh = message(RTM_NEWADDR, AF_INET, 24, 7);
	put_addr(nlh, IFA_LOCAL, "10.9.0.1");
	assert_entry(nlh, "10.9.0.1", 32, 7);
}

static void test_refused(void **state)
{
	(void)state;
	struct hs_local_addr e;
	struct nlmsghdr *nlh;

	nlh = message(RTM_NEWLINK, AF_INET, 24, 2);
	put_addr(nlh, IFA_LOCAL, "10.0.0.1");
	assert_false(hs_addr_watch_parse(nlh, &e));
	nlh = message(RTM_NEWADDR, AF_PACKET, 24, 2);
	put_addr(nlh, IFA_LOCAL, "10.0.0.1");
	assert_false(hs_addr_watch_parse(nlh, &e));
	/* No address at all. */
	nlh = message(RTM_NEWADDR, AF_INET, 24, 2);
	mnl_attr_put_strz(nlh, IFA_LABEL, "eth0");
	assert_false(hs_addr_watch_parse(nlh, &e));
	/* An IPv6 address in an IPv4 message, and a short one. */
	nlh = message(RTM_NEWADDR, AF_INET, 24, 2);
	put_addr(nlh, IFA_LOCAL, "fd00::1");
	assert_false(hs_addr_watch_parse(nlh, &e));
	nlh = message(RTM_NEWADDR, AF_INET6, 64, 2);
	mnl_attr_put_u16(nlh, IFA_ADDRESS, 7);
	assert_false(hs_addr_watch_parse(nlh, &e));
	/* A header too short to hold the ifaddrmsg. */
	nlh = message(RTM_NEWADDR, AF_INET, 24, 2);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 4;
	assert_false(hs_addr_watch_parse(nlh, &e));
	/* An attribute claiming more bytes than the message has is not read. */
	nlh = message(RTM_NEWADDR, AF_INET, 24, 2);
	put_addr(nlh, IFA_LOCAL, "10.0.0.1");
	struct nlattr *attr = (struct nlattr *)((char *)nlh + MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct ifaddrmsg)));
	attr->nla_len = 200;
	assert_false(hs_addr_watch_parse(nlh, &e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_and_ipv6),
		cmocka_unit_test(test_point_to_point),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
