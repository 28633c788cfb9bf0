/*
 * metrics_http: a tiny HTTP/1.0 server for Prometheus scrapes (see
 * hs_metrics_http.h).
 *
 * It is deliberately minimal: one request per connection, no keep-alive,
 * no chunking, no compression.  A scraper needs nothing more, and every
 * feature left out is parsing that a hostile client cannot abuse.  Because
 * it shares the main thread with signals, the control socket and the
 * systemd watchdog, nothing in it may wait: sockets are non-blocking and
 * every connection has a deadline.
 */
#include "hs_metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct conn {
	int fd;                     /* -1: slot free */
	uint64_t deadline_ms;
	size_t in_len;
	char in[HS_METRICS_HTTP_MAX_REQUEST];
	char *out;                  /* the response, once the request is complete */
	size_t out_len, out_off;
};

struct hs_metrics_http {
	int listen_fd;
	int epfd;
	hs_metrics_http_render render;
	void *ctx;
	struct conn conns[HS_METRICS_HTTP_MAX_CONNS];
};

int hs_metrics_http_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *addrlen, char *err,
				 size_t errlen)
{
	char host[64];
	const char *colon = NULL;

	/*
	 * The same forms the configuration loader accepts: "[ADDRESS]:PORT",
	 * or ADDRESS:PORT split at the last colon, the address IPv4 or IPv6.
	 */
	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close && close[1] == ':' && (size_t)(close - text - 1) < sizeof(host)) {
			memcpy(host, text + 1, (size_t)(close - text - 1));
			host[close - text - 1] = '\0';
			colon = close + 1;
		}
	} else {
		colon = strrchr(text, ':');
		if (colon && (size_t)(colon - text) < sizeof(host)) {
			memcpy(host, text, (size_t)(colon - text));
			host[colon - text] = '\0';
		} else {
			colon = NULL;
		}
	}
	if (!colon) {
		snprintf(err, errlen, "metrics listen address \"%s\": expected ADDRESS:PORT or [IPV6]:PORT", text);
		return -1;
	}

	unsigned long port = 0;
	const char *p = colon + 1;
	for (; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (unsigned long)(*p - '0');
	if (p == colon + 1 || *p || port == 0 || port > 65535) {
		snprintf(err, errlen, "metrics listen address \"%s\": the port must be a number from 1 to 65535", text);
		return -1;
	}

	struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*addrlen = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*addrlen = sizeof(*in6);
	} else {
		snprintf(err, errlen, "metrics listen address \"%s\": \"%s\" is not a numeric IPv4 or IPv6 address",
			 text, host);
		return -1;
	}
	return 0;
}

/* ---- responses ---- */

static char *simple_response(const char *status, const char *body, size_t *len)
{
	size_t body_len = strlen(body);
	size_t cap = body_len + 256;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	int n = snprintf(out, cap,
			 "HTTP/1.0 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, body_len, body);
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	return out;
}

char *hs_metrics_http_respond(const char *request, size_t request_len, hs_metrics_http_render render, void *ctx,
			      size_t *len)
{
	/* The request line: METHOD SP TARGET SP VERSION. */
	const char *eol = memchr(request, '\n', request_len);
	size_t line_len = eol ? (size_t)(eol - request) : request_len;
	if (line_len > 0 && request[line_len - 1] == '\r')
		line_len--;

	char line[256];
	if (line_len >= sizeof(line))
		return simple_response("414 URI Too Long", "request line too long\n", len);
	memcpy(line, request, line_len);
	line[line_len] = '\0';

	char *method = line, *target = strchr(line, ' ');
	char *version = target ? strchr(target + 1, ' ') : NULL;
	if (!target || !version || strncmp(version + 1, "HTTP/", 5) != 0)
		return simple_response("400 Bad Request", "malformed request line\n", len);
	*target++ = '\0';
	*version = '\0';
	/* A query string selects nothing here; Prometheus may add one. */
	char *query = strchr(target, '?');
	if (query)
		*query = '\0';
	bool head = strcmp(method, "HEAD") == 0;
	if ((strcmp(method, "GET") != 0 && !head) || strcmp(target, "/metrics") != 0)
		return simple_response("404 Not Found", "not found: try GET /metrics\n", len);

	size_t body_len;
	char *body = render(ctx, &body_len);
	if (!body)
		return simple_response("500 Internal Server Error", "out of memory\n", len);
	char header[192];
	int n = snprintf(header, sizeof(header),
			 "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 body_len);
	size_t total = (size_t)n + (head ? 0 : body_len);
	char *out = malloc(total + 1);
	if (!out) {
		free(body);
		return NULL;
	}
	memcpy(out, header, (size_t)n);
	if (!head)
		memcpy(out + n, body, body_len);
	out[total] = '\0';
	free(body);
	*len = total;
	return out;
}

/* ---- the server ---- */

static void conn_close(struct hs_metrics_http *h, struct conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

/*
 * Ends a connection whose answer is sent.  Whatever the client sent beyond
 * its headers is read away first: closing a socket with unread data makes
 * the kernel send a RST, which can destroy the answer in flight.
 */
static void conn_finish(struct hs_metrics_http *h, struct conn *c)
{
	char sink[512];

	shutdown(c->fd, SHUT_WR);
	for (int i = 0; i < 8 && read(c->fd, sink, sizeof(sink)) > 0; i++)
		;
	conn_close(h, c);
}

static void conn_write(struct hs_metrics_http *h, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
			epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (n <= 0) {
			conn_close(h, c);
			return;
		}
		c->out_off += (size_t)n;
	}
	conn_finish(h, c);
}

static bool headers_complete(const struct conn *c)
{
	/* An empty line ends the headers; bare LF endings are accepted too. */
	return memmem(c->in, c->in_len, "\r\n\r\n", 4) || memmem(c->in, c->in_len, "\n\n", 2);
}

static void conn_read(struct hs_metrics_http *h, struct conn *c)
{
	for (;;) {
		if (c->in_len == sizeof(c->in)) {
			c->out = simple_response("431 Request Header Fields Too Large", "request too large\n",
						 &c->out_len);
			break;
		}
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* The client gave up (or half-closed before finishing its request). */
			conn_close(h, c);
			return;
		}
		c->in_len += (size_t)n;
		if (headers_complete(c)) {
			c->out = hs_metrics_http_respond(c->in, c->in_len, h->render, h->ctx, &c->out_len);
			break;
		}
	}
	if (!c->out) {
		conn_close(h, c);
		return;
	}
	c->out_off = 0;
	conn_write(h, c);
}

static void accept_all(struct hs_metrics_http *h, uint64_t now_ms)
{
	/*
	 * Bounded, so that a flood of connections cannot keep the main loop
	 * here; the rest wait in the backlog for the next wakeup.
	 */
	for (int round = 0; round < 4 * HS_METRICS_HTTP_MAX_CONNS; round++) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;     /* EAGAIN: done; anything else: try again on the next wakeup */
		struct conn *c = NULL;
		for (int i = 0; i < HS_METRICS_HTTP_MAX_CONNS; i++)
			if (h->conns[i].fd < 0) {
				c = &h->conns[i];
				break;
			}
		if (!c) {
			/* Full: refusing at once is cheaper than queueing an unbounded backlog. */
			close(fd);
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now_ms + HS_METRICS_HTTP_TIMEOUT_MS;
		c->in_len = c->out_len = c->out_off = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			c->fd = -1;
		}
	}
}

