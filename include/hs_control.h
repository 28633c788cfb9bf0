/*
 * hs_control: the control socket.  It owns the Unix socket (mode 0660)
 * that handshakectl talks to and every connection on it: each client has
 * its own input and output buffers and its own deadline, all sockets are
 * non-blocking, and the main loop serves any number of clients at once,
 * `watch` clients that stay for hours included.  A request is one line of
 * at most HS_CONTROL_MAX_LINE bytes (hs_ctl_request.h); the answer is "ok"
 * or "error: ..." on its first line, then the body, then the server closes
 * the connection.
 *
 * This module reads and checks a request and hands it over as a command;
 * it is the daemon, which owns the workers and the configuration, that
 * carries a command out (hs_daemon_command.h), writing the answer into the
 * command's reply at once, or attaching a source that produces it a step
 * at a time as the client reads (a long list, a count over a million flows,
 * a watch).  The control socket never reaches into the daemon, and the
 * main loop never waits for a client.
 */
#ifndef HS_CONTROL_H
#define HS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_ctl_request.h"

#define HS_CONTROL_MAX_LINE 1024
#define HS_CONTROL_MAX_CLIENTS 64
#define HS_CONTROL_REQUEST_MS 2000u     /* to send a whole request */
#define HS_CONTROL_STALL_MS 10000u      /* a client that reads nothing of its answer this long is dropped */

/* Where an answer goes: one client's connection. */
struct hs_reply;

/* Appends to the answer (never blocks: the client's buffer grows, and is sent as the client reads). */
void hs_reply_put(struct hs_reply *reply, const char *text, size_t len);
void hs_reply_printf(struct hs_reply *reply, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes of the answer not yet taken by the client. */
size_t hs_reply_pending(const struct hs_reply *reply);
/* The client went away: the rest of the answer would be lost. */
bool hs_reply_failed(const struct hs_reply *reply);

/*
 * An answer produced a step at a time.  step appends some of it (a chunk
 * of flows, or the events waiting) and says whether more follows: MORE
 * (call again as soon as the client has room), WAIT (nothing to give now:
 * call again after hs_control_kick) or DONE.  release frees the state once
 * the answer is over or the client has gone.
 */
enum hs_source_step { HS_SOURCE_DONE = 0, HS_SOURCE_MORE, HS_SOURCE_WAIT };
struct hs_reply_source {
	enum hs_source_step (*step)(void *state, struct hs_reply *reply);
	void (*release)(void *state);
	/*
	 * A client that stops reading is dropped after HS_CONTROL_STALL_MS,
	 * unless its source says otherwise: a watcher that stalls stays, and
	 * loses events instead (it is told how many).
	 */
	bool keeps_readers_that_stall;
};
/* Attaches a source to a reply: the rest of the answer comes from it. */
void hs_reply_stream(struct hs_reply *reply, const struct hs_reply_source *source, void *state);

/*
 * A reply that is no connection: it keeps the answer in memory, for tests
 * and for answers made in process.  hs_reply_collect steps its source to
 * the end (a source that would wait is ended) and returns the whole
 * answer, NUL-terminated; the text stays the reply's until hs_reply_free.
 */
struct hs_reply *hs_reply_new(void);
const char *hs_reply_collect(struct hs_reply *reply, size_t *len);
void hs_reply_free(struct hs_reply *reply);

/* A checked request, for the daemon to carry out. */
struct hs_control_command {
	struct hs_ctl_request req;
	struct hs_reply *reply;             /* the answer, "ok\n" or "error: ...\n" first */
};

struct hs_control;

/* Creates the socket at path (removing a stale one).  NULL and err on failure. */
struct hs_control *hs_control_open(const char *path, char *err, size_t errlen);
/* Closes every connection (releasing their sources) and the socket, and removes its file. */
void hs_control_close(struct hs_control *ctl);

/* A descriptor for the main loop: readable when a connection needs serving. */
int hs_control_fd(const struct hs_control *ctl);

/*
 * Serves what is ready without blocking: accepts, reads requests, writes
 * answers, steps sources, drops clients past their deadlines.  Returns
 * true with *cmd filled when a request is ready for the daemon; call again
 * until it returns false.
 */
bool hs_control_serve(struct hs_control *ctl, uint64_t now_ms, struct hs_control_command *cmd);

/* Whether a source has more to do now: the main loop should not sleep. */
bool hs_control_busy(const struct hs_control *ctl);
/* The earliest deadline of a client (UINT64_MAX if none). */
uint64_t hs_control_next_deadline(const struct hs_control *ctl);
/* Something a waiting source was waiting for happened (events for watchers): step them again. */
void hs_control_kick(struct hs_control *ctl);
/* Connections open now. */
unsigned hs_control_clients(const struct hs_control *ctl);

#endif
