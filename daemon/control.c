/*
 * control: the control socket's server side (see hs_control.h).
 *
 * Every connection is a small state machine driven by the main loop:
 * reading its request (one deadline for the whole line, so a client
 * trickling a byte at a time cannot hold anything), waiting to be handed to
 * the daemon, answering (the output buffered, written as the socket takes
 * it, and a source stepped whenever the buffer runs low), closing.  The
 * sockets are non-blocking and watched by an epoll descriptor of this
 * module's own, which the main loop watches in turn; nothing here ever
 * waits for a client.
 */
#include "hs_control.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hs_log.h"

/* A source is stepped while its client holds less than this of the answer unread. */
#define LOW_WATER (64 * 1024)
/* Bytes read or written per system call. */
#define IO_CHUNK (64 * 1024)

enum client_state {
	CLIENT_READING = 0,         /* the request line is coming */
	CLIENT_READY,               /* a checked request waits to be handed to the daemon */
	CLIENT_ANSWERING,           /* the answer is being written (and maybe produced) */
	CLIENT_CLOSING,             /* the answer is complete: write what is left, then close */
};

struct hs_reply {
	int fd;
	bool failed;                /* the client went away: output is dropped */
	char *buf;
	size_t len, off, cap;       /* buf[off .. len) is still to be written */
	const struct hs_reply_source *source;
	void *source_state;
	bool waiting;               /* the source said WAIT: step it again after a kick */
	uint64_t progress_ms;       /* when the client last took some of the answer */
};

struct client {
	bool used;
	enum client_state state;
	int fd;
	uint64_t deadline_ms;       /* to send its request */
	bool want_out;              /* EPOLLOUT is on */
	size_t in_len;
	char in[HS_CONTROL_MAX_LINE];
	struct hs_ctl_request req;
	struct hs_reply reply;
};

struct hs_control {
	int listen_fd, epfd;
	char path[108];
	unsigned nclients;
	struct client clients[HS_CONTROL_MAX_CLIENTS];
};

/* ---- the reply ---- */

void hs_reply_put(struct hs_reply *r, const char *text, size_t len)
{
	if (r->failed || len == 0)
		return;
	if (r->off > 0 && r->off == r->len)
		r->off = r->len = 0;
	if (r->len + len > r->cap) {
		/* Move what is still unsent to the front before growing. */
		if (r->off > 0) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		size_t cap = r->cap ? r->cap : 16384;
		while (cap < r->len + len)
			cap *= 2;
		char *buf = cap != r->cap ? realloc(r->buf, cap) : r->buf;
		if (!buf) {
			r->failed = true;   /* better an answer cut short than a daemon out of memory */
			return;
		}
		r->buf = buf;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, text, len);
	r->len += len;
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

size_t hs_reply_pending(const struct hs_reply *r)
{
	return r->len - r->off;
}

bool hs_reply_failed(const struct hs_reply *r)
{
	return r->failed;
}

void hs_reply_stream(struct hs_reply *r, const struct hs_reply_source *source, void *state)
{
	r->source = source;
	r->source_state = state;
	r->waiting = false;
}

static void reply_release(struct hs_reply *r)
{
	if (r->source && r->source->release)
		r->source->release(r->source_state);
	r->source = NULL;
	r->source_state = NULL;
	free(r->buf);
	r->buf = NULL;
	r->len = r->off = r->cap = 0;
}

struct hs_reply *hs_reply_new(void)
{
	struct hs_reply *r = calloc(1, sizeof(*r));

	if (r)
		r->fd = -1;
	return r;
}

const char *hs_reply_collect(struct hs_reply *r, size_t *len)
{
	while (r->source && !r->failed) {
		enum hs_source_step step = r->source->step(r->source_state, r);
		if (step == HS_SOURCE_DONE || step == HS_SOURCE_WAIT) {
			if (r->source->release)
				r->source->release(r->source_state);
			r->source = NULL;
		}
	}
	hs_reply_put(r, "", 1);     /* the terminating NUL, not counted */
	*len = r->failed || r->len == 0 ? 0 : r->len - r->off - 1;
	if (r->failed || !r->buf)
		return "";
	r->len--;
	return r->buf + r->off;
}

void hs_reply_free(struct hs_reply *r)
{
	if (!r)
		return;
	reply_release(r);
	free(r);
}

/* ---- the socket ---- */

static int listen_at(const char *path, char *err, size_t errlen)
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

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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
	if (rc < 0 || chmod(path, 0660) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct hs_control *hs_control_open(const char *path, char *err, size_t errlen)
{
	struct hs_control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl) {
		snprintf(err, errlen, "control socket: out of memory");
		return NULL;
	}
	ctl->listen_fd = listen_at(path, err, errlen);
	if (ctl->listen_fd < 0) {
		free(ctl);
		return NULL;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	ctl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctl->epfd < 0 || epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, ctl->listen_fd, &ev) < 0) {
		snprintf(err, errlen, "control socket: epoll: %s", strerror(errno));
		hs_control_close(ctl);
		return NULL;
	}
	return ctl;
}

