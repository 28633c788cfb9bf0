/*
 * pktgen: the traffic generator of the end-to-end benchmark.  It sends small
 * TCP segments (ACK|PSH with a few bytes of payload) spread over N flows to
 * one server address and port, through a raw socket (IPPROTO_RAW, which
 * implies IP_HDRINCL) in sendmmsg batches, for a given time, and prints how
 * many it sent.
 *
 * Each flow has its own source address and port, a sequence number that
 * advances by the payload length with every segment, and a fixed
 * acknowledgement number, so a tracker that picks flows up mid-stream sees
 * ordinary established traffic.  Flows take turns (round robin), so with
 * 100k flows every packet touches a different, cold table entry, as in real
 * traffic with many connections.  The checksums are computed in full so
 * that the router forwards the segments and the server's stack counts them.
 *
 * usage: pktgen --dst A.B.C.D [--dport P] [--src A.B.C.D] [--src-count K]
 *               [--flows N] [--duration S] [--payload B] [--batch M]
 *
 * Flow i uses source address SRC + (i % K) and source port 10000 + i / K,
 * so N / K must stay below 55536.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MAX_PAYLOAD 64
#define IP_HLEN 20
#define TCP_HLEN 20
#define FIRST_SPORT 10000u
#define TCP_ACK 0x10
#define TCP_PSH 0x08

struct flow {
	uint32_t saddr;     /* network order */
	uint16_t sport;     /* network order */
	uint32_t seq;       /* host order: next sequence number to send */
	uint32_t ack;       /* host order: what the "server" has sent so far */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Folds a 32-bit one's complement sum to 16 bits. */
static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* One's complement sum of a buffer, read as big-endian 16-bit words. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * A small mixing function: it gives every flow an unrelated-looking
 * initial sequence and acknowledgement number, as real stacks do.
 */
static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

/*
 * Writes one complete IPv4 + TCP segment of flow f into buf and returns its
 * length.  The IP checksum is filled in although the kernel recomputes it
 * for IP_HDRINCL sockets; the TCP checksum (pseudo-header included) is ours
 * alone to get right.
 */
