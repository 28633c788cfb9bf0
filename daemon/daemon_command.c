/*
 * daemon_command: what the daemon answers over the control socket.  The
 * control socket (control.c) hands over a checked command; this module
 * carries it out against the workers, through their interface
 * (hs_worker.h), and against the daemon's configuration, and writes the
 * answer into the command's reply.
 *
 * The questions about flows are daemon_query.c's; this module answers the
 * others (stats, metrics, reload) and carries out kill.
 */
#include "hs_daemon_command.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_daemon_query.h"
#include "hs_log.h"
#include "hs_metrics.h"
#include "hs_watch.h"

/* ---- stats ---- */

/* What stats shows of the queues: their counters summed, the longest burst of any. */
struct queue_totals {
	uint64_t bursts, enobufs, recv_errors, send_errors, malformed, loop_max_us;
	bool kernel_found;
	uint64_t kernel_waiting, kernel_dropped, kernel_user_dropped;
};

static struct queue_totals sum_queues(const struct hs_metrics_snapshot *s)
{
	struct queue_totals t = { 0 };

	for (uint32_t i = 0; i < s->nqueues; i++) {
		const struct hs_metrics_queue *q = &s->queues[i];

		t.bursts += q->bursts;
		t.enobufs += q->enobufs;
		t.recv_errors += q->recv_errors;
		t.send_errors += q->send_errors;
		t.malformed += q->malformed;
		if (q->loop_max_us > t.loop_max_us)
			t.loop_max_us = q->loop_max_us;
		t.kernel_found |= q->kernel_found;
		t.kernel_waiting += q->kernel_waiting;
		t.kernel_dropped += q->kernel_dropped;
		t.kernel_user_dropped += q->kernel_user_dropped;
	}
	return t;
}

/* The counters that need adding up over reasons, for both forms of stats. */
struct stats_totals {
	uint64_t malformed, evicted;
};

