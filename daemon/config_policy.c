/*
 * config_policy: the policy language's syntax, the `policies:` list of
 * handshaked.yaml.  It owns the keys of a policy and of its match, limit
 * and rate mappings, their values, and the checks that span keys of one
 * policy; policy_check.c then looks at the set as a whole.
 */
#include "hs_config_policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hs_did_you_mean.h"
#include "hs_match_values.h"
#include "hs_policy_check.h"

/*
 * Policies are a list of small mappings with nested mappings of their own,
 * so they get their own walk rather than a place in sections[]: the keys
 * differ per nesting level, several checks span keys (verify needs a
 * limit, a policy is admission or timed but not both), and the set as a
 * whole is checked for policies that can never act.  Messages name a policy
 * by its name when it has a valid one, which is what an operator searches
 * the file for, and by its position otherwise.
 */

/* Bounds for limit.max and the rate's numbers. */
#define POLICY_LIMIT_MAX HS_TABLE_MAX_FLOWS     /* no table holds more flows than this */
#define POLICY_RATE_MAX 1000000u                /* SYNs per second; far above any real service */

enum policy_section { PSEC_POLICY, PSEC_MATCH, PSEC_LIMIT, PSEC_RATE, PSEC_COUNT };

enum { PK_NAME, PK_MATCH, PK_ACTION, PK_LIMIT, PK_RATE, PK_DRY_RUN, PK_COUNT };
enum { MK_STATE, MK_CLIENT_STATE, MK_SERVER_STATE, MK_LOCAL_STATE, MK_REMOTE_STATE, MK_SRC, MK_DST,
       MK_SRC_PORT, MK_DST_PORT, MK_IDLE, MK_AGE, MK_COUNT };
enum { LK_MAX, LK_PER, LK_COUNT };
enum { RK_SYN_PER_SECOND, RK_BURST, RK_PER, RK_COUNT };

static const char *const policy_key_names[PK_COUNT] = {
	"name", "match", "action", "limit", "rate", "dry_run",
};
static const char *const match_key_names[MK_COUNT] = {
	"state", "client_state", "server_state", "local_state", "remote_state", "src", "dst", "src_port",
	"dst_port", "idle", "age",
};
static const char *const limit_key_names[LK_COUNT] = { "max", "per" };
static const char *const rate_key_names[RK_COUNT] = { "syn_per_second", "burst", "per" };

/* Duplicate detection keeps one slot per key of the largest level, match. */
#define POLICY_SECTION_KEYS_MAX ((int)MK_COUNT)
_Static_assert((int)PK_COUNT <= POLICY_SECTION_KEYS_MAX, "policy keys");
_Static_assert((int)LK_COUNT <= POLICY_SECTION_KEYS_MAX, "limit keys");
_Static_assert((int)RK_COUNT <= POLICY_SECTION_KEYS_MAX, "rate keys");

struct policy_section_spec {
	const char *path;           /* prefix of the keys' paths: "match"; NULL for the policy itself */
	const char *where;          /* for "it belongs ...": "in match" */
	const char *const *keys;
	size_t count;
	const char *example;        /* what a value of the wrong type should have looked like */
};

static const struct policy_section_spec policy_sections[PSEC_COUNT] = {
	[PSEC_POLICY] = { NULL, "at the policy's own level", policy_key_names, PK_COUNT,
			  "a mapping with name, match and action" },
	[PSEC_MATCH] = { "match", "in match", match_key_names, MK_COUNT,
			 "a mapping such as {state: CLOSE_WAIT, dst_port: 80}" },
	[PSEC_LIMIT] = { "limit", "in limit", limit_key_names, LK_COUNT,
			 "a mapping such as {max: 8, per: source}" },
	[PSEC_RATE] = { "rate", "in rate", rate_key_names, RK_COUNT,
			"a mapping such as {syn_per_second: 10, burst: 20}" },
};

/*
 * Names from other tools (nftables, iptables, pf) that an operator is
 * likely to type, and which edit distance alone would not connect to ours.
 */
static const struct {
	const char *alias;
	enum policy_section section;
	const char *key;
} policy_key_aliases[] = {
	{ "sport", PSEC_MATCH, "src_port" },  { "dport", PSEC_MATCH, "dst_port" },
	{ "port", PSEC_MATCH, "dst_port" },   { "saddr", PSEC_MATCH, "src" },
	{ "daddr", PSEC_MATCH, "dst" },       { "source", PSEC_MATCH, "src" },
	{ "destination", PSEC_MATCH, "dst" }, { "states", PSEC_MATCH, "state" },
	{ "timeout", PSEC_MATCH, "idle" },    { "dryrun", PSEC_POLICY, "dry_run" },
	{ "maximum", PSEC_LIMIT, "max" },     { "per_second", PSEC_RATE, "syn_per_second" },
};

/* Indexed by enum hs_policy_scope. */
const char *const hs_policy_scope_names[] = { "global", "source", "destination" };
_Static_assert(ARRAY_SIZE(hs_policy_scope_names) == HS_PER_DESTINATION + 1, "one name per scope");

static const struct {
	const char *alias, *word;
} scope_aliases[] = {
	{ "src", "source" }, { "client", "source" }, { "dst", "destination" },
	{ "server", "destination" }, { "all", "global" },
};

