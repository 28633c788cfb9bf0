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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
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
 * Timeouts are stored as uint32_t milliseconds, which would allow 49 days;
 * 20 days is well past Linux's 5-day established default and leaves the
 * timer code a wide margin.
 */
#define TIMEOUT_MAX_DAYS 20
#define TIMEOUT_MAX_MS ((uint64_t)TIMEOUT_MAX_DAYS * 24 * 3600 * 1000)

/*
 * Below this many bytes a copied packet may lose the end of its TCP header:
 * IPv4 and TCP headers with options can take 60 bytes each.
 */
#define COPY_RANGE_FULL_HEADERS 120

/* Room for a user's text quoted in a message, escapes and "..." included. */
#define QUOTE_MAX 64

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
	config->max_flows = 262144;
	config->pickup = true;
	config->strict = false;
	memcpy(config->timeout_ms, timeouts, sizeof(timeouts));
	config->rules_nchains = 1;
	snprintf(config->rules_chains[0], sizeof(config->rules_chains[0]), "FORWARD");
	config->rules_ipv4 = true;
	config->rules_ipv6 = true;
	config->metrics_listen[0] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Durations                                                                */

enum duration_status { DURATION_OK, DURATION_INVALID, DURATION_NEGATIVE, DURATION_OVERFLOW };

/*
 * The grammar is deliberately narrow: digits, then at most one unit, with
 * nothing in between and nothing after.  Fractions, signs, spaces and
 * capital units are refused rather than guessed at ("5M" could be minutes or
 * months).  A leading '-' is recognised only to give a better message.
 */
static enum duration_status parse_duration(const char *text, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 },
		{ "m", 60 * 1000 }, { "h", 3600 * 1000 }, { "d", 24 * 3600 * 1000 },
	};
	uint64_t value = 0;
	bool overflow = false, negative = false;
	const char *p = text;

	if (!text)
		return DURATION_INVALID;
	if (*p == '-') {
		negative = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return DURATION_INVALID;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');
		if (value > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			value = value * 10 + digit;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (negative)
			return DURATION_NEGATIVE;
		if (overflow || value > UINT64_MAX / units[i].ms)
			return DURATION_OVERFLOW;
		*ms = value * units[i].ms;
		return DURATION_OK;
	}
	return DURATION_INVALID;
}

bool hs_parse_duration_ms(const char *text, uint64_t *ms)
{
	uint64_t value;

	if (parse_duration(text, &value) != DURATION_OK)
		return false;
	*ms = value;
	return true;
}

enum bounded_duration { BOUNDED_OK, BOUNDED_INVALID, BOUNDED_ZERO, BOUNDED_TOO_LONG };

/* A duration within the configuration's limits: above zero, at most TIMEOUT_MAX_DAYS. */
static enum bounded_duration bounded_duration(const char *text, uint64_t *ms)
{
	uint64_t value = 0;

	switch (parse_duration(text, &value)) {
	case DURATION_INVALID:
		return BOUNDED_INVALID;
	case DURATION_NEGATIVE:
		return BOUNDED_ZERO;
	case DURATION_OVERFLOW:
		return BOUNDED_TOO_LONG;
	case DURATION_OK:
		break;
	}
	if (value == 0)
		return BOUNDED_ZERO;
	if (value > TIMEOUT_MAX_MS)
		return BOUNDED_TOO_LONG;
	*ms = value;
	return BOUNDED_OK;
}

/* ------------------------------------------------------------------------ */
/* Small parsers and message helpers                                        */

/* Case folding that ignores the locale: keys and names are ASCII. */
static int tolower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool all_digits(const char *text, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	return true;
}

/* Digits already checked by all_digits; false if the number is above max. */
static bool parse_uint(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	for (size_t i = 0; i < len; i++) {
		value = value * 10 + (unsigned)(text[i] - '0');
		if (value > max)
			return false;
	}
	*out = value;
	return true;
}

static bool all_hex_digits(const char *text, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)text[i]))
			return false;
	return true;
}

/*
 * Hexadecimal digits (after "0x"), already checked by all_hex_digits:
 * firewall marks are written in hex by every tool that shows them.
 */
static bool parse_hex_uint(const char *text, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		unsigned digit = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);

		value = value * 16 + digit;
		if (value > max)
			return false;
	}
	*out = value;
	return true;
}

/*
 * YAML 1.1's boolean words, in the three spellings its type repository
 * lists (true, True, TRUE).  The y/n forms are left out on purpose.
 */
static bool parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/*
 * Quotes user text for a message: escapes quotes, backslashes and control
 * bytes, and shortens long text with "...", so that a message is one line
 * of bounded length whatever the file holds.
 */
static const char *quote(char *buf, size_t size, const char *text, size_t len)
{
	/* The tail needs "...", the closing quote and the NUL; one character needs up to 4. */
	size_t out = 0, room = size - 5;

	buf[out++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		/* Only cut before a character's first byte, never inside UTF-8. */
		if ((c & 0xC0) != 0x80 && out + 4 > room) {
			memcpy(buf + out, "...", 3);
			out += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[out++] = '\\';
			buf[out++] = (char)c;
		} else if (c < 0x20 || c == 0x7F) {
			out += (size_t)snprintf(buf + out, size - out, "\\x%02X", c);
		} else {
			buf[out++] = (char)c;
		}
	}
	buf[out++] = '"';
	buf[out] = '\0';
	return buf;
}

/*
 * Edit distance with adjacent transpositions (optimal string alignment),
 * ignoring case, for "did you mean" hints.  Only short words are compared:
 * keys and names in this schema are at most a dozen characters.
 */
#define SUGGEST_MAX_LEN 32

static unsigned edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower_ascii(a[i - 1]), cb = tolower_ascii(b[j - 1]);
			unsigned best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower_ascii(b[j - 2]) &&
			    tolower_ascii(a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/*
 * The name among candidates that text most likely misspells: within two
 * edits, and within a third of the name's length so that short names are
 * not "corrected" into unrelated ones.  NULL if nothing is that close.
 */
static const char *suggest(const char *text, size_t len, const char *const *names, size_t count)
{
	const char *best = NULL;
	unsigned best_distance = 3;

	if (len > SUGGEST_MAX_LEN)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		size_t name_len = strlen(names[i]);
		unsigned limit = (unsigned)(name_len / 3);
		if (limit < 1)
			limit = 1;
		if (limit > 2)
			limit = 2;
		if (name_len > SUGGEST_MAX_LEN || (len > name_len ? len - name_len : name_len - len) > limit)
			continue;
		unsigned distance = edit_distance(text, len, names[i], name_len);
		if (distance <= limit && distance < best_distance) {
			best = names[i];
			best_distance = distance;
		}
	}
	/* A shortened name ("warn", "max") points to the one name it begins. */
	if (best || len < 3)
		return best;
	for (size_t i = 0; i < count; i++) {
		if (strlen(names[i]) > len && strncasecmp(names[i], text, len) == 0) {
			if (best)
				return NULL;    /* ambiguous: better no hint than a wrong one */
			best = names[i];
		}
	}
	return best;
}

/* Formats " (did you mean "NAME"?)", or nothing. */
static const char *did_you_mean(char *buf, size_t size, const char *name)
{
	if (!name)
		return "";
	snprintf(buf, size, " (did you mean \"%s\"?)", name);
	return buf;
}

/* A number the user wrote, already known to be all digits, kept short. */
static const char *number_text(char *buf, size_t size, const char *text, size_t len)
{
	if (len > 24)
		snprintf(buf, size, "%.20s...", text);
	else
		snprintf(buf, size, "%.*s", (int)len, text);
	return buf;
}

static unsigned to_unsigned(size_t value)
{
	return value > UINT_MAX ? UINT_MAX : (unsigned)value;
}

/* ------------------------------------------------------------------------ */
/* The schema                                                               */

