/*
 * test_examples: every timed policy of every shipped example acts as
 * written.  Each conf/examples/ file is loaded with the real loader; for
 * each of its timed policies a connection it matches is built (one of a
 * few shapes: half-closed either way, half-open, open; addresses and ports
 * taken from its match) in a table with the file's timeouts (the defaults:
 * no example sets any) and the file's whole policy set, then left idle
 * while the clock runs as the daemon's timer does.  The policy must act
 * (or count its dry run) once its idle or age has passed and not before,
 * and no timeout may forget the connection first.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "hs_config.h"
#include "hs_diag.h"
#include "hs_policy_engine.h"
#include "scenario.h"

#define T0 5000000u
#define TICK_STEP_MS 100u           /* the daemon's expiry timer */

struct rig {
	struct hs_table *table;
	struct hs_policy_engine *engine;
	struct hs_actions actions;
};

static const uint8_t engine_key[16] = { 0xe5, 0x4a, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* As the worker: reset flows leave the table (their RSTs count as sent); events are not recorded. */
static void carry_out(struct rig *r)
{
	struct hs_action a;

	while (hs_actions_next(&r->actions, &a)) {
		struct hs_flow *f = a.type == HS_DO_RESET ? hs_table_flow_ref(r->table, a.flow_index, a.flow.id) : NULL;
		if (f)
			hs_table_delete(r->table, f);
	}
}

static void rig_up(struct rig *r, const struct hs_config *config)
{
	struct hs_table_config cfg;

	memset(r, 0, sizeof(*r));
	sc_config(&cfg, 64, config->pickup);
	memcpy(cfg.timeout_ms, config->timeout_ms, sizeof(cfg.timeout_ms));
	r->table = hs_table_create(&cfg, T0);
	assert_non_null(r->table);
	r->engine = hs_policy_engine_create(64, engine_key);
	assert_non_null(r->engine);
	hs_actions_init(&r->actions, NULL, NULL);
	r->actions.want_events = false;
	hs_policy_engine_attach(r->engine, r->table, &r->actions);
	hs_policy_engine_set(r->engine, &config->policies, T0);
}

static void rig_down(struct rig *r)
{
	hs_policy_engine_destroy(r->engine);
	hs_table_destroy(r->table);
}

/* The next packet of one side, through the table and the engine, as the worker does. */
static void feed(struct rig *r, struct sc_conn *c, enum hs_side from, uint8_t flags, uint64_t now)
{
	struct hs_packet pkt;
	struct hs_track_result res;

	sc_conn_packet(c, from, flags, 0, &pkt);
	hs_table_track(r->table, &pkt, now, &res);
	assert_int_equal(hs_policy_engine_packet(r->engine, &pkt, &res, now), HS_VERDICT_ACCEPT);
	carry_out(r);
	assert_int_equal(res.invalid, HS_INVALID_NONE);
	c->next[from] += ((flags & HS_TCP_SYN) ? 1u : 0u) + ((flags & HS_TCP_FIN) ? 1u : 0u);
}

static void open_conn(struct rig *r, struct sc_conn *c, uint64_t now)
{
	feed(r, c, HS_CLIENT, HS_TCP_SYN, now);
	feed(r, c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, now);
	feed(r, c, HS_CLIENT, HS_TCP_ACK, now);
}

/* The shapes a connection is tried in, each ending with its last packet at `now`. */
enum shape { SERVER_CLOSE_WAIT, CLIENT_CLOSE_WAIT, SERVER_SYN_RCVD, OPEN, SHAPE_COUNT };
static const char *const shape_names[SHAPE_COUNT] = {
	"server in CLOSE_WAIT", "client in CLOSE_WAIT", "server in SYN_RCVD", "open",
};

static void build(struct rig *r, struct sc_conn *c, enum shape shape, uint64_t now)
{
	switch (shape) {
	case SERVER_CLOSE_WAIT:     /* the client closed, the server application never did */
		open_conn(r, c, now);
		feed(r, c, HS_CLIENT, HS_TCP_FIN | HS_TCP_ACK, now);
		feed(r, c, HS_SERVER, HS_TCP_ACK, now);
		break;
	case CLIENT_CLOSE_WAIT:
		open_conn(r, c, now);
		feed(r, c, HS_SERVER, HS_TCP_FIN | HS_TCP_ACK, now);
		feed(r, c, HS_CLIENT, HS_TCP_ACK, now);
		break;
	case SERVER_SYN_RCVD:       /* the client never sends its final ACK */
		feed(r, c, HS_CLIENT, HS_TCP_SYN, now);
		feed(r, c, HS_SERVER, HS_TCP_SYN | HS_TCP_ACK, now);
		break;
	case OPEN:
		open_conn(r, c, now);
		break;
	case SHAPE_COUNT:
		break;
	}
}

/*
 * A connection whose addresses and ports the match accepts: the first
 * CIDR and port of each list, or else a default; `variant` picks other
 * defaults, so that a connection an earlier policy would claim can be
 * avoided.  False if the match's families cannot agree.
 */
static bool conn_for(const struct hs_flow_match *m, unsigned variant, struct sc_conn *c)
{
	static const uint16_t ports[] = { 80, 443, 8080, 50000 };
	uint8_t family = variant & 1 ? HS_FAMILY_IPV6 : HS_FAMILY_IPV4;

	if (m->n_src && m->n_dst && m->src[0].family != m->dst[0].family)
		return false;
	if (m->n_src)
		family = m->src[0].family;
	else if (m->n_dst)
		family = m->dst[0].family;
	uint16_t dport = m->n_dst_ports ? m->dst_ports[0].lo : ports[(variant >> 1) % 4];
	uint16_t sport = m->n_src_ports ? m->src_ports[0].lo : 40000;
	sc_conn_init(c, family, 0x010101 + variant, sport, 0x020202 + variant, dport);
	if (m->n_src)
		c->addr[HS_CLIENT] = m->src[0].addr;
	if (m->n_dst)
		c->addr[HS_SERVER] = m->dst[0].addr;
	return true;
}

static uint64_t acted(const struct rig *r, uint32_t index)
{
	const struct hs_policy_counters *c = &hs_policy_engine_counters(r->engine)[index];

	return c->acted + c->dry_run;
}

static void run_clock(struct rig *r, uint64_t from, uint64_t to)
{
	for (uint64_t t = from; t <= to; t += TICK_STEP_MS) {
		hs_table_expire(r->table, t);
		carry_out(r);
	}
}

/*
 * Tries one connection for policy `index`: true if the policy acted on it
 * at its time.  A timeout that forgets the connection before then fails
 * the test; an earlier policy that claims it only makes the try fail.
 */
static bool try_policy(const char *file, const struct hs_config *config, uint32_t index, enum shape shape,
		       unsigned variant)
{
	const struct hs_policy *p = &config->policies.items[index];
	uint32_t threshold = p->match.idle_ms > p->match.state_age_ms ? p->match.idle_ms : p->match.state_age_ms;
	uint32_t before = threshold > 2000 ? threshold - 1000 : threshold / 2;
	struct rig r;
	struct sc_conn c;
	bool ok = false;

	if (!conn_for(&p->match, variant, &c))
		return false;
	rig_up(&r, config);
	build(&r, &c, shape, T0);
	const struct hs_flow *f = sc_conn_lookup(r.table, &c);
	if (f && hs_flow_match_flow(&p->match, f)) {
		run_clock(&r, T0, T0 + before);
		if (hs_table_stats(r.table)->flows_removed[HS_REMOVE_EXPIRED] != 0)
			fail_msg("%s: policy \"%s\" (%s): the connection expired before its %u ms had passed",
				 file, p->name, shape_names[shape], threshold);
		if (acted(&r, index) != 0)
			fail_msg("%s: policy \"%s\" (%s) acted before its %u ms had passed", file, p->name,
				 shape_names[shape], threshold);
		run_clock(&r, T0 + before + TICK_STEP_MS, T0 + threshold + 1000);
		ok = acted(&r, index) == 1;
		if (ok)
			print_message("  %s: \"%s\" acted on a connection (%s) idle %u ms\n", file, p->name,
				      shape_names[shape], threshold);
	}
	rig_down(&r);
	return ok;
}

static bool find_examples_dir(char *out, size_t size)
{
	static const char *const candidates[] = { "conf/examples", "../../conf/examples" };
	struct stat st;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		snprintf(out, size, "%s", candidates[i]);
		if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
			return true;
	}
	const char *slash = strrchr(__FILE__, '/');
	snprintf(out, size, "%.*s/../../conf/examples", slash ? (int)(slash - __FILE__) : 1,
		 slash ? __FILE__ : ".");
	return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

static void check_example(const char *path, unsigned *timed_policies)
{
	struct hs_config config;
	struct hs_diag diag;

	if (hs_config_load(path, &config, &diag) != 0)
		fail_msg("%s does not load:\n%s", path, hs_diag_text(&diag));
	hs_diag_free(&diag);
	for (uint32_t i = 0; i < config.policies.count; i++) {
		if (!hs_policy_is_timed(&config.policies.items[i]))
			continue;
		bool done = false;
		for (int shape = 0; shape < SHAPE_COUNT && !done; shape++)
			for (unsigned variant = 0; variant < 8 && !done; variant++)
				done = try_policy(path, &config, i, (enum shape)shape, variant);
		if (!done)
			fail_msg("%s: timed policy \"%s\" never acted on any connection it matches", path,
				 config.policies.items[i].name);
		(*timed_policies)++;
	}
}

static void test_every_example_acts(void **state)
{
	char dir[600], path[1200];
	struct dirent **entries;
	unsigned files = 0, timed = 0;

	(void)state;
	assert_true(find_examples_dir(dir, sizeof(dir)));
	int n = scandir(dir, &entries, NULL, alphasort);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(entries[i]->d_name);
		if (len > 5 && strcmp(entries[i]->d_name + len - 5, ".yaml") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, entries[i]->d_name);
			check_example(path, &timed);
			files++;
		}
		free(entries[i]);
	}
	free(entries);
	/* The shipped examples: web-server, syn-flood-guard, close-wait-reaper, with four timed policies. */
	assert_true(files >= 3);
	assert_true(timed >= 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_example_acts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
