/*
 * rst_inject: the lab helper of tests/netns/test_rst_inject.sh.  It owns
 * nothing of the daemon; it plays the daemon's part for one connection.  Run
 * in the router namespace, it watches one interface with a packet socket,
 * feeds every segment of the connection to a server's port through the
 * daemon's own tracking core (hs_packet_parse, hs_table_track), and, when
 * told to by a trigger file and once the connection has been quiet for a
 * moment, sends the RSTs hs_rst_build makes from the tracked flow.  An
 * optional probe file first makes it send RSTs one past the right sequence
 * number, which a modern stack must answer with a challenge ACK only.
 *
 *   rst_inject --dev IF --server ADDR --port PORT --trigger FILE
 *              [--probe FILE] [--sides client|server|both]
 *              [--quiet-ms N] [--timeout S]
 *
 * Report lines on stdout (flushed at once):
 *   READY                              the capture socket is bound
 *   TRACKING <client-port>             the connection's first packet was seen
 *   FLOW <client state> <end> <server state> <end>   before each sending
 *   RST <to> flags <F> seq <S> ack <A> source <sent|acked|unknown>
 *   PROBE_SENT <n> / SENT <n> skipped <k> errors <e>
 * Exit status: 0 when every requested RST was sent, 1 if some was not,
 * 2 on a usage or setup error, 3 on timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hs_flow.h"
#include "hs_packet.h"
#include "hs_rst_send.h"
#include "hs_table.h"

#define CAPTURE_MAX 65600   /* a whole GSO/GRO packet as the packet socket hands it over */
#define SENT_MAX 8          /* our own RSTs remembered, so the capture can ignore them */

struct options {
	const char *dev, *trigger, *probe;
	struct hs_addr server;
	uint8_t family;
	uint16_t port;
	unsigned sides;
	unsigned quiet_ms;
	double timeout_s;
};

struct injector {
	struct options opt;
	struct hs_table *table;
	struct hs_flow *flow;       /* the tracked connection, once seen */
	struct hs_packet own[SENT_MAX];
	unsigned n_own;
	uint64_t last_packet_ms;
	uint64_t packets, invalid;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static bool file_exists(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: rst_inject --dev IF --server ADDR --port PORT --trigger FILE\n"
			"                  [--probe FILE] [--sides client|server|both]\n"
			"                  [--quiet-ms N] [--timeout S]\n");
	exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "server", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "trigger", required_argument, NULL, 't' },
		{ "probe", required_argument, NULL, 'P' },
		{ "sides", required_argument, NULL, 'S' },
		{ "quiet-ms", required_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_server = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->sides = HS_RST_TO_BOTH;
	o->quiet_ms = 300;
	o->timeout_s = 30;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dev = optarg; break;
		case 's':
			if (!hs_addr_parse(optarg, &o->server, &o->family))
				usage();
			have_server = true;
			break;
		case 'p': o->port = (uint16_t)atoi(optarg); break;
		case 't': o->trigger = optarg; break;
		case 'P': o->probe = optarg; break;
		case 'S':
			if (strcmp(optarg, "client") == 0)
				o->sides = HS_RST_TO_CLIENT;
			else if (strcmp(optarg, "server") == 0)
				o->sides = HS_RST_TO_SERVER;
			else if (strcmp(optarg, "both") == 0)
				o->sides = HS_RST_TO_BOTH;
			else
				usage();
			break;
		case 'q': o->quiet_ms = (unsigned)atoi(optarg); break;
		case 'T': o->timeout_s = atof(optarg); break;
		default: usage();
		}
	}
	if (!o->dev || !have_server || !o->port || !o->trigger || optind != argc)
		usage();
}

