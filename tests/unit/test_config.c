/*
 * test_config: unit tests of the configuration loader (daemon/config.c),
 * including the policy language, and its diagnostics (daemon/diag.c).
 * Besides the targeted tests below, every tests/unit/config/NAME.yaml is
 * loaded and its diagnostics compared byte for byte with NAME.expected
 * (empty for a file that must load cleanly), and every shipped file under
 * conf/ must load without a single problem.  Run with HS_UPDATE_GOLDEN=1
 * to rewrite the .expected files after a deliberate change to the
 * messages, then review the difference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hs_config.h"
#include "hs_config_print.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const uint32_t default_timeouts[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* Parses a string as if it were the file "test.yaml". */
static int parse(const char *yaml, struct hs_config *config, struct hs_diag *diag)
{
	hs_diag_init(diag, "test.yaml", yaml, strlen(yaml));
	return hs_config_parse(yaml, strlen(yaml), config, diag);
}

/* Parses text expected to fail, and checks that the diagnostics mention `needle`. */
static void expect_error(const char *yaml, const char *needle)
{
	struct hs_config config;
	struct hs_diag diag;

	hs_config_defaults(&config);
	int rc = parse(yaml, &config, &diag);
	if (rc != -1 || !strstr(hs_diag_text(&diag), needle)) {
		print_error("input:\n%s\nexpected an error containing: %s\ngot rc=%d:\n%s\n", yaml,
			    needle, rc, hs_diag_text(&diag));
		hs_diag_free(&diag);
		fail();
	}
	assert_true(diag.errors >= 1);
	hs_diag_free(&diag);
}

/* Parses text expected to load with no problem at all. */
static void expect_ok(const char *yaml, struct hs_config *config)
{
	struct hs_diag diag;

	int rc = parse(yaml, config, &diag);
	if (rc != 0 || diag.errors || diag.warnings) {
		print_error("input:\n%s\nexpected no problem, got rc=%d:\n%s\n", yaml, rc,
			    hs_diag_text(&diag));
		hs_diag_free(&diag);
		fail();
	}
	assert_string_equal(hs_diag_text(&diag), "");
	hs_diag_free(&diag);
}

static void assert_cidrs_equal(const struct hs_cidr *a, const struct hs_cidr *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(a[i].family, b[i].family);
		assert_int_equal(a[i].prefix, b[i].prefix);
		assert_memory_equal(a[i].addr.bytes, b[i].addr.bytes, sizeof(a[i].addr.bytes));
	}
}

static void assert_ports_equal(const struct hs_port_range *a, const struct hs_port_range *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(a[i].lo, b[i].lo);
		assert_int_equal(a[i].hi, b[i].hi);
	}
}

static void assert_policy_equal(const struct hs_policy *a, const struct hs_policy *b)
{
	const struct hs_flow_match *ma = &a->match, *mb = &b->match;

	assert_string_equal(a->name, b->name);
	assert_int_equal(a->line, b->line);
	assert_int_equal(ma->state.bits, mb->state.bits);
	assert_int_equal(ma->client_state.bits, mb->client_state.bits);
	assert_int_equal(ma->server_state.bits, mb->server_state.bits);
	assert_int_equal(ma->local_state.bits, mb->local_state.bits);
	assert_int_equal(ma->remote_state.bits, mb->remote_state.bits);
	assert_int_equal(ma->n_src, mb->n_src);
	assert_int_equal(ma->n_dst, mb->n_dst);
	assert_int_equal(ma->n_src_ports, mb->n_src_ports);
	assert_int_equal(ma->n_dst_ports, mb->n_dst_ports);
	assert_cidrs_equal(ma->src, mb->src, ma->n_src);
	assert_cidrs_equal(ma->dst, mb->dst, ma->n_dst);
	assert_ports_equal(ma->src_ports, mb->src_ports, ma->n_src_ports);
	assert_ports_equal(ma->dst_ports, mb->dst_ports, ma->n_dst_ports);
	assert_int_equal(ma->idle_ms, mb->idle_ms);
	assert_int_equal(ma->state_age_ms, mb->state_age_ms);
	assert_int_equal(a->has_limit, b->has_limit);
	assert_int_equal(a->limit_max, b->limit_max);
	assert_int_equal(a->limit_per, b->limit_per);
	assert_int_equal(a->has_rate, b->has_rate);
	assert_int_equal(a->rate_per_second, b->rate_per_second);
	/* An absent burst means syn_per_second; compare what takes effect. */
	assert_int_equal(a->rate_burst ? a->rate_burst : a->rate_per_second,
			 b->rate_burst ? b->rate_burst : b->rate_per_second);
	assert_int_equal(a->rate_per, b->rate_per);
	assert_int_equal(a->action, b->action);
	assert_int_equal(a->dry_run, b->dry_run);
}

/* Field by field, because struct assignment need not copy padding. */
static void assert_config_equal(const struct hs_config *a, const struct hs_config *b)
{
	assert_int_equal(a->queue_first, b->queue_first);
	assert_int_equal(a->queue_last, b->queue_last);
	assert_int_equal(a->fail_open, b->fail_open);
	assert_int_equal(a->copy_range, b->copy_range);
	assert_int_equal(a->queue_maxlen, b->queue_maxlen);
	assert_int_equal(a->own_mark, b->own_mark);
	assert_string_equal(a->control_socket, b->control_socket);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->events_mode, b->events_mode);
	assert_string_equal(a->events_path, b->events_path);
	assert_string_equal(a->drop_pcap_path, b->drop_pcap_path);
	assert_int_equal(a->drop_pcap_max_mb, b->drop_pcap_max_mb);
	assert_int_equal(a->max_flows, b->max_flows);
	assert_int_equal(a->pickup, b->pickup);
	assert_int_equal(a->strict, b->strict);
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
		assert_int_equal(a->timeout_ms[i], b->timeout_ms[i]);
	assert_int_equal(a->rules_nchains, b->rules_nchains);
	for (unsigned i = 0; i < a->rules_nchains && i < 3; i++)
		assert_string_equal(a->rules_chains[i], b->rules_chains[i]);
	assert_int_equal(a->rules_n_in, b->rules_n_in);
	for (unsigned i = 0; i < a->rules_n_in && i < 8; i++)
		assert_string_equal(a->rules_in_interfaces[i], b->rules_in_interfaces[i]);
	assert_int_equal(a->rules_n_out, b->rules_n_out);
	for (unsigned i = 0; i < a->rules_n_out && i < 8; i++)
		assert_string_equal(a->rules_out_interfaces[i], b->rules_out_interfaces[i]);
	assert_int_equal(a->rules_ipv4, b->rules_ipv4);
	assert_int_equal(a->rules_ipv6, b->rules_ipv6);
	assert_string_equal(a->metrics_listen, b->metrics_listen);
	assert_string_equal(a->state_dir, b->state_dir);
	assert_int_equal(a->state_interval_ms, b->state_interval_ms);
	assert_int_equal(a->state_max_age_ms, b->state_max_age_ms);
	assert_int_equal(a->policies.count, b->policies.count);
	for (uint32_t i = 0; i < a->policies.count && i < HS_POLICY_MAX; i++)
		assert_policy_equal(&a->policies.items[i], &b->policies.items[i]);
}

static void assert_is_default(const struct hs_config *config)
{
	struct hs_config defaults;

	hs_config_defaults(&defaults);
	assert_config_equal(config, &defaults);
}

/* Reads a whole (small) file; NULL if it cannot be read. */
static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, used = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (used + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
		}
		size_t n = fread(buf + used, 1, 4096, f);
		used += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[used] = '\0';
	*len = used;
	return buf;
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/*
 * Test data lives next to this source file.  `make check` runs from the
 * project root; other runs can define HS_TEST_SOURCE_DIR or rely on
 * __FILE__, which names this file as the compiler was given it.
 */
static bool find_path(const char *relative_to_root, const char *relative_to_here, char *out,
		      size_t size)
{
	struct stat st;
	char dir[512];
	const char *slash;

#ifdef HS_TEST_SOURCE_DIR
	snprintf(out, size, "%s/%s", HS_TEST_SOURCE_DIR, relative_to_here);
	if (stat(out, &st) == 0)
		return true;
#endif
	snprintf(out, size, "%s", relative_to_root);
	if (stat(out, &st) == 0)
		return true;
	slash = strrchr(__FILE__, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	snprintf(out, size, "%s/%s", dir, relative_to_here);
	return stat(out, &st) == 0;
}

/* ------------------------------------------------------------------------ */
/* Defaults and valid files                                                 */

static void test_defaults(void **state)
{
	struct hs_config config;

	(void)state;
	memset(&config, 0xA5, sizeof(config));
	hs_config_defaults(&config);
	assert_int_equal(config.queue_first, 0);
	assert_int_equal(config.queue_last, 0);
	assert_true(config.fail_open);
	assert_int_equal(config.copy_range, 128);
	assert_int_equal(config.queue_maxlen, 8192);
	assert_int_equal(config.own_mark, HS_DEFAULT_OWN_MARK);
	assert_string_equal(config.control_socket, HS_DEFAULT_CONTROL_SOCKET);
	assert_int_equal(config.log_level, HS_LOG_INFO);
	assert_int_equal(config.events_mode, HS_EVENTS_STDERR);
	assert_string_equal(config.events_path, "");
	assert_string_equal(config.drop_pcap_path, "");
	assert_int_equal(config.drop_pcap_max_mb, 64);
	assert_int_equal(config.max_flows, 262144);
	assert_true(config.pickup);
	assert_false(config.strict);
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
		assert_int_equal(config.timeout_ms[i], default_timeouts[i]);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_ESTABLISHED], 432000000);
}

static void test_empty_inputs(void **state)
{
	static const char *const inputs[] = {
		"", "\n\n", "# only a comment\n", "# one\n   # two\n\n", "---\n", "--- ~\n",
		"~\n", "null\n", "{}\n", "---\n...\n", "\xEF\xBB\xBF# a byte order mark\n",
	};
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
		memset(&config, 0, sizeof(config));
		expect_ok(inputs[i], &config);
		assert_is_default(&config);
	}

	/* No text at all is an empty file too. */
	hs_diag_init(&diag, NULL, NULL, 0);
	assert_int_equal(hs_config_parse(NULL, 0, &config, &diag), 0);
	assert_is_default(&config);
	hs_diag_free(&diag);
}

static void test_full_example(void **state)
{
	static const char yaml[] =
		"queue:   {num: \"0-1\", fail_open: false, copy_range: 256, maxlen: 4096}\n"
		"control: {socket: /tmp/hs/control.sock}\n"
		"log:     {level: debug, events: /var/log/handshaked/events.jsonl}\n"
		"table:\n"
		"  max_flows: 16777216\n"
		"  pickup: false\n"
		"  strict: true\n"
		"  timeouts: {syn_sent: 30s, syn_rcvd: 500ms, established: 1d, fin_wait: 2m,\n"
		"             close_wait: 1h, last_ack: 45, time_wait: 20d, closed: 1ms}\n"
		"policies: []\n";
	struct hs_config config;

	(void)state;
	expect_ok(yaml, &config);
	assert_int_equal(config.queue_first, 0);
	assert_int_equal(config.queue_last, 1);
	assert_false(config.fail_open);
	assert_int_equal(config.copy_range, 256);
	assert_int_equal(config.queue_maxlen, 4096);
	assert_string_equal(config.control_socket, "/tmp/hs/control.sock");
	assert_int_equal(config.log_level, HS_LOG_DEBUG);
	assert_int_equal(config.events_mode, HS_EVENTS_FILE);
	assert_string_equal(config.events_path, "/var/log/handshaked/events.jsonl");
	assert_int_equal(config.max_flows, 16777216);
	assert_false(config.pickup);
	assert_true(config.strict);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_SYN_SENT], 30000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_SYN_RCVD], 500);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_ESTABLISHED], 86400000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_FIN_WAIT], 120000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_CLOSE_WAIT], 3600000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_LAST_ACK], 45000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_TIME_WAIT], 1728000000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_CLOSED], 1);
}

/* Keys left out keep their defaults; the ones given change only themselves. */
static void test_partial_file(void **state)
{
	struct hs_config config, expected;

	(void)state;
	expect_ok("table:\n  timeouts:\n    time_wait: 30\n", &config);
	hs_config_defaults(&expected);
	expected.timeout_ms[HS_TIMEOUT_TIME_WAIT] = 30000;
	assert_config_equal(&config, &expected);

	/* Sections with every key commented out are null, which means empty. */
	expect_ok("queue:\n  # num: 3\ncontrol:\nlog: ~\ntable:\n  timeouts:\npolicies:\n", &config);
	assert_is_default(&config);
}

/*
 * A half-closed connection keeps a socket as long as an open one: fin_wait
 * and close_wait follow established unless they are given themselves.
 */
static void test_half_closed_follow_established(void **state)
{
	struct hs_config config, expected;

	(void)state;
	expect_ok("table:\n  timeouts:\n    established: 3600\n", &config);
	hs_config_defaults(&expected);
	expected.timeout_ms[HS_TIMEOUT_ESTABLISHED] = 3600000;
	expected.timeout_ms[HS_TIMEOUT_FIN_WAIT] = 3600000;
	expected.timeout_ms[HS_TIMEOUT_CLOSE_WAIT] = 3600000;
	assert_config_equal(&config, &expected);

	expect_ok("table:\n  timeouts: {close_wait: 60, established: 2h}\n", &config);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_CLOSE_WAIT], 60000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_FIN_WAIT], 7200000);

	/* By default both are the established timeout. */
	hs_config_defaults(&expected);
	assert_int_equal(expected.timeout_ms[HS_TIMEOUT_CLOSE_WAIT], expected.timeout_ms[HS_TIMEOUT_ESTABLISHED]);
	assert_int_equal(expected.timeout_ms[HS_TIMEOUT_FIN_WAIT], expected.timeout_ms[HS_TIMEOUT_ESTABLISHED]);
}

