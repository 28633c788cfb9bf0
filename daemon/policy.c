/*
 * policy: the policy engine (see hs_policy_engine.h).
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
 */
#include "hs_policy_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "hs_rst_send.h"
#include "hs_siphash.h"

#define PROBE_LIMIT 16
#define VERIFY_MEMORY_MS 5000u      /* a retransmitted SYN must come within this */
#define VERIFY_MIN_GAP_MS 200u      /* and not sooner: a duplicate is not a retry */
#define KNOWN_SOURCE_MS 60000u      /* a completed handshake vouches for its source this long */

struct count_entry {
	uint64_t key;               /* 0 = empty */
	uint32_t count;
	uint32_t pad;
};

struct stamp_entry {
	uint64_t key;               /* 0 = empty */
	uint64_t ms;
};

struct bucket_entry {
	uint64_t key;
	uint64_t last_ms;
	uint64_t tokens_milli;      /* tokens x 1000 */
};

struct hs_policy_engine {
	struct hs_policy_set set;
	struct hs_policy_counters counters[HS_POLICY_MAX];
	uint8_t key[16];
	struct hs_table *table;
	struct hs_rst_sender *rst;
	struct hs_events *events;
	struct count_entry *counts;
	uint32_t counts_mask;
	struct stamp_entry *pending;        /* verify: 4-tuples whose first SYN was dropped */
	struct stamp_entry *known;          /* sources that completed a handshake */
	uint32_t stamp_mask;
	struct bucket_entry *buckets;
	uint32_t buckets_mask;
	uint64_t counts_full;               /* increments lost to a full count table */
	uint16_t generation;                /* of the policy set, bumped by every hs_policy_engine_set */
	bool has_limits, has_timed;
};

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1024;

	while (p < n && p < (1u << 26))
		p <<= 1;
	return p;
}

struct hs_policy_engine *hs_policy_engine_create(uint32_t max_flows)
{
	struct hs_policy_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	uint32_t n = pow2_at_least(max_flows * 2u);
	e->counts_mask = n - 1;
	e->stamp_mask = pow2_at_least(65536) - 1;
	e->buckets_mask = pow2_at_least(max_flows) - 1;
	e->counts = calloc(n, sizeof(*e->counts));
	e->pending = calloc(e->stamp_mask + 1, sizeof(*e->pending));
	e->known = calloc(e->stamp_mask + 1, sizeof(*e->known));
	e->buckets = calloc(e->buckets_mask + 1, sizeof(*e->buckets));
	if (!e->counts || !e->pending || !e->known || !e->buckets ||
	    getrandom(e->key, sizeof(e->key), 0) != (ssize_t)sizeof(e->key)) {
		hs_policy_engine_destroy(e);
		return NULL;
	}
	return e;
}

void hs_policy_engine_destroy(struct hs_policy_engine *e)
{
	if (!e)
		return;
	free(e->counts);
	free(e->pending);
	free(e->known);
	free(e->buckets);
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
	buf[n++] = f->family;
	if (per == HS_PER_SOURCE) {
		memcpy(buf + n, hs_flow_addr(f, HS_CLIENT)->bytes, 16);
		n += 16;
	} else if (per == HS_PER_DESTINATION) {
		uint16_t port = hs_flow_port(f, HS_SERVER);
		memcpy(buf + n, hs_flow_addr(f, HS_SERVER)->bytes, 16);
		n += 16;
		memcpy(buf + n, &port, sizeof(port));
		n += sizeof(port);
	}
	uint64_t k = hs_siphash(e->key, buf, n);
	return k ? k : 1;
}

static uint64_t tuple_key(const struct hs_policy_engine *e, const struct hs_flow *f)
{
	uint8_t buf[sizeof(f->key) + 2];

	memcpy(buf, &f->key, sizeof(f->key));
	buf[sizeof(f->key)] = f->family;
	buf[sizeof(f->key) + 1] = 0x7e;
	uint64_t k = hs_siphash(e->key, buf, sizeof(buf));
	return k ? k : 1;
}

