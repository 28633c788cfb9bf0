/*
 * ctl_output_text: handshakectl's answers for people.  Tables are aligned
 * to what they hold: rows are kept until the answer ends (or a few
 * thousand of them have come, for a list of a million flows: then the
 * widths found so far hold for the rest), then written with each column as
 * wide as its widest cell.  Durations read as 850ms, 12.3s, 5m03s.
 */
#include "hs_ctl_output.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hs_tcp_state.h"

#define MAX_COLS 12
#define HOLD_ROWS 4096      /* rows held to find the widths before any is written */
#define CELL_MAX 192

struct table {
	unsigned ncols;
	const char *headers[MAX_COLS];
	bool right[MAX_COLS];       /* numbers line up on their right */
	size_t widths[MAX_COLS];
	char **cells;               /* nrows * ncols, each malloc'd */
	size_t nrows, cap;
	bool header_written;
	bool failed;                /* memory ran out: rows are written as they come */
};

struct text_state {
	struct table table;
	uint64_t rows;              /* flows or groups shown */
	bool dry_run_total;         /* kill --dry-run said how many */
};

/* ---- tables ---- */

static void table_init(struct table *t, unsigned ncols, const char *const *headers, const bool *right)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	for (unsigned c = 0; c < ncols; c++) {
		t->headers[c] = headers[c];
		t->right[c] = right[c];
		t->widths[c] = strlen(headers[c]);
	}
}

static void write_row(FILE *out, const struct table *t, const char *const *cells)
{
	for (unsigned c = 0; c < t->ncols; c++) {
		bool last = c + 1 == t->ncols;
		int w = (int)t->widths[c];
		if (t->right[c])
			fprintf(out, "%*s", w, cells[c]);
		else
			fprintf(out, "%-*s", last ? 0 : w, cells[c]);
		fputs(last ? "\n" : "  ", out);
	}
}

static void table_flush(FILE *out, struct table *t)
{
	if (!t->header_written && (t->nrows || t->failed)) {
		write_row(out, t, t->headers);
		t->header_written = true;
	}
	for (size_t r = 0; r < t->nrows; r++) {
		write_row(out, t, (const char *const *)&t->cells[r * t->ncols]);
		for (unsigned c = 0; c < t->ncols; c++)
			free(t->cells[r * t->ncols + c]);
	}
	t->nrows = 0;
}

static void table_add(FILE *out, struct table *t, char cells[][CELL_MAX])
{
	const char *row[MAX_COLS];

	for (unsigned c = 0; c < t->ncols; c++) {
		size_t len = strlen(cells[c]);
		if (len > t->widths[c] && !t->header_written)
			t->widths[c] = len;
		row[c] = cells[c];
	}
	if (t->failed) {
		write_row(out, t, row);
		return;
	}
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **cellv = realloc(t->cells, cap * t->ncols * sizeof(*cellv));
		if (!cellv) {
			t->failed = true;
			table_flush(out, t);
			write_row(out, t, row);
			return;
		}
		t->cells = cellv;
		t->cap = cap;
	}
	for (unsigned c = 0; c < t->ncols; c++) {
		t->cells[t->nrows * t->ncols + c] = strdup(cells[c]);
		if (!t->cells[t->nrows * t->ncols + c])
			t->cells[t->nrows * t->ncols + c] = strdup("");
	}
	t->nrows++;
	/* A long list: the widths seen so far will do for the rest, so it need not be held whole. */
	if (t->nrows == HOLD_ROWS)
		table_flush(out, t);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- cells ---- */

static const struct hs_json_node *member(const struct hs_json_doc *d, const struct hs_json_node *o, const char *key)
{
	return hs_json_get(d, o, key);
}

/* "10.0.1.2:40000" or "[fd00::2]:8080", with '*' before the host's own endpoint. */
static void endpoint_cell(char *cell, const struct hs_json_doc *d, const struct hs_json_node *ep, bool v6,
			  bool local)
{
	snprintf(cell, CELL_MAX, v6 ? "%s[%s]:%" PRIu64 : "%s%s:%" PRIu64, local ? "*" : "",
		 hs_json_str(d, ep, "addr", "?"), hs_json_u64(d, ep, "port"));
}

static bool is_local(const char *local, const char *side)
{
	return strcmp(local, side) == 0 || strcmp(local, "both") == 0;
}

/* ---- list (and kill --dry-run) ---- */

