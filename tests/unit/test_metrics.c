/*
 * Unit tests for the Prometheus exposition (daemon/metrics.c) and the HTTP
 * answers built around it (daemon/metrics_http.c).  Snapshots are filled by
 * hand with distinct numbers, so each sample can be traced to its field.
 * Besides exact lines, every output is checked against the text format's
 * grammar: each sample belongs to a family announced by # HELP and # TYPE
 * lines before it, names and labels are well formed, no series appears
 * twice, and histogram buckets are cumulative and end with +Inf == _count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_metrics.h"
#include "hs_metrics_http.h"

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return true;
	return false;
}

#define assert_line(text, line)                                                        \
	do {                                                                           \
		if (!has_line((text), (line)))                                         \
			fail_msg("missing line: %s", (line));                          \
	} while (0)

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

/*
 * Checks the grammar of the whole text, one line at a time.  Families are
 * remembered by name with their type, so a sample whose family (the name,
 * or for histograms the name less _bucket/_sum/_count) was not announced
 * fails.
 */
static void check_grammar(const char *text)
{
	char families[128][96], types[128][16];
	int nfamilies = 0;
	char *copy = strdup(text);
	char **series = calloc(4096, sizeof(*series));
	int nseries = 0;

	assert_non_null(copy);
	assert_non_null(series);
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			char name[96];
			assert_int_equal(sscanf(line + 7, "%95s", name), 1);
			/* Every family is announced once. */
			for (int i = 0; i < nfamilies; i++)
				if (strcmp(families[i], name) == 0)
					fail_msg("family %s announced twice", name);
			assert_true(nfamilies < 128);
			snprintf(families[nfamilies], sizeof(families[0]), "%s", name);
			types[nfamilies][0] = '\0';
			nfamilies++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[96], type[16];
			assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
			/* TYPE follows its HELP and names a known type. */
			assert_true(nfamilies > 0);
			assert_string_equal(name, families[nfamilies - 1]);
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
				    strcmp(type, "histogram") == 0);
			snprintf(types[nfamilies - 1], sizeof(types[0]), "%s", type);
			if (strcmp(type, "counter") == 0 && strlen(name) > 6)
				assert_string_equal(name + strlen(name) - 6, "_total");
			continue;
		}
		assert_true(line[0] != '#');

		/* name{labels} value */
		size_t i = 0;
		assert_true(name_char(line[0], true));
		while (name_char(line[i], false))
			i++;
		char name[96];
		assert_true(i < sizeof(name));
		memcpy(name, line, i);
		name[i] = '\0';
		if (line[i] == '{') {
			i++;
			while (line[i] != '}') {
				assert_true(name_char(line[i], true));
				while (name_char(line[i], false))
					i++;
				assert_int_equal(line[i], '=');
				assert_int_equal(line[i + 1], '"');
				i += 2;
				while (line[i] != '"') {
					assert_true(line[i] != '\0');
					if (line[i] == '\\') {
						assert_true(line[i + 1] == '\\' || line[i + 1] == '"' || line[i + 1] == 'n');
						i++;
					}
					i++;
				}
				i++;
				if (line[i] == ',')
					i++;
				else
					assert_int_equal(line[i], '}');
			}
			i++;
		}
		assert_int_equal(line[i], ' ');
		char *end;
		strtod(line + i + 1, &end);
		assert_true(end != line + i + 1 && *end == '\0');

		/* The series (name and labels) is unique. */
		size_t series_len = i;
		for (int s = 0; s < nseries; s++)
			if (strlen(series[s]) == series_len && strncmp(series[s], line, series_len) == 0)
				fail_msg("series appears twice: %.*s", (int)series_len, line);
		assert_true(nseries < 4096);
		series[nseries] = strndup(line, series_len);
		nseries++;

		/* Its family was announced, with a matching type. */
		int f = -1;
		for (int k = 0; k < nfamilies && f < 0; k++) {
			size_t flen = strlen(families[k]);
			if (strcmp(name, families[k]) == 0)
				f = k;
			else if (strcmp(types[k], "histogram") == 0 && strncmp(name, families[k], flen) == 0 &&
				 (strcmp(name + flen, "_bucket") == 0 || strcmp(name + flen, "_sum") == 0 ||
				  strcmp(name + flen, "_count") == 0))
				f = k;
		}
		if (f < 0)
			fail_msg("sample %s has no # HELP/# TYPE before it", name);
		/* Samples of a family are grouped right after its announcement. */
		assert_int_equal(f, nfamilies - 1);
	}
	for (int s = 0; s < nseries; s++)
		free(series[s]);
	free(series);
	free(copy);
}

