/*
 * control: the control socket's server side.  It reads and checks
 * requests and hands each one to its caller as a command; the daemon,
 * which owns the state, carries it out and writes the answer into the
 * command's reply (as relayd and bgpd forward a control request to the
 * process that owns what it asks about).  This module knows nothing of
 * workers or tables.
 *
 * Connections are served one at a time by the main thread with short
 * socket timeouts, so a stuck client cannot hold the daemon.
 */
#include "hs_control.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hs_clock.h"
#include "hs_log.h"

#define IO_TIMEOUT_S 5
#define REQUEST_TIMEOUT_MS 2000u     /* to receive a whole command */
#define MAX_ARGS 16

int hs_control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);

	/* Create the directory when run by hand; systemd's RuntimeDirectory= does it otherwise. */
	char dir[sizeof(sun.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	/* A socket file left by a daemon that died is stale if nobody answers on it. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "control socket %s is in use: is handshaked already running?", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || chmod(path, 0660) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Output to one client, buffered; a failed write stops further output. */
struct hs_reply {
	int fd;
	bool failed;
	size_t len;
	char buf[16384];
};

static void reply_flush(struct hs_reply *r)
{
	size_t off = 0;

	while (off < r->len && !r->failed) {
		ssize_t n = write(r->fd, r->buf + off, r->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->failed = true;
			break;
		}
		off += (size_t)n;
	}
	r->len = 0;
}

void hs_reply_put(struct hs_reply *r, const char *text, size_t len)
{
	/* Long texts (metrics) go through the buffer in pieces. */
	while (len > 0 && !r->failed) {
		if (r->len == sizeof(r->buf))
			reply_flush(r);
		size_t piece = sizeof(r->buf) - r->len < len ? sizeof(r->buf) - r->len : len;
		memcpy(r->buf + r->len, text, piece);
		r->len += piece;
		text += piece;
		len -= piece;
	}
}

bool hs_reply_failed(const struct hs_reply *r)
{
	return r->failed;
}

void hs_reply_printf(struct hs_reply *r, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		hs_reply_put(r, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* ---- requests ---- */

#define LIST_USAGE "list [--json] [--state S] [--client-state S] [--server-state S] [--local-state S] [--remote-state S]"

static const char usage[] =
	"commands: " LIST_USAGE " | stats [--json] | metrics | kill ID | reload | save | ping";

/* The state filters of list, in the filter's order. */
static const char *const state_options[] = {
	"--state", "--client-state", "--server-state", "--local-state", "--remote-state",
};

/* Parses list's arguments; false with an error replied. */
static bool parse_list_options(struct hs_reply *r, int argc, char **argv, struct hs_control_command *cmd)
{
	hs_flow_match_init(&cmd->filter);
	struct hs_state_set *fields[] = { &cmd->filter.state, &cmd->filter.client_state, &cmd->filter.server_state,
					  &cmd->filter.local_state, &cmd->filter.remote_state };
	const size_t n = sizeof(state_options) / sizeof(state_options[0]);
	_Static_assert(sizeof(fields) / sizeof(fields[0]) == sizeof(state_options) / sizeof(state_options[0]),
		       "one field per state option");

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cmd->json = true;
			continue;
		}
		size_t k = 0;
		while (k < n && strcmp(argv[i], state_options[k]) != 0)
			k++;
		if (k == n || i + 1 == argc) {
			hs_reply_printf(r, "error: list: %s \"%s\"; " LIST_USAGE "\n",
					k < n ? "no state after" : "unexpected argument", argv[i]);
			return false;
		}
		int state = hs_tcp_state_parse(argv[++i]);
		if (state < 0) {
			hs_reply_printf(r, "error: list: %s: unknown state \"%s\" (use a name such as ESTABLISHED or "
					"CLOSE_WAIT)\n", argv[i - 1], argv[i]);
			return false;
		}
		*fields[k] = HS_STATE_SET(state);
	}
	return true;
}

/* kill's one argument: a flow id from list.  False with an error replied. */
static bool parse_flow_id(struct hs_reply *r, const char *arg, uint32_t *id)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);

	if (errno || *end || v == 0 || v > UINT32_MAX || !isdigit((unsigned char)arg[0])) {
		hs_reply_printf(r, "error: kill: \"%s\" is not a flow id (a positive number from list)\n", arg);
		return false;
	}
	*id = (uint32_t)v;
	return true;
}

