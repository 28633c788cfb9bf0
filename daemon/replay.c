/*
 * replay: a capture through the packet path (hs_replay.h).
 *
 * Each record goes the way a queued packet goes in the worker: link layer
 * off (the only step the queue does not need), hs_packet_parse, then
 * hs_table_track_batch with the policy engine called per packet, and the
 * engine's actions (events; there are no resets in dry run) carried out
 * after each packet and expiry step, as the worker does.  The capture's timestamps are the clock:
 * packets that share a millisecond are tracked as one batch, as a burst is
 * live, and the table's expiry runs at every 100 ms boundary of capture
 * time that passes, as the worker's timer runs it, so timeouts and timed
 * policies fire at the capture time they would have fired live.
 *
 * Nothing acts: every policy is read as if it had `dry_run: true`, so it
 * is evaluated and counted (and its events written) but drops nothing,
 * sends nothing and removes nothing, and what the table shows at the end is
 * what the packets in the capture did.  Strict mode is reported the same
 * way, as the packets it would have dropped.
 */
#include "hs_replay.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hs_capture_read.h"
#include "hs_diag.h"
#include "hs_events.h"
#include "hs_flow_json.h"
#include "hs_policy_engine.h"
#include "hs_replay_report.h"
#include "hs_siphash.h"
#include "hs_worker.h"

#define BATCH 64                    /* packets tracked together, as a queue burst is */
#define EXPIRE_EVERY_MS 100u        /* the worker's expiry timer period */
/*
 * Expiry steps through a gap in the capture 100 ms at a time, so a flow
 * expires at the time it would have; each step costs a few nanoseconds
 * when nothing is due.  A gap longer than this (a clock set wrong, two
 * captures joined) is crossed in one step, and counted.
 */
#define MAX_EXPIRE_STEPS (30ull * 86400u * 1000u / EXPIRE_EVERY_MS)


struct replay {
	const struct hs_config *config;
	struct hs_policy_set policies;          /* the configuration's, every one in dry run */
	struct hs_table *table;
	struct hs_policy_engine *engine;
	struct hs_actions actions;              /* what the engine decided, carried out by carry_out */
	struct hs_events *events;
	bool follow;                            /* standard input: each packet at once, not a batch later */
	uint64_t now;                           /* the capture's clock in ms, never going back */
	uint64_t next_expire;                   /* the next 100 ms boundary at which expiry runs */
	struct hs_replay_stats stats;
	struct hs_replay_actions acted;        /* each time a policy would have acted */
	size_t batch_n;
	uint64_t batch_ms;
	struct hs_packet batch[BATCH];
	const struct hs_packet *batch_ptr[BATCH];
	struct hs_track_result results[BATCH];
};

/* Set by SIGINT or SIGTERM: the report is still written for what was read. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/*
 * An event the engine told: a policy's is kept for the report; each is
 * written with --events.  The capture's clock is the wall clock of the
 * moment it was taken, so it is the events' time too.
 */
static void write_event(void *ctx, const struct hs_action *a)
{
	struct replay *r = ctx;

	if (a->event == HS_EV_POLICY && hs_policy_engine_policy(r->engine, a->policy, a->generation))
		hs_replay_actions_add(&r->acted, a->now_ms, a->policy, &a->flow);
	hs_events_action(r->events, r->table, a, hs_policy_engine_policy(r->engine, a->policy, a->generation),
			 a->now_ms);
}

static void spill_events(void *ctx, struct hs_actions *list)
{
	hs_actions_spill_events(list, write_event, ctx);
}

/*
 * Carries out the engine's actions: events are written; every policy is
 * in dry run, so no reset is ever asked for (one would be left undone).
 */
static void carry_out(struct replay *r)
{
	struct hs_action a;

	while (hs_actions_next(&r->actions, &a))
		if (a.type == HS_DO_EVENT)
			write_event(r, &a);
}