enum section_id { SEC_TOP, SEC_QUEUE, SEC_CONTROL, SEC_LOG, SEC_TABLE, SEC_TIMEOUTS, SEC_RULES, SEC_METRICS, SEC_COUNT };

enum value_kind {
	VAL_SECTION,        /* a nested mapping: arg is its section_id */
	VAL_POLICIES,       /* the policy list, loaded by load_policies */
	VAL_QUEUE_NUM,
	VAL_BOOL,           /* bool at offset */
	VAL_UINT,           /* uint32_t at offset, from min to max */
	VAL_SOCKET,
	VAL_LEVEL,
	VAL_EVENTS,
	VAL_TIMEOUT,        /* arg is the timeout class */
	VAL_WORDS,          /* a word or a list of words: arg is the enum word_list */
	VAL_LISTEN,         /* metrics.listen: "off" or ADDRESS:PORT */
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
	{ .name = "policies", .path = "policies", .kind = VAL_POLICIES },
};

static const struct key_spec rules_keys[] = {
	{ .name = "chains", .path = "rules.chains", .kind = VAL_WORDS, .arg = WORDS_CHAINS },
	{ .name = "in_interfaces", .path = "rules.in_interfaces", .kind = VAL_WORDS, .arg = WORDS_IN_IFACES },
	{ .name = "out_interfaces", .path = "rules.out_interfaces", .kind = VAL_WORDS, .arg = WORDS_OUT_IFACES },
	{ .name = "families", .path = "rules.families", .kind = VAL_WORDS, .arg = WORDS_FAMILIES },
};

static const struct key_spec metrics_keys[] = {
	{ .name = "listen", .path = "metrics.listen", .kind = VAL_LISTEN },
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

/* Indexed by enum hs_log_level. */
static const char *const level_names[] = { "error", "warning", "notice", "info", "debug" };
_Static_assert(ARRAY_SIZE(level_names) == HS_LOG_DEBUG + 1, "one name per log level");

static const struct key_spec *find_key(const struct section *sec, const char *name, size_t len)
{
	for (size_t i = 0; i < sec->count; i++)
		if (strlen(sec->keys[i].name) == len && memcmp(sec->keys[i].name, name, len) == 0)
			return &sec->keys[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Walking the document                                                     */

struct loader {
	yaml_document_t *doc;
	struct hs_config *config;   /* the values being built */
	struct hs_diag *diag;
};

/*
 * Reports a problem underlining a node: its whole text when it sits on one
 * line, otherwise from its start to the end of that line.
 */
__attribute__((format(printf, 4, 5)))
static void report_at(struct loader *ld, enum hs_diag_severity severity, const yaml_node_t *node,
		      const char *fmt, ...)
{
	char message[512];
	va_list ap;
	unsigned width = 1;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (node->end_mark.line > node->start_mark.line)
		width = UINT_MAX;
	else if (node->end_mark.column > node->start_mark.column)
		width = to_unsigned(node->end_mark.column - node->start_mark.column);
	hs_diag_report(ld->diag, severity, to_unsigned(node->start_mark.line + 1),
		       to_unsigned(node->start_mark.column + 1), width, "%s", message);
}

static const char *scalar_text(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/*
 * YAML's null: an empty or "~"/"null" plain scalar.  A section left with
 * every key commented out is null, and counts as empty, not as an error.
 */
static bool is_null(const yaml_node_t *node)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (strcmp(scalar_text(node), nulls[i]) == 0)
			return true;
	return false;
}

static const char *kind_name(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return is_null(node) ? "nothing" : "a scalar";
	default:
		return "nothing";
	}
}

/*
 * The text of a value that must be a single scalar, or NULL after reporting
 * why it is not.  A missing value is underlined at its key, because an empty
 * value's own position is wherever the next token happens to start.
 */
static const char *scalar_value(struct loader *ld, const struct key_spec *spec,
				const yaml_node_t *key, const yaml_node_t *value, size_t *len)
{
	if (value->type != YAML_SCALAR_NODE) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: expected a scalar value, got %s", spec->path,
			  kind_name(value));
		return NULL;
	}
	if (is_null(value)) {
		report_at(ld, HS_DIAG_ERROR, key, "%s: missing value", spec->path);
		return NULL;
	}
	/* Double-quoted YAML can spell "\0"; no value here may hold one. */
	if (memchr(value->data.scalar.value, '\0', value->data.scalar.length)) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: value contains a NUL character", spec->path);
		return NULL;
	}
	*len = value->data.scalar.length;
	return scalar_text(value);
}

static void load_mapping(struct loader *ld, enum section_id id, const yaml_node_t *node);

/* num: 3, or "FIRST-LAST" for one worker per queue of a range. */
static void load_queue_num(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			   const char *text, size_t len)
{
	char quoted[QUOTE_MAX], num[32];
	const char *dash = memchr(text, '-', len);
	size_t first_len = dash ? (size_t)(dash - text) : len;
	const char *second = dash ? dash + 1 : text;
	size_t second_len = dash ? len - first_len - 1 : len;
	uint64_t first, last;

	if (!all_digits(text, first_len) || !all_digits(second, second_len)) {
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not a queue number (0 to 65535) or a range such as \"0-3\"",
			  spec->path, quote(quoted, sizeof(quoted), text, len));
		return;
	}
	if (!parse_uint(text, first_len, UINT16_MAX, &first) ||
	    !parse_uint(second, second_len, UINT16_MAX, &last)) {
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is out of range (queue numbers go from 0 to 65535)", spec->path,
			  number_text(num, sizeof(num), text, len));
		return;
	}
	if (first > last) {
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: range %s is reversed (the first queue must not be above the last)",
			  spec->path, number_text(num, sizeof(num), text, len));
		return;
	}
	if (last - first + 1 > HS_MAX_QUEUES) {
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: range %s has %u queues, more than the %d workers handshaked runs at most",
			  spec->path, number_text(num, sizeof(num), text, len), (unsigned)(last - first + 1),
			  HS_MAX_QUEUES);
		return;
	}
	ld->config->queue_first = (uint16_t)first;
	ld->config->queue_last = (uint16_t)last;
}

static void load_uint(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		      const char *text, size_t len)
{
	char quoted[QUOTE_MAX], num[32];
	uint64_t number;

	bool hex = len > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');

	if (hex ? !all_hex_digits(text + 2, len - 2) : !all_digits(text, len)) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: %s is not a whole number (expected %u to %u)",
			  spec->path, quote(quoted, sizeof(quoted), text, len), spec->min, spec->max);
		return;
	}
	if (!(hex ? parse_hex_uint(text + 2, len - 2, spec->max, &number)
		  : parse_uint(text, len, spec->max, &number)) || number < spec->min) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: %s is out of range (%u to %u)", spec->path,
			  number_text(num, sizeof(num), text, len), spec->min, spec->max);
		return;
	}
	if (number < spec->warn_below)
		report_at(ld, HS_DIAG_WARNING, value, "%s: %u %s", spec->path, (unsigned)number,
			  spec->warning);
	memcpy((char *)ld->config + spec->offset, &(uint32_t){ (uint32_t)number }, sizeof(uint32_t));
}

static void load_bool(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		      const char *text, size_t len)
{
	char quoted[QUOTE_MAX];
	bool flag;

	if (!parse_bool(text, &flag)) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: %s is not a boolean (expected true or false)",
			  spec->path, quote(quoted, sizeof(quoted), text, len));
		return;
	}
	memcpy((char *)ld->config + spec->offset, &flag, sizeof(flag));
}

static void load_socket(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			const char *text, size_t len)
{
	if (len == 0) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: the path is empty", spec->path);
		return;
	}
	if (len > SOCKET_PATH_MAX) {
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: the path is %zu bytes, too long for a UNIX socket (at most %zu)",
			  spec->path, len, (size_t)SOCKET_PATH_MAX);
		return;
	}
	memcpy(ld->config->control_socket, text, len + 1);
}

