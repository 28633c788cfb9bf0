/*
 * match_values: the small values that policies' match keys and the CLI's
 * filters are written in, parsed from text and formatted back: whole
 * numbers (decimal, or hex after "0x"), durations, CIDRs and port ranges.
 * Pure and bounded by the length given: the configuration loader, the
 * control protocol and handshakectl share one reading of each.
 */
#include "hs_match_values.h"

#include <stdio.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

bool hs_all_digits(const char *text, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	return true;
}

/* Digits already checked by hs_all_digits; false if the number is above max. */
bool hs_parse_decimal(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	for (size_t i = 0; i < len; i++) {
		value = value * 10 + (unsigned)(text[i] - '0');
		if (value > max)
			return false;
	}
	*out = value;
	return true;
}

bool hs_all_hex_digits(const char *text, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || ((text[i] | 0x20) >= 'a' && (text[i] | 0x20) <= 'f')))
			return false;
	return true;
}

/*
 * Hexadecimal digits (after "0x"), already checked by all_hex_digits:
 * firewall marks are written in hex by every tool that shows them.
 */
bool hs_parse_hex(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		unsigned digit = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);

		value = value * 16 + digit;
		if (value > max)
			return false;
	}
	*out = value;
	return true;
}


/*
 * The grammar is deliberately narrow: digits, then at most one unit, with
 * nothing in between and nothing after.  Fractions, signs, spaces and
 * capital units are refused rather than guessed at ("5M" could be minutes or
 * months).  A leading '-' is recognised only to give a better message.
 */
enum hs_duration_status hs_duration_parse(const char *text, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 },
		{ "m", 60 * 1000 }, { "h", 3600 * 1000 }, { "d", 24 * 3600 * 1000 },
	};
	uint64_t value = 0;
	bool overflow = false, negative = false;
	const char *p = text;

	if (!text)
		return HS_DURATION_INVALID;
	if (*p == '-') {
		negative = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return HS_DURATION_INVALID;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (value > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			value = value * 10 + digit;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (negative)
			return HS_DURATION_NEGATIVE;
		if (overflow || value > UINT64_MAX / units[i].ms)
			return HS_DURATION_OVERFLOW;
		*ms = value * units[i].ms;
		return HS_DURATION_OK;
	}
	return HS_DURATION_INVALID;
}

bool hs_parse_duration_ms(const char *text, uint64_t *ms)
{
	uint64_t value;

	if (hs_duration_parse(text, &value) != HS_DURATION_OK)
		return false;
	*ms = value;
	return true;
}

/*
 * "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).  Host bits
 * are cleared in *out even when set in the text, and the status says so.
 */
enum hs_cidr_status hs_cidr_parse(const char *text, size_t len, struct hs_cidr *out)
{
	char address[HS_ADDRESS_TEXT_MAX];
	const char *slash = memchr(text, '/', len);
	size_t address_len = slash ? (size_t)(slash - text) : len;
	uint64_t prefix;

	if (address_len == 0 || address_len >= sizeof(address))
		return HS_CIDR_SYNTAX;
	memcpy(address, text, address_len);
	address[address_len] = '\0';
	memset(out, 0, sizeof(*out));
	if (!hs_addr_parse(address, &out->addr, &out->family))
		return HS_CIDR_SYNTAX;
	unsigned bits = out->family == HS_FAMILY_IPV4 ? 32 : 128;
	prefix = bits;
	if (slash) {
		size_t prefix_len = len - address_len - 1;
		if (!hs_all_digits(slash + 1, prefix_len))
			return HS_CIDR_SYNTAX;
		if (!hs_parse_decimal(slash + 1, prefix_len, bits, &prefix))
			return HS_CIDR_PREFIX;
	}
	out->prefix = (uint8_t)prefix;
	bool host_bits = false;
	for (unsigned i = 0; i < bits / 8; i++) {
		/* How many of this byte's bits the prefix keeps: 8, 0, or the few it ends on. */
		unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? (unsigned)prefix - i * 8 : 0;
		uint8_t mask = (uint8_t)(0xFF00u >> keep);
		if (out->addr.bytes[i] & ~mask)
			host_bits = true;
		out->addr.bytes[i] &= mask;
	}
	return host_bits ? HS_CIDR_HOST_BITS : HS_CIDR_OK;
}

/* Whether CIDR a holds all of CIDR b. */
bool hs_cidr_holds(const struct hs_cidr *a, const struct hs_cidr *b)
{
	return a->family == b->family && a->prefix <= b->prefix &&
	       hs_cidr_list_contains(a, 1, b->family, &b->addr);
}

/*
 * ::ffff:a.b.c.d, or a prefix inside ::ffff:0:0/96.  Sockets show IPv4
 * peers this way, so it gets copied from ss output, but the packets on the
 * wire are IPv4 and their flows have the IPv4 family.
 */
bool hs_cidr_ipv4_mapped(const struct hs_cidr *cidr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };

	return cidr->family == HS_FAMILY_IPV6 && cidr->prefix >= 96 &&
	       memcmp(cidr->addr.bytes, mapped, sizeof(mapped)) == 0;
}

const char *hs_cidr_format(char *buf, size_t size, const struct hs_cidr *cidr)
{
	char address[64];

	snprintf(buf, size, "%s/%u", hs_addr_format(&cidr->addr, cidr->family, address, sizeof(address)),
		 cidr->prefix);
	return buf;
}

/* "80" or "8000-8080"; ports go from 1 to 65535 (0 is not a port a connection can use). */
enum hs_port_status hs_port_range_parse(const char *text, size_t len, struct hs_port_range *out)
{
	const char *dash = memchr(text, '-', len);
	size_t first_len = dash ? (size_t)(dash - text) : len;
	const char *second = dash ? dash + 1 : text;
	size_t second_len = dash ? len - first_len - 1 : len;
	uint64_t lo, hi;

	if (!hs_all_digits(text, first_len) || !hs_all_digits(second, second_len))
		return HS_PORT_SYNTAX;
	if (!hs_parse_decimal(text, first_len, UINT16_MAX, &lo) ||
	    !hs_parse_decimal(second, second_len, UINT16_MAX, &hi) || lo == 0 || hi == 0)
		return HS_PORT_RANGE;
	if (lo > hi)
		return HS_PORT_REVERSED;
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return HS_PORT_OK;
}

const char *hs_port_range_format(char *buf, size_t size, const struct hs_port_range *range)
{
	if (range->lo == range->hi)
		snprintf(buf, size, "%u", range->lo);
	else
		snprintf(buf, size, "%u-%u", range->lo, range->hi);
	return buf;
}