static const struct {
	const char *alias;
	enum hs_policy_action action;
} action_aliases[] = {
	{ "deny", HS_ACTION_DROP },   { "block", HS_ACTION_DROP },   { "discard", HS_ACTION_DROP },
	{ "reject", HS_ACTION_RESET }, { "rst", HS_ACTION_RESET },  { "kill", HS_ACTION_RESET },
	{ "allow", HS_ACTION_ACCEPT }, { "pass", HS_ACTION_ACCEPT }, { "permit", HS_ACTION_ACCEPT },
};

/* One policy being loaded, and where its keys were found, for the checks that span keys. */
struct policy_loader {
	struct cfg_loader *ld;
	struct hs_policy_set *set;  /* the policies before this one, for duplicate names */
	struct hs_policy *p;
	unsigned number;            /* 1-based position in the list */
	char who[HS_POLICY_NAME_MAX + 16];      /* "policy \"NAME\"" or "policy #N" */
	const yaml_node_t *item;
	const yaml_node_t *name_value;
	const yaml_node_t *action_value;
	const yaml_node_t *limit_key, *rate_key;
	const yaml_node_t *time_key;            /* the first of match.idle, match.age */
	const yaml_node_t *idle_value;          /* match.idle's value */
	const yaml_node_t *local_key;           /* match.local_state's or match.remote_state's key */
	const yaml_node_t *state_key;           /* the first of the three state keys... */
	const char *state_name;                 /* ...and its name: "state" */
	bool has_name, has_action, has_max, has_syn_per_second, has_burst;
};

__attribute__((format(printf, 4, 5)))
static void policy_report(struct policy_loader *pl, enum hs_diag_severity severity,
			  const yaml_node_t *node, const char *fmt, ...)
{
	char message[448];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	cfg_report_at(pl->ld, severity, node, "%s: %s", pl->who, message);
}

/*
 * The text of a scalar value, or NULL after saying why there is none.  key
 * is NULL for a list element, which is then underlined itself.
 */
static const char *policy_scalar(struct policy_loader *pl, const char *path, const yaml_node_t *key,
				 const yaml_node_t *value, const char *expected, size_t *len)
{
	if (value->type != YAML_SCALAR_NODE) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: expected %s, got %s", path, expected,
			      cfg_kind_name(value));
		return NULL;
	}
	if (cfg_is_null(value)) {
		if (key)
			policy_report(pl, HS_DIAG_ERROR, key, "%s: missing value", path);
		else
			policy_report(pl, HS_DIAG_ERROR, value, "%s: empty entry in the list", path);
		return NULL;
	}
	if (memchr(value->data.scalar.value, '\0', value->data.scalar.length)) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: value contains a NUL character", path);
		return NULL;
	}
	*len = value->data.scalar.length;
	return cfg_scalar_text(value);
}

/* The key path of a policy's key, for messages: "match.dst_port", "action". */
static const char *policy_path(char *buf, size_t size, enum policy_section section, unsigned index)
{
	const struct policy_section_spec *sec = &policy_sections[section];

	if (sec->path)
		snprintf(buf, size, "%s.%s", sec->path, sec->keys[index]);
	else
		snprintf(buf, size, "%s", sec->keys[index]);
	return buf;
}

static int policy_key_index(enum policy_section section, const char *text, size_t len)
{
	const struct policy_section_spec *sec = &policy_sections[section];

	for (size_t i = 0; i < sec->count; i++)
		if (strlen(sec->keys[i]) == len && memcmp(sec->keys[i], text, len) == 0)
			return (int)i;
	return -1;
}

/*
 * Like report_unknown for the configuration's sections: a key of another
 * level is pointed to its home ("per" has two), a name from another tool
 * to ours, and otherwise the closest key of this level, or failing that of
 * any level, is offered.
 */
static void report_policy_unknown(struct policy_loader *pl, enum policy_section section,
				  const yaml_node_t *key)
{
	const struct policy_section_spec *sec = &policy_sections[section];
	const char *text = cfg_scalar_text(key);
	size_t len = key->data.scalar.length;
	char quoted[CFG_QUOTE_MAX], hint[128] = "", in[32] = "";
	int homes[PSEC_COUNT];
	size_t n_homes = 0;

	for (int other = 0; other < PSEC_COUNT; other++)
		if (other != (int)section && policy_key_index((enum policy_section)other, text, len) >= 0)
			homes[n_homes++] = other;
	/* Only "per" has two homes, both nested mappings: "in limit or rate". */
	if (n_homes == 1)
		snprintf(hint, sizeof(hint), " (it belongs %s)", policy_sections[homes[0]].where);
	else if (n_homes > 1)
		snprintf(hint, sizeof(hint), " (it belongs %s or %s)", policy_sections[homes[0]].where,
			 policy_sections[homes[1]].path);
	for (size_t i = 0; !hint[0] && i < ARRAY_SIZE(policy_key_aliases); i++) {
		if (strlen(policy_key_aliases[i].alias) != len ||
		    strncasecmp(policy_key_aliases[i].alias, text, len) != 0)
			continue;
		if (policy_key_aliases[i].section == section)
			hs_did_you_mean(hint, sizeof(hint), policy_key_aliases[i].key);
		else
			snprintf(hint, sizeof(hint), " (did you mean \"%s\" %s?)",
				 policy_key_aliases[i].key, policy_sections[policy_key_aliases[i].section].where);
	}
	if (!hint[0])
		hs_did_you_mean(hint, sizeof(hint), hs_suggest(text, len, sec->keys, sec->count));
	for (int other = 0; !hint[0] && other < PSEC_COUNT; other++) {
		const char *guess;
		if (other == (int)section)
			continue;
		guess = hs_suggest(text, len, policy_sections[other].keys, policy_sections[other].count);
		if (guess)
			snprintf(hint, sizeof(hint), " (did you mean \"%s\" %s?)", guess,
				 policy_sections[other].where);
	}
	if (sec->path)
		snprintf(in, sizeof(in), " in %s", sec->path);
	policy_report(pl, HS_DIAG_ERROR, key, "unknown key %s%s%s",
		      cfg_quote(quoted, sizeof(quoted), text, len), in, hint);
}

