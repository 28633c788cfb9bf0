/*
 * hs_control: the control socket.  It owns the Unix socket (mode 0660)
 * that handshakectl talks to and the commands it understands: list, stats,
 * metrics, kill, reload, ping.  A request is one line of at most HS_CONTROL_MAX_LINE
 * bytes; the answer is "ok" or "error: ..." on its first line, then the
 * body, then the server closes the connection.
 */
#ifndef HS_CONTROL_H
#define HS_CONTROL_H

#include <stddef.h>

struct hs_daemon;

#define HS_CONTROL_MAX_LINE 1024

/* Creates the socket at path (removing a stale one).  -1 and err on failure. */
int hs_control_listen(const char *path, char *err, size_t errlen);

/* Accepts and serves one connection on the listening socket. */
void hs_control_serve(int listen_fd, struct hs_daemon *d);

#endif
