/*
 * events: buffered JSON Lines events.  A line that does not fit the
 * remaining buffer forces a flush first; write errors count lost lines
 * rather than stopping the packet path.
 */
#include "hs_events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hs_flow_json.h"

void hs_events_init(struct hs_events *ev, int fd)
{
	ev->fd = fd;
	ev->len = 0;
	ev->written = 0;
	ev->lost = 0;
}

void hs_events_flush(struct hs_events *ev)
{
	size_t off = 0;

	while (off < ev->len && ev->fd >= 0) {
		ssize_t n = write(ev->fd, ev->buf + off, ev->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Count the lines we could not write and move on. */
			for (size_t i = off; i < ev->len; i++)
				ev->lost += ev->buf[i] == '\n';
			break;
		}
		off += (size_t)n;
	}
	ev->len = 0;
}

/* Appends a formatted line to the buffer, flushing first if it does not fit. */
static void append(struct hs_events *ev, const char *line, size_t len)
{
	if (len == 0) {
		ev->lost++;
		return;
	}
	if (ev->len + len > sizeof(ev->buf))
		hs_events_flush(ev);
	memcpy(ev->buf + ev->len, line, len);
	ev->len += len;
	ev->written++;
}

size_t hs_event_json(char *buf, size_t size, const struct hs_event *e)
{
	char flow_json[HS_FLOW_JSON_MAX];
	int n;

	if (!hs_flow_view_json(flow_json, sizeof(flow_json), &e->flow))
		return 0;
	n = snprintf(buf, size, "{\"ts\":%llu.%03u,\"event\":\"%s\"", (unsigned long long)(e->wall_ms / 1000u),
		     (unsigned)(e->wall_ms % 1000u), hs_event_kind_name((enum hs_event_kind)e->kind));
	if (e->has_from && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ",\"from\":{\"client\":\"%s\",\"server\":\"%s\"}",
			      hs_tcp_state_name(e->from[HS_CLIENT]), hs_tcp_state_name(e->from[HS_SERVER]));
	if (e->reason[0] && n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ",\"reason\":\"%s\"", e->reason);
	if (n > 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ",\"flow\":%s}\n", flow_json);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

void hs_event_of(struct hs_event *e, const struct hs_table *table, const struct hs_action *a,
		 const struct hs_policy *policy, uint64_t wall_ms)
{
	e->kind = a->event;
	e->has_from = a->event == HS_EV_STATE;
	memcpy(e->from, a->old_state, sizeof(e->from));
	e->reason[0] = '\0';
	if (a->event == HS_EV_NEW && a->reopened)
		snprintf(e->reason, sizeof(e->reason), "reopened");
	if (a->event == HS_EV_POLICY)
		snprintf(e->reason, sizeof(e->reason), "%s: %s%s", policy ? policy->name : "(a replaced policy)",
			 hs_policy_action_name((enum hs_policy_action)a->policy_action), a->dry_run ? " (dry run)" : "");
	e->wall_ms = wall_ms;
	hs_flow_view_of(&e->flow, table, &a->flow, a->now_ms);
}

void hs_events_flow(struct hs_events *ev, const char *event, const struct hs_table *table,
		    const struct hs_flow *flow, uint64_t now_ms, uint64_t wall_ms, const uint8_t *old_state,
		    const char *detail)
{
	char line[HS_EVENT_JSON_MAX], flow_json[HS_FLOW_JSON_MAX];
	int n;

	if (ev->fd < 0)
		return;
	if (!hs_flow_json(flow_json, sizeof(flow_json), table, flow, now_ms))
		return;
	n = snprintf(line, sizeof(line), "{\"ts\":%llu.%03u,\"event\":\"%s\"", (unsigned long long)(wall_ms / 1000u),
		     (unsigned)(wall_ms % 1000u), event);
	if (old_state && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"from\":{\"client\":\"%s\",\"server\":\"%s\"}",
			      hs_tcp_state_name(old_state[HS_CLIENT]), hs_tcp_state_name(old_state[HS_SERVER]));
	if (detail && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"reason\":\"%s\"", detail);
	if (n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"flow\":%s}\n", flow_json);
	append(ev, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
}

void hs_events_action(struct hs_events *ev, const struct hs_table *table, const struct hs_action *a,
		      const struct hs_policy *policy, uint64_t wall_ms)
{
	struct hs_event e;
	char line[HS_EVENT_JSON_MAX];

	if (ev->fd < 0 || a->type != HS_DO_EVENT)
		return;
	hs_event_of(&e, table, a, policy, wall_ms);
	append(ev, line, hs_event_json(line, sizeof(line), &e));
}