static void stats_json(struct hs_reply *r, const struct hs_daemon *d, const struct hs_metrics_snapshot *s,
		       const struct queue_totals *q, const struct stats_totals *t)
{
	uint64_t parse_total = t->malformed, evicted = t->evicted;

	hs_reply_printf(r, "{\"uptime_ms\":%" PRIu64 ",\"queues\":%u,\"queue_first\":%u,\"reloads\":%" PRIu64
			",\"reload_failures\":%" PRIu64 ",", s->uptime_ms, d->nworkers, d->config.queue_first, s->reloads,
			s->reload_failures);
	hs_reply_printf(r, "\"packets\":{\"seen\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"dropped\":%" PRIu64
		     ",\"own\":%" PRIu64 ",\"loopback_repeat\":%" PRIu64 ",\"not_tcp\":%" PRIu64
		     ",\"fragments\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"malformed\":%" PRIu64
		     ",\"syn_with_data\":%" PRIu64 "},",
		     s->packets, s->accepted, s->dropped, s->own_packets, s->loopback_repeats, s->not_tcp, s->fragments,
		     s->invalid, parse_total, s->syn_with_data);
	hs_reply_printf(r, "\"invalid\":{");
	for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
		hs_reply_printf(r, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", hs_invalid_reason_name((enum hs_invalid_reason)i),
			     s->invalid_by_reason[i]);
	hs_reply_printf(r, "},\"malformed\":{");
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		hs_reply_printf(r, "%s\"%s\":%" PRIu64, i > HS_PARSE_EMPTY ? "," : "",
			     hs_parse_result_name((enum hs_parse_result)i), s->malformed_by_reason[i]);
	hs_reply_printf(r, "},\"flows\":{\"live\":%u,\"half_open\":%u,\"capacity\":%u,\"created\":%" PRIu64
		     ",\"expired\":%" PRIu64 ",\"evicted\":%" PRIu64 ",\"evicted_half_open\":%" PRIu64
		     ",\"evicted_established\":%" PRIu64 ",\"deleted\":%" PRIu64 ",\"reopened\":%" PRIu64
		     ",\"untracked_table_full\":%" PRIu64 ",\"resynced\":%" PRIu64 "},",
		     s->flows_live, s->flows_half_open, s->capacity, s->flows_created, s->flows_expired, evicted,
		     s->evicted_half_open, s->evicted_established, s->flows_deleted, s->flows_reopened,
		     s->untracked_table_full, s->flows_resynced);
	hs_reply_printf(r, "\"memory\":{\"flows\":%" PRIu64 ",\"index\":%" PRIu64 ",\"policies\":%" PRIu64 "},",
			s->memory_flows, s->memory_index, s->memory_policies);
	hs_reply_printf(r, "\"queue\":{\"bursts\":%" PRIu64 ",\"enobufs\":%" PRIu64 ",\"recv_errors\":%" PRIu64
		     ",\"send_errors\":%" PRIu64 ",\"malformed\":%" PRIu64 ",\"kernel_queued\":%" PRIu64
		     ",\"kernel_dropped\":%" PRIu64 ",\"kernel_user_dropped\":%" PRIu64 ",\"loop_max_us\":%" PRIu64
		     ",\"kernel_found\":%s},\"events_lost\":%" PRIu64,
		     q->bursts, q->enobufs, q->recv_errors, q->send_errors, q->malformed, q->kernel_waiting, q->kernel_dropped,
		     q->kernel_user_dropped, q->loop_max_us, q->kernel_found ? "true" : "false", s->events_lost);
	hs_reply_printf(r, ",\"watch\":{\"watchers\":%u,\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64
			",\"dropped\":%" PRIu64 "}", s->watch.watchers, s->watch.delivered, s->watch.lost, s->watch.dropped);
	if (s->drop_pcap_on)
		hs_reply_printf(r, ",\"drop_pcap\":{\"written\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"write_errors\":%" PRIu64
			     ",\"rotations\":%" PRIu64 "}",
			     s->drop_pcap.written, s->drop_pcap.lost, s->drop_pcap.write_errors, s->drop_pcap.rotations);
	hs_reply_printf(r, ",\"state\":{\"on\":%s,\"saves\":%" PRIu64 ",\"save_failures\":%" PRIu64
		     ",\"last_save_wall_ms\":%" PRIu64 ",\"last_save_flows\":%" PRIu64 ",\"last_save_bytes\":%" PRIu64
		     ",\"last_save_ms\":%" PRIu64 ",\"loaded_flows\":%" PRIu64 ",\"load_skipped\":%" PRIu64
		     ",\"load_refused\":%" PRIu64 ",\"requeued\":%s,\"pool\":{\"waiting\":%" PRIu64
		     ",\"claimed\":%" PRIu64 ",\"expired\":%" PRIu64 ",\"no_room\":%" PRIu64
		     ",\"forgotten\":%" PRIu64 "}}",
		     s->state_on ? "true" : "false", s->state.saves, s->state.save_failures, s->state.last_save_wall_ms,
		     s->state.last_save_flows, s->state.last_save_bytes, s->state.last_save_ms, s->state.loaded_flows,
		     s->state.load_skipped, s->state.load_refused, s->state.requeued ? "true" : "false",
		     s->state.pool.waiting, s->state.pool.claimed, s->state.pool.expired, s->state.pool.no_room,
		     s->state.pool.forgotten);
	hs_reply_printf(r, ",\"local_addresses\":{\"read\":%s,\"count\":%u,\"changes\":%" PRIu64
		     ",\"resyncs\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"untracked\":%" PRIu64 "}",
		     s->addrs_read ? "true" : "false", s->local_addresses, s->addr_watch.changes,
		     s->addr_watch.resyncs, s->addr_watch.errors, s->addr_watch.untracked);
	hs_reply_printf(r, ",\"resets\":{\"sent\":%" PRIu64 ",\"retried\":%" PRIu64 ",\"failed\":%" PRIu64
		     ",\"skipped\":%" PRIu64 ",\"waiting\":%" PRIu64 ",\"deferred\":%" PRIu64
		     "},\"policy_counts_full\":%" PRIu64,
		     s->rst.sent, s->rst.retried, s->rst.failed, s->rst.skipped, s->rst_waiting, s->rst_deferred,
		     s->policy_counts_full);
	hs_reply_printf(r, ",\"policies\":[");
	for (uint32_t i = 0; i < s->npolicies; i++)
		hs_reply_printf(r, "%s{\"name\":\"%s\",\"acted\":%" PRIu64 ",\"dry_run\":%" PRIu64
			     ",\"verified\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"resets_sent\":%" PRIu64 "}",
			     i ? "," : "", s->policies[i].name, s->policies[i].counters.acted,
			     s->policies[i].counters.dry_run, s->policies[i].counters.verified,
			     s->policies[i].counters.refused, s->policies[i].counters.resets_sent);
	hs_reply_printf(r, "]}\n");
}