/* Is this captured packet one of the RSTs we sent ourselves? */
static bool is_own(const struct injector *inj, const struct hs_packet *pkt)
{
	if (!(pkt->flags & HS_TCP_RST))
		return false;
	for (unsigned i = 0; i < inj->n_own; i++) {
		const struct hs_packet *o = &inj->own[i];

		if (o->seq == pkt->seq && o->sport == pkt->sport && o->dport == pkt->dport &&
		    memcmp(&o->src, &pkt->src, sizeof(o->src)) == 0 &&
		    memcmp(&o->dst, &pkt->dst, sizeof(o->dst)) == 0)
			return true;
	}
	return false;
}

/* Feeds one captured IP packet to the table if it belongs to the watched connection. */
static void handle(struct injector *inj, const uint8_t *buf, size_t len, size_t wire_len)
{
	const struct options *o = &inj->opt;
	struct hs_packet pkt;
	struct hs_track_result res;
	bool to_server, from_server;

	if (hs_packet_parse(buf, len, wire_len, &pkt) != HS_PARSE_OK || pkt.family != o->family)
		return;
	to_server = pkt.dport == o->port && memcmp(&pkt.dst, &o->server, sizeof(pkt.dst)) == 0;
	from_server = pkt.sport == o->port && memcmp(&pkt.src, &o->server, sizeof(pkt.src)) == 0;
	if (!to_server && !from_server)
		return;
	if (is_own(inj, &pkt))
		return;
	inj->packets++;
	inj->last_packet_ms = now_ms();
	hs_table_track(inj->table, &pkt, inj->last_packet_ms, &res);
	if (res.invalid != HS_INVALID_NONE) {
		inj->invalid++;
		fprintf(stderr, "rst_inject: invalid %s packet (flags 0x%02x seq %u ack %u): %s\n",
			to_server ? "client" : "server", pkt.flags, pkt.seq, pkt.ack,
			hs_invalid_reason_name(res.invalid));
	}
	if (res.flow && !inj->flow) {
		inj->flow = res.flow;
		say("TRACKING %u", (unsigned)hs_flow_port(res.flow, HS_CLIENT));
	}
}

