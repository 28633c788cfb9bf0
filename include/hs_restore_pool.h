/*
 * hs_restore_pool: the flows of a snapshot written with another set of
 * queues, waiting for the worker that owns them.  The kernel spreads
 * connections over a --queue-balance range by a hash under a random seed it
 * never exposes, so nobody can say which new queue a saved flow belongs
 * to; the first worker that sees a packet of it can.  The pool owns those
 * flows from the load until each is claimed (moved into the claiming
 * worker's table on a packet that matched nothing there) or until
 * state.max_age after the load, when the main thread forgets the rest.
 *
 * Workers consult it only on a table miss, and only while it holds flows:
 * the test is one atomic load, so the common path (a packet of a tracked
 * flow, or any packet once the pool is empty) never takes its lock.
 */
#ifndef HS_RESTORE_POOL_H
#define HS_RESTORE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs_flow.h"
#include "hs_policy_engine.h"
#include "hs_table.h"

struct hs_restore_pool_entry {
	struct hs_flow_v6 image;    /* as saved: key, states, windows, history, counters, id; taken: not in use */
	struct hs_flow_ages ages;   /* at the load, the gap while no daemon ran included */
	uint32_t next;              /* index + 1 of the next entry in the bucket; 0 = end */
};

struct hs_restore_pool_stats {
	uint64_t waiting;           /* flows no worker has claimed yet */
	uint64_t claimed;           /* moved into a worker's table by their first packet */
	uint64_t expired;           /* claimed, but their timeout had passed: gone at once */
	uint64_t no_room;           /* claimed, but the worker's table was full: tracked afresh */
	uint64_t forgotten;         /* still unclaimed at state.max_age, or not taken at the load */
};

struct hs_restore_pool {
	pthread_mutex_t lock;       /* over everything below; never held while a table is locked by another */
	_Atomic uint64_t waiting;   /* read without the lock: 0 = nothing to look for */
	struct hs_restore_pool_entry *entries;
	uint32_t capacity, used;
	uint32_t *buckets;          /* index + 1 of the first entry; 0 = empty */
	uint32_t bucket_mask;
	uint8_t key[16];            /* SipHash key of the buckets */
	uint64_t loaded_ms;         /* monotonic: when the ages were taken */
	uint64_t forget_ms;         /* monotonic: when the unclaimed rest is dropped; UINT64_MAX = never */
	uint64_t claimed, expired, no_room, forgotten;
};

/*
 * An empty pool for up to capacity flows, loaded at loaded_ms, whose
 * unclaimed flows are forgotten at forget_ms.  false if memory is short.
 */
bool hs_restore_pool_init(struct hs_restore_pool *pool, uint32_t capacity, const uint8_t key[16],
			  uint64_t loaded_ms, uint64_t forget_ms);
void hs_restore_pool_free(struct hs_restore_pool *pool);

/* Adds a saved flow (before the workers run); false if the pool is full or already holds its tuple. */
bool hs_restore_pool_add(struct hs_restore_pool *pool, const struct hs_flow *image, const struct hs_flow_ages *ages);

/*
 * Takes the flow of key out of the pool, with its ages moved on to now_ms.
 * False (without taking the lock) when the pool is empty.
 */
bool hs_restore_pool_take(struct hs_restore_pool *pool, const struct hs_flow_key *key, uint8_t family,
			  uint64_t now_ms, struct hs_flow_v6 *image, struct hs_flow_ages *ages);

/*
 * A worker's table missed key: takes the flow from the pool, if it holds
 * it, into the table (the worker's lock held), counts it for the engine's
 * limits and returns true, so the packet is tracked on it.  A flow whose
 * timeout passed before its first packet came leaves at once, as expired;
 * one that finds the table full is left to be tracked afresh.
 */
bool hs_restore_pool_claim(struct hs_restore_pool *pool, struct hs_table *table, struct hs_policy_engine *engine,
			   const struct hs_flow_key *key, uint8_t family, uint64_t now_ms);

/* The main thread's turn: past forget_ms, drops what is left.  Returns how many flows it dropped. */
uint64_t hs_restore_pool_expire(struct hs_restore_pool *pool, uint64_t now_ms);

/*
 * Visits the waiting flows from *cursor, at most chunk entries per call
 * under the lock, with their ages at now_ms; true while entries remain.
 */
typedef void (*hs_restore_pool_fn)(void *ctx, const struct hs_flow *image, const struct hs_flow_ages *ages);
bool hs_restore_pool_walk(struct hs_restore_pool *pool, uint32_t *cursor, uint32_t chunk, uint64_t now_ms,
			  hs_restore_pool_fn fn, void *ctx);

void hs_restore_pool_stats(struct hs_restore_pool *pool, struct hs_restore_pool_stats *out);

#endif
