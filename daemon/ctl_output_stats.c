/*
 * ctl_output_stats: `handshakectl stats` for people, from the JSON the
 * daemon answers with: the counters grouped by what they count, reasons and
 * policies one per line, zeros of the reasons left out.
 */
#include "hs_ctl_output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A number member of a member: get(d, root, "packets", "seen"). */
static uint64_t get(const struct hs_json_doc *d, const struct hs_json_node *root, const char *section,
		    const char *key)
{
	return hs_json_u64(d, hs_json_get(d, root, section), key);
}

static bool is_true(const struct hs_json_doc *d, const struct hs_json_node *o, const char *key)
{
	const struct hs_json_node *n = hs_json_get(d, o, key);

	return n && n->type == HS_JSON_TRUE;
}

/* The members of an object that are not zero, one per line: "  invalid         REASON   N". */
static uint64_t reasons(FILE *out, const struct hs_json_doc *d, const struct hs_json_node *o, const char *label)
{
	uint64_t total = 0;

	for (const struct hs_json_node *m = hs_json_first(d, o); m; m = hs_json_next(d, m))
		total += strtoull(m->text ? m->text : "0", NULL, 10);
	for (const struct hs_json_node *m = hs_json_first(d, o); m && out; m = hs_json_next(d, m))
		if (m->type == HS_JSON_NUMBER && strcmp(m->text, "0") != 0)
			fprintf(out, "  %-15s %-20s %s\n", label, m->key, m->text);
	return total;
}

static void packets_flows(FILE *out, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	const struct hs_json_node *inv = hs_json_get(d, root, "invalid"), *mal = hs_json_get(d, root, "malformed");

	fprintf(out, "packets           seen %" PRIu64 ", accepted %" PRIu64 ", dropped %" PRIu64 ", own (untracked) %" PRIu64
		", loopback seen twice (untracked) %" PRIu64 "\n", get(d, root, "packets", "seen"),
		get(d, root, "packets", "accepted"), get(d, root, "packets", "dropped"), get(d, root, "packets", "own"),
		get(d, root, "packets", "loopback_repeat"));
	fprintf(out, "                  not TCP %" PRIu64 ", fragments %" PRIu64 ", malformed %" PRIu64 ", invalid TCP %" PRIu64 "\n",
		get(d, root, "packets", "not_tcp"), get(d, root, "packets", "fragments"), reasons(NULL, d, mal, NULL),
		reasons(NULL, d, inv, NULL));
	fprintf(out, "                  SYNs with data (TCP Fast Open) %" PRIu64 "\n", get(d, root, "packets", "syn_with_data"));
	reasons(out, d, inv, "invalid");
	reasons(out, d, mal, "malformed");
	fprintf(out, "flows             live %" PRIu64 " (half-open %" PRIu64 ") of %" PRIu64 "\n", get(d, root, "flows", "live"),
		get(d, root, "flows", "half_open"), get(d, root, "flows", "capacity"));
	fprintf(out, "                  created %" PRIu64 ", expired %" PRIu64 ", evicted %" PRIu64 " (half-open %" PRIu64
		", established %" PRIu64 "), deleted %" PRIu64 ", reopened %" PRIu64 "\n", get(d, root, "flows", "created"),
		get(d, root, "flows", "expired"), get(d, root, "flows", "evicted"), get(d, root, "flows", "evicted_half_open"),
		get(d, root, "flows", "evicted_established"), get(d, root, "flows", "deleted"),
		get(d, root, "flows", "reopened"));
	fprintf(out, "                  untracked (table full) %" PRIu64 ", resynchronised after missed packets %" PRIu64 "\n",
		get(d, root, "flows", "untracked_table_full"), get(d, root, "flows", "resynced"));
	if (hs_json_get(d, root, "memory"))
		fprintf(out, "memory            flows %.1f MiB, index %.1f MiB, policies %.1f MiB (at most resident)\n",
			(double)get(d, root, "memory", "flows") / (1 << 20),
			(double)get(d, root, "memory", "index") / (1 << 20),
			(double)get(d, root, "memory", "policies") / (1 << 20));
}

static void queue_events(FILE *out, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	const struct hs_json_node *q = hs_json_get(d, root, "queue"), *pcap = hs_json_get(d, root, "drop_pcap");

	fprintf(out, "queue             bursts %" PRIu64 ", enobufs %" PRIu64 ", recv errors %" PRIu64 ", send errors %" PRIu64
		", malformed %" PRIu64 ", longest burst %" PRIu64 " us\n", hs_json_u64(d, q, "bursts"),
		hs_json_u64(d, q, "enobufs"), hs_json_u64(d, q, "recv_errors"), hs_json_u64(d, q, "send_errors"),
		hs_json_u64(d, q, "malformed"), hs_json_u64(d, q, "loop_max_us"));
	if (is_true(d, q, "kernel_found"))
		fprintf(out, "kernel queue      waiting %" PRIu64 ", dropped (queue full) %" PRIu64 ", dropped (socket full) %" PRIu64 "\n",
			hs_json_u64(d, q, "kernel_queued"), hs_json_u64(d, q, "kernel_dropped"),
			hs_json_u64(d, q, "kernel_user_dropped"));
	fprintf(out, "events            lost %" PRIu64 "\n", hs_json_u64(d, root, "events_lost"));
	fprintf(out, "watch             %" PRIu64 " watching; events delivered %" PRIu64 ", lost (readers behind) %" PRIu64
		", dropped (rings full) %" PRIu64 "\n", get(d, root, "watch", "watchers"), get(d, root, "watch", "delivered"),
		get(d, root, "watch", "lost"), get(d, root, "watch", "dropped"));
	if (pcap)
		fprintf(out, "dropped capture   written %" PRIu64 ", lost (writer behind) %" PRIu64 ", write errors %" PRIu64
			", rotations %" PRIu64 "\n", hs_json_u64(d, pcap, "written"), hs_json_u64(d, pcap, "lost"),
			hs_json_u64(d, pcap, "write_errors"), hs_json_u64(d, pcap, "rotations"));
}

