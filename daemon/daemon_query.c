/*
 * daemon_query: the questions handshakectl asks about the flows (list,
 * count, summary, top, and the list kill --dry-run prints), answered from
 * every worker's table.
 *
 * A query is a source (hs_control.h) the control socket steps while the
 * client reads: each step walks one chunk of one table through the worker's
 * interface (the worker's lock held for that chunk only) and either writes
 * the flows it found as JSON Lines or adds them to a count, a tally, a
 * ranking or groups, which are written once every table has been walked.
 * So a count over a million flows neither copies them out nor holds a
 * worker, the main loop, or any other client for more than a chunk.
 */
#include "hs_daemon_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hs_flow_groups.h"
#include "hs_flow_json.h"
#include "hs_flow_rank.h"
#include "hs_flow_tally.h"

/* Flows written per step: about 80 KiB of JSON. */
#define STEP_FLOWS 256
/*
 * Flows grouped per step.  A million groups make each new one a cache miss
 * or two in the index: 4096 of them keep a worker's lock held for about
 * 2.5 ms at worst (bench_query), where a whole chunk would hold it 10.
 */
#define STEP_GROUPED 4096

struct query {
	struct hs_query_walker walker;
	struct hs_ctl_request req;
	uint32_t worker, cursor;    /* where the walk is */
	bool walked;                /* every table has been walked */
	uint64_t matched;           /* flows the filters selected */
	size_t emitted;             /* results written so far */
	size_t step_n;              /* flows copied (streamed lists) or grouped (top) in this step */
	struct hs_flow_view step[STEP_FLOWS];
	struct hs_flow_rank rank;   /* list --sort */
	struct hs_flow_tally tally; /* summary */
	struct hs_flow_groups groups;   /* top */
};

/* Whether the query streams flows as it finds them (a list in table order, a dry run). */
static bool streams(const struct query *q)
{
	return (q->req.verb == HS_CTL_LIST && q->req.sort == HS_SORT_NONE) || q->req.verb == HS_CTL_KILL;
}

/* The walk's visitor: runs under the worker's lock, so it only copies or counts. */
static bool visit(void *ctx, const struct hs_table *table, const struct hs_flow *flow, uint64_t now_ms)
{
	struct query *q = ctx;
	struct hs_flow_view view;

	q->matched++;
	switch (q->req.verb) {
	case HS_CTL_LIST:
		if (q->req.sort != HS_SORT_NONE) {
			hs_flow_view_of(&view, table, flow, now_ms);
			hs_flow_rank_add(&q->rank, &view);
			return true;
		}
		/* fall through */
	case HS_CTL_KILL:
		hs_flow_view_of(&q->step[q->step_n++], table, flow, now_ms);
		/* A full step, or the limit reached: stop here, resume after this flow. */
		return q->step_n < STEP_FLOWS && !(q->req.limit && q->emitted + q->step_n >= q->req.limit);
	case HS_CTL_SUMMARY:
		hs_flow_tally_add(&q->tally, flow);
		return true;
	case HS_CTL_TOP:
		hs_flow_groups_add(&q->groups, flow);
		return ++q->step_n < STEP_GROUPED;
	default:
		return true;
	}
}

/* Walks one chunk of the current table; sets walked once the last table is done. */
static void walk_step(struct query *q)
{
	if (q->worker >= q->walker.parts) {
		q->walked = true;
		return;
	}
	/*
	 * Room for every flow a chunk can add, made before the walk: the
	 * visitor runs under the worker's lock, where nothing may allocate
	 * or copy what it already holds.
	 */
	q->step_n = 0;
	if (q->req.verb == HS_CTL_TOP)
		hs_flow_groups_reserve(&q->groups, STEP_GROUPED);
	if (q->req.verb == HS_CTL_LIST && q->req.sort != HS_SORT_NONE)
		hs_flow_rank_reserve(&q->rank, HS_WORKER_WALK_CHUNK);
	if (!q->walker.walk(q->walker.ctx, q->worker, &q->req.match, &q->cursor, visit, q)) {
		q->worker++;
		q->cursor = 0;
	}
	q->walked = q->worker >= q->walker.parts;
}

static void put_line(struct hs_reply *r, const char *line, size_t len)
{
	if (len == 0)
		return;
	hs_reply_put(r, line, len);
	hs_reply_put(r, "\n", 1);
}

static void put_views(struct hs_reply *r, const struct hs_flow_view *views, size_t n)
{
	char line[HS_FLOW_JSON_MAX];

	for (size_t i = 0; i < n; i++)
		put_line(r, line, hs_flow_view_json(line, sizeof(line), &views[i]));
}