typedef void policy_key_fn(struct policy_loader *pl, unsigned index, const yaml_node_t *key,
			   const yaml_node_t *value);

/*
 * Checks one of a policy's mappings key by key, in document order, and
 * hands each known key's value to `load`.  A null mapping (every key
 * commented out) is empty; the caller decides whether empty is enough.
 */
static void walk_policy_mapping(struct policy_loader *pl, enum policy_section section,
				const yaml_node_t *node, policy_key_fn *load)
{
	const struct policy_section_spec *sec = &policy_sections[section];
	const yaml_node_t *seen[POLICY_SECTION_KEYS_MAX] = { NULL };

	if (cfg_is_null(node))
		return;
	if (node->type != YAML_MAPPING_NODE) {
		if (sec->path)
			policy_report(pl, HS_DIAG_ERROR, node, "%s: expected %s, got %s", sec->path,
				      sec->example, cfg_kind_name(node));
		else
			policy_report(pl, HS_DIAG_ERROR, node, "expected %s, got %s", sec->example,
				      cfg_kind_name(node));
		return;
	}
	for (const yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = yaml_document_get_node(pl->ld->doc, pair->key);
		const yaml_node_t *value = yaml_document_get_node(pl->ld->doc, pair->value);

		if (!key || !value)
			continue;
		if (key->type != YAML_SCALAR_NODE) {
			if (sec->path)
				policy_report(pl, HS_DIAG_ERROR, key, "a key in %s must be a name, got %s",
					      sec->path, cfg_kind_name(key));
			else
				policy_report(pl, HS_DIAG_ERROR, key, "a key must be a name, got %s",
					      cfg_kind_name(key));
			continue;
		}
		int index = policy_key_index(section, cfg_scalar_text(key), key->data.scalar.length);
		if (index < 0) {
			report_policy_unknown(pl, section, key);
			continue;
		}
		if (seen[index]) {
			char path[48];
			policy_report(pl, HS_DIAG_ERROR, key,
				      "duplicate key \"%s\" (first given on line %u)",
				      policy_path(path, sizeof(path), section, (unsigned)index),
				      cfg_to_unsigned(seen[index]->start_mark.line + 1));
			continue;
		}
		seen[index] = key;
		load(pl, (unsigned)index, key, value);
	}
}

/* 1 to 63 characters of [A-Za-z0-9_.-]: safe in logs, events and shell arguments unquoted. */
static bool policy_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-';
}

static bool valid_policy_name(const char *text, size_t len)
{
	if (len == 0 || len >= HS_POLICY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!policy_name_char(text[i]))
			return false;
	return true;
}

static void load_policy_name(struct policy_loader *pl, const yaml_node_t *key, const yaml_node_t *value)
{
	char quoted[CFG_QUOTE_MAX];
	size_t len;
	const char *text = policy_scalar(pl, "name", key, value, "a name", &len);

	pl->has_name = true;        /* given, if badly: no second message saying it is missing */
	if (!text)
		return;
	if (len == 0) {
		policy_report(pl, HS_DIAG_ERROR, value, "name: the name is empty");
		return;
	}
	if (len >= HS_POLICY_NAME_MAX) {
		policy_report(pl, HS_DIAG_ERROR, value, "name: %s is %zu characters long (at most %d)",
			      cfg_quote(quoted, sizeof(quoted), text, len), len, HS_POLICY_NAME_MAX - 1);
		return;
	}
	if (!valid_policy_name(text, len)) {
		policy_report(pl, HS_DIAG_ERROR, value,
			      "name: %s may only contain letters, digits, '_', '.' and '-'",
			      cfg_quote(quoted, sizeof(quoted), text, len));
		return;
	}
	/* Names are how events, counters and handshakectl tell policies apart. */
	for (uint32_t i = 0; i < pl->set->count && i < HS_POLICY_MAX; i++) {
		const struct hs_policy *other = &pl->set->items[i];
		if (&pl->set->items[i] != pl->p && strcmp(other->name, text) == 0) {
			policy_report(pl, HS_DIAG_ERROR, value,
				      "name: \"%s\" is already the name of the policy on line %u", text,
				      other->line);
			return;
		}
	}
	memcpy(pl->p->name, text, len + 1);
	pl->name_value = value;
}

