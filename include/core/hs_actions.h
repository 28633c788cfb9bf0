/*
 * hs_actions: what the core decided must happen, for an edge to carry out.
 * The policy engine, and the table hooks it installs, never send a packet
 * or write a line: they append to a list that their caller provides and
 * then carries out, in order.  Two kinds of action:
 *
 *   reset   which sides of which flow get a RST.  The flow stays in the
 *           table; the caller sends the RSTs (hs_rst_build makes them from
 *           the copy of the flow carried here) and deletes the flow once
 *           they were handed to the kernel or finally failed.
 *   event   a line for the event log: new, state, close, expire, evict,
 *           delete, policy, with a copy of the flow as it was then and the
 *           time of the decision (the table's clock, not the wall clock).
 *
 * The list has a fixed size and is never allocated on the packet path.
 * Resets are bounded by reset_room, which the caller sets to what it can
 * take (room in its retry queue); a timed policy that finds no room waits
 * for a later tick rather than losing its RSTs.  Events are unbounded (an
 * expiry pass may remove any number of flows), so when the list is full the
 * list's spill function, given by the caller, must carry out the events
 * waiting in it at once (without touching the table) and leave the resets;
 * without one, events that find the list full are counted as lost.
 */
#ifndef HS_ACTIONS_H
#define HS_ACTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "hs_flow.h"

#define HS_ACTIONS_MAX 128u             /* actions a list holds */
#define HS_ACTIONS_NO_POLICY UINT16_MAX

/* What a packet gets. */
enum hs_verdict {
	HS_VERDICT_ACCEPT = 0,
	HS_VERDICT_DROP,
};

enum hs_event_kind {
	HS_EV_NEW = 0,      /* a flow began (reopened: on the tuple of a closed one) */
	HS_EV_STATE,        /* an endpoint's state changed; old_state holds the states before */
	HS_EV_CLOSE,        /* both endpoints are done */
	HS_EV_EXPIRE,       /* left the table: its state's timeout passed */
	HS_EV_EVICT,        /* left the table: its record was needed */
	HS_EV_DELETE,       /* left the table: reset by a policy or by kill */
	HS_EV_POLICY,       /* a policy acted, or would have (dry run) */
	HS_EV_KIND_COUNT
};

/* "new", "state", ... as the event log names them. */
const char *hs_event_kind_name(enum hs_event_kind kind);

enum hs_action_type {
	HS_DO_EVENT = 0,
	HS_DO_RESET,
};

struct hs_action {
	uint8_t type;               /* enum hs_action_type */
	uint8_t event;              /* event: enum hs_event_kind */
	uint8_t sides;              /* reset: bit (1 << enum hs_side) for each side that gets a RST */
	uint8_t old_state[2];       /* state event: the states before, by side */
	bool reopened;              /* new event */
	bool dry_run;               /* policy event */
	uint8_t policy_action;      /* policy event: enum hs_policy_action */
	uint16_t policy;            /* policy event, reset: index in the policy set, or HS_ACTIONS_NO_POLICY */
	uint16_t generation;        /* of the policy set the index belongs to */
	uint32_t flow_index;        /* reset: the flow's place in its table (hs_table_flow_ref) */
	uint64_t now_ms;            /* when it was decided, on the table's clock */
	union {
		struct hs_flow flow;        /* the flow as it was then */
		struct hs_flow_v6 copy;     /* room for an IPv6 flow's addresses (hs_flow_copy) */
	};
};

struct hs_actions;
typedef void (*hs_actions_spill_fn)(void *ctx, struct hs_actions *list);

struct hs_actions {
	uint32_t head, count;       /* items[head .. count) are still to be carried out */
	uint32_t capacity;          /* items used, at most HS_ACTIONS_MAX (tests use fewer to fill it) */
	uint32_t reset_room;        /* resets that may still be appended before the caller carries the list out */
	bool want_events;           /* false: events are not recorded (the event log is off) */
	uint64_t events_lost;       /* events that found the list full and nobody to spill to */
	uint64_t resets_deferred;   /* timed resets put off to a later tick for want of room */
	hs_actions_spill_fn spill;  /* may be NULL */
	void *spill_ctx;
	struct hs_action items[HS_ACTIONS_MAX];
};

/*
 * An empty list of HS_ACTIONS_MAX items; spill may be NULL.  reset_room
 * starts at half the capacity (keep it at most that: a list can then never
 * fill with resets alone), want_events true.
 */
void hs_actions_init(struct hs_actions *list, hs_actions_spill_fn spill, void *ctx);

/*
 * Appends an event about `flow` (copied) decided at now_ms and returns it
 * for the caller to fill in the kind's details, or NULL if the event is not
 * recorded (events unwanted, or lost to a full list).
 */
struct hs_action *hs_actions_event(struct hs_actions *list, enum hs_event_kind kind, const struct hs_flow *flow,
				   uint64_t now_ms);

/*
 * Appends a reset of `sides` of the flow at flow_index (copied).  A
 * deferrable reset (a timed policy's) is refused when reset_room is spent;
 * the others are refused only if the list is full of resets.  Returns the
 * action, or NULL if refused.
 */
struct hs_action *hs_actions_reset(struct hs_actions *list, const struct hs_flow *flow, uint32_t flow_index,
				   unsigned sides, uint64_t now_ms, bool deferrable);

/* Takes the next action to carry out into *out; false when none is left (the list is then empty). */
bool hs_actions_next(struct hs_actions *list, struct hs_action *out);

/*
 * For a spill function: calls fn for every event still to be carried out,
 * in order, then keeps only the resets, moved to the front.
 */
void hs_actions_spill_events(struct hs_actions *list, void (*fn)(void *ctx, const struct hs_action *event),
			     void *ctx);

/* Actions still to be carried out. */
uint32_t hs_actions_pending(const struct hs_actions *list);

#endif
