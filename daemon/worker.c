/*
 * worker: the per-queue event loop and packet path.
 *
 * A burst is read from the queue, parsed, tracked as one batch (so the
 * table's memory accesses overlap), given verdicts (drops only for invalid
 * TCP in strict mode, and what the policies decide), and answered with one
 * sendmsg.  The core decides and the worker acts: after every packet, and
 * after every pass of the timers, it carries out the core's action list
 * (RSTs to send, events to write, flows to delete once their RSTs are
 * settled).  Events raised by a burst are written with one write at its
 * end.
 */
#include "hs_worker.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs_log.h"
#include "hs_loopback.h"
#include "hs_siphash.h"

/*
 * The expiry pass runs every EXPIRE_INTERVAL_MS: the worker looks at the
 * clock after every burst, and a receive waits no longer than that.
 */
#define EXPIRE_INTERVAL_MS 100
/*
 * How soon RSTs the kernel refused are offered again when nothing else
 * wakes the worker (a receive waits no longer while some do).  On an end
 * host the worker's own RSTs come back through its queue and wake it at
 * once; this covers the rest (a device queue that drains on its own).
 */
#define RST_RETRY_POLL_MS 5

struct hs_worker {
	int index;
	uint16_t queue;
	uint32_t nworkers;          /* in the daemon: the step between this table's flow ids */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	struct hs_table *table;
	struct hs_nfq nfq;
	uint32_t recv_wait_ms;      /* the queue socket's receive timeout as last set */
	uint64_t next_expire_ms;    /* when the next expiry pass is due (worker thread only) */
	atomic_bool stop;
	/*
	 * Bumped on every pass of the event loop (at least every 100 ms, the
	 * longest a receive waits), read by the main thread, which feeds the
	 * systemd watchdog only while every worker's counter keeps moving.
	 */
	_Atomic uint64_t heartbeat;
	bool strict;
	struct hs_worker_stats stats;
	struct hs_burst_sampler burst_sampler;  /* which bursts the histogram times (worker thread only) */
	struct hs_events events;
	struct hs_policy_engine *policy;
	struct hs_actions actions;  /* what the core decided, carried out after each packet and timer pass */
	struct hs_rst_sender rst;
	bool rst_ok;                /* the raw sockets are open (else every RST counts as failed) */
	bool rst_waiting;           /* RSTs wait for the kernel: retry soon (worker thread only) */
	uint32_t own_mark;          /* queue.own_mark: packets carrying it are the daemon's own */
	uint32_t lo_ifindex;        /* the loopback device, to tell a looped-back packet's two sightings apart */
	struct log_episode log_verdicts, log_receive, log_rst;
	/* log.pcap: this worker's ring of the dropped-packet capture; NULL when off.  Set before start. */
	struct hs_drop_ring *drop_ring;
	/* Flows of a snapshot of another set of queues, claimed on a table miss; NULL = none.  Set before start. */
	struct hs_restore_pool *restore_pool;
	/* handshakectl watch: the ring the worker's events go to while someone watches; NULL otherwise. */
	struct hs_watch_ring *watch_ring;
};

_Static_assert(HS_RST_NO_POLICY == HS_ACTIONS_NO_POLICY, "a RST's tag names its policy as the action does");

/*
 * When a looped-back packet was last seen on its way out, by any worker:
 * the rules may queue OUTPUT and INPUT to different queues, and the way in
 * of a packet is a repeat whichever worker saw its way out
 * (include/core/hs_loopback.h).  The way in exists only once the way out
 * has its verdict, which its worker sends after storing this.
 */
static _Atomic uint64_t loopback_out_ms;

/* An event the core decided: to the event log, and to the watchers' ring while someone watches. */
static void write_event(struct hs_worker *w, const struct hs_action *a)
{
	if (w->events.fd < 0 && !w->watch_ring)
		return;
	const struct hs_policy *policy = hs_policy_engine_policy(w->policy, a->policy, a->generation);
	uint64_t wall = hs_wall_ms_at(a->now_ms);
	hs_events_action(&w->events, w->table, a, policy, wall);
	if (w->watch_ring && a->type == HS_DO_EVENT) {
		struct hs_event e;
		hs_event_of(&e, w->table, a, policy, wall);
		hs_watch_ring_push(w->watch_ring, &e);
	}
}

static void write_event_cb(void *ctx, const struct hs_action *a)
{
	write_event(ctx, a);
}

