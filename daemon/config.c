/*
 * config: the daemon's configuration file.  This module owns the defaults,
 * the schema of handshaked.yaml (which keys exist, what type and range each
 * value has), the policy language's syntax and rules (what a policy may
 * combine, and which policies in a set can never act), and the loader that
 * checks a whole file against them with libyaml's document API, reporting
 * every problem it finds through hs_diag before anything else gets to see
 * the values.
 */
#include "hs_config.h"
#include "hs_config_walk.h"
#include "hs_config_policy.h"
#include "hs_did_you_mean.h"
#include "hs_match_values.h"
#include "hs_policy_reach.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#define HS_STR_(x) #x
#define HS_STR(x) HS_STR_(x)

/*
 * A configuration is a few hundred bytes; the cap only keeps a wrong path
 * (a disk image, /dev/zero) from being read into memory whole.
 */
#define CONFIG_MAX_BYTES (1024 * 1024)

/* sun_path holds the path and its terminating NUL. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1)

/*
 * Below this many bytes a copied packet may lose the end of its TCP header:
 * IPv4 and TCP headers with options can take 60 bytes each.
 */
#define COPY_RANGE_FULL_HEADERS 120

_Static_assert(HS_PATH_MAX > SOCKET_PATH_MAX, "control_socket must hold any socket path");

