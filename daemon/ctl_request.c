/*
 * ctl_request: parses the control socket's request language (see
 * hs_ctl_request.h) from words.  Every option takes its value as the next
 * word or after '=' (--state=CLOSE_WAIT); every value is checked by the
 * parser of its type that the configuration uses too (states, CIDRs, port
 * ranges, durations), and every refusal names the option and the value.
 */
#include "hs_ctl_request.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hs_did_you_mean.h"
#include "hs_match_values.h"
#include "hs_tcp_state.h"

const char hs_ctl_usage[] =
	"  list    [FILTERS] [--sort idle|age|packets|bytes] [--limit N] [--json]\n"
	"  count   [FILTERS] [--json]\n"
	"  summary [FILTERS] [--json]\n"
	"  top     [FILTERS] [--by remote|local|client|server|src|dst|dport] [--limit N] [--json]\n"
	"  watch   [FILTERS] [--json]\n"
	"  kill    ID... [FILTERS] [--dry-run] [--json]\n"
	"  kill    FILTERS --all [--dry-run] [--json]\n"
	"  stats   [--json]\n"
	"  metrics\n"
	"  reload\n"
	"  save\n"
	"  ping\n"
	"FILTERS (all must hold; an option given again means \"any of\"):\n"
	"  --state S  --client-state S  --server-state S  --local-state S  --remote-state S\n"
	"  --src CIDR  --dst CIDR  --addr CIDR  --sport P  --dport P  --port P  (P: 80 or 8000-8080)\n"
	"  --family 4|6  --id N  --idle-over DURATION  --age-over DURATION  (500ms 30s 5m 2h 1d)\n";

static const char *const verb_names[HS_CTL_VERB_COUNT] = {
	[HS_CTL_LIST] = "list", [HS_CTL_COUNT] = "count", [HS_CTL_SUMMARY] = "summary", [HS_CTL_TOP] = "top",
	[HS_CTL_WATCH] = "watch", [HS_CTL_KILL] = "kill", [HS_CTL_STATS] = "stats", [HS_CTL_METRICS] = "metrics",
	[HS_CTL_RELOAD] = "reload", [HS_CTL_SAVE] = "save", [HS_CTL_PING] = "ping",
};

const char *hs_ctl_verb_name(enum hs_ctl_verb verb)
{
	return (unsigned)verb < HS_CTL_VERB_COUNT ? verb_names[verb] : "unknown";
}

/* Which commands take which options. */
#define ON_FILTERS (1u << HS_CTL_LIST | 1u << HS_CTL_COUNT | 1u << HS_CTL_SUMMARY | 1u << HS_CTL_TOP | \
		    1u << HS_CTL_WATCH | 1u << HS_CTL_KILL)
#define ON_JSON (ON_FILTERS | 1u << HS_CTL_STATS)

/* What is being parsed: the request, the command's name and where to say what went wrong. */
struct parser {
	struct hs_ctl_request *req;
	const char *verb;
	char *err;
	size_t errlen;
};

static bool fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "%s: ", p->verb);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* ---- values ---- */

static bool parse_state(struct parser *p, const char *opt, const char *text, struct hs_state_set *set)
{
	const char *names[HS_TCP_STATE_COUNT];
	char hint[96], norm[HS_SUGGEST_MAX_LEN + 1];
	int state = hs_tcp_state_parse(text);

	if (state >= 0) {
		hs_state_set_add(set, state);
		return true;
	}
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
		names[s] = hs_tcp_state_name((enum hs_tcp_state)s);
	/* Suggest from the spelling hs_tcp_state_parse compares: "close-wait" is CLOSE_WAIT. */
	size_t len = strlen(text);
	const char *guess = NULL;
	if (len < sizeof(norm)) {
		for (size_t i = 0; i <= len; i++)
			norm[i] = text[i] == '-' ? '_' : text[i];
		guess = hs_suggest(norm, len, names, HS_TCP_STATE_COUNT);
	}
	if (guess)
		return fail(p, "%s: unknown state \"%s\"%s", opt, text, hs_did_you_mean(hint, sizeof(hint), guess));
	return fail(p, "%s: unknown state \"%s\" (one of CLOSED, LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, FIN_WAIT_1, "
		    "FIN_WAIT_2, CLOSING, TIME_WAIT, CLOSE_WAIT, LAST_ACK)", opt, text);
}

