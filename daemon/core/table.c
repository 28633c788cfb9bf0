/*
 * table: the flow table.
 *
 * Records are reserved in two arrays, IPv4 records (92 bytes) and IPv6
 * records (124: the record and its addresses), and found through a hash
 * index (hs_flow_index.h: 64-byte lines of tagged slots, 6.4 bytes a
 * flow).  A flow's index names its record in both arrays: even indices are
 * IPv4 records, odd ones IPv6.  Timer links are indices, not pointers, and
 * a record's two link words pack both timer wheel links and the wheel slot
 * (25 bits a link).  The hash is SipHash with a random key, so the index
 * stays evenly filled whatever addresses an attacker picks.
 *
 * Expiry uses two timer wheels, one for flows that never completed their
 * handshake and one for the rest.  Each wheel has two levels: 4096 slots of
 * 100 ms (410 s ahead), then 4096 slots of 410 s (19 days ahead) whose
 * contents cascade into the first level as their time comes.  Filing is lazy: a
 * packet only stamps last_seen, and when a slot comes due each flow in it
 * is checked against its real deadline and either expired or filed again.
 * A flow is moved eagerly only when its deadline gets earlier (a state
 * change to a shorter timeout), so the per-packet cost is a store, and the
 * expiry cost follows the number of flows that come due, never the table.
 *
 * The half-open wheel also drives eviction: when the table is full, due
 * flows are expired first, then the half-open flow nearest its deadline is
 * evicted, and only when none remains the established flow nearest its
 * deadline, which among flows in one state is the one idle the longest.
 */
#include "hs_table.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "hs_bigmem.h"
#include "hs_flow_hash.h"
#include "hs_flow_hash_burst.h"
#include "hs_flow_index.h"
#include "hs_tcp_window.h"

#define TICK_MS HS_TABLE_TICK_MS                    /* resolution of the times stored in a flow */
#define SLOT_TICKS 10u                  /* one wheel slot spans 100 ms */
#define WHEEL_SLOTS 4096u               /* per level; a power of two */
#define WHEEL_WORDS (WHEEL_SLOTS / 64)
#define EVICT_REFILE_LIMIT 64           /* lazily filed flows skipped per eviction */

enum { WHEEL_HALF_OPEN = 0, WHEEL_SETTLED = 1 };

struct wheel {
	uint32_t head[WHEEL_SLOTS];
	uint64_t nonempty[WHEEL_WORDS];
};

enum { ARRAY_V4 = 0, ARRAY_V6 = 1 };

struct hs_table {
	struct hs_table_config config;
	uint32_t capacity;              /* live flows at most, of both families together */
	struct hs_flow_index index;
	struct hs_sipstate hash_start;  /* the hash key's SipHash state (hs_sip_keyed), computed once */
	struct hs_flow *flows4;         /* IPv4 records, capacity of them reserved */
	struct hs_flow_v6 *flows6;      /* IPv6 records, as many */
	size_t flows4_bytes, flows6_bytes;
	/* Per array: the position + 1 of the first free record, the list running through the first link word. */
	uint32_t free_head[2];
	/*
	 * Per array, records below this position have been used at least
	 * once; those above were never touched, so their pages are not
	 * resident yet.  A new flow takes a freed record first and only then
	 * raises the mark, so memory follows the most flows ever live, not
	 * max_flows.
	 */
	uint32_t high_water[2];
	uint32_t next_id;
	uint64_t epoch_ms;
	uint64_t processed;             /* slot time (64-bit, never wraps) up to which slots are processed */
	uint64_t now64;                 /* the latest time seen, in 64-bit ticks */
	uint32_t timeout_ticks[HS_TIMEOUT_CLASS_COUNT];
	struct wheel wheel[2][2];       /* [half-open or settled][level] */
	hs_table_remove_hook remove_hook;
	void *remove_ctx;
	hs_table_policy_due policy_due;
	hs_table_policy_fire policy_fire;
	void *policy_ctx;
	hs_table_miss_hook miss_hook;   /* flows restored elsewhere, claimed on a miss; NULL = none */
	void *miss_ctx;
	struct hs_table_stats stats;
	struct hs_local_addrs local;    /* this worker's copy of the host's addresses */
};

static inline uint64_t to_ticks64(const struct hs_table *t, uint64_t now_ms)
{
	return (now_ms - t->epoch_ms) / TICK_MS;
}

/* Notes the time (wheel positions are computed from the latest time seen) and returns it in ticks. */
static inline uint32_t clock_at(struct hs_table *t, uint64_t now_ms)
{
	uint64_t now = to_ticks64(t, now_ms);

	if (now > t->now64)
		t->now64 = now;
	return (uint32_t)now;
}

/*
 * Flows store 32-bit ticks, which wrap after 497 days.  A stored time is
 * always within a few weeks of now, so it widens to the 64-bit tick
 * nearest the present, and the wheels work in 64 bits throughout.
 */
static inline uint64_t widen(const struct hs_table *t, uint32_t ticks)
{
	int32_t delta = (int32_t)(ticks - (uint32_t)t->now64);

	return (uint64_t)((int64_t)t->now64 + delta);
}

static inline uint32_t to_ticks(const struct hs_table *t, uint64_t now_ms)
{
	return (uint32_t)((now_ms - t->epoch_ms) / TICK_MS);
}

/* ---- records, their indices and their links ---- */

static inline struct hs_flow *flow_at(const struct hs_table *t, uint32_t index)
{
	return (index & 1) ? &t->flows6[index >> 1].flow : &t->flows4[index >> 1];
}

/* The array holding a record follows its family, which a record keeps from its first use. */
static inline uint32_t flow_index(const struct hs_table *t, const struct hs_flow *f)
{
	if (hs_flow_family(f) == HS_FAMILY_IPV6)
		return (uint32_t)(hs_flow_v6_of(f) - t->flows6) * 2 + ARRAY_V6;
	return (uint32_t)(f - t->flows4) * 2 + ARRAY_V4;
}

/* The record at an index if it was ever used and holds a flow now, else NULL. */
static inline struct hs_flow *live_at(const struct hs_table *t, uint32_t index)
{
	if ((index >> 1) >= t->high_water[index & 1])
		return NULL;
	struct hs_flow *f = flow_at(t, index);
	return (f->flags & HS_FLOW_IN_USE) ? f : NULL;
}

/*
 * link[0]: the next flow in the wheel slot (bits 0-24) and the slot's low
 * 7 bits; a free record's next free position + 1 instead.
 * link[1]: the previous flow in the wheel slot (bits 0-24), the slot's
 * high 5 bits and the family (HS_FLOW_LINK_V6).
 * A link is 25 bits, just enough for every index of both arrays (2^24
 * records each), so none is left to mean "none": a list's ends link to
 * their own flow instead.
 */
#define LINK_BITS HS_INDEX_RECORD_BITS
#define LINK_MASK HS_INDEX_RECORD_MASK
#define SLOT_LOW_BITS (32u - LINK_BITS)

_Static_assert(2ull * HS_TABLE_MAX_FLOWS <= LINK_MASK + 1ull, "indices of both arrays fit in a link");
_Static_assert(WHEEL_SLOTS <= (1u << (SLOT_LOW_BITS + 5)), "a wheel slot fits in the links' spare bits");

static inline uint32_t free_next(const struct hs_flow *f)
{
	return f->link[0] & LINK_MASK;
}

static inline void set_free_next(struct hs_flow *f, uint32_t next)
{
	f->link[0] = (f->link[0] & ~LINK_MASK) | next;
}

static inline uint32_t timer_link(const struct hs_table *t, const struct hs_flow *f, int which)
{
	uint32_t v = f->link[which] & LINK_MASK;

	return v == flow_index(t, f) ? HS_NIL : v;
}

static inline void set_timer_link(const struct hs_table *t, struct hs_flow *f, int which, uint32_t index)
{
	f->link[which] = (f->link[which] & ~LINK_MASK) | (index == HS_NIL ? flow_index(t, f) : index);
}

#define TIMER_NEXT 0
#define TIMER_PREV 1

static inline uint32_t timer_slot(const struct hs_flow *f)
{
	return (f->link[0] >> LINK_BITS) | ((f->link[1] >> LINK_BITS) & 0x1fu) << SLOT_LOW_BITS;
}

static inline void set_timer_slot(struct hs_flow *f, uint32_t slot)
{
	uint32_t low = slot & ((1u << SLOT_LOW_BITS) - 1), high = slot >> SLOT_LOW_BITS;

	f->link[0] = (f->link[0] & LINK_MASK) | (low << LINK_BITS);
	f->link[1] = (f->link[1] & ~(0x1fu << LINK_BITS)) | (high << LINK_BITS);
}

static void set_timeouts(struct hs_table *t, const struct hs_table_config *config)
{
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++) {
		uint32_t ticks = config->timeout_ms[i] / TICK_MS;
		t->timeout_ticks[i] = ticks ? ticks : 1;
	}
}

