/*
 * restore_pool: flows restored from a snapshot of another set of queues,
 * claimed by the worker that sees their first packet (see
 * hs_restore_pool.h).
 *
 * The pool is a chained hash over a fixed array of entries, filled once
 * before the workers start and only emptied afterwards: a claimed entry is
 * unlinked and its record left unused, so nothing is allocated after the
 * load.  Locking: a worker calls in with its own lock held and takes the
 * pool's lock inside it; the main thread takes the pool's lock alone (to
 * expire or save the pool) and never a worker's lock while holding it, so
 * the two locks are always taken in one order.  The worker's test of
 * `waiting` without the lock is only a shortcut: under the lock the pool
 * is looked at again, so a pool emptied meanwhile is merely not found.
 */
#include "hs_restore_pool.h"

#include <stdlib.h>
#include <string.h>

#include "hs_siphash.h"

static uint32_t pool_hash(const struct hs_restore_pool *p, const struct hs_flow_key *key, uint8_t family)
{
	uint8_t buf[sizeof(*key) + 1];

	/* Keys hash as bytes: a key's padding is zero wherever it was built. */
	memcpy(buf, key, sizeof(*key));
	buf[sizeof(*key)] = family;
	return (uint32_t)hs_siphash(p->key, buf, sizeof(buf)) & p->bucket_mask;
}

bool hs_restore_pool_init(struct hs_restore_pool *p, uint32_t capacity, const uint8_t key[16], uint64_t loaded_ms,
			  uint64_t forget_ms)
{
	uint32_t nbuckets = 16;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&p->waiting, 0);
	while (nbuckets < capacity && nbuckets < (1u << 31))
		nbuckets <<= 1;
	p->entries = calloc(capacity ? capacity : 1, sizeof(*p->entries));
	p->buckets = calloc(nbuckets, sizeof(*p->buckets));
	p->capacity = capacity;
	p->bucket_mask = nbuckets - 1;
	memcpy(p->key, key, sizeof(p->key));
	p->loaded_ms = loaded_ms;
	p->forget_ms = forget_ms;
	if (!p->entries || !p->buckets) {
		hs_restore_pool_free(p);
		return false;
	}
	return true;
}

/* Releases the entries (the lock held, or no other thread running). */
static void drop_entries(struct hs_restore_pool *p)
{
	free(p->entries);
	free(p->buckets);
	p->entries = NULL;
	p->buckets = NULL;
	p->capacity = p->used = 0;
	p->bucket_mask = 0;
	atomic_store(&p->waiting, 0);
}

void hs_restore_pool_free(struct hs_restore_pool *p)
{
	drop_entries(p);
	pthread_mutex_destroy(&p->lock);
}

/* The link that points at the entry of key (the bucket head or an entry's next), or NULL. */
static uint32_t *find_link(struct hs_restore_pool *p, const struct hs_flow_key *key, uint8_t family)
{
	uint32_t *link = &p->buckets[pool_hash(p, key, family)];

	while (*link) {
		struct hs_restore_pool_entry *e = &p->entries[*link - 1];
		if ((e->image.flow.flags & HS_FLOW_IN_USE) && hs_flow_has_key(&e->image.flow, key, family))
			return link;
		link = &e->next;
	}
	return NULL;
}