/* Reads everything queued on the capture socket without waiting. */
static void drain(struct injector *inj, int fd, uint8_t *buf)
{
	for (;;) {
		ssize_t n = recv(fd, buf, CAPTURE_MAX, MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		/* MSG_TRUNC returns the real length: pass it on as the wire length. */
		size_t got = (size_t)n < CAPTURE_MAX ? (size_t)n : CAPTURE_MAX;
		handle(inj, buf, got, (size_t)n);
	}
}

static const char *source_name(enum hs_rst_seq_source src)
{
	switch (src) {
	case HS_RST_SEQ_SENT: return "sent";
	case HS_RST_SEQ_ACKED: return "acked";
	default: return "unknown";
	}
}

/* Reports, remembers (so the capture skips them) and sends the RSTs for flow. */
static int inject(struct injector *inj, struct hs_rst_sender *s, const struct hs_flow *flow)
{
	say("FLOW %s %u %s %u", hs_tcp_state_name(flow->state[HS_CLIENT]), flow->window[HS_CLIENT].end,
	    hs_tcp_state_name(flow->state[HS_SERVER]), flow->window[HS_SERVER].end);
	for (int i = 0; i < 2; i++) {
		enum hs_side to = (enum hs_side)i;
		uint8_t pkt[HS_RST_MAX_LEN];
		uint32_t seq;
		enum hs_rst_seq_source src = hs_rst_seq(flow, to, &seq);
		size_t len;

		if (!(inj->opt.sides & (1u << to)))
			continue;
		len = hs_rst_build(flow, to, pkt, sizeof(pkt));
		if (len == 0) {
			say("RST %s none source %s", to == HS_CLIENT ? "client" : "server", source_name(src));
			continue;
		}
		if (inj->n_own < SENT_MAX &&
		    hs_packet_parse(pkt, len, 0, &inj->own[inj->n_own]) == HS_PARSE_OK) {
			const struct hs_packet *p = &inj->own[inj->n_own++];

			say("RST %s flags 0x%02x seq %u ack %u source %s", to == HS_CLIENT ? "client" : "server",
			    p->flags, p->seq, p->ack, source_name(src));
		}
	}
	struct hs_rst_tag tag = { 0, flow->id, HS_RST_NO_POLICY, 0 };
	return hs_rst_send_flow(s, flow, inj->opt.sides, &tag, now_ms()).sent;
}

int main(int argc, char **argv)
{
	struct injector inj;
	struct hs_table_config tc;
	struct hs_rst_sender s = HS_RST_SENDER_INIT;
	static const uint32_t timeouts[HS_TIMEOUT_CLASS_COUNT] = HS_DEFAULT_TIMEOUTS_MS;
	static uint8_t buf[CAPTURE_MAX];
	char err[256];
	struct sockaddr_ll sll;
	bool probed = false;
	int fd;
	unsigned wanted;

	memset(&inj, 0, sizeof(inj));
	parse_options(argc, argv, &inj.opt);
	wanted = (unsigned)__builtin_popcount(inj.opt.sides);

	memset(&tc, 0, sizeof(tc));
	tc.max_flows = 64;
	tc.pickup = true;   /* started late, the helper still learns the flow, as the daemon would */
	memcpy(tc.timeout_ms, timeouts, sizeof(timeouts));
	for (int i = 0; i < 16; i++)
		tc.hash_key[i] = (uint8_t)(i * 29 + 7);
	inj.table = hs_table_create(&tc, now_ms());
	if (!inj.table) {
		fprintf(stderr, "rst_inject: cannot create a table: %s\n", strerror(errno));
		return 2;
	}
	if (hs_rst_open(&s, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "rst_inject: %s\n", err);
		return 2;
	}

	/* SOCK_DGRAM: the kernel strips the link header and hands over the IP packet. */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "rst_inject: packet socket: %s\n", strerror(errno));
		return 2;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(inj.opt.dev);
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "rst_inject: bind to %s: %s\n", inj.opt.dev, strerror(errno));
		return 2;
	}
	/*
	 * Between socket() and bind() the socket saw every interface; what
	 * it queued then is read and filtered now, before anyone is told we
	 * are ready, so nothing of the connection is counted twice.
	 */
	drain(&inj, fd, buf);
	say("READY");

	uint64_t deadline = now_ms() + (uint64_t)(inj.opt.timeout_s * 1000.0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();

		if (t >= deadline) {
			say("TIMEOUT flow %s packets %llu", inj.flow ? "seen" : "never seen",
			    (unsigned long long)inj.packets);
			return 3;
		}
		if (poll(&pfd, 1, 50) > 0)
			drain(&inj, fd, buf);
		t = now_ms();
		/* Act only on a connection at rest, so every sequence number is final. */
		if (!inj.flow || t - inj.last_packet_ms < inj.opt.quiet_ms)
			continue;
		if (inj.opt.probe && !probed && file_exists(inj.opt.probe)) {
			/* One past RCV.NXT: in the window, so RFC 5961 wants a challenge ACK only. */
			struct hs_flow_v6 off;

			hs_flow_copy(&off, inj.flow);
			off.flow.window[HS_CLIENT].end++;
			off.flow.window[HS_SERVER].end++;
			say("PROBE_SENT %d", inject(&inj, &s, &off.flow));
			probed = true;
			continue;
		}
		if ((!inj.opt.probe || probed) && file_exists(inj.opt.trigger)) {
			int n = inject(&inj, &s, inj.flow);

			say("SENT %d skipped %llu failed %llu packets %llu invalid %llu", n,
			    (unsigned long long)s.stats.skipped, (unsigned long long)s.stats.failed,
			    (unsigned long long)inj.packets, (unsigned long long)inj.invalid);
			hs_rst_close(&s);
			close(fd);
			hs_table_destroy(inj.table);
			return (unsigned)n == wanted ? 0 : 1;
		}
	}
}
