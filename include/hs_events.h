/*
 * hs_events: the JSON Lines event log (`log.events`).  Each worker fills its
 * own buffer while it handles a burst and writes it with one write() at the
 * end, so events cost no system call per packet and lines from different
 * workers never interleave.  Events: new, state, close, expire, evict,
 * delete; each carries the flow object of hs_flow_json.
 */
#ifndef HS_EVENTS_H
#define HS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_table.h"

#define HS_EVENTS_BUFFER (64 * 1024)

struct hs_events {
	int fd;                     /* -1: events off */
	/*
	 * Replay runs the table on the capture's clock (milliseconds since the
	 * epoch), so an event's time is the table time it is given rather than
	 * the time it is written.
	 */
	bool table_clock_is_wall;
	size_t len;
	uint64_t written, lost;     /* lines written; lines lost to write errors */
	char buf[HS_EVENTS_BUFFER];
};

void hs_events_init(struct hs_events *ev, int fd);

/*
 * Appends one event.  old_state (by side) may be NULL; detail, if not
 * NULL, is added as "reason".
 */
void hs_events_flow(struct hs_events *ev, const char *event, const struct hs_table *table,
		    const struct hs_flow *flow, uint64_t now_ms, const uint8_t *old_state,
		    const char *detail);

/*
 * Appends the events a tracked packet raised: "new" (reason "reopened" for
 * a new connection on a closed tuple) or "state" with the states before,
 * then "close" once both endpoints are done.
 */
void hs_events_track(struct hs_events *ev, const struct hs_table *table, const struct hs_track_result *res,
		     uint64_t now_ms);

/* Writes what is buffered. */
void hs_events_flush(struct hs_events *ev);

#endif
