/*
 * hs_table: the flow table.  It owns the preallocated flow records, the
 * keyed hash index over them, the timer wheels that expire them, eviction
 * when the table is full, and the table's counters.  hs_table_track() is the
 * per-packet entry point: lookup, state machine, timers, with no allocation.
 * Time is always passed in (milliseconds on any monotonic clock), so tests
 * and fuzzers drive the clock.
 */
#ifndef HS_TABLE_H
#define HS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"
#include "hs_flow_index.h"
#include "hs_flow_match.h"
#include "hs_local_addrs.h"
#include "hs_packet.h"
#include "hs_tcp_state.h"

#define HS_TABLE_MAX_FLOWS (1u << 24)   /* 16.7 million: indices fit in the wheel */

/*
 * Default timeouts in milliseconds, by enum hs_timeout_class, taken from
 * how long Linux keeps each kind of socket (the reasoning for each is in
 * conf/handshaked.yaml): a SYN_SENT socket is silent at most 64 s before it
 * gives up, a SYN_RCVD request 32 s; an established or half-closed socket
 * lives until its application closes it, so 5 days is only the table's
 * bound (the configuration loader makes fin_wait and close_wait follow a
 * configured established timeout); a socket retransmitting its FIN is
 * silent at most TCP_RTO_MAX (120 s); TIME_WAIT lasts TCP_TIMEWAIT_LEN.
 */
#define HS_DEFAULT_TIMEOUTS_MS { 70000, 35000, 432000000, 432000000, 432000000, 125000, 60000, 10000 }

struct hs_table_config {
	uint32_t max_flows;                              /* 1 .. HS_TABLE_MAX_FLOWS */
	bool pickup;                                     /* track flows first seen mid-stream */
	uint32_t timeout_ms[HS_TIMEOUT_CLASS_COUNT];     /* by enum hs_timeout_class */
	uint8_t hash_key[16];                            /* SipHash key; random per start */
	/*
	 * Flow ids are id_first, id_first + id_step, ...; a daemon with N
	 * workers gives worker w id_first w + 1 and id_step N so that ids are
	 * unique across tables.  Zero means 1.
	 */
	uint32_t id_first, id_step;
};

/* Why a flow left the table (passed to the removal hook). */
enum hs_remove_reason {
	HS_REMOVE_EXPIRED = 0,
	HS_REMOVE_EVICTED,
	HS_REMOVE_DELETED,          /* by hs_table_delete: operator or policy */
	HS_REMOVE_REFUSED,          /* a policy refused the SYN that created it */
	HS_REMOVE_REOPENED,         /* a new connection took over the tuple (the record is reused) */
	HS_REMOVE_REASON_COUNT
};

/* Event bits in hs_track_result.events. */
#define HS_EVENT_NEW      0x01  /* the flow was created by this packet */
#define HS_EVENT_STATE    0x02  /* either endpoint's state changed */
#define HS_EVENT_CLOSED   0x04  /* both endpoints are now CLOSED or TIME_WAIT/CLOSED */
#define HS_EVENT_RESTART  0x08  /* a new connection replaced a closed one on this tuple */

enum hs_verdict_hint {
	HS_HINT_ACCEPT = 0,         /* tracked and valid */
	HS_HINT_INVALID,            /* tracked flow (or none) judged this packet invalid */
	HS_HINT_UNTRACKED,          /* valid but not tracked: the table had no room */
	HS_HINT_BLOCKED,            /* the flow was blocked by a policy: drop until a new SYN */
};

/*
 * What tracking made of a packet.  Every field but the flow is a byte, so
 * that the result is 16 bytes: the table writes one for every packet, and
 * the common packet's (hs_table_track_batch) is then two stores.
 */
struct hs_track_result {
	struct hs_flow *flow;       /* NULL when no flow holds the packet */
	uint8_t sender;             /* enum hs_side */
	uint8_t old_state[2];       /* by side; equal to new_state when nothing changed */
	uint8_t new_state[2];
	uint8_t events;             /* HS_EVENT_* */
	uint8_t invalid;            /* enum hs_invalid_reason */
	uint8_t hint;               /* enum hs_verdict_hint */
};