void hs_config_defaults(struct hs_config *config)
{
	static const uint32_t timeouts[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;

	memset(config, 0, sizeof(*config));
	config->queue_first = 0;
	config->queue_last = 0;
	config->fail_open = true;
	config->copy_range = 128;
	config->queue_maxlen = 8192;
	config->own_mark = HS_DEFAULT_OWN_MARK;
	snprintf(config->control_socket, sizeof(config->control_socket), "%s",
		 HS_DEFAULT_CONTROL_SOCKET);
	config->log_level = HS_LOG_INFO;
	config->events_mode = HS_EVENTS_STDERR;
	config->drop_pcap_max_mb = 64;
	config->max_flows = 262144;
	config->pickup = true;
	config->strict = false;
	memcpy(config->timeout_ms, timeouts, sizeof(timeouts));
	config->rules_nchains = 1;
	snprintf(config->rules_chains[0], sizeof(config->rules_chains[0]), "FORWARD");
	config->rules_ipv4 = true;
	config->rules_ipv6 = true;
	config->metrics_listen[0] = '\0';
	config->state_dir[0] = '\0';
	config->state_interval_ms = 60000;
	config->state_max_age_ms = 300000;
}

void hs_table_config_from(struct hs_table_config *tc, const struct hs_config *config)
{
	memset(tc, 0, sizeof(*tc));
	tc->max_flows = config->max_flows;
	tc->pickup = config->pickup;
	memcpy(tc->timeout_ms, config->timeout_ms, sizeof(tc->timeout_ms));
}

/* ------------------------------------------------------------------------ */
/* The schema                                                               */

enum section_id { SEC_TOP, SEC_QUEUE, SEC_CONTROL, SEC_LOG, SEC_TABLE, SEC_TIMEOUTS, SEC_RULES, SEC_METRICS, SEC_STATE,
		  SEC_COUNT };

enum value_kind {
	VAL_SECTION,        /* a nested mapping: arg is its section_id */
	VAL_POLICIES,       /* the policy list, loaded by load_policies */
	VAL_QUEUE_NUM,
	VAL_BOOL,           /* bool at offset */
	VAL_UINT,           /* uint32_t at offset, from min to max */
	VAL_SOCKET,
	VAL_LEVEL,
	VAL_EVENTS,
	VAL_PCAP,           /* log.pcap: "off" or an absolute path */
	VAL_TIMEOUT,        /* arg is the timeout class */
	VAL_WORDS,          /* a word or a list of words: arg is the enum word_list */
	VAL_LISTEN,         /* metrics.listen: "off" or ADDRESS:PORT */
	VAL_STATE_DIR,      /* state.dir: "off" or an absolute directory */
	VAL_DURATION,       /* uint32_t milliseconds at offset; arg 1: 0 and "off" allowed */
};

/* The list-valued keys of rules: */
enum word_list { WORDS_CHAINS, WORDS_IN_IFACES, WORDS_OUT_IFACES, WORDS_FAMILIES };

struct key_spec {
	const char *name;
	const char *path;           /* dotted, for messages: "table.max_flows" */
	enum value_kind kind;
	unsigned arg;
	size_t offset;
	uint32_t min, max;
	uint32_t warn_below;        /* VAL_UINT: warn (not fail) below this... */
	const char *warning;        /* ...with this text after the number */
};

#define SECTION_KEY(n, id) { .name = n, .path = n, .kind = VAL_SECTION, .arg = (id) }
#define BOOL_KEY(n, p, field) \
	{ .name = n, .path = p, .kind = VAL_BOOL, .offset = offsetof(struct hs_config, field) }
#define UINT_KEY(n, p, field, lo, hi) \
	{ .name = n, .path = p, .kind = VAL_UINT, .offset = offsetof(struct hs_config, field), \
	  .min = (lo), .max = (hi) }
#define TIMEOUT_KEY(n, cls) \
	{ .name = n, .path = "table.timeouts." n, .kind = VAL_TIMEOUT, .arg = (cls) }

static const struct key_spec top_keys[] = {
	SECTION_KEY("queue", SEC_QUEUE),
	SECTION_KEY("control", SEC_CONTROL),
	SECTION_KEY("log", SEC_LOG),
	SECTION_KEY("table", SEC_TABLE),
	SECTION_KEY("rules", SEC_RULES),
	SECTION_KEY("metrics", SEC_METRICS),
	SECTION_KEY("state", SEC_STATE),
	{ .name = "policies", .path = "policies", .kind = VAL_POLICIES },
};

static const struct key_spec rules_keys[] = {
	{ .name = "chains", .path = "rules.chains", .kind = VAL_WORDS, .arg = WORDS_CHAINS },
	{ .name = "in_interfaces", .path = "rules.in_interfaces", .kind = VAL_WORDS, .arg = WORDS_IN_IFACES },
	{ .name = "out_interfaces", .path = "rules.out_interfaces", .kind = VAL_WORDS, .arg = WORDS_OUT_IFACES },
	{ .name = "families", .path = "rules.families", .kind = VAL_WORDS, .arg = WORDS_FAMILIES },
	BOOL_KEY("include_loopback", "rules.include_loopback", rules_include_loopback),
};

static const struct key_spec metrics_keys[] = {
	{ .name = "listen", .path = "metrics.listen", .kind = VAL_LISTEN },
};

static const struct key_spec state_keys[] = {
	{ .name = "dir", .path = "state.dir", .kind = VAL_STATE_DIR },
	{ .name = "interval", .path = "state.interval", .kind = VAL_DURATION, .arg = 1,
	  .offset = offsetof(struct hs_config, state_interval_ms) },
	{ .name = "max_age", .path = "state.max_age", .kind = VAL_DURATION,
	  .offset = offsetof(struct hs_config, state_max_age_ms) },
};

static const struct key_spec queue_keys[] = {
	{ .name = "num", .path = "queue.num", .kind = VAL_QUEUE_NUM },
	BOOL_KEY("fail_open", "queue.fail_open", fail_open),
	{ .name = "copy_range", .path = "queue.copy_range", .kind = VAL_UINT,
	  .offset = offsetof(struct hs_config, copy_range), .min = 1, .max = 65535,
	  .warn_below = COPY_RANGE_FULL_HEADERS,
	  .warning = "bytes may cut TCP headers short (IPv4 and TCP headers with options take "
		     "up to " HS_STR(COPY_RANGE_FULL_HEADERS) " bytes)" },
	UINT_KEY("maxlen", "queue.maxlen", queue_maxlen, 1, UINT32_MAX),
	UINT_KEY("own_mark", "queue.own_mark", own_mark, 1, UINT32_MAX),
};

static const struct key_spec control_keys[] = {
	{ .name = "socket", .path = "control.socket", .kind = VAL_SOCKET },
};

static const struct key_spec log_keys[] = {
	{ .name = "level", .path = "log.level", .kind = VAL_LEVEL },
	{ .name = "events", .path = "log.events", .kind = VAL_EVENTS },
	{ .name = "pcap", .path = "log.pcap", .kind = VAL_PCAP },
	UINT_KEY("pcap_max_mb", "log.pcap_max_mb", drop_pcap_max_mb, 1, 1048576),
};

static const struct key_spec table_keys[] = {
	UINT_KEY("max_flows", "table.max_flows", max_flows, 1, HS_TABLE_MAX_FLOWS),
	BOOL_KEY("pickup", "table.pickup", pickup),
	BOOL_KEY("strict", "table.strict", strict),
	{ .name = "timeouts", .path = "table.timeouts", .kind = VAL_SECTION, .arg = SEC_TIMEOUTS },
};

static const struct key_spec timeout_keys[] = {
	TIMEOUT_KEY("syn_sent", HS_TIMEOUT_SYN_SENT),
	TIMEOUT_KEY("syn_rcvd", HS_TIMEOUT_SYN_RCVD),
	TIMEOUT_KEY("established", HS_TIMEOUT_ESTABLISHED),
	TIMEOUT_KEY("fin_wait", HS_TIMEOUT_FIN_WAIT),
	TIMEOUT_KEY("close_wait", HS_TIMEOUT_CLOSE_WAIT),
	TIMEOUT_KEY("last_ack", HS_TIMEOUT_LAST_ACK),
	TIMEOUT_KEY("time_wait", HS_TIMEOUT_TIME_WAIT),
	TIMEOUT_KEY("closed", HS_TIMEOUT_CLOSED),
};

struct section {
	const char *path;           /* NULL for the top level */
	const struct key_spec *keys;
	size_t count;
};

#define SECTION(p, k) { .path = (p), .keys = (k), .count = ARRAY_SIZE(k) }

static const struct section sections[SEC_COUNT] = {
	[SEC_TOP] = SECTION(NULL, top_keys),
	[SEC_QUEUE] = SECTION("queue", queue_keys),
	[SEC_CONTROL] = SECTION("control", control_keys),
	[SEC_LOG] = SECTION("log", log_keys),
	[SEC_TABLE] = SECTION("table", table_keys),
	[SEC_TIMEOUTS] = SECTION("table.timeouts", timeout_keys),
	[SEC_RULES] = SECTION("rules", rules_keys),
	[SEC_METRICS] = SECTION("metrics", metrics_keys),
	[SEC_STATE] = SECTION("state", state_keys),
};

/* Duplicate detection keeps one slot per key of the largest section. */
#define MAX_SECTION_KEYS 8
_Static_assert(ARRAY_SIZE(top_keys) <= MAX_SECTION_KEYS, "top_keys");
_Static_assert(ARRAY_SIZE(queue_keys) <= MAX_SECTION_KEYS, "queue_keys");
_Static_assert(ARRAY_SIZE(log_keys) <= MAX_SECTION_KEYS, "log_keys");
_Static_assert(ARRAY_SIZE(table_keys) <= MAX_SECTION_KEYS, "table_keys");
_Static_assert(ARRAY_SIZE(timeout_keys) == HS_TIMEOUT_CLASS_COUNT, "one key per timeout class");
_Static_assert(ARRAY_SIZE(timeout_keys) <= MAX_SECTION_KEYS, "timeout_keys");
_Static_assert(ARRAY_SIZE(rules_keys) <= MAX_SECTION_KEYS, "rules_keys");
_Static_assert(ARRAY_SIZE(state_keys) <= MAX_SECTION_KEYS, "state_keys");

/* Indexed by enum hs_log_level. */
const char *const hs_config_level_names[] = { "error", "warning", "notice", "info", "debug" };
_Static_assert(ARRAY_SIZE(hs_config_level_names) == HS_LOG_DEBUG + 1, "one name per log level");

static const struct key_spec *find_key(const struct section *sec, const char *name, size_t len)
{
	for (size_t i = 0; i < sec->count; i++)
		if (strlen(sec->keys[i].name) == len && memcmp(sec->keys[i].name, name, len) == 0)
			return &sec->keys[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Walking the document                                                     */

/*
 * The text of a value that must be a single scalar, or NULL after reporting
 * why it is not.  A missing value is underlined at its key, because an empty
 * value's own position is wherever the next token happens to start.
 */
static const char *scalar_value(struct cfg_loader *ld, const struct key_spec *spec,
				const yaml_node_t *key, const yaml_node_t *value, size_t *len)
{
	if (value->type != YAML_SCALAR_NODE) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: expected a scalar value, got %s", spec->path,
			  cfg_kind_name(value));
		return NULL;
	}
	if (cfg_is_null(value)) {
		cfg_report_at(ld, HS_DIAG_ERROR, key, "%s: missing value", spec->path);
		return NULL;
	}
	/* Double-quoted YAML can spell "\0"; no value here may hold one. */
	if (memchr(value->data.scalar.value, '\0', value->data.scalar.length)) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: value contains a NUL character", spec->path);
		return NULL;
	}
	*len = value->data.scalar.length;
	return cfg_scalar_text(value);
}

