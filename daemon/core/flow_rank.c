/*
 * flow_rank: the top flows by idle time, age, packets or bytes.  With a
 * limit the kept flows form a heap whose root is the least of them, so a
 * new flow either loses to the root at once or replaces it; at the end the
 * heap is sorted in place (heapsort), best first.
 */
#include "hs_flow_rank.h"

#include <stdlib.h>
#include <string.h>

static const char *const sort_names[HS_SORT_COUNT] = {
	[HS_SORT_NONE] = "none", [HS_SORT_IDLE] = "idle", [HS_SORT_AGE] = "age", [HS_SORT_PACKETS] = "packets",
	[HS_SORT_BYTES] = "bytes",
};

const char *hs_flow_sort_name(enum hs_flow_sort sort)
{
	return (unsigned)sort < HS_SORT_COUNT ? sort_names[sort] : "unknown";
}

int hs_flow_sort_parse(const char *name)
{
	for (int i = 0; i < HS_SORT_COUNT; i++)
		if (strcmp(name, sort_names[i]) == 0)
			return i;
	return -1;
}

static uint64_t measure(enum hs_flow_sort by, const struct hs_flow_view *v)
{
	switch (by) {
	case HS_SORT_IDLE:
		return v->idle_ms;
	case HS_SORT_AGE:
		return v->age_ms;
	case HS_SORT_PACKETS:
		return (uint64_t)v->flow.packets[HS_CLIENT] + v->flow.packets[HS_SERVER];
	case HS_SORT_BYTES:
		return hs_flow_bytes(&v->flow, HS_CLIENT) + hs_flow_bytes(&v->flow, HS_SERVER);
	default:
		return 0;
	}
}

/* Whether a ranks before b: more of the measure, then the lower id. */
static bool before(enum hs_flow_sort by, const struct hs_flow_view *a, const struct hs_flow_view *b)
{
	uint64_t ma = measure(by, a), mb = measure(by, b);

	return ma != mb ? ma > mb : a->flow.id < b->flow.id;
}

void hs_flow_rank_init(struct hs_flow_rank *r, enum hs_flow_sort by, size_t limit)
{
	memset(r, 0, sizeof(*r));
	r->by = by;
	r->limit = limit;
}

void hs_flow_rank_free(struct hs_flow_rank *r)
{
	free(r->items);
	r->items = NULL;
	r->count = r->capacity = 0;
}

static void swap(struct hs_flow_view *a, struct hs_flow_view *b)
{
	struct hs_flow_view t = *a;

	*a = *b;
	*b = t;
}

/* Restores the heap (root: the flow that ranks last) below position i, over the first count items. */
static void sift_down(struct hs_flow_rank *r, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < r->count && before(r->by, &r->items[m], &r->items[l]))
			m = l;
		if (l + 1 < r->count && before(r->by, &r->items[m], &r->items[l + 1]))
			m = l + 1;
		if (m == i)
			return;
		swap(&r->items[i], &r->items[m]);
		i = m;
	}
}

static void sift_up(struct hs_flow_rank *r, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(r->by, &r->items[parent], &r->items[i]))
			return;
		swap(&r->items[i], &r->items[parent]);
		i = parent;
	}
}

static bool grow(struct hs_flow_rank *r, size_t need)
{
	size_t capacity = r->capacity ? r->capacity : 256;

	while (capacity < need)
		capacity *= 2;
	if (r->limit && capacity > r->limit)
		capacity = r->limit;
	if (capacity <= r->capacity)
		return true;
	struct hs_flow_view *items = realloc(r->items, capacity * sizeof(*items));
	if (!items) {
		r->out_of_memory = true;
		return false;
	}
	r->items = items;
	r->capacity = capacity;
	return true;
}

bool hs_flow_rank_reserve(struct hs_flow_rank *r, size_t more)
{
	return grow(r, r->count + more);
}

bool hs_flow_rank_add(struct hs_flow_rank *r, const struct hs_flow_view *v)
{
	if (r->limit && r->count == r->limit) {
		if (!before(r->by, v, &r->items[0]))
			return true;
		r->items[0] = *v;
		sift_down(r, 0);
		return true;
	}
	if (r->count == r->capacity && !grow(r, r->count + 1))
		return false;
	r->items[r->count++] = *v;
	if (r->limit)
		sift_up(r, r->count - 1);
	return true;
}

void hs_flow_rank_finish(struct hs_flow_rank *r)
{
	size_t n = r->count;

	/* Without a limit the flows were kept as they came: make them a heap first. */
	if (!r->limit)
		for (size_t i = n / 2; i-- > 0;)
			sift_down(r, i);
	/* Heapsort: the root ranks last, so moving it to the end leaves the best first. */
	while (r->count > 1) {
		swap(&r->items[0], &r->items[r->count - 1]);
		r->count--;
		sift_down(r, 0);
	}
	r->count = n;
}