struct hs_table *hs_table_create(const struct hs_table_config *config, uint64_t now_ms)
{
	if (config->max_flows == 0 || config->max_flows > HS_TABLE_MAX_FLOWS) {
		errno = EINVAL;
		return NULL;
	}
	struct hs_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->config = *config;
	if (t->config.id_first == 0)
		t->config.id_first = 1;
	if (t->config.id_step == 0)
		t->config.id_step = 1;
	t->capacity = config->max_flows;
	t->hash_start = hs_sip_keyed(t->config.hash_key);
	t->flows4_bytes = (size_t)t->capacity * sizeof(struct hs_flow);
	t->flows6_bytes = (size_t)t->capacity * sizeof(struct hs_flow_v6);
	/* Reserved whole, resident as used (hs_bigmem.h). */
	bool indexed = hs_index_init(&t->index, t->capacity);
	t->flows4 = hs_bigmem_alloc(t->flows4_bytes, true);
	t->flows6 = hs_bigmem_alloc(t->flows6_bytes, true);
	if (!indexed || !t->flows4 || !t->flows6) {
		hs_table_destroy(t);
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * The free list starts empty and the records are handed out by the
	 * high-water mark, front to back: writing a free list through every
	 * record here would make the whole array resident before the first
	 * packet.
	 */
	memset(t->free_head, 0, sizeof(t->free_head));
	memset(t->high_water, 0, sizeof(t->high_water));
	t->next_id = t->config.id_first;
	t->epoch_ms = now_ms;
	t->processed = 0;
	for (int w = 0; w < 2; w++)
		for (int l = 0; l < 2; l++)
			for (uint32_t s = 0; s < WHEEL_SLOTS; s++)
				t->wheel[w][l].head[s] = HS_NIL;
	set_timeouts(t, config);
	return t;
}

void hs_table_destroy(struct hs_table *t)
{
	if (!t)
		return;
	hs_index_finalise(&t->index);
	hs_bigmem_free(t->flows4, t->flows4_bytes);
	hs_bigmem_free(t->flows6, t->flows6_bytes);
	free(t);
}

void hs_table_reconfigure(struct hs_table *t, const struct hs_table_config *config)
{
	uint32_t old[HS_TIMEOUT_CLASS_COUNT];
	bool shorter = false;

	memcpy(old, t->timeout_ticks, sizeof(old));
	t->config.pickup = config->pickup;
	memcpy(t->config.timeout_ms, config->timeout_ms, sizeof(t->config.timeout_ms));
	set_timeouts(t, config);
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
		shorter |= t->timeout_ticks[i] < old[i];
	/* Lazy filing only errs early: deadlines that got earlier must be filed again now. */
	if (shorter)
		hs_table_rewake_all(t);
}

void hs_table_set_remove_hook(struct hs_table *t, hs_table_remove_hook hook, void *ctx)
{
	t->remove_hook = hook;
	t->remove_ctx = ctx;
}

void hs_table_set_policy_hooks(struct hs_table *t, hs_table_policy_due due, hs_table_policy_fire fire,
			       void *ctx)
{
	t->policy_due = due;
	t->policy_fire = fire;
	t->policy_ctx = ctx;
}

void hs_table_set_miss_hook(struct hs_table *t, hs_table_miss_hook hook, void *ctx)
{
	t->miss_hook = hook;
	t->miss_ctx = ctx;
}

void hs_table_set_local_addrs(struct hs_table *t, const struct hs_local_addrs *set)
{
	if (set)
		t->local = *set;
	else
		hs_local_addrs_init(&t->local);
}

uint32_t hs_table_tick(const struct hs_table *t, uint64_t now_ms)
{
	return to_ticks(t, now_ms);
}

/* ---- hashing ---- */

static inline uint64_t key_hash(const struct hs_table *t, const struct hs_flow_key *key, uint8_t family)
{
	/* Only the bytes that can differ are hashed: IPv4 keys are mostly padding (hs_flow_hash). */
	return hs_flow_hash_keyed(&t->hash_start, key, family);
}

static inline struct hs_index_place key_place(const struct hs_table *t, const struct hs_flow_key *key, uint8_t family)
{
	return hs_index_place_of(&t->index, key_hash(t, key, family));
}

static struct hs_index_place flow_place(const struct hs_table *t, const struct hs_flow *f)
{
	struct hs_flow_key key;

	hs_flow_key_get(f, &key);
	return key_place(t, &key, hs_flow_family(f));
}

/*
 * The flow with a key, looked for from its place: each line's slots with
 * the key's tag, then the next line while entries passed this one.
 */
static struct hs_flow *lookup_at(struct hs_table *t, struct hs_index_place place, const struct hs_flow_key *key,
				 uint8_t family)
{
	uint32_t line = place.home;

	for (uint32_t walked = 0; walked < t->index.nlines; walked++) {
		const struct hs_index_line *l = hs_index_line(&t->index, line);

		for (uint32_t m = hs_index_matches(l, place.tag); m; m &= m - 1) {
			struct hs_flow *f = flow_at(t, hs_index_record(l, (uint32_t)__builtin_ctz(m)));

			if (hs_flow_has_key(f, key, family))
				return f;
		}
		if (l->passed == 0)
			break;
		line = hs_index_next_line(&t->index, line);
	}
	return NULL;
}

struct hs_flow *hs_table_lookup(struct hs_table *t, const struct hs_flow_key *key)
{
	/* The family is implied by the key bytes only up to padding; try both. */
	struct hs_flow *f = lookup_at(t, key_place(t, key, HS_FAMILY_IPV4), key, HS_FAMILY_IPV4);
	if (f)
		return f;
	return lookup_at(t, key_place(t, key, HS_FAMILY_IPV6), key, HS_FAMILY_IPV6);
}

static void index_remove(struct hs_table *t, struct hs_flow *f)
{
	hs_index_remove(&t->index, flow_place(t, f), flow_index(t, f));
}

/* ---- timer wheels ---- */

static inline int flow_wheel(const struct hs_flow *f)
{
	return (f->flags & HS_FLOW_ESTABLISHED) ? WHEEL_SETTLED : WHEEL_HALF_OPEN;
}

static inline int flow_level(const struct hs_flow *f)
{
	return (f->flags & HS_FLOW_TIMER_L2) ? 1 : 0;
}

static inline uint32_t flow_timeout_due(const struct hs_table *t, const struct hs_flow *f)
{
	return f->last_seen + t->timeout_ticks[hs_tcp_timeout_class(f->state[HS_CLIENT], f->state[HS_SERVER])];
}

static inline bool tick_reached(uint32_t now, uint32_t tick)
{
	return (int32_t)(now - tick) >= 0;
}

/* Whether a timed policy has yet to take its turn on the flow, and at which tick. */
static inline bool policy_pending(const struct hs_table *t, const struct hs_flow *f, uint32_t *tick)
{
	return t->policy_due && !(f->flags & (HS_FLOW_POLICY_DONE | HS_FLOW_BLOCKED)) &&
	       t->policy_due(t->policy_ctx, f, tick);
}

/*
 * Whether a pending timed policy keeps the flow past its timeout.  In the
 * open-ended classes an endpoint may hold its socket for ever without
 * sending, so the timeout is only the table's bound, and a policy written
 * to act on such connections must get its turn.  In the other classes the
 * timeout follows how long the kernels themselves keep the socket: past it
 * there is nothing left for a policy to act on.
 */
static inline bool policy_holds(const struct hs_flow *f)
{
	return hs_timeout_class_open_ended(hs_tcp_timeout_class(f->state[HS_CLIENT], f->state[HS_SERVER]));
}

/* When the flow next needs attention: its timeout, or a timed policy's turn. */
static inline uint32_t flow_due(const struct hs_table *t, const struct hs_flow *f)
{
	uint32_t due = flow_timeout_due(t, f), policy;

	if (policy_pending(t, f, &policy) && ((int32_t)(policy - due) < 0 || policy_holds(f)))
		return policy;
	return due;
}

/*
 * Where a deadline belongs, as (level, absolute slot time of that level).
 * Level 0 times are slot times (100 ms); level 1 times count level-0
 * revolutions, and a flow filed there at time c is looked at again when the
 * first level reaches c * WHEEL_SLOTS, which is always before its deadline.
 */
struct timer_place {
	int level;
	uint64_t when;
};

static struct timer_place timer_target(const struct hs_table *t, uint32_t due_ticks)
{
	/*
	 * A flow restored from a snapshot may have fallen due before the
	 * table's epoch: its deadline widens below zero, and is due now.
	 */
	int64_t due = (int64_t)widen(t, due_ticks);
	uint64_t when = due > 0 ? ((uint64_t)due + SLOT_TICKS - 1) / SLOT_TICKS : 0;
	int64_t ahead = (int64_t)(when - t->processed);
	struct timer_place p = { 0, when };