static void load_mapping(struct cfg_loader *ld, enum section_id id, const yaml_node_t *node);

/* num: 3, or "FIRST-LAST" for one worker per queue of a range. */
static void load_queue_num(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			   const char *text, size_t len)
{
	char quoted[CFG_QUOTE_MAX], num[32];
	const char *dash = memchr(text, '-', len);
	size_t first_len = dash ? (size_t)(dash - text) : len;
	const char *second = dash ? dash + 1 : text;
	size_t second_len = dash ? len - first_len - 1 : len;
	uint64_t first, last;

	if (!hs_all_digits(text, first_len) || !hs_all_digits(second, second_len)) {
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not a queue number (0 to 65535) or a range such as \"0-3\"",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len));
		return;
	}
	if (!hs_parse_decimal(text, first_len, UINT16_MAX, &first) ||
	    !hs_parse_decimal(second, second_len, UINT16_MAX, &last)) {
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is out of range (queue numbers go from 0 to 65535)", spec->path,
			  cfg_number_text(num, sizeof(num), text, len));
		return;
	}
	if (first > last) {
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: range %s is reversed (the first queue must not be above the last)",
			  spec->path, cfg_number_text(num, sizeof(num), text, len));
		return;
	}
	if (last - first + 1 > HS_MAX_QUEUES) {
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: range %s has %u queues, more than the %d workers handshaked runs at most",
			  spec->path, cfg_number_text(num, sizeof(num), text, len), (unsigned)(last - first + 1),
			  HS_MAX_QUEUES);
		return;
	}
	ld->config->queue_first = (uint16_t)first;
	ld->config->queue_last = (uint16_t)last;
}

static void load_uint(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		      const char *text, size_t len)
{
	char quoted[CFG_QUOTE_MAX], num[32];
	uint64_t number;

	bool hex = len > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');

	if (hex ? !hs_all_hex_digits(text + 2, len - 2) : !hs_all_digits(text, len)) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: %s is not a whole number (expected %u to %u)",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len), spec->min, spec->max);
		return;
	}
	if (!(hex ? hs_parse_hex(text + 2, len - 2, spec->max, &number)
		  : hs_parse_decimal(text, len, spec->max, &number)) || number < spec->min) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: %s is out of range (%u to %u)", spec->path,
			  cfg_number_text(num, sizeof(num), text, len), spec->min, spec->max);
		return;
	}
	if (number < spec->warn_below)
		cfg_report_at(ld, HS_DIAG_WARNING, value, "%s: %u %s", spec->path, (unsigned)number,
			  spec->warning);
	memcpy((char *)ld->config + spec->offset, &(uint32_t){ (uint32_t)number }, sizeof(uint32_t));
}

static void load_bool(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		      const char *text, size_t len)
{
	char quoted[CFG_QUOTE_MAX];
	bool flag;

	if (!cfg_parse_bool(text, &flag)) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: %s is not a boolean (expected true or false)",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len));
		return;
	}
	memcpy((char *)ld->config + spec->offset, &flag, sizeof(flag));
}

static void load_socket(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			const char *text, size_t len)
{
	if (len == 0) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: the path is empty", spec->path);
		return;
	}
	if (len > SOCKET_PATH_MAX) {
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: the path is %zu bytes, too long for a UNIX socket (at most %zu)",
			  spec->path, len, (size_t)SOCKET_PATH_MAX);
		return;
	}
	memcpy(ld->config->control_socket, text, len + 1);
}

static void load_level(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		       const char *text, size_t len)
{
	char quoted[CFG_QUOTE_MAX], hint[64];

	/* Levels are names, not code: "INFO" means what it says. */
	for (size_t i = 0; i < ARRAY_SIZE(hs_config_level_names); i++) {
		if (strcasecmp(text, hs_config_level_names[i]) == 0) {
			ld->config->log_level = (enum hs_log_level)i;
			return;
		}
	}
	const char *guess = hs_suggest(text, len, hs_config_level_names, ARRAY_SIZE(hs_config_level_names));
	if (guess)
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: unknown level %s%s", spec->path,
			  cfg_quote(quoted, sizeof(quoted), text, len),
			  hs_did_you_mean(hint, sizeof(hint), guess));
	else
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: unknown level %s (expected error, warning, notice, info or debug)",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len));
}