/*
 * The action list is full in the middle of a table operation (an expiry
 * pass that removes many flows): write its events now.  Its resets stay
 * for carry_out, since deleting flows must wait until the table is done.
 */
static void spill_events(void *ctx, struct hs_actions *list)
{
	hs_actions_spill_events(list, write_event_cb, ctx);
}

static void delete_flow(struct hs_worker *w, uint32_t index, uint32_t id)
{
	struct hs_flow *f = hs_table_flow_ref(w->table, index, id);

	if (f)
		hs_table_delete(w->table, f);
}

/*
 * A reset the core asked for: RSTs built from the flow as the core saw it,
 * the policy credited for each one the kernel took, and the flow deleted
 * now, or by rst_settled once the last of its RSTs that had to wait is
 * settled.
 */
static void send_reset(struct hs_worker *w, const struct hs_action *a)
{
	struct hs_rst_tag tag = { a->flow_index, a->flow.id, a->policy, a->generation };
	struct hs_rst_result r = hs_rst_send_flow(&w->rst, &a->flow, a->sides, &tag, a->now_ms);

	for (unsigned i = 0; i < r.sent && a->policy != HS_ACTIONS_NO_POLICY; i++)
		hs_policy_engine_reset_sent(w->policy, a->policy, a->generation);
	if (!r.queued)
		delete_flow(w, a->flow_index, a->flow.id);
}

/*
 * Carries out the core's actions in order (worker lock held).  Deleting a
 * reset flow appends its "delete" event, which this loop then writes too.
 * Afterwards the core may ask for as many resets as the RST queue has room
 * for (or, without sockets, where every RST fails at once, half a list).
 */
static void carry_out(struct hs_worker *w)
{
	struct hs_action a;

	while (hs_actions_next(&w->actions, &a)) {
		if (a.type == HS_DO_EVENT)
			write_event(w, &a);
		else
			send_reset(w, &a);
	}
	uint32_t half = w->actions.capacity / 2, room = w->rst_ok ? hs_rst_room(&w->rst) / 2 : half;
	w->actions.reset_room = room < half ? room : half;
}

/*
 * Carries out what the core decided, if it decided anything.  After a
 * packet or a burst most of the time it decided nothing, and an empty
 * list leaves the RST room as it was (the timer pass, which carries out
 * always, brings it up to date).
 */
static void carry_out_pending(struct hs_worker *w)
{
	if (w->actions.head != w->actions.count)
		carry_out(w);
}

/*
 * The deciding part of the worker: the policy engine (its tables keyed by a
 * key derived from the daemon's random one), its action list, and the RST
 * sender that carries out its resets.
 */
static int setup_policies(struct hs_worker *w, const struct hs_config *config, const uint8_t hash_key[16],
			  int events_fd, char *err, size_t errlen)
{
	uint8_t engine_key[16];
	uint64_t k0 = hs_siphash(hash_key, "policy engine 0", 15), k1 = hs_siphash(hash_key, "policy engine 1", 15);
	char rst_err[256];

	memcpy(engine_key, &k0, 8);
	memcpy(engine_key + 8, &k1, 8);
	w->policy = hs_policy_engine_create(config->max_flows, engine_key);
	if (!w->policy) {
		snprintf(err, errlen, "queue %u: cannot allocate the policy engine", w->queue);
		return -1;
	}
	w->own_mark = config->own_mark;
	w->rst_ok = hs_rst_open(&w->rst, config->own_mark, rst_err, sizeof(rst_err)) == 0;
	if (!w->rst_ok)
		log_warnx("queue %u: %s: reset actions and kill will not send RSTs", w->queue, rst_err);
	hs_actions_init(&w->actions, spill_events, w);
	w->actions.want_events = events_fd >= 0;
	hs_policy_engine_attach(w->policy, w->table, &w->actions);
	hs_policy_engine_set(w->policy, &config->policies, hs_now_ms());
	carry_out(w);
	return 0;
}

/*
 * The event loop waits in the queue socket's receive, for at most
 * EXPIRE_INTERVAL_MS (RST_RETRY_POLL_MS while RSTs wait for the kernel);
 * stopping wakes it with hs_nfq_wake.  The timeout is set only when it
 * changes, never per burst; a failure (which a valid socket never gives)
 * is reported once per change, and the receive keeps its last timeout.
 */