static void drop_client(struct hs_control *ctl, struct client *c)
{
	reply_release(&c->reply);
	epoll_ctl(ctl->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->used = false;
	ctl->nclients--;
}

void hs_control_close(struct hs_control *ctl)
{
	if (!ctl)
		return;
	for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].used)
			drop_client(ctl, &ctl->clients[i]);
	if (ctl->epfd >= 0)
		close(ctl->epfd);
	if (ctl->listen_fd >= 0) {
		close(ctl->listen_fd);
		unlink(ctl->path);
	}
	free(ctl);
}

int hs_control_fd(const struct hs_control *ctl)
{
	return ctl->epfd;
}

unsigned hs_control_clients(const struct hs_control *ctl)
{
	return ctl->nclients;
}

static void want_output(struct hs_control *ctl, struct client *c, bool on)
{
	if (c->want_out == on)
		return;
	struct epoll_event ev = { .events = on ? EPOLLIN | EPOLLOUT : EPOLLIN, .data.ptr = c };
	if (epoll_ctl(ctl->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = on;
}

static void accept_clients(struct hs_control *ctl, uint64_t now)
{
	for (;;) {
		int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct client *c = NULL;
		for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS && !c; i++)
			if (!ctl->clients[i].used)
				c = &ctl->clients[i];
		if (!c) {
			static const char busy[] = "error: too many control connections at once; try again\n";
			if (write(fd, busy, sizeof(busy) - 1) < 0)
				log_debug("control: refusing a connection: %s", strerror(errno));
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		c->used = true;
		c->fd = fd;
		c->reply.fd = fd;
		c->state = CLIENT_READING;
		c->deadline_ms = now + HS_CONTROL_REQUEST_MS;
		c->reply.progress_ms = now;
		ctl->nclients++;
	}
}

/* Answers with an error and closes once it is sent. */
static void refuse(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct client *c, const char *fmt, ...)
{
	char msg[HS_CONTROL_MAX_LINE + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hs_reply_printf(&c->reply, "error: %s\n", msg);
	c->state = CLIENT_CLOSING;
}

/*
 * The request line is complete: split it into words and check it.  ping is
 * answered here; a good request waits for the daemon (CLIENT_READY).
 */
static void take_request(struct client *c, size_t len)
{
	char *argv[HS_CTL_MAX_ARGS + 1], err[512];
	int argc = 0;

	if (len > 0 && c->in[len - 1] == '\r')
		len--;
	c->in[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)c->in[i]) && c->in[i] != '\t')
			return refuse(c, "command contains a non-printable byte at offset %zu", i);
	char *save = NULL;
	for (char *tok = strtok_r(c->in, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == HS_CTL_MAX_ARGS)
			return refuse(c, "too many arguments (at most %d words)", HS_CTL_MAX_ARGS);
		argv[argc++] = tok;
	}
	if (argc == 0)
		return refuse(c, "empty command; commands:\n%s", hs_ctl_usage);
	if (!hs_ctl_request_parse(&c->req, argc, argv, err, sizeof(err)))
		return refuse(c, "%s", err);
	if (c->req.verb == HS_CTL_PING) {
		hs_reply_printf(&c->reply, "ok\npong\n");
		c->state = CLIENT_CLOSING;
		return;
	}
	c->state = CLIENT_READY;
}

static void read_request(struct client *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* The client said all it had to say without ending the line. */
			if (n == 0 && c->in_len > 0)
				return refuse(c, "command must end with a newline");
			c->reply.failed = true;
			c->state = CLIENT_CLOSING;
			return;
		}
		char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
		c->in_len += (size_t)n;
		if (nl)
			return take_request(c, (size_t)(nl - c->in));
		if (c->in_len == sizeof(c->in) - 1)
			return refuse(c, "command too long (at most %d bytes)", HS_CONTROL_MAX_LINE - 1);
	}
}

