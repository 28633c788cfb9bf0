/*
 * fuzz_config: libFuzzer target for the configuration loader
 * (hs_config_parse in daemon/config.c, with libyaml) and its diagnostics
 * (daemon/diag.c): the daemon's keys and the policy language.
 *
 * The input is the file's text, given with its length and no terminating
 * NUL, as hs_config_load passes a file it has read.  Besides memory
 * safety the target checks the loader's contract: it fails exactly when
 * it reported an error, leaves the caller's configuration untouched when
 * it fails, and on success hands over only values inside the ranges the
 * rest of the daemon relies on without checking again (array counts,
 * CIDR prefixes, states, NUL-terminated strings).  A second parse of the
 * same text must say exactly the same, since the daemon's `-t` check and
 * its reload read a file twice and must agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_config.h"
#include "hs_diag.h"
#include "hs_policy.h"
#include "hs_table.h"
#include "hs_tcp_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz_config: invariant failed: %s (%s:%d)\n", #cond, \
				__FILE__, __LINE__);                                    \
			abort();                                                        \
		}                                                                       \
	} while (0)

#define TWENTY_DAYS_MS (20u * 86400000u)

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_cidrs(const struct hs_cidr *list, unsigned n)
{
	CHECK(n <= HS_POLICY_LIST_MAX);
	for (unsigned i = 0; i < n; i++) {
		const struct hs_cidr *c = &list[i];
		unsigned bits = c->family == HS_FAMILY_IPV4 ? 32 : 128;

		CHECK(c->family == HS_FAMILY_IPV4 || c->family == HS_FAMILY_IPV6);
		CHECK(c->prefix <= bits);
		/* Host bits are clear: the matcher relies on it. */
		for (unsigned b = c->prefix; b < 128; b++)
			CHECK(!(c->addr.bytes[b / 8] & (0x80 >> (b % 8))));
	}
}

static void check_ports(const struct hs_port_range *list, unsigned n)
{
	CHECK(n <= HS_POLICY_LIST_MAX);
	for (unsigned i = 0; i < n; i++)
		CHECK(list[i].lo >= 1 && list[i].lo <= list[i].hi);
}

static void check_state(struct hs_state_set s)
{
	/* The language gives each state key one state, or none. */
	CHECK(s.bits < (1u << HS_TCP_STATE_COUNT) && (s.bits & (s.bits - 1)) == 0);
}

static void check_policy(const struct hs_policy *p)
{
	CHECK(terminated(p->name, sizeof(p->name)) && p->name[0] != '\0');
	check_state(p->match.state);
	check_state(p->match.client_state);
	check_state(p->match.server_state);
	check_state(p->match.local_state);
	check_state(p->match.remote_state);
	check_cidrs(p->match.src, p->match.n_src);
	check_cidrs(p->match.dst, p->match.n_dst);
	check_ports(p->match.src_ports, p->match.n_src_ports);
	check_ports(p->match.dst_ports, p->match.n_dst_ports);
	CHECK((unsigned)p->action < HS_ACTION_COUNT);
	CHECK(!(p->has_limit && p->has_rate));
	CHECK(!((p->has_limit || p->has_rate) && (p->match.idle_ms || p->match.state_age_ms)));
	CHECK(p->match.idle_ms <= TWENTY_DAYS_MS && p->match.state_age_ms <= TWENTY_DAYS_MS);
	if (p->action == HS_ACTION_VERIFY)
		CHECK(p->has_limit);
	if (p->has_limit)
		CHECK(p->limit_per <= HS_PER_DESTINATION);
	if (p->has_rate) {
		CHECK(p->rate_per <= HS_PER_DESTINATION);
		CHECK(p->rate_per_second >= 1 && p->rate_burst >= 1);
	}
}

