/*
 * policy_engine: applies a policy set to one worker's table (see
 * include/core/hs_policy_engine.h).  It decides; it never acts: the RSTs
 * to send and the events to log go into the caller's action list.
 *
 * Limits count flows, not packets: for every admission policy with a
 * `limit`, a hash table holds how many flows in the table match its `match`
 * per group (per client address, per server address and port, or one
 * global group).  Every state change re-evaluates the flow against those
 * policies before and after, so a new SYN is judged in O(policies) without
 * looking at other flows.
 *
 * The verify action remembers, for a few seconds, the 4-tuples whose first
 * SYN it dropped; a real TCP stack retransmits that SYN about a second
 * later and is then let through, while a spoofed flood never retries.
 * Sources that completed a handshake recently pass at once.  Both memories
 * and the token buckets live in fixed tables probed a bounded number of
 * slots; an entry that has gone stale is as good as empty, so nothing ever
 * needs deleting and memory stays flat under any flood.
 *
 * Memory follows what the policies need.  Each table is reserved at its
 * largest when the engine is created (hs_bigmem.h: nothing is resident
 * until written), and a policy set uses only as much of it as its
 * policies can fill: no count table without a limit, a few slots for
 * global groups, room for every flow for per-source or per-destination
 * groups; the same for rates.  Installing a set gives the pages of the
 * previous one back.  So a daemon without policies keeps none of this
 * resident, and none of it is allocated on the packet path.
 */
#include "hs_policy_engine.h"

#include <stdlib.h>
#include <string.h>

#include "hs_bigmem.h"
#include "hs_rst_build.h"
#include "hs_siphash.h"

#define PROBE_LIMIT 16
#define VERIFY_MEMORY_MS 5000u      /* a retransmitted SYN must come within this */
#define VERIFY_MIN_GAP_MS 200u      /* and not sooner: a duplicate is not a retry */
#define KNOWN_SOURCE_MS 60000u      /* a completed handshake vouches for its source this long */
/*
 * Flows whose RSTs the caller has yet to settle: at most its RST queue's
 * worth (hs_rst_send keeps 1024) plus one action list, so this many slots
 * never fill in practice; if they do, a flow is reset as if its RSTs had
 * gone (it may then leave with its timeout before they have).
 */
#define RESETTING_SLOTS 4096u
#define RESET_HOLD_MS 60000u        /* a flow being reset is kept at most this long */
#define MIN_SLOTS 1024u             /* the least a table uses: one set of pages for a few global groups */

struct count_entry {
	uint64_t key;               /* 0 = empty */
	uint32_t count;
	uint32_t pad;
};

struct stamp_entry {
	uint64_t key;               /* 0 = empty */
	uint64_t ms;
};

struct resetting_entry {
	uint32_t index_plus1;       /* the flow's place in the table + 1; 0 = empty */
	uint32_t id;
	uint32_t until_tick;        /* let go then, whatever happened to the RSTs */
	uint32_t pad;
};

struct bucket_entry {
	uint64_t key;
	uint64_t last_ms;
	uint64_t tokens_milli;      /* tokens x 1000 */
};

struct hs_policy_engine {
	struct hs_policy_set set;
	uint32_t max_flows;
	struct hs_policy_counters counters[HS_POLICY_MAX];
	uint8_t key[16];
	struct hs_table *table;
	struct hs_actions *actions;         /* where decisions go, for the caller to carry out */
	uint64_t now_ms;                    /* the latest time the engine was told */
	struct count_entry *counts;
	uint32_t counts_mask;               /* the part the policy set uses */
	uint32_t counts_max_mask;           /* the part reserved */
	struct stamp_entry *pending;        /* verify: 4-tuples whose first SYN was dropped */
	struct stamp_entry *known;          /* sources that completed a handshake */
	uint32_t stamp_mask;
	struct bucket_entry *buckets;
	uint32_t buckets_mask, buckets_max_mask;
	struct resetting_entry *resetting;  /* flows being reset, by table index */
	uint32_t n_resetting;
	uint64_t counts_full;               /* increments lost to a full count table */
	uint16_t generation;                /* of the policy set, bumped by every hs_policy_engine_set */
	bool has_limits, has_timed;
};

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = MIN_SLOTS;

	while (p < n && p < (1u << 26))
		p <<= 1;
	return p;
}

struct hs_policy_engine *hs_policy_engine_create(uint32_t max_flows, const uint8_t key[16])
{
	struct hs_policy_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->max_flows = max_flows;
	/* A flow counts in at most one group per limit: twice the flows keeps probes short. */
	e->counts_max_mask = pow2_at_least((uint64_t)max_flows * 2u) - 1;
	e->counts_mask = MIN_SLOTS - 1;
	e->stamp_mask = pow2_at_least(65536) - 1;
	e->buckets_max_mask = pow2_at_least(max_flows) - 1;
	e->buckets_mask = MIN_SLOTS - 1;
	e->counts = hs_bigmem_alloc((size_t)(e->counts_max_mask + 1) * sizeof(*e->counts), false);
	e->pending = hs_bigmem_alloc((size_t)(e->stamp_mask + 1) * sizeof(*e->pending), false);
	e->known = hs_bigmem_alloc((size_t)(e->stamp_mask + 1) * sizeof(*e->known), false);
	e->buckets = hs_bigmem_alloc((size_t)(e->buckets_max_mask + 1) * sizeof(*e->buckets), false);
	e->resetting = calloc(RESETTING_SLOTS, sizeof(*e->resetting));
	if (!e->counts || !e->pending || !e->known || !e->buckets || !e->resetting) {
		hs_policy_engine_destroy(e);
		return NULL;
	}
	memcpy(e->key, key, sizeof(e->key));
	return e;
}