static struct hs_metrics_queue queues[2];

static void fill(struct hs_metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->uptime_ms = 12345;
	s->reloads = 3;
	s->reload_failures = 1;
	s->packets = 1000;
	s->accepted = 990;
	s->dropped = 10;
	s->policy_dropped = 4;
	s->not_tcp = 7;
	s->fragments = 2;
	s->untracked_table_full = 5;
	s->invalid_by_reason[HS_INVALID_SEQ_ABOVE_WINDOW] = 17;
	s->invalid_by_reason[HS_INVALID_RST_SEQ] = 18;
	s->malformed_by_reason[HS_PARSE_TRUNCATED_TCP] = 19;
	s->flows_live = 42;
	s->flows_half_open = 6;
	s->capacity = 524288;
	s->flows_by_state[HS_CLIENT][HS_TCP_ESTABLISHED] = 30;
	s->flows_by_state[HS_SERVER][HS_TCP_ESTABLISHED] = 28;
	s->flows_by_state[HS_CLIENT][HS_TCP_FIN_WAIT_2] = 2;
	s->flows_by_state[HS_SERVER][HS_TCP_CLOSE_WAIT] = 2;
	s->flows_by_state[HS_SERVER][HS_TCP_SYN_RCVD] = 6;
	s->flows_created = 500;
	s->flows_expired = 400;
	s->flows_deleted = 9;
	s->flows_reopened = 11;
	s->syn_with_data = 12;
	s->evicted_half_open = 21;
	s->evicted_established = 22;
	s->events_lost = 23;
	s->local_by_state[HS_TCP_CLOSE_WAIT] = 24;
	s->addrs_read = true;
	s->local_addresses = 5;
	s->addr_watch = (struct hs_addr_watch_stats){ .changes = 25, .resyncs = 26, .errors = 27, .untracked = 28 };
	s->own_packets = 24;
	s->loopback_repeats = 31;
	s->rst = (struct hs_rst_stats){ .sent = 600, .retried = 25, .failed = 26, .skipped = 27 };
	s->rst_waiting = 28;
	s->rst_deferred = 30;
	s->policy_counts_full = 29;
	s->npolicies = 2;
	snprintf(s->policies[0].name, sizeof(s->policies[0].name), "syn-flood");
	s->policies[0].counters = (struct hs_policy_counters){ .acted = 31, .dry_run = 0, .verified = 32, .refused = 33 };
	/* Names cannot hold these characters today; the escaping must work regardless. */
	snprintf(s->policies[1].name, sizeof(s->policies[1].name), "odd\"name\\x");
	s->policies[1].counters = (struct hs_policy_counters){ .acted = 0, .dry_run = 34, .resets_sent = 35 };

	memset(queues, 0, sizeof(queues));
	queues[0] = (struct hs_metrics_queue){ .queue = 0, .packets = 600, .bursts = 50, .enobufs = 1, .malformed = 44,
					       .loop_max_us = 1234567, .burst_us_sum = 2500001,
					       .kernel_found = true, .kernel_waiting = 3, .kernel_dropped = 41,
					       .kernel_user_dropped = 43 };
	queues[0].burst_us_buckets[0] = 10;                     /* <= 5 us */
	queues[0].burst_us_buckets[4] = 30;                     /* <= 100 us */
	queues[0].burst_us_buckets[HS_BURST_BUCKETS - 1] = 10;  /* > 10 ms */
	queues[1] = (struct hs_metrics_queue){ .queue = 1, .packets = 400, .bursts = 0, .kernel_found = false };
	s->nqueues = 2;
	s->queues = queues;
}

