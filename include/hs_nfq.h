/*
 * hs_nfq: NFQUEUE I/O.  It owns the netlink socket bound to one queue: the
 * configuration (copy range, queue length, GSO and fail-open in a single
 * flags/mask pair), waiting for and reading packets in bursts with one
 * recvmmsg each, and returning verdicts in one sendmsg per burst, as a
 * batch verdict when it can.
 */
#ifndef HS_NFQ_H
#define HS_NFQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#define HS_NFQ_BURST 64

struct hs_nfq_packet {
	uint32_t id;                /* the kernel's packet id, for the verdict */
	const uint8_t *data;        /* IP header onwards, caplen bytes */
	uint32_t caplen;
	uint32_t wire_len;          /* the packet's real length */
	/*
	 * The packet's metadata as the queue reports it; 0 when the kernel
	 * sent no such attribute.  The mark is skb->mark (SO_MARK of a local
	 * sender, or set by rules); the interfaces are ifindexes: a packet
	 * queued in OUTPUT has an outdev and no indev, one queued in INPUT an
	 * indev and no outdev, a forwarded one both.
	 */
	uint32_t mark;
	uint32_t indev, outdev;
};

struct hs_nfq_stats {
	uint64_t bursts;
	uint64_t messages;
	uint64_t enobufs;           /* the socket overflowed: notifications were lost */
	uint64_t recv_errors;
	uint64_t send_errors;
	uint64_t malformed;         /* messages we could not parse (accepted by the batch verdict) */
};

struct mnl_socket;

struct hs_nfq {
	struct mnl_socket *nl;
	int fd;                             /* nl's, kept: the burst's calls need it without a library call */
	uint32_t portid;
	uint16_t queue;
	size_t slot_size;
	uint8_t *rx;                        /* HS_NFQ_BURST receive slots */
	struct mmsghdr msgs[HS_NFQ_BURST];
	struct iovec iov[HS_NFQ_BURST];
	uint8_t *tx;                        /* verdict messages for one burst */
	size_t tx_len, tx_cap;
	uint32_t max_id;                    /* highest id in the current burst */
	bool have_ids;
	struct hs_nfq_stats stats;
};

/*
 * Opens a netlink socket and binds it to `queue`.  On failure returns -1
 * and writes a message (with the reason, e.g. the queue is taken) to err.
 */
int hs_nfq_open(struct hs_nfq *q, uint16_t queue, uint32_t copy_range, uint32_t maxlen,
		bool fail_open, char *err, size_t errlen);
/* Unbinds (so --queue-bypass rules pass traffic again) and closes. */
void hs_nfq_close(struct hs_nfq *q);
int hs_nfq_fd(const struct hs_nfq *q);

/*
 * Reads one queue message (its nlmsg_len already checked against what was
 * received) into pkt, the data pointing into the message; false if it is
 * not a usable packet message.
 */
bool hs_nfq_parse_packet(const struct nlmsghdr *nlh, struct hs_nfq_packet *pkt);

/*
 * The netlink message at buf[off..len) of a received datagram, or NULL when
 * no whole one starts there (the walk is over); the next one starts at off +
 * NLMSG_ALIGN(its nlmsg_len).  The same test as libmnl's mnl_nlmsg_ok.
 */
const struct nlmsghdr *hs_nfq_message_at(const uint8_t *buf, size_t len, size_t off);

/*
 * How long hs_nfq_read_burst waits for a first message, in milliseconds
 * (SO_RCVTIMEO; 0 waits for ever).  Returns -1 with errno on failure.
 */
int hs_nfq_set_wait(struct hs_nfq *q, uint32_t ms);

/*
 * Ends a wait in hs_nfq_read_burst from another thread: asks the kernel
 * for an acknowledgement of an empty message, which arrives on this
 * socket (and is not a packet).  Returns -1 with errno on failure.
 */
int hs_nfq_wake(struct hs_nfq *q);

/*
 * Waits for a first message (see hs_nfq_set_wait), then reads whatever
 * else is queued, up to HS_NFQ_BURST packets.  Returns how many were
 * stored in pkts (0 when the wait ended without one), -1 on a socket
 * error.  The data pointers stay valid until the next call.
 */
int hs_nfq_read_burst(struct hs_nfq *q, struct hs_nfq_packet *pkts);

/* Bytes a verdict message takes: header, nfgenmsg and NFQA_VERDICT_HDR. */
#define HS_NFQ_VERDICT_LEN 32

/*
 * Writes a verdict message for queue `queue` at buf (HS_NFQ_VERDICT_LEN
 * bytes): type NFQNL_MSG_VERDICT gives packet `id` the verdict,
 * NFQNL_MSG_VERDICT_BATCH every packet up to it.  The same bytes as
 * libnetfilter_queue's nfq_nlmsg_put and nfq_nlmsg_verdict_put.  Returns
 * the length.
 */
size_t hs_nfq_put_verdict(uint8_t *buf, uint16_t queue, uint16_t type, uint32_t id, uint32_t verdict);

/* Queues a drop verdict for one packet of the current burst. */
void hs_nfq_drop(struct hs_nfq *q, uint32_t id);

/*
 * Sends the burst's verdicts: the drops queued, then one batch accept for
 * every other packet up to the burst's highest id.
 */
int hs_nfq_flush(struct hs_nfq *q);

#endif
