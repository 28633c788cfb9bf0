/*
 * rst_send: the raw sockets that send the daemon's RSTs and the queue of
 * those the kernel refused for the moment (include/hs_rst_send.h).  The
 * destination of each send is read back from the built packet, so a
 * waiting RST needs nothing but its bytes.
 */
#include "hs_rst_send.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IPV4_DST_OFFSET 16u
#define IPV6_DST_OFFSET 24u

static int open_raw(int family, uint32_t mark, char *err, size_t errlen)
{
	const char *name = family == AF_INET ? "IPv4" : "IPv6";
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);

	if (fd < 0) {
		int saved = errno;
		snprintf(err, errlen, "RST sender: %s raw socket: %s%s", name, strerror(saved),
			 saved == EPERM ? " (needs CAP_NET_RAW)" : "");
		errno = saved;
		return -1;
	}
	int one = 1;
	/* IPPROTO_RAW implies it on Linux; said explicitly so the intent is plain. */
	if (family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "RST sender: IP_HDRINCL: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		snprintf(err, errlen, "RST sender: SO_MARK 0x%x on the %s socket: %s%s", mark, name, strerror(errno),
			 errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

int hs_rst_open(struct hs_rst_sender *s, uint32_t mark, char *err, size_t errlen)
{
	*s = (struct hs_rst_sender)HS_RST_SENDER_INIT;
	s->fd4 = open_raw(AF_INET, mark, err, errlen);
	if (s->fd4 < 0)
		return -1;
	s->fd6 = open_raw(AF_INET6, mark, err, errlen);
	if (s->fd6 < 0) {
		/* A kernel without IPv6 has no IPv6 flows either: not an error. */
		if (errno != EAFNOSUPPORT) {
			hs_rst_close(s);
			return -1;
		}
		if (errlen)
			err[0] = '\0';
	}
	if (hs_rst_queue_alloc(s) < 0) {
		snprintf(err, errlen, "RST sender: no memory for the retry queue");
		hs_rst_close(s);
		return -1;
	}
	return 0;
}

int hs_rst_queue_alloc(struct hs_rst_sender *s)
{
	free(s->queue);
	s->head = s->count = 0;
	s->queue = calloc(HS_RST_QUEUE_MAX, sizeof(*s->queue));
	return s->queue ? 0 : -1;
}

void hs_rst_close(struct hs_rst_sender *s)
{
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = -1;
	s->fd6 = -1;
	free(s->queue);
	s->queue = NULL;
	s->head = 0;
	s->count = 0;
}

uint32_t hs_rst_waiting(const struct hs_rst_sender *s)
{
	return s->count;
}

uint32_t hs_rst_room(const struct hs_rst_sender *s)
{
	return s->queue ? HS_RST_QUEUE_MAX - s->count : 0;
}

/* How one attempt to hand a RST to the kernel ended. */
enum attempt { TAKEN, REFUSED_FOR_NOW, REFUSED };

/* Refusals that pass as the kernel frees buffers: the ones worth waiting for. */
static bool transient(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == ENOMEM;
}

static enum attempt attempt(struct hs_rst_sender *s, const uint8_t *pkt, size_t len, uint8_t family)
{
	hs_rst_sendto_fn send_fn = s->sendto_fn ? s->sendto_fn : sendto;
	ssize_t n;

	/*
	 * With a header-included socket the kernel routes by the destination
	 * given here and leaves our source address alone; the port must be
	 * 0 (for IPv6 a non-zero one would be taken as a protocol number).
	 */
	if (family == HS_FAMILY_IPV4) {
		struct sockaddr_in sin;

		if (s->fd4 < 0 || len < IPV4_DST_OFFSET + 4)
			return REFUSED;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, pkt + IPV4_DST_OFFSET, 4);
		do
			n = send_fn(s->fd4, pkt, len, MSG_DONTWAIT, (const struct sockaddr *)&sin, sizeof(sin));
		while (n < 0 && errno == EINTR);
	} else {
		struct sockaddr_in6 sin6;

		if (s->fd6 < 0 || len < IPV6_DST_OFFSET + 16)
			return REFUSED;
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, pkt + IPV6_DST_OFFSET, 16);
		do
			n = send_fn(s->fd6, pkt, len, MSG_DONTWAIT, (const struct sockaddr *)&sin6, sizeof(sin6));
		while (n < 0 && errno == EINTR);
	}
	if (n == (ssize_t)len)
		return TAKEN;
	s->last_errno = n < 0 ? errno : EMSGSIZE;
	return n < 0 && transient(errno) ? REFUSED_FOR_NOW : REFUSED;
}

