/*
 * notify: the systemd notification protocol (see hs_notify.h).
 *
 * The protocol is one datagram per message on an AF_UNIX socket whose
 * address systemd puts in $NOTIFY_SOCKET.  systemd enables SO_PASSCRED on
 * its end, so the kernel attaches our pid to every datagram without us
 * sending credentials explicitly; that is how systemd knows the message
 * comes from the service's main process.
 */
#include "hs_notify.h"

#include "hs_clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* A strict decimal parse: the environment is input we did not write. */
static bool parse_u64(const char *text, uint64_t *value)
{
	char *end;

	if (!text || *text < '0' || *text > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end)
		return false;
	*value = v;
	return true;
}

uint64_t hs_notify_parse_watchdog(const char *usec_text, const char *pid_text, long self)
{
	uint64_t usec, pid;

	if (!parse_u64(usec_text, &usec) || usec == 0)
		return 0;
	/*
	 * WATCHDOG_PID names the process the watchdog is meant for; a child
	 * that inherited the environment must not feed its parent's watchdog.
	 */
	if (pid_text && (!parse_u64(pid_text, &pid) || pid != (uint64_t)self))
		return 0;
	return usec;
}

int hs_notify_init(struct hs_notify *n, char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (!path || !*path)
		return 0;

	size_t len = strlen(path);
	n->addr.sun_family = AF_UNIX;
	if (len >= sizeof(n->addr.sun_path)) {
		snprintf(err, errlen, "NOTIFY_SOCKET is too long (%zu bytes)", len);
		return -1;
	}
	if (path[0] == '@') {
		/* An abstract socket: the name starts with a NUL and is not NUL-terminated. */
		n->addr.sun_path[0] = '\0';
		memcpy(n->addr.sun_path + 1, path + 1, len - 1);
		n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else if (path[0] == '/') {
		memcpy(n->addr.sun_path, path, len + 1);
		n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	} else {
		snprintf(err, errlen, "NOTIFY_SOCKET \"%s\" is neither an absolute path nor an abstract name", path);
		return -1;
	}

	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		snprintf(err, errlen, "notify socket: %s", strerror(errno));
		return -1;
	}
	/*
	 * systemd's socket has a deep queue, but should it ever fill, a bounded
	 * wait keeps the main loop (and with it the control socket) alive.
	 */
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(n->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n->watchdog_usec = hs_notify_parse_watchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"),
						    (long)getpid());
	return 0;
}

void hs_notify_close(struct hs_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

bool hs_notify_enabled(const struct hs_notify *n)
{
	return n->fd >= 0;
}

int hs_notify_send(const struct hs_notify *n, const char *message)
{
	if (n->fd < 0)
		return 0;
	size_t len = strlen(message);
	for (;;) {
		ssize_t sent = sendto(n->fd, message, len, MSG_NOSIGNAL, (const struct sockaddr *)&n->addr,
				      n->addrlen);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0)
			return -1;
		if ((size_t)sent != len) {
			errno = EMSGSIZE;
			return -1;
		}
		return 0;
	}
}

int hs_notify_sendf(const struct hs_notify *n, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	if (n->fd < 0)
		return 0;
	va_start(ap, fmt);
	int len = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (len < 0) {
		errno = EINVAL;
		return -1;
	}
	/* A truncated message is still well formed: STATUS= is the last line we send. */
	return hs_notify_send(n, message);
}

/*
 * STATUS= text must stay on one line: a newline would start another
 * assignment, which systemd would try to interpret.
 */
static void one_line(char *out, size_t size, const char *text)
{
	size_t i = 0;

	for (; text[i] && i + 1 < size; i++)
		out[i] = (text[i] == '\n' || text[i] == '\r') ? ' ' : text[i];
	out[i] = '\0';
}

int hs_notify_ready(const struct hs_notify *n, const char *status)
{
	char line[512];

	if (!status)
		return hs_notify_send(n, "READY=1");
	one_line(line, sizeof(line), status);
	return hs_notify_sendf(n, "READY=1\nSTATUS=%s", line);
}

int hs_notify_reloading(const struct hs_notify *n)
{
	return hs_notify_sendf(n, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, hs_now_us());
}

int hs_notify_stopping(const struct hs_notify *n)
{
	return hs_notify_send(n, "STOPPING=1");
}

int hs_notify_status(const struct hs_notify *n, const char *status)
{
	char line[512];

	one_line(line, sizeof(line), status);
	return hs_notify_sendf(n, "STATUS=%s", line);
}

int hs_notify_watchdog(const struct hs_notify *n)
{
	return hs_notify_send(n, "WATCHDOG=1");
}

bool hs_notify_heartbeats_advanced(uint64_t *seen, const uint64_t *current, size_t n, size_t *stuck)
{
	for (size_t i = 0; i < n; i++) {
		if (current[i] == seen[i]) {
			if (stuck)
				*stuck = i;
			return false;
		}
	}
	if (n)
		memcpy(seen, current, n * sizeof(*seen));
	return true;
}