/* A streamed list: the flows of one chunk, as they are found. */
static enum hs_source_step stream_step(struct query *q, struct hs_reply *r)
{
	walk_step(q);
	put_views(r, q->step, q->step_n);
	q->emitted += q->step_n;
	bool full = q->req.limit && q->emitted >= q->req.limit;
	if (!q->walked && !full)
		return HS_SOURCE_MORE;
	if (q->req.verb == HS_CTL_KILL)
		hs_reply_printf(r, "{\"dry_run\":true,\"flows\":%zu}\n", q->emitted);
	return HS_SOURCE_DONE;
}

/* Everything walked: the results of a count, a summary, a top, or a sorted list a step at a time. */
static enum hs_source_step emit_step(struct query *q, struct hs_reply *r)
{
	char line[HS_FLOW_TALLY_JSON_MAX];

	/* Told once, before the results: what memory could not hold is missing from them. */
	if (q->emitted == 0 && (q->groups.out_of_memory || q->rank.out_of_memory)) {
		hs_reply_printf(r, "{\"warning\":\"out of memory: the answer is incomplete\"}\n");
		q->groups.out_of_memory = q->rank.out_of_memory = false;
	}
	switch (q->req.verb) {
	case HS_CTL_COUNT:
		hs_reply_printf(r, "{\"count\":%" PRIu64 "}\n", q->matched);
		return HS_SOURCE_DONE;
	case HS_CTL_SUMMARY:
		put_line(r, line, hs_flow_tally_json(line, sizeof(line), &q->tally));
		return HS_SOURCE_DONE;
	case HS_CTL_TOP:
		for (size_t i = 0; i < q->groups.count; i++)
			put_line(r, line, hs_flow_group_json(line, sizeof(line), q->req.by, &q->groups.items[i]));
		return HS_SOURCE_DONE;
	default: {
		size_t n = q->rank.count - q->emitted < STEP_FLOWS ? q->rank.count - q->emitted : STEP_FLOWS;
		put_views(r, q->rank.items + q->emitted, n);
		q->emitted += n;
		return q->emitted < q->rank.count ? HS_SOURCE_MORE : HS_SOURCE_DONE;
	}
	}
}

static enum hs_source_step query_step(void *state, struct hs_reply *r)
{
	struct query *q = state;

	if (streams(q))
		return stream_step(q, r);
	if (!q->walked) {
		walk_step(q);
		if (!q->walked)
			return HS_SOURCE_MORE;
		/* Results come out in their order, at most the limit of them. */
		if (q->req.verb == HS_CTL_TOP)
			hs_flow_groups_rank(&q->groups, q->req.limit);
		if (q->req.verb == HS_CTL_LIST)
			hs_flow_rank_finish(&q->rank);
		q->emitted = 0;
	}
	return emit_step(q, r);
}

static void query_release(void *state)
{
	struct query *q = state;

	hs_flow_rank_free(&q->rank);
	hs_flow_groups_free(&q->groups);
	free(q);
}

static const struct hs_reply_source query_source = { query_step, query_release, false };

void hs_query_start(struct hs_reply *reply, const struct hs_ctl_request *req, const struct hs_query_walker *walker,
		    const uint8_t hash_key[16])
{
	struct query *q = calloc(1, sizeof(*q));

	if (!q) {
		hs_reply_printf(reply, "error: %s: out of memory\n", hs_ctl_verb_name(req->verb));
		return;
	}
	q->walker = *walker;
	q->req = *req;
	hs_flow_rank_init(&q->rank, q->req.sort, q->req.limit);
	hs_flow_groups_init(&q->groups, q->req.by, hash_key);
	hs_reply_printf(reply, "ok\n");
	hs_reply_stream(reply, &query_source, q);
}

/* The daemon's tables: one part per worker. */
static bool walk_worker(void *ctx, uint32_t part, const struct hs_flow_match *match, uint32_t *cursor,
			hs_table_walk_fn fn, void *fctx)
{
	struct hs_daemon *d = ctx;

	return hs_worker_walk(d->workers[part], match, cursor, fn, fctx);
}

void hs_daemon_query(struct hs_daemon *d, const struct hs_control_command *cmd)
{
	struct hs_query_walker walker = { d->nworkers, walk_worker, d };
	uint8_t key[16];

	/* Groups are found by a keyed hash: addresses chosen from outside must not make top slow. */
	if (getrandom(key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key))
		memset(key, 0x5a, sizeof(key));
	hs_query_start(cmd->reply, &cmd->req, &walker, key);
}