bool hs_restore_pool_add(struct hs_restore_pool *p, const struct hs_flow *image, const struct hs_flow_ages *ages)
{
	struct hs_flow_key key;
	uint8_t family = hs_flow_family(image);

	memset(&key, 0, sizeof(key));
	hs_flow_key_get(image, &key);
	pthread_mutex_lock(&p->lock);
	bool ok = p->used < p->capacity && (image->flags & HS_FLOW_IN_USE) && !find_link(p, &key, family);
	if (ok) {
		struct hs_restore_pool_entry *e = &p->entries[p->used++];
		uint32_t *head = &p->buckets[pool_hash(p, &key, family)];

		hs_flow_copy(&e->image, image);
		e->ages = *ages;
		e->next = *head;
		*head = p->used;
		atomic_fetch_add(&p->waiting, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static uint32_t add_ticks(uint32_t a, uint64_t b)
{
	return b >= UINT32_MAX - a ? UINT32_MAX : a + (uint32_t)b;
}

/* The entry's ages at now_ms: the time it waited in the pool is part of them. */
static struct hs_flow_ages ages_at(const struct hs_restore_pool *p, const struct hs_restore_pool_entry *e,
				   uint64_t now_ms)
{
	uint64_t waited = now_ms > p->loaded_ms ? (now_ms - p->loaded_ms) / HS_TABLE_TICK_MS : 0;

	return (struct hs_flow_ages){ add_ticks(e->ages.age_ticks, waited), add_ticks(e->ages.idle_ticks, waited),
				      add_ticks(e->ages.state_ticks, waited) };
}

bool hs_restore_pool_take(struct hs_restore_pool *p, const struct hs_flow_key *key, uint8_t family,
			  uint64_t now_ms, struct hs_flow_v6 *image, struct hs_flow_ages *ages)
{
	if (atomic_load_explicit(&p->waiting, memory_order_relaxed) == 0)
		return false;
	pthread_mutex_lock(&p->lock);
	uint32_t *link = p->entries ? find_link(p, key, family) : NULL;
	if (link) {
		struct hs_restore_pool_entry *e = &p->entries[*link - 1];

		*image = e->image;
		*ages = ages_at(p, e, now_ms);
		*link = e->next;
		e->image.flow.flags = 0;    /* taken: no walk or lookup sees it again */
		atomic_fetch_sub(&p->waiting, 1);
	}
	pthread_mutex_unlock(&p->lock);
	return link != NULL;
}

static void count(struct hs_restore_pool *p, uint64_t *counter)
{
	pthread_mutex_lock(&p->lock);
	(*counter)++;
	pthread_mutex_unlock(&p->lock);
}

bool hs_restore_pool_claim(struct hs_restore_pool *p, struct hs_table *t, struct hs_policy_engine *engine,
			   const struct hs_flow_key *key, uint8_t family, uint64_t now_ms)
{
	struct hs_flow_v6 image;
	struct hs_flow_ages ages;

	if (!hs_restore_pool_take(p, key, family, now_ms, &image, &ages))
		return false;
	if (hs_table_restore_flow(t, &image.flow, &ages, now_ms, true) != HS_RESTORE_OK) {
		count(p, &p->no_room);
		return false;
	}
	struct hs_flow *f = hs_table_lookup(t, key);
	if (engine)
		hs_policy_engine_flow_restored(engine, f);
	/*
	 * Its timeout passed while it waited (a TIME_WAIT's 60 s, say): it
	 * leaves as any expired flow does, and the packet starts afresh.
	 */
	if ((int32_t)(hs_table_tick(t, now_ms) - hs_flow_deadline_tick(t, f)) >= 0) {
		hs_table_remove(t, f, HS_REMOVE_EXPIRED);
		count(p, &p->expired);
		return false;
	}
	count(p, &p->claimed);
	return true;
}

uint64_t hs_restore_pool_expire(struct hs_restore_pool *p, uint64_t now_ms)
{
	uint64_t dropped = 0;

	if (now_ms < p->forget_ms)
		return 0;
	pthread_mutex_lock(&p->lock);
	dropped = atomic_load(&p->waiting);
	p->forgotten += dropped;
	p->forget_ms = UINT64_MAX;
	drop_entries(p);
	pthread_mutex_unlock(&p->lock);
	return dropped;
}

bool hs_restore_pool_walk(struct hs_restore_pool *p, uint32_t *cursor, uint32_t chunk, uint64_t now_ms,
			  hs_restore_pool_fn fn, void *ctx)
{
	pthread_mutex_lock(&p->lock);
	uint32_t pos = *cursor < p->used ? *cursor : p->used;
	uint32_t end = p->used - pos > chunk ? pos + chunk : p->used;

	for (; pos < end; pos++) {
		const struct hs_restore_pool_entry *e = &p->entries[pos];
		if (e->image.flow.flags & HS_FLOW_IN_USE) {
			struct hs_flow_ages ages = ages_at(p, e, now_ms);
			fn(ctx, &e->image.flow, &ages);
		}
	}
	bool more = pos < p->used;
	pthread_mutex_unlock(&p->lock);
	*cursor = pos;
	return more;
}

void hs_restore_pool_stats(struct hs_restore_pool *p, struct hs_restore_pool_stats *out)
{
	pthread_mutex_lock(&p->lock);
	out->waiting = atomic_load(&p->waiting);
	out->claimed = p->claimed;
	out->expired = p->expired;
	out->no_room = p->no_room;
	out->forgotten = p->forgotten;
	pthread_mutex_unlock(&p->lock);
}