static uint64_t source_key(const struct hs_policy_engine *e, const struct hs_flow *f)
{
	uint8_t buf[18];

	memcpy(buf, hs_flow_addr(f, HS_CLIENT)->bytes, 16);
	buf[16] = f->family;
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
	struct hs_flow view = *f;

	counting_states(state, view.state);
	return hs_policy_match_flow(&p->match, &view);
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

void hs_policy_engine_flow_removed(struct hs_policy_engine *e, const struct hs_flow *f)
{
	recount(e, f, f->state, true, false);
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

/* ---- actions ---- */

static void emit(struct hs_policy_engine *e, const struct hs_policy *p, const char *what, const struct hs_flow *f,
		 uint64_t now)
{
	char detail[HS_POLICY_NAME_MAX + 64];

	if (!e->events || e->events->fd < 0)
		return;
	snprintf(detail, sizeof(detail), "%s: %s%s", p->name, what, p->dry_run ? " (dry run)" : "");
	hs_events_flow(e->events, "policy", e->table, f, now, NULL, detail);
}

void hs_policy_engine_reset_sent(struct hs_policy_engine *e, uint16_t policy, uint16_t generation)
{
	if (generation == e->generation && policy < e->set.count)
		e->counters[policy].resets_sent++;
}

uint64_t hs_policy_engine_counts_full(const struct hs_policy_engine *e)
{
	return e->counts_full;
}

/* Whether a policy's action needs room for RSTs that may have to wait. */
static bool needs_rst_room(const struct hs_policy_engine *e, const struct hs_policy *p)
{
	return p->action == HS_ACTION_RESET && !p->dry_run && e->rst && hs_rst_room(e->rst) < 2;
}

/*
 * Sends a reset action's RSTs.  Returns true if the flow can go now, false
 * if some wait for the kernel: the flow then stays (marked done for timed
 * policies) until the worker settles its last RST and deletes it.
 */
static bool send_resets(struct hs_policy_engine *e, uint32_t idx, struct hs_flow *f, uint64_t now)
{
	/* A server still in SYN_RCVD only needs its half-open slot freed. */
	unsigned sides = HS_RST_TO_BOTH;
	if (f->state[HS_SERVER] == HS_TCP_SYN_RCVD || f->state[HS_SERVER] == HS_TCP_LISTEN)
		sides = HS_RST_TO_SERVER;
	if (!e->rst)
		return true;
	struct hs_rst_tag tag = { hs_table_flow_index(e->table, f), f->id, (uint16_t)idx, e->generation };
	struct hs_rst_result r = hs_rst_send_flow(e->rst, f, sides, &tag, now);
	e->counters[idx].resets_sent += r.sent;
	if (!r.queued)
		return true;
	f->flags |= HS_FLOW_POLICY_DONE;
	return false;
}

/*
 * Carries out a policy's action on a flow.  Returns true if the packet at
 * hand (if any) must be dropped; *deleted tells whether the flow is gone,
 * or (for a reset whose RSTs wait for the kernel) will go by itself.
 */
static bool act(struct hs_policy_engine *e, uint32_t idx, struct hs_flow *f, uint64_t now, bool timed,
		bool *deleted)
{
	const struct hs_policy *p = &e->set.items[idx];
	struct hs_policy_counters *c = &e->counters[idx];

	*deleted = false;
	if (p->action == HS_ACTION_ACCEPT)
		return false;
	emit(e, p, hs_policy_action_name(p->action), f, now);
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
		if (send_resets(e, idx, f, now))
			hs_table_delete(e->table, f);
		*deleted = true;
		return true;
	}
	return false;
}

/* ---- admission ---- */

/* Whether a new SYN's flow matches a policy on everything but states. */
static bool match_ignoring_states(const struct hs_policy *p, const struct hs_flow *f)
{
	struct hs_policy_match m = p->match;

	hs_policy_match_clear_states(&m);
	return hs_policy_match_flow(&m, f);
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

/* Returns true to drop the SYN; the flow is deleted then. */
static bool admit(struct hs_policy_engine *e, struct hs_flow *f, uint64_t now, bool *deleted)
{
	*deleted = false;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (hs_policy_is_timed(p))
			continue;
		if (!hs_policy_is_admission(p)) {
			/* A state-entry policy on the new flow's first states. */
			if (!hs_policy_match_flow(&p->match, f))
				continue;
			return act(e, i, f, now, false, deleted);
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
			if (p->dry_run) {
				e->counters[i].dry_run++;
				return false;
			}
			if (verify_passes(e, i, f, now))
				return false;
			return true;
		}
		return act(e, i, f, now, false, deleted);
	}
	return false;
}

/* State-entry policies for a flow that just changed state. */
static bool on_state(struct hs_policy_engine *e, struct hs_flow *f, uint64_t now, bool *deleted)
{
	*deleted = false;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (hs_policy_is_timed(p) || hs_policy_is_admission(p) || !hs_policy_match_flow(&p->match, f))
			continue;
		return act(e, i, f, now, false, deleted);
	}
	return false;
}

