/*
 * watch: the watchers of the control socket and the events they are sent
 * (see hs_watch.h).  Everything here runs on the main thread; the workers
 * only push into their rings.
 */
#include "hs_watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_log.h"
#include "hs_watch_ring.h"

/* Events taken from one ring per drain, so that a flood cannot hold the main loop. */
#define DRAIN_MAX 4096u

struct watcher {
	struct hs_watch *hub;
	struct watcher *next;
	struct hs_reply *reply;
	struct hs_flow_match match;
	uint64_t lost_unreported;   /* events lost since the watcher was last told */
};

struct hs_watch {
	struct hs_worker *const *workers;
	uint32_t nworkers;
	struct hs_watch_ring **rings;   /* one per worker while someone watches, else NULL */
	uint64_t *dropped_seen;         /* each ring's dropped count at the last drain */
	struct watcher *watchers;
	struct hs_watch_stats stats;
	uint64_t dropped_before;        /* of rings freed since */
};

struct hs_watch *hs_watch_new(struct hs_worker *const *workers, uint32_t nworkers)
{
	struct hs_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->workers = workers;
	w->nworkers = nworkers;
	w->rings = calloc(nworkers ? nworkers : 1, sizeof(*w->rings));
	w->dropped_seen = calloc(nworkers ? nworkers : 1, sizeof(*w->dropped_seen));
	if (!w->rings || !w->dropped_seen) {
		hs_watch_free(w);
		return NULL;
	}
	return w;
}

/* The workers stop handing over events (under their locks), then the rings go. */
static void stop_rings(struct hs_watch *w)
{
	for (uint32_t i = 0; i < w->nworkers; i++) {
		if (!w->rings[i])
			continue;
		hs_worker_watch(w->workers[i], NULL);
		w->dropped_before += atomic_load_explicit(&w->rings[i]->dropped, memory_order_relaxed);
		hs_watch_ring_free(w->rings[i]);
		w->rings[i] = NULL;
		w->dropped_seen[i] = 0;
	}
}

static bool start_rings(struct hs_watch *w)
{
	for (uint32_t i = 0; i < w->nworkers; i++) {
		w->rings[i] = hs_watch_ring_new();
		if (!w->rings[i]) {
			stop_rings(w);
			return false;
		}
	}
	for (uint32_t i = 0; i < w->nworkers; i++)
		hs_worker_watch(w->workers[i], w->rings[i]);
	return true;
}

void hs_watch_free(struct hs_watch *w)
{
	if (!w)
		return;
	if (w->rings)
		stop_rings(w);
	/* Watchers left (their sources not yet released) are forgotten; the control socket frees them. */
	for (struct watcher *x = w->watchers; x; x = x->next)
		x->hub = NULL;
	free(w->rings);
	free(w->dropped_seen);
	free(w);
}

bool hs_watch_active(const struct hs_watch *w)
{
	return w && w->watchers;
}

/* ---- a watcher: a source of the control socket ---- */

/* Tells the watcher what it lost, once it has room to hear it; then waits for events. */
static enum hs_source_step watcher_step(void *state, struct hs_reply *reply)
{
	struct watcher *x = state;

	if (x->lost_unreported && hs_reply_pending(reply) < HS_WATCH_BUFFER_MAX) {
		hs_reply_printf(reply, "{\"event\":\"lost\",\"count\":%" PRIu64 "}\n", x->lost_unreported);
		x->lost_unreported = 0;
	}
	return HS_SOURCE_WAIT;
}

static void watcher_release(void *state)
{
	struct watcher *x = state;
	struct hs_watch *w = x->hub;

	if (w) {
		for (struct watcher **p = &w->watchers; *p; p = &(*p)->next) {
			if (*p == x) {
				*p = x->next;
				break;
			}
		}
		w->stats.watchers--;
		if (!w->watchers)
			stop_rings(w);
	}
	free(x);
}

/* A watcher that stops reading stays: it loses events instead, and is told. */
static const struct hs_reply_source watcher_source = { watcher_step, watcher_release, true };

void hs_watch_start(struct hs_watch *w, struct hs_reply *reply, const struct hs_ctl_request *req)
{
	struct watcher *x = calloc(1, sizeof(*x));

	if (!x || (!w->watchers && !start_rings(w))) {
		free(x);
		hs_reply_printf(reply, "error: watch: out of memory\n");
		return;
	}
	x->hub = w;
	x->reply = reply;
	x->match = req->match;
	x->next = w->watchers;
	w->watchers = x;
	w->stats.watchers++;
	log_info("control: a client watches events (%u watching)", w->stats.watchers);
	hs_reply_printf(reply, "ok\n");
	hs_reply_stream(reply, &watcher_source, x);
}

/* ---- draining ---- */

static bool selects(const struct watcher *x, const struct hs_event *e)
{
	return hs_flow_match_flow(&x->match, &e->flow.flow) &&
	       hs_flow_match_times(&x->match, e->flow.age_ms, e->flow.idle_ms, e->flow.state_age_ms);
}

/* Hands one event to every watcher it concerns, formatting it once, at the first. */
static bool deliver(struct hs_watch *w, const struct hs_event *e)
{
	char line[HS_EVENT_JSON_MAX];
	size_t len = 0;
	bool formatted = false, any = false;

	for (struct watcher *x = w->watchers; x; x = x->next) {
		if (!selects(x, e))
			continue;
		if (!formatted) {
			len = hs_event_json(line, sizeof(line), e);
			formatted = true;
		}
		if (len == 0 || hs_reply_failed(x->reply) || hs_reply_pending(x->reply) + len > HS_WATCH_BUFFER_MAX) {
			x->lost_unreported++;
			w->stats.lost++;
			any = true;
			continue;
		}
		hs_reply_put(x->reply, line, len);
		w->stats.delivered++;
		any = true;
	}
	return any;
}

bool hs_watch_drain(struct hs_watch *w)
{
	static struct hs_event e;   /* large; the main thread's only */
	bool any = false;

	if (!w || !w->watchers)
		return false;
	for (uint32_t i = 0; i < w->nworkers; i++) {
		struct hs_watch_ring *r = w->rings[i];
		if (!r)
			continue;
		for (uint32_t n = 0; n < DRAIN_MAX && hs_watch_ring_pop(r, &e); n++)
			any |= deliver(w, &e);
		/* What the ring could not take concerned someone, perhaps: every watcher hears of it. */
		uint64_t dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
		if (dropped != w->dropped_seen[i]) {
			for (struct watcher *x = w->watchers; x; x = x->next)
				x->lost_unreported += dropped - w->dropped_seen[i];
			w->dropped_seen[i] = dropped;
			any = true;
		}
	}
	return any;
}

void hs_watch_stats(const struct hs_watch *w, struct hs_watch_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!w)
		return;
	*out = w->stats;
	out->dropped = w->dropped_before;
	for (uint32_t i = 0; i < w->nworkers; i++)
		if (w->rings[i])
			out->dropped += atomic_load_explicit(&w->rings[i]->dropped, memory_order_relaxed);
}
