/*
 * hs_replay_report: what `handshaked -r` prints at the end of a capture.
 * It owns the replay's counters, the list of what each policy would have
 * done to which flow and when, and their two forms: the table as
 * `handshakectl list` prints it (or `list --json`), then a summary in text
 * or as one JSON object.
 */
#ifndef HS_REPLAY_REPORT_H
#define HS_REPLAY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hs_link_layer.h"
#include "hs_packet.h"
#include "hs_policy_engine.h"
#include "hs_table.h"

struct hs_replay_stats {
	uint64_t records;
	uint64_t link[HS_LINK_RESULT_COUNT];    /* records by what the link layer held */
	uint64_t tcp, not_tcp, fragments;
	uint64_t parse_errors[HS_PARSE_RESULT_COUNT];
	uint64_t would_drop_invalid;            /* strict: invalid TCP */
	uint64_t would_drop_malformed;          /* strict: malformed IP or TCP */
	uint64_t would_drop_blocked;            /* flows a policy had blocked (never, in dry run) */
	uint64_t would_drop_policy;             /* packets a policy would have dropped */
	uint64_t clock_backwards;               /* records stamped before the one before them */
	uint64_t clock_jumps;                   /* gaps crossed in one expiry step */
	uint64_t first_us, last_us;
};

/* One time a policy would have acted: on which flow (as it was then), when. */
struct hs_replay_action {
	uint64_t ms;                /* capture time */
	uint32_t policy;            /* index in the policy set */
	union {
		struct hs_flow flow;
		struct hs_flow_v6 copy;     /* room for an IPv6 flow's addresses (hs_flow_copy) */
	};
};

/* Kept up to this many; the rest are counted (the summary's counts have them all). */
#define HS_REPLAY_ACTIONS_MAX 100000u

struct hs_replay_actions {
	struct hs_replay_action *items;
	size_t n, capacity;
	uint64_t left_out;
};

/* Appends (growing the list); past HS_REPLAY_ACTIONS_MAX or out of memory, counts it as left out. */
void hs_replay_actions_add(struct hs_replay_actions *list, uint64_t ms, uint32_t policy, const struct hs_flow *flow);
void hs_replay_actions_free(struct hs_replay_actions *list);

struct hs_replay_report {
	const struct hs_replay_stats *stats;
	const struct hs_table *table;               /* NULL: no packet was read */
	uint64_t now;                               /* the capture's clock at its end */
	const struct hs_policy_set *policies;
	const struct hs_policy_counters *counters;  /* NULL: no packet was read */
	const struct hs_replay_actions *actions;
	const char *link_name;
};

/*
 * The table (flows in id order, the order they were first seen), then the
 * summary; json: JSON Lines of flows and one last {"summary":{...}}.
 */
void hs_replay_report_print(const struct hs_replay_report *rep, bool json, FILE *out);

#endif
