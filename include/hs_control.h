/*
 * hs_control: the control socket.  It owns the Unix socket (mode 0660)
 * that handshakectl talks to, the connections on it and the commands it
 * understands: list, stats, metrics, kill, reload, ping.  A request is one
 * line of at most HS_CONTROL_MAX_LINE bytes; the answer is "ok" or
 * "error: ..." on its first line, then the body, then the server closes
 * the connection.
 *
 * This module checks a request and hands it over as a command; it is the
 * daemon, which owns the workers and the configuration, that carries a
 * command out (hs_daemon_command.h), writing the answer into the
 * command's reply.  The control socket never reaches into the daemon.
 */
#ifndef HS_CONTROL_H
#define HS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_table.h"

#define HS_CONTROL_MAX_LINE 1024

/* Where an answer goes: one client's connection. */
struct hs_reply;

void hs_reply_put(struct hs_reply *reply, const char *text, size_t len);
void hs_reply_printf(struct hs_reply *reply, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The client went away (or stopped reading): the rest of the answer would be lost. */
bool hs_reply_failed(const struct hs_reply *reply);

enum hs_control_verb {
	HS_CONTROL_LIST = 0,
	HS_CONTROL_STATS,
	HS_CONTROL_METRICS,
	HS_CONTROL_KILL,
	HS_CONTROL_RELOAD,
	HS_CONTROL_SAVE,
};

/* A checked request, for the daemon to carry out. */
struct hs_control_command {
	enum hs_control_verb verb;
	bool json;                          /* list, stats: --json */
	struct hs_flow_match filter;       /* list */
	uint32_t flow_id;                   /* kill */
	struct hs_reply *reply;             /* the answer, "ok\n" or "error: ...\n" first */
};

/* Creates the socket at path (removing a stale one).  -1 and err on failure. */
int hs_control_listen(const char *path, char *err, size_t errlen);

/*
 * Accepts one connection on the listening socket and reads its request.
 * True when it holds a command for the daemon: carry it out, then call
 * hs_control_finish.  False when there is nothing to do (ping, or a bad
 * request: the answer has been sent and the connection closed).
 */
bool hs_control_accept(int listen_fd, struct hs_control_command *cmd);

/* Sends what the reply holds and closes the connection. */
void hs_control_finish(struct hs_control_command *cmd);

#endif