bool hs_policy_engine_packet(struct hs_policy_engine *e, const struct hs_packet *pkt, struct hs_track_result *res,
			     uint64_t now)
{
	struct hs_flow *f = res->flow;
	bool drop = false, deleted = false;

	if (!f || !(res->events & (HS_EVENT_NEW | HS_EVENT_STATE)))
		return false;

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

	if (e->set.count == 0)
		return false;
	bool syn = (pkt->flags & (HS_TCP_SYN | HS_TCP_ACK)) == HS_TCP_SYN;
	if ((res->events & HS_EVENT_NEW) && syn) {
		drop = admit(e, f, now, &deleted);
		if (drop && !deleted) {
			/* A refused SYN must not hold a place in the table. */
			hs_table_remove(e->table, f, HS_REMOVE_REFUSED);
			deleted = true;
		}
	} else {
		drop = on_state(e, f, now, &deleted);
	}
	if (deleted)
		res->flow = NULL;
	return drop;
}

/* ---- timed policies ---- */

static bool policy_due(void *ctx, const struct hs_flow *f, uint32_t *due_tick)
{
	struct hs_policy_engine *e = ctx;
	bool any = false;

	if (!e->has_timed)
		return false;
	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (!hs_policy_is_timed(p) || !hs_policy_match_flow(&p->match, f))
			continue;
		uint32_t t = 0;
		if (p->match.idle_ms)
			t = f->last_seen + p->match.idle_ms / HS_TABLE_TICK_MS;
		if (p->match.age_ms) {
			uint32_t a = f->state_since + p->match.age_ms / HS_TABLE_TICK_MS;
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

	for (uint32_t i = 0; i < e->set.count; i++) {
		const struct hs_policy *p = &e->set.items[i];

		if (!hs_policy_is_timed(p) || !hs_policy_match_flow(&p->match, f))
			continue;
		if (p->match.idle_ms && (int32_t)(tick - f->last_seen) < (int32_t)(p->match.idle_ms / HS_TABLE_TICK_MS))
			continue;
		if (p->match.age_ms && (int32_t)(tick - f->state_since) < (int32_t)(p->match.age_ms / HS_TABLE_TICK_MS))
			continue;
		/*
		 * Without room for its RSTs to wait, a reset waits itself: the
		 * flow stays due and is looked at again on the next tick.
		 */
		if (needs_rst_room(e, p))
			return;
		bool deleted;
		act(e, i, f, now, true, &deleted);
		if (!deleted)
			f->flags |= HS_FLOW_POLICY_DONE;   /* once per state entry */
		return;
	}
}

void hs_policy_engine_attach(struct hs_policy_engine *e, struct hs_table *table, struct hs_rst_sender *rst,
			     struct hs_events *events)
{
	e->table = table;
	e->rst = rst;
	e->events = events;
	hs_table_set_policy_hooks(table, policy_due, policy_fire, e);
}

struct rebuild_ctx {
	struct hs_policy_engine *e;
};

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

	(void)now_ms;
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
	memset(e->counts, 0, (size_t)(e->counts_mask + 1) * sizeof(*e->counts));
	memset(e->buckets, 0, (size_t)(e->buckets_mask + 1) * sizeof(*e->buckets));
	if (e->table && e->has_limits) {
		struct rebuild_ctx rc = { e };
		hs_table_foreach(e->table, rebuild_one, &rc);
	}
	/* Flows already tracked must learn of new timed policies now, not at their timeout. */
	if (e->table && (e->has_timed || previous.count))
		hs_table_rewake_all(e->table);
}