static void load_policy_action(struct policy_loader *pl, const yaml_node_t *key,
			       const yaml_node_t *value)
{
	const char *names[HS_ACTION_COUNT];
	char quoted[CFG_QUOTE_MAX], hint[64];
	size_t len;
	const char *text = policy_scalar(pl, "action", key, value, "an action", &len);

	pl->has_action = true;
	if (!text)
		return;
	for (int a = 0; a < HS_ACTION_COUNT; a++) {
		names[a] = hs_policy_action_name((enum hs_policy_action)a);
		/* Like log levels, actions are words, not code: "DROP" means drop. */
		if (strcasecmp(text, names[a]) == 0) {
			pl->p->action = (enum hs_policy_action)a;
			pl->action_value = value;
			return;
		}
	}
	const char *guess = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(action_aliases); i++)
		if (strcasecmp(text, action_aliases[i].alias) == 0)
			guess = hs_policy_action_name(action_aliases[i].action);
	if (!guess)
		guess = hs_suggest(text, len, names, HS_ACTION_COUNT);
	if (guess)
		policy_report(pl, HS_DIAG_ERROR, value, "action: unknown action %s%s",
			      cfg_quote(quoted, sizeof(quoted), text, len),
			      hs_did_you_mean(hint, sizeof(hint), guess));
	else
		policy_report(pl, HS_DIAG_ERROR, value,
			      "action: unknown action %s (expected accept, drop, reset, log or verify)",
			      cfg_quote(quoted, sizeof(quoted), text, len));
}

static void load_policy_dry_run(struct policy_loader *pl, const yaml_node_t *key,
				const yaml_node_t *value)
{
	char quoted[CFG_QUOTE_MAX];
	size_t len;
	const char *text = policy_scalar(pl, "dry_run", key, value, "true or false", &len);

	if (!text)
		return;
	if (!cfg_parse_bool(text, &pl->p->dry_run))
		policy_report(pl, HS_DIAG_ERROR, value,
			      "dry_run: %s is not a boolean (expected true or false)",
			      cfg_quote(quoted, sizeof(quoted), text, len));
}

/* ---- match ---- */

static void load_match_state(struct policy_loader *pl, unsigned index, const char *path,
			     const yaml_node_t *key, const yaml_node_t *value, struct hs_state_set *out)
{
	const char *names[HS_TCP_STATE_COUNT];
	char quoted[CFG_QUOTE_MAX], hint[96], norm[HS_SUGGEST_MAX_LEN + 1];
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "a state name", &len);

	if (!pl->state_key) {
		pl->state_key = key;
		pl->state_name = match_key_names[index];
	}
	if (!text)
		return;
	int state = hs_tcp_state_parse(text);
	if (state >= 0) {
		*out = HS_STATE_SET(state);
		return;
	}
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
		names[s] = hs_tcp_state_name((enum hs_tcp_state)s);
	/* Suggest from the spelling hs_tcp_state_parse would have compared. */
	const char *guess = NULL;
	if (len < sizeof(norm)) {
		for (size_t i = 0; i <= len; i++)
			norm[i] = text[i] == '-' ? '_' : text[i];
		/* Two states share this stem; picking one would be a guess. */
		if (strcasecmp(norm, "FIN_WAIT") == 0) {
			policy_report(pl, HS_DIAG_ERROR, value,
				      "%s: unknown state %s (did you mean \"FIN_WAIT_1\" or \"FIN_WAIT_2\"?)",
				      path, cfg_quote(quoted, sizeof(quoted), text, len));
			return;
		}
		guess = hs_suggest(norm, len, names, HS_TCP_STATE_COUNT);
	}
	if (guess) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: unknown state %s%s", path,
			      cfg_quote(quoted, sizeof(quoted), text, len),
			      hs_did_you_mean(hint, sizeof(hint), guess));
		return;
	}
	/* Nothing close: list them all, in the state machine's own order. */
	char all[HS_TCP_STATE_COUNT * 16];
	size_t used = 0;
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
		used += (size_t)snprintf(all + used, sizeof(all) - used, "%s%s",
					 s == 0 ? "" : s + 1 == HS_TCP_STATE_COUNT ? " or " : ", ",
					 names[s]);
	policy_report(pl, HS_DIAG_ERROR, value, "%s: unknown state %s (expected %s)", path,
		      cfg_quote(quoted, sizeof(quoted), text, len), all);
}

/*
 * The nodes of a key that takes one item or a list of them: the value
 * itself, or each element of a list.  Reports an empty list (which would
 * read as "key absent", the opposite of what it says) and a list longer
 * than HS_POLICY_LIST_MAX; returns how many elements the caller should
 * parse.
 */
