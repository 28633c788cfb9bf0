/*
 * flow_json: formats a flow as the JSON object operators and tests read,
 * and as the one-line text of `handshakectl list`, both saying which
 * endpoint is the host's own when the daemon runs on an end host.  Addresses and state
 * names need no escaping, so plain snprintf suffices.
 */
#include "hs_flow_json.h"

#include <inttypes.h>
#include <stdio.h>

static size_t finish(int n, size_t size)
{
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* The JSON value of "local": which endpoints are this host's own. */
static const char *local_json(const struct hs_flow *flow)
{
	switch (hs_flow_local_sides(flow)) {
	case HS_SIDE_BIT(HS_CLIENT):
		return "\"client\"";
	case HS_SIDE_BIT(HS_SERVER):
		return "\"server\"";
	case HS_SIDE_BIT(HS_CLIENT) | HS_SIDE_BIT(HS_SERVER):
		return "\"both\"";   /* a connection between two of the host's own sockets */
	default:
		return "null";
	}
}

/* Both endpoints' addresses as text, in buffers of 64 bytes. */
static void format_addrs(const struct hs_flow *flow, char *client, char *server)
{
	struct hs_addr c = hs_flow_addr(flow, HS_CLIENT), s = hs_flow_addr(flow, HS_SERVER);

	hs_addr_format(&c, hs_flow_family(flow), client, 64);
	hs_addr_format(&s, hs_flow_family(flow), server, 64);
}

void hs_flow_view_of(struct hs_flow_view *view, const struct hs_table *table, const struct hs_flow *flow,
		     uint64_t now_ms)
{
	hs_flow_copy(&view->copy, flow);
	view->age_ms = hs_flow_age_ms(table, flow, now_ms);
	view->idle_ms = hs_flow_idle_ms(table, flow, now_ms);
	view->state_age_ms = hs_flow_state_age_ms(table, flow, now_ms);
}

size_t hs_flow_json(char *buf, size_t size, const struct hs_table *table, const struct hs_flow *flow,
		    uint64_t now_ms)
{
	struct hs_flow_view view;

	hs_flow_view_of(&view, table, flow, now_ms);
	return hs_flow_view_json(buf, size, &view);
}

size_t hs_flow_text(char *buf, size_t size, const struct hs_table *table, const struct hs_flow *flow,
		    uint64_t now_ms)
{
	struct hs_flow_view view;

	hs_flow_view_of(&view, table, flow, now_ms);
	return hs_flow_view_text(buf, size, &view);
}

size_t hs_flow_view_json(char *buf, size_t size, const struct hs_flow_view *view)
{
	const struct hs_flow *flow = &view->flow;
	char caddr[64], saddr[64], history[HS_HISTORY_MAX + 1];

	format_addrs(flow, caddr, saddr);
	hs_flow_history_format(flow, history, sizeof(history));
	int n = snprintf(buf, size,
			 "{\"id\":%" PRIu32 ",\"family\":\"%s\","
			 "\"client\":{\"addr\":\"%s\",\"port\":%u,\"state\":\"%s\",\"packets\":%" PRIu32 ",\"bytes\":%" PRIu64 "},"
			 "\"server\":{\"addr\":\"%s\",\"port\":%u,\"state\":\"%s\",\"packets\":%" PRIu32 ",\"bytes\":%" PRIu64 "},"
			 "\"local\":%s,\"age_ms\":%" PRIu64 ",\"idle_ms\":%" PRIu64 ",\"history\":\"%s\"}",
			 flow->id, hs_flow_family(flow) == HS_FAMILY_IPV6 ? "ipv6" : "ipv4",
			 caddr, hs_flow_port(flow, HS_CLIENT), hs_tcp_state_name(flow->state[HS_CLIENT]),
			 flow->packets[HS_CLIENT], hs_flow_bytes(flow, HS_CLIENT),
			 saddr, hs_flow_port(flow, HS_SERVER), hs_tcp_state_name(flow->state[HS_SERVER]),
			 flow->packets[HS_SERVER], hs_flow_bytes(flow, HS_SERVER), local_json(flow),
			 view->age_ms, view->idle_ms, history);
	return finish(n, size);
}

size_t hs_flow_text_header(char *buf, size_t size)
{
	int n = snprintf(buf, size, "%-8s %-4s %-22s %-12s %-22s %-12s %8s %8s %9s %8s %s", "ID", "FAM", "CLIENT",
			 "STATE", "SERVER", "STATE", "PKTS>", "PKTS<", "AGE(s)", "IDLE(s)", "HISTORY");
	return finish(n, size);
}

size_t hs_flow_view_text(char *buf, size_t size, const struct hs_flow_view *view)
{
	const struct hs_flow *flow = &view->flow;
	char caddr[64], saddr[64], cend[80], send[80], history[HS_HISTORY_MAX + 1];
	bool v6 = hs_flow_family(flow) == HS_FAMILY_IPV6;

	format_addrs(flow, caddr, saddr);
	unsigned local = hs_flow_local_sides(flow);

	/* A '*' before an endpoint says it is this host's own socket. */
	snprintf(cend, sizeof(cend), v6 ? "%s[%s]:%u" : "%s%s:%u", (local & HS_SIDE_BIT(HS_CLIENT)) ? "*" : "",
		 caddr, hs_flow_port(flow, HS_CLIENT));
	snprintf(send, sizeof(send), v6 ? "%s[%s]:%u" : "%s%s:%u", (local & HS_SIDE_BIT(HS_SERVER)) ? "*" : "",
		 saddr, hs_flow_port(flow, HS_SERVER));
	hs_flow_history_format(flow, history, sizeof(history));
	int n = snprintf(buf, size, "%-8" PRIu32 " %-4s %-22s %-12s %-22s %-12s %8" PRIu32 " %8" PRIu32
			 " %9.1f %8.1f %s",
			 flow->id, v6 ? "ipv6" : "ipv4", cend, hs_tcp_state_name(flow->state[HS_CLIENT]),
			 send, hs_tcp_state_name(flow->state[HS_SERVER]),
			 flow->packets[HS_CLIENT], flow->packets[HS_SERVER],
			 (double)view->age_ms / 1000.0, (double)view->idle_ms / 1000.0, history);
	return finish(n, size);
}