void hs_policy_engine_destroy(struct hs_policy_engine *e)
{
	if (!e)
		return;
	hs_bigmem_free(e->counts, (size_t)(e->counts_max_mask + 1) * sizeof(*e->counts));
	hs_bigmem_free(e->pending, (size_t)(e->stamp_mask + 1) * sizeof(*e->pending));
	hs_bigmem_free(e->known, (size_t)(e->stamp_mask + 1) * sizeof(*e->known));
	hs_bigmem_free(e->buckets, (size_t)(e->buckets_max_mask + 1) * sizeof(*e->buckets));
	free(e->resetting);
	free(e);
}

const struct hs_policy_set *hs_policy_engine_policies(const struct hs_policy_engine *e)
{
	return &e->set;
}

const struct hs_policy_counters *hs_policy_engine_counters(const struct hs_policy_engine *e)
{
	return e->counters;
}

/* ---- keys ---- */

/* A non-zero 64-bit key for a policy's group of a flow. */
static uint64_t group_key(const struct hs_policy_engine *e, uint32_t policy, enum hs_policy_scope per,
			  const struct hs_flow *f, uint8_t salt)
{
	uint8_t buf[24];
	size_t n = 0;

	buf[n++] = (uint8_t)policy;
	buf[n++] = salt;
	buf[n++] = (uint8_t)per;
	buf[n++] = hs_flow_family(f);
	if (per == HS_PER_SOURCE) {
		memcpy(buf + n, hs_flow_addr(f, HS_CLIENT).bytes, 16);
		n += 16;
	} else if (per == HS_PER_DESTINATION) {
		uint16_t port = hs_flow_port(f, HS_SERVER);
		memcpy(buf + n, hs_flow_addr(f, HS_SERVER).bytes, 16);
		n += 16;
		memcpy(buf + n, &port, sizeof(port));
		n += sizeof(port);
	}
	uint64_t k = hs_siphash(e->key, buf, n);
	return k ? k : 1;
}

static uint64_t tuple_key(const struct hs_policy_engine *e, const struct hs_flow *f)
{
	struct hs_flow_key key;
	uint8_t buf[sizeof(key) + 2];

	/* The canonical key, padding zero: the same bytes whatever the record keeps. */
	memset(&key, 0, sizeof(key));
	hs_flow_key_get(f, &key);
	memcpy(buf, &key, sizeof(key));
	buf[sizeof(key)] = hs_flow_family(f);
	buf[sizeof(key) + 1] = 0x7e;
	uint64_t k = hs_siphash(e->key, buf, sizeof(buf));
	return k ? k : 1;
}

static uint64_t source_key(const struct hs_policy_engine *e, const struct hs_flow *f)
{
	uint8_t buf[18];

	memcpy(buf, hs_flow_addr(f, HS_CLIENT).bytes, 16);
	buf[16] = hs_flow_family(f);
	buf[17] = 0x5c;
	uint64_t k = hs_siphash(e->key, buf, sizeof(buf));
	return k ? k : 1;
}

/* ---- counts: linear probing with backward-shift deletion ---- */

static struct count_entry *count_find(struct hs_policy_engine *e, uint64_t key, bool insert)
{
	uint32_t i = (uint32_t)key & e->counts_mask;

	for (uint32_t n = 0; n <= e->counts_mask; n++, i = (i + 1) & e->counts_mask) {
		if (e->counts[i].key == key)
			return &e->counts[i];
		if (e->counts[i].key == 0) {
			if (!insert)
				return NULL;
			e->counts[i].key = key;
			e->counts[i].count = 0;
			return &e->counts[i];
		}
	}
	return NULL;
}

static void count_remove(struct hs_policy_engine *e, struct count_entry *slot)
{
	uint32_t hole = (uint32_t)(slot - e->counts), i = hole;

	for (;;) {
		i = (i + 1) & e->counts_mask;
		if (e->counts[i].key == 0)
			break;
		uint32_t home = (uint32_t)e->counts[i].key & e->counts_mask;
		/* Move the entry back if its home is not between the hole and it. */
		if (((i - home) & e->counts_mask) >= ((i - hole) & e->counts_mask)) {
			e->counts[hole] = e->counts[i];
			hole = i;
		}
	}
	e->counts[hole].key = 0;
	e->counts[hole].count = 0;
}

static uint32_t count_get(struct hs_policy_engine *e, uint64_t key)
{
	struct count_entry *c = count_find(e, key, false);
	return c ? c->count : 0;
}

static void count_add(struct hs_policy_engine *e, uint64_t key, int delta)
{
	struct count_entry *c = count_find(e, key, delta > 0);

	if (!c) {
		if (delta > 0)
			e->counts_full++;
		return;
	}
	if (delta > 0) {
		c->count++;
	} else if (c->count > 0 && --c->count == 0) {
		count_remove(e, c);
	}
}