static void load_level(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
		       const char *text, size_t len)
{
	char quoted[QUOTE_MAX], hint[64];

	/* Levels are names, not code: "INFO" means what it says. */
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(text, level_names[i]) == 0) {
			ld->config->log_level = (enum hs_log_level)i;
			return;
		}
	}
	const char *guess = suggest(text, len, level_names, ARRAY_SIZE(level_names));
	if (guess)
		report_at(ld, HS_DIAG_ERROR, value, "%s: unknown level %s%s", spec->path,
			  quote(quoted, sizeof(quoted), text, len),
			  did_you_mean(hint, sizeof(hint), guess));
	else
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: unknown level %s (expected error, warning, notice, info or debug)",
			  spec->path, quote(quoted, sizeof(quoted), text, len));
}

static void load_events(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			const char *text, size_t len)
{
	static const char *const words[] = { "stderr", "off" };
	char quoted[QUOTE_MAX], hint[64];

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
			report_at(ld, HS_DIAG_ERROR, value, "%s: the path is %zu bytes, too long (at most %zu)",
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
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: empty value (expected stderr, off or an absolute file path)", spec->path);
	else if (memchr(text, '/', len) || memchr(text, '.', len))
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is a relative path (the events file must be an absolute path)",
			  spec->path, quote(quoted, sizeof(quoted), text, len));
	else
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not stderr, off or an absolute file path%s", spec->path,
			  quote(quoted, sizeof(quoted), text, len),
			  did_you_mean(hint, sizeof(hint), suggest(text, len, words, ARRAY_SIZE(words))));
}

static void load_timeout(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value,
			 const char *text, size_t len)
{
	char quoted[QUOTE_MAX];
	uint64_t ms = 0;

	switch (bounded_duration(text, &ms)) {
	case BOUNDED_INVALID:
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not a duration (expected seconds, or a number with a unit: "
			  "500ms, 30s, 5m, 2h, 1d)", spec->path, quote(quoted, sizeof(quoted), text, len));
		return;
	case BOUNDED_ZERO:
		report_at(ld, HS_DIAG_ERROR, value, "%s: a timeout must be greater than zero", spec->path);
		return;
	case BOUNDED_TOO_LONG:
		report_at(ld, HS_DIAG_ERROR, value, "%s: %s is longer than the maximum of %d days",
			  spec->path, quote(quoted, sizeof(quoted), text, len), TIMEOUT_MAX_DAYS);
		return;
	case BOUNDED_OK:
		break;
	}
	ld->config->timeout_ms[spec->arg] = (uint32_t)ms;
}

/* ------------------------------------------------------------------------ */
/* Policies                                                                 */

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

/* The longest address text worth handing to inet_pton (IPv6 with an IPv4 tail is 45). */
#define ADDRESS_TEXT_MAX 64

enum policy_section { PSEC_POLICY, PSEC_MATCH, PSEC_LIMIT, PSEC_RATE, PSEC_COUNT };

enum { PK_NAME, PK_MATCH, PK_ACTION, PK_LIMIT, PK_RATE, PK_DRY_RUN, PK_COUNT };
enum { MK_STATE, MK_CLIENT_STATE, MK_SERVER_STATE, MK_SRC, MK_DST, MK_SRC_PORT, MK_DST_PORT,
       MK_IDLE, MK_AGE, MK_COUNT };
enum { LK_MAX, LK_PER, LK_COUNT };
enum { RK_SYN_PER_SECOND, RK_BURST, RK_PER, RK_COUNT };

static const char *const policy_key_names[PK_COUNT] = {
	"name", "match", "action", "limit", "rate", "dry_run",
};
static const char *const match_key_names[MK_COUNT] = {
	"state", "client_state", "server_state", "src", "dst", "src_port", "dst_port", "idle", "age",
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
static const char *const scope_names[] = { "global", "source", "destination" };
_Static_assert(ARRAY_SIZE(scope_names) == HS_PER_DESTINATION + 1, "one name per scope");

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
	struct loader *ld;
	struct hs_policy_set *set;  /* the policies before this one, for duplicate names */
	struct hs_policy *p;
	unsigned number;            /* 1-based position in the list */
	char who[HS_POLICY_NAME_MAX + 16];      /* "policy \"NAME\"" or "policy #N" */
	const yaml_node_t *item;
	const yaml_node_t *name_value;
	const yaml_node_t *action_value;
	const yaml_node_t *limit_key, *rate_key;
	const yaml_node_t *time_key;            /* the first of match.idle, match.age */
	const yaml_node_t *state_key;           /* the first of the three state keys... */
	const char *state_name;                 /* ...and its name: "state" */
	bool has_name, has_action, has_max, has_syn_per_second, has_burst;
};

/* What set-wide checks need to know about each stored policy. */
struct policy_note {
	bool ok;                    /* no error was reported for it */
	const yaml_node_t *anchor;  /* what a warning about it underlines */
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
	report_at(pl->ld, severity, node, "%s: %s", pl->who, message);
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
			      kind_name(value));
		return NULL;
	}
	if (is_null(value)) {
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
	return scalar_text(value);
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
	const char *text = scalar_text(key);
	size_t len = key->data.scalar.length;
	char quoted[QUOTE_MAX], hint[128] = "", in[32] = "";
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
			did_you_mean(hint, sizeof(hint), policy_key_aliases[i].key);
		else
			snprintf(hint, sizeof(hint), " (did you mean \"%s\" %s?)",
				 policy_key_aliases[i].key, policy_sections[policy_key_aliases[i].section].where);
	}
	if (!hint[0])
		did_you_mean(hint, sizeof(hint), suggest(text, len, sec->keys, sec->count));
	for (int other = 0; !hint[0] && other < PSEC_COUNT; other++) {
		const char *guess;
		if (other == (int)section)
			continue;
		guess = suggest(text, len, policy_sections[other].keys, policy_sections[other].count);
		if (guess)
			snprintf(hint, sizeof(hint), " (did you mean \"%s\" %s?)", guess,
				 policy_sections[other].where);
	}
	if (sec->path)
		snprintf(in, sizeof(in), " in %s", sec->path);
	policy_report(pl, HS_DIAG_ERROR, key, "unknown key %s%s%s",
		      quote(quoted, sizeof(quoted), text, len), in, hint);
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

	if (is_null(node))
		return;
	if (node->type != YAML_MAPPING_NODE) {
		if (sec->path)
			policy_report(pl, HS_DIAG_ERROR, node, "%s: expected %s, got %s", sec->path,
				      sec->example, kind_name(node));
		else
			policy_report(pl, HS_DIAG_ERROR, node, "expected %s, got %s", sec->example,
				      kind_name(node));
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
					      sec->path, kind_name(key));
			else
				policy_report(pl, HS_DIAG_ERROR, key, "a key must be a name, got %s",
					      kind_name(key));
			continue;
		}
		int index = policy_key_index(section, scalar_text(key), key->data.scalar.length);
		if (index < 0) {
			report_policy_unknown(pl, section, key);
			continue;
		}
		if (seen[index]) {
			char path[48];
			policy_report(pl, HS_DIAG_ERROR, key,
				      "duplicate key \"%s\" (first given on line %u)",
				      policy_path(path, sizeof(path), section, (unsigned)index),
				      to_unsigned(seen[index]->start_mark.line + 1));
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
	char quoted[QUOTE_MAX];
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
			      quote(quoted, sizeof(quoted), text, len), len, HS_POLICY_NAME_MAX - 1);
		return;
	}
	if (!valid_policy_name(text, len)) {
		policy_report(pl, HS_DIAG_ERROR, value,
			      "name: %s may only contain letters, digits, '_', '.' and '-'",
			      quote(quoted, sizeof(quoted), text, len));
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
	char quoted[QUOTE_MAX], hint[64];
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
		guess = suggest(text, len, names, HS_ACTION_COUNT);
	if (guess)
		policy_report(pl, HS_DIAG_ERROR, value, "action: unknown action %s%s",
			      quote(quoted, sizeof(quoted), text, len),
			      did_you_mean(hint, sizeof(hint), guess));
	else
		policy_report(pl, HS_DIAG_ERROR, value,
			      "action: unknown action %s (expected accept, drop, reset, log or verify)",
			      quote(quoted, sizeof(quoted), text, len));
}

