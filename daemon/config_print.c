/*
 * config_print: the effective configuration as YAML (`handshaked -t -v`).
 * It owns writing a loaded configuration back out with every default
 * filled in, in the shipped file's order, so that an operator sees exactly
 * what the daemon would run with, and so that the output loads again into
 * the same configuration (the unit tests hold it to that).
 */
#include "hs_config_print.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "hs_config_policy.h"
#include "hs_match_values.h"

/* The largest unit that divides the duration exactly: "5d", "90s", "1500ms". */
static const char *duration_text(char *buf, size_t size, uint64_t ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "d", 86400000u }, { "h", 3600000u }, { "m", 60000u }, { "s", 1000u } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, size, "%" PRIu64 "%s", ms / units[i].ms, units[i].unit);
			return buf;
		}
	}
	snprintf(buf, size, "%" PRIu64 "ms", ms);
	return buf;
}

static const char *bool_text(bool value)
{
	return value ? "true" : "false";
}

/*
 * A path or address as a double-quoted YAML scalar.  The loader refuses
 * control characters in paths, so only quotes and backslashes need escaping.
 */
static void print_quoted(FILE *out, const char *text)
{
	fputc('"', out);
	for (const char *p = text; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void print_words(FILE *out, const char *key, const char (*words)[16], unsigned n)
{
	fprintf(out, "  %s: [", key);
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", words[i]);
	fputs("]\n", out);
}

static void print_daemon_sections(FILE *out, const struct hs_config *c)
{
	char buf[32];

	fputs("queue:\n", out);
	if (c->queue_first == c->queue_last)
		fprintf(out, "  num: %u\n", c->queue_first);
	else
		fprintf(out, "  num: \"%u-%u\"\n", c->queue_first, c->queue_last);
	fprintf(out, "  fail_open: %s\n  copy_range: %u\n  maxlen: %u\n  own_mark: 0x%x\n",
		bool_text(c->fail_open), c->copy_range, c->queue_maxlen, c->own_mark);
	fputs("control:\n  socket: ", out);
	print_quoted(out, c->control_socket);
	fprintf(out, "\nlog:\n  level: %s\n  events: ", hs_config_level_names[c->log_level]);
	if (c->events_mode == HS_EVENTS_FILE)
		print_quoted(out, c->events_path);
	else
		fputs(c->events_mode == HS_EVENTS_OFF ? "off" : "stderr", out);
	fputs("\n  pcap: ", out);
	if (c->drop_pcap_path[0])
		print_quoted(out, c->drop_pcap_path);
	else
		fputs("off", out);
	fprintf(out, "\n  pcap_max_mb: %u", c->drop_pcap_max_mb);
	fprintf(out, "\ntable:\n  max_flows: %u\n  pickup: %s\n  strict: %s\n  timeouts:\n", c->max_flows,
		bool_text(c->pickup), bool_text(c->strict));
	for (int i = 0; i < HS_TIMEOUT_CLASS_COUNT; i++)
		fprintf(out, "    %s: %s\n", hs_timeout_class_name((enum hs_timeout_class)i),
			duration_text(buf, sizeof(buf), c->timeout_ms[i]));
	fputs("rules:\n  chains: [", out);
	for (unsigned i = 0; i < c->rules_nchains; i++)
		fprintf(out, "%s%s", i ? ", " : "", c->rules_chains[i]);
	fputs("]\n", out);
	print_words(out, "in_interfaces", c->rules_in_interfaces, c->rules_n_in);
	print_words(out, "out_interfaces", c->rules_out_interfaces, c->rules_n_out);
	fprintf(out, "  families: [%s%s%s]\n", c->rules_ipv4 ? "ipv4" : "",
		c->rules_ipv4 && c->rules_ipv6 ? ", " : "", c->rules_ipv6 ? "ipv6" : "");
	fprintf(out, "  include_loopback: %s\n", bool_text(c->rules_include_loopback));
	fputs("metrics:\n  listen: ", out);
	if (c->metrics_listen[0])
		print_quoted(out, c->metrics_listen);
	else
		fputs("off", out);
	fputs("\nstate:\n  dir: ", out);
	if (c->state_dir[0])
		print_quoted(out, c->state_dir);
	else
		fputs("off", out);
	fprintf(out, "\n  interval: %s\n", c->state_interval_ms ? duration_text(buf, sizeof(buf), c->state_interval_ms)
								: "off");
	fprintf(out, "  max_age: %s\n", duration_text(buf, sizeof(buf), c->state_max_age_ms));
}

/* Starts the next entry of a flow mapping: ", " before every entry but the first. */
static void next_entry(FILE *out, bool *first)
{
	if (!*first)
		fputs(", ", out);
	*first = false;
}

static void print_cidrs(FILE *out, bool *first, const char *key, const struct hs_cidr *list, unsigned n)
{
	char buf[80];

	if (n == 0)
		return;
	next_entry(out, first);
	fprintf(out, "%s: [", key);
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s\"%s\"", i ? ", " : "", hs_cidr_format(buf, sizeof(buf), &list[i]));
	fputc(']', out);
}

static void print_ports(FILE *out, bool *first, const char *key, const struct hs_port_range *list, unsigned n)
{
	char buf[16];

	if (n == 0)
		return;
	next_entry(out, first);
	fprintf(out, "%s: [", key);
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? ", " : "", hs_port_range_format(buf, sizeof(buf), &list[i]));
	fputc(']', out);
}

