/*
 * hs_policy_engine: applies a policy set to one worker's table.  It owns
 * the per-group counters behind `limit` (kept up to date on every state
 * change, never by scanning), the token buckets behind `rate`, the memory
 * of `verify` (SYNs dropped once and sources that recently completed a
 * handshake), per-policy counters, and the actions: drop, block, RSTs and
 * events.  All tables are allocated when the engine is created; the packet
 * path allocates nothing.
 */
#ifndef HS_POLICY_ENGINE_H
#define HS_POLICY_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_events.h"
#include "hs_policy.h"
#include "hs_table.h"

struct hs_rst_sender;

struct hs_policy_counters {
	uint64_t acted;             /* the action was carried out */
	uint64_t dry_run;           /* would have acted (dry_run: true) */
	uint64_t verified;          /* verify: SYNs let through as retransmissions or known sources */
	uint64_t refused;           /* verify: first SYNs dropped and remembered */
	uint64_t resets_sent;
};

struct hs_policy_engine;

/* Sized for a table of max_flows; NULL if memory is short. */
struct hs_policy_engine *hs_policy_engine_create(uint32_t max_flows);
void hs_policy_engine_destroy(struct hs_policy_engine *engine);

/*
 * Binds the engine to its worker's table, RST sender (may be NULL: resets
 * are then counted as failed) and event buffer, and installs the table's
 * timed-policy hooks.
 */
void hs_policy_engine_attach(struct hs_policy_engine *engine, struct hs_table *table,
			     struct hs_rst_sender *rst, struct hs_events *events);

/*
 * Installs a new policy set between bursts: counters of the old set are
 * dropped and the limit counts are rebuilt from the flows in the table.
 * Per-policy counters carry over for policies whose name is unchanged.
 */
void hs_policy_engine_set(struct hs_policy_engine *engine, const struct hs_policy_set *set, uint64_t now_ms);

/*
 * Called for every tracked packet after the table has seen it.  Keeps the
 * limit counts in step and evaluates admission and state-entry policies.
 * Returns true if the packet must be dropped.  The flow may have been
 * deleted when this returns (res->flow is then cleared).
 */
bool hs_policy_engine_packet(struct hs_policy_engine *engine, const struct hs_packet *pkt,
			     struct hs_track_result *res, uint64_t now_ms);

/* Must be called from the table's remove hook, so counts forget the flow. */
void hs_policy_engine_flow_removed(struct hs_policy_engine *engine, const struct hs_flow *flow);

/*
 * Credits a policy with a RST that the kernel took only after waiting
 * (hs_rst_retry): policy and generation come from the RST's tag, and a
 * policy set replaced since then is not credited.
 */
void hs_policy_engine_reset_sent(struct hs_policy_engine *engine, uint16_t policy, uint16_t generation);

/* Limit increments lost because the count table was full (limits then undercount). */
uint64_t hs_policy_engine_counts_full(const struct hs_policy_engine *engine);

const struct hs_policy_set *hs_policy_engine_policies(const struct hs_policy_engine *engine);
const struct hs_policy_counters *hs_policy_engine_counters(const struct hs_policy_engine *engine);

#endif
