/*
 * test_ctl_request: unit tests of daemon/ctl_request.c, the control
 * socket's request language that handshakectl and the daemon both parse:
 * every filter and the key of the match it fills, repeats meaning "any
 * of", the options each command takes, the rules of kill, and a clear
 * refusal, naming the argument, for every kind of bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hs_ctl_request.h"
#include "hs_match_values.h"

#define MAX_WORDS 80

static struct hs_ctl_request req;
static char err[512];

/* Splits a request written as one string into words and parses it. */
static bool parse(const char *text)
{
	static char buf[2048];
	char *argv[MAX_WORDS];
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && argc < MAX_WORDS; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	err[0] = '\0';
	return hs_ctl_request_parse(&req, argc, argv, err, sizeof(err));
}

static void expect_ok(const char *text)
{
	if (!parse(text))
		fail_msg("\"%s\" refused: %s", text, err);
}

static void expect_refused(const char *text, const char *needle)
{
	if (parse(text))
		fail_msg("\"%s\" was accepted; expected a refusal mentioning \"%s\"", text, needle);
	if (!strstr(err, needle))
		fail_msg("\"%s\": expected \"%s\" in: %s", text, needle, err);
}

static struct hs_cidr cidr(const char *text)
{
	struct hs_cidr c;

	assert_true(hs_cidr_parse(text, strlen(text), &c) <= HS_CIDR_HOST_BITS);
	return c;
}

static void assert_cidr(const struct hs_cidr *got, const char *want)
{
	struct hs_cidr w = cidr(want);

	assert_int_equal(got->family, w.family);
	assert_int_equal(got->prefix, w.prefix);
	assert_memory_equal(&got->addr, &w.addr, sizeof(w.addr));
}

