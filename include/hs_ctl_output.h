/*
 * hs_ctl_output: how handshakectl shows the daemon's answers.  The daemon
 * answers list, count, summary, top, kill and watch in JSON Lines, one
 * schema for all of them and for the event log (hs_flow_json.h); the CLI
 * formats.  Two forms behind one interface, as bgpctl has output.c and
 * output_json.c: the JSON as the daemon wrote it (--json, for scripts), and
 * text for people (ctl_output_text.c): tables aligned to their content,
 * states by name, durations readable.
 */
#ifndef HS_CTL_OUTPUT_H
#define HS_CTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hs_ctl_request.h"
#include "hs_json_read.h"

struct hs_ctl_output;

struct hs_ctl_output_ops {
	/* One line of the answer's body; doc holds it parsed, NULL if it was not JSON. */
	void (*record)(struct hs_ctl_output *o, const char *line, size_t len, const struct hs_json_doc *doc);
	/* The answer is complete: what was held back (a table's rows) is written. */
	void (*finish)(struct hs_ctl_output *o);
	void (*release)(struct hs_ctl_output *o);
};

struct hs_ctl_output {
	const struct hs_ctl_output_ops *ops;
	const struct hs_ctl_request *req;
	FILE *out;
	void *state;                /* the form's own */
	unsigned bad_records;       /* lines that were not what the command answers */
};

/* The form the request asks for (--json or text).  False if memory ran out. */
bool hs_ctl_output_init(struct hs_ctl_output *o, const struct hs_ctl_request *req, FILE *out);
bool hs_ctl_output_json_init(struct hs_ctl_output *o, const struct hs_ctl_request *req, FILE *out);
bool hs_ctl_output_text_init(struct hs_ctl_output *o, const struct hs_ctl_request *req, FILE *out);

/* Feeds one line (without its newline): parsed, then given to the form. */
void hs_ctl_output_line(struct hs_ctl_output *o, const char *line, size_t len);
void hs_ctl_output_finish(struct hs_ctl_output *o);
void hs_ctl_output_release(struct hs_ctl_output *o);

/* stats for people, from the daemon's JSON (ctl_output_stats.c); false if root is not that. */
bool hs_ctl_text_stats(FILE *out, const struct hs_json_doc *doc, const struct hs_json_node *root);

/* A duration as people read it: 850ms, 12.3s, 5m03s, 2h04m, 3d04h. */
const char *hs_ctl_duration(char *buf, size_t size, uint64_t ms);

#endif