static void load_events(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			const char *text, size_t len)
{
	static const char *const words[] = { "stderr", "off" };
	char quoted[CFG_QUOTE_MAX], hint[64];

	if (strcasecmp(text, "stderr") == 0) {
		ld->config->events_mode = HS_EVENTS_STDERR;
		ld->config->events_path[0] = '\0';
		return;
	}
	if (strcasecmp(text, "off") == 0) {
		ld->config->events_mode = HS_EVENTS_OFF;
		ld->config->events_path[0] = '\0';
		return;
	}
	if (text[0] == '/') {
		if (len >= sizeof(ld->config->events_path)) {
			cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: the path is %zu bytes, too long (at most %zu)",
				  spec->path, len, sizeof(ld->config->events_path) - 1);
			return;
		}
		ld->config->events_mode = HS_EVENTS_FILE;
		memcpy(ld->config->events_path, text, len + 1);
		return;
	}
	/*
	 * A relative path would depend on the daemon's working directory,
	 * which systemd sets to "/"; asking for an absolute one avoids the
	 * surprise.  Text that looks like neither a path nor a file name is
	 * more likely a misspelt keyword.
	 */
	if (len == 0)
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: empty value (expected stderr, off or an absolute file path)", spec->path);
	else if (memchr(text, '/', len) || memchr(text, '.', len))
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is a relative path (the events file must be an absolute path)",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len));
	else
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not stderr, off or an absolute file path%s", spec->path,
			  cfg_quote(quoted, sizeof(quoted), text, len),
			  hs_did_you_mean(hint, sizeof(hint), hs_suggest(text, len, words, ARRAY_SIZE(words))));
}

/*
 * A path that may also be "off" (stored as ""), absolute like log.events'
 * file: what log.pcap and state.dir take.  `reserve` is room the path must
 * leave for what is appended to it (state.dir's file names); `what` names
 * the kind of path in the message.
 */
static void load_off_or_path(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			     const char *text, size_t len, char *dest, size_t size, size_t reserve, const char *what)
{
	char quoted[CFG_QUOTE_MAX];

	if (strcasecmp(text, "off") == 0) {
		dest[0] = '\0';
	} else if (text[0] != '/') {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: %s is not off or an absolute %s", spec->path,
			      cfg_quote(quoted, sizeof(quoted), text, len), what);
	} else if (len + reserve >= size) {
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: the path is %zu bytes, too long (at most %zu)", spec->path,
			      len, size - reserve - 1);
	} else {
		memcpy(dest, text, len + 1);
	}
}

/* log.pcap: off, or where the dropped packets go. */
static void load_pcap(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		      const char *text, size_t len)
{
	load_off_or_path(ld, spec, value, text, len, ld->config->drop_pcap_path, sizeof(ld->config->drop_pcap_path),
			 0, "file path");
}

/* state.dir: off, or the directory the snapshots go in (with room for the temporary file's name). */
static void load_state_dir(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			   const char *text, size_t len)
{
	load_off_or_path(ld, spec, value, text, len, ld->config->state_dir, sizeof(ld->config->state_dir),
			 sizeof("/handshaked.snap.tmp") - 1, "directory");
}

/*
 * A duration key's value in milliseconds, more than zero and at most
 * CFG_TIMEOUT_MAX_DAYS; false, with the error reported (see
 * cfg_duration_problem for zero_what and off_hint), when it is not one.
 */
static bool parse_duration(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			   const char *text, size_t len, const char *zero_what, const char *off_hint, uint64_t *ms)
{
	enum cfg_duration_check check = cfg_bounded_duration(text, ms);
	char problem[CFG_DURATION_PROBLEM_MAX];

	if (check == CFG_BOUNDED_OK)
		return true;
	cfg_duration_problem(problem, sizeof(problem), check, spec->path, text, len, zero_what, off_hint);
	cfg_report_at(ld, HS_DIAG_ERROR, value, "%s", problem);
	return false;
}

/* A duration in milliseconds; with arg 1, 0 or off turns the feature off. */
static void load_duration(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			  const char *text, size_t len)
{
	uint32_t *field = (uint32_t *)((char *)ld->config + spec->offset);
	uint64_t ms = 0;

	if (spec->arg && (strcasecmp(text, "off") == 0 || strcmp(text, "0") == 0)) {
		*field = 0;
		return;
	}
	if (parse_duration(ld, spec, value, text, len, "", spec->arg ? "; 0 or off for none" : "", &ms))
		*field = (uint32_t)ms;
}

static void load_timeout(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			 const char *text, size_t len)
{
	uint64_t ms = 0;

	if (!parse_duration(ld, spec, value, text, len, "a timeout ", "", &ms))
		return;
	ld->config->timeout_ms[spec->arg] = (uint32_t)ms;
	ld->timeout_given[spec->arg] = true;
}

/*
 * A half-closed connection has an endpoint that keeps its socket as long
 * as an open one would (CLOSE_WAIT lasts until its application closes), so
 * unless they are given, fin_wait and close_wait follow established.
 */
static void follow_established(struct cfg_loader *ld)
{
	static const enum hs_timeout_class half_closed[] = { HS_TIMEOUT_FIN_WAIT, HS_TIMEOUT_CLOSE_WAIT };

	for (size_t i = 0; i < ARRAY_SIZE(half_closed); i++)
		if (!ld->timeout_given[half_closed[i]])
			ld->config->timeout_ms[half_closed[i]] = ld->config->timeout_ms[HS_TIMEOUT_ESTABLISHED];
}

