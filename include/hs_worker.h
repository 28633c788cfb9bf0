/*
 * hs_worker: one queue worker.  It owns a queue's socket, its flow table,
 * its policy engine, its RST sender and its event loop (a receive on the
 * queue socket that waits at most 100 ms, the expiry pass every 100 ms on
 * the clock a burst reads, woken by the queue when it is told to stop).
 * Nothing on its packet path is shared.  The rest of the daemon (the main
 * thread: control socket, metrics, reloads, the host's addresses, the
 * watchdog) reaches a worker only through the functions at the end of this
 * file, each of which takes the worker's lock for a short, bounded time;
 * the worker takes the same lock once per burst, never per packet.  The
 * struct is the worker's own: its fields are private to worker.c.
 */
#ifndef HS_WORKER_H
#define HS_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs_actions.h"
#include "hs_burst_timing.h"
#include "hs_clock.h"
#include "hs_config.h"
#include "hs_drop_pcap.h"
#include "hs_events.h"
#include "hs_log.h"
#include "hs_nfq.h"
#include "hs_packet.h"
#include "hs_policy_engine.h"
#include "hs_restore_pool.h"
#include "hs_rst_send.h"
#include "hs_snapshot.h"
#include "hs_table.h"
#include "hs_watch_ring.h"

struct hs_worker_stats {
	uint64_t packets;           /* every packet read from the queue */
	uint64_t accepted;
	uint64_t dropped;
	uint64_t own_packets;       /* the daemon's own (queue.own_mark): accepted untracked */
	uint64_t loopback_repeats;  /* looped-back packets seen again on their way in: accepted untracked */
	uint64_t not_tcp;           /* accepted untouched */
	uint64_t fragments;         /* accepted untouched */
	uint64_t parse_errors[HS_PARSE_RESULT_COUNT];
	uint64_t invalid;           /* TCP packets judged invalid (accepted or dropped per strict) */
	uint64_t policy_dropped;    /* packets dropped by policies (refused SYNs, blocked flows) */
	uint64_t loop_max_us;       /* longest burst handling seen among the bursts timed */
	uint64_t bursts;
	/*
	 * The bursts timed (one in HS_BURST_TIMED_ONE_IN, drawn at random:
	 * hs_burst_timing.h) by handling time: bucket i counts bursts that took
	 * at most hs_burst_bucket_le_us[i] (and more than the bucket before);
	 * the last bucket counts the rest.  Not cumulative; the metrics make
	 * them so.
	 */
	uint64_t burst_us_buckets[HS_BURST_BUCKETS];
	uint64_t burst_us_sum;
};

/* A worker; its fields are its own (daemon/worker.c): other threads use the functions below. */
struct hs_worker;

/*
 * A worker of its own, as the daemon makes them: allocated, initialised
 * (its table created, its queue bound) and, with hs_worker_destroy,
 * stopped (asked to, then waited for), unbound and freed.  NULL and err on
 * failure.
 */
struct hs_worker *hs_worker_create(int index, uint16_t queue, uint32_t nworkers, const struct hs_config *config,
				   const uint8_t hash_key[16], int events_fd, char *err, size_t errlen);
void hs_worker_destroy(struct hs_worker *w);
/* Starts the worker's loop in its own thread; -1 and errno if it could not be. */
int hs_worker_start(struct hs_worker *w);

/* Applies the settings that can change while running (under the worker's lock). */
void hs_worker_apply(struct hs_worker *w, const struct hs_config *config, int events_fd);

/* ---- what the main thread may ask of a running worker ---- */

uint16_t hs_worker_queue(const struct hs_worker *w);

/* The loop's pass counter (atomic; no lock): still means stuck. */
uint64_t hs_worker_heartbeat(const struct hs_worker *w);

/* One worker's counters, copied in one hold of its lock, so they agree with each other. */
struct hs_worker_counters {
	uint16_t queue;
	struct hs_worker_stats stats;
	struct hs_table_stats table;
	uint32_t capacity;
	struct hs_nfq_stats nfq;
	struct hs_rst_stats rst;
	uint32_t rst_waiting;               /* RSTs refused for now, to be offered again */
	uint64_t rst_deferred;              /* timed resets put off a tick for want of room */
	uint64_t events_lost;               /* the event log's, and events the action list had no room for */
	uint64_t policy_counts_full;
	/* Memory the tables may hold now (upper bounds on what is resident): flows, index, policies. */
	uint64_t memory_flows, memory_index, memory_policies;
	uint32_t npolicies;                 /* the policy set, in file order */
	struct hs_worker_policy {
		char name[HS_POLICY_NAME_MAX];
		struct hs_policy_counters counters;
	} policies[HS_POLICY_MAX];
};
void hs_worker_counters(struct hs_worker *w, struct hs_worker_counters *out);

