/*
 * actions: the fixed-size list through which the core hands its decisions
 * to the edges (include/core/hs_actions.h).  Items are appended at the
 * end and taken from the head; the list becomes empty, and starts over at
 * the front, when the last one is taken.
 */
#include "hs_actions.h"

#include <stddef.h>
#include <string.h>

static const char *const event_names[HS_EV_KIND_COUNT] = {
	[HS_EV_NEW] = "new",
	[HS_EV_STATE] = "state",
	[HS_EV_CLOSE] = "close",
	[HS_EV_EXPIRE] = "expire",
	[HS_EV_EVICT] = "evict",
	[HS_EV_DELETE] = "delete",
	[HS_EV_POLICY] = "policy",
};

const char *hs_event_kind_name(enum hs_event_kind kind)
{
	return (unsigned)kind < HS_EV_KIND_COUNT ? event_names[kind] : "unknown";
}

void hs_actions_init(struct hs_actions *list, hs_actions_spill_fn spill, void *ctx)
{
	list->head = list->count = 0;
	list->capacity = HS_ACTIONS_MAX;
	list->reset_room = HS_ACTIONS_MAX / 2;
	list->want_events = true;
	list->events_lost = 0;
	list->resets_deferred = 0;
	list->spill = spill;
	list->spill_ctx = ctx;
}

uint32_t hs_actions_pending(const struct hs_actions *list)
{
	return list->count - list->head;
}

/* A free slot at the end, moving what is pending to the front first if that makes room. */
static struct hs_action *slot(struct hs_actions *list)
{
	uint32_t cap = list->capacity < HS_ACTIONS_MAX ? list->capacity : HS_ACTIONS_MAX;

	if (list->count >= cap && list->head > 0) {
		uint32_t pending = hs_actions_pending(list);
		memmove(list->items, list->items + list->head, pending * sizeof(list->items[0]));
		list->head = 0;
		list->count = pending;
	}
	if (list->count >= cap)
		return NULL;
	return &list->items[list->count++];
}

static void fill(struct hs_action *a, enum hs_action_type type, const struct hs_flow *flow, uint64_t now_ms)
{
	memset(a, 0, offsetof(struct hs_action, flow));
	a->type = (uint8_t)type;
	a->policy = HS_ACTIONS_NO_POLICY;
	a->now_ms = now_ms;
	hs_flow_copy(&a->copy, flow);
}

struct hs_action *hs_actions_event(struct hs_actions *list, enum hs_event_kind kind, const struct hs_flow *flow,
				   uint64_t now_ms)
{
	if (!list->want_events)
		return NULL;
	struct hs_action *a = slot(list);

	if (!a && list->spill) {
		list->spill(list->spill_ctx, list);
		a = slot(list);
	}
	if (!a) {
		list->events_lost++;
		return NULL;
	}
	fill(a, HS_DO_EVENT, flow, now_ms);
	a->event = (uint8_t)kind;
	return a;
}

struct hs_action *hs_actions_reset(struct hs_actions *list, const struct hs_flow *flow, uint32_t flow_index,
				   unsigned sides, uint64_t now_ms, bool deferrable)
{
	if (deferrable && list->reset_room == 0) {
		list->resets_deferred++;
		return NULL;
	}
	struct hs_action *a = slot(list);

	if (!a && list->spill) {
		list->spill(list->spill_ctx, list);
		a = slot(list);
	}
	if (!a)
		return NULL;
	if (list->reset_room)
		list->reset_room--;
	fill(a, HS_DO_RESET, flow, now_ms);
	a->sides = (uint8_t)sides;
	a->flow_index = flow_index;
	return a;
}

bool hs_actions_next(struct hs_actions *list, struct hs_action *out)
{
	if (list->head == list->count) {
		list->head = list->count = 0;
		return false;
	}
	*out = list->items[list->head++];
	if (list->head == list->count)
		list->head = list->count = 0;
	return true;
}

void hs_actions_spill_events(struct hs_actions *list, void (*fn)(void *ctx, const struct hs_action *event),
			     void *ctx)
{
	uint32_t kept = 0;

	for (uint32_t i = list->head; i < list->count; i++) {
		if (list->items[i].type == HS_DO_EVENT)
			fn(ctx, &list->items[i]);
		else
			list->items[kept++] = list->items[i];
	}
	list->head = 0;
	list->count = kept;
}