	if (ahead < 1) {
		p.when = t->processed + 1;
	} else if ((uint64_t)ahead > WHEEL_SLOTS - 1) {
		uint64_t now2 = t->processed / WHEEL_SLOTS;
		uint64_t c = when / WHEEL_SLOTS - 1;

		p.level = 1;
		if ((int64_t)(c - now2) < 1)
			c = now2 + 1;
		else if (c - now2 > WHEEL_SLOTS - 1)
			c = now2 + WHEEL_SLOTS - 1;   /* beyond 19 days: looked at again then */
		p.when = c;
	}
	return p;
}

/* A place as a first-level time, to compare places across levels. */
static inline uint64_t place_time(struct timer_place p)
{
	return p.level ? p.when * WHEEL_SLOTS : p.when;
}

/* Where a linked flow is filed now, from its slot index and the processing point. */
static struct timer_place filed_place(const struct hs_table *t, const struct hs_flow *f)
{
	struct timer_place p = { flow_level(f), 0 };
	uint64_t base = p.level ? t->processed / WHEEL_SLOTS : t->processed;

	p.when = base + (((uint64_t)timer_slot(f) - base) & (WHEEL_SLOTS - 1));
	return p;
}

/*
 * How far a linked flow's rightful place (for deadline due) lies after
 * where it is filed: positive when it was filed early (lazy filing, fixed
 * when its slot comes), negative when filed late (must be moved now).
 */
static int64_t filing_offset(const struct hs_table *t, const struct hs_flow *f, uint32_t due)
{
	return (int64_t)(place_time(timer_target(t, due)) - place_time(filed_place(t, f)));
}

static void timer_unlink(struct hs_table *t, struct hs_flow *f)
{
	if (!(f->flags & HS_FLOW_TIMER_LINKED))
		return;
	struct wheel *w = &t->wheel[flow_wheel(f)][flow_level(f)];
	uint32_t slot = timer_slot(f), next = timer_link(t, f, TIMER_NEXT), prev = timer_link(t, f, TIMER_PREV);

	if (prev != HS_NIL)
		set_timer_link(t, flow_at(t, prev), TIMER_NEXT, next);
	else
		w->head[slot] = next;
	if (next != HS_NIL)
		set_timer_link(t, flow_at(t, next), TIMER_PREV, prev);
	if (w->head[slot] == HS_NIL)
		w->nonempty[slot / 64] &= ~(1ull << (slot % 64));
	f->flags &= (uint8_t)~(HS_FLOW_TIMER_LINKED | HS_FLOW_TIMER_L2);
}

/*
 * Files a flow where its deadline belongs: never at or before the
 * processing point (it would be skipped) and, within the first level's
 * horizon, in the slot that comes due at or after the deadline.
 */
static void timer_file(struct hs_table *t, struct hs_flow *f, uint32_t due_ticks)
{
	struct timer_place p = timer_target(t, due_ticks);
	uint32_t slot = (uint32_t)(p.when & (WHEEL_SLOTS - 1));
	struct wheel *w = &t->wheel[flow_wheel(f)][p.level];
	uint32_t idx = flow_index(t, f);

	set_timer_slot(f, slot);
	set_timer_link(t, f, TIMER_PREV, HS_NIL);
	set_timer_link(t, f, TIMER_NEXT, w->head[slot]);
	if (w->head[slot] != HS_NIL)
		set_timer_link(t, flow_at(t, w->head[slot]), TIMER_PREV, idx);
	w->head[slot] = idx;
	w->nonempty[slot / 64] |= 1ull << (slot % 64);
	f->flags |= HS_FLOW_TIMER_LINKED;
	if (p.level)
		f->flags |= HS_FLOW_TIMER_L2;
}

/* ---- allocation and removal ---- */

static void release(struct hs_table *t, struct hs_flow *f, enum hs_remove_reason reason)
{
	if (t->remove_hook)
		t->remove_hook(t->remove_ctx, f, reason);
	timer_unlink(t, f);
	index_remove(t, f);
	t->stats.flows_removed[reason]++;
	t->stats.live--;
	if (!(f->flags & HS_FLOW_ESTABLISHED))
		t->stats.live_half_open--;
	f->flags = 0;
	uint32_t index = flow_index(t, f);
	set_free_next(f, t->free_head[index & 1]);
	t->free_head[index & 1] = (index >> 1) + 1;
}

void hs_table_remove(struct hs_table *t, struct hs_flow *f, enum hs_remove_reason reason)
{
	if (f && (f->flags & HS_FLOW_IN_USE))
		release(t, f, reason);
}

void hs_table_delete(struct hs_table *t, struct hs_flow *f)
{
	hs_table_remove(t, f, HS_REMOVE_DELETED);
}

/*
 * A flow whose slot came: a timed policy's turn comes first (it may delete
 * or block the flow); then a flow past its timeout that no pending policy
 * holds expires, and any other is filed again where its deadline belongs.
 * A flow held past its timeout goes in the same pass as its policy acts.
 */
static void run_flow(struct hs_table *t, struct hs_flow *f, uint32_t now, size_t *expired)
{
	uint32_t policy;
	bool pending = policy_pending(t, f, &policy);
	bool timed_out = tick_reached(now, flow_timeout_due(t, f));
	bool held = pending && policy_holds(f);

	if (pending && tick_reached(now, policy) && (held || !timed_out)) {
		t->policy_fire(t->policy_ctx, f, (uint64_t)now * TICK_MS + t->epoch_ms);
		if ((f->flags & (HS_FLOW_IN_USE | HS_FLOW_TIMER_LINKED)) != HS_FLOW_IN_USE)
			return;   /* deleted, or blocked and filed anew */
		held = policy_pending(t, f, &policy) && policy_holds(f);
	}
	if (timed_out && !held) {
		release(t, f, HS_REMOVE_EXPIRED);
		(*expired)++;
	} else {
		timer_file(t, f, flow_due(t, f));
	}
}

/*
 * Takes every flow out of one slot and runs it.  The list is detached
 * first because refiling may put flows back into this wheel.
 */
static void run_slot(struct hs_table *t, struct wheel *w, uint32_t slot, uint32_t now, size_t *expired)
{
	uint32_t i = w->head[slot];

	w->head[slot] = HS_NIL;
	w->nonempty[slot / 64] &= ~(1ull << (slot % 64));
	while (i != HS_NIL) {
		struct hs_flow *f = flow_at(t, i);
		uint32_t next = timer_link(t, f, TIMER_NEXT);

		f->flags &= (uint8_t)~(HS_FLOW_TIMER_LINKED | HS_FLOW_TIMER_L2);
		run_flow(t, f, now, expired);
		i = next;
	}
}

static inline bool slot_filed(const struct wheel *w, uint32_t slot)
{
	return (w->nonempty[slot / 64] >> (slot % 64)) & 1;
}

size_t hs_table_expire(struct hs_table *t, uint64_t now_ms)
{
	clock_at(t, now_ms);
	uint32_t now = to_ticks(t, now_ms);
	uint64_t target = t->now64 / SLOT_TICKS;
	size_t expired = 0;

	/*
	 * After a long pause, visiting each slot once is enough: every flow is
	 * checked against its real deadline whatever slot it sits in.
	 */
	if (target > t->processed + WHEEL_SLOTS) {
		t->processed = target - WHEEL_SLOTS;
		for (uint32_t slot2 = 0; slot2 < WHEEL_SLOTS; slot2++)
			for (int w = 0; w < 2; w++)
				if (slot_filed(&t->wheel[w][1], slot2))
					run_slot(t, &t->wheel[w][1], slot2, now, &expired);
	}
	while (target > t->processed) {
		t->processed++;
		uint32_t slot = (uint32_t)(t->processed & (WHEEL_SLOTS - 1));

		/* At each revolution, the second level's next slot cascades down. */
		if (slot == 0) {
			uint32_t slot2 = (uint32_t)((t->processed / WHEEL_SLOTS) & (WHEEL_SLOTS - 1));
			for (int w = 0; w < 2; w++)
				if (slot_filed(&t->wheel[w][1], slot2))
					run_slot(t, &t->wheel[w][1], slot2, now, &expired);
		}
		for (int w = 0; w < 2; w++)
			if (slot_filed(&t->wheel[w][0], slot))
				run_slot(t, &t->wheel[w][0], slot, now, &expired);
	}
	return expired;
}

/* The first non-empty slot of a wheel at or after the processing point. */
static int first_filed_slot(const struct wheel *w, uint32_t from)
{
	for (uint32_t n = 0; n <= WHEEL_WORDS; n++) {
		uint32_t word = ((from / 64) + n) % WHEEL_WORDS;
		uint64_t bits = w->nonempty[word];

		if (n == 0)
			bits &= ~0ull << (from % 64);
		if (bits)
			return (int)(word * 64 + (uint32_t)__builtin_ctzll(bits));
	}
	return -1;
}

/* The first flow filed in a wheel (both levels), in deadline order; NULL if none. */
static struct hs_flow *first_filed(struct hs_table *t, int wheel_no)
{
	int slot = first_filed_slot(&t->wheel[wheel_no][0], (uint32_t)((t->processed + 1) & (WHEEL_SLOTS - 1)));