/* Puts a RST at the back of the queue; false if the queue is full (or there is none). */
static bool enqueue(struct hs_rst_sender *s, const uint8_t *pkt, size_t len, uint8_t family,
		    const struct hs_rst_tag *tag, uint64_t now_ms)
{
	if (hs_rst_room(s) == 0)
		return false;
	struct hs_rst_waiting *w = &s->queue[(s->head + s->count) % HS_RST_QUEUE_MAX];

	memcpy(w->pkt, pkt, len);
	w->len = (uint8_t)len;
	w->family = family;
	w->last = false;
	w->tag = *tag;
	w->deadline_ms = now_ms + HS_RST_RETRY_MS;
	s->count++;
	return true;
}

/* Sends one built RST, or queues it; which of sent, queued or failed it became. */
static int submit(struct hs_rst_sender *s, struct hs_rst_result *r, const uint8_t *pkt, size_t len,
		  uint8_t family, const struct hs_rst_tag *tag, uint64_t now_ms)
{
	/* Behind others that wait, a RST waits too: they leave in the order they were decided. */
	enum attempt a = s->count ? REFUSED_FOR_NOW : attempt(s, pkt, len, family);

	if (a == TAKEN) {
		s->stats.sent++;
		r->sent++;
		return 0;
	}
	if (a == REFUSED_FOR_NOW && enqueue(s, pkt, len, family, tag, now_ms)) {
		s->stats.retried++;
		r->queued++;
		return 1;
	}
	s->stats.failed++;
	r->failed++;
	return 0;
}

struct hs_rst_result hs_rst_send_flow(struct hs_rst_sender *s, const struct hs_flow *flow, unsigned sides,
				      const struct hs_rst_tag *tag, uint64_t now_ms)
{
	static const enum hs_side order[2] = { HS_CLIENT, HS_SERVER };
	struct hs_rst_result r = { 0, 0, 0, 0 };
	uint8_t pkt[HS_RST_MAX_LEN];

	for (size_t i = 0; i < 2; i++) {
		enum hs_side to = order[i];

		if (!(sides & (1u << to)))
			continue;
		size_t len = hs_rst_build(flow, to, pkt, sizeof(pkt));
		if (len == 0) {
			s->stats.skipped++;
			r.skipped++;
			continue;
		}
		submit(s, &r, pkt, len, hs_flow_family(flow), tag, now_ms);
	}
	if (r.queued)
		s->queue[(s->head + s->count - 1) % HS_RST_QUEUE_MAX].last = true;
	return r;
}

size_t hs_rst_retry(struct hs_rst_sender *s, uint64_t now_ms, hs_rst_settled_fn settled, void *ctx)
{
	size_t done = 0;

	while (s->count) {
		struct hs_rst_waiting *w = &s->queue[s->head];
		enum attempt a = attempt(s, w->pkt, w->len, w->family);

		if (a == REFUSED_FOR_NOW && now_ms < w->deadline_ms)
			break;
		if (a == TAKEN)
			s->stats.sent++;
		else
			s->stats.failed++;
		/* Off the queue before the callback, which may send more. */
		struct hs_rst_waiting copy = *w;
		s->head = (s->head + 1) % HS_RST_QUEUE_MAX;
		s->count--;
		done++;
		if (settled)
			settled(ctx, &copy.tag, copy.last, a == TAKEN);
	}
	return done;
}
