/*
 * hs_rst_send: puts the RSTs that hs_rst_build makes on the wire.  It owns
 * one worker's two raw sockets, the bounded queue of RSTs the kernel
 * refused for the moment, and the counters of what became of every RST.
 *
 * Every RST it sends carries a firewall mark (SO_MARK, queue.own_mark), so
 * that rules can let the daemon's own packets bypass the queue and, where
 * they do not, the daemon recognises them in its queue (NFQA_MARK).
 *
 * Why a retry queue: on an end host whose OUTPUT chain is queued to the
 * daemon, its own RSTs enter its own queue and stay charged to the raw
 * socket's send buffer until the daemon gives them a verdict.  A policy
 * that resets a few hundred flows at once fills that buffer, and sendto
 * fails with EAGAIN although every RST would be taken a moment later, once
 * the worker has given its verdicts.  A RST refused with EAGAIN, ENOBUFS
 * or ENOMEM therefore waits here, in order, and the worker offers it again
 * from its event loop; one still refused after HS_RST_RETRY_MS, or any
 * other error, counts as failed.  The caller learns when each RST is
 * settled (sent or failed), so that a flow leaves the table only then.
 *
 * Not thread-safe: the worker's lock covers it.  Sending allocates nothing.
 */
#ifndef HS_RST_SEND_H
#define HS_RST_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hs_flow.h"
#include "hs_rst_build.h"

#define HS_RST_QUEUE_MAX 1024u      /* RSTs that may wait for the kernel, per sender */
#define HS_RST_RETRY_MS 3000u       /* how long one may wait before it counts as failed */

/* What became of the RSTs; every RST built ends as sent or failed. */
struct hs_rst_stats {
	uint64_t sent;              /* handed to the kernel, at once or after waiting */
	uint64_t retried;           /* refused at first (EAGAIN, ENOBUFS, ENOMEM) and queued */
	uint64_t failed;            /* never handed over: other errors, no socket, queue full, or too long refused */
	uint64_t skipped;           /* not built: the receiver's RCV.NXT is unknown (hs_rst_seq) */
};

/* The caller's note on a RST, handed back when it is settled. */
struct hs_rst_tag {
	uint32_t flow_index;        /* where the flow lives in its table (hs_table_flow_ref) */
	uint32_t flow_id;
	uint16_t policy;            /* index of the policy that asked, or HS_RST_NO_POLICY */
	uint16_t generation;        /* of the policy set that index belongs to */
};
#define HS_RST_NO_POLICY UINT16_MAX

struct hs_rst_waiting {
	uint8_t pkt[HS_RST_MAX_LEN];
	uint8_t len;
	uint8_t family;
	bool last;                  /* the last RST of its flow: settling it settles the flow */
	struct hs_rst_tag tag;
	uint64_t deadline_ms;       /* still refused then: failed */
};

/* sendto(2), or a stand-in of the unit tests that refuses on command. */
typedef ssize_t (*hs_rst_sendto_fn)(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
				    socklen_t tolen);

struct hs_rst_sender {
	int fd4, fd6;               /* -1: that family cannot be sent (counted as failed) */
	hs_rst_sendto_fn sendto_fn; /* NULL: sendto */
	struct hs_rst_stats stats;
	int last_errno;             /* of the latest refusal or failure, for the log */
	uint32_t head, count;       /* the waiting RSTs: a ring of HS_RST_QUEUE_MAX */
	struct hs_rst_waiting *queue;   /* NULL: refused RSTs fail at once */
};

/* A sender with no sockets and no queue, safe to use and to close. */
#define HS_RST_SENDER_INIT { .fd4 = -1, .fd6 = -1, .sendto_fn = NULL, .stats = { 0, 0, 0, 0 }, \
			     .last_errno = 0, .head = 0, .count = 0, .queue = NULL }

/*
 * Opens the raw sockets: AF_INET SOCK_RAW IPPROTO_RAW (which implies
 * IP_HDRINCL) and AF_INET6 SOCK_RAW IPPROTO_RAW (which Linux treats as
 * header-included too), both non-blocking so a full socket buffer never
 * stalls a worker, both marked with `mark` (SO_MARK; 0 leaves them
 * unmarked), and allocates the retry queue.  Needs CAP_NET_RAW and, for
 * the mark, CAP_NET_ADMIN in the namespace where the flows are.  A kernel
 * without IPv6 is not an error: fd6 stays -1.  Returns 0, or -1 with the
 * reason in err (nothing is then left open).
 */
int hs_rst_open(struct hs_rst_sender *s, uint32_t mark, char *err, size_t errlen);

/*
 * Allocates the retry queue alone, for a sender whose descriptors the
 * caller provides (the unit tests); 0, or -1 if memory is short.
 */
int hs_rst_queue_alloc(struct hs_rst_sender *s);

/* Closes the sockets and frees the queue (waiting RSTs are dropped uncounted); idempotent. */
void hs_rst_close(struct hs_rst_sender *s);

/* What became of the RSTs of one flow, at once. */
struct hs_rst_result {
	uint8_t sent;               /* handed to the kernel */
	uint8_t queued;             /* waiting: the flow is settled when the last of them is */
	uint8_t failed;
	uint8_t skipped;
};

/*
 * Builds and sends a RST to each side of the flow whose bit is set in
 * `sides` (HS_RST_TO_CLIENT, HS_RST_TO_SERVER), client first.  A RST the
 * kernel refuses for now waits in the queue, and so does every RST sent
 * while others wait, to keep them in order; the last of the flow's
 * waiting RSTs carries `last`, and its settling (hs_rst_retry) hands the
 * tag back with last set.  With nothing queued the flow is settled when
 * this returns.
 */
struct hs_rst_result hs_rst_send_flow(struct hs_rst_sender *s, const struct hs_flow *flow, unsigned sides,
				      const struct hs_rst_tag *tag, uint64_t now_ms);

/* Called once per waiting RST when it is settled: sent, or failed. */
typedef void (*hs_rst_settled_fn)(void *ctx, const struct hs_rst_tag *tag, bool last, bool sent);

/*
 * Offers the waiting RSTs to the kernel again, oldest first, and stops at
 * the first one it still refuses (the rest would be refused too); those
 * refused past their deadline fail.  Returns how many were settled.
 */
size_t hs_rst_retry(struct hs_rst_sender *s, uint64_t now_ms, hs_rst_settled_fn settled, void *ctx);

/* RSTs waiting for the kernel, and room for more. */
uint32_t hs_rst_waiting(const struct hs_rst_sender *s);
uint32_t hs_rst_room(const struct hs_rst_sender *s);

#endif
