/*
 * hs_daemon_query: the daemon's answers about its flows (list, count,
 * summary, top, kill --dry-run), produced from every worker's table a
 * chunk at a time as the client reads (see daemon_query.c).
 */
#ifndef HS_DAEMON_QUERY_H
#define HS_DAEMON_QUERY_H

#include "hs_control.h"
#include "hs_daemon.h"

/*
 * Where a query's flows come from: parts (one per worker's table) that
 * walk calls a chunk at a time, as hs_table_walk does, returning true while
 * the part has records left.
 */
struct hs_query_walker {
	uint32_t parts;
	bool (*walk)(void *ctx, uint32_t part, const struct hs_flow_match *match, uint32_t *cursor,
		     hs_table_walk_fn fn, void *fctx);
	void *ctx;
};

/*
 * Starts answering req ("ok" first) into reply, with a source the control
 * socket steps; hash_key keys the groups of top.
 */
void hs_query_start(struct hs_reply *reply, const struct hs_ctl_request *req, const struct hs_query_walker *walker,
		    const uint8_t hash_key[16]);

/* The same over the daemon's workers. */
void hs_daemon_query(struct hs_daemon *d, const struct hs_control_command *cmd);

#endif