static void check_config(const struct hs_config *c)
{
	CHECK(c->queue_first <= c->queue_last);
	CHECK(c->copy_range >= 1 && c->copy_range <= 65535);
	CHECK(c->queue_maxlen >= 1);
	CHECK(c->max_flows >= 1 && c->max_flows <= HS_TABLE_MAX_FLOWS);
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
		CHECK(c->timeout_ms[i] >= 1 && c->timeout_ms[i] <= TWENTY_DAYS_MS);
	CHECK(terminated(c->control_socket, sizeof(c->control_socket)));
	CHECK(c->control_socket[0] != '\0');
	CHECK(c->log_level <= HS_LOG_DEBUG);
	CHECK(c->events_mode <= HS_EVENTS_FILE);
	CHECK(terminated(c->events_path, sizeof(c->events_path)));
	if (c->events_mode == HS_EVENTS_FILE)
		CHECK(c->events_path[0] != '\0');
	CHECK(c->rules_nchains >= 1 && c->rules_nchains <= 3);
	for (unsigned i = 0; i < c->rules_nchains; i++)
		CHECK(terminated(c->rules_chains[i], sizeof(c->rules_chains[i])));
	CHECK(c->rules_n_in <= 8 && c->rules_n_out <= 8);
	for (unsigned i = 0; i < c->rules_n_in; i++)
		CHECK(terminated(c->rules_in_interfaces[i], sizeof(c->rules_in_interfaces[i])));
	for (unsigned i = 0; i < c->rules_n_out; i++)
		CHECK(terminated(c->rules_out_interfaces[i], sizeof(c->rules_out_interfaces[i])));
	CHECK(c->rules_ipv4 || c->rules_ipv6);
	CHECK(terminated(c->metrics_listen, sizeof(c->metrics_listen)));
	CHECK(c->policies.count <= HS_POLICY_MAX);
	for (uint32_t i = 0; i < c->policies.count; i++) {
		check_policy(&c->policies.items[i]);
		for (uint32_t j = 0; j < i; j++)
			CHECK(strcmp(c->policies.items[i].name, c->policies.items[j].name) != 0);
	}
}

static void check_diag(const struct hs_diag *d)
{
	if (d->text) {
		CHECK(d->len < d->cap);
		CHECK(d->text[d->len] == '\0');
		CHECK(d->len == 0 || d->text[d->len - 1] == '\n');
	} else {
		CHECK(d->len == 0);
	}
	CHECK(d->shown <= HS_DIAG_MAX_MESSAGES);
	CHECK(d->shown <= d->errors + d->warnings);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Static: struct hs_config holds a whole policy set and is large. */
	static struct hs_config config, sentinel, again;
	struct hs_diag diag, diag2;
	const char *text = (const char *)data;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	config = sentinel;
	hs_diag_init(&diag, "fuzz.yaml", text, size);
	int rc = hs_config_parse(text, size, &config, &diag);

	CHECK(rc == 0 || rc == -1);
	CHECK((rc == 0) == (diag.errors == 0));
	check_diag(&diag);
	if (rc == 0)
		check_config(&config);
	else
		CHECK(memcmp(&config, &sentinel, sizeof(config)) == 0);

	/* The same text gives the same verdict, messages and values. */
	memset(&again, 0x5a, sizeof(again));
	hs_diag_init(&diag2, "fuzz.yaml", text, size);
	int rc2 = hs_config_parse(text, size, &again, &diag2);
	CHECK(rc2 == rc);
	CHECK(diag2.errors == diag.errors && diag2.warnings == diag.warnings);
	CHECK(diag2.len == diag.len && (diag.len == 0 || memcmp(diag.text, diag2.text, diag.len) == 0));
	if (rc == 0)
		CHECK(memcmp(&config, &again, sizeof(config)) == 0);
	hs_diag_free(&diag2);
	hs_diag_free(&diag);

	/* Durations are parsed on their own too: the text up to the first newline. */
	char duration[64];
	size_t n = 0;
	while (n < size && n < sizeof(duration) - 1 && data[n] != '\n' && data[n] != '\0') {
		duration[n] = (char)data[n];
		n++;
	}
	duration[n] = '\0';
	uint64_t ms = 12345;
	if (!hs_parse_duration_ms(duration, &ms))
		CHECK(ms == 12345);
	return 0;
}
