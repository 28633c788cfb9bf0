/*
 * hs_metrics_http: the optional HTTP listener for Prometheus (metrics.listen
 * in the configuration).  It owns the listening TCP socket, the few client
 * connections in progress, their buffers and deadlines.  It answers
 * `GET /metrics` with the exposition text over HTTP/1.0 and anything else
 * with 404, then closes the connection.
 *
 * It runs on the main thread without ever blocking it: every socket is
 * non-blocking, a request is at most HS_METRICS_HTTP_MAX_REQUEST bytes,
 * at most HS_METRICS_HTTP_MAX_CONNS connections are open at once, and each
 * must finish within HS_METRICS_HTTP_TIMEOUT_MS or is dropped.  Its sockets
 * sit in an epoll set of their own, whose descriptor the main loop watches.
 */
#ifndef HS_METRICS_HTTP_H
#define HS_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HS_METRICS_HTTP_MAX_REQUEST 4096
#define HS_METRICS_HTTP_MAX_CONNS 8
#define HS_METRICS_HTTP_TIMEOUT_MS 5000

/* Produces the body of a 200 answer: malloc'd text and its length, or NULL. */
typedef char *(*hs_metrics_http_render)(void *ctx, size_t *len);

struct hs_metrics_http;

/*
 * Parses "ADDRESS:PORT" as the configuration loader accepts it: a numeric
 * IPv4 or IPv6 address, in brackets or not ("127.0.0.1:9547", "[::1]:9547";
 * without brackets the last colon separates the port), and a port from 1
 * to 65535.  Returns 0, or -1 with err.
 */
int hs_metrics_http_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *addrlen, char *err,
				 size_t errlen);

/* Binds and listens.  NULL with err on failure. */
struct hs_metrics_http *hs_metrics_http_open(const char *listen, hs_metrics_http_render render, void *ctx,
					     char *err, size_t errlen);
void hs_metrics_http_close(struct hs_metrics_http *h);

/* The descriptor to watch for EPOLLIN: readable when a socket of ours has work. */
int hs_metrics_http_fd(const struct hs_metrics_http *h);

/* Does whatever work is ready without waiting, and drops connections past their deadline. */
void hs_metrics_http_dispatch(struct hs_metrics_http *h, uint64_t now_ms);

/* The earliest connection deadline (ms, same clock as now_ms), or UINT64_MAX if none. */
uint64_t hs_metrics_http_next_deadline(const struct hs_metrics_http *h);

/*
 * Builds the answer to one request (pure: for tests and for the server).
 * request holds at least the request line.  Returns a malloc'd response
 * (status line, headers, body) and its length, or NULL if memory ran out.
 */
char *hs_metrics_http_respond(const char *request, size_t request_len, hs_metrics_http_render render, void *ctx,
			      size_t *len);

#endif
