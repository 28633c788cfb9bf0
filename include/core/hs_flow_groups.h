/*
 * hs_flow_groups: flows grouped by an endpoint key, for `handshakectl
 * top`: each group counts its flows and the states of their two ends, and
 * the groups with the most flows come first.  The groups live in memory
 * the caller's thread allocates (the control side, never the packet path);
 * their index is keyed by SipHash with the caller's key, so addresses an
 * attacker chose cannot make the count slow.
 */
#ifndef HS_FLOW_GROUPS_H
#define HS_FLOW_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_flow.h"

/* The key flows are grouped by. */
enum hs_group_by {
	HS_GROUP_REMOTE = 0,        /* the peer's address: flows with exactly one end of the host's own */
	HS_GROUP_LOCAL,             /* the host's own end: address and port when it is the server, else address */
	HS_GROUP_CLIENT,            /* the client's address */
	HS_GROUP_SERVER,            /* the server's address and port: the service */
	HS_GROUP_SRC,               /* the client's address (as --src) */
	HS_GROUP_DST,               /* the server's address (as --dst) */
	HS_GROUP_DPORT,             /* the server's port */
	HS_GROUP_BY_COUNT
};

const char *hs_group_by_name(enum hs_group_by by);
/* The enum for a name; -1 if none. */
int hs_group_by_parse(const char *name);

struct hs_group_key {
	uint8_t family;             /* 0 when the key has no address (dport) */
	bool has_port;
	uint16_t port;
	struct hs_addr addr;
};

/*
 * One group.  The states are counted for the two ends of each flow: the
 * client's and the server's, or, grouped by local or remote, the host's own
 * end's and its peer's.
 */
struct hs_flow_group {
	struct hs_group_key key;
	uint64_t flows;
	uint32_t states[2][HS_TCP_STATE_COUNT];
};

struct hs_flow_groups {
	enum hs_group_by by;
	uint8_t hash_key[16];
	size_t count, capacity;
	struct hs_flow_group *items;
	uint32_t *index;            /* open addressing: item number + 1, 0 empty */
	size_t index_size;          /* a power of two, at least twice capacity */
	uint64_t skipped;           /* flows the key does not apply to (no remote end, for remote) */
	bool out_of_memory;         /* a group could not be added: the counts are incomplete */
};

void hs_flow_groups_init(struct hs_flow_groups *groups, enum hs_group_by by, const uint8_t hash_key[16]);
/*
 * Makes room for `more` new groups, so that adding that many flows never
 * allocates: a caller that adds under a lock reserves before taking it.
 * False when memory ran out.
 */
bool hs_flow_groups_reserve(struct hs_flow_groups *groups, size_t more);
/*
 * Counts a flow in its group, making the group if need be (growing the
 * arrays when no room was reserved).  False when memory ran out.
 */
bool hs_flow_groups_add(struct hs_flow_groups *groups, const struct hs_flow *flow);
/* Sorts the groups, most flows first (ties by key), and keeps at most limit of them (0: all). */
void hs_flow_groups_rank(struct hs_flow_groups *groups, size_t limit);
void hs_flow_groups_free(struct hs_flow_groups *groups);

/* The names of the two ends a group's states count: "client"/"server", or "local"/"remote". */
const char *hs_group_side_name(enum hs_group_by by, int end);

/*
 * {"key":{"addr":"10.0.2.2","port":8080},"flows":50,"client":{"FIN_WAIT_2":50},
 *  "server":{"CLOSE_WAIT":50}}: the key's parts that apply, and only the
 * states some flow is in.  Returns the length, 0 if it did not fit.
 */
#define HS_FLOW_GROUP_JSON_MAX 1024
size_t hs_flow_group_json(char *buf, size_t size, enum hs_group_by by, const struct hs_flow_group *group);

#endif
