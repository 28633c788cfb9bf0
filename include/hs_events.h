/*
 * hs_events: the JSON Lines event log (`log.events`).  Each worker fills its
 * own buffer while it handles a burst and writes it with one write() at the
 * end, so events cost no system call per packet and lines from different
 * workers never interleave.  Events: new, state, close, expire, evict,
 * delete; each carries the flow object of hs_flow_json.
 */
#ifndef HS_EVENTS_H
#define HS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

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
 * Appends one event.  old_state (by side) may be NULL; detail, if not
 * NULL, is added as "reason".
 */
void hs_events_flow(struct hs_events *ev, const char *event, const struct hs_table *table,
		    const struct hs_flow *flow, uint64_t now_ms, const uint8_t *old_state,
		    const char *detail);

/* Writes what is buffered. */
void hs_events_flush(struct hs_events *ev);

#endif