static int set_recv_wait(struct hs_worker *w, uint32_t ms)
{
	if (ms == w->recv_wait_ms)
		return 0;
	w->recv_wait_ms = ms;
	return hs_nfq_set_wait(&w->nfq, ms);
}

static int setup_event_loop(struct hs_worker *w, char *err, size_t errlen)
{
	if (set_recv_wait(w, EXPIRE_INTERVAL_MS) < 0) {
		snprintf(err, errlen, "queue %u: receive timeout: %s", w->queue, strerror(errno));
		return -1;
	}
	w->next_expire_ms = hs_now_ms() + EXPIRE_INTERVAL_MS;
	return 0;
}

static int worker_init(struct hs_worker *w, int index, uint16_t queue, uint32_t nworkers,
		   const struct hs_config *config, const uint8_t hash_key[16], int events_fd,
		   char *err, size_t errlen)
{
	struct hs_table_config tc;

	memset(w, 0, sizeof(*w));
	w->rst = (struct hs_rst_sender)HS_RST_SENDER_INIT;
	w->index = index;
	w->queue = queue;
	w->nworkers = nworkers;
	w->strict = config->strict;
	atomic_init(&w->stop, false);
	atomic_init(&w->heartbeat, 0);
	pthread_mutex_init(&w->lock, NULL);
	hs_events_init(&w->events, events_fd);
	hs_burst_sampler_init(&w->burst_sampler, (uint32_t)hs_siphash(hash_key, "burst timing", 12) ^ (uint32_t)index);

	hs_table_config_from(&tc, config);
	memcpy(tc.hash_key, hash_key, sizeof(tc.hash_key));
	tc.id_first = (uint32_t)index + 1;
	tc.id_step = nworkers;
	w->table = hs_table_create(&tc, hs_now_ms());
	if (!w->table) {
		snprintf(err, errlen, "queue %u: cannot allocate a table of %u flows: %s", queue,
			 config->max_flows, strerror(errno));
		return -1;
	}
	if (setup_policies(w, config, hash_key, events_fd, err, errlen) < 0)
		return -1;
	/* The loopback device is ifindex 1 in every namespace today; asked by name all the same. */
	w->lo_ifindex = if_nametoindex("lo");
	if (w->lo_ifindex == 0)
		w->lo_ifindex = 1;
	log_episode_init(&w->log_verdicts, "queue %u: sending verdicts", queue);
	log_episode_init(&w->log_receive, "queue %u: receiving", queue);
	log_episode_init(&w->log_rst, "queue %u: sending RSTs", queue);

	if (hs_nfq_open(&w->nfq, queue, config->copy_range, config->queue_maxlen, config->fail_open,
			err, errlen) < 0) {
		hs_table_destroy(w->table);
		w->table = NULL;
		return -1;
	}
	return setup_event_loop(w, err, errlen);
}

/* What the verdict step of a burst needs besides the result. */
struct burst_ctx {
	struct hs_worker *w;
	const struct hs_packet *const *tcp;
	const struct hs_nfq_packet *const *raw;    /* the queued packet of each tcp[i] */
	uint64_t now;
};

/* Drops a queued packet, and keeps a copy for log.pcap if it is on. */
static void drop_packet(struct hs_worker *w, const struct hs_nfq_packet *p)
{
	hs_nfq_drop(&w->nfq, p->id);
	w->stats.dropped++;
	if (w->drop_ring)
		hs_drop_ring_put(w->drop_ring, p->data, p->caplen, p->wire_len);
}

/*
 * Gives one tracked packet its verdict, events and policies.  The table
 * calls it right after tracking the packet, before the next packet of the
 * burst can change or reuse the flow.
 */
static void verdict_one(void *arg, size_t i, struct hs_track_result *res)
{
	struct burst_ctx *ctx = arg;
	struct hs_worker *w = ctx->w;

	if (res->hint == HS_HINT_BLOCKED) {
		drop_packet(w, ctx->raw[i]);
		w->stats.policy_dropped++;
		return;
	}
	if (res->hint == HS_HINT_INVALID) {
		w->stats.invalid++;
		if (w->strict) {
			drop_packet(w, ctx->raw[i]);
			return;
		}
	}
	enum hs_verdict verdict = hs_policy_engine_packet(w->policy, ctx->tcp[i], res, ctx->now);
	/* Before the next packet: it may be the answer to a RST sent here. */
	carry_out_pending(w);
	if (verdict == HS_VERDICT_DROP) {
		drop_packet(w, ctx->raw[i]);
		w->stats.policy_dropped++;
		return;
	}
	w->stats.accepted++;
}