_Static_assert(sizeof(struct hs_track_result) == 16, "a track result is 16 bytes");
_Static_assert(HS_INVALID_REASON_COUNT <= 256, "an invalid reason fits in a byte");

struct hs_table_stats {
	uint64_t packets;
	uint64_t invalid[HS_INVALID_REASON_COUNT];
	uint64_t flows_created;
	uint64_t flows_removed[HS_REMOVE_REASON_COUNT];
	uint64_t evicted_half_open;     /* evictions that took a never-established flow */
	uint64_t evicted_established;
	uint64_t untracked_table_full;  /* packets that found no room */
	uint64_t restarts;              /* new connections on a closed tuple */
	uint64_t resyncs;               /* windows caught up after packets that passed unseen */
	uint64_t syn_with_data;         /* SYNs and SYN-ACKs that carried data (TCP Fast Open) */
	uint32_t live;
	uint32_t live_half_open;
};

/*
 * Called just before a flow's record is released (expired, evicted or
 * deleted) or reused by a new connection on its tuple (reopened, when the
 * new client may be the old server), so that the caller can log it or keep
 * its own counters.  The flow is still as it was.
 */
typedef void (*hs_table_remove_hook)(void *ctx, const struct hs_flow *flow,
				     enum hs_remove_reason reason);

struct hs_table;

/*
 * Reserves every record up front (resident only once used: hs_bigmem.h).
 * NULL (errno set) if memory is short or the config is out of range.
 */
struct hs_table *hs_table_create(const struct hs_table_config *config, uint64_t now_ms);
void hs_table_destroy(struct hs_table *table);

/* Changes pickup and timeouts in place (max_flows and the key cannot change). */
void hs_table_reconfigure(struct hs_table *table, const struct hs_table_config *config);

void hs_table_set_remove_hook(struct hs_table *table, hs_table_remove_hook hook, void *ctx);

/*
 * Gives the table its own copy of the host's addresses (NULL: none, as on
 * a router).  New flows get HS_LOCAL on each endpoint whose address is
 * in the set; flows already tracked keep their marks, so that a flow's
 * locality, like its addresses, never changes while it lives (limits count
 * flows by what they matched when counted).
 */
void hs_table_set_local_addrs(struct hs_table *table, const struct hs_local_addrs *set);

/* Times stored in flows are ticks of this many milliseconds since the table's creation. */
#define HS_TABLE_TICK_MS 10u

/*
 * Timed policies.  due() returns true and the tick at which a policy may
 * next act on the flow, or false if none can; the table wakes the flow
 * then (or earlier) and calls fire(), which may delete or block the flow.
 * Both are called from hs_table_track and hs_table_expire only.
 */
typedef bool (*hs_table_policy_due)(void *ctx, const struct hs_flow *flow, uint32_t *due_tick);
typedef void (*hs_table_policy_fire)(void *ctx, struct hs_flow *flow, uint64_t now_ms);
void hs_table_set_policy_hooks(struct hs_table *table, hs_table_policy_due due, hs_table_policy_fire fire,
			       void *ctx);

/*
 * Marks a flow as blocked by a policy: both endpoints are shown CLOSED,
 * later packets get HS_HINT_BLOCKED until a new SYN reopens the tuple, and
 * the flow expires on the closed timeout once the endpoints give up.
 */
void hs_table_block(struct hs_table *table, struct hs_flow *flow, uint64_t now_ms);

/*
 * Called when a packet matches no flow, before a new flow is made for it:
 * the hook may put the packet's flow into the table with
 * hs_table_restore_flow (a flow restored from a snapshot that no table
 * held yet) and return true, and the packet is then tracked on that flow.
 * It must not remove or move any other flow.  Only misses pay for it.
 */
