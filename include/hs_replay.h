/*
 * hs_replay: `handshaked -r`, a capture run through the daemon's packet
 * path offline.  It owns the replay's one table and policy engine, the
 * capture's clock (its timestamps, with expiry at every 100 ms of capture
 * time as the worker's timer does live), the dry-run reading of every
 * policy, and the report: the final table in the `handshakectl list` text
 * or JSON form, then a summary of packets, invalid packets, flows and what
 * each policy would have done.
 */
#ifndef HS_REPLAY_H
#define HS_REPLAY_H

#include <stdbool.h>
#include <stdio.h>

#include "hs_config.h"

struct hs_replay_options {
	const char *path;           /* the capture; "-" for standard input */
	bool json;                  /* the table as JSON Lines and the summary as one JSON object */
	bool events;                /* stream the flow events (log.events' JSON) while reading */
};

/*
 * Replays a capture with a configuration's table settings and policies
 * and writes the report to out (events, when asked for, go there first,
 * as they happen).  Returns 0 when the whole capture was read; 1 with a
 * message in err when it could not be opened (nothing is written then) or
 * stopped at a bad record (the report covers the packets before it).
 */
int hs_replay_run(const struct hs_config *config, const struct hs_replay_options *opt, FILE *out, char *err,
		  size_t errlen);

/*
 * `handshaked -r`: loads the configuration (config_path NULL: the default
 * file if there is one, else every default), replays the capture to
 * standard output, and returns the exit status (0, or 1 with the reason
 * on standard error).
 */
int hs_replay_command(const char *config_path, const struct hs_replay_options *opt);

#endif