static void load_policy_dry_run(struct policy_loader *pl, const yaml_node_t *key,
				const yaml_node_t *value)
{
	char quoted[QUOTE_MAX];
	size_t len;
	const char *text = policy_scalar(pl, "dry_run", key, value, "true or false", &len);

	if (!text)
		return;
	if (!parse_bool(text, &pl->p->dry_run))
		policy_report(pl, HS_DIAG_ERROR, value,
			      "dry_run: %s is not a boolean (expected true or false)",
			      quote(quoted, sizeof(quoted), text, len));
}

/* ---- match ---- */

static void load_match_state(struct policy_loader *pl, unsigned index, const char *path,
			     const yaml_node_t *key, const yaml_node_t *value, int *out)
{
	const char *names[HS_TCP_STATE_COUNT];
	char quoted[QUOTE_MAX], hint[96], norm[SUGGEST_MAX_LEN + 1];
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
		*out = state;
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
				      path, quote(quoted, sizeof(quoted), text, len));
			return;
		}
		guess = suggest(norm, len, names, HS_TCP_STATE_COUNT);
	}
	if (guess) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: unknown state %s%s", path,
			      quote(quoted, sizeof(quoted), text, len),
			      did_you_mean(hint, sizeof(hint), guess));
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
		      quote(quoted, sizeof(quoted), text, len), all);
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
			      expected, kind_name(value));
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

enum cidr_status { CIDR_OK, CIDR_SYNTAX, CIDR_PREFIX, CIDR_HOST_BITS };

/*
 * "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).  Host bits
 * are cleared in *out even when set in the text, and the status says so.
 */
static enum cidr_status parse_cidr(const char *text, size_t len, struct hs_cidr *out)
{
	char address[ADDRESS_TEXT_MAX];
	const char *slash = memchr(text, '/', len);
	size_t address_len = slash ? (size_t)(slash - text) : len;
	uint64_t prefix;

	if (address_len == 0 || address_len >= sizeof(address))
		return CIDR_SYNTAX;
	memcpy(address, text, address_len);
	address[address_len] = '\0';
	memset(out, 0, sizeof(*out));
	if (!hs_addr_parse(address, &out->addr, &out->family))
		return CIDR_SYNTAX;
	unsigned bits = out->family == HS_FAMILY_IPV4 ? 32 : 128;
	prefix = bits;
	if (slash) {
		size_t prefix_len = len - address_len - 1;
		if (!all_digits(slash + 1, prefix_len))
			return CIDR_SYNTAX;
		if (!parse_uint(slash + 1, prefix_len, bits, &prefix))
			return CIDR_PREFIX;
	}
	out->prefix = (uint8_t)prefix;
	bool host_bits = false;
	for (unsigned i = 0; i < bits / 8; i++) {
		/* How many of this byte's bits the prefix keeps: 8, 0, or the few it ends on. */
		unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? (unsigned)prefix - i * 8 : 0;
		uint8_t mask = (uint8_t)(0xFF00u >> keep);
		if (out->addr.bytes[i] & ~mask)
			host_bits = true;
		out->addr.bytes[i] &= mask;
	}
	return host_bits ? CIDR_HOST_BITS : CIDR_OK;
}

/* Whether CIDR a holds all of CIDR b. */
static bool cidr_holds(const struct hs_cidr *a, const struct hs_cidr *b)
{
	return a->family == b->family && a->prefix <= b->prefix &&
	       hs_cidr_list_contains(a, 1, b->family, &b->addr);
}

/*
 * ::ffff:a.b.c.d, or a prefix inside ::ffff:0:0/96.  Sockets show IPv4
 * peers this way, so it gets copied from ss output, but the packets on the
 * wire are IPv4 and their flows have the IPv4 family.
 */
static bool ipv4_mapped(const struct hs_cidr *cidr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };

	return cidr->family == HS_FAMILY_IPV6 && cidr->prefix >= 96 &&
	       memcmp(cidr->addr.bytes, mapped, sizeof(mapped)) == 0;
}

static const char *cidr_format(char *buf, size_t size, const struct hs_cidr *cidr)
{
	char address[64];

	snprintf(buf, size, "%s/%u", hs_addr_format(&cidr->addr, cidr->family, address, sizeof(address)),
		 cidr->prefix);
	return buf;
}

static void load_match_cidrs(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			     const yaml_node_t *value, struct hs_cidr *list, uint8_t *count)
{
	const yaml_node_t *items[HS_POLICY_LIST_MAX];
	unsigned n = list_items(pl, path, key, value, "an address or CIDR", items);
	char quoted[QUOTE_MAX], num[32], shown[64], earlier[64];
	unsigned stored = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t len;
		const char *text = policy_scalar(pl, path, value == items[i] ? key : NULL, items[i],
						 "an address or CIDR", &len);
		struct hs_cidr cidr;

		if (!text)
			continue;
		switch (parse_cidr(text, len, &cidr)) {
		case CIDR_SYNTAX:
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: %s is not an IP address or CIDR (such as 10.0.0.0/8 or fd00::/8)",
				      path, quote(quoted, sizeof(quoted), text, len));
			continue;
		case CIDR_PREFIX: {
			const char *slash = memchr(text, '/', len);
			size_t prefix_len = len - (size_t)(slash - text) - 1;
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: prefix /%s is too long for an %s (at most /%d)", path, number_text(num, sizeof(num), slash + 1, prefix_len),
				      cidr.family == HS_FAMILY_IPV4 ? "IPv4 address" : "IPv6 address",
				      cidr.family == HS_FAMILY_IPV4 ? 32 : 128);
			continue;
		}
		case CIDR_HOST_BITS:
			/*
			 * Like iptables and nftables, take the network the prefix
			 * names (an interface address with its prefix, usually),
			 * but say so, in case a longer prefix was meant.
			 */
			policy_report(pl, HS_DIAG_WARNING, items[i],
				      "%s: %s has host bits set; it is taken as %s", path,
				      quote(quoted, sizeof(quoted), text, len),
				      cidr_format(shown, sizeof(shown), &cidr));
			break;
		case CIDR_OK:
			break;
		}
		if (ipv4_mapped(&cidr)) {
			struct hs_addr embedded = { .bytes = { 0 } };
			char v4[INET_ADDRSTRLEN];
			memcpy(embedded.bytes, cidr.addr.bytes + 12, 4);
			hs_addr_format(&embedded, HS_FAMILY_IPV4, v4, sizeof(v4));
			policy_report(pl, HS_DIAG_WARNING, items[i],
				      "%s: %s is an IPv4-mapped IPv6 address, which never matches: IPv4 "
				      "connections are tracked as IPv4 (write %s/%u)", path,
				      quote(quoted, sizeof(quoted), text, len), v4, cidr.prefix - 96u);
		}
		for (unsigned j = 0; j < stored; j++) {
			if (cidr_holds(&list[j], &cidr)) {
				policy_report(pl, HS_DIAG_WARNING, items[i],
					      "%s: %s is already covered by %s earlier in the list", path,
					      quote(quoted, sizeof(quoted), text, len),
					      cidr_format(earlier, sizeof(earlier), &list[j]));
				break;
			}
		}
		list[stored++] = cidr;
	}
	*count = (uint8_t)stored;
}

enum port_status { PORT_OK, PORT_SYNTAX, PORT_RANGE, PORT_REVERSED };