/* One word of a rules list: a chain, an interface name or a family. */
static bool load_word(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *node, unsigned index)
{
	static const char *const chains[] = { "FORWARD", "INPUT", "OUTPUT", "PREROUTING" };
	static const char *const families[] = { "ipv4", "ipv6" };
	struct hs_config *c = ld->config;
	char quoted[CFG_QUOTE_MAX], hint[64];

	if (node->type != YAML_SCALAR_NODE || cfg_is_null(node)) {
		cfg_report_at(ld, HS_DIAG_ERROR, node, "%s: expected a word, got %s", spec->path, cfg_kind_name(node));
		return false;
	}
	const char *text = cfg_scalar_text(node);
	size_t len = node->data.scalar.length;

	switch ((enum word_list)spec->arg) {
	case WORDS_CHAINS:
		for (size_t i = 0; i < ARRAY_SIZE(chains); i++) {
			if (strcasecmp(text, chains[i]) == 0) {
				for (unsigned j = 0; j < c->rules_nchains; j++)
					if (strcmp(c->rules_chains[j], chains[i]) == 0)
						return true;   /* listed twice: once is enough */
				snprintf(c->rules_chains[c->rules_nchains++], sizeof(c->rules_chains[0]), "%s", chains[i]);
				return true;
			}
		}
		cfg_report_at(ld, HS_DIAG_ERROR, node, "%s: %s is not a chain NFQUEUE rules can go in (FORWARD, INPUT, OUTPUT or PREROUTING)%s",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len),
			  hs_did_you_mean(hint, sizeof(hint), hs_suggest(text, len, chains, ARRAY_SIZE(chains))));
		return false;
	case WORDS_IN_IFACES:
	case WORDS_OUT_IFACES: {
		/* Linux interface names: 1 to 15 bytes, no '/', no spaces; '+' is iptables' wildcard. */
		bool ok = len > 0 && len < 16;
		for (size_t i = 0; ok && i < len; i++)
			ok = text[i] != '/' && text[i] != ' ' && (unsigned char)text[i] > 32 && (unsigned char)text[i] < 127;
		if (!ok) {
			cfg_report_at(ld, HS_DIAG_ERROR, node, "%s: %s is not an interface name (1 to 15 characters, no '/' or spaces)",
				  spec->path, cfg_quote(quoted, sizeof(quoted), text, len));
			return false;
		}
		bool in = spec->arg == WORDS_IN_IFACES;
		char (*list)[16] = in ? c->rules_in_interfaces : c->rules_out_interfaces;
		uint8_t *n = in ? &c->rules_n_in : &c->rules_n_out;
		(void)index;
		if (*n >= 8) {
			cfg_report_at(ld, HS_DIAG_ERROR, node, "%s: at most 8 interfaces", spec->path);
			return false;
		}
		memcpy(list[(*n)++], text, len + 1);
		return true;
	}
	case WORDS_FAMILIES:
		if (strcasecmp(text, "ipv4") == 0) {
			c->rules_ipv4 = true;
			return true;
		}
		if (strcasecmp(text, "ipv6") == 0) {
			c->rules_ipv6 = true;
			return true;
		}
		cfg_report_at(ld, HS_DIAG_ERROR, node, "%s: %s is not a family (ipv4 or ipv6)%s", spec->path,
			  cfg_quote(quoted, sizeof(quoted), text, len),
			  hs_did_you_mean(hint, sizeof(hint), hs_suggest(text, len, families, ARRAY_SIZE(families))));
		return false;
	}
	return false;
}

static bool has_chain(const struct hs_config *c, const char *chain)
{
	for (unsigned i = 0; i < c->rules_nchains; i++)
		if (strcmp(c->rules_chains[i], chain) == 0)
			return true;
	return false;
}

/*
 * INPUT and PREROUTING see the same packets (PREROUTING's rule takes those
 * to a local address): both at once would queue each of them twice.  INPUT
 * alone works, but queues after the stack's early demux, which can hand a
 * segment queued right behind a FIN to the socket that FIN just closed: the
 * segment is lost (README, "Run it on an end host").
 */
static void check_inbound_chains(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value)
{
	const struct hs_config *c = ld->config;

	if (has_chain(c, "INPUT") && has_chain(c, "PREROUTING"))
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			      "%s: INPUT and PREROUTING both queue the packets to this host: each would be seen twice "
			      "(keep PREROUTING)", spec->path);
	else if (has_chain(c, "INPUT"))
		cfg_report_at(ld, HS_DIAG_WARNING, value,
			      "%s: INPUT queues after early demux, which can lose a segment queued right behind "
			      "a FIN; PREROUTING queues the same packets before it", spec->path);
}

/*
 * local_state and remote_state match only connections with an endpoint on
 * this host, and FORWARD, the default chain, queues none: such a policy
 * would load and never act.  Checked once the whole file is read, since
 * rules may come after the policies; a warning, for the operator whose
 * own rules (not handshaked-rules) queue INPUT and OUTPUT.
 */
static void check_local_policies_queued(struct cfg_loader *ld)
{
	const struct hs_config *c = ld->config;

	if (has_chain(c, "INPUT") || has_chain(c, "OUTPUT") || has_chain(c, "PREROUTING"))
		return;
	for (uint32_t i = 0; i < c->policies.count && i < HS_POLICY_MAX; i++)
		if (ld->policy_local[i])
			cfg_report_at(ld, HS_DIAG_WARNING, ld->policy_local[i],
				      "policy \"%s\" matches on %s, which only connections to or from this host "
				      "meet, but rules.chains queues FORWARD only: it can never act (an end host "
				      "queues PREROUTING and OUTPUT)", c->policies.items[i].name,
				      cfg_scalar_text(ld->policy_local[i]));
}

