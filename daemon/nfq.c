/*
 * nfq: NFQUEUE I/O through libmnl and libnetfilter_queue's message helpers.
 *
 * Reading: recvmmsg waits for a netlink datagram and fetches up to a burst
 * of them in one system call.  Verdicts: packets are accepted unless the
 * worker asked to drop them, so a burst ends with its drops (one message
 * each) followed by one NFQNL_MSG_VERDICT_BATCH accepting everything else
 * up to the burst's highest id, all in one sendmsg.  The batch also
 * releases packets whose notification was lost to a full socket buffer,
 * which would otherwise sit in the queue until it overflowed.
 */
#include "hs_nfq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RCVBUF_BYTES (16 << 20)
#define CONFIG_BUF 8192
#define VERDICT_MSG_MAX 64          /* room kept for one verdict message (HS_NFQ_VERDICT_LEN) */

/*
 * The two system calls of a burst are made directly.  glibc's recvmmsg and
 * sendto are cancellation points: in a process with more than one thread
 * each call is bracketed by two atomic operations on the calling thread's
 * cancellation state (4% of the daemon's user-space time per packet in
 * perf, make bench-e2e).  Workers are never cancelled (they stop on a
 * flag), so nothing is lost.
 */
static int queue_recvmmsg(int fd, struct mmsghdr *msgs, unsigned int n, int flags)
{
	return (int)syscall(SYS_recvmmsg, fd, msgs, n, flags, NULL);
}

static ssize_t queue_send(const struct hs_nfq *q, const void *buf, size_t len)
{
	static const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	return syscall(SYS_sendto, q->fd, buf, len, 0, &kernel, sizeof(kernel));
}

static int send_config(struct hs_nfq *q, struct nlmsghdr *nlh, char *err, size_t errlen, const char *what)
{
	uint8_t buf[CONFIG_BUF];
	uint32_t seq = (uint32_t)time(NULL) ^ (uint32_t)rand();

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "queue %u: %s: %s", q->queue, what, strerror(errno));
		return -1;
	}
	/*
	 * Wait for the acknowledgement.  Packets may already arrive on a bound
	 * queue; they are accepted at once (the batch verdict of the first
	 * burst would release them anyway).
	 */
	for (int tries = 0; tries < 64; tries++) {
		ssize_t n = mnl_socket_recvfrom(q->nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == ENOBUFS || errno == EINTR)
				continue;
			snprintf(err, errlen, "queue %u: %s: %s", q->queue, what, strerror(errno));
			return -1;
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, q->portid, NULL, NULL);
		if (r >= 0)
			return 0;
		if (errno == ESRCH || errno == EPROTO)
			continue;   /* a packet message, not our answer */
		snprintf(err, errlen, "queue %u: %s: %s%s", q->queue, what, strerror(errno),
			 errno == EBUSY || errno == EPERM ? " (is another program bound to this queue?)" : "");
		return -1;
	}
	snprintf(err, errlen, "queue %u: %s: no acknowledgement from the kernel", q->queue, what);
	return -1;
}

int hs_nfq_open(struct hs_nfq *q, uint16_t queue, uint32_t copy_range, uint32_t maxlen,
		bool fail_open, char *err, size_t errlen)
{
	uint8_t buf[CONFIG_BUF];
	struct nlmsghdr *nlh;
	int one = 1, rcvbuf = RCVBUF_BYTES;

	/* Attribute padding is sent as it lies in the buffer: start from zeroes. */
	memset(buf, 0, sizeof(buf));
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->queue = queue;
	q->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!q->nl) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink bind: %s", strerror(errno));
		hs_nfq_close(q);
		return -1;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	int fd = q->fd = mnl_socket_get_fd(q->nl);
	/* Losing notifications must not stop the queue: the batch verdict recovers them. */
	setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	nlh = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	if (send_config(q, nlh, err, errlen, "bind") < 0) {
		hs_nfq_close(q);
		return -1;
	}

	/*
	 * One message, one flags/mask pair: the kernel keeps only the last
	 * pair it sees, so GSO and fail-open must travel together.
	 */
	uint32_t flags = NFQA_CFG_F_GSO | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
	memset(buf, 0, sizeof(buf));
	nlh = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)copy_range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, maxlen);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	if (send_config(q, nlh, err, errlen, "configure") < 0) {
		hs_nfq_close(q);
		return -1;
	}

	q->slot_size = copy_range + 512;
	q->rx = malloc(q->slot_size * HS_NFQ_BURST);
	q->tx_cap = (HS_NFQ_BURST + 1) * VERDICT_MSG_MAX;
	q->tx = calloc(1, q->tx_cap);
	if (!q->rx || !q->tx) {
		snprintf(err, errlen, "out of memory");
		hs_nfq_close(q);
		return -1;
	}
	for (int i = 0; i < HS_NFQ_BURST; i++) {
		q->iov[i].iov_base = q->rx + (size_t)i * q->slot_size;
		q->iov[i].iov_len = q->slot_size;
		q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
		q->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

void hs_nfq_close(struct hs_nfq *q)
{
	if (q->nl) {
		uint8_t buf[256] = { 0 };
		struct nlmsghdr *nlh = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, q->queue);

		/* Unbinding hands the queue back: --queue-bypass rules then pass packets. */
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
		mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len);
		mnl_socket_close(q->nl);
		q->nl = NULL;
		q->fd = -1;
	}
	free(q->rx);
	free(q->tx);
	q->rx = NULL;
	q->tx = NULL;
}