/*
 * A RST that waited for the kernel is settled.  The policy that asked is
 * credited if it was sent, and a flow whose last RST it was leaves the
 * table now (unless it left already, by expiry or kill).
 */
static void rst_settled(void *ctx, const struct hs_rst_tag *tag, bool last, bool sent)
{
	struct hs_worker *w = ctx;

	if (sent && tag->policy != HS_RST_NO_POLICY)
		hs_policy_engine_reset_sent(w->policy, tag->policy, tag->generation);
	if (last)
		delete_flow(w, tag->flow_index, tag->flow_id);
}

/* Logs RST failures once per episode: rst_before is the sender's counters before the work. */
static void note_rsts(struct hs_worker *w, const struct hs_rst_stats *before)
{
	if (w->rst.stats.failed != before->failed)
		log_episode_fail(&w->log_rst, w->rst.last_errno);
	else if (w->rst.stats.sent != before->sent)
		log_episode_ok(&w->log_rst);
	w->rst_waiting = hs_rst_waiting(&w->rst) != 0;
}

/* Offers the RSTs the kernel refused to it again (takes the worker's lock). */
static void retry_rsts(struct hs_worker *w)
{
	pthread_mutex_lock(&w->lock);
	struct hs_rst_stats before = w->rst.stats;
	uint64_t now = hs_now_ms();
	hs_policy_engine_now(w->policy, now);
	hs_rst_retry(&w->rst, now, rst_settled, w);
	carry_out(w);
	note_rsts(w, &before);
	hs_events_flush(&w->events);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Resets a flow (the worker's lock held): RSTs to both ends, then the flow
 * leaves the table, at once or, if some RSTs must wait for the kernel, when
 * the last of them is settled.
 */
static struct hs_rst_result reset_flow(struct hs_worker *w, struct hs_flow *f)
{
	uint64_t now = hs_now_ms();
	struct hs_rst_tag tag = { hs_table_flow_index(w->table, f), f->id, HS_RST_NO_POLICY, 0 };
	struct hs_rst_result r = hs_rst_send_flow(&w->rst, f, HS_RST_TO_BOTH, &tag, now);

	hs_policy_engine_now(w->policy, now);
	if (!r.queued)
		hs_table_delete(w->table, f);
	carry_out(w);
	hs_events_flush(&w->events);
	return r;
}

/*
 * Whether a queued packet is the daemon's own (a RST it sent, marked with
 * queue.own_mark).  It is accepted untracked: tracking it would count it
 * again, and a RST that outlived its flow would count as invalid.
 */
static bool own_packet(const struct hs_worker *w, const struct hs_nfq_packet *p)
{
	return w->own_mark != 0 && p->mark == w->own_mark;
}

/*
 * Whether a queued packet is a looped-back one seen a second time, on its
 * way back in, after it was tracked on its way out: accepted untracked, so
 * that the connection counts each packet once, as the kernel does.
 */
static bool loopback_repeat(const struct hs_nfq_packet *p, uint32_t lo_ifindex, uint64_t now)
{
	switch (hs_loopback_pass(p->indev, p->outdev, lo_ifindex)) {
	case HS_LO_OUT:
		atomic_store_explicit(&loopback_out_ms, now, memory_order_release);
		return false;
	case HS_LO_IN:
		return hs_loopback_repeat(now, atomic_load_explicit(&loopback_out_ms, memory_order_acquire));
	case HS_LO_ELSEWHERE:
		break;
	}
	return false;
}

/* The TCP packets of a burst the core must see: parsed into parsed[], listed in tcp[] with their raw[]. */
struct burst_tcp {
	struct hs_packet parsed[HS_NFQ_BURST];
	const struct hs_packet *tcp[HS_NFQ_BURST];
	const struct hs_nfq_packet *raw[HS_NFQ_BURST];
};

/*
 * Sorts a burst: the daemon's own packets, second sightings of looped-back
 * ones, non-TCP, fragments and malformed packets get their verdicts here;
 * the rest are parsed for tracking.  Returns how many those are.
 */
static size_t sort_burst(struct hs_worker *w, const struct hs_nfq_packet *raw, int n, uint64_t now,
			 struct burst_tcp *out)
{
	size_t m = 0;

	for (int i = 0; i < n; i++) {
		if (own_packet(w, &raw[i])) {
			w->stats.own_packets++;
			w->stats.accepted++;
			continue;
		}
		if (loopback_repeat(&raw[i], w->lo_ifindex, now)) {
			w->stats.loopback_repeats++;
			w->stats.accepted++;
			continue;
		}
		enum hs_parse_result pr = hs_packet_parse(raw[i].data, raw[i].caplen, raw[i].wire_len,
							  &out->parsed[m]);

		if (pr == HS_PARSE_OK) {
			out->tcp[m] = &out->parsed[m];
			out->raw[m] = &raw[i];
			m++;
			continue;
		}
		if (pr == HS_PARSE_NOT_TCP) {
			w->stats.not_tcp++;
		} else if (pr == HS_PARSE_FRAGMENT) {
			w->stats.fragments++;
		} else {
			w->stats.parse_errors[pr]++;
			if (w->strict) {
				drop_packet(w, &raw[i]);
				continue;
			}
		}
		w->stats.accepted++;
	}
	return m;
}

static void note_burst_time(struct hs_worker *w, uint64_t took)
{
	if (took > w->stats.loop_max_us)
		w->stats.loop_max_us = took;
	w->stats.burst_us_buckets[hs_burst_bucket(took)]++;
	w->stats.burst_us_sum += took;
}

/*
 * Waits for and handles one burst; returns the number of packets, 0 if the
 * wait ended without one, -1 on error.  *now_ms is the burst's time (when
 * it was read), when there was one.
 *
 * The clock is read once, for the burst's time, and a second time at its
 * end only for the bursts the histogram times (one in
 * HS_BURST_TIMED_ONE_IN, drawn before the burst is handled:
 * hs_burst_timing.h).  Reading it at the end of every burst cost 46 ns a
 * burst on the benchmarks' VM, 13 to 17 ns a packet at the 2.7 to 3.6
 * packets a burst of make bench-e2e.
 */
static int handle_burst(struct hs_worker *w, uint64_t *now_ms)
{
	struct hs_nfq_packet raw[HS_NFQ_BURST];
	struct burst_tcp burst;
	struct hs_track_result results[HS_NFQ_BURST];
	int n = hs_nfq_read_burst(&w->nfq, raw);

	if (n <= 0)
		return n;
	bool timed = hs_burst_sampler_pick(&w->burst_sampler);
	uint64_t start = hs_now_us(), now = start / 1000u;

	pthread_mutex_lock(&w->lock);
	struct hs_rst_stats rst_before = w->rst.stats;
	hs_policy_engine_now(w->policy, now);
	w->stats.bursts++;
	w->stats.packets += (uint64_t)n;
	size_t m = sort_burst(w, raw, n, now, &burst);
	struct burst_ctx ctx = { .w = w, .tcp = burst.tcp, .raw = burst.raw, .now = now };
	hs_table_track_batch(w->table, burst.tcp, m, now, results, verdict_one, &ctx);
	carry_out_pending(w);
	if (timed)
		note_burst_time(w, hs_now_us() - start);
	*now_ms = now;
	note_rsts(w, &rst_before);
	hs_events_flush(&w->events);
	pthread_mutex_unlock(&w->lock);

	if (hs_nfq_flush(&w->nfq) < 0)
		log_episode_fail(&w->log_verdicts, errno);
	else
		log_episode_ok(&w->log_verdicts);
	/* The verdicts just given may have freed the send buffer the waiting RSTs need. */
	if (w->rst_waiting)
		retry_rsts(w);
	return n;
}

static void handle_timer(struct hs_worker *w, uint64_t now)
{
	pthread_mutex_lock(&w->lock);
	struct hs_rst_stats before = w->rst.stats;
	hs_policy_engine_now(w->policy, now);
	hs_table_expire(w->table, now);
	carry_out(w);
	note_rsts(w, &before);
	hs_events_flush(&w->events);
	pthread_mutex_unlock(&w->lock);
}

/*
 * The event loop: one receive that waits and reads (the burst), the
 * expiry pass when it is due, the RSTs that wait for the kernel; all on
 * the clock the burst read, so an idle worker reads it once per wait.
 */
static void *worker_main(void *arg)
{
	struct hs_worker *w = arg;

	while (!atomic_load(&w->stop)) {
		uint64_t now = 0;

		/* Only this thread writes it: a plain load and store, no locked add per burst. */
		atomic_store_explicit(&w->heartbeat, atomic_load_explicit(&w->heartbeat, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		int got = handle_burst(w, &now);
		if (got < 0)
			log_episode_fail(&w->log_receive, errno);
		else
			log_episode_ok(&w->log_receive);
		if (got <= 0)
			now = hs_now_ms();
		if (now >= w->next_expire_ms) {
			handle_timer(w, now);
			w->next_expire_ms = now + EXPIRE_INTERVAL_MS;
		}
		if (w->rst_waiting)
			retry_rsts(w);
		if (set_recv_wait(w, w->rst_waiting ? RST_RETRY_POLL_MS : EXPIRE_INTERVAL_MS) < 0)
			log_warn("queue %u: setting the receive timeout", w->queue);
	}
	return NULL;
}

int hs_worker_start(struct hs_worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0) {
		errno = rc;
		return -1;
	}
	w->started = true;
	return 0;
}

static void worker_stop(struct hs_worker *w)
{
	atomic_store(&w->stop, true);
	/* Else the worker sees the flag when its receive times out, within EXPIRE_INTERVAL_MS. */
	if (w->started && hs_nfq_wake(&w->nfq) < 0)
		log_warn("queue %u: waking worker", w->queue);
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
	hs_events_flush(&w->events);
	if (w->nfq.nl)
		hs_nfq_close(&w->nfq);
	hs_table_destroy(w->table);
	w->table = NULL;
	hs_policy_engine_destroy(w->policy);
	w->policy = NULL;
	hs_rst_close(&w->rst);
	w->rst_ok = false;
	pthread_mutex_destroy(&w->lock);
}

void hs_worker_apply(struct hs_worker *w, const struct hs_config *config, int events_fd)
{
	struct hs_table_config tc;

	hs_table_config_from(&tc, config);
	pthread_mutex_lock(&w->lock);
	carry_out(w);
	hs_events_flush(&w->events);
	w->events.fd = events_fd;
	w->actions.want_events = events_fd >= 0 || w->watch_ring;
	w->strict = config->strict;
	hs_table_reconfigure(w->table, &tc);
	hs_policy_engine_set(w->policy, &config->policies, hs_now_ms());
	carry_out(w);
	hs_events_flush(&w->events);
	pthread_mutex_unlock(&w->lock);
}

/* ---- what the main thread may ask of a running worker ---- */

struct hs_worker *hs_worker_create(int index, uint16_t queue, uint32_t nworkers, const struct hs_config *config,
				   const uint8_t hash_key[16], int events_fd, char *err, size_t errlen)
{
	struct hs_worker *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errlen, "queue %u: out of memory", queue);
		return NULL;
	}
	if (worker_init(w, index, queue, nworkers, config, hash_key, events_fd, err, errlen) < 0) {
		/* The worker cleans up what it made. */
		worker_stop(w);
		free(w);
		return NULL;
	}
	return w;
}

void hs_worker_destroy(struct hs_worker *w)
{
	if (!w)
		return;
	worker_stop(w);
	free(w);
}

uint16_t hs_worker_queue(const struct hs_worker *w)
{
	return w->queue;
}

uint64_t hs_worker_heartbeat(const struct hs_worker *w)
{
	return atomic_load_explicit(&w->heartbeat, memory_order_relaxed);
}

void hs_worker_counters(struct hs_worker *w, struct hs_worker_counters *out)
{
	memset(out, 0, sizeof(*out));
	out->queue = w->queue;
	pthread_mutex_lock(&w->lock);
	out->stats = w->stats;
	out->table = *hs_table_stats(w->table);
	out->capacity = hs_table_capacity(w->table);
	out->nfq = w->nfq.stats;
	out->rst = w->rst.stats;
	out->rst_waiting = hs_rst_waiting(&w->rst);
	out->rst_deferred = w->actions.resets_deferred;
	out->events_lost = w->events.lost + w->actions.events_lost;
	out->policy_counts_full = hs_policy_engine_counts_full(w->policy);
	struct hs_table_memory_parts mem;
	hs_table_memory_parts(w->table, &mem);
	out->memory_flows = mem.records;
	out->memory_index = mem.index + mem.fixed;
	out->memory_policies = hs_policy_engine_memory(w->policy);
	const struct hs_policy_set *set = hs_policy_engine_policies(w->policy);
	const struct hs_policy_counters *c = hs_policy_engine_counters(w->policy);
	out->npolicies = set->count;
	for (uint32_t i = 0; i < set->count; i++) {
		memcpy(out->policies[i].name, set->items[i].name, HS_POLICY_NAME_MAX);
		out->policies[i].counters = c[i];
	}
	pthread_mutex_unlock(&w->lock);
}

void hs_worker_watch(struct hs_worker *w, struct hs_watch_ring *ring)
{
	pthread_mutex_lock(&w->lock);
	w->watch_ring = ring;
	w->actions.want_events = w->events.fd >= 0 || ring;
	pthread_mutex_unlock(&w->lock);
}

void hs_worker_set_drop_ring(struct hs_worker *w, struct hs_drop_ring *ring)
{
	w->drop_ring = ring;
}

void hs_worker_set_local_addrs(struct hs_worker *w, const struct hs_local_addrs *set)
{
	pthread_mutex_lock(&w->lock);
	hs_table_set_local_addrs(w->table, set);
	pthread_mutex_unlock(&w->lock);
}

bool hs_worker_walk(struct hs_worker *w, const struct hs_flow_match *filter, uint32_t *cursor,
		    hs_worker_visit_fn visit, void *ctx)
{
	uint64_t now = hs_now_ms();

	pthread_mutex_lock(&w->lock);
	bool more = hs_table_walk(w->table, filter, now, cursor, HS_WORKER_WALK_CHUNK, visit, ctx);
	pthread_mutex_unlock(&w->lock);
	return more;
}

/*
 * Records a kill looks at per hold of the lock: fewer than a walk's, since
 * each flow it selects costs two RSTs sent with the lock held.
 */
#define KILL_CHUNK 1024u

/* Collects the flows of a chunk a kill selects, to be reset once the walk has let go of the table. */
struct kill_chunk {
	uint32_t n;
	uint32_t index[KILL_CHUNK];
	uint32_t id[KILL_CHUNK];
};

static bool note_victim(void *ctx, const struct hs_table *table, const struct hs_flow *flow, uint64_t now_ms)
{
	struct kill_chunk *k = ctx;

	(void)now_ms;
	k->index[k->n] = hs_table_flow_index(table, flow);
	k->id[k->n++] = flow->id;
	return true;
}

void hs_worker_kill(struct hs_worker *w, const struct hs_flow_match *filter, struct hs_worker_kill_result *out)
{
	static struct kill_chunk chunk;     /* the main thread's, the only one that kills */
	bool more = true;

	for (uint32_t cursor = 0; more;) {
		chunk.n = 0;
		pthread_mutex_lock(&w->lock);
		more = hs_table_walk(w->table, filter, hs_now_ms(), &cursor, KILL_CHUNK, note_victim, &chunk);
		/* Resetting a flow removes it: the walk is over before the first reset. */
		for (uint32_t i = 0; i < chunk.n; i++) {
			struct hs_flow *f = hs_table_flow_ref(w->table, chunk.index[i], chunk.id[i]);
			if (!f)
				continue;
			struct hs_rst_result r = reset_flow(w, f);
			out->flows++;
			out->sent += r.sent;
			out->queued += r.queued;
		}
		pthread_mutex_unlock(&w->lock);
	}
}

/* ---- snapshots (state_store.c) ---- */

/*
 * Saving reads the table a chunk at a time under the worker's lock: the
 * records are encoded into the writer, whose output the caller stages in
 * memory and writes to disk after the lock is released.
 */
#define SNAPSHOT_CHUNK 4096u

void hs_worker_snapshot_section(struct hs_worker *w, struct hs_snap_section *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&w->lock);
	out->queue = w->queue;
	out->next_id = hs_table_next_id(w->table);
	out->id_step = w->nworkers;
	hs_policy_engine_key(w->policy, out->engine_key);
	out->rates_fingerprint = hs_policy_engine_rates_fingerprint(w->policy);
	pthread_mutex_unlock(&w->lock);
}

