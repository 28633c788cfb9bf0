/*
 * bench_replay: how fast `handshaked -r` reads a capture.  It writes a pcap
 * file of 1M packets in 100k TCP connections (Ethernet; each connection a
 * handshake, a request, a response, acknowledgements and an orderly close;
 * 10000 in progress at any moment, one packet per microsecond),
 * then times, in the same run and on the same file (in the page cache):
 *
 *   read   a loop that only reads the capture and finds each IP header
 *          (libpcap and the link layer: the floor under any replay)
 *   parse  the same plus hs_packet_parse
 *   replay the whole of hs_replay_run with the default configuration, its
 *          report written to /dev/null
 *
 * and prints packets per second for each (the median of RUNS runs) and the
 * ratio of replay to read.  The goal is 1M packets a second on one core.
 *
 *   bench_replay [DIR]          the capture is written in DIR (default /tmp) and removed
 *   bench_replay --write FILE   only write the capture, to try `handshaked -r FILE` on it
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hs_capture_read.h"
#include "hs_config.h"
#include "hs_packet.h"
#include "hs_replay.h"
#include "bench_util.h"

#define RUNS 5
#define FLOWS 100000u
#define PACKETS_PER_FLOW 10u
#define CONCURRENT 1000u            /* connections starting together; ten such groups in progress */
#define GOAL_PPS 1e6

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Step k (0..9) of connection i: who sends, flags, sequence offsets and payload. */
struct step {
	bool from_client;
	uint8_t flags;
	uint32_t seq, ack, len;
};

static const struct step conversation[PACKETS_PER_FLOW] = {
	{ true, 0x02, 0, 0, 0 },            /* SYN */
	{ false, 0x12, 0, 1, 0 },           /* SYN-ACK */
	{ true, 0x10, 1, 1, 0 },            /* ACK */
	{ true, 0x18, 1, 1, 100 },          /* request */
	{ false, 0x10, 1, 101, 0 },         /* its ACK */
	{ false, 0x18, 1, 101, 200 },       /* response */
	{ true, 0x10, 101, 201, 0 },        /* its ACK */
	{ true, 0x11, 101, 201, 0 },        /* client FIN */
	{ false, 0x11, 201, 102, 0 },       /* server FIN, acknowledging the client's */
	{ true, 0x10, 102, 202, 0 },        /* last ACK */
};

/* Writes one Ethernet/IPv4/TCP record of connection i, step k, at time ts_us; returns its size. */
static size_t record(uint8_t *buf, uint32_t i, unsigned k, uint64_t ts_us)
{
	const struct step *s = &conversation[k];
	uint8_t client[4] = { 10, (uint8_t)(1 + (i >> 16)), (uint8_t)(i >> 8), (uint8_t)i };
	uint8_t server[4] = { 10, 255, (uint8_t)(i % 7), 1 };
	uint16_t cport = (uint16_t)(1024 + i % 60000), sport = 443;
	uint32_t cisn = i * 2654435761u, sisn = ~cisn;
	size_t ip_len = 20 + 20 + s->len, frame = 14 + ip_len;
	uint8_t *f = buf + 16;

	memset(f, 0, frame);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *tcp = ip + 20;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, s->from_client ? client : server, 4);
	memcpy(ip + 16, s->from_client ? server : client, 4);
	put16(tcp, s->from_client ? cport : sport);
	put16(tcp + 2, s->from_client ? sport : cport);
	put32(tcp + 4, (s->from_client ? cisn : sisn) + s->seq);
	put32(tcp + 8, (s->flags & 0x10) ? (s->from_client ? sisn : cisn) + s->ack : 0);
	tcp[12] = 5 << 4;
	tcp[13] = s->flags;
	put16(tcp + 14, 65535);
	/* The record header, in this host's byte order as the file header says. */
	uint32_t hdr[4] = { (uint32_t)(ts_us / 1000000u), (uint32_t)(ts_us % 1000000u), (uint32_t)frame,
			    (uint32_t)frame };
	memcpy(buf, hdr, sizeof(hdr));
	return 16 + frame;
}

/*
 * The capture: connections start in groups of CONCURRENT, one group per
 * round, and every connection in progress takes one step per round, so
 * CONCURRENT x PACKETS_PER_FLOW flows are in progress at once.
 */
