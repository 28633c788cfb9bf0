/*
 * hs_flow_json: the JSON form of a flow, shared by `handshakectl list
 * --json` and the event log so that both speak exactly the same object:
 *
 *   {"id":17,"family":"ipv4","client":{"addr":"10.0.1.2","port":43210,
 *    "state":"FIN_WAIT_2","packets":7,"bytes":512},"server":{...},
 *    "local":"client","age_ms":1234,"idle_ms":200,"history":"ShADadFf"}
 *
 * "local" names the endpoint whose address is the host's own: "client",
 * "server", "both" (two sockets of the host, over loopback) or null (a
 * router, where neither is).
 */
#ifndef HS_FLOW_JSON_H
#define HS_FLOW_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "hs_table.h"

#define HS_FLOW_JSON_MAX 512

/*
 * A flow copied out of its table with its times resolved: what a reader
 * that holds the table's lock only briefly (the control socket) takes away
 * to format later.
 */
struct hs_flow_view {
	union {
		struct hs_flow flow;
		struct hs_flow_v6 copy;     /* room for an IPv6 flow's addresses (hs_flow_copy) */
	};
	uint64_t age_ms;            /* since its first packet */
	uint64_t idle_ms;           /* since its last packet */
	uint64_t state_age_ms;      /* since either endpoint's state last changed */
};

void hs_flow_view_of(struct hs_flow_view *view, const struct hs_table *table, const struct hs_flow *flow,
		     uint64_t now_ms);

/*
 * Writes the flow's JSON object (no newline) into buf and returns its
 * length, or 0 if it did not fit.  The flow's id is shown as given.
 */
size_t hs_flow_json(char *buf, size_t size, const struct hs_table *table, const struct hs_flow *flow,
		    uint64_t now_ms);

/* The same from a view. */
size_t hs_flow_view_json(char *buf, size_t size, const struct hs_flow_view *view);

/* The column headings above hs_flow_text lines (no newline); returns the length, 0 if it did not fit. */
size_t hs_flow_text_header(char *buf, size_t size);

/* One readable line, as `handshakectl list` prints it. */
size_t hs_flow_text(char *buf, size_t size, const struct hs_table *table, const struct hs_flow *flow,
		    uint64_t now_ms);
size_t hs_flow_view_text(char *buf, size_t size, const struct hs_flow_view *view);

#endif