bool hs_worker_snapshot_flows(struct hs_worker *w, struct hs_snap_writer *writer, uint32_t *cursor)
{
	pthread_mutex_lock(&w->lock);
	uint64_t now = hs_now_ms();
	uint32_t span = hs_table_span(w->table), pos = *cursor;
	uint32_t end = span - pos > SNAPSHOT_CHUNK ? pos + SNAPSHOT_CHUNK : span;

	for (; pos < end; pos++) {
		const struct hs_flow *f = hs_table_flow_at(w->table, pos);
		if (f)
			hs_snap_write_flow(writer, w->table, f, now);
	}
	pthread_mutex_unlock(&w->lock);
	*cursor = pos;
	return pos < span;
}

static void snapshot_memory_entry(void *ctx, const struct hs_engine_memory_entry *entry)
{
	hs_snap_write_memory(ctx, entry);
}

bool hs_worker_snapshot_memory(struct hs_worker *w, struct hs_snap_writer *writer, uint32_t *cursor)
{
	pthread_mutex_lock(&w->lock);
	bool more = hs_policy_engine_memory_walk(w->policy, cursor, 4 * SNAPSHOT_CHUNK, hs_now_ms(),
						 snapshot_memory_entry, writer);
	pthread_mutex_unlock(&w->lock);
	return more;
}