	if (slot < 0)
		slot = first_filed_slot(&t->wheel[wheel_no][1],
					(uint32_t)((t->processed / WHEEL_SLOTS + 1) & (WHEEL_SLOTS - 1))),
		slot = slot < 0 ? -1 : slot + (int)WHEEL_SLOTS;
	if (slot < 0)
		return NULL;
	const struct wheel *w = &t->wheel[wheel_no][slot >= (int)WHEEL_SLOTS];
	return flow_at(t, w->head[slot % (int)WHEEL_SLOTS]);
}

/* Evicts one flow from a wheel, the one nearest its real deadline. */
static bool evict_from(struct hs_table *t, int wheel_no)
{
	for (int tries = 0;; tries++) {
		struct hs_flow *f = first_filed(t, wheel_no);
		if (!f)
			return false;
		uint32_t due = flow_due(t, f);

		/*
		 * A flow filed earlier than its deadline saw traffic since; file
		 * it where it belongs and look again, a bounded number of times.
		 */
		if (tries < EVICT_REFILE_LIMIT &&
		    filing_offset(t, f, due) > 0) {
			timer_unlink(t, f);
			timer_file(t, f, due);
			continue;
		}
		if (wheel_no == WHEEL_HALF_OPEN)
			t->stats.evicted_half_open++;
		else
			t->stats.evicted_established++;
		release(t, f, HS_REMOVE_EVICTED);
		return true;
	}
}

/*
 * A record of the family's array: a freed one first, else the next never
 * used.  Either exists while fewer than capacity flows live: the array
 * holds capacity records, and those not live are free or never used.
 */
static struct hs_flow *take_record(struct hs_table *t, uint8_t family)
{
	int a = family == HS_FAMILY_IPV6 ? ARRAY_V6 : ARRAY_V4;
	uint32_t pos;

	if (t->free_head[a] != 0) {
		pos = t->free_head[a] - 1;
		t->free_head[a] = free_next(flow_at(t, pos * 2 + (uint32_t)a));
	} else if (t->high_water[a] < t->capacity) {
		pos = t->high_water[a]++;
	} else {
		return NULL;
	}
	struct hs_flow *f = flow_at(t, pos * 2 + (uint32_t)a);
	hs_flow_set_family(f, family);
	return f;
}

static struct hs_flow *alloc_flow(struct hs_table *t, uint64_t now_ms, uint8_t family)
{
	if (t->stats.live >= t->capacity) {
		hs_table_expire(t, now_ms);
		if (t->stats.live >= t->capacity && !evict_from(t, WHEEL_HALF_OPEN))
			evict_from(t, WHEEL_SETTLED);
		if (t->stats.live >= t->capacity)
			return NULL;
	}
	return take_record(t, family);
}

/* ---- tracking ---- */

static enum hs_history_event history_event(const struct hs_packet *pkt)
{
	uint8_t fl = pkt->flags;

	if (fl & HS_TCP_RST)
		return HS_HIST_RST;
	if (fl & HS_TCP_SYN)
		return (fl & HS_TCP_ACK) ? HS_HIST_SYNACK : HS_HIST_SYN;
	if (fl & HS_TCP_FIN)
		return HS_HIST_FIN;
	return pkt->payload_len ? HS_HIST_DATA : HS_HIST_ACK;
}

/* Inline: every packet records itself, and as a call it paid for a frame and reloaded what the caller held. */
static inline __attribute__((always_inline)) void record(struct hs_flow *f, enum hs_side side, const struct hs_packet *pkt,
						     bool invalid)
{
	hs_flow_count(f, side, pkt->wire_len);
	if (invalid) {
		hs_flow_history_add(f, side, HS_HIST_INVALID);
		return;
	}
	/* A FIN with data tells both things. */
	if ((pkt->flags & (HS_TCP_FIN | HS_TCP_SYN | HS_TCP_RST)) == HS_TCP_FIN && pkt->payload_len)
		hs_flow_history_add(f, side, HS_HIST_DATA);
	hs_flow_history_add(f, side, history_event(pkt));
}

/* Sets up the non-TCP parts of a fresh (or reused) record. */
static void init_record(struct hs_table *t, struct hs_flow *f, uint32_t now)
{
	f->first_seen = now;
	f->last_seen = now;
	f->state_since = now;
	f->id = t->next_id;
	t->next_id += t->config.id_step;
	if (t->next_id < t->config.id_step)   /* wrapped: skip zero, which means "none" */
		t->next_id = t->config.id_first;
	memset(f->packets, 0, sizeof(f->packets));
	memset(f->bytes_lo, 0, sizeof(f->bytes_lo));
	memset(f->bytes_hi_marks, 0, sizeof(f->bytes_hi_marks));
	memset(f->history, 0, sizeof(f->history));
}

/*
 * Takes what the state machine made of a connection's first packet
 * (hs_tcp_start, into a scratch record): after init_record, which clears
 * the counters' word that the window scale marks share.
 */
static void take_tcp_start(struct hs_flow *f, const struct hs_flow *scratch)
{
	memcpy(f->state, scratch->state, sizeof(f->state));
	f->wscales = scratch->wscales;
	memcpy(f->ep_flags, scratch->ep_flags, sizeof(f->ep_flags));
	memcpy(f->window, scratch->window, sizeof(f->window));
	for (int side = 0; side < 2; side++)
		f->bytes_hi_marks[side] |= scratch->bytes_hi_marks[side] & HS_SENT_WSCALE;
}

/* Marks the endpoints whose address is the host's own, for a new connection. */
static void mark_local(const struct hs_table *t, struct hs_flow *f)
{
	if (hs_local_addrs_count(&t->local) == 0)
		return;
	for (int side = HS_CLIENT; side <= HS_SERVER; side++) {
		struct hs_addr addr = hs_flow_addr(f, (enum hs_side)side);
		if (hs_local_addrs_contains(&t->local, hs_flow_family(f), &addr))
			f->bytes_hi_marks[side] |= HS_LOCAL;
	}
}

/* Whether the sender should be taken for the client of a flow picked up mid-stream. */
static bool pickup_sender_is_client(const struct hs_packet *pkt)
{
	/* Servers listen on the lower port, clients use ephemeral ones. */
	return pkt->sport >= pkt->dport;
}

static void create_flow(struct hs_table *t, const struct hs_packet *pkt, const struct hs_flow_key *key,
			bool src_is_0, struct hs_index_place place, uint64_t now_ms, struct hs_track_result *res)
{
	struct hs_flow scratch;
	bool is_syn = (pkt->flags & (HS_TCP_SYN | HS_TCP_ACK)) == HS_TCP_SYN;
	bool sender_client = is_syn || pickup_sender_is_client(pkt);
	enum hs_side sender = sender_client ? HS_CLIENT : HS_SERVER;
	enum hs_invalid_reason why;

	memset(&scratch, 0, sizeof(scratch));
	if (!hs_tcp_start(&scratch, sender, pkt, t->config.pickup, &why)) {
		res->invalid = why;
		res->hint = HS_HINT_INVALID;
		t->stats.invalid[why]++;
		return;
	}
	struct hs_flow *f = alloc_flow(t, now_ms, pkt->family);
	if (!f) {
		res->hint = HS_HINT_UNTRACKED;
		t->stats.untracked_table_full++;
		return;
	}
	uint32_t now = to_ticks(t, now_ms);
	/* An IPv6 record is the start of its hs_flow_v6, where the addresses go. */
	hs_flow_key_set((struct hs_flow_v6 *)f, key, pkt->family);
	f->flags = HS_FLOW_IN_USE;
	if (src_is_0 == sender_client)
		f->flags |= HS_FLOW_CLIENT_IS_0;
	if (!is_syn)
		f->flags |= HS_FLOW_PICKED_UP | HS_FLOW_ESTABLISHED;
	init_record(t, f, now);
	take_tcp_start(f, &scratch);
	mark_local(t, f);
	record(f, sender, pkt, false);

	hs_index_insert(&t->index, place, flow_index(t, f));
	timer_file(t, f, flow_due(t, f));

	t->stats.flows_created++;
	t->stats.live++;
	if (!(f->flags & HS_FLOW_ESTABLISHED))
		t->stats.live_half_open++;
	res->flow = f;
	res->sender = sender;
	res->old_state[HS_CLIENT] = HS_TCP_CLOSED;
	res->old_state[HS_SERVER] = HS_TCP_CLOSED;
	res->new_state[HS_CLIENT] = f->state[HS_CLIENT];
	res->new_state[HS_SERVER] = f->state[HS_SERVER];
	res->events = HS_EVENT_NEW | HS_EVENT_STATE;
}

/* A SYN reopened a finished tuple: the sender is the new connection's client. */
static void restart_flow(struct hs_table *t, struct hs_flow *f, enum hs_side sender,
			 const struct hs_packet *pkt, uint32_t now)
{
	struct hs_flow scratch;
	enum hs_invalid_reason why;
	bool src_is_0 = hs_flow_key_index(f, sender) == 0;

	memset(&scratch, 0, sizeof(scratch));
	hs_tcp_start(&scratch, HS_CLIENT, pkt, false, &why);
	/* The old connection ends here: whoever counts it must see it as it was. */
	if (t->remove_hook)
		t->remove_hook(t->remove_ctx, f, HS_REMOVE_REOPENED);
	timer_unlink(t, f);
	if (f->flags & HS_FLOW_ESTABLISHED)
		t->stats.live_half_open++;
	f->flags = (uint8_t)(HS_FLOW_IN_USE | (src_is_0 ? HS_FLOW_CLIENT_IS_0 : 0));
	init_record(t, f, now);
	take_tcp_start(f, &scratch);
	/* The new client may be the old server: the sides' marks follow the addresses. */
	mark_local(t, f);
	timer_file(t, f, flow_due(t, f));
	t->stats.restarts++;
}

static bool is_closed(uint8_t s)
{
	return s == HS_TCP_CLOSED || s == HS_TCP_TIME_WAIT;
}

/* After a state change: the result's events, the flow's times and flags, and its place in the wheels. */
static void state_changed(struct hs_table *t, struct hs_flow *f, uint32_t now, struct hs_track_result *res)
{
	res->events |= HS_EVENT_STATE;
	f->state_since = now;
	f->flags &= (uint8_t)~HS_FLOW_POLICY_DONE;
	if (is_closed(f->state[0]) && is_closed(f->state[1]) &&
	    !(is_closed(res->old_state[0]) && is_closed(res->old_state[1])))
		res->events |= HS_EVENT_CLOSED;

	/* The first completed handshake moves the flow to the settled wheel. */
	bool moved = false;
	if (!(f->flags & HS_FLOW_ESTABLISHED) && hs_tcp_handshake_done(f->state[HS_CLIENT], f->state[HS_SERVER])) {
		timer_unlink(t, f);
		f->flags |= HS_FLOW_ESTABLISHED;
		t->stats.live_half_open--;
		moved = true;
	}
	/* Lazy filing only errs early; a deadline that got earlier must be refiled now. */
	uint32_t due = flow_due(t, f);
	if (moved || !(f->flags & HS_FLOW_TIMER_LINKED) ||
	    filing_offset(t, f, due) < 0) {
		timer_unlink(t, f);
		timer_file(t, f, due);
	}
}

/*
 * The record a hint names (NULL = none), if it still holds the flow of
 * that key.  Keys are unique among live flows, so a live record with the
 * key is the flow, wherever the hint came from.  A record never moves (the
 * arrays are reserved whole), so a hint stays a valid address however the
 * table changed since it was taken.
 */
static inline struct hs_flow *hinted_flow(struct hs_flow *hint, const struct hs_flow_key *key, uint8_t family)
{
	if (!hint)
		return NULL;
	return (hint->flags & HS_FLOW_IN_USE) && hs_flow_has_key(hint, key, family) ? hint : NULL;
}

/* A result about to be filled in for a packet judged in full, and the packet counted as a SYN with data. */
static void start_result(struct hs_table *t, const struct hs_packet *pkt, struct hs_track_result *res)
{
	memset(res, 0, sizeof(*res));
	if ((pkt->flags & HS_TCP_SYN) && pkt->payload_len)
		t->stats.syn_with_data++;
}

/*
 * A packet of a flow the table holds, f, sent by sender: every packet but
 * the common one (see track_keyed), judged in full by hs_tcp_update.  Out
 * of line, so that the common packet saves no registers for it.  now is
 * the time in ticks, which the caller has noted (clock_at).
 */
static __attribute__((noinline)) void track_found(struct hs_table *t, const struct hs_packet *pkt, struct hs_flow *f,
						  enum hs_side sender, uint32_t now, struct hs_track_result *res)
{
	struct hs_tcp_update up;