static void test_queue_num_forms(void **state)
{
	static const struct {
		const char *yaml;
		uint16_t first, last;
	} cases[] = {
		{ "queue: {num: 7}", 7, 7 },
		{ "queue: {num: \"7\"}", 7, 7 },
		{ "queue: {num: 0-3}", 0, 3 },
		{ "queue: {num: \"5-5\"}", 5, 5 },
		{ "queue: {num: 65535}", 65535, 65535 },
		{ "queue: {num: 65472-65535}", 65472, 65535 },
	};
	struct hs_config config;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		expect_ok(cases[i].yaml, &config);
		assert_int_equal(config.queue_first, cases[i].first);
		assert_int_equal(config.queue_last, cases[i].last);
	}
	expect_error("queue: {num: 65536}", "queue.num: 65536 is out of range");
	expect_error("queue: {num: 1-65536}", "queue.num: 1-65536 is out of range");
	expect_error("queue: {num: 3-1}", "queue.num: range 3-1 is reversed");
	expect_error("queue: {num: 0-64}", "queue.num: range 0-64 has 65 queues, more than the 64 workers");
	expect_error("queue: {num: -1}", "queue.num: \"-1\" is not a queue number");
	expect_error("queue: {num: 1-}", "queue.num: \"1-\" is not a queue number");
	expect_error("queue: {num: 1-2-3}", "queue.num: \"1-2-3\" is not a queue number");
	expect_error("queue: {num: 0x10}", "queue.num: \"0x10\" is not a queue number");
	expect_error("queue: {num: \"\"}", "queue.num: \"\" is not a queue number");
	expect_error("queue: {num: 1.5}", "queue.num: \"1.5\" is not a queue number");
}

static void test_state(void **state)
{
	struct hs_config config;
	(void)state;

	expect_ok("", &config);
	assert_string_equal(config.state_dir, "");
	assert_int_equal(config.state_interval_ms, 60000);
	assert_int_equal(config.state_max_age_ms, 300000);
	expect_ok("state: {dir: /var/lib/handshaked, interval: 5s, max_age: 1h}", &config);
	assert_string_equal(config.state_dir, "/var/lib/handshaked");
	assert_int_equal(config.state_interval_ms, 5000);
	assert_int_equal(config.state_max_age_ms, 3600000);
	expect_ok("state: {dir: off, interval: 0}", &config);
	assert_string_equal(config.state_dir, "");
	assert_int_equal(config.state_interval_ms, 0);
	expect_ok("state: {interval: off}", &config);
	assert_int_equal(config.state_interval_ms, 0);
	expect_error("state: {dir: var/lib}", "state.dir: \"var/lib\" is not off or an absolute directory");
	expect_error("state: {interval: soon}", "state.interval: \"soon\" is not a duration");
	expect_error("state: {max_age: 0}", "state.max_age: must be greater than zero");
	expect_error("state: {max_age: off}", "state.max_age: \"off\" is not a duration");
	expect_error("state: {directory: /x}", "unknown key \"directory\"");
}

static void test_rules_and_metrics(void **state)
{
	struct hs_config config;

	(void)state;
	hs_config_defaults(&config);
	assert_int_equal(config.rules_nchains, 1);
	assert_string_equal(config.rules_chains[0], "FORWARD");
	assert_true(config.rules_ipv4 && config.rules_ipv6);
	assert_string_equal(config.metrics_listen, "");

	expect_ok("rules: {chains: [prerouting, OUTPUT, PREROUTING], in_interfaces: eth0, out_interfaces: [wg+, eth1],"
		  " families: ipv6}\nmetrics: {listen: \"[::1]:9547\"}", &config);
	assert_int_equal(config.rules_nchains, 2);
	assert_string_equal(config.rules_chains[0], "PREROUTING");
	assert_string_equal(config.rules_chains[1], "OUTPUT");
	assert_int_equal(config.rules_n_in, 1);
	assert_string_equal(config.rules_in_interfaces[0], "eth0");
	assert_int_equal(config.rules_n_out, 2);
	assert_string_equal(config.rules_out_interfaces[1], "eth1");
	assert_false(config.rules_ipv4);
	assert_true(config.rules_ipv6);
	assert_string_equal(config.metrics_listen, "[::1]:9547");
	expect_ok("metrics: {listen: 127.0.0.1:9547}", &config);
	assert_string_equal(config.metrics_listen, "127.0.0.1:9547");
	expect_ok("metrics: {listen: off}", &config);
	assert_string_equal(config.metrics_listen, "");

	expect_error("rules: {chains: [POSTROUTING]}", "rules.chains: \"POSTROUTING\" is not a chain");
	expect_error("rules: {chains: [INPUT, OUTPUT, PREROUTING]}",
		     "rules.chains: INPUT and PREROUTING both queue the packets to this host");
	expect_error("rules: {chains: FORWAD}", "did you mean \"FORWARD\"");
	expect_error("rules: {chains: []}", "rules.chains: at least one chain is needed");
	expect_error("rules: {in_interfaces: [\"a/b\"]}", "rules.in_interfaces: \"a/b\" is not an interface name");
	expect_error("rules: {in_interfaces: [averyveryverylongname]}", "is not an interface name");
	expect_error("rules: {families: [ipv5]}", "rules.families: \"ipv5\" is not a family");
	expect_error("rules: {families: [{a: 1}]}", "rules.families: expected a word, got a mapping");
	expect_error("rules: {chain: [INPUT]}", "unknown key \"chain\" in rules");
	expect_error("metrics: {listen: localhost:9547}", "metrics.listen: \"localhost:9547\" is not off or ADDRESS:PORT");
	expect_error("metrics: {listen: \"127.0.0.1:0\"}", "is not off or ADDRESS:PORT");
	expect_error("metrics: {listen: \"127.0.0.1\"}", "is not off or ADDRESS:PORT");
}

static void test_booleans(void **state)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "on", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "NO", "off", "Off" };
	char yaml[64];
	struct hs_config config;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		snprintf(yaml, sizeof(yaml), "table: {strict: %s}", yes[i]);
		expect_ok(yaml, &config);
		assert_true(config.strict);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		snprintf(yaml, sizeof(yaml), "queue: {fail_open: %s}", no[i]);
		expect_ok(yaml, &config);
		assert_false(config.fail_open);
	}
	expect_error("table: {pickup: 1}", "table.pickup: \"1\" is not a boolean");
	expect_error("table: {pickup: y}", "table.pickup: \"y\" is not a boolean");
	expect_error("table: {pickup: maybe}", "table.pickup: \"maybe\" is not a boolean");
	expect_error("table: {pickup: \"\"}", "table.pickup: \"\" is not a boolean");
}

static void test_integer_limits(void **state)
{
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	expect_ok("queue: {copy_range: 65535, maxlen: 4294967295}\ntable: {max_flows: 1}", &config);
	assert_int_equal(config.copy_range, 65535);
	assert_int_equal(config.queue_maxlen, 4294967295u);
	assert_int_equal(config.max_flows, 1);
	expect_ok("table: {max_flows: 16777216}", &config);
	assert_int_equal(config.max_flows, HS_TABLE_MAX_FLOWS);

	expect_error("queue: {copy_range: 0}", "queue.copy_range: 0 is out of range (1 to 65535)");
	expect_error("queue: {copy_range: 65536}", "queue.copy_range: 65536 is out of range");
	expect_ok("queue: {own_mark: 0xDEADbeef}", &config);
	assert_int_equal(config.own_mark, 0xdeadbeefu);
	expect_ok("queue: {own_mark: 77}", &config);
	assert_int_equal(config.own_mark, 77);
	expect_error("queue: {own_mark: 0x}", "queue.own_mark: \"0x\" is not a whole number");
	expect_error("queue: {own_mark: 0x1g}", "queue.own_mark: \"0x1g\" is not a whole number");
	expect_error("queue: {own_mark: 0x0}", "queue.own_mark: 0x0 is out of range (1 to 4294967295)");
	expect_error("queue: {own_mark: 0x100000000}", "queue.own_mark: 0x100000000 is out of range");
	expect_error("queue: {maxlen: 0}", "queue.maxlen: 0 is out of range (1 to 4294967295)");
	expect_error("queue: {maxlen: 4294967296}", "queue.maxlen: 4294967296 is out of range");
	expect_error("table: {max_flows: 0}", "table.max_flows: 0 is out of range (1 to 16777216)");
	expect_error("table: {max_flows: 16777217}", "table.max_flows: 16777217 is out of range");
	expect_error("table: {max_flows: 99999999999999999999999999999999}",
		     "table.max_flows: 99999999999999999999... is out of range");
	expect_error("table: {max_flows: -1}", "table.max_flows: \"-1\" is not a whole number");
	expect_error("table: {max_flows: 1e6}", "table.max_flows: \"1e6\" is not a whole number");
	expect_error("table: {max_flows: \" 10\"}", "table.max_flows: \" 10\" is not a whole number");

	/* A copy_range that may cut TCP options is a warning, not an error. */
	assert_int_equal(parse("queue: {copy_range: 64}", &config, &diag), 0);
	assert_int_equal(diag.errors, 0);
	assert_int_equal(diag.warnings, 1);
	assert_non_null(strstr(hs_diag_text(&diag), "warning: queue.copy_range: 64 bytes may cut"));
	assert_int_equal(config.copy_range, 64);
	hs_diag_free(&diag);
	expect_ok("queue: {copy_range: 120}", &config);
}

static void test_log_and_control(void **state)
{
	static const char *const levels[] = { "error", "warning", "notice", "info", "debug" };
	char yaml[512], path[300];
	struct hs_config config;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		snprintf(yaml, sizeof(yaml), "log: {level: %s}", levels[i]);
		expect_ok(yaml, &config);
		assert_int_equal(config.log_level, (int)i);
	}
	expect_ok("log: {level: Warning}", &config);
	assert_int_equal(config.log_level, HS_LOG_WARNING);
	expect_error("log: {level: verbose}",
		     "log.level: unknown level \"verbose\" (expected error, warning, notice, info or debug)");
	expect_error("log: {level: warn}", "log.level: unknown level \"warn\" (did you mean \"warning\"?)");
	expect_error("log: {level: dbug}", "(did you mean \"debug\"?)");

	expect_ok("log: {events: off}", &config);
	assert_int_equal(config.events_mode, HS_EVENTS_OFF);
	expect_ok("log: {events: /var/log/x.jsonl}\n", &config);
	assert_int_equal(config.events_mode, HS_EVENTS_FILE);
	assert_string_equal(config.events_path, "/var/log/x.jsonl");
	expect_error("log: {events: events.jsonl}", "log.events: \"events.jsonl\" is a relative path");
	expect_error("log: {events: ./x}", "is a relative path");
	expect_error("log: {events: stdout}", "log.events: \"stdout\" is not stderr, off or an absolute");
	expect_error("log: {events: stdrr}", "(did you mean \"stderr\"?)");
	expect_error("log: {events: \"\"}", "log.events: empty value");

	expect_ok("log: {pcap: /var/log/handshaked/dropped.pcap, pcap_max_mb: 2}\n", &config);
	assert_string_equal(config.drop_pcap_path, "/var/log/handshaked/dropped.pcap");
	assert_int_equal(config.drop_pcap_max_mb, 2);
	expect_ok("log: {pcap: \"off\"}\n", &config);
	assert_string_equal(config.drop_pcap_path, "");
	expect_error("log: {pcap: dropped.pcap}", "log.pcap: \"dropped.pcap\" is not off or an absolute file path");
	expect_error("log: {pcap_max_mb: 0}", "log.pcap_max_mb: 0 is out of range (1 to 1048576)");

	/* events_path holds 255 bytes and its NUL. */
	memset(path, 'e', sizeof(path));
	path[0] = '/';
	path[255] = '\0';
	snprintf(yaml, sizeof(yaml), "log: {events: %s}", path);
	expect_ok(yaml, &config);
	assert_int_equal(strlen(config.events_path), 255);
	path[255] = 'e';
	path[256] = '\0';
	snprintf(yaml, sizeof(yaml), "log: {events: %s}", path);
	expect_error(yaml, "log.events: the path is 256 bytes, too long (at most 255)");

	/* log.pcap holds 255 bytes too; state.dir leaves room for "/handshaked.snap.tmp" (20). */
	path[255] = '\0';
	snprintf(yaml, sizeof(yaml), "log: {pcap: %s}", path);
	expect_ok(yaml, &config);
	assert_int_equal(strlen(config.drop_pcap_path), 255);
	path[255] = 'e';
	snprintf(yaml, sizeof(yaml), "log: {pcap: %s}", path);
	expect_error(yaml, "log.pcap: the path is 256 bytes, too long (at most 255)");
	path[235] = '\0';
	snprintf(yaml, sizeof(yaml), "state: {dir: %s}", path);
	expect_ok(yaml, &config);
	assert_int_equal(strlen(config.state_dir), 235);
	path[235] = 'e';
	path[236] = '\0';
	snprintf(yaml, sizeof(yaml), "state: {dir: %s}", path);
	expect_error(yaml, "state.dir: the path is 236 bytes, too long (at most 235)");

	/* A UNIX socket address holds 107 bytes and a NUL. */
	memset(path, 's', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(yaml, sizeof(yaml), "control: {socket: %s}", path);
	expect_ok(yaml, &config);
	assert_string_equal(config.control_socket, path);
	path[107] = 's';
	path[108] = '\0';
	snprintf(yaml, sizeof(yaml), "control: {socket: %s}", path);
	expect_error(yaml, "control.socket: the path is 108 bytes, too long for a UNIX socket (at most 107)");
	expect_error("control: {socket: \"\"}", "control.socket: the path is empty");
	expect_error("control: {socket: \"/a\\0b\"}", "control.socket: value contains a NUL character");
}

/* ------------------------------------------------------------------------ */
/* Durations                                                                */

static void test_duration_forms(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} good[] = {
		{ "0", 0 },
		{ "30", 30000 },
		{ "30s", 30000 },
		{ "500ms", 500 },
		{ "5m", 300000 },
		{ "2h", 7200000 },
		{ "1d", 86400000 },
		{ "0ms", 0 },
		{ "007s", 7000 },
		{ "18446744073709551615ms", UINT64_MAX },
		{ "213503982334d", 213503982334ull * 86400000ull },
	};
	static const char *const bad[] = {
		"", "s", "ms", "-5", "-5s", "+5", "5x", "5 s", " 5", "5 ", "1.5h", "5S", "5M", "5sec",
		"5mss", "5dd", "0x10", "1e3", "18446744073709551616ms", "18446744073709551615s",
		"213503982335d", "99999999999999999999999999", "--5", "5-",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		uint64_t ms = 12345;
		if (!hs_parse_duration_ms(good[i].text, &ms)) {
			print_error("rejected \"%s\"\n", good[i].text);
			fail();
		}
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t ms = 12345;
		if (hs_parse_duration_ms(bad[i], &ms)) {
			print_error("accepted \"%s\"\n", bad[i]);
			fail();
		}
		assert_int_equal(ms, 12345);    /* untouched on failure */
	}
	uint64_t ms = 1;
	assert_false(hs_parse_duration_ms(NULL, &ms));
}