void hs_worker_restore_begin(struct hs_worker *w, const struct hs_snap_section *s, bool same_queues)
{
	pthread_mutex_lock(&w->lock);
	if (same_queues) {
		hs_policy_engine_adopt_key(w->policy, s->engine_key);
		hs_table_set_next_id(w->table, s->next_id);
	}
	pthread_mutex_unlock(&w->lock);
}

enum hs_restore_result hs_worker_restore_flow(struct hs_worker *w, const struct hs_flow *image,
					      const struct hs_flow_ages *ages, uint64_t now_ms, bool keep_id)
{
	pthread_mutex_lock(&w->lock);
	enum hs_restore_result r = hs_table_restore_flow(w->table, image, ages, now_ms, keep_id);
	pthread_mutex_unlock(&w->lock);
	return r;
}

void hs_worker_restore_memory(struct hs_worker *w, const struct hs_engine_memory_entry *entry, uint64_t now_ms)
{
	pthread_mutex_lock(&w->lock);
	hs_policy_engine_memory_put(w->policy, entry, now_ms);
	pthread_mutex_unlock(&w->lock);
}

uint64_t hs_worker_rates_fingerprint(struct hs_worker *w)
{
	pthread_mutex_lock(&w->lock);
	uint64_t fp = hs_policy_engine_rates_fingerprint(w->policy);
	pthread_mutex_unlock(&w->lock);
	return fp;
}