/* The table and engine start at the first record's time, the table's epoch. */
static int replay_start(struct replay *r, uint64_t now, char *err, size_t errlen)
{
	struct hs_table_config tc;

	hs_table_config_from(&tc, r->config);
	if (getrandom(tc.hash_key, sizeof(tc.hash_key), 0) != (ssize_t)sizeof(tc.hash_key)) {
		snprintf(err, errlen, "cannot draw a hash key: %s", strerror(errno));
		return -1;
	}
	r->table = hs_table_create(&tc, now);
	uint8_t engine_key[16];
	uint64_t k0 = hs_siphash(tc.hash_key, "policy engine 0", 15), k1 = hs_siphash(tc.hash_key, "policy engine 1", 15);
	memcpy(engine_key, &k0, 8);
	memcpy(engine_key + 8, &k1, 8);
	r->engine = r->table ? hs_policy_engine_create(r->config->max_flows, engine_key) : NULL;
	if (!r->engine) {
		snprintf(err, errlen, "cannot allocate a table of %u flows: %s", r->config->max_flows, strerror(errno));
		return -1;
	}
	hs_actions_init(&r->actions, spill_events, r);
	/* Policies' events are the report's list of actions, so they are wanted even without --events. */
	r->actions.want_events = r->events->fd >= 0 || r->policies.count > 0;
	hs_policy_engine_attach(r->engine, r->table, &r->actions);
	hs_policy_engine_set(r->engine, &r->policies, now);
	r->now = now;
	r->next_expire = now - now % EXPIRE_EVERY_MS + EXPIRE_EVERY_MS;
	return 0;
}

/* Moves the capture clock to now, running expiry at each 100 ms boundary passed. */
static void advance_clock(struct replay *r, uint64_t now)
{
	if (now < r->next_expire) {
		r->now = now;
		return;
	}
	uint64_t steps = (now - r->next_expire) / EXPIRE_EVERY_MS + 1;
	/* With no flow nothing can come due: the gap is crossed at once, exactly. */
	if (steps > MAX_EXPIRE_STEPS || hs_table_stats(r->table)->live == 0) {
		if (steps > MAX_EXPIRE_STEPS)
			r->stats.clock_jumps++;
		r->next_expire = now - now % EXPIRE_EVERY_MS;
	}
	for (; r->next_expire <= now; r->next_expire += EXPIRE_EVERY_MS) {
		r->now = r->next_expire;
		hs_policy_engine_now(r->engine, r->next_expire);
		hs_table_expire(r->table, r->next_expire);
		carry_out(r);
	}
	r->now = now;
}

/*
 * One tracked packet's verdict, events and policies, in the order the
 * worker's verdict step takes them (see worker.c), with every drop
 * counted instead of done.
 */
static void replay_one(void *arg, size_t i, struct hs_track_result *res)
{
	struct replay *r = arg;

	if (res->hint == HS_HINT_BLOCKED) {
		r->stats.would_drop_blocked++;
		return;
	}
	if (res->hint == HS_HINT_INVALID && r->config->strict) {
		r->stats.would_drop_invalid++;
		return;
	}
	if (hs_policy_engine_packet(r->engine, r->batch_ptr[i], res, r->batch_ms) == HS_VERDICT_DROP)
		r->stats.would_drop_policy++;
	carry_out(r);
}

static void flush_batch(struct replay *r)
{
	if (r->batch_n == 0)
		return;
	hs_policy_engine_now(r->engine, r->batch_ms);
	hs_table_track_batch(r->table, r->batch_ptr, r->batch_n, r->batch_ms, r->results, replay_one, r);
	carry_out(r);
	r->batch_n = 0;
	/* One write per batch, as per burst live: events follow a piped capture closely. */
	hs_events_flush(r->events);
}