static void test_timeouts_in_config(void **state)
{
	struct hs_config config;

	(void)state;
	expect_ok("table:\n  timeouts:\n    syn_sent: 5\n    syn_rcvd: 5s\n    established: 5m\n"
		  "    fin_wait: 5h\n    close_wait: 5d\n    last_ack: 5ms\n    time_wait: \"90s\"\n"
		  "    closed: 1\n", &config);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_SYN_SENT], 5000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_SYN_RCVD], 5000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_ESTABLISHED], 300000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_FIN_WAIT], 18000000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_CLOSE_WAIT], 432000000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_LAST_ACK], 5);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_TIME_WAIT], 90000);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_CLOSED], 1000);

	/* The limits: above zero, at most 20 days. */
	expect_ok("table: {timeouts: {established: 1728000000ms}}", &config);
	assert_int_equal(config.timeout_ms[HS_TIMEOUT_ESTABLISHED], 1728000000);
	expect_ok("table: {timeouts: {established: 1728000}}", &config);
	expect_ok("table: {timeouts: {established: 480h}}", &config);
	expect_error("table: {timeouts: {established: 1728000001ms}}",
		     "table.timeouts.established: \"1728000001ms\" is longer than the maximum of 20 days");
	expect_error("table: {timeouts: {established: 21d}}", "is longer than the maximum of 20 days");
	expect_error("table: {timeouts: {established: 99999999999999999999999d}}",
		     "is longer than the maximum of 20 days");
	expect_error("table: {timeouts: {closed: 0}}",
		     "table.timeouts.closed: a timeout must be greater than zero");
	expect_error("table: {timeouts: {closed: 0ms}}", "must be greater than zero");
	expect_error("table: {timeouts: {closed: -10}}", "must be greater than zero");
	expect_error("table: {timeouts: {closed: 10 s}}",
		     "table.timeouts.closed: \"10 s\" is not a duration (expected seconds, or a number "
		     "with a unit: 500ms, 30s, 5m, 2h, 1d)");
	expect_error("table: {timeouts: {closed: \"\"}}", "\"\" is not a duration");
	expect_error("table: {timeouts: {closed: 1.5s}}", "\"1.5s\" is not a duration");
}

/* ------------------------------------------------------------------------ */
/* Error classes                                                            */

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_error("table:\n  max_flow: 10\n",
		     "test.yaml:2:3: error: unknown key \"max_flow\" in table (did you mean \"max_flows\"?)\n"
		     "  max_flow: 10\n"
		     "  ^~~~~~~~\n");
	expect_error("tabel: {}", "unknown top-level key \"tabel\" (did you mean \"table\"?)");
	expect_error("Queue: {}", "unknown top-level key \"Queue\" (did you mean \"queue\"?)");
	expect_error("queue: {fail-open: true}", "(did you mean \"fail_open\"?)");
	expect_error("table: {timeouts: {establised: 1}}",
		     "unknown key \"establised\" in table.timeouts (did you mean \"established\"?)");
	expect_error("table: {time: 1}", "(did you mean \"timeouts\"?)");
	expect_error("table: {syn_sent: 1}", "unknown key \"syn_sent\" in table (it belongs in table.timeouts)");
	expect_error("max_flows: 1", "unknown top-level key \"max_flows\" (it belongs in table)");
	expect_error("log: {queue: {}}", "unknown key \"queue\" in log (it belongs at the top level)");
	expect_error("frobnicate: 1", "unknown top-level key \"frobnicate\"\n");
	expect_error("queue: {x: 1}", "unknown key \"x\" in queue\n");
	expect_error("\"\": 1", "unknown top-level key \"\"");
	expect_error("polices: []", "unknown top-level key \"polices\" (did you mean \"policies\"?)");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_error("queue: 3", "test.yaml:1:8: error: queue: expected a mapping, got a scalar");
	expect_error("queue: [1]", "queue: expected a mapping, got a list");
	expect_error("queue: \"\"", "queue: expected a mapping, got a scalar");
	expect_error("table: {timeouts: [1, 2]}", "table.timeouts: expected a mapping, got a list");
	expect_error("queue: {num: {a: 1}}", "queue.num: expected a scalar value, got a mapping");
	expect_error("table: {max_flows: [1]}", "table.max_flows: expected a scalar value, got a list");
	expect_error("table: {timeouts: {closed: {}}}",
		     "table.timeouts.closed: expected a scalar value, got a mapping");
	expect_error("policies: {a: 1}", "policies: expected a list, got a mapping");
	expect_error("policies: deny", "policies: expected a list, got a scalar");
	expect_error("? [a]\n: 1\n", "a top-level key must be a name, got a list");
	expect_error("table: {? {a: 1} : 1}", "a key in table must be a name, got a mapping");
	expect_error("table:\n  max_flows:\n", "test.yaml:2:3: error: table.max_flows: missing value\n"
						"  max_flows:\n  ^~~~~~~~~\n");
	expect_error("log: {level: ~}", "log.level: missing value");
	expect_error("log: {level: null}", "log.level: missing value");

	/* An empty list, or nothing at all, is no policies. */
	struct hs_config config;
	expect_ok("policies: []", &config);
	assert_int_equal(config.policies.count, 0);
	expect_ok("policies:\n", &config);
	assert_int_equal(config.policies.count, 0);
	expect_error("policies: [3]", "policy #1: expected a mapping with name, match and action, got a scalar");
	expect_error("policies:\n  - a\n", "test.yaml:2:5: error: policy #1: expected a mapping");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	expect_error("queue:\n  num: 1\n  num: 2\n",
		     "test.yaml:3:3: error: duplicate key \"num\" in queue (first given on line 2)\n"
		     "  num: 2\n  ^~~\n");
	expect_error("queue: {}\ntable: {}\nqueue: {}\n",
		     "test.yaml:3:1: error: duplicate top-level key \"queue\" (first given on line 1)");
	expect_error("table: {timeouts: {closed: 1, closed: 2}}",
		     "duplicate key \"closed\" in table.timeouts (first given on line 1)");
}

static void test_top_level_not_mapping(void **state)
{
	(void)state;
	expect_error("- queue\n- table\n",
		     "test.yaml:1:1: error: the configuration must be a mapping (of queue, control, log, "
		     "table, policies), got a list\n- queue\n^~~~~~~\n");
	expect_error("hello\n", "the configuration must be a mapping (of queue, control, log, table, "
				"policies), got a scalar");
	expect_error("\"\"\n", "got a scalar");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("queue:\n  num: 1\n fail_open: true\n",
		     "test.yaml:3:2: error: syntax error: did not find expected key (while parsing a "
		     "block mapping at line 1, column 1)\n fail_open: true\n ^\n");
	expect_error("queue:\n\tnum: 1\n",
		     "test.yaml:2:1: error: syntax error: a tab where YAML expects spaces");
	expect_error("queue: {num: 1\n", "syntax error: did not find expected ',' or '}'");
	expect_error("a: *undefined\n", "test.yaml:1:4: error: syntax error: found undefined alias");
	expect_error("a: [\n", "syntax error:");
	expect_error("queue: {num: 1}\n---\ntable: {}\n",
		     "test.yaml:2:1: error: unexpected second YAML document (the configuration must be "
		     "a single document)\n---\n^~~\n");
	expect_error("queue: {num: 1}\n---\n[\n", "syntax error:");
	expect_error("log: {level: caf\xE9}\n",
		     "test.yaml:1:17: error: invalid UTF-8 byte 0xE9; the file must be UTF-8\n"
		     "log: {level: caf?}\n                ^\n");
	expect_error("a: b\n\xFF\n", "test.yaml:2:1: error: invalid UTF-8 byte 0xFF; the file must be UTF-8\n");
	expect_error("a: \xC3", "test.yaml:1:4: error: invalid UTF-8 byte 0xC3");
	expect_error("a: \x01\n", "test.yaml:1:4: error: invalid text: control characters are not "
				  "allowed (0x01)\na: ?\n   ^\n");
	expect_error("\xFF\xFEq\x00", "test.yaml: error: the file is UTF-16; a configuration must be UTF-8\n");
}

/* Every problem in a file is reported, not just the first. */
static void test_multiple_errors(void **state)
{
	static const char yaml[] =
		"queue:\n"
		"  num: 65536\n"              /* 1: range */
		"  fail_open: perhaps\n"      /* 2: boolean */
		"  copy_range: 0\n"           /* 3: range */
		"control: {socket: \"\"}\n"   /* 4: empty path */
		"log: {level: chatty, events: rel/x}\n"   /* 5, 6 */
		"table:\n"
		"  max_flow: 1\n"             /* 7: unknown key */
		"  pickup: [true]\n"          /* 8: type */
		"  timeouts:\n"
		"    syn_sent: 0\n"           /* 9: zero */
		"    syn_sent: 1\n"           /* 10: duplicate */
		"    closed: 21d\n"           /* 11: too long */
		"bogus: 1\n";                 /* 12: unknown top-level key */
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	assert_int_equal(parse(yaml, &config, &diag), -1);
	assert_int_equal(diag.errors, 12);
	assert_int_equal(diag.warnings, 0);
	/* In document order, each with its own position. */
	static const char *const in_order[] = {
		"test.yaml:2:8:", "test.yaml:3:14:", "test.yaml:4:15:", "test.yaml:5:19:",
		"test.yaml:6:14:", "test.yaml:6:30:", "test.yaml:8:3:", "test.yaml:9:11:",
		"test.yaml:11:15:", "test.yaml:12:5:", "test.yaml:13:13:", "test.yaml:14:1:",
	};
	assert_non_null(diag.text);
	size_t from = 0;
	for (size_t i = 0; i < ARRAY_SIZE(in_order); i++) {
		const char *found = strstr(diag.text + from, in_order[i]);
		if (!found) {
			print_error("missing (or out of order) %s in:\n%s", in_order[i], diag.text);
			fail();
		}
		from = (size_t)(found - diag.text) + 1;
	}
	hs_diag_free(&diag);
}

/* A failed parse must leave the caller's configuration exactly as it was. */
static void test_error_leaves_config_untouched(void **state)
{
	struct hs_config config, before;
	struct hs_diag diag;

	(void)state;
	expect_ok("table: {max_flows: 77}\nlog: {level: debug}", &config);
	before = config;
	assert_int_equal(parse("table: {max_flows: 5}\nlog: {level: nope}", &config, &diag), -1);
	hs_diag_free(&diag);
	assert_config_equal(&config, &before);
	assert_int_equal(config.max_flows, 77);

	/* Warnings do not count as errors: the values are applied. */
	assert_int_equal(parse("queue: {copy_range: 100}", &config, &diag), 0);
	assert_int_equal(config.copy_range, 100);
	hs_diag_free(&diag);
}

/* An alias to its own ancestor must not make the walk loop. */
static void test_alias_cycle(void **state)
{
	struct hs_config config;

	(void)state;
	expect_error("&a {queue: *a, table: &t {timeouts: *t}}\n",
		     "unknown key \"timeouts\" in table.timeouts (it belongs in table)");
	/* Plain aliases are fine: the same values reused. */
	expect_ok("queue: {num: &n 3}\ntable: {max_flows: *n}\n", &config);
	assert_int_equal(config.queue_first, 3);
	assert_int_equal(config.max_flows, 3);
}

/* ------------------------------------------------------------------------ */
/* Policies                                                                 */

/* Parses text expected to load, with at least one warning containing `needle`. */
static void expect_warning(const char *yaml, const char *needle)
{
	struct hs_config config;
	struct hs_diag diag;

	int rc = parse(yaml, &config, &diag);
	if (rc != 0 || diag.errors || !diag.warnings || !strstr(hs_diag_text(&diag), needle)) {
		print_error("input:\n%s\nexpected a warning containing: %s\ngot rc=%d:\n%s\n", yaml,
			    needle, rc, hs_diag_text(&diag));
		hs_diag_free(&diag);
		fail();
	}
	hs_diag_free(&diag);
}

/* INPUT works but queues after early demux: the loader says so and points to PREROUTING. */
static void test_input_chain_warns(void **state)
{
	struct hs_config config;

	(void)state;
	expect_warning("rules: {chains: [INPUT, OUTPUT]}", "rules.chains: INPUT queues after early demux");
	expect_ok("rules: {chains: [PREROUTING, OUTPUT]}", &config);
	expect_ok("rules: {chains: [FORWARD]}", &config);
}

/* A policy as the loader builds it when only name and action are given. */
static struct hs_policy blank_policy(const char *name, unsigned line, enum hs_policy_action action)
{
	struct hs_policy p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.line = line;
	hs_flow_match_init(&p.match);
	p.action = action;
	return p;
}

static struct hs_cidr cidr(const char *address, uint8_t prefix)
{
	struct hs_cidr c;

	memset(&c, 0, sizeof(c));
	assert_true(hs_addr_parse(address, &c.addr, &c.family));
	c.prefix = prefix;
	return c;
}

/* The example from the product specification, field by field. */
static void test_policy_spec_example(void **state)
{
	static const char yaml[] =
		"policies:\n"
		"  - name: syn-flood                          # admission: checked when a new SYN arrives\n"
		"    match: {state: SYN_RCVD, dst_port: 8080}\n"
		"    limit: {max: 8, per: destination}\n"
		"    action: verify\n"
		"  - name: half-open-timeout                  # timed: checked as flows age\n"
		"    match: {server_state: SYN_RCVD, age: 2s}\n"
		"    action: reset\n"
		"  - name: stale-close-wait\n"
		"    match: {state: CLOSE_WAIT, idle: 30s}\n"
		"    action: reset\n"
		"    dry_run: false\n"
		"  - name: per-client-cap\n"
		"    match: {state: ESTABLISHED}\n"
		"    limit: {max: 20, per: source}\n"
		"    action: drop\n"
		"  - name: new-conn-rate\n"
		"    match: {dst_port: [80, 443]}\n"
		"    rate: {syn_per_second: 10, burst: 20, per: source}\n"
		"    action: drop\n";
	struct hs_config config;
	struct hs_policy want[5];

	(void)state;
	want[0] = blank_policy("syn-flood", 2, HS_ACTION_VERIFY);
	want[0].match.state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	want[0].match.n_dst_ports = 1;
	want[0].match.dst_ports[0] = (struct hs_port_range){ 8080, 8080 };
	want[0].has_limit = true;
	want[0].limit_max = 8;
	want[0].limit_per = HS_PER_DESTINATION;
	want[1] = blank_policy("half-open-timeout", 6, HS_ACTION_RESET);
	want[1].match.server_state = HS_STATE_SET(HS_TCP_SYN_RCVD);
	want[1].match.state_age_ms = 2000;
	want[2] = blank_policy("stale-close-wait", 9, HS_ACTION_RESET);
	want[2].match.state = HS_STATE_SET(HS_TCP_CLOSE_WAIT);
	want[2].match.idle_ms = 30000;
	want[3] = blank_policy("per-client-cap", 13, HS_ACTION_DROP);
	want[3].match.state = HS_STATE_SET(HS_TCP_ESTABLISHED);
	want[3].has_limit = true;
	want[3].limit_max = 20;
	want[3].limit_per = HS_PER_SOURCE;
	want[4] = blank_policy("new-conn-rate", 17, HS_ACTION_DROP);
	want[4].match.n_dst_ports = 2;
	want[4].match.dst_ports[0] = (struct hs_port_range){ 80, 80 };
	want[4].match.dst_ports[1] = (struct hs_port_range){ 443, 443 };
	want[4].has_rate = true;
	want[4].rate_per_second = 10;
	want[4].rate_burst = 20;
	want[4].rate_per = HS_PER_SOURCE;

	expect_ok(yaml, &config);
	assert_int_equal(config.policies.count, 5);
	for (int i = 0; i < 5; i++)
		assert_policy_equal(&config.policies.items[i], &want[i]);
}

