/*
 * hs_ctl_request: the control socket's request language.  A request is a
 * command word and its options, as handshakectl takes them on its command
 * line and sends them, one line of words, over the control socket.  Both
 * ends parse it with this module: handshakectl to refuse a bad request
 * before it connects (exit 2, with the bad argument named), the daemon
 * because it trusts no client.
 *
 * The filters are the same for list, count, summary, top, watch and kill,
 * and fill one hs_flow_match (the matcher the policies use too): all the
 * filters given must hold, and repeating one means "any of".
 */
#ifndef HS_CTL_REQUEST_H
#define HS_CTL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_flow_groups.h"
#include "hs_flow_match.h"
#include "hs_flow_rank.h"

#define HS_CTL_MAX_ARGS 64          /* words in a request */
#define HS_CTL_TOP_DEFAULT_LIMIT 10
#define HS_CTL_LIMIT_MAX 10000000u

enum hs_ctl_verb {
	HS_CTL_LIST = 0,
	HS_CTL_COUNT,
	HS_CTL_SUMMARY,
	HS_CTL_TOP,
	HS_CTL_WATCH,
	HS_CTL_KILL,
	HS_CTL_STATS,
	HS_CTL_METRICS,
	HS_CTL_RELOAD,
	HS_CTL_SAVE,
	HS_CTL_PING,
	HS_CTL_VERB_COUNT
};

struct hs_ctl_request {
	enum hs_ctl_verb verb;
	bool json;                  /* --json: handshakectl prints the daemon's JSON as it is */
	bool all;                   /* kill --all: every flow the filters select */
	bool dry_run;               /* kill --dry-run: list what would be reset */
	enum hs_flow_sort sort;     /* list --sort */
	uint32_t limit;             /* list, top --limit; 0: none (top: HS_CTL_TOP_DEFAULT_LIMIT) */
	enum hs_group_by by;        /* top --by (default remote) */
	bool filtered;              /* some filter other than ids was given */
	struct hs_flow_match match; /* the filters, and kill's ids */
};

/*
 * Parses a request from its words (argv[0] is the command).  False with a
 * message in err naming the command and the argument at fault, for
 * instance `top: --by: "dest" is not a key (remote, local, client, server,
 * src, dst or dport)`.
 */
bool hs_ctl_request_parse(struct hs_ctl_request *req, int argc, char *const argv[], char *err, size_t errlen);

const char *hs_ctl_verb_name(enum hs_ctl_verb verb);

/* One line per command and the filters, for usage messages. */
extern const char hs_ctl_usage[];

#endif