static void print_duration(FILE *out, bool *first, const char *key, uint32_t ms)
{
	char buf[32];

	if (ms == 0)
		return;
	next_entry(out, first);
	fprintf(out, "%s: %s", key, duration_text(buf, sizeof(buf), ms));
}

/* The match as a flow mapping, the keys present in the language's order; {} matches everything. */
static void print_match(FILE *out, const struct hs_flow_match *m)
{
	static const char *const state_keys[] = { "state", "client_state", "server_state", "local_state",
						   "remote_state" };
	const struct hs_state_set states[] = { m->state, m->client_state, m->server_state, m->local_state,
					       m->remote_state };
	char names[HS_STATE_SET_TEXT_MAX];
	bool first = true;

	fputs("    match: {", out);
	/* The language gives each state key one state, so a set here holds one name. */
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		if (!states[i].bits)
			continue;
		next_entry(out, &first);
		fprintf(out, "%s: %s", state_keys[i], hs_state_set_format(names, sizeof(names), states[i]));
	}
	print_cidrs(out, &first, "src", m->src, m->n_src);
	print_cidrs(out, &first, "dst", m->dst, m->n_dst);
	print_ports(out, &first, "src_port", m->src_ports, m->n_src_ports);
	print_ports(out, &first, "dst_port", m->dst_ports, m->n_dst_ports);
	print_duration(out, &first, "idle", m->idle_ms);
	print_duration(out, &first, "age", m->state_age_ms);
	fputs("}\n", out);
}

static void print_policy(FILE *out, const struct hs_policy *p)
{
	fprintf(out, "  - name: %s\n", p->name);
	print_match(out, &p->match);
	if (p->has_limit)
		fprintf(out, "    limit: {max: %u, per: %s}\n", p->limit_max, hs_policy_scope_names[p->limit_per]);
	if (p->has_rate)
		fprintf(out, "    rate: {syn_per_second: %u, burst: %u, per: %s}\n", p->rate_per_second,
			p->rate_burst ? p->rate_burst : p->rate_per_second, hs_policy_scope_names[p->rate_per]);
	fprintf(out, "    action: %s\n    dry_run: %s\n", hs_policy_action_name(p->action), bool_text(p->dry_run));
}

void hs_config_print(FILE *out, const struct hs_config *config)
{
	fputs("# handshaked effective configuration: every default filled in\n", out);
	print_daemon_sections(out, config);
	if (config->policies.count == 0) {
		fputs("policies: []\n", out);
		return;
	}
	fputs("policies:\n", out);
	for (uint32_t i = 0; i < config->policies.count; i++)
		print_policy(out, &config->policies.items[i]);
}