/* Writes what the socket takes; EPOLLOUT only while some is left. */
static void write_reply(struct hs_control *ctl, struct client *c, uint64_t now)
{
	struct hs_reply *r = &c->reply;

	while (!r->failed && r->off < r->len) {
		size_t chunk = r->len - r->off < IO_CHUNK ? r->len - r->off : IO_CHUNK;
		ssize_t n = send(c->fd, r->buf + r->off, chunk, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			r->failed = true;
			break;
		}
		r->off += (size_t)n;
		r->progress_ms = now;
	}
	if (r->off == r->len)
		r->off = r->len = 0;
	want_output(ctl, c, !r->failed && r->len > r->off);
}

/* Steps the client's source while it has room; returns whether it wants to run again at once. */
static bool step_source(struct client *c)
{
	struct hs_reply *r = &c->reply;

	if (!r->source || r->waiting || r->failed || hs_reply_pending(r) >= LOW_WATER)
		return false;
	switch (r->source->step(r->source_state, r)) {
	case HS_SOURCE_MORE:
		return true;
	case HS_SOURCE_WAIT:
		r->waiting = true;
		return false;
	case HS_SOURCE_DONE:
		break;
	}
	if (r->source->release)
		r->source->release(r->source_state);
	r->source = NULL;
	r->source_state = NULL;
	c->state = CLIENT_CLOSING;
	return false;
}

static bool stalled(const struct hs_reply *r, uint64_t now)
{
	return r->len > r->off && now - r->progress_ms >= HS_CONTROL_STALL_MS &&
	       !(r->source && r->source->keeps_readers_that_stall);
}

/* One pass over a client: its I/O, its source, its deadlines. */
static void serve_client(struct hs_control *ctl, struct client *c, uint32_t events, uint64_t now)
{
	if (c->state == CLIENT_READING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_request(c);
	if (c->state == CLIENT_READING && now >= c->deadline_ms)
		refuse(c, "no complete command received within %u ms", HS_CONTROL_REQUEST_MS);
	if (c->state == CLIENT_ANSWERING && c->reply.source)
		step_source(c);
	else if (c->state == CLIENT_ANSWERING)
		c->state = CLIENT_CLOSING;      /* the daemon wrote its whole answer at once */
	if (c->state == CLIENT_ANSWERING || c->state == CLIENT_CLOSING)
		write_reply(ctl, c, now);
	/* A client that takes none of its answer for long is not coming back for it (a watcher may). */
	if (stalled(&c->reply, now))
		c->reply.failed = true;
	if (c->reply.failed || (c->state == CLIENT_CLOSING && c->reply.len == c->reply.off))
		drop_client(ctl, c);
}

bool hs_control_serve(struct hs_control *ctl, uint64_t now, struct hs_control_command *cmd)
{
	struct epoll_event evs[16];
	uint32_t events[HS_CONTROL_MAX_CLIENTS] = { 0 };
	int n = epoll_wait(ctl->epfd, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		if (!evs[i].data.ptr)
			accept_clients(ctl, now);
		else
			events[(struct client *)evs[i].data.ptr - ctl->clients] |= evs[i].events;
	}
	for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].used)
			serve_client(ctl, &ctl->clients[i], events[i], now);
	for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &ctl->clients[i];
		if (c->used && c->state == CLIENT_READY) {
			c->state = CLIENT_ANSWERING;
			c->reply.progress_ms = now;
			cmd->req = c->req;
			cmd->reply = &c->reply;
			return true;
		}
	}
	return false;
}

bool hs_control_busy(const struct hs_control *ctl)
{
	for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS; i++) {
		const struct client *c = &ctl->clients[i];
		if (c->used && c->state == CLIENT_ANSWERING && c->reply.source && !c->reply.waiting &&
		    !c->reply.failed && hs_reply_pending(&c->reply) < LOW_WATER)
			return true;
	}
	return false;
}

uint64_t hs_control_next_deadline(const struct hs_control *ctl)
{
	uint64_t deadline = UINT64_MAX;

	for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS; i++) {
		const struct client *c = &ctl->clients[i];
		uint64_t d = UINT64_MAX;
		if (!c->used)
			continue;
		if (c->state == CLIENT_READING)
			d = c->deadline_ms;
		else if (c->reply.len > c->reply.off && !(c->reply.source && c->reply.source->keeps_readers_that_stall))
			d = c->reply.progress_ms + HS_CONTROL_STALL_MS;
		if (d < deadline)
			deadline = d;
	}
	return deadline;
}

void hs_control_kick(struct hs_control *ctl)
{
	for (unsigned i = 0; i < HS_CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i].reply.waiting = false;
}