/* "80" or "8000-8080"; ports go from 1 to 65535 (0 is not a port a connection can use). */
static enum port_status parse_port_range(const char *text, size_t len, struct hs_port_range *out)
{
	const char *dash = memchr(text, '-', len);
	size_t first_len = dash ? (size_t)(dash - text) : len;
	const char *second = dash ? dash + 1 : text;
	size_t second_len = dash ? len - first_len - 1 : len;
	uint64_t lo, hi;

	if (!all_digits(text, first_len) || !all_digits(second, second_len))
		return PORT_SYNTAX;
	if (!parse_uint(text, first_len, UINT16_MAX, &lo) ||
	    !parse_uint(second, second_len, UINT16_MAX, &hi) || lo == 0 || hi == 0)
		return PORT_RANGE;
	if (lo > hi)
		return PORT_REVERSED;
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return PORT_OK;
}

static const char *port_range_format(char *buf, size_t size, const struct hs_port_range *range)
{
	if (range->lo == range->hi)
		snprintf(buf, size, "%u", range->lo);
	else
		snprintf(buf, size, "%u-%u", range->lo, range->hi);
	return buf;
}

static void load_match_ports(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			     const yaml_node_t *value, struct hs_port_range *list, uint8_t *count)
{
	const yaml_node_t *items[HS_POLICY_LIST_MAX];
	unsigned n = list_items(pl, path, key, value, "a port or range", items);
	char quoted[QUOTE_MAX], num[32], earlier[16];
	unsigned stored = 0;

	for (unsigned i = 0; i < n; i++) {
		size_t len;
		const char *text = policy_scalar(pl, path, value == items[i] ? key : NULL, items[i],
						 "a port or range", &len);
		struct hs_port_range range;

		if (!text)
			continue;
		switch (parse_port_range(text, len, &range)) {
		case PORT_SYNTAX:
			/* "8000:8080" is how iptables writes a range. */
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: %s is not a port (1 to 65535) or a range such as \"8000-8080\"%s",
				      path, quote(quoted, sizeof(quoted), text, len),
				      memchr(text, ':', len) ? " (a range is written with '-')" : "");
			continue;
		case PORT_RANGE:
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: %s is out of range (ports go from 1 to 65535)", path,
				      number_text(num, sizeof(num), text, len));
			continue;
		case PORT_REVERSED:
			policy_report(pl, HS_DIAG_ERROR, items[i],
				      "%s: range %s is reversed (the first port must not be above the last)",
				      path, number_text(num, sizeof(num), text, len));
			continue;
		case PORT_OK:
			break;
		}
		for (unsigned j = 0; j < stored; j++) {
			if (list[j].lo <= range.lo && range.hi <= list[j].hi) {
				policy_report(pl, HS_DIAG_WARNING, items[i],
					      "%s: %s is already covered by %s earlier in the list", path,
					      number_text(num, sizeof(num), text, len),
					      port_range_format(earlier, sizeof(earlier), &list[j]));
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
	char quoted[QUOTE_MAX];
	uint64_t ms = 0;
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "a duration", &len);

	if (!pl->time_key)
		pl->time_key = key;
	if (!text)
		return;
	switch (bounded_duration(text, &ms)) {
	case BOUNDED_INVALID:
		policy_report(pl, HS_DIAG_ERROR, value,
			      "%s: %s is not a duration (expected seconds, or a number with a unit: "
			      "500ms, 30s, 5m, 2h, 1d)", path, quote(quoted, sizeof(quoted), text, len));
		return;
	case BOUNDED_ZERO:
		policy_report(pl, HS_DIAG_ERROR, value, "%s: the duration must be greater than zero", path);
		return;
	case BOUNDED_TOO_LONG:
		policy_report(pl, HS_DIAG_ERROR, value, "%s: %s is longer than the maximum of %d days", path,
			      quote(quoted, sizeof(quoted), text, len), TIMEOUT_MAX_DAYS);
		return;
	case BOUNDED_OK:
		break;
	}
	*out = (uint32_t)ms;
}

static void load_match_key(struct policy_loader *pl, unsigned index, const yaml_node_t *key,
			   const yaml_node_t *value)
{
	struct hs_policy_match *m = &pl->p->match;
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
		break;
	case MK_AGE:
		load_match_duration(pl, path, key, value, &m->age_ms);
		break;
	default:
		break;
	}
}

/* ---- limit and rate ---- */

static bool load_policy_uint(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			     const yaml_node_t *value, uint32_t max, uint32_t *out)
{
	char quoted[QUOTE_MAX], num[32];
	uint64_t number;
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "a number", &len);

	if (!text)
		return false;
	if (!all_digits(text, len)) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: %s is not a whole number (expected 1 to %u)",
			      path, quote(quoted, sizeof(quoted), text, len), max);
		return false;
	}
	if (!parse_uint(text, len, max, &number) || number < 1) {
		policy_report(pl, HS_DIAG_ERROR, value, "%s: %s is out of range (1 to %u)", path,
			      number_text(num, sizeof(num), text, len), max);
		return false;
	}
	*out = (uint32_t)number;
	return true;
}

static void load_policy_scope(struct policy_loader *pl, const char *path, const yaml_node_t *key,
			      const yaml_node_t *value, enum hs_policy_scope *out)
{
	char quoted[QUOTE_MAX], hint[64];
	size_t len;
	const char *text = policy_scalar(pl, path, key, value, "source, destination or global", &len);

	if (!text)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(scope_names); i++) {
		if (strcasecmp(text, scope_names[i]) == 0) {
			*out = (enum hs_policy_scope)i;
			return;
		}
	}
	const char *guess = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(scope_aliases); i++)
		if (strcasecmp(text, scope_aliases[i].alias) == 0)
			guess = scope_aliases[i].word;
	if (!guess)
		guess = suggest(text, len, scope_names, ARRAY_SIZE(scope_names));
	if (guess)
		policy_report(pl, HS_DIAG_ERROR, value, "%s: unknown scope %s%s", path,
			      quote(quoted, sizeof(quoted), text, len),
			      did_you_mean(hint, sizeof(hint), guess));
	else
		policy_report(pl, HS_DIAG_ERROR, value,
			      "%s: unknown scope %s (expected source, destination or global)", path,
			      quote(quoted, sizeof(quoted), text, len));
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
		if (!pl->has_max && (is_null(value) || value->type == YAML_MAPPING_NODE))
			policy_report(pl, HS_DIAG_ERROR, key,
				      "limit: missing \"max\" (how many matching flows to allow, "
				      "such as {max: 8})");
		break;
	case PK_RATE:
		pl->rate_key = key;
		pl->p->has_rate = true;
		pl->p->rate_per = HS_PER_SOURCE;
		walk_policy_mapping(pl, PSEC_RATE, value, load_rate_key);
		if (!pl->has_syn_per_second && (is_null(value) || value->type == YAML_MAPPING_NODE))
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

static bool policy_is_timed(const struct hs_policy *p)
{
	return p->match.idle_ms || p->match.age_ms;
}

static bool policy_is_admission(const struct hs_policy *p)
{
	return p->has_limit || p->has_rate;
}

/* Whether a flow whose client and server are in these states satisfies the match's state keys. */
static bool states_match(const struct hs_policy_match *m, int client, int server)
{
	return (m->state < 0 || client == m->state || server == m->state) &&
	       (m->client_state < 0 || client == m->client_state) &&
	       (m->server_state < 0 || server == m->server_state);
}

static bool states_possible(const struct hs_policy_match *m)
{
	for (int c = 0; c < HS_TCP_STATE_COUNT; c++)
		for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
			if (states_match(m, c, s))
				return true;
	return false;
}