static bool parse_cidr(struct parser *p, const char *opt, const char *text, struct hs_cidr *list, uint8_t *n)
{
	struct hs_cidr c;

	if (*n == HS_MATCH_LIST_MAX)
		return fail(p, "%s: at most %d of them", opt, HS_MATCH_LIST_MAX);
	switch (hs_cidr_parse(text, strlen(text), &c)) {
	case HS_CIDR_OK:
	case HS_CIDR_HOST_BITS:     /* 10.0.1.2/24 selects 10.0.1.0/24: a filter, not a configuration */
		list[(*n)++] = c;
		return true;
	case HS_CIDR_PREFIX:
		return fail(p, "%s: \"%s\": the prefix length is more than the address has bits (32 or 128)", opt, text);
	case HS_CIDR_SYNTAX:
		break;
	}
	return fail(p, "%s: \"%s\" is not an address or CIDR (such as 10.0.0.1, 10.0.0.0/8 or fd00::/8)", opt, text);
}

static bool parse_port(struct parser *p, const char *opt, const char *text, struct hs_port_range *list, uint8_t *n)
{
	struct hs_port_range r;

	if (*n == HS_MATCH_LIST_MAX)
		return fail(p, "%s: at most %d of them", opt, HS_MATCH_LIST_MAX);
	switch (hs_port_range_parse(text, strlen(text), &r)) {
	case HS_PORT_OK:
		list[(*n)++] = r;
		return true;
	case HS_PORT_RANGE:
		return fail(p, "%s: \"%s\": ports go from 1 to 65535", opt, text);
	case HS_PORT_REVERSED:
		return fail(p, "%s: \"%s\": the range ends before it starts", opt, text);
	case HS_PORT_SYNTAX:
		break;
	}
	return fail(p, "%s: \"%s\" is not a port or range (such as 80 or 8000-8080)", opt, text);
}

static bool parse_count(struct parser *p, const char *opt, const char *text, uint64_t max, uint64_t *out)
{
	size_t len = strlen(text);

	if (!hs_all_digits(text, len) || !hs_parse_decimal(text, len, max, out) || *out == 0)
		return fail(p, "%s: \"%s\" is not a number from 1 to %llu", opt, text, (unsigned long long)max);
	return true;
}

static bool parse_id(struct parser *p, const char *opt, const char *text)
{
	struct hs_flow_match *m = &p->req->match;
	uint64_t id;
	size_t len = strlen(text);

	if (!hs_all_digits(text, len) || !hs_parse_decimal(text, len, UINT32_MAX, &id) || id == 0)
		return fail(p, "%s\"%s\" is not a flow id (a positive number from list)", opt, text);
	if (m->n_ids == HS_MATCH_LIST_MAX)
		return fail(p, "at most %d flow ids", HS_MATCH_LIST_MAX);
	m->ids[m->n_ids++] = (uint32_t)id;
	return true;
}

static bool parse_duration(struct parser *p, const char *opt, const char *text, uint64_t max, uint64_t *out)
{
	switch (hs_duration_parse(text, out)) {
	case HS_DURATION_OK:
		if (*out == 0)
			return fail(p, "%s: \"%s\": give a duration above zero", opt, text);
		if (*out > max)
			return fail(p, "%s: \"%s\" is too long (at most %llu days)", opt, text,
				    (unsigned long long)(max / 86400000u));
		return true;
	case HS_DURATION_NEGATIVE:
		return fail(p, "%s: \"%s\": a duration cannot be negative", opt, text);
	case HS_DURATION_OVERFLOW:
		return fail(p, "%s: \"%s\" is too long", opt, text);
	case HS_DURATION_INVALID:
		break;
	}
	return fail(p, "%s: \"%s\" is not a duration (such as 500ms, 30s, 5m, 2h or 1d)", opt, text);
}

