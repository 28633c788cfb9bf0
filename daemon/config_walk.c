/*
 * config_walk: the helpers the loader's modules share (hs_config_walk.h):
 * reading YAML nodes, reporting problems at them, and the checks on scalar
 * values that every section uses.
 */
#include "hs_config_walk.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hs_match_values.h"

void cfg_report_at(struct cfg_loader *ld, enum hs_diag_severity severity, const yaml_node_t *node,
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
		width = cfg_to_unsigned(node->end_mark.column - node->start_mark.column);
	hs_diag_report(ld->diag, severity, cfg_to_unsigned(node->start_mark.line + 1),
		       cfg_to_unsigned(node->start_mark.column + 1), width, "%s", message);
}

const char *cfg_scalar_text(const yaml_node_t *node)
{
	return (const char *)node->data.scalar.value;
}

/*
 * YAML's null: an empty or "~"/"null" plain scalar.  A section left with
 * every key commented out is null, and counts as empty, not as an error.
 */
bool cfg_is_null(const yaml_node_t *node)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (strcmp(cfg_scalar_text(node), nulls[i]) == 0)
			return true;
	return false;
}

const char *cfg_kind_name(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return cfg_is_null(node) ? "nothing" : "a scalar";
	default:
		return "nothing";
	}
}

/*
 * YAML 1.1's boolean words, in the three spellings its type repository
 * lists (true, True, TRUE).  The y/n forms are left out on purpose.
 */
bool cfg_parse_bool(const char *text, bool *out)
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
const char *cfg_quote(char *buf, size_t size, const char *text, size_t len)
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

/* A number the user wrote, already known to be all digits, kept short. */
const char *cfg_number_text(char *buf, size_t size, const char *text, size_t len)
{
	if (len > 24)
		snprintf(buf, size, "%.20s...", text);
	else
		snprintf(buf, size, "%.*s", (int)len, text);
	return buf;
}

unsigned cfg_to_unsigned(size_t value)
{
	return value > UINT_MAX ? UINT_MAX : (unsigned)value;
}

/* A duration within the configuration's limits: above zero, at most CFG_TIMEOUT_MAX_DAYS. */
enum cfg_duration_check cfg_bounded_duration(const char *text, uint64_t *ms)
{
	uint64_t value = 0;

	switch (hs_duration_parse(text, &value)) {
	case HS_DURATION_INVALID:
		return CFG_BOUNDED_INVALID;
	case HS_DURATION_NEGATIVE:
		return CFG_BOUNDED_ZERO;
	case HS_DURATION_OVERFLOW:
		return CFG_BOUNDED_TOO_LONG;
	case HS_DURATION_OK:
		break;
	}
	if (value == 0)
		return CFG_BOUNDED_ZERO;
	if (value > CFG_TIMEOUT_MAX_MS)
		return CFG_BOUNDED_TOO_LONG;
	*ms = value;
	return CFG_BOUNDED_OK;
}

void cfg_duration_problem(char *buf, size_t size, enum cfg_duration_check check, const char *path,
			  const char *text, size_t len, const char *zero_what, const char *off_hint)
{
	char quoted[CFG_QUOTE_MAX];

	switch (check) {
	case CFG_BOUNDED_INVALID:
		snprintf(buf, size, "%s: %s is not a duration (expected seconds, or a number with a unit: "
			 "500ms, 30s, 5m, 2h, 1d%s)", path, cfg_quote(quoted, sizeof(quoted), text, len), off_hint);
		return;
	case CFG_BOUNDED_ZERO:
		snprintf(buf, size, "%s: %smust be greater than zero", path, zero_what);
		return;
	case CFG_BOUNDED_TOO_LONG:
		snprintf(buf, size, "%s: %s is longer than the maximum of %d days", path,
			 cfg_quote(quoted, sizeof(quoted), text, len), CFG_TIMEOUT_MAX_DAYS);
		return;
	case CFG_BOUNDED_OK:
		break;
	}
	snprintf(buf, size, "%s: a valid duration", path);
}