/*
 * The states a flow counts with against limits.  A SYN that has passed
 * toward a server will make it SYN_RCVD as soon as the server answers, so
 * it counts as such from the moment it is admitted: counting only the
 * answered ones would let every SYN in flight through, and a flood that
 * arrives in bursts would overrun the limit by a burst.
 */
static void counting_states(const uint8_t *state, uint8_t *out)
{
	out[HS_CLIENT] = state[HS_CLIENT];
	out[HS_SERVER] = state[HS_SERVER];
	if (state[HS_CLIENT] == HS_TCP_SYN_SENT && state[HS_SERVER] == HS_TCP_LISTEN)
		out[HS_SERVER] = HS_TCP_SYN_RCVD;
}

/* Whether a flow, seen with the given states, counts against a limit policy. */
static bool counts_for(const struct hs_policy *p, const struct hs_flow *f, const uint8_t *state)
{
	struct hs_flow_v6 view;

	hs_flow_copy(&view, f);
	counting_states(state, view.flow.state);
	return hs_flow_match_flow(&p->match, &view.flow);
}

/* Adjusts every limit's count for a flow whose states went from old to new. */
static void recount(struct hs_policy_engine *e, const struct hs_flow *f, const uint8_t *old_state, bool was_counted,
		    bool is_counted)
{
	if (!e->has_limits)
		return;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (!p->has_limit)
			continue;
		bool a = was_counted && counts_for(p, f, old_state);
		bool b = is_counted && counts_for(p, f, f->state);
		if (a != b)
			count_add(e, group_key(e, i, p->limit_per, f, 0), b ? 1 : -1);
	}
}

/* ---- stamps and buckets: bounded probing, stale entries reused ---- */

static struct stamp_entry *stamp_lookup(struct stamp_entry *tab, uint32_t mask, uint64_t key, uint64_t now,
					uint64_t ttl)
{
	uint32_t i = (uint32_t)key & mask;

	for (int n = 0; n < PROBE_LIMIT; n++, i = (i + 1) & mask) {
		if (tab[i].key == key && now - tab[i].ms < ttl)
			return &tab[i];
	}
	return NULL;
}

static void stamp_put(struct stamp_entry *tab, uint32_t mask, uint64_t key, uint64_t now, uint64_t ttl)
{
	uint32_t i = (uint32_t)key & mask, victim = i;
	uint64_t oldest = UINT64_MAX;

	for (int n = 0; n < PROBE_LIMIT; n++, i = (i + 1) & mask) {
		if (tab[i].key == key || tab[i].key == 0 || now - tab[i].ms >= ttl) {
			victim = i;
			break;
		}
		if (tab[i].ms < oldest) {
			oldest = tab[i].ms;
			victim = i;
		}
	}
	tab[victim].key = key;
	tab[victim].ms = now;
}

/* Takes a token from a group's bucket; false if it is empty. */
static bool bucket_take(struct hs_policy_engine *e, const struct hs_policy *p, uint64_t key, uint64_t now)
{
	uint64_t cap = (uint64_t)(p->rate_burst ? p->rate_burst : p->rate_per_second) * 1000u;
	uint32_t i = (uint32_t)key & e->buckets_mask;
	struct bucket_entry *b = NULL, *spare = NULL;

	for (int n = 0; n < PROBE_LIMIT; n++, i = (i + 1) & e->buckets_mask) {
		struct bucket_entry *c = &e->buckets[i];
		if (c->key == key) {
			b = c;
			break;
		}
		/* A bucket that would have refilled completely is the same as none. */
		bool stale = c->key == 0 || (now - c->last_ms) * p->rate_per_second >= cap;
		if (stale && !spare)
			spare = c;
	}
	if (!b) {
		b = spare ? spare : &e->buckets[(uint32_t)key & e->buckets_mask];
		b->key = key;
		b->last_ms = now;
		b->tokens_milli = cap;
	}
	uint64_t refill = (now - b->last_ms) * p->rate_per_second;   /* ms x tokens/s = milli-tokens */
	b->tokens_milli = b->tokens_milli + refill > cap ? cap : b->tokens_milli + refill;
	b->last_ms = now;
	if (b->tokens_milli < 1000)
		return false;
	b->tokens_milli -= 1000;
	return true;
}

/* ---- flows being reset: linear probing by table index, backward-shift deletion ---- */

static uint32_t resetting_home(uint32_t index)
{
	return (index * 2654435761u) & (RESETTING_SLOTS - 1);
}

static struct resetting_entry *resetting_find(struct hs_policy_engine *e, const struct hs_flow *f)
{
	if (e->n_resetting == 0)
		return NULL;
	uint32_t index = hs_table_flow_index(e->table, f);
	for (uint32_t n = 0, i = resetting_home(index); n < RESETTING_SLOTS; n++, i = (i + 1) & (RESETTING_SLOTS - 1)) {
		struct resetting_entry *r = &e->resetting[i];
		if (r->index_plus1 == 0)
			return NULL;
		if (r->index_plus1 == index + 1)
			return r->id == f->id ? r : NULL;
	}
	return NULL;
}

/* Remembers a flow as being reset until `until_tick`; false if there is no room. */
static bool resetting_add(struct hs_policy_engine *e, const struct hs_flow *f, uint32_t until_tick)
{
	uint32_t index = hs_table_flow_index(e->table, f);

	if (e->n_resetting >= RESETTING_SLOTS / 2)
		return false;
	for (uint32_t i = resetting_home(index);; i = (i + 1) & (RESETTING_SLOTS - 1)) {
		struct resetting_entry *r = &e->resetting[i];
		if (r->index_plus1 == 0 || r->index_plus1 == index + 1) {
			e->n_resetting += r->index_plus1 == 0;
			*r = (struct resetting_entry){ index + 1, f->id, until_tick, 0 };
			return true;
		}
	}
}