	start_result(t, pkt, res);
	res->flow = f;
	if ((f->flags & HS_FLOW_BLOCKED) && (pkt->flags & (HS_TCP_SYN | HS_TCP_ACK | HS_TCP_RST)) != HS_TCP_SYN) {
		/* Blocked until the endpoints start over; their retries keep it blocked. */
		res->sender = sender;
		memcpy(res->old_state, f->state, sizeof(res->old_state));
		memcpy(res->new_state, f->state, sizeof(res->new_state));
		res->hint = HS_HINT_BLOCKED;
		hs_flow_count(f, sender, pkt->wire_len);
		f->last_seen = now;
		return;
	}
	res->old_state[HS_CLIENT] = f->state[HS_CLIENT];
	res->old_state[HS_SERVER] = f->state[HS_SERVER];
	hs_tcp_update(f, sender, pkt, &up);
	if (up.resynced)
		t->stats.resyncs++;
	if (up.restart) {
		restart_flow(t, f, sender, pkt, now);
		sender = HS_CLIENT;
		res->events = HS_EVENT_NEW | HS_EVENT_RESTART | HS_EVENT_STATE;
	}
	res->sender = sender;
	res->new_state[HS_CLIENT] = f->state[HS_CLIENT];
	res->new_state[HS_SERVER] = f->state[HS_SERVER];

	if (up.invalid != HS_INVALID_NONE) {
		/* An invalid packet is counted but does not keep the flow alive. */
		res->invalid = up.invalid;
		res->hint = HS_HINT_INVALID;
		t->stats.invalid[up.invalid]++;
		record(f, sender, pkt, true);
		return;
	}
	record(f, sender, pkt, false);
	f->last_seen = now;
	if (res->new_state[0] == res->old_state[0] && res->new_state[1] == res->old_state[1] && !up.restart)
		return;