static bool parse_family(struct parser *p, const char *opt, const char *text)
{
	if (strcmp(text, "4") == 0 || strcmp(text, "ipv4") == 0 || strcmp(text, "inet") == 0)
		p->req->match.families |= HS_FAMILY_BIT_IPV4;
	else if (strcmp(text, "6") == 0 || strcmp(text, "ipv6") == 0 || strcmp(text, "inet6") == 0)
		p->req->match.families |= HS_FAMILY_BIT_IPV6;
	else
		return fail(p, "%s: \"%s\" is not a family (4 or 6)", opt, text);
	return true;
}

/* A name from a list, for --sort and --by: its number, from first on. */
static bool parse_name(struct parser *p, const char *opt, const char *text, const char *(*name_of)(int),
		       int first, int count, const char *what, int *out)
{
	char all[160];
	size_t used = 0;

	for (int i = first; i < count; i++) {
		if (strcmp(text, name_of(i)) == 0) {
			*out = i;
			return true;
		}
		used += (size_t)snprintf(all + used, sizeof(all) - used, "%s%s", i == first ? "" : i + 1 == count ? " or " : ", ",
					 name_of(i));
		if (used >= sizeof(all))
			used = sizeof(all) - 1;
	}
	return fail(p, "%s: \"%s\" is not %s (%s)", opt, text, what, all);
}

static const char *sort_name(int i)
{
	return hs_flow_sort_name((enum hs_flow_sort)i);
}

static const char *group_name(int i)
{
	return hs_group_by_name((enum hs_group_by)i);
}

/* ---- options ---- */

enum option_kind {
	OPT_STATE, OPT_CLIENT_STATE, OPT_SERVER_STATE, OPT_LOCAL_STATE, OPT_REMOTE_STATE,
	OPT_SRC, OPT_DST, OPT_ADDR, OPT_SPORT, OPT_DPORT, OPT_PORT, OPT_FAMILY, OPT_ID, OPT_IDLE_OVER, OPT_AGE_OVER,
	OPT_JSON, OPT_SORT, OPT_LIMIT, OPT_BY, OPT_ALL, OPT_DRY_RUN,
};

struct option {
	const char *name;
	enum option_kind kind;
	const char *value;          /* what its value is ("state"), NULL if it takes none */
	unsigned verbs;             /* bits (1 << enum hs_ctl_verb) that accept it */
};

