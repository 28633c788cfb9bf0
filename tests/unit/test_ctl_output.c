/*
 * test_ctl_output: golden tests of what handshakectl shows.  Two tables
 * stand for two workers of a daemon fed a known set of flows on a fixed
 * clock (a router's flows in one; an end host's, some of them its own, in
 * the other).  Each case is a request as handshakectl sends it: the daemon's
 * side answers it (daemon_query.c, through the same walk and the same
 * control-socket reply a client reads) and the CLI's side formats the
 * answer (ctl_output_text.c); both are compared byte for byte with
 * tests/unit/ctl/NAME.json and NAME.txt.  The records only the daemon's
 * kill and watch produce are fed to the formatter as the daemon writes them.
 *
 * Run with HS_UPDATE_GOLDEN=1 to rewrite the files after a deliberate
 * change, then review the difference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hs_control.h"
#include "hs_ctl_output.h"
#include "hs_ctl_request.h"
#include "hs_daemon_query.h"
#include "hs_flow_json.h"
#include "scenario.h"

#define T0 1000000u             /* when the tables were made */
#define NOW (T0 + 10000u)       /* when they are asked */

static struct hs_table *tables[2];

static struct hs_table *make_table(uint32_t worker, const char *local)
{
	struct hs_table_config cfg;

	sc_config(&cfg, 64, false);
	cfg.id_first = worker + 1;
	cfg.id_step = 2;
	struct hs_table *t = hs_table_create(&cfg, T0);
	assert_non_null(t);
	if (local) {
		struct hs_local_addrs set;
		struct hs_local_addr a = { .prefix = 32 };
		hs_local_addrs_init(&set);
		assert_true(hs_addr_parse(local, &a.addr, &a.family));
		assert_int_equal(hs_local_addrs_add(&set, &a), HS_LOCAL_ADDRS_CHANGED);
		hs_table_set_local_addrs(t, &set);
	}
	return t;
}

/* A connection whose client closed its side (FIN_WAIT_2) while the server did not (CLOSE_WAIT). */
static void half_closed(struct hs_table *t, struct sc_conn *c, uint64_t at)
{
	sc_open(t, c, at);
	sc_step(t, c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, 0, at + 100, HS_TCP_FIN_WAIT_1, HS_TCP_CLOSE_WAIT);
	sc_step(t, c, HS_SERVER, HS_TCP_ACK, 0, at + 200, HS_TCP_FIN_WAIT_2, HS_TCP_CLOSE_WAIT);
}

/* The same with the server closing first: the client is left in CLOSE_WAIT. */
static void server_closed(struct hs_table *t, struct sc_conn *c, uint64_t at)
{
	sc_open(t, c, at);
	sc_step(t, c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, 0, at + 100, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_1);
	sc_step(t, c, HS_CLIENT, HS_TCP_ACK, 0, at + 200, HS_TCP_CLOSE_WAIT, HS_TCP_FIN_WAIT_2);
}

