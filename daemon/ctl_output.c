/*
 * ctl_output: the interface of handshakectl's output forms, and the JSON
 * form: the daemon's lines exactly as they came (ctl_output_text.c is the
 * other form).
 */
#include "hs_ctl_output.h"

#include <inttypes.h>
#include <stdlib.h>

static struct hs_json_doc doc;  /* one line at a time, and large: not on the stack */

void hs_ctl_output_line(struct hs_ctl_output *o, const char *line, size_t len)
{
	bool parsed = hs_json_parse(&doc, line, len);

	o->ops->record(o, line, len, parsed ? &doc : NULL);
}

void hs_ctl_output_finish(struct hs_ctl_output *o)
{
	o->ops->finish(o);
	fflush(o->out);
}

void hs_ctl_output_release(struct hs_ctl_output *o)
{
	if (o->ops && o->ops->release)
		o->ops->release(o);
}

static void json_record(struct hs_ctl_output *o, const char *line, size_t len, const struct hs_json_doc *d)
{
	(void)d;
	fwrite(line, 1, len, o->out);
	fputc('\n', o->out);
	/* A watcher reads events as they happen, not when a buffer fills. */
	if (o->req->verb == HS_CTL_WATCH)
		fflush(o->out);
}

static void json_finish(struct hs_ctl_output *o)
{
	(void)o;
}

static const struct hs_ctl_output_ops json_ops = { json_record, json_finish, NULL };

bool hs_ctl_output_json_init(struct hs_ctl_output *o, const struct hs_ctl_request *req, FILE *out)
{
	o->ops = &json_ops;
	o->req = req;
	o->out = out;
	o->state = NULL;
	o->bad_records = 0;
	return true;
}

bool hs_ctl_output_init(struct hs_ctl_output *o, const struct hs_ctl_request *req, FILE *out)
{
	return req->json ? hs_ctl_output_json_init(o, req, out) : hs_ctl_output_text_init(o, req, out);
}

const char *hs_ctl_duration(char *buf, size_t size, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	else if (s < 60)
		snprintf(buf, size, "%" PRIu64 ".%" PRIu64 "s", s, ms % 1000 / 100);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
	return buf;
}