	state_changed(t, f, now, res);
}

/*
 * A packet whose flow neither the hint nor the index held: the miss hook
 * may have it (a flow restored from a snapshot), else it may start one.
 */
static __attribute__((noinline)) void track_missed(struct hs_table *t, const struct hs_packet *pkt,
						   const struct hs_flow_key *key, bool src_is_0, struct hs_index_place place,
						   uint64_t now_ms, struct hs_track_result *res)
{
	struct hs_flow *f = NULL;
	uint32_t now = clock_at(t, now_ms);

	if (t->miss_hook && t->miss_hook(t->miss_ctx, key, pkt->family, now_ms))
		f = lookup_at(t, place, key, pkt->family);
	if (f) {
		track_found(t, pkt, f, hs_flow_sender(f, src_is_0), now, res);
		return;
	}
	start_result(t, pkt, res);
	create_flow(t, pkt, key, src_is_0, place, now_ms, res);
}

/*
 * The common packet's tracking on its flow, when the state machine's
 * shortcut (hs_tcp_update_common) takes it: what record() does with a
 * packet without SYN, FIN or RST, but for its history letter: a pure ACK
 * marks its 'A' as due (HS_EP_SEEN_ACK, hs_flow_history_due), and a side's
 * first data is left to record() ('D' in its place).  False, and nothing
 * written, when the shortcut declines the packet.  Inline: as a call of
 * its own it saved six registers a packet.  It was one while track_keyed
 * took some of its arguments on the stack and the window checks spilled
 * there; since track_keyed takes the lookahead, inline is 4 instructions a
 * packet fewer.
 */
static inline __attribute__((always_inline)) bool track_common(struct hs_flow *f, enum hs_side sender, const struct hs_packet *pkt)
{
	if (pkt->payload_len && !(f->ep_flags[sender] & HS_EP_SEEN_DATA))
		return false;
	if (!hs_tcp_update_common(f, sender, pkt, pkt->payload_len ? 0 : HS_EP_SEEN_ACK))
		return false;
	hs_flow_count(f, sender, pkt->wire_len);
	return true;
}

/*
 * What is known of a packet before it is tracked: its key, the key's place
 * in the index, and, on the batch path, the record found ahead (a hint).
 */
struct lookahead {
	struct hs_flow_key key;
	struct hs_index_place place;
	bool src_is_0;
	/* The home line had no candidate but counts entries past it: its next line may (pass 2b). */
	bool look_next;
	/*
	 * The offset of the candidate's last byte (record_last_byte of the
	 * array it lies in), noted by pass 2, which knows it from the index,
	 * for pass 3's step ahead, which read the packet's family again to
	 * find it: 3 instructions a packet fewer (callgrind, 10k flows).
	 */
	uint8_t candidate_last;
	/*
	 * The first record filed under the key's tag; NULL: none.  A
	 * pointer, not an index: the record's address is what both the
	 * prefetch and the check need.
	 */
	struct hs_flow *candidate;
	/*
	 * The packet, on the batch path, noted by pass 2: pass 3 then walks
	 * the lookaheads alone, and keeps no burst pointer and no count in
	 * registers the window checks want (see hs_table_track_batch).
	 */
	const struct hs_packet *pkt;
};

_Static_assert(sizeof(struct lookahead) == 64, "a packet's lookahead is one cache line");

/* A packet's key, an IPv4 one built inline (hs_flow_key_ipv4): no call for most packets. */
static inline void packet_key(const struct hs_packet *pkt, struct lookahead *la)
{
	if (pkt->family == HS_FAMILY_IPV4)
		hs_flow_key_ipv4(pkt, &la->key, &la->src_is_0);
	else
		hs_flow_key_from_packet(pkt, &la->key, &la->src_is_0);
}

_Static_assert(offsetof(struct hs_track_result, sender) == 8 && offsetof(struct hs_track_result, hint) == 15,
	       "a track result's bytes follow its flow pointer");

/*
 * The common packet's result: its flow and sender, both endpoints
 * ESTABLISHED before and after, no event, nothing invalid, accepted.  The
 * eight bytes after the flow pointer are one word, so that it is two
 * stores; as a compound literal the compiler cleared the result and then
 * wrote its fields over it, five stores.
 */
static inline void common_result(struct hs_track_result *res, struct hs_flow *f, enum hs_side sender)
{
	uint64_t established = (uint64_t)HS_TCP_ESTABLISHED * UINT64_C(0x0101010100);
	uint64_t bytes = htole64(established | (uint64_t)sender);

	_Static_assert(HS_INVALID_NONE == 0 && HS_HINT_ACCEPT == 0, "zero bytes say valid and accepted");
	res->flow = f;
	memcpy((uint8_t *)res + offsetof(struct hs_track_result, sender), &bytes, sizeof(bytes));
}

/*
 * The per-packet work once the key, its place and perhaps its flow (the
 * hint, la->candidate) are known.  Most packets are ACKs, with or without
 * data, between two ESTABLISHED endpoints that pass the window checks: for
 * them it is track_common (the state machine's own window checks, the
 * counters and the history), the time and a result that says nothing
 * changed.  Every other packet, and one the checks refuse, is judged in
 * full out of line (track_found, track_missed), as before the shortcut.
 * now is now_ms in ticks, already noted by the caller (clock_at).
 *
 * Inline in the batch path's one loop (hs_table_track_batch): as a call
 * it cost the call, its arguments and its six saved registers a packet
 * (measured: 9 instructions a packet more).  Inline in two loops it made
 * them keep more than they had registers for, so the batch path has one.
 */
static inline __attribute__((always_inline)) void track_keyed(struct hs_table *t, const struct hs_packet *pkt,
							      const struct lookahead *la, uint64_t now_ms, uint32_t now,
							      struct hs_track_result *res)
{
	t->stats.packets++;
	struct hs_flow *f = hinted_flow(la->candidate, &la->key, pkt->family);
	if (!f)
		f = lookup_at(t, la->place, &la->key, pkt->family);
	if (!f) {
		track_missed(t, pkt, &la->key, la->src_is_0, la->place, now_ms, res);
		return;
	}
	enum hs_side sender = hs_flow_sender(f, la->src_is_0);

	if ((f->flags & HS_FLOW_BLOCKED) || !track_common(f, sender, pkt)) {
		track_found(t, pkt, f, sender, now, res);
		return;
	}
	f->last_seen = now;
	common_result(res, f, sender);
}

void hs_table_track(struct hs_table *t, const struct hs_packet *pkt, uint64_t now_ms,
		    struct hs_track_result *res)
{
	struct lookahead la = { .candidate = NULL };

