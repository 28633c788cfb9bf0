/*
 * hs_watch: `handshakectl watch`, flow events streamed to clients of the
 * control socket as they happen, like `conntrack -E`.  It owns the
 * watchers (each a control-socket client with its filters) and, while
 * there is at least one, a ring per worker (hs_watch_ring.h) through which
 * the worker hands over its events.  The main loop drains the rings every
 * few milliseconds: each event is matched against each watcher's filters
 * (the same matcher as everywhere), formatted once, and appended to the
 * output of every watcher it matches.
 *
 * Nothing here can slow a worker: a full ring drops events (counted), and
 * a watcher that reads slowly loses the events its buffer has no room for;
 * it is told how many, in the stream, as {"event":"lost","count":N}, as
 * soon as it has room again.  Events the rings dropped are reported to
 * every watcher the same way (they were dropped before anyone could tell
 * whom they concerned).
 */
#ifndef HS_WATCH_H
#define HS_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_control.h"
#include "hs_ctl_request.h"
#include "hs_worker.h"

#define HS_WATCH_DRAIN_MS 10            /* how often the rings are drained while someone watches */
#define HS_WATCH_BUFFER_MAX (1u << 20)  /* a watcher's unread output beyond which events are lost */

struct hs_watch_stats {
	uint32_t watchers;          /* clients watching now */
	uint64_t delivered;         /* events written to a watcher (once per watcher) */
	uint64_t lost;              /* events a watcher had no room for (once per watcher) */
	uint64_t dropped;           /* events the workers' rings had no room for */
};

struct hs_watch;

/* The hub for these workers (which must outlive it).  NULL if memory is short. */
struct hs_watch *hs_watch_new(struct hs_worker *const *workers, uint32_t nworkers);
/* Ends every watch (the control socket's clients must be gone first) and frees the rings. */
void hs_watch_free(struct hs_watch *watch);

/*
 * Answers a watch request: "ok", then the events its filters select, for
 * as long as the client stays.  The workers start handing over their
 * events with the first watcher and stop with the last.
 */
void hs_watch_start(struct hs_watch *watch, struct hs_reply *reply, const struct hs_ctl_request *req);

/* Whether anyone watches: the main loop must then drain every HS_WATCH_DRAIN_MS. */
bool hs_watch_active(const struct hs_watch *watch);

/*
 * Moves the events the workers handed over to the watchers.  Returns true
 * if some watcher got output (the control socket should be kicked).
 */
bool hs_watch_drain(struct hs_watch *watch);

void hs_watch_stats(const struct hs_watch *watch, struct hs_watch_stats *out);

#endif