static const char *const flow_headers[] = { "ID", "FAM", "CLIENT", "STATE", "SERVER", "STATE", "PKTS>", "PKTS<",
					    "AGE", "IDLE", "HISTORY" };
static const bool flow_right[] = { true, false, false, false, false, false, true, true, true, true, false };

static bool flow_row(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *f)
{
	struct text_state *st = o->state;
	char cells[11][CELL_MAX];
	const struct hs_json_node *c = member(d, f, "client"), *s = member(d, f, "server");
	const char *family = hs_json_str(d, f, "family", "?"), *local = hs_json_str(d, f, "local", "");

	if (!c || !s)
		return false;
	bool v6 = strcmp(family, "ipv6") == 0;
	snprintf(cells[0], CELL_MAX, "%" PRIu64, hs_json_u64(d, f, "id"));
	snprintf(cells[1], CELL_MAX, "%s", family);
	endpoint_cell(cells[2], d, c, v6, is_local(local, "client"));
	snprintf(cells[3], CELL_MAX, "%s", hs_json_str(d, c, "state", "?"));
	endpoint_cell(cells[4], d, s, v6, is_local(local, "server"));
	snprintf(cells[5], CELL_MAX, "%s", hs_json_str(d, s, "state", "?"));
	snprintf(cells[6], CELL_MAX, "%" PRIu64, hs_json_u64(d, c, "packets"));
	snprintf(cells[7], CELL_MAX, "%" PRIu64, hs_json_u64(d, s, "packets"));
	hs_ctl_duration(cells[8], CELL_MAX, hs_json_u64(d, f, "age_ms"));
	hs_ctl_duration(cells[9], CELL_MAX, hs_json_u64(d, f, "idle_ms"));
	snprintf(cells[10], CELL_MAX, "%s", hs_json_str(d, f, "history", ""));
	table_add(o->out, &st->table, cells);
	st->rows++;
	return true;
}

static bool list_record(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	struct text_state *st = o->state;

	if (hs_json_get(d, root, "dry_run")) {
		table_flush(o->out, &st->table);
		fprintf(o->out, "%" PRIu64 " flow%s would be reset (dry run: nothing was sent)\n",
			hs_json_u64(d, root, "flows"), hs_json_u64(d, root, "flows") == 1 ? "" : "s");
		st->dry_run_total = true;
		return true;
	}
	return flow_row(o, d, root);
}

/* ---- count, summary ---- */

static bool count_record(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	if (!hs_json_get(d, root, "count"))
		return false;
	fprintf(o->out, "%" PRIu64 "\n", hs_json_u64(d, root, "count"));
	return true;
}

static bool summary_record(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	static const char *const sides[] = { "client", "server", "local", "remote" };
	static const char *const headers[] = { "STATE", "CLIENT", "SERVER", "LOCAL", "REMOTE" };
	static const bool right[] = { false, true, true, true, true };
	const struct hs_json_node *counts[4];
	bool host = hs_json_u64(d, root, "local_flows") > 0;
	unsigned ncols = host ? 5 : 3;
	struct table t;

	for (int i = 0; i < 4; i++)
		if (!(counts[i] = member(d, root, sides[i])))
			return false;
	fprintf(o->out, "flows %" PRIu64 " (ipv4 %" PRIu64 ", ipv6 %" PRIu64 "), half-open %" PRIu64, hs_json_u64(d, root, "flows"),
		hs_json_u64(d, root, "ipv4"), hs_json_u64(d, root, "ipv6"), hs_json_u64(d, root, "half_open"));
	if (host)
		fprintf(o->out, ", with an endpoint of this host %" PRIu64, hs_json_u64(d, root, "local_flows"));
	fputc('\n', o->out);
	table_init(&t, ncols, headers, right);
	for (int s = 0; s < HS_TCP_STATE_COUNT; s++) {
		const char *name = hs_tcp_state_name((enum hs_tcp_state)s);
		char cells[5][CELL_MAX];
		uint64_t any = 0;
		snprintf(cells[0], CELL_MAX, "%s", name);
		for (unsigned c = 1; c < ncols; c++) {
			uint64_t n = hs_json_u64(d, counts[c - 1], name);
			any |= n;
			snprintf(cells[c], CELL_MAX, "%" PRIu64, n);
		}
		if (any)
			table_add(o->out, &t, cells);
	}
	table_flush(o->out, &t);
	table_free(&t);
	return true;
}

/* ---- top ---- */