typedef bool (*hs_table_miss_hook)(void *ctx, const struct hs_flow_key *key, uint8_t family, uint64_t now_ms);
void hs_table_set_miss_hook(struct hs_table *table, hs_table_miss_hook hook, void *ctx);

/* The current tick of a table, for comparing with flow times. */
uint32_t hs_table_tick(const struct hs_table *table, uint64_t now_ms);

/* Tracks one parsed TCP packet at time now_ms.  Never allocates. */
void hs_table_track(struct hs_table *table, const struct hs_packet *pkt, uint64_t now_ms,
		    struct hs_track_result *result);

/*
 * Tracks n packets in order, as n calls of hs_table_track would, but
 * overlapping their memory accesses: the path for bursts read from the
 * queue.  res has n entries.  done(ctx, i, &res[i]), if not NULL, is called
 * right after packet i is tracked and before packet i + 1 is: a result's
 * flow pointer and states are only valid until then, since a later packet
 * of the burst may change, evict or reuse that flow.  done may delete the
 * flow.
 */
typedef void (*hs_track_done)(void *ctx, size_t index, struct hs_track_result *res);
void hs_table_track_batch(struct hs_table *table, const struct hs_packet *const *pkts, size_t n,
			  uint64_t now_ms, struct hs_track_result *res, hs_track_done done, void *ctx);

/* Removes every flow whose timeout has passed at now_ms; returns how many. */
size_t hs_table_expire(struct hs_table *table, uint64_t now_ms);

struct hs_flow *hs_table_lookup(struct hs_table *table, const struct hs_flow_key *key);
struct hs_flow *hs_table_find_id(struct hs_table *table, uint32_t id);
void hs_table_delete(struct hs_table *table, struct hs_flow *flow);
/* Removes a flow, telling the removal hook why. */
void hs_table_remove(struct hs_table *table, struct hs_flow *flow, enum hs_remove_reason reason);

/* Files every flow again, so that new timed policies take effect for flows already tracked. */
void hs_table_rewake_all(struct hs_table *table);

/*
 * Walkers need look only below this index: records at or above it were
 * never used (the table hands records out front to back, so untouched
 * memory stays untouched).  IPv4 flows have the even indices, IPv6 flows
 * the odd ones, so the span is twice the larger family's records.
 */
uint32_t hs_table_span(const struct hs_table *table);

/*
 * A flow's place in the table's array, which stays its own while it lives,
 * and the way back: the flow at that place if it is still the one with
 * that id (NULL once it left, even if the record was reused).  Together
 * they name a flow across calls that may remove it, in O(1).
 */
uint32_t hs_table_flow_index(const struct hs_table *table, const struct hs_flow *flow);
struct hs_flow *hs_table_flow_ref(struct hs_table *table, uint32_t index, uint32_t id);

/* The flow record at an index (below hs_table_span), or NULL if no flow holds it. */
const struct hs_flow *hs_table_flow_at(const struct hs_table *table, uint32_t index);

/* Calls fn for every live flow; stops early if fn returns false. */
typedef bool (*hs_table_visit_fn)(void *ctx, const struct hs_flow *flow);
void hs_table_foreach(const struct hs_table *table, hs_table_visit_fn fn, void *ctx);

/*
 * Visits the flows a match selects (NULL: every flow), thresholds
 * included (measured at now_ms), in table order from *cursor (0 to start),
 * looking at no more than `budget` records; fn may stop the walk early by
 * returning false (it resumes after that flow).  *cursor is advanced;
 * returns true while records remain.  Readers that share the table with
 * its owner walk it a budget at a time, letting the owner in between.
 */
typedef bool (*hs_table_walk_fn)(void *ctx, const struct hs_table *table, const struct hs_flow *flow,
				 uint64_t now_ms);
bool hs_table_walk(const struct hs_table *table, const struct hs_flow_match *match, uint64_t now_ms,
		   uint32_t *cursor, uint32_t budget, hs_table_walk_fn fn, void *ctx);

/* How many flows a match selects (its thresholds are not looked at). */
uint32_t hs_table_count(const struct hs_table *table, const struct hs_flow_match *match);