/* Absent keys leave their fields at "any": states -1, lists and times 0. */
static void test_policy_minimal(void **state)
{
	struct hs_config config;
	struct hs_policy want = blank_policy("a", 2, HS_ACTION_LOG);

	(void)state;
	expect_ok("policies:\n  - {name: a, action: log}\n", &config);
	assert_int_equal(config.policies.count, 1);
	assert_policy_equal(&config.policies.items[0], &want);
	/* An empty or null match is the same: it matches everything. */
	expect_ok("policies:\n  - {name: a, action: log, match: {}}\n", &config);
	assert_policy_equal(&config.policies.items[0], &want);
	expect_ok("policies:\n  - name: a\n    match:\n    action: log\n", &config);
	assert_policy_equal(&config.policies.items[0], &want);
	/* dry_run defaults to false and takes every boolean spelling. */
	expect_ok("policies: [{name: a, action: log, dry_run: yes}]", &config);
	assert_true(config.policies.items[0].dry_run);
	expect_ok("policies: [{name: a, action: log, dry_run: Off}]", &config);
	assert_false(config.policies.items[0].dry_run);
}

static void test_policy_states_and_actions(void **state)
{
	static const struct {
		const char *text;
		int state;
	} states[] = {
		{ "SYN_RCVD", HS_TCP_SYN_RCVD }, { "syn-rcvd", HS_TCP_SYN_RCVD },
		{ "Close_Wait", HS_TCP_CLOSE_WAIT }, { "CLOSED", HS_TCP_CLOSED },
		{ "listen", HS_TCP_LISTEN }, { "FIN-WAIT-2", HS_TCP_FIN_WAIT_2 },
		{ "time_wait", HS_TCP_TIME_WAIT }, { "LAST_ACK", HS_TCP_LAST_ACK },
	};
	static const struct {
		const char *text;
		enum hs_policy_action action;
	} actions[] = {
		{ "accept", HS_ACTION_ACCEPT }, { "DROP", HS_ACTION_DROP }, { "Reset", HS_ACTION_RESET },
		{ "log", HS_ACTION_LOG },
	};
	char yaml[256];
	struct hs_config config;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		snprintf(yaml, sizeof(yaml),
			 "policies: [{name: a, action: log, match: {state: %s, client_state: %s, "
			 "server_state: %s}}]", states[i].text, states[i].text, states[i].text);
		expect_ok(yaml, &config);
		assert_int_equal(config.policies.items[0].match.state.bits, HS_STATE_SET(states[i].state).bits);
		assert_int_equal(config.policies.items[0].match.client_state.bits, HS_STATE_SET(states[i].state).bits);
		assert_int_equal(config.policies.items[0].match.server_state.bits, HS_STATE_SET(states[i].state).bits);
		assert_int_equal(config.policies.items[0].match.local_state.bits, 0);
		assert_int_equal(config.policies.items[0].match.remote_state.bits, 0);
		snprintf(yaml, sizeof(yaml), "rules: {chains: [PREROUTING, OUTPUT]}\n"
			 "policies: [{name: a, action: log, match: {local_state: %s, "
			 "remote_state: %s}}]", states[i].text, states[i].text);
		expect_ok(yaml, &config);
		assert_int_equal(config.policies.items[0].match.local_state.bits, HS_STATE_SET(states[i].state).bits);
		assert_int_equal(config.policies.items[0].match.remote_state.bits, HS_STATE_SET(states[i].state).bits);
		assert_int_equal(config.policies.items[0].match.state.bits, 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		snprintf(yaml, sizeof(yaml), "policies: [{name: a, action: %s}]", actions[i].text);
		expect_ok(yaml, &config);
		assert_int_equal(config.policies.items[0].action, actions[i].action);
	}
	expect_ok("policies: [{name: a, action: VERIFY, limit: {max: 1}}]", &config);
	assert_int_equal(config.policies.items[0].action, HS_ACTION_VERIFY);
	expect_ok("policies: [{name: a, action: drop, match: {idle: 1s}}]", &config);
	expect_ok("policies: [{name: a, action: reset, match: {age: 1s}}]", &config);
	expect_ok("policies: [{name: a, action: log, match: {age: 1s, idle: 2s}}]", &config);

	assert_string_equal(hs_policy_action_name(HS_ACTION_ACCEPT), "accept");
	assert_string_equal(hs_policy_action_name(HS_ACTION_DROP), "drop");
	assert_string_equal(hs_policy_action_name(HS_ACTION_RESET), "reset");
	assert_string_equal(hs_policy_action_name(HS_ACTION_LOG), "log");
	assert_string_equal(hs_policy_action_name(HS_ACTION_VERIFY), "verify");
	assert_string_equal(hs_policy_action_name(HS_ACTION_COUNT), "unknown");
	assert_string_equal(hs_policy_action_name((enum hs_policy_action)-1), "unknown");
}

static void test_policy_addresses(void **state)
{
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	expect_ok("policies:\n"
		  "  - name: a\n"
		  "    action: log\n"
		  "    match:\n"
		  "      src: [10.0.0.0/8, 192.168.1.7, \"fd00::/8\", \"::1\", 172.16.128.0/17,\n"
		  "            \"2001:db8:8000::/33\", 11.1.2.3/32, \"fe80::1/128\", 0.0.0.0/0, \"::/0\"]\n"
		  "      dst: 203.0.113.9\n", &config);
	const struct hs_flow_match *m = &config.policies.items[0].match;
	const struct hs_cidr src[] = {
		cidr("10.0.0.0", 8), cidr("192.168.1.7", 32), cidr("fd00::", 8), cidr("::1", 128),
		cidr("172.16.128.0", 17), cidr("2001:db8:8000::", 33), cidr("11.1.2.3", 32),
		cidr("fe80::1", 128), cidr("0.0.0.0", 0), cidr("::", 0),
	};
	const struct hs_cidr dst = cidr("203.0.113.9", 32);
	assert_int_equal(m->n_src, ARRAY_SIZE(src));
	assert_cidrs_equal(m->src, src, ARRAY_SIZE(src));
	assert_int_equal(m->n_dst, 1);
	assert_cidrs_equal(m->dst, &dst, 1);
	assert_int_equal(m->n_src_ports, 0);
	assert_int_equal(m->n_dst_ports, 0);

	/* Host bits are a warning, and cleared: the network the prefix names is meant. */
	assert_int_equal(parse("policies: [{name: a, action: log, match: {src: [10.1.2.3/8, "
			       "\"fd00::1:2/65\", 172.16.200.1/17, \"2001:db8:ffff::/33\"]}}]", &config, &diag), 0);
	assert_int_equal(diag.warnings, 4);
	assert_non_null(strstr(hs_diag_text(&diag), "\"10.1.2.3/8\" has host bits set; it is taken as 10.0.0.0/8"));
	assert_non_null(strstr(hs_diag_text(&diag), "\"fd00::1:2/65\" has host bits set; it is taken as fd00::/65"));
	assert_non_null(strstr(hs_diag_text(&diag), "it is taken as 172.16.128.0/17"));
	assert_non_null(strstr(hs_diag_text(&diag), "it is taken as 2001:db8:8000::/33"));
	hs_diag_free(&diag);
	m = &config.policies.items[0].match;
	const struct hs_cidr masked[] = {
		cidr("10.0.0.0", 8), cidr("fd00::", 65), cidr("172.16.128.0", 17), cidr("2001:db8:8000::", 33),
	};
	assert_cidrs_equal(m->src, masked, ARRAY_SIZE(masked));

	/* Up to 16 entries. */
	expect_ok("policies: [{name: a, action: log, match: {dst: [10.0.0.1, 10.0.0.2, 10.0.0.3, "
		  "10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, 10.0.0.9, 10.0.0.10, 10.0.0.11, "
		  "10.0.0.12, 10.0.0.13, 10.0.0.14, 10.0.0.15, 10.0.0.16]}}]", &config);
	assert_int_equal(config.policies.items[0].match.n_dst, 16);
	expect_error("policies: [{name: a, action: log, match: {dst: [10.0.0.1, 10.0.0.2, 10.0.0.3, "
		     "10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, 10.0.0.9, 10.0.0.10, 10.0.0.11, "
		     "10.0.0.12, 10.0.0.13, 10.0.0.14, 10.0.0.15, 10.0.0.16, 10.0.0.17]}}]",
		     "policy \"a\": match.dst: more than 16 entries in the list");

	expect_error("policies: [{name: a, action: log, match: {src: 10.0.0.0/33}}]",
		     "policy \"a\": match.src: prefix /33 is too long for an IPv4 address (at most /32)");
	expect_error("policies: [{name: a, action: log, match: {src: \"fd00::/129\"}}]",
		     "match.src: prefix /129 is too long for an IPv6 address (at most /128)");
	expect_error("policies: [{name: a, action: log, match: {src: 10.0.0.0/999999999999999999999999999999}}]",
		     "match.src: prefix /99999999999999999999... is too long");
	static const char *const bad[] = {
		"10.0.0.256", "10.0.0", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "/8", "\"\"", "host",
		"\"fd00::/ 8\"", "\"fd00::g\"", "\" 10.0.0.1\"", "10.0.0.0/0x8", "\"fe80::1%eth0\"",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char yaml[160];
		snprintf(yaml, sizeof(yaml), "policies: [{name: a, action: log, match: {dst: %s}}]", bad[i]);
		expect_error(yaml, "is not an IP address or CIDR (such as 10.0.0.0/8 or fd00::/8)");
	}
	expect_error("policies: [{name: a, action: log, match: {dst: []}}]",
		     "match.dst: the list is empty (leave the key out to match any)");
	expect_error("policies: [{name: a, action: log, match: {dst: {a: 1}}}]",
		     "match.dst: expected an address or CIDR or a list of them, got a mapping");
	expect_error("policies: [{name: a, action: log, match: {dst: [[10.0.0.1]]}}]",
		     "match.dst: expected an address or CIDR, got a list");
	expect_error("policies: [{name: a, action: log, match: {dst: [10.0.0.1, ~]}}]",
		     "match.dst: empty entry in the list");
	expect_error("policies:\n  - name: a\n    action: log\n    match:\n      src:\n",
		     "test.yaml:5:7: error: policy \"a\": match.src: missing value");
	expect_error("policies: [{name: a, action: log, match: {src: \"10.0.0.1\\0\"}}]",
		     "match.src: value contains a NUL character");
}

static void test_policy_ports(void **state)
{
	struct hs_config config;

	(void)state;
	expect_ok("policies: [{name: a, action: log, match: {dst_port: 80, src_port: \"1024-65535\"}}]",
		  &config);
	const struct hs_flow_match *m = &config.policies.items[0].match;
	assert_int_equal(m->n_dst_ports, 1);
	assert_int_equal(m->dst_ports[0].lo, 80);
	assert_int_equal(m->dst_ports[0].hi, 80);
	assert_int_equal(m->n_src_ports, 1);
	assert_int_equal(m->src_ports[0].lo, 1024);
	assert_int_equal(m->src_ports[0].hi, 65535);

	expect_ok("policies: [{name: a, action: log, match: {dst_port: [80, 443, 8000-8080, \"9000\", 1-1, 65535]}}]",
		  &config);
	m = &config.policies.items[0].match;
	const struct hs_port_range want[] = { { 80, 80 }, { 443, 443 }, { 8000, 8080 }, { 9000, 9000 },
					      { 1, 1 }, { 65535, 65535 } };
	assert_int_equal(m->n_dst_ports, ARRAY_SIZE(want));
	assert_ports_equal(m->dst_ports, want, ARRAY_SIZE(want));
	assert_int_equal(m->n_src_ports, 0);

	expect_ok("policies: [{name: a, action: log, match: {dst_port: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
		  "11, 12, 13, 14, 15, 16]}}]", &config);
	assert_int_equal(config.policies.items[0].match.n_dst_ports, 16);
	expect_error("policies: [{name: a, action: log, match: {dst_port: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
		     "11, 12, 13, 14, 15, 16, 17]}}]", "match.dst_port: more than 16 entries in the list");

	expect_error("policies: [{name: a, action: log, match: {dst_port: 0}}]",
		     "match.dst_port: 0 is out of range (ports go from 1 to 65535)");
	expect_error("policies: [{name: a, action: log, match: {dst_port: 65536}}]",
		     "match.dst_port: 65536 is out of range");
	expect_error("policies: [{name: a, action: log, match: {dst_port: 0-80}}]",
		     "match.dst_port: 0-80 is out of range");
	expect_error("policies: [{name: a, action: log, match: {src_port: 90-80}}]",
		     "match.src_port: range 90-80 is reversed (the first port must not be above the last)");
	expect_error("policies: [{name: a, action: log, match: {src_port: \"80:90\"}}]",
		     "match.src_port: \"80:90\" is not a port (1 to 65535) or a range such as \"8000-8080\" "
		     "(a range is written with '-')");
	static const char *const bad[] = { "http", "-80", "80-", "1-2-3", "\" 80\"", "8.0", "\"\"", "0x50" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char yaml[128];
		snprintf(yaml, sizeof(yaml), "policies: [{name: a, action: log, match: {dst_port: %s}}]", bad[i]);
		expect_error(yaml, "is not a port (1 to 65535) or a range such as \"8000-8080\"");
	}
	expect_error("policies: [{name: a, action: log, match: {dst_port: []}}]", "match.dst_port: the list is empty");
	expect_error("policies: [{name: a, action: log, match: {dst_port: {80: 1}}}]",
		     "match.dst_port: expected a port or range or a list of them, got a mapping");
}

