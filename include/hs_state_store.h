/*
 * hs_state_store: the snapshot file in state.dir.  It owns writing every
 * worker's table to it atomically (a temporary file, fsync, rename, fsync
 * of the directory), a chunk of each table at a time so that no worker
 * waits longer than one chunk; and, at start, loading it into the workers
 * before they read a packet (a snapshot of another set of queues into the
 * restore pool, hs_restore_pool.h, whose flows the workers claim on their
 * first packet), or refusing it with the reason logged and renaming it
 * aside (`.bad`) so that the daemon starts empty.  The bytes themselves
 * are the core's (hs_snapshot.h).
 */
#ifndef HS_STATE_STORE_H
#define HS_STATE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_config.h"
#include "hs_restore_pool.h"
#include "hs_worker.h"

#define HS_STATE_FILE "handshaked.snap"

struct hs_state_stats {
	uint64_t saves;             /* snapshots written */
	uint64_t save_failures;     /* snapshots that could not be written (the reason is logged) */
	uint64_t last_save_wall_ms; /* when the last one was written (CLOCK_REALTIME); 0 = never */
	uint64_t last_save_flows;   /* how many flows it held */
	uint64_t last_save_bytes;
	uint64_t last_save_ms;      /* how long writing it took */
	uint64_t loaded_flows;      /* flows taken from the snapshot at start */
	uint64_t load_skipped;      /* flows of the snapshot not taken (no room, or a local socket from before a reboot) */
	uint64_t load_refused;      /* snapshots refused at start (damaged, another version or machine): renamed .bad */
	uint64_t load_ms;           /* how long loading took */
	bool requeued;              /* the snapshot came from another set of queues: its flows wait in the pool */
	struct hs_restore_pool_stats pool;
};

struct hs_state_store {
	char dir[HS_PATH_MAX];      /* "" = off */
	uint32_t interval_ms;       /* periodic saves; 0 = none */
	uint32_t max_age_ms;
	uint64_t next_save_ms;      /* monotonic; UINT64_MAX = none due */
	struct hs_state_stats stats;
	/*
	 * Flows of a snapshot written with another set of queues (or left
	 * unclaimed by the daemon that wrote it), each waiting for the worker
	 * that sees its first packet; forgotten state.max_age after the load.
	 */
	bool pool_on;
	struct hs_restore_pool pool;
};

/* Takes state.* from the configuration (at start and on reload). */
void hs_state_store_configure(struct hs_state_store *store, const struct hs_config *config, uint64_t now_ms);

/*
 * Loads the snapshot, if there is one, into the workers, which must not
 * have started.  A snapshot that cannot be used is logged and, if damaged,
 * renamed to HS_STATE_FILE.bad; the workers then start empty.  Never fails
 * the start.
 */
void hs_state_load(struct hs_state_store *store, struct hs_worker *const *workers, uint32_t nworkers);

/* When the pool's unclaimed flows are to be forgotten (monotonic ms); UINT64_MAX = never. */
uint64_t hs_state_pool_deadline(const struct hs_state_store *store);
/* The main thread's turn at now_ms: forgets the pool's unclaimed flows once state.max_age has passed. */
void hs_state_pool_expire(struct hs_state_store *store, uint64_t now_ms);
/* The counters, the pool's as they are now. */
void hs_state_stats_get(struct hs_state_store *store, struct hs_state_stats *out);
/* Frees the pool, after the workers have stopped. */
void hs_state_store_free(struct hs_state_store *store);

/* Writes a snapshot of the running workers now.  0, or -1 with the reason in err (also logged). */
int hs_state_save(struct hs_state_store *store, struct hs_worker *const *workers, uint32_t nworkers,
		  char *err, size_t errlen);

#endif