static unsigned list_items(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			   const yaml_node_t *value, const char *expected, const yaml_node_t **items)
{
	unsigned n = 0;

	if (value->type == YAML_SCALAR_NODE) {
		items[0] = value;
		return 1;
	}
	if (value->type != YAML_SEQUENCE_NODE) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: expected %s or a list of them, got %s", path,
			      expected, cfg_kind_name(value));
		return 0;
	}
	for (const yaml_node_item_t *it = value->data.sequence.items.start;
	     it < value->data.sequence.items.top; it++) {
		const yaml_node_t *element = yaml_document_get_node(pl->ld->doc, *it);
		if (!element)
			continue;
		if (n == HS_POLICY_LIST_MAX) {
			policy_report(pl, HS_DIAG_ERROR, element, "%s: more than %d entries in the list",
				      path, HS_POLICY_LIST_MAX);
			break;
		}
		items[n++] = element;
	}
	if (n == 0)
		policy_report(pl, HS_DIAG_ERROR, key,
			      "%s: the list is empty (leave the key out to match any)", path);
	return n;
}

static void load_match_cidrs(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			     const yaml_node_t *value, struct hs_cidr *list, uint8_t *count)
{
	const yaml_node_t *items[HS_POLICY_LIST_MAX];
	unsigned n = list_items(pl, path, key, value, "an address or CIDR", items);
	char quoted[CFG_QUOTE_MAX], num[32], shown[64], earlier[64];
	unsigned stored = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t len;
		const char *text = policy_scalar(pl, path, value == items[i] ? key : NULL, items[i],
						 "an address or CIDR", &len);
		struct hs_cidr cidr;

		if (!text)
			continue;
		switch (hs_cidr_parse(text, len, &cidr)) {
		case HS_CIDR_SYNTAX:
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: %s is not an IP address or CIDR (such as 10.0.0.0/8 or fd00::/8)",
				      path, cfg_quote(quoted, sizeof(quoted), text, len));
			continue;
		case HS_CIDR_PREFIX: {
			const char *slash = memchr(text, '/', len);
			size_t prefix_len = len - (size_t)(slash - text) - 1;
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: prefix /%s is too long for an %s (at most /%d)", path, cfg_number_text(num, sizeof(num), slash + 1, prefix_len),
				      cidr.family == HS_FAMILY_IPV4 ? "IPv4 address" : "IPv6 address",
				      cidr.family == HS_FAMILY_IPV4 ? 32 : 128);
			continue;
		}
		case HS_CIDR_HOST_BITS:
			/*
			 * Like iptables and nftables, take the network the prefix
			 * names (an interface address with its prefix, usually),
			 * but say so, in case a longer prefix was meant.
			 */
			policy_report(pl, HS_DIAG_WARNING, items[i],
				      "%s: %s has host bits set; it is taken as %s", path,
				      cfg_quote(quoted, sizeof(quoted), text, len),
				      hs_cidr_format(shown, sizeof(shown), &cidr));
			break;
		case HS_CIDR_OK:
			break;
		}
		if (hs_cidr_ipv4_mapped(&cidr)) {
			struct hs_addr embedded = { .bytes = { 0 } };
			char v4[INET_ADDRSTRLEN];
			memcpy(embedded.bytes, cidr.addr.bytes + 12, 4);
			hs_addr_format(&embedded, HS_FAMILY_IPV4, v4, sizeof(v4));
			policy_report(pl, HS_DIAG_WARNING, items[i],
				      "%s: %s is an IPv4-mapped IPv6 address, which never matches: IPv4 "
				      "connections are tracked as IPv4 (write %s/%u)", path,
				      cfg_quote(quoted, sizeof(quoted), text, len), v4, cidr.prefix - 96u);
		}
		for (unsigned j = 0; j < stored; j++) {
			if (hs_cidr_holds(&list[j], &cidr)) {
				policy_report(pl, HS_DIAG_WARNING, items[i],
					      "%s: %s is already covered by %s earlier in the list", path,
					      cfg_quote(quoted, sizeof(quoted), text, len),
					      hs_cidr_format(earlier, sizeof(earlier), &list[j]));
				break;
			}
		}
		list[stored++] = cidr;
	}
	*count = (uint8_t)stored;
}

static void load_match_ports(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			     const yaml_node_t *value, struct hs_port_range *list, uint8_t *count)
{
	const yaml_node_t *items[HS_POLICY_LIST_MAX];
	unsigned n = list_items(pl, path, key, value, "a port or range", items);
	char quoted[CFG_QUOTE_MAX], num[32], earlier[16];
	unsigned stored = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t len;
		const char *text = policy_scalar(pl, path, value == items[i] ? key : NULL, items[i],
						 "a port or range", &len);
		struct hs_port_range range;

		if (!text)
			continue;
		switch (hs_port_range_parse(text, len, &range)) {
		case HS_PORT_SYNTAX:
			/* "8000:8080" is how iptables writes a range. */
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: %s is not a port (1 to 65535) or a range such as \"8000-8080\"%s",
				      path, cfg_quote(quoted, sizeof(quoted), text, len),
				      memchr(text, ':', len) ? " (a range is written with '-')" : "");
			continue;
		case HS_PORT_RANGE:
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: %s is out of range (ports go from 1 to 65535)", path,
				      cfg_number_text(num, sizeof(num), text, len));
			continue;
		case HS_PORT_REVERSED:
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: range %s is reversed (the first port must not be above the last)",
				      path, cfg_number_text(num, sizeof(num), text, len));
			continue;
		case HS_PORT_OK:
			break;
		}
		for (unsigned j = 0; j < stored; j++) {
			if (list[j].lo <= range.lo && range.hi <= list[j].hi) {
				policy_report(pl, HS_DIAG_WARNING, items[i],
					      "%s: %s is already covered by %s earlier in the list", path,
					      cfg_number_text(num, sizeof(num), text, len),
					      hs_port_range_format(earlier, sizeof(earlier), &list[j]));
				break;
			}
		}
		list[stored++] = range;
	}
	*count = (uint8_t)stored;
}