static int setup(void **state)
{
	struct sc_conn c;

	(void)state;
	/* Worker 0: a router's flows. */
	struct hs_table *r = tables[0] = make_table(0, NULL);
	sc_conn_init(&c, HS_FAMILY_IPV4, 1, 40001, 0x101, 80);
	sc_open(r, &c, T0);
	sc_step(r, &c, HS_CLIENT, HS_TCP_ACK | HS_TCP_PSH, 300, T0 + 5000, HS_TCP_ESTABLISHED, HS_TCP_ESTABLISHED);
	sc_conn_init(&c, HS_FAMILY_IPV4, 2, 40002, 0x101, 80);
	sc_open(r, &c, T0 + 1000);
	sc_conn_init(&c, HS_FAMILY_IPV4, 3, 40003, 0x102, 8080);
	half_closed(r, &c, T0 + 2000);
	sc_conn_init(&c, HS_FAMILY_IPV4, 4, 40004, 0x102, 8080);
	half_closed(r, &c, T0 + 3000);
	sc_conn_init(&c, HS_FAMILY_IPV4, 5, 40005, 0x102, 8080);
	sc_syn(r, &c, T0 + 4000);
	sc_conn_init(&c, HS_FAMILY_IPV6, 1, 40006, 0x101, 443);
	sc_open(r, &c, T0 + 500);
	/* Worker 1: an end host, 10.0.0.9, that leaked two CLOSE_WAIT sockets and serves ssh. */
	struct hs_table *h = tables[1] = make_table(1, "10.0.0.9");
	sc_conn_init(&c, HS_FAMILY_IPV4, 9, 50000, 0x103, 80);
	server_closed(h, &c, T0 + 1500);
	sc_conn_init(&c, HS_FAMILY_IPV4, 9, 50001, 0x103, 80);
	server_closed(h, &c, T0 + 2500);
	sc_conn_init(&c, HS_FAMILY_IPV4, 7, 50002, 9, 22);
	sc_open(h, &c, T0 + 6000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		hs_table_destroy(tables[i]);
	return 0;
}

/* The two tables as a daemon's workers, asked at NOW. */
static bool walk_table(void *ctx, uint32_t part, const struct hs_flow_match *match, uint32_t *cursor,
		       hs_table_walk_fn fn, void *fctx)
{
	(void)ctx;
	/* A small budget, so that the answers are built over several steps as the daemon's are. */
	return hs_table_walk(tables[part], match, NOW, cursor, 3, fn, fctx);
}

/* ---- golden files ---- */

static void golden_dir(char *out, size_t size)
{
	struct stat st;
	const char *slash = strrchr(__FILE__, '/');

	snprintf(out, size, "tests/unit/ctl");
	if (stat(out, &st) == 0)
		return;
	snprintf(out, size, "%.*s/ctl", slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
}

static void compare_golden(const char *name, const char *ext, const char *got, size_t len)
{
	char dir[512], path[600];
	static char want[1 << 16];

	golden_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	if (getenv("HS_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, len, f), len);
		fclose(f);
		return;
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: missing (run with HS_UPDATE_GOLDEN=1 to create it); got:\n%.*s", path, (int)len, got);
	size_t n = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[n] = '\0';
	if (n != len || memcmp(want, got, len) != 0)
		fail_msg("%s differs.\n--- expected\n%s--- got\n%.*s", path, want, (int)len, got);
}

/* Formats an answer's body as handshakectl would. */
static char *format(const struct hs_ctl_request *req, const char *body, size_t len, size_t *out_len)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, out_len);
	struct hs_ctl_output o;

	assert_non_null(out);
	assert_true(hs_ctl_output_init(&o, req, out));
	for (const char *line = body, *end = body + len; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t l = nl ? (size_t)(nl - line) : (size_t)(end - line);
		hs_ctl_output_line(&o, line, l);
		line += l + 1;
	}
	hs_ctl_output_finish(&o);
	assert_int_equal(o.bad_records, 0);
	hs_ctl_output_release(&o);
	fclose(out);
	return text;
}

/* One request, end to end: the daemon's JSON and the CLI's text, each against its file. */
static void golden(const char *name, const char *request)
{
	static char words[512];
	char *argv[32], err[256];
	int argc = 0;
	struct hs_ctl_request req;

	snprintf(words, sizeof(words), "%s", request);
	for (char *save = NULL, *w = strtok_r(words, " ", &save); w && argc < 32; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	if (!hs_ctl_request_parse(&req, argc, argv, err, sizeof(err)))
		fail_msg("%s: %s", request, err);

	struct hs_reply *reply = hs_reply_new();
	struct hs_query_walker walker = { 2, walk_table, NULL };
	uint8_t key[16] = { 1, 2, 3 };
	size_t len;
	assert_non_null(reply);
	hs_query_start(reply, &req, &walker, key);
	const char *answer = hs_reply_collect(reply, &len);
	assert_true(len >= 3 && memcmp(answer, "ok\n", 3) == 0);
	compare_golden(name, "json", answer + 3, len - 3);

	size_t text_len;
	char *text = format(&req, answer + 3, len - 3, &text_len);
	compare_golden(name, "txt", text, text_len);
	free(text);
	req.json = true;
	text = format(&req, answer + 3, len - 3, &text_len);
	assert_int_equal(text_len, len - 3);        /* --json is the daemon's answer as it came */
	assert_memory_equal(text, answer + 3, text_len);
	free(text);
	hs_reply_free(reply);
}

static void test_list(void **state)
{
	(void)state;
	golden("list", "list");
	golden("list_filtered", "list --server-state CLOSE_WAIT --dst 10.0.1.0/24");
	golden("list_sorted", "list --sort idle --limit 3");
	golden("list_bytes", "list --sort bytes --family 4 --limit 2");
	golden("list_none", "list --state TIME_WAIT");
	golden("kill_dry_run", "kill --state CLOSE_WAIT --dry-run");
}

static void test_count_summary(void **state)
{
	(void)state;
	golden("count", "count");
	golden("count_filtered", "count --state ESTABLISHED --state SYN_SENT --idle-over 6s");
	golden("summary", "summary");
	golden("summary_router", "summary --family 6 --family 4 --dport 80 --dport 443 --dport 8080");
}

static void test_top(void **state)
{
	(void)state;
	golden("top_dst", "top --by dst");
	golden("top_server_close_wait", "top --server-state CLOSE_WAIT --by dst");
	golden("top_remote", "top --local-state CLOSE_WAIT --by remote");
	golden("top_local", "top --by local");
	golden("top_dport", "top --by dport --limit 2");
	golden("top_none", "top --by remote --family 6");
}

/* Records the daemon writes for kill and watch, fed to the formatter as they come. */
static void records(const char *name, const char *request, const char *body)
{
	static char words[256];
	char *argv[16], err[256];
	int argc = 0;
	struct hs_ctl_request req;
	size_t len;

	snprintf(words, sizeof(words), "%s", request);
	for (char *save = NULL, *w = strtok_r(words, " ", &save); w && argc < 16; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	assert_true(hs_ctl_request_parse(&req, argc, argv, err, sizeof(err)));
	char *text = format(&req, body, strlen(body), &len);
	compare_golden(name, "txt", text, len);
	free(text);
}

static void test_kill_watch(void **state)
{
	char flow[HS_FLOW_JSON_MAX], body[4 * HS_FLOW_JSON_MAX];
	struct sc_conn c;

	(void)state;
	records("kill", "kill --server-state CLOSE_WAIT --all", "{\"killed\":2,\"resets_sent\":4,\"resets_waiting\":0}\n");
	records("kill_waiting", "kill 3", "{\"killed\":1,\"resets_sent\":1,\"resets_waiting\":1}\n");
	/* Watch: events as the event log writes them, times in UTC. */
	setenv("TZ", "UTC", 1);
	sc_conn_init(&c, HS_FAMILY_IPV4, 3, 40003, 0x102, 8080);
	struct hs_flow *f = sc_conn_lookup(tables[0], &c);
	assert_non_null(f);
	assert_true(hs_flow_json(flow, sizeof(flow), tables[0], f, NOW) > 0);
	snprintf(body, sizeof(body),
		 "{\"ts\":1795469283.177,\"event\":\"new\",\"flow\":%s}\n"
		 "{\"ts\":1795469283.181,\"event\":\"state\",\"from\":{\"client\":\"FIN_WAIT_1\",\"server\":\"CLOSE_WAIT\"},"
		 "\"flow\":%s}\n"
		 "{\"event\":\"lost\",\"count\":12}\n"
		 "{\"ts\":1795469290.005,\"event\":\"policy\",\"reason\":\"stale: reset\",\"flow\":%s}\n",
		 flow, flow, flow);
	records("watch", "watch --dport 8080", body);
	unsetenv("TZ");
}

/* stats for people, from the daemon's JSON: every section, reasons that are not zero, policies. */
static void test_stats(void **state)
{
	(void)state;
	records("stats", "stats",
		"{\"uptime_ms\":93412,\"queues\":2,\"queue_first\":3,\"reloads\":1,\"reload_failures\":0,"
		"\"packets\":{\"seen\":1500,\"accepted\":1490,\"dropped\":10,\"own\":4,\"loopback_repeat\":0,"
		"\"not_tcp\":2,\"fragments\":1,\"invalid\":7,\"malformed\":3,\"syn_with_data\":5},"
		"\"invalid\":{\"seq_above_window\":6,\"rst_out_of_window\":1,\"ack_above_window\":0},"
		"\"malformed\":{\"truncated_ip\":3,\"bad_tcp_offset\":0},"
		"\"flows\":{\"live\":80,\"half_open\":2,\"capacity\":524288,\"created\":120,\"expired\":30,\"evicted\":0,"
		"\"evicted_half_open\":0,\"evicted_established\":0,\"deleted\":10,\"reopened\":1,"
		"\"untracked_table_full\":0,\"resynced\":2},"
		"\"memory\":{\"flows\":7864320,\"index\":2162688,\"policies\":69632},"
		"\"queue\":{\"bursts\":900,\"enobufs\":0,\"recv_errors\":0,\"send_errors\":0,\"malformed\":0,"
		"\"kernel_queued\":0,\"kernel_dropped\":0,\"kernel_user_dropped\":0,\"loop_max_us\":412,\"kernel_found\":true},"
		"\"events_lost\":0,\"watch\":{\"watchers\":1,\"delivered\":250,\"lost\":12,\"dropped\":0},"
		"\"drop_pcap\":{\"written\":10,\"lost\":0,\"write_errors\":0,\"rotations\":0},"
		"\"state\":{\"on\":true,\"saves\":0,\"save_failures\":0,\"last_save_wall_ms\":0,\"last_save_flows\":0,"
		"\"last_save_bytes\":0,\"last_save_ms\":0,\"loaded_flows\":78,\"load_skipped\":0,\"load_refused\":0,"
		"\"requeued\":false,\"pool\":{\"waiting\":0,\"claimed\":0,\"expired\":0,\"no_room\":0,\"forgotten\":0}},"
		"\"local_addresses\":{\"read\":true,\"count\":5,\"changes\":0,\"resyncs\":0,\"errors\":0,\"untracked\":0},"
		"\"resets\":{\"sent\":20,\"retried\":0,\"failed\":0,\"skipped\":0,\"waiting\":0,\"deferred\":0},"
		"\"policy_counts_full\":0,\"policies\":[{\"name\":\"stale\",\"acted\":10,\"dry_run\":0,\"verified\":0,"
		"\"refused\":0,\"resets_sent\":20},{\"name\":\"cap\",\"acted\":0,\"dry_run\":3,\"verified\":0,\"refused\":0,"
		"\"resets_sent\":0}]}\n");
}

/* Durations as people read them, at each unit's edges. */
static void test_durations(void **state)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} cases[] = {
		{ 0, "0ms" }, { 999, "999ms" }, { 1000, "1.0s" }, { 12345, "12.3s" }, { 59999, "59.9s" },
		{ 60000, "1m00s" }, { 303000, "5m03s" }, { 3599999, "59m59s" }, { 3600000, "1h00m" },
		{ 7440000, "2h04m" }, { 86400000, "1d00h" }, { 273600000, "3d04h" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(hs_ctl_duration(buf, sizeof(buf), cases[i].ms), cases[i].text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_count_summary),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_kill_watch),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