int hs_nfq_fd(const struct hs_nfq *q)
{
	return q->fd;
}

/* A 32-bit attribute's value, from network order. */
static uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

/*
 * The attributes of a packet message, found in one walk.  The library's
 * parser (nfq_nlmsg_parse) calls a validating callback for every attribute
 * and fills a table of all of them: a fifth of the daemon's user-space
 * time per packet went there (make bench-e2e, perf).  This walk reads the
 * six the daemon uses and checks them as the library does: an attribute
 * that overruns the message ends the walk, a fixed-size one that is too
 * short makes the message unusable, the last of a repeated one counts.
 */
bool hs_nfq_parse_packet(const struct nlmsghdr *nlh, struct hs_nfq_packet *pkt)
{
	const uint8_t *msg = (const uint8_t *)nlh;
	size_t end = nlh->nlmsg_len, off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	const uint8_t *hdr = NULL;

	if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET || end < off)
		return false;
	pkt->data = NULL;
	pkt->caplen = 0;
	pkt->mark = pkt->indev = pkt->outdev = 0;
	bool have_cap_len = false;
	uint32_t cap_len = 0;
	while (end - off >= NLA_HDRLEN) {
		struct nlattr a;

		memcpy(&a, msg + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > end - off)
			break;
		const uint8_t *val = msg + off + NLA_HDRLEN;
		size_t len = a.nla_len - NLA_HDRLEN;

		switch (a.nla_type & NLA_TYPE_MASK) {
		case NFQA_PACKET_HDR:
			if (len < sizeof(struct nfqnl_msg_packet_hdr))
				return false;
			hdr = val;
			break;
		case NFQA_PAYLOAD:
			pkt->data = val;
			pkt->caplen = (uint32_t)len;
			break;
		case NFQA_CAP_LEN:
		case NFQA_MARK:
		case NFQA_IFINDEX_INDEV:
		case NFQA_IFINDEX_OUTDEV:
			if (len < 4)
				return false;
			if ((a.nla_type & NLA_TYPE_MASK) == NFQA_CAP_LEN) {
				have_cap_len = true;
				cap_len = be32_at(val);
			} else if ((a.nla_type & NLA_TYPE_MASK) == NFQA_MARK) {
				pkt->mark = be32_at(val);
			} else if ((a.nla_type & NLA_TYPE_MASK) == NFQA_IFINDEX_INDEV) {
				pkt->indev = be32_at(val);
			} else {
				pkt->outdev = be32_at(val);
			}
			break;
		default:
			break;
		}
		/* The last attribute need not be padded to the alignment. */
		if ((size_t)NLA_ALIGN(a.nla_len) >= end - off)
			break;
		off += NLA_ALIGN(a.nla_len);
	}
	if (!hdr)
		return false;
	pkt->id = be32_at(hdr + offsetof(struct nfqnl_msg_packet_hdr, packet_id));
	pkt->wire_len = have_cap_len ? cap_len : pkt->caplen;
	return true;
}

int hs_nfq_set_wait(struct hs_nfq *q, uint32_t ms)
{
	struct timeval tv = { .tv_sec = ms / 1000u, .tv_usec = (suseconds_t)(ms % 1000u) * 1000 };

	return setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int hs_nfq_wake(struct hs_nfq *q)
{
	struct nlmsghdr nlh = {
		.nlmsg_len = NLMSG_HDRLEN,
		.nlmsg_type = NLMSG_NOOP,
		/* The acknowledgement is what wakes the reader; the kernel sends it to this socket. */
		.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
	};

	return mnl_socket_sendto(q->nl, &nlh, nlh.nlmsg_len) < 0 ? -1 : 0;
}

/*
 * A header that fits, a length that covers it and stays within what was
 * received, as mnl_nlmsg_ok checks; here, since two calls into libmnl a
 * message (mnl_nlmsg_ok and mnl_nlmsg_next) cost more than the test.
 */
const struct nlmsghdr *hs_nfq_message_at(const uint8_t *buf, size_t len, size_t off)
{
	if (off > len || len - off < sizeof(struct nlmsghdr))
		return NULL;
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);
	if (nlh->nlmsg_len < sizeof(struct nlmsghdr) || nlh->nlmsg_len > len - off)
		return NULL;
	return nlh;
}