/* The checks that need more than one key of a policy. */
static void check_policy(struct policy_loader *pl)
{
	struct hs_policy *p = pl->p;

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
			      scalar_text(pl->time_key));
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
	else if (!states_possible(&p->match))
		policy_report(pl, HS_DIAG_WARNING, pl->state_key,
			      "the policy can never match: no flow has %s on either side while its client "
			      "is in %s and its server in %s",
			      hs_tcp_state_name((enum hs_tcp_state)p->match.state),
			      hs_tcp_state_name((enum hs_tcp_state)p->match.client_state),
			      hs_tcp_state_name((enum hs_tcp_state)p->match.server_state));
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
		    memcmp(scalar_text(key), "name", 4) != 0)
			continue;
		if (value->type == YAML_SCALAR_NODE && !is_null(value) &&
		    valid_policy_name(scalar_text(value), value->data.scalar.length))
			snprintf(pl->who, sizeof(pl->who), "policy \"%s\"", scalar_text(value));
		return;
	}
}

static void load_policy(struct loader *ld, struct hs_policy_set *set, unsigned number,
			const yaml_node_t *item, struct hs_policy *p, struct policy_note *note)
{
	struct policy_loader pl = { .ld = ld, .set = set, .p = p, .number = number, .item = item };
	unsigned errors_before = ld->diag->errors;

	memset(p, 0, sizeof(*p));
	p->match.state = p->match.client_state = p->match.server_state = -1;
	p->line = to_unsigned(item->start_mark.line + 1);
	name_policy(&pl);
	if (is_null(item)) {
		policy_report(&pl, HS_DIAG_ERROR, item, "empty entry in the list (expected %s)",
			      policy_sections[PSEC_POLICY].example);
	} else if (item->type != YAML_MAPPING_NODE) {
		policy_report(&pl, HS_DIAG_ERROR, item, "expected %s, got %s",
			      policy_sections[PSEC_POLICY].example, kind_name(item));
	} else {
		walk_policy_mapping(&pl, PSEC_POLICY, item, load_policy_key);
		check_policy(&pl);
	}
	note->ok = ld->diag->errors == errors_before;
	note->anchor = pl.name_value ? pl.name_value : item;
}

/* ---- the set as a whole ---- */

/*
 * Whether every address inside `inner` is inside some CIDR of the list.  A
 * CIDR no single entry holds may still be covered by several (two /9s make
 * a /8), so a CIDR that entries cut into is split in halves and each half
 * checked; only halves that some entry lies strictly inside are split, so
 * the recursion stays as shallow as the longest prefix in the list.
 */
static bool cidr_covered(const struct hs_cidr *inner, const struct hs_cidr *list, unsigned n)
{
	bool cut = false;

	for (unsigned i = 0; i < n; i++) {
		if (cidr_holds(&list[i], inner))
			return true;
		if (cidr_holds(inner, &list[i]))
			cut = true;
	}
	if (!cut)
		return false;
	struct hs_cidr half = *inner;
	half.prefix++;
	if (!cidr_covered(&half, list, n))
		return false;
	half.addr.bytes[inner->prefix / 8] |= (uint8_t)(0x80u >> (inner->prefix % 8));
	return cidr_covered(&half, list, n);
}

/* An absent address key matches any address of either family. */
static const struct hs_cidr any_address[2] = {
	{ .family = HS_FAMILY_IPV4, .prefix = 0 },
	{ .family = HS_FAMILY_IPV6, .prefix = 0 },
};

static bool cidrs_superset(const struct hs_cidr *outer, unsigned n_outer, const struct hs_cidr *inner,
			   unsigned n_inner)
{
	if (n_outer == 0)
		return true;
	if (n_inner == 0) {
		inner = any_address;
		n_inner = ARRAY_SIZE(any_address);
	}
	for (unsigned i = 0; i < n_inner; i++)
		if (!cidr_covered(&inner[i], outer, n_outer))
			return false;
	return true;
}

static bool cidrs_intersect(const struct hs_cidr *a, unsigned n_a, const struct hs_cidr *b, unsigned n_b)
{
	if (n_a == 0 || n_b == 0)
		return true;
	for (unsigned i = 0; i < n_a; i++)
		for (unsigned j = 0; j < n_b; j++)
			if (cidr_holds(&a[i], &b[j]) || cidr_holds(&b[j], &a[i]))
				return true;
	return false;
}

/* Whether ports lo..hi are all inside the union of the ranges. */
static bool ports_covered(uint32_t lo, uint32_t hi, const struct hs_port_range *list, unsigned n)
{
	while (lo <= hi) {
		uint32_t next = lo;
		for (unsigned i = 0; i < n; i++)
			if (list[i].lo <= lo && lo <= list[i].hi && list[i].hi + 1u > next)
				next = list[i].hi + 1u;
		if (next == lo)
			return false;
		lo = next;
	}
	return true;
}

static bool ports_superset(const struct hs_port_range *outer, unsigned n_outer,
			   const struct hs_port_range *inner, unsigned n_inner)
{
	if (n_outer == 0)
		return true;
	if (n_inner == 0)
		return ports_covered(1, 65535, outer, n_outer);
	for (unsigned i = 0; i < n_inner; i++)
		if (!ports_covered(inner[i].lo, inner[i].hi, outer, n_outer))
			return false;
	return true;
}

static bool ports_intersect(const struct hs_port_range *a, unsigned n_a, const struct hs_port_range *b,
			    unsigned n_b)
{
	if (n_a == 0 || n_b == 0)
		return true;
	for (unsigned i = 0; i < n_a; i++)
		for (unsigned j = 0; j < n_b; j++)
			if (a[i].lo <= b[j].hi && b[j].lo <= a[i].hi)
				return true;
	return false;
}

/* Whether every flow `inner` matches, `outer` matches too; with_states false ignores states. */
static bool match_superset(const struct hs_policy_match *outer, const struct hs_policy_match *inner,
			   bool with_states)
{
	if (with_states)
		for (int c = 0; c < HS_TCP_STATE_COUNT; c++)
			for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
				if (states_match(inner, c, s) && !states_match(outer, c, s))
					return false;
	return cidrs_superset(outer->src, outer->n_src, inner->src, inner->n_src) &&
	       cidrs_superset(outer->dst, outer->n_dst, inner->dst, inner->n_dst) &&
	       ports_superset(outer->src_ports, outer->n_src_ports, inner->src_ports,
			      inner->n_src_ports) &&
	       ports_superset(outer->dst_ports, outer->n_dst_ports, inner->dst_ports,
			      inner->n_dst_ports);
}

static bool match_intersects(const struct hs_policy_match *a, const struct hs_policy_match *b,
			     bool with_states)
{
	bool states = !with_states;

	for (int c = 0; !states && c < HS_TCP_STATE_COUNT; c++)
		for (int s = 0; !states && s < HS_TCP_STATE_COUNT; s++)
			states = states_match(a, c, s) && states_match(b, c, s);
	return states && cidrs_intersect(a->src, a->n_src, b->src, b->n_src) &&
	       cidrs_intersect(a->dst, a->n_dst, b->dst, b->n_dst) &&
	       ports_intersect(a->src_ports, a->n_src_ports, b->src_ports, b->n_src_ports) &&
	       ports_intersect(a->dst_ports, a->n_dst_ports, b->dst_ports, b->n_dst_ports);
}

/* Whether a group of `outer`'s scope always holds a group of `inner`'s: the same, or global. */
static bool scope_covers(enum hs_policy_scope outer, enum hs_policy_scope inner)
{
	return outer == inner || outer == HS_PER_GLOBAL;
}

/* Only timed thresholds `later` also has, no longer than its own, are met whenever its are. */
static bool threshold_first(uint32_t earlier_ms, uint32_t later_ms)
{
	return earlier_ms == 0 || (later_ms != 0 && earlier_ms <= later_ms);
}

enum shadow { SHADOW_NONE, SHADOW_MATCH, SHADOW_NEW_CONNECTIONS };

