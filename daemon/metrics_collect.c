/*
 * metrics_collect: gathers a metrics snapshot from the running daemon (see
 * hs_metrics.h), and reads the kernel's per-queue counters, which the
 * control socket's stats command shares.
 *
 * Each worker's counters are copied through its interface (hs_worker.h),
 * in one short hold of its lock.  Counting flows by state needs a walk
 * over the table's records, which the worker serves a chunk of records at
 * a time: a scrape of a table of millions of flows then delays a burst by
 * the time of one chunk, not of the whole walk.
 */
#include "hs_metrics.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


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

/* Adds one worker's counters to the totals and fills its queue entry (q may be NULL). */
static void add_worker(const struct hs_worker_counters *c, struct hs_metrics_snapshot *s, struct hs_metrics_queue *q)
{
	const struct hs_worker_stats *ws = &c->stats;
	const struct hs_table_stats *ts = &c->table;

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
	s->capacity += c->capacity;
	s->flows_created += ts->flows_created;
	s->flows_expired += ts->flows_removed[HS_REMOVE_EXPIRED];
	s->flows_deleted += ts->flows_removed[HS_REMOVE_DELETED];
	s->flows_reopened += ts->restarts;
	s->evicted_half_open += ts->evicted_half_open;
	s->evicted_established += ts->evicted_established;
	s->untracked_table_full += ts->untracked_table_full;
	s->flows_resynced += ts->resyncs;
	s->syn_with_data += ts->syn_with_data;
	s->events_lost += c->events_lost;
	s->rst.sent += c->rst.sent;
	s->rst.retried += c->rst.retried;
	s->rst.failed += c->rst.failed;
	s->rst.skipped += c->rst.skipped;
	s->rst_waiting += c->rst_waiting;
	s->rst_deferred += c->rst_deferred;
	s->policy_counts_full += c->policy_counts_full;
	s->memory_flows += c->memory_flows;
	s->memory_index += c->memory_index;
	s->memory_policies += c->memory_policies;
	/* The workers all run the same set: sum each policy's counters over them. */
	s->npolicies = c->npolicies;
	for (uint32_t i = 0; i < c->npolicies; i++) {
		struct hs_metrics_policy *p = &s->policies[i];
		memcpy(p->name, c->policies[i].name, HS_POLICY_NAME_MAX);
		p->counters.acted += c->policies[i].counters.acted;
		p->counters.dry_run += c->policies[i].counters.dry_run;
		p->counters.verified += c->policies[i].counters.verified;
		p->counters.refused += c->policies[i].counters.refused;
		p->counters.resets_sent += c->policies[i].counters.resets_sent;
	}
	if (q) {
		q->queue = c->queue;
		q->packets = ws->packets;
		q->bursts = ws->bursts;
		q->enobufs = c->nfq.enobufs;
		q->recv_errors = c->nfq.recv_errors;
		q->send_errors = c->nfq.send_errors;
		q->malformed = c->nfq.malformed;
		q->loop_max_us = ws->loop_max_us;
		memcpy(q->burst_us_buckets, ws->burst_us_buckets, sizeof(q->burst_us_buckets));
		q->burst_us_sum = ws->burst_us_sum;
	}
}

static bool count_by_state(void *ctx, const struct hs_table *table, const struct hs_flow *f, uint64_t now_ms)
{
	struct hs_metrics_snapshot *s = ctx;

	(void)table;
	(void)now_ms;
	if (f->state[HS_CLIENT] < HS_TCP_STATE_COUNT)
		s->flows_by_state[HS_CLIENT][f->state[HS_CLIENT]]++;
	if (f->state[HS_SERVER] < HS_TCP_STATE_COUNT)
		s->flows_by_state[HS_SERVER][f->state[HS_SERVER]]++;
	for (int side = HS_CLIENT; side <= HS_SERVER; side++)
		if ((hs_flow_local_sides(f) & HS_SIDE_BIT(side)) && f->state[side] < HS_TCP_STATE_COUNT)
			s->local_by_state[f->state[side]]++;
	return true;
}

void hs_metrics_collect_workers(struct hs_worker *const *workers, uint32_t n, struct hs_metrics_snapshot *s,
				bool by_state)
{
	static struct hs_worker_counters c;

	memset(s, 0, sizeof(*s));
	s->queues = calloc(n ? n : 1, sizeof(*s->queues));
	s->nqueues = s->queues ? n : 0;
	for (uint32_t i = 0; i < n; i++) {
		struct hs_metrics_queue *q = s->queues ? &s->queues[i] : NULL;

		hs_worker_counters(workers[i], &c);
		add_worker(&c, s, q);
		/* Counting by state walks the table, a chunk per hold of the worker's lock. */
		for (uint32_t cursor = 0; by_state && hs_worker_walk(workers[i], NULL, &cursor, count_by_state, s);)
			;
		if (q) {
			struct hs_queue_proc kp = hs_queue_proc_read(q->queue);
			q->kernel_found = kp.found;
			q->kernel_waiting = kp.waiting;
			q->kernel_dropped = kp.dropped;
			q->kernel_user_dropped = kp.user_dropped;
		}
	}
}

void hs_metrics_snapshot_free(struct hs_metrics_snapshot *s)
{
	free(s->queues);
	s->queues = NULL;
	s->nqueues = 0;
}
