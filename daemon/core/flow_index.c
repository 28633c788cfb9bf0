/*
 * flow_index: filing records in the flow table's hash index and taking
 * them out (hs_flow_index.h says how the index is laid out and why).
 * Lookups are inline in the header, on every packet's path; these run
 * when a flow starts or ends.
 */
#include "hs_flow_index.h"

#include <errno.h>
#include "hs_bigmem.h"

void hs_index_size(struct hs_flow_index *x, uint32_t capacity)
{
	/* At most HS_INDEX_FILL entries a line at a full table, and never fewer than two lines. */
	x->nlines = (uint32_t)(((uint64_t)capacity + HS_INDEX_FILL - 1) / HS_INDEX_FILL) + 1;
	x->bytes = (size_t)x->nlines * sizeof(struct hs_index_line);
	x->lines = NULL;
}

bool hs_index_init(struct hs_flow_index *x, uint32_t capacity)
{
	hs_index_size(x, capacity);
	x->lines = hs_bigmem_alloc(x->bytes, true);
	if (!x->lines) {
		errno = ENOMEM;
		return false;
	}
	return true;
}

void hs_index_finalise(struct hs_flow_index *x)
{
	if (x->lines)
		hs_bigmem_free(x->lines, x->bytes);
	x->lines = NULL;
}

static inline uint32_t entry_of(struct hs_index_place place, uint32_t record)
{
	return place.tag << HS_INDEX_RECORD_BITS | record;
}

void hs_index_insert(struct hs_flow_index *x, struct hs_index_place place, uint32_t record)
{
	uint32_t line = place.home;

	/* There are more slots than records, so a free one comes before the walk wraps to home. */
	for (uint32_t walked = 0; walked < x->nlines; walked++) {
		struct hs_index_line *l = &x->lines[line];
		uint32_t empty = hs_index_words_equal(l, 0, 0);

		if (empty) {
			l->slot[__builtin_ctz(empty)] = entry_of(place, record);
			return;
		}
		l->passed++;
		line = hs_index_next_line(x, line);
	}
}

bool hs_index_remove(struct hs_flow_index *x, struct hs_index_place place, uint32_t record)
{
	uint32_t entry = entry_of(place, record), line = place.home;

	/*
	 * The entry lies in the first line holding it from home on, and every
	 * line before that counted it as passing: each count goes down as the
	 * walk passes it again.  The walk stops where the counts say nothing
	 * went further, so a missing entry changes no count.
	 */
	for (uint32_t walked = 0; walked < x->nlines; walked++) {
		struct hs_index_line *l = &x->lines[line];
		uint32_t held = hs_index_words_equal(l, 0, entry);

		if (held) {
			l->slot[__builtin_ctz(held)] = 0;
			for (uint32_t back = place.home; back != line; back = hs_index_next_line(x, back))
				x->lines[back].passed--;
			return true;
		}
		if (l->passed == 0)
			return false;
		line = hs_index_next_line(x, line);
	}
	return false;
}

void hs_index_shape(const struct hs_flow_index *x, struct hs_index_shape *out)
{
	uint32_t run = 0, longest_run = 0;

	out->lines = x->nlines;
	out->used = 0;
	/* Twice round, so that a run of passed lines across the end is counted whole. */
	for (uint64_t i = 0; i < 2ull * x->nlines; i++) {
		const struct hs_index_line *l = &x->lines[i % x->nlines];

		if (i < x->nlines && hs_index_words_equal(l, 0, 0) != (1u << HS_INDEX_SLOTS) - 1)
			out->used++;
		run = l->passed ? run + 1 : 0;
		if (run > longest_run)
			longest_run = run < x->nlines ? run : x->nlines - 1;
	}
	out->longest_walk = longest_run + 1;
}
