/*
 * metrics_collect: gathers a metrics snapshot from the running daemon (see
 * hs_metrics.h), and reads the kernel's per-queue counters, which the
 * control socket's stats command shares.
 *
 * Everything is read under each worker's lock, the lock the worker takes
 * once per burst.  Counting flows by state needs a walk over the table's
 * records, so the walk takes the lock for one chunk of records at a time:
 * a scrape of a table of millions of flows then delays a burst by the time
 * of one chunk, not of the whole walk.
 */
#include "hs_metrics.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs_daemon.h"

/* Records examined per lock hold: about a millisecond's work. */
#define WALK_CHUNK 16384

#define QUEUE_PROC_PATH "/proc/self/net/netfilter/nfnetlink_queue"

/* The counters file opened by someone allowed to (see hs_queue_proc_adopt_stdin), or -1. */
static int queue_proc_fd = -1;

bool hs_queue_proc_adopt_stdin(void)
{
	char target[256];
	const char *suffix = "/net/netfilter/nfnetlink_queue";
	ssize_t n = readlink("/proc/self/fd/0", target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	size_t len = (size_t)n, slen = strlen(suffix);
	if (len < slen || strcmp(target + len - slen, suffix) != 0 || strncmp(target, "/proc/", 6) != 0)
		return false;
	int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return false;
	/* Standard input goes back to being nothing in particular. */
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	queue_proc_fd = fd;
	return true;
}

/* The counters file, from its start: the adopted descriptor, or opened by path. */
static FILE *open_queue_proc(void)
{
	if (queue_proc_fd >= 0) {
		/* A seq_file starts over from offset 0; the duplicate shares the offset and is closed by fclose. */
		if (lseek(queue_proc_fd, 0, SEEK_SET) == 0) {
			int fd = fcntl(queue_proc_fd, F_DUPFD_CLOEXEC, 3);
			FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
			if (f)
				return f;
			if (fd >= 0)
				close(fd);
		}
	}
	/*
	 * /proc/self/net is what /proc/net links to; naming it directly keeps
	 * working where /proc/net itself is hidden (hidepid mounts).
	 */
	return fopen(QUEUE_PROC_PATH, "re");
}

struct hs_queue_proc hs_queue_proc_read(uint16_t queue)
{
	struct hs_queue_proc qp = { 0 };
	FILE *f = open_queue_proc();
	char line[256];

	if (!f)
		return qp;
	while (fgets(line, sizeof(line), f)) {
		unsigned long num, portid, total, mode, range, dropped, udropped;
		if (sscanf(line, "%lu %lu %lu %lu %lu %lu %lu", &num, &portid, &total, &mode, &range, &dropped,
			   &udropped) == 7 && num == queue) {
			qp.found = true;
			qp.waiting = total;
			qp.dropped = dropped;
			qp.user_dropped = udropped;
		}
	}
	fclose(f);
	return qp;
}

uint32_t hs_metrics_policy_totals(struct hs_daemon *d, struct hs_metrics_policy *out)
{
	uint32_t n = 0;

	memset(out, 0, sizeof(*out) * HS_POLICY_MAX);
	for (uint32_t wi = 0; wi < d->nworkers; wi++) {
		struct hs_worker *w = &d->workers[wi];

		pthread_mutex_lock(&w->lock);
		const struct hs_policy_set *set = hs_policy_engine_policies(w->policy);
		const struct hs_policy_counters *c = hs_policy_engine_counters(w->policy);
		n = set->count;
		for (uint32_t i = 0; i < n; i++) {
			memcpy(out[i].name, set->items[i].name, HS_POLICY_NAME_MAX);
			out[i].counters.acted += c[i].acted;
			out[i].counters.dry_run += c[i].dry_run;
			out[i].counters.verified += c[i].verified;
			out[i].counters.refused += c[i].refused;
			out[i].counters.resets_sent += c[i].resets_sent;
		}
		pthread_mutex_unlock(&w->lock);
	}
	return n;
}

/* Adds one worker's counters to the totals and fills its queue entry (q may be NULL). */
static void collect_worker(struct hs_worker *w, struct hs_metrics_snapshot *s, struct hs_metrics_queue *q,
			   bool by_state)
{
	pthread_mutex_lock(&w->lock);
	const struct hs_worker_stats *ws = &w->stats;
	const struct hs_table_stats *ts = hs_table_stats(w->table);

	s->packets += ws->packets;
	s->accepted += ws->accepted;
	s->dropped += ws->dropped;
	s->policy_dropped += ws->policy_dropped;
	s->own_packets += ws->own_packets;
	s->loopback_repeats += ws->loopback_repeats;
	s->not_tcp += ws->not_tcp;
	s->fragments += ws->fragments;
	s->invalid += ws->invalid;
	for (int i = 0; i < HS_PARSE_RESULT_COUNT; i++)
		s->malformed_by_reason[i] += ws->parse_errors[i];
	for (int i = 0; i < HS_INVALID_REASON_COUNT; i++)
		s->invalid_by_reason[i] += ts->invalid[i];
	s->flows_live += ts->live;
	s->flows_half_open += ts->live_half_open;
	s->capacity += hs_table_capacity(w->table);
	s->flows_created += ts->flows_created;
	s->flows_expired += ts->flows_removed[HS_REMOVE_EXPIRED];
	s->flows_deleted += ts->flows_removed[HS_REMOVE_DELETED];
	s->flows_reopened += ts->restarts;
	s->evicted_half_open += ts->evicted_half_open;
	s->evicted_established += ts->evicted_established;
	s->untracked_table_full += ts->untracked_table_full;
	s->flows_resynced += ts->resyncs;
	s->syn_with_data += ts->syn_with_data;
	s->events_lost += w->events.lost + w->actions.events_lost;
	s->rst.sent += w->rst.stats.sent;
	s->rst.retried += w->rst.stats.retried;
	s->rst.failed += w->rst.stats.failed;
	s->rst.skipped += w->rst.stats.skipped;
	s->rst_waiting += hs_rst_waiting(&w->rst);
	s->rst_deferred += w->actions.resets_deferred;
	s->policy_counts_full += hs_policy_engine_counts_full(w->policy);
	if (q) {
		q->queue = w->queue;
		q->packets = ws->packets;
		q->bursts = ws->bursts;
		q->enobufs = w->nfq.stats.enobufs;
		q->recv_errors = w->nfq.stats.recv_errors;
		q->send_errors = w->nfq.stats.send_errors;
		q->malformed = w->nfq.stats.malformed;
		q->loop_max_us = ws->loop_max_us;
		memcpy(q->burst_us_buckets, ws->burst_us_buckets, sizeof(q->burst_us_buckets));
		q->burst_us_sum = ws->burst_us_sum;
	}
	pthread_mutex_unlock(&w->lock);

	for (uint32_t pos = 0, span = 1; by_state && pos < span;) {
		pthread_mutex_lock(&w->lock);
		/* The span grows while the worker runs: read it under the lock, chunk by chunk. */
		span = hs_table_span(w->table);
		uint32_t end = span - pos > WALK_CHUNK ? pos + WALK_CHUNK : span;
		for (; pos < end; pos++) {
			const struct hs_flow *f = hs_table_flow_at(w->table, pos);
			if (!f)
				continue;
			if (f->state[HS_CLIENT] < HS_TCP_STATE_COUNT)
				s->flows_by_state[HS_CLIENT][f->state[HS_CLIENT]]++;
			if (f->state[HS_SERVER] < HS_TCP_STATE_COUNT)
				s->flows_by_state[HS_SERVER][f->state[HS_SERVER]]++;
			for (int side = HS_CLIENT; side <= HS_SERVER; side++)
				if ((f->ep_flags[side] & HS_EP_LOCAL) && f->state[side] < HS_TCP_STATE_COUNT)
					s->local_by_state[f->state[side]]++;
		}
		pthread_mutex_unlock(&w->lock);
	}
}

void hs_metrics_collect(struct hs_daemon *d, struct hs_metrics_snapshot *s, bool by_state)
{
	memset(s, 0, sizeof(*s));
	s->uptime_ms = hs_now_ms() - d->started_ms;
	s->reloads = d->reloads;
	s->reload_failures = d->reload_failures;
	s->queues = calloc(d->nworkers ? d->nworkers : 1, sizeof(*s->queues));
	s->nqueues = s->queues ? d->nworkers : 0;
	for (uint32_t i = 0; i < d->nworkers; i++) {
		struct hs_metrics_queue *q = s->queues ? &s->queues[i] : NULL;

		collect_worker(&d->workers[i], s, q, by_state);
		if (q) {
			struct hs_queue_proc kp = hs_queue_proc_read(q->queue);
			q->kernel_found = kp.found;
			q->kernel_waiting = kp.waiting;
			q->kernel_dropped = kp.dropped;
			q->kernel_user_dropped = kp.user_dropped;
		}
	}
	s->npolicies = hs_metrics_policy_totals(d, s->policies);
	/* The address watch belongs to the main thread, which is the one collecting. */
	s->addrs_read = d->addrs.read_once;
	s->local_addresses = hs_local_addrs_count(&d->addrs.set);
	s->addr_watch = d->addrs.stats;
	s->drop_pcap_on = d->drop_pcap != NULL;
	hs_drop_pcap_stats(d->drop_pcap, &s->drop_pcap);
}

void hs_metrics_snapshot_free(struct hs_metrics_snapshot *s)
{
	free(s->queues);
	s->queues = NULL;
	s->nqueues = 0;
}