static void load_match_duration(struct policy_loader *pl, const char *path, const yaml_node_t *key,
				const yaml_node_t *value, uint32_t *out)
{
	uint64_t ms = 0;
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "a duration", &len);

	if (!pl->time_key)
		pl->time_key = key;
	if (!text)
		return;
	enum cfg_duration_check check = cfg_bounded_duration(text, &ms);
	if (check != CFG_BOUNDED_OK) {
		char problem[CFG_DURATION_PROBLEM_MAX];

		cfg_duration_problem(problem, sizeof(problem), check, path, text, len, "the duration ", "");
		policy_report(pl, HS_DIAG_ERROR, value, "%s", problem);
		return;
	}
	*out = (uint32_t)ms;
}

static void load_match_key(struct policy_loader *pl, unsigned index, const yaml_node_t *key,
			   const yaml_node_t *value)
{
	struct hs_flow_match *m = &pl->p->match;
	char path[32];

	policy_path(path, sizeof(path), PSEC_MATCH, index);
	switch (index) {
	case MK_STATE:
		load_match_state(pl, index, path, key, value, &m->state);
		break;
	case MK_CLIENT_STATE:
		load_match_state(pl, index, path, key, value, &m->client_state);
		break;
	case MK_SERVER_STATE:
		load_match_state(pl, index, path, key, value, &m->server_state);
		break;
	case MK_LOCAL_STATE:
		load_match_state(pl, index, path, key, value, &m->local_state);
		pl->local_key = key;
		break;
	case MK_REMOTE_STATE:
		load_match_state(pl, index, path, key, value, &m->remote_state);
		pl->local_key = key;
		break;
	case MK_SRC:
		load_match_cidrs(pl, path, key, value, m->src, &m->n_src);
		break;
	case MK_DST:
		load_match_cidrs(pl, path, key, value, m->dst, &m->n_dst);
		break;
	case MK_SRC_PORT:
		load_match_ports(pl, path, key, value, m->src_ports, &m->n_src_ports);
		break;
	case MK_DST_PORT:
		load_match_ports(pl, path, key, value, m->dst_ports, &m->n_dst_ports);
		break;
	case MK_IDLE:
		load_match_duration(pl, path, key, value, &m->idle_ms);
		pl->idle_value = value;
		break;
	case MK_AGE:
		load_match_duration(pl, path, key, value, &m->state_age_ms);
		break;
	default:
		break;
	}
}

/* ---- limit and rate ---- */

static bool load_policy_uint(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			     const yaml_node_t *value, uint32_t max, uint32_t *out)
{
	char quoted[CFG_QUOTE_MAX], num[32];
	uint64_t number;
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "a number", &len);

	if (!text)
		return false;
	if (!hs_all_digits(text, len)) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: %s is not a whole number (expected 1 to %u)",
			      path, cfg_quote(quoted, sizeof(quoted), text, len), max);
		return false;
	}
	if (!hs_parse_decimal(text, len, max, &number) || number < 1) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: %s is out of range (1 to %u)", path,
			      cfg_number_text(num, sizeof(num), text, len), max);
		return false;
	}
	*out = (uint32_t)number;
	return true;
}

static void load_policy_scope(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			      const yaml_node_t *value, enum hs_policy_scope *out)
{
	char quoted[CFG_QUOTE_MAX], hint[64];
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "source, destination or global", &len);

	if (!text)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(hs_policy_scope_names); i++) {
		if (strcasecmp(text, hs_policy_scope_names[i]) == 0) {
			*out = (enum hs_policy_scope)i;
			return;
		}
	}
	const char *guess = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(scope_aliases); i++)
		if (strcasecmp(text, scope_aliases[i].alias) == 0)
			guess = scope_aliases[i].word;
	if (!guess)
		guess = hs_suggest(text, len, hs_policy_scope_names, ARRAY_SIZE(hs_policy_scope_names));
	if (guess)
		policy_report(pl, HS_DIAG_ERROR, value, "%s: unknown scope %s%s", path,
			      cfg_quote(quoted, sizeof(quoted), text, len),
			      hs_did_you_mean(hint, sizeof(hint), guess));
	else
		policy_report(pl, HS_DIAG_ERROR, value,
			      "%s: unknown scope %s (expected source, destination or global)", path,
			      cfg_quote(quoted, sizeof(quoted), text, len));
}

static void load_limit_key(struct policy_loader *pl, unsigned index, const yaml_node_t *key,
			   const yaml_node_t *value)
{
	char path[32];

	policy_path(path, sizeof(path), PSEC_LIMIT, index);
	if (index == LK_MAX) {
		pl->has_max = true;
		load_policy_uint(pl, path, key, value, POLICY_LIMIT_MAX, &pl->p->limit_max);
	} else {
		load_policy_scope(pl, path, key, value, &pl->p->limit_per);
	}
}