static size_t build_packet(uint8_t *buf, const struct flow *f, uint32_t daddr, uint16_t dport,
			   uint16_t ip_id, size_t payload)
{
	size_t tot = IP_HLEN + TCP_HLEN + payload;
	uint8_t *ip = buf, *tcp = buf + IP_HLEN;

	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)tot);
	put16(ip + 4, ip_id);
	put16(ip + 6, 0x4000);              /* DF, as TCP stacks send */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	put16(ip + 10, 0);
	memcpy(ip + 12, &f->saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	put16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));

	memcpy(tcp, &f->sport, 2);
	memcpy(tcp + 2, &dport, 2);
	put32(tcp + 4, f->seq);
	put32(tcp + 8, f->ack);
	tcp[12] = (TCP_HLEN / 4) << 4;
	tcp[13] = TCP_ACK | TCP_PSH;
	put16(tcp + 14, 502);               /* a typical scaled window */
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	/* The payload bytes are whatever the slot already holds: their value does not matter. */

	uint32_t sum = csum_add(0, ip + 12, 8);     /* pseudo-header: addresses */
	sum += IPPROTO_TCP + (uint32_t)(TCP_HLEN + payload);
	sum = csum_add(sum, tcp, TCP_HLEN + payload);
	put16(tcp + 16, csum_fold(sum));
	return tot;
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && end != s && !*end && *out <= max;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: pktgen --dst A.B.C.D [--dport P] [--src A.B.C.D] [--src-count K]\n"
		     "              [--flows N] [--duration S] [--payload B] [--batch M]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "dport", required_argument, NULL, 'p' },
		{ "src", required_argument, NULL, 's' },
		{ "src-count", required_argument, NULL, 'k' },
		{ "flows", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 't' },
		{ "payload", required_argument, NULL, 'l' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct in_addr dst = { 0 }, src;
	unsigned long dport = 80, src_count = 100, nflows = 1000, payload = 6, batch = 64;
	double duration = 3.0;
	bool have_dst = false;
	int opt;

	inet_pton(AF_INET, "10.0.1.100", &src);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		char *end;

		switch (opt) {
		case 'd':
			ok = have_dst = inet_pton(AF_INET, optarg, &dst) == 1;
			break;
		case 's':
			ok = inet_pton(AF_INET, optarg, &src) == 1;
			break;
		case 'p':
			ok = parse_ulong(optarg, 65535, &dport) && dport > 0;
			break;
		case 'k':
			ok = parse_ulong(optarg, 65536, &src_count) && src_count > 0;
			break;
		case 'n':
			ok = parse_ulong(optarg, 10000000, &nflows) && nflows > 0;
			break;
		case 'l':
			ok = parse_ulong(optarg, MAX_PAYLOAD, &payload);
			break;
		case 'b':
			ok = parse_ulong(optarg, MAX_BATCH, &batch) && batch > 0;
			break;
		case 't':
			errno = 0;
			duration = strtod(optarg, &end);
			ok = !errno && end != optarg && !*end && duration > 0 && duration < 3600;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, "pktgen: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (!have_dst || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((nflows + src_count - 1) / src_count > 65536 - FIRST_SPORT) {
		fprintf(stderr, "pktgen: %lu flows need more than %lu source addresses\n", nflows, src_count);
		return 2;
	}

	struct flow *flows = calloc(nflows, sizeof(*flows));
	if (!flows) {
		fprintf(stderr, "pktgen: out of memory\n");
		return 1;
	}
	/*
	 * Sequence numbers start from a per-flow value plus the wall clock (64
	 * bytes per millisecond), so that a later run continues every flow
	 * ahead of where the previous run left it instead of jumping back.
	 */
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	uint32_t clock_off = (uint32_t)((uint64_t)wall.tv_sec * 64000u + (uint64_t)wall.tv_nsec / 15625u);
	for (unsigned long i = 0; i < nflows; i++) {
		flows[i].saddr = htonl(ntohl(src.s_addr) + (uint32_t)(i % src_count));
		flows[i].sport = htons((uint16_t)(FIRST_SPORT + i / src_count));
		flows[i].seq = mix32((uint32_t)i * 2u + 1u) + clock_off;
		flows[i].ack = mix32((uint32_t)i * 2u + 2u);
	}

	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		fprintf(stderr, "pktgen: raw socket: %s\n", strerror(errno));
		return 1;
	}
	/* A large send buffer keeps sendmmsg from blocking on skbs still in flight. */
	int sndbuf = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	static uint8_t slots[MAX_BATCH][IP_HLEN + TCP_HLEN + MAX_PAYLOAD];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };

	memset(msgs, 0, sizeof(msgs));
	for (unsigned long i = 0; i < batch; i++) {
		memset(slots[i] + IP_HLEN + TCP_HLEN, 'x', MAX_PAYLOAD);
		iov[i].iov_base = slots[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
	}

	uint16_t dport_be = htons((uint16_t)dport), ip_id = 1;
	uint64_t sent = 0, errors = 0, calls = 0;
	unsigned long next = 0;
	double start = now_s(), stop = start + duration, t = start;

	while (t < stop) {
		for (unsigned long i = 0; i < batch; i++) {
			struct flow *f = &flows[next];

			iov[i].iov_len = build_packet(slots[i], f, dst.s_addr, dport_be, ip_id++, payload);
			f->seq += (uint32_t)payload;
			if (++next == nflows)
				next = 0;
		}
		/*
		 * A short count or an error (ENOBUFS when the path backs up) loses
		 * the rest of the batch; those segments only count as not sent,
		 * and their flows simply show a gap in the sequence space.
		 */
		int n = sendmmsg(fd, msgs, (unsigned int)batch, 0);
		calls++;
		if (n < 0) {
			errors++;
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR && errno != EPERM) {
				fprintf(stderr, "pktgen: sendmmsg: %s\n", strerror(errno));
				return 1;
			}
		} else {
			sent += (uint64_t)n;
			if ((unsigned long)n < batch)
				errors++;
		}
		t = now_s();
	}
	double elapsed = t - start;
	/*
	 * The CPU time this process used, kernel time included: on veth the
	 * router's receive path (up to the queue, or all the way to the server
	 * without one) runs inside sendmmsg, so this is the generator side's
	 * whole cost.
	 */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec / 1e6;

	printf("pktgen: sent %llu elapsed %.6f pps %.0f flows %lu calls %llu errors %llu cpu_s %.3f\n",
	       (unsigned long long)sent, elapsed, (double)sent / elapsed, nflows, (unsigned long long)calls,
	       (unsigned long long)errors, cpu);
	close(fd);
	free(flows);
	return 0;
}