	packet_key(pkt, &la);
	la.place = key_place(t, &la.key, pkt->family);
	track_keyed(t, pkt, &la, now_ms, clock_at(t, now_ms), res);
}

/*
 * The most packets the passes below work on at once: a burst as the daemon
 * reads it (HS_NFQ_BURST, 64).  Measured with calls of 64 packets
 * (bench_core, 3 runs each): at 1M flows 29.6 -> 27.7 ns a packet against
 * slices of 32, each pass then long enough for more of the other passes'
 * misses to arrive; at 10k and 100k flows no different (20.6-21.5 and
 * 22.1-23.8 ns both).  A call of 32 or fewer runs as before.
 */
#define BATCH 64

/*
 * The batch path hides memory latency, which is most of a packet's cost in
 * a large table, by working on a burst in three passes, each a loop of its
 * own (see hs_table_track_batch):
 *
 *  1. place: the keys are built and hashed sixteen at a time
 *     (hs_flow_hash_burst_words: two AVX-512 vectors), and each key's
 *     index line is prefetched as soon as its hash is known;
 *  2. probe: each index line is read (by now mostly arrived) and the record
 *     filed under the key's tag is prefetched;
 *  3. track: each packet is tracked, the next packet's record first moved
 *     on to the L1 cache.
 *
 * Passes 1 and 2 prefetch into the L2 cache only (PREFETCHT1).  A burst
 * of 32 asks for some 108 lines (32 index lines, 2.4 lines a record), more
 * than the L1 cache can have in flight; into the L1 (PREFETCHT0), a pass that
 * prefetched the 32 records of a burst then tracked them at 70-88 ns a
 * packet (bench_core, 1M flows), most records not there yet; into the L2,
 * at 31-34 ns.  Measured the same way: working ahead in one loop (index
 * line 16 packets ahead, record 8 ahead, as this path did before) 45-52 ns
 * with PREFETCHT0 and 41-42 with PREFETCHT1; the probe pass split to run
 * 8, 12 or 16 packets ahead inside the tracking loop 38-46 ns; a loop
 * reading each record before tracking 37-41 ns; the record laid out with
 * the fields the common packet uses in 72 contiguous bytes, and only those
 * prefetched, no better (31.8-33.9 against 31.2-33.3).  In a table that
 * fits the L2 cache the L2 prefetch costs a little: 10k flows 22-23 ns
 * against 20.
 */
static inline void prefetch_to_l2(const void *p)
{
	__builtin_prefetch(p, 0, 2);
	/*
	 * A prefetch the compiler must keep.  GCC 12 at -O2 takes a loop
	 * whose only effect is __builtin_prefetch for dead and removes it,
	 * the loads that computed the addresses with it: the batch path's
	 * records were not prefetched at all.  The empty asm uses the
	 * address, so the loop has an effect and the prefetch stays.
	 */
	__asm__ volatile("" : : "r"(p));
}

static inline void prefetch_to_l1(const void *p)
{
	__builtin_prefetch(p, 0, 3);
	__asm__ volatile("" : : "r"(p));
}

/* The offset of the last byte of a record of a family: an IPv6 record has its addresses after it. */
static inline size_t record_last_byte(uint8_t family)
{
	return family == HS_FAMILY_IPV6 ? sizeof(struct hs_flow_v6) - 1 : sizeof(struct hs_flow) - 1;
}

/*
 * Every line of a record: two or three, as it lies across lines.  Read
 * prefetches, though the record is then written: on x86-64 a write
 * prefetch (PREFETCHW) is an extension the baseline lacks.  A line only
 * this core reads arrives exclusive, so the write that follows costs no
 * second trip.  Where the CPU has it, PREFETCHW here measured 58 ns a
 * packet against 33 (bench_core, 1M flows): it fills the L1 cache, as
 * PREFETCHT0 does.  The third prefetch is the second line again for a
 * record in two lines (10 records in 16), which no branch-free code can
 * skip; leaving out the middle line instead (for the 6 in 16 that have
 * three) took 60 ns: each line not prefetched is a miss to memory.
 */
static inline struct hs_flow *fetch_record(const struct hs_table *t, uint32_t index, size_t *last_out)
{
	struct hs_flow *f = flow_at(t, index);
	const uint8_t *r = (const uint8_t *)f;
	size_t last = record_last_byte((index & 1) ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4);

	prefetch_to_l2(r);
	prefetch_to_l2(r + 64);
	prefetch_to_l2(r + last);
	*last_out = last;
	return f;
}

/*
 * Pass 1 for the packets [from, from + PLACE_GROUP) of a burst of m (fewer
 * at its end): keys, places, index lines.
 *
 * An IPv4 key's two hash words (hs_flow_hash_addr_word,
 * hs_flow_hash_last_word) are taken from the registers the key is built
 * in, and the group is hashed from those words with plain vector loads
 * (hs_flow_hash_burst_words).  It was hashed from the keys, eight at a
 * time, with three gathers a vector: pass 1 took 635-656 cycles a burst of
 * 32 at 10k flows (rdtsc around the pass), and takes 413 now, the batch
 * path 352 -> 333 instructions a packet (callgrind, AVX2 lanes).  Groups
 * of 16 measured best: a call per 8 packets cost 533-545 cycles (each call
 * its own loops, its key state broadcast and its hashes stored and read
 * back), one call for all 32 413-430 but no index line requested before
 * every key is hashed.  At 1M flows the pass is cheaper by as much
 * (707-757 -> 467-504 cycles), but pass 2 then waits the longer for lines
 * requested later, so the burst gains less: bench_core at 1M flows 33.4
 * -> 31.8 ns a packet, 2.37 -> 2.15 times the floor (medians of 7
 * alternated runs).
 */
#define PLACE_GROUP 16

static inline __attribute__((always_inline)) void place_group(const struct hs_table *t,
							      const struct hs_packet *const *pkts, struct lookahead *la,
							      size_t from, size_t m)
{
	uint64_t addr_words[PLACE_GROUP], last_words[PLACE_GROUP], hashes[PLACE_GROUP];
	uint32_t others = 0;
	size_t k = m - from < PLACE_GROUP ? m - from : PLACE_GROUP;

	pkts += from;
	la += from;
	for (size_t i = 0; i < k; i++) {
		/* IPv6 keys, and any other family, are hashed one at a time below (bit i of others). */
		if (pkts[i]->family == HS_FAMILY_IPV4) {
			hs_flow_key_ipv4(pkts[i], &la[i].key, &la[i].src_is_0);
			addr_words[i] = hs_flow_hash_addr_word(&la[i].key);
			last_words[i] = hs_flow_hash_last_word(&la[i].key, HS_FAMILY_IPV4, HS_FLOW_HASH_LEN_IPV4);
		} else {
			hs_flow_key_from_packet(pkts[i], &la[i].key, &la[i].src_is_0);
			/* Defined words for its lane, whose hash is replaced below. */
			addr_words[i] = last_words[i] = 0;
			others |= 1u << i;
		}
	}
	hs_flow_hash_burst_words(&t->hash_start, addr_words, last_words, k, hashes);
	for (; others; others &= others - 1) {
		size_t i = (size_t)__builtin_ctz(others);

		hashes[i] = hs_flow_hash_keyed(&t->hash_start, &la[i].key, pkts[i]->family);
	}
	for (size_t i = 0; i < k; i++) {
		la[i].place = hs_index_place_of(&t->index, hashes[i]);
		prefetch_to_l2(hs_index_line(&t->index, la[i].place.home));
	}
}

/* The record pass 3 checks first: prefetched, and noted with where its last byte lies. */
static inline __attribute__((always_inline)) void take_candidate(const struct hs_table *t, struct lookahead *la,
								 uint32_t record)
{
	size_t last;

	la->candidate = fetch_record(t, record, &last);
	la->candidate_last = (uint8_t)last;
}

/*
 * Pass 2 for one packet: the records of the home line under the key's tag.
 * Almost always one matches, the flow's; a second (one line in ten) is
 * fetched too, as the first may be another flow's with the same tag.
 * When the home line has no candidate but counts entries past it, its
 * next line is prefetched here for pass 2b; a flow filed further on is
 * found when tracked (lookup_at).
 * Always inline: GCC otherwise called it from the batch loop, the
 * prefetches out of hs_table_track_batch, where tests/check_prefetch looks
 * for them.
 */
static inline __attribute__((always_inline)) void probe_line(const struct hs_table *t, struct lookahead *la)
{
	const struct hs_index_line *l = hs_index_line(&t->index, la->place.home);
	uint32_t m = hs_index_matches(l, la->place.tag);

	la->candidate = NULL;
	la->look_next = false;
	if (!m) {
		/* Not in its home line: if entries passed it, the flow is likely in the next, prefetched for pass 2b. */
		if (l->passed) {
			prefetch_to_l2(hs_index_line(&t->index, hs_index_next_line(&t->index, la->place.home)));
			la->look_next = true;
		}
		return;
	}
	size_t last;

	take_candidate(t, la, hs_index_record(l, (uint32_t)__builtin_ctz(m)));
	m &= m - 1;
	if (m)
		fetch_record(t, hs_index_record(l, (uint32_t)__builtin_ctz(m)), &last);
}

/*
 * Pass 2b, for the packets pass 2 sent on (look_next): the line after the
 * home line, and the record under the key's tag there.  Some 1% of the
 * flows of a full table lie past their home line (HS_INDEX_FILL).  Without
 * this pass their records were first read when tracked, a miss all the
 * way to memory: at 1M flows 1.4% of packets took some 710 cycles to track
 * against 60 (rdtscp around each), most of what tracking a burst cost
 * above tracking it warm.  Its own loop after pass 2, so that the next
 * lines have had pass 2's time to arrive.
 */
static inline __attribute__((always_inline)) void probe_next_line(const struct hs_table *t, struct lookahead *la)
{
	const struct hs_index_line *l =
		hs_index_line(&t->index, hs_index_next_line(&t->index, la->place.home));
	uint32_t m = hs_index_matches(l, la->place.tag);

	if (m)
		take_candidate(t, la, hs_index_record(l, (uint32_t)__builtin_ctz(m)));
}

/*
 * Pass 3's step ahead: a packet's candidate record from the L2 cache to
 * the L1, a packet before it is tracked.  Measured at 1M flows (medians of
 * 3 to 9 alternated runs): 2 or 3 packets ahead no better (29.2 and 29.5
 * against 29.9 ns; 2 again, 29.9 against 30.1), nor 4 (31.3 against 31.7,
 * before the history lost its branch); PREFETCHW, for the write that
 * follows, no better (33.6 against 32.7); the middle line left out, worse
 * (35.1 against 33.0).
 */
static inline void record_to_l1(const struct lookahead *la)
{
	const uint8_t *r = (const uint8_t *)la->candidate;

	if (!r)
		return;
	prefetch_to_l1(r);
	prefetch_to_l1(r + 64);
	prefetch_to_l1(r + la->candidate_last);
}

/*
 * Processing may change the index (new or evicted flows), so what pass 2
 * learned is only a hint: a record found ahead is taken only if it holds
 * the packet's flow, and otherwise the index is read.
 */
void hs_table_track_batch(struct hs_table *t, const struct hs_packet *const *pkts, size_t n,
			  uint64_t now_ms, struct hs_track_result *res, hs_track_done done, void *ctx)
{
	/* One more than a burst, with no candidate: the last packet's step ahead finds nothing to prefetch. */
	struct lookahead la[BATCH + 1];

	if (n == 0)
		return;
	/*
	 * A lone packet has nothing to work ahead of: hs_table_track does it
	 * for less (bench_core, 1k flows, bursts of 1: 51 against 57 ns).
	 */
	if (n == 1) {
		hs_table_track(t, pkts[0], now_ms, &res[0]);
		if (done)
			done(ctx, 0, &res[0]);
		return;
	}
	/*
	 * Every packet of the batch has the same time, so the clock is noted
	 * and its ticks computed once, not once a packet (a division and a
	 * compare with the latest time seen).
	 */
	uint32_t now = clock_at(t, now_ms);

	for (size_t base = 0; base < n; base += BATCH) {
		const struct hs_packet *const *burst = pkts + base;
		size_t m = n - base < BATCH ? n - base : BATCH;

		for (size_t i = 0; i < m; i += PLACE_GROUP)
			place_group(t, burst, la, i, m);
		for (size_t i = 0; i < m; i++) {
			probe_line(t, &la[i]);
			la[i].pkt = burst[i];
		}
		for (size_t i = 0; i < m; i++)
			if (la[i].look_next)
				probe_next_line(t, &la[i]);
		/*
		 * Pass 3 walks the lookaheads by pointer to an end, the one
		 * past the burst holding no candidate: with an index, a count
		 * and the burst it kept three registers, and the window checks
		 * spilled more (5.6 instructions a packet more, callgrind at
		 * 10k flows).
		 */
		la[m].candidate = NULL;
		struct hs_track_result *r = res + base;
		for (const struct lookahead *a = la, *end = la + m; a < end; a++, r++) {
			record_to_l1(a + 1);
			track_keyed(t, a->pkt, a, now_ms, now, r);
			/* A result is only good until the next packet, which may move or free its flow. */
			if (done)
				done(ctx, (size_t)(r - res), r);
		}
	}
}

void hs_table_rewake_all(struct hs_table *t)
{
	for (uint32_t i = 0, span = hs_table_span(t); i < span; i++) {
		struct hs_flow *f = live_at(t, i);

		if (!f)
			continue;
		f->flags &= (uint8_t)~HS_FLOW_POLICY_DONE;
		timer_unlink(t, f);
		timer_file(t, f, flow_due(t, f));
	}
}

void hs_table_block(struct hs_table *t, struct hs_flow *f, uint64_t now_ms)
{
	uint32_t now = to_ticks(t, now_ms);

	clock_at(t, now_ms);
	timer_unlink(t, f);
	f->state[HS_CLIENT] = HS_TCP_CLOSED;
	f->state[HS_SERVER] = HS_TCP_CLOSED;
	f->state_since = now;
	f->last_seen = now;
	f->flags |= HS_FLOW_BLOCKED;
	timer_file(t, f, flow_due(t, f));
}

/* ---- queries ---- */

struct hs_flow *hs_table_find_id(struct hs_table *t, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (uint32_t i = 0, span = hs_table_span(t); i < span; i++) {
		struct hs_flow *f = live_at(t, i);
		if (f && f->id == id)
			return f;
	}
	return NULL;
}

uint32_t hs_table_flow_index(const struct hs_table *t, const struct hs_flow *f)
{
	return flow_index(t, f);
}

struct hs_flow *hs_table_flow_ref(struct hs_table *t, uint32_t index, uint32_t id)
{
	struct hs_flow *f = live_at(t, index);