/* A rules key: one word, or a list of words, replacing the default. */
static void load_words(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value)
{
	struct hs_config *c = ld->config;

	switch ((enum word_list)spec->arg) {
	case WORDS_CHAINS:
		c->rules_nchains = 0;
		break;
	case WORDS_IN_IFACES:
		c->rules_n_in = 0;
		break;
	case WORDS_OUT_IFACES:
		c->rules_n_out = 0;
		break;
	case WORDS_FAMILIES:
		c->rules_ipv4 = c->rules_ipv6 = false;
		break;
	}
	if (value->type == YAML_SEQUENCE_NODE) {
		unsigned index = 0;
		for (const yaml_node_item_t *it = value->data.sequence.items.start; it < value->data.sequence.items.top;
		     it++) {
			const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
			if (item)
				load_word(ld, spec, item, index++);
		}
	} else if (!cfg_is_null(value)) {
		load_word(ld, spec, value, 0);
	}
	if (spec->arg == WORDS_CHAINS)
		check_inbound_chains(ld, spec, value);
	if (spec->arg == WORDS_CHAINS && c->rules_nchains == 0)
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: at least one chain is needed (FORWARD, INPUT, OUTPUT or PREROUTING)",
			  spec->path);
	if (spec->arg == WORDS_FAMILIES && !c->rules_ipv4 && !c->rules_ipv6)
		cfg_report_at(ld, HS_DIAG_ERROR, value, "%s: at least one family is needed (ipv4, ipv6)", spec->path);
}

/* metrics.listen: off, or ADDRESS:PORT with a numeric address ("127.0.0.1:9547", "[::1]:9547"). */
static void load_listen(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *value, const char *text,
			size_t len)
{
	char quoted[CFG_QUOTE_MAX], host[64];
	const char *colon = NULL;
	struct hs_addr addr;
	uint8_t family;
	uint64_t port;

	if (strcasecmp(text, "off") == 0) {
		ld->config->metrics_listen[0] = '\0';
		return;
	}
	if (text[0] == '[') {
		const char *close = memchr(text, ']', len);
		if (close && close[1] == ':') {
			snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
			colon = close + 1;
		}
	} else {
		colon = strrchr(text, ':');
		if (colon)
			snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	}
	size_t port_len = colon ? len - (size_t)(colon + 1 - text) : 0;
	if (!colon || len >= sizeof(ld->config->metrics_listen) || !hs_addr_parse(host, &addr, &family) ||
	    !hs_all_digits(colon + 1, port_len) || !hs_parse_decimal(colon + 1, port_len, 65535, &port) || port == 0) {
		cfg_report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not off or ADDRESS:PORT with a numeric address (127.0.0.1:9547, [::1]:9547)",
			  spec->path, cfg_quote(quoted, sizeof(quoted), text, len));
		return;
	}
	memcpy(ld->config->metrics_listen, text, len + 1);
}

static void load_value(struct cfg_loader *ld, const struct key_spec *spec, const yaml_node_t *key,
		       const yaml_node_t *value)
{
	const char *text;
	size_t len;

	switch (spec->kind) {
	case VAL_SECTION:
		load_mapping(ld, (enum section_id)spec->arg, value);
		return;
	case VAL_POLICIES:
		cfg_load_policies(ld, spec->path, value);
		return;
	case VAL_WORDS:
		load_words(ld, spec, value);
		return;
	default:
		break;
	}

	text = scalar_value(ld, spec, key, value, &len);
	if (!text)
		return;
	switch (spec->kind) {
	case VAL_QUEUE_NUM:
		load_queue_num(ld, spec, value, text, len);
		break;
	case VAL_BOOL:
		load_bool(ld, spec, value, text, len);
		break;
	case VAL_UINT:
		load_uint(ld, spec, value, text, len);
		break;
	case VAL_SOCKET:
		load_socket(ld, spec, value, text, len);
		break;
	case VAL_LEVEL:
		load_level(ld, spec, value, text, len);
		break;
	case VAL_EVENTS:
		load_events(ld, spec, value, text, len);
		break;
	case VAL_PCAP:
		load_pcap(ld, spec, value, text, len);
		break;
	case VAL_TIMEOUT:
		load_timeout(ld, spec, value, text, len);
		break;
	case VAL_LISTEN:
		load_listen(ld, spec, value, text, len);
		break;
	case VAL_STATE_DIR:
		load_state_dir(ld, spec, value, text, len);
		break;
	case VAL_DURATION:
		load_duration(ld, spec, value, text, len);
		break;
	case VAL_SECTION:
	case VAL_POLICIES:
	case VAL_WORDS:
		break;
	}
}

/*
 * An unknown key is most often a typo or a key at the wrong depth, so the
 * message says which: a key of another section is pointed to its home, and
 * otherwise the closest key of this section is offered.
 */
static void report_unknown(struct cfg_loader *ld, enum section_id id, const yaml_node_t *key)
{
	const struct section *sec = &sections[id];
	const char *text = cfg_scalar_text(key);
	size_t len = key->data.scalar.length;
	char quoted[CFG_QUOTE_MAX], hint[96] = "";
	const char *names[MAX_SECTION_KEYS];

	for (int other = 0; other < SEC_COUNT; other++) {
		if (other == (int)id || !find_key(&sections[other], text, len))
			continue;
		if (other == SEC_TOP)
			snprintf(hint, sizeof(hint), " (it belongs at the top level)");
		else
			snprintf(hint, sizeof(hint), " (it belongs in %s)", sections[other].path);
		break;
	}
	if (!hint[0]) {
		for (size_t i = 0; i < sec->count; i++)
			names[i] = sec->keys[i].name;
		hs_did_you_mean(hint, sizeof(hint), hs_suggest(text, len, names, sec->count));
	}
	cfg_quote(quoted, sizeof(quoted), text, len);
	if (sec->path)
		cfg_report_at(ld, HS_DIAG_ERROR, key, "unknown key %s in %s%s", quoted, sec->path, hint);
	else
		cfg_report_at(ld, HS_DIAG_ERROR, key, "unknown top-level key %s%s", quoted, hint);
}