/* "CLOSE_WAIT 50, ESTABLISHED 3": the states of one end, most first. */
static void states_cell(char *cell, const struct hs_json_doc *d, const struct hs_json_node *states)
{
	const struct hs_json_node *best[HS_TCP_STATE_COUNT];
	size_t n = 0, used = 0;

	for (const struct hs_json_node *m = hs_json_first(d, states); m && n < HS_TCP_STATE_COUNT; m = hs_json_next(d, m))
		best[n++] = m;
	/* A handful of entries: insertion sort by count, the state machine's order among equals. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strtoull(best[j]->text, NULL, 10) > strtoull(best[j - 1]->text, NULL, 10); j--) {
			const struct hs_json_node *t = best[j];
			best[j] = best[j - 1];
			best[j - 1] = t;
		}
	cell[0] = '\0';
	for (size_t i = 0; i < n && used < CELL_MAX; i++)
		used += (size_t)snprintf(cell + used, CELL_MAX - used, "%s%s %s", i ? ", " : "", best[i]->key, best[i]->text);
}

static void key_cell(char *cell, const struct hs_json_doc *d, const struct hs_json_node *key)
{
	const char *addr = hs_json_str(d, key, "addr", NULL);
	bool v6 = strcmp(hs_json_str(d, key, "family", ""), "ipv6") == 0;

	if (addr && hs_json_get(d, key, "port"))
		snprintf(cell, CELL_MAX, v6 ? "[%s]:%" PRIu64 : "%s:%" PRIu64, addr, hs_json_u64(d, key, "port"));
	else if (addr)
		snprintf(cell, CELL_MAX, "%s", addr);
	else
		snprintf(cell, CELL_MAX, "%" PRIu64, hs_json_u64(d, key, "port"));
}

static bool top_record(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	struct text_state *st = o->state;
	const char *ends[2] = { hs_group_side_name(o->req->by, 0), hs_group_side_name(o->req->by, 1) };
	const struct hs_json_node *key = member(d, root, "key");
	char cells[4][CELL_MAX];

	if (!key || !hs_json_get(d, root, "flows"))
		return false;
	snprintf(cells[0], CELL_MAX, "%" PRIu64, hs_json_u64(d, root, "flows"));
	key_cell(cells[1], d, key);
	states_cell(cells[2], d, member(d, root, ends[0]));
	states_cell(cells[3], d, member(d, root, ends[1]));
	table_add(o->out, &st->table, cells);
	st->rows++;
	return true;
}

/* ---- kill ---- */

static bool kill_record(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	if (o->req->dry_run)
		return list_record(o, d, root);
	if (!hs_json_get(d, root, "killed"))
		return false;
	uint64_t flows = hs_json_u64(d, root, "killed"), sent = hs_json_u64(d, root, "resets_sent"),
		 waiting = hs_json_u64(d, root, "resets_waiting");
	fprintf(o->out, "%" PRIu64 " flow%s reset: %" PRIu64 " RST%s sent", flows, flows == 1 ? "" : "s", sent,
		sent == 1 ? "" : "s");
	if (waiting)
		fprintf(o->out, ", %" PRIu64 " waiting for the kernel (their flows leave once they are sent)", waiting);
	fputc('\n', o->out);
	return true;
}

/* ---- watch ---- */

static void flow_pair(char *buf, size_t size, const struct hs_json_doc *d, const struct hs_json_node *f)
{
	const struct hs_json_node *c = member(d, f, "client"), *s = member(d, f, "server");
	bool v6 = strcmp(hs_json_str(d, f, "family", ""), "ipv6") == 0;
	const char *local = hs_json_str(d, f, "local", "");
	char ce[CELL_MAX], se[CELL_MAX];

	endpoint_cell(ce, d, c, v6, is_local(local, "client"));
	endpoint_cell(se, d, s, v6, is_local(local, "server"));
	snprintf(buf, size, "%s > %s %s/%s", ce, se, hs_json_str(d, c, "state", "?"), hs_json_str(d, s, "state", "?"));
}

static bool watch_record(struct hs_ctl_output *o, const struct hs_json_doc *d, const struct hs_json_node *root)
{
	const char *event = hs_json_str(d, root, "event", NULL);
	const struct hs_json_node *flow = member(d, root, "flow"), *from = member(d, root, "from");
	char when[32] = "", pair[2 * CELL_MAX + 64];

	if (!event)
		return false;
	if (strcmp(event, "lost") == 0) {
		fprintf(o->out, "-- %" PRIu64 " event%s lost: this reader fell behind\n", hs_json_u64(d, root, "count"),
			hs_json_u64(d, root, "count") == 1 ? "" : "s");
		fflush(o->out);
		return true;
	}
	if (!flow)
		return false;
	double ts = hs_json_double(d, root, "ts");
	time_t secs = (time_t)ts;
	struct tm tm;
	if (localtime_r(&secs, &tm))
		snprintf(when, sizeof(when), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)((ts - (double)secs) * 1000.0 + 0.5) % 1000);
	flow_pair(pair, sizeof(pair), d, flow);
	fprintf(o->out, "%s %-6s %" PRIu64 " %s", when, event, hs_json_u64(d, flow, "id"), pair);
	if (from)
		fprintf(o->out, " (from %s/%s)", hs_json_str(d, from, "client", "?"), hs_json_str(d, from, "server", "?"));
	if (hs_json_get(d, root, "reason"))
		fprintf(o->out, " %s", hs_json_str(d, root, "reason", ""));
	fputc('\n', o->out);
	fflush(o->out);
	return true;
}

