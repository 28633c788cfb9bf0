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
#include "hs_policy.h"
#include "hs_table.h"

#define HS_EVENTS_BUFFER (64 * 1024)

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