/*
 * Checks one mapping against its section's keys.  The walk never goes deeper
 * than the schema does, so aliases (even an alias to its own ancestor) cannot
 * make it loop, and each key's value is looked at only once per mapping: a
 * duplicate is reported, not loaded.
 */
static void load_mapping(struct cfg_loader *ld, enum section_id id, const yaml_node_t *node)
{
	const struct section *sec = &sections[id];
	const yaml_node_t *seen[MAX_SECTION_KEYS] = { NULL };

	if (cfg_is_null(node))
		return;
	if (node->type != YAML_MAPPING_NODE) {
		if (sec->path)
			cfg_report_at(ld, HS_DIAG_ERROR, node, "%s: expected a mapping, got %s", sec->path,
				  cfg_kind_name(node));
		else
			cfg_report_at(ld, HS_DIAG_ERROR, node,
				  "the configuration must be a mapping (of queue, control, log, table, "
				  "policies), got %s", cfg_kind_name(node));
		return;
	}
	for (const yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = yaml_document_get_node(ld->doc, pair->key);
		const yaml_node_t *value = yaml_document_get_node(ld->doc, pair->value);

		if (!key || !value)
			continue;
		if (key->type != YAML_SCALAR_NODE) {
			if (sec->path)
				cfg_report_at(ld, HS_DIAG_ERROR, key, "a key in %s must be a name, got %s",
					  sec->path, cfg_kind_name(key));
			else
				cfg_report_at(ld, HS_DIAG_ERROR, key, "a top-level key must be a name, got %s",
					  cfg_kind_name(key));
			continue;
		}
		const struct key_spec *spec = find_key(sec, cfg_scalar_text(key), key->data.scalar.length);
		if (!spec) {
			report_unknown(ld, id, key);
			continue;
		}
		size_t index = (size_t)(spec - sec->keys);
		if (seen[index]) {
			if (sec->path)
				cfg_report_at(ld, HS_DIAG_ERROR, key,
					  "duplicate key \"%s\" in %s (first given on line %u)", spec->name,
					  sec->path, cfg_to_unsigned(seen[index]->start_mark.line + 1));
			else
				cfg_report_at(ld, HS_DIAG_ERROR, key,
					  "duplicate top-level key \"%s\" (first given on line %u)",
					  spec->name, cfg_to_unsigned(seen[index]->start_mark.line + 1));
			continue;
		}
		seen[index] = key;
		load_value(ld, spec, key, value);
	}
}

/* ------------------------------------------------------------------------ */
/* Parsing and loading                                                      */

/* libyaml skips a UTF-8 byte order mark without counting it as a column. */
static size_t skip_bom(const unsigned char *p, size_t n)
{
	return n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? 3 : 0;
}

/* Steps over one UTF-8 character (or one stray byte). */
static size_t next_char(const unsigned char *p, size_t pos, size_t n)
{
	pos++;
	while (pos < n && (p[pos] & 0xC0) == 0x80)
		pos++;
	return pos;
}

/*
 * libyaml's reader reports a byte offset rather than a mark (it fails before
 * it has counted lines), so the position is worked out here.
 */
static void offset_position(const char *text, size_t len, size_t offset, unsigned *line,
			    unsigned *column)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t pos, lines = 0, columns = 0;

	if (offset > len)
		offset = len;
	pos = offset >= 3 ? skip_bom(p, len) : 0;
	while (pos < offset) {
		size_t br = hs_diag_break_len(p + pos, offset - pos);
		if (br) {
			pos += br;
			lines++;
			columns = 0;
		} else {
			pos = next_char(p, pos, offset);
			columns++;
		}
	}
	*line = cfg_to_unsigned(lines + 1);
	*column = cfg_to_unsigned(columns + 1);
}

/* The byte at a libyaml mark (0-based line and column), or -1 past the end. */
static int byte_at_mark(const char *text, size_t len, size_t line, size_t column)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t pos = skip_bom(p, len);

	while (line > 0 && pos < len) {
		size_t br = hs_diag_break_len(p + pos, len - pos);
		if (br) {
			pos += br;
			line--;
		} else {
			pos++;
		}
	}
	for (; column > 0 && pos < len && !hs_diag_break_len(p + pos, len - pos); column--)
		pos = next_char(p, pos, len);
	return line == 0 && column == 0 && pos < len ? p[pos] : -1;
}

static void report_parser_error(struct hs_diag *diag, const yaml_parser_t *parser, const char *text,
				size_t len)
{
	const char *problem = parser->problem ? parser->problem : "unknown problem";
	unsigned line, column;

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0, "out of memory while parsing");
		return;
	case YAML_READER_ERROR:
		if (strstr(problem, "UTF-8") && parser->problem_offset < len) {
			/*
			 * libyaml blames the first byte that broke a sequence,
			 * which may be the innocent one after it; the operator
			 * needs the sequence's first byte, the one that is not
			 * UTF-8 (a Latin-1 letter, typically).
			 */
			const unsigned char *p = (const unsigned char *)text;
			size_t offset = parser->problem_offset;
			if (strstr(problem, "trailing")) {
				while (offset > 0 && (p[offset - 1] & 0xC0) == 0x80)
					offset--;
				if (offset > 0 && p[offset - 1] >= 0xC0)
					offset--;
			}
			offset_position(text, len, offset, &line, &column);
			hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1,
				       "invalid UTF-8 byte 0x%02X; the file must be UTF-8", p[offset]);
			return;
		}
		offset_position(text, len, parser->problem_offset, &line, &column);
		if (parser->problem_value >= 0)
			hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1, "invalid text: %s (0x%02X)",
				       problem, (unsigned)parser->problem_value);
		else
			hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1, "invalid text: %s",
				       problem);
		return;
	default:
		break;
	}

	line = cfg_to_unsigned(parser->problem_mark.line + 1);
	column = cfg_to_unsigned(parser->problem_mark.column + 1);
	/*
	 * A tab where a token should start is nearly always a tab used for
	 * indentation, which libyaml's own wording does not make obvious.
	 */
	if (byte_at_mark(text, len, parser->problem_mark.line, parser->problem_mark.column) == '\t') {
		hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1,
			       "syntax error: a tab where YAML expects spaces (indent with spaces only)");
		return;
	}
	if (!parser->context)
		hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1, "syntax error: %s", problem);
	else if (parser->context_mark.line == parser->problem_mark.line &&
		 parser->context_mark.column == parser->problem_mark.column)
		hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1, "syntax error: %s (%s)", problem,
			       parser->context);
	else
		hs_diag_report(diag, HS_DIAG_ERROR, line, column, 1,
			       "syntax error: %s (%s at line %u, column %u)", problem, parser->context,
			       cfg_to_unsigned(parser->context_mark.line + 1),
			       cfg_to_unsigned(parser->context_mark.column + 1));
}