static void test_commands(void **state)
{
	static const struct {
		const char *text;
		enum hs_ctl_verb verb;
	} cases[] = {
		{ "list", HS_CTL_LIST }, { "count", HS_CTL_COUNT }, { "summary", HS_CTL_SUMMARY }, { "top", HS_CTL_TOP },
		{ "watch", HS_CTL_WATCH }, { "stats", HS_CTL_STATS }, { "metrics", HS_CTL_METRICS },
		{ "reload", HS_CTL_RELOAD }, { "ping", HS_CTL_PING }, { "kill 7", HS_CTL_KILL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_ok(cases[i].text);
		assert_int_equal(req.verb, cases[i].verb);
		assert_int_equal(strncmp(hs_ctl_verb_name(req.verb), cases[i].text, strlen(hs_ctl_verb_name(req.verb))), 0);
		assert_false(req.json);
		assert_true(hs_flow_match_is_empty(&req.match) || req.verb == HS_CTL_KILL);
	}
	/* Defaults: top shows 10 groups by remote; list has no limit and keeps table order. */
	expect_ok("top");
	assert_int_equal(req.limit, HS_CTL_TOP_DEFAULT_LIMIT);
	assert_int_equal(req.by, HS_GROUP_REMOTE);
	expect_ok("list");
	assert_int_equal(req.limit, 0);
	assert_int_equal(req.sort, HS_SORT_NONE);
	expect_refused("lsit", "unknown command \"lsit\" (did you mean \"list\"?)");
	expect_refused("frobnicate", "unknown command \"frobnicate\"");
	expect_refused("", "no command");
}

/* Every filter fills its own key, and nothing else. */
static void test_each_filter(void **state)
{
	(void)state;
	expect_ok("list --state CLOSE_WAIT");
	assert_int_equal(req.match.state.bits, HS_STATE_SET(HS_TCP_CLOSE_WAIT).bits);
	assert_true(req.filtered);
	expect_ok("count --client-state syn-sent");     /* as ss spells it */
	assert_int_equal(req.match.client_state.bits, HS_STATE_SET(HS_TCP_SYN_SENT).bits);
	expect_ok("top --server-state fin_wait_2");
	assert_int_equal(req.match.server_state.bits, HS_STATE_SET(HS_TCP_FIN_WAIT_2).bits);
	expect_ok("watch --local-state CLOSE_WAIT");
	assert_int_equal(req.match.local_state.bits, HS_STATE_SET(HS_TCP_CLOSE_WAIT).bits);
	expect_ok("summary --remote-state FIN_WAIT_2");
	assert_int_equal(req.match.remote_state.bits, HS_STATE_SET(HS_TCP_FIN_WAIT_2).bits);
	expect_ok("list --src 10.0.1.0/24");
	assert_int_equal(req.match.n_src, 1);
	assert_cidr(&req.match.src[0], "10.0.1.0/24");
	expect_ok("list --dst fd00:2::2");
	assert_int_equal(req.match.n_dst, 1);
	assert_cidr(&req.match.dst[0], "fd00:2::2/128");
	expect_ok("list --addr 192.0.2.7");
	assert_int_equal(req.match.n_addr, 1);
	assert_cidr(&req.match.addr[0], "192.0.2.7/32");
	expect_ok("list --sport 40000-40100");
	assert_int_equal(req.match.n_src_ports, 1);
	assert_int_equal(req.match.src_ports[0].lo, 40000);
	assert_int_equal(req.match.src_ports[0].hi, 40100);
	expect_ok("list --dport 443");
	assert_int_equal(req.match.dst_ports[0].lo, 443);
	assert_int_equal(req.match.dst_ports[0].hi, 443);
	expect_ok("list --port 22");
	assert_int_equal(req.match.n_ports, 1);
	expect_ok("list --family 6");
	assert_int_equal(req.match.families, HS_FAMILY_BIT_IPV6);
	expect_ok("list --family ipv4");
	assert_int_equal(req.match.families, HS_FAMILY_BIT_IPV4);
	expect_ok("list --id 42");
	assert_int_equal(req.match.n_ids, 1);
	assert_int_equal(req.match.ids[0], 42);
	assert_false(req.filtered);             /* an id names flows; it is no filter for kill's rules */
	expect_ok("list --idle-over 30s");
	assert_int_equal(req.match.idle_ms, 30000);
	expect_ok("list --age-over 2h");
	assert_int_equal(req.match.flow_age_ms, 7200000);
	assert_int_equal(req.match.idle_ms, 0);
	/* Host bits in a CIDR filter are cleared, not refused. */
	expect_ok("list --src 10.0.1.2/24");
	assert_cidr(&req.match.src[0], "10.0.1.0/24");
	/* --option=value is the same as two words. */
	expect_ok("list --state=ESTABLISHED --dport=80");
	assert_int_equal(req.match.state.bits, HS_STATE_SET(HS_TCP_ESTABLISHED).bits);
	assert_int_equal(req.match.dst_ports[0].lo, 80);
}

/* An option given again adds to its key: any of them. */
static void test_repeats_mean_any_of(void **state)
{
	(void)state;
	expect_ok("list --state ESTABLISHED --state CLOSE_WAIT --state ESTABLISHED");
	assert_int_equal(req.match.state.bits,
			 HS_STATE_SET(HS_TCP_ESTABLISHED).bits | HS_STATE_SET(HS_TCP_CLOSE_WAIT).bits);
	expect_ok("count --dst 10.0.0.0/8 --dst fd00::/8 --dport 80 --dport 443 --family 4 --family 6");
	assert_int_equal(req.match.n_dst, 2);
	assert_cidr(&req.match.dst[1], "fd00::/8");
	assert_int_equal(req.match.n_dst_ports, 2);
	assert_int_equal(req.match.dst_ports[1].lo, 443);
	assert_int_equal(req.match.families, HS_FAMILY_BIT_IPV4 | HS_FAMILY_BIT_IPV6);
	expect_ok("kill 3 5 --id 9 --dry-run");
	assert_int_equal(req.match.n_ids, 3);
	assert_int_equal(req.match.ids[2], 9);

	/* Sixteen of one key, not seventeen. */
	char text[1024] = "list";
	for (int i = 1; i <= HS_MATCH_LIST_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " --sport %d", i);
	expect_ok(text);
	assert_int_equal(req.match.n_src_ports, HS_MATCH_LIST_MAX);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), " --sport 99");
	expect_refused(text, "--sport: at most 16 of them");
	/* Thresholds and the options that shape the answer are given once. */
	expect_refused("list --idle-over 1s --idle-over 2s", "--idle-over given twice");
	expect_refused("list --limit 1 --limit 2", "--limit given twice");
	expect_refused("list --sort idle --sort age", "--sort given twice");
	expect_refused("top --by dst --by src", "--by given twice");
}

