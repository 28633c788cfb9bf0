/*
 * hs_config_walk: what the configuration loader's modules share while they
 * walk one YAML document: the loader's state (the document, the values
 * being built, the diagnostics) and the helpers that read nodes and report
 * problems at them.  Private to config.c, config_policy.c and
 * policy_check.c.
 */
#ifndef HS_CONFIG_WALK_H
#define HS_CONFIG_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "hs_config.h"
#include "hs_diag.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Room for a user's text quoted in a message, escapes and "..." included. */
#define CFG_QUOTE_MAX 64

/*
 * Timeouts are stored as uint32_t milliseconds, which would allow 49 days;
 * 20 days is well past Linux's 5-day established default and leaves the
 * timer code a wide margin.  Policies' idle and age share the limit.
 */
#define CFG_TIMEOUT_MAX_DAYS 20
#define CFG_TIMEOUT_MAX_MS ((uint64_t)CFG_TIMEOUT_MAX_DAYS * 24 * 3600 * 1000)

struct cfg_loader {
	yaml_document_t *doc;
	struct hs_config *config;   /* the values being built */
	struct hs_diag *diag;
	bool timeout_given[HS_TIMEOUT_CLASS_COUNT];   /* set in the file, not defaulted */
	/* Each stored policy's match.idle value if it loaded without error, for checks made at the end. */
	const yaml_node_t *policy_idle[HS_POLICY_MAX];
	/* Each stored policy's local_state or remote_state key if it loaded without error. */
	const yaml_node_t *policy_local[HS_POLICY_MAX];
};

/*
 * Reports a problem underlining a node: its whole text when it sits on one
 * line, otherwise from its start to the end of that line.
 */
void cfg_report_at(struct cfg_loader *ld, enum hs_diag_severity severity, const yaml_node_t *node,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

const char *cfg_scalar_text(const yaml_node_t *node);
/* YAML's null: an empty or "~"/"null" plain scalar (a section with every key commented out). */
bool cfg_is_null(const yaml_node_t *node);
/* "a mapping", "a list", "a scalar" or "nothing", for messages. */
const char *cfg_kind_name(const yaml_node_t *node);

/* YAML 1.1's boolean words (true/yes/on, false/no/off, three spellings each). */
bool cfg_parse_bool(const char *text, bool *out);

/* User text quoted for a message, escaped and shortened to fit buf. */
const char *cfg_quote(char *buf, size_t size, const char *text, size_t len);
/* A number the user wrote, already known to be digits, kept short. */
const char *cfg_number_text(char *buf, size_t size, const char *text, size_t len);
unsigned cfg_to_unsigned(size_t value);

enum cfg_duration_check { CFG_BOUNDED_OK, CFG_BOUNDED_INVALID, CFG_BOUNDED_ZERO, CFG_BOUNDED_TOO_LONG };
/* A duration within the configuration's limits: above zero, at most CFG_TIMEOUT_MAX_DAYS. */
enum cfg_duration_check cfg_bounded_duration(const char *text, uint64_t *ms);
/*
 * What is wrong with a duration that did not check out (not CFG_BOUNDED_OK),
 * as "PATH: ..." in buf: zero_what names what must be more than zero ("" for
 * the key itself), off_hint is appended to the accepted forms.  One wording
 * for every duration key of the file, timeouts and policies alike.
 */
#define CFG_DURATION_PROBLEM_MAX 320     /* room for the longest: a path, the quoted text, the forms */
void cfg_duration_problem(char *buf, size_t size, enum cfg_duration_check check, const char *path,
			  const char *text, size_t len, const char *zero_what, const char *off_hint);

#endif