struct hs_metrics_http *hs_metrics_http_open(const char *listen_addr, hs_metrics_http_render render, void *ctx,
					     char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	socklen_t addrlen;

	if (hs_metrics_http_parse_listen(listen_addr, &addr, &addrlen, err, errlen) < 0)
		return NULL;
	struct hs_metrics_http *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "metrics listener: out of memory");
		return NULL;
	}
	h->render = render;
	h->ctx = ctx;
	h->epfd = -1;
	for (int i = 0; i < HS_METRICS_HTTP_MAX_CONNS; i++)
		h->conns[i].fd = -1;
	h->listen_fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (h->listen_fd < 0 || setsockopt(h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* "[::1]" means IPv6 only; a dual-stack socket would also take IPv4 it was not asked for. */
	if (addr.ss_family == AF_INET6 && setsockopt(h->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(h->listen_fd, (struct sockaddr *)&addr, addrlen) < 0 || listen(h->listen_fd, 16) < 0)
		goto fail;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (h->epfd < 0 || epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->listen_fd, &ev) < 0)
		goto fail;
	return h;
fail:
	snprintf(err, errlen, "metrics listener %s: %s", listen_addr, strerror(errno));
	hs_metrics_http_close(h);
	return NULL;
}

void hs_metrics_http_close(struct hs_metrics_http *h)
{
	if (!h)
		return;
	for (int i = 0; i < HS_METRICS_HTTP_MAX_CONNS; i++)
		conn_close(h, &h->conns[i]);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
}

int hs_metrics_http_fd(const struct hs_metrics_http *h)
{
	return h->epfd;
}

void hs_metrics_http_dispatch(struct hs_metrics_http *h, uint64_t now_ms)
{
	struct epoll_event evs[HS_METRICS_HTTP_MAX_CONNS + 1];
	int n = epoll_wait(h->epfd, evs, HS_METRICS_HTTP_MAX_CONNS + 1, 0);

	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		if (!c)
			accept_all(h, now_ms);
		else if (c->fd >= 0 && c->out)
			conn_write(h, c);
		else if (c->fd >= 0)
			conn_read(h, c);
	}
	for (int i = 0; i < HS_METRICS_HTTP_MAX_CONNS; i++)
		if (h->conns[i].fd >= 0 && now_ms >= h->conns[i].deadline_ms)
			conn_close(h, &h->conns[i]);
}

uint64_t hs_metrics_http_next_deadline(const struct hs_metrics_http *h)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < HS_METRICS_HTTP_MAX_CONNS; i++)
		if (h->conns[i].fd >= 0 && h->conns[i].deadline_ms < next)
			next = h->conns[i].deadline_ms;
	return next;
}
