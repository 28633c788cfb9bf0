/*
 * watch_ring: a single-producer, single-consumer ring of event records
 * (see hs_watch_ring.h).  The producer publishes a record by storing the
 * tail with release order after writing it; the consumer reads the tail
 * with acquire order before reading the record, and frees the slot by
 * storing the head, with release order, after it has copied it out.
 */
#include "hs_watch_ring.h"

#include <string.h>
#include <sys/mman.h>

struct hs_watch_ring *hs_watch_ring_new(void)
{
	void *p = mmap(NULL, sizeof(struct hs_watch_ring), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	struct hs_watch_ring *r = p;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->dropped, 0);
	return r;
}

void hs_watch_ring_free(struct hs_watch_ring *r)
{
	if (r)
		munmap(r, sizeof(*r));
}

void hs_watch_ring_push(struct hs_watch_ring *r, const struct hs_event *e)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (tail - head == HS_WATCH_RING_SIZE) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return;
	}
	memcpy(&r->events[tail & (HS_WATCH_RING_SIZE - 1)], e, sizeof(*e));
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

bool hs_watch_ring_pop(struct hs_watch_ring *r, struct hs_event *out)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (head == tail)
		return false;
	memcpy(out, &r->events[head & (HS_WATCH_RING_SIZE - 1)], sizeof(*out));
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return true;
}
