/*
 * replay_report: the report of a replay (hs_replay_report.h).  Names of
 * addresses, states and policies need no JSON escaping (the loader keeps
 * policy names to letters, digits and -_.), so plain printf suffices, as in
 * flow_json.c.
 */
#include "hs_replay_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hs_flow_json.h"

/* Text lines of actions shown before "... and N more"; JSON has them all. */
#define TEXT_ACTIONS_MAX 50u

void hs_replay_actions_add(struct hs_replay_actions *list, uint64_t ms, uint32_t policy, const struct hs_flow *flow)
{
	if (list->n == list->capacity) {
		size_t grown = list->capacity ? list->capacity * 2 : 64;
		struct hs_replay_action *items = NULL;
		if (list->n < HS_REPLAY_ACTIONS_MAX)
			items = realloc(list->items, grown * sizeof(*items));
		if (!items) {
			list->left_out++;
			return;
		}
		list->items = items;
		list->capacity = grown;
	}
	struct hs_replay_action *a = &list->items[list->n++];
	a->ms = ms;
	a->policy = policy;
	hs_flow_copy(&a->copy, flow);
}

void hs_replay_actions_free(struct hs_replay_actions *list)
{
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* ---- the table ---- */

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

static void print_table(const struct hs_replay_report *rep, bool json, FILE *out)
{
	char line[HS_FLOW_JSON_MAX + 2];
	uint32_t live = rep->table ? hs_table_stats(rep->table)->live : 0;
	struct flow_list list = { calloc(live ? live : 1, sizeof(*list.items)), 0 };

	if (!json && hs_flow_text_header(line, sizeof(line)))
		fprintf(out, "%s\n", line);
	if (!list.items)
		return;
	if (rep->table)
		hs_table_foreach(rep->table, collect, &list);
	qsort(list.items, list.n, sizeof(*list.items), by_id);
	for (size_t i = 0; i < list.n; i++) {
		size_t len = json ? hs_flow_json(line, sizeof(line), rep->table, list.items[i], rep->now)
				  : hs_flow_text(line, sizeof(line), rep->table, list.items[i], rep->now);
		if (len)
			fprintf(out, "%s\n", line);
	}
	free(list.items);
}

/* ---- the summary ---- */

static const struct hs_table_stats no_table_stats;

static const struct hs_table_stats *table_stats(const struct hs_replay_report *rep)
{
	return rep->table ? hs_table_stats(rep->table) : &no_table_stats;
}

static uint64_t sum(const uint64_t *counts, int first, int n)
{
	uint64_t total = 0;

	for (int i = first; i < n; i++)
		total += counts[i];
	return total;
}

static double seconds(uint64_t us)
{
	return (double)us / 1e6;
}

/* The policy's counters; zeros before the first packet. */
static struct hs_policy_counters counters_of(const struct hs_replay_report *rep, uint32_t i)
{
	struct hs_policy_counters none = { 0 };

	return rep->counters ? rep->counters[i] : none;
}

/* "10.0.1.2:51444" or "[fd00::2]:443" */
static void endpoint(char *buf, size_t size, const struct hs_flow *f, enum hs_side side)
{
	char addr[64];

	struct hs_addr a = hs_flow_addr(f, side);

	hs_addr_format(&a, hs_flow_family(f), addr, sizeof(addr));
	snprintf(buf, size, hs_flow_family(f) == HS_FAMILY_IPV6 ? "[%s]:%u" : "%s:%u", addr, hs_flow_port(f, side));
}

static void print_actions_text(const struct hs_replay_report *rep, FILE *out)
{
	const struct hs_replay_actions *acts = rep->actions;
	char client[80], server[80];

	if (!acts || acts->n + acts->left_out == 0)
		return;
	fprintf(out, "would have acted (dry run):\n");
	for (size_t i = 0; i < acts->n && i < TEXT_ACTIONS_MAX; i++) {
		const struct hs_replay_action *a = &acts->items[i];
		const struct hs_policy *p = &rep->policies->items[a->policy];
		endpoint(client, sizeof(client), &a->flow, HS_CLIENT);
		endpoint(server, sizeof(server), &a->flow, HS_SERVER);
		fprintf(out, "  %.3f %s: %s flow %" PRIu32 " %s %s -> %s %s\n", (double)a->ms / 1000.0, p->name,
			hs_policy_action_name(p->action), a->flow.id, client, hs_tcp_state_name(a->flow.state[HS_CLIENT]),
			server, hs_tcp_state_name(a->flow.state[HS_SERVER]));
	}
	uint64_t more = acts->n > TEXT_ACTIONS_MAX ? acts->n - TEXT_ACTIONS_MAX : 0;
	if (more + acts->left_out)
		fprintf(out, "  ... and %" PRIu64 " more (--json or --events shows them)\n", more + acts->left_out);
}

static void print_summary_text(const struct hs_replay_report *rep, FILE *out)
{
	const struct hs_replay_stats *s = rep->stats;
	const struct hs_table_stats *t = table_stats(rep);

	fprintf(out, "\ncapture: %" PRIu64 " packets, link type %s, %.6f to %.6f (%.3f s)\n", s->records,
		rep->link_name, seconds(s->first_us), seconds(s->last_us), seconds(s->last_us - s->first_us));
	fprintf(out, "packets: %" PRIu64 " tcp, %" PRIu64 " not ip, %" PRIu64 " not tcp, %" PRIu64
		" fragments, %" PRIu64 " malformed, %" PRIu64 " invalid tcp\n",
		s->tcp, s->records - s->link[HS_LINK_IP], s->not_tcp, s->fragments,
		sum(s->parse_errors, HS_PARSE_EMPTY, HS_PARSE_RESULT_COUNT), sum(t->invalid, 1, HS_INVALID_REASON_COUNT));
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
	for (uint32_t i = 0; i < rep->policies->count; i++) {
		const struct hs_policy *p = &rep->policies->items[i];
		struct hs_policy_counters c = counters_of(rep, i);
		fprintf(out, "policy %s (%s): would have acted %" PRIu64 " times", p->name,
			hs_policy_action_name(p->action), c.dry_run + c.acted);
		if (p->action == HS_ACTION_VERIFY)
			fprintf(out, " (SYNs refused), %" PRIu64 " SYNs verified", c.verified);
		fputc('\n', out);
	}
	print_actions_text(rep, out);
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

static void print_policies_json(const struct hs_replay_report *rep, FILE *out)
{
	char flow[HS_FLOW_JSON_MAX];

	fputs(",\"policies\":[", out);
	for (uint32_t i = 0; i < rep->policies->count; i++) {
		const struct hs_policy *p = &rep->policies->items[i];
		struct hs_policy_counters c = counters_of(rep, i);
		fprintf(out, "%s{\"name\":\"%s\",\"action\":\"%s\",\"would_act\":%" PRIu64 ",\"verified\":%" PRIu64
			",\"refused\":%" PRIu64 "}",
			i ? "," : "", p->name, hs_policy_action_name(p->action), c.dry_run + c.acted, c.verified, c.refused);
	}
	fputs("],\"actions\":[", out);
	for (size_t i = 0; rep->actions && i < rep->actions->n; i++) {
		const struct hs_replay_action *a = &rep->actions->items[i];
		const struct hs_policy *p = &rep->policies->items[a->policy];
		if (!hs_flow_json(flow, sizeof(flow), rep->table, &a->flow, a->ms))
			continue;
		fprintf(out, "%s{\"ts\":%.3f,\"policy\":\"%s\",\"action\":\"%s\",\"flow\":%s}", i ? "," : "",
			(double)a->ms / 1000.0, p->name, hs_policy_action_name(p->action), flow);
	}
	fprintf(out, "],\"actions_left_out\":%" PRIu64, rep->actions ? rep->actions->left_out : 0);
}

static void print_summary_json(const struct hs_replay_report *rep, FILE *out)
{
	const struct hs_replay_stats *s = rep->stats;
	const struct hs_table_stats *t = table_stats(rep);

	fprintf(out, "{\"summary\":{\"packets\":%" PRIu64 ",\"link_type\":\"%s\",\"first_ts\":%.6f,\"last_ts\":%.6f"
		",\"tcp\":%" PRIu64 ",\"not_tcp\":%" PRIu64 ",\"fragments\":%" PRIu64,
		s->records, rep->link_name, seconds(s->first_us), seconds(s->last_us), s->tcp, s->not_tcp, s->fragments);
	print_counts_json(out, "link", s->link, HS_LINK_NOT_IP, HS_LINK_RESULT_COUNT, link_name);
	print_counts_json(out, "malformed", s->parse_errors, HS_PARSE_EMPTY, HS_PARSE_RESULT_COUNT, parse_name);
	print_counts_json(out, "invalid", t->invalid, 1, HS_INVALID_REASON_COUNT, invalid_name);
	fprintf(out, ",\"flows\":{\"created\":%" PRIu64 ",\"live\":%u,\"half_open\":%u,\"expired\":%" PRIu64
		",\"evicted\":%" PRIu64 ",\"reopened\":%" PRIu64 ",\"untracked_table_full\":%" PRIu64 "}",
		t->flows_created, t->live, t->live_half_open, t->flows_removed[HS_REMOVE_EXPIRED],
		t->flows_removed[HS_REMOVE_EVICTED], t->restarts, t->untracked_table_full);
	fprintf(out, ",\"would_drop\":{\"strict_invalid\":%" PRIu64 ",\"strict_malformed\":%" PRIu64 "}",
		s->would_drop_invalid, s->would_drop_malformed);
	fprintf(out, ",\"clock\":{\"backwards\":%" PRIu64 ",\"jumps\":%" PRIu64 "}", s->clock_backwards,
		s->clock_jumps);
	print_policies_json(rep, out);
	fputs("}}\n", out);
}

void hs_replay_report_print(const struct hs_replay_report *rep, bool json, FILE *out)
{
	print_table(rep, json, out);
	if (json)
		print_summary_json(rep, out);
	else
		print_summary_text(rep, out);
}