static void resetting_remove(struct hs_policy_engine *e, struct resetting_entry *slot)
{
	uint32_t hole = (uint32_t)(slot - e->resetting), i = hole;

	for (;;) {
		i = (i + 1) & (RESETTING_SLOTS - 1);
		if (e->resetting[i].index_plus1 == 0)
			break;
		uint32_t home = resetting_home(e->resetting[i].index_plus1 - 1);
		if (((i - home) & (RESETTING_SLOTS - 1)) >= ((i - hole) & (RESETTING_SLOTS - 1))) {
			e->resetting[hole] = e->resetting[i];
			hole = i;
		}
	}
	e->resetting[hole].index_plus1 = 0;
	e->n_resetting--;
}

/* ---- actions ---- */

void hs_policy_engine_reset_sent(struct hs_policy_engine *e, uint16_t policy, uint16_t generation)
{
	if (generation == e->generation && policy < e->set.count)
		e->counters[policy].resets_sent++;
}

uint64_t hs_policy_engine_counts_full(const struct hs_policy_engine *e)
{
	return e->counts_full;
}

const struct hs_policy *hs_policy_engine_policy(const struct hs_policy_engine *e, uint16_t policy,
						uint16_t generation)
{
	return generation == e->generation && policy < e->set.count ? &e->set.items[policy] : NULL;
}

void hs_policy_engine_now(struct hs_policy_engine *e, uint64_t now_ms)
{
	e->now_ms = now_ms;
}

/* The "policy" event: which policy did (or would have done) what to the flow. */
static void note_policy(struct hs_policy_engine *e, uint32_t idx, const struct hs_flow *f, uint64_t now)
{
	const struct hs_policy *p = &e->set.items[idx];
	struct hs_action *a = hs_actions_event(e->actions, HS_EV_POLICY, f, now);

	if (!a)
		return;
	a->policy = (uint16_t)idx;
	a->generation = e->generation;
	a->policy_action = (uint8_t)p->action;
	a->dry_run = p->dry_run;
}

/* What became of the flow a policy acted on. */
enum fate {
	FLOW_STAYS = 0,
	FLOW_GOES,          /* refused, or reset: the caller deletes it once its RSTs are settled */
	FLOW_DEFERRED,      /* a timed reset found no room for its RSTs: the policy acts on a later tick */
};

/*
 * Asks for a reset action's RSTs.  The flow stays in the table until the
 * caller has settled them and deletes it: the engine remembers it as being
 * reset, no policy acts on it meanwhile, and the `due` hook reports it as
 * a policy's business not yet done, which keeps a flow of an open-ended
 * class past its timeout, as any pending timed policy does (at most
 * RESET_HOLD_MS).
 */
static void ask_reset(struct hs_policy_engine *e, uint32_t idx, struct hs_flow *f, uint64_t now, bool timed)
{
	/* A server still in SYN_RCVD only needs its half-open slot freed. */
	unsigned sides = HS_RST_TO_BOTH;
	if (f->state[HS_SERVER] == HS_TCP_SYN_RCVD || f->state[HS_SERVER] == HS_TCP_LISTEN)
		sides = HS_RST_TO_SERVER;
	struct hs_action *a = hs_actions_reset(e->actions, f, hs_table_flow_index(e->table, f), sides, now, timed);

	if (!a) {
		/*
		 * A list full of resets: not possible while the caller keeps
		 * reset_room at most half the list and carries it out after
		 * every packet.  The flow goes without its RSTs rather than stay.
		 */
		hs_table_delete(e->table, f);
		return;
	}
	a->policy = (uint16_t)idx;
	a->generation = e->generation;
	if (!resetting_add(e, f, hs_table_tick(e->table, now) + RESET_HOLD_MS / HS_TABLE_TICK_MS))
		f->flags |= HS_FLOW_POLICY_DONE;
}

/*
 * Carries out a policy's action on a flow as far as the core goes.
 * Returns true if the packet at hand (if any) must be dropped; *fate tells
 * what became of the flow.
 */
static bool act(struct hs_policy_engine *e, uint32_t idx, struct hs_flow *f, uint64_t now, bool timed,
		enum fate *fate)
{
	const struct hs_policy *p = &e->set.items[idx];
	struct hs_policy_counters *c = &e->counters[idx];

	*fate = FLOW_STAYS;
	if (p->action == HS_ACTION_ACCEPT)
		return false;
	if (p->action == HS_ACTION_RESET && !p->dry_run && timed && e->actions->reset_room == 0) {
		e->actions->resets_deferred++;
		*fate = FLOW_DEFERRED;
		return false;
	}
	note_policy(e, idx, f, now);
	if (p->dry_run) {
		c->dry_run++;
		return false;
	}
	c->acted++;
	switch (p->action) {
	case HS_ACTION_LOG:
	case HS_ACTION_ACCEPT:
	case HS_ACTION_VERIFY:
	case HS_ACTION_COUNT:
		return false;
	case HS_ACTION_DROP:
		if (timed) {
			/* Blocking shows both ends CLOSED: the limits must see the change. */
			uint8_t old[2] = { f->state[HS_CLIENT], f->state[HS_SERVER] };
			hs_table_block(e->table, f, now);
			recount(e, f, old, true, true);
			return true;
		}
		return true;
	case HS_ACTION_RESET:
		ask_reset(e, idx, f, now, timed);
		*fate = FLOW_GOES;
		return true;
	}
	return false;
}