static void load_rate_key(struct policy_loader *pl, unsigned index, const yaml_node_t *key,
			  const yaml_node_t *value)
{
	char path[32];

	policy_path(path, sizeof(path), PSEC_RATE, index);
	switch (index) {
	case RK_SYN_PER_SECOND:
		pl->has_syn_per_second = true;
		load_policy_uint(pl, path, key, value, POLICY_RATE_MAX, &pl->p->rate_per_second);
		break;
	case RK_BURST:
		pl->has_burst = true;
		load_policy_uint(pl, path, key, value, POLICY_RATE_MAX, &pl->p->rate_burst);
		break;
	default:
		load_policy_scope(pl, path, key, value, &pl->p->rate_per);
		break;
	}
}

static void load_policy_key(struct policy_loader *pl, unsigned index, const yaml_node_t *key,
			    const yaml_node_t *value)
{
	switch (index) {
	case PK_NAME:
		load_policy_name(pl, key, value);
		break;
	case PK_MATCH:
		walk_policy_mapping(pl, PSEC_MATCH, value, load_match_key);
		break;
	case PK_ACTION:
		load_policy_action(pl, key, value);
		break;
	case PK_LIMIT:
		pl->limit_key = key;
		pl->p->has_limit = true;
		/* By default a limit guards a server's backlog, a rate reins in one busy client. */
		pl->p->limit_per = HS_PER_DESTINATION;
		walk_policy_mapping(pl, PSEC_LIMIT, value, load_limit_key);
		if (!pl->has_max && (cfg_is_null(value) || value->type == YAML_MAPPING_NODE))
			policy_report(pl, HS_DIAG_ERROR, key,
				      "limit: missing \"max\" (how many matching flows to allow, "
				      "such as {max: 8})");
		break;
	case PK_RATE:
		pl->rate_key = key;
		pl->p->has_rate = true;
		pl->p->rate_per = HS_PER_SOURCE;
		walk_policy_mapping(pl, PSEC_RATE, value, load_rate_key);
		if (!pl->has_syn_per_second && (cfg_is_null(value) || value->type == YAML_MAPPING_NODE))
			policy_report(pl, HS_DIAG_ERROR, key,
				      "rate: missing \"syn_per_second\" (how many new connections to "
				      "allow each second, such as {syn_per_second: 10})");
		break;
	case PK_DRY_RUN:
		load_policy_dry_run(pl, key, value);
		break;
	default:
		break;
	}
}

/* The checks that need more than one key of a policy. */
static void check_policy(struct policy_loader *pl)
{
	struct hs_policy *p = pl->p;
	char either[HS_STATE_SET_TEXT_MAX], client[HS_STATE_SET_TEXT_MAX], server[HS_STATE_SET_TEXT_MAX];

	if (!pl->has_name)
		policy_report(pl, HS_DIAG_ERROR, pl->item,
			      "missing \"name\" (every policy needs a unique name, for its events and "
			      "counters)");
	if (!pl->has_action)
		policy_report(pl, HS_DIAG_ERROR, pl->item,
			      "missing \"action\" (accept, drop, reset, log or verify)");
	if (pl->limit_key && pl->rate_key) {
		bool rate_later = pl->rate_key->start_mark.index > pl->limit_key->start_mark.index;
		const yaml_node_t *later = rate_later ? pl->rate_key : pl->limit_key;
		policy_report(pl, HS_DIAG_ERROR, later,
			      "limit and rate cannot be combined in one policy (give each its own policy)");
	}
	/* time_key is set even for a bad duration, so that the conflict is still seen. */
	const yaml_node_t *admission_key = pl->limit_key ? pl->limit_key : pl->rate_key;
	if (admission_key && pl->time_key) {
		policy_report(pl, HS_DIAG_ERROR, admission_key,
			      "%s cannot be used with match.%s: a policy is either admission (limit or "
			      "rate, judged when a connection opens) or timed (idle or age, judged as "
			      "flows age)", admission_key == pl->limit_key ? "limit" : "rate",
			      cfg_scalar_text(pl->time_key));
	}
	if (pl->action_value && p->action == HS_ACTION_VERIFY && !p->has_limit) {
		if (pl->time_key)
			policy_report(pl, HS_DIAG_ERROR, pl->action_value,
				      "action: verify cannot be used on a timed policy (verify judges new "
				      "connections past a limit; it needs limit: {max: N})");
		else if (p->has_rate)
			policy_report(pl, HS_DIAG_ERROR, pl->action_value,
				      "action: verify needs a limit, not a rate (use limit: {max: N}, or "
				      "drop with a rate)");
		else
			policy_report(pl, HS_DIAG_ERROR, pl->action_value,
				      "action: verify needs a limit (such as limit: {max: 8}): it only "
				      "judges new connections past one");
	}
	if (pl->action_value && p->action == HS_ACTION_ACCEPT && pl->time_key && !admission_key)
		policy_report(pl, HS_DIAG_ERROR, pl->action_value,
			      "action: accept cannot be used on a timed policy (leaving an aged flow "
			      "alone is what happens anyway; use drop, reset or log)");
	if (pl->has_syn_per_second && !pl->has_burst)
		p->rate_burst = p->rate_per_second;

	/* Warnings about keys that are valid but cannot do what they seem to. */
	if (p->has_rate && !p->has_limit && pl->state_key)
		policy_report(pl, HS_DIAG_WARNING, pl->state_key,
			      "match.%s has no effect on a rate (a rate counts new connections, which "
			      "have no state yet)", pl->state_name);
	else if (!hs_flow_match_states_possible(&p->match) && hs_flow_match_is_local(&p->match))
		policy_report(pl, HS_DIAG_WARNING, pl->state_key,
			      "the policy can never match: no flow's endpoints can be in the states its "
			      "state keys name together (the local endpoint is the client or the server, "
			      "the remote one its peer)");
	else if (!hs_flow_match_states_possible(&p->match))
		policy_report(pl, HS_DIAG_WARNING, pl->state_key,
			      "the policy can never match: no flow has %s on either side while its client "
			      "is in %s and its server in %s",
			      hs_state_set_format(either, sizeof(either), p->match.state),
			      hs_state_set_format(client, sizeof(client), p->match.client_state),
			      hs_state_set_format(server, sizeof(server), p->match.server_state));
}