static void replay_record(struct replay *r, const struct hs_capture_record *rec)
{
	uint64_t ms = rec->ts_us / 1000u;

	r->stats.records++;
	if (rec->ts_us < r->stats.last_us) {
		r->stats.clock_backwards++;
	} else {
		r->stats.last_us = rec->ts_us;
	}
	/* The table's clock never goes back: a record stamped early is taken as on time. */
	if (ms < r->now)
		ms = r->now;
	if (r->batch_n && ms != r->batch_ms)
		flush_batch(r);
	advance_clock(r, ms);
	r->stats.link[rec->link]++;
	if (rec->link != HS_LINK_IP)
		return;
	struct hs_packet *pkt = &r->batch[r->batch_n];
	enum hs_parse_result pr = hs_packet_parse(rec->ip, rec->ip_caplen, rec->ip_wire_len, pkt);
	if (pr == HS_PARSE_OK) {
		r->stats.tcp++;
		r->batch_ptr[r->batch_n++] = pkt;
		r->batch_ms = ms;
		/*
		 * From a pipe (tcpdump -w - following an interface) the next
		 * packet may be a long time coming: this one is not kept waiting.
		 */
		if (r->batch_n == BATCH || r->follow)
			flush_batch(r);
	} else if (pr == HS_PARSE_NOT_TCP) {
		r->stats.not_tcp++;
	} else if (pr == HS_PARSE_FRAGMENT) {
		r->stats.fragments++;
	} else {
		r->stats.parse_errors[pr]++;
		if (r->config->strict)
			r->stats.would_drop_malformed++;
	}
}

/* ---- the run ---- */

static void catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a read from a pipe that waits must return, so the report is written. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Reads every record; 0 at the end of the capture (or on a stop signal), -1 at a bad record. */
static int read_all(struct replay *r, struct hs_capture *cap, char *err, size_t errlen)
{
	struct hs_capture_record rec;
	int rc = 0;

	while (!stop_requested && (rc = hs_capture_next(cap, &rec, err, errlen)) == 1) {
		if (!r->table) {
			if (replay_start(r, rec.ts_us / 1000u, err, errlen) < 0)
				return -1;
			r->stats.first_us = r->stats.last_us = rec.ts_us;
		}
		replay_record(r, &rec);
	}
	flush_batch(r);
	if (stop_requested)
		return 0;
	return rc < 0 ? -1 : 0;
}

int hs_replay_run(const struct hs_config *config, const struct hs_replay_options *opt, FILE *out, char *err,
		  size_t errlen)
{
	struct hs_capture *cap = hs_capture_open(opt->path, err, errlen);

	if (!cap)
		return 1;
	struct replay *r = calloc(1, sizeof(*r));
	struct hs_events *events = malloc(sizeof(*events));
	if (!r || !events) {
		snprintf(err, errlen, "out of memory");
		free(r);
		free(events);
		hs_capture_close(cap);
		return 1;
	}
	r->config = config;
	r->follow = strcmp(opt->path, "-") == 0;
	r->policies = config->policies;
	for (uint32_t i = 0; i < r->policies.count; i++)
		r->policies.items[i].dry_run = true;
	fflush(out);
	hs_events_init(events, opt->events ? fileno(out) : -1);
	r->events = events;

	catch_stop_signals();
	int rc = read_all(r, cap, err, errlen);
	hs_events_flush(events);
	struct hs_replay_report rep = {
		.stats = &r->stats, .table = r->table, .now = r->now, .policies = &r->policies,
		.counters = r->engine ? hs_policy_engine_counters(r->engine) : NULL, .actions = &r->acted,
		.link_name = hs_capture_link_name(cap),
	};
	hs_replay_report_print(&rep, opt->json, out);
	fflush(out);
	hs_replay_actions_free(&r->acted);

	hs_policy_engine_destroy(r->engine);
	hs_table_destroy(r->table);
	free(events);
	free(r);
	hs_capture_close(cap);
	return rc < 0 ? 1 : 0;
}

int hs_replay_command(const char *config_path, const struct hs_replay_options *opt)
{
	static struct hs_config config;
	struct hs_diag diag;
	char err[1024];

	/* Without -c, an analyst's machine may have no configuration: the defaults serve. */
	if (!config_path && access(HS_DEFAULT_CONFIG_PATH, F_OK) != 0) {
		hs_config_defaults(&config);
	} else {
		int loaded = hs_config_load(config_path ? config_path : HS_DEFAULT_CONFIG_PATH, &config, &diag);
		fputs(hs_diag_text(&diag), stderr);
		hs_diag_free(&diag);
		if (loaded < 0)
			return 1;
	}
	int rc = hs_replay_run(&config, opt, stdout, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "handshaked: %s\n", err);
	return rc;
}
