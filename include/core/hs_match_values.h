/*
 * hs_match_values: parsing and formatting of the values that match keys
 * and CLI filters hold (numbers, durations, CIDRs, port ranges).  The
 * CIDR and port range types themselves are part of the policy language
 * (hs_policy.h).
 */
#ifndef HS_MATCH_VALUES_H
#define HS_MATCH_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_policy.h"

/* The longest address text worth handing to inet_pton (IPv6 with an IPv4 tail is 45). */
#define HS_ADDRESS_TEXT_MAX 64

/* Whether text (len bytes, not NUL-terminated) is one or more decimal digits. */
bool hs_all_digits(const char *text, size_t len);
/* Decimal digits already checked by hs_all_digits; false if the number is above max. */
bool hs_parse_decimal(const char *text, size_t len, uint64_t max, uint64_t *out);
/* The same for hexadecimal digits (the text after "0x"). */
bool hs_all_hex_digits(const char *text, size_t len);
bool hs_parse_hex(const char *text, size_t len, uint64_t max, uint64_t *out);

enum hs_duration_status { HS_DURATION_OK, HS_DURATION_INVALID, HS_DURATION_NEGATIVE, HS_DURATION_OVERFLOW };

/*
 * A NUL-terminated duration: digits alone are seconds, or digits with one
 * unit, ms, s, m, h or d ("500ms", "30s", "5m", "2h", "1d").  *ms is
 * written only on HS_DURATION_OK.
 */
enum hs_duration_status hs_duration_parse(const char *text, uint64_t *ms);

/*
 * The same as a yes/no: false for an empty, negative, fractional,
 * overflowing or otherwise malformed text (or NULL), leaving *ms unchanged.
 * Zero is a valid duration here; callers check their own limits.
 */
bool hs_parse_duration_ms(const char *text, uint64_t *ms);

enum hs_cidr_status { HS_CIDR_OK, HS_CIDR_SYNTAX, HS_CIDR_PREFIX, HS_CIDR_HOST_BITS };

/*
 * "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).  Host bits
 * are cleared in *out even when set in the text, and the status says so.
 */
enum hs_cidr_status hs_cidr_parse(const char *text, size_t len, struct hs_cidr *out);
/* Whether CIDR a holds all of CIDR b. */
bool hs_cidr_holds(const struct hs_cidr *a, const struct hs_cidr *b);
/* ::ffff:a.b.c.d or a prefix inside ::ffff:0:0/96 (an IPv4 peer as sockets show it). */
bool hs_cidr_ipv4_mapped(const struct hs_cidr *cidr);
const char *hs_cidr_format(char *buf, size_t size, const struct hs_cidr *cidr);

enum hs_port_status { HS_PORT_OK, HS_PORT_SYNTAX, HS_PORT_RANGE, HS_PORT_REVERSED };

/* "80" or "8000-8080"; ports go from 1 to 65535. */
enum hs_port_status hs_port_range_parse(const char *text, size_t len, struct hs_port_range *out);
const char *hs_port_range_format(char *buf, size_t size, const struct hs_port_range *range);

#endif