const struct hs_table_stats *hs_table_stats(const struct hs_table *table);
uint32_t hs_table_capacity(const struct hs_table *table);
/*
 * Bytes the table takes at most when resident: itself and its wheels, its
 * hash index (6.4 bytes a flow of capacity) and every record it has handed
 * out so far (92 bytes an IPv4 flow, 124 an IPv6 one).  The rest of the
 * records it reserved cost address space only.
 */
size_t hs_table_memory(const struct hs_table *table);
/* hs_table_memory in parts: the records handed out so far, the hash index, the table itself and its wheels. */
struct hs_table_memory_parts {
	uint64_t records, index, fixed;
};
void hs_table_memory_parts(const struct hs_table *table, struct hs_table_memory_parts *out);
/* The most a table of max_flows can take: every flow IPv6, with the index and the wheels. */
uint64_t hs_table_bytes_at_most(uint32_t max_flows);

/* The shape of the hash index (hs_index_shape): for tests and diagnostics, never the packet path. */
void hs_table_index_shape(const struct hs_table *table, struct hs_index_shape *out);

/* Milliseconds since the flow's first packet, last packet, last state change. */
uint64_t hs_flow_age_ms(const struct hs_table *table, const struct hs_flow *flow, uint64_t now_ms);
uint64_t hs_flow_idle_ms(const struct hs_table *table, const struct hs_flow *flow, uint64_t now_ms);
uint64_t hs_flow_state_age_ms(const struct hs_table *table, const struct hs_flow *flow, uint64_t now_ms);

/* Timeout of the flow's current state, from the table's configuration. */
uint32_t hs_flow_timeout_ms(const struct hs_table *table, const struct hs_flow *flow);

/*
 * The tick (see hs_table_tick) at which the flow leaves the table if no
 * packet comes: its timeout, or later the turn of a timed policy that holds
 * it (a timed policy holds a flow of an open-ended class past its timeout
 * until it has had its turn).
 */
uint32_t hs_flow_deadline_tick(const struct hs_table *table, const struct hs_flow *flow);

/*
 * The timeout classes in which an endpoint may keep its socket for ever
 * without sending anything (established, fin_wait, close_wait): there the
 * timeout bounds the table, not the connection, and a pending timed policy
 * keeps the flow until it has acted.  In the other classes the timeout
 * follows how long the kernels keep the socket.
 */
bool hs_timeout_class_open_ended(enum hs_timeout_class cls);

/*
 * Restoring a snapshot (hs_snapshot.h) into a table that has not run yet,
 * or, from the miss hook, into a running one.
 * The image is a flow record as saved: key, family, flags, states,
 * windows, endpoint flags, history, counters and id; its links and times
 * are ignored.  Its times come as ages at now_ms (the gap while no daemon
 * ran already added), so that ages and idle times go on; a flow whose
 * deadline passed during the gap is filed due at once and leaves on the
 * next hs_table_expire, through the removal hook like any expiry.  The id
 * is kept if keep_id (the same worker of the same set of queues, so ids
 * stay unique), else a new one is given.  A snapshot never evicts: past
 * the table's capacity flows are refused.
 */
struct hs_flow_ages {
	uint32_t age_ticks;         /* since the first packet */
	uint32_t idle_ticks;        /* since the last packet */
	uint32_t state_ticks;       /* since the last state change */
};
enum hs_restore_result {
	HS_RESTORE_OK = 0,
	HS_RESTORE_DUPLICATE,       /* the table already holds that tuple */
	HS_RESTORE_FULL,            /* no free record */
};
enum hs_restore_result hs_table_restore_flow(struct hs_table *table, const struct hs_flow *image,
					     const struct hs_flow_ages *ages, uint64_t now_ms, bool keep_id);
/* The id the table gives next; a restored table continues the saved one's sequence (0 = keep). */
uint32_t hs_table_next_id(const struct hs_table *table);
void hs_table_set_next_id(struct hs_table *table, uint32_t next_id);

#endif