/*
 * Turns a request line into a command.  False when there is nothing for
 * the daemon to do: the answer (ping's, or an error) is already written.
 */
static bool parse_request(struct hs_reply *r, char *line, struct hs_control_command *cmd)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;

	for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t")) {
		if (argc == MAX_ARGS) {
			hs_reply_printf(r, "error: too many arguments\n");
			return false;
		}
		argv[argc++] = tok;
	}
	if (argc == 0) {
		hs_reply_printf(r, "error: empty command; %s\n", usage);
		return false;
	}
	const char *verb = argv[0];
	if (strcmp(verb, "ping") == 0 && argc == 1) {
		hs_reply_printf(r, "ok\npong\n");
		return false;
	}
	if (strcmp(verb, "list") == 0) {
		cmd->verb = HS_CONTROL_LIST;
		return parse_list_options(r, argc, argv, cmd);
	}
	if (strcmp(verb, "stats") == 0 && (argc == 1 || (argc == 2 && strcmp(argv[1], "--json") == 0))) {
		cmd->verb = HS_CONTROL_STATS;
		cmd->json = argc == 2;
		return true;
	}
	if (strcmp(verb, "metrics") == 0 && argc == 1) {
		cmd->verb = HS_CONTROL_METRICS;
		return true;
	}
	if (strcmp(verb, "kill") == 0 && argc == 2) {
		cmd->verb = HS_CONTROL_KILL;
		return parse_flow_id(r, argv[1], &cmd->flow_id);
	}
	if (strcmp(verb, "reload") == 0 && argc == 1) {
		cmd->verb = HS_CONTROL_RELOAD;
		return true;
	}
	if (strcmp(verb, "save") == 0 && argc == 1) {
		cmd->verb = HS_CONTROL_SAVE;
		return true;
	}
	hs_reply_printf(r, "error: unknown or malformed command \"%s\"; %s\n", verb, usage);
	return false;
}

/*
 * Reads one request line.  Returns its length, or -1 with an error already
 * sent (too long, not text, timed out).
 */
static ssize_t read_request(struct hs_reply *r, char *line, size_t size)
{
	size_t len = 0;
	uint64_t deadline = hs_now_ms() + REQUEST_TIMEOUT_MS;

	for (;;) {
		/*
		 * The whole request gets one deadline, not each read: a client
		 * trickling a byte at a time must not hold the main loop, which
		 * also serves signals, reloads and the watchdog.
		 */
		uint64_t now = hs_now_ms();
		if (now >= deadline) {
			hs_reply_printf(r, "error: no complete command within %u ms\n", REQUEST_TIMEOUT_MS);
			return -1;
		}
		uint64_t left = deadline - now;
		struct timeval tv = { .tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000 };
		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t n = read(r->fd, line + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hs_reply_printf(r, "error: no complete command received (%s)\n", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(line, '\n', len))
			break;
		if (len == size - 1) {
			hs_reply_printf(r, "error: command too long (at most %d bytes)\n", HS_CONTROL_MAX_LINE - 1);
			return -1;
		}
	}
	line[len] = '\0';
	char *nl = memchr(line, '\n', len);
	if (!nl) {
		hs_reply_printf(r, "error: command must end with a newline\n");
		return -1;
	}
	*nl = '\0';
	len = (size_t)(nl - line);
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (!isprint((unsigned char)line[i]) && line[i] != '\t') {
			hs_reply_printf(r, "error: command contains a non-printable byte at offset %zu\n", i);
			return -1;
		}
	}
	return (ssize_t)len;
}

bool hs_control_accept(int listen_fd, struct hs_control_command *cmd)
{
	static struct hs_reply r;
	char line[HS_CONTROL_MAX_LINE];
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	memset(cmd, 0, sizeof(*cmd));
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r.fd = fd;
	r.failed = false;
	r.len = 0;
	cmd->reply = &r;
	if (read_request(&r, line, sizeof(line)) >= 0 && parse_request(&r, line, cmd))
		return true;
	hs_control_finish(cmd);
	return false;
}

void hs_control_finish(struct hs_control_command *cmd)
{
	struct hs_reply *r = cmd->reply;

	if (!r)
		return;
	reply_flush(r);
	close(r->fd);
	r->fd = -1;
	cmd->reply = NULL;
}