/*
 * A second document would be silently ignored by a loader that reads only
 * the first, which is exactly the kind of surprise a configuration must not
 * spring, so one is an error.
 */
static void check_single_document(struct hs_diag *diag, yaml_parser_t *parser, const char *text,
				  size_t len)
{
	yaml_document_t doc;

	if (!yaml_parser_load(parser, &doc)) {
		report_parser_error(diag, parser, text, len);
		return;
	}
	if (yaml_document_get_root_node(&doc))
		hs_diag_report(diag, HS_DIAG_ERROR, cfg_to_unsigned(doc.start_mark.line + 1),
			       cfg_to_unsigned(doc.start_mark.column + 1),
			       cfg_to_unsigned(doc.end_mark.line == doc.start_mark.line
						   ? doc.end_mark.column - doc.start_mark.column
						   : UINT_MAX),
			       "unexpected second YAML document (the configuration must be a single document)");
	yaml_document_delete(&doc);
}

int hs_config_parse(const char *text, size_t len, struct hs_config *config, struct hs_diag *diag)
{
	unsigned errors_before = diag->errors;
	const unsigned char *bytes = (const unsigned char *)(text ? text : "");
	struct hs_config result;
	yaml_parser_t parser;
	yaml_document_t doc;

	if (!text)
		len = 0;
	hs_config_defaults(&result);

	/*
	 * libyaml would decode UTF-16 by its byte order mark, but then its
	 * columns would no longer match the bytes we underline; configuration
	 * files are UTF-8, so say so plainly.
	 */
	if (len >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF))) {
		hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0,
			       "the file is UTF-16; a configuration must be UTF-8");
		return -1;
	}

	if (!yaml_parser_initialize(&parser)) {
		hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0, "out of memory while parsing");
		return -1;
	}
	yaml_parser_set_input_string(&parser, bytes, len);
	if (!yaml_parser_load(&parser, &doc)) {
		report_parser_error(diag, &parser, (const char *)bytes, len);
	} else {
		struct cfg_loader ld = { .doc = &doc, .config = &result, .diag = diag };
		const yaml_node_t *root = yaml_document_get_root_node(&doc);
		bool had_document = root != NULL;

		/* An empty file, or one with only comments, has no root: all defaults. */
		if (root)
			load_mapping(&ld, SEC_TOP, root);
		follow_established(&ld);
		hs_policy_check_reach(&ld);
		check_local_policies_queued(&ld);
		yaml_document_delete(&doc);
		if (had_document)
			check_single_document(diag, &parser, (const char *)bytes, len);
	}
	yaml_parser_delete(&parser);

	if (diag->errors != errors_before)
		return -1;
	*config = result;
	return 0;
}

/*
 * Reads a whole file of at most CONFIG_MAX_BYTES.  Returns 0, or an errno
 * value (EFBIG for a file over the cap) with *what naming the step that
 * failed.
 */
static int read_file(const char *path, char **text, size_t *len, const char **what)
{
	size_t cap = 4096, used = 0;
	char *buf = NULL;
	int fd, err = 0;

	*what = "cannot open";
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno;
	*what = "cannot read";
	for (;;) {
		if (used == cap || !buf) {
			char *grown;
			if (buf)
				cap *= 2;
			/* One byte beyond the cap tells "exactly at the cap" from "over". */
			if (cap > CONFIG_MAX_BYTES + 1)
				cap = CONFIG_MAX_BYTES + 1;
			grown = realloc(buf, cap);
			if (!grown) {
				err = ENOMEM;
				break;
			}
			buf = grown;
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > CONFIG_MAX_BYTES) {
			err = EFBIG;
			break;
		}
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	*len = used;
	return 0;
}

int hs_config_load(const char *path, struct hs_config *config, struct hs_diag *diag)
{
	const char *what;
	char *text = NULL;
	size_t len = 0;
	int err;

	if (!path)
		path = HS_DEFAULT_CONFIG_PATH;
	err = read_file(path, &text, &len, &what);
	if (err) {
		char buf[128];
		hs_diag_init(diag, path, NULL, 0);
		if (err == EFBIG)
			hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0,
				       "the file is larger than %d KiB; is this really the configuration?",
				       CONFIG_MAX_BYTES / 1024);
		else
			hs_diag_report(diag, HS_DIAG_ERROR, 0, 0, 0, "%s: %s", what,
				       strerror_r(err, buf, sizeof(buf)));
		return -1;
	}
	hs_diag_init(diag, path, text, len);
	int rc = hs_config_parse(text, len, config, diag);
	free(text);
	return rc;
}

