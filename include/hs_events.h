/*
 * hs_events: the JSON Lines event log (`log.events`).  Each worker fills its
 * own buffer while it handles a burst and writes it with one write() at the
 * end, so events cost no system call per packet and lines from different
 * workers never interleave.  Events: new, state, close, expire, evict,
 * delete, policy; each carries the flow object of hs_flow_json.  The core
 * decides the events (hs_actions.h); this module only writes them, with
 * the wall-clock time its caller gives.
 */
#ifndef HS_EVENTS_H
#define HS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_actions.h"
#include "hs_flow_json.h"
#include "hs_policy.h"
#include "hs_table.h"

#define HS_EVENTS_BUFFER (64 * 1024)
#define HS_EVENT_REASON_MAX (HS_POLICY_NAME_MAX + 32)
#define HS_EVENT_JSON_MAX (HS_FLOW_JSON_MAX + 256)

/*
 * One event as a record, away from the table it happened in: what the
 * event log writes and what `handshakectl watch` streams (the workers hand
 * these to the main thread, which filters and formats them).
 */
struct hs_event {
	uint8_t kind;               /* enum hs_event_kind */
	bool has_from;              /* state events: the states before, by side */
	uint8_t from[2];
	char reason[HS_EVENT_REASON_MAX];   /* "" if none: "reopened", or the policy and its action */
	uint64_t wall_ms;           /* when, on the wall clock ("ts") */
	struct hs_flow_view flow;   /* the flow as it was then, its times resolved */
};

/* The record of the event an action of the core describes (an action of type HS_DO_EVENT). */
void hs_event_of(struct hs_event *event, const struct hs_table *table, const struct hs_action *action,
		 const struct hs_policy *policy, uint64_t wall_ms);

/*
 * {"ts":...,"event":"state","from":{...},"reason":...,"flow":{...}} and a
 * newline; returns the length, 0 if it did not fit.
 */
size_t hs_event_json(char *buf, size_t size, const struct hs_event *event);

struct hs_events {
	int fd;                     /* -1: events off */
	size_t len;
	uint64_t written, lost;     /* lines written; lines lost to write errors */
	char buf[HS_EVENTS_BUFFER];
};

void hs_events_init(struct hs_events *ev, int fd);

/*
 * Appends one event.  now_ms is the table's time of the event (for the
 * flow's ages), wall_ms the same moment on the wall clock ("ts").
 * old_state (by side) may be NULL; detail, if not NULL, is added as
 * "reason".
 */
void hs_events_flow(struct hs_events *ev, const char *event, const struct hs_table *table,
		    const struct hs_flow *flow, uint64_t now_ms, uint64_t wall_ms, const uint8_t *old_state,
		    const char *detail);

/*
 * Appends the event an action of the core describes (an action of type
 * HS_DO_EVENT), at wall_ms.  policy is the policy a "policy" event names
 * (NULL if that set was replaced since: the reason then says so).
 */
void hs_events_action(struct hs_events *ev, const struct hs_table *table, const struct hs_action *action,
		      const struct hs_policy *policy, uint64_t wall_ms);

/* Writes what is buffered. */
void hs_events_flush(struct hs_events *ev);

#endif
