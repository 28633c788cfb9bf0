/*
 * hs_flow_tally: how many flows there are, by the state of each endpoint,
 * as `handshakectl summary` reports them (the way `ss -s` sums up a host's
 * sockets), and its JSON form.  Pure counting: the caller feeds it the
 * flows a walk over the tables selects.
 */
#ifndef HS_FLOW_TALLY_H
#define HS_FLOW_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"

struct hs_flow_tally {
	uint64_t flows;
	uint64_t half_open;                         /* the handshake never completed */
	uint64_t ipv4, ipv6;
	uint64_t client[HS_TCP_STATE_COUNT];        /* by the client's state */
	uint64_t server[HS_TCP_STATE_COUNT];
	uint64_t local_flows;                       /* flows with an endpoint of the host's own (end host) */
	uint64_t local[HS_TCP_STATE_COUNT];         /* the host's own endpoints, by state (two for loopback) */
	uint64_t remote[HS_TCP_STATE_COUNT];        /* their peers (none for loopback) */
};

void hs_flow_tally_add(struct hs_flow_tally *tally, const struct hs_flow *flow);

/*
 * {"flows":N,"half_open":N,"ipv4":N,"ipv6":N,"client":{"CLOSED":N,...},
 *  "server":{...},"local_flows":N,"local":{...},"remote":{...}}: every
 * state named, zeros included, in the state machine's order.  Returns the
 * length, 0 if it did not fit.
 */
#define HS_FLOW_TALLY_JSON_MAX 2048
size_t hs_flow_tally_json(char *buf, size_t size, const struct hs_flow_tally *tally);

#endif
