/*
 * hs_notify: the systemd service notification protocol, without libsystemd.
 * It owns the datagram socket to $NOTIFY_SOCKET (a path, or an abstract
 * socket written with a leading '@'), the messages the daemon sends there
 * (READY=1, RELOADING=1, STOPPING=1, STATUS=, WATCHDOG=1), the watchdog
 * interval systemd asks for ($WATCHDOG_USEC, for $WATCHDOG_PID), and the
 * check that every worker loop made progress before the watchdog is fed.
 *
 * Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op, so the
 * daemon calls them unconditionally.
 */
#ifndef HS_NOTIFY_H
#define HS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct hs_notify {
	int fd;                     /* -1 when there is nobody to notify */
	struct sockaddr_un addr;
	socklen_t addrlen;
	uint64_t watchdog_usec;     /* 0: no watchdog requested for this process */
};

/*
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment
 * and opens the socket.  Returns 0 when notifications are off or ready,
 * -1 with err written when NOTIFY_SOCKET is set but unusable (too long, not
 * absolute or abstract, socket() failed); the struct is then a no-op.
 */
int hs_notify_init(struct hs_notify *n, char *err, size_t errlen);
void hs_notify_close(struct hs_notify *n);

/* True when NOTIFY_SOCKET was set and usable. */
bool hs_notify_enabled(const struct hs_notify *n);

/*
 * Sends one message: newline-separated VARIABLE=value assignments.  Returns
 * 0 on success or when notifications are off, -1 (errno set) if sending
 * failed.  Never blocks for more than a second.
 */
int hs_notify_send(const struct hs_notify *n, const char *message);
int hs_notify_sendf(const struct hs_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* READY=1 with a STATUS= line. */
int hs_notify_ready(const struct hs_notify *n, const char *status);
/* RELOADING=1 and MONOTONIC_USEC= (CLOCK_MONOTONIC now), as systemd expects before a reload. */
int hs_notify_reloading(const struct hs_notify *n);
int hs_notify_stopping(const struct hs_notify *n);
int hs_notify_status(const struct hs_notify *n, const char *status);
int hs_notify_watchdog(const struct hs_notify *n);

/*
 * Parses the watchdog settings as systemd passes them: usec_text is
 * WATCHDOG_USEC (a positive decimal), pid_text WATCHDOG_PID (NULL, or the
 * pid the watchdog is meant for).  Returns the interval in microseconds, or
 * 0 when there is no watchdog for process `self`.
 */
uint64_t hs_notify_parse_watchdog(const char *usec_text, const char *pid_text, long self);

/*
 * The watchdog's liveness rule: `current` holds each worker's heartbeat
 * counter now, `seen` the values at the last ping.  Returns true (and
 * updates `seen`) only if every counter moved; a worker whose counter is
 * unchanged is stuck, and its index is stored in *stuck.  With false,
 * `seen` is left alone, so a worker that recovers is judged against the
 * last ping, not against the failed check.
 */
bool hs_notify_heartbeats_advanced(uint64_t *seen, const uint64_t *current, size_t n, size_t *stuck);

#endif