/* ---- admission ---- */

/* Whether a new SYN's flow matches a policy on everything but states. */
static bool match_ignoring_states(const struct hs_policy *p, const struct hs_flow *f)
{
	struct hs_flow_match m = p->match;

	hs_flow_match_clear_states(&m);
	return hs_flow_match_flow(&m, f);
}

/*
 * verify: past the limit, a SYN passes if its source completed a handshake
 * recently or if it is the retransmission of a SYN dropped moments ago.
 */
static bool verify_passes(struct hs_policy_engine *e, uint32_t idx, const struct hs_flow *f, uint64_t now)
{
	struct hs_policy_counters *c = &e->counters[idx];

	if (stamp_lookup(e->known, e->stamp_mask, source_key(e, f), now, KNOWN_SOURCE_MS)) {
		c->verified++;
		return true;
	}
	uint64_t tk = tuple_key(e, f);
	struct stamp_entry *s = stamp_lookup(e->pending, e->stamp_mask, tk, now, VERIFY_MEMORY_MS);
	if (s && now - s->ms >= VERIFY_MIN_GAP_MS) {
		s->key = 0;
		c->verified++;
		return true;
	}
	if (!s)
		stamp_put(e->pending, e->stamp_mask, tk, now, VERIFY_MEMORY_MS);
	c->refused++;
	return false;
}

/* Returns true to drop the SYN; the flow is then removed, or goes once reset (*fate). */
static bool admit(struct hs_policy_engine *e, struct hs_flow *f, uint64_t now, enum fate *fate)
{
	*fate = FLOW_STAYS;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (hs_policy_is_timed(p))
			continue;
		if (!hs_policy_is_admission(p)) {
			/* A state-entry policy on the new flow's first states. */
			if (!hs_flow_match_flow(&p->match, f))
				continue;
			return act(e, i, f, now, false, fate);
		}
		if (!match_ignoring_states(p, f))
			continue;
		bool exceeded;
		if (p->has_limit) {
			/* The new flow is already counted in its group if it matches: leave it out. */
			uint32_t others = count_get(e, group_key(e, i, p->limit_per, f, 0));
			if (others > 0 && counts_for(p, f, f->state))
				others--;
			exceeded = others >= p->limit_max;
		}
		else
			exceeded = !bucket_take(e, p, group_key(e, i, p->rate_per, f, 1), now);
		if (!exceeded)
			continue;
		if (p->action == HS_ACTION_VERIFY) {
			/*
			 * In dry run the SYN passes either way, but verify still
			 * decides and counts (verified or refused), so that a dry
			 * run says how many SYNs it would have held back: those are
			 * the times it would have acted.
			 */
			bool passes = verify_passes(e, i, f, now);
			if (p->dry_run && !passes)
				e->counters[i].dry_run++;
			return !passes && !p->dry_run;
		}
		return act(e, i, f, now, false, fate);
	}
	return false;
}

/* State-entry policies for a flow that just changed state. */
static bool on_state(struct hs_policy_engine *e, struct hs_flow *f, uint64_t now, enum fate *fate)
{
	*fate = FLOW_STAYS;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (hs_policy_is_timed(p) || hs_policy_is_admission(p) || !hs_flow_match_flow(&p->match, f))
			continue;
		return act(e, i, f, now, false, fate);
	}
	return false;
}

/* The events of a tracked packet: "new" or "state" with the states before, then "close" if both are done. */
static void note_track(struct hs_policy_engine *e, const struct hs_track_result *res, uint64_t now)
{
	struct hs_action *a;

	if (res->events & HS_EVENT_NEW) {
		a = hs_actions_event(e->actions, HS_EV_NEW, res->flow, now);
		if (a)
			a->reopened = (res->events & HS_EVENT_RESTART) != 0;
	} else {
		a = hs_actions_event(e->actions, HS_EV_STATE, res->flow, now);
		if (a)
			memcpy(a->old_state, res->old_state, sizeof(a->old_state));
	}
	if (res->events & HS_EVENT_CLOSED)
		hs_actions_event(e->actions, HS_EV_CLOSE, res->flow, now);
}

enum hs_verdict hs_policy_engine_packet(struct hs_policy_engine *e, const struct hs_packet *pkt,
					struct hs_track_result *res, uint64_t now)
{
	struct hs_flow *f = res->flow;
	enum fate fate = FLOW_STAYS;
	bool drop = false;

	e->now_ms = now;
	if (!f || !(res->events & (HS_EVENT_NEW | HS_EVENT_STATE)))
		return HS_VERDICT_ACCEPT;

	/*
	 * Keep the limit counts in step.  A new flow was not counted before;
	 * nor was a reopened one: the table reported the old connection as
	 * removed, with its own sides and states, before reusing the record.
	 */
	bool fresh = (res->events & HS_EVENT_NEW) != 0;
	recount(e, f, res->old_state, !fresh, true);