void hs_worker_restore_end(struct hs_worker *w)
{
	pthread_mutex_lock(&w->lock);
	hs_policy_engine_now(w->policy, hs_now_ms());
	hs_policy_engine_restored(w->policy);
	carry_out(w);
	hs_events_flush(&w->events);
	pthread_mutex_unlock(&w->lock);
}

/*
 * The table's miss hook while a restore pool holds flows.  A packet of a
 * flow this table tracks never gets here, and a miss costs one atomic load
 * once the pool is empty; then the hook uninstalls itself, since an empty
 * pool never fills again.
 */
static bool claim_restored(void *ctx, const struct hs_flow_key *key, uint8_t family, uint64_t now_ms)
{
	struct hs_worker *w = ctx;

	if (atomic_load_explicit(&w->restore_pool->waiting, memory_order_relaxed) == 0) {
		hs_table_set_miss_hook(w->table, NULL, NULL);
		return false;
	}
	return hs_restore_pool_claim(w->restore_pool, w->table, w->policy, key, family, now_ms);
}

void hs_worker_set_restore_pool(struct hs_worker *w, struct hs_restore_pool *pool)
{
	pthread_mutex_lock(&w->lock);
	w->restore_pool = pool;
	hs_table_set_miss_hook(w->table, pool ? claim_restored : NULL, w);
	pthread_mutex_unlock(&w->lock);
}

void hs_worker_restore_ids_above(struct hs_worker *w, uint32_t floor)
{
	pthread_mutex_lock(&w->lock);
	/* A table that gave no id yet starts at its first, index + 1; it steps by the number of workers. */
	uint32_t first = hs_table_next_id(w->table), step = w->nworkers ? w->nworkers : 1;
	if (floor > first) {
		uint64_t next = first + ((uint64_t)floor - first + step - 1) / step * step;
		/* Past 2^32 the table wraps to its first id anyway, as it would have in time. */
		if (next <= UINT32_MAX)
			hs_table_set_next_id(w->table, (uint32_t)next);
	}
	pthread_mutex_unlock(&w->lock);
}
