/*
 * test_link_layer: finding the IP packet in captured frames.  Every
 * framing at its exact length and cut short at every byte (each copy in a
 * buffer of its own exact size, so the sanitizers catch a read past it),
 * VLAN tags up to the bound and past it, loopback families in both byte
 * orders, and frames that carry something other than IP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_link_layer.h"

static const uint8_t ipv4_start[] = { 0x45, 0x00, 0x00, 0x28 };
static const uint8_t ipv6_start[] = { 0x60, 0x00, 0x00, 0x00 };

/* Runs the framing on an exact-size heap copy of frame[0..len). */
static enum hs_link_result find(enum hs_link_type type, const uint8_t *frame, size_t len, size_t *offset)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, frame, len);
	enum hs_link_result r = hs_link_find_ip(type, copy, len, offset);
	free(copy);
	return r;
}

/* A frame whose header is hdr_len bytes: found at hdr_len, and truncated below it. */
static void expect_ip_at(enum hs_link_type type, const uint8_t *frame, size_t len, size_t hdr_len)
{
	size_t offset = 999;

	assert_int_equal(find(type, frame, len, &offset), HS_LINK_IP);
	assert_int_equal(offset, hdr_len);
	for (size_t cut = 0; cut < hdr_len; cut++)
		assert_int_equal(find(type, frame, cut, &offset), HS_LINK_TRUNCATED);
}

static size_t build_ethernet(uint8_t *f, const uint16_t *tags, size_t ntags, uint16_t type)
{
	size_t n = 12;

	memset(f, 0x02, 12);
	for (size_t i = 0; i < ntags; i++) {
		f[n++] = (uint8_t)(tags[i] >> 8);
		f[n++] = (uint8_t)tags[i];
		f[n++] = 0x00;
		f[n++] = 0x07;
	}
	f[n++] = (uint8_t)(type >> 8);
	f[n++] = (uint8_t)type;
	memcpy(f + n, ipv4_start, sizeof(ipv4_start));
	return n;
}

static void ethernet_and_tags(void **state)
{
	(void)state;
	uint8_t f[128];
	uint16_t tags[8] = { 0x88a8, 0x8100, 0x9100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100 };

	for (size_t ntags = 0; ntags <= HS_LINK_MAX_VLAN_TAGS; ntags++) {
		size_t hdr = build_ethernet(f, tags, ntags, 0x0800);
		expect_ip_at(HS_LINK_ETHERNET, f, hdr + 4, hdr);
	}
	size_t offset, hdr = build_ethernet(f, tags, HS_LINK_MAX_VLAN_TAGS + 1, 0x0800);
	assert_int_equal(find(HS_LINK_ETHERNET, f, hdr + 4, &offset), HS_LINK_TOO_MANY_TAGS);
	hdr = build_ethernet(f, tags, 1, 0x86dd);
	expect_ip_at(HS_LINK_ETHERNET, f, hdr + 4, hdr);
	hdr = build_ethernet(f, tags, 1, 0x0806);   /* ARP inside a VLAN */
	assert_int_equal(find(HS_LINK_ETHERNET, f, hdr + 4, &offset), HS_LINK_NOT_IP);
}

static void linux_cooked(void **state)
{
	(void)state;
	uint8_t f[64] = { 0 };
	size_t offset;

	/* SLL: packet type, ARPHRD, address length, 8 address bytes, protocol. */
	f[14] = 0x08;
	memcpy(f + 16, ipv4_start, 4);
	expect_ip_at(HS_LINK_SLL, f, 20, 16);
	f[14] = 0x81;   /* 0x8100: a tag follows the header */
	f[15] = 0x00;
	f[18] = 0x86;
	f[19] = 0xdd;
	memcpy(f + 20, ipv6_start, 4);
	expect_ip_at(HS_LINK_SLL, f, 24, 20);
	f[14] = 0x08;
	f[15] = 0x06;
	assert_int_equal(find(HS_LINK_SLL, f, 24, &offset), HS_LINK_NOT_IP);

	/* SLL2: the protocol comes first, the header is 20 bytes. */
	memset(f, 0, sizeof(f));
	f[0] = 0x86;
	f[1] = 0xdd;
	memcpy(f + 20, ipv6_start, 4);
	expect_ip_at(HS_LINK_SLL2, f, 24, 20);
	f[0] = 0x81;
	f[1] = 0x00;
	f[22] = 0x08;
	f[23] = 0x00;
	memcpy(f + 24, ipv4_start, 4);
	expect_ip_at(HS_LINK_SLL2, f, 28, 24);
	f[0] = 0x88;
	f[1] = 0xcc;   /* LLDP */
	assert_int_equal(find(HS_LINK_SLL2, f, 28, &offset), HS_LINK_NOT_IP);
}

static void raw_and_loopback(void **state)
{
	(void)state;
	uint8_t f[16];
	size_t offset = 7;

	assert_int_equal(find(HS_LINK_RAW, ipv4_start, sizeof(ipv4_start), &offset), HS_LINK_IP);
	assert_int_equal(offset, 0);
	/* A raw frame is handed on even when empty: the parser names what is wrong with it. */
	assert_int_equal(find(HS_LINK_RAW, ipv4_start, 0, &offset), HS_LINK_IP);

	static const uint8_t families[][4] = {
		{ 2, 0, 0, 0 }, { 0, 0, 0, 2 }, { 10, 0, 0, 0 }, { 24, 0, 0, 0 }, { 28, 0, 0, 0 }, { 0, 0, 0, 30 },
	};
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		memcpy(f, families[i], 4);
		memcpy(f + 4, ipv4_start, 4);
		expect_ip_at(HS_LINK_NULL, f, 8, 4);
	}
	/* LOOP is in network order only. */
	static const uint8_t be_inet[4] = { 0, 0, 0, 2 }, le_inet[4] = { 2, 0, 0, 0 };
	memcpy(f, be_inet, 4);
	expect_ip_at(HS_LINK_LOOP, f, 8, 4);
	memcpy(f, le_inet, 4);
	assert_int_equal(find(HS_LINK_LOOP, f, 8, &offset), HS_LINK_NOT_IP);
	static const uint8_t other[4] = { 0, 0, 0, 7 };
	memcpy(f, other, 4);
	assert_int_equal(find(HS_LINK_NULL, f, 8, &offset), HS_LINK_NOT_IP);
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(hs_link_type_name(HS_LINK_SLL2), "linux_sll2");
	assert_string_equal(hs_link_result_name(HS_LINK_TOO_MANY_TAGS), "too_many_vlan_tags");
	assert_string_equal(hs_link_result_name(HS_LINK_RESULT_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ethernet_and_tags),
		cmocka_unit_test(linux_cooked),
		cmocka_unit_test(raw_and_loopback),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