/*
 * Whether `later` can never act because `earlier` always acts first, as
 * the engine evaluates them (file order, first match acts):
 *  - state-entry and timed policies act when their match holds (and a
 *    timed one's thresholds have passed, once per state), so a broader
 *    earlier match with thresholds no longer than the later's wins;
 *  - an admission policy acts only once its limit or rate is exceeded, so
 *    a broader match is not enough: the earlier one must also be exceeded
 *    whenever the later one is.  That holds when it counts a superset of
 *    flows (limit; states included) or of new connections (rate; states
 *    are not looked at) in groups at least as wide, against a threshold no
 *    higher;
 *  - a new connection is also judged by state-entry policies in the same
 *    pass (its flow has just entered SYN_SENT / LISTEN), so one that
 *    matches every new connection an admission policy would judge acts
 *    before it.
 */
static enum shadow policy_shadows(const struct hs_policy *earlier, const struct hs_policy *later)
{
	bool e_timed = policy_is_timed(earlier), l_timed = policy_is_timed(later);
	bool e_admission = policy_is_admission(earlier), l_admission = policy_is_admission(later);

	if (e_timed != l_timed)
		return SHADOW_NONE;
	if (e_timed)
		return threshold_first(earlier->match.idle_ms, later->match.idle_ms) &&
			       threshold_first(earlier->match.age_ms, later->match.age_ms) &&
			       match_superset(&earlier->match, &later->match, true)
		       ? SHADOW_MATCH : SHADOW_NONE;
	if (!e_admission && !l_admission)
		return match_superset(&earlier->match, &later->match, true) ? SHADOW_MATCH : SHADOW_NONE;
	if (!e_admission)
		return states_match(&earlier->match, HS_TCP_SYN_SENT, HS_TCP_LISTEN) &&
			       match_superset(&earlier->match, &later->match, false)
		       ? SHADOW_NEW_CONNECTIONS : SHADOW_NONE;
	if (!l_admission)
		return SHADOW_NONE;
	if (earlier->has_limit && later->has_limit)
		return scope_covers(earlier->limit_per, later->limit_per) &&
			       earlier->limit_max <= later->limit_max &&
			       match_superset(&earlier->match, &later->match, true)
		       ? SHADOW_MATCH : SHADOW_NONE;
	if (earlier->has_rate && later->has_rate)
		return scope_covers(earlier->rate_per, later->rate_per) &&
			       earlier->rate_per_second <= later->rate_per_second &&
			       earlier->rate_burst <= later->rate_burst &&
			       match_superset(&earlier->match, &later->match, false)
		       ? SHADOW_MATCH : SHADOW_NONE;
	return SHADOW_NONE;
}

/*
 * Two admission policies of the same mechanism and scope whose matches
 * overlap without one holding the other (ports 8000-8080 and 8050-8100,
 * say) count part of the same traffic twice, against two thresholds: the
 * ranges were most likely meant to meet, not overlap.  A policy nested in
 * another (a tighter limit for one port under a looser one for all) is the
 * usual way to layer limits, and a limit beside a rate, or limits per
 * source beside limits per destination, guard different things, so none
 * of those is reported.
 */
static bool policies_overlap(const struct hs_policy *a, const struct hs_policy *b)
{
	bool states;

	if (!policy_is_admission(a) || !policy_is_admission(b))
		return false;
	if (a->has_limit && b->has_limit && a->limit_per == b->limit_per)
		states = true;
	else if (a->has_rate && b->has_rate && a->rate_per == b->rate_per)
		states = false;
	else
		return false;
	return match_intersects(&a->match, &b->match, states) &&
	       !match_superset(&a->match, &b->match, states) &&
	       !match_superset(&b->match, &a->match, states);
}

static void check_policy_set(struct loader *ld, const struct hs_policy_set *set,
			     const struct policy_note *notes)
{
	for (uint32_t j = 1; j < set->count; j++) {
		const struct hs_policy *later = &set->items[j];
		bool shadowed = false;

		/* A policy whose states contradict each other already has its own warning. */
		if (!notes[j].ok || !states_possible(&later->match))
			continue;
		for (uint32_t i = 0; i < j && !shadowed; i++) {
			const struct hs_policy *earlier = &set->items[i];
			if (!notes[i].ok)
				continue;
			switch (policy_shadows(earlier, later)) {
			case SHADOW_MATCH:
				report_at(ld, HS_DIAG_WARNING, notes[j].anchor,
					  "policy \"%s\" can never act: \"%s\" (line %u) matches "
					  "everything it does", later->name, earlier->name, earlier->line);
				shadowed = true;
				break;
			case SHADOW_NEW_CONNECTIONS:
				report_at(ld, HS_DIAG_WARNING, notes[j].anchor,
					  "policy \"%s\" can never act: \"%s\" (line %u) matches every new "
					  "connection it would judge, and acts first",
					  later->name, earlier->name, earlier->line);
				shadowed = true;
				break;
			case SHADOW_NONE:
				break;
			}
		}
		for (uint32_t i = 0; i < j && !shadowed; i++) {
			const struct hs_policy *earlier = &set->items[i];
			if (notes[i].ok && policies_overlap(earlier, later)) {
				report_at(ld, HS_DIAG_WARNING, notes[j].anchor,
					  "policy \"%s\" overlaps \"%s\" (line %u): new connections that "
					  "match both are counted against both", later->name, earlier->name,
					  earlier->line);
				break;
			}
		}
	}
}

static void load_policies(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value)
{
	struct hs_policy_set *set = &ld->config->policies;
	struct policy_note notes[HS_POLICY_MAX];
	struct hs_policy surplus;
	struct policy_note surplus_note;
	unsigned number = 0;

	set->count = 0;
	if (is_null(value))
		return;
	if (value->type != YAML_SEQUENCE_NODE) {
		report_at(ld, HS_DIAG_ERROR, value, "%s: expected a list, got %s", spec->path,
			  kind_name(value));
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
			report_at(ld, HS_DIAG_ERROR, item, "%s: %zu policies, more than the maximum of %d",
				  spec->path, total, HS_POLICY_MAX);
		/* Policies past the maximum are still checked, so that their mistakes show too. */
		if (number > HS_POLICY_MAX) {
			load_policy(ld, set, number, item, &surplus, &surplus_note);
			continue;
		}
		set->count = number;
		load_policy(ld, set, number, item, &set->items[number - 1], &notes[number - 1]);
	}
	check_policy_set(ld, set, notes);
}

