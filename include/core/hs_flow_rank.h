/*
 * hs_flow_rank: the flows with the most of something, for `handshakectl
 * list --sort`: the longest idle, the oldest, the busiest.  With a limit
 * it keeps only that many (a heap: a million flows cost a million compares
 * and no more memory than the limit); without one it keeps every flow it
 * is given.  The flows are views (hs_flow_json.h): copies with their times
 * resolved, so the ranking needs no table.
 */
#ifndef HS_FLOW_RANK_H
#define HS_FLOW_RANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_flow_json.h"

enum hs_flow_sort {
	HS_SORT_NONE = 0,           /* table order */
	HS_SORT_IDLE,               /* longest idle first */
	HS_SORT_AGE,                /* oldest first */
	HS_SORT_PACKETS,            /* most packets, both directions, first */
	HS_SORT_BYTES,              /* most bytes, both directions, first */
	HS_SORT_COUNT
};

const char *hs_flow_sort_name(enum hs_flow_sort sort);
/* The enum for a name ("idle", ...); -1 if none. */
int hs_flow_sort_parse(const char *name);

struct hs_flow_rank {
	enum hs_flow_sort by;
	size_t limit;               /* 0: keep every flow */
	size_t count, capacity;
	struct hs_flow_view *items;
	bool out_of_memory;         /* a flow could not be kept: the ranking is incomplete */
};

void hs_flow_rank_init(struct hs_flow_rank *rank, enum hs_flow_sort by, size_t limit);
/* Makes room for `more` flows, so that offering that many never allocates.  False when memory ran out. */
bool hs_flow_rank_reserve(struct hs_flow_rank *rank, size_t more);
/* Offers a flow; false when memory ran out. */
bool hs_flow_rank_add(struct hs_flow_rank *rank, const struct hs_flow_view *view);
/* Puts the flows kept in order, the most first (ties: the lower id first). */
void hs_flow_rank_finish(struct hs_flow_rank *rank);
void hs_flow_rank_free(struct hs_flow_rank *rank);

#endif