/*
 * Starts (ring) or stops (NULL) handing the worker's flow events over to
 * the main thread for watchers (hs_watch.h).  Once this returns with NULL
 * the worker no longer touches the ring.
 */
void hs_worker_watch(struct hs_worker *w, struct hs_watch_ring *ring);

/* Where the worker copies the packets it drops (log.pcap); before it starts. */
void hs_worker_set_drop_ring(struct hs_worker *w, struct hs_drop_ring *ring);

/* Gives the worker's table its own copy of the host's addresses (NULL: none). */
void hs_worker_set_local_addrs(struct hs_worker *w, const struct hs_local_addrs *set);

/*
 * Reading the table.  A walk visits the flows that match `filter` (NULL:
 * every flow), in table order, from *cursor (0 to start).  It holds the
 * worker's lock for at most HS_WORKER_WALK_CHUNK records, then returns
 * with *cursor advanced: true while records remain, false when the walk is
 * over.  visit runs under the lock: it must be quick, may only read, and
 * may stop the walk early by returning false (the next call resumes after
 * the flow it last accepted).  now_ms is the time the flows' ages are
 * measured at.  Flows that come and go between calls may be missed or
 * seen once; none is seen twice.
 */
#define HS_WORKER_WALK_CHUNK 16384u
typedef hs_table_walk_fn hs_worker_visit_fn;
bool hs_worker_walk(struct hs_worker *w, const struct hs_flow_match *filter, uint32_t *cursor,
		    hs_worker_visit_fn visit, void *ctx);

/*
 * Resets every flow that matches (RSTs to both ends, then the flow leaves
 * the table, at once or once its last waiting RST is settled), a chunk of
 * the table per hold of the lock.  Adds to *out.
 */
struct hs_worker_kill_result {
	uint32_t flows;             /* flows reset */
	uint32_t sent;              /* RSTs handed to the kernel */
	uint32_t queued;            /* RSTs waiting for the kernel (their flows leave once settled) */
};
void hs_worker_kill(struct hs_worker *w, const struct hs_flow_match *filter, struct hs_worker_kill_result *out);



/*
 * Snapshots (state_store.c).  Saving takes the worker's lock for one
 * chunk of the table (or of the policy engine's memory) per call, from
 * *cursor; true while more remain.  Restoring happens before the worker
 * starts: begin (with the same set of queues the engine takes the saved
 * key and the table the saved id sequence), the flows and memory entries,
 * then end, which recounts the limits and files every flow for the timed
 * policies.
 */
void hs_worker_snapshot_section(struct hs_worker *w, struct hs_snap_section *out);
bool hs_worker_snapshot_flows(struct hs_worker *w, struct hs_snap_writer *writer, uint32_t *cursor);
bool hs_worker_snapshot_memory(struct hs_worker *w, struct hs_snap_writer *writer, uint32_t *cursor);
void hs_worker_restore_begin(struct hs_worker *w, const struct hs_snap_section *s, bool same_queues);
enum hs_restore_result hs_worker_restore_flow(struct hs_worker *w, const struct hs_flow *image,
					      const struct hs_flow_ages *ages, uint64_t now_ms, bool keep_id);
void hs_worker_restore_memory(struct hs_worker *w, const struct hs_engine_memory_entry *entry, uint64_t now_ms);
uint64_t hs_worker_rates_fingerprint(struct hs_worker *w);
void hs_worker_restore_end(struct hs_worker *w);
/*
 * Before the worker starts: a packet that matches no flow in its table is
 * first looked for in the pool (hs_restore_pool.h), as long as the pool
 * holds flows.
 */
void hs_worker_set_restore_pool(struct hs_worker *w, struct hs_restore_pool *pool);
/* Before the worker starts: its new flow ids continue its own sequence above floor. */
void hs_worker_restore_ids_above(struct hs_worker *w, uint32_t floor);

#endif
