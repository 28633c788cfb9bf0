/*
 * bench_query: what handshakectl's questions cost the daemon on a table of
 * a million flows.  The table is filled by the tracking core (handshakes to
 * 1000 servers on 4 ports; a third of the connections half-closed by their
 * client, leaving the server in CLOSE_WAIT), then each query runs as the
 * daemon runs it (daemon_query.c through an in-memory reply), its table
 * walked in chunks of HS_WORKER_WALK_CHUNK records, the chunk a worker's
 * lock is held for.  It reports the whole query's time and the longest
 * chunk of each run, the longest a worker would wait (medians of RUNS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_control.h"
#include "hs_ctl_request.h"
#include "hs_daemon_query.h"
#include "hs_table.h"
#include "hs_worker.h"
#include "bench_flows.h"
#include "bench_util.h"

#define RUNS 5
#define FLOWS 1000000u

/* Flow i's server: 10.255.x.y:(80|443|8080|9090), 1000 servers. */
static void make_packet(struct hs_packet *p, uint32_t i, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack)
{
	static const uint16_t ports[4] = { 80, 443, 8080, 9090 };
	uint32_t server = i % 1000;
	uint8_t saddr[4] = { 10, 255, (uint8_t)(server >> 8), (uint8_t)server };

	bench_packet(p, i, saddr, ports[(i / 1000) % 4], from_client, flags, seq, ack, 0);
}

static void track(struct hs_table *t, uint32_t i, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
		  uint64_t ms)
{
	struct hs_packet p;
	struct hs_track_result r;

	make_packet(&p, i, from_client, flags, seq, ack);
	hs_table_track(t, &p, ms, &r);
}

static struct hs_table *fill(void)
{
	struct hs_table *t = bench_table(FLOWS);
	if (!t)
		return NULL;
	for (uint32_t i = 0; i < FLOWS; i++) {
		uint64_t ms = i / 1000;
		track(t, i, true, HS_TCP_SYN, CLIENT_ISN, 0, ms);
		track(t, i, false, HS_TCP_SYN | HS_TCP_ACK, SERVER_ISN, CLIENT_ISN + 1, ms);
		track(t, i, true, HS_TCP_ACK, CLIENT_ISN + 1, SERVER_ISN + 1, ms);
		if (i % 3 == 0) {
			track(t, i, true, HS_TCP_FIN | HS_TCP_ACK, CLIENT_ISN + 1, SERVER_ISN + 1, ms);
			track(t, i, false, HS_TCP_ACK, SERVER_ISN + 1, CLIENT_ISN + 2, ms);
		}
	}
	return t;
}

static struct hs_table *table;
static uint64_t longest_chunk_ns;

/* The table as one worker's, each chunk timed: the time a worker's lock would be held. */
static bool walk(void *ctx, uint32_t part, const struct hs_flow_match *match, uint32_t *cursor, hs_table_walk_fn fn,
		 void *fctx)
{
	(void)ctx;
	(void)part;
	uint64_t t0 = now_ns();
	bool more = hs_table_walk(table, match, 1000000, cursor, HS_WORKER_WALK_CHUNK, fn, fctx);
	uint64_t took = now_ns() - t0;
	if (took > longest_chunk_ns)
		longest_chunk_ns = took;
	return more;
}

static void bench(const char *text)
{
	static char words[256];
	char *argv[16], err[256];
	int argc = 0;
	struct hs_ctl_request req;
	uint64_t times[RUNS], longest[RUNS];
	size_t len = 0;
	char first[96] = "";

	snprintf(words, sizeof(words), "%s", text);
	for (char *save = NULL, *w = strtok_r(words, " ", &save); w && argc < 16; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	if (!hs_ctl_request_parse(&req, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "bench_query: %s\n", err);
		exit(1);
	}
	req.json = true;
	for (int run = 0; run < RUNS; run++) {
		struct hs_reply *reply = hs_reply_new();
		struct hs_query_walker walker = { 1, walk, NULL };
		uint8_t key[16] = { 7 };
		longest_chunk_ns = 0;
		uint64_t t0 = now_ns();
		hs_query_start(reply, &req, &walker, key);
		const char *answer = hs_reply_collect(reply, &len);
		times[run] = now_ns() - t0;
		longest[run] = longest_chunk_ns;
		if (run == 0)
			snprintf(first, sizeof(first), "%.*s", (int)strcspn(answer + 3, "\n") < 60 ? (int)strcspn(answer + 3, "\n") : 60,
				 answer + 3);
		hs_reply_free(reply);
	}
	printf("%-48s %8.1f ms   longest chunk %6.2f ms   %8zu bytes   %s\n", text,
	       (double)median_u64(times, RUNS) / 1e6, (double)median_u64(longest, RUNS) / 1e6, len, first);
}

int main(void)
{
	uint64_t t0 = now_ns();

	srand(1);
	table = fill();
	if (!table) {
		fprintf(stderr, "bench_query: cannot allocate a table of %u flows\n", FLOWS);
		return 1;
	}
	printf("bench_query: %u flows tracked in %.1f s; medians of %d runs, chunks of %u records\n",
	       hs_table_stats(table)->live, (double)(now_ns() - t0) / 1e9, RUNS, HS_WORKER_WALK_CHUNK);
	bench("count");
	bench("count --server-state CLOSE_WAIT");
	bench("count --dst 10.255.1.0/24 --dport 443");
	bench("summary");
	bench("top --by dst");
	bench("top --server-state CLOSE_WAIT --by dst");
	bench("top --by dport");
	bench("top --by src --limit 10");
	bench("list --sort idle --limit 10");
	bench("list --dst 10.255.3.231");
	hs_table_destroy(table);
	return 0;
}