static void test_policy_durations(void **state)
{
	struct hs_config config;

	(void)state;
	expect_ok("policies: [{name: a, action: log, match: {idle: 30, age: 500ms}}]", &config);
	assert_int_equal(config.policies.items[0].match.idle_ms, 30000);
	assert_int_equal(config.policies.items[0].match.state_age_ms, 500);
	expect_ok("policies: [{name: a, action: log, match: {idle: 20d, age: 1ms}}]", &config);
	assert_int_equal(config.policies.items[0].match.idle_ms, 1728000000u);
	assert_int_equal(config.policies.items[0].match.state_age_ms, 1);
	expect_ok("policies: [{name: a, action: log, match: {age: 5m}}, {name: b, action: reset, "
		  "match: {idle: 2h}}]", &config);
	assert_int_equal(config.policies.items[0].match.state_age_ms, 300000);
	assert_int_equal(config.policies.items[1].match.idle_ms, 7200000);

	expect_error("policies: [{name: a, action: log, match: {idle: 0}}]",
		     "policy \"a\": match.idle: the duration must be greater than zero");
	expect_error("policies: [{name: a, action: log, match: {age: 0ms}}]",
		     "match.age: the duration must be greater than zero");
	expect_error("policies: [{name: a, action: log, match: {age: -5s}}]", "must be greater than zero");
	expect_error("policies: [{name: a, action: log, match: {idle: 21d}}]",
		     "match.idle: \"21d\" is longer than the maximum of 20 days");
	expect_error("policies: [{name: a, action: log, match: {idle: 1728000001ms}}]",
		     "is longer than the maximum of 20 days");
	expect_error("policies: [{name: a, action: log, match: {idle: 99999999999999999999999d}}]",
		     "is longer than the maximum of 20 days");
	expect_error("policies: [{name: a, action: log, match: {idle: soon}}]",
		     "match.idle: \"soon\" is not a duration (expected seconds, or a number with a unit: "
		     "500ms, 30s, 5m, 2h, 1d)");
	expect_error("policies: [{name: a, action: log, match: {idle: [1s]}}]",
		     "match.idle: expected a duration, got a list");
}

static void test_policy_limit_and_rate(void **state)
{
	struct hs_config config;
	const struct hs_policy *p = &config.policies.items[0];

	(void)state;
	expect_ok("policies: [{name: a, action: drop, limit: {max: 8}}]", &config);
	assert_true(p->has_limit);
	assert_false(p->has_rate);
	assert_int_equal(p->limit_max, 8);
	assert_int_equal(p->limit_per, HS_PER_DESTINATION);
	expect_ok("policies: [{name: a, action: drop, limit: {max: 16777216, per: Global}}]", &config);
	assert_int_equal(p->limit_max, 16777216);
	assert_int_equal(p->limit_per, HS_PER_GLOBAL);
	expect_ok("policies: [{name: a, action: verify, limit: {per: source, max: 1}}]", &config);
	assert_int_equal(p->limit_max, 1);
	assert_int_equal(p->limit_per, HS_PER_SOURCE);

	expect_ok("policies: [{name: a, action: drop, rate: {syn_per_second: 10}}]", &config);
	assert_true(p->has_rate);
	assert_false(p->has_limit);
	assert_int_equal(p->rate_per_second, 10);
	assert_int_equal(p->rate_burst, 10);       /* burst defaults to the rate */
	assert_int_equal(p->rate_per, HS_PER_SOURCE);
	expect_ok("policies: [{name: a, action: log, rate: {burst: 1, syn_per_second: 1000000, "
		  "per: destination}}]", &config);
	assert_int_equal(p->rate_per_second, 1000000);
	assert_int_equal(p->rate_burst, 1);
	assert_int_equal(p->rate_per, HS_PER_DESTINATION);

	expect_error("policies: [{name: a, action: drop, limit: {per: source}}]",
		     "policy \"a\": limit: missing \"max\"");
	expect_error("policies:\n  - name: a\n    action: drop\n    limit:\n",
		     "test.yaml:4:5: error: policy \"a\": limit: missing \"max\"");
	expect_error("policies: [{name: a, action: drop, rate: {burst: 3}}]",
		     "policy \"a\": rate: missing \"syn_per_second\"");
	expect_error("policies: [{name: a, action: drop, limit: {max: 0}}]",
		     "limit.max: 0 is out of range (1 to 16777216)");
	expect_error("policies: [{name: a, action: drop, limit: {max: 16777217}}]",
		     "limit.max: 16777217 is out of range (1 to 16777216)");
	expect_error("policies: [{name: a, action: drop, limit: {max: many}}]",
		     "limit.max: \"many\" is not a whole number (expected 1 to 16777216)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 1000001}}]",
		     "rate.syn_per_second: 1000001 is out of range (1 to 1000000)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 5, burst: 0}}]",
		     "rate.burst: 0 is out of range (1 to 1000000)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 1.5}}]",
		     "rate.syn_per_second: \"1.5\" is not a whole number");
	expect_error("policies: [{name: a, action: drop, limit: {max: 3, per: everyone}}]",
		     "limit.per: unknown scope \"everyone\" (expected source, destination or global)");
	expect_error("policies: [{name: a, action: drop, limit: {max: 3, per: src}}]",
		     "limit.per: unknown scope \"src\" (did you mean \"source\"?)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 3, per: server}}]",
		     "rate.per: unknown scope \"server\" (did you mean \"destination\"?)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 3, per: globl}}]",
		     "(did you mean \"global\"?)");
	expect_error("policies: [{name: a, action: drop, limit: 8}]",
		     "policy \"a\": limit: expected a mapping such as {max: 8, per: source}, got a scalar");
	expect_error("policies: [{name: a, action: drop, rate: [10]}]",
		     "policy \"a\": rate: expected a mapping such as {syn_per_second: 10, burst: 20}, got a list");
}

/* The checks that span keys: what kind of policy it is, and what its action needs. */
static void test_policy_combinations(void **state)
{
	(void)state;
	expect_error("policies: [{name: a, action: drop, limit: {max: 3}, rate: {syn_per_second: 3}}]",
		     "test.yaml:1:53: error: policy \"a\": limit and rate cannot be combined in one policy");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 3}, limit: {max: 3}}]",
		     "test.yaml:1:63: error: policy \"a\": limit and rate cannot be combined");
	expect_error("policies: [{name: a, action: drop, match: {idle: 3s}, limit: {max: 3}}]",
		     "policy \"a\": limit cannot be used with match.idle: a policy is either admission "
		     "(limit or rate, judged when a connection opens) or timed (idle or age, judged as flows age)");
	expect_error("policies: [{name: a, action: drop, match: {age: 3s}, rate: {syn_per_second: 3}}]",
		     "policy \"a\": rate cannot be used with match.age");
	/* Even a bad duration shows what kind of policy was meant. */
	expect_error("policies: [{name: a, action: drop, match: {age: never}, limit: {max: 3}}]",
		     "limit cannot be used with match.age");
	expect_error("policies: [{name: a, action: verify}]",
		     "policy \"a\": action: verify needs a limit (such as limit: {max: 8})");
	expect_error("policies: [{name: a, action: verify, match: {state: SYN_RCVD}}]", "verify needs a limit");
	expect_error("policies: [{name: a, action: verify, rate: {syn_per_second: 3}}]",
		     "action: verify needs a limit, not a rate");
	expect_error("policies: [{name: a, action: verify, match: {idle: 5s}}]",
		     "action: verify cannot be used on a timed policy");
	expect_error("policies: [{name: a, action: accept, match: {age: 5s}}]",
		     "action: accept cannot be used on a timed policy");
	expect_error("policies: [{name: a, action: accept, match: {idle: 5s, state: CLOSE_WAIT}}]",
		     "action: accept cannot be used on a timed policy");

	/* Accept is fine where it can exempt traffic from later policies. */
	struct hs_config config;
	expect_ok("policies: [{name: a, action: accept, match: {state: ESTABLISHED}},"
		  " {name: b, action: accept, limit: {max: 3}}]", &config);
}

static void test_policy_names_and_structure(void **state)
{
	char yaml[256], name[80];
	struct hs_config config;

	(void)state;
	memset(name, 'n', 63);
	name[63] = '\0';
	snprintf(yaml, sizeof(yaml), "policies: [{name: %s, action: log}]", name);
	expect_ok(yaml, &config);
	assert_string_equal(config.policies.items[0].name, name);
	strcat(name, "x");
	snprintf(yaml, sizeof(yaml), "policies: [{name: %s, action: log}]", name);
	expect_error(yaml, "is 64 characters long (at most 63)");
	expect_ok("policies: [{name: A.b_c-9, action: log}]", &config);
	assert_string_equal(config.policies.items[0].name, "A.b_c-9");
	/* YAML would read 42 as a number, but a name is only text here. */
	expect_ok("policies: [{name: 42, action: log}]", &config);
	assert_string_equal(config.policies.items[0].name, "42");

	expect_error("policies: [{name: \"a b\", action: log}]",
		     "policy #1: name: \"a b\" may only contain letters, digits, '_', '.' and '-'");
	expect_error("policies: [{name: \"caf\xC3\xA9\", action: log}]", "may only contain letters");
	expect_error("policies: [{name: \"\", action: log}]", "policy #1: name: the name is empty");
	expect_error("policies: [{name: ~, action: log}]", "policy #1: name: missing value");
	expect_error("policies: [{name: [a], action: log}]", "policy #1: name: expected a name, got a list");
	expect_error("policies: [{name: \"a\\0b\", action: log}]", "name: value contains a NUL character");
	expect_error("policies: [{action: log}]",
		     "test.yaml:1:12: error: policy #1: missing \"name\" (every policy needs a unique name");
	expect_error("policies: [{name: a}]",
		     "policy \"a\": missing \"action\" (accept, drop, reset, log or verify)");
	expect_error("policies:\n  - {name: a, action: log}\n  - {name: b, action: log}\n  - {name: a, action: drop}\n",
		     "test.yaml:4:12: error: policy \"a\": name: \"a\" is already the name of the policy on line 2");
	/* Names are compared exactly: case makes a different name. */
	expect_ok("policies: [{name: A, action: log, match: {state: CLOSED}}, {name: a, action: log}]", &config);

	/* The policy is named in messages about keys before its name, too. */
	expect_error("policies:\n  - action: nope\n    name: later\n",
		     "test.yaml:2:13: error: policy \"later\": action: unknown action \"nope\"");
	expect_error("policies: [{name: a, action: deny}]", "action: unknown action \"deny\" (did you mean \"drop\"?)");
	expect_error("policies: [{name: a, action: reject}]", "(did you mean \"reset\"?)");
	expect_error("policies: [{name: a, action: allow}]", "(did you mean \"accept\"?)");
	expect_error("policies: [{name: a, action: verfy}]", "(did you mean \"verify\"?)");
	expect_error("policies: [{name: a, action: [drop]}]", "action: expected an action, got a list");
	expect_error("policies: [{name: a, action: log, dry_run: maybe}]",
		     "dry_run: \"maybe\" is not a boolean (expected true or false)");

	expect_error("policies: [{name: a, action: log}, 3]",
		     "policy #2: expected a mapping with name, match and action, got a scalar");
	expect_error("policies:\n  -\n", "policy #1: empty entry in the list (expected a mapping");
	expect_error("policies: [{name: a, action: log, match: [state]}]",
		     "policy \"a\": match: expected a mapping such as {state: CLOSE_WAIT, dst_port: 80}, got a list");
	expect_error("policies: [{name: a, action: log, match: CLOSE_WAIT}]", "match: expected a mapping");
	expect_error("policies: [{name: a, action: log, match: {state: [CLOSE_WAIT, LAST_ACK]}}]",
		     "match.state: expected a state name, got a list");
	expect_error("policies: [{name: a, action: log, ? [x] : 1}]", "policy \"a\": a key must be a name, got a list");
	expect_error("policies: [{name: a, action: log, match: {? {x: 1} : 1}}]",
		     "policy \"a\": a key in match must be a name, got a mapping");
	expect_error("policies: [{name: a, action: log, action: drop}]",
		     "policy \"a\": duplicate key \"action\" (first given on line 1)");
	expect_error("policies: [{name: a, action: log, match: {dst_port: 1, dst_port: 2}}]",
		     "duplicate key \"match.dst_port\"");
	expect_error("policies: [{name: a, action: drop, limit: {max: 1, max: 2}}]", "duplicate key \"limit.max\"");
}

static void test_policy_unknown_keys(void **state)
{
	(void)state;
	expect_error("policies: [{name: a, acton: log}]",
		     "policy \"a\": unknown key \"acton\" (did you mean \"action\"?)");
	expect_error("policies: [{name: a, action: log, dry-run: true}]", "(did you mean \"dry_run\"?)");
	expect_error("policies: [{name: a, action: log, match: {dport: 80}}]",
		     "policy \"a\": unknown key \"dport\" in match (did you mean \"dst_port\"?)");
	expect_error("policies: [{name: a, action: log, match: {saddr: 10.0.0.1}}]", "(did you mean \"src\"?)");
	expect_error("policies: [{name: a, action: log, match: {stat: CLOSED}}]", "(did you mean \"state\"?)");
	expect_error("policies: [{name: a, action: log, match: {dst-port: 1}}]", "(did you mean \"dst_port\"?)");
	expect_error("policies: [{name: a, action: log, dst_port: 80}]",
		     "unknown key \"dst_port\" (it belongs in match)");
	expect_error("policies: [{name: a, action: log, dport: 80}]",
		     "unknown key \"dport\" (did you mean \"dst_port\" in match?)");
	expect_error("policies: [{name: a, action: log, src_prt: 80}]",
		     "unknown key \"src_prt\" (did you mean \"src_port\" in match?)");
	expect_error("policies: [{name: a, action: drop, max: 3}]", "unknown key \"max\" (it belongs in limit)");
	expect_error("policies: [{name: a, action: drop, per: source}]",
		     "unknown key \"per\" (it belongs in limit or rate)");
	expect_error("policies: [{name: a, action: drop, match: {name: b}}]",
		     "unknown key \"name\" in match (it belongs at the policy's own level)");
	expect_error("policies: [{name: a, action: drop, limit: {max: 1, idle: 3s}}]",
		     "unknown key \"idle\" in limit (it belongs in match)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_sec: 1}}]",
		     "unknown key \"syn_per_sec\" in rate (did you mean \"syn_per_second\"?)");
	expect_error("policies: [{name: a, action: drop, rate: {syn_per_second: 1, max: 3}}]",
		     "unknown key \"max\" in rate (it belongs in limit)");
	expect_error("policies: [{name: a, action: drop, frobnicate: 1}]", "unknown key \"frobnicate\"\n");
}

