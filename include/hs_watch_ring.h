/*
 * hs_watch_ring: how a worker hands its flow events to the main thread for
 * `handshakectl watch`.  A fixed ring of event records with one producer
 * (the worker, on its packet path: it copies a record and moves on, never
 * waits, never allocates) and one consumer (the main thread, which filters
 * and formats for each watcher).  When the main thread falls behind and the
 * ring is full, the worker drops the event and counts it: a watcher can
 * never slow a worker.
 */
#ifndef HS_WATCH_RING_H
#define HS_WATCH_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs_events.h"

#define HS_WATCH_RING_SIZE 8192u    /* events between two drains (a power of two) */

struct hs_watch_ring {
	_Atomic uint32_t head;          /* next to take (consumer) */
	_Atomic uint32_t tail;          /* next to fill (producer) */
	_Atomic uint64_t dropped;       /* events that found the ring full */
	struct hs_event events[HS_WATCH_RING_SIZE];
};

/* An empty ring (mmap'd: a few MiB, only while someone watches).  NULL if memory is short. */
struct hs_watch_ring *hs_watch_ring_new(void);
void hs_watch_ring_free(struct hs_watch_ring *ring);

/* The worker's side: copies the event in, or counts it dropped when the ring is full. */
void hs_watch_ring_push(struct hs_watch_ring *ring, const struct hs_event *event);
/* The main thread's side: the oldest event, false when there is none. */
bool hs_watch_ring_pop(struct hs_watch_ring *ring, struct hs_event *out);

#endif