/* ---- the form ---- */

static void text_record(struct hs_ctl_output *o, const char *line, size_t len, const struct hs_json_doc *d)
{
	const struct hs_json_node *root = d ? hs_json_root(d) : NULL;
	bool ok = false;

	if (root && root->type == HS_JSON_OBJECT && hs_json_get(d, root, "warning")) {
		fprintf(stderr, "handshakectl: warning: %s\n", hs_json_str(d, root, "warning", ""));
		return;
	}
	if (root && root->type == HS_JSON_OBJECT) {
		switch (o->req->verb) {
		case HS_CTL_LIST:
			ok = list_record(o, d, root);
			break;
		case HS_CTL_COUNT:
			ok = count_record(o, d, root);
			break;
		case HS_CTL_SUMMARY:
			ok = summary_record(o, d, root);
			break;
		case HS_CTL_TOP:
			ok = top_record(o, d, root);
			break;
		case HS_CTL_KILL:
			ok = kill_record(o, d, root);
			break;
		case HS_CTL_WATCH:
			ok = watch_record(o, d, root);
			break;
		case HS_CTL_STATS:
			ok = hs_ctl_text_stats(o->out, d, root);
			break;
		default:
			break;
		}
	}
	/* Something this CLI does not know (a newer daemon?): shown as it came rather than lost. */
	if (!ok) {
		o->bad_records++;
		fwrite(line, 1, len, o->out);
		fputc('\n', o->out);
	}
}

static void text_finish(struct hs_ctl_output *o)
{
	struct text_state *st = o->state;

	table_flush(o->out, &st->table);
	if (o->req->verb == HS_CTL_LIST && st->rows == 0)
		fprintf(o->out, "no flows\n");
	if (o->req->verb == HS_CTL_TOP && st->rows == 0)
		fprintf(o->out, "no flows to group by %s\n", hs_group_by_name(o->req->by));
}

static void text_release(struct hs_ctl_output *o)
{
	struct text_state *st = o->state;

	if (st)
		table_free(&st->table);
	free(st);
	o->state = NULL;
}

static const struct hs_ctl_output_ops text_ops = { text_record, text_finish, text_release };

bool hs_ctl_output_text_init(struct hs_ctl_output *o, const struct hs_ctl_request *req, FILE *out)
{
	struct text_state *st = calloc(1, sizeof(*st));

	o->ops = &text_ops;
	o->req = req;
	o->out = out;
	o->state = st;
	o->bad_records = 0;
	if (!st)
		return false;
	if (req->verb == HS_CTL_TOP) {
		static char key_header[16], end_headers[2][24];
		const char *name = hs_group_by_name(req->by);
		size_t i;
		for (i = 0; name[i] && i < sizeof(key_header) - 1; i++)
			key_header[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
		key_header[i] = '\0';
		for (int e = 0; e < 2; e++) {
			const char *end = hs_group_side_name(req->by, e);
			size_t j;
			for (j = 0; end[j] && j < 16; j++)
				end_headers[e][j] = (char)(end[j] - 'a' + 'A');
			snprintf(end_headers[e] + j, sizeof(end_headers[e]) - j, " STATES");
		}
		const char *headers[] = { "FLOWS", key_header, end_headers[0], end_headers[1] };
		static const bool right[] = { true, false, false, false };
		table_init(&st->table, 4, headers, right);
	} else {
		table_init(&st->table, 11, flow_headers, flow_right);
	}
	return true;
}