static void test_policy_state_names(void **state)
{
	(void)state;
	expect_error("policies: [{name: a, action: log, match: {state: SYN_RECV}}]",
		     "policy \"a\": match.state: unknown state \"SYN_RECV\" (did you mean \"SYN_RCVD\"?)");
	expect_error("policies: [{name: a, action: log, match: {client_state: estab}}]",
		     "match.client_state: unknown state \"estab\" (did you mean \"ESTABLISHED\"?)");
	expect_error("policies: [{name: a, action: log, match: {server_state: close-wiat}}]",
		     "(did you mean \"CLOSE_WAIT\"?)");
	expect_error("policies: [{name: a, action: log, match: {state: FIN_WAIT}}]",
		     "match.state: unknown state \"FIN_WAIT\" (did you mean \"FIN_WAIT_1\" or \"FIN_WAIT_2\"?)");
	expect_error("policies: [{name: a, action: log, match: {state: open}}]",
		     "match.state: unknown state \"open\" (expected CLOSED, LISTEN, SYN_SENT, SYN_RCVD, "
		     "ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSING, TIME_WAIT, CLOSE_WAIT or LAST_ACK)");
	expect_error("policies: [{name: a, action: log, match: {state: \"\"}}]", "unknown state \"\"");
	expect_error("policies: [{name: a, action: log, match: {state: ~}}]", "match.state: missing value");
	expect_error("policies: [{name: a, action: log, match: {local_state: CLOSEWAIT}}]",
		     "policy \"a\": match.local_state: unknown state \"CLOSEWAIT\" (did you mean \"CLOSE_WAIT\"?)");
	expect_error("policies: [{name: a, action: log, match: {remote_state: [FIN_WAIT_2]}}]",
		     "match.remote_state: expected a state name, got a list");
	expect_error("policies: [{name: a, action: log, match: {local-state: CLOSE_WAIT}}]",
		     "unknown key \"local-state\" in match (did you mean \"local_state\"?)");
}

/*
 * A timed policy waiting longer than its connections stay in the table:
 * only open and half-closed connections are kept for a timed policy, so a
 * policy that can only match other states, idle longer than their
 * timeouts, never acts.  Timeouts given after the policies count.
 */
/* local_state and remote_state on FORWARD alone: no endpoint is local there, so the policy never acts. */
static void test_policy_local_needs_host_chains(void **state)
{
	struct hs_config config;

	(void)state;
	expect_warning("policies:\n"
		       "  - {name: cw, match: {local_state: CLOSE_WAIT, idle: 1m}, action: reset}\n",
		       "test.yaml:2:24: warning: policy \"cw\" matches on local_state, which only connections to or "
		       "from this host meet, but rules.chains queues FORWARD only: it can never act (an end host "
		       "queues PREROUTING and OUTPUT)\n");
	/* The rules may come after the policies; remote_state is named as written. */
	expect_warning("policies:\n"
		       "  - {name: peer, match: {remote_state: FIN_WAIT_2}, action: log}\n"
		       "rules: {chains: FORWARD}\n",
		       "policy \"peer\" matches on remote_state, which only connections");
	/* Any chain that sees the host's own connections is enough, wherever the rules key is. */
	static const char *const host_chains[] = { "[PREROUTING, OUTPUT]", "OUTPUT", "[FORWARD, INPUT]" };
	for (size_t i = 0; i < ARRAY_SIZE(host_chains); i++) {
		char yaml[256];

		snprintf(yaml, sizeof(yaml), "policies:\n  - {name: cw, match: {local_state: CLOSE_WAIT}, action: log}\n"
			 "rules: {chains: %s}\n", host_chains[i]);
		if (strstr(host_chains[i], "INPUT"))
			expect_warning(yaml, "INPUT queues after early demux");
		else
			expect_ok(yaml, &config);
	}
}

static void test_policy_unreachable_idle(void **state)
{
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	expect_warning("policies:\n"
		       "  - {name: late-syn, match: {state: SYN_SENT, idle: 2m}, action: reset}\n",
		       "test.yaml:2:53: warning: policy \"late-syn\" can never act: idle 120 s is longer than a "
		       "connection it matches stays idle in the table (at most 70 s, table.timeouts.syn_sent; "
		       "only open and half-closed connections are kept for a timed policy)\n");
	expect_warning("policies:\n"
		       "  - {name: tw, match: {client_state: TIME_WAIT, server_state: CLOSED, idle: 90s}, action: log}\n",
		       "idle 90 s is longer than a connection it matches stays idle in the table (at most 60 s, "
		       "table.timeouts.time_wait;");
	/* Either side in TIME_WAIT: the other may still be in LAST_ACK, which lasts longer. */
	expect_warning("policies:\n"
		       "  - {name: tw, match: {state: TIME_WAIT, idle: 3m}, action: log}\n",
		       "(at most 125 s, table.timeouts.last_ack;");
	expect_warning("policies:\n"
		       "  - {name: tw, match: {state: TIME_WAIT, idle: 40s}, action: log}\n"
		       "table: {timeouts: {time_wait: 30s, last_ack: 35s, syn_sent: 20s, syn_rcvd: 20s}}\n",
		       "idle 40 s is longer than a connection it matches stays idle in the table (at most 35 s");

	/* Reachable: within the timeout, or in states kept for the policy (however long). */
	static const char *const fine[] = {
		"policies:\n  - {name: tw, match: {state: TIME_WAIT, idle: 2m}, action: log}\n",
		"policies:\n  - {name: syn, match: {server_state: SYN_RCVD, idle: 35s}, action: reset}\n",
		"policies:\n  - {name: cw, match: {state: CLOSE_WAIT, idle: 19d}, action: reset}\n",
		("policies:\n  - {name: any, match: {dst_port: 22, idle: 19d}, action: log}\n"
		 "table: {timeouts: {established: 1h}}\n"),
		"policies:\n  - {name: age, match: {server_state: SYN_RCVD, age: 1m}, action: reset}\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(fine); i++) {
		int rc = parse(fine[i], &config, &diag);
		if (rc != 0 || diag.errors || diag.warnings) {
			print_error("input:\n%s\nexpected no problem, got rc=%d:\n%s\n", fine[i], rc,
				    hs_diag_text(&diag));
			hs_diag_free(&diag);
			fail();
		}
		hs_diag_free(&diag);
	}
}

/* Warnings: the file loads, but something in it cannot do what it seems to. */
static void test_policy_warnings(void **state)
{
	(void)state;
	/* State-entry: a broader earlier match. */
	expect_warning("policies:\n"
		       "  - {name: any, match: {state: CLOSE_WAIT}, action: log}\n"
		       "  - {name: web, match: {state: CLOSE_WAIT, dst_port: 80}, action: reset}\n",
		       "test.yaml:3:12: warning: policy \"web\" can never act: \"any\" (line 2) matches "
		       "everything it does\n");
	expect_warning("policies:\n"
		       "  - {name: any, match: {state: CLOSE_WAIT}, action: log}\n"
		       "  - {name: client, match: {client_state: CLOSE_WAIT, src: 10.0.0.0/8}, action: reset}\n",
		       "policy \"client\" can never act: \"any\" (line 2)");
	/* Several entries can cover together what none covers alone. */
	expect_warning("policies:\n"
		       "  - {name: halves, match: {src: [10.0.0.0/9, 10.128.0.0/9], dst_port: [1-100, 101-200]}, action: log}\n"
		       "  - {name: whole, match: {src: 10.0.0.0/8, dst_port: 50-150}, action: drop}\n",
		       "policy \"whole\" can never act: \"halves\" (line 2)");
	expect_warning("policies:\n"
		       "  - {name: both, match: {src: [\"::/0\", 0.0.0.0/0], dst_port: 1-65535}, action: log}\n"
		       "  - {name: any, action: drop}\n",
		       "policy \"any\" can never act: \"both\" (line 2)");
	/* Timed: same or broader match, and thresholds no longer. */
	expect_warning("policies:\n"
		       "  - {name: idle-30, match: {state: ESTABLISHED, idle: 30s}, action: log}\n"
		       "  - {name: idle-60, match: {state: ESTABLISHED, idle: 1m, age: 5s}, action: reset}\n",
		       "policy \"idle-60\" can never act: \"idle-30\" (line 2)");
	expect_warning("policies:\n"
		       "  - {name: same, match: {age: 2s}, action: reset}\n"
		       "  - {name: again, match: {age: 2s, server_state: SYN_RCVD}, action: reset}\n",
		       "policy \"again\" can never act: \"same\" (line 2)");
	/* Admission: a superset counted against a limit no higher, in groups no narrower. */
	expect_warning("policies:\n"
		       "  - {name: lim-8, match: {state: SYN_RCVD, dst_port: 8080}, limit: {max: 8}, action: verify}\n"
		       "  - {name: lim-16, match: {state: SYN_RCVD, dst_port: 8080}, limit: {max: 16}, action: drop}\n",
		       "policy \"lim-16\" can never act: \"lim-8\" (line 2)");
	expect_warning("policies:\n"
		       "  - {name: all, match: {state: SYN_RCVD}, limit: {max: 100, per: global}, action: drop}\n"
		       "  - {name: ssh, match: {state: SYN_RCVD, dst_port: 22}, limit: {max: 100, per: source}, action: drop}\n",
		       "policy \"ssh\" can never act: \"all\" (line 2)");
	expect_warning("policies:\n"
		       "  - {name: r1, match: {dst_port: [80, 443]}, rate: {syn_per_second: 10}, action: drop}\n"
		       "  - {name: r2, match: {dst_port: 443}, rate: {syn_per_second: 10, burst: 20}, action: drop}\n",
		       "policy \"r2\" can never act: \"r1\" (line 2)");
	/* A state-entry policy judges every new connection in the same pass, first. */
	expect_warning("policies:\n"
		       "  - {name: log-new, match: {client_state: SYN_SENT}, action: log}\n"
		       "  - {name: guard, match: {dst_port: 9090}, limit: {max: 3}, action: drop}\n",
		       "policy \"guard\" can never act: \"log-new\" (line 2) matches every new connection "
		       "it would judge, and acts first");
	/* Admission policies of one mechanism and scope that partly overlap. */
	expect_warning("policies:\n"
		       "  - {name: a, match: {dst_port: 8000-8080}, limit: {max: 8}, action: drop}\n"
		       "  - {name: b, match: {dst_port: 8050-8100}, limit: {max: 20}, action: drop}\n",
		       "test.yaml:3:12: warning: policy \"b\" overlaps \"a\" (line 2): new connections that "
		       "match both are counted against both");
	expect_warning("policies:\n"
		       "  - {name: a, match: {src: 10.0.0.0/8}, rate: {syn_per_second: 5}, action: drop}\n"
		       "  - {name: b, match: {dst_port: 22}, rate: {syn_per_second: 5}, action: drop}\n",
		       "policy \"b\" overlaps \"a\" (line 2)");
	/* Within one policy. */
	expect_warning("policies: [{name: a, action: log, match: {state: CLOSE_WAIT, client_state: ESTABLISHED, "
		       "server_state: SYN_RCVD}}]",
		       "policy \"a\": the policy can never match: no flow has CLOSE_WAIT on either side while "
		       "its client is in ESTABLISHED and its server in SYN_RCVD");
	expect_warning("policies: [{name: a, action: drop, match: {state: ESTABLISHED}, rate: {syn_per_second: 3}}]",
		       "policy \"a\": match.state has no effect on a rate");
	/* The local endpoint is the client or the server; the remote one is its peer. */
	expect_warning("policies: [{name: a, action: log, match: {client_state: ESTABLISHED, "
		       "server_state: ESTABLISHED, local_state: CLOSE_WAIT}}]",
		       "policy \"a\": the policy can never match: no flow's endpoints can be in the states its "
		       "state keys name together");
	expect_warning("policies: [{name: a, action: log, match: {state: LISTEN, local_state: CLOSE_WAIT, "
		       "remote_state: FIN_WAIT_2}}]", "the policy can never match");
	expect_warning("policies: [{name: a, action: drop, match: {local_state: ESTABLISHED}, "
		       "rate: {syn_per_second: 3}}]", "policy \"a\": match.local_state has no effect on a rate");
	/* A later policy inside an earlier one, on the host's own endpoint. */
	expect_warning("policies:\n"
		       "  - {name: a, match: {local_state: CLOSE_WAIT, idle: 2s}, action: reset}\n"
		       "  - {name: b, match: {local_state: CLOSE_WAIT, remote_state: FIN_WAIT_2, idle: 5s}, "
		       "action: reset}\n",
		       "policy \"b\" can never act: \"a\" (line 2) matches everything it does");
	expect_warning("policies: [{name: a, action: log, match: {dst_port: [1-1024, 443]}}]",
		       "match.dst_port: 443 is already covered by 1-1024 earlier in the list");
	expect_warning("policies: [{name: a, action: log, match: {src: [\"fd00::/8\", \"fd00:1::/32\"]}}]",
		       "match.src: \"fd00:1::/32\" is already covered by fd00::/8 earlier in the list");
	expect_warning("policies: [{name: a, action: log, match: {dst: \"::ffff:10.0.0.1\"}}]",
		       "match.dst: \"::ffff:10.0.0.1\" is an IPv4-mapped IPv6 address, which never matches: "
		       "IPv4 connections are tracked as IPv4 (write 10.0.0.1/32)");
}