/*
 * MSG_WAITFORONE: the call waits (up to the receive timeout) for the first
 * message only and then takes whatever else is already queued, so one
 * system call both waits and reads, as the bare burst consumer does; an
 * epoll_wait before each read cost a third system call per burst.
 */
int hs_nfq_read_burst(struct hs_nfq *q, struct hs_nfq_packet *pkts)
{
	int got;

	q->tx_len = 0;
	q->have_ids = false;
	for (;;) {
		got = queue_recvmmsg(q->fd, q->msgs, HS_NFQ_BURST, MSG_WAITFORONE);
		if (got >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == ENOBUFS) {
			q->stats.enobufs++;
			continue;
		}
		q->stats.recv_errors++;
		return -1;
	}
	q->stats.bursts++;

	int n = 0;
	for (int i = 0; i < got; i++) {
		const uint8_t *buf = q->iov[i].iov_base;
		size_t len = q->msgs[i].msg_len;
		const struct nlmsghdr *nlh;

		if (q->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
			len = q->slot_size;
		for (size_t off = 0; (nlh = hs_nfq_message_at(buf, len, off)) != NULL; off += NLMSG_ALIGN(nlh->nlmsg_len)) {
			q->stats.messages++;
			if (hs_nfq_parse_packet(nlh, &pkts[n])) {
				if (!q->have_ids || (int32_t)(pkts[n].id - q->max_id) > 0)
					q->max_id = pkts[n].id;
				q->have_ids = true;
				n++;
				if (n == HS_NFQ_BURST)
					return n;
			} else if (nlh->nlmsg_type != NLMSG_ERROR && nlh->nlmsg_type != NLMSG_DONE) {
				q->stats.malformed++;
			}
		}
	}
	return n;
}

/*
 * A verdict message written as one struct: the library's nfq_nlmsg_put and
 * nfq_nlmsg_verdict_put write the same bytes in five calls through two
 * shared libraries, per burst.
 */
size_t hs_nfq_put_verdict(uint8_t *buf, uint16_t queue, uint16_t type, uint32_t id, uint32_t verdict)
{
	struct {
		struct nlmsghdr nlh;
		struct nfgenmsg nfg;
		struct nlattr attr;
		struct nfqnl_msg_verdict_hdr vh;
	} m = {
		.nlh = { .nlmsg_len = HS_NFQ_VERDICT_LEN, .nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | type),
			 .nlmsg_flags = NLM_F_REQUEST },
		.nfg = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(queue) },
		.attr = { .nla_len = NLA_HDRLEN + sizeof(struct nfqnl_msg_verdict_hdr), .nla_type = NFQA_VERDICT_HDR },
		.vh = { .verdict = htonl(verdict), .id = htonl(id) },
	};

	_Static_assert(sizeof(m) == HS_NFQ_VERDICT_LEN, "a verdict message has no padding inside");
	memcpy(buf, &m, sizeof(m));
	return sizeof(m);
}

void hs_nfq_drop(struct hs_nfq *q, uint32_t id)
{
	if (q->tx_len + VERDICT_MSG_MAX > q->tx_cap)
		return;
	q->tx_len += hs_nfq_put_verdict(q->tx + q->tx_len, q->queue, NFQNL_MSG_VERDICT, id, NF_DROP);
}

int hs_nfq_flush(struct hs_nfq *q)
{
	if (q->have_ids && q->tx_len + VERDICT_MSG_MAX <= q->tx_cap)
		q->tx_len += hs_nfq_put_verdict(q->tx + q->tx_len, q->queue, NFQNL_MSG_VERDICT_BATCH, q->max_id,
						NF_ACCEPT);
	if (q->tx_len == 0)
		return 0;
	ssize_t sent = queue_send(q, q->tx, q->tx_len);
	q->tx_len = 0;
	q->have_ids = false;
	if (sent < 0) {
		q->stats.send_errors++;
		return -1;
	}
	return 0;
}