static int write_capture(const char *path, uint64_t *packets)
{
	FILE *f = fopen(path, "wb");
	uint8_t buf[512];
	uint32_t file_hdr[6] = { 0xa1b2c3d4, 2 | (4u << 16), 0, 0, 262144, 1 };
	uint64_t ts_us = 1700000000ull * 1000000u, n = 0;
	uint32_t groups = FLOWS / CONCURRENT;

	if (!f)
		return -1;
	fwrite(file_hdr, sizeof(file_hdr), 1, f);
	for (uint32_t round = 0; round < groups + PACKETS_PER_FLOW - 1; round++) {
		for (unsigned k = 0; k < PACKETS_PER_FLOW; k++) {
			if (round < k || round - k >= groups)
				continue;
			uint32_t base = (round - k) * CONCURRENT;
			for (uint32_t j = 0; j < CONCURRENT; j++) {
				size_t len = record(buf, base + j, k, ts_us++);
				fwrite(buf, len, 1, f);
				n++;
			}
		}
	}
	*packets = n;
	return fclose(f) == 0 ? 0 : -1;
}

/* The floor: read every record and find its IP header; with parse, parse it too. */
static uint64_t read_only(const char *path, bool parse)
{
	char err[512];
	struct hs_capture *cap = hs_capture_open(path, err, sizeof(err));
	struct hs_capture_record rec;
	struct hs_packet pkt;
	uint64_t ok = 0;

	if (!cap) {
		fprintf(stderr, "bench_replay: %s\n", err);
		exit(1);
	}
	while (hs_capture_next(cap, &rec, err, sizeof(err)) == 1) {
		if (!parse)
			ok += rec.link == HS_LINK_IP;
		else
			ok += hs_packet_parse(rec.ip, rec.ip_caplen, rec.ip_wire_len, &pkt) == HS_PARSE_OK;
	}
	hs_capture_close(cap);
	return ok;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char path[4096];
	static struct hs_config config;
	uint64_t packets;
	double read_pps[RUNS], parse_pps[RUNS], replay_pps[RUNS];

	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		if (write_capture(argv[2], &packets) == 0)
			return 0;
		fprintf(stderr, "bench_replay: writing %s: %s\n", argv[2], strerror(errno));
		return 1;
	}

	snprintf(path, sizeof(path), "%s/bench_replay.%d.pcap", dir, (int)getpid());
	if (write_capture(path, &packets) < 0) {
		fprintf(stderr, "bench_replay: writing %s: %s\n", path, strerror(errno));
		return 1;
	}
	hs_config_defaults(&config);
	FILE *devnull = fopen("/dev/null", "w");
	if (!devnull)
		return 1;
	struct hs_replay_options opt = { .path = path };
	char err[512];
	for (int r = 0; r < RUNS; r++) {
		uint64_t t0 = now_ns();
		uint64_t ok = read_only(path, false);
		uint64_t t1 = now_ns();
		uint64_t parsed = read_only(path, true);
		uint64_t t2 = now_ns();
		int rc = hs_replay_run(&config, &opt, devnull, err, sizeof(err));
		uint64_t t3 = now_ns();
		if (ok != packets || parsed != packets || rc != 0) {
			fprintf(stderr, "bench_replay: read %llu, parsed %llu of %llu packets, replay %d %s\n",
				(unsigned long long)ok, (unsigned long long)parsed, (unsigned long long)packets, rc,
				rc ? err : "");
			unlink(path);
			return 1;
		}
		read_pps[r] = (double)packets * 1e9 / (double)(t1 - t0);
		parse_pps[r] = (double)packets * 1e9 / (double)(t2 - t1);
		replay_pps[r] = (double)packets * 1e9 / (double)(t3 - t2);
	}
	fclose(devnull);
	unlink(path);
	double rd = median(read_pps, RUNS), pa = median(parse_pps, RUNS), re = median(replay_pps, RUNS);
	printf("replay benchmark: %llu packets, %u connections (%u in progress at once), medians of %d runs\n",
	       (unsigned long long)packets, FLOWS, CONCURRENT * PACKETS_PER_FLOW, RUNS);
	printf("  read only (libpcap + link layer)  %8.2f Mpps\n", rd / 1e6);
	printf("  read + parse                      %8.2f Mpps\n", pa / 1e6);
	printf("  handshaked -r (whole replay)      %8.2f Mpps  = %.2f of read only  (goal >= %.1f Mpps: %s)\n",
	       re / 1e6, re / rd, GOAL_PPS / 1e6, re >= GOAL_PPS ? "met" : "NOT met");
	return 0;
}
