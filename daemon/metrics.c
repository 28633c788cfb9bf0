/*
 * metrics: the Prometheus text formatter (see hs_metrics.h).  This file is
 * pure: a snapshot in, text out.  The collector, which touches the running
 * daemon, lives in metrics_collect.c.
 *
 * Names follow Prometheus conventions: a handshaked_ prefix, _total on
 * counters, base units (seconds) for durations, and labels rather than
 * names for the dimensions (state, side, reason, policy, queue), with every
 * known label value present even when zero so that rates and sums work
 * from the first scrape.
 */
#include "hs_metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer; after a failed allocation every append is ignored. */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void text_reserve(struct text *t, size_t more)
{
	if (t->failed || t->len + more + 1 <= t->cap)
		return;
	size_t cap = t->cap ? t->cap : 8192;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *grown = realloc(t->buf, cap);
	if (!grown) {
		t->failed = true;
		return;
	}
	t->buf = grown;
	t->cap = cap;
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;

	if (t->failed)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	text_reserve(t, (size_t)n);
	if (t->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/*
 * Label values escape backslash, double quote and newline, as the
 * exposition format requires.  Policy names cannot contain them today, but
 * the formatter should not depend on what the loader happens to allow.
 */
static void label_value(char *out, size_t size, const char *value)
{
	size_t o = 0;

	for (const char *p = value; *p && o + 3 < size; p++) {
		if (*p == '\\' || *p == '"') {
			out[o++] = '\\';
			out[o++] = *p;
		} else if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample without labels. */
static void sample(struct text *t, const char *name, uint64_t value)
{
	text_printf(t, "%s %" PRIu64 "\n", name, value);
}

static void scalar(struct text *t, const char *name, const char *type, const char *help, uint64_t value)
{
	family(t, name, type, help);
	sample(t, name, value);
}

/* Microseconds as seconds, exactly: six decimals hold every microsecond. */
static void seconds_text(char *out, size_t size, uint64_t us)
{
	snprintf(out, size, "%" PRIu64 ".%06" PRIu64, us / 1000000u, us % 1000000u);
}

static void format_packets(struct text *t, const struct hs_metrics_snapshot *s)
{
	family(t, "handshaked_packets_total", "counter", "Packets read from the queues, by verdict.");
	text_printf(t, "handshaked_packets_total{verdict=\"accept\"} %" PRIu64 "\n", s->accepted);
	text_printf(t, "handshaked_packets_total{verdict=\"drop\"} %" PRIu64 "\n", s->dropped);

	scalar(t, "handshaked_packets_policy_dropped_total", "counter",
	       "Packets dropped by policies (refused SYNs, blocked flows); included in verdict=\"drop\".",
	       s->policy_dropped);

	family(t, "handshaked_packets_untracked_total", "counter",
	       "Packets accepted without tracking, by reason.");
	text_printf(t, "handshaked_packets_untracked_total{reason=\"not_tcp\"} %" PRIu64 "\n", s->not_tcp);
	text_printf(t, "handshaked_packets_untracked_total{reason=\"fragment\"} %" PRIu64 "\n", s->fragments);
	text_printf(t, "handshaked_packets_untracked_total{reason=\"own\"} %" PRIu64 "\n", s->own_packets);
	text_printf(t, "handshaked_packets_untracked_total{reason=\"loopback_repeat\"} %" PRIu64 "\n",
		    s->loopback_repeats);
	text_printf(t, "handshaked_packets_untracked_total{reason=\"table_full\"} %" PRIu64 "\n",
		    s->untracked_table_full);

	family(t, "handshaked_invalid_packets_total", "counter",
	       "TCP packets judged invalid by the state machine or window checks, by reason.");
	for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
		text_printf(t, "handshaked_invalid_packets_total{reason=\"%s\"} %" PRIu64 "\n",
			    hs_invalid_reason_name((enum hs_invalid_reason)i), s->invalid_by_reason[i]);

	family(t, "handshaked_malformed_packets_total", "counter", "Packets the parser rejected, by reason.");
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		text_printf(t, "handshaked_malformed_packets_total{reason=\"%s\"} %" PRIu64 "\n",
			    hs_parse_result_name((enum hs_parse_result)i), s->malformed_by_reason[i]);
}

static void format_flows(struct text *t, const struct hs_metrics_snapshot *s)
{
	static const char *const sides[2] = { "client", "server" };

	family(t, "handshaked_flows", "gauge", "Tracked connections by endpoint (side) and that endpoint's TCP state.");
	for (int side = 0; side < 2; side++)
		for (int st = 0; st < HS_TCP_STATE_COUNT; st++)
			text_printf(t, "handshaked_flows{side=\"%s\",state=\"%s\"} %" PRIu32 "\n", sides[side],
				    hs_tcp_state_name((enum hs_tcp_state)st), s->flows_by_state[side][st]);
	family(t, "handshaked_local_endpoints", "gauge",
	       "Endpoints of tracked connections that are this host's own sockets (end host), by TCP state.");
	for (int st = 0; st < HS_TCP_STATE_COUNT; st++)
		text_printf(t, "handshaked_local_endpoints{state=\"%s\"} %" PRIu32 "\n",
			    hs_tcp_state_name((enum hs_tcp_state)st), s->local_by_state[st]);
	scalar(t, "handshaked_flows_live", "gauge", "Tracked connections.", s->flows_live);
	scalar(t, "handshaked_flows_half_open", "gauge", "Tracked connections that never completed the handshake.",
	       s->flows_half_open);
	scalar(t, "handshaked_flows_capacity", "gauge", "Connections the tables can hold (table.max_flows per queue).",
	       s->capacity);
	scalar(t, "handshaked_flows_created_total", "counter", "Connections that started being tracked.",
	       s->flows_created);
	scalar(t, "handshaked_flows_expired_total", "counter", "Connections removed after their state's timeout.",
	       s->flows_expired);
	family(t, "handshaked_flows_evicted_total", "counter",
	       "Connections removed to make room in a full table, by what they were.");
	text_printf(t, "handshaked_flows_evicted_total{kind=\"half_open\"} %" PRIu64 "\n", s->evicted_half_open);
	text_printf(t, "handshaked_flows_evicted_total{kind=\"established\"} %" PRIu64 "\n", s->evicted_established);
	scalar(t, "handshaked_flows_deleted_total", "counter", "Connections removed by an operator or a policy.",
	       s->flows_deleted);
	scalar(t, "handshaked_flows_reopened_total", "counter",
	       "New connections that replaced a closed one on the same addresses and ports.", s->flows_reopened);
	scalar(t, "handshaked_syn_with_data_total", "counter",
	       "SYN and SYN-ACK segments that carried data (TCP Fast Open).", s->syn_with_data);
	family(t, "handshaked_memory_bytes", "gauge",
	       "Memory the tables may hold, all queues (an upper bound on what is resident): flow records handed "
	       "out, the hash index and the tables themselves, the policies' tables in use.");
	text_printf(t, "handshaked_memory_bytes{part=\"flows\"} %" PRIu64 "\n", s->memory_flows);
	text_printf(t, "handshaked_memory_bytes{part=\"index\"} %" PRIu64 "\n", s->memory_index);
	text_printf(t, "handshaked_memory_bytes{part=\"policies\"} %" PRIu64 "\n", s->memory_policies);
}

static void format_policies(struct text *t, const struct hs_metrics_snapshot *s)
{
	char name[2 * HS_POLICY_NAME_MAX + 1];

	family(t, "handshaked_policy_actions_total", "counter",
	       "Times each policy acted (mode=\"live\") or would have acted in dry run (mode=\"dry_run\").");
	for (uint32_t i = 0; i < s->npolicies; i++) {
		label_value(name, sizeof(name), s->policies[i].name);
		text_printf(t, "handshaked_policy_actions_total{policy=\"%s\",mode=\"live\"} %" PRIu64 "\n", name,
			    s->policies[i].counters.acted);
		text_printf(t, "handshaked_policy_actions_total{policy=\"%s\",mode=\"dry_run\"} %" PRIu64 "\n", name,
			    s->policies[i].counters.dry_run);
	}
	family(t, "handshaked_policy_verify_total", "counter",
	       "SYNs judged by verify policies: let through as proven (verified) or dropped once (refused).");
	for (uint32_t i = 0; i < s->npolicies; i++) {
		label_value(name, sizeof(name), s->policies[i].name);
		text_printf(t, "handshaked_policy_verify_total{policy=\"%s\",result=\"verified\"} %" PRIu64 "\n", name,
			    s->policies[i].counters.verified);
		text_printf(t, "handshaked_policy_verify_total{policy=\"%s\",result=\"refused\"} %" PRIu64 "\n", name,
			    s->policies[i].counters.refused);
	}
	family(t, "handshaked_policy_resets_sent_total", "counter", "RST segments sent by each policy.");
	for (uint32_t i = 0; i < s->npolicies; i++) {
		label_value(name, sizeof(name), s->policies[i].name);
		text_printf(t, "handshaked_policy_resets_sent_total{policy=\"%s\"} %" PRIu64 "\n", name,
			    s->policies[i].counters.resets_sent);
	}
	scalar(t, "handshaked_policy_count_table_full_total", "counter",
	       "Flows a limit could not count because its count table was full: limits then undercount.",
	       s->policy_counts_full);
}

static void format_resets(struct text *t, const struct hs_metrics_snapshot *s)
{
	family(t, "handshaked_rsts_total", "counter",
	       "RSTs of reset policies and kill, by what became of them: sent (the kernel took it, at once or "
	       "after waiting), failed (it never did), skipped (not built: the sequence number is unknown).");
	text_printf(t, "handshaked_rsts_total{result=\"sent\"} %" PRIu64 "\n", s->rst.sent);
	text_printf(t, "handshaked_rsts_total{result=\"failed\"} %" PRIu64 "\n", s->rst.failed);
	text_printf(t, "handshaked_rsts_total{result=\"skipped\"} %" PRIu64 "\n", s->rst.skipped);
	scalar(t, "handshaked_rsts_retried_total", "counter",
	       "RSTs the kernel refused at first (EAGAIN, ENOBUFS, ENOMEM) and that waited to be offered again.",
	       s->rst.retried);
	scalar(t, "handshaked_rsts_waiting", "gauge", "RSTs waiting to be offered to the kernel again.",
	       s->rst_waiting);
	scalar(t, "handshaked_rsts_deferred_total", "counter",
	       "Times a timed reset policy waited a tick because the RSTs already waiting left no room for its own.",
	       s->rst_deferred);
}

/* Snapshots of the table (state.dir): always shown, so that "never saved" is visible as 0. */
static void format_state(struct text *t, const struct hs_metrics_snapshot *s)
{
	const struct hs_state_stats *st = &s->state;
	char sec[32];

	scalar(t, "handshaked_state_enabled", "gauge", "Whether snapshots are on (state.dir is set).", s->state_on);
	scalar(t, "handshaked_state_saves_total", "counter", "Snapshots of the table written.", st->saves);
	scalar(t, "handshaked_state_save_failures_total", "counter", "Snapshots that could not be written.",
	       st->save_failures);
	family(t, "handshaked_state_last_save_timestamp_seconds", "gauge",
	       "When the last snapshot was written (Unix time; 0 = never).");
	seconds_text(sec, sizeof(sec), st->last_save_wall_ms * 1000u);
	text_printf(t, "handshaked_state_last_save_timestamp_seconds %s\n", sec);
	scalar(t, "handshaked_state_last_save_flows", "gauge", "Flows the last snapshot held.", st->last_save_flows);
	scalar(t, "handshaked_state_last_save_bytes", "gauge", "Size of the last snapshot.", st->last_save_bytes);
	family(t, "handshaked_state_last_save_duration_seconds", "gauge", "How long writing the last snapshot took.");
	seconds_text(sec, sizeof(sec), st->last_save_ms * 1000u);
	text_printf(t, "handshaked_state_last_save_duration_seconds %s\n", sec);
	scalar(t, "handshaked_state_loaded_flows", "gauge", "Flows taken from the snapshot at start.", st->loaded_flows);
	scalar(t, "handshaked_state_load_skipped_flows", "gauge",
	       "Flows of the snapshot not taken at start (no room, or local sockets from before a reboot).",
	       st->load_skipped);
	scalar(t, "handshaked_state_load_refused_total", "counter",
	       "Snapshots refused at start (damaged, another version or machine) and renamed .bad.", st->load_refused);
	scalar(t, "handshaked_state_restored_waiting_flows", "gauge",
	       "Restored flows of another set of queues waiting for the worker that sees their first packet.",
	       st->pool.waiting);
	scalar(t, "handshaked_state_restored_claimed_total", "counter",
	       "Restored flows a worker took into its table on their first packet.", st->pool.claimed);
	scalar(t, "handshaked_state_restored_expired_total", "counter",
	       "Restored flows whose timeout had passed when their first packet came.", st->pool.expired);
	scalar(t, "handshaked_state_restored_no_room_total", "counter",
	       "Restored flows that found their worker's table full.", st->pool.no_room);
	scalar(t, "handshaked_state_restored_forgotten_total", "counter",
	       "Restored flows that saw no packet within state.max_age.", st->pool.forgotten);
}

_Static_assert(HS_BURST_TIMED_ONE_IN == 8, "the burst histogram's help texts say one burst in 8");

static void format_queues(struct text *t, const struct hs_metrics_snapshot *s)
{
	char sec[32];

	if (!s->queues)
		return;
	family(t, "handshaked_queue_bursts_total", "counter", "Bursts of packets read from each queue.");
	for (uint32_t i = 0; i < s->nqueues; i++)
		text_printf(t, "handshaked_queue_bursts_total{queue=\"%u\"} %" PRIu64 "\n", s->queues[i].queue,
			    s->queues[i].bursts);
	family(t, "handshaked_queue_packets_total", "counter", "Packets read from each queue.");
	for (uint32_t i = 0; i < s->nqueues; i++)
		text_printf(t, "handshaked_queue_packets_total{queue=\"%u\"} %" PRIu64 "\n", s->queues[i].queue,
			    s->queues[i].packets);
	family(t, "handshaked_queue_errors_total", "counter",
	       "Queue socket errors: enobufs (the socket overflowed and notifications were lost), recv, send, "
	       "malformed (messages that held no usable packet).");
	for (uint32_t i = 0; i < s->nqueues; i++) {
		const struct hs_metrics_queue *q = &s->queues[i];
		text_printf(t, "handshaked_queue_errors_total{queue=\"%u\",kind=\"enobufs\"} %" PRIu64 "\n", q->queue,
			    q->enobufs);
		text_printf(t, "handshaked_queue_errors_total{queue=\"%u\",kind=\"recv\"} %" PRIu64 "\n", q->queue,
			    q->recv_errors);
		text_printf(t, "handshaked_queue_errors_total{queue=\"%u\",kind=\"send\"} %" PRIu64 "\n", q->queue,
			    q->send_errors);
		text_printf(t, "handshaked_queue_errors_total{queue=\"%u\",kind=\"malformed\"} %" PRIu64 "\n", q->queue,
			    q->malformed);
	}
	/* The kernel's counters exist only while the queue is bound; leave them out otherwise. */
	family(t, "handshaked_queue_kernel_waiting", "gauge", "Packets waiting in the kernel for a verdict.");
	for (uint32_t i = 0; i < s->nqueues; i++)
		if (s->queues[i].kernel_found)
			text_printf(t, "handshaked_queue_kernel_waiting{queue=\"%u\"} %" PRIu64 "\n", s->queues[i].queue,
				    s->queues[i].kernel_waiting);
	family(t, "handshaked_queue_kernel_dropped_total", "counter",
	       "Packets the kernel could not queue: queue_full (maxlen reached) or socket_full (receive buffer). "
	       "With fail_open they passed unexamined.");
	for (uint32_t i = 0; i < s->nqueues; i++) {
		const struct hs_metrics_queue *q = &s->queues[i];
		if (!q->kernel_found)
			continue;
		text_printf(t, "handshaked_queue_kernel_dropped_total{queue=\"%u\",reason=\"queue_full\"} %" PRIu64 "\n",
			    q->queue, q->kernel_dropped);
		text_printf(t, "handshaked_queue_kernel_dropped_total{queue=\"%u\",reason=\"socket_full\"} %" PRIu64 "\n",
			    q->queue, q->kernel_user_dropped);
	}
	family(t, "handshaked_burst_duration_max_seconds", "gauge",
	       "Longest time a worker spent handling one burst since start, among the bursts timed (one in 8, at random).");
	for (uint32_t i = 0; i < s->nqueues; i++) {
		seconds_text(sec, sizeof(sec), s->queues[i].loop_max_us);
		text_printf(t, "handshaked_burst_duration_max_seconds{queue=\"%u\"} %s\n", s->queues[i].queue, sec);
	}
	family(t, "handshaked_burst_duration_seconds", "histogram",
	       "Time a worker spent handling one burst of packets (parse, track, verdicts); one burst in 8 is timed, drawn at random.");
	for (uint32_t i = 0; i < s->nqueues; i++) {
		const struct hs_metrics_queue *q = &s->queues[i];
		uint64_t cumulative = 0;

		for (int b = 0; b < HS_BURST_BUCKETS - 1; b++) {
			cumulative += q->burst_us_buckets[b];
			seconds_text(sec, sizeof(sec), hs_burst_bucket_le_us[b]);
			text_printf(t, "handshaked_burst_duration_seconds_bucket{queue=\"%u\",le=\"%s\"} %" PRIu64 "\n",
				    q->queue, sec, cumulative);
		}
		cumulative += q->burst_us_buckets[HS_BURST_BUCKETS - 1];
		text_printf(t, "handshaked_burst_duration_seconds_bucket{queue=\"%u\",le=\"+Inf\"} %" PRIu64 "\n",
			    q->queue, cumulative);
		seconds_text(sec, sizeof(sec), q->burst_us_sum);
		text_printf(t, "handshaked_burst_duration_seconds_sum{queue=\"%u\"} %s\n", q->queue, sec);
		text_printf(t, "handshaked_burst_duration_seconds_count{queue=\"%u\"} %" PRIu64 "\n", q->queue,
			    cumulative);
	}
}

static void format_addrs(struct text *t, const struct hs_metrics_snapshot *s)
{
	const struct hs_addr_watch_stats *a = &s->addr_watch;

	scalar(t, "handshaked_local_addresses", "gauge",
	       "Addresses (and local prefixes) of the host, as read over rtnetlink.", s->local_addresses);
	scalar(t, "handshaked_local_addresses_read", "gauge",
	       "1 once the host's addresses were read, 0 if they could not be (no endpoint is known as local).",
	       s->addrs_read ? 1 : 0);
	scalar(t, "handshaked_local_address_changes_total", "counter",
	       "Additions and removals of the host's addresses applied.", a->changes);
	family(t, "handshaked_local_address_problems_total", "counter",
	       "Following the host's addresses: resync (read again whole after lost notifications), "
	       "error (failed reads or malformed messages), untracked (left out: the set was full).");
	text_printf(t, "handshaked_local_address_problems_total{kind=\"resync\"} %" PRIu64 "\n", a->resyncs);
	text_printf(t, "handshaked_local_address_problems_total{kind=\"error\"} %" PRIu64 "\n", a->errors);
	text_printf(t, "handshaked_local_address_problems_total{kind=\"untracked\"} %" PRIu64 "\n", a->untracked);
}

char *hs_metrics_format(const struct hs_metrics_snapshot *s, size_t *len)
{
	struct text t = { 0 };
	char sec[32];

	family(&t, "handshaked_uptime_seconds", "gauge", "Seconds since the daemon started.");
	seconds_text(sec, sizeof(sec), s->uptime_ms * 1000u);
	text_printf(&t, "handshaked_uptime_seconds %s\n", sec);
	family(&t, "handshaked_reloads_total", "counter", "Configuration reloads, by result.");
	text_printf(&t, "handshaked_reloads_total{result=\"applied\"} %" PRIu64 "\n", s->reloads);
	text_printf(&t, "handshaked_reloads_total{result=\"refused\"} %" PRIu64 "\n", s->reload_failures);
	format_packets(&t, s);
	format_flows(&t, s);
	format_policies(&t, s);
	format_resets(&t, s);
	format_queues(&t, s);
	scalar(&t, "handshaked_events_lost_total", "counter", "Flow events that could not be written.", s->events_lost);
	scalar(&t, "handshaked_watch_clients", "gauge", "Control-socket clients watching events.", s->watch.watchers);
	scalar(&t, "handshaked_watch_events_total", "counter", "Events written to watchers (once per watcher).",
	       s->watch.delivered);
	scalar(&t, "handshaked_watch_lost_total", "counter",
	       "Events a watcher lost: it read too slowly (once per watcher).", s->watch.lost);
	scalar(&t, "handshaked_watch_dropped_total", "counter",
	       "Events the workers could not hand over to watchers: the main loop fell behind.", s->watch.dropped);
	if (s->drop_pcap_on) {
		scalar(&t, "handshaked_drop_pcap_written_total", "counter",
		       "Dropped packets written to the log.pcap file.", s->drop_pcap.written);
		scalar(&t, "handshaked_drop_pcap_lost_total", "counter",
		       "Dropped packets not written to log.pcap: the writer fell behind.", s->drop_pcap.lost);
		scalar(&t, "handshaked_drop_pcap_write_errors_total", "counter",
		       "Dropped packets the log.pcap file refused (disk full, ...).", s->drop_pcap.write_errors);
		scalar(&t, "handshaked_drop_pcap_rotations_total", "counter",
		       "Times log.pcap was moved to FILE.1 for having reached pcap_max_mb.", s->drop_pcap.rotations);
	}
	format_addrs(&t, s);
	format_state(&t, s);

	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