	return f && f->id == id ? f : NULL;
}

const struct hs_flow *hs_table_flow_at(const struct hs_table *t, uint32_t index)
{
	return live_at(t, index);
}

void hs_table_foreach(const struct hs_table *t, hs_table_visit_fn fn, void *ctx)
{
	for (uint32_t i = 0, span = hs_table_span(t); i < span; i++) {
		const struct hs_flow *f = live_at(t, i);
		if (f && !fn(ctx, f))
			return;
	}
}

bool hs_table_walk(const struct hs_table *t, const struct hs_flow_match *match, uint64_t now_ms, uint32_t *cursor,
		   uint32_t budget, hs_table_walk_fn fn, void *ctx)
{
	uint32_t pos = *cursor, span = hs_table_span(t);
	uint32_t end = span > pos && span - pos > budget ? pos + budget : span;
	bool go_on = true;

	for (; pos < end && go_on; pos++) {
		const struct hs_flow *f = live_at(t, pos);
		if (!f)
			continue;
		if (match && !(hs_flow_match_flow(match, f) &&
			       hs_flow_match_times(match, hs_flow_age_ms(t, f, now_ms), hs_flow_idle_ms(t, f, now_ms),
						   hs_flow_state_age_ms(t, f, now_ms))))
			continue;
		go_on = fn(ctx, t, f, now_ms);
	}
	*cursor = pos;
	return pos < span;
}

uint32_t hs_table_count(const struct hs_table *t, const struct hs_flow_match *match)
{
	uint32_t n = 0;

	for (uint32_t i = 0, span = hs_table_span(t); i < span; i++) {
		const struct hs_flow *f = live_at(t, i);
		if (f && hs_flow_match_flow(match, f))
			n++;
	}
	return n;
}

const struct hs_table_stats *hs_table_stats(const struct hs_table *t)
{
	return &t->stats;
}

uint32_t hs_table_capacity(const struct hs_table *t)
{
	return t->capacity;
}

uint32_t hs_table_span(const struct hs_table *t)
{
	uint32_t v4 = 2 * t->high_water[ARRAY_V4], v6 = 2 * t->high_water[ARRAY_V6];

	return v4 > v6 ? v4 : v6;
}

size_t hs_table_memory(const struct hs_table *t)
{
	return sizeof(*t) + t->index.bytes + (size_t)t->high_water[ARRAY_V4] * sizeof(struct hs_flow) +
	       (size_t)t->high_water[ARRAY_V6] * sizeof(struct hs_flow_v6);
}

void hs_table_memory_parts(const struct hs_table *t, struct hs_table_memory_parts *out)
{
	out->records = (uint64_t)t->high_water[ARRAY_V4] * sizeof(struct hs_flow) +
		       (uint64_t)t->high_water[ARRAY_V6] * sizeof(struct hs_flow_v6);
	out->index = t->index.bytes;
	out->fixed = sizeof(*t);
}

uint64_t hs_table_bytes_at_most(uint32_t max_flows)
{
	struct hs_flow_index sized = { .nlines = 0 };

	hs_index_size(&sized, max_flows);
	return sizeof(struct hs_table) + sized.bytes + (uint64_t)max_flows * sizeof(struct hs_flow_v6);
}

void hs_table_index_shape(const struct hs_table *t, struct hs_index_shape *out)
{
	hs_index_shape(&t->index, out);
}

uint64_t hs_flow_age_ms(const struct hs_table *t, const struct hs_flow *f, uint64_t now_ms)
{
	return (uint64_t)(uint32_t)(to_ticks(t, now_ms) - f->first_seen) * TICK_MS;
}

uint64_t hs_flow_idle_ms(const struct hs_table *t, const struct hs_flow *f, uint64_t now_ms)
{
	return (uint64_t)(uint32_t)(to_ticks(t, now_ms) - f->last_seen) * TICK_MS;
}

uint64_t hs_flow_state_age_ms(const struct hs_table *t, const struct hs_flow *f, uint64_t now_ms)
{
	return (uint64_t)(uint32_t)(to_ticks(t, now_ms) - f->state_since) * TICK_MS;
}

bool hs_timeout_class_open_ended(enum hs_timeout_class cls)
{
	return cls == HS_TIMEOUT_ESTABLISHED || cls == HS_TIMEOUT_FIN_WAIT || cls == HS_TIMEOUT_CLOSE_WAIT;
}

uint32_t hs_flow_deadline_tick(const struct hs_table *t, const struct hs_flow *f)
{
	uint32_t due = flow_timeout_due(t, f), policy;

	if (policy_pending(t, f, &policy) && policy_holds(f) && (int32_t)(policy - due) > 0)
		return policy;
	return due;
}

uint32_t hs_flow_timeout_ms(const struct hs_table *t, const struct hs_flow *f)
{
	return t->config.timeout_ms[hs_tcp_timeout_class(f->state[HS_CLIENT], f->state[HS_SERVER])];
}

/* ---- restoring from a snapshot ---- */

/* The flow bits a snapshot carries: the timer's own are the table's business. */
#define RESTORED_FLOW_FLAGS (HS_FLOW_IN_USE | HS_FLOW_CLIENT_IS_0 | HS_FLOW_ESTABLISHED | HS_FLOW_PICKED_UP | \
			     HS_FLOW_POLICY_DONE | HS_FLOW_BLOCKED)

enum hs_restore_result hs_table_restore_flow(struct hs_table *t, const struct hs_flow *image,
					     const struct hs_flow_ages *ages, uint64_t now_ms, bool keep_id)
{
	struct hs_flow_key key;

	hs_flow_key_get(image, &key);
	uint8_t family = hs_flow_family(image);
	struct hs_index_place place = key_place(t, &key, family);

	clock_at(t, now_ms);
	if (lookup_at(t, place, &key, family))
		return HS_RESTORE_DUPLICATE;
	/* Never by eviction: a snapshot does not push out what the table holds. */
	struct hs_flow *f = t->stats.live < t->capacity ? take_record(t, family) : NULL;
	if (!f)
		return HS_RESTORE_FULL;
	uint32_t now = to_ticks(t, now_ms);
	uint32_t id = image->id;

	/* An IPv6 image is an hs_flow_v6, as its record here is. */
	if (family == HS_FAMILY_IPV6)
		*(struct hs_flow_v6 *)f = *hs_flow_v6_of(image);
	else
		*f = *image;
	f->flags = (uint8_t)((image->flags & RESTORED_FLOW_FLAGS) | HS_FLOW_IN_USE);
	/* Packets passed while no daemon ran: both windows catch up with the first plausible packet. */
	f->ep_flags[HS_CLIENT] |= HS_EP_GAP;
	f->ep_flags[HS_SERVER] |= HS_EP_GAP;
	/* Ages count back from now; before the epoch the ticks wrap, as widen() expects. */
	f->first_seen = now - ages->age_ticks;
	f->last_seen = now - ages->idle_ticks;
	f->state_since = now - ages->state_ticks;
	if (!keep_id || id == 0) {
		id = t->next_id;
		t->next_id += t->config.id_step;
		if (t->next_id < t->config.id_step)
			t->next_id = t->config.id_first;
	}
	f->id = id;
	hs_index_insert(&t->index, place, flow_index(t, f));
	timer_file(t, f, flow_due(t, f));
	t->stats.live++;
	if (!(f->flags & HS_FLOW_ESTABLISHED))
		t->stats.live_half_open++;
	return HS_RESTORE_OK;
}

uint32_t hs_table_next_id(const struct hs_table *t)
{
	return t->next_id;
}

void hs_table_set_next_id(struct hs_table *t, uint32_t next_id)
{
	if (next_id != 0)
		t->next_id = next_id;
}
