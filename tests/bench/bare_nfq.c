/*
 * bare_nfq: a bare NFQUEUE consumer for the end-to-end benchmark.  It accepts
 * every packet without looking at it, so it measures what the queue itself
 * costs, as a baseline for handshaked:
 *
 *   --per-packet  one recv and one NF_ACCEPT verdict per packet, the pattern
 *                 of common IPS engines;
 *   --burst       recvmmsg bursts of up to 64 packets and one
 *                 NFQNL_MSG_VERDICT_BATCH per burst, the best this
 *                 architecture allows.
 *
 * The socket is set up as handshaked sets up its own (copy range 128, GSO
 * and FAIL_OPEN in one flags/mask pair, a large receive buffer,
 * NETLINK_NO_ENOBUFS, queue maxlen 8192), so that the only difference left
 * is the work done per packet.  It runs until SIGTERM or SIGINT and then
 * prints one line of counters.
 *
 * usage: bare_nfq --per-packet|--burst [--queue N]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define COPY_RANGE 128
#define QUEUE_MAXLEN 8192
#define RCVBUF_BYTES (16 << 20)
#define BURST 64
/* One received datagram holds one packet message: the copied bytes plus headers and attributes. */
#define SLOT_BYTES (COPY_RANGE + 512)
#define CONFIG_BUF 8192

static volatile sig_atomic_t stop_requested;

struct counters {
	uint64_t packets;       /* packet messages received and given a verdict */
	uint64_t recvs;         /* successful recv/recvmmsg calls */
	uint64_t verdict_msgs;  /* verdict messages sent */
	uint64_t enobufs;       /* lost notifications reported by the socket */
	uint64_t send_errors;
	uint64_t other;         /* messages that were not packets */
};

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "bare_nfq: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * Sends one configuration message and waits for the kernel's
 * acknowledgement, so that a failure (the queue is taken, no permission)
 * is reported here rather than showing up as silence later.
 */
static void send_config(struct mnl_socket *nl, struct nlmsghdr *nlh, const char *what)
{
	uint8_t buf[CONFIG_BUF];
	uint32_t seq = (uint32_t)time(NULL);
	uint32_t portid = mnl_socket_get_portid(nl);

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		die(what);
	/* Packets may already arrive on a bound queue; they are skipped here and released later. */
	for (int tries = 0; tries < 256; tries++) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == ENOBUFS || errno == EINTR)
				continue;
			die(what);
		}
		if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) >= 0)
			return;
		if (errno == ESRCH || errno == EPROTO)
			continue;
		die(what);
	}
	fprintf(stderr, "bare_nfq: %s: no acknowledgement from the kernel\n", what);
	exit(1);
}

static struct mnl_socket *open_queue(uint16_t queue)
{
	uint8_t buf[CONFIG_BUF];
	struct nlmsghdr *nlh;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int one = 1, rcvbuf = RCVBUF_BYTES;

	if (!nl)
		die("netlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("netlink bind");
	int fd = mnl_socket_get_fd(nl);
	/* A full receive buffer must not stop the consumer with an error. */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one)) < 0)
		die("NETLINK_NO_ENOBUFS");
	/* SO_RCVBUFFORCE goes beyond rmem_max (we are root); SO_RCVBUF is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		die("SO_RCVBUF");
	/*
	 * A receive timeout lets the loop see the stop flag even if the signal
	 * lands just before a blocking receive.
	 */
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		die("SO_RCVTIMEO");

	nlh = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	send_config(nl, nlh, "bind to the queue");

	/*
	 * The kernel keeps only the last flags/mask pair of a message, so GSO
	 * and FAIL_OPEN travel together, exactly as handshaked sends them.
	 */
	nlh = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	send_config(nl, nlh, "configure the queue");
	return nl;
}

static void close_queue(struct mnl_socket *nl, uint16_t queue)
{
	uint8_t buf[256];
	struct nlmsghdr *nlh = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, queue);

	/* Unbinding hands the queue back, so a --queue-bypass rule passes traffic again. */
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_UNBIND);
	mnl_socket_sendto(nl, nlh, nlh->nlmsg_len);
	mnl_socket_close(nl);
}

/*
 * The packet id of a packet message, as any consumer has to find it: by
 * parsing the attributes.  Returns false for anything else (acks, errors).
 */
static bool packet_id(const struct nlmsghdr *nlh, uint32_t *id)
{
	struct nlattr *attr[NFQA_MAX + 1];

	if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
		return false;
	memset(attr, 0, sizeof(attr));
	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return false;
	if (mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(struct nfqnl_msg_packet_hdr))
		return false;
	const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	uint32_t id_be;

	memcpy(&id_be, &ph->packet_id, sizeof(id_be));
	*id = ntohl(id_be);
	return true;
}

