/*
 * events: buffered JSON Lines events.  A line that does not fit the
 * remaining buffer forces a flush first; write errors count lost lines
 * rather than stopping the packet path.
 */
#include "hs_events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hs_flow_json.h"

void hs_events_init(struct hs_events *ev, int fd)
{
	ev->fd = fd;
	ev->table_clock_is_wall = false;
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

void hs_events_flow(struct hs_events *ev, const char *event, const struct hs_table *table,
		    const struct hs_flow *flow, uint64_t now_ms, const uint8_t *old_state,
		    const char *detail)
{
	char line[HS_FLOW_JSON_MAX + 256], flow_json[HS_FLOW_JSON_MAX];
	struct timespec ts;
	int n;

	if (ev->fd < 0)
		return;
	if (ev->table_clock_is_wall) {
		ts.tv_sec = (time_t)(now_ms / 1000u);
		ts.tv_nsec = (long)(now_ms % 1000u) * 1000000L;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
	}
	if (!hs_flow_json(flow_json, sizeof(flow_json), table, flow, now_ms))
		return;
	n = snprintf(line, sizeof(line), "{\"ts\":%lld.%03ld,\"event\":\"%s\"", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000, event);
	if (old_state && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"from\":{\"client\":\"%s\",\"server\":\"%s\"}",
			      hs_tcp_state_name(old_state[HS_CLIENT]), hs_tcp_state_name(old_state[HS_SERVER]));
	if (detail && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"reason\":\"%s\"", detail);
	if (n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"flow\":%s}\n", flow_json);
	if (n <= 0 || (size_t)n >= sizeof(line)) {
		ev->lost++;
		return;
	}
	if (ev->len + (size_t)n > sizeof(ev->buf))
		hs_events_flush(ev);
	memcpy(ev->buf + ev->len, line, (size_t)n);
	ev->len += (size_t)n;
	ev->written++;
}

void hs_events_track(struct hs_events *ev, const struct hs_table *table, const struct hs_track_result *res,
		     uint64_t now_ms)
{
	if (ev->fd < 0 || !res->flow || !(res->events & (HS_EVENT_NEW | HS_EVENT_STATE)))
		return;
	if (res->events & HS_EVENT_NEW)
		hs_events_flow(ev, "new", table, res->flow, now_ms, NULL,
			       (res->events & HS_EVENT_RESTART) ? "reopened" : NULL);
	else
		hs_events_flow(ev, "state", table, res->flow, now_ms, res->old_state, NULL);
	if (res->events & HS_EVENT_CLOSED)
		hs_events_flow(ev, "close", table, res->flow, now_ms, NULL, NULL);
}