	if (res->new_state[HS_CLIENT] == HS_TCP_ESTABLISHED && res->old_state[HS_CLIENT] != HS_TCP_ESTABLISHED &&
	    !(f->flags & HS_FLOW_PICKED_UP))
		stamp_put(e->known, e->stamp_mask, source_key(e, f), now, KNOWN_SOURCE_MS);

	/*
	 * A state change is told before the policies act on it.  A new flow is
	 * told only once they let it be: a SYN they refuse leaves no flow and
	 * no event (a flood would otherwise log one "new" per spoofed SYN and
	 * never close them).
	 */
	if (!fresh)
		note_track(e, res, now);
	bool syn = (pkt->flags & (HS_TCP_SYN | HS_TCP_ACK)) == HS_TCP_SYN;
	if (resetting_find(e, f)) {
		/* Its RSTs are on their way: no policy acts on it again. */
	} else if (e->set.count && fresh && syn) {
		drop = admit(e, f, now, &fate);
		if (drop && fate == FLOW_STAYS) {
			/* A refused SYN must not hold a place in the table. */
			hs_table_remove(e->table, f, HS_REMOVE_REFUSED);
			fate = FLOW_GOES;
		}
	} else if (e->set.count) {
		drop = on_state(e, f, now, &fate);
	}
	if (fate == FLOW_GOES)
		res->flow = NULL;
	else if (fresh)
		note_track(e, res, now);
	return drop ? HS_VERDICT_DROP : HS_VERDICT_ACCEPT;
}

/* ---- timed policies ---- */

static bool policy_due(void *ctx, const struct hs_flow *f, uint32_t *due_tick)
{
	struct hs_policy_engine *e = ctx;
	bool any = false;

	struct resetting_entry *r = resetting_find(e, f);
	if (r) {
		*due_tick = r->until_tick;
		return true;
	}
	if (!e->has_timed)
		return false;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (!hs_policy_is_timed(p) || !hs_flow_match_flow(&p->match, f))
			continue;
		uint32_t t = 0;
		if (p->match.idle_ms)
			t = f->last_seen + p->match.idle_ms / HS_TABLE_TICK_MS;
		if (p->match.state_age_ms) {
			uint32_t a = f->state_since + p->match.state_age_ms / HS_TABLE_TICK_MS;
			if (!p->match.idle_ms || (int32_t)(a - t) > 0)
				t = a;
		}
		if (!any || (int32_t)(t - *due_tick) < 0)
			*due_tick = t;
		any = true;
	}
	return any;
}

static void policy_fire(void *ctx, struct hs_flow *f, uint64_t now)
{
	struct hs_policy_engine *e = ctx;
	uint32_t tick = hs_table_tick(e->table, now);

	e->now_ms = now;
	struct resetting_entry *r = resetting_find(e, f);
	if (r) {
		/* Held for its RSTs, and they never came to an end: let the flow go its way. */
		resetting_remove(e, r);
		f->flags |= HS_FLOW_POLICY_DONE;
		return;
	}
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (!hs_policy_is_timed(p) || !hs_flow_match_flow(&p->match, f))
			continue;
		if (p->match.idle_ms && (int32_t)(tick - f->last_seen) < (int32_t)(p->match.idle_ms / HS_TABLE_TICK_MS))
			continue;
		if (p->match.state_age_ms && (int32_t)(tick - f->state_since) < (int32_t)(p->match.state_age_ms / HS_TABLE_TICK_MS))
			continue;
		enum fate fate;
		act(e, i, f, now, true, &fate);
		/*
		 * Once per state entry.  A reset that found no room for its RSTs
		 * leaves the flow due: it is looked at again on the next tick.
		 */
		if (fate == FLOW_STAYS)
			f->flags |= HS_FLOW_POLICY_DONE;
		return;
	}
}

/* The table's removal hook: limits forget the flow, and its end is told. */
static void flow_removed(void *ctx, const struct hs_flow *f, enum hs_remove_reason reason)
{
	static const int8_t events[HS_REMOVE_REASON_COUNT] = {
		[HS_REMOVE_EXPIRED] = HS_EV_EXPIRE,
		[HS_REMOVE_EVICTED] = HS_EV_EVICT,
		[HS_REMOVE_DELETED] = HS_EV_DELETE,
		[HS_REMOVE_REFUSED] = -1,     /* refused SYNs are counted, not logged one by one */
		[HS_REMOVE_REOPENED] = -1,    /* the "new" event of the next connection says "reopened" */
	};
	struct hs_policy_engine *e = ctx;

	recount(e, f, f->state, true, false);
	struct resetting_entry *r = resetting_find(e, f);
	if (r)
		resetting_remove(e, r);
	if ((unsigned)reason < HS_REMOVE_REASON_COUNT && events[reason] >= 0)
		hs_actions_event(e->actions, (enum hs_event_kind)events[reason], f, e->now_ms);
}

void hs_policy_engine_attach(struct hs_policy_engine *e, struct hs_table *table, struct hs_actions *actions)
{
	e->table = table;
	e->actions = actions;
	hs_table_set_remove_hook(table, flow_removed, e);
	hs_table_set_policy_hooks(table, policy_due, policy_fire, e);
}

struct rebuild_ctx {
	struct hs_policy_engine *e;
};

static void clear_counts(struct hs_policy_engine *e)
{
	hs_bigmem_clear(e->counts, (size_t)(e->counts_mask + 1) * sizeof(*e->counts));
}