/* Whether a receive error is one to carry on after. */
static bool recv_error_is_transient(struct counters *c)
{
	if (errno == ENOBUFS) {
		c->enobufs++;
		return true;
	}
	return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
}

/* One recv, then one verdict message per packet it held, each with its own sendto. */
static void run_per_packet(struct mnl_socket *nl, uint16_t queue, struct counters *c)
{
	/* Room for more than one message, although the kernel sends one packet per datagram. */
	static uint8_t rx[SLOT_BYTES * 4];
	uint8_t tx[128];
	int fd = mnl_socket_get_fd(nl);

	while (!stop_requested) {
		ssize_t n = recv(fd, rx, sizeof(rx), 0);

		if (n < 0) {
			if (recv_error_is_transient(c))
				continue;
			die("recv");
		}
		c->recvs++;
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)rx;
		int len = (int)n;

		while (mnl_nlmsg_ok(nlh, len)) {
			uint32_t id;

			if (packet_id(nlh, &id)) {
				struct nlmsghdr *v = nfq_nlmsg_put((char *)tx, NFQNL_MSG_VERDICT, queue);

				nfq_nlmsg_verdict_put(v, (int)id, NF_ACCEPT);
				if (mnl_socket_sendto(nl, v, v->nlmsg_len) < 0)
					c->send_errors++;
				c->packets++;
				c->verdict_msgs++;
			} else {
				c->other++;
			}
			nlh = mnl_nlmsg_next(nlh, &len);
		}
	}
}

/*
 * recvmmsg waits for the first datagram and then takes whatever else is
 * already queued (MSG_WAITFORONE), up to BURST; one batch verdict then
 * accepts every packet up to the highest id seen.  Ids are compared with
 * serial arithmetic because the kernel's counter wraps.
 */
static void run_burst(struct mnl_socket *nl, uint16_t queue, struct counters *c)
{
	static uint8_t rx[BURST][SLOT_BYTES];
	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	uint8_t tx[128];
	int fd = mnl_socket_get_fd(nl);

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BURST; i++) {
		iov[i].iov_base = rx[i];
		iov[i].iov_len = sizeof(rx[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!stop_requested) {
		int got = recvmmsg(fd, msgs, BURST, MSG_WAITFORONE, NULL);

		if (got < 0) {
			if (recv_error_is_transient(c))
				continue;
			die("recvmmsg");
		}
		c->recvs++;
		uint32_t max_id = 0;
		bool have_id = false;

		for (int i = 0; i < got; i++) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)rx[i];
			int len = (int)msgs[i].msg_len;

			while (mnl_nlmsg_ok(nlh, len)) {
				uint32_t id;

				if (packet_id(nlh, &id)) {
					if (!have_id || (int32_t)(id - max_id) > 0)
						max_id = id;
					have_id = true;
					c->packets++;
				} else {
					c->other++;
				}
				nlh = mnl_nlmsg_next(nlh, &len);
			}
		}
		if (!have_id)
			continue;
		struct nlmsghdr *v = nfq_nlmsg_put((char *)tx, NFQNL_MSG_VERDICT_BATCH, queue);

		nfq_nlmsg_verdict_put(v, (int)max_id, NF_ACCEPT);
		if (mnl_socket_sendto(nl, v, v->nlmsg_len) < 0)
			c->send_errors++;
		c->verdict_msgs++;
	}
}

static void usage(FILE *out)
{
	fprintf(out, "usage: bare_nfq --per-packet|--burst [--queue N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "per-packet", no_argument, NULL, 'p' },
		{ "burst", no_argument, NULL, 'b' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int mode = 0, opt;
	unsigned long queue = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
		case 'b':
			mode = opt;
			break;
		case 'q':
			errno = 0;
			queue = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || queue > 65535) {
				fprintf(stderr, "bare_nfq: bad queue number '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!mode || optind != argc) {
		usage(stderr);
		return 2;
	}

	/* No SA_RESTART: a blocking receive must return EINTR so the loop sees the flag. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct mnl_socket *nl = open_queue((uint16_t)queue);
	struct counters c;

	memset(&c, 0, sizeof(c));
	printf("bare_nfq: queue %lu bound, mode %s\n", queue, mode == 'p' ? "per-packet" : "burst");
	fflush(stdout);
	if (mode == 'p')
		run_per_packet(nl, (uint16_t)queue, &c);
	else
		run_burst(nl, (uint16_t)queue, &c);
	close_queue(nl, (uint16_t)queue);
	printf("bare_nfq: packets %llu recvs %llu verdict_msgs %llu enobufs %llu send_errors %llu other %llu\n",
	       (unsigned long long)c.packets, (unsigned long long)c.recvs, (unsigned long long)c.verdict_msgs,
	       (unsigned long long)c.enobufs, (unsigned long long)c.send_errors, (unsigned long long)c.other);
	return 0;
}