/* One word of a rules list: a chain, an interface name or a family. */
static bool load_word(struct loader *ld, const struct key_spec *spec, const yaml_node_t *node, unsigned index)
{
	static const char *const chains[] = { "FORWARD", "INPUT", "OUTPUT" };
	static const char *const families[] = { "ipv4", "ipv6" };
	struct hs_config *c = ld->config;
	char quoted[QUOTE_MAX], hint[64];

	if (node->type != YAML_SCALAR_NODE || is_null(node)) {
		report_at(ld, HS_DIAG_ERROR, node, "%s: expected a word, got %s", spec->path, kind_name(node));
		return false;
	}
	const char *text = scalar_text(node);
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
		report_at(ld, HS_DIAG_ERROR, node, "%s: %s is not a chain NFQUEUE rules can go in (FORWARD, INPUT or OUTPUT)%s",
			  spec->path, quote(quoted, sizeof(quoted), text, len),
			  did_you_mean(hint, sizeof(hint), suggest(text, len, chains, ARRAY_SIZE(chains))));
		return false;
	case WORDS_IN_IFACES:
	case WORDS_OUT_IFACES: {
		/* Linux interface names: 1 to 15 bytes, no '/', no spaces; '+' is iptables' wildcard. */
		bool ok = len > 0 && len < 16;
		for (size_t i = 0; ok && i < len; i++)
			ok = text[i] != '/' && text[i] != ' ' && (unsigned char)text[i] > 32 && (unsigned char)text[i] < 127;
		if (!ok) {
			report_at(ld, HS_DIAG_ERROR, node, "%s: %s is not an interface name (1 to 15 characters, no '/' or spaces)",
				  spec->path, quote(quoted, sizeof(quoted), text, len));
			return false;
		}
		bool in = spec->arg == WORDS_IN_IFACES;
		char (*list)[16] = in ? c->rules_in_interfaces : c->rules_out_interfaces;
		uint8_t *n = in ? &c->rules_n_in : &c->rules_n_out;
		(void)index;
		if (*n >= 8) {
			report_at(ld, HS_DIAG_ERROR, node, "%s: at most 8 interfaces", spec->path);
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
		report_at(ld, HS_DIAG_ERROR, node, "%s: %s is not a family (ipv4 or ipv6)%s", spec->path,
			  quote(quoted, sizeof(quoted), text, len),
			  did_you_mean(hint, sizeof(hint), suggest(text, len, families, ARRAY_SIZE(families))));
		return false;
	}
	return false;
}

/* A rules key: one word, or a list of words, replacing the default. */
static void load_words(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value)
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
	} else if (!is_null(value)) {
		load_word(ld, spec, value, 0);
	}
	if (spec->arg == WORDS_CHAINS && c->rules_nchains == 0)
		report_at(ld, HS_DIAG_ERROR, value, "%s: at least one chain is needed (FORWARD, INPUT or OUTPUT)",
			  spec->path);
	if (spec->arg == WORDS_FAMILIES && !c->rules_ipv4 && !c->rules_ipv6)
		report_at(ld, HS_DIAG_ERROR, value, "%s: at least one family is needed (ipv4, ipv6)", spec->path);
}

/* metrics.listen: off, or ADDRESS:PORT with a numeric address ("127.0.0.1:9547", "[::1]:9547"). */
static void load_listen(struct loader *ld, const struct key_spec *spec, const yaml_node_t *value, const char *text,
			size_t len)
{
	char quoted[QUOTE_MAX], host[64];
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
	    !all_digits(colon + 1, port_len) || !parse_uint(colon + 1, port_len, 65535, &port) || port == 0) {
		report_at(ld, HS_DIAG_ERROR, value,
			  "%s: %s is not off or ADDRESS:PORT with a numeric address (127.0.0.1:9547, [::1]:9547)",
			  spec->path, quote(quoted, sizeof(quoted), text, len));
		return;
	}
	memcpy(ld->config->metrics_listen, text, len + 1);
}

static void load_value(struct loader *ld, const struct key_spec *spec, const yaml_node_t *key,
		       const yaml_node_t *value)
{
	const char *text;
	size_t len;

	switch (spec->kind) {
	case VAL_SECTION:
		load_mapping(ld, (enum section_id)spec->arg, value);
		return;
	case VAL_POLICIES:
		load_policies(ld, spec, value);
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
	case VAL_TIMEOUT:
		load_timeout(ld, spec, value, text, len);
		break;
	case VAL_LISTEN:
		load_listen(ld, spec, value, text, len);
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
static void report_unknown(struct loader *ld, enum section_id id, const yaml_node_t *key)
{
	const struct section *sec = &sections[id];
	const char *text = scalar_text(key);
	size_t len = key->data.scalar.length;
	char quoted[QUOTE_MAX], hint[96] = "";
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
		did_you_mean(hint, sizeof(hint), suggest(text, len, names, sec->count));
	}
	quote(quoted, sizeof(quoted), text, len);
	if (sec->path)
		report_at(ld, HS_DIAG_ERROR, key, "unknown key %s in %s%s", quoted, sec->path, hint);
	else
		report_at(ld, HS_DIAG_ERROR, key, "unknown top-level key %s%s", quoted, hint);
}

/*
 * Checks one mapping against its section's keys.  The walk never goes deeper
 * than the schema does, so aliases (even an alias to its own ancestor) cannot
 * make it loop, and each key's value is looked at only once per mapping: a
 * duplicate is reported, not loaded.
 */
static void load_mapping(struct loader *ld, enum section_id id, const yaml_node_t *node)
{
	const struct section *sec = &sections[id];
	const yaml_node_t *seen[MAX_SECTION_KEYS] = { NULL };

	if (is_null(node))
		return;
	if (node->type != YAML_MAPPING_NODE) {
		if (sec->path)
			report_at(ld, HS_DIAG_ERROR, node, "%s: expected a mapping, got %s", sec->path,
				  kind_name(node));
		else
			report_at(ld, HS_DIAG_ERROR, node,
				  "the configuration must be a mapping (of queue, control, log, table, "
				  "policies), got %s", kind_name(node));
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
				report_at(ld, HS_DIAG_ERROR, key, "a key in %s must be a name, got %s",
					  sec->path, kind_name(key));
			else
				report_at(ld, HS_DIAG_ERROR, key, "a top-level key must be a name, got %s",
					  kind_name(key));
			continue;
		}
		const struct key_spec *spec = find_key(sec, scalar_text(key), key->data.scalar.length);
		if (!spec) {
			report_unknown(ld, id, key);
			continue;
		}
		size_t index = (size_t)(spec - sec->keys);
		if (seen[index]) {
			if (sec->path)
				report_at(ld, HS_DIAG_ERROR, key,
					  "duplicate key \"%s\" in %s (first given on line %u)", spec->name,
					  sec->path, to_unsigned(seen[index]->start_mark.line + 1));
			else
				report_at(ld, HS_DIAG_ERROR, key,
					  "duplicate top-level key \"%s\" (first given on line %u)",
					  spec->name, to_unsigned(seen[index]->start_mark.line + 1));
			continue;
		}
		seen[index] = key;
		load_value(ld, spec, key, value);
	}
}

/* ------------------------------------------------------------------------ */
/* Parsing and loading                                                      */

/*
 * Length of the line break at p, or 0: LF, CR, CR LF, NEL, LS and PS, the
 * breaks libyaml's scanner counts.  Positions worked out here must agree
 * with its marks.
 */
static size_t break_at(const unsigned char *p, size_t n)
{
	if (p[0] == '\n')
		return 1;
	if (p[0] == '\r')
		return n >= 2 && p[1] == '\n' ? 2 : 1;
	if (n >= 2 && p[0] == 0xC2 && p[1] == 0x85)
		return 2;
	if (n >= 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
		return 3;
	return 0;
}

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
		size_t br = break_at(p + pos, offset - pos);
		if (br) {
			pos += br;
			lines++;
			columns = 0;
		} else {
			pos = next_char(p, pos, offset);
			columns++;
		}
	}
	*line = to_unsigned(lines + 1);
	*column = to_unsigned(columns + 1);
}

/* The byte at a libyaml mark (0-based line and column), or -1 past the end. */
static int byte_at_mark(const char *text, size_t len, size_t line, size_t column)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t pos = skip_bom(p, len);

	while (line > 0 && pos < len) {
		size_t br = break_at(p + pos, len - pos);
		if (br) {
			pos += br;
			line--;
		} else {
			pos++;
		}
	}
	for (; column > 0 && pos < len && !break_at(p + pos, len - pos); column--)
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

	line = to_unsigned(parser->problem_mark.line + 1);
	column = to_unsigned(parser->problem_mark.column + 1);
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
			       to_unsigned(parser->context_mark.line + 1),
			       to_unsigned(parser->context_mark.column + 1));
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
		hs_diag_report(diag, HS_DIAG_ERROR, to_unsigned(doc.start_mark.line + 1),
			       to_unsigned(doc.start_mark.column + 1),
			       to_unsigned(doc.end_mark.line == doc.start_mark.line
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
		struct loader ld = { .doc = &doc, .config = &result, .diag = diag };
		const yaml_node_t *root = yaml_document_get_root_node(&doc);
		bool had_document = root != NULL;

		/* An empty file, or one with only comments, has no root: all defaults. */
		if (root)
			load_mapping(&ld, SEC_TOP, root);
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