/* Layouts that are deliberate must not be warned about. */
static void test_policy_no_false_warnings(void **state)
{
	static const char *const good[] = {
		/* A tighter limit for one port under a looser one for all: nested, not overlapping. */
		"policies:\n"
		"  - {name: ssh, match: {dst_port: 22}, limit: {max: 3, per: source}, action: drop}\n"
		"  - {name: all, limit: {max: 50, per: source}, action: drop}\n",
		/* The same, the other way round: the tighter one still acts first. */
		"policies:\n"
		"  - {name: all, limit: {max: 50, per: source}, action: drop}\n"
		"  - {name: ssh, match: {dst_port: 22}, limit: {max: 3, per: source}, action: drop}\n",
		/* Different scopes and mechanisms guard different things. */
		"policies:\n"
		"  - {name: a, match: {state: SYN_RCVD, dst_port: 8080}, limit: {max: 8}, action: verify}\n"
		"  - {name: b, match: {state: SYN_RCVD, dst_port: 8000-9000}, limit: {max: 8, per: source}, action: drop}\n"
		"  - {name: c, match: {dst_port: 8080}, rate: {syn_per_second: 10}, action: drop}\n"
		"  - {name: d, match: {dst_port: 8000-8090}, rate: {syn_per_second: 100, per: global}, action: drop}\n",
		/* A shorter timeout after a longer one still acts first. */
		"policies:\n"
		"  - {name: idle-30, match: {state: ESTABLISHED, idle: 30s}, action: reset}\n"
		"  - {name: idle-10, match: {state: ESTABLISHED, idle: 10s, dst_port: 80}, action: reset}\n"
		"  - {name: age-5, match: {state: ESTABLISHED, age: 5s}, action: log}\n",
		/* Each family's /0 covers only its own family. */
		"policies:\n"
		"  - {name: v6, match: {src: \"::/0\", state: CLOSING}, action: log}\n"
		"  - {name: any, match: {state: CLOSING}, action: drop}\n",
		/* A state-entry policy that new connections do not enter leaves admission alone. */
		"policies:\n"
		"  - {name: log-est, match: {state: ESTABLISHED}, action: log}\n"
		"  - {name: guard, limit: {max: 3}, action: drop}\n",
		/* Either end in CLOSE_WAIT is more than the host's own end: not a superset the other way. */
		"rules: {chains: [PREROUTING, OUTPUT]}\npolicies:\n"
		"  - {name: mine, match: {local_state: CLOSE_WAIT, idle: 2s}, action: reset}\n"
		"  - {name: any, match: {state: CLOSE_WAIT, idle: 5s}, action: log}\n",
		/* A state-entry policy on the local side does not take every new connection from a limit. */
		"rules: {chains: [PREROUTING, OUTPUT]}\npolicies:\n"
		"  - {name: new-out, match: {local_state: SYN_SENT}, action: log}\n"
		"  - {name: guard, limit: {max: 3}, action: drop}\n",
		/* Admission and timed policies are not compared with each other. */
		"policies:\n"
		"  - {name: t, match: {idle: 1s}, action: reset}\n"
		"  - {name: a, limit: {max: 1, per: global}, action: drop}\n"
		"  - {name: s, action: log}\n",
	};
	struct hs_config config;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		expect_ok(good[i], &config);
}

static void test_policy_count_limit(void **state)
{
	char *yaml = malloc(80 * 70);
	struct hs_config config;
	struct hs_diag diag;
	size_t len;

	(void)state;
	assert_non_null(yaml);
	len = (size_t)sprintf(yaml, "policies:\n");
	for (int i = 0; i < HS_POLICY_MAX; i++)
		len += (size_t)sprintf(yaml + len, "  - {name: p%d, match: {dst_port: %d}, action: log}\n", i, i + 1);
	expect_ok(yaml, &config);
	assert_int_equal(config.policies.count, HS_POLICY_MAX);
	assert_string_equal(config.policies.items[HS_POLICY_MAX - 1].name, "p63");
	assert_int_equal(config.policies.items[HS_POLICY_MAX - 1].line, HS_POLICY_MAX + 1);

	/* One more is an error, and the surplus policies are still checked. */
	len += (size_t)sprintf(yaml + len, "  - {name: p64, action: log}\n  - {name: p65, action: nope}\n");
	assert_int_equal(parse(yaml, &config, &diag), -1);
	assert_int_equal(diag.errors, 2);
	assert_non_null(strstr(hs_diag_text(&diag),
			       "test.yaml:66:5: error: policies: 66 policies, more than the maximum of 64\n"));
	assert_non_null(strstr(hs_diag_text(&diag), "test.yaml:67:25: error: policy \"p65\": action: unknown action"));
	hs_diag_free(&diag);
	free(yaml);
}

/* A file whose policies fail leaves the running set as it was. */
static void test_policy_error_keeps_old_set(void **state)
{
	struct hs_config config, before;
	struct hs_diag diag;

	(void)state;
	expect_ok("policies: [{name: keep, action: reset, match: {state: CLOSE_WAIT, idle: 30s}}]", &config);
	before = config;
	assert_int_equal(parse("policies: [{name: new, action: drop}, {name: bad, action: verify}]", &config,
			       &diag), -1);
	hs_diag_free(&diag);
	assert_config_equal(&config, &before);
	assert_string_equal(config.policies.items[0].name, "keep");

	/* A good file replaces the set whole, even with fewer policies. */
	expect_ok("policies: []", &config);
	assert_int_equal(config.policies.count, 0);
}

/* Aliases may reuse a match, and an alias to its own ancestor must not loop. */
static void test_policy_aliases(void **state)
{
	struct hs_config config;

	(void)state;
	expect_ok("policies:\n"
		  "  - {name: a, match: &m {state: CLOSE_WAIT, dst_port: 80}, action: log}\n"
		  "  - {name: b, match: *m, limit: {max: 3}, action: drop, dry_run: true}\n", &config);
	assert_int_equal(config.policies.count, 2);
	assert_true(config.policies.items[1].dry_run);
	assert_int_equal(config.policies.items[1].match.state.bits, HS_STATE_SET(HS_TCP_CLOSE_WAIT).bits);
	assert_int_equal(config.policies.items[1].match.dst_ports[0].lo, 80);
	expect_error("policies: &p [{name: a, action: log, match: {state: *p}}]",
		     "match.state: expected a state name, got a list");
	expect_error("policies:\n  - &p {name: a, action: log, match: *p}\n",
		     "policy \"a\": unknown key \"name\" in match (it belongs at the policy's own level)");
}

/* ------------------------------------------------------------------------ */
/* Diagnostics formatting                                                   */

static void test_diag_format(void **state)
{
	struct hs_diag diag;
	const char *src = "alpha: 1\n\tbeta: \xC3\xA9t\xC3\xA9 x\r\n\x1B[31mred\nlast";

	(void)state;
	hs_diag_init(&diag, "f.yaml", src, strlen(src));
	hs_diag_report(&diag, HS_DIAG_ERROR, 0, 0, 0, "no position %d", 1);
	hs_diag_report(&diag, HS_DIAG_WARNING, 1, 0, 0, "line only");
	hs_diag_report(&diag, HS_DIAG_ERROR, 1, 1, 5, "alpha");
	hs_diag_report(&diag, HS_DIAG_ERROR, 2, 8, 3, "tab and UTF-8 before the caret");
	hs_diag_report(&diag, HS_DIAG_ERROR, 2, 12, 100, "clamped to the line's end");
	hs_diag_report(&diag, HS_DIAG_ERROR, 3, 1, 1, "escape shown as ?");
	hs_diag_report(&diag, HS_DIAG_ERROR, 4, 5, 0, "past the end, width 0");
	hs_diag_report(&diag, HS_DIAG_ERROR, 4, 99, 1, "column beyond the line");
	hs_diag_report(&diag, HS_DIAG_ERROR, 9, 1, 1, "no such line");
	assert_string_equal(hs_diag_text(&diag),
			    "f.yaml: error: no position 1\n"
			    "f.yaml:1: warning: line only\n"
			    "alpha: 1\n"
			    "f.yaml:1:1: error: alpha\n"
			    "alpha: 1\n"
			    "^~~~~\n"
			    "f.yaml:2:8: error: tab and UTF-8 before the caret\n"
			    "\tbeta: \xC3\xA9t\xC3\xA9 x\n"
			    "\t      ^~~\n"
			    "f.yaml:2:12: error: clamped to the line's end\n"
			    "\tbeta: \xC3\xA9t\xC3\xA9 x\n"
			    "\t          ^\n"
			    "f.yaml:3:1: error: escape shown as ?\n"
			    "?[31mred\n"
			    "^\n"
			    "f.yaml:4:5: error: past the end, width 0\n"
			    "last\n"
			    "    ^\n"
			    "f.yaml:4:99: error: column beyond the line\n"
			    "last\n"
			    "    ^\n"
			    "f.yaml:9:1: error: no such line\n");
	assert_int_equal(diag.errors, 8);
	assert_int_equal(diag.warnings, 1);
	hs_diag_free(&diag);

	/* Without a source there is nothing to echo; without a name, "<config>". */
	hs_diag_init(&diag, NULL, NULL, 0);
	hs_diag_report(&diag, HS_DIAG_ERROR, 3, 4, 2, "%s", "bare");
	assert_string_equal(hs_diag_text(&diag), "<config>:3:4: error: bare\n");
	hs_diag_free(&diag);

	/* An empty collection's text is "", and freeing twice is harmless. */
	hs_diag_init(&diag, "x", "", 0);
	assert_string_equal(hs_diag_text(&diag), "");
	hs_diag_free(&diag);
	hs_diag_free(&diag);
}

/* The diagnostics keep their own copies of the name and the source. */
static void test_diag_copies_inputs(void **state)
{
	struct hs_diag diag;
	char *name = strdup("copy.yaml"), *src = strdup("key: value\n");

	(void)state;
	assert_non_null(name);
	assert_non_null(src);
	hs_diag_init(&diag, name, src, strlen(src));
	memset(src, 'X', strlen(src));
	memset(name, 'Y', strlen(name));
	free(src);
	free(name);
	hs_diag_report(&diag, HS_DIAG_ERROR, 1, 6, 5, "value");
	assert_string_equal(hs_diag_text(&diag), "copy.yaml:1:6: error: value\nkey: value\n     ^~~~~\n");
	hs_diag_free(&diag);
}

/* A very long line is shown as a window around the problem. */
static void test_diag_long_line(void **state)
{
	char src[1001];
	struct hs_diag diag;

	(void)state;
	for (size_t i = 0; i < 1000; i++)
		src[i] = (char)('a' + i % 26);
	src[1000] = '\0';
	hs_diag_init(&diag, "l.yaml", src, 1000);
	hs_diag_report(&diag, HS_DIAG_ERROR, 1, 501, 3, "middle");
	const char *text = hs_diag_text(&diag);
	const char *echo = strchr(text, '\n') + 1;
	const char *underline = strchr(echo, '\n') + 1;
	/* "..." + 160 characters + "...", the caret 60 characters into the window. */
	assert_int_equal(strchr(echo, '\n') - echo, 3 + 160 + 3);
	assert_memory_equal(echo, "...", 3);
	assert_memory_equal(echo + 3 + 60, src + 500, 3);
	assert_int_equal(strspn(underline, " "), 3 + 60);
	assert_memory_equal(underline + 63, "^~~\n", 4);
	hs_diag_free(&diag);

	/* Near the end, the window ends with the line. */
	hs_diag_init(&diag, "l.yaml", src, 1000);
	hs_diag_report(&diag, HS_DIAG_ERROR, 1, 1000, 50, "end");
	text = hs_diag_text(&diag);
	echo = strchr(text, '\n') + 1;
	assert_int_equal(strchr(echo, '\n') - echo, 3 + 160);
	underline = strchr(echo, '\n') + 1;
	assert_int_equal(strspn(underline, " "), 3 + 159);
	assert_string_equal(underline + 162, "^\n");
	hs_diag_free(&diag);
}

/* A file full of mistakes produces bounded output, but every problem counts. */
static void test_diag_cap(void **state)
{
	struct hs_diag diag;
	char *yaml = malloc(200 * 16);
	size_t len = 0;

	(void)state;
	assert_non_null(yaml);
	for (int i = 0; i < 150; i++)
		len += (size_t)sprintf(yaml + len, "bad%03d: 1\n", i);
	hs_diag_init(&diag, "many.yaml", yaml, len);
	struct hs_config config;
	assert_int_equal(hs_config_parse(yaml, len, &config, &diag), -1);
	assert_int_equal(diag.errors, 150);
	const char *text = hs_diag_text(&diag);
	assert_non_null(strstr(text, "many.yaml:100:1: error: unknown top-level key \"bad099\""));
	assert_null(strstr(text, "bad100"));
	const char *note = "many.yaml: note: too many problems; only the first 100 are shown\n";
	assert_non_null(strstr(text, note));
	assert_string_equal(text + strlen(text) - strlen(note), note);
	hs_diag_free(&diag);
	free(yaml);
}

/* User text in messages is escaped and shortened, never raw control bytes. */
static void test_message_quoting(void **state)
{
	char yaml[400];

	(void)state;
	expect_error("log: {level: \"a\\\"b\\\\c\\x1b[0m\"}", "unknown level \"a\\\"b\\\\c\\x1B[0m\"");
	snprintf(yaml, sizeof(yaml), "log: {level: %0300d}", 0);
	memset(yaml + 13, 'z', 300);
	expect_error(yaml, "log.level: unknown level \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...\" (expected");
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

static void test_load_missing_file(void **state)
{
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	hs_config_defaults(&config);
	config.max_flows = 9;
	assert_int_equal(hs_config_load("/nonexistent/handshaked.yaml", &config, &diag), -1);
	assert_string_equal(hs_diag_text(&diag),
			    "/nonexistent/handshaked.yaml: error: cannot open: No such file or directory\n");
	assert_int_equal(diag.errors, 1);
	assert_int_equal(config.max_flows, 9);
	hs_diag_free(&diag);

	assert_int_equal(hs_config_load("/", &config, &diag), -1);
	assert_string_equal(hs_diag_text(&diag), "/: error: cannot read: Is a directory\n");
	hs_diag_free(&diag);
}

static void test_load_size_cap(void **state)
{
	char path[] = "/tmp/test_config_XXXXXX";
	size_t cap = 1024 * 1024;
	char *big = malloc(cap + 1);
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	assert_non_null(big);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);

	/* Exactly 1 MiB of comments is still a configuration... */
	memset(big, '#', cap + 1);
	for (size_t i = 79; i < cap; i += 80)
		big[i] = '\n';
	big[cap - 1] = '\n';
	write_text(path, big, cap);
	assert_int_equal(hs_config_load(path, &config, &diag), 0);
	assert_string_equal(hs_diag_text(&diag), "");
	hs_diag_free(&diag);

	/* ...one byte more is not. */
	write_text(path, big, cap + 1);
	assert_int_equal(hs_config_load(path, &config, &diag), -1);
	assert_non_null(strstr(hs_diag_text(&diag), ": error: the file is larger than 1024 KiB"));
	assert_int_equal(diag.errors, 1);
	hs_diag_free(&diag);

	unlink(path);
	free(big);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_config_XXXXXX";
	const char *yaml = "table:\n  max_flows: 1000\n  pickup: nope\n";
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_text(path, yaml, strlen(yaml));
	assert_int_equal(hs_config_load(path, &config, &diag), -1);
	/* The diagnostics name the file and keep its text for the underline. */
	char expected[256];
	snprintf(expected, sizeof(expected),
		 "%s:3:11: error: table.pickup: \"nope\" is not a boolean (expected true or false)\n"
		 "  pickup: nope\n"
		 "          ^~~~\n", path);
	assert_string_equal(hs_diag_text(&diag), expected);
	assert_non_null(diag.source);
	assert_int_equal(diag.source_len, strlen(yaml));
	hs_diag_free(&diag);
	unlink(path);
}