static void clear_buckets(struct hs_policy_engine *e)
{
	hs_bigmem_clear(e->buckets, (size_t)(e->buckets_mask + 1) * sizeof(*e->buckets));
}

/*
 * How many slots of the count and bucket tables a set's policies can fill
 * (masks, within what is reserved for max_flows): a global group is one
 * entry, a per-source or per-destination group at most one per flow.
 */
static void masks_for(uint32_t max_flows, const struct hs_policy_set *set, uint32_t *counts_mask,
		      uint32_t *buckets_mask)
{
	uint64_t groups = 0, rate_groups = 0;

	for (uint32_t i = 0; i < set->count; i++) {
		const struct hs_policy *p = &set->items[i];

		if (p->has_limit)
			groups += p->limit_per == HS_PER_GLOBAL ? 1 : max_flows;
		if (p->has_rate)
			rate_groups += p->rate_per == HS_PER_GLOBAL ? 1 : max_flows;
	}
	uint32_t counts = pow2_at_least(groups * 2) - 1, buckets = pow2_at_least(rate_groups) - 1;
	uint32_t counts_max = pow2_at_least((uint64_t)max_flows * 2u) - 1, buckets_max = pow2_at_least(max_flows) - 1;

	*counts_mask = counts < counts_max ? counts : counts_max;
	*buckets_mask = buckets < buckets_max ? buckets : buckets_max;
}

/* Sizes the tables for the set in force; both are empty when this is called. */
static void size_tables(struct hs_policy_engine *e)
{
	masks_for(e->max_flows, &e->set, &e->counts_mask, &e->buckets_mask);
}

/* What a set's policies use besides its count and bucket tables' sizes. */
static void set_uses(const struct hs_policy_set *set, bool *limits, bool *rates, bool *verifies)
{
	*limits = *rates = *verifies = false;
	for (uint32_t i = 0; i < set->count; i++) {
		*limits |= set->items[i].has_limit;
		*rates |= set->items[i].has_rate;
		*verifies |= set->items[i].action == HS_ACTION_VERIFY;
	}
}

/* The bytes of an engine whose tables use these masks under a set. */
static uint64_t bytes_used(const struct hs_policy_set *set, uint32_t counts_mask, uint32_t buckets_mask)
{
	bool limits, rates, verifies;
	uint64_t bytes = sizeof(struct hs_policy_engine) + (uint64_t)RESETTING_SLOTS * sizeof(struct resetting_entry);

	set_uses(set, &limits, &rates, &verifies);
	if (limits)
		bytes += (uint64_t)(counts_mask + 1) * sizeof(struct count_entry);
	if (rates)
		bytes += (uint64_t)(buckets_mask + 1) * sizeof(struct bucket_entry);
	if (verifies)
		bytes += 2ull * pow2_at_least(65536) * sizeof(struct stamp_entry);
	return bytes;
}

uint64_t hs_policy_engine_memory(const struct hs_policy_engine *e)
{
	return bytes_used(&e->set, e->counts_mask, e->buckets_mask);
}

uint64_t hs_policy_engine_bytes_at_most(uint32_t max_flows, const struct hs_policy_set *set)
{
	uint32_t counts_mask, buckets_mask;

	masks_for(max_flows, set, &counts_mask, &buckets_mask);
	return bytes_used(set, counts_mask, buckets_mask);
}

static bool rebuild_one(void *ctx, const struct hs_flow *f)
{
	struct rebuild_ctx *rc = ctx;

	recount(rc->e, f, f->state, false, true);
	return true;
}

void hs_policy_engine_set(struct hs_policy_engine *e, const struct hs_policy_set *set, uint64_t now_ms)
{
	struct hs_policy_counters old[HS_POLICY_MAX];
	struct hs_policy_set previous = e->set;

	e->now_ms = now_ms;
	e->generation++;
	memcpy(old, e->counters, sizeof(old));
	memset(e->counters, 0, sizeof(e->counters));
	for (uint32_t i = 0; i < set->count; i++)
		for (uint32_t j = 0; j < previous.count; j++)
			if (strcmp(set->items[i].name, previous.items[j].name) == 0)
				e->counters[i] = old[j];
	e->set = *set;
	e->has_limits = e->has_timed = false;
	for (uint32_t i = 0; i < set->count; i++) {
		e->has_limits |= set->items[i].has_limit;
		e->has_timed |= hs_policy_is_timed(&set->items[i]);
	}
	/* The old set's entries lie in the part it used: clearing that clears all. */
	clear_counts(e);
	clear_buckets(e);
	size_tables(e);
	if (e->table && e->has_limits) {
		struct rebuild_ctx rc = { e };
		hs_table_foreach(e->table, rebuild_one, &rc);
	}
	/* Flows already tracked must learn of new timed policies now, not at their timeout. */
	if (e->table && (e->has_timed || previous.count))
		hs_table_rewake_all(e->table);
}

/* ---- memory carried across a restart (hs_snapshot.h) ---- */

/*
 * The verify memory and the buckets are keyed by SipHash under the
 * engine's key, which cannot be undone: a snapshot carries the key with
 * the entries, and the engine that loads them adopts it.
 */
void hs_policy_engine_key(const struct hs_policy_engine *e, uint8_t key[16])
{
	memcpy(key, e->key, sizeof(e->key));
}

