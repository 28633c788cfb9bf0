/*
 * hs_policy_engine: applies a policy set to one worker's table.  It owns
 * the per-group counters behind `limit` (kept up to date on every state
 * change, never by scanning), the token buckets behind `rate`, the memory
 * of `verify` (SYNs dropped once and sources that recently completed a
 * handshake), per-policy counters, and the decisions: a verdict for each
 * packet, flows refused or blocked in the table, and, in the caller's
 * action list (hs_actions.h), which sides of which flows get RSTs and which
 * events are told, in order.  It is part of the pure core: it sends and
 * writes nothing and reads no clock.  All tables are reserved when the
 * engine is created and become resident only as far as the policy set in
 * force can use them (none without limits, rates or verify); the packet
 * path allocates nothing.
 */
#ifndef HS_POLICY_ENGINE_H
#define HS_POLICY_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_actions.h"
#include "hs_policy.h"
#include "hs_table.h"

struct hs_policy_counters {
	uint64_t acted;             /* the action was carried out */
	uint64_t dry_run;           /* would have acted (dry_run: true) */
	uint64_t verified;          /* verify: SYNs let through as retransmissions or known sources */
	uint64_t refused;           /* verify: first SYNs dropped and remembered */
	uint64_t resets_sent;       /* RSTs the kernel took (counted by the caller, hs_policy_engine_reset_sent) */
};

struct hs_policy_engine;

/*
 * Sized for a table of max_flows; NULL if memory is short.  key is the
 * SipHash key of its own tables (groups, verify memory, buckets), drawn
 * at random by the caller so that nobody can aim at one slot.
 */
struct hs_policy_engine *hs_policy_engine_create(uint32_t max_flows, const uint8_t key[16]);
void hs_policy_engine_destroy(struct hs_policy_engine *engine);

/*
 * Binds the engine to its worker's table and action list, and installs
 * the table's hooks: removal (limits forget the flow; expire, evict and
 * delete events) and timed policies.
 */
void hs_policy_engine_attach(struct hs_policy_engine *engine, struct hs_table *table, struct hs_actions *actions);

/*
 * Installs a new policy set between bursts: counters of the old set are
 * dropped and the limit counts are rebuilt from the flows in the table.
 * Per-policy counters carry over for policies whose name is unchanged.
 * The action list must have been carried out first (actions name their
 * policy by its index in the set).
 */
void hs_policy_engine_set(struct hs_policy_engine *engine, const struct hs_policy_set *set, uint64_t now_ms);

/*
 * Tells the engine the time for what happens outside its own calls: the
 * table's expiry passes and deletions by the caller, whose events carry it.
 */
void hs_policy_engine_now(struct hs_policy_engine *engine, uint64_t now_ms);

/*
 * Called for every tracked packet after the table has seen it.  Keeps the
 * limit counts in step, evaluates admission and state-entry policies and
 * appends the packet's events ("state" before the policies' own, "new"
 * after them and only for a flow they let be) and any reset.  Returns the
 * packet's verdict.  A flow refused is gone when this returns, one being
 * reset goes once its RSTs are settled; either way res->flow is cleared.
 */
enum hs_verdict hs_policy_engine_packet(struct hs_policy_engine *engine, const struct hs_packet *pkt,
					struct hs_track_result *res, uint64_t now_ms);

/*
 * Credits a policy with a RST the kernel took: policy and generation come
 * from the reset action, and a policy set replaced since is not credited.
 */
void hs_policy_engine_reset_sent(struct hs_policy_engine *engine, uint16_t policy, uint16_t generation);

/* The policy an action names, or NULL if the set was replaced since. */
const struct hs_policy *hs_policy_engine_policy(const struct hs_policy_engine *engine, uint16_t policy,
						uint16_t generation);

/*
 * The most an engine for max_flows can take under a policy set: the part
 * of its count and bucket tables the set's limits and rates can fill, the
 * verify memory if a policy verifies, and what it always holds.
 */
uint64_t hs_policy_engine_bytes_at_most(uint32_t max_flows, const struct hs_policy_set *set);

/*
 * The memory the engine may hold under the set in force: the part of each
 * table its policies use (none of the count table without a limit, of the
 * buckets without a rate, of the verify memory without verify), and what
 * it always holds.  An upper bound on what is resident.
 */
uint64_t hs_policy_engine_memory(const struct hs_policy_engine *engine);

/* Limit increments lost because the count table was full (limits then undercount). */
uint64_t hs_policy_engine_counts_full(const struct hs_policy_engine *engine);

const struct hs_policy_set *hs_policy_engine_policies(const struct hs_policy_engine *engine);
const struct hs_policy_counters *hs_policy_engine_counters(const struct hs_policy_engine *engine);

/*
 * What a snapshot keeps of the engine (hs_snapshot.h): the verify memory
 * (first SYNs dropped, sources that completed a handshake) and the rate
 * buckets.  Limit counts are not kept: hs_policy_engine_set recounts them
 * from the flows.  Entries are keyed under the engine's SipHash key, so
 * the key travels with them and the loading engine adopts it.
 */
enum hs_engine_memory_kind { HS_MEMORY_PENDING = 1, HS_MEMORY_KNOWN, HS_MEMORY_BUCKET };
/* Buckets untouched for this long are not saved: every rate policy's bucket has refilled by then in practice. */
#define HS_MEMORY_BUCKET_MAX_AGE_MS 60000u
struct hs_engine_memory_entry {
	uint8_t kind;               /* enum hs_engine_memory_kind */
	uint64_t key;               /* the entry's hashed key, under the engine's key */
	uint64_t age_ms;            /* since it was stamped (bucket: last refilled) */
	uint64_t tokens_milli;      /* bucket only */
};
void hs_policy_engine_key(const struct hs_policy_engine *engine, uint8_t key[16]);
/* Takes over a saved key, forgetting the memory held under the old one; before hs_policy_engine_set. */
void hs_policy_engine_adopt_key(struct hs_policy_engine *engine, const uint8_t key[16]);
/* A fingerprint of the rate policies (names, places, rates): saved buckets are put back only under the same. */
uint64_t hs_policy_engine_rates_fingerprint(const struct hs_policy_engine *engine);
/*
 * Visits the live entries from *cursor, at most `chunk` slots per call;
 * true while slots remain.  Callers hold the worker's lock per call only.
 */
typedef void (*hs_engine_memory_fn)(void *ctx, const struct hs_engine_memory_entry *entry);
bool hs_policy_engine_memory_walk(const struct hs_policy_engine *engine, uint32_t *cursor, uint32_t chunk,
				  uint64_t now_ms, hs_engine_memory_fn fn, void *ctx);
/* Puts a saved entry back, aged as given at now_ms (after hs_policy_engine_set, which empties the buckets). */
void hs_policy_engine_memory_put(struct hs_policy_engine *engine, const struct hs_engine_memory_entry *entry,
				 uint64_t now_ms);
/*
 * The table was filled from a snapshot: recounts the limits from its
 * flows and files every flow for the timed policies (the buckets and the
 * verify memory stay, unlike with hs_policy_engine_set).
 */
void hs_policy_engine_restored(struct hs_policy_engine *engine);
/*
 * One flow was put into the running table from a snapshot (a worker
 * claimed it on its first packet): the limits count it from now on.  The
 * table filed it for the timed policies itself.
 */
void hs_policy_engine_flow_restored(struct hs_policy_engine *engine, const struct hs_flow *flow);

#endif