/* The shipped configuration loads cleanly and spells out the defaults. */
static void test_shipped_config(void **state)
{
	char path[600];
	struct hs_config config;
	struct hs_diag diag;

	(void)state;
	assert_true(find_path("conf/handshaked.yaml", "../../conf/handshaked.yaml", path, sizeof(path)));
	memset(&config, 0, sizeof(config));
	int rc = hs_config_load(path, &config, &diag);
	if (rc != 0 || diag.errors || diag.warnings) {
		print_error("%s", hs_diag_text(&diag));
		hs_diag_free(&diag);
		fail();
	}
	hs_diag_free(&diag);
	/*
	 * If the shipped file ever departs from the defaults on purpose, say so
	 * here.  It turns snapshots on, in the unit's StateDirectory=: the
	 * daemon itself writes nowhere it was not told to.
	 */
	assert_string_equal(config.state_dir, "/var/lib/handshaked");
	config.state_dir[0] = '\0';
	assert_is_default(&config);
}

/* Collects the paths of every *.yaml under dir (recursively, in name order). */
static void collect_yaml(const char *dir, char ***paths, size_t *count, int depth)
{
	struct dirent **entries;
	int n = scandir(dir, &entries, NULL, alphasort);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *name = entries[i]->d_name;
		size_t len = strlen(name);
		char path[1024];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (name[0] != '.' && stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < 8) {
				collect_yaml(path, paths, count, depth + 1);
			} else if (S_ISREG(st.st_mode) && len > 5 && strcmp(name + len - 5, ".yaml") == 0) {
				char **grown = realloc(*paths, (*count + 1) * sizeof(**paths));
				assert_non_null(grown);
				*paths = grown;
				(*paths)[*count] = strdup(path);
				assert_non_null((*paths)[*count]);
				(*count)++;
			}
		}
		free(entries[i]);
	}
	free(entries);
}

/*
 * Every file shipped under conf/ is something an operator will copy, so
 * each must load without an error or a warning.
 */
static void test_shipped_examples(void **state)
{
	static const char *const required[] = {
		"/handshaked.yaml", "/examples/web-server.yaml", "/examples/syn-flood-guard.yaml",
		"/examples/close-wait-reaper.yaml",
	};
	char dir[600];
	char **paths = NULL;
	size_t count = 0, failures = 0;
	bool found[ARRAY_SIZE(required)] = { false };

	(void)state;
	assert_true(find_path("conf", "../../conf", dir, sizeof(dir)));
	collect_yaml(dir, &paths, &count, 0);
	for (size_t i = 0; i < count; i++) {
		struct hs_config config;
		struct hs_diag diag;

		int rc = hs_config_load(paths[i], &config, &diag);
		if (rc != 0 || diag.errors || diag.warnings) {
			print_error("%s: rc=%d\n%s", paths[i], rc, hs_diag_text(&diag));
			failures++;
		}
		for (size_t r = 0; r < ARRAY_SIZE(required); r++) {
			size_t plen = strlen(paths[i]), rlen = strlen(required[r]);
			if (plen >= rlen && strcmp(paths[i] + plen - rlen, required[r]) == 0)
				found[r] = true;
		}
		/* The examples are there to show policies: each must define some. */
		if (rc == 0 && strstr(paths[i], "/examples/") && config.policies.count == 0) {
			print_error("%s: defines no policies\n", paths[i]);
			failures++;
		}
		hs_diag_free(&diag);
		free(paths[i]);
	}
	free(paths);
	for (size_t r = 0; r < ARRAY_SIZE(required); r++) {
		if (!found[r]) {
			print_error("conf%s is missing\n", required[r]);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* The README's policy examples are configurations too: each must load cleanly. */
static void test_readme_policy_examples(void **state)
{
	char path[600];
	size_t len = 0, blocks = 0;
	char *text;

	(void)state;
	assert_true(find_path("README.md", "../../README.md", path, sizeof(path)));
	text = read_text(path, &len);
	assert_non_null(text);
	char *section = strstr(text, "\n## Policies\n");
	assert_non_null(section);
	char *end = strstr(section + 1, "\n## ");
	if (end)
		*end = '\0';
	for (char *p = section; (p = strstr(p, "\n```yaml\n")) != NULL;) {
		char *body = p + strlen("\n```yaml\n");
		char *close = strstr(body, "\n```");
		struct hs_config config;
		assert_non_null(close);
		close[1] = '\0';
		expect_ok(body, &config);
		assert_true(config.policies.count > 0);
		blocks++;
		p = close + 2;
	}
	assert_true(blocks >= 1);
	free(text);
}

/* ------------------------------------------------------------------------ */
/* Golden files                                                             */

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the first line where two texts differ, to make a failure readable. */
static void show_difference(const char *name, const char *want, const char *got)
{
	unsigned line = 1;

	while (*want && *want == *got) {
		if (*want == '\n')
			line++;
		want++;
		got++;
	}
	print_error("%s: diagnostics differ from %s.expected at line %u\n"
		    "--- expected from there:\n%.300s\n--- got from there:\n%.300s\n",
		    name, name, line, want, got);
}

/*
 * Loads each NAME.yaml with the golden directory as the working directory,
 * so that messages name the file as "NAME.yaml" wherever the tests run.
 */
static void test_golden_files(void **state)
{
	char dir[600];
	DIR *d;
	struct dirent *entry;
	char **names = NULL;
	size_t count = 0, failures = 0;
	bool update = getenv("HS_UPDATE_GOLDEN") != NULL;

	(void)state;
	assert_true(find_path("tests/unit/config", "config", dir, sizeof(dir)));
	d = opendir(dir);
	assert_non_null(d);
	while ((entry = readdir(d)) != NULL) {
		size_t len = strlen(entry->d_name);
		if (len <= 5 || strcmp(entry->d_name + len - 5, ".yaml") != 0)
			continue;
		char **grown = realloc(names, (count + 1) * sizeof(*names));
		char *name = strndup(entry->d_name, len - 5);
		if (!grown || !name) {
			free(name);
			free(grown ? grown : names);
			closedir(d);
			fail_msg("out of memory listing %s", dir);
			return;
		}
		names = grown;
		names[count++] = name;
	}
	closedir(d);
	if (!names || count < 20) {
		free(names);
		fail_msg("%s holds only %zu golden files", dir, count);
		return;
	}
	qsort(names, count, sizeof(*names), compare_names);

	int home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(home >= 0);
	assert_int_equal(chdir(dir), 0);
	for (size_t i = 0; i < count; i++) {
		char yaml_name[300], expected_name[300];
		struct hs_config config;
		struct hs_diag diag;
		size_t want_len = 0;

		snprintf(yaml_name, sizeof(yaml_name), "%s.yaml", names[i]);
		snprintf(expected_name, sizeof(expected_name), "%s.expected", names[i]);
		int rc = hs_config_load(yaml_name, &config, &diag);
		const char *got = hs_diag_text(&diag);

		if (update)
			write_text(expected_name, got, strlen(got));
		char *want = read_text(expected_name, &want_len);
		if (!want) {
			print_error("%s: missing %s (run with HS_UPDATE_GOLDEN=1 to create it)\n",
				    names[i], expected_name);
			failures++;
		} else if (strcmp(want, got) != 0) {
			show_difference(names[i], want, got);
			failures++;
		} else if ((rc == 0) != (diag.errors == 0) || (rc == 0) != !strstr(want, ": error: ")) {
			print_error("%s: returned %d with %u errors\n", names[i], rc, diag.errors);
			failures++;
		}
		free(want);
		hs_diag_free(&diag);
		free(names[i]);
	}
	free(names);
	assert_int_equal(fchdir(home), 0);
	close(home);
	assert_int_equal(failures, 0);
}

/* ------------------------------------------------------------------------ */
/* The effective configuration (handshaked -t -v)                           */

/* hs_config_print's text for a configuration; the caller frees it. */
static char *printed(const struct hs_config *config)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	hs_config_print(out, config);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* Loads path; if it loads, its printed form must load into the same configuration. */
static bool round_trips(const char *path, unsigned *checked)
{
	struct hs_config loaded, again;
	struct hs_diag diag;
	int rc = hs_config_load(path, &loaded, &diag);
	unsigned warnings = diag.warnings;

	hs_diag_free(&diag);
	if (rc < 0)
		return true;    /* files with errors have nothing to print */
	char *text = printed(&loaded);
	hs_diag_init(&diag, path, text, strlen(text));
	/* The same warnings may come back (a small copy_range), but never new ones. */
	if (hs_config_parse(text, strlen(text), &again, &diag) < 0 || diag.warnings > warnings) {
		print_error("%s: the printed configuration does not load cleanly:\n%s\n--- printed:\n%s", path,
			    hs_diag_text(&diag), text);
		hs_diag_free(&diag);
		free(text);
		return false;
	}
	hs_diag_free(&diag);
	/* Where a policy starts in its file is not configuration. */
	for (uint32_t i = 0; i < again.policies.count && i < HS_POLICY_MAX; i++)
		again.policies.items[i].line = loaded.policies.items[i].line;
	assert_config_equal(&loaded, &again);
	free(text);
	(*checked)++;
	return true;
}

/* Every valid golden file, the shipped file and every example survive print and reload unchanged. */
static void test_print_round_trip(void **state)
{
	static const char *const shipped[] = { "conf/handshaked.yaml", "conf/examples/close-wait-reaper.yaml",
						"conf/examples/syn-flood-guard.yaml", "conf/examples/web-server.yaml" };
	char dir[600], path[900];
	unsigned checked = 0, failures = 0;
	struct dirent *entry;

	(void)state;
	for (size_t i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		char rel[300];
		snprintf(rel, sizeof(rel), "../../%s", shipped[i]);
		assert_true(find_path(shipped[i], rel, path, sizeof(path)));
		failures += !round_trips(path, &checked);
	}
	assert_true(find_path("tests/unit/config", "config", dir, sizeof(dir)));
	DIR *d = opendir(dir);
	assert_non_null(d);
	while ((entry = readdir(d)) != NULL) {
		size_t len = strlen(entry->d_name);
		if (len <= 5 || strcmp(entry->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		failures += !round_trips(path, &checked);
	}
	closedir(d);
	print_message("  %u configurations printed and loaded back unchanged\n", checked);
	assert_int_equal(failures, 0);
	assert_true(checked >= 10);
}

/*
 * Golden output, as bgpd's regress tests pair .in and .ok files: each
 * tests/unit/config_print/NAME.yaml prints exactly NAME.ok.
 * HS_UPDATE_GOLDEN=1 rewrites the .ok files.
 */
static void test_print_golden(void **state)
{
	char dir[600], path[900];
	unsigned files = 0, failures = 0;
	struct dirent *entry;

	(void)state;
	assert_true(find_path("tests/unit/config_print", "config_print", dir, sizeof(dir)));
	DIR *d = opendir(dir);
	assert_non_null(d);
	while ((entry = readdir(d)) != NULL) {
		size_t len = strlen(entry->d_name), want_len = 0;
		struct hs_config config;
		struct hs_diag diag;

		if (len <= 5 || strcmp(entry->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		assert_int_equal(hs_config_load(path, &config, &diag), 0);
		hs_diag_free(&diag);
		char *got = printed(&config);
		snprintf(path, sizeof(path), "%s/%.*s.ok", dir, (int)(len - 5), entry->d_name);
		if (getenv("HS_UPDATE_GOLDEN"))
			write_text(path, got, strlen(got));
		char *want = read_text(path, &want_len);
		if (!want || strcmp(want, got) != 0) {
			print_error("%s: printed configuration differs from %s\n--- got:\n%s", entry->d_name, path, got);
			failures++;
		}
		free(want);
		free(got);
		files++;
	}
	closedir(d);
	assert_true(files >= 2);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_partial_file),
		cmocka_unit_test(test_half_closed_follow_established),
		cmocka_unit_test(test_queue_num_forms),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_integer_limits),
		cmocka_unit_test(test_rules_and_metrics),
		cmocka_unit_test(test_input_chain_warns),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_log_and_control),
		cmocka_unit_test(test_duration_forms),
		cmocka_unit_test(test_timeouts_in_config),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_top_level_not_mapping),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_error_leaves_config_untouched),
		cmocka_unit_test(test_alias_cycle),
		cmocka_unit_test(test_policy_spec_example),
		cmocka_unit_test(test_policy_minimal),
		cmocka_unit_test(test_policy_states_and_actions),
		cmocka_unit_test(test_policy_addresses),
		cmocka_unit_test(test_policy_ports),
		cmocka_unit_test(test_policy_durations),
		cmocka_unit_test(test_policy_limit_and_rate),
		cmocka_unit_test(test_policy_combinations),
		cmocka_unit_test(test_policy_names_and_structure),
		cmocka_unit_test(test_policy_unknown_keys),
		cmocka_unit_test(test_policy_state_names),
		cmocka_unit_test(test_policy_warnings),
		cmocka_unit_test(test_policy_unreachable_idle),
		cmocka_unit_test(test_policy_local_needs_host_chains),
		cmocka_unit_test(test_policy_no_false_warnings),
		cmocka_unit_test(test_policy_count_limit),
		cmocka_unit_test(test_policy_error_keeps_old_set),
		cmocka_unit_test(test_policy_aliases),
		cmocka_unit_test(test_diag_format),
		cmocka_unit_test(test_diag_copies_inputs),
		cmocka_unit_test(test_diag_long_line),
		cmocka_unit_test(test_diag_cap),
		cmocka_unit_test(test_message_quoting),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_size_cap),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_shipped_examples),
		cmocka_unit_test(test_readme_policy_examples),
		cmocka_unit_test(test_golden_files),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_print_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