void hs_policy_engine_adopt_key(struct hs_policy_engine *e, const uint8_t key[16])
{
	memcpy(e->key, key, sizeof(e->key));
	hs_bigmem_clear(e->pending, (size_t)(e->stamp_mask + 1) * sizeof(*e->pending));
	hs_bigmem_clear(e->known, (size_t)(e->stamp_mask + 1) * sizeof(*e->known));
	clear_buckets(e);
}

/*
 * Buckets are keyed by their policy's place in the set and hold tokens at
 * its rate: they mean the same only under the same rate policies.
 */
uint64_t hs_policy_engine_rates_fingerprint(const struct hs_policy_engine *e)
{
	static const uint8_t zero_key[16];
	uint64_t h = 0;

	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];
		uint8_t buf[HS_POLICY_NAME_MAX + 24];

		if (!p->has_rate)
			continue;
		memset(buf, 0, sizeof(buf));
		memcpy(buf, p->name, HS_POLICY_NAME_MAX);
		memcpy(buf + HS_POLICY_NAME_MAX, &i, 4);
		memcpy(buf + HS_POLICY_NAME_MAX + 4, &p->rate_per_second, 4);
		memcpy(buf + HS_POLICY_NAME_MAX + 8, &p->rate_burst, 4);
		memcpy(buf + HS_POLICY_NAME_MAX + 12, &p->rate_per, sizeof(p->rate_per) < 4 ? sizeof(p->rate_per) : 4);
		memcpy(buf + HS_POLICY_NAME_MAX + 16, &h, 8);
		h = hs_siphash(zero_key, buf, sizeof(buf));
	}
	return h;
}

/* Entries of each kind, one after the other, as one cursor space. */
static uint32_t memory_span(const struct hs_policy_engine *e)
{
	return 2 * (e->stamp_mask + 1) + e->buckets_mask + 1;
}

static bool memory_entry_at(const struct hs_policy_engine *e, uint32_t pos, uint64_t now,
			    struct hs_engine_memory_entry *out)
{
	uint32_t stamps = e->stamp_mask + 1;

	memset(out, 0, sizeof(*out));
	if (pos < 2 * stamps) {
		const struct stamp_entry *s = pos < stamps ? &e->pending[pos] : &e->known[pos - stamps];
		uint64_t ttl = pos < stamps ? VERIFY_MEMORY_MS : KNOWN_SOURCE_MS;

		if (s->key == 0 || now - s->ms >= ttl)
			return false;
		out->kind = pos < stamps ? HS_MEMORY_PENDING : HS_MEMORY_KNOWN;
		out->key = s->key;
		out->age_ms = now - s->ms;
		return true;
	}
	const struct bucket_entry *b = &e->buckets[pos - 2 * stamps];
	if (b->key == 0 || now - b->last_ms >= HS_MEMORY_BUCKET_MAX_AGE_MS)
		return false;
	out->kind = HS_MEMORY_BUCKET;
	out->key = b->key;
	out->age_ms = now - b->last_ms;
	out->tokens_milli = b->tokens_milli;
	return true;
}

bool hs_policy_engine_memory_walk(const struct hs_policy_engine *e, uint32_t *cursor, uint32_t chunk,
				  uint64_t now_ms, hs_engine_memory_fn fn, void *ctx)
{
	uint32_t span = memory_span(e), pos = *cursor;
	uint32_t end = span - pos > chunk ? pos + chunk : span;
	struct hs_engine_memory_entry entry;

	for (; pos < end; pos++)
		if (memory_entry_at(e, pos, now_ms, &entry))
			fn(ctx, &entry);
	*cursor = pos;
	return pos < span;
}

void hs_policy_engine_memory_put(struct hs_policy_engine *e, const struct hs_engine_memory_entry *entry,
				 uint64_t now_ms)
{
	uint64_t at = now_ms - entry->age_ms;

	switch (entry->kind) {
	case HS_MEMORY_PENDING:
		if (entry->age_ms < VERIFY_MEMORY_MS)
			stamp_put(e->pending, e->stamp_mask, entry->key, at, VERIFY_MEMORY_MS);
		break;
	case HS_MEMORY_KNOWN:
		if (entry->age_ms < KNOWN_SOURCE_MS)
			stamp_put(e->known, e->stamp_mask, entry->key, at, KNOWN_SOURCE_MS);
		break;
	case HS_MEMORY_BUCKET: {
		uint32_t i = (uint32_t)entry->key & e->buckets_mask;

		/* A bucket that finds no free slot within the probe is as good as full: leave it. */
		for (int n = 0; n < PROBE_LIMIT; n++, i = (i + 1) & e->buckets_mask) {
			struct bucket_entry *b = &e->buckets[i];
			if (b->key == 0 || b->key == entry->key) {
				*b = (struct bucket_entry){ entry->key, at, entry->tokens_milli };
				break;
			}
		}
		break;
	}
	}
}

void hs_policy_engine_flow_restored(struct hs_policy_engine *e, const struct hs_flow *f)
{
	recount(e, f, f->state, false, true);
}

void hs_policy_engine_restored(struct hs_policy_engine *e)
{
	clear_counts(e);
	if (e->table && e->has_limits) {
		struct rebuild_ctx rc = { e };
		hs_table_foreach(e->table, rebuild_one, &rc);
	}
	if (e->table && e->has_timed)
		hs_table_rewake_all(e->table);
}
