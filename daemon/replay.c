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

struct replay_stats {
	uint64_t records;
	uint64_t link[HS_LINK_RESULT_COUNT];    /* records by what the link layer held */
	uint64_t tcp, not_tcp, fragments;
	uint64_t parse_errors[HS_PARSE_RESULT_COUNT];
	uint64_t would_drop_invalid;            /* strict: invalid TCP */
	uint64_t would_drop_malformed;          /* strict: malformed IP or TCP */
	uint64_t would_drop_blocked;            /* flows a policy had blocked (never, in dry run) */
	uint64_t would_drop_policy;             /* packets a policy would have dropped */
	uint64_t clock_backwards;               /* records stamped before the one before them */
	uint64_t clock_jumps;                   /* gaps crossed in one expiry step */
	uint64_t first_us, last_us;
};

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
	struct replay_stats stats;
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

/* The capture's clock is the wall clock of the moment it was taken: it is the events' time too. */
static void write_event(void *ctx, const struct hs_action *a)
{
	struct replay *r = ctx;

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
	r->actions.want_events = r->events->fd >= 0;
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

/* ---- the report ---- */

static int by_id(const void *a, const void *b)
{
	const struct hs_flow *fa = *(const struct hs_flow *const *)a, *fb = *(const struct hs_flow *const *)b;

	return fa->id < fb->id ? -1 : fa->id > fb->id;
}

struct flow_list {
	const struct hs_flow **items;
	size_t n;
};

static bool collect(void *ctx, const struct hs_flow *flow)
{
	struct flow_list *list = ctx;

	list->items[list->n++] = flow;
	return true;
}

/* The table in flow id order (the order the flows were first seen), as `list` or `list --json`. */
static void print_table(const struct replay *r, bool json, FILE *out)
{
	char line[HS_FLOW_JSON_MAX + 2];
	uint32_t live = r->table ? hs_table_stats(r->table)->live : 0;
	struct flow_list list = { calloc(live ? live : 1, sizeof(*list.items)), 0 };

	if (!json && hs_flow_text_header(line, sizeof(line)))
		fprintf(out, "%s\n", line);
	if (!list.items)
		return;
	if (r->table)
		hs_table_foreach(r->table, collect, &list);
	qsort(list.items, list.n, sizeof(*list.items), by_id);
	for (size_t i = 0; i < list.n; i++) {
		size_t len = json ? hs_flow_json(line, sizeof(line), r->table, list.items[i], r->now)
				  : hs_flow_text(line, sizeof(line), r->table, list.items[i], r->now);
		if (len)
			fprintf(out, "%s\n", line);
	}
	free(list.items);
}

/* The numbers of a summary, one set for both forms. */
struct summary {
	const struct replay_stats *s;
	const struct hs_table_stats *t;
	const struct hs_policy_counters *pc;
	const struct hs_policy_set *policies;
	uint64_t malformed, invalid;
	const char *link_name;
};

static const struct hs_table_stats no_table_stats;

static void summary_init(struct summary *sm, const struct replay *r, const char *link_name)
{
	memset(sm, 0, sizeof(*sm));
	sm->s = &r->stats;
	sm->t = r->table ? hs_table_stats(r->table) : &no_table_stats;
	sm->pc = r->engine ? hs_policy_engine_counters(r->engine) : NULL;
	sm->policies = &r->policies;
	sm->link_name = link_name;
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		sm->malformed += r->stats.parse_errors[i];
	for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
		sm->invalid += sm->t->invalid[i];
}

static double seconds(uint64_t us)
{
	return (double)us / 1e6;
}

static void print_summary_text(const struct summary *sm, FILE *out)
{
	const struct replay_stats *s = sm->s;
	const struct hs_table_stats *t = sm->t;

	fprintf(out, "\ncapture: %" PRIu64 " packets, link type %s, %.6f to %.6f (%.3f s)\n", s->records,
		sm->link_name, seconds(s->first_us), seconds(s->last_us), seconds(s->last_us - s->first_us));
	fprintf(out, "packets: %" PRIu64 " tcp, %" PRIu64 " not ip, %" PRIu64 " not tcp, %" PRIu64
		" fragments, %" PRIu64 " malformed, %" PRIu64 " invalid tcp\n",
		s->tcp, s->records - s->link[HS_LINK_IP], s->not_tcp, s->fragments, sm->malformed, sm->invalid);
	for (int i = 1; i < HS_LINK_RESULT_COUNT; i++)
		if (i != HS_LINK_NOT_IP && s->link[i])
			fprintf(out, "  link %s: %" PRIu64 "\n", hs_link_result_name((enum hs_link_result)i), s->link[i]);
	for (int i = HS_PARSE_EMPTY; i < HS_PARSE_RESULT_COUNT; i++)
		if (s->parse_errors[i])
			fprintf(out, "  malformed %s: %" PRIu64 "\n", hs_parse_result_name((enum hs_parse_result)i),
				s->parse_errors[i]);
	for (int i = 1; i < HS_INVALID_REASON_COUNT; i++)
		if (t->invalid[i])
			fprintf(out, "  invalid %s: %" PRIu64 "\n", hs_invalid_reason_name((enum hs_invalid_reason)i),
				t->invalid[i]);
	fprintf(out, "flows: %" PRIu64 " created, %u live (%u half-open), %" PRIu64 " expired, %" PRIu64
		" evicted (%" PRIu64 " half-open, %" PRIu64 " established), %" PRIu64 " reopened, %" PRIu64
		" untracked (table full)\n",
		t->flows_created, t->live, t->live_half_open, t->flows_removed[HS_REMOVE_EXPIRED],
		t->flows_removed[HS_REMOVE_EVICTED], t->evicted_half_open, t->evicted_established, t->restarts,
		t->untracked_table_full);
	if (s->would_drop_invalid || s->would_drop_malformed)
		fprintf(out, "strict: would have dropped %" PRIu64 " invalid and %" PRIu64 " malformed packets\n",
			s->would_drop_invalid, s->would_drop_malformed);
	if (s->clock_backwards || s->clock_jumps)
		fprintf(out, "clock: %" PRIu64 " packets stamped before the one before them (taken as on time), %" PRIu64
			" gaps over 30 days crossed at once\n", s->clock_backwards, s->clock_jumps);
	for (uint32_t i = 0; sm->pc && i < sm->policies->count; i++) {
		const struct hs_policy *p = &sm->policies->items[i];
		fprintf(out, "policy %s (%s): would have acted %" PRIu64 " times", p->name,
			hs_policy_action_name(p->action), sm->pc[i].dry_run + sm->pc[i].acted);
		if (p->action == HS_ACTION_VERIFY)
			fprintf(out, ", %" PRIu64 " SYNs verified, %" PRIu64 " refused", sm->pc[i].verified,
				sm->pc[i].refused);
		fputc('\n', out);
	}
}

static void print_counts_json(FILE *out, const char *key, const uint64_t *counts, int first, int n,
			      const char *(*name)(int))
{
	bool any = false;

	fprintf(out, ",\"%s\":{", key);
	for (int i = first; i < n; i++) {
		if (!counts[i])
			continue;
		fprintf(out, "%s\"%s\":%" PRIu64, any ? "," : "", name(i), counts[i]);
		any = true;
	}
	fputc('}', out);
}

static const char *parse_name(int i)
{
	return hs_parse_result_name((enum hs_parse_result)i);
}

static const char *invalid_name(int i)
{
	return hs_invalid_reason_name((enum hs_invalid_reason)i);
}

static const char *link_name(int i)
{
	return hs_link_result_name((enum hs_link_result)i);
}

static void print_summary_json(const struct summary *sm, FILE *out)
{
	const struct replay_stats *s = sm->s;
	const struct hs_table_stats *t = sm->t;

	fprintf(out, "{\"summary\":{\"packets\":%" PRIu64 ",\"link_type\":\"%s\",\"first_ts\":%.6f,\"last_ts\":%.6f"
		",\"tcp\":%" PRIu64 ",\"not_tcp\":%" PRIu64 ",\"fragments\":%" PRIu64,
		s->records, sm->link_name, seconds(s->first_us), seconds(s->last_us), s->tcp, s->not_tcp, s->fragments);
	print_counts_json(out, "link", s->link, HS_LINK_NOT_IP, HS_LINK_RESULT_COUNT, link_name);
	print_counts_json(out, "malformed", s->parse_errors, HS_PARSE_EMPTY, HS_PARSE_RESULT_COUNT, parse_name);
	print_counts_json(out, "invalid", t->invalid, 1, HS_INVALID_REASON_COUNT, invalid_name);
	fprintf(out, ",\"flows\":{\"created\":%" PRIu64 ",\"live\":%u,\"half_open\":%u,\"expired\":%" PRIu64
		",\"evicted\":%" PRIu64 ",\"reopened\":%" PRIu64 ",\"untracked_table_full\":%" PRIu64 "}",
		t->flows_created, t->live, t->live_half_open, t->flows_removed[HS_REMOVE_EXPIRED],
		t->flows_removed[HS_REMOVE_EVICTED], t->restarts, t->untracked_table_full);
	fprintf(out, ",\"would_drop\":{\"strict_invalid\":%" PRIu64 ",\"strict_malformed\":%" PRIu64 "}",
		s->would_drop_invalid, s->would_drop_malformed);
	fprintf(out, ",\"clock\":{\"backwards\":%" PRIu64 ",\"jumps\":%" PRIu64 "},\"policies\":[", s->clock_backwards,
		s->clock_jumps);
	for (uint32_t i = 0; sm->pc && i < sm->policies->count; i++) {
		const struct hs_policy *p = &sm->policies->items[i];
		fprintf(out, "%s{\"name\":\"%s\",\"action\":\"%s\",\"would_act\":%" PRIu64 ",\"verified\":%" PRIu64
			",\"refused\":%" PRIu64 "}",
			i ? "," : "", p->name, hs_policy_action_name(p->action), sm->pc[i].dry_run + sm->pc[i].acted,
			sm->pc[i].verified, sm->pc[i].refused);
	}
	fputs("]}}\n", out);
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
	struct summary sm;
	summary_init(&sm, r, hs_capture_link_name(cap));
	print_table(r, opt->json, out);
	if (opt->json)
		print_summary_json(&sm, out);
	else
		print_summary_text(&sm, out);
	fflush(out);

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