static void test_answer_options(void **state)
{
	(void)state;
	expect_ok("list --sort idle --limit 5 --json");
	assert_int_equal(req.sort, HS_SORT_IDLE);
	assert_int_equal(req.limit, 5);
	assert_true(req.json);
	expect_ok("list --sort bytes");
	assert_int_equal(req.sort, HS_SORT_BYTES);
	for (int by = 0; by < HS_GROUP_BY_COUNT; by++) {
		char text[64];
		snprintf(text, sizeof(text), "top --by %s --limit 3", hs_group_by_name((enum hs_group_by)by));
		expect_ok(text);
		assert_int_equal(req.by, by);
		assert_int_equal(req.limit, 3);
		assert_int_equal(hs_group_by_parse(hs_group_by_name((enum hs_group_by)by)), by);
	}
	expect_ok("stats --json");
	assert_true(req.json);
	/* Options where they do not belong. */
	expect_refused("count --sort idle", "--sort does not apply to count");
	expect_refused("list --by dst", "--by does not apply to list");
	expect_refused("stats --state ESTABLISHED", "--state does not apply to stats");
	expect_refused("metrics --json", "--json does not apply to metrics");
	expect_refused("list --all", "--all does not apply to list");
	expect_refused("top --dry-run", "--dry-run does not apply to top");
	expect_refused("ping extra", "unexpected argument \"extra\"");
	expect_refused("list --json=yes", "--json takes no value");
	expect_refused("list --limit 0", "--limit: \"0\" is not a number from 1");
	expect_refused("list --limit ten", "--limit: \"ten\"");
	expect_refused("list --limit 99999999999", "--limit: \"99999999999\"");
	expect_refused("top --by dest", "--by: \"dest\" is not a key (remote, local, client, server, src, dst or dport)");
	expect_refused("list --sort none", "--sort: \"none\" is not a sort order (idle, age, packets or bytes)");
}

static void test_bad_values(void **state)
{
	(void)state;
	expect_refused("list --state CLOSE_WAT", "list: --state: unknown state \"CLOSE_WAT\" (did you mean \"CLOSE_WAIT\"?)");
	expect_refused("list --client-state NOPE", "--client-state: unknown state \"NOPE\" (one of CLOSED,");
	expect_refused("list --state", "no state after \"--state\"");
	expect_refused("list --src", "no address after \"--src\"");
	expect_refused("count --src 10.0.0.0/33", "--src: \"10.0.0.0/33\": the prefix length");
	expect_refused("count --dst fd00::/129", "--dst: \"fd00::/129\": the prefix length");
	expect_refused("count --addr 10.0.0.256", "--addr: \"10.0.0.256\" is not an address or CIDR");
	expect_refused("count --addr 10.0.0.0/x", "--addr: \"10.0.0.0/x\" is not an address or CIDR");
	expect_refused("count --dport 0", "--dport: \"0\": ports go from 1 to 65535");
	expect_refused("count --dport 65536", "--dport: \"65536\": ports go from 1 to 65535");
	expect_refused("count --sport 90-80", "--sport: \"90-80\": the range ends before it starts");
	expect_refused("count --port http", "--port: \"http\" is not a port or range");
	expect_refused("count --family 5", "--family: \"5\" is not a family (4 or 6)");
	expect_refused("count --id 0", "--id: \"0\" is not a flow id");
	expect_refused("count --id 4294967296", "--id: \"4294967296\" is not a flow id");
	expect_refused("count --idle-over soon", "--idle-over: \"soon\" is not a duration");
	expect_refused("count --idle-over 0", "--idle-over: \"0\": give a duration above zero");
	expect_refused("count --idle-over -5s", "--idle-over: \"-5s\": a duration cannot be negative");
	expect_refused("count --idle-over 50d", "--idle-over: \"50d\" is too long (at most 49 days)");
	expect_ok("count --age-over 400d");     /* a flow's age may run long */
	expect_refused("count --stat ESTABLISHED", "unknown option \"--stat\" (did you mean \"--state\"?)");
	expect_refused("count --frobnicate", "unknown option \"--frobnicate\"");
	expect_refused("count ESTABLISHED", "unexpected argument \"ESTABLISHED\"");
}

/* kill names its flows by id, or by filters with --all; never every flow by default. */
static void test_kill_rules(void **state)
{
	(void)state;
	expect_ok("kill 12");
	assert_int_equal(req.match.n_ids, 1);
	assert_false(req.all);
	expect_ok("kill 12 13 --dport 80");       /* ids and filters: all must hold */
	assert_int_equal(req.match.n_ids, 2);
	expect_ok("kill --server-state CLOSE_WAIT --all");
	assert_true(req.all);
	expect_ok("kill --server-state CLOSE_WAIT --dry-run");
	assert_true(req.dry_run);
	expect_refused("kill", "name the flows to reset");
	expect_refused("kill --all", "name the flows to reset");
	expect_refused("kill --json", "name the flows to reset");
	expect_refused("kill --dport 80", "add --all to reset them all");
	expect_refused("kill abc", "kill: \"abc\" is not a flow id");
	expect_refused("kill -5", "kill: \"-5\" is not a flow id");
	expect_refused("kill 0", "kill: \"0\" is not a flow id");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_each_filter),
		cmocka_unit_test(test_repeats_mean_any_of),
		cmocka_unit_test(test_answer_options),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_kill_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