static void test_format_values(void **state)
{
	struct hs_metrics_snapshot s;
	size_t len = 0;

	(void)state;
	fill(&s);
	char *text = hs_metrics_format(&s, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	check_grammar(text);

	assert_line(text, "# HELP handshaked_flows Tracked connections by endpoint (side) and that endpoint's TCP state.");
	assert_line(text, "# TYPE handshaked_flows gauge");
	assert_line(text, "handshaked_flows{side=\"client\",state=\"ESTABLISHED\"} 30");
	assert_line(text, "handshaked_flows{side=\"server\",state=\"ESTABLISHED\"} 28");
	assert_line(text, "handshaked_flows{side=\"client\",state=\"FIN_WAIT_2\"} 2");
	assert_line(text, "handshaked_flows{side=\"server\",state=\"CLOSE_WAIT\"} 2");
	assert_line(text, "handshaked_flows{side=\"server\",state=\"SYN_RCVD\"} 6");
	/* Known label values are present even at zero. */
	assert_line(text, "handshaked_flows{side=\"client\",state=\"LAST_ACK\"} 0");
	assert_line(text, "handshaked_flows_live 42");
	assert_line(text, "handshaked_flows_half_open 6");
	assert_line(text, "handshaked_flows_capacity 524288");

	assert_line(text, "# TYPE handshaked_packets_total counter");
	assert_line(text, "handshaked_packets_total{verdict=\"accept\"} 990");
	assert_line(text, "handshaked_packets_total{verdict=\"drop\"} 10");
	assert_line(text, "handshaked_packets_policy_dropped_total 4");
	assert_line(text, "handshaked_packets_untracked_total{reason=\"not_tcp\"} 7");
	assert_line(text, "handshaked_packets_untracked_total{reason=\"fragment\"} 2");
	assert_line(text, "handshaked_packets_untracked_total{reason=\"table_full\"} 5");
	assert_line(text, "handshaked_invalid_packets_total{reason=\"seq_above_window\"} 17");
	assert_line(text, "handshaked_invalid_packets_total{reason=\"rst_out_of_window\"} 18");
	assert_line(text, "handshaked_invalid_packets_total{reason=\"bad_flags\"} 0");
	/* Reason "none" is not a reason. */
	assert_null(strstr(text, "reason=\"none\""));
	char line[256];
	snprintf(line, sizeof(line), "handshaked_malformed_packets_total{reason=\"%s\"} 19",
		 hs_parse_result_name(HS_PARSE_TRUNCATED_TCP));
	assert_line(text, line);
	assert_null(strstr(text, "handshaked_malformed_packets_total{reason=\"ok\"}"));

	assert_line(text, "handshaked_flows_created_total 500");
	assert_line(text, "handshaked_flows_expired_total 400");
	assert_line(text, "handshaked_flows_evicted_total{kind=\"half_open\"} 21");
	assert_line(text, "handshaked_flows_evicted_total{kind=\"established\"} 22");
	assert_line(text, "handshaked_flows_deleted_total 9");
	assert_line(text, "handshaked_flows_reopened_total 11");
	assert_line(text, "handshaked_syn_with_data_total 12");

	assert_line(text, "handshaked_policy_actions_total{policy=\"syn-flood\",mode=\"live\"} 31");
	assert_line(text, "handshaked_policy_actions_total{policy=\"syn-flood\",mode=\"dry_run\"} 0");
	assert_line(text, "handshaked_policy_verify_total{policy=\"syn-flood\",result=\"verified\"} 32");
	assert_line(text, "handshaked_policy_verify_total{policy=\"syn-flood\",result=\"refused\"} 33");
	assert_line(text, "handshaked_policy_actions_total{policy=\"odd\\\"name\\\\x\",mode=\"dry_run\"} 34");
	assert_line(text, "handshaked_policy_resets_sent_total{policy=\"odd\\\"name\\\\x\"} 35");

	assert_line(text, "handshaked_queue_packets_total{queue=\"0\"} 600");
	assert_line(text, "handshaked_queue_packets_total{queue=\"1\"} 400");
	assert_line(text, "handshaked_queue_errors_total{queue=\"0\",kind=\"enobufs\"} 1");
	assert_line(text, "handshaked_queue_kernel_waiting{queue=\"0\"} 3");
	assert_line(text, "handshaked_queue_kernel_dropped_total{queue=\"0\",reason=\"queue_full\"} 41");
	assert_line(text, "handshaked_queue_kernel_dropped_total{queue=\"0\",reason=\"socket_full\"} 43");
	/* Queue 1 is not bound: no kernel numbers rather than made-up zeros. */
	assert_null(strstr(text, "handshaked_queue_kernel_waiting{queue=\"1\"}"));
	assert_null(strstr(text, "handshaked_queue_kernel_dropped_total{queue=\"1\""));

	assert_line(text, "handshaked_burst_duration_max_seconds{queue=\"0\"} 1.234567");
	assert_line(text, "# TYPE handshaked_burst_duration_seconds histogram");
	assert_line(text, "handshaked_burst_duration_seconds_bucket{queue=\"0\",le=\"0.000005\"} 10");
	assert_line(text, "handshaked_burst_duration_seconds_bucket{queue=\"0\",le=\"0.000050\"} 10");
	assert_line(text, "handshaked_burst_duration_seconds_bucket{queue=\"0\",le=\"0.000100\"} 40");
	assert_line(text, "handshaked_burst_duration_seconds_bucket{queue=\"0\",le=\"0.010000\"} 40");
	assert_line(text, "handshaked_burst_duration_seconds_bucket{queue=\"0\",le=\"+Inf\"} 50");
	assert_line(text, "handshaked_burst_duration_seconds_count{queue=\"0\"} 50");
	assert_line(text, "handshaked_burst_duration_seconds_sum{queue=\"0\"} 2.500001");
	assert_line(text, "handshaked_burst_duration_seconds_bucket{queue=\"1\",le=\"+Inf\"} 0");

	assert_line(text, "handshaked_uptime_seconds 12.345000");
	assert_line(text, "handshaked_reloads_total{result=\"applied\"} 3");
	assert_line(text, "handshaked_reloads_total{result=\"refused\"} 1");
	assert_line(text, "handshaked_events_lost_total 23");
	assert_line(text, "handshaked_local_endpoints{state=\"CLOSE_WAIT\"} 24");
	assert_line(text, "handshaked_local_endpoints{state=\"ESTABLISHED\"} 0");
	assert_line(text, "handshaked_local_addresses 5");
	assert_line(text, "handshaked_local_addresses_read 1");
	assert_line(text, "handshaked_local_address_changes_total 25");
	assert_line(text, "handshaked_local_address_problems_total{kind=\"resync\"} 26");
	assert_line(text, "handshaked_local_address_problems_total{kind=\"error\"} 27");
	assert_line(text, "handshaked_local_address_problems_total{kind=\"untracked\"} 28");
	assert_line(text, "handshaked_packets_untracked_total{reason=\"own\"} 24");
	assert_line(text, "handshaked_packets_untracked_total{reason=\"loopback_repeat\"} 31");
	assert_line(text, "handshaked_rsts_total{result=\"sent\"} 600");
	assert_line(text, "handshaked_rsts_total{result=\"failed\"} 26");
	assert_line(text, "handshaked_rsts_total{result=\"skipped\"} 27");
	assert_line(text, "handshaked_rsts_retried_total 25");
	assert_line(text, "handshaked_rsts_waiting 28");
	assert_line(text, "handshaked_rsts_deferred_total 30");
	assert_line(text, "handshaked_policy_count_table_full_total 29");
	assert_line(text, "handshaked_queue_errors_total{queue=\"0\",kind=\"malformed\"} 44");
	free(text);
}

/* Buckets must never decrease, whatever the per-bucket counts. */
static void test_histogram_cumulative(void **state)
{
	struct hs_metrics_snapshot s;
	size_t len;

	(void)state;
	fill(&s);
	for (int b = 0; b < HS_BURST_BUCKETS; b++)
		queues[0].burst_us_buckets[b] = (uint64_t)(b * 7 + 1);
	char *text = hs_metrics_format(&s, &len);
	assert_non_null(text);
	check_grammar(text);
	uint64_t last = 0, total = 0;
	int seen = 0;
	for (int b = 0; b < HS_BURST_BUCKETS; b++)
		total += (uint64_t)(b * 7 + 1);
	for (const char *p = text; (p = strstr(p, "handshaked_burst_duration_seconds_bucket{queue=\"0\"")); p++) {
		const char *v = strchr(p, '}') + 2;
		uint64_t value = strtoull(v, NULL, 10);
		assert_true(value >= last);
		last = value;
		seen++;
	}
	assert_int_equal(seen, HS_BURST_BUCKETS);
	assert_int_equal(last, total);
	free(text);
}

/* No policies, no queues: the families are still announced, and the text stays valid. */
static void test_format_empty(void **state)
{
	struct hs_metrics_snapshot s;
	size_t len;

	(void)state;
	memset(&s, 0, sizeof(s));
	char *text = hs_metrics_format(&s, &len);
	assert_non_null(text);
	check_grammar(text);
	assert_line(text, "# TYPE handshaked_policy_actions_total counter");
	assert_line(text, "handshaked_flows_live 0");
	assert_null(strstr(text, "queue=\""));
	free(text);
}

static char *render_fixed(void *ctx, size_t *len)
{
	const char *body = ctx;

	*len = strlen(body);
	return strdup(body);
}

static void test_http_answers(void **state)
{
	static char body[] = "handshaked_flows_live 1\n";
	size_t len;
	char *out;

	(void)state;
	const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n";
	out = hs_metrics_http_respond(get, sizeof(get) - 1, render_fixed, body, &len);
	assert_non_null(out);
	assert_string_equal(out, "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
				 "Content-Length: 24\r\nConnection: close\r\n\r\nhandshaked_flows_live 1\n");
	assert_int_equal(len, strlen(out));
	free(out);

	const char query[] = "GET /metrics?x=1 HTTP/1.0\n\n";
	out = hs_metrics_http_respond(query, sizeof(query) - 1, render_fixed, body, &len);
	assert_memory_equal(out, "HTTP/1.0 200 OK\r\n", 17);
	free(out);

	const char head[] = "HEAD /metrics HTTP/1.0\r\n\r\n";
	out = hs_metrics_http_respond(head, sizeof(head) - 1, render_fixed, body, &len);
	assert_memory_equal(out, "HTTP/1.0 200 OK\r\n", 17);
	assert_non_null(strstr(out, "Content-Length: 24\r\n"));
	assert_null(strstr(out, "handshaked_flows_live"));
	free(out);

	const char *const not_found[] = { "GET / HTTP/1.0\r\n\r\n", "GET /metricsx HTTP/1.0\r\n\r\n",
					  "POST /metrics HTTP/1.0\r\n\r\n", "GET /metrics/ HTTP/1.1\r\n\r\n" };
	for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
		out = hs_metrics_http_respond(not_found[i], strlen(not_found[i]), render_fixed, body, &len);
		assert_memory_equal(out, "HTTP/1.0 404 Not Found\r\n", 24);
		free(out);
	}
	const char *const bad[] = { "GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics FTP/1.0\r\n\r\n", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = hs_metrics_http_respond(bad[i], strlen(bad[i]), render_fixed, body, &len);
		assert_memory_equal(out, "HTTP/1.0 400 Bad Request\r\n", 26);
		free(out);
	}
	char longline[600];
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "GET /", 5);
	out = hs_metrics_http_respond(longline, sizeof(longline), render_fixed, body, &len);
	assert_memory_equal(out, "HTTP/1.0 414", 12);
	free(out);
}

static void test_listen_addresses(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char err[256];

	(void)state;
	assert_int_equal(hs_metrics_http_parse_listen("127.0.0.1:9547", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(hs_metrics_http_parse_listen("[::1]:9547", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(hs_metrics_http_parse_listen("0.0.0.0:1", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(hs_metrics_http_parse_listen("[::]:65535", &ss, &len, err, sizeof(err)), 0);
	/* As the configuration loader reads them: the last colon ends an unbracketed address. */
	assert_int_equal(hs_metrics_http_parse_listen("::1:9547", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(hs_metrics_http_parse_listen("[127.0.0.1]:80", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);

	const char *const bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
				    "127.0.0.1:95x", "[::1]9547", "localhost:9547", ":9547",
				    "[::1:9547", "1.2.3.4:99999999999999999999", "off" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (hs_metrics_http_parse_listen(bad[i], &ss, &len, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "metrics listen address"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_values),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_format_empty),
		cmocka_unit_test(test_http_answers),
		cmocka_unit_test(test_listen_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