/*
 * Finds the policy's name before anything else is checked, so that every
 * message about it, including those about keys written before the name,
 * can say which policy it is about.
 */
static void name_policy(struct policy_loader *pl)
{
	snprintf(pl->who, sizeof(pl->who), "policy #%u", pl->number);
	if (pl->item->type != YAML_MAPPING_NODE)
		return;
	for (const yaml_node_pair_t *pair = pl->item->data.mapping.pairs.start;
	     pair < pl->item->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = yaml_document_get_node(pl->ld->doc, pair->key);
		const yaml_node_t *value = yaml_document_get_node(pl->ld->doc, pair->value);

		if (!key || !value || key->type != YAML_SCALAR_NODE || key->data.scalar.length != 4 ||
		    memcmp(cfg_scalar_text(key), "name", 4) != 0)
			continue;
		if (value->type == YAML_SCALAR_NODE && !cfg_is_null(value) &&
		    valid_policy_name(cfg_scalar_text(value), value->data.scalar.length))
			snprintf(pl->who, sizeof(pl->who), "policy \"%s\"", cfg_scalar_text(value));
		return;
	}
}

static void load_policy(struct cfg_loader *ld, struct hs_policy_set *set, unsigned number,
			const yaml_node_t *item, struct hs_policy *p, struct hs_policy_note *note)
{
	struct policy_loader pl = { .ld = ld, .set = set, .p = p, .number = number, .item = item };
	unsigned errors_before = ld->diag->errors;

	memset(p, 0, sizeof(*p));
	hs_flow_match_init(&p->match);
	p->line = cfg_to_unsigned(item->start_mark.line + 1);
	name_policy(&pl);
	if (cfg_is_null(item)) {
		policy_report(&pl, HS_DIAG_ERROR, item, "empty entry in the list (expected %s)",
			      policy_sections[PSEC_POLICY].example);
	} else if (item->type != YAML_MAPPING_NODE) {
		policy_report(&pl, HS_DIAG_ERROR, item, "expected %s, got %s",
			      policy_sections[PSEC_POLICY].example, cfg_kind_name(item));
	} else {
		walk_policy_mapping(&pl, PSEC_POLICY, item, load_policy_key);
		check_policy(&pl);
	}
	note->ok = ld->diag->errors == errors_before;
	note->anchor = pl.name_value ? pl.name_value : item;
	if (number <= HS_POLICY_MAX) {
		ld->policy_idle[number - 1] = note->ok && p->match.idle_ms ? pl.idle_value : NULL;
		ld->policy_local[number - 1] = note->ok && hs_flow_match_is_local(&p->match) ? pl.local_key : NULL;
	}
}

void cfg_load_policies(struct cfg_loader *ld, const char *path, const yaml_node_t *value)
{
	struct hs_policy_set *set = &ld->config->policies;
	struct hs_policy_note notes[HS_POLICY_MAX];
	struct hs_policy surplus;
	struct hs_policy_note surplus_note;
	unsigned number = 0;

	set->count = 0;
	if (cfg_is_null(value))
		return;
	if (value->type != YAML_SEQUENCE_NODE) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: expected a list, got %s", path,
			  cfg_kind_name(value));
		return;
	}
	size_t total = (size_t)(value->data.sequence.items.top - value->data.sequence.items.start);
	for (const yaml_node_item_t *it = value->data.sequence.items.start;
	     it < value->data.sequence.items.top; it++) {
		const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
		if (!item)
			continue;
		number++;
		if (number == HS_POLICY_MAX + 1)
			cfg_report_at(ld, HS_DIAG_ERROR, item, "%s: %zu policies, more than the maximum of %d",
				  path, total, HS_POLICY_MAX);
		/* Policies past the maximum are still checked, so that their mistakes show too. */
		if (number > HS_POLICY_MAX) {
			load_policy(ld, set, number, item, &surplus, &surplus_note);
			continue;
		}
		set->count = number;
		load_policy(ld, set, number, item, &set->items[number - 1], &notes[number - 1]);
	}
	hs_policy_check_set(ld, set, notes);
}