/* The same snapshot as the metrics, without counting flows by state; handshakectl formats it for people. */
static void cmd_stats(struct hs_reply *r, struct hs_daemon *d)
{
	static struct hs_metrics_snapshot s;
	struct stats_totals t = { 0, 0 };

	hs_daemon_snapshot(d, &s, false);
	struct queue_totals q = sum_queues(&s);
	t.evicted = s.evicted_half_open + s.evicted_established;
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		t.malformed += s.malformed_by_reason[i];
	hs_reply_printf(r, "ok\n");
	stats_json(r, d, &s, &q, &t);
	hs_metrics_snapshot_free(&s);
}

/* ---- metrics ---- */

static void cmd_metrics(struct hs_reply *r, struct hs_daemon *d)
{
	static struct hs_metrics_snapshot snap;
	size_t len;

	hs_daemon_snapshot(d, &snap, true);
	char *text = hs_metrics_format(&snap, &len);
	hs_metrics_snapshot_free(&snap);
	if (!text) {
		hs_reply_printf(r, "error: metrics: out of memory\n");
		return;
	}
	hs_reply_printf(r, "ok\n");
	hs_reply_put(r, text, len);
	free(text);
}

/* ---- kill, reload ---- */

/*
 * Resets the flows the request names (ids, filters, or both: all must
 * hold) on every worker, then says how many.  Naming ids that match nothing
 * is an error, as a kill of a flow already gone is; filters that match
 * nothing are not.
 */
static void cmd_kill(struct hs_reply *r, struct hs_daemon *d, const struct hs_ctl_request *req)
{
	struct hs_worker_kill_result k = { 0, 0, 0 };

	for (uint32_t i = 0; i < d->nworkers; i++)
		hs_worker_kill(d->workers[i], &req->match, &k);
	if (k.flows == 0 && req->match.n_ids) {
		hs_reply_printf(r, "error: kill: no flow with id %" PRIu32 "%s\n", req->match.ids[0],
				req->match.n_ids > 1 ? " or the other ids given" : "");
		return;
	}
	log_info("control: kill: %u flow(s) reset, %u RST(s) sent, %u waiting for the kernel", k.flows, k.sent,
		 k.queued);
	hs_reply_printf(r, "ok\n{\"killed\":%u,\"resets_sent\":%u,\"resets_waiting\":%u}\n", k.flows, k.sent,
			k.queued);
}

static void cmd_reload(struct hs_reply *r, struct hs_daemon *d)
{
	struct hs_diag diag;
	int rc = hs_daemon_reload(d, &diag);
	const char *text = hs_diag_text(&diag);

	if (rc == 0)
		hs_reply_printf(r, "ok\nconfiguration reloaded from %s\n", d->config_path);
	else
		hs_reply_printf(r, "error: %s has errors; the running configuration is kept\n", d->config_path);
	if (*text) {
		if (rc != 0)
			fputs(text, stderr);
		hs_reply_put(r, text, strlen(text));
	}
	hs_diag_free(&diag);
}

/* handshakectl save: a snapshot now, as on stop. */
static void cmd_save(struct hs_reply *r, struct hs_daemon *d)
{
	char err[HS_PATH_MAX + 128];

	if (hs_daemon_save(d, err, sizeof(err)) < 0) {
		hs_reply_printf(r, "error: %s\n", err);
		return;
	}
	hs_reply_printf(r, "ok\nsaved %" PRIu64 " flows to %s/%s (%" PRIu64 " bytes, %" PRIu64 " ms)\n",
			d->state.stats.last_save_flows, d->state.dir, HS_STATE_FILE, d->state.stats.last_save_bytes,
			d->state.stats.last_save_ms);
}

void hs_daemon_command(struct hs_daemon *d, const struct hs_control_command *cmd)
{
	struct hs_reply *r = cmd->reply;
	const struct hs_ctl_request *req = &cmd->req;

	switch (req->verb) {
	case HS_CTL_LIST:
	case HS_CTL_COUNT:
	case HS_CTL_SUMMARY:
	case HS_CTL_TOP:
		hs_daemon_query(d, cmd);
		break;
	case HS_CTL_KILL:
		if (req->dry_run)
			hs_daemon_query(d, cmd);
		else
			cmd_kill(r, d, req);
		break;
	case HS_CTL_WATCH:
		hs_watch_start(d->watch, r, req);
		break;
	case HS_CTL_STATS:
		cmd_stats(r, d);
		break;
	case HS_CTL_METRICS:
		cmd_metrics(r, d);
		break;
	case HS_CTL_RELOAD:
		cmd_reload(r, d);
		break;
	case HS_CTL_SAVE:
		cmd_save(r, d);
		break;
	case HS_CTL_PING:
	case HS_CTL_VERB_COUNT:
		hs_reply_printf(r, "ok\npong\n");
		break;
	}
}