static const struct option options[] = {
	{ "--state", OPT_STATE, "state", ON_FILTERS },
	{ "--client-state", OPT_CLIENT_STATE, "state", ON_FILTERS },
	{ "--server-state", OPT_SERVER_STATE, "state", ON_FILTERS },
	{ "--local-state", OPT_LOCAL_STATE, "state", ON_FILTERS },
	{ "--remote-state", OPT_REMOTE_STATE, "state", ON_FILTERS },
	{ "--src", OPT_SRC, "address", ON_FILTERS },
	{ "--dst", OPT_DST, "address", ON_FILTERS },
	{ "--addr", OPT_ADDR, "address", ON_FILTERS },
	{ "--sport", OPT_SPORT, "port", ON_FILTERS },
	{ "--dport", OPT_DPORT, "port", ON_FILTERS },
	{ "--port", OPT_PORT, "port", ON_FILTERS },
	{ "--family", OPT_FAMILY, "family", ON_FILTERS },
	{ "--id", OPT_ID, "flow id", ON_FILTERS },
	{ "--idle-over", OPT_IDLE_OVER, "duration", ON_FILTERS },
	{ "--age-over", OPT_AGE_OVER, "duration", ON_FILTERS },
	{ "--json", OPT_JSON, NULL, ON_JSON },
	{ "--sort", OPT_SORT, "sort order", 1u << HS_CTL_LIST },
	{ "--limit", OPT_LIMIT, "number", 1u << HS_CTL_LIST | 1u << HS_CTL_TOP },
	{ "--by", OPT_BY, "key", 1u << HS_CTL_TOP },
	{ "--all", OPT_ALL, NULL, 1u << HS_CTL_KILL },
	{ "--dry-run", OPT_DRY_RUN, NULL, 1u << HS_CTL_KILL },
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

/* Options that may be given once only, by kind: a second --limit is a mistake, not "any of". */
static bool once(struct parser *p, const char *opt, bool *seen)
{
	if (*seen)
		return fail(p, "%s given twice", opt);
	*seen = true;
	return true;
}

struct seen {
	bool sort, limit, by, idle, age;
};

static bool apply_filter(struct parser *p, const struct option *o, const char *v, struct seen *seen)
{
	struct hs_flow_match *m = &p->req->match;
	uint64_t ms;

	p->req->filtered |= o->kind != OPT_ID;
	switch (o->kind) {
	case OPT_STATE:
		return parse_state(p, o->name, v, &m->state);
	case OPT_CLIENT_STATE:
		return parse_state(p, o->name, v, &m->client_state);
	case OPT_SERVER_STATE:
		return parse_state(p, o->name, v, &m->server_state);
	case OPT_LOCAL_STATE:
		return parse_state(p, o->name, v, &m->local_state);
	case OPT_REMOTE_STATE:
		return parse_state(p, o->name, v, &m->remote_state);
	case OPT_SRC:
		return parse_cidr(p, o->name, v, m->src, &m->n_src);
	case OPT_DST:
		return parse_cidr(p, o->name, v, m->dst, &m->n_dst);
	case OPT_ADDR:
		return parse_cidr(p, o->name, v, m->addr, &m->n_addr);
	case OPT_SPORT:
		return parse_port(p, o->name, v, m->src_ports, &m->n_src_ports);
	case OPT_DPORT:
		return parse_port(p, o->name, v, m->dst_ports, &m->n_dst_ports);
	case OPT_PORT:
		return parse_port(p, o->name, v, m->ports, &m->n_ports);
	case OPT_FAMILY:
		return parse_family(p, o->name, v);
	case OPT_ID:
		return parse_id(p, "--id: ", v);
	case OPT_IDLE_OVER:
		if (!once(p, o->name, &seen->idle) || !parse_duration(p, o->name, v, UINT32_MAX, &ms))
			return false;
		m->idle_ms = (uint32_t)ms;
		return true;
	case OPT_AGE_OVER:
		if (!once(p, o->name, &seen->age) || !parse_duration(p, o->name, v, UINT32_MAX * 1000ull, &ms))
			return false;
		m->flow_age_ms = ms;
		return true;
	default:
		return false;
	}
}

static bool apply(struct parser *p, const struct option *o, const char *v, struct seen *seen)
{
	struct hs_ctl_request *r = p->req;
	uint64_t n = 0;
	int i = 0;

	switch (o->kind) {
	case OPT_JSON:
		r->json = true;
		return true;
	case OPT_ALL:
		r->all = true;
		return true;
	case OPT_DRY_RUN:
		r->dry_run = true;
		return true;
	case OPT_SORT:
		if (!once(p, o->name, &seen->sort) ||
		    !parse_name(p, o->name, v, sort_name, HS_SORT_IDLE, HS_SORT_COUNT, "a sort order", &i))
			return false;
		r->sort = (enum hs_flow_sort)i;
		return true;
	case OPT_LIMIT:
		if (!once(p, o->name, &seen->limit) || !parse_count(p, o->name, v, HS_CTL_LIMIT_MAX, &n))
			return false;
		r->limit = (uint32_t)n;
		return true;
	case OPT_BY:
		if (!once(p, o->name, &seen->by) ||
		    !parse_name(p, o->name, v, group_name, 0, HS_GROUP_BY_COUNT, "a key", &i))
			return false;
		r->by = (enum hs_group_by)i;
		return true;
	default:
		return apply_filter(p, o, v, seen);
	}
}

/* The option a word names ("--state" or "--state=..."), with *value set for the second form. */
static const struct option *find_option(const char *word, const char **value)
{
	size_t len = strcspn(word, "=");

	*value = word[len] == '=' ? word + len + 1 : NULL;
	for (size_t i = 0; i < OPTION_COUNT; i++)
		if (strlen(options[i].name) == len && strncmp(options[i].name, word, len) == 0)
			return &options[i];
	return NULL;
}

static bool unknown_option(struct parser *p, const char *word)
{
	const char *names[OPTION_COUNT];
	char hint[96];
	size_t len = strcspn(word, "=");

	for (size_t i = 0; i < OPTION_COUNT; i++)
		names[i] = options[i].name;
	const char *guess = len <= HS_SUGGEST_MAX_LEN ? hs_suggest(word, len, names, OPTION_COUNT) : NULL;
	return fail(p, "unknown option \"%.*s\"%s", (int)len, word, hs_did_you_mean(hint, sizeof(hint), guess));
}

/* The checks that need every option: what kill may be asked. */
static bool check_request(struct parser *p)
{
	struct hs_ctl_request *r = p->req;

	if (r->verb != HS_CTL_KILL)
		return true;
	if (r->match.n_ids == 0 && !r->filtered)
		return fail(p, "name the flows to reset: IDs from list, or filters with --all "
			    "(kill refuses to reset every flow)");
	if (r->match.n_ids == 0 && !r->all && !r->dry_run)
		return fail(p, "filters select every flow that matches: add --all to reset them all "
			    "(or --dry-run to see which)");
	return true;
}

bool hs_ctl_request_parse(struct hs_ctl_request *req, int argc, char *const argv[], char *err, size_t errlen)
{
	struct parser p = { req, argc > 0 ? argv[0] : "", err, errlen };
	struct seen seen = { false, false, false, false, false };
	int v;

	memset(req, 0, sizeof(*req));
	hs_flow_match_init(&req->match);
	if (argc < 1) {
		snprintf(err, errlen, "no command");
		return false;
	}
	for (v = 0; v < HS_CTL_VERB_COUNT && strcmp(argv[0], verb_names[v]) != 0; v++)
		;
	if (v == HS_CTL_VERB_COUNT) {
		char hint[96];
		const char *guess = hs_suggest(argv[0], strlen(argv[0]), verb_names, HS_CTL_VERB_COUNT);
		snprintf(err, errlen, "unknown command \"%s\"%s", argv[0], hs_did_you_mean(hint, sizeof(hint), guess));
		return false;
	}
	req->verb = (enum hs_ctl_verb)v;
	for (int i = 1; i < argc; i++) {
		const char *word = argv[i], *value;

		/* kill's ids; "-5" is a bad id rather than an unknown option. */
		if (req->verb == HS_CTL_KILL && (word[0] != '-' || isdigit((unsigned char)word[1]))) {
			if (!parse_id(&p, "", word))
				return false;
			continue;
		}
		const struct option *o = word[0] == '-' ? find_option(word, &value) : NULL;
		if (!o && word[0] == '-')
			return unknown_option(&p, word);
		if (!o)
			return fail(&p, "unexpected argument \"%s\"", word);
		if (!(o->verbs & (1u << req->verb)))
			return fail(&p, "%s does not apply to %s", o->name, verb_names[req->verb]);
		if (!o->value && value)
			return fail(&p, "%s takes no value", o->name);
		if (o->value && !value) {
			if (i + 1 == argc)
				return fail(&p, "no %s after \"%s\"", o->value, o->name);
			value = argv[++i];
		}
		if (!apply(&p, o, value, &seen))
			return false;
	}
	if (req->verb == HS_CTL_TOP && req->limit == 0)
		req->limit = HS_CTL_TOP_DEFAULT_LIMIT;
	return check_request(&p);
}