/* When the last snapshot was written, as local time and as an age, and how many flows it held. */
static void snapshots(FILE *out, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	const struct hs_json_node *st = hs_json_get(d, root, "state"), *p = hs_json_get(d, st, "pool");
	uint64_t saved_ms = hs_json_u64(d, st, "last_save_wall_ms");
	char when[64] = "never";

	if (!is_true(d, st, "on")) {
		fprintf(out, "snapshots         off (state.dir)\n");
		return;
	}
	if (saved_ms) {
		time_t t = (time_t)(saved_ms / 1000u);
		struct tm tm;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		uint64_t now_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
		uint64_t ago = now_ms > saved_ms ? now_ms - saved_ms : 0;
		size_t n = localtime_r(&t, &tm) ? strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) : 0;
		snprintf(when + n, sizeof(when) - n, " (%.1f s ago)", (double)ago / 1000.0);
	}
	fprintf(out, "snapshots         last written %s, %" PRIu64 " flows, %" PRIu64 " bytes in %" PRIu64 " ms; written %" PRIu64
		", failed %" PRIu64 "\n", when, hs_json_u64(d, st, "last_save_flows"), hs_json_u64(d, st, "last_save_bytes"),
		hs_json_u64(d, st, "last_save_ms"), hs_json_u64(d, st, "saves"), hs_json_u64(d, st, "save_failures"));
	fprintf(out, "                  at start: loaded %" PRIu64 " flows, left out %" PRIu64 ", snapshots refused %" PRIu64 "\n",
		hs_json_u64(d, st, "loaded_flows"), hs_json_u64(d, st, "load_skipped"), hs_json_u64(d, st, "load_refused"));
	bool requeued = is_true(d, st, "requeued");
	uint64_t waiting = hs_json_u64(d, p, "waiting"), claimed = hs_json_u64(d, p, "claimed"),
		 expired = hs_json_u64(d, p, "expired"), no_room = hs_json_u64(d, p, "no_room"),
		 forgotten = hs_json_u64(d, p, "forgotten");
	if (requeued || waiting || claimed || expired || no_room || forgotten)
		fprintf(out, "                  restored flows waiting for their worker%s: %" PRIu64 "; claimed %" PRIu64
			", expired on arrival %" PRIu64 ", no room %" PRIu64 ", forgotten at max_age %" PRIu64 "\n",
			requeued ? " (another set of queues)" : "", waiting, claimed, expired, no_room, forgotten);
}

static void addresses_resets_policies(FILE *out, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	const struct hs_json_node *a = hs_json_get(d, root, "local_addresses"), *r = hs_json_get(d, root, "resets");

	if (is_true(d, a, "read"))
		fprintf(out, "local addresses   %" PRIu64 "; changes %" PRIu64 ", read again %" PRIu64 ", errors %" PRIu64
			", left out (set full) %" PRIu64 "\n", hs_json_u64(d, a, "count"), hs_json_u64(d, a, "changes"),
			hs_json_u64(d, a, "resyncs"), hs_json_u64(d, a, "errors"), hs_json_u64(d, a, "untracked"));
	else
		fprintf(out, "local addresses   not read (no endpoint is known as local); errors %" PRIu64 "\n",
			hs_json_u64(d, a, "errors"));
	fprintf(out, "resets            sent %" PRIu64 ", retried %" PRIu64 ", failed %" PRIu64 ", skipped %" PRIu64
		", waiting %" PRIu64 ", deferred a tick %" PRIu64 "\n", hs_json_u64(d, r, "sent"), hs_json_u64(d, r, "retried"),
		hs_json_u64(d, r, "failed"), hs_json_u64(d, r, "skipped"), hs_json_u64(d, r, "waiting"),
		hs_json_u64(d, r, "deferred"));
	if (hs_json_u64(d, root, "policy_counts_full"))
		fprintf(out, "limits            %" PRIu64 " flow(s) not counted: count table full\n",
			hs_json_u64(d, root, "policy_counts_full"));
	for (const struct hs_json_node *p = hs_json_first(d, hs_json_get(d, root, "policies")); p; p = hs_json_next(d, p))
		fprintf(out, "policy %-18s acted %" PRIu64 ", dry-run %" PRIu64 ", verified %" PRIu64 ", refused %" PRIu64
			", resets sent %" PRIu64 "\n", hs_json_str(d, p, "name", "?"), hs_json_u64(d, p, "acted"),
			hs_json_u64(d, p, "dry_run"), hs_json_u64(d, p, "verified"), hs_json_u64(d, p, "refused"),
			hs_json_u64(d, p, "resets_sent"));
}

bool hs_ctl_text_stats(FILE *out, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	if (!hs_json_get(d, root, "uptime_ms") || !hs_json_get(d, root, "packets"))
		return false;
	fprintf(out, "uptime            %.1f s, %" PRIu64 " queue(s) from %" PRIu64 ", %" PRIu64 " reload(s), %" PRIu64
		" failed\n", (double)hs_json_u64(d, root, "uptime_ms") / 1000.0, hs_json_u64(d, root, "queues"),
		hs_json_u64(d, root, "queue_first"), hs_json_u64(d, root, "reloads"), hs_json_u64(d, root, "reload_failures"));
	packets_flows(out, d, root);
	queue_events(out, d, root);
	snapshots(out, d, root);
	addresses_resets_policies(out, d, root);
	return true;
}
